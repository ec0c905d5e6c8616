/*
 * Benchmark (not a test; issue 10): each conv shape of R(2+1)D-18/34, in each direction, timed
 * as the CUDA backend runs it for a model ("ours": vidai_cuda_conv_*_t on the activations' type --
 * bf16 activations in bf16 precision unless VIDA_CUDA_ACT16=0, the weights' 16-bit copy
 * included; fp32 activations otherwise, their 16-bit copies and the widening included; backward
 * data overwrites dx, as for a tensor with one reader) and against the floor for the shape ("best": cuDNN alone on bf16 NDHWC
 * tensors, fp32 with --precision fp32, with the fastest algorithm of an allowed math type --
 * FMA only in fp32 -- that cudnnFind*AlgorithmEx reports).
 *
 *   bench_convs [--model r2plus1d_18|r2plus1d_34] [--frames 16] [--batch 32] [--size 112]
 *               [--precision bf16|fp32] [--repeat 10] [--json FILE]
 *
 * r2plus1d_34 is the IG-65M variant (mid-channels per conv). Shapes come from the model: one
 * eval-mode forward of a random input sizes every slot (model.c's infer_shapes runs before the
 * first op in eval mode too; eval mode folds BN into the convs but still runs each conv op on its
 * input slot), each VIDAI_OP_CONV gives a vidai_conv_desc, identical ones are kept once, counted.
 *
 * Medians of --repeat calls after one untimed call (which measures the algorithms). Ours:
 * vidai_cuda_sync before and after each call, CLOCK_MONOTONIC (the backend's stream is private).
 * Best: cudaEvents on this program's cuDNN stream; find_ms is cudnnFind's own time. FLOPs =
 * 2 * n*to*ho*wo*cout*cin*kt*kh*kw in every direction. Totals weight shapes by their count; their
 * lines start with "total". --json: one object per line per (shape, direction), then totals.
 * No CUDA device: prints "SKIP: no CUDA device", exit 0. A failed call is printed with its shape
 * and direction and the run goes on; exit status 1 if any failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>
#include <cudnn.h>
#include <vidaction.h>

#include "backend/backend.h"
#include "backend/cuda/cuda.h"
#include "core/core.h"
#include "nn/nn.h"
#include "../bench.h"

enum { FWD = 0, BWD_DATA = 1, BWD_FILTER = 2, N_DIRS = 3 };
static const char *const dir_name[N_DIRS] = {"fwd", "bwd_data", "bwd_filter"};

#define BLK (1 << 22)            /* elements of the random block that fills every buffer */
#define MAX_WORKSPACE (1u << 30) /* bytes offered to cudnnFind*Ex and the best algorithm */

typedef struct shape {
    vidai_conv_desc d;
    int count; /* convs of the model with this shape */
} shape;

typedef struct result {
    int ok, algo, math, direct;
    double ours_ms, ours_first_ms, best_ms, find_ms;
    char err[256];
} result;

static vidai_cuda *cu;
static int repeat = 10, n_errors;
static size_t es = 2;         /* bytes per element of best's tensors: 2 bf16, 4 fp32 */
static float *X, *Y, *W;      /* ours: x or dx, y or dy (bf16 when act16), w or dw (fp32) */
static int act16;             /* ours: bf16 activations (vidai_cuda_act16) */
static void *X16, *Y16, *W16; /* best: bf16 (fp32 with --precision fp32) */
static void *ws;              /* best: workspace of ws_bytes */
static size_t ws_bytes;
static cudnnHandle_t dnn;
static cudnnTensorDescriptor_t xd, yd; /* best's descriptors, set again for each shape */
static cudnnFilterDescriptor_t wd;
static cudnnConvolutionDescriptor_t cd;
static cudaStream_t stream;
static cudaEvent_t ev0, ev1;
static float *rnd32;    /* BLK values in [-1, 1) */
static uint16_t *rnd16; /* the same as bf16 bits */
static double *times;

static double median(int n)
{
    qsort(times, (size_t)n, sizeof *times, cmp_double);
    return n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
}

/* Keeps the first error of a (shape, direction), made JSON-safe; returns 0. */
static int fail(result *r, const char *what, const char *msg)
{
    char *c;
    if (r->err[0])
        return 0;
    snprintf(r->err, sizeof r->err, "%s: %s", what, msg);
    for (c = r->err; *c; c++)
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
            *c = '\'';
    return 0;
}

