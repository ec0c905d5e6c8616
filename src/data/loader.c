/*
 * vida_loader: worker threads fill batch slots; the caller takes them in order.
 *
 * Batches are numbered by a sequence seq = epoch * nb + number (nb batches
 * per epoch for this rank). A slot holds one batch: when a slot is free and
 * the caller is less than `slots` batches behind, a worker gives it the next
 * seq; workers then take the slot's samples one at a time (lowest seq first),
 * decode each straight into its place in the slot, and mark it done or failed.
 * vida_loader_next waits until the slot of the next seq is complete, moves
 * the good samples together (failed ones are left out, in order), and hands
 * it out; the slot is freed on the following call. Nothing a worker does
 * depends on which worker it is or when it runs, so batches are the same for
 * any thread count.
 *
 * Sample j of batch (epoch, number): draw d = rank + world * (number * B + j)
 * of the dataset's epoch; its clip comes from vida_sampler_sample_window with
 * seed rng(hash(seed), epoch, d) inside the window of the draw's slot.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "data/data.h"
#include "vidaction/loader.h"

typedef struct slot {
    int64_t seq;  /* batch sequence number held, -1 = free */
    int64_t epoch, number, n;
    int64_t next; /* next sample to hand to a worker */
    int64_t done; /* samples finished (ok or failed) */
    uint8_t *clips;
    float *targets;
    int32_t *labels;
    int64_t *videos, *draws;
    uint8_t *failed; /* per sample: 1 when it failed */
    char **why;      /* per sample: the failure (malloc'd; NULL if out of memory) */
} slot;

typedef struct failure {
    int64_t video;
    char *message;
} failure;

struct vida_loader {
    vida_loader_params p;
    vida_context *ctx;
    vida_dataset *ds;
    vida_sampler *s;
    vida_sampler_params sp;
    int64_t views, n_classes;
    size_t sample_bytes, batch_bytes;
    int64_t per_rank, nb, end_seq;

    pthread_mutex_t mu;
    pthread_cond_t work, done;
    pthread_t *threads;
    int n_threads;
    int stop, pause, busy;

    slot *slots;
    int n_slots;
    int64_t head;  /* seq of the next batch for the caller */
    int64_t fill;  /* next seq to give a slot */
    slot *held;    /* the slot last handed out */

    char **bad;    /* per video: the reason it failed, NULL if not known bad */
    failure *failures;
    int64_t n_failures, cap_failures;
    uint8_t *listed; /* per video: in failures */

