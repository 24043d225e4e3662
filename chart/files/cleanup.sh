#!/bin/sh
# romana-cleanup: removes from one node exactly what run-romana-agent (v0.9.3.5) leaves
# there, and nothing else:
#   - the romana-gw interface (its routes go with it);
#   - the ROMANA-MASQ chain of the nat table and every POSTROUTING jump to it;
#   - $HOST_ROOT/etc/cni/net.d/10-romana.conf and $HOST_ROOT/opt/cni/bin/romana (a node
#     that keeps the CNI config fails every new pod with FailedCreatePodSandBox);
#   - $HOST_ROOT/usr/local/bin/romana and $HOST_ROOT/etc/romana/cli.yml;
#   - with PURGE_DATASTORE=1, what the datastore (the mysql:5 container) wrote in
#     $HOST_ROOT$DATA_DIR, and nothing else there. NODE_STATE=0 skips the items above
#     (romanactl's purge runs only that, on the nodes the services ran on).
# Idempotent: what is already gone is reported as absent. One line per item, then a
# summary; exit 1 when something could not be removed. HOST_ROOT (default /host) is
# where the node's root is mounted, so the script runs outside a pod too.
HOST_ROOT="${HOST_ROOT:-/host}"
removed=0
failed=0

report() { echo "romana-cleanup: $*"; }
gone() { removed=$((removed + 1)); report "removed $1"; }
fail() { failed=$((failed + 1)); report "FAILED $1: $2"; }

if [ "${NODE_STATE:-1}" = 1 ]; then
if ip link show romana-gw >/dev/null 2>&1; then
	if err=$(ip link delete romana-gw 2>&1); then gone "interface romana-gw"; else fail "interface romana-gw" "$err"; fi
else
	report "absent interface romana-gw"
fi

# Every POSTROUTING jump to ROMANA-MASQ, whatever its source address (-S prints the
# rule as it was added; the same words with -D delete it).
jumps=$(iptables -t nat -S POSTROUTING 2>/dev/null | grep -- '-j ROMANA-MASQ$' || true)
if [ -n "$jumps" ]; then
	echo "$jumps" | while read -r _ chain rest; do
		# shellcheck disable=SC2086 # the rule's words, split as iptables printed them
		if err=$(iptables -t nat -D "$chain" $rest 2>&1); then echo "ok"; else echo "fail $err"; fi
	done >/tmp/romana-cleanup.$$ 2>&1
	if grep -q '^fail' /tmp/romana-cleanup.$$; then
		fail "nat POSTROUTING jumps to ROMANA-MASQ" "$(grep '^fail' /tmp/romana-cleanup.$$ | head -1)"
	else
		gone "nat POSTROUTING jumps to ROMANA-MASQ ($(wc -l </tmp/romana-cleanup.$$))"
	fi
	rm -f /tmp/romana-cleanup.$$
else
	report "absent nat POSTROUTING jumps to ROMANA-MASQ"
fi
if iptables -t nat -S ROMANA-MASQ >/dev/null 2>&1; then
	if err=$(iptables -t nat -F ROMANA-MASQ 2>&1 && iptables -t nat -X ROMANA-MASQ 2>&1); then gone "nat chain ROMANA-MASQ"; else fail "nat chain ROMANA-MASQ" "$err"; fi
else
	report "absent nat chain ROMANA-MASQ"
fi

for f in etc/cni/net.d/10-romana.conf opt/cni/bin/romana usr/local/bin/romana etc/romana/cli.yml; do
	p="$HOST_ROOT/$f"
	if [ -e "$p" ] || [ -L "$p" ]; then
		if err=$(rm -f "$p" 2>&1); then gone "/$f"; else fail "/$f" "$err"; fi
	else
		report "absent /$f"
	fi
done

fi

# The datastore's data, only when asked (romanactl uninstall --purge-datastore): it is
# what the kept password Secret belongs to. Only what MySQL 5 writes in its data
# directory, and Romana's four schemas, are deleted; a directory that does not look like
# one (no ibdata1 and no mysql/) is left alone, and anything else in it is named as kept.
if [ "${PURGE_DATASTORE:-}" = 1 ] && [ -n "${DATA_DIR:-}" ]; then
	d="$HOST_ROOT$DATA_DIR"
	if [ ! -d "$d" ] || [ -z "$(ls -A "$d" 2>/dev/null)" ]; then
		report "absent datastore data $DATA_DIR"
	elif [ ! -e "$d/ibdata1" ] && [ ! -d "$d/mysql" ]; then
		fail "datastore data $DATA_DIR" "not a MySQL data directory (no ibdata1, no mysql/): left as it is"
	else
		n=0
		err=""
		for e in "$d"/* "$d"/.[!.]* "$d"/..?*; do
			[ -e "$e" ] || [ -L "$e" ] || continue
			case "${e##*/}" in
			auto.cnf | ibdata* | ib_logfile* | ib_buffer_pool | ibtmp* | undo_[0-9]* | mysql.ibd | \#innodb_temp | \#ib_* | \
				ca.pem | ca-key.pem | server-cert.pem | server-key.pem | client-cert.pem | client-key.pem | \
				private_key.pem | public_key.pem | mysql | performance_schema | sys | \
				tenant | topology | ipam | policy)
				if e2=$(rm -rf "$e" 2>&1); then n=$((n + 1)); else err="$e2"; fi ;;
			*) kept="${kept:+$kept, }${e##*/}" ;;
			esac
		done
		if [ -n "$err" ]; then fail "datastore data $DATA_DIR" "$err"; else gone "datastore data $DATA_DIR ($n entries)"; fi
		[ -n "${kept:-}" ] && report "kept in $DATA_DIR (not the datastore's): $kept"
	fi
fi

report "done: removed $removed, failed $failed"
[ "$failed" -eq 0 ]
