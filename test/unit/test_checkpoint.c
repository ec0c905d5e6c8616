/*
 * Checkpoints: a model + optimizer + loader state saved and restored
 * continue exactly as the uninterrupted run; bad or mismatched files are
 * refused without touching anything; the file loads as a model too; and a
 * process killed (SIGKILL) at random moments while writing checkpoints over
 * and over, or at each chosen point of a write (vidai_io_stop_at), never
 * leaves a file that fails to load. The next save removes the temporary files
 * of killed writers, never a live writer's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vidaction.h>

#include "io/io.h"
#include "nn/nn.h"
#include "test.h"

/* How many files of dir have ".tmp." in their name: temporary files of the atomic writer. */
static int temp_files_in(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

/*
 * How many files of dir are "base.tmp.<pid>.XXXXXX", the temporary files of process pid's
 * writes to base (pid 0: of any process, and of the older form "base.tmp.XXXXXX" too); the
 * path of the last one in name, when name is not NULL.
 */
static int temp_files_of(const char *dir, const char *base, long pid, char *name, size_t size)
{
    char prefix[300];
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    if (pid)
        snprintf(prefix, sizeof prefix, "%s.tmp.%ld.", base, pid);
    else
        snprintf(prefix, sizeof prefix, "%s.tmp.", base);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 &&
            (!pid || strlen(e->d_name) == strlen(prefix) + 6)) {
            if (name)
                snprintf(name, size, "%s/%s", dir, e->d_name);
            n++;
        }
    closedir(d);
    return n;
}

static vida_model *small_model(int depth)
{
    vida_model_params p;
    vida_model *m = NULL;
    vida_context *ctx = NULL;
    vida_context_params cp;
    vida_context_params_init(&cp);
    cp.n_threads = 1;
    vida_model_params_init(&p);
    p.depth = depth;
    p.width = 0.125f;
    p.num_classes = 5;
    p.dropout = 0.2f; /* the dropout mask depends on the model's forward count */
    if (vida_context_create(&ctx, &cp) != VIDA_OK || vida_model_create(&m, ctx, &p) != VIDA_OK)
        fprintf(stderr, "  %s\n", vida_last_error());
    vida_context_free(ctx);
    return m;
}

/* One training step on a fixed clip with label y: forward, loss, backward, update. */
static int train_step(vida_model *m, vida_optimizer *o, int y)
{
    static float x[2 * 3 * 4 * 32 * 32];
    float logits[10], dlogits[10], loss;
    int32_t labels[2] = {y % 5, (y + 1) % 5};
    int64_t xs[5] = {2, 3, 4, 32, 32}, ls[2] = {2, 5};
    vida_tensor tx, tl, td, tt;
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        x[i] = sinf((float)i * 0.37f + (float)y);
    vida_tensor_f32(&tx, x, 5, xs);
    vida_tensor_f32(&tl, logits, 2, ls);
    vida_tensor_f32(&td, dlogits, 2, ls);
    memset(&tt, 0, sizeof tt);
    tt.data = labels;
    tt.dtype = VIDA_DTYPE_I32;
    tt.ndim = 1;
    tt.shape[0] = 2;
    if (vida_model_set_mode(m, VIDA_MODE_TRAIN) || vida_model_forward(m, &tx, &tl, NULL) ||
        vida_loss(VIDA_LOSS_SOFTMAX_CE, &tl, &tt, &loss, &td) || vida_model_zero_grad(m) ||
        vida_model_backward(m, &td, NULL) || vida_optimizer_step(o)) {
        fprintf(stderr, "  train step: %s\n", vida_last_error());
        return -1;
    }
    return 0;
}

/*
 * Two training steps of m from its state now (train_step with labels 0, then 1): the name and
 * element count of its first tensor, its values after each step, and a third buffer of that
 * size for reading back, all malloc'd. 0 when done, -1 (message printed) if a call failed.
 */
