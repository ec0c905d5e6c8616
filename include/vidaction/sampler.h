/*
 * vida_sampler: which clips of a video a model sees, and how they look.
 *
 * A clip is L frames taken every r frames (stride), or at a target rate
 * (fps, chosen by timestamps, so variable frame rate is right). Which clips:
 * random, K uniformly spread, the centre one, all of them (dense), or one at
 * an explicit start; a per-video budget caps their number (K clips, or M
 * minutes of clip time). Spatially each clip is scaled (short side, with a
 * jitter range), cropped (centre, random, or three crops along the long
 * side), optionally mirrored, and handed out as uint8 [V, L, H, W, 3] or as
 * normalised float32 [V, 3, L, H, W] (PyTorch's layout), V = clips x crops,
 * ordered clip-major (clip 0 crop 0, clip 0 crop 1, ..., clip 1 crop 0, ...).
 *
 * Randomness comes from the seed given to each call and the clip's number,
 * never from call order: (seed, video, clip k) always gives the same clip,
 * whatever K, threads or order. Callers derive the seed from their own
 * (run seed, epoch, sample) to make a data order reproducible.
 *
 * Clips longer than the video: by default the last frame is repeated (the
 * clip starts at frame 0); VIDA_SHORT_LOOP wraps around; VIDA_SHORT_ERROR
 * refuses with VIDA_EDECODE.
 *
 * A sampler holds only its parameters: it may be used from several threads
 * at once (each with its own vida_video).
 */
#ifndef VIDACTION_SAMPLER_H
#define VIDACTION_SAMPLER_H

#include "common.h"
#include "context.h"
#include "model.h"
#include "video.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vida_sampler vida_sampler;

/* Which clips (temporal). */
enum {
    VIDA_CLIPS_RANDOM = 0,  /* K clips, each at a random start */
    VIDA_CLIPS_UNIFORM = 1, /* K clips spread evenly from the first to the last possible start */
    VIDA_CLIPS_CENTER = 2,  /* one clip in the middle */
    VIDA_CLIPS_DENSE = 3,   /* every clip, starts dense_step apart (up to the budget) */
    VIDA_CLIPS_START = 4    /* one clip at start_frame (or start_time when >= 0) */
};

/* Which crops (spatial). */
enum {
    VIDA_CROP_CENTER = 0,
    VIDA_CROP_RANDOM = 1,
    VIDA_CROP_THREE = 2, /* left/centre/right (or top/centre/bottom): three views per clip */
    VIDA_CROP_NONE = 3
};

/* Output of vida_sampler_sample. */
enum {
    VIDA_SAMPLE_U8 = 0, /* uint8 [V, L, H, W, 3], RGB, layout VIDA_LAYOUT_NTHWC */
    VIDA_SAMPLE_F32 = 1 /* float32 [V, 3, L, H, W], (x/255 - mean)/std, VIDA_LAYOUT_NCTHW */
};

/* Clips longer than the video. */
enum {
    VIDA_SHORT_REPEAT_LAST = 0,
    VIDA_SHORT_LOOP = 1,
    VIDA_SHORT_ERROR = 2
};

typedef struct vida_sampler_params {
    size_t size;         /* sizeof(vida_sampler_params), set by _params_init */
    int frames;          /* L, frames per clip; default 16 */
    int stride;          /* r, source frames between clip frames; default 1 */
    double fps;          /* > 0: take frames at this rate by timestamp instead of stride */
    int clip_mode;       /* VIDA_CLIPS_*; default RANDOM */
    int clips;           /* K for RANDOM/UNIFORM; for DENSE a cap (0 = all); default 1 */
    double max_minutes;  /* > 0: at most this many minutes of clip time per video */
    int64_t start_frame; /* for VIDA_CLIPS_START */
    double start_time;   /* for VIDA_CLIPS_START when >= 0: seconds from the first frame; default -1 */
    int dense_step;      /* for DENSE: frames between starts; 0 = the clip's span (no overlap) */
    int short_side_min;  /* short side scaled to a size drawn uniformly from [min, max] per clip; */
    int short_side_max;  /*   0/0 = native size; default 128/128 */
    int crop;            /* square crop size, 0 = none; default 112 */
    int crop_mode;       /* VIDA_CROP_*; default CENTER */
    int flip;            /* 1: mirror each clip with probability 1/2; default 0 */
    int output;          /* VIDA_SAMPLE_*; default U8 */
    float mean[3];       /* for F32; default IG-65M's {0.43216, 0.394666, 0.37645} */
    float std[3];        /* for F32; default {0.22803, 0.22145, 0.216989} */
    int short_video;     /* VIDA_SHORT_*; default REPEAT_LAST */
} vida_sampler_params;

