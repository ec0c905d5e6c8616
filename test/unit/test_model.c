/*
 * Model tests: parameter counts against torchvision/VMZ, any clip size,
 * save/load, losses against hand computation, and the golden tests against
 * PyTorch fixtures (test/golden, made by make_fixtures.py): eval-mode logits
 * of torchvision r2plus1d_18, r3d_18, mc3_18 and the IG-65M R(2+1)D-34, and
 * one training-mode forward+backward of r2plus1d_18.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vidaction.h>

#include "golden_util.h"
#include "io/io.h"
#include "test.h"

static vida_context *ctx_new(int threads)
{
    vida_context_params cp;
    vida_context *ctx = NULL;
    vida_context_params_init(&cp);
    cp.n_threads = threads;
    cp.seed = 7;
    if (vida_context_create(&ctx, &cp) != VIDA_OK)
        return NULL;
    return ctx;
}

static int64_t count_params(int arch, int depth, int midplanes, int classes)
{
    vida_context *ctx = ctx_new(2);
    vida_model_params p;
    vida_model *m = NULL;
    int64_t n = -1;
    vida_model_params_init(&p);
    p.arch = arch;
    p.depth = depth;
    p.midplanes = midplanes;
    p.num_classes = classes;
    if (vida_model_create(&m, ctx, &p) == VIDA_OK)
        n = vida_model_num_params(m);
    vida_model_free(m);
    vida_context_free(ctx);
    return n;
}

TEST(model, param_counts)
{
    /* torchvision's documented counts, and VMZ's for the per-conv models (paper.md 1.2) */
    int64_t n;
    CHECK(count_params(VIDA_ARCH_R2PLUS1D, 18, VIDA_MIDPLANES_PER_BLOCK, 400) == 31505325);
    CHECK(count_params(VIDA_ARCH_R3D, 18, VIDA_MIDPLANES_PER_BLOCK, 400) == 33371472);
    CHECK(count_params(VIDA_ARCH_MC3, 18, VIDA_MIDPLANES_PER_BLOCK, 400) == 11695440);
    CHECK(count_params(VIDA_ARCH_R2D, 18, VIDA_MIDPLANES_PER_BLOCK, 1000) == 11689512);
    CHECK(count_params(VIDA_ARCH_R2D, 50, VIDA_MIDPLANES_PER_BLOCK, 1000) == 25557032);
    n = count_params(VIDA_ARCH_R2PLUS1D, 34, VIDA_MIDPLANES_PER_CONV, 400);
    CHECKF(llabs(n - 63700000) <= 50000, "R(2+1)D-34 per-conv: %lld", (long long)n);
    n = count_params(VIDA_ARCH_R2PLUS1D, 152, VIDA_MIDPLANES_PER_CONV, 400);
    CHECKF(llabs(n - 118200000) <= 100000, "R(2+1)D-152 per-conv: %lld", (long long)n);
    /* torchvision's per-block rule gives the smaller R(2+1)D-34 that IG-65M weights do not fit */
    n = count_params(VIDA_ARCH_R2PLUS1D, 34, VIDA_MIDPLANES_PER_BLOCK, 400);
    CHECKF(llabs(n - 61830000) <= 50000, "R(2+1)D-34 per-block: %lld", (long long)n);
}

TEST(model, every_depth_builds_and_runs_small_clips)
{
    static const struct {
        int arch, depth;
    } cases[] = {{VIDA_ARCH_R2PLUS1D, 10}, {VIDA_ARCH_R2PLUS1D, 16}, {VIDA_ARCH_R2PLUS1D, 18},
                 {VIDA_ARCH_R2PLUS1D, 26}, {VIDA_ARCH_R2PLUS1D, 34}, {VIDA_ARCH_R2PLUS1D, 50},
                 {VIDA_ARCH_R2PLUS1D, 101}, {VIDA_ARCH_R2PLUS1D, 152}, {VIDA_ARCH_R3D, 18},
                 {VIDA_ARCH_R3D, 34}, {VIDA_ARCH_MC3, 18}, {VIDA_ARCH_R2D, 18}, {VIDA_ARCH_R2D, 50}};
    static const int64_t sizes[][3] = {{1, 16, 16}, {3, 17, 23}, {8, 16, 16}};
    vida_context *ctx = ctx_new(2);
    size_t c, s;
    for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        vida_model_params p;
        vida_model *m = NULL;
        vida_model_params_init(&p);
        p.arch = cases[c].arch;
        p.depth = cases[c].depth;
        p.width = 0.125f;
        p.num_classes = 5;
        p.pool1 = c % 2;
        CHECK_OK(vida_model_create(&m, ctx, &p));
        for (s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            int64_t shape[5] = {2, 3, sizes[s][0], sizes[s][1], sizes[s][2]}, oshape[2] = {2, 5};
            int64_t numel = 2 * 3 * sizes[s][0] * sizes[s][1] * sizes[s][2], i;
            float *x = malloc((size_t)numel * sizeof(float)), logits[10], logits2[10];
            vida_tensor tx, tl;
            for (i = 0; i < numel; i++)
                x[i] = sinf((float)i * 0.37f);
            vida_tensor_f32(&tx, x, 5, shape);
            vida_tensor_f32(&tl, logits, 2, oshape);
            CHECK_OK(vida_model_forward(m, &tx, &tl, NULL));
            for (i = 0; i < 10; i++)
                CHECKF(isfinite(logits[i]), "arch %d depth %d", cases[c].arch, cases[c].depth);
            /* training mode runs too, and backward goes through */
            CHECK_OK(vida_model_set_mode(m, VIDA_MODE_TRAIN));
            vida_tensor_f32(&tl, logits2, 2, oshape);
            CHECK_OK(vida_model_forward(m, &tx, &tl, NULL));
            CHECK_OK(vida_model_zero_grad(m));
            CHECK_OK(vida_model_backward(m, &tl, NULL));
            CHECK_OK(vida_model_set_mode(m, VIDA_MODE_EVAL));
            free(x);
        }
        vida_model_free(m);
    }
    vida_context_free(ctx);
}

TEST(model, save_load_roundtrip)
{
    vida_context *ctx = ctx_new(1);
    vida_model_params p;
    vida_model *m = NULL, *m2 = NULL;
    char path[512];
    int64_t shape[5] = {1, 3, 4, 32, 32}, oshape[2] = {1, 7}, i;
    float x[1 * 3 * 4 * 32 * 32], a[7], b[7];
    vida_tensor tx, ta, tb;
    vida_model_params_init(&p);
    p.depth = 10;
    p.width = 0.25f;
    p.num_classes = 7;
    p.midplanes = VIDA_MIDPLANES_PER_CONV;
    p.bn_eps = 1e-3f;
    CHECK_OK(vida_model_create(&m, ctx, &p));
    CHECK_OK(vida_model_set_meta(m, "labels", "[\"a\",\"b\"]"));
    CHECK(vida_model_set_meta(m, "arch", "r3d") == VIDA_EINVAL);
    snprintf(path, sizeof path, "%s/rt.safetensors", vt_tmp_dir());
    CHECK_OK(vida_model_save(m, path));
    CHECK_OK(vida_model_load(&m2, ctx, path));
    CHECK(strcmp(vida_model_get_meta(m2, "labels"), "[\"a\",\"b\"]") == 0);
    CHECK(strcmp(vida_model_get_meta(m2, "midplanes"), "per-conv") == 0);
    CHECK(vida_model_num_params(m2) == vida_model_num_params(m));
    for (i = 0; i < (int64_t)(sizeof x / sizeof x[0]); i++)
        x[i] = cosf((float)i);
    vida_tensor_f32(&tx, x, 5, shape);
    vida_tensor_f32(&ta, a, 2, oshape);
    vida_tensor_f32(&tb, b, 2, oshape);
    CHECK_OK(vida_model_forward(m, &tx, &ta, NULL));
    CHECK_OK(vida_model_forward(m2, &tx, &tb, NULL));
    CHECK(memcmp(a, b, sizeof a) == 0);
    vida_model_free(m);
    vida_context_free(ctx); /* the model keeps its context alive */
    vida_model_free(m2);
}

