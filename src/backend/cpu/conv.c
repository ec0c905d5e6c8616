/*
 * 3-D convolution on channels-last activations (NTHWC) with OTHWI weights,
 * lowered to SGEMM (CBLAS, OpenBLAS), as Chellapilla et al. 2006 /
 * Caffe's im2col. Three paths, picked from the descriptor:
 *
 * - pointwise (1x1x1, stride 1, no padding): the input already is the
 *   [positions][cin] matrix; one GEMM, no copy.
 * - temporal (kx1x1 with spatial stride 1 and no spatial padding, the
 *   second half of a (2+1)D block): every tap reads whole input frames, which
 *   are [H*W][cin] matrices in place; one GEMM per tap and run of frames,
 *   accumulating into the output (an implicit GEMM, no copy).
 * - general (everything else, e.g. the 1xkxk spatial half): im2col gathers
 *   the patches of a chunk of output positions into a [rows][kt*kh*kw*cin]
 *   matrix, whose column order is exactly the weight's (kt, kh, kw, cin), so
 *   y = col * W^T. A patch is copied as kt*kh runs of kw*cin contiguous
 *   floats. Chunks keep the scratch matrix to a few MB.
 *
 * Backward data is the transpose (dcol = dy * W, then col2im adds the
 * patches back into dx); backward filter is dW += dy^T * col. GEMMs run on
 * OpenBLAS's own threads; the copies (im2col, col2im) and the fused ReLU
 * run on the vidai pool. The bias is fused by starting the output rows at
 * the bias and accumulating the GEMM into them (beta = 1).
 */
#include <string.h>

#include <cblas.h>

#include "backend/backend.h"
#include "backend/cpu/gemm.h"

/*
 * Scratch budget for one chunk of the im2col matrix (and the output rows of a
 * temporal chunk). 1 MB was the fastest of 0.5 to 16 MB over the R(2+1)D-18
 * layers on a 2-core Zen machine: the chunk stays in cache between im2col,
 * GEMM and ReLU, and each GEMM is still large enough for OpenBLAS.
 */
#ifndef CONV_CHUNK_BYTES
#define CONV_CHUNK_BYTES ((size_t)1 << 20)
#endif

/* Output coordinates of one output position. */
typedef struct conv_pos {
    int n, t, h, w;
} conv_pos;

static int conv_is_pointwise(const vidai_conv_desc *d)
{
    return d->kt == 1 && d->kh == 1 && d->kw == 1 && d->st == 1 && d->sh == 1 && d->sw == 1 &&
           d->pt == 0 && d->ph == 0 && d->pw == 0;
}

static int conv_is_temporal(const vidai_conv_desc *d)
{
    return d->kh == 1 && d->kw == 1 && d->sh == 1 && d->sw == 1 && d->ph == 0 && d->pw == 0;
}

static int64_t conv_positions(const vidai_conv_desc *d)
{
    return (int64_t)d->n * d->to * d->ho * d->wo;
}

static int64_t conv_patch_size(const vidai_conv_desc *d)
{
    return (int64_t)d->kt * d->kh * d->kw * d->cin;
}

static void pos_decode(const vidai_conv_desc *d, int64_t m, conv_pos *p)
{
    p->w = (int)(m % d->wo);
    m /= d->wo;
    p->h = (int)(m % d->ho);
    m /= d->ho;
    p->t = (int)(m % d->to);
    p->n = (int)(m / d->to);
}

static void pos_next(const vidai_conv_desc *d, conv_pos *p)
{
    if (++p->w < d->wo)
        return;
    p->w = 0;
    if (++p->h < d->ho)
        return;
    p->h = 0;
    if (++p->t < d->to)
        return;
    p->t = 0;
    p->n++;
}

