/*
 * vida_dataset tests. Every manifest and taxonomy is written here, at test
 * time, into vt_tmp_dir(); the files they name do not exist (check_files = 0,
 * probe_durations = 0) except in the missing-files case. Expected
 * vocabularies, counts and budgets are counted by hand in the comments, from
 * the wording of include/vidaction/dataset.h. Resampling is checked against
 * the header's law (label by freq^p, then a video carrying it uniformly)
 * with one million draws per mode.
 *
 * Assumptions where the header leaves room (kept few, noted where used):
 *  - a manifest hashtag absent from the taxonomy has no target, verb or noun;
 *  - without a taxonomy a label is displayed literally as first written,
 *    leading '#' included ("shown as first written");
 *  - videos without a segment have start == 0 and end < 0;
 *  - kept videos are looked up by path, not by position.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <vidaction.h>

#include "test.h"

/* draws per resampling mode (about 5 s for all six under ASan at -O1, 3 s at -O3) */
#define ZIPF_DRAWS 1000000

/* ---- helpers ------------------------------------------------------------ */

/* vt_tmp_dir()/name in one of a few rotating static buffers. */
static const char *tmp_path(const char *name)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", vt_tmp_dir(), name);
    return b;
}

/* Writes text to vt_tmp_dir()/name and returns the path; NULL (printed) on failure. */
static const char *write_tmp(const char *name, const char *text)
{
    const char *path = tmp_path(name);
    if (vt_write_file(path, text, strlen(text)) != 0) {
        fprintf(stderr, "  could not write %s\n", path);
        return NULL;
    }
    return path;
}

/* Defaults, with no file access (the files named do not exist). */
static void quiet_params(vida_dataset_params *p)
{
    vida_dataset_params_init(p);
    p->check_files = 0;
    p->probe_durations = 0;
}

/* Opens, printing vida_last_error() on failure. */
static vida_dataset *open_ds(const char *manifest, const vida_dataset_params *p)
{
    vida_dataset *ds = NULL;
    int rc;
    if (!manifest)
        return NULL;
    rc = vida_dataset_open(&ds, NULL, manifest, p);
    if (rc != VIDA_OK) {
        fprintf(stderr, "  vida_dataset_open(%s) = %d: %s\n", manifest, rc, vida_last_error());
        return NULL;
    }
    return ds;
}

static int get_stats(const vida_dataset *ds, vida_dataset_stats *st)
{
    memset(st, 0, sizeof *st);
    st->size = sizeof *st;
    return vida_dataset_get_stats(ds, st);
}

static int get_video(const vida_dataset *ds, int64_t i, vida_dataset_video *v)
{
    memset(v, 0, sizeof *v);
    v->size = sizeof *v;
    return vida_dataset_get_video(ds, i, v);
}

static int draw(const vida_dataset *ds, uint64_t seed, int64_t epoch, int64_t i,
                vida_dataset_sample *s)
{
    memset(s, 0, sizeof *s);
    s->size = sizeof *s;
    return vida_dataset_draw(ds, seed, epoch, i, s);
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && strcmp(s + n - m, tail) == 0;
}

/* The kept video whose path is name or ends in "/name"; -1 when none, -2 when several. */
static int64_t find_video(const vida_dataset *ds, const char *name)
{
    char tail[256];
    int64_t i, n = vida_dataset_size(ds), found = -1;
    vida_dataset_video v;
    snprintf(tail, sizeof tail, "/%s", name);
    for (i = 0; i < n; i++) {
        if (get_video(ds, i, &v) != VIDA_OK || !v.path)
            return -3;
        if (strcmp(v.path, name) == 0 || ends_with(v.path, tail)) {
            if (found >= 0)
                return -2;
            found = i;
        }
    }
    return found;
}

/* The class named name; -1 when none. */
static int64_t find_class(const vida_dataset *ds, const char *name)
{
    int64_t c, n = vida_dataset_n_classes(ds);
    for (c = 0; c < n; c++) {
        const char *s = vida_dataset_label_name(ds, c);
        if (s && strcmp(s, name) == 0)
            return c;
    }
    return -1;
}

struct want_class {
    const char *name;
    int64_t videos;
};

/* The classes are exactly w[0..n) in this order with these video counts; 0 or -1 (printed). */
static int check_vocab(const vida_dataset *ds, const struct want_class *w, int n)
{
    int64_t c;
    if (vida_dataset_n_classes(ds) != n) {
        fprintf(stderr, "  %lld classes, want %d:", (long long)vida_dataset_n_classes(ds), n);
        for (c = 0; c < vida_dataset_n_classes(ds); c++)
            fprintf(stderr, " '%s'", vida_dataset_label_name(ds, c));
        fputc('\n', stderr);
        return -1;
    }
    for (c = 0; c < n; c++) {
        const char *s = vida_dataset_label_name(ds, c);
        if (!s || strcmp(s, w[c].name) != 0) {
            fprintf(stderr, "  class %lld is '%s', want '%s'\n", (long long)c, s ? s : "(null)",
                    w[c].name);
            return -1;
        }
        if (vida_dataset_label_videos(ds, c) != w[c].videos) {
            fprintf(stderr, "  class '%s' on %lld videos, want %lld\n", s,
                    (long long)vida_dataset_label_videos(ds, c), (long long)w[c].videos);
            return -1;
        }
    }
    if (vida_dataset_label_name(ds, n) != NULL || vida_dataset_label_name(ds, -1) != NULL ||
        vida_dataset_label_videos(ds, n) != -1 || vida_dataset_label_videos(ds, -1) != -1) {
        fprintf(stderr, "  class out of range answered\n");
        return -1;
    }
    return 0;
}

/*
 * The kept video `name` carries exactly the classes named in names[0..n)
 * (n = 0: the video is not kept), its labels ascending; 0 or -1 (printed).
 */
static int check_video_labels(const vida_dataset *ds, const char *name, const char *const *names,
                              int n)
{
    vida_dataset_video v;
    int64_t i = find_video(ds, name);
    int j;
    if (n == 0) {
        if (i != -1) {
            fprintf(stderr, "  %s: kept (%lld), want dropped\n", name, (long long)i);
            return -1;
        }
        return 0;
    }
    if (i < 0 || get_video(ds, i, &v) != VIDA_OK) {
        fprintf(stderr, "  %s: not kept (%lld)\n", name, (long long)i);
        return -1;
    }
    if (v.n_labels != n || !v.labels) {
        fprintf(stderr, "  %s: %d labels, want %d\n", name, v.n_labels, n);
        return -1;
    }
    for (j = 0; j < n; j++) {
        int64_t c = find_class(ds, names[j]);
        int k, hit = 0;
        if (c < 0) {
            fprintf(stderr, "  %s: no class '%s'\n", name, names[j]);
            return -1;
        }
        for (k = 0; k < v.n_labels; k++)
            hit += v.labels[k] == c;
        if (hit != 1) {
            fprintf(stderr, "  %s: carries '%s' %d times\n", name, names[j], hit);
            return -1;
        }
    }
    for (j = 1; j < v.n_labels; j++)
        if (v.labels[j] <= v.labels[j - 1]) {
            fprintf(stderr, "  %s: labels not ascending\n", name);
            return -1;
        }
    return 0;
}

/* Does kept video i carry class c? -1 on error. */
static int video_carries(const vida_dataset *ds, int64_t i, int64_t c)
{
    vida_dataset_video v;
    int k;
    if (get_video(ds, i, &v) != VIDA_OK)
        return -1;
    for (k = 0; k < v.n_labels; k++)
        if (v.labels[k] == c)
            return 1;
    return 0;
}

/* A growing text buffer. */
struct text {
    char *p;
    size_t n, cap;
};

static int text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int text_add(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int k;
    for (;;) {
        size_t room = t->cap - t->n;
        va_start(ap, fmt);
        k = vsnprintf(t->p ? t->p + t->n : NULL, t->p ? room : 0, fmt, ap);
        va_end(ap);
        if (k < 0)
            return -1;
        if (t->p && (size_t)k < room) {
            t->n += (size_t)k;
            return 0;
        }
        {
            size_t cap = t->cap ? t->cap * 2 : 1 << 16;
            char *q;
            while (cap < t->n + (size_t)k + 1)
                cap *= 2;
            q = realloc(t->p, cap);
            if (!q)
                return -1;
            t->p = q;
            t->cap = cap;
        }
    }
}

/* ---- 1. resampling law on a Zipf manifest -------------------------------- */

#define ZIPF_LABELS 300

static uint64_t lcg_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/*
 * Writes the Zipf manifest: label c ("z%03d") is the first label of
 * round(20000 / (c + 1)) videos (at least 1). multi: each video also gets 0-2
 * more labels, each the first label of a video drawn by an LCG (so the extra
 * labels follow the same Zipf law), duplicates skipped. want_freq[c] receives
 * the number of videos carrying c. Returns the path or NULL.
 */
