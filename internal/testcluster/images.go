package testcluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Image is what a process node knows of a container image: the files the image puts
// where (each bound at its path in the container's root, over a copy-on-write view of
// the host's programs), its entrypoint and command, and its environment. The node runs
// the real programs at the image's paths; only the base system (bash, iproute2,
// iptables, jq, curl, supervisord, the MySQL client) is the host's Debian instead of the
// image's Ubuntu.
type Image struct {
	// Files maps a path in the image to the file or directory on the host that stands
	// for it. An empty source makes an empty directory.
	Files map[string]string
	// Entrypoint and Cmd are the image's ENTRYPOINT and CMD: a container that names no
	// command runs Entrypoint, with its args or else Cmd.
	Entrypoint, Cmd []string
	// Env is added to the container's environment before the pod's own.
	Env []string
	// DummyLinks are links of type dummy that the image's entrypoint creates on a
	// hostNetwork node. This machine's kernel has no dummy link type, so the node makes
	// each one (as a veth pair, its peer up) before the container starts, when it is
	// missing; the program finds it there and goes on as on a kernel with dummy links.
	DummyLinks []string
}

// Images is a process node's image catalog, by image name (see imageName). A container
// whose image is not in it runs its command with the host's programs (it must name one).
type Images map[string]*Image

// Lookup is the Image that stands for a reference, nil when none does.
func (im Images) Lookup(ref string) *Image { return im[imageName(ref)] }

// imageName is the last path element of a reference, without tag or digest:
// "quay.io/romana/services:v0.9.3" and "mirror.local/romana/services@sha256:…" are both
// "services", so a --registry mirror or a pinned digest runs the same programs.
func imageName(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	name := ref[strings.LastIndex(ref, "/")+1:]
	name, _, _ = strings.Cut(name, ":")
	return name
}

