/*
 * Tests of src/io: the strict JSON parser, the safetensors reader and writer
 * (huggingface/safetensors "Format"; bad files from reliability.md (1), items
 * 21-26 and 28) and the atomic file writer. Expected bytes are written out by
 * hand from the format description, not produced by the code under test.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "test.h"
#include "io/io.h"
#include <vidaction.h>

/* ---- helpers ---------------------------------------------------------------- */

static char *tmp_path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", vt_tmp_dir(), name);
    return buf[k];
}



static void put_u64le(uint8_t *p, uint64_t v)
{
    int i;
    for (i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64le(const uint8_t *p)
{
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* A file: u64 N = header_len, the header bytes, then data_len bytes 0, 1, 2, ... */
static uint8_t *make_file(const char *header, size_t header_len, size_t data_len, size_t *size)
{
    uint8_t *buf;
    size_t i;
    *size = 8 + header_len + data_len;
    buf = malloc(*size);
    put_u64le(buf, header_len);
    memcpy(buf + 8, header, header_len);
    for (i = 0; i < data_len; i++)
        buf[8 + header_len + i] = (uint8_t)i;
    return buf;
}

/* Parses a file made of header + data_len bytes; frees any result. */
static int parse_header(const char *header, size_t header_len, size_t data_len)
{
    size_t size;
    uint8_t *buf = make_file(header, header_len, data_len, &size);
    vidai_st_file *f = NULL;
    int rc;
    vida_clear_error();
    rc = vidai_st_parse(&f, buf, size, "m.safetensors");
    if (rc != VIDA_OK && f != NULL)
        rc = 99; /* out must stay NULL on failure */
    vidai_st_free(f);
    free(buf);
    return rc;
}

/* The header must give VIDA_EFORMAT with the file name and word in the message. */
#define CHECK_BAD_LEN(header, header_len, data_len, word)                                 \
    do {                                                                                 \
        int rc_ = parse_header(header, header_len, data_len);                            \
        CHECKF(rc_ == VIDA_EFORMAT, "header %s: rc %d (%s)", header, rc_,                \
               vida_last_error());                                                       \
        CHECKF(strncmp(vida_last_error(), "m.safetensors: ", 15) == 0 &&                 \
                   strstr(vida_last_error(), word) != NULL,                              \
               "header %s: message '%s' lacks '%s'", header, vida_last_error(), word);   \
    } while (0)
#define CHECK_BAD(header, data_len, word) CHECK_BAD_LEN(header, strlen(header), data_len, word)

#define CHECK_GOOD(header, data_len)                                                     \
    do {                                                                                 \
        int rc_ = parse_header(header, strlen(header), data_len);                        \
        CHECKF(rc_ == VIDA_OK, "header %s: rc %d (%s)", header, rc_, vida_last_error()); \
    } while (0)

static int count_temp_files(void)
{
    DIR *d = opendir(vt_tmp_dir());
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp."))
            n++;
    closedir(d);
    return n;
}

/* ---- JSON --------------------------------------------------------------------- */

TEST(safetensors, json_valid_document)
{
    const char *text = " {\"a\": [1, -2, 3.5, true, false, null], \"b\": {\"c\": \"d\"},"
                       " \"e\": [], \"f\": {}, \"g\": \"\"}\r\n\t ";
    vidai_json *j = NULL;
    const vidai_json *a, *b;
    CHECK_OK(vidai_json_parse(&j, text, strlen(text), "doc"));
    CHECK(j->type == VIDAI_JSON_OBJECT && j->length == 5);
    CHECK(strcmp(j->keys[0], "a") == 0 && strcmp(j->keys[4], "g") == 0);
    a = vidai_json_get(j, "a");
    CHECK(a && a->type == VIDAI_JSON_ARRAY && a->length == 6);
    CHECK(a->items[0]->is_integer && a->items[0]->uint_abs == 1 && !a->items[0]->negative);
    CHECK(a->items[1]->is_integer && a->items[1]->uint_abs == 2 && a->items[1]->negative);
    CHECK(a->items[1]->number == -2.0);
    CHECK(!a->items[2]->is_integer && a->items[2]->number == 3.5);
    CHECK(a->items[3]->type == VIDAI_JSON_TRUE && a->items[4]->type == VIDAI_JSON_FALSE);
    CHECK(a->items[5]->type == VIDAI_JSON_NULL);
    b = vidai_json_get(j, "b");
    CHECK(b && b->type == VIDAI_JSON_OBJECT);
    CHECK(strcmp(vidai_json_get(b, "c")->string, "d") == 0);
    CHECK(vidai_json_get(j, "e")->length == 0 && vidai_json_get(j, "f")->length == 0);
    CHECK(vidai_json_get(j, "g")->type == VIDAI_JSON_STRING && vidai_json_get(j, "g")->length == 0);
    CHECK(vidai_json_get(j, "zz") == NULL);
    vidai_json_free(j);

    /* Scalars at the top level are JSON texts too (RFC 8259 §2). */
    CHECK_OK(vidai_json_parse(&j, "\"x\"", 3, "doc"));
    CHECK(j->type == VIDAI_JSON_STRING && strcmp(j->string, "x") == 0);
    vidai_json_free(j);
    CHECK_OK(vidai_json_parse(&j, "0", 1, "doc"));
    CHECK(j->is_integer && j->uint_abs == 0);
    vidai_json_free(j);
}

TEST(safetensors, json_integers_exact)
{
    static const struct {
        const char *text;
        int is_integer, negative;
        uint64_t uint_abs;
        double number;
    } cases[] = {
        {"18446744073709551615", 1, 0, UINT64_MAX, 18446744073709551615.0},
        {"9007199254740993", 1, 0, 9007199254740993ull, 9007199254740992.0},
        {"-9223372036854775808", 1, 1, 9223372036854775808ull, -9223372036854775808.0},
        {"-0", 1, 0, 0, 0.0},
        {"18446744073709551616", 0, 0, 0, 18446744073709551616.0},
        {"-9223372036854775809", 0, 0, 0, -9223372036854775809.0},
        {"1e2", 0, 0, 0, 100.0},
        {"1.0", 0, 0, 0, 1.0},
        {"-0.25E-1", 0, 0, 0, -0.025},
        {"123456789012345678901234567890", 0, 0, 0, 123456789012345678901234567890.0},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vidai_json *j = NULL;
        CHECK_OK(vidai_json_parse(&j, cases[i].text, strlen(cases[i].text), "n"));
        CHECKF(j->type == VIDAI_JSON_NUMBER && j->is_integer == cases[i].is_integer,
               "%s: is_integer %d", cases[i].text, j->is_integer);
        if (cases[i].is_integer)
            CHECKF(j->uint_abs == cases[i].uint_abs && j->negative == cases[i].negative,
                   "%s: uint_abs %llu negative %d", cases[i].text,
                   (unsigned long long)j->uint_abs, j->negative);
        CHECKF(j->number == cases[i].number, "%s: number %.17g", cases[i].text, j->number);
        vidai_json_free(j);
    }
}

TEST(safetensors, json_string_escapes)
{
    /* \u00e9 is é (C3 A9); the pair D83D DE00 is U+1F600 (F0 9F 98 80). */
    const char *text = "\"a\\u00e9\\ud83d\\ude00\\n\\/\\\"\\\\\\b\\f\\r\\t\xc3\xa9\xe2\x82\xac\"";
    const char *want = "a\xc3\xa9\xf0\x9f\x98\x80\n/\"\\\b\f\r\t\xc3\xa9\xe2\x82\xac";
    vidai_json *j = NULL;
    CHECK_OK(vidai_json_parse(&j, text, strlen(text), "s"));
    CHECK(j->type == VIDAI_JSON_STRING);
    CHECK(j->length == strlen(want) && strcmp(j->string, want) == 0);
    vidai_json_free(j);
}

TEST(safetensors, json_depth_limit)
{
    char text[2 * 65 + 1];
    vidai_json *j = NULL;
    int i;
    for (i = 0; i < 64; i++) {
        text[i] = '[';
        text[64 + i] = ']';
    }
    CHECK_OK(vidai_json_parse(&j, text, 128, "deep"));
    vidai_json_free(j);
    for (i = 0; i < 65; i++) {
        text[i] = '[';
        text[65 + i] = ']';
    }
    j = NULL;
    CHECK(vidai_json_parse(&j, text, 130, "deep") == VIDA_EFORMAT);
    CHECK(j == NULL);
    CHECK(strstr(vida_last_error(), "nesting") && strstr(vida_last_error(), "at byte 64"));
}

TEST(safetensors, json_invalid)
{
    static const struct {
        const char *text;
        size_t len; /* 0: strlen */
        const char *word;
    } cases[] = {
        {"", 0, "end of input"},
        {"   ", 0, "end of input"},
        {"{\"a\":1,\"b\":2,\"a\":3}", 0, "duplicate key \"a\" at byte 13"},
        {"\"\xc0\x80\"", 0, "UTF-8"},         /* overlong NUL */
        {"\"\xe0\x80\xaf\"", 0, "UTF-8"},     /* overlong '/' */
        {"\"\xed\xa0\x80\"", 0, "UTF-8"},     /* encoded surrogate */
        {"\"\xf4\x90\x80\x80\"", 0, "UTF-8"}, /* above U+10FFFF */
        {"\"\x80\"", 0, "UTF-8"},             /* lone continuation */
        {"\"\xe2\x82\"", 0, "UTF-8"},         /* truncated sequence */
        {"\"\xff\"", 0, "UTF-8"},
        {"[\"\xc3\"]", 0, "UTF-8"},
        {"\"a\tb\"", 0, "control character"},
        {"\"a\nb\"", 0, "control character"},
        {"\"a\0b\"", 5, "control character"},
        {"\"a\\u0000b\"", 0, "NUL"},
        {"\"\\ud800\"", 0, "surrogate"},
        {"\"\\udc00\"", 0, "surrogate"},
        {"\"\\ud800\\u0041\"", 0, "surrogate"},
        {"\"\\ud800\\n\"", 0, "surrogate"},
        {"\"\\u12\"", 0, "\\u escape"},
        {"\"\\u12g4\"", 0, "\\u escape"},
        {"\"\\x\"", 0, "escape"},
        {"\"abc", 0, "unterminated"},
        {"\"abc\\\"", 0, "unterminated"},
        {"01", 0, "leading zero"},
        {"-01", 0, "leading zero"},
        {"[00]", 0, "leading zero"},
        {"1.", 0, "digit"},
        {"1.e5", 0, "digit"},
        {"1e", 0, "digit"},
        {"1e+", 0, "digit"},
        {"-", 0, "digit"},
        {"-a", 0, "digit"},
        {".5", 0, "unexpected"},
        {"+1", 0, "unexpected"},
        {"0x10", 0, "trailing"},
        {"NaN", 0, "unexpected"},
        {"Infinity", 0, "unexpected"},
        {"-Infinity", 0, "digit"},
        {"'a'", 0, "unexpected"},
        {"tru", 0, "literal"},
        {"nul", 0, "literal"},
        {"True", 0, "unexpected"},
        {"{} x", 0, "trailing"},
        {"1 2", 0, "trailing"},
        {"{}}", 0, "trailing"},
        {"[1,]", 0, "unexpected character ']'"},
        {"[1 2]", 0, "',' or ']'"},
        {"[1,2,x]", 0, "at byte 5"},
        {"[1,\0]", 5, "0x00"},
        {"{\"a\":1,}", 0, "string key"},
        {"{1:2}", 0, "string key"},
        {"{\"a\" 1}", 0, "':'"},
        {"{\"a\":1 \"b\":2}", 0, "',' or '}'"},
        {"{\"a\":", 0, "end of input"},
        {"[", 0, "end of input"},
        {"\xef\xbb\xbf{}", 0, "0xef"}, /* byte order mark */
        {"[1]\x0b", 0, "trailing"},    /* vertical tab is not JSON whitespace */
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
        vidai_json *j = (vidai_json *)&j; /* must be reset to NULL */
        int rc = vidai_json_parse(&j, cases[i].text, len, "case");
        CHECKF(rc == VIDA_EFORMAT, "case %zu '%s': rc %d", i, cases[i].text, rc);
        CHECKF(j == NULL, "case %zu: out not NULL", i);
        CHECKF(strncmp(vida_last_error(), "case: JSON: ", 12) == 0 &&
                   strstr(vida_last_error(), " at byte ") &&
                   strstr(vida_last_error(), cases[i].word),
               "case %zu '%s': message '%s' lacks '%s'", i, cases[i].text, vida_last_error(),
               cases[i].word);
    }
}

TEST(safetensors, json_write_string)
{
    const char *s = "a\"b\\c\n\x01\x1f\x7f/ \xc3\xa9";
    const char *want = "\"a\\\"b\\\\c\\u000a\\u0001\\u001f\x7f/ \xc3\xa9\"";
    char *buf = NULL;
    size_t len = 0;
    vidai_json *j = NULL;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL);
    vidai_json_write_string(f, s);
    CHECK(fclose(f) == 0);
    CHECKF(strcmp(buf, want) == 0, "wrote %s", buf);
    CHECK_OK(vidai_json_parse(&j, buf, len, "w"));
    CHECK(strcmp(j->string, s) == 0);
    vidai_json_free(j);
    free(buf);
    CHECK(vidai_utf8_valid("\xc3\xa9", 2) && !vidai_utf8_valid("\xc3", 1));
}

/* ---- safetensors: reading and writing ------------------------------------------ */

TEST(safetensors, round_trip)
{
    static const char want_header[] =
        "{\"__metadata__\":{\"arch\":\"r2plus1d_18\",\"note\":\"q\\\" and \\u000a\"},"
        "\"conv.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]},"
        "\"labels\":{\"dtype\":\"U8\",\"shape\":[5],\"data_offsets\":[32,37]},"
        "\"step\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
        "\"empty\":{\"dtype\":\"BF16\",\"shape\":[0,4],\"data_offsets\":[32,32]}}";
    float w[6] = {0.5f, -1.0f, 2.25f, 3.0f, -0.0f, 1e-3f};
    uint8_t labels[5] = {1, 2, 3, 250, 0};
    int64_t step = -1234567890123ll;
    int64_t shape_w[2] = {2, 3}, shape_l[1] = {5}, shape_e[2] = {0, 4};
    const char *path = tmp_path("rt.safetensors");
    vidai_st_writer *wr = NULL;
    vidai_st_file *f = NULL;
    const vidai_st_tensor *t;
    uint8_t *raw;
    size_t size, n, hl = strlen(want_header), i;

    CHECK_OK(vidai_st_writer_create(&wr));
    CHECK_OK(vidai_st_writer_meta(wr, "arch", "r2plus1d_18"));
    CHECK_OK(vidai_st_writer_meta(wr, "note", "old"));
    CHECK_OK(vidai_st_writer_meta(wr, "note", "q\" and \n")); /* replaces */
    CHECK_OK(vidai_st_writer_add(wr, "conv.weight", VIDAI_ST_F32, 2, shape_w, w));
    CHECK_OK(vidai_st_writer_add(wr, "labels", VIDAI_ST_U8, 1, shape_l, labels));
    CHECK_OK(vidai_st_writer_add(wr, "step", VIDAI_ST_I64, 0, NULL, &step));
    CHECK_OK(vidai_st_writer_add(wr, "empty", VIDAI_ST_BF16, 2, shape_e, NULL));
    CHECK_OK(vidai_st_writer_write(wr, path));
    vidai_st_writer_free(wr);
    CHECK(count_temp_files() == 0);

    /*
     * The bytes, as the format describes them: the header lists the tensors in
     * the order added, the data is laid out by descending element size.
     */
    raw = (uint8_t *)vt_read_file(path, &size);
    CHECK(raw != NULL);
    n = (size_t)get_u64le(raw);
    CHECKF((8 + n) % 8 == 0, "8 + N = %zu", 8 + n);
    CHECK(n >= hl && n < hl + 8);
    CHECK(size == 8 + n + 37);
    CHECKF(memcmp(raw + 8, want_header, hl) == 0, "header %.*s", (int)n, (char *)raw + 8);
    for (i = hl; i < n; i++)
        CHECK(raw[8 + i] == ' ');
    CHECK(memcmp(raw + 8 + n, &step, 8) == 0);
    CHECK(memcmp(raw + 8 + n + 8, w, 24) == 0);
    CHECK(memcmp(raw + 8 + n + 32, labels, 5) == 0);
    free(raw);

    /* Reading it back. */
    CHECK_OK(vidai_st_read(&f, path));
    CHECK(f->n_tensors == 4 && f->n_meta == 2);
    CHECK(strcmp(f->tensors[0].name, "conv.weight") == 0);
    CHECK(strcmp(f->tensors[3].name, "empty") == 0);
    t = vidai_st_find(f, "conv.weight");
    CHECK(t == &f->tensors[0] && t->dtype == VIDAI_ST_F32 && t->ndim == 2);
    CHECK(t->shape[0] == 2 && t->shape[1] == 3 && t->numel == 6 && t->size == 24);
    CHECK(memcmp(t->data, w, sizeof w) == 0);
    t = vidai_st_find(f, "labels");
    CHECK(t && t->dtype == VIDAI_ST_U8 && t->ndim == 1 && t->numel == 5);
    CHECK(memcmp(t->data, labels, 5) == 0);
    t = vidai_st_find(f, "step");
    CHECK(t && t->dtype == VIDAI_ST_I64 && t->ndim == 0 && t->numel == 1 && t->size == 8);
    CHECK(memcmp(t->data, &step, 8) == 0);
    t = vidai_st_find(f, "empty");
    CHECK(t && t->dtype == VIDAI_ST_BF16 && t->ndim == 2 && t->numel == 0 && t->size == 0);
    CHECK(t->shape[0] == 0 && t->shape[1] == 4);
    CHECK(vidai_st_find(f, "nope") == NULL);
    CHECK(strcmp(vidai_st_meta(f, "arch"), "r2plus1d_18") == 0);
    CHECK(strcmp(vidai_st_meta(f, "note"), "q\" and \n") == 0);
    CHECK(vidai_st_meta(f, "missing") == NULL);
    /* Each tensor's data is aligned to its element size in memory. */
    for (i = 0; i < (size_t)f->n_tensors; i++)
        CHECK((uintptr_t)f->tensors[i].data % vidai_st_dtype_size(f->tensors[i].dtype) == 0);
    vidai_st_free(f);
}

TEST(safetensors, reads_reference_layout)
{
    /*
     * What safetensors' save_file({"b": tensor([1., 2.]), "a": tensor([[7]], dtype=uint8)},
     * metadata={"format": "pt"}) lays out: metadata first, tensors sorted by
     * alignment then name, header padded with spaces to 8 bytes. Header order
     * here differs from data order, which the reader must accept.
     */
    const char *header = "{\"__metadata__\":{\"format\":\"pt\"},"
                         "\"a\":{\"dtype\":\"U8\",\"shape\":[1,1],\"data_offsets\":[8,9]},"
                         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    char padded[256];
    uint8_t file[8 + 256 + 9];
    float b[2] = {1.0f, 2.0f};
    size_t hl = strlen(header), n = (hl + 7) / 8 * 8;
    vidai_st_file *f = NULL;
    memset(padded, ' ', sizeof padded);
    memcpy(padded, header, hl);
    put_u64le(file, n);
    memcpy(file + 8, padded, n);
    memcpy(file + 8 + n, b, 8);
    file[8 + n + 8] = 7;
    CHECK_OK(vidai_st_parse(&f, file, 8 + n + 9, "ref.safetensors"));
    CHECK(f->n_tensors == 2 && f->n_meta == 1);
    CHECK(strcmp(f->tensors[0].name, "a") == 0 && f->tensors[0].data[0] == 7);
    CHECK(memcmp(vidai_st_find(f, "b")->data, b, 8) == 0);
    CHECK(strcmp(vidai_st_meta(f, "format"), "pt") == 0);
    vidai_st_free(f);

    /* No tensors at all, no data: valid. */
    CHECK_GOOD("{}", 0);
    CHECK_GOOD("{\"__metadata__\":{}}      ", 0);
    /* Whitespace inside the JSON is fine; only the padding must be spaces. */
    CHECK_GOOD("{\n\t\"x\" : {\"shape\":[ ],\"data_offsets\":[0,1],\"dtype\":\"U8\"}\r\n}", 1);
    /* Escapes are JSON too: "U\u0038" is "U8". */
    CHECK_GOOD("{\"x\":{\"dtype\":\"U\\u0038\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1);
}

TEST(safetensors, writer_rejects_bad_arguments)
{
    vidai_st_writer *wr = NULL;
    int64_t shape[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, neg[1] = {-1}, huge[2] = {INT64_MAX, 4};
    float x = 1.0f;
    CHECK_OK(vidai_st_writer_create(&wr));
    CHECK_OK(vidai_st_writer_add(wr, "x", VIDAI_ST_F32, 1, shape, &x));
    CHECK(vidai_st_writer_add(wr, "x", VIDAI_ST_F32, 1, shape, &x) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "duplicate") && strstr(vida_last_error(), "'x'"));
    CHECK(vidai_st_writer_add(wr, "y", 0, 1, shape, &x) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "dtype"));
    CHECK(vidai_st_writer_add(wr, "y", VIDAI_ST_F64 + 1, 1, shape, &x) == VIDA_EINVAL);
    CHECK(vidai_st_writer_add(wr, "y", VIDAI_ST_F32, 9, shape, &x) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "ndim"));
    CHECK(vidai_st_writer_add(wr, "y", VIDAI_ST_F32, -1, shape, &x) == VIDA_EINVAL);
    CHECK(vidai_st_writer_add(wr, "y", VIDAI_ST_F32, 1, neg, &x) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "negative"));
    CHECK(vidai_st_writer_add(wr, "y", VIDAI_ST_F32, 2, huge, &x) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "overflow"));
    CHECK(vidai_st_writer_add(wr, "y", VIDAI_ST_F32, 1, shape, NULL) == VIDA_EINVAL);
    CHECK(vidai_st_writer_add(wr, "__metadata__", VIDAI_ST_F32, 1, shape, &x) == VIDA_EINVAL);
    CHECK(vidai_st_writer_add(wr, "bad\xff", VIDAI_ST_F32, 1, shape, &x) == VIDA_EINVAL);
    CHECK(strstr(vida_last_error(), "UTF-8"));
    CHECK(vidai_st_writer_meta(wr, "k", "\xc0\x80") == VIDA_EINVAL);
    CHECK(vidai_st_writer_add(NULL, "y", VIDAI_ST_F32, 1, shape, &x) == VIDA_EINVAL);
    vidai_st_writer_free(wr);
    vidai_st_writer_free(NULL);
    vidai_st_free(NULL);
}

