// Command benchscale is `make bench-scale`: romanactl at 10, 100 and 1,000 simulated
// worker nodes on the local control plane. For each size it starts a cluster, runs
// check --pre, install --wait, status, an --tag upgrade --wait and uninstall as
// processes of the real binary, and measures each one's wall time, peak RSS (wait4),
// and API requests (romanactl --debug logs every request; counted in all and during
// the wait), and for install and upgrade the wait's detection lag: from the moment a
// separate watch sees both DaemonSets' status fully ready at their new generation to
// the moment romanactl prints "ready:". It writes a Markdown section to -o.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/romana/romanactl/internal/testcluster"
)

// The scale runs use a tag of no known Romana line, with --nodes=1024: v0.9.3's
// services fix the plan at 256 nodes, and the plan-capacity check refuses a larger
// cluster for it (rightly). Nothing pulls these images; kwok runs no containers.
const (
	installTag = "v0.9.4-scale"
	upgradeTag = "v0.9.5-scale"
)

var requestRE = regexp.MustCompile(`^debug \S+ (GET|POST|PUT|PATCH|DELETE|HEAD) `)

type step struct {
	name                   string
	wall                   time.Duration
	rssKB                  int64
	requests, waitRequests int
	lag                    time.Duration
	hasWait, lagSeen       bool
	exit                   int
}

func main() {
	binDir := flag.String("bin", "bin", "control-plane binaries (make controlplane)")
	romanactl := flag.String("romanactl", "bin/romanactl", "the romanactl binary")
	sizes := flag.String("sizes", "10,100,1000", "worker node counts")
	out := flag.String("o", "", "write the Markdown section here (default stdout)")
	flag.Parse()
	var results = map[int][]step{}
	var order []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			fatal("bad size %q", s)
		}
		order = append(order, n)
		steps, err := runSize(*binDir, *romanactl, n)
		if err != nil {
			fatal("%d nodes: %v", n, err)
		}
		results[n] = steps
	}
	md := render(order, results) + "\n" + goals(order, results)
	if *out == "" {
		fmt.Print(md)
		return
	}
	if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
		fatal("%v", err)
	}
}

func runSize(binDir, romanactl string, workers int) ([]step, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "romanactl-scale-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	// A /14 pod range: kube-controller-manager gives each node a /24, and 1,001 nodes
	// need more than kubeadm's /16 holds.
	c, err := testcluster.Start(ctx, testcluster.Options{BinDir: binDir, Dir: dir, Workers: workers, ClusterCIDR: "10.0.0.0/14"})
	if err != nil {
		return nil, err
	}
	defer c.Stop()
	nodes := workers + 1
	fmt.Fprintf(os.Stderr, "scale %d: cluster of %d nodes up in %.0fs\n", workers, nodes, time.Since(start).Seconds())
	kc := "--kubeconfig=" + c.KubeconfigPath
	common := []string{kc, "--debug"}
	flags := []string{"--nodes=1024", "--skip-check", "images-exist", "--skip-check", "romana-compat"}
	var steps []step
	runStep := func(name string, waitTag string, args ...string) error {
		var readyAt chan time.Time
		stopWatch := func() {}
		if waitTag != "" {
			readyAt, stopWatch = watchReady(ctx, c, nodes, waitTag)
		}
		s, romanactlReady, err := runRomanactl(romanactl, append(args, common...))
		stopWatch()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		s.name = name
		if waitTag != "" {
			s.hasWait = true
			select {
			case t := <-readyAt:
				s.lag, s.lagSeen = romanactlReady.Sub(t), !romanactlReady.IsZero()
			default:
			}
		}
		fmt.Fprintf(os.Stderr, "scale %d: %-12s %6.2fs  %4d MB  %4d requests (%d in the wait)  lag %v\n", workers, name, s.wall.Seconds(), s.rssKB/1024, s.requests, s.waitRequests, s.lag)
		steps = append(steps, s)
		return nil
	}
	for _, st := range []struct {
		name, tag string
		args      []string
	}{
		{"check --pre", "", append([]string{"check", "--pre", "--tag=" + installTag}, flags...)},
		{"install --wait", installTag, append([]string{"install", "--tag=" + installTag, "--wait", "--timeout=15m"}, flags...)},
		{"status", "", []string{"status"}},
		{"upgrade --tag", upgradeTag, append([]string{"upgrade", "--tag=" + upgradeTag, "--wait", "--timeout=30m"}, flags[1:]...)},
		{"uninstall", "", []string{"uninstall", "--timeout=10m"}},
	} {
		if err := runStep(st.name, st.tag, st.args...); err != nil {
			return steps, err
		}
	}
	return steps, nil
}

// runRomanactl runs the binary with stdout and stderr on one pipe, so the debug lines
// (stderr) and the progress lines (stdout) keep their order, and notes when "ready:"
// was printed.
func runRomanactl(bin string, args []string) (step, time.Time, error) {
	cmd := exec.Command(bin, args...)
	pr, pw, err := os.Pipe()
	if err != nil {
		return step{}, time.Time{}, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return step{}, time.Time{}, err
	}
	pw.Close()
	var s step
	var ready time.Time
	inWait := false
	var tail []string
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		if requestRE.MatchString(line) {
			s.requests++
			if inWait {
				s.waitRequests++
			}
			continue
		}
		if strings.Contains(line, "waiting for Romana") {
			inWait = true
		}
		if strings.Contains(line, "ready: ") && ready.IsZero() {
			ready, inWait = time.Now(), false
		}
		if !strings.HasPrefix(line, "debug ") {
			tail = append(tail, line)
			if len(tail) > 15 {
				tail = tail[1:]
			}
		}
	}
	_, _ = io.Copy(io.Discard, pr)
	err = cmd.Wait()
	s.wall = time.Since(start)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.rssKB = ru.Maxrss
	}
	s.exit = cmd.ProcessState.ExitCode()
	if err != nil {
		return s, ready, fmt.Errorf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, strings.Join(tail, "\n"))
	}
	return s, ready, nil
}

