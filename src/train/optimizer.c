/*
 * vida_optimizer: SGD (momentum, Nesterov, weight decay) over the model's
 * learnable tensors in their internal layout -- the update is elementwise, so
 * layout does not matter except when buffers are read or written by name
 * (conv tensors are converted to and from the file layout).
 *
 * Arithmetic follows torch.optim.SGD on float32 tensors: g = grad + wd * w,
 * buf = momentum * buf + g, w -= lr * (nesterov ? g + momentum * buf : buf),
 * in float, with lr and the factors rounded to float (PyTorch's vectorised
 * add fuses a + alpha * b, so results agree to rounding, not bit for bit). A
 * zero buffer gives PyTorch's first step (buf = g).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "nn/nn.h"
#include "vidaction/optimizer.h"
#include "train/internal.h"

typedef struct opt_tensor {
    int param;      /* index in the model's params */
    double lr_mult, wd_mult;
    int decay;      /* subject to weight decay by kind (decay_norm_and_bias) */
    float *buf;     /* momentum buffer, internal layout, on the model's backend; NULL until needed */
} opt_tensor;

struct vida_optimizer {
    vida_model *m;
    vidai_guard guard; /* one thread at a time in the public calls (core.h) */
    vida_optimizer_params p;
    opt_tensor *t;
    int n;
    int64_t steps, skipped, consecutive;
    double last_grad_norm, last_lr;
    /* fp16 training (VIDA_PRECISION_FP16): dynamic loss scale, as PyTorch's GradScaler */
    double loss_scale;
    int64_t scale_good; /* finite steps since the scale last changed */
    uint64_t generation; /* the model's, when this optimizer was made */
};

/* An optimizer made before vida_model_set_head holds buffers of the old classifier's size. */
static int stale(const vida_optimizer *o, const char *fn)
{
    if (o->generation == o->m->generation)
        return VIDA_OK;
    return vidai_error(VIDA_ESTATE, "%s: the model's classifier was replaced (vida_model_set_head) "
                       "after this optimizer was made; make a new optimizer", fn);
}

#define LOSS_SCALE_INIT 65536.0
#define LOSS_SCALE_GROWTH_INTERVAL 2000

void vida_optimizer_params_init(vida_optimizer_params *p)
{
    if (!p)
        return;
    memset(p, 0, sizeof *p);
    p->size = sizeof *p;
    p->lr = 0.01;
    p->momentum = 0.9;
    p->weight_decay = 1e-4;
    p->decay_norm_and_bias = 1;
    p->schedule = VIDA_SCHEDULE_CONSTANT;
    p->warmup_start = 0.1;
    p->gamma = 0.1;
}

