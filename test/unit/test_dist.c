/*
 * vida_dist without MPI: the caller's-all-reduce engine with two ranks as two
 * threads of this process (their all-reduce sums through shared memory), so
 * the bucketing, the broadcast at attach, the averaging and the agreement on
 * a non-finite loss are tested everywhere, under ASan too. The MPI engine is
 * tested with mpirun by test/dist/test_dist.sh.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vidaction.h>

#include "test.h"

enum { CLASSES = 5, GLOBAL = 4, T = 4, HW = 32, STEPS = 4 };

/* The two ranks' all-reduce: each posts its buffer, both sum in the same order, then write. */
typedef struct group {
    pthread_barrier_t bar;
    float *data[2];
    int64_t n[2];
    int mismatch;
} group;

typedef struct rank_arg {
    group *g;
    int rank, world, nan_at; /* nan_at: the step whose loss this rank poisons, -1 for none */
    int empty_at, badlabel_at; /* steps where this rank has no samples / an invalid label */
    uint64_t seed;
    int rc, skipped;
    float *weights; /* out: every learnable tensor, concatenated */
    int64_t n_weights;
    float losses[STEPS];
} rank_arg;

static __thread rank_arg *me;

static int sum2(float *x, int64_t n, void *user)
{
    group *g = user;
    float *tmp;
    int r = me->rank;
    g->data[r] = x;
    g->n[r] = n;
    pthread_barrier_wait(&g->bar);
    if (g->n[0] != g->n[1])
        g->mismatch = 1;
    tmp = malloc((size_t)n * sizeof *tmp);
    for (int64_t i = 0; tmp && i < n && !g->mismatch; i++)
        tmp[i] = g->data[0][i] + g->data[1][i];
    pthread_barrier_wait(&g->bar); /* both have read both */
    if (tmp && !g->mismatch)
        memcpy(x, tmp, (size_t)n * sizeof *x);
    free(tmp);
    pthread_barrier_wait(&g->bar);
    return tmp && !g->mismatch ? 0 : 1;
}

/* Clip sample s of step k: a function of (k, s) only. */
static void make_batch(int step, int first, int count, float *clips, int32_t *labels,
                       float *targets)
{
    for (int s = 0; s < count; s++) {
        int gs = first + s;
        labels[s] = gs % CLASSES;
        for (int c = 0; c < CLASSES; c++)
            targets[s * CLASSES + c] = c == labels[s];
        for (int i = 0; i < 3 * T * HW * HW; i++)
            clips[(size_t)s * 3 * T * HW * HW + i] =
                sinf(0.001f * (float)i * (float)(1 + gs) + 0.7f * (float)step) + 0.1f * (float)labels[s];
    }
}

