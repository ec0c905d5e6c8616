/*
 * Clip sampler tests. The videos are made here, at test time: numbered frames
 * (framecode.h) piped into the ffmpeg program, so every decoded frame says
 * which source frame it is. Clip starts are checked against hand-computed
 * numbers from the formulas in src/video/sampler.c, decoded frames against
 * the returned indices, crops against sub-rectangles of uncropped reads,
 * flips against mirrored reads, and F32 output against U8 output normalised
 * by hand.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vidaction.h>

#include "framecode.h"
#include "test.h"

#define X264 "-c:v libx264 -preset ultrafast -g 25 -pix_fmt yuv420p"

/* Encodes n numbered w x h frames at 25 fps with the ffmpeg program (args: filters, codec). */
static const char *fixture(const char *name, int w, int h, int n, const char *args)
{
    static char paths[8][512];
    static int n_paths;
    char path[512], cmd[2048];
    uint8_t *rgb;
    FILE *f;
    int i, ok = 1;
    snprintf(path, sizeof path, "%s/%s", vt_tmp_dir(), name);
    for (i = 0; i < n_paths; i++)
        if (strcmp(paths[i], path) == 0)
            return paths[i];
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -v error -y -f rawvideo -pix_fmt rgb24 -s %dx%d -r 25 -i - %s '%s'",
             w, h, args, path);
    rgb = malloc((size_t)w * h * 3);
    f = popen(cmd, "w");
    if (!rgb || !f) {
        free(rgb);
        if (f)
            pclose(f);
        return NULL;
    }
    for (i = 0; i < n && ok; i++) {
        vt_frame_paint(rgb, w, h, i);
        ok = fwrite(rgb, (size_t)w * h * 3, 1, f) == 1;
    }
    free(rgb);
    if (pclose(f) != 0 || !ok || n_paths == 8) {
        fprintf(stderr, "  could not make %s with: %s\n", path, cmd);
        return NULL;
    }
    strcpy(paths[n_paths], path);
    return paths[n_paths++];
}

/* 320x240, 300 frames at 25 fps (12 s). */
static const char *video300(void)
{
    return fixture("v300.mp4", 320, 240, 300, X264);
}

/* 320x240, 10 frames. */
static const char *video10(void)
{
    return fixture("v10.mp4", 320, 240, 10, X264);
}

/*
 * Variable frame rate: frames 0..49 every 0.02 s, then 50..99 every 0.1 s from
 * 1.0 s (timestamps in milliseconds, set exactly; the encoder keeps them).
 */
static const char *video_vfr(void)
{
    return fixture("vfr.mkv", 320, 240, 100,
                   "-vf 'settb=1/1000,setpts=if(lt(N\\,50)\\,20*N\\,1000+100*(N-50))' "
                   "-fps_mode passthrough -enc_time_base 1/1000 " X264);
}

static vida_video *open_video(const char *path)
{
    vida_video *v = NULL;
    if (!path)
        return NULL;
    if (vida_video_open(&v, NULL, path, NULL) != VIDA_OK) {
        fprintf(stderr, "  open %s: %s\n", path, vida_last_error());
        return NULL;
    }
    return v;
}

static vida_sampler *make_sampler(const vida_sampler_params *p)
{
    vida_sampler *s = NULL;
    if (vida_sampler_create(&s, NULL, p) != VIDA_OK) {
        fprintf(stderr, "  vida_sampler_create: %s\n", vida_last_error());
        return NULL;
    }
    return s;
}

/* The sampler's indices for v as a malloc'd [n_views, L] array; NULL (message printed) on error. */
static int64_t *get_indices(const vida_sampler_params *p, vida_video *v, uint64_t seed,
                            int64_t *n_views)
{
    vida_sampler *s = make_sampler(p);
    int64_t *idx = NULL, nv = 0;
    if (s && vida_sampler_plan(s, v, &nv, NULL) == VIDA_OK) {
        idx = malloc((size_t)(nv * p->frames + 1) * sizeof *idx);
        if (idx && vida_sampler_indices(s, v, seed, idx, (size_t)(nv * p->frames)) != VIDA_OK) {
            free(idx);
            idx = NULL;
        }
    }
    if (!idx)
        fprintf(stderr, "  indices: %s\n", vida_last_error());
    vida_sampler_free(s);
    *n_views = nv;
    return idx;
}

/* The sample for v as a malloc'd buffer (shape in shape[5], indices in *idx if idx). */
static void *get_sample(const vida_sampler_params *p, vida_video *v, uint64_t seed,
                        int64_t shape[5], int64_t **idx)
{
    vida_sampler *s = make_sampler(p);
    void *out = NULL;
    int64_t nv = 0, *ix = NULL;
    size_t bytes;
    if (s && vida_sampler_plan(s, v, &nv, shape) == VIDA_OK) {
        bytes = (size_t)(shape[0] * shape[1] * shape[2] * shape[3] * shape[4]) *
                (p->output == VIDA_SAMPLE_F32 ? 4 : 1);
        out = malloc(bytes);
        ix = malloc((size_t)(nv * p->frames) * sizeof *ix);
        if (!out || !ix ||
            vida_sampler_sample(s, v, seed, out, bytes, ix, (size_t)(nv * p->frames)) != VIDA_OK) {
            free(out);
            free(ix);
            out = NULL;
            ix = NULL;
        }
    }
    if (!out)
        fprintf(stderr, "  sample: %s\n", vida_last_error());
    vida_sampler_free(s);
    if (idx)
        *idx = ix;
    else
        free(ix);
    return out;
}

/* Checks that row k of idx is start, start+r, ... (L frames). */
static int row_is(const int64_t *idx, int L, int k, int64_t start, int r)
{
    for (int j = 0; j < L; j++)
        if (idx[(size_t)k * L + j] != start + (int64_t)j * r) {
            fprintf(stderr, "  clip %d frame %d: %lld, wanted %lld\n", k, j,
                    (long long)idx[(size_t)k * L + j], (long long)(start + (int64_t)j * r));
            return 0;
        }
    return 1;
}

