/*
 * vida_dataset: reads a manifest (TSV or JSON lines) and a taxonomy, maps
 * each video's labels into the chosen label space, cuts rare labels, applies
 * the budget, and draws epochs.
 *
 * Open, in order:
 *   1. manifest lines -> videos (path, raw labels, duration, segment); a bad
 *      line is a problem and skipped; raw labels are interned by their
 *      normalised key (norm_label);
 *   2. each video's raw labels -> classes of the label space (space_labels);
 *      with params.classes only those;
 *   3. missing files (check_files) are problems and dropped;
 *   4. classes on fewer than min_count videos are cut; classes are numbered
 *      in byte order of their keys (or in params.classes' order); videos left
 *      with none are dropped (unlabelled);
 *   5. budget: durations (from the manifest or measured by opening the
 *      video), candidates ordered randomly / shortest / longest first, taken
 *      while max_videos and max_minutes allow (a video that would pass
 *      max_minutes is skipped, later shorter ones may still fit); the kept
 *      videos stay in manifest order;
 *   6. per class: the kept videos carrying it (CSR) and the cumulative draw
 *      weights freq^p (classes no kept video carries get weight 0).
 *
 * Draw i of epoch e under seed: key = hash(seed, e).
 *   NONE      j = perm_key(i), a bijection of [0, N) (a 4-round Feistel
 *             network on the next power of four with cycle walking); video
 *             j / K, slot j % K, label the video's first class.
 *   resample  label c with P = w_c / sum w (binary search over cumulative
 *             weights with a 53-bit uniform), video uniform among those
 *             carrying c, slot uniform in [0, K).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core.h"
#include "data/data.h"
#include "io/io.h"
#include "vidaction/video.h"

#define MAX_PROBLEMS 10000
#define MAX_MANIFEST ((size_t)1 << 34) /* 16 GiB */
#define MAX_LABEL_BYTES 1024
#define MAX_LABELS_PER_VIDEO 1024
#define MAX_TARGETS_PER_TAG 64
#define MAX_SECONDS 1e9 /* ~31 years: durations and segment times above are refused */
#define MAX_FIELDS 16

/* ---- string interning ----------------------------------------------------- */

typedef struct strmap {
    char **keys;    /* normalised keys, by id */
    char **names;   /* first spelling, by id */
    int64_t n, cap; /* ids */
    int64_t *slots; /* open addressing: id + 1, 0 = empty */
    size_t n_slots;
} strmap;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return vidai_hash64(h);
}

static void strmap_free(strmap *m)
{
    for (int64_t i = 0; i < m->n; i++) {
        vidai_free(m->keys[i]);
        vidai_free(m->names[i]);
    }
    vidai_free(m->keys);
    vidai_free(m->names);
    vidai_free(m->slots);
    memset(m, 0, sizeof *m);
}

static int64_t strmap_find(const strmap *m, const char *key)
{
    size_t i;
    if (!m->n_slots)
        return -1;
    for (i = hash_str(key) & (m->n_slots - 1);; i = (i + 1) & (m->n_slots - 1)) {
        int64_t id = m->slots[i] - 1;
        if (id < 0)
            return -1;
        if (!strcmp(m->keys[id], key))
            return id;
    }
}

static int strmap_grow(strmap *m)
{
    size_t ns = m->n_slots ? m->n_slots * 2 : 64, i, j;
    int64_t *slots = vidai_calloc(ns, sizeof *slots);
    if (!slots)
        return VIDA_ENOMEM;
    for (i = 0; i < m->n_slots; i++) {
        int64_t id = m->slots[i] - 1;
        if (id < 0)
            continue;
        for (j = hash_str(m->keys[id]) & (ns - 1); slots[j]; j = (j + 1) & (ns - 1))
            ;
        slots[j] = id + 1;
    }
    vidai_free(m->slots);
    m->slots = slots;
    m->n_slots = ns;
    return VIDA_OK;
}

/* The id of key, adding it (with name as its spelling) when new; -1 on ENOMEM. */
static int64_t strmap_add(strmap *m, const char *key, const char *name)
{
    int64_t id = strmap_find(m, key);
    size_t i;
    if (id >= 0)
        return id;
    if ((size_t)(m->n + 1) * 2 > m->n_slots && strmap_grow(m) != VIDA_OK)
        return -1;
    if (m->n == m->cap) {
        int64_t nc = m->cap ? m->cap * 2 : 64;
        char **k = vidai_malloc((size_t)nc * sizeof *k), **nm = vidai_malloc((size_t)nc * sizeof *nm);
        if (!k || !nm) {
            vidai_free(k);
            vidai_free(nm);
            return -1;
        }
        if (m->n) {
            memcpy(k, m->keys, (size_t)m->n * sizeof *k);
            memcpy(nm, m->names, (size_t)m->n * sizeof *nm);
        }
        vidai_free(m->keys);
        vidai_free(m->names);
        m->keys = k;
        m->names = nm;
        m->cap = nc;
    }
    m->keys[m->n] = vidai_strdup(key);
    m->names[m->n] = vidai_strdup(name);
    if (!m->keys[m->n] || !m->names[m->n]) {
        vidai_free(m->keys[m->n]);
        vidai_free(m->names[m->n]);
        return -1;
    }
    for (i = hash_str(key) & (m->n_slots - 1); m->slots[i]; i = (i + 1) & (m->n_slots - 1))
        ;
    m->slots[i] = m->n + 1;
    return m->n++;
}

/*
 * The normalised key of a label: leading '#' dropped, ASCII lowercased,
 * ' ', '_', '-', '.', '\t' dropped. out has room for MAX_LABEL_BYTES + 1.
 * Returns the key's length (0: nothing left, or too long: -1).
 */
static int norm_label(const char *s, size_t len, char *out)
{
    size_t i = 0, o = 0;
    while (i < len && s[i] == '#')
        i++;
    for (; i < len; i++) {
        char c = s[i];
        if (c == ' ' || c == '_' || c == '-' || c == '.' || c == '\t')
            continue;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (o == MAX_LABEL_BYTES)
            return -1;
        out[o++] = c;
    }
    out[o] = 0;
    return (int)o;
}

/* s[0, len) without surrounding spaces. */
static void trim(const char **s, size_t *len)
{
    while (*len && (**s == ' ' || **s == '\t' || **s == '\r')) {
        (*s)++;
        (*len)--;
    }
    while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t' || (*s)[*len - 1] == '\r'))
        (*len)--;
}

/* ---- growing arrays ------------------------------------------------------ */

static int grow(void **p, int64_t *cap, int64_t need, size_t elem)
{
    int64_t nc;
    void *q;
    if (need <= *cap)
        return VIDA_OK;
    nc = *cap ? *cap : 16;
    while (nc < need)
        nc *= 2;
    q = vidai_malloc((size_t)nc * elem);
    if (!q)
        return VIDA_ENOMEM;
    if (*cap)
        memcpy(q, *p, (size_t)*cap * elem);
    vidai_free(*p);
    *p = q;
    *cap = nc;
    return VIDA_OK;
}

/* ---- the dataset ------------------------------------------------------- */

/*
 * One manifest line. Paths and labels live in two shared arenas (a few dozen
 * bytes per video instead of several allocations): while reading, path_off
 * and lab_off index them; once the manifest is read, path and labels point
 * into them.
 */
typedef struct entry {
    char *path;      /* root applied */
    int32_t *labels; /* space ids while reading, then classes, ascending */
    int64_t path_off, lab_off;
    int64_t line;
    double duration; /* -1 unknown */
    double start, end;
    int32_t n_labels;
    int keep;
} entry;

typedef struct tax_entry {
    int64_t verb, noun;  /* ids in the verb / noun maps, -1 none */
    int64_t n_targets;
    int64_t *targets;    /* ids in the target map */
} tax_entry;

struct vida_dataset {
    int refcount; /* atomic */
    vida_dataset_params p;
    vida_context *ctx;
    char *root;

