/*
 * libvidaction: status codes, error text, version, features, tensor views.
 *
 * Every call that can fail returns an int: VIDA_OK (0) or a negative VIDA_E*
 * code. The library never exits or aborts the host. After a failure,
 * vida_last_error() gives a message naming what was wrong (the file, tensor,
 * field or argument), kept per thread until the next failing call on it.
 */
#ifndef VIDACTION_COMMON_H
#define VIDACTION_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "version.h"

#if defined(_WIN32)
#define VIDA_API __declspec(dllexport)
#elif defined(__GNUC__)
#define VIDA_API __attribute__((visibility("default")))
#else
#define VIDA_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. The numbers are part of the ABI and never change. */
enum {
    VIDA_OK = 0,
    VIDA_EINVAL = -1,       /* an argument is invalid (NULL handle, bad size, bad enum) */
    VIDA_EIO = -2,          /* a read or write failed (open, short read, fsync, rename) */
    VIDA_EFORMAT = -3,      /* a file is malformed (model file, manifest, fixture) */
    VIDA_EDECODE = -4,      /* a video could not be demuxed or decoded */
    VIDA_EUNSUPPORTED = -5, /* valid, but not supported by this build or architecture */
    VIDA_ENOMEM = -6,       /* an allocation failed or a size limit was exceeded */
    VIDA_EDEVICE = -7,      /* the compute device failed or is absent */
    VIDA_ENONFINITE = -8,   /* a NaN or infinity appeared where it must not */
    VIDA_ECANCELLED = -9,   /* the caller cancelled the operation */
    VIDA_ESTATE = -10,      /* the call is not valid in the handle's current state */
    VIDA_EMISMATCH = -11    /* shapes, names or counts disagree (e.g. file vs architecture) */
};

/* A short static description of a status code ("invalid argument"). Never NULL. */
VIDA_API const char *vida_strerror(int code);

/*
 * The message of the last failing call on this thread, naming what was wrong,
 * e.g. "model.safetensors: tensor 'fc.weight': shape [400,512], architecture
 * wants [10,512]". "" when there was none. Valid until the next libvidaction
 * call on this thread.
 */
VIDA_API const char *vida_last_error(void);

/* Clears this thread's last error message. */
VIDA_API void vida_clear_error(void);

/* Runtime version: VIDA_VERSION_NUMBER and "MAJOR.MINOR.PATCH" (static). */
VIDA_API int vida_version_number(void);
VIDA_API const char *vida_version_string(void);

/* Feature bits of vida_features(): what this build has compiled in. */
enum {
    VIDA_FEATURE_CPU = 1 << 0,
    VIDA_FEATURE_CBLAS = 1 << 1,
    VIDA_FEATURE_CUDA = 1 << 2,
    VIDA_FEATURE_CUDNN = 1 << 3,
    VIDA_FEATURE_FFMPEG = 1 << 4,
    VIDA_FEATURE_MPI = 1 << 5,
    VIDA_FEATURE_NCCL = 1 << 6
};
VIDA_API unsigned vida_features(void);

/*
 * A static, human-readable line describing the build's features and the BLAS
 * in use, e.g. "cpu cblas(OpenBLAS 0.3.21 SkylakeX)".
 */
VIDA_API const char *vida_features_string(void);

/* Element types of tensor views. */
enum {
    VIDA_DTYPE_F32 = 1,
    VIDA_DTYPE_U8 = 2,
    VIDA_DTYPE_BF16 = 3,
    VIDA_DTYPE_I32 = 4,
    VIDA_DTYPE_I64 = 5
};

/* Memory layouts of 5-D tensor views; VIDA_LAYOUT_ANY for other ranks. */
enum {
    VIDA_LAYOUT_ANY = 0,
    VIDA_LAYOUT_NCTHW = 1, /* PyTorch's video layout: N, C, T, H, W */
    VIDA_LAYOUT_NTHWC = 2  /* channels last: N, T, H, W, C */
};

#define VIDA_MAX_DIMS 8

/*
 * A view of caller-owned memory: dense, row-major in the order of shape[].
 * The library never keeps the pointer after the call returns.
 */
typedef struct vida_tensor {
    void *data;
    int dtype;  /* VIDA_DTYPE_* */
    int layout; /* VIDA_LAYOUT_* */
    int ndim;
    int64_t shape[VIDA_MAX_DIMS];
} vida_tensor;

/* Fills *t as a dense float32 view of data with the given shape (ndim <= 8). */
VIDA_API void vida_tensor_f32(vida_tensor *t, float *data, int ndim, const int64_t *shape);

/* Number of elements of a view (product of its shape; 0 if ndim is invalid). */
VIDA_API int64_t vida_tensor_numel(const vida_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