/* Every frame of a U8 sample [V, L, H, W, 3] reads as its index; returns the mismatches. */
static int frames_match(const uint8_t *out, const int64_t shape[5], const int64_t *idx)
{
    int bad = 0;
    size_t fb = (size_t)(shape[2] * shape[3] * 3);
    for (int64_t i = 0; i < shape[0] * shape[1]; i++) {
        int n = vt_frame_read(out + (size_t)i * fb, (int)shape[3], (int)shape[2]);
        if (n != idx[i]) {
            if (bad++ < 5)
                fprintf(stderr, "  frame %lld reads as %d, index %lld\n", (long long)i, n,
                        (long long)idx[i]);
        }
    }
    return bad;
}

TEST(sampler, params_defaults_and_refcount)
{
    vida_sampler_params p, q;
    vida_sampler *s = NULL;
    vida_context *ctx = NULL;
    vida_sampler_params_init(&p);
    CHECK(p.size == sizeof p);
    CHECK(p.frames == 16 && p.stride == 1 && p.fps == 0 && p.clip_mode == VIDA_CLIPS_RANDOM);
    CHECK(p.clips == 1 && p.max_minutes == 0 && p.start_time == -1 && p.dense_step == 0);
    CHECK(p.short_side_min == 128 && p.short_side_max == 128 && p.crop == 112);
    CHECK(p.crop_mode == VIDA_CROP_CENTER && p.flip == 0 && p.output == VIDA_SAMPLE_U8);
    CHECK(p.mean[0] == 0.43216f && p.mean[1] == 0.394666f && p.mean[2] == 0.37645f);
    CHECK(p.std[0] == 0.22803f && p.std[1] == 0.22145f && p.std[2] == 0.216989f);
    CHECK(p.short_video == VIDA_SHORT_REPEAT_LAST);
    /* the sampler holds a reference: the context may go first */
    CHECK_OK(vida_context_create(&ctx, NULL));
    p.frames = 8;
    p.stride = 3;
    CHECK_OK(vida_sampler_create(&s, ctx, &p));
    vida_context_free(ctx);
    memset(&q, 0, sizeof q);
    CHECK(vida_sampler_get_params(s, &q) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "size") != NULL);
    q.size = sizeof q;
    CHECK_OK(vida_sampler_get_params(s, &q));
    CHECK(memcmp(&p, &q, sizeof p) == 0);
    vida_sampler_free(s);
    vida_sampler_free(NULL);
    vida_sampler_params_init(NULL);
}

TEST(sampler, bad_params_name_the_field)
{
    static const struct {
        const char *field;
        int what;
    } cases[] = {
        {"size", 0},         {"frames", 1},      {"frames", 2},      {"stride", 3},
        {"fps", 4},          {"fps", 5},         {"clip_mode", 6},   {"clips", 7},
        {"clips", 8},        {"max_minutes", 9}, {"dense_step", 10}, {"short_side", 11},
        {"short_side", 12},  {"crop", 13},       {"crop_mode", 14},  {"flip", 15},
        {"output", 16},      {"std[1]", 17},     {"mean[2]", 18},    {"short_video", 19},
        {"start_frame", 20}, {"start_time", 21}, {"clips", 22},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vida_sampler_params p;
        vida_sampler *s = NULL;
        int rc;
        vida_sampler_params_init(&p);
        switch (cases[i].what) {
        case 0: p.size = 8; break;
        case 1: p.frames = 0; break;
        case 2: p.frames = 5000; break;
        case 3: p.stride = 0; break;
        case 4: p.fps = -1; break;
        case 5: p.fps = NAN; break;
        case 6: p.clip_mode = 9; break;
        case 7: p.clips = -1; break;
        case 8:
            p.clip_mode = VIDA_CLIPS_UNIFORM;
            p.clips = 0;
            break;
        case 9: p.max_minutes = -2; break;
        case 10: p.dense_step = -1; break;
        case 11: p.short_side_min = 200; break; /* > max 128 */
        case 12: p.short_side_min = -1; break;
        case 13: p.crop = -5; break;
        case 14: p.crop_mode = 7; break;
        case 15: p.flip = 2; break;
        case 16: p.output = 3; break;
        case 17: p.std[1] = 0; break;
        case 18: p.mean[2] = INFINITY; break;
        case 19: p.short_video = 5; break;
        case 20:
            p.clip_mode = VIDA_CLIPS_START;
            p.start_frame = -3;
            break;
        case 21: p.start_time = NAN; break;
        case 22: p.clips = 1 << 30; break;
        }
        rc = vida_sampler_create(&s, NULL, &p);
        CHECKF(rc == VIDA_EINVAL && s == NULL, "case %d returned %d", cases[i].what, rc);
        CHECKF(strstr(vida_last_error(), cases[i].field) != NULL, "case %d: '%s' lacks '%s'",
               cases[i].what, vida_last_error(), cases[i].field);
    }
}

TEST(sampler, null_arguments)
{
    vida_sampler_params p;
    vida_sampler *s = NULL;
    vida_video *v = open_video(video300());
    int64_t idx[16], nv, shape[5];
    uint8_t buf[16];
    CHECK(v);
    vida_sampler_params_init(&p);
    CHECK(vida_sampler_create(NULL, NULL, &p) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "out") != NULL);
    CHECK(vida_sampler_create(&s, NULL, NULL) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "params") != NULL);
    CHECK_OK(vida_sampler_create(&s, NULL, &p));
    CHECK(vida_sampler_get_params(NULL, &p) == VIDA_EINVAL);
    CHECK(vida_sampler_get_params(s, NULL) == VIDA_EINVAL);
    CHECK(vida_sampler_plan(NULL, v, &nv, shape) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "sampler") != NULL);
    CHECK(vida_sampler_plan(s, NULL, &nv, shape) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "video") != NULL);
    CHECK_OK(vida_sampler_plan(s, v, NULL, NULL));
    CHECK(vida_sampler_indices(NULL, v, 0, idx, 16) == VIDA_EINVAL);
    CHECK(vida_sampler_indices(s, NULL, 0, idx, 16) == VIDA_EINVAL);
    CHECK(vida_sampler_indices(s, v, 0, NULL, 16) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "indices") != NULL);
    CHECK(vida_sampler_indices(s, v, 0, idx, 15) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "n_indices") != NULL);
    CHECK(vida_sampler_sample(NULL, v, 0, buf, sizeof buf, NULL, 0) == VIDA_EINVAL);
    CHECK(vida_sampler_sample(s, NULL, 0, buf, sizeof buf, NULL, 0) == VIDA_EINVAL);
    CHECK(vida_sampler_sample(s, v, 0, NULL, sizeof buf, NULL, 0) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "out") != NULL);
    /* too small: the message says what is needed (16 x 112 x 112 x 3) */
    CHECK(vida_sampler_sample(s, v, 0, buf, sizeof buf, NULL, 0) == VIDA_EINVAL);
    CHECKF(strstr(vida_last_error(), "602112") != NULL, "%s", vida_last_error());
    vida_sampler_free(s);
    vida_video_free(v);
}

