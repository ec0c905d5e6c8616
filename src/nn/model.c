/*
 * vida_model: creation, the forward and backward passes over the op program
 * (nn.h), tensor access in the file's layout, metadata, and losses.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/nn.h"

#define VIDAI_MAX_DIM 65536

void vida_model_params_init(vida_model_params *p)
{
    if (!p)
        return;
    memset(p, 0, sizeof *p);
    p->size = sizeof *p;
    p->arch = VIDA_ARCH_R2PLUS1D;
    p->depth = 18;
    p->midplanes = VIDA_MIDPLANES_PER_BLOCK;
    p->num_classes = 400;
    p->width = 1.0f;
    p->bn_eps = 1e-5f;
    p->bn_momentum = 0.1f;
}

static int set_meta(vida_model *m, const char *key, const char *value);

/* The metadata keys that describe the architecture (docs/model-format.md). */
int vidai_model_sync_meta(vida_model *m)
{
    char buf[64];
    int rc = VIDA_OK;
    const vida_model_params *p = &m->p;
    rc = rc ? rc : set_meta(m, "format", "vidaction-model");
    rc = rc ? rc : set_meta(m, "format_version", "1");
    rc = rc ? rc : set_meta(m, "arch", vidai_arch_name(p->arch));
    snprintf(buf, sizeof buf, "%d", p->depth);
    rc = rc ? rc : set_meta(m, "depth", buf);
    rc = rc ? rc : set_meta(m, "midplanes", p->midplanes == VIDA_MIDPLANES_PER_CONV ? "per-conv" : "per-block");
    rc = rc ? rc : set_meta(m, "pool1", p->pool1 ? "1" : "0");
    snprintf(buf, sizeof buf, "%.9g", (double)p->bn_eps);
    rc = rc ? rc : set_meta(m, "bn_eps", buf);
    snprintf(buf, sizeof buf, "%.9g", (double)p->bn_momentum);
    rc = rc ? rc : set_meta(m, "bn_momentum", buf);
    snprintf(buf, sizeof buf, "%.9g", (double)p->width);
    rc = rc ? rc : set_meta(m, "width", buf);
    snprintf(buf, sizeof buf, "%d", p->num_classes);
    rc = rc ? rc : set_meta(m, "num_classes", buf);
    snprintf(buf, sizeof buf, "%.9g", (double)p->dropout);
    rc = rc ? rc : set_meta(m, "dropout", buf);
    return rc;
}

int vida_model_create(vida_model **out, vida_context *ctx, const vida_model_params *p)
{
    vida_model *m;
    int rc;
    if (!out)
        return vidai_error(VIDA_EINVAL, "vida_model_create: out is NULL");
    *out = NULL;
    if (!ctx || !p)
        return vidai_error(VIDA_EINVAL, "vida_model_create: %s is NULL", !ctx ? "ctx" : "params");
    if (p->size != sizeof *p)
        return vidai_error(VIDA_EINVAL,
                           "vida_model_create: params.size is %zu, this library wants %zu "
                           "(call vida_model_params_init)",
                           p->size, sizeof *p);
    rc = vidai_model_build(&m, ctx, p);
    if (rc != VIDA_OK)
        return rc;
    vidai_model_init_weights(m);
    rc = vidai_model_sync_meta(m);
    /* the clip geometry and normalisation of the R(2+1)D/IG-65M recipe (paper.md 1.6) */
    rc = rc ? rc : set_meta(m, "clip_frames", "16");
    rc = rc ? rc : set_meta(m, "frame_stride", "1");
    rc = rc ? rc : set_meta(m, "crop", "112");
    rc = rc ? rc : set_meta(m, "short_side", "128");
    rc = rc ? rc : set_meta(m, "mean", "0.43216,0.394666,0.37645");
    rc = rc ? rc : set_meta(m, "std", "0.22803,0.22145,0.216989");
    if (rc != VIDA_OK) {
        vida_model_free(m);
        return rc;
    }
    *out = m;
    return VIDA_OK;
}

void vida_model_free(vida_model *m)
{
    int i;
    if (!m)
        return;
    for (i = 0; i < m->n_params; i++) {
        vidai_free(m->params[i].name);
        vidai_free(m->params[i].data);
        vidai_free(m->params[i].grad);
    }
    for (i = 0; i < m->n_ops; i++) {
        vidai_op *op = &m->ops[i];
        vidai_free(op->save_mean);
        vidai_free(op->save_invstd);
        vidai_free(op->wfold);
        vidai_free(op->bfold);
        vidai_free(op->argmax);
        vidai_free(op->mask);
    }
    for (i = 0; i < m->n_slots; i++) {
        vidai_free(m->slots[i].data);
        vidai_free(m->slots[i].grad);
    }
    for (i = 0; i < m->n_bufs; i++)
        vidai_free(m->bufs[i].data);
    vidai_free(m->bufs);
    vidai_free(m->slot_buf);
    for (i = 0; i < m->n_meta; i++) {
        vidai_free(m->meta[i].key);
        vidai_free(m->meta[i].value);
    }
    vidai_free(m->meta);
    vidai_free(m->params);
    vidai_free(m->ops);
    vidai_free(m->slots);
    vida_context_free(m->ctx);
    vidai_free(m);
}