static int cuda_ok(result *r, cudaError_t e, const char *what)
{
    if (e == cudaSuccess)
        return 1;
    cudaGetLastError(); /* clears a non-sticky error: the next shape may still run */
    return fail(r, what, cudaGetErrorString(e));
}

static int dnn_ok(result *r, cudnnStatus_t s, const char *what)
{
    return s == CUDNN_STATUS_SUCCESS || fail(r, what, cudnnGetErrorString(s));
}

static int vida_ok(result *r, int rc, const char *what)
{
    return rc == VIDA_OK || fail(r, what, vida_last_error());
}

/* Elements of x ('x'), y ('y') or w ('w'). */
static int64_t numel(const vidai_conv_desc *d, char which)
{
    if (which == 'x')
        return (int64_t)d->n * d->t * d->h * d->w * d->cin;
    if (which == 'y')
        return (int64_t)d->n * d->to * d->ho * d->wo * d->cout;
    return (int64_t)d->cout * d->kt * d->kh * d->kw * d->cin;
}

static double flops(const vidai_conv_desc *d)
{
    return 2.0 * d->n * d->to * d->ho * d->wo * (double)d->cout * d->cin * d->kt * d->kh * d->kw;
}

/* The first n elements of an ours buffer or a best buffer, of e bytes each: the random block,
   repeated. */
static int fill(result *r, void *dst, int64_t n, size_t e, int ours)
{
    const size_t total = (size_t)n * e, blk = (size_t)BLK * e;
    const void *src = e == 4 ? (const void *)rnd32 : (const void *)rnd16;
    size_t off, k;
    for (off = 0; off < total; off += k) {
        k = total - off < blk ? total - off : blk;
        if (ours ? !vida_ok(r, vidai_cuda_upload(cu, (char *)dst + off, src, k), "upload")
                 : !cuda_ok(r, cudaMemcpy((char *)dst + off, src, k, cudaMemcpyHostToDevice),
                            "cudaMemcpy"))
            return 0;
    }
    return 1;
}

/* One call of the backend's op, synchronised before and after; *ms its wall time. */
static int ours_once(const vidai_conv_desc *d, int dir, result *r, double *ms)
{
    double t0;
    int rc;
    if (!vida_ok(r, vidai_cuda_sync(cu), "vidai_cuda_sync"))
        return 0;
    t0 = now_ms();
    rc = dir == FWD        ? vidai_cuda_conv_forward_t(cu, d, X, act16, W, NULL, 0, Y, act16)
         : dir == BWD_DATA ? vidai_cuda_conv_backward_data_t(cu, d, Y, act16, W, X, act16, 1)
                           : vidai_cuda_conv_backward_filter_t(cu, d, X, act16, Y, act16, W);
    if (!vida_ok(r, rc, "vidai_cuda_conv") || !vida_ok(r, vidai_cuda_sync(cu), "vidai_cuda_sync"))
        return 0;
    *ms = now_ms() - t0;
    return 1;
}

/* "ours": the backend's op on the activations' type, at the context's precision. */
static int time_ours(const vidai_conv_desc *d, int dir, result *r)
{
    const int64_t direct0 = vidai_cuda_direct_convs(cu);
    int i, n;
    const size_t ea = act16 ? 2 : 4;
    if (!fill(r, X, numel(d, 'x'), ea, 1) || !fill(r, Y, numel(d, 'y'), ea, 1) ||
        !fill(r, W, numel(d, 'w'), 4, 1) || !ours_once(d, dir, r, &r->ours_first_ms))
        return 0;
    n = r->ours_first_ms > 2000.0 ? 1 : repeat; /* the direct kernels: spare the device time */
    for (i = 0; i < n; i++)
        if (!ours_once(d, dir, r, &times[i]))
            return 0;
    r->ours_ms = median(n);
    r->direct = vidai_cuda_direct_convs(cu) > direct0;
    return 1;
}

