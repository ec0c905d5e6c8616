/*
 * Benchmark (not a test): decode + clip sampling throughput of libvidaction,
 * the loader's use case — open a video, draw K random clips, close it.
 * bench_decode.sh runs this against PyAV and decord (bench_decode_py.py) on
 * the same clips, which this program chooses and writes to a plan file.
 *
 *   bench_decode --plan PLAN [--frames 16] [--stride 2] [--clips K]
 *                [--opens N] [--reps R] [--seed S] [--dump FILE] VIDEO...
 *       Opens each video once, asks the sampler (RANDOM clips, short side
 *       128, centre crop 112, uint8) which frames each open would read, and
 *       writes PLAN: one "open" line per (rep, round, video) with its seed and
 *       the K*L frame numbers. --dump writes the pixels of rep 0's first open
 *       of each video, uint8 [videos, K, L, 112, 112, 3], for the peers'
 *       correctness check.
 *
 *   bench_decode --run PLAN --rep r [--loops n]
 *       Times rep r: for every open line, vida_video_open (1 decoder thread),
 *       vida_sampler_sample with the line's seed (the frame numbers it reads
 *       are checked against the plan), vida_video_free. One untimed warm-up
 *       open first. --loops repeats the rep (for profilers). Prints one JSON
 *       line: {"impl", "version", "rep", "clips", "opens", "wall_s", "cpu_s",
 *       "open_s" (wall time inside vida_video_open), "frames_decoded", "seeks"}.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vidaction.h>

#define MAX_VIDEOS 64
#define MAX_PATH 4096

typedef struct plan {
    int frames, stride, clips, crop, short_side;
    int n_videos;
    char *paths[MAX_VIDEOS];
    int n_opens;      /* open lines for the selected rep */
    int *video;       /* [n_opens] */
    uint64_t *seed;   /* [n_opens] */
    int64_t *indices; /* [n_opens, clips * frames] */
} plan;

static double seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* splitmix64: a well-mixed seed from (base, rep, round, video). */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static int fail(const char *what)
{
    fprintf(stderr, "bench_decode: %s: %s\n", what, vida_last_error());
    return 1;
}

static int make_sampler(vida_sampler **out, int frames, int stride, int clips, int short_side,
                        int crop)
{
    vida_sampler_params sp;
    vida_sampler_params_init(&sp);
    sp.frames = frames;
    sp.stride = stride;
    sp.clip_mode = VIDA_CLIPS_RANDOM;
    sp.clips = clips;
    sp.short_side_min = sp.short_side_max = short_side;
    sp.crop = crop;
    sp.crop_mode = VIDA_CROP_CENTER;
    sp.output = VIDA_SAMPLE_U8;
    return vida_sampler_create(out, NULL, &sp);
}

static int open_video(vida_video **out, const char *path)
{
    vida_video_params vp;
    vida_video_params_init(&vp);
    vp.threads = 1;
    return vida_video_open(out, NULL, path, &vp);
}

