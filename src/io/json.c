/*
 * A strict JSON parser (RFC 8259) into the small vidai_json DOM, and a string
 * writer.
 *
 * The texts are model-file headers and manifests, so everything a lenient
 * parser would guess about is an error: nesting deeper than 64, duplicate
 * object keys, invalid UTF-8 (RFC 3629: no overlong forms, no encoded
 * surrogates, nothing above U+10FFFF), raw control characters in strings,
 * \u0000, lone surrogate escapes, leading zeros and anything but whitespace
 * after the value. Integers (no fraction, no exponent) are also kept as sign
 * and uint64 magnitude, so offsets and dimensions above 2^53 are exact.
 */
#include <locale.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "io/io.h"

#define JSON_MAX_DEPTH 64

typedef struct json_parser {
    const unsigned char *s;
    size_t len;
    size_t pos;
    const char *what;
} json_parser;

static int parse_value(json_parser *p, vidai_json **out, int depth);

static int json_fail(const json_parser *p, size_t at, const char *reason)
{
    return vidai_error(VIDA_EFORMAT, "%s: JSON: %s at byte %zu", p->what, reason, at);
}

/* Reports the byte at p->pos as unexpected (or the end of the input). */
static int fail_unexpected(const json_parser *p, const char *expected)
{
    char reason[96];
    if (p->pos >= p->len) {
        snprintf(reason, sizeof reason, "unexpected end of input, expected %s", expected);
    } else {
        unsigned c = p->s[p->pos];
        if (c > 0x20 && c < 0x7f)
            snprintf(reason, sizeof reason, "unexpected character '%c', expected %s", (int)c,
                     expected);
        else
            snprintf(reason, sizeof reason, "unexpected byte 0x%02x, expected %s", c, expected);
    }
    return json_fail(p, p->pos, reason);
}

/* Length (1..4) of the valid UTF-8 sequence at s, or 0 if it is not one. */
static size_t utf8_sequence(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    unsigned lo = 0x80, hi = 0xbf;
    size_t n, i;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* U+D800..U+DFFF */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

int vidai_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_sequence(u + i, len - i);
        if (n == 0)
            return 0;
        i += n;
    }
    return 1;
}

static void skip_ws(json_parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

/* Replaces the array *arr of *cap elements by one of at least need (doubling). */
static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    size_t new_cap = *cap ? *cap : 4, bytes;
    void *n;
    if (need <= *cap)
        return VIDA_OK;
    while (new_cap < need) {
        if (vidai_mul_size(&new_cap, new_cap, 2) != 0)
            return vidai_error(VIDA_ENOMEM, "JSON: too many elements");
    }
    if (vidai_mul_size(&bytes, new_cap, elem) != 0)
        return vidai_error(VIDA_ENOMEM, "JSON: too many elements");
    n = vidai_malloc(bytes);
    if (!n)
        return VIDA_ENOMEM;
    if (*arr)
        memcpy(n, *arr, *cap * elem);
    vidai_free(*arr);
    *arr = n;
    *cap = new_cap;
    return VIDA_OK;
}

