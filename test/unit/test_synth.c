/*
 * SynthActions (src/synth): the vocabulary, the files each preset writes and
 * their formats (read back with vida_dataset and vida_video), determinism
 * across runs and thread counts, bad parameters, and the drawing itself: the
 * object of a video without distractors is found, by its colour, where the
 * truth says and moving the way its verb says.
 */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "vidaction.h"

static vida_context *make_ctx(int threads)
{
    vida_context_params cp;
    vida_context *ctx = NULL;
    vida_context_params_init(&cp);
    cp.backend = VIDA_BACKEND_CPU;
    cp.n_threads = threads;
    if (vida_context_create(&ctx, &cp) != VIDA_OK)
        return NULL;
    return ctx;
}

static int exists(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 && st.st_size > 0;
}

static int count_lines(const char *dir, const char *name)
{
    char path[4096];
    size_t n;
    int lines = 0;
    char *text;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    text = vt_read_file(path, &n);
    if (!text)
        return -1;
    for (size_t i = 0; i < n; i++)
        lines += text[i] == '\n';
    free(text);
    return lines;
}

TEST(synth, vocabulary)
{
    CHECK(vida_synth_n_verbs() == 12);
    CHECK(vida_synth_n_nouns() == 12);
    CHECK(!strcmp(vida_synth_verb_name(0), "move left"));
    CHECK(!strcmp(vida_synth_noun_name(11), "ell"));
    CHECK(vida_synth_verb_name(12) == NULL && vida_synth_noun_name(-1) == NULL);
    /* five time-reversal pairs, each the other's reverse; bounce and shake are their own */
    for (int v = 0; v < 10; v++) {
        int r = vida_synth_verb_reverse(v);
        CHECK(r >= 0 && r < 10 && r != v && vida_synth_verb_reverse(r) == v);
    }
    CHECK(vida_synth_verb_reverse(10) == -1 && vida_synth_verb_reverse(11) == -1);
    CHECK(!strcmp(vida_synth_verb_name(vida_synth_verb_reverse(6)), "shrink"));
}

TEST(synth, bad_params)
{
    vida_context *ctx = make_ctx(1);
    vida_synth_params p;
    char dir[1024];
    CHECK(ctx);
    snprintf(dir, sizeof dir, "%s/synth_bad", vt_tmp_dir());
    vida_synth_params_init(&p, VIDA_SYNTH_TARGET_K);
    CHECK(vida_synth_generate(NULL, dir, &p) == VIDA_EINVAL);
    CHECK(vida_synth_generate(ctx, NULL, &p) == VIDA_EINVAL);
    CHECK(vida_synth_generate(ctx, dir, NULL) == VIDA_EINVAL);
    p.width = 81;
    CHECK(vida_synth_generate(ctx, dir, &p) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "width"));
    vida_synth_params_init(&p, VIDA_SYNTH_TARGET_K);
    p.classes = 97;
    CHECK(vida_synth_generate(ctx, dir, &p) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "classes"));
    vida_synth_params_init(&p, VIDA_SYNTH_TARGET_K);
    p.videos = 3; /* fewer videos than classes */
    CHECK(vida_synth_generate(ctx, dir, &p) == VIDA_EINVAL);
    vida_synth_params_init(&p, VIDA_SYNTH_PRETRAIN);
    p.p_wrong = 1.5;
    CHECK(vida_synth_generate(ctx, dir, &p) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "p_wrong"));
    vida_synth_params_init(&p, VIDA_SYNTH_PRETRAIN);
    p.min_seconds = 3;
    p.max_seconds = 2;
    CHECK(vida_synth_generate(ctx, dir, &p) == VIDA_EINVAL);
    vida_synth_params_init(&p, 99); /* unknown preset */
    CHECK(p.preset == 0);
    CHECK(vida_synth_generate(ctx, dir, &p) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "preset"));
    vida_synth_params_init(&p, VIDA_SYNTH_TARGET_K);
    p.size = 3;
    CHECK(vida_synth_generate(ctx, dir, &p) == VIDA_EINVAL);
    p.size = sizeof p - sizeof(int); /* any size but the struct's: not filled by _params_init */
    CHECK(vida_synth_generate(ctx, dir, &p) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "params.size"));
    /* a class with nothing to test on (12 verbs, 12 videos: one each), or to train on */
    vida_synth_params_init(&p, VIDA_SYNTH_TARGET_SS);
    p.videos = 12;
    CHECK(vida_synth_generate(ctx, dir, &p) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "0 to test on"));
    p.videos = 24;
    p.test_fraction = 0.9;
    CHECK(vida_synth_generate(ctx, dir, &p) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "0 to train on"));
    /* nothing was written by the refused calls */
    CHECK(access(dir, F_OK) != 0);
    /* a folder that cannot be made */
    vida_synth_params_init(&p, VIDA_SYNTH_TARGET_K);
    p.videos = 4;
    p.classes = 2;
    CHECK(vida_synth_generate(ctx, "/proc/vidaction-no/such", &p) == VIDA_EIO);
    CHECK(strstr(vida_last_error(), "/proc/vidaction-no"));
    vida_context_free(ctx);
}

