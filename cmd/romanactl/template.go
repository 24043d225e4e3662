package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/romana/romanactl/internal/install"
	"github.com/romana/romanactl/internal/render"
	"github.com/romana/romanactl/internal/values"
)

func newTemplateCmd(o *rootOptions) *cobra.Command {
	var vf *valuesFlags
	cmd := &cobra.Command{
		Use:   "template",
		Short: "Print the rendered manifests, like helm template (no cluster needed)",
		Long: `Print the manifests an install would apply, rendered locally like
'helm template romana ./chart -n kube-system'. Values are validated first: nothing is
printed when any is invalid.

With --services-as=static-pod, romana-services is not part of the release; the Pod
manifest for /etc/kubernetes/manifests is printed last, and how to give it the
datastore password goes to stderr.`,
		Example: `  romanactl template --env=kubeadm
  romanactl template --env=custom --cidr=10.112.0.0/12 --cluster-ip=10.0.0.99 --cluster-ip-cidr=10.0.0.0/16
  romanactl template --services-as=static-pod > romana.yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := vf.resolve(cmd, o)
			if err != nil {
				return err
			}
			ch, err := o.loadChart()
			if err != nil {
				return err
			}
			r, err := render.Render(ch, res.Supplied, render.RenderOptions{Namespace: o.namespace(), Validated: true, CrossFieldChecked: o.embeddedChart()})
			if err != nil {
				return err
			}
			fmt.Fprint(o.out, r.Manifest)
			if r.StaticPod != "" {
				fmt.Fprintf(o.out, "---\n%s", r.StaticPod)
				fmt.Fprint(o.errOut, staticPodHelp(res.Effective, o.namespace()))
			}
			return nil
		},
	}
	vf = addValuesFlags(cmd, o, "kubeadm")
	return cmd
}

func staticPodHelp(vals map[string]any, ns string) string {
	file := lookupString(vals, "services.passwordFile")
	secret := lookupString(vals, "datastore.existingSecret")
	if secret == "" {
		secret = install.PasswordSecret
	}
	step := 2
	var b strings.Builder
	fmt.Fprintf(&b, `romana-services as a static Pod: the last document above is not part of the release.
On each control-plane node:
  1. write the datastore password to %[1]s (mode 0600). After install, copy the
     generated one from the release's Secret:
       kubectl -n %[2]s get secret %[3]s -o jsonpath='{.data.password}' | base64 -d > %[1]s
       chmod 0600 %[1]s
`, file, ns, secret)
	if enabled, _ := values.Lookup(vals, "apiProxy.enabled"); enabled == true {
		// A static Pod has no ServiceAccount: the proxy needs the romana-services
		// ServiceAccount's credentials in a host kubeconfig.
		fmt.Fprintf(&b, `  %[1]d. write a kubeconfig for the API proxy to %[2]s (mode 0600) with the
     romana-services ServiceAccount's token, the cluster's CA and the API server's address:
       kubectl -n %[3]s create token romana-services --duration=8760h
     (renew it before it expires, then restart the pod)
`, step, lookupString(vals, "apiProxy.kubeconfigFile"), ns)
		step++
	}
	fmt.Fprintf(&b, "  %d. save the Pod document as /etc/kubernetes/manifests/romana-services.yaml\n", step)
	return b.String()
}
