/*
 * vida_optimizer on a small model with gradients set by hand: every update
 * against a reference written here from torch.optim.SGD's formula (float
 * arithmetic, as PyTorch does on float32 tensors), weight-decay exemptions,
 * groups and freezing, gradient clipping, the schedules at chosen steps,
 * skipped non-finite steps, and the buffers as checkpoint state. The
 * end-to-end comparison with PyTorch (three steps of r2plus1d_18) is
 * test_golden__r2plus1d_18_sgd_three_steps in test_model.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vidaction.h>

#include "nn/nn.h"
#include "test.h"
#include "train/internal.h"

/* R(2+1)D-10 at 1/8 width, 5 classes; the context lives as long as the model. */
static vida_model *small_model(void)
{
    vida_model_params p;
    vida_model *m = NULL;
    vida_context *ctx = NULL;
    vida_context_params cp;
    vida_context_params_init(&cp);
    cp.n_threads = 1;
    vida_model_params_init(&p);
    p.depth = 10;
    p.width = 0.125f;
    p.num_classes = 5;
    if (vida_context_create(&ctx, &cp) != VIDA_OK || vida_model_create(&m, ctx, &p) != VIDA_OK)
        fprintf(stderr, "  %s\n", vida_last_error());
    vida_context_free(ctx);
    return m;
}

/* Sets every learnable gradient to a deterministic pattern (scaled by s), allocating it. */
static void set_grads(vida_model *m, int step, float s)
{
    for (int i = 0; i < m->n_params; i++) {
        vidai_param *q = &m->params[i];
        if (!q->learnable)
            continue;
        if (!q->grad)
            q->grad = calloc((size_t)q->numel, sizeof(float));
        for (int64_t j = 0; j < q->numel; j++)
            q->grad[j] = s * sinf((float)(j * 7 + i * 13 + step * 31) * 0.01f);
    }
}

/* A copy of every learnable tensor's data (internal layout). */
static float **snapshot(const vida_model *m)
{
    float **w = calloc((size_t)m->n_params, sizeof *w);
    for (int i = 0; i < m->n_params; i++) {
        const vidai_param *q = &m->params[i];
        if (!q->learnable)
            continue;
        w[i] = malloc((size_t)q->numel * sizeof(float));
        memcpy(w[i], q->data, (size_t)q->numel * sizeof(float));
    }
    return w;
}

static void snapshot_free(const vida_model *m, float **w)
{
    for (int i = 0; i < m->n_params; i++)
        free(w[i]);
    free(w);
}

static int is_fc(const vidai_param *q)
{
    return !strncmp(q->name, "fc.", 3);
}

static int is_layer1(const vidai_param *q)
{
    return !strncmp(q->name, "layer1.", 7);
}

/*
 * Runs `steps` steps with the optimizer and with the reference, from the same
 * weights and gradients; returns the largest |difference| (exact float
 * arithmetic on both sides: 0 expected).
 */
