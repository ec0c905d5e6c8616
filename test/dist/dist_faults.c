/*
 * Helper of test/dist/test_dist.sh (issue 12): faults of one rank under mpirun.
 *
 *   dist_faults train OUT STEPS [nan R:K | omit K]            (under mpirun -np W)
 *       R(2+1)D-10 at width 0.25, 5 classes, clips 3x4x32x32, frozen BN, SGD with
 *       momentum, STEPS vida_train_step calls on 2 generated clips per rank (a
 *       function of the step and the sample's global index). Each rank builds its
 *       model from its own seed: only vida_dist_attach's broadcast makes them equal.
 *       nan R:K: rank R puts a NaN into its clips at step K (1-based), the other
 *       ranks do not; omit K: every rank leaves step K out (the reference: a step
 *       skipped everywhere must leave what omitting it leaves). Prints a line per
 *       rank and step ("rank 0 step 3 skipped: ...") and "rank R skipped S applied
 *       A" from the optimizer's counters; writes OUT.init.safetensors (rank 0,
 *       after attach) and OUT.rankR.safetensors (every rank, at the end).
 *   dist_faults stall S N                                     (under mpirun -np W)
 *       N rounds of vida_dist_all_ok and vida_dist_barrier; rank S stops itself
 *       with SIGSTOP before round 3 (no other rank is told). The others must give
 *       up after VIDA_DIST_TIMEOUT: each prints "dist_faults[R]: ERROR" and exits
 *       1 without waiting any longer (exit 0 would mean every round finished).
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vidaction.h>
#include <vidaction/dist.h>

enum { CLASSES = 5, T = 4, HW = 32, PER_RANK = 2 };

static int die(const char *what, int rank)
{
    fprintf(stderr, "dist_faults[%d]: %s: %s\n", rank, what, vida_last_error());
    fflush(stderr);
    return 1;
}

static int train(const char *outp, int steps, int nan_rank, int nan_step, int omit_step)
{
    vida_dist_params dp;
    vida_dist *d = NULL;
    vida_context_params cp;
    vida_context *ctx = NULL;
    vida_model_params mp;
    vida_model *m = NULL;
    vida_optimizer_params op;
    vida_optimizer *o = NULL;
    vida_optimizer_stats st;
    vida_batch b;
    float *clips = NULL, targets[PER_RANK * CLASSES];
    int32_t labels[PER_RANK];
    int rank = 0, rc = 1;
    char path[4096];
    const int64_t clip = 3 * T * HW * HW;

    vida_dist_params_init(&dp);
    dp.backend = VIDA_DIST_MPI;
    if (vida_dist_create(&d, &dp) != VIDA_OK)
        return die("vida_dist_create", 0);
    rank = vida_dist_rank(d);
    vida_context_params_init(&cp);
    cp.backend = VIDA_BACKEND_CPU;
    cp.n_threads = 1;
    cp.seed = 11 + 1000 * (uint64_t)rank;
    vida_model_params_init(&mp);
    mp.depth = 10;
    mp.width = 0.25f;
    mp.num_classes = CLASSES;
    mp.dropout = 0;
    vida_optimizer_params_init(&op);
    op.lr = 0.05;
    op.momentum = 0.9;
    op.weight_decay = 1e-4;
    clips = malloc((size_t)(PER_RANK * clip) * sizeof *clips);
    if (!clips || vida_context_create(&ctx, &cp) != VIDA_OK ||
        vida_model_create(&m, ctx, &mp) != VIDA_OK || vida_dist_attach(d, m) != VIDA_OK ||
        vida_model_set_mode(m, VIDA_MODE_TRAIN_FROZEN_BN) != VIDA_OK ||
        vida_optimizer_create(&o, m, &op) != VIDA_OK) {
        die("setup", rank);
        goto done;
    }
    snprintf(path, sizeof path, "%s.init.safetensors", outp);
    if (rank == 0 && vida_model_save(m, path) != VIDA_OK) {
        die(path, rank);
        goto done;
    }
    memset(&b, 0, sizeof b);
    b.size = sizeof b;
    b.n = PER_RANK;
    b.views = 1;
    b.clips.data = clips;
    b.clips.dtype = VIDA_DTYPE_F32;
    b.clips.layout = VIDA_LAYOUT_NCTHW;
    b.clips.ndim = 5;
    b.clips.shape[0] = PER_RANK;
    b.clips.shape[1] = 3;
    b.clips.shape[2] = T;
    b.clips.shape[3] = b.clips.shape[4] = HW;
    b.targets.data = targets;
    b.targets.dtype = VIDA_DTYPE_F32;
    b.targets.ndim = 2;
    b.targets.shape[0] = PER_RANK;
    b.targets.shape[1] = CLASSES;
    b.labels = labels;
    for (int k = 1; k <= steps; k++) {
        float loss = 0;
        int r;
        if (k == omit_step)
            continue;
        for (int s = 0; s < PER_RANK; s++) {
            int g = rank * PER_RANK + s; /* the sample's index over all ranks */
            labels[s] = (g + k) % CLASSES;
            for (int c = 0; c < CLASSES; c++)
                targets[s * CLASSES + c] = c == labels[s];
            for (int64_t i = 0; i < clip; i++)
                clips[s * clip + i] = sinf(0.001f * (float)i * (float)(1 + g) + 0.7f * (float)k) +
                                      0.1f * (float)labels[s];
        }
        if (k == nan_step && rank == nan_rank)
            clips[5] = NAN;
        r = vida_train_step(m, o, &b, VIDA_TARGET_SINGLE, &loss);
        if (r == VIDA_ENONFINITE) {
            printf("rank %d step %d skipped: %s\n", rank, k, vida_last_error());
        } else if (r == VIDA_OK) {
            printf("rank %d step %d loss %.6f\n", rank, k, (double)loss);
        } else {
            die("vida_train_step", rank);
            goto done;
        }
        fflush(stdout);
    }
    st.size = sizeof st;
    if (vida_optimizer_get_stats(o, &st) != VIDA_OK) {
        die("vida_optimizer_get_stats", rank);
        goto done;
    }
    printf("rank %d skipped %lld applied %lld\n", rank, (long long)st.skipped,
           (long long)st.steps);
    snprintf(path, sizeof path, "%s.rank%d.safetensors", outp, rank);
    if (vida_model_save(m, path) != VIDA_OK) {
        die(path, rank);
        goto done;
    }
    rc = 0;
