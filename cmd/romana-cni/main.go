// Command romana-cni is romanactl's CNI plugin for Romana v0.9.3.5.
//
// With CNI_COMMAND set it is the plugin (ADD, DEL, CHECK, VERSION), installed on a node
// as /opt/cni/bin/romana. Otherwise:
//
//	romana-cni install --cni-bin-dir=DIR --cni-conf-dir=DIR --romana-root=URL [--segment-label-name=NAME] [--agent-url=URL] [--log-file=PATH]
//	romana-cni version
//
// install copies this binary to DIR/romana and writes DIR/10-romana.conf (the agent
// DaemonSet's init container runs it). Exit codes: 0 done, 1 failed, 2 bad usage.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/containernetworking/cni/pkg/skel"

	"github.com/romana/romanactl/internal/cni"
)

// version is stamped by the Makefile (-X main.version=...).
var version = "dev"

const usage = `usage:
  romana-cni install --cni-bin-dir=DIR --cni-conf-dir=DIR --romana-root=URL [--segment-label-name=NAME] [--agent-url=URL] [--log-file=PATH]
  romana-cni version
  (with CNI_COMMAND set: the CNI plugin)`

func main() {
	if os.Getenv("CNI_COMMAND") != "" {
		p := &cni.Plugin{}
		skel.PluginMainFuncs(p.Funcs(), cni.VersionInfo(),
			"romana-cni "+version+": Romana v0.9.3.5's CNI plugin, by romanactl")
		return
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	switch args[0] {
	case "version", "--version":
		fmt.Fprintln(stdout, version)
		return 0
	case "install":
		return install(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "Error: unknown command %q\n%s\n", args[0], usage)
	return 2
}

func install(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("install", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	binDir := fs.String("cni-bin-dir", "", "the host's CNI binary directory as mounted (e.g. /host/opt/cni/bin)")
	confDir := fs.String("cni-conf-dir", "", "the host's CNI configuration directory as mounted (e.g. /host/etc/cni/net.d)")
	root := fs.String("romana-root", "", "romana-root's URL (e.g. http://10.96.0.99:9600)")
	seg := fs.String("segment-label-name", cni.DefaultSegmentLabel, "the pod label that names its Romana segment")
	agent := fs.String("agent-url", cni.DefaultAgentURL, "the agent's URL on every node")
	logFile := fs.String("log-file", cni.DefaultLogFile, "the plugin's log on the node, a line per command (empty: none)")
	bad := func(msg string) int {
		fmt.Fprintf(stderr, "Error: install: %s\n%s\n", msg, usage)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, usage)
			return 0
		}
		return bad(err.Error())
	}
	if fs.NArg() > 0 {
		return bad(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	var missing []string
	for _, f := range []struct {
		name string
		v    *string
	}{{"--cni-bin-dir", binDir}, {"--cni-conf-dir", confDir}, {"--romana-root", root}} {
		if *f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return bad("missing " + strings.Join(missing, ", "))
	}
	for _, f := range []struct{ name, v string }{{"--romana-root", *root}, {"--agent-url", *agent}} {
		if err := cni.CheckURL(f.v); err != nil {
			return bad(fmt.Sprintf("%s %q: %v", f.name, f.v, err))
		}
	}
	if *seg == "" {
		return bad(`--segment-label-name "": must not be empty`)
	}
	opts := cni.ConfOptions{RomanaRoot: *root, SegmentLabelName: *seg, AgentURL: *agent, LogFile: *logFile, Version: version}
	if _, err := cni.RenderConf(opts); err != nil {
		return bad(err.Error())
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "Error: install: find this executable: %v\n", err)
		return 1
	}
	written, err := cni.Install(cni.InstallOptions{BinDir: *binDir, ConfDir: *confDir, Executable: exe, Conf: opts})
	for _, w := range written {
		fmt.Fprintf(stdout, "installed %s\n", w)
	}
	if err != nil {
		fmt.Fprintf(stderr, "Error: install: %v\n", err)
		return 1
	}
	return 0
}