static int first_tensor_two_steps(vida_model *m, vida_optimizer *o, const char **name, int64_t *n,
                                  float **old_w, float **new_w, float **got)
{
    int64_t shape[8];
    int nd, dt;
    *old_w = *new_w = *got = NULL;
    if (vida_model_tensor_info(m, 0, name, &nd, shape, &dt) != VIDA_OK)
        goto fail;
    *n = 1;
    for (int q = 0; q < nd; q++)
        *n *= shape[q];
    *old_w = malloc((size_t)*n * sizeof **old_w);
    *new_w = malloc((size_t)*n * sizeof **new_w);
    *got = malloc((size_t)*n * sizeof **got);
    if (!*old_w || !*new_w || !*got || train_step(m, o, 0) != 0 ||
        vida_model_get_tensor(m, *name, *old_w, *n) != VIDA_OK || train_step(m, o, 1) != 0 ||
        vida_model_get_tensor(m, *name, *new_w, *n) != VIDA_OK)
        goto fail;
    return 0;
fail:
    fprintf(stderr, "  two training steps: %s\n", vida_last_error());
    return -1;
}

static int same_weights(const vida_model *a, const vida_model *b)
{
    for (int i = 0; i < a->n_params; i++) {
        const vidai_param *p = &a->params[i], *q = &b->params[i];
        if (p->kind == VIDAI_PARAM_COUNT ? p->count != q->count
                                         : memcmp(p->data, q->data, (size_t)p->numel * 4) != 0) {
            fprintf(stderr, "  %s differs\n", p->name);
            return 0;
        }
    }
    return 1;
}

TEST(checkpoint, resume_continues_exactly)
{
    char path[512];
    vida_model *a = small_model(10), *b = small_model(10);
    vida_optimizer *oa = NULL, *ob = NULL;
    vida_optimizer_params op;
    vida_loader_state ls, ls2;
    CHECK(a && b);
    vida_optimizer_params_init(&op);
    op.schedule = VIDA_SCHEDULE_COSINE;
    op.total_steps = 8;
    op.warmup_steps = 2;
    CHECK_OK(vida_optimizer_create(&oa, a, &op));
    CHECK_OK(vida_optimizer_create(&ob, b, &op));
    for (int s = 0; s < 3; s++)
        CHECK(train_step(a, oa, s) == 0);
    memset(&ls, 0, sizeof ls);
    ls.size = sizeof ls;
    ls.seed = 77;
    ls.epoch = 2;
    ls.number = 5;
    ls.samples = 123;
    ls.failures = 4;
    ls.batch = 8;
    ls.world = 1;
    ls.dataset_id = 0xfedcba9876543210ull;
    snprintf(path, sizeof path, "%s/ck.safetensors", vt_tmp_dir());
    CHECK_OK(vida_checkpoint_save(path, a, oa, &ls));
    memset(&ls2, 0, sizeof ls2);
    ls2.size = sizeof ls2;
    CHECK_OK(vida_checkpoint_load(path, b, ob, &ls2));
    CHECK(memcmp(&ls, &ls2, sizeof ls) == 0);
    CHECK(vida_optimizer_step_count(ob) == 3);
    CHECK(same_weights(a, b));
    /* both continue: bit for bit the same (dropout included) */
    for (int s = 3; s < 7; s++) {
        CHECK(train_step(a, oa, s) == 0);
        CHECK(train_step(b, ob, s) == 0);
    }
    CHECK(same_weights(a, b));
    /* the checkpoint is also a model file */
    {
        vida_model *c = NULL;
        vida_context *ctx = NULL;
        CHECK_OK(vida_context_create(&ctx, NULL));
        CHECK_OK(vida_model_load(&c, ctx, path));
        CHECK(vida_model_get_meta(c, "checkpoint.format") == NULL);
        vida_model_free(c);
        vida_context_free(ctx);
    }
    vida_optimizer_free(oa);
    vida_optimizer_free(ob);
    vida_model_free(a);
    vida_model_free(b);
}