int vida_model_get_params(const vida_model *m, vida_model_params *out)
{
    if (!m || !out)
        return vidai_error(VIDA_EINVAL, "vida_model_get_params: %s is NULL", !m ? "model" : "out");
    if (out->size != sizeof *out)
        return vidai_error(VIDA_EINVAL, "vida_model_get_params: out->size is %zu, wants %zu",
                           out->size, sizeof *out);
    *out = m->p;
    return VIDA_OK;
}

int vida_model_feature_dim(const vida_model *m)
{
    return m ? m->feature_dim : -1;
}

int vida_model_num_classes(const vida_model *m)
{
    return m ? m->p.num_classes : -1;
}

int64_t vida_model_num_params(const vida_model *m)
{
    int64_t n = 0;
    int i;
    if (!m)
        return -1;
    for (i = 0; i < m->n_params; i++)
        if (m->params[i].learnable)
            n += m->params[i].numel;
    return n;
}

int vida_model_set_mode(vida_model *m, int mode)
{
    if (!m)
        return vidai_error(VIDA_EINVAL, "vida_model_set_mode: model is NULL");
    if (mode != VIDA_MODE_EVAL && mode != VIDA_MODE_TRAIN)
        return vidai_error(VIDA_EINVAL, "vida_model_set_mode: unknown mode %d", mode);
    m->mode = mode;
    return VIDA_OK;
}

void vidai_model_weights_changed(vida_model *m)
{
    m->folded_valid = 0;
}

void vidai_model_param_changed(vida_model *m, int param)
{
    for (int i = 0; m->folded_valid && i < m->n_ops; i++) {
        const vidai_op *op = &m->ops[i], *bn;
        if (op->type != VIDAI_OP_CONV || op->fold_bn < 0)
            continue;
        bn = &m->ops[op->fold_bn];
        if (op->weight == param || bn->weight == param || bn->bias == param || bn->rmean == param ||
            bn->rvar == param)
            m->folded_valid = 0;
    }
}

/* --- layouts ------------------------------------------------------------- */

void vidai_conv_to_internal(const vidai_param *p, const float *src, float *dst)
{
    const int64_t taps = (int64_t)p->kt * p->kh * p->kw;
    int64_t co, ci, k;
    for (co = 0; co < p->cout; co++)
        for (ci = 0; ci < p->cin; ci++)
            for (k = 0; k < taps; k++)
                dst[(co * taps + k) * p->cin + ci] = src[(co * p->cin + ci) * taps + k];
}

void vidai_conv_to_file(const vidai_param *p, const float *src, float *dst)
{
    const int64_t taps = (int64_t)p->kt * p->kh * p->kw;
    int64_t co, ci, k;
    for (co = 0; co < p->cout; co++)
        for (ci = 0; ci < p->cin; ci++)
            for (k = 0; k < taps; k++)
                dst[(co * p->cin + ci) * taps + k] = src[(co * taps + k) * p->cin + ci];
}

/* --- forward ------------------------------------------------------------- */

static size_t slot_numel(const vidai_slot *s)
{
    return (size_t)s->n * s->t * s->h * s->w * s->c;
}

static int ensure(float **buf, size_t *cap, size_t need)
{
    if (*cap >= need)
        return VIDA_OK;
    vidai_free(*buf);
    *cap = 0;
    *buf = vidai_malloc(need * sizeof(float));
    if (!*buf)
        return VIDA_ENOMEM;
    *cap = need;
    return VIDA_OK;
}

static void op_desc(const vida_model *m, const vidai_op *op, vidai_conv_desc *d)
{
    const vidai_slot *x = &m->slots[op->in];
    memset(d, 0, sizeof *d);
    d->n = x->n, d->t = x->t, d->h = x->h, d->w = x->w, d->cin = x->c;
    d->cout = op->type == VIDAI_OP_CONV ? op->cout : x->c;
    d->kt = op->kt, d->kh = op->kh, d->kw = op->kw;
    d->st = op->st, d->sh = op->sh, d->sw = op->sw;
    d->pt = op->pt, d->ph = op->ph, d->pw = op->pw;
}

