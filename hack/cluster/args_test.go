package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		args    string
		cmd     string
		node    string
		pod     string
		argv    []string
		real    int
		runtime string
		workers int
		dir     string
		timeout time.Duration
		wantErr string
	}{
		{name: "up defaults", args: "up", cmd: "up", runtime: "docker", workers: 3, dir: ".cluster"},
		{name: "up real nodes", args: "up --dir d --workers 0 --real-nodes 2 --runtime containerd", cmd: "up", real: 2, runtime: "containerd", dir: "d"},
		{name: "exec", args: "exec worker-0 -- ip -4 addr show eth0", cmd: "exec", node: "worker-0", argv: []string{"ip", "-4", "addr", "show", "eth0"}, dir: ".cluster"},
		{name: "exec with dir", args: "exec --dir x control-plane-0 -- ip route", cmd: "exec", node: "control-plane-0", argv: []string{"ip", "route"}, dir: "x"},
		{name: "exec, a -- in the command stays", args: "exec worker-0 -- sh -c -- true", cmd: "exec", node: "worker-0", argv: []string{"sh", "-c", "--", "true"}, dir: ".cluster"},
		{name: "pod add", args: "pod add --timeout 30s worker-1 a", cmd: "pod add", node: "worker-1", pod: "a", dir: ".cluster", timeout: 30 * time.Second},
		{name: "pod add default timeout", args: "pod add worker-1 a", cmd: "pod add", node: "worker-1", pod: "a", dir: ".cluster", timeout: 2 * time.Minute},
		{name: "pod exec", args: "pod exec a -- ping -c1 10.0.0.1", cmd: "pod exec", pod: "a", argv: []string{"ping", "-c1", "10.0.0.1"}, dir: ".cluster"},
		{name: "pod del", args: "pod del a", cmd: "pod del", pod: "a", dir: ".cluster", timeout: 2 * time.Minute},

		{name: "no command", args: "", wantErr: "no command"},
		{name: "unknown", args: "start", wantErr: `unknown command "start"`},
		{name: "unknown pod verb", args: "pod list", wantErr: `unknown command "list"`},
		{name: "pod alone", args: "pod", wantErr: "pod: give add, exec or del"},
		{name: "exec without node", args: "exec -- ip route", wantErr: `exec takes NODE, got []`},
		{name: "exec without --", args: "exec worker-0 ip route", wantErr: "put the command after --, e.g. cluster exec worker-0 -- ip route"},
		{name: "exec without command", args: "exec worker-0 --", wantErr: "give the command to run after --"},
		{name: "exec without anything", args: "exec worker-0", wantErr: "give the command to run after --"},
		{name: "pod add one operand", args: "pod add worker-0", wantErr: `pod add takes NODE NAME, got ["worker-0"]`},
		{name: "pod del with command", args: "pod del a -- rm", wantErr: "pod del takes no command after --"},
		{name: "up with operand", args: "up 3", wantErr: `up takes no operands, got ["3"]`},
		{name: "up bad flag", args: "up --real 2", wantErr: "up: flag provided but not defined: -real"},
		{name: "exec flag unknown there", args: "exec --timeout 1s worker-0 -- true", wantErr: "exec: flag provided but not defined: -timeout"},
		{name: "negative timeout", args: "pod del --timeout -1s a", wantErr: "pod del --timeout -1s: must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("ROMANA_SRC", "")
			inv, err := parse(strings.Fields(tt.args))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse(%q) = %v, want an error with %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse(%q): %v", tt.args, err)
			}
			if inv.cmd != tt.cmd || inv.node != tt.node || inv.pod != tt.pod || !slices.Equal(inv.argv, tt.argv) || inv.dir != tt.dir || inv.timeout != tt.timeout {
				t.Errorf("parse(%q) = cmd %q node %q pod %q argv %q dir %q timeout %s", tt.args, inv.cmd, inv.node, inv.pod, inv.argv, inv.dir, inv.timeout)
			}
			if o := inv.serve; o.RealNodes != tt.real || o.Runtime != tt.runtime || o.Workers != tt.workers || (tt.cmd == "up" && o.Dir != tt.dir) {
				t.Errorf("parse(%q) serve options = %+v", tt.args, o)
			}
		})
	}
}