/* vida_model_set_head: a new classifier, the rest kept, old optimizers refused. */
TEST(model, set_head_replaces_the_classifier)
{
    vida_context *ctx = ctx_new(1);
    vida_model_params p;
    vida_model *m = NULL;
    vida_optimizer *o = NULL, *o2 = NULL;
    vida_optimizer_params op;
    static const char *names[3] = {"jump", "swim \"fast\"", "run"};
    const char *bad[3] = {"a", NULL, "c"};
    int64_t shape[5] = {2, 3, 4, 32, 32}, oshape[2] = {2, 3}, n, i;
    float x[2 * 3 * 4 * 32 * 32], y[6], dy[6], *w0, *w1, fcw[3 * 512];
    vida_tensor tx, ty, tdy;
    vida_model_params_init(&p);
    p.depth = 10;
    p.width = 0.25f;
    p.num_classes = 7;
    CHECK_OK(vida_model_create(&m, ctx, &p));
    CHECK_OK(vida_model_set_meta(m, "labels", "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\"]"));
    CHECK_OK(vida_model_set_meta(m, "source", "test"));
    vida_optimizer_params_init(&op);
    CHECK_OK(vida_optimizer_create(&o, m, &op));
    n = 0;
    {
        const char *nm;
        int nd, dt;
        int64_t sh[8];
        CHECK_OK(vida_model_tensor_info(m, 0, &nm, &nd, sh, &dt));
        CHECK(strcmp(nm, "stem.0.weight") == 0);
        n = 1;
        for (int k = 0; k < nd; k++)
            n *= sh[k];
    }
    w0 = malloc((size_t)n * sizeof *w0);
    w1 = malloc((size_t)n * sizeof *w1);
    CHECK(w0 && w1);
    CHECK_OK(vida_model_get_tensor(m, "stem.0.weight", w0, n));
    CHECK(vida_model_set_head(m, 0, NULL) == VIDA_EINVAL);
    CHECK(vida_model_set_head(m, 3, bad) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "label 1") != NULL);
    CHECK(vida_model_num_classes(m) == 7); /* unchanged on error */
    CHECK(vida_model_set_head(NULL, 3, NULL) == VIDA_EINVAL);
    CHECK_OK(vida_model_set_head(m, 3, names));
    CHECK(vida_model_num_classes(m) == 3);
    CHECK(strcmp(vida_model_get_meta(m, "num_classes"), "3") == 0);
    CHECKF(strcmp(vida_model_get_meta(m, "labels"), "[\"jump\",\"swim \\\"fast\\\"\",\"run\"]") == 0,
           "%s", vida_model_get_meta(m, "labels"));
    CHECK(strcmp(vida_model_get_meta(m, "source"), "test") == 0);
    CHECK_OK(vida_model_get_tensor(m, "stem.0.weight", w1, n));
    CHECK(memcmp(w0, w1, (size_t)n * sizeof *w0) == 0);
    CHECK(vida_model_feature_dim(m) * 3 <= (int)(sizeof fcw / sizeof fcw[0]));
    CHECK_OK(vida_model_get_tensor(m, "fc.weight", fcw, (int64_t)vida_model_feature_dim(m) * 3));
    {
        double ss = 0;
        for (i = 0; i < (int64_t)vida_model_feature_dim(m) * 3; i++)
            ss += (double)fcw[i] * fcw[i];
        ss = sqrt(ss / (double)(vida_model_feature_dim(m) * 3));
        CHECKF(ss > 0.005 && ss < 0.02, "fc.weight rms %g, wants about 0.01", ss);
    }
    for (i = 0; i < (int64_t)(sizeof x / sizeof x[0]); i++)
        x[i] = sinf((float)i * 0.1f);
    vida_tensor_f32(&tx, x, 5, shape);
    vida_tensor_f32(&ty, y, 2, oshape);
    vida_tensor_f32(&tdy, dy, 2, oshape);
    CHECK_OK(vida_model_set_mode(m, VIDA_MODE_TRAIN));
    CHECK_OK(vida_model_forward(m, &tx, &ty, NULL));
    for (i = 0; i < 6; i++)
        dy[i] = 0.1f * (float)(i - 2);
    CHECK_OK(vida_model_zero_grad(m));
    CHECK_OK(vida_model_backward(m, &tdy, NULL));
    CHECK(vida_optimizer_step(o) == VIDA_ESTATE); /* made for the old classifier */
    CHECK(strstr(vida_last_error(), "vida_model_set_head") != NULL);
    CHECK(vida_optimizer_get_buffer(o, "fc.weight", fcw, 3) == VIDA_ESTATE);
    CHECK_OK(vida_optimizer_create(&o2, m, &op));
    CHECK_OK(vida_optimizer_step(o2));
    CHECK_OK(vida_model_set_head(m, 2, NULL)); /* no labels: the key goes */
    CHECK(vida_model_get_meta(m, "labels") == NULL);
    CHECK(vida_model_num_classes(m) == 2);
    free(w0);
    free(w1);
    vida_optimizer_free(o);
    vida_optimizer_free(o2);
    vida_model_free(m);
    vida_context_free(ctx);
}

/* sum(logits * r) of a frozen-BN training forward, in double. */
static double frozen_objective(vida_model *m, vida_tensor *tx, float *y, const float *r, int n)
{
    int64_t oshape[2] = {2, 3};
    vida_tensor ty;
    double s = 0;
    vida_tensor_f32(&ty, y, 2, oshape);
    if (vida_model_forward(m, tx, &ty, NULL) != VIDA_OK)
        return NAN;
    for (int i = 0; i < n; i++)
        s += (double)y[i] * r[i];
    return s;
}

/*
 * VIDA_MODE_TRAIN_FROZEN_BN: the forward equals inference (BN on the running
 * statistics, which do not move), and the backward matches central finite
 * differences for a BN scale, a BN shift and conv weights.
 */
