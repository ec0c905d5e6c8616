/*
 * Tests of vida_video (include/vidaction/video.h) on the videos that
 * test/video/make-videos.sh encodes (see test/video/README.md): every frame
 * shows its own number (framecode.h), so each read is checked against the
 * index asked for. Pixels are compared with the ffmpeg program's own decode
 * (run through popen). Broken inputs are made here, in the temporary folder.
 *
 * A case skips (prints "skip: ...") only when its video is absent and listed
 * in skipped.txt, i.e. this ffmpeg had no encoder for it. The measured
 * numbers (pixel differences, seeks, frames decoded) are always printed;
 * VIDA_TEST_VERBOSE=1 also prints what each bad input returned.
 */
#include <limits.h>
#include <stdint.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "framecode.h"
#include "test.h"
#include "vidaction.h"

/* Details of each case go to stdout only with VIDA_TEST_VERBOSE=1. */
static int verbose(void)
{
    const char *e = getenv("VIDA_TEST_VERBOSE");
    return e && *e && strcmp(e, "0") != 0;
}
#define NOTE(...)                                                                                  \
    do {                                                                                           \
        if (verbose())                                                                             \
            printf(__VA_ARGS__);                                                                   \
    } while (0)

/* --- the videos ---------------------------------------------------------- */

struct vfile {
    const char *name;
    int64_t n_frames;
    int width, height; /* after rotation */
};

/* What make-videos.sh makes (test/video/README.md). */
static const struct vfile vfiles[] = {
    {"h264.mp4", 300, 160, 120},          {"h264.mkv", 300, 160, 120},
    {"h264.avi", 300, 160, 120},          {"h264.ts", 300, 160, 120},
    {"h264.mov", 300, 160, 120},          {"h264_gop300.mp4", 600, 160, 120},
    {"h264_gop16.mp4", 300, 160, 120},    {"h264_opengop.mkv", 300, 160, 120},
    {"h264_faststart.mp4", 50, 160, 120}, {"one_frame.mp4", 1, 160, 120},
    {"short.mp4", 10, 160, 120},          {"h264_fullrange.mp4", 300, 160, 120},
    {"h264_10bit.mp4", 300, 160, 120},    {"hevc_10bit.mp4", 300, 160, 120},
    {"vfr.mkv", 100, 160, 120},           {"rot90.mp4", 100, 120, 160},
    {"rot180.mp4", 100, 160, 120},        {"rot270.mp4", 100, 120, 160},
    {"sizechange.mkv", 100, 160, 120},    {"hevc.mp4", 300, 160, 120},
    {"hevc.mkv", 300, 160, 120},          {"vp8.webm", 300, 160, 120},
    {"vp9.webm", 300, 192, 144},          {"av1.mkv", 300, 160, 120},
    {"mpeg4.avi", 300, 160, 120},         {"odd.avi", 50, 161, 121},
    {"mjpeg.avi", 150, 160, 120},         {"mpeg2.ts", 300, 160, 120},
    {"h264_444.mp4", 50, 160, 120},       {"h264_gray.mp4", 50, 160, 120},
    {"h264_rgb.mkv", 50, 160, 120},       {"odd_fps.mp4", 50, 160, 120},
    {"pal8.mov", 10, 64, 48},             {"ts_backward.ts", 24, 96, 72},
};
#define N_VFILES ((int)(sizeof vfiles / sizeof vfiles[0]))

static const char *video_dir(void)
{
    const char *d = getenv("VIDA_TEST_VIDEOS");
    return d && *d ? d : "build/testvideos";
}

static void video_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", video_dir(), name);
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* 1 when make-videos.sh listed name in skipped.txt (no encoder for it). */
static int was_skipped(const char *name)
{
    char path[512], line[256];
    int found = 0;
    video_path(path, sizeof path, "skipped.txt");
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    while (!found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        found = strcmp(line, name) == 0;
    }
    fclose(f);
    return found;
}

/*
 * Sets path to the video name. Returns 1 when it is there, 0 when it may be
 * skipped (printing why); fails the case (vt_failed_now) when it is missing
 * for another reason.
 */
static int have_video(char *path, size_t n, const char *name)
{
    video_path(path, n, name);
    if (file_exists(path))
        return 1;
    if (was_skipped(name)) {
        printf("  skip: %s missing (ffmpeg had no encoder for it)\n", name);
        return 0;
    }
    fprintf(stderr, "  %s is missing: run `make test-videos`\n", path);
    vt_failed_now = 1;
    return 0;
}

/* Opens a video (default params) or reports why not; *v NULL when skipped. */
#define OPEN_VIDEO(v, name, path)                                                                  \
    do {                                                                                           \
        v = NULL;                                                                                  \
        if (!have_video(path, sizeof path, name))                                                  \
            return;                                                                                \
        CHECK_OK(vida_video_open(&v, NULL, path, NULL));                                           \
    } while (0)

static vida_video_info get_info(const vida_video *v)
{
    vida_video_info info;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    if (vida_video_get_info(v, &info) != VIDA_OK)
        info.n_frames = -1;
    return info;
}

static vida_video_stats get_stats(const vida_video *v)
{
    vida_video_stats s;
    memset(&s, 0, sizeof s);
    s.size = sizeof s;
    if (vida_video_get_stats(v, &s) != VIDA_OK)
        s.seeks = -1;
    return s;
}

/* A small deterministic generator (the tests must not depend on rand()). */
static uint32_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

/*
 * Reads indices[0..n) of v with geometry g and checks that frame k shows
 * number indices[k] in orientation orient (-1: any). Fails the case otherwise.
 */
static void read_and_check(vida_video *v, const char *what, const int64_t *idx, int64_t n,
                           const vida_frame_geometry *g, int orient)
{
    int w = 0, h = 0;
    CHECK_OK(vida_video_output_size(v, g, &w, &h));
    size_t fb = (size_t)w * h * 3, bytes = fb * (size_t)n;
    uint8_t *out = malloc(bytes);
    CHECK(out);
    int rc = vida_video_read(v, idx, n, g, out, bytes);
    if (rc != VIDA_OK) {
        fprintf(stderr, "  %s: read of %lld frames (first %lld) returned %d: %s\n", what,
                (long long)n, (long long)idx[0], rc, vida_last_error());
        free(out);
        vt_failed_now = 1;
        return;
    }
    for (int64_t k = 0; k < n; k++) {
        int num = -1, o = vt_frame_orientation(out + fb * (size_t)k, w, h, &num);
        if (o < 0 || num != idx[k] || (orient >= 0 && o != orient)) {
            fprintf(stderr,
                    "  %s: frame %lld (item %lld of %lld) reads as %d, orientation %d "
                    "(want %d) at %dx%d\n",
                    what, (long long)idx[k], (long long)k, (long long)n, num, o, orient, w, h);
            free(out);
            vt_failed_now = 1;
            return;
        }
    }
    free(out);
}

/* --- frame identity -------------------------------------------------------- */

/* Random and uniform reads of one video; every frame must be the one asked for. */
static void identity_one(const struct vfile *f, const vida_video_params *p, uint64_t seed)
{
    char path[512];
    vida_video *v = NULL;
    if (!have_video(path, sizeof path, f->name))
        return;
    int rc = vida_video_open(&v, NULL, path, p);
    CHECKF(rc == VIDA_OK, "open %s: %d %s", f->name, rc, vida_last_error());
    vida_video_info info = get_info(v);
    int64_t n = info.n_frames;
    if (n != f->n_frames || info.width != f->width || info.height != f->height) {
        fprintf(stderr, "  %s: n_frames %lld %dx%d, expected %lld %dx%d\n", f->name, (long long)n,
                info.width, info.height, (long long)f->n_frames, f->width, f->height);
        vida_video_free(v);
        vt_failed_now = 1;
        return;
    }
    int orient = info.rotation / 90;
    double t0 = -1, tprev = -1;
    if (vida_video_frame_time(v, 0, &t0) != VIDA_OK || t0 != 0.0) {
        fprintf(stderr, "  %s: frame_time(0) = %g, expected 0\n", f->name, t0);
        vt_failed_now = 1;
    }
    for (int64_t i = 0; i < n && !vt_failed_now; i++) {
        double t = -1;
        if (vida_video_frame_time(v, i, &t) != VIDA_OK || (i > 0 && !(t > tprev))) {
            fprintf(stderr, "  %s: frame_time(%lld) = %g after %g\n", f->name, (long long)i, t,
                    tprev);
            vt_failed_now = 1;
        }
        tprev = t;
    }

    /* One call with first, last, repeats and backward jumps. */
    int64_t idx[24];
    int m = 0;
    idx[m++] = 0;
    idx[m++] = n - 1;
    for (int k = 0; k < 14; k++)
        idx[m++] = (int64_t)(rng_next(&seed) % (uint32_t)n);
    idx[m++] = idx[3];
    idx[m++] = n / 2;
    idx[m++] = n > 1 ? n / 2 - 1 : 0;
    idx[m++] = 0;
    idx[m++] = n - 1;
    idx[m++] = idx[5];
    char what[600];
    snprintf(what, sizeof what, "%s (random set)", f->name);
    if (!vt_failed_now)
        read_and_check(v, what, idx, m, NULL, orient);

    /* Single-frame calls in random order: seeks back and forth between calls. */
    snprintf(what, sizeof what, "%s (single reads)", f->name);
    for (int k = 0; k < 8 && !vt_failed_now; k++) {
        int64_t i = k == 0 ? n - 1 : (int64_t)(rng_next(&seed) % (uint32_t)n);
        read_and_check(v, what, &i, 1, NULL, orient);
    }

    /* Uniform clips: 8 frames, stride 1..4, from a random start. */
    snprintf(what, sizeof what, "%s (uniform clip)", f->name);
    for (int stride = 1; stride <= 4 && !vt_failed_now; stride *= 2) {
        int64_t clip[8], span = 7 * stride + 1;
        int64_t start = n > span ? (int64_t)(rng_next(&seed) % (uint32_t)(n - span + 1)) : 0;
        for (int k = 0; k < 8; k++)
            clip[k] = (start + k * stride) % n;
        read_and_check(v, what, clip, 8, NULL, orient);
    }
    vida_video_free(v);
}

TEST(video, frame_identity_all_files)
{
    int failed = 0;
    for (int i = 0; i < N_VFILES; i++) {
        uint64_t seed = 1234 + (uint64_t)i * 77;
        identity_one(&vfiles[i], NULL, seed);
        failed |= vt_failed_now;
        vt_failed_now = 0;
    }
    vt_failed_now = failed;
}

TEST(video, frame_identity_threads)
{
    vida_video_params p;
    vida_video_params_init(&p);
    p.threads = 2;
    static const char *const names[] = {"h264.mp4", "hevc.mkv", "h264_opengop.mkv", "vp9.webm"};
    int failed = 0;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        for (int i = 0; i < N_VFILES; i++)
            if (strcmp(vfiles[i].name, names[k]) == 0) {
                identity_one(&vfiles[i], &p, 99 + k);
                failed |= vt_failed_now;
                vt_failed_now = 0;
            }
    vt_failed_now = failed;
}

/* --- info ------------------------------------------------------------------- */

TEST(video, info_fields)
{
    char path[512];
    vida_video *v;
    OPEN_VIDEO(v, "h264.mp4", path);
    vida_video_info in = get_info(v);
    vida_video_free(v);
    NOTE("  h264.mp4: codec %s format %s pix_fmt %s n %lld header %lld dur %.3f avg %.3f "
         "real %.3f start %.3f keys %lld gap %lld vfr %d seq %d\n",
         in.codec, in.format, in.pix_fmt, (long long)in.n_frames, (long long)in.header_frames,
         in.duration, in.avg_fps, in.real_fps, in.start_time, (long long)in.n_keyframes,
         (long long)in.max_keyframe_gap, in.vfr, in.sequential);
    CHECK(strcmp(in.codec, "h264") == 0);
    CHECK(strstr(in.format, "mp4") != NULL);
    CHECK(strcmp(in.pix_fmt, "yuv420p") == 0);
    CHECK(in.n_frames == 300 && in.header_frames == 300);
    CHECK(fabs(in.duration - 12.0) < 1e-6);
    CHECK(fabs(in.avg_fps - 25.0) < 1e-6 && fabs(in.real_fps - 25.0) < 1e-6);
    CHECK(fabs(in.start_time) < 1e-9);
    CHECK(in.vfr == 0 && in.sequential == 0 && in.rotation == 0);
    CHECK(in.bit_depth == 8 && in.full_range == 0);
    CHECK(in.coded_width == 160 && in.coded_height == 120);
    /* x264's default GOP of 250: keyframes at 0 and 250 (ffprobe agrees) */
    CHECK(in.n_keyframes == 2 && in.max_keyframe_gap == 250);

    OPEN_VIDEO(v, "h264_gop300.mp4", path);
    in = get_info(v);
    vida_video_free(v);
    CHECK(in.n_frames == 600 && in.n_keyframes == 2 && in.max_keyframe_gap == 300);

    OPEN_VIDEO(v, "h264_gop16.mp4", path);
    in = get_info(v);
    vida_video_free(v);
    CHECK(in.n_keyframes == 19 && in.max_keyframe_gap == 16);

    OPEN_VIDEO(v, "h264.ts", path);
    in = get_info(v);
    vida_video_free(v);
    NOTE("  h264.ts: start %.3f dur %.3f\n", in.start_time, in.duration);
    CHECK(in.start_time > 0.5 && fabs(in.duration - 12.0) < 1e-3);

    OPEN_VIDEO(v, "h264_fullrange.mp4", path);
    in = get_info(v);
    vida_video_free(v);
    CHECK(in.full_range == 1 && in.bit_depth == 8);

    static const struct {
        const char *name, *codec;
        int bit_depth, coded_w, coded_h;
    } cods[] = {
        {"hevc.mp4", "hevc", 8, 160, 120},        {"vp8.webm", "vp8", 8, 160, 120},
        {"vp9.webm", "vp9", 8, 192, 144},         {"av1.mkv", "av1", 8, 160, 120},
        {"mpeg4.avi", "mpeg4", 8, 160, 120},      {"odd.avi", "mpeg4", 8, 161, 121},
        {"mjpeg.avi", "mjpeg", 8, 160, 120},      {"mpeg2.ts", "mpeg2video", 8, 160, 120},
        {"h264_10bit.mp4", "h264", 10, 160, 120}, {"hevc_10bit.mp4", "hevc", 10, 160, 120},
        {"rot90.mp4", "h264", 8, 160, 120},       {"sizechange.mkv", "h264", 8, 160, 120},
    };
    for (size_t k = 0; k < sizeof cods / sizeof cods[0]; k++) {
        video_path(path, sizeof path, cods[k].name);
        if (!file_exists(path) && was_skipped(cods[k].name))
            continue;
        CHECK_OK(vida_video_open(&v, NULL, path, NULL));
        in = get_info(v);
        vida_video_free(v);
        CHECKF(strcmp(in.codec, cods[k].codec) == 0 && in.bit_depth == cods[k].bit_depth &&
                   in.coded_width == cods[k].coded_w && in.coded_height == cods[k].coded_h,
               "%s: codec %s depth %d coded %dx%d", cods[k].name, in.codec, in.bit_depth,
               in.coded_width, in.coded_height);
        if (strcmp(cods[k].name, "mjpeg.avi") == 0)
            CHECK(in.full_range == 1);
        if (cods[k].bit_depth == 10)
            CHECK(strcmp(in.pix_fmt, "yuv420p10le") == 0);
    }
}

/* --- time and variable frame rate --------------------------------------------- */

