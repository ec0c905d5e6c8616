/*
 * vida_train_step (include/vidaction/train.h): batch -> float32 NCTHW input
 * (uint8 batches normalised with the model's mean/std), forward, loss,
 * backward, vida_optimizer_step.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "dist/dist.h"
#include "nn/nn.h"
#include "vidaction/dataset.h"
#include "vidaction/train.h"
#include "train/internal.h"

static int parse3(const char *s, float v[3])
{
    return s && sscanf(s, "%f,%f,%f", &v[0], &v[1], &v[2]) == 3 && v[0] == v[0] ? 0 : -1;
}

/* The model's mean/std metadata, which normalises uint8 clips: (x/255 - mean) / std. */
static int norm_params(const vida_model *m, float mean[3], float stdv[3])
{
    if (parse3(vida_model_get_meta(m, "mean"), mean) || parse3(vida_model_get_meta(m, "std"), stdv) ||
        !(stdv[0] > 0 && stdv[1] > 0 && stdv[2] > 0))
        return vidai_error(VIDA_EINVAL, "the model's mean/std metadata cannot normalise uint8 clips");
    return VIDA_OK;
}

/* VIDA_OK when the BN running statistics (the non-learnable vectors) are all finite, else
   VIDA_ENONFINITE naming the first that is not (on the model's backend: one reduction). */
static int stats_finite(vida_model *m)
{
    int n = 0, rc = VIDA_OK;
    const float **x = malloc(((size_t)m->n_params + 1) * sizeof *x);
    int64_t *cnt = malloc(((size_t)m->n_params + 1) * sizeof *cnt);
    int *which = malloc(((size_t)m->n_params + 1) * sizeof *which);
    double *sums = malloc(((size_t)m->n_params + 1) * sizeof *sums);
    if (!x || !cnt || !which || !sums) {
        rc = vidai_error(VIDA_ENOMEM, "vida_train_step: out of memory");
        goto out;
    }
    for (int i = 0; i < m->n_params; i++) {
        const vidai_param *q = &m->params[i];
        if (q->learnable || q->kind != VIDAI_PARAM_VEC)
            continue;
        if (!(x[n] = vidai_param_dev(m, i))) {
            rc = vidai_error_prefix(VIDA_EDEVICE, "vida_train_step: ");
            goto out;
        }
        cnt[n] = q->numel;
        which[n++] = i;
    }
    if (n && (rc = vidai_be_sumsq(m->ctx, n, (const float *const *)x, cnt, sums)) != VIDA_OK)
        goto out;
    for (int k = 0; k < n; k++)
        if (!isfinite(sums[k])) {
            rc = vidai_error(VIDA_ENONFINITE, "batch norm statistics '%s' are not finite "
                             "(activations overflowed)", m->params[which[k]].name);
            break;
        }
out:
    free(x);
    free(cnt);
    free(which);
    free(sums);
    return rc;
}

