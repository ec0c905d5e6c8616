# Shared by the script tests (sourced, not run): a temporary folder, the case
# runner and the closing count line that test/run-tests.sh reads.
#   . test/testlib.sh; vt_begin cli; t name 'shell condition'; ...; vt_end
# A case's output goes to a file and is shown (last 15 lines) only on failure.

vt_begin() {
    vt_prefix=$1
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    vt_pass=0
    vt_fail=0
}

t() {
    vt_name=$1
    shift
    if eval "$@" >"$tmp/.out" 2>&1; then
        vt_pass=$((vt_pass + 1))
        echo "ok   test_${vt_prefix}__$vt_name"
    else
        vt_fail=$((vt_fail + 1))
        echo "FAIL test_${vt_prefix}__$vt_name: $*"
        tail -15 "$tmp/.out" | sed 's/^/    /'
    fi
}

vt_end() {
    echo "$vt_pass passed, $vt_fail failed"
    [ "$vt_fail" = 0 ]
}

# Exits with a "skipped" line and a zero count when Debian's PyTorch is absent.
vt_need_torch() {
    if ! /usr/bin/python3 -c "import torch, torchvision, numpy" 2>/dev/null; then
        echo "skipped: test_$vt_prefix needs python3-torch and python3-torchvision"
        echo "0 passed, 0 failed"
        exit 0
    fi
}
