/*
 * vida_dist: synchronous data-parallel training over processes (since 0.4).
 *
 * Every rank runs the same program on its own shard of the data (the loader's
 * rank/world). vida_dist_attach makes a model data-parallel: its weights and
 * buffers are broadcast from rank 0 at once, and from then on every backward
 * pass averages the gradients over the ranks, in buckets of about
 * bucket_bytes taken in reverse layer order and started while the backward
 * pass goes on, so that communication overlaps computation. vida_train_step
 * also agrees on a non-finite loss: when any rank's loss is not finite, every
 * rank skips the step together.
 *
 * Engines: MPI (the process is launched by mpirun or srun; Open MPI or MPICH,
 * detected at build time; host buffers: a GPU model's gradients are copied to
 * the host), NCCL for GPU models (device buffers; the communicator made from
 * an id rank 0 broadcasts over MPI), or the caller's own all-reduce
 * (VIDA_DIST_CALLBACK, for hosts that bring their engine). vida_features()
 * has VIDA_FEATURE_MPI / VIDA_FEATURE_NCCL for what is compiled in.
 */
#ifndef VIDACTION_DIST_H
#define VIDACTION_DIST_H

#include "common.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vida_dist vida_dist;

enum {
    VIDA_DIST_AUTO = 0,    /* MPI when compiled in and launched by an MPI launcher, else NONE */
    VIDA_DIST_NONE = 1,    /* one process: rank 0 of 1, attach and barrier do nothing */
    VIDA_DIST_MPI = 2,     /* MPI_COMM_WORLD (MPI is initialised here unless it already is) */
    VIDA_DIST_CALLBACK = 3, /* the caller's all-reduce, rank and world */
    VIDA_DIST_NCCL = 4      /* MPI for the process group, NCCL for the gradients of models on
                               CUDA contexts (device buffers, the context's stream) */
};

/*
 * VIDA_DIST_CALLBACK: sums data[0..n) over all ranks, in place, every rank
 * calling with the same n in the same order. Returns 0, or nonzero to fail
 * the step (the library then returns VIDA_EIO).
 */
typedef int (*vida_allreduce_fn)(float *data, int64_t n, void *user_data);

typedef struct vida_dist_params {
    size_t size;             /* sizeof(vida_dist_params), set by _params_init */
    int backend;             /* VIDA_DIST_*; default AUTO */
    size_t bucket_bytes;     /* gradient bucket size; default 25 MB */
    int rank, world;         /* CALLBACK only: this rank and the number of ranks */
    vida_allreduce_fn allreduce; /* CALLBACK only */
    void *user_data;
} vida_dist_params;

/* Fills *p with defaults. */
VIDA_API void vida_dist_params_init(vida_dist_params *p);

/*
 * Joins the process group. Returns VIDA_OK, VIDA_EINVAL (bad params, or a
 * VIDA_DIST_TIMEOUT that is not a number of seconds), VIDA_EUNSUPPORTED (MPI
 * asked for but not compiled in), VIDA_EIO (the engine failed to start),
 * VIDA_ENOMEM.
 *
 * With MPI no rank waits forever in a collective: after VIDA_DIST_TIMEOUT
 * seconds (environment, read here; default 300, 0 = no limit) the call
 * returns VIDA_EIO naming the collective and the ranks that did not answer,
 * and the group is unusable from then on (docs/distributed.md).
 */
VIDA_API int vida_dist_create(vida_dist **out, const vida_dist_params *p);

/* Leaves the group (MPI_Finalize if vida_dist_create initialised MPI). NULL is a no-op. */
VIDA_API void vida_dist_free(vida_dist *d);

/* This process's rank and the number of ranks (0 and 1 without a group); -1 for NULL. */
VIDA_API int vida_dist_rank(const vida_dist *d);
VIDA_API int vida_dist_world(const vida_dist *d);

/*
 * Makes m data-parallel over d (see above): broadcasts every tensor from rank
 * 0 now (a collective: every rank calls it), then averages gradients in every
 * vida_model_backward of m. d must outlive m's training; a model is attached
 * to at most one group. Returns VIDA_OK, VIDA_EINVAL, VIDA_EIO, VIDA_ENOMEM.
 */
VIDA_API int vida_dist_attach(vida_dist *d, vida_model *m);

/* Waits for every rank. Returns VIDA_OK or VIDA_EIO. */
VIDA_API int vida_dist_barrier(vida_dist *d);

/*
 * *all_ok = 1 when ok is nonzero on every rank, else 0 (a collective).
 * vida_train_step uses it on the loss; a program uses it for its own
 * decisions (stop when any rank failed to read its data). Returns VIDA_OK or
 * VIDA_EIO.
 */
VIDA_API int vida_dist_all_ok(vida_dist *d, int ok, int *all_ok);

#ifdef __cplusplus
}
#endif
#endif
