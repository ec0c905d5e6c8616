#!/bin/sh
# The LuaJIT bindings (bindings/lua) under luajit: golden forward against
# PyTorch and the CLI, classify, training, errors, handles, the generated
# cdef. Cases are in test/lua/test_lua.lua; names given as arguments run only
# those (sh test/lua/test_lua.sh golden_forward). Prints "ok/FAIL name" per
# case and "N passed, N failed".
cd "$(dirname "$0")/../.." || exit 1
if ! command -v luajit >/dev/null 2>&1; then
    echo "FAIL test_lua__luajit: luajit is not installed (apt-get install luajit)"
    echo "0 passed, 1 failed"
    exit 1
fi
if [ ! -e lib/libvidaction.so.0 ] || [ ! -x bin/vidaction ]; then
    make -s -j2 all || exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
VIDA_LUA_TMP=$tmp LUA_PATH="bindings/lua/?.lua;;" luajit test/lua/test_lua.lua "$@"
