package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/romana/romanactl/internal/install"
	"github.com/romana/romanactl/internal/migrate"
	"github.com/romana/romanactl/internal/render"
	"github.com/romana/romanactl/internal/values"
)

func newMigrateCmd(o *rootOptions) *cobra.Command {
	var dryRun, force bool
	var output string
	cf := &clusterFlags{}
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Take over an install made with kubectl apply of the original manifests, in place, as release romana",
		Long: `Find romana-services (a DaemonSet, or a static Pod's mirror Pod), romana-agent and
romana-root in the namespace (an install made from the original 2016/2017 manifests,
belonging to no Helm release; one kept through cluster upgrades is served as apps/v1
today and read live), derive the chart values from what runs (args, the Service's
clusterIP, images, the nodeSelector) and the datastore password the data on the hosts
was initialised with, then take the objects over in place as revision 1 of release
romana, and print what it did: the objects taken over (and the fields that changed in
each), the objects created, the live settings replaced or dropped.

--dry-run prints that plan and the values (each with the live field it came from) and
writes nothing; -o diff prints each object's diff (the live object against the API
server's dry run of Helm's adoption patch, the password masked). The chart's hooks
(the pre-delete romana-cleanup* node cleanup, the test Pod romana-test-root) are not
created: Helm runs them only at uninstall and helm test.

The DaemonSets and the Service keep their UIDs and clusterIP, no Pod is deleted beyond
a normal rolling update, and kubectl's last-applied annotation, which holds the
plain-text password of a 2016 install, is removed, as are the DaemonSet's old
revisions that hold it. Anything that cannot be mapped (an unknown arg, an empty
boolean, container, volume or env, an agent image on another registry or tag than the
services image) is named and refused (exit 2); --force drops it, listing it. A static
Pod belongs to the kubelet: it is left as it is and out of the release
(services.deploy=staticPod). migrate asks no questions: --dry-run is how a person
previews it. A cluster without Romana needs no migrate: use install.`,
		Example: `  romanactl migrate --dry-run
  romanactl migrate --dry-run -o yaml > values-from-2016.yaml
  romanactl migrate -o diff
  romanactl migrate`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "" && output != "yaml" && output != "diff" {
				return values.Inputf("-o %q: migrate prints the plan (no -o), the derived values as a values file (-o yaml) or each object's diff (-o diff); give one of those", output)
			}
			if err := install.CheckSkips(cf.skip); err != nil {
				return err
			}
			ctx := cmd.Context()
			ch, err := o.loadChart()
			if err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			found, err := c.FindManifestInstall(ctx)
			if err != nil {
				return err
			}
			d := migrate.Derive(found)
			if len(d.Unknown) > 0 && !force {
				return values.Inputf("cannot map %d item(s) of the live install to the chart:\n  - %s\nnothing was changed; --force drops them", len(d.Unknown), strings.Join(d.Unknown, "\n  - "))
			}
			if err := install.SelectorsMatch(found); err != nil {
				return err
			}
			if d.Password == "" {
				return values.Inputf("no datastore password found in romana-services (env MYSQL_ROOT_PASSWORD, plain or from a Secret): the data on the hosts was initialised with one, and a new one would lock romana-services out")
			}
			opts := values.Options{Env: d.Env, Overrides: map[string]any{}}
			for _, v := range d.Values {
				if v.Key != "environment" {
					opts.Overrides[v.Key] = v.Value
				}
			}
			res, err := values.Resolve(ch, opts)
			if err != nil {
				return fmt.Errorf("the derived values do not validate: %w", err)
			}
			if output == "yaml" {
				fmt.Fprint(o.out, valuesWithSources(d))
				return nil
			}
			r, err := render.Render(ch, res.Supplied, render.RenderOptions{Namespace: c.Namespace, Validated: true})
			if err != nil {
				return err
			}
			plan, err := c.TakeOverDiff(ctx, r.Manifest, nodeSelector(res.Effective), d.Password, cniPlugin(res.Effective))
			if err != nil {
				return err
			}
			if output == "diff" {
				for _, df := range plan.Diffs {
					fmt.Fprintf(o.out, "# %s %s\n%s", df.Object, df.Change, df.Diff)
				}
				fmt.Fprintln(o.out, "# -o diff: nothing was written")
				return nil
			}
			fmt.Fprintf(o.out, "Found a manifest install in %s (environment %s).\n", c.Namespace, d.Env)
			if dryRun {
				fmt.Fprintf(o.out, "Plan: take it over in place as revision 1 of release %s.\n", install.ReleaseName)
				printTakeOver(o.out, plan, d, false)
				fmt.Fprintln(o.out, "Values, with the live field each came from:")
				fmt.Fprint(o.out, indent(valuesWithSources(d)))
			}
			if found.StaticPod != nil {
				fmt.Fprintf(o.out, "Kept as it is: romana-services runs as a static Pod on %s (mirror Pod %s/%s): the kubelet owns it, so the release leaves it out (services.deploy=staticPod). "+
					"To move it to the chart's static Pod form later, replace the manifest file with the output of `romanactl template --services-as=static-pod`.\n", found.StaticPod.Spec.NodeName, found.StaticPod.Namespace, found.StaticPod.Name)
				if d.PasswordPlain {
					// No request can change a mirror Pod: only the file on the master can.
					pwFile, _ := values.Lookup(res.Effective, "services.passwordFile")
					fmt.Fprintf(o.out, "Warning: the static Pod's manifest file keeps the datastore password in plain text (env MYSQL_ROOT_PASSWORD), and its mirror Pod %s/%s shows it "+
						"to anyone who may read Pods in %s; migrate cannot change it. The chart's static Pod form reads it from a file instead: on each control-plane node "+
						"write the password to %v (services.passwordFile, mode 0600), then replace the manifest file with the output of `romanactl template --services-as=static-pod`.\n",
						found.StaticPod.Namespace, found.StaticPod.Name, c.Namespace, pwFile)
				}
			}
			if dryRun {
				fmt.Fprintln(o.out, "Dry run: nothing was written. `romanactl migrate -o diff` prints each object's diff, `-o yaml` the values as a values file.")
				return nil
			}
			c.Progress = o.out
			inst, err := c.Install(ctx, install.InstallOptions{Chart: ch, Resolved: res, Env: d.Env, EnvReason: "derived from the live install",
				Wait: cf.wait, Timeout: cf.timeout, Skip: cf.skip, Adopt: true,
				BeforeApply: func(ctx context.Context) error {
					if err := c.WritePasswordSecret(ctx, d.Password); err != nil {
						return err
					}
					return c.PrepareTakeOver(ctx, nodeSelector(res.Effective), cniPlugin(res.Effective))
				}})
			// Once PrepareTakeOver has run, the old revisions only keep the password, even
			// when the install then failed (a wait that timed out, say).
			n, derr := c.DropPasswordRevisions(ctx)
			if n > 0 {
				fmt.Fprintf(o.out, "Deleted %d ControllerRevision(s) of romana-services from before the take-over: they held the datastore password in plain text "+
					"(`kubectl rollout undo` cannot go back to them, which would undo the take-over).\n", n)
			}
			if derr != nil {
				derr = fmt.Errorf("the DaemonSet history still holds the password in plain text: %w; "+
					"delete the ControllerRevisions of romana-services from before the take-over (kubectl -n %s get controllerrevisions -l app=romana-services)", derr, c.Namespace)
			}
			if err != nil {
				if derr != nil {
					return errors.Join(err, derr)
				}
				return err
			}
			fmt.Fprintf(o.out, "Migrated: release %s, revision %d, %s, in %s. What migrate did:\n",
				inst.Release.Name, inst.Release.Version, inst.Release.Info.Status, inst.Release.Namespace)
			printTakeOver(o.out, plan, d, true)
			if derr != nil {
				return fmt.Errorf("the take-over is done, but %w", derr)
			}
			fmt.Fprintf(o.out, "The datastore password is still the one from %s. To rotate it, change it in MySQL first (in the romana-datastore container: "+
				"mysqladmin -u root -p password), then put the new one in Secret %s/%s, then restart romana-services.\n", d.PasswordSource, c.Namespace, install.PasswordSecret)
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan and the derived values; write nothing")
	cmd.Flags().BoolVar(&force, "force", false, "drop what cannot be mapped (listed) instead of refusing")
	cmd.Flags().StringVarP(&output, "output", "o", "", "yaml: print only the derived values, as a values file with each one's source; diff: print only each object's diff, live against after migrate; either writes nothing")
	cmd.Flags().BoolVar(&cf.wait, "wait", true, "wait until Romana is ready after the take-over")
	addTimeoutFlag(cmd.Flags(), &cf.timeout, 5*time.Minute, "how long to wait")
	cmd.Flags().StringArrayVar(&cf.skip, "skip-check", nil, "acknowledge a ‼ pre-flight check by name")
	return cmd
}

