/*
 * NCCL for data-parallel training (src/dist): a communicator per attached
 * model on its context's device, made from a unique id that rank 0 creates
 * and MPI broadcasts; all-reduces of device buffers on a stream of its own:
 * each waits for the compute stream's work so far (the packed bucket), and
 * vidai_nccl_join makes the compute stream wait for all of them, so the
 * reductions run while the backward kernels that follow go on.
 * Built only with VIDA_HAVE_NCCL.
 */
#include <nccl.h>

#include "backend/cuda/internal.cuh"

struct vidai_nccl {
    ncclComm_t comm;
    cudaStream_t s;
    cudaEvent_t ev_in, ev_out;
};

static int nccl_fail(ncclResult_t r, const char *what)
{
    return vidai_error(r == ncclSystemError || r == ncclRemoteError ? VIDA_EIO : VIDA_EDEVICE,
                       "NCCL: %s: %s", what, ncclGetErrorString(r));
}

extern "C" int vidai_nccl_unique_id(void *id, size_t size)
{
    ncclUniqueId u;
    ncclResult_t r;
    if (size < sizeof u)
        return vidai_error(VIDA_EINVAL, "NCCL: id buffer of %zu bytes, wants %zu", size, sizeof u);
    r = ncclGetUniqueId(&u);
    if (r != ncclSuccess)
        return nccl_fail(r, "ncclGetUniqueId");
    memcpy(id, &u, sizeof u);
    return VIDA_OK;
}

extern "C" size_t vidai_nccl_id_size(void)
{
    return sizeof(ncclUniqueId);
}

extern "C" int vidai_nccl_create(vidai_nccl **out, vidai_cuda *c, int world, int rank,
                                 const void *id)
{
    ncclUniqueId u;
    ncclResult_t r;
    vidai_nccl *n = (vidai_nccl *)vidai_calloc(1, sizeof *n);
    if (!n)
        return VIDA_ENOMEM;
    memcpy(&u, id, sizeof u);
    cudaSetDevice(c->device);
    if (cudaStreamCreateWithFlags(&n->s, cudaStreamNonBlocking) != cudaSuccess ||
        cudaEventCreateWithFlags(&n->ev_in, cudaEventDisableTiming) != cudaSuccess ||
        cudaEventCreateWithFlags(&n->ev_out, cudaEventDisableTiming) != cudaSuccess) {
        int rc = vidai_cuda_fail(cudaGetLastError(), "NCCL stream");
        vidai_free(n);
        return rc;
    }
    r = ncclCommInitRank(&n->comm, world, u, rank);
    if (r != ncclSuccess) {
        cudaEventDestroy(n->ev_in);
        cudaEventDestroy(n->ev_out);
        cudaStreamDestroy(n->s);
        vidai_free(n);
        return nccl_fail(r, "ncclCommInitRank");
    }
    *out = n;
    return VIDA_OK;
}

extern "C" void vidai_nccl_free(vidai_nccl *n)
{
    if (!n)
        return;
    cudaStreamSynchronize(n->s);
    ncclCommDestroy(n->comm);
    cudaEventDestroy(n->ev_in);
    cudaEventDestroy(n->ev_out);
    cudaStreamDestroy(n->s);
    vidai_free(n);
}

extern "C" int vidai_nccl_allreduce_sum(vidai_nccl *n, vidai_cuda *c, float *x, int64_t count)
{
    ncclResult_t r;
    /* after what the compute stream has queued so far (the packing of x) */
    VIDAI_CUDA_CHECK(cudaEventRecord(n->ev_in, c->stream), "NCCL: ordering");
    VIDAI_CUDA_CHECK(cudaStreamWaitEvent(n->s, n->ev_in, 0), "NCCL: ordering");
    r = ncclAllReduce(x, x, (size_t)count, ncclFloat, ncclSum, n->comm, n->s);
    return r == ncclSuccess ? VIDA_OK : nccl_fail(r, "ncclAllReduce");
}

extern "C" int vidai_nccl_join(vidai_nccl *n, vidai_cuda *c)
{
    VIDAI_CUDA_CHECK(cudaEventRecord(n->ev_out, n->s), "NCCL: join");
    VIDAI_CUDA_CHECK(cudaStreamWaitEvent(c->stream, n->ev_out, 0), "NCCL: join");
    return VIDA_OK;
}
