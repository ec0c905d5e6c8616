/*
 * Every op of the CUDA backend (src/backend/cuda/cuda.h) against the CPU
 * backend (src/backend/backend.h), op by op and shape by shape, as ggml's
 * test-backend-ops: the same deterministic random inputs go through the CPU
 * op on the host and the CUDA op on the device, and each output tensor is
 * compared.
 *
 * Error of an output: max|gpu - cpu| / max(max|cpu|, 1e-30), relative to the
 * tensor's scale; a NaN or infinity on one side only is an infinite error.
 * Bounds: 1e-4 in fp32 (no TF32 anywhere), 1e-2 for the convolutions in bf16
 * (mixed precision). Selections and data movement (max-pool values and
 * argmax, dropout masks, layouts, bf16 conversions) must be exact.
 *
 * Forward outputs start as NaN on the device, so an element left unwritten
 * fails; backward ops add into gradients that start at random values (the
 * same on both sides), so an op that overwrites instead of adding fails.
 *
 * Sections: fp32 with the AUTO conv engine (cuDNN; the count of convolutions
 * that fell back to the direct kernels must stay 0), the convolutions again
 * in bf16, the typed ops on bf16 activations (act16: inputs rounded to bf16
 * on both sides, bound 1e-2 where a result is stored in bf16), fp16, and the
 * convolutions again with the direct kernels forced.
 *
 * Prints one line per (section, op, shape, output) and ends with
 * "N passed, M failed"; exit status 1 if any failed. Without a CUDA device it
 * prints "SKIP: no CUDA device" and exits 0.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/cuda/cuda.h"
#include "core/core.h"

#define TOL_FP32 1e-4
#define TOL_BF16 1e-2
#define TOL_FP16 5e-3   /* fp16 keeps 3 more mantissa bits than bf16 */
#define TOL_U8 1e-6     /* normalize_u8: one division and one subtraction apart */
#define TOL_SUMSQ 1e-7  /* relative, per tensor: the sums are accumulated in double */

static vidai_cuda *cu;
static vidai_pool *pool;
static const char *section = "fp32";
static int n_passed, n_failed;
static uint64_t next_key = 1; /* RNG key of the next random tensor */

/* --- one case: an op on one shape, with the buffers it allocated ------------------ */

#define MAX_BUFS 48

typedef struct tcase {
    char op[48], shape[96];
    void *dev[MAX_BUFS];
    void *host[MAX_BUFS];
    int n_dev, n_host;
    int broken; /* a call failed: reported once, the rest of the case is skipped */
} tcase;

static void tc_begin(tcase *t, const char *op, const char *fmt, ...) VIDAI_PRINTF(3, 4);

static void tc_begin(tcase *t, const char *op, const char *fmt, ...)
{
    va_list ap;
    memset(t, 0, sizeof *t);
    snprintf(t->op, sizeof t->op, "%s", op);
    va_start(ap, fmt);
    vsnprintf(t->shape, sizeof t->shape, fmt, ap);
    va_end(ap);
}

static void tc_end(tcase *t)
{
    int i;
    for (i = 0; i < t->n_dev; i++)
        vidai_cuda_free_mem(cu, t->dev[i]);
    for (i = 0; i < t->n_host; i++)
        free(t->host[i]);
    t->n_dev = t->n_host = 0;
}

static void report(const tcase *t, const char *out, const char *err, int ok)
{
    printf("%-6s %-16s %-44s %-14s %11s  %s\n", section, t->op, t->shape, out, err,
           ok ? "PASS" : "FAIL");
    fflush(stdout);
    if (ok)
        n_passed++;
    else
        n_failed++;
}

/* Records a failed call (once per case) and marks the case broken. */
static void tc_fail(tcase *t, const char *what, int rc)
{
    if (t->broken)
        return;
    t->broken = 1;
    printf("%-6s %-16s %-44s %s returned %d: %s\n", section, t->op, t->shape, what, rc,
           vida_last_error());
    report(t, "(error)", "-", 0);
}

/* Status of a call: 1 if it succeeded. */
static int tc_rc(tcase *t, const char *what, int rc)
{
    if (rc != VIDA_OK)
        tc_fail(t, what, rc);
    return rc == VIDA_OK;
}

/* Runs call only while the case is not broken; 1 if it succeeded. */
#define RUN(t, what, call) (!(t)->broken && tc_rc((t), (what), (call)))

/* --- host buffers ------------------------------------------------------------------- */

static void *hnew(tcase *t, size_t bytes)
{
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p || t->n_host == MAX_BUFS) {
        fprintf(stderr, "out of host memory (or too many buffers) in %s %s\n", t->op, t->shape);
        exit(2);
    }
    t->host[t->n_host++] = p;
    return p;
}

static float *hf(tcase *t, int64_t n)
{
    return hnew(t, (size_t)n * sizeof(float));
}

/* offset + scale * N(0, 1), from a fresh key. */
static float *hrandn(tcase *t, int64_t n, float scale, float offset)
{
    float *x = hf(t, n);
    const uint64_t key = next_key++;
    int64_t i;
    for (i = 0; i + 1 < n; i += 2) {
        float a, b;
        vidai_rng_normal2(key, (uint64_t)i / 2, &a, &b);
        x[i] = offset + scale * a;
        x[i + 1] = offset + scale * b;
    }
    if (i < n)
        x[i] = offset + scale * vidai_rng_normal(key, (uint64_t)i / 2);
    return x;
}