/* Output shapes of every slot for an input of n x t x h x w. */
static int infer_shapes(vida_model *m, int n, int t, int h, int w)
{
    int i;
    vidai_slot *s0 = &m->slots[0];
    s0->n = n, s0->t = t, s0->h = h, s0->w = w;
    for (i = 0; i < m->n_ops; i++) {
        const vidai_op *op = &m->ops[i];
        const vidai_slot *x = &m->slots[op->in];
        vidai_slot *y = &m->slots[op->out];
        vidai_conv_desc d;
        y->n = x->n;
        switch (op->type) {
        case VIDAI_OP_CONV:
        case VIDAI_OP_MAXPOOL:
            op_desc(m, op, &d);
            if (d.t + 2 * d.pt < d.kt || d.h + 2 * d.ph < d.kh || d.w + 2 * d.pw < d.kw ||
                vidai_conv_desc_init(&d) != VIDA_OK)
                return vidai_error(VIDA_EINVAL,
                                   "input %dx%dx%d (TxHxW) is too small for %s at op %d "
                                   "(input %dx%dx%d, kernel %dx%dx%d)",
                                   t, h, w, m->params[op->weight >= 0 ? op->weight : 0].name, i,
                                   d.t, d.h, d.w, d.kt, d.kh, d.kw);
            y->t = d.to, y->h = d.ho, y->w = d.wo;
            break;
        case VIDAI_OP_GAP:
        case VIDAI_OP_LINEAR:
            y->t = y->h = y->w = 1;
            break;
        default:
            y->t = x->t, y->h = x->h, y->w = x->w;
            break;
        }
    }
    return VIDA_OK;
}

static int fold_weights(vida_model *m)
{
    int i;
    int64_t co, k;
    for (i = 0; i < m->n_ops; i++) {
        vidai_op *op = &m->ops[i];
        const vidai_param *w;
        const vidai_op *bn;
        int64_t per;
        if (op->type != VIDAI_OP_CONV || op->fold_bn < 0)
            continue;
        w = &m->params[op->weight];
        bn = &m->ops[op->fold_bn];
        per = w->numel / w->cout;
        if (!op->wfold) {
            op->wfold = vidai_malloc((size_t)w->numel * sizeof(float));
            op->bfold = vidai_malloc((size_t)w->cout * sizeof(float));
            if (!op->wfold || !op->bfold)
                return VIDA_ENOMEM;
        }
        for (co = 0; co < w->cout; co++) {
            const double g = m->params[bn->weight].data[co];
            const double b = m->params[bn->bias].data[co];
            const double mean = m->params[bn->rmean].data[co];
            const double var = m->params[bn->rvar].data[co];
            const double scale = g / sqrt(var + (double)m->p.bn_eps);
            for (k = 0; k < per; k++)
                op->wfold[co * per + k] = (float)(w->data[co * per + k] * scale);
            op->bfold[co] = (float)(b - mean * scale);
        }
    }
    m->folded_valid = 1;
    return VIDA_OK;
}

static int check_f32(const vida_tensor *t, const char *what, int ndim, const int64_t *shape)
{
    int i;
    if (!t || !t->data)
        return vidai_error(VIDA_EINVAL, "%s: tensor or its data is NULL", what);
    if (t->dtype != VIDA_DTYPE_F32)
        return vidai_error(VIDA_EINVAL, "%s: dtype %d, wants float32 (VIDA_DTYPE_F32)", what,
                           t->dtype);
    if (t->ndim != ndim)
        return vidai_error(VIDA_EINVAL, "%s: %d dimensions, wants %d", what, t->ndim, ndim);
    for (i = 0; i < ndim; i++)
        if (shape && t->shape[i] != shape[i])
            return vidai_error(VIDA_EINVAL, "%s: dimension %d is %lld, wants %lld", what, i,
                               (long long)t->shape[i], (long long)shape[i]);
    return VIDA_OK;
}

/* NCTHW (or NTHWC) input into slot 0, channels last. */
static void load_input(vida_model *m, const vida_tensor *in, int nthwc)
{
    const vidai_slot *s = &m->slots[0];
    const int64_t plane = (int64_t)s->t * s->h * s->w;
    const float *src = in->data;
    float *dst = s->act;
    int64_t n, c, i;
    if (nthwc) {
        memcpy(dst, src, slot_numel(s) * sizeof(float));
        return;
    }
    for (n = 0; n < s->n; n++)
        for (c = 0; c < s->c; c++)
            for (i = 0; i < plane; i++)
                dst[(n * plane + i) * s->c + c] = src[(n * s->c + c) * plane + i];
}

