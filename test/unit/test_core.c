/* Core: context, errors, thread pool, counter-based RNG, version. */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include <vidaction.h>

#include "core/core.h"
#include "test.h"

TEST(core, version)
{
    CHECK(vida_version_number() == VIDA_VERSION_NUMBER);
    CHECK(strcmp(vida_version_string(), "0.5.0") == 0 && vida_version_number() == 500);
    CHECK(vida_features() & VIDA_FEATURE_FFMPEG);
    CHECK(strstr(vida_features_string(), " ffmpeg(libavformat ") != NULL);
    CHECK(vida_features() & VIDA_FEATURE_CPU);
    CHECK(vida_features() & VIDA_FEATURE_CBLAS);
    /* CUDA and cuDNN come together, and the string says so */
    CHECK(!(vida_features() & VIDA_FEATURE_CUDA) == !(vida_features() & VIDA_FEATURE_CUDNN));
    CHECK(!(vida_features() & VIDA_FEATURE_CUDA) == !strstr(vida_features_string(), " cuda cudnn cublas"));
    if (!(vida_features() & VIDA_FEATURE_CUDA))
        CHECK(vida_device_count() == 0);
    CHECK(strncmp(vida_features_string(), "cpu cblas(", 10) == 0);
}

TEST(core, strerror_covers_every_code)
{
    int c;
    for (c = VIDA_EMISMATCH; c <= VIDA_OK; c++)
        CHECK(strcmp(vida_strerror(c), "unknown error") != 0);
    CHECK(strcmp(vida_strerror(-1000), "unknown error") == 0);
}

TEST(core, last_error_is_per_call_and_prefixable)
{
    vida_clear_error();
    CHECK(vida_last_error()[0] == '\0');
    CHECK(vidai_error(VIDA_EFORMAT, "tensor '%s' bad", "x") == VIDA_EFORMAT);
    CHECK(strcmp(vida_last_error(), "tensor 'x' bad") == 0);
    CHECK(vidai_error_prefix(VIDA_EFORMAT, "%s: ", "m.safetensors") == VIDA_EFORMAT);
    CHECK(strcmp(vida_last_error(), "m.safetensors: tensor 'x' bad") == 0);
}

static int logged;
static void log_fn(int level, const char *msg, void *ud)
{
    if (level == VIDA_LOG_WARN && strcmp(msg, "hello 3") == 0 && ud == &logged)
        logged++;
}

TEST(core, context_params_and_errors)
{
    vida_context_params p;
    vida_context *ctx = NULL;
    CHECK(vida_context_create(NULL, NULL) == VIDA_EINVAL);
    {
        /* AUTO: the GPU when there is one, unless VIDA_DEVICE says otherwise */
        const char *env = getenv("VIDA_DEVICE");
        char *saved = env ? strdup(env) : NULL;
        unsetenv("VIDA_DEVICE");
        CHECK_OK(vida_context_create(&ctx, NULL));
        CHECK(vida_context_backend(ctx) == (vida_device_count() > 0 ? VIDA_BACKEND_CUDA : VIDA_BACKEND_CPU));
        CHECK(vida_context_n_threads(ctx) >= 1);
        vida_context_free(ctx);
        setenv("VIDA_DEVICE", "cpu", 1);
        CHECK_OK(vida_context_create(&ctx, NULL));
        CHECK(vida_context_backend(ctx) == VIDA_BACKEND_CPU);
        vida_context_free(ctx);
        setenv("VIDA_DEVICE", "gpu0", 1);
        CHECK(vida_context_create(&ctx, NULL) == VIDA_EINVAL);
        CHECK(ctx == NULL && strstr(vida_last_error(), "VIDA_DEVICE") != NULL);
        setenv("VIDA_DEVICE", "cuda:7", 1);
        CHECK(vida_context_create(&ctx, NULL) == ((vida_features() & VIDA_FEATURE_CUDA) ? VIDA_EDEVICE
                                                                                        : VIDA_EUNSUPPORTED) ||
              vida_device_count() > 7);
        vida_context_free(ctx);
        ctx = NULL;
        if (saved) {
            setenv("VIDA_DEVICE", saved, 1);
            free(saved);
        } else {
            unsetenv("VIDA_DEVICE");
        }
    }
    vida_context_params_init(&p);
    p.backend = VIDA_BACKEND_CPU;
    CHECK_OK(vida_context_create(&ctx, &p));
    CHECK(strcmp(vida_context_device_name(ctx), "CPU") == 0);
    CHECK_OK(vida_context_set_precision(ctx, VIDA_PRECISION_FP32));
    CHECK(vida_context_set_precision(ctx, VIDA_PRECISION_BF16) == VIDA_EUNSUPPORTED);
    CHECK(strstr(vida_last_error(), "CUDA") != NULL);
    CHECK(vida_context_set_precision(ctx, 7) == VIDA_EINVAL);
    CHECK(vida_context_set_precision(NULL, VIDA_PRECISION_FP32) == VIDA_EINVAL);
    CHECK(vida_context_device_name(NULL) == NULL);
    vida_context_free(ctx);
    vida_context_params_init(&p);
    p.backend = VIDA_BACKEND_CUDA;
    if (!(vida_features() & VIDA_FEATURE_CUDA)) {
        CHECK(vida_context_create(&ctx, &p) == VIDA_EUNSUPPORTED);
        CHECK(ctx == NULL);
        CHECK(strstr(vida_last_error(), "CUDA") != NULL);
    } else if (vida_device_count() == 0) {
        /* compiled in, no GPU here: a clear error, not a crash */
        CHECK(vida_context_create(&ctx, &p) == VIDA_EDEVICE);
        CHECK(ctx == NULL);
        CHECK(strstr(vida_last_error(), "no CUDA device") != NULL);
    }
    p.device = vida_device_count() + 3;
    CHECK(vida_context_create(&ctx, &p) != VIDA_OK);
    CHECK(ctx == NULL);
    p.device = -1;
    CHECK(vida_context_create(&ctx, &p) == VIDA_EINVAL);
    vida_context_params_init(&p);
    p.n_threads = -2;
    CHECK(vida_context_create(&ctx, &p) == VIDA_EINVAL);
    vida_context_params_init(&p);
    p.size = 8;
    CHECK(vida_context_create(&ctx, &p) == VIDA_EINVAL);
    vida_context_params_init(&p);
    p.backend = 99;
    CHECK(vida_context_create(&ctx, &p) == VIDA_EINVAL);
    vida_context_params_init(&p);
    p.n_threads = 3;
    p.log = log_fn;
    p.log_user_data = &logged;
    CHECK_OK(vida_context_create(&ctx, &p));
    CHECK(vida_context_n_threads(ctx) == 3);
    vidai_log(ctx, VIDA_LOG_WARN, "hello %d", 3);
    vidai_log(ctx, VIDA_LOG_DEBUG, "hello %d", 3); /* above the level: dropped */
    CHECK(logged == 1);
    CHECK(vida_device_count() == 0);
    vida_context_free(ctx);
    CHECK(vida_context_backend(NULL) == -1);
}