/* lo + (hi - lo) * U[0, 1), from a fresh key. */
static float *hrandu(tcase *t, int64_t n, float lo, float hi)
{
    float *x = hf(t, n);
    const uint64_t key = next_key++;
    int64_t i;
    for (i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * vidai_rng_uniform(key, (uint64_t)i);
    return x;
}

static float *hcopy(tcase *t, const float *x, int64_t n)
{
    float *y = hf(t, n);
    memcpy(y, x, (size_t)n * sizeof *y);
    return y;
}

/* --- device buffers ----------------------------------------------------------------- */

/* Fills a device buffer with 0xff bytes (NaN as float, -1 as int32). */
static int dpoison(tcase *t, void *d, size_t bytes)
{
    void *tmp;
    int rc;
    if (t->broken)
        return 0;
    tmp = malloc(bytes ? bytes : 1);
    if (!tmp) {
        fprintf(stderr, "out of host memory\n");
        exit(2);
    }
    memset(tmp, 0xff, bytes);
    rc = tc_rc(t, "vidai_cuda_upload", vidai_cuda_upload(cu, d, tmp, bytes));
    free(tmp);
    return rc;
}

/* A device buffer holding a copy of host, or NaN-filled when host is NULL. NULL once broken. */
static void *dnew(tcase *t, const void *host, size_t bytes)
{
    void *d;
    if (t->broken)
        return NULL;
    if (t->n_dev == MAX_BUFS) {
        fprintf(stderr, "too many device buffers in %s\n", t->op);
        exit(2);
    }
    d = vidai_cuda_malloc(cu, bytes ? bytes : 1);
    if (!d) {
        tc_fail(t, "vidai_cuda_malloc", VIDA_ENOMEM);
        return NULL;
    }
    t->dev[t->n_dev++] = d;
    if (host) {
        if (!tc_rc(t, "vidai_cuda_upload", vidai_cuda_upload(cu, d, host, bytes)))
            return NULL;
    } else if (!dpoison(t, d, bytes)) {
        return NULL;
    }
    return d;
}

static float *dnewf(tcase *t, const float *host, int64_t n)
{
    return dnew(t, host, (size_t)n * sizeof(float));
}

/* Copies a device buffer to the host and waits (a kernel's failure shows here). */
static int dget(tcase *t, void *host, const void *d, size_t bytes)
{
    return RUN(t, "vidai_cuda_download", vidai_cuda_download(cu, host, d, bytes)) &&
           RUN(t, "vidai_cuda_sync", vidai_cuda_sync(cu));
}

static int dgetf(tcase *t, float *host, const float *d, int64_t n)
{
    return dget(t, host, d, (size_t)n * sizeof(float));
}

/* --- comparisons ---------------------------------------------------------------------- */

/* max|g - c| / max(max|c|, 1e-30); infinite when non-finite values differ. */
static double rel_err(const float *g, const float *c, int64_t n)
{
    double md = 0, mc = 0;
    int64_t i;
    for (i = 0; i < n; i++) {
        const double a = g[i], b = c[i];
        if (!isfinite(a) || !isfinite(b)) {
            if (!(a == b || (isnan(a) && isnan(b))))
                return INFINITY;
            continue;
        }
        if (fabs(a - b) > md)
            md = fabs(a - b);
        if (fabs(b) > mc)
            mc = fabs(b);
    }
    return md / (mc > 1e-30 ? mc : 1e-30);
}

static void check_close(tcase *t, const char *out, const float *g, const float *c, int64_t n,
                        double tol)
{
    char s[32];
    double e;
    if (t->broken)
        return;
    e = rel_err(g, c, n);
    snprintf(s, sizeof s, "%.3e", e);
    report(t, out, s, e <= tol);
}

static void check_scalar(tcase *t, const char *out, double g, double c, double tol)
{
    char s[32];
    double e;
    if (t->broken)
        return;
    e = fabs(g - c) / (fabs(c) > 1e-30 ? fabs(c) : 1e-30);
    if (!isfinite(g) || !isfinite(c))
        e = INFINITY;
    snprintf(s, sizeof s, "%.3e", e);
    report(t, out, s, e <= tol);
}

/* Equal values (NaN equals NaN); the error column counts the elements that differ. */
static void check_exact_f32(tcase *t, const char *out, const float *g, const float *c, int64_t n)
{
    char s[32];
    int64_t i, bad = 0, first = -1;
    if (t->broken)
        return;
    for (i = 0; i < n; i++)
        if (!(g[i] == c[i] || (isnan(g[i]) && isnan(c[i])))) {
            if (first < 0)
                first = i;
            bad++;
        }
    snprintf(s, sizeof s, "%lld diff", (long long)bad);
    report(t, out, s, bad == 0);
    if (bad)
        printf("       first at %lld: gpu %.9g, cpu %.9g\n", (long long)first, (double)g[first],
               (double)c[first]);
}

static void check_exact_bits(tcase *t, const char *out, const void *g, const void *c, int64_t n,
                             size_t elem)
{
    char s[32];
    int64_t i, bad = 0, first = -1;
    if (t->broken)
        return;
    for (i = 0; i < n; i++)
        if (memcmp((const char *)g + i * elem, (const char *)c + i * elem, elem) != 0) {
            if (first < 0)
                first = i;
            bad++;
        }
    snprintf(s, sizeof s, "%lld diff", (long long)bad);
    report(t, out, s, bad == 0);
    if (bad && elem == 4)
        printf("       first at %lld: gpu 0x%08x, cpu 0x%08x\n", (long long)first,
               ((const uint32_t *)g)[first], ((const uint32_t *)c)[first]);
    else if (bad && elem == 2)
        printf("       first at %lld: gpu 0x%04x, cpu 0x%04x\n", (long long)first,
               ((const uint16_t *)g)[first], ((const uint16_t *)c)[first]);
}

/* --- convolution ---------------------------------------------------------------------- */

typedef struct conv_shape {
    int n, t, h, w, cin, cout, kt, kh, kw, st, sh, sw, pt, ph, pw;
    const char *what;
} conv_shape;

/* R(2+1)D/R3D/MC3/R2D layers and awkward sizes; small T/H/W keep the CPU side fast. */
static const conv_shape conv_shapes[] = {
    /* n t  h   w   cin  cout kt kh kw st sh sw pt ph pw */
    {1, 4, 28, 28, 3, 45, 1, 7, 7, 1, 2, 2, 0, 3, 3, "R(2+1)D stem, spatial (Cin 3)"},
    {1, 4, 14, 14, 45, 64, 3, 1, 1, 1, 1, 1, 1, 0, 0, "R(2+1)D stem, temporal (Cin 45)"},
    {2, 4, 28, 28, 3, 64, 3, 7, 7, 1, 2, 2, 1, 3, 3, "R3D/MC3 stem 3x7x7"},
    {2, 1, 28, 28, 3, 64, 1, 7, 7, 1, 2, 2, 0, 3, 3, "R2D stem, T = 1"},
    {1, 8, 14, 14, 64, 144, 1, 3, 3, 1, 1, 1, 0, 1, 1, "layer1 (2+1)D spatial 64->144"},
    {1, 8, 14, 14, 144, 64, 3, 1, 1, 1, 1, 1, 1, 0, 0, "layer1 (2+1)D temporal 144->64"},
    {1, 8, 14, 14, 64, 230, 1, 3, 3, 1, 2, 2, 0, 1, 1, "layer2.0 spatial 64->230, stride (1,2,2)"},
    {1, 8, 7, 7, 230, 128, 3, 1, 1, 2, 1, 1, 1, 0, 0, "layer2.0 temporal 230->128, stride (2,1,1)"},
    {2, 4, 7, 7, 128, 230, 1, 3, 3, 1, 1, 1, 0, 1, 1, "layer2 spatial 128->230"},
    {2, 4, 7, 7, 230, 128, 3, 1, 1, 1, 1, 1, 1, 0, 0, "layer2 temporal 230->128"},
    {1, 2, 7, 7, 256, 460, 1, 3, 3, 1, 1, 1, 0, 1, 1, "layer3 spatial 256->460"},
    {1, 2, 7, 7, 460, 256, 3, 1, 1, 1, 1, 1, 1, 0, 0, "layer3 temporal 460->256"},
    {1, 2, 7, 7, 512, 921, 1, 3, 3, 1, 1, 1, 0, 1, 1, "layer4 spatial 512->921"},
    {1, 2, 7, 7, 921, 512, 3, 1, 1, 1, 1, 1, 1, 0, 0, "layer4 temporal 921->512"},
    {1, 2, 4, 4, 921, 512, 3, 1, 1, 2, 1, 1, 1, 0, 0, "921->512 stride (2,1,1), T out 1"},
    {1, 1, 4, 4, 460, 256, 3, 1, 1, 2, 1, 1, 1, 0, 0, "T = 1 temporal, stride 2"},
    {1, 1, 7, 7, 256, 256, 3, 1, 1, 1, 1, 1, 1, 0, 0, "T = 1 temporal (only the centre tap)"},
    {2, 1, 14, 14, 64, 64, 1, 3, 3, 1, 1, 1, 0, 1, 1, "T = 1 spatial"},
    {1, 4, 14, 14, 64, 64, 3, 3, 3, 1, 1, 1, 1, 1, 1, "R3D 3x3x3"},
    {1, 4, 14, 14, 64, 128, 3, 3, 3, 2, 2, 2, 1, 1, 1, "R3D downsampling 3x3x3, stride 2"},
    {2, 4, 14, 14, 64, 128, 1, 1, 1, 2, 2, 2, 0, 0, 0, "shortcut 1x1x1, stride 2"},
    {2, 2, 7, 7, 128, 64, 1, 1, 1, 1, 1, 1, 0, 0, 0, "pointwise 1x1x1"},
    {3, 3, 13, 13, 32, 48, 1, 3, 3, 1, 2, 2, 0, 1, 1, "odd size, stride 2, batch 3"},
    {1, 5, 9, 11, 16, 24, 3, 3, 3, 1, 1, 1, 0, 0, 0, "no padding, H != W"},
    {1, 3, 10, 10, 8, 8, 3, 3, 3, 1, 1, 1, 2, 2, 2, "padding 2 > kernel/2"},
    {1, 6, 9, 9, 5, 7, 3, 3, 3, 2, 3, 2, 1, 0, 1, "mixed strides and paddings, odd channels"},
};

static void conv_case(const conv_shape *s, double tol)
{
    static const char *fwd_names[4] = {"y", "y+b", "relu(y)", "relu(y+b)"};
    vidai_conv_desc d;
    tcase tc, *t = &tc;
    int64_t nx, nw, ny;
    float *x, *w, *b, *dy, *dx0, *dw0, *yc, *yg, *dxc, *dxg, *dwc, *dwg;
    float *X, *W, *B, *DY, *Y, *DX, *DW;
    int v, rc;
    memset(&d, 0, sizeof d);
    d.n = s->n, d.t = s->t, d.h = s->h, d.w = s->w, d.cin = s->cin;
    d.cout = s->cout, d.kt = s->kt, d.kh = s->kh, d.kw = s->kw;
    d.st = s->st, d.sh = s->sh, d.sw = s->sw, d.pt = s->pt, d.ph = s->ph, d.pw = s->pw;
    printf("       -- conv %s\n", s->what);
    tc_begin(t, "conv_fwd", "%dx%dx%dx%dx%d>%d k%dx%dx%d s%d%d%d p%d%d%d", s->n, s->t, s->h, s->w,
             s->cin, s->cout, s->kt, s->kh, s->kw, s->st, s->sh, s->sw, s->pt, s->ph, s->pw);
    if (!tc_rc(t, "vidai_conv_desc_init", vidai_conv_desc_init(&d)))
        return;
    nx = (int64_t)d.n * d.t * d.h * d.w * d.cin;
    nw = (int64_t)d.cout * d.kt * d.kh * d.kw * d.cin;
    ny = (int64_t)d.n * d.to * d.ho * d.wo * d.cout;
    x = hrandn(t, nx, 1, 0);
    w = hrandn(t, nw, (float)(1.0 / sqrt((double)d.kt * d.kh * d.kw * d.cin)), 0);
    b = hrandn(t, d.cout, 0.5f, 0);
    dy = hrandn(t, ny, 1, 0);
    dx0 = hrandn(t, nx, 1, 0);
    dw0 = hrandn(t, nw, 1, 0);
    yc = hf(t, ny);
    yg = hf(t, ny);
    dxc = hcopy(t, dx0, nx);
    dxg = hf(t, nx);
    dwc = hcopy(t, dw0, nw);
    dwg = hf(t, nw);
    X = dnewf(t, x, nx);
    W = dnewf(t, w, nw);
    B = dnewf(t, b, d.cout);
    DY = dnewf(t, dy, ny);
    Y = dnewf(t, NULL, ny);
    DX = dnewf(t, dx0, nx);
    DW = dnewf(t, dw0, nw);
    for (v = 0; v < 4; v++) {
        const int bias = v & 1, relu = v >> 1;
        rc = vidai_cpu_conv_forward(pool, &d, x, w, bias ? b : NULL, relu, yc);
        if (!tc_rc(t, "vidai_cpu_conv_forward", rc))
            break;
        if (v > 0 && !dpoison(t, Y, (size_t)ny * sizeof(float)))
            break;
        if (RUN(t, "vidai_cuda_conv_forward",
                vidai_cuda_conv_forward(cu, &d, X, W, bias ? B : NULL, relu, Y)) &&
            dgetf(t, yg, Y, ny))
            check_close(t, fwd_names[v], yg, yc, ny, tol);
    }
    snprintf(t->op, sizeof t->op, "conv_bwd_data");
    if (tc_rc(t, "vidai_cpu_conv_backward_data", vidai_cpu_conv_backward_data(pool, &d, dy, w, dxc)) &&
        RUN(t, "vidai_cuda_conv_backward_data", vidai_cuda_conv_backward_data(cu, &d, DY, W, DX)) &&
        dgetf(t, dxg, DX, nx))
        check_close(t, "dx", dxg, dxc, nx, tol);
    snprintf(t->op, sizeof t->op, "conv_bwd_filter");
    if (tc_rc(t, "vidai_cpu_conv_backward_filter",
              vidai_cpu_conv_backward_filter(pool, &d, x, dy, dwc)) &&
        RUN(t, "vidai_cuda_conv_backward_filter",
            vidai_cuda_conv_backward_filter(cu, &d, X, DY, DW)) &&
        dgetf(t, dwg, DW, nw))
        check_close(t, "dw", dwg, dwc, nw, tol);
    /* the overwriting variant: dx starts as NaN on the device, every element must be written */
    snprintf(t->op, sizeof t->op, "conv_bwd_data_set");
    memset(dxc, 0, (size_t)nx * sizeof *dxc);
    if (tc_rc(t, "vidai_cpu_conv_backward_data", vidai_cpu_conv_backward_data(pool, &d, dy, w, dxc)) &&
        dpoison(t, DX, (size_t)nx * sizeof(float)) &&
        RUN(t, "vidai_cuda_conv_backward_data_set",
            vidai_cuda_conv_backward_data_set(cu, &d, DY, W, DX)) &&
        dgetf(t, dxg, DX, nx))
        check_close(t, "dx", dxg, dxc, nx, tol);
    tc_end(t);
}

static void conv_all(double tol)
{
    size_t i;
    for (i = 0; i < sizeof conv_shapes / sizeof conv_shapes[0]; i++)
        conv_case(&conv_shapes[i], tol);
}

/* --- batch norm ------------------------------------------------------------------------- */

static void bn_case(int64_t rows, int c, float eps)
{
    const float momentum = 0.1f;
    tcase tc, *t = &tc;
    const int64_t n = rows * c;
    float *x, *off, *sc, *gamma, *beta, *rm0, *rv0, *dy, *dx0, *dg0, *db0;
    float *yc, *yg, *smc, *smg, *sic, *sig, *rmc, *rmg, *rvc, *rvg, *dxc, *dxg, *dgc, *dgg, *dbc,
        *dbg;
    float *X, *G, *BT, *RM, *RV, *SM, *SI, *Y, *DY, *DX, *DG, *DB;
    int64_t r;
    int k;
    tc_begin(t, "bn_fwd_train", "rows %lld c %d eps %g", (long long)rows, c, (double)eps);
    /* channels with their own offset and scale: the mean matters, not only the spread */
    x = hrandn(t, n, 1, 0);
    off = hrandn(t, c, 3, 0);
    sc = hrandu(t, c, 0.5f, 2.0f);
    for (r = 0; r < rows; r++)
        for (k = 0; k < c; k++)
            x[r * c + k] = off[k] + sc[k] * x[r * c + k];
    gamma = hrandn(t, c, 0.3f, 1);
    beta = hrandn(t, c, 0.5f, 0);
    rm0 = hrandn(t, c, 0.2f, 0);
    rv0 = hrandu(t, c, 0.5f, 1.5f);
    dy = hrandn(t, n, 1, 0);
    dx0 = hrandn(t, n, 1, 0);
    dg0 = hrandn(t, c, 1, 0);
    db0 = hrandn(t, c, 1, 0);
    yc = hf(t, n);
    yg = hf(t, n);
    smc = hf(t, c);
    smg = hf(t, c);
    sic = hf(t, c);
    sig = hf(t, c);
    rmc = hcopy(t, rm0, c);
    rmg = hf(t, c);
    rvc = hcopy(t, rv0, c);
    rvg = hf(t, c);
    dxc = hf(t, n);
    dxg = hf(t, n);
    dgc = hf(t, c);
    dgg = hf(t, c);
    dbc = hf(t, c);
    dbg = hf(t, c);
    X = dnewf(t, x, n);
    G = dnewf(t, gamma, c);
    BT = dnewf(t, beta, c);
    RM = dnewf(t, rm0, c);
    RV = dnewf(t, rv0, c);
    SM = dnewf(t, NULL, c);
    SI = dnewf(t, NULL, c);
    Y = dnewf(t, NULL, n);
    DY = dnewf(t, dy, n);
    DX = dnewf(t, dx0, n);
    DG = dnewf(t, dg0, c);
    DB = dnewf(t, db0, c);

    /* training forward */
    vidai_cpu_bn_forward_train(pool, rows, c, x, gamma, beta, eps, momentum, rmc, rvc, smc, sic, yc);
    if (RUN(t, "vidai_cuda_bn_forward_train",
            vidai_cuda_bn_forward_train(cu, rows, c, X, G, BT, eps, momentum, RM, RV, SM, SI, Y)) &&
        dgetf(t, yg, Y, n) && dgetf(t, smg, SM, c) && dgetf(t, sig, SI, c) &&
        dgetf(t, rmg, RM, c) && dgetf(t, rvg, RV, c)) {
        check_close(t, "y", yg, yc, n, TOL_FP32);
        check_close(t, "save_mean", smg, smc, c, TOL_FP32);
        check_close(t, "save_invstd", sig, sic, c, TOL_FP32);
        check_close(t, "running_mean", rmg, rmc, c, TOL_FP32);
        check_close(t, "running_var", rvg, rvc, c, TOL_FP32);
    }

    /* inference forward, on the running statistics before the update */
    snprintf(t->op, sizeof t->op, "bn_fwd_eval");
    vidai_cpu_bn_forward_eval(pool, rows, c, x, gamma, beta, rm0, rv0, eps, yc);
    if (RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, RM, rm0, (size_t)c * sizeof(float))) &&
        RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, RV, rv0, (size_t)c * sizeof(float))) &&
        dpoison(t, Y, (size_t)n * sizeof(float)) &&
        RUN(t, "vidai_cuda_bn_forward_eval",
            vidai_cuda_bn_forward_eval(cu, rows, c, X, G, BT, RM, RV, eps, Y)) &&
        dgetf(t, yg, Y, n))
        check_close(t, "y", yg, yc, n, TOL_FP32);

    /* training backward, from the CPU's saved statistics on both sides */
    snprintf(t->op, sizeof t->op, "bn_bwd_train");
    memcpy(dxc, dx0, (size_t)n * sizeof *dxc);
    memcpy(dgc, dg0, (size_t)c * sizeof *dgc);
    memcpy(dbc, db0, (size_t)c * sizeof *dbc);
    vidai_cpu_bn_backward_train(pool, rows, c, x, dy, gamma, smc, sic, dxc, dgc, dbc, 0);
    if (RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, SM, smc, (size_t)c * sizeof(float))) &&
        RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, SI, sic, (size_t)c * sizeof(float))) &&
        RUN(t, "vidai_cuda_bn_backward_train",
            vidai_cuda_bn_backward_train(cu, rows, c, X, DY, G, SM, SI, DX, DG, DB)) &&
        dgetf(t, dxg, DX, n) && dgetf(t, dgg, DG, c) && dgetf(t, dbg, DB, c)) {
        check_close(t, "dx", dxg, dxc, n, TOL_FP32);
        check_close(t, "dgamma", dgg, dgc, c, TOL_FP32);
        check_close(t, "dbeta", dbg, dbc, c, TOL_FP32);
    }

    /* frozen-BN backward: with dgamma/dbeta, then dx only */
    snprintf(t->op, sizeof t->op, "bn_bwd_eval");
    memcpy(dxc, dx0, (size_t)n * sizeof *dxc);
    memcpy(dgc, dg0, (size_t)c * sizeof *dgc);
    memcpy(dbc, db0, (size_t)c * sizeof *dbc);
    vidai_cpu_bn_backward_eval(pool, rows, c, x, dy, gamma, rm0, rv0, eps, dxc, dgc, dbc);
    if (RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, DX, dx0, (size_t)n * sizeof(float))) &&
        RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, DG, dg0, (size_t)c * sizeof(float))) &&
        RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, DB, db0, (size_t)c * sizeof(float))) &&
        RUN(t, "vidai_cuda_bn_backward_eval",
            vidai_cuda_bn_backward_eval(cu, rows, c, X, DY, G, RM, RV, eps, DX, DG, DB)) &&
        dgetf(t, dxg, DX, n) && dgetf(t, dgg, DG, c) && dgetf(t, dbg, DB, c)) {
        check_close(t, "dx", dxg, dxc, n, TOL_FP32);
        check_close(t, "dgamma", dgg, dgc, c, TOL_FP32);
        check_close(t, "dbeta", dbg, dbc, c, TOL_FP32);
    }
    memcpy(dxc, dx0, (size_t)n * sizeof *dxc);
    vidai_cpu_bn_backward_eval(pool, rows, c, x, dy, gamma, rm0, rv0, eps, dxc, NULL, NULL);
    if (RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, DX, dx0, (size_t)n * sizeof(float))) &&
        RUN(t, "vidai_cuda_bn_backward_eval",
            vidai_cuda_bn_backward_eval(cu, rows, c, X, DY, G, RM, RV, eps, DX, NULL, NULL)) &&
        dgetf(t, dxg, DX, n))
        check_close(t, "dx (dg,db 0)", dxg, dxc, n, TOL_FP32);

    /* batch norm + ReLU in one (training): against the CPU's BN then ReLU */
    snprintf(t->op, sizeof t->op, "bn_relu_fwd_train");
    memcpy(rmc, rm0, (size_t)c * sizeof *rmc);
    memcpy(rvc, rv0, (size_t)c * sizeof *rvc);
    vidai_cpu_bn_forward_train(pool, rows, c, x, gamma, beta, eps, momentum, rmc, rvc, smc, sic, yc);
    vidai_cpu_relu_forward(pool, n, yc, yc);
    if (RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, RM, rm0, (size_t)c * sizeof(float))) &&
        RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, RV, rv0, (size_t)c * sizeof(float))) &&
        dpoison(t, Y, (size_t)n * sizeof(float)) &&
        RUN(t, "vidai_cuda_bn_relu_forward_train",
            vidai_cuda_bn_relu_forward_train(cu, rows, c, X, G, BT, eps, momentum, RM, RV, SM, SI,
                                             Y)) &&
        dgetf(t, yg, Y, n) && dgetf(t, rmg, RM, c) && dgetf(t, rvg, RV, c)) {
        check_close(t, "relu(y)", yg, yc, n, TOL_FP32);
        check_close(t, "running_mean", rmg, rmc, c, TOL_FP32);
        check_close(t, "running_var", rvg, rvc, c, TOL_FP32);
    }
    /* its backward: the CPU's ReLU backward then BN backward, from the CPU's output and
       statistics on both sides; adding to dx, then overwriting a NaN dx */
    snprintf(t->op, sizeof t->op, "bn_relu_bwd_train");
    {
        float *dym = hf(t, n);
        float *RY = dnewf(t, yc, n);
        int ow;
        for (r = 0; dym && r < n; r++)
            dym[r] = yc[r] > 0 ? dy[r] : 0.0f;
        for (ow = 0; ow < 2 && dym; ow++) {
            if (ow)
                memset(dxc, 0, (size_t)n * sizeof *dxc);
            else
                memcpy(dxc, dx0, (size_t)n * sizeof *dxc);
            memcpy(dgc, dg0, (size_t)c * sizeof *dgc);
            memcpy(dbc, db0, (size_t)c * sizeof *dbc);
            vidai_cpu_bn_backward_train(pool, rows, c, x, dym, gamma, smc, sic, dxc, dgc, dbc, 0);
            if (RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, SM, smc, (size_t)c * sizeof(float))) &&
                RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, SI, sic, (size_t)c * sizeof(float))) &&
                (ow ? dpoison(t, DX, (size_t)n * sizeof(float))
                    : RUN(t, "vidai_cuda_upload",
                          vidai_cuda_upload(cu, DX, dx0, (size_t)n * sizeof(float)))) &&
                RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, DG, dg0, (size_t)c * sizeof(float))) &&
                RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, DB, db0, (size_t)c * sizeof(float))) &&
                RUN(t, "vidai_cuda_bn_relu_backward_train",
                    vidai_cuda_bn_relu_backward_train(cu, rows, c, X, RY, DY, G, SM, SI, DX, DG, DB,
                                                      ow)) &&
                dgetf(t, dxg, DX, n) && dgetf(t, dgg, DG, c) && dgetf(t, dbg, DB, c)) {
                check_close(t, ow ? "dx (set)" : "dx", dxg, dxc, n, TOL_FP32);
                check_close(t, "dgamma", dgg, dgc, c, TOL_FP32);
                check_close(t, "dbeta", dbg, dbc, c, TOL_FP32);
            }
        }
    }
    tc_end(t);
}

