/*
 * Bad model files (shared/reference/reliability.md 21-28 as they reach a
 * model): each must fail with a clear code and a message naming the problem,
 * never crash or leak. This binary also runs under ASan + UBSan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vidaction.h>

#include "io/io.h"
#include "test.h"

static vida_context *g_ctx;

static void free_ctx(void)
{
    vida_context_free(g_ctx);
}

static vida_context *ctx(void)
{
    if (!g_ctx) {
        atexit(free_ctx);
        vida_context_params cp;
        vida_context_params_init(&cp);
        cp.n_threads = 1;
        vida_context_create(&g_ctx, &cp);
    }
    return g_ctx;
}

/* A small valid model file; returns its path. */
static const char *valid_model(void)
{
    static char path[512];
    vida_model_params p;
    vida_model *m = NULL;
    if (path[0])
        return path;
    snprintf(path, sizeof path, "%s/valid.safetensors", vt_tmp_dir());
    vida_model_params_init(&p);
    p.depth = 10;
    p.width = 0.125f;
    p.num_classes = 3;
    if (vida_model_create(&m, ctx(), &p) != VIDA_OK || vida_model_save(m, path) != VIDA_OK)
        fprintf(stderr, "cannot make %s: %s\n", path, vida_last_error());
    vida_model_free(m);
    return path;
}


static const char *write_bytes(const char *name, const void *b, size_t n)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", vt_tmp_dir(), name);
    vt_write_file(path, b, n);
    return path;
}

/* Loads path, expects code and a message containing `word`. */
#define EXPECT_LOAD_FAILS(path, code, word)                                                   \
    do {                                                                                      \
        vida_model *m_ = NULL;                                                                \
        int rc_ = vida_model_load(&m_, ctx(), (path));                                        \
        CHECKF(rc_ == (code), "load returned %d (%s), wanted %d", rc_, vida_last_error(), (code)); \
        CHECK(m_ == NULL);                                                                    \
        CHECKF(strstr(vida_last_error(), (word)) != NULL, "message '%s' lacks '%s'",           \
               vida_last_error(), (word));                                                    \
    } while (0)

/* A file with the given header JSON and `data_size` zero bytes of data. */
static const char *with_header(const char *name, const char *json, size_t data_size)
{
    size_t hl = strlen(json), n = 8 + hl + data_size;
    unsigned char *b = calloc(1, n);
    uint64_t h = hl;
    const char *path;
    memcpy(b, &h, 8);
    memcpy(b + 8, json, hl);
    path = write_bytes(name, b, n);
    free(b);
    return path;
}

TEST(modelfile, valid_file_loads)
{
    vida_model *m = NULL;
    CHECK_OK(vida_model_load(&m, ctx(), valid_model()));
    vida_model_free(m);
}

/* A path with accents, CJK, a snowman and spaces: saved, loaded, the same weights; a checkpoint too. */
TEST(modelfile, non_ascii_path)
{
    char path[600], ck[600];
    vida_model *a = NULL, *b = NULL;
    vida_model_params p;
    float *x, *y;
    int64_t n;
    snprintf(path, sizeof path, "%s/mod\xc3\xa8le \xe6\x97\xa5\xe6\x9c\xac \xe2\x98\x83.safetensors",
             vt_tmp_dir());
    snprintf(ck, sizeof ck, "%s/\xc3\xa9tape \xe2\x98\x83.ckpt", vt_tmp_dir());
    vida_model_params_init(&p);
    p.depth = 10;
    p.width = 0.125f;
    p.num_classes = 3;
    CHECK_OK(vida_model_create(&a, ctx(), &p));
    CHECK_OK(vida_model_save(a, path));
    CHECK_OK(vida_model_load(&b, ctx(), path));
    n = 3 * (int64_t)vida_model_feature_dim(a);
    x = malloc((size_t)n * sizeof *x);
    y = malloc((size_t)n * sizeof *y);
    CHECK(x && y);
    CHECK_OK(vida_model_get_tensor(a, "fc.weight", x, n));
    CHECK_OK(vida_model_get_tensor(b, "fc.weight", y, n));
    CHECK(memcmp(x, y, (size_t)n * sizeof *x) == 0);
    free(x);
    free(y);
    CHECK_OK(vida_checkpoint_save(ck, a, NULL, NULL));
    CHECK_OK(vida_checkpoint_load(ck, b, NULL, NULL));
    vida_model_free(a);
    vida_model_free(b);
}

