package values

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/romana/romanactl/internal/compat"
)

// Mandatory are the keys that have no usable default outside kubeadm and kops: the
// custom environment leaves them empty on purpose.
var Mandatory = []string{"services.cidr", "romanaRoot.clusterIP", "agent.clusterIPCIDR"}

var (
	// tagRE is the containerize script's tag rule (SETTINGS.md) but its length, which
	// validTag checks: a {0,127} repetition compiles into 127 nested states (~90 µs
	// and 118 KB at every start, and again in the schema), where * is one.
	tagRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	// registryRE is an image reference without its final name: a domain with an
	// optional port, then lower-case path components (the distribution grammar).
	registryRE = regexp.MustCompile(`^(` + domainComp + `)(\.(` + domainComp + `))*(:[0-9]+)?(/` + pathComp + `)*$`)
	nameRE     = regexp.MustCompile(`^` + pathComp + `$`)
)

const (
	domainComp = `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`
	pathComp   = `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
)

// Validate checks the values before anything is rendered and reports every problem
// at once. supplied is what the user gave (for unknown keys), effective the values the
// templates would see. The chart's romana.validate helper holds the same cross-field
// rules for helm users.
func Validate(ch *chart.Chart, supplied, effective map[string]any) error {
	return ValidateWith(ch, supplied, effective, Hints{})
}

// ValidateWith is Validate with hints for its suggestions: the release's stored values
// and the live cluster, where a command has them.
func ValidateWith(ch *chart.Chart, supplied, effective map[string]any, h Hints) error {
	c := &checker{vals: effective, hints: h}
	problems, err := c.run(ch, supplied)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return &ValidationError{Problems: problems}
	}
	// The schema is the backstop for what the checks above do not cover (a map where a
	// string belongs, a bad toleration): render would refuse it anyway.
	if err := chartutil.ValidateAgainstSchema(ch, effective); err != nil {
		return &ValidationError{Problems: []Problem{{Key: "values", Reason: "rejected by values.schema.json: " + strings.TrimSpace(err.Error())}}}
	}
	return nil
}

// run applies every check to c.vals and returns the problems. supplied (nil when the
// values are a trial of a suggestion) is checked for unknown keys.
func (c *checker) run(ch *chart.Chart, supplied map[string]any) ([]Problem, error) {
	// The schema is the one list of keys: parsed once here for the unknown and the
	// nulled ones.
	schema, err := loadSchema(ch)
	if err != nil {
		return nil, err
	}
	effective := c.vals
	c.problems = append(c.problems, unknownKeys(schema, supplied)...)
	// A nulled section or key makes the checks below meaningless (and a template
	// fail on a nil pointer): report the nulls alone.
	if nulled := missingKeys(schema, effective); len(nulled) > 0 {
		return append(c.problems, nulled...), nil
	}
	c.nodeSelector()
	c.quantities()
	c.updateStrategy()

	c.images()
	c.enum("environment", "kubeadm", "kops", "custom")
	c.enum("image.pullPolicy", "Always", "IfNotPresent", "Never")
	if v, ok := c.str("cni.plugin"); ok && v != "romanactl" && v != "upstream" {
		c.add("cni.plugin", v, "must be romanactl (romanactl's own plugin, any container runtime) or upstream (v0.9.3.5's docker wrapper, Docker nodes only)", "use --cni-plugin=romanactl, or --cni-plugin=upstream on nodes that run Docker Engine with cri-dockerd")
	}
	if v, ok := c.str("services.deploy"); ok && v != "daemonSet" && v != "staticPod" {
		c.add("services.deploy", v, "must be daemonSet or staticPod", "use --services-as=daemonset or --services-as=static-pod")
	}
	c.url("services.apiServer", true)
	if err := c.apiProxy(ch); err != nil {
		return nil, err
	}
	c.url("agent.romanaRoot", true)
	c.iface("services.interface", false)
	c.iface("agent.interface", false)
	c.iface("agent.natInterface", true)
	c.boolean("agent.nat")
	c.boolean("agent.podToHost")
	if err := c.dataDir(ch); err != nil {
		return nil, err
	}
	c.absPath("services.passwordFile")
	if v, ok := c.str("services.ipAddress"); ok && v != "" {
		if a, err := netip.ParseAddr(v); err != nil || !a.Is4() {
			c.add("services.ipAddress", v, "not an IPv4 address", "give a dotted IPv4 address, or leave it empty for the node's address")
		}
	}
	port, portOK := c.integer("romanaRoot.port", 1, 65535)

	var missing, missingKeys []string
	for _, k := range Mandatory {
		if v, ok := Lookup(effective, k); !ok || v == nil || v == "" {
			missing = append(missing, fmt.Sprintf("%s (--%s)", k, FlagFor(k)))
			missingKeys = append(missingKeys, k)
		}
	}
	if len(missing) > 0 {
		env, _ := Lookup(effective, "environment")
		prob := Problem{
			Key:    "environment",
			Value:  fmt.Sprint(env),
			Reason: "missing mandatory values: " + strings.Join(missing, ", "),
			Fix:    "give each one",
		}
		// The suggestion comes from the release, the environment file and the
		// cluster, and passes the checks itself; a trial of a suggestion makes none.
		if !c.noPropose {
			p := c.propose(ch, missingKeys, nil)
			if len(missingKeys) == 1 {
				prob.Fix = "give it, e.g. " + p.text(unknownMandatory)
			} else {
				prob.Fix = "give each one, e.g. " + p.text(unknownMandatory)
			}
			if len(p.values) == len(missingKeys) {
				prob.Suggest = p.flags()
			}
		}
		c.problems = append(c.problems, prob)
	}

	romana, romanaOK := c.cidr("services.cidr")
	svc, svcOK := c.cidr("agent.clusterIPCIDR")
	ranges, err := reservedRanges(ch)
	if err != nil {
		return nil, err
	}
	// A CIDR in a reserved range is reported alone: checks and examples derived from
	// it would only suggest more unroutable addresses.
	if romanaOK && c.reserved(ranges, "services.cidr", romana, "pick a private range, e.g. --cidr=10.112.0.0/12") {
		c.suggest(map[string]string{"cidr": "10.112.0.0/12"})
		romanaOK = false
	}
	if svcOK && c.reserved(ranges, "agent.clusterIPCIDR", svc, "use the cluster's service range (kube-apiserver --service-cluster-ip-range)") {
		svcOK = false
	}
	nodes, nOK := c.integer("services.nodes", 1, math.MaxInt32+1)
	namespaces, nsOK := c.integer("services.namespaces", 1, math.MaxInt32+1)
	segments, sOK := c.integer("services.segments", 1, math.MaxInt32+1)

	fixedNodes, err := c.compat(ch, nodes, nOK)
	if err != nil {
		return nil, err
	}

	if romanaOK && nOK && nsOK && sOK {
		p := NewPlan(romana, nodes, namespaces, segments)
		if !p.Fits {
			// The longest prefix that leaves one endpoint bit; below /0 no CIDR can.
			need := 31 - (p.Nodes.Bits + p.Namespaces.Bits + p.Segments.Bits)
			// A line whose services parse no --nodes always plans 256 of them:
			// fewer nodes is not a fix there.
			fewer := "fewer nodes, namespaces or segments"
			if fixedNodes != "" {
				fewer = fmt.Sprintf("fewer namespaces or segments (the %s line always plans for 256 nodes: its services parse no --nodes)", fixedNodes)
			}
			fix := "no IPv4 CIDR can hold this plan: use " + fewer
			var suggest map[string]string
			if need >= 0 {
				fix = fmt.Sprintf("use a larger CIDR (a prefix of /%d or shorter), or %s", need, fewer)
				if larger, ok := c.largerCIDR(ch, romana, need); ok {
					fix = fmt.Sprintf("use a larger CIDR, e.g. --cidr=%s (%s; a prefix of /%d or shorter), or %s", larger.value, larger.from, need, fewer)
					suggest = map[string]string{"cidr": larger.value}
				}
			}
			c.add("services.cidr", romana.String(), fmt.Sprintf(
				"the address plan does not fit: prefix %d + node bits %d (services.nodes=%d) + namespace bits %d (services.namespaces=%d) + segment bits %d (services.segments=%d) = %d, which leaves %d bits for endpoints; it must be below 32",
				romana.Bits(), p.Nodes.Bits, nodes, p.Namespaces.Bits, namespaces, p.Segments.Bits, segments, p.UsedBits(), p.EndpointBits), fix)
			c.suggest(suggest)
		}
	}
	if romanaOK && svcOK && romana.Overlaps(svc) {
		c.add("services.cidr", romana.String(), fmt.Sprintf("overlaps agent.clusterIPCIDR (--cluster-ip-cidr) %s: pod addresses and service addresses must be disjoint", svc),
			"pick a Romana CIDR outside the service range")
	}

	if ip, ok := c.ipv4("romanaRoot.clusterIP"); ok {
		if svcOK {
			c.clusterIPInRange(ch, ip, svc)
		}
		if romanaOK && romana.Contains(ip) {
			c.add("romanaRoot.clusterIP", ip.String(), fmt.Sprintf("lies inside services.cidr (--cidr) %s: the root Service's address must not be a pod address", romana),
				"pick one in the service range outside the Romana CIDR")
		}
		if portOK {
			c.rootURL(ip, port)
		}
	}

	return c.problems, nil
}

// apiProxy checks how romana-services reaches the API: through the proxy on the node's
// loopback (then services.apiServer, when set, must be the proxy's URL, and the port
// must be free on a control-plane node, per chart/ports.yaml), or through an explicit
// URL when the proxy is off.
func (c *checker) apiProxy(ch *chart.Chart) error {
	c.boolean("apiProxy.enabled")
	c.absPath("apiProxy.kubectlPath")
	c.absPath("apiProxy.kubeconfigFile")
	port, portOK := c.integer("apiProxy.port", 1024, 65535)
	enabled, _ := Lookup(c.vals, "apiProxy.enabled")
	api, _ := c.str("services.apiServer")
	if enabled != true {
		if enabled == false && api == "" {
			c.add("services.apiServer", "", "is required when apiProxy.enabled (--api-proxy) is false: romana-services calls it without credentials",
				"give a URL that needs none, or keep --api-proxy=true")
		}
		return nil
	}
	if !portOK {
		return nil
	}
	ports, err := ControlPlanePorts(ch)
	if err != nil {
		return err
	}
	p := strconv.FormatInt(port, 10)
	if owner, taken := ports[p]; taken {
		c.add("apiProxy.port", p, fmt.Sprintf("is the port of %s on the control-plane node, where the proxy listens (the pod is hostNetwork)", owner),
			"pick a free port, e.g. --api-proxy-port=8001")
		c.suggest(map[string]string{"api-proxy-port": "8001"})
	}
	if want := "http://127.0.0.1:" + p; api != "" && api != want {
		c.add("services.apiServer", api, "with apiProxy.enabled romana-services must reach the API through the proxy at "+want,
			"drop --api-server, or turn the proxy off with --api-proxy=false")
		c.suggest(map[string]string{"api-server": ""})
	}
	return nil
}

// ControlPlanePorts reads chart/ports.yaml: port -> what listens there.
func ControlPlanePorts(ch *chart.Chart) (map[string]string, error) {
	for _, f := range ch.Files {
		if f.Name == "ports.yaml" {
			var doc struct {
				Ports map[string]string `json:"ports"`
			}
			if err := yaml.Unmarshal(f.Data, &doc); err != nil {
				return nil, fmt.Errorf("read ports.yaml: %w", err)
			}
			return doc.Ports, nil
		}
	}
	return nil, fmt.Errorf("chart %s has no ports.yaml", ch.Name())
}

// compat applies the chart's table of Romana lines (chart/compat.yaml) to the tag: a
// line this chart cannot drive is refused, and so is a --nodes the line's services
// entrypoint does not parse (it would exit with "Unknown option").
//
// It returns the name of the tag's line when that line plans a fixed 256 nodes.
func (c *checker) compat(ch *chart.Chart, nodes int64, nodesOK bool) (string, error) {
	table, err := compat.Load(ch)
	if err != nil {
		return "", err
	}
	tag, ok := c.str("image.tag")
	if !ok || !validTag(tag) && tag != "" {
		return "", nil // reported by images()
	}
	if tag == "" {
		tag = ch.Metadata.AppVersion
	}
	line, known := table.For(tag)
	switch {
	case !known:
	case !line.Drivable:
		c.add("image.tag", tag, fmt.Sprintf("a tag of Romana's %s line, which this chart cannot drive: %s", line.Name, line.Differs),
			fmt.Sprintf("use a tag of the v0.9.3 line, e.g. --tag=%s (the chart's appVersion)", ch.Metadata.AppVersion))
		c.suggest(map[string]string{"tag": ch.Metadata.AppVersion})
	case nodesOK && nodes != 256 && line.ServicesParsesNodes != nil && !*line.ServicesParsesNodes:
		c.add("services.nodes", strconv.FormatInt(nodes, 10), fmt.Sprintf("the %s services image (tag %s) parses no --nodes (its entrypoint exits with \"Unknown option\") and always plans for 256 nodes", line.Name, tag),
			"leave services.nodes at 256 (drop --nodes)")
		c.suggest(map[string]string{"nodes": "256"})
	}
	if known && line.Drivable && line.ServicesParsesNodes != nil && !*line.ServicesParsesNodes {
		return line.Name, nil
	}
	return "", nil
}

// reservedRanges reads chart/reserved-ranges.yaml: the IPv4 ranges where pod or
// service addresses do not route.
func reservedRanges(ch *chart.Chart) ([]reservedRange, error) {
	for _, f := range ch.Files {
		if f.Name == "reserved-ranges.yaml" {
			var doc struct {
				Ranges []struct{ CIDR, Name string } `json:"ranges"`
			}
			if err := yaml.Unmarshal(f.Data, &doc); err != nil {
				return nil, fmt.Errorf("read reserved-ranges.yaml: %w", err)
			}
			out := make([]reservedRange, len(doc.Ranges))
			for i, r := range doc.Ranges {
				p, err := netip.ParsePrefix(r.CIDR)
				if err != nil {
					return nil, fmt.Errorf("reserved-ranges.yaml: %w", err)
				}
				out[i] = reservedRange{p, r.Name}
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("chart %s has no reserved-ranges.yaml", ch.Name())
}

type reservedRange struct {
	prefix netip.Prefix
	name   string
}

// reserved refuses a CIDR that is or overlaps a range where addresses do not route,
// and says whether it did.
func (c *checker) reserved(ranges []reservedRange, key string, p netip.Prefix, fix string) bool {
	var hit []string
	for _, r := range ranges {
		if p.Overlaps(r.prefix) {
			hit = append(hit, fmt.Sprintf("%s %s", r.name, r.prefix))
		}
	}
	if len(hit) == 0 {
		return false
	}
	what := "range"
	if len(hit) > 1 {
		what = "ranges"
	}
	c.add(key, p.String(), fmt.Sprintf("overlaps the %s %s: addresses there do not route", strings.Join(hit, ", "), what), fix)
	return true
}

// nodeSelector refuses an empty services.nodeSelector: romana-services would run on
// every node, a datastore on each.
func (c *checker) nodeSelector() {
	v, _ := Lookup(c.vals, "services.nodeSelector")
	switch m := v.(type) {
	case map[string]any:
		if len(m) == 0 {
			c.add("services.nodeSelector", "{}", "selects every node: romana-services (and its datastore) would run on each of them",
				`select the control-plane nodes, e.g. --set-json 'services.nodeSelector={"node-role.kubernetes.io/control-plane":""}'`)
		}
	default:
		c.add("services.nodeSelector", show(v), "must be a map of node labels, not "+kindOf(v), "give the control-plane nodes' label")
	}
}

// quantities checks every container's resources as Kubernetes quantities, so a typo
// is refused here rather than by the API server half-way through an install.
func (c *checker) quantities() {
	for _, sec := range []string{"services", "datastore", "agent", "apiProxy"} {
		for _, kind := range []string{"limits", "requests"} {
			key := sec + ".resources." + kind
			v, _ := Lookup(c.vals, key)
			m, _ := v.(map[string]any)
			for _, name := range sortedKeys(m) {
				text := show(m[name])
				if _, err := resource.ParseQuantity(text); err != nil {
					c.add(key+"."+name, text, "not a Kubernetes quantity", "e.g. 100m or 0.5 for CPU, 128Mi or 1Gi for memory")
				}
			}
		}
	}
}

// updateStrategy checks agent.updateStrategy, shaped like the DaemonSet's own field.
// maxSurge is not offered: the agent holds host ports (hostNetwork), so a second agent
// cannot start beside the first. maxUnavailable 0 would never roll.
func (c *checker) updateStrategy() {
	const key = "agent.updateStrategy"
	v, _ := Lookup(c.vals, key)
	m, ok := v.(map[string]any)
	if !ok {
		c.add(key, show(v), "must be a map like the DaemonSet's updateStrategy, not "+kindOf(v), "e.g. --agent-max-unavailable=10%")
		return
	}
	switch m["type"] {
	case "OnDelete":
		if _, has := m["rollingUpdate"]; has {
			c.add(key+".rollingUpdate", show(m["rollingUpdate"]), "is only for type RollingUpdate: OnDelete replaces an agent when its pod is deleted", "drop it (--set agent.updateStrategy.rollingUpdate=null beside type=OnDelete), or use type RollingUpdate")
		}
		return
	case "RollingUpdate":
	default:
		c.add(key+".type", show(m["type"]), "must be RollingUpdate or OnDelete", "use RollingUpdate (the default) with --agent-max-unavailable")
		return
	}
	ru, ok := m["rollingUpdate"].(map[string]any)
	if !ok {
		c.add(key+".rollingUpdate", show(m["rollingUpdate"]), "must be a map with maxUnavailable", "e.g. --agent-max-unavailable=10%")
		return
	}
	for k := range ru {
		if k != "maxUnavailable" {
			c.add(key+".rollingUpdate."+k, show(ru[k]), "is not supported: the agent holds host ports (hostNetwork), so no second agent can start beside the first (maxSurge)", "remove it; set --agent-max-unavailable")
		}
	}
	mu, present := ru["maxUnavailable"]
	muKey := key + ".rollingUpdate.maxUnavailable"
	fix := "give a number of nodes (1 or more) or a percentage from 1% to 100%, e.g. --agent-max-unavailable=10%"
	switch x := mu.(type) {
	case int64, int, float64:
		if n, _ := strconv.ParseFloat(show(x), 64); n < 1 || n != math.Trunc(n) {
			c.add(muKey, show(x), "must be a whole number of nodes, at least 1: 0 would never replace an agent", fix)
		}
	case string:
		pct, isPct := strings.CutSuffix(x, "%")
		n, err := strconv.Atoi(pct)
		if !isPct || err != nil || n < 1 || n > 100 || strconv.Itoa(n) != pct {
			c.add(muKey, x, "must be a whole number of nodes or a percentage from 1% to 100%", fix)
		}
	default:
		if !present {
			c.add(muKey, "", "is missing", fix)
		} else {
			c.add(muKey, show(mu), "must be a number or a percentage, not "+kindOf(mu), fix)
		}
	}
}

// ExampleClusterIP suggests a root clusterIP for a service range, without a cluster to
// ask which addresses are taken: an address in the range's lower band (StaticBand),
// which Kubernetes keeps for fixed addresses and fills with dynamic ones last. A /31
// or /32 has none (ok is false).
func ExampleClusterIP(svc netip.Prefix) (netip.Addr, bool) {
	return FreeClusterIP(svc, nil)
}

// FreeClusterIP is ExampleClusterIP checked against a live cluster: the first address
// of the lower band's candidates that no Service holds. ok is false when there is
// none.
func FreeClusterIP(svc netip.Prefix, cl Cluster) (netip.Addr, bool) {
	for _, a := range clusterIPCandidates(svc) {
		if cl == nil || cl.ClusterIPHolder(a) == "" {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// LastAddr returns the last (broadcast) address of an IPv4 prefix.
func LastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	if p.Bits() == 0 {
		host = math.MaxUint32
	}
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

type checker struct {
	vals     map[string]any
	problems []Problem
	hints    Hints
	// noPropose: these values are a trial of a suggestion, which makes none itself.
	noPropose bool
}

// add records a problem. One flag that sets several keys (--registry, --interface)
// and is wrong for all of them is one problem naming every key, not several.
func (c *checker) add(key, value, reason, fix string) {
	flag := FlagFor(key)
	for i, p := range c.problems {
		if flag != "" && p.Flag == flag && p.Value == value && p.Reason == reason {
			c.problems[i].Key += ", " + key
			return
		}
	}
	c.problems = append(c.problems, Problem{Key: key, Flag: flag, Value: value, Reason: reason, Fix: fix})
}

// str returns a string value; a value of another type is a problem.
func (c *checker) str(key string) (string, bool) {
	v, ok := Lookup(c.vals, key)
	if !ok || v == nil {
		return "", true
	}
	s, ok := v.(string)
	if !ok {
		c.add(key, show(v), "must be a string, not "+kindOf(v), "quote it in YAML, or use --set-string")
		return "", false
	}
	return s, true
}

func (c *checker) integer(key string, lo, hi int64) (int64, bool) {
	v, _ := Lookup(c.vals, key)
	var n int64
	switch x := v.(type) {
	case int64:
		n = x
	case int:
		n = int64(x)
	case float64:
		if math.Abs(x) >= 1<<63 {
			c.add(key, show(v), fmt.Sprintf("too large: at most %d", hi), "give a value in that range")
			return 0, false
		}
		if x != math.Trunc(x) {
			c.add(key, show(v), "must be a whole number", fmt.Sprintf("e.g. --set %s=%d", key, int64(x)))
			return 0, false
		}
		n = int64(x)
	case string:
		// A dedicated flag's text that parses is already a number (Flag.value), so a
		// string here is either unparseable or quoted in a file or --set-string, which
		// the schema (and so helm) refuses too.
		reason, fix := "must be a positive integer", "give a number, e.g. --set "+key+"=16 (unquoted in YAML)"
		if n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
			// The number itself is the fix, as a number: an example like 16 could
			// break another rule (v0.9.3 plans 256 nodes).
			reason, fix = "must be a number, not a string", fmt.Sprintf("give it as a number: --set %s=%d (unquoted in YAML, not --set-string)", key, n)
		} else if errors.Is(err, strconv.ErrRange) {
			reason = fmt.Sprintf("too large: at most %d", hi)
		}
		c.add(key, x, reason, fix)
		return 0, false
	default:
		c.add(key, show(v), "must be a positive integer, not "+kindOf(v), "give a number, e.g. --set "+key+"=16")
		return 0, false
	}
	if n < lo || n > hi {
		c.add(key, strconv.FormatInt(n, 10), fmt.Sprintf("must be between %d and %d", lo, hi), "give a value in that range")
		return 0, false
	}
	return n, true
}

func (c *checker) boolean(key string) {
	v, _ := Lookup(c.vals, key)
	if _, ok := v.(bool); !ok {
		c.add(key, show(v), "must be true or false (the agent takes nothing else)", "write true or false, unquoted in YAML")
	}
}

func (c *checker) enum(key string, allowed ...string) {
	v, ok := c.str(key)
	if !ok {
		return
	}
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	c.add(key, v, "must be one of "+strings.Join(allowed, ", "), "pick one of them")
}

func (c *checker) absPath(key string) {
	if v, ok := c.str(key); ok && !strings.HasPrefix(v, "/") {
		c.add(key, v, "must be an absolute host path", "start it with /")
	}
}

// dataDir checks services.dataDir: a clean absolute path, and not a system directory
// (chart/host-paths.yaml). The datastore writes there on the control-plane nodes and
// `uninstall --purge-datastore` deletes what it wrote, so "/", "/var/lib" or
// "/var/lib/romana/../../.." would mix the datastore with the host's own files.
func (c *checker) dataDir(ch *chart.Chart) error {
	const key = "services.dataDir"
	v, ok := c.str(key)
	if !ok {
		return nil
	}
	if !strings.HasPrefix(v, "/") {
		c.add(key, v, "must be an absolute host path", "start it with /")
		return nil
	}
	hp, err := HostPaths(ch)
	if err != nil {
		return err
	}
	own := fmt.Sprintf("use a directory of Romana's own, e.g. %s", hp.Example)
	clean := path.Clean(v)
	why := hp.Refused(clean)
	switch {
	case clean != v && why != "":
		c.add(key, v, fmt.Sprintf("not a clean path: it resolves to %s, %s", clean, why), own)
	case clean != v:
		c.add(key, v, `not a clean path (it has ".", "..", "//" or a trailing "/")`, "write it as "+clean)
	case why != "":
		c.add(key, v, why+": the datastore would write among the host's files, and uninstall --purge-datastore deletes there", own)
	}
	return nil
}

// HostDirs is chart/host-paths.yaml: the host directories services.dataDir may not be.
type HostDirs struct {
	// Exact are refused as themselves, Trees as themselves and anything below.
	Exact []string `json:"exact"`
	Trees []string `json:"trees"`
	// Example is the directory a refusal suggests.
	Example string `json:"example"`
}

// Refused says why the clean absolute path p may not hold the datastore, or "".
func (h HostDirs) Refused(p string) string {
	for _, t := range h.Trees {
		if p == t || strings.HasPrefix(p, t+"/") {
			return fmt.Sprintf("inside %s, which belongs to the kernel, the runtime or the node's Kubernetes components", t)
		}
	}
	for _, e := range h.Exact {
		if p == e {
			return "a system directory"
		}
	}
	return ""
}

// HostPaths reads chart/host-paths.yaml.
func HostPaths(ch *chart.Chart) (HostDirs, error) {
	var h HostDirs
	for _, f := range ch.Files {
		if f.Name == "host-paths.yaml" {
			if err := yaml.Unmarshal(f.Data, &h); err != nil {
				return h, fmt.Errorf("read host-paths.yaml: %w", err)
			}
			return h, nil
		}
	}
	return h, fmt.Errorf("chart %s has no host-paths.yaml", ch.Name())
}

// cidr parses an IPv4 CIDR that must be the network address of its prefix. An empty
// value is left to the mandatory check.
func (c *checker) cidr(key string) (netip.Prefix, bool) {
	v, ok := c.str(key)
	if !ok || v == "" {
		return netip.Prefix{}, false
	}
	addrPart, bitsPart, hasSlash := strings.Cut(v, "/")
	a, aerr := netip.ParseAddr(addrPart)
	switch {
	case !hasSlash:
		c.add(key, v, "not a CIDR: the prefix length is missing", "write it as address/prefix, e.g. 10.96.0.0/12")
		return netip.Prefix{}, false
	case aerr == nil && !a.Is4():
		c.add(key, v, "IPv6 is not supported: Romana's address plan is IPv4 only", "give an IPv4 CIDR")
		return netip.Prefix{}, false
	case aerr != nil:
		c.add(key, v, fmt.Sprintf("not an IPv4 CIDR: %q is not a dotted IPv4 address (four numbers 0-255 without leading zeros)", addrPart), "write it as address/prefix, e.g. 10.96.0.0/12")
		return netip.Prefix{}, false
	}
	if n, err := strconv.Atoi(bitsPart); err != nil || n < 0 || n > 32 || bitsPart != strconv.Itoa(n) {
		c.add(key, v, "prefix length must be 0-32", "e.g. "+addrPart+"/12")
		return netip.Prefix{}, false
	}
	p, err := netip.ParsePrefix(v)
	if err != nil {
		c.add(key, v, "not an IPv4 CIDR", "write it as address/prefix, e.g. 10.96.0.0/12")
		return netip.Prefix{}, false
	}
	if p.Masked() != p {
		c.add(key, v, "not the network address of its prefix", "use "+p.Masked().String())
		c.suggest(map[string]string{FlagFor(key): p.Masked().String()})
		return netip.Prefix{}, false
	}
	return p, true
}

// ipv4 parses an IPv4 address. An empty value is left to the mandatory check.
func (c *checker) ipv4(key string) (netip.Addr, bool) {
	v, ok := c.str(key)
	if !ok || v == "" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(v)
	switch {
	case err != nil:
		c.add(key, v, "not an IPv4 address", "give a dotted IPv4 address, e.g. 10.96.99.99")
		return netip.Addr{}, false
	case !a.Is4():
		c.add(key, v, "IPv6 is not supported: Romana is IPv4 only", "give an IPv4 address")
		return netip.Addr{}, false
	}
	return a, true
}

func (c *checker) clusterIPInRange(ch *chart.Chart, ip netip.Addr, svc netip.Prefix) {
	// A /31 or /32 has no address besides its network and broadcast ones: no
	// example exists, and the fix is a larger range.
	example, suggest := "use a service range of /30 or larger", map[string]string(nil)
	if c.noPropose {
		// A trial of a suggestion: only the problem counts, not its fix.
	} else if p := c.propose(ch, []string{"romanaRoot.clusterIP"}, nil); len(p.values) == 1 {
		example, suggest = "e.g. "+p.text(unknownMandatory), p.flags()
	} else if svc.Bits() < 31 {
		example = "e.g. --cluster-ip=<" + unknownMandatory("romanaRoot.clusterIP") + ">"
	}
	switch {
	case !svc.Contains(ip):
		c.add("romanaRoot.clusterIP", ip.String(), fmt.Sprintf("is outside agent.clusterIPCIDR (--cluster-ip-cidr) %s: a Service's clusterIP must lie inside the service range", svc),
			"pick an address inside it, "+example)
		c.suggest(suggest)
	case ip == svc.Addr() || ip == LastAddr(svc):
		c.add("romanaRoot.clusterIP", ip.String(), fmt.Sprintf("is the network or broadcast address of agent.clusterIPCIDR (--cluster-ip-cidr) %s: the API server never allocates it", svc),
			"pick another address, "+example)
		c.suggest(suggest)
	}
}

// suggest attaches the machine-readable form of the last problem's fix.
func (c *checker) suggest(flags map[string]string) {
	if len(flags) > 0 && len(c.problems) > 0 {
		c.problems[len(c.problems)-1].Suggest = flags
	}
}

// url checks an http(s) URL with a host.
func (c *checker) url(key string, optional bool) {
	v, ok := c.str(key)
	if !ok || (optional && v == "") {
		return
	}
	u, err := url.Parse(v)
	switch {
	case err != nil || strings.ContainsFunc(v, unicode.IsSpace):
		c.add(key, v, "not a URL", "give http://host:port")
	case u.Scheme != "http" && u.Scheme != "https":
		c.add(key, v, "must be an http or https URL", "give http://host:port")
	case u.Host == "" || u.Hostname() == "":
		c.add(key, v, "has no host", "give http://host:port")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		c.add(key, v, "must not carry user info, a query or a fragment", "give http://host:port[/path]")
	}
}

// rootURL checks that the agent's --romana-root reaches the root Service.
func (c *checker) rootURL(ip netip.Addr, port int64) {
	v, _ := c.str("agent.romanaRoot")
	if v == "" {
		return
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return // reported by url()
	}
	want := fmt.Sprintf("http://%s:%d", ip, port)
	if h, err := netip.ParseAddr(u.Hostname()); err == nil && h != ip {
		c.add("agent.romanaRoot", v, fmt.Sprintf("its host %s is not romanaRoot.clusterIP %s, so the agent could not reach root", h, ip),
			"drop --romana-root to use "+want)
		c.suggest(map[string]string{"romana-root": ""})
	}
	p := u.Port()
	if p == "" {
		p = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if p != strconv.FormatInt(port, 10) {
		c.add("agent.romanaRoot", v, fmt.Sprintf("its port %s is not the root Service's port %d (romanaRoot.port), so the agent could not reach root", p, port),
			"use "+want)
		c.suggest(map[string]string{"romana-root": want})
	}
}

// iface checks a Linux interface name: 1-15 bytes (IFNAMSIZ less the NUL), no '/',
// ':' or whitespace, and not "." or "..".
func (c *checker) iface(key string, optional bool) {
	v, ok := c.str(key)
	if !ok || (optional && v == "") {
		return
	}
	switch {
	case len(v) == 0 || len(v) > 15:
		c.add(key, v, fmt.Sprintf("an interface name is 1-15 characters, this one has %d", len(v)), ifaceFix)
	case strings.ContainsAny(v, "/:") || strings.ContainsFunc(v, unicode.IsSpace):
		c.add(key, v, "an interface name cannot contain '/', ':' or whitespace", ifaceFix)
	case v == "." || v == "..":
		c.add(key, v, "not a valid interface name", ifaceFix)
	}
}

const (
	ifaceFix = "give the name `ip link` shows, e.g. eth0"
	tagFix   = "e.g. v0.9.3 (letters, digits, '.', '_', '-'; 1-128 characters)"
)

// validTag: the containerize script's tag rule, 1-128 characters.
func validTag(v string) bool { return len(v) <= 128 && tagRE.MatchString(v) }

func (c *checker) tag(key string, optional bool) {
	v, ok := c.str(key)
	if !ok || (optional && v == "") {
		return
	}
	switch {
	case v == "":
		c.add(key, v, "an image tag cannot be empty", tagFix)
	case len(v) > 128:
		c.add(key, v, fmt.Sprintf("an image tag is at most 128 characters, this one has %d", len(v)), tagFix)
	case !isAlnum(rune(v[0])):
		c.add(key, v, "an image tag must start with a letter or a digit", tagFix)
	case !tagRE.MatchString(v):
		c.add(key, v, "an image tag may contain only letters, digits, '.', '_' and '-'", tagFix)
	}
}

func (c *checker) images() {
	c.tag("image.tag", true)
	for _, key := range []string{"image.registry", "datastore.image.registry", "apiProxy.image.registry", "tests.image.registry"} {
		if v, ok := c.str(key); ok {
			if reason := registryProblem(v); reason != "" {
				c.add(key, v, reason, "give host[:port][/org], e.g. registry.example.com:5000/romana")
			}
		}
	}
	for _, key := range []string{"datastore.image.name", "apiProxy.image.name", "tests.image.name"} {
		if v, ok := c.str(key); ok && !nameRE.MatchString(v) {
			c.add(key, v, "not a valid image name (lower-case letters, digits and separators)", "e.g. mysql")
		}
	}
	c.tag("datastore.image.tag", false)
	c.tag("apiProxy.image.tag", false)
	c.tag("tests.image.tag", false)
	for _, key := range DigestKeys {
		if v, ok := c.str(key); ok && v != "" && !digestRE.MatchString(v) {
			c.add(key, v, "not an image digest", "give sha256:<64 hex digits>, or let --pin-digests resolve it")
		}
	}
}

// DigestKeys are the chart keys that pin an image to a digest (--pin-digests).
var DigestKeys = []string{"image.digests.services", "image.digests.agent", "datastore.image.digest", "apiProxy.image.digest", "tests.image.digest"}

var digestRE = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// registryProblem names what is wrong with a registry prefix (host[:port][/org]), or
// returns "" when it is valid.
func registryProblem(v string) string {
	switch {
	case v == "":
		return "a registry cannot be empty"
	case strings.Contains(v, "://"):
		return fmt.Sprintf("has a scheme (%s://): a registry is host[:port][/org], without http:// or https://", v[:strings.Index(v, "://")])
	case strings.HasSuffix(v, "/"):
		return "ends with '/': drop the trailing slash"
	case strings.ContainsFunc(v, unicode.IsSpace):
		return "contains whitespace"
	}
	host, path, _ := strings.Cut(v, "/")
	if h, port, ok := strings.Cut(host, ":"); ok {
		n, err := strconv.Atoi(port)
		switch {
		case err != nil || port == "":
			return fmt.Sprintf("port %q is not a number", port)
		case n < 1 || n > 65535:
			return fmt.Sprintf("port %d is outside 1-65535", n)
		}
		host = h
	}
	if path != "" && strings.ToLower(path) != path {
		return fmt.Sprintf("the path %q has upper case: image paths are lower case", path)
	}
	if !registryRE.MatchString(v) {
		return "not a valid image reference prefix (letters, digits, '.', '-' in the host; lower-case letters, digits and '.', '_', '-' separators in the path)"
	}
	return ""
}

// kindOf names a value's type in YAML's words, never Go's.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "a map"
	case []any:
		return "a list"
	case bool:
		return "true/false"
	case string:
		return "a string"
	case int, int64, float64:
		return "a number"
	}
	return "another type"
}

// show prints a value for a message: scalars as written, a map or list by its kind.
func show(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case map[string]any, []any:
		return kindOf(v)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func isAlnum(r rune) bool {
	return r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r))
}
