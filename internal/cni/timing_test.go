package cni

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAddDelTiming times ADD and DEL over 100 pods against the fake Romana services in
// network namespaces: in-process (with the time of each step) and as the built binary
// that a runtime execs. It prints median and p99; the fakes answer at once, so this is
// the plugin's own cost (netlink, HTTP, process start), not Romana's.
//
//	go test -run TestAddDelTiming -v ./internal/cni
func TestAddDelTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED in -short: 100 pods, twice (go test -run TestAddDelTiming -v ./internal/cni)")
	}
	const pods = 100
	n := newNode(t)
	var ln net.Listener
	var lerr error
	n.in(t, func() { ln, lerr = net.Listen("tcp", "127.0.0.1:0") })
	if lerr != nil {
		t.Fatal(lerr)
	}
	f := newFakeRomana(t, ln) // in the node's namespace, for the binary
	inproc := newFakeRomana(t, nil)
	bin := buildPlugin(t)

	var mu sync.Mutex
	steps := map[string][]time.Duration{}
	p := &Plugin{Hostname: "node-1", Observe: func(step string, d time.Duration) {
		mu.Lock()
		steps[step] = append(steps[step], d)
		mu.Unlock()
	}}
	var add, del []time.Duration
	for i := 0; i < pods; i++ {
		a := cmdArgs(inproc.conf("1.0.0"), newNetnsPod(t), fmt.Sprintf("pod-%d", i))
		t0 := time.Now()
		if _, err := n.call(t, p, "ADD", a); err != nil {
			t.Fatalf("ADD %d: %v", i, err)
		}
		add = append(add, time.Since(t0))
		t0 = time.Now()
		if _, err := n.call(t, p, "DEL", a); err != nil {
			t.Fatalf("DEL %d: %v", i, err)
		}
		del = append(del, time.Since(t0))
	}
	t.Logf("in-process, %d pods: ADD %s, DEL %s", pods, stats(add), stats(del))
	for _, s := range []string{"gateway", "root", "ipam", "veth", "isolation", "agent", "veth-del"} {
		t.Logf("  step %-9s (%3d calls): %s", s, len(steps[s]), stats(steps[s]))
	}

	add, del = nil, nil
	for i := 0; i < pods; i++ {
		pod := newNetnsPod(t)
		id := uniq("c0ffee")
		for _, c := range []string{"ADD", "DEL"} {
			var err error
			var out bytes.Buffer
			t0 := time.Now()
			n.in(t, func() {
				cmd := exec.Command(bin)
				cmd.Env = []string{"CNI_COMMAND=" + c, "CNI_CONTAINERID=" + id, "CNI_NETNS=" + pod, "CNI_IFNAME=eth0", "CNI_PATH=/opt/cni/bin",
					"CNI_ARGS=K8S_POD_NAMESPACE=default;K8S_POD_NAME=" + fmt.Sprintf("pod-%d", i), "HOSTNAME=node-1"}
				cmd.Stdin, cmd.Stdout = bytes.NewReader(f.conf("1.0.0")), &out
				err = cmd.Run()
			})
			d := time.Since(t0)
			if err != nil {
				t.Fatalf("binary %s %d: %v: %s", c, i, err, out.String())
			}
			if c == "ADD" {
				add = append(add, d)
			} else {
				del = append(del, d)
			}
		}
	}
	t.Logf("the binary, exec'd, %d pods: ADD %s, DEL %s", pods, stats(add), stats(del))
	if v := n.podVeths(t); len(v) > 0 || len(f.allocated())+len(inproc.allocated()) > 0 {
		t.Errorf("left after the runs: links %v, ipam %v %v", v, f.allocated(), inproc.allocated())
	}
}

func stats(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	p99 := s[(len(s)*99+99)/100-1]
	return fmt.Sprintf("median %s, p99 %s", round(s[len(s)/2]), round(p99))
}

func round(d time.Duration) string {
	return strings.TrimSuffix(d.Round(10*time.Microsecond).String(), "0s")
}