static int check_params(const vida_optimizer_params *p)
{
    if (p->size != sizeof *p)
        return vidai_error(VIDA_EINVAL, "params.size is %zu, expected %zu (call _params_init)",
                           p->size, sizeof *p);
    if (!(p->lr >= 0) || !isfinite(p->lr))
        return vidai_error(VIDA_EINVAL, "lr %g is negative or not finite", p->lr);
    if (!(p->momentum >= 0 && p->momentum < 1))
        return vidai_error(VIDA_EINVAL, "momentum %g is outside [0, 1)", p->momentum);
    if (p->nesterov && p->momentum == 0)
        return vidai_error(VIDA_EINVAL, "nesterov needs a momentum > 0");
    if (!(p->weight_decay >= 0) || !isfinite(p->weight_decay))
        return vidai_error(VIDA_EINVAL, "weight_decay %g is negative or not finite",
                           p->weight_decay);
    if (p->schedule < VIDA_SCHEDULE_CONSTANT || p->schedule > VIDA_SCHEDULE_COSINE)
        return vidai_error(VIDA_EINVAL, "schedule %d is not a VIDA_SCHEDULE_* value", p->schedule);
    if (p->warmup_steps < 0 || !(p->warmup_start >= 0 && p->warmup_start <= 1))
        return vidai_error(VIDA_EINVAL, "warmup_steps %lld or warmup_start %g out of range",
                           (long long)p->warmup_steps, p->warmup_start);
    if (p->schedule == VIDA_SCHEDULE_COSINE &&
        (p->total_steps <= p->warmup_steps || !(p->min_lr >= 0) || !isfinite(p->min_lr)))
        return vidai_error(VIDA_EINVAL,
                           "cosine: total_steps %lld must be above warmup_steps %lld, min_lr %g "
                           ">= 0",
                           (long long)p->total_steps, (long long)p->warmup_steps, p->min_lr);
    if (p->n_milestones < 0 || p->n_milestones > VIDA_MAX_MILESTONES)
        return vidai_error(VIDA_EINVAL, "n_milestones %d is outside [0, %d]", p->n_milestones,
                           VIDA_MAX_MILESTONES);
    for (int i = 1; i < p->n_milestones; i++)
        if (p->milestones[i] <= p->milestones[i - 1])
            return vidai_error(VIDA_EINVAL, "milestones are not ascending at %d", i);
    if (!(p->gamma > 0) || !isfinite(p->gamma))
        return vidai_error(VIDA_EINVAL, "gamma %g is not a positive number", p->gamma);
    if (p->batch < 0 || p->base_batch < 0)
        return vidai_error(VIDA_EINVAL, "batch %d and base_batch %d must be >= 0", p->batch,
                           p->base_batch);
    if (!(p->clip_norm >= 0) || !isfinite(p->clip_norm))
        return vidai_error(VIDA_EINVAL, "clip_norm %g is negative or not finite", p->clip_norm);
    return VIDA_OK;
}

int vida_optimizer_create(vida_optimizer **out, vida_model *m, const vida_optimizer_params *p)
{
    vida_optimizer *o;
    int rc, k = 0;
    if (out)
        *out = NULL;
    if (!out || !m || !p)
        return vidai_error(VIDA_EINVAL, "vida_optimizer_create: %s is NULL",
                           !out ? "out" : !m ? "model" : "params");
    rc = check_params(p);
    if (rc != VIDA_OK)
        return vidai_error_prefix(rc, "vida_optimizer_create: ");
    o = vidai_calloc(1, sizeof *o);
    if (!o)
        return VIDA_ENOMEM;
    o->m = m;
    o->p = *p;
    o->generation = m->generation;
    o->loss_scale = vidai_be_precision(m->ctx) == VIDA_PRECISION_FP16 ? LOSS_SCALE_INIT : 1.0;
    for (int i = 0; i < m->n_params; i++)
        o->n += m->params[i].learnable;
    o->t = vidai_calloc((size_t)o->n + 1, sizeof *o->t);
    if (!o->t) {
        vidai_free(o);
        return VIDA_ENOMEM;
    }
    for (int i = 0; i < m->n_params; i++) {
        const vidai_param *q = &m->params[i];
        if (!q->learnable)
            continue;
        o->t[k].param = i;
        o->t[k].lr_mult = o->t[k].wd_mult = 1;
        o->t[k].decay = p->decay_norm_and_bias || q->kind == VIDAI_PARAM_CONV ||
                        q->kind == VIDAI_PARAM_LINEAR;
        k++;
    }
    vidai_model_ref(m); /* the model lives as long as its optimizers */
    *out = o;
    return VIDA_OK;
}

void vida_optimizer_free(vida_optimizer *o)
{
    if (!o)
        return;
    for (int i = 0; i < o->n; i++)
        vidai_be_free(o->m->ctx, o->t[i].buf);
    vidai_free(o->t);
    vida_model_free(o->m); /* drops the optimizer's reference */
    vidai_free(o);
}