TEST(safetensors, writer_missing_directory)
{
    vidai_st_writer *wr = NULL;
    char path[600];
    float x = 1.0f;
    int64_t one = 1;
    snprintf(path, sizeof path, "%s/no/such/dir/m.safetensors", vt_tmp_dir());
    CHECK_OK(vidai_st_writer_create(&wr));
    CHECK_OK(vidai_st_writer_add(wr, "x", VIDAI_ST_F32, 1, &one, &x));
    CHECK(vidai_st_writer_write(wr, path) == VIDA_EIO);
    CHECK(strstr(vida_last_error(), path) && strstr(vida_last_error(), "temporary"));
    CHECK(strstr(vida_last_error(), strerror(ENOENT)));
    vidai_st_writer_free(wr);
}

TEST(safetensors, read_io_errors)
{
    vidai_st_file *f = (vidai_st_file *)&f;
    const char *missing = tmp_path("missing.safetensors");
    CHECK(vidai_st_read(&f, missing) == VIDA_EIO);
    CHECK(f == NULL);
    CHECK(strstr(vida_last_error(), missing) && strstr(vida_last_error(), "open"));
    CHECK(vidai_st_read(&f, vt_tmp_dir()) == VIDA_EIO);
    CHECK(strstr(vida_last_error(), "regular file"));
    CHECK(vidai_st_read(NULL, missing) == VIDA_EINVAL);
    CHECK(vidai_st_parse(&f, NULL, 8, "x") == VIDA_EINVAL);
}

