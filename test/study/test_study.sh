#!/bin/sh
# `vidaction study` (issue 8) with --smoke: every study's whole pipeline (SynthActions sets,
# pre-training in each label space, budget and resampling, the frame model, transfers,
# evaluation) on a few videos and steps, where nothing learns; the real runs take an hour and
# are in docs/reproduction.md. Checked here: the JSON (every study's points, their seeds, mean
# and standard deviation), the per-study files, and the run cache: a run with the same
# arguments is reused (and gives the same number), one whose model is gone or whose arguments
# changed is trained again.
# Prints "ok/FAIL name" per case and "N passed, N failed".
V=${VIDACTION:-bin/vidaction}
PY=${PYTHON:-python3}
. test/testlib.sh
vt_begin study

o=$tmp/s
t budget_two_seeds "$V study budget --smoke --seeds 2 --json --out $o >$tmp/b.json 2>$tmp/b.err"
t budget_json "$PY -c '
import json, math, sys
r = json.load(open(sys.argv[1]))
assert r[\"study\"] == \"budget\" and r[\"smoke\"] is True and r[\"n_seeds\"] == 2 and r[\"first_seed\"] == 1, r
names = [\"4-short-videos\", \"4-long-videos\", \"1-minutes-short\", \"4-long-1-clip\", \"4-long-4-clips\"]
got = [(p[\"name\"], p[\"target\"]) for p in r[\"points\"]]
assert got == [(n, t) for n in names for t in (\"target-ss\", \"target-k\")], got
for p in r[\"points\"]:
    s = p[\"seeds\"]
    assert p[\"study\"] == \"budget\" and p[\"transfer\"] == \"fc-only\" and p[\"metric\"] == \"video_top1\", p
    assert len(s) == 2 and all(0 <= v <= 1 for v in s), p
    m = sum(s) / 2
    assert abs(p[\"mean\"] - m) < 1e-5 and abs(p[\"std\"] - math.sqrt(sum((v - m) ** 2 for v in s))) < 1e-5, p
' $tmp/b.json"
# the study's own file has the same points; what each budget kept is printed
t budget_file "$PY -c '
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a[\"points\"] == b[\"points\"], (a, b)
' $tmp/b.json $o/budget.json && grep -q '4-long-videos .* 4 videos' $tmp/b.err &&
    grep -q '1-minutes-short .* videos, *1.0 minutes' $tmp/b.err"
# the Markdown table of docs/reproduction.md: a header, a rule and a row a point
t budget_table "$PY test/study/table_study.py $tmp/b.json >$tmp/b.md && [ \$(wc -l <$tmp/b.md) = 12 ] &&
    grep -q '^| 4-long-4-clips | target-k | fc-only | 0\\.[0-9]* ± 0\\.[0-9]* | 0\\.[0-9]*, 0\\.[0-9]* |\$' $tmp/b.md"
# the runs and their arguments: fixed clips, four a video, in the 4-clip run; 5 pre-trainings and
# 10 transfers a seed
t budget_runs "[ \$(ls $o/runs | wc -l) = 30 ] && [ \$(ls $o/runs/*/model.safetensors | wc -l) = 30 ] &&
    grep -qx fixed $o/runs/s1-pre-4-long-4-clips-*/args.txt && grep -qx 4 $o/runs/s1-pre-4-long-4-clips-*/args.txt &&
    grep -qx -- --max-minutes $o/runs/s2-pre-1-minutes-short-*/args.txt && [ -s $o/data/long-8-s1/train.tsv ]"
# all studies, seed 1: budget's seed-1 runs are reused and give the same numbers; scale's point
# names are the issue's; label-space has 4 spaces x 4 targets
t all_one_seed "$V study all --smoke --seeds 1 --json --out $o >$tmp/a.json 2>$tmp/a.err &&
    grep -q 's1-pre-4-long-4-clips  *reused' $tmp/a.err && grep -q 's1-verb-sqrt-4-target-k-fc  *reused' $tmp/a.err"
t all_json "$PY -c '
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a[\"study\"] == \"all\" and a[\"n_seeds\"] == 1, a
studies = {}
for p in a[\"points\"]:
    studies.setdefault(p[\"study\"], []).append(p)
    assert len(p[\"seeds\"]) == 1 and 0 <= p[\"seeds\"][0] <= 1 and p[\"std\"] == 0, p
assert list(studies) == [\"scale\", \"label-space\", \"video-vs-frame\", \"budget\", \"resampling\"], list(studies)
sc = studies[\"scale\"]
assert len(sc) == 28 and set(p[\"target\"] for p in sc) == {\"target-ss\", \"target-k\", \"epic-verbs\", \"epic-nouns\"}, sc
assert sorted(set(p[\"name\"] for p in sc)) == sorted([\"scratch\", \"pretrain-1x\", \"pretrain-4x\",
    \"pretrain-16x\", \"pretrain-1x-fc\", \"pretrain-4x-fc\", \"pretrain-16x-fc\"])
assert all(p[\"transfer\"] == (\"none\" if p[\"name\"] == \"scratch\" else \"fc-only\" if p[\"name\"].endswith(\"-fc\") else \"full\") for p in sc)
ls = studies[\"label-space\"]
assert len(ls) == 16 and set(p[\"name\"] for p in ls) == {\"target\", \"verb\", \"noun\", \"verb+noun\"}, ls
assert set(p[\"target\"] for p in ls) == {\"target-k\", \"target-ss\", \"epic-verbs\", \"epic-nouns\"}, ls
vf = studies[\"video-vs-frame\"]
assert len(vf) == 8 and set(p[\"name\"] for p in vf) == {\"r2plus1d\", \"frame\"}, vf
assert [p[\"name\"] for p in studies[\"resampling\"]] == [\"natural\", \"natural\", \"sqrt\", \"sqrt\", \"uniform\", \"uniform\"]
for p, q in zip(studies[\"budget\"], b[\"points\"]):
    assert p[\"name\"] == q[\"name\"] and p[\"seeds\"][0] == q[\"seeds\"][0], (p, q)
' $tmp/a.json $tmp/b.json && (for s in scale label-space video-vs-frame budget resampling; do [ -s $o/\$s.json ] || exit 1; done)"
# scale's pre-trainings (and video-vs-frame's two networks, as scale's x4) are on the noisier
# pool, for scale's steps (--smoke: 4; the others 3) at lr 0.01; label-space's verbs on the first
# pool at 0.02
t scale_noisy_pool "for r in noisy-verb-sqrt-8 noisy-verb-sqrt-32 noisy-verb-sqrt-128 frame-noisy-verb-sqrt-32; do
        grep -qx $o/data/demo-128-s1-wrong0.4/pretrain/train.tsv $o/runs/s1-pre-\$r-*/args.txt &&
        grep -A1 -x -- --steps $o/runs/s1-pre-\$r-*/args.txt | grep -qx 4 &&
        grep -A1 -x -- --lr $o/runs/s1-pre-\$r-*/args.txt | grep -qx 0.01 || exit 1; done &&
    grep -qx $o/data/demo-128-s1/pretrain/train.tsv $o/runs/s1-pre-verb-sqrt-16-*/args.txt &&
    grep -A1 -x -- --steps $o/runs/s1-pre-verb-sqrt-16-*/args.txt | grep -qx 3 &&
    grep -A1 -x -- --lr $o/runs/s1-pre-verb-sqrt-16-*/args.txt | grep -qx 0.02 &&
    grep -q 's1-noisy-verb-sqrt-32-target-ss-ft  *trained' $tmp/a.err &&
    [ \$(grep -c '^   s1-pre-noisy-verb-sqrt-32  *trained ' $tmp/a.err) = 2 ]"
# scale's epic-nouns rows transfer from a noun pre-training of as many videos of the first pool
# (uniform over the nouns, the noun recipe's steps -- --smoke: 5 -- at lr 0.05), not from the
# verbs of the noisier pool, which transfer to the other three targets
t scale_noun_pretraining "for n in 8 32 128; do r=\$(echo $o/runs/s1-pre-noun-uniform-\$n-*/args.txt) &&
        grep -qx $o/data/demo-128-s1/pretrain/train.tsv \$r && grep -A1 -x -- --label-space \$r | grep -qx noun &&
        grep -A1 -x -- --resample \$r | grep -qx uniform && grep -A1 -x -- --max-videos \$r | grep -qx \$n &&
        grep -A1 -x -- --steps \$r | grep -qx 5 && grep -A1 -x -- --lr \$r | grep -qx 0.05 &&
        grep -q \"s1-noun-uniform-\$n-epic-nouns-ft  *trained\" $tmp/a.err &&
        grep -q \"s1-noun-uniform-\$n-epic-nouns-fc  *trained\" $tmp/a.err &&
        grep -q \"s1-noisy-verb-sqrt-\$n-epic-verbs-ft  *trained\" $tmp/a.err || exit 1; done &&
    ! ls $o/runs | grep -q 'noisy-verb-sqrt-.*-epic-nouns' && ! ls $o/runs | grep -q '^s1-noun-uniform-.*-target-'"
# the conclusions compare pre-training with scratch on every target, and x16 with x1
t scale_conclusions "grep -c 'pre-training: pretrain-16x.* - scratch = ' $tmp/a.err | grep -qx 8 &&
    grep -c 'more data: pretrain-16x.* - pretrain-1x.* = ' $tmp/a.err | grep -qx 8"
# label-space's verb+noun pre-training is resampling's square-root one: trained once (one job),
# found trained by both studies
t shared_between_studies "[ \$(grep -c '^   \\[[0-9]*/[0-9]*\\] s1-pre-verb+noun-sqrt-16 ' $tmp/a.err) = 1 ] &&
    [ \$(grep -c '^   s1-pre-verb+noun-sqrt-16  *trained ' $tmp/a.err) = 2 ]"
# the 'target' space is target-k's 16 classes, passed as a class list
t target_space_class_list "grep -q -- --class-list $o/runs/s1-pre-target-sqrt-16-*/args.txt &&
    grep -q 'target  *[0-9]* videos, .* 16 classes' $tmp/a.err"
# a run whose model is gone, or whose recorded arguments differ, is trained again, and so are the
# transfers from it; the other runs are reused
t cache_retrains "rm $o/runs/s1-pre-verb-sqrt-4-*/model.safetensors &&
    sed -i 's/^--lr\$/--LR/' $o/runs/s1-pre-4-long-videos-*/args.txt &&
    $V study budget --smoke --seeds 1 --out $o >$tmp/c.out 2>&1 &&
    ! grep -q 's1-pre-verb-sqrt-4  *reused' $tmp/c.out && ! grep -q 's1-pre-4-long-videos  *reused' $tmp/c.out &&
    ! grep -q 's1-verb-sqrt-4-target-ss-fc  *reused' $tmp/c.out &&
    grep -q 's1-pre-4-long-1-clip  *reused' $tmp/c.out && grep -q 's1-4-long-1-clip-target-k-fc  *reused' $tmp/c.out &&
    grep -q '6 training runs, 9 reused' $tmp/c.out"
# --quick (here on the smoke sizes): one seed; scale keeps the other studies' pool and steps (no
# noisier pool is made); runs shared across studies -- scale's x1 is label-space's verbs and
# budget's N short videos, its x16 is video-vs-frame's R(2+1)D, with their transfers; budget
# leaves out 1 against 4 clips. All five studies are planned together (the default --jobs 2): a
# shared run is one job, found trained by every study that uses it
q=$tmp/q
n1() { [ $(grep -c "^   \[[0-9]*/54\] $1 " $tmp/q.err) = 1 ] && [ $(grep -c "^   $1  *trained " $tmp/q.err) = $2 ]; }
t quick_shares_runs "$V study all --smoke --quick --json --out $q >$tmp/q.json 2>$tmp/q.err &&
    grep -q '^   54 runs to do, 2 at a time' $tmp/q.err && n1 s1-pre-verb-sqrt-8 3 && n1 s1-verb-sqrt-8-target-k-fc 3 &&
    n1 s1-verb-sqrt-8-epic-nouns-fc 2 && n1 s1-pre-verb-sqrt-128 2 && n1 s1-verb-sqrt-128-target-ss-ft 2 &&
    [ ! -e $q/data/demo-128-s1-wrong0.4 ] && grep -A1 -x -- --steps $q/runs/s1-pre-verb-sqrt-128-*/args.txt | grep -qx 3 &&
    [ \$(ls $q/runs | grep -c -- '-pre-') = 10 ] && $PY -c '
import json, sys
a = json.load(open(sys.argv[1]))
assert a[\"quick\"] is True and a[\"n_seeds\"] == 1, a
n = {}
for p in a[\"points\"]:
    n[p[\"study\"]] = n.get(p[\"study\"], 0) + 1
assert n == {\"scale\": 20, \"label-space\": 16, \"video-vs-frame\": 8, \"budget\": 6, \"resampling\": 6}, n
' $tmp/q.json"
# --jobs: the runs done two at a time, each in a child process on one thread, a transfer after
# the pre-training it starts from, give the very models and numbers of one run at a time on one
# thread; each job has its log and a line when it ends
j=$tmp/j
s1=$tmp/s1
t jobs_same_as_one_at_a_time "$V study resampling --smoke --seeds 1 --jobs 2 --threads 2 --json --out $j >$tmp/j.json 2>$tmp/j.err &&
    $V study resampling --smoke --seeds 1 --jobs 1 --threads 1 --json --out $s1 >$tmp/s1.json 2>$tmp/s1.err &&
    grep -q '9 runs to do, 2 at a time on 1 thread each' $tmp/j.err && grep -q '^   \[9/9\] ' $tmp/j.err &&
    ! grep -q 'runs to do' $tmp/s1.err && [ \$(ls $j/logs/*.log | wc -l) = 9 ] &&
    grep -q '9 training runs, 0 reused' $tmp/j.err && [ \$(ls $j/runs | wc -l) = 9 ] && $PY -c '
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a[\"points\"] == b[\"points\"], (a, b)
' $tmp/j.json $tmp/s1.json && (for m in $j/runs/*/model.safetensors; do
        r=\$(basename \$(dirname \$m)); cmp -s \$m $s1/runs/\${r%-*}-*/model.safetensors || exit 1; done)"
# every evaluation is kept beside its model and read back on the next run; a model trained again
# (its file gone) is evaluated again
t evals_kept "$V study resampling --smoke --seeds 1 --jobs 1 --threads 1 --json --out $s1 >$tmp/s2.json 2>$tmp/s2.err &&
    [ \$(grep -c 'video@1 .* (kept in ' $tmp/s2.err) = 6 ] && $PY -c '
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a[\"points\"] == b[\"points\"], (a, b)
' $tmp/s1.json $tmp/s2.json && rm $s1/runs/s1-verb+noun-uniform-16-target-k-fc-*/model.safetensors &&
    $V study resampling --smoke --seeds 1 --jobs 1 --threads 1 --out $s1 >$tmp/s3.err 2>&1 &&
    [ \$(grep -c 'video@1 .* (kept in ' $tmp/s3.err) = 5 ] && grep -q '1 training runs, 8 reused' $tmp/s3.err &&
    rm $s1/runs/s1-verb+noun-sqrt-16-target-ss-fc-*/args.txt &&
    $V study resampling --smoke --seeds 1 --jobs 2 --threads 2 --out $s1 >$tmp/s4.err 2>&1 &&
    grep -q '^   1 runs to do' $tmp/s4.err && grep -q '^   \\[1/1\\] s1-verb+noun-sqrt-16-target-ss-fc .*video@1 ' $tmp/s4.err &&
    [ \$(grep -c 'video@1 .* (kept in ' $tmp/s4.err) = 6 ]"
# a run that fails stops the study: no new run starts (the third evaluation here), the running
# one is stopped or fails too, the study exits non-zero and shows the failed run's log (here the
# target's test videos are gone, so its evaluations fail)
f=$tmp/f
t jobs_failure_shows_the_log "$V study resampling --smoke --seeds 1 --jobs 1 --threads 1 --out $f >/dev/null 2>&1 &&
    rm $f/runs/*-target-ss-fc-*/eval-*.txt && mv $f/data/demo-128-s1/target/test.tsv $f/gone.tsv &&
    ! $V study resampling --smoke --seeds 1 --jobs 2 --threads 2 --out $f >$tmp/f.out 2>&1 &&
    grep -q 'error: study: .*-target-ss-fc.* failed (exit status 1); its log: ' $tmp/f.out &&
    grep -q 'test.tsv' $tmp/f.out && grep -q '^   3 runs to do' $tmp/f.out && [ \$(ls $f/logs | wc -l) = 2 ]"
vt_end
