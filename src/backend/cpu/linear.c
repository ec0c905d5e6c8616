/*
 * Fully connected layer y = x W^T + b with PyTorch's weight layout [out][in],
 * as SGEMM calls (CBLAS); the backward ops accumulate (beta = 1).
 */
#include <cblas.h>

#include "backend/backend.h"

void vidai_cpu_linear_forward(int n, int in, int out, const float *x, const float *w,
                              const float *b, float *y)
{
    int i, k;
    for (i = 0; i < n; i++)
        for (k = 0; k < out; k++)
            y[(size_t)i * out + k] = b ? b[k] : 0.0f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, w, in, 1.0f, y,
                out);
}

void vidai_cpu_linear_backward(int n, int in, int out, const float *x, const float *w,
                               const float *dy, float *dx, float *dw, float *db)
{
    int i, k;
    /* dx[n][in] += dy[n][out] w[out][in] */
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy, out, w, in,
                    1.0f, dx, in);
    /* dw[out][in] += dy^T x */
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dy, out, x, in, 1.0f,
                    dw, in);
    if (db)
        for (k = 0; k < out; k++) {
            double s = 0.0;
            for (i = 0; i < n; i++)
                s += dy[(size_t)i * out + k];
            db[k] += (float)s;
        }
}
