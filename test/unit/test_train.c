/*
 * vida_train_step, and the whole library learning: a manifest of generated
 * videos of two motions (a box moving left, a box moving right) through
 * vida_dataset, vida_sampler and vida_loader into vida_train_step with
 * vida_optimizer, from scratch; then multi-clip testing with vida_eval on the
 * training videos: clip@1 >= 95%. Also: a non-finite loss skips the step.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vidaction.h>

#include "nn/nn.h"
#include "test.h"

#define PER_CLASS 8

#if !defined(__SANITIZE_ADDRESS__) /* the learning test is too slow under ASan */
/*
 * Makes n videos of a box moving left or right (alternating) and their
 * manifest NAME.tsv with classes `left_name`/`right_name`; style 0 is the
 * pre-training look, style 1 another (a bigger, faster, coloured box on a
 * lighter ground), first varies positions. Returns the manifest's path.
 */
static const char *motion_set(const char *name, int n_videos, int style, int first,
                              const char *left_name, const char *right_name)
{
    static char manifests[4][512];
    static int next;
    char *manifest = manifests[next++ & 3];
    char text[4096], cmd[1024];
    size_t n = 0;
    for (int k = 0; k < n_videos; k++) {
        int i = first + k, right = k % 2, y = 6 + (i * 7) % 36;
        int size = style ? 16 + (i % 2) * 2 : 10 + (i % 3) * 3;
        int speed = style ? 22 + (i % 3) * 2 : 16 + (i % 4) * 3;
        int x0 = right ? 2 : 62 - size - 2, shade = style ? 0x60 + (i % 3) * 0x10 : 0x20 + (i % 5) * 0x10;
        snprintf(cmd, sizeof cmd,
                 "ffmpeg -nostdin -v error -y -f lavfi -i \"color=c=0x%02x%02x%02x:s=64x64:r=25:d=2[bg];"
                 "color=c=%s:s=%dx%d:r=25:d=2[fg];[bg][fg]overlay=x='%d%c%d*t':y=%d:shortest=1\" "
                 "-c:v libx264 -preset ultrafast -pix_fmt yuv420p '%s/%s%02d.mp4'",
                 shade, shade, shade, style ? "0xf0c020" : "0xe8e8e8", size, size, x0,
                 right ? '+' : '-', speed, y, vt_tmp_dir(), name, k);
        if (system(cmd) != 0) {
            fprintf(stderr, "  could not run: %s\n", cmd);
            return NULL;
        }
        n += (size_t)snprintf(text + n, sizeof text - n, "%s%02d.mp4\t%s\n", name, k,
                              right ? right_name : left_name);
    }
    snprintf(manifest, 512, "%s/%s.tsv", vt_tmp_dir(), name);
    return vt_write_file(manifest, text, n) == 0 ? manifest : NULL;
}
#endif

static vida_model *make_model(int classes)
{
    vida_context *ctx = NULL;
    vida_context_params cp;
    vida_model_params p;
    vida_model *m = NULL;
    vida_context_params_init(&cp);
    cp.n_threads = 2;
    cp.seed = 3;
    vida_model_params_init(&p);
    p.depth = 10;
    p.width = 0.25f;
    p.num_classes = classes;
    if (vida_context_create(&ctx, &cp) != VIDA_OK || vida_model_create(&m, ctx, &p) != VIDA_OK)
        fprintf(stderr, "  %s\n", vida_last_error());
    vida_context_free(ctx);
    return m;
}