/* --- elementwise ------------------------------------------------------------------------ */

static void relu_case(int64_t n)
{
    tcase tc, *t = &tc;
    float *x, *yc, *yg, *dy, *dx0, *dxc, *dxg, *X, *Y, *DY, *DX;
    tc_begin(t, "relu_fwd", "n %lld", (long long)n);
    x = hrandn(t, n, 1, 0);
    dy = hrandn(t, n, 1, 0);
    dx0 = hrandn(t, n, 1, 0);
    yc = hf(t, n);
    yg = hf(t, n);
    dxc = hcopy(t, dx0, n);
    dxg = hf(t, n);
    X = dnewf(t, x, n);
    Y = dnewf(t, NULL, n);
    DY = dnewf(t, dy, n);
    DX = dnewf(t, dx0, n);
    vidai_cpu_relu_forward(pool, n, x, yc);
    if (RUN(t, "vidai_cuda_relu_forward", vidai_cuda_relu_forward(cu, n, X, Y)) &&
        dgetf(t, yg, Y, n))
        check_exact_f32(t, "y", yg, yc, n);
    /* in place: y == x */
    if (RUN(t, "vidai_cuda_relu_forward", vidai_cuda_relu_forward(cu, n, X, X)) &&
        dgetf(t, yg, X, n))
        check_exact_f32(t, "y (y == x)", yg, yc, n);
    /* backward from the output y (exact zeros where x <= 0) */
    snprintf(t->op, sizeof t->op, "relu_bwd");
    vidai_cpu_relu_backward(pool, n, yc, dy, dxc, 0);
    if (RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, Y, yc, (size_t)n * sizeof(float))) &&
        RUN(t, "vidai_cuda_relu_backward", vidai_cuda_relu_backward(cu, n, Y, DY, DX)) &&
        dgetf(t, dxg, DX, n))
        check_close(t, "dx", dxg, dxc, n, TOL_FP32);
    tc_end(t);
}

/* y = a + b (relu); where 0: out of place, 1: y == a, 2: y == b. */
static void add_case(int64_t n, int relu, int where)
{
    static const char *names[3] = {"y", "y (y == a)", "y (y == b)"};
    tcase tc, *t = &tc;
    float *a, *b, *yc, *yg, *A, *B, *Y;
    tc_begin(t, "add_fwd", "n %lld relu %d", (long long)n, relu);
    a = hrandn(t, n, 1, 0);
    b = hrandn(t, n, 1, 0);
    yc = hf(t, n);
    yg = hf(t, n);
    A = dnewf(t, a, n);
    B = dnewf(t, b, n);
    Y = where == 0 ? dnewf(t, NULL, n) : where == 1 ? A : B;
    vidai_cpu_add_forward(pool, n, a, b, relu, yc);
    if (RUN(t, "vidai_cuda_add_forward", vidai_cuda_add_forward(cu, n, A, B, relu, Y)) &&
        dgetf(t, yg, Y, n))
        check_close(t, names[where], yg, yc, n, TOL_FP32);
    tc_end(t);
}

static void accumulate_case(int64_t n)
{
    tcase tc, *t = &tc;
    float *x, *y0, *yc, *yg, *X, *Y;
    tc_begin(t, "accumulate", "n %lld", (long long)n);
    x = hrandn(t, n, 1, 0);
    y0 = hrandn(t, n, 1, 0);
    yc = hcopy(t, y0, n);
    yg = hf(t, n);
    X = dnewf(t, x, n);
    Y = dnewf(t, y0, n);
    vidai_cpu_accumulate(pool, n, x, yc);
    if (RUN(t, "vidai_cuda_accumulate", vidai_cuda_accumulate(cu, n, X, Y)) && dgetf(t, yg, Y, n))
        check_close(t, "y", yg, yc, n, TOL_FP32);
    tc_end(t);
}

