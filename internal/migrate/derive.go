// Package migrate reads an install made from the original (2016/2017) manifests and
// derives the chart values that reproduce it, saying which live field each value came
// from, and what it cannot map. It reads objects; it writes nothing.
package migrate

import (
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// Found are the live objects of a manifest install.
type Found struct {
	// Services is the romana-services DaemonSet, or nil when romana-services runs as a
	// static Pod (StaticPod).
	Services *appsv1.DaemonSet
	// StaticPod is the mirror Pod the kubelet publishes for a romana-services static
	// Pod (a manifest file on the master, the 2016 guide's first option).
	StaticPod *corev1.Pod
	// Env and EnvReason are the environment the cluster looks like, for a static Pod,
	// which has no nodeSelector to tell.
	Env, EnvReason string
	Agent          *appsv1.DaemonSet
	Root           *corev1.Service
	// Secrets are the Secrets the datastore password may be read from, by name.
	Secrets map[string]*corev1.Secret
}

// Value is one derived value and where it came from.
type Value struct {
	Key    string `json:"key"`
	Value  any    `json:"value"`
	Source string `json:"source"`
}

// Derived is what Derive found.
type Derived struct {
	// Env is the environment the nodeSelector points at (kubeadm or kops), else custom.
	Env    string
	Values []Value
	// Password is the datastore password the data on the hosts was initialised with.
	Password       string
	PasswordSource string
	// PasswordPlain says the spec holds the password in plain text (the 2016 specs), not
	// in a Secret: readable wherever the spec is.
	PasswordPlain bool
	// Unknown are what cannot be mapped: args, containers, volumes, env.
	Unknown []string
	// Dropped are live settings the chart replaces on purpose, with why.
	Dropped []string
}

// Map returns the values as a nested map (a values file).
func (d *Derived) Map() map[string]any {
	out := map[string]any{}
	for _, v := range d.Values {
		m := out
		parts := strings.Split(v.Key, ".")
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = v.Value
	}
	return out
}

// args the v0.9.3 entrypoints take, to the chart keys they come from.
var (
	servicesArgs = map[string]string{"cidr": "services.cidr", "interface": "services.interface", "ip-address": "services.ipAddress",
		"nodes": "services.nodes", "namespaces": "services.namespaces", "segments": "services.segments", "api-server": ""}
	agentArgs = map[string]string{"romana-root": "agent.romanaRoot", "interface": "agent.interface", "nat": "agent.nat",
		"nat-interface": "agent.natInterface", "cluster-ip-cidr": "agent.clusterIPCIDR", "pod-to-host": "agent.podToHost"}
	intKeys  = map[string]bool{"services.nodes": true, "services.namespaces": true, "services.segments": true}
	boolKeys = map[string]bool{"agent.nat": true, "agent.podToHost": true}
)

// Derive maps the live objects to chart values.
func Derive(f Found) *Derived {
	d := &Derived{Env: "custom"}
	add := func(key string, v any, src string) { d.Values = append(d.Values, Value{key, v, src}) }
	var pod corev1.PodSpec
	var images []seenImage
	src := ""
	envSource := "the romana-services nodeSelector"
	switch {
	case f.Services != nil:
		pod, src = f.Services.Spec.Template.Spec, "DaemonSet romana-services"
	case f.StaticPod != nil:
		pod, src = f.StaticPod.Spec, fmt.Sprintf("static Pod %s (its mirror Pod)", f.StaticPod.Name)
		// The kubelet owns a static Pod: no API request can change or delete it, so the
		// release leaves romana-services out (the chart's static Pod form).
		add("services.deploy", "staticPod", src+": the kubelet runs it from a manifest file on "+f.StaticPod.Spec.NodeName)
		if f.Env != "" {
			d.Env, envSource = f.Env, f.EnvReason
		}
	}
	if src != "" {
		for k, v := range pod.NodeSelector {
			switch k {
			case "kubeadm.alpha.kubernetes.io/role":
				d.Env = "kubeadm"
			case "kubernetes.io/role":
				d.Env = "kops"
			default:
				d.Unknown = append(d.Unknown, fmt.Sprintf("%s nodeSelector %s=%s", src, k, v))
				continue
			}
			d.Dropped = append(d.Dropped, fmt.Sprintf("%s nodeSelector %s=%s: mapped to today's control-plane label (node-role.kubernetes.io/control-plane)", src, k, v))
		}
		for _, c := range pod.Containers {
			csrc := fmt.Sprintf("%s container %s", src, c.Name)
			switch c.Name {
			case "romana-datastore":
				if ref, err := name.ParseReference(c.Image, name.WeakValidation); err == nil {
					repo := ref.Context()
					reg := repo.RegistryStr()
					if reg == name.DefaultRegistry {
						reg = "docker.io"
					}
					parts := strings.Split(repo.RepositoryStr(), "/")
					add("datastore.image.registry", reg+"/"+strings.Join(parts[:len(parts)-1], "/"), csrc+" image")
					add("datastore.image.name", parts[len(parts)-1], csrc+" image")
					if t, ok := ref.(name.Tag); ok {
						add("datastore.image.tag", t.TagStr(), csrc+" image")
					}
				}
				d.password(c, csrc, f.Secrets)
				for _, e := range c.Env {
					if e.Name != "MYSQL_ROOT_PASSWORD" {
						d.Unknown = append(d.Unknown, fmt.Sprintf("%s env %s", csrc, e.Name))
					}
				}
			case "romana-services":
				images = append(images, seenImage{want: "services", image: c.Image, src: csrc})
				d.args(c.Args, servicesArgs, csrc, add)
				for _, e := range c.Env {
					if e.Name != "MYSQL_ROOT_PASSWORD" {
						d.Unknown = append(d.Unknown, fmt.Sprintf("%s env %s", csrc, e.Name))
					}
				}
			default:
				d.Unknown = append(d.Unknown, fmt.Sprintf("%s: unknown container", csrc))
			}
		}
		for _, v := range pod.Volumes {
			switch {
			case v.Name == "db-path" && v.HostPath != nil:
				add("services.dataDir", v.HostPath.Path, src+" volume db-path hostPath")
			default:
				d.Unknown = append(d.Unknown, fmt.Sprintf("%s volume %s", src, v.Name))
			}
		}
	}
	if f.Agent != nil {
		pod := f.Agent.Spec.Template.Spec
		src := "DaemonSet romana-agent"
		for _, c := range pod.Containers {
			csrc := fmt.Sprintf("%s container %s", src, c.Name)
			if c.Name != "romana-agent" {
				d.Unknown = append(d.Unknown, csrc+": unknown container")
				continue
			}
			images = append(images, seenImage{want: "agent", image: c.Image, src: csrc})
			d.args(c.Args, agentArgs, csrc, add)
			for _, e := range c.Env {
				d.Unknown = append(d.Unknown, fmt.Sprintf("%s env %s", csrc, e.Name))
			}
		}
		known := map[string]string{"host-usr-local-bin": "/usr/local/bin", "host-etc-romana": "/etc/romana", "host-cni-bin": "/opt/cni/bin", "host-cni-net-d": "/etc/cni/net.d"}
		for _, v := range pod.Volumes {
			if p, ok := known[v.Name]; !ok || v.HostPath == nil || v.HostPath.Path != p {
				d.Unknown = append(d.Unknown, fmt.Sprintf("%s volume %s", src, v.Name))
			}
		}
	}
	d.images(images, add)
	if f.Root != nil {
		add("romanaRoot.clusterIP", f.Root.Spec.ClusterIP, "Service romana-root spec.clusterIP")
		for _, p := range f.Root.Spec.Ports {
			if p.Name == "root" {
				add("romanaRoot.port", int64(p.Port), "Service romana-root port root")
			}
		}
	}
	add("environment", d.Env, envSource)
	sort.Strings(d.Unknown)
	return d
}

func (d *Derived) args(args []string, known map[string]string, src string, add func(string, any, string)) {
	for _, a := range args {
		k, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		key, isKnown := known[k]
		switch {
		case !strings.HasPrefix(a, "--") || !ok || !isKnown:
			d.Unknown = append(d.Unknown, fmt.Sprintf("%s arg %s", src, a))
		case key == "":
			// --api-server: the v0.9.3 services call it without credentials; the chart's API
			// proxy replaces what a 2016 cluster's insecure port gave.
			d.Dropped = append(d.Dropped, fmt.Sprintf("%s arg %s: the chart's API proxy replaces it (README: API access)", src, a))
		case intKeys[key]:
			var n int64
			if _, err := fmt.Sscan(v, &n); err != nil {
				d.Unknown = append(d.Unknown, fmt.Sprintf("%s arg %s (not a number)", src, a))
				continue
			}
			add(key, n, src+" arg --"+k)
		case boolKeys[key]:
			// run-romana-agent takes exactly true or false, and an empty value as unset:
			// --nat= runs with NAT on (the default), so reading it as false would turn NAT
			// off on upgrade. Any other word makes the entrypoint exit.
			switch v {
			case "true", "false":
				add(key, v == "true", src+" arg --"+k)
			case "":
				d.Unknown = append(d.Unknown, fmt.Sprintf("%s arg %s (empty: the agent then runs with its default, true; write --%s=true or --%s=false in the DaemonSet, or drop it with --force to get the chart's %s)", src, a, k, k, key))
			default:
				d.Unknown = append(d.Unknown, fmt.Sprintf("%s arg %s (not true or false, which the agent's entrypoint refuses)", src, a))
			}
		default:
			add(key, v, src+" arg --"+k)
		}
	}
}

func (d *Derived) password(c corev1.Container, src string, secrets map[string]*corev1.Secret) {
	for _, e := range c.Env {
		if e.Name != "MYSQL_ROOT_PASSWORD" {
			continue
		}
		switch {
		case e.Value != "":
			d.Password, d.PasswordSource, d.PasswordPlain = e.Value, src+" env MYSQL_ROOT_PASSWORD (plain text in the spec)", true
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			if s := secrets[ref.Name]; s != nil && len(s.Data[ref.Key]) > 0 {
				d.Password, d.PasswordSource, d.PasswordPlain = string(s.Data[ref.Key]), fmt.Sprintf("Secret %s key %s", ref.Name, ref.Key), false
			} else {
				d.Unknown = append(d.Unknown, fmt.Sprintf("%s env MYSQL_ROOT_PASSWORD: Secret %s key %s not found", src, ref.Name, ref.Key))
			}
		}
	}
}

// seenImage is one of Romana's own images as a live container runs it.
type seenImage struct {
	// want is the name the chart gives it under image.registry: services or agent.
	want, image, src string
}

// romanaImage is an image reference split the way the chart builds Romana's images:
// <registry>/<name>:<tag>, or <registry>/<name>@<digest>.
type romanaImage struct{ registry, name, tag, digest string }

func parseRomanaImage(image string) (romanaImage, error) {
	ref, err := name.ParseReference(image, name.WeakValidation)
	if err != nil {
		return romanaImage{}, err
	}
	repo := ref.Context().Name()
	i := strings.LastIndex(repo, "/")
	out := romanaImage{registry: repo[:i], name: repo[i+1:]}
	switch r := ref.(type) {
	case name.Tag:
		out.tag = r.TagStr()
	case name.Digest:
		out.digest = r.DigestStr()
		// name.Digest drops a tag written before the digest (repo:tag@sha256:…).
		base, _, _ := strings.Cut(image, "@")
		if j := strings.LastIndex(base, ":"); j > strings.LastIndex(base, "/") {
			out.tag = base[j+1:]
		}
	}
	return out, nil
}

// images derives image.registry, image.tag and image.digests from the services and
// agent images. The chart runs both from one registry and one tag, so an agent
// patched to another tag (or pulled from elsewhere) cannot be expressed: it is named,
// like an unknown arg, rather than silently replaced by the services image's. The
// first image seen (romana-services) gives the values --force keeps.
func (d *Derived) images(seen []seenImage, add func(string, any, string)) {
	var registry, registrySrc, tag, tagSrc string
	var pinnedTag *Value
	for _, s := range seen {
		img, err := parseRomanaImage(s.image)
		if err != nil {
			d.Unknown = append(d.Unknown, fmt.Sprintf("%s image %s (not an image reference: %v)", s.src, s.image, err))
			continue
		}
		if img.name != s.want {
			d.Unknown = append(d.Unknown, fmt.Sprintf("%s image %s (the chart runs <image.registry>/%s, not %s)", s.src, s.image, s.want, img.name))
			continue
		}
		switch {
		case registrySrc == "":
			registry, registrySrc = img.registry, s.src
			add("image.registry", img.registry, s.src+" image")
		case img.registry != registry:
			d.Unknown = append(d.Unknown, fmt.Sprintf("%s image %s (registry %s, but %s runs from %s: the chart takes one image.registry for both)",
				s.src, s.image, img.registry, registrySrc, registry))
			continue
		}
		if img.digest != "" {
			// The chart renders a digest without the tag, so this image's tag binds nothing.
			add("image.digests."+s.want, img.digest, s.src+" image")
			if img.tag != "" && pinnedTag == nil {
				pinnedTag = &Value{"image.tag", img.tag, s.src + " image"}
			}
			continue
		}
		switch {
		case img.tag == "":
		case tagSrc == "":
			tag, tagSrc = img.tag, s.src
			add("image.tag", img.tag, s.src+" image")
		case img.tag != tag:
			d.Unknown = append(d.Unknown, fmt.Sprintf("%s image %s (tag %s, but %s runs %s: the chart takes one image.tag for both)",
				s.src, s.image, img.tag, tagSrc, tag))
		}
	}
	if tagSrc == "" && pinnedTag != nil {
		add(pinnedTag.Key, pinnedTag.Value, pinnedTag.Source)
	}
}
