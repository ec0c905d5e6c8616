/*
 * vida_dist (include/vidaction/dist.h): data-parallel training over MPI or a
 * caller's all-reduce. A model attached to a group averages its gradients in
 * buckets: the learnable tensors in reverse order (the order backward
 * finishes them), cut every bucket_bytes. After each op's backward the
 * tensors it finished are marked; a bucket whose tensors are all finished is
 * packed into its buffer and its all-reduce started (MPI_Iallreduce; other
 * buckets' requests are tested between ops so they progress while backward
 * goes on). At the end of backward every request is waited for and the sums,
 * divided by the world size, go back into the gradients (host copies; on
 * CUDA the device copies are refreshed from them). With NCCL the buckets
 * live on the device: each is packed on the context's stream and reduced on
 * NCCL's own stream after it (ncclAllReduce queued as the bucket is
 * finished, so it runs while the following backward kernels run), and at
 * the end the context's stream waits for NCCL's and unpacks.
 *
 * No rank waits forever (MPI has no timeout of its own): every MPI collective
 * here is non-blocking (MPI_Ibarrier, MPI_Iallreduce, MPI_Ibcast) and waited
 * for by wait_reqs, which gives up after the group's timeout (environment
 * variable VIDA_DIST_TIMEOUT, seconds). The rank that gives up asks the others
 * over a duplicate of MPI_COMM_WORLD whether they are waiting too (ranks
 * answer while they wait), names those that do not answer, and marks the
 * group failed: from then on every collective fails at once, nothing waits
 * for the requests left behind, and vida_dist_free leaves MPI unfinalized, so
 * that the process can exit and the launcher end the job.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef VIDA_HAVE_MPI
#include <mpi.h>
#endif

#include "core/core.h"
#include "backend/backend.h"
#ifdef VIDA_HAVE_NCCL
#include "backend/cuda/cuda.h"
#endif
#include "dist/dist.h"
#include "nn/nn.h"
#include "vidaction/dist.h"

/* VIDA_DIST_TIMEOUT's default: minutes, since rank 0 writing a checkpoint to a slow file system,
   or a batch of videos near their read deadline, can keep the other ranks waiting that long. */
#define DEFAULT_TIMEOUT_S 300.0

struct vida_dist {
    int backend, rank, world;
    int mpi_init_here;
    size_t bucket_bytes;
    vida_allreduce_fn fn;
    void *user;
    double timeout; /* seconds a rank waits in a collective before giving up; 0: forever */
    int failed;     /* a collective timed out: the group is unusable */
    char why[256];  /* what that collective's error said */
#ifdef VIDA_HAVE_MPI
    MPI_Comm side; /* MPI_COMM_WORLD's duplicate for "are you waiting?" (MPI_COMM_NULL: none) */
#endif
};

typedef struct bucket {
    int n_params, first; /* params[first .. first + n_params) of the group's order */
    int64_t numel;
    int ready;
    int started;
    float *buf;
#ifdef VIDA_HAVE_MPI
    MPI_Request req;
#endif
} bucket;

struct vidai_dist_model {
    vida_dist *d;
    vida_context *ctx; /* NCCL: the model's CUDA context */
#ifdef VIDA_HAVE_NCCL
    vidai_nccl *nccl;
#endif
    int n_order;
    int *order;     /* learnable param indices, reverse order */
    int *bucket_of; /* per param index: its bucket, -1 if none */
    int *done;      /* per param index: finished in this backward */
    int n_buckets;
    bucket *b;
};

void vida_dist_params_init(vida_dist_params *p)
{
    if (!p)
        return;
    memset(p, 0, sizeof *p);
    p->size = sizeof *p;
    p->backend = VIDA_DIST_AUTO;
    p->bucket_bytes = (size_t)25 << 20;
}