// RomanaImages is the catalog of the images Romana's chart runs, built from Romana's
// own programs and sources:
//   - bin: the programs `make romana-bin` built (root, tenant, topology, ipam, policy,
//     agent, listener, romana, kube-cni-proxy);
//   - src: Romana's source tree (romana/containerize/targets holds each image's
//     Dockerfile, entrypoint and templates; core/ holds agent.py);
//   - kubectl: the kubectl to stand for registry.k8s.io/kubectl and for the services
//     image's own kubectl;
//   - cniPlugin: romanactl's own CNI plugin (`make romana-cni`), the one program of
//     the romanactl-cni image (cni.plugin=romanactl);
//   - stateDir: where the catalog writes the few files that are the image's base
//     system rather than Romana's (the mysql image's entrypoint, python's simplejson).
//
// Each image's files are those its Dockerfile COPYs (services, agent and cni in
// romana/containerize/targets). Every tag of an image runs the same v0.9.3.5 programs.
func RomanaImages(bin, src, kubectl, cniPlugin, stateDir string) (Images, error) {
	targets := filepath.Join(src, "romana", "containerize", "targets")
	for _, p := range []string{filepath.Join(bin, "root"), filepath.Join(targets, "services", "run-romana-services"), kubectl} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("romana images: %w", err)
		}
	}
	if _, err := os.Stat(cniPlugin); err != nil {
		return nil, fmt.Errorf("romana images: romanactl's CNI plugin is not built (make romana-cni): %w", err)
	}
	base, err := writeBaseSystem(stateDir)
	if err != nil {
		return nil, err
	}
	services := map[string]string{"/etc/romana": ""}
	for _, p := range []string{"romana", "root", "tenant", "topology", "ipam", "policy", "listener", "kube-cni-proxy"} {
		services["/usr/local/bin/"+p] = filepath.Join(bin, p)
	}
	services["/usr/local/bin/kubectl"] = kubectl
	for _, p := range []string{"dot-romana.template", "romana.conf.template", "romana-services.template"} {
		services["/var/lib/romana/templates/"+p] = filepath.Join(targets, "services", p)
	}
	for _, p := range []string{"run-romana-services", "auto-create-segment"} {
		services["/usr/local/bin/"+p] = filepath.Join(targets, "services", p)
	}

	agent := map[string]string{"/var/lib/romana/cni-installation": "", "/var/lib/romana/templates": "", "/var/lib/romana/policies": ""}
	for _, p := range []string{"romana", "agent"} {
		agent["/usr/local/bin/"+p] = filepath.Join(bin, p)
	}
	// run-romana-agent runs /usr/local/bin/agent.py itself, so the image has it
	// executable; the source tree here may be a read-only copy without the mode bits.
	agentPy := filepath.Join(stateDir, "agent.py")
	if err := copyExecutable(filepath.Join(src, "core", "pkg", "util", "policy", "agent", "agent.py"), agentPy); err != nil {
		return nil, err
	}
	agent["/usr/local/bin/agent.py"] = agentPy
	hooks := filepath.Join(src, "romana", "romana-install", "roles", "romana", "install-agent", "files")
	// The agent refuses to start unless every hook is executable (main.go panics).
	for _, p := range []string{"agent_proxy_add_policy.sh", "agent_proxy_delete_policy.sh", "agent_dhcp_release.sh"} {
		hook := filepath.Join(stateDir, p)
		if err := copyExecutable(filepath.Join(hooks, p), hook); err != nil {
			return nil, err
		}
		agent["/usr/local/bin/"+p] = hook
	}
	for _, p := range []string{"romana-cni-wrapper", "10-romana.conf"} {
		agent["/var/lib/romana/cni-installation/"+p] = filepath.Join(targets, "agent", p)
	}
	for _, p := range []string{"dot-romana.template", "romana-agent.template"} {
		agent["/var/lib/romana/templates/"+p] = filepath.Join(targets, "agent", p)
	}
	for _, p := range []string{"permit-all-pod-to-host.json", "permit-all-host-to-pod.json"} {
		agent["/var/lib/romana/policies/"+p] = filepath.Join(targets, "agent", p)
	}
	agent["/usr/local/bin/run-romana-agent"] = filepath.Join(targets, "agent", "run-romana-agent")
	var agentEnv []string
	if base.python2 != "" {
		// The image's python is Ubuntu's Python 2 with python-simplejson; agent.py needs
		// both. /usr/local/sbin comes first on the image's PATH.
		agent["/usr/local/sbin/python"] = base.python2
		agent["/usr/lib/python2.7/dist-packages/simplejson.py"] = base.simplejson
		agentEnv = append(agentEnv, "PYTHONPATH=/usr/lib/python2.7/dist-packages")
	}

	// Ubuntu 16.04's curl (7.47) takes an HTTP/0.9 answer, and agent.py's answers to
	// run-romana-agent are one; Debian's curl refuses them unless told --http0.9.
	agent["/usr/local/sbin/curl"] = base.curl
	cni := map[string]string{"/opt/cni/bin/romana": filepath.Join(targets, "cni", "romana"), "/usr/local/sbin/curl": base.curl}
	mysql := map[string]string{"/usr/local/bin/docker-entrypoint.sh": base.mysqlEntrypoint}
	kubectlImage := map[string]string{"/bin/kubectl": kubectl}
	return Images{
		"services": {Files: services, Entrypoint: []string{"/usr/local/bin/run-romana-services"}},
		// run-romana-agent makes romana-gw with `ip link add romana-gw type dummy`
		// unless it exists.
		"agent":   {Files: agent, Entrypoint: []string{"/usr/local/bin/run-romana-agent"}, Env: agentEnv, DummyLinks: []string{"romana-gw"}},
		"cni":     {Files: cni, Entrypoint: []string{"/opt/cni/bin/romana"}},
		"mysql":   {Files: mysql, Entrypoint: []string{"/usr/local/bin/docker-entrypoint.sh"}, Cmd: []string{"mysqld"}},
		"kubectl": {Files: kubectlImage, Entrypoint: []string{"/bin/kubectl"}},
		// The image `make image` builds: the static plugin alone, on an empty base.
		"romanactl-cni": {Files: map[string]string{"/romana-cni": cniPlugin}, Entrypoint: []string{"/romana-cni"}},
	}, nil
}

type baseSystem struct{ mysqlEntrypoint, simplejson, python2, curl string }

