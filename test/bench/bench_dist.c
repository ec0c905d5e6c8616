/*
 * Benchmark (not a test) for test/bench/bench_dist.sh: one data-parallel
 * training step (training-mode forward, softmax cross-entropy, backward with
 * the gradients averaged over the ranks by vida_dist, SGD update with
 * momentum 0.9 and weight decay 1e-4) on a total batch split over the ranks
 * of mpirun; median of R steps after one warm-up. A step is timed on every
 * rank between two barriers, so it is the slowest rank's time. Rank 0
 * prints one JSON line.
 *
 *   mpirun -np W bench_dist [--threads N] [--repeat R] [--depth 18] [--width 1]
 *                           [--frames 8] [--size 112] [--batch TOTAL] [--attach 0|1]
 *
 * --attach 0 leaves the model out of the group: the ranks compute alone,
 * which shows what the all-reduce costs. Without mpirun it is one rank.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vidaction.h>
#include <vidaction/dist.h>

#include "bench.h"

static int die(int rank)
{
    fprintf(stderr, "bench_dist[%d]: %s\n", rank, vida_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    int threads = 1, repeat = 5, depth = 18, frames = 8, size = 112, total = 4, attach = 1, i;
    double width = 1;
    int rank, world, batch;
    vida_dist_params dp;
    vida_dist *d = NULL;
    vida_context_params cp;
    vida_context *ctx = NULL;
    vida_model_params mp;
    vida_model *m = NULL;
    vida_optimizer_params op;
    vida_optimizer *o = NULL;
    vida_tensor tx, tl, tg, tt;
    int64_t shape[5], oshape[2];
    float *x, *logits, *dlogits, loss;
    int32_t *labels;
    double *t;
    size_t n;
    for (i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--repeat"))
            repeat = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--depth"))
            depth = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--width"))
            width = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--frames"))
            frames = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--size"))
            size = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch"))
            total = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--attach"))
            attach = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "bench_dist: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    vida_dist_params_init(&dp); /* AUTO: MPI under mpirun, else one rank */
    if (vida_dist_create(&d, &dp) != VIDA_OK)
        return die(0);
    rank = vida_dist_rank(d);
    world = vida_dist_world(d);
    if (repeat < 1 || threads < 1 || total < 1 || total % world) {
        fprintf(stderr, "bench_dist: bad arguments (the batch %d must split over %d ranks)\n",
                total, world);
        return 2;
    }
    batch = total / world;
    vida_context_params_init(&cp);
    cp.n_threads = threads;
    cp.backend = VIDA_BACKEND_CPU;
    vida_model_params_init(&mp);
    mp.depth = depth;
    mp.width = (float)width;
    vida_optimizer_params_init(&op);
    if (vida_context_create(&ctx, &cp) || vida_model_create(&m, ctx, &mp) ||
        (attach && vida_dist_attach(d, m)) || vida_model_set_mode(m, VIDA_MODE_TRAIN) ||
        vida_optimizer_create(&o, m, &op))
        return die(rank);
    shape[0] = batch, shape[1] = 3, shape[2] = frames, shape[3] = size, shape[4] = size;
    oshape[0] = batch, oshape[1] = vida_model_num_classes(m);
    n = (size_t)batch * 3 * frames * size * size;
    x = malloc(n * sizeof(float));
    logits = malloc((size_t)oshape[0] * oshape[1] * sizeof(float));
    dlogits = malloc((size_t)oshape[0] * oshape[1] * sizeof(float));
    labels = malloc((size_t)batch * sizeof(int32_t));
    t = malloc((size_t)repeat * sizeof(double));
    if (!x || !logits || !dlogits || !labels || !t)
        return 1;
    for (i = 0; i < (int)n; i++)
        x[i] = (float)(((i + rank * 131) * 7919) % 1000) / 500.0f - 1.0f;
    for (i = 0; i < batch; i++)
        labels[i] = ((i + rank * batch) * 37) % (int)oshape[1];
    vida_tensor_f32(&tx, x, 5, shape);
    vida_tensor_f32(&tl, logits, 2, oshape);
    vida_tensor_f32(&tg, dlogits, 2, oshape);
    memset(&tt, 0, sizeof tt);
    tt.data = labels;
    tt.dtype = VIDA_DTYPE_I32;
    tt.ndim = 1;
    tt.shape[0] = batch;
    for (i = -1; i < repeat; i++) { /* i = -1: warm-up */
        double t0;
        int rc = vida_dist_barrier(d);
        t0 = now_ms();
        rc = rc ? rc : vida_model_forward(m, &tx, &tl, NULL);
        rc = rc ? rc : vida_loss(VIDA_LOSS_SOFTMAX_CE, &tl, &tt, &loss, &tg);
        rc = rc ? rc : vida_model_zero_grad(m);
        rc = rc ? rc : vida_model_backward(m, &tg, NULL);
        rc = rc ? rc : vida_optimizer_step(o);
        rc = rc ? rc : vida_dist_barrier(d);
        if (rc != VIDA_OK)
            return die(rank);
        if (i >= 0)
            t[i] = now_ms() - t0;
    }
    qsort(t, (size_t)repeat, sizeof *t, cmp_double);
    if (rank == 0)
        printf(
            "{\"world\":%d,\"threads\":%d,\"attach\":%d,\"batch_total\":%d,\"batch_per_rank\":%d,"
            "\"model\":\"r2plus1d_%d\",\"width\":%g,\"frames\":%d,\"size\":%d,\"params\":%lld,"
            "\"repeat\":%d,\"median_ms\":%.1f,\"min_ms\":%.1f,\"max_ms\":%.1f,\"version\":\"%s\"}"
            "\n",
            world, threads, attach, total, batch, depth, width, frames, size,
            (long long)vida_model_num_params(m), repeat, t[repeat / 2], t[0], t[repeat - 1],
            vida_version_string());
    free(x);
    free(logits);
    free(dlogits);
    free(labels);
    free(t);
    vida_optimizer_free(o);
    vida_model_free(m);
    vida_context_free(ctx);
    vida_dist_free(d);
    return 0;
}