#if !defined(__SANITIZE_ADDRESS__)
/* steps of vida_train_step on the manifest's videos (batch 8, random 56x56 crops); mean losses. */
static int train_on(const char *manifest, vida_model *m, int steps, double lr, float *first,
                    float *last)
{
    vida_dataset_params dp;
    vida_dataset *ds = NULL;
    vida_sampler_params sp;
    vida_sampler *s = NULL;
    vida_loader_params lp;
    vida_loader *l = NULL;
    vida_optimizer_params op;
    vida_optimizer *o = NULL;
    int rc;
    *first = *last = 0;
    vida_dataset_params_init(&dp);
    vida_sampler_params_init(&sp);
    sp.frames = 8;
    sp.stride = 2;
    sp.short_side_min = sp.short_side_max = 64;
    sp.crop = 56;
    sp.crop_mode = VIDA_CROP_RANDOM;
    sp.output = VIDA_SAMPLE_F32;
    vida_loader_params_init(&lp);
    lp.batch = 8;
    lp.threads = 2;
    lp.seed = 1;
    vida_optimizer_params_init(&op);
    op.lr = lr;
    op.schedule = VIDA_SCHEDULE_COSINE;
    op.warmup_steps = steps / 6;
    op.total_steps = steps;
    rc = vida_dataset_open(&ds, NULL, manifest, &dp);
    rc = rc ? rc : vida_sampler_create(&s, NULL, &sp);
    rc = rc ? rc : vida_loader_create(&l, NULL, ds, s, &lp);
    rc = rc ? rc : vida_optimizer_create(&o, m, &op);
    for (int k = 0; rc == VIDA_OK && k < steps; k++) {
        vida_batch b;
        float loss = 0;
        b.size = sizeof b;
        rc = vida_loader_next(l, &b);
        rc = rc ? rc : vida_train_step(m, o, &b, VIDA_TARGET_SINGLE, &loss);
        if (k < 5)
            *first += loss / 5;
        if (k >= steps - 5)
            *last += loss / 5;
    }
    if (rc != VIDA_OK)
        fprintf(stderr, "  training: %s\n", vida_last_error());
    vida_optimizer_free(o);
    vida_loader_free(l);
    vida_sampler_free(s);
    vida_dataset_free(ds);
    return rc;
}

/* Multi-clip testing on the manifest's videos: 4 uniform clips, centre crop, eval mode. */
static int eval_on(const char *manifest, vida_model *m, vida_eval_result *r)
{
    vida_dataset_params dp;
    vida_dataset *ds = NULL;
    vida_sampler_params sp;
    vida_sampler *s = NULL;
    vida_eval *e = NULL;
    static float clips[4 * 3 * 8 * 56 * 56];
    int rc;
    vida_dataset_params_init(&dp);
    vida_sampler_params_init(&sp);
    sp.frames = 8;
    sp.stride = 2;
    sp.short_side_min = sp.short_side_max = 64;
    sp.crop = 56;
    sp.clip_mode = VIDA_CLIPS_UNIFORM;
    sp.clips = 4;
    sp.output = VIDA_SAMPLE_F32;
    rc = vida_dataset_open(&ds, NULL, manifest, &dp);
    rc = rc ? rc : vida_sampler_create(&s, NULL, &sp);
    rc = rc ? rc : vida_model_set_mode(m, VIDA_MODE_EVAL);
    rc = rc ? rc : vida_eval_create(&e, vida_dataset_n_classes(ds), VIDA_EVAL_SOFTMAX);
    for (int64_t i = 0; rc == VIDA_OK && i < vida_dataset_size(ds); i++) {
        vida_dataset_video dv;
        vida_video *v = NULL;
        int64_t shape[5], lshape[2] = {4, vida_dataset_n_classes(ds)};
        float logits[4 * 8];
        vida_tensor tx, tl;
        dv.size = sizeof dv;
        rc = vida_dataset_get_video(ds, i, &dv);
        rc = rc ? rc : vida_video_open(&v, NULL, dv.path, NULL);
        rc = rc ? rc : vida_sampler_plan(s, v, NULL, shape);
        rc = rc ? rc : vida_sampler_sample(s, v, 0, clips, sizeof clips, NULL, 0);
        vida_video_free(v);
        vida_tensor_f32(&tx, clips, 5, shape);
        vida_tensor_f32(&tl, logits, 2, lshape);
        rc = rc ? rc : vida_model_forward(m, &tx, &tl, NULL);
        rc = rc ? rc : vida_eval_add_video(e, logits, 4, dv.labels, dv.n_labels);
    }
    r->size = sizeof *r;
    rc = rc ? rc : vida_eval_get_result(e, r);
    if (rc != VIDA_OK)
        fprintf(stderr, "  eval: %s\n", vida_last_error());
    vida_eval_free(e);
    vida_sampler_free(s);
    vida_dataset_free(ds);
    return rc;
}