static void *rank_main(void *p)
{
    rank_arg *a = p;
    vida_context *ctx = NULL;
    vida_context_params cp;
    vida_model_params mp;
    vida_model *m = NULL;
    vida_optimizer_params op;
    vida_optimizer *o = NULL;
    vida_dist_params dp;
    vida_dist *d = NULL;
    const int count = GLOBAL / a->world, first = a->rank * count;
    float *clips = malloc((size_t)count * 3 * T * HW * HW * sizeof *clips);
    float targets[GLOBAL * CLASSES];
    int32_t labels[GLOBAL];
    vida_batch b;
    me = a;
    a->rc = -1;
    vida_context_params_init(&cp);
    cp.backend = VIDA_BACKEND_CPU;
    cp.n_threads = 1;
    cp.seed = a->seed; /* different weights per rank: only the broadcast makes them alike */
    vida_model_params_init(&mp);
    mp.depth = 10;
    mp.width = 0.25f;
    mp.num_classes = CLASSES;
    vida_optimizer_params_init(&op);
    op.lr = 0.05;
    op.momentum = 0.9;
    op.weight_decay = 0;
    vida_dist_params_init(&dp);
    dp.backend = a->world > 1 ? VIDA_DIST_CALLBACK : VIDA_DIST_NONE;
    dp.rank = a->rank;
    dp.world = a->world;
    dp.allreduce = sum2;
    dp.user_data = a->g;
    dp.bucket_bytes = 64 << 10; /* many buckets for a small model */
    if (!clips || vida_context_create(&ctx, &cp) || vida_model_create(&m, ctx, &mp) ||
        vida_dist_create(&d, &dp) || vida_dist_attach(d, m) ||
        vida_model_set_mode(m, VIDA_MODE_TRAIN_FROZEN_BN) || vida_optimizer_create(&o, m, &op)) {
        fprintf(stderr, "  rank %d: %s\n", a->rank, vida_last_error());
        goto out;
    }
    memset(&b, 0, sizeof b);
    b.size = sizeof b;
    b.n = count;
    b.views = 1;
    b.clips.data = clips;
    b.clips.dtype = VIDA_DTYPE_F32;
    b.clips.layout = VIDA_LAYOUT_NCTHW;
    b.clips.ndim = 5;
    b.clips.shape[0] = count;
    b.clips.shape[1] = 3;
    b.clips.shape[2] = T;
    b.clips.shape[3] = b.clips.shape[4] = HW;
    b.targets.data = targets;
    b.targets.dtype = VIDA_DTYPE_F32;
    b.targets.ndim = 2;
    b.targets.shape[0] = count;
    b.targets.shape[1] = CLASSES;
    b.labels = labels;
    for (int k = 0; k < STEPS; k++) {
        int rc;
        make_batch(k, first, count, clips, labels, targets);
        if (k == a->nan_at)
            clips[5] = NAN;
        b.n = k == a->empty_at ? 0 : count;
        if (k == a->badlabel_at)
            labels[0] = 99;
        rc = vida_train_step(m, o, &b, VIDA_TARGET_SINGLE, &a->losses[k]);
        if (rc == VIDA_ENONFINITE || (rc == VIDA_OK && b.n == 0))
            a->skipped++;
        else if (k == a->badlabel_at && rc == VIDA_EINVAL)
            a->skipped++;
        else if (rc != VIDA_OK) {
            fprintf(stderr, "  rank %d step %d: %s\n", a->rank, k, vida_last_error());
            goto out;
        }
    }
    a->n_weights = vida_model_num_params(m);
    a->weights = malloc((size_t)a->n_weights * sizeof(float));
    {
        int64_t off = 0;
        for (int i = 0; a->weights && i < vida_model_n_tensors(m); i++) {
            const char *name;
            int nd, dt;
            int64_t sh[8], n = 1;
            vida_model_tensor_info(m, i, &name, &nd, sh, &dt);
            if (dt != VIDA_DTYPE_F32 || strstr(name, "running_"))
                continue;
            for (int q = 0; q < nd; q++)
                n *= sh[q];
            vida_model_get_tensor(m, name, a->weights + off, n);
            off += n;
        }
    }
    a->rc = 0;
out:
    vida_optimizer_free(o);
    vida_model_free(m);
    vida_dist_free(d);
    vida_context_free(ctx);
    free(clips);
    return NULL;
}

static double max_rel(const float *a, const float *b, int64_t n)
{
    double d = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        if (fabs((double)a[i] - b[i]) > d)
            d = fabs((double)a[i] - b[i]);
        if (fabs(a[i]) > m)
            m = fabs(a[i]);
    }
    return d / (m > 0 ? m : 1);
}

