package testcluster

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The state a serve process publishes is what bin/cluster exec and cluster down read
// back from another process: it must survive the round trip whole.
func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	st := State{Socket: filepath.Join(dir, controlSocket), SwitchNetNS: "romanactl-switch-abc123", Nodes: []NodeState{
		{Name: "control-plane-0", IP: "172.18.0.10", NetNS: "romanactl-control-plane-0-aaaaaa", Root: "/tmp/x/root", Runtime: RuntimeDocker},
		{Name: "worker-0", IP: "172.18.0.11", NetNS: "romanactl-worker-0-bbbbbb", Root: "/tmp/y/root", Runtime: RuntimeDocker},
	}}
	if err := WriteState(dir, st); err != nil {
		t.Fatal(err)
	}
	got, err := ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, st) {
		t.Fatalf("read back %+v\nwrote     %+v", got, st)
	}
	if want := []string{"romanactl-switch-abc123", "romanactl-control-plane-0-aaaaaa", "romanactl-worker-0-bbbbbb"}; !reflect.DeepEqual(st.NetNSes(), want) {
		t.Errorf("NetNSes() = %q, want %q", st.NetNSes(), want)
	}
	if n, err := st.Node("worker-0"); err != nil || n.NetNS != "romanactl-worker-0-bbbbbb" {
		t.Errorf("Node(worker-0) = %+v, %v", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile+".tmp")); err == nil {
		t.Error("the temporary file of the atomic write is left behind")
	}
}

func TestStateErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadState(dir); err == nil || !strings.Contains(err.Error(), "make cluster-up") {
		t.Errorf("ReadState of an empty dir: %v, want the fix (make cluster-up)", err)
	}
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadState(dir); err == nil || !strings.Contains(err.Error(), "make cluster-down") {
		t.Errorf("ReadState of a broken file: %v, want the fix (make cluster-down)", err)
	}
	st := State{Nodes: []NodeState{{Name: "control-plane-0"}, {Name: "worker-0"}}}
	if _, err := st.Node("worker-3"); err == nil || !strings.Contains(err.Error(), "the real ones are control-plane-0, worker-0") {
		t.Errorf("Node(worker-3): %v, want the list of real nodes", err)
	}
	if _, err := (State{}).Node("worker-0"); err == nil || !strings.Contains(err.Error(), "REAL_NODES=1") {
		t.Errorf("Node on a cluster without real nodes: %v, want how to start some", err)
	}
}

func TestServeOptionsCheck(t *testing.T) {
	bin := t.TempDir()
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(bin, "romana-v0.9.3.5"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"romana-v0.9.3.5/.stamp", "kubectl"} {
		if err := os.WriteFile(filepath.Join(bin, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(src, "romana", "containerize", "targets"), 0o755); err != nil {
		t.Fatal(err)
	}
	valid := func() ServeOptions {
		return ServeOptions{Options: Options{BinDir: bin, Workers: 3}, RealNodes: 2, Runtime: RuntimeContainerd, RomanaSrc: src}
	}
	tests := []struct {
		name    string
		mutate  func(*ServeOptions)
		wantErr []string
	}{
		{name: "valid", mutate: func(*ServeOptions) {}},
		{name: "no real nodes needs no Romana", mutate: func(o *ServeOptions) { o.RealNodes, o.RomanaSrc, o.BinDir = 0, "", "/nonexistent" }},
		{name: "runtime", mutate: func(o *ServeOptions) { o.Runtime = "cri-o" }, wantErr: []string{`--runtime "cri-o": a real node emulates docker or containerd`}},
		{name: "negative", mutate: func(o *ServeOptions) { o.RealNodes, o.Workers = -1, -2 }, wantErr: []string{"--real-nodes -1", "--workers -2"}},
		{name: "no sources", mutate: func(o *ServeOptions) { o.RomanaSrc = "" }, wantErr: []string{"set ROMANA_SRC"}},
		{name: "not Romana's sources", mutate: func(o *ServeOptions) { o.RomanaSrc = bin }, wantErr: []string{"--romana-src " + bin + " is not Romana's v0.9.3.5 tree"}},
		{name: "programs not built, and every problem at once", mutate: func(o *ServeOptions) { o.BinDir, o.RomanaSrc = t.TempDir(), bin },
			wantErr: []string{"run `make romana-bin`", "kubectl is missing", "is not Romana's v0.9.3.5 tree"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := valid()
			tt.mutate(&o)
			err := o.Check()
			if os.Geteuid() != 0 && o.RealNodes > 0 {
				tt.wantErr = append(tt.wantErr, "real nodes need root")
			}
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Check() = %v, want nil", err)
				}
				return
			}
			for _, w := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Check() = %v, want an error with %q", err, w)
				}
			}
		})
	}
}