static int run_op(vida_model *m, int idx, int train)
{
    vidai_op *op = &m->ops[idx];
    vidai_pool *pool = m->ctx->pool;
    vidai_slot *x = &m->slots[op->in], *y = &m->slots[op->out];
    const int64_t nx = (int64_t)slot_numel(x);
    const int64_t rows = nx / x->c;
    vidai_conv_desc d;
    int rc = VIDA_OK;
    switch (op->type) {
    case VIDAI_OP_CONV:
        op_desc(m, op, &d);
        vidai_conv_desc_init(&d);
        if (!train && op->fold_bn >= 0)
            rc = vidai_cpu_conv_forward(pool, &d, x->act, op->wfold, op->bfold, op->fuse_relu,
                                        m->slots[op->eval_out].act);
        else
            rc = vidai_cpu_conv_forward(pool, &d, x->act, m->params[op->weight].data, NULL, 0,
                                        y->act);
        break;
    case VIDAI_OP_BN:
        if (train) {
            vidai_cpu_bn_forward_train(pool, rows, x->c, x->act, m->params[op->weight].data,
                                       m->params[op->bias].data, m->p.bn_eps, m->p.bn_momentum,
                                       m->params[op->rmean].data, m->params[op->rvar].data,
                                       op->save_mean, op->save_invstd, y->act);
            m->params[op->nbt].count++;
        } else {
            vidai_cpu_bn_forward_eval(pool, rows, x->c, x->act, m->params[op->weight].data,
                                      m->params[op->bias].data, m->params[op->rmean].data,
                                      m->params[op->rvar].data, m->p.bn_eps, y->act);
        }
        break;
    case VIDAI_OP_RELU:
        vidai_cpu_relu_forward(pool, nx, x->act, y->act);
        break;
    case VIDAI_OP_ADD_RELU:
        vidai_cpu_add_forward(pool, nx, x->act, m->slots[op->in2].act, 1, y->act);
        break;
    case VIDAI_OP_MAXPOOL: {
        const size_t need = slot_numel(y);
        op_desc(m, op, &d);
        vidai_conv_desc_init(&d);
        if (op->argmax_cap < need) {
            vidai_free(op->argmax);
            op->argmax_cap = 0;
            op->argmax = vidai_malloc(need * sizeof(int32_t));
            if (!op->argmax)
                return VIDA_ENOMEM;
            op->argmax_cap = need;
        }
        vidai_cpu_maxpool_forward(pool, &d, x->act, y->act, op->argmax);
        break;
    }
    case VIDAI_OP_GAP:
        vidai_cpu_global_avgpool_forward(pool, x->n, (int64_t)x->t * x->h * x->w, x->c, x->act,
                                         y->act);
        break;
    case VIDAI_OP_DROPOUT:
        if (train) {
            rc = ensure(&op->mask, &op->mask_cap, (size_t)nx);
            if (rc == VIDA_OK)
                vidai_cpu_dropout_forward(nx, m->p.dropout, vidai_rng_u64(m->ctx->seed ^ 0x64726f70ull, m->step),
                                          x->act, op->mask, y->act);
        } else {
            memcpy(y->act, x->act, (size_t)nx * sizeof(float));
        }
        break;
    case VIDAI_OP_LINEAR:
        vidai_cpu_linear_forward(x->n, x->c, y->c, x->act, m->params[op->weight].data,
                                 m->params[op->bias].data, y->act);
        break;
    default:
        break;
    }
    return rc;
}

/*
 * Eval mode keeps only live activations: a slot takes a free buffer (the
 * smallest that fits, else the largest free one grown, else a new one) when
 * its op runs, and gives it back after its last reader.
 */
static int acquire(vida_model *m, int slot)
{
    const size_t need = slot_numel(&m->slots[slot]);
    int i, best = -1, largest = -1;
    for (i = 0; i < m->n_bufs; i++) {
        const vidai_buf *b = &m->bufs[i];
        if (b->busy)
            continue;
        if (b->cap >= need && (best < 0 || b->cap < m->bufs[best].cap))
            best = i;
        if (largest < 0 || b->cap > m->bufs[largest].cap)
            largest = i;
    }
    if (best < 0 && largest >= 0) {
        best = largest;
        if (ensure(&m->bufs[best].data, &m->bufs[best].cap, need) != VIDA_OK)
            return VIDA_ENOMEM;
    }
    if (best < 0) {
        vidai_buf *nb = vidai_calloc((size_t)m->n_bufs + 1, sizeof *nb);
        if (!nb)
            return VIDA_ENOMEM;
        if (m->n_bufs)
            memcpy(nb, m->bufs, (size_t)m->n_bufs * sizeof *nb);
        vidai_free(m->bufs);
        m->bufs = nb;
        best = m->n_bufs++;
        if (ensure(&m->bufs[best].data, &m->bufs[best].cap, need) != VIDA_OK)
            return VIDA_ENOMEM;
    }
    m->bufs[best].busy = 1;
    m->slot_buf[slot] = best;
    m->slots[slot].act = m->bufs[best].data;
    return VIDA_OK;
}

static void release_after(vida_model *m, int slot, int op_index)
{
    if (m->slots[slot].eval_last_read != op_index || slot == m->feature_slot ||
        slot == m->logits_slot || m->slot_buf[slot] < 0)
        return;
    m->bufs[m->slot_buf[slot]].busy = 0;
    m->slot_buf[slot] = -1;
}

/* Training activations and gradients are not needed for inference. */
static void release_training_memory(vida_model *m)
{
    int i;
    for (i = 0; i < m->n_slots; i++) {
        vidai_slot *sl = &m->slots[i];
        vidai_free(sl->data);
        vidai_free(sl->grad);
        sl->data = sl->grad = NULL;
        sl->cap = sl->grad_cap = 0;
    }
}

