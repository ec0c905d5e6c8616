/*
 * vida_loader: batches are a function of (seed, epoch, batch, rank) only --
 * the same bytes with 1, 2 and 4 threads; ranks are disjoint and together
 * make the 1-rank epoch; a restored state gives the batches that would have
 * come next; failed videos are left out, listed, and stop the loader past a
 * fraction; the batch memory stays under max_bytes (measured).
 *
 * The videos are made here with the ffmpeg program from numbered frames
 * (framecode.h): video k shows frames 1000k, 1000k+1, ..., so every decoded
 * frame says which video and which frame it is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vidaction.h>

#include "framecode.h"
#include "test.h"

#define N_VIDEOS 6
#define SIDE 112
#define FRAMES 60 /* per video, 25 fps: 2.4 s */

/* Encodes frames first..first+n-1 (w x h, 25 fps) into path with the ffmpeg program. */
static int encode(const char *path, int w, int h, int n, int first, const char *args)
{
    char cmd[2048];
    uint8_t *rgb = malloc((size_t)w * h * 3);
    FILE *f;
    int ok = 1;
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -v error -y -f rawvideo -pix_fmt rgb24 -s %dx%d -r 25 -i - %s '%s'",
             w, h, args, path);
    f = popen(cmd, "w");
    if (!rgb || !f) {
        free(rgb);
        if (f)
            pclose(f);
        return -1;
    }
    for (int i = 0; i < n && ok; i++) {
        vt_frame_paint(rgb, w, h, first + i);
        ok = fwrite(rgb, (size_t)w * h * 3, 1, f) == 1;
    }
    free(rgb);
    return pclose(f) == 0 && ok ? 0 : -1;
}

/* The test videos (once per process): v0.mp4 .. v5.mp4 in the temporary folder. */
static const char *video_dir(void)
{
    static int made = 0;
    char path[512];
    if (made == 1)
        return vt_tmp_dir();
    if (made == -1)
        return NULL;
    made = -1;
    for (int k = 0; k < N_VIDEOS; k++) {
        snprintf(path, sizeof path, "%s/v%d.mp4", vt_tmp_dir(), k);
        if (encode(path, SIDE, SIDE, FRAMES, 1000 * k,
                   "-c:v libx264 -preset ultrafast -g 20 -bf 2 -pix_fmt yuv420p")) {
            fprintf(stderr, "  could not encode %s\n", path);
            return NULL;
        }
    }
    made = 1;
    return vt_tmp_dir();
}

/* Writes a manifest NAME in the video folder: v0..v5 with classes a/b, then extra lines. */
static const char *manifest(const char *name, const char *extra)
{
    static char path[512];
    char text[4096];
    size_t n = 0;
    if (!video_dir())
        return NULL;
    for (int k = 0; k < N_VIDEOS; k++)
        n += (size_t)snprintf(text + n, sizeof text - n, "v%d.mp4\t%s\n", k, k % 2 ? "b" : "a");
    if (extra)
        n += (size_t)snprintf(text + n, sizeof text - n, "%s", extra);
    snprintf(path, sizeof path, "%s/%s", vt_tmp_dir(), name);
    return vt_write_file(path, text, n) == 0 ? path : NULL;
}

static vida_dataset *open_dataset(const char *m, int clips_per_video)
{
    vida_dataset_params dp;
    vida_dataset *ds = NULL;
    vida_dataset_params_init(&dp);
    dp.clips_per_video = clips_per_video;
    if (vida_dataset_open(&ds, NULL, m, &dp) != VIDA_OK) {
        fprintf(stderr, "  vida_dataset_open: %s\n", vida_last_error());
        return NULL;
    }
    return ds;
}

static vida_sampler *make_sampler(int frames, int output, int crop_mode)
{
    vida_sampler_params sp;
    vida_sampler *s = NULL;
    vida_sampler_params_init(&sp);
    sp.frames = frames;
    sp.stride = 2;
    sp.short_side_min = sp.short_side_max = SIDE;
    sp.crop = SIDE;
    sp.crop_mode = crop_mode;
    sp.flip = 0;
    sp.output = output;
    if (vida_sampler_create(&s, NULL, &sp) != VIDA_OK) {
        fprintf(stderr, "  vida_sampler_create: %s\n", vida_last_error());
        return NULL;
    }
    return s;
}

/* Everything one run of a loader gave: batches concatenated. */
typedef struct run {
    uint8_t *clips;
    size_t clip_bytes;
    int64_t n, batches;
    int64_t draws[512], videos[512], epochs[512];
    int32_t labels[512];
    float targets[512 * 2];
} run;

static void run_free(run *r)
{
    free(r->clips);
    memset(r, 0, sizeof *r);
}

