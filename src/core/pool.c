/*
 * A small fork-join thread pool: vidai_pool_run(pool, n, fn, arg) runs
 * fn(arg, i) for i in [0, n), the indices handed out through an atomic
 * counter to the workers and the calling thread, and returns when all are
 * done. Workers sleep on a condition variable between runs.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "core/core.h"

struct vidai_pool {
    int n_threads; /* including the caller */
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_cond_t done;
    uint64_t generation;
    int stop;
    int busy; /* workers still in the current run */
    vidai_task_fn fn;
    void *arg;
    int64_t n;
    atomic_llong next;
};

static void pool_drain(vidai_pool *pool)
{
    for (;;) {
        int64_t i = atomic_fetch_add(&pool->next, 1);
        if (i >= pool->n)
            break;
        pool->fn(pool->arg, i);
    }
}

static void *pool_worker(void *p)
{
    vidai_pool *pool = p;
    uint64_t seen = 0;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->stop && pool->generation == seen)
            pthread_cond_wait(&pool->wake, &pool->lock);
        if (pool->stop)
            break;
        seen = pool->generation;
        pthread_mutex_unlock(&pool->lock);
        pool_drain(pool);
        pthread_mutex_lock(&pool->lock);
        if (--pool->busy == 0)
            pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

int vidai_pool_create(vidai_pool **out, int n_threads)
{
    vidai_pool *pool;
    int i;
    *out = NULL;
    if (n_threads < 1)
        return vidai_error(VIDA_EINVAL, "thread pool: n_threads %d < 1", n_threads);
    pool = vidai_calloc(1, sizeof *pool);
    if (!pool)
        return VIDA_ENOMEM;
    pool->n_threads = 1;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    if (n_threads > 1) {
        pool->threads = vidai_calloc((size_t)n_threads - 1, sizeof *pool->threads);
        if (!pool->threads) {
            vidai_pool_free(pool);
            return VIDA_ENOMEM;
        }
        for (i = 0; i < n_threads - 1; i++) {
            if (pthread_create(&pool->threads[i], NULL, pool_worker, pool) != 0) {
                vidai_pool_free(pool);
                return vidai_error(VIDA_ENOMEM, "thread pool: cannot start thread %d", i + 1);
            }
            pool->n_threads++;
        }
    }
    *out = pool;
    return VIDA_OK;
}

void vidai_pool_free(vidai_pool *pool)
{
    int i;
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->stop = 1;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (i = 0; i < pool->n_threads - 1; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    vidai_free(pool->threads);
    vidai_free(pool);
}

int vidai_pool_n_threads(const vidai_pool *pool)
{
    return pool ? pool->n_threads : 1;
}

void vidai_pool_run(vidai_pool *pool, int64_t n, vidai_task_fn fn, void *arg)
{
    int64_t i;
    if (n <= 0)
        return;
    if (!pool || pool->n_threads == 1 || n == 1) {
        for (i = 0; i < n; i++)
            fn(arg, i);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    pool->fn = fn;
    pool->arg = arg;
    pool->n = n;
    atomic_store(&pool->next, 0);
    pool->busy = pool->n_threads - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    pool_drain(pool);
    pthread_mutex_lock(&pool->lock);
    while (pool->busy > 0)
        pthread_cond_wait(&pool->done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
}