int vida_model_forward(vida_model *m, const vida_tensor *input, vida_tensor *logits,
                       vida_tensor *features)
{
    int64_t n, t, h, w, want[2];
    int nthwc, train, i, rc;
    if (!m)
        return vidai_error(VIDA_EINVAL, "vida_model_forward: model is NULL");
    rc = check_f32(input, "vida_model_forward: input", 5, NULL);
    if (rc != VIDA_OK)
        return rc;
    nthwc = input->layout == VIDA_LAYOUT_NTHWC;
    n = input->shape[0];
    t = nthwc ? input->shape[1] : input->shape[2];
    h = nthwc ? input->shape[2] : input->shape[3];
    w = nthwc ? input->shape[3] : input->shape[4];
    if ((nthwc ? input->shape[4] : input->shape[1]) != 3)
        return vidai_error(VIDA_EINVAL, "vida_model_forward: input has %lld channels, wants 3 "
                           "(shape [N,3,T,H,W] for layout NCTHW)",
                           (long long)(nthwc ? input->shape[4] : input->shape[1]));
    if (n < 1 || t < 1 || h < 16 || w < 16 || n > VIDAI_MAX_DIM || t > VIDAI_MAX_DIM ||
        h > VIDAI_MAX_DIM || w > VIDAI_MAX_DIM)
        return vidai_error(VIDA_EINVAL,
                           "vida_model_forward: input N=%lld T=%lld H=%lld W=%lld: wants N, T >= 1 "
                           "and H, W >= 16 (each at most %d)",
                           (long long)n, (long long)t, (long long)h, (long long)w, VIDAI_MAX_DIM);
    if ((double)n * t * h * w * 64.0 > 4e12)
        return vidai_error(VIDA_ENOMEM, "vida_model_forward: input of %lld x %lld x %lld x %lld "
                           "is too large", (long long)n, (long long)t, (long long)h, (long long)w);
    want[0] = n;
    want[1] = m->p.num_classes;
    rc = check_f32(logits, "vida_model_forward: logits", 2, want);
    if (rc != VIDA_OK)
        return rc;
    if (features) {
        want[1] = m->feature_dim;
        rc = check_f32(features, "vida_model_forward: features", 2, want);
        if (rc != VIDA_OK)
            return rc;
    }
    rc = infer_shapes(m, (int)n, (int)t, (int)h, (int)w);
    if (rc != VIDA_OK)
        return rc;
    train = m->mode == VIDA_MODE_TRAIN;
    m->have_train_forward = 0;
    if (train) {
        for (i = 0; i < m->n_slots; i++) {
            vidai_slot *sl = &m->slots[i];
            if (ensure(&sl->data, &sl->cap, slot_numel(sl)) != VIDA_OK)
                return vidai_error(VIDA_ENOMEM, "vida_model_forward: out of memory for activations");
            sl->act = sl->data;
        }
    } else {
        release_training_memory(m);
        for (i = 0; i < m->n_bufs; i++)
            m->bufs[i].busy = 0;
        for (i = 0; i < m->n_slots; i++) {
            m->slot_buf[i] = -1;
            m->slots[i].act = NULL;
        }
        if (acquire(m, 0) != VIDA_OK)
            return vidai_error(VIDA_ENOMEM, "vida_model_forward: out of memory for activations");
    }
    if (!train && !m->folded_valid && fold_weights(m) != VIDA_OK)
        return vidai_error(VIDA_ENOMEM, "vida_model_forward: out of memory folding batch norm");
    load_input(m, input, nthwc);
    for (i = 0; i < m->n_ops; i++) {
        const vidai_op *op = &m->ops[i];
        if (!train && op->eval_skip)
            continue;
        if (!train && acquire(m, op->type == VIDAI_OP_CONV && op->fold_bn >= 0 ? op->eval_out : op->out) != VIDA_OK)
            return vidai_error(VIDA_ENOMEM, "vida_model_forward: out of memory for activations");
        rc = run_op(m, i, train);
        if (rc != VIDA_OK)
            return vidai_error_prefix(rc, "vida_model_forward: ");
        if (!train) {
            release_after(m, op->in, i);
            if (op->in2 >= 0)
                release_after(m, op->in2, i);
        }
    }
    memcpy(logits->data, m->slots[m->logits_slot].act, (size_t)n * m->p.num_classes * sizeof(float));
    if (features)
        memcpy(features->data, m->slots[m->feature_slot].act,
               (size_t)n * m->feature_dim * sizeof(float));
    if (train) {
        m->have_train_forward = 1;
        m->step++;
        vidai_model_weights_changed(m); /* running statistics moved */
    }
    return VIDA_OK;
}

/* --- backward ------------------------------------------------------------ */

static int ensure_param_grads(vida_model *m)
{
    int i;
    for (i = 0; i < m->n_params; i++) {
        vidai_param *p = &m->params[i];
        if (p->learnable && !p->grad) {
            p->grad = vidai_calloc((size_t)p->numel, sizeof(float));
            if (!p->grad)
                return VIDA_ENOMEM;
        }
    }
    return VIDA_OK;
}

