/*
 * vida_sampler: chooses the clips of a video (which frames) and how each is
 * scaled, cropped and mirrored, then reads them through vida_video_read.
 *
 * Temporal. n = the video's measured frame count, L = frames, r = stride.
 * A clip spans (L-1)*r+1 source frames; frame j of a clip starting at s is
 * s + j*r. Starts, over the possible ones [0, n - span]:
 *   RANDOM   clip k starts at floor(u_k * (n - span + 1)), u_k uniform in
 *            [0, 1) from the counter RNG keyed by (seed, k): clip k is the
 *            same whatever K.
 *   UNIFORM  K == 1: (n - span) / 2 (floor); else clip k at
 *            round(k * (n - span) / (K - 1)) (halves up), first to last.
 *   CENTER   one clip at (n - span) / 2.
 *   DENSE    starts 0, step, 2*step, ... while start + span <= n, step =
 *            dense_step or the span; at least one clip.
 *   START    one clip at start_frame, or at vida_video_frame_at(start_time)
 *            when start_time >= 0; the start must lie in the video (else
 *            VIDA_EINVAL); a clip running past the end follows the policy
 *            for short videos below, from its own start.
 * With fps > 0 clips are chosen by time instead (stride unused): a clip lasts
 * L/fps seconds, its start time t0 is chosen as above but in seconds over
 * [0, duration - L/fps] (RANDOM: u_k times that range; DENSE: steps of
 * dense_step/fps seconds or the clip's duration), and frame j is the one
 * shown at t0 + j/fps (vida_video_frame_at), so variable frame rate video is
 * sampled at the right instants. Times get 1 microsecond added before the
 * look-up so that rounding in t0 + j/fps never picks the frame before the
 * one exactly at that time.
 *
 * Short videos (span > n, or L/fps longer than the duration): REPEAT_LAST
 * starts every clip at 0 and repeats the last frame; LOOP starts at 0 and
 * wraps (index mod n, time mod duration); ERROR fails with VIDA_EDECODE.
 *
 * Budget: max_minutes > 0 allows at most max(1, floor(max_minutes * 60 /
 * clip_seconds)) clips per video, clip_seconds = span / avg_fps (L / fps in
 * fps mode). RANDOM and UNIFORM give min(K, that) clips (UNIFORM spreads the
 * clips it gives), DENSE min(all, clips if > 0, that); CENTER and START one.
 * The count depends on the video only, never on the seed.
 *
 * Spatial, drawn per clip (every frame of a clip, and every view of it,
 * shares them), each from the RNG keyed by (seed, k, purpose): the short
 * side S uniform in [short_side_min, short_side_max] (short_side_min == 0:
 * native size); the scaled size is what vida_video_output_size gives for S.
 * Crop (crop > 0 and crop_mode != NONE), a crop x crop square of the scaled
 * frame: CENTER centred; RANDOM at uniform offsets; THREE three views, at
 * offsets 0, centred and the largest along the longer side (the other axis
 * centred; a square frame counts as wide). flip: mirrored with probability
 * 1/2 per clip.
 *
 * Output: V = clips x crops views, clip-major. U8 writes each view's
 * [L, H, W, 3] straight from vida_video_read; F32 reads into a temporary
 * uint8 buffer and writes out[v][c][t][y][x] = (u8/255 - mean[c]) / std[c].
 * Clips are read in the order of their first frame (the video is read
 * forward; outputs still land in clip order). THREE reads the scaled clip
 * once and cuts the three views from it (the same bytes as three cropped
 * reads: vida_video_read crops after scaling).
 * indices, when asked for, is [V, L] (the views of a clip share theirs).
 */
#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "vidaction/sampler.h"

#define MAX_FRAMES 4096
#define MAX_SIDE 16384
#define MAX_CLIPS 65536

/* Purposes of random draws: the RNG counter is clip * N_PURPOSES + purpose. */
enum { RNG_START = 0, RNG_SCALE = 1, RNG_CROP_X = 2, RNG_CROP_Y = 3, RNG_FLIP = 4, N_PURPOSES = 8 };

/* Slack for comparing and looking up times in seconds. */
#define TIME_EPS 1e-6

struct vida_sampler {
    vida_sampler_params p;
    vida_context *ctx;
};

void vida_sampler_params_init(vida_sampler_params *p)
{
    if (!p)
        return;
    memset(p, 0, sizeof *p);
    p->size = sizeof *p;
    p->frames = 16;
    p->stride = 1;
    p->clip_mode = VIDA_CLIPS_RANDOM;
    p->clips = 1;
    p->start_time = -1.0;
    p->short_side_min = 128;
    p->short_side_max = 128;
    p->crop = 112;
    p->crop_mode = VIDA_CROP_CENTER;
    p->output = VIDA_SAMPLE_U8;
    p->mean[0] = 0.43216f;
    p->mean[1] = 0.394666f;
    p->mean[2] = 0.37645f;
    p->std[0] = 0.22803f;
    p->std[1] = 0.22145f;
    p->std[2] = 0.216989f;
    p->short_video = VIDA_SHORT_REPEAT_LAST;
}

