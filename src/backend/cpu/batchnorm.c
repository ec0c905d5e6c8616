/*
 * Batch normalisation (Ioffe & Szegedy 2015) over channels-last rows: x is
 * [rows][c], statistics are per channel over all rows (N*T*H*W). Training
 * mode follows PyTorch's BatchNorm3d: normalise with the biased batch
 * variance, update the running variance with the unbiased one.
 *
 * The ops take no scratch memory. Channels are processed in segments of
 * BN_SEG; for each segment, per-channel sums are accumulated in double over
 * a fixed number of row parts (a function of rows only) and reduced in part
 * order, so results do not depend on the thread count. The variance is
 * accumulated around a shift (the first row's value), which avoids the
 * cancellation of sum(x^2) - n*mean^2 when |mean| >> std.
 */
#include <math.h>
#include <string.h>

#include "backend/backend.h"

#define BN_SEG 128       /* channels per segment */
#define BN_PARTS 8       /* most row parts of a reduction */
#define BN_PART_MIN 1024 /* fewest rows per part */

typedef struct bn_job {
    int64_t rows;
    int c;      /* row stride */
    int c0, cs; /* segment: channels [c0, c0 + cs) */
    int n_parts;
    int64_t n_tasks; /* of an elementwise pass */
    const float *x, *dy;
    float *out;
    /* Per-channel values of the segment, indexed k in [0, cs). */
    float mean[BN_SEG], invstd[BN_SEG];
    float a[BN_SEG], b[BN_SEG], e[BN_SEG]; /* pass coefficients, see the tasks */
    int set; /* dx_train_task: overwrite out instead of adding to it */
    double part[BN_PARTS][2][BN_SEG];
} bn_job;

static void part_rows(const bn_job *j, int64_t p, int64_t *r0, int64_t *r1)
{
    *r0 = j->rows * p / j->n_parts;
    *r1 = j->rows * (p + 1) / j->n_parts;
}

static void pass_rows(const bn_job *j, int64_t i, int64_t *r0, int64_t *r1)
{
    *r0 = j->rows * i / j->n_tasks;
    *r1 = j->rows * (i + 1) / j->n_tasks;
}

/* part[p][0] = sum (x - a), part[p][1] = sum (x - a)^2 over the rows of part p; a is the shift. */
static void stat_x_task(void *arg, int64_t p)
{
    bn_job *j = arg;
    double *s0 = j->part[p][0], *s1 = j->part[p][1];
    int64_t r, r0, r1;
    int k;
    part_rows(j, p, &r0, &r1);
    memset(j->part[p], 0, sizeof j->part[p]);
    for (r = r0; r < r1; r++) {
        const float *row = j->x + r * j->c + j->c0;
        for (k = 0; k < j->cs; k++) {
            double v = (double)row[k] - j->a[k];
            s0[k] += v;
            s1[k] += v * v;
        }
    }
}

/* part[p][0] = sum dy, part[p][1] = sum dy * xhat, xhat = (x - mean) * invstd. */
static void stat_dy_task(void *arg, int64_t p)
{
    bn_job *j = arg;
    double *s0 = j->part[p][0], *s1 = j->part[p][1];
    int64_t r, r0, r1;
    int k;
    part_rows(j, p, &r0, &r1);
    memset(j->part[p], 0, sizeof j->part[p]);
    for (r = r0; r < r1; r++) {
        const float *xr = j->x + r * j->c + j->c0, *dyr = j->dy + r * j->c + j->c0;
        for (k = 0; k < j->cs; k++) {
            s0[k] += dyr[k];
            s1[k] += (double)dyr[k] * ((xr[k] - j->mean[k]) * j->invstd[k]);
        }
    }
}

/* Runs a statistics task over the parts and leaves the totals in part[0]. */
static void bn_reduce(vidai_pool *pool, bn_job *j, vidai_task_fn fn)
{
    int p, k;
    j->n_parts = (int)(j->rows / BN_PART_MIN);
    if (j->n_parts > BN_PARTS)
        j->n_parts = BN_PARTS;
    if (j->n_parts < 1)
        j->n_parts = 1;
    vidai_pool_run(pool, j->n_parts, fn, j);
    for (p = 1; p < j->n_parts; p++)
        for (k = 0; k < j->cs; k++) {
            j->part[0][0][k] += j->part[p][0][k];
            j->part[0][1][k] += j->part[p][1][k];
        }
}