/* Takes up to max_batches batches (or until the end) from l into r. 0 on success. */
static int take(vida_loader *l, int64_t max_batches, run *r)
{
    for (int64_t k = 0; k < max_batches; k++) {
        vida_batch b;
        size_t bytes;
        b.size = sizeof b;
        if (vida_loader_next(l, &b) != VIDA_OK) {
            fprintf(stderr, "  vida_loader_next: %s\n", vida_last_error());
            return -1;
        }
        if (b.end)
            break;
        bytes = (size_t)vida_tensor_numel(&b.clips) * (b.clips.dtype == VIDA_DTYPE_F32 ? 4 : 1);
        r->clips = realloc(r->clips, r->clip_bytes + bytes);
        if (!r->clips || r->n + b.n > 512)
            return -1;
        memcpy(r->clips + r->clip_bytes, b.clips.data, bytes);
        r->clip_bytes += bytes;
        for (int64_t j = 0; j < b.n; j++) {
            r->draws[r->n + j] = b.draws[j];
            r->videos[r->n + j] = b.videos[j];
            r->labels[r->n + j] = b.labels[j];
            r->epochs[r->n + j] = b.epoch;
            memcpy(&r->targets[(r->n + j) * 2], (float *)b.targets.data + j * 2, 2 * sizeof(float));
        }
        r->n += b.n;
        r->batches++;
    }
    return 0;
}

static vida_loader *make_loader(vida_dataset *ds, vida_sampler *s, int threads, int batch,
                                int64_t epochs, int rank, int world, uint64_t seed)
{
    vida_loader_params lp;
    vida_loader *l = NULL;
    vida_loader_params_init(&lp);
    lp.threads = threads;
    lp.batch = batch;
    lp.epochs = epochs;
    lp.rank = rank;
    lp.world = world;
    lp.seed = seed;
    if (vida_loader_create(&l, NULL, ds, s, &lp) != VIDA_OK) {
        fprintf(stderr, "  vida_loader_create: %s\n", vida_last_error());
        return NULL;
    }
    return l;
}

/* The video k and frame f a decoded SIDE x SIDE frame shows, as 1000k + f; -1 unreadable. */
static int code_of(const uint8_t *frame)
{
    return vt_frame_read(frame, SIDE, SIDE);
}

TEST(loader, same_batches_any_thread_count)
{
    const char *m = manifest("m1.tsv", NULL);
    vida_dataset *ds;
    vida_sampler *s;
    run r[3];
    int threads[3] = {1, 2, 4};
    size_t frame_bytes = SIDE * SIDE * 3, sample_bytes = 8 * frame_bytes;
    CHECK(m);
    ds = open_dataset(m, 1);
    s = make_sampler(8, VIDA_SAMPLE_U8, VIDA_CROP_CENTER);
    CHECK(ds && s);
    memset(r, 0, sizeof r);
    for (int t = 0; t < 3; t++) {
        vida_loader *l = make_loader(ds, s, threads[t], 4, 2, 0, 1, 7);
        CHECK(l);
        CHECK(take(l, 100, &r[t]) == 0);
        vida_loader_free(l);
    }
    /* 2 epochs of 6 samples, batches of 4: 4 + 2 per epoch */
    CHECKF(r[0].n == 12 && r[0].batches == 4, "n %lld batches %lld", (long long)r[0].n,
           (long long)r[0].batches);
    for (int t = 1; t < 3; t++) {
        CHECK(r[t].n == r[0].n && r[t].clip_bytes == r[0].clip_bytes);
        CHECKF(memcmp(r[t].clips, r[0].clips, r[0].clip_bytes) == 0,
               "%d threads gave other pixels than 1", threads[t]);
        CHECK(memcmp(r[t].draws, r[0].draws, sizeof r[0].draws) == 0);
        CHECK(memcmp(r[t].videos, r[0].videos, sizeof r[0].videos) == 0);
    }
    /* each epoch visits every video once; each sample shows its own video, frames 2 apart */
    for (int e = 0; e < 2; e++) {
        int seen[N_VIDEOS] = {0};
        for (int j = 0; j < 6; j++)
            seen[r[0].videos[e * 6 + j]]++;
        for (int k = 0; k < N_VIDEOS; k++)
            CHECKF(seen[k] == 1, "epoch %d: video %d seen %d times", e, k, seen[k]);
    }
    for (int64_t j = 0; j < r[0].n; j++) {
        const uint8_t *clip = r[0].clips + (size_t)j * sample_bytes;
        int c0 = code_of(clip), c1 = code_of(clip + frame_bytes);
        CHECKF(c0 >= 0 && c0 / 1000 == r[0].videos[j], "sample %lld: code %d, video %lld",
               (long long)j, c0, (long long)r[0].videos[j]);
        CHECKF(c1 == c0 + 2, "sample %lld: frames %d then %d, stride 2", (long long)j, c0, c1);
        CHECK(r[0].labels[j] == (int32_t)(r[0].videos[j] % 2));
        CHECK(r[0].targets[j * 2 + r[0].labels[j]] == 1.0f &&
              r[0].targets[j * 2 + 1 - r[0].labels[j]] == 0.0f);
    }
    /* the two epochs are ordered differently */
    CHECK(memcmp(r[0].videos, r[0].videos + 6, 6 * sizeof(int64_t)) != 0);
    for (int t = 0; t < 3; t++)
        run_free(&r[t]);
    vida_sampler_free(s);
    vida_dataset_free(ds);
}

