#!/bin/sh
# The shared library exports only vida_* functions (nm -D shows them as
# name@@VIDACTION_x.y, and the version nodes themselves as absolute symbols
# VIDACTION_x.y), and its SONAME is libvidaction.so.0.
lib=${1:-lib/libvidaction.so}
bad=$(nm -D --defined-only "$lib" | awk '{ sub(/@.*/, "", $3); print $3 }' |
    grep -v '^vida_' | grep -v '^VIDACTION_[0-9][0-9.]*$')
if [ -n "$bad" ]; then
    echo "exported symbols outside vida_*:"; echo "$bad"; exit 1
fi
soname=$(objdump -p "$lib" | awk '/SONAME/ {print $2}')
[ "$soname" = libvidaction.so.0 ] || { echo "SONAME is '$soname', wants libvidaction.so.0"; exit 1; }
n=$(nm -D --defined-only "$lib" | grep -c ' T vida_')
echo "exports: $n vida_* functions, SONAME $soname"