static const char *zipf_manifest(int multi, int64_t *want_freq, int64_t *n_videos)
{
    struct text t = {0};
    int32_t *first = NULL;
    int64_t n = 0, j;
    int c, ok = 1;
    uint64_t rng = 12345;
    const char *path = NULL;
    for (c = 0; c < ZIPF_LABELS; c++) {
        long k = lround(20000.0 / (c + 1));
        n += k < 1 ? 1 : k;
    }
    first = malloc((size_t)n * sizeof *first);
    if (!first)
        return NULL;
    j = 0;
    for (c = 0; c < ZIPF_LABELS; c++) {
        long k = lround(20000.0 / (c + 1)), m;
        for (m = 0; m < (k < 1 ? 1 : k); m++)
            first[j++] = c;
        want_freq[c] = 0;
    }
    for (j = 0; j < n && ok; j++) {
        int32_t lab[3];
        int nl = 1, extra = multi ? (int)(lcg_next(&rng) % 3) : 0, e, q;
        lab[0] = first[j];
        for (e = 0; e < extra; e++) {
            int32_t x = first[lcg_next(&rng) % (uint64_t)n], dup = 0;
            for (q = 0; q < nl; q++)
                dup |= lab[q] == x;
            if (!dup)
                lab[nl++] = x;
        }
        ok &= text_add(&t, "v%06lld.mp4\t", (long long)j) == 0;
        for (q = 0; q < nl; q++) {
            ok &= text_add(&t, "%sz%03d", q ? "," : "", (int)lab[q]) == 0;
            want_freq[lab[q]]++;
        }
        ok &= text_add(&t, "\n") == 0;
    }
    if (ok)
        path = write_tmp(multi ? "zipf_multi.tsv" : "zipf_single.tsv", t.p);
    free(t.p);
    free(first);
    *n_videos = n;
    return path;
}

/*
 * Draws ZIPF_DRAWS samples of epoch 0 and checks them against the law:
 * label c with probability P_c = freq_c^p / sum freq^p, then one of the
 * freq_c videos carrying c uniformly. Per label (expected >= 100):
 * |count - expected| <= 4 sqrt(expected), the bound (the draws are
 * a fixed function of the seed, so this is one fixed outcome: the largest
 * deviation is 3.4 sigma; with 300 labels x 6 runs a 4-sigma miss of a
 * correct sampler has a chance of about one in ten for another seed). Over
 * all labels and over all videos, Pearson's statistic
 * within 6 standard deviations of its mean (the exact multinomial mean and
 * variance). Every drawn video carries the drawn label.
 */
static int check_law(const vida_dataset *ds, double p, const char *what)
{
    const int64_t n_draws = ZIPF_DRAWS, nc = vida_dataset_n_classes(ds);
    const int64_t nv = vida_dataset_size(ds);
    int64_t *count = calloc((size_t)nc, sizeof *count);
    int64_t *vcount = calloc((size_t)nv, sizeof *vcount);
    double *pc = calloc((size_t)nc, sizeof *pc);
    int64_t *off = calloc((size_t)nv + 1, sizeof *off);
    int32_t *lab = NULL;
    double sum = 0, chi = 0, inv = 0;
    int64_t i, c;
    int rc = -1;
    vida_dataset_sample s;
    vida_dataset_video v;
    if (!count || !vcount || !pc || !off)
        goto done;
    /* every video's labels, copied once into flat arrays (random access stays in cache) */
    for (i = 0; i < nv; i++) {
        if (get_video(ds, i, &v) != VIDA_OK || v.n_labels < 1)
            goto done;
        off[i + 1] = off[i] + v.n_labels;
    }
    lab = malloc((size_t)off[nv] * sizeof *lab);
    if (!lab)
        goto done;
    for (i = 0; i < nv; i++) {
        if (get_video(ds, i, &v) != VIDA_OK || v.n_labels != off[i + 1] - off[i])
            goto done;
        memcpy(lab + off[i], v.labels, (size_t)v.n_labels * sizeof *lab);
    }
    if (vida_dataset_epoch_size(ds) != n_draws) {
        fprintf(stderr, "  %s: epoch_size %lld, want draws %lld\n", what,
                (long long)vida_dataset_epoch_size(ds), (long long)n_draws);
        goto done;
    }
    for (c = 0; c < nc; c++) {
        int64_t f = vida_dataset_label_videos(ds, c);
        if (f < 1) {
            fprintf(stderr, "  %s: class %lld on %lld videos\n", what, (long long)c, (long long)f);
            goto done;
        }
        pc[c] = pow((double)f, p);
        sum += pc[c];
    }
    for (c = 0; c < nc; c++)
        pc[c] /= sum;
    for (i = 0; i < n_draws; i++) {
        int carries = 0;
        int64_t k;
        if (draw(ds, 7, 0, i, &s) != VIDA_OK) {
            fprintf(stderr, "  %s: draw %lld: %s\n", what, (long long)i, vida_last_error());
            goto done;
        }
        if (s.label < 0 || s.label >= nc || s.video < 0 || s.video >= nv || s.slot != 0) {
            fprintf(stderr, "  %s: draw %lld: video %lld label %d slot %d\n", what, (long long)i,
                    (long long)s.video, s.label, s.slot);
            goto done;
        }
        for (k = off[s.video]; k < off[s.video + 1]; k++)
            carries |= lab[k] == s.label;
        if (!carries) {
            fprintf(stderr, "  %s: draw %lld: video %lld does not carry label %d\n", what,
                    (long long)i, (long long)s.video, s.label);
            goto done;
        }
        count[s.label]++;
        vcount[s.video]++;
    }
    /* per label, and Pearson over labels */
    for (c = 0; c < nc; c++) {
        double e = n_draws * pc[c], d = (double)count[c] - e;
        if (e >= 100 && fabs(d) > 4 * sqrt(e)) {
            fprintf(stderr, "  %s: label %lld ('%s', %lld videos): %lld draws, expected %.1f\n",
                    what, (long long)c, vida_dataset_label_name(ds, c),
                    (long long)vida_dataset_label_videos(ds, c), (long long)count[c], e);
            goto done;
        }
        chi += d * d / e;
        inv += 1 / pc[c];
    }
    {
        double k = (double)nc;
        double var = 2 * (k - 1) + (inv - k * k - 2 * k + 2) / n_draws;
        if (fabs(chi - (k - 1)) > 6 * sqrt(var)) {
            fprintf(stderr, "  %s: labels: chi2 %.1f, mean %.0f, sd %.1f\n", what, chi, k - 1,
                    sqrt(var));
            goto done;
        }
    }
    /* Pearson over videos: q_v = sum over v's labels c of P_c / freq_c */
    chi = 0;
    inv = 0;
    for (i = 0; i < nv; i++) {
        double q = 0, e, d;
        int64_t k;
        for (k = off[i]; k < off[i + 1]; k++)
            q += pc[lab[k]] / (double)vida_dataset_label_videos(ds, lab[k]);
        e = n_draws * q;
        d = (double)vcount[i] - e;
        chi += d * d / e;
        inv += 1 / q;
    }
    {
        double k = (double)nv;
        double var = 2 * (k - 1) + (inv - k * k - 2 * k + 2) / n_draws;
        if (fabs(chi - (k - 1)) > 6 * sqrt(var)) {
            fprintf(stderr, "  %s: videos: chi2 %.0f, mean %.0f, sd %.1f\n", what, chi, k - 1,
                    sqrt(var));
            goto done;
        }
    }
    rc = 0;
done:
    free(count);
    free(vcount);
    free(pc);
    free(off);
    free(lab);
    return rc;
}

/* Draws are a function of (seed, epoch, index): repeatable in any order, new per epoch and seed. */
static int check_determinism(const vida_dataset *ds, const char *what)
{
    enum { M = 1000 };
    static vida_dataset_sample a[M];
    vida_dataset_sample s;
    int64_t i;
    int same_epoch = 0, same_seed = 0;
    for (i = 0; i < M; i++)
        if (draw(ds, 7, 0, i, &a[i]) != VIDA_OK)
            return -1;
    for (i = M - 1; i >= 0; i--) {
        if (draw(ds, 7, 0, i, &s) != VIDA_OK)
            return -1;
        if (s.video != a[i].video || s.label != a[i].label || s.slot != a[i].slot) {
            fprintf(stderr, "  %s: draw %lld differs when repeated\n", what, (long long)i);
            return -1;
        }
    }
    for (i = 0; i < M; i++) {
        if (draw(ds, 7, 1, i, &s) != VIDA_OK)
            return -1;
        same_epoch += s.video == a[i].video;
        if (draw(ds, 8, 0, i, &s) != VIDA_OK)
            return -1;
        same_seed += s.video == a[i].video;
    }
    /* ~125k videos: a repeat of the same video is rare (a few at most under NATURAL) */
    if (same_epoch > M / 10 || same_seed > M / 10) {
        fprintf(stderr, "  %s: %d of %d draws equal in epoch 1, %d with seed 8\n", what, same_epoch,
                M, same_seed);
        return -1;
    }
    if (draw(ds, 7, 0, vida_dataset_epoch_size(ds), &s) != VIDA_EINVAL ||
        draw(ds, 7, 0, -1, &s) != VIDA_EINVAL) {
        fprintf(stderr, "  %s: draw out of range accepted\n", what);
        return -1;
    }
    return 0;
}