    int64_t samples, failed, batches;
    int64_t epoch_ok, ok_epoch; /* successful samples in epoch ok_epoch so far */
    int sticky;                 /* an error vida_loader_next keeps returning */
    char sticky_msg[1024];
    double decode_seconds, wait_seconds;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void vida_loader_params_init(vida_loader_params *p)
{
    if (!p)
        return;
    memset(p, 0, sizeof *p);
    p->size = sizeof *p;
    p->batch = 8;
    p->threads = 1;
    p->world = 1;
    p->prefetch = 4;
    p->max_bytes = (size_t)1 << 30;
    p->max_failures = 0.05;
    p->failure_grace = 64;
}

static int check_params(const vida_loader_params *p)
{
    if (p->size != sizeof *p)
        return vidai_error(VIDA_EINVAL, "params.size is %zu, expected %zu (call _params_init)",
                           p->size, sizeof *p);
    if (p->batch < 1 || p->batch > 65536)
        return vidai_error(VIDA_EINVAL, "batch %d is outside [1, 65536]", p->batch);
    if (p->threads < 1 || p->threads > 256)
        return vidai_error(VIDA_EINVAL, "threads %d is outside [1, 256]", p->threads);
    if (p->world < 1 || p->rank < 0 || p->rank >= p->world)
        return vidai_error(VIDA_EINVAL, "rank %d of world %d: need 0 <= rank < world", p->rank,
                           p->world);
    if (p->epochs < 0)
        return vidai_error(VIDA_EINVAL, "epochs %lld is negative", (long long)p->epochs);
    if (p->prefetch < 1 || p->prefetch > 1024)
        return vidai_error(VIDA_EINVAL, "prefetch %d is outside [1, 1024]", p->prefetch);
    if (!(p->max_failures >= 0 && p->max_failures <= 1))
        return vidai_error(VIDA_EINVAL, "max_failures %g is outside [0, 1]", p->max_failures);
    if (p->failure_grace < 0 || p->max_pixels < 0 || !(p->deadline >= 0))
        return vidai_error(VIDA_EINVAL, "failure_grace, max_pixels and deadline must be >= 0");
    return VIDA_OK;
}

/* ---- workers -------------------------------------------------------------- */

/* Gives slot sl the batch seq (under the lock). */
static void assign(vida_loader *l, slot *sl, int64_t seq)
{
    int64_t left;
    sl->seq = seq;
    sl->epoch = seq / l->nb;
    sl->number = seq % l->nb;
    left = l->per_rank - sl->number * l->p.batch;
    sl->n = left < l->p.batch ? left : l->p.batch;
    sl->next = sl->done = 0;
    for (int64_t j = 0; j < l->p.batch; j++) {
        free(sl->why[j]);
        sl->why[j] = NULL;
        sl->failed[j] = 0;
    }
}

/* Finds a sample to decode (under the lock): its slot and index, or NULL. */
static slot *find_work(vida_loader *l, int64_t *j)
{
    slot *best = NULL;
    for (int i = 0; i < l->n_slots; i++) {
        slot *sl = &l->slots[i];
        if (sl->seq >= 0 && sl->next < sl->n && (!best || sl->seq < best->seq))
            best = sl;
    }
    if (!best && l->fill < l->end_seq && l->fill < l->head + l->n_slots) {
        for (int i = 0; i < l->n_slots; i++)
            if (l->slots[i].seq < 0 && &l->slots[i] != l->held) {
                best = &l->slots[i];
                assign(l, best, l->fill++);
                break;
            }
    }
    if (best)
        *j = best->next++;
    return best;
}

static char *dup_msg(const char *path, const char *msg)
{
    size_t n = strlen(path) + strlen(msg) + 3;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s: %s", path, msg);
    return s;
}

/*
 * Decodes sample j of sl into its place (without the lock). Returns VIDA_OK
 * or the error, with *msg the failure ("PATH: why", malloc'd) and
 * *whole_video 1 when the file itself did not open.
 */
static int decode_sample(vida_loader *l, const slot *sl, int64_t j, int64_t draw,
                         const vida_dataset_sample *ds_s, char **msg, int *whole_video)
{
    vida_dataset_video dv;
    vida_video *v = NULL;
    vida_video_params vp;
    vida_video_info info;
    double tb = 0, te = -1;
    uint64_t seed;
    int rc;
    dv.size = sizeof dv;
    rc = vida_dataset_get_video(l->ds, ds_s->video, &dv);
    if (rc != VIDA_OK) {
        *msg = dup_msg("video", vida_last_error());
        return rc;
    }
    vida_video_params_init(&vp);
    if (l->p.max_pixels > 0)
        vp.max_pixels = l->p.max_pixels;
    if (l->p.deadline > 0)
        vp.deadline = l->p.deadline;
    rc = vida_video_open(&v, l->ctx, dv.path, &vp);
    if (rc == VIDA_OK) {
        info.size = sizeof info;
        rc = vida_video_get_info(v, &info);
    }
    /* a file that does not open fails every sample of it; later ones are not tried */
    *whole_video = rc != VIDA_OK;
    if (rc == VIDA_OK)
        rc = vidai_dataset_window(l->ds, ds_s->video, ds_s->slot, info.duration, &tb, &te);
    if (rc == VIDA_OK) {
        seed = vidai_rng_u64(vidai_hash64(l->p.seed ^ 0x636c6970ull) ^ vidai_hash64((uint64_t)sl->epoch),
                             (uint64_t)draw);
        rc = vida_sampler_sample_window(l->s, v, seed, tb, te, sl->clips + (size_t)j * l->sample_bytes,
                                        l->sample_bytes, NULL, 0);
    }
    if (rc != VIDA_OK)
        *msg = dup_msg(dv.path, vida_last_error());
    vida_video_free(v);
    return rc;
}

static void *worker(void *arg)
{
    vida_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        slot *sl;
        int64_t j, draw;
        vida_dataset_sample ds_s;
        char *why = NULL;
        int rc, bad, whole_video = 0;
        long mem0 = vidai_alloc_failures();
        if (l->stop)
            break;
        if (l->pause || !(sl = find_work(l, &j))) {
            pthread_cond_wait(&l->work, &l->mu);
            continue;
        }
        l->busy++;
        draw = l->p.rank + (int64_t)l->p.world * (sl->number * l->p.batch + j);
        ds_s.size = sizeof ds_s;
        ds_s.video = -1;
        ds_s.label = -1;
        ds_s.slot = 0;
        rc = vida_dataset_draw(l->ds, l->p.seed, sl->epoch, draw, &ds_s);
        if (rc != VIDA_OK) {
            why = dup_msg("draw", vida_last_error());
        } else if (l->bad[ds_s.video]) {
            /* failed before: not tried again */
            why = strdup(l->bad[ds_s.video]);
            rc = VIDA_EDECODE;
        } else {
            double t0 = now();
            pthread_mutex_unlock(&l->mu);
            rc = decode_sample(l, sl, j, draw, &ds_s, &why, &whole_video);
            if (rc == VIDA_OK) {
                float *row = sl->targets + (size_t)j * l->n_classes;
                rc = vida_dataset_target(l->ds, &ds_s, row, (size_t)l->n_classes);
                if (rc != VIDA_OK)
                    why = dup_msg("target", vida_last_error());
            }
            pthread_mutex_lock(&l->mu);
            l->decode_seconds += now() - t0;
            /* (a video is not marked bad when memory ran out: below) */
            if (rc != VIDA_OK && whole_video && !l->bad[ds_s.video] &&
                vidai_alloc_failures() == mem0)
                l->bad[ds_s.video] = why ? strdup(why) : strdup("failed (out of memory)");
        }
        if (rc != VIDA_OK && vidai_alloc_failures() != mem0 && !l->sticky) {
            /* memory ran out: not the video's fault, nor a sample to leave out quietly -- the
               loader stops with VIDA_ENOMEM (its state still points at the batch not handed out) */
            l->sticky = VIDA_ENOMEM;
            snprintf(l->sticky_msg, sizeof l->sticky_msg,
                     "vida_loader_next: out of memory loading a sample: %s", why ? why : "?");
        }
        bad = rc != VIDA_OK;
        sl->labels[j] = ds_s.label;
        sl->videos[j] = ds_s.video;
        sl->draws[j] = draw;
        sl->failed[j] = (uint8_t)bad;
        sl->why[j] = why;
        sl->done++;
        l->busy--;
        if (sl->done == sl->n || l->busy == 0)
            pthread_cond_broadcast(&l->done);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* ---- create / free ------------------------------------------------------ */

static void stop_threads(vida_loader *l)
{
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->work);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->n_threads; i++)
        pthread_join(l->threads[i], NULL);
    l->n_threads = 0;
}