static double run_against_reference(const vida_optimizer_params *op, int groups, int steps,
                                    float grad_scale)
{
    vida_model *m = small_model();
    vida_optimizer *o = NULL;
    float **ref, **buf;
    double worst = 0;
    if (!m || vida_optimizer_create(&o, m, op) != VIDA_OK) {
        fprintf(stderr, "  %s\n", vida_last_error());
        return 1e30;
    }
    if (groups) {
        vida_optimizer_set_group(o, "fc.", 10, 0);    /* the head learns 10x faster, no decay */
        vida_optimizer_set_group(o, "layer1.", 0, 1); /* frozen */
    }
    ref = snapshot(m);
    buf = calloc((size_t)m->n_params, sizeof *buf);
    for (int s = 0; s < steps; s++) {
        double norm = 0;
        float scale = 1;
        double lr = vida_optimizer_lr(o, s);
        float mom = (float)op->momentum;
        set_grads(m, s, grad_scale);
        for (int i = 0; i < m->n_params; i++) {
            const vidai_param *q = &m->params[i];
            if (q->learnable && !(groups && is_layer1(q)))
                for (int64_t j = 0; j < q->numel; j++)
                    norm += (double)q->grad[j] * q->grad[j];
        }
        norm = sqrt(norm);
        if (op->clip_norm > 0 && norm > op->clip_norm)
            scale = (float)(op->clip_norm / (norm + 1e-6));
        for (int i = 0; i < m->n_params; i++) {
            const vidai_param *q = &m->params[i];
            int decay = op->decay_norm_and_bias || q->kind == VIDAI_PARAM_CONV ||
                        q->kind == VIDAI_PARAM_LINEAR;
            float lrt = (float)lr, wd = decay ? (float)op->weight_decay : 0;
            if (!q->learnable)
                continue;
            if (groups && is_layer1(q))
                continue;
            if (groups && is_fc(q)) {
                lrt = (float)(lr * 10.0); /* lr * multiplier in double, then float */
                wd = 0;
            }
            if (!buf[i])
                buf[i] = calloc((size_t)q->numel, sizeof(float));
            for (int64_t j = 0; j < q->numel; j++) {
                float d = scale * q->grad[j] + wd * ref[i][j];
                if (op->momentum > 0) {
                    buf[i][j] = mom * buf[i][j] + d;
                    d = op->nesterov ? d + mom * buf[i][j] : buf[i][j];
                }
                ref[i][j] -= lrt * d;
            }
        }
        if (vida_optimizer_step(o) != VIDA_OK) {
            fprintf(stderr, "  step %d: %s\n", s, vida_last_error());
            worst = 1e30;
            break;
        }
    }
    for (int i = 0; i < m->n_params; i++) {
        const vidai_param *q = &m->params[i];
        if (!q->learnable)
            continue;
        for (int64_t j = 0; j < q->numel; j++) {
            double e = fabs((double)q->data[j] - ref[i][j]);
            worst = e > worst ? e : worst;
        }
        free(buf[i]);
    }
    free(buf);
    snapshot_free(m, ref);
    vida_optimizer_free(o);
    vida_model_free(m);
    return worst;
}

TEST(optimizer, sgd_matches_the_formula)
{
    vida_optimizer_params op;
    double e;
    vida_optimizer_params_init(&op);
    e = run_against_reference(&op, 0, 4, 1.0f);
    CHECKF(e == 0, "momentum 0.9, wd 1e-4: max |diff| %g", e);
    op.nesterov = 1;
    e = run_against_reference(&op, 0, 4, 1.0f);
    CHECKF(e == 0, "nesterov: max |diff| %g", e);
    op.nesterov = 0;
    op.momentum = 0;
    e = run_against_reference(&op, 0, 3, 1.0f);
    CHECKF(e == 0, "plain SGD: max |diff| %g", e);
    vida_optimizer_params_init(&op);
    op.decay_norm_and_bias = 0;
    op.weight_decay = 0.01;
    e = run_against_reference(&op, 0, 3, 1.0f);
    CHECKF(e == 0, "no decay on BN and biases: max |diff| %g", e);
    vida_optimizer_params_init(&op);
    e = run_against_reference(&op, 1, 3, 1.0f);
    CHECKF(e == 0, "groups (fc x10 without decay, layer1 frozen): max |diff| %g", e);
    op.clip_norm = 1.0;
    e = run_against_reference(&op, 0, 3, 1.0f);
    CHECKF(e == 0, "clipped to norm 1: max |diff| %g", e);
    op.schedule = VIDA_SCHEDULE_COSINE;
    op.warmup_steps = 2;
    op.total_steps = 6;
    e = run_against_reference(&op, 1, 6, 1.0f);
    CHECKF(e == 0, "warm-up, cosine, groups, clipping: max |diff| %g", e);
}

