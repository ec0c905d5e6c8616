/* Version and feature bits. */
#include <stdio.h>
#include <string.h>

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
#ifdef VIDA_HAVE_MPI
           | VIDA_FEATURE_MPI
#endif
#ifdef VIDA_HAVE_NCCL
           | VIDA_FEATURE_NCCL
#endif
        ;
}