void vida_loader_free(vida_loader *l)
{
    int64_t i, n_videos;
    if (!l)
        return;
    stop_threads(l);
    for (int k = 0; l->slots && k < l->n_slots; k++) {
        slot *sl = &l->slots[k];
        for (i = 0; sl->why && i < l->p.batch; i++)
            free(sl->why[i]);
        vidai_free(sl->why);
        vidai_free(sl->failed);
        vidai_free(sl->clips);
        vidai_free(sl->targets);
        vidai_free(sl->labels);
        vidai_free(sl->videos);
        vidai_free(sl->draws);
    }
    vidai_free(l->slots);
    n_videos = l->ds ? vida_dataset_size(l->ds) : 0;
    for (i = 0; l->bad && i < n_videos; i++)
        free(l->bad[i]);
    vidai_free(l->bad);
    vidai_free(l->listed);
    for (i = 0; i < l->n_failures; i++)
        free(l->failures[i].message);
    vidai_free(l->failures);
    vidai_free(l->threads);
    pthread_cond_destroy(&l->work);
    pthread_cond_destroy(&l->done);
    pthread_mutex_destroy(&l->mu);
    vida_sampler_free(l->s);
    vida_dataset_free(l->ds);
    vida_context_free(l->ctx);
    vidai_free(l);
}