static int do_set_group(vida_optimizer *o, const char *prefix, double lr_mult, double wd_mult)
{
    int matched = 0;
    size_t n;
    if (!o || !prefix)
        return vidai_error(VIDA_EINVAL, "vida_optimizer_set_group: %s is NULL",
                           !o ? "optimizer" : "prefix");
    if (!(lr_mult >= 0) || !isfinite(lr_mult) || !(wd_mult >= 0) || !isfinite(wd_mult))
        return vidai_error(VIDA_EINVAL,
                           "vida_optimizer_set_group: multipliers %g, %g must be finite and >= 0",
                           lr_mult, wd_mult);
    n = strlen(prefix);
    for (int i = 0; i < o->n; i++)
        if (!strncmp(o->m->params[o->t[i].param].name, prefix, n))
            matched++;
    if (!matched)
        return vidai_error(VIDA_EINVAL, "vida_optimizer_set_group: no learnable tensor starts "
                           "with \"%s\"", prefix);
    for (int i = 0; i < o->n; i++)
        if (!strncmp(o->m->params[o->t[i].param].name, prefix, n)) {
            o->t[i].lr_mult = lr_mult;
            o->t[i].wd_mult = wd_mult;
        }
    return VIDA_OK;
}

int vida_optimizer_set_group(vida_optimizer *o, const char *prefix, double lr_mult, double wd_mult)
{
    VIDAI_GUARDED(o, __func__, "optimizer", do_set_group(o, prefix, lr_mult, wd_mult));
}

double vida_optimizer_lr(const vida_optimizer *o, int64_t s)
{
    const vida_optimizer_params *p;
    double base, lr;
    if (!o)
        return 0;
    p = &o->p;
    if (s < 0)
        s = o->steps;
    base = p->batch > 0 && p->base_batch > 0 ? p->lr * p->batch / p->base_batch : p->lr;
    if (s < p->warmup_steps)
        return base * (p->warmup_start + (1 - p->warmup_start) * (double)s / (double)p->warmup_steps);
    switch (p->schedule) {
    case VIDA_SCHEDULE_STEP:
        lr = base;
        for (int i = 0; i < p->n_milestones; i++)
            if (p->milestones[i] <= s)
                lr *= p->gamma;
        return lr;
    case VIDA_SCHEDULE_COSINE: {
        double t = (double)(s - p->warmup_steps), T = (double)(p->total_steps - p->warmup_steps);
        if (t >= T)
            return p->min_lr;
        return p->min_lr + (base - p->min_lr) * 0.5 * (1 + cos(3.14159265358979323846 * t / T));
    }
    default: return base;
    }
}

/* Scale and check of the gradients: the global norm, or an error naming a non-finite one. */
static int grad_norm(vida_optimizer *o, double *norm)
{
    double sum = 0;
    int any = 0, live = 0, rc;
    const float **x = vidai_calloc((size_t)o->n + 1, sizeof *x);
    int64_t *n = vidai_calloc((size_t)o->n + 1, sizeof *n);
    double *sums = vidai_calloc((size_t)o->n + 1, sizeof *sums);
    if (!x || !n || !sums) {
        rc = VIDA_ENOMEM;
        goto out;
    }
    for (int i = 0; i < o->n; i++) {
        const vidai_param *q = &o->m->params[o->t[i].param];
        live += o->t[i].lr_mult != 0;
        if (o->t[i].lr_mult == 0 || !q->grad)
            continue;
        any = 1;
        if (!(x[i] = vidai_grad_dev(o->m, o->t[i].param))) {
            rc = VIDA_EDEVICE;
            goto out;
        }
        n[i] = q->numel;
    }
    if (!any) {
        rc = vidai_error(VIDA_ESTATE, live ? "no gradients: run vida_model_backward first"
                                           : "every learnable tensor is frozen (lr_mult 0)");
        goto out;
    }
    if ((rc = vidai_be_sumsq(o->m->ctx, o->n, (const float *const *)x, n, sums)) != VIDA_OK)
        goto out;
    for (int i = 0; i < o->n; i++) {
        if (!isfinite(sums[i])) {
            rc = vidai_error(VIDA_ENONFINITE, "the gradient of '%s' is not finite",
                             o->m->params[o->t[i].param].name);
            goto out;
        }
        sum += sums[i];
    }
    *norm = sqrt(sum);
out:
    vidai_free(x);
    vidai_free(n);
    vidai_free(sums);
    return rc;
}

