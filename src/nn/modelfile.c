/*
 * Model files: safetensors with torchvision state_dict names and PyTorch
 * layouts, and `__metadata__` describing the architecture
 * (docs/model-format.md). The reader (io/safetensors.c) validates the
 * container; here every tensor is checked against the architecture the
 * metadata names: present, expected dtype, expected shape, finite, and no
 * tensor left over.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/io.h"
#include "nn/nn.h"

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v;
    if (!s || !*s)
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_float(const char *s, float *out)
{
    char *end;
    double v;
    if (!s || !*s)
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return -1;
    *out = (float)v;
    return 0;
}

static int meta_params(const vidai_st_file *f, const char *path, vida_model_params *p)
{
    const char *s;
    vida_model_params_init(p);
    s = vidai_st_meta(f, "format");
    if (!s || strcmp(s, "vidaction-model") != 0)
        return vidai_error(VIDA_EFORMAT, "%s: __metadata__ has no format \"vidaction-model\": "
                           "not a libvidaction model file (convert checkpoints with "
                           "`python3 -m vidaction.convert`)", path);
    s = vidai_st_meta(f, "format_version");
    if (!s || strcmp(s, "1") != 0)
        return vidai_error(VIDA_EUNSUPPORTED, "%s: format_version '%s' is not supported (this "
                           "library reads version 1)", path, s ? s : "(missing)");
    s = vidai_st_meta(f, "arch");
    if (!s || (p->arch = vidai_arch_from_name(s)) < 0)
        return vidai_error(VIDA_EUNSUPPORTED, "%s: metadata arch '%s' is unknown (r2plus1d, r3d, "
                           "mc3, r2d)", path, s ? s : "(missing)");
    if (parse_int(vidai_st_meta(f, "depth"), 1, 1000, &p->depth))
        return vidai_error(VIDA_EFORMAT, "%s: metadata depth is missing or not an integer", path);
    s = vidai_st_meta(f, "midplanes");
    if (s && strcmp(s, "per-conv") == 0)
        p->midplanes = VIDA_MIDPLANES_PER_CONV;
    else if (!s || strcmp(s, "per-block") == 0)
        p->midplanes = VIDA_MIDPLANES_PER_BLOCK;
    else
        return vidai_error(VIDA_EFORMAT, "%s: metadata midplanes '%s' is neither per-conv nor "
                           "per-block", path, s);
    if (vidai_st_meta(f, "pool1") && parse_int(vidai_st_meta(f, "pool1"), 0, 1, &p->pool1))
        return vidai_error(VIDA_EFORMAT, "%s: metadata pool1 must be 0 or 1", path);
    if (parse_int(vidai_st_meta(f, "num_classes"), 1, 1000000, &p->num_classes))
        return vidai_error(VIDA_EFORMAT, "%s: metadata num_classes is missing or not an integer "
                           "in [1, 1000000]", path);
    if (vidai_st_meta(f, "bn_eps") && parse_float(vidai_st_meta(f, "bn_eps"), &p->bn_eps))
        return vidai_error(VIDA_EFORMAT, "%s: metadata bn_eps is not a number", path);
    if (vidai_st_meta(f, "bn_momentum") && parse_float(vidai_st_meta(f, "bn_momentum"), &p->bn_momentum))
        return vidai_error(VIDA_EFORMAT, "%s: metadata bn_momentum is not a number", path);
    if (vidai_st_meta(f, "width") && parse_float(vidai_st_meta(f, "width"), &p->width))
        return vidai_error(VIDA_EFORMAT, "%s: metadata width is not a number", path);
    if (vidai_st_meta(f, "dropout") && parse_float(vidai_st_meta(f, "dropout"), &p->dropout))
        return vidai_error(VIDA_EFORMAT, "%s: metadata dropout is not a number", path);
    return VIDA_OK;
}

static void shape_str(char *buf, size_t size, int ndim, const int64_t *shape)
{
    size_t used = 0;
    int i;
    used += (size_t)snprintf(buf + used, size - used, "[");
    for (i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

static int load_tensor(vida_model *m, vidai_param *p, const vidai_st_tensor *t, const char *path,
                       float *scratch)
{
    char want[128], got[128];
    int i, same = t->ndim == p->ndim;
    int64_t j;
    if (p->kind == VIDAI_PARAM_COUNT) {
        if (t->dtype != VIDAI_ST_I64 || t->numel != 1)
            return vidai_error(VIDA_EFORMAT, "%s: tensor '%s' has dtype %s and %lld elements, "
                               "wants one I64", path, p->name, vidai_st_dtype_name(t->dtype),
                               (long long)t->numel);
        memcpy(&p->count, t->data, sizeof p->count);
        if (p->count < 0)
            return vidai_error(VIDA_EFORMAT, "%s: tensor '%s' is negative", path, p->name);
        return VIDA_OK;
    }
    if (t->dtype != VIDAI_ST_F32)
        return vidai_error(VIDA_EFORMAT, "%s: tensor '%s' has dtype %s, wants F32", path, p->name,
                           vidai_st_dtype_name(t->dtype));
    for (i = 0; same && i < p->ndim; i++)
        same = t->shape[i] == p->shape[i];
    if (!same) {
        shape_str(want, sizeof want, p->ndim, p->shape);
        shape_str(got, sizeof got, t->ndim, t->shape);
        return vidai_error(VIDA_EMISMATCH, "%s: tensor '%s' has shape %s, architecture %s-%d "
                           "wants %s", path, p->name, got, vidai_arch_name(m->p.arch), m->p.depth, want);
    }
    memcpy(scratch, t->data, (size_t)p->numel * sizeof(float));
    for (j = 0; j < p->numel; j++)
        if (!isfinite(scratch[j]))
            return vidai_error(VIDA_ENONFINITE, "%s: tensor '%s' holds %s at element %lld", path,
                               p->name, isnan(scratch[j]) ? "NaN" : "an infinity", (long long)j);
    if (p->kind == VIDAI_PARAM_CONV)
        vidai_conv_to_internal(p, scratch, p->data);
    else
        memcpy(p->data, scratch, (size_t)p->numel * sizeof(float));
    p->host_stale = 0; /* the device copy, if any, is now out of date */
    p->dev_stale = 1;
    return VIDA_OK;
}