int vida_loader_create(vida_loader **out, vida_context *ctx, vida_dataset *ds, vida_sampler *s,
                       const vida_loader_params *p)
{
    vida_loader *l;
    size_t view_bytes, per_sample_meta;
    int64_t n_videos, slots;
    int rc, crops;
    if (out)
        *out = NULL;
    if (!out || !ds || !s || !p)
        return vidai_error(VIDA_EINVAL, "vida_loader_create: %s is NULL",
                           !out ? "out" : !ds ? "dataset" : !s ? "sampler" : "params");
    rc = check_params(p);
    if (rc != VIDA_OK)
        return vidai_error_prefix(rc, "vida_loader_create: ");
    l = vidai_calloc(1, sizeof *l);
    if (!l)
        return VIDA_ENOMEM;
    l->p = *p;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->work, NULL);
    pthread_cond_init(&l->done, NULL);
    l->ctx = ctx;
    if (ctx)
        vidai_context_ref(ctx);
    l->ds = ds;
    vidai_dataset_ref(ds);
    l->sp.size = sizeof l->sp;
    rc = vida_sampler_get_params(s, &l->sp);
    rc = rc ? rc : vida_sampler_create(&l->s, ctx, &l->sp);
    if (rc != VIDA_OK)
        goto fail;
    /* every sample has the same shape */
    if (l->sp.crop <= 0 || l->sp.crop_mode == VIDA_CROP_NONE) {
        rc = vidai_error(VIDA_EINVAL, "the sampler has no crop: batch samples need one size");
        goto fail;
    }
    if (l->sp.clip_mode == VIDA_CLIPS_DENSE || l->sp.max_minutes > 0) {
        rc = vidai_error(VIDA_EINVAL, "the sampler's clip count varies per video (%s): batch "
                         "samples need a fixed one", l->sp.max_minutes > 0 ? "max_minutes" : "DENSE");
        goto fail;
    }
    crops = l->sp.crop_mode == VIDA_CROP_THREE ? 3 : 1;
    l->views = (int64_t)(l->sp.clip_mode == VIDA_CLIPS_RANDOM || l->sp.clip_mode == VIDA_CLIPS_UNIFORM
                             ? l->sp.clips : 1) * crops;
    view_bytes = (size_t)l->sp.frames * (size_t)l->sp.crop * (size_t)l->sp.crop * 3 *
                 (l->sp.output == VIDA_SAMPLE_F32 ? 4 : 1);
    l->sample_bytes = view_bytes * (size_t)l->views;
    l->n_classes = vida_dataset_n_classes(ds);
    per_sample_meta = (size_t)l->n_classes * sizeof(float) + sizeof(int32_t) + 2 * sizeof(int64_t) +
                      sizeof(char *) + 1;
    if (vidai_mul_size(&l->batch_bytes, l->sample_bytes + per_sample_meta, (size_t)p->batch)) {
        rc = vidai_error(VIDA_ENOMEM, "a batch's size overflows");
        goto fail;
    }
    slots = (int64_t)(p->max_bytes / l->batch_bytes);
    if (slots < 1) {
        rc = vidai_error(VIDA_ENOMEM, "max_bytes %zu holds no batch (one takes %zu bytes: %d "
                         "samples of %lld views of [%d, %d, %d, 3])", p->max_bytes, l->batch_bytes,
                         p->batch, (long long)l->views, l->sp.frames, l->sp.crop, l->sp.crop);
        goto fail;
    }
    l->n_slots = (int)(slots < p->prefetch ? slots : p->prefetch);
    l->per_rank = vida_dataset_epoch_size(ds) / p->world;
    if (l->per_rank < 1) {
        rc = vidai_error(VIDA_EINVAL, "the epoch has %lld samples, fewer than the world's %d ranks",
                         (long long)vida_dataset_epoch_size(ds), p->world);
        goto fail;
    }
    l->nb = p->drop_last ? l->per_rank / p->batch : (l->per_rank + p->batch - 1) / p->batch;
    if (l->nb < 1) {
        rc = vidai_error(VIDA_EINVAL, "drop_last and the %lld samples of this rank's epoch are "
                         "fewer than a batch of %d", (long long)l->per_rank, p->batch);
        goto fail;
    }
    l->end_seq = p->epochs > 0 && p->epochs < INT64_MAX / l->nb ? p->epochs * l->nb : INT64_MAX;
    n_videos = vida_dataset_size(ds);
    l->bad = vidai_calloc((size_t)n_videos, sizeof *l->bad);
    l->listed = vidai_calloc((size_t)n_videos, 1);
    l->slots = vidai_calloc((size_t)l->n_slots, sizeof *l->slots);
    l->threads = vidai_calloc((size_t)p->threads, sizeof *l->threads);
    if (!l->bad || !l->listed || !l->slots || !l->threads) {
        rc = VIDA_ENOMEM;
        goto fail;
    }
    for (int k = 0; k < l->n_slots; k++) {
        slot *sl = &l->slots[k];
        sl->seq = -1;
        sl->clips = vidai_malloc(l->sample_bytes * (size_t)p->batch);
        sl->targets = vidai_malloc((size_t)l->n_classes * sizeof(float) * (size_t)p->batch);
        sl->labels = vidai_malloc((size_t)p->batch * sizeof *sl->labels);
        sl->videos = vidai_malloc((size_t)p->batch * sizeof *sl->videos);
        sl->draws = vidai_malloc((size_t)p->batch * sizeof *sl->draws);
        sl->failed = vidai_calloc((size_t)p->batch, 1);
        sl->why = vidai_calloc((size_t)p->batch, sizeof *sl->why);
        if (!sl->clips || !sl->targets || !sl->labels || !sl->videos || !sl->draws || !sl->failed ||
            !sl->why) {
            rc = VIDA_ENOMEM;
            goto fail;
        }
    }
    l->ok_epoch = 0;
    for (int i = 0; i < p->threads; i++) {
        if (pthread_create(&l->threads[i], NULL, worker, l) != 0) {
            rc = vidai_error(VIDA_ENOMEM, "cannot start loader thread %d", i);
            goto fail;
        }
        l->n_threads++;
    }
    *out = l;
    return VIDA_OK;
