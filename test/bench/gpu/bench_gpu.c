/*
 * GPU benchmark of libvidaction (not a test): clips per second of one model,
 * training or inference, the way a program runs it on loader batches.
 *
 *   bench_gpu [--model r2plus1d_18|r2plus1d_34] [--frames 16] [--size 112]
 *             [--mode train|infer] [--batch 32] [--precision bf16|fp16|fp32]
 *             [--repeat 10] [--warmup 3] [--profile]
 *
 * The input is a uint8 batch in host memory (N x T x H x W x 3, what the
 * loader hands over), random values: train runs vida_train_step (forward in
 * training mode, softmax cross-entropy, backward, SGD with momentum 0.9 and
 * weight decay 1e-4, as test/bench/gpu/bench_torch_gpu.py's PyTorch step);
 * infer runs the uint8 forward of evaluation mode (BN folded into the
 * convolutions). r2plus1d_34 is IG-65M's (midplanes per convolution).
 * warmup untimed iterations (they measure cuDNN's algorithms), then repeat
 * timed ones, each ended by a wait for the device (the loss comes back to
 * the host in training; the logits in inference). Prints one JSON line
 * shaped like the PyTorch script's. --profile: VIDA_CUDA_PROFILE for the
 * timed iterations (each op drained and timed alone: slower in all, but the
 * table on stderr says where the time goes).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vidaction.h>

#include "backend/cuda/cuda.h"
#include "core/core.h"
#include "nn/nn.h"
#include "../bench.h"

static void fail(const char *what)
{
    fprintf(stderr, "bench_gpu: %s: %s\n", what, vida_last_error());
    exit(1);
}

int main(int argc, char **argv)
{
    const char *model = "r2plus1d_18", *mode = "train", *precision = "bf16";
    int frames = 16, size = 112, batch = 32, repeat = 10, warmup = 3, profile = 0, i;
    vida_context_params cp;
    vida_context *ctx = NULL;
    vida_model_params mp;
    vida_model *m = NULL;
    vida_optimizer *o = NULL;
    vida_optimizer_params op;
    vida_batch b;
    vida_tensor logits;
    int64_t lshape[2];
    uint8_t *clips;
    int32_t *labels;
    float *targets, *out, loss = 0;
    double *t;
    size_t n, used = 0, reserved = 0;
    const float mean[3] = {0.43216f, 0.394666f, 0.37645f}, stdv[3] = {0.22803f, 0.22145f, 0.216989f};
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--profile")) {
            profile = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "bench_gpu: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--frames")) frames = atoi(v);
        else if (!strcmp(a, "--size")) size = atoi(v);
        else if (!strcmp(a, "--mode")) mode = v;
        else if (!strcmp(a, "--batch")) batch = atoi(v);
        else if (!strcmp(a, "--precision")) precision = v;
        else if (!strcmp(a, "--repeat")) repeat = atoi(v);
        else if (!strcmp(a, "--warmup")) warmup = atoi(v);
        else {
            fprintf(stderr, "bench_gpu: unknown option %s\n", a);
            return 2;
        }
    }
    if (frames < 1 || size < 16 || batch < 1 || repeat < 1 || warmup < 0 ||
        (strcmp(mode, "train") && strcmp(mode, "infer")) ||
        (strcmp(model, "r2plus1d_18") && strcmp(model, "r2plus1d_34"))) {
        fprintf(stderr, "bench_gpu: bad arguments\n");
        return 2;
    }
    if (vidai_cuda_device_count() == 0) {
        printf("SKIP: no CUDA device\n");
        return 0;
    }
#ifdef BENCH_NO_PROFILE /* built against a library from before the profiler */
    profile = 0;
