/*
 * Backend helpers shared by every implementation of the op table: the
 * convolution/pooling size computation (PyTorch's floor semantics).
 */
#include "backend/backend.h"

/* One dimension: (in + 2*pad - k) / stride + 1, or -1 if the window never fits. */
static int64_t conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad)
{
    int64_t span = in + 2 * pad - k;
    if (span < 0)
        return -1;
    return span / stride + 1;
}

int vidai_conv_desc_init(vidai_conv_desc *d)
{
    int64_t to, ho, wo;
    if (!d)
        return vidai_error(VIDA_EINVAL, "conv: NULL descriptor");
    if (d->n < 1 || d->t < 1 || d->h < 1 || d->w < 1 || d->cin < 1)
        return vidai_error(VIDA_EINVAL, "conv: input size %dx%dx%dx%dx%d has a dimension < 1", d->n,
                           d->t, d->h, d->w, d->cin);
    if (d->cout < 1 || d->kt < 1 || d->kh < 1 || d->kw < 1)
        return vidai_error(VIDA_EINVAL, "conv: filter %dx%dx%dx%d has a dimension < 1", d->cout,
                           d->kt, d->kh, d->kw);
    if (d->st < 1 || d->sh < 1 || d->sw < 1)
        return vidai_error(VIDA_EINVAL, "conv: stride (%d,%d,%d) has a value < 1", d->st, d->sh,
                           d->sw);
    if (d->pt < 0 || d->ph < 0 || d->pw < 0)
        return vidai_error(VIDA_EINVAL, "conv: padding (%d,%d,%d) is negative", d->pt, d->ph,
                           d->pw);
    to = conv_out_size(d->t, d->kt, d->st, d->pt);
    ho = conv_out_size(d->h, d->kh, d->sh, d->ph);
    wo = conv_out_size(d->w, d->kw, d->sw, d->pw);
    if (to < 1 || ho < 1 || wo < 1)
        return vidai_error(VIDA_EINVAL,
                           "conv: kernel %dx%dx%d with padding (%d,%d,%d) does not fit input "
                           "%dx%dx%d (empty output)",
                           d->kt, d->kh, d->kw, d->pt, d->ph, d->pw, d->t, d->h, d->w);
    if (to > INT32_MAX || ho > INT32_MAX || wo > INT32_MAX)
        return vidai_error(VIDA_EINVAL, "conv: output size overflows");
    d->to = (int)to;
    d->ho = (int)ho;
    d->wo = (int)wo;
    return VIDA_OK;
}
