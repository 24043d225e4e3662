package cni

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
)

// DefaultLogFile is the log `romana-cni install` configures: upstream's plugin wrote
// its own there, so an operator who knows Romana looks for it there.
const DefaultLogFile = "/var/log/romana-cni.log"

// LogRotateSize bounds the log: when it has reached this size, it is renamed to
// <log>.1 (replacing the one before) ahead of the next line, so the two files hold at
// most about twice this. Upstream's log grew without bound.
const LogRotateSize = 1 << 20

// Funcs are skel's functions for the plugin, each command logged, when the
// configuration names a log_file, as one line: when, the command, the pod, the
// container, the namespace path, the outcome (ADD's address, or the CNI error's code,
// message and details) and how long it took. The runtime shows the error too, but
// only to whoever reads the kubelet's events in time; the log stays on the node. A
// log that cannot be written never fails the command.
func (p *Plugin) Funcs() skel.CNIFuncs {
	return skel.CNIFuncs{Add: p.logged("ADD", p.Add), Del: p.logged("DEL", p.Del), Check: p.logged("CHECK", p.Check)}
}

func (p *Plugin) logged(command string, run func(*skel.CmdArgs) error) func(*skel.CmdArgs) error {
	return func(a *skel.CmdArgs) error {
		start := time.Now()
		p.attached = ""
		err := run(a)
		var c struct {
			LogFile string `json:"log_file"`
		}
		if json.Unmarshal(a.StdinData, &c) != nil || c.LogFile == "" || !filepath.IsAbs(c.LogFile) {
			return err
		}
		_ = appendLog(c.LogFile, logLine(start, command, a, p.attached, err))
		return err
	}
}

// logLine is one command's line in the log.
func logLine(start time.Time, command string, a *skel.CmdArgs, attached string, err error) string {
	pod := "-"
	if pa, perr := parseArgs(a.Args); perr == nil {
		pod = pa.namespace + "/" + pa.name
	}
	id := a.ContainerID
	if len(id) > 12 {
		id = id[:12]
	}
	outcome := "ok"
	if attached != "" {
		outcome += " " + attached
	}
	if err != nil {
		if e, ok := asCNIError(err); ok {
			outcome = fmt.Sprintf("error %d (%s): %s", e.Code, e.Msg, e.Details)
		} else {
			outcome = "error: " + err.Error()
		}
	}
	return fmt.Sprintf("%s %s %s container=%s netns=%s %s (%d ms)\n", start.UTC().Format(time.RFC3339Nano), command, pod, id, a.Netns,
		outcome, time.Since(start).Milliseconds())
}

// appendLog appends line to path, first moving a full log to path.1. Each line is one
// write to a file opened O_APPEND, so plugins run at once do not interleave within a
// line. Two that find the log full at once both rename: the second moves the first's
// fresh, almost empty log over the full one, and that older megabyte is lost, which a
// log may afford.
func appendLog(path, line string) error {
	if fi, err := os.Stat(path); err == nil && fi.Size() >= LogRotateSize {
		_ = os.Rename(path, path+".1")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
