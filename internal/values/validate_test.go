package values_test

import (
	"errors"
	helmvalues "helm.sh/helm/v3/pkg/cli/values"
	"strings"
	"testing"

	romana "github.com/romana/romanactl"
	"github.com/romana/romanactl/internal/values"
	"helm.sh/helm/v3/pkg/chart"
)

func loadChart(t testing.TB) *chart.Chart {
	t.Helper()
	ch, err := romana.Chart()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// TestValidateRules starts from a valid kubeadm install and breaks one field per case
// (kind's trick), asserting the key, the flag and the reason in the message.
func TestValidateRules(t *testing.T) {
	ch := loadChart(t)
	tests := []struct {
		name      string
		env       string
		flags     map[string]string
		set       []string
		setString []string
		setJSON   []string
		wantErr   []string // substrings of the error; none means valid
	}{
		{name: "kubeadm defaults are valid", env: "kubeadm"},
		{name: "kops defaults are valid", env: "kops"},
		{name: "no env: chart defaults are valid", env: ""},
		{name: "custom with the mandatory values is valid", env: "custom", flags: map[string]string{"cidr": "10.112.0.0/12", "cluster-ip": "10.0.0.99", "cluster-ip-cidr": "10.0.0.0/16"}},
		{name: "custom lists every missing mandatory value in one error", env: "custom",
			wantErr: []string{"1 invalid value", "missing mandatory values: services.cidr (--cidr), romanaRoot.clusterIP (--cluster-ip), agent.clusterIPCIDR (--cluster-ip-cidr)"}},
		{name: "custom missing one", env: "custom", flags: map[string]string{"cidr": "10.112.0.0/12", "cluster-ip-cidr": "10.0.0.0/16"},
			wantErr: []string{"missing mandatory values: romanaRoot.clusterIP (--cluster-ip)"}},
		{name: "empty --tag", flags: map[string]string{"tag": ""},
			wantErr: []string{"image.tag (--tag): empty: a dedicated flag needs a value; give one (--tag=<value>), or leave --tag out to keep the release's value"}},
		{name: "empty --cidr and blank --nat in one error", flags: map[string]string{"cidr": "", "nat": " "},
			wantErr: []string{"2 invalid value(s)", "services.cidr (--cidr): empty", "agent.nat (--nat) \" \": empty"}},
		{name: "dataDir /", set: []string{"services.dataDir=/"},
			wantErr: []string{`services.dataDir "/": a system directory: the datastore would write among the host's files, and uninstall --purge-datastore deletes there; use a directory of Romana's own, e.g. /var/lib/romana/db`}},
		{name: "dataDir climbing to /", set: []string{"services.dataDir=/var/lib/romana/../../.."},
			wantErr: []string{`services.dataDir "/var/lib/romana/../../..": not a clean path: it resolves to /, a system directory; use a directory of Romana's own`}},
		{name: "dataDir /var/lib", set: []string{"services.dataDir=/var/lib"}, wantErr: []string{`services.dataDir "/var/lib": a system directory`}},
		{name: "dataDir a host MySQL's", set: []string{"services.dataDir=/var/lib/mysql"}, wantErr: []string{`services.dataDir "/var/lib/mysql": a system directory`}},
		{name: "dataDir /etc/ (trailing slash)", set: []string{"services.dataDir=/etc/"}, wantErr: []string{`services.dataDir "/etc/": not a clean path: it resolves to /etc, a system directory`}},
		{name: "dataDir inside the kubelet's", set: []string{"services.dataDir=/var/lib/kubelet/romana"},
			wantErr: []string{`services.dataDir "/var/lib/kubelet/romana": inside /var/lib/kubelet, which belongs to the kernel, the runtime or the node's Kubernetes components`}},
		{name: "dataDir inside /proc", set: []string{"services.dataDir=/proc/1"}, wantErr: []string{`inside /proc`}},
		{name: "dataDir unclean but fine once clean", set: []string{"services.dataDir=/var/lib//romana/./db"},
			wantErr: []string{`services.dataDir "/var/lib//romana/./db": not a clean path (it has ".", "..", "//" or a trailing "/"); write it as /var/lib/romana/db`}},
		{name: "dataDir relative", set: []string{"services.dataDir=var/lib/romana"}, wantErr: []string{`services.dataDir "var/lib/romana": must be an absolute host path`}},
		{name: "dataDir of Romana's own below a system directory", set: []string{"services.dataDir=/srv/romana/db"}},
		{name: "dataDir /var/lib/romana", set: []string{"services.dataDir=/var/lib/romana"}},
		{name: "cidr not canonical", flags: map[string]string{"cidr": "10.192.0.1/10"},
			wantErr: []string{`services.cidr (--cidr) "10.192.0.1/10": not the network address of its prefix; use 10.192.0.0/10`}},
		{name: "cidr IPv6", flags: map[string]string{"cidr": "fd00::/64"},
			wantErr: []string{`services.cidr (--cidr) "fd00::/64": IPv6 is not supported: Romana's address plan is IPv4 only`}},
		{name: "cidr prefix out of range", flags: map[string]string{"cidr": "10.0.0.0/33"},
			wantErr: []string{`services.cidr (--cidr) "10.0.0.0/33": prefix length must be 0-32`}},
		{name: "cidr without prefix", flags: map[string]string{"cidr": "10.0.0.0"},
			wantErr: []string{`services.cidr (--cidr) "10.0.0.0": not a CIDR: the prefix length is missing`}},
		{name: "cidr garbage", flags: map[string]string{"cidr": "ten/8"},
			wantErr: []string{`services.cidr (--cidr) "ten/8": not an IPv4 CIDR`}},
		{name: "cluster-ip-cidr not canonical", flags: map[string]string{"cluster-ip-cidr": "10.96.0.1/12"},
			wantErr: []string{`agent.clusterIPCIDR (--cluster-ip-cidr) "10.96.0.1/12": not the network address of its prefix; use 10.96.0.0/12`}},
		{name: "plan does not fit (seed's /24 example)", flags: map[string]string{"cidr": "100.112.0.0/24"},
			wantErr: []string{`services.cidr (--cidr) "100.112.0.0/24": the address plan does not fit: prefix 24 + node bits 8 (services.nodes=256) + namespace bits 4 (services.namespaces=16) + segment bits 4 (services.segments=16) = 40, which leaves -8 bits`, "a prefix of /15 or shorter"}},
		{name: "plan exactly 32 bits does not fit", flags: map[string]string{"cidr": "100.112.0.0/16"},
			wantErr: []string{"= 32, which leaves 0 bits for endpoints; it must be below 32"}},
		{name: "plan at 31 bits fits", flags: map[string]string{"cidr": "100.112.0.0/15"}},
		{name: "agent max unavailable: a count", flags: map[string]string{"agent-max-unavailable": "50"}},
		{name: "agent max unavailable: a percentage", flags: map[string]string{"agent-max-unavailable": "100%"}},
		{name: "agent max unavailable: zero never rolls", flags: map[string]string{"agent-max-unavailable": "0"},
			wantErr: []string{`agent.updateStrategy.rollingUpdate.maxUnavailable (--agent-max-unavailable) "0": must be a whole number of nodes, at least 1`, "e.g. --agent-max-unavailable=10%"}},
		{name: "agent max unavailable: 0%", flags: map[string]string{"agent-max-unavailable": "0%"},
			wantErr: []string{`(--agent-max-unavailable) "0%": must be a whole number of nodes or a percentage from 1% to 100%`}},
		{name: "agent max unavailable: 05%", flags: map[string]string{"agent-max-unavailable": "05%"},
			wantErr: []string{`(--agent-max-unavailable) "05%"`}},
		{name: "agent maxSurge is refused", set: []string{"agent.updateStrategy.rollingUpdate.maxSurge=1"},
			wantErr: []string{`agent.updateStrategy.rollingUpdate.maxSurge "1": is not supported: the agent holds host ports`}},
		{name: "agent OnDelete", set: []string{"agent.updateStrategy.type=OnDelete", "agent.updateStrategy.rollingUpdate=null"}},
		{name: "agent OnDelete keeping rollingUpdate", set: []string{"agent.updateStrategy.type=OnDelete"},
			wantErr: []string{`agent.updateStrategy.rollingUpdate "a map": is only for type RollingUpdate`, "rollingUpdate=null"}},
		{name: "agent strategy type unknown", set: []string{"agent.updateStrategy.type=Recreate"},
			wantErr: []string{`agent.updateStrategy.type "Recreate": must be RollingUpdate or OnDelete`}},
		{name: "nodes zero", flags: map[string]string{"nodes": "0"},
			wantErr: []string{`services.nodes (--nodes) "0": must be between 1 and`}},
		{name: "nodes not a number", flags: map[string]string{"nodes": "many"},
			wantErr: []string{`services.nodes (--nodes) "many": must be a positive integer`}},
		{name: "nodes as a string", setString: []string{"services.nodes=256"},
			wantErr: []string{`services.nodes (--nodes) "256": must be a number, not a string; give it as a number: --set services.nodes=256 (unquoted in YAML, not --set-string)`}},
		{name: "namespaces negative", set: []string{"services.namespaces=-4"},
			wantErr: []string{`services.namespaces (--namespaces) "-4": must be between 1 and`}},
		{name: "segments fractional", set: []string{"services.segments=2.5"},
			wantErr: []string{`services.segments (--segments) "2.5": must be a positive integer`}},
		{name: "romana cidr overlaps service range", flags: map[string]string{"cidr": "10.96.0.0/11"},
			wantErr: []string{`services.cidr (--cidr) "10.96.0.0/11": overlaps agent.clusterIPCIDR (--cluster-ip-cidr) 10.96.0.0/12`}},
		{name: "clusterIP outside the service range", flags: map[string]string{"cluster-ip": "10.200.0.1"},
			wantErr: []string{`romanaRoot.clusterIP (--cluster-ip) "10.200.0.1": is outside agent.clusterIPCIDR (--cluster-ip-cidr) 10.96.0.0/12`, "e.g. --cluster-ip=10.96.0.99 (in the lower band of the service range 10.96.0.0/12"}},
		{name: "clusterIP is the network address", flags: map[string]string{"cluster-ip": "10.96.0.0"},
			wantErr: []string{`romanaRoot.clusterIP (--cluster-ip) "10.96.0.0": is the network or broadcast address`}},
		{name: "clusterIP is the broadcast address", flags: map[string]string{"cluster-ip": "10.111.255.255"},
			wantErr: []string{`"10.111.255.255": is the network or broadcast address`}},
		{name: "clusterIP inside the Romana CIDR", flags: map[string]string{"cluster-ip": "100.112.0.10", "cluster-ip-cidr": "100.64.0.0/10", "cidr": "100.112.0.0/12"},
			wantErr: []string{`romanaRoot.clusterIP (--cluster-ip) "100.112.0.10": lies inside services.cidr (--cidr) 100.112.0.0/12`}},
		{name: "clusterIP not an address", flags: map[string]string{"cluster-ip": "10.99.99"},
			wantErr: []string{`romanaRoot.clusterIP (--cluster-ip) "10.99.99": not an IPv4 address`}},
		{name: "clusterIP IPv6", flags: map[string]string{"cluster-ip": "fd00::1"},
			wantErr: []string{`romanaRoot.clusterIP (--cluster-ip) "fd00::1": IPv6 is not supported`}},
		{name: "romana-root matching is valid", flags: map[string]string{"romana-root": "http://10.99.99.99:9600"}},
		{name: "romana-root DNS name with the right port is valid", flags: map[string]string{"romana-root": "http://romana-root.kube-system.svc:9600"}},
		{name: "romana-root other IP", flags: map[string]string{"romana-root": "http://10.99.99.98:9600"},
			wantErr: []string{`agent.romanaRoot (--romana-root) "http://10.99.99.98:9600": its host 10.99.99.98 is not romanaRoot.clusterIP 10.99.99.99`}},
		{name: "romana-root other port", flags: map[string]string{"romana-root": "http://10.99.99.99:9601"},
			wantErr: []string{`its port 9601 is not the root Service's port 9600`}},
		{name: "romana-root implied port 80", flags: map[string]string{"romana-root": "http://10.99.99.99"},
			wantErr: []string{`its port 80 is not the root Service's port 9600`}},
		{name: "romana-root not http", flags: map[string]string{"romana-root": "ftp://10.99.99.99:9600"},
			wantErr: []string{`agent.romanaRoot (--romana-root) "ftp://10.99.99.99:9600": must be an http or https URL`}},
		{name: "romana-root without host", flags: map[string]string{"romana-root": "http://:9600"},
			wantErr: []string{`agent.romanaRoot (--romana-root) "http://:9600": has no host`}},
		{name: "api-server not a URL", flags: map[string]string{"api-server": "127.0.0.1:8080"},
			wantErr: []string{`services.apiServer (--api-server) "127.0.0.1:8080"`}},
		{name: "ip-address not IPv4", flags: map[string]string{"ip-address": "::1"},
			wantErr: []string{`services.ipAddress (--ip-address) "::1": not an IPv4 address`}},
		{name: "interface too long", flags: map[string]string{"interface": "averyveryverylongname"},
			wantErr: []string{`services.interface, agent.interface (--interface) "averyveryverylongname": an interface name is 1-15 characters, this one has 21`}},
		{name: "interface with a colon", flags: map[string]string{"nat-interface": "eth0:1"},
			wantErr: []string{`agent.natInterface (--nat-interface) "eth0:1": an interface name cannot contain '/', ':' or whitespace`}},
		{name: "interface with a slash", set: []string{"agent.interface=eth/0"},
			wantErr: []string{`agent.interface (--interface) "eth/0"`}},
		{name: "nat not a boolean", flags: map[string]string{"nat": "yes"},
			wantErr: []string{`agent.nat (--nat) "yes": must be true or false`}},
		{name: "pod-to-host not a boolean", set: []string{"agent.podToHost=1"},
			wantErr: []string{`agent.podToHost (--pod-to-host) "1": must be true or false`}},
		{name: "tag bad first character", flags: map[string]string{"tag": ".v1"},
			wantErr: []string{`image.tag (--tag) ".v1": an image tag must start with a letter or a digit`}},
		{name: "tag bad character", flags: map[string]string{"tag": "v1+build"},
			wantErr: []string{`image.tag (--tag) "v1+build": an image tag may contain only letters, digits`}},
		{name: "tag too long", flags: map[string]string{"tag": strings.Repeat("a", 129)},
			wantErr: []string{`an image tag is at most 128 characters, this one has 129`}},
		{name: "tag of 128 is valid", flags: map[string]string{"tag": strings.Repeat("a", 128)}},
		{name: "registry with upper-case path", flags: map[string]string{"registry": "registry.example.com/Romana"},
			wantErr: []string{`(--registry) "registry.example.com/Romana": the path "Romana" has upper case: image paths are lower case`}},
		{name: "registry with a scheme", flags: map[string]string{"registry": "https://registry.example.com"},
			wantErr: []string{`(--registry) "https://registry.example.com": has a scheme (https://)`}},
		{name: "registry with a trailing slash", flags: map[string]string{"registry": "registry.example.com/romana/"},
			wantErr: []string{`(--registry) "registry.example.com/romana/": ends with '/': drop the trailing slash`}},
		{name: "registry port above 65535", flags: map[string]string{"registry": "localhost:70000/romana"},
			wantErr: []string{`(--registry) "localhost:70000/romana": port 70000 is outside 1-65535`}},
		{name: "number too large for int64", flags: map[string]string{"namespaces": "99999999999999999999"},
			wantErr: []string{`services.namespaces (--namespaces) "99999999999999999999": too large: at most`}},
		{name: "number too large in --set", set: []string{"services.segments=99999999999999999999"},
			wantErr: []string{`services.segments (--segments) "99999999999999999999": too large: at most`}},
		{name: "a map where a string belongs says so in YAML's words", set: []string{"services.interface.x=1"},
			wantErr: []string{`services.interface (--interface) "a map": must be a string, not a map`}},
		{name: "a null bool", set: []string{"agent.nat=null"},
			wantErr: []string{`agent.nat (--nat) "null": is null or missing`}},
		{name: "cidr in loopback", flags: map[string]string{"cidr": "127.16.0.0/12"},
			wantErr: []string{`services.cidr (--cidr) "127.16.0.0/12": overlaps the loopback 127.0.0.0/8 range: addresses there do not route`}},
		{name: "cidr around link-local", flags: map[string]string{"cidr": "169.0.0.0/8"},
			wantErr: []string{`overlaps the link-local 169.254.0.0/16 range`}},
		{name: "service range in class E", flags: map[string]string{"cluster-ip-cidr": "240.0.0.0/12", "cluster-ip": "240.0.0.9"},
			wantErr: []string{`agent.clusterIPCIDR (--cluster-ip-cidr) "240.0.0.0/12": overlaps the reserved (class E) 240.0.0.0/4 range`}},
		{name: "a null section is named, alone", set: []string{"services=null"},
			wantErr: []string{"1 invalid value", `services "null": is null or missing: it is a section`}},
		{name: "a null nodeSelector would put the datastore everywhere", set: []string{"services.nodeSelector=null"},
			wantErr: []string{`services.nodeSelector "null": is null or missing`}},
		{name: "a nodeSelector emptied key by key", set: []string{`services.nodeSelector.node-role\.kubernetes\.io/control-plane=null`},
			wantErr: []string{`services.nodeSelector "{}": selects every node`}},
		{name: "a number replacing a section is named, alone, as null is", setJSON: []string{"image=1"},
			wantErr: []string{"1 invalid value", `image "1": replaces the section image with a number: a section is a map (of digests, pullPolicy, registry, tag), and a value in its place deletes every default inside it, as null does; set a key inside it instead, e.g. --set image.registry=`}},
		{name: "a list replacing a nested section", setJSON: []string{"agent.updateStrategy=[]"},
			wantErr: []string{"1 invalid value", `agent.updateStrategy "a list": replaces the section agent.updateStrategy with a list`}},
		{name: "a string replacing a section", set: []string{"romanaRoot=x"},
			wantErr: []string{"1 invalid value", `romanaRoot "x": replaces the section romanaRoot with a string`, "e.g. --set romanaRoot.clusterIP="}},
		{name: "null tolerations", set: []string{"agent.tolerations=null"},
			wantErr: []string{`agent.tolerations "null": is null or missing`}},
		{name: "empty tolerations are a choice", setJSON: []string{"agent.tolerations=[]"}},
		{name: "a resource that is no quantity", set: []string{"agent.resources.requests.memory=12 GB"},
			wantErr: []string{`agent.resources.requests.memory "12 GB": not a Kubernetes quantity`}},
		{name: "quantities parse", set: []string{"agent.resources.requests.memory=128Mi", "agent.resources.limits.cpu=0.5"}},
		{name: "whitespace around a flag is dropped for every kind", flags: map[string]string{"cidr": " 100.112.0.0/12 ", "nodes": " 256", "nat": "false ", "api-proxy-port": " 8002 "}},
		{name: "registry with port is valid", flags: map[string]string{"registry": "localhost:5000/romana"}},
		{name: "digest malformed", set: []string{"datastore.image.digest=sha256:abc"},
			wantErr: []string{`datastore.image.digest "sha256:abc": not an image digest`}},
		{name: "services-as unknown", flags: map[string]string{"services-as": "pod"},
			wantErr: []string{`services.deploy (--services-as) "pod": must be daemonSet or staticPod`}},
		{name: "services-as static-pod is valid", flags: map[string]string{"services-as": "static-pod"}},
		{name: "cni-plugin unknown", flags: map[string]string{"cni-plugin": "bogus"},
			wantErr: []string{`cni.plugin (--cni-plugin) "bogus": must be romanactl`, "use --cni-plugin=romanactl, or --cni-plugin=upstream"}},
		{name: "cni-plugin upstream is valid", flags: map[string]string{"cni-plugin": "upstream"}},
		{name: "unknown key suggests the closest", set: []string{"services.cidrr=10.0.0.0/8"},
			wantErr: []string{"services.cidrr: unknown key; did you mean services.cidr?"}},
		{name: "unknown key inside a shared schema definition", set: []string{"datastore.image.nme=mysql"},
			wantErr: []string{"datastore.image.nme: unknown key; did you mean datastore.image.name?"}},
		{name: "right key at the wrong level", set: []string{"clusterIP=10.99.99.99"},
			wantErr: []string{"clusterIP: unknown key; did you mean romanaRoot.clusterIP?"}},
		{name: "wrong type: cidr as a number", set: []string{"services.cidr=10"},
			wantErr: []string{`services.cidr (--cidr) "10": must be a string`}},
		{name: "port out of range", set: []string{"romanaRoot.port=70000"},
			wantErr: []string{`romanaRoot.port "70000": must be between 1 and 65535`}},
		{name: "every problem at once", flags: map[string]string{"cidr": "10.192.0.1/10", "cluster-ip": "10.200.0.1", "nat": "maybe"},
			wantErr: []string{"3 invalid value(s)", "services.cidr", "romanaRoot.clusterIP", "agent.nat"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env
			if env == "" && !strings.HasPrefix(tt.name, "no env") {
				env = "kubeadm"
			}
			_, err := values.Resolve(ch, values.Options{Env: env, Flags: tt.flags, Helm: helmvalues.Options{Values: tt.set, StringValues: tt.setString, JSONValues: tt.setJSON}})
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("want valid, got: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error containing %q, got none", tt.wantErr)
			}
			if !values.IsInputError(err) {
				t.Errorf("want an input error (exit 2), got %T", err)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestUnknownEnvironmentListsKnownOnes(t *testing.T) {
	_, err := values.Resolve(loadChart(t), values.Options{Env: "eks"})
	var ie *values.InputError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), `--env "eks": unknown environment; known: custom, kops, kubeadm`) {
		t.Fatalf("got %v", err)
	}
}

// TestPrecedence: chart defaults < env < -f files < --set < --set-string < flags.
func TestPrecedence(t *testing.T) {
	ch := loadChart(t)
	dir := t.TempDir()
	f1 := writeFile(t, dir, "a.yaml", "services:\n  nodes: 64\n  namespaces: 8\n  segments: 8\n")
	f2 := writeFile(t, dir, "b.yaml", "services:\n  namespaces: 4\n")
	res, err := values.Resolve(ch, values.Options{
		Env: "kops",
		Helm: helmvalues.Options{
			ValueFiles:   []string{f1, f2},
			Values:       []string{"services.segments=2", "image.tag=fromset"},
			StringValues: []string{"image.tag=fromsetstring", "services.apiServer=https://10.0.0.1:6443"},
		},
		Flags: map[string]string{"api-server": "https://127.0.0.1:6443", "api-proxy": "false"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"services.cidr":       "10.192.0.0/10",          // env over chart default
		"services.nodes":      float64(64),              // first file
		"services.namespaces": float64(4),               // second file over first
		"services.segments":   int64(2),                 // --set over files
		"image.tag":           "fromsetstring",          // --set-string over --set
		"services.apiServer":  "https://127.0.0.1:6443", // flag over --set-string
		"image.registry":      "quay.io/romana",         // chart default
	}
	for k, w := range want {
		if got, _ := values.Lookup(res.Effective, k); got != w {
			t.Errorf("%s = %#v, want %#v", k, got, w)
		}
	}
	// Supplied holds only the user's layers: what a release stores as its config.
	if _, ok := values.Lookup(res.Supplied, "image.registry"); ok {
		t.Error("Supplied must not contain chart defaults")
	}
}

func TestRegistryRewritesEveryImage(t *testing.T) {
	res, err := values.Resolve(loadChart(t), values.Options{Env: "kubeadm", Flags: map[string]string{"registry": "registry.local:5000/mirror"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"image.registry", "datastore.image.registry", "tests.image.registry"} {
		if got, _ := values.Lookup(res.Effective, k); got != "registry.local:5000/mirror" {
			t.Errorf("%s = %v", k, got)
		}
	}
}

// TestChartDeclaresEveryFlagKey: the embedded chart's schema declares every key a
// dedicated flag sets, or `--chart` would refuse the project's own chart, packaged.
func TestChartDeclaresEveryFlagKey(t *testing.T) {
	missing, err := values.UndeclaredFlagKeys(loadChart(t))
	if err != nil || len(missing) > 0 {
		t.Fatalf("undeclared: %v %v", missing, err)
	}
}
