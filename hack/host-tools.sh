#!/usr/bin/env bash
# Installs the host tools the tests run for real when the machine lacks them: ip and
# iptables (the node-cleanup tests run the chart's cleanup script with them in network
# namespaces), unshare, and curl and jq (the uninstall report Job's script speaks the
# API with them on the test's process nodes). They come from Debian; nothing else is assumed on the machine
# but Go.
set -euo pipefail
missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v iptables >/dev/null || missing+=(iptables)
command -v unshare >/dev/null || missing+=(util-linux)
command -v curl >/dev/null || missing+=(curl)
command -v jq >/dev/null || missing+=(jq)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
	echo "host tools: the tests need ${missing[*]}; install them (as root: apt-get install ${missing[*]}) and run make test again" >&2
	exit 1
fi
echo "host tools: installing ${missing[*]} from Debian"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