/* out = (x - mean) * a + b; subtracting first keeps precision when |mean| >> std. */
static void affine_task(void *arg, int64_t i)
{
    const bn_job *j = arg;
    int64_t r, r0, r1;
    int k;
    pass_rows(j, i, &r0, &r1);
    for (r = r0; r < r1; r++) {
        const float *restrict xr = j->x + r * j->c + j->c0;
        float *restrict yr = j->out + r * j->c + j->c0;
        for (k = 0; k < j->cs; k++)
            yr[k] = (xr[k] - j->mean[k]) * j->a[k] + j->b[k];
    }
}

/* out += a * (dy - b - xhat * e), xhat = (x - mean) * invstd; with set, out = that. */
static void dx_train_task(void *arg, int64_t i)
{
    const bn_job *j = arg;
    int64_t r, r0, r1;
    int k;
    pass_rows(j, i, &r0, &r1);
    for (r = r0; r < r1; r++) {
        const float *restrict xr = j->x + r * j->c + j->c0;
        const float *restrict dyr = j->dy + r * j->c + j->c0;
        float *restrict dxr = j->out + r * j->c + j->c0;
        if (j->set) { /* two loops: the overwrite never reads dx */
            for (k = 0; k < j->cs; k++) {
                float xhat = (xr[k] - j->mean[k]) * j->invstd[k];
                dxr[k] = j->a[k] * (dyr[k] - j->b[k] - xhat * j->e[k]);
            }
        } else {
            for (k = 0; k < j->cs; k++) {
                float xhat = (xr[k] - j->mean[k]) * j->invstd[k];
                dxr[k] += j->a[k] * (dyr[k] - j->b[k] - xhat * j->e[k]);
            }
        }
    }
}

/* out += dy * a. */
static void dx_eval_task(void *arg, int64_t i)
{
    const bn_job *j = arg;
    int64_t r, r0, r1;
    int k;
    pass_rows(j, i, &r0, &r1);
    for (r = r0; r < r1; r++) {
        const float *restrict dyr = j->dy + r * j->c + j->c0;
        float *restrict dxr = j->out + r * j->c + j->c0;
        for (k = 0; k < j->cs; k++)
            dxr[k] += dyr[k] * j->a[k];
    }
}

/* Runs an elementwise pass over all rows of the segment. */
static void bn_pass(vidai_pool *pool, bn_job *j, vidai_task_fn fn)
{
    int64_t n = j->rows * j->cs / 16384; /* tasks of >= 16K elements */
    int64_t most = 4 * (int64_t)vidai_pool_n_threads(pool);
    j->n_tasks = n < 1 ? 1 : n > most ? most : n;
    vidai_pool_run(pool, j->n_tasks, fn, j);
}

static void bn_job_init(bn_job *j, int64_t rows, int c, const float *x, const float *dy,
                        float *out)
{
    memset(j, 0, sizeof *j);
    j->rows = rows;
    j->c = c;
    j->x = x;
    j->dy = dy;
    j->out = out;
}

static void bn_segment(bn_job *j, int c0)
{
    j->c0 = c0;
    j->cs = j->c - c0 < BN_SEG ? j->c - c0 : BN_SEG;
}

void vidai_cpu_bn_forward_train(vidai_pool *pool, int64_t rows, int c, const float *x,
                                const float *gamma, const float *beta, float eps, float momentum,
                                float *running_mean, float *running_var, float *save_mean,
                                float *save_invstd, float *y)
{
    bn_job j;
    int c0, k;
    if (rows < 1 || c < 1)
        return;
    bn_job_init(&j, rows, c, x, NULL, y);
    for (c0 = 0; c0 < c; c0 += BN_SEG) {
        bn_segment(&j, c0);
        for (k = 0; k < j.cs; k++)
            j.a[k] = x[c0 + k];
        bn_reduce(pool, &j, stat_x_task);
        for (k = 0; k < j.cs; k++) {
            int ch = c0 + k;
            double dmean = j.part[0][0][k] / (double)rows; /* mean - shift */
            double var = j.part[0][1][k] / (double)rows - dmean * dmean;
            double mean = j.a[k] + dmean, invstd, g, bt;
            if (var < 0.0)
                var = 0.0;
            invstd = 1.0 / sqrt(var + (double)eps);
            g = gamma ? gamma[ch] : 1.0;
            bt = beta ? beta[ch] : 0.0;
            save_mean[ch] = (float)mean;
            j.mean[k] = (float)mean;
            save_invstd[ch] = (float)invstd;
            if (running_mean)
                running_mean[ch] = (float)((1.0 - momentum) * running_mean[ch] + momentum * mean);
            if (running_var) {
                double unbiased = rows > 1 ? var * (double)rows / (double)(rows - 1) : var;
                running_var[ch] = (float)((1.0 - momentum) * running_var[ch] + momentum * unbiased);
            }
            j.a[k] = (float)(g * invstd);
            j.b[k] = (float)bt;
        }
        bn_pass(pool, &j, affine_task);
    }
}

