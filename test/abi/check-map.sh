#!/bin/sh
# The version script, the public headers and the shared library agree:
#   - every function declared in a public header (found by the compiler, gcc
#     -aux-info, so the layout of a declaration does not matter) is listed in
#     exactly one version node of the map, by name (no wildcards in a global list);
#   - every name the map lists is declared in a public header;
#   - the library exports exactly these functions, each under the node that lists
#     it (nm -D: name@@NODE), and defines exactly the map's nodes.
# A new function that is left out of the map, or put in two nodes, fails here.
#   sh test/abi/check-map.sh [src/libvidaction.map [include [lib/libvidaction.so]]]
map=${1:-src/libvidaction.map}
inc=${2:-include}
lib=${3:-lib/libvidaction.so}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
problem() { echo "$*"; status=1; }

# node<TAB>symbol for each name of a global: list, in order.
awk '
    # strip /* */ comments, which may span lines
    {
        s = $0; out = ""
        while (s != "") {
            if (incomment) {
                i = index(s, "*/"); if (!i) { s = ""; break }
                s = substr(s, i + 2); incomment = 0
            } else {
                i = index(s, "/*"); if (!i) { out = out s; s = "" }
                else { out = out substr(s, 1, i - 1); s = substr(s, i + 2); incomment = 1 }
            }
        }
        gsub(/#.*/, "", out)
        gsub(/[{};]/, " & ", out)
        n = split(out, tok, /[ \t]+/)
        for (k = 1; k <= n; k++) if (tok[k] != "") print tok[k]
    }' "$map" | awk '
    depth == 0 && $0 == "{" { depth = 1; section = ""; next }
    depth == 0 && $0 == "}" { print "error\tunbalanced }"; next }
    depth == 0 && $0 == ";" { after = 0; next }
    depth == 0 { if (!after) node = $0; next }   # after "}": the parent node
    depth == 1 && $0 == "}" { depth = 0; after = 1; next }
    depth == 1 && $0 == "global:" { section = "global"; next }
    depth == 1 && $0 == "local:" { section = "local"; next }
    depth == 1 && $0 == ";" { next }
    depth == 1 && section == "global" { print node "\t" $0; next }
    depth == 1 && section == "local" { print "local\t" node "\t" $0; next }
    depth == 1 { print "error\t" node ": \"" $0 "\" outside global:/local:" }
' > "$work/map.tsv"

grep '^error	' "$work/map.tsv" | cut -f2- | while read -r line; do echo "map: $line"; done
grep -q '^error	' "$work/map.tsv" && status=1
grep -v '^error	' "$work/map.tsv" | grep -v '^local	' > "$work/global.tsv"
cut -f1 "$work/global.tsv" | awk '!seen[$0]++' > "$work/nodes"
cut -f2 "$work/global.tsv" | sort > "$work/listed"

wild=$(cut -f2 "$work/global.tsv" | grep '[*?[]')
[ -z "$wild" ] || problem "map: wildcards in a global list (name every function): $wild"
local_bad=$(grep '^local	' "$work/map.tsv" | cut -f3 | grep -v '^\*$')
[ -z "$local_bad" ] || problem "map: local: should be * only: $local_bad"
dups=$(uniq -d "$work/listed")
sort -u "$work/listed" > "$work/listed_u"
[ -z "$dups" ] || problem "map: listed more than once: $dups"

# The functions declared in the public headers, as the compiler sees them
# (gcc's -aux-info; absolute paths, so that it names every header the same way).
inc_abs=$(cd "$inc" && pwd)
for h in "$inc_abs"/vidaction.h "$inc_abs"/vidaction/*.h; do
    echo "#include \"$h\""
done > "$work/all.c"
gcc -std=c11 -I"$inc_abs" -fsyntax-only -aux-info "$work/aux.txt" "$work/all.c" ||
    problem "headers: do not compile"
awk -v p="/* $inc_abs/" 'index($0, p) == 1' "$work/aux.txt" | sed 's/^[^*]*\*\/ *//' |
    sed -n 's/^[^(]*[^A-Za-z0-9_]\([A-Za-z_][A-Za-z0-9_]*\) *(.*/\1/p' | sort -u > "$work/declared"
[ -s "$work/declared" ] || problem "headers: no function declarations found in $inc"
bad=$(grep -v '^vida_' "$work/declared")
[ -z "$bad" ] || problem "headers: public functions outside vida_*: $bad"
missing=$(comm -23 "$work/declared" "$work/listed_u")
[ -z "$missing" ] || problem "map: declared in $inc but in no version node (add them to the node of this release):" $missing
stale=$(comm -13 "$work/declared" "$work/listed_u")
[ -z "$stale" ] || problem "map: listed but declared in no public header:" $stale

# What the library exports: name@@NODE for functions, NODE alone for the nodes.
nm -D --defined-only "$lib" > "$work/nm" || problem "nm failed on $lib"
awk '$2 == "T" { split($3, a, "@@"); print a[2] "\t" a[1] }' "$work/nm" | sort > "$work/exported.tsv"
awk '$2 == "A" { print $3 }' "$work/nm" | sort > "$work/lib_nodes"
sort "$work/global.tsv" > "$work/global.sorted"
if ! cmp -s "$work/global.sorted" "$work/exported.tsv"; then
    problem "library: exports differ from the map (< map, > $lib):"
    diff "$work/global.sorted" "$work/exported.tsv" | grep '^[<>]'
fi
sort "$work/nodes" > "$work/map_nodes"
cmp -s "$work/map_nodes" "$work/lib_nodes" ||
    problem "library: version nodes" $(cat "$work/lib_nodes") "but the map has" $(cat "$work/map_nodes")

[ $status = 0 ] && echo "map: $(wc -l < "$work/listed") functions in nodes" \
    $(for n in $(cat "$work/nodes"); do printf '%s(%s) ' "$n" "$(grep -c "^$n	" "$work/global.tsv")"; done) \
    "= the public headers = the exports of $lib"
exit $status
