#!/bin/sh
# Data-parallel training over MPI (issue 11, docs/distributed.md), on one machine
# with mpirun (Open MPI: --allow-run-as-root --oversubscribe, as CI runs as root
# on 2 cores; every run under a timeout, so a hang fails instead of blocking):
#   - test/dist/dist_equiv.c: 2 ranks x batch 2 give the weights of 1 rank x batch
#     4 after 5 SGD steps in VIDA_MODE_TRAIN_FROZEN_BN (also 4 ranks x 1, and over
#     TCP); the ranks end bit for bit alike although each built its model from its
#     own seed (vida_dist_attach broadcasts rank 0's); with BN on per-rank batch
#     statistics the difference is printed, not asserted;
#   - bin/vidaction train --dist mpi: 2 ranks and --dist none both write a model;
#     --frozen-bn from a trained model, 2 ranks x 2 = 1 rank x 4; --dist mpi
#     without mpirun is one rank and gives --dist none's model byte for byte; a
#     loader failing on one rank stops every rank; one rank killed with SIGKILL:
#     mpirun and every rank gone within 60 s, the last checkpoint loads, and
#     --resume on 2 ranks ends with the uninterrupted run's model byte for byte;
#     --dist bogus and --freeze backbone with --dist are usage errors; a checkpoint
#     of 2 ranks does not resume on 1;
#     --dist nccl on a CPU model is refused;
#   - no hang (issue 12): one rank of `train --dist mpi` stopped with SIGSTOP after
#     the first checkpoint: the other gives up after VIDA_DIST_TIMEOUT, names it,
#     and the job ends (no model, the checkpoint loads); 3 ranks of
#     test/dist/dist_faults.c, one stopping itself: it is named, no other; a NaN on
#     one rank of 2 (dist_faults train): both skip the step, stay bit for bit
#     alike, and end as a run that left the step out.
# Skipped when the library has no MPI compiled in (vida_features); fails when it
# has and mpirun is missing. Prints "ok/FAIL name" per case and "N passed, N failed".
V=${VIDACTION:-bin/vidaction}
LIBDIR=${VIDA_LIBDIR:-lib}
CC=${CC:-cc}
TO=${DIST_TIMEOUT:-60}
. test/testlib.sh
vt_begin dist_mpi

note() { [ -f "$1" ] && sed 's/^/     /' "$1"; }

for h in dist_equiv dist_faults; do
    if ! $CC -std=c11 -O2 -Wall -Werror -Iinclude -o "$tmp/$h" test/dist/$h.c \
        -L"$LIBDIR" -lvidaction -Wl,-rpath,"$(cd "$LIBDIR" && pwd)" -lm >"$tmp/cc.log" 2>&1; then
        echo "FAIL test_dist_mpi__helper_builds: $CC test/dist/$h.c against $LIBDIR/libvidaction.so"
        sed 's/^/    /' "$tmp/cc.log" | tail -15
        echo "0 passed, 1 failed"
        exit 1
    fi
done
"$tmp/dist_equiv" features
case $? in
0) ;;
3)
    echo "skipped: test_dist_mpi: this build of libvidaction has no MPI (vida_features)"
    echo "0 passed, 0 failed"
    exit 0
    ;;
*)
    echo "FAIL test_dist_mpi__helper_runs: $tmp/dist_equiv features"
    echo "0 passed, 1 failed"
    exit 1
    ;;
esac
if ! command -v mpirun >/dev/null 2>&1; then
    echo "FAIL test_dist_mpi__mpirun_found: MPI is compiled in but there is no mpirun (Debian: openmpi-bin)"
    echo "0 passed, 1 failed"
    exit 1
fi
MPIRUN="timeout -k 5 $TO mpirun --allow-run-as-root --oversubscribe"
E="$tmp/dist_equiv"
F="$tmp/dist_faults"

# --- equivalence (dist_equiv) -----------------------------------------------------
# equiv NAME NP MODE [MPI OPTIONS]: NP ranks share a global batch of 4 for 5 steps
equiv() {
    $MPIRUN $4 -np "$2" "$E" run "$tmp/$1" "$3" 4 5 >"$tmp/$1.log" 2>&1 &&
        [ -f "$tmp/$1.rank0.safetensors" ]
}
# within FILE LIMIT: the "maxrel" of a comparison is at most LIMIT
within() { awk -v l="$2" '$1 == "maxrel" { found = 1; ok = ($2 + 0 <= l + 0) } END { exit !(found && ok) }' "$1"; }

