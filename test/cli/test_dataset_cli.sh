#!/bin/sh
# The vidaction program's data commands: `scan` (pre-flight of a manifest's
# videos: each ok or the reason, bad ones listed in a file) and `dataset`
# (classes, videos and draws per class for a label space and a resampling).
# Videos are made here with the ffmpeg program; the manifest mixes good
# videos, a missing one, a corrupt one, a truncated one and malformed lines.
# Prints "ok/FAIL name" per case and "N passed, N failed".
V=${VIDACTION:-bin/vidaction}
PY=${PYTHON:-python3}
. test/testlib.sh
vt_begin dataset_cli

if ! command -v ffmpeg >/dev/null 2>&1; then
    echo "skipped: test_dataset_cli needs the ffmpeg program"
    echo "0 passed, 0 failed"
    exit 0
fi

d=$tmp/data
mkdir -p "$d/clips"
for i in 1 2 3; do
    ffmpeg -nostdin -v error -y -f lavfi -i "testsrc=size=96x72:rate=25:duration=2" \
        -c:v libx264 -preset ultrafast -pix_fmt yuv420p "$d/clips/good$i.mp4" || exit 1
done
head -c 2000 "$d/clips/good1.mp4" >"$d/clips/cut.mp4"
printf 'not a video\n' >"$d/clips/junk.mp4"
tab=$(printf '\t')
cat >"$d/m.tsv" <<EOF
clips/good1.mp4${tab}#RollingDice,#dice
clips/good2.mp4${tab}Cutting_Onion${tab}2
{"path": "clips/good3.mp4", "labels": ["#jumping", "#RollingDice"], "duration": 2.0}
clips/missing.mp4${tab}#dice
clips/junk.mp4${tab}#jumping
clips/cut.mp4${tab}#CuttingOnion

this line has no tab
{"path": "clips/good1.mp4", "labels": "#dice"}
clips/good1.mp4${tab}#dice${tab}soon
EOF
cat >"$d/tax.tsv" <<EOF
#RollingDice${tab}roll${tab}dice${tab}rolling dice
#CuttingOnion${tab}cut${tab}onion${tab}cutting onion
#dice${tab}${tab}dice${tab}
#jumping${tab}jump${tab}${tab}jumping
EOF

# json FILE EXPR: evaluates a Python expression over the parsed JSON document j
json() {
    $PY -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1"
}

# --- scan -----------------------------------------------------------------------
(cd "$tmp" && "$OLDPWD/$V" scan "$d/m.tsv" >"$tmp/scan.txt" 2>"$tmp/scan.err")
echo $? >"$tmp/scan.rc"
t scan_exit_1_when_bad '[ "$(cat $tmp/scan.rc)" = 1 ]'
t scan_good_files_ok 'grep -c "^ok   .*good[123].mp4 (50 frames, 96x72, h264" $tmp/scan.txt | grep -qx 3'
t scan_missing_named 'grep -q "^bad  .*clips/missing.mp4: .*No such file" $tmp/scan.txt'
t scan_junk_named 'grep -q "^bad  .*clips/junk.mp4: " $tmp/scan.txt'
t scan_truncated_named 'grep -q "^bad  .*clips/cut.mp4: " $tmp/scan.txt'
t scan_bad_list 'sed "s,.*/,," $tmp/scan-bad.txt | sort | tr "\n" " " | grep -qx "cut.mp4 junk.mp4 missing.mp4 "'
t scan_line_problems 'grep -q "line 8: no tab" $tmp/scan.err && grep -q "line 9: \"labels\" is not a list" $tmp/scan.err && grep -q "line 10: duration \"soon\"" $tmp/scan.err'
t scan_summary 'grep -q "^3 ok, 3 bad, 3 bad lines" $tmp/scan.txt'
t scan_json '"$V" scan "$d/m.tsv" --json --bad-list "$tmp/bad2.txt" >"$tmp/scan.json" 2>/dev/null; [ $? = 1 ] &&
    json "$tmp/scan.json" "j[\"ok\"]==3 and j[\"bad\"]==3 and j[\"bad_lines\"]==3 and len(j[\"files\"])==6 and all((f[\"ok\"]) == (\"good\" in f[\"path\"]) for f in j[\"files\"]) and all(\"error\" in f for f in j[\"files\"] if not f[\"ok\"])" &&
    [ $(wc -l <"$tmp/bad2.txt") = 3 ]'
t scan_all_good_exit_0 'printf "clips/good1.mp4\ta\n" >"$d/ok.tsv"; "$V" scan "$d/ok.tsv" --bad-list "$tmp/bad3.txt" && [ ! -s "$tmp/bad3.txt" ]'