#ifdef VIDA_HAVE_MPI
/* Launched by an MPI launcher (Open MPI, MPICH/Hydra, PMIx, Slurm)? */
static int launched_by_mpi(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK",
                                       "MPI_LOCALNRANKS", "SLURM_NTASKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}
#endif

/* VIDA_DIST_TIMEOUT: seconds >= 0 (0: wait forever); unset or empty: the default. */
static int timeout_from_env(double *out)
{
    const char *e = getenv("VIDA_DIST_TIMEOUT");
    char *end;
    double v;
    *out = DEFAULT_TIMEOUT_S;
    if (!e || !*e)
        return VIDA_OK;
    v = strtod(e, &end);
    if (end == e || *end || !(v >= 0 && v <= 1e9))
        return vidai_error(VIDA_EINVAL, "vida_dist_create: VIDA_DIST_TIMEOUT is '%s', not a number "
                           "of seconds in [0, 1e9] (0: no timeout)", e);
    *out = v;
    return VIDA_OK;
}

int vida_dist_create(vida_dist **out, const vida_dist_params *params)
{
    vida_dist_params p;
    vida_dist *d;
    double timeout;
    int rc;
    if (!out)
        return vidai_error(VIDA_EINVAL, "vida_dist_create: out is NULL");
    *out = NULL;
    vida_dist_params_init(&p);
    if (params) {
        if (params->size != sizeof p)
            return vidai_error(VIDA_EINVAL, "vida_dist_create: params.size is %zu, this library "
                               "wants %zu (call vida_dist_params_init)", params->size, sizeof p);
        p = *params;
    }
    if (p.backend < VIDA_DIST_AUTO || p.backend > VIDA_DIST_NCCL)
        return vidai_error(VIDA_EINVAL, "vida_dist_create: unknown backend %d", p.backend);
    if (p.bucket_bytes < 4096 || p.bucket_bytes > ((size_t)1 << 32))
        return vidai_error(VIDA_EINVAL, "vida_dist_create: bucket_bytes %zu outside [4096, 4 GiB]",
                           p.bucket_bytes);
    if (p.backend == VIDA_DIST_CALLBACK &&
        (!p.allreduce || p.world < 1 || p.rank < 0 || p.rank >= p.world))
        return vidai_error(VIDA_EINVAL, "vida_dist_create: the callback backend needs allreduce, "
                           "world >= 1 and 0 <= rank < world (got rank %d of %d%s)", p.rank,
                           p.world, p.allreduce ? "" : ", allreduce NULL");
    if ((rc = timeout_from_env(&timeout)) != VIDA_OK)
        return rc;
    if (p.backend == VIDA_DIST_AUTO) {
#ifdef VIDA_HAVE_MPI
        p.backend = launched_by_mpi() ? VIDA_DIST_MPI : VIDA_DIST_NONE;
#else
        p.backend = VIDA_DIST_NONE;
#endif
    }
#ifndef VIDA_HAVE_MPI
    if (p.backend == VIDA_DIST_MPI)
        return vidai_error(VIDA_EUNSUPPORTED, "vida_dist_create: MPI asked for, but this build has "
                           "no MPI (vida_features() lacks VIDA_FEATURE_MPI)");
#endif
#ifndef VIDA_HAVE_NCCL
    if (p.backend == VIDA_DIST_NCCL)
        return vidai_error(VIDA_EUNSUPPORTED, "vida_dist_create: NCCL asked for, but this build has "
                           "no NCCL (vida_features() lacks VIDA_FEATURE_NCCL)");
#endif
    d = vidai_calloc(1, sizeof *d);
    if (!d)
        return VIDA_ENOMEM;
    d->backend = p.backend;
    d->bucket_bytes = p.bucket_bytes;
    d->timeout = timeout;
    d->rank = 0;
    d->world = 1;
#ifdef VIDA_HAVE_MPI
    d->side = MPI_COMM_NULL;
#endif
    if (p.backend == VIDA_DIST_CALLBACK) {
        d->rank = p.rank;
        d->world = p.world;
        d->fn = p.allreduce;
        d->user = p.user_data;
    }
#ifdef VIDA_HAVE_MPI
    if (p.backend == VIDA_DIST_MPI || p.backend == VIDA_DIST_NCCL) {
        int inited = 0, provided = 0, finalized = 0;
        MPI_Finalized(&finalized);
        if (finalized) {
            vidai_free(d);
            return vidai_error(VIDA_EIO, "vida_dist_create: MPI was finalized already (by an "
                               "earlier vida_dist_free or the host); it cannot start again");
        }
        MPI_Initialized(&inited);
        if (!inited) {
            if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
                vidai_free(d);
                return vidai_error(VIDA_EIO, "vida_dist_create: MPI_Init_thread failed");
            }
            d->mpi_init_here = 1;
        }
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
        MPI_Comm_size(MPI_COMM_WORLD, &d->world);
        if (d->world > 1 && MPI_Comm_dup(MPI_COMM_WORLD, &d->side) != MPI_SUCCESS) {
            vidai_free(d);
            return vidai_error(VIDA_EIO, "vida_dist_create: MPI_Comm_dup failed");
        }
    }
#endif
    *out = d;
    return VIDA_OK;
}