TEST(sampler, uniform_center_dense_starts)
{
    vida_video *v = open_video(video300());
    vida_sampler_params p;
    int64_t *idx, nv, shape[5];
    vida_sampler *s;
    CHECK(v);
    /* span (16-1)*2+1 = 31, n - span = 269: round(k*269/3) = 0, 90, 179, 269 */
    vida_sampler_params_init(&p);
    p.frames = 16;
    p.stride = 2;
    p.clip_mode = VIDA_CLIPS_UNIFORM;
    p.clips = 4;
    s = make_sampler(&p);
    CHECK(s);
    CHECK_OK(vida_sampler_plan(s, v, &nv, shape));
    vida_sampler_free(s);
    CHECK(nv == 4 && shape[0] == 4 && shape[1] == 16 && shape[2] == 112 && shape[3] == 112 &&
          shape[4] == 3);
    idx = get_indices(&p, v, 1, &nv);
    CHECK(idx && nv == 4);
    CHECK(row_is(idx, 16, 0, 0, 2) && row_is(idx, 16, 1, 90, 2) && row_is(idx, 16, 2, 179, 2) &&
          row_is(idx, 16, 3, 269, 2));
    free(idx);
    p.clips = 1; /* the centre: 269 / 2 = 134 */
    idx = get_indices(&p, v, 1, &nv);
    CHECK(idx && nv == 1 && row_is(idx, 16, 0, 134, 2));
    free(idx);
    p.clip_mode = VIDA_CLIPS_CENTER;
    p.clips = 5; /* ignored */
    idx = get_indices(&p, v, 1, &nv);
    CHECK(idx && nv == 1 && row_is(idx, 16, 0, 134, 2));
    free(idx);
    /* THREE crops: 3 views per clip, sharing the clip's indices; F32 shape */
    p.clip_mode = VIDA_CLIPS_UNIFORM;
    p.clips = 2;
    p.crop_mode = VIDA_CROP_THREE;
    p.output = VIDA_SAMPLE_F32;
    s = make_sampler(&p);
    CHECK(s);
    CHECK_OK(vida_sampler_plan(s, v, &nv, shape));
    vida_sampler_free(s);
    CHECK(nv == 6 && shape[0] == 6 && shape[1] == 3 && shape[2] == 16 && shape[3] == 112 &&
          shape[4] == 112);
    idx = get_indices(&p, v, 1, &nv);
    CHECK(idx && nv == 6);
    CHECK(row_is(idx, 16, 0, 0, 2) && row_is(idx, 16, 1, 0, 2) && row_is(idx, 16, 2, 0, 2));
    CHECK(row_is(idx, 16, 3, 269, 2) && row_is(idx, 16, 4, 269, 2) && row_is(idx, 16, 5, 269, 2));
    free(idx);
    /* DENSE: starts 31 apart while start + 31 <= 300: 0, 31, ..., 248 (9 clips) */
    vida_sampler_params_init(&p);
    p.frames = 16;
    p.stride = 2;
    p.clip_mode = VIDA_CLIPS_DENSE;
    p.clips = 0;
    idx = get_indices(&p, v, 1, &nv);
    CHECK(idx && nv == 9);
    for (int k = 0; k < 9; k++)
        CHECK(row_is(idx, 16, k, 31 * k, 2));
    free(idx);
    p.dense_step = 100; /* 0, 100, 200 (231 <= 300) */
    idx = get_indices(&p, v, 1, &nv);
    CHECK(idx && nv == 3 && row_is(idx, 16, 2, 200, 2));
    free(idx);
    p.dense_step = 0;
    p.clips = 2; /* a cap */
    idx = get_indices(&p, v, 1, &nv);
    CHECK(idx && nv == 2 && row_is(idx, 16, 0, 0, 2) && row_is(idx, 16, 1, 31, 2));
    free(idx);
    vida_video_free(v);
}

TEST(sampler, start_clip_and_its_end)
{
    vida_video *v = open_video(video300());
    vida_sampler_params p;
    vida_sampler *s;
    int64_t *idx, nv, at = -1, buf[16];
    CHECK(v);
    vida_sampler_params_init(&p);
    p.clip_mode = VIDA_CLIPS_START;
    p.start_frame = 17;
    p.stride = 3;
    idx = get_indices(&p, v, 5, &nv);
    CHECK(idx && nv == 1 && row_is(idx, 16, 0, 17, 3));
    free(idx);
    /* start_time 2.0 s at 25 fps is frame 50, as vida_video_frame_at says */
    p.start_time = 2.0;
    CHECK_OK(vida_video_frame_at(v, 2.0, &at));
    CHECK(at == 50);
    idx = get_indices(&p, v, 5, &nv);
    CHECK(idx && nv == 1 && row_is(idx, 16, 0, 50, 3));
    free(idx);
    /* running past the end: REPEAT_LAST keeps the start and repeats frame 299 */
    p.start_time = -1;
    p.start_frame = 290;
    p.stride = 1;
    idx = get_indices(&p, v, 5, &nv);
    CHECK(idx && nv == 1 && row_is(idx, 10, 0, 290, 1));
    for (int j = 10; j < 16; j++)
        CHECK(idx[j] == 299);
    free(idx);
    p.short_video = VIDA_SHORT_LOOP; /* 290..299, 0..5 */
    idx = get_indices(&p, v, 5, &nv);
    CHECK(idx && nv == 1);
    for (int j = 0; j < 16; j++)
        CHECK(idx[j] == (290 + j) % 300);
    free(idx);
    p.short_video = VIDA_SHORT_ERROR;
    s = make_sampler(&p);
    CHECK(s);
    CHECK(vida_sampler_indices(s, v, 5, buf, 16) == VIDA_EDECODE);
    CHECKF(strstr(vida_last_error(), "300") && strstr(vida_last_error(), "16"), "%s",
           vida_last_error());
    vida_sampler_free(s);
    /* a start outside the video */
    p.short_video = VIDA_SHORT_REPEAT_LAST;
    p.start_frame = 300;
    s = make_sampler(&p);
    CHECK(s);
    CHECK(vida_sampler_indices(s, v, 5, buf, 16) == VIDA_EINVAL);
    CHECKF(strstr(vida_last_error(), "start_frame"), "%s", vida_last_error());
    vida_sampler_free(s);
    p.start_time = 12.5;
    s = make_sampler(&p);
    CHECK(s);
    CHECK(vida_sampler_indices(s, v, 5, buf, 16) == VIDA_EINVAL);
    CHECKF(strstr(vida_last_error(), "start_time"), "%s", vida_last_error());
    vida_sampler_free(s);
    vida_video_free(v);
}