// printTakeOver prints what migrate does (the plan of a dry run) or did (done): the
// objects it takes over and the fields that change in each, the objects it creates, the
// live settings it replaces or drops, and what it removes. The chart's hooks are never
// among them: an install creates none.
func printTakeOver(w io.Writer, plan *install.TakeOverPlan, d *migrate.Derived, done bool) {
	tense := func(now, past string) string {
		if done {
			return past
		}
		return now
	}
	fmt.Fprintf(w, "  %s in place (each keeps its UID; romana-root keeps its clusterIP):\n", tense("Take over", "Took over"))
	for _, a := range plan.Adopted {
		changes := "no field"
		if len(a.Changes) > 0 {
			changes = changeList(a.Changes)
		}
		fmt.Fprintf(w, "    %s: %s %s\n", a.Object, tense("changes", "changed"), changes)
		if a.Refused != "" {
			fmt.Fprintf(w, "    ✗ %s: refused by the API server's dry run: %s; migrate would stop here\n", a.Object, a.Refused)
		}
	}
	if len(plan.Created) > 0 {
		fmt.Fprintf(w, "  %s: %s\n", tense("Create", "Created"), strings.Join(plan.Created, ", "))
	}
	fmt.Fprintf(w, "  %s Secret %s with the datastore password from %s.\n", tense("Write", "Wrote"), install.PasswordSecret, d.PasswordSource)
	for _, x := range d.Dropped {
		fmt.Fprintf(w, "  %s: %s\n", tense("Replace", "Replaced"), x)
	}
	for _, x := range d.Unknown {
		fmt.Fprintf(w, "  %s (--force): %s\n", tense("Drop", "Dropped"), x)
	}
	revisions := ""
	if !done && slices.ContainsFunc(plan.Adopted, func(a install.AdoptedObject) bool { return a.Object == "DaemonSet/romana-services" }) {
		// Once done, the command says how many it deleted.
		revisions = ", and the ControllerRevisions of romana-services from before the take-over, which hold it too"
	}
	fmt.Fprintf(w, "  %s kubectl's last-applied annotation, which holds the 2016 password in plain text, from every object taken over%s.\n", tense("Remove", "Removed"), revisions)
	fmt.Fprintf(w, "  %s the fields kubectl wrote (field managers kubectl-*) to field manager %q, as if Helm had written them: helm 4's `helm upgrade --server-side=true` then owns them alone.\n",
		tense("Hand", "Handed"), install.FieldManager)
}