/* --- pooling ---------------------------------------------------------------------------- */

static int pool_desc(tcase *t, vidai_conv_desc *d, int n, int tt, int h, int w, int c, int kt,
                     int kh, int kw, int st, int sh, int sw, int pt, int ph, int pw)
{
    memset(d, 0, sizeof *d);
    d->n = n, d->t = tt, d->h = h, d->w = w, d->cin = d->cout = c;
    d->kt = kt, d->kh = kh, d->kw = kw, d->st = st, d->sh = sh, d->sw = sw;
    d->pt = pt, d->ph = ph, d->pw = pw;
    return tc_rc(t, "vidai_conv_desc_init", vidai_conv_desc_init(d));
}

/* relu_input: half the input is exactly 0 (as after the stem's ReLU): ties in the windows. */
static void maxpool_case(int n, int tt, int h, int w, int c, int kt, int kh, int kw, int st,
                         int sh, int sw, int pt, int ph, int pw, int relu_input)
{
    tcase tc, *t = &tc;
    vidai_conv_desc d;
    int64_t nx, ny, i;
    float *x, *yc, *yg, *dy, *dx0, *dxc, *dxg, *X, *Y, *DY, *DX;
    int32_t *ac, *ag, *A;
    tc_begin(t, "maxpool_fwd", "%dx%dx%dx%dx%d k%d%d%d s%d%d%d p%d%d%d%s", n, tt, h, w, c, kt, kh,
             kw, st, sh, sw, pt, ph, pw, relu_input ? " relu'd" : "");
    if (!pool_desc(t, &d, n, tt, h, w, c, kt, kh, kw, st, sh, sw, pt, ph, pw))
        return;
    nx = (int64_t)n * tt * h * w * c;
    ny = (int64_t)n * d.to * d.ho * d.wo * c;
    x = hrandn(t, nx, 1, 0);
    if (relu_input)
        for (i = 0; i < nx; i++)
            x[i] = x[i] > 0 ? x[i] : 0;
    dy = hrandn(t, ny, 1, 0);
    dx0 = hrandn(t, nx, 1, 0);
    yc = hf(t, ny);
    yg = hf(t, ny);
    ac = hnew(t, (size_t)ny * sizeof *ac);
    ag = hnew(t, (size_t)ny * sizeof *ag);
    dxc = hcopy(t, dx0, nx);
    dxg = hf(t, nx);
    X = dnewf(t, x, nx);
    Y = dnewf(t, NULL, ny);
    A = dnew(t, NULL, (size_t)ny * sizeof *A);
    DY = dnewf(t, dy, ny);
    DX = dnewf(t, dx0, nx);
    vidai_cpu_maxpool_forward(pool, &d, x, yc, ac);
    if (RUN(t, "vidai_cuda_maxpool_forward", vidai_cuda_maxpool_forward(cu, &d, X, Y, A)) &&
        dgetf(t, yg, Y, ny) && dget(t, ag, A, (size_t)ny * sizeof *ag)) {
        check_exact_f32(t, "y", yg, yc, ny);
        check_exact_bits(t, "argmax", ag, ac, ny, sizeof *ag);
    }
    /* backward through the CPU's argmax on both sides */
    snprintf(t->op, sizeof t->op, "maxpool_bwd");
    vidai_cpu_maxpool_backward(pool, &d, dy, ac, dxc);
    if (RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, A, ac, (size_t)ny * sizeof *ac)) &&
        RUN(t, "vidai_cuda_maxpool_backward", vidai_cuda_maxpool_backward(cu, &d, DY, A, DX)) &&
        dgetf(t, dxg, DX, nx))
        check_close(t, "dx", dxg, dxc, nx, TOL_FP32);
    tc_end(t);
}

static void avgpool_case(int n, int tt, int h, int w, int c, int kt, int kh, int kw, int st,
                         int sh, int sw, int pt, int ph, int pw)
{
    tcase tc, *t = &tc;
    vidai_conv_desc d;
    int64_t nx, ny;
    float *x, *yc, *yg, *dy, *dx0, *dxc, *dxg, *X, *Y, *DY, *DX;
    tc_begin(t, "avgpool_fwd", "%dx%dx%dx%dx%d k%d%d%d s%d%d%d p%d%d%d", n, tt, h, w, c, kt, kh,
             kw, st, sh, sw, pt, ph, pw);
    if (!pool_desc(t, &d, n, tt, h, w, c, kt, kh, kw, st, sh, sw, pt, ph, pw))
        return;
    nx = (int64_t)n * tt * h * w * c;
    ny = (int64_t)n * d.to * d.ho * d.wo * c;
    x = hrandn(t, nx, 1, 0);
    dy = hrandn(t, ny, 1, 0);
    dx0 = hrandn(t, nx, 1, 0);
    yc = hf(t, ny);
    yg = hf(t, ny);
    dxc = hcopy(t, dx0, nx);
    dxg = hf(t, nx);
    X = dnewf(t, x, nx);
    Y = dnewf(t, NULL, ny);
    DY = dnewf(t, dy, ny);
    DX = dnewf(t, dx0, nx);
    vidai_cpu_avgpool_forward(pool, &d, x, yc);
    if (RUN(t, "vidai_cuda_avgpool_forward", vidai_cuda_avgpool_forward(cu, &d, X, Y)) &&
        dgetf(t, yg, Y, ny))
        check_close(t, "y", yg, yc, ny, TOL_FP32);
    snprintf(t->op, sizeof t->op, "avgpool_bwd");
    vidai_cpu_avgpool_backward(pool, &d, dy, dxc);
    if (RUN(t, "vidai_cuda_avgpool_backward", vidai_cuda_avgpool_backward(cu, &d, DY, DX)) &&
        dgetf(t, dxg, DX, nx))
        check_close(t, "dx", dxg, dxc, nx, TOL_FP32);
    tc_end(t);
}

static void gap_case(int n, int64_t s, int c)
{
    tcase tc, *t = &tc;
    const int64_t nx = n * s * c, ny = (int64_t)n * c;
    float *x, *yc, *yg, *dy, *dx0, *dxc, *dxg, *X, *Y, *DY, *DX;
    tc_begin(t, "gavgpool_fwd", "n %d s %lld c %d", n, (long long)s, c);
    x = hrandn(t, nx, 1, 0.5f);
    dy = hrandn(t, ny, 1, 0);
    dx0 = hrandn(t, nx, 1, 0);
    yc = hf(t, ny);
    yg = hf(t, ny);
    dxc = hcopy(t, dx0, nx);
    dxg = hf(t, nx);
    X = dnewf(t, x, nx);
    Y = dnewf(t, NULL, ny);
    DY = dnewf(t, dy, ny);
    DX = dnewf(t, dx0, nx);
    vidai_cpu_global_avgpool_forward(pool, n, s, c, x, yc);
    if (RUN(t, "vidai_cuda_global_avgpool_forward",
            vidai_cuda_global_avgpool_forward(cu, n, s, c, X, Y)) &&
        dgetf(t, yg, Y, ny))
        check_close(t, "y", yg, yc, ny, TOL_FP32);
    snprintf(t->op, sizeof t->op, "gavgpool_bwd");
    vidai_cpu_global_avgpool_backward(pool, n, s, c, dy, dxc);
    if (RUN(t, "vidai_cuda_global_avgpool_backward",
            vidai_cuda_global_avgpool_backward(cu, n, s, c, DY, DX)) &&
        dgetf(t, dxg, DX, nx))
        check_close(t, "dx", dxg, dxc, nx, TOL_FP32);
    tc_end(t);
}

/* --- linear ------------------------------------------------------------------------------- */

static void linear_case(int n, int in, int out)
{
    tcase tc, *t = &tc;
    const int64_t nx = (int64_t)n * in, nw = (int64_t)out * in, ny = (int64_t)n * out;
    float *x, *w, *b, *dy, *dx0, *dw0, *db0, *yc, *yg, *dxc, *dxg, *dwc, *dwg, *dbc, *dbg;
    float *X, *W, *B, *Y, *DY, *DX, *DW, *DB;
    int v;
    tc_begin(t, "linear_fwd", "n %d in %d out %d", n, in, out);
    x = hrandn(t, nx, 1, 0);
    w = hrandn(t, nw, (float)(1.0 / sqrt((double)in)), 0);
    b = hrandn(t, out, 0.5f, 0);
    dy = hrandn(t, ny, 1, 0);
    dx0 = hrandn(t, nx, 1, 0);
    dw0 = hrandn(t, nw, 1, 0);
    db0 = hrandn(t, out, 1, 0);
    yc = hf(t, ny);
    yg = hf(t, ny);
    dxc = hf(t, nx);
    dxg = hf(t, nx);
    dwc = hf(t, nw);
    dwg = hf(t, nw);
    dbc = hf(t, out);
    dbg = hf(t, out);
    X = dnewf(t, x, nx);
    W = dnewf(t, w, nw);
    B = dnewf(t, b, out);
    Y = dnewf(t, NULL, ny);
    DY = dnewf(t, dy, ny);
    DX = dnewf(t, dx0, nx);
    DW = dnewf(t, dw0, nw);
    DB = dnewf(t, db0, out);
    vidai_cpu_linear_forward(n, in, out, x, w, b, yc);
    if (RUN(t, "vidai_cuda_linear_forward", vidai_cuda_linear_forward(cu, n, in, out, X, W, B, Y)) &&
        dgetf(t, yg, Y, ny))
        check_close(t, "y", yg, yc, ny, TOL_FP32);
    vidai_cpu_linear_forward(n, in, out, x, w, NULL, yc);
    if (dpoison(t, Y, (size_t)ny * sizeof(float)) &&
        RUN(t, "vidai_cuda_linear_forward",
            vidai_cuda_linear_forward(cu, n, in, out, X, W, NULL, Y)) &&
        dgetf(t, yg, Y, ny))
        check_close(t, "y (b NULL)", yg, yc, ny, TOL_FP32);
    /* backward: all gradients; dx NULL; db NULL */
    snprintf(t->op, sizeof t->op, "linear_bwd");
    for (v = 0; v < 3; v++) {
        const int with_dx = v != 1, with_db = v != 2;
        char name[32];
        memcpy(dxc, dx0, (size_t)nx * sizeof *dxc);
        memcpy(dwc, dw0, (size_t)nw * sizeof *dwc);
        memcpy(dbc, db0, (size_t)out * sizeof *dbc);
        vidai_cpu_linear_backward(n, in, out, x, w, dy, with_dx ? dxc : NULL, dwc,
                                  with_db ? dbc : NULL);
        if (!(RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, DX, dx0, (size_t)nx * 4)) &&
              RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, DW, dw0, (size_t)nw * 4)) &&
              RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, DB, db0, (size_t)out * 4)) &&
              RUN(t, "vidai_cuda_linear_backward",
                  vidai_cuda_linear_backward(cu, n, in, out, X, W, DY, with_dx ? DX : NULL, DW,
                                             with_db ? DB : NULL)) &&
              dgetf(t, dxg, DX, nx) && dgetf(t, dwg, DW, nw) && dgetf(t, dbg, DB, out)))
            break;
        if (with_dx)
            check_close(t, v == 2 ? "dx (db NULL)" : "dx", dxg, dxc, nx, TOL_FP32);
        else /* untouched */
            check_exact_f32(t, "dx NULL:dx", dxg, dx0, nx);
        snprintf(name, sizeof name, "dw%s", v == 1 ? " (dx NULL)" : v == 2 ? " (db NULL)" : "");
        check_close(t, name, dwg, dwc, nw, TOL_FP32);
        if (with_db)
            check_close(t, v == 1 ? "db (dx NULL)" : "db", dbg, dbc, out, TOL_FP32);
        else
            check_exact_f32(t, "db NULL:db", dbg, db0, out);
    }
    tc_end(t);
}

