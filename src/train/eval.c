/*
 * vida_eval: multi-clip evaluation (include/vidaction/eval.h). Per video the
 * mean clip score is kept (n_classes floats) with its classes; clip hits are
 * counted as clips arrive; video-level numbers are computed on request.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "vidaction/eval.h"

struct vida_eval {
    int64_t C;
    int kind;
    float *scores;   /* [videos, C] */
    int64_t videos, cap;
    int64_t *lab_off; /* [videos + 1] into labels */
    int32_t *labels;
    int64_t n_labels, lab_cap;
    int64_t clips, clip_hit1, clip_hit5;
};

int vida_eval_create(vida_eval **out, int64_t n_classes, int kind)
{
    vida_eval *e;
    if (out)
        *out = NULL;
    if (!out)
        return vidai_error(VIDA_EINVAL, "vida_eval_create: out is NULL");
    if (n_classes < 1 || n_classes > (1 << 24))
        return vidai_error(VIDA_EINVAL, "vida_eval_create: n_classes %lld is outside [1, 2^24]",
                           (long long)n_classes);
    if (kind != VIDA_EVAL_SOFTMAX && kind != VIDA_EVAL_SIGMOID)
        return vidai_error(VIDA_EINVAL, "vida_eval_create: kind %d is not a VIDA_EVAL_* value", kind);
    e = vidai_calloc(1, sizeof *e);
    if (!e)
        return VIDA_ENOMEM;
    e->C = n_classes;
    e->kind = kind;
    e->lab_off = vidai_calloc(1, sizeof *e->lab_off);
    if (!e->lab_off) {
        vidai_free(e);
        return VIDA_ENOMEM;
    }
    *out = e;
    return VIDA_OK;
}

void vida_eval_free(vida_eval *e)
{
    if (!e)
        return;
    free(e->scores);
    free(e->lab_off);
    free(e->labels);
    vidai_free(e);
}

/* 1 when class c is among the k highest of s[0, C) (ties: the lower class first). */
static int in_top(const float *s, int64_t C, int64_t c, int k)
{
    int64_t above = 0;
    for (int64_t j = 0; j < C && above < k; j++)
        above += s[j] > s[c] || (s[j] == s[c] && j < c);
    return above < k;
}

static int any_in_top(const float *s, int64_t C, const int32_t *labels, int n, int k)
{
    for (int i = 0; i < n; i++)
        if (in_top(s, C, labels[i], k))
            return 1;
    return 0;
}

/* The highest class of s (ties: the lower). */
static int64_t argmax(const float *s, int64_t C)
{
    int64_t b = 0;
    for (int64_t j = 1; j < C; j++)
        if (s[j] > s[b])
            b = j;
    return b;
}