static int write_plan(const char *plan_path, const char *dump_path, int frames, int stride,
                      int clips, int opens, int reps, uint64_t seed0, char **videos,
                      int n_videos)
{
    const int short_side = 128, crop = 112;
    size_t n_idx = (size_t)clips * frames;
    size_t clip_bytes = n_idx * crop * crop * 3;
    int64_t *idx = malloc(n_idx * sizeof(int64_t));
    uint8_t *pix = malloc(clip_bytes);
    vida_sampler *s = NULL;
    FILE *f = fopen(plan_path, "w"), *d = NULL;
    int v, rep, round, rc = 1;
    if (!f || !idx || !pix) {
        fprintf(stderr, "bench_decode: cannot write %s\n", plan_path);
        goto done;
    }
    if (dump_path && !(d = fopen(dump_path, "wb"))) {
        fprintf(stderr, "bench_decode: cannot write %s\n", dump_path);
        goto done;
    }
    if (make_sampler(&s, frames, stride, clips, short_side, crop)) {
        rc = fail("sampler");
        goto done;
    }
    fprintf(f, "vida-bench-plan 1\n");
    fprintf(f, "geometry %d %d %d %d %d\n", frames, stride, clips, short_side, crop);
    for (v = 0; v < n_videos; v++) {
        vida_video *vid = NULL;
        vida_video_info info;
        if (open_video(&vid, videos[v])) {
            rc = fail(videos[v]);
            goto done;
        }
        info.size = sizeof info;
        vida_video_get_info(vid, &info);
        fprintf(f, "video %d %s\n", v, videos[v]);
        fprintf(f, "info %d %" PRId64 " %d %d %.3f %" PRId64 " %" PRId64 " %s %s\n", v,
                info.n_frames, info.width, info.height, info.avg_fps, info.n_keyframes,
                info.max_keyframe_gap, info.codec, videos[v]);
        for (rep = 0; rep < reps; rep++)
            for (round = 0; round < opens; round++) {
                uint64_t seed = mix(seed0 ^ mix(((uint64_t)rep << 40) | ((uint64_t)round << 20)
                                                | (uint64_t)v));
                size_t i;
                if (vida_sampler_indices(s, vid, seed, idx, n_idx)) {
                    vida_video_free(vid);
                    rc = fail(videos[v]);
                    goto done;
                }
                fprintf(f, "open %d %d %d %" PRIu64, rep, round, v, seed);
                for (i = 0; i < n_idx; i++)
                    fprintf(f, " %" PRId64, idx[i]);
                fprintf(f, "\n");
                if (d && rep == 0 && round == 0) {
                    if (vida_sampler_sample(s, vid, seed, pix, clip_bytes, NULL, 0)) {
                        vida_video_free(vid);
                        rc = fail(videos[v]);
                        goto done;
                    }
                    fwrite(pix, 1, clip_bytes, d);
                }
            }
        vida_video_free(vid);
    }
    rc = 0;
done:
    if (f && fclose(f)) rc = 1;
    if (d && fclose(d)) rc = 1;
    vida_sampler_free(s);
    free(idx);
    free(pix);
    return rc;
}

/* Reads the plan's header, videos and the open lines of rep (in file order). */
static int read_plan(plan *p, const char *path, int rep)
{
    FILE *f = fopen(path, "r");
    char line[1 << 16];
    int cap = 0, bad = 0;
    memset(p, 0, sizeof *p);
    if (!f) {
        fprintf(stderr, "bench_decode: cannot read %s\n", path);
        return 1;
    }
    while (fgets(line, sizeof line, f)) {
        int v, r, round, off;
        uint64_t seed;
        if (sscanf(line, "geometry %d %d %d %d %d", &p->frames, &p->stride, &p->clips,
                   &p->short_side, &p->crop) == 5)
            continue;
        if (sscanf(line, "video %d %n", &v, &off) == 1 && v == p->n_videos && v < MAX_VIDEOS) {
            line[strcspn(line, "\n")] = 0;
            p->paths[p->n_videos++] = strdup(line + off);
            continue;
        }
        if (sscanf(line, "open %d %d %d %" SCNu64 "%n", &r, &round, &v, &seed, &off) == 4) {
            size_t n_idx = (size_t)p->clips * p->frames, i;
            char *s = line + off;
            if (r != rep) continue;
            if (v < 0 || v >= p->n_videos || n_idx == 0) {
                bad = 1;
                break;
            }
            if (p->n_opens == cap) {
                cap = cap ? 2 * cap : 64;
                p->video = realloc(p->video, cap * sizeof(int));
                p->seed = realloc(p->seed, cap * sizeof(uint64_t));
                p->indices = realloc(p->indices, cap * n_idx * sizeof(int64_t));
                if (!p->video || !p->seed || !p->indices) {
                    bad = 1;
                    break;
                }
            }
            for (i = 0; i < n_idx; i++)
                p->indices[p->n_opens * n_idx + i] = strtoll(s, &s, 10);
            p->video[p->n_opens] = v;
            p->seed[p->n_opens] = seed;
            p->n_opens++;
        }
    }
    fclose(f);
    if (bad || p->n_opens == 0) {
        fprintf(stderr, "bench_decode: %s: bad plan or no open lines for rep %d\n", path, rep);
        return 1;
    }
    return 0;
}