TEST(loader, ranks_disjoint_union_is_one_rank)
{
    const char *m = manifest("m2.tsv", NULL);
    vida_dataset *ds;
    vida_sampler *s;
    run one, rk[2];
    size_t sample_bytes = 4 * SIDE * SIDE * 3;
    CHECK(m);
    ds = open_dataset(m, 2); /* 12 samples per epoch */
    s = make_sampler(4, VIDA_SAMPLE_U8, VIDA_CROP_CENTER);
    CHECK(ds && s);
    memset(&one, 0, sizeof one);
    memset(rk, 0, sizeof rk);
    {
        vida_loader *l = make_loader(ds, s, 2, 3, 1, 0, 1, 11);
        CHECK(l);
        CHECK(take(l, 100, &one) == 0);
        vida_loader_free(l);
    }
    for (int r = 0; r < 2; r++) {
        vida_loader *l = make_loader(ds, s, 2, 3, 1, r, 2, 11);
        CHECK(l);
        CHECK(take(l, 100, &rk[r]) == 0);
        vida_loader_free(l);
    }
    CHECK(one.n == 12 && rk[0].n == 6 && rk[1].n == 6);
    for (int r = 0; r < 2; r++)
        for (int64_t j = 0; j < rk[r].n; j++) {
            int64_t d = rk[r].draws[j], k;
            CHECKF(d % 2 == r, "rank %d got draw %lld", r, (long long)d);
            for (int64_t q = 0; q < rk[1 - r].n; q++)
                CHECK(rk[1 - r].draws[q] != d);
            /* the 1-rank epoch has the same draw with the same video and pixels */
            for (k = 0; k < one.n && one.draws[k] != d; k++)
                ;
            CHECKF(k < one.n, "draw %lld is not in the 1-rank epoch", (long long)d);
            CHECK(one.videos[k] == rk[r].videos[j]);
            CHECK(memcmp(one.clips + (size_t)k * sample_bytes, rk[r].clips + (size_t)j * sample_bytes,
                         sample_bytes) == 0);
        }
    run_free(&one);
    run_free(&rk[0]);
    run_free(&rk[1]);
    vida_sampler_free(s);
    vida_dataset_free(ds);
}

TEST(loader, resume_gives_the_same_batches)
{
    const char *m = manifest("m3.tsv", NULL);
    vida_dataset *ds;
    vida_sampler *s;
    vida_loader *l;
    vida_loader_state st;
    run straight, first, resumed;
    CHECK(m);
    ds = open_dataset(m, 1);
    s = make_sampler(4, VIDA_SAMPLE_U8, VIDA_CROP_RANDOM);
    CHECK(ds && s);
    memset(&straight, 0, sizeof straight);
    memset(&first, 0, sizeof first);
    memset(&resumed, 0, sizeof resumed);
    /* straight: 7 batches of 4 over epochs of 6 (crossing epoch boundaries) */
    l = make_loader(ds, s, 2, 4, 0, 0, 1, 5);
    CHECK(l);
    CHECK(take(l, 7, &straight) == 0);
    vida_loader_free(l);
    /* 3 batches, save, free; a new loader restores and takes 4 */
    l = make_loader(ds, s, 1, 4, 0, 0, 1, 5);
    CHECK(l);
    CHECK(take(l, 3, &first) == 0);
    st.size = sizeof st;
    CHECK_OK(vida_loader_get_state(l, &st));
    vida_loader_free(l);
    CHECKF(st.epoch == 1 && st.number == 1, "state epoch %lld batch %lld", (long long)st.epoch,
           (long long)st.number);
    l = make_loader(ds, s, 4, 4, 0, 0, 1, 5);
    CHECK(l);
    CHECK_OK(vida_loader_set_state(l, &st));
    CHECK(take(l, 4, &resumed) == 0);
    CHECK(first.n + resumed.n == straight.n);
    CHECK(memcmp(straight.clips, first.clips, first.clip_bytes) == 0);
    CHECKF(memcmp(straight.clips + first.clip_bytes, resumed.clips, resumed.clip_bytes) == 0,
           "the resumed batches differ from the straight run's");
    CHECK(memcmp(straight.draws + first.n, resumed.draws, (size_t)resumed.n * sizeof(int64_t)) == 0);
    CHECK(memcmp(straight.epochs + first.n, resumed.epochs, (size_t)resumed.n * sizeof(int64_t)) == 0);
    /* rewinding a running loader works too */
    CHECK_OK(vida_loader_set_state(l, &st));
    run_free(&resumed);
    CHECK(take(l, 4, &resumed) == 0);
    CHECK(memcmp(straight.clips + first.clip_bytes, resumed.clips, resumed.clip_bytes) == 0);
    vida_loader_free(l);
    /* a state from another seed, batch size or world is refused */
    l = make_loader(ds, s, 1, 4, 0, 0, 1, 6);
    CHECK(l);
    CHECK(vida_loader_set_state(l, &st) == VIDA_EMISMATCH);
    CHECK(strstr(vida_last_error(), "seed"));
    vida_loader_free(l);
    l = make_loader(ds, s, 1, 3, 0, 0, 1, 5);
    CHECK(l);
    CHECK(vida_loader_set_state(l, &st) == VIDA_EMISMATCH);
    CHECK(strstr(vida_last_error(), "batch"));
    st.number = 99;
    vida_loader_free(l);
    l = make_loader(ds, s, 1, 4, 0, 0, 1, 5);
    CHECK(vida_loader_set_state(l, &st) == VIDA_EINVAL);
    vida_loader_free(l);
    run_free(&straight);
    run_free(&first);
    run_free(&resumed);
    vida_sampler_free(s);
    vida_dataset_free(ds);
}

