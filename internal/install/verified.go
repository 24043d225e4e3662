package install

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"helm.sh/helm/v3/pkg/release"
)

// Helm stores a revision as deployed before romanactl's wait, so a command killed
// during the wait leaves a deployed revision that nobody saw ready. Two marks on the
// release record tell such a revision from a good one:
//
//   - WaitLabel, a label on the record set when romanactl creates a revision it will
//     wait for, whose value is that revision's number. Helm copies a revision's labels
//     into the next one (an upgrade merges the last revision's, a rollback takes its
//     target's), so only a value equal to the record's own number means "this
//     revision was made by romanactl to be waited for".
//   - VerifiedSuffix, appended to the record's description once the wait succeeded. The
//     description, not a label: Helm copies labels forward (a copy would look verified
//     before its own wait), but writes a new description into every revision, and
//     `helm history` shows it to users of the helm CLI.
//
// A revision is good (a target for --atomic, recover, "the last good revision") when
// it is deployed or superseded and not unverified: verified, or made without
// romanactl's wait (the helm CLI, romanactl before these marks, --wait=false).
const (
	WaitLabel      = "romanactl.romana.io/waits"
	VerifiedSuffix = "; verified ready by romanactl"
	// MadeLabel marks every revision romanactl creates (install, upgrade, rollback),
	// waited for or not, with that revision's number, for the same reason as WaitLabel:
	// Helm copies labels forward, so a helm CLI's revision carries its predecessor's
	// value, never its own number.
	MadeLabel = "romanactl.romana.io/made"
)

// MadeByRomanactl says whether romanactl created r: its MadeLabel (or, for revisions
// from before that mark, its WaitLabel) is r's own number, or romanactl recorded it as
// failed. False for a revision the helm CLI wrote (or a romanactl older than MadeLabel
// with --wait=false).
func MadeByRomanactl(r *release.Release) bool {
	if r == nil {
		return false
	}
	v := strconv.Itoa(r.Version)
	return r.Labels[MadeLabel] == v || r.Labels[WaitLabel] == v ||
		(r.Info != nil && strings.HasPrefix(r.Info.Description, "romanactl: "))
}

// Verified says whether romanactl's wait for r succeeded.
func Verified(r *release.Release) bool {
	return r != nil && r.Info != nil && strings.HasSuffix(r.Info.Description, VerifiedSuffix)
}

// Unverified says whether r was made by romanactl to be waited for and its wait never
// succeeded (the command was killed, or lost its Lease, during the wait).
func Unverified(r *release.Release) bool {
	return r != nil && r.Labels[WaitLabel] == strconv.Itoa(r.Version) && !Verified(r)
}

// good says whether r may be returned to: deployed or superseded, and not unverified.
func good(r *release.Release) bool {
	return (r.Info.Status == release.StatusDeployed || r.Info.Status == release.StatusSuperseded) && !Unverified(r)
}

// waitLabels are the custom labels of a revision about to be created as version:
// marked to be waited for, or (without the wait) with the copied mark removed ("null"
// deletes a label in Helm's merge).
// VersionLabel says which romanactl made it ("null" when its version cannot be a label
// value, so that a copied one is not taken for this romanactl's).
func waitLabels(version int, wait bool, by string) map[string]string {
	l := map[string]string{WaitLabel: "null", MadeLabel: strconv.Itoa(version), VersionLabel: "null"}
	if wait {
		l[WaitLabel] = strconv.Itoa(version)
	}
	if v := labelVersion(by); v != "" {
		l[VersionLabel] = v
	}
	return l
}

// markVerified appends VerifiedSuffix to the stored description of rel once its wait
// succeeded. A failure is returned for the caller to report: the revision then only
// counts as unverified, which is the safe side.
func (c *Client) markVerified(ctx context.Context, rel *release.Release) error {
	if err := c.mayWrite(ctx); err != nil {
		return err
	}
	stored, err := c.Cfg.Releases.Get(rel.Name, rel.Version)
	if err != nil {
		return fmt.Errorf("read revision %d: %w", rel.Version, err)
	}
	if Verified(stored) || stored.Info.Status != release.StatusDeployed {
		return nil
	}
	stored.Info.Description += VerifiedSuffix
	if err := c.Cfg.Releases.Update(stored); err != nil {
		return fmt.Errorf("store revision %d as verified: %w", rel.Version, err)
	}
	rel.Info.Description = stored.Info.Description
	return nil
}

// verified marks rel verified after a successful wait, saying so on failure.
func (c *Client) verified(ctx context.Context, rel *release.Release) {
	if err := c.markVerified(ctx, rel); err != nil {
		c.progress("‼ Romana is ready, but revision %d could not be recorded as verified (%v): it counts as unverified, and `romanactl status` says so", rel.Version, err)
	}
}

// setWaitLabel marks a revision that Helm's rollback just created (with its target's
// labels) as made to be waited for, or not.
func (c *Client) setWaitLabel(rel *release.Release, wait bool) error {
	stored, err := c.Cfg.Releases.Get(rel.Name, rel.Version)
	if err != nil {
		return fmt.Errorf("read revision %d: %w", rel.Version, err)
	}
	if stored.Labels == nil {
		stored.Labels = map[string]string{}
	}
	stored.Labels[MadeLabel] = strconv.Itoa(rel.Version)
	if v := labelVersion(c.Version); v != "" {
		stored.Labels[VersionLabel] = v
	} else {
		delete(stored.Labels, VersionLabel)
	}
	if wait {
		stored.Labels[WaitLabel] = strconv.Itoa(rel.Version)
	} else {
		delete(stored.Labels, WaitLabel)
	}
	if err := c.Cfg.Releases.Update(stored); err != nil {
		return fmt.Errorf("label revision %d: %w", rel.Version, err)
	}
	rel.Labels = stored.Labels
	return nil
}