/*
 * vida_model_save removes the temporary file a killed save of the same path left (its writer's
 * process gone: a child that exited), and keeps a live writer's (this process's).
 */
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

TEST(modelfile, save_removes_a_killed_saves_temp_file)
{
    char path[600], dead[700], live[700];
    struct stat st;
    vida_model *m = NULL;
    vida_model_params p;
    pid_t child;
    FILE *f;
    snprintf(path, sizeof path, "%s/stale.safetensors", vt_tmp_dir());
    child = fork();
    CHECK(child >= 0);
    if (child == 0)
        _exit(0);
    CHECK(waitpid(child, NULL, 0) == child); /* its PID now names no process */
    snprintf(dead, sizeof dead, "%s.tmp.%d.Ab12Cd", path, (int)child);
    snprintf(live, sizeof live, "%s.tmp.%d.Ef34Gh", path, (int)getpid());
    CHECK((f = fopen(dead, "wb")) != NULL && fputs("half a model", f) >= 0 && fclose(f) == 0);
    CHECK((f = fopen(live, "wb")) != NULL && fputs("being written", f) >= 0 && fclose(f) == 0);
    vida_model_params_init(&p);
    p.depth = 10;
    p.width = 0.125f;
    p.num_classes = 3;
    CHECK_OK(vida_model_create(&m, ctx(), &p));
    CHECK_OK(vida_model_save(m, path));
    CHECKF(stat(dead, &st) != 0, "%s was left", dead);
    CHECKF(stat(live, &st) == 0, "%s (this process's) was removed", live);
    remove(live);
    vida_model_free(m);
}

TEST(modelfile, missing_and_empty_files)
{
    char path[512];
    snprintf(path, sizeof path, "%s/does-not-exist.safetensors", vt_tmp_dir());
    EXPECT_LOAD_FAILS(path, VIDA_EIO, "does-not-exist");
    EXPECT_LOAD_FAILS(write_bytes("empty.safetensors", "", 0), VIDA_EFORMAT, "empty.safetensors");
    EXPECT_LOAD_FAILS(write_bytes("one.safetensors", "x", 1), VIDA_EFORMAT, "one.safetensors");
    EXPECT_LOAD_FAILS(write_bytes("text.safetensors", "hello, this is not a model\n", 27),
                      VIDA_EFORMAT, "text.safetensors");
}

TEST(modelfile, truncated_at_every_sixteenth)
{
    size_t n, k;
    unsigned char *b = (unsigned char *)vt_read_file(valid_model(), &n);
    CHECK(b != NULL);
    for (k = 0; k < 16; k++) {
        const char *path = write_bytes("trunc.safetensors", b, n * k / 16);
        vida_model *m = NULL;
        int rc = vida_model_load(&m, ctx(), path);
        CHECKF(rc == VIDA_EFORMAT, "truncated to %zu/%zu: rc %d (%s)", n * k / 16, n, rc,
               vida_last_error());
        CHECK(strstr(vida_last_error(), "trunc.safetensors") != NULL);
    }
    free(b);
}

TEST(modelfile, header_length_past_the_end)
{
    size_t n;
    unsigned char *b = (unsigned char *)vt_read_file(valid_model(), &n);
    uint64_t h = (uint64_t)n; /* header claims the whole file */
    memcpy(b, &h, 8);
    EXPECT_LOAD_FAILS(write_bytes("hlen.safetensors", b, n), VIDA_EFORMAT, "header");
    h = UINT64_MAX;
    memcpy(b, &h, 8);
    EXPECT_LOAD_FAILS(write_bytes("hmax.safetensors", b, n), VIDA_EFORMAT, "header");
    free(b);
}

