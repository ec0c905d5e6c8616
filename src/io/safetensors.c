/*
 * safetensors reader and writer (huggingface/safetensors README, "Format";
 * the reader's checks are those of safetensors/src/tensor.rs, read_metadata
 * and Metadata::validate, plus stricter ones; see reliability.md §A3).
 *
 * File: u64 little-endian header length N, N bytes of UTF-8 JSON starting
 * with '{' and padded with spaces only, then the data buffer. The reader
 * rejects: files under 8 bytes, N above 100,000,000 or past the file end,
 * invalid JSON (duplicate keys, bad UTF-8, ...), unknown dtypes and fields,
 * shapes that are not non-negative integers or whose byte size overflows,
 * offsets that do not tile the buffer exactly from 0 to its end (no gaps, no
 * overlaps, no trailing bytes) and byte ranges that disagree with
 * shape x dtype size. Every message starts with the file name and names the
 * tensor and the rule. The header is walked entry by entry (the JSON parser
 * only sees strings and numbers), so a hostile 100 MB header costs memory in
 * proportion to what it validly holds, not a tree of gigabytes.
 *
 * The writer lists tensors in the order added and lays their bytes out by
 * descending element size, as the reference writer does, so that each
 * tensor is aligned to its element size.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/io.h"

static const struct {
    const char *name;
    size_t size;
} st_dtypes[] = {
    [VIDAI_ST_BOOL] = {"BOOL", 1}, [VIDAI_ST_U8] = {"U8", 1},     [VIDAI_ST_I8] = {"I8", 1},
    [VIDAI_ST_I16] = {"I16", 2},   [VIDAI_ST_U16] = {"U16", 2},   [VIDAI_ST_F16] = {"F16", 2},
    [VIDAI_ST_BF16] = {"BF16", 2}, [VIDAI_ST_I32] = {"I32", 4},   [VIDAI_ST_U32] = {"U32", 4},
    [VIDAI_ST_F32] = {"F32", 4},   [VIDAI_ST_I64] = {"I64", 8},   [VIDAI_ST_U64] = {"U64", 8},
    [VIDAI_ST_F64] = {"F64", 8},
};

size_t vidai_st_dtype_size(int dtype)
{
    if (dtype < VIDAI_ST_BOOL || dtype > VIDAI_ST_F64)
        return 0;
    return st_dtypes[dtype].size;
}

const char *vidai_st_dtype_name(int dtype)
{
    if (dtype < VIDAI_ST_BOOL || dtype > VIDAI_ST_F64)
        return NULL;
    return st_dtypes[dtype].name;
}

static int dtype_from_name(const char *name)
{
    int d;
    for (d = VIDAI_ST_BOOL; d <= VIDAI_ST_F64; d++)
        if (strcmp(st_dtypes[d].name, name) == 0)
            return d;
    return 0;
}

/*
 * A name as shown in a message: at most about 80 bytes (cut at a UTF-8
 * boundary), control characters shown as '?'.
 */