/* --- dropout ------------------------------------------------------------------------------ */

static void dropout_case(int64_t n, float p, uint64_t key)
{
    tcase tc, *t = &tc;
    float *x, *mc, *mg, *yc, *yg, *dy, *dx0, *dxc, *dxg, *X, *M, *Y, *DY, *DX;
    tc_begin(t, "dropout_fwd", "n %lld p %g key %016llx", (long long)n, (double)p,
             (unsigned long long)key);
    x = hrandn(t, n, 1, 0);
    dy = hrandn(t, n, 1, 0);
    dx0 = hrandn(t, n, 1, 0);
    mc = hf(t, n);
    mg = hf(t, n);
    yc = hf(t, n);
    yg = hf(t, n);
    dxc = hcopy(t, dx0, n);
    dxg = hf(t, n);
    X = dnewf(t, x, n);
    M = dnewf(t, NULL, n);
    Y = dnewf(t, NULL, n);
    DY = dnewf(t, dy, n);
    DX = dnewf(t, dx0, n);
    vidai_cpu_dropout_forward(n, p, key, x, mc, yc);
    if (RUN(t, "vidai_cuda_dropout_forward", vidai_cuda_dropout_forward(cu, n, p, key, X, M, Y)) &&
        dgetf(t, mg, M, n) && dgetf(t, yg, Y, n)) {
        check_exact_f32(t, "mask", mg, mc, n);
        check_exact_f32(t, "y", yg, yc, n);
    }
    snprintf(t->op, sizeof t->op, "dropout_bwd");
    vidai_cpu_dropout_backward(n, mc, dy, dxc);
    if (RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, M, mc, (size_t)n * sizeof(float))) &&
        RUN(t, "vidai_cuda_dropout_backward", vidai_cuda_dropout_backward(cu, n, M, DY, DX)) &&
        dgetf(t, dxg, DX, n))
        check_close(t, "dx", dxg, dxc, n, TOL_FP32);
    tc_end(t);
}

/* --- losses ------------------------------------------------------------------------------- */

enum { LOSS_HARD, LOSS_SOFT, LOSS_BCE };

static void loss_case(int kind, int n, int k, float scale)
{
    static const char *ops[3] = {"xent_hard", "xent_soft", "sigmoid_bce"};
    tcase tc, *t = &tc;
    const int64_t nl = (int64_t)n * k;
    float *logits, *target = NULL, *dc, *dg, *L, *T = NULL, *D;
    int32_t *labels = NULL, *LB = NULL;
    float lc = 0, lg = 0;
    int64_t i, j;
    int with_grad;
    tc_begin(t, ops[kind], "n %d k %d logit scale %g", n, k, (double)scale);
    logits = hrandn(t, nl, scale, 0);
    if (kind == LOSS_HARD) {
        labels = hnew(t, (size_t)n * sizeof *labels);
        for (i = 0; i < n; i++)
            labels[i] = (int32_t)(vidai_rng_u64(next_key, (uint64_t)i) % (uint64_t)k);
        next_key++;
    } else if (kind == LOSS_SOFT) {
        /* probability rows: a random distribution, a one-hot row, a uniform 1/k row */
        target = hrandu(t, nl, 0, 1);
        for (i = 0; i < n; i++) {
            double s = 0;
            float *row = target + i * k;
            if (i % 3 == 1)
                for (j = 0; j < k; j++)
                    row[j] = j == i % k ? 1.0f : 0.0f;
            else if (i % 3 == 2)
                for (j = 0; j < k; j++)
                    row[j] = 1.0f;
            for (j = 0; j < k; j++)
                s += row[j];
            for (j = 0; j < k; j++)
                row[j] = (float)(row[j] / s);
        }
    } else {
        target = hrandu(t, nl, 0, 1); /* multi-hot: about 1 in 10 */
        for (i = 0; i < nl; i++)
            target[i] = target[i] < 0.1f ? 1.0f : 0.0f;
    }
    dc = hf(t, nl);
    dg = hf(t, nl);
    L = dnewf(t, logits, nl);
    if (labels)
        LB = dnew(t, labels, (size_t)n * sizeof *labels);
    if (target)
        T = dnewf(t, target, nl);
    D = dnewf(t, NULL, nl);
    for (with_grad = 1; with_grad >= 0; with_grad--) {
        int rc = VIDA_EINVAL;
        float *dcp = with_grad ? dc : NULL, *dgp = with_grad ? D : NULL;
        if (kind == LOSS_HARD)
            vidai_cpu_softmax_xent_hard(n, k, logits, labels, &lc, dcp);
        else if (kind == LOSS_SOFT)
            vidai_cpu_softmax_xent_soft(n, k, logits, target, &lc, dcp);
        else
            vidai_cpu_sigmoid_bce(n, k, logits, target, &lc, dcp);
        if (t->broken)
            break;
        lg = NAN;
        if (kind == LOSS_HARD)
            rc = vidai_cuda_softmax_xent_hard(cu, n, k, L, LB, &lg, dgp);
        else if (kind == LOSS_SOFT)
            rc = vidai_cuda_softmax_xent_soft(cu, n, k, L, T, &lg, dgp);
        else
            rc = vidai_cuda_sigmoid_bce(cu, n, k, L, T, &lg, dgp);
        if (!tc_rc(t, ops[kind], rc))
            break;
        check_scalar(t, with_grad ? "loss" : "loss (no grad)", lg, lc, TOL_FP32);
        if (with_grad && dgetf(t, dg, D, nl))
            check_close(t, "dlogits", dg, dc, nl, TOL_FP32);
    }
    tc_end(t);
}

/* --- SGD ------------------------------------------------------------------------------------ */

/* optimizer.c's update, written out. */
static void sgd_ref(int64_t n, float *w, const float *g, float *buf, float lr, float wd, float mom,
                    int nesterov, float scale)
{
    int64_t j;
    for (j = 0; j < n; j++) {
        float d = scale * g[j] + wd * w[j];
        if (buf) {
            buf[j] = mom * buf[j] + d;
            d = nesterov ? d + mom * buf[j] : buf[j];
        }
        w[j] -= lr * d;
    }
}

static void sgd_case(int64_t n, int with_buf, float mom, int nesterov, float scale, float wd)
{
    const float lr = 0.1f;
    tcase tc, *t = &tc;
    float *w0, *g, *b0, *wc, *wg, *bc, *bg, *uc, *ug, *W, *G, *B = NULL;
    int64_t i;
    tc_begin(t, "sgd_update", "n %lld buf %d mom %g nest %d sc %g wd %g", (long long)n, with_buf,
             (double)mom, nesterov, (double)scale, (double)wd);
    w0 = hrandn(t, n, 1, 0);
    g = hrandn(t, n, 1, 0);
    b0 = hrandn(t, n, 1, 0);
    wc = hcopy(t, w0, n);
    wg = hf(t, n);
    bc = hcopy(t, b0, n);
    bg = hf(t, n);
    uc = hf(t, n);
    ug = hf(t, n);
    W = dnewf(t, w0, n);
    G = dnewf(t, g, n);
    if (with_buf)
        B = dnewf(t, b0, n);
    sgd_ref(n, wc, g, with_buf ? bc : NULL, lr, wd, mom, nesterov, scale);
    if (RUN(t, "vidai_cuda_sgd_update",
            vidai_cuda_sgd_update(cu, n, W, G, B, lr, wd, mom, nesterov, scale)) &&
        dgetf(t, wg, W, n) && (!with_buf || dgetf(t, bg, B, n))) {
        /* compare the update w1 - w0, not w1: a small error in it would hide in w */
        for (i = 0; i < n; i++) {
            uc[i] = (float)((double)wc[i] - w0[i]);
            ug[i] = (float)((double)wg[i] - w0[i]);
        }
        check_close(t, "w1 - w0", ug, uc, n, TOL_FP32);
        if (with_buf)
            check_close(t, "buf", bg, bc, n, TOL_FP32);
    }
    tc_end(t);
}

/* --- sum of squares ------------------------------------------------------------------------ */

static void sumsq_case(void)
{
    enum { COUNT = 4 };
    static const int64_t sizes[COUNT] = {1, 1000, 1000003, 7};
    tcase tc, *t = &tc;
    const float *xs[COUNT];
    float *host[COUNT];
    int64_t ns[COUNT], i;
    double got[COUNT], want[COUNT];
    int k;
    tc_begin(t, "sumsq", "4 tensors: 1, 1000, 1000003, 7");
    for (k = 0; k < COUNT; k++) {
        ns[k] = sizes[k];
        host[k] = hrandn(t, ns[k], k == 3 ? 1e3f : 1.0f, 0);
        xs[k] = dnewf(t, host[k], ns[k]);
        want[k] = 0;
        for (i = 0; i < ns[k]; i++)
            want[k] += (double)host[k][i] * host[k][i];
        got[k] = NAN;
    }
    if (RUN(t, "vidai_cuda_sumsq", vidai_cuda_sumsq(cu, COUNT, xs, ns, got)))
        for (k = 0; k < COUNT; k++) {
            char name[32];
            snprintf(name, sizeof name, "sum[%d]", k);
            check_scalar(t, name, got[k], want[k], TOL_SUMSQ);
        }
    tc_end(t);
}

/* --- layouts, input normalisation, bf16 ------------------------------------------------------ */

static void layout_case(int n, int ch, int64_t s)
{
    tcase tc, *t = &tc;
    const int64_t total = n * ch * s;
    float *x, *yc, *yg, *X, *Y;
    int64_t i, c, p;
    tc_begin(t, "nchw_to_nhwc", "n %d c %d s %lld", n, ch, (long long)s);
    x = hrandn(t, total, 1, 0);
    yc = hf(t, total);
    yg = hf(t, total);
    X = dnewf(t, x, total);
    Y = dnewf(t, NULL, total);
    for (i = 0; i < n; i++)
        for (c = 0; c < ch; c++)
            for (p = 0; p < s; p++)
                yc[(i * s + p) * ch + c] = x[(i * ch + c) * s + p];
    if (RUN(t, "vidai_cuda_nchw_to_nhwc", vidai_cuda_nchw_to_nhwc(cu, n, ch, s, X, Y)) &&
        dgetf(t, yg, Y, total))
        check_exact_f32(t, "y", yg, yc, total);
    snprintf(t->op, sizeof t->op, "nhwc_to_nchw");
    for (i = 0; i < n; i++)
        for (c = 0; c < ch; c++)
            for (p = 0; p < s; p++)
                yc[(i * ch + c) * s + p] = x[(i * s + p) * ch + c];
    if (dpoison(t, Y, (size_t)total * sizeof(float)) &&
        RUN(t, "vidai_cuda_nhwc_to_nchw", vidai_cuda_nhwc_to_nchw(cu, n, ch, s, X, Y)) &&
        dgetf(t, yg, Y, total))
        check_exact_f32(t, "y", yg, yc, total);
    tc_end(t);
}