TEST(video, vfr_frame_at)
{
    char path[512], ptspath[512];
    vida_video *v;
    OPEN_VIDEO(v, "vfr.mkv", path);
    double pts[128];
    int np = 0;
    video_path(ptspath, sizeof ptspath, "vfr.pts");
    FILE *f = fopen(ptspath, "r");
    if (!f)
        vida_video_free(v);
    CHECKF(f, "cannot read %s", ptspath);
    while (np < 128 && fscanf(f, "%lf", &pts[np]) == 1)
        np++;
    fclose(f);
    vida_video_info in = get_info(v);
    NOTE("  vfr.mkv: %lld frames, vfr %d, avg_fps %.3f, real_fps %.3f, duration %.3f\n",
         (long long)in.n_frames, in.vfr, in.avg_fps, in.real_fps, in.duration);
    if (np != 100 || in.n_frames != 100 || in.vfr != 1)
        vida_video_free(v);
    CHECK(np == 100 && in.n_frames == 100 && in.vfr == 1);

    int bad = 0;
    for (int i = 0; i < np && !bad; i++) {
        double t = -1, want = pts[i] - pts[0];
        if (vida_video_frame_time(v, i, &t) != VIDA_OK || fabs(t - want) > 1e-6) {
            fprintf(stderr, "  vfr.mkv: frame_time(%d) = %.6f, ffprobe says %.6f\n", i, t, want);
            bad = 1;
        }
    }
    /* Times at, just after, between and just before frames; before and after the video. */
    for (int i = 0; i < np && !bad; i++) {
        double t0 = pts[i] - pts[0], t1 = i + 1 < np ? pts[i + 1] - pts[0] : t0 + 1.0;
        double ts[4] = {t0, t0 + 0.0005, (t0 + t1) / 2, t1 - 0.0005};
        for (int k = 0; k < 4 && !bad; k++) {
            int64_t got = -1;
            if (vida_video_frame_at(v, ts[k], &got) != VIDA_OK || got != i) {
                fprintf(stderr, "  vfr.mkv: frame_at(%.4f) = %lld, ffprobe says frame %d\n", ts[k],
                        (long long)got, i);
                bad = 1;
            }
        }
    }
    int64_t got = -1;
    if (!bad && (vida_video_frame_at(v, -5.0, &got) != VIDA_OK || got != 0)) {
        fprintf(stderr, "  vfr.mkv: frame_at(-5) = %lld\n", (long long)got);
        bad = 1;
    }
    if (!bad && (vida_video_frame_at(v, 1e6, &got) != VIDA_OK || got != np - 1)) {
        fprintf(stderr, "  vfr.mkv: frame_at(1e6) = %lld\n", (long long)got);
        bad = 1;
    }
    if (bad) {
        vida_video_free(v);
        CHECK(!bad);
    }
    /* Sample by time: the frame shown at t = 0, 0.25, ..., read back. */
    int64_t idx[40];
    int m = 0;
    for (double t = 0; t < 9.9 && m < 40; t += 0.25) {
        int want = 0;
        for (int i = 0; i < np; i++)
            if (pts[i] - pts[0] <= t + 1e-9)
                want = i;
        CHECK_OK(vida_video_frame_at(v, t, &idx[m]));
        if (idx[m] != want)
            vida_video_free(v);
        CHECKF(idx[m] == want, "frame_at(%.2f) = %lld, want %d", t, (long long)idx[m], want);
        m++;
    }
    read_and_check(v, "vfr.mkv (by time)", idx, m, NULL, 0);
    vida_video_free(v);
}

/* --- seeks and decoding work ----------------------------------------------------- */

TEST(video, stats_seeks_bounded)
{
    char path[512];
    vida_video *v;
    OPEN_VIDEO(v, "h264.mp4", path);
    vida_video_stats s0 = get_stats(v), s1, s2;
    CHECK(s0.seeks == 0 && s0.frames_decoded == 0 && s0.frames_converted == 0);
    int64_t a[3] = {10, 11, 12};
    read_and_check(v, "h264.mp4", a, 3, NULL, 0);
    s1 = get_stats(v);
    printf("  h264.mp4 {10,11,12}: seeks %lld packets %lld decoded %lld converted %lld\n",
           (long long)s1.seeks, (long long)s1.packets, (long long)s1.frames_decoded,
           (long long)s1.frames_converted);
    if (vt_failed_now || s1.seeks > 1 || s1.frames_converted != 3 || s1.frames_decoded > 13 + 8)
        vida_video_free(v);
    CHECK(!vt_failed_now);
    CHECK(s1.seeks <= 1 && s1.frames_converted == 3 && s1.frames_decoded <= 13 + 8);
    /*
     * The next frames right after: at most one seek, bounded work (the
     * decoder may have skipped them as unwanted in the call before).
     */
    int64_t b[2] = {13, 14};
    read_and_check(v, "h264.mp4", b, 2, NULL, 0);
    s2 = get_stats(v);
    printf("  h264.mp4 then {13,14}: seeks +%lld decoded +%lld\n", (long long)(s2.seeks - s1.seeks),
           (long long)(s2.frames_decoded - s1.frames_decoded));
    if (s2.seeks - s1.seeks > 1 || s2.frames_decoded - s1.frames_decoded > 15 + 8)
        vida_video_free(v);
    CHECK(s2.seeks - s1.seeks <= 1 && s2.frames_decoded - s1.frames_decoded <= 15 + 8);
    /* Forward in the same GOP, to frames the decoder has not reached: no seek. */
    int64_t c[2] = {40, 60};
    for (int k = 0; k < 2; k++) {
        s1 = get_stats(v);
        read_and_check(v, "h264.mp4", &c[k], 1, NULL, 0);
        s2 = get_stats(v);
        printf("  h264.mp4 then {%lld}: seeks +%lld decoded +%lld\n", (long long)c[k],
               (long long)(s2.seeks - s1.seeks),
               (long long)(s2.frames_decoded - s1.frames_decoded));
        if (vt_failed_now || s2.seeks != s1.seeks || s2.frames_decoded - s1.frames_decoded > 20 + 8)
            vida_video_free(v);
        CHECK(!vt_failed_now);
        CHECK(s2.seeks == s1.seeks && s2.frames_decoded - s1.frames_decoded <= 20 + 8);
    }
    vida_video_free(v);

    /* GOP 300: a read decodes at most the frames from its keyframe (plus reorder delay). */
    OPEN_VIDEO(v, "h264_gop300.mp4", path);
    static const int64_t want[][2] = {{299, 300}, {310, 11}, {599, 300}, {5, 6}, {450, 151}};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        s1 = get_stats(v);
        read_and_check(v, "h264_gop300.mp4", &want[k][0], 1, NULL, 0);
        s2 = get_stats(v);
        int64_t dec = s2.frames_decoded - s1.frames_decoded;
        printf("  h264_gop300.mp4 frame %lld: seeks +%lld decoded +%lld (bound %lld)\n",
               (long long)want[k][0], (long long)(s2.seeks - s1.seeks), (long long)dec,
               (long long)want[k][1] + 8);
        if (vt_failed_now || dec > want[k][1] + 8 || s2.seeks - s1.seeks > 1)
            vida_video_free(v);
        CHECK(!vt_failed_now);
        CHECK(dec <= want[k][1] + 8 && s2.seeks - s1.seeks <= 1);
    }
    vida_video_free(v);

    /* max_decode_frames caps the work of one read. */
    vida_video_params p;
    vida_video_params_init(&p);
    p.max_decode_frames = 50;
    CHECK_OK(vida_video_open(&v, NULL, path, &p));
    int64_t far = 250, near = 5;
    uint8_t *out = malloc(160 * 120 * 3);
    CHECK(out);
    int rc = vida_video_read(v, &far, 1, NULL, out, 160 * 120 * 3);
    NOTE("  max_decode_frames 50, frame 250: %d (%s)\n", rc, vida_last_error());
    int rc2 = vida_video_read(v, &near, 1, NULL, out, 160 * 120 * 3);
    int num = rc2 == VIDA_OK ? vt_frame_read(out, 160, 120) : -1;
    free(out);
    vida_video_free(v);
    CHECK(rc == VIDA_ENOMEM && strstr(vida_last_error(), "h264_gop300.mp4") != NULL);
    CHECK(rc2 == VIDA_OK && num == 5);
}

/* --- pixels against the ffmpeg program ------------------------------------------------ */

static const int64_t pix_idx[10] = {0, 1, 2, 3, 37, 38, 60, 61, 62, 99};

/* pix_idx for a video of n >= 10 frames: the indices past the end become its last ones. */
static void pixel_indices(int64_t idx[10], int64_t n)
{
    for (int k = 0; k < 10; k++)
        idx[k] = pix_idx[k] < n ? pix_idx[k] : n - (10 - k);
}

/*
 * The ffmpeg program's rgb24 decode of frames idx[0..10) (ascending) of
 * path, scaled to w x h when scale is set (2: scaled in YUV 4:4:4, then
 * converted to RGB; 3: the same, keeping full range), which must be exactly 10*w*h*3 bytes. NULL (with a
 * message) when it is not.
 */
static uint8_t *ffmpeg_frames(const char *path, const int64_t idx[10], int w, int h, int scale)
{
    char cmd[2048], sel[512];
    size_t len = 0;
    if (strchr(path, '\''))
        return NULL;
    for (int k = 0; k < 10; k++)
        len += (size_t)snprintf(sel + len, sizeof sel - len, "%seq(n\\,%lld)", k ? "+" : "",
                                (long long)idx[k]);
    if (scale)
        snprintf(sel + len, sizeof sel - len, ",scale=%d:%d%s%s", w, h,
                 scale == 3 ? ":out_range=full" : "", scale >= 2 ? ",format=yuv444p" : "");
    snprintf(cmd, sizeof cmd,
             "ffmpeg -hide_banner -loglevel error -nostdin -i '%s' -an -vf 'select=%s' "
             "-fps_mode passthrough -frames:v 10 -f rawvideo -pix_fmt rgb24 -",
             path, sel);
    FILE *f = popen(cmd, "r");
    if (!f) {
        fprintf(stderr, "  cannot run: %s\n", cmd);
        return NULL;
    }
    size_t bytes = (size_t)w * h * 3 * 10;
    uint8_t *buf = malloc(bytes);
    size_t got = buf ? fread(buf, 1, bytes, f) : 0;
    int extra = 0;
    while (fgetc(f) != EOF)
        extra++;
    int st = pclose(f);
    if (!buf || got != bytes || extra || st != 0) {
        fprintf(stderr, "  `%s` gave %zu+%d bytes (status %d), expected %zu\n", cmd, got, extra, st,
                bytes);
        free(buf);
        return NULL;
    }
    return buf;
}

/*
 * Opens path and reads the 10 frames of pixel_indices at native size (*ours),
 * and the ffmpeg program's same frames, autorotated (*ref, NULL if it failed);
 * fills *in and idx. Returns the open's or the read's code. Free both.
 */
static int read_with_ffmpeg(const char *path, vida_video_info *in, int64_t idx[10], uint8_t **ours,
                            uint8_t **ref)
{
    vida_video *v = NULL;
    int rc = vida_video_open(&v, NULL, path, NULL);
    memset(in, 0, sizeof *in);
    *ours = *ref = NULL;
    if (rc != VIDA_OK)
        return rc;
    *in = get_info(v);
    size_t fb = (size_t)in->width * in->height * 3;
    pixel_indices(idx, in->n_frames);
    *ours = malloc(fb * 10);
    *ref = ffmpeg_frames(path, idx, in->width, in->height, 0);
    rc = *ours ? vida_video_read(v, idx, 10, NULL, *ours, fb * 10) : VIDA_ENOMEM;
    vida_video_free(v);
    return rc;
}

static void pixels_one(const char *name)
{
    char path[512];
    vida_video_info in;
    int64_t idx[10];
    uint8_t *ours, *ref;
    if (!have_video(path, sizeof path, name))
        return;
    int rc = read_with_ffmpeg(path, &in, idx, &ours, &ref);
    int w = in.width, h = in.height;
    size_t fb = (size_t)w * h * 3;
    if (rc != VIDA_OK || !ref) {
        fprintf(stderr, "  %s: read %d (%s), reference %s\n", name, rc, vida_last_error(),
                ref ? "ok" : "missing");
        free(ours);
        free(ref);
        vt_failed_now = 1;
        return;
    }
    double mad[3] = {0, 0, 0};
    int maxd = 0;
    for (size_t i = 0; i < fb * 10; i++) {
        int d = abs((int)ours[i] - (int)ref[i]);
        mad[i % 3] += d;
        if (d > maxd)
            maxd = d;
    }
    for (int c = 0; c < 3; c++)
        mad[c] /= (double)(fb * 10 / 3);
    int o_ours = -1, o_ref = -1, n_ours = -1, n_ref = -1;
    o_ours = vt_frame_orientation(ours + fb * 4, w, h, &n_ours);
    o_ref = vt_frame_orientation(ref + fb * 4, w, h, &n_ref);
    printf("  %-20s %dx%d rot %3d: MAD r %.3f g %.3f b %.3f (max %d), orientation ours %d "
           "ffmpeg %d\n",
           name, w, h, in.rotation, mad[0], mad[1], mad[2], maxd, o_ours, o_ref);
    free(ours);
    free(ref);
    CHECKF(n_ref == idx[4] && n_ours == idx[4], "%s: frame %lld reads %d (ours) %d (ffmpeg)", name,
           (long long)idx[4], n_ours, n_ref);
    CHECKF(o_ours == o_ref && o_ours == in.rotation / 90,
           "%s: orientation %d, ffmpeg %d, info.rotation %d", name, o_ours, o_ref, in.rotation);
    CHECKF(mad[0] <= 1.0 && mad[1] <= 1.0 && mad[2] <= 1.0, "%s: MAD %.3f %.3f %.3f > 1", name,
           mad[0], mad[1], mad[2]);
}

TEST(video, pixels_match_ffmpeg)
{
    static const char *const names[] = {
        "h264.mp4",  "hevc.mp4",   "vp9.webm",   "h264_10bit.mp4",     "hevc_10bit.mp4",
        "rot90.mp4", "rot180.mp4", "rot270.mp4", "h264_fullrange.mp4", "mjpeg.avi",
        "odd.avi",   "vp8.webm",   "av1.mkv",    "mpeg2.ts",           "h264_opengop.mkv",
        "h264_444.mp4", "h264_gray.mp4", "h264_rgb.mkv",
    };
    int failed = 0;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        pixels_one(names[k]);
        failed |= vt_failed_now;
        vt_failed_now = 0;
    }
    vt_failed_now = failed;
}

/* --- geometry ------------------------------------------------------------------ */

static void geom_case(vida_video *v, const char *what, const vida_frame_geometry *g, int want_w,
                      int want_h, int orient)
{
    int w = 0, h = 0;
    CHECK_OK(vida_video_output_size(v, g, &w, &h));
    CHECKF(w == want_w && h == want_h, "%s: output size %dx%d, want %dx%d", what, w, h, want_w,
           want_h);
    static const int64_t idx[4] = {0, 150, 299, 7};
    vida_video_info in = get_info(v);
    int64_t use[4];
    for (int k = 0; k < 4; k++)
        use[k] = idx[k] % in.n_frames;
    read_and_check(v, what, use, 4, g, orient);
}

/* Reads frame index of v with g into a malloc'd buffer; sets *w, *h. */
static uint8_t *read_one(vida_video *v, int64_t index, const vida_frame_geometry *g, int *w, int *h)
{
    if (vida_video_output_size(v, g, w, h) != VIDA_OK)
        return NULL;
    size_t bytes = (size_t)*w * *h * 3;
    uint8_t *out = malloc(bytes);
    if (out && vida_video_read(v, &index, 1, g, out, bytes) != VIDA_OK) {
        free(out);
        out = NULL;
    }
    return out;
}

