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
/* Makes the videos and the manifest; returns the manifest's path or NULL. */
static const char *motion_videos(void)
{
    static char manifest[512];
    static int made = 0;
    char text[4096], cmd[1024];
    size_t n = 0;
    if (made)
        return manifest;
    for (int i = 0; i < 2 * PER_CLASS; i++) {
        int right = i % 2, y = 6 + (i * 7) % 40, size = 10 + (i % 3) * 3, speed = 16 + (i % 4) * 3;
        int x0 = right ? 4 : 60 - size - 4, shade = 0x20 + (i % 5) * 0x10;
        snprintf(cmd, sizeof cmd,
                 "ffmpeg -nostdin -v error -y -f lavfi -i \"color=c=0x%02x%02x%02x:s=64x64:r=25:d=2[bg];"
                 "color=c=0xe8e8e8:s=%dx%d:r=25:d=2[fg];[bg][fg]overlay=x='%d%c%d*t':y=%d:shortest=1\" "
                 "-c:v libx264 -preset ultrafast -pix_fmt yuv420p '%s/m%02d.mp4'",
                 shade, shade, shade, size, size, x0, right ? '+' : '-', speed, y, vt_tmp_dir(), i);
        if (system(cmd) != 0) {
            fprintf(stderr, "  could not run: %s\n", cmd);
            return NULL;
        }
        n += (size_t)snprintf(text + n, sizeof text - n, "m%02d.mp4\t%s\n", i, right ? "right" : "left");
    }
    snprintf(manifest, sizeof manifest, "%s/motion.tsv", vt_tmp_dir());
    if (vt_write_file(manifest, text, n) != 0)
        return NULL;
    made = 1;
    return manifest;
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
TEST(train, learns_two_motions_from_scratch)
{
    const char *manifest = motion_videos();
    vida_dataset_params dp;
    vida_dataset *ds = NULL;
    vida_sampler_params sp;
    vida_sampler *s = NULL, *test_s = NULL;
    vida_loader_params lp;
    vida_loader *l = NULL;
    vida_model *m;
    vida_optimizer *o = NULL;
    vida_optimizer_params op;
    vida_eval *e = NULL;
    vida_eval_result r;
    const int steps = 30;
    float first = 0, last = 0;
    CHECK(manifest);
    vida_dataset_params_init(&dp);
    CHECK_OK(vida_dataset_open(&ds, NULL, manifest, &dp));
    CHECK(vida_dataset_n_classes(ds) == 2 && vida_dataset_size(ds) == 2 * PER_CLASS);
    vida_sampler_params_init(&sp);
    sp.frames = 8;
    sp.stride = 2;
    sp.short_side_min = sp.short_side_max = 64;
    sp.crop = 56;
    sp.crop_mode = VIDA_CROP_RANDOM;
    sp.output = VIDA_SAMPLE_F32;
    CHECK_OK(vida_sampler_create(&s, NULL, &sp));
    vida_loader_params_init(&lp);
    lp.batch = 8;
    lp.threads = 2;
    lp.seed = 1;
    CHECK_OK(vida_loader_create(&l, NULL, ds, s, &lp));
    m = make_model(2);
    CHECK(m);
    vida_optimizer_params_init(&op);
    op.lr = 0.05;
    op.schedule = VIDA_SCHEDULE_COSINE;
    op.warmup_steps = 5;
    op.total_steps = steps;
    CHECK_OK(vida_optimizer_create(&o, m, &op));
    for (int k = 0; k < steps; k++) {
        vida_batch b;
        float loss;
        b.size = sizeof b;
        CHECK_OK(vida_loader_next(l, &b));
        CHECK(b.n == 8);
        CHECK_OK(vida_train_step(m, o, &b, VIDA_TARGET_SINGLE, &loss));
        if (k < 5)
            first += loss / 5;
        if (k >= steps - 5)
            last += loss / 5;
    }
    printf("  training loss: first 5 steps %.3f, last 5 %.3f\n", first, last);
    vida_loader_free(l);
    /* multi-clip testing on the training videos: 4 uniform clips, centre crop, eval mode */
    sp.clip_mode = VIDA_CLIPS_UNIFORM;
    sp.clips = 4;
    sp.crop_mode = VIDA_CROP_CENTER;
    CHECK_OK(vida_sampler_create(&test_s, NULL, &sp));
    CHECK_OK(vida_model_set_mode(m, VIDA_MODE_EVAL));
    CHECK_OK(vida_eval_create(&e, 2, VIDA_EVAL_SOFTMAX));
    for (int64_t i = 0; i < vida_dataset_size(ds); i++) {
        vida_dataset_video dv;
        vida_video *v = NULL;
        int64_t shape[5], lshape[2] = {4, 2};
        static float clips[4 * 3 * 8 * 56 * 56];
        float logits[8];
        vida_tensor tx, tl;
        dv.size = sizeof dv;
        CHECK_OK(vida_dataset_get_video(ds, i, &dv));
        CHECK_OK(vida_video_open(&v, NULL, dv.path, NULL));
        CHECK_OK(vida_sampler_plan(test_s, v, NULL, shape));
        CHECK_OK(vida_sampler_sample(test_s, v, 0, clips, sizeof clips, NULL, 0));
        vida_video_free(v);
        vida_tensor_f32(&tx, clips, 5, shape);
        vida_tensor_f32(&tl, logits, 2, lshape);
        CHECK_OK(vida_model_forward(m, &tx, &tl, NULL));
        CHECK_OK(vida_eval_add_video(e, logits, 4, dv.labels, dv.n_labels));
    }
    r.size = sizeof r;
    CHECK_OK(vida_eval_get_result(e, &r));
    printf("  after %d steps: clip@1 %.3f, video@1 %.3f on the %lld training videos\n", steps,
           r.clip_top1, r.video_top1, (long long)r.videos);
    CHECKF(r.clip_top1 >= 0.95, "clip@1 %.3f", r.clip_top1);
    CHECK(last < first);
    vida_eval_free(e);
    vida_optimizer_free(o);
    vida_model_free(m);
    vida_sampler_free(s);
    vida_sampler_free(test_s);
    vida_dataset_free(ds);
}
#endif

/* A NaN in the input makes the loss non-finite: nothing changes, the skip is counted. */
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
    memset(&b, 0, sizeof b);
    b.size = sizeof b;
    b.n = 2;
    b.views = 1;
    b.clips.data = clips;
    b.clips.dtype = VIDA_DTYPE_F32;
    b.clips.layout = VIDA_LAYOUT_NCTHW;
    b.clips.ndim = 5;
    b.clips.shape[0] = 2;
    b.clips.shape[1] = 3;
    b.clips.shape[2] = 4;
    b.clips.shape[3] = b.clips.shape[4] = 32;
    b.targets.data = targets;
    b.targets.dtype = VIDA_DTYPE_F32;
    b.targets.ndim = 2;
    b.targets.shape[0] = 2;
    b.targets.shape[1] = 3;
    b.labels = labels;
    for (size_t i = 0; i < sizeof clips / sizeof clips[0]; i++)
        clips[i] = sinf((float)i);
    CHECK_OK(vida_train_step(m, o, &b, VIDA_TARGET_SINGLE, &loss));
    CHECK(isfinite(loss));
    CHECK_OK(vida_train_step(m, o, &b, VIDA_TARGET_SOFT, &loss));
    CHECK_OK(vida_train_step(m, o, &b, VIDA_TARGET_MULTIHOT, &loss));
    n = m->params[0].numel;
    w0 = malloc((size_t)n * sizeof *w0);
    memcpy(w0, m->params[0].data, (size_t)n * sizeof *w0);
    clips[5] = NAN;
    CHECK(vida_train_step(m, o, &b, VIDA_TARGET_SINGLE, &loss) == VIDA_ENONFINITE);
    CHECK(strstr(vida_last_error(), "skipped"));
    CHECK(memcmp(w0, m->params[0].data, (size_t)n * sizeof *w0) == 0);
    st.size = sizeof st;
    CHECK_OK(vida_optimizer_get_stats(o, &st));
    CHECK(st.steps == 3 && st.skipped == 1 && st.consecutive_skips == 1);
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