TEST(sampler, random_starts_are_a_function_of_seed_and_clip)
{
    vida_video *v = open_video(video300());
    vida_sampler_params p;
    int64_t *a, *b, *c, *d, na, nb, nc, nd;
    int distinct = 0, differ = 0;
    CHECK(v);
    vida_sampler_params_init(&p);
    p.stride = 2;
    p.clips = 8;
    a = get_indices(&p, v, 42, &na);
    b = get_indices(&p, v, 42, &nb);
    p.clips = 3;
    c = get_indices(&p, v, 42, &nc);
    p.clips = 8;
    d = get_indices(&p, v, 43, &nd);
    CHECK(a && b && c && d && na == 8 && nb == 8 && nc == 3 && nd == 8);
    CHECK(memcmp(a, b, 8 * 16 * sizeof *a) == 0);
    CHECK(memcmp(a, c, 3 * 16 * sizeof *a) == 0); /* clip k is the same whatever K */
    for (int k = 0; k < 8; k++) {
        CHECK(a[k * 16] >= 0 && a[k * 16] <= 269 && row_is(a, 16, k, a[k * 16], 2));
        CHECK(d[k * 16] >= 0 && d[k * 16] <= 269 && row_is(d, 16, k, d[k * 16], 2));
        distinct += k == 0 || a[k * 16] != a[(k - 1) * 16];
        differ += a[k * 16] != d[k * 16];
    }
    CHECK(distinct >= 6);
    CHECK(differ >= 6);
    free(a);
    free(b);
    free(c);
    free(d);
    vida_video_free(v);
}

TEST(sampler, decoded_frames_are_the_indices)
{
    vida_video *v = open_video(video300());
    vida_sampler_params p;
    int64_t shape[5], *ia, *ib, *ic;
    uint8_t *a, *b, *c;
    CHECK(v);
    vida_sampler_params_init(&p);
    p.frames = 8;
    p.stride = 3;
    p.clips = 2;
    a = get_sample(&p, v, 7, shape, &ia);
    b = get_sample(&p, v, 7, shape, &ib);
    c = get_sample(&p, v, 8, shape, &ic);
    CHECK(a && b && c);
    CHECK(shape[0] == 2 && shape[1] == 8 && shape[2] == 112 && shape[3] == 112 && shape[4] == 3);
    CHECK(frames_match(a, shape, ia) == 0);
    CHECK(frames_match(c, shape, ic) == 0);
    /* same seed: same indices and same bytes; another seed: other clips */
    CHECK(memcmp(ia, ib, 16 * sizeof *ia) == 0);
    CHECK(memcmp(a, b, 2 * 8 * 112 * 112 * 3) == 0);
    CHECK(memcmp(ia, ic, 16 * sizeof *ia) != 0);
    free(a);
    free(b);
    free(c);
    free(ia);
    free(ib);
    free(ic);
    vida_video_free(v);
}

TEST(sampler, f32_is_normalised_u8)
{
    vida_video *v = open_video(video300());
    vida_sampler_params p;
    int64_t s8[5], s32[5], *i8, *i32;
    uint8_t *a;
    float *f;
    CHECK(v);
    vida_sampler_params_init(&p);
    p.frames = 4;
    p.clip_mode = VIDA_CLIPS_UNIFORM;
    p.clips = 2;
    p.mean[1] = 0.5f;
    p.std[2] = -0.25f;
    a = get_sample(&p, v, 3, s8, &i8);
    p.output = VIDA_SAMPLE_F32;
    f = get_sample(&p, v, 3, s32, &i32);
    CHECK(a && f);
    CHECK(s32[0] == 2 && s32[1] == 3 && s32[2] == 4 && s32[3] == 112 && s32[4] == 112);
    CHECK(memcmp(i8, i32, 8 * sizeof *i8) == 0);
    for (int vw = 0; vw < 2; vw++)
        for (int c = 0; c < 3; c++)
            for (int t = 0; t < 4; t++)
                for (int y = 0; y < 112; y++)
                    for (int x = 0; x < 112; x++) {
                        uint8_t u = a[((((size_t)vw * 4 + t) * 112 + y) * 112 + x) * 3 + c];
                        float want = (u / 255.0f - p.mean[c]) / p.std[c];
                        float got = f[(((size_t)(vw * 3 + c) * 4 + t) * 112 + y) * 112 + x];
                        CHECKF(fabsf(got - want) <= 1e-5f, "view %d c %d t %d (%d,%d): %g vs %g",
                               vw, c, t, y, x, got, want);
                    }
    free(a);
    free(f);
    free(i8);
    free(i32);
    vida_video_free(v);
}

/* The sub-rectangle (x0, y0, cw x ch) of frame t of a [L, H, W, 3] block equals frame t of crop. */
static int same_rect(const uint8_t *full, int W, int H, int L, const uint8_t *crop, int cw, int ch,
                     int x0, int y0)
{
    for (int t = 0; t < L; t++)
        for (int y = 0; y < ch; y++)
            if (memcmp(full + (((size_t)t * H + y0 + y) * W + x0) * 3,
                       crop + (((size_t)t * ch + y) * cw) * 3, (size_t)cw * 3) != 0)
                return 0;
    return 1;
}

