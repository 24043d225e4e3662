#!/usr/bin/env bash
# Installs the host tools the tests run for real when the machine lacks them, from
# Debian; nothing else is assumed on the machine but Go.
#   hack/host-tools.sh         ip and iptables (the node-cleanup tests run the chart's
#                              cleanup script with them in network namespaces), unshare,
#                              and curl and jq (the uninstall report Job's script speaks
#                              the API with them on the test's process nodes);
#   hack/host-tools.sh build   gcc and libsqlite3-dev, which Romana's own build.sh needs
#                              (make romana-bin);
#   hack/host-tools.sh real    what the real-program tests' images run on (the base
#                              systems of Romana's images: supervisord, the MySQL client,
#                              ss; MariaDB for mysql:5), nsenter, and ping for the pods.
set -euo pipefail
missing=()
need() { command -v "$1" >/dev/null || missing+=("$2"); }
if [ "${1:-}" = build ]; then
	need gcc gcc
	dpkg -s libsqlite3-dev >/dev/null 2>&1 || missing+=(libsqlite3-dev)
elif [ "${1:-}" = real ]; then
	need supervisord supervisor
	need mariadbd mariadb-server
	need mysqladmin mariadb-client
	need ss iproute2
	need nsenter util-linux
	need ping iputils-ping
	need iptables-restore iptables
	need curl curl
	need jq jq
else
	need ip iproute2
	need iptables iptables
	need unshare util-linux
	need curl curl
	need jq jq
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
	echo "host tools: ${missing[*]} needed; install them (as root: apt-get install ${missing[*]}) and run make again" >&2
	exit 1
fi
echo "host tools: installing ${missing[*]} from Debian"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