/* As conv.cu's descriptors: NDHWC tensors, an NHWC-format (OTHWI) filter, fp32 compute. */
static int descs_set(result *r, const vidai_conv_desc *d)
{
    const cudnnDataType_t dt = es == 2 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
    int xdim[5] = {d->n, d->cin, d->t, d->h, d->w}, ydim[5] = {d->n, d->cout, d->to, d->ho, d->wo};
    int wdim[5] = {d->cout, d->cin, d->kt, d->kh, d->kw}, out[5];
    int pad[3] = {d->pt, d->ph, d->pw}, str[3] = {d->st, d->sh, d->sw}, dil[3] = {1, 1, 1};
    if (!dnn_ok(r, cudnnSetTensorNdDescriptorEx(xd, CUDNN_TENSOR_NHWC, dt, 5, xdim), "x desc") ||
        !dnn_ok(r, cudnnSetTensorNdDescriptorEx(yd, CUDNN_TENSOR_NHWC, dt, 5, ydim), "y desc") ||
        !dnn_ok(r, cudnnSetFilterNdDescriptor(wd, dt, CUDNN_TENSOR_NHWC, 5, wdim), "w desc") ||
        !dnn_ok(r, cudnnSetConvolutionNdDescriptor(cd, 3, pad, str, dil, CUDNN_CROSS_CORRELATION,
                                                   CUDNN_DATA_FLOAT), "conv desc") ||
        !dnn_ok(r, cudnnSetConvolutionMathType(cd, es == 2 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH),
                "math type") ||
        !dnn_ok(r, cudnnGetConvolutionNdForwardOutputDim(cd, xd, wd, 5, out), "output size"))
        return 0;
    if (out[2] != d->to || out[3] != d->ho || out[4] != d->wo)
        return fail(r, "output size", "cuDNN's differs from vidai_conv_desc_init's");
    return 1;
}