    entry *all; /* every readable manifest line */
    int64_t n_all, cap_all;
    strmap raw;   /* manifest labels, as written (normalised keys) */
    strmap space; /* labels of the label space */
    char *paths;  /* arena of NUL-terminated paths */
    int64_t paths_n, paths_cap;
    int32_t *pool; /* arena of label lists */
    int64_t pool_n, pool_cap;
    int64_t *line_raw, *line_ids; /* one line's raw labels and space labels */
    int64_t line_n, line_cap, ids_cap;

    entry **kept; /* the kept videos, manifest order */
    int64_t n_kept;

    char **class_names;
    int64_t n_classes;
    int64_t *class_off;   /* CSR: kept videos carrying class c: class_vid[off[c], off[c+1]) */
    int64_t *class_vid;
    double *cum;          /* cumulative draw weights, n_classes */
    int64_t epoch_size;
    uint64_t id;

    char **problems;
    int64_t n_problems, cap_problems, more_problems;

    vida_dataset_stats st;
};

static int problem(vida_dataset *ds, const char *fmt, ...) VIDAI_PRINTF(2, 3);
static int problem(vida_dataset *ds, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    if (ds->n_problems >= MAX_PROBLEMS) {
        ds->more_problems++;
        return VIDA_OK;
    }
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (grow((void **)&ds->problems, &ds->cap_problems, ds->n_problems + 1, sizeof(char *)))
        return VIDA_ENOMEM;
    if (!(ds->problems[ds->n_problems] = vidai_strdup(buf)))
        return VIDA_ENOMEM;
    ds->n_problems++;
    if (ds->ctx)
        vidai_log(ds->ctx, VIDA_LOG_WARN, "%s", buf);
    return VIDA_OK;
}

void vida_dataset_params_init(vida_dataset_params *p)
{
    if (!p)
        return;
    memset(p, 0, sizeof *p);
    p->size = sizeof *p;
    p->label_space = VIDA_LABELS_TARGET;
    p->min_count = 1;
    p->target = VIDA_TARGET_SINGLE;
    p->resample = VIDA_RESAMPLE_NONE;
    p->clips_per_video = 1;
    p->prefer = VIDA_PREFER_RANDOM;
    p->check_files = 1;
    p->probe_durations = 1;
}

static int check_params(const vida_dataset_params *p)
{
    if (p->size != sizeof *p)
        return vidai_error(VIDA_EINVAL, "params.size is %zu, expected %zu (call _params_init)",
                           p->size, sizeof *p);
    if (p->label_space < VIDA_LABELS_TARGET || p->label_space > VIDA_LABELS_VERB_NOUN)
        return vidai_error(VIDA_EINVAL, "label_space %d is not a VIDA_LABELS_* value",
                           p->label_space);
    if (p->label_space != VIDA_LABELS_TARGET && !p->taxonomy)
        return vidai_error(VIDA_EINVAL, "label space %s needs a taxonomy",
                           p->label_space == VIDA_LABELS_VERB   ? "verb"
                           : p->label_space == VIDA_LABELS_NOUN ? "noun"
                                                                : "verb+noun");
    if (p->min_count < 1)
        return vidai_error(VIDA_EINVAL, "min_count %d is below 1", p->min_count);
    if (p->target < VIDA_TARGET_SINGLE || p->target > VIDA_TARGET_MULTIHOT)
        return vidai_error(VIDA_EINVAL, "target %d is not a VIDA_TARGET_* value", p->target);
    if (p->resample < VIDA_RESAMPLE_NONE || p->resample > VIDA_RESAMPLE_UNIFORM)
        return vidai_error(VIDA_EINVAL, "resample %d is not a VIDA_RESAMPLE_* value",
                           p->resample);
    if (p->draws < 0 || p->max_videos < 0)
        return vidai_error(VIDA_EINVAL, "%s %lld is negative", p->draws < 0 ? "draws" : "max_videos",
                           (long long)(p->draws < 0 ? p->draws : p->max_videos));
    if (p->draws > ((int64_t)1 << 50))
        return vidai_error(VIDA_EINVAL, "draws %lld is above 2^50", (long long)p->draws);
    if (!(p->max_minutes >= 0) || !isfinite(p->max_minutes))
        return vidai_error(VIDA_EINVAL, "max_minutes %g is negative or not finite",
                           p->max_minutes);
    if (p->clips_per_video < 1 || p->clips_per_video > 65536)
        return vidai_error(VIDA_EINVAL, "clips_per_video %d is outside [1, 65536]",
                           p->clips_per_video);
    if (p->prefer < VIDA_PREFER_RANDOM || p->prefer > VIDA_PREFER_LONG)
        return vidai_error(VIDA_EINVAL, "prefer %d is not a VIDA_PREFER_* value", p->prefer);
    if (p->n_classes < 0 || (p->n_classes > 0 && !p->classes))
        return vidai_error(VIDA_EINVAL, "classes is NULL with n_classes %d", p->n_classes);
    for (int i = 0; i < p->n_classes; i++)
        if (!p->classes[i])
            return vidai_error(VIDA_EINVAL, "classes[%d] is NULL", i);
    return VIDA_OK;
}

/* Reads a whole file (NUL-terminated). */
static int read_text(const char *path, char **out, size_t *size, const char *what)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;
    if (!f)
        return vidai_error(VIDA_EIO, "%s %s: %s", what, path, strerror(errno));
    for (;;) {
        size_t got;
        if (cap - n < 65536 + 1) {
            size_t nc = cap ? cap * 2 : 1 << 20;
            char *q;
            if (nc > MAX_MANIFEST) {
                fclose(f);
                vidai_free(buf);
                return vidai_error(VIDA_ENOMEM, "%s %s: larger than 16 GiB", what, path);
            }
            q = vidai_malloc(nc);
            if (!q) {
                fclose(f);
                vidai_free(buf);
                return VIDA_ENOMEM;
            }
            if (n)
                memcpy(q, buf, n);
            vidai_free(buf);
            buf = q;
            cap = nc;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        int e = errno;
        fclose(f);
        vidai_free(buf);
        return vidai_error(VIDA_EIO, "%s %s: read failed: %s", what, path, strerror(e));
    }
    fclose(f);
    buf[n] = 0;
    *out = buf;
    *size = n;
    return VIDA_OK;
}