/* ---- bad files: reliability.md (1) items 21-26 -------------------------------- */

TEST(safetensors, bad_length_prefix)
{
    uint8_t buf[64];
    vidai_st_file *f = NULL;
    const char *path = tmp_path("len.safetensors");
    size_t k;
    /* 21: fewer than 8 bytes, including none. */
    memset(buf, 0, sizeof buf);
    for (k = 0; k < 8; k++) {
        CHECK(vidai_st_parse(&f, buf, k, "m.safetensors") == VIDA_EFORMAT);
        CHECK(strstr(vida_last_error(), "m.safetensors: ") && strstr(vida_last_error(), "8-byte"));
        CHECK(vt_write_file(path, buf, k) == 0);
        CHECK(vidai_st_read(&f, path) == VIDA_EFORMAT && f == NULL);
        CHECK(strstr(vida_last_error(), path) && strstr(vida_last_error(), "shorter"));
    }
    /* N = 0. */
    CHECK_BAD_LEN("", 0, 0, "header length is 0");
    CHECK_BAD_LEN("", 0, 16, "header length is 0");

    /* N larger than the file, N = 2^64-1, N just above the 100,000,000 cap. */
    {
        static const struct {
            uint64_t n;
            const char *word;
        } lens[] = {
            {20, "past the end"},
            {UINT64_MAX, "exceeds the limit"},
            {UINT64_MAX - 7, "exceeds the limit"}, /* N + 8 wraps to 0 */
            {100000001, "exceeds the limit"},
            {100000000, "past the end"},
            {(uint64_t)1 << 32, "exceeds the limit"},
        };
        for (k = 0; k < sizeof lens / sizeof lens[0]; k++) {
            memcpy(buf + 8, "{}      ", 8);
            put_u64le(buf, lens[k].n);
            CHECK(vidai_st_parse(&f, buf, 16, "m.safetensors") == VIDA_EFORMAT);
            CHECKF(strstr(vida_last_error(), lens[k].word), "N=%llu: %s",
                   (unsigned long long)lens[k].n, vida_last_error());
            /* The reader rejects it from the first 8 bytes, the same way. */
            CHECK(vt_write_file(path, buf, 16) == 0);
            CHECK(vidai_st_read(&f, path) == VIDA_EFORMAT && f == NULL);
            CHECK(strstr(vida_last_error(), lens[k].word));
        }
    }
}