TEST(loader, bad_videos_are_left_out_and_listed)
{
    char extra[1024], path[512], *data;
    size_t size;
    const char *m;
    vida_dataset *ds;
    vida_sampler *s;
    vida_loader_params lp;
    vida_loader *l = NULL;
    vida_loader_stats st;
    run r;
    int64_t n_bad = 0;
    CHECK(video_dir());
    /* garbage.mp4: not a video; cut.mp4: the first 3000 bytes of v0.mp4 */
    snprintf(path, sizeof path, "%s/garbage.mp4", vt_tmp_dir());
    CHECK(vt_write_file(path, "this is not a video at all, just text.........", 46) == 0);
    snprintf(path, sizeof path, "%s/v0.mp4", vt_tmp_dir());
    data = vt_read_file(path, &size);
    CHECK(data && size > 3000);
    snprintf(path, sizeof path, "%s/cut.mp4", vt_tmp_dir());
    CHECK(vt_write_file(path, data, 3000) == 0);
    free(data);
    snprintf(extra, sizeof extra, "garbage.mp4\ta\ncut.mp4\tb\n");
    m = manifest("m4.tsv", extra);
    CHECK(m);
    ds = open_dataset(m, 1);
    s = make_sampler(4, VIDA_SAMPLE_U8, VIDA_CROP_CENTER);
    CHECK(ds && s && vida_dataset_size(ds) == 8);
    vida_loader_params_init(&lp);
    lp.batch = 4;
    lp.threads = 2;
    lp.epochs = 3;
    lp.max_failures = 1.0;
    CHECK_OK(vida_loader_create(&l, NULL, ds, s, &lp));
    memset(&r, 0, sizeof r);
    /* every batch: samples + failed = planned; failed samples are not in it */
    for (;;) {
        vida_batch b;
        b.size = sizeof b;
        CHECK_OK(vida_loader_next(l, &b));
        if (b.end)
            break;
        CHECK(b.n + b.failed == 4);
        n_bad += b.failed;
        for (int64_t j = 0; j < b.n; j++)
            CHECK(b.videos[j] < 6);
    }
    st.size = sizeof st;
    CHECK_OK(vida_loader_get_stats(l, &st));
    CHECKF(n_bad == 6 && st.failures == 6 && st.samples == 24, "failed %lld of %lld",
           (long long)st.failures, (long long)st.samples); /* 2 bad videos x 3 epochs */
    CHECK(st.failed_videos == 2);
    for (int64_t i = 0; i < 2; i++) {
        int64_t v;
        const char *msg;
        CHECK_OK(vida_loader_failure(l, i, &v, &msg));
        CHECK(v == 6 || v == 7);
        CHECKF(strstr(msg, v == 6 ? "garbage.mp4" : "cut.mp4"), "message: %s", msg);
    }
    CHECK(vida_loader_failure(l, 2, NULL, NULL) == VIDA_EINVAL);
    vida_loader_free(l);
    /* above the fraction the loader stops with a message, and stays stopped */
    lp.max_failures = 0.1;
    lp.failure_grace = 0;
    lp.epochs = 0;
    CHECK_OK(vida_loader_create(&l, NULL, ds, s, &lp));
    {
        int rc = VIDA_OK, k;
        for (k = 0; k < 20 && rc == VIDA_OK; k++) {
            vida_batch b;
            b.size = sizeof b;
            rc = vida_loader_next(l, &b);
        }
        CHECKF(rc == VIDA_EDECODE, "rc %d after %d batches", rc, k);
        CHECKF(strstr(vida_last_error(), "samples failed") && strstr(vida_last_error(), ".mp4"),
               "message: %s", vida_last_error());
        {
            vida_batch b;
            b.size = sizeof b;
            CHECK(vida_loader_next(l, &b) == VIDA_EDECODE);
        }
    }
    vida_loader_free(l);
    vida_sampler_free(s);
    vida_dataset_free(ds);
}

