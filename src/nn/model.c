/*
 * vida_model: creation, the forward and backward passes over the op program
 * (nn.h), tensor access in the file's layout, metadata, and losses.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
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
static void free_labels(vida_model *m);

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

void vidai_model_ref(vida_model *m)
{
    atomic_fetch_add((_Atomic int *)&m->refcount, 1);
}

void vida_model_free(vida_model *m)
{
    int i;
    if (!m)
        return;
    if (atomic_fetch_sub((_Atomic int *)&m->refcount, 1) != 1)
        return;
    for (i = 0; i < m->n_params; i++) {
        vidai_free(m->params[i].name);
        vidai_free(m->params[i].data);
        vidai_free(m->params[i].grad);
        vidai_be_free(m->ctx, m->params[i].dev);
        vidai_be_free(m->ctx, m->params[i].dgrad);
    }
    for (i = 0; i < m->n_ops; i++) {
        vidai_op *op = &m->ops[i];
        vidai_be_free(m->ctx, op->save_mean);
        vidai_be_free(m->ctx, op->save_invstd);
        vidai_be_free(m->ctx, op->wfold);
        vidai_be_free(m->ctx, op->bfold);
        vidai_be_free(m->ctx, op->argmax);
        vidai_be_free(m->ctx, op->mask);
    }
    for (i = 0; i < m->n_slots; i++) {
        vidai_be_free(m->ctx, m->slots[i].data);
        vidai_be_free(m->ctx, m->slots[i].grad);
    }
    for (i = 0; i < m->n_bufs; i++)
        vidai_be_free(m->ctx, m->bufs[i].data);
    vidai_be_free(m->ctx, m->stage);
    vidai_dist_model_free(m->dist);
    vidai_free(m->bufs);
    vidai_free(m->slot_buf);
    for (i = 0; i < m->n_meta; i++) {
        vidai_free(m->meta[i].key);
        vidai_free(m->meta[i].value);
    }
    vidai_free(m->meta);
    free_labels(m);
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

static int do_set_mode(vida_model *m, int mode)
{
    if (!m)
        return vidai_error(VIDA_EINVAL, "vida_model_set_mode: model is NULL");
    if (mode != VIDA_MODE_EVAL && mode != VIDA_MODE_TRAIN && mode != VIDA_MODE_TRAIN_FROZEN_BN)
        return vidai_error(VIDA_EINVAL, "vida_model_set_mode: unknown mode %d", mode);
    m->mode = mode;
    return VIDA_OK;
}

int vida_model_set_mode(vida_model *m, int mode)
{
    VIDAI_GUARDED(m, __func__, "model", do_set_mode(m, mode));
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

/* --- host/device coherence ---------------------------------------------- */

float *vidai_param_host(const vida_model *m, int i)
{
    vidai_param *p = &((vida_model *)m)->params[i];
    if (p->host_stale && p->dev) {
        if (vidai_be_download(m->ctx, p->data, p->dev, (size_t)p->numel * sizeof(float)) != VIDA_OK)
            return NULL;
        p->host_stale = 0;
    }
    return p->data;
}

void vidai_param_host_wrote(vida_model *m, int i)
{
    m->params[i].host_stale = 0;
    m->params[i].dev_stale = 1;
}

float *vidai_param_dev(vida_model *m, int i)
{
    vidai_param *p = &m->params[i];
    if (!vidai_be_is_cuda(m->ctx))
        return p->data;
    if (!p->dev) {
        if (!(p->dev = vidai_be_alloc(m->ctx, (size_t)p->numel * sizeof(float))))
            return NULL;
        p->dev_stale = 1;
    }
    if (p->dev_stale) {
        if (vidai_be_upload(m->ctx, p->dev, p->data, (size_t)p->numel * sizeof(float)) != VIDA_OK)
            return NULL;
        p->dev_stale = 0;
    }
    return p->dev;
}

void vidai_param_dev_wrote(vida_model *m, int i)
{
    if (!vidai_be_is_cuda(m->ctx))
        return;
    m->params[i].dev_stale = 0;
    m->params[i].host_stale = 1;
}

float *vidai_grad_host(const vida_model *m, int i)
{
    vidai_param *p = &((vida_model *)m)->params[i];
    if (p->ghost_stale && p->dgrad && p->grad) {
        if (vidai_be_download(m->ctx, p->grad, p->dgrad, (size_t)p->numel * sizeof(float)) != VIDA_OK)
            return NULL;
        p->ghost_stale = 0;
    }
    return p->grad;
}

void vidai_grad_host_wrote(vida_model *m, int i)
{
    m->params[i].ghost_stale = 0;
    m->params[i].gdev_stale = 1;
}

float *vidai_grad_dev(vida_model *m, int i)
{
    vidai_param *p = &m->params[i];
    if (!vidai_be_is_cuda(m->ctx))
        return p->grad;
    if (!p->grad)
        return NULL;
    if (!p->dgrad) {
        if (!(p->dgrad = vidai_be_alloc(m->ctx, (size_t)p->numel * sizeof(float))))
            return NULL;
        p->gdev_stale = 1;
    }
    if (p->gdev_stale) {
        if (vidai_be_upload(m->ctx, p->dgrad, p->grad, (size_t)p->numel * sizeof(float)) != VIDA_OK)
            return NULL;
        p->gdev_stale = 0;
    }
    return p->dgrad;
}