/* Copies the input patch of output position p into col[kt*kh*kw*cin], zeros for padding. */
static void im2col_one(const vidai_conv_desc *d, const float *x, const conv_pos *p, float *col)
{
    const size_t cin = (size_t)d->cin, run = (size_t)d->kw * cin;
    const float *xs = x + (size_t)p->n * d->t * d->h * d->w * cin;
    const int t0 = p->t * d->st - d->pt, h0 = p->h * d->sh - d->ph, w0 = p->w * d->sw - d->pw;
    const int full_w = w0 >= 0 && w0 + d->kw <= d->w;
    int i, j, l;
    for (i = 0; i < d->kt; i++) {
        int ti = t0 + i;
        for (j = 0; j < d->kh; j++, col += run) {
            int hi = h0 + j;
            const float *row;
            if (ti < 0 || ti >= d->t || hi < 0 || hi >= d->h) {
                memset(col, 0, run * sizeof *col);
                continue;
            }
            row = xs + ((size_t)ti * d->h + (size_t)hi) * d->w * cin;
            if (full_w) {
                memcpy(col, row + (size_t)w0 * cin, run * sizeof *col);
                continue;
            }
            for (l = 0; l < d->kw; l++) {
                int wi = w0 + l;
                if (wi < 0 || wi >= d->w)
                    memset(col + l * cin, 0, cin * sizeof *col);
                else
                    memcpy(col + l * cin, row + (size_t)wi * cin, cin * sizeof *col);
            }
        }
    }
}

/*
 * dst[0..n) += src[0..n). In blocks of 8 because at -O2 GCC vectorises only
 * straight-line code (SLP), not loops that need a remainder.
 */
static void add_floats(float *restrict dst, const float *restrict src, int n)
{
    int k = 0, j;
    for (; k + 8 <= n; k += 8)
        for (j = 0; j < 8; j++)
            dst[k + j] += src[k + j];
    for (; k < n; k++)
        dst[k] += src[k];
}

/* Adds channels [c0, c1) of the patch col of output position p back into dx. */
static void col2im_one(const vidai_conv_desc *d, const float *col, const conv_pos *p, float *dx,
                       int c0, int c1)
{
    const size_t cin = (size_t)d->cin, run = (size_t)d->kw * cin;
    float *dxs = dx + (size_t)p->n * d->t * d->h * d->w * cin;
    const int t0 = p->t * d->st - d->pt, h0 = p->h * d->sh - d->ph, w0 = p->w * d->sw - d->pw;
    int i, j, l;
    for (i = 0; i < d->kt; i++) {
        int ti = t0 + i;
        for (j = 0; j < d->kh; j++, col += run) {
            int hi = h0 + j;
            float *row;
            if (ti < 0 || ti >= d->t || hi < 0 || hi >= d->h)
                continue;
            row = dxs + ((size_t)ti * d->h + (size_t)hi) * d->w * cin;
            for (l = 0; l < d->kw; l++) {
                int wi = w0 + l;
                if (wi >= 0 && wi < d->w)
                    add_floats(row + (size_t)wi * cin + c0, col + l * cin + c0, c1 - c0);
            }
        }
    }
}

/* Work shared by the pool tasks of one chunk. */
typedef struct conv_chunk {
    const vidai_conv_desc *d;
    const float *x;    /* im2col source */
    float *col;        /* im2col destination, [rows][patch] scratch */
    const float *dcol; /* col2im source, [rows][patch] */
    float *dx;         /* col2im destination */
    float *y;          /* ReLU rows, [rows][cout] */
    int64_t m0, rows;  /* first output position and count */
    int64_t n_tasks;
} conv_chunk;

static void task_range(int64_t total, int64_t n_tasks, int64_t i, int64_t *a, int64_t *b)
{
    *a = total * i / n_tasks;
    *b = total * (i + 1) / n_tasks;
}