TEST(model, frozen_bn_training_mode)
{
    vida_context *ctx = ctx_new(1);
    vida_model_params p;
    vida_model *m = NULL;
    int64_t shape[5] = {2, 3, 4, 32, 32}, oshape[2] = {2, 3}, i;
    static float x[2 * 3 * 4 * 32 * 32];
    float y[6], ye[6], r[6], rm0[16], rm1[16];
    vida_tensor tx, ty, tr;
    struct {
        const char *name;
        int64_t numel, index;
    } probe[] = {{"stem.1.weight", 0, 3}, {"stem.1.bias", 0, 5}, {"layer1.0.conv1.0.0.weight", 0, 17},
                 {"layer2.0.conv1.0.0.weight", 0, 33}, {"fc.weight", 0, 7}};
    vida_model_params_init(&p);
    p.depth = 10;
    p.width = 0.25f;
    p.num_classes = 3;
    CHECK_OK(vida_model_create(&m, ctx, &p));
    for (i = 0; i < (int64_t)(sizeof x / sizeof x[0]); i++)
        x[i] = sinf((float)i * 0.37f) + 0.3f;
    vida_tensor_f32(&tx, x, 5, shape);
    vida_tensor_f32(&ty, y, 2, oshape);
    /* running statistics away from (0, 1) first */
    CHECK_OK(vida_model_set_mode(m, VIDA_MODE_TRAIN));
    for (int k = 0; k < 3; k++)
        CHECK_OK(vida_model_forward(m, &tx, &ty, NULL));
    CHECK(vida_model_set_mode(m, 3) == VIDA_EINVAL);
    CHECK_OK(vida_model_set_mode(m, VIDA_MODE_EVAL));
    vida_tensor_f32(&ty, ye, 2, oshape);
    CHECK_OK(vida_model_forward(m, &tx, &ty, NULL));
    CHECK_OK(vida_model_get_tensor(m, "stem.1.running_mean", rm0, 11));
    CHECK_OK(vida_model_set_mode(m, VIDA_MODE_TRAIN_FROZEN_BN));
    vida_tensor_f32(&ty, y, 2, oshape);
    CHECK_OK(vida_model_forward(m, &tx, &ty, NULL));
    CHECK_OK(vida_model_get_tensor(m, "stem.1.running_mean", rm1, 11));
    CHECK(memcmp(rm0, rm1, 11 * sizeof *rm0) == 0); /* the statistics stay */
    for (i = 0; i < 6; i++)
        CHECKF(fabsf(y[i] - ye[i]) <= 1e-4f * (1 + fabsf(ye[i])), "logit %d: %g vs eval %g", (int)i,
               y[i], ye[i]);
    /* backward against finite differences of sum(logits * r) */
    for (i = 0; i < 6; i++)
        r[i] = 0.5f - 0.3f * (float)i;
    vida_tensor_f32(&tr, r, 2, oshape);
    CHECK_OK(vida_model_zero_grad(m));
    CHECK_OK(vida_model_backward(m, &tr, NULL));
    for (size_t k = 0; k < sizeof probe / sizeof probe[0]; k++) {
        const char *nm;
        int nd, dt;
        int64_t sh[8];
        float *w, *g;
        double h, fp, fm, fd;
        int ti;
        for (ti = 0; ti < vida_model_n_tensors(m); ti++) {
            CHECK_OK(vida_model_tensor_info(m, ti, &nm, &nd, sh, &dt));
            if (!strcmp(nm, probe[k].name))
                break;
        }
        CHECK(ti < vida_model_n_tensors(m));
        probe[k].numel = 1;
        for (int q = 0; q < nd; q++)
            probe[k].numel *= sh[q];
        w = malloc((size_t)probe[k].numel * sizeof *w);
        g = malloc((size_t)probe[k].numel * sizeof *g);
        CHECK(w && g);
        CHECK_OK(vida_model_get_tensor(m, probe[k].name, w, probe[k].numel));
        CHECK_OK(vida_model_get_grad(m, probe[k].name, g, probe[k].numel));
        h = 1e-3 * (fabs((double)w[probe[k].index]) + 0.1); /* smaller: float noise; larger: ReLU kinks */
        {
            const float w0 = w[probe[k].index];
            w[probe[k].index] = (float)(w0 + h);
            CHECK_OK(vida_model_set_tensor(m, probe[k].name, w, probe[k].numel));
            fp = frozen_objective(m, &tx, y, r, 6);
            w[probe[k].index] = (float)(w0 - h);
            CHECK_OK(vida_model_set_tensor(m, probe[k].name, w, probe[k].numel));
            fm = frozen_objective(m, &tx, y, r, 6);
            w[probe[k].index] = w0;
            CHECK_OK(vida_model_set_tensor(m, probe[k].name, w, probe[k].numel));
        }
        fd = (fp - fm) / (2 * h);
        printf("  frozen BN: d/d %s[%lld]: backward %.6g, finite difference %.6g\n", probe[k].name,
               (long long)probe[k].index, (double)g[probe[k].index], fd);
        CHECKF(fabs(fd - g[probe[k].index]) <= 5e-2 * fabs(fd) + 1e-5, "%s", probe[k].name);
        free(w);
        free(g);
    }
    vida_model_free(m);
    vida_context_free(ctx);
}

TEST(model, losses_match_hand_computation)
{
    float logits[6] = {1, 2, 3, 0.5f, -1, 0}, d[6], loss;
    int32_t labels[2] = {2, 0};
    float soft[6] = {0, 0.5f, 0.5f, 1, 0, 0}, hot[6] = {0, 1, 1, 1, 0, 0};
    int64_t s2[2] = {2, 3}, s1[1] = {2};
    vida_tensor tl, tt, td;
    double l0, l1, want;
    int i;
    vida_tensor_f32(&tl, logits, 2, s2);
    vida_tensor_f32(&td, d, 2, s2);
    memset(&tt, 0, sizeof tt);
    tt.data = labels;
    tt.dtype = VIDA_DTYPE_I32;
    tt.ndim = 1;
    tt.shape[0] = s1[0];
    CHECK_OK(vida_loss(VIDA_LOSS_SOFTMAX_CE, &tl, &tt, &loss, &td));
    l0 = log(exp(1) + exp(2) + exp(3)) - 3;
    l1 = log(exp(0.5) + exp(-1) + exp(0)) - 0.5;
    CHECKF(fabs(loss - (l0 + l1) / 2) < 1e-6, "%g", (double)loss);
    CHECK(fabs(d[2] - (exp(3) / (exp(1) + exp(2) + exp(3)) - 1) / 2) < 1e-6);
    labels[1] = 3;
    CHECK(vida_loss(VIDA_LOSS_SOFTMAX_CE, &tl, &tt, &loss, &td) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "label 3") != NULL);
    vida_tensor_f32(&tt, soft, 2, s2);
    CHECK_OK(vida_loss(VIDA_LOSS_SOFTMAX_CE_SOFT, &tl, &tt, &loss, &td));
    want = (0.5 * (log(exp(1) + exp(2) + exp(3)) - 2) + 0.5 * (log(exp(1) + exp(2) + exp(3)) - 3) + l1) / 2;
    CHECKF(fabs(loss - want) < 1e-6, "%g vs %g", (double)loss, want);
    vida_tensor_f32(&tt, hot, 2, s2);
    CHECK_OK(vida_loss(VIDA_LOSS_SIGMOID_BCE, &tl, &tt, &loss, &td));
    want = 0;
    for (i = 0; i < 6; i++)
        want += hot[i] ? log1p(exp(-logits[i])) : log1p(exp(logits[i]));
    CHECKF(fabs(loss - want / 6) < 1e-6, "%g vs %g", (double)loss, want / 6);
    CHECK(fabs(d[0] - (1 / (1 + exp(-1.0)) - 0) / 6) < 1e-6);
    logits[0] = NAN;
    CHECK(vida_loss(VIDA_LOSS_SIGMOID_BCE, &tl, &tt, &loss, &td) == VIDA_ENONFINITE);
}