#endif
    if (profile)
        setenv("VIDA_CUDA_PROFILE", "1", 1);
    vida_context_params_init(&cp);
    cp.backend = VIDA_BACKEND_CUDA;
    if (vida_context_create(&ctx, &cp) != VIDA_OK)
        fail("context");
    if (vida_context_set_precision(ctx, !strcmp(precision, "bf16")   ? VIDA_PRECISION_BF16
                                        : !strcmp(precision, "fp16") ? VIDA_PRECISION_FP16
                                                                     : VIDA_PRECISION_FP32) != VIDA_OK)
        fail("precision");
    vida_model_params_init(&mp);
    mp.arch = VIDA_ARCH_R2PLUS1D;
    mp.depth = !strcmp(model, "r2plus1d_34") ? 34 : 18;
    if (mp.depth == 34)
        mp.midplanes = VIDA_MIDPLANES_PER_CONV;
    mp.num_classes = 400;
    if (vida_model_create(&m, ctx, &mp) != VIDA_OK)
        fail("model");
    n = (size_t)batch * frames * size * size * 3;
    clips = malloc(n);
    labels = malloc((size_t)batch * sizeof *labels);
    targets = calloc((size_t)batch * 400, sizeof *targets);
    out = malloc((size_t)batch * 400 * sizeof *out);
    t = malloc((size_t)repeat * sizeof *t);
    if (!clips || !labels || !targets || !out || !t) {
        fprintf(stderr, "bench_gpu: out of memory\n");
        return 1;
    }
    srand(1);
    for (size_t k = 0; k < n; k++)
        clips[k] = (uint8_t)(rand() >> 7);
    for (i = 0; i < batch; i++) {
        labels[i] = (i * 37) % 400;
        targets[i * 400 + labels[i]] = 1;
    }
    memset(&b, 0, sizeof b);
    b.size = sizeof b;
    b.n = batch;
    b.views = 1;
    b.clips.data = clips;
    b.clips.dtype = VIDA_DTYPE_U8;
    b.clips.layout = VIDA_LAYOUT_NTHWC;
    b.clips.ndim = 5;
    b.clips.shape[0] = batch;
    b.clips.shape[1] = frames;
    b.clips.shape[2] = size;
    b.clips.shape[3] = size;
    b.clips.shape[4] = 3;
    lshape[0] = batch;
    lshape[1] = 400;
    vida_tensor_f32(&b.targets, targets, 2, lshape);
    b.labels = labels;
    vida_tensor_f32(&logits, out, 2, lshape);
    if (!strcmp(mode, "train")) {
        vida_model_set_mode(m, VIDA_MODE_TRAIN);
        vida_optimizer_params_init(&op); /* SGD lr 0.01, momentum 0.9, weight decay 1e-4 */
        if (vida_optimizer_create(&o, m, &op) != VIDA_OK)
            fail("optimizer");
    } else {
        vida_model_set_mode(m, VIDA_MODE_EVAL);
    }
    for (i = -warmup; i < repeat; i++) {
        double t0;
        int rc;
#ifndef BENCH_NO_PROFILE
        if (i == 0 && profile) {
            /* only the timed iterations in the table: start it afresh */
            vidai_cuda *c = (vidai_cuda *)ctx->cuda;
            FILE *null = fopen("/dev/null", "w");
            if (null) {
                vidai_cuda_prof_report(c, null, 1);
                fclose(null);
            }
        }
#endif
        t0 = now_ms();
        if (o)
            rc = vida_train_step(m, o, &b, VIDA_TARGET_SINGLE, &loss);
        else
            rc = vidai_model_forward_u8(m, &b.clips, mean, stdv, &logits, NULL);
        if (rc != VIDA_OK)
            fail(o ? "train step" : "forward");
        if (i >= 0)
            t[i] = now_ms() - t0;
    }
    qsort(t, (size_t)repeat, sizeof *t, cmp_double);
    {
        int ent = 0, tried = 0, gused = 0;
        double lms = 0, cms = 0;
#ifndef BENCH_NO_PROFILE
        vidai_cuda_conv_stats((vidai_cuda *)ctx->cuda, &ent, &tried, &gused, &lms, &cms);
#endif
        fprintf(stderr, "bench_gpu: %d convolution entries, %d tried cuDNN's graph API, %d use a "
                "plan of it; measured %.2f ms (legacy algorithms) -> %.2f ms (chosen)\n", ent,
                tried, gused, lms, cms);
    }
    vidai_cuda_mem_used((vidai_cuda *)ctx->cuda, &used, &reserved);
    printf("{\"impl\":\"libvidaction\",\"model\":\"%s\",\"frames\":%d,\"mode\":\"%s\",\"batch\":%d,"
           "\"precision\":\"%s\",\"median_ms\":%.3f,\"min_ms\":%.3f,\"max_ms\":%.3f,"
           "\"clips_per_s\":%.1f,\"device_mem_mib\":%.0f,\"profiled\":%s,\"loss\":%.4f,"
           "\"device\":\"%s\",\"version\":\"%s\"}\n",
           model, frames, mode, batch, precision, t[repeat / 2], t[0], t[repeat - 1],
           batch / (t[repeat / 2] / 1e3), used / 1048576.0, profile ? "true" : "false", loss,
           vida_context_device_name(ctx), vida_version_string());
    fflush(stdout);
    vida_optimizer_free(o);
    vida_model_free(m);
    vida_context_free(ctx); /* prints the profile (stderr) with --profile */
    free(clips);
    free(labels);
    free(targets);
    free(out);
    free(t);
    return 0;
}
