#!/usr/bin/env bash
# `make romana-bin`: builds Romana v0.9.3.5's own programs (root, tenant, topology,
# ipam, policy, agent, listener, the romana CLI, kube-cni-proxy) from their sources into
# bin/romana-v0.9.3.5/, for the tests that run the real thing. The sources are Romana's,
# not ours: they live beside the repository, in $ROMANA_SRC (default
# $ROMANACTL_SHARED/romana-v0.9.3.5, and ../shared for ROMANACTL_SHARED), and their own
# build.sh builds them. Skipped when the programs were built from the same sources with
# the same Go. Without the sources it says so and builds nothing (the tests that need
# the programs then skip), unless ROMANACTL_REQUIRE_SHARED=1 (CI), which fails.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${ROMANACTL_SHARED:-../shared}
src=${ROMANA_SRC:-$shared/romana-v0.9.3.5}
out=bin/romana-v0.9.3.5
if [ ! -x "$src/build.sh" ]; then
	echo "romana-bin: Romana's sources are not at $src; set ROMANA_SRC to Romana's v0.9.3.5 tree (README: Romana's programs)" >&2
	[ "${ROMANACTL_REQUIRE_SHARED:-}" = 1 ] && exit 1
	echo "romana-bin: nothing built; the real-program tests will skip" >&2
	exit 0
fi
hack/host-tools.sh build
stamp="$(cat "$src/CORE-COMMIT.txt" "$src/ROMANA-COMMIT.txt" 2>/dev/null | tr '\n' ' ') $(go env GOVERSION)"
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
	echo "romana-bin: up to date ($out)"
	exit 0
fi
echo "romana-bin: building Romana v0.9.3.5 from $src into $out"
rm -rf "$out"
"$src/build.sh" "$out" >/dev/null
echo "$stamp" > "$out/.stamp"
ls "$out"