/* Small sets: 48x32 frames, 1 to 1.5 s. */
static void small(vida_synth_params *p, int preset, int64_t videos)
{
    vida_synth_params_init(p, preset);
    p->videos = videos;
    p->width = 48;
    p->height = 32;
    p->min_seconds = 1;
    p->max_seconds = 1.5;
    p->action_min_seconds = 0.5;
    p->action_max_seconds = 0.9;
    p->seed = 7;
}

TEST(synth, target_k_files_and_formats)
{
    vida_context *ctx = make_ctx(2);
    vida_synth_params p;
    vida_dataset_params dp;
    vida_dataset *train = NULL, *test = NULL;
    char dir[1024], path[4096];
    CHECK(ctx);
    snprintf(dir, sizeof dir, "%s/synth_k", vt_tmp_dir());
    small(&p, VIDA_SYNTH_TARGET_K, 20);
    p.classes = 4;
    CHECK_OK(vida_synth_generate(ctx, dir, &p));
    CHECK(exists(dir, "train.tsv") && exists(dir, "test.tsv") && exists(dir, "vocab.txt") &&
          exists(dir, "truth.jsonl") && exists(dir, "videos/000019.mp4"));
    CHECK(!exists(dir, "videos/000020.mp4"));
    /* 5 videos per class: 2 of them (round(5 x 0.4)) for test */
    CHECK(count_lines(dir, "train.tsv") == 12);
    CHECK(count_lines(dir, "test.tsv") == 8);
    CHECK(count_lines(dir, "vocab.txt") == 4);
    CHECK(count_lines(dir, "truth.jsonl") == 20);
    vida_dataset_params_init(&dp);
    snprintf(path, sizeof path, "%s/train.tsv", dir);
    CHECK_OK(vida_dataset_open(&train, ctx, path, &dp));
    snprintf(path, sizeof path, "%s/test.tsv", dir);
    CHECK_OK(vida_dataset_open(&test, ctx, path, &dp));
    CHECK(vida_dataset_n_classes(train) == 4 && vida_dataset_n_classes(test) == 4);
    CHECK(vida_dataset_size(train) == 12 && vida_dataset_size(test) == 8);
    /* "verb noun" names of the vocabulary */
    for (int c = 0; c < 4; c++) {
        const char *name = vida_dataset_label_name(train, c);
        int verb_ok = 0;
        for (int v = 0; v < 12; v++)
            verb_ok |= !strncmp(name, vida_synth_verb_name(v), strlen(vida_synth_verb_name(v)));
        CHECKF(verb_ok, "class %s", name);
    }
    /* every video decodes to the frames its manifest's duration says, at 48x32 */
    for (int64_t i = 0; i < vida_dataset_size(train); i++) {
        vida_dataset_video dv;
        vida_video *v = NULL;
        vida_video_info info;
        dv.size = sizeof dv;
        info.size = sizeof info;
        CHECK_OK(vida_dataset_get_video(train, i, &dv));
        CHECK_OK(vida_video_open(&v, ctx, dv.path, NULL));
        CHECK_OK(vida_video_get_info(v, &info));
        CHECKF(info.n_frames >= 10 && info.n_frames <= 15, "%s: %lld frames", dv.path,
               (long long)info.n_frames);
        CHECK(info.width == 48 && info.height == 32);
        CHECK(fabs(info.duration - dv.duration) < 0.06);
        vida_video_free(v);
    }
    vida_dataset_free(train);
    vida_dataset_free(test);
    vida_context_free(ctx);
}