TEST(optimizer, frozen_and_decay_exempt_tensors)
{
    vida_model *m = small_model();
    vida_optimizer *o = NULL;
    vida_optimizer_params op;
    float **w0;
    CHECK(m);
    vida_optimizer_params_init(&op);
    op.decay_norm_and_bias = 0;
    op.weight_decay = 0.5;
    CHECK_OK(vida_optimizer_create(&o, m, &op));
    CHECK_OK(vida_optimizer_set_group(o, "layer1.", 0, 1));
    CHECK(vida_optimizer_set_group(o, "nothing.", 1, 1) == VIDA_EINVAL);
    CHECK(vida_optimizer_set_group(o, "fc.", -1, 1) == VIDA_EINVAL);
    w0 = snapshot(m);
    set_grads(m, 0, 0.0f); /* zero gradients: only decay moves weights */
    CHECK_OK(vida_optimizer_step(o));
    for (int i = 0; i < m->n_params; i++) {
        const vidai_param *q = &m->params[i];
        int moved = 0;
        if (!q->learnable)
            continue;
        for (int64_t j = 0; j < q->numel; j++)
            moved |= q->data[j] != w0[i][j];
        if (is_layer1(q) || q->kind == VIDAI_PARAM_VEC)
            CHECKF(!moved, "%s moved (frozen or exempt from decay)", q->name);
        else
            CHECKF(moved, "%s did not decay", q->name);
    }
    snapshot_free(m, w0);
    vida_optimizer_free(o);
    vida_model_free(m);
}

TEST(optimizer, schedules)
{
    vida_model *m = small_model();
    vida_optimizer *o = NULL;
    vida_optimizer_params op;
    CHECK(m);
    vida_optimizer_params_init(&op);
    op.lr = 0.1;
    op.batch = 64;
    op.base_batch = 256; /* linear scaling: 0.025 */
    op.warmup_steps = 4;
    op.warmup_start = 0.2;
    op.schedule = VIDA_SCHEDULE_STEP;
    op.n_milestones = 2;
    op.milestones[0] = 10;
    op.milestones[1] = 20;
    CHECK_OK(vida_optimizer_create(&o, m, &op));
    CHECK(fabs(vida_optimizer_lr(o, 0) - 0.025 * 0.2) < 1e-15);
    CHECK(fabs(vida_optimizer_lr(o, 2) - 0.025 * 0.6) < 1e-15);
    CHECK(fabs(vida_optimizer_lr(o, 4) - 0.025) < 1e-15);
    CHECK(fabs(vida_optimizer_lr(o, 9) - 0.025) < 1e-15);
    CHECK(fabs(vida_optimizer_lr(o, 10) - 0.0025) < 1e-15);
    CHECK(fabs(vida_optimizer_lr(o, 25) - 0.00025) < 1e-15);
    CHECK(vida_optimizer_lr(o, -1) == vida_optimizer_lr(o, 0));
    vida_optimizer_free(o);
    vida_optimizer_params_init(&op);
    op.lr = 0.2;
    op.schedule = VIDA_SCHEDULE_COSINE;
    op.warmup_steps = 10;
    op.total_steps = 110;
    op.min_lr = 0.002;
    CHECK_OK(vida_optimizer_create(&o, m, &op));
    CHECK(fabs(vida_optimizer_lr(o, 10) - 0.2) < 1e-15);
    CHECK(fabs(vida_optimizer_lr(o, 60) - (0.002 + 0.198 * 0.5)) < 1e-12);
    CHECK(fabs(vida_optimizer_lr(o, 35) - (0.002 + 0.198 * 0.5 * (1 + cos(M_PI / 4)))) < 1e-12);
    CHECK(vida_optimizer_lr(o, 110) == 0.002 && vida_optimizer_lr(o, 500) == 0.002);
    vida_optimizer_free(o);
    /* bad schedules are refused with the reason */
    op.total_steps = 5;
    CHECK(vida_optimizer_create(&o, m, &op) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "total_steps"));
    vida_optimizer_params_init(&op);
    op.schedule = VIDA_SCHEDULE_STEP;
    op.n_milestones = 2;
    op.milestones[0] = 5;
    op.milestones[1] = 5;
    CHECK(vida_optimizer_create(&o, m, &op) == VIDA_EINVAL);
    vida_optimizer_params_init(&op);
    op.momentum = 1.0;
    CHECK(vida_optimizer_create(&o, m, &op) == VIDA_EINVAL);
    vida_optimizer_params_init(&op);
    op.momentum = 0;
    op.nesterov = 1;
    CHECK(vida_optimizer_create(&o, m, &op) == VIDA_EINVAL);
    vida_model_free(m);
}

