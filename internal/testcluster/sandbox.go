package testcluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// nodeViewDirs are the directories a node has of its own from the start (under Root),
// which its programs see at their paths: where a CNI plugin and its configuration are
// installed, /usr/local/bin (so the host's own programs there are not the node's), and
// /var/log.
var nodeViewDirs = []string{"opt/cni/bin", "etc/cni/net.d", "usr/local/bin", "var/log"}

// NodeCommand runs a program as the node's own programs run (the container runtime, a
// CNI plugin, an operator's shell): in the node's network namespace, with the node's
// hostname, and with the node's own directories (nodeViewDirs, and every hostPath its
// pods asked for) over a copy-on-write view of the host's root. A node that emulates
// Docker Engine has a docker command there (dockerScript).
func (n *ProcessNode) NodeCommand(ctx context.Context, env []string, argv ...string) (*exec.Cmd, error) {
	dir, err := os.MkdirTemp(filepath.Join(n.base), "exec-")
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	dirs := slices.Clone(nodeViewDirs)
	for d := range n.hostPaths {
		dirs = append(dirs, strings.TrimPrefix(d, "/"))
	}
	n.mu.Unlock()
	// Parents first, so that a directory within another is bound over it.
	slices.SortFunc(dirs, func(a, b string) int { return cmpInt(strings.Count(a, "/"), strings.Count(b, "/"), a, b) })
	dirs = slices.Compact(dirs)
	args := []string{"netns", "exec", n.NetNS, "unshare", "-m", "-u", "--propagation", "private", "sh", "-c", mountScript, "sh", dir, n.Name}
	for _, d := range dirs {
		args = append(args, filepath.Join(n.Root, d), "/"+d)
	}
	args = append(args, "/run/netns", "/run/netns")
	if n.Runtime == RuntimeDocker {
		docker := filepath.Join(n.base, "docker")
		if _, err := os.Stat(docker); err != nil {
			if err := os.WriteFile(docker, []byte(dockerScript(n.images)), 0o755); err != nil {
				return nil, err
			}
		}
		args = append(args, docker, "/usr/bin/docker")
	}
	args = append(args, "--")
	args = append(args, argv...)
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd, nil
}

func cmpInt(a, b int, sa, sb string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return strings.Compare(sa, sb)
}

// sandbox is a pod's network: its network namespace and the address the CNI plugin
// gave it.
type sandbox struct {
	id, netns, ip string
	pause         *exec.Cmd // holds the namespace (Docker: /proc/<pid>/ns/net)
	named         string    // containerd: the name under /var/run/netns
	config        []byte
	plugin        string
	result        []byte // ADD's answer, the prevResult of a CHECK
}