TEST(loader, segments_and_clip_slots)
{
    /* v2 (frames 2000..2059) with segment [1.0, 2.0) s = frames 25..49, two slots */
    char text[256], path[512];
    vida_dataset *ds;
    vida_sampler *s;
    vida_loader *l;
    run r;
    size_t frame_bytes = SIDE * SIDE * 3;
    CHECK(video_dir());
    snprintf(text, sizeof text, "v2.mp4\ta\t\t1.0\t2.0\n");
    snprintf(path, sizeof path, "%s/m5.tsv", vt_tmp_dir());
    CHECK(vt_write_file(path, text, strlen(text)) == 0);
    ds = open_dataset(path, 2);
    s = make_sampler(3, VIDA_SAMPLE_U8, VIDA_CROP_CENTER); /* 3 frames, stride 2: spans 5 */
    CHECK(ds && s);
    for (uint64_t seed = 0; seed < 6; seed++) {
        vida_dataset_sample ds_s;
        memset(&r, 0, sizeof r);
        l = make_loader(ds, s, 1, 2, 1, 0, 1, seed);
        CHECK(l);
        CHECK(take(l, 1, &r) == 0);
        CHECK(r.n == 2);
        for (int j = 0; j < 2; j++) {
            int c = code_of(r.clips + (size_t)j * 3 * frame_bytes);
            int c2 = code_of(r.clips + ((size_t)j * 3 + 2) * frame_bytes);
            ds_s.size = sizeof ds_s;
            CHECK_OK(vida_dataset_draw(ds, seed, 0, r.draws[j], &ds_s));
            /* slot 0: frames 25..37 (window [1.0, 1.5) s), slot 1: 37..49 */
            CHECKF(c >= 2000 + 25 && c2 <= 2000 + 49, "seed %llu: frames %d..%d",
                   (unsigned long long)seed, c, c2);
            if (ds_s.slot == 0)
                CHECKF(c2 <= 2000 + 37, "slot 0 clip ends at %d", c2);
            else
                CHECKF(c >= 2000 + 37, "slot 1 clip starts at %d", c);
        }
        vida_loader_free(l);
        run_free(&r);
    }
    vida_sampler_free(s);
    vida_dataset_free(ds);
}

TEST(loader, float_output_and_three_crops)
{
    const char *m = manifest("m6.tsv", NULL);
    vida_dataset *ds;
    vida_sampler *s;
    vida_loader *l;
    vida_batch b;
    CHECK(m);
    ds = open_dataset(m, 1);
    s = make_sampler(2, VIDA_SAMPLE_F32, VIDA_CROP_THREE);
    CHECK(ds && s);
    l = make_loader(ds, s, 2, 2, 1, 0, 1, 1);
    CHECK(l);
    b.size = sizeof b;
    CHECK_OK(vida_loader_next(l, &b));
    CHECK(b.n == 2 && b.views == 3);
    CHECK(b.clips.dtype == VIDA_DTYPE_F32 && b.clips.layout == VIDA_LAYOUT_NCTHW);
    CHECK(b.clips.shape[0] == 6 && b.clips.shape[1] == 3 && b.clips.shape[2] == 2 &&
          b.clips.shape[3] == SIDE && b.clips.shape[4] == SIDE);
    CHECK(b.targets.shape[0] == 2 && b.targets.shape[1] == 2);
    CHECK(b.number == 0 && b.epoch == 0 && !b.last_in_epoch);
    vida_loader_free(l);
    vida_sampler_free(s);
    vida_dataset_free(ds);
}

TEST(loader, bad_arguments)
{
    const char *m = manifest("m7.tsv", NULL);
    vida_dataset *ds;
    vida_sampler *s, *nocrop;
    vida_sampler_params sp;
    vida_loader_params lp;
    vida_loader *l = NULL;
    vida_batch b;
    CHECK(m);
    ds = open_dataset(m, 1);
    s = make_sampler(4, VIDA_SAMPLE_U8, VIDA_CROP_CENTER);
    CHECK(ds && s);
    vida_loader_params_init(&lp);
    CHECK(vida_loader_create(NULL, NULL, ds, s, &lp) == VIDA_EINVAL);
    CHECK(vida_loader_create(&l, NULL, NULL, s, &lp) == VIDA_EINVAL && !l);
    CHECK(vida_loader_create(&l, NULL, ds, NULL, &lp) == VIDA_EINVAL);
    lp.size = 3;
    CHECK(vida_loader_create(&l, NULL, ds, s, &lp) == VIDA_EINVAL);
    vida_loader_params_init(&lp);
    lp.rank = 2;
    lp.world = 2;
    CHECK(vida_loader_create(&l, NULL, ds, s, &lp) == VIDA_EINVAL);
    lp.rank = 0;
    lp.world = 7; /* 6 samples per epoch */
    CHECK(vida_loader_create(&l, NULL, ds, s, &lp) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "fewer than"));
    vida_loader_params_init(&lp);
    lp.max_bytes = 1000;
    CHECK(vida_loader_create(&l, NULL, ds, s, &lp) == VIDA_ENOMEM);
    CHECK(strstr(vida_last_error(), "max_bytes"));
    vida_loader_params_init(&lp);
    lp.drop_last = 1;
    lp.batch = 7;
    CHECK(vida_loader_create(&l, NULL, ds, s, &lp) == VIDA_EINVAL);
    vida_sampler_params_init(&sp);
    sp.crop = 0;
    CHECK_OK(vida_sampler_create(&nocrop, NULL, &sp));
    vida_loader_params_init(&lp);
    CHECK(vida_loader_create(&l, NULL, ds, nocrop, &lp) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "crop"));
    vida_sampler_free(nocrop);
    CHECK(vida_loader_next(NULL, &b) == VIDA_EINVAL);
    vida_loader_free(NULL);
    /* the loader keeps the dataset alive after the caller's free */
    vida_loader_params_init(&lp);
    lp.batch = 6;
    lp.epochs = 1;
    CHECK_OK(vida_loader_create(&l, NULL, ds, s, &lp));
    vida_dataset_free(ds);
    vida_sampler_free(s);
    b.size = sizeof b;
    CHECK_OK(vida_loader_next(l, &b));
    CHECK(b.n == 6 && b.last_in_epoch);
    CHECK_OK(vida_loader_next(l, &b));
    CHECK(b.n == 0 && b.end);
    b.size = 1;
    CHECK(vida_loader_next(l, &b) == VIDA_EINVAL);
    vida_loader_free(l);
}