TEST(sampler, three_crops_along_the_long_side)
{
    vida_video *v = open_video(video300());
    vida_sampler_params p;
    int64_t sf[5], s3[5], sc[5];
    uint8_t *full, *three, *centre;
    size_t vb = 4 * 112 * 112 * 3;
    CHECK(v);
    vida_sampler_params_init(&p);
    p.frames = 4;
    p.clip_mode = VIDA_CLIPS_CENTER;
    p.crop_mode = VIDA_CROP_NONE;
    full = get_sample(&p, v, 0, sf, NULL);
    p.crop_mode = VIDA_CROP_THREE;
    three = get_sample(&p, v, 0, s3, NULL);
    p.crop_mode = VIDA_CROP_CENTER;
    centre = get_sample(&p, v, 0, sc, NULL);
    CHECK(full && three && centre);
    /* 320x240 with short side 128: 171x128 */
    CHECK(sf[0] == 1 && sf[2] == 128 && sf[3] == 171);
    CHECK(s3[0] == 3 && s3[2] == 112 && s3[3] == 112);
    CHECK(memcmp(three, three + vb, vb) != 0 && memcmp(three + vb, three + 2 * vb, vb) != 0 &&
          memcmp(three, three + 2 * vb, vb) != 0);
    CHECK(memcmp(three + vb, centre, vb) == 0);
    /* x at 0, (171-112)/2 = 29 and 59; y centred at 8 */
    CHECK(same_rect(full, 171, 128, 4, three, 112, 112, 0, 8));
    CHECK(same_rect(full, 171, 128, 4, three + vb, 112, 112, 29, 8));
    CHECK(same_rect(full, 171, 128, 4, three + 2 * vb, 112, 112, 59, 8));
    free(full);
    free(three);
    free(centre);
    vida_video_free(v);
}

TEST(sampler, random_crops_and_scale_jitter)
{
    vida_video *v = open_video(video300());
    vida_sampler_params p;
    vida_sampler *s;
    int64_t sf[5], sr[5], nv;
    uint8_t *full, *rnd, *fixed[17];
    int seen[60 * 17] = {0}, n_offsets = 0, ys = 0, sizes_seen[17] = {0}, n_sizes = 0;
    size_t vb = 112 * 112 * 3;
    CHECK(v);
    vida_sampler_params_init(&p);
    p.frames = 1;
    p.clip_mode = VIDA_CLIPS_UNIFORM;
    p.clips = 8;
    p.crop_mode = VIDA_CROP_NONE;
    full = get_sample(&p, v, 0, sf, NULL);
    CHECK(full && sf[2] == 128 && sf[3] == 171);
    for (uint64_t seed = 0; seed < 4; seed++) {
        p.crop_mode = VIDA_CROP_RANDOM;
        rnd = get_sample(&p, v, seed, sr, NULL);
        CHECK(rnd && sr[0] == 8);
        /* each view is the full frame at some offset in [0, 59] x [0, 16] */
        for (int k = 0; k < 8; k++) {
            int found = -1;
            for (int y = 0; y <= 16 && found < 0; y++)
                for (int x = 0; x <= 59 && found < 0; x++)
                    if (same_rect(full + (size_t)k * 171 * 128 * 3, 171, 128, 1, rnd + k * vb, 112,
                                  112, x, y))
                        found = y * 60 + x;
            CHECKF(found >= 0, "seed %d clip %d: no offset matches", (int)seed, k);
            n_offsets += !seen[found];
            seen[found] = 1;
            ys |= 1 << (found / 60);
        }
        free(rnd);
    }
    CHECK(n_offsets >= 16);
    CHECK(__builtin_popcount((unsigned)ys) >= 4); /* y varies too */
    free(full);
    /* short side jitter in [128, 144]: each clip is one of the fixed-size samples */
    p.crop_mode = VIDA_CROP_CENTER;
    for (int i = 0; i < 17; i++) {
        p.short_side_min = p.short_side_max = 128 + i;
        fixed[i] = get_sample(&p, v, 9, sr, NULL);
        CHECK(fixed[i]);
    }
    p.short_side_min = 128;
    p.short_side_max = 144;
    rnd = get_sample(&p, v, 9, sr, NULL);
    CHECK(rnd && sr[2] == 112 && sr[3] == 112);
    for (int k = 0; k < 8; k++) {
        int found = -1;
        for (int i = 0; i < 17 && found < 0; i++)
            if (memcmp(rnd + k * vb, fixed[i] + k * vb, vb) == 0)
                found = i;
        CHECKF(found >= 0, "clip %d matches no short side in [128, 144]", k);
        n_sizes += !sizes_seen[found];
        sizes_seen[found] = 1;
    }
    CHECK(n_sizes >= 3);
    free(rnd);
    for (int i = 0; i < 17; i++)
        free(fixed[i]);
    /* no crop and jitter: the size varies, so there is no plan */
    p.crop_mode = VIDA_CROP_NONE;
    s = make_sampler(&p);
    CHECK(s);
    CHECK(vida_sampler_plan(s, v, &nv, sr) == VIDA_EINVAL);
    CHECKF(strstr(vida_last_error(), "jitter"), "%s", vida_last_error());
    vida_sampler_free(s);
    /* a crop larger than the scaled frame */
    p.crop_mode = VIDA_CROP_CENTER;
    p.short_side_min = p.short_side_max = 100;
    s = make_sampler(&p);
    CHECK(s);
    CHECK(vida_sampler_plan(s, v, &nv, sr) == VIDA_EINVAL);
    CHECKF(strstr(vida_last_error(), "crop 112"), "%s", vida_last_error());
    vida_sampler_free(s);
    vida_video_free(v);
}