TEST(synth, pretrain_hashtags_and_taxonomy)
{
    vida_context *ctx = make_ctx(2);
    vida_synth_params p;
    vida_dataset_params dp;
    vida_dataset *ds = NULL;
    vida_dataset_stats st;
    char dir[1024], path[4096], tax[4096];
    CHECK(ctx);
    snprintf(dir, sizeof dir, "%s/synth_pre", vt_tmp_dir());
    small(&p, VIDA_SYNTH_PRETRAIN, 60);
    p.p_missing = 0.2;
    CHECK_OK(vida_synth_generate(ctx, dir, &p));
    CHECK(exists(dir, "taxonomy.tsv") && exists(dir, "vocab.txt") && !exists(dir, "test.tsv"));
    snprintf(path, sizeof path, "%s/train.tsv", dir);
    snprintf(tax, sizeof tax, "%s/taxonomy.tsv", dir);
    /* every label space reads the set through the taxonomy; some videos have no hashtag about
       their action (p_missing) and drop out of the verb space */
    for (int space = VIDA_LABELS_TARGET; space <= VIDA_LABELS_VERB_NOUN; space++) {
        vida_dataset_params_init(&dp);
        dp.taxonomy = tax;
        dp.label_space = space;
        CHECK_OK(vida_dataset_open(&ds, ctx, path, &dp));
        st.size = sizeof st;
        CHECK_OK(vida_dataset_get_stats(ds, &st));
        CHECKF(st.bad_lines == 0, "%lld bad lines", (long long)st.bad_lines);
        if (space == VIDA_LABELS_VERB) {
            CHECKF(st.unlabelled >= 3 && st.unlabelled <= 30, "%lld unlabelled", (long long)st.unlabelled);
            CHECK(vida_dataset_n_classes(ds) >= 6 && vida_dataset_n_classes(ds) <= 12);
            for (int64_t c = 0; c < vida_dataset_n_classes(ds); c++) {
                int known = 0;
                for (int v = 0; v < 12; v++)
                    known |= !strcmp(vida_dataset_label_name(ds, c), vida_synth_verb_name(v));
                CHECKF(known, "verb class %s", vida_dataset_label_name(ds, c));
            }
        }
        if (space == VIDA_LABELS_NOUN)
            for (int64_t c = 0; c < vida_dataset_n_classes(ds); c++) {
                int seen = 0;
                for (int v = 0; v < 8; v++) /* PRETRAIN shows nouns 0..7 only */
                    seen |= !strcmp(vida_dataset_label_name(ds, c), vida_synth_noun_name(v));
                CHECKF(seen, "noun class %s", vida_dataset_label_name(ds, c));
            }
        vida_dataset_free(ds);
        ds = NULL;
    }
    vida_context_free(ctx);
}

