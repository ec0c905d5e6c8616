/* vida_tensorfile: the public face of the safetensors reader and writer. */
#include <string.h>

#include "io/io.h"
#include "vidaction/tensorfile.h"

struct vida_tensorfile {
    vidai_st_file *f;
    void **copies; /* aligned copies of tensors whose data is misaligned in the file */
};

int vida_tensorfile_read(vida_tensorfile **out, const char *path)
{
    vida_tensorfile *tf;
    int rc, i;
    if (!out || !path)
        return vidai_error(VIDA_EINVAL, "vida_tensorfile_read: %s is NULL", !out ? "out" : "path");
    *out = NULL;
    tf = vidai_calloc(1, sizeof *tf);
    if (!tf)
        return VIDA_ENOMEM;
    rc = vidai_st_read(&tf->f, path);
    if (rc != VIDA_OK) {
        vidai_free(tf);
        return rc;
    }
    tf->copies = vidai_calloc((size_t)tf->f->n_tensors + 1, sizeof *tf->copies);
    if (!tf->copies) {
        vida_tensorfile_free(tf);
        return VIDA_ENOMEM;
    }
    /* Views are typed pointers: a foreign file may place a tensor at any offset. */
    for (i = 0; i < tf->f->n_tensors; i++) {
        vidai_st_tensor *t = &tf->f->tensors[i];
        size_t align = vidai_st_dtype_size(t->dtype);
        if (align > 1 && ((uintptr_t)t->data % align) != 0) {
            tf->copies[i] = vidai_malloc(t->size);
            if (!tf->copies[i]) {
                vida_tensorfile_free(tf);
                return VIDA_ENOMEM;
            }
            memcpy(tf->copies[i], t->data, t->size);
            t->data = tf->copies[i];
        }
    }
    *out = tf;
    return VIDA_OK;
}

void vida_tensorfile_free(vida_tensorfile *f)
{
    int i;
    if (!f)
        return;
    for (i = 0; f->copies && i < f->f->n_tensors; i++)
        vidai_free(f->copies[i]);
    vidai_free(f->copies);
    vidai_st_free(f->f);
    vidai_free(f);
}

int vida_tensorfile_count(const vida_tensorfile *f)
{
    return f ? f->f->n_tensors : -1;
}

int vida_tensorfile_name(const vida_tensorfile *f, int i, const char **out_name)
{
    if (!f || !out_name || i < 0 || i >= f->f->n_tensors)
        return vidai_error(VIDA_EINVAL, "vida_tensorfile_name: %s",
                           !f || !out_name ? "NULL argument" : "index out of range");
    *out_name = f->f->tensors[i].name;
    return VIDA_OK;
}

static int to_public_dtype(int st)
{
    switch (st) {
    case VIDAI_ST_F32: return VIDA_DTYPE_F32;
    case VIDAI_ST_U8: return VIDA_DTYPE_U8;
    case VIDAI_ST_I32: return VIDA_DTYPE_I32;
    case VIDAI_ST_I64: return VIDA_DTYPE_I64;
    case VIDAI_ST_BF16: return VIDA_DTYPE_BF16;
    default: return -1;
    }
}

static int to_st_dtype(int d)
{
    switch (d) {
    case VIDA_DTYPE_F32: return VIDAI_ST_F32;
    case VIDA_DTYPE_U8: return VIDAI_ST_U8;
    case VIDA_DTYPE_I32: return VIDAI_ST_I32;
    case VIDA_DTYPE_I64: return VIDAI_ST_I64;
    case VIDA_DTYPE_BF16: return VIDAI_ST_BF16;
    default: return -1;
    }
}

int vida_tensorfile_get(const vida_tensorfile *f, const char *name, vida_tensor *out)
{
    const vidai_st_tensor *t;
    int i, dt;
    if (!f || !name || !out)
        return vidai_error(VIDA_EINVAL, "vida_tensorfile_get: NULL argument");
    t = vidai_st_find(f->f, name);
    if (!t)
        return vidai_error(VIDA_EINVAL, "tensor file has no tensor '%s'", name);
    dt = to_public_dtype(t->dtype);
    if (dt < 0)
        return vidai_error(VIDA_EUNSUPPORTED, "tensor '%s' has dtype %s, which the API cannot hand out",
                           name, vidai_st_dtype_name(t->dtype));
    memset(out, 0, sizeof *out);
    out->data = (void *)t->data;
    out->dtype = dt;
    out->layout = VIDA_LAYOUT_ANY;
    out->ndim = t->ndim;
    for (i = 0; i < t->ndim; i++)
        out->shape[i] = t->shape[i];
    return VIDA_OK;
}

int vida_tensorfile_write(const char *path, int n, const char *const *names,
                          const vida_tensor *tensors)
{
    vidai_st_writer *w = NULL;
    int i, j, rc;
    if (!path || n < 0 || (n > 0 && (!names || !tensors)))
        return vidai_error(VIDA_EINVAL, "vida_tensorfile_write: NULL argument or negative count");
    for (i = 0; i < n; i++) {
        if (!names[i] || !*names[i])
            return vidai_error(VIDA_EINVAL, "vida_tensorfile_write: tensor %d has no name", i);
        if (to_st_dtype(tensors[i].dtype) < 0)
            return vidai_error(VIDA_EINVAL, "vida_tensorfile_write: tensor '%s' has unknown dtype %d",
                               names[i], tensors[i].dtype);
        if (tensors[i].ndim < 0 || tensors[i].ndim > VIDA_MAX_DIMS)
            return vidai_error(VIDA_EINVAL, "vida_tensorfile_write: tensor '%s' has %d dimensions",
                               names[i], tensors[i].ndim);
        for (j = 0; j < tensors[i].ndim; j++)
            if (tensors[i].shape[j] < 0)
                return vidai_error(VIDA_EINVAL, "vida_tensorfile_write: tensor '%s' has a negative "
                                   "dimension", names[i]);
        if (!tensors[i].data && vida_tensor_numel(&tensors[i]) > 0)
            return vidai_error(VIDA_EINVAL, "vida_tensorfile_write: tensor '%s' has no data", names[i]);
        for (j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return vidai_error(VIDA_EINVAL, "vida_tensorfile_write: duplicate name '%s'", names[i]);
    }
    rc = vidai_st_writer_create(&w);
    for (i = 0; rc == VIDA_OK && i < n; i++)
        rc = vidai_st_writer_add(w, names[i], to_st_dtype(tensors[i].dtype), tensors[i].ndim,
                                 tensors[i].shape, tensors[i].data);
    if (rc == VIDA_OK)
        rc = vidai_st_writer_write(w, path);
    vidai_st_writer_free(w);
    return rc;
}