TEST(safetensors, bad_header_text)
{
    char deep[300];
    int i;
    /* 22: not UTF-8 (in a key and in a value), not starting with '{'. */
    CHECK_BAD("{\"a\xff\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "UTF-8");
    CHECK_BAD("{\"__metadata__\":{\"k\":\"\xed\xa0\x80\"}}", 0, "UTF-8");
    CHECK_BAD(" {}", 0, "start with '{'");
    CHECK_BAD("[]", 0, "start with '{'");
    CHECK_BAD("\xef\xbb\xbf{}", 0, "start with '{'");
    /* Padding: NUL, newline, tab; trailing garbage. */
    CHECK_BAD_LEN("{}\0\0\0\0\0\0", 8, 0, "0x00");
    CHECK_BAD_LEN("{}\0\0\0\0\0\0", 8, 0, "padded with spaces");
    CHECK_BAD("{}\n     ", 0, "padded with spaces");
    CHECK_BAD("{}  \t   ", 0, "0x09");
    CHECK_BAD("{}xx", 0, "padded with spaces");
    CHECK_BAD("{}{}", 0, "0x7b");
    /* Invalid JSON. */
    CHECK_BAD("{\"a\":}", 0, "JSON");
    CHECK_BAD("{\"a\"", 0, "header: JSON: ");
    CHECK_BAD("{,}", 0, "JSON");
    CHECK_BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],}}", 1, "JSON");
    CHECK_BAD("{'a':1}", 0, "JSON");
    /* JSON errors found while walking the entries. */
    CHECK_BAD("{\"a\" 1}", 0, "header: JSON: unexpected character '1', expected ':' at byte 5");
    CHECK_BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1 1],\"data_offsets\":[0,1]}}", 1,
              "expected ',' or ']'");
    CHECK_BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}", 1,
              "unexpected end of input");
    CHECK_BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}   ", 1,
              "unexpected end of input");
    CHECK_BAD("{\"a\":{\"dtype\":\"U8\" \"shape\":[1],\"data_offsets\":[0,1]}}", 1,
              "expected ',' or '}'");
    CHECK_BAD("{\"a\":{\"dtype\":\"U\\u00388\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
              "unknown dtype 'U88'");
    CHECK_BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[01],\"data_offsets\":[0,1]}}", 1,
              "leading zero");
    /* Deep nesting, where the format allows none, is refused at the first level. */
    strcpy(deep, "{\"__metadata__\":");
    for (i = 0; i < 100; i++)
        strcat(deep, "[");
    CHECK_BAD(deep, 0, "__metadata__ is not an object");
    strcpy(deep, "{\"a\":{\"dtype\":\"U8\",\"shape\":");
    for (i = 0; i < 100; i++)
        strcat(deep, "[");
    CHECK_BAD(deep, 0, "tensor 'a': shape dim 0 is not a non-negative integer");
}