/* m's weights into a fresh 2-class model of the same architecture, but a new classifier. */
static vida_model *with_new_head(const vida_model *m)
{
    vida_model *n = make_model(2);
    for (int k = 0; n && k < vida_model_n_tensors(m); k++) {
        const char *name;
        int nd, dt;
        int64_t shp[8], cnt = 1;
        float *tmp;
        vida_model_tensor_info(m, k, &name, &nd, shp, &dt);
        if (!strncmp(name, "fc.", 3))
            continue;
        for (int q = 0; q < nd; q++)
            cnt *= shp[q];
        tmp = malloc((size_t)cnt * sizeof *tmp);
        if (!tmp || vida_model_get_tensor(m, name, tmp, cnt) || vida_model_set_tensor(n, name, tmp, cnt)) {
            free(tmp);
            vida_model_free(n);
            return NULL;
        }
        free(tmp);
    }
    return n;
}

/*
 * From scratch on 16 videos of two motions: >= 95% clip@1 on them after 30
 * steps. Then transfer: a small target set of 4 videos of the same motions
 * in another look (new class names, a new classifier), 8 steps each --
 * fine-tuning the pre-trained model beats training from scratch on 8
 * held-out target videos.
 */
TEST(train, learns_two_motions_and_pretraining_helps)
{
    const char *pre = motion_set("m", 2 * PER_CLASS, 0, 0, "left", "right");
    const char *target = motion_set("t", 4, 1, 100, "west", "east");
    const char *held_out = motion_set("h", 8, 1, 200, "west", "east");
    vida_model *m = make_model(2), *ft, *scratch;
    vida_eval_result r, r_ft, r_scratch;
    float first, last, f2, l2;
    CHECK(pre && target && held_out && m);
    CHECK_OK(train_on(pre, m, 30, 0.05, &first, &last));
    printf("  pre-training loss: first 5 steps %.3f, last 5 %.3f\n", first, last);
    CHECK_OK(eval_on(pre, m, &r));
    printf("  after 30 steps: clip@1 %.3f, video@1 %.3f on the %lld training videos\n",
           r.clip_top1, r.video_top1, (long long)r.videos);
    CHECKF(r.clip_top1 >= 0.95, "clip@1 %.3f", r.clip_top1);
    CHECK(last < first);
    /* transfer */
    ft = with_new_head(m);
    scratch = make_model(2);
    CHECK(ft && scratch);
    CHECK_OK(train_on(target, ft, 8, 0.02, &f2, &l2));
    CHECK_OK(train_on(target, scratch, 8, 0.02, &f2, &l2));
    CHECK_OK(eval_on(held_out, ft, &r_ft));
    CHECK_OK(eval_on(held_out, scratch, &r_scratch));
    printf("  target (4 training videos, 8 steps), on 8 held-out videos: fine-tuned clip@1 %.3f, "
           "from scratch %.3f\n", r_ft.clip_top1, r_scratch.clip_top1);
    CHECKF(r_ft.clip_top1 > r_scratch.clip_top1 + 0.2, "fine-tuned %.3f, scratch %.3f",
           r_ft.clip_top1, r_scratch.clip_top1);
    vida_model_free(ft);
    vida_model_free(scratch);
    vida_model_free(m);
}
#endif

/* A NaN in the input makes the loss non-finite: nothing changes, the skip is counted. */
/* A batch of 2 float32 clips [2, 3, 4, 32, 32] of 3 classes over the caller's buffers. */
static void fixed_batch(vida_batch *b, float *clips, float *targets, const int32_t *labels)
{
    memset(b, 0, sizeof *b);
    b->size = sizeof *b;
    b->n = 2;
    b->views = 1;
    b->clips.data = clips;
    b->clips.dtype = VIDA_DTYPE_F32;
    b->clips.layout = VIDA_LAYOUT_NCTHW;
    b->clips.ndim = 5;
    b->clips.shape[0] = 2;
    b->clips.shape[1] = 3;
    b->clips.shape[2] = 4;
    b->clips.shape[3] = b->clips.shape[4] = 32;
    b->targets.data = targets;
    b->targets.dtype = VIDA_DTYPE_F32;
    b->targets.ndim = 2;
    b->targets.shape[0] = 2;
    b->targets.shape[1] = 3;
    b->labels = labels;
}