static void im2col_task(void *arg, int64_t i)
{
    const conv_chunk *c = arg;
    const int64_t patch = conv_patch_size(c->d);
    int64_t a, b, m;
    conv_pos p;
    task_range(c->rows, c->n_tasks, i, &a, &b);
    if (a >= b)
        return;
    pos_decode(c->d, c->m0 + a, &p);
    for (m = a; m < b; m++) {
        im2col_one(c->d, c->x, &p, c->col + m * patch);
        pos_next(c->d, &p);
    }
}

/* Task i owns a band of input channels, so tasks never add into the same dx element. */
static void col2im_task(void *arg, int64_t i)
{
    const conv_chunk *c = arg;
    const int64_t patch = conv_patch_size(c->d);
    int64_t c0, c1, m;
    conv_pos p;
    task_range(c->d->cin / 16, c->n_tasks, i, &c0, &c1);
    c0 *= 16;
    c1 = i == c->n_tasks - 1 ? c->d->cin : c1 * 16;
    pos_decode(c->d, c->m0, &p);
    for (m = 0; m < c->rows; m++) {
        col2im_one(c->d, c->dcol + m * patch, &p, c->dx, (int)c0, (int)c1);
        pos_next(c->d, &p);
    }
}

/* y = max(y, 0), NaN kept; in blocks of 8 for the same reason as add_floats. */
static void relu_inplace(float *restrict y, int64_t n)
{
    int64_t k = 0;
    int j;
    for (; k + 8 <= n; k += 8)
        for (j = 0; j < 8; j++)
            y[k + j] = y[k + j] < 0.0f ? 0.0f : y[k + j];
    for (; k < n; k++)
        y[k] = y[k] < 0.0f ? 0.0f : y[k];
}

/* Elements [a, b) of the chunk's rows*cout outputs. */
static void relu_task(void *arg, int64_t i)
{
    const conv_chunk *c = arg;
    int64_t a, b;
    task_range(c->rows * c->d->cout, c->n_tasks, i, &a, &b);
    relu_inplace(c->y + a, b - a);
}

/* How many tasks to split rows*width floats of copying into: a few per thread, none tiny. */
static int64_t copy_tasks(vidai_pool *pool, int64_t rows, int64_t width)
{
    int64_t n = 4 * (int64_t)vidai_pool_n_threads(pool);
    int64_t by_size = rows * width / 4096;
    if (n > by_size)
        n = by_size;
    if (n > rows)
        n = rows;
    return n < 1 ? 1 : n;
}

/*
 * Sets rows [0, rows) of y to the bias (or zero), so that the GEMMs that
 * follow accumulate (beta = 1) and the bias costs no extra pass.
 */
static void init_rows(const vidai_conv_desc *d, const float *bias, float *y, int64_t rows)
{
    const size_t row = (size_t)d->cout * sizeof *y;
    int64_t m;
    if (!bias) {
        memset(y, 0, (size_t)rows * row);
        return;
    }
    for (m = 0; m < rows; m++)
        memcpy(y + m * d->cout, bias, row);
}

/* ReLU over rows [0, rows) of y, while they are still in cache. */
static void relu_rows(vidai_pool *pool, const vidai_conv_desc *d, float *y, int64_t rows)
{
    conv_chunk c;
    memset(&c, 0, sizeof c);
    c.d = d;
    c.y = y;
    c.rows = rows;
    c.n_tasks = copy_tasks(pool, rows, d->cout);
    vidai_pool_run(pool, c.n_tasks, relu_task, &c);
}

/* Output positions per im2col chunk: the chunk's patch matrix fits CONV_CHUNK_BYTES. */
static int64_t chunk_rows(const vidai_conv_desc *d)
{
    int64_t rows = (int64_t)(CONV_CHUNK_BYTES / sizeof(float)) / conv_patch_size(d);
    int64_t total = conv_positions(d);
    if (rows < 32)
        rows = 32;
    return rows < total ? rows : total;
}

