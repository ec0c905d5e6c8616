/*
 * The smallest program embedding libvidaction: loads a model file (or, with
 * no argument, creates a small R(2+1)D-10 with fresh weights), runs one
 * forward pass on a synthetic clip (a bright square moving right over 8
 * frames) and prints the top class. Built out of tree, statically:
 *
 *   cc embed.c $(pkg-config --static --cflags --libs vidaction | sed 's/-lvidaction/-l:libvidaction.a/')
 *
 * or against the shared library: cc embed.c $(pkg-config --cflags --libs vidaction)
 */
#include <stdio.h>
#include <stdlib.h>
#include <vidaction.h>

enum { T = 8, S = 32 };

int main(int argc, char **argv)
{
    vida_context *ctx = NULL;
    vida_model *m = NULL;
    vida_model_params p;
    vida_model_params_init(&p);
    p.depth = 10;
    p.width = 0.25f;
    p.num_classes = 5;
    int rc = vida_context_create(&ctx, NULL);
    if (rc == VIDA_OK)
        rc = argc > 1 ? vida_model_load(&m, ctx, argv[1]) : vida_model_create(&m, ctx, &p);
    int classes = vida_model_num_classes(m);
    float *clip = calloc(3 * T * S * S, sizeof(float));
    float *logits = calloc(classes > 0 ? (size_t)classes : 1, sizeof(float));
    if (rc == VIDA_OK && (!clip || !logits))
        rc = VIDA_ENOMEM;
    if (rc == VIDA_OK) {
        for (int c = 0; c < 3; c++)
            for (int t = 0; t < T; t++)
                for (int y = 8; y < 16; y++)
                    for (int x = 2 * t; x < 2 * t + 8; x++)
                        clip[((c * T + t) * S + y) * S + x] = 1.0f;
        vida_tensor in, out;
        vida_tensor_f32(&in, clip, 5, (const int64_t[]){1, 3, T, S, S});
        vida_tensor_f32(&out, logits, 2, (const int64_t[]){1, classes});
        rc = vida_model_forward(m, &in, &out, NULL);
    }
    if (rc == VIDA_OK) {
        int top = 0;
        for (int k = 1; k < classes; k++)
            if (logits[k] > logits[top])
                top = k;
        printf("libvidaction %s on %s: top class %d of %d (logit %.4f)\n", vida_version_string(),
               vida_context_device_name(ctx), top, classes, logits[top]);
    } else {
        fprintf(stderr, "embed: %s: %s\n", vida_strerror(rc), vida_last_error());
    }
    free(clip);
    free(logits);
    vida_model_free(m);
    vida_context_free(ctx);
    return rc == VIDA_OK ? 0 : 1;
}
