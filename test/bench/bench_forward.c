/*
 * Benchmark (not a test): inference latency of one clip through a model, or
 * with --train 1 one training step (training-mode forward, softmax
 * cross-entropy, backward of every parameter, SGD update with momentum 0.9
 * and weight decay 1e-4), median of R runs after one
 * warm-up. Prints one JSON line, the same shape as bench_torch.py's, so
 * bench_cpu.sh can tabulate both.
 *
 *   bench_forward [--threads N] [--repeat R] [--arch r2plus1d] [--depth 18]
 *                 [--frames 16] [--size 112] [--batch 1] [--train 0|1]
 *                 [--device cpu|cuda] [--precision fp32|bf16]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <vidaction.h>

#include "bench.h"

int main(int argc, char **argv)
{
    int threads = 1, repeat = 7, depth = 18, frames = 16, size = 112, batch = 1, train = 0, i;
    const char *arch = "r2plus1d", *device = "cpu", *precision = "fp32";
    vida_context_params cp;
    vida_context *ctx = NULL;
    vida_model_params mp;
    vida_model *m = NULL;
    vida_optimizer *o = NULL;
    vida_tensor tx, tl, tg, tt;
    int64_t shape[5], oshape[2];
    float *x, *logits, *dlogits, loss;
    int32_t *labels;
    double *t;
    size_t n;
    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--threads") == 0) threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--repeat") == 0) repeat = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--arch") == 0) arch = argv[i + 1];
        else if (strcmp(argv[i], "--depth") == 0) depth = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--frames") == 0) frames = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--size") == 0) size = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--batch") == 0) batch = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--train") == 0) train = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--device") == 0) device = argv[i + 1];
        else if (strcmp(argv[i], "--precision") == 0) precision = argv[i + 1];
        else {
            fprintf(stderr, "bench_forward: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (repeat < 1 || threads < 1 || batch < 1) {
        fprintf(stderr, "bench_forward: bad arguments\n");
        return 2;
    }
    vida_context_params_init(&cp);
    cp.n_threads = threads;
    cp.backend = strcmp(device, "cuda") == 0 ? VIDA_BACKEND_CUDA : VIDA_BACKEND_CPU;
    vida_model_params_init(&mp);
    mp.depth = depth;
    mp.arch = strcmp(arch, "r3d") == 0 ? VIDA_ARCH_R3D : strcmp(arch, "mc3") == 0 ? VIDA_ARCH_MC3
              : strcmp(arch, "r2d") == 0 ? VIDA_ARCH_R2D : VIDA_ARCH_R2PLUS1D;
    if (vida_context_create(&ctx, &cp) ||
        vida_context_set_precision(ctx, !strcmp(precision, "bf16")   ? VIDA_PRECISION_BF16
                                        : !strcmp(precision, "fp16") ? VIDA_PRECISION_FP16
                                                                     : VIDA_PRECISION_FP32) ||
        vida_model_create(&m, ctx, &mp)) {
        fprintf(stderr, "bench_forward: %s\n", vida_last_error());
        return 1;
    }
    shape[0] = batch, shape[1] = 3, shape[2] = frames, shape[3] = size, shape[4] = size;
    oshape[0] = batch, oshape[1] = vida_model_num_classes(m);
    n = (size_t)batch * 3 * frames * size * size;
    x = malloc(n * sizeof(float));
    logits = malloc((size_t)oshape[0] * oshape[1] * sizeof(float));
    dlogits = malloc((size_t)oshape[0] * oshape[1] * sizeof(float));
    labels = malloc((size_t)batch * sizeof(int32_t));
    t = malloc((size_t)repeat * sizeof(double));
    for (i = 0; i < (int)n; i++)
        x[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
    for (i = 0; i < batch; i++)
        labels[i] = (i * 37) % (int)oshape[1];
    vida_tensor_f32(&tx, x, 5, shape);
    vida_tensor_f32(&tl, logits, 2, oshape);
    vida_tensor_f32(&tg, dlogits, 2, oshape);
    memset(&tt, 0, sizeof tt);
    tt.data = labels;
    tt.dtype = VIDA_DTYPE_I32;
    tt.ndim = 1;
    tt.shape[0] = batch;
    if (train) {
        vida_optimizer_params op;
        vida_model_set_mode(m, VIDA_MODE_TRAIN);
        vida_optimizer_params_init(&op); /* SGD lr 0.01, momentum 0.9, weight decay 1e-4 */
        if (vida_optimizer_create(&o, m, &op) != VIDA_OK) {
            fprintf(stderr, "bench_forward: %s\n", vida_last_error());
            return 1;
        }
    }
    for (i = -1; i < repeat; i++) { /* i = -1: warm-up */
        double t0 = now_ms();
        int rc = vida_model_forward(m, &tx, &tl, NULL);
        if (rc == VIDA_OK && train) {
            rc = vida_loss(VIDA_LOSS_SOFTMAX_CE, &tl, &tt, &loss, &tg);
            rc = rc ? rc : vida_model_zero_grad(m);
            rc = rc ? rc : vida_model_backward(m, &tg, NULL);
            rc = rc ? rc : vida_optimizer_step(o);
        }
        if (rc != VIDA_OK) {
            fprintf(stderr, "bench_forward: %s\n", vida_last_error());
            return 1;
        }
        if (i >= 0)
            t[i] = now_ms() - t0;
    }
    qsort(t, (size_t)repeat, sizeof *t, cmp_double);
    printf("{\"impl\":\"libvidaction\",\"model\":\"%s_%d\",\"mode\":\"%s\",\"batch\":%d,"
           "\"frames\":%d,\"threads\":%d,\"repeat\":%d,"
           "\"median_ms\":%.1f,\"min_ms\":%.1f,\"max_ms\":%.1f,\"blas_core\":\"%s\","
           "\"device\":\"%s\",\"precision\":\"%s\",\"version\":\"%s\"}\n",
           arch, depth, train ? "train" : "infer", batch, frames, threads, repeat, t[repeat / 2],
           t[0], t[repeat - 1],
           openblas_get_corename(), vida_context_device_name(ctx), precision, vida_version_string());
    free(x);
    free(logits);
    free(dlogits);
    free(labels);
    free(t);
    vida_optimizer_free(o);
    vida_model_free(m);
    vida_context_free(ctx);
    return 0;
}