/*
 * Scaled output against the ffmpeg program's scale filter (bicubic, its
 * default). vida_video scales 8-bit YUV to YUV 4:4:4 and then converts to RGB
 * (docs/video.md), which is exactly ffmpeg's `scale=W:H,format=yuv444p`
 * followed by its rgb24 conversion; other sources (10-bit) scale straight to
 * RGB, exactly ffmpeg's `scale=W:H`.
 */
TEST(video, scaled_pixels_match_ffmpeg)
{
    /*
     * ffmpeg rotates, then scales; vida_video scales, then rotates (the same
     * geometry, resampled in the other order), hence the wider bound there.
     */
    static const struct {
        const char *name;
        int short_side, scale_w, scale_h, chain;
        double max_mad;
    } cases[] = {
        {"h264.mp4", 64, 0, 0, 2, 0.0},    {"h264.mp4", 0, 96, 96, 2, 0.0},
        {"h264.mp4", 0, 320, 240, 2, 0.0}, {"rot90.mp4", 64, 0, 0, 2, 4.0},
        {"vp9.webm", 112, 0, 0, 2, 0.0},   {"h264_10bit.mp4", 0, 80, 60, 1, 0.0},
        {"h264_fullrange.mp4", 64, 0, 0, 3, 0.0},
    };
    int failed = 0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char path[512];
        vida_video *v;
        vida_frame_geometry g;
        int w = 0, h = 0;
        if (!have_video(path, sizeof path, cases[k].name)) {
            failed |= vt_failed_now;
            vt_failed_now = 0;
            continue;
        }
        CHECK_OK(vida_video_open(&v, NULL, path, NULL));
        vida_frame_geometry_init(&g);
        g.short_side = cases[k].short_side;
        g.scale_width = cases[k].scale_w;
        g.scale_height = cases[k].scale_h;
        int64_t idx[10];
        pixel_indices(idx, get_info(v).n_frames);
        int rc = vida_video_output_size(v, &g, &w, &h);
        size_t fb = (size_t)w * h * 3;
        uint8_t *ours = rc == VIDA_OK ? malloc(fb * 10) : NULL;
        uint8_t *ref = ours ? ffmpeg_frames(path, idx, w, h, cases[k].chain) : NULL;
        if (ours)
            rc = vida_video_read(v, idx, 10, &g, ours, fb * 10);
        vida_video_free(v);
        double mad = 0;
        int maxd = 0;
        if (rc == VIDA_OK && ref) {
            for (size_t i = 0; i < fb * 10; i++) {
                int d = abs((int)ours[i] - (int)ref[i]);
                mad += d;
                maxd = d > maxd ? d : maxd;
            }
            mad /= (double)(fb * 10);
            printf("  %-16s -> %dx%d: MAD %.3f (max %d)\n", cases[k].name, w, h, mad, maxd);
        } else {
            fprintf(stderr, "  %s: scaled read %d (%s), reference %s\n", cases[k].name, rc,
                    vida_last_error(), ref ? "ok" : "missing");
            failed = 1;
        }
        free(ours);
        free(ref);
        if (mad > cases[k].max_mad) {
            fprintf(stderr, "  %s -> %dx%d: MAD %.3f > %.1f\n", cases[k].name, w, h, mad,
                    cases[k].max_mad);
            failed = 1;
        }
    }
    vt_failed_now = failed;
}

TEST(video, geometry)
{
    char path[512];
    vida_video *v;
    vida_frame_geometry g;
    OPEN_VIDEO(v, "h264.mp4", path);

    vida_frame_geometry_init(&g);
    geom_case(v, "native", &g, 160, 120, 0);
    geom_case(v, "NULL geometry", NULL, 160, 120, 0);
    g.short_side = 64; /* 160x120 -> 85.3x64 */
    geom_case(v, "short_side 64", &g, 85, 64, 0);
    g.crop_width = g.crop_height = 64;
    g.crop_x = g.crop_y = -1;
    geom_case(v, "short_side 64 + centre crop 64", &g, 64, 64, 0);
    g.flip = 1;
    geom_case(v, "short_side 64 + centre crop + flip", &g, 64, 64, 4);
    vida_frame_geometry_init(&g);
    g.scale_width = 80;
    g.scale_height = 60;
    geom_case(v, "scale 80x60", &g, 80, 60, 0);
    g.scale_width = 120;
    g.scale_height = 90;
    geom_case(v, "scale 120x90", &g, 120, 90, 0);
    vida_frame_geometry_init(&g);
    g.flip = 1;
    geom_case(v, "flip", &g, 160, 120, 4);
    if (vt_failed_now) {
        vida_video_free(v);
        return;
    }

    /* crop_x/y pick the region out of the native frame; flip mirrors it. */
    int nw, nh, cw, ch, fw, fh, cw2, ch2;
    uint8_t *nat = read_one(v, 42, NULL, &nw, &nh);
    vida_frame_geometry_init(&g);
    g.crop_width = 100;
    g.crop_height = 90;
    g.crop_x = 44;
    g.crop_y = 20;
    uint8_t *crop = read_one(v, 42, &g, &cw, &ch);
    g.flip = 1;
    uint8_t *flip = read_one(v, 42, &g, &fw, &fh);
    g.flip = 0;
    g.crop_x = g.crop_y = -1;
    g.crop_width = g.crop_height = 100;
    uint8_t *cen = read_one(v, 42, &g, &cw2, &ch2);
    g.crop_x = 30; /* (160-100)/2 */
    g.crop_y = 10;
    int ew, eh;
    uint8_t *at = read_one(v, 42, &g, &ew, &eh);
    double dc = 0, df = 0;
    int ok = nat && crop && flip && cen && at && cw == 100 && ch == 90 && fw == 100 && fh == 90;
    if (ok) {
        for (int y = 0; y < 90; y++)
            for (int x = 0; x < 100; x++)
                for (int c = 0; c < 3; c++) {
                    int a = nat[((size_t)(y + 20) * nw + x + 44) * 3 + c];
                    dc += abs(a - crop[((size_t)y * 100 + x) * 3 + c]);
                    df += abs(a - flip[((size_t)y * 100 + 99 - x) * 3 + c]);
                }
        dc /= 100 * 90 * 3;
        df /= 100 * 90 * 3;
        printf("  crop 100x90 at (44,20) vs native: MAD %.3f, flipped %.3f\n", dc, df);
    }
    int same = ok && cw2 == 100 && ch2 == 100 && ew == 100 && eh == 100 &&
               memcmp(cen, at, 100 * 100 * 3) == 0;
    int code = ok ? vt_frame_read(cen, 100, 100) : -1;
    free(nat);
    free(crop);
    free(flip);
    free(cen);
    free(at);
    if (!ok || dc > 1.0 || df > 1.0 || !same || code != 42)
        vida_video_free(v);
    CHECKF(ok, "a crop read failed: %s", vida_last_error());
    CHECK(dc <= 1.0 && df <= 1.0);
    CHECKF(same, "centred crop differs from crop at (30,10)");
    CHECK(code == 42);

    /* Bad geometry. */
    int w, h;
    uint8_t buf[16];
    int64_t i0 = 0;
    vida_frame_geometry_init(&g);
    g.crop_width = 161;
    g.crop_height = 10;
    int rc1 = vida_video_output_size(v, &g, &w, &h);
    int rc2 = vida_video_read(v, &i0, 1, &g, buf, sizeof buf);
    vida_frame_geometry_init(&g);
    g.short_side = 64;
    g.crop_width = g.crop_height = 65; /* larger than 85x64 */
    int rc3 = vida_video_output_size(v, &g, &w, &h);
    vida_frame_geometry_init(&g);
    g.crop_width = g.crop_height = 50;
    g.crop_x = 120; /* 120 + 50 > 160 */
    g.crop_y = 0;
    int rc4 = vida_video_output_size(v, &g, &w, &h);
    vida_frame_geometry_init(&g);
    g.short_side = -3;
    int rc5 = vida_video_output_size(v, &g, &w, &h);
    vida_frame_geometry_init(&g);
    g.size = 0;
    int rc6 = vida_video_output_size(v, &g, &w, &h);
    vida_video_free(v);
    NOTE("  bad geometry: %d %d %d %d %d %d\n", rc1, rc2, rc3, rc4, rc5, rc6);
    CHECK(rc1 == VIDA_EINVAL && rc2 == VIDA_EINVAL && rc3 == VIDA_EINVAL && rc4 == VIDA_EINVAL);
    CHECK(rc5 == VIDA_EINVAL && rc6 == VIDA_EINVAL);
}

TEST(video, geometry_rotated)
{
    static const char *const names[] = {"rot90.mp4", "rot180.mp4", "rot270.mp4"};
    for (int k = 0; k < 3; k++) {
        char path[512];
        vida_video *v;
        OPEN_VIDEO(v, names[k], path);
        vida_video_info in = get_info(v);
        int q = in.rotation / 90;
        int swap = (q & 1) != 0;
        vida_frame_geometry g;
        vida_frame_geometry_init(&g);
        g.short_side = 64;
        g.flip = 1;
        /* rotation comes first: 90/270 show 120x160, short side 64 -> 64x85 */
        geom_case(v, names[k], &g, swap ? 64 : 85, swap ? 85 : 64, q | 4);
        vida_video_free(v);
        CHECKF(k == 1 ? in.rotation == 180 : (in.rotation == 90 || in.rotation == 270),
               "%s: rotation %d", names[k], in.rotation);
        CHECK(in.width == (swap ? 120 : 160) && in.coded_width == 160);
        if (vt_failed_now)
            return;
    }
}

TEST(video, sizechange_keeps_first_size)
{
    char path[512];
    vida_video *v;
    OPEN_VIDEO(v, "sizechange.mkv", path);
    int64_t idx[6] = {75, 10, 49, 50, 99, 0};
    read_and_check(v, "sizechange.mkv", idx, 6, NULL, 0);
    vida_frame_geometry g;
    vida_frame_geometry_init(&g);
    g.short_side = 60;
    read_and_check(v, "sizechange.mkv short_side 60", idx, 6, &g, 0);
    vida_video_free(v);
}

/* --- bad inputs ---------------------------------------------------------------- */

/*
 * Opens path expecting status want1 or want2; a failure must leave *out NULL
 * and give a message naming name_in_msg. Returns the status.
 */
static int open_expect(const char *path, const char *name_in_msg, int want1, int want2)
{
    vida_video *v = NULL;
    int rc = vida_video_open(&v, NULL, path, NULL);
    const char *msg = vida_last_error();
    NOTE("  open %-28s -> %d %s\n", name_in_msg, rc, rc ? msg : "");
    if (rc == VIDA_OK)
        vida_video_free(v);
    if (rc != want1 && rc != want2) {
        fprintf(stderr, "  open %s returned %d (%s), expected %d or %d\n", path, rc, msg, want1,
                want2);
        vt_failed_now = 1;
    } else if (rc != VIDA_OK && (v != NULL || !strstr(msg, name_in_msg))) {
        fprintf(stderr, "  open %s: message \"%s\" does not name %s (or *out set)\n", path, msg,
                name_in_msg);
        vt_failed_now = 1;
    }
    return rc;
}

static const char *tmp_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", vt_tmp_dir(), name);
    return buf;
}

static char *read_video(const char *name, size_t *size)
{
    char path[512];
    video_path(path, sizeof path, name);
    return vt_read_file(path, size);
}

TEST(video, bad_files)
{
    char p[600];
    uint8_t junk[4096];
    uint64_t seed = 7;
    CHECK(vt_write_file(tmp_path(p, sizeof p, "empty.mp4"), "", 0) == 0);
    open_expect(p, "empty.mp4", VIDA_EDECODE, VIDA_EIO);
    CHECK(vt_write_file(tmp_path(p, sizeof p, "one_byte.mp4"), "\0", 1) == 0);
    open_expect(p, "one_byte.mp4", VIDA_EDECODE, VIDA_EDECODE);
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)rng_next(&seed);
    CHECK(vt_write_file(tmp_path(p, sizeof p, "random.mp4"), junk, sizeof junk) == 0);
    open_expect(p, "random.mp4", VIDA_EDECODE, VIDA_EDECODE);
    const char *text = "This is not a video.\nJust some text named .mp4\n";
    CHECK(vt_write_file(tmp_path(p, sizeof p, "text.mp4"), text, strlen(text)) == 0);
    open_expect(p, "text.mp4", VIDA_EDECODE, VIDA_EDECODE);
    open_expect(tmp_path(p, sizeof p, "does_not_exist.mp4"), "does_not_exist.mp4", VIDA_EIO,
                VIDA_EIO);
    CHECK(mkdir(tmp_path(p, sizeof p, "adir.mp4"), 0700) == 0);
    open_expect(p, "adir.mp4", VIDA_EIO, VIDA_EIO);
    CHECK(!vt_failed_now);

    char path[512];
    if (have_video(path, sizeof path, "audio.m4a"))
        open_expect(path, "audio.m4a", VIDA_EDECODE, VIDA_EDECODE);
    CHECK(!vt_failed_now);

    /* mp4 with the moov atom at the end, cut in half: no index. */
    size_t size;
    char *data = read_video("h264.mp4", &size);
    CHECK(data);
    int wr = vt_write_file(tmp_path(p, sizeof p, "no_moov.mp4"), data, size / 2);
    free(data);
    CHECK(wr == 0);
    open_expect(p, "no_moov.mp4", VIDA_EDECODE, VIDA_EDECODE);

    /* an image named .mp4: refused as not a video, naming the file */
    if (have_video(path, sizeof path, "png_named.mp4")) {
        open_expect(path, "png_named.mp4", VIDA_EDECODE, VIDA_EDECODE);
        CHECKF(strstr(vida_last_error(), "not a video"), "png_named.mp4: %s", vida_last_error());
    }
}

/* A file name with accents, CJK, a snowman and spaces opens and reads the right frame. */
TEST(video, non_ascii_path)
{
    char p[600];
    size_t size;
    char *data = read_video("short.mp4", &size);
    vida_video *v = NULL;
    uint8_t px[160 * 120 * 3];
    int64_t idx = 7;
    int n = -1;
    if (!data)
        return;
    snprintf(p, sizeof p, "%s/vid\xc3\xa9o \xe6\x97\xa5\xe6\x9c\xac \xe2\x98\x83.mp4", vt_tmp_dir());
    CHECK(vt_write_file(p, data, size) == 0);
    free(data);
    CHECK_OK(vida_video_open(&v, NULL, p, NULL));
    CHECK(get_info(v).n_frames == 10);
    CHECK_OK(vida_video_read(v, &idx, 1, NULL, px, sizeof px));
    vt_frame_orientation(px, 160, 120, &n);
    CHECKF(n == 7, "frame 7 of the copy reads as %d", n);
    vida_video_free(v);
}

