/*
 * Classifies a video: 5 clips spread over it, cut and normalised as the model file's metadata
 * says, run in eval mode; prints the 5 classes of highest mean softmax with their names.
 * usage: minimal MODEL.safetensors VIDEO */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <vidaction.h>

int main(int argc, char **argv)
{
    vida_context *ctx = NULL;
    vida_model *m = NULL;
    vida_sampler *s = NULL; /* picks and cuts the clips */
    vida_video *v = NULL;
    vida_sampler_params sp;
    float *x = NULL, *y = NULL; /* clips, logits */
    double p[1000] = {0};       /* class scores */
    int64_t nv = 0, shape[5];
    int C = 0, rc;
    if (argc != 3)
        return fprintf(stderr, "usage: minimal MODEL.safetensors VIDEO\n"), 2;
    rc = vida_context_create(&ctx, NULL);                       /* the GPU if any, else the CPU */
    rc = rc ? rc : vida_model_load(&m, ctx, argv[1]);
    rc = rc ? rc : vida_sampler_params_from_model(&sp, m, 5);   /* 5 clips, the model's geometry */
    rc = rc ? rc : vida_sampler_create(&s, ctx, &sp);
    rc = rc ? rc : vida_video_open(&v, ctx, argv[2], NULL);
    rc = rc ? rc : vida_sampler_plan(s, v, &nv, shape);         /* [5, 3, frames, crop, crop] */
    size_t n = rc ? 0 : (size_t)(shape[0] * shape[1] * shape[2] * shape[3] * shape[4]);
    C = rc ? 0 : vida_model_num_classes(m);
    if (!rc && (C > 1000 || !(x = malloc(n * sizeof *x)) || !(y = malloc((size_t)(nv * C) * sizeof *y))))
        rc = VIDA_ENOMEM;
    rc = rc ? rc : vida_sampler_sample(s, v, 0, x, n * sizeof *x, NULL, 0);
    rc = rc ? rc : vida_model_set_mode(m, VIDA_MODE_EVAL);
    vida_tensor in, out; /* views of the buffers */
    vida_tensor_f32(&in, x, 5, shape);
    vida_tensor_f32(&out, y, 2, (const int64_t[]){nv, C});
    rc = rc ? rc : vida_model_forward(m, &in, &out, NULL);
    for (int64_t c = 0; rc == VIDA_OK && c < nv; c++) { /* mean softmax over the clips */
        double mx = y[c * C], sum = 0;
        for (int j = 1; j < C; j++)
            mx = fmax(mx, y[c * C + j]);
        for (int j = 0; j < C; j++)
            sum += exp(y[c * C + j] - mx);
        for (int j = 0; j < C; j++)
            p[j] += exp(y[c * C + j] - mx) / sum / (double)nv;
    }
    for (int r = 0; rc == VIDA_OK && r < 5 && r < C; r++) { /* the best 5, taken out one by one */
        int b = 0;
        for (int j = 1; j < C; j++)
            b = p[j] > p[b] ? j : b;
        printf("%.4f  %s\n", p[b], vida_model_label(m, b) ? vida_model_label(m, b) : "(no name)");
        p[b] = -1;
    }
    if (rc != VIDA_OK) /* what failed, naming the file */
        fprintf(stderr, "minimal: %s: %s\n", vida_strerror(rc), vida_last_error());
    free(x), free(y);
    vida_video_free(v), vida_sampler_free(s), vida_model_free(m), vida_context_free(ctx);
    return rc == VIDA_OK ? 0 : 1;
}
