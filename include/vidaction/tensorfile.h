/*
 * vida_tensorfile: named tensors in a safetensors file, read strictly and
 * written atomically. The CLI uses it for `forward` input and output; it is
 * also the simplest way to hand clips and features to other tools (the file
 * loads in Python with safetensors or with vidaction's bindings).
 */
#ifndef VIDACTION_TENSORFILE_H
#define VIDACTION_TENSORFILE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vida_tensorfile vida_tensorfile;

/*
 * Reads and validates a whole safetensors file.
 * Returns VIDA_OK, VIDA_EINVAL, VIDA_EIO, VIDA_EFORMAT, VIDA_ENOMEM.
 */
VIDA_API int vida_tensorfile_read(vida_tensorfile **out, const char *path);

/* NULL is a no-op. */
VIDA_API void vida_tensorfile_free(vida_tensorfile *f);

/* Number of tensors; -1 for NULL. */
VIDA_API int vida_tensorfile_count(const vida_tensorfile *f);

/* Name of tensor i (valid while f lives). Returns VIDA_OK or VIDA_EINVAL. */
VIDA_API int vida_tensorfile_name(const vida_tensorfile *f, int i, const char **out_name);

/*
 * A view of tensor `name` (valid while f lives; do not write through it).
 * Dtypes F32, U8, I32, I64 and BF16 are given as is.
 * Returns VIDA_OK, VIDA_EINVAL (NULL, name absent: the message names it),
 * VIDA_EUNSUPPORTED (a dtype with no VIDA_DTYPE_*).
 */
VIDA_API int vida_tensorfile_get(const vida_tensorfile *f, const char *name, vida_tensor *out);

/*
 * Writes n tensors atomically (temp file, fsync, rename).
 * Returns VIDA_OK, VIDA_EINVAL (NULL, bad dtype or shape, duplicate name),
 * VIDA_EIO, VIDA_ENOMEM.
 */
VIDA_API int vida_tensorfile_write(const char *path, int n, const char *const *names,
                                   const vida_tensor *tensors);

#ifdef __cplusplus
}
#endif
#endif
