/*
 * Convolutions on the GPU: cuDNN on channels-last (NDHWC) tensors with OTHWI
 * ("NHWC" filter format) weights, which are the backend's layouts, so no
 * copies. The algorithm of each (shape, direction, precision) is chosen by
 * measurement (cudnnFind*) once and cached in the handle. fp32 asks for FMA
 * math only (no TF32). Where cuDNN offers no algorithm, or when asked
 * (VIDAI_CONV_DIRECT), plain direct kernels compute the same thing.
 *
 * Mixed precision (VIDAI_CUDA_BF16, VIDAI_CUDA_FP16): fp32 inputs and weights
 * are rounded to bf16 (fp16) into scratch memory, cuDNN computes in fp32 with
 * 16-bit tensors (tensor cores), and the result is widened to fp32 (and added,
 * for the backward ops). Activations already stored in 16 bits (the _t entry
 * points) are read and written as they are.
 */
#include <stdio.h>
#include <string.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backend/cuda/internal.cuh"

enum { DIR_FWD = 0, DIR_BWD_DATA = 1, DIR_BWD_FILTER = 2 };

/* --- direct kernels ---------------------------------------------------------------------- */

__global__ void k_conv_fwd_direct(vidai_conv_desc d, const float *__restrict__ x,
                                  const float *__restrict__ w, float *__restrict__ y, int64_t total)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i;
        int co = (int)(r % d.cout);
        r /= d.cout;
        int wo = (int)(r % d.wo);
        r /= d.wo;
        int ho = (int)(r % d.ho);
        r /= d.ho;
        int to = (int)(r % d.to);
        int n = (int)(r / d.to);
        double s = 0;
        for (int a = 0; a < d.kt; a++) {
            int t = to * d.st - d.pt + a;
            if (t < 0 || t >= d.t)
                continue;
            for (int b = 0; b < d.kh; b++) {
                int h = ho * d.sh - d.ph + b;
                if (h < 0 || h >= d.h)
                    continue;
                for (int e = 0; e < d.kw; e++) {
                    int ww = wo * d.sw - d.pw + e;
                    if (ww < 0 || ww >= d.w)
                        continue;
                    const float *xr = x + ((((int64_t)n * d.t + t) * d.h + h) * d.w + ww) * d.cin;
                    const float *wr = w + ((((int64_t)co * d.kt + a) * d.kh + b) * d.kw + e) * d.cin;
                    for (int ci = 0; ci < d.cin; ci++)
                        s += (double)xr[ci] * wr[ci];
                }
            }
        }
        y[i] = (float)s;
    }
}

__global__ void k_conv_bwd_data_direct(vidai_conv_desc d, const float *__restrict__ dy,
                                       const float *__restrict__ w, float *__restrict__ dx,
                                       int64_t total)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i;
        int ci = (int)(r % d.cin);
        r /= d.cin;
        int xw = (int)(r % d.w);
        r /= d.w;
        int xh = (int)(r % d.h);
        r /= d.h;
        int xt = (int)(r % d.t);
        int n = (int)(r / d.t);
        double s = 0;
        for (int a = 0; a < d.kt; a++) {
            int tt = xt + d.pt - a;
            if (tt < 0 || tt % d.st || tt / d.st >= d.to)
                continue;
            for (int b = 0; b < d.kh; b++) {
                int hh = xh + d.ph - b;
                if (hh < 0 || hh % d.sh || hh / d.sh >= d.ho)
                    continue;
                for (int e = 0; e < d.kw; e++) {
                    int ww = xw + d.pw - e;
                    if (ww < 0 || ww % d.sw || ww / d.sw >= d.wo)
                        continue;
                    const float *dyr =
                        dy + ((((int64_t)n * d.to + tt / d.st) * d.ho + hh / d.sh) * d.wo + ww / d.sw) * d.cout;
                    for (int co = 0; co < d.cout; co++)
                        s += (double)dyr[co] *
                             w[((((int64_t)co * d.kt + a) * d.kh + b) * d.kw + e) * d.cin + ci];
                }
            }
        }
        dx[i] += (float)s;
    }
}

__global__ void k_conv_bwd_filter_direct(vidai_conv_desc d, const float *__restrict__ x,
                                         const float *__restrict__ dy, float *__restrict__ dw,
                                         int64_t total)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i;
        int ci = (int)(r % d.cin);
        r /= d.cin;
        int e = (int)(r % d.kw);
        r /= d.kw;
        int b = (int)(r % d.kh);
        r /= d.kh;
        int a = (int)(r % d.kt);
        int co = (int)(r / d.kt);
        double s = 0;
        for (int n = 0; n < d.n; n++)
            for (int to = 0; to < d.to; to++) {
                int t = to * d.st - d.pt + a;
                if (t < 0 || t >= d.t)
                    continue;
                for (int ho = 0; ho < d.ho; ho++) {
                    int h = ho * d.sh - d.ph + b;
                    if (h < 0 || h >= d.h)
                        continue;
                    for (int wo = 0; wo < d.wo; wo++) {
                        int ww = wo * d.sw - d.pw + e;
                        if (ww < 0 || ww >= d.w)
                            continue;
                        s += (double)x[((((int64_t)n * d.t + t) * d.h + h) * d.w + ww) * d.cin + ci] *
                             dy[((((int64_t)n * d.to + to) * d.ho + ho) * d.wo + wo) * d.cout + co];
                    }
                }
            }
        dw[i] += (float)s;
    }
}

/* 16-bit storage types: round to nearest even, and back. */
__device__ static inline void to_lp(float v, __nv_bfloat16 *o) { *o = __float2bfloat16_rn(v); }
__device__ static inline void to_lp(float v, __half *o) { *o = __float2half_rn(v); }
__device__ static inline float from_lp(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ static inline float from_lp(__half v) { return __half2float(v); }
__device__ static inline float from_lp(float v) { return v; }
__device__ static inline void store_lp(float v, float *o) { *o = v; }
__device__ static inline void store_lp(float v, __nv_bfloat16 *o) { *o = __float2bfloat16_rn(v); }
__device__ static inline void store_lp(float v, __half *o) { *o = __float2half_rn(v); }

template <typename T>
__global__ void k_f32_to_lp(int64_t n, const float *__restrict__ x, T *__restrict__ y)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        to_lp(x[i], &y[i]);
}

