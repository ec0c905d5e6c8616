/*
 * vida_video: one opened video file, decoded with the system FFmpeg
 * (libavformat, libavcodec, libswscale), frame-accurate.
 *
 * Frames are numbered from 0 in presentation order. At open the whole video
 * stream is demuxed (packets only, nothing decoded) to measure the real frame
 * count, every frame's timestamp and the keyframes; the container's own claim
 * is reported but never trusted. A read seeks to the keyframe before the
 * first wanted frame, decodes forward, and converts only the wanted frames,
 * straight to the requested size, in RGB. Frames are identified by their
 * timestamps, so B-frames, open GOPs, sparse keyframes and variable frame
 * rate give exactly the frames asked for. Streams without usable timestamps
 * (missing, repeated, or starting again as in joined MPEG-TS files) are read
 * sequentially from the start instead, which is slower but still exact.
 *
 * Only plain files are opened: the path is opened with open(2) and FFmpeg
 * reads it through the library's own I/O, so no URL, protocol, playlist or
 * concat list is ever followed; demuxers are limited to a whitelist of video
 * containers (mov/mp4, matroska/webm, avi, mpeg-ts/ps, flv, asf, ogg, ivf,
 * nut, raw h264/hevc/m4v/mjpeg/obu).
 *
 * Hostile files are bounded by vida_video_params: pixels per frame, frames
 * decoded per read, a wall-clock deadline per call. Every error names the
 * file and, where it applies, the frame.
 *
 * Geometry: the display matrix (rotation 90/180/270) is applied, as the
 * ffmpeg program does; width/height in vida_video_info are after rotation.
 * If the coded size changes mid-stream, every frame is scaled to the size
 * the first frame had, so a read's output shape never changes.
 *
 * Threads: a vida_video is used by one thread at a time; different videos
 * may be read concurrently. A vida_video_read (or a sampler's read of it)
 * made while another thread is reading the same video returns VIDA_ESTATE
 * ("in use by another thread").
 *
 * FFmpeg's own log: on first use, if the process has not changed FFmpeg's
 * log level from its default, libvidaction lowers it to "fatal" so that
 * corrupt files do not flood stderr; errors come back through
 * vida_last_error(). Set VIDA_FFMPEG_LOG=1 in the environment to keep it.
 */
#ifndef VIDACTION_VIDEO_H
#define VIDACTION_VIDEO_H

#include "common.h"
#include "context.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vida_video vida_video;

typedef struct vida_video_params {
    size_t size;               /* sizeof(vida_video_params), set by _params_init */
    int64_t max_pixels;        /* most pixels (w*h) per frame; default 4096*4096 */
    int64_t max_decode_frames; /* most frames decoded by one read call; default 8192 */
    double deadline;           /* seconds of wall clock per open or read; default 60, 0 = none */
    int threads;               /* decoder threads; default 1 (parallelise across videos) */
    int stream;                /* video stream index; -1 (default) = FFmpeg's best video stream */
} vida_video_params;

/* Fills *p with defaults. */
VIDA_API void vida_video_params_init(vida_video_params *p);

/*
 * Opens path, finds its video stream and scans it (see above). ctx may be
 * NULL (no logging); p may be NULL for defaults.
 * Returns VIDA_OK, VIDA_EINVAL (NULL out/path, bad params), VIDA_EIO (cannot
 * open or read the file), VIDA_EDECODE (not a video this build can demux and
 * decode: unknown format, no video stream, no frames, truncated before the
 * index), VIDA_ENOMEM (allocation or frame size over max_pixels),
 * VIDA_ECANCELLED (deadline passed).
 */
VIDA_API int vida_video_open(vida_video **out, vida_context *ctx, const char *path,
                             const vida_video_params *p);

/* Closes the file and frees everything. NULL is a no-op. */
VIDA_API void vida_video_free(vida_video *v);