TEST(safetensors, bad_entries)
{
    /* 23: duplicate names; __metadata__ values; unknown dtypes. */
    CHECK_BAD("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
              "\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
              2, "duplicate tensor 'w'");
    CHECK_BAD("{\"__metadata__\":{\"a\":\"b\"},\"__metadata__\":{}}", 0,
              "duplicate key '__metadata__'");
    CHECK_BAD("{\"__metadata__\":{\"a\":\"b\",\"c\":\"d\",\"a\":\"e\"}}", 0,
              "__metadata__: duplicate key 'a'");
    CHECK_BAD("{\"q\":{\"dtype\":\"U8\",\"shape\":[1],\"dtype\":\"U8\",\"data_offsets\":[0,1]}}",
              1, "tensor 'q': duplicate field 'dtype'");
    CHECK_BAD("{\"q\":{\"dtype\":\"U8\",\"shape\":[1],\"shape\":[1],\"data_offsets\":[0,1]}}",
              1, "duplicate field 'shape'");
    CHECK_BAD("{\"__metadata__\":{\"epoch\":3}}", 0, "__metadata__ value of 'epoch' is not a string");
    CHECK_BAD("{\"__metadata__\":{\"x\":{\"y\":\"z\"}}}", 0, "'x' is not a string");
    CHECK_BAD("{\"__metadata__\":{\"x\":null}}", 0, "'x' is not a string");
    CHECK_BAD("{\"__metadata__\":[\"a\"]}", 0, "__metadata__ is not an object");
    CHECK_BAD("{\"__metadata__\":\"a\"}", 0, "__metadata__ is not an object");
    CHECK_BAD("{\"q\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,1]}}", 1,
              "tensor 'q': unknown dtype 'F4'");
    CHECK_BAD("{\"q\":{\"dtype\":\"F6_E2M3\",\"shape\":[4],\"data_offsets\":[0,3]}}", 3,
              "unknown dtype");
    CHECK_BAD("{\"q\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
              "unknown dtype 'f32'");
    CHECK_BAD("{\"q\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
              "unknown dtype");
    CHECK_BAD("{\"q\":{\"dtype\":\"\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
              "unknown dtype");
    CHECK_BAD("{\"q\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
              "tensor 'q': dtype is not a string");
    /* Fields: unknown, missing, wrong type. */
    CHECK_BAD("{\"q\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"extra\":1}}", 1,
              "tensor 'q': unknown field 'extra'");
    CHECK_BAD("{\"q\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", 1,
              "tensor 'q': missing field 'shape'");
    CHECK_BAD("{\"q\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "missing field 'dtype'");
    CHECK_BAD("{\"q\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, "missing field 'data_offsets'");
    CHECK_BAD("{\"q\":[1]}", 1, "tensor 'q': entry is not an object");
    CHECK_BAD("{\"q\":\"x\"}", 1, "entry is not an object");
    /* Control characters in a name are shown as '?'; a long name is cut on a UTF-8 boundary. */
    CHECK_BAD("{\"a\\nb\":{\"dtype\":\"X\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
              "tensor 'a?b'");
    {
        char header[400] = "{\"";
        int i;
        for (i = 0; i < 100; i++)
            strcat(header, "\xc3\xa9");
        strcat(header, "\":{\"dtype\":\"X\",\"shape\":[1],\"data_offsets\":[0,1]}}");
        CHECK_BAD(header, 1, "...': unknown dtype 'X'");
        CHECK(vidai_utf8_valid(vida_last_error(), strlen(vida_last_error())));
    }
}

TEST(safetensors, bad_shapes)
{
    /* 24: negative, fractional, huge dims; product overflow; too many dims. */
    CHECK_BAD("{\"s\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0,
              "tensor 's': shape dim 0 is not a non-negative integer");
    CHECK_BAD("{\"s\":{\"dtype\":\"U8\",\"shape\":[1,-0.5],\"data_offsets\":[0,0]}}", 0,
              "shape dim 1");
    CHECK_BAD("{\"s\":{\"dtype\":\"U8\",\"shape\":[2.5],\"data_offsets\":[0,2]}}", 2,
              "shape dim 0");
    CHECK_BAD("{\"s\":{\"dtype\":\"U8\",\"shape\":[2.0],\"data_offsets\":[0,2]}}", 2,
              "shape dim 0");
    CHECK_BAD("{\"s\":{\"dtype\":\"U8\",\"shape\":[1e1],\"data_offsets\":[0,10]}}", 10,
              "shape dim 0");
    CHECK_BAD("{\"s\":{\"dtype\":\"U8\",\"shape\":[\"2\"],\"data_offsets\":[0,2]}}", 2,
              "shape dim 0");
    CHECK_BAD("{\"s\":{\"dtype\":\"U8\",\"shape\":[18446744073709551616],\"data_offsets\":[0,0]}}",
              0, "shape dim 0");
    CHECK_BAD("{\"s\":{\"dtype\":\"U8\",\"shape\":[9223372036854775808],\"data_offsets\":[0,0]}}",
              0, "shape dim 0");
    CHECK_BAD("{\"s\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],"
              "\"data_offsets\":[0,0]}}",
              0, "tensor 's': shape [4294967296,4294967296]: element count overflows");
    CHECK_BAD("{\"s\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,0],"
              "\"data_offsets\":[0,0]}}",
              0, "overflows");
    CHECK_BAD("{\"s\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],"
              "\"data_offsets\":[0,0]}}",
              0, "byte size overflows");
    CHECK_BAD("{\"s\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],"
              "\"data_offsets\":[0,1]}}",
              1, "shape has more than 8 dims");
    CHECK_BAD("{\"s\":{\"dtype\":\"U8\",\"shape\":3,\"data_offsets\":[0,3]}}", 3,
              "shape is not an array");
    /* Valid: empty tensor (a 0 dim), scalar [], 8 dims, a 0 dim next to a huge one. */
    CHECK_GOOD("{\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]}}", 0);
    CHECK_GOOD("{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4);
    CHECK_GOOD("{\"s\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,2],\"data_offsets\":[0,2]}}", 2);
    CHECK_GOOD("{\"e\":{\"dtype\":\"F64\",\"shape\":[0,9223372036854775807],"
               "\"data_offsets\":[0,0]}}",
               0);
    CHECK_GOOD("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
               "\"b\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
               "\"c\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
               1);
}

TEST(safetensors, bad_offsets)
{
    /* 25: begin > end, overlap, gap, not from 0, end past file, trailing bytes. */
    CHECK_BAD("{\"o\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[8,4]}}", 8,
              "tensor 'o': data_offsets [8,4) begin after end");
    CHECK_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
              12, "tensor 'b': data_offsets [4,12) overlap tensor 'a'");
    CHECK_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
              8, "overlap");
    CHECK_BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
              "\"m\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,4]}}",
              8, "tensor 'm': data_offsets [4,4) overlap");
    CHECK_BAD("{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]},"
              "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
              20, "tensor 'b': data_offsets [12,20) leave a gap of 4 bytes after tensor 'a'");
    CHECK_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
              "tensor 'a': data_offsets [4,12) leave a gap: the first tensor must start at "
              "offset 0");
    CHECK_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
              "tensor 'a': data_offsets end 8 is past the end of the data buffer (4 bytes)");
    CHECK_BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],"
              "\"data_offsets\":[18446744073709551615,18446744073709551615]}}",
              4, "past the end");
    CHECK_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12,
              "4 trailing bytes after the last tensor");
    CHECK_BAD("{}", 4, "4 trailing bytes");
    CHECK_BAD("{\"__metadata__\":{\"a\":\"b\"}}", 1, "trailing bytes");
    /* data_offsets of the wrong form. */
    CHECK_BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", 1,
              "tensor 'a': data_offsets is not a pair");
    CHECK_BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}}", 1,
              "data_offsets is not a pair");
    CHECK_BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}}", 1,
              "data_offsets is not a pair of non-negative integers");
    CHECK_BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1.0]}}", 1,
              "data_offsets");
    CHECK_BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":{\"0\":1}}}", 1,
              "data_offsets");
    CHECK_BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,18446744073709551616]}}",
              1, "data_offsets");
}