int vida_eval_add_video(vida_eval *e, const float *logits, int64_t n_clips, const int32_t *labels,
                        int n_labels)
{
    double *acc;
    int64_t C, hit1 = 0, hit5 = 0;
    if (!e || !logits || !labels)
        return vidai_error(VIDA_EINVAL, "vida_eval_add_video: %s is NULL",
                           !e ? "eval" : !logits ? "logits" : "labels");
    C = e->C;
    if (n_clips < 1 || n_labels < 1)
        return vidai_error(VIDA_EINVAL, "vida_eval_add_video: %lld clips, %d labels: need >= 1 each",
                           (long long)n_clips, n_labels);
    for (int i = 0; i < n_labels; i++)
        if (labels[i] < 0 || labels[i] >= C)
            return vidai_error(VIDA_EINVAL, "vida_eval_add_video: class %d is outside [0, %lld)",
                               (int)labels[i], (long long)C);
    for (int64_t j = 0; j < n_clips * C; j++)
        if (!isfinite(logits[j]))
            return vidai_error(VIDA_ENONFINITE, "vida_eval_add_video: clip %lld, class %lld: the "
                               "logit is not finite", (long long)(j / C), (long long)(j % C));
    if (e->videos == e->cap) {
        int64_t nc = e->cap ? e->cap * 2 : 64;
        float *s = realloc(e->scores, (size_t)nc * (size_t)C * sizeof *s);
        int64_t *o;
        if (!s)
            return vidai_error(VIDA_ENOMEM, "vida_eval_add_video: out of memory");
        e->scores = s;
        o = realloc(e->lab_off, (size_t)(nc + 1) * sizeof *o);
        if (!o)
            return vidai_error(VIDA_ENOMEM, "vida_eval_add_video: out of memory");
        e->lab_off = o;
        e->cap = nc;
    }
    if (e->n_labels + n_labels > e->lab_cap) {
        int64_t nc = e->lab_cap ? e->lab_cap * 2 : 64;
        int32_t *l;
        while (nc < e->n_labels + n_labels)
            nc *= 2;
        l = realloc(e->labels, (size_t)nc * sizeof *l);
        if (!l)
            return vidai_error(VIDA_ENOMEM, "vida_eval_add_video: out of memory");
        e->labels = l;
        e->lab_cap = nc;
    }
    acc = calloc((size_t)C, sizeof *acc);
    if (!acc)
        return vidai_error(VIDA_ENOMEM, "vida_eval_add_video: out of memory");
    for (int64_t k = 0; k < n_clips; k++) {
        const float *x = logits + k * C;
        hit1 += any_in_top(x, C, labels, n_labels, 1);
        hit5 += any_in_top(x, C, labels, n_labels, 5);
        if (e->kind == VIDA_EVAL_SOFTMAX) {
            double mx = x[argmax(x, C)], sum = 0;
            for (int64_t j = 0; j < C; j++)
                sum += exp((double)x[j] - mx);
            for (int64_t j = 0; j < C; j++)
                acc[j] += exp((double)x[j] - mx) / sum;
        } else {
            for (int64_t j = 0; j < C; j++)
                acc[j] += 1.0 / (1.0 + exp(-(double)x[j]));
        }
    }
    for (int64_t j = 0; j < C; j++)
        e->scores[e->videos * C + j] = (float)(acc[j] / (double)n_clips);
    free(acc);
    memcpy(e->labels + e->n_labels, labels, (size_t)n_labels * sizeof *labels);
    e->n_labels += n_labels;
    e->videos++;
    e->lab_off[e->videos] = e->n_labels;
    e->clips += n_clips;
    e->clip_hit1 += hit1;
    e->clip_hit5 += hit5;
    return VIDA_OK;
}

static int carries(const vida_eval *e, int64_t v, int64_t c)
{
    for (int64_t i = e->lab_off[v]; i < e->lab_off[v + 1]; i++)
        if (e->labels[i] == c)
            return 1;
    return 0;
}

typedef struct ranked {
    float score;
    int64_t video;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->video < y->video ? -1 : x->video > y->video;
}

/* Class c's videos, accuracy (video@1 == c among them) and AP; -1, -1 when it has none. */
static int class_stats(const vida_eval *e, int64_t c, ranked *tmp, int64_t *videos, double *acc,
                       double *ap)
{
    int64_t n = 0, right = 0, hits = 0;
    double sum = 0;
    for (int64_t v = 0; v < e->videos; v++)
        if (carries(e, v, c)) {
            n++;
            right += argmax(e->scores + v * e->C, e->C) == c;
        }
    *videos = n;
    if (n == 0) {
        *acc = *ap = -1;
        return VIDA_OK;
    }
    *acc = (double)right / (double)n;
    for (int64_t v = 0; v < e->videos; v++) {
        tmp[v].score = e->scores[v * e->C + c];
        tmp[v].video = v;
    }
    qsort(tmp, (size_t)e->videos, sizeof *tmp, cmp_ranked);
    for (int64_t r = 0; r < e->videos; r++)
        if (carries(e, tmp[r].video, c)) {
            hits++;
            sum += (double)hits / (double)(r + 1);
        }
    *ap = sum / (double)n;
    return VIDA_OK;
}

