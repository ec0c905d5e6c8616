/*
 * Extracts video features with a model file: the pooled vector before the classifier
 * (vida_model_forward's features output) of K clips spread evenly over each video, cut and
 * normalised as the model's metadata says, and their mean per video. Writes a safetensors file
 * with "clip_features" float32 [videos, K, F] and "video_features" float32 [videos, F], and
 * prints each video's feature size and L2 norm.
 *
 *   usage: features MODEL.safetensors VIDEO... -o OUT.safetensors [--clips K (4)]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vidaction.h>

/* A sampler for m: K uniform clips, centre crop, float32, with the model's clip geometry and
 * normalisation ("clip_frames", "frame_stride", "short_side", "crop", "mean", "std"). */
static int model_sampler(vida_sampler **out, vida_context *ctx, const vida_model *m, int clips)
{
    const char *key[6] = {"clip_frames", "frame_stride", "short_side", "crop", "mean", "std"};
    vida_sampler_params sp;
    vida_sampler_params_init(&sp); /* the defaults are those of a model without metadata */
    int *geom[4] = {&sp.frames, &sp.stride, &sp.short_side_min, &sp.crop};
    float *norm[2] = {sp.mean, sp.std};
    for (int i = 0; i < 6; i++) { /* out of range: vida_sampler_create says which */
        const char *val = vida_model_get_meta(m, key[i]);
        float f[3];
        if (val && (i < 4 ? sscanf(val, "%d", geom[i]) != 1
                          : sscanf(val, "%f,%f,%f", &f[0], &f[1], &f[2]) != 3))
            fprintf(stderr, "features: warning: bad %s metadata %s: the default is used\n", key[i],
                    val);
        else if (val && i >= 4)
            memcpy(norm[i - 4], f, sizeof f);
    }
    sp.short_side_max = sp.short_side_min;
    sp.clip_mode = VIDA_CLIPS_UNIFORM;
    sp.clips = clips;
    sp.output = VIDA_SAMPLE_F32;
    return vida_sampler_create(out, ctx, &sp);
}

/* Runs the clips of one video through m: clip features [K, F] into f. */
static int video_features(vida_model *m, vida_context *ctx, const vida_sampler *s, const char *path,
                          float *f)
{
    vida_video *v = NULL;
    float *x = NULL, *logits = NULL;
    int64_t nv = 0, shape[5];
    int rc = vida_video_open(&v, ctx, path, NULL);
    rc = rc ? rc : vida_sampler_plan(s, v, &nv, shape); /* [K, 3, frames, crop, crop] */
    size_t n = rc ? 0 : (size_t)(nv * shape[1] * shape[2] * shape[3] * shape[4]);
    if (rc == VIDA_OK &&
        (!(x = malloc(n * sizeof *x)) ||
         !(logits = malloc((size_t)(nv * vida_model_num_classes(m)) * sizeof *logits))))
        rc = VIDA_ENOMEM;
    rc = rc ? rc : vida_sampler_sample(s, v, 0, x, n * sizeof *x, NULL, 0);
    if (rc == VIDA_OK) { /* the logits come too: a forward computes them whatever is asked */
        vida_tensor in, out, feat;
        vida_tensor_f32(&in, x, 5, shape);
        vida_tensor_f32(&out, logits, 2, (const int64_t[]){nv, vida_model_num_classes(m)});
        vida_tensor_f32(&feat, f, 2, (const int64_t[]){nv, vida_model_feature_dim(m)});
        rc = vida_model_forward(m, &in, &out, &feat);
    }
    free(x);
    free(logits);
    vida_video_free(v);
    return rc;
}

/* An error about a file: the library's message, with the path in front when it lacks it. */
static void fail(const char *path, int rc)
{
    const char *msg = *vida_last_error() ? vida_last_error() : vida_strerror(rc);
    if (strstr(msg, path))
        fprintf(stderr, "features: error: %s\n", msg);
    else
        fprintf(stderr, "features: error: %s: %s\n", path, msg);
}

static int usage(const char *msg, const char *arg)
{
    fprintf(stderr,
            "features: %s %s\nusage: features MODEL.safetensors VIDEO... -o OUT.safetensors"
            " [--clips K (1..100, default 4)]\n",
            msg, arg);
    return 2;
}

int main(int argc, char **argv)
{
    const char *model_path = NULL, *out = NULL, **videos = calloc((size_t)argc, sizeof *videos);
    int n_videos = 0, K = 4, F = 0, rc = 1;
    vida_context *ctx = NULL;
    vida_model *m = NULL;
    vida_sampler *s = NULL;
    float *clip_f = NULL, *video_f = NULL;
    char *end;
    if (!videos) {
        fprintf(stderr, "features: error: out of memory\n");
        return 1;
    }
    for (int i = 1; i < argc && rc != 2; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-o") || !strcmp(a, "--clips")) {
            if (i + 1 == argc)
                rc = usage("missing value after", a);
            else if (!strcmp(a, "-o"))
                out = argv[++i];
            else if ((K = (int)strtol(argv[++i], &end, 10)) < 1 || K > 100 || *end)
                rc = usage("bad --clips", argv[i]);
        } else if (a[0] == '-') {
            rc = usage("unknown option", a);
        } else if (!model_path) {
            model_path = a;
        } else {
            videos[n_videos++] = a;
        }
    }
    if (rc != 2 && (!out || !n_videos))
        rc = usage("needs", "MODEL, one or more videos and -o OUT.safetensors");
    if (rc == 2) {
        free(videos);
        return 2;
    }
    int r = vida_context_create(&ctx, NULL);
    r = r ? r : vida_model_load(&m, ctx, model_path);
    r = r ? r : vida_model_set_mode(m, VIDA_MODE_EVAL);
    r = r ? r : model_sampler(&s, ctx, m, K);
    if (r != VIDA_OK) {
        fail(model_path, r);
        goto done;
    }
    F = vida_model_feature_dim(m);
    clip_f = malloc((size_t)n_videos * (size_t)K * (size_t)F * sizeof *clip_f);
    video_f = calloc((size_t)n_videos * (size_t)F, sizeof *video_f);
    if (!clip_f || !video_f) {
        fprintf(stderr, "features: error: out of memory\n");
        goto done;
    }
    for (int k = 0; k < n_videos; k++) {
        float *cf = clip_f + (size_t)k * K * F, *vf = video_f + (size_t)k * F;
        double norm = 0;
        if ((r = video_features(m, ctx, s, videos[k], cf)) != VIDA_OK) {
            fail(videos[k], r);
            goto done;
        }
        for (int j = 0; j < F; j++) {
            for (int c = 0; c < K; c++)
                vf[j] += cf[c * F + j] / (float)K;
            norm += (double)vf[j] * vf[j];
        }
        printf("%s: %d clips, %d features, video feature norm %.4f\n", videos[k], K, F, sqrt(norm));
    }
    const char *names[2] = {"clip_features", "video_features"};
    vida_tensor t[2];
    vida_tensor_f32(&t[0], clip_f, 3, (const int64_t[]){n_videos, K, F});
    vida_tensor_f32(&t[1], video_f, 2, (const int64_t[]){n_videos, F});
    if ((r = vida_tensorfile_write(out, 2, names, t)) != VIDA_OK) {
        fail(out, r);
        goto done;
    }
    printf("wrote %s: clip_features [%d,%d,%d], video_features [%d,%d]\n", out, n_videos, K, F,
           n_videos, F);
    rc = 0;
done:
    free(videos);
    free(clip_f);
    free(video_f);
    vida_sampler_free(s);
    vida_model_free(m);
    vida_context_free(ctx);
    return rc;
}
