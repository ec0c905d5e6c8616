/*
 * Checkpoints (include/vidaction/checkpoint.h): the model's tensors and
 * metadata as vida_model_save writes them, the optimizer's buffers, and
 * "checkpoint.*" metadata, through the atomic safetensors writer. A save
 * first removes what killed saves of the same path left (their temporary
 * files, vidai_atomic_remove_stale), so a run killed again and again does not
 * fill the disk; a load removes nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "io/io.h"
#include "nn/nn.h"
#include "vidaction/checkpoint.h"

#define FORMAT "1"
#define BUF_PREFIX "optimizer.momentum."

/* VIDA_OK when every value of a tensor about to be saved is finite, else VIDA_ENONFINITE naming it. */
static int finite_or_error(const char *path, const char *name, const float *d, int64_t n)
{
    for (int64_t j = 0; j < n; j++)
        if (!isfinite(d[j]))
            return vidai_error(VIDA_ENONFINITE, "tensor '%s' holds %s at element %lld: not "
                               "written (%s keeps what it held)", name,
                               isnan(d[j]) ? "NaN" : "an infinity", (long long)j, path);
    return VIDA_OK;
}

int vida_checkpoint_save(const char *path, const vida_model *m, const vida_optimizer *o,
                         const vida_loader_state *ls)
{
    vidai_st_writer *w = NULL;
    void **bufs = NULL;
    char **names = NULL;
    char num[64], lstate[512];
    int i, n = 0, rc;
    if (!path || !m)
        return vidai_error(VIDA_EINVAL, "vida_checkpoint_save: %s is NULL", !path ? "path" : "model");
    if (ls && ls->size != sizeof *ls)
        return vidai_error(VIDA_EINVAL, "vida_checkpoint_save: loader state size is %zu, expected %zu",
                           ls->size, sizeof *ls);
    bufs = vidai_calloc((size_t)m->n_params * 2 + 1, sizeof *bufs);
    names = vidai_calloc((size_t)m->n_params + 1, sizeof *names);
    if (!bufs || !names) {
        vidai_free(bufs);
        vidai_free(names);
        return VIDA_ENOMEM;
    }
    rc = vidai_st_writer_create(&w);
    if (rc == VIDA_OK)
        rc = vidai_model_add_to_writer(m, w, bufs);
    /* a checkpoint that could not be loaded back is not written: the one on disk stays */
    for (i = 0; rc == VIDA_OK && i < m->n_params; i++) {
        const vidai_param *p = &m->params[i];
        const float *d;
        if (p->kind == VIDAI_PARAM_COUNT)
            continue;
        if (!(d = vidai_param_host(m, i))) {
            rc = VIDA_EDEVICE;
            break;
        }
        rc = finite_or_error(path, p->name, d, p->numel);
    }
    if (rc == VIDA_OK)
        rc = vidai_st_writer_meta(w, "checkpoint.format", FORMAT);
    snprintf(num, sizeof num, "%" PRIu64, m->step);
    if (rc == VIDA_OK)
        rc = vidai_st_writer_meta(w, "checkpoint.model_forwards", num);
    if (rc == VIDA_OK && o) {
        snprintf(num, sizeof num, "%" PRId64, vida_optimizer_step_count(o));
        rc = vidai_st_writer_meta(w, "checkpoint.optimizer_steps", num);
    }
    if (rc == VIDA_OK && ls) {
        snprintf(lstate, sizeof lstate,
                 "%" PRIu64 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64
                 " %" PRId64 " %" PRIu64,
                 ls->seed, ls->epoch, ls->number, ls->samples, ls->failures, ls->batch, ls->rank,
                 ls->world, ls->dataset_id);
        rc = vidai_st_writer_meta(w, "checkpoint.loader", lstate);
    }
    /* the momentum buffers (none without momentum) */
    for (i = 0; rc == VIDA_OK && o && i < m->n_params; i++) {
        const vidai_param *p = &m->params[i];
        float *b;
        if (!p->learnable)
            continue;
        b = vidai_malloc((size_t)p->numel * sizeof(float));
        names[n] = vidai_malloc(strlen(BUF_PREFIX) + strlen(p->name) + 1);
        if (!b || !names[n]) {
            vidai_free(b);
            rc = VIDA_ENOMEM;
            break;
        }
        bufs[m->n_params + n] = b;
        sprintf(names[n], "%s%s", BUF_PREFIX, p->name);
        rc = vida_optimizer_get_buffer(o, p->name, b, p->numel);
        if (rc == VIDA_OK)
            rc = finite_or_error(path, names[n], b, p->numel);
        if (rc == VIDA_OK)
            rc = vidai_st_writer_add(w, names[n], VIDAI_ST_F32, p->ndim, p->shape, b);
        n++;
    }
    /* Before the write, so that the space is back before this file needs it. Not on load: a
       reader may be another user, or read a folder that it must not change. */
    if (rc == VIDA_OK)
        vidai_atomic_remove_stale(path);
    if (rc == VIDA_OK)
        rc = vidai_st_writer_write(w, path);
    vidai_st_writer_free(w);
    for (i = 0; i < m->n_params * 2; i++)
        vidai_free(bufs[i]);
    for (i = 0; i < n; i++)
        vidai_free(names[i]);
    vidai_free(bufs);
    vidai_free(names);
    return rc == VIDA_OK ? rc : vidai_error_prefix(rc, "vida_checkpoint_save %s: ", path);
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    if (!s || !*s)
        return -1;
    errno = 0;
    *v = strtoull(s, &end, 10);
    return *end || errno || s[0] == '-' ? -1 : 0;
}