TEST(model, api_misuse_returns_errors)
{
    vida_context *ctx = ctx_new(1);
    vida_model_params p;
    vida_model *m = NULL;
    float buf[16];
    int64_t shape[5] = {1, 3, 1, 8, 8}, oshape[2] = {1, 400};
    vida_tensor tx, tl;
    vida_model_params_init(&p);
    CHECK(vida_model_create(NULL, ctx, &p) == VIDA_EINVAL);
    CHECK(vida_model_create(&m, NULL, &p) == VIDA_EINVAL);
    p.size = 3;
    CHECK(vida_model_create(&m, ctx, &p) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "params.size") != NULL);
    vida_model_params_init(&p);
    p.depth = 19;
    CHECK(vida_model_create(&m, ctx, &p) == VIDA_EUNSUPPORTED);
    vida_model_params_init(&p);
    p.width = 0.0f;
    CHECK(vida_model_create(&m, ctx, &p) == VIDA_EINVAL);
    CHECK(m == NULL);
    vida_model_params_init(&p);
    p.depth = 10;
    p.width = 0.125f;
    CHECK_OK(vida_model_create(&m, ctx, &p));
    vida_tensor_f32(&tx, buf, 5, shape);
    vida_tensor_f32(&tl, buf, 2, oshape);
    CHECK(vida_model_forward(m, &tx, &tl, NULL) == VIDA_EINVAL); /* H, W < 16 */
    CHECK(strstr(vida_last_error(), "H, W >= 16") != NULL);
    CHECK(vida_model_forward(NULL, &tx, &tl, NULL) == VIDA_EINVAL);
    CHECK(vida_model_forward(m, NULL, &tl, NULL) == VIDA_EINVAL);
    {
        /* a tensor of another dtype: refused, naming the input (not read as floats) */
        vida_tensor bad = tx;
        bad.dtype = VIDA_DTYPE_U8;
        CHECK(vida_model_forward(m, &bad, &tl, NULL) == VIDA_EINVAL);
        CHECKF(strstr(vida_last_error(), "input") != NULL, "%s", vida_last_error());
        bad = tl;
        bad.dtype = VIDA_DTYPE_I32;
        CHECK(vida_model_forward(m, &tx, &bad, NULL) == VIDA_EINVAL);
    }
    CHECK(vida_model_backward(m, &tl, NULL) == VIDA_ESTATE);
    CHECK(vida_model_get_tensor(m, "no.such", buf, 1) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "no.such") != NULL);
    CHECK(vida_model_get_tensor(m, "fc.bias", buf, 1) == VIDA_EINVAL);
    CHECK(vida_model_set_mode(m, 5) == VIDA_EINVAL);
    {
        vida_model *m2 = (vida_model *)1;
        CHECK(vida_model_load(&m2, NULL, "x") == VIDA_EINVAL);
        CHECK(m2 == NULL); /* *out is cleared on failure */
    }
    CHECK(vida_model_save(NULL, "x") == VIDA_EINVAL);
    vida_model_free(NULL);
    vida_context_free(NULL);
    vida_model_free(m);
    vida_context_free(ctx);
}

/* --- golden tests against PyTorch -------------------------------------------------- */

static vidai_st_file *load_fixture(const char *name, const char *suffix)
{
    char path[512];
    vidai_st_file *f = NULL;
    snprintf(path, sizeof path, "%s/golden/%s.%s", vt_data_dir(), name, suffix);
    if (vidai_st_read(&f, path) != VIDA_OK) {
        fprintf(stderr, "  %s\n", vida_last_error());
        return NULL;
    }
    return f;
}

static vida_model *golden_model(vida_context *ctx, const char *name, const vidai_st_file *fx)
{
    char header[512], path[512];
    vida_model *m = NULL;
    snprintf(header, sizeof header, "%s/golden/%s.header.json", vt_data_dir(), name);
    snprintf(path, sizeof path, "%s/%s.safetensors", vt_tmp_dir(), name);
    if (gu_rebuild_model(header, fx, path) != 0) {
        fprintf(stderr, "  cannot rebuild %s from %s\n", path, header);
        return NULL;
    }
    if (vida_model_load(&m, ctx, path) != VIDA_OK)
        fprintf(stderr, "  %s\n", vida_last_error());
    return m;
}

static void f32_view(vida_tensor *t, const vidai_st_tensor *st)
{
    int i;
    memset(t, 0, sizeof *t);
    t->data = (void *)st->data;
    t->dtype = VIDA_DTYPE_F32;
    t->layout = VIDA_LAYOUT_NCTHW;
    t->ndim = st->ndim;
    for (i = 0; i < st->ndim; i++)
        t->shape[i] = st->shape[i];
}

/* The same model and input through `vidaction forward`: the program's output must match too. */
static double cli_forward_err(const char *name, const vidai_st_tensor *in, const float *ref,
                              int64_t n)
{
    char model[512], input[512], output[512], cmd[2048];
    const char *bin = getenv("VIDACTION") ? getenv("VIDACTION") : "bin/vidaction";
    const char *names[1] = {"input"};
    vida_tensorfile *tf = NULL;
    vida_tensor tx, tl;
    double e = 1e30;
    snprintf(model, sizeof model, "%s/%s.safetensors", vt_tmp_dir(), name);
    snprintf(input, sizeof input, "%s/%s.input.safetensors", vt_tmp_dir(), name);
    snprintf(output, sizeof output, "%s/%s.output.safetensors", vt_tmp_dir(), name);
    f32_view(&tx, in);
    if (vida_tensorfile_write(input, 1, names, &tx) != VIDA_OK)
        return e;
    snprintf(cmd, sizeof cmd, "%s forward '%s' '%s' -o '%s' --threads 2", bin, model, input, output);
    if (system(cmd) != 0 || vida_tensorfile_read(&tf, output) != VIDA_OK)
        return e;
    if (vida_tensorfile_get(tf, "logits", &tl) == VIDA_OK && vida_tensor_numel(&tl) == n)
        e = gu_rel_err(tl.data, ref, n);
    vida_tensorfile_free(tf);
    return e;
}

static void golden_eval(const char *name)
{
    vida_context *ctx = ctx_new(2);
    vidai_st_file *fx = load_fixture(name, "fixture.safetensors");
    vida_model *m;
    const vidai_st_tensor *in, *ref_logits, *ref_feat;
    vida_tensor tx, tl, tf;
    float *logits, *feat;
    double e_logits, e_feat;
    CHECKF(fx != NULL, "fixture %s missing (make fixtures)", name);
    m = golden_model(ctx, name, fx);
    CHECK(m != NULL);
    in = vidai_st_find(fx, "input");
    ref_logits = vidai_st_find(fx, "logits");
    ref_feat = vidai_st_find(fx, "features");
    CHECK(in && ref_logits && ref_feat);
    logits = malloc(ref_logits->size);
    feat = malloc(ref_feat->size);
    f32_view(&tx, in);
    vida_tensor_f32(&tl, logits, 2, ref_logits->shape);
    vida_tensor_f32(&tf, feat, 2, ref_feat->shape);
    CHECK_OK(vida_model_forward(m, &tx, &tl, &tf));
    {
        float *rl = malloc(ref_logits->size), *rf = malloc(ref_feat->size);
        memcpy(rl, ref_logits->data, ref_logits->size);
        memcpy(rf, ref_feat->data, ref_feat->size);
        e_logits = gu_rel_err(logits, rl, ref_logits->numel);
        e_feat = gu_rel_err(feat, rf, ref_feat->numel);
        if (strcmp(name, "r2plus1d_18") == 0) {
            double e_cli = cli_forward_err(name, in, rl, ref_logits->numel);
            printf("  %s through `vidaction forward`: logits rel err %.2e\n", name, e_cli);
            if (e_cli > 1e-4)
                vt_failed_now = 1;
        }
        free(rl);
        free(rf);
    }
    printf("  %s: |ours - torch| / |torch|: logits %.2e, features %.2e\n", name, e_logits, e_feat);
    CHECKF(e_logits <= 1e-4, "%s logits rel err %g", name, e_logits);
    CHECKF(e_feat <= 1e-4, "%s features rel err %g", name, e_feat);
    free(logits);
    free(feat);
    vida_model_free(m);
    vidai_st_free(fx);
    vida_context_free(ctx);
}

TEST(golden, r2plus1d_18) { golden_eval("r2plus1d_18"); }
TEST(golden, r3d_18) { golden_eval("r3d_18"); }
TEST(golden, mc3_18) { golden_eval("mc3_18"); }
TEST(golden, ig65m_r2plus1d_34) { golden_eval("r2plus1d_34"); }

static double st_scalar(const vidai_st_tensor *t, int64_t i)
{
    float v;
    memcpy(&v, t->data + i * 4, 4);
    return v;
}