static int hex4(const unsigned char *s, unsigned *out)
{
    unsigned v = 0;
    int i;
    for (i = 0; i < 4; i++) {
        unsigned c = s[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(unsigned char *d, unsigned cp)
{
    if (cp < 0x80) {
        d[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (unsigned char)(0xc0 | (cp >> 6));
        d[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (unsigned char)(0xe0 | (cp >> 12));
        d[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        d[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    d[0] = (unsigned char)(0xf0 | (cp >> 18));
    d[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    d[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    d[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decodes the \uXXXX escape (or surrogate pair) at s[i]; i..end is the string body. */
static int decode_u_escape(json_parser *p, size_t *i, size_t end, unsigned *cp)
{
    const unsigned char *s = p->s;
    unsigned hi, lo;
    if (end - *i < 6 || hex4(s + *i + 2, &hi) != 0)
        return json_fail(p, *i, "invalid \\u escape (4 hex digits expected)");
    if (hi == 0)
        return json_fail(p, *i, "\\u0000 (embedded NUL) in string");
    if (hi >= 0xdc00 && hi <= 0xdfff)
        return json_fail(p, *i, "lone low surrogate in \\u escape");
    if (hi >= 0xd800 && hi <= 0xdbff) {
        if (end - *i < 12 || s[*i + 6] != '\\' || s[*i + 7] != 'u' || hex4(s + *i + 8, &lo) != 0 ||
            lo < 0xdc00 || lo > 0xdfff)
            return json_fail(p, *i, "lone high surrogate in \\u escape");
        *cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
        *i += 12;
        return VIDA_OK;
    }
    *cp = hi;
    *i += 6;
    return VIDA_OK;
}

/* Parses the string at p->pos (a '"') into a new NUL-terminated UTF-8 buffer. */
static int parse_string(json_parser *p, char **out, size_t *out_len)
{
    const unsigned char *s = p->s;
    size_t start = p->pos, i = start + 1, end, n = 0;
    unsigned char *d;
    int rc;

    /* Find the closing quote first: the decoded text is never longer than its source. */
    for (;;) {
        if (i >= p->len)
            return json_fail(p, start, "unterminated string");
        if (s[i] == '"')
            break;
        i += s[i] == '\\' ? 2 : 1;
    }
    end = i;
    d = vidai_malloc(end - start);
    if (!d)
        return VIDA_ENOMEM;

    i = start + 1;
    while (i < end) {
        unsigned c = s[i];
        if (c == '\\') {
            unsigned cp = 0;
            switch (s[i + 1]) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u':
                rc = decode_u_escape(p, &i, end, &cp);
                if (rc != VIDA_OK) {
                    vidai_free(d);
                    return rc;
                }
                n += put_utf8(d + n, cp);
                continue;
            default:
                vidai_free(d);
                return json_fail(p, i, "invalid escape in string");
            }
            d[n++] = (unsigned char)cp;
            i += 2;
        } else if (c < 0x20) {
            vidai_free(d);
            return json_fail(p, i, "raw control character in string");
        } else if (c < 0x80) {
            d[n++] = (unsigned char)c;
            i++;
        } else {
            size_t k = utf8_sequence(s + i, end - i);
            if (k == 0) {
                vidai_free(d);
                return json_fail(p, i, "invalid UTF-8 in string");
            }
            memcpy(d + n, s + i, k);
            n += k;
            i += k;
        }
    }
    d[n] = '\0';
    p->pos = end + 1;
    *out = (char *)d;
    *out_len = n;
    return VIDA_OK;
}

/*
 * strtod follows LC_NUMERIC, which a host program may have set to a locale
 * with a decimal comma; JSON always uses '.', so convert in the "C" locale.
 */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

static int parse_number(json_parser *p, vidai_json *j)
{
    const unsigned char *s = p->s;
    size_t start = p->pos, i = start;
    int neg = 0, integer = 1, overflow = 0;
    uint64_t mag = 0;

    if (s[i] == '-') {
        neg = 1;
        i++;
    }
    if (i >= p->len || s[i] < '0' || s[i] > '9')
        return json_fail(p, i, "invalid number (digit expected)");
    if (s[i] == '0') {
        i++;
        if (i < p->len && s[i] >= '0' && s[i] <= '9')
            return json_fail(p, i - 1, "leading zero in number");
    } else {
        while (i < p->len && s[i] >= '0' && s[i] <= '9') {
            unsigned dg = s[i] - '0';
            if (mag > (UINT64_MAX - dg) / 10)
                overflow = 1;
            else
                mag = mag * 10 + dg;
            i++;
        }
    }
    if (i < p->len && s[i] == '.') {
        integer = 0;
        i++;
        if (i >= p->len || s[i] < '0' || s[i] > '9')
            return json_fail(p, i, "invalid number (digit expected after '.')");
        while (i < p->len && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        integer = 0;
        i++;
        if (i < p->len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= p->len || s[i] < '0' || s[i] > '9')
            return json_fail(p, i, "invalid number (digit expected in exponent)");
        while (i < p->len && s[i] >= '0' && s[i] <= '9')
            i++;
    }

    j->type = VIDAI_JSON_NUMBER;
    /* Integers that fit int64 or uint64 are exact; (double)mag rounds once. */
    if (integer && !overflow && (!neg || mag <= (uint64_t)1 << 63)) {
        j->is_integer = 1;
        j->negative = neg && mag != 0;
        j->uint_abs = mag;
        j->number = neg ? -(double)mag : (double)mag;
    } else {
        char small[64], *buf = small;
        size_t n = i - start;
        if (n >= sizeof small) {
            buf = vidai_malloc(n + 1);
            if (!buf)
                return VIDA_ENOMEM;
        }
        memcpy(buf, s + start, n);
        buf[n] = '\0';
        pthread_once(&c_locale_once, make_c_locale);
        j->number = c_locale ? strtod_l(buf, NULL, c_locale) : strtod(buf, NULL);
        if (buf != small)
            vidai_free(buf);
    }
    p->pos = i;
    return VIDA_OK;
}

static int parse_literal(json_parser *p, vidai_json *j)
{
    static const struct {
        const char *text;
        int type;
    } lits[] = {{"true", VIDAI_JSON_TRUE}, {"false", VIDAI_JSON_FALSE}, {"null", VIDAI_JSON_NULL}};
    size_t k;
    for (k = 0; k < sizeof lits / sizeof lits[0]; k++) {
        size_t n = strlen(lits[k].text);
        if (p->s[p->pos] == (unsigned char)lits[k].text[0]) {
            if (p->len - p->pos < n || memcmp(p->s + p->pos, lits[k].text, n) != 0)
                return json_fail(p, p->pos, "invalid literal");
            j->type = lits[k].type;
            p->pos += n;
            return VIDA_OK;
        }
    }
    return fail_unexpected(p, "a value");
}

static int parse_array(json_parser *p, vidai_json *j, int depth)
{
    size_t cap = 0;
    int rc;
    j->type = VIDAI_JSON_ARRAY;
    p->pos++; /* '[' */
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
        return VIDA_OK;
    }
    for (;;) {
        vidai_json *item = NULL;
        rc = grow((void **)&j->items, &cap, j->length + 1, sizeof *j->items);
        if (rc != VIDA_OK)
            return rc;
        rc = parse_value(p, &item, depth);
        if (rc != VIDA_OK)
            return rc;
        j->items[j->length++] = item;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == ']') {
            p->pos++;
            return VIDA_OK;
        }
        return fail_unexpected(p, "',' or ']'");
    }
}

typedef struct key_ref {
    const char *key;
    size_t offset;
} key_ref;

static int cmp_key_ref(const void *a, const void *b)
{
    const key_ref *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c != 0)
        return c;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Sorting keeps the check O(n log n) for headers with many thousands of tensors. */
static int check_duplicates(json_parser *p, vidai_json *j, const size_t *offsets)
{
    key_ref *refs;
    size_t i;
    if (j->length < 2)
        return VIDA_OK;
    refs = vidai_calloc(j->length, sizeof *refs);
    if (!refs)
        return VIDA_ENOMEM;
    for (i = 0; i < j->length; i++) {
        refs[i].key = j->keys[i];
        refs[i].offset = offsets[i];
    }
    qsort(refs, j->length, sizeof *refs, cmp_key_ref);
    for (i = 1; i < j->length; i++) {
        if (strcmp(refs[i - 1].key, refs[i].key) == 0) {
            char reason[128];
            size_t at = refs[i].offset;
            snprintf(reason, sizeof reason, "duplicate key \"%.60s\"", refs[i].key);
            vidai_free(refs);
            return json_fail(p, at, reason);
        }
    }
    vidai_free(refs);
    return VIDA_OK;
}

static int parse_object(json_parser *p, vidai_json *j, int depth)
{
    size_t cap_keys = 0, cap_items = 0, cap_offsets = 0;
    size_t *offsets = NULL;
    int rc;
    j->type = VIDAI_JSON_OBJECT;
    p->pos++; /* '{' */
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        return VIDA_OK;
    }
    for (;;) {
        vidai_json *item = NULL;
        char *key = NULL;
        size_t key_len, key_at;
        size_t need = j->length + 1;
        rc = grow((void **)&j->keys, &cap_keys, need, sizeof *j->keys);
        if (rc == VIDA_OK)
            rc = grow((void **)&j->items, &cap_items, need, sizeof *j->items);
        if (rc == VIDA_OK)
            rc = grow((void **)&offsets, &cap_offsets, need, sizeof *offsets);
        if (rc != VIDA_OK)
            goto out;
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != '"') {
            rc = fail_unexpected(p, "a string key");
            goto out;
        }
        key_at = p->pos;
        rc = parse_string(p, &key, &key_len);
        if (rc != VIDA_OK)
            goto out;
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':') {
            vidai_free(key);
            rc = fail_unexpected(p, "':'");
            goto out;
        }
        p->pos++;
        rc = parse_value(p, &item, depth);
        if (rc != VIDA_OK) {
            vidai_free(key);
            goto out;
        }
        j->keys[j->length] = key;
        j->items[j->length] = item;
        offsets[j->length] = key_at;
        j->length++;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == '}') {
            p->pos++;
            rc = check_duplicates(p, j, offsets);
            goto out;
        }
        rc = fail_unexpected(p, "',' or '}'");
        goto out;
    }
out:
    vidai_free(offsets);
    return rc;
}

static int parse_value(json_parser *p, vidai_json **out, int depth)
{
    vidai_json *j;
    unsigned char c;
    int rc;
    skip_ws(p);
    if (p->pos >= p->len)
        return fail_unexpected(p, "a value");
    j = vidai_calloc(1, sizeof *j);
    if (!j)
        return VIDA_ENOMEM;
    c = p->s[p->pos];
    if (c == '{' || c == '[') {
        if (depth >= JSON_MAX_DEPTH)
            rc = json_fail(p, p->pos, "nesting deeper than 64 levels");
        else if (c == '{')
            rc = parse_object(p, j, depth + 1);
        else
            rc = parse_array(p, j, depth + 1);
    } else if (c == '"') {
        j->type = VIDAI_JSON_STRING;
        rc = parse_string(p, &j->string, &j->length);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        rc = parse_number(p, j);
    } else {
        rc = parse_literal(p, j);
    }
    if (rc != VIDA_OK) {
        vidai_json_free(j);
        return rc;
    }
    *out = j;
    return VIDA_OK;
}

int vidai_json_parse_at(vidai_json **out, const char *text, size_t len, size_t *pos,
                        const char *what)
{
    json_parser p;
    int rc;
    if (!out || !pos || (!text && len) || *pos > len)
        return vidai_error(VIDA_EINVAL, "vidai_json_parse: invalid argument");
    *out = NULL;
    p.s = (const unsigned char *)(text ? text : "");
    p.len = len;
    p.pos = *pos;
    p.what = what ? what : "JSON";
    rc = parse_value(&p, out, 0);
    if (rc == VIDA_OK)
        *pos = p.pos;
    return rc;
}

int vidai_json_parse(vidai_json **out, const char *text, size_t len, const char *what)
{
    json_parser p;
    size_t end = 0;
    int rc = vidai_json_parse_at(out, text, len, &end, what);
    if (rc != VIDA_OK)
        return rc;
    p.s = (const unsigned char *)text;
    p.len = len;
    p.pos = end;
    p.what = what ? what : "JSON";
    skip_ws(&p);
    if (p.pos < len) {
        vidai_json_free(*out);
        *out = NULL;
        return fail_unexpected(&p, "end of input (trailing characters)");
    }
    return VIDA_OK;
}

void vidai_json_free(vidai_json *j)
{
    size_t i;
    if (!j)
        return;
    if (j->type == VIDAI_JSON_ARRAY || j->type == VIDAI_JSON_OBJECT) {
        for (i = 0; i < j->length; i++) {
            vidai_json_free(j->items[i]);
            if (j->keys)
                vidai_free(j->keys[i]);
        }
    }
    vidai_free(j->items);
    vidai_free(j->keys);
    vidai_free(j->string);
    vidai_free(j);
}

const vidai_json *vidai_json_get(const vidai_json *obj, const char *key)
{
    size_t i;
    if (!obj || !key || obj->type != VIDAI_JSON_OBJECT)
        return NULL;
    for (i = 0; i < obj->length; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return obj->items[i];
    return NULL;
}

void vidai_json_write_string(FILE *f, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    fputc('"', f);
    for (; *u; u++) {
        if (*u == '"' || *u == '\\') {
            fputc('\\', f);
            fputc(*u, f);
        } else if (*u < 0x20) {
            fprintf(f, "\\u%04x", (unsigned)*u);
        } else {
            fputc(*u, f);
        }
    }
    fputc('"', f);
}