int vida_model_zero_grad(vida_model *m)
{
    int i;
    if (!m)
        return vidai_error(VIDA_EINVAL, "vida_model_zero_grad: model is NULL");
    if (ensure_param_grads(m) != VIDA_OK)
        return vidai_error(VIDA_ENOMEM, "vida_model_zero_grad: out of memory for gradients");
    for (i = 0; i < m->n_params; i++)
        if (m->params[i].grad)
            memset(m->params[i].grad, 0, (size_t)m->params[i].numel * sizeof(float));
    return VIDA_OK;
}

static int backward_op(vida_model *m, int idx, int want_dinput)
{
    vidai_op *op = &m->ops[idx];
    vidai_pool *pool = m->ctx->pool;
    vidai_slot *x = &m->slots[op->in], *y = &m->slots[op->out];
    const int64_t nx = (int64_t)slot_numel(x);
    const int64_t rows = nx / x->c;
    const int need_dx = op->in != 0 || want_dinput;
    vidai_conv_desc d;
    int rc = VIDA_OK;
    switch (op->type) {
    case VIDAI_OP_CONV:
        op_desc(m, op, &d);
        vidai_conv_desc_init(&d);
        rc = vidai_cpu_conv_backward_filter(pool, &d, x->act, y->grad, m->params[op->weight].grad);
        if (rc == VIDA_OK && need_dx)
            rc = vidai_cpu_conv_backward_data(pool, &d, y->grad, m->params[op->weight].data, x->grad);
        break;
    case VIDAI_OP_BN:
        vidai_cpu_bn_backward_train(pool, rows, x->c, x->act, y->grad, m->params[op->weight].data,
                                    op->save_mean, op->save_invstd, x->grad,
                                    m->params[op->weight].grad, m->params[op->bias].grad);
        break;
    case VIDAI_OP_RELU:
        vidai_cpu_relu_backward(pool, nx, y->act, y->grad, x->grad);
        break;
    case VIDAI_OP_ADD_RELU:
        vidai_cpu_relu_backward(pool, nx, y->act, y->grad, x->grad);
        vidai_cpu_relu_backward(pool, nx, y->act, y->grad, m->slots[op->in2].grad);
        break;
    case VIDAI_OP_MAXPOOL:
        op_desc(m, op, &d);
        vidai_conv_desc_init(&d);
        vidai_cpu_maxpool_backward(pool, &d, y->grad, op->argmax, x->grad);
        break;
    case VIDAI_OP_GAP:
        vidai_cpu_global_avgpool_backward(pool, x->n, (int64_t)x->t * x->h * x->w, x->c, y->grad,
                                          x->grad);
        break;
    case VIDAI_OP_DROPOUT:
        vidai_cpu_dropout_backward(nx, op->mask, y->grad, x->grad);
        break;
    case VIDAI_OP_LINEAR:
        vidai_cpu_linear_backward(x->n, x->c, y->c, x->act, m->params[op->weight].data, y->grad,
                                  x->grad, m->params[op->weight].grad, m->params[op->bias].grad);
        break;
    default:
        break;
    }
    return rc;
}

int vida_model_backward(vida_model *m, const vida_tensor *dlogits, vida_tensor *dinput)
{
    const vidai_slot *s0;
    int64_t want[5];
    int i, rc;
    if (!m)
        return vidai_error(VIDA_EINVAL, "vida_model_backward: model is NULL");
    if (!m->have_train_forward)
        return vidai_error(VIDA_ESTATE, "vida_model_backward: no training-mode forward to "
                           "back-propagate (call vida_model_set_mode(m, VIDA_MODE_TRAIN) and "
                           "vida_model_forward first)");
    s0 = &m->slots[0];
    want[0] = s0->n;
    want[1] = m->p.num_classes;
    rc = check_f32(dlogits, "vida_model_backward: dlogits", 2, want);
    if (rc != VIDA_OK)
        return rc;
    if (dinput) {
        want[1] = 3, want[2] = s0->t, want[3] = s0->h, want[4] = s0->w;
        rc = check_f32(dinput, "vida_model_backward: dinput", 5, want);
        if (rc != VIDA_OK)
            return rc;
    }
    if (ensure_param_grads(m) != VIDA_OK)
        return vidai_error(VIDA_ENOMEM, "vida_model_backward: out of memory for gradients");
    for (i = 0; i < m->n_slots; i++) {
        vidai_slot *s = &m->slots[i];
        const size_t n = slot_numel(s);
        if (ensure(&s->grad, &s->grad_cap, n) != VIDA_OK)
            return vidai_error(VIDA_ENOMEM, "vida_model_backward: out of memory for gradients");
        memset(s->grad, 0, n * sizeof(float));
    }
    memcpy(m->slots[m->logits_slot].grad, dlogits->data,
           slot_numel(&m->slots[m->logits_slot]) * sizeof(float));
    for (i = m->n_ops - 1; i >= 0; i--) {
        rc = backward_op(m, i, dinput != NULL);
        if (rc != VIDA_OK)
            return vidai_error_prefix(rc, "vida_model_backward: ");
    }
    if (dinput) {
        const int64_t plane = (int64_t)s0->t * s0->h * s0->w;
        float *dst = dinput->data;
        int64_t n, c, k;
        for (n = 0; n < s0->n; n++)
            for (c = 0; c < 3; c++)
                for (k = 0; k < plane; k++)
                    dst[(n * 3 + c) * plane + k] = s0->grad[(n * plane + k) * 3 + c];
    }
    return VIDA_OK;
}

