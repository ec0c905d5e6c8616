/*
 * Internal I/O: a strict safetensors reader and an atomic writer, a small
 * JSON parser, and atomic file replacement.
 *
 * safetensors (huggingface/safetensors, "Format"): u64 little-endian header
 * length N, N bytes of UTF-8 JSON starting with '{' (trailing spaces allowed),
 * then the byte buffer. Each tensor: {"dtype", "shape", "data_offsets":
 * [begin, end)} relative to the buffer; optional "__metadata__" string map.
 * The reader enforces every rule of the reference implementation and more:
 * header size cap, checked arithmetic, no duplicate keys, offsets contiguous
 * from 0 with no gaps or overlaps, byte size == numel * dtype size, no
 * trailing bytes. Errors name the file and the tensor.
 */
#ifndef VIDAI_IO_H
#define VIDAI_IO_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "core/core.h"

/* safetensors dtypes */
enum {
    VIDAI_ST_BOOL = 1,
    VIDAI_ST_U8,
    VIDAI_ST_I8,
    VIDAI_ST_I16,
    VIDAI_ST_U16,
    VIDAI_ST_F16,
    VIDAI_ST_BF16,
    VIDAI_ST_I32,
    VIDAI_ST_U32,
    VIDAI_ST_F32,
    VIDAI_ST_I64,
    VIDAI_ST_U64,
    VIDAI_ST_F64
};

#define VIDAI_ST_MAX_DIMS 8
#define VIDAI_ST_MAX_HEADER 100000000u

/* Size in bytes of one element; 0 for an unknown dtype. */
size_t vidai_st_dtype_size(int dtype);
/* "F32" etc.; NULL for an unknown dtype. */
const char *vidai_st_dtype_name(int dtype);

typedef struct vidai_st_tensor {
    char *name;
    int dtype;
    int ndim;
    int64_t shape[VIDAI_ST_MAX_DIMS];
    int64_t numel;
    const uint8_t *data; /* points into the file's buffer; size = numel * dtype size */
    size_t size;
} vidai_st_tensor;

typedef struct vidai_st_file {
    uint8_t *buf; /* the whole file (owned) */
    size_t buf_size;
    int n_tensors;
    vidai_st_tensor *tensors; /* in header order */
    int n_meta;
    char **meta_keys;
    char **meta_values;
} vidai_st_file;

/*
 * Reads and validates a whole file. what names the file in errors (usually
 * the path). Returns VIDA_OK, VIDA_EIO (open/read), VIDA_EFORMAT (any rule
 * broken; the message names the rule and tensor), VIDA_ENOMEM.
 */
int vidai_st_read(vidai_st_file **out, const char *path);
/* The same over bytes in memory (copied). For tests and fuzzing. */
int vidai_st_parse(vidai_st_file **out, const uint8_t *bytes, size_t size, const char *what);
void vidai_st_free(vidai_st_file *f);
const vidai_st_tensor *vidai_st_find(const vidai_st_file *f, const char *name);
const char *vidai_st_meta(const vidai_st_file *f, const char *key);

/*
 * Writer: collects tensors (data referenced, not copied: it must stay valid
 * until vidai_st_writer_write returns) and metadata, then writes the file
 * atomically. The header lists the tensors in the order added and is padded
 * with spaces so that 8 + N is a multiple of 8; the data is laid out by
 * descending element size (stable), as the reference writer does, so that
 * every tensor starts at a multiple of its element size. Setting a metadata
 * key again replaces its value. add returns VIDA_EINVAL for a bad dtype,
 * ndim, shape, NULL data, non-UTF-8 or duplicate name.
 */
typedef struct vidai_st_writer vidai_st_writer;
int vidai_st_writer_create(vidai_st_writer **out);
int vidai_st_writer_add(vidai_st_writer *w, const char *name, int dtype, int ndim,
                        const int64_t *shape, const void *data);
int vidai_st_writer_meta(vidai_st_writer *w, const char *key, const char *value);
/* Returns VIDA_OK, VIDA_EIO (naming path and the failing step), VIDA_ENOMEM. */
int vidai_st_writer_write(vidai_st_writer *w, const char *path);
void vidai_st_writer_free(vidai_st_writer *w);

/*
 * Atomic replacement of path: write(fill) into "path.tmp.<pid>.XXXXXX" in the same
 * directory (<pid>: the writer's process ID; it holds a lock on the file until the rename),
 * fflush + fsync, rename over path, fsync the directory. On any failure the temporary file is
 * removed and path is untouched. A process killed before the rename leaves the temporary file:
 * vidai_atomic_remove_stale removes it.
 * fill returns VIDA_OK or an error code (with vidai_error set).
 */