TEST(train, non_finite_loss_skips_the_step)
{
    vida_model *m = make_model(3);
    vida_optimizer *o = NULL;
    vida_optimizer_params op;
    vida_optimizer_stats st;
    vida_batch b;
    static float clips[2 * 3 * 4 * 32 * 32];
    float targets[6] = {1, 0, 0, 0, 1, 0}, loss, *w0;
    int32_t labels[2] = {0, 1};
    int64_t n;
    CHECK(m);
    vida_optimizer_params_init(&op);
    CHECK_OK(vida_optimizer_create(&o, m, &op));
    fixed_batch(&b, clips, targets, labels);
    for (size_t i = 0; i < sizeof clips / sizeof clips[0]; i++)
        clips[i] = sinf((float)i);
    CHECK_OK(vida_train_step(m, o, &b, VIDA_TARGET_SINGLE, &loss));
    CHECK(isfinite(loss));
    CHECK_OK(vida_train_step(m, o, &b, VIDA_TARGET_SOFT, &loss));
    CHECK_OK(vida_train_step(m, o, &b, VIDA_TARGET_MULTIHOT, &loss));
    n = m->params[0].numel;
    w0 = malloc((size_t)n * sizeof *w0);
    memcpy(w0, m->params[0].data, (size_t)n * sizeof *w0);
    {
        /* BN running statistics and the forward count are put back too */
        int rm = vidai_model_find_param(m, "stem.1.running_mean");
        int64_t nb = m->params[rm].numel;
        uint64_t fwd = m->step;
        float *r0 = malloc((size_t)nb * sizeof *r0);
        CHECK(rm >= 0 && r0);
        memcpy(r0, m->params[rm].data, (size_t)nb * sizeof *r0);
        clips[5] = NAN;
        CHECK(vida_train_step(m, o, &b, VIDA_TARGET_SINGLE, &loss) == VIDA_ENONFINITE);
        CHECK(strstr(vida_last_error(), "skipped"));
        CHECK(memcmp(r0, m->params[rm].data, (size_t)nb * sizeof *r0) == 0);
        CHECK(m->step == fwd);
        free(r0);
    }
    CHECK(memcmp(w0, m->params[0].data, (size_t)n * sizeof *w0) == 0);
    st.size = sizeof st;
    CHECK_OK(vida_optimizer_get_stats(o, &st));
    CHECK(st.steps == 3 && st.skipped == 1 && st.consecutive_skips == 1);
    {
        /* huge inputs: the loss stays finite (BN normalises) but a running variance overflows
           float: skipped as well, the statistics and weights put back, then a normal step runs */
        int rv = vidai_model_find_param(m, "stem.1.running_var");
        int64_t nb = m->params[rv].numel;
        float *r0 = malloc((size_t)nb * sizeof *r0);
        CHECK(rv >= 0 && r0);
        memcpy(r0, m->params[rv].data, (size_t)nb * sizeof *r0);
        for (size_t i = 0; i < sizeof clips / sizeof clips[0]; i++)
            clips[i] = 1e25f * sinf((float)i);
        CHECK(vida_train_step(m, o, &b, VIDA_TARGET_SINGLE, &loss) == VIDA_ENONFINITE);
        CHECKF(strstr(vida_last_error(), "skipped") && strstr(vida_last_error(), "running_var"),
               "%s (loss %g)", vida_last_error(), (double)loss);
        CHECK(memcmp(r0, m->params[rv].data, (size_t)nb * sizeof *r0) == 0);
        CHECK(memcmp(w0, m->params[0].data, (size_t)n * sizeof *w0) == 0);
        CHECK_OK(vida_optimizer_get_stats(o, &st));
        CHECK(st.steps == 3 && st.skipped == 2 && st.consecutive_skips == 2);
        for (size_t i = 0; i < sizeof clips / sizeof clips[0]; i++)
            clips[i] = sinf((float)i);
        CHECK_OK(vida_train_step(m, o, &b, VIDA_TARGET_SINGLE, &loss));
        CHECK_OK(vida_optimizer_get_stats(o, &st));
        CHECK(st.steps == 4 && st.consecutive_skips == 0);
        free(r0);
    }
    /* a batch of the wrong width, an empty batch */
    b.targets.shape[1] = 4;
    CHECK(vida_train_step(m, o, &b, VIDA_TARGET_SINGLE, &loss) == VIDA_EINVAL);
    b.n = 0;
    CHECK_OK(vida_train_step(m, o, &b, VIDA_TARGET_SINGLE, &loss));
    CHECK(isnan(loss));
    free(w0);
    vida_optimizer_free(o);
    vida_model_free(m);
}

/*
 * fc-only transfer: a frozen random R(2+1)D-10's features of 48 random clips,
 * labelled by which side of a random hyperplane (through the median) they
 * fall on, keeping the 32 farthest from it: a linearly separable task. Only
 * the classifier learns (>= 31 of 32 right); the trunk and the BN running
 * statistics stay bit for bit as they were.
 */