void vida_dist_free(vida_dist *d)
{
    if (!d)
        return;
#ifdef VIDA_HAVE_MPI
    /* after a timeout both would wait for the rank that did not answer */
    if (!d->failed && d->side != MPI_COMM_NULL)
        MPI_Comm_free(&d->side);
    if (d->mpi_init_here && !d->failed) {
        int fin = 0;
        MPI_Finalized(&fin);
        if (!fin)
            MPI_Finalize();
    }
#endif
    vidai_free(d);
}

int vida_dist_rank(const vida_dist *d)
{
    return d ? d->rank : -1;
}

int vida_dist_world(const vida_dist *d)
{
    return d ? d->world : -1;
}

/* --- waiting for MPI with a deadline -------------------------------------------------- */

#ifdef VIDA_HAVE_MPI
enum { TAG_ASK = 1, TAG_ANSWER = 2 };
/* wait_reqs spins for SPIN_S, as MPI_Wait would, then naps up to MAX_NAP_NS between tests. A
   wait shorter than SPIN_S (a rank a little behind) is not slowed down at all; a longer one
   leaves the CPU to others, at the price of up to a nap per round of the collective. */
#define SPIN_S 1.0
#define MAX_NAP_NS 1000000L
/* How long a rank that gave up waits for the others' answers: longer than SPIN_S, as a rank
   answers only once it naps. */
#define ASK_S 2.0

/* The first MPI error or timeout makes the group unusable: every later collective says why. */
static int usable(vida_dist *d, const char *fn)
{
    if (!d->failed)
        return VIDA_OK;
    return vidai_error(VIDA_EIO, "%s: not started after an earlier failure: %s", fn, d->why);
}

static int set_failed(vida_dist *d, int rc)
{
    d->failed = 1;
    snprintf(d->why, sizeof d->why, "%s", vida_last_error());
    return rc;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sends one int, not waiting for the receiver (small: MPI sends it eagerly). */
static void post(vida_dist *d, int to, int tag)
{
    static const int one = 1; /* lives as long as the send may */
    MPI_Request r;
    if (MPI_Isend(&one, 1, MPI_INT, to, tag, d->side, &r) == MPI_SUCCESS)
        MPI_Request_free(&r);
}

/* Takes one message of tag from anyone, if there is one: its sender, else -1. */
static int take(vida_dist *d, int tag)
{
    MPI_Message msg;
    MPI_Status st;
    int flag = 0, x;
    if (MPI_Improbe(MPI_ANY_SOURCE, tag, d->side, &flag, &msg, &st) != MPI_SUCCESS || !flag ||
        MPI_Mrecv(&x, 1, MPI_INT, &msg, MPI_STATUS_IGNORE) != MPI_SUCCESS)
        return -1;
    return st.MPI_SOURCE;
}

/* While waiting: "yes" to every rank that gave up and asks whether this one waits too. */
static void answer(vida_dist *d)
{
    int from;
    while (d->side != MPI_COMM_NULL && (from = take(d, TAG_ASK)) >= 0)
        post(d, from, TAG_ANSWER);
}

/*
 * A collective that did not finish within the timeout: asks every other rank whether it waits
 * too, collects the answers for up to ASK_S (answering the others' questions meanwhile), marks
 * the group failed and returns VIDA_EIO naming what, the ranks that did not answer and the time
 * waited. Only sends that need no receiver and probes: nothing here can wait for a rank.
 */
static int timed_out(vida_dist *d, const char *what, double waited)
{
    char *heard = d->side != MPI_COMM_NULL ? calloc((size_t)d->world, 1) : NULL;
    char list[128] = "", who[256];
    int asked = heard != NULL, n_heard = 0, n_silent = 0, from;
    size_t len = 0;
    if (heard) {
        double t0 = now_s();
        for (int r = 0; r < d->world; r++)
            if (r != d->rank)
                post(d, r, TAG_ASK);
        while (n_heard < d->world - 1 && now_s() - t0 < ASK_S) {
            struct timespec nap = {0, MAX_NAP_NS};
            answer(d);
            while ((from = take(d, TAG_ANSWER)) >= 0)
                if (from != d->rank && !heard[from]) {
                    heard[from] = 1;
                    n_heard++;
                }
            nanosleep(&nap, NULL);
        }
        for (int r = 0; r < d->world; r++) {
            if (r == d->rank || heard[r])
                continue;
            if (n_silent++ < 8 && len < sizeof list)
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%d",
                                        n_silent > 1 ? ", " : "", r);
        }
        if (n_silent > 8 && len < sizeof list)
            snprintf(list + len, sizeof list - len, " and %d more", n_silent - 8);
        free(heard);
    }
    if (!asked) {
        snprintf(who, sizeof who, "another rank is stopped, hung or dead");
    } else if (n_silent) {
        int k = snprintf(who, sizeof who, "rank%s %s did not answer (stopped, hung or dead?)",
                         n_silent > 1 ? "s" : "", list);
        if (n_heard && k > 0 && (size_t)k < sizeof who)
            snprintf(who + k, sizeof who - (size_t)k, "; %d other rank%s wait%s too", n_heard,
                     n_heard > 1 ? "s" : "", n_heard > 1 ? "" : "s");
    } else {
        snprintf(who, sizeof who, "every other rank answered that it waits too: do the ranks "
                 "call the collectives in the same order?");
    }
    vidai_error(VIDA_EIO, "%s: no result after %.1f s (VIDA_DIST_TIMEOUT=%g): %s", what, waited,
                d->timeout, who);
    return set_failed(d, VIDA_EIO);
}