int vida_model_load(vida_model **out, vida_context *ctx, const char *path)
{
    vidai_st_file *f = NULL;
    vida_model_params p;
    vida_model *m = NULL;
    float *scratch = NULL;
    int64_t biggest = 1;
    int i, rc;
    if (!out)
        return vidai_error(VIDA_EINVAL, "vida_model_load: out is NULL");
    *out = NULL;
    if (!ctx || !path)
        return vidai_error(VIDA_EINVAL, "vida_model_load: %s is NULL", !ctx ? "ctx" : "path");
    rc = vidai_st_read(&f, path);
    if (rc != VIDA_OK)
        return rc;
    rc = meta_params(f, path, &p);
    if (rc == VIDA_OK) {
        rc = vidai_model_build(&m, ctx, &p);
        if (rc != VIDA_OK)
            vidai_error_prefix(rc, "%s: ", path);
    }
    if (rc == VIDA_OK) {
        for (i = 0; i < m->n_params; i++)
            if (m->params[i].numel > biggest)
                biggest = m->params[i].numel;
        scratch = vidai_malloc((size_t)biggest * sizeof(float));
        if (!scratch)
            rc = VIDA_ENOMEM;
    }
    for (i = 0; rc == VIDA_OK && i < m->n_params; i++) {
        vidai_param *prm = &m->params[i];
        const vidai_st_tensor *t = vidai_st_find(f, prm->name);
        if (!t) {
            if (prm->kind == VIDAI_PARAM_COUNT) {
                prm->count = 0;
                continue;
            }
            rc = vidai_error(VIDA_EMISMATCH, "%s: tensor '%s' is missing (architecture %s-%d "
                             "needs it)", path, prm->name, vidai_arch_name(p.arch), p.depth);
            break;
        }
        rc = load_tensor(m, prm, t, path, scratch);
    }
    for (i = 0; rc == VIDA_OK && i < f->n_tensors; i++)
        if (vidai_model_find_param(m, f->tensors[i].name) < 0 &&
            /* a checkpoint's optimizer state (vidaction/checkpoint.h) */
            !(vidai_st_meta(f, "checkpoint.format") &&
              !strncmp(f->tensors[i].name, "optimizer.", 10)))
            rc = vidai_error(VIDA_EMISMATCH, "%s: unexpected tensor '%s' (architecture %s-%d has "
                             "no such parameter)", path, f->tensors[i].name,
                             vidai_arch_name(p.arch), p.depth);
    for (i = 0; rc == VIDA_OK && i < f->n_meta; i++)
        if (strncmp(f->meta_keys[i], "checkpoint.", 11) != 0 &&
            vidai_model_set_meta(m, f->meta_keys[i], f->meta_values[i]) != VIDA_OK)
            rc = vidai_error(VIDA_ENOMEM, "%s: out of memory for metadata", path);
    if (rc == VIDA_OK)
        rc = vidai_model_sync_meta(m);
    vidai_free(scratch);
    vidai_st_free(f);
    if (rc != VIDA_OK) {
        vida_model_free(m);
        return rc;
    }
    vidai_model_weights_changed(m);
    *out = m;
    return VIDA_OK;
}

