/*
 * The CUDA handle: device, stream, cuDNN and cuBLAS handles, the
 * stream-ordered memory pool, transfers, and error translation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cuda/internal.cuh"

int vidai_cuda_fail(cudaError_t e, const char *what)
{
    int code = (e == cudaErrorMemoryAllocation) ? VIDA_ENOMEM : VIDA_EDEVICE;
    cudaGetLastError(); /* clear a sticky launch error where it can be cleared */
    return vidai_error(code, "CUDA: %s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

int vidai_cudnn_fail(cudnnStatus_t s, const char *what)
{
    int code = s == CUDNN_STATUS_ALLOC_FAILED ? VIDA_ENOMEM : VIDA_EDEVICE;
    return vidai_error(code, "cuDNN: %s: %s", what, cudnnGetErrorString(s));
}

int vidai_cublas_fail(cublasStatus_t s, const char *what)
{
    int code = s == CUBLAS_STATUS_ALLOC_FAILED ? VIDA_ENOMEM : VIDA_EDEVICE;
    return vidai_error(code, "cuBLAS: %s: %s", what, cublasGetStatusString(s));
}

int vidai_cuda_launched(const char *what)
{
    cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? VIDA_OK : vidai_cuda_fail(e, what);
}

int vidai_cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

int vidai_cuda_create(vidai_cuda **out, int device)
{
    vidai_cuda *c;
    cudaDeviceProp prop;
    cudnnStatus_t ds;
    cublasStatus_t bs;
    uint64_t keep = UINT64_MAX;
    int n = vidai_cuda_device_count(), drv = 0, rc;
    *out = NULL;
    if (n == 0)
        return vidai_error(VIDA_EDEVICE, "CUDA: no CUDA device is visible (no GPU, or no driver)");
    if (device < 0 || device >= n)
        return vidai_error(VIDA_EDEVICE, "CUDA: device %d asked for, but %d device%s visible "
                           "(0..%d)", device, n, n == 1 ? " is" : "s are", n - 1);
    c = (vidai_cuda *)vidai_calloc(1, sizeof *c);
    if (!c)
        return VIDA_ENOMEM;
    c->device = device;
    if (cudaSetDevice(device) != cudaSuccess || cudaGetDeviceProperties(&prop, device) != cudaSuccess) {
        rc = vidai_cuda_fail(cudaGetLastError(), "opening the device");
        vidai_free(c);
        return rc;
    }
    if (cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking) != cudaSuccess) {
        rc = vidai_cuda_fail(cudaGetLastError(), "creating a stream");
        vidai_free(c);
        return rc;
    }
    /* The device's default pool keeps what it has taken (no trimming at sync points). */
    if (cudaDeviceGetDefaultMemPool(&c->mempool, device) == cudaSuccess)
        cudaMemPoolSetAttribute(c->mempool, cudaMemPoolAttrReleaseThreshold, &keep);
    cudaGetLastError();
    ds = cudnnCreate(&c->cudnn);
    if (ds != CUDNN_STATUS_SUCCESS) {
        rc = vidai_cudnn_fail(ds, "cudnnCreate (is libcudnn 9 installed and matching the driver?)");
        cudaStreamDestroy(c->stream);
        vidai_free(c);
        return rc;
    }
    cudnnSetStream(c->cudnn, c->stream);
    bs = cublasCreate(&c->cublas);
    if (bs != CUBLAS_STATUS_SUCCESS) {
        rc = vidai_cublas_fail(bs, "cublasCreate");
        cudnnDestroy(c->cudnn);
        cudaStreamDestroy(c->stream);
        vidai_free(c);
        return rc;
    }
    cublasSetStream(c->cublas, c->stream);
    /* fp32 stays fp32: no TF32 tensor cores. */
    cublasSetMathMode(c->cublas, CUBLAS_PEDANTIC_MATH);
    {
        const char *pe = getenv("VIDA_CUDA_PROFILE");
        c->profile = pe && *pe && strcmp(pe, "0") != 0;
        pe = getenv("VIDA_CUDNN_GRAPH"); /* 0: never; force: a plan whenever one runs (tests) */
        c->graph = pe && strcmp(pe, "0") == 0 ? 0 : pe && strcmp(pe, "force") == 0 ? 2 : 1;
        pe = getenv("VIDA_CUDA_ACT16"); /* 0: activations in fp32 also in bf16 precision */
        c->act16 = !(pe && strcmp(pe, "0") == 0);
    }
    cudaDriverGetVersion(&drv);
    snprintf(c->describe, sizeof c->describe, "%.100s, sm_%d%d, %d SMs, %.1f GiB, driver %d.%d, cuDNN %zu",
             prop.name, prop.major, prop.minor, prop.multiProcessorCount,
             (double)prop.totalGlobalMem / (1024.0 * 1024 * 1024), drv / 1000, (drv % 1000) / 10,
             cudnnGetVersion());
    *out = c;
    return VIDA_OK;
}