double vidai_optimizer_loss_scale(const vida_optimizer *o)
{
    return o->loss_scale;
}

static int do_step(vida_optimizer *o)
{
    return vidai_optimizer_step_scaled(o, 1.0);
}

/* do_step inside its model's guard (the step writes the model's weights). */
static int step_in_model_guard(vida_optimizer *o)
{
    if (!o)
        return do_step(o);
    VIDAI_GUARDED(o->m, "vida_optimizer_step", "model", do_step(o));
}

int vida_optimizer_step(vida_optimizer *o)
{
    VIDAI_GUARDED(o, __func__, "optimizer", step_in_model_guard(o));
}

int vidai_optimizer_step_scaled(vida_optimizer *o, double grad_scale)
{
    const vida_optimizer_params *p;
    double norm = 0, lr;
    float scale = 1, mom;
    int rc;
    if (!o)
        return vidai_error(VIDA_EINVAL, "vida_optimizer_step: optimizer is NULL");
    if ((rc = stale(o, "vida_optimizer_step")) != VIDA_OK)
        return rc;
    p = &o->p;
    rc = grad_norm(o, &norm);
    if (rc == VIDA_ENONFINITE) {
        o->skipped++;
        if (grad_scale > 1) {
            /* the scaled fp16 gradients overflowed: halve the scale, not a failure of training
               (unless the scale cannot go lower) */
            o->loss_scale = o->loss_scale / 2 < 1 ? 1 : o->loss_scale / 2;
            o->scale_good = 0;
            return vidai_error_prefix(rc, "vida_optimizer_step: step %lld skipped (fp16 gradients "
                                      "overflowed at loss scale %g; now %g): ",
                                      (long long)o->steps, grad_scale, o->loss_scale);
        }
        o->consecutive++;
        return vidai_error_prefix(rc, "vida_optimizer_step: step %lld skipped (%lld in a row): ",
                                  (long long)o->steps, (long long)o->consecutive);
    }
    if (rc != VIDA_OK)
        return vidai_error_prefix(rc, "vida_optimizer_step: ");
    if (!(grad_scale > 0) || !isfinite(grad_scale))
        return vidai_error(VIDA_EINVAL, "vida_optimizer_step: gradient scale %g", grad_scale);
    norm /= grad_scale; /* the gradients' own norm */
    if (p->clip_norm > 0 && norm > p->clip_norm)
        scale = (float)(p->clip_norm / (norm + 1e-6)); /* as torch.nn.utils.clip_grad_norm_ */
    if (grad_scale != 1)
        scale = (float)(scale / grad_scale);
    if (grad_scale > 1 && ++o->scale_good >= LOSS_SCALE_GROWTH_INTERVAL) {
        o->loss_scale *= 2;
        o->scale_good = 0;
    }
    lr = vida_optimizer_lr(o, o->steps);
    mom = (float)p->momentum;
    /* buffers first, so that running out of memory leaves nothing half-updated */
    for (int i = 0; i < o->n && p->momentum > 0; i++) {
        opt_tensor *t = &o->t[i];
        const vidai_param *q = &o->m->params[t->param];
        if (t->lr_mult != 0 && q->grad && !t->buf) {
            if (!(t->buf = vidai_be_alloc(o->m->ctx, (size_t)q->numel * sizeof(float))))
                return VIDA_ENOMEM;
            if ((rc = vidai_be_zero(o->m->ctx, t->buf, (size_t)q->numel * sizeof(float))) != VIDA_OK)
                return rc;
        }
    }
    for (int i = 0; i < o->n; i++) {
        opt_tensor *t = &o->t[i];
        vidai_param *q = &o->m->params[t->param];
        float lrt = (float)(lr * t->lr_mult), wd = t->decay ? (float)(p->weight_decay * t->wd_mult) : 0;
        float *w, *g;
        if (t->lr_mult == 0 || !q->grad)
            continue;
        if (!(w = vidai_param_dev(o->m, t->param)) || !(g = vidai_grad_dev(o->m, t->param)))
            return vidai_error_prefix(VIDA_EDEVICE, "vida_optimizer_step: ");
        rc = vidai_be_sgd_update(o->m->ctx, q->numel, w, g, p->momentum > 0 ? t->buf : NULL, lrt,
                                 wd, mom, p->nesterov, scale);
        if (rc != VIDA_OK)
            return vidai_error_prefix(rc, "vida_optimizer_step: ");
        vidai_param_dev_wrote(o->m, t->param);
        vidai_model_param_changed(o->m, t->param);
    }
    o->steps++;
    o->consecutive = 0;
    o->last_grad_norm = norm;
    o->last_lr = lr;
    return VIDA_OK;
}

