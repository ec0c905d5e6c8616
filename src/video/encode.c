/*
 * Writing MP4 videos from RGB frames (internal; see encode.h).
 *
 * Frames are converted to YUV 4:2:0 here (BT.601, limited range, chroma the
 * mean of each 2x2 block -- tagged as such, so decoders convert back with the
 * same matrix), encoded with libx264 (CRF 20, preset "veryfast", one thread)
 * or the native MPEG-4 part 2 encoder (fixed quantiser 3), and muxed into MP4
 * through our own AVIOContext over the temporary file vidai_atomic_write
 * gives us: libavformat never opens a path itself.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>

#include "core/core.h"
#include "io/io.h"
#include "video/encode.h"

#define VIDAI_ENC_IO_BUFFER 65536

typedef struct enc_job {
    const char *path;
    int width, height, fps, codec;
    int64_t n_frames;
    vidai_frame_fn frame;
    void *arg;
    const char *codec_used;
} enc_job;

static const AVCodec *find_encoder(int codec)
{
    const AVCodec *c = NULL;
    if (codec == VIDAI_CODEC_AUTO || codec == VIDAI_CODEC_H264)
        c = avcodec_find_encoder_by_name("libx264");
    if (!c && (codec == VIDAI_CODEC_AUTO || codec == VIDAI_CODEC_MPEG4))
        c = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
    return c;
}

int vidai_video_can_write(int codec)
{
    return find_encoder(codec) != NULL;
}

/* libavformat 61 (FFmpeg 7) made the buffer const */
#if LIBAVFORMAT_VERSION_MAJOR >= 61
static int io_write(void *opaque, const uint8_t *buf, int n)
#else
static int io_write(void *opaque, uint8_t *buf, int n)
#endif
{
    FILE *f = opaque;
    return fwrite(buf, 1, (size_t)n, f) == (size_t)n ? n : AVERROR(EIO);
}

static int64_t io_seek(void *opaque, int64_t offset, int whence)
{
    FILE *f = opaque;
    if (whence & AVSEEK_SIZE)
        return -1;
    if (fseeko(f, (off_t)offset, whence & ~AVSEEK_FORCE) != 0)
        return AVERROR(errno);
    return (int64_t)ftello(f);
}

static void rgb_to_yuv420(const uint8_t *rgb, int w, int h, AVFrame *fr)
{
    for (int y = 0; y < h; y++) {
        const uint8_t *p = rgb + (size_t)y * (size_t)w * 3;
        uint8_t *Y = fr->data[0] + (size_t)y * (size_t)fr->linesize[0];
        for (int x = 0; x < w; x++, p += 3)
            Y[x] = (uint8_t)(((66 * p[0] + 129 * p[1] + 25 * p[2] + 128) >> 8) + 16);
    }
    for (int y = 0; y < h / 2; y++) {
        uint8_t *U = fr->data[1] + (size_t)y * (size_t)fr->linesize[1];
        uint8_t *V = fr->data[2] + (size_t)y * (size_t)fr->linesize[2];
        for (int x = 0; x < w / 2; x++) {
            int r = 0, g = 0, b = 0;
            for (int dy = 0; dy < 2; dy++)
                for (int dx = 0; dx < 2; dx++) {
                    const uint8_t *p = rgb + ((size_t)(2 * y + dy) * (size_t)w + (size_t)(2 * x + dx)) * 3;
                    r += p[0];
                    g += p[1];
                    b += p[2];
                }
            /* the 2x2 sums are 4x the mean: the >> 10 divides by 4 and by 256 */
            U[x] = (uint8_t)(((-38 * r - 74 * g + 112 * b + 512) >> 10) + 128);
            V[x] = (uint8_t)(((112 * r - 94 * g - 18 * b + 512) >> 10) + 128);
        }
    }
}