TEST(dataset, zipf_draws)
{
    static int64_t want_freq[ZIPF_LABELS];
    static const struct {
        int resample;
        double p;
        const char *name;
    } modes[3] = {{VIDA_RESAMPLE_NATURAL, 1.0, "natural"},
                  {VIDA_RESAMPLE_SQRT, 0.5, "sqrt"},
                  {VIDA_RESAMPLE_UNIFORM, 0.0, "uniform"}};
    int multi, m;
    for (multi = 0; multi < 2; multi++) {
        int64_t n_videos = 0, c;
        const char *path = zipf_manifest(multi, want_freq, &n_videos);
        CHECK(path);
        for (m = 0; m < 3; m++) {
            vida_dataset_params p;
            vida_dataset_stats st;
            vida_dataset *ds;
            char what[64];
            int law, det;
            snprintf(what, sizeof what, "%s %s", multi ? "multi" : "single", modes[m].name);
            quiet_params(&p);
            p.resample = modes[m].resample;
            p.draws = ZIPF_DRAWS;
            ds = open_ds(path, &p);
            CHECK(ds);
            CHECK_OK(get_stats(ds, &st));
            CHECKF(vida_dataset_size(ds) == n_videos && st.videos == n_videos &&
                       st.lines == n_videos && st.bad_lines == 0 && st.unlabelled == 0,
                   "%s: %lld videos, want %lld", what, (long long)st.videos, (long long)n_videos);
            CHECKF(vida_dataset_n_classes(ds) == ZIPF_LABELS && st.classes == ZIPF_LABELS, "%s: %lld classes", what,
                   (long long)vida_dataset_n_classes(ds));
            CHECKF(vida_dataset_epoch_size(ds) == ZIPF_DRAWS && st.epoch_size == ZIPF_DRAWS,
                   "%s: epoch_size %lld", what, (long long)vida_dataset_epoch_size(ds));
            /* names z000..z299 sort as their numbers; counts as built */
            for (c = 0; c < ZIPF_LABELS; c++) {
                char name[16];
                snprintf(name, sizeof name, "z%03d", (int)c);
                CHECKF(vida_dataset_label_name(ds, c) && strcmp(vida_dataset_label_name(ds, c), name) == 0,
                       "%s: class %lld is '%s'", what, (long long)c, vida_dataset_label_name(ds, c));
                CHECKF(vida_dataset_label_videos(ds, c) == want_freq[c],
                       "%s: class %s on %lld videos, want %lld", what, name,
                       (long long)vida_dataset_label_videos(ds, c), (long long)want_freq[c]);
            }
            law = check_law(ds, modes[m].p, what);
            det = m == 0 ? check_determinism(ds, what) : 0;
            vida_dataset_free(ds);
            CHECK(law == 0);
            CHECK(det == 0);
        }
    }
}

/* ---- 2. label spaces ------------------------------------------------------ */

/*
 * Taxonomy, one hashtag a line: hashtag, verb, noun, targets.
 *   #RollingDice   roll  dice   Rolling Dice,dice
 *   #CuttingOnion  cut   onion  cutting onion,onion
 *   #dice          -     dice   dice
 *   #Jumping       jump  -      jumping
 *   #DiceRoll      Roll  dice   rolling-dice     ("Roll" = "roll", "rolling-dice" = "Rolling Dice")
 *   #Unboxing      -     -      -
 *   #SlicingOnion  slice onion  onion
 */
static const char TAXONOMY[] = "#RollingDice\troll\tdice\tRolling Dice,dice\n"
                               "#CuttingOnion\tcut\tonion\tcutting onion,onion\n"
                               "#dice\t\tdice\tdice\n"
                               "#Jumping\tjump\t\tjumping\n"
                               "#DiceRoll\tRoll\tdice\trolling-dice\n"
                               "#Unboxing\t\t\t\n"
                               "#SlicingOnion\tslice\tonion\tonion\n";

/* Nine videos; "rolling_dice" is "#RollingDice"; "#Unknown" is not in the taxonomy. */
static const char LABELLED[] = "v1.mp4\t#RollingDice\n"
                               "v2.mp4\trolling_dice,#dice\n"
                               "v3.mp4\t#CuttingOnion\n"
                               "v4.mp4\t#Jumping\n"
                               "v5.mp4\t#dice\n"
                               "v6.mp4\t#Unboxing\n"
                               "v7.mp4\t#DiceRoll,#CuttingOnion\n"
                               "v8.mp4\t#SlicingOnion,#Unknown\n"
                               "v9.mp4\t#Unknown\n";

static int check_counts(const vida_dataset *ds, int64_t videos, int64_t unlabelled)
{
    vida_dataset_stats st;
    if (get_stats(ds, &st) != VIDA_OK) {
        fprintf(stderr, "  get_stats: %s\n", vida_last_error());
        return -1;
    }
    if (st.videos != videos || vida_dataset_size(ds) != videos || st.unlabelled != unlabelled ||
        st.lines != 9 || st.bad_lines != 0 || st.classes != vida_dataset_n_classes(ds) ||
        st.epoch_size != videos) {
        fprintf(stderr,
                "  videos %lld (size %lld), unlabelled %lld, lines %lld, bad %lld, classes %lld, "
                "epoch %lld; want videos %lld, unlabelled %lld\n",
                (long long)st.videos, (long long)vida_dataset_size(ds), (long long)st.unlabelled,
                (long long)st.lines, (long long)st.bad_lines, (long long)st.classes,
                (long long)st.epoch_size, (long long)videos, (long long)unlabelled);
        return -1;
    }
    return 0;
}