/* A non-negative finite number filling s[0, len); -1 when not. */
static int parse_seconds(const char *s, size_t len, double *out)
{
    char buf[64], *end;
    double v;
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = 0;
    errno = 0;
    v = strtod(buf, &end);
    if (end != buf + len || errno || !isfinite(v) || v < 0 || v > MAX_SECONDS)
        return -1;
    *out = v;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts ids[0, *n) and removes repeats. */
static void sort_unique(int64_t *ids, int64_t *n)
{
    int64_t m = 0;
    if (*n < 2)
        return;
    qsort(ids, (size_t)*n, sizeof *ids, cmp_i64);
    for (int64_t i = 0; i < *n; i++)
        if (m == 0 || ids[i] != ids[m - 1])
            ids[m++] = ids[i];
    *n = m;
}

/*
 * Adds raw label s[0, len) to e (repeats are removed at the end of the line).
 * A label that is empty after normalisation, or longer than MAX_LABEL_BYTES,
 * is ignored with a problem. Returns VIDA_OK, VIDA_ENOMEM, or 2 when the
 * video has too many labels.
 */
static int add_raw(vida_dataset *ds, const entry *e, const char *s, size_t len)
{
    char key[MAX_LABEL_BYTES + 1], name[MAX_LABEL_BYTES + 1];
    int64_t id, n = ds->line_n;
    int k;
    trim(&s, &len);
    if (len == 0)
        return VIDA_OK;
    k = len > MAX_LABEL_BYTES ? -1 : norm_label(s, len, key);
    if (k < 0)
        return problem(ds, "line %lld: a label of %zu bytes is longer than %d (ignored)",
                       (long long)e->line, len, MAX_LABEL_BYTES);
    if (k == 0)
        return problem(ds, "line %lld: label \"%.*s\" is empty after normalisation (ignored)",
                       (long long)e->line, (int)len, s);
    memcpy(name, s, len);
    name[len] = 0;
    id = strmap_add(&ds->raw, key, name);
    if (id < 0)
        return VIDA_ENOMEM;
    if (n >= MAX_LABELS_PER_VIDEO) {
        sort_unique(ds->line_raw, &n);
        ds->line_n = n;
        if (n >= MAX_LABELS_PER_VIDEO)
            return 2;
    }
    if (grow((void **)&ds->line_raw, &ds->line_cap, n + 1, sizeof *ds->line_raw))
        return VIDA_ENOMEM;
    ds->line_raw[ds->line_n++] = id;
    return VIDA_OK;
}

/* Ends a line's labels: repeats removed. */
static void end_raw(vida_dataset *ds)
{
    sort_unique(ds->line_raw, &ds->line_n);
}

/* Appends root/path (or path when absolute) to the path arena: its offset, or -1. */
static int64_t add_path(vida_dataset *ds, const char *path, size_t len)
{
    size_t rl = ds->root && path[0] != '/' ? strlen(ds->root) : 0;
    int64_t off = ds->paths_n, need = off + (int64_t)(rl + 1 + len + 1);
    char *d;
    if (need > ds->paths_cap) {
        int64_t nc = ds->paths_cap ? ds->paths_cap : 1 << 16;
        char *q;
        while (nc < need)
            nc *= 2;
        q = realloc(ds->paths, (size_t)nc);
        if (!q) {
            vidai_error(VIDA_ENOMEM, "out of memory (%lld bytes of paths)", (long long)nc);
            return -1;
        }
        ds->paths = q;
        ds->paths_cap = nc;
    }
    d = ds->paths + off;
    if (rl) {
        memcpy(d, ds->root, rl);
        if (d[rl - 1] != '/')
            d[rl++] = '/';
    }
    memcpy(d + rl, path, len);
    d[rl + len] = 0;
    ds->paths_n = off + (int64_t)(rl + len + 1);
    return off;
}

/*
 * Parses one manifest line into e. Returns VIDA_OK, VIDA_ENOMEM, or
 * VIDA_EFORMAT with *why set (a static or buffer message).
 */
static int parse_json_line(vida_dataset *ds, entry *e, const char *s, size_t len, char *why,
                           size_t why_size)
{
    vidai_json *j = NULL;
    const vidai_json *v;
    int rc = vidai_json_parse(&j, s, len, "JSON");
    if (rc != VIDA_OK) {
        /* the parser's message is "JSON: JSON: <reason> at byte N" */
        const char *m = vida_last_error();
        snprintf(why, why_size, "%s", strncmp(m, "JSON: JSON: ", 12) ? m : m + 6);
        return VIDA_EFORMAT;
    }
    rc = VIDA_EFORMAT;
    if (j->type != VIDAI_JSON_OBJECT) {
        snprintf(why, why_size, "not a JSON object");
        goto out;
    }
    v = vidai_json_get(j, "path");
    if (!v || v->type != VIDAI_JSON_STRING || v->length == 0) {
        snprintf(why, why_size, "\"path\" is %s", v ? "not a non-empty string" : "missing");
        goto out;
    }
    if ((e->path_off = add_path(ds, v->string, v->length)) < 0) {
        rc = VIDA_ENOMEM;
        goto out;
    }
    v = vidai_json_get(j, "labels");
    if (v && v->type != VIDAI_JSON_ARRAY && v->type != VIDAI_JSON_NULL) {
        snprintf(why, why_size, "\"labels\" is not a list");
        goto out;
    }
    for (size_t i = 0; v && v->type == VIDAI_JSON_ARRAY && i < v->length; i++) {
        const vidai_json *l = v->items[i];
        int r;
        if (l->type != VIDAI_JSON_STRING) {
            snprintf(why, why_size, "\"labels\"[%zu] is not a string", i);
            goto out;
        }
        r = add_raw(ds, e, l->string, l->length);
        if (r < 0) {
            rc = r;
            goto out;
        }
        if (r == 2) {
            snprintf(why, why_size, "more than %d labels", MAX_LABELS_PER_VIDEO);
            goto out;
        }
    }
    v = vidai_json_get(j, "duration");
    if (v && v->type != VIDAI_JSON_NULL) {
        if (v->type != VIDAI_JSON_NUMBER || !(v->number >= 0) || !(v->number <= MAX_SECONDS)) {
            snprintf(why, why_size, "\"duration\" is not a number of seconds in [0, 1e9]");
            goto out;
        }
        e->duration = v->number;
    }
    v = vidai_json_get(j, "segment");
    if (v && v->type != VIDAI_JSON_NULL) {
        if (v->type != VIDAI_JSON_ARRAY || v->length != 2 ||
            v->items[0]->type != VIDAI_JSON_NUMBER || v->items[1]->type != VIDAI_JSON_NUMBER) {
            snprintf(why, why_size, "\"segment\" is not [start, end] in seconds");
            goto out;
        }
        e->start = v->items[0]->number;
        e->end = v->items[1]->number;
        if (!(e->start >= 0) || !(e->end <= MAX_SECONDS) || !(e->end > e->start)) {
            snprintf(why, why_size, "\"segment\" [%g, %g] is not 0 <= start < end", e->start,
                     e->end);
            goto out;
        }
    }
    end_raw(ds);
    rc = VIDA_OK;
out:
    vidai_json_free(j);
    return rc;
}

static int parse_tsv_line(vida_dataset *ds, entry *e, const char *s, size_t len, char *why,
                          size_t why_size)
{
    const char *f[MAX_FIELDS];
    size_t fl[MAX_FIELDS];
    int nf = 0, rc;
    size_t i, b = 0;
    if (!vidai_utf8_valid(s, len)) {
        snprintf(why, why_size, "not valid UTF-8");
        return VIDA_EFORMAT;
    }
    for (i = 0; i <= len; i++) {
        if (i == len || s[i] == '\t') {
            if (nf == MAX_FIELDS) {
                snprintf(why, why_size, "more than 5 tab-separated fields");
                return VIDA_EFORMAT;
            }
            f[nf] = s + b;
            fl[nf++] = i - b;
            b = i + 1;
        }
    }
    for (int k = 0; k < nf; k++)
        trim(&f[k], &fl[k]);
    while (nf > 2 && fl[nf - 1] == 0) /* trailing empty fields are absent ones */
        nf--;
    if (nf > 5) {
        snprintf(why, why_size, "more than 5 tab-separated fields");
        return VIDA_EFORMAT;
    }
    if (nf < 2) {
        snprintf(why, why_size, "no tab: a TSV line is path<TAB>labels[<TAB>duration"
                                "[<TAB>start<TAB>end]]");
        return VIDA_EFORMAT;
    }
    if (fl[0] == 0) {
        snprintf(why, why_size, "the path is empty");
        return VIDA_EFORMAT;
    }
    if (nf >= 3 && fl[2] && parse_seconds(f[2], fl[2], &e->duration)) {
        snprintf(why, why_size, "duration \"%.*s\" is not a number of seconds in [0, 1e9]",
                 (int)(fl[2] > 60 ? 60 : fl[2]), f[2]);
        return VIDA_EFORMAT;
    }
    if (nf == 4 || (nf == 5 && !fl[3])) {
        snprintf(why, why_size, "a segment needs both start and end");
        return VIDA_EFORMAT;
    }
    if (nf == 5) {
        if (parse_seconds(f[3], fl[3], &e->start) || parse_seconds(f[4], fl[4], &e->end) ||
            !(e->end > e->start)) {
            snprintf(why, why_size, "segment \"%.*s\" \"%.*s\" is not 0 <= start < end in seconds",
                     (int)(fl[3] > 40 ? 40 : fl[3]), f[3], (int)(fl[4] > 40 ? 40 : fl[4]), f[4]);
            return VIDA_EFORMAT;
        }
    }
    if ((e->path_off = add_path(ds, f[0], fl[0])) < 0)
        return VIDA_ENOMEM;
    for (i = 0, b = 0; i <= fl[1]; i++) {
        if (i == fl[1] || f[1][i] == ',') {
            rc = add_raw(ds, e, f[1] + b, i - b);
            if (rc < 0)
                return rc;
            if (rc == 2) {
                snprintf(why, why_size, "more than %d labels", MAX_LABELS_PER_VIDEO);
                return VIDA_EFORMAT;
            }
            b = i + 1;
        }
    }
    end_raw(ds);
    return VIDA_OK;
}

/* ---- taxonomy and label spaces ------------------------------------------ */

typedef struct taxonomy {
    strmap tags;      /* hashtag keys -> tax entries by id */
    tax_entry *ent;
    int64_t cap;
    strmap verbs, nouns, targets;
} taxonomy;

static void taxonomy_free(taxonomy *t)
{
    for (int64_t i = 0; i < t->tags.n; i++)
        vidai_free(t->ent[i].targets);
    vidai_free(t->ent);
    strmap_free(&t->tags);
    strmap_free(&t->verbs);
    strmap_free(&t->nouns);
    strmap_free(&t->targets);
}

/*
 * Interns s[0, len) in m by its key; -1 empty, -2 ENOMEM, -3 empty after
 * normalisation, -4 longer than MAX_LABEL_BYTES.
 */
static int64_t intern(strmap *m, const char *s, size_t len)
{
    char key[MAX_LABEL_BYTES + 1], name[MAX_LABEL_BYTES + 1];
    int k;
    int64_t id;
    trim(&s, &len);
    if (!len)
        return -1;
    if (len > MAX_LABEL_BYTES)
        return -4;
    k = norm_label(s, len, key);
    if (k <= 0)
        return -3;
    memcpy(name, s, len);
    name[len] = 0;
    id = strmap_add(m, key, name);
    return id < 0 ? -2 : id;
}

static int read_taxonomy(taxonomy *t, const char *path)
{
    char *text = NULL;
    size_t size = 0, pos = 0;
    int64_t line = 0;
    int rc = read_text(path, &text, &size, "taxonomy");
    if (rc != VIDA_OK)
        return rc;
    while (pos < size) {
        const char *s = text + pos, *nl = memchr(s, '\n', size - pos), *f[MAX_FIELDS];
        size_t len = nl ? (size_t)(nl - s) : size - pos, fl[MAX_FIELDS], i, b = 0;
        int nf = 0;
        int64_t tag, v, before;
        tax_entry *e;
        pos += len + (nl ? 1 : 0);
        line++;
        {
            const char *tt = s;
            size_t tl = len;
            trim(&tt, &tl);
            if (!tl)
                continue;
        }
        if (!vidai_utf8_valid(s, len) || memchr(s, 0, len)) {
            rc = vidai_error(VIDA_EFORMAT, "taxonomy %s: line %lld: not valid UTF-8 text", path,
                             (long long)line);
            goto out;
        }
        for (i = 0; i <= len; i++) {
            if (i == len || s[i] == '\t') {
                if (nf == MAX_FIELDS)
                    break;
                f[nf] = s + b;
                fl[nf++] = i - b;
                b = i + 1;
            }
        }
        for (int k = 0; k < nf; k++)
            trim(&f[k], &fl[k]);
        while (nf > 1 && fl[nf - 1] == 0) /* trailing empty fields are absent ones */
            nf--;
        if (nf > 4 || i <= len) {
            rc = vidai_error(VIDA_EFORMAT,
                             "taxonomy %s: line %lld: more than 4 fields "
                             "(hashtag<TAB>verb<TAB>noun<TAB>targets)",
                             path, (long long)line);
            goto out;
        }
        for (; nf < 4; nf++) {
            f[nf] = "";
            fl[nf] = 0;
        }
        before = t->tags.n;
        /* room for the entry first, so that tags.n never counts one that is not there */
        if (grow((void **)&t->ent, &t->cap, before + 1, sizeof *t->ent)) {
            rc = VIDA_ENOMEM;
            goto out;
        }
        memset(&t->ent[before], 0, sizeof *t->ent);
        tag = intern(&t->tags, f[0], fl[0]);
        if (tag == -2) {
            rc = VIDA_ENOMEM;
            goto out;
        }
        if (tag < 0) {
            rc = vidai_error(VIDA_EFORMAT, "taxonomy %s: line %lld: the hashtag is %s", path,
                             (long long)line,
                             tag == -4 ? "longer than 1024 bytes" : "empty (after normalisation)");
            goto out;
        }
        if (tag < before) {
            /* interned before: a second line for the same hashtag */
            rc = vidai_error(VIDA_EFORMAT, "taxonomy %s: line %lld: hashtag \"%s\" appears twice",
                             path, (long long)line, t->tags.names[tag]);
            goto out;
        }
        e = &t->ent[tag];
        e->verb = intern(&t->verbs, f[1], fl[1]);
        e->noun = intern(&t->nouns, f[2], fl[2]);
        if (e->verb == -2 || e->noun == -2) {
            rc = VIDA_ENOMEM;
            goto out;
        }
        if (e->verb < -1 || e->noun < -1) {
            int64_t bad = e->verb < -1 ? e->verb : e->noun;
            rc = vidai_error(VIDA_EFORMAT, "taxonomy %s: line %lld: the %s is %s", path,
                             (long long)line, e->verb < -1 ? "verb" : "noun",
                             bad == -4 ? "longer than 1024 bytes" : "empty after normalisation");
            goto out;
        }
        for (i = 0, b = 0; i <= fl[3]; i++) {
            if (i == fl[3] || f[3][i] == ',') {
                v = intern(&t->targets, f[3] + b, i - b);
                if (v == -2) {
                    rc = VIDA_ENOMEM;
                    goto out;
                }
                if (v < -1) {
                    rc = vidai_error(VIDA_EFORMAT, "taxonomy %s: line %lld: a target is %s", path,
                                     (long long)line,
                                     v == -4 ? "longer than 1024 bytes" : "empty after normalisation");
                    goto out;
                }
                if (v >= 0) {
                    int64_t cap = e->n_targets, k;
                    for (k = 0; k < e->n_targets && e->targets[k] != v; k++)
                        ;
                    if (k == e->n_targets && k == MAX_TARGETS_PER_TAG) {
                        rc = vidai_error(VIDA_EFORMAT, "taxonomy %s: line %lld: more than %d "
                                         "targets", path, (long long)line, MAX_TARGETS_PER_TAG);
                        goto out;
                    }
                    if (k == e->n_targets) {
                        if (grow((void **)&e->targets, &cap, e->n_targets + 1, sizeof(int64_t))) {
                            rc = VIDA_ENOMEM;
                            goto out;
                        }
                        e->targets[e->n_targets++] = v;
                    }
                }
                b = i + 1;
            }
        }
    }
out:
    vidai_free(text);
    return rc;
}

/* Adds key/name to the space's map and id to the list (repeats removed by space_labels). */
static int add_space(strmap *space, int64_t **ids, int64_t *n, int64_t *cap, const char *key,
                     const char *name)
{
    int64_t id = strmap_add(space, key, name);
    if (id < 0)
        return VIDA_ENOMEM;
    if (grow((void **)ids, cap, *n + 1, sizeof **ids))
        return VIDA_ENOMEM;
    (*ids)[(*n)++] = id;
    return VIDA_OK;
}

/* The line's raw labels in the label space, as ids of space; into *ids (n of them). */
static int space_labels(const vida_dataset *ds, const taxonomy *t, strmap *space, int64_t **ids,
                        int64_t *n, int64_t *cap)
{
    char key[2 * MAX_LABEL_BYTES + 2], name[2 * MAX_LABEL_BYTES + 2];
    int rc = VIDA_OK;
    *n = 0;
    for (int64_t i = 0; i < ds->line_n && rc == VIDA_OK; i++) {
        const char *rk = ds->raw.keys[ds->line_raw[i]];
        int64_t tag = t ? strmap_find(&t->tags, rk) : -1, k;
        const tax_entry *te = tag >= 0 ? &t->ent[tag] : NULL;
        switch (ds->p.label_space) {
        case VIDA_LABELS_TARGET:
            if (!t) {
                rc = add_space(space, ids, n, cap, rk, ds->raw.names[ds->line_raw[i]]);
            } else if (te) {
                for (k = 0; k < te->n_targets && rc == VIDA_OK; k++)
                    rc = add_space(space, ids, n, cap, t->targets.keys[te->targets[k]],
                                   t->targets.names[te->targets[k]]);
            } else if ((k = strmap_find(&t->targets, rk)) >= 0) {
                /* not a hashtag of the taxonomy, but one of its target labels */
                rc = add_space(space, ids, n, cap, t->targets.keys[k], t->targets.names[k]);
            }
            break;
        case VIDA_LABELS_VERB:
            if (te && te->verb >= 0)
                rc = add_space(space, ids, n, cap, t->verbs.keys[te->verb],
                               t->verbs.names[te->verb]);
            break;
        case VIDA_LABELS_NOUN:
            if (te && te->noun >= 0)
                rc = add_space(space, ids, n, cap, t->nouns.keys[te->noun],
                               t->nouns.names[te->noun]);
            break;
        default: /* VERB_NOUN */
            if (te && te->verb >= 0 && te->noun >= 0) {
                snprintf(key, sizeof key, "%s+%s", t->verbs.keys[te->verb], t->nouns.keys[te->noun]);
                snprintf(name, sizeof name, "%s+%s", t->verbs.names[te->verb],
                         t->nouns.names[te->noun]);
                rc = add_space(space, ids, n, cap, key, name);
            }
            break;
        }
    }
    sort_unique(*ids, n);
    return rc;
}

static int read_manifest(vida_dataset *ds, const char *manifest, const taxonomy *tax)
{
    char *buf = NULL, why[512];
    size_t bufcap = 0;
    ssize_t got;
    int64_t line = 0, n_ids = 0;
    int rc = VIDA_OK;
    FILE *f = fopen(manifest, "rb");
    if (!f)
        return vidai_error(VIDA_EIO, "manifest %s: %s", manifest, strerror(errno));
    while (rc == VIDA_OK && (got = getline(&buf, &bufcap, f)) >= 0) {
        const char *s = buf, *t = buf;
        size_t len = (size_t)got, tl;
        entry e;
        line++;
        if (len && s[len - 1] == '\n')
            len--;
        tl = len;
        trim(&t, &tl);
        if (tl == 0)
            continue;
        ds->st.lines++;
        memset(&e, 0, sizeof e);
        e.line = line;
        e.duration = -1;
        e.start = 0;
        e.end = -1;
        e.path_off = -1;
        ds->line_n = 0;
        if (len && s[len - 1] == '\r')
            len--;
        if (memchr(s, 0, len)) {
            snprintf(why, sizeof why, "contains a NUL byte");
            rc = VIDA_EFORMAT;
        } else if (t[0] == '{') {
            rc = parse_json_line(ds, &e, t, tl, why, sizeof why);
        } else {
            rc = parse_tsv_line(ds, &e, s, len, why, sizeof why);
        }
        if (rc == VIDA_EFORMAT) {
            if (e.path_off >= 0)
                ds->paths_n = e.path_off; /* drop the path of the bad line */
            ds->st.bad_lines++;
            if (ds->p.strict) {
                free(buf);
                fclose(f);
                return vidai_error(VIDA_EFORMAT, "manifest %s: line %lld: %s", manifest,
                                   (long long)line, why);
            }
            rc = problem(ds, "line %lld: %s", (long long)line, why);
            continue;
        }
        /* the line's labels in the label space, appended to the label arena */
        if (rc == VIDA_OK)
            rc = space_labels(ds, tax, &ds->space, &ds->line_ids, &n_ids, &ds->ids_cap);
        if (rc == VIDA_OK && ds->pool_n + n_ids > ds->pool_cap) {
            int64_t nc = ds->pool_cap ? ds->pool_cap : 1 << 14;
            int32_t *q;
            while (nc < ds->pool_n + n_ids)
                nc *= 2;
            q = realloc(ds->pool, (size_t)nc * sizeof *q);
            if (!q)
                rc = vidai_error(VIDA_ENOMEM, "out of memory (%lld labels)", (long long)nc);
            else {
                ds->pool = q;
                ds->pool_cap = nc;
            }
        }
        if (rc == VIDA_OK && ds->space.n > INT32_MAX)
            rc = vidai_error(VIDA_ENOMEM, "more than 2^31 labels");
        if (rc == VIDA_OK && ds->n_all == ds->cap_all) {
            int64_t nc = ds->cap_all ? ds->cap_all * 2 : 1024;
            entry *q = realloc(ds->all, (size_t)nc * sizeof *q);
            if (!q)
                rc = vidai_error(VIDA_ENOMEM, "out of memory (%lld manifest lines)", (long long)nc);
            else {
                ds->all = q;
                ds->cap_all = nc;
            }
        }
        if (rc != VIDA_OK)
            break;
        e.lab_off = ds->pool_n;
        e.n_labels = (int32_t)n_ids;
        for (int64_t k = 0; k < n_ids; k++)
            ds->pool[ds->pool_n++] = (int32_t)ds->line_ids[k];
        ds->all[ds->n_all++] = e;
    }
    if (rc == VIDA_OK && ferror(f))
        rc = vidai_error(VIDA_EIO, "manifest %s: read failed after line %lld: %s", manifest,
                         (long long)line, strerror(errno));
    free(buf);
    fclose(f);
    if (rc != VIDA_OK)
        return rc;
    /* the arenas are final: point into them */
    for (int64_t i = 0; i < ds->n_all; i++) {
        ds->all[i].path = ds->paths + ds->all[i].path_off;
        ds->all[i].labels = ds->pool ? ds->pool + ds->all[i].lab_off : NULL;
    }
    return VIDA_OK;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct cand {
    entry *e;
    double order; /* duration or random key */
} cand;

static int cmp_cand_up(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->order != y->order)
        return x->order < y->order ? -1 : 1;
    return x->e->line < y->e->line ? -1 : x->e->line > y->e->line;
}

static int cmp_cand_down(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->order != y->order)
        return x->order > y->order ? -1 : 1;
    return x->e->line < y->e->line ? -1 : x->e->line > y->e->line;
}

