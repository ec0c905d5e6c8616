/*
 * vida_loader: threads that decode a dataset's samples with a clip sampler
 * into batches, ahead of the caller, in bounded memory.
 *
 * What a batch holds is a function of (seed, epoch, batch number, rank,
 * world) only: sample j of this rank's epoch is dataset draw rank + j*world,
 * and its clip is sampled with a seed derived from (seed, epoch, draw index).
 * The thread count and timing change nothing. With world W each rank takes
 * floor(epoch_size / W) samples per epoch (the last epoch_size mod W draws of
 * each epoch are left out, so every rank has the same number of batches);
 * the ranks' samples are disjoint.
 *
 * A sample whose video fails to open or decode is left out of its batch (the
 * batch is smaller; nothing replaces it), counted, and its video listed
 * (vida_loader_failure); later draws of a video that failed to open are left
 * out without another attempt. vida_loader_next fails with VIDA_EDECODE once
 * more than max_failures of the samples so far (after the first
 * failure_grace) failed, or when a whole epoch gave nothing. Running out of
 * memory while loading a sample is not the video's failure: the sample is
 * not left out and the video not listed; vida_loader_next returns
 * VIDA_ENOMEM instead (a size limit such as max_pixels is the video's).
 *
 * Memory: the batches being filled or waiting take at most max_bytes
 * (clips and targets); on top of that each thread holds one open video
 * (its decoder and frame table). vida_loader_next blocks until the next batch
 * is complete.
 */
#ifndef VIDACTION_LOADER_H
#define VIDACTION_LOADER_H

#include "common.h"
#include "context.h"
#include "dataset.h"
#include "sampler.h"
#include "video.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vida_loader vida_loader;

typedef struct vida_loader_params {
    size_t size;          /* sizeof(vida_loader_params), set by _params_init */
    int batch;            /* samples per batch; default 8 */
    int threads;          /* decoding threads; default 1 */
    uint64_t seed;        /* default 0 */
    int rank, world;      /* this process's shard; default 0 of 1 */
    int64_t epochs;       /* epochs to give; 0 = no end; default 0 */
    int drop_last;        /* 1: no short last batch per epoch; default 0 */
    int prefetch;         /* most batches being filled or waiting; default 4 */
    size_t max_bytes;     /* bound on the memory of those batches; default 1 GiB */
    double max_failures;  /* largest tolerated fraction of failed samples; default 0.05 */
    int64_t failure_grace; /* samples before the fraction is enforced; default 64 */
    int64_t max_pixels;   /* per-frame limit passed to vida_video (0 = its default) */
    double deadline;      /* seconds per video open or read (0 = vida_video's default) */
} vida_loader_params;

/* Fills *p with defaults. */
VIDA_API void vida_loader_params_init(vida_loader_params *p);

/*
 * Creates a loader and starts its threads at epoch 0, batch 0. The loader
 * keeps ds and s alive until it is freed. The sampler must give the same
 * shape for every video: a crop (crop > 0, not VIDA_CROP_NONE), clip modes
 * RANDOM, UNIFORM, CENTER or START, and no max_minutes. Returns VIDA_OK,
 * VIDA_EINVAL (bad params, named in the message), VIDA_ENOMEM (max_bytes
 * holds no batch, or an allocation failed).
 */
VIDA_API int vida_loader_create(vida_loader **out, vida_context *ctx, vida_dataset *ds,
                                vida_sampler *s, const vida_loader_params *p);
/* Stops the threads and frees everything. NULL is a no-op. */
VIDA_API void vida_loader_free(vida_loader *l);

/*
 * A batch. Its memory belongs to the loader and stays valid until the next
 * vida_loader_next, vida_loader_set_state or vida_loader_free.
 */