int vidai_optimizer_only_fc(const vida_optimizer *o)
{
    for (int i = 0; i < o->n; i++) {
        int fc = !strncmp(o->m->params[o->t[i].param].name, "fc.", 3);
        if (fc != (o->t[i].lr_mult != 0))
            return 0;
    }
    return 1;
}

void vidai_optimizer_count_skip(vida_optimizer *o)
{
    o->skipped++;
    o->consecutive++;
}

int vida_optimizer_get_stats(const vida_optimizer *o, vida_optimizer_stats *st)
{
    if (!o || !st)
        return vidai_error(VIDA_EINVAL, "vida_optimizer_get_stats: %s is NULL",
                           !o ? "optimizer" : "stats");
    if (st->size != sizeof *st)
        return vidai_error(VIDA_EINVAL, "vida_optimizer_get_stats: stats.size is %zu, expected %zu",
                           st->size, sizeof *st);
    st->steps = o->steps;
    st->skipped = o->skipped;
    st->consecutive_skips = o->consecutive;
    st->last_grad_norm = o->last_grad_norm;
    st->last_lr = o->last_lr;
    return VIDA_OK;
}

int64_t vida_optimizer_step_count(const vida_optimizer *o)
{
    return o ? o->steps : -1;
}

static int do_set_step_count(vida_optimizer *o, int64_t steps)
{
    if (!o || steps < 0)
        return vidai_error(VIDA_EINVAL, "vida_optimizer_set_step_count: %s",
                           !o ? "optimizer is NULL" : "steps is negative");
    o->steps = steps;
    o->consecutive = 0;
    return VIDA_OK;
}

int vida_optimizer_set_step_count(vida_optimizer *o, int64_t steps)
{
    VIDAI_GUARDED(o, __func__, "optimizer", do_set_step_count(o, steps));
}

static opt_tensor *find(const vida_optimizer *o, const char *name, const char *fn)
{
    for (int i = 0; i < o->n; i++)
        if (!strcmp(o->m->params[o->t[i].param].name, name))
            return &o->t[i];
    vidai_error(VIDA_EINVAL, "%s: no learnable tensor '%s'", fn, name);
    return NULL;
}

