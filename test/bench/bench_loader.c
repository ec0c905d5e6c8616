/*
 * Benchmark (not a test): throughput of vida_loader (clips/s) and what
 * limits it. bench_loader.sh runs this against a PyTorch DataLoader over a
 * PyAV Dataset (bench_loader_py.py) on the same clips, which this program
 * chooses and writes to a plan file.
 *
 *   bench_loader --plan PLAN --manifest TSV [--batch 8] [--batches B]
 *                [--reps R] [--seed S] [--classes C] [--frames 16]
 *                [--stride 2] [--dump FILE] VIDEO...
 *       Writes the manifest TSV (one "name<TAB>label" line per video, the
 *       names relative to the videos' directory, label "class<v mod C>"),
 *       opens it as a vida_dataset (root = that directory, check_files 1)
 *       and writes PLAN: per rep r (loader seed S + r) the samples of the
 *       loader's first 1 + B batches (batch 0 is the untimed warm-up) in the
 *       order vida_loader hands them out -- epoch, draw, video, the clip's
 *       seed and its L frame numbers (vida_sampler_indices). --dump writes
 *       the pixels of rep 0's warm-up batch, decoded here with
 *       vida_sampler_sample, uint8 [batch, L, 112, 112, 3].
 *
 *   bench_loader --run PLAN --rep r --mode decode
 *       The decode-only rate: the rep's B timed batches' samples, one after
 *       the other on this thread, each vida_video_open (1 decoder thread),
 *       vida_sampler_sample with the plan's seed (frame numbers checked
 *       against the plan), vida_video_free -- what one loader thread does
 *       per sample, without the loader. One untimed warm-up sample first.
 *
 *   bench_loader --run PLAN --rep r --mode loader --threads T [--dump FILE]
 *       Opens the manifest again (vida_dataset, check_files 1), a sampler
 *       (16 frames, stride 2, RANDOM, 1 clip, short side 128, centre crop
 *       112, uint8) and a vida_loader (batch 8, T threads, seed S + r, other
 *       params default); vida_loader_next once (warm-up, untimed: thread
 *       start, first batch), then times B more. Every batch's videos, draws
 *       and epoch are checked against the plan; with --dump (rep 0) the
 *       warm-up batch's pixels are compared with the decode of the same
 *       draws. vida_loader_get_stats before and after the timed batches give
 *       decode_s (thread time opening and decoding) and wait_s (time
 *       vida_loader_next waited).
 *
 * Each --run prints one JSON line: {"impl", "version", "mode", "threads",
 * "rep", "clips", "batches", "wall_s", "cpu_s" (process CPU time, all
 * threads), "decode_s", "wait_s", "failed", ...}.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vidaction.h>

#include "core/core.h" /* vidai_hash64, vidai_rng_u64: see clip_seed */

#define MAX_VIDEOS 64
#define MAX_PATH 4096
#define SHORT_SIDE 128
#define CROP 112

typedef struct sample {
    int64_t epoch, draw, video;
    uint64_t seed;
    int64_t *idx; /* [frames] */
} sample;

typedef struct plan {
    int frames, stride, short_side, crop, batch, batches;
    char *manifest, *root;
    int n_videos;
    char *paths[MAX_VIDEOS];
    uint64_t seed;  /* the loader seed of the selected rep */
    int n_samples;  /* samples of the selected rep (batches 0..B) */
    int *batch_of;  /* [n_samples] */
    sample *s;      /* [n_samples] */
} plan;

