/*
 * Row-major SGEMM on the context's thread pool: C = alpha op(A) op(B) + beta C, cut into one
 * block of rows (or of columns, when C has fewer rows than columns) per pool thread, each a
 * single-threaded cblas_sgemm.
 *
 * Why not OpenBLAS's own threads: between two calls they spin on sched_yield for a while
 * (OPENBLAS_THREAD_TIMEOUT, read once when the library loads), and in a training step the
 * calls alternate with the pool's own work (im2col, BatchNorm, ReLU) and with the loader's
 * decoding. On the 2-core build machine that spinning took about a fifth of the CPU time of a
 * step (perf). The pool's workers sleep on a condition variable. The context sets OpenBLAS to
 * one thread (core/context.c).
 *
 * Every element of C is computed by one call over the whole of K. The result is the same from
 * run to run for a given number of threads, but not bit for bit across thread counts: OpenBLAS's
 * kernels sum in an order that depends on the size of the call (measured: the rows cut at a
 * multiple of 24 on its Zen kernel agree, at 16 they do not; columns never do). OpenBLAS's own
 * threads did not promise it either.
 */
#include <cblas.h>

#include "backend/cpu/gemm.h"
#include "backend/backend.h"

/* below this many multiply-adds one call on the calling thread is cheaper than waking workers */
#define GEMM_PAR_MIN_MACS (1 << 18)

typedef struct gemm_job {
    CBLAS_TRANSPOSE ta, tb;
    int m, n, k, lda, ldb, ldc, by_rows, unit, tiles, parts;
    float alpha, beta;
    const float *a, *b;
    float *c;
} gemm_job;

/* part i: tiles [i * tiles / parts, (i + 1) * tiles / parts), the last one cut at the extent */
static void gemm_task(void *arg, int64_t i)
{
    const gemm_job *j = arg;
    const int extent = j->by_rows ? j->m : j->n;
    int lo = (int)(i * j->tiles / j->parts) * j->unit;
    int hi = (int)((i + 1) * j->tiles / j->parts) * j->unit, len;
    if (hi > extent)
        hi = extent;
    len = hi - lo;
    if (len <= 0)
        return;
    if (j->by_rows) /* rows lo.. of op(A) and of C */
        cblas_sgemm(CblasRowMajor, j->ta, j->tb, len, j->n, j->k, j->alpha,
                    j->a + (j->ta == CblasNoTrans ? (size_t)lo * (size_t)j->lda : (size_t)lo),
                    j->lda, j->b, j->ldb, j->beta, j->c + (size_t)lo * (size_t)j->ldc, j->ldc);
    else /* columns lo.. of op(B) and of C */
        cblas_sgemm(CblasRowMajor, j->ta, j->tb, j->m, len, j->k, j->alpha, j->a, j->lda,
                    j->b + (j->tb == CblasNoTrans ? (size_t)lo : (size_t)lo * (size_t)j->ldb),
                    j->ldb, j->beta, j->c + lo, j->ldc);
}

void vidai_cpu_sgemm(vidai_pool *pool, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k,
                     float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                     float *c, int ldc)
{
    const int threads = vidai_pool_n_threads(pool);
    gemm_job j;
    int extent;
    if (m <= 0 || n <= 0)
        return;
    /* one call: small, a pool of one, or OpenBLAS given threads of its own by someone else in
       the process (two layers of threads would oversubscribe the cores) */
    if (threads <= 1 || (int64_t)m * n * k < GEMM_PAR_MIN_MACS || openblas_get_num_threads() > 1) {
        cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    j.ta = ta, j.tb = tb, j.m = m, j.n = n, j.k = k, j.lda = lda, j.ldb = ldb, j.ldc = ldc;
    j.alpha = alpha, j.beta = beta, j.a = a, j.b = b, j.c = c;
    j.by_rows = m >= n;
    extent = j.by_rows ? m : n;
    /* whole micro-kernel tiles (16 rows or columns) where there are enough for every thread */
    j.unit = extent >= 16 * threads ? 16 : 1;
    j.tiles = (extent + j.unit - 1) / j.unit;
    j.parts = j.tiles < threads ? j.tiles : threads;
    vidai_pool_run(pool, j.parts, gemm_task, &j);
}