TEST(train, fc_only_learns_a_linearly_separable_task)
{
    enum { N = 48, KEEP = 32, T = 4, S = 32 };
    vida_model *m = make_model(2);
    vida_optimizer *o = NULL;
    vida_optimizer_params op;
    vida_batch b;
    static float all[N * 3 * T * S * S], clips[KEEP * 3 * T * S * S];
    float feats[N * 512], logits[N * 2], proj[N], sorted[N], targets[KEEP * 2], median, loss;
    float **before;
    int32_t labels[KEEP];
    int order[N], F, right = 0;
    int64_t xs[5] = {N, 3, T, S, S}, fs[2], ls[2] = {N, 2};
    vida_tensor tx, tf, tl;
    CHECK(m);
    F = vida_model_feature_dim(m);
    CHECK(F <= 512);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        all[i] = sinf((float)i * 0.7311f) * cosf((float)(i % 977) * 0.13f);
    fs[0] = N;
    fs[1] = F;
    vida_tensor_f32(&tx, all, 5, xs);
    vida_tensor_f32(&tf, feats, 2, fs);
    vida_tensor_f32(&tl, logits, 2, ls);
    CHECK_OK(vida_model_set_mode(m, VIDA_MODE_EVAL));
    CHECK_OK(vida_model_forward(m, &tx, &tl, &tf));
    for (int i = 0; i < N; i++) {
        proj[i] = 0;
        for (int f = 0; f < F; f++)
            proj[i] += feats[i * F + f] * sinf((float)f * 1.37f + 0.5f);
        sorted[i] = proj[i];
        order[i] = i;
    }
    for (int i = 0; i < N; i++) /* insertion sort, for the median */
        for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            float t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    median = 0.5f * (sorted[N / 2 - 1] + sorted[N / 2]);
    for (int i = 0; i < N; i++) /* by distance from the median, farthest first */
        for (int j = i; j > 0 && fabsf(proj[order[j - 1]] - median) < fabsf(proj[order[j]] - median); j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (int k = 0; k < KEEP; k++) {
        int i = order[k];
        size_t clip = (size_t)3 * T * S * S;
        memcpy(clips + (size_t)k * clip, all + (size_t)i * clip, clip * sizeof(float));
        labels[k] = proj[i] > median;
        targets[k * 2] = labels[k] == 0;
        targets[k * 2 + 1] = labels[k] == 1;
    }
    before = malloc((size_t)m->n_params * sizeof *before);
    for (int i = 0; i < m->n_params; i++) {
        before[i] = malloc((size_t)m->params[i].numel * sizeof(float) + 8);
        if (m->params[i].kind == VIDAI_PARAM_COUNT)
            memcpy(before[i], &m->params[i].count, 8);
        else
            memcpy(before[i], m->params[i].data, (size_t)m->params[i].numel * sizeof(float));
    }
    vida_optimizer_params_init(&op);
    op.lr = 20; /* the random trunk's features are small (rms printed below) */
    op.weight_decay = 0;
    CHECK_OK(vida_optimizer_create(&o, m, &op));
    memset(&b, 0, sizeof b);
    b.size = sizeof b;
    b.n = KEEP;
    b.views = 1;
    b.clips.data = clips;
    b.clips.dtype = VIDA_DTYPE_F32;
    b.clips.layout = VIDA_LAYOUT_NCTHW;
    b.clips.ndim = 5;
    b.clips.shape[0] = KEEP;
    b.clips.shape[1] = 3;
    b.clips.shape[2] = T;
    b.clips.shape[3] = b.clips.shape[4] = S;
    b.targets.data = targets;
    b.targets.dtype = VIDA_DTYPE_F32;
    b.targets.ndim = 2;
    b.targets.shape[0] = KEEP;
    b.targets.shape[1] = 2;
    b.labels = labels;
    /* the optimizer must freeze the trunk first */
    CHECK(vida_train_step_fc(m, o, &b, VIDA_TARGET_SINGLE, &loss) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "freeze"));
    CHECK_OK(vida_optimizer_set_group(o, "", 0, 1));
    CHECK_OK(vida_optimizer_set_group(o, "fc.", 1, 1));
#if defined(__SANITIZE_ADDRESS__)
    const int steps = 3; /* under ASan: the code paths, not the learning */
#else
    const int steps = 100;
#endif
    for (int k = 0; k < steps; k++)
        CHECK_OK(vida_train_step_fc(m, o, &b, VIDA_TARGET_SINGLE, &loss));
    /* the trunk and BN statistics did not move; fc did */
    for (int i = 0; i < m->n_params; i++) {
        const vidai_param *q = &m->params[i];
        int same = q->kind == VIDAI_PARAM_COUNT ? memcmp(before[i], &q->count, 8) == 0
                                                : memcmp(before[i], q->data, (size_t)q->numel * 4) == 0;
        if (!strncmp(q->name, "fc.", 3))
            CHECKF(!same, "%s did not learn", q->name);
        else
            CHECKF(same, "%s moved", q->name);
    }
    {
        int64_t ks[5] = {KEEP, 3, T, S, S}, kl[2] = {KEEP, 2};
        vida_tensor_f32(&tx, clips, 5, ks);
        vida_tensor_f32(&tl, logits, 2, kl);
        CHECK_OK(vida_model_set_mode(m, VIDA_MODE_EVAL));
        CHECK_OK(vida_model_forward(m, &tx, &tl, NULL));
        for (int k = 0; k < KEEP; k++)
            right += (logits[k * 2 + 1] > logits[k * 2]) == (labels[k] == 1);
    }
    {
        double rms = 0;
        for (int i = 0; i < N * F; i++)
            rms += (double)feats[i] * feats[i];
        printf("  fc-only: %d of %d right after %d steps (loss %.4f; feature rms %.3g)\n", right,
               KEEP, steps, loss, sqrt(rms / (N * F)));
    }
    CHECK(steps < 100 || right >= KEEP - 1);
    for (int i = 0; i < m->n_params; i++)
        free(before[i]);
    free(before);
    vida_optimizer_free(o);
    vida_model_free(m);
}

