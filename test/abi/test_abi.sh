#!/bin/sh
# The library's ABI as a user sees it (docs/api-stability.md): only vida_*
# functions exported, each in the version node of the release that added it;
# every public header compiles alone as C99, C11, C++11 and C++17; the ABI
# (abidw of lib/libvidaction.so, the public constants) matches the baseline in
# test/abi; and the checker itself catches a deliberate break in a scratch build
# (CPU-only, -O0: seconds) while passing that same build unmodified.
# Prints "ok/FAIL name" per case and "N passed, N failed".
. test/testlib.sh
vt_begin abi
unset MAKEFLAGS MFLAGS MAKELEVEL
lib=lib/libvidaction.so
abi=test/abi

t only_vida_symbols_exported 'sh $abi/check-symbols.sh $lib'
t no_exported_variables '[ -z "$(nm -D --defined-only $lib | awk "\$2 ~ /[BDGRSV]/")" ]'
t version_nodes_list_every_function 'sh $abi/check-map.sh src/libvidaction.map include $lib'

# Each public header alone (twice, for its include guard), strict warnings.
headers="vidaction.h $(cd include && echo vidaction/*.h)"
header_alone() { # STD COMPILER EXT [FLAGS]
    for h in $headers; do
        printf '#include <%s>\n#include <%s>\ntypedef int vida_header_test_nonempty;\n' "$h" "$h" > "$tmp/h.$3"
        $2 -std=$1 -Wall -Wextra -pedantic -Werror $4 -Iinclude -c "$tmp/h.$3" -o /dev/null ||
            { echo "$h does not compile alone as $1"; return 1; }
    done
}
t header_alone_c99 'header_alone c99 cc c -Wstrict-prototypes'
t header_alone_c11 'header_alone c11 cc c -Wstrict-prototypes'
t header_alone_cxx11 'header_alone c++11 c++ cpp'
t header_alone_cxx17 'header_alone c++17 c++ cpp'
echo '#include <vidaction.h>' > "$tmp/umbrella.c"
t umbrella_includes_every_header 'cc -Iinclude -M "$tmp/umbrella.c" > "$tmp/deps" &&
    for h in include/vidaction/*.h; do grep -q "$h" "$tmp/deps" || { echo "vidaction.h does not include $h"; exit 1; }; done'

# The baseline: committed, so nothing of this machine in it: no attribute holding an absolute
# path, and neither this checkout's folder nor the home folder anywhere.
t baseline_has_no_local_paths '[ -s $abi/libvidaction.abi ] && [ -s $abi/constants.txt ] &&
    ! grep -n -F -e "='\''/" -e "$PWD" -e "${HOME:-/nonexistent}" $abi/libvidaction.abi'

# This build against the baseline. 0: identical; 4: compatible changes only
# (functions or constants added, a sized struct grown at its end), which the
# baseline must record; 8: a break.
sh $abi/abi-check.sh dump $lib include "$tmp/cur.abi" > "$tmp/dump.out" 2>&1
sh $abi/abi-check.sh constants include > "$tmp/cur.const" 2>> "$tmp/dump.out"
sh $abi/abi-check.sh compare $abi "$tmp/cur.abi" "$tmp/cur.const" include > "$tmp/cmp.out" 2>&1
cmp_rc=$?
t abi_compatible_with_baseline 'cat "$tmp/dump.out" "$tmp/cmp.out"; [ $cmp_rc = 0 ] || [ $cmp_rc = 4 ]'
t abi_baseline_up_to_date 'cat "$tmp/cmp.out"; [ $cmp_rc = 0 ]'

# The checker itself, on scratch copies of the tree built CPU-only at -O0: the
# unmodified copy must give the very dump of this build (so the baseline does not
# depend on CUDA or -O), and each deliberate break is compared with that copy
# (not with the committed baseline, so that this part holds whatever state the
# baseline is in).
scratch() {
    mkdir -p "$tmp/$1" && cp -R Makefile src include "$tmp/$1/"
}
# build_and_dump NAME: builds $tmp/NAME; its ABI in $tmp/NAME.abi, $tmp/NAME.const.
build_and_dump() {
    (cd "$tmp/$1" && make -s -j2 CUDA=0 OPT=-O0 lib/libvidaction.so) > "$tmp/$1.build" 2>&1 &&
        sh $abi/abi-check.sh dump "$tmp/$1/lib/libvidaction.so" "$tmp/$1/include" "$tmp/$1.abi" &&
        sh $abi/abi-check.sh constants "$tmp/$1/include" > "$tmp/$1.const" ||
        { tail -20 "$tmp/$1.build"; echo "scratch build $1 failed"; return 1; }
}
# compare_with_plain NAME: $tmp/NAME.rc holds compare's exit status, $tmp/NAME.out its report.
compare_with_plain() {
    sh $abi/abi-check.sh compare "$tmp/plain.base" "$tmp/$1.abi" "$tmp/$1.const" "$tmp/$1/include" > "$tmp/$1.out" 2>&1
    echo $? > "$tmp/$1.rc"
}
# applied FILE: the edit changed FILE (else the test needs updating, not the library).
applied() {
    cmp -s "$1" "$tmp/plain/${1#$tmp/*/}" && { echo "the deliberate break did not apply to $1"; return 1; }
    return 0
}
scratch plain
scratch removed_function
scratch changed_struct
scratch grown_params
# (a) a function removed: its declaration, its definition, its map entry
d=$tmp/removed_function
sed -i '/^VIDA_API int64_t vida_model_num_params(const vida_model \*m);/d' $d/include/vidaction/model.h
awk '/^int64_t vida_model_num_params\(/ { skip = 1 } !skip { print } skip && /^}/ { skip = 0 }' \
    src/nn/model.c > $d/src/nn/model.c