/* The nine fields of checkpoint.loader, each a decimal number >= 0 with nothing after. */
static int parse_state(const char *s, vida_loader_state *st)
{
    uint64_t v[9];
    char *end;
    for (int i = 0; i < 9; i++) {
        while (*s == ' ')
            s++;
        if (*s < '0' || *s > '9')
            return -1;
        errno = 0;
        v[i] = strtoull(s, &end, 10);
        if (errno || end == s)
            return -1;
        s = end;
    }
    if (*s)
        return -1;
    for (int i = 1; i < 8; i++)
        if (v[i] > (uint64_t)INT64_MAX)
            return -1;
    st->seed = v[0];
    st->epoch = (int64_t)v[1];
    st->number = (int64_t)v[2];
    st->samples = (int64_t)v[3];
    st->failures = (int64_t)v[4];
    st->batch = (int64_t)v[5];
    st->rank = (int64_t)v[6];
    st->world = (int64_t)v[7];
    st->dataset_id = v[8];
    return 0;
}

/* Index of the first of n (possibly unaligned) floats at data that is not finite, it in *x; or -1. */
static int64_t first_non_finite(const uint8_t *data, size_t n, float *x)
{
    for (size_t j = 0; j < n; j++) {
        memcpy(x, data + j * 4, 4);
        if (!isfinite(*x))
            return (int64_t)j;
    }
    return -1;
}

static int same_shape(const vidai_st_tensor *t, const vidai_param *p)
{
    if (t->ndim != p->ndim)
        return 0;
    for (int k = 0; k < p->ndim; k++)
        if (t->shape[k] != p->shape[k])
            return 0;
    return 1;
}