/* Rows per pointwise GEMM when bias or ReLU follows: the output rows fit CONV_CHUNK_BYTES. */
static int64_t pointwise_chunk_rows(const vidai_conv_desc *d)
{
    int64_t rows = (int64_t)(CONV_CHUNK_BYTES / sizeof(float)) / d->cout;
    return rows < 256 ? 256 : rows;
}

static float *alloc_chunk(const vidai_conv_desc *d, int64_t rows)
{
    return vidai_malloc((size_t)rows * (size_t)conv_patch_size(d) * sizeof(float));
}

static void run_im2col(vidai_pool *pool, const vidai_conv_desc *d, const float *x, float *col,
                       int64_t m0, int64_t rows)
{
    conv_chunk c;
    memset(&c, 0, sizeof c);
    c.d = d;
    c.x = x;
    c.col = col;
    c.m0 = m0;
    c.rows = rows;
    c.n_tasks = copy_tasks(pool, rows, conv_patch_size(d));
    vidai_pool_run(pool, c.n_tasks, im2col_task, &c);
}

static void run_col2im(vidai_pool *pool, const vidai_conv_desc *d, const float *col, float *dx,
                       int64_t m0, int64_t rows)
{
    conv_chunk c;
    int64_t bands = d->cin / 16;
    memset(&c, 0, sizeof c);
    c.d = d;
    c.dcol = col;
    c.dx = dx;
    c.m0 = m0;
    c.rows = rows;
    c.n_tasks = vidai_pool_n_threads(pool);
    if (c.n_tasks > bands)
        c.n_tasks = bands;
    if (c.n_tasks < 1)
        c.n_tasks = 1;
    vidai_pool_run(pool, c.n_tasks, col2im_task, &c);
}

/*
 * The temporal path visits the output in runs of frames of one sample. For a
 * tap i, output frame to reads input frame to*st - pt + i. With st == 1 the
 * frames of a run that have a valid input frame are consecutive, and so are
 * their input frames: one GEMM. With st > 1, one GEMM per frame.
 */
typedef struct frame_span {
    int to;  /* first output frame */
    int ti;  /* its input frame */
    int len; /* number of consecutive frames */
} frame_span;

/* Frames of [f0, f1) whose tap-i input frame exists, as spans; returns their count. */
static int tap_spans(const vidai_conv_desc *d, int f0, int f1, int i, frame_span *out)
{
    int n = 0, f;
    if (d->st == 1) {
        int a = d->pt - i, b = d->t + d->pt - i; /* valid output frames [a, b) */
        if (a < f0)
            a = f0;
        if (b > f1)
            b = f1;
        if (a < b) {
            out[0].to = a;
            out[0].ti = a - d->pt + i;
            out[0].len = b - a;
            n = 1;
        }
        return n;
    }
    for (f = f0; f < f1; f++) {
        int ti = f * d->st - d->pt + i;
        if (ti >= 0 && ti < d->t) {
            out[n].to = f;
            out[n].ti = ti;
            out[n].len = 1;
            n++;
        }
    }
    return n;
}

/* Output frames per temporal chunk: output rows fit CONV_CHUNK_BYTES, at least one frame. */
static int temporal_chunk_frames(const vidai_conv_desc *d)
{
    size_t frame = (size_t)d->h * d->w * d->cout * sizeof(float);
    size_t f = CONV_CHUNK_BYTES / frame;
    if (f < 1)
        f = 1;
    return f < (size_t)d->to ? (int)f : d->to;
}