TEST(optimizer, non_finite_steps_are_skipped)
{
    vida_model *m = small_model();
    vida_optimizer *o = NULL;
    vida_optimizer_params op;
    vida_optimizer_stats st;
    float **w0, *b0, *b1;
    int64_t nb;
    int fc = -1;
    CHECK(m);
    vida_optimizer_params_init(&op);
    CHECK_OK(vida_optimizer_create(&o, m, &op));
    CHECK(vida_optimizer_step(o) == VIDA_ESTATE); /* no gradients yet */
    set_grads(m, 0, 1.0f);
    CHECK_OK(vida_optimizer_step(o));
    fc = vidai_model_find_param(m, "fc.weight");
    CHECK(fc >= 0);
    nb = m->params[fc].numel;
    b0 = malloc((size_t)nb * sizeof *b0);
    b1 = malloc((size_t)nb * sizeof *b1);
    CHECK_OK(vida_optimizer_get_buffer(o, "fc.weight", b0, nb));
    w0 = snapshot(m);
    for (int k = 0; k < 3; k++) {
        set_grads(m, 1, 1.0f);
        m->params[fc].grad[7] = k == 1 ? INFINITY : NAN;
        CHECK(vida_optimizer_step(o) == VIDA_ENONFINITE);
        CHECKF(strstr(vida_last_error(), "fc.weight") && strstr(vida_last_error(), "skipped"),
               "%s", vida_last_error());
    }
    st.size = sizeof st;
    CHECK_OK(vida_optimizer_get_stats(o, &st));
    CHECK(st.steps == 1 && st.skipped == 3 && st.consecutive_skips == 3);
    /* nothing moved: weights and buffers */
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].learnable)
            CHECK(memcmp(m->params[i].data, w0[i], (size_t)m->params[i].numel * sizeof(float)) == 0);
    CHECK_OK(vida_optimizer_get_buffer(o, "fc.weight", b1, nb));
    CHECK(memcmp(b0, b1, (size_t)nb * sizeof *b0) == 0);
    set_grads(m, 2, 1.0f);
    CHECK_OK(vida_optimizer_step(o));
    CHECK_OK(vida_optimizer_get_stats(o, &st));
    CHECK(st.steps == 2 && st.skipped == 3 && st.consecutive_skips == 0 && st.last_grad_norm > 0);
    snapshot_free(m, w0);
    free(b0);
    free(b1);
    vida_optimizer_free(o);
    vida_model_free(m);
}

/*
 * Checkpoint state: a second optimizer given the first one's buffers (in the
 * file layout) and step count continues exactly as the first one does.
 */