typedef struct key_id {
    const char *key;
    int64_t id;
} key_id;

static int cmp_key_id(const void *a, const void *b)
{
    return strcmp(((const key_id *)a)->key, ((const key_id *)b)->key);
}

/* Seconds of e that clips come from: its segment, else its duration; -1 unknown. */
static double used_seconds(const entry *e)
{
    if (e->end >= 0)
        return e->end - e->start;
    return e->duration >= 0 ? e->duration - e->start : -1;
}

static int build_classes(vida_dataset *ds)
{
    const strmap *space = &ds->space;
    int64_t *count = NULL, *class_of = NULL, i, c;
    int64_t n_space;
    key_id *order = NULL;
    strmap fixed = {0};
    int rc = VIDA_OK;
    n_space = space->n;
    if (n_space > INT32_MAX) {
        rc = vidai_error(VIDA_ENOMEM, "more than 2^31 labels");
        goto out;
    }
    class_of = vidai_malloc((size_t)(n_space + 1) * sizeof *class_of);
    count = vidai_calloc((size_t)n_space + 1, sizeof *count);
    if (!class_of || !count) {
        rc = VIDA_ENOMEM;
        goto out;
    }
    if (ds->p.n_classes > 0) {
        /* a fixed list: its order; labels outside it are ignored */
        char key[MAX_LABEL_BYTES + 1];
        ds->n_classes = ds->p.n_classes;
        ds->class_names = vidai_calloc((size_t)ds->n_classes, sizeof *ds->class_names);
        if (!ds->class_names) {
            rc = VIDA_ENOMEM;
            goto out;
        }
        for (c = 0; c < ds->n_classes; c++) {
            const char *nm = ds->p.classes[c];
            if (norm_label(nm, strlen(nm), key) <= 0) {
                rc = vidai_error(VIDA_EINVAL, "classes[%lld] \"%.100s\" is empty after "
                                 "normalisation (or too long)", (long long)c, nm);
                goto out;
            }
            if (strmap_find(&fixed, key) >= 0) {
                rc = vidai_error(VIDA_EINVAL, "classes[%lld] \"%.100s\" repeats an earlier class",
                                 (long long)c, nm);
                goto out;
            }
            if (strmap_add(&fixed, key, nm) < 0 || !(ds->class_names[c] = vidai_strdup(nm))) {
                rc = VIDA_ENOMEM;
                goto out;
            }
        }
        for (i = 0; i < n_space; i++)
            class_of[i] = strmap_find(&fixed, space->keys[i]);
    } else {
        int64_t kept = 0;
        for (i = 0; i < ds->n_all; i++)
            for (int k = 0; ds->all[i].keep && k < ds->all[i].n_labels; k++)
                count[ds->all[i].labels[k]]++;
        order = vidai_malloc((size_t)(n_space + 1) * sizeof *order);
        if (!order) {
            rc = VIDA_ENOMEM;
            goto out;
        }
        for (i = 0; i < n_space; i++)
            if (count[i] >= ds->p.min_count) {
                order[kept].key = space->keys[i];
                order[kept++].id = i;
            }
        qsort(order, (size_t)kept, sizeof *order, cmp_key_id);
        for (i = 0; i < n_space; i++)
            class_of[i] = -1;
        ds->n_classes = kept;
        ds->class_names = vidai_calloc((size_t)kept + 1, sizeof *ds->class_names);
        if (!ds->class_names) {
            rc = VIDA_ENOMEM;
            goto out;
        }
        for (c = 0; c < kept; c++) {
            class_of[order[c].id] = c;
            if (!(ds->class_names[c] = vidai_strdup(space->names[order[c].id]))) {
                rc = VIDA_ENOMEM;
                goto out;
            }
        }
    }
    /* space ids -> class numbers, ascending; videos with none are dropped */
    for (i = 0; i < ds->n_all; i++) {
        entry *e = &ds->all[i];
        int32_t m = 0;
        if (!e->keep)
            continue;
        for (int k = 0; k < e->n_labels; k++)
            if (class_of[e->labels[k]] >= 0)
                e->labels[m++] = (int32_t)class_of[e->labels[k]];
        e->n_labels = m;
        if (m > 1)
            qsort(e->labels, (size_t)m, sizeof *e->labels, cmp_i32);
        if (m == 0) {
            e->keep = 0;
            ds->st.unlabelled++;
        }
    }
out:
    vidai_free(count);
    vidai_free(class_of);
    vidai_free(order);
    strmap_free(&fixed);
    return rc;
}