fail:
    vida_loader_free(l);
    return vidai_error_prefix(rc, "vida_loader_create: ");
}

/* ---- next --------------------------------------------------------------- */

static slot *slot_of(vida_loader *l, int64_t seq)
{
    for (int i = 0; i < l->n_slots; i++)
        if (l->slots[i].seq == seq)
            return &l->slots[i];
    return NULL;
}

/* Releases the slot last handed out (under the lock). */
static void release_held(vida_loader *l)
{
    if (l->held) {
        l->held->seq = -1;
        l->held = NULL;
        pthread_cond_broadcast(&l->work);
    }
}

static int grow_failures(vida_loader *l)
{
    if (l->n_failures == l->cap_failures) {
        int64_t nc = l->cap_failures ? l->cap_failures * 2 : 16;
        failure *f = vidai_malloc((size_t)nc * sizeof *f);
        if (!f)
            return VIDA_ENOMEM;
        if (l->n_failures)
            memcpy(f, l->failures, (size_t)l->n_failures * sizeof *f);
        vidai_free(l->failures);
        l->failures = f;
        l->cap_failures = nc;
    }
    return VIDA_OK;
}

/* Lists the videos of sl's failed samples (once each); returns how many failed. */
static int64_t list_failures(vida_loader *l, const slot *sl, const char **last_why)
{
    int64_t failed = 0;
    for (int64_t j = 0; j < sl->n; j++) {
        int64_t v = sl->videos[j];
        if (!sl->failed[j])
            continue;
        failed++;
        *last_why = sl->why[j] ? sl->why[j] : "out of memory";
        if (v >= 0 && !l->listed[v] && grow_failures(l) == VIDA_OK) {
            l->failures[l->n_failures].video = v;
            l->failures[l->n_failures].message = strdup(*last_why);
            if (l->failures[l->n_failures].message) {
                l->n_failures++;
                l->listed[v] = 1;
            }
        }
    }
    return failed;
}