typedef struct vida_batch {
    size_t size;          /* set by the caller to sizeof(vida_batch) */
    int end;              /* 1: the loader has given all its epochs (n is 0) */
    int64_t n;            /* samples in this batch; 0 when all of them failed */
    int64_t views;        /* views per sample (clips x crops of the sampler) */
    vida_tensor clips;    /* [n*views, L, H, W, 3] uint8 or [n*views, 3, L, H, W] float32 */
    vida_tensor targets;  /* [n, n_classes] float32 (vida_dataset_target) */
    const int32_t *labels;  /* [n] the sample's class */
    const int64_t *videos;  /* [n] kept video index in the dataset */
    const int64_t *draws;   /* [n] dataset draw index within the epoch */
    int64_t epoch;        /* epoch of this batch */
    int64_t number;       /* batch number within the epoch (this rank) */
    int64_t failed;       /* samples of this batch left out */
    int last_in_epoch;    /* 1 for the epoch's last batch */
} vida_batch;

/*
 * The next batch. Returns VIDA_OK (b->end after the last epoch; b->n may be
 * 0 when every sample of the batch failed -- it still counts, and may be the
 * epoch's last), VIDA_EDECODE (too many failures; the message says how many
 * and the last reason; the failing batch is not consumed: the state still
 * points at it, and this error repeats until vida_loader_set_state),
 * VIDA_ENOMEM (memory ran out, here or loading a sample; kept like
 * VIDA_EDECODE, the state at the batch not handed out), VIDA_EINVAL.
 */
VIDA_API int vida_loader_next(vida_loader *l, vida_batch *b);

/* Where a loader is: restoring it gives exactly the batches that would have come next. */
typedef struct vida_loader_state {
    size_t size;          /* set by the caller to sizeof(vida_loader_state) */
    uint64_t seed;
    int64_t epoch;        /* epoch of the next batch */
    int64_t number;       /* its number within the epoch */
    int64_t samples;      /* samples attempted so far */
    int64_t failures;     /* of which failed */
    int64_t batch;        /* batch size, rank, world and the dataset's identity */
    int64_t rank, world;  /*   (a hash of its kept videos, labels and epoch order) */
    uint64_t dataset_id;  /*   must match on restore */
} vida_loader_state;

/* The state before the next batch vida_loader_next will give. */
VIDA_API int vida_loader_get_state(const vida_loader *l, vida_loader_state *st);
/*
 * Drops the batches in flight and continues from st. Returns VIDA_OK,
 * VIDA_EMISMATCH (seed, batch, rank, world or dataset differ; the message
 * names which), VIDA_EINVAL.
 */
VIDA_API int vida_loader_set_state(vida_loader *l, const vida_loader_state *st);

typedef struct vida_loader_stats {
    size_t size;          /* set by the caller to sizeof(vida_loader_stats) */
    int64_t samples;      /* samples attempted (in batches handed out) */
    int64_t failures;     /* samples left out */
    int64_t failed_videos; /* distinct videos that failed */
    int64_t batches;      /* batches handed out */
    int64_t ready;        /* batches complete and waiting now */
    int64_t slots;        /* batches that fit in max_bytes (and prefetch) */
    size_t batch_bytes;   /* memory of one batch */
    size_t bytes;         /* memory of the batch buffers now (<= max_bytes) */
    double decode_seconds; /* wall time the threads spent on samples (open, decode, target),
                              summed over threads; above CPU time when they share cores */
    double wait_seconds;  /* time vida_loader_next spent waiting */
} vida_loader_stats;

/* Fills *st (st->size must be set). Returns VIDA_OK or VIDA_EINVAL. */
VIDA_API int vida_loader_get_stats(const vida_loader *l, vida_loader_stats *st);

/*
 * Failed video i (0 <= i < failed_videos, in the order batches were handed
 * out): its index in the dataset and "PATH: why" (valid until free).
 */
VIDA_API int vida_loader_failure(const vida_loader *l, int64_t i, int64_t *video,
                                 const char **message);

#ifdef __cplusplus
}
#endif
#endif