static void normalize_case(int v, int l, int h, int w, int y0, int x0, int oh, int ow, int flip)
{
    static const float mean[3] = {0.43216f, 0.394666f, 0.37645f};  /* IG-65M / Kinetics */
    static const float stdv[3] = {0.22803f, 0.22145f, 0.216989f};
    tcase tc, *t = &tc;
    const int64_t nin = (int64_t)v * l * h * w * 3, nout = (int64_t)v * l * oh * ow * 3;
    uint8_t *x, *X;
    float *yc, *yg, *Y;
    int64_t i, f;
    int r, c, k;
    tc_begin(t, "normalize_u8", "%dx%dx%dx%dx3 win %d,%d %dx%d flip %d", v, l, h, w, y0, x0, oh,
             ow, flip);
    x = hnew(t, (size_t)nin);
    for (i = 0; i < nin; i++)
        x[i] = (uint8_t)(vidai_rng_u64(next_key, (uint64_t)i) & 0xff);
    next_key++;
    x[0] = 0;
    x[1] = 255;
    yc = hf(t, nout);
    yg = hf(t, nout);
    X = dnew(t, x, (size_t)nin);
    Y = dnewf(t, NULL, nout);
    for (f = 0; f < (int64_t)v * l; f++)
        for (r = 0; r < oh; r++)
            for (c = 0; c < ow; c++)
                for (k = 0; k < 3; k++) {
                    const int sx = x0 + (flip ? ow - 1 - c : c);
                    const uint8_t u = x[((f * h + (y0 + r)) * w + sx) * 3 + k];
                    yc[((f * oh + r) * ow + c) * 3 + k] = ((float)u / 255.0f - mean[k]) / stdv[k];
                }
    if (RUN(t, "vidai_cuda_normalize_u8",
            vidai_cuda_normalize_u8(cu, v, l, h, w, X, y0, x0, oh, ow, flip, mean, stdv, Y)) &&
        dgetf(t, yg, Y, nout))
        check_close(t, "y", yg, yc, nout, TOL_U8);
    tc_end(t);
}