/*
 * Waits for n requests started at `since`, giving up after the group's timeout (0: never).
 * Spins on MPI_Testall first, as MPI_Waitall would; after SPIN_S it naps between tests (20 us,
 * doubling up to 1 ms), so that a rank kept waiting for long (rank 0 writing a checkpoint) leaves
 * the CPU to the others, and answers the questions of ranks that gave up.
 */
static int wait_reqs(vida_dist *d, MPI_Request *r, int n, double since, const char *what)
{
    long nap = 20000;
    for (;;) {
        int done = 0;
        double t;
        if (MPI_Testall(n, r, &done, MPI_STATUSES_IGNORE) != MPI_SUCCESS)
            return set_failed(d, vidai_error(VIDA_EIO, "%s failed (a rank died?)", what));
        if (done)
            return VIDA_OK;
        t = now_s() - since;
        if (d->timeout > 0 && t >= d->timeout)
            return timed_out(d, what, t);
        if (t >= SPIN_S) {
            struct timespec ts = {0, nap};
            answer(d);
            nanosleep(&ts, NULL);
            nap = nap * 2 < MAX_NAP_NS ? nap * 2 : MAX_NAP_NS;
        }
    }
}

/* A started MPI call's status: VIDA_OK, or the group fails. */
static int started(vida_dist *d, int mpi_rc, const char *what)
{
    if (mpi_rc == MPI_SUCCESS)
        return VIDA_OK;
    return set_failed(d, vidai_error(VIDA_EIO, "%s failed (a rank died?)", what));
}
#endif

/* Sums n floats over the ranks, in place, now. */
static int allreduce_now(vida_dist *d, float *x, int64_t n, const char *what)
{
    if (d->world == 1 || n == 0)
        return VIDA_OK;
    if (d->backend == VIDA_DIST_CALLBACK)
        return d->fn(x, n, d->user) == 0 ? VIDA_OK
                                          : vidai_error(VIDA_EIO, "the all-reduce callback failed");
#ifdef VIDA_HAVE_MPI
    for (int64_t off = 0; off < n;) {
        int c = n - off > (1 << 30) ? 1 << 30 : (int)(n - off), rc;
        double t0 = now_s();
        MPI_Request q;
        if ((rc = usable(d, what)) != VIDA_OK ||
            (rc = started(d, MPI_Iallreduce(MPI_IN_PLACE, x + off, c, MPI_FLOAT, MPI_SUM,
                                            MPI_COMM_WORLD, &q), what)) != VIDA_OK ||
            (rc = wait_reqs(d, &q, 1, t0, what)) != VIDA_OK)
            return rc;
        off += c;
    }
#endif
    return VIDA_OK;
}

