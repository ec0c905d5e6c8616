/* Version and feature bits. */
#include <stdio.h>
#include <string.h>

#include <cblas.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include "core/core.h"

#define VIDAI_STR2(x) #x
#define VIDAI_STR(x) VIDAI_STR2(x)

int vida_version_number(void)
{
    return VIDA_VERSION_NUMBER;
}

const char *vida_version_string(void)
{
    return VIDAI_STR(VIDA_VERSION_MAJOR) "." VIDAI_STR(VIDA_VERSION_MINOR) "." VIDAI_STR(
        VIDA_VERSION_PATCH);
}

unsigned vida_features(void)
{
    return VIDA_FEATURE_CPU | VIDA_FEATURE_CBLAS | VIDA_FEATURE_FFMPEG
#ifdef VIDA_HAVE_CUDA
           | VIDA_FEATURE_CUDA | VIDA_FEATURE_CUDNN
#endif
        ;
}

const char *vida_features_string(void)
{
    static _Thread_local char buf[320];
    const char *config = openblas_get_config();
    const char *core = openblas_get_corename();
    unsigned fv = avformat_version();
    snprintf(buf, sizeof buf, "cpu cblas(%s; core %s) ffmpeg(libavformat %u.%u.%u, libavcodec %u.%u.%u)%s",
             config ? config : "?", core ? core : "?", fv >> 16, (fv >> 8) & 255, fv & 255,
             avcodec_version() >> 16, (avcodec_version() >> 8) & 255, avcodec_version() & 255,
#ifdef VIDA_HAVE_CUDA
             " cuda cudnn cublas"
#else
             ""
#endif
    );
    return buf;
}