#if !defined(__SANITIZE_ADDRESS__)
/* Resident set now and its peak since the last reset, in bytes (Linux /proc). */
static long proc_status_kb(const char *field)
{
    char line[256];
    long v = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, strlen(field)))
            v = atol(line + strlen(field) + 1);
    fclose(f);
    return v;
}

static int reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return -1;
    fputs("5", f);
    return fclose(f);
}

/*
 * 1000 long videos (symbolic links to 2 generated 3-minute videos, 320x240):
 * the loader's memory stays under max_bytes plus a decoder's working set per
 * thread, however far ahead the threads could run.
 */
TEST(loader, memory_stays_bounded)
{
    char path[512], target[512], *text;
    size_t n = 0;
    vida_dataset *ds;
    vida_sampler *s;
    vida_loader_params lp;
    vida_loader *l = NULL;
    vida_loader_stats st;
    long base_kb, peak_kb;
    const long per_thread_kb = 16 * 1024;
    const size_t max_bytes = 12u << 20;
    text = malloc(1000 * 64);
    CHECK(text);
    for (int k = 0; k < 2; k++) {
        snprintf(target, sizeof target, "%s/long%d.mp4", vt_tmp_dir(), k);
        CHECKF(encode(target, 320, 240, 4500, 4000 + 100 * k,
                      "-c:v libx264 -preset ultrafast -g 60 -pix_fmt yuv420p") == 0,
               "could not encode %s", target);
    }
    snprintf(path, sizeof path, "%s/long", vt_tmp_dir());
    CHECK(mkdir(path, 0755) == 0);
    for (int i = 0; i < 1000; i++) {
        snprintf(target, sizeof target, "%s/long%d.mp4", vt_tmp_dir(), i % 2);
        snprintf(path, sizeof path, "%s/long/%04d.mp4", vt_tmp_dir(), i);
        CHECK(symlink(target, path) == 0);
        n += (size_t)snprintf(text + n, 64, "long/%04d.mp4\tc%d\n", i, i % 10);
    }
    snprintf(path, sizeof path, "%s/long.tsv", vt_tmp_dir());
    CHECK(vt_write_file(path, text, n) == 0);
    free(text);
    ds = open_dataset(path, 1);
    s = make_sampler(16, VIDA_SAMPLE_U8, VIDA_CROP_RANDOM);
    CHECK(ds && s && vida_dataset_size(ds) == 1000);
    vida_loader_params_init(&lp);
    lp.batch = 4;
    lp.threads = 2;
    lp.prefetch = 1000;     /* only max_bytes holds the threads back */
    lp.max_bytes = max_bytes; /* a batch is 4 x 16 x 112 x 112 x 3 = 2.4 MB: 4 fit */
    base_kb = proc_status_kb("VmRSS");
    CHECK(reset_peak() == 0);
    CHECK_OK(vida_loader_create(&l, NULL, ds, s, &lp));
    st.size = sizeof st;
    /* let the threads fill every slot, then take 30 batches (120 clips of 16 frames) */
    for (int w = 0; w < 600; w++) {
        CHECK_OK(vida_loader_get_stats(l, &st));
        if (st.ready == st.slots)
            break;
        usleep(10000);
    }
    CHECKF(st.ready == st.slots && st.slots == (int64_t)(max_bytes / st.batch_bytes) && st.bytes <= max_bytes,
           "ready %lld of %lld slots, %zu bytes", (long long)st.ready, (long long)st.slots, st.bytes);
    for (int k = 0; k < 30; k++) {
        vida_batch b;
        b.size = sizeof b;
        CHECK_OK(vida_loader_next(l, &b));
        CHECK(b.n == 4);
    }
    peak_kb = proc_status_kb("VmHWM");
    CHECK_OK(vida_loader_get_stats(l, &st));
    CHECK(st.failures == 0);
    vida_loader_free(l);
    vida_sampler_free(s);
    vida_dataset_free(ds);
    printf("  memory: base %ld kB, peak %ld kB: +%ld kB (bound %zu kB of batches + 2 x %ld kB)\n",
           base_kb, peak_kb, peak_kb - base_kb, max_bytes / 1024, per_thread_kb);
    /* 120 clips were decoded (72 MB of pixels); 16 MB of slack for the libraries' own */
    CHECKF(peak_kb - base_kb <= (long)(max_bytes / 1024) + 2 * per_thread_kb + 16 * 1024,
           "peak grew by %ld kB", peak_kb - base_kb);
}
#endif