// startSandbox does what the container runtime does for a pod that is not
// hostNetwork: a network namespace (Docker Engine: a pause process's, passed to CNI as
// /proc/<pid>/ns/net; containerd: one bind-mounted at /var/run/netns/<name>), then the
// node's CNI configuration (the first file in /etc/cni/net.d) and plugin
// (/opt/cni/bin/<type>) with CNI_COMMAND=ADD, run as the node's own program.
func (n *ProcessNode) startSandbox(ctx context.Context, p *corev1.Pod) (*sandbox, error) {
	config, plugin, err := n.cniConfig()
	if err != nil {
		return nil, err
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	sb := &sandbox{id: hex.EncodeToString(id), config: config, plugin: plugin}
	if n.Runtime == RuntimeContainerd {
		sb.named = "cni-" + sb.id[:8] + "-" + sb.id[8:12]
		if out, err := exec.Command("ip", "netns", "add", sb.named).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ip netns add %s: %v: %s", sb.named, err, out)
		}
		sb.netns = "/var/run/netns/" + sb.named
	} else {
		sb.pause = exec.Command("unshare", "-n", "sleep", "infinity")
		sb.pause.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := sb.pause.Start(); err != nil {
			return nil, err
		}
		sb.netns = fmt.Sprintf("/proc/%d/ns/net", sb.pause.Process.Pid)
		self, _ := os.Readlink("/proc/self/ns/net")
		for deadline := time.Now().Add(5 * time.Second); ; {
			if ns, err := os.Readlink(sb.netns); err == nil && ns != self {
				break
			}
			if time.Now().After(deadline) {
				n.releaseSandbox(sb)
				return nil, fmt.Errorf("the pause process has no network namespace of its own")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if out, err := exec.Command("nsenter", "--net="+sb.netns, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		n.releaseSandbox(sb)
		return nil, fmt.Errorf("lo up in the pod's namespace: %v: %s", err, out)
	}
	out, err := n.cni(ctx, "ADD", p, sb)
	if err != nil {
		n.releaseSandbox(sb)
		return nil, err
	}
	sb.result = out
	sb.ip, err = resultIP(out)
	if err != nil {
		_, _ = n.cni(context.Background(), "DEL", p, sb)
		n.releaseSandbox(sb)
		return nil, err
	}
	return sb, nil
}

// stopSandbox is the runtime's part when a pod goes: CNI DEL, then the namespace goes.
func (n *ProcessNode) stopSandbox(p *corev1.Pod, sb *sandbox) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if n.stopping.Load() {
		n.releaseSandbox(sb)
		return
	}
	if _, err := n.cni(ctx, "DEL", p, sb); err != nil {
		// The kubelet logs it and goes on; so does this node, into the pod's directory.
		_ = os.WriteFile(filepath.Join(n.base, "pods", string(p.UID), "cni-del.log"), []byte(err.Error()+"\n"), 0o644)
	}
	n.releaseSandbox(sb)
}

func (n *ProcessNode) releaseSandbox(sb *sandbox) {
	if sb.pause != nil && sb.pause.Process != nil {
		_ = sb.pause.Process.Kill()
		_ = sb.pause.Wait()
	}
	if sb.named != "" {
		_ = exec.Command("ip", "netns", "delete", sb.named).Run()
	}
}

// cniConfig is the node's network configuration: the first .conf, .conflist or .json
// file in /etc/cni/net.d by name, as the container runtimes pick it; a .conflist's
// single plugin.
func (n *ProcessNode) cniConfig() (config []byte, plugin string, err error) {
	dir := filepath.Join(n.Root, "etc", "cni", "net.d")
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".conf" && ext != ".conflist" && ext != ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, "", err
		}
		var conf struct {
			CNIVersion string            `json:"cniVersion"`
			Name       string            `json:"name"`
			Type       string            `json:"type"`
			Plugins    []json.RawMessage `json:"plugins"`
		}
		if err := json.Unmarshal(data, &conf); err != nil {
			return nil, "", fmt.Errorf("/etc/cni/net.d/%s: %w", e.Name(), err)
		}
		if ext == ".conflist" {
			if len(conf.Plugins) != 1 {
				return nil, "", fmt.Errorf("/etc/cni/net.d/%s: a process node runs a list of one plugin only (%d here)", e.Name(), len(conf.Plugins))
			}
			var one map[string]any
			if err := json.Unmarshal(conf.Plugins[0], &one); err != nil {
				return nil, "", err
			}
			one["cniVersion"], one["name"] = conf.CNIVersion, conf.Name
			data, _ = json.Marshal(one)
			conf.Type, _ = one["type"].(string)
		}
		if conf.Type == "" {
			return nil, "", fmt.Errorf("/etc/cni/net.d/%s names no plugin type", e.Name())
		}
		return data, conf.Type, nil
	}
	return nil, "", fmt.Errorf("container runtime network not ready: NetworkPluginNotReady: no CNI configuration in /etc/cni/net.d on %s", n.Name)
}

// PodCNI runs the node's plugin for a running pod's sandbox as the runtime does: CHECK
// with ADD's result as prevResult in the configuration (what containerd and CRI-O
// send), DEL or ADD with the configuration of the sandbox's ADD. It is how a test runs
// the commands the runtime runs at other times (a second DEL, a CHECK).
func (n *ProcessNode) PodCNI(ctx context.Context, pod types.UID, command string) ([]byte, error) {
	n.mu.Lock()
	r := n.pods[pod]
	n.mu.Unlock()
	if r == nil || r.state == nil || r.pod == nil {
		return nil, fmt.Errorf("pod %s does not run on %s", pod, n.Name)
	}
	r.state.mu.Lock()
	sb := r.state.sandbox
	r.state.mu.Unlock()
	if sb == nil {
		return nil, fmt.Errorf("pod %s on %s has no sandbox (hostNetwork, or not attached yet)", pod, n.Name)
	}
	call := *sb
	if command == "CHECK" {
		var conf map[string]any
		if err := json.Unmarshal(sb.config, &conf); err != nil {
			return nil, err
		}
		conf["prevResult"] = json.RawMessage(sb.result)
		call.config, _ = json.Marshal(conf)
	}
	return n.cni(ctx, command, r.pod, &call)
}

