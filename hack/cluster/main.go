// Command cluster runs the local control plane in the background for `make
// cluster-up`, `make cluster-down` and `make demo`, and works on its real nodes:
//
//	cluster up [--dir .cluster] [--bin bin] [--workers 3] [--k8s 1.37]
//	           [--real-nodes 0] [--runtime docker|containerd] [--romana-src DIR]
//	cluster down [--dir .cluster]
//	cluster exec [--dir .cluster] NODE -- CMD...
//	cluster pod add [--dir .cluster] [--timeout 2m] NODE NAME
//	cluster pod exec [--dir .cluster] NAME -- CMD...
//	cluster pod del [--dir .cluster] [--timeout 2m] NAME
//	cluster serve ...   (what up starts, detached)
//
// Exit codes: 0 success; 1 an operational failure; 2 a usage error; exec and pod exec
// exit with the command's own code.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/romana/romanactl/internal/testcluster"
	"github.com/romana/romanactl/internal/upstream"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	inv, err := parse(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		fmt.Fprintln(os.Stderr, usage)
		return 2
	}
	code, err := inv.do()
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		return 1
	}
	return code
}

func (inv invocation) do() (int, error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := inv.serve
	o.Log = os.Stdout
	if (inv.cmd == "up" || inv.cmd == "serve") && o.RealNodes > 0 && o.RomanaSrc == "" {
		src, err := upstream.RomanaSource()
		if err != nil {
			return 0, err
		}
		o.RomanaSrc = src
	}
	switch inv.cmd {
	case "up":
		self, err := os.Executable()
		if err != nil {
			return 0, err
		}
		// up returns once serve is ready; serve must not die with up's signals.
		stop()
		return 0, testcluster.Up(context.Background(), self, o, os.Stdout)
	case "serve":
		stop() // Serve handles SIGINT and SIGTERM itself, and stops the cluster.
		return 0, testcluster.Serve(context.Background(), o)
	case "down":
		return 0, testcluster.Down(inv.dir, os.Stdout)
	case "exec":
		return testcluster.Exec(ctx, inv.dir, testcluster.ExecRequest{Node: inv.node, Argv: inv.argv, Env: termEnv()}, os.Stdin, os.Stdout, os.Stderr)
	case "pod exec":
		return testcluster.Exec(ctx, inv.dir, testcluster.ExecRequest{Pod: inv.pod, Argv: inv.argv, Env: termEnv()}, os.Stdin, os.Stdout, os.Stderr)
	}
	cs, err := client(inv.dir)
	if err != nil {
		return 0, err
	}
	switch inv.cmd {
	case "pod add":
		ip, err := testcluster.AddPod(ctx, cs, inv.node, inv.pod, inv.timeout)
		if err != nil {
			return 0, err
		}
		fmt.Println(ip)
		return 0, nil
	case "pod del":
		if err := testcluster.DeletePod(ctx, cs, inv.pod, inv.timeout); err != nil {
			return 0, err
		}
		fmt.Printf("pod %s/%s deleted\n", testcluster.PodNamespace, inv.pod)
		return 0, nil
	}
	return 0, fmt.Errorf("unknown command %q", inv.cmd)
}

// termEnv passes the terminal type on, so that an interactive program draws right.
func termEnv() []string {
	if t := os.Getenv("TERM"); t != "" {
		return []string{"TERM=" + t}
	}
	return nil
}

func client(dir string) (kubernetes.Interface, error) {
	kc := dir + "/kubeconfig"
	if _, err := os.Stat(kc); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no cluster is up in %s (no kubeconfig): start one with `make cluster-up REAL_NODES=1`", dir)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kc, err)
	}
	return kubernetes.NewForConfig(cfg)
}