TEST(checkpoint, bad_files_change_nothing)
{
    char path[512], other[512], junk[512];
    vida_model *a = small_model(10), *b = small_model(10), *deep = small_model(16);
    vida_optimizer *oa = NULL, *ob = NULL;
    vida_optimizer_params op;
    vida_loader_state ls;
    float *before;
    int64_t n;
    CHECK(a && b && deep);
    vida_optimizer_params_init(&op);
    CHECK_OK(vida_optimizer_create(&oa, a, &op));
    CHECK_OK(vida_optimizer_create(&ob, b, &op));
    CHECK(train_step(a, oa, 1) == 0);
    snprintf(path, sizeof path, "%s/noopt.safetensors", vt_tmp_dir());
    CHECK_OK(vida_checkpoint_save(path, a, NULL, NULL));
    n = b->params[0].numel;
    before = malloc((size_t)n * sizeof *before);
    memcpy(before, b->params[0].data, (size_t)n * sizeof *before);
    /* asked for optimizer or loader state the file does not have */
    CHECK(vida_checkpoint_load(path, b, ob, NULL) == VIDA_EMISMATCH);
    CHECK(strstr(vida_last_error(), "optimizer"));
    ls.size = sizeof ls;
    CHECK(vida_checkpoint_load(path, b, NULL, &ls) == VIDA_EMISMATCH);
    CHECK(strstr(vida_last_error(), "loader"));
    CHECK(memcmp(before, b->params[0].data, (size_t)n * sizeof *before) == 0);
    /* another architecture */
    CHECK(vida_checkpoint_load(path, deep, NULL, NULL) == VIDA_EMISMATCH);
    /* a plain model file is not a checkpoint; junk is not safetensors */
    snprintf(other, sizeof other, "%s/model.safetensors", vt_tmp_dir());
    CHECK_OK(vida_model_save(a, other));
    CHECK(vida_checkpoint_load(other, b, NULL, NULL) == VIDA_EFORMAT);
    CHECK(strstr(vida_last_error(), "not a checkpoint"));
    snprintf(junk, sizeof junk, "%s/junk.safetensors", vt_tmp_dir());
    CHECK(vt_write_file(junk, "junk junk junk junk", 19) == 0);
    CHECK(vida_checkpoint_load(junk, b, NULL, NULL) != VIDA_OK);
    CHECK(memcmp(before, b->params[0].data, (size_t)n * sizeof *before) == 0);
    /* a NaN weight, an infinite running variance, a NaN momentum buffer (written into the
       file: saving refuses them, below): loading refuses them, naming the tensor, and nothing
       changes */
    {
        static const char *const what[3] = {"fc.bias", "layer1.0.conv1.1.running_var",
                                            "optimizer.momentum.fc.bias"};
        char bad[512];
        for (int k = 0; k < 3; k++) {
            vida_model *c = small_model(10);
            vida_optimizer *oc = NULL;
            vidai_st_file *f = NULL;
            const vidai_st_tensor *t;
            const float v = k == 1 ? INFINITY : NAN;
            FILE *fp;
            CHECK(c != NULL);
            CHECK_OK(vida_optimizer_create(&oc, c, &op));
            CHECK(train_step(c, oc, 1) == 0);
            snprintf(bad, sizeof bad, "%s/nonfinite%d.safetensors", vt_tmp_dir(), k);
            CHECK_OK(vida_checkpoint_save(bad, c, oc, NULL));
            CHECK_OK(vidai_st_read(&f, bad));
            t = vidai_st_find(f, what[k]);
            CHECK(t != NULL);
            long off = (long)(t->data - f->buf);
            vidai_st_free(f);
            fp = fopen(bad, "r+b");
            CHECK(fp && fseek(fp, off, SEEK_SET) == 0 && fwrite(&v, 4, 1, fp) == 1);
            fclose(fp);
            memcpy(before, b->params[0].data, (size_t)n * sizeof *before);
            CHECK(vida_checkpoint_load(bad, b, ob, NULL) == VIDA_ENONFINITE);
            CHECKF(strstr(vida_last_error(), k == 2 ? "fc.bias" : what[k]) &&
                       strstr(vida_last_error(), k == 2 ? "optimizer buffer" : "holds"),
                   "%s: %s", what[k], vida_last_error());
            CHECK(memcmp(before, b->params[0].data, (size_t)n * sizeof *before) == 0);
            vida_optimizer_free(oc);
            vida_model_free(c);
        }
    }
    /* saving a model that holds a NaN is refused, naming the tensor, and the checkpoint already
       at the path stays as it was, byte for byte */
    {
        char good[512];
        size_t s1 = 0, s2 = 0;
        vida_model *c = small_model(10);
        int pi = c ? vidai_model_find_param(c, "fc.bias") : -1;
        CHECK(c && pi >= 0);
        snprintf(good, sizeof good, "%s/keep.safetensors", vt_tmp_dir());
        CHECK_OK(vida_checkpoint_save(good, c, NULL, NULL));
        char *was = vt_read_file(good, &s1);
        float *d = vidai_param_host(c, pi);
        d[0] = NAN;
        vidai_param_host_wrote(c, pi);
        CHECK(vida_checkpoint_save(good, c, NULL, NULL) == VIDA_ENONFINITE);
        CHECKF(strstr(vida_last_error(), "fc.bias"), "%s", vida_last_error());
        char *now = vt_read_file(good, &s2);
        CHECK(was && now && s1 == s2 && memcmp(was, now, s1) == 0);
        free(was);
        free(now);
        vida_model_free(c);
    }
    /* without the optimizer the weights load */
    CHECK_OK(vida_checkpoint_load(path, b, NULL, NULL));
    CHECK(same_weights(a, b));
    CHECK(vida_checkpoint_save(NULL, a, NULL, NULL) == VIDA_EINVAL);
    free(before);
    vida_optimizer_free(oa);
    vida_optimizer_free(ob);
    vida_model_free(a);
    vida_model_free(b);
    vida_model_free(deep);
}