int vidai_model_add_to_writer(const vida_model *m, vidai_st_writer *w, void **bufs)
{
    int i, rc = VIDA_OK;
    for (i = 0; rc == VIDA_OK && i < m->n_meta; i++)
        if (strncmp(m->meta[i].key, "checkpoint.", 11) != 0)
            rc = vidai_st_writer_meta(w, m->meta[i].key, m->meta[i].value);
    for (i = 0; rc == VIDA_OK && i < m->n_params; i++) {
        const vidai_param *p = &m->params[i];
        if (p->kind == VIDAI_PARAM_COUNT) {
            bufs[i] = vidai_malloc(sizeof(int64_t));
            if (!bufs[i])
                return VIDA_ENOMEM;
            memcpy(bufs[i], &p->count, sizeof(int64_t));
            rc = vidai_st_writer_add(w, p->name, VIDAI_ST_I64, 0, p->shape, bufs[i]);
        } else {
            const float *host = vidai_param_host(m, i); /* the device's values on CUDA */
            if (!host)
                return VIDA_EDEVICE;
            if (p->kind == VIDAI_PARAM_CONV) {
                bufs[i] = vidai_malloc((size_t)p->numel * sizeof(float));
                if (!bufs[i])
                    return VIDA_ENOMEM;
                vidai_conv_to_file(p, host, bufs[i]);
                rc = vidai_st_writer_add(w, p->name, VIDAI_ST_F32, p->ndim, p->shape, bufs[i]);
            } else {
                rc = vidai_st_writer_add(w, p->name, VIDAI_ST_F32, p->ndim, p->shape, host);
            }
        }
    }
    return rc;
}

static int model_save(const vida_model *m, const char *path)
{
    vidai_st_writer *w = NULL;
    void **bufs = NULL;
    int i, rc;
    if (!m || !path)
        return vidai_error(VIDA_EINVAL, "vida_model_save: %s is NULL", !m ? "model" : "path");
    bufs = vidai_calloc((size_t)m->n_params, sizeof *bufs);
    if (!bufs)
        return VIDA_ENOMEM;
    rc = vidai_st_writer_create(&w);
    if (rc == VIDA_OK)
        rc = vidai_model_add_to_writer(m, w, bufs);
    if (rc == VIDA_OK) /* what killed saves of this path left (as vida_checkpoint_save) */
        vidai_atomic_remove_stale(path);
    if (rc == VIDA_OK)
        rc = vidai_st_writer_write(w, path);
    vidai_st_writer_free(w);
    for (i = 0; i < m->n_params; i++)
        vidai_free(bufs[i]);
    vidai_free(bufs);
    return rc;
}

int vida_model_save(const vida_model *m, const char *path)
{
    VIDAI_GUARDED(m, __func__, "model", model_save(m, path));
}