int vida_sampler_params_from_model(vida_sampler_params *p, const vida_model *m, int clips)
{
    static const char *const ints[4] = {"clip_frames", "frame_stride", "short_side", "crop"};
    const char *fn = "vida_sampler_params_from_model";
    if (!p || !m)
        return vidai_error(VIDA_EINVAL, "%s: %s is NULL", fn, !p ? "params" : "model");
    if (clips < 1)
        return vidai_error(VIDA_EINVAL, "%s: clips %d (at least 1)", fn, clips);
    vida_sampler_params_init(p);
    for (int k = 0; k < 4; k++) {
        const char *v = vida_model_get_meta(m, ints[k]);
        char *end;
        long n;
        if (!v)
            continue;
        errno = 0;
        n = strtol(v, &end, 10);
        if (errno || end == v || *end || n < 1 || n > 1000000)
            return vidai_error(VIDA_EFORMAT, "%s: metadata %s is \"%.64s\", not a count >= 1", fn, ints[k], v);
        if (k == 0) p->frames = (int)n;
        else if (k == 1) p->stride = (int)n;
        else if (k == 2) p->short_side_min = p->short_side_max = (int)n;
        else p->crop = (int)n;
    }
    for (int k = 0; k < 2; k++) {
        const char *key = k ? "std" : "mean", *v = vida_model_get_meta(m, key);
        float x[3];
        char tail;
        if (!v)
            continue;
        if (sscanf(v, "%f,%f,%f%c", &x[0], &x[1], &x[2], &tail) != 3 || !isfinite(x[0]) ||
            !isfinite(x[1]) || !isfinite(x[2]) || (k && !(x[0] > 0 && x[1] > 0 && x[2] > 0)))
            return vidai_error(VIDA_EFORMAT, "%s: metadata %s is \"%.64s\", not three %snumbers", fn,
                               key, v, k ? "positive " : "");
        memcpy(k ? p->std : p->mean, x, sizeof x);
    }
    p->clip_mode = VIDA_CLIPS_UNIFORM;
    p->clips = clips;
    p->crop_mode = VIDA_CROP_CENTER;
    p->output = VIDA_SAMPLE_F32;
    return VIDA_OK;
}

static int check_params(const vida_sampler_params *p)
{
    const char *fn = "vida_sampler_create";
    int c;
    if (p->frames < 1 || p->frames > MAX_FRAMES)
        return vidai_error(VIDA_EINVAL, "%s: frames %d out of range [1, %d]", fn, p->frames,
                           MAX_FRAMES);
    if (p->stride < 1)
        return vidai_error(VIDA_EINVAL, "%s: stride %d must be >= 1", fn, p->stride);
    if (!(p->fps == 0 || (p->fps >= 1e-3 && p->fps <= 1e6)))
        return vidai_error(VIDA_EINVAL, "%s: fps %g must be 0 (use stride) or in [0.001, 1e6]", fn,
                           p->fps);
    if (p->clip_mode < VIDA_CLIPS_RANDOM || p->clip_mode > VIDA_CLIPS_START)
        return vidai_error(VIDA_EINVAL, "%s: unknown clip_mode %d", fn, p->clip_mode);
    if (p->clips < 0 || p->clips > MAX_CLIPS)
        return vidai_error(VIDA_EINVAL, "%s: clips %d out of range [0, %d]", fn, p->clips,
                           MAX_CLIPS);
    if ((p->clip_mode == VIDA_CLIPS_RANDOM || p->clip_mode == VIDA_CLIPS_UNIFORM) && p->clips < 1)
        return vidai_error(VIDA_EINVAL, "%s: clips must be >= 1 for RANDOM and UNIFORM clips", fn);
    if (!isfinite(p->max_minutes) || p->max_minutes < 0)
        return vidai_error(VIDA_EINVAL, "%s: max_minutes %g must be finite and >= 0", fn,
                           p->max_minutes);
    if (p->clip_mode == VIDA_CLIPS_START && p->start_time < 0 && p->start_frame < 0)
        return vidai_error(VIDA_EINVAL, "%s: start_frame %lld must be >= 0", fn,
                           (long long)p->start_frame);
    if (isnan(p->start_time) || isinf(p->start_time))
        return vidai_error(VIDA_EINVAL, "%s: start_time %g must be finite", fn, p->start_time);
    if (p->dense_step < 0)
        return vidai_error(VIDA_EINVAL, "%s: dense_step %d must be >= 0", fn, p->dense_step);
    if (p->short_side_min < 0 || p->short_side_min > MAX_SIDE)
        return vidai_error(VIDA_EINVAL, "%s: short_side_min %d out of range [0, %d]", fn,
                           p->short_side_min, MAX_SIDE);
    if (p->short_side_min > 0 &&
        (p->short_side_max < p->short_side_min || p->short_side_max > MAX_SIDE))
        return vidai_error(VIDA_EINVAL,
                           "%s: short_side_max %d out of range [short_side_min %d, %d]", fn,
                           p->short_side_max, p->short_side_min, MAX_SIDE);
    if (p->short_side_min == 0 && p->short_side_max != 0)
        return vidai_error(VIDA_EINVAL,
                           "%s: short_side_max %d with short_side_min 0 (native size wants both 0)",
                           fn, p->short_side_max);
    if (p->crop < 0 || p->crop > MAX_SIDE)
        return vidai_error(VIDA_EINVAL, "%s: crop %d out of range [0, %d]", fn, p->crop, MAX_SIDE);
    if (p->crop_mode < VIDA_CROP_CENTER || p->crop_mode > VIDA_CROP_NONE)
        return vidai_error(VIDA_EINVAL, "%s: unknown crop_mode %d", fn, p->crop_mode);
    if (p->flip != 0 && p->flip != 1)
        return vidai_error(VIDA_EINVAL, "%s: flip %d must be 0 or 1", fn, p->flip);
    if (p->output != VIDA_SAMPLE_U8 && p->output != VIDA_SAMPLE_F32)
        return vidai_error(VIDA_EINVAL, "%s: unknown output %d", fn, p->output);
    for (c = 0; c < 3; c++) {
        if (!isfinite(p->mean[c]))
            return vidai_error(VIDA_EINVAL, "%s: mean[%d] is not finite", fn, c);
        if (!isfinite(p->std[c]) || p->std[c] == 0.0f)
            return vidai_error(VIDA_EINVAL, "%s: std[%d] %g must be finite and non-zero", fn, c,
                               (double)p->std[c]);
    }
    if (p->short_video < VIDA_SHORT_REPEAT_LAST || p->short_video > VIDA_SHORT_ERROR)
        return vidai_error(VIDA_EINVAL, "%s: unknown short_video %d", fn, p->short_video);
    return VIDA_OK;
}

