/*
 * 3-D max and average pooling over channels-last activations, with PyTorch's
 * semantics (ceil_mode=False): max pooling pads with -inf and propagates NaN;
 * average pooling counts padding in the divisor (count_include_pad=True), so
 * every window divides by kt*kh*kw. Also the global average pool before the
 * classifier.
 *
 * Forward passes split the output lines (n, t, h) over the pool. Backward
 * passes scatter-add into dx; their tasks own (sample, band of channels)
 * pairs, so no two tasks add into the same element.
 */
#include <math.h>
#include <string.h>

#include "backend/backend.h"

#define POOL_BAND 64 /* channels per backward task */

typedef struct pool_job {
    const vidai_conv_desc *d;
    const float *x, *dy;
    float *y, *dx;
    const int32_t *arg_in;
    int32_t *arg_out;
    int64_t n_bands;
} pool_job;

static int64_t pool_lines(const vidai_conv_desc *d)
{
    return (int64_t)d->n * d->to * d->ho;
}

static size_t in_sample(const vidai_conv_desc *d)
{
    return (size_t)d->t * d->h * d->w * d->cin;
}

static size_t out_sample(const vidai_conv_desc *d)
{
    return (size_t)d->to * d->ho * d->wo * d->cin;
}

/* Window of output (to, ho, wo) clipped to the input: [t0,t1) x [h0,h1) x [w0,w1). */
typedef struct pool_win {
    int t0, t1, h0, h1, w0, w1;
} pool_win;

static int clip_lo(int v)
{
    return v < 0 ? 0 : v;
}

static int clip_hi(int v, int n)
{
    return v > n ? n : v;
}

static void window(const vidai_conv_desc *d, int to, int ho, int wo, pool_win *p)
{
    int t = to * d->st - d->pt, h = ho * d->sh - d->ph, w = wo * d->sw - d->pw;
    p->t0 = clip_lo(t);
    p->t1 = clip_hi(t + d->kt, d->t);
    p->h0 = clip_lo(h);
    p->h1 = clip_hi(h + d->kh, d->h);
    p->w0 = clip_lo(w);
    p->w1 = clip_hi(w + d->kw, d->w);
}

/* Output line i = (n, to, ho): every wo, every channel. */
static void maxpool_line_task(void *arg, int64_t i)
{
    const pool_job *j = arg;
    const vidai_conv_desc *d = j->d;
    const int c = d->cin, ho = (int)(i % d->ho), to = (int)(i / d->ho % d->to);
    const int n = (int)(i / d->ho / d->to);
    const float *xs = j->x + (size_t)n * in_sample(d);
    int wo, t, h, w, k;
    for (wo = 0; wo < d->wo; wo++) {
        size_t o = ((size_t)i * d->wo + wo) * c;
        float *y = j->y + o;
        int32_t *am = j->arg_out + o;
        pool_win p;
        window(d, to, ho, wo, &p);
        for (k = 0; k < c; k++) {
            y[k] = -INFINITY;
            am[k] = -1;
        }
        for (t = p.t0; t < p.t1; t++)
            for (h = p.h0; h < p.h1; h++)
                for (w = p.w0; w < p.w1; w++) {
                    int32_t base = (int32_t)((((size_t)t * d->h + h) * d->w + w) * c);
                    const float *xr = xs + base;
                    for (k = 0; k < c; k++)
                        if (xr[k] > y[k] || isnan(xr[k])) {
                            y[k] = xr[k];
                            am[k] = base + k;
                        }
                }
    }
}

/* Task i = (sample, band): adds dy into dx at the argmax of each output element. */
static void maxpool_backward_task(void *arg, int64_t i)
{
    const pool_job *j = arg;
    const vidai_conv_desc *d = j->d;
    const int64_t n = i / j->n_bands, band = i % j->n_bands;
    const int c = d->cin, k0 = (int)band * POOL_BAND;
    const int k1 = k0 + POOL_BAND < c ? k0 + POOL_BAND : c;
    const size_t outs = (size_t)d->to * d->ho * d->wo;
    const float *dy = j->dy + (size_t)n * out_sample(d);
    const int32_t *am = j->arg_in + (size_t)n * out_sample(d);
    float *dx = j->dx + (size_t)n * in_sample(d);
    size_t o;
    int k;
    for (o = 0; o < outs; o++)
        for (k = k0; k < k1; k++) {
            int32_t a = am[o * c + k];
            if (a >= 0)
                dx[a] += dy[o * c + k];
        }
}

static void avgpool_line_task(void *arg, int64_t i)
{
    const pool_job *j = arg;
    const vidai_conv_desc *d = j->d;
    const int c = d->cin, ho = (int)(i % d->ho), to = (int)(i / d->ho % d->to);
    const int n = (int)(i / d->ho / d->to);
    const float scale = 1.0f / (float)(d->kt * d->kh * d->kw);
    const float *xs = j->x + (size_t)n * in_sample(d);
    int wo, t, h, w, k;
    for (wo = 0; wo < d->wo; wo++) {
        float *restrict y = j->y + ((size_t)i * d->wo + wo) * c;
        pool_win p;
        window(d, to, ho, wo, &p);
        memset(y, 0, (size_t)c * sizeof *y);
        for (t = p.t0; t < p.t1; t++)
            for (h = p.h0; h < p.h1; h++)
                for (w = p.w0; w < p.w1; w++) {
                    const float *restrict xr = xs + (((size_t)t * d->h + h) * d->w + w) * c;
                    for (k = 0; k < c; k++)
                        y[k] += xr[k];
                }
        for (k = 0; k < c; k++)
            y[k] *= scale;
    }
}

