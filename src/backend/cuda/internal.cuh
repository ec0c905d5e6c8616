/*
 * Shared by the .cu files of the CUDA backend: the handle, error helpers and
 * launch geometry. Not seen outside src/backend/cuda.
 */
#ifndef VIDAI_CUDA_INTERNAL_CUH
#define VIDAI_CUDA_INTERNAL_CUH

#include <cublas_v2.h>
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
};

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

/* Blocks for an elementwise kernel over n items: at most 65535*8 blocks, grid-stride beyond. */
static inline unsigned vidai_blocks(int64_t n, int threads)
{
    int64_t b = (n + threads - 1) / threads;
    if (b < 1)
        b = 1;
    if (b > 65535 * 8)
        b = 65535 * 8;
    return (unsigned)b;
}

#endif
