/*
 * Shared by the .cu files of the CUDA backend: the handle, error helpers and
 * launch geometry. Not seen outside src/backend/cuda.
 */
#ifndef VIDAI_CUDA_INTERNAL_CUH
#define VIDAI_CUDA_INTERNAL_CUH

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cudnn.h>

extern "C" {
#include "core/core.h"
}
#include "backend/cuda/cuda.h"

/* One cached convolution algorithm choice, keyed by the descriptor and direction. */
struct vidai_cuda_algo {
    vidai_conv_desc d;
    int dir;       /* 0 forward, 1 backward data, 2 backward filter */
    int precision; /* VIDAI_CUDA_FP32 / BF16 */
    int algo;      /* cudnn*Algo_t value, or -1: no cuDNN algorithm (direct kernels) */
    size_t workspace;
    int math;      /* cudnnMathType_t the algorithm was measured with */
    /* the cuDNN descriptors of this shape, made once (math type set) */
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    float legacy_ms; /* cudnnFind's time for algo */
    /* 16-bit modes: the fastest execution plan of cuDNN's graph API when it beats algo (its
       engines include ones the legacy API does not reach); graph_tried once measured */
    cudnnBackendDescriptor_t plan;
    int64_t plan_workspace;
    float plan_ms;
    int graph_tried;
};

/* Destroys the cached algorithms' descriptors (conv.cu). */
void vidai_cuda_algos_free(vidai_cuda *c);

struct vidai_cuda {
    int device;
    cudaStream_t stream;
    cudnnHandle_t cudnn;
    cublasHandle_t cublas;
    cudaMemPool_t mempool;
    int precision;
    int conv_engine;
    int64_t direct_convs;
    void *workspace;
    size_t workspace_cap;
    uint16_t *bf16_a, *bf16_b; /* mixed-precision scratch: 16-bit operands and result */
    size_t bf16_a_cap, bf16_b_cap; /* elements */
    float *f32_tmp;            /* mixed-precision scratch: fp32 results to accumulate */
    size_t f32_tmp_cap;
    double *red;               /* reduction scratch (doubles) */
    size_t red_cap;
    double *host_red;          /* pinned host copy of reductions */
    size_t host_red_cap;
    struct vidai_cuda_algo *algos;
    int n_algos, cap_algos;
    int algo_hint; /* where choose() looks first */
    int profile; /* VIDA_CUDA_PROFILE */
    int graph;   /* 16-bit convolutions may use cuDNN's graph API: 0 never (VIDA_CUDNN_GRAPH=0),
                    1 when faster than the legacy algorithm, 2 whenever a plan runs (=force) */
    int act16;   /* models may store activations in bf16 in precision BF16 (VIDA_CUDA_ACT16=0: no) */
    int n_prof;
    struct {
        const char *name;
        double ms;
        int64_t calls;
    } prof[64];
    char describe[256];
};

int vidai_cuda_fail(cudaError_t e, const char *what);
int vidai_cudnn_fail(cudnnStatus_t s, const char *what);
int vidai_cublas_fail(cublasStatus_t s, const char *what);
/* After a kernel launch: the launch error, if any, as VIDA_EDEVICE. */
int vidai_cuda_launched(const char *what);
/* Grows a device scratch buffer of the handle (bytes). */
int vidai_cuda_scratch(vidai_cuda *c, void **buf, size_t *cap, size_t need);

#define VIDAI_CUDA_CHECK(call, what)                                                               \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess)                                                                     \
            return vidai_cuda_fail(e_, what);                                                      \
    } while (0)

/* Blocks for an elementwise kernel over n items: at most 4096 (a million threads of 256, several
   times what the largest GPU keeps resident), grid-stride beyond, so that per-thread set-up such
   as a channel index is paid once for many items. */
static inline unsigned vidai_blocks(int64_t n, int threads)
{
    int64_t b = (n + threads - 1) / threads;
    if (b < 1)
        b = 1;
    if (b > 4096)
        b = 4096;
    return (unsigned)b;
}

/* Element access for kernels templated on the activation type (float, or bf16 storage): loads
   widen to float, stores round to nearest even. */
__device__ __forceinline__ float vidai_ld(const float *p, int64_t i) { return p[i]; }
__device__ __forceinline__ float vidai_ld(const __nv_bfloat16 *p, int64_t i)
{
    return __bfloat162float(p[i]);
}
__device__ __forceinline__ void vidai_st(float *p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void vidai_st(__nv_bfloat16 *p, int64_t i, float v)
{
    p[i] = __float2bfloat16_rn(v);
}

/* Eight bf16 values at once (16 bytes; p must be 16-byte aligned): v[k] = p[8 * i8 + k]. */
__device__ __forceinline__ void vidai_ld8(const __nv_bfloat16 *p, int64_t i8, float v[8])
{
    const uint4 u = reinterpret_cast<const uint4 *>(p)[i8];
    const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *>(&u);
#pragma unroll
    for (int k = 0; k < 4; k++) {
        const float2 f = __bfloat1622float2(h[k]);
        v[2 * k] = f.x;
        v[2 * k + 1] = f.y;
    }
}

__device__ __forceinline__ void vidai_st8(__nv_bfloat16 *p, int64_t i8, const float v[8])
{
    uint4 u;
    __nv_bfloat162 *h = reinterpret_cast<__nv_bfloat162 *>(&u);
#pragma unroll
    for (int k = 0; k < 4; k++)
        h[k] = __floats2bfloat162_rn(v[2 * k], v[2 * k + 1]);
    reinterpret_cast<uint4 *>(p)[i8] = u;
}

/* Whether n elements of 16-bit data at p (and q, r, s when not NULL) can go eight at a time. */
static inline int vidai_vec8(int64_t n, const void *p, const void *q = NULL, const void *r = NULL,
                             const void *s = NULL)
{
    return n % 8 == 0 && ((uintptr_t)p & 15) == 0 && ((uintptr_t)q & 15) == 0 &&
           ((uintptr_t)r & 15) == 0 && ((uintptr_t)s & 15) == 0;
}

/*
 * Grid-stride loop over groups of eight: i8 < n8, with ch the channel of
 * element 8 * i8 (channels-last, c channels; c need not be a multiple of 8:
 * advance ch with VIDAI_NEXT_CH after each element).
 */
#define VIDAI_GRID_STRIDE_8(i8, ch, n8, c)                                                         \
    for (int64_t i8 = blockIdx.x * (int64_t)blockDim.x + threadIdx.x, ch = 0; i8 < (n8);           \
         i8 += (int64_t)gridDim.x * blockDim.x)                                                    \
        if ((ch = (i8 * 8) % (c)), 1)
#define VIDAI_NEXT_CH(ch, c) (ch = ch + 1 == (c) ? 0 : ch + 1)

/*
 * Grid-stride loop over i < n that also keeps ch = i % c, for channels-last
 * data: one division per thread, then the channel advances by the stride's
 * remainder (c < 2^30).
 */
#define VIDAI_GRID_STRIDE_CH(i, ch, n, c)                                                          \
    const int64_t i##_step = (int64_t)gridDim.x * blockDim.x;                                      \
    const int i##_cstep = (int)(i##_step % (c));                                                   \
    int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;                                    \
    for (int ch = (int)(i % (c)); i < (n);                                                         \
         i += i##_step, ch = ch + i##_cstep >= (c) ? ch + i##_cstep - (c) : ch + i##_cstep)

#endif