TEST(safetensors, bad_byte_sizes)
{
    /* 26: end - begin != numel x dtype size, larger and smaller. */
    const char *exact = "{\"fc.weight\":{\"dtype\":\"F32\",\"shape\":[10,512],"
                        "\"data_offsets\":[0,100]}}";
    CHECK(parse_header(exact, strlen(exact), 100) == VIDA_EFORMAT);
    CHECKF(strcmp(vida_last_error(), "m.safetensors: tensor 'fc.weight': data_offsets [0,100) "
                                     "hold 100 bytes, shape [10,512] F32 needs 20480") == 0,
           "%s", vida_last_error());
    CHECK_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", 12,
              "hold 12 bytes, shape [2] F32 needs 8");
    CHECK_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
              "hold 4 bytes, shape [2] F32 needs 8");
    CHECK_BAD("{\"a\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,3]}}", 3,
              "needs 6");
    CHECK_BAD("{\"a\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,4]}}", 4,
              "shape [] F64 needs 8");
    CHECK_BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,1]}}", 1,
              "needs 0");
}

/* Headers near the 100 MB cap that would take gigabytes as a JSON tree are refused early. */
TEST(safetensors, hostile_header_sizes)
{
    static const struct {
        const char *prefix, *word;
    } cases[] = {
        {"{\"__metadata__\":{\"k\":[", "__metadata__ value of 'k' is not a string"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[", "shape has more than 8 dims"},
        {"{\"a\":[", "tensor 'a': entry is not an object"},
    };
    size_t len = 8u << 20, i, k;
    char *h = malloc(len + 1);
    CHECK(h != NULL);
    for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t n = strlen(cases[k].prefix);
        memcpy(h, cases[k].prefix, n);
        for (i = n; i + 2 < len; i += 2)
            memcpy(h + i, "0,", 2);
        memcpy(h + i, "0]", 2);
        h[i + 2] = '\0';
        if (parse_header(h, i + 2, 0) != VIDA_EFORMAT || !strstr(vida_last_error(), cases[k].word)) {
            free(h);
            CHECKF(0, "case %zu: %s", k, vida_last_error());
        }
    }
    free(h);
}

/* ---- bad files: item 28, truncation, and random damage ----------------------- */

static uint8_t *valid_file(size_t *size)
{
    const char *path = tmp_path("valid.safetensors");
    static float w[64];
    static uint8_t u[13];
    int64_t sw[3] = {4, 4, 4}, su[1] = {13};
    vidai_st_writer *wr = NULL;
    int i;
    for (i = 0; i < 64; i++)
        w[i] = (float)i * 0.5f;
    for (i = 0; i < 13; i++)
        u[i] = (uint8_t)(200 + i);
    if (vidai_st_writer_create(&wr) != VIDA_OK)
        return NULL;
    if (vidai_st_writer_meta(wr, "arch", "r3d_18") != VIDA_OK ||
        vidai_st_writer_add(wr, "w", VIDAI_ST_F32, 3, sw, w) != VIDA_OK ||
        vidai_st_writer_add(wr, "u", VIDAI_ST_U8, 1, su, u) != VIDA_OK ||
        vidai_st_writer_add(wr, "s", VIDAI_ST_I32, 0, NULL, w) != VIDA_OK ||
        vidai_st_writer_write(wr, path) != VIDA_OK) {
        vidai_st_writer_free(wr);
        return NULL;
    }
    vidai_st_writer_free(wr);
    return (uint8_t *)vt_read_file(path, size);
}

TEST(safetensors, truncated_files)
{
    const char *path = tmp_path("trunc.safetensors");
    size_t size, k;
    uint8_t *buf = valid_file(&size);
    vidai_st_file *f = NULL;
    int rc;
    CHECK(buf != NULL);
    for (k = 0; k <= 16; k++) {
        size_t len = size * k / 16;
        CHECK(vt_write_file(path, buf, len) == 0);
        vida_clear_error();
        rc = vidai_st_read(&f, path);
        if (k == 16) {
            CHECK_OK(rc);
            CHECK(f->n_tensors == 3);
            vidai_st_free(f);
            f = NULL;
            continue;
        }
        CHECKF(rc == VIDA_EFORMAT || rc == VIDA_EIO, "cut at %zu of %zu: rc %d", len, size, rc);
        CHECK(f == NULL);
        CHECKF(strncmp(vida_last_error(), path, strlen(path)) == 0 &&
                   (strstr(vida_last_error(), "shorter") || strstr(vida_last_error(), "past the end") ||
                    strstr(vida_last_error(), "JSON")),
               "cut at %zu: %s", len, vida_last_error());
        rc = vidai_st_parse(&f, buf, len, "cut");
        CHECK(rc == VIDA_EFORMAT && f == NULL);
    }
    /* One byte short of the end: the last tensor in the buffer (U8 'u') runs past it. */
    rc = vidai_st_parse(&f, buf, size - 1, "cut");
    free(buf);
    CHECK(rc == VIDA_EFORMAT);
    CHECKF(strstr(vida_last_error(), "tensor 'u'") && strstr(vida_last_error(), "past the end"),
           "%s", vida_last_error());
}

/* Random byte damage must give VIDA_OK (with sound tensors) or VIDA_EFORMAT, never a crash. */
TEST(safetensors, random_damage)
{
    size_t size, i;
    uint8_t *good = valid_file(&size), *buf;
    uint64_t state = 0x9e3779b97f4a7c15ull;
    int iter, n_ok = 0;
    CHECK(good != NULL);
    buf = malloc(size);
    for (iter = 0; iter < 3000; iter++) {
        vidai_st_file *f = NULL;
        size_t len = size;
        int flips = 1 + iter % 4, k, rc;
        memcpy(buf, good, size);
        for (k = 0; k < flips; k++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            /* Mostly in the length prefix and header, where the parsing is. */
            i = (size_t)(state >> 33) % (iter % 2 ? size : 8 + get_u64le(good));
            buf[i] ^= (uint8_t)(1u << ((state >> 20) & 7));
        }
        if (iter % 5 == 0)
            len = (size_t)(state >> 40) % (size + 1);
        rc = vidai_st_parse(&f, buf, len, "dmg");
        CHECKF(rc == VIDA_OK || rc == VIDA_EFORMAT, "iteration %d: rc %d", iter, rc);
        if (rc == VIDA_OK) {
            size_t total = 0;
            n_ok++;
            for (k = 0; k < f->n_tensors; k++) {
                const vidai_st_tensor *t = &f->tensors[k];
                CHECK(t->size == (size_t)t->numel * vidai_st_dtype_size(t->dtype));
                CHECK(t->data >= f->buf && t->data + t->size <= f->buf + f->buf_size);
                total += t->size;
            }
            CHECK(total == f->buf_size - 8 - get_u64le(f->buf));
            vidai_st_free(f);
        } else {
            CHECK(f == NULL && vida_last_error()[0] != '\0');
        }
    }
    /* Flips in tensor data leave a valid file. */
    CHECK(n_ok > 0);
    free(buf);
    free(good);
}

/* ---- atomic writer ------------------------------------------------------------- */

struct fill_arg {
    const char *text;
    int fail;
};

static int fill_text(void *arg, FILE *f)
{
    const struct fill_arg *a = arg;
    fputs(a->text, f);
    if (a->fail)
        return vidai_error(a->fail, "simulated failure after writing");
    return VIDA_OK;
}

static int file_equals(const char *path, const char *text)
{
    size_t size;
    uint8_t *buf = (uint8_t *)vt_read_file(path, &size);
    int eq = buf && size == strlen(text) && memcmp(buf, text, size) == 0;
    free(buf);
    return eq;
}

TEST(safetensors, atomic_write)
{
    const char *path = tmp_path("keep.txt");
    struct fill_arg ok = {"new contents", 0}, bad = {"partial", VIDA_EIO},
                    nomem = {"partial", VIDA_ENOMEM};
    struct stat st;
    CHECK(vt_write_file(path, "old", 3) == 0);
    CHECK(chmod(path, 0640) == 0);

    /* A failing fill leaves the old file and no temporary file. */
    CHECK(vidai_atomic_write(path, fill_text, &bad) == VIDA_EIO);
    CHECK(strstr(vida_last_error(), path) && strstr(vida_last_error(), "simulated"));
    CHECK(file_equals(path, "old"));
    CHECK(count_temp_files() == 0);
    CHECK(vidai_atomic_write(path, fill_text, &nomem) == VIDA_ENOMEM);
    CHECK(file_equals(path, "old"));
    CHECK(count_temp_files() == 0);

    /* Success replaces it, keeping its mode. */
    CHECK_OK(vidai_atomic_write(path, fill_text, &ok));
    CHECK(file_equals(path, "new contents"));
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
    CHECK(count_temp_files() == 0);

    /* A new file is readable and writable by its owner (mkstemp alone would give 0600). */
    path = tmp_path("fresh.txt");
    CHECK_OK(vidai_atomic_write(path, fill_text, &ok));
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0400) && (st.st_mode & 0200));
    CHECK(file_equals(path, "new contents"));
}