/* The same, four at a time: x 16-byte aligned, y 8-byte aligned, n4 = n / 4. */
template <typename T>
__global__ void k_f32_to_lp4(int64_t n4, const float4 *__restrict__ x, uint2 *__restrict__ y)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n4;
         i += (int64_t)gridDim.x * blockDim.x) {
        float4 v = x[i];
        union {
            T h[4];
            uint2 u;
        } o;
        to_lp(v.x, &o.h[0]);
        to_lp(v.y, &o.h[1]);
        to_lp(v.z, &o.h[2]);
        to_lp(v.w, &o.h[3]);
        y[i] = o.u;
    }
}

/* y = widen(x) (add == 0) or y += widen(x). */
template <typename T>
__global__ void k_lp_to_f32(int64_t n, const T *__restrict__ x, float *__restrict__ y, int add)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        float v = from_lp(x[i]);
        y[i] = add ? y[i] + v : v;
    }
}

/* The same, four at a time (x 8-byte aligned, y 16-byte aligned, n4 = n / 4). */
template <typename T>
__global__ void k_lp_to_f32_4(int64_t n4, const uint2 *__restrict__ x, float4 *__restrict__ y, int add)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n4;
         i += (int64_t)gridDim.x * blockDim.x) {
        union {
            T h[4];
            uint2 u;
        } v;
        v.u = x[i];
        float4 o = make_float4(from_lp(v.h[0]), from_lp(v.h[1]), from_lp(v.h[2]), from_lp(v.h[3]));
        if (add) {
            float4 p = y[i];
            o.x += p.x, o.y += p.y, o.z += p.z, o.w += p.w;
        }
        y[i] = o;
    }
}

/* The forward convolution's epilogue: y = x (+ bias[ch]) (then ReLU), one pass, x widened and y
   rounded as their types need; x may be y (in place, same type). */
template <typename Ti, typename To>
__global__ void k_epilogue(int64_t n, int c, const Ti *x, const float *__restrict__ bias, int relu,
                           To *y)
{
    VIDAI_GRID_STRIDE_CH(i, ch, n, c)
    {
        float v = from_lp(x[i]);
        if (bias)
            v += bias[ch];
        if (relu && !(v > 0.0f))
            v = 0.0f;
        store_lp(v, &y[i]);
    }
}

/* y = x or y += x, each widened and rounded as its type needs (16-bit results to 16-bit
   activations, fp32 results of the direct kernels to 16-bit ones). */
template <typename Ti, typename To>
__global__ void k_store(int64_t n, const Ti *__restrict__ x, To *__restrict__ y, int add)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        float v = from_lp(x[i]);
        store_lp(add ? from_lp(y[i]) + v : v, &y[i]);
    }
}

/* The epilogue on bf16 activations in place, eight at a time: y = y (+ bias) (then ReLU). */
__global__ void k_epilogue16x8(int64_t n8, int c, __nv_bfloat16 *y, const float *__restrict__ bias,
                               int relu)
{
    VIDAI_GRID_STRIDE_8(i8, ch, n8, c)
    {
        float v[8];
        vidai_ld8(y, i8, v);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            if (bias)
                v[k] += bias[ch];
            if (relu && !(v[k] > 0.0f))
                v[k] = 0.0f;
            VIDAI_NEXT_CH(ch, c);
        }
        vidai_st8(y, i8, v);
    }
}

/* y += x on bf16 activations, eight at a time. */
__global__ void k_add16x8(int64_t n8, const __nv_bfloat16 *__restrict__ x,
                          __nv_bfloat16 *__restrict__ y)
{
    for (int64_t i8 = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i8 < n8;
         i8 += (int64_t)gridDim.x * blockDim.x) {
        float a[8], b[8];
        vidai_ld8(x, i8, a);
        vidai_ld8(y, i8, b);
#pragma unroll
        for (int k = 0; k < 8; k++)
            b[k] += a[k];
        vidai_st8(y, i8, b);
    }
}

static int aligned(const void *p, size_t a)
{
    return ((uintptr_t)p & (a - 1)) == 0;
}

/* x (fp32) -> y (16-bit), vectorised where n and the pointers allow. */
template <typename T>
static void narrow(vidai_cuda *c, int64_t n, const float *x, T *y)
{
    if (n % 4 == 0 && aligned(x, 16) && aligned(y, 8))
        k_f32_to_lp4<T><<<vidai_blocks(n / 4, 256), 256, 0, c->stream>>>(n / 4, (const float4 *)x,
                                                                        (uint2 *)y);
    else
        k_f32_to_lp<T><<<vidai_blocks(n, 256), 256, 0, c->stream>>>(n, x, y);
}

/* y = widen(x) or y += widen(x). */
template <typename T>
static void widen(vidai_cuda *c, int64_t n, const T *x, float *y, int add)
{
    if (n % 4 == 0 && aligned(x, 8) && aligned(y, 16))
        k_lp_to_f32_4<T><<<vidai_blocks(n / 4, 256), 256, 0, c->stream>>>(n / 4, (const uint2 *)x,
                                                                          (float4 *)y, add);
    else
        k_lp_to_f32<T><<<vidai_blocks(n, 256), 256, 0, c->stream>>>(n, x, y, add);
}

extern "C" int vidai_cuda_f32_to_bf16(vidai_cuda *c, int64_t n, const float *x, uint16_t *y)
{
    if (n <= 0)
        return VIDA_OK;
    narrow(c, n, x, (__nv_bfloat16 *)y);
    return vidai_cuda_launched("f32_to_bf16");
}

extern "C" int vidai_cuda_bf16_to_f32(vidai_cuda *c, int64_t n, const uint16_t *x, float *y)
{
    if (n <= 0)
        return VIDA_OK;
    widen(c, n, (const __nv_bfloat16 *)x, y, 0);
    return vidai_cuda_launched("bf16_to_f32");
}

extern "C" int vidai_cuda_f32_to_f16(vidai_cuda *c, int64_t n, const float *x, uint16_t *y)
{
    if (n <= 0)
        return VIDA_OK;
    narrow(c, n, x, (__half *)y);
    return vidai_cuda_launched("f32_to_f16");
}