TEST(sampler, native_size)
{
    vida_video *v = open_video(video300());
    vida_sampler_params p;
    int64_t sf[5], sc[5], *idx;
    uint8_t *full, *crop;
    CHECK(v);
    vida_sampler_params_init(&p);
    p.frames = 3;
    p.stride = 5;
    p.clip_mode = VIDA_CLIPS_CENTER;
    p.short_side_min = p.short_side_max = 0;
    p.crop_mode = VIDA_CROP_NONE;
    full = get_sample(&p, v, 0, sf, &idx);
    CHECK(full && sf[0] == 1 && sf[1] == 3 && sf[2] == 240 && sf[3] == 320);
    CHECK(frames_match(full, sf, idx) == 0);
    p.crop_mode = VIDA_CROP_CENTER;
    p.crop = 200;
    crop = get_sample(&p, v, 0, sc, NULL);
    CHECK(crop && sc[2] == 200 && sc[3] == 200);
    CHECK(same_rect(full, 320, 240, 3, crop, 200, 200, 60, 20));
    free(full);
    free(crop);
    free(idx);
    vida_video_free(v);
}

TEST(sampler, flip_mirrors_about_half_the_clips)
{
    vida_video *v = open_video(video300());
    vida_sampler_params p;
    int64_t sa[5], sb[5], *ia, *ib;
    uint8_t *a, *b;
    int mirrored = 0, total = 0;
    CHECK(v);
    vida_sampler_params_init(&p);
    p.frames = 1;
    p.clips = 16;
    for (uint64_t seed = 100; seed < 104; seed++) {
        p.flip = 0;
        a = get_sample(&p, v, seed, sa, &ia);
        p.flip = 1;
        b = get_sample(&p, v, seed, sb, &ib);
        CHECK(a && b);
        CHECK(memcmp(ia, ib, 16 * sizeof *ia) == 0); /* flipping draws do not move clips */
        for (int k = 0; k < 16; k++) {
            const uint8_t *fa = a + (size_t)k * 112 * 112 * 3, *fb = b + (size_t)k * 112 * 112 * 3;
            int n = -1, o = vt_frame_orientation(fb, 112, 112, &n);
            int same = memcmp(fa, fb, 112 * 112 * 3) == 0, mirror = 1;
            CHECKF((o == 0 || o == 4) && n == ia[k],
                   "clip %d: orientation %d, frame %d, index %lld", k, o, n, (long long)ia[k]);
            for (int y = 0; y < 112 && mirror; y++)
                for (int x = 0; x < 112 && mirror; x++)
                    mirror = memcmp(fa + ((size_t)y * 112 + x) * 3,
                                    fb + ((size_t)y * 112 + 111 - x) * 3, 3) == 0;
            CHECK(o == 4 ? mirror && !same : same);
            mirrored += o == 4;
            total++;
        }
        free(a);
        free(b);
        free(ia);
        free(ib);
    }
    CHECKF(mirrored >= total / 4 && mirrored <= total * 3 / 4, "%d of %d mirrored", mirrored,
           total);
    vida_video_free(v);
}

TEST(sampler, short_video_policies)
{
    vida_video *v = open_video(video10());
    vida_sampler_params p;
    vida_sampler *s;
    int64_t *idx, nv, shape[5], buf[32];
    uint8_t *out, tiny[8];
    CHECK(v);
    vida_sampler_params_init(&p);
    p.clips = 2;
    idx = get_indices(&p, v, 1, &nv); /* REPEAT_LAST: 0..9, then 9 */
    CHECK(idx && nv == 2);
    for (int j = 0; j < 32; j++)
        CHECK(idx[j] == (j % 16 < 10 ? j % 16 : 9));
    free(idx);
    out = get_sample(&p, v, 1, shape, &idx);
    CHECK(out && frames_match(out, shape, idx) == 0);
    free(out);
    free(idx);
    p.short_video = VIDA_SHORT_LOOP; /* 0..9, 0..5 */
    p.clip_mode = VIDA_CLIPS_CENTER;
    idx = get_indices(&p, v, 1, &nv);
    CHECK(idx && nv == 1);
    for (int j = 0; j < 16; j++)
        CHECK(idx[j] == j % 10);
    free(idx);
    p.short_video = VIDA_SHORT_ERROR;
    s = make_sampler(&p);
    CHECK(s);
    CHECK(vida_sampler_indices(s, v, 1, buf, 32) == VIDA_EDECODE);
    CHECKF(strstr(vida_last_error(), "10 frames") && strstr(vida_last_error(), "16"), "%s",
           vida_last_error());
    CHECK(vida_sampler_sample(s, v, 1, tiny, sizeof tiny, NULL, 0) == VIDA_EDECODE);
    vida_sampler_free(s);
    /* fps mode: 16 frames at 12.5 fps last 1.28 s, the video 0.4 s */
    p.fps = 12.5;
    s = make_sampler(&p);
    CHECK(s);
    CHECK(vida_sampler_indices(s, v, 1, buf, 32) == VIDA_EDECODE);
    vida_sampler_free(s);
    p.short_video = VIDA_SHORT_REPEAT_LAST; /* frames at 0, 0.08, ... then the last */
    idx = get_indices(&p, v, 1, &nv);
    CHECK(idx && nv == 1);
    for (int j = 0; j < 16; j++)
        CHECK(idx[j] == (j < 5 ? 2 * j : 9));
    free(idx);
    p.short_video = VIDA_SHORT_LOOP; /* time wraps at 0.4 s: 0, 2, ..., 8, 0, 2, ... */
    idx = get_indices(&p, v, 1, &nv);
    CHECK(idx && nv == 1);
    for (int j = 0; j < 16; j++)
        CHECKF(idx[j] == 2 * j % 10, "frame %d: %lld", j, (long long)idx[j]);
    free(idx);
    vida_video_free(v);
}

