/*
 * Tests of the CPU op table (src/backend/cpu) against independent naive
 * double-precision references written here: a direct loop convolution,
 * two-pass batch norm, window-scanning pools, textbook losses.
 *
 * Each op is checked twice: (a) its float forward against the double
 * reference, (b) its backward against central finite differences of the
 * DOUBLE reference forward of a random projection loss L = sum(r * y), so
 * that the differences carry almost no noise. Backward ops are called twice
 * on gradients that start non-zero, which checks that they add.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/gemm.h"
#include "test.h"

#define FWD_TOL 2e-5  /* float forward vs double reference, relative to max |y| */
#define GRAD_TOL 1e-4 /* analytic gradient vs finite differences, relative to max |fd| */
#define FD_STEP 1e-4

/* ---- helpers ------------------------------------------------------------ */

static vidai_pool *g_pool;

static void free_pool(void)
{
    vidai_pool_free(g_pool);
}

/* A 2-thread pool shared by the tests, so the parallel paths run. */
static vidai_pool *test_pool(void)
{
    if (!g_pool && vidai_pool_create(&g_pool, 2) == VIDA_OK)
        atexit(free_pool);
    return g_pool;
}

static uint64_t g_seed = 12345;

/* Uniform in [-1, 1). */
static double urand(void)
{
    g_seed = g_seed * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(g_seed >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

/* Random float array and its exact double copy. */
static void fill(float *f, double *d, int64_t n, double scale)
{
    int64_t i;
    for (i = 0; i < n; i++) {
        f[i] = (float)(urand() * scale);
        if (d)
            d[i] = f[i];
    }
}

static float *falloc(int64_t n)
{
    return calloc((size_t)(n > 0 ? n : 1), sizeof(float));
}

static double *dalloc(int64_t n)
{
    return calloc((size_t)(n > 0 ? n : 1), sizeof(double));
}

/* max |a - b| / max |b|. */
static double rel_err(const float *a, const double *b, int64_t n)
{
    double num = 0.0, den = 0.0;
    int64_t i;
    for (i = 0; i < n; i++) {
        double e = fabs(a[i] - b[i]);
        if (e > num || isnan(e))
            num = e;
        if (fabs(b[i]) > den)
            den = fabs(b[i]);
    }
    return num / (den > 1e-30 ? den : 1e-30);
}

static double dot(const double *a, const double *b, int64_t n)
{
    double s = 0.0;
    int64_t i;
    for (i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* g = (g - g0) / 2: the gradient one call added, given that two calls ran on g0. */
static void added_twice(float *g, const float *g0, int64_t n)
{
    int64_t i;
    for (i = 0; i < n; i++)
        g[i] = (g[i] - g0[i]) * 0.5f;
}

typedef double (*loss_fn)(void *ctx);

/*
 * Central differences of f with respect to p[0..n), at all coordinates when
 * n <= checks, else at `checks` coordinates spread over the array, compared
 * with the analytic gradient g: returns max |g - fd| / max |fd|.
 */
static double fd_check(loss_fn f, void *ctx, double *p, const float *g, int64_t n, int64_t checks)
{
    double num = 0.0, den = 0.0;
    int64_t k, m = n < checks ? n : checks;
    for (k = 0; k < m; k++) {
        int64_t lo = k * n / m, hi = (k + 1) * n / m;
        int64_t i = lo + (int64_t)((urand() + 1.0) * 0.5 * (double)(hi - lo));
        double v, lp, lm, fd, e;
        if (i >= hi)
            i = hi - 1;
        v = p[i];
        p[i] = v + FD_STEP;
        lp = f(ctx);
        p[i] = v - FD_STEP;
        lm = f(ctx);
        p[i] = v;
        fd = (lp - lm) / (2.0 * FD_STEP);
        e = fabs(g[i] - fd);
        if (e > num || isnan(e))
            num = e;
        if (fabs(fd) > den)
            den = fabs(fd);
    }
    return num / (den > 1e-30 ? den : 1e-30);
}

/* ---- convolution ---------------------------------------------------------- */

static int64_t conv_x_size(const vidai_conv_desc *d)
{
    return (int64_t)d->n * d->t * d->h * d->w * d->cin;
}

static int64_t conv_y_size(const vidai_conv_desc *d)
{
    return (int64_t)d->n * d->to * d->ho * d->wo * d->cout;
}

static int64_t conv_w_size(const vidai_conv_desc *d)
{
    return (int64_t)d->cout * d->kt * d->kh * d->kw * d->cin;
}

/* The definition: y[n][to][ho][wo][co] = b[co] + sum x[n][to*st-pt+i][..][..][ci]
 * w[co][i][j][l][ci]. */
static void ref_conv(const vidai_conv_desc *d, const double *x, const double *w, const double *b,
                     int relu, double *y)
{
    const int64_t taps = (int64_t)d->kt * d->kh * d->kw;
    int n, to, ho, wo, co, i, j, l, ci;
    for (n = 0; n < d->n; n++)
        for (to = 0; to < d->to; to++)
            for (ho = 0; ho < d->ho; ho++)
                for (wo = 0; wo < d->wo; wo++) {
                    double *yp =
                        y + ((((int64_t)n * d->to + to) * d->ho + ho) * d->wo + wo) * d->cout;
                    for (co = 0; co < d->cout; co++)
                        yp[co] = b ? b[co] : 0.0;
                    for (i = 0; i < d->kt; i++)
                        for (j = 0; j < d->kh; j++)
                            for (l = 0; l < d->kw; l++) {
                                int ti = to * d->st - d->pt + i, hi = ho * d->sh - d->ph + j;
                                int wi = wo * d->sw - d->pw + l;
                                int64_t tap = ((int64_t)i * d->kh + j) * d->kw + l;
                                const double *xp;
                                if (ti < 0 || ti >= d->t || hi < 0 || hi >= d->h || wi < 0 ||
                                    wi >= d->w)
                                    continue; /* zero padding */
                                xp = x +
                                     ((((int64_t)n * d->t + ti) * d->h + hi) * d->w + wi) * d->cin;
                                for (co = 0; co < d->cout; co++) {
                                    const double *wp = w + (co * taps + tap) * d->cin;
                                    double s = 0.0;
                                    for (ci = 0; ci < d->cin; ci++)
                                        s += xp[ci] * wp[ci];
                                    yp[co] += s;
                                }
                            }
                    if (relu)
                        for (co = 0; co < d->cout; co++)
                            yp[co] = yp[co] < 0.0 ? 0.0 : yp[co];
                }
}

typedef struct conv_ctx {
    const vidai_conv_desc *d;
    double *x, *w, *r, *y;
} conv_ctx;

static double conv_loss(void *p)
{
    conv_ctx *c = p;
    ref_conv(c->d, c->x, c->w, NULL, 0, c->y);
    return dot(c->r, c->y, conv_y_size(c->d));
}

/* Errors of one conv shape: forward plain, forward with bias and ReLU, dx, dw. */
typedef struct conv_errs {
    int rc;
    double fwd, fwd_bias_relu, dx, dw;
} conv_errs;

static conv_errs conv_case(int n, int t, int h, int w, int cin, int cout, int kt, int kh, int kw,
                           int st, int sh, int sw, int pt, int ph, int pw, int64_t checks)
{
    vidai_conv_desc d = {n, t, h, w, cin, cout, kt, kh, kw, st, sh, sw, pt, ph, pw, 0, 0, 0};
    conv_errs e = {0, 0, 0, 0, 0};
    int64_t nx, ny, nw;
    float *x, *wt, *b, *y, *r, *dx, *dx0, *dw, *dw0;
    double *xd, *wd, *bd, *yd, *rd;
    conv_ctx c;
    e.rc = vidai_conv_desc_init(&d);
    if (e.rc)
        return e;
    nx = conv_x_size(&d);
    ny = conv_y_size(&d);
    nw = conv_w_size(&d);
    x = falloc(nx);
    dx = falloc(nx);
    dx0 = falloc(nx);
    wt = falloc(nw);
    dw = falloc(nw);
    dw0 = falloc(nw);
    b = falloc(cout);
    y = falloc(ny);
    r = falloc(ny);
    xd = dalloc(nx);
    wd = dalloc(nw);
    bd = dalloc(cout);
    yd = dalloc(ny);
    rd = dalloc(ny);
    fill(x, xd, nx, 1.0);
    fill(wt, wd, nw, 1.0 / sqrt((double)kt * kh * kw * cin));
    fill(b, bd, cout, 0.5);
    fill(r, rd, ny, 1.0);
    fill(dx0, NULL, nx, 1.0);
    fill(dw0, NULL, nw, 1.0);

    e.rc = vidai_cpu_conv_forward(test_pool(), &d, x, wt, NULL, 0, y);
    ref_conv(&d, xd, wd, NULL, 0, yd);
    e.fwd = rel_err(y, yd, ny);
    e.rc |= vidai_cpu_conv_forward(test_pool(), &d, x, wt, b, 1, y);
    ref_conv(&d, xd, wd, bd, 1, yd);
    e.fwd_bias_relu = rel_err(y, yd, ny);

    /* dL/dy = r; two calls on a non-zero start. */
    memcpy(dx, dx0, (size_t)nx * sizeof *dx);
    e.rc |= vidai_cpu_conv_backward_data(test_pool(), &d, r, wt, dx);
    e.rc |= vidai_cpu_conv_backward_data(test_pool(), &d, r, wt, dx);
    added_twice(dx, dx0, nx);
    memcpy(dw, dw0, (size_t)nw * sizeof *dw);
    e.rc |= vidai_cpu_conv_backward_filter(test_pool(), &d, x, r, dw);
    e.rc |= vidai_cpu_conv_backward_filter(test_pool(), &d, x, r, dw);
    added_twice(dw, dw0, nw);

    c.d = &d;
    c.x = xd;
    c.w = wd;
    c.r = rd;
    c.y = yd;
    e.dx = fd_check(conv_loss, &c, xd, dx, nx, checks);
    e.dw = fd_check(conv_loss, &c, wd, dw, nw, checks);

    free(x);
    free(dx);
    free(dx0);
    free(wt);
    free(dw);
    free(dw0);
    free(b);
    free(y);
    free(r);
    free(xd);
    free(wd);
    free(bd);
    free(yd);
    free(rd);
    return e;
}

#define CHECK_CONV(e)                                                                              \
    do {                                                                                           \
        CHECK_OK((e).rc);                                                                          \
        CHECKF((e).fwd < FWD_TOL, "forward rel err %g", (e).fwd);                                  \
        CHECKF((e).fwd_bias_relu < FWD_TOL, "forward+bias+relu rel err %g", (e).fwd_bias_relu);    \
        CHECKF((e).dx < GRAD_TOL, "backward_data vs finite differences: rel err %g", (e).dx);      \
        CHECKF((e).dw < GRAD_TOL, "backward_filter vs finite differences: rel err %g", (e).dw);    \
    } while (0)

TEST(backend, conv_desc_sizes)
{
    vidai_conv_desc d = {2, 16, 112, 112, 3, 45, 1, 7, 7, 1, 2, 2, 0, 3, 3, 0, 0, 0};
    vidai_conv_desc bad;
    CHECK_OK(vidai_conv_desc_init(&d));
    CHECK(d.to == 16 && d.ho == 56 && d.wo == 56);
    /* floor: (6 + 2 - 3) / 2 + 1 = 3; (5 - 3) / 2 + 1 = 2 */
    d = (vidai_conv_desc){1, 5, 6, 5, 4, 4, 3, 3, 3, 2, 2, 2, 0, 1, 0, 0, 0, 0};
    CHECK_OK(vidai_conv_desc_init(&d));
    CHECK(d.to == 2 && d.ho == 3 && d.wo == 2);
    /* T = 1 with temporal padding keeps one frame. */
    d = (vidai_conv_desc){1, 1, 4, 4, 4, 4, 3, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0};
    CHECK_OK(vidai_conv_desc_init(&d));
    CHECK(d.to == 1 && d.ho == 4 && d.wo == 4);

    bad = d;
    bad.kt = 4; /* 1 + 2 - 4 < 0: empty */
    CHECK(vidai_conv_desc_init(&bad) == VIDA_EINVAL);
    CHECK(strlen(vida_last_error()) > 0);
    bad = d;
    bad.cin = 0;
    CHECK(vidai_conv_desc_init(&bad) == VIDA_EINVAL);
    bad = d;
    bad.sh = 0;
    CHECK(vidai_conv_desc_init(&bad) == VIDA_EINVAL);
    bad = d;
    bad.pw = -1;
    CHECK(vidai_conv_desc_init(&bad) == VIDA_EINVAL);
    bad = d;
    bad.n = 0;
    CHECK(vidai_conv_desc_init(&bad) == VIDA_EINVAL);
}

/* The spatial half of a (2+1)D block. */
TEST(backend, conv_1x3x3)
{
    conv_errs e = conv_case(2, 2, 5, 6, 4, 5, 1, 3, 3, 1, 1, 1, 0, 1, 1, 1000);
    CHECK_CONV(e);
}

TEST(backend, conv_1x3x3_stride2_c45)
{
    conv_errs e = conv_case(1, 3, 7, 5, 45, 6, 1, 3, 3, 1, 2, 2, 0, 1, 1, 400);
    CHECK_CONV(e);
}

/* The temporal half: the implicit-GEMM path. */
TEST(backend, conv_3x1x1)
{
    conv_errs e = conv_case(2, 4, 3, 2, 5, 45, 3, 1, 1, 1, 1, 1, 1, 0, 0, 1000);
    CHECK_CONV(e);
}

TEST(backend, conv_3x1x1_tstride2)
{
    conv_errs e = conv_case(2, 5, 2, 3, 6, 7, 3, 1, 1, 2, 1, 1, 1, 0, 0, 1000);
    CHECK_CONV(e);
}

TEST(backend, conv_3x1x1_t1)
{
    conv_errs e = conv_case(2, 1, 3, 3, 4, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0, 1000);
    CHECK_CONV(e);
}

/* Temporal, no padding, several frames per GEMM and a tap that skips frames. */
TEST(backend, conv_2x1x1_nopad)
{
    conv_errs e = conv_case(1, 4, 2, 2, 3, 5, 2, 1, 1, 1, 1, 1, 0, 0, 0, 1000);
    CHECK_CONV(e);
}

/* Temporal conv on frames too big for one chunk (forward runs in several chunks). */
TEST(backend, conv_3x1x1_chunks)
{
    conv_errs e = conv_case(1, 4, 24, 24, 3, 230, 3, 1, 1, 1, 1, 1, 1, 0, 0, 12);
    CHECK_CONV(e);
}

/* Pointwise: one GEMM on the input in place. */
TEST(backend, conv_1x1x1_c45_c230)
{
    conv_errs e = conv_case(2, 2, 3, 3, 45, 230, 1, 1, 1, 1, 1, 1, 0, 0, 0, 150);
    CHECK_CONV(e);
}

/* Pointwise with more rows than one epilogue chunk. */
TEST(backend, conv_1x1x1_chunks)
{
    conv_errs e = conv_case(1, 2, 40, 40, 3, 230, 1, 1, 1, 1, 1, 1, 0, 0, 0, 12);
    CHECK_CONV(e);
}

/* 1x1x1 with temporal stride and padding: the temporal path, output frames of bias only. */
TEST(backend, conv_1x1x1_tpad_tstride2)
{
    conv_errs e = conv_case(2, 3, 2, 3, 5, 6, 1, 1, 1, 2, 1, 1, 1, 0, 0, 1000);
    CHECK_CONV(e);
}

/* The strided shortcut of a downsampling block. */
TEST(backend, conv_1x1x1_stride2_c230)
{
    conv_errs e = conv_case(1, 3, 5, 5, 230, 45, 1, 1, 1, 2, 2, 2, 0, 0, 0, 150);
    CHECK_CONV(e);
}

TEST(backend, conv_3x3x3)
{
    conv_errs e = conv_case(1, 3, 4, 4, 3, 4, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1000);
    CHECK_CONV(e);
}

TEST(backend, conv_3x3x3_t1_stride2)
{
    conv_errs e = conv_case(2, 1, 5, 5, 4, 5, 3, 3, 3, 1, 2, 2, 1, 1, 1, 1000);
    CHECK_CONV(e);
}

/* 3x3x3 with 230 input channels: patches of 6210 floats, several im2col chunks. */
TEST(backend, conv_3x3x3_c230_chunks)
{
    conv_errs e = conv_case(1, 2, 8, 8, 230, 8, 3, 3, 3, 1, 1, 1, 1, 1, 1, 12);
    CHECK_CONV(e);
}

/* a and b agree to 1e-6 of the largest |a| */
static int near_f(const float *a, const float *b, int64_t n)
{
    double m = 0, e = 0;
    for (int64_t i = 0; i < n; i++) {
        m = fmax(m, fabs(a[i]));
        e = fmax(e, fabs((double)a[i] - b[i]));
    }
    return e <= 1e-6 * m;
}

/* The R(2+1)D stem. */
TEST(backend, conv_1x7x7_stem)
{
    conv_errs e = conv_case(1, 2, 9, 10, 3, 45, 1, 7, 7, 1, 2, 2, 0, 3, 3, 150);
    CHECK_CONV(e);
}

/* The parallel copies (im2col, col2im bands) and the GEMMs cut among the pool's threads give
   the serial results: to a relative 1e-6, since a cut GEMM may sum in another order
   (backend/cpu/gemm.c). */
TEST(backend, conv_pool_matches_serial)
{
    vidai_conv_desc d = {2, 3, 6, 5, 45, 7, 3, 3, 3, 1, 2, 1, 1, 1, 1, 0, 0, 0};
    int64_t nx, ny, nw;
    float *x, *w, *y1, *y2, *dx1, *dx2, *dw1, *dw2;
    int ok;
    CHECK_OK(vidai_conv_desc_init(&d));
    nx = conv_x_size(&d);
    ny = conv_y_size(&d);
    nw = conv_w_size(&d);
    x = falloc(nx);
    w = falloc(nw);
    y1 = falloc(ny);
    y2 = falloc(ny);
    dx1 = falloc(nx);
    dx2 = falloc(nx);
    dw1 = falloc(nw);
    dw2 = falloc(nw);
    fill(x, NULL, nx, 1.0);
    fill(w, NULL, nw, 0.1);
    ok = vidai_cpu_conv_forward(NULL, &d, x, w, NULL, 1, y1) == 0 &&
         vidai_cpu_conv_forward(test_pool(), &d, x, w, NULL, 1, y2) == 0 &&
         vidai_cpu_conv_backward_data(NULL, &d, y1, w, dx1) == 0 &&
         vidai_cpu_conv_backward_data(test_pool(), &d, y1, w, dx2) == 0 &&
         vidai_cpu_conv_backward_filter(NULL, &d, x, y1, dw1) == 0 &&
         vidai_cpu_conv_backward_filter(test_pool(), &d, x, y1, dw2) == 0;
    ok = ok && near_f(y1, y2, ny) && near_f(dx1, dx2, nx) && near_f(dw1, dw2, nw);
    free(x);
    free(w);
    free(y1);
    free(y2);
    free(dx1);
    free(dx2);
    free(dw1);
    free(dw2);
    CHECK(ok);
}

/* ---- batch norm ------------------------------------------------------------ */

typedef struct bn_ctx {
    int64_t rows;
    int c;
    int train;
    double eps;
    double *x, *gamma, *beta, *mean, *var, *r, *y;
} bn_ctx;

/* Two-pass statistics in double, straight from the definition. */
static void ref_bn_stats(int64_t rows, int c, const double *x, double *mean, double *var)
{
    int64_t i;
    int k;
    for (k = 0; k < c; k++) {
        double s = 0.0, q = 0.0;
        for (i = 0; i < rows; i++)
            s += x[i * c + k];
        mean[k] = s / (double)rows;
        for (i = 0; i < rows; i++)
            q += (x[i * c + k] - mean[k]) * (x[i * c + k] - mean[k]);
        var[k] = q / (double)rows;
    }
}

static void ref_bn(bn_ctx *b)
{
    int64_t i;
    int k;
    if (b->train)
        ref_bn_stats(b->rows, b->c, b->x, b->mean, b->var);
    for (k = 0; k < b->c; k++) {
        double sd = sqrt(b->var[k] + b->eps);
        for (i = 0; i < b->rows; i++)
            b->y[i * b->c + k] = (b->x[i * b->c + k] - b->mean[k]) / sd * b->gamma[k] + b->beta[k];
    }
}

static double bn_loss(void *p)
{
    bn_ctx *b = p;
    ref_bn(b);
    return dot(b->r, b->y, b->rows * b->c);
}

typedef struct bn_errs {
    double y, mean, invstd, run_mean, run_var, dx, dgamma, dbeta;
    int64_t dx_set_bad; /* values where overwriting dx differs from adding it to zeros */
} bn_errs;

static bn_errs bn_train_case(int64_t rows, int c, double offset, int64_t checks)
{
    const float eps = 1e-5f, momentum = 0.1f;
    const int64_t n = rows * c;
    bn_errs e;
    bn_ctx b;
    float *x = falloc(n), *y = falloc(n), *r = falloc(n), *dx = falloc(n), *dx0 = falloc(n);
    float *g = falloc(c), *bt = falloc(c), *rm = falloc(c), *rv = falloc(c), *sm = falloc(c);
    float *si = falloc(c), *dg = falloc(c), *dg0 = falloc(c), *db = falloc(c), *db0 = falloc(c);
    double *rm_want = dalloc(c), *rv_want = dalloc(c), *invstd_want = dalloc(c);
    int64_t i;
    int k;
    memset(&e, 0, sizeof e);
    memset(&b, 0, sizeof b);
    b.rows = rows;
    b.c = c;
    b.train = 1;
    b.eps = eps;
    b.x = dalloc(n);
    b.y = dalloc(n);
    b.r = dalloc(n);
    b.gamma = dalloc(c);
    b.beta = dalloc(c);
    b.mean = dalloc(c);
    b.var = dalloc(c);
    for (i = 0; i < n; i++) {
        /* Channel k has mean ~offset*k and a spread that depends on k. */
        k = (int)(i % c);
        x[i] = (float)(offset * k + urand() * (0.5 + k % 3));
        b.x[i] = x[i];
    }
    fill(g, b.gamma, c, 1.0);
    fill(bt, b.beta, c, 1.0);
    fill(rm, NULL, c, 1.0);
    for (k = 0; k < c; k++)
        rv[k] = 1.0f + 0.5f * (float)urand();
    fill(r, b.r, n, 1.0);
    fill(dx0, NULL, n, 1.0);
    fill(dg0, NULL, c, 1.0);
    fill(db0, NULL, c, 1.0);

    ref_bn(&b);
    for (k = 0; k < c; k++) {
        rm_want[k] = (1.0 - momentum) * rm[k] + momentum * b.mean[k];
        rv_want[k] = (1.0 - momentum) * rv[k] + momentum * b.var[k] * rows / (rows - 1.0);
        invstd_want[k] = 1.0 / sqrt(b.var[k] + eps);
    }
    vidai_cpu_bn_forward_train(test_pool(), rows, c, x, g, bt, eps, momentum, rm, rv, sm, si, y);
    e.y = rel_err(y, b.y, n);
    e.mean = rel_err(sm, b.mean, c);
    e.invstd = rel_err(si, invstd_want, c);
    e.run_mean = rel_err(rm, rm_want, c);
    e.run_var = rel_err(rv, rv_want, c);

    memcpy(dx, dx0, (size_t)n * sizeof *dx);
    memcpy(dg, dg0, (size_t)c * sizeof *dg);
    memcpy(db, db0, (size_t)c * sizeof *db);
    for (k = 0; k < 2; k++)
        vidai_cpu_bn_backward_train(test_pool(), rows, c, x, r, g, sm, si, dx, dg, db, 0);
    added_twice(dx, dx0, n);
    added_twice(dg, dg0, c);
    added_twice(db, db0, c);
    /* overwrite: dx is the one backward's value whatever it held (NaN here); dgamma, dbeta add */
    {
        float *dxs = falloc(n), *dxa = falloc(n);
        int64_t bad = 0;
        memcpy(dg, dg0, (size_t)c * sizeof *dg);
        memset(dxa, 0, (size_t)n * sizeof *dxa);
        vidai_cpu_bn_backward_train(test_pool(), rows, c, x, r, g, sm, si, dxa, dg, NULL, 0);
        for (int64_t q = 0; q < n; q++)
            dxs[q] = NAN;
        vidai_cpu_bn_backward_train(test_pool(), rows, c, x, r, g, sm, si, dxs, dg, NULL, 1);
        for (int64_t q = 0; q < n; q++)
            bad += !(dxs[q] == dxa[q]);
        added_twice(dg, dg0, c);
        e.dx_set_bad = bad;
        free(dxs), free(dxa);
    }
    e.dx = fd_check(bn_loss, &b, b.x, dx, n, checks);
    e.dgamma = fd_check(bn_loss, &b, b.gamma, dg, c, checks);
    e.dbeta = fd_check(bn_loss, &b, b.beta, db, c, checks);

    free(x), free(y), free(r), free(dx), free(dx0), free(g), free(bt), free(rm), free(rv);
    free(sm), free(si), free(dg), free(dg0), free(db), free(db0);
    free(rm_want), free(rv_want), free(invstd_want);
    free(b.x), free(b.y), free(b.r), free(b.gamma), free(b.beta), free(b.mean), free(b.var);
    return e;
}

#define CHECK_BN_TRAIN(e)                                                                          \
    do {                                                                                           \
        CHECKF((e).y < FWD_TOL, "y rel err %g", (e).y);                                            \
        CHECKF((e).mean < FWD_TOL, "save_mean rel err %g", (e).mean);                              \
        CHECKF((e).invstd < FWD_TOL, "save_invstd rel err %g", (e).invstd);                        \
        CHECKF((e).run_mean < FWD_TOL, "running_mean rel err %g", (e).run_mean);                   \
        CHECKF((e).run_var < FWD_TOL, "running_var rel err %g", (e).run_var);                      \
        CHECKF((e).dx < GRAD_TOL, "dx vs finite differences: rel err %g", (e).dx);                 \
        CHECKF((e).dx_set_bad == 0, "overwriting dx: %ld values differ", (long)(e).dx_set_bad);    \
        CHECKF((e).dgamma < GRAD_TOL, "dgamma vs finite differences: %g", (e).dgamma);             \
        CHECKF((e).dbeta < GRAD_TOL, "dbeta vs finite differences: %g", (e).dbeta);                \
    } while (0)

TEST(backend, bn_train_small)
{
    bn_errs e = bn_train_case(7, 45, 0.3, 1000);
    CHECK_BN_TRAIN(e);
}

/* Two channel segments, several row parts, channel means far from zero. */
TEST(backend, bn_train_large)
{
    bn_errs e = bn_train_case(2100, 230, 0.2, 20);
    CHECK_BN_TRAIN(e);
}

/* Running statistics by hand: channel 0 = {1,2,3,4}, channel 1 = {-2,0,2,4}. */
TEST(backend, bn_train_running_stats_hand)
{
    const float x[8] = {1, -2, 2, 0, 3, 2, 4, 4};
    const float gamma[2] = {2.0f, 0.5f}, beta[2] = {0.25f, -1.0f};
    float rm[2] = {0.5f, -1.0f}, rv[2] = {2.0f, 3.0f}, sm[2], si[2], y[8];
    int i;
    vidai_cpu_bn_forward_train(NULL, 4, 2, x, gamma, beta, 0.0f, 0.1f, rm, rv, sm, si, y);
    /* means 2.5 and 1; biased variances 1.25 and 5; unbiased 5/3 and 20/3 */
    CHECK(fabs(sm[0] - 2.5) < 1e-6 && fabs(sm[1] - 1.0) < 1e-6);
    CHECK(fabs(si[0] - 1.0 / sqrt(1.25)) < 1e-6 && fabs(si[1] - 1.0 / sqrt(5.0)) < 1e-6);
    /* r = 0.9 r + 0.1 batch */
    CHECK(fabs(rm[0] - 0.7) < 1e-6 && fabs(rm[1] - (-0.8)) < 1e-6);
    CHECK(fabs(rv[0] - (1.8 + 0.5 / 3.0)) < 1e-6 && fabs(rv[1] - (2.7 + 2.0 / 3.0)) < 1e-6);
    /* y of the first row: (1 - 2.5)/sqrt(1.25)*2 + 0.25, (-2 - 1)/sqrt(5)*0.5 - 1 */
    CHECK(fabs(y[0] - (-1.5 / sqrt(1.25) * 2.0 + 0.25)) < 1e-5);
    CHECK(fabs(y[1] - (-3.0 / sqrt(5.0) * 0.5 - 1.0)) < 1e-5);
    /* Without running buffers it still normalises. */
    vidai_cpu_bn_forward_train(NULL, 4, 2, x, gamma, beta, 0.0f, 0.1f, NULL, NULL, sm, si, y);
    for (i = 0; i < 2; i++)
        CHECK(fabs(y[6 + i] - ((x[6 + i] - sm[i]) * si[i] * gamma[i] + beta[i])) < 1e-5);
}

/* The statistics do not depend on the thread count, to the bit. */
TEST(backend, bn_deterministic)
{
    const int64_t rows = 5000;
    const int c = 37, n = (int)(rows * c);
    float *x = falloc(n), *y1 = falloc(n), *y2 = falloc(n), *g = falloc(c), *bt = falloc(c);
    float sm1[37], si1[37], sm2[37], si2[37];
    int ok;
    fill(x, NULL, n, 3.0);
    fill(g, NULL, c, 1.0);
    fill(bt, NULL, c, 1.0);
    vidai_cpu_bn_forward_train(NULL, rows, c, x, g, bt, 1e-5f, 0.1f, NULL, NULL, sm1, si1, y1);
    vidai_cpu_bn_forward_train(test_pool(), rows, c, x, g, bt, 1e-5f, 0.1f, NULL, NULL, sm2, si2,
                               y2);
    ok = memcmp(y1, y2, (size_t)n * sizeof *y1) == 0 && memcmp(sm1, sm2, sizeof sm1) == 0 &&
         memcmp(si1, si2, sizeof si1) == 0;
    free(x), free(y1), free(y2), free(g), free(bt);
    CHECK(ok);
}

TEST(backend, bn_eval)
{
    const int64_t rows = 300;
    const int c = 45;
    const int64_t n = rows * c;
    const float eps = 1e-3f;
    float *x = falloc(n), *y = falloc(n), *r = falloc(n), *dx = falloc(n), *dx0 = falloc(n);
    float *g = falloc(c), *bt = falloc(c), *m = falloc(c), *v = falloc(c);
    float *dg = falloc(c), *dg0 = falloc(c), *db = falloc(c), *db0 = falloc(c);
    double ey, edx, edg, edb, edx_only;
    bn_ctx b;
    int k;
    memset(&b, 0, sizeof b);
    b.rows = rows;
    b.c = c;
    b.eps = eps;
    b.x = dalloc(n);
    b.y = dalloc(n);
    b.r = dalloc(n);
    b.gamma = dalloc(c);
    b.beta = dalloc(c);
    b.mean = dalloc(c);
    b.var = dalloc(c);
    fill(x, b.x, n, 2.0);
    fill(g, b.gamma, c, 1.0);
    fill(bt, b.beta, c, 1.0);
    fill(m, b.mean, c, 0.5);
    for (k = 0; k < c; k++) {
        v[k] = 0.2f + (float)fabs(urand());
        b.var[k] = v[k];
    }
    fill(r, b.r, n, 1.0);
    fill(dx0, NULL, n, 1.0);
    fill(dg0, NULL, c, 1.0);
    fill(db0, NULL, c, 1.0);
    vidai_cpu_bn_forward_eval(test_pool(), rows, c, x, g, bt, m, v, eps, y);
    ref_bn(&b);
    ey = rel_err(y, b.y, n);

    memcpy(dx, dx0, (size_t)n * sizeof *dx);
    memcpy(dg, dg0, (size_t)c * sizeof *dg);
    memcpy(db, db0, (size_t)c * sizeof *db);
    for (k = 0; k < 2; k++)
        vidai_cpu_bn_backward_eval(test_pool(), rows, c, x, r, g, m, v, eps, dx, dg, db);
    added_twice(dx, dx0, n);
    added_twice(dg, dg0, c);
    added_twice(db, db0, c);
    edx = fd_check(bn_loss, &b, b.x, dx, n, 200);
    edg = fd_check(bn_loss, &b, b.gamma, dg, c, 200);
    edb = fd_check(bn_loss, &b, b.beta, db, c, 200);
    /* dgamma, dbeta may be NULL (frozen BN). */
    memset(dx, 0, (size_t)n * sizeof *dx);
    vidai_cpu_bn_backward_eval(NULL, rows, c, x, r, g, m, v, eps, dx, NULL, NULL);
    edx_only = fd_check(bn_loss, &b, b.x, dx, n, 200);

    free(x), free(y), free(r), free(dx), free(dx0), free(g), free(bt), free(m), free(v);
    free(dg), free(dg0), free(db), free(db0);
    free(b.x), free(b.y), free(b.r), free(b.gamma), free(b.beta), free(b.mean), free(b.var);
    CHECKF(ey < FWD_TOL, "eval y rel err %g", ey);
    CHECKF(edx < GRAD_TOL, "dx %g", edx);
    CHECKF(edg < GRAD_TOL, "dgamma %g", edg);
    CHECKF(edb < GRAD_TOL, "dbeta %g", edb);
    CHECKF(edx_only < GRAD_TOL, "dx without dgamma/dbeta %g", edx_only);
}

/* ---- elementwise ------------------------------------------------------------- */

typedef struct elt_ctx {
    int64_t n;
    int op; /* 0 relu, 1 add, 2 add+relu */
    double *a, *b, *r;
} elt_ctx;

static double elt_loss(void *p)
{
    elt_ctx *c = p;
    double s = 0.0, v;
    int64_t i;
    for (i = 0; i < c->n; i++) {
        v = c->op == 0 ? c->a[i] : c->a[i] + c->b[i];
        if (c->op != 1 && v < 0.0)
            v = 0.0;
        s += c->r[i] * v;
    }
    return s;
}

/* Values at least 0.05 away from zero, so that differences never cross the ReLU kink. */
static void fill_away_from_zero(float *f, double *d, int64_t n)
{
    int64_t i;
    for (i = 0; i < n; i++) {
        double u = urand();
        f[i] = (float)(u < 0 ? u - 0.05 : u + 0.05);
        d[i] = f[i];
    }
}

TEST(backend, relu)
{
    const int64_t n = 140001; /* several blocks, a ragged end */
    float *x = falloc(n), *y = falloc(n), *r = falloc(n), *dx = falloc(n), *dx0 = falloc(n);
    elt_ctx c = {n, 0, dalloc(n), NULL, dalloc(n)};
    int64_t i, bad = 0;
    double e;
    fill_away_from_zero(x, c.a, n);
    fill(r, c.r, n, 1.0);
    fill(dx0, NULL, n, 1.0);
    vidai_cpu_relu_forward(test_pool(), n, x, y);
    for (i = 0; i < n; i++)
        bad += y[i] != (x[i] > 0 ? x[i] : 0.0f);
    memcpy(dx, dx0, (size_t)n * sizeof *dx);
    vidai_cpu_relu_backward(test_pool(), n, y, r, dx, 0);
    vidai_cpu_relu_backward(test_pool(), n, y, r, dx, 0);
    added_twice(dx, dx0, n);
    e = fd_check(elt_loss, &c, c.a, dx, n, 150);
    /* overwrite: one backward's value whatever dx held (NaN here) */
    memset(dx0, 0, (size_t)n * sizeof *dx0);
    vidai_cpu_relu_backward(test_pool(), n, y, r, dx0, 0);
    for (i = 0; i < n; i++)
        dx[i] = NAN;
    vidai_cpu_relu_backward(test_pool(), n, y, r, dx, 1);
    for (i = 0; i < n; i++)
        bad += !(dx[i] == dx0[i]);
    /* In place, and NaN passes through. */
    x[0] = NAN;
    vidai_cpu_relu_forward(NULL, n, x, x);
    for (i = 1; i < n; i++)
        bad += x[i] < 0.0f;
    bad += !isnan(x[0]);
    free(x), free(y), free(r), free(dx), free(dx0), free(c.a), free(c.r);
    CHECK(bad == 0);
    CHECKF(e < GRAD_TOL, "relu backward %g", e);
}

TEST(backend, add_relu_accumulate)
{
    const int64_t n = 70000;
    float *a = falloc(n), *b = falloc(n), *y = falloc(n), *acc = falloc(n), *r = falloc(n);
    float *ga = falloc(n);
    elt_ctx c = {n, 2, dalloc(n), dalloc(n), dalloc(n)};
    int64_t i, bad = 0;
    double e;
    fill(a, c.a, n, 1.0);
    fill(b, c.b, n, 1.0);
    fill(r, c.r, n, 1.0);
    vidai_cpu_add_forward(test_pool(), n, a, b, 0, y);
    for (i = 0; i < n; i++)
        bad += y[i] != a[i] + b[i];
    vidai_cpu_add_forward(test_pool(), n, a, b, 1, y);
    for (i = 0; i < n; i++) {
        float v = a[i] + b[i];
        bad += y[i] != (v > 0 ? v : 0.0f);
    }
    /* In place into a, as a residual block does. */
    memcpy(acc, a, (size_t)n * sizeof *a);
    vidai_cpu_add_forward(test_pool(), n, acc, b, 1, acc);
    bad += memcmp(acc, y, (size_t)n * sizeof *y) != 0;
    /* accumulate: y += x twice. */
    memcpy(acc, a, (size_t)n * sizeof *a);
    vidai_cpu_accumulate(test_pool(), n, b, acc);
    vidai_cpu_accumulate(test_pool(), n, b, acc);
    for (i = 0; i < n; i++)
        bad += acc[i] != (a[i] + b[i]) + b[i];
    /* The fused add+relu backward is relu_backward then a fan-out to both inputs. */
    for (i = 0; i < n; i++)
        if (fabs(a[i] + b[i]) < 1e-3) { /* keep the kink out of the differences */
            a[i] += 0.01f;
            c.a[i] = a[i];
        }
    vidai_cpu_add_forward(test_pool(), n, a, b, 1, y);
    memset(ga, 0, (size_t)n * sizeof *ga);
    vidai_cpu_relu_backward(test_pool(), n, y, r, ga, 0);
    e = fd_check(elt_loss, &c, c.a, ga, n, 300);
    free(a), free(b), free(y), free(acc), free(r), free(ga), free(c.a), free(c.b), free(c.r);
    CHECK(bad == 0);
    CHECKF(e < GRAD_TOL, "add+relu gradient %g", e);
}

/* The residual add + ReLU backward through the dispatch: set_a / set_b overwrite that input's
   gradient, the other adds to it; the same buffer for both cannot be overwritten. */
TEST(backend, add_relu_backward_overwrites_one_input)
{
    const int64_t n = 70001;
    float *y = falloc(n), *dy = falloc(n), *da = falloc(n), *db = falloc(n), *db0 = falloc(n);
    vida_context *ctx = NULL;
    vida_context_params cp;
    int64_t i, bad = 0;
    int rc;
    fill(y, NULL, n, 1.0);
    for (i = 0; i < n; i++)
        y[i] = y[i] < 0 ? 0.0f : y[i]; /* a ReLU's output */
    fill(dy, NULL, n, 1.0);
    fill(db0, NULL, n, 1.0);
    memcpy(db, db0, (size_t)n * sizeof *db);
    for (i = 0; i < n; i++)
        da[i] = NAN;
    vida_context_params_init(&cp);
    cp.backend = VIDA_BACKEND_CPU;
    cp.n_threads = 2;
    CHECK_OK(vida_context_create(&ctx, &cp));
    CHECK_OK(vidai_be_add_relu_backward_t(ctx, n, y, dy, da, db, 1, 0, 0));
    for (i = 0; i < n; i++) {
        const float g = y[i] > 0 ? dy[i] : 0.0f;
        bad += !(da[i] == g) || !(db[i] == db0[i] + g);
    }
    rc = vidai_be_add_relu_backward_t(ctx, n, y, dy, da, da, 1, 0, 0);
    vida_context_free(ctx);
    free(y), free(dy), free(da), free(db), free(db0);
    CHECKF(bad == 0, "%ld values wrong", (long)bad);
    CHECK(rc == VIDA_EINVAL);
}

/* ---- pooling ----------------------------------------------------------------- */

typedef struct pool_ctx {
    const vidai_conv_desc *d;
    int max;
    double *x, *r, *y;
} pool_ctx;

static void ref_pool(const vidai_conv_desc *d, int max, const double *x, double *y, int32_t *am)
{
    const int c = d->cin;
    int n, to, ho, wo, k, i, j, l;
    for (n = 0; n < d->n; n++)
        for (to = 0; to < d->to; to++)
            for (ho = 0; ho < d->ho; ho++)
                for (wo = 0; wo < d->wo; wo++)
                    for (k = 0; k < c; k++) {
                        double s = max ? -INFINITY : 0.0;
                        int32_t best = -1;
                        for (i = 0; i < d->kt; i++)
                            for (j = 0; j < d->kh; j++)
                                for (l = 0; l < d->kw; l++) {
                                    int ti = to * d->st - d->pt + i, hi = ho * d->sh - d->ph + j;
                                    int wi = wo * d->sw - d->pw + l;
                                    int32_t at;
                                    double v;
                                    if (ti < 0 || ti >= d->t || hi < 0 || hi >= d->h || wi < 0 ||
                                        wi >= d->w)
                                        continue; /* -inf for max, 0 for average */
                                    at = (int32_t)(((ti * d->h + hi) * d->w + wi) * c + k);
                                    v = x[(int64_t)n * d->t * d->h * d->w * c + at];
                                    if (!max)
                                        s += v;
                                    else if (v > s) {
                                        s = v;
                                        best = at;
                                    }
                                }
                        int64_t o = ((((int64_t)n * d->to + to) * d->ho + ho) * d->wo + wo) * c + k;
                        y[o] = max ? s : s / (d->kt * d->kh * d->kw);
                        if (am)
                            am[o] = best;
                    }
}

static double pool_loss(void *p)
{
    pool_ctx *c = p;
    ref_pool(c->d, c->max, c->x, c->y, NULL);
    return dot(c->r, c->y, (int64_t)c->d->n * c->d->to * c->d->ho * c->d->wo * c->d->cin);
}

typedef struct pool_errs {
    int ok;
    double fwd, dx;
} pool_errs;

static pool_errs pool_case(int max, int n, int t, int h, int w, int c, int kt, int kh, int kw,
                           int st, int sh, int sw, int pt, int ph, int pw)
{
    vidai_conv_desc d = {n, t, h, w, c, c, kt, kh, kw, st, sh, sw, pt, ph, pw, 0, 0, 0};
    pool_errs e = {0, 0, 0};
    int64_t nx, ny, i;
    float *x, *y, *r, *dx, *dx0;
    int32_t *am, *am_ref;
    pool_ctx pc;
    if (vidai_conv_desc_init(&d))
        return e;
    nx = conv_x_size(&d);
    ny = conv_y_size(&d);
    x = falloc(nx);
    y = falloc(ny);
    r = falloc(ny);
    dx = falloc(nx);
    dx0 = falloc(nx);
    am = calloc((size_t)ny, sizeof *am);
    am_ref = calloc((size_t)ny, sizeof *am_ref);
    pc.d = &d;
    pc.max = max;
    pc.x = dalloc(nx);
    pc.y = dalloc(ny);
    pc.r = dalloc(ny);
    /* Distinct values 0.01 apart (shuffled), so no max is within FD_STEP of another. */
    for (i = 0; i < nx; i++)
        pc.x[i] = (double)i;
    for (i = nx - 1; i > 0; i--) {
        int64_t j = (int64_t)((urand() + 1.0) * 0.5 * (double)(i + 1));
        double tmp;
        if (j > i)
            j = i;
        tmp = pc.x[i];
        pc.x[i] = pc.x[j];
        pc.x[j] = tmp;
    }
    for (i = 0; i < nx; i++) {
        x[i] = (float)((pc.x[i] - nx / 2) * 0.01);
        pc.x[i] = x[i];
    }
    fill(r, pc.r, ny, 1.0);
    fill(dx0, NULL, nx, 1.0);
    memcpy(dx, dx0, (size_t)nx * sizeof *dx);
    ref_pool(&d, max, pc.x, pc.y, am_ref);
    e.ok = 1;
    if (max) {
        vidai_cpu_maxpool_forward(test_pool(), &d, x, y, am);
        e.ok = memcmp(am, am_ref, (size_t)ny * sizeof *am) == 0;
        vidai_cpu_maxpool_backward(test_pool(), &d, r, am, dx);
        vidai_cpu_maxpool_backward(test_pool(), &d, r, am, dx);
    } else {
        vidai_cpu_avgpool_forward(test_pool(), &d, x, y);
        vidai_cpu_avgpool_backward(test_pool(), &d, r, dx);
        vidai_cpu_avgpool_backward(test_pool(), &d, r, dx);
    }
    e.fwd = rel_err(y, pc.y, ny);
    added_twice(dx, dx0, nx);
    e.dx = fd_check(pool_loss, &pc, pc.x, dx, nx, 600);
    free(x), free(y), free(r), free(dx), free(dx0), free(am), free(am_ref);
    free(pc.x), free(pc.y), free(pc.r);
    return e;
}

#define CHECK_POOL(e)                                                                              \
    do {                                                                                           \
        CHECKF((e).ok, "argmax differs from the reference (or bad desc)");                         \
        CHECKF((e).fwd < FWD_TOL, "forward rel err %g", (e).fwd);                                  \
        CHECKF((e).dx < GRAD_TOL, "backward vs finite differences %g", (e).dx);                    \
    } while (0)

TEST(backend, maxpool_3x3x3_pad_stride2)
{
    pool_errs e = pool_case(1, 2, 5, 6, 5, 3, 3, 3, 3, 2, 2, 2, 1, 1, 1);
    CHECK_POOL(e);
}

/* The video stem's 1x3x3 max pool, with more channels than one backward band. */
TEST(backend, maxpool_1x3x3_c70)
{
    pool_errs e = pool_case(1, 1, 2, 7, 7, 70, 1, 3, 3, 1, 2, 2, 0, 1, 1);
    CHECK_POOL(e);
}

/* NaN in a window wins, as in PyTorch; a window of padding and -inf gives -inf. */
TEST(backend, maxpool_nan)
{
    vidai_conv_desc d = {1, 1, 1, 4, 1, 1, 1, 1, 2, 1, 1, 2, 0, 0, 0, 0, 0, 0};
    const float x[4] = {1.0f, NAN, -INFINITY, 3.0f};
    float y[2];
    int32_t am[2];
    CHECK_OK(vidai_conv_desc_init(&d));
    vidai_cpu_maxpool_forward(NULL, &d, x, y, am);
    CHECK(isnan(y[0]) && am[0] == 1);
    CHECK(y[1] == 3.0f && am[1] == 3);
}

TEST(backend, avgpool_pad_counts_padding)
{
    pool_errs e = pool_case(0, 2, 3, 5, 4, 3, 3, 3, 3, 1, 2, 2, 1, 1, 1);
    vidai_conv_desc d = {1, 1, 2, 2, 1, 1, 1, 3, 3, 1, 1, 1, 0, 1, 1, 0, 0, 0};
    const float x[4] = {1, 2, 3, 4};
    float y[4];
    CHECK_POOL(e);
    /* Corner window sees 4 real values and 5 zeros; divisor 9. */
    CHECK_OK(vidai_conv_desc_init(&d));
    vidai_cpu_avgpool_forward(NULL, &d, x, y);
    CHECK(fabs(y[0] - 10.0 / 9.0) < 1e-6);
}

TEST(backend, avgpool_c70_t1)
{
    pool_errs e = pool_case(0, 1, 1, 6, 6, 70, 1, 2, 2, 1, 2, 2, 0, 0, 0);
    CHECK_POOL(e);
}

typedef struct gap_ctx {
    int n, c;
    int64_t s;
    double *x, *r;
} gap_ctx;

static double gap_loss(void *p)
{
    gap_ctx *g = p;
    double total = 0.0;
    int64_t i;
    int n, k;
    for (n = 0; n < g->n; n++)
        for (k = 0; k < g->c; k++) {
            double s = 0.0;
            for (i = 0; i < g->s; i++)
                s += g->x[(n * g->s + i) * g->c + k];
            total += g->r[n * g->c + k] * s / (double)g->s;
        }
    return total;
}

TEST(backend, global_avgpool)
{
    const int n = 3, c = 70;
    const int64_t s = 98, nx = n * s * c;
    float *x = falloc(nx), *y = falloc(n * c), *r = falloc(n * c), *dx = falloc(nx);
    float *dx0 = falloc(nx);
    double *yref = dalloc(n * c), ey, edx;
    gap_ctx g = {n, c, s, dalloc(nx), dalloc(n * c)};
    int i, k;
    int64_t j;
    fill(x, g.x, nx, 1.0);
    fill(r, g.r, n * c, 1.0);
    fill(dx0, NULL, nx, 1.0);
    for (i = 0; i < n; i++)
        for (k = 0; k < c; k++) {
            double sum = 0.0;
            for (j = 0; j < s; j++)
                sum += g.x[(i * s + j) * c + k];
            yref[i * c + k] = sum / (double)s;
        }
    vidai_cpu_global_avgpool_forward(test_pool(), n, s, c, x, y);
    ey = rel_err(y, yref, n * c);
    memcpy(dx, dx0, (size_t)nx * sizeof *dx);
    vidai_cpu_global_avgpool_backward(test_pool(), n, s, c, r, dx);
    vidai_cpu_global_avgpool_backward(test_pool(), n, s, c, r, dx);
    added_twice(dx, dx0, nx);
    edx = fd_check(gap_loss, &g, g.x, dx, nx, 300);
    free(x), free(y), free(r), free(dx), free(dx0), free(yref), free(g.x), free(g.r);
    CHECKF(ey < FWD_TOL, "forward %g", ey);
    CHECKF(edx < GRAD_TOL, "backward %g", edx);
}

/* ---- linear ------------------------------------------------------------------- */

typedef struct lin_ctx {
    int n, in, out;
    double *x, *w, *b, *r;
} lin_ctx;

static void ref_linear(const lin_ctx *l, double *y)
{
    int i, o, k;
    for (i = 0; i < l->n; i++)
        for (o = 0; o < l->out; o++) {
            double s = l->b[o];
            for (k = 0; k < l->in; k++)
                s += l->x[i * l->in + k] * l->w[o * l->in + k];
            y[i * l->out + o] = s;
        }
}

static double lin_loss(void *p)
{
    lin_ctx *l = p;
    double *y = dalloc(l->n * l->out), s;
    ref_linear(l, y);
    s = dot(l->r, y, l->n * l->out);
    free(y);
    return s;
}

/* ---- the pool's SGEMM ------------------------------------------------------------ */

/* One case of vidai_cpu_sgemm on 1, 2 and 3 threads: each against a double reference, the
   padding between C's rows untouched, and the same bits when run again on the same pool. */
static void sgemm_case(int ta, int tb, int m, int n, int k, float alpha, float beta)
{
    const int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 5;
    const int64_t na = (int64_t)(ta ? k : m) * lda, nb = (int64_t)(tb ? n : k) * ldb;
    const int64_t nc = (int64_t)m * ldc;
    float *a = falloc(na), *b = falloc(nb), *c0 = falloc(nc), *c[3] = {NULL, NULL, NULL};
    double *ref = dalloc(nc), emax = 0, rmax = 0;
    vidai_pool *pools[3] = {NULL, NULL, NULL};
    int same = 1, pad = 1, i, j, q;
    float *again = falloc(nc);
    openblas_set_num_threads(1); /* as vida_context_create does */
    fill(a, NULL, na, 1.0);
    fill(b, NULL, nb, 1.0);
    fill(c0, NULL, nc, 1.0);
    for (i = 0; i < m; i++)
        for (j = 0; j < n; j++) {
            double s = 0;
            for (q = 0; q < k; q++)
                s += (double)(ta ? a[(int64_t)q * lda + i] : a[(int64_t)i * lda + q]) *
                     (double)(tb ? b[(int64_t)j * ldb + q] : b[(int64_t)q * ldb + j]);
            ref[(int64_t)i * ldc + j] = alpha * s + beta * (double)c0[(int64_t)i * ldc + j];
        }
    for (q = 0; q < 3; q++) {
        c[q] = falloc(nc);
        memcpy(c[q], c0, sizeof(float) * (size_t)nc);
        if (vidai_pool_create(&pools[q], q + 1) != VIDA_OK) {
            same = 0;
            continue;
        }
        for (int rep = 0; rep < 2; rep++) {
            float *dst = rep ? again : c[q];
            if (rep)
                memcpy(again, c0, sizeof(float) * (size_t)nc);
            vidai_cpu_sgemm(pools[q], ta ? CblasTrans : CblasNoTrans,
                            tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta,
                            dst, ldc);
        }
        same &= memcmp(again, c[q], sizeof(float) * (size_t)nc) == 0;
        vidai_pool_free(pools[q]);
    }
    for (i = 0; i < m; i++)
        for (j = 0; j < ldc; j++) {
            int64_t o = (int64_t)i * ldc + j;
            if (j >= n) { /* the padding between rows is not C */
                pad &= c[0][o] == c0[o] && c[1][o] == c0[o] && c[2][o] == c0[o];
                continue;
            }
            for (q = 0; q < 3; q++)
                emax = fmax(emax, fabs(c[q][o] - ref[o]));
            rmax = fmax(rmax, fabs(ref[o]));
        }
    free(a), free(b), free(c0), free(c[0]), free(c[1]), free(c[2]), free(ref), free(again);
    CHECKF(emax <= 1e-5 * (rmax > 1 ? rmax : 1) * sqrt((double)k),
           "ta %d tb %d %dx%dx%d: error %g (max |C| %g)", ta, tb, m, n, k, emax, rmax);
    CHECKF(pad, "ta %d tb %d %dx%dx%d: the padding between C's rows changed", ta, tb, m, n, k);
    CHECKF(same, "ta %d tb %d %dx%dx%d: a second run gave other bits", ta, tb, m, n, k);
}

/* Cut by rows (m >= n) and by columns, sizes that are not whole 16-wide tiles, every
   transposition, beta 0 and 1; and one below the size that is worth waking the workers. */
TEST(backend, sgemm_on_the_pool)
{
    for (int t = 0; t < 4; t++) {
        sgemm_case(t & 1, t >> 1, 301, 37, 45, 1.0f, 1.0f);  /* rows */
        sgemm_case(t & 1, t >> 1, 23, 517, 61, 0.5f, 0.0f);  /* columns */
        sgemm_case(t & 1, t >> 1, 40, 41, 200, 1.0f, 0.0f);  /* columns, not whole tiles on 3 */
        sgemm_case(t & 1, t >> 1, 7, 9, 11, 1.0f, 1.0f);     /* one call */
    }
    /* OpenBLAS given threads again (by another user of it in the process): one OpenBLAS call,
       on its threads, the same bits as calling it directly */
    {
        const int m = 301, n = 37, k = 45;
        float *a = falloc(m * k), *b = falloc(k * n), *c1 = falloc(m * n), *c2 = falloc(m * n);
        int same = 0;
        fill(a, NULL, m * k, 1.0);
        fill(b, NULL, k * n, 1.0);
        openblas_set_num_threads(2);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c1,
                    n);
        vidai_cpu_sgemm(test_pool(), CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f,
                        c2, n);
        openblas_set_num_threads(1);
        same = memcmp(c1, c2, sizeof(float) * (size_t)(m * n)) == 0;
        free(a), free(b), free(c1), free(c2);
        CHECKF(same, "with OpenBLAS at 2 threads, not the one direct call");
    }
}

TEST(backend, linear)
{
    const int n = 5, in = 45, out = 23;
    float *x = falloc(n * in), *w = falloc(out * in), *b = falloc(out), *y = falloc(n * out);
    float *r = falloc(n * out), *dx = falloc(n * in), *dx0 = falloc(n * in);
    float *dw = falloc(out * in), *dw0 = falloc(out * in), *db = falloc(out), *db0 = falloc(out);
    lin_ctx l = {n, in, out, dalloc(n * in), dalloc(out * in), dalloc(out), dalloc(n * out)};
    double *yref = dalloc(n * out), ey, ey0, edx, edw, edb, edw_only;
    int k;
    fill(x, l.x, n * in, 1.0);
    fill(w, l.w, out * in, 0.2);
    fill(b, l.b, out, 1.0);
    fill(r, l.r, n * out, 1.0);
    fill(dx0, NULL, n * in, 1.0);
    fill(dw0, NULL, out * in, 1.0);
    fill(db0, NULL, out, 1.0);
    vidai_cpu_linear_forward(n, in, out, x, w, b, y);
    ref_linear(&l, yref);
    ey = rel_err(y, yref, n * out);
    memcpy(dx, dx0, sizeof(float) * n * in);
    memcpy(dw, dw0, sizeof(float) * out * in);
    memcpy(db, db0, sizeof(float) * out);
    for (k = 0; k < 2; k++)
        vidai_cpu_linear_backward(n, in, out, x, w, r, dx, dw, db);
    added_twice(dx, dx0, n * in);
    added_twice(dw, dw0, out * in);
    added_twice(db, db0, out);
    edx = fd_check(lin_loss, &l, l.x, dx, n * in, 1000);
    edw = fd_check(lin_loss, &l, l.w, dw, out * in, 1000);
    edb = fd_check(lin_loss, &l, l.b, db, out, 1000);
    /* dx and db may be NULL (first layer, no bias); b may be NULL. */
    memset(dw, 0, sizeof(float) * out * in);
    vidai_cpu_linear_backward(n, in, out, x, w, r, NULL, dw, NULL);
    edw_only = fd_check(lin_loss, &l, l.w, dw, out * in, 1000);
    memset(l.b, 0, sizeof(double) * out);
    vidai_cpu_linear_forward(n, in, out, x, w, NULL, y);
    ref_linear(&l, yref);
    ey0 = rel_err(y, yref, n * out);
    free(x), free(w), free(b), free(y), free(r), free(dx), free(dx0), free(dw), free(dw0);
    free(db), free(db0), free(l.x), free(l.w), free(l.b), free(l.r), free(yref);
    CHECKF(ey < FWD_TOL, "forward %g", ey);
    CHECKF(ey0 < FWD_TOL, "forward without bias %g", ey0);
    CHECKF(edx < GRAD_TOL, "dx %g", edx);
    CHECKF(edw < GRAD_TOL, "dw %g", edw);
    CHECKF(edb < GRAD_TOL, "db %g", edb);
    CHECKF(edw_only < GRAD_TOL, "dw alone %g", edw_only);
}

/* ---- dropout -------------------------------------------------------------------- */

typedef struct drop_ctx {
    int64_t n;
    double *x, *mask, *r;
} drop_ctx;

static double drop_loss(void *p)
{
    drop_ctx *c = p;
    double s = 0.0;
    int64_t i;
    for (i = 0; i < c->n; i++)
        s += c->r[i] * c->x[i] * c->mask[i];
    return s;
}

TEST(backend, dropout)
{
    const int64_t n = 20000;
    const float p = 0.3f;
    const uint64_t key = 0xfeedull;
    float *x = falloc(n), *y = falloc(n), *mask = falloc(n), *r = falloc(n), *dx = falloc(n);
    float *dx0 = falloc(n), *mask2 = falloc(n);
    drop_ctx c = {n, dalloc(n), dalloc(n), dalloc(n)};
    int64_t i, bad = 0, dropped = 0;
    double e;
    fill(x, c.x, n, 1.0);
    fill(r, c.r, n, 1.0);
    fill(dx0, NULL, n, 1.0);
    vidai_cpu_dropout_forward(n, p, key, x, mask, y);
    for (i = 0; i < n; i++) {
        /* The definition: keep when u >= p, scaled by 1/(1-p). */
        double want = vidai_rng_uniform(key, (uint64_t)i) >= p ? 1.0 / (1.0 - p) : 0.0;
        bad += fabs(mask[i] - want) > 1e-6;
        bad += y[i] != x[i] * mask[i];
        dropped += mask[i] == 0.0f;
        c.mask[i] = want;
    }
    /* The same key gives the same mask. */
    vidai_cpu_dropout_forward(n, p, key, x, mask2, y);
    bad += memcmp(mask, mask2, (size_t)n * sizeof *mask) != 0;
    memcpy(dx, dx0, (size_t)n * sizeof *dx);
    vidai_cpu_dropout_backward(n, mask, r, dx);
    vidai_cpu_dropout_backward(n, mask, r, dx);
    added_twice(dx, dx0, n);
    e = fd_check(drop_loss, &c, c.x, dx, n, 500);
    /* p = 0 keeps everything unscaled. */
    vidai_cpu_dropout_forward(n, 0.0f, key, x, mask, y);
    for (i = 0; i < n; i++)
        bad += mask[i] != 1.0f || y[i] != x[i];
    free(x), free(y), free(mask), free(r), free(dx), free(dx0), free(mask2);
    free(c.x), free(c.mask), free(c.r);
    CHECK(bad == 0);
    /* 6000 expected, standard deviation 65 */
    CHECKF(dropped > 5600 && dropped < 6400, "dropped %ld of 20000 at p=0.3", (long)dropped);
    CHECKF(e < GRAD_TOL, "backward %g", e);
}

/* ---- losses ---------------------------------------------------------------------- */

typedef struct loss_ctx {
    int n, k;
    int kind; /* 0 hard, 1 soft, 2 bce */
    double *z, *t;
    const int32_t *labels;
} loss_ctx;

/* Textbook forms, in double: -log softmax; -(t log s + (1-t) log(1-s)). */
static double ref_loss(void *p)
{
    loss_ctx *c = p;
    double total = 0.0;
    int i, j;
    for (i = 0; i < c->n; i++) {
        const double *z = c->z + i * c->k;
        double se = 0.0;
        for (j = 0; j < c->k; j++)
            se += exp(z[j]);
        for (j = 0; j < c->k; j++) {
            double t = c->t[i * c->k + j];
            if (c->kind == 0 && j == c->labels[i])
                total -= log(exp(z[j]) / se);
            else if (c->kind == 1)
                total -= t * log(exp(z[j]) / se);
            else if (c->kind == 2) {
                double s = 1.0 / (1.0 + exp(-z[j]));
                total -= t * log(s) + (1.0 - t) * log(1.0 - s);
            }
        }
    }
    return c->kind == 2 ? total / ((double)c->n * c->k) : total / c->n;
}

typedef struct loss_errs {
    double loss, grad;
} loss_errs;

static loss_errs loss_case(int kind, int n, int k, int normalised)
{
    float *z = falloc(n * k), *t = falloc(n * k), *g = falloc(n * k), loss;
    int32_t *labels = calloc((size_t)n, sizeof *labels);
    loss_ctx c = {n, k, kind, dalloc(n * k), dalloc(n * k), labels};
    loss_errs e;
    double want;
    int i, j;
    fill(z, c.z, n * k, 3.0);
    for (i = 0; i < n; i++) {
        double s = 0.0;
        labels[i] = (int32_t)((urand() + 1.0) * 0.5 * k) % k;
        for (j = 0; j < k; j++) {
            t[i * k + j] = (float)((urand() + 1.0) * 0.5);
            s += t[i * k + j];
        }
        if (normalised && kind == 1)
            for (j = 0; j < k; j++)
                t[i * k + j] = (float)(t[i * k + j] / s);
        for (j = 0; j < k; j++)
            c.t[i * k + j] = t[i * k + j];
    }
    for (i = 0; i < n * k; i++)
        g[i] = 1e9f; /* overwritten, not added */
    if (kind == 0)
        vidai_cpu_softmax_xent_hard(n, k, z, labels, &loss, g);
    else if (kind == 1)
        vidai_cpu_softmax_xent_soft(n, k, z, t, &loss, g);
    else
        vidai_cpu_sigmoid_bce(n, k, z, t, &loss, g);
    want = ref_loss(&c);
    e.loss = fabs(loss - want) / fabs(want);
    e.grad = fd_check(ref_loss, &c, c.z, g, n * k, 1000);
    free(z), free(t), free(g), free(labels), free(c.z), free(c.t);
    return e;
}

TEST(backend, softmax_xent_hard)
{
    loss_errs e = loss_case(0, 6, 11, 1);
    float z[6] = {1000.0f, -1000.0f, 0.0f, -500.0f, 800.0f, 801.0f}, g[6], loss;
    int32_t labels[2] = {1, 0};
    CHECKF(e.loss < FWD_TOL, "loss %g", e.loss);
    CHECKF(e.grad < GRAD_TOL, "gradient %g", e.grad);
    /* Huge logits stay finite: row 0 loss 2000, row 1 loss 1301 + log(1+e^-1). */
    vidai_cpu_softmax_xent_hard(2, 3, z, labels, &loss, g);
    CHECK(isfinite(loss) && fabs(loss - (2000.0 + 1301.0 + log1p(exp(-1.0))) / 2.0) < 1e-2);
    CHECK(isfinite(g[0]) && fabs(g[0] - 0.5) < 1e-6 && fabs(g[1] + 0.5) < 1e-6);
}

TEST(backend, softmax_xent_soft)
{
    loss_errs e = loss_case(1, 5, 9, 1);
    loss_errs u = loss_case(1, 4, 7, 0); /* targets not summing to 1: exact gradient */
    CHECKF(e.loss < FWD_TOL, "loss %g", e.loss);
    CHECKF(e.grad < GRAD_TOL, "gradient %g", e.grad);
    CHECKF(u.loss < FWD_TOL, "loss (unnormalised targets) %g", u.loss);
    CHECKF(u.grad < GRAD_TOL, "gradient (unnormalised targets) %g", u.grad);
}

TEST(backend, sigmoid_bce)
{
    loss_errs e = loss_case(2, 4, 13, 0);
    const float z[4] = {100.0f, -100.0f, 100.0f, -100.0f}, t[4] = {1, 0, 0, 1};
    float g[4], loss;
    CHECKF(e.loss < FWD_TOL, "loss %g", e.loss);
    CHECKF(e.grad < GRAD_TOL, "gradient %g", e.grad);
    /* Saturated logits: losses 0, 0, 100, 100; mean 50; gradients (s - t)/4. */
    vidai_cpu_sigmoid_bce(2, 2, z, t, &loss, g);
    CHECK(fabs(loss - 50.0) < 1e-4);
    CHECK(fabs(g[0]) < 1e-6 && fabs(g[1]) < 1e-6 && fabs(g[2] - 0.25) < 1e-6 &&
          fabs(g[3] + 0.25) < 1e-6);
}