extern "C" int vidai_cuda_f16_to_f32(vidai_cuda *c, int64_t n, const uint16_t *x, float *y)
{
    if (n <= 0)
        return VIDA_OK;
    widen(c, n, (const __half *)x, y, 0);
    return vidai_cuda_launched("f16_to_f32");
}

/* --- cuDNN descriptors and algorithms ---------------------------------------------------- */

static void descs_free(struct vidai_cuda_algo *s)
{
    if (s->x)
        cudnnDestroyTensorDescriptor(s->x);
    if (s->y)
        cudnnDestroyTensorDescriptor(s->y);
    if (s->w)
        cudnnDestroyFilterDescriptor(s->w);
    if (s->conv)
        cudnnDestroyConvolutionDescriptor(s->conv);
    if (s->plan)
        cudnnBackendDestroyDescriptor(s->plan);
    s->plan = NULL;
    s->x = s->y = NULL;
    s->w = NULL;
    s->conv = NULL;
}

void vidai_cuda_algos_free(vidai_cuda *c)
{
    for (int i = 0; i < c->n_algos; i++)
        descs_free(&c->algos[i]);
    vidai_free(c->algos);
    c->algos = NULL;
    c->n_algos = c->cap_algos = 0;
}

static int descs_make(struct vidai_cuda_algo *s, const vidai_conv_desc *d, int precision)
{
    cudnnDataType_t dt = precision == VIDAI_CUDA_BF16   ? CUDNN_DATA_BFLOAT16
                         : precision == VIDAI_CUDA_FP16 ? CUDNN_DATA_HALF
                                                        : CUDNN_DATA_FLOAT;
    int xdim[5] = {d->n, d->cin, d->t, d->h, d->w};
    int ydim[5] = {d->n, d->cout, d->to, d->ho, d->wo};
    int wdim[5] = {d->cout, d->cin, d->kt, d->kh, d->kw};
    int pad[3] = {d->pt, d->ph, d->pw}, str[3] = {d->st, d->sh, d->sw}, dil[3] = {1, 1, 1};
    int out[5];
    cudnnStatus_t st;
    if ((st = cudnnCreateTensorDescriptor(&s->x)) || (st = cudnnCreateTensorDescriptor(&s->y)) ||
        (st = cudnnCreateFilterDescriptor(&s->w)) || (st = cudnnCreateConvolutionDescriptor(&s->conv)))
        return vidai_cudnn_fail(st, "creating descriptors");
    if ((st = cudnnSetTensorNdDescriptorEx(s->x, CUDNN_TENSOR_NHWC, dt, 5, xdim)) ||
        (st = cudnnSetTensorNdDescriptorEx(s->y, CUDNN_TENSOR_NHWC, dt, 5, ydim)) ||
        (st = cudnnSetFilterNdDescriptor(s->w, dt, CUDNN_TENSOR_NHWC, 5, wdim)) ||
        (st = cudnnSetConvolutionNdDescriptor(s->conv, 3, pad, str, dil, CUDNN_CROSS_CORRELATION,
                                              CUDNN_DATA_FLOAT)))
        return vidai_cudnn_fail(st, "setting descriptors");
    if ((st = cudnnGetConvolutionNdForwardOutputDim(s->conv, s->x, s->w, 5, out)))
        return vidai_cudnn_fail(st, "output size");
    if (out[2] != d->to || out[3] != d->ho || out[4] != d->wo)
        return vidai_error(VIDA_EDEVICE, "cuDNN: output %dx%dx%d differs from the backend's %dx%dx%d",
                           out[2], out[3], out[4], d->to, d->ho, d->wo);
    return VIDA_OK;
}

/* fp32 must not use TF32; bf16 and fp16 want tensor cores. */
static int math_ok(int precision, cudnnMathType_t mt)
{
    if (precision != VIDAI_CUDA_FP32)
        return 1;
    return mt == CUDNN_FMA_MATH;
}

/*
 * The cached entry of (shape, direction, precision), made on first use: its
 * descriptors, and the algorithm measured fastest (algo -1 when cuDNN has
 * none). The last entry found is tried first (a model asks in a repeating
 * order, so the next one is usually the one after it).
 */
