/* vida_features_string: the versions of what this build is linked with (own object: it pulls in
   OpenBLAS and FFmpeg, which vida_version_* and vida_features do not need). */
#include <stdio.h>

#include <cblas.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include "core/core.h"

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
#ifdef VIDA_HAVE_MPI
             " mpi"
#endif
#ifdef VIDA_HAVE_NCCL
             " nccl"
#endif
    );
    return buf;
}