/* A 98 KB file of 7680x4320 frames: refused at open by max_pixels, naming both; reads when raised. */
TEST(video, decompression_bomb_refused)
{
    char path[512];
    struct stat sb;
    vida_video *v = NULL;
    vida_video_params vp;
    vida_frame_geometry g;
    int64_t idx = 1;
    uint8_t px[114 * 64 * 3];
    int w = 0, h = 0, rc;
    if (!have_video(path, sizeof path, "bomb8k.mp4"))
        return;
    CHECK(stat(path, &sb) == 0 && sb.st_size < 256 * 1024);
    rc = vida_video_open(&v, NULL, path, NULL);
    CHECKF(rc == VIDA_ENOMEM && v == NULL, "bomb8k.mp4: open %d: %s", rc, vida_last_error());
    CHECKF(strstr(vida_last_error(), "max_pixels") && strstr(vida_last_error(), "bomb8k.mp4") &&
               strstr(vida_last_error(), "7680x4320"),
           "%s", vida_last_error());
    vida_video_params_init(&vp);
    vp.max_pixels = 7680 * 4320;
    CHECK_OK(vida_video_open(&v, NULL, path, &vp));
    vida_frame_geometry_init(&g);
    g.short_side = 64;
    CHECK_OK(vida_video_output_size(v, &g, &w, &h));
    CHECK(w == 114 && h == 64);
    CHECK_OK(vida_video_read(v, &idx, 1, &g, px, sizeof px));
    CHECKF(px[2] > 200 && px[0] < 60, "bomb8k.mp4 frame 1: %d %d %d, want blue", px[0], px[1], px[2]);
    vida_video_free(v);
}

/*
 * The child of uhd_clip_under_a_memory_cap, in a fresh process (this test
 * program run again by exec, so that what the address space holds does not
 * depend on the tests before): caps its address space at what it uses plus
 * VT_UHD_CAP_MB, opens VT_UHD_PATH and reads 8 frames scaled to a short side
 * of 128; exits 0 when read, 10 - code on a vida error. A no-op without them.
 */
TEST(video, uhd_capped_child)
{
    const char *mb = getenv("VT_UHD_CAP_MB"), *path = getenv("VT_UHD_PATH");
    long pages = 0;
    FILE *f;
    if (!mb || !path)
        return; /* runs only as the child of uhd_clip_under_a_memory_cap */
    f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld", &pages) != 1)
        _exit(2);
    fclose(f);
    rlim_t cap = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (rlim_t)atol(mb) * 1048576;
    struct rlimit r = {cap, cap};
    alarm(120); /* a hang ends as SIGALRM */
    if (setrlimit(RLIMIT_AS, &r) != 0)
        _exit(3);
    vida_video *v = NULL;
    vida_frame_geometry g;
    int w = 0, h = 0, rc = vida_video_open(&v, NULL, path, NULL);
    if (rc == VIDA_OK) {
        vida_frame_geometry_init(&g);
        g.short_side = 128;
        rc = vida_video_output_size(v, &g, &w, &h);
    }
    if (rc == VIDA_OK) {
        int64_t idx[8] = {0, 1, 2, 3, 4, 5, 6, 7};
        size_t fb = (size_t)w * h * 3;
        uint8_t *buf = malloc(fb * 8);
        rc = buf ? vida_video_read(v, idx, 8, &g, buf, fb * 8) : VIDA_ENOMEM;
        free(buf);
    }
    if (rc != VIDA_OK)
        printf("    capped +%s MB: %s\n", mb, vida_last_error());
    fflush(stdout);
    vida_video_free(v);
    _exit(rc == VIDA_OK ? 0 : 10 - rc);
}

#if !defined(__SANITIZE_ADDRESS__)
/* Runs uhd_capped_child with extra_mb; its exit status, or 200 + the signal that ended it. */
static int read_4k_capped(const char *path, long extra_mb)
{
    char mb[32];
    pid_t pid;
    snprintf(mb, sizeof mb, "%ld", extra_mb);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        setenv("VT_UHD_CAP_MB", mb, 1);
        setenv("VT_UHD_PATH", path, 1);
        setenv("OPENBLAS_NUM_THREADS", "1", 1);
        execl("/proc/self/exe", "test_video", "test_video__uhd_capped_child", (char *)NULL);
        _exit(4);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 200 + WTERMSIG(st) : -1;
}
#endif

/*
 * A 3840x2160 clip under a memory cap (the address space of a child process,
 * RLIMIT_AS): with 400 MB more than the process uses, 8 frames read (the stated
 * need: about 100 MB measured); with 16 MB more, a clean error (ENOMEM, or
 * EDECODE when FFmpeg drops the frame without saying why), never a crash or a
 * hang. Not under ASan, which reserves terabytes of address space.
 */
TEST(video, uhd_clip_under_a_memory_cap)
{
#if defined(__SANITIZE_ADDRESS__)
    printf("  skipped under AddressSanitizer (RLIMIT_AS)\n");
#else
    char path[512];
    int st;
    if (!have_video(path, sizeof path, "uhd.mp4"))
        return;
    fflush(stdout);
    st = read_4k_capped(path, 400);
    CHECKF(st == 0, "uhd.mp4 under +400 MB: child status %d", st);
    st = read_4k_capped(path, 16);
    NOTE("  uhd.mp4 under +16 MB: child status %d\n", st);
    CHECKF(st == 10 - VIDA_ENOMEM || st == 10 - VIDA_EDECODE,
           "uhd.mp4 under +16 MB: child status %d (want %d or %d; 200+ is a signal)", st,
           10 - VIDA_ENOMEM, 10 - VIDA_EDECODE);
#endif
}

/* 18.53 fps: the rate as ffprobe gives it, every frame's time k/18.53, and back to k. */
TEST(video, odd_frame_rate)
{
    char path[512];
    vida_video *v;
    OPEN_VIDEO(v, "odd_fps.mp4", path);
    vida_video_info in = get_info(v);
    CHECKF(fabs(in.real_fps - 18.53) < 1e-3 && fabs(in.avg_fps - 18.53) < 1e-2,
           "odd_fps.mp4: real_fps %.4f avg_fps %.4f, want 18.53", in.real_fps, in.avg_fps);
    for (int64_t k = 0; k < in.n_frames; k++) {
        double t = -1;
        int64_t back = -1;
        CHECK_OK(vida_video_frame_time(v, k, &t));
        CHECKF(fabs(t - (double)k * 100 / 1853) < 1e-6, "odd_fps.mp4: frame %lld at %.6f s",
               (long long)k, t);
        CHECK_OK(vida_video_frame_at(v, t + 1e-4, &back));
        CHECKF(back == k, "odd_fps.mp4: frame_at(%.6f) = %lld, want %lld", t, (long long)back,
               (long long)k);
    }
    vida_video_free(v);
}

/* 2x2 frames: read at their size and scaled up, the right colour (red), nothing out of bounds. */
TEST(video, tiny_frames)
{
    char path[512];
    vida_video *v;
    uint8_t px[2 * 2 * 3 * 10], *big;
    int64_t idx[10];
    vida_frame_geometry g;
    int w = 0, h = 0;
    OPEN_VIDEO(v, "tiny.mp4", path);
    vida_video_info in = get_info(v);
    CHECKF(in.width == 2 && in.height == 2 && in.n_frames == 10, "tiny.mp4: %dx%d, %lld frames",
           in.width, in.height, (long long)in.n_frames);
    for (int k = 0; k < 10; k++)
        idx[k] = 9 - k;
    CHECK_OK(vida_video_read(v, idx, 10, NULL, px, sizeof px));
    for (int k = 0; k < 2 * 2 * 10; k++)
        CHECKF(px[3 * k] > 200 && px[3 * k + 1] < 60 && px[3 * k + 2] < 60,
               "tiny.mp4 pixel %d: %d %d %d, want red", k, px[3 * k], px[3 * k + 1], px[3 * k + 2]);
    vida_frame_geometry_init(&g);
    g.short_side = 112;
    CHECK_OK(vida_video_output_size(v, &g, &w, &h));
    CHECKF(w == 112 && h == 112, "tiny.mp4 scaled: %dx%d", w, h);
    big = malloc((size_t)w * h * 3);
    CHECK(big != NULL);
    CHECK_OK(vida_video_read(v, idx, 1, &g, big, (size_t)w * h * 3));
    CHECKF(big[0] > 200 && big[(size_t)w * h * 3 - 2] < 60, "tiny.mp4 scaled: %d %d", big[0],
           big[(size_t)w * h * 3 - 2]);
    free(big);
    vida_video_free(v);
}

/* Offset of the payload of the first top-level box of type fourcc, or -1. */
static long mp4_box(const uint8_t *d, size_t size, const char *fourcc, size_t *box_size)
{
    size_t off = 0;
    while (off + 8 <= size) {
        uint64_t len = ((uint64_t)d[off] << 24) | ((uint64_t)d[off + 1] << 16) |
                       ((uint64_t)d[off + 2] << 8) | d[off + 3];
        size_t hdr = 8;
        if (len == 1 && off + 16 <= size) {
            len = 0;
            for (int k = 0; k < 8; k++)
                len = (len << 8) | d[off + 8 + k];
            hdr = 16;
        } else if (len == 0) {
            len = size - off;
        }
        if (len < hdr)
            return -1;
        if (memcmp(d + off + 4, fourcc, 4) == 0) {
            *box_size = (size_t)len - hdr;
            return (long)(off + hdr);
        }
        off += (size_t)len;
    }
    return -1;
}

/*
 * Opens a damaged file: it may open (with at most n_max frames) or fail with
 * a clear error; reads (in chunks of 10 frames) may fail only with EDECODE or
 * ENOMEM, naming the file, and frames that come back must be the ones asked
 * for when check_frames is set.
 */
static void damaged(const char *path, const char *name, int64_t n_max, int check_frames)
{
    vida_video *v = NULL;
    int rc = vida_video_open(&v, NULL, path, NULL);
    if (rc != VIDA_OK) {
        NOTE("  %-24s open -> %d %s\n", name, rc, vida_last_error());
        CHECKF(rc == VIDA_EDECODE || rc == VIDA_EIO || rc == VIDA_ENOMEM, "%s: open returned %d",
               name, rc);
        CHECKF(strstr(vida_last_error(), name) != NULL, "%s: message \"%s\"", name,
               vida_last_error());
        return;
    }
    vida_video_info in = get_info(v);
    int64_t n_ok = 0, n_err = 0, first_err = -1, chunk = 10;
    int wrong = 0, firstrc = 0;
    size_t fb = (size_t)in.width * in.height * 3;
    uint8_t *out = malloc(fb * (size_t)chunk);
    /* chunks of 10 consecutive frames, last chunk first, then from the start */
    int64_t n_chunks = (in.n_frames + chunk - 1) / chunk;
    for (int64_t c = -1; out && c < n_chunks; c++) {
        int64_t idx[10], m = 0, first = (c < 0 ? n_chunks - 1 : c) * chunk;
        for (int64_t i = first; i < in.n_frames && m < chunk; i++)
            idx[m++] = i;
        int r = vida_video_read(v, idx, m, NULL, out, fb * (size_t)chunk);
        if (r == VIDA_OK) {
            n_ok += c >= 0 ? m : 0;
            for (int64_t k = 0; check_frames && k < m; k++)
                if (vt_frame_read(out + fb * (size_t)k, in.width, in.height) != idx[k])
                    wrong++;
        } else {
            if (first_err < 0) {
                first_err = first;
                firstrc = r;
                NOTE("  %-24s frames %lld.. -> %d %s\n", name, (long long)first, r,
                     vida_last_error());
            }
            n_err += c >= 0 ? m : 0;
            if ((r != VIDA_EDECODE && r != VIDA_ENOMEM) || !strstr(vida_last_error(), name))
                wrong += 1000;
        }
    }
    free(out);
    vida_video_free(v);
    NOTE("  %-24s opened: %lld frames, %lld read ok, %lld failed (first %lld: %d), %d wrong\n",
         name, (long long)in.n_frames, (long long)n_ok, (long long)n_err, (long long)first_err,
         firstrc, wrong);
    CHECK(in.n_frames >= 1 && in.n_frames <= n_max);
    CHECK(wrong == 0);
}

TEST(video, truncated_and_corrupt)
{
    char p[600];
    size_t size, mdat_size = 0;
    char *data = read_video("h264_faststart.mp4", &size);
    CHECK(data);
    long mdat = mp4_box((const uint8_t *)data, size, "mdat", &mdat_size);
    size_t moov_size = 0;
    long moov = mp4_box((const uint8_t *)data, size, "moov", &moov_size);
    if (mdat < 0 || moov < 0 || moov > mdat)
        free(data);
    CHECKF(mdat > 0 && moov > 0 && moov < mdat, "h264_faststart.mp4: moov %ld mdat %ld", moov,
           mdat);
    /* inside the first frame's data (the first keyframe is a few KB) */
    int wr = vt_write_file(tmp_path(p, sizeof p, "cut_first_frame.mp4"), data, (size_t)mdat + 200);
    if (wr == 0)
        damaged(p, "cut_first_frame.mp4", 50, 0);
    if (wr == 0 && !vt_failed_now) {
        wr = vt_write_file(tmp_path(p, sizeof p, "cut_middle.mp4"), data,
                           (size_t)mdat + mdat_size / 2);
        if (wr == 0)
            damaged(p, "cut_middle.mp4", 50, 1);
    }
    free(data);
    CHECK(wr == 0);
    CHECK(!vt_failed_now);

    /* Bit flips in the middle of h264.mp4's mdat, and in its moov. */
    data = read_video("h264.mp4", &size);
    CHECK(data);
    mdat = mp4_box((const uint8_t *)data, size, "mdat", &mdat_size);
    moov = mp4_box((const uint8_t *)data, size, "moov", &moov_size);
    if (mdat < 0 || moov < 0)
        free(data);
    CHECK(mdat > 0 && moov > 0);
    char *bad = malloc(size);
    if (!bad)
        free(data);
    CHECK(bad);
    uint64_t seed = 42;
    for (int variant = 0; variant < 4 && !vt_failed_now; variant++) {
        char name[64];
        memcpy(bad, data, size);
        if (variant < 3) {
            /* 64 random bytes flipped in the middle half of the frame data */
            for (int k = 0; k < 64; k++) {
                size_t at = (size_t)mdat + mdat_size / 4 + rng_next(&seed) % (mdat_size / 2);
                bad[at] ^= (char)(1 + rng_next(&seed) % 255);
            }
            snprintf(name, sizeof name, "flip_mdat%d.mp4", variant);
        } else {
            /* 16 bytes of the index */
            for (int k = 0; k < 16; k++) {
                size_t at = (size_t)moov + rng_next(&seed) % moov_size;
                bad[at] ^= (char)(1 + rng_next(&seed) % 255);
            }
            snprintf(name, sizeof name, "flip_moov.mp4");
        }
        if (vt_write_file(tmp_path(p, sizeof p, name), bad, size) != 0) {
            vt_failed_now = 1;
            break;
        }
        damaged(p, name, variant < 3 ? 300 : INT64_MAX, 0);
    }
    free(bad);
    free(data);
}