static int conv_forward_temporal(vidai_pool *pool, const vidai_conv_desc *d, const float *x,
                                 const float *w, const float *bias, int relu, float *y)
{
    const int hw = d->h * d->w, cin = d->cin, cout = d->cout, ldw = d->kt * d->cin;
    const size_t x_frame = (size_t)hw * cin, y_frame = (size_t)hw * cout;
    const int step = temporal_chunk_frames(d);
    frame_span *spans = vidai_malloc((size_t)step * sizeof *spans);
    int n, f0, i, s, ns;
    if (!spans)
        return VIDA_ENOMEM;
    for (n = 0; n < d->n; n++) {
        const float *xs = x + (size_t)n * d->t * x_frame;
        float *ys = y + (size_t)n * d->to * y_frame;
        for (f0 = 0; f0 < d->to; f0 += step) {
            int f1 = f0 + step < d->to ? f0 + step : d->to;
            float *yc = ys + (size_t)f0 * y_frame;
            init_rows(d, bias, yc, (int64_t)(f1 - f0) * hw);
            for (i = 0; i < d->kt; i++) {
                ns = tap_spans(d, f0, f1, i, spans);
                for (s = 0; s < ns; s++)
                    vidai_cpu_sgemm(pool, CblasNoTrans, CblasTrans, spans[s].len * hw, cout,
                                cin, 1.0f, xs + (size_t)spans[s].ti * x_frame, cin,
                                w + (size_t)i * cin, ldw, 1.0f, ys + (size_t)spans[s].to * y_frame,
                                cout);
            }
            if (relu)
                relu_rows(pool, d, yc, (int64_t)(f1 - f0) * hw);
        }
    }
    vidai_free(spans);
    return VIDA_OK;
}

int vidai_cpu_conv_forward(vidai_pool *pool, const vidai_conv_desc *d, const float *x,
                           const float *w, const float *bias, int relu, float *y)
{
    const int64_t total = conv_positions(d), patch = conv_patch_size(d);
    int64_t rows, m0;
    float *col;
    if (conv_is_pointwise(d)) {
        /* With bias or ReLU, GEMM in chunks so that the ReLU finds the rows still in cache. */
        rows = bias || relu ? pointwise_chunk_rows(d) : INT32_MAX;
        for (m0 = 0; m0 < total; m0 += rows) {
            int64_t mc = total - m0 < rows ? total - m0 : rows;
            float *yc = y + m0 * d->cout;
            if (bias)
                init_rows(d, bias, yc, mc);
            vidai_cpu_sgemm(pool, CblasNoTrans, CblasTrans, (int)mc, d->cout, d->cin, 1.0f,
                        x + m0 * d->cin, d->cin, w, d->cin, bias ? 1.0f : 0.0f, yc, d->cout);
            if (relu)
                relu_rows(pool, d, yc, mc);
        }
        return VIDA_OK;
    }
    if (conv_is_temporal(d))
        return conv_forward_temporal(pool, d, x, w, bias, relu, y);
    rows = chunk_rows(d);
    col = alloc_chunk(d, rows);
    if (!col)
        return VIDA_ENOMEM;
    for (m0 = 0; m0 < total; m0 += rows) {
        int64_t mc = total - m0 < rows ? total - m0 : rows;
        float *yc = y + m0 * d->cout;
        run_im2col(pool, d, x, col, m0, mc);
        if (bias)
            init_rows(d, bias, yc, mc);
        vidai_cpu_sgemm(pool, CblasNoTrans, CblasTrans, (int)mc, d->cout, (int)patch, 1.0f,
                    col, (int)patch, w, (int)patch, bias ? 1.0f : 0.0f, yc, d->cout);
        if (relu)
            relu_rows(pool, d, yc, mc);
    }
    vidai_free(col);
    return VIDA_OK;
}