/* Runs a Find*Ex into perf[], then keeps the fastest successful entry of an allowed math type. */
#define FIND(type, count, fn, ...)                                                                 \
    do {                                                                                           \
        type p[count];                                                                             \
        if (!dnn_ok(r, fn(dnn, __VA_ARGS__, count, &got, p, ws, ws_bytes), #fn))                   \
            return 0;                                                                              \
        for (i = 0; i < got; i++)                                                                  \
            if (p[i].status == CUDNN_STATUS_SUCCESS &&                                             \
                (es == 2 || p[i].mathType == CUDNN_FMA_MATH) &&                                    \
                (r->algo < 0 || p[i].time < r->find_ms))                                           \
                r->algo = (int)p[i].algo, r->find_ms = p[i].time, *mem = p[i].memory,              \
                r->math = (int)p[i].mathType;                                                      \
    } while (0)

static int find_best(int dir, result *r, size_t *mem)
{
    int got = 0, i;
    r->algo = -1;
    if (dir == FWD)
        FIND(cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
             cudnnFindConvolutionForwardAlgorithmEx, xd, X16, wd, W16, cd, yd, Y16);
    else if (dir == BWD_DATA)
        FIND(cudnnConvolutionBwdDataAlgoPerf_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
             cudnnFindConvolutionBackwardDataAlgorithmEx, wd, W16, yd, Y16, cd, xd, X16);
    else
        FIND(cudnnConvolutionBwdFilterAlgoPerf_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
             cudnnFindConvolutionBackwardFilterAlgorithmEx, xd, X16, yd, Y16, cd, wd, W16);
    return r->algo >= 0 || fail(r, "cudnnFind", "no successful algorithm of an allowed math type");
}

static cudnnStatus_t best_call(int dir, int algo, size_t mem)
{
    /* beta as conv.cu's: 16-bit outputs are overwritten (then widened and added), fp32 backward
       adds into the gradient */
    const float one = 1.0f, beta = dir == FWD || es == 2 ? 0.0f : 1.0f;
    if (dir == FWD)
        return cudnnConvolutionForward(dnn, &one, xd, X16, wd, W16, cd,
                                       (cudnnConvolutionFwdAlgo_t)algo, ws, mem, &beta, yd, Y16);
    if (dir == BWD_DATA)
        return cudnnConvolutionBackwardData(dnn, &one, wd, W16, yd, Y16, cd,
                                            (cudnnConvolutionBwdDataAlgo_t)algo, ws, mem, &beta,
                                            xd, X16);
    return cudnnConvolutionBackwardFilter(dnn, &one, xd, X16, yd, Y16, cd,
                                          (cudnnConvolutionBwdFilterAlgo_t)algo, ws, mem, &beta,
                                          wd, W16);
}

/* "best": cuDNN alone, with the fastest algorithm Find reports for the shape. */
static int time_best(const vidai_conv_desc *d, int dir, result *r)
{
    size_t mem = 0;
    float ms = 0;
    int i, ok;
    /* cudaMemcpy from pageable memory may return before its DMA ends: wait for it */
    ok = descs_set(r, d) && fill(r, X16, numel(d, 'x'), es, 0) &&
         fill(r, Y16, numel(d, 'y'), es, 0) && fill(r, W16, numel(d, 'w'), es, 0) &&
         cuda_ok(r, cudaDeviceSynchronize(), "cudaDeviceSynchronize") &&
         find_best(dir, r, &mem) &&
         dnn_ok(r, cudnnSetConvolutionMathType(cd, (cudnnMathType_t)r->math), "math type") &&
         dnn_ok(r, best_call(dir, r->algo, mem), "first call") &&
         cuda_ok(r, cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    for (i = 0; ok && i < repeat; i++) {
        ok = cuda_ok(r, cudaEventRecord(ev0, stream), "cudaEventRecord") &&
             dnn_ok(r, best_call(dir, r->algo, mem), "call") &&
             cuda_ok(r, cudaEventRecord(ev1, stream), "cudaEventRecord") &&
             cuda_ok(r, cudaEventSynchronize(ev1), "cudaEventSynchronize") &&
             cuda_ok(r, cudaEventElapsedTime(&ms, ev0, ev1), "cudaEventElapsedTime");
        times[i] = ms;
    }
    if (ok)
        r->best_ms = median(repeat);
    return ok;
}

/* The model's conv shapes at batch n (see the top comment), deduplicated; -1 on error. */
static int model_shapes(vida_context *ctx, int depth, int n, int frames, int size, shape **out,
                        int *n_convs)
{
    vida_model_params mp;
    vida_model *m = NULL;
    vida_tensor tx, tl;
    int64_t xs[5] = {n, 3, frames, size, size}, ls[2] = {n, 0}, j;
    const int64_t nx = (int64_t)n * 3 * frames * size * size;
    float *x = malloc((size_t)nx * sizeof *x), *logits = NULL;
    shape *sh = NULL;
    int n_sh = 0, i, k, rc;
    vida_model_params_init(&mp);
    mp.arch = VIDA_ARCH_R2PLUS1D;
    mp.depth = depth;
    if (depth == 34) { /* IG-65M, as converted: mid-channels per conv, BN eps 1e-3 */
        mp.midplanes = VIDA_MIDPLANES_PER_CONV;
        mp.bn_eps = 1e-3f;
    }
    rc = x ? vida_model_create(&m, ctx, &mp) : VIDA_ENOMEM;
    rc = rc ? rc : vida_model_set_mode(m, VIDA_MODE_EVAL);
    if (rc == VIDA_OK) {
        ls[1] = vida_model_num_classes(m);
        logits = malloc((size_t)(n * ls[1]) * sizeof *logits);
        sh = calloc((size_t)m->n_ops, sizeof *sh);
        for (j = 0; j < nx; j++)
            x[j] = rnd32[j % BLK];
        vida_tensor_f32(&tx, x, 5, xs);
        vida_tensor_f32(&tl, logits, 2, ls);
        rc = !logits || !sh ? VIDA_ENOMEM : vida_model_forward(m, &tx, &tl, NULL);
    }
    for (i = 0; rc == VIDA_OK && i < m->n_ops; i++) {
        const vidai_op *op = &m->ops[i];
        const vidai_slot *in = &m->slots[op->in];
        vidai_conv_desc d;
        if (op->type != VIDAI_OP_CONV)
            continue;
        memset(&d, 0, sizeof d);
        d.n = n, d.t = in->t, d.h = in->h, d.w = in->w, d.cin = in->c;
        d.cout = op->cout, d.kt = op->kt, d.kh = op->kh, d.kw = op->kw;
        d.st = op->st, d.sh = op->sh, d.sw = op->sw, d.pt = op->pt, d.ph = op->ph, d.pw = op->pw;
        if ((rc = vidai_conv_desc_init(&d)) != VIDA_OK)
            break;
        ++*n_convs;
        for (k = 0; k < n_sh && memcmp(&sh[k].d, &d, sizeof d); k++)
            ;
        if (k == n_sh)
            sh[n_sh++].d = d;
        sh[k].count++;
    }
    if (rc != VIDA_OK) {
        printf("error: r2plus1d_%d: %s\n", depth, vida_last_error());
        free(sh);
        sh = NULL, n_sh = -1;
    }
    vida_model_free(m);
    free(x);
    free(logits);
    *out = sh;
    return n_sh;
}

/* Buffers of mx, my, mw elements for ours and for best; best's workspace, stream, events, cuDNN. */
static int setup(int64_t mx, int64_t my, int64_t mw, result *r)
{
    vidai_cuda_use(cu);
    for (ws_bytes = MAX_WORKSPACE; ws_bytes && cudaMalloc(&ws, ws_bytes) != cudaSuccess;
         ws_bytes /= 2)
        cudaGetLastError(), ws = NULL;
    if (!(X = vidai_cuda_malloc(cu, (size_t)mx * 4)) ||
        !(Y = vidai_cuda_malloc(cu, (size_t)my * 4)) ||
        !(W = vidai_cuda_malloc(cu, (size_t)mw * 4)))
        return fail(r, "vidai_cuda_malloc", vida_last_error());
    return vida_ok(r, vidai_cuda_sync(cu), "vidai_cuda_sync") &&
           cuda_ok(r, cudaMalloc(&X16, (size_t)mx * es), "cudaMalloc") &&
           cuda_ok(r, cudaMalloc(&Y16, (size_t)my * es), "cudaMalloc") &&
           cuda_ok(r, cudaMalloc(&W16, (size_t)mw * es), "cudaMalloc") &&
           cuda_ok(r, cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStream") &&
           cuda_ok(r, cudaEventCreate(&ev0), "cudaEventCreate") &&
           cuda_ok(r, cudaEventCreate(&ev1), "cudaEventCreate") &&
           dnn_ok(r, cudnnCreate(&dnn), "cudnnCreate") &&
           dnn_ok(r, cudnnSetStream(dnn, stream), "cudnnSetStream") &&
           dnn_ok(r, cudnnCreateTensorDescriptor(&xd), "cudnnCreateTensorDescriptor") &&
           dnn_ok(r, cudnnCreateTensorDescriptor(&yd), "cudnnCreateTensorDescriptor") &&
           dnn_ok(r, cudnnCreateFilterDescriptor(&wd), "cudnnCreateFilterDescriptor") &&
           dnn_ok(r, cudnnCreateConvolutionDescriptor(&cd), "cudnnCreateConvolutionDescriptor");
}

static void teardown(void)
{
    if (xd)
        cudnnDestroyTensorDescriptor(xd);
    if (yd)
        cudnnDestroyTensorDescriptor(yd);
    if (wd)
        cudnnDestroyFilterDescriptor(wd);
    if (cd)
        cudnnDestroyConvolutionDescriptor(cd);
    if (dnn)
        cudnnDestroy(dnn);
    if (ev0)
        cudaEventDestroy(ev0);
    if (ev1)
        cudaEventDestroy(ev1);
    if (stream)
        cudaStreamDestroy(stream);
    cudaFree(ws);
    cudaFree(X16);
    cudaFree(Y16);
    cudaFree(W16);
    vidai_cuda_free_mem(cu, X);
    vidai_cuda_free_mem(cu, Y);
    vidai_cuda_free_mem(cu, W);
    vidai_cuda_sync(cu);
}

/* One line of the table and, with --json, one JSON object. */
static void report(FILE *jf, const char *head, const shape *sh, int dir, const result *r)
{
    const vidai_conv_desc *d = &sh->d;
    const double fl = flops(d);
    char sd[96];
    snprintf(sd, sizeof sd, "%dx%dx%dx%dx%d -> %d k %d.%d.%d s %d.%d.%d", d->n, d->t, d->h, d->w,
             d->cin, d->cout, d->kt, d->kh, d->kw, d->st, d->sh, d->sw);
    if (r->ok)
        printf("%-10s %-40s %5d %9.3f %9.3f %6.2f %4d %9.3f %7.1f %7.1f%s\n", dir_name[dir], sd,
               sh->count, r->ours_ms, r->best_ms, r->ours_ms / r->best_ms, r->algo, r->find_ms,
               fl / (r->ours_ms * 1e9), fl / (r->best_ms * 1e9),
               r->direct ? "  (ours: direct kernels)" : "");
    else
        printf("%-10s %-40s %5d error: %s\n", dir_name[dir], sd, sh->count, r->err);
    fflush(stdout);
    if (!jf)
        return;
    fprintf(jf, "{%s,\"dir\":\"%s\",\"n\":%d,\"t\":%d,\"h\":%d,\"w\":%d,\"cin\":%d,\"cout\":%d,"
            "\"kt\":%d,\"kh\":%d,\"kw\":%d,\"st\":%d,\"sh\":%d,\"sw\":%d,\"pt\":%d,\"ph\":%d,"
            "\"pw\":%d,\"to\":%d,\"ho\":%d,\"wo\":%d,\"count\":%d,\"gflop\":%.3f,", head,
            dir_name[dir], d->n, d->t, d->h, d->w, d->cin, d->cout, d->kt, d->kh, d->kw, d->st,
            d->sh, d->sw, d->pt, d->ph, d->pw, d->to, d->ho, d->wo, sh->count, fl / 1e9);
    if (r->ok)
        fprintf(jf, "\"ours_ms\":%.4f,\"ours_first_ms\":%.3f,\"best_ms\":%.4f,\"find_ms\":%.4f,"
                "\"ratio\":%.4f,\"algo\":%d,\"math\":%d,\"direct\":%d,\"ours_tflops\":%.3f,"
                "\"best_tflops\":%.3f}\n", r->ours_ms, r->ours_first_ms, r->best_ms, r->find_ms,
                r->ours_ms / r->best_ms, r->algo, r->math, r->direct, fl / (r->ours_ms * 1e9),
                fl / (r->best_ms * 1e9));
    else
        fprintf(jf, "\"error\":\"%s\"}\n", r->err);
}

int main(int argc, char **argv)
{
    const char *model = "r2plus1d_18", *prec = "bf16", *json = NULL;
    int frames = 16, batch = 32, size = 112, n_shapes, n_convs = 0, i, dir;
    double ours[N_DIRS + 1] = {0}, best[N_DIRS + 1] = {0}, fl[N_DIRS + 1] = {0};
    int64_t mx = 1, my = 1, mw = 1;
    char head[160];
    vida_context_params cp;
    vida_context *ctx = NULL;
    shape *sh = NULL;
    FILE *jf = NULL;
    result r0;
    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--model") == 0) model = argv[i + 1];
        else if (strcmp(argv[i], "--frames") == 0) frames = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--batch") == 0) batch = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--size") == 0) size = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--precision") == 0) prec = argv[i + 1];
        else if (strcmp(argv[i], "--repeat") == 0) repeat = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--json") == 0) json = argv[i + 1];
        else break;
    }
    if (i < argc || frames < 1 || batch < 1 || size < 16 || repeat < 1 ||
        (strcmp(model, "r2plus1d_18") && strcmp(model, "r2plus1d_34")) ||
        (strcmp(prec, "bf16") && strcmp(prec, "fp32"))) {
        fprintf(stderr, "usage: bench_convs [--model r2plus1d_18|r2plus1d_34] [--frames 16] "
                        "[--batch 32] [--size 112] [--precision bf16|fp32] [--repeat 10] "
                        "[--json FILE]\n");
        return 2;
    }
    if (vidai_cuda_device_count() <= 0) {
        printf("SKIP: no CUDA device\n");
        return 0;
    }
    es = strcmp(prec, "fp32") == 0 ? 4 : 2;
    rnd32 = malloc(BLK * sizeof *rnd32);
    rnd16 = malloc(BLK * sizeof *rnd16);
    times = malloc((size_t)repeat * sizeof *times);
    if (!rnd32 || !rnd16 || !times) {
        printf("error: out of host memory\n");
        return 1;
    }
    for (i = 0; i < BLK; i++) { /* xorshift64; bf16 by truncation */
        static uint64_t s = 0x9e3779b97f4a7c15ull;
        uint32_t b;
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        rnd32[i] = (float)(s >> 40) / 8388608.0f - 1.0f;
        memcpy(&b, &rnd32[i], sizeof b);
        rnd16[i] = (uint16_t)(b >> 16);
    }
    vida_context_params_init(&cp);
    cp.backend = VIDA_BACKEND_CUDA;
    if (vida_context_create(&ctx, &cp) != VIDA_OK ||
        vida_context_set_precision(ctx, es == 4 ? VIDA_PRECISION_FP32 : VIDA_PRECISION_BF16)) {
        printf("error: creating the CUDA context: %s\n", vida_last_error());
        vida_context_free(ctx);
        return 1;
    }
    cu = ctx->cuda;
    act16 = vidai_cuda_act16(cu);
    n_shapes = model_shapes(ctx, atoi(model + 9), batch, frames, size, &sh, &n_convs);
    for (i = 0; i < n_shapes; i++) {
        mx = numel(&sh[i].d, 'x') > mx ? numel(&sh[i].d, 'x') : mx;
        my = numel(&sh[i].d, 'y') > my ? numel(&sh[i].d, 'y') : my;
        mw = numel(&sh[i].d, 'w') > mw ? numel(&sh[i].d, 'w') : mw;
    }
    memset(&r0, 0, sizeof r0);
    if (n_shapes < 0) {
        n_errors++;
    } else if (!setup(mx, my, mw, &r0)) {
        printf("error: setting up (buffers of %lld, %lld, %lld elements): %s\n", (long long)mx,
               (long long)my, (long long)mw, r0.err);
        n_errors++;
        n_shapes = 0;
    }
    if (json && !(jf = fopen(json, "w"))) {
        printf("error: cannot write %s\n", json);
        n_errors++;
    }
    printf("device: %s, cuDNN %zu\n%s: %d convs, %d shapes; input %d x 3 x %d x %d x %d; %s; "
           "repeat %d; workspace %zu MiB; ours on %s activations\n", vida_context_device_name(ctx),
           cudnnGetVersion(), model, n_convs, n_shapes, batch, frames, size, size, prec, repeat,
           ws_bytes >> 20, act16 ? "bf16" : "fp32");
    printf("%-10s %-40s %5s %9s %9s %6s %4s %9s %7s %7s\n", "dir", "shape", "count", "ours_ms",
           "best_ms", "ratio", "algo", "find_ms", "TF ours", "TF best");
    snprintf(head, sizeof head, "\"model\":\"%s\",\"precision\":\"%s\"", model, prec);
    for (i = 0; i < n_shapes; i++)
        for (dir = 0; dir < N_DIRS; dir++) {
            const double c = sh[i].count, f = flops(&sh[i].d);
            result r;
            memset(&r, 0, sizeof r);
            r.algo = -1;
            r.ok = time_ours(&sh[i].d, dir, &r) && time_best(&sh[i].d, dir, &r);
            report(jf, head, &sh[i], dir, &r);
            if (!r.ok) {
                n_errors++;
                continue;
            }
            ours[dir] += c * r.ours_ms, best[dir] += c * r.best_ms, fl[dir] += c * f;
            ours[N_DIRS] += c * r.ours_ms, best[N_DIRS] += c * r.best_ms, fl[N_DIRS] += c * f;
        }
    if (jf)
        fprintf(jf, "{%s,\"totals\":true,\"batch\":%d,\"frames\":%d,\"size\":%d,\"convs\":%d,"
                "\"shapes\":%d,\"errors\":%d", head, batch, frames, size, n_convs, n_shapes,
                n_errors);
    for (dir = 0; dir <= N_DIRS; dir++) {
        const char *nm = dir < N_DIRS ? dir_name[dir] : "all";
        const double ratio = best[dir] > 0 ? ours[dir] / best[dir] : 0;
        printf("total %-10s ours %10.3f ms  best %10.3f ms  ratio %5.2f  TFLOP/s ours %6.1f "
               "best %6.1f\n", nm, ours[dir], best[dir], ratio,
               ours[dir] > 0 ? fl[dir] / (ours[dir] * 1e9) : 0,
               best[dir] > 0 ? fl[dir] / (best[dir] * 1e9) : 0);
        if (jf)
            fprintf(jf, ",\"%s_ours_ms\":%.3f,\"%s_best_ms\":%.3f,\"%s_ratio\":%.4f", nm,
                    ours[dir], nm, best[dir], nm, ratio);
    }
    printf("%d error%s\n", n_errors, n_errors == 1 ? "" : "s");
    if (jf) {
        fputs("}\n", jf);
        fclose(jf);
    }
    teardown();
    vida_context_free(ctx);
    free(sh);
    free(rnd32);
    free(rnd16);
    free(times);
    return n_errors ? 1 : 0;
}