/* 1 if da/name and db/name have the same bytes, 0 if not, -1 if either cannot be read */
static int same_file(const char *da, const char *db, const char *name)
{
    char pa[4200], pb[4200];
    size_t na, nb;
    char *x, *y;
    int same;
    snprintf(pa, sizeof pa, "%s/%s", da, name);
    snprintf(pb, sizeof pb, "%s/%s", db, name);
    x = vt_read_file(pa, &na);
    y = vt_read_file(pb, &nb);
    same = !x || !y ? -1 : na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

TEST(synth, same_bytes_for_any_thread_count)
{
    vida_context *c1 = make_ctx(1), *c3 = make_ctx(3);
    vida_synth_params p;
    char a[1024], b[1024];
    CHECK(c1 && c3);
    snprintf(a, sizeof a, "%s/synth_det1", vt_tmp_dir());
    snprintf(b, sizeof b, "%s/synth_det3", vt_tmp_dir());
    int differ = 0;
    /* every video: libx264 without cpu-independent made other bytes for 3 to 5 % of the videos
       when several encoders ran in one process (or under another CPU affinity) */
    small(&p, VIDA_SYNTH_TARGET_EPIC, 160);
    p.width = 80; /* the size the studies use */
    p.height = 64;
    p.codec = VIDA_SYNTH_CODEC_H264; /* the encoder that did it; MPEG-4 where there is none */
    if (vida_synth_generate(c1, a, &p) == VIDA_EUNSUPPORTED) {
        printf("  no libx264 here: MPEG-4 compared instead\n");
        p.codec = VIDA_SYNTH_CODEC_AUTO;
        CHECK_OK(vida_synth_generate(c1, a, &p));
    }
    CHECK_OK(vida_synth_generate(c3, b, &p));
    for (const char *const *name = (const char *const[]){"verb-train.tsv", "noun-test.tsv", "truth.jsonl",
                                                        "vocab.txt", NULL};
         *name; name++)
        CHECKF(same_file(a, b, *name) == 1, "%s differs", *name);
    for (int i = 0; i < 160; i++) {
        char name[32];
        int same;
        snprintf(name, sizeof name, "videos/%06d.mp4", i);
        same = same_file(a, b, name);
        CHECKF(same >= 0, "%s missing", name);
        if (!same) {
            if (differ < 5)
                printf("  %s differs between 1 and 3 threads\n", name);
            differ++;
        }
    }
    CHECKF(differ == 0, "%d of 160 videos differ between 1 and 3 threads", differ);
    /* another seed, other videos */
    p.seed = 8;
    CHECK_OK(vida_synth_generate(c1, b, &p));
    CHECK(same_file(a, b, "truth.jsonl") == 0);
    vida_context_free(c1);
    vida_context_free(c3);
}

/*
 * The centroid of the pixels near colour rgb in frame f of path (RGB, w x h); *n gets their
 * count.
 */
static int centroid(vida_context *ctx, const char *path, int64_t f, const int rgb[3], double *cx,
                    double *cy, int *n)
{
    vida_video *v = NULL;
    vida_video_info info;
    uint8_t *px;
    size_t bytes;
    int rc;
    info.size = sizeof info;
    if ((rc = vida_video_open(&v, ctx, path, NULL)) != VIDA_OK)
        return rc;
    vida_video_get_info(v, &info);
    if (f < 0)
        f += info.n_frames;
    bytes = (size_t)info.width * (size_t)info.height * 3;
    px = malloc(bytes);
    rc = px ? vida_video_read(v, &f, 1, NULL, px, bytes) : VIDA_ENOMEM;
    *cx = *cy = 0;
    *n = 0;
    for (int y = 0; rc == VIDA_OK && y < info.height; y++)
        for (int x = 0; x < info.width; x++) {
            const uint8_t *q = px + ((size_t)y * (size_t)info.width + (size_t)x) * 3;
            if (abs(q[0] - rgb[0]) + abs(q[1] - rgb[1]) + abs(q[2] - rgb[2]) < 50) {
                *cx += x;
                *cy += y;
                (*n)++;
            }
        }
    if (*n) {
        *cx /= *n;
        *cy /= *n;
    }
    free(px);
    vida_video_free(v);
    return rc;
}

TEST(synth, drawn_where_the_truth_says)
{
    /* TARGET_SS with 4 verbs (move left, right, up, down) and no distractors: the object's colour
       found in the first and last frames, its centroid moves by the verb */
    vida_context *ctx = make_ctx(2);
    vida_synth_params p;
    char dir[1024], path[4096];
    char *truth;
    size_t n;
    int checked = 0;
    static const char *const cnames[8] = {"red", "green", "blue", "yellow", "cyan", "magenta", "white", "orange"};
    static const int crgb[8][3] = {{220, 40, 40},  {40, 200, 60},  {50, 90, 230},  {235, 220, 50},
                                   {40, 210, 220}, {210, 50, 210}, {240, 240, 240}, {240, 140, 30}};
    CHECK(ctx);
    snprintf(dir, sizeof dir, "%s/synth_ss", vt_tmp_dir());
    vida_synth_params_init(&p, VIDA_SYNTH_TARGET_SS);
    p.verbs = 4;
    p.videos = 16;
    p.max_distractors = 0;
    p.seed = 3;
    CHECK_OK(vida_synth_generate(ctx, dir, &p));
    snprintf(path, sizeof path, "%s/truth.jsonl", dir);
    truth = vt_read_file(path, &n);
    CHECK(truth);
    for (char *line = truth; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        char rel[64], verb[64], colour[32], texture[32];
        double a0, a1, x0, y0, x1, y1;
        int c = -1, n0, n1;
        if (sscanf(line, "{\"path\": \"%63[^\"]\"", rel) != 1)
            continue;
        CHECK(strstr(line, "\"verb\"") && strstr(line, "\"colour\"") && strstr(line, "\"action\""));
        CHECK(sscanf(strstr(line, "\"verb\""), "\"verb\": \"%63[^\"]\"", verb) == 1);
        CHECK(sscanf(strstr(line, "\"colour\""), "\"colour\": \"%31[^\"]\", \"texture\": \"%31[^\"]\"",
                     colour, texture) == 2);
        CHECK(sscanf(strstr(line, "\"action\""), "\"action\": [%lf, %lf]", &a0, &a1) == 2);
        CHECK(a0 >= 0 && a1 > a0);
        if (strcmp(texture, "solid") != 0)
            continue; /* textures darken parts of the object; solid ones are found by colour alone */
        for (int k = 0; k < 8; k++)
            if (!strcmp(colour, cnames[k]))
                c = k;
        CHECK(c >= 0);
        snprintf(path, sizeof path, "%s/%s", dir, rel);
        CHECK_OK(centroid(ctx, path, 0, crgb[c], &x0, &y0, &n0));
        CHECK_OK(centroid(ctx, path, -1, crgb[c], &x1, &y1, &n1));
        CHECKF(n0 >= 20 && n1 >= 20, "%s: %d and %d %s pixels", rel, n0, n1, colour);
        /* the object travels 35-55% of the frame: well over 10 pixels at 80x64 */
        if (!strcmp(verb, "move left"))
            CHECKF(x1 < x0 - 10 && fabs(y1 - y0) < 4, "%s %s: (%.1f,%.1f) -> (%.1f,%.1f)", rel, verb, x0, y0, x1, y1);
        else if (!strcmp(verb, "move right"))
            CHECKF(x1 > x0 + 10 && fabs(y1 - y0) < 4, "%s %s: (%.1f,%.1f) -> (%.1f,%.1f)", rel, verb, x0, y0, x1, y1);
        else if (!strcmp(verb, "move up"))
            CHECKF(y1 < y0 - 8 && fabs(x1 - x0) < 4, "%s %s: (%.1f,%.1f) -> (%.1f,%.1f)", rel, verb, x0, y0, x1, y1);
        else
            CHECKF(!strcmp(verb, "move down") && y1 > y0 + 8 && fabs(x1 - x0) < 4,
                   "%s %s: (%.1f,%.1f) -> (%.1f,%.1f)", rel, verb, x0, y0, x1, y1);
        checked++;
    }
    free(truth);
    CHECKF(checked >= 2, "only %d solid objects to check", checked);
    vida_context_free(ctx);
}

/*
 * The two rests of an action get as many frames: with frame i at time (i + 0.5) / fps
 * (synth.h) and the action placed uniformly in the video, the frames before the action and
 * after it are equal in number on average. This checks the plan in truth.jsonl (where the
 * actions are placed) under that rule, over 300 videos: the mean difference is within 4
 * standard errors of 0. That the frames are drawn at those times is checked end to end by
 * test/synth/test_reversal.sh, where a frame model stays at chance on the reversal pairs.
 */
TEST(synth, rests_before_and_after_balanced)
{
    vida_context *ctx = make_ctx(2);
    vida_synth_params p;
    char dir[1024], path[4096];
    char *truth;
    size_t n;
    double sum = 0, sum2 = 0;
    int videos = 0;
    CHECK(ctx);
    snprintf(dir, sizeof dir, "%s/synth_rest", vt_tmp_dir());
    small(&p, VIDA_SYNTH_TARGET_SS, 300);
    p.width = p.height = 32;
    p.min_seconds = 2;
    p.max_seconds = 3;
    p.action_min_seconds = 1.2;
    p.action_max_seconds = 1.8;
    p.max_distractors = 0;
    CHECK_OK(vida_synth_generate(ctx, dir, &p));
    snprintf(path, sizeof path, "%s/truth.jsonl", dir);
    truth = vt_read_file(path, &n);
    CHECK(truth);
    for (char *line = truth; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        const char *fr = strstr(line, "\"frames\": "), *act = strstr(line, "\"action\": [");
        long long frames;
        double a0, a1;
        int before = 0, after = 0;
        CHECK(fr && act && sscanf(fr, "\"frames\": %lld", &frames) == 1 &&
              sscanf(act, "\"action\": [%lf, %lf]", &a0, &a1) == 2);
        for (long long i = 0; i < frames; i++) {
            double t = ((double)i + 0.5) / p.fps;
            before += t < a0;
            after += t > a1;
        }
        sum += before - after;
        sum2 += (double)(before - after) * (before - after);
        videos++;
    }
    free(truth);
    CHECK(videos == 300);
    {
        double mean = sum / videos, sd = sqrt(sum2 / videos - mean * mean);
        CHECKF(fabs(mean) < 4 * sd / sqrt(videos), "rest frames before - after: mean %.3f, sd %.3f", mean, sd);
    }
    vida_context_free(ctx);
}

TEST(synth, mpeg4)
{
    vida_context *ctx = make_ctx(1);
    vida_synth_params p;
    vida_video *v = NULL;
    vida_video_info info;
    char dir[1024], path[4096];
    CHECK(ctx);
    snprintf(dir, sizeof dir, "%s/synth_mpeg4", vt_tmp_dir());
    small(&p, VIDA_SYNTH_TARGET_SS, 24);
    p.codec = VIDA_SYNTH_CODEC_MPEG4;
    CHECK_OK(vida_synth_generate(ctx, dir, &p));
    snprintf(path, sizeof path, "%s/videos/000005.mp4", dir);
    info.size = sizeof info;
    CHECK_OK(vida_video_open(&v, ctx, path, NULL));
    CHECK_OK(vida_video_get_info(v, &info));
    CHECKF(!strcmp(info.codec, "mpeg4"), "codec %s", info.codec);
    CHECK(info.n_frames >= 10 && info.n_frames <= 15);
    vida_video_free(v);
    vida_context_free(ctx);
}

/* A run that fails half-way (a folder where a video should go) names the file, and leaves no
   list of the earlier set behind to name the videos it replaced. */
TEST(synth, failure_half_way_leaves_no_stale_lists)
{
    vida_context *ctx = make_ctx(2);
    vida_synth_params p;
    char dir[1024], path[4096];
    CHECK(ctx);
    snprintf(dir, sizeof dir, "%s/synth_fail", vt_tmp_dir());
    small(&p, VIDA_SYNTH_TARGET_SS, 24);
    CHECK_OK(vida_synth_generate(ctx, dir, &p));
    CHECK(exists(dir, "train.tsv") && exists(dir, "truth.jsonl"));
    snprintf(path, sizeof path, "%s/videos/000007.mp4", dir);
    CHECK(unlink(path) == 0 && mkdir(path, 0777) == 0);
    p.seed = 8;
    CHECK(vida_synth_generate(ctx, dir, &p) == VIDA_EIO);
    CHECKF(strstr(vida_last_error(), "000007.mp4"), "%s", vida_last_error());
    CHECK(!exists(dir, "train.tsv") && !exists(dir, "test.tsv") && !exists(dir, "truth.jsonl") &&
          !exists(dir, "vocab.txt"));
    /* and the next run into it works */
    CHECK(rmdir(path) == 0);
    CHECK_OK(vida_synth_generate(ctx, dir, &p));
    CHECK(exists(dir, "train.tsv"));
    vida_context_free(ctx);
}