TEST(sampler, budget_caps_clips)
{
    vida_video *v = open_video(video300());
    vida_sampler_params p;
    int64_t *idx, nv;
    CHECK(v);
    /* a clip spans 31 frames = 1.24 s at 25 fps; 0.05 min = 3 s allows 2 */
    vida_sampler_params_init(&p);
    p.stride = 2;
    p.clips = 10;
    p.max_minutes = 0.05;
    idx = get_indices(&p, v, 1, &nv);
    CHECK(idx && nv == 2);
    free(idx);
    p.clip_mode = VIDA_CLIPS_UNIFORM; /* the 2 given are spread over the video */
    idx = get_indices(&p, v, 1, &nv);
    CHECK(idx && nv == 2 && row_is(idx, 16, 0, 0, 2) && row_is(idx, 16, 1, 269, 2));
    free(idx);
    p.clip_mode = VIDA_CLIPS_DENSE;
    p.clips = 0;
    idx = get_indices(&p, v, 1, &nv);
    CHECK(idx && nv == 2 && row_is(idx, 16, 1, 31, 2));
    free(idx);
    p.max_minutes = 0.001; /* less than one clip: still one */
    idx = get_indices(&p, v, 1, &nv);
    CHECK(idx && nv == 1);
    free(idx);
    p.max_minutes = 0.15; /* 9 s: 7, but the video has 9 */
    idx = get_indices(&p, v, 1, &nv);
    CHECK(idx && nv == 7);
    free(idx);
    /* fps mode: 16 frames at 12.5 fps = 1.28 s; 3 s allows 2 */
    p.fps = 12.5;
    p.clip_mode = VIDA_CLIPS_RANDOM;
    p.clips = 10;
    p.max_minutes = 0.05;
    idx = get_indices(&p, v, 1, &nv);
    CHECK(idx && nv == 2);
    free(idx);
    vida_video_free(v);
}

TEST(sampler, fps_mode_by_timestamps)
{
    vida_video *v = open_video(video300());
    vida_sampler_params p;
    int64_t *idx, nv, shape[5];
    uint8_t *out;
    CHECK(v);
    vida_sampler_params_init(&p);
    p.frames = 8;
    p.fps = 12.5;
    p.clip_mode = VIDA_CLIPS_START;
    p.start_frame = 10;
    out = get_sample(&p, v, 0, shape, &idx);
    CHECK(out && shape[0] == 1 && row_is(idx, 8, 0, 10, 2));
    CHECK(frames_match(out, shape, idx) == 0);
    free(out);
    free(idx);
    /* 12 s, clips of 0.64 s: t0 = 0, 5.68, 11.36 s, frames 0, 142, 284 */
    p.clip_mode = VIDA_CLIPS_UNIFORM;
    p.clips = 3;
    idx = get_indices(&p, v, 0, &nv);
    CHECK(idx && nv == 3);
    CHECK(row_is(idx, 8, 0, 0, 2) && row_is(idx, 8, 1, 142, 2) && row_is(idx, 8, 2, 284, 2));
    free(idx);
    /* random clips: every other frame too, and inside the video */
    p.clip_mode = VIDA_CLIPS_RANDOM;
    p.clips = 6;
    idx = get_indices(&p, v, 11, &nv);
    CHECK(idx && nv == 6);
    for (int k = 0; k < 6; k++)
        CHECK(idx[k * 8] >= 0 && idx[k * 8 + 7] <= 299 && row_is(idx, 8, k, idx[k * 8], 2));
    free(idx);
    /* at the video's own rate fps mode gives consecutive frames */
    p.fps = 25;
    p.clip_mode = VIDA_CLIPS_DENSE;
    p.clips = 0;
    idx = get_indices(&p, v, 0, &nv);
    CHECK(idx && nv == 37); /* floor((12 - 0.32) / 0.32) + 1 */
    for (int k = 0; k < 37; k++)
        CHECK(row_is(idx, 8, k, 8 * k, 1));
    free(idx);
    vida_video_free(v);
}

TEST(sampler, fps_mode_on_variable_frame_rate)
{
    vida_video *v = open_video(video_vfr());
    vida_video_info info;
    vida_sampler_params p;
    int64_t *idx, nv, shape[5];
    uint8_t *out;
    CHECK(v);
    info.size = sizeof info;
    CHECK_OK(vida_video_get_info(v, &info));
    CHECK(info.n_frames == 100 && info.vfr == 1);
    /* 10 fps from 0 s: every 5th frame of the 50 fps part, then every frame */
    vida_sampler_params_init(&p);
    p.fps = 10;
    p.clip_mode = VIDA_CLIPS_START;
    p.start_time = 0;
    out = get_sample(&p, v, 0, shape, &idx);
    CHECK(out && shape[0] == 1);
    for (int j = 0; j < 16; j++)
        CHECKF(idx[j] == (j < 10 ? 5 * j : 50 + (j - 10)), "frame %d: %lld", j, (long long)idx[j]);
    CHECK(frames_match(out, shape, idx) == 0);
    free(out);
    free(idx);
    /* uniform clips: frame j is the one shown at t0 + j/10, t0 = k (duration - 0.8) / 2 */
    p.frames = 8;
    p.clip_mode = VIDA_CLIPS_UNIFORM;
    p.clips = 3;
    idx = get_indices(&p, v, 0, &nv);
    CHECK(idx && nv == 3);
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < 8; j++) {
            int64_t want = -1;
            double t = k * (info.duration - 0.8) / 2 + j / 10.0;
            CHECK_OK(vida_video_frame_at(v, t + 1e-6, &want));
            CHECKF(idx[k * 8 + j] == want, "clip %d frame %d (%.3f s): %lld, wanted %lld", k, j, t,
                   (long long)idx[k * 8 + j], (long long)want);
        }
    CHECK(row_is(idx, 8, 0, 0, 5));
    free(idx);
    vida_video_free(v);
}

TEST(sampler, read_errors_name_the_clip)
{
    vida_video_params vp;
    vida_video *v = NULL;
    vida_sampler_params p;
    vida_sampler *s;
    const char *path = video300();
    int64_t idx[4];
    uint8_t *out = malloc(2 * 2 * 112 * 112 * 3);
    int rc;
    CHECK(path && out);
    /* a read may decode at most 4 frames: the second clip (frames 298, 299) needs 25 */
    vida_video_params_init(&vp);
    vp.max_decode_frames = 4;
    CHECK_OK(vida_video_open(&v, NULL, path, &vp));
    vida_sampler_params_init(&p);
    p.frames = 2;
    p.clip_mode = VIDA_CLIPS_UNIFORM;
    p.clips = 2;
    s = make_sampler(&p);
    CHECK(s);
    CHECK(vida_sampler_sample(s, v, 0, out, 2 * 2 * 112 * 112 * 3, idx, 3) == VIDA_EINVAL);
    CHECKF(strstr(vida_last_error(), "n_indices"), "%s", vida_last_error());
    rc = vida_sampler_sample(s, v, 0, out, 2 * 2 * 112 * 112 * 3, idx, 4);
    CHECKF(rc == VIDA_ENOMEM, "%d: %s", rc, vida_last_error());
    CHECKF(strstr(vida_last_error(), "clip 1: ") && strstr(vida_last_error(), "v300.mp4"), "%s",
           vida_last_error());
    vida_sampler_free(s);
    vida_video_free(v);
    free(out);
}

