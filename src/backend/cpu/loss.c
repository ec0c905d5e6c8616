/*
 * Classification losses over logits [n][k], in numerically stable forms:
 * softmax cross-entropy via log-sum-exp with the row maximum subtracted, and
 * binary cross-entropy with logits as max(x,0) - x*t + log1p(exp(-|x|))
 * (never exp of a large positive number). Sums are taken in double.
 * Reductions follow PyTorch: cross-entropy is the mean over the n rows;
 * BCEWithLogitsLoss(reduction='mean') is the mean over all n*k elements.
 */
#include <math.h>

#include "backend/backend.h"

/* log(sum_j exp(z_j)) of one row. */
static double row_logsumexp(int k, const float *z)
{
    double m = z[0], s = 0.0;
    int j;
    for (j = 1; j < k; j++)
        if (z[j] > m)
            m = z[j];
    for (j = 0; j < k; j++)
        s += exp((double)z[j] - m);
    return m + log(s);
}

void vidai_cpu_softmax_xent_hard(int n, int k, const float *logits, const int32_t *labels,
                                 float *loss, float *dlogits)
{
    double total = 0.0;
    int i, j;
    for (i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        double lse = row_logsumexp(k, z);
        total += lse - z[labels[i]];
        if (dlogits) {
            float *g = dlogits + (size_t)i * k;
            for (j = 0; j < k; j++)
                g[j] = (float)((exp((double)z[j] - lse) - (j == labels[i])) / n);
        }
    }
    *loss = (float)(total / n);
}

/*
 * loss_i = -sum_j t_j log softmax(z)_j = sum_j t_j (lse - z_j);
 * d loss_i / d z_j = softmax_j * sum(t) - t_j (softmax - t when t sums to 1).
 */
void vidai_cpu_softmax_xent_soft(int n, int k, const float *logits, const float *target,
                                 float *loss, float *dlogits)
{
    double total = 0.0;
    int i, j;
    for (i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k, *t = target + (size_t)i * k;
        double lse = row_logsumexp(k, z), tsum = 0.0;
        for (j = 0; j < k; j++) {
            total += t[j] * (lse - z[j]);
            tsum += t[j];
        }
        if (dlogits) {
            float *g = dlogits + (size_t)i * k;
            for (j = 0; j < k; j++)
                g[j] = (float)((exp((double)z[j] - lse) * tsum - t[j]) / n);
        }
    }
    *loss = (float)(total / n);
}

/* loss = mean of max(x,0) - x*t + log1p(exp(-|x|)); d/dx = (sigmoid(x) - t) / (n*k). */
void vidai_cpu_sigmoid_bce(int n, int k, const float *logits, const float *target, float *loss,
                           float *dlogits)
{
    const size_t count = (size_t)n * k;
    double total = 0.0;
    size_t i;
    for (i = 0; i < count; i++) {
        double x = logits[i], t = target[i];
        double e = exp(-fabs(x)); /* in (0, 1] */
        total += (x > 0.0 ? x : 0.0) - x * t + log1p(e);
        if (dlogits) {
            double sig = x >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
            dlogits[i] = (float)((sig - t) / (double)count);
        }
    }
    *loss = (float)(total / (double)count);
}