TEST(golden, r2plus1d_18_training_step)
{
    vida_context *ctx = ctx_new(2);
    vidai_st_file *fx = load_fixture("r2plus1d_18", "fixture.safetensors");
    vidai_st_file *tr = load_fixture("r2plus1d_18", "train.safetensors");
    vida_model *m;
    const vidai_st_tensor *in, *lab, *ref_loss, *ref_din, *ref_logits;
    vida_tensor tx, tl, tt, td, tdin;
    float *logits, *dlogits, *din, *rdin, loss;
    double e, worst_norm = 0, worst_proj = 0, worst_sample = 0;
    int i, n_checked = 0;
    CHECK(fx && tr);
    m = golden_model(ctx, "r2plus1d_18", fx);
    CHECK(m != NULL);
    in = vidai_st_find(tr, "input");
    lab = vidai_st_find(tr, "labels");
    ref_loss = vidai_st_find(tr, "loss");
    ref_din = vidai_st_find(tr, "dinput");
    ref_logits = vidai_st_find(tr, "logits");
    CHECK(in && lab && ref_loss && ref_din && ref_logits);
    logits = malloc(ref_logits->size);
    dlogits = malloc(ref_logits->size);
    din = malloc(ref_din->size);
    rdin = malloc(ref_din->size);
    memcpy(rdin, ref_din->data, ref_din->size);
    f32_view(&tx, in);
    vida_tensor_f32(&tl, logits, 2, ref_logits->shape);
    vida_tensor_f32(&td, dlogits, 2, ref_logits->shape);
    vida_tensor_f32(&tdin, din, 5, ref_din->shape);
    memset(&tt, 0, sizeof tt);
    tt.data = (void *)lab->data;
    tt.dtype = VIDA_DTYPE_I32;
    tt.ndim = 1;
    tt.shape[0] = lab->shape[0];
    CHECK_OK(vida_model_set_mode(m, VIDA_MODE_TRAIN));
    CHECK_OK(vida_model_forward(m, &tx, &tl, NULL));
    CHECK_OK(vida_loss(VIDA_LOSS_SOFTMAX_CE, &tl, &tt, &loss, &td));
    CHECK_OK(vida_model_zero_grad(m));
    CHECK_OK(vida_model_backward(m, &td, &tdin));
    e = fabs(loss - st_scalar(ref_loss, 0)) / fabs(st_scalar(ref_loss, 0));
    printf("  loss %.6f (torch %.6f), rel err %.2e\n", (double)loss, st_scalar(ref_loss, 0), e);
    CHECK(e <= 1e-3);
    e = gu_rel_err(din, rdin, ref_din->numel);
    printf("  input gradient rel err %.2e\n", e);
    CHECK(e <= 1e-3);
    for (i = 0; i < vida_model_n_tensors(m); i++) {
        const char *name;
        int ndim, dtype, k;
        int64_t shape[8], numel = 1, j;
        char key[300];
        const vidai_st_tensor *gn, *gp, *gs, *after;
        float *g;
        double norm = 0, ref_norm;
        CHECK_OK(vida_model_tensor_info(m, i, &name, &ndim, shape, &dtype));
        for (k = 0; k < ndim; k++)
            numel *= shape[k];
        snprintf(key, sizeof key, "after:%s", name);
        after = vidai_st_find(tr, key);
        if (after) {
            /* running statistics after the step */
            float *v = malloc((size_t)numel * sizeof(float));
            if (dtype == VIDA_DTYPE_I64) {
                int64_t want;
                memcpy(&want, after->data, 8);
                CHECK_OK(vida_model_get_tensor(m, name, v, 1));
                CHECKF((int64_t)v[0] == want, "%s: %g vs %lld", name, (double)v[0], (long long)want);
            } else {
                float *r = malloc(after->size);
                memcpy(r, after->data, after->size);
                CHECK_OK(vida_model_get_tensor(m, name, v, numel));
                e = gu_rel_err(v, r, numel);
                CHECKF(e <= 1e-4, "%s after the step: rel err %g", name, e);
                free(r);
            }
            free(v);
            continue;
        }
        snprintf(key, sizeof key, "grad_norm:%s", name);
        gn = vidai_st_find(tr, key);
        snprintf(key, sizeof key, "grad_proj:%s", name);
        gp = vidai_st_find(tr, key);
        snprintf(key, sizeof key, "grad_sample:%s", name);
        gs = vidai_st_find(tr, key);
        CHECKF(gn && gp && gs, "no reference gradient for %s", name);
        g = malloc((size_t)numel * sizeof(float));
        CHECK_OK(vida_model_get_grad(m, name, g, numel));
        for (j = 0; j < numel; j++)
            norm += (double)g[j] * g[j];
        norm = sqrt(norm);
        ref_norm = st_scalar(gn, 0);
        e = fabs(norm - ref_norm) / (ref_norm > 0 ? ref_norm : 1);
        if (e > worst_norm)
            worst_norm = e;
        CHECKF(e <= 1e-3, "%s: gradient norm %g vs torch %g", name, norm, ref_norm);
        for (k = 0; k < 4; k++) {
            char pname[320];
            uint32_t key32;
            double proj = 0;
            snprintf(pname, sizeof pname, "proj%d:%s", k, name);
            key32 = gu_fnv1a32(pname);
            for (j = 0; j < numel; j++)
                proj += (double)g[j] * gu_u(key32, (uint64_t)j);
            e = fabs(proj - st_scalar(gp, k)) / (ref_norm > 0 ? ref_norm : 1);
            if (e > worst_proj)
                worst_proj = e;
            CHECKF(e <= 2e-3, "%s: projection %d %g vs torch %g (|g| %g)", name, k, proj,
                   st_scalar(gp, k), ref_norm);
        }
        for (k = 0; k < 32; k++) {
            const uint32_t idx = gu_lowbias32((uint32_t)k * 0x9E3779B9u + gu_fnv1a32(name)) % (uint32_t)numel;
            const double ref = st_scalar(gs, k), rms = ref_norm / sqrt((double)numel);
            e = fabs(g[idx] - ref) / (fabs(ref) + 0.1 * rms + 1e-30);
            if (e > worst_sample)
                worst_sample = e;
            CHECKF(e <= 1e-3, "%s[%u]: %g vs torch %g", name, idx, (double)g[idx], ref);
        }
        free(g);
        n_checked++;
    }
    printf("  %d parameter gradients: worst rel err norm %.2e, projection %.2e, element %.2e\n",
           n_checked, worst_norm, worst_proj, worst_sample);
    CHECK(n_checked > 100);
    free(logits);
    free(dlogits);
    free(din);
    free(rdin);
    vida_model_free(m);
    vidai_st_free(fx);
    vidai_st_free(tr);
    vida_context_free(ctx);
}

#include "nn/nn.h"

TEST(model, eval_keeps_only_live_activations)
{
    /* R(2+1)D-152 has hundreds of activation slots; inference needs a handful of buffers */
    vida_context *ctx = ctx_new(2);
    vida_model_params p;
    vida_model *m = NULL;
    int64_t shape[5] = {1, 3, 4, 32, 32}, oshape[2] = {1, 5}, i;
    float x[3 * 4 * 32 * 32], a[5], b[5], c[5];
    vida_tensor tx, tl;
    vida_model_params_init(&p);
    p.depth = 152;
    p.width = 0.0625f;
    p.num_classes = 5;
    CHECK_OK(vida_model_create(&m, ctx, &p));
    for (i = 0; i < (int64_t)(sizeof x / sizeof x[0]); i++)
        x[i] = sinf((float)i);
    vida_tensor_f32(&tx, x, 5, shape);
    vida_tensor_f32(&tl, a, 2, oshape);
    CHECK_OK(vida_model_forward(m, &tx, &tl, NULL));
    printf("  %d slots, %d eval buffers\n", m->n_slots, m->n_bufs);
    CHECK(m->n_slots > 400);
    CHECK(m->n_bufs <= 8);
    /* the same answer again, after a training forward in between, and with fresh buffers */
    vida_tensor_f32(&tl, b, 2, oshape);
    CHECK_OK(vida_model_forward(m, &tx, &tl, NULL));
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK_OK(vida_model_set_mode(m, VIDA_MODE_TRAIN));
    CHECK_OK(vida_model_forward(m, &tx, &tl, NULL));
    CHECK_OK(vida_model_set_mode(m, VIDA_MODE_EVAL));
    vida_tensor_f32(&tl, c, 2, oshape);
    CHECK_OK(vida_model_forward(m, &tx, &tl, NULL));
    for (i = 0; i < 5; i++)
        CHECK(isfinite(c[i]));
    vida_model_free(m);
    vida_context_free(ctx);
}

