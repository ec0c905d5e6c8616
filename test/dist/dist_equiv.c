/*
 * Helper of test/dist/test_dist.sh (issue 11): data-parallel training with
 * vida_dist against one process on the whole batch.
 *
 *   dist_equiv features
 *       exit 0 when the library has MPI compiled in (VIDA_FEATURE_MPI), 3 when not
 *   dist_equiv run OUT frozen|train [GLOBAL_BATCH [STEPS]]      (under mpirun -np W)
 *       R(2+1)D-10 at width 0.25, 5 classes, clips 3x4x32x32, plain SGD (lr 0.05,
 *       momentum 0.9, no weight decay), STEPS (5) steps on a global batch of
 *       GLOBAL_BATCH (4) generated clips of which rank r takes samples
 *       [r*G/W, (r+1)*G/W); the model in VIDA_MODE_TRAIN_FROZEN_BN (frozen) or
 *       VIDA_MODE_TRAIN (train: BN on each rank's own batch statistics).
 *       Writes OUT.init.safetensors (rank 0, after vida_dist_attach) and
 *       OUT.rankR.safetensors (every rank, after training); prints each rank's losses.
 *   dist_equiv compare A B [INIT]
 *       prints "maxrel X TENSOR": the largest over tensors of max|a-b| / max|a|
 *       (weights and BN buffers), "weights_maxrel" the same over the learned tensors
 *       only, and with INIT "update_maxrel Y TENSOR": the largest max|a-b| relative
 *       to the change training made, max|a-init|.
 *
 * Each rank builds its model from its own seed (1 + 1000*rank) and sets its BN
 * running statistics to its own random values, so that only vida_dist_attach's
 * broadcast from rank 0 makes the ranks start alike -- the one-rank run then
 * starts from rank 0's model. The clips and labels are a function of (step,
 * sample index) only, so W ranks of G/W samples see exactly the samples of one
 * rank of G. The gradients are averaged over the ranks and the loss is a mean
 * over each rank's batch, so with frozen BN (no batch statistics) the
 * averaged gradient is the full batch's, up to the order of float sums.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vidaction.h>
#include <vidaction/dist.h>

#define CLASSES 5
#define T 4
#define HW 32

static int die(const char *what, int rank)
{
    fprintf(stderr, "dist_equiv[%d]: %s: %s\n", rank, what, vida_last_error());
    return 1;
}

/* A value in [-1, 1) from (a, b, c): splitmix64 of their combination. */
static float noise(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t z = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull) * 0xBF58476D1CE4E5B9ull ^
                 (c + 1) * 0x94D049BB133111EBull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)((double)(z >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* BN running statistics and batch counts: state, not learned */
static int is_buffer(const char *name)
{
    return ends_with(name, ".running_mean") || ends_with(name, ".running_var") ||
           ends_with(name, ".num_batches_tracked");
}

static int64_t tensor_count(const vida_model *m, int k, const char **name)
{
    int nd, dt;
    int64_t shp[VIDA_MAX_DIMS], n = 1;
    vida_model_tensor_info(m, k, name, &nd, shp, &dt);
    for (int q = 0; q < nd; q++)
        n *= shp[q];
    return n;
}

static int run(int argc, char **argv)
{
    const char *outp = argv[2];
    int frozen = !strcmp(argv[3], "frozen");
    int global = argc > 4 ? atoi(argv[4]) : 4, steps = argc > 5 ? atoi(argv[5]) : 5;
    vida_dist_params dp;
    vida_dist *d = NULL;
    vida_context_params cp;
    vida_context *ctx = NULL;
    vida_model_params mp;
    vida_model *m = NULL;
    vida_optimizer_params op;
    vida_optimizer *o = NULL;
    int rank = 0, world = 1, per, rc = 1;
    char path[4096];
    float *x = NULL, *logits = NULL, *dlogits = NULL;
    int32_t *labels = NULL;

    if (strcmp(argv[3], "frozen") && strcmp(argv[3], "train")) {
        fprintf(stderr, "dist_equiv: mode is frozen or train, not %s\n", argv[3]);
        return 2;
    }
    vida_dist_params_init(&dp);
    dp.backend = VIDA_DIST_MPI;
    if (vida_dist_create(&d, &dp) != VIDA_OK)
        return die("vida_dist_create", 0);
    rank = vida_dist_rank(d);
    world = vida_dist_world(d);
    if (global < 1 || steps < 1 || global % world) {
        fprintf(stderr, "dist_equiv: the global batch %d does not split over %d ranks\n", global,
                world);
        goto done;
    }
    per = global / world;

    vida_context_params_init(&cp);
    cp.backend = VIDA_BACKEND_CPU;
    cp.n_threads = 1;
    cp.seed = 1 + 1000 * (uint64_t)rank; /* differs per rank: attach must make them equal */
    if (vida_context_create(&ctx, &cp) != VIDA_OK) {
        die("vida_context_create", rank);
        goto done;
    }
    vida_model_params_init(&mp);
    mp.arch = VIDA_ARCH_R2PLUS1D;
    mp.depth = 10;
    mp.width = 0.25f;
    mp.num_classes = CLASSES;
    mp.dropout = 0;
    if (vida_model_create(&m, ctx, &mp) != VIDA_OK) {
        die("vida_model_create", rank);
        goto done;
    }
    /* BN running statistics away from 0/1, so that frozen BN is not the identity */
    for (int k = 0; k < vida_model_n_tensors(m); k++) {
        const char *name;
        int64_t n = tensor_count(m, k, &name);
        int var = ends_with(name, ".running_var");
        float *v;
        if (!var && !ends_with(name, ".running_mean"))
            continue;
        v = malloc((size_t)n * sizeof *v);
        if (!v)
            goto done;
        for (int64_t i = 0; i < n; i++) {
            float u = noise(7 + (uint64_t)rank, (uint64_t)k, (uint64_t)i);
            v[i] =
                var ? 0.5f + 0.75f * (u + 1) : 0.2f * u; /* var in [0.5, 2), mean in [-0.2, 0.2) */
        }
        if (vida_model_set_tensor(m, name, v, n) != VIDA_OK) {
            free(v);
            die("vida_model_set_tensor", rank);
            goto done;
        }
        free(v);
    }
    if (vida_dist_attach(d, m) != VIDA_OK) {
        die("vida_dist_attach", rank);
        goto done;
    }
    if (rank == 0) {
        snprintf(path, sizeof path, "%s.init.safetensors", outp);
        if (vida_model_save(m, path) != VIDA_OK) {
            die("vida_model_save", rank);
            goto done;
        }
    }
    if (vida_model_set_mode(m, frozen ? VIDA_MODE_TRAIN_FROZEN_BN : VIDA_MODE_TRAIN) != VIDA_OK) {
        die("vida_model_set_mode", rank);
        goto done;
    }
    vida_optimizer_params_init(&op);
    op.lr = 0.05;
    op.momentum = 0.9;
    op.weight_decay = 0;
    if (vida_optimizer_create(&o, m, &op) != VIDA_OK) {
        die("vida_optimizer_create", rank);
        goto done;
    }

    {
        const int64_t clip = 3 * T * HW * HW;
        int64_t xs[5] = {per, 3, T, HW, HW}, ls[2] = {per, CLASSES};
        vida_tensor tx, tl, td, tt;
        x = malloc((size_t)(per * clip) * sizeof *x);
        logits = malloc((size_t)per * CLASSES * sizeof *logits);
        dlogits = malloc((size_t)per * CLASSES * sizeof *dlogits);
        labels = malloc((size_t)per * sizeof *labels);
        if (!x || !logits || !dlogits || !labels)
            goto done;
        vida_tensor_f32(&tx, x, 5, xs);
        vida_tensor_f32(&tl, logits, 2, ls);
        vida_tensor_f32(&td, dlogits, 2, ls);
        memset(&tt, 0, sizeof tt);
        tt.data = labels;
        tt.dtype = VIDA_DTYPE_I32;
        tt.ndim = 1;
        tt.shape[0] = per;
        for (int s = 0; s < steps; s++) {
            float loss;
            for (int j = 0; j < per; j++) {
                int64_t g = (int64_t)rank * per + j; /* the sample's index in the global batch */
                labels[j] = (int32_t)((g + s) % CLASSES);
                /* noise plus a class-dependent offset per channel, so there is something to learn
                 */
                for (int64_t i = 0; i < clip; i++)
                    x[j * clip + i] = noise((uint64_t)s, (uint64_t)g, (uint64_t)i) +
                                      0.5f * (float)((labels[j] + i / (T * HW * HW)) % 3 - 1);
            }
            if (vida_model_forward(m, &tx, &tl, NULL) != VIDA_OK ||
                vida_loss(VIDA_LOSS_SOFTMAX_CE, &tl, &tt, &loss, &td) != VIDA_OK ||
                vida_model_zero_grad(m) != VIDA_OK ||
                vida_model_backward(m, &td, NULL) != VIDA_OK || vida_optimizer_step(o) != VIDA_OK) {
                die("training step", rank);
                goto done;
            }
            printf("rank %d/%d step %d loss %.6f (mean over its %d samples)\n", rank, world, s + 1,
                   (double)loss, per);
            fflush(stdout);
        }
    }
    snprintf(path, sizeof path, "%s.rank%d.safetensors", outp, rank);
    if (vida_model_save(m, path) != VIDA_OK) {
        die("vida_model_save", rank);
        goto done;
    }
    rc = 0;
done:
    free(x);
    free(logits);
    free(dlogits);
    free(labels);
    vida_optimizer_free(o);
    vida_model_free(m);
    vida_context_free(ctx);
    vida_dist_free(d);
    return rc;
}

static int compare(int argc, char **argv)
{
    vida_context_params cp;
    vida_context *ctx = NULL;
    vida_model *a = NULL, *b = NULL, *i0 = NULL;
    double worst = 0, worst_u = 0, worst_w = 0;
    const char *wname = "", *wuname = "", *wwname = "";
    int rc = 1;
    vida_context_params_init(&cp);
    cp.backend = VIDA_BACKEND_CPU;
    cp.n_threads = 1;
    if (vida_context_create(&ctx, &cp) != VIDA_OK || vida_model_load(&a, ctx, argv[2]) != VIDA_OK ||
        vida_model_load(&b, ctx, argv[3]) != VIDA_OK ||
        (argc > 4 && vida_model_load(&i0, ctx, argv[4]) != VIDA_OK)) {
        die("load", 0);
        goto done;
    }
    for (int k = 0; k < vida_model_n_tensors(a); k++) {
        const char *name;
        int64_t n = tensor_count(a, k, &name);
        float *va = malloc((size_t)n * sizeof *va), *vb = malloc((size_t)n * sizeof *vb);
        float *vi = i0 ? malloc((size_t)n * sizeof *vi) : NULL;
        double dmax = 0, amax = 0, umax = 0;
        if (!va || !vb || (i0 && !vi) || vida_model_get_tensor(a, name, va, n) != VIDA_OK ||
            vida_model_get_tensor(b, name, vb, n) != VIDA_OK ||
            (i0 && vida_model_get_tensor(i0, name, vi, n) != VIDA_OK)) {
            free(va);
            free(vb);
            free(vi);
            die(name, 0);
            goto done;
        }
        for (int64_t i = 0; i < n; i++) {
            double dd = fabs((double)va[i] - vb[i]);
            if (!(dd <= dmax)) /* NaN counts as a difference */
                dmax = dd == dd ? dd : INFINITY;
            if (fabs(va[i]) > amax)
                amax = fabs(va[i]);
            if (vi && fabs((double)va[i] - vi[i]) > umax)
                umax = fabs((double)va[i] - vi[i]);
        }
        if ((amax > 0 ? dmax / amax : dmax) > worst || !(dmax == dmax)) {
            worst = amax > 0 ? dmax / amax : dmax;
            wname = name;
        }
        if (!is_buffer(name) && (amax > 0 ? dmax / amax : dmax) > worst_w) {
            worst_w = amax > 0 ? dmax / amax : dmax;
            wwname = name;
        }
        if (vi && umax > 0 && dmax / umax > worst_u) {
            worst_u = dmax / umax;
            wuname = name;
        }
        free(va);
        free(vb);
        free(vi);
    }
    printf("maxrel %.3g %s\n", worst, *wname ? wname : "-");
    printf("weights_maxrel %.3g %s\n", worst_w, *wwname ? wwname : "-");
    if (i0)
        printf("update_maxrel %.3g %s\n", worst_u, *wuname ? wuname : "-");
    rc = 0;
done:
    vida_model_free(a);
    vida_model_free(b);
    vida_model_free(i0);
    vida_context_free(ctx);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "features"))
        return vida_features() & VIDA_FEATURE_MPI ? 0 : 3;
    if (argc >= 4 && argc <= 6 && !strcmp(argv[1], "run"))
        return run(argc, argv);
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "compare"))
        return compare(argc, argv);
    fprintf(stderr, "usage: dist_equiv features | run OUT frozen|train [GLOBAL_BATCH [STEPS]] |\n"
                    "       compare A B [INIT]\n");
    return 2;
}