TEST(optimizer, state_restores_exactly)
{
    vida_model *a = small_model(), *b = small_model();
    vida_optimizer *oa = NULL, *ob = NULL;
    vida_optimizer_params op;
    CHECK(a && b);
    vida_optimizer_params_init(&op);
    op.schedule = VIDA_SCHEDULE_COSINE;
    op.total_steps = 10;
    CHECK_OK(vida_optimizer_create(&oa, a, &op));
    CHECK_OK(vida_optimizer_create(&ob, b, &op));
    for (int s = 0; s < 3; s++) {
        set_grads(a, s, 1.0f);
        CHECK_OK(vida_optimizer_step(oa));
    }
    /* b gets a's weights (through the file layout) and a's optimizer state */
    for (int i = 0; i < vida_model_n_tensors(a); i++) {
        const char *name;
        int ndim, dtype;
        int64_t shape[8], n = 1;
        float *v;
        CHECK_OK(vida_model_tensor_info(a, i, &name, &ndim, shape, &dtype));
        for (int k = 0; k < ndim; k++)
            n *= shape[k];
        v = malloc((size_t)n * sizeof *v);
        CHECK_OK(vida_model_get_tensor(a, name, v, n));
        CHECK_OK(vida_model_set_tensor(b, name, v, n));
        if (a->params[vidai_model_find_param(a, name)].learnable) {
            CHECK_OK(vida_optimizer_get_buffer(oa, name, v, n));
            CHECK_OK(vida_optimizer_set_buffer(ob, name, v, n));
        }
        free(v);
    }
    CHECK_OK(vida_optimizer_set_step_count(ob, vida_optimizer_step_count(oa)));
    for (int s = 3; s < 6; s++) {
        set_grads(a, s, 1.0f);
        set_grads(b, s, 1.0f);
        CHECK_OK(vida_optimizer_step(oa));
        CHECK_OK(vida_optimizer_step(ob));
    }
    for (int i = 0; i < a->n_params; i++)
        if (a->params[i].learnable)
            CHECKF(memcmp(a->params[i].data, b->params[i].data,
                          (size_t)a->params[i].numel * sizeof(float)) == 0,
                   "%s differs after the restore", a->params[i].name);
    /* wrong names, counts, values */
    {
        float v[4] = {0, 0, 0, NAN};
        CHECK(vida_optimizer_get_buffer(oa, "no.such", v, 4) == VIDA_EINVAL);
        CHECK(vida_optimizer_set_buffer(oa, "fc.bias", v, 4) == VIDA_EINVAL);
        CHECK(strstr(vida_last_error(), "fc.bias"));
    }
    vida_optimizer_free(oa);
    vida_optimizer_free(ob);
    vida_model_free(a);
    vida_model_free(b);
}

/*
 * The buffers' file layout: after one step without decay the momentum buffer
 * is the gradient, so get_buffer must equal vida_model_get_grad (both in the
 * file layout) for every tensor, conv tensors included.
 */
TEST(optimizer, buffer_layout_is_the_file_layout)
{
    vida_model *m = small_model();
    vida_optimizer *o = NULL;
    vida_optimizer_params op;
    int convs = 0;
    CHECK(m);
    vida_optimizer_params_init(&op);
    op.weight_decay = 0;
    CHECK_OK(vida_optimizer_create(&o, m, &op));
    set_grads(m, 0, 1.0f);
    CHECK_OK(vida_optimizer_step(o));
    for (int i = 0; i < m->n_params; i++) {
        const vidai_param *q = &m->params[i];
        float *b, *g;
        if (!q->learnable)
            continue;
        b = malloc((size_t)q->numel * sizeof *b);
        g = malloc((size_t)q->numel * sizeof *g);
        CHECK_OK(vida_optimizer_get_buffer(o, q->name, b, q->numel));
        CHECK_OK(vida_model_get_grad(m, q->name, g, q->numel));
        CHECKF(memcmp(b, g, (size_t)q->numel * sizeof *b) == 0, "%s: buffer != gradient", q->name);
        convs += q->kind == VIDAI_PARAM_CONV;
        free(b);
        free(g);
    }
    CHECK(convs > 10);
    /* everything frozen: a clear state error; no momentum: no buffers to set */
    CHECK_OK(vida_optimizer_set_group(o, "", 0, 1));
    CHECK(vida_optimizer_step(o) == VIDA_ESTATE);
    CHECK(strstr(vida_last_error(), "frozen"));
    vida_optimizer_free(o);
    op.momentum = 0;
    CHECK_OK(vida_optimizer_create(&o, m, &op));
    {
        float v[5] = {0};
        CHECK(vida_optimizer_set_buffer(o, "fc.bias", v, 5) == VIDA_EINVAL);
    }
    vida_optimizer_free(o);
    vida_model_free(m);
}

/*
 * fp16 loss scaling (train/internal.h): a step on gradients that carry a
 * factor S equals the step on the plain gradients (S a power of two, so the
 * division is exact up to the float rounding of S * g); an overflow with
 * S > 1 is skipped without counting as a failure in a row; clipping sees the
 * gradients' own norm.
 */
