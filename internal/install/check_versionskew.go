package install

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/romana/romanactl/internal/values"
)

// VersionLabel records on every revision romanactl creates the romanactl version that
// created it (a label of the release record, as MadeLabel; "+" becomes "_", as in
// helm.sh/chart). Helm copies labels forward, so it is read only from a revision
// MadeByRomanactl. The chart that made a revision is in the record itself
// (chart.metadata.version).
const VersionLabel = "romanactl.romana.io/version"

// labelVersion is v as a label value, or "" when it cannot be one.
func labelVersion(v string) string {
	v = strings.ReplaceAll(v, "+", "_")
	if v == "" || len(validation.IsValidLabelValue(v)) > 0 {
		return ""
	}
	return v
}

// madeWith is the romanactl version that created r, or "" when unknown (the helm CLI,
// a romanactl from before VersionLabel).
func madeWith(r *release.Release) string {
	if r == nil || !MadeByRomanactl(r) {
		return ""
	}
	return strings.ReplaceAll(r.Labels[VersionLabel], "_", "+")
}

// newer says whether a is a newer SemVer than b; false when either is not SemVer (a
// development build, "dev", a commit hash).
func newer(a, b string) bool {
	va, err1 := semver.NewVersion(a)
	vb, err2 := semver.NewVersion(b)
	return err1 == nil && err2 == nil && va.GreaterThan(vb)
}

// chartVersion is the version of the chart that made r.
func chartVersion(r *release.Release) string {
	if r == nil || r.Chart == nil || r.Chart.Metadata == nil {
		return ""
	}
	return r.Chart.Metadata.Version
}

// versionSkew is the check: the release's newest revision was made by a newer chart,
// or by a newer romanactl, than this one. An upgrade from here would take the release
// back to this chart's templates and defaults (refused without --allow-downgrade),
// and this romanactl may not know what the newer one wrote.
func versionSkew(last *release.Release, ch *chart.Chart, self string) Check {
	const name = "version-skew"
	if last == nil {
		return Check{Name: name, Severity: Pass, Message: "no release yet"}
	}
	ours := ""
	if ch != nil && ch.Metadata != nil {
		ours = ch.Metadata.Version
	}
	rev := fmt.Sprintf("release %s revision %d", last.Name, last.Version)
	var found []string
	if theirs := chartVersion(last); newer(theirs, ours) {
		found = append(found, fmt.Sprintf("was made with chart romana %s, newer than this romanactl's chart %s: an upgrade from here would take Romana's objects back to chart %s's templates and defaults (`romanactl upgrade` refuses it without --allow-downgrade)", theirs, ours, ours))
	}
	if by := madeWith(last); newer(by, self) {
		found = append(found, fmt.Sprintf("was made by romanactl %s, newer than this romanactl %s, which may not know what it wrote", by, self))
	}
	if len(found) > 0 {
		return Check{Name: name, Severity: Warn, Message: rev + " " + strings.Join(found, "; and "),
			Fix: "use the romanactl that made the release, or a newer one (`romanactl version` prints its own and its chart's version); to go back on purpose, `romanactl upgrade --allow-downgrade`, or `romanactl rollback`"}
	}
	msg := fmt.Sprintf("%s was made with chart romana %s", rev, chartVersion(last))
	if by := madeWith(last); by != "" {
		msg += " by romanactl " + by
	}
	return Check{Name: name, Severity: Pass, Message: fmt.Sprintf("%s; this romanactl is %s with chart %s", msg, self, ours)}
}

// checkDowngrade refuses an upgrade that would take the release to an older chart.
func checkDowngrade(last *release.Release, ch *chart.Chart, allow bool) error {
	theirs := chartVersion(last)
	if allow || !newer(theirs, ch.Metadata.Version) {
		return nil
	}
	return values.Inputf("upgrade would downgrade release %s from chart romana %s (revision %s) to chart romana %s, this romanactl's: "+
		"a downgrade takes Romana's objects back to the older chart's templates and defaults, and the older romanactl may not know what the newer one wrote; "+
		"use the romanactl that made revision %s or a newer one (`romanactl version` prints its chart's version), or pass --allow-downgrade to go back on purpose; nothing was changed",
		last.Name, theirs, strconv.Itoa(last.Version), ch.Metadata.Version, strconv.Itoa(last.Version))
}