/*
 * Allocation failure at every allocation of a training step (vidai_alloc_fail_at): allocation
 * n of a fresh model's first step fails, for n = 1, 2, ... until the step needs fewer. Each
 * failed step returns VIDA_ENOMEM with a message and leaves the weights as they were; the
 * model then trains normally. Under ASan + LSan (make check) nothing leaks.
 */
#include "core/core.h"

TEST(train, allocation_failure_at_every_allocation_of_a_step)
{
    vida_model *m = make_model(3);
    vida_optimizer *o = NULL;
    vida_optimizer_params op;
    vida_batch b;
    static float clips[2 * 3 * 4 * 32 * 32];
    int32_t labels[2] = {0, 2};
    float targets[6] = {1, 0, 0, 0, 0, 1}, loss, *w0;
    long n;
    int failures = 0;
    int64_t numel;
    CHECK(m);
    vida_optimizer_params_init(&op);
    CHECK_OK(vida_optimizer_create(&o, m, &op));
    fixed_batch(&b, clips, targets, labels);
    for (size_t i = 0; i < sizeof clips / sizeof clips[0]; i++)
        clips[i] = cosf((float)i * 0.37f);
    numel = m->params[0].numel;
    w0 = malloc((size_t)numel * sizeof *w0);
    CHECK(w0);
    memcpy(w0, m->params[0].data, (size_t)numel * sizeof *w0);
    for (n = 1; n < 100000; n++) {
        int rc;
        vidai_alloc_fail_at(n);
        rc = vida_train_step(m, o, &b, VIDA_TARGET_SINGLE, &loss);
        vidai_alloc_fail_at(0);
        if (rc == VIDA_OK)
            break;
        CHECKF(rc == VIDA_ENOMEM && strstr(vida_last_error(), "out of memory"), "allocation %ld: rc %d, %s",
               n, rc, vida_last_error());
        CHECKF(memcmp(w0, m->params[0].data, (size_t)numel * sizeof *w0) == 0,
               "allocation %ld: a failed step changed %s", n, m->params[0].name);
        failures++;
    }
    CHECKF(failures >= 5 && n < 100000, "%d failed steps", failures);
    printf("  a first training step: allocations 1 to %d each failed cleanly, then it trained\n", failures);
    CHECK(isfinite(loss));
    CHECK(memcmp(w0, m->params[0].data, (size_t)numel * sizeof *w0) != 0); /* it did learn */
    CHECK_OK(vida_train_step(m, o, &b, VIDA_TARGET_SINGLE, &loss));
    free(w0);
    vida_optimizer_free(o);
    vida_model_free(m);
}
