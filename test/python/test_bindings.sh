#!/bin/sh
# The Python bindings (bindings/python): test/python/test_bindings.py with the
# package from the source tree and the library from the build tree (lib/).
# Prints "ok/FAIL name" per case and "N passed, N failed".
#   sh test/python/test_bindings.sh [CASE...]     (one case alone: its name without test_python__)
cd "$(dirname "$0")/../.." || exit 1
# Debian's python3 (with python3-numpy) first: another python3 on PATH may lack numpy
PY=
for p in ${VIDA_PYTHON:-} /usr/bin/python3 python3; do
    if "$p" -c "import numpy" >/dev/null 2>&1; then
        PY=$p
        break
    fi
done
if [ -z "$PY" ]; then
    echo "FAIL test_python__numpy: no python3 with numpy (Debian: apt-get install python3-numpy)"
    echo "0 passed, 1 failed"
    exit 1
fi
if ! make -s -j2 all >/dev/null; then
    echo "FAIL test_python__build: make all failed"
    echo "0 passed, 1 failed"
    exit 1
fi
PYTHONPATH=bindings/python${PYTHONPATH:+:$PYTHONPATH} exec "$PY" test/python/test_bindings.py "$@"