/* Temporal backward: dx (if dx) and dw (if dw) from per-tap GEMMs over frame spans. */
static int conv_backward_temporal(vidai_pool *pool, const vidai_conv_desc *d, const float *x,
                                  const float *dy, const float *w, float *dx, float *dw)
{
    const int hw = d->h * d->w, cin = d->cin, cout = d->cout, ldw = d->kt * d->cin;
    const size_t x_frame = (size_t)hw * cin, y_frame = (size_t)hw * cout;
    frame_span *spans = vidai_malloc((size_t)d->to * sizeof *spans);
    int n, i, s, ns;
    if (!spans)
        return VIDA_ENOMEM;
    for (n = 0; n < d->n; n++) {
        size_t xo = (size_t)n * d->t * x_frame, yo = (size_t)n * d->to * y_frame;
        for (i = 0; i < d->kt; i++) {
            ns = tap_spans(d, 0, d->to, i, spans);
            for (s = 0; s < ns; s++) {
                const int rows = spans[s].len * hw;
                const float *dys = dy + yo + (size_t)spans[s].to * y_frame;
                if (dx)
                    vidai_cpu_sgemm(pool, CblasNoTrans, CblasNoTrans, rows, cin, cout, 1.0f,
                                dys, cout, w + (size_t)i * cin, ldw, 1.0f,
                                dx + xo + (size_t)spans[s].ti * x_frame, cin);
                if (dw)
                    vidai_cpu_sgemm(pool, CblasTrans, CblasNoTrans, cout, cin, rows, 1.0f, dys,
                                cout, x + xo + (size_t)spans[s].ti * x_frame, cin, 1.0f,
                                dw + (size_t)i * cin, ldw);
            }
        }
    }
    vidai_free(spans);
    return VIDA_OK;
}

int vidai_cpu_conv_backward_data(vidai_pool *pool, const vidai_conv_desc *d, const float *dy,
                                 const float *w, float *dx)
{
    const int64_t total = conv_positions(d), patch = conv_patch_size(d);
    int64_t rows, m0;
    float *col;
    if (conv_is_pointwise(d)) {
        vidai_cpu_sgemm(pool, CblasNoTrans, CblasNoTrans, (int)total, d->cin, d->cout, 1.0f,
                    dy, d->cout, w, d->cin, 1.0f, dx, d->cin);
        return VIDA_OK;
    }
    if (conv_is_temporal(d))
        return conv_backward_temporal(pool, d, NULL, dy, w, dx, NULL);
    rows = chunk_rows(d);
    col = alloc_chunk(d, rows);
    if (!col)
        return VIDA_ENOMEM;
    for (m0 = 0; m0 < total; m0 += rows) {
        int64_t mc = total - m0 < rows ? total - m0 : rows;
        vidai_cpu_sgemm(pool, CblasNoTrans, CblasNoTrans, (int)mc, (int)patch, d->cout, 1.0f,
                    dy + m0 * d->cout, d->cout, w, (int)patch, 0.0f, col, (int)patch);
        run_col2im(pool, d, col, dx, m0, mc);
    }
    vidai_free(col);
    return VIDA_OK;
}

int vidai_cpu_conv_backward_filter(vidai_pool *pool, const vidai_conv_desc *d, const float *x,
                                   const float *dy, float *dw)
{
    const int64_t total = conv_positions(d), patch = conv_patch_size(d);
    int64_t rows, m0;
    float *col;
    if (conv_is_pointwise(d)) {
        vidai_cpu_sgemm(pool, CblasTrans, CblasNoTrans, d->cout, d->cin, (int)total, 1.0f, dy,
                    d->cout, x, d->cin, 1.0f, dw, d->cin);
        return VIDA_OK;
    }
    if (conv_is_temporal(d))
        return conv_backward_temporal(pool, d, x, dy, NULL, NULL, dw);
    rows = chunk_rows(d);
    col = alloc_chunk(d, rows);
    if (!col)
        return VIDA_ENOMEM;
    for (m0 = 0; m0 < total; m0 += rows) {
        int64_t mc = total - m0 < rows ? total - m0 : rows;
        run_im2col(pool, d, x, col, m0, mc);
        vidai_cpu_sgemm(pool, CblasTrans, CblasNoTrans, d->cout, (int)patch, (int)mc, 1.0f,
                    dy + m0 * d->cout, d->cout, col, (int)patch, 1.0f, dw, (int)patch);
    }
    vidai_free(col);
    return VIDA_OK;
}
