// Command benchcmp runs commands side by side, alternating, and prints a Markdown
// table of median wall time and peak memory (max RSS from wait4) per command, with
// ratios against a base (the last by default). Alternating spreads the noise of a shared machine over
// every command alike. Commands run without a shell, so the figures are the
// command's own.
//
//	benchcmp -runs 15 -out table.md 'romanactl=bin/romanactl template' 'helm=bin/helm template romana ./chart'
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"time"
)

type sample struct {
	wall  time.Duration
	rssKB int64
}

func main() {
	runs := flag.Int("runs", 15, "runs per command (alternating)")
	warmup := flag.Int("warmup", 2, "unmeasured runs per command first (page cache, build cache)")
	before := flag.String("before", "", "a command run before every measured run of every command (not measured), e.g. to reset state")
	baseLabels := flag.String("base", "", "comma-separated labels the ratios are against (default: the last command)")
	flag.Parse()
	if flag.NArg() < 1 {
		fmt.Fprintln(os.Stderr, "usage: benchcmp [-runs N] 'label=command args' ...")
		os.Exit(2)
	}
	type target struct {
		label string
		argv  []string
		s     []sample
	}
	var targets []*target
	for _, a := range flag.Args() {
		label, cmd, ok := strings.Cut(a, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "benchcmp: %q is not label=command\n", a)
			os.Exit(2)
		}
		targets = append(targets, &target{label: label, argv: strings.Fields(cmd)})
	}
	for i := 0; i < *warmup+*runs; i++ {
		for _, t := range targets {
			if *before != "" {
				if _, err := runOnce(strings.Fields(*before)); err != nil {
					fail(err)
				}
			}
			s, err := runOnce(t.argv)
			if err != nil {
				fail(fmt.Errorf("%s: %w", t.label, err))
			}
			if i >= *warmup {
				t.s = append(t.s, s)
			}
		}
	}
	var bases []*target
	for _, l := range strings.Split(*baseLabels, ",") {
		for _, t := range targets {
			if t.label == l {
				bases = append(bases, t)
			}
		}
	}
	if len(bases) == 0 {
		bases = []*target{targets[len(targets)-1]}
	}
	head, sep := "| command | runs | median wall | median peak RSS | max peak RSS |", "|---|---|---|---|---|"
	for _, b := range bases {
		head += fmt.Sprintf(" wall vs %s | RSS vs %s |", b.label, b.label)
		sep += "---|---|"
	}
	fmt.Println(head)
	fmt.Println(sep)
	for _, t := range targets {
		w, r := medians(t.s)
		var maxR int64
		for _, s := range t.s {
			maxR = max(maxR, s.rssKB)
		}
		row := fmt.Sprintf("| %s | %d | %.1f ms | %.1f MiB | %.1f MiB |", t.label, len(t.s), ms(w), float64(r)/1024, float64(maxR)/1024)
		for _, b := range bases {
			bw, br := medians(b.s)
			row += fmt.Sprintf(" %.2f× | %.2f× |", float64(w)/float64(bw), float64(r)/float64(br))
		}
		fmt.Println(row)
	}
}

func runOnce(argv []string) (sample, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = io.Discard
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return sample{}, fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, stderr.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return sample{wall: wall, rssKB: ru.Maxrss}, nil
}

func medians(s []sample) (time.Duration, int64) {
	w := make([]time.Duration, len(s))
	r := make([]int64, len(s))
	for i, x := range s {
		w[i], r[i] = x.wall, x.rssKB
	}
	sort.Slice(w, func(i, j int) bool { return w[i] < w[j] })
	sort.Slice(r, func(i, j int) bool { return r[i] < r[j] })
	n := len(s)
	if n%2 == 1 {
		return w[n/2], r[n/2]
	}
	return (w[n/2-1] + w[n/2]) / 2, (r[n/2-1] + r[n/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchcmp:", err)
	os.Exit(1)
}