static int choose(vidai_cuda *c, const vidai_conv_desc *d, int dir, struct vidai_cuda_algo **out)
{
    int i, got = 0, best = -1, rc;
    cudnnStatus_t st;
    struct vidai_cuda_algo e;
    for (int k = 0; k < c->n_algos; k++) {
        i = (c->algo_hint + k) % c->n_algos;
        struct vidai_cuda_algo *a = &c->algos[i];
        if (a->dir == dir && a->precision == c->precision && !memcmp(&a->d, d, sizeof *d)) {
            c->algo_hint = i + 1;
            *out = a;
            return VIDA_OK;
        }
    }
    memset(&e, 0, sizeof e);
    e.d = *d;
    e.dir = dir;
    e.precision = c->precision;
    e.algo = -1;
    if ((rc = descs_make(&e, d, c->precision)) != VIDA_OK) {
        descs_free(&e);
        return rc;
    }
    cudnnMathType_t mt = c->precision != VIDAI_CUDA_FP32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
    cudnnSetConvolutionMathType(e.conv, mt);
    /* Find* measures every algorithm on scratch memory of its own. */
    if (dir == DIR_FWD) {
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        st = cudnnFindConvolutionForwardAlgorithm(c->cudnn, e.x, e.w, e.conv, e.y,
                                                  CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, perf);
        for (i = 0; st == CUDNN_STATUS_SUCCESS && i < got && best < 0; i++)
            if (perf[i].status == CUDNN_STATUS_SUCCESS && math_ok(c->precision, perf[i].mathType))
                best = i, e.algo = (int)perf[i].algo, e.workspace = perf[i].memory, mt = perf[i].mathType, e.legacy_ms = perf[i].time;
    } else if (dir == DIR_BWD_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        st = cudnnFindConvolutionBackwardDataAlgorithm(c->cudnn, e.w, e.y, e.conv, e.x,
                                                       CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got,
                                                       perf);
        for (i = 0; st == CUDNN_STATUS_SUCCESS && i < got && best < 0; i++)
            if (perf[i].status == CUDNN_STATUS_SUCCESS && math_ok(c->precision, perf[i].mathType))
                best = i, e.algo = (int)perf[i].algo, e.workspace = perf[i].memory, mt = perf[i].mathType, e.legacy_ms = perf[i].time;
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
        st = cudnnFindConvolutionBackwardFilterAlgorithm(c->cudnn, e.x, e.y, e.conv, e.w,
                                                         CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
                                                         &got, perf);
        for (i = 0; st == CUDNN_STATUS_SUCCESS && i < got && best < 0; i++)
            if (perf[i].status == CUDNN_STATUS_SUCCESS && math_ok(c->precision, perf[i].mathType))
                best = i, e.algo = (int)perf[i].algo, e.workspace = perf[i].memory, mt = perf[i].mathType, e.legacy_ms = perf[i].time;
    }
    if (st == CUDNN_STATUS_ALLOC_FAILED) {
        descs_free(&e);
        return vidai_cudnn_fail(st, "measuring convolution algorithms");
    }
    e.math = (int)mt;
    cudnnSetConvolutionMathType(e.conv, mt);
    if (c->n_algos == c->cap_algos) {
        int nc = c->cap_algos ? 2 * c->cap_algos : 64;
        struct vidai_cuda_algo *na =
            (struct vidai_cuda_algo *)vidai_calloc((size_t)nc, sizeof *na);
        if (!na) {
            descs_free(&e);
            return VIDA_ENOMEM;
        }
        if (c->n_algos)
            memcpy(na, c->algos, (size_t)c->n_algos * sizeof *na);
        vidai_free(c->algos);
        c->algos = na;
        c->cap_algos = nc;
    }
    c->algos[c->n_algos] = e;
    *out = &c->algos[c->n_algos];
    c->algo_hint = ++c->n_algos;
    return VIDA_OK;
}

static int64_t numel_x(const vidai_conv_desc *d)
{
    return (int64_t)d->n * d->t * d->h * d->w * d->cin;
}
static int64_t numel_y(const vidai_conv_desc *d)
{
    return (int64_t)d->n * d->to * d->ho * d->wo * d->cout;
}
static int64_t numel_w(const vidai_conv_desc *d)
{
    return (int64_t)d->cout * d->kt * d->kh * d->kw * d->cin;
}

static int direct(vidai_cuda *c, const vidai_conv_desc *d, int dir, const float *a, const float *b,
                  float *out)
{
    int64_t total = dir == DIR_FWD ? numel_y(d) : dir == DIR_BWD_DATA ? numel_x(d) : numel_w(d);
    unsigned blocks = vidai_blocks(total, 128);
    c->direct_convs++;
    if (dir == DIR_FWD)
        k_conv_fwd_direct<<<blocks, 128, 0, c->stream>>>(*d, a, b, out, total);
    else if (dir == DIR_BWD_DATA)
        k_conv_bwd_data_direct<<<blocks, 128, 0, c->stream>>>(*d, a, b, out, total);
    else
        k_conv_bwd_filter_direct<<<blocks, 128, 0, c->stream>>>(*d, a, b, out, total);
    return vidai_cuda_launched("direct convolution");
}

/* --- cuDNN's graph (backend) API for the 16-bit convolutions ----------------------------- */

#define GCHECK(call)                                                                               \
    do {                                                                                           \
        if ((st = (call)) != CUDNN_STATUS_SUCCESS)                                                 \
            goto out;                                                                              \
    } while (0)

/* A finalized tensor descriptor: dims (n, c, t, h, w), channels-last strides. */
static cudnnStatus_t g_tensor(cudnnBackendDescriptor_t *t, int64_t uid, cudnnDataType_t dt,
                              int64_t n, int64_t ch, int64_t tt, int64_t h, int64_t w)
{
    int64_t dim[5] = {n, ch, tt, h, w};
    int64_t str[5] = {tt * h * w * ch, 1, h * w * ch, w * ch, ch};
    int64_t align = 16;
    cudnnStatus_t st;
    GCHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_TENSOR_DESCRIPTOR, t));
    GCHECK(cudnnBackendSetAttribute(*t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt));
    GCHECK(cudnnBackendSetAttribute(*t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 5, dim));
    GCHECK(cudnnBackendSetAttribute(*t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 5, str));
    GCHECK(cudnnBackendSetAttribute(*t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid));
    GCHECK(cudnnBackendSetAttribute(*t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align));
    GCHECK(cudnnBackendFinalize(*t));
out:
    return st;
}

/* Time of one execution of plan (median of 3 after one untimed; just the first when that is over
   cutoff ms), ms; < 0 if it fails. */
static float g_time(vidai_cuda *c, cudnnBackendDescriptor_t plan, cudnnBackendDescriptor_t pack,
                    float cutoff)
{
    cudaEvent_t e0 = NULL, e1 = NULL;
    float t[3], ms = -1;
    int i;
    if (cudnnBackendExecute(c->cudnn, plan, pack) != CUDNN_STATUS_SUCCESS ||
        cudaEventCreate(&e0) != cudaSuccess || cudaEventCreate(&e1) != cudaSuccess)
        goto out;
    for (i = 0; i < 3; i++) {
        cudaEventRecord(e0, c->stream);
        if (cudnnBackendExecute(c->cudnn, plan, pack) != CUDNN_STATUS_SUCCESS)
            goto out;
        cudaEventRecord(e1, c->stream);
        if (cudaEventSynchronize(e1) != cudaSuccess || cudaEventElapsedTime(&t[i], e0, e1) != cudaSuccess)
            goto out;
        if (i == 0 && cutoff > 0 && t[0] > cutoff) {
            ms = t[0];
            goto out;
        }
    }
    for (i = 1; i < 3; i++) /* sort the three, take the middle */
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            float x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    ms = t[1];
out:
    if (e0)
        cudaEventDestroy(e0);
    if (e1)
        cudaEventDestroy(e1);
    cudaGetLastError();
    return ms;
}