/* Fills *p with defaults: one random 16-frame clip, short side 128, centre crop 112, uint8. */
VIDA_API void vida_sampler_params_init(vida_sampler_params *p);

/*
 * Fills *p for evaluating model m: the defaults above, then the clip
 * geometry and normalisation m's metadata records (what `vidaction train`
 * writes: "clip_frames", "frame_stride", "short_side", "crop", "mean" and
 * "std" as "r,g,b"), then `clips` clips spread uniformly over the video,
 * centre crop, float32 output -- the evaluation protocol's views. An absent
 * key keeps its default. Returns VIDA_OK, VIDA_EINVAL (NULL, clips < 1),
 * VIDA_EFORMAT (a count that is not a whole number >= 1, a "mean" that is
 * not three numbers, a "std" that is not three positive numbers; the
 * message names the key).
 */
VIDA_API int vida_sampler_params_from_model(vida_sampler_params *p, const vida_model *m, int clips);

/*
 * Creates a sampler. ctx may be NULL. Returns VIDA_OK, VIDA_EINVAL (a
 * parameter out of range, named in the message) or VIDA_ENOMEM.
 */
VIDA_API int vida_sampler_create(vida_sampler **out, vida_context *ctx,
                                 const vida_sampler_params *p);

/* Frees the sampler. NULL is a no-op. */
VIDA_API void vida_sampler_free(vida_sampler *s);

/* Copies the sampler's parameters into *out (out->size must be set). */
VIDA_API int vida_sampler_get_params(const vida_sampler *s, vida_sampler_params *out);

/*
 * The shape of what vida_sampler_sample gives for v: *n_views = clips x crops
 * and shape[5] (U8: V, L, H, W, 3; F32: V, 3, L, H, W). Either out pointer may be NULL.
 * Scale jitter changes nothing here: the crop fixes H and W. With no crop and
 * jitter (min != max) the size varies per clip and this returns VIDA_EINVAL.
 */
VIDA_API int vida_sampler_plan(const vida_sampler *s, const vida_video *v, int64_t *n_views,
                               int64_t shape[5]);

/*
 * The source frame numbers of every view without decoding: indices is
 * [n_views, L] (int64), n_indices its element count.
 */
VIDA_API int vida_sampler_indices(const vida_sampler *s, const vida_video *v, uint64_t seed,
                                  int64_t *indices, size_t n_indices);

/*
 * Decodes and writes every view into out (out_bytes at least the plan's size
 * times 1 or 4 bytes). indices may be NULL; otherwise it receives the source
 * frame numbers [n_views, L] (n_indices elements).
 * Returns VIDA_OK or the error of vida_video_read (the message names the
 * file, the clip and the frame).
 */
VIDA_API int vida_sampler_sample(const vida_sampler *s, vida_video *v, uint64_t seed,
                                 void *out, size_t out_bytes, int64_t *indices,
                                 size_t n_indices);

/*
 * vida_sampler_indices and vida_sampler_sample inside a window of the video:
 * [t_begin, t_end) seconds from the first frame (t_end < 0: to the end): the
 * frames whose timestamps lie in it (when none does, the frame shown at
 * t_begin), so windows that tile a video share no frame. The window acts as
 * the whole video -- clip choice, START's start_frame and
 * start_time (counted from the window's first frame), the policy for clips
 * longer than it -- and no frame outside it is used. Indices stay the
 * video's. An empty window, or one starting at or after the end, is
 * VIDA_EINVAL. (0, -1) is the whole video.
 */
VIDA_API int vida_sampler_indices_window(const vida_sampler *s, const vida_video *v,
                                         uint64_t seed, double t_begin, double t_end,
                                         int64_t *indices, size_t n_indices);
VIDA_API int vida_sampler_sample_window(const vida_sampler *s, vida_video *v, uint64_t seed,
                                        double t_begin, double t_end, void *out,
                                        size_t out_bytes, int64_t *indices, size_t n_indices);

#ifdef __cplusplus
}
#endif
#endif
