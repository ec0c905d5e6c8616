/* Row-major SGEMM split over the context's thread pool (gemm.c). */
#ifndef VIDAI_CPU_GEMM_H
#define VIDAI_CPU_GEMM_H

#include <cblas.h>

#include "core/core.h"

/* C = alpha op(A) op(B) + beta C, row-major, as cblas_sgemm; C's rows (or columns) are cut
   among the pool's threads. Needs OpenBLAS at one thread (vida_context_create sets it). The same
   inputs and pool size give the same bits. */
void vidai_cpu_sgemm(vidai_pool *pool, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k,
                     float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                     float *c, int ldc);

#endif