// cni runs the node's plugin for a pod, as the runtime does, and returns its result.
func (n *ProcessNode) cni(ctx context.Context, command string, p *corev1.Pod, sb *sandbox) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	env := []string{"CNI_COMMAND=" + command, "CNI_CONTAINERID=" + sb.id, "CNI_NETNS=" + sb.netns, "CNI_IFNAME=eth0", "CNI_PATH=/opt/cni/bin",
		fmt.Sprintf("CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;K8S_POD_INFRA_CONTAINER_ID=%s;K8S_POD_UID=%s", p.Namespace, p.Name, sb.id, p.UID)}
	cmd, err := n.NodeCommand(ctx, env, "/opt/cni/bin/"+sb.plugin)
	if err != nil {
		return nil, err
	}
	cmd.Stdin = bytes.NewReader(sb.config)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("CNI %s with /opt/cni/bin/%s on %s: %v: %s %s", command, sb.plugin, n.Name, err,
			strings.TrimSpace(stdout.String()), strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// resultIP is the pod's address in a CNI result: ip4.ip (spec 0.1 and 0.2) or the first
// of ips (0.3 and later).
func resultIP(out []byte) (string, error) {
	var r struct {
		IP4 *struct {
			IP string `json:"ip"`
		} `json:"ip4"`
		IPs []struct {
			Address string `json:"address"`
		} `json:"ips"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return "", fmt.Errorf("CNI result %q: %w", out, err)
	}
	cidr := ""
	switch {
	case r.IP4 != nil:
		cidr = r.IP4.IP
	case len(r.IPs) > 0:
		cidr = r.IPs[0].Address
	}
	ip, _, err := net.ParseCIDR(cidr)
	if err != nil {
		return "", fmt.Errorf("CNI result %q has no address", out)
	}
	return ip.String(), nil
}

// dialInNetNS opens a TCP connection from another network namespace.
func dialInNetNS(nsPath, addr string, timeout time.Duration) (c net.Conn, err error) {
	if nerr := inNetNS(nsPath, func() { c, err = net.DialTimeout("tcp", addr, timeout) }); nerr != nil {
		return nil, nerr
	}
	return c, err
}

// dockerScript is the docker command of a node that emulates Docker Engine: `docker
// run` of an image the node knows runs its entrypoint as a process, in a private
// mount namespace with the image's files bound at their paths and -v volumes bound
// too. It stays in the node's network, pid and UTS namespaces, which is what
// --net=host --pid=host give; -e sets the environment. Romana's CNI wrapper
// (romana-cni-wrapper) runs `docker run … quay.io/romana/cni` exactly so.
func dockerScript(images Images) string {
	var cases strings.Builder
	names := make([]string, 0, len(images))
	for name := range images {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		img := images[name]
		dsts := make([]string, 0, len(img.Files))
		for d := range img.Files {
			dsts = append(dsts, d)
		}
		slices.Sort(dsts)
		fmt.Fprintf(&cases, "%s)\n\tbinds=(", name)
		for _, d := range dsts {
			src := img.Files[d]
			if src == "" {
				src = "mkdir:"
			}
			fmt.Fprintf(&cases, " %s %s", shellQuote(src), shellQuote(d))
		}
		fmt.Fprintf(&cases, " )\n\tentry=(")
		for _, a := range img.Entrypoint {
			fmt.Fprintf(&cases, " %s", shellQuote(a))
		}
		fmt.Fprintf(&cases, " )\n\tcmd=(")
		for _, a := range img.Cmd {
			fmt.Fprintf(&cases, " %s", shellQuote(a))
		}
		fmt.Fprintf(&cases, " )\n\tenvs+=(")
		for _, e := range img.Env {
			fmt.Fprintf(&cases, " %s", shellQuote(e))
		}
		fmt.Fprintf(&cases, " )\n\t;;\n")
	}
	return `#!/bin/bash
# docker on a process node that emulates Docker Engine (romanactl's testcluster):
# 'docker run' of the images the node knows, as processes. See dockerScript.
if [ "$1" != run ]; then echo "docker (process node): only 'docker run' is emulated, not '$1'" >&2; exit 125; fi
shift
envs=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "HOSTNAME=$(cat /proc/sys/kernel/hostname)")
vols=()
while (($#)); do
	case "$1" in
	-e|--env) envs+=("$2"); shift 2 ;;
	--env=*) envs+=("${1#*=}"); shift ;;
	-v|--volume) vols+=("${2%%:*}" "$(v=${2#*:}; echo "${v%%:*}")"); shift 2 ;;
	-i|-t|--interactive|--privileged|--rm|--net=host|--network=host|--pid=host) shift ;;
	-*) echo "docker (process node): option $1 is not emulated" >&2; exit 125 ;;
	*) break ;;
	esac
done
image=$1; shift
name=${image%%@*}; name=${name##*/}; name=${name%%:*}
case "$name" in
` + cases.String() + `*) echo "Unable to find image '$image' locally (the node knows only the images of its catalog)" >&2; exit 125 ;;
esac
(($#)) || set -- "${cmd[@]}"
exec unshare -m --propagation private bash -c '
while [ "$1" != -- ]; do
	if [ "$1" = mkdir: ]; then mkdir -p "$2"; else
		[ -e "$2" ] || { mkdir -p "$(dirname "$2")"; if [ -d "$1" ]; then mkdir -p "$2"; else touch "$2"; fi; }
		mount --bind "$1" "$2"
	fi
	shift 2
done
shift
exec env -i "$@"' docker "${binds[@]}" "${vols[@]}" -- "${envs[@]}" "${entry[@]}" "$@"
`
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