TEST(video, names_are_not_urls)
{
    char cwd[PATH_MAX], src[PATH_MAX], abs_ts[PATH_MAX];
    size_t s_short, s_long, s_ts;
    char *short_mp4 = read_video("short.mp4", &s_short);
    char *long_mp4 = read_video("h264.mp4", &s_long);
    char *ts = read_video("h264.ts", &s_ts);
    video_path(src, sizeof src, "h264.ts");
    int ok = short_mp4 && long_mp4 && ts && getcwd(cwd, sizeof cwd) && realpath(src, abs_ts);
    ok = ok && chdir(vt_tmp_dir()) == 0;
    if (ok) {
        /* If these names were URLs, each would open something else. */
        ok = vt_write_file("a", ts, s_ts) == 0 && vt_write_file("b", ts, s_ts) == 0 &&
             vt_write_file("x.mp4", long_mp4, s_long) == 0 &&
             vt_write_file("file:x.mp4", short_mp4, s_short) == 0;
        if (ok) {
            open_expect("concat:a|b", "concat:a|b", VIDA_EIO, VIDA_EIO);
            open_expect("http://example.com/a.mp4", "http://example.com/a.mp4", VIDA_EIO, VIDA_EIO);
            open_expect("pipe:0", "pipe:0", VIDA_EIO, VIDA_EIO);
            open_expect("subfile,,start,0,end,1000,,:x.mp4", "subfile,,start,0,end,1000,,:x.mp4",
                        VIDA_EIO, VIDA_EIO);
            /* a plain file named file:x.mp4 is short.mp4's 10 frames, not x.mp4's 300 */
            vida_video *v = NULL;
            int rc = vida_video_open(&v, NULL, "file:x.mp4", NULL);
            vida_video_info in = get_info(v);
            NOTE("  open file:x.mp4 -> %d, %lld frames\n", rc, (long long)in.n_frames);
            if (rc != VIDA_OK || in.n_frames != 10) {
                fprintf(stderr, "  file:x.mp4: %d %s, %lld frames\n", rc, vida_last_error(),
                        (long long)in.n_frames);
                vt_failed_now = 1;
            }
            vida_video_free(v);

            /* Playlists and concat lists pointing at a real file are refused. */
            char list[2 * PATH_MAX + 200];
            snprintf(list, sizeof list,
                     "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:12\n"
                     "#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:12.0,\n%s\n#EXT-X-ENDLIST\n",
                     abs_ts);
            if (vt_write_file("list.m3u8", list, strlen(list)) == 0)
                open_expect("list.m3u8", "list.m3u8", VIDA_EDECODE, VIDA_EDECODE);
            snprintf(list, sizeof list, "ffconcat version 1.0\nfile '%s'\nfile '%s'\n", abs_ts,
                     abs_ts);
            if (vt_write_file("list.ffconcat", list, strlen(list)) == 0)
                open_expect("list.ffconcat", "list.ffconcat", VIDA_EDECODE, VIDA_EDECODE);
            snprintf(list, sizeof list, "[Reference]\nRef1=%s\n", abs_ts);
            if (vt_write_file("list.asx", list, strlen(list)) == 0)
                open_expect("list.asx", "list.asx", VIDA_EDECODE, VIDA_EDECODE);
        }
        if (chdir(cwd) != 0)
            ok = 0;
    }
    free(short_mp4);
    free(long_mp4);
    free(ts);
    CHECKF(ok, "could not set up the files in %s", vt_tmp_dir());
}

TEST(video, bad_arguments)
{
    char path[512];
    vida_video *v = NULL;
    CHECK(vida_video_open(NULL, NULL, "x.mp4", NULL) == VIDA_EINVAL);
    CHECK(vida_video_open(&v, NULL, NULL, NULL) == VIDA_EINVAL && v == NULL);
    vida_video_params p;
    vida_video_params_init(&p);
    p.size = 0;
    if (have_video(path, sizeof path, "h264.mp4")) {
        CHECK(vida_video_open(&v, NULL, path, &p) == VIDA_EINVAL && v == NULL);
    }
    CHECK(!vt_failed_now);
    vida_video_free(NULL);

    /* NULL handles */
    vida_video_info in;
    memset(&in, 0, sizeof in);
    in.size = sizeof in;
    vida_video_stats st;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    double t;
    int64_t i0 = 0, idx;
    int w, h;
    uint8_t buf[160 * 120 * 3];
    CHECK(vida_video_get_info(NULL, &in) == VIDA_EINVAL);
    CHECK(vida_video_get_stats(NULL, &st) == VIDA_EINVAL);
    CHECK(vida_video_frame_time(NULL, 0, &t) == VIDA_EINVAL);
    CHECK(vida_video_frame_at(NULL, 0.0, &idx) == VIDA_EINVAL);
    CHECK(vida_video_output_size(NULL, NULL, &w, &h) == VIDA_EINVAL);
    CHECK(vida_video_read(NULL, &i0, 1, NULL, buf, sizeof buf) == VIDA_EINVAL);

    OPEN_VIDEO(v, "one_frame.mp4", path);
    vida_video_info one = get_info(v);
    CHECK(one.n_frames == 1 && one.n_keyframes == 1);
    int rcs[16], k = 0;
    rcs[k++] = vida_video_get_info(v, NULL);
    in.size = 0;
    rcs[k++] = vida_video_get_info(v, &in);
    rcs[k++] = vida_video_get_stats(v, NULL);
    rcs[k++] = vida_video_frame_time(v, 0, NULL);
    rcs[k++] = vida_video_frame_time(v, 1, &t);
    rcs[k++] = vida_video_frame_time(v, -1, &t);
    rcs[k++] = vida_video_frame_at(v, 0.0, NULL);
    int64_t badi[3] = {0, 1, -1};
    rcs[k++] = vida_video_read(v, &badi[1], 1, NULL, buf, sizeof buf); /* index 1 of 1 */
    rcs[k++] = vida_video_read(v, &badi[2], 1, NULL, buf, sizeof buf); /* -1 */
    rcs[k++] = vida_video_read(v, badi, 2, NULL, buf, sizeof buf);     /* 0 then 1 */
    rcs[k++] = vida_video_read(v, &i0, 1, NULL, buf, sizeof buf - 1);  /* too small */
    rcs[k++] = vida_video_read(v, NULL, 1, NULL, buf, sizeof buf);
    rcs[k++] = vida_video_read(v, &i0, 1, NULL, NULL, sizeof buf);
    rcs[k++] = vida_video_read(v, &i0, -1, NULL, buf, sizeof buf);
    for (int j = 0; j < k; j++)
        if (rcs[j] != VIDA_EINVAL) {
            fprintf(stderr, "  bad argument case %d returned %d\n", j, rcs[j]);
            vt_failed_now = 1;
        }
    /* the index error names the file */
    vida_video_read(v, &badi[1], 1, NULL, buf, sizeof buf);
    int names = strstr(vida_last_error(), "one_frame.mp4") != NULL;
    NOTE("  index 1 of 1: %s\n", vida_last_error());
    /* and the one frame reads */
    int rc = vida_video_read(v, &i0, 1, NULL, buf, sizeof buf);
    int num = rc == VIDA_OK ? vt_frame_read(buf, 160, 120) : -1;
    CHECK_OK(vida_video_frame_at(v, 100.0, &idx));
    vida_video_free(v);
    CHECK(!vt_failed_now);
    CHECK(names);
    CHECK(rc == VIDA_OK && num == 0);
    CHECK(idx == 0);
}

TEST(video, limits)
{
    char path[512];
    vida_video *v = NULL;
    if (!have_video(path, sizeof path, "h264.mp4"))
        return;
    vida_video_params p;
    vida_video_params_init(&p);
    CHECK(p.size == sizeof p && p.max_pixels == 4096LL * 4096 && p.max_decode_frames == 8192);
    CHECK(p.deadline == 60 && p.threads == 1 && p.stream == -1);
    p.max_pixels = 160 * 120 - 1;
    int rc = vida_video_open(&v, NULL, path, &p);
    NOTE("  max_pixels 19199: %d %s\n", rc, vida_last_error());
    CHECK(rc == VIDA_ENOMEM && v == NULL && strstr(vida_last_error(), "h264.mp4"));
    p.max_pixels = 160 * 120;
    CHECK_OK(vida_video_open(&v, NULL, path, &p));
    vida_video_free(v);
    v = NULL;

    vida_video_params_init(&p);
    p.deadline = 1e-9;
    rc = vida_video_open(&v, NULL, path, &p);
    int rc2 = rc;
    if (rc == VIDA_OK) {
        uint8_t buf[160 * 120 * 3];
        int64_t i = 150;
        rc2 = vida_video_read(v, &i, 1, NULL, buf, sizeof buf);
        vida_video_free(v);
    }
    NOTE("  deadline 1e-9: open %d, read %d: %s\n", rc, rc2, vida_last_error());
    CHECK(rc2 == VIDA_ECANCELLED && strstr(vida_last_error(), "h264.mp4"));
}

TEST(video, open_read_free_no_leak)
{
    static const char *const names[] = {"h264.mp4", "h264.mkv", "vp9.webm", "h264.ts"};
    uint8_t *buf = malloc(192 * 144 * 3);
    CHECK(buf);
    for (int it = 0; it < 200; it++) {
        char path[512];
        const char *name = names[it % 4];
        video_path(path, sizeof path, name);
        if (!file_exists(path)) {
            if (was_skipped(name))
                continue;
            free(buf);
            CHECKF(0, "%s missing: run make test-videos", path);
        }
        vida_video *v = NULL;
        int rc = vida_video_open(&v, NULL, path, NULL);
        int64_t i = it % 7;
        vida_video_info in = get_info(v);
        if (rc == VIDA_OK)
            rc = vida_video_read(v, &i, 1, NULL, buf, (size_t)in.width * in.height * 3);
        vida_video_free(v);
        if (rc != VIDA_OK || vt_frame_read(buf, in.width, in.height) != i) {
            free(buf);
            CHECKF(0, "%s iteration %d: %d %s", name, it, rc, vida_last_error());
        }
    }
    /* failing opens must not leak either */
    char p[600];
    CHECK(vt_write_file(tmp_path(p, sizeof p, "leak.mp4"), "garbage garbage", 15) == 0);
    for (int it = 0; it < 50; it++) {
        vida_video *v = NULL;
        if (vida_video_open(&v, NULL, p, NULL) == VIDA_OK)
            vida_video_free(v);
    }
    free(buf);
}

/*
 * The pixel format and range in vida_video_info come from the header, the
 * codec's parser, the H.264 SPS, or one decoded keyframe (docs/video.md);
 * they must agree with what ffprobe says after decoding. FFmpeg's decoders
 * call full-range 8-bit YUV "yuvj...": compared without the j.
 */
TEST(video, info_format_matches_ffprobe)
{
    int failed = 0, checked = 0;
    for (int k = 0; k < N_VFILES; k++) {
        char path[512], cmd[1024], line[256] = "";
        vida_video *v;
        if (!have_video(path, sizeof path, vfiles[k].name)) {
            failed |= vt_failed_now;
            vt_failed_now = 0;
            continue;
        }
        snprintf(cmd, sizeof cmd,
                 "ffprobe -v error -select_streams v:0 -show_entries stream=pix_fmt,color_range "
                 "-of csv=p=0 '%s'", path);
        FILE *f = popen(cmd, "r");
        CHECK(f != NULL);
        if (!fgets(line, sizeof line, f))
            line[0] = 0;
        pclose(f);
        line[strcspn(line, "\r\n")] = 0;
        char *comma = strchr(line, ',');
        CHECKF(comma != NULL, "%s: ffprobe said '%s'", vfiles[k].name, line);
        *comma = 0;
        const char *want_fmt = line, *want_range = comma + 1;
        char norm[300];
        if (strncmp(want_fmt, "yuvj", 4) == 0)
            snprintf(norm, sizeof norm, "yuv%s", want_fmt + 4);
        else
            snprintf(norm, sizeof norm, "%s", want_fmt);
        int want_full = strcmp(want_range, "pc") == 0 || strncmp(want_fmt, "yuvj", 4) == 0 ||
                        strncmp(want_fmt, "gbr", 3) == 0 || strncmp(want_fmt, "rgb", 3) == 0;
        CHECK_OK(vida_video_open(&v, NULL, path, NULL));
        vida_video_info in = get_info(v);
        vida_video_free(v);
        const char *ours = strncmp(in.pix_fmt, "yuvj", 4) == 0 ? in.pix_fmt + 4 : in.pix_fmt;
        int same_fmt = strncmp(in.pix_fmt, "yuvj", 4) == 0 ? strcmp(ours, norm + 3) == 0
                                                            : strcmp(in.pix_fmt, norm) == 0;
        NOTE("  %-20s ffprobe %s,%s  ours %s full_range %d\n", vfiles[k].name, want_fmt, want_range,
             in.pix_fmt, in.full_range);
        if (!same_fmt || in.full_range != want_full) {
            fprintf(stderr, "  %s: ffprobe %s,%s; ours %s full_range %d\n", vfiles[k].name,
                    want_fmt, want_range, in.pix_fmt, in.full_range);
            failed = 1;
        }
        checked++;
    }
    CHECK(checked >= 20);
    vt_failed_now = failed;
}

/* Offset of the first occurrence of the 4 bytes tag in data, or -1. */
static long find_tag(const uint8_t *data, size_t size, const char *tag)
{
    for (size_t i = 0; i + 4 <= size; i++)
        if (memcmp(data + i, tag, 4) == 0)
            return (long)i;
    return -1;
}

/*
 * Absurd frame sizes. A container that claims 65535x65535 over a 160x120
 * H.264 stream: the bitstream's size wins and the video reads normally. JPEG
 * frames that themselves claim 65535x65535: refused with a clear error
 * naming the file, never an attempt to allocate 4 G pixels.
 */
TEST(video, absurd_dimensions)
{
    char p[600];
    size_t size;
    char *data = read_video("h264.mp4", &size);
    CHECK(data);
    long at = find_tag((const uint8_t *)data, size, "avc1");
    if (at < 0 || (size_t)at + 32 > size)
        free(data);
    CHECK(at > 0 && (size_t)at + 32 <= size);
    /* avc1 sample entry: tag, 6 reserved, data ref (2), 16 pre-defined/reserved, width, height */
    memset(data + at + 28, 0xFF, 4);
    int wr = vt_write_file(tmp_path(p, sizeof p, "claims_65535.mp4"), data, size);
    free(data);
    CHECK(wr == 0);
    vida_video *v = NULL;
    CHECK_OK(vida_video_open(&v, NULL, p, NULL));
    vida_video_info in = get_info(v);
    NOTE("  claims_65535.mp4: %dx%d, %lld frames\n", in.width, in.height, (long long)in.n_frames);
    int64_t idx[2] = {0, 150};
    uint8_t *buf = malloc((size_t)2 * 160 * 120 * 3);
    int rc = buf ? vida_video_read(v, idx, 2, NULL, buf, (size_t)2 * 160 * 120 * 3) : VIDA_ENOMEM;
    int ok = rc == VIDA_OK && vt_frame_read(buf, 160, 120) == 0 &&
             vt_frame_read(buf + 160 * 120 * 3, 160, 120) == 150;
    free(buf);
    vida_video_free(v);
    CHECK(in.width == 160 && in.height == 120 && in.n_frames == 300);
    CHECKF(ok, "read %d: %s", rc, vida_last_error());

    /* every JPEG start-of-frame says 65535x65535 */
    if (!have_video(p, sizeof p, "mjpeg.avi"))
        return;
    data = read_video("mjpeg.avi", &size);
    CHECK(data);
    int patched = 0;
    for (size_t i = 0; i + 9 < size; i++) {
        const uint8_t *q = (const uint8_t *)data + i;
        if (q[0] == 0xFF && q[1] == 0xC0 && q[4] == 8) { /* SOF0, 8-bit precision */
            memset(data + i + 5, 0xFF, 4);
            patched++;
        }
    }
    wr = vt_write_file(tmp_path(p, sizeof p, "sof_65535.avi"), data, size);
    free(data);
    CHECK(wr == 0 && patched >= 100);
    v = NULL;
    rc = vida_video_open(&v, NULL, p, NULL);
    NOTE("  sof_65535.avi (%d frames patched): %d %s\n", patched, rc, vida_last_error());
    if (rc == VIDA_OK) {
        /* the container's size may be believed at open; the frames must then fail cleanly */
        int64_t i0 = 0;
        uint8_t px[160 * 120 * 3];
        in = get_info(v);
        rc = in.width == 160 && in.height == 120 ? vida_video_read(v, &i0, 1, NULL, px, sizeof px)
                                                 : VIDA_ENOMEM;
        vida_video_free(v);
        NOTE("  sof_65535.avi read: %d %s\n", rc, vida_last_error());
    }
    CHECK(rc == VIDA_ENOMEM || rc == VIDA_EDECODE);
    CHECK(strstr(vida_last_error(), "sof_65535.avi") != NULL);
}