static double seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * The seed of a sample's clip: vida_loader's derivation from (seed, epoch,
 * draw), copied from src/data/loader.c (with the library's internal RNG), so
 * that the decode-only and peer runs decode the loader's very clips. The
 * --dump check of the loader run says whether it still agrees; if the loader
 * changes it, only that check (and the pairing of clips) is affected.
 */
static uint64_t clip_seed(uint64_t seed, int64_t epoch, int64_t draw)
{
    return vidai_rng_u64(vidai_hash64(seed ^ 0x636c6970ull) ^ vidai_hash64((uint64_t)epoch),
                         (uint64_t)draw);
}

static int fail(const char *what)
{
    fprintf(stderr, "bench_loader: %s: %s\n", what, vida_last_error());
    return 1;
}

static int make_sampler(vida_sampler **out, int frames, int stride)
{
    vida_sampler_params sp;
    vida_sampler_params_init(&sp);
    sp.frames = frames;
    sp.stride = stride;
    sp.clip_mode = VIDA_CLIPS_RANDOM;
    sp.clips = 1;
    sp.short_side_min = sp.short_side_max = SHORT_SIDE;
    sp.crop = CROP;
    sp.crop_mode = VIDA_CROP_CENTER;
    sp.output = VIDA_SAMPLE_U8;
    return vida_sampler_create(out, NULL, &sp);
}

static int open_dataset(vida_dataset **out, const char *manifest, const char *root)
{
    vida_dataset_params dp;
    vida_dataset_params_init(&dp);
    dp.root = root;
    dp.check_files = 1;
    dp.strict = 1;
    return vida_dataset_open(out, NULL, manifest, &dp);
}

static int open_video(vida_video **out, const char *path)
{
    vida_video_params vp;
    vida_video_params_init(&vp);
    vp.threads = 1;
    return vida_video_open(out, NULL, path, &vp);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static int write_plan(const char *plan_path, const char *manifest, const char *dump_path,
                      int frames, int stride, int batch, int batches, int reps, int classes,
                      uint64_t seed0, char **videos, int n_videos)
{
    char root[MAX_PATH];
    size_t clip_bytes = (size_t)frames * CROP * CROP * 3;
    int64_t *idx = malloc(frames * sizeof(int64_t));
    uint8_t *pix = malloc(clip_bytes);
    vida_video *vid[MAX_VIDEOS] = {0};
    vida_dataset *ds = NULL;
    vida_sampler *s = NULL;
    FILE *f = NULL, *m = NULL, *d = NULL;
    int v, rep, rc = 1;
    int64_t n;
    const char *slash = strrchr(videos[0], '/');

    if (!idx || !pix) goto done;
    /* The root is the first video's directory; every video must be in it. */
    if (slash) {
        snprintf(root, sizeof root, "%.*s", (int)(slash - videos[0]), videos[0]);
    } else {
        snprintf(root, sizeof root, ".");
    }
    if (!(m = fopen(manifest, "w"))) {
        fprintf(stderr, "bench_loader: cannot write %s\n", manifest);
        goto done;
    }
    for (v = 0; v < n_videos; v++) {
        const char *b = base_name(videos[v]);
        if ((size_t)(b - videos[v]) != (slash ? (size_t)(slash - videos[0]) + 1 : 0)
            || strncmp(videos[v], videos[0], b - videos[v]) != 0) {
            fprintf(stderr, "bench_loader: %s is not in %s\n", videos[v], root);
            goto done;
        }
        fprintf(m, "%s\tclass%d\n", b, v % classes);
    }
    if (fclose(m)) {
        m = NULL;
        fprintf(stderr, "bench_loader: cannot write %s\n", manifest);
        goto done;
    }
    m = NULL;
    if (open_dataset(&ds, manifest, root)) {
        rc = fail(manifest);
        goto done;
    }
    if (vida_dataset_size(ds) != n_videos) {
        fprintf(stderr, "bench_loader: %s: the dataset kept %" PRId64 " of %d videos\n",
                manifest, vida_dataset_size(ds), n_videos);
        for (n = 0; n < vida_dataset_n_problems(ds); n++)
            fprintf(stderr, "  %s\n", vida_dataset_problem(ds, n));
        goto done;
    }
    if (make_sampler(&s, frames, stride)) {
        rc = fail("sampler");
        goto done;
    }
    if (!(f = fopen(plan_path, "w"))) {
        fprintf(stderr, "bench_loader: cannot write %s\n", plan_path);
        goto done;
    }
    if (dump_path && !(d = fopen(dump_path, "wb"))) {
        fprintf(stderr, "bench_loader: cannot write %s\n", dump_path);
        goto done;
    }
    fprintf(f, "vida-bench-loader-plan 1\n");
    fprintf(f, "geometry %d %d %d %d %d %d\n", frames, stride, SHORT_SIDE, CROP, batch, batches);
    fprintf(f, "manifest %s\n", manifest);
    fprintf(f, "root %s\n", root);
    fprintf(f, "classes %" PRId64 "\n", vida_dataset_n_classes(ds));
    /* Kept video i of the dataset, in its order (the one draws refer to). */
    for (n = 0; n < vida_dataset_size(ds); n++) {
        vida_dataset_video dv;
        vida_video_info info;
        dv.size = sizeof dv;
        if (vida_dataset_get_video(ds, n, &dv)) {
            rc = fail("dataset video");
            goto done;
        }
        if (open_video(&vid[n], dv.path)) {
            rc = fail(dv.path);
            goto done;
        }
        info.size = sizeof info;
        if (vida_video_get_info(vid[n], &info)) {
            rc = fail(dv.path);
            goto done;
        }
        fprintf(f, "video %" PRId64 " %d %s\n", n, dv.n_labels ? dv.labels[0] : -1, dv.path);
        fprintf(f, "info %" PRId64 " %" PRId64 " %d %d %.3f %" PRId64 " %" PRId64 " %s %s\n", n,
                info.n_frames, info.width, info.height, info.avg_fps, info.n_keyframes,
                info.max_keyframe_gap, info.codec, dv.path);
    }
    for (rep = 0; rep < reps; rep++) {
        uint64_t seed = seed0 + (uint64_t)rep;
        int64_t epoch = 0, draw = 0, epoch_size = vida_dataset_epoch_size(ds);
        int b;
        fprintf(f, "rep %d %" PRIu64 "\n", rep, seed);
        /* The loader's order: epoch by epoch, batches of `batch`, the last
         * of an epoch short (drop_last 0); world 1, so sample j = draw j. */
        for (b = 0; b <= batches; b++) {
            int pos;
            for (pos = 0; pos < batch && draw < epoch_size; pos++, draw++) {
                vida_dataset_sample ss;
                uint64_t cs = clip_seed(seed, epoch, draw);
                int i;
                ss.size = sizeof ss;
                if (vida_dataset_draw(ds, seed, epoch, draw, &ss)) {
                    rc = fail("dataset draw");
                    goto done;
                }
                if (vida_sampler_indices(s, vid[ss.video], cs, idx, frames)) {
                    rc = fail("sampler indices");
                    goto done;
                }
                fprintf(f, "sample %d %d %d %" PRId64 " %" PRId64 " %" PRId64 " %" PRIu64, rep, b,
                        pos, epoch, draw, ss.video, cs);
                for (i = 0; i < frames; i++)
                    fprintf(f, " %" PRId64, idx[i]);
                fprintf(f, "\n");
                if (d && rep == 0 && b == 0) {
                    if (vida_sampler_sample(s, vid[ss.video], cs, pix, clip_bytes, NULL, 0)) {
                        rc = fail("sample");
                        goto done;
                    }
                    fwrite(pix, 1, clip_bytes, d);
                }
            }
            if (draw == epoch_size) {
                epoch++;
                draw = 0;
            }
        }
    }
    rc = 0;
done:
    if (m) fclose(m);
    if (f && fclose(f)) rc = 1;
    if (d && fclose(d)) rc = 1;
    for (v = 0; v < MAX_VIDEOS; v++)
        vida_video_free(vid[v]);
    vida_sampler_free(s);
    vida_dataset_free(ds);
    free(idx);
    free(pix);
    return rc;
}

static void free_plan(plan *p)
{
    int i;
    for (i = 0; i < p->n_videos; i++)
        free(p->paths[i]);
    for (i = 0; i < p->n_samples; i++)
        free(p->s[i].idx);
    free(p->s);
    free(p->batch_of);
    free(p->manifest);
    free(p->root);
}

/* Reads the plan's header, videos and the samples of rep (in file order). */
static int read_plan(plan *p, const char *path, int rep)
{
    FILE *f = fopen(path, "r");
    char line[1 << 16];
    int cap = 0, bad = 0, have_rep = 0;
    memset(p, 0, sizeof *p);
    if (!f) {
        fprintf(stderr, "bench_loader: cannot read %s\n", path);
        return 1;
    }
    while (fgets(line, sizeof line, f)) {
        int v, r, b, pos, off, label, i;
        int64_t epoch, draw, video;
        uint64_t seed;
        line[strcspn(line, "\n")] = 0;
        if (sscanf(line, "geometry %d %d %d %d %d %d", &p->frames, &p->stride, &p->short_side,
                   &p->crop, &p->batch, &p->batches) == 6)
            continue;
        if (strncmp(line, "manifest ", 9) == 0) {
            free(p->manifest);
            p->manifest = strdup(line + 9);
            continue;
        }
        if (strncmp(line, "root ", 5) == 0) {
            free(p->root);
            p->root = strdup(line + 5);
            continue;
        }
        if (sscanf(line, "video %d %d %n", &v, &label, &off) == 2 && v == p->n_videos
            && v < MAX_VIDEOS) {
            p->paths[p->n_videos++] = strdup(line + off);
            continue;
        }
        if (sscanf(line, "rep %d %" SCNu64, &r, &seed) == 2) {
            if (r == rep) {
                p->seed = seed;
                have_rep = 1;
            }
            continue;
        }
        if (sscanf(line, "sample %d %d %d %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNu64 "%n", &r,
                   &b, &pos, &epoch, &draw, &video, &seed, &off) == 7) {
            char *s = line + off;
            sample *x;
            if (r != rep) continue;
            if (video < 0 || video >= p->n_videos || p->frames < 1) {
                bad = 1;
                break;
            }
            if (p->n_samples == cap) {
                cap = cap ? 2 * cap : 64;
                p->s = realloc(p->s, cap * sizeof(sample));
                p->batch_of = realloc(p->batch_of, cap * sizeof(int));
                if (!p->s || !p->batch_of) {
                    bad = 1;
                    break;
                }
            }
            x = &p->s[p->n_samples];
            x->epoch = epoch;
            x->draw = draw;
            x->video = video;
            x->seed = seed;
            x->idx = malloc(p->frames * sizeof(int64_t));
            if (!x->idx) {
                bad = 1;
                break;
            }
            for (i = 0; i < p->frames; i++)
                x->idx[i] = strtoll(s, &s, 10);
            p->batch_of[p->n_samples++] = b;
        }
    }
    fclose(f);
    if (bad || !have_rep || p->n_samples == 0 || p->batch < 1 || p->batches < 1
        || !p->manifest || !p->root) {
        fprintf(stderr, "bench_loader: %s: bad plan or no samples for rep %d\n", path, rep);
        free_plan(p);
        return 1;
    }
    return 0;
}

static void print_result(const char *mode, int threads, int rep, int64_t clips, int batches,
                         double wall, double cpu, double decode_s, double wait_s, int64_t failed,
                         const char *extra)
{
    printf("{\"impl\":\"libvidaction\",\"version\":\"%s\",\"mode\":\"%s\",\"threads\":%d,"
           "\"rep\":%d,\"clips\":%" PRId64 ",\"batches\":%d,\"wall_s\":%.6f,\"cpu_s\":%.6f,"
           "\"decode_s\":%.6f,\"wait_s\":%.6f,\"failed\":%" PRId64 "%s}\n",
           vida_version_string(), mode, threads, rep, clips, batches, wall, cpu, decode_s, wait_s,
           failed, extra ? extra : "");
}

/* Decode-only: the timed batches' samples on this thread, no loader. */
static int run_decode(const plan *p, int rep)
{
    vida_sampler *s = NULL;
    size_t clip_bytes = (size_t)p->frames * p->crop * p->crop * 3;
    uint8_t *out = malloc(clip_bytes);
    int64_t *idx = malloc(p->frames * sizeof(int64_t)), clips = 0;
    double w0 = 0, c0 = 0, wall, cpu, t, open_s = 0, decode_s = 0;
    int i, first = -1, rc = 1;
    char extra[128];
    if (!out || !idx) goto done;
    if (make_sampler(&s, p->frames, p->stride)) {
        rc = fail("sampler");
        goto done;
    }
    for (i = 0; i < p->n_samples; i++)
        if (p->batch_of[i] >= 1) {
            first = i;
            break;
        }
    if (first < 0) {
        fprintf(stderr, "bench_loader: the plan has no timed batches\n");
        goto done;
    }
    /* i == -1: the untimed warm-up (the warm-up batch's first sample). */
    for (i = -1; i < p->n_samples; i++) {
        const sample *x;
        vida_video *v = NULL;
        double t0;
        if (i >= 0 && i < first) continue;
        x = &p->s[i < 0 ? 0 : i];
        t0 = t = seconds(CLOCK_MONOTONIC);
        if (open_video(&v, p->paths[x->video])) {
            rc = fail(p->paths[x->video]);
            goto done;
        }
        t = seconds(CLOCK_MONOTONIC) - t;
        if (vida_sampler_sample(s, v, x->seed, out, clip_bytes, idx, p->frames)) {
            vida_video_free(v);
            rc = fail(p->paths[x->video]);
            goto done;
        }
        vida_video_free(v);
        if (memcmp(idx, x->idx, p->frames * sizeof(int64_t)) != 0) {
            fprintf(stderr, "bench_loader: %s: sampler frames differ from the plan\n",
                    p->paths[x->video]);
            goto done;
        }
        if (i < 0) {
            w0 = seconds(CLOCK_MONOTONIC);
            c0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
        } else {
            open_s += t;
            decode_s += seconds(CLOCK_MONOTONIC) - t0;
            clips++;
        }
    }
    wall = seconds(CLOCK_MONOTONIC) - w0;
    cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
    snprintf(extra, sizeof extra, ",\"open_s\":%.6f", open_s);
    print_result("decode", 1, rep, clips, p->batches, wall, cpu, decode_s, 0, 0, extra);
    rc = 0;
done:
    vida_sampler_free(s);
    free(out);
    free(idx);
    return rc;
}

/* Checks a batch against the plan's samples of batch number `bn`. */
static int check_batch(const plan *p, const vida_batch *b, int bn)
{
    int64_t j = 0;
    int i;
    for (i = 0; i < p->n_samples; i++) {
        const sample *x = &p->s[i];
        if (p->batch_of[i] != bn) continue;
        if (j >= b->n) break;
        if (b->videos[j] != x->video || b->draws[j] != x->draw || b->epoch != x->epoch) {
            fprintf(stderr,
                    "bench_loader: batch %d sample %" PRId64 ": the loader gave epoch %" PRId64
                    " draw %" PRId64 " video %" PRId64 ", the plan epoch %" PRId64
                    " draw %" PRId64 " video %" PRId64 "\n",
                    bn, j, b->epoch, b->draws[j], b->videos[j], x->epoch, x->draw, x->video);
            return 1;
        }
        j++;
    }
    if (j != b->n || b->failed) {
        fprintf(stderr,
                "bench_loader: batch %d: %" PRId64 " samples (%" PRId64
                " failed), the plan has %" PRId64 "\n",
                bn, b->n, b->failed, j);
        return 1;
    }
    return 0;
}

static int run_loader(const plan *p, int rep, int threads, const char *dump)
{
    vida_dataset *ds = NULL;
    vida_sampler *s = NULL;
    vida_loader *l = NULL;
    vida_loader_params lp;
    vida_loader_stats st0, st1;
    vida_batch b;
    double w0, c0, wall, cpu, max_diff = -1, mean_diff = -1;
    int64_t clips = 0, failed = 0;
    int bn, rc = 1;
    char extra[512];

    if (open_dataset(&ds, p->manifest, p->root)) return fail(p->manifest);
    if (make_sampler(&s, p->frames, p->stride)) {
        rc = fail("sampler");
        goto done;
    }
    vida_loader_params_init(&lp);
    lp.batch = p->batch;
    lp.threads = threads;
    lp.seed = p->seed;
    if (vida_loader_create(&l, NULL, ds, s, &lp)) {
        rc = fail("loader");
        goto done;
    }
    memset(&b, 0, sizeof b);
    b.size = sizeof b;
    if (vida_loader_next(l, &b)) {
        rc = fail("loader warm-up batch");
        goto done;
    }
    if (check_batch(p, &b, 0)) goto done;
    if (dump) {
        /* Pixels of the warm-up batch against the same draws decoded alone. */
        size_t n = (size_t)b.n * p->frames * p->crop * p->crop * 3, i;
        uint8_t *ref = malloc(n);
        const uint8_t *got = b.clips.data;
        FILE *f = fopen(dump, "rb");
        uint64_t sum = 0;
        int md = 0;
        if (!ref || !f || fread(ref, 1, n, f) != n || b.views != 1
            || b.clips.dtype != VIDA_DTYPE_U8) {
            fprintf(stderr, "bench_loader: cannot compare the warm-up batch with %s\n", dump);
            free(ref);
            if (f) fclose(f);
            goto done;
        }
        fclose(f);
        for (i = 0; i < n; i++) {
            int d = got[i] > ref[i] ? got[i] - ref[i] : ref[i] - got[i];
            sum += d;
            if (d > md) md = d;
        }
        max_diff = md;
        mean_diff = (double)sum / n;
        free(ref);
    }
    st0.size = sizeof st0;
    if (vida_loader_get_stats(l, &st0)) {
        rc = fail("loader stats");
        goto done;
    }
    w0 = seconds(CLOCK_MONOTONIC);
    c0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
    for (bn = 1; bn <= p->batches; bn++) {
        b.size = sizeof b;
        if (vida_loader_next(l, &b)) {
            rc = fail("loader batch");
            goto done;
        }
        if (b.end || b.n == 0) {
            fprintf(stderr, "bench_loader: the loader %s after %d batches\n",
                    b.end ? "ended" : "gave an empty batch (every sample failed)", bn - 1);
            goto done;
        }
        clips += b.n;
        failed += b.failed;
        if (check_batch(p, &b, bn)) goto done;
    }
    wall = seconds(CLOCK_MONOTONIC) - w0;
    cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
    st1.size = sizeof st1;
    if (vida_loader_get_stats(l, &st1)) {
        rc = fail("loader stats");
        goto done;
    }
    snprintf(extra, sizeof extra,
             ",\"slots\":%" PRId64 ",\"batch_bytes\":%zu,\"ready_end\":%" PRId64
             ",\"decode_total_s\":%.6f,\"samples_total\":%" PRId64 ",%s",
             st1.slots, st1.batch_bytes, st1.ready, st1.decode_seconds, st1.samples,
             dump ? "" : "\"check\":null");
    if (dump)
        snprintf(extra + strlen(extra), sizeof extra - strlen(extra),
                 "\"check\":{\"mean_abs_diff\":%.4f,\"max_abs_diff\":%.0f}", mean_diff, max_diff);
    print_result("loader", threads, rep, clips, p->batches, wall, cpu,
                 st1.decode_seconds - st0.decode_seconds, st1.wait_seconds - st0.wait_seconds,
                 failed, extra);
    rc = 0;
done:
    vida_loader_free(l);
    vida_sampler_free(s);
    vida_dataset_free(ds);
    return rc;
}

int main(int argc, char **argv)
{
    const char *plan_out = NULL, *plan_in = NULL, *dump = NULL, *manifest = NULL,
               *mode = "loader";
    int frames = 16, stride = 2, batch = 8, batches = 6, reps = 5, classes = 3, rep = 0,
        threads = 1, i, rc;
    uint64_t seed = 1;
    plan p;
    for (i = 1; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        const char *o = argv[i], *a = argv[i + 1];
        if (strcmp(o, "--plan") == 0) plan_out = a;
        else if (strcmp(o, "--run") == 0) plan_in = a;
        else if (strcmp(o, "--manifest") == 0) manifest = a;
        else if (strcmp(o, "--dump") == 0) dump = a;
        else if (strcmp(o, "--mode") == 0) mode = a;
        else if (strcmp(o, "--frames") == 0) frames = atoi(a);
        else if (strcmp(o, "--stride") == 0) stride = atoi(a);
        else if (strcmp(o, "--batch") == 0) batch = atoi(a);
        else if (strcmp(o, "--batches") == 0) batches = atoi(a);
        else if (strcmp(o, "--reps") == 0) reps = atoi(a);
        else if (strcmp(o, "--classes") == 0) classes = atoi(a);
        else if (strcmp(o, "--rep") == 0) rep = atoi(a);
        else if (strcmp(o, "--threads") == 0) threads = atoi(a);
        else if (strcmp(o, "--seed") == 0) seed = strtoull(a, NULL, 10);
        else {
            fprintf(stderr, "bench_loader: unknown option %s\n", o);
            return 2;
        }
    }
    if (frames < 1 || stride < 1 || batch < 1 || batches < 1 || reps < 1 || classes < 1
        || threads < 1 || !plan_out == !plan_in || (plan_out && (i >= argc || !manifest))
        || argc - i > MAX_VIDEOS || (plan_in && i != argc)
        || (strcmp(mode, "loader") != 0 && strcmp(mode, "decode") != 0)) {
        fprintf(stderr, "usage: bench_loader --plan PLAN --manifest TSV [options] VIDEO...\n"
                        "       bench_loader --run PLAN --rep r --mode decode|loader "
                        "[--threads T] [--dump FILE]\n");
        return 2;
    }
    if (plan_out)
        return write_plan(plan_out, manifest, dump, frames, stride, batch, batches, reps, classes,
                          seed, argv + i, argc - i);
    if (read_plan(&p, plan_in, rep)) return 1;
    rc = strcmp(mode, "decode") == 0 ? run_decode(&p, rep) : run_loader(&p, rep, threads, dump);
    free_plan(&p);
    return rc;
}