int vida_sampler_create(vida_sampler **out, vida_context *ctx, const vida_sampler_params *p)
{
    vida_sampler *s;
    int rc;
    if (!out)
        return vidai_error(VIDA_EINVAL, "vida_sampler_create: out is NULL");
    *out = NULL;
    if (!p)
        return vidai_error(VIDA_EINVAL, "vida_sampler_create: params is NULL");
    if (p->size != sizeof *p)
        return vidai_error(VIDA_EINVAL,
                           "vida_sampler_create: params.size is %zu, this library wants %zu "
                           "(call vida_sampler_params_init)",
                           p->size, sizeof *p);
    rc = check_params(p);
    if (rc != VIDA_OK)
        return rc;
    s = vidai_calloc(1, sizeof *s);
    if (!s)
        return VIDA_ENOMEM;
    s->p = *p;
    vidai_context_ref(ctx);
    s->ctx = ctx;
    *out = s;
    return VIDA_OK;
}

void vida_sampler_free(vida_sampler *s)
{
    if (!s)
        return;
    vida_context_free(s->ctx);
    vidai_free(s);
}

int vida_sampler_get_params(const vida_sampler *s, vida_sampler_params *out)
{
    if (!s || !out)
        return vidai_error(VIDA_EINVAL, "vida_sampler_get_params: %s is NULL",
                           !s ? "sampler" : "out");
    if (out->size != sizeof *out)
        return vidai_error(VIDA_EINVAL, "vida_sampler_get_params: out->size is %zu, wants %zu",
                           out->size, sizeof *out);
    *out = s->p;
    return VIDA_OK;
}

/* ---- random draws ------------------------------------------------------- */

static uint64_t draw(uint64_t seed, int64_t k, int purpose)
{
    return vidai_rng_u64(seed, (uint64_t)k * N_PURPOSES + (uint64_t)purpose);
}

