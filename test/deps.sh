#!/bin/sh
# Installs the Debian packages the build and tests need.
#   deps.sh ensure PKG...   install only what is missing (make check, make demo)
#   deps.sh install PKG...  the same, and say so when nothing is missing (make deps)
# As root it runs apt-get; otherwise it prints the exact command and fails.
mode=$1
shift
missing=""
for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    [ "$mode" = install ] && echo "deps: all packages present:$*"
    exit 0
fi
cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" != 0 ]; then
    echo "deps: missing Debian packages:$missing" >&2
    echo "deps: run as root:  apt-get update && $cmd" >&2
    exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && $cmd