t equiv_one_rank_batch_4 'equiv one 1 frozen'
t equiv_frozen_bn_2_ranks_x_2_equal_1_rank_x_4 'equiv two 2 frozen &&
    "$E" compare "$tmp/one.rank0.safetensors" "$tmp/two.rank0.safetensors" "$tmp/one.init.safetensors" >"$tmp/cmp2" &&
    cat "$tmp/cmp2" && within "$tmp/cmp2" 1e-5'
note "$tmp/cmp2"
t equiv_ranks_end_alike_from_different_seeds 'cmp "$tmp/two.rank0.safetensors" "$tmp/two.rank1.safetensors"'
t equiv_losses_mean_of_ranks_is_full_batch 'awk "/^rank 0\/1 step 1 /{a=\$6} /^rank 0\/2 step 1 /{b=\$6} /^rank 1\/2 step 1 /{c=\$6}
    END { d = a - (b + c) / 2; exit !(a != \"\" && d < 1e-5 && d > -1e-5) }" "$tmp/one.log" "$tmp/two.log"'
t equiv_frozen_bn_4_ranks_x_1 'equiv four 4 frozen &&
    "$E" compare "$tmp/one.rank0.safetensors" "$tmp/four.rank0.safetensors" >"$tmp/cmp4" && within "$tmp/cmp4" 1e-5'
note "$tmp/cmp4"
t equiv_frozen_bn_over_tcp 'equiv tcp 2 frozen "--mca btl self,tcp --mca btl_tcp_if_include lo" &&
    "$E" compare "$tmp/one.rank0.safetensors" "$tmp/tcp.rank0.safetensors" >"$tmp/cmpt" && within "$tmp/cmpt" 1e-5'
note "$tmp/cmpt"
# BN on each rank's own batch statistics: not the full batch's, so the weights differ (shown)
t per_rank_bn_difference_shown 'equiv bn1 1 train && equiv bn2 2 train &&
    "$E" compare "$tmp/bn1.rank0.safetensors" "$tmp/bn2.rank0.safetensors" "$tmp/bn1.init.safetensors" >"$tmp/cmpbn"'
[ -f "$tmp/cmpbn" ] && echo "     per-rank BN (VIDA_MODE_TRAIN), 2 x 2 against 1 x 4 (not asserted):" && note "$tmp/cmpbn"

# --- bin/vidaction train --dist ------------------------------------------------------
if ! command -v ffmpeg >/dev/null 2>&1; then
    echo "FAIL test_dist_mpi__ffmpeg_found: the train cases need the ffmpeg program"
    vt_fail=$((vt_fail + 1))
    vt_end
    exit
fi
d=$tmp/data
mkdir -p "$d"
: >"$d/m.tsv"
for i in 0 1 2 3 4 5 6 7; do
    if [ $((i % 2)) = 1 ]; then dir=right; x="4+$((16 + i))*t"; else dir=left; x="44-$((16 + i))*t"; fi
    y=$((6 + i * 4))
    ffmpeg -nostdin -v error -y -f lavfi \
        -i "color=c=0x303030:s=64x64:r=25:d=2[bg];color=c=0xe8e8e8:s=12x12:r=25:d=2[fg];[bg][fg]overlay=x='$x':y=$y:shortest=1" \
        -c:v libx264 -preset ultrafast -pix_fmt yuv420p "$d/v$i.mp4" || exit 1
    printf 'v%d.mp4\t%s\n' "$i" "$dir" >>"$d/m.tsv"
done
ARGS="--manifest $d/m.tsv --arch r2plus1d --depth 10 --width 0.25 --clip-len 8 --stride 2 \
 --short-side 64 --crop 56 --batch 2 --lr 0.05 --seed 7 --threads 1"
RUN="$ARGS --steps 24 --checkpoint-every 2"

t train_dist_none '"$V" train $RUN --out "$tmp/c1" >"$tmp/c1.log" 2>&1 && "$V" model-info "$tmp/c1/model.safetensors" >/dev/null'
t train_dist_mpi_2_ranks '$MPIRUN -np 2 "$V" train $RUN --dist mpi --out "$tmp/c2" >"$tmp/c2.log" 2>&1 &&
    grep -q "^data-parallel: 2 ranks x batch 2 = 4 clips per step" "$tmp/c2.log" &&
    [ "$(grep -c "^step 24/24 " "$tmp/c2.log")" = 1 ] && "$V" model-info "$tmp/c2/model.safetensors" >/dev/null'
for f in c1 c2; do
    [ -f "$tmp/$f.log" ] && echo "     $f ($([ $f = c1 ] && echo "--dist none, 2 clips a step" || echo "2 ranks x 2 clips, rank 0's loss")): losses" \
        $(sed -n 's/^step \([0-9]*\)\/24 .* loss \([0-9.na]*\) .*/\2/p' "$tmp/$f.log" | awk 'NR % 4 == 1 || NR == 24' | tr '\n' ' ')
done
t train_dist_mpi_without_mpirun_is_one_rank '"$V" train $RUN --dist mpi --out "$tmp/s1" >"$tmp/s1.log" 2>&1 &&
    ! grep -q "data-parallel" "$tmp/s1.log" && cmp "$tmp/c1/model.safetensors" "$tmp/s1/model.safetensors"'
# frozen BN from a trained model: the split of the batch over ranks changes nothing but rounding
# (a small rate: this model's first frozen-BN loss is about 100, and at lr 0.005 the second step
# already magnifies the first step's rounding, 1.5e-7, to 2e-4 -- in both runs alike)
FT="$ARGS --lr 0.001 --steps 4 --init $tmp/c1/model.safetensors --frozen-bn"
t train_frozen_bn_2_ranks_x_2_equal_1_rank_x_4 '"$V" train $FT --batch 4 --out "$tmp/f1" >"$tmp/f1.log" 2>&1 &&
    $MPIRUN -np 2 "$V" train $FT --batch 2 --dist mpi --out "$tmp/f2" >"$tmp/f2.log" 2>&1 &&
    "$E" compare "$tmp/f1/model.safetensors" "$tmp/f2/model.safetensors" "$tmp/c1/model.safetensors" >"$tmp/cmpf" &&
    within "$tmp/cmpf" 1e-5'
note "$tmp/cmpf"

# one rank killed with SIGKILL after the first checkpoint: the job ends, nothing hangs
# the processes below pid $1 (from /proc: no procps needed)
descendants() {
    for c in $(cat /proc/[0-9]*/stat 2>/dev/null | awk -v p="$1" '$4 == p { print $1 }'); do
        echo "$c"
        descendants "$c"
    done
}
# find_ranks JOB DIR: waits for DIR/checkpoint.safetensors, then sets $ranks to the pids of
# the job's ranks and $victim to rank 1's
find_ranks() {
    n=0
    while [ ! -f "$2/checkpoint.safetensors" ]; do
        sleep 0.05
        n=$((n + 1))
        [ $n -lt 1200 ] || { kill $1; return 1; }
    done
    ranks=""
    victim=""
    for p in $(descendants $1); do
        if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -q '^\(OMPI_COMM_WORLD_RANK\|PMI_RANK\)='; then
            ranks="$ranks $p"
            tr '\0' '\n' <"/proc/$p/environ" | grep -q '^\(OMPI_COMM_WORLD_RANK\|PMI_RANK\)=1$' && victim=$p
        fi
    done
    [ -n "$victim" ] || { echo "no rank 1 among:$ranks"; kill $1; return 1; }
}
killed_rank() {
    mkdir -p "$tmp/k"
    $MPIRUN -np 2 "$V" train $RUN --dist mpi --out "$tmp/k" >"$tmp/k.log" 2>&1 &
    job=$!
    find_ranks $job "$tmp/k" || return 1
    t0=$(date +%s.%N)
    kill -9 "$victim"
    wait $job
    rc=$?
    t1=$(date +%s.%N)
    # the other rank: gone within 60 s of the kill
    for p in $ranks; do
        while kill -0 "$p" 2>/dev/null; do
            sleep 0.1
            awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { exit !(b - a > 60) }' && { echo "rank pid $p still there"; return 1; }
        done
    done
    t2=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" -v c="$t2" -v rc="$rc" 'BEGIN { printf "mpirun exited %.2f s after the kill (status %d), every rank gone after %.2f s\n", b - a, rc, c - a }' >"$tmp/kill.txt"
    cat "$tmp/kill.txt"
    [ "$rc" != 0 ] && [ "$rc" != 124 ] && [ ! -f "$tmp/k/model.safetensors" ]
}
t kill_one_rank_all_exit_within_60_s killed_rank
note "$tmp/kill.txt"
t kill_last_checkpoint_loads '"$V" model-info "$tmp/k/checkpoint.safetensors" >/dev/null'
t kill_resume_on_2_ranks_ends_as_the_uninterrupted_run '$MPIRUN -np 2 "$V" train $RUN --dist mpi --out "$tmp/k" \
    --resume "$tmp/k/checkpoint.safetensors" >"$tmp/k2.log" 2>&1 &&
    grep -q "^resumed from .* at step [1-9]" "$tmp/k2.log" && cmp "$tmp/c2/model.safetensors" "$tmp/k/model.safetensors"'
[ -f "$tmp/k2.log" ] && sed -n 's/^\(resumed from\) .* \(at step .*\)/     \1 the checkpoint \2/p' "$tmp/k2.log"

# one rank stopped with SIGSTOP after the first checkpoint (as a hung loader or a stuck file
# system would leave it): the other gives up after VIDA_DIST_TIMEOUT, names it, and exits 1;
# mpirun ends the job, the stopped rank included. Without the timeout, rank 0 waits in its next
# collective until the outer timeout (124). The stopped rank is resumed and killed whatever
# happens, so nothing is left behind.
STOP_TO=3
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
# running PID: not gone and not a zombie (an orphan waits for init to reap it)
running() { [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ]; }
stopped_rank() {
    mkdir -p "$tmp/st"
    timeout -k 5 40 mpirun --allow-run-as-root --oversubscribe -x VIDA_DIST_TIMEOUT=$STOP_TO -np 2 \
        "$V" train $RUN --dist mpi --out "$tmp/st" >"$tmp/st.log" 2>&1 &
    job=$!
    find_ranks $job "$tmp/st" || return 1
    t0=$(date +%s.%N)
    kill -STOP "$victim"
    wait $job
    rc=$?
    t1=$(since "$t0")
    left=""
    for p in $ranks; do
        while running "$p" && [ "$(since "$t0" | cut -d. -f1)" -lt 30 ]; do sleep 0.1; done
        running "$p" && left="$left $p"
    done
    t2=$(since "$t0")
    for p in $ranks; do
        kill -CONT "$p" 2>/dev/null
        kill -9 "$p" 2>/dev/null
    done
    echo "VIDA_DIST_TIMEOUT=$STOP_TO: mpirun exited $t1 s after the SIGSTOP (status $rc), every rank gone after $t2 s" >"$tmp/stop.txt"
    grep "error: " "$tmp/st.log" | head -1 >>"$tmp/stop.txt"
    cat "$tmp/stop.txt"
    [ -z "$left" ] || { echo "ranks still there after 30 s:$left"; return 1; }
    [ "$rc" != 0 ] && [ "$rc" != 124 ] && [ ! -f "$tmp/st/model.safetensors" ] &&
        grep -q "^vidaction\[0\]: error: .*no result after [0-9.]* s (VIDA_DIST_TIMEOUT=$STOP_TO): rank 1 did not answer" "$tmp/st.log" &&
        awk -v t="$t2" -v d=$STOP_TO 'BEGIN { exit !(t >= d && t < d + 20) }' &&
        "$V" model-info "$tmp/st/checkpoint.safetensors" >/dev/null
}
t stopped_rank_times_out_and_the_job_ends stopped_rank
note "$tmp/stop.txt"

# 3 ranks, rank 1 stops itself between collectives: the job exits 1 (not by its timeout), a
# waiting rank names rank 1, no rank names another, and the stopped rank does not outlive it
stall3() {
    t0=$(date +%s.%N)
    timeout -k 5 30 mpirun --allow-run-as-root --oversubscribe -x VIDA_DIST_TIMEOUT=2 -np 3 \
        "$F" stall 1 50 >"$tmp/stall.log" 2>&1
    rc=$?
    t1=$(since "$t0")
    pid=$(sed -n 's/^rank 1 stops (pid \([0-9]*\))$/\1/p' "$tmp/stall.log")
    gone=1
    # mpirun's SIGKILL may still be on its way to the stopped rank when mpirun returns: up to 3 s
    n=0
    while [ -n "$pid" ] && running "$pid" && [ $n -lt 30 ]; do
        sleep 0.1
        n=$((n + 1))
    done
    if [ -n "$pid" ] && running "$pid"; then
        gone=0
        kill -CONT "$pid"
        kill -9 "$pid"
    fi
    echo "3 ranks, VIDA_DIST_TIMEOUT=2: mpirun exited after $t1 s (status $rc); the stopped rank" \
        "$([ $gone = 1 ] && echo gone || echo 'still there (killed by the test)')" >"$tmp/stall.txt"
    cat "$tmp/stall.txt"
    [ "$rc" = 1 ] && [ $gone = 1 ] &&
        [ "$(grep -c "^dist_faults\[[02]\]: ERROR .*rank 1 did not answer" "$tmp/stall.log")" -ge 1 ] &&
        ! grep "did not answer" "$tmp/stall.log" | grep -qv "rank 1 did not answer"
}
t stalled_rank_named_by_the_others_of_3 stall3
note "$tmp/stall.txt"

# a NaN in one rank's clips (rank 1, step 3 of 4): both ranks skip that step, stay bit for bit
# alike, and end with the weights of a run in which every rank left step 3 out
t nan_on_one_rank_skips_the_step_on_both '$MPIRUN -np 2 "$F" train "$tmp/nan" 4 nan 1:3 >"$tmp/nan.log" 2>&1 &&
    grep -q "^rank 1 step 3 skipped: .*loss is NaN" "$tmp/nan.log" &&
    grep -q "^rank 0 step 3 skipped: .*another rank.s loss is not finite" "$tmp/nan.log" &&
    grep -q "^rank 0 skipped 1 applied 3$" "$tmp/nan.log" && grep -q "^rank 1 skipped 1 applied 3$" "$tmp/nan.log" &&
    cmp "$tmp/nan.rank0.safetensors" "$tmp/nan.rank1.safetensors" &&
    ! cmp -s "$tmp/nan.init.safetensors" "$tmp/nan.rank0.safetensors" &&
    $MPIRUN -np 2 "$F" train "$tmp/omit" 4 omit 3 >"$tmp/omit.log" 2>&1 &&
    cmp "$tmp/nan.rank0.safetensors" "$tmp/omit.rank0.safetensors"'

# a video that does not decode: the rank whose loader gives up stops the others with it
printf 'x\n' >"$d/junk.mp4"
printf 'v0.mp4\tleft\njunk.mp4\tright\nv1.mp4\tright\nv2.mp4\tleft\n' >"$d/bad.tsv"
t loader_failure_on_one_rank_stops_every_rank '$MPIRUN -np 2 "$V" train $ARGS --manifest "$d/bad.tsv" --batch 1 --steps 60 \
    --dist mpi --out "$tmp/lf" >"$tmp/lf.log" 2>&1; rc=$?; [ $rc != 0 ] && [ $rc != 124 ] &&
    grep -q "error: the loader stopped: .*junk.mp4" "$tmp/lf.log" && grep -q "error: another rank.s loader stopped" "$tmp/lf.log"'
t bad_dist_is_a_usage_error '"$V" train $RUN --dist bogus --out "$tmp/x" 2>"$tmp/e1"; [ $? = 2 ] && grep -q "bad --dist (mpi, nccl, none): bogus" "$tmp/e1"'
t freeze_backbone_with_dist_is_a_usage_error '"$V" train $RUN --dist mpi --init "$tmp/c1/model.safetensors" --freeze backbone \
    --out "$tmp/y" 2>"$tmp/e4"; [ $? = 2 ] && grep -q "not data-parallel" "$tmp/e4"'
t resume_with_another_world_is_refused '"$V" train $RUN --dist none --out "$tmp/w" --resume "$tmp/k/checkpoint.safetensors" 2>"$tmp/e2";
    [ $? = 1 ] && grep -q "cannot resume" "$tmp/e2"'
t nccl_on_a_cpu_model_is_refused '"$V" --device cpu train $RUN --dist nccl --out "$tmp/n" 2>"$tmp/e3"; [ $? = 1 ] &&
    grep -q "NCCL" "$tmp/e3"'
vt_end
