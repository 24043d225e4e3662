package values

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
)

// EnvDir is where environments live inside the chart, so helm users can pass the same
// files with -f chart/env/<name>.yaml.
const EnvDir = "env"

// Env is one environment: a values file in the chart.
type Env struct {
	Name        string `json:"name"`
	File        string `json:"file"`
	Description string `json:"description"`
	data        []byte
}

// Envs lists the chart's environments, sorted by name. The description is the file's
// "# description: ..." first line, so the file stays the one source of truth.
func Envs(ch *chart.Chart) []Env {
	var envs []Env
	for _, f := range ch.Files {
		dir, file := path.Split(f.Name)
		if path.Clean(dir) != EnvDir || path.Ext(file) != ".yaml" {
			continue
		}
		first, _, _ := strings.Cut(string(f.Data), "\n")
		envs = append(envs, Env{
			Name:        strings.TrimSuffix(file, ".yaml"),
			File:        f.Name,
			Description: strings.TrimSpace(strings.TrimPrefix(first, "# description:")),
			data:        f.Data,
		})
	}
	sort.Slice(envs, func(i, j int) bool { return envs[i].Name < envs[j].Name })
	return envs
}

// EnvNames returns the environment names, for messages and shell completion.
func EnvNames(ch *chart.Chart) []string {
	var names []string
	for _, e := range Envs(ch) {
		names = append(names, e.Name)
	}
	return names
}

// FindEnv returns the named environment, or an input error that lists the known ones.
func FindEnv(ch *chart.Chart, name string) (Env, error) {
	for _, e := range Envs(ch) {
		if e.Name == name {
			return e, nil
		}
	}
	known := strings.Join(EnvNames(ch), ", ")
	if name == "auto" {
		// auto is resolved by the commands that reach a cluster; an offline command
		// (template, values, plan, images) reads no kubeconfig, so it cannot detect.
		return Env{}, Inputf("--env=auto detects the environment from a cluster, and this command reads none (it renders offline); give the environment by name, one of %s (`romanactl check --pre --env=auto` shows which one a cluster is)", known)
	}
	if s := Suggest(name, EnvNames(ch)); s != "" {
		return Env{}, Inputf("--env %q: unknown environment; did you mean --env=%s? known: %s", name, s, known)
	}
	return Env{}, Inputf("--env %q: unknown environment; known: %s", name, known)
}

// Values parses the environment file.
func (e Env) Values() (map[string]any, error) {
	v, err := chartutil.ReadValues(e.data)
	if err != nil {
		return nil, fmt.Errorf("parse environment file %s: %w", e.File, err)
	}
	return v.AsMap(), nil
}
