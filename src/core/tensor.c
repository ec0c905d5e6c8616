/* Tensor-view helpers (no dependencies, so that any part of the library may use them). */
#include <string.h>

#include "core/core.h"

void vida_tensor_f32(vida_tensor *t, float *data, int ndim, const int64_t *shape)
{
    int i;
    if (!t)
        return;
    memset(t, 0, sizeof *t);
    t->data = data;
    t->dtype = VIDA_DTYPE_F32;
    t->layout = ndim == 5 ? VIDA_LAYOUT_NCTHW : VIDA_LAYOUT_ANY;
    t->ndim = ndim < 0 ? 0 : ndim > VIDA_MAX_DIMS ? VIDA_MAX_DIMS : ndim;
    for (i = 0; i < t->ndim; i++)
        t->shape[i] = shape[i];
}

int64_t vida_tensor_numel(const vida_tensor *t)
{
    int64_t n = 1;
    int i;
    if (!t || t->ndim < 0 || t->ndim > VIDA_MAX_DIMS)
        return 0;
    for (i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 0 || (t->shape[i] != 0 && n > INT64_MAX / t->shape[i]))
            return 0;
        n *= t->shape[i];
    }
    return n;
}