static int av_fail(int code, const char *what, int err)
{
    char msg[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(err, msg, sizeof msg);
    return vidai_error(code, "%s: %s", what, msg);
}

/* Sends frame (NULL: flush) and writes every packet the encoder has ready. */
static int drain(AVCodecContext *enc, AVFormatContext *fmt, AVStream *st, AVFrame *frame,
                 AVPacket *pkt)
{
    int r = avcodec_send_frame(enc, frame);
    if (r < 0)
        return av_fail(VIDA_EIO, "encoding a frame", r);
    for (;;) {
        r = avcodec_receive_packet(enc, pkt);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF)
            return VIDA_OK;
        if (r < 0)
            return av_fail(VIDA_EIO, "encoding a frame", r);
        /* every frame lasts 1/fps: without a duration on its last packet, the MP4 muxer ends
           the track (and its edit list) at that packet's start and readers drop the frame */
        if (pkt->duration <= 0)
            pkt->duration = 1;
        av_packet_rescale_ts(pkt, enc->time_base, st->time_base);
        pkt->stream_index = st->index;
        r = av_interleaved_write_frame(fmt, pkt);
        if (r < 0)
            return av_fail(VIDA_EIO, "writing a packet", r);
    }
}

static int encode_all(void *arg, FILE *f)
{
    enc_job *j = arg;
    const AVCodec *codec = find_encoder(j->codec);
    const AVOutputFormat *ofmt = av_guess_format("mp4", NULL, NULL);
    AVFormatContext *fmt = NULL;
    AVCodecContext *enc = NULL;
    AVIOContext *pb = NULL;
    AVStream *st;
    AVFrame *frame = NULL;
    AVPacket *pkt = NULL;
    uint8_t *iobuf = NULL, *rgb = NULL;
    int rc = VIDA_OK, r;

    if (!codec)
        return vidai_error(VIDA_EUNSUPPORTED, "this libavcodec has no %s encoder",
                           j->codec == VIDAI_CODEC_H264 ? "H.264 (libx264)"
                           : j->codec == VIDAI_CODEC_MPEG4 ? "MPEG-4" : "H.264 or MPEG-4");
    if (!ofmt)
        return vidai_error(VIDA_EUNSUPPORTED, "this libavformat has no MP4 muxer");
    j->codec_used = codec->name;
    rgb = vidai_malloc((size_t)j->width * (size_t)j->height * 3);
    iobuf = av_malloc(VIDAI_ENC_IO_BUFFER);
    enc = avcodec_alloc_context3(codec);
    frame = av_frame_alloc();
    pkt = av_packet_alloc();
    if (!rgb || !iobuf || !enc || !frame || !pkt) {
        rc = vidai_error(VIDA_ENOMEM, "out of memory setting up the encoder");
        goto out;
    }
    enc->width = j->width;
    enc->height = j->height;
    enc->pix_fmt = AV_PIX_FMT_YUV420P;
    enc->time_base = (AVRational){1, j->fps};
    enc->framerate = (AVRational){j->fps, 1};
    enc->gop_size = 2 * j->fps;
    enc->thread_count = 1;
    enc->color_range = AVCOL_RANGE_MPEG;
    enc->colorspace = AVCOL_SPC_SMPTE170M;
    enc->color_primaries = AVCOL_PRI_SMPTE170M;
    enc->color_trc = AVCOL_TRC_SMPTE170M;
    if (codec->id == AV_CODEC_ID_H264) {
        av_opt_set(enc->priv_data, "preset", "veryfast", 0);
        av_opt_set(enc->priv_data, "crf", "20", 0);
        /* without it, libx264 (0.164 here) made other bytes for some videos when encoders ran
           on several threads of one process, or the process had another CPU affinity: 3 to 5 %
           of a set differed between two runs with 2 threads (the decoded frames too), though
           each encoder has one thread and the frames were the same */
        if (av_opt_set(enc->priv_data, "x264-params", "cpu-independent=1", 0) < 0) {
            rc = vidai_error(VIDA_EUNSUPPORTED, "this libx264 wrapper takes no x264-params");
            goto out;
        }
    } else {
        enc->flags |= AV_CODEC_FLAG_QSCALE;
        enc->global_quality = FF_QP2LAMBDA * 3;
        enc->max_b_frames = 0;
    }
    r = avformat_alloc_output_context2(&fmt, ofmt, NULL, NULL);
    if (r < 0 || !fmt) {
        rc = vidai_error(VIDA_ENOMEM, "out of memory setting up the MP4 muxer");
        goto out;
    }
    if (fmt->oformat->flags & AVFMT_GLOBALHEADER)
        enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    enc->flags |= AV_CODEC_FLAG_BITEXACT; /* no encoder version string (before opening it) */
    r = avcodec_open2(enc, codec, NULL);
    if (r < 0) {
        rc = av_fail(VIDA_EUNSUPPORTED, codec->name, r);
        goto out;
    }
    st = avformat_new_stream(fmt, NULL);
    if (!st || avcodec_parameters_from_context(st->codecpar, enc) < 0) {
        rc = vidai_error(VIDA_ENOMEM, "out of memory setting up the MP4 stream");
        goto out;
    }
    st->time_base = enc->time_base;
    pb = avio_alloc_context(iobuf, VIDAI_ENC_IO_BUFFER, 1, f, NULL, io_write, io_seek);
    if (!pb) {
        rc = vidai_error(VIDA_ENOMEM, "out of memory setting up the output");
        goto out;
    }
    iobuf = NULL; /* the AVIOContext owns it now */
    pb->seekable = AVIO_SEEKABLE_NORMAL;
    fmt->pb = pb;
    fmt->flags |= AVFMT_FLAG_BITEXACT; /* no muxer version string: the same bytes every time */
    r = avformat_write_header(fmt, NULL);
    if (r < 0) {
        rc = av_fail(VIDA_EIO, "writing the MP4 header", r);
        goto out;
    }
    frame->format = enc->pix_fmt;
    frame->width = enc->width;
    frame->height = enc->height;
    if (av_frame_get_buffer(frame, 0) < 0) {
        rc = vidai_error(VIDA_ENOMEM, "out of memory for a frame");
        goto out;
    }
    for (int64_t i = 0; i < j->n_frames; i++) {
        rc = j->frame(j->arg, i, rgb);
        if (rc != VIDA_OK)
            goto out;
        if (av_frame_make_writable(frame) < 0) {
            rc = vidai_error(VIDA_ENOMEM, "out of memory for a frame");
            goto out;
        }
        rgb_to_yuv420(rgb, j->width, j->height, frame);
        frame->pts = i;
        rc = drain(enc, fmt, st, frame, pkt);
        if (rc != VIDA_OK)
            goto out;
    }
    rc = drain(enc, fmt, st, NULL, pkt);
    if (rc != VIDA_OK)
        goto out;
    r = av_write_trailer(fmt);
    if (r < 0) {
        rc = av_fail(VIDA_EIO, "writing the MP4 index", r);
        goto out;
    }
    avio_flush(pb);
    if (pb->error < 0)
        rc = av_fail(VIDA_EIO, "writing", pb->error);
out:
    if (pb) {
        av_freep(&pb->buffer);
        avio_context_free(&pb);
    }
    if (fmt)
        fmt->pb = NULL;
    avformat_free_context(fmt);
    avcodec_free_context(&enc);
    av_frame_free(&frame);
    av_packet_free(&pkt);
    av_free(iobuf);
    vidai_free(rgb);
    return rc;
}

int vidai_video_write(const char *path, int width, int height, int fps, int codec, int64_t n_frames,
                      vidai_frame_fn frame, void *arg, const char **codec_used)
{
    enc_job j;
    int rc;
    if (!path || !frame)
        return vidai_error(VIDA_EINVAL, "vidai_video_write: path and frame must be given");
    if (width < 16 || height < 16 || width > 4096 || height > 4096 || (width | height) & 1)
        return vidai_error(VIDA_EINVAL, "%s: frame size %dx%d (even, 16..4096)", path, width, height);
    if (fps < 1 || fps > 240 || n_frames < 1 || n_frames > 1000000)
        return vidai_error(VIDA_EINVAL, "%s: %d fps, %lld frames (1..240 fps, 1..10^6 frames)", path,
                           fps, (long long)n_frames);
    j.path = path;
    j.width = width;
    j.height = height;
    j.fps = fps;
    j.codec = codec;
    j.n_frames = n_frames;
    j.frame = frame;
    j.arg = arg;
    j.codec_used = NULL;
    vidai_av_quiet();
    rc = vidai_atomic_write(path, encode_all, &j);
    if (codec_used)
        *codec_used = j.codec_used;
    return rc;
}