int vida_dist_barrier(vida_dist *d)
{
    float z = 0;
    if (!d)
        return vidai_error(VIDA_EINVAL, "vida_dist_barrier: d is NULL");
#ifdef VIDA_HAVE_MPI
    if (d->backend != VIDA_DIST_CALLBACK && d->world > 1) {
        double t0 = now_s();
        MPI_Request q;
        int rc;
        const char *what = "vida_dist_barrier (MPI_Ibarrier)";
        if ((rc = usable(d, "vida_dist_barrier")) != VIDA_OK ||
            (rc = started(d, MPI_Ibarrier(MPI_COMM_WORLD, &q), what)) != VIDA_OK ||
            (rc = wait_reqs(d, &q, 1, t0, what)) != VIDA_OK)
            return rc;
        return VIDA_OK;
    }
#endif
    return allreduce_now(d, &z, 1, "vida_dist_barrier");
}

int vida_dist_all_ok(vida_dist *d, int ok, int *all_ok)
{
    float bad = ok ? 0.0f : 1.0f;
    int rc;
    if (!d || !all_ok)
        return vidai_error(VIDA_EINVAL, "vida_dist_all_ok: %s is NULL", !d ? "d" : "all_ok");
#ifdef VIDA_HAVE_MPI
    if (d->backend != VIDA_DIST_CALLBACK && d->world > 1) {
        int mine = ok != 0, all = 0;
        double t0 = now_s();
        MPI_Request q;
        const char *what = "vida_dist_all_ok (MPI_Iallreduce)";
        if ((rc = usable(d, "vida_dist_all_ok")) != VIDA_OK ||
            (rc = started(d, MPI_Iallreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD, &q),
                          what)) != VIDA_OK ||
            (rc = wait_reqs(d, &q, 1, t0, what)) != VIDA_OK)
            return rc;
        *all_ok = all;
        return VIDA_OK;
    }
#endif
    rc = allreduce_now(d, &bad, 1, "vida_dist_all_ok");
    if (rc == VIDA_OK)
        *all_ok = bad == 0.0f;
    return rc;
}

/* --- the model side ------------------------------------------------------------------- */

/* Waits for all-reduces still in flight (after a backward that failed halfway), so that no
   bucket buffer is reused or freed while the engine writes it. After a timeout nothing is
   waited for (the buffers are then never freed). */
static void drain(struct vidai_dist_model *dm)
{
#ifdef VIDA_HAVE_NCCL
    if (dm->nccl && dm->ctx) {
        vidai_nccl_join(dm->nccl, dm->ctx->cuda);
        return;
    }
#endif
#ifdef VIDA_HAVE_MPI
    if (dm->d->backend != VIDA_DIST_CALLBACK) {
        double t0 = now_s();
        for (int i = 0; i < dm->n_buckets && !dm->d->failed; i++)
            if (dm->b[i].started && dm->b[i].req != MPI_REQUEST_NULL)
                wait_reqs(dm->d, &dm->b[i].req, 1, t0, "the gradient all-reduce (MPI_Iallreduce)");
    }
#endif
    (void)dm;
}

void vidai_dist_model_free(struct vidai_dist_model *dm)
{
    if (!dm)
        return;
    if (dm->b)
        drain(dm);
#ifdef VIDA_HAVE_NCCL
    vidai_nccl_free(dm->nccl); /* waits for NCCL's stream before its buffers go */
    dm->nccl = NULL;
#endif
    for (int i = 0; i < dm->n_buckets && !dm->d->failed; i++) {
        if (dm->ctx)
            vidai_be_free(dm->ctx, dm->b[i].buf);
        else
            vidai_free(dm->b[i].buf);
    }
    vidai_free(dm->b);
    vidai_free(dm->order);
    vidai_free(dm->bucket_of);
    vidai_free(dm->done);
    vidai_free(dm);
}