# --- dataset ---------------------------------------------------------------------
# kept (files exist): good1 {RollingDice, dice}, good2 {Cutting_Onion}, good3 {jumping, RollingDice},
# junk {jumping}, cut {CuttingOnion}; missing.mp4 is dropped, 3 bad lines
t dataset_target_no_taxonomy '"$V" dataset "$d/m.tsv" --json >"$tmp/d1.json" 2>"$tmp/d1.err" &&
    json "$tmp/d1.json" "j[\"videos\"]==5 and j[\"missing\"]==1 and j[\"bad_lines\"]==3 and j[\"dropped\"]==4 and
      [(l[\"name\"], l[\"videos\"]) for l in j[\"labels\"]]==[(\"Cutting_Onion\",2),(\"#dice\",1),(\"#jumping\",2),(\"#RollingDice\",2)]" &&
    grep -q "missing.mp4" "$tmp/d1.err"'
t dataset_verb '"$V" dataset "$d/m.tsv" --taxonomy "$d/tax.tsv" --label-space verb --json >"$tmp/d2.json" 2>/dev/null &&
    json "$tmp/d2.json" "[(l[\"name\"], l[\"videos\"]) for l in j[\"labels\"]]==[(\"cut\",2),(\"jump\",2),(\"roll\",2)] and j[\"videos\"]==5"'
t dataset_noun '"$V" dataset "$d/m.tsv" --taxonomy "$d/tax.tsv" --label-space noun --json >"$tmp/d3.json" 2>/dev/null &&
    json "$tmp/d3.json" "[(l[\"name\"], l[\"videos\"]) for l in j[\"labels\"]]==[(\"dice\",2),(\"onion\",2)] and j[\"videos\"]==4 and j[\"unlabelled\"]==1"'
t dataset_verb_noun '"$V" dataset "$d/m.tsv" --taxonomy "$d/tax.tsv" --label-space verb+noun --json >"$tmp/d4.json" 2>/dev/null &&
    json "$tmp/d4.json" "[(l[\"name\"], l[\"videos\"]) for l in j[\"labels\"]]==[(\"cut+onion\",2),(\"roll+dice\",2)]"'
t dataset_target_taxonomy_min_count '"$V" dataset "$d/m.tsv" --taxonomy "$d/tax.tsv" --min-count 2 --json >"$tmp/d5.json" 2>/dev/null &&
    json "$tmp/d5.json" "[l[\"name\"] for l in j[\"labels\"]]==[\"cutting onion\",\"jumping\",\"rolling dice\"]"'
# --class-list: only the listed classes, in the file's order (comments, blank lines and a CR
# skipped); jumping is not listed, so junk.mp4 (jumping alone) is dropped as unlabelled
t dataset_class_list 'printf "rolling dice\n# a comment\n\ncutting onion\r\n" >"$tmp/list.txt" &&
    "$V" dataset "$d/m.tsv" --taxonomy "$d/tax.tsv" --class-list "$tmp/list.txt" --json >"$tmp/d10.json" 2>/dev/null &&
    json "$tmp/d10.json" "[(l[\"name\"], l[\"videos\"]) for l in j[\"labels\"]]==[(\"rolling dice\",2),(\"cutting onion\",2)] and j[\"videos\"]==4 and j[\"unlabelled\"]==1"'
t dataset_class_list_missing '"$V" dataset "$d/m.tsv" --class-list "$tmp/nolist.txt" 2>"$tmp/e4"; [ $? = 1 ] &&
    grep -q "cannot read the class list .*nolist.txt: No such file" "$tmp/e4"'
t dataset_class_list_empty 'printf "\n# nothing\n" >"$tmp/empty.txt"; "$V" dataset "$d/m.tsv" --class-list "$tmp/empty.txt" 2>"$tmp/e5";
    [ $? = 1 ] && grep -q "empty.txt names no class" "$tmp/e5"'
t dataset_draws_uniform '"$V" dataset "$d/m.tsv" --resample uniform --draws 40000 --seed 3 --json >"$tmp/d6.json" 2>/dev/null &&
    json "$tmp/d6.json" "j[\"draws\"]==40000 and sum(l[\"draws\"] for l in j[\"labels\"])==40000 and all(abs(l[\"draws\"]-10000)<400 for l in j[\"labels\"])"'
t dataset_draws_natural '"$V" dataset "$d/m.tsv" --resample natural --draws 70000 --json >"$tmp/d7.json" 2>/dev/null &&
    json "$tmp/d7.json" "all(abs(l[\"draws\"]-10000*l[\"videos\"])<500 for l in j[\"labels\"])"'
t dataset_none_epoch '"$V" dataset "$d/m.tsv" --clips-per-video 3 --json >"$tmp/d8.json" 2>/dev/null &&
    json "$tmp/d8.json" "j[\"epoch_size\"]==15 and j[\"draws\"]==15"'
t dataset_budget_short '"$V" dataset "$d/m.tsv" --max-videos 2 --prefer short --json >"$tmp/d9.json" 2>"$tmp/d9.err";
    json "$tmp/d9.json" "j[\"videos\"]==2 and j[\"over_budget\"]==1 and j[\"unprobed\"]==2"'
t dataset_text '"$V" dataset "$d/m.tsv" 2>/dev/null | grep -q "5 videos kept of 9 lines"'
t dataset_needs_taxonomy '"$V" dataset "$d/m.tsv" --label-space verb 2>"$tmp/e0"; [ $? = 1 ] && grep -q "needs a taxonomy" "$tmp/e0"'
t dataset_bad_space '"$V" dataset "$d/m.tsv" --label-space adverbs 2>"$tmp/e1"; [ $? = 2 ] && grep -q "bad --label-space" "$tmp/e1"'
t dataset_no_manifest '"$V" dataset "$tmp/nope.tsv" 2>"$tmp/e2"; [ $? = 1 ] && grep -q "nope.tsv" "$tmp/e2"'
t dataset_bad_taxonomy 'printf "a\tb\tc\td\te\n" >"$tmp/badtax.tsv"; "$V" dataset "$d/m.tsv" --taxonomy "$tmp/badtax.tsv" 2>"$tmp/e3"; [ $? = 1 ] && grep -q "badtax.tsv: line 1: more than 4 fields" "$tmp/e3"'
vt_end