/*
 * A child writes checkpoints to one path as fast as it can, each with a
 * different loader epoch; the parent kills it with SIGKILL after a random
 * delay, then loads the path: it must load, and hold one of the written
 * states. At least 25 rounds, and more (up to 250) until 5 kills have landed
 * inside a write: where a kill lands is chance, and how often it lands in a
 * write depends on how fast the machine writes (a CI run once saw 4 in 25). A
 * kill inside a write leaves that child's temporary file
 * (PATH.tmp.<pid>.XXXXXX); the next child's saves remove it, and after the
 * last round one save by the parent leaves none.
 */
TEST(checkpoint, sigkill_never_leaves_a_broken_file)
{
    char path[512];
    vida_model *m = small_model(10), *r = small_model(10);
    vida_optimizer *o = NULL, *ro = NULL;
    vida_optimizer_params op;
    int64_t last_epoch = -1;
    unsigned seed = 12345;
    int loads = 0, hits = 0, round, left;
    CHECK(m && r);
    vida_optimizer_params_init(&op);
    CHECK_OK(vida_optimizer_create(&o, m, &op));
    CHECK_OK(vida_optimizer_create(&ro, r, &op));
    CHECK(train_step(m, o, 0) == 0);
    snprintf(path, sizeof path, "%s/killed.safetensors", vt_tmp_dir());
    for (round = 0; round < 250 && (round < 25 || hits < 5); round++) {
        pid_t pid;
        int status;
        struct timespec ts;
        vida_loader_state ls;
        fflush(NULL);
        pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            vida_loader_state w;
            memset(&w, 0, sizeof w);
            w.size = sizeof w;
            w.world = 1;
            for (int64_t k = 0;; k++) {
                w.epoch = round * 1000000 + k;
                if (vida_checkpoint_save(path, m, o, &w) != VIDA_OK)
                    _exit(3);
            }
        }
        seed = seed * 1103515245u + 12345u;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)(5 + (seed >> 16) % 60) * 1000000L; /* 5-64 ms */
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECKF(WIFSIGNALED(status), "the writer exited by itself (status %d)", status);
        hits += temp_files_of(vt_tmp_dir(), "killed.safetensors", (long)pid, NULL, 0) > 0;
        if (access(path, F_OK) != 0)
            continue; /* killed before the first rename */
        ls.size = sizeof ls;
        CHECKF(vida_checkpoint_load(path, r, ro, &ls) == VIDA_OK, "round %d: %s", round,
               vida_last_error());
        CHECK(ls.epoch >= last_epoch);
        last_epoch = ls.epoch;
        CHECK(same_weights(m, r));
        loads++;
    }
    printf("  %d of %d kills left a checkpoint, every one loaded; %d kills hit a write (and "
           "left its temporary file)\n", loads, round, hits);
    CHECKF(hits >= 5, "%d of %d kills hit a write", hits, round); /* they did land in writes */
    /* one more save, by this process: nothing of the killed writers is left */
    CHECK_OK(vida_checkpoint_save(path, m, o, NULL));
    left = temp_files_of(vt_tmp_dir(), "killed.safetensors", 0, NULL, 0);
    CHECKF(left == 0, "%d temporary files left", left);
    CHECKF(loads >= round * 4 / 5, "%d of %d kills left a checkpoint", loads, round);
    vida_optimizer_free(o);
    vida_optimizer_free(ro);
    vida_model_free(m);
    vida_model_free(r);
}