/* Measures e's duration by opening it. */
static int probe(vida_dataset *ds, entry *e)
{
    vida_video *v = NULL;
    vida_video_info info;
    int rc = vida_video_open(&v, ds->ctx, e->path, NULL);
    if (rc == VIDA_OK) {
        info.size = sizeof info;
        rc = vida_video_get_info(v, &info);
        if (rc == VIDA_OK)
            e->duration = info.duration;
    }
    vida_video_free(v);
    return rc;
}

static int apply_budget(vida_dataset *ds)
{
    const vida_dataset_params *p = &ds->p;
    int need_durations = p->max_minutes > 0 || p->prefer != VIDA_PREFER_RANDOM;
    int64_t n = 0, i, taken = 0;
    double seconds = 0;
    cand *cs = NULL;
    int rc = VIDA_OK;
    if (need_durations) {
        for (i = 0; i < ds->n_all && rc == VIDA_OK; i++) {
            entry *e = &ds->all[i];
            if (!e->keep || used_seconds(e) >= 0)
                continue;
            if (!p->probe_durations) {
                rc = problem(ds, "line %lld: %s: no duration in the manifest (needed by the "
                             "budget; probing is off)", (long long)e->line, e->path);
            } else if (probe(ds, e) != VIDA_OK) {
                rc = problem(ds, "%s: cannot measure its duration: %s", e->path,
                             vida_last_error());
            } else if (used_seconds(e) < 0) {
                rc = problem(ds, "line %lld: %s: the segment starts at %g s, after the video's "
                             "end (%g s)", (long long)e->line, e->path, e->start, e->duration);
            } else {
                continue;
            }
            e->keep = 0;
            ds->st.unprobed++;
        }
        if (rc != VIDA_OK)
            return rc;
    }
    for (i = 0; i < ds->n_all; i++)
        n += ds->all[i].keep;
    cs = vidai_malloc((size_t)(n + 1) * sizeof *cs);
    if (!cs)
        return VIDA_ENOMEM;
    n = 0;
    for (i = 0; i < ds->n_all; i++) {
        entry *e = &ds->all[i];
        if (!e->keep)
            continue;
        cs[n].e = e;
        cs[n++].order = p->prefer == VIDA_PREFER_RANDOM
                            ? (double)(vidai_rng_u64(p->seed ^ 0x6275646765740000ull,
                                                     (uint64_t)e->line) >> 11)
                            : used_seconds(e);
    }
    qsort(cs, (size_t)n, sizeof *cs, p->prefer == VIDA_PREFER_LONG ? cmp_cand_down : cmp_cand_up);
    for (i = 0; i < n; i++) {
        entry *e = cs[i].e;
        double d = used_seconds(e);
        if ((p->max_videos > 0 && taken >= p->max_videos) ||
            (p->max_minutes > 0 && (seconds + d) / 60.0 > p->max_minutes * (1 + 1e-12))) {
            e->keep = 0;
            ds->st.over_budget++;
            continue;
        }
        taken++;
        if (d > 0)
            seconds += d;
    }
    vidai_free(cs);
    ds->st.minutes = seconds / 60.0;
    return VIDA_OK;
}