static void avgpool_backward_task(void *arg, int64_t i)
{
    const pool_job *j = arg;
    const vidai_conv_desc *d = j->d;
    const int64_t n = i / j->n_bands, band = i % j->n_bands;
    const int c = d->cin, k0 = (int)band * POOL_BAND;
    const int k1 = k0 + POOL_BAND < c ? k0 + POOL_BAND : c;
    const float scale = 1.0f / (float)(d->kt * d->kh * d->kw);
    const float *dy = j->dy + (size_t)n * out_sample(d);
    float *dx = j->dx + (size_t)n * in_sample(d);
    int to, ho, wo, t, h, w, k;
    for (to = 0; to < d->to; to++)
        for (ho = 0; ho < d->ho; ho++)
            for (wo = 0; wo < d->wo; wo++) {
                const float *restrict g = dy + (((size_t)to * d->ho + ho) * d->wo + wo) * c;
                pool_win p;
                window(d, to, ho, wo, &p);
                for (t = p.t0; t < p.t1; t++)
                    for (h = p.h0; h < p.h1; h++)
                        for (w = p.w0; w < p.w1; w++) {
                            float *restrict xr = dx + (((size_t)t * d->h + h) * d->w + w) * c;
                            for (k = k0; k < k1; k++)
                                xr[k] += g[k] * scale;
                        }
            }
}

static void run_banded(vidai_pool *pool, pool_job *j, vidai_task_fn fn)
{
    j->n_bands = (j->d->cin + POOL_BAND - 1) / POOL_BAND;
    vidai_pool_run(pool, (int64_t)j->d->n * j->n_bands, fn, j);
}

void vidai_cpu_maxpool_forward(vidai_pool *pool, const vidai_conv_desc *d, const float *x, float *y,
                               int32_t *argmax)
{
    pool_job j;
    memset(&j, 0, sizeof j);
    j.d = d;
    j.x = x;
    j.y = y;
    j.arg_out = argmax;
    vidai_pool_run(pool, pool_lines(d), maxpool_line_task, &j);
}

void vidai_cpu_maxpool_backward(vidai_pool *pool, const vidai_conv_desc *d, const float *dy,
                                const int32_t *argmax, float *dx)
{
    pool_job j;
    memset(&j, 0, sizeof j);
    j.d = d;
    j.dy = dy;
    j.arg_in = argmax;
    j.dx = dx;
    run_banded(pool, &j, maxpool_backward_task);
}

void vidai_cpu_avgpool_forward(vidai_pool *pool, const vidai_conv_desc *d, const float *x, float *y)
{
    pool_job j;
    memset(&j, 0, sizeof j);
    j.d = d;
    j.x = x;
    j.y = y;
    vidai_pool_run(pool, pool_lines(d), avgpool_line_task, &j);
}

void vidai_cpu_avgpool_backward(vidai_pool *pool, const vidai_conv_desc *d, const float *dy,
                                float *dx)
{
    pool_job j;
    memset(&j, 0, sizeof j);
    j.d = d;
    j.dy = dy;
    j.dx = dx;
    run_banded(pool, &j, avgpool_backward_task);
}

/* Global average pool: one task per sample, sums in double over bands of channels. */
typedef struct gap_job {
    int64_t s;
    int c;
    const float *in;
    float *out;
} gap_job;

static void gap_forward_task(void *arg, int64_t n)
{
    const gap_job *j = arg;
    const float *x = j->in + n * j->s * j->c;
    float *y = j->out + n * j->c;
    double sum[POOL_BAND];
    int64_t i;
    int k0, k, kn;
    for (k0 = 0; k0 < j->c; k0 += POOL_BAND) {
        kn = j->c - k0 < POOL_BAND ? j->c - k0 : POOL_BAND;
        memset(sum, 0, sizeof sum);
        for (i = 0; i < j->s; i++)
            for (k = 0; k < kn; k++)
                sum[k] += x[i * j->c + k0 + k];
        for (k = 0; k < kn; k++)
            y[k0 + k] = (float)(sum[k] / (double)j->s);
    }
}

static void gap_backward_task(void *arg, int64_t n)
{
    const gap_job *j = arg;
    const float *restrict dy = j->in + n * j->c;
    float *restrict dx = j->out + n * j->s * j->c;
    const float scale = 1.0f / (float)j->s;
    int64_t i;
    int k;
    for (i = 0; i < j->s; i++)
        for (k = 0; k < j->c; k++)
            dx[i * j->c + k] += dy[k] * scale;
}

void vidai_cpu_global_avgpool_forward(vidai_pool *pool, int n, int64_t s, int c, const float *x,
                                      float *y)
{
    gap_job j = {s, c, x, y};
    vidai_pool_run(pool, n, gap_forward_task, &j);
}

void vidai_cpu_global_avgpool_backward(vidai_pool *pool, int n, int64_t s, int c, const float *dy,
                                       float *dx)
{
    gap_job j = {s, c, dy, dx};
    vidai_pool_run(pool, n, gap_backward_task, &j);
}