#define NAME_CAP 88
static const char *shown(char *buf, const char *s)
{
    size_t n = 0, limit = NAME_CAP - 4;
    for (; s[n] && n < limit; n++) {
        unsigned char c = (unsigned char)s[n];
        buf[n] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    if (s[n]) {
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

static void format_shape(char *buf, size_t cap, const int64_t *shape, int ndim)
{
    size_t n = 0;
    int i;
    n += (size_t)snprintf(buf, cap, "[");
    for (i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%" PRId64, i ? "," : "", shape[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
}

/* Where a tensor's bytes lie in the data buffer, for the tiling check. */
typedef struct st_range {
    uint64_t begin, end;
    int index;
} st_range;

static int cmp_range(const void *a, const void *b)
{
    const st_range *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Grows *arr, an array of *cap elements of elem bytes, to hold need (doubling). */
static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    size_t new_cap = *cap ? *cap : 8, bytes;
    void *n;
    if (need <= *cap)
        return VIDA_OK;
    while (new_cap < need) {
        if (vidai_mul_size(&new_cap, new_cap, 2) != 0)
            return vidai_error(VIDA_ENOMEM, "safetensors: too many entries");
    }
    if (vidai_mul_size(&bytes, new_cap, elem) != 0)
        return vidai_error(VIDA_ENOMEM, "safetensors: too many entries");
    n = vidai_malloc(bytes);
    if (!n)
        return VIDA_ENOMEM;
    if (*cap)
        memcpy(n, *arr, *cap * elem);
    vidai_free(*arr);
    *arr = n;
    *cap = new_cap;
    return VIDA_OK;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A string that occurs twice among names[0, n), or NULL; sorts names (O(n log n)). */
static const char *find_duplicate(const char **names, size_t n)
{
    size_t i;
    if (n < 2)
        return NULL;
    qsort(names, n, sizeof *names, cmp_str_ptr);
    for (i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            return names[i];
    return NULL;
}

void vidai_st_free(vidai_st_file *f)
{
    int i;
    if (!f)
        return;
    for (i = 0; i < f->n_tensors; i++)
        vidai_free(f->tensors[i].name);
    vidai_free(f->tensors);
    /* One allocation: the key pointers, the value pointers, then the strings. */
    vidai_free(f->meta_keys);
    vidai_free(f->buf);
    vidai_free(f);
}

/* Rules 1-3: the length prefix and where the header lies. */
static int check_header_length(const char *what, const uint8_t *prefix, size_t size, size_t *n_out)
{
    uint64_t n = 0;
    size_t end;
    int i;
    if (size < 8)
        return vidai_error(VIDA_EFORMAT,
                           "%s: file is %zu bytes, shorter than the 8-byte header length", what,
                           size);
    for (i = 7; i >= 0; i--)
        n = n << 8 | prefix[i];
    if (n > VIDAI_ST_MAX_HEADER)
        return vidai_error(VIDA_EFORMAT,
                           "%s: header length %" PRIu64 " exceeds the limit of %u bytes", what, n,
                           VIDAI_ST_MAX_HEADER);
    if (vidai_add_size(&end, (size_t)n, 8) != 0 || end > size)
        return vidai_error(VIDA_EFORMAT,
                           "%s: header length %" PRIu64 " runs past the end of the file (%zu bytes)",
                           what, n, size);
    if (n == 0)
        return vidai_error(VIDA_EFORMAT,
                           "%s: header length is 0; the header must be a JSON object", what);
    *n_out = (size_t)n;
    return VIDA_OK;
}

/*
 * The header is walked here rather than parsed into a tree first: a tree of
 * a hostile 100 MB header ("[0,0,0,...]") would take gigabytes. The walk
 * only ever hands the JSON parser a string or a number, checks each entry as
 * soon as it ends, and keeps what it accepts compactly.
 */
typedef struct st_reader {
    const char *s; /* the header text */
    size_t len, pos;
    const char *what;     /* the file name */
    char json_what[512]; /* "<file>: header", as JSON syntax errors name it */
    vidai_st_file *f;
    size_t data_size;
    size_t cap_tensors, cap_ranges;
    st_range *ranges;
    char *pool; /* metadata strings, each NUL-terminated, back to back */
    size_t pool_len, pool_cap;
    size_t *meta_offsets; /* key and value offsets in pool, 2 per entry */
    size_t n_meta, cap_meta_offsets;
} st_reader;

static int rd_peek(st_reader *r)
{
    while (r->pos < r->len) {
        char c = r->s[r->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return (unsigned char)c;
        r->pos++;
    }
    return -1;
}

/* A JSON syntax error at the cursor, worded as the JSON parser words them. */
static int rd_syntax(st_reader *r, const char *expected)
{
    int c = rd_peek(r);
    if (c < 0)
        return vidai_error(VIDA_EFORMAT, "%s: JSON: unexpected end of input, expected %s at byte %zu",
                           r->json_what, expected, r->pos);
    if (c > 0x20 && c < 0x7f)
        return vidai_error(VIDA_EFORMAT,
                           "%s: JSON: unexpected character '%c', expected %s at byte %zu",
                           r->json_what, c, expected, r->pos);
    return vidai_error(VIDA_EFORMAT, "%s: JSON: unexpected byte 0x%02x, expected %s at byte %zu",
                       r->json_what, (unsigned)c, expected, r->pos);
}

/* Whether c (or -1 at the end) can begin a JSON value; if not, the error is one of syntax. */
static int starts_value(int c)
{
    return c > 0 && strchr("{[\"-0123456789tfn", c) != NULL;
}

/* After a member or element: *more = 1 after ',', 0 after close. */
static int rd_next(st_reader *r, char close, int *more)
{
    int c = rd_peek(r);
    if (c == ',' || c == close) {
        r->pos++;
        *more = c == ',';
        return VIDA_OK;
    }
    return rd_syntax(r, close == '}' ? "',' or '}'" : "',' or ']'");
}

/* The string at the cursor (which is at '"'), decoded and owned by the caller. */
static int rd_string(st_reader *r, char **out)
{
    vidai_json *v = NULL;
    int rc = vidai_json_parse_at(&v, r->s, r->len, &r->pos, r->json_what);
    if (rc != VIDA_OK)
        return rc;
    *out = v->string;
    v->string = NULL;
    vidai_json_free(v);
    return VIDA_OK;
}

/* A member's key and the ':' after it. */
static int rd_key(st_reader *r, char **key)
{
    int rc;
    *key = NULL;
    if (rd_peek(r) != '"')
        return rd_syntax(r, "a string key");
    rc = rd_string(r, key);
    if (rc != VIDA_OK)
        return rc;
    if (rd_peek(r) != ':') {
        vidai_free(*key);
        *key = NULL;
        return rd_syntax(r, "':'");
    }
    r->pos++;
    return VIDA_OK;
}

enum { ARRAY_OK, ARRAY_TOO_LONG, ARRAY_NOT_UINT };

/*
 * An array (the cursor is at '[') of at most max non-negative integers.
 * *status says whether it was one; *n is the count read (the index of the
 * element at fault for ARRAY_NOT_UINT). The return code is for JSON errors.
 */
static int rd_uint_array(st_reader *r, uint64_t *vals, int max, int *n, int *status)
{
    int more = 1, rc;
    *n = 0;
    *status = ARRAY_OK;
    r->pos++;
    if (rd_peek(r) == ']') {
        r->pos++;
        return VIDA_OK;
    }
    while (more) {
        vidai_json *v = NULL;
        int c = rd_peek(r);
        if (c != '-' && (c < '0' || c > '9')) {
            *status = ARRAY_NOT_UINT;
            return !starts_value(c) ? rd_syntax(r, "a value") : VIDA_OK;
        }
        rc = vidai_json_parse_at(&v, r->s, r->len, &r->pos, r->json_what);
        if (rc != VIDA_OK)
            return rc;
        if (!v->is_integer || v->negative) {
            vidai_json_free(v);
            *status = ARRAY_NOT_UINT;
            return VIDA_OK;
        }
        if (*n == max) {
            vidai_json_free(v);
            *status = ARRAY_TOO_LONG;
            return VIDA_OK;
        }
        vals[(*n)++] = v->uint_abs;
        vidai_json_free(v);
        rc = rd_next(r, ']', &more);
        if (rc != VIDA_OK)
            return rc;
    }
    return VIDA_OK;
}

static int rd_metadata(st_reader *r)
{
    int c = rd_peek(r), more = 1, rc = VIDA_OK;
    char nm[NAME_CAP];
    if (c != '{')
        return !starts_value(c) ? rd_syntax(r, "a value")
                     : vidai_error(VIDA_EFORMAT,
                                   "%s: __metadata__ is not an object (it must map strings to "
                                   "strings)",
                                   r->what);
    r->pos++;
    if (rd_peek(r) == '}') {
        r->pos++;
        return VIDA_OK;
    }
    while (more) {
        char *key = NULL, *value = NULL;
        size_t kn, vn, need;
        rc = rd_key(r, &key);
        if (rc != VIDA_OK)
            return rc;
        c = rd_peek(r);
        if (c != '"') {
            rc = !starts_value(c) ? rd_syntax(r, "a value")
                       : vidai_error(VIDA_EFORMAT,
                                     "%s: __metadata__ value of '%s' is not a string (only "
                                     "string values are allowed)",
                                     r->what, shown(nm, key));
            vidai_free(key);
            return rc;
        }
        rc = rd_string(r, &value);
        kn = strlen(key) + 1;
        vn = value ? strlen(value) + 1 : 0;
        need = r->pool_len + kn + vn;
        if (rc == VIDA_OK)
            rc = grow((void **)&r->pool, &r->pool_cap, need, 1);
        if (rc == VIDA_OK)
            rc = grow((void **)&r->meta_offsets, &r->cap_meta_offsets, 2 * r->n_meta + 2,
                      sizeof *r->meta_offsets);
        if (rc == VIDA_OK) {
            r->meta_offsets[2 * r->n_meta] = r->pool_len;
            r->meta_offsets[2 * r->n_meta + 1] = r->pool_len + kn;
            memcpy(r->pool + r->pool_len, key, kn);
            memcpy(r->pool + r->pool_len + kn, value, vn);
            r->pool_len = need;
            r->n_meta++;
        }
        vidai_free(key);
        vidai_free(value);
        if (rc == VIDA_OK)
            rc = rd_next(r, '}', &more);
        if (rc != VIDA_OK)
            return rc;
    }
    return VIDA_OK;
}

/* The metadata as one allocation (pointers, then strings), with duplicates rejected. */
static int finish_metadata(st_reader *r)
{
    vidai_st_file *f = r->f;
    const char **sorted, *dup;
    char nm[NAME_CAP];
    size_t ptrs, total, i;
    char *strings;
    if (r->n_meta == 0)
        return VIDA_OK;
    if (r->n_meta > INT32_MAX)
        return vidai_error(VIDA_EFORMAT, "%s: __metadata__ has too many entries", r->what);
    if (vidai_mul_size(&ptrs, 2 * r->n_meta, sizeof(char *)) != 0 ||
        vidai_add_size(&total, ptrs, r->pool_len) != 0)
        return vidai_error(VIDA_ENOMEM, "%s: __metadata__ too large", r->what);
    f->meta_keys = vidai_malloc(total);
    if (!f->meta_keys)
        return VIDA_ENOMEM;
    f->meta_values = f->meta_keys + r->n_meta;
    strings = (char *)(f->meta_values + r->n_meta);
    memcpy(strings, r->pool, r->pool_len);
    for (i = 0; i < r->n_meta; i++) {
        f->meta_keys[i] = strings + r->meta_offsets[2 * i];
        f->meta_values[i] = strings + r->meta_offsets[2 * i + 1];
    }
    f->n_meta = (int)r->n_meta;
    sorted = vidai_calloc(r->n_meta, sizeof *sorted);
    if (!sorted)
        return VIDA_ENOMEM;
    memcpy(sorted, f->meta_keys, r->n_meta * sizeof *sorted);
    dup = find_duplicate(sorted, r->n_meta);
    if (dup)
        vidai_error(VIDA_EFORMAT, "%s: __metadata__: duplicate key '%s'", r->what, shown(nm, dup));
    vidai_free(sorted);
    return dup ? VIDA_EFORMAT : VIDA_OK;
}

/* One tensor entry: its fields, then its dtype, shape and byte range (rules 5-6 for itself). */
static int rd_tensor_entry(st_reader *r, vidai_st_tensor *t, st_range *range, const char *name)
{
    char nm[NAME_CAP], fld[NAME_CAP], shp[200];
    char *dtype = NULL;
    uint64_t dims[VIDAI_ST_MAX_DIMS], offs[2];
    int have_shape = 0, have_offs = 0, n_offs = 0, more = 1, c, i, rc, status = ARRAY_OK;
    size_t numel = 1, bytes;
    uint64_t begin, end;

    shown(nm, name);
    c = rd_peek(r);
    if (c != '{')
        return !starts_value(c) ? rd_syntax(r, "a value")
                     : vidai_error(VIDA_EFORMAT, "%s: tensor '%s': entry is not an object",
                                   r->what, nm);
    r->pos++;
    if (rd_peek(r) == '}') {
        r->pos++;
        more = 0;
    }
    rc = VIDA_OK;
    while (more && rc == VIDA_OK) {
        char *field = NULL;
        rc = rd_key(r, &field);
        if (rc != VIDA_OK)
            break;
        c = rd_peek(r);
        if (strcmp(field, "dtype") == 0 && !dtype) {
            if (c == '"')
                rc = rd_string(r, &dtype);
            else
                rc = !starts_value(c) ? rd_syntax(r, "a value")
                           : vidai_error(VIDA_EFORMAT, "%s: tensor '%s': dtype is not a string",
                                         r->what, nm);
        } else if (strcmp(field, "shape") == 0 && !have_shape) {
            have_shape = 1;
            status = ARRAY_OK;
            if (c == '[')
                rc = rd_uint_array(r, dims, VIDAI_ST_MAX_DIMS, &t->ndim, &status);
            else
                rc = !starts_value(c) ? rd_syntax(r, "a value")
                           : vidai_error(VIDA_EFORMAT, "%s: tensor '%s': shape is not an array",
                                         r->what, nm);
            if (rc == VIDA_OK && status == ARRAY_TOO_LONG)
                rc = vidai_error(VIDA_EFORMAT,
                                 "%s: tensor '%s': shape has more than %d dims, the most "
                                 "supported",
                                 r->what, nm, VIDAI_ST_MAX_DIMS);
            if (rc == VIDA_OK) {
                int bad = status == ARRAY_NOT_UINT ? t->ndim : -1;
                for (i = 0; bad < 0 && i < t->ndim; i++)
                    if (dims[i] > INT64_MAX)
                        bad = i;
                if (bad >= 0)
                    rc = vidai_error(VIDA_EFORMAT,
                                     "%s: tensor '%s': shape dim %d is not a non-negative "
                                     "integer below 2^63",
                                     r->what, nm, bad);
            }
        } else if (strcmp(field, "data_offsets") == 0 && !have_offs) {
            have_offs = 1;
            status = ARRAY_NOT_UINT;
            if (c == '[')
                rc = rd_uint_array(r, offs, 2, &n_offs, &status);
            else if (!starts_value(c))
                rc = rd_syntax(r, "a value");
            if (rc == VIDA_OK && (status != ARRAY_OK || n_offs != 2))
                rc = vidai_error(VIDA_EFORMAT,
                                 "%s: tensor '%s': data_offsets is not a pair of non-negative "
                                 "integers",
                                 r->what, nm);
        } else if (strcmp(field, "dtype") == 0 || strcmp(field, "shape") == 0 ||
                   strcmp(field, "data_offsets") == 0) {
            rc = vidai_error(VIDA_EFORMAT, "%s: tensor '%s': duplicate field '%s'", r->what, nm,
                             field);
        } else {
            rc = vidai_error(VIDA_EFORMAT,
                             "%s: tensor '%s': unknown field '%s' (allowed: dtype, shape, "
                             "data_offsets)",
                             r->what, nm, shown(fld, field));
        }
        vidai_free(field);
        if (rc == VIDA_OK)
            rc = rd_next(r, '}', &more);
    }
    if (rc == VIDA_OK && (!dtype || !have_shape || !have_offs))
        rc = vidai_error(VIDA_EFORMAT, "%s: tensor '%s': missing field '%s'", r->what, nm,
                         !dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
    if (rc == VIDA_OK) {
        t->dtype = dtype_from_name(dtype);
        if (!t->dtype)
            rc = vidai_error(VIDA_EFORMAT, "%s: tensor '%s': unknown dtype '%s'", r->what, nm,
                             shown(fld, dtype));
    }
    vidai_free(dtype);
    if (rc != VIDA_OK)
        return rc;

    for (i = 0; i < t->ndim; i++)
        t->shape[i] = (int64_t)dims[i];
    format_shape(shp, sizeof shp, t->shape, t->ndim);
    for (i = 0; i < t->ndim; i++) {
        if (vidai_mul_size(&numel, numel, (size_t)t->shape[i]) != 0 || numel > INT64_MAX)
            return vidai_error(VIDA_EFORMAT, "%s: tensor '%s': shape %s: element count overflows",
                               r->what, nm, shp);
    }
    if (vidai_mul_size(&bytes, numel, vidai_st_dtype_size(t->dtype)) != 0)
        return vidai_error(VIDA_EFORMAT, "%s: tensor '%s': shape %s %s: byte size overflows",
                           r->what, nm, shp, st_dtypes[t->dtype].name);
    t->numel = (int64_t)numel;
    t->size = bytes;

    begin = offs[0];
    end = offs[1];
    if (begin > end)
        return vidai_error(VIDA_EFORMAT,
                           "%s: tensor '%s': data_offsets [%" PRIu64 ",%" PRIu64
                           ") begin after end",
                           r->what, nm, begin, end);
    if (end > r->data_size)
        return vidai_error(VIDA_EFORMAT,
                           "%s: tensor '%s': data_offsets end %" PRIu64
                           " is past the end of the data buffer (%zu bytes)",
                           r->what, nm, end, r->data_size);
    if (end - begin != bytes)
        return vidai_error(VIDA_EFORMAT,
                           "%s: tensor '%s': data_offsets [%" PRIu64 ",%" PRIu64 ") hold %" PRIu64
                           " bytes, shape %s %s needs %zu",
                           r->what, nm, begin, end, end - begin, shp, st_dtypes[t->dtype].name,
                           bytes);
    range->begin = begin;
    range->end = end;
    return VIDA_OK;
}

/* Takes ownership of name. */
static int rd_tensor(st_reader *r, char *name)
{
    vidai_st_file *f = r->f;
    size_t n = (size_t)f->n_tensors;
    int rc;
    if (f->n_tensors == INT32_MAX) {
        vidai_free(name);
        return vidai_error(VIDA_EFORMAT, "%s: header has too many tensors", r->what);
    }
    rc = grow((void **)&f->tensors, &r->cap_tensors, n + 1, sizeof *f->tensors);
    if (rc == VIDA_OK)
        rc = grow((void **)&r->ranges, &r->cap_ranges, n + 1, sizeof *r->ranges);
    if (rc == VIDA_OK) {
        memset(&f->tensors[n], 0, sizeof f->tensors[n]);
        rc = rd_tensor_entry(r, &f->tensors[n], &r->ranges[n], name);
    }
    if (rc != VIDA_OK) {
        vidai_free(name);
        return rc;
    }
    f->tensors[n].name = name;
    r->ranges[n].index = f->n_tensors;
    f->n_tensors++;
    return VIDA_OK;
}

/* The root object, up to its closing brace. */
static int rd_root(st_reader *r)
{
    int more = 1, seen_meta = 0, rc;
    r->pos = 1; /* the '{', checked by the caller */
    if (rd_peek(r) == '}') {
        r->pos++;
        return VIDA_OK;
    }
    while (more) {
        char *key = NULL;
        rc = rd_key(r, &key);
        if (rc != VIDA_OK)
            return rc;
        if (strcmp(key, "__metadata__") == 0) {
            vidai_free(key);
            if (seen_meta)
                return vidai_error(VIDA_EFORMAT, "%s: duplicate key '__metadata__'", r->what);
            seen_meta = 1;
            rc = rd_metadata(r);
        } else {
            rc = rd_tensor(r, key);
        }
        if (rc == VIDA_OK)
            rc = rd_next(r, '}', &more);
        if (rc != VIDA_OK)
            return rc;
    }
    return VIDA_OK;
}

/* Rules 5 and 7: sorted by begin, the ranges tile [0, data_size) exactly. */
static int check_tiling(const vidai_st_file *f, st_range *ranges, size_t data_size,
                        const char *what)
{
    char nm[NAME_CAP], prev_nm[NAME_CAP];
    uint64_t prev_end = 0;
    int i, prev = -1;
    if (f->n_tensors > 1)
        qsort(ranges, (size_t)f->n_tensors, sizeof *ranges, cmp_range);
    for (i = 0; i < f->n_tensors; i++) {
        const st_range *r = &ranges[i];
        const char *name = f->tensors[r->index].name;
        if (r->begin > prev_end) {
            if (prev < 0)
                return vidai_error(VIDA_EFORMAT,
                                   "%s: tensor '%s': data_offsets [%" PRIu64 ",%" PRIu64
                                   ") leave a gap: the first tensor must start at offset 0",
                                   what, shown(nm, name), r->begin, r->end);
            return vidai_error(VIDA_EFORMAT,
                               "%s: tensor '%s': data_offsets [%" PRIu64 ",%" PRIu64
                               ") leave a gap of %" PRIu64 " bytes after tensor '%s'",
                               what, shown(nm, name), r->begin, r->end, r->begin - prev_end,
                               shown(prev_nm, f->tensors[prev].name));
        }
        if (r->begin < prev_end)
            return vidai_error(VIDA_EFORMAT,
                               "%s: tensor '%s': data_offsets [%" PRIu64 ",%" PRIu64
                               ") overlap tensor '%s', which ends at offset %" PRIu64,
                               what, shown(nm, name), r->begin, r->end,
                               shown(prev_nm, f->tensors[prev].name), prev_end);
        prev_end = r->end;
        prev = r->index;
    }
    if (prev_end != data_size)
        return vidai_error(VIDA_EFORMAT,
                           "%s: %" PRIu64 " trailing bytes after the last tensor's data (ends at "
                           "offset %" PRIu64 " of a %zu-byte data buffer)",
                           what, (uint64_t)data_size - prev_end, prev_end, data_size);
    return VIDA_OK;
}

/* Parses buf[0, size), taking ownership of buf whatever the outcome. */
static int st_parse_owned(vidai_st_file **out, uint8_t *buf, size_t size, const char *what)
{
    st_reader r;
    const char **names = NULL, *dup = NULL;
    char nm[NAME_CAP];
    size_t n = 0, i;
    int rc, k;

    rc = check_header_length(what, buf, size, &n);
    if (rc != VIDA_OK) {
        vidai_free(buf);
        return rc;
    }
    memset(&r, 0, sizeof r);
    r.f = vidai_calloc(1, sizeof *r.f);
    if (!r.f) {
        vidai_free(buf);
        return VIDA_ENOMEM;
    }
    r.f->buf = buf;
    r.f->buf_size = size;
    r.s = (const char *)buf + 8;
    r.len = n;
    r.what = what;
    r.data_size = size - 8 - n;
    snprintf(r.json_what, sizeof r.json_what, "%s: header", what);

    if (buf[8] != '{') {
        rc = vidai_error(VIDA_EFORMAT,
                         "%s: header does not start with '{' (first byte is 0x%02x)", what,
                         buf[8]);
        goto done;
    }
    rc = rd_root(&r);
    if (rc != VIDA_OK)
        goto done;
    for (i = r.pos; i < n; i++) {
        if (buf[8 + i] != ' ') {
            rc = vidai_error(VIDA_EFORMAT,
                             "%s: header byte %zu after the JSON object is 0x%02x; the header "
                             "may only be padded with spaces (0x20)",
                             what, i, buf[8 + i]);
            goto done;
        }
    }
    rc = finish_metadata(&r);
    if (rc != VIDA_OK)
        goto done;
    if (r.f->n_tensors > 1) {
        names = vidai_calloc((size_t)r.f->n_tensors, sizeof *names);
        if (!names) {
            rc = VIDA_ENOMEM;
            goto done;
        }
        for (k = 0; k < r.f->n_tensors; k++)
            names[k] = r.f->tensors[k].name;
        dup = find_duplicate(names, (size_t)r.f->n_tensors);
        if (dup) {
            rc = vidai_error(VIDA_EFORMAT, "%s: duplicate tensor '%s'", what, shown(nm, dup));
            goto done;
        }
    }
    rc = check_tiling(r.f, r.ranges, r.data_size, what);
    if (rc != VIDA_OK)
        goto done;
    for (k = 0; k < r.f->n_tensors; k++)
        r.f->tensors[r.ranges[k].index].data = buf + 8 + n + r.ranges[k].begin;

done:
    vidai_free(names);
    vidai_free(r.ranges);
    vidai_free(r.pool);
    vidai_free(r.meta_offsets);
    if (rc != VIDA_OK) {
        vidai_st_free(r.f);
        return rc;
    }
    *out = r.f;
    return VIDA_OK;
}

int vidai_st_parse(vidai_st_file **out, const uint8_t *bytes, size_t size, const char *what)
{
    uint8_t *buf;
    if (!out || (!bytes && size))
        return vidai_error(VIDA_EINVAL, "vidai_st_parse: NULL argument");
    *out = NULL;
    if (!what)
        what = "safetensors";
    buf = vidai_malloc(size);
    if (!buf)
        return VIDA_ENOMEM;
    if (size)
        memcpy(buf, bytes, size);
    return st_parse_owned(out, buf, size, what);
}

int vidai_st_read(vidai_st_file **out, const char *path)
{
    FILE *fp;
    struct stat st;
    uint8_t *buf = NULL;
    size_t size, got = 0, header_size;
    int rc;

    if (!out || !path)
        return vidai_error(VIDA_EINVAL, "vidai_st_read: NULL argument");
    *out = NULL;
    fp = fopen(path, "rbe");
    if (!fp)
        return vidai_error(VIDA_EIO, "%s: open: %s", path, strerror(errno));
    if (fstat(fileno(fp), &st) != 0) {
        rc = vidai_error(VIDA_EIO, "%s: stat: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = vidai_error(VIDA_EIO, "%s: not a regular file", path);
        goto out;
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > SIZE_MAX) {
        rc = vidai_error(VIDA_ENOMEM, "%s: file too large to read", path);
        goto out;
    }
    size = (size_t)st.st_size;
    buf = vidai_malloc(size);
    if (!buf) {
        rc = vidai_error_prefix(VIDA_ENOMEM, "%s: ", path);
        goto out;
    }
    /* Reject a bad length prefix before reading what may be gigabytes. */
    if (size >= 8) {
        got = fread(buf, 1, 8, fp);
        if (got == 8) {
            rc = check_header_length(path, buf, size, &header_size);
            if (rc != VIDA_OK)
                goto out;
        }
    }
    while (got < size) {
        size_t k = fread(buf + got, 1, size - got, fp);
        if (k == 0)
            break;
        got += k;
    }
    if (got < size) {
        if (ferror(fp))
            rc = vidai_error(VIDA_EIO, "%s: read: %s", path, strerror(errno));
        else
            rc = vidai_error(VIDA_EIO, "%s: short read: %zu of %zu bytes (file changed?)", path,
                             got, size);
        goto out;
    }
    fclose(fp);
    return st_parse_owned(out, buf, size, path);

out:
    vidai_free(buf);
    fclose(fp);
    return rc;
}

const vidai_st_tensor *vidai_st_find(const vidai_st_file *f, const char *name)
{
    int i;
    if (!f || !name)
        return NULL;
    for (i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

const char *vidai_st_meta(const vidai_st_file *f, const char *key)
{
    int i;
    if (!f || !key)
        return NULL;
    for (i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0)
            return f->meta_values[i];
    return NULL;
}

/* ---- writer ---------------------------------------------------------------- */

typedef struct st_entry {
    char *name;
    int dtype;
    int ndim;
    int64_t shape[VIDAI_ST_MAX_DIMS];
    const void *data;
    size_t size;
    size_t offset; /* in the data buffer, set by vidai_st_writer_write */
} st_entry;

struct vidai_st_writer {
    st_entry *entries;
    int n_entries;
    size_t cap_entries;
    char **meta_keys, **meta_values;
    int n_meta;
    size_t cap_meta_keys, cap_meta_values;
};

int vidai_st_writer_create(vidai_st_writer **out)
{
    if (!out)
        return vidai_error(VIDA_EINVAL, "vidai_st_writer_create: out is NULL");
    *out = vidai_calloc(1, sizeof **out);
    return *out ? VIDA_OK : VIDA_ENOMEM;
}

void vidai_st_writer_free(vidai_st_writer *w)
{
    int i;
    if (!w)
        return;
    for (i = 0; i < w->n_entries; i++)
        vidai_free(w->entries[i].name);
    for (i = 0; i < w->n_meta; i++) {
        vidai_free(w->meta_keys[i]);
        vidai_free(w->meta_values[i]);
    }
    vidai_free(w->entries);
    vidai_free(w->meta_keys);
    vidai_free(w->meta_values);
    vidai_free(w);
}

int vidai_st_writer_add(vidai_st_writer *w, const char *name, int dtype, int ndim,
                        const int64_t *shape, const void *data)
{
    st_entry *e;
    char nm[NAME_CAP];
    size_t numel = 1, bytes;
    int i, rc;

    if (!w || !name)
        return vidai_error(VIDA_EINVAL, "safetensors writer: NULL argument");
    shown(nm, name);
    if (!vidai_utf8_valid(name, strlen(name)))
        return vidai_error(VIDA_EINVAL, "safetensors writer: tensor '%s': name is not UTF-8", nm);
    if (strcmp(name, "__metadata__") == 0)
        return vidai_error(VIDA_EINVAL, "safetensors writer: '__metadata__' is not a tensor name");
    if (!vidai_st_dtype_size(dtype))
        return vidai_error(VIDA_EINVAL, "safetensors writer: tensor '%s': unknown dtype %d", nm,
                           dtype);
    if (ndim < 0 || ndim > VIDAI_ST_MAX_DIMS || (ndim > 0 && !shape))
        return vidai_error(VIDA_EINVAL, "safetensors writer: tensor '%s': invalid ndim %d", nm,
                           ndim);
    for (i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return vidai_error(VIDA_EINVAL,
                               "safetensors writer: tensor '%s': negative dim %" PRId64, nm,
                               shape[i]);
        if (vidai_mul_size(&numel, numel, (size_t)shape[i]) != 0 || numel > INT64_MAX)
            return vidai_error(VIDA_EINVAL, "safetensors writer: tensor '%s': shape overflows",
                               nm);
    }
    if (vidai_mul_size(&bytes, numel, vidai_st_dtype_size(dtype)) != 0)
        return vidai_error(VIDA_EINVAL, "safetensors writer: tensor '%s': byte size overflows",
                           nm);
    if (bytes && !data)
        return vidai_error(VIDA_EINVAL, "safetensors writer: tensor '%s': data is NULL", nm);
    for (i = 0; i < w->n_entries; i++)
        if (strcmp(w->entries[i].name, name) == 0)
            return vidai_error(VIDA_EINVAL, "safetensors writer: duplicate tensor '%s'", nm);

    if (w->n_entries == INT32_MAX)
        return vidai_error(VIDA_ENOMEM, "safetensors writer: too many tensors");
    rc = grow((void **)&w->entries, &w->cap_entries, (size_t)w->n_entries + 1,
              sizeof *w->entries);
    if (rc != VIDA_OK)
        return rc;
    e = &w->entries[w->n_entries];
    memset(e, 0, sizeof *e);
    e->name = vidai_strdup(name);
    if (!e->name)
        return VIDA_ENOMEM;
    e->dtype = dtype;
    e->ndim = ndim;
    for (i = 0; i < ndim; i++)
        e->shape[i] = shape[i];
    e->data = data;
    e->size = bytes;
    w->n_entries++;
    return VIDA_OK;
}

/* Sets key to value; a key set again gets the new value. */
int vidai_st_writer_meta(vidai_st_writer *w, const char *key, const char *value)
{
    char *k, *v;
    int i, rc;
    if (!w || !key || !value)
        return vidai_error(VIDA_EINVAL, "safetensors writer: NULL argument");
    if (!vidai_utf8_valid(key, strlen(key)) || !vidai_utf8_valid(value, strlen(value)))
        return vidai_error(VIDA_EINVAL, "safetensors writer: metadata is not UTF-8");
    v = vidai_strdup(value);
    if (!v)
        return VIDA_ENOMEM;
    for (i = 0; i < w->n_meta; i++) {
        if (strcmp(w->meta_keys[i], key) == 0) {
            vidai_free(w->meta_values[i]);
            w->meta_values[i] = v;
            return VIDA_OK;
        }
    }
    rc = w->n_meta == INT32_MAX ? vidai_error(VIDA_ENOMEM, "safetensors writer: too much metadata")
                                : VIDA_OK;
    if (rc == VIDA_OK)
        rc = grow((void **)&w->meta_keys, &w->cap_meta_keys, (size_t)w->n_meta + 1,
                  sizeof *w->meta_keys);
    if (rc == VIDA_OK)
        rc = grow((void **)&w->meta_values, &w->cap_meta_values, (size_t)w->n_meta + 1,
                  sizeof *w->meta_values);
    k = rc == VIDA_OK ? vidai_strdup(key) : NULL;
    if (!k) {
        vidai_free(v);
        return VIDA_ENOMEM;
    }
    w->meta_keys[w->n_meta] = k;
    w->meta_values[w->n_meta] = v;
    w->n_meta++;
    return VIDA_OK;
}

typedef struct st_fill_ctx {
    const vidai_st_writer *w;
    const char *header;
    size_t header_len;
    size_t padded_len;
} st_fill_ctx;

static int st_fill(void *arg, FILE *f)
{
    const st_fill_ctx *c = arg;
    uint8_t len8[8];
    uint64_t n = c->padded_len;
    size_t i;
    int k;
    for (i = 0; i < 8; i++)
        len8[i] = (uint8_t)(n >> (8 * i));
    if (fwrite(len8, 1, 8, f) != 8 || fwrite(c->header, 1, c->header_len, f) != c->header_len)
        return vidai_error(VIDA_EIO, "write header: %s", strerror(errno));
    for (i = c->header_len; i < c->padded_len; i++)
        if (fputc(' ', f) == EOF)
            return vidai_error(VIDA_EIO, "write header: %s", strerror(errno));
    for (i = 8; i >= 1; i /= 2) {
        for (k = 0; k < c->w->n_entries; k++) {
            const st_entry *e = &c->w->entries[k];
            if (vidai_st_dtype_size(e->dtype) != i || e->size == 0)
                continue;
            if (fwrite(e->data, 1, e->size, f) != e->size)
                return vidai_error(VIDA_EIO, "write tensor '%s': %s", e->name, strerror(errno));
        }
    }
    return VIDA_OK;
}

int vidai_st_writer_write(vidai_st_writer *w, const char *path)
{
    char *header = NULL;
    size_t header_len = 0, offset = 0, elem;
    st_fill_ctx ctx;
    FILE *mem;
    int i, j, rc;

    if (!w || !path)
        return vidai_error(VIDA_EINVAL, "vidai_st_writer_write: NULL argument");
    /*
     * The data is laid out by descending element size (8, 4, 2, 1 bytes),
     * in the order added within a size, as the reference writer does: with
     * 8 + N a multiple of 8, every tensor then starts at a multiple of its
     * element size. The header lists the tensors in the order added.
     */
    for (elem = 8; elem >= 1; elem /= 2) {
        for (i = 0; i < w->n_entries; i++) {
            st_entry *e = &w->entries[i];
            if (vidai_st_dtype_size(e->dtype) != elem)
                continue;
            e->offset = offset;
            if (vidai_add_size(&offset, offset, e->size) != 0)
                return vidai_error(VIDA_ENOMEM, "%s: data size overflows", path);
        }
    }
    mem = open_memstream(&header, &header_len);
    if (!mem)
        return vidai_error(VIDA_ENOMEM, "%s: building the header: %s", path, strerror(errno));
    fputc('{', mem);
    if (w->n_meta) {
        fputs("\"__metadata__\":{", mem);
        for (i = 0; i < w->n_meta; i++) {
            if (i)
                fputc(',', mem);
            vidai_json_write_string(mem, w->meta_keys[i]);
            fputc(':', mem);
            vidai_json_write_string(mem, w->meta_values[i]);
        }
        fputc('}', mem);
    }
    for (i = 0; i < w->n_entries; i++) {
        const st_entry *e = &w->entries[i];
        if (i || w->n_meta)
            fputc(',', mem);
        vidai_json_write_string(mem, e->name);
        fprintf(mem, ":{\"dtype\":\"%s\",\"shape\":[", st_dtypes[e->dtype].name);
        for (j = 0; j < e->ndim; j++)
            fprintf(mem, "%s%" PRId64, j ? "," : "", e->shape[j]);
        fprintf(mem, "],\"data_offsets\":[%zu,%zu]}", e->offset, e->offset + e->size);
    }
    fputc('}', mem);
    if (ferror(mem) || fclose(mem) != 0) {
        free(header);
        return vidai_error(VIDA_ENOMEM, "%s: building the header failed", path);
    }

    ctx.w = w;
    ctx.header = header;
    ctx.header_len = header_len;
    ctx.padded_len = (header_len + 7) / 8 * 8; /* 8 + N a multiple of 8 */
    if (ctx.padded_len > VIDAI_ST_MAX_HEADER) {
        free(header);
        return vidai_error(VIDA_ENOMEM, "%s: header of %zu bytes exceeds the limit of %u bytes",
                           path, ctx.padded_len, VIDAI_ST_MAX_HEADER);
    }
    rc = vidai_atomic_write(path, st_fill, &ctx);
    free(header);
    return rc;
}