/* Rank 0's value of every tensor (and counter) to every rank. */
static int broadcast_model(vida_dist *d, vida_model *m)
{
    for (int i = 0; i < m->n_params; i++) {
        vidai_param *p = &m->params[i];
        float *h;
        int rc;
        if (p->kind == VIDAI_PARAM_COUNT) {
            float c[2] = {(float)(p->count >> 24), (float)(p->count & 0xffffff)}; /* exact */
            if (d->rank != 0)
                c[0] = c[1] = 0;
            if ((rc = allreduce_now(d, c, 2, "the broadcast of the weights")) != VIDA_OK)
                return vidai_error_prefix(rc, "'%s': ", p->name);
            p->count = ((int64_t)c[0] << 24) + (int64_t)c[1];
            continue;
        }
        if (!(h = vidai_param_host(m, i)))
            return VIDA_EDEVICE;
#ifdef VIDA_HAVE_MPI
        if (d->backend != VIDA_DIST_CALLBACK) {
            for (int64_t off = 0; off < p->numel;) {
                int c = p->numel - off > (1 << 30) ? 1 << 30 : (int)(p->numel - off);
                double t0 = now_s();
                MPI_Request q;
                const char *what = "the broadcast of the weights (MPI_Ibcast)";
                if ((rc = usable(d, what)) != VIDA_OK ||
                    (rc = started(d, MPI_Ibcast(h + off, c, MPI_FLOAT, 0, MPI_COMM_WORLD, &q),
                                  what)) != VIDA_OK ||
                    (rc = wait_reqs(d, &q, 1, t0, what)) != VIDA_OK)
                    return vidai_error_prefix(rc, "'%s': ", p->name);
                off += c;
            }
            vidai_param_host_wrote(m, i);
            continue;
        }
#endif
        if (d->rank != 0) /* the callback engine only sums: everyone but rank 0 adds zeros */
            memset(h, 0, (size_t)p->numel * sizeof(float));
        if ((rc = allreduce_now(d, h, p->numel, "the broadcast of the weights")) != VIDA_OK)
            return vidai_error_prefix(rc, "'%s': ", p->name);
        vidai_param_host_wrote(m, i);
    }
    vidai_model_weights_changed(m);
    return VIDA_OK;
}

/* rc of this rank, or VIDA_EIO when another rank failed (a collective: every rank calls it). */
static int vote(vida_dist *d, int rc)
{
    int all = 0;
    if (d->world == 1)
        return rc;
    if (vida_dist_all_ok(d, rc == VIDA_OK, &all) != VIDA_OK)
        return rc != VIDA_OK ? rc : VIDA_EIO;
    if (rc == VIDA_OK && !all)
        return vidai_error(VIDA_EIO, "another rank could not attach its model");
    return rc;
}

int vida_dist_attach(vida_dist *d, vida_model *m)
{
    struct vidai_dist_model *dm;
    int rc, k = 0;
    size_t cur = 0;
    if (!d || !m)
        return vidai_error(VIDA_EINVAL, "vida_dist_attach: %s is NULL", !d ? "d" : "model");
    if (m->dist)
        return vidai_error(VIDA_EINVAL, "vida_dist_attach: the model is attached already");
    if (d->world > 1 && (rc = broadcast_model(d, m)) != VIDA_OK)
        return vidai_error_prefix(rc, "vida_dist_attach: ");
    /* From here every rank takes the same collective steps whatever fails locally: each
       failure is voted on (vote), so no rank waits alone in a collective. */
    dm = vidai_calloc(1, sizeof *dm);
    rc = dm ? VIDA_OK : vidai_error(VIDA_ENOMEM, "vida_dist_attach: out of memory");
    if (dm) {
        dm->d = d;
        dm->order = vidai_calloc((size_t)m->n_params + 1, sizeof *dm->order);
        dm->bucket_of = vidai_calloc((size_t)m->n_params + 1, sizeof *dm->bucket_of);
        dm->done = vidai_calloc((size_t)m->n_params + 1, sizeof *dm->done);
        dm->b = vidai_calloc((size_t)m->n_params + 1, sizeof *dm->b);
        if (!dm->order || !dm->bucket_of || !dm->done || !dm->b)
            rc = vidai_error(VIDA_ENOMEM, "vida_dist_attach: out of memory");
    }
    for (int i = m->n_params - 1; rc == VIDA_OK && i >= 0; i--) {
        dm->bucket_of[i] = -1;
        if (!m->params[i].learnable)
            continue;
        if (dm->n_buckets == 0 || cur >= d->bucket_bytes) { /* a new bucket */
            dm->b[dm->n_buckets].first = k;
            dm->n_buckets++;
            cur = 0;
        }
        dm->order[k++] = i;
        dm->bucket_of[i] = dm->n_buckets - 1;
        dm->b[dm->n_buckets - 1].n_params++;
        dm->b[dm->n_buckets - 1].numel += m->params[i].numel;
        cur += (size_t)m->params[i].numel * sizeof(float);
    }
    if (dm)
        dm->n_order = k;
    if (d->backend == VIDA_DIST_NCCL) {
#ifdef VIDA_HAVE_NCCL
        unsigned char id[1 + 512]; /* rank 0's status, then the id */
        memset(id, 0, sizeof id);
        if (rc == VIDA_OK && !vidai_be_is_cuda(m->ctx))
            rc = vidai_error(VIDA_EINVAL, "vida_dist_attach: NCCL needs a model on a CUDA context "
                             "(this one runs on the CPU: use VIDA_DIST_MPI)");
        if (rc == VIDA_OK)
            dm->ctx = m->ctx;
        if (d->rank == 0) {
            if (rc == VIDA_OK)
                rc = vidai_nccl_unique_id(id + 1, sizeof id - 1);
            id[0] = rc == VIDA_OK;
        }
        {
            double t0 = now_s();
            MPI_Request q;
            const char *what = "the broadcast of the NCCL id (MPI_Ibcast)";
            int r2 = usable(d, what);
            if (r2 == VIDA_OK)
                r2 = started(d, MPI_Ibcast(id, 1 + (int)vidai_nccl_id_size(), MPI_BYTE, 0,
                                           MPI_COMM_WORLD, &q), what);
            if (r2 == VIDA_OK)
                r2 = wait_reqs(d, &q, 1, t0, what);
            if (r2 != VIDA_OK && rc == VIDA_OK)
                rc = vidai_error_prefix(r2, "vida_dist_attach: ");
        }
        if (rc == VIDA_OK && !id[0])
            rc = vidai_error(VIDA_EIO, "vida_dist_attach: rank 0 could not make the NCCL id");
        if ((rc = vote(d, rc)) == VIDA_OK)
            rc = vidai_nccl_create(&dm->nccl, m->ctx->cuda, d->world, d->rank, id + 1);
#endif
    }
    for (int i = 0; rc == VIDA_OK && i < dm->n_buckets; i++) {
        size_t bytes = (size_t)dm->b[i].numel * sizeof(float);
        dm->b[i].buf = dm->ctx ? vidai_be_alloc(dm->ctx, bytes) : vidai_malloc(bytes);
        if (!dm->b[i].buf)
            rc = vidai_error(VIDA_ENOMEM, "vida_dist_attach: out of memory for the gradient buckets");
    }
    if ((rc = vote(d, rc)) != VIDA_OK) {
        vidai_dist_model_free(dm);
        return vidai_error_prefix(rc, "vida_dist_attach: ");
    }
    m->dist = dm;
    return VIDA_OK;
}