/* torchvision resnet18 on every frame, logits averaged (the 2D baseline), from make_fixtures.py */
TEST(golden, r2d_18) { golden_eval("r2d_18"); }

/* Tensors come in the converter's (= PyTorch state_dict) order, for every golden model. */
TEST(golden, tensor_order_is_state_dict_order)
{
    static const char *names[] = {"r2plus1d_18", "r3d_18", "mc3_18", "r2plus1d_34", "r2d_18"};
    vida_context *ctx = ctx_new(1);
    size_t k;
    for (k = 0; k < sizeof names / sizeof names[0]; k++) {
        char path[512];
        size_t size = 0, i;
        char *text;
        vidai_json *j = NULL;
        vida_model_params p;
        vida_model *m = NULL;
        int idx = 0;
        snprintf(path, sizeof path, "%s/golden/%s.header.json", vt_data_dir(), names[k]);
        text = vt_read_file(path, &size);
        CHECK(text != NULL);
        CHECK_OK(vidai_json_parse(&j, text, size, path));
        /* a fresh model of the same architecture, made by the C builder */
        vida_model_params_init(&p);
        p.arch = vidai_arch_from_name(vidai_json_get(vidai_json_get(j, "__metadata__"), "arch")->string);
        p.depth = atoi(vidai_json_get(vidai_json_get(j, "__metadata__"), "depth")->string);
        p.midplanes = strcmp(vidai_json_get(vidai_json_get(j, "__metadata__"), "midplanes")->string,
                             "per-conv") == 0 ? VIDA_MIDPLANES_PER_CONV : VIDA_MIDPLANES_PER_BLOCK;
        p.width = 0.0625f; /* names and order do not depend on width */
        CHECK_OK(vida_model_create(&m, ctx, &p));
        for (i = 0; i < j->length; i++) {
            const char *name;
            if (strcmp(j->keys[i], "__metadata__") == 0)
                continue;
            CHECK_OK(vida_model_tensor_info(m, idx++, &name, NULL, NULL, NULL));
            CHECKF(strcmp(name, j->keys[i]) == 0, "%s: tensor %d is %s, state_dict has %s",
                   names[k], idx - 1, name, j->keys[i]);
        }
        CHECK(idx == vida_model_n_tensors(m));
        vida_model_free(m);
        vidai_json_free(j);
        free(text);
    }
    vida_context_free(ctx);
}

static void fill_input(float *x, int64_t n, float phase)
{
    int64_t i;
    for (i = 0; i < n; i++)
        x[i] = sinf((float)i * 0.731f + phase);
}

TEST(model, channels_last_input_and_tensor_access)
{
    vida_context *ctx = ctx_new(2);
    vida_model_params p;
    vida_model *m = NULL;
    enum { N = 2, T = 3, H = 20, W = 18 };
    static float x[N * 3 * T * H * W], xl[N * T * H * W * 3];
    float a[N * 6], b[N * 6], *w, *w2;
    int64_t shape[5] = {N, 3, T, H, W}, lshape[5] = {N, T, H, W, 3}, oshape[2] = {N, 6};
    int64_t n, c, k, numel = 64 * 3 * 3 * 7 * 7;
    vida_tensor tx, tl;
    int i;
    vida_model_params_init(&p);
    p.arch = VIDA_ARCH_R3D;
    p.width = 1.0f;
    p.num_classes = 6;
    CHECK_OK(vida_model_create(&m, ctx, &p));
    fill_input(x, N * 3 * T * H * W, 0.3f);
    for (n = 0; n < N; n++)
        for (c = 0; c < 3; c++)
            for (k = 0; k < T * H * W; k++)
                xl[(n * T * H * W + k) * 3 + c] = x[(n * 3 + c) * T * H * W + k];
    vida_tensor_f32(&tx, x, 5, shape);
    vida_tensor_f32(&tl, a, 2, oshape);
    CHECK_OK(vida_model_forward(m, &tx, &tl, NULL));
    vida_tensor_f32(&tx, xl, 5, lshape);
    tx.layout = VIDA_LAYOUT_NTHWC;
    vida_tensor_f32(&tl, b, 2, oshape);
    CHECK_OK(vida_model_forward(m, &tx, &tl, NULL));
    CHECK(memcmp(a, b, sizeof a) == 0);
    /* stem.0.weight [64,3,3,7,7] out and back in PyTorch layout: unchanged */
    w = malloc((size_t)numel * sizeof(float));
    w2 = malloc((size_t)numel * sizeof(float));
    CHECK_OK(vida_model_get_tensor(m, "stem.0.weight", w, numel));
    CHECK_OK(vida_model_set_tensor(m, "stem.0.weight", w, numel));
    CHECK_OK(vida_model_get_tensor(m, "stem.0.weight", w2, numel));
    CHECK(memcmp(w, w2, (size_t)numel * sizeof(float)) == 0);
    vida_tensor_f32(&tl, b, 2, oshape);
    CHECK_OK(vida_model_forward(m, &tx, &tl, NULL));
    CHECK(memcmp(a, b, sizeof a) == 0);
    /* the eval-mode folded weights follow a change of BN statistics */
    for (i = 0; i < 64; i++)
        w[i] = 4.0f;
    CHECK_OK(vida_model_set_tensor(m, "stem.1.running_var", w, 64));
    CHECK_OK(vida_model_forward(m, &tx, &tl, NULL));
    CHECK(memcmp(a, b, sizeof a) != 0);
    CHECK(vida_model_get_grad(m, "stem.1.running_var", w, 64) == VIDA_EINVAL);
    free(w);
    free(w2);
    vida_model_free(m);
    vida_context_free(ctx);
}

TEST(model, dropout_only_in_training)
{
    vida_context *ctx = ctx_new(1);
    vida_model_params p;
    vida_model *m = NULL;
    static float x[2 * 3 * 2 * 16 * 16];
    float a[8], b[8], c[8], d[8], f[2 * 256];
    int64_t shape[5] = {2, 3, 2, 16, 16}, oshape[2] = {2, 4}, fshape[2] = {2, 0};
    vida_tensor tx, tl, tf;
    vida_model_params_init(&p);
    p.depth = 10;
    p.width = 0.5f;
    p.num_classes = 4;
    p.dropout = 0.5f;
    CHECK_OK(vida_model_create(&m, ctx, &p));
    fshape[1] = vida_model_feature_dim(m);
    CHECK(fshape[1] == 256);
    fill_input(x, (int64_t)(sizeof x / sizeof x[0]), 1.0f);
    vida_tensor_f32(&tx, x, 5, shape);
    vida_tensor_f32(&tf, f, 2, fshape);
    vida_tensor_f32(&tl, a, 2, oshape);
    CHECK_OK(vida_model_forward(m, &tx, &tl, &tf));
    vida_tensor_f32(&tl, b, 2, oshape);
    CHECK_OK(vida_model_forward(m, &tx, &tl, NULL));
    CHECK(memcmp(a, b, sizeof a) == 0); /* eval: no dropout, deterministic */
    CHECK_OK(vida_model_set_mode(m, VIDA_MODE_TRAIN));
    vida_tensor_f32(&tl, c, 2, oshape);
    CHECK_OK(vida_model_forward(m, &tx, &tl, NULL));
    vida_tensor_f32(&tl, d, 2, oshape);
    CHECK_OK(vida_model_forward(m, &tx, &tl, NULL));
    CHECK(memcmp(c, d, sizeof c) != 0); /* a new mask each step */
    CHECK_OK(vida_model_zero_grad(m));
    CHECK_OK(vida_model_backward(m, &tl, NULL));
    vida_model_free(m);
    vida_context_free(ctx);
}

