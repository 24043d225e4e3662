#!/bin/sh
# romana-cleanup-report: the last pre-delete hook of `helm uninstall` (a Job, which Helm
# waits for). It waits until every node the agent ran on has reported its node cleanup
# (the init container "cleanup" of DaemonSet romana-cleanup leaves its report as its
# termination message), prints one line per node and the reports, then deletes the
# DaemonSet, so that nothing privileged stays behind. A node that does not report within
# WAIT_SECONDS is named and does not fail the uninstall, as with romanactl uninstall.
# It speaks the API with curl and jq 1.5 (the agent image's), with the Job's token, a
# page of 500 pods at a time: its requests do not grow with the number of nodes.
SA=/var/run/secrets/kubernetes.io/serviceaccount
API="https://${KUBERNETES_SERVICE_HOST}:${KUBERNETES_SERVICE_PORT}"
NS="${NAMESPACE:-$(cat "$SA/namespace")}"
WAIT_SECONDS="${WAIT_SECONDS:-240}"
TMP="${TMPDIR:-/tmp}/romana-cleanup-report.$$"
mkdir -p "$TMP" || exit 1
trap 'rm -rf "$TMP"' EXIT

api() { curl -sS --fail --cacert "$SA/ca.crt" -H "Authorization: Bearer $(cat "$SA/token")" "$@"; }

# pods SELECTOR FILTER: every pod of the namespace with the label, through the jq filter.
pods() {
	cont=""
	while :; do
		page=$(api "$API/api/v1/namespaces/$NS/pods?labelSelector=$1&limit=500${cont:+&continue=$cont}") || return 1
		printf "%s\n" "$page" | jq -c "$2" || return 1
		cont=$(printf "%s\n" "$page" | jq -r '.metadata.continue // empty | @uri')
		[ -n "$cont" ] || return 0
	done
}

deadline=$(($(date +%s) + WAIT_SECONDS))
while :; do
	# The nodes the agent ran on, and each cleanup pod's report (empty until it ran).
	pods 'app%3Dromana-agent' '.items[] | .spec.nodeName // empty' >"$TMP/nodes" || exit 1
	pods 'app%3Dromana-cleanup' '.items[] | select(.spec.nodeName != null) | {node: .spec.nodeName, report: ([(.status.initContainerStatuses // [])[] | select(.name == "cleanup") | .state.terminated.message // empty] | first // "")}' >"$TMP/reports" || exit 1
	waiting=$(jq -n --slurpfile n "$TMP/nodes" --slurpfile r "$TMP/reports" \
		'($r | map(select(.report | contains("romana-cleanup: done:")) | .node)) as $done | [$n[] | select(. as $x | $done | index($x) | not)] | unique | length')
	[ "$waiting" = 0 ] && break
	if [ "$(date +%s)" -ge "$deadline" ]; then
		echo "romana-cleanup-report: $waiting node(s) did not report within ${WAIT_SECONDS}s"
		break
	fi
	sleep 2
done

# One line per node, the reports under it, and the count.
jq -rn --slurpfile n "$TMP/nodes" --slurpfile r "$TMP/reports" '
	($r | map({(.node): .report}) | add // {}) as $by
	| (($n + ($r | map(.node))) | unique) as $all
	| [$all[] as $node | ($by[$node] // "") as $rep
		| ($rep | split("\n") | map(select(startswith("romana-cleanup: "))) | map(ltrimstr("romana-cleanup: "))) as $lines
		| ($lines | map(select(startswith("done: removed "))) | first // "") as $done
		| if $done == "" then
			{ok: false, text: ("‼ " + $node + ": no report (" + (if $by | has($node) then "the cleanup did not finish in time" else "no cleanup pod ran there" end) + "); clean it by hand (README: Uninstall)")}
		  else
			($done | ltrimstr("done: removed ") | split(", failed ")) as $c
			| if $c[1] == "0" then {ok: true, text: ("✓ " + $node + ": removed " + $c[0])}
			  else {ok: false, text: ("‼ " + $node + ": " + ([$lines[] | select(startswith("FAILED "))] | join("; ")))} end
		  end
		| .text + ([$lines[] | "\n    " + .] | join(""))]
		as $out
	| ($out | join("\n")), ("Cleaned \([$out[] | select(startswith("✓ "))] | length) of \($all | length) nodes.")'

if api -X DELETE "$API/apis/apps/v1/namespaces/$NS/daemonsets/romana-cleanup?propagationPolicy=Background" >/dev/null 2>&1; then
	echo "romana-cleanup-report: deleted DaemonSet romana-cleanup"
else
	echo "romana-cleanup-report: DaemonSet romana-cleanup was already gone (Helm deletes it too)"
fi