static int step(vida_model *m, vida_optimizer *o, const vida_batch *b, int target_kind,
                float *loss, int fc_only)
{
    vida_tensor in, tl, td, tt, tf;
    float mean[3], stdv[3], *logits = NULL, *dlogits = NULL, *tgt = NULL, *feat = NULL, l = NAN;
    int32_t *labels = NULL;
    int64_t V, C, views, shape2[2];
    float *saved = NULL;
    int64_t *saved_counts = NULL;
    uint64_t saved_step = 0;
    int rc = VIDA_OK, restore = 0, u8, agreed = 0; /* agreed: this rank joined the group's vote */
    if (loss)
        *loss = NAN;
    if (!m || !o || !b)
        return vidai_error(VIDA_EINVAL, "vida_train_step: %s is NULL",
                           !m ? "model" : !o ? "optimizer" : "batch");
    if (b->size != sizeof *b)
        { rc = vidai_error(VIDA_EINVAL, "vida_train_step: batch.size is %zu, expected %zu", b->size,
                           sizeof *b); goto out; }
    if (target_kind < VIDA_TARGET_SINGLE || target_kind > VIDA_TARGET_MULTIHOT)
        { rc = vidai_error(VIDA_EINVAL, "vida_train_step: target kind %d is not a VIDA_TARGET_* value",
                           target_kind); goto out; }
    if (fc_only && m->dist)
        { rc = vidai_error(VIDA_EUNSUPPORTED, "vida_train_step_fc: fc-only steps are not "
                           "data-parallel (the model is attached to a vida_dist group)"); goto out; }
    if (fc_only && !vidai_optimizer_only_fc(o))
        { rc = vidai_error(VIDA_EINVAL, "vida_train_step_fc: the optimizer must freeze every tensor "
                           "but fc.weight and fc.bias (vida_optimizer_set_group)"); goto out; }
    if (b->n == 0)
        { rc = VIDA_OK; goto out; }
    C = vida_model_num_classes(m);
    views = b->views;
    V = b->n * views;
    if (b->clips.ndim != 5 || b->clips.shape[0] != V || b->targets.ndim != 2 ||
        b->targets.shape[0] != b->n || b->targets.shape[1] != C)
        { rc = vidai_error(VIDA_EINVAL, "vida_train_step: the batch has %lld views and %lld target "
                           "columns; the model has %lld classes",
                           (long long)b->clips.shape[0], (long long)b->targets.shape[1],
                           (long long)C); goto out; }
    u8 = b->clips.dtype == VIDA_DTYPE_U8;
    if (u8) {
        rc = norm_params(m, mean, stdv);
        if (rc != VIDA_OK)
            { rc = vidai_error_prefix(rc, "vida_train_step: "); goto out; }
        if (b->clips.shape[4] != 3)
            { rc = vidai_error(VIDA_EINVAL, "vida_train_step: uint8 clips have %lld channels, not 3",
                               (long long)b->clips.shape[4]); goto out; }
    }
    in = b->clips;
    logits = malloc((size_t)(V * C) * sizeof *logits);
    dlogits = malloc((size_t)(V * C) * sizeof *dlogits);
    labels = malloc((size_t)V * sizeof *labels);
    tgt = malloc((size_t)(V * C) * sizeof *tgt);
    if (fc_only)
        feat = malloc((size_t)V * (size_t)vida_model_feature_dim(m) * sizeof *feat);
    if (!logits || !dlogits || !labels || !tgt || (fc_only && !feat)) {
        rc = vidai_error(VIDA_ENOMEM, "vida_train_step: out of memory");
        goto out;
    }
    /* every view of a sample gets the sample's target */
    for (int64_t v = 0; v < V; v++) {
        labels[v] = b->labels[v / views];
        memcpy(tgt + v * C, (const float *)b->targets.data + (v / views) * C, (size_t)C * sizeof *tgt);
    }
    shape2[0] = V;
    shape2[1] = C;
    vida_tensor_f32(&tl, logits, 2, shape2);
    vida_tensor_f32(&td, dlogits, 2, shape2);
    memset(&tt, 0, sizeof tt);
    if (target_kind == VIDA_TARGET_SINGLE) {
        tt.data = labels;
        tt.dtype = VIDA_DTYPE_I32;
        tt.ndim = 1;
        tt.shape[0] = V;
    } else {
        vida_tensor_f32(&tt, tgt, 2, shape2);
    }
    if (fc_only) {
        int64_t fshape[2] = {V, vida_model_feature_dim(m)};
        vida_tensor_f32(&tf, feat, 2, fshape);
    }
    /* a training forward updates the BN running statistics and the forward count before the
       loss is known: keep them, to put them back if the step is skipped */
    if (!fc_only) {
        size_t total = 0;
        for (int i = 0; i < m->n_params; i++)
            if (!m->params[i].learnable && m->params[i].kind == VIDAI_PARAM_VEC)
                total += (size_t)m->params[i].numel;
        /* on the model's backend: on a GPU the snapshot is a device copy, not a download */
        saved = vidai_be_alloc(m->ctx, (total + 1) * sizeof *saved);
        saved_counts = malloc(((size_t)m->n_params + 1) * sizeof *saved_counts);
        if (!saved || !saved_counts) {
            rc = vidai_error(VIDA_ENOMEM, "vida_train_step: out of memory");
            goto out;
        }
        total = 0;
        for (int i = 0; i < m->n_params; i++) {
            const vidai_param *q = &m->params[i];
            if (!q->learnable && q->kind == VIDAI_PARAM_VEC) {
                const float *cur = vidai_param_dev(m, i);
                if (!cur || vidai_be_copy(m->ctx, saved + total, cur,
                                          (size_t)q->numel * sizeof *saved) != VIDA_OK) {
                    rc = vidai_error_prefix(VIDA_EDEVICE, "vida_train_step: ");
                    goto out;
                }
                total += (size_t)q->numel;
            }
            saved_counts[i] = q->count;
        }
        saved_step = m->step;
    }
    /* training mode, or the frozen-BN training mode when the caller chose it */
    rc = vida_model_set_mode(m, fc_only                                  ? VIDA_MODE_EVAL
                                : m->mode == VIDA_MODE_TRAIN_FROZEN_BN ? VIDA_MODE_TRAIN_FROZEN_BN
                                                                       : VIDA_MODE_TRAIN);
    if (rc == VIDA_OK)
        rc = u8 ? vidai_model_forward_u8(m, &in, mean, stdv, &tl, fc_only ? &tf : NULL)
                : vida_model_forward(m, &in, &tl, fc_only ? &tf : NULL);
    if (rc != VIDA_OK) {
        restore = 1; /* layers before the failure moved their statistics */
        goto out;
    }
    rc = vida_loss(target_kind == VIDA_TARGET_SINGLE  ? VIDA_LOSS_SOFTMAX_CE
                   : target_kind == VIDA_TARGET_SOFT ? VIDA_LOSS_SOFTMAX_CE_SOFT
                                                     : VIDA_LOSS_SIGMOID_BCE,
                   &tl, &tt, &l, &td);
    /* a finite loss with running statistics that overflowed (huge activations) is skipped too:
       kept, they would poison evaluation and every checkpoint after */
    if (rc == VIDA_OK && saved)
        rc = stats_finite(m);
    if (m->dist) {
        /* data-parallel: every rank votes once per step, here or at `out` after an earlier
           failure; every rank skips when any rank failed or has a non-finite loss */
        int all = 0, r2 = vidai_dist_model_all_ok(m->dist, rc == VIDA_OK, &all);
        agreed = 1;
        if (r2 != VIDA_OK) {
            rc = vidai_error_prefix(r2, "vida_train_step: ");
            restore = 1;
            goto out;
        }
        if (rc != VIDA_OK && rc != VIDA_ENONFINITE) {
            restore = 1;
            goto out;
        }
        if (!all && rc == VIDA_OK)
            rc = vidai_error(VIDA_ENONFINITE, "vida_train_step: skipped: another rank's loss is not "
                             "finite or its step failed");
    }
    if (rc == VIDA_ENONFINITE) {
        vidai_optimizer_count_skip(o);
        rc = vidai_error_prefix(rc, "vida_train_step: skipped: ");
        restore = 1;
        goto out;
    }
    if (rc == VIDA_OK && fc_only) {
        /* logits = features . W^T + b: dW = dlogits^T . features, db = column sums */
        int w = vidai_model_find_param(m, "fc.weight"), bi = vidai_model_find_param(m, "fc.bias");
        int64_t F = vida_model_feature_dim(m);
        vidai_param *pw = w >= 0 ? &m->params[w] : NULL, *pb = bi >= 0 ? &m->params[bi] : NULL;
        if (!pw || !pb || pw->numel != C * F || pb->numel != C) {
            rc = vidai_error(VIDA_EUNSUPPORTED, "vida_train_step_fc: no fc.weight [%lld, %lld] and "
                             "fc.bias", (long long)C, (long long)F);
            goto out;
        }
        if ((!pw->grad && !(pw->grad = vidai_calloc((size_t)pw->numel, sizeof(float)))) ||
            (!pb->grad && !(pb->grad = vidai_calloc((size_t)pb->numel, sizeof(float))))) {
            rc = VIDA_ENOMEM;
            goto out;
        }
        for (int64_t c = 0; c < C; c++) {
            double sb = 0;
            for (int64_t f = 0; f < F; f++) {
                double s = 0;
                for (int64_t v = 0; v < V; v++)
                    s += (double)dlogits[v * C + c] * feat[v * F + f];
                pw->grad[c * F + f] = (float)s;
            }
            for (int64_t v = 0; v < V; v++)
                sb += dlogits[v * C + c];
            pb->grad[c] = (float)sb;
        }
        vidai_grad_host_wrote(m, w);
        vidai_grad_host_wrote(m, bi);
        rc = vida_optimizer_step(o);
    } else {
        /* fp16: the loss is scaled so that small gradients survive the 16-bit convolutions */
        const double ls = vidai_optimizer_loss_scale(o);
        if (rc == VIDA_OK && ls != 1)
            for (int64_t i = 0; i < V * C; i++)
                dlogits[i] = (float)(dlogits[i] * ls);
        rc = rc ? rc : vida_model_zero_grad(m);
        rc = rc ? rc : vida_model_backward(m, &td, NULL);
        if (m->dist && (rc == VIDA_OK || agreed)) {
            /* a backward that failed on one rank: nobody steps (the weights stay equal) */
            int all = 0, r2 = vidai_dist_model_all_ok(m->dist, rc == VIDA_OK, &all);
            if (r2 != VIDA_OK) /* (prefixed below, once) */
                rc = r2;
            else if (!all && rc == VIDA_OK)
                rc = vidai_error(VIDA_EIO, "skipped: another rank's backward failed");
        }
        rc = rc ? rc : vidai_optimizer_step_scaled(o, ls);
        restore = rc != VIDA_OK; /* a step that did not happen leaves no BN statistics behind */
    }
    if (rc != VIDA_OK)
        rc = vidai_error_prefix(rc, "vida_train_step: ");
out:
    if (m->dist && !agreed) { /* failed before the vote: vote "no" so the others do not wait */
        int all;
        vidai_dist_model_all_ok(m->dist, 0, &all);
    }
    if (restore && saved) {
        size_t total = 0;
        for (int i = 0; i < m->n_params; i++) {
            vidai_param *q = &m->params[i];
            if (!q->learnable && q->kind == VIDAI_PARAM_VEC) {
                float *cur = vidai_param_dev(m, i);
                if (cur && vidai_be_copy(m->ctx, cur, saved + total,
                                         (size_t)q->numel * sizeof *saved) == VIDA_OK)
                    vidai_param_dev_wrote(m, i);
                total += (size_t)q->numel;
            }
            q->count = saved_counts[i];
        }
        m->step = saved_step;
        vidai_model_weights_changed(m);
    }
    vidai_be_free(m->ctx, saved);
    free(saved_counts);
    if (loss)
        *loss = l;
    free(logits);
    free(dlogits);
    free(labels);
    free(tgt);
    free(feat);
    return rc;
}

int vida_train_step(vida_model *m, vida_optimizer *o, const vida_batch *b, int target_kind,
                    float *loss)
{
    VIDAI_GUARDED(m, __func__, "model", step(m, o, b, target_kind, loss, 0));
}

int vida_train_step_fc(vida_model *m, vida_optimizer *o, const vida_batch *b, int target_kind,
                       float *loss)
{
    VIDAI_GUARDED(m, __func__, "model", step(m, o, b, target_kind, loss, 1));
}
