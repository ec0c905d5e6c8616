/*
 * Inverted dropout (Srivastava et al. 2014, scaled at training time so that
 * inference is the identity). The keep decision of element i is a pure
 * function of (key, i) through the counter-based RNG, so a mask can be
 * recomputed and does not depend on threading.
 */
#include "backend/backend.h"

void vidai_cpu_dropout_forward(int64_t n, float p, uint64_t key, const float *x, float *mask,
                               float *y)
{
    const float keep_scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    int64_t i;
    for (i = 0; i < n; i++) {
        mask[i] = vidai_rng_uniform(key, (uint64_t)i) >= p ? keep_scale : 0.0f;
        y[i] = x[i] * mask[i];
    }
}

void vidai_cpu_dropout_backward(int64_t n, const float *mask, const float *dy, float *dx)
{
    int64_t i;
    for (i = 0; i < n; i++)
        dx[i] += dy[i] * mask[i];
}
