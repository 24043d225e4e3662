package install

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"helm.sh/helm/v3/pkg/chart"

	"github.com/romana/romanactl/internal/compat"
	"github.com/romana/romanactl/internal/images"
)

// romanaCompat (‼) says what the chosen Romana line cannot do on this cluster, from the
// chart's compat.yaml and the cluster's discovery: today, whether the API group its
// listener watches NetworkPolicies at is served. A tag of no known line is "unknown",
// never a pass.
func romanaCompat(cs kubernetes.Interface, ch *chart.Chart, tag, cidr, clusterVersion string) Check {
	if tag == "" {
		tag = ch.Metadata.AppVersion
	}
	table, err := compat.Load(ch)
	if err != nil {
		return Check{Name: "romana-compat", Severity: Warn, Message: "cannot read the chart's compatibility table: " + err.Error()}
	}
	line, known := table.For(tag)
	switch {
	case !known:
		return Check{Name: "romana-compat", Severity: Warn,
			Message: fmt.Sprintf("unknown: tag %s belongs to no Romana line romanactl knows (%s), so what it can do on this cluster (%s) is unknown", tag, table.Names(), clusterVersion),
			Fix:     "check your build against the README's \"What works on which cluster\", then --skip-check romana-compat"}
	case !line.Drivable:
		return Check{Name: "romana-compat", Severity: Fail, Message: fmt.Sprintf("tag %s is of the %s line, which this chart cannot drive: %s", tag, line.Name, line.Differs),
			Fix: "use a tag of the v0.9.3 line"}
	}
	var warn, fix []string
	pass := fmt.Sprintf("tag %s (line %s): nothing known to be missing on %s", tag, line.Name, clusterVersion)
	if line.NetworkPolicyAPI != "" {
		served, err := servesResource(cs, line.NetworkPolicyAPI, "networkpolicies")
		switch {
		case err != nil:
			warn = append(warn, fmt.Sprintf("its listener watches NetworkPolicies under %s; cannot tell whether this cluster serves it: %v", line.NetworkPolicyAPI, err))
		case !served:
			warn = append(warn, fmt.Sprintf("its listener watches NetworkPolicies under %s, which this cluster (%s) does not serve (Kubernetes stopped in %s): NetworkPolicies will NOT be enforced, and the listener opens that watch again without pause (some 340 requests a second through the API proxy, measured with the real v0.9.3.5 listener: docs/compat.md); pod addresses and routes work",
				line.NetworkPolicyAPI, clusterVersion, line.NetworkPolicyAPIRemovedIn))
			fix = append(fix, "enforce NetworkPolicies another way")
		default:
			pass = fmt.Sprintf("tag %s (line %s): this cluster serves NetworkPolicies under %s, which its listener watches", tag, line.Name, line.NetworkPolicyAPI)
		}
	}
	if _, n, err := net.ParseCIDR(cidr); line.PolicyAgentFirstOctet && err == nil {
		if ones, _ := n.Mask.Size(); ones != 8 {
			warn = append(warn, fmt.Sprintf("services.cidr %s is a /%d, and its policy agent (agent.py) matches tenants by the CIDR's first octet, right for a /8 only: once an agent restarts (an upgrade, a rollout, a reboot), new connections from pods on other nodes to pods on its node are dropped; open connections go on (seen with the real v0.9.3.5 agents: docs/compat.md)", cidr, ones))
			fix = append(fix, "use a /8 services.cidr that overlaps nothing (--cidr), the one kind agent.py matches")
		}
	}
	if len(warn) == 0 {
		return Check{Name: "romana-compat", Severity: Pass, Message: pass}
	}
	ack := "acknowledge it with --skip-check romana-compat"
	if len(fix) > 0 {
		ack = strings.Join(fix, "; ") + "; or " + ack
	}
	return Check{Name: "romana-compat", Severity: Warn,
		Message: fmt.Sprintf("tag %s (line %s): %s", tag, line.Name, strings.Join(warn, "; and ")),
		Fix:     ack}
}

// servesResource asks discovery whether groupVersion serves resource. A group-version
// the cluster does not know at all is "not served", not an error.
func servesResource(cs kubernetes.Interface, groupVersion, resource string) (bool, error) {
	list, err := cs.Discovery().ServerResourcesForGroupVersion(groupVersion)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == resource }), nil
}

// imagesExist (✗/‼) asks each image's registry whether the release's images exist,
// before anything is written: a tag that is not there is ✗ (every pod would sit in
// ImagePullBackOff); a registry that cannot be reached is ‼ (air-gapped clusters pull
// from mirrors romanactl may not see).
// registryOf is the registry host of a fully qualified image reference.
func registryOf(image string) string {
	if i := strings.Index(image, "/"); i > 0 {
		return image[:i]
	}
	return image
}

func imagesExist(ctx context.Context, manifest string, o images.Options) Check {
	imgs, err := images.List(manifest)
	if err != nil || len(imgs) == 0 {
		return Check{Name: "images-exist", Severity: Warn, Message: fmt.Sprintf("cannot list the release's images: %v", err)}
	}
	refs := make([]string, len(imgs))
	for i, im := range imgs {
		refs[i] = im.Image
	}
	ctx, cancel := context.WithTimeout(ctx, registryDeadline)
	defer cancel()
	var missing, unconfirmed []string
	// why lists, per registry, the kinds of answer it gave (network, auth, …).
	why := map[string][]string{}
	for _, f := range images.Exists(ctx, refs, o) {
		switch f.Presence {
		case images.Missing:
			missing = append(missing, fmt.Sprintf("%s (%s)", f.Image, f.Detail))
		case images.Unconfirmed:
			unconfirmed = append(unconfirmed, fmt.Sprintf("%s (%s)", f.Image, f.Detail))
			reg, kind := registryOf(f.Image), f.Detail
			if i := strings.Index(kind, ":"); i > 0 {
				kind = kind[:i]
			}
			if !slices.Contains(why[reg], kind) {
				why[reg] = append(why[reg], kind)
			}
		}
	}
	switch {
	case len(missing) > 0:
		return Check{Name: "images-exist", Severity: Fail,
			Message: "not in the registry: " + strings.Join(missing, "; "),
			Fix:     "pick a tag that exists (--tag), push the images (romanactl images mirror), or fix --registry"}
	case len(unconfirmed) > 0:
		// The same unanswered registries on every install of an air-gapped cluster: one
		// short line says which and why; each image's full answer is in Detail (-o json,
		// --debug).
		var regs []string
		for _, r := range slices.Sorted(maps.Keys(why)) {
			regs = append(regs, r+": "+strings.Join(why[r], ", "))
		}
		return Check{Name: "images-exist", Severity: Warn,
			Message: fmt.Sprintf("could not confirm %d of %d images, no answer from %s; an air-gapped cluster may pull from a mirror", len(unconfirmed), len(refs), strings.Join(regs, "; ")),
			Fix:     "make sure the nodes can pull them, then --skip-check images-exist; --debug or -o json shows each image with its registry's answer",
			Detail:  unconfirmed}
	}
	return Check{Name: "images-exist", Severity: Pass, Message: fmt.Sprintf("all %d images exist in their registries", len(refs))}
}