TEST(safetensors, atomic_write_failures)
{
    char missing[600];
    const char *dir = tmp_path("a_directory");
    struct fill_arg ok = {"x", 0};
    /* A directory that does not exist. */
    snprintf(missing, sizeof missing, "%s/nope/out.bin", vt_tmp_dir());
    CHECK(vidai_atomic_write(missing, fill_text, &ok) == VIDA_EIO);
    CHECK(strstr(vida_last_error(), missing) && strstr(vida_last_error(), "create temporary"));
    CHECK(strstr(vida_last_error(), strerror(ENOENT)));
    /* rename over a directory fails after the data is written: the temp file goes. */
    CHECK(mkdir(dir, 0755) == 0);
    CHECK(vidai_atomic_write(dir, fill_text, &ok) == VIDA_EIO);
    CHECK(strstr(vida_last_error(), dir) && strstr(vida_last_error(), "rename"));
    CHECK(count_temp_files() == 0);
    CHECK(vidai_atomic_write(NULL, fill_text, &ok) == VIDA_EINVAL);
    CHECK(vidai_atomic_write(missing, NULL, &ok) == VIDA_EINVAL);
}

/*
 * What vidai_atomic_remove_stale removes of the temporary files beside a path: in a folder of
 * files named like t.bin's temporary files, only regular files whose writer is gone go.
 * "t.bin.tmp.<pid>.XXXXXX" of a process that has ended (forked, exited, reaped) goes; of this
 * process, of a sleeping child, of PID 1, or locked by a live process (as a writer on another
 * machine would hold it) it stays. The older form "t.bin.tmp.XXXXXX" goes when 16 minutes old
 * and stays when fresh or 14 minutes old. Names not exactly of these forms, another path's
 * temporary files, a symlink with a matching name (and the file it points to), a directory and
 * a FIFO stay. Once the sleeping child is gone and the lock released, the next call removes
 * theirs too.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* dir/name in out[0, size); 0, or -1 when it does not fit. */
static int join(char *out, size_t size, const char *dir, const char *name)
{
    int k = snprintf(out, size, "%s/%s", dir, name);
    return k >= 0 && (size_t)k < size ? 0 : -1;
}

/* Creates dir/name holding "x", modified age_s seconds ago; 0 on success. */
static int stale_file(const char *dir, const char *name, int age_s)
{
    char p[900];
    struct timespec t[2];
    if (join(p, sizeof p, dir, name) != 0 || vt_write_file(p, "x", 1) != 0)
        return -1;
    clock_gettime(CLOCK_REALTIME, &t[0]);
    t[0].tv_sec -= age_s;
    t[1] = t[0];
    return utimensat(AT_FDCWD, p, t, 0);
}

static int exists_in(const char *dir, const char *name)
{
    char p[900];
    struct stat st;
    return join(p, sizeof p, dir, name) == 0 && lstat(p, &st) == 0;
}