// watchReady watches the DaemonSets from outside romanactl and sends the first moment
// both are fully rolled out with tag: every pod ready and updated at the current
// generation, romana-agent on every node.
func watchReady(ctx context.Context, c *testcluster.Cluster, nodes int, tag string) (chan time.Time, func()) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan time.Time, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		state := map[string]*appsv1.DaemonSet{}
		done := func() bool {
			a, s := state["romana-agent"], state["romana-services"]
			ok := func(d *appsv1.DaemonSet, want int32) bool {
				if d == nil || !hasTag(d, tag) {
					return false
				}
				st := d.Status
				return st.ObservedGeneration >= d.Generation && st.DesiredNumberScheduled >= want && st.NumberReady == st.DesiredNumberScheduled && st.UpdatedNumberScheduled == st.DesiredNumberScheduled
			}
			return ok(a, int32(nodes)) && ok(s, 1)
		}
		for ctx.Err() == nil {
			w, err := c.Client.AppsV1().DaemonSets("kube-system").Watch(ctx, metav1.ListOptions{})
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				d, ok := ev.Object.(*appsv1.DaemonSet)
				if !ok {
					continue
				}
				if ev.Type == watch.Deleted {
					delete(state, d.Name)
				} else {
					state[d.Name] = d
				}
				if done() {
					ch <- time.Now()
					w.Stop()
					return
				}
			}
		}
	}()
	return ch, func() { cancel(); wg.Wait() }
}

func hasTag(d *appsv1.DaemonSet, tag string) bool {
	for _, c := range d.Spec.Template.Spec.Containers {
		if strings.HasSuffix(c.Image, ":"+tag) {
			return true
		}
	}
	return false
}

func render(order []int, results map[int][]step) string {
	var b strings.Builder
	b.WriteString("| workers | command | wall | peak RSS | API requests (all / in the wait) | wait's detection lag |\n|---|---|---|---|---|---|\n")
	for _, n := range order {
		for _, s := range results[n] {
			reqs := strconv.Itoa(s.requests)
			lag := "—"
			if s.hasWait {
				reqs += fmt.Sprintf(" / %d", s.waitRequests)
				lag = fmt.Sprintf("%d ms", s.lag.Milliseconds())
				if !s.lagSeen {
					lag = "not seen"
				}
			}
			fmt.Fprintf(&b, "| %d | `%s` | %.2f s | %d MB | %s | %s |\n", n, s.name, s.wall.Seconds(), s.rssKB/1024, reqs, lag)
		}
	}
	return b.String()
}

// goals judges the goals at the largest size against the smallest.
func goals(order []int, results map[int][]step) string {
	small, large := order[0], order[len(order)-1]
	get := func(n int, name string) step {
		for _, s := range results[n] {
			if s.name == name {
				return s
			}
		}
		return step{}
	}
	peak := func(n int) int64 {
		var m int64
		for _, s := range results[n] {
			m = max(m, s.rssKB)
		}
		return m
	}
	mark := func(ok bool) string {
		if ok {
			return "✓"
		}
		return "✗"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| goal at %d workers | measured | |\n|---|---|---|\n", large)
	for _, name := range []string{"install --wait", "upgrade --tag"} {
		s := get(large, name)
		fmt.Fprintf(&b, "| `%s`: detection lag ≤ 1 s | %d ms | %s |\n", name, s.lag.Milliseconds(), mark(s.lagSeen && s.lag <= time.Second))
	}
	for _, name := range []string{"install --wait", "upgrade --tag"} {
		a, z := get(small, name), get(large, name)
		growth := float64(z.waitRequests) / float64(max(a.waitRequests, 1))
		nodes := float64(large+1) / float64(small+1)
		fmt.Fprintf(&b, "| `%s`: requests during the wait grow sub-linearly with nodes | %d → %d (×%.1f for ×%.0f nodes) | %s |\n",
			name, a.waitRequests, z.waitRequests, growth, nodes, mark(growth < nodes))
	}
	for _, name := range []string{"check --pre", "status"} {
		s := get(large, name)
		fmt.Fprintf(&b, "| `%s` ≤ 2 s | %.2f s | %s |\n", name, s.wall.Seconds(), mark(s.wall <= 2*time.Second))
	}
	ps, pl := peak(small), peak(large)
	fmt.Fprintf(&b, "| peak RSS ≤ 1.5× the peak at %d workers | %d MB vs %d MB (×%.2f) | %s |\n", small, pl/1024, ps/1024, float64(pl)/float64(max(ps, 1)), mark(float64(pl) <= 1.5*float64(ps)))
	in, up := get(large, "install --wait"), get(large, "upgrade --tag")
	fmt.Fprintf(&b, "| `upgrade --tag` (default strategy, 10%%) ≤ 3× `install --wait` | %.1f s vs %.1f s (×%.1f) | %s |\n", up.wall.Seconds(), in.wall.Seconds(), up.wall.Seconds()/in.wall.Seconds(), mark(up.wall <= 3*in.wall))
	return b.String()
}

func fatal(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "benchscale: "+f+"\n", a...)
	os.Exit(1)
}