/* Review regression: DENSE by fps with a clip a hair longer than the video still gives one clip. */
TEST(sampler, dense_fps_clip_just_longer_than_the_video)
{
    vida_video *v = open_video(video300());
    CHECK(v);
    vida_video_info in = {.size = sizeof in};
    CHECK_OK(vida_video_get_info(v, &in));
    vida_sampler_params p;
    vida_sampler_params_init(&p);
    p.frames = 8;
    p.fps = 8 / (in.duration + 5e-7);
    p.clip_mode = VIDA_CLIPS_DENSE;
    p.clips = 0;
    vida_sampler *s = make_sampler(&p);
    int64_t nv = -1, shape[5];
    int rc = s ? vida_sampler_plan(s, v, &nv, shape) : VIDA_EINVAL;
    vida_sampler_free(s);
    vida_video_free(v);
    CHECKF(rc == VIDA_OK && nv == 1, "rc %d, %lld views", rc, (long long)nv);
}

/*
 * Windows: v300 at 25 fps, window [4.0, 6.0) s = frames 100..149 (50 frames).
 * Every mode stays inside; UNIFORM's first and last clips touch its ends;
 * START counts from the window's first frame; fps mode picks by time within
 * it; a short clip repeats the window's last frame, not the video's; an
 * empty window or one past the end is VIDA_EINVAL.
 */
TEST(sampler, window)
{
    vida_video *v = open_video(video300());
    vida_sampler_params p;
    vida_sampler *s;
    int64_t idx[8 * 16];
    CHECK(v);
    vida_sampler_params_init(&p);
    p.frames = 8;
    p.stride = 2; /* span 15 */
    p.clip_mode = VIDA_CLIPS_UNIFORM;
    p.clips = 4;
    CHECK((s = make_sampler(&p)));
    CHECK_OK(vida_sampler_indices_window(s, v, 0, 4.0, 6.0, idx, 32));
    CHECKF(idx[0] == 100 && idx[31] == 149, "first %lld, last %lld", (long long)idx[0],
           (long long)idx[31]);
    for (int i = 0; i < 32; i++)
        CHECK(idx[i] >= 100 && idx[i] <= 149);
    /* (0, -1) is the whole video: the same as vida_sampler_indices */
    {
        int64_t a[32], b[32];
        CHECK_OK(vida_sampler_indices_window(s, v, 0, 0, -1, a, 32));
        CHECK_OK(vida_sampler_indices(s, v, 0, b, 32));
        CHECK(memcmp(a, b, sizeof a) == 0 && a[31] == 299);
    }
    vida_sampler_free(s);
    /* RANDOM over many seeds stays inside and reaches both ends of the start range */
    p.clip_mode = VIDA_CLIPS_RANDOM;
    p.clips = 16;
    CHECK((s = make_sampler(&p)));
    {
        int64_t lo = 1000, hi = -1;
        for (uint64_t seed = 0; seed < 20; seed++) {
            CHECK_OK(vida_sampler_indices_window(s, v, seed, 4.0, 6.0, idx, 128));
            for (int k = 0; k < 16; k++) {
                CHECK(idx[k * 8] >= 100 && idx[k * 8 + 7] <= 149);
                lo = idx[k * 8] < lo ? idx[k * 8] : lo;
                hi = idx[k * 8] > hi ? idx[k * 8] : hi;
            }
        }
        CHECKF(lo == 100 && hi == 135, "starts %lld..%lld", (long long)lo, (long long)hi);
    }
    vida_sampler_free(s);
    /* START: start_frame 3 of the window is frame 103; start_time 1.0 s is frame 125 */
    p.clip_mode = VIDA_CLIPS_START;
    p.start_frame = 3;
    CHECK((s = make_sampler(&p)));
    CHECK_OK(vida_sampler_indices_window(s, v, 0, 4.0, 6.0, idx, 8));
    CHECK(idx[0] == 103 && idx[7] == 117);
    vida_sampler_free(s);
    p.start_time = 1.0;
    CHECK((s = make_sampler(&p)));
    CHECK_OK(vida_sampler_indices_window(s, v, 0, 4.0, 6.0, idx, 8));
    CHECK(idx[0] == 125 && idx[7] == 139);
    vida_sampler_free(s);
    /* a clip longer than the window repeats the window's last frame */
    p.clip_mode = VIDA_CLIPS_CENTER;
    p.start_time = -1;
    p.frames = 16;
    p.stride = 4; /* span 61 > 50 */
    CHECK((s = make_sampler(&p)));
    CHECK_OK(vida_sampler_indices_window(s, v, 0, 4.0, 6.0, idx, 16));
    CHECKF(idx[0] == 100 && idx[12] == 148 && idx[13] == 149 && idx[15] == 149, "%lld %lld %lld",
           (long long)idx[0], (long long)idx[12], (long long)idx[15]);
    vida_sampler_free(s);
    /* fps mode: 5 fps from the window's centre clip; frames 5 apart, inside */
    p.frames = 4;
    p.stride = 1;
    p.fps = 5;
    CHECK((s = make_sampler(&p)));
    CHECK_OK(vida_sampler_indices_window(s, v, 0, 4.0, 6.0, idx, 4));
    /* clip lasts 0.8 s, room 1.2 s, centre start 0.6 s: 4.6 s = frame 115 */
    CHECKF(idx[0] == 115 && idx[1] == 120 && idx[3] == 130, "%lld %lld %lld", (long long)idx[0],
           (long long)idx[1], (long long)idx[3]);
    /* bad windows */
    CHECK(vida_sampler_indices_window(s, v, 0, 6.0, 6.0, idx, 4) == VIDA_EINVAL);
    CHECK(vida_sampler_indices_window(s, v, 0, -1.0, 2.0, idx, 4) == VIDA_EINVAL);
    CHECK(vida_sampler_indices_window(s, v, 0, 12.5, -1, idx, 4) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "window"));
    vida_sampler_free(s);
    vida_video_free(v);
}