TEST(dataset, label_spaces)
{
    const char *man = write_tmp("spaces.tsv", LABELLED);
    const char *tax = write_tmp("taxonomy.tsv", TAXONOMY);
    vida_dataset_params p;
    vida_dataset *ds;
    int space, rc;
    CHECK(man && tax);

    /*
     * TARGET. Targets per video (normalised):
     *   v1 {rollingdice, dice}   v2 {rollingdice, dice} + {dice}   v3 {cuttingonion, onion}
     *   v4 {jumping}             v5 {dice}                         v6 {} dropped
     *   v7 {rollingdice} + {cuttingonion, onion}                   v8 {onion} + {} (unknown)
     *   v9 {} dropped
     * Kept 7, unlabelled 2. Byte order: cuttingonion < dice < jumping < onion < rollingdice.
     * cuttingonion: v3 v7 = 2; dice: v1 v2 v5 = 3; jumping: v4 = 1; onion: v3 v7 v8 = 3;
     * rollingdice: v1 v2 v7 = 3. Shown as first written in the taxonomy.
     */
    {
        static const struct want_class w[] = {{"cutting onion", 2}, {"dice", 3}, {"jumping", 1},
                                              {"onion", 3},         {"Rolling Dice", 3}};
        static const char *const v7[] = {"cutting onion", "onion", "Rolling Dice"};
        static const char *const v2[] = {"dice", "Rolling Dice"};
        quiet_params(&p);
        p.taxonomy = tax;
        ds = open_ds(man, &p);
        CHECK(ds);
        rc = check_vocab(ds, w, 5) || check_counts(ds, 7, 2) ||
             check_video_labels(ds, "v7.mp4", v7, 3) || check_video_labels(ds, "v2.mp4", v2, 2) ||
             check_video_labels(ds, "v6.mp4", NULL, 0) || check_video_labels(ds, "v9.mp4", NULL, 0);
        vida_dataset_free(ds);
        CHECKF(rc == 0, "TARGET");
    }

    /*
     * VERB. v1 {roll}; v2 {roll} (#dice has no verb); v3 {cut}; v4 {jump}; v5 {} dropped;
     * v6 {} dropped; v7 {roll ("Roll"), cut}; v8 {slice}; v9 {} dropped.
     * Kept 6, unlabelled 3. cut: v3 v7 = 2; jump: 1; roll: v1 v2 v7 = 3; slice: 1.
     */
    {
        static const struct want_class w[] = {{"cut", 2}, {"jump", 1}, {"roll", 3}, {"slice", 1}};
        static const char *const v7[] = {"cut", "roll"};
        quiet_params(&p);
        p.taxonomy = tax;
        p.label_space = VIDA_LABELS_VERB;
        ds = open_ds(man, &p);
        CHECK(ds);
        rc = check_vocab(ds, w, 4) || check_counts(ds, 6, 3) ||
             check_video_labels(ds, "v7.mp4", v7, 2) || check_video_labels(ds, "v5.mp4", NULL, 0);
        vida_dataset_free(ds);
        CHECKF(rc == 0, "VERB");
    }

    /*
     * NOUN. v1 {dice}; v2 {dice}; v3 {onion}; v4 {} dropped (#Jumping has no noun); v5 {dice};
     * v6 {} dropped; v7 {dice, onion}; v8 {onion}; v9 {} dropped.
     * Kept 6, unlabelled 3. dice: v1 v2 v5 v7 = 4; onion: v3 v7 v8 = 3.
     */
    {
        static const struct want_class w[] = {{"dice", 4}, {"onion", 3}};
        static const char *const v7[] = {"dice", "onion"};
        quiet_params(&p);
        p.taxonomy = tax;
        p.label_space = VIDA_LABELS_NOUN;
        ds = open_ds(man, &p);
        CHECK(ds);
        rc = check_vocab(ds, w, 2) || check_counts(ds, 6, 3) ||
             check_video_labels(ds, "v7.mp4", v7, 2) || check_video_labels(ds, "v4.mp4", NULL, 0);
        vida_dataset_free(ds);
        CHECKF(rc == 0, "NOUN");
    }

    /*
     * VERB_NOUN, hashtags with both: v1 {roll+dice}; v2 {roll+dice} (#dice: no verb);
     * v3 {cut+onion}; v4, v5, v6 none; v7 {roll+dice (#DiceRoll: "Roll"), cut+onion};
     * v8 {slice+onion}; v9 none. Kept 5, unlabelled 4.
     * cut+onion: v3 v7 = 2; roll+dice: v1 v2 v7 = 3; slice+onion: 1.
     */
    {
        static const struct want_class w[] = {{"cut+onion", 2}, {"roll+dice", 3}, {"slice+onion", 1}};
        static const char *const v7[] = {"cut+onion", "roll+dice"};
        quiet_params(&p);
        p.taxonomy = tax;
        p.label_space = VIDA_LABELS_VERB_NOUN;
        ds = open_ds(man, &p);
        CHECK(ds);
        rc = check_vocab(ds, w, 3) || check_counts(ds, 5, 4) ||
             check_video_labels(ds, "v7.mp4", v7, 2) || check_video_labels(ds, "v5.mp4", NULL, 0);
        vida_dataset_free(ds);
        CHECKF(rc == 0, "VERB_NOUN");
    }

    /*
     * TARGET, min_count 3: cutting onion (2) and jumping (1) are cut; v4 is left with
     * nothing and dropped with v6 and v9: kept 6, unlabelled 3; dice 3, onion 3, rolling 3.
     */
    {
        static const struct want_class w[] = {{"dice", 3}, {"onion", 3}, {"Rolling Dice", 3}};
        static const char *const v3[] = {"onion"};
        quiet_params(&p);
        p.taxonomy = tax;
        p.min_count = 3;
        ds = open_ds(man, &p);
        CHECK(ds);
        rc = check_vocab(ds, w, 3) || check_counts(ds, 6, 3) ||
             check_video_labels(ds, "v3.mp4", v3, 1) || check_video_labels(ds, "v4.mp4", NULL, 0);
        vida_dataset_free(ds);
        CHECKF(rc == 0, "TARGET min_count 3");
    }

    /*
     * TARGET without a taxonomy: the manifest's labels, matched normalised, shown as first
     * written (assumption: '#' included). cuttingonion v3 v7 = 2; dice v2 v5 = 2;
     * diceroll v7 = 1; jumping 1; rollingdice v1 v2 = 2; slicingonion 1; unboxing 1;
     * unknown v8 v9 = 2. Every video kept.
     */
    {
        static const struct want_class w[] = {
            {"#CuttingOnion", 2}, {"#dice", 2},         {"#DiceRoll", 1}, {"#Jumping", 1},
            {"#RollingDice", 2},  {"#SlicingOnion", 1}, {"#Unboxing", 1}, {"#Unknown", 2}};
        static const char *const v2[] = {"#dice", "#RollingDice"};
        quiet_params(&p);
        ds = open_ds(man, &p);
        CHECK(ds);
        rc = check_vocab(ds, w, 8) || check_counts(ds, 9, 0) ||
             check_video_labels(ds, "v2.mp4", v2, 2);
        vida_dataset_free(ds);
        CHECKF(rc == 0, "TARGET without taxonomy");
    }

    /* VERB, NOUN, VERB_NOUN need a taxonomy; a space out of range is a bad param */
    for (space = VIDA_LABELS_VERB; space <= VIDA_LABELS_VERB_NOUN + 1; space++) {
        ds = NULL;
        quiet_params(&p);
        p.label_space = space;
        rc = vida_dataset_open(&ds, NULL, man, &p);
        vida_dataset_free(ds);
        CHECKF(rc == VIDA_EINVAL, "space %d without taxonomy: %d", space, rc);
    }
}

/* ---- 3. target rows ------------------------------------------------------- */

/* The row of sample s is right for mode; 0 or -1 (printed). */
static int check_row(const vida_dataset *ds, int mode, const vida_dataset_sample *s)
{
    float row[16];
    vida_dataset_video v;
    int64_t nc = vida_dataset_n_classes(ds), c;
    int k;
    if (nc > 16 || get_video(ds, s->video, &v) != VIDA_OK || v.n_labels < 1)
        return -1;
    for (c = 0; c < 16; c++)
        row[c] = -7.0f;
    if (vida_dataset_target(ds, s, row, (size_t)nc) != VIDA_OK) {
        fprintf(stderr, "  target: %s\n", vida_last_error());
        return -1;
    }
    for (c = 0; c < nc; c++) {
        int carried = 0;
        float want;
        for (k = 0; k < v.n_labels; k++)
            carried |= v.labels[k] == c;
        if (mode == VIDA_TARGET_SINGLE)
            want = c == s->label ? 1.0f : 0.0f;
        else if (mode == VIDA_TARGET_SOFT)
            want = carried ? 1.0f / (float)v.n_labels : 0.0f;
        else
            want = carried ? 1.0f : 0.0f;
        if (fabsf(row[c] - want) > 1e-6f) {
            fprintf(stderr, "  mode %d, video %lld label %d: row[%lld] = %g, want %g\n", mode,
                    (long long)s->video, s->label, (long long)c, row[c], want);
            return -1;
        }
    }
    for (c = nc; c < 16; c++)
        if (row[c] != -7.0f) {
            fprintf(stderr, "  mode %d: wrote past n_classes\n", mode);
            return -1;
        }
    return 0;
}

TEST(dataset, targets)
{
    const char *man = write_tmp("targets.tsv", LABELLED);
    const char *tax = write_tmp("taxonomy.tsv", TAXONOMY);
    vida_dataset_params p;
    vida_dataset *ds;
    vida_dataset_sample s;
    vida_dataset_video v;
    float row[16];
    int mode, rc;
    int64_t i, v7;
    CHECK(man && tax);
    /* 7 videos, 5 classes (see label_spaces); v7 carries 3 of them */
    for (mode = VIDA_TARGET_SINGLE; mode <= VIDA_TARGET_MULTIHOT; mode++) {
        quiet_params(&p);
        p.taxonomy = tax;
        p.target = mode;
        ds = open_ds(man, &p);
        CHECK(ds);
        CHECK(vida_dataset_n_classes(ds) == 5);
        rc = vida_dataset_epoch_size(ds) == 7;
        for (i = 0; rc && i < vida_dataset_epoch_size(ds); i++) {
            rc = draw(ds, 3, 0, i, &s) == VIDA_OK && get_video(ds, s.video, &v) == VIDA_OK;
            /* without resampling the label is the video's first class */
            rc = rc && v.n_labels >= 1 && s.label == v.labels[0] && check_row(ds, mode, &s) == 0;
            if (!rc)
                break;
        }
        if (rc) {
            /* a row shorter than n_classes, or no row */
            rc = draw(ds, 3, 0, 0, &s) == VIDA_OK &&
                 vida_dataset_target(ds, &s, row, 4) == VIDA_EINVAL &&
                 vida_dataset_target(ds, &s, NULL, 5) == VIDA_EINVAL &&
                 vida_dataset_target(ds, NULL, row, 5) == VIDA_EINVAL &&
                 vida_dataset_target(NULL, &s, row, 5) == VIDA_EINVAL;
            if (!rc)
                fprintf(stderr, "  mode %d: bad target arguments accepted\n", mode);
        }
        vida_dataset_free(ds);
        CHECKF(rc, "target mode %d", mode);
    }

    /* SINGLE under resampling: one-hot of the drawn label, which is not always the first */
    quiet_params(&p);
    p.taxonomy = tax;
    p.target = VIDA_TARGET_SINGLE;
    p.resample = VIDA_RESAMPLE_UNIFORM;
    p.draws = 400;
    ds = open_ds(man, &p);
    CHECK(ds);
    v7 = find_video(ds, "v7.mp4");
    {
        int not_first = 0;
        rc = v7 >= 0 && vida_dataset_epoch_size(ds) == 400;
        for (i = 0; rc && i < 400; i++) {
            rc = draw(ds, 5, 0, i, &s) == VIDA_OK && video_carries(ds, s.video, s.label) == 1 &&
                 check_row(ds, VIDA_TARGET_SINGLE, &s) == 0;
            if (rc && s.video == v7 && get_video(ds, v7, &v) == VIDA_OK && s.label != v.labels[0])
                not_first++;
        }
        vida_dataset_free(ds);
        CHECK(rc);
        /* onion and Rolling Dice (v7's 2nd and 3rd) are drawn 1/5 each, then v7 1/3: ~53 of 400 */
        CHECKF(not_first > 0, "drawn label never other than v7's first");
    }
}

