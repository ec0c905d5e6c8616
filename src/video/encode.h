/*
 * Writing videos (internal): RGB frames from a callback, encoded with
 * libavcodec and muxed into MP4 with libavformat. Used by SynthActions
 * (src/synth); the public API only reads videos.
 */
#ifndef VIDAI_ENCODE_H
#define VIDAI_ENCODE_H

#include <stdint.h>

enum {
    VIDAI_CODEC_AUTO = 0,  /* H.264 (libx264) when libavcodec has it, else MPEG-4 part 2 */
    VIDAI_CODEC_H264 = 1,
    VIDAI_CODEC_MPEG4 = 2
};

/* Fills rgb (height x width x 3, packed, row-major) with frame `index`. VIDA_OK or an error. */
typedef int (*vidai_frame_fn)(void *arg, int64_t index, uint8_t *rgb);

/*
 * Encodes n_frames frames of width x height (even, 16..4096) at fps frames per
 * second (1..240) into an MP4 file at path, written atomically (a temporary
 * file renamed into place; nothing is left behind on failure). One encoder
 * thread and fixed settings, so the bytes depend only on the frames and the
 * libavcodec build. *codec_used (may be NULL) gets the encoder's name.
 * Returns VIDA_OK, VIDA_EINVAL, VIDA_EUNSUPPORTED (no such encoder), VIDA_EIO,
 * VIDA_ENOMEM, or the callback's error.
 */
int vidai_video_write(const char *path, int width, int height, int fps, int codec, int64_t n_frames,
                      vidai_frame_fn frame, void *arg, const char **codec_used);

/* Lowers libav's log level to fatal once per process, unless VIDA_FFMPEG_LOG is set (video.c). */
void vidai_av_quiet(void);

/* 1 when libavcodec has an encoder for codec (VIDAI_CODEC_*; AUTO: either), else 0. */
int vidai_video_can_write(int codec);

#endif