TEST(safetensors, remove_stale_takes_only_dead_writers_temp_files)
{
    enum { GONE, STAYS, LATER }; /* LATER: stays, and goes once its writer is gone */
    char dir[600], path[700], names[40][96], victim[700], p[900];
    int fate[40], n = 0, gone = 0, removed, lock_fd, status;
    struct flock lk;
    pid_t dead, dead2, sleeper;
    long self = (long)getpid();
    snprintf(dir, sizeof dir, "%s/stale", vt_tmp_dir());
    CHECK(mkdir(dir, 0755) == 0);
    snprintf(path, sizeof path, "%s/t.bin", dir);
    /* two PIDs of processes that are gone, and one of a live child */
    fflush(NULL);
    dead = fork();
    if (dead == 0)
        _exit(0);
    CHECK(dead > 0 && waitpid(dead, &status, 0) == dead);
    dead2 = fork();
    if (dead2 == 0)
        _exit(0);
    CHECK(dead2 > 0 && waitpid(dead2, &status, 0) == dead2);
    sleeper = fork();
    if (sleeper == 0) {
        /* a failed check leaves it behind: it ends with this process, or after 2 minutes */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if ((long)getppid() != self)
            _exit(0);
        alarm(120);
        for (;;)
            pause();
    }
    CHECK(sleeper > 0);
#define NAME(f, ...) (snprintf(names[n], sizeof names[n], __VA_ARGS__), fate[n] = (f), names[n++])
    /* the writer is gone */
    CHECK(stale_file(dir, NAME(GONE, "t.bin.tmp.%ld.abc123", (long)dead), 0) == 0);
    CHECK(stale_file(dir, NAME(GONE, "t.bin.tmp.%ld.Z9y8X7", (long)dead2), 0) == 0);
    CHECK(stale_file(dir, NAME(GONE, "t.bin.tmp.%ld.000000", (long)dead), 0) == 0);
    CHECK(stale_file(dir, NAME(GONE, "t.bin.tmp.Ab12Cd"), 16 * 60) == 0);
    CHECK(stale_file(dir, NAME(GONE, "t.bin.tmp.123456"), 16 * 60) == 0);
    /* the writer is alive, or may be */
    CHECK(stale_file(dir, NAME(STAYS, "t.bin.tmp.%ld.abc123", self), 0) == 0);
    CHECK(stale_file(dir, NAME(LATER, "t.bin.tmp.%ld.abc123", (long)sleeper), 0) == 0);
    CHECK(stale_file(dir, NAME(STAYS, "t.bin.tmp.1.abc123"), 0) == 0);
    CHECK(stale_file(dir, NAME(STAYS, "t.bin.tmp.Xy34Ef"), 0) == 0);
    CHECK(stale_file(dir, NAME(STAYS, "t.bin.tmp.Mn78Op"), 14 * 60) == 0);
    CHECK(stale_file(dir, NAME(LATER, "t.bin.tmp.%ld.lck123", (long)dead2), 0) == 0);
    CHECK(join(p, sizeof p, dir, names[n - 1]) == 0);
    lock_fd = open(p, O_RDWR | O_CLOEXEC);
    memset(&lk, 0, sizeof lk);
    lk.l_type = F_WRLCK;
    lk.l_whence = SEEK_SET;
    CHECK(lock_fd >= 0 && fcntl(lock_fd, F_OFD_SETLK, &lk) == 0);
    /* not exactly the form */
    CHECK(stale_file(dir, NAME(STAYS, "t.bin.tmp.%ld.abc12", (long)dead), 0) == 0);
    CHECK(stale_file(dir, NAME(STAYS, "t.bin.tmp.%ld.abc1234", (long)dead), 0) == 0);
    CHECK(stale_file(dir, NAME(STAYS, "t.bin.tmp.%ld.abc-12", (long)dead), 0) == 0);
    CHECK(stale_file(dir, NAME(STAYS, "t.bin.tmp.%ld.abc123.bak", (long)dead), 0) == 0);
    CHECK(stale_file(dir, NAME(STAYS, "t.bin.tmp.%ldx.abc123", (long)dead), 0) == 0);
    CHECK(stale_file(dir, NAME(STAYS, "t.bin.tmp.0%ld.abc123", (long)dead), 0) == 0);
    CHECK(stale_file(dir, NAME(STAYS, "t.bin.tmp.-%ld.abc123", (long)dead), 0) == 0);
    CHECK(stale_file(dir, NAME(STAYS, "t.bin.tmp.0.abc123"), 0) == 0);
    CHECK(stale_file(dir, NAME(STAYS, "t.bin.tmp..abc123"), 0) == 0);
    CHECK(stale_file(dir, NAME(STAYS, "t.bin.tmp.99999999999999999999.abc123"), 0) == 0);
    CHECK(stale_file(dir, NAME(STAYS, "t.bin.tmp.%ld", (long)dead), 0) == 0);
    CHECK(stale_file(dir, NAME(STAYS, "t.bin.TMP.%ld.abc123", (long)dead), 0) == 0);
    CHECK(stale_file(dir, NAME(STAYS, "t.bin.tmp.Ab12C"), 16 * 60) == 0);
    CHECK(stale_file(dir, NAME(STAYS, "t.bin.tmp.Ab12Cd7"), 16 * 60) == 0);
    CHECK(stale_file(dir, NAME(STAYS, "u.bin.tmp.%ld.abc123", (long)dead), 0) == 0);
    CHECK(stale_file(dir, NAME(STAYS, "xt.bin.tmp.%ld.abc123", (long)dead), 0) == 0);
    CHECK(stale_file(dir, NAME(STAYS, "t.bin.tmp.%ld.abc123.tmp.%ld.abc123", (long)dead, 1L), 0) ==
          0);
    /* not regular files */
    snprintf(victim, sizeof victim, "%s/victim", dir);
    CHECK(vt_write_file(victim, "keep", 4) == 0);
    CHECK(join(p, sizeof p, dir, NAME(STAYS, "t.bin.tmp.%ld.sym123", (long)dead)) == 0);
    CHECK(symlink("victim", p) == 0);
    CHECK(join(p, sizeof p, dir, NAME(STAYS, "t.bin.tmp.Sy12Ln")) == 0);
    CHECK(symlink(victim, p) == 0);
    {
        struct timespec t[2];
        clock_gettime(CLOCK_REALTIME, &t[0]);
        t[0].tv_sec -= 16 * 60;
        t[1] = t[0];
        CHECK(utimensat(AT_FDCWD, p, t, AT_SYMLINK_NOFOLLOW) == 0);
    }
    CHECK(join(p, sizeof p, dir, NAME(STAYS, "t.bin.tmp.%ld.dir123", (long)dead)) == 0);
    CHECK(mkdir(p, 0755) == 0);
    CHECK(join(p, sizeof p, dir, NAME(STAYS, "t.bin.tmp.%ld.fifo12", (long)dead)) == 0);
    CHECK(mkfifo(p, 0644) == 0);
#undef NAME

    for (int i = 0; i < n; i++)
        gone += fate[i] == GONE;
    removed = vidai_atomic_remove_stale(path);
    for (int i = 0; i < n; i++)
        CHECKF(exists_in(dir, names[i]) == (fate[i] != GONE), "%s was %s", names[i],
               fate[i] != GONE ? "removed" : "left");
    CHECK(removed == gone);
    CHECK(file_equals(victim, "keep"));

    /* the sleeping child ends, the lock goes: theirs go with the next call */
    kill(sleeper, SIGKILL);
    CHECK(waitpid(sleeper, &status, 0) == sleeper);
    close(lock_fd);
    removed = vidai_atomic_remove_stale(path);
    for (int i = 0; i < n; i++)
        CHECKF(exists_in(dir, names[i]) == (fate[i] == STAYS), "after the second call, %s was %s",
               names[i], fate[i] == STAYS ? "removed" : "left");
    CHECK(removed == 2);
    CHECK(file_equals(victim, "keep"));
}