/* Moves sl's good samples together; returns how many. */
static int64_t compact(vida_loader *l, slot *sl)
{
    int64_t m = 0;
    for (int64_t j = 0; j < sl->n; j++) {
        if (sl->failed[j])
            continue;
        if (m != j) {
            memmove(sl->clips + (size_t)m * l->sample_bytes, sl->clips + (size_t)j * l->sample_bytes,
                    l->sample_bytes);
            memmove(sl->targets + (size_t)m * l->n_classes, sl->targets + (size_t)j * l->n_classes,
                    (size_t)l->n_classes * sizeof(float));
            sl->labels[m] = sl->labels[j];
            sl->videos[m] = sl->videos[j];
            sl->draws[m] = sl->draws[j];
        }
        m++;
    }
    return m;
}

static void fill_batch(const vida_loader *l, const slot *sl, int64_t n, int64_t failed,
                       vida_batch *b)
{
    size_t sz = b->size;
    memset(b, 0, sizeof *b);
    b->size = sz;
    b->n = n;
    b->views = l->views;
    b->clips.data = sl->clips;
    b->clips.ndim = 5;
    b->clips.shape[0] = n * l->views;
    if (l->sp.output == VIDA_SAMPLE_U8) {
        b->clips.dtype = VIDA_DTYPE_U8;
        b->clips.layout = VIDA_LAYOUT_NTHWC;
        b->clips.shape[1] = l->sp.frames;
        b->clips.shape[2] = l->sp.crop;
        b->clips.shape[3] = l->sp.crop;
        b->clips.shape[4] = 3;
    } else {
        b->clips.dtype = VIDA_DTYPE_F32;
        b->clips.layout = VIDA_LAYOUT_NCTHW;
        b->clips.shape[1] = 3;
        b->clips.shape[2] = l->sp.frames;
        b->clips.shape[3] = l->sp.crop;
        b->clips.shape[4] = l->sp.crop;
    }
    b->targets.data = sl->targets;
    b->targets.dtype = VIDA_DTYPE_F32;
    b->targets.layout = VIDA_LAYOUT_ANY;
    b->targets.ndim = 2;
    b->targets.shape[0] = n;
    b->targets.shape[1] = l->n_classes;
    b->labels = sl->labels;
    b->videos = sl->videos;
    b->draws = sl->draws;
    b->epoch = sl->epoch;
    b->number = sl->number;
    b->failed = failed;
    b->last_in_epoch = sl->number == l->nb - 1;
}