/* --- tensors ------------------------------------------------------------- */

int vida_model_n_tensors(const vida_model *m)
{
    return m ? m->n_params : -1;
}

int vida_model_tensor_info(const vida_model *m, int index, const char **out_name, int *out_ndim,
                           int64_t *out_shape, int *out_dtype)
{
    const vidai_param *p;
    int i;
    if (!m || index < 0 || index >= m->n_params)
        return vidai_error(VIDA_EINVAL, "vida_model_tensor_info: %s", !m ? "model is NULL" : "index out of range");
    p = &m->params[index];
    if (out_name)
        *out_name = p->name;
    if (out_ndim)
        *out_ndim = p->ndim;
    if (out_shape)
        for (i = 0; i < p->ndim; i++)
            out_shape[i] = p->shape[i];
    if (out_dtype)
        *out_dtype = p->kind == VIDAI_PARAM_COUNT ? VIDA_DTYPE_I64 : VIDA_DTYPE_F32;
    return VIDA_OK;
}

static int lookup(const vida_model *m, const char *fn, const char *name, int64_t count)
{
    int i;
    if (!m || !name)
        return vidai_error(VIDA_EINVAL, "%s: %s is NULL", fn, !m ? "model" : "name");
    i = vidai_model_find_param(m, name);
    if (i < 0)
        return vidai_error(VIDA_EINVAL, "%s: the model has no tensor '%s'", fn, name);
    if (count != m->params[i].numel)
        return vidai_error(VIDA_EINVAL, "%s: tensor '%s' has %lld elements, count is %lld", fn,
                           name, (long long)m->params[i].numel, (long long)count);
    return i;
}

static void copy_out(const vidai_param *p, const float *src, float *dst)
{
    if (p->kind == VIDAI_PARAM_CONV)
        vidai_conv_to_file(p, src, dst);
    else
        memcpy(dst, src, (size_t)p->numel * sizeof(float));
}

int vida_model_get_tensor(const vida_model *m, const char *name, float *dst, int64_t count)
{
    int i = lookup(m, "vida_model_get_tensor", name, count);
    if (i < 0)
        return i;
    if (!dst && count > 0)
        return vidai_error(VIDA_EINVAL, "vida_model_get_tensor: dst is NULL");
    if (m->params[i].kind == VIDAI_PARAM_COUNT)
        dst[0] = (float)m->params[i].count;
    else
        copy_out(&m->params[i], m->params[i].data, dst);
    return VIDA_OK;
}

int vida_model_get_grad(const vida_model *m, const char *name, float *dst, int64_t count)
{
    int i = lookup(m, "vida_model_get_grad", name, count);
    if (i < 0)
        return i;
    if (!dst && count > 0)
        return vidai_error(VIDA_EINVAL, "vida_model_get_grad: dst is NULL");
    if (!m->params[i].learnable)
        return vidai_error(VIDA_EINVAL, "vida_model_get_grad: tensor '%s' is a buffer, not a "
                           "learnable parameter", name);
    if (!m->params[i].grad)
        memset(dst, 0, (size_t)count * sizeof(float));
    else
        copy_out(&m->params[i], m->params[i].grad, dst);
    return VIDA_OK;
}

int vida_model_set_tensor(vida_model *m, const char *name, const float *src, int64_t count)
{
    vidai_param *p;
    int i = lookup(m, "vida_model_set_tensor", name, count);
    if (i < 0)
        return i;
    if (!src && count > 0)
        return vidai_error(VIDA_EINVAL, "vida_model_set_tensor: src is NULL");
    p = &m->params[i];
    if (p->kind == VIDAI_PARAM_COUNT)
        p->count = (int64_t)src[0];
    else if (p->kind == VIDAI_PARAM_CONV)
        vidai_conv_to_internal(p, src, p->data);
    else
        memcpy(p->data, src, (size_t)p->numel * sizeof(float));
    vidai_model_weights_changed(m);
    return VIDA_OK;
}

/* --- metadata ------------------------------------------------------------ */