void vidai_grad_dev_wrote(vida_model *m, int i)
{
    if (!vidai_be_is_cuda(m->ctx))
        return;
    m->params[i].gdev_stale = 0;
    m->params[i].ghost_stale = 1;
}

/* The device side of every tensor (values; gradients too if grads), brought up to date. */
static int params_to_dev(vida_model *m, int grads)
{
    for (int i = 0; i < m->n_params; i++) {
        if (m->params[i].kind == VIDAI_PARAM_COUNT)
            continue;
        if (!vidai_param_dev(m, i))
            return VIDA_EDEVICE;
        if (grads && m->params[i].learnable && !vidai_grad_dev(m, i))
            return VIDA_EDEVICE;
    }
    return VIDA_OK;
}

/* The values the ops use: the device copy on CUDA (current after params_to_dev). */
static float *P(const vida_model *m, int i)
{
    return vidai_be_is_cuda(m->ctx) ? m->params[i].dev : m->params[i].data;
}

static float *G(const vida_model *m, int i)
{
    return vidai_be_is_cuda(m->ctx) ? m->params[i].dgrad : m->params[i].grad;
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

/* The slot's activation (or gradient) storage, in bytes and in floats (a bf16 slot takes half). */
static size_t slot_bytes(const vidai_slot *s)
{
    return slot_numel(s) * (s->type == VIDAI_BF16 ? 2 : sizeof(float));
}

static size_t slot_floats(const vidai_slot *s)
{
    return (slot_bytes(s) + sizeof(float) - 1) / sizeof(float);
}

static int ensure(const vida_model *m, float **buf, size_t *cap, size_t need)
{
    if (*cap >= need)
        return VIDA_OK;
    vidai_be_free(m->ctx, *buf);
    *cap = 0;
    *buf = vidai_be_alloc(m->ctx, need * sizeof(float));
    if (!*buf)
        return VIDA_ENOMEM;
    *cap = need;
    return VIDA_OK;
}

static int ensure_host(float **buf, size_t *cap, size_t need)
{
    if (*cap >= need)
        return VIDA_OK;
    vidai_free(*buf);
    *cap = 0;
    if (!(*buf = vidai_malloc(need * sizeof(float))))
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

/* Eval mode: conv weights with their BN folded in, computed on the host from the host copies. */
static int fold_weights(vida_model *m)
{
    const int cu = vidai_be_is_cuda(m->ctx);
    float *hw = NULL, *hb = NULL;
    size_t hw_cap = 0, hb_cap = 0;
    int i, rc = VIDA_OK;
    int64_t co, k;
    for (i = 0; i < m->n_ops && rc == VIDA_OK; i++) {
        vidai_op *op = &m->ops[i];
        const vidai_param *w;
        const vidai_op *bn;
        const float *wd, *gd, *bd, *md, *vd;
        float *ow, *ob;
        int64_t per;
        if (op->type != VIDAI_OP_CONV || op->fold_bn < 0)
            continue;
        w = &m->params[op->weight];
        bn = &m->ops[op->fold_bn];
        per = w->numel / w->cout;
        if (!op->wfold || !op->bfold) { /* both, or neither (a failed allocation is undone) */
            vidai_be_free(m->ctx, op->wfold);
            vidai_be_free(m->ctx, op->bfold);
            op->wfold = vidai_be_alloc(m->ctx, (size_t)w->numel * sizeof(float));
            op->bfold = vidai_be_alloc(m->ctx, (size_t)w->cout * sizeof(float));
            if (!op->wfold || !op->bfold) {
                vidai_be_free(m->ctx, op->wfold);
                vidai_be_free(m->ctx, op->bfold);
                op->wfold = op->bfold = NULL;
                rc = VIDA_ENOMEM;
                break;
            }
        }
        wd = vidai_param_host(m, op->weight);
        gd = vidai_param_host(m, bn->weight);
        bd = vidai_param_host(m, bn->bias);
        md = vidai_param_host(m, bn->rmean);
        vd = vidai_param_host(m, bn->rvar);
        if (!wd || !gd || !bd || !md || !vd) {
            rc = VIDA_EDEVICE;
            break;
        }
        ow = op->wfold, ob = op->bfold;
        if (cu) { /* fold into host scratch, then upload */
            if ((rc = ensure_host(&hw, &hw_cap, (size_t)w->numel)) != VIDA_OK ||
                (rc = ensure_host(&hb, &hb_cap, (size_t)w->cout)) != VIDA_OK)
                break;
            ow = hw, ob = hb;
        }
        for (co = 0; co < w->cout; co++) {
            const double g = gd[co];
            const double b = bd[co];
            const double mean = md[co];
            const double var = vd[co];
            const double scale = g / sqrt(var + (double)m->p.bn_eps);
            for (k = 0; k < per; k++)
                ow[co * per + k] = (float)(wd[co * per + k] * scale);
            ob[co] = (float)(b - mean * scale);
        }
        if (cu && ((rc = vidai_be_upload(m->ctx, op->wfold, hw, (size_t)w->numel * sizeof(float))) ||
                   (rc = vidai_be_upload(m->ctx, op->bfold, hb, (size_t)w->cout * sizeof(float)))))
            break;
    }
    vidai_free(hw);
    vidai_free(hb);
    if (rc == VIDA_OK)
        m->folded_valid = 1;
    return rc;
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

/* uint8 input: the normalisation of vidai_model_forward_u8 (NULL for float input). */
typedef struct u8_norm {
    const float *mean, *stdv;
} u8_norm;

/* NCTHW (or NTHWC, or uint8 NTHWC) input into slot 0, channels last (on CUDA through a device
   staging buffer). */
static int load_input(vida_model *m, const vida_tensor *in, int nthwc, const u8_norm *u8)
{
    const vidai_slot *s = &m->slots[0];
    const int64_t plane = (int64_t)s->t * s->h * s->w;
    const size_t numel = slot_numel(s);
    int rc;
    if (u8) {
        const uint8_t *src = in->data;
        if (vidai_be_is_cuda(m->ctx)) {
            if ((rc = ensure(m, &m->stage, &m->stage_cap, (numel + 3) / 4)) != VIDA_OK ||
                (rc = vidai_be_upload(m->ctx, m->stage, in->data, numel)) != VIDA_OK)
                return rc;
            src = (const uint8_t *)m->stage;
        }
        return vidai_be_normalize_u8(m->ctx, (int64_t)s->n * s->t, s->h, s->w, src, u8->mean,
                                     u8->stdv, s->act);
    }
    if (nthwc)
        return vidai_be_upload(m->ctx, s->act, in->data, numel * sizeof(float));
    if (!vidai_be_is_cuda(m->ctx))
        return vidai_be_to_channels_last(m->ctx, s->n, s->c, plane, in->data, s->act);
    if ((rc = ensure(m, &m->stage, &m->stage_cap, numel)) != VIDA_OK ||
        (rc = vidai_be_upload(m->ctx, m->stage, in->data, numel * sizeof(float))) != VIDA_OK)
        return rc;
    return vidai_be_to_channels_last(m->ctx, s->n, s->c, plane, m->stage, s->act);
}

static int run_op(vida_model *m, int idx, int train)
{
    vidai_op *op = &m->ops[idx];
    const vida_context *ctx = m->ctx;
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
            rc = vidai_be_conv_forward_t(ctx, &d, x->act, x->type, op->wfold, op->bfold,
                                         op->fuse_relu, m->slots[op->eval_out].act,
                                         m->slots[op->eval_out].type);
        else
            rc = vidai_be_conv_forward_t(ctx, &d, x->act, x->type, P(m, op->weight), NULL, 0,
                                         y->act, y->type);
        break;
    case VIDAI_OP_BN:
        if (train && m->mode == VIDA_MODE_TRAIN) {
            /* with its ReLU when fused: straight into the ReLU's output */
            const int fused = m->train_fused && op->bn_relu_train;
            vidai_slot *out = fused ? &m->slots[m->ops[idx + 1].out] : y;
            rc = vidai_be_bn_forward_train_t(ctx, rows, x->c, x->act, P(m, op->weight),
                                             P(m, op->bias), m->p.bn_eps, m->p.bn_momentum,
                                             P(m, op->rmean), P(m, op->rvar), op->save_mean,
                                             op->save_invstd, fused, out->act, x->type);
            vidai_param_dev_wrote(m, op->rmean);
            vidai_param_dev_wrote(m, op->rvar);
            m->params[op->nbt].count++;
        } else {
            rc = vidai_be_bn_forward_eval(ctx, rows, x->c, x->act, P(m, op->weight),
                                          P(m, op->bias), P(m, op->rmean), P(m, op->rvar),
                                          m->p.bn_eps, y->act);
        }
        break;
    case VIDAI_OP_RELU:
        rc = vidai_be_relu_forward(ctx, nx, x->act, y->act);
        break;
    case VIDAI_OP_ADD_RELU:
        rc = vidai_be_add_relu_forward_t(ctx, nx, x->act, m->slots[op->in2].act, y->act, x->type);
        break;
    case VIDAI_OP_MAXPOOL: {
        const size_t need = slot_numel(y);
        op_desc(m, op, &d);
        vidai_conv_desc_init(&d);
        if (op->argmax_cap < need) {
            vidai_be_free(ctx, op->argmax);
            op->argmax_cap = 0;
            op->argmax = vidai_be_alloc(ctx, need * sizeof(int32_t));
            if (!op->argmax)
                return VIDA_ENOMEM;
            op->argmax_cap = need;
        }
        rc = vidai_be_maxpool_forward(ctx, &d, x->act, y->act, op->argmax);
        break;
    }
    case VIDAI_OP_GAP:
        rc = vidai_be_global_avgpool_forward_t(ctx, x->n, (int64_t)x->t * x->h * x->w, x->c,
                                               x->act, x->type, y->act);
        break;
    case VIDAI_OP_DROPOUT:
        if (train) {
            rc = ensure(m, &op->mask, &op->mask_cap, (size_t)nx);
            if (rc == VIDA_OK)
                rc = vidai_be_dropout_forward(ctx, nx, m->p.dropout,
                                              vidai_rng_u64(m->ctx->seed ^ 0x64726f70ull ^
                                                                vidai_dist_model_key(m->dist),
                                                            m->step),
                                              x->act, op->mask, y->act);
        } else {
            rc = vidai_be_copy(ctx, y->act, x->act, (size_t)nx * sizeof(float));
        }
        break;
    case VIDAI_OP_LINEAR:
        rc = vidai_be_linear_forward(ctx, x->n, x->c, y->c, x->act, P(m, op->weight),
                                     P(m, op->bias), y->act);
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
    const size_t need = slot_floats(&m->slots[slot]);
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
        if (ensure(m, &m->bufs[best].data, &m->bufs[best].cap, need) != VIDA_OK)
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
        if (ensure(m, &m->bufs[best].data, &m->bufs[best].cap, need) != VIDA_OK)
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
        vidai_be_free(m->ctx, sl->data);
        vidai_be_free(m->ctx, sl->grad);
        sl->data = sl->grad = NULL;
        sl->cap = sl->grad_cap = 0;
    }
}

/* Whether nothing writes or reads slot's gradient: the output of a BN fused with its ReLU. */
static int grad_unused(const vida_model *m, int slot);

/* Whether op reads and writes 16-bit activations in this mode (a GAP reads them too): the
   convolutions, add + ReLU, the training BN and the ReLU fused into it, and in eval the BN and
   ReLU folded into a convolution (which then writes the slot). */
static int op_act16(const vida_model *m, const vidai_op *op, int train)
{
    switch (op->type) {
    case VIDAI_OP_CONV:
    case VIDAI_OP_ADD_RELU:
        return 1;
    case VIDAI_OP_BN:
        return train ? m->train_fused : op->eval_skip;
    case VIDAI_OP_RELU:
        return train ? m->train_fused && op->train_skip : op->eval_skip;
    default:
        return 0;
    }
}

/*
 * The storage type of every slot for this forward (and its backward): bf16
 * where the context stores activations in 16 bits (vidai_be_act16) and the
 * slot's writer and all its readers take them -- not the input, the
 * features or the logits -- and where a BN or an add, which take one type
 * for all their tensors, agree; fp32 elsewhere.
 */
static void assign_types(vida_model *m, int train)
{
    const int on = vidai_be_act16(m->ctx);
    int i, k, changed;
    for (i = 0; i < m->n_slots; i++)
        m->slots[i].type = on && i != 0 && i != m->feature_slot && i != m->logits_slot
                               ? VIDAI_BF16 : VIDAI_F32;
    if (!on)
        return;
    for (i = 0; i < m->n_ops; i++) {
        const vidai_op *op = &m->ops[i];
        if (op_act16(m, op, train))
            continue;
        m->slots[op->out].type = VIDAI_F32;
        if (op->type != VIDAI_OP_GAP) {
            m->slots[op->in].type = VIDAI_F32;
            if (op->in2 >= 0)
                m->slots[op->in2].type = VIDAI_F32;
        }
    }
    do {
        changed = 0;
        for (i = 0; i < m->n_ops; i++) {
            const vidai_op *op = &m->ops[i];
            int sl[3], n = 0, all = 1;
            if (op->type == VIDAI_OP_ADD_RELU) {
                sl[n++] = op->in, sl[n++] = op->in2, sl[n++] = op->out;
            } else if (op->type == VIDAI_OP_BN && train && m->train_fused) {
                sl[n++] = op->in;
                sl[n++] = op->bn_relu_train ? m->ops[i + 1].out : op->out;
            }
            for (k = 0; k < n; k++)
                all &= m->slots[sl[k]].type == VIDAI_BF16;
            for (k = 0; k < n && !all; k++) {
                changed |= m->slots[sl[k]].type != VIDAI_F32;
                m->slots[sl[k]].type = VIDAI_F32;
            }
        }
    } while (changed);
}

static int forward(vida_model *m, const vida_tensor *input, const u8_norm *u8, vida_tensor *logits,
                   vida_tensor *features)
{
    int64_t n, t, h, w, want[2];
    int nthwc, train, i, rc;
    if (!m)
        return vidai_error(VIDA_EINVAL, "vida_model_forward: model is NULL");
    if (u8) {
        if (!input || !input->data || input->dtype != VIDA_DTYPE_U8 || input->ndim != 5)
            return vidai_error(VIDA_EINVAL, "vida_model_forward: clips must be uint8 [V,L,H,W,3]");
    } else {
        rc = check_f32(input, "vida_model_forward: input", 5, NULL);
        if (rc != VIDA_OK)
            return rc;
    }
    nthwc = u8 || input->layout == VIDA_LAYOUT_NTHWC;
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
    m->have_train_forward = 0; /* before the slot shapes change: no backward of a failed forward */
    rc = infer_shapes(m, (int)n, (int)t, (int)h, (int)w);
    if (rc != VIDA_OK)
        return rc;
    train = m->mode != VIDA_MODE_EVAL; /* TRAIN or TRAIN_FROZEN_BN: keep activations */
    /* BN + ReLU in one pass on the GPU (the CPU keeps the reference path) */
    m->train_fused = train && m->mode == VIDA_MODE_TRAIN && vidai_be_is_cuda(m->ctx);
    assign_types(m, train);
    if (train)
        vidai_model_weights_changed(m); /* running statistics move, even if a later op fails */
    if (train) {
        for (i = 0; i < m->n_slots; i++) {
            vidai_slot *sl = &m->slots[i];
            if (grad_unused(m, i)) { /* a fused BN's own output: never written */
                sl->act = NULL;
                continue;
            }
            if (ensure(m, &sl->data, &sl->cap, slot_floats(sl)) != VIDA_OK)
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
    if (!train && !m->folded_valid && (rc = fold_weights(m)) != VIDA_OK)
        return vidai_error_prefix(rc, "vida_model_forward: folding batch norm: ");
    if ((rc = params_to_dev(m, 0)) != VIDA_OK || (rc = load_input(m, input, nthwc, u8)) != VIDA_OK)
        return vidai_error_prefix(rc, "vida_model_forward: ");
    for (i = 0; i < m->n_ops; i++) {
        const vidai_op *op = &m->ops[i];
        if (!train && op->eval_skip)
            continue;
        if (train && m->train_fused && op->train_skip)
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
    rc = vidai_be_download(m->ctx, logits->data, m->slots[m->logits_slot].act,
                           (size_t)n * m->p.num_classes * sizeof(float));
    if (rc == VIDA_OK && features)
        rc = vidai_be_download(m->ctx, features->data, m->slots[m->feature_slot].act,
                               (size_t)n * m->feature_dim * sizeof(float));
    if (rc != VIDA_OK)
        return vidai_error_prefix(rc, "vida_model_forward: ");
    if (train) {
        m->have_train_forward = 1;
        m->step++;
        vidai_model_weights_changed(m); /* running statistics moved */
    }
    return VIDA_OK;
}

int vida_model_forward(vida_model *m, const vida_tensor *input, vida_tensor *logits,
                       vida_tensor *features)
{
    VIDAI_GUARDED(m, __func__, "model", forward(m, input, NULL, logits, features));
}

int vidai_model_forward_u8(vida_model *m, const vida_tensor *clips, const float mean[3],
                           const float stdv[3], vida_tensor *logits, vida_tensor *features)
{
    u8_norm u = {mean, stdv};
    VIDAI_GUARDED(m, "vida_model_forward", "model", forward(m, clips, &u, logits, features));
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
            p->ghost_stale = 0;
            p->gdev_stale = 1;
        }
    }
    return VIDA_OK;
}

int vidai_model_ensure_grads(vida_model *m)
{
    return ensure_param_grads(m);
}

static int do_zero_grad(vida_model *m)
{
    int i;
    if (!m)
        return vidai_error(VIDA_EINVAL, "vida_model_zero_grad: model is NULL");
    if (ensure_param_grads(m) != VIDA_OK)
        return vidai_error(VIDA_ENOMEM, "vida_model_zero_grad: out of memory for gradients");
    for (i = 0; i < m->n_params; i++) {
        vidai_param *p = &m->params[i];
        if (!p->grad)
            continue;
        if (vidai_be_is_cuda(m->ctx)) { /* clear the device side; the host copy is refreshed when read */
            if (!p->dgrad && !(p->dgrad = vidai_be_alloc(m->ctx, (size_t)p->numel * sizeof(float))))
                return vidai_error_prefix(VIDA_ENOMEM, "vida_model_zero_grad: ");
            if (vidai_be_zero(m->ctx, p->dgrad, (size_t)p->numel * sizeof(float)) != VIDA_OK)
                return vidai_error_prefix(VIDA_EDEVICE, "vida_model_zero_grad: ");
            vidai_grad_dev_wrote(m, i);
        } else {
            memset(p->grad, 0, (size_t)p->numel * sizeof(float));
        }
    }
    return VIDA_OK;
}

int vida_model_zero_grad(vida_model *m)
{
    VIDAI_GUARDED(m, __func__, "model", do_zero_grad(m));
}

/*
 * Whether slot's gradient is written whole by its only reader's backward,
 * which then overwrites instead of adding, so it needs no clearing first: in
 * a fused training backward (CUDA), conv backward data and BN with or without
 * its ReLU; on the CPU in training mode, BN, ReLU and either input of the
 * residual add + ReLU.
 */
static int grad_set(const vida_model *m, int slot)
{
    const vidai_slot *s = &m->slots[slot];
    const vidai_op *op;
    if (s->readers != 1 || s->reader < 0)
        return 0;
    op = &m->ops[s->reader];
    if (m->train_fused)
        return op->in == slot && op->in2 != slot &&
               (op->type == VIDAI_OP_CONV || op->type == VIDAI_OP_BN);
    if (vidai_be_is_cuda(m->ctx) || m->mode != VIDA_MODE_TRAIN)
        return 0;
    if (op->type == VIDAI_OP_ADD_RELU)
        return (op->in == slot) != (op->in2 == slot);
    return op->in == slot && (op->type == VIDAI_OP_BN || op->type == VIDAI_OP_RELU);
}

/* Whether nothing writes or reads slot's gradient: the output of a BN fused with its ReLU. */
static int grad_unused(const vida_model *m, int slot)
{
    const vidai_slot *s = &m->slots[slot];
    return m->train_fused && s->readers == 1 && s->reader >= 0 && m->ops[s->reader].train_skip;
}

static int backward_op(vida_model *m, int idx, int want_dinput)
{
    vidai_op *op = &m->ops[idx];
    const vida_context *ctx = m->ctx;
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
        rc = vidai_be_conv_backward_filter_t(ctx, &d, x->act, x->type, y->grad, y->type,
                                             G(m, op->weight));
        if (rc == VIDA_OK && need_dx)
            rc = vidai_be_conv_backward_data_t(ctx, &d, y->grad, y->type, P(m, op->weight),
                                               x->grad, x->type, grad_set(m, op->in));
        break;
    case VIDAI_OP_BN:
        if (m->train_fused) {
            /* fused with its ReLU: from the gradient at the ReLU's output */
            const vidai_slot *r = op->bn_relu_train ? &m->slots[m->ops[idx + 1].out] : y;
            rc = vidai_be_bn_backward_train_t(ctx, rows, x->c, x->act,
                                              op->bn_relu_train ? r->act : NULL, r->grad,
                                              P(m, op->weight), op->save_mean, op->save_invstd,
                                              x->grad, G(m, op->weight), G(m, op->bias),
                                              grad_set(m, op->in), x->type);
        } else if (m->mode == VIDA_MODE_TRAIN_FROZEN_BN)
            rc = vidai_be_bn_backward_eval(ctx, rows, x->c, x->act, y->grad, P(m, op->weight),
                                           P(m, op->rmean), P(m, op->rvar), m->p.bn_eps, x->grad,
                                           G(m, op->weight), G(m, op->bias));
        else
            rc = vidai_be_bn_backward_train(ctx, rows, x->c, x->act, y->grad, P(m, op->weight),
                                            op->save_mean, op->save_invstd, x->grad,
                                            G(m, op->weight), G(m, op->bias),
                                            grad_set(m, op->in));
        break;
    case VIDAI_OP_RELU:
        if (!(m->train_fused && op->train_skip)) /* else done by the BN before it */
            rc = vidai_be_relu_backward(ctx, nx, y->act, y->grad, x->grad, grad_set(m, op->in));
        break;
    case VIDAI_OP_ADD_RELU:
        rc = vidai_be_add_relu_backward_t(ctx, nx, y->act, y->grad, x->grad,
                                          m->slots[op->in2].grad, grad_set(m, op->in),
                                          grad_set(m, op->in2), x->type);
        break;
    case VIDAI_OP_MAXPOOL:
        op_desc(m, op, &d);
        vidai_conv_desc_init(&d);
        rc = vidai_be_maxpool_backward(ctx, &d, y->grad, op->argmax, x->grad);
        break;
    case VIDAI_OP_GAP:
        rc = vidai_be_global_avgpool_backward_t(ctx, x->n, (int64_t)x->t * x->h * x->w, x->c,
                                                y->grad, x->grad, x->type);
        break;
    case VIDAI_OP_DROPOUT:
        rc = vidai_be_dropout_backward(ctx, nx, op->mask, y->grad, x->grad);
        break;
    case VIDAI_OP_LINEAR:
        rc = vidai_be_linear_backward(ctx, x->n, x->c, y->c, x->act, P(m, op->weight), y->grad,
                                      x->grad, G(m, op->weight), G(m, op->bias));
        break;
    default:
        break;
    }
    return rc;
}

static int do_backward(vida_model *m, const vida_tensor *dlogits, vida_tensor *dinput)
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
    if ((rc = params_to_dev(m, 1)) != VIDA_OK)
        return vidai_error_prefix(rc, "vida_model_backward: ");
    for (i = 0; i < m->n_slots; i++) {
        vidai_slot *s = &m->slots[i];
        if (i != m->logits_slot && grad_unused(m, i))
            continue; /* never used */
        if (ensure(m, &s->grad, &s->grad_cap, slot_floats(s)) != VIDA_OK)
            return vidai_error(VIDA_ENOMEM, "vida_model_backward: out of memory for gradients");
        if (i != m->logits_slot && grad_set(m, i))
            continue; /* overwritten whole by the backward below */
        if ((rc = vidai_be_zero(m->ctx, s->grad, slot_bytes(s))) != VIDA_OK)
            return vidai_error_prefix(rc, "vida_model_backward: ");
    }
    rc = vidai_be_upload(m->ctx, m->slots[m->logits_slot].grad, dlogits->data,
                         slot_numel(&m->slots[m->logits_slot]) * sizeof(float));
    if (m->dist)
        vidai_dist_backward_begin(m);
    for (i = m->n_ops - 1; i >= 0 && rc == VIDA_OK; i--) {
        rc = backward_op(m, i, dinput != NULL);
        if (rc == VIDA_OK && m->dist) { /* this op's gradients are final: their bucket may go */
            const vidai_op *op = &m->ops[i];
            if (op->type == VIDAI_OP_CONV || op->type == VIDAI_OP_BN || op->type == VIDAI_OP_LINEAR)
                rc = vidai_dist_param_done(m, op->weight);
            if (rc == VIDA_OK && (op->type == VIDAI_OP_BN || op->type == VIDAI_OP_LINEAR))
                rc = vidai_dist_param_done(m, op->bias);
        }
    }
    for (i = 0; i < m->n_params; i++)
        if (m->params[i].learnable)
            vidai_grad_dev_wrote(m, i);
    if (m->dist) { /* the averaged gradients; after a failure too, so every rank makes the same
                      collective calls (the caller then skips the step on every rank) */
        int r3 = vidai_dist_backward_end(m);
        if (rc == VIDA_OK)
            rc = r3;
    }
    if (rc != VIDA_OK)
        return vidai_error_prefix(rc, "vida_model_backward: ");
    if (dinput) { /* channels first, as load_input's inverse (on CUDA through the staging buffer) */
        const int64_t plane = (int64_t)s0->t * s0->h * s0->w;
        const size_t numel = slot_numel(s0);
        if (!vidai_be_is_cuda(m->ctx))
            rc = vidai_be_to_channels_first(m->ctx, s0->n, 3, plane, s0->grad, dinput->data);
        else if ((rc = ensure(m, &m->stage, &m->stage_cap, numel)) == VIDA_OK &&
                 (rc = vidai_be_to_channels_first(m->ctx, s0->n, 3, plane, s0->grad, m->stage)) ==
                     VIDA_OK)
            rc = vidai_be_download(m->ctx, dinput->data, m->stage, numel * sizeof(float));
        if (rc != VIDA_OK)
            return vidai_error_prefix(rc, "vida_model_backward: ");
    }
    return VIDA_OK;
}

int vida_model_backward(vida_model *m, const vida_tensor *dlogits, vida_tensor *dinput)
{
    VIDAI_GUARDED(m, __func__, "model", do_backward(m, dlogits, dinput));
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

static int do_get_tensor(const vida_model *m, const char *name, float *dst, int64_t count)
{
    int i = lookup(m, "vida_model_get_tensor", name, count);
    if (i < 0)
        return i;
    if (!dst && count > 0)
        return vidai_error(VIDA_EINVAL, "vida_model_get_tensor: dst is NULL");
    if (m->params[i].kind == VIDAI_PARAM_COUNT) {
        dst[0] = (float)m->params[i].count;
    } else {
        const float *src = vidai_param_host(m, i);
        if (!src)
            return vidai_error_prefix(VIDA_EDEVICE, "vida_model_get_tensor: ");
        copy_out(&m->params[i], src, dst);
    }
    return VIDA_OK;
}

int vida_model_get_tensor(const vida_model *m, const char *name, float *dst, int64_t count)
{
    VIDAI_GUARDED(m, __func__, "model", do_get_tensor(m, name, dst, count));
}

static int do_get_grad(const vida_model *m, const char *name, float *dst, int64_t count)
{
    int i = lookup(m, "vida_model_get_grad", name, count);
    if (i < 0)
        return i;
    if (!dst && count > 0)
        return vidai_error(VIDA_EINVAL, "vida_model_get_grad: dst is NULL");
    if (!m->params[i].learnable)
        return vidai_error(VIDA_EINVAL, "vida_model_get_grad: tensor '%s' is a buffer, not a "
                           "learnable parameter", name);
    if (!m->params[i].grad) {
        memset(dst, 0, (size_t)count * sizeof(float));
    } else {
        const float *src = vidai_grad_host(m, i);
        if (!src)
            return vidai_error_prefix(VIDA_EDEVICE, "vida_model_get_grad: ");
        copy_out(&m->params[i], src, dst);
    }
    return VIDA_OK;
}

int vida_model_get_grad(const vida_model *m, const char *name, float *dst, int64_t count)
{
    VIDAI_GUARDED(m, __func__, "model", do_get_grad(m, name, dst, count));
}

static int do_set_tensor(vida_model *m, const char *name, const float *src, int64_t count)
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
    if (p->kind != VIDAI_PARAM_COUNT)
        vidai_param_host_wrote(m, i);
    vidai_model_weights_changed(m);
    return VIDA_OK;
}

int vida_model_set_tensor(vida_model *m, const char *name, const float *src, int64_t count)
{
    VIDAI_GUARDED(m, __func__, "model", do_set_tensor(m, name, src, count));
}

/* --- a new classifier ------------------------------------------------------- */

/* The labels as a JSON array of strings, in a malloc'ed string. */
static char *labels_json(int n, const char *const *labels)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        return NULL;
    fputc('[', f);
    for (int i = 0; i < n; i++) {
        if (i)
            fputc(',', f);
        vidai_json_write_string(f, labels[i]);
    }
    fputc(']', f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int do_set_head(vida_model *m, int num_classes, const char *const *labels)
{
    vida_model_params p;
    vida_model *n = NULL, tmp;
    char *json = NULL;
    int i, rc;
    if (!m)
        return vidai_error(VIDA_EINVAL, "vida_model_set_head: model is NULL");
    if (num_classes < 1 || num_classes > 1000000)
        return vidai_error(VIDA_EINVAL, "vida_model_set_head: num_classes %d is outside [1, 1000000]",
                           num_classes);
    if (m->dist)
        return vidai_error(VIDA_ESTATE, "vida_model_set_head: the model is attached to a "
                           "data-parallel group (vida_dist_attach): set the head before attaching");
    for (i = 0; labels && i < num_classes; i++)
        if (!labels[i])
            return vidai_error(VIDA_EINVAL, "vida_model_set_head: label %d is NULL", i);
    if (labels && !(json = labels_json(num_classes, labels)))
        return vidai_error(VIDA_ENOMEM, "vida_model_set_head: out of memory");
    /* a model of the new shape, the old tensors but the classifier copied in, then swapped */
    p = m->p;
    p.num_classes = num_classes;
    rc = vidai_model_build(&n, m->ctx, &p);
    if (rc != VIDA_OK)
        goto out;
    vidai_model_init_weights(n);
    for (i = 0; rc == VIDA_OK && i < m->n_params; i++) {
        const vidai_param *src = &m->params[i];
        vidai_param *dst = &n->params[i];
        const float *h;
        if (!strncmp(src->name, "fc.", 3))
            continue;
        if (src->kind == VIDAI_PARAM_COUNT) {
            dst->count = src->count;
            continue;
        }
        if (!(h = vidai_param_host(m, i)))
            rc = VIDA_EDEVICE;
        else
            memcpy(dst->data, h, (size_t)src->numel * sizeof(float));
    }
    for (i = 0; rc == VIDA_OK && i < m->n_meta; i++)
        if (strcmp(m->meta[i].key, "labels") != 0)
            rc = set_meta(n, m->meta[i].key, m->meta[i].value);
    rc = rc ? rc : vidai_model_sync_meta(n);
    rc = rc ? rc : json ? set_meta(n, "labels", json) : VIDA_OK;
    if (rc != VIDA_OK)
        goto out;
    n->mode = m->mode;
    n->step = m->step;
    n->generation = m->generation + 1;
    n->refcount = m->refcount; /* the handle's references stay with the handle */
    n->guard = m->guard;       /* and so does the call guard (this thread's, never free meanwhile) */
    tmp = *m;
    *m = *n;
    *n = tmp;
    n->refcount = 1;
out:
    vida_model_free(n); /* after the swap: the old tensors */
    free(json);
    if (rc != VIDA_OK)
        return vidai_error_prefix(rc, "vida_model_set_head: ");
    return VIDA_OK;
}

int vida_model_set_head(vida_model *m, int num_classes, const char *const *labels)
{
    VIDAI_GUARDED(m, __func__, "model", do_set_head(m, num_classes, labels));
}

/* --- metadata ------------------------------------------------------------ */

static void free_labels(vida_model *m)
{
    for (int i = 0; i < m->n_labels; i++)
        vidai_free(m->labels[i]);
    vidai_free(m->labels);
    m->labels = NULL;
    m->n_labels = 0;
}

/*
 * The "labels" metadata (a JSON list of strings) parsed into *out / *n_out,
 * for vida_model_label. Anything else -- not JSON, not a list, a non-string --
 * gives no names (VIDA_OK, *n_out = 0); the metadata itself stays as written.
 * VIDA_ENOMEM only when the names cannot be copied.
 */
static int parse_labels(const char *value, char ***out, int *n_out)
{
    vidai_json *j = NULL;
    char **names;
    *out = NULL;
    *n_out = 0;
    if (vidai_json_parse(&j, value, strlen(value), "labels") != VIDA_OK || j->type != VIDAI_JSON_ARRAY ||
        j->length == 0 || j->length > 1000000) {
        vidai_json_free(j);
        return VIDA_OK;
    }
    for (size_t k = 0; k < j->length; k++)
        if (j->items[k]->type != VIDAI_JSON_STRING) {
            vidai_json_free(j);
            return VIDA_OK;
        }
    names = vidai_calloc(j->length, sizeof *names);
    for (size_t k = 0; names && k < j->length; k++)
        if (!(names[k] = vidai_strdup(j->items[k]->string))) {
            for (size_t q = 0; q < k; q++)
                vidai_free(names[q]);
            vidai_free(names);
            names = NULL;
        }
    if (names) {
        *out = names;
        *n_out = (int)j->length;
    }
    vidai_json_free(j);
    return names ? VIDA_OK : VIDA_ENOMEM;
}

static int set_meta(vida_model *m, const char *key, const char *value)
{
    vidai_meta *nm;
    char *v, **names = NULL;
    int i, n_names = 0, is_labels = !strcmp(key, "labels");
    v = vidai_strdup(value);
    if (!v || (is_labels && parse_labels(value, &names, &n_names) != VIDA_OK)) {
        vidai_free(v);
        return VIDA_ENOMEM;
    }
    if (is_labels) {
        /* the parsed names change with the value, and only when setting it cannot fail */
        for (i = 0; i < m->n_meta && strcmp(m->meta[i].key, key) != 0; i++)
            ;
        if (i == m->n_meta) {
            nm = vidai_calloc((size_t)m->n_meta + 1, sizeof *nm);
            if (!nm || !(nm[m->n_meta].key = vidai_strdup(key))) {
                vidai_free(nm);
                vidai_free(v);
                for (int k = 0; k < n_names; k++)
                    vidai_free(names[k]);
                vidai_free(names);
                return VIDA_ENOMEM;
            }
            if (m->n_meta)
                memcpy(nm, m->meta, (size_t)m->n_meta * sizeof *nm);
            vidai_free(m->meta);
            m->meta = nm;
            m->n_meta++;
        } else {
            vidai_free(m->meta[i].value);
        }
        m->meta[i].value = v;
        free_labels(m);
        m->labels = names;
        m->n_labels = n_names;
        return VIDA_OK;
    }
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

static int do_set_meta(vida_model *m, const char *key, const char *value)
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

int vida_model_set_meta(vida_model *m, const char *key, const char *value)
{
    VIDAI_GUARDED(m, __func__, "model", do_set_meta(m, key, value));
}

const char *vida_model_label(const vida_model *m, int k)
{
    if (!m || k < 0 || k >= m->n_labels || m->n_labels != m->p.num_classes)
        return NULL;
    return m->labels[k];
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