/* A finalized variant pack: the three operands (uids 1: x/dx, 2: w/dw, 3: y/dy) and workspace. */
static cudnnStatus_t g_pack(cudnnBackendDescriptor_t *pack, void *p1, void *p2, void *p3, void *ws)
{
    int64_t uids[3] = {1, 2, 3};
    void *ptrs[3] = {p1, p2, p3};
    cudnnStatus_t st;
    GCHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, pack));
    GCHECK(cudnnBackendSetAttribute(*pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 3, uids));
    GCHECK(cudnnBackendSetAttribute(*pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 3, ptrs));
    GCHECK(cudnnBackendSetAttribute(*pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &ws));
    GCHECK(cudnnBackendFinalize(*pack));
out:
    return st;
}

/* Whether an engine config's numerics are acceptable: fp32 accumulation (no reduced-precision
   reduction), no FFT or Winograd (their rounding differs from a direct sum's). */
static int g_numerics_ok(cudnnBackendDescriptor_t cfg)
{
    cudnnBackendDescriptor_t eng = NULL;
    cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
    int64_t n = 0, got = 0;
    int ok = 0;
    if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &eng) != CUDNN_STATUS_SUCCESS)
        return 0;
    if (cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                 &got, &eng) == CUDNN_STATUS_SUCCESS &&
        cudnnBackendGetAttribute(eng, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                                 CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &n, notes) == CUDNN_STATUS_SUCCESS) {
        ok = 1;
        for (int64_t i = 0; i < n; i++)
            if (notes[i] == CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION ||
                notes[i] == CUDNN_NUMERICAL_NOTE_FFT || notes[i] == CUDNN_NUMERICAL_NOTE_WINOGRAD ||
                notes[i] == CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_4x4 ||
                notes[i] == CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_6x6 ||
                notes[i] == CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_13x13)
                ok = 0;
    }
    cudnnBackendDestroyDescriptor(eng);
    return ok;
}

/*
 * Once per cached entry (16-bit modes): builds the one-convolution operation
 * graph, asks cuDNN's heuristics for engine configs, times each plan that
 * finalizes on the operands at hand (p1 x/dx, p2 w/dw, p3 y/dy: 16-bit
 * scratch, whose output it overwrites, as the call that follows does), and
 * keeps the fastest in e->plan if it beats the legacy algorithm. Any failure
 * just leaves the legacy path.
 */
/* The graph-API operation of each direction (DIR_*): tensors x/dx, w/dw, y/dy, then the rest. */
static const struct g_op {
    cudnnBackendDescriptorType_t type;
    cudnnBackendAttributeName_t tensor[3], conv, alpha, beta;
} g_ops[3] = {
    {CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
     {CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,
      CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y},
     CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
     CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA},
    {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR,
     {CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY},
     CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC,
     CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA},
    {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR,
     {CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY},
     CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC,
     CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA,
     CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA},
};

#define G_MAX_CFGS 12
#define G_MAX_WORKSPACE ((int64_t)1 << 30)
static void graph_choose(vidai_cuda *c, struct vidai_cuda_algo *e, const vidai_conv_desc *d,
                         int dir, void *p1, void *p2, void *p3)
{
    cudnnDataType_t dt = c->precision == VIDAI_CUDA_FP16 ? CUDNN_DATA_HALF : CUDNN_DATA_BFLOAT16;
    cudnnDataType_t ct = CUDNN_DATA_FLOAT;
    cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    cudnnBackendDescriptor_t tx = NULL, tw = NULL, ty = NULL, cv = NULL, op = NULL, graph = NULL,
                             heur = NULL, cfgs[G_MAX_CFGS] = {0}, best = NULL;
    cudnnBackendHeurMode_t hm = CUDNN_HEUR_MODE_A;
    int64_t sdim = 3, dil[3] = {1, 1, 1}, str[3] = {d->st, d->sh, d->sw},
            pad[3] = {d->pt, d->ph, d->pw}, ncfg = 0, best_ws = 0;
    float alpha = 1.0f, beta = 0.0f, best_ms = -1;
    cudnnStatus_t st;
    double t0 = vidai_cuda_prof_begin(c);
    e->graph_tried = 1;
    GCHECK(g_tensor(&tx, 1, dt, d->n, d->cin, d->t, d->h, d->w));
    /* the filter [cout][kt][kh][kw][cin] is a channels-last tensor (k, c, t, r, s) as well */
    GCHECK(g_tensor(&tw, 2, dt, d->cout, d->cin, d->kt, d->kh, d->kw));
    GCHECK(g_tensor(&ty, 3, dt, d->n, d->cout, d->to, d->ho, d->wo));
    GCHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, &cv));
    GCHECK(cudnnBackendSetAttribute(cv, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &ct));
    GCHECK(cudnnBackendSetAttribute(cv, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode));
    GCHECK(cudnnBackendSetAttribute(cv, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &sdim));
    GCHECK(cudnnBackendSetAttribute(cv, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 3, dil));
    GCHECK(cudnnBackendSetAttribute(cv, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 3, str));
    GCHECK(cudnnBackendSetAttribute(cv, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 3, pad));
    GCHECK(cudnnBackendSetAttribute(cv, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 3, pad));
    GCHECK(cudnnBackendFinalize(cv));
    {
        /* the operation of the direction: its three tensors (x/dx, w/dw, y/dy), descriptor,
           alpha and beta */
        const struct g_op *k = &g_ops[dir];
        const cudnnBackendDescriptor_t *t3[3] = {&tx, &tw, &ty};
        GCHECK(cudnnBackendCreateDescriptor(k->type, &op));
        for (int i = 0; i < 3; i++)
            GCHECK(cudnnBackendSetAttribute(op, k->tensor[i], CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, t3[i]));
        GCHECK(cudnnBackendSetAttribute(op, k->conv, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cv));
        GCHECK(cudnnBackendSetAttribute(op, k->alpha, CUDNN_TYPE_FLOAT, 1, &alpha));
        GCHECK(cudnnBackendSetAttribute(op, k->beta, CUDNN_TYPE_FLOAT, 1, &beta));
    }
    GCHECK(cudnnBackendFinalize(op));
    GCHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, &graph));
    GCHECK(cudnnBackendSetAttribute(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &op));
    GCHECK(cudnnBackendSetAttribute(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &c->cudnn));
    GCHECK(cudnnBackendFinalize(graph));
    GCHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur));
    GCHECK(cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph));
    GCHECK(cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &hm));
    GCHECK(cudnnBackendFinalize(heur));
    for (int i = 0; i < G_MAX_CFGS; i++)
        GCHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfgs[i]));
    GCHECK(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                    G_MAX_CFGS, &ncfg, cfgs));
    for (int64_t i = 0; i < ncfg && i < G_MAX_CFGS; i++) {
        cudnnBackendDescriptor_t plan = NULL, pack = NULL;
        int64_t ws = 0;
        float ms;
        if (!g_numerics_ok(cfgs[i]) ||
            cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan) != CUDNN_STATUS_SUCCESS)
            continue;
        if (cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &c->cudnn) ||
            cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfgs[i]) ||
            cudnnBackendFinalize(plan) ||
            cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, NULL, &ws) ||
            ws < 0 || ws > G_MAX_WORKSPACE ||
            (ws && vidai_cuda_scratch(c, &c->workspace, &c->workspace_cap, (size_t)ws) != VIDA_OK) ||
            g_pack(&pack, p1, p2, p3, c->workspace) != CUDNN_STATUS_SUCCESS) {
            cudaGetLastError();
            if (pack)
                cudnnBackendDestroyDescriptor(pack);
            cudnnBackendDestroyDescriptor(plan);
            continue;
        }
        {
            float lim = e->algo >= 0 ? e->legacy_ms : -1;
            if (best_ms >= 0 && (lim < 0 || best_ms < lim))
                lim = best_ms;
            ms = g_time(c, plan, pack, lim > 0 ? 2 * lim : -1);
        }
        cudnnBackendDestroyDescriptor(pack);
        if (ms >= 0 && (best_ms < 0 || ms < best_ms)) {
            if (best)
                cudnnBackendDestroyDescriptor(best);
            best = plan, best_ms = ms, best_ws = ws;
        } else {
            cudnnBackendDestroyDescriptor(plan);
        }
    }
    /* keep it only when faster than the legacy algorithm (cudnnFind's time, or none) */
    if (best && (e->algo < 0 || best_ms < e->legacy_ms || c->graph == 2)) {
        e->plan = best, e->plan_ms = best_ms, e->plan_workspace = best_ws;
        best = NULL;
    }
