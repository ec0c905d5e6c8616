/*
 * Elementwise ops over flat float arrays: ReLU and its gradient, the residual
 * add (optionally fused with the block's final ReLU) and gradient
 * accumulation. Split into blocks of ELT_BLOCK elements over the pool.
 */
#include "backend/backend.h"

#define ELT_BLOCK ((int64_t)1 << 16)

typedef struct elt_job {
    int64_t n;
    const float *a, *b;
    float *out;
    int relu; /* add_task: then max(., 0) */
    int set;  /* relu_backward_task: overwrite out instead of adding to it */
} elt_job;

static void block_range(const elt_job *j, int64_t i, int64_t *lo, int64_t *hi)
{
    *lo = i * ELT_BLOCK;
    *hi = *lo + ELT_BLOCK < j->n ? *lo + ELT_BLOCK : j->n;
}

static void elt_run(vidai_pool *pool, elt_job *j, vidai_task_fn fn)
{
    vidai_pool_run(pool, (j->n + ELT_BLOCK - 1) / ELT_BLOCK, fn, j);
}

/*
 * out = max(a, 0), written so that NaN propagates (as torch.relu), which lets
 * the non-finite check at the loss see it. In place allowed, so no restrict.
 */
static void relu_task(void *arg, int64_t i)
{
    const elt_job *j = arg;
    int64_t k, lo, hi;
    block_range(j, i, &lo, &hi);
    for (k = lo; k < hi; k++)
        j->out[k] = j->a[k] < 0.0f ? 0.0f : j->a[k];
}

/* out += b where a > 0 (a is the ReLU output y, b is dy); with set, out = that. */
static void relu_backward_task(void *arg, int64_t i)
{
    const elt_job *j = arg;
    const float *restrict y = j->a, *restrict dy = j->b;
    float *restrict dx = j->out;
    int64_t k, lo, hi;
    block_range(j, i, &lo, &hi);
    /* dy loaded whatever y is: a load under the condition kept GCC from vectorising the loop,
       and the branch on the sign of y mispredicted (9.7 % of a training step's time) */
    if (j->set) {
        for (k = lo; k < hi; k++) {
            const float g = dy[k];
            dx[k] = y[k] > 0.0f ? g : 0.0f;
        }
    } else {
        for (k = lo; k < hi; k++) {
            const float g = dy[k];
            dx[k] += y[k] > 0.0f ? g : 0.0f;
        }
    }
}

/* out = a + b, then max(., 0) if relu. out may alias a or b. */
static void add_task(void *arg, int64_t i)
{
    const elt_job *j = arg;
    int64_t k, lo, hi;
    block_range(j, i, &lo, &hi);
    if (j->relu) {
        for (k = lo; k < hi; k++) {
            float v = j->a[k] + j->b[k];
            j->out[k] = v < 0.0f ? 0.0f : v;
        }
    } else {
        for (k = lo; k < hi; k++)
            j->out[k] = j->a[k] + j->b[k];
    }
}

/* out += a. */
static void accumulate_task(void *arg, int64_t i)
{
    const elt_job *j = arg;
    const float *restrict x = j->a;
    float *restrict y = j->out;
    int64_t k, lo, hi;
    block_range(j, i, &lo, &hi);
    for (k = lo; k < hi; k++)
        y[k] += x[k];
}

void vidai_cpu_relu_forward(vidai_pool *pool, int64_t n, const float *x, float *y)
{
    elt_job j = {n, x, NULL, y, 0, 0};
    elt_run(pool, &j, relu_task);
}

void vidai_cpu_relu_backward(vidai_pool *pool, int64_t n, const float *y, const float *dy,
                             float *dx, int overwrite)
{
    elt_job j = {n, y, dy, dx, 0, overwrite};
    elt_run(pool, &j, relu_backward_task);
}

void vidai_cpu_add_forward(vidai_pool *pool, int64_t n, const float *a, const float *b, int relu,
                           float *y)
{
    elt_job j = {n, a, b, y, relu, 0};
    elt_run(pool, &j, add_task);
}

void vidai_cpu_accumulate(vidai_pool *pool, int64_t n, const float *x, float *y)
{
    elt_job j = {n, x, NULL, y, 0, 0};
    elt_run(pool, &j, accumulate_task);
}
