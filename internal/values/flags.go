package values

import (
	"strconv"
	"strings"
)

// Kind says how a dedicated flag's text becomes a value.
type Kind int

const (
	// String values are stored as given.
	String Kind = iota
	// Int values are stored as integers when they parse; otherwise the text is kept
	// so that validation reports it against the chart key.
	Int
	// Bool values are stored as booleans when they parse ("true"/"false" only, as the
	// seed's agent takes them).
	Bool
	// ServicesAs maps daemonset|static-pod onto services.deploy.
	ServicesAs
)

// Flag is one dedicated romanactl flag: its seed name and the chart keys it sets. The
// flags are the last and strongest layer of values, above --set.
type Flag struct {
	Name  string
	Keys  []string
	Kind  Kind
	Usage string
}

// Flags lists the dedicated flags in the order --help shows them. The names are the
// seed's own option names.
var Flags = []Flag{
	{Name: "tag", Keys: []string{"image.tag"}, Usage: "tag of Romana's images (image.tag); default: the chart's appVersion"},
	{Name: "registry", Keys: []string{"image.registry", "datastore.image.registry", "apiProxy.image.registry", "tests.image.registry"}, Usage: "pull every image the chart deploys from REGISTRY/<name>:<tag>, the datastore and API proxy included (image.registry, datastore.image.registry, apiProxy.image.registry, tests.image.registry)"},
	{Name: "cidr", Keys: []string{"services.cidr"}, Usage: "IPv4 CIDR Romana allocates pod addresses from (services.cidr); mandatory for --env=custom"},
	{Name: "api-server", Keys: []string{"services.apiServer"}, Usage: "Kubernetes API server URL romana-services calls without credentials (services.apiServer); default: the API proxy, http://127.0.0.1:<api-proxy-port>, the only value allowed with --api-proxy=true"},
	{Name: "api-proxy", Keys: []string{"apiProxy.enabled"}, Kind: Bool, Usage: "run kubectl proxy beside romana-services, on the node's loopback, as the romana-services ServiceAccount, true|false (apiProxy.enabled)"},
	{Name: "api-proxy-port", Keys: []string{"apiProxy.port"}, Kind: Int, Usage: "loopback port of the API proxy on the control-plane node (apiProxy.port)"},
	{Name: "interface", Keys: []string{"services.interface", "agent.interface"}, Usage: "host interface used to detect the host address, for services and agent (services.interface, agent.interface)"},
	{Name: "ip-address", Keys: []string{"services.ipAddress"}, Usage: "IPv4 address of the Romana services (services.ipAddress); default: the node's address"},
	{Name: "nodes", Keys: []string{"services.nodes"}, Kind: Int, Usage: "number of nodes the address plan makes room for (services.nodes)"},
	{Name: "namespaces", Keys: []string{"services.namespaces"}, Kind: Int, Usage: "number of namespaces the address plan makes room for (services.namespaces)"},
	{Name: "segments", Keys: []string{"services.segments"}, Kind: Int, Usage: "segments permitted per namespace (services.segments)"},
	{Name: "cluster-ip", Keys: []string{"romanaRoot.clusterIP"}, Usage: "fixed clusterIP of the romana-root Service, inside the service range (romanaRoot.clusterIP); mandatory for --env=custom"},
	{Name: "romana-root", Keys: []string{"agent.romanaRoot"}, Usage: "URL the agent reaches romana-root at (agent.romanaRoot); default: http://<cluster-ip>:9600"},
	{Name: "nat", Keys: []string{"agent.nat"}, Kind: Bool, Usage: "masquerade pod traffic leaving for other networks, true|false (agent.nat)"},
	{Name: "nat-interface", Keys: []string{"agent.natInterface"}, Usage: "interface NAT traffic leaves through (agent.natInterface); default: --interface"},
	{Name: "cluster-ip-cidr", Keys: []string{"agent.clusterIPCIDR"}, Usage: "the cluster's service cluster-IP range, excluded from NAT (agent.clusterIPCIDR); mandatory for --env=custom"},
	{Name: "pod-to-host", Keys: []string{"agent.podToHost"}, Kind: Bool, Usage: "let pods reach the host they run on, true|false (agent.podToHost)"},
	{Name: "agent-max-unavailable", Keys: []string{"agent.updateStrategy.rollingUpdate.maxUnavailable"}, Kind: Int, Usage: "nodes whose agent an upgrade replaces at a time: a number or a percentage, e.g. 25% (agent.updateStrategy.rollingUpdate.maxUnavailable); default 10%"},
	{Name: "cni-plugin", Keys: []string{"cni.plugin"}, Usage: "the CNI plugin that attaches pods: romanactl (romanactl's own, installed by the agent's init container; containerd, CRI-O and Docker nodes) or upstream (v0.9.3.5's docker wrapper; Docker Engine nodes only) (cni.plugin)"},
	{Name: "services-as", Keys: []string{"services.deploy"}, Kind: ServicesAs, Usage: "run romana-services as a daemonset (in the release) or a static-pod (printed by template, not installed) (services.deploy)"},
}

// FlagFor returns the dedicated flag that sets key, or "".
func FlagFor(key string) string {
	for _, f := range Flags {
		for _, k := range f.Keys {
			if k == key {
				return f.Name
			}
		}
	}
	return ""
}

// servicesAs maps --services-as spellings to services.deploy values.
var servicesAs = map[string]string{"daemonset": "daemonSet", "static-pod": "staticPod"}

// flagValue converts a flag's text to the value stored at its keys.
func (f Flag) value(text string) any {
	// Every dedicated flag drops the whitespace around its text the same way (a shell
	// quoting slip), so " 10.0.0.0/8" and "16 " mean what they say.
	text = strings.TrimSpace(text)
	switch f.Kind {
	case Int:
		if n, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64); err == nil {
			return n
		}
	case Bool:
		if b, err := strconv.ParseBool(text); err == nil && (text == "true" || text == "false") {
			return b
		}
	case ServicesAs:
		if v, ok := servicesAs[text]; ok {
			return v
		}
	}
	return text
}