TEST(modelfile, overlapping_and_out_of_range_offsets)
{
    EXPECT_LOAD_FAILS(with_header("overlap.safetensors",
                                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                                  12),
                      VIDA_EFORMAT, "offset");
    EXPECT_LOAD_FAILS(with_header("range.safetensors",
                                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                                  8),
                      VIDA_EFORMAT, "b");
    EXPECT_LOAD_FAILS(with_header("size.safetensors",
                                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}",
                                  8),
                      VIDA_EFORMAT, "a");
    EXPECT_LOAD_FAILS(with_header("overflow.safetensors",
                                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
                                  "\"data_offsets\":[0,0]}}",
                                  0),
                      VIDA_EFORMAT, "a");
}

/* Rewrites the valid model through the writer with one change made by `edit`. */
typedef int (*edit_fn)(const vidai_st_tensor *t, int *dtype, int *ndim, int64_t *shape,
                       const void **data, void *scratch);

static const char *rewrite(const char *name, edit_fn edit, const char *extra_meta_key,
                           const char *extra_meta_value)
{
    static char path[512];
    vidai_st_file *f = NULL;
    vidai_st_writer *w = NULL;
    void *scratch[4096];
    int i, ns = 0;
    snprintf(path, sizeof path, "%s/%s", vt_tmp_dir(), name);
    if (vidai_st_read(&f, valid_model()) != VIDA_OK || vidai_st_writer_create(&w) != VIDA_OK)
        return NULL;
    for (i = 0; i < f->n_meta; i++) {
        const char *v = f->meta_values[i];
        if (extra_meta_key && strcmp(f->meta_keys[i], extra_meta_key) == 0)
            continue;
        vidai_st_writer_meta(w, f->meta_keys[i], v);
    }
    if (extra_meta_key && extra_meta_value)
        vidai_st_writer_meta(w, extra_meta_key, extra_meta_value);
    for (i = 0; i < f->n_tensors; i++) {
        const vidai_st_tensor *t = &f->tensors[i];
        int dtype = t->dtype, ndim = t->ndim;
        int64_t shape[8];
        const void *data = t->data;
        memcpy(shape, t->shape, sizeof shape);
        scratch[ns] = calloc(1, t->size * 2 + 64);
        if (edit && !edit(t, &dtype, &ndim, shape, &data, scratch[ns])) {
            free(scratch[ns]);
            continue;
        }
        ns++;
        vidai_st_writer_add(w, t->name, dtype, ndim, shape, data);
    }
    if (edit == NULL && !extra_meta_key) {
        int64_t one = 1;
        vidai_st_writer_add(w, "extra.weight", VIDAI_ST_F32, 1, &one, scratch[0]);
    }
    if (vidai_st_writer_write(w, path) != VIDA_OK)
        fprintf(stderr, "rewrite: %s\n", vida_last_error());
    vidai_st_writer_free(w);
    for (i = 0; i < ns; i++)
        free(scratch[i]);
    vidai_st_free(f);
    return path;
}

static int drop_fc_weight(const vidai_st_tensor *t, int *dtype, int *ndim, int64_t *shape,
                          const void **data, void *scratch)
{
    return strcmp(t->name, "fc.weight") != 0;
}

static int fc_wrong_shape(const vidai_st_tensor *t, int *dtype, int *ndim, int64_t *shape,
                          const void **data, void *scratch)
{
    if (strcmp(t->name, "fc.weight") == 0) {
        shape[0] = 1;
        shape[1] = t->shape[0] * t->shape[1];
    }
    return 1;
}