/*
 * Regressions found in review: a sequential video (AVI with B-frames) is read
 * in one forward pass, not restarted from frame 0 at every keyframe; "no
 * limit" (INT64_MAX) as max_pixels opens; frame_at far outside the video.
 */
TEST(video, review_regressions)
{
    char path[512];
    vida_video *v = NULL;
    if (!have_video(path, sizeof path, "mpeg4.avi"))
        return;
    vida_video_params p;
    vida_video_params_init(&p);
    p.max_decode_frames = 400;
    CHECK_OK(vida_video_open(&v, NULL, path, &p));
    vida_video_info in = get_info(v);
    int64_t idx[7] = {0, 50, 100, 150, 200, 250, 299};
    uint8_t *buf = malloc((size_t)7 * in.width * in.height * 3);
    int rc = buf ? vida_video_read(v, idx, 7, NULL, buf, (size_t)7 * in.width * in.height * 3)
                 : VIDA_ENOMEM;
    vida_video_stats st = {.size = sizeof st};
    vida_video_get_stats(v, &st);
    int right = 0;
    for (int k = 0; rc == VIDA_OK && k < 7; k++)
        right += vt_frame_read(buf + (size_t)k * in.width * in.height * 3, in.width, in.height) ==
                 idx[k];
    free(buf);
    NOTE("  mpeg4.avi sequential %d: rc %d seeks %lld decoded %lld\n", in.sequential, rc,
         (long long)st.seeks, (long long)st.frames_decoded);
    double t;
    int64_t i_far = -1, i_before = -1;
    CHECK_OK(vida_video_frame_at(v, 1e300, &i_far));
    CHECK_OK(vida_video_frame_at(v, -1e300, &i_before));
    CHECK(vida_video_frame_at(v, NAN, &i_far) == VIDA_EINVAL);
    CHECK_OK(vida_video_frame_time(v, 299, &t));
    vida_video_free(v);
    CHECK(in.sequential == 1);
    CHECKF(rc == VIDA_OK && right == 7, "rc %d (%s), %d right", rc, vida_last_error(), right);
    CHECK(st.seeks <= 1 && st.frames_decoded <= 310);
    CHECK(i_far == 299 && i_before == 0);

    vida_video_params_init(&p);
    p.max_pixels = INT64_MAX;
    CHECK(have_video(path, sizeof path, "h264.mp4"));
    CHECK_OK(vida_video_open(&v, NULL, path, &p));
    int64_t one = 5;
    uint8_t px[160 * 120 * 3];
    CHECK_OK(vida_video_read(v, &one, 1, NULL, px, sizeof px));
    vida_video_free(v);
    CHECK(vt_frame_read(px, 160, 120) == 5);
}

/*
 * The fuzz target's seed corpus and every input it ever crashed on
 * (test/fuzz/corpus/video; the last 8 bytes are the target's parameter
 * block): each opens or fails cleanly, and reads its first and last frame or
 * fails cleanly, with the limits the fuzzer uses. Under ASan this is the
 * fuzzing regression suite without clang.
 */
TEST(video, fuzz_corpus_replay)
{
    char dir[512], p[1024], out[600];
    snprintf(dir, sizeof dir, "%s/fuzz/corpus/video", vt_data_dir());
    DIR *d = opendir(dir);
    CHECKF(d != NULL, "cannot open %s", dir);
    struct dirent *e;
    int files = 0, opened = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        size_t size;
        char *data = vt_read_file(p, &size);
        if (!data || size < 9) {
            free(data);
            continue;
        }
        int wr = vt_write_file(tmp_path(out, sizeof out, "replay.bin"), data, size - 8);
        free(data);
        if (wr != 0)
            break;
        files++;
        vida_video_params vp;
        vida_video_params_init(&vp);
        vp.max_pixels = 1 << 20;
        vp.max_decode_frames = 600;
        vp.deadline = 5;
        vida_video *v = NULL;
        int rc = vida_video_open(&v, NULL, out, &vp);
        NOTE("  %-40s open %d %s\n", e->d_name, rc, rc ? vida_last_error() : "");
        if (rc != VIDA_OK) {
            if (!vida_last_error()[0])
                vt_failed_now = 1;
            continue;
        }
        opened++;
        vida_video_info in = get_info(v);
        vida_frame_geometry g;
        vida_frame_geometry_init(&g);
        g.short_side = 16;
        int w = 0, h = 0;
        if (in.n_frames > 0 && vida_video_output_size(v, &g, &w, &h) == VIDA_OK) {
            int64_t idx[2] = {0, in.n_frames - 1};
            size_t bytes = (size_t)2 * w * h * 3;
            uint8_t *buf = malloc(bytes);
            rc = buf ? vida_video_read(v, idx, 2, &g, buf, bytes) : VIDA_ENOMEM;
            if (rc != VIDA_OK && !vida_last_error()[0])
                vt_failed_now = 1;
            free(buf);
        }
        vida_video_free(v);
    }
    closedir(d);
    NOTE("  %d corpus files, %d opened\n", files, opened);
    CHECK(files >= 9 && opened >= 5);
}

/*
 * Display matrices a camera does not write (patched into rot90.mp4's tkhd):
 * horizontally mirrored, a quarter turn and a mirror both ways, all zero:
 * each opens and reads exactly as the ffmpeg program (autorotate) shows it;
 * all 0x7fffffff (a 45-degree turn, which ffmpeg applies and we ignore): read
 * unrotated. (A mirror read as a 180-degree turn before: upside down.)
 */
TEST(video, display_matrix_mirrored_and_garbage)
{
    static const struct {
        const char *name;
        uint32_t m[9];
        int like_ffmpeg; /* else: read unrotated (ffmpeg turns a 45-degree matrix by 45 degrees) */
    } cases[] = {
        {"matrix_hflip.mp4", {0xFFFF0000u, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000}, 1},
        {"matrix_90_mirror.mp4", {0, 0x10000, 0, 0x10000, 0, 0, 0, 0, 0x40000000}, 1},
        {"matrix_270_mirror.mp4", {0, 0xFFFF0000u, 0, 0xFFFF0000u, 0, 0, 0, 0, 0x40000000}, 1},
        {"matrix_zero.mp4", {0, 0, 0, 0, 0, 0, 0, 0, 0}, 1},
        {"matrix_garbage.mp4", {0x7FFFFFFF, 0x7FFFFFFF, 0x7FFFFFFF, 0x7FFFFFFF, 0x7FFFFFFF,
                                0x7FFFFFFF, 0x7FFFFFFF, 0x7FFFFFFF, 0x7FFFFFFF}, 0},
    };
    size_t size;
    char *data = read_video("rot90.mp4", &size);
    CHECK(data != NULL);
    long at = find_tag((const uint8_t *)data, size, "tkhd");
    CHECK(at > 0 && (size_t)at + 100 <= size);
    /* after the type: version/flags, then (version 0) 4x4 bytes, reserved 4, duration 4,
       reserved 8, layer, group, volume, reserved (2 each): the matrix */
    long mat = at + 4 + (data[at + 4] == 1 ? 52 : 40);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char p[600];
        for (int j = 0; j < 9; j++) {
            uint32_t x = cases[k].m[j];
            uint8_t be[4] = {(uint8_t)(x >> 24), (uint8_t)(x >> 16), (uint8_t)(x >> 8), (uint8_t)x};
            memcpy(data + mat + 4 * j, be, 4);
        }
        CHECK(vt_write_file(tmp_path(p, sizeof p, cases[k].name), data, size) == 0);
        vida_video_info in;
        int64_t idx[10];
        uint8_t *ours, *ref;
        int rc = read_with_ffmpeg(p, &in, idx, &ours, &ref);
        int w = in.width, h = in.height;
        size_t fb = (size_t)w * h * 3;
        size_t diff = 0;
        for (size_t i = 0; rc == VIDA_OK && ref && i < fb * 10; i++)
            diff += ours[i] != ref[i];
        int n_o = -1, n_r = -1;
        int o_ours = ours && rc == VIDA_OK ? vt_frame_orientation(ours + fb * 4, w, h, &n_o) : -1;
        int o_ref = ref ? vt_frame_orientation(ref + fb * 4, w, h, &n_r) : -1;
        NOTE("  %-20s rotation %d, %dx%d, %zu bytes differ from ffmpeg's; orientation ours %d, "
             "ffmpeg %d\n", cases[k].name, in.rotation, w, h, diff, o_ours, o_ref);
        if (cases[k].like_ffmpeg)
            CHECKF(rc == VIDA_OK && ref && in.n_frames == 100 && diff == 0,
                   "%s: read %d, reference %s, %lld frames, %zu bytes differ (rotation %d)",
                   cases[k].name, rc, ref ? "ok" : "missing", (long long)in.n_frames, diff,
                   in.rotation);
        else
            CHECKF(rc == VIDA_OK && in.rotation == 0 && o_ours == 0 && n_o == idx[4],
                   "%s: read %d, rotation %d, frame %lld reads %d in orientation %d",
                   cases[k].name, rc, in.rotation, (long long)idx[4], n_o, o_ours);
        free(ours);
        free(ref);
    }
    /* scaled and cropped: the mirrored file with crop x equals the plain one (identity matrix)
       cropped from the other side and flipped, byte for byte */
    {
        static const uint32_t ident[9] = {0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000};
        char pm[600], pi[600];
        vida_video *vm = NULL, *vi = NULL;
        vida_frame_geometry g;
        int64_t idx = 42;
        uint8_t a[40 * 30 * 3], b[40 * 30 * 3];
        int sw = 0, sh = 0;
        tmp_path(pm, sizeof pm, "matrix_hflip.mp4"); /* written above (hflip is cases[0]) */
        for (int j = 0; j < 9; j++) {
            uint8_t be[4] = {(uint8_t)(ident[j] >> 24), (uint8_t)(ident[j] >> 16),
                             (uint8_t)(ident[j] >> 8), (uint8_t)ident[j]};
            memcpy(data + mat + 4 * j, be, 4);
        }
        CHECK(vt_write_file(tmp_path(pi, sizeof pi, "matrix_identity.mp4"), data, size) == 0);
        CHECK_OK(vida_video_open(&vm, NULL, pm, NULL));
        CHECK_OK(vida_video_open(&vi, NULL, pi, NULL));
        vida_frame_geometry_init(&g);
        g.short_side = 64;
        CHECK_OK(vida_video_output_size(vm, &g, &sw, &sh)); /* 85x64 */
        g.crop_width = 40, g.crop_height = 30, g.crop_x = 7, g.crop_y = 5;
        CHECK_OK(vida_video_read(vm, &idx, 1, &g, a, sizeof a));
        g.crop_x = sw - 7 - 40, g.flip = 1;
        CHECK_OK(vida_video_read(vi, &idx, 1, &g, b, sizeof b));
        CHECKF(memcmp(a, b, sizeof a) == 0, "mirrored crop differs from the flipped plain one");
        vida_video_free(vm);
        vida_video_free(vi);
    }
    free(data);
}

/* --- inputs of issue 12: no frames, no timing, timestamps that jump back, odd streams --- */