out:
    if (st != CUDNN_STATUS_SUCCESS && c->profile) /* any failure leaves the legacy path */
        fprintf(stderr, "cuDNN graph API: %s (the legacy algorithm stays)\n", cudnnGetErrorString(st));
    if (best)
        cudnnBackendDestroyDescriptor(best);
    for (int i = 0; i < G_MAX_CFGS; i++)
        if (cfgs[i])
            cudnnBackendDestroyDescriptor(cfgs[i]);
    if (heur)
        cudnnBackendDestroyDescriptor(heur);
    if (graph)
        cudnnBackendDestroyDescriptor(graph);
    if (op)
        cudnnBackendDestroyDescriptor(op);
    if (cv)
        cudnnBackendDestroyDescriptor(cv);
    if (tx)
        cudnnBackendDestroyDescriptor(tx);
    if (tw)
        cudnnBackendDestroyDescriptor(tw);
    if (ty)
        cudnnBackendDestroyDescriptor(ty);
    cudaGetLastError();
    vidai_cuda_prof_end(c, "conv: choosing graph-API plans", t0);
}

/* Launches k_store for n elements of x (type Ti) into y (16-bit type of the handle). */
template <typename Ti>
static void store16(vidai_cuda *c, int64_t n, const Ti *x, void *y, int add)
{
    if (c->precision == VIDAI_CUDA_FP16)
        k_store<<<vidai_blocks(n, 256), 256, 0, c->stream>>>(n, x, (__half *)y, add);
    else
        k_store<<<vidai_blocks(n, 256), 256, 0, c->stream>>>(n, x, (__nv_bfloat16 *)y, add);
}

/* x (16-bit type of the handle) -> y (fp32). */
static void widen16(vidai_cuda *c, int64_t n, const void *x, float *y)
{
    if (c->precision == VIDAI_CUDA_FP16)
        widen(c, n, (const __half *)x, y, 0);
    else
        widen(c, n, (const __nv_bfloat16 *)x, y, 0);
}

/*
 * The direct kernels (fp32) when cuDNN has no algorithm or is not wanted; 16-bit operands are
 * widened into temporaries and a 16-bit result rounded (or added) from one.
 */
static int conv_direct(vidai_cuda *c, const vidai_conv_desc *d, int dir, const void *a, int a16,
                       const void *b, int b16, void *out, int out16, const float *bias, int relu,
                       int accumulate, int64_t na, int64_t nb, int64_t nout)
{
    float *tmp = NULL, *fa = (float *)a, *fb = (float *)b, *fo = (float *)out;
    int rc;
    if (a16 || b16 || out16) {
        if (!(tmp = (float *)vidai_cuda_malloc(c, (size_t)(na + nb + nout) * sizeof(float))))
            return VIDA_ENOMEM;
        if (a16)
            widen16(c, na, a, fa = tmp);
        if (b16)
            widen16(c, nb, b, fb = tmp + na);
        if (out16)
            fo = tmp + na + nb;
    }
    rc = VIDA_OK;
    if (dir != DIR_FWD && (out16 || !accumulate))
        rc = vidai_cuda_zero(c, fo, (size_t)nout * sizeof(float));
    if (rc == VIDA_OK)
        rc = direct(c, d, dir, fa, fb, fo);
    if (rc == VIDA_OK && dir == DIR_FWD && (bias || relu)) {
        k_epilogue<<<vidai_blocks(nout, 256), 256, 0, c->stream>>>(nout, d->cout, (const float *)fo,
                                                                    bias, relu, fo);
        rc = vidai_cuda_launched("bias/relu");
    }
    if (rc == VIDA_OK && out16) {
        store16(c, nout, (const float *)fo, out, dir != DIR_FWD && accumulate);
        rc = vidai_cuda_launched("direct convolution result to 16-bit");
    }
    if (tmp)
        vidai_cuda_free_mem(c, tmp);
    return rc;
}