/* ---- 4. RESAMPLE_NONE epochs ---------------------------------------------- */

TEST(dataset, none_epoch)
{
    enum { K = 3, NV = 9, NS = NV * K };
    const char *man = write_tmp("none.tsv", LABELLED);
    vida_dataset_params p;
    vida_dataset *ds, *ds2;
    vida_dataset_sample s, e0[NS], e1[NS];
    int seen[NV][K];
    int64_t i;
    int differ, rc = 1;
    CHECK(man);
    /* without a taxonomy all 9 videos are kept (label_spaces) */
    quiet_params(&p);
    p.clips_per_video = K;
    ds = open_ds(man, &p);
    CHECK(ds);
    quiet_params(&p);
    p.clips_per_video = K;
    p.seed = 99; /* only the budget's seed: must not change the order */
    ds2 = open_ds(man, &p);
    if (!ds2)
        vida_dataset_free(ds);
    CHECK(ds2);
    if (vida_dataset_size(ds) != NV || vida_dataset_epoch_size(ds) != NS) {
        fprintf(stderr, "  size %lld, epoch %lld\n", (long long)vida_dataset_size(ds),
                (long long)vida_dataset_epoch_size(ds));
        rc = 0;
    }
    memset(seen, 0, sizeof seen);
    for (i = 0; rc && i < NS; i++) {
        vida_dataset_video v;
        rc = draw(ds, 11, 0, i, &e0[i]) == VIDA_OK && draw(ds, 11, 1, i, &e1[i]) == VIDA_OK;
        rc = rc && e0[i].video >= 0 && e0[i].video < NV && e0[i].slot >= 0 && e0[i].slot < K;
        rc = rc && get_video(ds, e0[i].video, &v) == VIDA_OK && v.n_labels >= 1 &&
             e0[i].label == v.labels[0];
        if (rc)
            seen[e0[i].video][e0[i].slot]++;
        /* the same (seed, epoch, i), from another dataset opened on the same manifest */
        rc = rc && draw(ds2, 11, 0, i, &s) == VIDA_OK && s.video == e0[i].video &&
             s.slot == e0[i].slot && s.label == e0[i].label;
        if (!rc)
            fprintf(stderr, "  draw %lld wrong or not repeatable\n", (long long)i);
    }
    {
        int vv, k;
        for (vv = 0; rc && vv < NV; vv++)
            for (k = 0; rc && k < K; k++)
                if (seen[vv][k] != 1) {
                    fprintf(stderr, "  (video %d, slot %d) visited %d times\n", vv, k, seen[vv][k]);
                    rc = 0;
                }
    }
    if (rc) {
        /* epoch 1 is also a permutation, in another order; another seed, another order */
        int seen1[NV][K];
        memset(seen1, 0, sizeof seen1);
        differ = 0;
        for (i = 0; i < NS; i++) {
            if (e1[i].video < 0 || e1[i].video >= NV || e1[i].slot < 0 || e1[i].slot >= K)
                break;
            seen1[e1[i].video][e1[i].slot]++;
            differ |= e1[i].video != e0[i].video || e1[i].slot != e0[i].slot;
        }
        rc = i == NS && differ && memcmp(seen, seen1, sizeof seen) == 0;
        if (!rc)
            fprintf(stderr, "  epoch 1 not another permutation\n");
        differ = 0;
        for (i = 0; rc && i < NS; i++) {
            rc = draw(ds, 12, 0, i, &s) == VIDA_OK;
            differ |= s.video != e0[i].video || s.slot != e0[i].slot;
        }
        rc = rc && differ;
        if (!rc)
            fprintf(stderr, "  seed 12 gives seed 11's order\n");
    }
    if (rc)
        rc = draw(ds, 11, 0, NS, &s) == VIDA_EINVAL && draw(ds, 11, 0, -1, &s) == VIDA_EINVAL;
    vida_dataset_free(ds);
    vida_dataset_free(ds2);
    CHECK(rc);

    /* resampling with draws = 0: videos x clips_per_video draws, slots in range */
    quiet_params(&p);
    p.clips_per_video = K;
    p.resample = VIDA_RESAMPLE_NATURAL;
    ds = open_ds(man, &p);
    CHECK(ds);
    rc = vida_dataset_epoch_size(ds) == NS;
    for (i = 0; rc && i < NS; i++)
        rc = draw(ds, 1, 0, i, &s) == VIDA_OK && s.slot >= 0 && s.slot < K &&
             video_carries(ds, s.video, s.label) == 1;
    vida_dataset_free(ds);
    CHECKF(rc, "NATURAL with draws 0: epoch size or draws wrong");
}

/* ---- 5. manifest formats and problems -------------------------------------- */

/*
 * Lines: 1 TSV with duration; 2 blank; 3 JSON with duration and segment;
 * 4 JSON labels not a list; 5 JSON cut short; 6 JSON without path; 7 TSV with
 * no tab; 8 TSV with a non-numeric duration; 9 TSV segment end == start;
 * 10 TSV absolute path, no duration; 11 JSON with a segment, no duration;
 * 12 TSV with duration and segment; 13 JSON segment end < start; 14 blank.
 * Good: 1 3 10 11 12. Bad: 4 5 6 7 8 9 13. Non-blank: 12 (all but 2 and 14).
 */
static const char MIXED[] =
    "a.mp4\t#Dice\t12.5\n"
    "\n"
    "{\"path\": \"b.mp4\", \"labels\": [\"#Dice\", \"onion\"], \"duration\": 30, \"segment\": [2.0, 7.5]}\n"
    "{\"path\": \"c.mp4\", \"labels\": \"dice\"}\n"
    "{\"path\": \"d.mp4\", \"labels\": [\"dice\"]\n"
    "{\"labels\": [\"dice\"], \"duration\": 3}\n"
    "e.mp4\n"
    "f.mp4\tdice\tlong\n"
    "g.mp4\tdice\t10\t5\t5\n"
    "/abs/dir/h.mp4\tonion,dice\n"
    "{\"path\":\"sub/i.mp4\",\"labels\":[\"onion\"],\"segment\":[1.5,4]}\n"
    "j.mp4\tdice\t20\t3\t8\n"
    "{\"path\": \"k.mp4\", \"labels\": [\"dice\"], \"segment\": [5, 2]}\n"
    "\n";

static int problems_on_line(const vida_dataset *ds, int line)
{
    char pre[32];
    int64_t i, n = vida_dataset_n_problems(ds);
    int hits = 0;
    snprintf(pre, sizeof pre, "line %d:", line);
    for (i = 0; i < n; i++) {
        const char *s = vida_dataset_problem(ds, i);
        if (s && strncmp(s, pre, strlen(pre)) == 0)
            hits++;
    }
    return hits;
}

/* Kept video `name` is at path, from line, with this duration and segment; 0 or -1 (printed). */
static int check_entry(const vida_dataset *ds, const char *name, const char *path, int line,
                       double duration, double start, double end)
{
    vida_dataset_video v;
    int64_t i = find_video(ds, name);
    if (i < 0 || get_video(ds, i, &v) != VIDA_OK) {
        fprintf(stderr, "  %s not kept\n", name);
        return -1;
    }
    if (!v.path || strcmp(v.path, path) != 0 || v.line != line ||
        fabs(v.duration - duration) > 1e-9 || fabs(v.start - start) > 1e-9 ||
        (end < 0 ? v.end >= 0 : fabs(v.end - end) > 1e-9)) {
        fprintf(stderr, "  %s: path %s line %lld duration %g segment [%g, %g]; want %s %d %g [%g, %g]\n",
                name, v.path, (long long)v.line, v.duration, v.start, v.end, path, line, duration,
                start, end);
        return -1;
    }
    return 0;
}