void vidai_cuda_free(vidai_cuda *c)
{
    if (!c)
        return;
    cudaSetDevice(c->device);
    cudaStreamSynchronize(c->stream);
    if (c->profile && c->n_prof)
        vidai_cuda_prof_report(c, stderr, 0);
    if (c->workspace)
        cudaFreeAsync(c->workspace, c->stream);
    if (c->bf16_a)
        cudaFreeAsync(c->bf16_a, c->stream);
    if (c->bf16_b)
        cudaFreeAsync(c->bf16_b, c->stream);
    if (c->f32_tmp)
        cudaFreeAsync(c->f32_tmp, c->stream);
    if (c->red)
        cudaFreeAsync(c->red, c->stream);
    cudaStreamSynchronize(c->stream);
    if (c->host_red)
        cudaFreeHost(c->host_red);
    cublasDestroy(c->cublas);
    cudnnDestroy(c->cudnn);
    cudaStreamDestroy(c->stream);
    cudaGetLastError();
    vidai_cuda_algos_free(c);
    vidai_free(c);
}

const char *vidai_cuda_describe(const vidai_cuda *c)
{
    return c ? c->describe : "";
}

void vidai_cuda_set_precision(vidai_cuda *c, int precision)
{
    c->precision = precision == VIDAI_CUDA_BF16 || precision == VIDAI_CUDA_FP16 ? precision
                                                                                 : VIDAI_CUDA_FP32;
}

int vidai_cuda_precision(const vidai_cuda *c)
{
    return c->precision;
}

void vidai_cuda_set_conv_engine(vidai_cuda *c, int engine)
{
    c->conv_engine = engine;
}

int64_t vidai_cuda_direct_convs(const vidai_cuda *c)
{
    return c->direct_convs;
}

void vidai_cuda_use(vidai_cuda *c)
{
    int cur = -1;
    if (cudaGetDevice(&cur) != cudaSuccess || cur != c->device)
        cudaSetDevice(c->device);
}

void *vidai_cuda_malloc(vidai_cuda *c, size_t bytes)
{
    void *p = NULL;
    cudaError_t e;
    cudaSetDevice(c->device);
    e = cudaMallocAsync(&p, bytes ? bytes : 1, c->stream);
    if (e != cudaSuccess) {
        vidai_cuda_fail(e, "allocating device memory");
        vidai_error(VIDA_ENOMEM, "CUDA: out of device memory allocating %zu bytes", bytes);
        return NULL;
    }
    return p;
}

void vidai_cuda_free_mem(vidai_cuda *c, void *p)
{
    if (c && p)
        cudaFreeAsync(p, c->stream);
}

int vidai_cuda_scratch(vidai_cuda *c, void **buf, size_t *cap, size_t need)
{
    if (*cap >= need && *buf)
        return VIDA_OK;
    if (*buf)
        cudaFreeAsync(*buf, c->stream);
    *buf = NULL;
    *cap = 0;
    *buf = vidai_cuda_malloc(c, need);
    if (!*buf)
        return VIDA_ENOMEM;
    *cap = need;
    return VIDA_OK;
}

int vidai_cuda_upload(vidai_cuda *c, void *dst, const void *host, size_t bytes)
{
    if (!bytes)
        return VIDA_OK;
    /* pageable host memory: the copy is staged, and the source may be reused on return */
    VIDAI_CUDA_CHECK(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, c->stream),
                     "copying to the device");
    VIDAI_CUDA_CHECK(cudaStreamSynchronize(c->stream), "copying to the device");
    return VIDA_OK;
}