/* Two ranks on half the batch each against one rank on all of it (frozen BN). */
TEST(dist, two_ranks_equal_one_rank_on_the_whole_batch)
{
    group g;
    rank_arg r[2], one;
    pthread_t th[2];
    double e01, e1;
    memset(r, 0, sizeof r);
    memset(&one, 0, sizeof one);
    memset(&g, 0, sizeof g);
    pthread_barrier_init(&g.bar, NULL, 2);
    for (int i = 0; i < 2; i++) {
        r[i].g = &g;
        r[i].rank = i;
        r[i].world = 2;
        r[i].nan_at = r[i].empty_at = r[i].badlabel_at = -1;
        r[i].seed = 7 + 100 * (uint64_t)i;
        pthread_create(&th[i], NULL, rank_main, &r[i]);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    one.rank = 0;
    one.world = 1;
    one.nan_at = one.empty_at = one.badlabel_at = -1;
    one.seed = 7; /* rank 0's weights */
    rank_main(&one);
    CHECK(r[0].rc == 0 && r[1].rc == 0 && one.rc == 0 && !g.mismatch);
    CHECK(r[0].n_weights == one.n_weights && r[1].n_weights == one.n_weights);
    e01 = max_rel(r[0].weights, r[1].weights, one.n_weights);
    e1 = max_rel(one.weights, r[0].weights, one.n_weights);
    for (int k = 0; k < STEPS; k++)
        printf("  step %d: losses rank 0 %.6f, rank 1 %.6f (mean %.6f); one rank %.6f\n", k,
               (double)r[0].losses[k], (double)r[1].losses[k],
               0.5 * ((double)r[0].losses[k] + r[1].losses[k]), (double)one.losses[k]);
    printf("  after %d steps: rank 0 vs rank 1 %.2e, 2 ranks vs 1 rank %.2e (max |diff| / max |w|)\n",
           STEPS, e01, e1);
    CHECK(e01 == 0);
    CHECK(e1 <= 1e-5);
    CHECK(fabs(0.5 * ((double)r[0].losses[0] + r[1].losses[0]) - one.losses[0]) <= 1e-5);
    free(r[0].weights);
    free(r[1].weights);
    free(one.weights);
    pthread_barrier_destroy(&g.bar);
}

/* A non-finite loss on one rank: both ranks skip that step, and stay equal. */
TEST(dist, a_nan_on_one_rank_skips_the_step_everywhere)
{
    group g;
    rank_arg r[2];
    pthread_t th[2];
    memset(r, 0, sizeof r);
    memset(&g, 0, sizeof g);
    pthread_barrier_init(&g.bar, NULL, 2);
    for (int i = 0; i < 2; i++) {
        r[i].g = &g;
        r[i].rank = i;
        r[i].world = 2;
        r[i].empty_at = r[i].badlabel_at = -1;
        r[i].nan_at = i == 1 ? 2 : -1;
        r[i].seed = 3;
        pthread_create(&th[i], NULL, rank_main, &r[i]);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CHECK(r[0].rc == 0 && r[1].rc == 0);
    printf("  skipped: rank 0 %d, rank 1 %d\n", r[0].skipped, r[1].skipped);
    CHECK(r[0].skipped == 1 && r[1].skipped == 1);
    CHECK(r[0].weights && r[1].weights &&
          max_rel(r[0].weights, r[1].weights, r[0].n_weights) == 0);
    free(r[0].weights);
    free(r[1].weights);
    pthread_barrier_destroy(&g.bar);
}

/*
 * A rank that cannot do a step (no samples, a bad label) votes no, so every rank skips it
 * together instead of the others waiting in a collective (a hang fails by the alarm).
 */
TEST(dist, a_failed_step_on_one_rank_does_not_hang_the_others)
{
    group g;
    rank_arg r[2];
    pthread_t th[2];
    memset(r, 0, sizeof r);
    memset(&g, 0, sizeof g);
    pthread_barrier_init(&g.bar, NULL, 2);
    alarm(120);
    for (int i = 0; i < 2; i++) {
        r[i].g = &g;
        r[i].rank = i;
        r[i].world = 2;
        r[i].nan_at = -1;
        r[i].empty_at = i == 1 ? 1 : -1;
        r[i].badlabel_at = i == 1 ? 2 : -1;
        r[i].seed = 3;
        pthread_create(&th[i], NULL, rank_main, &r[i]);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    alarm(0);
    CHECK(r[0].rc == 0 && r[1].rc == 0);
    printf("  skipped: rank 0 %d, rank 1 %d (steps 1 and 2 failed on rank 1)\n", r[0].skipped,
           r[1].skipped);
    CHECK(r[0].skipped == 2 && r[1].skipped == 2);
    CHECK(r[0].weights && r[1].weights &&
          max_rel(r[0].weights, r[1].weights, r[0].n_weights) == 0);
    free(r[0].weights);
    free(r[1].weights);
    pthread_barrier_destroy(&g.bar);
}

/* VIDA_DIST_TIMEOUT (seconds a rank waits in a collective, 0 for ever): anything else is refused
   by name when the group is made. */
TEST(dist, timeout_variable_is_checked)
{
    static const char *const bad[] = {"abc", "-1", "5s", "nan", "inf", "1e10", " "};
    static const char *const good[] = {"0", "2.5", "300", ""};
    const char *was = getenv("VIDA_DIST_TIMEOUT");
    char *saved = was ? strdup(was) : NULL;
    vida_dist_params p;
    vida_dist *d = NULL;
    vida_dist_params_init(&p);
    p.backend = VIDA_DIST_NONE;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("VIDA_DIST_TIMEOUT", bad[i], 1);
        CHECK(vida_dist_create(&d, &p) == VIDA_EINVAL && d == NULL);
        CHECK(strstr(vida_last_error(), "VIDA_DIST_TIMEOUT") != NULL);
        if (i == 0)
            printf("  %s\n", vida_last_error());
    }
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        setenv("VIDA_DIST_TIMEOUT", good[i], 1);
        CHECK_OK(vida_dist_create(&d, &p));
        vida_dist_free(d);
        d = NULL;
    }
    if (saved)
        setenv("VIDA_DIST_TIMEOUT", saved, 1);
    else
        unsetenv("VIDA_DIST_TIMEOUT");
    free(saved);
}

TEST(dist, bad_arguments)
{
    vida_dist_params p;
    vida_dist *d = NULL;
    int ok = -1;
    CHECK(vida_dist_create(NULL, NULL) == VIDA_EINVAL);
    vida_dist_params_init(&p);
    p.backend = VIDA_DIST_CALLBACK; /* no function */
    p.world = 2;
    CHECK(vida_dist_create(&d, &p) == VIDA_EINVAL && d == NULL);
    vida_dist_params_init(&p);
    p.backend = 9;
    CHECK(vida_dist_create(&d, &p) == VIDA_EINVAL);
    vida_dist_params_init(&p);
    p.bucket_bytes = 10;
    CHECK(vida_dist_create(&d, &p) == VIDA_EINVAL);
    vida_dist_params_init(&p);
    p.size = 3;
    CHECK(vida_dist_create(&d, &p) == VIDA_EINVAL);
    if (!(vida_features() & VIDA_FEATURE_MPI)) {
        vida_dist_params_init(&p);
        p.backend = VIDA_DIST_MPI;
        CHECK(vida_dist_create(&d, &p) == VIDA_EUNSUPPORTED);
    }
    vida_dist_params_init(&p);
    p.backend = VIDA_DIST_NONE;
    CHECK_OK(vida_dist_create(&d, &p));
    CHECK(vida_dist_rank(d) == 0 && vida_dist_world(d) == 1);
    CHECK_OK(vida_dist_barrier(d));
    CHECK_OK(vida_dist_all_ok(d, 0, &ok));
    CHECK(ok == 0);
    CHECK(vida_dist_attach(d, NULL) == VIDA_EINVAL);
    CHECK(vida_dist_rank(NULL) == -1);
    vida_dist_free(d);
    vida_dist_free(NULL);
}