static int index_kept(vida_dataset *ds)
{
    int64_t i, c, n = 0;
    size_t total;
    double pw, acc = 0;
    uint64_t h;
    for (i = 0; i < ds->n_all; i++)
        n += ds->all[i].keep;
    ds->kept = vidai_malloc((size_t)(n + 1) * sizeof *ds->kept);
    ds->class_off = vidai_calloc((size_t)ds->n_classes + 2, sizeof *ds->class_off);
    ds->cum = vidai_calloc((size_t)ds->n_classes + 1, sizeof *ds->cum);
    if (!ds->kept || !ds->class_off || !ds->cum)
        return VIDA_ENOMEM;
    for (i = 0; i < ds->n_all; i++)
        if (ds->all[i].keep) {
            entry *e = &ds->all[i];
            ds->kept[ds->n_kept++] = e;
            for (int k = 0; k < e->n_labels; k++)
                ds->class_off[e->labels[k] + 1]++;
        }
    for (c = 0; c < ds->n_classes; c++)
        ds->class_off[c + 1] += ds->class_off[c];
    total = (size_t)ds->class_off[ds->n_classes];
    ds->class_vid = vidai_malloc((total + 1) * sizeof *ds->class_vid);
    if (!ds->class_vid)
        return VIDA_ENOMEM;
    {
        int64_t *fill = vidai_malloc(((size_t)ds->n_classes + 1) * sizeof *fill);
        if (!fill)
            return VIDA_ENOMEM;
        memcpy(fill, ds->class_off, (size_t)ds->n_classes * sizeof *fill);
        for (i = 0; i < ds->n_kept; i++)
            for (int k = 0; k < ds->kept[i]->n_labels; k++)
                ds->class_vid[fill[ds->kept[i]->labels[k]]++] = i;
        vidai_free(fill);
    }
    pw = ds->p.resample == VIDA_RESAMPLE_SQRT ? 0.5 : ds->p.resample == VIDA_RESAMPLE_UNIFORM ? 0 : 1;
    for (c = 0; c < ds->n_classes; c++) {
        int64_t f = ds->class_off[c + 1] - ds->class_off[c];
        acc += f > 0 ? pow((double)f, pw) : 0.0;
        ds->cum[c] = acc;
    }
    if ((uint64_t)ds->n_kept * (uint64_t)ds->p.clips_per_video > ((uint64_t)1 << 50))
        return vidai_error(VIDA_ENOMEM, "%lld videos x %d clips per video is above 2^50 samples",
                           (long long)ds->n_kept, ds->p.clips_per_video);
    ds->epoch_size = ds->p.resample != VIDA_RESAMPLE_NONE && ds->p.draws > 0
                         ? ds->p.draws
                         : ds->n_kept * ds->p.clips_per_video;
    /* identity: what decides the samples */
    h = vidai_hash64((uint64_t)ds->n_kept ^ ((uint64_t)ds->n_classes << 32));
    h = vidai_hash64(h ^ (uint64_t)ds->epoch_size);
    h = vidai_hash64(h ^ ((uint64_t)ds->p.resample << 8 | (uint64_t)ds->p.target << 16 |
                          (uint64_t)ds->p.clips_per_video << 24));
    for (c = 0; c < ds->n_classes; c++)
        h = vidai_hash64(h ^ hash_str(ds->class_names[c]));
    for (i = 0; i < ds->n_kept; i++) {
        const entry *e = ds->kept[i];
        h = vidai_hash64(h ^ hash_str(e->path));
        for (int k = 0; k < e->n_labels; k++)
            h = vidai_hash64(h ^ (uint64_t)e->labels[k]);
        h = vidai_hash64(h ^ (uint64_t)(int64_t)(e->start * 1e6) ^
                         ((uint64_t)(int64_t)(e->end * 1e6) << 1));
    }
    ds->id = h;
    return VIDA_OK;
}