/*
 * A full disk or an I/O error at each durable step of writing a checkpoint over an older one
 * (vidai_io_fail_at, the fault injection of src/io/atomic.c): the flush of the data (ENOSPC,
 * EIO), the file's fsync, its close, the rename, and the folder's fsync after the rename. The
 * save returns VIDA_EIO naming the cause, no temporary file is left, and the file at the path
 * loads: the old checkpoint when the failure came before the rename, the new one after it.
 */
TEST(checkpoint, io_failures_keep_a_loadable_checkpoint)
{
    char dir[512], path[600];
    vida_model *m = small_model(10), *r = small_model(10);
    vida_optimizer *o = NULL, *ro = NULL;
    vida_optimizer_params op;
    const char *name;
    int64_t n = 0;
    float *old_w, *new_w, *got;
    static const int errs[2] = {ENOSPC, EIO};
    CHECK(m && r);
    vida_optimizer_params_init(&op);
    CHECK_OK(vida_optimizer_create(&o, m, &op));
    CHECK_OK(vida_optimizer_create(&ro, r, &op));
    snprintf(dir, sizeof dir, "%s/iofail", vt_tmp_dir());
    CHECK(mkdir(dir, 0777) == 0);
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    CHECK(first_tensor_two_steps(m, o, &name, &n, &old_w, &new_w, &got) == 0);
    CHECK(memcmp(old_w, new_w, (size_t)n * sizeof *old_w) != 0);
    for (int step = 1; step <= 5; step++)
        for (int k = 0; k < 2; k++) {
            int rc;
            /* the older checkpoint in place: the state before the second step */
            CHECK_OK(vida_model_set_tensor(m, name, old_w, n));
            CHECK_OK(vida_checkpoint_save(path, m, o, NULL));
            CHECK_OK(vida_model_set_tensor(m, name, new_w, n));
            vidai_io_fail_at(step, errs[k]);
            rc = vida_checkpoint_save(path, m, o, NULL);
            vidai_io_fail_at(0, 0);
            CHECKF(rc == VIDA_EIO && strstr(vida_last_error(), strerror(errs[k])),
                   "step %d (%s): rc %d, %s", step, strerror(errs[k]), rc, vida_last_error());
            CHECKF(temp_files_in(dir) == 0, "step %d: a temporary file was left", step);
            CHECK_OK(vida_checkpoint_load(path, r, ro, NULL));
            CHECK_OK(vida_model_get_tensor(r, name, got, n));
            CHECKF(memcmp(got, step <= 4 ? old_w : new_w, (size_t)n * sizeof *got) == 0,
                   "step %d: the file holds the %s checkpoint", step, step <= 4 ? "new" : "old");
        }
    free(old_w);
    free(new_w);
    free(got);
    vida_optimizer_free(o);
    vida_optimizer_free(ro);
    vida_model_free(m);
    vida_model_free(r);
}