#include "vidaction/optimizer.h"

/*
 * Three SGD steps (lr 0.01, momentum 0.9, weight decay 1e-4, BN in training
 * mode) of r2plus1d_18 on the train fixture's batch, against
 * torch.optim.SGD (test/golden/make_fixtures.py, make_sgd): the losses, 32
 * sampled weights and update values of every tensor, and the BN running
 * statistics after the steps. The classifier starts at torchvision's scale
 * (std 0.01, regenerated here as the script makes it).
 */
TEST(golden, r2plus1d_18_sgd_three_steps)
{
    vida_context *ctx = ctx_new(2);
    vidai_st_file *fx = load_fixture("r2plus1d_18", "fixture.safetensors");
    vidai_st_file *tr = load_fixture("r2plus1d_18", "train.safetensors");
    vidai_st_file *sg = load_fixture("r2plus1d_18", "sgd.safetensors");
    vida_model *m;
    vida_optimizer *o = NULL;
    vida_optimizer_params op;
    const vidai_st_tensor *in, *lab, *ref_loss;
    vida_tensor tx, tl, tt, td;
    float *logits, *dlogits, *fcw, **before;
    int64_t lshape[2];
    double worst_w = 0, worst_d = 0, worst_wn = 0, worst_dn = 0, worst_loss = 0;
    int n_tensors, n_checked = 0;
    CHECK(fx && tr && sg);
    m = golden_model(ctx, "r2plus1d_18", fx);
    CHECK(m != NULL);
    {
        /* the classifier at std 0.01: gen_u("fc.weight") * float(0.01 * sqrt(3)) */
        const uint32_t key = gu_fnv1a32("fc.weight");
        const float s = (float)(0.01 * sqrt(3.0));
        int64_t n = 400 * 512;
        fcw = malloc((size_t)n * sizeof *fcw);
        for (int64_t j = 0; j < n; j++)
            fcw[j] = gu_u(key, (uint64_t)j) * s;
        CHECK_OK(vida_model_set_tensor(m, "fc.weight", fcw, n));
        free(fcw);
    }
    in = vidai_st_find(tr, "input");
    lab = vidai_st_find(tr, "labels");
    ref_loss = vidai_st_find(sg, "loss");
    CHECK(in && lab && ref_loss && ref_loss->numel == 3);
    lshape[0] = lab->shape[0];
    lshape[1] = 400;
    logits = malloc(400 * 2 * sizeof *logits);
    dlogits = malloc(400 * 2 * sizeof *dlogits);
    f32_view(&tx, in);
    vida_tensor_f32(&tl, logits, 2, lshape);
    vida_tensor_f32(&td, dlogits, 2, lshape);
    memset(&tt, 0, sizeof tt);
    tt.data = (void *)lab->data;
    tt.dtype = VIDA_DTYPE_I32;
    tt.ndim = 1;
    tt.shape[0] = lab->shape[0];
    /* the weights before, to compare the updates */
    n_tensors = vida_model_n_tensors(m);
    before = calloc((size_t)n_tensors, sizeof *before);
    for (int i = 0; i < n_tensors; i++) {
        const char *name;
        int ndim, dtype;
        int64_t shape[8], numel = 1;
        CHECK_OK(vida_model_tensor_info(m, i, &name, &ndim, shape, &dtype));
        for (int k = 0; k < ndim; k++)
            numel *= shape[k];
        before[i] = malloc((size_t)numel * sizeof(float));
        CHECK_OK(vida_model_get_tensor(m, name, before[i], numel));
    }
    vida_optimizer_params_init(&op); /* lr 0.01, momentum 0.9, weight decay 1e-4 */
    CHECK_OK(vida_optimizer_create(&o, m, &op));
    CHECK_OK(vida_model_set_mode(m, VIDA_MODE_TRAIN));
    for (int step = 0; step < 3; step++) {
        float loss;
        double e;
        CHECK_OK(vida_model_forward(m, &tx, &tl, NULL));
        CHECK_OK(vida_loss(VIDA_LOSS_SOFTMAX_CE, &tl, &tt, &loss, &td));
        CHECK_OK(vida_model_zero_grad(m));
        CHECK_OK(vida_model_backward(m, &td, NULL));
        CHECK_OK(vida_optimizer_step(o));
        e = fabs(loss - st_scalar(ref_loss, step)) / st_scalar(ref_loss, step);
        printf("  step %d: loss %.6f (torch %.6f), rel err %.2e\n", step, (double)loss,
               st_scalar(ref_loss, step), e);
        worst_loss = e > worst_loss ? e : worst_loss;
    }
    CHECK(worst_loss <= 1e-4);
    for (int i = 0; i < n_tensors; i++) {
        const char *name;
        int ndim, dtype;
        int64_t shape[8], numel = 1;
        char key[300];
        const vidai_st_tensor *as, *dn, *ds, *dp, *af;
        float *w;
        double wrms = 0, drms, e;
        CHECK_OK(vida_model_tensor_info(m, i, &name, &ndim, shape, &dtype));
        for (int k = 0; k < ndim; k++)
            numel *= shape[k];
        w = malloc((size_t)numel * sizeof *w);
        CHECK_OK(vida_model_get_tensor(m, name, w, numel));
        snprintf(key, sizeof key, "after:%s", name);
        if ((af = vidai_st_find(sg, key)) != NULL) {
            /* BN running statistics after three training forwards */
            if (dtype == VIDA_DTYPE_I64) {
                int64_t want;
                memcpy(&want, af->data, 8);
                CHECKF((int64_t)w[0] == want, "%s: %g vs %lld", name, (double)w[0], (long long)want);
            } else {
                float *r = malloc(af->size);
                memcpy(r, af->data, af->size);
                e = gu_rel_err(w, r, numel);
                CHECKF(e <= 1e-4, "%s after the steps: rel err %g", name, e);
                free(r);
            }
            free(w);
            continue;
        }
        snprintf(key, sizeof key, "after_sample:%s", name);
        as = vidai_st_find(sg, key);
        snprintf(key, sizeof key, "delta_norm:%s", name);
        dn = vidai_st_find(sg, key);
        snprintf(key, sizeof key, "delta_sample:%s", name);
        ds = vidai_st_find(sg, key);
        snprintf(key, sizeof key, "delta_proj:%s", name);
        dp = vidai_st_find(sg, key);
        CHECKF(as && dn && ds && dp, "no reference for %s", name);
        for (int64_t j = 0; j < numel; j++)
            wrms += (double)before[i][j] * before[i][j];
        wrms = sqrt(wrms / (double)numel);
        drms = st_scalar(dn, 0) / sqrt((double)numel);
        for (int k = 0; k < 32; k++) {
            const uint32_t idx = gu_lowbias32((uint32_t)k * 0x9E3779B9u + gu_fnv1a32(name)) % (uint32_t)numel;
            double ew = fabs(w[idx] - st_scalar(as, k)) / (wrms + 1e-30);
            double ed = fabs(((double)w[idx] - before[i][idx]) - st_scalar(ds, k)) / (drms + 1e-30);
            worst_w = ew > worst_w ? ew : worst_w;
            worst_d = ed > worst_d ? ed : worst_d;
            CHECKF(ew <= 1e-3, "%s[%u]: %.9g vs torch %.9g (rms %g)", name, idx, (double)w[idx],
                   st_scalar(as, k), wrms);
            CHECKF(ed <= 0.1, "%s[%u]: update %.6g vs torch %.6g (rms %g)", name, idx,
                   (double)w[idx] - before[i][idx], st_scalar(ds, k), drms);
        }
        {
            /* the difference of the updates as a whole: projections on generated directions
               (uniform in [-1, 1), variance 1/3) give about ||difference|| / sqrt(3) each */
            double wnorm = wrms * sqrt((double)numel), dnorm = st_scalar(dn, 0), err = 0;
            for (int k = 0; k < 4; k++) {
                char pname[320];
                uint32_t key32;
                double proj = 0;
                snprintf(pname, sizeof pname, "sgdproj%d:%s", k, name);
                key32 = gu_fnv1a32(pname);
                for (int64_t j = 0; j < numel; j++)
                    proj += ((double)w[j] - before[i][j]) * gu_u(key32, (uint64_t)j);
                e = fabs(proj - st_scalar(dp, k)) * sqrt(3.0);
                err = e > err ? e : err;
            }
            e = err / wnorm;
            worst_wn = e > worst_wn ? e : worst_wn;
            CHECKF(e <= 1e-4, "%s: the weights differ from torch's by %.3g of their norm", name, e);
            e = err / (dnorm + 1e-30);
            worst_dn = e > worst_dn ? e : worst_dn;
            CHECKF(e <= 2e-2, "%s: the update differs from torch's by %.3g of its norm", name, e);
        }
        free(w);
        n_checked++;
    }
    printf("  %d tensors, worst relative errors: weights %.2e (norm), %.2e (element / rms); "
           "updates %.2e (norm), %.2e (element / rms)\n",
           n_checked, worst_wn, worst_w, worst_dn, worst_d);
    CHECK(n_checked > 100);
    for (int i = 0; i < n_tensors; i++)
        free(before[i]);
    free(before);
    free(logits);
    free(dlogits);
    vida_optimizer_free(o);
    vida_model_free(m);
    vidai_st_free(fx);
    vidai_st_free(tr);
    vidai_st_free(sg);
    vida_context_free(ctx);
}

