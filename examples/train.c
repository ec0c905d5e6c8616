/*
 * Trains a small R(2+1)D from scratch with the C API alone: a dataset from a manifest, a clip
 * sampler, a loader of batches, a model, SGD with warm-up and a cosine schedule, vida_train_step
 * until STEPS steps (default 100), a checkpoint every N steps (model, optimizer and loader
 * position: --resume continues from it exactly), then the model file, with the class names and
 * the clip geometry in its metadata for examples/minimal.c. The defaults suit tiny data.
 *
 *   usage: train MANIFEST OUT.safetensors [STEPS] [--resume CHECKPOINT] [--depth 10]
 *          [--width 0.25] [--clip-len 8] [--stride 2] [--short-side 64] [--crop 48]
 *          [--batch 4] [--lr 0.05] [--threads 2] [--seed 0] [--checkpoint-every 10]
 *
 * The checkpoint goes to OUT.checkpoint.safetensors (OUT less its ".safetensors").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vidaction.h>

enum { DEPTH, WIDTH, CLIP_LEN, STRIDE, SHORT_SIDE, CROP, BATCH, LR, THREADS, SEED, EVERY, N_OPT };
static const char *const opt_name[N_OPT] = {
    "--depth", "--width", "--clip-len", "--stride", "--short-side",      "--crop",
    "--batch", "--lr",    "--threads",  "--seed",   "--checkpoint-every"};
static double opt[N_OPT] = {10, 0.25, 8, 2, 64, 48, 4, 0.05, 2, 0, 10};

static int usage(const char *msg, const char *arg)
{
    fprintf(stderr, "train: %s %s\nusage: train MANIFEST OUT.safetensors [STEPS] [--resume FILE]",
            msg, arg);
    for (int k = 0; k < N_OPT; k++)
        fprintf(stderr, " [%s %g]", opt_name[k], opt[k]);
    fprintf(stderr, "\n");
    return 2;
}

static int fail(const char *what)
{
    fprintf(stderr, "train: error: %s: %s\n", what, vida_last_error());
    return 1;
}

/* The class names ("labels", a JSON list) and the clip geometry go with the weights. */
static int set_metadata(vida_model *m, const vida_dataset *ds)
{
    const char *keys[4] = {"clip_frames", "frame_stride", "short_side", "crop"};
    const double values[4] = {opt[CLIP_LEN], opt[STRIDE], opt[SHORT_SIDE], opt[CROP]};
    int64_t C = vida_dataset_n_classes(ds);
    const char **names = malloc((size_t)C * sizeof *names);
    char text[32];
    if (!names)
        return VIDA_ENOMEM;
    for (int64_t c = 0; c < C; c++)
        names[c] = vida_dataset_label_name(ds, c);
    /* a new random classifier on a new model changes nothing; it is what records the names */
    int rc = vida_model_set_head(m, (int)C, names);
    for (int i = 0; rc == VIDA_OK && i < 4; i++) {
        snprintf(text, sizeof text, "%d", (int)values[i]);
        rc = vida_model_set_meta(m, keys[i], text);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    const char *manifest = NULL, *out = NULL, *resume = NULL;
    long steps = 100;
    int have_steps = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        char *end;
        int k = 0;
        if (a[0] != '-') {
            if (!manifest)
                manifest = a;
            else if (!out)
                out = a;
            else if (have_steps++ || (steps = strtol(a, &end, 10)) < 1 || *end)
                return usage("bad or extra argument", a);
            continue;
        }
        if (i + 1 == argc)
            return usage("missing value after", a);
        v = argv[++i];
        while (k < N_OPT && strcmp(a, opt_name[k]) != 0)
            k++;
        double d = strtod(v, &end);
        if (!strcmp(a, "--resume"))
            resume = v;
        else if (k == N_OPT)
            return usage("unknown option", a);
        else if (end == v || *end || !(d >= 0 && d <= 1e6))
            return usage("bad value for", a);
        else
            opt[k] = d;
    }
    if (!out)
        return usage("needs", "MANIFEST and OUT.safetensors");
    char ckpt[4096];
    size_t stem = strlen(out);
    if (stem > 12 && !strcmp(out + stem - 12, ".safetensors"))
        stem -= 12;
    snprintf(ckpt, sizeof ckpt, "%.*s.checkpoint.safetensors", (int)stem, out);

    vida_context *ctx = NULL;
    vida_dataset *ds = NULL;
    vida_model *m = NULL;
    vida_sampler *s = NULL;
    vida_loader *l = NULL;
    vida_optimizer *o = NULL;
    vida_context_params cp;
    vida_dataset_params dp;
    vida_model_params mp;
    vida_sampler_params sp;
    vida_loader_params lp;
    vida_optimizer_params op;
    int rc = 1;
    vida_context_params_init(&cp);
    cp.n_threads = (int)opt[THREADS];
    cp.seed = (uint64_t)opt[SEED]; /* the model's initial weights */
    if (vida_context_create(&ctx, &cp) != VIDA_OK) {
        fail("cannot create the context");
        goto done;
    }
    vida_dataset_params_init(&dp); /* one label per video, each video once per epoch */
    if (vida_dataset_open(&ds, ctx, manifest, &dp) != VIDA_OK) {
        fail("cannot open the dataset");
        goto done;
    }
    for (int64_t i = 0; i < vida_dataset_n_problems(ds); i++) /* bad lines, missing files */
        fprintf(stderr, "train: warning: %s: %s\n", manifest, vida_dataset_problem(ds, i));
    if (vida_dataset_n_classes(ds) < 2) {
        fprintf(stderr, "train: error: %s has %lld class; training needs two or more\n", manifest,
                (long long)vida_dataset_n_classes(ds));
        goto done;
    }
    vida_model_params_init(&mp);
    mp.depth = (int)opt[DEPTH];
    mp.width = (float)opt[WIDTH];
    mp.num_classes = (int)vida_dataset_n_classes(ds);
    if (vida_model_create(&m, ctx, &mp) != VIDA_OK || set_metadata(m, ds) != VIDA_OK) {
        fail("cannot create the model");
        goto done;
    }
    vida_sampler_params_init(&sp); /* one random clip per sample, uint8 (normalised by the step) */
    sp.frames = (int)opt[CLIP_LEN];
    sp.stride = (int)opt[STRIDE];
    sp.short_side_min = sp.short_side_max = (int)opt[SHORT_SIDE];
    sp.crop = (int)opt[CROP];
    sp.crop_mode = VIDA_CROP_RANDOM;
    vida_loader_params_init(&lp);
    lp.batch = (int)opt[BATCH];
    lp.threads = (int)opt[THREADS];
    lp.seed = (uint64_t)opt[SEED]; /* the data order and the clips */
    vida_optimizer_params_init(&op);
    op.lr = opt[LR];
    op.schedule = VIDA_SCHEDULE_COSINE;
    op.warmup_steps = steps / 10;
    op.total_steps = steps;
    if (vida_sampler_create(&s, ctx, &sp) != VIDA_OK ||
        vida_loader_create(&l, ctx, ds, s, &lp) != VIDA_OK ||
        vida_optimizer_create(&o, m, &op) != VIDA_OK) {
        fail("cannot set up training");
        goto done;
    }
    if (resume) {
        vida_loader_state st = {.size = sizeof st};
        if (vida_checkpoint_load(resume, m, o, &st) != VIDA_OK ||
            vida_loader_set_state(l, &st) != VIDA_OK) {
            fail("cannot resume");
            goto done;
        }
        printf("resumed from %s at step %lld\n", resume, (long long)vida_optimizer_step_count(o));
    }
    while (vida_optimizer_step_count(o) < steps) {
        vida_batch b = {.size = sizeof b};
        vida_optimizer_stats os = {.size = sizeof os};
        vida_loader_state st = {.size = sizeof st};
        float loss;
        if (vida_loader_next(l, &b) != VIDA_OK) {
            fail("the loader stopped");
            goto done;
        }
        if (b.n == 0) /* its samples all failed to decode (too many failures stop the loader) */
            continue;
        int r = vida_train_step(m, o, &b, dp.target, &loss);
        if (r == VIDA_ENONFINITE) { /* a NaN or an infinity: the update was skipped */
            fprintf(stderr, "train: warning: %s\n", vida_last_error());
            if (vida_optimizer_get_stats(o, &os) == VIDA_OK && os.consecutive_skips < 5)
                continue;
        }
        if (r != VIDA_OK || vida_optimizer_get_stats(o, &os) != VIDA_OK) {
            fail("training step failed");
            goto done;
        }
        printf("step %lld/%ld epoch %lld loss %.4f lr %.5g\n", (long long)os.steps, steps,
               (long long)b.epoch, (double)loss, os.last_lr);
        fflush(stdout);
        if (opt[EVERY] >= 1 && os.steps % (int64_t)opt[EVERY] == 0 &&
            (vida_loader_get_state(l, &st) != VIDA_OK ||
             vida_checkpoint_save(ckpt, m, o, &st) != VIDA_OK)) {
            fail("cannot write the checkpoint");
            goto done;
        }
    }
    if (vida_model_save(m, out) != VIDA_OK) {
        fail("cannot write the model");
        goto done;
    }
    printf("wrote %s\n", out);
    rc = 0;
done:
    vida_optimizer_free(o);
    vida_loader_free(l);
    vida_sampler_free(s);
    vida_model_free(m);
    vida_dataset_free(ds);
    vida_context_free(ctx);
    return rc;
}