typedef int (*vidai_fill_fn)(void *arg, FILE *f);
int vidai_atomic_write(const char *path, vidai_fill_fn fill, void *arg);
/*
 * Removes the temporary files of path that killed writers left, with one readdir of its
 * folder: "path.tmp.<pid>.XXXXXX" when no process <pid> exists and no one holds a lock on it,
 * "path.tmp.XXXXXX" (versions before the PID) when also unmodified for 15 minutes. Regular
 * files only, never through a symlink, never a live writer's (atomic.c says how). Returns how
 * many it removed; it cannot fail (what cannot be read or removed stays).
 */
int vidai_atomic_remove_stale(const char *path);
/*
 * Tests: the step-th of the next atomic write's durable steps fails with errno err (1: the
 * flush of the written data, as a full disk would; 2: fsync of the file; 3: close; 4: the
 * rename; 5: fsync of the folder, after the rename); 0: none.
 */
void vidai_io_fail_at(int step, int err);
/*
 * Tests: kill points. The next atomic write to reach point stops its process there with
 * SIGSTOP, once, so that a test can SIGKILL a forked writer exactly at that point (or let it
 * go on with SIGCONT). VIDAI_IO_STOP_NONE disarms.
 */
enum {
    VIDAI_IO_STOP_NONE = 0,
    /* the first after_bytes bytes of the file are in the temporary file (written to the
       kernel), the rest not yet; 0: the temporary file was just created, empty; no stop when
       the file is shorter */
    VIDAI_IO_STOP_AFTER_BYTES = 1,
    /* all the data is written to the temporary file, before its fsync */
    VIDAI_IO_STOP_BEFORE_FSYNC = 2,
    /* the temporary file is synced and closed, before the rename */
    VIDAI_IO_STOP_BEFORE_RENAME = 3,
    /* after the rename, before the fsync of the folder */
    VIDAI_IO_STOP_BEFORE_DIR_FSYNC = 4
};
void vidai_io_stop_at(int point, int64_t after_bytes);

/* JSON (RFC 8259) DOM, for headers, metadata and manifests. */
enum {
    VIDAI_JSON_NULL = 0,
    VIDAI_JSON_FALSE,
    VIDAI_JSON_TRUE,
    VIDAI_JSON_NUMBER,
    VIDAI_JSON_STRING,
    VIDAI_JSON_ARRAY,
    VIDAI_JSON_OBJECT
};

typedef struct vidai_json vidai_json;
struct vidai_json {
    int type;
    double number;     /* NUMBER */
    int is_integer;    /* NUMBER written without fraction or exponent, fits int64/uint64 */
    int negative;      /* NUMBER < 0 (for integers) */
    uint64_t uint_abs; /* |value| for integers */
    char *string;      /* STRING: UTF-8, NUL-terminated (embedded NUL rejected) */
    size_t length;     /* STRING bytes; ARRAY/OBJECT element count */
    char **keys;       /* OBJECT keys */
    vidai_json **items; /* ARRAY elements / OBJECT values */
};

/*
 * Parses text[0, len). Depth is limited to 64; duplicate object keys,
 * invalid UTF-8, control characters in strings, and trailing garbage
 * (other than whitespace) are errors. On error returns VIDA_EFORMAT with a
 * message "what: JSON: <reason> at byte <offset>".
 */
int vidai_json_parse(vidai_json **out, const char *text, size_t len, const char *what);
/*
 * Parses one value starting at text[*pos] (after any whitespace) and sets
 * *pos just past it; what follows is the caller's to check. Error offsets
 * count from text[0]. For callers that walk a document themselves, such as
 * the safetensors reader, which never builds a tree of a hostile header.
 */
int vidai_json_parse_at(vidai_json **out, const char *text, size_t len, size_t *pos,
                        const char *what);
void vidai_json_free(vidai_json *j);
const vidai_json *vidai_json_get(const vidai_json *obj, const char *key);
/* Appends s as a JSON string literal (quotes, escapes) to f. */
void vidai_json_write_string(FILE *f, const char *s);
/* 1 if s[0, len) is valid UTF-8 (RFC 3629: no overlongs, surrogates or > U+10FFFF), else 0. */
int vidai_utf8_valid(const char *s, size_t len);

#endif
