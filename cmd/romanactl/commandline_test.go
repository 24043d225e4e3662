package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/romana/romanactl/internal/lock"
)

// The command line a Lease records (and the "locked by" error and status show) keeps
// what the command does and never a credential or a connection flag.
func TestCommandLineRecordsNoCredential(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"plain", []string{"upgrade", "--tag=v0.9.3", "--timeout=60s"}, "upgrade --tag=v0.9.3 --timeout=1m0s"},
		{"proxy password and impersonation", []string{"upgrade", "--tag=v1", "--proxy-url=http://bob:s3cret@proxy:3128",
			"--as=admin", "--as-user-extra=scopes=s3cret", "--as-group=g", "--token=s3cret"}, "upgrade --tag=v1"},
		{"connection and paths", []string{"install", "--kubeconfig=/home/bob/s3cret", "--context=prod", "--server=https://s3cret",
			"--client-key=/s3cret", "--insecure-skip-tls-verify", "-n", "kube-system", "--request-timeout=5s"}, "install"},
		{"a URL with user information", []string{"install", "--chart=oci://bob:s3cret@registry.example.com/romana", "--set=a=https://s3cret@h/x"},
			"install --chart=oci://REDACTED@registry.example.com/romana --set=a=https://REDACTED@h/x"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := newRootCmd(nil, nil)
			cmd, rest, err := root.Find(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Fatal(err)
			}
			got := lock.CommandLine(commandLine(cmd, cmd.Flags().Args()))
			if got != tt.want {
				t.Errorf("recorded %q, want %q", got, tt.want)
			}
			if strings.Contains(got, "s3cret") {
				t.Errorf("a credential was recorded: %q", got)
			}
		})
	}
	// Every flag cli-runtime's ConfigFlags adds is left out, whatever its version adds.
	fs := pflag.NewFlagSet("kube", pflag.ContinueOnError)
	genericclioptions.NewConfigFlags(true).AddFlags(fs)
	fs.VisitAll(func(f *pflag.Flag) {
		if !kubeFlags[f.Name] {
			t.Errorf("--%s is recorded in the Lease", f.Name)
		}
	})
	for _, name := range []string{"proxy-url", "as-user-extra", "token"} {
		if !kubeFlags[name] {
			t.Errorf("--%s is recorded in the Lease", name)
		}
	}
}