static int fc_f16(const vidai_st_tensor *t, int *dtype, int *ndim, int64_t *shape,
                  const void **data, void *scratch)
{
    if (strcmp(t->name, "fc.weight") == 0)
        *dtype = VIDAI_ST_F16;
    return 1;
}

static int fc_nan(const vidai_st_tensor *t, int *dtype, int *ndim, int64_t *shape,
                  const void **data, void *scratch)
{
    if (strcmp(t->name, "fc.bias") == 0) {
        float nan = NAN;
        memcpy(scratch, t->data, t->size);
        memcpy((char *)scratch + 4, &nan, 4);
        *data = scratch;
    }
    return 1;
}

TEST(modelfile, tensor_missing)
{
    EXPECT_LOAD_FAILS(rewrite("missing.safetensors", drop_fc_weight, NULL, NULL), VIDA_EMISMATCH,
                      "'fc.weight' is missing");
}

TEST(modelfile, tensor_unexpected)
{
    EXPECT_LOAD_FAILS(rewrite("unexpected.safetensors", NULL, NULL, NULL), VIDA_EMISMATCH,
                      "'extra.weight'");
}

TEST(modelfile, shape_disagrees_with_architecture)
{
    EXPECT_LOAD_FAILS(rewrite("shape.safetensors", fc_wrong_shape, NULL, NULL), VIDA_EMISMATCH,
                      "'fc.weight' has shape");
    /* metadata says 4 classes, the tensors have 3 */
    EXPECT_LOAD_FAILS(rewrite("classes.safetensors", NULL, "num_classes", "4"), VIDA_EMISMATCH,
                      "fc.weight");
}

TEST(modelfile, wrong_dtype)
{
    /* F16 with F32's byte count is a container error (size), so it fails either way */
    vida_model *m = NULL;
    int rc = vida_model_load(&m, ctx(), rewrite("dtype.safetensors", fc_f16, NULL, NULL));
    CHECK(rc == VIDA_EFORMAT);
    CHECK(strstr(vida_last_error(), "fc.weight") != NULL);
}

TEST(modelfile, non_finite_weight)
{
    EXPECT_LOAD_FAILS(rewrite("nan.safetensors", fc_nan, NULL, NULL), VIDA_ENONFINITE,
                      "'fc.bias' holds NaN");
}

TEST(modelfile, bad_metadata)
{
    EXPECT_LOAD_FAILS(rewrite("arch.safetensors", NULL, "arch", "transformer"),
                      VIDA_EUNSUPPORTED, "transformer");
    EXPECT_LOAD_FAILS(rewrite("depth.safetensors", NULL, "depth", "ten"), VIDA_EFORMAT, "depth");
    EXPECT_LOAD_FAILS(rewrite("depth2.safetensors", NULL, "depth", "19"), VIDA_EUNSUPPORTED, "19");
    EXPECT_LOAD_FAILS(rewrite("format.safetensors", NULL, "format", NULL), VIDA_EFORMAT,
                      "not a libvidaction model file");
    EXPECT_LOAD_FAILS(rewrite("eps.safetensors", NULL, "bn_eps", "-1"), VIDA_EINVAL, "bn_eps");
}


/*
 * The model-file fuzz target (test/fuzz/fuzz_model.c) run without clang: its committed seed
 * corpus, then a real model file and a real checkpoint of the target's own small model, whole,
 * cut at 64 lengths and with 1 byte changed at 256 places of the header (and 64 of the data),
 * each read as a model, a tensor file and a checkpoint. The target aborts on an error without
 * a message, on an inconsistent result and on a failed checkpoint load that changed the model;
 * under ASan this is the fuzzing regression suite for the readers.
 */
#include "../fuzz/fuzz_model.c"

/* file's first n of its cap bytes, through the target in each mode; buf holds cap + 1 */
__attribute__((noinline)) static void feed(const unsigned char *file, size_t n, size_t cap,
                                           unsigned char *buf)
{
    if (n > cap)
        return;
    for (int mode = 0; mode < 3; mode++) {
        buf[0] = (unsigned char)mode;
        for (size_t i = 0; i < n; i++)
            buf[i + 1] = file[i];
        LLVMFuzzerTestOneInput(buf, n + 1);
    }
}