typedef struct pool_arg {
    atomic_int hits[1000];
} pool_arg;

static void pool_task(void *arg, int64_t i)
{
    pool_arg *a = arg;
    atomic_fetch_add(&a->hits[i], 1);
}

TEST(core, pool_runs_every_index_once)
{
    static pool_arg a;
    vidai_pool *pool = NULL;
    int threads, rep, i;
    for (threads = 1; threads <= 4; threads++) {
        CHECK_OK(vidai_pool_create(&pool, threads));
        CHECK(vidai_pool_n_threads(pool) == threads);
        for (rep = 0; rep < 50; rep++) {
            memset(&a, 0, sizeof a);
            vidai_pool_run(pool, 1000, pool_task, &a);
            for (i = 0; i < 1000; i++)
                CHECKF(atomic_load(&a.hits[i]) == 1, "threads %d rep %d index %d", threads, rep, i);
        }
        vidai_pool_run(pool, 0, pool_task, &a);
        vidai_pool_free(pool);
    }
    memset(&a, 0, sizeof a);
    vidai_pool_run(NULL, 10, pool_task, &a);
    CHECK(atomic_load(&a.hits[9]) == 1);
    CHECK(vidai_pool_create(&pool, 0) == VIDA_EINVAL);
}

TEST(core, rng_is_counter_based_and_uniform)
{
    double sum = 0, sum2 = 0, nsum = 0, nsum2 = 0;
    int i, n = 200000;
    CHECK(vidai_rng_u64(1, 2) == vidai_rng_u64(1, 2));
    CHECK(vidai_rng_u64(1, 2) != vidai_rng_u64(1, 3));
    CHECK(vidai_rng_u64(1, 2) != vidai_rng_u64(2, 2));
    for (i = 0; i < n; i++) {
        float u = vidai_rng_uniform(42, (uint64_t)i), z = vidai_rng_normal(42, (uint64_t)i);
        CHECK(u >= 0.0f && u < 1.0f);
        sum += u;
        sum2 += (double)u * u;
        nsum += z;
        nsum2 += (double)z * z;
    }
    CHECKF(fabs(sum / n - 0.5) < 0.005, "mean %g", sum / n);
    CHECKF(fabs(sum2 / n - sum / n * sum / n - 1.0 / 12) < 0.002, "var");
    CHECKF(fabs(nsum / n) < 0.01, "normal mean %g", nsum / n);
    CHECKF(fabs(nsum2 / n - 1) < 0.02, "normal var %g", nsum2 / n);
}

TEST(core, checked_sizes)
{
    size_t r;
    CHECK(vidai_mul_size(&r, SIZE_MAX / 2 + 1, 2) == -1);
    CHECK(vidai_mul_size(&r, 3, 4) == 0 && r == 12);
    CHECK(vidai_add_size(&r, SIZE_MAX, 1) == -1);
    CHECK(vidai_malloc(SIZE_MAX - 10) == NULL);
    CHECK(strstr(vida_last_error(), "too large") != NULL);
}