typedef struct vida_video_info {
    size_t size;           /* set by the caller to sizeof(vida_video_info) */
    int64_t n_frames;      /* frames found in the stream (measured) */
    int64_t header_frames; /* frames the container claims; -1 when it does not say */
    double duration;       /* seconds from the first frame's start to the last frame's end */
    double avg_fps;        /* n_frames / duration */
    double real_fps;       /* the stream's base rate (FFmpeg r_frame_rate); 0 if unknown */
    double start_time;     /* the first frame's timestamp in seconds, as the container has it */
    int vfr;               /* 1 when frame durations differ by more than 5% of the median */
    int width, height;     /* size of frames at native size, after rotation */
    int coded_width, coded_height; /* size as decoded (before rotation) */
    int rotation;          /* clockwise degrees applied to output frames: 0, 90, 180, 270 */
    int64_t n_keyframes;   /* keyframes in the stream */
    int64_t max_keyframe_gap; /* most frames from one keyframe to the next (or to the end) */
    int bit_depth;         /* bits per luma sample (8, 10, 12) */
    int full_range;        /* 1 for full-range (JPEG) YUV or RGB sources */
    int sequential;        /* 1 when timestamps are unusable and reads decode from the start */
    char codec[32];        /* FFmpeg codec name, e.g. "h264" */
    char format[64];       /* FFmpeg demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2" */
    char pix_fmt[32];      /* FFmpeg pixel format name, e.g. "yuv420p" */
} vida_video_info;

/* Fills *info (info->size must be set). Returns VIDA_OK or VIDA_EINVAL. */
VIDA_API int vida_video_get_info(const vida_video *v, vida_video_info *info);

/*
 * The timestamp of frame index, in seconds from the first frame (frame 0 is
 * at 0). Returns VIDA_OK or VIDA_EINVAL (index out of range).
 */
VIDA_API int vida_video_frame_time(const vida_video *v, int64_t index, double *seconds);

/*
 * The frame shown at time seconds (from the first frame): the last frame whose
 * timestamp is <= seconds; 0 before the start, the last frame after the end.
 * This is how variable-frame-rate video is sampled by time.
 */
VIDA_API int vida_video_frame_at(const vida_video *v, double seconds, int64_t *index);

/*
 * How frames come out of a read: optionally scaled (short side to a size, or
 * to an exact size), then cropped, then mirrored. Rotation is applied before
 * all of these. Scaling is bicubic (as the ffmpeg program's default).
 */
typedef struct vida_frame_geometry {
    size_t size;        /* sizeof(vida_frame_geometry), set by _init */
    int short_side;     /* > 0: scale so the shorter side has this many pixels, keeping
                           the aspect (the other side rounded to the nearest); 0 = native */
    int scale_width;    /* > 0 with scale_height: scale to exactly this size instead */
    int scale_height;
    int crop_width;     /* > 0: crop this region out of the (scaled) frame; 0 = whole frame */
    int crop_height;
    int crop_x;         /* left/top of the crop in the scaled frame; -1 = centred */
    int crop_y;
    int flip;           /* 1: mirror horizontally (after the crop) */
} vida_frame_geometry;

/* Fills *g with defaults: native size, no crop, no flip. */
VIDA_API void vida_frame_geometry_init(vida_frame_geometry *g);

/*
 * The size of frames read from v with geometry g (NULL = native).
 * Returns VIDA_OK or VIDA_EINVAL (bad geometry, crop larger than the scaled frame).
 */
VIDA_API int vida_video_output_size(const vida_video *v, const vida_frame_geometry *g,
                                    int *width, int *height);

/*
 * Decodes frames indices[0..n) (any order, repeats allowed) into out: uint8
 * RGB, [n, height, width, 3] with the size from vida_video_output_size;
 * out_bytes must be at least n*height*width*3.
 * Returns VIDA_OK, VIDA_EINVAL (NULL, index out of range, out too small),
 * VIDA_EDECODE (a frame could not be decoded; the message names it),
 * VIDA_ENOMEM (a frame over max_pixels, or max_decode_frames reached),
 * VIDA_ECANCELLED (deadline passed). On error out's contents are undefined.
 */
VIDA_API int vida_video_read(vida_video *v, const int64_t *indices, int64_t n,
                             const vida_frame_geometry *g, uint8_t *out, size_t out_bytes);

/* Statistics of the reads made so far on v (for tests and tuning). */
typedef struct vida_video_stats {
    size_t size;             /* set by the caller to sizeof(vida_video_stats) */
    int64_t seeks;           /* seeks made */
    int64_t packets;         /* packets sent to the decoder */
    int64_t frames_decoded;  /* frames that came out of the decoder */
    int64_t frames_converted; /* frames converted to RGB (the ones asked for) */
} vida_video_stats;

/* Fills *stats (stats->size must be set). Returns VIDA_OK or VIDA_EINVAL. */
VIDA_API int vida_video_get_stats(const vida_video *v, vida_video_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
