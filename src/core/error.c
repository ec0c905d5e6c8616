/*
 * Status codes and the thread-local "what was wrong" message
 * (libgit2's git_error_last idea): every failing internal call records a
 * message through vidai_error() and the public call returns its code.
 */
#include <stdio.h>
#include <string.h>

#include "core/core.h"

#define VIDAI_ERROR_SIZE 1024

static _Thread_local char last_error[VIDAI_ERROR_SIZE];

const char *vida_strerror(int code)
{
    switch (code) {
    case VIDA_OK: return "success";
    case VIDA_EINVAL: return "invalid argument";
    case VIDA_EIO: return "input/output error";
    case VIDA_EFORMAT: return "malformed file";
    case VIDA_EDECODE: return "video decoding failed";
    case VIDA_EUNSUPPORTED: return "not supported";
    case VIDA_ENOMEM: return "out of memory";
    case VIDA_EDEVICE: return "device error";
    case VIDA_ENONFINITE: return "non-finite value";
    case VIDA_ECANCELLED: return "cancelled";
    case VIDA_ESTATE: return "invalid state";
    case VIDA_EMISMATCH: return "mismatch";
    default: return "unknown error";
    }
}

const char *vida_last_error(void)
{
    return last_error;
}

void vida_clear_error(void)
{
    last_error[0] = '\0';
}

int vidai_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return code;
}

int vidai_error_prefix(int code, const char *fmt, ...)
{
    char prefix[VIDAI_ERROR_SIZE], old[VIDAI_ERROR_SIZE];
    va_list ap;
    size_t n;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    n = strlen(prefix);
    if (n >= sizeof last_error)
        n = sizeof last_error - 1;
    memcpy(last_error, prefix, n);
    memcpy(last_error + n, old, sizeof last_error - n - 1);
    last_error[sizeof last_error - 1] = '\0';
    return code;
}
