/*
 * Shared by the golden tests: the deterministic weight generator of
 * test/golden/README.md (identical to make_fixtures.py's), and rebuilding a
 * converted model file from its stored header plus generated/stored tensors.
 */
#ifndef VIDA_GOLDEN_UTIL_H
#define VIDA_GOLDEN_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vidaction.h>

#include "io/io.h"
#include "test.h"

static inline uint32_t gu_fnv1a32(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 16777619u;
    }
    return h;
}

static inline uint32_t gu_lowbias32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

/* u in [-1, 1): element j of the stream named by key (exact in float). */
static inline float gu_u(uint32_t key, uint64_t j)
{
    uint32_t h = gu_lowbias32((uint32_t)j * 0x9E3779B9u + key);
    return (float)(h >> 8) * (1.0f / 8388608.0f) - 1.0f;
}

static inline void gu_fill(const char *name, int ndim, const int64_t *shape, float *dst)
{
    const uint32_t key = gu_fnv1a32(name);
    int64_t numel = 1, fan_in = 1, j;
    float s;
    int i;
    for (i = 0; i < ndim; i++)
        numel *= shape[i];
    for (i = 1; i < ndim; i++)
        fan_in *= shape[i];
    s = ndim >= 2 ? (float)sqrt(3.0 / (double)fan_in) : 0.1f;
    for (j = 0; j < numel; j++)
        dst[j] = gu_u(key, (uint64_t)j) * s;
}


/*
 * Writes to out_path the model file whose header is header_path (the
 * converter's header bytes) with tensor data from fixture when present
 * there, else from the generator. Returns 0 on success.
 */
static inline int gu_rebuild_model(const char *header_path, const vidai_st_file *fixture,
                                   const char *out_path)
{
    size_t hsize = 0, total = 0, i;
    char *header = vt_read_file(header_path, &hsize);
    vidai_json *j = NULL;
    uint8_t *data = NULL;
    FILE *f = NULL;
    uint64_t n;
    int rc = -1;
    if (!header)
        return -1;
    if (vidai_json_parse(&j, header, hsize, header_path) != 0)
        goto out;
    for (i = 0; i < j->length; i++) {
        const vidai_json *off;
        if (strcmp(j->keys[i], "__metadata__") == 0)
            continue;
        off = vidai_json_get(j->items[i], "data_offsets");
        if (off && off->length == 2 && off->items[1]->uint_abs > total)
            total = (size_t)off->items[1]->uint_abs;
    }
    data = calloc(1, total ? total : 1);
    if (!data)
        goto out;
    for (i = 0; i < j->length; i++) {
        const vidai_json *e = j->items[i], *shp, *off, *dt;
        const vidai_st_tensor *t;
        int64_t shape[8];
        size_t k, b0, b1;
        if (strcmp(j->keys[i], "__metadata__") == 0)
            continue;
        shp = vidai_json_get(e, "shape");
        off = vidai_json_get(e, "data_offsets");
        dt = vidai_json_get(e, "dtype");
        b0 = (size_t)off->items[0]->uint_abs;
        b1 = (size_t)off->items[1]->uint_abs;
        t = vidai_st_find(fixture, j->keys[i]);
        if (t) {
            if (t->size != b1 - b0)
                goto out;
            memcpy(data + b0, t->data, t->size);
            continue;
        }
        if (strcmp(dt->string, "F32") != 0 || shp->length > 8)
            goto out;
        for (k = 0; k < shp->length; k++)
            shape[k] = (int64_t)shp->items[k]->uint_abs;
        {
            float *tmp = malloc(b1 - b0 ? b1 - b0 : 1);
            if (!tmp)
                goto out;
            gu_fill(j->keys[i], (int)shp->length, shape, tmp);
            memcpy(data + b0, tmp, b1 - b0);
            free(tmp);
        }
    }
    f = fopen(out_path, "wb");
    if (!f)
        goto out;
    n = hsize;
    if (fwrite(&n, 8, 1, f) != 1 || fwrite(header, 1, hsize, f) != hsize ||
        (total && fwrite(data, 1, total, f) != total))
        goto out;
    rc = 0;
out:
    if (f && fclose(f) != 0)
        rc = -1;
    free(data);
    vidai_json_free(j);
    free(header);
    return rc;
}

/* ||a - b|| / ||b|| in double. */
static inline double gu_rel_err(const float *a, const float *b, int64_t n)
{
    double num = 0, den = 0;
    int64_t i;
    for (i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

#endif
