package migrate

import (
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/romana/romanactl/internal/upstream"
)

func Spec(t testing.TB, file string) Found {
	t.Helper()
	data, err := os.ReadFile(upstream.Path(t, "seed", "original-specs", file))
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseSpec(data)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestDeriveFromTheOriginalSpecs(t *testing.T) {
	for _, tc := range []struct {
		file, env string
		want      map[string]any
	}{
		{"romana-kubeadm.yml", "kubeadm", map[string]any{"services.cidr": "100.112.0.0/12", "romanaRoot.clusterIP": "10.99.99.99",
			"agent.clusterIPCIDR": "10.96.0.0/12", "agent.romanaRoot": "http://10.99.99.99:9600", "image.registry": "quay.io/romana", "image.tag": "v0.9.3.5",
			"datastore.image.registry": "docker.io/library", "datastore.image.name": "mysql", "datastore.image.tag": "5", "services.dataDir": "/var/lib/romana/db"}},
		{"romana-kops.yml", "kops", map[string]any{"services.cidr": "10.192.0.0/10", "romanaRoot.clusterIP": "100.64.99.99", "romanaRoot.port": int64(9600)}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			d := Derive(Spec(t, tc.file))
			if d.Env != tc.env || len(d.Unknown) != 0 || d.Password != "romana" || !strings.Contains(d.PasswordSource, "plain text") {
				t.Fatalf("env %s, unknown %v, password %q from %s", d.Env, d.Unknown, d.Password, d.PasswordSource)
			}
			got := map[string]any{}
			for _, v := range d.Values {
				got[v.Key] = v.Value
				if v.Source == "" {
					t.Errorf("%s has no source", v.Key)
				}
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
	// Something the chart cannot express is named, not dropped silently.
	f := Spec(t, "romana-kubeadm.yml")
	f.Agent.Spec.Template.Spec.Containers[0].Args = append(f.Agent.Spec.Template.Spec.Containers[0].Args, "--mtu=1400")
	f.Services.Spec.Template.Spec.Containers = append(f.Services.Spec.Template.Spec.Containers, corev1.Container{Name: "sidecar"})
	d := Derive(f)
	if strings.Join(d.Unknown, "|") != "DaemonSet romana-agent container romana-agent arg --mtu=1400|DaemonSet romana-services container sidecar: unknown container" {
		t.Errorf("unknown: %v", d.Unknown)
	}
	// The 2017 specs keep the password in a Secret.
	f = Spec(t, "romana-kubeadm.yml")
	for i := range f.Services.Spec.Template.Spec.Containers {
		for j := range f.Services.Spec.Template.Spec.Containers[i].Env {
			f.Services.Spec.Template.Spec.Containers[i].Env[j] = corev1.EnvVar{Name: "MYSQL_ROOT_PASSWORD", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "datastore-password"}, Key: "password"}}}
		}
	}
	f.Secrets = map[string]*corev1.Secret{"datastore-password": {Data: map[string][]byte{"password": []byte("from-2017")}}}
	if d := Derive(f); d.Password != "from-2017" || d.PasswordSource != "Secret datastore-password key password" {
		t.Errorf("password %q from %q", d.Password, d.PasswordSource)
	}
}

// The 2016 guide's first option: romana-services as a static Pod (a manifest file on
// the master), with the agent and the Service from their own specs. The release leaves
// romana-services to the kubelet; the environment comes from the cluster, since a
// static Pod has no nodeSelector.
func TestDeriveFromAStaticPod(t *testing.T) {
	f := Spec(t, "romana-services-manifest.yml")
	f.StaticPod.Name, f.StaticPod.Spec.NodeName = "romana-services-master-1", "master-1"
	f.Agent = Spec(t, "romana-agent-daemonset.yml").Agent
	f.Root = Spec(t, "romana-root-service.yml").Root
	f.Env, f.EnvReason = "kops", "node master-1 has the kops.k8s.io/instancegroup label"
	d := Derive(f)
	if d.Env != "kops" || len(d.Unknown) != 0 || d.Password != "romana" {
		t.Fatalf("env %s, unknown %v, password %q", d.Env, d.Unknown, d.Password)
	}
	got := map[string]Value{}
	for _, v := range d.Values {
		got[v.Key] = v
	}
	if v := got["services.deploy"]; v.Value != "staticPod" || !strings.Contains(v.Source, "static Pod romana-services-master-1") || !strings.Contains(v.Source, "master-1") {
		t.Errorf("services.deploy: %+v", v)
	}
	if v := got["environment"]; v.Source != f.EnvReason {
		t.Errorf("environment: %+v", v)
	}
	if got["romanaRoot.clusterIP"].Value != "100.64.99.99" || got["services.dataDir"].Value != "/var/lib/romana/db" || got["image.tag"].Value != "v0.9.3.5" {
		t.Errorf("values: %v", got)
	}
}

// TestDeriveImages: both of Romana's images are read. One registry and one tag
// reproduce them, or what the chart cannot express (an agent patched to another tag,
// pulled from elsewhere, or renamed) is named, never silently replaced by the services
// image's.
func TestDeriveImages(t *testing.T) {
	const dig = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		name, services, agent string
		want                  map[string]any
		wantUnknown           string
	}{
		{name: "the spec's", services: "quay.io/romana/services:v0.9.3.5", agent: "quay.io/romana/agent:v0.9.3.5",
			want: map[string]any{"image.registry": "quay.io/romana", "image.tag": "v0.9.3.5"}},
		{name: "both mirrored", services: "mirror.example:5000/romana/services:v0.9.3", agent: "mirror.example:5000/romana/agent:v0.9.3",
			want: map[string]any{"image.registry": "mirror.example:5000/romana", "image.tag": "v0.9.3"}},
		{name: "a patched agent tag", services: "quay.io/romana/services:v0.9.3.5", agent: "quay.io/romana/agent:v0.9.3.5-patched",
			want:        map[string]any{"image.registry": "quay.io/romana", "image.tag": "v0.9.3.5"},
			wantUnknown: "DaemonSet romana-agent container romana-agent image quay.io/romana/agent:v0.9.3.5-patched (tag v0.9.3.5-patched, but DaemonSet romana-services container romana-services runs v0.9.3.5: the chart takes one image.tag for both)"},
		{name: "an agent from another registry", services: "quay.io/romana/services:v0.9.3.5", agent: "registry.example/ops/agent:v0.9.3.5",
			wantUnknown: "DaemonSet romana-agent container romana-agent image registry.example/ops/agent:v0.9.3.5 (registry registry.example/ops, but DaemonSet romana-services container romana-services runs from quay.io/romana: the chart takes one image.registry for both)"},
		{name: "a renamed agent", services: "quay.io/romana/services:v0.9.3.5", agent: "quay.io/romana/agent-debug:v0.9.3.5",
			wantUnknown: "DaemonSet romana-agent container romana-agent image quay.io/romana/agent-debug:v0.9.3.5 (the chart runs <image.registry>/agent, not agent-debug)"},
		{name: "a pinned agent", services: "quay.io/romana/services:v0.9.3.5", agent: "quay.io/romana/agent:v0.9.3.4@" + dig,
			want: map[string]any{"image.registry": "quay.io/romana", "image.tag": "v0.9.3.5", "image.digests.agent": dig}},
		{name: "both pinned", services: "quay.io/romana/services:v0.9.3.5@" + dig, agent: "quay.io/romana/agent@" + dig,
			want: map[string]any{"image.tag": "v0.9.3.5", "image.digests.services": dig, "image.digests.agent": dig}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Spec(t, "romana-kubeadm.yml")
			f.Services.Spec.Template.Spec.Containers[1].Image = tt.services
			f.Agent.Spec.Template.Spec.Containers[0].Image = tt.agent
			d := Derive(f)
			if got := strings.Join(d.Unknown, "|"); got != tt.wantUnknown {
				t.Errorf("unknown:\n got %s\nwant %s", got, tt.wantUnknown)
			}
			got := map[string]any{}
			for _, v := range d.Values {
				if _, dup := got[v.Key]; dup {
					t.Errorf("%s derived twice", v.Key)
				}
				got[v.Key] = v.Value
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

// TestDeriveBooleanArgs: run-romana-agent takes true or false, and treats an empty
// value as unset (its default, true): --nat= is refused by name, not read as false.
func TestDeriveBooleanArgs(t *testing.T) {
	tests := []struct {
		arg         string
		want        any
		wantUnknown string
	}{
		{arg: "--nat=false", want: false},
		{arg: "--nat=true", want: true},
		{arg: "--pod-to-host=false", want: false},
		{arg: "--nat=", wantUnknown: "arg --nat= (empty: the agent then runs with its default, true; write --nat=true or --nat=false"},
		{arg: "--pod-to-host=", wantUnknown: "arg --pod-to-host= (empty"},
		{arg: "--nat=yes", wantUnknown: "arg --nat=yes (not true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			f := Spec(t, "romana-kubeadm.yml")
			c := &f.Agent.Spec.Template.Spec.Containers[0]
			c.Args = append(c.Args, tt.arg)
			d := Derive(f)
			key := agentArgs[strings.TrimPrefix(strings.Split(tt.arg, "=")[0], "--")]
			var got any
			for _, v := range d.Values {
				if v.Key == key {
					got = v.Value
				}
			}
			if tt.wantUnknown == "" {
				if got != tt.want || len(d.Unknown) != 0 {
					t.Errorf("%s = %v (want %v), unknown %v", key, got, tt.want, d.Unknown)
				}
				return
			}
			if got != nil || len(d.Unknown) != 1 || !strings.Contains(d.Unknown[0], tt.wantUnknown) {
				t.Errorf("%s = %v, unknown %v; want refused with %q", key, got, d.Unknown, tt.wantUnknown)
			}
		})
	}
}