/* Uniform in [0, 1) with 53 random bits. */
static double draw_unit(uint64_t seed, int64_t k, int purpose)
{
    return (double)(draw(seed, k, purpose) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform integer in [0, n), n >= 1. */
static int64_t draw_below(uint64_t seed, int64_t k, int purpose, int64_t n)
{
    int64_t r = (int64_t)floor(draw_unit(seed, k, purpose) * (double)n);
    return r < n ? r : n - 1;
}

/* ---- temporal ----------------------------------------------------------- */

/* What the clips of one video are, independent of the seed. */
typedef struct clip_plan {
    vida_video_info info;
    int64_t n_clips;
    int64_t span;     /* frame mode: source frames a clip covers */
    double clip_secs; /* fps mode: seconds a clip lasts */
    int is_short;     /* the clip is longer than the video */
    int64_t first;    /* window: its first frame; info.n_frames and info.duration are */
    double t_first;   /*   the window's; t_first its start in seconds */
} clip_plan;

static int fps_mode(const vida_sampler *s)
{
    return s->p.fps > 0;
}

static int plan_clips(const vida_sampler *s, const vida_video *v, double t_begin, double t_end,
                      clip_plan *cp)
{
    const vida_sampler_params *p = &s->p;
    int64_t n, cap = INT64_MAX, all;
    double clip_seconds;
    int rc;
    memset(cp, 0, sizeof *cp);
    cp->info.size = sizeof cp->info;
    rc = vida_video_get_info(v, &cp->info);
    if (rc != VIDA_OK)
        return rc;
    n = cp->info.n_frames;
    if (n < 1)
        return vidai_error(VIDA_EDECODE, "the video has no frames");
    if (!(t_begin >= 0) || (t_end >= 0 && !(t_end > t_begin)) || isnan(t_end))
        return vidai_error(VIDA_EINVAL, "the window [%g, %g) s is empty or negative", t_begin,
                           t_end);
    if (t_begin > 0 || t_end >= 0) {
        /* the window acts as the whole video: frames first..last, its own duration */
        double end = t_end < 0 || t_end > cp->info.duration ? cp->info.duration : t_end;
        int64_t last = n - 1;
        if (t_begin >= cp->info.duration)
            return vidai_error(VIDA_EINVAL,
                               "the window starts at %g s, not before the video's end (%.6g s)",
                               t_begin, cp->info.duration);
        /* frames that start in [t_begin, end); when none does, the one shown at t_begin */
        double t_first_frame = 0;
        rc = vida_video_frame_at(v, t_begin + TIME_EPS, &cp->first);
        if (rc == VIDA_OK)
            rc = vida_video_frame_time(v, cp->first, &t_first_frame);
        if (rc == VIDA_OK && end < cp->info.duration)
            rc = vida_video_frame_at(v, end - TIME_EPS, &last);
        if (rc != VIDA_OK)
            return rc;
        if (t_first_frame < t_begin - TIME_EPS && cp->first < last)
            cp->first++;
        if (last < cp->first)
            last = cp->first;
        n = cp->info.n_frames = last - cp->first + 1;
        cp->info.duration = end - t_begin;
        cp->t_first = t_begin;
    }
    cp->span = (int64_t)(p->frames - 1) * p->stride + 1;
    if (fps_mode(s)) {
        cp->clip_secs = p->frames / p->fps;
        cp->is_short = cp->clip_secs > cp->info.duration + TIME_EPS;
        clip_seconds = cp->clip_secs;
    } else {
        cp->is_short = cp->span > n;
        clip_seconds = cp->info.avg_fps > 0 && isfinite(cp->info.avg_fps)
                           ? (double)cp->span / cp->info.avg_fps
                           : 0.0;
    }
    if (cp->is_short && p->short_video == VIDA_SHORT_ERROR && p->clip_mode != VIDA_CLIPS_START) {
        if (fps_mode(s))
            return vidai_error(VIDA_EDECODE,
                               "the video lasts %.6g s (%lld frames), a clip of %d "
                               "frames at %g fps lasts %.6g s",
                               cp->info.duration, (long long)n, p->frames, p->fps, cp->clip_secs);
        return vidai_error(VIDA_EDECODE,
                           "the video has %lld frames, a clip spans %lld "
                           "(%d frames, stride %d)",
                           (long long)n, (long long)cp->span, p->frames, p->stride);
    }
    if (p->max_minutes > 0 && clip_seconds > 0) {
        double c = floor(p->max_minutes * 60.0 / clip_seconds);
        cap = c < 1 ? 1 : c > (double)MAX_CLIPS * 1024 ? (int64_t)MAX_CLIPS * 1024 : (int64_t)c;
    }
    switch (p->clip_mode) {
    case VIDA_CLIPS_RANDOM:
    case VIDA_CLIPS_UNIFORM: cp->n_clips = p->clips < cap ? p->clips : cap; break;
    case VIDA_CLIPS_DENSE:
        if (cp->is_short) {
            all = 1;
        } else if (fps_mode(s)) {
            double step = p->dense_step > 0 ? p->dense_step / p->fps : cp->clip_secs;
            double room = floor((cp->info.duration - cp->clip_secs) / step + 1e-9) + 1;
            all = !(room >= 1) ? 1 : room > (double)MAX_CLIPS * 1024 ? (int64_t)MAX_CLIPS * 1024
                                                                      : (int64_t)room;
        } else {
            int64_t step = p->dense_step > 0 ? p->dense_step : cp->span;
            all = (n - cp->span) / step + 1;
        }
        if (p->clips > 0 && all > p->clips)
            all = p->clips;
        cp->n_clips = all < cap ? all : cap;
        break;
    default: /* CENTER, START */ cp->n_clips = 1; break;
    }
    return VIDA_OK;
}

/* The frame shown at time t (seconds from the first frame). */
static int64_t frame_at(const vida_video *v, double t, int *rc)
{
    int64_t idx = 0;
    int r = vida_video_frame_at(v, t + TIME_EPS, &idx);
    if (r != VIDA_OK && *rc == VIDA_OK)
        *rc = r;
    return idx;
}

/* Frame mode: the start frame of clip k. */
static int clip_start_frame(const vida_sampler *s, const vida_video *v, const clip_plan *cp,
                            uint64_t seed, int64_t k, int64_t *start)
{
    const vida_sampler_params *p = &s->p;
    int64_t n = cp->info.n_frames, room = n - cp->span, K = cp->n_clips;
    int rc = VIDA_OK;
    if (p->clip_mode == VIDA_CLIPS_START) {
        if (p->start_time >= 0) {
            if (p->start_time >= cp->info.duration)
                return vidai_error(VIDA_EINVAL,
                                   "start_time %g s is not before the video's end "
                                   "(%.6g s)",
                                   p->start_time, cp->info.duration);
            *start = frame_at(v, cp->t_first + p->start_time, &rc) - cp->first;
            if (*start < 0)
                *start = 0;
            return rc;
        }
        if (p->start_frame >= n)
            return vidai_error(VIDA_EINVAL, "start_frame %lld is past the video's %lld frames",
                               (long long)p->start_frame, (long long)n);
        *start = p->start_frame;
        return VIDA_OK;
    }
    if (cp->is_short) {
        *start = 0;
        return VIDA_OK;
    }
    switch (p->clip_mode) {
    case VIDA_CLIPS_RANDOM: *start = draw_below(seed, k, RNG_START, room + 1); break;
    case VIDA_CLIPS_UNIFORM:
        /* round(k * room / (K - 1)), halves up, in integers */
        *start = K == 1 ? room / 2 : (2 * k * room + (K - 1)) / (2 * (K - 1));
        break;
    case VIDA_CLIPS_CENTER: *start = room / 2; break;
    default: /* DENSE */ *start = k * (p->dense_step > 0 ? p->dense_step : cp->span); break;
    }
    return VIDA_OK;
}

/* fps mode: the start time of clip k. */
static int clip_start_time(const vida_sampler *s, const vida_video *v, const clip_plan *cp,
                           uint64_t seed, int64_t k, double *t0)
{
    const vida_sampler_params *p = &s->p;
    double room = cp->info.duration - cp->clip_secs;
    int64_t K = cp->n_clips;
    int rc;
    if (p->clip_mode == VIDA_CLIPS_START) {
        if (p->start_time >= 0) {
            if (p->start_time >= cp->info.duration)
                return vidai_error(VIDA_EINVAL,
                                   "start_time %g s is not before the video's end "
                                   "(%.6g s)",
                                   p->start_time, cp->info.duration);
            *t0 = p->start_time;
            return VIDA_OK;
        }
        if (p->start_frame >= cp->info.n_frames)
            return vidai_error(VIDA_EINVAL, "start_frame %lld is past the video's %lld frames",
                               (long long)p->start_frame, (long long)cp->info.n_frames);
        rc = vida_video_frame_time(v, cp->first + p->start_frame, t0);
        *t0 -= cp->t_first;
        if (*t0 < 0)
            *t0 = 0;
        return rc;
    }
    if (cp->is_short || room < 0) {
        *t0 = 0;
        return VIDA_OK;
    }
    switch (p->clip_mode) {
    case VIDA_CLIPS_RANDOM: *t0 = draw_unit(seed, k, RNG_START) * room; break;
    case VIDA_CLIPS_UNIFORM: *t0 = K == 1 ? room / 2 : room * (double)k / (double)(K - 1); break;
    case VIDA_CLIPS_CENTER: *t0 = room / 2; break;
    default: /* DENSE */
        *t0 = (double)k * (p->dense_step > 0 ? p->dense_step / p->fps : cp->clip_secs);
        break;
    }
    return VIDA_OK;
}

/* The L source frame numbers of clip k. */
static int clip_indices(const vida_sampler *s, const vida_video *v, const clip_plan *cp,
                        uint64_t seed, int64_t k, int64_t *idx)
{
    const vida_sampler_params *p = &s->p;
    int64_t n = cp->info.n_frames;
    int j, rc = VIDA_OK;
    if (fps_mode(s)) {
        double t0 = 0, dur = cp->info.duration;
        rc = clip_start_time(s, v, cp, seed, k, &t0);
        if (rc != VIDA_OK)
            return rc;
        if (p->short_video == VIDA_SHORT_ERROR && t0 + cp->clip_secs > dur + TIME_EPS)
            return vidai_error(VIDA_EDECODE,
                               "the clip from %.6g s lasts %.6g s, past the video's end "
                               "(%.6g s, %lld frames)",
                               t0, cp->clip_secs, dur, (long long)n);
        for (j = 0; j < p->frames; j++) {
            double t = t0 + j / p->fps;
            if (p->short_video == VIDA_SHORT_LOOP && dur > 0) {
                /* wrap; a time within TIME_EPS of a multiple of dur is the start again */
                t -= floor((t + TIME_EPS) / dur) * dur;
                if (t < 0)
                    t = 0;
            }
            /* REPEAT_LAST: vida_video_frame_at gives the last frame after the end */
            idx[j] = frame_at(v, cp->t_first + t, &rc);
            if (idx[j] < cp->first)
                idx[j] = cp->first;
            if (idx[j] > cp->first + n - 1)
                idx[j] = cp->first + n - 1;
        }
        return rc;
    }
    {
        int64_t start = 0;
        rc = clip_start_frame(s, v, cp, seed, k, &start);
        if (rc != VIDA_OK)
            return rc;
        if (p->short_video == VIDA_SHORT_ERROR && start + cp->span > n)
            return vidai_error(VIDA_EDECODE,
                               "the clip from frame %lld spans %lld frames, past the "
                               "video's %lld frames",
                               (long long)start, (long long)cp->span, (long long)n);
        for (j = 0; j < p->frames; j++) {
            int64_t f = start + (int64_t)j * p->stride;
            if (f >= n)
                f = p->short_video == VIDA_SHORT_LOOP ? f % n : n - 1;
            idx[j] = cp->first + f;
        }
    }
    return VIDA_OK;
}

/* ---- spatial ------------------------------------------------------------ */

static int cropping(const vida_sampler *s)
{
    return s->p.crop > 0 && s->p.crop_mode != VIDA_CROP_NONE;
}

static int n_crops(const vida_sampler *s)
{
    return cropping(s) && s->p.crop_mode == VIDA_CROP_THREE ? 3 : 1;
}

/* The scaled (uncropped) frame size for short side S, checked against the crop. */
static int scaled_size(const vida_sampler *s, const vida_video *v, int short_side, int *w, int *h)
{
    vida_frame_geometry g;
    int rc;
    vida_frame_geometry_init(&g);
    g.short_side = short_side;
    rc = vida_video_output_size(v, &g, w, h);
    if (rc != VIDA_OK)
        return vidai_error_prefix(rc, "short side %d: ", short_side);
    if (cropping(s) && (s->p.crop > *w || s->p.crop > *h))
        return vidai_error(VIDA_EINVAL, "crop %d is larger than the scaled frame %dx%d%s",
                           s->p.crop, *w, *h, short_side > 0 ? "" : " (native size)");
    return VIDA_OK;
}

/* The geometries of clip k's views (1 or 3). */
static int clip_geometry(const vida_sampler *s, const vida_video *v, uint64_t seed, int64_t k,
                         vida_frame_geometry g[3])
{
    const vida_sampler_params *p = &s->p;
    int short_side = p->short_side_min, w = 0, h = 0, i, rc;
    vida_frame_geometry base;
    if (short_side > 0 && p->short_side_max > short_side)
        short_side += (int)draw_below(seed, k, RNG_SCALE, p->short_side_max - short_side + 1);
    rc = scaled_size(s, v, short_side, &w, &h);
    if (rc != VIDA_OK)
        return rc;
    vida_frame_geometry_init(&base);
    base.short_side = short_side;
    base.flip = p->flip && (draw(seed, k, RNG_FLIP) >> 63);
    if (cropping(s)) {
        base.crop_width = base.crop_height = p->crop;
        base.crop_x = base.crop_y = -1;
        if (p->crop_mode == VIDA_CROP_RANDOM) {
            base.crop_x = (int)draw_below(seed, k, RNG_CROP_X, w - p->crop + 1);
            base.crop_y = (int)draw_below(seed, k, RNG_CROP_Y, h - p->crop + 1);
        }
    }
    for (i = 0; i < n_crops(s); i++)
        g[i] = base;
    if (n_crops(s) == 3) {
        /* along the longer side: first, centred (as CENTER crops), last */
        int *off0 = w >= h ? &g[0].crop_x : &g[0].crop_y;
        int *off2 = w >= h ? &g[2].crop_x : &g[2].crop_y;
        *off0 = 0;
        *off2 = (w >= h ? w : h) - p->crop;
    }
    return VIDA_OK;
}

/* ---- public ------------------------------------------------------------- */

/* The fixed output size of every view, or VIDA_EINVAL when it varies per clip. */
static int view_size(const vida_sampler *s, const vida_video *v, int *w, int *h)
{
    int rc = scaled_size(s, v, s->p.short_side_min, w, h);
    if (rc != VIDA_OK)
        return rc;
    if (cropping(s)) {
        *w = *h = s->p.crop;
        return VIDA_OK;
    }
    if (s->p.short_side_max != s->p.short_side_min)
        return vidai_error(VIDA_EINVAL,
                           "no crop and a short side jitter [%d, %d]: the frame size "
                           "varies per clip",
                           s->p.short_side_min, s->p.short_side_max);
    return VIDA_OK;
}

int vida_sampler_plan(const vida_sampler *s, const vida_video *v, int64_t *n_views,
                      int64_t shape[5])
{
    clip_plan cp;
    int64_t nv;
    int w = 0, h = 0, rc;
    if (!s || !v)
        return vidai_error(VIDA_EINVAL, "vida_sampler_plan: %s is NULL", !s ? "sampler" : "video");
    rc = plan_clips(s, v, 0, -1, &cp);
    rc = rc ? rc : view_size(s, v, &w, &h);
    if (rc != VIDA_OK)
        return vidai_error_prefix(rc, "vida_sampler_plan: ");
    nv = cp.n_clips * n_crops(s);
    if (n_views)
        *n_views = nv;
    if (shape) {
        shape[0] = nv;
        if (s->p.output == VIDA_SAMPLE_U8) {
            shape[1] = s->p.frames;
            shape[2] = h;
            shape[3] = w;
            shape[4] = 3;
        } else {
            shape[1] = 3;
            shape[2] = s->p.frames;
            shape[3] = h;
            shape[4] = w;
        }
    }
    return VIDA_OK;
}

int vida_sampler_indices(const vida_sampler *s, const vida_video *v, uint64_t seed,
                         int64_t *indices, size_t n_indices)
{
    return vida_sampler_indices_window(s, v, seed, 0, -1, indices, n_indices);
}

int vida_sampler_indices_window(const vida_sampler *s, const vida_video *v, uint64_t seed,
                                double t_begin, double t_end, int64_t *indices, size_t n_indices)
{
    clip_plan cp;
    int64_t nv, k;
    int crops, i, rc;
    if (!s || !v || !indices)
        return vidai_error(VIDA_EINVAL, "vida_sampler_indices: %s is NULL",
                           !s   ? "sampler"
                           : !v ? "video"
                                : "indices");
    rc = plan_clips(s, v, t_begin, t_end, &cp);
    if (rc != VIDA_OK)
        return vidai_error_prefix(rc, "vida_sampler_indices: ");
    nv = cp.n_clips * n_crops(s);
    if ((uint64_t)nv * (uint64_t)s->p.frames > n_indices)
        return vidai_error(VIDA_EINVAL,
                           "vida_sampler_indices: n_indices is %zu, the %lld views of %d frames "
                           "need %lld",
                           n_indices, (long long)nv, s->p.frames, (long long)nv * s->p.frames);
    crops = n_crops(s);
    for (k = 0; k < cp.n_clips; k++) {
        int64_t *row = indices + k * crops * s->p.frames;
        rc = clip_indices(s, v, &cp, seed, k, row);
        if (rc != VIDA_OK)
            return vidai_error_prefix(rc, "vida_sampler_indices: clip %lld: ", (long long)k);
        for (i = 1; i < crops; i++)
            memcpy(row + (size_t)i * s->p.frames, row, (size_t)s->p.frames * sizeof *row);
    }
    return VIDA_OK;
}

/* uint8 [L, H, W, 3] -> float32 [3, L, H, W], normalised through a per-channel table. */
static void to_f32(float *out, const uint8_t *in, size_t pixels, const float lut[3][256])
{
    size_t i;
    int c;
    for (c = 0; c < 3; c++) {
        float *o = out + (size_t)c * pixels;
        const float *t = lut[c];
        for (i = 0; i < pixels; i++)
            o[i] = t[in[i * 3 + (size_t)c]];
    }
}

typedef struct clip_order {
    int64_t first, k;
} clip_order;

static int cmp_order(const void *a, const void *b)
{
    const clip_order *x = a, *y = b;
    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    return x->k < y->k ? -1 : x->k > y->k;
}

/*
 * Cuts view g (crop_width x crop_height at crop_x/crop_y, -1 = centred, then
 * mirrored if g->flip) out of frames whole [L, fh, fw, 3] into dst [L, h, w, 3].
 */
static void cut(uint8_t *dst, const uint8_t *whole, int frames, int fw, int fh,
                const vida_frame_geometry *g, int w, int h)
{
    int x0 = g->crop_x >= 0 ? g->crop_x : (fw - w) / 2;
    int y0 = g->crop_y >= 0 ? g->crop_y : (fh - h) / 2;
    for (int t = 0; t < frames; t++) {
        const uint8_t *f = whole + (size_t)t * fw * fh * 3;
        for (int y = 0; y < h; y++) {
            const uint8_t *src = f + ((size_t)(y0 + y) * fw + x0) * 3;
            uint8_t *row = dst + (((size_t)t * h + y) * w) * 3;
            if (!g->flip) {
                memcpy(row, src, (size_t)w * 3);
            } else {
                for (int x = 0; x < w; x++)
                    memcpy(row + (size_t)(w - 1 - x) * 3, src + (size_t)x * 3, 3);
            }
        }
    }
}

int vida_sampler_sample(const vida_sampler *s, vida_video *v, uint64_t seed, void *out,
                        size_t out_bytes, int64_t *indices, size_t n_indices)
{
    return vida_sampler_sample_window(s, v, seed, 0, -1, out, out_bytes, indices, n_indices);
}

int vida_sampler_sample_window(const vida_sampler *s, vida_video *v, uint64_t seed,
                               double t_begin, double t_end, void *out, size_t out_bytes,
                               int64_t *indices, size_t n_indices)
{
    const vida_sampler_params *p;
    clip_plan cp;
    vida_frame_geometry g[3];
    int64_t nv, k, *idx = NULL;
    size_t pixels, view_elems, view_bytes, need;
    float lut[3][256];
    uint8_t *tmp = NULL, *whole = NULL;
    size_t whole_size = 0;
    clip_order *order = NULL;
    int crops, w = 0, h = 0, i, rc;
    if (!s || !v || !out)
        return vidai_error(VIDA_EINVAL, "vida_sampler_sample: %s is NULL",
                           !s   ? "sampler"
                           : !v ? "video"
                                : "out");
    p = &s->p;
    rc = plan_clips(s, v, t_begin, t_end, &cp);
    rc = rc ? rc : view_size(s, v, &w, &h);
    if (rc != VIDA_OK)
        return vidai_error_prefix(rc, "vida_sampler_sample: ");
    nv = cp.n_clips * n_crops(s);
    crops = n_crops(s);
    /* pixels per view; each view is pixels*3 bytes (U8) or pixels*3 floats (F32) */
    if (vidai_mul_size(&pixels, (size_t)p->frames * (size_t)w, (size_t)h) ||
        vidai_mul_size(&view_elems, pixels, 3) ||
        vidai_mul_size(&view_bytes, view_elems, p->output == VIDA_SAMPLE_F32 ? 4 : 1) ||
        vidai_mul_size(&need, view_bytes, (size_t)nv))
        return vidai_error(VIDA_EINVAL, "vida_sampler_sample: output size overflows");
    if (out_bytes < need)
        return vidai_error(VIDA_EINVAL,
                           "vida_sampler_sample: out_bytes is %zu, %lld views of [%d, %d, %d, 3] "
                           "%s need %zu",
                           out_bytes, (long long)nv, p->frames, h, w,
                           p->output == VIDA_SAMPLE_F32 ? "float32" : "uint8", need);
    if (indices && (uint64_t)nv * (uint64_t)p->frames > n_indices)
        return vidai_error(VIDA_EINVAL,
                           "vida_sampler_sample: n_indices is %zu, the %lld views of %d frames "
                           "need %lld",
                           n_indices, (long long)nv, p->frames, (long long)nv * p->frames);
    /* every clip's frames, once; clips are read in the order of their first frame */
    idx = vidai_malloc((size_t)cp.n_clips * p->frames * sizeof *idx);
    order = vidai_malloc((size_t)cp.n_clips * sizeof *order);
    if (!idx || !order) {
        rc = VIDA_ENOMEM;
        goto out;
    }
    if (p->output == VIDA_SAMPLE_F32) {
        int c, b;
        tmp = vidai_malloc(view_elems);
        if (!tmp) {
            rc = VIDA_ENOMEM;
            goto out;
        }
        for (c = 0; c < 3; c++)
            for (b = 0; b < 256; b++)
                lut[c][b] = ((float)b / 255.0f - p->mean[c]) / p->std[c];
    }
    for (k = 0; k < cp.n_clips && rc == VIDA_OK; k++) {
        rc = clip_indices(s, v, &cp, seed, k, idx + k * p->frames);
        order[k].k = k;
        order[k].first = idx[k * p->frames];
    }
    if (rc != VIDA_OK)
        goto out;
    qsort(order, (size_t)cp.n_clips, sizeof *order, cmp_order);
    for (int64_t o = 0; o < cp.n_clips && rc == VIDA_OK; o++) {
        k = order[o].k;
        const int64_t *ci = idx + k * p->frames;
        rc = clip_geometry(s, v, seed, k, g);
        if (rc == VIDA_OK && crops == 3) {
            /* one read of the whole scaled clip; the three views are cut from it */
            vida_frame_geometry full = g[0];
            int fw = 0, fh = 0;
            full.crop_width = full.crop_height = 0;
            full.crop_x = full.crop_y = -1;
            full.flip = 0;
            rc = vida_video_output_size(v, &full, &fw, &fh);
            size_t fb = (size_t)fw * fh * 3 * (size_t)p->frames;
            if (rc == VIDA_OK && fb > whole_size) {
                vidai_free(whole);
                whole = vidai_malloc(fb);
                whole_size = whole ? fb : 0;
                if (!whole)
                    rc = VIDA_ENOMEM;
            }
            rc = rc ? rc : vida_video_read(v, ci, p->frames, &full, whole, whole_size);
            for (i = 0; i < crops && rc == VIDA_OK; i++) {
                size_t view = (size_t)k * crops + i;
                uint8_t *dst = p->output == VIDA_SAMPLE_U8 ? (uint8_t *)out + view * view_bytes : tmp;
                cut(dst, whole, p->frames, fw, fh, &g[i], w, h);
                if (p->output == VIDA_SAMPLE_F32)
                    to_f32((float *)out + view * view_elems, tmp, pixels, (const float(*)[256])lut);
            }
        } else if (rc == VIDA_OK) {
            /* one view: read straight into the output (F32: through tmp) */
            if (p->output == VIDA_SAMPLE_U8) {
                rc = vida_video_read(v, ci, p->frames, &g[0], (uint8_t *)out + k * view_bytes,
                                     view_bytes);
            } else {
                rc = vida_video_read(v, ci, p->frames, &g[0], tmp, view_elems);
                if (rc == VIDA_OK)
                    to_f32((float *)out + k * view_elems, tmp, pixels, (const float(*)[256])lut);
            }
        }
        for (i = 0; i < crops && rc == VIDA_OK && indices; i++)
            memcpy(indices + ((size_t)k * crops + i) * p->frames, ci,
                   (size_t)p->frames * sizeof *ci);
        if (rc != VIDA_OK)
            rc = vidai_error_prefix(rc, "vida_sampler_sample: clip %lld: ", (long long)k);
    }
out:
    vidai_free(order);
    vidai_free(whole);
    vidai_free(tmp);
    vidai_free(idx);
    return rc;
}
