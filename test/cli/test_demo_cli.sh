#!/bin/sh
# `vidaction synth` and `vidaction demo`: the demo's whole pipeline (SynthActions,
# pre-training, three target runs, evaluation, a timeline) with --quick, its JSON (the keys
# docs and scripts read), the files it leaves, and refused arguments. The real demo's
# numbers are in README.md and docs/synthactions.md (make demo); --quick's mean nothing.
# Prints "ok/FAIL name" per case and "N passed, N failed".
V=${VIDACTION:-bin/vidaction}
PY=${PYTHON:-python3}
. test/testlib.sh
vt_begin demo_cli

t demo_quick_json "$V demo --quick --json --out $tmp/d --threads 2 >$tmp/d.json 2>$tmp/d.err"
t json_has_the_results "$PY -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r[\"seed\"] == 1 and r[\"quick\"] is True and r[\"classes\"] == 8 and r[\"test_videos\"] == 56, r
for k in (\"scratch\", \"pretrained_finetuned\", \"pretrained_fc_only\"):
    assert 0 <= r[k][\"video_top1\"] <= 1 and 0 <= r[k][\"clip_top1\"] <= 1, (k, r[k])
assert 0 < r[\"seconds\"] < 600, r
' $tmp/d.json"
t stages_went_to_stderr "grep -q '== results (seed 1)' $tmp/d.err && grep -q 'truth:' $tmp/d.err &&
    grep -q 'move\\|rotate\\|grow\\|shrink\\|appear' $tmp/d.err"
t files_left "for m in pretrain scratch finetuned fc-only; do [ -s $tmp/d/\$m/model.safetensors ] || exit 1; done &&
    [ -s $tmp/d/data/pretrain/taxonomy.tsv ] && [ -s $tmp/d/data/target/test.tsv ] && [ -s $tmp/d/data/long/long.tsv ]"
t demo_bad_seed "$V demo --seed x; [ \$? = 2 ]"
t demo_unknown_option "$V demo --fast; [ \$? = 2 ]"
t demo_out_not_creatable "$V demo --quick --out /proc/no/such; [ \$? = 1 ]"
# `vidaction study` (issue 8): its arguments (the studies themselves run with --smoke in
# test/study/test_study.sh; the real runs take an hour, docs/reproduction.md has their output),
# and the plotter on a JSON a run wrote (test/study/scale-quick-example.json): a PNG of the right
# size
t study_needs_name "$V study 2>$tmp/e; [ \$? = 2 ] && grep -q 'needs a NAME' $tmp/e"
t study_unknown "$V study kinetics 2>$tmp/e; [ \$? = 2 ] && grep -q 'unknown study' $tmp/e"
t study_two_names "$V study scale budget 2>$tmp/e; [ \$? = 2 ] && grep -q 'one NAME' $tmp/e"
t study_out_not_creatable "$V study scale --smoke --out /proc/no/such 2>$tmp/e; [ \$? = 1 ] && grep -q 'cannot create' $tmp/e"
t study_bad_seeds "$V study scale --seeds 0 2>$tmp/e; [ \$? = 2 ] && grep -q 'bad --seeds' $tmp/e"
t study_plot_png "$PY test/study/plot_study.py test/study/scale-quick-example.json $tmp/p.png --chance 0.125 &&
    $PY -c '
import struct, sys
b = open(sys.argv[1], \"rb\").read()
assert b[:8] == b\"\\x89PNG\\r\\n\\x1a\\n\" and b[12:16] == b\"IHDR\", b[:16]
w, h = struct.unpack(\">II\", b[16:24])
assert w == 70 + 7 * 120 + 20 and h == 50 + 300 + 140, (w, h)
' $tmp/p.png"
t synth_needs_preset "$V synth $tmp/s; [ \$? = 2 ]"
t synth_bad_preset "$V synth $tmp/s --preset kinetics 2>$tmp/e; [ \$? = 2 ] && grep -q 'bad --preset' $tmp/e"
t synth_bad_size "$V synth $tmp/s --preset target-k --size 81x64 2>$tmp/e; [ \$? = 1 ] && grep -q 'width' $tmp/e"
t synth_bad_range "$V synth $tmp/s --preset target-k --seconds 3-x; [ \$? = 2 ]"
vt_end