int vida_eval_get_result(const vida_eval *e, vida_eval_result *r)
{
    ranked *tmp;
    int64_t hit1 = 0, hit5 = 0, classes = 0;
    double sum_acc = 0, sum_ap = 0;
    if (!e || !r)
        return vidai_error(VIDA_EINVAL, "vida_eval_get_result: %s is NULL", !e ? "eval" : "result");
    if (r->size != sizeof *r)
        return vidai_error(VIDA_EINVAL, "vida_eval_get_result: result.size is %zu, expected %zu",
                           r->size, sizeof *r);
    memset(r, 0, sizeof *r);
    r->size = sizeof *r;
    r->videos = e->videos;
    r->clips = e->clips;
    if (e->videos == 0)
        return VIDA_OK;
    for (int64_t v = 0; v < e->videos; v++) {
        const float *s = e->scores + v * e->C;
        const int32_t *l = e->labels + e->lab_off[v];
        int n = (int)(e->lab_off[v + 1] - e->lab_off[v]);
        hit1 += any_in_top(s, e->C, l, n, 1);
        hit5 += any_in_top(s, e->C, l, n, 5);
    }
    r->clip_top1 = (double)e->clip_hit1 / (double)e->clips;
    r->clip_top5 = (double)e->clip_hit5 / (double)e->clips;
    r->video_top1 = (double)hit1 / (double)e->videos;
    r->video_top5 = (double)hit5 / (double)e->videos;
    tmp = malloc((size_t)e->videos * sizeof *tmp);
    if (!tmp)
        return vidai_error(VIDA_ENOMEM, "vida_eval_get_result: out of memory");
    for (int64_t c = 0; c < e->C; c++) {
        int64_t n;
        double acc, ap;
        class_stats(e, c, tmp, &n, &acc, &ap);
        if (n == 0)
            continue;
        classes++;
        sum_acc += acc;
        sum_ap += ap;
    }
    free(tmp);
    r->mean_class_accuracy = sum_acc / (double)classes;
    r->map = sum_ap / (double)classes;
    return VIDA_OK;
}

int vida_eval_class(const vida_eval *e, int64_t c, int64_t *videos, double *accuracy, double *ap)
{
    ranked *tmp;
    int64_t n;
    double acc, a;
    if (!e)
        return vidai_error(VIDA_EINVAL, "vida_eval_class: eval is NULL");
    if (c < 0 || c >= e->C)
        return vidai_error(VIDA_EINVAL, "vida_eval_class: class %lld is outside [0, %lld)",
                           (long long)c, (long long)e->C);
    tmp = malloc(((size_t)e->videos + 1) * sizeof *tmp);
    if (!tmp)
        return vidai_error(VIDA_ENOMEM, "vida_eval_class: out of memory");
    class_stats(e, c, tmp, &n, &acc, &a);
    free(tmp);
    if (videos)
        *videos = n;
    if (accuracy)
        *accuracy = acc;
    if (ap)
        *ap = a;
    return VIDA_OK;
}

int vida_eval_confusion(const vida_eval *e, int64_t *out, size_t n)
{
    if (!e || !out)
        return vidai_error(VIDA_EINVAL, "vida_eval_confusion: %s is NULL", !e ? "eval" : "out");
    if (n != (size_t)e->C * (size_t)e->C)
        return vidai_error(VIDA_EINVAL, "vida_eval_confusion: n is %zu, %lld classes need %lld",
                           n, (long long)e->C, (long long)(e->C * e->C));
    memset(out, 0, n * sizeof *out);
    for (int64_t v = 0; v < e->videos; v++)
        out[e->labels[e->lab_off[v]] * e->C + argmax(e->scores + v * e->C, e->C)]++;
    return VIDA_OK;
}

int vida_eval_video_scores(const vida_eval *e, int64_t i, float *out, size_t n)
{
    if (!e || !out)
        return vidai_error(VIDA_EINVAL, "vida_eval_video_scores: %s is NULL", !e ? "eval" : "out");
    if (i < 0 || i >= e->videos || n < (size_t)e->C)
        return vidai_error(VIDA_EINVAL, "vida_eval_video_scores: video %lld of %lld, n %zu of %lld",
                           (long long)i, (long long)e->videos, n, (long long)e->C);
    memcpy(out, e->scores + i * e->C, (size_t)e->C * sizeof *out);
    return VIDA_OK;
}
