#!/bin/sh
# The README's commands, copied as written, work: every fenced block of
# README.md tagged sh, c, python or lua runs, in order, in a scratch folder
# that sees this checkout's build (bin, lib, include, bindings, Makefile, ...)
# with HOME pointing into the scratch folder (so `make install
# PREFIX=$HOME/.local` installs there). A c block is saved as classify.c, the
# name the README gives it. Each block is a case; some outputs are checked.
# Prints "ok/FAIL name" per case and "N passed, N failed".
. test/testlib.sh
# a python3 with numpy (Debian's first: another python3 on the PATH may lack it)
PY=
for p in ${VIDA_PYTHON:-} /usr/bin/python3 python3; do
    if "$p" -c "import numpy" >/dev/null 2>&1; then
        PY=$p
        break
    fi
done
vt_begin readme

root=$(pwd)
s=$tmp/work
mkdir -p "$s/home"
for f in Makefile src include lib bin build pkgconfig examples bindings test docs; do
    ln -s "$root/$f" "$s/$f"
done

# README.md -> $tmp/block.N.LANG, in order
$PY - "$root/README.md" "$tmp" <<'EOF' || exit 1
import re, sys
text = open(sys.argv[1]).read()
n = 0
for m in re.finditer(r"^```(sh|c|python|lua)\n(.*?)^```$", text, re.S | re.M):
    n += 1
    open("%s/block.%02d.%s" % (sys.argv[2], n, m.group(1)), "w").write(m.group(2))

EOF

run_block() { # FILE
    case $1 in
    *.sh) (cd "$s" && HOME=$s/home sh -e "$1") ;;
    *.c) cp "$1" "$s/classify.c" ;;
    *.python) (cd "$s" && HOME=$s/home PYTHONPATH=bindings/python $PY "$1") ;;
    *.lua) (cd "$s" && HOME=$s/home LUA_PATH="bindings/lua/?.lua;;" luajit "$1") ;;
    esac
}
run_and_keep() { # FILE: runs it, keeps its output in FILE.out, shows it
    run_block "$1" >"$1.out" 2>&1
    rc=$?
    cat "$1.out"
    return $rc
}
n_blocks=0
for b in "$tmp"/block.*; do
    n_blocks=$((n_blocks + 1))
    name=$(basename "$b" | sed 's/^block\.//; s/\./_/')
    t "$name" "run_and_keep $b"
done
t has_blocks_of_every_kind '[ $n_blocks -ge 6 ] && ls $tmp/block.*.sh $tmp/block.*.c $tmp/block.*.python $tmp/block.*.lua'
# what the blocks printed: the C program one line per class (4 verbs), names from the model;
# Python a top-3 list and an accuracy; Lua 3 lines
t c_program_prints_the_classes 'out=$(cat $tmp/block.*.sh.out | grep -E "^(move left|move right|move up|move down) +-?[0-9]" | wc -l); [ "$out" = 4 ]'
t python_prints_top3 'grep -E "^\[\(.move [a-z]+., 0\.[0-9]+\), \(.*\), \(.*\)\]$" $tmp/block.*.python.out && tail -1 $tmp/block.*.python.out | grep -E "^[01]\.[0-9]+|^0$|^1$"'
t lua_prints_top3 '[ "$(grep -c -E "^move (left|right|up|down)	0\.[0-9]+" $tmp/block.*.lua.out)" = 3 ]'
vt_end