TEST(modelfile, fuzz_corpus_and_mutations)
{
    char mpath[1024], cpath[1024];
    int files = vt_replay_corpus("model", LLVMFuzzerTestOneInput);
    CHECKF(files >= 5, "%d corpus files", files);
    /* the target's model, saved as a model and as a checkpoint (with its optimizer) */
    snprintf(mpath, sizeof mpath, "%s/fuzz-model.safetensors", vt_tmp_dir());
    snprintf(cpath, sizeof cpath, "%s/fuzz-checkpoint.safetensors", vt_tmp_dir());
    CHECK_OK(vida_model_set_meta(ck_model, "labels", "[\"left\",\"right\"]"));
    CHECK_OK(vida_model_save(ck_model, mpath));
    CHECK_OK(vida_checkpoint_save(cpath, ck_model, ck_opt, NULL));
    {
        /* whole, both load (so the mutations start from files the readers accept) */
        vida_model *m = NULL;
        vida_loader_state ls;
        ls.size = sizeof ls;
        CHECK_OK(vida_model_load(&m, fctx, mpath));
        CHECK(vida_model_label(m, 1) && !strcmp(vida_model_label(m, 1), "right"));
        vida_model_free(m);
        CHECK_OK(vida_checkpoint_load(cpath, ck_model, ck_opt, NULL));
    }
    for (int which = 0; which < 2; which++) {
        size_t n, hdr;
        unsigned char *file = (unsigned char *)vt_read_file(which ? cpath : mpath, &n), *buf;
        CHECK(file && n > 64);
        buf = malloc(n + 1);
        CHECK(buf);
        hdr = 8 + (size_t)file[0] + ((size_t)file[1] << 8) + ((size_t)file[2] << 16);
        CHECK(hdr < n);
        feed(file, n, n, buf); /* whole: loads */
        for (int k = 0; k < 64; k++)
            feed(file, (size_t)((double)n * k / 64.0 + k % 7), n, buf);
        for (int k = 0; k < 256 + 64; k++) {
            size_t at = k < 256 ? (size_t)k * 7919 % hdr : hdr + (size_t)k * 104729 % (n - hdr);
            unsigned char was = file[at];
            file[at] = (unsigned char)(was ^ (1u << (k % 8)));
            feed(file, n, n, buf);
            file[at] = was;
        }
        free(buf);
        free(file);
    }
}

/*
 * Allocation failure at every allocation of a model load (vidai_alloc_fail_at, the fault
 * injection of src/core/alloc.c): allocation n fails for n = 1, 2, ... until a load needs fewer
 * than n. Each failed load returns VIDA_ENOMEM with a message and no model; under ASan + LSan
 * (make check) nothing leaks.
 */
#include "core/core.h"

TEST(modelfile, allocation_failure_at_every_allocation_of_a_load)
{
    long n;
    int failures = 0;
    vida_context *c = ctx();
    const char *path = valid_model();
    CHECK(c && path);
    for (n = 1; n < 100000; n++) {
        vida_model *m = NULL;
        int rc;
        vidai_alloc_fail_at(n);
        rc = vida_model_load(&m, c, path);
        vidai_alloc_fail_at(0);
        if (rc == VIDA_OK) {
            CHECK(m != NULL);
            vida_model_free(m);
            break;
        }
        CHECKF(rc == VIDA_ENOMEM && m == NULL && strstr(vida_last_error(), "out of memory"),
               "allocation %ld: rc %d, %s", n, rc, vida_last_error());
        failures++;
    }
    CHECKF(failures >= 20 && n < 100000, "%d failed loads", failures);
    printf("  a model load: allocations 1 to %d each failed cleanly, then it loaded\n", failures);
}