done:
    free(clips);
    vida_optimizer_free(o);
    vida_model_free(m);
    vida_context_free(ctx);
    if (rc == 0)
        vida_dist_free(d);
    return rc;
}

static int stall(int stop_rank, int rounds)
{
    vida_dist_params dp;
    vida_dist *d = NULL;
    int rank;
    vida_dist_params_init(&dp);
    dp.backend = VIDA_DIST_MPI;
    if (vida_dist_create(&d, &dp) != VIDA_OK)
        return die("vida_dist_create", 0);
    rank = vida_dist_rank(d);
    for (int i = 0; i < rounds; i++) {
        int all = 0;
        if (i == 3 && rank == stop_rank) {
            printf("rank %d stops (pid %ld)\n", rank, (long)getpid());
            fflush(stdout);
            raise(SIGSTOP);
        }
        if (vida_dist_all_ok(d, 1, &all) != VIDA_OK || vida_dist_barrier(d) != VIDA_OK) {
            fprintf(stderr, "dist_faults[%d]: ERROR %s\n", rank, vida_last_error());
            fflush(stderr);
            vida_dist_free(d); /* must not wait either */
            return 1;
        }
    }
    vida_dist_free(d);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && argc <= 6 && !strcmp(argv[1], "train")) {
        int nan_rank = -1, nan_step = -1, omit = -1;
        if (argc == 6 && !strcmp(argv[4], "nan") &&
            sscanf(argv[5], "%d:%d", &nan_rank, &nan_step) == 2)
            return train(argv[2], atoi(argv[3]), nan_rank, nan_step, -1);
        if (argc == 6 && !strcmp(argv[4], "omit"))
            omit = atoi(argv[5]);
        if (argc == 4 || omit > 0)
            return train(argv[2], atoi(argv[3]), -1, -1, omit);
    }
    if (argc == 4 && !strcmp(argv[1], "stall"))
        return stall(atoi(argv[2]), atoi(argv[3]));
    fprintf(stderr, "usage: dist_faults train OUT STEPS [nan R:K | omit K] | stall S N\n");
    return 2;
}