sed -i '/^ *vida_model_num_params;/d' $d/src/libvidaction.map
# (b) a field inserted in the middle of a public struct
d=$tmp/changed_struct
sed -i '/^typedef struct vida_tensor {/,/^} vida_tensor;/ s/^\(    void \*data;\)$/\1\n    int flags;/' \
    $d/include/vidaction/common.h
# (c) a params struct grown at its end, as docs/api-stability.md allows
d=$tmp/grown_params
sed -i '/^typedef struct vida_model_params {/,/^} vida_model_params;/ s/^\(} vida_model_params;\)$/    double added_in_a_later_release[4];\n\1/' \
    $d/include/vidaction/model.h
mkdir -p "$tmp/plain.base"
echo 1 > "$tmp/plain.rc"
if build_and_dump plain > "$tmp/plain.log" 2>&1; then
    cp "$tmp/plain.abi" "$tmp/plain.base/libvidaction.abi"
    cp "$tmp/plain.const" "$tmp/plain.base/constants.txt"
    for n in removed_function changed_struct grown_params; do
        echo 1 > "$tmp/$n.rc"
        build_and_dump $n > "$tmp/$n.log" 2>&1 && compare_with_plain $n
    done
fi

t checker_same_dump_from_cpu_only_O0_build 'cat "$tmp/plain.log"; cmp "$tmp/cur.abi" "$tmp/plain.abi" && cmp "$tmp/cur.const" "$tmp/plain.const"'
t checker_catches_removed_function 'cat "$tmp/plain.log" "$tmp/removed_function.log" "$tmp/removed_function.out";
    applied $tmp/removed_function/include/vidaction/model.h && applied $tmp/removed_function/src/nn/model.c &&
    [ "$(cat $tmp/removed_function.rc)" = 8 ] && grep -q "Removed function" "$tmp/removed_function.out" &&
    grep -q "vida_model_num_params" "$tmp/removed_function.out"'
t checker_catches_changed_struct 'cat "$tmp/changed_struct.log" "$tmp/changed_struct.out";
    applied $tmp/changed_struct/include/vidaction/common.h &&
    [ "$(cat $tmp/changed_struct.rc)" = 8 ] && grep -q "struct vida_tensor. changed" "$tmp/changed_struct.out" &&
    grep -q "int flags" "$tmp/changed_struct.out"'
t checker_allows_params_grown_at_end 'cat "$tmp/grown_params.log" "$tmp/grown_params.out";
    applied $tmp/grown_params/include/vidaction/model.h &&
    [ "$(cat $tmp/grown_params.rc)" = 4 ] && grep -q "added_in_a_later_release" "$tmp/grown_params.out"'
vt_end