/* --- one handle, two threads ------------------------------------------------------------------ */

#include <pthread.h>
#include <unistd.h>

typedef struct other_call {
    vida_model *m;
    vida_optimizer *o; /* when set: vida_optimizer_step instead of a forward */
    vida_tensor tx, tl;
    int go; /* __atomic: the main thread is about to call */
    int rc;
    char msg[512];
} other_call;

static void *call_from_another_thread(void *arg)
{
    other_call *c = arg;
    while (!__atomic_load_n(&c->go, __ATOMIC_ACQUIRE))
        ;
    usleep(3000); /* inside the main thread's call, which takes far longer */
    c->rc = c->o ? vida_optimizer_step(c->o) : vida_model_forward(c->m, &c->tx, &c->tl, NULL);
    snprintf(c->msg, sizeof c->msg, "%s", c->rc ? vida_last_error() : "");
    return NULL;
}

/*
 * A handle is used by one thread at a time (model.h). A second thread's call
 * while another is inside one is refused with VIDA_ESTATE naming the call and
 * "in use by another thread", instead of racing on the activations; the call
 * that runs gives the single-threaded result, and the handle works afterwards
 * (also after a call that failed). A step of an optimizer of the model is
 * refused the same way. Overlap is timing: up to 10 tries each (a forward
 * here takes tens of ms, the second call starts 3 ms into it).
 */
TEST(model, a_second_thread_gets_estate)
{
    enum { N = 2, T = 8, S = 64, C = 5 };
    static float x[N * 3 * T * S * S];
    float ref[N * C], mine[N * C], theirs[N * C];
    const int64_t xshape[5] = {N, 3, T, S, S}, lshape[2] = {N, C};
    vida_context *ctx = ctx_new(1);
    vida_model_params p;
    vida_model *m = NULL;
    vida_optimizer_params op;
    vida_optimizer *o = NULL;
    vida_tensor tx, tl;
    int round, tries, conflicts[2] = {0, 0};
    CHECK(ctx != NULL);
    vida_model_params_init(&p);
    p.depth = 10;
    p.width = 0.5f;
    p.num_classes = C;
    CHECK_OK(vida_model_create(&m, ctx, &p));
    vida_optimizer_params_init(&op);
    CHECK_OK(vida_optimizer_create(&o, m, &op));
    fill_input(x, (int64_t)(sizeof x / sizeof x[0]), 0.3f);
    vida_tensor_f32(&tx, x, 5, xshape);
    vida_tensor_f32(&tl, ref, 2, lshape);
    CHECK_OK(vida_model_set_mode(m, VIDA_MODE_EVAL));
    CHECK_OK(vida_model_forward(m, &tx, &tl, NULL));
    for (round = 0; round < 2; round++) {
        for (tries = 0; tries < 10 && !conflicts[round]; tries++) {
            other_call c;
            pthread_t th;
            int rc;
            memset(&c, 0, sizeof c);
            c.m = m;
            c.o = round ? o : NULL;
            vida_tensor_f32(&c.tx, x, 5, xshape);
            vida_tensor_f32(&c.tl, theirs, 2, lshape);
            memset(theirs, 0, sizeof theirs);
            memset(mine, 0, sizeof mine);
            CHECK(pthread_create(&th, NULL, call_from_another_thread, &c) == 0);
            vida_tensor_f32(&tl, mine, 2, lshape);
            __atomic_store_n(&c.go, 1, __ATOMIC_RELEASE);
            rc = vida_model_forward(m, &tx, &tl, NULL);
            pthread_join(th, NULL);
            if (rc == VIDA_OK && c.rc == VIDA_OK) /* no overlap this time */
                continue;
            conflicts[round]++;
            printf("  try %d: main %d, other %d: %s\n", tries, rc, c.rc,
                   c.rc ? c.msg : vida_last_error());
            /* exactly one of the two ran, with the single-threaded result */
            CHECK((rc == VIDA_OK) != (c.rc == VIDA_OK));
            CHECK(rc == VIDA_OK || rc == VIDA_ESTATE);
            CHECK(c.rc == VIDA_OK || c.rc == VIDA_ESTATE);
            if (c.rc != VIDA_OK) {
                CHECKF(strstr(c.msg, "in use by another thread") &&
                           strstr(c.msg, round ? "vida_optimizer_step" : "vida_model_forward"),
                       "%s", c.msg);
                CHECK(memcmp(mine, ref, sizeof ref) == 0);
            } else {
                CHECK(memcmp(theirs, ref, sizeof ref) == 0);
            }
        }
        printf("  %s from a second thread: refused in %d of %d tries\n",
               round ? "vida_optimizer_step" : "vida_model_forward", conflicts[round], tries);
        CHECKF(conflicts[round] > 0, "no call overlapped in %d tries", tries);
    }
    /* afterwards, and after a failed call, the handle is free again */
    {
        other_call c;
        pthread_t th;
        vida_tensor bad = tx;
        bad.dtype = VIDA_DTYPE_U8;
        CHECK(vida_model_forward(m, &bad, &tl, NULL) == VIDA_EINVAL);
        memset(&c, 0, sizeof c);
        c.m = m;
        c.go = 1;
        vida_tensor_f32(&c.tx, x, 5, xshape);
        vida_tensor_f32(&c.tl, theirs, 2, lshape);
        CHECK(pthread_create(&th, NULL, call_from_another_thread, &c) == 0);
        pthread_join(th, NULL);
        CHECKF(c.rc == VIDA_OK, "%s", c.msg);
        CHECK(memcmp(theirs, ref, sizeof ref) == 0);
    }
    vida_optimizer_free(o);
    vida_model_free(m);
    vida_context_free(ctx);
}
