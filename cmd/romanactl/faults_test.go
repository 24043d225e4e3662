package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/romana/romanactl/internal/testcluster"
)

// Fault tests: a release is never stuck, the password is never lost, and concurrent
// commands never undo each other. They run the real binary against the real control
// plane, kill it with SIGKILL, stop kube-apiserver, and put a fault-injecting proxy in
// front of it. Each is bounded in time.

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// romanactlBin builds the binary once for the package's process-level tests.
func romanactlBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "romanactl-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "romanactl")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// proc runs the binary to completion with a hard deadline.
func proc(t *testing.T, kubeconfig string, deadline time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, romanactlBin(t), append(args, "--kubeconfig", kubeconfig)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), err: err}
	if cmd.ProcessState != nil {
		r.code = cmd.ProcessState.ExitCode()
	}
	if ctx.Err() != nil {
		t.Fatalf("romanactl %v did not finish within %s\n%s%s", args, deadline, r.stdout, r.stderr)
	}
	return r
}

// history reads the release records straight from Helm's Secrets, oldest first.
func history(t *testing.T) []*release.Release {
	t.Helper()
	var out []*release.Release
	for _, s := range releaseSecrets(t) {
		rel, err := decodeRelease(s.Data["release"])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rel)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].Version < out[i].Version {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func describe(h []*release.Release) string {
	var b strings.Builder
	for _, r := range h {
		fmt.Fprintf(&b, "  %d %s %q\n", r.Version, r.Info.Status, r.Info.Description)
	}
	return b.String()
}

// assertSettled: the newest revision is deployed, nothing is pending, helm list agrees,
// and the live DaemonSets run what the deployed revision's manifest says.
func assertSettled(t *testing.T, pw string) {
	t.Helper()
	h := history(t)
	if len(h) == 0 {
		t.Fatal("no release")
	}
	last := h[len(h)-1]
	for _, r := range h {
		if r.Info.Status.IsPending() {
			t.Fatalf("revision %d left %s:\n%s", r.Version, r.Info.Status, describe(h))
		}
	}
	if last.Info.Status != release.StatusDeployed {
		t.Fatalf("newest revision %d is %s:\n%s", last.Version, last.Info.Status, describe(h))
	}
	out, err := runHelmEnv(t, helmBinary(t), []string{"KUBECONFIG=" + shared.KubeconfigPath}, "list", "-n", "kube-system", "-o", "json")
	if err != nil || !strings.Contains(out, `"status":"deployed"`) || !strings.Contains(out, fmt.Sprintf(`"revision":"%d"`, last.Version)) {
		t.Fatalf("helm list disagrees (want revision %d deployed): %v %s", last.Version, err, out)
	}
	for name, want := range manifestImages(t, last.Manifest) {
		if got := containerImage(ds(t, name).Spec.Template.Spec.Containers, name); got != want {
			t.Fatalf("%s runs %s, the deployed revision %d says %s", name, got, last.Version, want)
		}
	}
	if p := password(t); p != pw {
		t.Fatal("the datastore password changed")
	}
}

// manifestImages maps each DaemonSet of a manifest to its last container's image.
func manifestImages(t *testing.T, manifest string) map[string]string {
	out := map[string]string{}
	for _, doc := range strings.Split(manifest, "\n---") {
		var obj struct {
			Kind     string
			Metadata struct{ Name string }
			Spec     struct {
				Template struct {
					Spec struct{ Containers []corev1.Container }
				}
			}
		}
		if yaml.Unmarshal([]byte(doc), &obj) != nil || obj.Kind != "DaemonSet" {
			continue
		}
		out[obj.Metadata.Name] = containerImage(obj.Spec.Template.Spec.Containers, obj.Metadata.Name)
	}
	if len(out) == 0 {
		t.Fatal("no DaemonSet in the manifest")
	}
	return out
}

// containerImage is the image of the container named after its DaemonSet (romana-agent,
// romana-services): the one whose tag an upgrade changes.
func containerImage(cs []corev1.Container, name string) string {
	for _, c := range cs {
		if c.Name == name {
			return c.Image
		}
	}
	return "<no container " + name + ">"
}

// TestClusterPasswordSurvivesFailedAtomicInstall: a Secret that existed before a failed
// --atomic install is kept, and so is one this install made once a romana-services pod
// had started with it.
func TestClusterPasswordSurvivesFailedAtomicInstall(t *testing.T) {
	cluster(t)
	ctx := context.Background()
	// The Secret a earlier install left behind (uninstall keeps it): the datastore on
	// the hosts was initialised with this password.
	mustOK(t, rc(t, "install"))
	pw := password(t)
	mustOK(t, rc(t, "uninstall"))
	r := rc(t, "install", "--set-json", "agent.tolerations=[]", "--timeout=4s")
	if r.code != 1 || !strings.Contains(r.stderr, "--atomic: the release and what it created were removed; the password Secret was kept") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if p := password(t); p != pw {
		t.Fatal("a failed atomic install changed or removed the existing password")
	}
	if err := shared.Client.CoreV1().Secrets("kube-system").Delete(ctx, "romana-datastore", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// This install makes the Secret; romana-services starts (only the agent fails), so
	// MySQL may have initialised the host with it: it must stay.
	r = rc(t, "install", "--set-json", "agent.tolerations=[]", "--timeout=4s")
	if r.code != 1 || !strings.Contains(r.stderr, "Secret romana-datastore was kept: a romana-services pod may have initialised the datastore") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := romanaObjects(t); len(got) != 1 || got[0] != "Secret romana-datastore" {
		t.Fatalf("after the atomic clean-up: %v", got)
	}
}

// TestClusterFaultProxy injects API errors with a reverse proxy in front of the real
// API server.
func TestClusterFaultProxy(t *testing.T) {
	c := cluster(t)
	p, err := c.StartProxy(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	t.Run("500 on the Secret read writes nothing", func(t *testing.T) {
		rule := &testcluster.Rule{Method: "GET", PathContains: "/secrets/romana-datastore", Status: 500}
		defer p.Add(rule)()
		p.Requests()
		r := proc(t, p.KubeconfigPath, time.Minute, "install", "--timeout=30s")
		if r.code == 0 || !strings.Contains(r.stderr, "read Secret kube-system/romana-datastore (the datastore password) before any write") ||
			!strings.Contains(r.stderr, "nothing was written") {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if p.Hits(rule) == 0 {
			t.Fatal("the fault was never injected: the test proves nothing")
		}
		if w := testcluster.Writes(p.Requests()); len(w) > 0 {
			t.Fatalf("writes reached the API server: %+v", w)
		}
		if got := romanaObjects(t); len(got) > 0 {
			t.Fatalf("left %v", got)
		}
		chaosFigure("500 on the password Secret read | `install`, the proxy answers 500 to GET secrets/romana-datastore | exit 1 before any write; 0 writes reached the API server; nothing left")
	})

	t.Run("a cut connection during the apply leaves a state recover ends", func(t *testing.T) {
		defer cleanup(t)
		mustOK(t, proc(t, p.KubeconfigPath, time.Minute, "install", "--timeout=60s"))
		pw := password(t)
		// Without --atomic the command leaves the release as the fault left it; with it,
		// its own rollback would end the pending state (tested by the atomic tests).
		// The DaemonSet update loses its connection, and so does Helm's attempt to
		// record the failure: the revision stays pending-upgrade, as after a crash.
		r1 := &testcluster.Rule{Method: "PATCH", PathContains: "/daemonsets/romana-agent", Cut: true}
		r2 := &testcluster.Rule{Method: "PUT", PathContains: "/secrets/sh.helm.release.v1.romana.v2", Status: 503}
		rm1, rm2 := p.Add(r1), p.Add(r2)
		r := proc(t, p.KubeconfigPath, time.Minute, "upgrade", "--tag=v0.9.3", "--timeout=20s", "--atomic=false")
		rm1()
		rm2()
		if r.code == 0 || p.Hits(r1) == 0 {
			t.Fatalf("the upgrade did not meet the fault (hits %d): exit %d\n%s%s", p.Hits(r1), r.code, r.stdout, r.stderr)
		}
		h := history(t)
		if st := h[len(h)-1].Info.Status; st != release.StatusPendingUpgrade {
			t.Fatalf("want pending-upgrade after the cut, got:\n%s\n%s", describe(h), r.stderr)
		}
		s := rc(t, "status")
		if s.code != 1 || !strings.Contains(s.stdout, "romanactl recover") {
			t.Fatalf("status does not point at recover: exit %d\n%s%s", s.code, s.stdout, s.stderr)
		}
		u := rc(t, "upgrade", "--tag=v0.9.3")
		if u.code != 1 || !strings.Contains(u.stderr, "is pending-upgrade at revision 2") || !strings.Contains(u.stderr, "romanactl recover") {
			t.Fatalf("upgrade of a pending release: exit %d\n%s", u.code, u.stderr)
		}
		d := mustOK(t, rc(t, "recover", "--dry-run"))
		if !strings.Contains(d.stdout, "roll back to revision 1") || !strings.Contains(d.stdout, "Dry run: nothing was changed.") {
			t.Fatalf("recover --dry-run:\n%s", d.stdout)
		}
		if st := history(t)[1].Info.Status; st != release.StatusPendingUpgrade {
			t.Fatalf("recover --dry-run changed the release: %s", st)
		}
		rec := mustOK(t, rc(t, "recover", "--timeout=60s"))
		if !strings.Contains(rec.stdout, "Recovered: revision 2 failed; revision 3 (a copy of revision 1) is now deployed") {
			t.Fatalf("recover:\n%s", rec.stdout)
		}
		assertSettled(t, pw)
		mustOK(t, rc(t, "upgrade", "--tag=v0.9.3"))
		assertSettled(t, pw)
		chaosFigure("connection cut during the apply | `upgrade --atomic=false`; the DaemonSet PATCH is cut and Helm's failure record refused (503) | revision 2 left pending-upgrade; status and upgrade point at recover; `recover` made revision 3 (a copy of 1) deployed; the next upgrade worked")
	})

	t.Run("an install cut mid-apply is ended by recover, keeping the password", func(t *testing.T) {
		defer cleanup(t)
		// The DaemonSet create loses its connection, and Helm's record of the failure
		// is refused: revision 1 stays pending-install, as after a killed first install.
		r1 := &testcluster.Rule{Method: "POST", PathContains: "/daemonsets", Cut: true}
		r2 := &testcluster.Rule{Method: "PUT", PathContains: "/secrets/sh.helm.release.v1.romana.v1", Status: 503}
		rm1, rm2 := p.Add(r1), p.Add(r2)
		r := proc(t, p.KubeconfigPath, time.Minute, "install", "--timeout=20s", "--atomic=false")
		rm1()
		rm2()
		if r.code == 0 || p.Hits(r1) == 0 {
			t.Fatalf("the install did not meet the fault (hits %d): exit %d\n%s%s", p.Hits(r1), r.code, r.stdout, r.stderr)
		}
		h := history(t)
		if len(h) != 1 || h[0].Info.Status != release.StatusPendingInstall {
			t.Fatalf("want one pending-install revision, got:\n%s\n%s", describe(h), r.stderr)
		}
		pw := password(t)
		i := rc(t, "install")
		if i.code != 1 || !strings.Contains(i.stderr, "is pending-install at revision 1") || !strings.Contains(i.stderr, "romanactl recover") {
			t.Fatalf("install over a pending install: exit %d\n%s", i.code, i.stderr)
		}
		d := mustOK(t, rc(t, "recover", "--dry-run"))
		if !strings.Contains(d.stdout, "uninstall the half-made release") || !strings.Contains(d.stdout, "keep Secret kube-system/romana-datastore") {
			t.Fatalf("recover --dry-run:\n%s", d.stdout)
		}
		rec := mustOK(t, rc(t, "recover", "--timeout=60s"))
		if !strings.Contains(rec.stdout, "Recovered: the half-made release was uninstalled; Secret romana-datastore was kept") {
			t.Fatalf("recover:\n%s", rec.stdout)
		}
		if got := romanaObjects(t); len(got) != 1 || got[0] != "Secret romana-datastore" {
			t.Fatalf("after recover: %v", got)
		}
		mustOK(t, rc(t, "install"))
		if password(t) != pw {
			t.Fatal("the install after recover has another password")
		}
		chaosFigure("connection cut during a first install | `install --atomic=false`; the DaemonSet POST is cut and Helm's failure record refused | revision 1 left pending-install; install points at recover; `recover` uninstalled it keeping the password Secret; the next install found the same password")
	})

	t.Run("a slow API finishes within the timeout or says why", func(t *testing.T) {
		defer cleanup(t)
		mustOK(t, rc(t, "install"))
		rule := &testcluster.Rule{Delay: 2 * time.Second}
		defer p.Add(rule)()
		p.Requests()
		start := time.Now()
		r := proc(t, p.KubeconfigPath, 3*time.Minute, "upgrade", "--tag=v0.9.3", "--timeout=60s")
		took := time.Since(start)
		t.Logf("upgrade with 2 s per request: exit %d in %s, %d requests delayed", r.code, took.Round(time.Second), p.Hits(rule))
		counts := map[string]int{}
		for _, q := range p.Requests() {
			counts[q.Method+" "+q.Path]++
		}
		t.Logf("requests: %v", counts)
		if r.code != 0 && !strings.Contains(r.stderr, "timed out") {
			t.Fatalf("a slow API failed without a clear reason: exit %d\n%s", r.code, r.stderr)
		}
		assertSettled(t, password(t))
	})
}

// TestClusterConcurrentCommands: ten upgrades at once write exactly one revision and
// roll nothing back; ten installs at once make exactly one release.
func TestClusterConcurrentCommands(t *testing.T) {
	cluster(t)
	defer cleanup(t)
	romanactlBin(t)
	runAll := func(kubeconfig string, args func(i int) []string) []result {
		var wg sync.WaitGroup
		res := make([]result, 10)
		for i := range res {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[i] = proc(t, kubeconfig, 2*time.Minute, args(i)...)
			}()
		}
		wg.Wait()
		return res
	}
	judge := func(what string, res []result) {
		t.Helper()
		winners, locked, changed := 0, 0, 0
		for _, r := range res {
			switch {
			case r.code == 0:
				winners++
			case r.code == 1 && strings.Contains(r.stderr, "is locked by"):
				locked++
			case r.code == 1 && strings.Contains(r.stderr, "changed while this command was preparing"),
				r.code == 2 && strings.Contains(r.stderr, "already exists in kube-system (revision 1"):
				changed++
			default:
				t.Errorf("%s: unexpected outcome: exit %d\n%s", what, r.code, r.stderr)
			}
			if strings.Contains(r.stderr, "roll") && r.code != 0 && strings.Contains(r.stderr, "rolled back") {
				t.Errorf("%s: a loser rolled back: %s", what, r.stderr)
			}
		}
		t.Logf("%s: %d winner, %d refused by the Lease, %d refused as planned on a stale revision", what, winners, locked, changed)
		if winners != 1 {
			t.Errorf("%s: %d winners, want 1", what, winners)
		}
	}

	res := runAll(shared.KubeconfigPath, func(int) []string { return []string{"install", "--timeout=60s"} })
	judge("10 installs", res)
	if h := history(t); len(h) != 1 || h[0].Info.Status != release.StatusDeployed {
		t.Fatalf("10 installs made:\n%s", describe(h))
	}
	pw := password(t)

	// The proxy holds the winner's DaemonSet update for 3 s, as a busy API server would,
	// so that the ten really overlap on this 2-core machine.
	p, err := shared.StartProxy(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	defer p.Add(&testcluster.Rule{Method: "PATCH", PathContains: "/daemonsets/", Delay: 3 * time.Second})()
	res = runAll(p.KubeconfigPath, func(i int) []string { return []string{"upgrade", fmt.Sprintf("--tag=v0.9.%d", 10+i), "--timeout=60s"} })
	judge("10 upgrades", res)
	h := history(t)
	if len(h) != 2 || h[1].Info.Status != release.StatusDeployed || !strings.Contains(h[1].Info.Description, "Upgrade complete") {
		t.Fatalf("10 upgrades: want exactly one new revision and no rollback:\n%s", describe(h))
	}
	assertSettled(t, pw)
}

// TestClusterRomanactlAndHelmAtOnce: whichever of romanactl and the helm CLI is in the
// middle of an upgrade, the other is refused clearly, and nothing is left pending. The
// proxy holds the first one's DaemonSet update for a few seconds, so the two overlap.
func TestClusterRomanactlAndHelmAtOnce(t *testing.T) {
	c := cluster(t)
	p, err := c.StartProxy(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	mustOK(t, rc(t, "install"))
	pw := password(t)
	helm := helmBinary(t)
	slow := &testcluster.Rule{Method: "PATCH", PathContains: "/daemonsets/romana-agent", Delay: 4 * time.Second, Times: 1}

	// romanactl first (slowed), helm meanwhile.
	rm := p.Add(slow)
	done := make(chan result, 1)
	go func() { done <- proc(t, p.KubeconfigPath, time.Minute, "upgrade", "--tag=v0.9.3", "--timeout=60s") }()
	waitPending(t)
	out, herr := runHelmEnv(t, helm, []string{"KUBECONFIG=" + shared.KubeconfigPath}, "upgrade", "romana", "./chart", "-n", "kube-system", "--reuse-values", "--set", "image.tag=v9")
	r := <-done
	rm()
	if herr == nil || !strings.Contains(out, "another operation (install/upgrade/rollback) is in progress") {
		t.Fatalf("helm was not refused while romanactl upgraded: %v\n%s", herr, out)
	}
	mustOK(t, r)
	assertSettled(t, pw)

	// helm first (slowed), romanactl meanwhile.
	slow2 := &testcluster.Rule{Method: "PATCH", PathContains: "/daemonsets/romana-agent", Delay: 4 * time.Second, Times: 1}
	rm = p.Add(slow2)
	hdone := make(chan error, 1)
	var hout string
	go func() {
		var err error
		hout, err = runHelmEnv(t, helm, []string{"KUBECONFIG=" + p.KubeconfigPath}, "upgrade", "romana", "./chart", "-n", "kube-system", "--reuse-values", "--set", "image.tag=v0.9.2")
		hdone <- err
	}()
	waitPending(t)
	r = rc(t, "upgrade", "--tag=v8")
	if err := <-hdone; err != nil {
		t.Fatalf("helm upgrade: %v\n%s", err, hout)
	}
	rm()
	if r.code != 1 || !strings.Contains(r.stderr, "is pending-upgrade") || !strings.Contains(r.stderr, "outside romanactl (a helm CLI)") {
		t.Fatalf("romanactl was not refused clearly while helm upgraded: exit %d\n%s", r.code, r.stderr)
	}
	assertSettled(t, pw)
	if img := ds(t, "romana-agent").Spec.Template.Spec.Containers[0].Image; img != "quay.io/romana/agent:v0.9.2" {
		t.Errorf("helm's upgrade should have won: %s", img)
	}
	chaosFigure("romanactl and the helm CLI at once | each upgrade in turn held 4 s mid-apply by the proxy while the other runs | the second writer was refused both ways (helm by its pending check, romanactl naming the helm CLI); nothing left pending")
}

// waitPending waits until the newest revision is pending-upgrade.
func waitPending(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if h := history(t); len(h) > 0 && h[len(h)-1].Info.Status == release.StatusPendingUpgrade {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no pending-upgrade revision appeared")
}

// TestClusterSIGKILL kills upgrades at random points (read, render, apply, wait), then
// recovers when needed, and checks that the release always ends deployed with the
// password unchanged.
func TestClusterSIGKILL(t *testing.T) {
	cluster(t)
	bin := romanactlBin(t)
	mustOK(t, rc(t, "install"))
	pw := password(t)
	// One undisturbed upgrade gives the span the kills cover.
	start := time.Now()
	mustOK(t, proc(t, shared.KubeconfigPath, time.Minute, "upgrade", "--tag=v0.9.3", "--timeout=60s"))
	span := time.Since(start)
	seed := time.Now().UnixNano() % 100000
	if s := os.Getenv("ROMANACTL_CHAOS_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	runs := 24
	rng := rand.New(rand.NewSource(seed))
	t.Logf("SIGKILL: seed %d (ROMANACTL_CHAOS_SEED=%d reproduces), %d runs: even runs at a delay in [0, %s] from the start, odd runs in [0, 150ms] after the pre-flight report's last line (the apply)",
		seed, seed, runs, span.Round(time.Millisecond))
	recovered, pending := 0, 0
	tags := []string{"v0.9.3.5", "v0.9.3"}
	for i := range runs {
		cmd := exec.Command(bin, "upgrade", "--tag="+tags[i%2], "--timeout=60s", "--kubeconfig", shared.KubeconfigPath)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var delay time.Duration
		if i%2 == 0 {
			// Anywhere: read, render, pre-flight, apply, wait.
			delay = time.Duration(rng.Int63n(int64(span)))
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			time.Sleep(delay)
		} else {
			// The apply, where Helm's pending-* record lives: the last pre-flight line
			// comes just before the Lease and the first write.
			delay = time.Duration(rng.Int63n(int64(150 * time.Millisecond)))
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "✓ environment ") {
					break
				}
			}
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			time.Sleep(delay)
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		h := history(t)
		if h[len(h)-1].Info.Status.IsPending() {
			pending++
			// The killed holder ran on this host and is gone: recover takes its Lease at once.
			r := proc(t, shared.KubeconfigPath, 2*time.Minute, "recover", "--timeout=60s")
			if r.code != 0 {
				t.Fatalf("run %d (killed after %s): recover failed: exit %d\n%s%s\n%s", i, delay, r.code, r.stdout, r.stderr, describe(h))
			}
			recovered++
		}
		assertSettled(t, pw)
	}
	// One more run is killed while it is certainly pending: the proxy holds Helm's
	// update of romana-agent, and the kill comes once the pending-upgrade record is
	// stored. Whatever the random runs hit, the recover path is exercised.
	p, err := shared.StartProxy(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	hold := &testcluster.Rule{Method: "PATCH", PathContains: "/daemonsets/romana-agent", Delay: 30 * time.Second, Times: 1}
	rm := p.Add(hold)
	// A tag neither random run deploys, so this upgrade is never a no-op.
	cmd := exec.Command(bin, "upgrade", "--tag=v0.9.3.7", "--timeout=60s", "--kubeconfig", p.KubeconfigPath)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitPending(t)
	// The pending-upgrade record is stored before Helm sends its first object: kill
	// only once the proxy holds the agent's update (a loaded machine can take seconds
	// between the two).
	for deadline := time.Now().Add(25 * time.Second); p.Hits(hold) == 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	rm()
	if p.Hits(hold) == 0 {
		t.Fatal("the held run never reached the DaemonSet update")
	}
	h := history(t)
	if !h[len(h)-1].Info.Status.IsPending() {
		t.Fatalf("the run killed mid-apply left no pending revision:\n%s", describe(h))
	}
	pending++
	if r := proc(t, shared.KubeconfigPath, 2*time.Minute, "recover", "--timeout=60s"); r.code != 0 || !strings.Contains(r.stdout, "Recovered: revision") {
		t.Fatalf("recover after the held run: exit %d\n%s%s\n%s", r.code, r.stdout, r.stderr, describe(h))
	}
	recovered++
	assertSettled(t, pw)
	runs++
	if pending == 0 || recovered != pending {
		t.Fatalf("%d runs left the release pending and recover ended %d: the recover path was not proven", pending, recovered)
	}
	t.Logf("SIGKILL: %d of %d runs left the release pending; recover ended %d", pending, runs, recovered)
	chaosFigure(fmt.Sprintf("SIGKILL during upgrade | seed %d, %d runs: half at a random point of the whole command (span %s), half within 150 ms after the pre-flight report (the apply), 1 while held pending mid-apply by the proxy | %d left pending, %d/%d ended by recover, 0 passwords changed",
		seed, runs, span.Round(time.Millisecond), pending, recovered, pending))
}

// TestClusterAPIServerDown kills kube-apiserver (etcd keeps running) while an upgrade
// waits, and starts it again 20 s later.
func TestClusterAPIServerDown(t *testing.T) {
	c := cluster(t)
	mustOK(t, rc(t, "install"))
	pw := password(t)
	before := len(history(t))
	// The agent cannot become ready on the control-plane node, so the upgrade waits.
	cmd := exec.Command(romanactlBin(t), "upgrade", "--set-json", "agent.tolerations=[]", "--timeout=15s", "--kubeconfig", shared.KubeconfigPath)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var exitedAt time.Time
	exited := make(chan error, 1)
	go func() { err := cmd.Wait(); exitedAt = time.Now(); exited <- err }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "waiting for Romana") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	stopped := time.Now()
	restart, err := c.StopAPIServer()
	if err != nil {
		t.Fatal(err)
	}
	var took time.Duration
	select {
	case <-exited:
		took = exitedAt.Sub(stopped)
	case <-time.After(45 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("romanactl hung past its timeout with the API server down")
	}
	if took > 15*time.Second+8*time.Second {
		t.Fatalf("romanactl took %s after the API server stopped, past its 15s --timeout\n%s%s", took, out.String(), errb.String())
	}
	time.Sleep(time.Until(stopped.Add(20 * time.Second)))
	if err := restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A leader-elected kube-controller-manager and kube-scheduler exit when they cannot
	// renew their lease and are restarted by the kubelet, and kubelets re-register;
	// without that, the DaemonSet controller may wait out its 5-minute expectations for
	// events it missed, and kwok (standing in for the kubelets) may not see new pods.
	for _, comp := range []string{"kube-controller-manager", "kube-scheduler", "kwok"} {
		if err := c.RestartComponent(comp); err != nil {
			t.Fatal(err)
		}
	}
	// While the API server was away, node heartbeats could not land: the node
	// lifecycle controller may taint nodes unreachable until kwok renews them, and the
	// pre-flight would rightly refuse to place romana-services on them.
	waitNodesUntainted(t, 90*time.Second)
	if cmd.ProcessState.ExitCode() == 0 || !strings.Contains(errb.String(), "API server is unreachable") {
		t.Fatalf("want a failure naming the unreachable API server, got exit %d\n%s%s", cmd.ProcessState.ExitCode(), out.String(), errb.String())
	}
	t.Logf("romanactl exited %s after the API server stopped: %s", took.Round(time.Second), lastLine(errb.String()))
	// Whatever it left, recover (if pending) and a new upgrade end on a good revision.
	if h := history(t); h[len(h)-1].Info.Status.IsPending() {
		mustOK(t, proc(t, shared.KubeconfigPath, 2*time.Minute, "recover", "--timeout=60s"))
	}
	r := proc(t, shared.KubeconfigPath, 2*time.Minute, "upgrade", "--set", "agent.tolerations[0].operator=Exists", "--timeout=60s")
	if r.code != 0 {
		t.Fatalf("upgrade after the restart: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	h := history(t)
	if len(h) < before+1 {
		t.Fatalf("revisions lost:\n%s", describe(h))
	}
	for i, rel := range h {
		if rel.Version != h[0].Version+i {
			t.Fatalf("a revision is missing:\n%s", describe(h))
		}
	}
	assertSettled(t, pw)
	chaosFigure(fmt.Sprintf("kube-apiserver stopped 20 s mid-wait | 1 run | romanactl exited after %s naming the unreachable API server; %d revisions before, %d after, 0 lost",
		took.Round(time.Second), before, len(h)))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// chaosFigure appends a line to $ROMANACTL_CHAOS_OUT, which `make chaos` turns into
// the Faults table of docs/benchmarks.md.
func chaosFigure(line string) {
	p := os.Getenv("ROMANACTL_CHAOS_OUT")
	if p == "" {
		return
	}
	f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "| %s |\n", line)
}

// decodeRelease reads a release record as Helm's Secret driver stores it: base64 of
// gzipped JSON.
func decodeRelease(data []byte) (*release.Release, error) {
	b, err := base64.StdEncoding.DecodeString(string(data))
	if err != nil {
		return nil, err
	}
	if len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		if b, err = io.ReadAll(zr); err != nil {
			return nil, err
		}
	}
	var rel release.Release
	return &rel, json.Unmarshal(b, &rel)
}

// waitNodesUntainted waits until no node carries the lifecycle controller's
// not-ready/unreachable taints.
func waitNodesUntainted(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		nodes, err := shared.Client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		tainted := 0
		if err == nil {
			for _, n := range nodes.Items {
				for _, tn := range n.Spec.Taints {
					if tn.Key == "node.kubernetes.io/unreachable" || tn.Key == "node.kubernetes.io/not-ready" {
						tainted++
					}
				}
			}
		}
		if err == nil && tainted == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes still tainted after %s (%v)", timeout, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