int vidai_dist_model_world(const struct vidai_dist_model *dm)
{
    return dm ? dm->d->world : 1;
}

uint64_t vidai_dist_model_key(const struct vidai_dist_model *dm)
{
    return dm && dm->d->rank > 0 ? vidai_hash64(0x72616e6bull + (uint64_t)dm->d->rank) : 0;
}

int vidai_dist_model_all_ok(struct vidai_dist_model *dm, int ok, int *all_ok)
{
    return vida_dist_all_ok(dm->d, ok, all_ok);
}

void vidai_dist_backward_begin(vida_model *m)
{
    struct vidai_dist_model *dm = m->dist;
    drain(dm);
    memset(dm->done, 0, (size_t)m->n_params * sizeof *dm->done);
    for (int i = 0; i < dm->n_buckets; i++) {
        dm->b[i].ready = dm->b[i].started = 0;
#ifdef VIDA_HAVE_MPI
        dm->b[i].req = MPI_REQUEST_NULL;
#endif
    }
}

/* Packs bucket k's gradients and starts its all-reduce. */
static int start_bucket(vida_model *m, int k)
{
    struct vidai_dist_model *dm = m->dist;
    bucket *b = &dm->b[k];
    int64_t off = 0;
#ifdef VIDA_HAVE_NCCL
    if (dm->nccl) { /* device to device, then NCCL, all on the context's stream */
        int rc;
        for (int j = 0; j < b->n_params; j++) {
            int pi = dm->order[b->first + j];
            const float *g = vidai_grad_dev(m, pi);
            if (!g)
                return VIDA_EDEVICE;
            if ((rc = vidai_be_copy(m->ctx, b->buf + off, g,
                                    (size_t)m->params[pi].numel * sizeof(float))) != VIDA_OK)
                return rc;
            off += m->params[pi].numel;
        }
        b->started = 1;
        return vidai_nccl_allreduce_sum(dm->nccl, m->ctx->cuda, b->buf, b->numel);
    }
#endif
    for (int j = 0; j < b->n_params; j++) {
        int pi = dm->order[b->first + j];
        const float *g = vidai_grad_host(m, pi);
        if (!g)
            return VIDA_EDEVICE;
        memcpy(b->buf + off, g, (size_t)m->params[pi].numel * sizeof(float));
        off += m->params[pi].numel;
    }
    b->started = 1;
#ifdef VIDA_HAVE_MPI
    if (dm->d->backend != VIDA_DIST_CALLBACK) {
        if (b->numel > INT32_MAX)
            return vidai_error(VIDA_EINVAL, "a gradient bucket of %lld floats is too large for MPI",
                               (long long)b->numel);
        const char *what = "the gradient all-reduce (MPI_Iallreduce)";
        int rc = usable(dm->d, what);
        return rc != VIDA_OK ? rc
                             : started(dm->d, MPI_Iallreduce(MPI_IN_PLACE, b->buf, (int)b->numel,
                                                            MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                                                            &b->req), what);
    }
#endif
    return allreduce_now(dm->d, b->buf, b->numel, "the gradient all-reduce");
}

