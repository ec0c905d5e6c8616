#!/bin/sh
# Rewrites the ABI baseline from the built library: test/abi/libvidaction.abi
# (abidw of lib/libvidaction.so, built with -g as the Makefile does, reduced to
# the public headers) and test/abi/constants.txt (the values of the public enum
# constants and macros). Checks first that the exports match the version script.
# A deliberate act: commit the new baseline together with its entry in
# docs/APIchanges.md (docs/api-stability.md says what a release may change).
#   make && sh test/abi/update-baseline.sh
set -e
lib=${1:-lib/libvidaction.so}
dir=test/abi
[ -f "$lib" ] || { echo "$lib not found: run make first" >&2; exit 1; }
sh $dir/check-symbols.sh "$lib"
sh $dir/check-map.sh src/libvidaction.map include "$lib"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sh $dir/abi-check.sh dump "$lib" include "$work/libvidaction.abi"
sh $dir/abi-check.sh constants include > "$work/constants.txt"
if grep -n "='/" "$work/libvidaction.abi" | head -3 | grep .; then
    echo "absolute paths in the ABI dump (above): build in the source tree" >&2
    exit 1
fi
if [ -f $dir/libvidaction.abi ] && [ -f $dir/constants.txt ]; then
    echo "changes from the old baseline (record them in docs/APIchanges.md):"
    sh $dir/abi-check.sh compare $dir "$work/libvidaction.abi" "$work/constants.txt" include || true
fi
cp "$work/libvidaction.abi" "$work/constants.txt" $dir/
chmod 644 $dir/libvidaction.abi $dir/constants.txt
echo "wrote $dir/libvidaction.abi ($(wc -c < $dir/libvidaction.abi) bytes), $dir/constants.txt ($(wc -l < $dir/constants.txt) constants)"