/*
 * One convolution in direction dir. fwd: out = conv(a = x, b = w) (+ bias)
 * (then ReLU); bwd data: out += conv_T(a = dy, b = w) (= if !accumulate); bwd
 * filter: out += corr(a = x, b = dy). a16, b16, out16: the operand is already
 * in the handle's 16-bit type (16-bit activations; only in a 16-bit
 * precision) instead of fp32. Weights and their gradients are always fp32.
 */
static int conv_run(vidai_cuda *c, const vidai_conv_desc *d, int dir, const void *a, int a16,
                    const void *b, int b16, void *out, int out16, const float *bias, int relu,
                    int accumulate)
{
    struct vidai_cuda_algo *e = NULL;
    const int bf = c->precision != VIDAI_CUDA_FP32; /* 16-bit operands */
    const int half = c->precision == VIDAI_CUDA_FP16;
    int rc;
    cudnnStatus_t st;
    const float one = 1.0f, zero = 0.0f;
    const int64_t nx = numel_x(d), ny = numel_y(d), nw = numel_w(d);
    /* operand element counts: a, b, out */
    const int64_t na = dir == DIR_BWD_DATA ? ny : nx;
    const int64_t nb = dir == DIR_BWD_FILTER ? ny : nw;
    const int64_t nout = dir == DIR_FWD ? ny : dir == DIR_BWD_DATA ? nx : nw;
    /* the 16-bit result lands in `out` itself unless it must be added to it */
    const int out_direct = out16 && (dir == DIR_FWD || !accumulate);
    const void *pa = a, *pb = b;
    void *pout = out;
    double t0;
    if ((a16 || b16 || out16) && !bf)
        return vidai_error(VIDA_EINVAL, "16-bit convolution operands in fp32 precision");
    if (out16 && dir == DIR_BWD_FILTER)
        return vidai_error(VIDA_EINVAL, "a filter gradient is fp32");
    if (c->conv_engine != VIDAI_CONV_DIRECT && (rc = choose(c, d, dir, &e)) != VIDA_OK)
        return rc;
    if (c->conv_engine == VIDAI_CONV_DIRECT || e->algo < 0) {
        if (c->conv_engine == VIDAI_CONV_CUDNN)
            return vidai_error(VIDA_EUNSUPPORTED, "cuDNN has no algorithm for this convolution");
        return conv_direct(c, d, dir, a, a16, b, b16, out, out16, bias, relu, accumulate, na, nb,
                           nout);
    }
    if (e->workspace &&
        (rc = vidai_cuda_scratch(c, &c->workspace, &c->workspace_cap, e->workspace)) != VIDA_OK)
        return rc;
    if (bf) {
        /* scratch: a, b, out as 16-bit values where they are not already, each at a 256-byte
           boundary (tensor cores) */
        const int64_t pa_n = a16 ? 0 : (na + 127) / 128 * 128;
        const int64_t pb_n = b16 ? 0 : (nb + 127) / 128 * 128;
        size_t need = (size_t)(pa_n + pb_n + (out_direct ? 0 : nout)) * sizeof(uint16_t);
        uint16_t *sa, *sb, *so;
        if (need && (rc = vidai_cuda_scratch(c, (void **)&c->bf16_a, &c->bf16_a_cap, need)) != VIDA_OK)
            return rc;
        sa = c->bf16_a;
        sb = sa + pa_n;
        so = sb + pb_n;
        t0 = vidai_cuda_prof_begin(c);
        if (half) {
            if (!a16)
                narrow(c, na, (const float *)a, (__half *)sa);
            if (!b16)
                narrow(c, nb, (const float *)b, (__half *)sb);
        } else {
            if (!a16)
                narrow(c, na, (const float *)a, (__nv_bfloat16 *)sa);
            if (!b16)
                narrow(c, nb, (const float *)b, (__nv_bfloat16 *)sb);
        }
        if (!a16 || !b16)
            vidai_cuda_prof_end(c, "conv: operands to 16-bit", t0);
        if (!a16)
            pa = sa;
        if (!b16)
            pb = sb;
        if (!out_direct)
            pout = so;
    }
    /* the graph API's operands: uid 1 x/dx, 2 w/dw, 3 y/dy */
    void *p1 = dir == DIR_BWD_DATA ? pout : (void *)pa;
    void *p2 = dir == DIR_BWD_FILTER ? pout : (void *)pb;
    void *p3 = dir == DIR_FWD ? pout : dir == DIR_BWD_DATA ? (void *)pa : (void *)pb;
    if (bf && c->graph && !e->graph_tried)
        graph_choose(c, e, d, dir, p1, p2, p3);
    t0 = vidai_cuda_prof_begin(c);
    if (bf && e->plan) {
        cudnnBackendDescriptor_t pack = NULL;
        if (e->plan_workspace && (rc = vidai_cuda_scratch(c, &c->workspace, &c->workspace_cap,
                                                          (size_t)e->plan_workspace)) != VIDA_OK)
            return rc;
        st = g_pack(&pack, p1, p2, p3, c->workspace);
        if (st == CUDNN_STATUS_SUCCESS)
            st = cudnnBackendExecute(c->cudnn, e->plan, pack);
        if (pack)
            cudnnBackendDestroyDescriptor(pack);
    } else {
        const float *beta = (dir == DIR_FWD || bf || !accumulate) ? &zero : &one;
        if (dir == DIR_FWD)
            st = cudnnConvolutionForward(c->cudnn, &one, e->x, pa, e->w, pb, e->conv,
                                         (cudnnConvolutionFwdAlgo_t)e->algo, c->workspace,
                                         e->workspace, beta, e->y, pout);
        else if (dir == DIR_BWD_DATA)
            st = cudnnConvolutionBackwardData(c->cudnn, &one, e->w, pb, e->y, pa, e->conv,
                                              (cudnnConvolutionBwdDataAlgo_t)e->algo,
                                              c->workspace, e->workspace, beta, e->x, pout);
        else
            st = cudnnConvolutionBackwardFilter(c->cudnn, &one, e->x, pa, e->y, pb, e->conv,
                                                (cudnnConvolutionBwdFilterAlgo_t)e->algo,
                                                c->workspace, e->workspace, beta, e->w, pout);
    }
    vidai_cuda_prof_end(c, dir == DIR_FWD        ? "conv: cuDNN forward"
                           : dir == DIR_BWD_DATA ? "conv: cuDNN backward data"
                                                 : "conv: cuDNN backward filter", t0);
    if (st != CUDNN_STATUS_SUCCESS)
        return vidai_cudnn_fail(st, dir == DIR_FWD ? "convolution forward"
                                    : dir == DIR_BWD_DATA ? "convolution backward data"
                                                          : "convolution backward filter");
    t0 = vidai_cuda_prof_begin(c);
    if (out16) {
        /* 16-bit activations: the bias and ReLU in place, or the result added */
        if (dir == DIR_FWD && (bias || relu)) {
            if (!half && vidai_vec8(ny, out))
                k_epilogue16x8<<<vidai_blocks(ny / 8, 256), 256, 0, c->stream>>>(
                    ny / 8, d->cout, (__nv_bfloat16 *)out, bias, relu);
            else if (half)
                k_epilogue<<<vidai_blocks(ny, 256), 256, 0, c->stream>>>(
                    ny, d->cout, (const __half *)out, bias, relu, (__half *)out);
            else
                k_epilogue<<<vidai_blocks(ny, 256), 256, 0, c->stream>>>(
                    ny, d->cout, (const __nv_bfloat16 *)out, bias, relu, (__nv_bfloat16 *)out);
        } else if (!out_direct) {
            if (!half && vidai_vec8(nout, pout, out))
                k_add16x8<<<vidai_blocks(nout / 8, 256), 256, 0, c->stream>>>(
                    nout / 8, (const __nv_bfloat16 *)pout, (__nv_bfloat16 *)out);
            else if (half)
                store16(c, nout, (const __half *)pout, out, 1);
            else
                store16(c, nout, (const __nv_bfloat16 *)pout, out, 1);
        }
    } else if (dir == DIR_FWD && (bias || relu)) {
        /* the epilogue in one pass: widen (16-bit modes), bias, ReLU */
        if (half)
            k_epilogue<<<vidai_blocks(ny, 256), 256, 0, c->stream>>>(ny, d->cout,
                                                                      (const __half *)pout, bias,
                                                                      relu, (float *)out);
        else if (bf)
            k_epilogue<<<vidai_blocks(ny, 256), 256, 0, c->stream>>>(
                ny, d->cout, (const __nv_bfloat16 *)pout, bias, relu, (float *)out);
        else
            k_epilogue<<<vidai_blocks(ny, 256), 256, 0, c->stream>>>(
                ny, d->cout, (const float *)out, bias, relu, (float *)out);
    } else if (half) {
        widen(c, nout, (const __half *)pout, (float *)out, dir != DIR_FWD && accumulate);
    } else if (bf) {
        widen(c, nout, (const __nv_bfloat16 *)pout, (float *)out, dir != DIR_FWD && accumulate);
    }
    vidai_cuda_prof_end(c, "conv: epilogue (widen, bias, ReLU)", t0);
    return vidai_cuda_launched("convolution");
}

