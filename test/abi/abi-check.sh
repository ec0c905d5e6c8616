#!/bin/sh
# The ABI checker: abidw/abidiff (Debian abigail-tools) and the public
# constants. Used by update-baseline.sh, test_abi.sh and its scratch builds.
#
#   abi-check.sh dump LIB INCLUDE OUT
#       The ABI of LIB as the baseline records it: the functions declared in
#       INCLUDE and the types reachable from them (private types dropped), no
#       paths, source locations or DT_NEEDED (so CUDA and CPU-only builds,
#       -O0 or -O3, give the same file), type ids as hashes (small diffs).
#   abi-check.sh constants INCLUDE
#       Every enum constant and integer macro of the public headers, "NAME VALUE"
#       (VIDA_VERSION_* left out: they change with every release).
#   abi-check.sh compare OLD_DIR NEW_ABI NEW_CONSTANTS INCLUDE
#       Compares NEW_ABI and NEW_CONSTANTS with OLD_DIR/libvidaction.abi and
#       OLD_DIR/constants.txt. Prints what changed; exits 0 when nothing did,
#       4 when the only changes are compatible (functions, constants added;
#       a struct with a leading size field grown at its end), 8 otherwise.
#
# abidiff sets its "incompatible" bit (8) only for removed or re-versioned
# symbols; a changed struct layout is bit 4 ("ABI change"). So a break here
# is any change left after the compatible ones are set aside, whatever its bit.
set -u
cmd=$1
shift

# The structs whose first member is `size_t size;` (the caller sets it, the
# library reads only the bytes it is told of), as a regexp for abidiff.
sized_structs() {
    awk '/^typedef struct [A-Za-z_0-9]+ \{/ { name = $3; getline; if ($1 == "size_t" && $2 == "size;") print name }' \
        "$1"/vidaction/*.h | paste -sd'|' -
}

command -v abidw > /dev/null && command -v abidiff > /dev/null ||
    { echo "abidw/abidiff not found: apt-get install abigail-tools (make deps)" >&2; exit 1; }

case $cmd in
dump)
    lib=$1 inc=$2 out=$3
    abidw --headers-dir "$inc" --drop-private-types --drop-undefined-syms \
        --no-corpus-path --no-comp-dir-path --no-show-locs --no-elf-needed \
        --type-id-style hash --out-file "$out" "$lib" || exit 1
    # abi-instr path= names each compile unit; keep it relative.
    sed -i "s|='$(cd "$(dirname "$lib")/.." && pwd)/|='|g" "$out"
    ;;
constants)
    inc=$1
    work=$(mktemp -d)
    # Names from the preprocessed headers (so comments do not count): enum
    # constants given a value, and object-like macros.
    echo '#include <vidaction.h>' > "$work/h.c"
    names=$( (${CC:-cc} -std=c11 -I"$inc" -E -P "$work/h.c" | grep -o 'VIDA_[A-Z0-9_]*[ \t]*=' | sed 's/[ \t=]*$//'
        ${CC:-cc} -std=c11 -I"$inc" -E -dM "$work/h.c" | sed -n 's/^#define \(VIDA_[A-Z0-9_]*\) .*/\1/p') |
        grep -v -e '^VIDA_API$' -e '^VIDA_VERSION_' | sort -u)
    {
        echo '#include <stdio.h>'
        echo '#include <vidaction.h>'
        echo 'int main(void) {'
        for n in $names; do printf '    printf("%s %%lld\\n", (long long)(%s));\n' "$n" "$n"; done
        echo '    return 0; }'
    } > "$work/c.c"
    ${CC:-cc} -std=c11 -I"$inc" -o "$work/c" "$work/c.c" && "$work/c"
    status=$?
    rm -rf "$work"
    exit $status
    ;;
compare)
    old=$1 new=$2 newc=$3 inc=$4
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    printf '[suppress_type]\n  type_kind = struct\n  name_regexp = ^(%s)$\n  has_data_member_inserted_at = end\n' \
        "$(sized_structs "$inc")" > "$work/suppr"
    abidiff "$old/libvidaction.abi" "$new" > "$work/all.txt"
    all=$?
    abidiff --no-added-syms --suppressions "$work/suppr" "$old/libvidaction.abi" "$new" > "$work/break.txt"
    brk=$?
    [ $((all & 3)) = 0 ] && [ $((brk & 3)) = 0 ] || { cat "$work/all.txt"; echo "abidiff failed"; exit 8; }
    # Constants: one removed or given another value is a break, one added is not.
    changed=$(awk 'NR == FNR { v[$1] = $2; next } !($1 in v) { print "  removed: " $0; next }
        v[$1] != $2 { print "  changed: " $1 " " $2 " -> " v[$1] }' "$newc" "$old/constants.txt")
    added=$(awk 'NR == FNR { v[$1] = 1; next } !($1 in v) { print "  added: " $0 }' "$old/constants.txt" "$newc")
    if [ $brk != 0 ] || [ -n "$changed" ]; then
        echo "incompatible ABI change against the baseline:"
        [ $brk = 0 ] || cat "$work/break.txt"
        [ -z "$changed" ] || { echo "constants:"; echo "$changed"; }
        exit 8
    fi
    if [ $all != 0 ] || [ -n "$added" ]; then
        echo "compatible ABI change (the baseline needs test/abi/update-baseline.sh and an entry in docs/APIchanges.md):"
        [ $all = 0 ] || cat "$work/all.txt"
        [ -z "$added" ] || { echo "constants:"; echo "$added"; }
        exit 4
    fi
    echo "ABI identical to the baseline ($(grep -c '<elf-symbol ' "$new") functions, $(wc -l < "$newc") constants)"
    exit 0
    ;;
*)
    echo "usage: abi-check.sh dump|constants|compare ..." >&2
    exit 2
    ;;
esac