TEST(dataset, manifest_formats_and_problems)
{
    static const int good[] = {1, 3, 10, 11, 12}, bad[] = {4, 5, 6, 7, 8, 9, 13};
    const char *man = write_tmp("mixed.txt", MIXED);
    vida_dataset_params p;
    vida_dataset_stats st;
    vida_dataset *ds;
    char path[600];
    int rc, k;
    CHECK(man);
    quiet_params(&p);
    p.root = "/data/videos";
    ds = open_ds(man, &p);
    CHECK(ds);
    rc = get_stats(ds, &st) == VIDA_OK;
    if (!rc || st.lines != 12 || st.bad_lines != 7 || st.videos != 5 || st.unlabelled != 0 ||
        st.missing != 0 || vida_dataset_n_problems(ds) != 7) {
        fprintf(stderr, "  lines %lld bad %lld videos %lld unlabelled %lld missing %lld problems %lld\n",
                (long long)st.lines, (long long)st.bad_lines, (long long)st.videos,
                (long long)st.unlabelled, (long long)st.missing,
                (long long)vida_dataset_n_problems(ds));
        for (k = 0; k < vida_dataset_n_problems(ds); k++)
            fprintf(stderr, "    %s\n", vida_dataset_problem(ds, k));
        rc = 0;
    }
    for (k = 0; rc && k < 7; k++)
        if (problems_on_line(ds, bad[k]) != 1) {
            fprintf(stderr, "  line %d: %d problems, want 1\n", bad[k], problems_on_line(ds, bad[k]));
            rc = 0;
        }
    for (k = 0; rc && k < 5; k++)
        if (problems_on_line(ds, good[k]) != 0) {
            fprintf(stderr, "  good line %d reported\n", good[k]);
            rc = 0;
        }
    rc = rc && vida_dataset_problem(ds, 7) == NULL;
    rc = rc && check_entry(ds, "a.mp4", "/data/videos/a.mp4", 1, 12.5, 0, -1) == 0 &&
         check_entry(ds, "b.mp4", "/data/videos/b.mp4", 3, 30, 2.0, 7.5) == 0 &&
         check_entry(ds, "h.mp4", "/abs/dir/h.mp4", 10, -1, 0, -1) == 0 &&
         check_entry(ds, "i.mp4", "/data/videos/sub/i.mp4", 11, -1, 1.5, 4) == 0 &&
         check_entry(ds, "j.mp4", "/data/videos/j.mp4", 12, 20, 3, 8) == 0;
    /* labels of JSON lines: b carries #Dice and onion ("#Dice" shown as first written) */
    {
        static const char *const b[] = {"#Dice", "onion"};
        rc = rc && check_video_labels(ds, "b.mp4", b, 2) == 0;
    }
    vida_dataset_free(ds);
    CHECK(rc);

    /* root NULL: the manifest's directory */
    quiet_params(&p);
    ds = open_ds(man, &p);
    CHECK(ds);
    snprintf(path, sizeof path, "%s/a.mp4", vt_tmp_dir());
    rc = check_entry(ds, "a.mp4", path, 1, 12.5, 0, -1) == 0;
    vida_dataset_free(ds);
    CHECK(rc);

    /* strict: the first bad line fails the open */
    quiet_params(&p);
    p.strict = 1;
    ds = NULL;
    rc = vida_dataset_open(&ds, NULL, man, &p);
    if (rc == VIDA_OK)
        vida_dataset_free(ds);
    CHECKF(rc == VIDA_EFORMAT, "strict open: %d", rc);

    /* an empty labels field is allowed: the video is unlabelled, not a bad line */
    man = write_tmp("emptylabels.tsv", "x.mp4\t\t5\ny.mp4\tdice\t6\n");
    CHECK(man);
    quiet_params(&p);
    ds = open_ds(man, &p);
    CHECK(ds);
    rc = get_stats(ds, &st) == VIDA_OK && st.lines == 2 && st.bad_lines == 0 &&
         st.unlabelled == 1 && st.videos == 1 && find_video(ds, "y.mp4") == 0;
    vida_dataset_free(ds);
    CHECKF(rc, "empty labels: bad %lld unlabelled %lld videos %lld", (long long)st.bad_lines,
           (long long)st.unlabelled, (long long)st.videos);

    /*
     * JSON string escapes are decoded ("esc\/a\u0062.mp4" is "esc/ab.mp4"); a label given
     * twice, in any spelling, is one class carried once.
     */
    man = write_tmp("escapes.jsonl",
                    "{\"path\": \"esc\\/a\\u0062.mp4\", \"labels\": [\"x\\u0079z\", \"#XYZ\", \"x_y_z\"]}\n"
                    "dup.mp4\tdice,#Dice,DICE,xyz\n");
    CHECK(man);
    quiet_params(&p);
    p.root = "/r";
    ds = open_ds(man, &p);
    CHECK(ds);
    {
        static const struct want_class w[] = {{"dice", 1}, {"xyz", 2}};
        static const char *const dup[] = {"dice", "xyz"};
        static const char *const ab[] = {"xyz"};
        rc = check_vocab(ds, w, 2) == 0 && check_video_labels(ds, "dup.mp4", dup, 2) == 0 &&
             check_video_labels(ds, "ab.mp4", ab, 1) == 0 &&
             check_entry(ds, "ab.mp4", "/r/esc/ab.mp4", 1, -1, 0, -1) == 0;
    }
    vida_dataset_free(ds);
    CHECKF(rc, "JSON escapes, repeated labels");
}

TEST(dataset, missing_files)
{
    static const char *const names[4] = {"x1.mp4", "x2.mp4", "x3.mp4", "x4.mp4"};
    char dir[512], file[600], man[600];
    vida_dataset_params p;
    vida_dataset_stats st;
    vida_dataset *ds;
    int64_t i, n;
    int k, rc;
    snprintf(dir, sizeof dir, "%s/files", vt_tmp_dir());
    CHECK(mkdir(dir, 0755) == 0 || errno == EEXIST);
    for (k = 0; k < 4; k += 2) { /* x1 and x3 exist */
        snprintf(file, sizeof file, "%s/%s", dir, names[k]);
        CHECK(vt_write_file(file, "not a video", 11) == 0);
    }
    snprintf(man, sizeof man, "%s/list.tsv", dir);
    CHECK(vt_write_file(man, "x1.mp4\tdice\t10\nx2.mp4\tdice\t10\nx3.mp4\tonion\t10\nx4.mp4\tonion\t10\n",
                        strlen("x1.mp4\tdice\t10\nx2.mp4\tdice\t10\nx3.mp4\tonion\t10\nx4.mp4\tonion\t10\n")) == 0);
    vida_dataset_params_init(&p);
    p.check_files = 1;
    p.probe_durations = 0;
    ds = open_ds(man, &p);
    CHECK(ds);
    rc = get_stats(ds, &st) == VIDA_OK && st.missing == 2 && st.videos == 2 && st.bad_lines == 0 &&
         find_video(ds, "x1.mp4") >= 0 && find_video(ds, "x3.mp4") >= 0 &&
         find_video(ds, "x2.mp4") == -1 && find_video(ds, "x4.mp4") == -1;
    if (!rc)
        fprintf(stderr, "  missing %lld videos %lld\n", (long long)st.missing, (long long)st.videos);
    /* one problem names each missing path, none the present ones */
    n = vida_dataset_n_problems(ds);
    for (k = 0; rc && k < 4; k++) {
        int hits = 0;
        for (i = 0; i < n; i++)
            hits += vida_dataset_problem(ds, i) && strstr(vida_dataset_problem(ds, i), names[k]);
        if (hits != (k & 1)) {
            fprintf(stderr, "  %s named by %d problems\n", names[k], hits);
            rc = 0;
        }
    }
    vida_dataset_free(ds);
    CHECK(rc);
    /* strict: a missing file fails the open (the code is not stated) */
    p.strict = 1;
    ds = NULL;
    rc = vida_dataset_open(&ds, NULL, man, &p);
    if (rc == VIDA_OK)
        vida_dataset_free(ds);
    CHECKF(rc != VIDA_OK, "strict open with missing files succeeded");
}

/* ---- 6. budgets ------------------------------------------------------------ */

/*
 * Six videos, durations (s): b0 60, b1 120, b2 30, b3 300, b4 90, b5 180 (13 minutes).
 * Shortest first: b2 0.5, b0 1, b4 1.5, b1 2, b5 3, b3 5 (minutes).
 */
static const char BUDGET[] = "b0.mp4\tdice\t60\n"
                             "b1.mp4\tdice\t120\n"
                             "b2.mp4\tdice\t30\n"
                             "b3.mp4\tdice\t300\n"
                             "b4.mp4\tdice\t90\n"
                             "b5.mp4\tdice\t180\n";

/* Kept set as a bit mask of b0..b5; -1 on error. Also checks stats. */
static int budget_set(const char *man, int prefer, int64_t max_videos, double max_minutes,
                      uint64_t seed, vida_dataset_stats *st)
{
    vida_dataset_params p;
    vida_dataset *ds;
    int64_t i;
    int mask = 0;
    quiet_params(&p);
    p.prefer = prefer;
    p.max_videos = max_videos;
    p.max_minutes = max_minutes;
    p.seed = seed;
    ds = open_ds(man, &p);
    if (!ds)
        return -1;
    if (get_stats(ds, st) != VIDA_OK) {
        vida_dataset_free(ds);
        return -1;
    }
    for (i = 0; i < vida_dataset_size(ds); i++) {
        vida_dataset_video v;
        const char *base;
        if (get_video(ds, i, &v) != VIDA_OK || !v.path) {
            mask = -1;
            break;
        }
        base = strrchr(v.path, '/');
        base = base ? base + 1 : v.path;
        if (strlen(base) != 6 || base[0] != 'b' || base[1] < '0' || base[1] > '5') {
            mask = -1;
            break;
        }
        mask |= 1 << (base[1] - '0');
    }
    vida_dataset_free(ds);
    return mask;
}