void vidai_cpu_bn_forward_eval(vidai_pool *pool, int64_t rows, int c, const float *x,
                               const float *gamma, const float *beta, const float *mean,
                               const float *var, float eps, float *y)
{
    bn_job j;
    int c0, k;
    if (rows < 1 || c < 1)
        return;
    bn_job_init(&j, rows, c, x, NULL, y);
    for (c0 = 0; c0 < c; c0 += BN_SEG) {
        bn_segment(&j, c0);
        for (k = 0; k < j.cs; k++) {
            int ch = c0 + k;
            double invstd = 1.0 / sqrt((double)var[ch] + (double)eps);
            j.mean[k] = mean[ch];
            j.a[k] = (float)((gamma ? gamma[ch] : 1.0) * invstd);
            j.b[k] = beta ? beta[ch] : 0.0f;
        }
        bn_pass(pool, &j, affine_task);
    }
}

/*
 * With xhat = (x - mean) * invstd and y = gamma * xhat + beta:
 * dbeta = sum dy, dgamma = sum dy * xhat,
 * dx = gamma * invstd * (dy - dbeta / rows - xhat * dgamma / rows).
 */
void vidai_cpu_bn_backward_train(vidai_pool *pool, int64_t rows, int c, const float *x,
                                 const float *dy, const float *gamma, const float *save_mean,
                                 const float *save_invstd, float *dx, float *dgamma, float *dbeta,
                                 int overwrite)
{
    bn_job j;
    int c0, k;
    if (rows < 1 || c < 1)
        return;
    bn_job_init(&j, rows, c, x, dy, dx);
    j.set = overwrite;
    for (c0 = 0; c0 < c; c0 += BN_SEG) {
        bn_segment(&j, c0);
        memcpy(j.mean, save_mean + c0, (size_t)j.cs * sizeof *j.mean);
        memcpy(j.invstd, save_invstd + c0, (size_t)j.cs * sizeof *j.invstd);
        bn_reduce(pool, &j, stat_dy_task);
        for (k = 0; k < j.cs; k++) {
            int ch = c0 + k;
            if (dbeta)
                dbeta[ch] += (float)j.part[0][0][k];
            if (dgamma)
                dgamma[ch] += (float)j.part[0][1][k];
            j.a[k] = (gamma ? gamma[ch] : 1.0f) * j.invstd[k];
            j.b[k] = (float)(j.part[0][0][k] / (double)rows);
            j.e[k] = (float)(j.part[0][1][k] / (double)rows);
        }
        if (dx)
            bn_pass(pool, &j, dx_train_task);
    }
}

void vidai_cpu_bn_backward_eval(vidai_pool *pool, int64_t rows, int c, const float *x,
                                const float *dy, const float *gamma, const float *mean,
                                const float *var, float eps, float *dx, float *dgamma, float *dbeta)
{
    bn_job j;
    int c0, k;
    if (rows < 1 || c < 1)
        return;
    bn_job_init(&j, rows, c, x, dy, dx);
    for (c0 = 0; c0 < c; c0 += BN_SEG) {
        bn_segment(&j, c0);
        for (k = 0; k < j.cs; k++) {
            int ch = c0 + k;
            j.mean[k] = mean[ch];
            j.invstd[k] = (float)(1.0 / sqrt((double)var[ch] + (double)eps));
            j.a[k] = (gamma ? gamma[ch] : 1.0f) * j.invstd[k];
        }
        if (dgamma || dbeta) {
            bn_reduce(pool, &j, stat_dy_task);
            for (k = 0; k < j.cs; k++) {
                if (dbeta)
                    dbeta[c0 + k] += (float)j.part[0][0][k];
                if (dgamma)
                    dgamma[c0 + k] += (float)j.part[0][1][k];
            }
        }
        if (dx)
            bn_pass(pool, &j, dx_eval_task);
    }
}