/* 1 when some process holds a lock on the file at path (as a writer does until its rename). */
static int locked(const char *path)
{
    struct flock lk;
    int fd = open(path, O_RDONLY | O_CLOEXEC), held;
    if (fd < 0)
        return 0;
    memset(&lk, 0, sizeof lk);
    lk.l_type = F_WRLCK;
    lk.l_whence = SEEK_SET;
    held = fcntl(fd, F_OFD_GETLK, &lk) == 0 && lk.l_type != F_UNLCK;
    close(fd);
    return held;
}

/* 1 when the file at path holds exactly the first n bytes of want[0, want_size). */
static int holds_prefix(const char *path, const char *want, size_t want_size, size_t n)
{
    size_t size = 0;
    char *got = vt_read_file(path, &size);
    int ok = got && n <= want_size && size == n && memcmp(got, want, n) == 0;
    free(got);
    return ok;
}

/*
 * Kill points (vidai_io_stop_at): a forked child saving a newer checkpoint over an older one
 * stops itself at a chosen point of the atomic write and is killed there with SIGKILL: after
 * 0, 1, 8 (the header's length field), half and all but one of the file's bytes reached the
 * temporary file, before the file's fsync, before the rename, and between the rename and the
 * folder's fsync. While it is stopped, the temporary file "PATH.tmp.<its pid>.XXXXXX" is
 * locked and holds exactly the first bytes of the new file (the whole file from the fsync on);
 * after the rename there is none and the path holds the new file. After the kill the path
 * loads: the old checkpoint before the rename, the new one after; loading removes nothing.
 * The next save, by this process, leaves no temporary file.
 */