static int popcount6(int m)
{
    int k, n = 0;
    for (k = 0; k < 6; k++)
        n += (m >> k) & 1;
    return n;
}

TEST(dataset, budgets)
{
    const char *man = write_tmp("budget.tsv", BUDGET);
    vida_dataset_stats st;
    int m, m2, seed, distinct;
    CHECK(man);

    m = budget_set(man, VIDA_PREFER_RANDOM, 0, 0, 0, &st);
    CHECKF(m == 0x3f && st.videos == 6 && st.over_budget == 0 && fabs(st.minutes - 13.0) < 1e-9,
           "no budget: set %#x, minutes %g", m, st.minutes);

    /* max_videos 3: shortest b2 b0 b4; longest b3 b5 b1 */
    m = budget_set(man, VIDA_PREFER_SHORT, 3, 0, 0, &st);
    CHECKF(m == ((1 << 2) | (1 << 0) | (1 << 4)) && st.videos == 3 && st.over_budget == 3 &&
               fabs(st.minutes - 3.0) < 1e-9,
           "short, 3 videos: set %#x, over %lld, minutes %g", m, (long long)st.over_budget, st.minutes);
    m = budget_set(man, VIDA_PREFER_LONG, 3, 0, 0, &st);
    CHECKF(m == ((1 << 3) | (1 << 5) | (1 << 1)) && st.videos == 3 && st.over_budget == 3 &&
               fabs(st.minutes - 10.0) < 1e-9,
           "long, 3 videos: set %#x, over %lld, minutes %g", m, (long long)st.over_budget, st.minutes);

    /*
     * max_minutes 3.2, shortest first: 0.5 + 1 + 1.5 = 3.0; b1 would make 5.0 (over), and
     * every later video is longer than the 0.2 left: {b2, b0, b4}, 3 over budget.
     */
    m = budget_set(man, VIDA_PREFER_SHORT, 0, 3.2, 0, &st);
    CHECKF(m == ((1 << 2) | (1 << 0) | (1 << 4)) && st.over_budget == 3 && st.minutes <= 3.2 &&
               fabs(st.minutes - 3.0) < 1e-9,
           "short, 3.2 min: set %#x, over %lld, minutes %g", m, (long long)st.over_budget, st.minutes);
    /*
     * max_minutes 8.4, longest first: 5 + 3 = 8; then b1 10, b4 9.5, b0 9, b2 8.5 are all
     * over: {b3, b5}, 4 over budget. "At most": 8.0 exactly also keeps {b3, b5}.
     */
    m = budget_set(man, VIDA_PREFER_LONG, 0, 8.4, 0, &st);
    CHECKF(m == ((1 << 3) | (1 << 5)) && st.over_budget == 4 && st.minutes <= 8.4 &&
               fabs(st.minutes - 8.0) < 1e-9,
           "long, 8.4 min: set %#x, over %lld, minutes %g", m, (long long)st.over_budget, st.minutes);
    m = budget_set(man, VIDA_PREFER_LONG, 0, 8.0, 0, &st);
    CHECKF(m == ((1 << 3) | (1 << 5)) && st.over_budget == 4 && st.minutes <= 8.0,
           "long, 8.0 min: set %#x, over %lld, minutes %g", m, (long long)st.over_budget, st.minutes);
    /* both budgets: the tighter one binds (shortest first, 2 videos: b2 b0) */
    m = budget_set(man, VIDA_PREFER_SHORT, 2, 100, 0, &st);
    CHECKF(m == ((1 << 2) | (1 << 0)) && st.over_budget == 4, "short, 2 videos, 100 min: set %#x", m);

    /* random order: reproducible per seed, varies with it, always within the budget */
    distinct = 0;
    m2 = -1;
    for (seed = 1; seed <= 20; seed++) {
        m = budget_set(man, VIDA_PREFER_RANDOM, 3, 0, (uint64_t)seed, &st);
        CHECKF(m >= 0 && popcount6(m) == 3 && st.videos == 3 && st.over_budget == 3,
               "random, seed %d: set %#x", seed, m);
        CHECKF(budget_set(man, VIDA_PREFER_RANDOM, 3, 0, (uint64_t)seed, &st) == m,
               "random, seed %d: not reproducible", seed);
        if (m2 >= 0 && m != m2)
            distinct = 1;
        m2 = m;
        m = budget_set(man, VIDA_PREFER_RANDOM, 0, 4.0, (uint64_t)seed, &st);
        CHECKF(m > 0 && st.minutes <= 4.0 && st.videos == popcount6(m) && st.videos + st.over_budget == 6,
               "random, 4 min, seed %d: set %#x, minutes %g", seed, m, st.minutes);
    }
    CHECKF(distinct, "20 seeds chose the same 3 videos");
}

/* ---- 7. a fixed class list -------------------------------------------------- */

TEST(dataset, fixed_classes)
{
    static const char *const dice_onion[] = {"dice", "onion"};
    static const char *const onion_dice[] = {"onion", "dice"};
    const char *man = write_tmp("fixed.tsv", LABELLED);
    const char *tax = write_tmp("taxonomy.tsv", TAXONOMY);
    vida_dataset_params p;
    vida_dataset *ds;
    int rc;
    CHECK(man && tax);
    /*
     * TARGET with classes {dice, onion}: v1 {dice}, v2 {dice}, v3 {onion}, v4 {} dropped,
     * v5 {dice}, v6 {} dropped, v7 {onion}, v8 {onion}, v9 {} dropped: 6 kept, 3 unlabelled;
     * dice 3, onion 3. The other targets are ignored.
     */
    {
        static const struct want_class w[] = {{"dice", 3}, {"onion", 3}};
        static const char *const v7[] = {"onion"};
        quiet_params(&p);
        p.taxonomy = tax;
        p.classes = dice_onion;
        p.n_classes = 2;
        ds = open_ds(man, &p);
        CHECK(ds);
        rc = check_vocab(ds, w, 2) || check_counts(ds, 6, 3) ||
             check_video_labels(ds, "v7.mp4", v7, 1) || check_video_labels(ds, "v4.mp4", NULL, 0);
        vida_dataset_free(ds);
        CHECKF(rc == 0, "classes {dice, onion}");
    }
    /* in the order given, not byte order */
    {
        static const struct want_class w[] = {{"onion", 3}, {"dice", 3}};
        quiet_params(&p);
        p.taxonomy = tax;
        p.classes = onion_dice;
        p.n_classes = 2;
        ds = open_ds(man, &p);
        CHECK(ds);
        rc = check_vocab(ds, w, 2) || check_counts(ds, 6, 3);
        vida_dataset_free(ds);
        CHECKF(rc == 0, "classes {onion, dice}");
    }
}

/* ---- 8. bad arguments --------------------------------------------------------- */