int vida_loader_next(vida_loader *l, vida_batch *b)
{
    int rc = VIDA_OK;
    double t0;
    if (!l || !b)
        return vidai_error(VIDA_EINVAL, "vida_loader_next: %s is NULL", !l ? "loader" : "batch");
    if (b->size != sizeof *b)
        return vidai_error(VIDA_EINVAL, "vida_loader_next: batch.size is %zu, expected %zu",
                           b->size, sizeof *b);
    pthread_mutex_lock(&l->mu);
    release_held(l);
    if (l->sticky) {
        rc = vidai_error(l->sticky, "%s", l->sticky_msg);
        pthread_mutex_unlock(&l->mu);
        return rc;
    }
    t0 = now();
    for (;;) {
        slot *sl;
        const char *last_why = NULL;
        int64_t n, failed;
        if (l->head >= l->end_seq) {
            size_t sz = b->size;
            memset(b, 0, sizeof *b);
            b->size = sz;
            b->epoch = l->end_seq / l->nb;
            b->end = 1;
            break;
        }
        sl = slot_of(l, l->head);
        if (!sl || sl->done < sl->n) {
            pthread_cond_broadcast(&l->work);
            pthread_cond_wait(&l->done, &l->mu);
            continue;
        }
        if (l->sticky) { /* set by a worker: memory ran out */
            rc = vidai_error(l->sticky, "%s", l->sticky_msg);
            break;
        }
        failed = list_failures(l, sl, &last_why);
        if (failed && l->samples + sl->n >= l->p.failure_grace &&
            (double)(l->failed + failed) > l->p.max_failures * (double)(l->samples + sl->n)) {
            /* the batch stays where it is: get_state still points at it */
            l->sticky = VIDA_EDECODE;
            snprintf(l->sticky_msg, sizeof l->sticky_msg,
                     "vida_loader_next: %lld of %lld samples failed (%.1f%%, above max_failures "
                     "%.1f%%); the last: %s",
                     (long long)(l->failed + failed), (long long)(l->samples + sl->n),
                     100.0 * (double)(l->failed + failed) / (double)(l->samples + sl->n),
                     100.0 * l->p.max_failures, last_why ? last_why : "?");
            rc = vidai_error(l->sticky, "%s", l->sticky_msg);
            break;
        }
        if (sl->epoch != l->ok_epoch) {
            l->ok_epoch = sl->epoch;
            l->epoch_ok = 0;
        }
        if (sl->number == l->nb - 1 && l->epoch_ok + (sl->n - failed) == 0) {
            l->sticky = VIDA_EDECODE;
            snprintf(l->sticky_msg, sizeof l->sticky_msg,
                     "vida_loader_next: no sample of epoch %lld could be read; the last failure: %s",
                     (long long)sl->epoch, last_why ? last_why : "?");
            rc = vidai_error(l->sticky, "%s", l->sticky_msg);
            break;
        }
        n = compact(l, sl);
        l->samples += sl->n;
        l->failed += failed;
        l->batches++;
        l->epoch_ok += n;
        l->head++;
        l->held = sl;
        fill_batch(l, sl, n, failed, b);
        break;
    }
    l->wait_seconds += now() - t0;
    pthread_mutex_unlock(&l->mu);
    return rc;
}

/* ---- state ---------------------------------------------------------------- */

int vida_loader_get_state(const vida_loader *l, vida_loader_state *st)
{
    vida_loader *m = (vida_loader *)l;
    if (!l || !st)
        return vidai_error(VIDA_EINVAL, "vida_loader_get_state: %s is NULL", !l ? "loader" : "state");
    if (st->size != sizeof *st)
        return vidai_error(VIDA_EINVAL, "vida_loader_get_state: state.size is %zu, expected %zu",
                           st->size, sizeof *st);
    pthread_mutex_lock(&m->mu);
    st->seed = l->p.seed;
    st->epoch = l->head / l->nb;
    st->number = l->head % l->nb;
    st->samples = l->samples;
    st->failures = l->failed;
    st->batch = l->p.batch;
    st->rank = l->p.rank;
    st->world = l->p.world;
    st->dataset_id = vidai_dataset_id(l->ds);
    pthread_mutex_unlock(&m->mu);
    return VIDA_OK;
}