TEST(checkpoint, killed_at_each_kill_point_loads_and_is_cleaned_up)
{
    struct {
        int point;
        int64_t bytes; /* -1: half the file, -2: all but one byte */
        const char *what;
    } kp[] = {
        {VIDAI_IO_STOP_AFTER_BYTES, 0, "after 0 bytes"},
        {VIDAI_IO_STOP_AFTER_BYTES, 1, "after 1 byte"},
        {VIDAI_IO_STOP_AFTER_BYTES, 8, "after the header length"},
        {VIDAI_IO_STOP_AFTER_BYTES, -1, "after half the file"},
        {VIDAI_IO_STOP_AFTER_BYTES, -2, "after all but one byte"},
        {VIDAI_IO_STOP_BEFORE_FSYNC, 0, "before the fsync"},
        {VIDAI_IO_STOP_BEFORE_RENAME, 0, "before the rename"},
        {VIDAI_IO_STOP_BEFORE_DIR_FSYNC, 0, "between the rename and the folder's fsync"},
    };
    char dir[512], path[600], ref[600], tmp[900];
    vida_model *m = small_model(10), *r = small_model(10);
    vida_optimizer *o = NULL, *ro = NULL;
    vida_optimizer_params op;
    const char *name;
    int64_t n = 0;
    float *old_w, *new_w, *got;
    char *new_file;
    size_t new_size = 0;
    CHECK(m && r);
    vida_optimizer_params_init(&op);
    CHECK_OK(vida_optimizer_create(&o, m, &op));
    CHECK_OK(vida_optimizer_create(&ro, r, &op));
    snprintf(dir, sizeof dir, "%s/killpoints", vt_tmp_dir());
    CHECK(mkdir(dir, 0777) == 0);
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    snprintf(ref, sizeof ref, "%s/killpoints-new.safetensors", vt_tmp_dir());
    CHECK(first_tensor_two_steps(m, o, &name, &n, &old_w, &new_w, &got) == 0);
    CHECK(memcmp(old_w, new_w, (size_t)n * sizeof *old_w) != 0);
    /* the bytes the child will write: the same state saved here */
    CHECK_OK(vida_checkpoint_save(ref, m, o, NULL));
    new_file = vt_read_file(ref, &new_size);
    CHECK(new_file && new_size > 16);
    for (size_t k = 0; k < sizeof kp / sizeof kp[0]; k++) {
        int64_t bytes = kp[k].bytes == -1 ? (int64_t)new_size / 2
                        : kp[k].bytes == -2 ? (int64_t)new_size - 1
                                            : kp[k].bytes;
        int renamed = kp[k].point == VIDAI_IO_STOP_BEFORE_DIR_FSYNC, n_tmp, as_expected;
        int status;
        pid_t pid;
        CHECK_OK(vida_model_set_tensor(m, name, old_w, n));
        CHECK_OK(vida_checkpoint_save(path, m, o, NULL));
        CHECK_OK(vida_model_set_tensor(m, name, new_w, n));
        fflush(NULL);
        pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL); /* never left stopped by a failed check */
            vidai_io_stop_at(kp[k].point, bytes);
            _exit(vida_checkpoint_save(path, m, o, NULL) == VIDA_OK ? 0 : 3);
        }
        CHECK(waitpid(pid, &status, WUNTRACED) == pid);
        if (!WIFSTOPPED(status))
            kill(pid, SIGKILL);
        CHECKF(WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP,
               "%s: the writer did not stop there (status %d)", kp[k].what, status);
        /* stopped there: what is on disk */
        n_tmp = temp_files_of(dir, "ck.safetensors", (long)pid, tmp, sizeof tmp);
        if (renamed)
            as_expected = n_tmp == 0 && holds_prefix(path, new_file, new_size, new_size);
        else
            as_expected =
                n_tmp == 1 && locked(tmp) &&
                holds_prefix(tmp, new_file, new_size,
                             kp[k].point == VIDAI_IO_STOP_AFTER_BYTES ? (size_t)bytes : new_size);
        kill(pid, SIGKILL);
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "%s: status %d", kp[k].what,
               status);
        CHECKF(as_expected, "%s: %d temporary files of the writer; the %s is not locked or "
               "does not hold what was written up to there", kp[k].what, n_tmp,
               renamed ? "path" : "temporary file");
        /* the path loads; the load removes nothing (the kill left the temporary file before
           the rename) */
        CHECKF(vida_checkpoint_load(path, r, ro, NULL) == VIDA_OK, "%s: %s", kp[k].what,
               vida_last_error());
        CHECK_OK(vida_model_get_tensor(r, name, got, n));
        CHECKF(memcmp(got, renamed ? new_w : old_w, (size_t)n * sizeof *got) == 0,
               "%s: the path does not hold the %s checkpoint", kp[k].what,
               renamed ? "new" : "old");
        CHECK(temp_files_in(dir) == (renamed ? 0 : 1));
        /* the next save, by another process, removes the dead writer's temporary file */
        CHECK_OK(vida_checkpoint_save(path, m, o, NULL));
        CHECKF(temp_files_in(dir) == 0, "%s: the killed writer's temporary file is still there",
               kp[k].what);
        CHECK_OK(vida_checkpoint_load(path, r, ro, NULL));
    }
    free(new_file);
    free(old_w);
    free(new_w);
    free(got);
    vida_optimizer_free(o);
    vida_optimizer_free(ro);
    vida_model_free(m);
    vida_model_free(r);
}

/*
 * A live writer's temporary file is never taken for a dead one's. Two children save a newer
 * checkpoint and stop before their renames, the first before the second starts: the second's
 * save kept the first's file. The first is killed. This process saves the path twice: the
 * killed writer's file goes, the live one's stays. The live child then goes on (SIGCONT), its
 * rename succeeds, and the path holds its checkpoint, with no temporary file left.
 */