TEST(optimizer, scaled_gradients_for_fp16)
{
    vida_model *a = small_model(), *b = small_model();
    vida_optimizer *oa = NULL, *ob = NULL;
    vida_optimizer_params op;
    vida_optimizer_stats sa, sb;
    double worst = 0;
    int fc;
    CHECK(a && b);
    vida_optimizer_params_init(&op);
    op.clip_norm = 0.5; /* active: the pattern's norm is larger */
    CHECK_OK(vida_optimizer_create(&oa, a, &op));
    CHECK_OK(vida_optimizer_create(&ob, b, &op));
    CHECK(vidai_optimizer_loss_scale(oa) == 1.0); /* fp32: no scaling */
    for (int step = 0; step < 3; step++) {
        set_grads(a, step, 1.0f);
        set_grads(b, step, 1024.0f);
        CHECK_OK(vida_optimizer_step(oa));
        CHECK_OK(vidai_optimizer_step_scaled(ob, 1024.0));
    }
    for (int i = 0; i < a->n_params; i++) {
        if (!a->params[i].learnable)
            continue;
        for (int64_t j = 0; j < a->params[i].numel; j++) {
            double d = fabs((double)a->params[i].data[j] - b->params[i].data[j]);
            double r = d / (fabs((double)a->params[i].data[j]) + 1e-3);
            if (r > worst)
                worst = r;
        }
    }
    printf("  3 steps on gradients x 1024 vs plain: worst relative weight difference %.2e\n", worst);
    CHECK(worst < 1e-6);
    sa.size = sb.size = sizeof sa;
    CHECK_OK(vida_optimizer_get_stats(oa, &sa));
    CHECK_OK(vida_optimizer_get_stats(ob, &sb));
    CHECKF(fabs(sa.last_grad_norm - sb.last_grad_norm) <= 1e-6 * sa.last_grad_norm,
           "norms %g vs %g", sa.last_grad_norm, sb.last_grad_norm);
    /* an overflow of scaled gradients: skipped, not a failure in a row */
    fc = vidai_model_find_param(b, "fc.weight");
    set_grads(b, 5, 1024.0f);
    b->params[fc].grad[3] = INFINITY;
    CHECK(vidai_optimizer_step_scaled(ob, 1024.0) == VIDA_ENONFINITE);
    CHECKF(strstr(vida_last_error(), "overflowed"), "%s", vida_last_error());
    CHECK_OK(vida_optimizer_get_stats(ob, &sb));
    CHECK(sb.skipped == 1 && sb.consecutive_skips == 0 && sb.steps == 3);
    /* unscaled, the same is a failure in a row */
    CHECK(vida_optimizer_step(ob) == VIDA_ENONFINITE);
    CHECK_OK(vida_optimizer_get_stats(ob, &sb));
    CHECK(sb.skipped == 2 && sb.consecutive_skips == 1);
    CHECK(vidai_optimizer_step_scaled(ob, 0.0) == VIDA_ENONFINITE); /* grads still non-finite */
    set_grads(b, 6, 1.0f);
    CHECK(vidai_optimizer_step_scaled(ob, -1.0) == VIDA_EINVAL);
    vida_optimizer_free(oa);
    vida_optimizer_free(ob);
    vida_model_free(a);
    vida_model_free(b);
}

/* An optimizer keeps its model alive: the model may be freed first (no use after free under ASan). */
TEST(optimizer, holds_a_reference_to_its_model)
{
    vida_model *m = small_model();
    vida_optimizer *o = NULL;
    vida_optimizer_params op;
    CHECK(m);
    vida_optimizer_params_init(&op);
    CHECK_OK(vida_optimizer_create(&o, m, &op));
    set_grads(m, 0, 1.0f);
    vida_model_free(m); /* the caller's reference */
    CHECK_OK(vida_optimizer_step(o)); /* the model is still there */
    vida_optimizer_free(o);          /* now it goes */
}