// changeList joins changed fields for a line, those of the pod spec after "pod spec:",
// which saves repeating spec.template.spec on each.
func changeList(fields []string) string {
	const pod = "spec.template.spec."
	var obj, inPod []string
	for _, f := range fields {
		if rest, ok := strings.CutPrefix(f, pod); ok {
			inPod = append(inPod, rest)
		} else {
			obj = append(obj, f)
		}
	}
	out := strings.Join(obj, ", ")
	if len(inPod) > 0 {
		if out != "" {
			out += "; "
		}
		out += "pod spec: " + strings.Join(inPod, ", ")
	}
	return out
}

// valuesWithSources is the derived values as a values file, each key's source above it.
func valuesWithSources(d *migrate.Derived) string {
	var b strings.Builder
	vals := append([]migrate.Value(nil), d.Values...)
	sort.SliceStable(vals, func(i, j int) bool { return vals[i].Key < vals[j].Key })
	b.WriteString("# Derived by romanactl migrate from the live objects; each value's source is above it.\n")
	for _, v := range vals {
		fmt.Fprintf(&b, "# %s: from %s\n", v.Key, v.Source)
	}
	y, _ := yaml.Marshal(d.Map())
	b.Write(y)
	return b.String()
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ") + "\n"
}

// nodeSelector is services.nodeSelector of validated values.
func nodeSelector(vals map[string]any) map[string]string {
	v, _ := values.Lookup(vals, "services.nodeSelector")
	m, _ := v.(map[string]any)
	out := map[string]string{}
	for k, x := range m {
		out[k] = fmt.Sprint(x)
	}
	return out
}

// cniPlugin is the effective values' cni.plugin.
func cniPlugin(vals map[string]any) string {
	v, _ := values.LookupString(vals, "cni.plugin")
	return v
}
