package migrate

import (
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func Spec(t testing.TB, file string) Found {
	t.Helper()
	data, err := os.ReadFile("../../../shared/seed/original-specs/" + file)
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