int vidai_cuda_download(vidai_cuda *c, void *host, const void *src, size_t bytes)
{
    if (!bytes)
        return VIDA_OK;
    VIDAI_CUDA_CHECK(cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, c->stream),
                     "copying from the device");
    VIDAI_CUDA_CHECK(cudaStreamSynchronize(c->stream), "copying from the device");
    return VIDA_OK;
}

int vidai_cuda_copy(vidai_cuda *c, void *dst, const void *src, size_t bytes)
{
    if (!bytes || dst == src)
        return VIDA_OK;
    VIDAI_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, c->stream),
                     "copying on the device");
    return VIDA_OK;
}

int vidai_cuda_zero(vidai_cuda *c, void *dst, size_t bytes)
{
    if (!bytes)
        return VIDA_OK;
    VIDAI_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, c->stream), "clearing device memory");
    return VIDA_OK;
}

int vidai_cuda_sync(vidai_cuda *c)
{
    VIDAI_CUDA_CHECK(cudaStreamSynchronize(c->stream), "waiting for the device");
    return VIDA_OK;
}

int vidai_cuda_mem_used(vidai_cuda *c, size_t *used, size_t *pool_reserved)
{
    size_t fr = 0, tot = 0;
    uint64_t res = 0;
    VIDAI_CUDA_CHECK(cudaStreamSynchronize(c->stream), "waiting for the device");
    VIDAI_CUDA_CHECK(cudaMemGetInfo(&fr, &tot), "reading device memory");
    if (used)
        *used = tot - fr;
    if (pool_reserved) {
        if (c->mempool)
            cudaMemPoolGetAttribute(c->mempool, cudaMemPoolAttrReservedMemCurrent, &res);
        *pool_reserved = (size_t)res;
    }
    return VIDA_OK;
}

/* --- profiling ---------------------------------------------------------------------------- */

int vidai_cuda_act16(const vidai_cuda *c)
{
    return c && c->act16 && c->precision == VIDAI_CUDA_BF16;
}

int vidai_cuda_profiling(const vidai_cuda *c)
{
    return c && c->profile;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double vidai_cuda_prof_begin(vidai_cuda *c)
{
    if (!c->profile)
        return 0;
    cudaStreamSynchronize(c->stream);
    return now_ms();
}

void vidai_cuda_prof_end(vidai_cuda *c, const char *name, double t0)
{
    int i;
    if (!c->profile)
        return;
    cudaStreamSynchronize(c->stream);
    for (i = 0; i < c->n_prof && strcmp(c->prof[i].name, name) != 0; i++)
        ;
    if (i == c->n_prof) {
        if (i == (int)(sizeof c->prof / sizeof c->prof[0]))
            return;
        c->prof[i].name = name;
        c->prof[i].ms = 0;
        c->prof[i].calls = 0;
        c->n_prof++;
    }
    c->prof[i].ms += now_ms() - t0;
    c->prof[i].calls++;
}

void vidai_cuda_prof_report(vidai_cuda *c, void *file, int reset)
{
    FILE *f = (FILE *)file;
    double all = 0;
    int order[64], i, j;
    for (i = 0; i < c->n_prof; i++) {
        order[i] = i;
        /* conv stages are inside the conv ops: not added twice */
        if (strncmp(c->prof[i].name, "conv: ", 6) != 0)
            all += c->prof[i].ms;
    }
    for (i = 1; i < c->n_prof; i++) /* by time, largest first */
        for (j = i; j > 0 && c->prof[order[j]].ms > c->prof[order[j - 1]].ms; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    fprintf(f, "%-32s %8s %10s %6s\n", "op (CUDA, synchronised)", "calls", "ms", "%");
    for (i = 0; i < c->n_prof; i++) {
        int k = order[i];
        fprintf(f, "%-32s %8lld %10.2f %6.1f\n", c->prof[k].name, (long long)c->prof[k].calls,
                c->prof[k].ms, all > 0 ? 100.0 * c->prof[k].ms / all : 0.0);
    }
    fprintf(f, "%-32s %8s %10.2f\n", "sum of ops", "", all);
    if (reset)
        c->n_prof = 0;
}