// writeBaseSystem writes the parts of the images' base systems that Debian does not
// have under the same name.
func writeBaseSystem(dir string) (baseSystem, error) {
	var b baseSystem
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return b, err
	}
	b.mysqlEntrypoint = filepath.Join(dir, "mysql-entrypoint.sh")
	if err := os.WriteFile(b.mysqlEntrypoint, []byte(mysqlEntrypoint), 0o755); err != nil {
		return b, err
	}
	b.simplejson = filepath.Join(dir, "simplejson.py")
	if err := os.WriteFile(b.simplejson, []byte(simplejsonShim), 0o644); err != nil {
		return b, err
	}
	b.curl = filepath.Join(dir, "curl")
	if err := os.WriteFile(b.curl, []byte(curl1604), 0o755); err != nil {
		return b, err
	}
	b.python2 = Python2()
	return b, nil
}

// Python2 finds a Python 2.7 interpreter for agent.py (the agent image's Ubuntu 16.04
// python). Debian 12 has none; $ROMANACTL_PYTHON2 names one, else pyenv's 2.7 is used
// when the machine has it. Empty when there is none: the agent's policy agent then
// cannot start, as in an image without python.
func Python2() string {
	if p := os.Getenv("ROMANACTL_PYTHON2"); p != "" {
		return p
	}
	home, _ := os.UserHomeDir()
	matches, _ := filepath.Glob(filepath.Join(home, ".pyenv", "versions", "2.7*", "bin", "python2.7"))
	if len(matches) > 0 {
		return matches[len(matches)-1]
	}
	return ""
}

// simplejsonShim stands for Ubuntu's python-simplejson, which agent.py imports: the
// standard library's json has the same loads and dumps.
const simplejsonShim = `# python-simplejson stand-in for the emulated agent image (romanactl's testcluster).
from json import *
`

// mysqlEntrypoint does what the mysql:5 image's entrypoint does for the chart's
// datastore container, with Debian's MariaDB: arguments that start with "-" go to
// mysqld; on an empty data directory it initialises one whose root user has
// $MYSQL_ROOT_PASSWORD (from localhost and from anywhere, as the image makes it), then
// runs the server in the foreground as the container's main process.
const mysqlEntrypoint = `#!/bin/bash
set -eo pipefail
if [ "${1:0:1}" = - ]; then set -- mysqld "$@"; fi
if [ "$1" != mysqld ]; then exec "$@"; fi
shift
datadir=/var/lib/mysql
mkdir -p /run/mysqld
if [ ! -d "$datadir/mysql" ]; then
	if [ -z "$MYSQL_ROOT_PASSWORD" ]; then
		echo >&2 'error: database is uninitialized and password option is not specified (MYSQL_ROOT_PASSWORD)'
		exit 1
	fi
	echo 'Initializing database'
	mariadb-install-db --user=root --datadir="$datadir" --auth-root-authentication-method=normal --skip-test-db >/dev/null
	mariadbd --user=root --datadir="$datadir" --skip-networking --socket=/run/mysqld/init.sock &
	pid=$!
	for i in $(seq 120); do
		mariadb-admin --socket=/run/mysqld/init.sock ping >/dev/null 2>&1 && break
		sleep 0.5
	done
	pw=${MYSQL_ROOT_PASSWORD//\\/\\\\}
	pw=${pw//\'/\\\'}
	mariadb --socket=/run/mysqld/init.sock <<SQL
ALTER USER 'root'@'localhost' IDENTIFIED BY '$pw';
CREATE USER 'root'@'%' IDENTIFIED BY '$pw';
GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
	kill "$pid"
	wait "$pid" || true
	echo 'Database initialized'
fi
exec mariadbd --user=root --datadir="$datadir" "$@"
`

func copyExecutable(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("romana images: %w", err)
	}
	return os.WriteFile(to, data, 0o755)
}

// curl1604 is curl as Ubuntu 16.04 has it, from Debian's: it accepts HTTP/0.9 answers.
const curl1604 = `#!/bin/sh
exec /usr/bin/curl --http0.9 "$@"
`
