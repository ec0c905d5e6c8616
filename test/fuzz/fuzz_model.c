/*
 * libFuzzer target: a model file, tensor file or checkpoint from bytes --
 * what the safetensors reader, the model loader and the checkpoint loader do
 * with a hostile or broken file. The input is one mode byte, then the file:
 *
 *   [0] mod 3:  0  vida_model_load, then (when it loads) its names, metadata,
 *                  labels and a forward of a 1-frame 16x16 clip when that is
 *                  cheap enough (fewer than 2 million parameters)
 *               1  vida_tensorfile_read, then every tensor's name and data
 *               2  vida_checkpoint_load into a fixed small model (R(2+1)D-10
 *                  at 1/16 width, 2 classes) with its optimizer
 *
 * Anything but a crash, leak, sanitizer report or timeout is fine; an error
 * must leave a message, and a failed checkpoint load must leave the model's
 * weights as they were (docs/training.md: "nothing lost").
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vidaction.h>

static char fpath[256];
static vida_context *fctx;
static vida_model *ck_model;
static vida_optimizer *ck_opt;
static float *ck_before, *ck_after;
static int64_t ck_n;

static void check_status(int rc)
{
    if (rc != VIDA_OK && vida_last_error()[0] == 0) {
        fprintf(stderr, "status %d without a message\n", rc);
        abort();
    }
}

/* All the model's weights, in tensor order, into buf (NULL: just the count). */
static int64_t all_weights(const vida_model *m, float *buf)
{
    int64_t total = 0;
    for (int k = 0; k < vida_model_n_tensors(m); k++) {
        const char *name;
        int nd, dt;
        int64_t shape[8], n = 1;
        vida_model_tensor_info(m, k, &name, &nd, shape, &dt);
        for (int q = 0; q < nd; q++)
            n *= shape[q];
        if (buf && vida_model_get_tensor(m, name, buf + total, n) != VIDA_OK)
            abort();
        total += n;
    }
    return total;
}

static void setup(void)
{
    vida_context_params cp;
    vida_model_params mp;
    vida_optimizer_params op;
    const char *dir = getenv("TMPDIR");
    snprintf(fpath, sizeof fpath, "%s/vida-fuzz-model-%d.safetensors", dir && *dir ? dir : "/tmp",
             (int)getpid());
    vida_context_params_init(&cp);
    cp.backend = VIDA_BACKEND_CPU;
    cp.n_threads = 1;
    vida_model_params_init(&mp);
    mp.depth = 10;
    mp.width = 0.0625f;
    mp.num_classes = 2;
    vida_optimizer_params_init(&op);
    if (vida_context_create(&fctx, &cp) != VIDA_OK || vida_model_create(&ck_model, fctx, &mp) != VIDA_OK ||
        vida_optimizer_create(&ck_opt, ck_model, &op) != VIDA_OK)
        abort();
    ck_n = all_weights(ck_model, NULL);
    ck_before = malloc((size_t)ck_n * sizeof *ck_before);
    ck_after = malloc((size_t)ck_n * sizeof *ck_after);
    if (!ck_before || !ck_after)
        abort();
}

static void try_model(void)
{
    vida_model *m = NULL;
    int rc = vida_model_load(&m, fctx, fpath);
    check_status(rc);
    if (rc != VIDA_OK)
        return;
    for (int k = 0; k < vida_model_n_tensors(m); k++) {
        const char *name = NULL;
        int nd = 0, dt = 0;
        int64_t shape[8];
        if (vida_model_tensor_info(m, k, &name, &nd, shape, &dt) != VIDA_OK || !name || nd < 0 || nd > 8)
            abort();
    }
    for (int c = 0; c < vida_model_num_classes(m); c++)
        (void)vida_model_label(m, c);
    (void)vida_model_get_meta(m, "labels");
    if (vida_model_num_params(m) < 2000000) {
        vida_sampler_params sp;
        rc = vida_sampler_params_from_model(&sp, m, 1);
        check_status(rc);
        {
            int64_t C = vida_model_num_classes(m), xs[5] = {1, 3, 1, 16, 16}, ys[2] = {1, C};
            float *x = calloc(3 * 16 * 16, sizeof *x), *y = malloc((size_t)C * sizeof *y);
            vida_tensor tx, ty;
            if (x && y && C > 0 && C < 100000) {
                vida_tensor_f32(&tx, x, 5, xs);
                vida_tensor_f32(&ty, y, 2, ys);
                check_status(vida_model_set_mode(m, VIDA_MODE_EVAL));
                check_status(vida_model_forward(m, &tx, &ty, NULL));
            }
            free(x);
            free(y);
        }
    }
    vida_model_free(m);
}

static void try_tensorfile(void)
{
    vida_tensorfile *f = NULL;
    int rc = vida_tensorfile_read(&f, fpath);
    check_status(rc);
    if (rc != VIDA_OK)
        return;
    for (int k = 0; k < vida_tensorfile_count(f); k++) {
        vida_tensor t;
        const char *name = NULL;
        if (vida_tensorfile_name(f, k, &name) != VIDA_OK || !name || vida_tensorfile_get(f, name, &t) != VIDA_OK)
            abort();
        if (vida_tensor_numel(&t) > 0) {
            /* the data is there: touch its first byte */
            volatile const unsigned char *b = t.data;
            (void)b[0];
        }
    }
    vida_tensorfile_free(f);
}

static void try_checkpoint(void)
{
    vida_loader_state ls;
    int rc;
    ls.size = sizeof ls;
    all_weights(ck_model, ck_before);
    rc = vida_checkpoint_load(fpath, ck_model, ck_opt, &ls);
    check_status(rc);
    if (rc != VIDA_OK) {
        all_weights(ck_model, ck_after);
        if (memcmp(ck_before, ck_after, (size_t)ck_n * sizeof *ck_before) != 0) {
            fprintf(stderr, "a failed checkpoint load changed the model\n");
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f;
    if (size < 1)
        return 0;
    if (!fctx)
        setup();
    f = fopen(fpath, "wb");
    if (!f)
        return 0;
    fwrite(data + 1, 1, size - 1, f);
    if (fclose(f) != 0)
        return 0;
    switch (data[0] % 3) {
    case 0: try_model(); break;
    case 1: try_tensorfile(); break;
    default: try_checkpoint(); break;
    }
    unlink(fpath);
    return 0;
}