static uint32_t get_be32(const char *p)
{
    const uint8_t *q = (const uint8_t *)p;
    return (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
}

static void put_be32(char *p, uint32_t x)
{
    p[0] = (char)(x >> 24), p[1] = (char)(x >> 16), p[2] = (char)(x >> 8), p[3] = (char)x;
}

/*
 * Our 10 frames of pixel_indices against the ffmpeg program's (read_with_ffmpeg):
 * the mean absolute difference per byte and *maxd, or -1 (message printed)
 * when either read failed. Fills *in.
 */
static double mad_vs_ffmpeg(const char *path, const char *name, vida_video_info *in, int *maxd)
{
    int64_t idx[10];
    uint8_t *ours, *ref;
    int rc = read_with_ffmpeg(path, in, idx, &ours, &ref);
    double mad = -1;
    *maxd = -1;
    if (rc == VIDA_OK && ref) {
        size_t bytes = (size_t)in->width * in->height * 3 * 10;
        mad = 0;
        *maxd = 0;
        for (size_t i = 0; i < bytes; i++) {
            int d = abs((int)ours[i] - (int)ref[i]);
            mad += d;
            *maxd = d > *maxd ? d : *maxd;
        }
        mad /= (double)bytes;
    } else {
        fprintf(stderr, "  %s: read %d (%s), reference %s\n", name, rc, rc ? vida_last_error() : "",
                ref ? "ok" : "missing");
    }
    free(ours);
    free(ref);
    return mad;
}

/*
 * A container with a video stream and no frames: short.mp4 with its sample
 * count (stsz) set to 0; the track, its codec and size are still there (ffprobe
 * lists the stream). VIDA_EDECODE naming the file: "has no frames".
 */
TEST(video, zero_frames)
{
    char p[600];
    size_t size;
    char *data = read_video("short.mp4", &size);
    CHECK(data);
    long at = find_tag((const uint8_t *)data, size, "stsz");
    /* stsz: tag, version and flags, sample size, sample count */
    uint32_t count = at > 0 && (size_t)at + 16 <= size ? get_be32(data + at + 12) : 0;
    if (count != 10)
        free(data);
    CHECKF(count == 10, "short.mp4: stsz at %ld counts %u samples", at, count);
    put_be32(data + at + 12, 0);
    int wr = vt_write_file(tmp_path(p, sizeof p, "zero_frames.mp4"), data, size);
    free(data);
    CHECK(wr == 0);
    open_expect(p, "zero_frames.mp4", VIDA_EDECODE, VIDA_EDECODE);
    CHECK(!vt_failed_now);
    CHECKF(strstr(vida_last_error(), "no frames") != NULL, "%s", vida_last_error());
}

/* Offset of the time scale in the first mdhd box (after the tag, version and flags, and the
   creation and modification times: 4 bytes each in version 0, 8 in version 1), or -1. */
static long mdhd_time_scale(const char *data, size_t size)
{
    long at = find_tag((const uint8_t *)data, size, "mdhd");
    if (at < 0 || (size_t)at + 32 > size)
        return -1;
    return at + 8 + (data[at + 4] == 1 ? 16 : 8);
}

/*
 * Frame rate and time base zero or missing. An mp4 whose track time scale
 * (mdhd) is 0: FFmpeg takes 1 instead, so each frame lasts as many seconds as
 * it had ticks (512 at 12800/s): without an edit list it reads exactly, frame k
 * at k x 512 s as ffprobe says, pixels as the ffmpeg program's; with one
 * (short.mp4), the edit list now starts past the media, every packet is marked
 * for discard and the ffmpeg program shows nothing either: VIDA_EDECODE saying
 * so. A raw H.264 stream (no container, no timestamps): sequential, 25 fps, exact.
 */
TEST(video, zero_time_scale_and_no_timing)
{
    char p[600], path[512];
    size_t size;
    vida_video_info in;
    vida_video *v = NULL;
    int maxd;
    if (!have_video(path, sizeof path, "no_editlist.mp4"))
        return;
    char *data = read_video("no_editlist.mp4", &size);
    CHECK(data);
    long ts = mdhd_time_scale(data, size);
    uint32_t scale = ts > 0 ? get_be32(data + ts) : 0;
    if (scale == 0 || scale % 25 != 0)
        free(data);
    CHECKF(scale > 0 && scale % 25 == 0, "no_editlist.mp4: mdhd time scale %u", scale);
    put_be32(data + ts, 0);
    int wr = vt_write_file(tmp_path(p, sizeof p, "time_scale_0.mp4"), data, size);
    free(data);
    CHECK(wr == 0);
    double mad = mad_vs_ffmpeg(p, "time_scale_0.mp4", &in, &maxd);
    double tick = scale / 25.0; /* seconds a frame lasts when a tick is a second */
    NOTE("  time_scale_0.mp4: %lld frames, real_fps %g, duration %g, sequential %d, MAD %.3f\n",
         (long long)in.n_frames, in.real_fps, in.duration, in.sequential, mad);
    CHECK(mad >= 0);
    CHECKF(in.n_frames == 12 && in.sequential == 0 && mad == 0,
           "time_scale_0.mp4: %lld frames, sequential %d, MAD %.3f (max %d)",
           (long long)in.n_frames, in.sequential, mad, maxd);
    CHECKF(fabs(in.real_fps * tick - 1) < 1e-9, "time_scale_0.mp4: real_fps %g, want 1/%g",
           in.real_fps, tick);
    CHECK_OK(vida_video_open(&v, NULL, p, NULL));
    for (int64_t k = 0; k < 12; k++) {
        double t = -1;
        int64_t back = -1;
        int rc = vida_video_frame_time(v, k, &t);
        if (rc == VIDA_OK)
            rc = vida_video_frame_at(v, t + tick / 2, &back);
        if (rc != VIDA_OK || fabs(t - (double)k * tick) > 1e-6 || back != k)
            vida_video_free(v);
        CHECKF(rc == VIDA_OK && fabs(t - (double)k * tick) < 1e-6 && back == k,
               "time_scale_0.mp4: frame %lld at %g s, frame_at gives %lld", (long long)k, t,
               (long long)back);
    }
    int64_t rev[6] = {11, 0, 7, 6, 11, 1};
    read_and_check(v, "time_scale_0.mp4", rev, 6, NULL, 0);
    vida_video_free(v);
    CHECK(!vt_failed_now);

    /* with an edit list */
    data = read_video("short.mp4", &size);
    CHECK(data);
    ts = mdhd_time_scale(data, size);
    if (ts < 0 || find_tag((const uint8_t *)data, size, "elst") < 0)
        free(data);
    CHECKF(ts > 0, "short.mp4 has no mdhd");
    CHECKF(find_tag((const uint8_t *)data, size, "elst") > 0, "short.mp4 has no edit list");
    put_be32(data + ts, 0);
    wr = vt_write_file(tmp_path(p, sizeof p, "time_scale_0_elst.mp4"), data, size);
    free(data);
    CHECK(wr == 0);
    open_expect(p, "time_scale_0_elst.mp4", VIDA_EDECODE, VIDA_EDECODE);
    CHECK(!vt_failed_now);
    CHECKF(strstr(vida_last_error(), "no frames") && strstr(vida_last_error(), "discard"), "%s",
           vida_last_error());

    /* no container */
    if (!have_video(path, sizeof path, "h264_raw.h264"))
        return;
    mad = mad_vs_ffmpeg(path, "h264_raw.h264", &in, &maxd);
    NOTE("  h264_raw.h264: %lld frames, real_fps %g, avg_fps %g, sequential %d, MAD %.3f\n",
         (long long)in.n_frames, in.real_fps, in.avg_fps, in.sequential, mad);
    CHECKF(in.n_frames == 12 && in.sequential == 1 && mad == 0,
           "h264_raw.h264: %lld frames, sequential %d, MAD %.3f", (long long)in.n_frames,
           in.sequential, mad);
    CHECK(fabs(in.real_fps - 25) < 1e-9 && fabs(in.avg_fps - 25) < 1e-9);
    CHECK(strcmp(in.format, "h264") == 0);
}

/*
 * Uniform clips (3 x 8 frames, stride 2) and clips by time (6 frames at 10
 * fps) of v through vida_sampler: every frame must show its index.
 */
static void sampler_frames_right(vida_video *v, const char *name)
{
    for (int by_time = 0; by_time < 2; by_time++) {
        vida_sampler_params sp;
        vida_sampler *s = NULL;
        int64_t nv = 0, shape[5], idx[24];
        vida_sampler_params_init(&sp);
        sp.clip_mode = VIDA_CLIPS_UNIFORM;
        sp.clips = by_time ? 1 : 3;
        sp.frames = by_time ? 6 : 8;
        sp.stride = 2;
        sp.fps = by_time ? 10 : 0;
        sp.short_side_min = sp.short_side_max = 0;
        sp.crop = 0;
        sp.crop_mode = VIDA_CROP_NONE;
        CHECK_OK(vida_sampler_create(&s, NULL, &sp));
        int rc = vida_sampler_plan(s, v, &nv, shape);
        size_t fb = rc == VIDA_OK ? (size_t)(shape[2] * shape[3] * 3) : 0;
        size_t n = (size_t)(nv * sp.frames);
        uint8_t *out = rc == VIDA_OK && n <= 24 ? malloc(fb * n) : NULL;
        if (out)
            rc = vida_sampler_sample(s, v, 5, out, fb * n, idx, n);
        vida_sampler_free(s);
        int bad = out ? 0 : 1;
        for (size_t i = 0; rc == VIDA_OK && out && i < n; i++)
            bad += vt_frame_read(out + fb * i, (int)shape[3], (int)shape[2]) != idx[i] ||
                   (i % (size_t)sp.frames && idx[i] < idx[i - 1]);
        free(out);
        CHECKF(rc == VIDA_OK && bad == 0, "%s: sampler (%s): %d (%s), %d frames wrong", name,
               by_time ? "by time" : "uniform", rc, rc ? vida_last_error() : "", bad);
    }
}

/*
 * Timestamps that jump back or repeat: two MPEG-TS files joined byte by byte
 * (frames 0-11 then 12-23; the first shifted 10 s later, or both from the same
 * time) and a Matroska file whose frames share timestamps two by two. They are
 * read sequentially, in the decoder's order, which is what the ffmpeg program
 * shows (`-fps_mode passthrough`): every frame, exact, pixel for pixel; frame
 * k at k/25 s. Random reads, clips and clips by time give the right frames.
 * (Before: ts_backward.ts opened with 11 frames -- the second file's, whose
 * timestamps are earlier, were dropped as "leading" frames, and the packet at
 * the joint that MPEG-TS flags corrupt shifted frame 9 to 10; ts_repeat.ts had
 * 23 frames; dup_pts.mkv gave frames 0 and 1 the same time, so frame_at could
 * never return frame 0.)
 */
TEST(video, timestamps_jump_back_or_repeat)
{
    static const struct {
        const char *name;
        int64_t n;
    } files[] = {{"ts_backward.ts", 24}, {"ts_repeat.ts", 24}, {"dup_pts.mkv", 20}};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[512];
        vida_video_info in;
        vida_video *v = NULL;
        int maxd;
        if (!have_video(path, sizeof path, files[f].name))
            return;
        double mad = mad_vs_ffmpeg(path, files[f].name, &in, &maxd);
        NOTE("  %-16s %lld frames, sequential %d, duration %g, MAD %.3f\n", files[f].name,
             (long long)in.n_frames, in.sequential, in.duration, mad);
        CHECKF(in.n_frames == files[f].n && in.sequential == 1,
               "%s: %lld frames (want %lld), sequential %d", files[f].name, (long long)in.n_frames,
               (long long)files[f].n, in.sequential);
        CHECKF(mad == 0, "%s: MAD %.3f (max %d) against ffmpeg", files[f].name, mad, maxd);
        CHECK_OK(vida_video_open(&v, NULL, path, NULL));
        int bad = 0;
        for (int64_t k = 0; k < files[f].n; k++) {
            double t = -1;
            int64_t back = -1;
            if (vida_video_frame_time(v, k, &t) != VIDA_OK || fabs(t - k / 25.0) > 1e-6 ||
                vida_video_frame_at(v, t + 1e-3, &back) != VIDA_OK || back != k) {
                if (!bad++)
                    fprintf(stderr, "  %s: frame %lld at %g s, frame_at gives %lld\n",
                            files[f].name, (long long)k, t, (long long)back);
            }
        }
        int64_t idx[8] = {files[f].n - 1, 0, 12, 11, 13, 5, files[f].n - 1, 11};
        if (!bad)
            read_and_check(v, files[f].name, idx, 8, NULL, 0);
        if (!bad && !vt_failed_now)
            sampler_frames_right(v, files[f].name);
        vida_video_free(v);
        CHECK(!bad && !vt_failed_now);
    }
}

/*
 * 1x1 pixel (the frame gradient shrunk to one pixel, another colour in each
 * frame), 4:4:4 H.264 and 4:2:0 MPEG-4: every frame equals the ffmpeg
 * program's, also read backwards; scaled up to 16x16 it is that colour
 * everywhere; cropped and mirrored too.
 */
static void one_pixel_case(const char *name)
{
    char path[512];
    vida_video_info in;
    vida_video *v = NULL;
    int64_t idx[10];
    uint8_t *ours, *ref;
    if (!have_video(path, sizeof path, name))
        return;
    int rc = read_with_ffmpeg(path, &in, idx, &ours, &ref);
    int same = rc == VIDA_OK && ref && memcmp(ours, ref, 30) == 0;
    int varies = ref && memcmp(ref, ref + 27, 3) != 0;
    NOTE("  %s: %s %dx%d, %lld frames, frame 0 %d %d %d (ffmpeg %d %d %d)\n", name, in.pix_fmt,
         in.width, in.height, (long long)in.n_frames, ours ? ours[0] : -1, ours ? ours[1] : -1,
         ours ? ours[2] : -1, ref ? ref[0] : -1, ref ? ref[1] : -1, ref ? ref[2] : -1);
    free(ours);
    if (rc != VIDA_OK || !same || !varies || in.width != 1 || in.height != 1 || in.n_frames != 10)
        free(ref);
    CHECKF(rc == VIDA_OK && in.width == 1 && in.height == 1 && in.n_frames == 10,
           "%s: %d (%s), %dx%d, %lld frames", name, rc, vida_last_error(), in.width, in.height,
           (long long)in.n_frames);
    CHECKF(same, "%s: pixels differ from ffmpeg's", name);
    CHECKF(varies, "%s: frames 0 and 9 have the same colour", name);
    if (idx[0] != 0 || idx[9] != 9) /* pixel_indices of 10 frames: 0..9, ref frame k at 3k */
        free(ref);
    CHECK(idx[0] == 0 && idx[9] == 9);

    uint8_t back[30], big[16 * 16 * 3], crop[5 * 7 * 3];
    int64_t rev[10];
    for (int k = 0; k < 10; k++)
        rev[k] = 9 - k;
    vida_frame_geometry g;
    vida_frame_geometry_init(&g);
    g.short_side = 16;
    int w = 0, h = 0, far = 0;
    rc = vida_video_open(&v, NULL, path, NULL);
    if (rc == VIDA_OK)
        rc = vida_video_read(v, rev, 10, NULL, back, sizeof back);
    if (rc == VIDA_OK)
        rc = vida_video_output_size(v, &g, &w, &h);
    if (rc == VIDA_OK && w == 16 && h == 16)
        rc = vida_video_read(v, &rev[2], 1, &g, big, sizeof big); /* frame 7 */
    g.crop_width = 5, g.crop_height = 7, g.crop_x = 9, g.crop_y = 2, g.flip = 1;
    if (rc == VIDA_OK)
        rc = vida_video_read(v, &rev[2], 1, &g, crop, sizeof crop);
    vida_video_free(v);
    for (int k = 0; rc == VIDA_OK && k < 10; k++)
        far += memcmp(back + 3 * k, ref + 3 * (9 - k), 3) != 0;
    for (int i = 0; rc == VIDA_OK && i < 16 * 16 * 3; i++)
        far += abs(big[i] - ref[3 * 7 + i % 3]) > 2;
    for (int i = 0; rc == VIDA_OK && i < 5 * 7 * 3; i++)
        far += abs(crop[i] - ref[3 * 7 + i % 3]) > 2;
    free(ref);
    CHECKF(rc == VIDA_OK && w == 16 && h == 16, "%s: %d (%s), scaled %dx%d", name, rc,
           rc ? vida_last_error() : "", w, h);
    CHECKF(far == 0, "%s: %d values differ (backwards, scaled, cropped)", name, far);
}

TEST(video, one_pixel)
{
    one_pixel_case("one_pixel.mp4");
    if (!vt_failed_now)
        one_pixel_case("one_pixel.avi");
}

/*
 * Palettized frames (pal8.mov: PNG with a 16-colour palette): pixels equal the
 * ffmpeg program's, at native size and scaled to 48x36 (its scale filter
 * converts pal8 straight to RGB, as we do); info says pal8, 8 bits, full
 * range (as ffprobe: "pc"). Frame identity: frame_identity_all_files.
 */
TEST(video, pal8)
{
    char path[512];
    vida_video_info in;
    vida_video *v = NULL;
    int maxd;
    if (!have_video(path, sizeof path, "pal8.mov"))
        return;
    double mad = mad_vs_ffmpeg(path, "pal8.mov", &in, &maxd);
    NOTE("  pal8.mov: %s %s %dx%d, full_range %d, MAD %.3f\n", in.codec, in.pix_fmt, in.width,
         in.height, in.full_range, mad);
    CHECKF(mad == 0, "pal8.mov: MAD %.3f (max %d) against ffmpeg", mad, maxd);
    CHECKF(strcmp(in.pix_fmt, "pal8") == 0 && in.full_range == 1 && in.bit_depth == 8,
           "pal8.mov: pix_fmt %s full_range %d bit_depth %d", in.pix_fmt, in.full_range,
           in.bit_depth);

    vida_frame_geometry g;
    vida_frame_geometry_init(&g);
    g.short_side = 36; /* 64x48 -> 48x36 */
    int w = 0, h = 0;
    int64_t idx[10];
    pixel_indices(idx, in.n_frames);
    CHECK_OK(vida_video_open(&v, NULL, path, NULL));
    int rc = vida_video_output_size(v, &g, &w, &h);
    size_t fb = (size_t)w * h * 3;
    uint8_t *ours = rc == VIDA_OK ? malloc(fb * 10) : NULL;
    uint8_t *ref = ours ? ffmpeg_frames(path, idx, w, h, 1) : NULL;
    if (ours)
        rc = vida_video_read(v, idx, 10, &g, ours, fb * 10);
    vida_video_free(v);
    double smad = -1;
    int n7 = -1;
    if (rc == VIDA_OK && ref) {
        smad = 0;
        for (size_t i = 0; i < fb * 10; i++)
            smad += abs((int)ours[i] - (int)ref[i]);
        smad /= (double)(fb * 10);
        n7 = vt_frame_read(ours + 7 * fb, w, h);
    }
    printf("  pal8.mov -> %dx%d: MAD %.3f against ffmpeg's scale\n", w, h, smad);
    free(ours);
    free(ref);
    CHECKF(rc == VIDA_OK && w == 48 && h == 36, "pal8.mov scaled: %d (%s), %dx%d", rc,
           rc ? vida_last_error() : "", w, h);
    CHECKF(smad >= 0 && smad <= 1.0, "pal8.mov scaled: MAD %.3f", smad);
    CHECKF(n7 == idx[7], "pal8.mov scaled: frame %lld reads as %d", (long long)idx[7], n7);
}