static int check_files(vida_dataset *ds)
{
    int rc = VIDA_OK;
    for (int64_t i = 0; i < ds->n_all && rc == VIDA_OK; i++) {
        entry *e = &ds->all[i];
        struct stat sb;
        const char *why = NULL;
        if (stat(e->path, &sb) != 0)
            why = strerror(errno);
        else if (!S_ISREG(sb.st_mode))
            why = "not a regular file";
        if (!why)
            continue;
        e->keep = 0;
        ds->st.missing++;
        if (ds->p.strict)
            return vidai_error(VIDA_EIO, "line %lld: %s: %s", (long long)e->line, e->path, why);
        rc = problem(ds, "line %lld: %s: %s", (long long)e->line, e->path, why);
    }
    return rc;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *d;
    size_t n;
    if (!slash)
        return vidai_strdup(".");
    n = slash == path ? 1 : (size_t)(slash - path);
    d = vidai_malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, path, n);
    d[n] = 0;
    return d;
}

int vida_dataset_open(vida_dataset **out, vida_context *ctx, const char *manifest,
                      const vida_dataset_params *p)
{
    vida_dataset *ds;
    taxonomy tax;
    int rc, have_tax = 0;
    if (out)
        *out = NULL;
    if (!out || !manifest || !p)
        return vidai_error(VIDA_EINVAL, "vida_dataset_open: %s is NULL",
                           !out ? "out" : !manifest ? "manifest" : "params");
    rc = check_params(p);
    if (rc != VIDA_OK)
        return vidai_error_prefix(rc, "vida_dataset_open: ");
    ds = vidai_calloc(1, sizeof *ds);
    if (!ds)
        return VIDA_ENOMEM;
    memset(&tax, 0, sizeof tax);
    ds->refcount = 1;
    ds->p = *p;
    ds->p.root = ds->p.taxonomy = NULL;
    ds->p.classes = NULL;
    ds->st.size = sizeof ds->st;
    ds->ctx = ctx;
    if (ctx)
        vidai_context_ref(ctx);
    ds->root = p->root ? vidai_strdup(p->root) : dir_of(manifest);
    if (!ds->root) {
        rc = VIDA_ENOMEM;
        goto fail;
    }
    if (p->taxonomy) {
        have_tax = 1;
        rc = read_taxonomy(&tax, p->taxonomy);
        if (rc != VIDA_OK)
            goto fail;
    }
    rc = read_manifest(ds, manifest, have_tax ? &tax : NULL);
    if (rc != VIDA_OK)
        goto fail;
    for (int64_t i = 0; i < ds->n_all; i++)
        ds->all[i].keep = 1;
    if (p->check_files) {
        rc = check_files(ds);
        if (rc != VIDA_OK)
            goto fail;
    }
    ds->p.classes = p->classes; /* read by build_classes only */
    rc = build_classes(ds);
    ds->p.classes = NULL;
    if (rc != VIDA_OK)
        goto fail;
    /* only the classes are needed from here on */
    strmap_free(&ds->raw);
    strmap_free(&ds->space);
    free(ds->line_raw);
    free(ds->line_ids);
    ds->line_raw = ds->line_ids = NULL;
    rc = apply_budget(ds);
    rc = rc ? rc : index_kept(ds);
    if (rc != VIDA_OK)
        goto fail;
    if (ds->n_kept == 0) {
        rc = vidai_error(VIDA_EMISMATCH,
                         "no video is left: %lld lines, %lld bad, %lld missing files, %lld "
                         "without a label in the space, %lld over the budget, %lld without a "
                         "duration%s%s",
                         (long long)ds->st.lines, (long long)ds->st.bad_lines,
                         (long long)ds->st.missing, (long long)ds->st.unlabelled,
                         (long long)ds->st.over_budget, (long long)ds->st.unprobed,
                         ds->n_problems ? "; the first problem: " : "",
                         ds->n_problems ? ds->problems[0] : "");
        goto fail;
    }
    if (ds->more_problems) {
        char buf[96];
        snprintf(buf, sizeof buf, "... and %lld more problems", (long long)ds->more_problems);
        if (!grow((void **)&ds->problems, &ds->cap_problems, ds->n_problems + 1, sizeof(char *)) &&
            (ds->problems[ds->n_problems] = vidai_strdup(buf)))
            ds->n_problems++;
    }
    ds->st.videos = ds->n_kept;
    ds->st.classes = ds->n_classes;
    ds->st.epoch_size = ds->epoch_size;
    taxonomy_free(&tax);
    *out = ds;
    return VIDA_OK;
fail:
    taxonomy_free(&tax);
    ds->refcount = 1;
    vida_dataset_free(ds);
    return vidai_error_prefix(rc, "vida_dataset_open %s: ", manifest);
}

void vidai_dataset_ref(vida_dataset *ds)
{
    if (ds)
        __atomic_add_fetch(&ds->refcount, 1, __ATOMIC_RELAXED);
}