static int do_get_buffer(const vida_optimizer *o, const char *tensor, float *dst, int64_t count)
{
    const opt_tensor *t;
    const vidai_param *q;
    if (!o || !tensor || !dst)
        return vidai_error(VIDA_EINVAL, "vida_optimizer_get_buffer: an argument is NULL");
    if (stale(o, "vida_optimizer_get_buffer") != VIDA_OK)
        return VIDA_ESTATE;
    if (!(t = find(o, tensor, "vida_optimizer_get_buffer")))
        return VIDA_EINVAL;
    q = &o->m->params[t->param];
    if (count != q->numel)
        return vidai_error(VIDA_EINVAL, "vida_optimizer_get_buffer: '%s' has %lld elements, not %lld",
                           tensor, (long long)q->numel, (long long)count);
    if (!t->buf) {
        memset(dst, 0, (size_t)count * sizeof *dst);
    } else if (q->kind == VIDAI_PARAM_CONV) {
        float *tmp = vidai_malloc((size_t)count * sizeof *tmp);
        int rc = tmp ? vidai_be_download(o->m->ctx, tmp, t->buf, (size_t)count * sizeof *tmp) : VIDA_ENOMEM;
        if (rc == VIDA_OK)
            vidai_conv_to_file(q, tmp, dst);
        vidai_free(tmp);
        if (rc != VIDA_OK)
            return vidai_error_prefix(rc, "vida_optimizer_get_buffer: ");
    } else {
        int rc = vidai_be_download(o->m->ctx, dst, t->buf, (size_t)count * sizeof *dst);
        if (rc != VIDA_OK)
            return vidai_error_prefix(rc, "vida_optimizer_get_buffer: ");
    }
    return VIDA_OK;
}

int vida_optimizer_get_buffer(const vida_optimizer *o, const char *tensor, float *dst, int64_t count)
{
    VIDAI_GUARDED(o, __func__, "optimizer", do_get_buffer(o, tensor, dst, count));
}

static int do_set_buffer(vida_optimizer *o, const char *tensor, const float *src, int64_t count)
{
    opt_tensor *t;
    const vidai_param *q;
    if (!o || !tensor || !src)
        return vidai_error(VIDA_EINVAL, "vida_optimizer_set_buffer: an argument is NULL");
    if (stale(o, "vida_optimizer_set_buffer") != VIDA_OK)
        return VIDA_ESTATE;
    if (!(t = find(o, tensor, "vida_optimizer_set_buffer")))
        return VIDA_EINVAL;
    q = &o->m->params[t->param];
    if (count != q->numel)
        return vidai_error(VIDA_EINVAL, "vida_optimizer_set_buffer: '%s' has %lld elements, not %lld",
                           tensor, (long long)q->numel, (long long)count);
    if (o->p.momentum == 0)
        return vidai_error(VIDA_EINVAL, "vida_optimizer_set_buffer: momentum is 0: there are no "
                           "buffers");
    for (int64_t j = 0; j < count; j++)
        if (!isfinite(src[j]))
            return vidai_error(VIDA_ENONFINITE, "vida_optimizer_set_buffer: '%s'[%lld] is not finite",
                               tensor, (long long)j);
    int fresh = !t->buf;
    if (fresh && !(t->buf = vidai_be_alloc(o->m->ctx, (size_t)count * sizeof(float))))
        return VIDA_ENOMEM;
    if (q->kind == VIDAI_PARAM_CONV) {
        float *tmp = vidai_malloc((size_t)count * sizeof *tmp);
        int rc = VIDA_ENOMEM;
        if (tmp) {
            vidai_conv_to_internal(q, src, tmp);
            rc = vidai_be_upload(o->m->ctx, t->buf, tmp, (size_t)count * sizeof *tmp);
        }
        vidai_free(tmp);
        if (rc != VIDA_OK)
            goto failed;
    } else {
        int rc = vidai_be_upload(o->m->ctx, t->buf, src, (size_t)count * sizeof *src);
        if (rc != VIDA_OK)
            goto failed;
    }
    return VIDA_OK;
failed: /* a buffer made here holds nothing meaningful: it goes (a zero buffer is "none yet") */
    if (fresh) {
        vidai_be_free(o->m->ctx, t->buf);
        t->buf = NULL;
    }
    return vidai_error_prefix(VIDA_EDEVICE, "vida_optimizer_set_buffer: ");
}

int vida_optimizer_set_buffer(vida_optimizer *o, const char *tensor, const float *src, int64_t count)
{
    VIDAI_GUARDED(o, __func__, "optimizer", do_set_buffer(o, tensor, src, count));
}
