package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// TestClusterAPIProxy runs the API proxy container the chart deploys, for real: after an
// install it takes the romana-api-proxy container's command and args from the live
// DaemonSet, runs them with bin/kubectl as the romana-services ServiceAccount (a token
// from the TokenRequest API, as the kubelet would mount), and sends through it every
// request romana.conf.template and the services make. Those succeed; reading a Secret,
// writing a DaemonSet and deleting a namespace are refused, however the method is
// spelled (post, Delete).
func TestClusterAPIProxy(t *testing.T) {
	c := cluster(t)
	mustOK(t, rc(t, "install", "--env=kubeadm"))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	var proxy *corev1.Container
	var services *corev1.Container
	for _, ct := range ds(t, "romana-services").Spec.Template.Spec.Containers {
		switch ct.Name {
		case "romana-api-proxy":
			proxy = ct.DeepCopy()
		case "romana-services":
			services = ct.DeepCopy()
		}
	}
	if proxy == nil || services == nil {
		t.Fatal("the romana-services pod has no romana-api-proxy or romana-services container")
	}
	if len(proxy.Command) != 2 || proxy.Command[1] != "proxy" {
		t.Fatalf("proxy command %v", proxy.Command)
	}
	// What services is told to call is where the proxy listens.
	var port string
	for _, a := range proxy.Args {
		if p, ok := strings.CutPrefix(a, "--port="); ok {
			port = p
		}
	}
	if want := "--api-server=http://127.0.0.1:" + port; !strings.Contains(strings.Join(services.Args, " "), want) {
		t.Fatalf("services args %v lack %s", services.Args, want)
	}

	// The ServiceAccount's token, as the kubelet would project it.
	tr, err := c.Client.CoreV1().ServiceAccounts("kube-system").CreateToken(ctx, "romana-services",
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for romana-services: %v", err)
	}
	admin, err := clientcmd.LoadFromFile(c.KubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	cl := admin.Clusters[admin.Contexts[admin.CurrentContext].Cluster]
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = cl
	kc.AuthInfos["romana-services"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "romana-services"}
	kc.CurrentContext = "c"
	kcPath := filepath.Join(t.TempDir(), "sa.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, kcPath); err != nil {
		t.Fatal(err)
	}

	// The chart's args, on a free port instead of the node's.
	args := []string{"proxy", "--kubeconfig", kcPath}
	for _, a := range proxy.Args {
		if strings.HasPrefix(a, "--port=") {
			a = "--port=0"
		}
		args = append(args, a)
	}
	cmd := exec.CommandContext(ctx, "../../bin/kubectl", args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kubectl proxy: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`Starting to serve on (\S+)`)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-time.After(20 * time.Second):
		t.Fatal("kubectl proxy did not start serving in 20 s")
	}
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("the proxy listens on %s, not the loopback", base)
	}

	client := &http.Client{Timeout: 10 * time.Second}
	do := func(method, path string, body io.Reader) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, method, base+path, body)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return resp.StatusCode, string(b)
	}

	// Romana's own requests (romana.conf.template, the listener, the services).
	for _, path := range []string{
		"/api/v1/namespaces/?watch=true&timeoutSeconds=1",
		"/api/v1/namespaces/kube-system",
		"/api/v1/pods", "/api/v1/namespaces/default/pods",
		"/api/v1/nodes", "/api/v1/endpoints", "/api/v1/services",
		"/apis/networking.k8s.io/v1/networkpolicies",
		"/apis/networking.k8s.io/v1/namespaces/default/networkpolicies/?watch=true&timeoutSeconds=1",
	} {
		if code, body := do(http.MethodGet, path, nil); code != http.StatusOK {
			t.Errorf("GET %s through the proxy: %d %.200s", path, code, body)
		}
	}
	// Update a Service: read it in a list (the ClusterRole grants list, watch, update)
	// and put it back with an annotation.
	code, body := do(http.MethodGet, "/api/v1/namespaces/kube-system/services", nil)
	var list corev1.ServiceList
	if code != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil {
		t.Fatalf("list services: %d %.200s", code, body)
	}
	var root *corev1.Service
	for i := range list.Items {
		if list.Items[i].Name == "romana-root" {
			root = &list.Items[i]
		}
	}
	if root == nil {
		t.Fatal("romana-root is not in the list")
	}
	root.APIVersion, root.Kind = "v1", "Service"
	metav1.SetMetaDataAnnotation(&root.ObjectMeta, "romana.io/test", "updated-through-proxy")
	b, _ := json.Marshal(root)
	if code, body := do(http.MethodPut, "/api/v1/namespaces/kube-system/services/romana-root", strings.NewReader(string(b))); code != http.StatusOK {
		t.Errorf("PUT romana-root through the proxy: %d %.300s", code, body)
	}
	if s, err := c.Client.CoreV1().Services("kube-system").Get(ctx, "romana-root", metav1.GetOptions{}); err != nil || s.Annotations["romana.io/test"] != "updated-through-proxy" {
		t.Errorf("the update did not land: %v", err)
	}
	// v0.9.3's listener watches extensions/v1beta1: the proxy lets it through, and the
	// API server, which has not served it since 1.16, refuses it (romana-compat says so
	// before the install). The answer is the API server's Status, not the filter's.
	if code, body := do(http.MethodGet, "/apis/extensions/v1beta1/namespaces/default/networkpolicies/?watch=true", nil); code == http.StatusOK || !strings.Contains(body, `"kind":"Status"`) {
		t.Errorf("GET extensions/v1beta1 networkpolicies: %d %.200s, want the API server's refusal", code, body)
	}

	// What Romana may not do is refused.
	for _, r := range []struct{ method, path, body string }{
		{http.MethodGet, "/api/v1/namespaces/kube-system/secrets", ""},
		{http.MethodGet, "/api/v1/namespaces/kube-system/secrets/romana-datastore", ""},
		{http.MethodPost, "/apis/apps/v1/namespaces/kube-system/daemonsets", `{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"x"}}`},
		{http.MethodPut, "/apis/apps/v1/namespaces/kube-system/daemonsets/romana-agent", `{}`},
		{http.MethodDelete, "/api/v1/namespaces/default", ""},
		{http.MethodPatch, "/api/v1/namespaces/kube-system/services/romana-root", `{}`},
		{http.MethodGet, "/api/v1/namespaces/kube-system/pods/x/exec", ""},
		// Methods are sent as written: the filter must refuse any spelling of a write,
		// on paths it lets through for reading.
		{"post", "/api/v1/namespaces/kube-system/services", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"}}`},
		{"Delete", "/api/v1/namespaces/default", ""},
		{"pAtCh", "/api/v1/namespaces/kube-system/services/romana-root", `{}`},
		{"connect", "/api/v1/namespaces/kube-system/services/romana-root", ""},
	} {
		var body io.Reader
		if r.body != "" {
			body = strings.NewReader(r.body)
		}
		// kubectl proxy's filter answers a bare "Forbidden": the API server never saw it.
		if code, out := do(r.method, r.path, body); code != http.StatusForbidden || strings.TrimSpace(out) != "Forbidden" {
			t.Errorf("%s %s through the proxy: %d %.200s, want 403 from the proxy's filter", r.method, r.path, code, out)
		}
	}
	if _, err := c.Client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Errorf("namespace default: %v", err)
	}

	// The ClusterRole is the second wall: the same token, straight to the API server,
	// cannot read a Secret either.
	sa, err := clientcmd.NewDefaultClientConfig(*kc, nil).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	direct, err := kubernetes.NewForConfig(sa)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := direct.CoreV1().Secrets("kube-system").Get(ctx, "romana-datastore", metav1.GetOptions{}); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("the romana-services ServiceAccount reads Secrets directly: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