TEST(checkpoint, a_live_writers_temp_file_is_kept)
{
    char dir[512], path[600], live_tmp[900], dead_tmp[900];
    vida_model *m = small_model(10), *r = small_model(10);
    vida_optimizer *o = NULL, *ro = NULL;
    vida_optimizer_params op;
    const char *name;
    int64_t n = 0;
    int status = 0, stopped = 0, dead_left, saved, kept, dead_gone, n_left;
    float *old_w, *new_w, *got;
    pid_t pids[2] = {-1, -1}, dead, live;
    CHECK(m && r);
    vida_optimizer_params_init(&op);
    CHECK_OK(vida_optimizer_create(&o, m, &op));
    CHECK_OK(vida_optimizer_create(&ro, r, &op));
    snprintf(dir, sizeof dir, "%s/livewriter", vt_tmp_dir());
    CHECK(mkdir(dir, 0777) == 0);
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    CHECK(first_tensor_two_steps(m, o, &name, &n, &old_w, &new_w, &got) == 0);
    CHECK_OK(vida_model_set_tensor(m, name, old_w, n));
    CHECK_OK(vida_checkpoint_save(path, m, o, NULL));
    CHECK_OK(vida_model_set_tensor(m, name, new_w, n));
    for (int i = 0; i < 2 && stopped == i; i++) {
        fflush(NULL);
        pids[i] = fork();
        if (pids[i] == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            vidai_io_stop_at(VIDAI_IO_STOP_BEFORE_RENAME, 0);
            _exit(vida_checkpoint_save(path, m, o, NULL) == VIDA_OK ? 0 : 3);
        }
        if (pids[i] > 0 && waitpid(pids[i], &status, WUNTRACED) == pids[i] && WIFSTOPPED(status))
            stopped++;
    }
    if (stopped < 2)
        for (int i = 0; i < 2; i++)
            if (pids[i] > 0 && kill(pids[i], SIGKILL) == 0)
                waitpid(pids[i], &status, 0);
    CHECKF(stopped == 2, "writer %d did not stop (status %d)", stopped, status);
    dead = pids[0];
    live = pids[1];
    kill(dead, SIGKILL);
    /* from here on the live writer is let go before any check can return */
    /* the second writer's save, which began while the first was alive, kept its file */
    dead_left = waitpid(dead, &status, 0) == dead && WIFSIGNALED(status) &&
                temp_files_of(dir, "ck.safetensors", (long)dead, dead_tmp, sizeof dead_tmp) == 1;
    /* two saves by this process, of the old state */
    saved = vida_model_set_tensor(m, name, old_w, n) == VIDA_OK &&
            vida_checkpoint_save(path, m, o, NULL) == VIDA_OK &&
            vida_checkpoint_save(path, m, o, NULL) == VIDA_OK;
    kept = temp_files_of(dir, "ck.safetensors", (long)live, live_tmp, sizeof live_tmp) == 1;
    dead_gone = access(dead_tmp, F_OK) != 0;
    n_left = temp_files_in(dir);
    /* the live writer goes on and finishes its save */
    kill(live, SIGCONT);
    CHECK(waitpid(live, &status, 0) == live);
    CHECKF(dead_left, "the first writer, killed, left no temporary file (removed while alive?)");
    CHECKF(saved, "saving here failed: %s", vida_last_error());
    CHECKF(kept, "the live writer's temporary file was removed");
    CHECKF(dead_gone, "the killed writer's temporary file %s is still there", dead_tmp);
    CHECKF(n_left == 1, "%d temporary files beside the live writer's", n_left - 1);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "the live writer's save failed (status %d)", status);
    CHECK(temp_files_in(dir) == 0);
    CHECK_OK(vida_checkpoint_load(path, r, ro, NULL));
    CHECK_OK(vida_model_get_tensor(r, name, got, n));
    CHECKF(memcmp(got, new_w, (size_t)n * sizeof *got) == 0,
           "the path does not hold the live writer's checkpoint");
    free(old_w);
    free(new_w);
    free(got);
    vida_optimizer_free(o);
    vida_optimizer_free(ro);
    vida_model_free(m);
    vida_model_free(r);
}