static int set_meta(vida_model *m, const char *key, const char *value)
{
    vidai_meta *nm;
    char *v;
    int i;
    v = vidai_strdup(value);
    if (!v)
        return VIDA_ENOMEM;
    for (i = 0; i < m->n_meta; i++) {
        if (strcmp(m->meta[i].key, key) == 0) {
            vidai_free(m->meta[i].value);
            m->meta[i].value = v;
            return VIDA_OK;
        }
    }
    nm = vidai_calloc((size_t)m->n_meta + 1, sizeof *nm);
    if (!nm) {
        vidai_free(v);
        return VIDA_ENOMEM;
    }
    if (m->n_meta)
        memcpy(nm, m->meta, (size_t)m->n_meta * sizeof *nm);
    nm[m->n_meta].key = vidai_strdup(key);
    if (!nm[m->n_meta].key) {
        vidai_free(nm);
        vidai_free(v);
        return VIDA_ENOMEM;
    }
    nm[m->n_meta].value = v;
    vidai_free(m->meta);
    m->meta = nm;
    m->n_meta++;
    return VIDA_OK;
}

int vidai_model_set_meta(vida_model *m, const char *key, const char *value)
{
    return set_meta(m, key, value);
}

static const char *const arch_keys[] = {"format", "format_version", "arch", "depth", "midplanes",
                                        "pool1", "bn_eps", "bn_momentum", "width", "num_classes",
                                        "dropout"};

int vida_model_set_meta(vida_model *m, const char *key, const char *value)
{
    size_t i;
    if (!m || !key || !value)
        return vidai_error(VIDA_EINVAL, "vida_model_set_meta: %s is NULL",
                           !m ? "model" : !key ? "key" : "value");
    for (i = 0; i < sizeof arch_keys / sizeof arch_keys[0]; i++)
        if (strcmp(key, arch_keys[i]) == 0)
            return vidai_error(VIDA_EINVAL, "vida_model_set_meta: '%s' describes the architecture "
                               "and cannot be set", key);
    if (set_meta(m, key, value) != VIDA_OK)
        return vidai_error(VIDA_ENOMEM, "vida_model_set_meta: out of memory");
    return VIDA_OK;
}

const char *vida_model_get_meta(const vida_model *m, const char *key)
{
    int i;
    if (!m || !key)
        return NULL;
    for (i = 0; i < m->n_meta; i++)
        if (strcmp(m->meta[i].key, key) == 0)
            return m->meta[i].value;
    return NULL;
}

/* --- losses -------------------------------------------------------------- */

int vida_loss(int kind, const vida_tensor *logits, const vida_tensor *target, float *out_loss,
              vida_tensor *dlogits)
{
    int64_t n, k, i, shape[2];
    float loss = 0.0f;
    int rc;
    if (!logits || !target || !out_loss)
        return vidai_error(VIDA_EINVAL, "vida_loss: %s is NULL",
                           !logits ? "logits" : !target ? "target" : "out_loss");
    rc = check_f32(logits, "vida_loss: logits", 2, NULL);
    if (rc != VIDA_OK)
        return rc;
    n = logits->shape[0];
    k = logits->shape[1];
    if (n < 1 || k < 1 || n > INT32_MAX || k > INT32_MAX)
        return vidai_error(VIDA_EINVAL, "vida_loss: logits shape [%lld,%lld]", (long long)n, (long long)k);
    shape[0] = n;
    shape[1] = k;
    if (dlogits) {
        rc = check_f32(dlogits, "vida_loss: dlogits", 2, shape);
        if (rc != VIDA_OK)
            return rc;
    }
    switch (kind) {
    case VIDA_LOSS_SOFTMAX_CE: {
        const int32_t *labels = target->data;
        if (!labels || target->dtype != VIDA_DTYPE_I32 || target->ndim != 1 || target->shape[0] != n)
            return vidai_error(VIDA_EINVAL, "vida_loss: hard targets must be int32 [%lld]",
                               (long long)n);
        for (i = 0; i < n; i++)
            if (labels[i] < 0 || labels[i] >= k)
                return vidai_error(VIDA_EINVAL, "vida_loss: label %d of sample %lld is outside "
                                   "[0, %lld)", labels[i], (long long)i, (long long)k);
        vidai_cpu_softmax_xent_hard((int)n, (int)k, logits->data, labels, &loss,
                                    dlogits ? dlogits->data : NULL);
        break;
    }
    case VIDA_LOSS_SOFTMAX_CE_SOFT:
    case VIDA_LOSS_SIGMOID_BCE:
        rc = check_f32(target, "vida_loss: target", 2, shape);
        if (rc != VIDA_OK)
            return rc;
        if (kind == VIDA_LOSS_SOFTMAX_CE_SOFT)
            vidai_cpu_softmax_xent_soft((int)n, (int)k, logits->data, target->data, &loss,
                                        dlogits ? dlogits->data : NULL);
        else
            vidai_cpu_sigmoid_bce((int)n, (int)k, logits->data, target->data, &loss,
                                  dlogits ? dlogits->data : NULL);
        break;
    default:
        return vidai_error(VIDA_EINVAL, "vida_loss: unknown loss kind %d", kind);
    }
    *out_loss = loss;
    if (!isfinite(loss))
        return vidai_error(VIDA_ENONFINITE, "vida_loss: the loss is %s", isnan(loss) ? "NaN" : "infinite");
    return VIDA_OK;
}
