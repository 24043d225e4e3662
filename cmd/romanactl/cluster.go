package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/chart"

	"github.com/romana/romanactl/internal/install"
	"github.com/romana/romanactl/internal/lock"
	"github.com/romana/romanactl/internal/values"
)

// clusterFlags are shared by install and upgrade.
type clusterFlags struct {
	wait       bool
	timeout    time.Duration
	atomic     bool
	skip       []string
	pinDigests bool
	insecure   bool
}

func addClusterFlags(cmd *cobra.Command) *clusterFlags {
	f := &clusterFlags{}
	fs := cmd.Flags()
	fs.BoolVar(&f.wait, "wait", true, "wait until romana-services has ≥1 ready pod and romana-agent is ready on every node")
	addTimeoutFlag(fs, &f.timeout, 5*time.Minute, "how long to wait")
	fs.BoolVar(&f.atomic, "atomic", true, "on failure, undo: install removes what it created, upgrade rolls back to the last good revision")
	fs.StringArrayVar(&f.skip, "skip-check", nil, "acknowledge a ‼ pre-flight check by name (‼ checks only; can repeat)")
	fs.BoolVar(&f.pinDigests, "pin-digests", false, "resolve every image to its digest now and deploy name@sha256:…, so a re-pushed tag cannot change the cluster")
	fs.BoolVar(&f.insecure, "insecure", false, "allow plain-HTTP registries for --pin-digests and the images-exist check (loopback registries are plain HTTP without it)")
	return f
}

// clusterRun is what every cluster command starts from: the chart, the client, the
// environment (resolved against the cluster for --env=auto) and the values options.
type clusterRun struct {
	chart       *chart.Chart
	client      *install.Client
	env, reason string
	opts        values.Options
}

// setup loads the chart, builds the client and resolves the environment.
func (o *rootOptions) setup(cmd *cobra.Command, vf *valuesFlags) (*clusterRun, error) {
	ch, err := o.loadChart()
	if err != nil {
		return nil, err
	}
	c, err := o.client()
	if err != nil {
		return nil, err
	}
	env, reason, err := environment(cmd.Context(), c, vf.env)
	if err != nil {
		return nil, err
	}
	opts := vf.options(cmd.Flags())
	opts.Env = env
	opts.Hints.Cluster = c.LiveCluster(cmd.Context())
	return &clusterRun{chart: ch, client: c, env: env, reason: reason, opts: opts}, nil
}

// client builds the cluster client: the kubeconfig is read here, never before.
func (o *rootOptions) client() (*install.Client, error) {
	c, err := install.NewClient(o.kube, o.namespace(), o.out, o.debug)
	if err != nil {
		return nil, err
	}
	c.Command = lock.CommandLine(o.args)
	c.Version = version
	return c, nil
}

// environment resolves --env=auto against the cluster; any other value is used as given.
func environment(ctx context.Context, c *install.Client, env string) (string, string, error) {
	if env != "auto" {
		if env == "" {
			return "", "the release's stored values", nil
		}
		return env, "--env=" + env, nil
	}
	got, why, err := install.DetectEnv(ctx, c.Kube)
	if err != nil {
		return "", "", err
	}
	return got, "auto-detected: " + why, nil
}

func describeEnv(env, reason string) string {
	if env == "" {
		return reason
	}
	return fmt.Sprintf("%s (%s)", env, reason)
}