int vida_checkpoint_load(const char *path, vida_model *m, vida_optimizer *o, vida_loader_state *ls)
{
    vidai_st_file *f = NULL;
    const char *s;
    uint64_t forwards = 0, steps = 0;
    vida_loader_state st;
    char key[400];
    float *scratch = NULL, x;
    int64_t bad;
    int i, rc;
    if (!path || !m)
        return vidai_error(VIDA_EINVAL, "vida_checkpoint_load: %s is NULL", !path ? "path" : "model");
    if (ls && ls->size != sizeof *ls)
        return vidai_error(VIDA_EINVAL, "vida_checkpoint_load: loader state size is %zu, expected %zu",
                           ls->size, sizeof *ls);
    rc = vidai_st_read(&f, path);
    if (rc != VIDA_OK)
        return rc;
    /* check everything first */
    s = vidai_st_meta(f, "checkpoint.format");
    if (!s || strcmp(s, FORMAT) != 0) {
        rc = vidai_error(s ? VIDA_EUNSUPPORTED : VIDA_EFORMAT,
                         "%s: %s", path, s ? "checkpoint format version not supported"
                                           : "not a checkpoint (no checkpoint.format)");
        goto out;
    }
    if (parse_u64(vidai_st_meta(f, "checkpoint.model_forwards"), &forwards)) {
        rc = vidai_error(VIDA_EFORMAT, "%s: checkpoint.model_forwards is missing or bad", path);
        goto out;
    }
    for (i = 0; i < m->n_params; i++) {
        const vidai_param *p = &m->params[i];
        const vidai_st_tensor *t = vidai_st_find(f, p->name);
        int want = p->kind == VIDAI_PARAM_COUNT ? VIDAI_ST_I64 : VIDAI_ST_F32;
        if (!t || t->dtype != want || (p->kind != VIDAI_PARAM_COUNT && !same_shape(t, p)) ||
            (p->kind == VIDAI_PARAM_COUNT && t->size != sizeof(int64_t))) {
            rc = vidai_error(VIDA_EMISMATCH, "%s: tensor '%s' is %s", path, p->name,
                             !t ? "missing" : "of another type or shape than the model's");
            goto out;
        }
        /* weights and statistics must be finite, as vida_model_load wants them */
        if (p->kind != VIDAI_PARAM_COUNT && (bad = first_non_finite(t->data, t->size / 4, &x)) >= 0) {
            rc = vidai_error(VIDA_ENONFINITE, "%s: tensor '%s' holds %s at element %lld", path,
                             p->name, isnan(x) ? "NaN" : "an infinity", (long long)bad);
            goto out;
        }
        if (o && p->learnable) {
            snprintf(key, sizeof key, "%s%s", BUF_PREFIX, p->name);
            t = vidai_st_find(f, key);
            if (!t || t->dtype != VIDAI_ST_F32 || !same_shape(t, p)) {
                rc = vidai_error(VIDA_EMISMATCH, "%s: optimizer buffer '%s' is %s", path, key,
                                 !t ? "missing (saved without an optimizer?)" : "of another shape");
                goto out;
            }
            if (first_non_finite(t->data, t->size / 4, &x) >= 0) {
                rc = vidai_error(VIDA_ENONFINITE, "%s: optimizer buffer '%s' holds a NaN or an "
                                 "infinity", path, key);
                goto out;
            }
        }
    }
    if (o && parse_u64(vidai_st_meta(f, "checkpoint.optimizer_steps"), &steps)) {
        rc = vidai_error(VIDA_EMISMATCH, "%s: no optimizer state (checkpoint.optimizer_steps)", path);
        goto out;
    }
    if (ls) {
        s = vidai_st_meta(f, "checkpoint.loader");
        memset(&st, 0, sizeof st);
        st.size = sizeof st;
        if (!s || parse_state(s, &st)) {
            rc = vidai_error(s ? VIDA_EFORMAT : VIDA_EMISMATCH, "%s: %s", path,
                             s ? "checkpoint.loader is malformed" : "no loader state in the file");
            goto out;
        }
    }
    /* apply: one scratch buffer for the largest tensor, so nothing is allocated midway
       (but vida_optimizer_set_buffer's first allocation of a buffer) */
    {
        int64_t big = 1;
        for (i = 0; i < m->n_params; i++)
            big = m->params[i].numel > big ? m->params[i].numel : big;
        scratch = vidai_malloc((size_t)big * sizeof(float));
        if (!scratch) {
            rc = VIDA_ENOMEM;
            goto out;
        }
    }
    for (i = 0; i < m->n_params; i++) {
        vidai_param *p = &m->params[i];
        const vidai_st_tensor *t = vidai_st_find(f, p->name);
        if (p->kind == VIDAI_PARAM_COUNT) {
            memcpy(&p->count, t->data, sizeof(int64_t));
        } else if (p->kind == VIDAI_PARAM_CONV) {
            memcpy(scratch, t->data, t->size); /* the file's data may be unaligned */
            vidai_conv_to_internal(p, scratch, p->data);
            vidai_param_host_wrote(m, i);
        } else {
            memcpy(p->data, t->data, t->size);
            vidai_param_host_wrote(m, i);
        }
        if (o && p->learnable) {
            snprintf(key, sizeof key, "%s%s", BUF_PREFIX, p->name);
            t = vidai_st_find(f, key);
            memcpy(scratch, t->data, t->size);
            rc = vida_optimizer_set_buffer(o, p->name, scratch, p->numel);
            /* the names and counts were checked: EINVAL here means "no momentum, no buffers" */
            if (rc == VIDA_EINVAL)
                rc = VIDA_OK;
            if (rc != VIDA_OK)
                goto out;
        }
    }
    m->step = forwards;
    vidai_model_weights_changed(m);
    if (o)
        vida_optimizer_set_step_count(o, (int64_t)steps);
    if (ls)
        *ls = st;
out:
    vidai_free(scratch);
    vidai_st_free(f);
    return rc == VIDA_OK ? rc : vidai_error_prefix(rc, "vida_checkpoint_load: ");
}