void vida_dataset_free(vida_dataset *ds)
{
    if (!ds || __atomic_sub_fetch(&ds->refcount, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    free(ds->all);
    free(ds->paths);
    free(ds->pool);
    free(ds->line_raw);
    free(ds->line_ids);
    strmap_free(&ds->raw);
    strmap_free(&ds->space);
    vidai_free(ds->kept);
    for (int64_t c = 0; ds->class_names && c < ds->n_classes; c++)
        vidai_free(ds->class_names[c]);
    vidai_free(ds->class_names);
    vidai_free(ds->class_off);
    vidai_free(ds->class_vid);
    vidai_free(ds->cum);
    for (int64_t i = 0; i < ds->n_problems; i++)
        vidai_free(ds->problems[i]);
    vidai_free(ds->problems);
    vidai_free(ds->root);
    vida_context_free(ds->ctx);
    vidai_free(ds);
}

int vida_dataset_get_stats(const vida_dataset *ds, vida_dataset_stats *st)
{
    if (!ds || !st)
        return vidai_error(VIDA_EINVAL, "vida_dataset_get_stats: %s is NULL",
                           !ds ? "dataset" : "stats");
    if (st->size != sizeof *st)
        return vidai_error(VIDA_EINVAL, "vida_dataset_get_stats: stats.size is %zu, expected %zu",
                           st->size, sizeof *st);
    *st = ds->st;
    return VIDA_OK;
}

int64_t vida_dataset_size(const vida_dataset *ds)
{
    return ds ? ds->n_kept : -1;
}

int64_t vida_dataset_n_classes(const vida_dataset *ds)
{
    return ds ? ds->n_classes : -1;
}

int64_t vida_dataset_epoch_size(const vida_dataset *ds)
{
    return ds ? ds->epoch_size : -1;
}

const char *vida_dataset_label_name(const vida_dataset *ds, int64_t c)
{
    return ds && c >= 0 && c < ds->n_classes ? ds->class_names[c] : NULL;
}

int64_t vida_dataset_label_videos(const vida_dataset *ds, int64_t c)
{
    return ds && c >= 0 && c < ds->n_classes ? ds->class_off[c + 1] - ds->class_off[c] : -1;
}

int64_t vida_dataset_n_problems(const vida_dataset *ds)
{
    return ds ? ds->n_problems : -1;
}

const char *vida_dataset_problem(const vida_dataset *ds, int64_t i)
{
    return ds && i >= 0 && i < ds->n_problems ? ds->problems[i] : NULL;
}

int vida_dataset_get_video(const vida_dataset *ds, int64_t i, vida_dataset_video *v)
{
    const entry *e;
    if (!ds || !v)
        return vidai_error(VIDA_EINVAL, "vida_dataset_get_video: %s is NULL",
                           !ds ? "dataset" : "video");
    if (v->size != sizeof *v)
        return vidai_error(VIDA_EINVAL, "vida_dataset_get_video: video.size is %zu, expected %zu",
                           v->size, sizeof *v);
    if (i < 0 || i >= ds->n_kept)
        return vidai_error(VIDA_EINVAL, "vida_dataset_get_video: video %lld is outside [0, %lld)",
                           (long long)i, (long long)ds->n_kept);
    e = ds->kept[i];
    v->path = e->path;
    v->line = e->line;
    v->duration = e->duration;
    v->start = e->start;
    v->end = e->end;
    v->n_labels = e->n_labels;
    v->labels = e->labels;
    return VIDA_OK;
}

/* A bijection of [0, n) keyed by key: Feistel rounds on 2^(2h) >= n, cycle walking. */
static uint64_t permute(uint64_t i, uint64_t n, uint64_t key)
{
    int bits = 2, half;
    uint64_t mask;
    if (n <= 1)
        return 0;
    while (bits < 64 && ((uint64_t)1 << bits) < n)
        bits++;
    half = (bits + 1) / 2;
    mask = ((uint64_t)1 << half) - 1;
    do {
        uint64_t l = i >> half, r = i & mask;
        for (uint64_t round = 0; round < 4; round++) {
            uint64_t f = vidai_rng_u64(key, (round << 56) ^ r) & mask, t = r;
            r = l ^ f;
            l = t;
        }
        i = (l << half) | r;
    } while (i >= n);
    return i;
}

static double unit53(uint64_t key, uint64_t counter)
{
    return (double)(vidai_rng_u64(key, counter) >> 11) * (1.0 / 9007199254740992.0);
}

int vida_dataset_draw(const vida_dataset *ds, uint64_t seed, int64_t epoch, int64_t index,
                      vida_dataset_sample *s)
{
    uint64_t key;
    int K;
    if (!ds || !s)
        return vidai_error(VIDA_EINVAL, "vida_dataset_draw: %s is NULL", !ds ? "dataset" : "sample");
    if (s->size != sizeof *s)
        return vidai_error(VIDA_EINVAL, "vida_dataset_draw: sample.size is %zu, expected %zu",
                           s->size, sizeof *s);
    if (index < 0 || index >= ds->epoch_size || epoch < 0)
        return vidai_error(VIDA_EINVAL,
                           "vida_dataset_draw: index %lld is outside [0, %lld) or epoch %lld < 0",
                           (long long)index, (long long)ds->epoch_size, (long long)epoch);
    K = ds->p.clips_per_video;
    key = vidai_rng_u64(vidai_hash64(seed ^ 0x64726177ull), (uint64_t)epoch);
    if (ds->p.resample == VIDA_RESAMPLE_NONE) {
        uint64_t j = permute((uint64_t)index, (uint64_t)ds->epoch_size, key);
        s->video = (int64_t)(j / (uint64_t)K);
        s->slot = (int32_t)(j % (uint64_t)K);
        s->label = ds->kept[s->video]->labels[0];
        return VIDA_OK;
    } else {
        double total = ds->cum[ds->n_classes - 1];
        double u = unit53(key, 3 * (uint64_t)index) * total;
        int64_t lo = 0, hi = ds->n_classes - 1, cnt;
        while (lo < hi) { /* first c with cum[c] > u */
            int64_t mid = lo + (hi - lo) / 2;
            if (ds->cum[mid] > u)
                hi = mid;
            else
                lo = mid + 1;
        }
        while (lo > 0 && ds->class_off[lo + 1] == ds->class_off[lo])
            lo--; /* only when rounding put u at total: back to a class with videos */
        cnt = ds->class_off[lo + 1] - ds->class_off[lo];
        s->label = (int32_t)lo;
        s->video = ds->class_vid[ds->class_off[lo] +
                                 (int64_t)floor(unit53(key, 3 * (uint64_t)index + 1) * (double)cnt)];
        s->slot = (int32_t)floor(unit53(key, 3 * (uint64_t)index + 2) * (double)K);
    }
    return VIDA_OK;
}

int vida_dataset_target(const vida_dataset *ds, const vida_dataset_sample *s, float *row, size_t n)
{
    const entry *e;
    if (!ds || !s || !row)
        return vidai_error(VIDA_EINVAL, "vida_dataset_target: %s is NULL",
                           !ds ? "dataset" : !s ? "sample" : "row");
    if (n < (size_t)ds->n_classes)
        return vidai_error(VIDA_EINVAL, "vida_dataset_target: the row has %zu floats, %lld classes",
                           n, (long long)ds->n_classes);
    if (s->video < 0 || s->video >= ds->n_kept || s->label < 0 || s->label >= ds->n_classes)
        return vidai_error(VIDA_EINVAL, "vida_dataset_target: video %lld or label %d out of range",
                           (long long)s->video, (int)s->label);
    e = ds->kept[s->video];
    memset(row, 0, (size_t)ds->n_classes * sizeof *row);
    if (ds->p.target == VIDA_TARGET_SINGLE) {
        row[s->label] = 1.0f;
    } else {
        float v = ds->p.target == VIDA_TARGET_SOFT ? 1.0f / (float)e->n_labels : 1.0f;
        for (int k = 0; k < e->n_labels; k++)
            row[e->labels[k]] = v;
    }
    return VIDA_OK;
}

uint64_t vidai_dataset_id(const vida_dataset *ds)
{
    return ds->id;
}

int vidai_dataset_slots(const vida_dataset *ds)
{
    return ds->p.clips_per_video;
}

int vidai_dataset_window(const vida_dataset *ds, int64_t i, int slot, double duration,
                         double *t_begin, double *t_end)
{
    const entry *e = ds->kept[i];
    int K = ds->p.clips_per_video;
    double b = e->start, end = e->end >= 0 && e->end < duration ? e->end : duration, len;
    if (b >= end)
        return vidai_error(VIDA_EINVAL, "the segment [%g, %g] s starts after the video's end "
                           "(%.6g s)", e->start, e->end, duration);
    len = end - b;
    *t_begin = b + len * slot / K;
    *t_end = slot == K - 1 && end >= duration ? -1 : b + len * (slot + 1) / K;
    return VIDA_OK;
}