static int run_plan(const char *path, int rep, int loops)
{
    plan p;
    vida_sampler *s = NULL;
    size_t n_idx, out_bytes;
    uint8_t *out = NULL;
    int64_t *idx = NULL, decoded = 0, seeks = 0;
    double w0, c0, wall, cpu, t, open_s = 0;
    int i, loop, rc = 1;
    if (read_plan(&p, path, rep)) return 1;
    n_idx = (size_t)p.clips * p.frames;
    out_bytes = n_idx * p.crop * p.crop * 3;
    out = malloc(out_bytes);
    idx = malloc(n_idx * sizeof(int64_t));
    if (!out || !idx) goto done;
    if (make_sampler(&s, p.frames, p.stride, p.clips, p.short_side, p.crop)) {
        rc = fail("sampler");
        goto done;
    }
    /* i == -1 is the untimed warm-up (the rep's first open). */
    w0 = c0 = 0;
    for (loop = 0; loop < loops; loop++)
        for (i = loop ? 0 : -1; i < p.n_opens; i++) {
            int k = i < 0 ? 0 : i;
            vida_video *v = NULL;
            vida_video_stats st;
            t = seconds(CLOCK_MONOTONIC);
            if (open_video(&v, p.paths[p.video[k]])) {
                rc = fail(p.paths[p.video[k]]);
                goto done;
            }
            t = seconds(CLOCK_MONOTONIC) - t;
            if (vida_sampler_sample(s, v, p.seed[k], out, out_bytes, idx, n_idx)) {
                vida_video_free(v);
                rc = fail(p.paths[p.video[k]]);
                goto done;
            }
            if (memcmp(idx, p.indices + k * n_idx, n_idx * sizeof(int64_t)) != 0) {
                vida_video_free(v);
                fprintf(stderr, "bench_decode: %s: sampler frames differ from the plan\n",
                        p.paths[p.video[k]]);
                goto done;
            }
            st.size = sizeof st;
            vida_video_get_stats(v, &st);
            vida_video_free(v);
            if (i < 0) {
                w0 = seconds(CLOCK_MONOTONIC);
                c0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
            } else {
                open_s += t;
                decoded += st.frames_decoded;
                seeks += st.seeks;
            }
        }
    wall = seconds(CLOCK_MONOTONIC) - w0;
    cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("{\"impl\":\"libvidaction\",\"version\":\"%s\",\"rep\":%d,\"clips\":%d,\"opens\":%d,"
           "\"wall_s\":%.6f,\"cpu_s\":%.6f,\"open_s\":%.6f,\"frames_decoded\":%" PRId64
           ",\"seeks\":%" PRId64 "}\n",
           vida_version_string(), rep, loops * p.n_opens * p.clips, loops * p.n_opens, wall, cpu,
           open_s, decoded, seeks);
    rc = 0;
done:
    vida_sampler_free(s);
    free(out);
    free(idx);
    for (i = 0; i < p.n_videos; i++)
        free(p.paths[i]);
    free(p.video);
    free(p.seed);
    free(p.indices);
    return rc;
}

int main(int argc, char **argv)
{
    const char *plan_out = NULL, *plan_in = NULL, *dump = NULL;
    int frames = 16, stride = 2, clips = 1, opens = 1, reps = 5, rep = 0, loops = 1, i;
    uint64_t seed = 1;
    for (i = 1; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        const char *o = argv[i], *a = argv[i + 1];
        if (strcmp(o, "--plan") == 0) plan_out = a;
        else if (strcmp(o, "--run") == 0) plan_in = a;
        else if (strcmp(o, "--dump") == 0) dump = a;
        else if (strcmp(o, "--frames") == 0) frames = atoi(a);
        else if (strcmp(o, "--stride") == 0) stride = atoi(a);
        else if (strcmp(o, "--clips") == 0) clips = atoi(a);
        else if (strcmp(o, "--opens") == 0) opens = atoi(a);
        else if (strcmp(o, "--reps") == 0) reps = atoi(a);
        else if (strcmp(o, "--rep") == 0) rep = atoi(a);
        else if (strcmp(o, "--loops") == 0) loops = atoi(a);
        else if (strcmp(o, "--seed") == 0) seed = strtoull(a, NULL, 10);
        else {
            fprintf(stderr, "bench_decode: unknown option %s\n", o);
            return 2;
        }
    }
    if (frames < 1 || stride < 1 || clips < 1 || opens < 1 || reps < 1 || loops < 1
        || !plan_out == !plan_in || (plan_out && i >= argc) || argc - i > MAX_VIDEOS) {
        fprintf(stderr, "usage: bench_decode --plan PLAN [options] VIDEO... | --run PLAN --rep r\n");
        return 2;
    }
    if (plan_out)
        return write_plan(plan_out, dump, frames, stride, clips, opens, reps, seed, argv + i,
                          argc - i);
    return run_plan(plan_in, rep, loops);
}