/*
 * Failures that belong to one sample, not to its video (a clip that does not
 * fit its window under SHORT_ERROR), leave the video's other samples alone:
 * 7 clip windows of 2.4 s hold 8 or 9 frames, a clip is 9, so some samples of
 * every video fail and others do not -- identically for 1, 2 and 4 threads.
 */
TEST(loader, per_sample_failures_are_deterministic)
{
    const char *m = manifest("m8.tsv", NULL);
    vida_dataset *ds;
    vida_sampler *s = NULL;
    vida_sampler_params sp;
    int threads[3] = {1, 2, 4};
    int64_t seen_n[3][16], seen_failed[3][16], seen_draws[3][64], n_batches[3] = {0}, lasts = 0;
    CHECK(m);
    memset(seen_draws, 0, sizeof seen_draws);
    ds = open_dataset(m, 7); /* 42 samples */
    vida_sampler_params_init(&sp);
    sp.frames = 9;
    sp.stride = 1;
    sp.clip_mode = VIDA_CLIPS_CENTER;
    sp.short_side_min = sp.short_side_max = SIDE;
    sp.crop = SIDE;
    sp.short_video = VIDA_SHORT_ERROR;
    CHECK(ds && vida_sampler_create(&s, NULL, &sp) == VIDA_OK);
    for (int t = 0; t < 3; t++) {
        vida_loader_params lp;
        vida_loader *l = NULL;
        int64_t k = 0, d = 0;
        vida_loader_params_init(&lp);
        lp.batch = 5;
        lp.threads = threads[t];
        lp.epochs = 1;
        lp.max_failures = 1.0;
        CHECK_OK(vida_loader_create(&l, NULL, ds, s, &lp));
        for (;;) {
            vida_batch b;
            b.size = sizeof b;
            CHECK_OK(vida_loader_next(l, &b));
            if (b.end)
                break;
            CHECK(k < 16);
            seen_n[t][k] = b.n;
            seen_failed[t][k++] = b.failed;
            for (int64_t j = 0; j < b.n; j++)
                seen_draws[t][d++] = b.draws[j];
            if (t == 0)
                lasts += b.last_in_epoch;
        }
        n_batches[t] = k;
        vida_loader_free(l);
    }
    CHECK(n_batches[0] == 9 && lasts == 1);
    {
        int64_t failed = 0;
        for (int k = 0; k < 9; k++)
            failed += seen_failed[0][k];
        CHECKF(failed > 6 && failed < 36, "%lld of 42 failed", (long long)failed);
    }
    for (int t = 1; t < 3; t++) {
        CHECK(n_batches[t] == n_batches[0]);
        for (int k = 0; k < 9; k++)
            CHECKF(seen_n[t][k] == seen_n[0][k] && seen_failed[t][k] == seen_failed[0][k],
                   "%d threads, batch %d: %lld ok %lld failed; 1 thread: %lld, %lld", threads[t], k,
                   (long long)seen_n[t][k], (long long)seen_failed[t][k], (long long)seen_n[0][k],
                   (long long)seen_failed[0][k]);
        CHECK(memcmp(seen_draws[t], seen_draws[0], sizeof seen_draws[0]) == 0);
    }
    vida_sampler_free(s);
    vida_dataset_free(ds);
}

/*
 * A batch whose samples all failed is still handed out (n = 0, failed > 0),
 * so every epoch shows its last batch; when the failure fraction trips, the
 * failing batch is not consumed: the state still points at it.
 */