/* Lets the started all-reduces progress (MPI progresses non-blocking collectives inside calls). */
static void progress(struct vidai_dist_model *dm)
{
#ifdef VIDA_HAVE_MPI
    if (dm->d->backend == VIDA_DIST_CALLBACK || dm->ctx)
        return;
    for (int i = 0; i < dm->n_buckets; i++)
        if (dm->b[i].started && dm->b[i].req != MPI_REQUEST_NULL) {
            int flag = 0;
            MPI_Test(&dm->b[i].req, &flag, MPI_STATUS_IGNORE);
        }
#else
    (void)dm;
#endif
}

int vidai_dist_param_done(vida_model *m, int param)
{
    struct vidai_dist_model *dm = m->dist;
    int k;
    if (param < 0 || !m->params[param].learnable || dm->done[param])
        return VIDA_OK;
    dm->done[param] = 1;
    vidai_grad_dev_wrote(m, param); /* on CUDA its gradient is final on the device now */
    k = dm->bucket_of[param];
    if (++dm->b[k].ready == dm->b[k].n_params && dm->d->world > 1) {
        int rc = start_bucket(m, k);
        if (rc != VIDA_OK)
            return rc;
    }
    progress(dm);
    return VIDA_OK;
}

int vidai_dist_backward_end(vida_model *m)
{
    struct vidai_dist_model *dm = m->dist;
    const float inv = 1.0f / (float)dm->d->world;
    int rc;
    if (dm->d->world == 1)
        return VIDA_OK;
    for (int k = 0; k < dm->n_buckets; k++) { /* tensors backward did not reach: zero gradients */
        if (!dm->b[k].started && (rc = start_bucket(m, k)) != VIDA_OK)
            return rc;
    }
#ifdef VIDA_HAVE_NCCL
    if (dm->nccl && (rc = vidai_nccl_join(dm->nccl, m->ctx->cuda)) != VIDA_OK)
        return rc;
#endif
#ifdef VIDA_HAVE_MPI
    const double t0 = now_s(); /* the deadline counts from here, not from the buckets' starts */
#endif
    for (int k = 0; k < dm->n_buckets; k++) {
        bucket *b = &dm->b[k];
        int64_t off = 0;
#ifdef VIDA_HAVE_NCCL
        if (dm->nccl) { /* averaged back into the device gradients, on the stream */
            for (int j = 0; j < b->n_params; j++) {
                int pi = dm->order[b->first + j];
                if ((rc = vidai_cuda_scale(m->ctx->cuda, m->params[pi].numel, inv, b->buf + off,
                                           m->params[pi].dgrad)) != VIDA_OK)
                    return rc;
                vidai_grad_dev_wrote(m, pi);
                off += m->params[pi].numel;
            }
            continue;
        }
#endif
#ifdef VIDA_HAVE_MPI
        if (dm->d->backend != VIDA_DIST_CALLBACK &&
            (rc = wait_reqs(dm->d, &b->req, 1, t0, "the gradient all-reduce (MPI_Iallreduce)")) !=
                VIDA_OK)
            return vidai_error_prefix(rc, "bucket %d of %d: ", k + 1, dm->n_buckets);
#endif
        for (int j = 0; j < b->n_params; j++) {
            int pi = dm->order[b->first + j];
            float *g = m->params[pi].grad;
            for (int64_t q = 0; q < m->params[pi].numel; q++)
                g[q] = b->buf[off + q] * inv;
            vidai_grad_host_wrote(m, pi);
            off += m->params[pi].numel;
        }
    }
    return VIDA_OK;
}