extern "C" int vidai_cuda_conv_forward(vidai_cuda *c, const vidai_conv_desc *d, const float *x,
                                       const float *w, const float *bias, int relu, float *y)
{
    return conv_run(c, d, DIR_FWD, x, 0, w, 0, y, 0, bias, relu, 0);
}

extern "C" int vidai_cuda_conv_backward_data(vidai_cuda *c, const vidai_conv_desc *d,
                                             const float *dy, const float *w, float *dx)
{
    return conv_run(c, d, DIR_BWD_DATA, dy, 0, w, 0, dx, 0, NULL, 0, 1);
}

extern "C" int vidai_cuda_conv_backward_data_set(vidai_cuda *c, const vidai_conv_desc *d,
                                                 const float *dy, const float *w, float *dx)
{
    return conv_run(c, d, DIR_BWD_DATA, dy, 0, w, 0, dx, 0, NULL, 0, 0);
}

extern "C" int vidai_cuda_conv_backward_filter(vidai_cuda *c, const vidai_conv_desc *d,
                                               const float *x, const float *dy, float *dw)
{
    return conv_run(c, d, DIR_BWD_FILTER, x, 0, dy, 0, dw, 0, NULL, 0, 1);
}

extern "C" int vidai_cuda_conv_forward_t(vidai_cuda *c, const vidai_conv_desc *d, const void *x,
                                         int x16, const float *w, const float *bias, int relu,
                                         void *y, int y16)
{
    return conv_run(c, d, DIR_FWD, x, x16, w, 0, y, y16, bias, relu, 0);
}

extern "C" int vidai_cuda_conv_backward_data_t(vidai_cuda *c, const vidai_conv_desc *d,
                                               const void *dy, int dy16, const float *w, void *dx,
                                               int dx16, int overwrite)
{
    return conv_run(c, d, DIR_BWD_DATA, dy, dy16, w, 0, dx, dx16, NULL, 0, !overwrite);
}

extern "C" int vidai_cuda_conv_backward_filter_t(vidai_cuda *c, const vidai_conv_desc *d,
                                                 const void *x, int x16, const void *dy, int dy16,
                                                 float *dw)
{
    return conv_run(c, d, DIR_BWD_FILTER, x, x16, dy, dy16, dw, 0, NULL, 0, 1);
}

extern "C" void vidai_cuda_conv_stats(const vidai_cuda *c, int *entries, int *graph_tried,
                                      int *graph_used, double *legacy_ms, double *chosen_ms)
{
    *entries = c->n_algos;
    *graph_tried = *graph_used = 0;
    *legacy_ms = *chosen_ms = 0;
    for (int i = 0; i < c->n_algos; i++) {
        const struct vidai_cuda_algo *a = &c->algos[i];
        *graph_tried += a->graph_tried;
        *graph_used += a->plan != NULL;
        if (a->algo >= 0) {
            *legacy_ms += a->legacy_ms;
            *chosen_ms += a->plan ? a->plan_ms : a->legacy_ms;
        }
    }
}