/*
 * Several streams. The stream read is FFmpeg's best video stream
 * (av_find_best_stream): the one with the default disposition first (then
 * FFmpeg's own order). two_video.mkv (stream 0 96x72 showing
 * 100-111, stream 1 160x120 showing 0-11, default on stream 1): stream 1,
 * pixels as the ffmpeg program's (which picks the largest); `stream` 0 reads
 * the other; 2 does not exist. two_video_default_first.mkv (default on stream
 * 0): stream 0, where the ffmpeg program would show stream 1. audio_first.mp4
 * (audio is stream 0): the video, pixels as ffmpeg's; `stream` 0 (the audio)
 * is refused.
 */
TEST(video, several_streams)
{
    char path[512];
    vida_video_info in;
    vida_video *v = NULL;
    vida_video_params vp;
    int maxd;
    if (!have_video(path, sizeof path, "two_video.mkv"))
        return;
    double mad = mad_vs_ffmpeg(path, "two_video.mkv", &in, &maxd);
    CHECKF(mad == 0 && in.width == 160 && in.height == 120 && in.n_frames == 12,
           "two_video.mkv: %dx%d, %lld frames, MAD %.3f", in.width, in.height,
           (long long)in.n_frames, mad);
    int64_t idx[3] = {11, 0, 5};
    uint8_t px[3 * 160 * 120 * 3];
    vida_video_params_init(&vp);
    vp.stream = 0;
    CHECK_OK(vida_video_open(&v, NULL, path, &vp));
    in = get_info(v);
    int rc = vida_video_read(v, idx, 3, NULL, px, sizeof px);
    vida_video_free(v);
    size_t fb = (size_t)96 * 72 * 3;
    CHECKF(rc == VIDA_OK && in.width == 96 && in.height == 72 && vt_frame_read(px, 96, 72) == 111 &&
               vt_frame_read(px + fb, 96, 72) == 100 && vt_frame_read(px + 2 * fb, 96, 72) == 105,
           "two_video.mkv stream 0: %d (%s), %dx%d", rc, rc ? vida_last_error() : "", in.width,
           in.height);
    vp.stream = 2;
    v = NULL;
    rc = vida_video_open(&v, NULL, path, &vp);
    NOTE("  two_video.mkv stream 2: %d %s\n", rc, vida_last_error());
    CHECKF(rc == VIDA_EDECODE && v == NULL && strstr(vida_last_error(), "two_video.mkv") &&
               strstr(vida_last_error(), "no video stream"),
           "two_video.mkv stream 2: %d %s", rc, vida_last_error());

    if (!have_video(path, sizeof path, "two_video_default_first.mkv"))
        return;
    CHECK_OK(vida_video_open(&v, NULL, path, NULL));
    in = get_info(v);
    rc = vida_video_read(v, idx, 3, NULL, px, sizeof px);
    vida_video_free(v);
    CHECKF(rc == VIDA_OK && in.width == 96 && in.height == 72 && vt_frame_read(px, 96, 72) == 111 &&
               vt_frame_read(px + fb, 96, 72) == 100,
           "two_video_default_first.mkv: %d (%s), %dx%d", rc, rc ? vida_last_error() : "", in.width,
           in.height);

    if (!have_video(path, sizeof path, "audio_first.mp4"))
        return;
    mad = mad_vs_ffmpeg(path, "audio_first.mp4", &in, &maxd);
    CHECKF(mad == 0 && in.width == 160 && in.n_frames == 12,
           "audio_first.mp4: %dx%d, %lld frames, MAD %.3f", in.width, in.height,
           (long long)in.n_frames, mad);
    vp.stream = 0;
    rc = vida_video_open(&v, NULL, path, &vp);
    NOTE("  audio_first.mp4 stream 0: %d %s\n", rc, vida_last_error());
    CHECKF(rc == VIDA_EDECODE && v == NULL && strstr(vida_last_error(), "audio_first.mp4") &&
               strstr(vida_last_error(), "no video stream"),
           "audio_first.mp4 stream 0: %d %s", rc, vida_last_error());
}

/*
 * HEVC with damaged NAL units: hevc.mp4 (x265, one slice per frame, keyframes
 * at 0 and 250) with, among the frames decoded 150th to 199th, bytes flipped
 * inside slices, NAL lengths of 0xfffffff0 (past the end of the file), or
 * NAL headers of 0xffff (forbidden bit, type 63). Each opens (the index is
 * intact); every read of 10 frames either succeeds or fails with VIDA_EDECODE
 * naming the file and the frame, as for H.264; frames 0-139 and 250-299 read
 * exactly; damage shows (frames wrong or missing) in between. No crash or
 * hang (also under ASan).
 */
TEST(video, hevc_corrupt_nal_units)
{
    char path[512], p[600];
    size_t size, mdat_size = 0;
    if (!have_video(path, sizeof path, "hevc.mp4"))
        return;
    char *data = read_video("hevc.mp4", &size);
    CHECK(data);
    long mdat = mp4_box((const uint8_t *)data, size, "mdat", &mdat_size);
    /* the frames as 4-byte-length-prefixed NAL units, back to back in mdat */
    long nal[1024];
    int n_nal = 0, n_vcl = 0;
    size_t off = mdat > 0 ? (size_t)mdat : size, end = off + mdat_size;
    while (off + 6 <= end && n_nal < 1024) {
        size_t len = get_be32(data + off);
        if (len < 2 || len > end - off - 4)
            break;
        if (((uint8_t)data[off + 4] >> 1 & 0x3F) < 32) /* a slice (VCL NAL unit) */
            nal[n_vcl++] = (long)off;
        n_nal++;
        off += 4 + len;
    }
    if (off != end || n_vcl != 300)
        free(data);
    CHECKF(off == end && n_vcl == 300,
           "hevc.mp4: %d NAL units, %d slices, walk ended at %zu of %zu", n_nal, n_vcl, off, end);
    char *bad = malloc(size);
    if (!bad)
        free(data);
    CHECK(bad);
    uint64_t seed = 12;
    for (int variant = 0; variant < 3 && !vt_failed_now; variant++) {
        static const char *const names[] = {"hevc_flip.mp4", "hevc_nal_size.mp4",
                                            "hevc_nal_header.mp4"};
        memcpy(bad, data, size);
        for (int d = 150; d < 200; d++) {
            char *u = bad + nal[d];
            size_t len = get_be32(u);
            if (variant == 0 && d % 3 == 0)
                for (int k = 0; k < 8; k++)
                    u[4 + 2 + rng_next(&seed) % (len - 2)] ^= (char)(1 + rng_next(&seed) % 255);
            else if (variant == 1 && d % 7 == 0)
                put_be32(u, 0xFFFFFFF0u);
            else if (variant == 2 && d % 5 == 0)
                u[4] = u[5] = (char)0xFF;
        }
        if (vt_write_file(tmp_path(p, sizeof p, names[variant]), bad, size) != 0) {
            vt_failed_now = 1;
            break;
        }
        vida_video *v = NULL;
        int rc = vida_video_open(&v, NULL, p, NULL);
        vida_video_info in = get_info(v);
        if (rc != VIDA_OK || in.n_frames != 300) {
            fprintf(stderr, "  %s: open %d (%s), %lld frames\n", names[variant], rc,
                    vida_last_error(), (long long)in.n_frames);
            vida_video_free(v);
            vt_failed_now = 1;
            break;
        }
        int keys_0_250 = in.n_keyframes == 2 && in.max_keyframe_gap == 250;
        uint8_t *out = malloc((size_t)10 * 160 * 120 * 3);
        int n_err = 0, n_wrong = 0, wrong_outside = 0, bad_err = 0;
        for (int64_t c = 0; out && c < 30; c++) {
            int64_t idx[10];
            for (int k = 0; k < 10; k++)
                idx[k] = c * 10 + k;
            int outside = c * 10 + 9 < 140 || (keys_0_250 && c * 10 >= 250);
            int r = vida_video_read(v, idx, 10, NULL, out, (size_t)10 * 160 * 120 * 3);
            if (r != VIDA_OK) {
                NOTE("  %-20s frames %lld-%lld: %d %s\n", names[variant], (long long)idx[0],
                     (long long)idx[9], r, vida_last_error());
                n_err++;
                bad_err += r != VIDA_EDECODE || !strstr(vida_last_error(), names[variant]) ||
                           !strstr(vida_last_error(), "frame ");
                wrong_outside += outside;
                continue;
            }
            for (int k = 0; k < 10; k++)
                if (vt_frame_read(out + (size_t)k * 160 * 120 * 3, 160, 120) != idx[k]) {
                    n_wrong++;
                    wrong_outside += outside;
                }
        }
        free(out);
        vida_video_free(v);
        printf("  %-20s 30 reads of 10 frames: %d failed (VIDA_EDECODE), %d frames damaged\n",
               names[variant], n_err, n_wrong);
        CHECKF(bad_err == 0, "%s: a read failed other than with VIDA_EDECODE naming file and frame",
               names[variant]);
        CHECKF(wrong_outside == 0, "%s: %d undamaged frames wrong or failed", names[variant],
               wrong_outside);
        CHECKF(n_err + n_wrong > 0, "%s: the damage did not show", names[variant]);
    }
    free(bad);
    free(data);
}

/* --- one handle, two threads ------------------------------------------------------------------ */

#include <pthread.h>

typedef struct other_read {
    vida_video *v;
    int go; /* __atomic */
    int rc;
    uint8_t *out;
    char msg[512];
} other_read;

static void *read_from_another_thread(void *arg)
{
    other_read *r = arg;
    const int64_t idx = 299;
    while (!__atomic_load_n(&r->go, __ATOMIC_ACQUIRE))
        ;
    usleep(2000); /* inside the main thread's read of 300 frames */
    r->rc = vida_video_read(r->v, &idx, 1, NULL, r->out, 160 * 120 * 3);
    snprintf(r->msg, sizeof r->msg, "%s", r->rc ? vida_last_error() : "");
    return NULL;
}

/*
 * A vida_video is used by one thread at a time (video.h): a read from a second
 * thread while another read runs gets VIDA_ESTATE ("in use by another
 * thread"), the running read's frames are the single-threaded ones, and the
 * handle reads again afterwards. Up to 10 tries for an overlap.
 */
TEST(video, a_second_thread_gets_estate)
{
    char path[512];
    vida_video *v;
    int64_t idx[300];
    const size_t fb = 160 * 120 * 3;
    uint8_t *ref = malloc(300 * fb), *got = malloc(300 * fb), *one = malloc(fb);
    int tries, conflicts = 0;
    CHECK(ref && got && one);
    OPEN_VIDEO(v, "h264.mp4", path);
    for (int i = 0; i < 300; i++)
        idx[i] = i;
    CHECK_OK(vida_video_read(v, idx, 300, NULL, ref, 300 * fb));
    for (tries = 0; tries < 10 && !conflicts; tries++) {
        other_read r;
        pthread_t th;
        int rc;
        memset(&r, 0, sizeof r);
        r.v = v;
        r.out = one;
        CHECK(pthread_create(&th, NULL, read_from_another_thread, &r) == 0);
        __atomic_store_n(&r.go, 1, __ATOMIC_RELEASE);
        rc = vida_video_read(v, idx, 300, NULL, got, 300 * fb);
        pthread_join(th, NULL);
        if (rc == VIDA_OK && r.rc == VIDA_OK)
            continue;
        conflicts++;
        NOTE("  try %d: main %d, other %d: %s\n", tries, rc, r.rc, r.rc ? r.msg : vida_last_error());
        CHECK((rc == VIDA_OK) != (r.rc == VIDA_OK));
        if (r.rc != VIDA_OK) {
            CHECK(r.rc == VIDA_ESTATE);
            CHECKF(strstr(r.msg, "in use by another thread") && strstr(r.msg, "vida_video_read"),
                   "%s", r.msg);
            CHECK(memcmp(got, ref, 300 * fb) == 0);
        } else {
            CHECK(rc == VIDA_ESTATE);
            CHECK(memcmp(one, ref + 299 * fb, fb) == 0);
        }
    }
    CHECKF(conflicts > 0, "no read overlapped in %d tries", tries);
    {
        const int64_t last = 299;
        CHECK_OK(vida_video_read(v, &last, 1, NULL, one, fb));
        CHECK(memcmp(one, ref + 299 * fb, fb) == 0);
    }
    vida_video_free(v);
    free(ref);
    free(got);
    free(one);
}

/* --- allocation failure --------------------------------------------------------------------- */

#include "core/core.h"

/*
 * Allocation failure at every library allocation of an open, a read and a
 * sampler clip (vidai_alloc_fail_at: allocation n fails, n = 1, 2, ... until
 * none is left to fail): each attempt returns VIDA_ENOMEM with "out of
 * memory", the video frees cleanly (no leak under LSan: make check-sanitize),
 * and the attempt that succeeds gives the same pixels as a plain run.
 * FFmpeg's own allocations (av_malloc) are not reached by the injection.
 */
TEST(video, allocation_failure_at_every_allocation_of_open_read_and_sample)
{
    char path[512];
    const int64_t idx[3] = {0, 150, 299};
    vida_frame_geometry g;
    vida_sampler_params sp;
    vida_sampler *s = NULL;
    vida_video *v = NULL;
    int64_t shape[5], nv = 0, ix[8];
    size_t fbytes = 0, cbytes;
    uint8_t *ref_f, *ref_c, *got_f, *got_c;
    int failures = 0, rc = VIDA_OK;
    long n;
    OPEN_VIDEO(v, "h264.mp4", path);
    vida_frame_geometry_init(&g);
    g.scale_width = 64;
    g.scale_height = 48;
    vida_sampler_params_init(&sp);
    sp.frames = 8;
    sp.stride = 2;
    sp.short_side_min = sp.short_side_max = 48;
    sp.crop = 32;
    CHECK_OK(vida_sampler_create(&s, NULL, &sp));
    CHECK_OK(vida_sampler_plan(s, v, &nv, shape));
    CHECK(nv == 1);
    fbytes = 3 * 64 * 48 * 3;
    cbytes = (size_t)(shape[0] * shape[1] * shape[2] * shape[3] * shape[4]);
    ref_f = malloc(fbytes);
    got_f = malloc(fbytes);
    ref_c = malloc(cbytes);
    got_c = malloc(cbytes);
    CHECK(ref_f && got_f && ref_c && got_c);
    CHECK_OK(vida_video_read(v, idx, 3, &g, ref_f, fbytes));
    CHECK_OK(vida_sampler_sample(s, v, 5, ref_c, cbytes, ix, 8));
    vida_video_free(v);
    for (n = 1; n < 100000; n++) {
        v = NULL;
        vidai_alloc_fail_at(n);
        rc = vida_video_open(&v, NULL, path, NULL);
        if (rc == VIDA_OK)
            rc = vida_video_read(v, idx, 3, &g, got_f, fbytes);
        if (rc == VIDA_OK)
            rc = vida_sampler_sample(s, v, 5, got_c, cbytes, ix, 8);
        vidai_alloc_fail_at(0);
        vida_video_free(v);
        if (rc == VIDA_OK)
            break;
        CHECKF(rc == VIDA_ENOMEM && strstr(vida_last_error(), "out of memory"),
               "allocation %ld: rc %d, %s", n, rc, vida_last_error());
        failures++;
    }
    NOTE("  open + read + sample of h264.mp4: allocations 1 to %d each failed cleanly\n", failures);
    CHECKF(failures >= 3 && rc == VIDA_OK, "%d failed attempts, last rc %d", failures, rc);
    CHECK(memcmp(got_f, ref_f, fbytes) == 0);
    CHECK(memcmp(got_c, ref_c, cbytes) == 0);
    vida_sampler_free(s);
    free(ref_f);
    free(got_f);
    free(ref_c);
    free(got_c);
}