/* float -> bf16 bits, round to nearest even (inputs are not NaN). */
static uint16_t bf16_ref(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/*
 * which 0: random bit patterns over every exponent (no NaN, no subnormal), exact ties
 * (low half 0x8000), the largest float (rounds to infinity), +-0, +-inf; which 1:
 * subnormals only, on their own line.
 */
static void bf16_case(int which)
{
    tcase tc, *t = &tc;
    const int64_t n = which == 0 ? (1 << 20) + 7 : 4099;
    float *x, *rtc, *rg, *X, *RT;
    uint16_t *bc, *bg, *B;
    int64_t i;
    tc_begin(t, "f32_to_bf16", "n %lld %s", (long long)n, which == 0 ? "all exponents, ties" : "subnormals");
    x = hf(t, n);
    for (i = 0; i < n; i++) {
        uint32_t u = (uint32_t)vidai_rng_u64(next_key, (uint64_t)i);
        const uint32_t e = (u >> 23) & 0xff;
        if (which == 1)
            u = (u & 0x807fffffu) | (i == 0 ? 1u : 0u); /* exponent 0: subnormal or zero */
        else if (e == 0xff || e == 0)
            u ^= 0x40000000u; /* no NaN/inf/subnormal among the random ones */
        if (which == 0 && i % 16 == 3)
            u = (u & 0xffff0000u) | 0x8000u; /* an exact tie (even or odd upper half) */
        memcpy(&x[i], &u, 4);
    }
    next_key++;
    if (which == 0) {
        const uint32_t special[6] = {0x00000000u, 0x80000000u, 0x7f800000u,
                                     0xff800000u, 0x7f7fffffu, 0xff7fffffu};
        for (i = 0; i < 6; i++)
            memcpy(&x[i], &special[i], 4);
    }
    bc = hnew(t, (size_t)n * 2);
    bg = hnew(t, (size_t)n * 2);
    rtc = hf(t, n);
    rg = hf(t, n);
    for (i = 0; i < n; i++) {
        const uint32_t u = (uint32_t)(bc[i] = bf16_ref(x[i])) << 16;
        memcpy(&rtc[i], &u, 4);
    }
    X = dnewf(t, x, n);
    B = dnew(t, NULL, (size_t)n * 2);
    RT = dnewf(t, NULL, n);
    if (RUN(t, "vidai_cuda_f32_to_bf16", vidai_cuda_f32_to_bf16(cu, n, X, B)) &&
        dget(t, bg, B, (size_t)n * 2))
        check_exact_bits(t, "bf16 bits", bg, bc, n, 2);
    snprintf(t->op, sizeof t->op, "bf16 round trip");
    if (RUN(t, "vidai_cuda_bf16_to_f32", vidai_cuda_bf16_to_f32(cu, n, B, RT)) &&
        dgetf(t, rg, RT, n))
        check_exact_bits(t, "f32 bits", rg, rtc, n, 4);
    tc_end(t);
}

/* bf16 -> f32 of all 65536 bit patterns (NaN payloads included): the bits shifted left by 16. */
static void bf16_all_patterns(void)
{
    tcase tc, *t = &tc;
    uint16_t *b, *B;
    uint32_t *want, *got;
    float *Y;
    int64_t i;
    tc_begin(t, "bf16_to_f32", "all 65536 bf16 patterns");
    b = hnew(t, 65536 * 2);
    want = hnew(t, 65536 * 4);
    got = hnew(t, 65536 * 4);
    for (i = 0; i < 65536; i++) {
        b[i] = (uint16_t)i;
        want[i] = (uint32_t)i << 16;
    }
    B = dnew(t, b, 65536 * 2);
    Y = dnewf(t, NULL, 65536);
    if (RUN(t, "vidai_cuda_bf16_to_f32", vidai_cuda_bf16_to_f32(cu, 65536, B, Y)) &&
        dget(t, got, Y, 65536 * 4))
        check_exact_bits(t, "f32 bits", got, want, 65536, 4);
    tc_end(t);
}

/* fp32 -> fp16 -> fp32: exact for values fp16 holds, else within half an ulp (2^-11 relative). */
static void f16_roundtrip(void)
{
    enum { N = 4099 };
    tcase tc, *t = &tc;
    float *x, *y, *X, *Y;
    uint16_t *H;
    double worst = 0;
    int64_t i, exact_bad = 0;
    tc_begin(t, "f16 roundtrip", "%d values in [-1000, 1000] + exact ones", N);
    x = hrandu(t, N, -1000, 1000);
    y = hf(t, N);
    if (t->broken)
        return;
    x[0] = 1.0f, x[1] = -0.5f, x[2] = 2048.0f, x[3] = 0.0f, x[4] = 65504.0f, x[5] = 0.099975586f;
    X = dnewf(t, x, N);
    Y = dnewf(t, NULL, N);
    H = dnew(t, NULL, N * 2);
    if (RUN(t, "vidai_cuda_f32_to_f16", vidai_cuda_f32_to_f16(cu, N, X, H)) &&
        RUN(t, "vidai_cuda_f16_to_f32", vidai_cuda_f16_to_f32(cu, N, H, Y)) && dgetf(t, y, Y, N)) {
        char s[32];
        for (i = 0; i < 6; i++)
            exact_bad += y[i] != x[i];
        for (i = 6; i < N; i++) {
            double e = fabs((double)y[i] - x[i]) / fabs((double)x[i]);
            if (!(e <= worst))
                worst = e;
        }
        snprintf(s, sizeof s, "%.3e", worst);
        report(t, "rel err", s, worst <= 1.0 / 2048);
        snprintf(s, sizeof s, "%lld", (long long)exact_bad);
        report(t, "exact values", s, exact_bad == 0);
    }
    tc_end(t);
}

/* --- sections ---------------------------------------------------------------------------- */

static void fp32_ops(void)
{
    static const int64_t rows[3] = {1, 7, 100000};
    static const int chans[3] = {3, 45, 64};
    static const int64_t sizes[3] = {1, 7, 1000003};
    int i, j;

    conv_all(TOL_FP32);

    for (i = 0; i < 3; i++)
        for (j = 0; j < 3; j++)
            bn_case(rows[i], chans[j], 1e-5f);
    bn_case(1, 921, 1e-3f);
    bn_case(7, 921, 1e-5f);
    bn_case(5000, 921, 1e-3f);
    bn_case(3000, 230, 1e-5f);

    for (i = 0; i < 3; i++) {
        relu_case(sizes[i]);
        add_case(sizes[i], 0, 0);
        add_case(sizes[i], 1, 0);
        add_case(sizes[i], 0, 1);
        add_case(sizes[i], 1, 1);
        add_case(sizes[i], 1, 2);
        accumulate_case(sizes[i]);
    }

    /* the stem's max-pool (1,3,3)/(1,2,2) pad (0,1,1); a 3-D one; ties after a ReLU */
    maxpool_case(2, 4, 28, 28, 64, 1, 3, 3, 1, 2, 2, 0, 1, 1, 0);
    maxpool_case(1, 5, 9, 9, 32, 3, 3, 3, 2, 2, 2, 1, 1, 1, 0);
    maxpool_case(2, 4, 28, 28, 64, 1, 3, 3, 1, 2, 2, 0, 1, 1, 1);
    maxpool_case(1, 3, 7, 7, 921, 3, 3, 3, 2, 2, 2, 1, 1, 1, 0);
    avgpool_case(2, 4, 14, 14, 32, 2, 2, 2, 2, 2, 2, 0, 0, 0);
    avgpool_case(1, 5, 9, 9, 16, 3, 3, 3, 2, 2, 2, 1, 1, 1);
    avgpool_case(1, 3, 7, 7, 45, 1, 3, 3, 1, 2, 2, 0, 1, 1);
    gap_case(2, 4 * 7 * 7, 512);
    gap_case(1, 1, 64);
    gap_case(3, 8 * 14 * 14, 64);
    gap_case(2, 1 * 2 * 2, 921);

    linear_case(4, 512, 400);
    linear_case(1, 2048, 1000);
    linear_case(3, 64, 5);
    linear_case(16, 256, 101);

    dropout_case(1000003, 0.5f, 0x9e3779b97f4a7c15ull);
    dropout_case(1000003, 0.2f, 42);
    dropout_case(7, 0.9f, 1);
    dropout_case(4096, 0.0f, 0xffffffffffffffffull);

    loss_case(LOSS_HARD, 4, 400, 3);
    loss_case(LOSS_HARD, 1, 2, 3);
    loss_case(LOSS_HARD, 64, 1000, 3);
    loss_case(LOSS_HARD, 4, 400, 30);
    loss_case(LOSS_SOFT, 4, 400, 3);
    loss_case(LOSS_SOFT, 9, 7, 3);
    loss_case(LOSS_SOFT, 4, 400, 30);
    loss_case(LOSS_BCE, 4, 400, 3);
    loss_case(LOSS_BCE, 1, 3, 3);
    loss_case(LOSS_BCE, 4, 400, 30);

    sgd_case(1000003, 1, 0.9f, 0, 1.0f, 0.05f);
    sgd_case(1000003, 1, 0.9f, 1, 0.37f, 0.05f);
    sgd_case(1000003, 0, 0.0f, 0, 1.0f, 0.05f);
    sgd_case(5, 1, 0.5f, 1, 1.0f, 0.0f);
    sgd_case(5, 0, 0.9f, 0, 0.5f, 0.0f);

    sumsq_case();

    layout_case(2, 3, 16 * 112 * 112);
    layout_case(1, 64, 7);
    layout_case(3, 5, 1);
    layout_case(2, 921, 98);

    normalize_case(2, 4, 36, 48, 3, 5, 32, 40, 0);
    normalize_case(2, 4, 36, 48, 3, 5, 32, 40, 1);
    normalize_case(1, 1, 16, 16, 0, 0, 16, 16, 1);
    normalize_case(3, 8, 64, 85, 0, 21, 64, 64, 1);

    bf16_case(0);
    bf16_case(1);
    bf16_all_patterns();
}

/* --- 16-bit activations (the typed ops, precision BF16) --------------------------------------- */

static float bf16_val(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* x rounded to bf16, in place (the values a bf16 activation holds). */
static float *hround(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = bf16_val(bf16_ref(x[i]));
    return x;
}

/* A device bf16 buffer holding host (rounded), or 0xffff (NaN) when host is NULL. */
static void *dnew16(tcase *t, const float *host, int64_t n)
{
    uint16_t *b = hnew(t, (size_t)n * 2);
    for (int64_t i = 0; i < n; i++)
        b[i] = host ? bf16_ref(host[i]) : 0xffffu;
    return dnew(t, b, (size_t)n * 2);
}

static int dget16(tcase *t, float *host, const void *d, int64_t n)
{
    uint16_t *b = hnew(t, (size_t)n * 2);
    if (!dget(t, b, d, (size_t)n * 2))
        return 0;
    for (int64_t i = 0; i < n; i++)
        host[i] = bf16_val(b[i]);
    return 1;
}

/*
 * A convolution on bf16 activations: every mix of 16-bit and fp32 input and
 * output the model uses, against the CPU on the same (rounded) values. The
 * results are rounded once more when stored, so the bound is TOL_BF16.
 */
static void conv16_case(const conv_shape *s)
{
    vidai_conv_desc d;
    tcase tc, *t = &tc;
    int64_t nx, nw, ny;
    float *x, *w, *b, *dy, *dx0, *dw0, *yc, *yg, *dxc, *dxg, *dwc, *dwg;
    float *W, *B, *X, *DW, *DXF, *YF;
    void *X16, *DY16, *Y16, *DX16;
    memset(&d, 0, sizeof d);
    d.n = s->n, d.t = s->t, d.h = s->h, d.w = s->w, d.cin = s->cin;
    d.cout = s->cout, d.kt = s->kt, d.kh = s->kh, d.kw = s->kw;
    d.st = s->st, d.sh = s->sh, d.sw = s->sw, d.pt = s->pt, d.ph = s->ph, d.pw = s->pw;
    tc_begin(t, "conv16_fwd", "%s", s->what);
    if (!tc_rc(t, "vidai_conv_desc_init", vidai_conv_desc_init(&d)))
        return;
    nx = (int64_t)d.n * d.t * d.h * d.w * d.cin;
    nw = (int64_t)d.cout * d.kt * d.kh * d.kw * d.cin;
    ny = (int64_t)d.n * d.to * d.ho * d.wo * d.cout;
    x = hround(hrandn(t, nx, 1, 0), nx);
    w = hrandn(t, nw, (float)(1.0 / sqrt((double)d.kt * d.kh * d.kw * d.cin)), 0);
    b = hrandn(t, d.cout, 0.5f, 0);
    dy = hround(hrandn(t, ny, 1, 0), ny);
    dx0 = hround(hrandn(t, nx, 1, 0), nx);
    dw0 = hrandn(t, nw, 1, 0);
    yc = hf(t, ny);
    yg = hf(t, ny);
    dxc = hf(t, nx);
    dxg = hf(t, nx);
    dwc = hcopy(t, dw0, nw);
    dwg = hf(t, nw);
    W = dnewf(t, w, nw);
    B = dnewf(t, b, d.cout);
    X = dnewf(t, x, nx);
    DW = dnewf(t, dw0, nw);
    DXF = dnewf(t, dx0, nx);
    YF = dnewf(t, NULL, ny);
    X16 = dnew16(t, x, nx);
    DY16 = dnew16(t, dy, ny);
    Y16 = dnew16(t, NULL, ny);
    DX16 = dnew16(t, NULL, nx);
    /* bf16 in, bf16 out, bias and ReLU in place (eval's folded convolutions) */
    if (tc_rc(t, "vidai_cpu_conv_forward", vidai_cpu_conv_forward(pool, &d, x, w, b, 1, yc)) &&
        RUN(t, "vidai_cuda_conv_forward_t",
            vidai_cuda_conv_forward_t(cu, &d, X16, 1, W, B, 1, Y16, 1)) &&
        dget16(t, yg, Y16, ny))
        check_close(t, "relu(y+b) 16>16", yg, yc, ny, TOL_BF16);
    /* bf16 in, bf16 out, nothing after (training) */
    if (tc_rc(t, "vidai_cpu_conv_forward", vidai_cpu_conv_forward(pool, &d, x, w, NULL, 0, yc)) &&
        dpoison(t, Y16, (size_t)ny * 2) &&
        RUN(t, "vidai_cuda_conv_forward_t",
            vidai_cuda_conv_forward_t(cu, &d, X16, 1, W, NULL, 0, Y16, 1)) &&
        dget16(t, yg, Y16, ny))
        check_close(t, "y 16>16", yg, yc, ny, TOL_BF16);
    /* fp32 in (the input clip), bf16 out */
    if (RUN(t, "vidai_cuda_conv_forward_t",
            vidai_cuda_conv_forward_t(cu, &d, X, 0, W, NULL, 0, Y16, 1)) &&
        dget16(t, yg, Y16, ny))
        check_close(t, "y 32>16", yg, yc, ny, TOL_BF16);
    /* bf16 in, fp32 out */
    if (RUN(t, "vidai_cuda_conv_forward_t",
            vidai_cuda_conv_forward_t(cu, &d, X16, 1, W, NULL, 0, YF, 0)) &&
        dgetf(t, yg, YF, ny))
        check_close(t, "y 16>32", yg, yc, ny, TOL_BF16);
    /* backward data: overwriting a NaN bf16 dx, adding to a bf16 dx, adding to an fp32 dx */
    snprintf(t->op, sizeof t->op, "conv16_bwd_data");
    memset(dxc, 0, (size_t)nx * sizeof *dxc);
    if (tc_rc(t, "vidai_cpu_conv_backward_data", vidai_cpu_conv_backward_data(pool, &d, dy, w, dxc)) &&
        RUN(t, "vidai_cuda_conv_backward_data_t",
            vidai_cuda_conv_backward_data_t(cu, &d, DY16, 1, W, DX16, 1, 1)) &&
        dget16(t, dxg, DX16, nx))
        check_close(t, "dx 16 (set)", dxg, dxc, nx, TOL_BF16);
    memcpy(dxc, dx0, (size_t)nx * sizeof *dxc);
    if (tc_rc(t, "vidai_cpu_conv_backward_data", vidai_cpu_conv_backward_data(pool, &d, dy, w, dxc)) &&
        !t->broken) {
        void *DXA = dnew16(t, dx0, nx);
        if (DXA &&
            RUN(t, "vidai_cuda_conv_backward_data_t",
                vidai_cuda_conv_backward_data_t(cu, &d, DY16, 1, W, DXA, 1, 0)) &&
            dget16(t, dxg, DXA, nx))
            check_close(t, "dx 16 (+=)", dxg, dxc, nx, TOL_BF16);
        if (RUN(t, "vidai_cuda_conv_backward_data_t",
                vidai_cuda_conv_backward_data_t(cu, &d, DY16, 1, W, DXF, 0, 0)) &&
            dgetf(t, dxg, DXF, nx))
            check_close(t, "dx 32 (+=)", dxg, dxc, nx, TOL_BF16);
    }
    /* backward filter from bf16 x and dy into the fp32 dw */
    snprintf(t->op, sizeof t->op, "conv16_bwd_filter");
    if (tc_rc(t, "vidai_cpu_conv_backward_filter",
              vidai_cpu_conv_backward_filter(pool, &d, x, dy, dwc)) &&
        RUN(t, "vidai_cuda_conv_backward_filter_t",
            vidai_cuda_conv_backward_filter_t(cu, &d, X16, 1, DY16, 1, DW)) &&
        dgetf(t, dwg, DW, nw))
        check_close(t, "dw", dwg, dwc, nw, TOL_BF16);
    tc_end(t);
}

/*
 * Training batch norm on bf16 activations, with and without its ReLU, and
 * its backward (adding, and overwriting a NaN dx), against the CPU on the
 * same rounded values; the statistics are fp32 on both sides.
 */
static void bn16_case(int64_t rows, int c)
{
    const float eps = 1e-5f, momentum = 0.1f;
    tcase tc, *t = &tc;
    const int64_t n = rows * c;
    float *x, *off, *sc, *gamma, *beta, *rm0, *rv0, *dy, *dx0, *dg0, *db0, *dym;
    float *yc, *yg, *smc, *smg, *sic, *sig, *rmc, *rmg, *rvc, *rvg, *dxc, *dxg, *dgc, *dgg, *dbc,
        *dbg;
    float *G, *BT, *RM, *RV, *SM, *SI, *DG, *DB;
    void *X, *Y, *DY, *DX, *DX0;
    int64_t r;
    int k, relu, ow;
    tc_begin(t, "bn16_fwd_train", "rows %lld c %d", (long long)rows, c);
    x = hrandn(t, n, 1, 0);
    off = hrandn(t, c, 3, 0);
    sc = hrandu(t, c, 0.5f, 2.0f);
    for (r = 0; r < rows; r++)
        for (k = 0; k < c; k++)
            x[r * c + k] = off[k] + sc[k] * x[r * c + k];
    hround(x, n);
    gamma = hrandn(t, c, 0.3f, 1);
    beta = hrandn(t, c, 0.5f, 0);
    rm0 = hrandn(t, c, 0.2f, 0);
    rv0 = hrandu(t, c, 0.5f, 1.5f);
    dy = hround(hrandn(t, n, 1, 0), n);
    dx0 = hround(hrandn(t, n, 1, 0), n);
    dg0 = hrandn(t, c, 1, 0);
    db0 = hrandn(t, c, 1, 0);
    dym = hf(t, n);
    yc = hf(t, n);
    yg = hf(t, n);
    smc = hf(t, c);
    smg = hf(t, c);
    sic = hf(t, c);
    sig = hf(t, c);
    rmc = hf(t, c);
    rmg = hf(t, c);
    rvc = hf(t, c);
    rvg = hf(t, c);
    dxc = hf(t, n);
    dxg = hf(t, n);
    dgc = hf(t, c);
    dgg = hf(t, c);
    dbc = hf(t, c);
    dbg = hf(t, c);
    G = dnewf(t, gamma, c);
    BT = dnewf(t, beta, c);
    RM = dnewf(t, rm0, c);
    RV = dnewf(t, rv0, c);
    SM = dnewf(t, NULL, c);
    SI = dnewf(t, NULL, c);
    DG = dnewf(t, dg0, c);
    DB = dnewf(t, db0, c);
    X = dnew16(t, x, n);
    Y = dnew16(t, NULL, n);
    DY = dnew16(t, dy, n);
    DX = dnew16(t, NULL, n);
    DX0 = dnew16(t, dx0, n);
    for (relu = 0; relu < 2; relu++) {
        snprintf(t->op, sizeof t->op, relu ? "bn16_relu_fwd" : "bn16_fwd_train");
        memcpy(rmc, rm0, (size_t)c * sizeof *rmc);
        memcpy(rvc, rv0, (size_t)c * sizeof *rvc);
        vidai_cpu_bn_forward_train(pool, rows, c, x, gamma, beta, eps, momentum, rmc, rvc, smc,
                                   sic, yc);
        if (relu)
            vidai_cpu_relu_forward(pool, n, yc, yc);
        if (RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, RM, rm0, (size_t)c * sizeof(float))) &&
            RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, RV, rv0, (size_t)c * sizeof(float))) &&
            dpoison(t, Y, (size_t)n * 2) &&
            RUN(t, "vidai_cuda_bn_forward_train_t",
                vidai_cuda_bn_forward_train_t(cu, rows, c, X, G, BT, eps, momentum, RM, RV, SM, SI,
                                              relu, Y, 1)) &&
            dget16(t, yg, Y, n) && dgetf(t, smg, SM, c) && dgetf(t, sig, SI, c) &&
            dgetf(t, rmg, RM, c) && dgetf(t, rvg, RV, c)) {
            check_close(t, relu ? "relu(y)" : "y", yg, yc, n, TOL_BF16);
            check_close(t, "save_mean", smg, smc, c, TOL_FP32);
            check_close(t, "save_invstd", sig, sic, c, TOL_FP32);
            check_close(t, "running_mean", rmg, rmc, c, TOL_FP32);
            check_close(t, "running_var", rvg, rvc, c, TOL_FP32);
        }
    }
    /* backward from the CPU's statistics; through the ReLU of the GPU's own relu(y) (Y now), so
       both sides mask the same elements */
    for (relu = 0; relu < 2; relu++)
        for (ow = 0; ow < 2; ow++) {
            snprintf(t->op, sizeof t->op, relu ? "bn16_relu_bwd" : "bn16_bwd_train");
            for (r = 0; r < n; r++)
                dym[r] = !relu || yg[r] > 0 ? dy[r] : 0.0f;
            if (ow)
                memset(dxc, 0, (size_t)n * sizeof *dxc);
            else
                memcpy(dxc, dx0, (size_t)n * sizeof *dxc);
            memcpy(dgc, dg0, (size_t)c * sizeof *dgc);
            memcpy(dbc, db0, (size_t)c * sizeof *dbc);
            vidai_cpu_bn_backward_train(pool, rows, c, x, dym, gamma, smc, sic, dxc, dgc, dbc, 0);
            if (RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, SM, smc, (size_t)c * sizeof(float))) &&
                RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, SI, sic, (size_t)c * sizeof(float))) &&
                (ow ? dpoison(t, DX, (size_t)n * 2)
                    : RUN(t, "vidai_cuda_copy", vidai_cuda_copy(cu, DX, DX0, (size_t)n * 2))) &&
                RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, DG, dg0, (size_t)c * sizeof(float))) &&
                RUN(t, "vidai_cuda_upload", vidai_cuda_upload(cu, DB, db0, (size_t)c * sizeof(float))) &&
                RUN(t, "vidai_cuda_bn_backward_train_t",
                    vidai_cuda_bn_backward_train_t(cu, rows, c, X, relu ? Y : NULL, DY, G, SM, SI,
                                                   DX, DG, DB, ow, 1)) &&
                dget16(t, dxg, DX, n) && dgetf(t, dgg, DG, c) && dgetf(t, dbg, DB, c)) {
                check_close(t, ow ? "dx (set)" : "dx", dxg, dxc, n, TOL_BF16);
                check_close(t, "dgamma", dgg, dgc, c, TOL_FP32);
                check_close(t, "dbeta", dbg, dbc, c, TOL_FP32);
            }
        }
    tc_end(t);
}