TEST(dataset, bad_arguments)
{
    const char *man = write_tmp("args.tsv", LABELLED);
    const char *nowhere = tmp_path("no-such-manifest.tsv");
    const char *unknown = write_tmp("unknown.tsv", "u1.mp4\t#Unknown\nu2.mp4\t#Other\n");
    const char *tax = write_tmp("taxonomy.tsv", TAXONOMY);
    vida_dataset_params p;
    vida_dataset_stats st;
    vida_dataset_video v;
    vida_dataset_sample s;
    vida_dataset *ds = NULL;
    int rc;
    CHECK(man && unknown && tax);
    quiet_params(&p);

    CHECK(vida_dataset_open(NULL, NULL, man, &p) == VIDA_EINVAL);
    CHECK(vida_dataset_open(&ds, NULL, NULL, &p) == VIDA_EINVAL);
    /*
     * params NULL: not allowed by this header (unlike vida_video_open); with defaults
     * instead, check_files = 1 finds none of the files and no video is left.
     */
    rc = vida_dataset_open(&ds, NULL, man, NULL);
    CHECKF(rc == VIDA_EINVAL || rc == VIDA_EMISMATCH, "params NULL: %d", rc);
    {
        vida_dataset_params q = p;
        q.size = 8;
        CHECK(vida_dataset_open(&ds, NULL, man, &q) == VIDA_EINVAL);
        q = p;
        q.label_space = 17;
        CHECK(vida_dataset_open(&ds, NULL, man, &q) == VIDA_EINVAL);
        q = p;
        q.resample = 17;
        CHECK(vida_dataset_open(&ds, NULL, man, &q) == VIDA_EINVAL);
        q = p;
        q.target = 17;
        CHECK(vida_dataset_open(&ds, NULL, man, &q) == VIDA_EINVAL);
        q = p;
        q.prefer = 17;
        CHECK(vida_dataset_open(&ds, NULL, man, &q) == VIDA_EINVAL);
    }

    /* a manifest or taxonomy that cannot be read: EIO naming it */
    CHECK(vida_dataset_open(&ds, NULL, nowhere, &p) == VIDA_EIO);
    CHECKF(strstr(vida_last_error(), nowhere) != NULL, "message '%s'", vida_last_error());
    {
        vida_dataset_params q = p;
        q.taxonomy = tmp_path("no-such-taxonomy.tsv");
        CHECK(vida_dataset_open(&ds, NULL, man, &q) == VIDA_EIO);
        CHECKF(strstr(vida_last_error(), q.taxonomy) != NULL, "message '%s'", vida_last_error());
    }
    /* a taxonomy line with a fifth field is not hashtag, verb, noun, targets */
    {
        vida_dataset_params q = p;
        q.taxonomy = write_tmp("badtax.tsv", "#RollingDice\troll\tdice\tdice\n#A\tv\tn\tt\textra\n");
        CHECK(q.taxonomy);
        CHECK(vida_dataset_open(&ds, NULL, man, &q) == VIDA_EFORMAT);
    }
    /* no video left */
    {
        vida_dataset_params q = p;
        q.taxonomy = tax;
        CHECK(vida_dataset_open(&ds, NULL, unknown, &q) == VIDA_EMISMATCH);
    }

    vida_dataset_free(NULL);
    CHECK(vida_dataset_size(NULL) == -1);
    CHECK(vida_dataset_n_classes(NULL) == -1);
    CHECK(vida_dataset_epoch_size(NULL) == -1);
    CHECK(vida_dataset_label_name(NULL, 0) == NULL);
    CHECK(vida_dataset_label_videos(NULL, 0) == -1);
    CHECK(vida_dataset_problem(NULL, 0) == NULL);

    ds = open_ds(man, &p);
    CHECK(ds);
    rc = 1;
    /* stats with a wrong size, or none */
    memset(&st, 0, sizeof st);
    st.size = sizeof st - 1;
    rc = rc && vida_dataset_get_stats(ds, &st) == VIDA_EINVAL;
    st.size = 0;
    rc = rc && vida_dataset_get_stats(ds, &st) == VIDA_EINVAL;
    rc = rc && vida_dataset_get_stats(ds, NULL) == VIDA_EINVAL;
    st.size = sizeof st;
    rc = rc && vida_dataset_get_stats(NULL, &st) == VIDA_EINVAL;
    if (!rc)
        fprintf(stderr, "  get_stats accepted a bad argument\n");
    /* videos and draws out of range */
    rc = rc && get_video(ds, vida_dataset_size(ds), &v) == VIDA_EINVAL &&
         get_video(ds, -1, &v) == VIDA_EINVAL && vida_dataset_get_video(ds, 0, NULL) == VIDA_EINVAL;
    memset(&v, 0, sizeof v);
    rc = rc && vida_dataset_get_video(ds, 0, &v) == VIDA_EINVAL; /* size 0 */
    rc = rc && draw(ds, 0, 0, vida_dataset_epoch_size(ds), &s) == VIDA_EINVAL &&
         draw(ds, 0, 0, -1, &s) == VIDA_EINVAL && vida_dataset_draw(ds, 0, 0, 0, NULL) == VIDA_EINVAL &&
         draw(NULL, 0, 0, 0, &s) == VIDA_EINVAL;
    vida_dataset_free(ds);
    CHECKF(rc, "an out-of-range video or draw was accepted");
}

/*
 * Hostile and sloppy lines (review findings): very long labels (raw bytes
 * far past the 1024-byte limit, even when they normalise to little), a label
 * that normalises to nothing, trailing tabs, CRLF, absurd segment times, and
 * the same in the taxonomy. None crashes; each is a clear problem or fine.
 */
TEST(dataset, hostile_and_sloppy_lines)
{
    vida_dataset_params p;
    vida_dataset *ds;
    vida_dataset_stats st;
    vida_dataset_video v;
    char *big = malloc(20000), *tax = malloc(20000);
    size_t n = 0;
    CHECK(big && tax);
    /* line 1: '#' x 5000 then x; line 2: "ab" + 3000 '_' + "c" (short once normalised, but
       labels longer than 1024 bytes as written are ignored) */
    n += (size_t)sprintf(big + n, "l1.mp4\tok,");
    memset(big + n, '#', 5000);
    n += 5000;
    n += (size_t)sprintf(big + n, "x\nl2.mp4\tab");
    memset(big + n, '_', 3000);
    n += 3000;
    n += (size_t)sprintf(big + n, "c,ok\n");
    /* line 3: JSON with a long label; 4: a label of only '#'; 5-7: trailing tabs and CRLF */
    n += (size_t)sprintf(big + n, "{\"path\": \"l3.mp4\", \"labels\": [\"ok\", \"");
    memset(big + n, 'y', 3000);
    n += 3000;
    n += (size_t)sprintf(big + n, "\"]}\n");
    n += (size_t)sprintf(big + n, "l4.mp4\tok,#,-\n");
    n += (size_t)sprintf(big + n, "l5.mp4\tok\t3.0\t\r\n");
    n += (size_t)sprintf(big + n, "l6.mp4\tok\t\t\n");
    n += (size_t)sprintf(big + n, "l7.mp4\tok\t1\t0.5\t0.75\t\t\n");
    /* 8, 9: absurd times are bad lines */
    n += (size_t)sprintf(big + n, "l8.mp4\tok\t1e300\n");
    n += (size_t)sprintf(big + n, "{\"path\": \"l9.mp4\", \"labels\": [\"ok\"], \"segment\": [0, 1e300]}\n");
    big[n] = 0;
    quiet_params(&p);
    CHECK((ds = open_ds(write_tmp("hostile.tsv", big), &p)));
    CHECK(get_stats(ds, &st) == VIDA_OK);
    CHECKF(st.videos == 7 && st.bad_lines == 2, "videos %lld, bad lines %lld",
           (long long)st.videos, (long long)st.bad_lines);
    /* the long labels are ignored with a problem naming the line; the videos stay */
    CHECK(problems_on_line(ds, 1) == 1 && problems_on_line(ds, 2) == 1 &&
          problems_on_line(ds, 3) == 1);
    CHECK(find_class(ds, "abc") < 0);
    CHECK(problems_on_line(ds, 4) == 2); /* '#' and '-' */
    CHECK(problems_on_line(ds, 5) == 0 && problems_on_line(ds, 6) == 0 && problems_on_line(ds, 7) == 0);
    CHECK(problems_on_line(ds, 8) == 1 && problems_on_line(ds, 9) == 1);
    CHECK(get_video(ds, find_video(ds, "l5.mp4"), &v) == VIDA_OK && v.duration == 3.0);
    CHECK(get_video(ds, find_video(ds, "l7.mp4"), &v) == VIDA_OK && v.start == 0.5 && v.end == 0.75);
    CHECK(vida_dataset_n_classes(ds) == 1); /* ok */
    vida_dataset_free(ds);
    /* taxonomy: trailing tabs are fine; a 3000-byte verb or more than 64 targets is an error */
    quiet_params(&p);
    p.label_space = VIDA_LABELS_VERB;
    p.taxonomy = write_tmp("tax_trailing.tsv", "#ok\tgo\t\t\t\n");
    CHECK((ds = open_ds(write_tmp("one.tsv", "a.mp4\t#ok\n"), &p)));
    CHECK(vida_dataset_n_classes(ds) == 1 && !strcmp(vida_dataset_label_name(ds, 0), "go"));
    vida_dataset_free(ds);
    n = (size_t)sprintf(tax, "#ok\tv");
    memset(tax + n, '_', 3000);
    n += 3000;
    n += (size_t)sprintf(tax + n, "x\t\t\n");
    tax[n] = 0;
    p.taxonomy = write_tmp("tax_long.tsv", tax);
    CHECK(vida_dataset_open(&ds, NULL, tmp_path("one.tsv"), &p) == VIDA_EFORMAT);
    CHECKF(strstr(vida_last_error(), "line 1: the verb is longer than 1024 bytes"), "%s",
           vida_last_error());
    n = (size_t)sprintf(tax, "#ok\tgo\t\t");
    for (int i = 0; i < 70; i++)
        n += (size_t)sprintf(tax + n, "t%d,", i);
    tax[n++] = '\n';
    tax[n] = 0;
    p.taxonomy = write_tmp("tax_many.tsv", tax);
    CHECK(vida_dataset_open(&ds, NULL, tmp_path("one.tsv"), &p) == VIDA_EFORMAT);
    CHECK(strstr(vida_last_error(), "more than 64 targets"));
    free(big);
    free(tax);
}

/*
 * The manifest fuzz target's seed corpus and every input it ever failed on
 * (test/fuzz/corpus/manifest), run through the target itself: it aborts on
 * an error without a message or an inconsistent dataset. Under ASan this is
 * the fuzzing regression suite without clang.
 */
#include "../fuzz/fuzz_manifest.c"

TEST(dataset, fuzz_corpus_replay)
{
    int files = vt_replay_corpus("manifest", LLVMFuzzerTestOneInput);
    CHECKF(files >= 5, "%d corpus files", files);
}