int vida_loader_set_state(vida_loader *l, const vida_loader_state *st)
{
    const char *what = NULL;
    if (!l || !st)
        return vidai_error(VIDA_EINVAL, "vida_loader_set_state: %s is NULL", !l ? "loader" : "state");
    if (st->size != sizeof *st)
        return vidai_error(VIDA_EINVAL, "vida_loader_set_state: state.size is %zu, expected %zu",
                           st->size, sizeof *st);
    if (st->seed != l->p.seed)
        what = "seed";
    else if (st->batch != l->p.batch)
        what = "batch size";
    else if (st->rank != l->p.rank || st->world != l->p.world)
        what = "rank or world size";
    else if (st->dataset_id != vidai_dataset_id(l->ds))
        what = "dataset (its videos, labels or epoch order)";
    if (what)
        return vidai_error(VIDA_EMISMATCH, "vida_loader_set_state: the state's %s differs from "
                           "this loader's", what);
    if (st->epoch < 0 || st->number < 0 || st->number >= l->nb || st->samples < 0 ||
        st->failures < 0 || st->failures > st->samples)
        return vidai_error(VIDA_EINVAL, "vida_loader_set_state: epoch %lld, batch %lld, %lld of "
                           "%lld samples failed: out of range (%lld batches per epoch)",
                           (long long)st->epoch, (long long)st->number, (long long)st->failures,
                           (long long)st->samples, (long long)l->nb);
    if (st->epoch > (INT64_MAX - st->number) / l->nb)
        return vidai_error(VIDA_EINVAL, "vida_loader_set_state: epoch %lld is too large",
                           (long long)st->epoch);
    pthread_mutex_lock(&l->mu);
    l->pause = 1;
    while (l->busy > 0) {
        pthread_cond_broadcast(&l->work);
        pthread_cond_wait(&l->done, &l->mu);
    }
    l->held = NULL;
    for (int i = 0; i < l->n_slots; i++)
        l->slots[i].seq = -1;
    l->head = l->fill = st->epoch * l->nb + st->number;
    l->samples = st->samples;
    l->failed = st->failures;
    l->ok_epoch = st->epoch;
    l->epoch_ok = st->number > 0 ? 1 : 0; /* not known; an epoch under way is not all failures */
    l->sticky = 0;
    l->pause = 0;
    pthread_cond_broadcast(&l->work);
    pthread_mutex_unlock(&l->mu);
    return VIDA_OK;
}

int vida_loader_get_stats(const vida_loader *l, vida_loader_stats *st)
{
    vida_loader *m = (vida_loader *)l;
    int64_t ready = 0;
    if (!l || !st)
        return vidai_error(VIDA_EINVAL, "vida_loader_get_stats: %s is NULL", !l ? "loader" : "stats");
    if (st->size != sizeof *st)
        return vidai_error(VIDA_EINVAL, "vida_loader_get_stats: stats.size is %zu, expected %zu",
                           st->size, sizeof *st);
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < l->n_slots; i++)
        if (l->slots[i].seq >= 0 && &l->slots[i] != l->held && l->slots[i].done == l->slots[i].n)
            ready++;
    st->samples = l->samples;
    st->failures = l->failed;
    st->failed_videos = l->n_failures;
    st->batches = l->batches;
    st->ready = ready;
    st->slots = l->n_slots;
    st->batch_bytes = l->batch_bytes;
    st->bytes = l->batch_bytes * (size_t)l->n_slots;
    st->decode_seconds = l->decode_seconds;
    st->wait_seconds = l->wait_seconds;
    pthread_mutex_unlock(&m->mu);
    return VIDA_OK;
}

int vida_loader_failure(const vida_loader *l, int64_t i, int64_t *video, const char **message)
{
    vida_loader *m = (vida_loader *)l;
    int64_t n;
    if (!l)
        return vidai_error(VIDA_EINVAL, "vida_loader_failure: loader is NULL");
    pthread_mutex_lock(&m->mu);
    n = l->n_failures;
    if (i >= 0 && i < n) {
        if (video)
            *video = l->failures[i].video;
        if (message)
            *message = l->failures[i].message; /* the string lives until free */
    }
    pthread_mutex_unlock(&m->mu);
    if (i < 0 || i >= n)
        return vidai_error(VIDA_EINVAL, "vida_loader_failure: %lld is outside [0, %lld)",
                           (long long)i, (long long)n);
    return VIDA_OK;
}