TEST(loader, empty_batches_and_the_failure_stop)
{
    char path[512], text[256];
    vida_dataset *ds;
    vida_sampler *s;
    vida_loader_params lp;
    vida_loader *l = NULL;
    vida_loader_state st, st2;
    int64_t batches = 0, lasts = 0, empty = 0, ok = 0;
    CHECK(video_dir());
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/junk%d.mp4", vt_tmp_dir(), k);
        CHECK(vt_write_file(path, "junk", 4) == 0);
    }
    snprintf(text, sizeof text, "v0.mp4\ta\njunk0.mp4\ta\njunk1.mp4\tb\njunk2.mp4\tb\n");
    snprintf(path, sizeof path, "%s/m9.tsv", vt_tmp_dir());
    CHECK(vt_write_file(path, text, strlen(text)) == 0);
    ds = open_dataset(path, 1);
    s = make_sampler(2, VIDA_SAMPLE_U8, VIDA_CROP_CENTER);
    CHECK(ds && s);
    vida_loader_params_init(&lp);
    lp.batch = 1;
    lp.epochs = 3;
    lp.max_failures = 1.0;
    CHECK_OK(vida_loader_create(&l, NULL, ds, s, &lp));
    for (;;) {
        vida_batch b;
        b.size = sizeof b;
        CHECK_OK(vida_loader_next(l, &b));
        if (b.end)
            break;
        batches++;
        lasts += b.last_in_epoch;
        if (b.n == 0) {
            CHECK(b.failed == 1);
            empty++;
        } else {
            CHECK(b.failed == 0 && b.videos[0] == 0);
            ok++;
        }
    }
    CHECK(batches == 12 && lasts == 3 && empty == 9 && ok == 3);
    vida_loader_free(l);
    /* stop at the first failure; the failing batch stays the next one */
    lp.max_failures = 0;
    lp.failure_grace = 0;
    lp.epochs = 0;
    CHECK_OK(vida_loader_create(&l, NULL, ds, s, &lp));
    {
        int rc = VIDA_OK;
        int64_t k = 0;
        while (rc == VIDA_OK && k < 10) {
            vida_batch b;
            b.size = sizeof b;
            rc = vida_loader_next(l, &b);
            k += rc == VIDA_OK;
        }
        CHECK(rc == VIDA_EDECODE);
        st.size = st2.size = sizeof st;
        CHECK_OK(vida_loader_get_state(l, &st));
        CHECKF(st.epoch * 4 + st.number == k && st.samples == k && st.failures == 0,
               "state %lld/%lld, %lld samples after %lld good batches", (long long)st.epoch,
               (long long)st.number, (long long)st.samples, (long long)k);
        /* restoring the state retries the same batch, which fails the same way */
        CHECK_OK(vida_loader_set_state(l, &st));
        {
            vida_batch b;
            b.size = sizeof b;
            CHECK(vida_loader_next(l, &b) == VIDA_EDECODE);
        }
        CHECK_OK(vida_loader_get_state(l, &st2));
        CHECK(st2.epoch == st.epoch && st2.number == st.number && st2.samples == st.samples);
    }
    vida_loader_free(l);
    vida_sampler_free(s);
    vida_dataset_free(ds);
}

/*
 * Allocation failure at every library allocation of a loader's life (create,
 * one batch, free) with one decoding thread (vidai_alloc_fail_at; the
 * countdown is process-wide, so the failing allocation may be in the loader
 * thread): each attempt either succeeds with the plain run's batch or
 * returns VIDA_ENOMEM saying "out of memory" -- from vida_loader_create, or
 * from vida_loader_next when a sample's allocation failed -- never another
 * error, a hang or (under LSan) a leak.
 */
#include "core/core.h"

TEST(loader, allocation_failure_at_every_allocation)
{
    const char *m = manifest("m7.tsv", NULL);
    vida_dataset *ds;
    vida_sampler *s;
    vida_batch b, ref;
    uint8_t *ref_clips = NULL;
    int32_t ref_labels[3];
    size_t bytes = 0;
    int failures = 0, rc = VIDA_OK, at_next = 0;
    long n;
    CHECK(m);
    ds = open_dataset(m, 1);
    s = make_sampler(4, VIDA_SAMPLE_U8, VIDA_CROP_CENTER);
    CHECK(ds && s);
    {
        vida_loader *l = make_loader(ds, s, 1, 3, 1, 0, 1, 11);
        CHECK(l);
        ref.size = sizeof ref;
        CHECK_OK(vida_loader_next(l, &ref));
        bytes = (size_t)(ref.clips.shape[0] * ref.clips.shape[1] * ref.clips.shape[2] *
                         ref.clips.shape[3] * ref.clips.shape[4]);
        ref_clips = malloc(bytes);
        CHECK(ref_clips);
        memcpy(ref_clips, ref.clips.data, bytes);
        memcpy(ref_labels, ref.labels, sizeof ref_labels);
        vida_loader_free(l);
    }
    for (n = 1; n < 100000; n++) {
        vida_loader *l = NULL;
        vida_loader_params lp;
        vida_loader_params_init(&lp);
        lp.threads = 1;
        lp.batch = 3;
        lp.epochs = 1;
        lp.seed = 11;
        vidai_alloc_fail_at(n);
        rc = vida_loader_create(&l, NULL, ds, s, &lp);
        if (rc == VIDA_OK) {
            b.size = sizeof b;
            rc = vida_loader_next(l, &b);
            at_next += rc != VIDA_OK;
            if (rc == VIDA_OK)
                CHECKF(b.n == 3 && memcmp(b.clips.data, ref_clips, bytes) == 0 &&
                           memcmp(b.labels, ref_labels, sizeof ref_labels) == 0,
                       "allocation %ld: a batch of %d, not the plain run's (a sample lost to the "
                       "failure?)", n, (int)b.n);
        }
        vidai_alloc_fail_at(0);
        vida_loader_free(l);
        if (rc == VIDA_OK)
            break;
        CHECKF(rc == VIDA_ENOMEM && strstr(vida_last_error(), "out of memory"),
               "allocation %ld: rc %d, %s", n, rc, vida_last_error());
        failures++;
    }
    printf("  loader create + one batch: allocations 1 to %d each failed cleanly (%d of them in "
           "vida_loader_next)\n", failures, at_next);
    CHECKF(failures >= 3 && rc == VIDA_OK, "%d failed attempts, last rc %d", failures, rc);
    free(ref_clips);
    vida_sampler_free(s);
    vida_dataset_free(ds);
}