/* y = relu(a + b) and its backward into both inputs (and into one, twice, da == db); the global
   average pool of a bf16 input and its backward. */
static void eltwise16_case(int n_, int64_t s, int c)
{
    tcase tc, *t = &tc;
    const int64_t n = (int64_t)n_ * s * c, ny = (int64_t)n_ * c;
    float *a, *b, *dy, *da0, *db0, *yc, *yg, *dac, *dbc, *dag, *dbg, *g, *gy, *gdx0;
    void *A, *Bb, *Y, *DY, *DA, *DB;
    float *GY, *GDY;
    int64_t i;
    tc_begin(t, "add16_relu_fwd", "n %lld", (long long)n);
    a = hround(hrandn(t, n, 1, 0), n);
    b = hround(hrandn(t, n, 1, 0), n);
    dy = hround(hrandn(t, n, 1, 0), n);
    da0 = hround(hrandn(t, n, 1, 0), n);
    db0 = hround(hrandn(t, n, 1, 0), n);
    yc = hf(t, n);
    yg = hf(t, n);
    dac = hf(t, n);
    dbc = hf(t, n);
    dag = hf(t, n);
    dbg = hf(t, n);
    A = dnew16(t, a, n);
    Bb = dnew16(t, b, n);
    Y = dnew16(t, NULL, n);
    DY = dnew16(t, dy, n);
    DA = dnew16(t, da0, n);
    DB = dnew16(t, db0, n);
    vidai_cpu_add_forward(pool, n, a, b, 1, yc);
    if (RUN(t, "vidai_cuda_add_relu_forward_t", vidai_cuda_add_relu_forward_t(cu, n, A, Bb, Y, 1)) &&
        dget16(t, yg, Y, n))
        check_close(t, "relu(a+b)", yg, yc, n, TOL_BF16);
    snprintf(t->op, sizeof t->op, "add16_relu_bwd");
    for (i = 0; i < n; i++) { /* through the GPU's own y: the same mask */
        const float gi = yg[i] > 0 ? dy[i] : 0.0f;
        dac[i] = da0[i] + gi;
        dbc[i] = db0[i] + gi;
    }
    if (RUN(t, "vidai_cuda_add_relu_backward_t",
            vidai_cuda_add_relu_backward_t(cu, n, Y, DY, DA, DB, 1)) &&
        dget16(t, dag, DA, n) && dget16(t, dbg, DB, n)) {
        check_close(t, "da", dag, dac, n, TOL_BF16);
        check_close(t, "db", dbg, dbc, n, TOL_BF16);
    }
    for (i = 0; i < n; i++) /* da as the call above left it */
        dac[i] = dag[i] + 2 * (yg[i] > 0 ? dy[i] : 0.0f);
    if (RUN(t, "vidai_cuda_add_relu_backward_t",
            vidai_cuda_add_relu_backward_t(cu, n, Y, DY, DA, DA, 1)) &&
        dget16(t, dbg, DA, n))
        check_close(t, "da (da == db)", dbg, dac, n, TOL_BF16);
    /* fp32 through the same entry point (the model's add also on fp32 slots) */
    {
        float *AF = dnewf(t, a, n), *BF = dnewf(t, b, n), *YF = dnewf(t, NULL, n);
        if (RUN(t, "vidai_cuda_add_relu_forward_t",
                vidai_cuda_add_relu_forward_t(cu, n, AF, BF, YF, 0)) &&
            dgetf(t, yg, YF, n))
            check_exact_f32(t, "relu(a+b) fp32", yg, yc, n);
    }
    snprintf(t->op, sizeof t->op, "gavgpool16");
    g = hf(t, ny);
    gy = hf(t, ny);
    gdx0 = hf(t, n);
    GY = dnewf(t, NULL, ny);
    GDY = dnewf(t, dy, ny); /* the first ny values of dy as the pooled gradient */
    vidai_cpu_global_avgpool_forward(pool, n_, s, c, a, g);
    if (RUN(t, "vidai_cuda_global_avgpool_forward_t",
            vidai_cuda_global_avgpool_forward_t(cu, n_, s, c, A, 1, GY)) &&
        dgetf(t, gy, GY, ny))
        check_close(t, "y", gy, g, ny, TOL_FP32);
    memcpy(gdx0, da0, (size_t)n * sizeof *gdx0);
    vidai_cpu_global_avgpool_backward(pool, n_, s, c, dy, gdx0);
    {
        void *GDX = dnew16(t, da0, n);
        if (GDX &&
            RUN(t, "vidai_cuda_global_avgpool_backward_t",
                vidai_cuda_global_avgpool_backward_t(cu, n_, s, c, GDY, GDX, 1)) &&
            dget16(t, dag, GDX, n))
            check_close(t, "dx", dag, gdx0, n, TOL_BF16);
    }
    tc_end(t);
}

/* The typed ops on bf16 activations (precision BF16), then with the direct kernels forced. */
static void act16_section(void)
{
    /* output sizes a multiple of 8 (the kernels that go eight at a time; channels 230 wrap
       inside a group) and not (25: 315 values, one at a time) */
    static const int shapes[] = {1, 6, 8, 20, 24, 25};
    size_t i;
    section = "act16";
    vidai_cuda_set_precision(cu, VIDAI_CUDA_BF16);
    for (i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        conv16_case(&conv_shapes[shapes[i]]);
    bn16_case(2000, 45);
    bn16_case(3 * 7 * 7, 144);
    bn16_case(3 * 7 * 7, 45); /* 6615 values: one at a time */
    eltwise16_case(2, 98, 64);
    eltwise16_case(3, 7, 33);
    vidai_cuda_set_conv_engine(cu, VIDAI_CONV_DIRECT);
    section = "act16d";
    conv16_case(&conv_shapes[1]);
    conv16_case(&conv_shapes[23]);
    vidai_cuda_set_conv_engine(cu, VIDAI_CONV_AUTO);
    vidai_cuda_set_precision(cu, VIDAI_CUDA_FP32);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The convolutions again with 16-bit operands (precision), then back to fp32. */
static void lowp_section(const char *name, int precision, double tol)
{
    tcase tc;
    int64_t direct;
    section = name;
    vidai_cuda_set_precision(cu, precision);
    tc_begin(&tc, "set_precision", "%s", name);
    report(&tc, "precision", vidai_cuda_precision(cu) == precision ? name : "other",
           vidai_cuda_precision(cu) == precision);
    direct = vidai_cuda_direct_convs(cu);
    conv_all(tol);
    printf("       %s: %lld convs ran on the direct kernels (information)\n", name,
           (long long)(vidai_cuda_direct_convs(cu) - direct));
    vidai_cuda_set_precision(cu, VIDAI_CUDA_FP32);
}

int main(void)
{
    long n_cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int64_t direct;
    double t0 = now(), t1;
    int rc;
    if (vidai_cuda_device_count() <= 0) {
        printf("SKIP: no CUDA device\n0 passed, 0 failed\n");
        return 0;
    }
    rc = vidai_cuda_create(&cu, 0);
    if (rc != VIDA_OK) {
        printf("vidai_cuda_create(device 0) returned %d: %s\n0 passed, 1 failed\n", rc,
               vida_last_error());
        return 1;
    }
    printf("device: %s\n", vidai_cuda_describe(cu));
    rc = vidai_pool_create(&pool, n_cpus > 0 ? (int)n_cpus : 1);
    if (rc != VIDA_OK) {
        printf("vidai_pool_create: %s\n", vida_last_error());
        return 1;
    }
    printf("CPU reference on %d threads; error = max|gpu - cpu| / max|cpu| per output\n",
           vidai_pool_n_threads(pool));
    printf("%-6s %-16s %-44s %-14s %11s  %s\n", "mode", "op", "shape", "output", "error", "");

    /* fp32, cuDNN with the direct kernels only where cuDNN has no algorithm */
    section = "fp32";
    vidai_cuda_set_precision(cu, VIDAI_CUDA_FP32);
    vidai_cuda_set_conv_engine(cu, VIDAI_CONV_AUTO);
    fp32_ops();
    direct = vidai_cuda_direct_convs(cu);
    {
        tcase tc;
        char s[32];
        tc_begin(&tc, "cudnn coverage", "all fp32 convolutions above");
        snprintf(s, sizeof s, "%lld", (long long)direct);
        report(&tc, "direct convs", s, direct == 0);
        if (direct > 0)
            printf("       cuDNN had no algorithm for %lld convs (they ran on the direct kernels)\n",
                   (long long)direct);
    }
    t1 = now();
    printf("       fp32 section: %.1f s\n", t1 - t0);

    /* 16-bit convolutions (mixed precision; fp16's loss scaling lives in vida_train_step) */
    lowp_section("bf16", VIDAI_CUDA_BF16, TOL_BF16);
    printf("       bf16 section: %.1f s\n", now() - t1);
    t1 = now();
    act16_section();
    printf("       act16 section: %.1f s\n", now() - t1);
    t1 = now();
    section = "fp16";
    f16_roundtrip();
    lowp_section("fp16", VIDAI_CUDA_FP16, TOL_FP16);
    printf("       fp16 section: %.1f s\n", now() - t1);
    t1 = now();

    /* fp32 on the direct kernels (the fallback path) */
    section = "direct";
    vidai_cuda_set_conv_engine(cu, VIDAI_CONV_DIRECT);
    conv_all(TOL_FP32);
    vidai_cuda_set_conv_engine(cu, VIDAI_CONV_AUTO);
    printf("       direct section: %.1f s\n", now() - t1);

    vidai_pool_free(pool);
    vidai_cuda_free(cu);
    printf("total %.1f s\n", now() - t0);
    printf("%d passed, %d failed\n", n_passed, n_failed);
    return n_failed ? 1 : 0;
}
