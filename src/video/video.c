/*
 * vida_video: frame-accurate reading of one video file with libavformat,
 * libavcodec and libswscale.
 *
 * Open: the file is opened with open(2) and handed to libavformat through our
 * own AVIOContext (no URL is ever parsed, nested opens are refused, demuxers
 * are whitelisted). The video stream's packets are then read once, without
 * decoding, to build the frame table: every frame's timestamp in
 * presentation order (the sorted packet pts) and the keyframes. Packets
 * before the first keyframe, leading frames that reference nothing before it,
 * packets marked for discard and packets cut short (a truncated file's last
 * one) are not frames.
 *
 * Read: wanted frames are sorted; for each, if the decoder is not already
 * before it within reach, we seek to the last keyframe whose pts is <= the
 * frame's pts, drop packets until a keyframe, and decode forward. Decoded
 * frames are identified by their timestamp (best_effort_timestamp) against
 * the table, so output order, B-frames and open GOPs do not matter. A seek
 * that lands after the wanted frame (demuxer index trouble) is retried from an
 * earlier keyframe, then from the start. Only wanted frames are converted,
 * straight to the requested size, then rotated, cropped and mirrored.
 *
 * Streams whose timestamps are missing, repeated or start again (a jump
 * back: MPEG-TS files joined end to end) are read "sequentially": frame i is
 * the i-th frame out of the decoder from the start, and every packet from the
 * first keyframe on counts as a frame (a packet flagged corrupt too: the
 * decoder gets it), so the table matches what the decoder gives.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "core/core.h"
#include "video/encode.h"
#include "vidaction/video.h"

#define VIDAI_IO_BUFFER 65536
#define VIDAI_MAX_TABLE (1 << 22) /* frames in one video stream (46 h at 25 fps; ~300 MB of tables at most) */
#define VIDAI_SEEK_RETRIES 2 /* seek attempts before reading from the start */
#define VIDAI_LATE 2         /* next_frame: the seek landed after its keyframe */

/* Demuxers a video may come in. Playlists, concat, image sequences, devices: never. */
static const char *const format_whitelist =
    "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,mpeg,flv,asf,ogg,ivf,nut,"
    "h264,hevc,m4v,mjpeg,obu,mpegvideo,yuv4mpegpipe";

struct vida_video {
    vida_context *ctx;
    vidai_guard guard; /* one thread at a time in vida_video_read (core.h) */
    char *path;
    vida_video_params p;
    int fd;
    int64_t file_size;
    double deadline_at; /* monotonic seconds; 0 = none */
    AVFormatContext *fmt;
    AVIOContext *pb;
    AVCodecContext *dec;
    AVPacket *pkt;
    AVFrame *frame;
    int si; /* stream index */
    AVRational tb;

    /* frame table */
    int64_t n;        /* frames */
    int64_t *pts;     /* [n] sorted, presentation order */
    int64_t n_keys;
    int64_t *key_pts; /* [n_keys] ascending */
    int64_t *key_ts;  /* [n_keys] timestamp to seek to: min(pts, dts) */
    int64_t *key_idx; /* [n_keys] frame index of the keyframe */
    int sequential;
    double frame_dur; /* seconds, median */

    vida_video_info info;
    int pix_fmt;        /* of the stream: from the header, a parser, or the first frame */
    int color_range;
    int base_w, base_h; /* size of the first frame (bitstream, else container): what every frame is scaled to */

    /* decoder state */
    int positioned;     /* the decoder runs from a known point */
    int64_t last_pts;   /* pts of the last frame out of the decoder (INT64_MIN: none) */
    int64_t sent_pts;   /* largest pts of a packet sent to the decoder since the seek */
    int64_t seq_next;   /* sequential: index of the next frame out of the decoder */
    int wait_key;       /* after a seek: drop packets until a keyframe */
    int64_t seek_aim;   /* pts of the keyframe the last seek aimed at */
    int demux_eof;
    int decoder_eof;

    /* the frames the current read wants (sorted), for skipping unwanted non-reference frames */
    const int64_t *want_idx;
    int64_t n_want;
    int64_t want_stride;
    int skip_nonref;   /* 0 after a frame went missing with skipping on: this video never skips */
    int64_t skipped[64]; /* pts of packets sent with skipping, not yet passed by the output */
    int n_skipped;
    int skipped_overflow;
    int buffer_failed; /* the decoder could not get a frame buffer (out of memory): set by get_buffer_watch */
    int mirror;        /* the display matrix mirrors the picture (after info.rotation) */

    /* conversion */
    struct SwsContext *sws;  /* frame to RGB (or to scaled YUV 4:4:4) */
    struct SwsContext *sws2; /* scaled YUV 4:4:4 to RGB */
    uint8_t *tmp, *yuv;
    size_t tmp_size, yuv_size;
    int sws_key[8], sws2_key[4];

    vida_video_stats stats;
};

/* ---- time and I/O --------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void start_clock(vida_video *v)
{
    v->deadline_at = v->p.deadline > 0 ? now_s() + v->p.deadline : 0;
}

static int expired(const vida_video *v)
{
    return v->deadline_at > 0 && now_s() > v->deadline_at;
}

static int interrupt_cb(void *opaque)
{
    return expired((const vida_video *)opaque);
}

static int io_read(void *opaque, uint8_t *buf, int size)
{
    vida_video *v = opaque;
    if (expired(v))
        return AVERROR_EXIT;
    for (;;) {
        ssize_t r = read(v->fd, buf, (size_t)size);
        if (r > 0)
            return (int)r;
        if (r == 0)
            return AVERROR_EOF;
        if (errno != EINTR)
            return AVERROR(errno);
    }
}

static int64_t io_seek(void *opaque, int64_t offset, int whence)
{
    vida_video *v = opaque;
    off_t r;
    whence &= ~AVSEEK_FORCE;
    if (whence == AVSEEK_SIZE)
        return v->file_size;
    if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END)
        return AVERROR(EINVAL);
    r = lseek(v->fd, (off_t)offset, whence);
    return r < 0 ? AVERROR(errno) : (int64_t)r;
}

/* Nested opens (playlists, references to other files) are refused. */
static int io_open_refuse(struct AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                          AVDictionary **options)
{
    (void)s, (void)pb, (void)url, (void)flags, (void)options;
    return AVERROR(EPERM);
}

static const char *av_err(int e, char *buf, size_t n)
{
    if (av_strerror(e, buf, n) < 0)
        snprintf(buf, n, "FFmpeg error %d", e);
    return buf;
}

/* The status code and message for an FFmpeg error while doing what. */
static int av_fail(vida_video *v, int e, const char *what)
{
    char b[128];
    if (e == AVERROR_EXIT || expired(v))
        return vidai_error(VIDA_ECANCELLED, "%s: %s: deadline of %g s passed", v->path, what,
                           v->p.deadline);
    if (e == AVERROR(ENOMEM)) {
        vidai_note_alloc_failure();
        return vidai_error(VIDA_ENOMEM, "%s: %s: out of memory", v->path, what);
    }
    if (e == AVERROR(EIO))
        return vidai_error(VIDA_EIO, "%s: %s: read error", v->path, what);
    return vidai_error(VIDA_EDECODE, "%s: %s: %s", v->path, what, av_err(e, b, sizeof b));
}

static void quiet_ffmpeg_log_once(void)
{
    const char *env = getenv("VIDA_FFMPEG_LOG");
    if (env && *env && strcmp(env, "0"))
        return;
    if (av_log_get_level() == AV_LOG_INFO)
        av_log_set_level(AV_LOG_FATAL);
}

void vidai_av_quiet(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, quiet_ffmpeg_log_once);
}

/* ---- params --------------------------------------------------------------- */

void vida_video_params_init(vida_video_params *p)
{
    if (!p)
        return;
    memset(p, 0, sizeof *p);
    p->size = sizeof *p;
    p->max_pixels = 4096 * 4096;
    p->max_decode_frames = 8192;
    p->deadline = 60;
    p->threads = 1;
    p->stream = -1;
}

void vida_frame_geometry_init(vida_frame_geometry *g)
{
    if (!g)
        return;
    memset(g, 0, sizeof *g);
    g->size = sizeof *g;
    g->crop_x = -1;
    g->crop_y = -1;
}

/* ---- open: the frame table ------------------------------------------------ */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Index of the first element >= key in sorted a[0..n). */
static int64_t lower_bound(const int64_t *a, int64_t n, int64_t key)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (a[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void probe_format(vida_video *v, const AVPacket *pkt);

typedef struct scan_pkt {
    int64_t pts, dts, dur;
    int key, corrupt;
} scan_pkt;

/*
 * Whether the timestamps of the packets pk[first..np) (decode order; packets
 * flagged corrupt left out) cannot order the frames: a pts is missing, or the
 * timeline starts again -- a packet shown no later than a packet decoded
 * before the last keyframe (MPEG-TS files joined byte by byte, a stream cut
 * and spliced). With B-frames and open GOPs every frame decoded after a
 * keyframe is shown after every frame decoded before it. (Only pts: a
 * Matroska demuxer that was not probed guesses dts = pts.)
 */
static int timestamps_unusable(const scan_pkt *pk, int64_t first, int64_t np)
{
    int64_t max_pts = INT64_MIN, floor_pts = INT64_MIN;
    for (int64_t i = first; i < np; i++) {
        if (pk[i].corrupt)
            continue;
        if (pk[i].pts == AV_NOPTS_VALUE)
            return 1;
        if (pk[i].key)
            floor_pts = max_pts;
        if (pk[i].pts <= floor_pts)
            return 1;
        if (pk[i].pts > max_pts)
            max_pts = pk[i].pts;
    }
    return 0;
}

static int scan_stream(vida_video *v)
{
    scan_pkt *pk = NULL;
    int64_t np = 0, cap = 0, first_key = -1, n_discard = 0, n_corrupt = 0;
    int rc = VIDA_OK, e;
    char b[128];

    while ((e = av_read_frame(v->fmt, v->pkt)) >= 0) {
        if (v->pkt->stream_index == v->si && (v->pkt->flags & AV_PKT_FLAG_DISCARD)) {
            n_discard++;
        } else if (v->pkt->stream_index == v->si) {
            if (np == cap) {
                int64_t ncap = cap ? cap * 2 : 1024;
                scan_pkt *q;
                if (ncap > VIDAI_MAX_TABLE + 1) {
                    av_packet_unref(v->pkt);
                    rc = vidai_error(VIDA_EDECODE, "%s: more than %d frames", v->path,
                                     VIDAI_MAX_TABLE);
                    goto out;
                }
                q = vidai_malloc((size_t)ncap * sizeof *q);
                if (!q) {
                    av_packet_unref(v->pkt);
                    rc = vidai_error(VIDA_ENOMEM, "%s: out of memory for the frame table", v->path);
                    goto out;
                }
                if (np)
                    memcpy(q, pk, (size_t)np * sizeof *q);
                vidai_free(pk);
                pk = q, cap = ncap;
            }
            pk[np].pts = v->pkt->pts;
            pk[np].dts = v->pkt->dts;
            pk[np].dur = v->pkt->duration;
            pk[np].key = (v->pkt->flags & AV_PKT_FLAG_KEY) != 0;
            pk[np].corrupt = (v->pkt->flags & AV_PKT_FLAG_CORRUPT) != 0;
            n_corrupt += pk[np].corrupt;
            if (pk[np].key && !pk[np].corrupt && first_key < 0) {
                first_key = np;
                if (v->pix_fmt < 0 || v->color_range == AVCOL_RANGE_UNSPECIFIED)
                    probe_format(v, v->pkt);
            }
            np++;
        }
        av_packet_unref(v->pkt);
        if (expired(v)) {
            rc = av_fail(v, AVERROR_EXIT, "scanning the stream");
            goto out;
        }
    }
    if (e == AVERROR_EXIT || expired(v)) {
        rc = av_fail(v, AVERROR_EXIT, "scanning the stream");
        goto out;
    }
    if (e != AVERROR_EOF)
        if (v->ctx)
            vidai_log(v->ctx, VIDA_LOG_WARN, "%s: stream ends early after %lld packets: %s", v->path,
                      (long long)np, av_err(e, b, sizeof b));
    if (np == n_corrupt) {
        if (n_discard > 0)
            rc = vidai_error(VIDA_EDECODE, "%s: the video stream has no frames: its %lld packets "
                             "are all marked to be discarded (an edit list that leaves nothing "
                             "to show)", v->path, (long long)n_discard);
        else if (n_corrupt > 0)
            rc = vidai_error(VIDA_EDECODE, "%s: the video stream has no frames: its %lld packets "
                             "are all damaged or cut short", v->path, (long long)n_corrupt);
        else
            rc = vidai_error(VIDA_EDECODE, "%s: the video stream has no frames (no packets)",
                             v->path);
        goto out;
    }
    if (first_key < 0) {
        rc = vidai_error(VIDA_EDECODE, "%s: the video stream has no keyframe", v->path);
        goto out;
    }

    /*
     * Frames. Timestamps that order the frames: packets from the first
     * keyframe on, minus its leading frames and packets flagged corrupt, by
     * pts. Otherwise the stream is read sequentially and every packet from
     * the first keyframe on is a frame, in decode order, as the decoder
     * gets them all.
     */
    int64_t key0_pts = pk[first_key].pts;
    v->sequential = timestamps_unusable(pk, first_key, np);
    int64_t n = 0;
    v->pts = vidai_malloc((size_t)(np - first_key) * sizeof *v->pts);
    v->key_pts = vidai_malloc((size_t)(np - first_key) * sizeof *v->key_pts);
    v->key_ts = vidai_malloc((size_t)(np - first_key) * sizeof *v->key_ts);
    v->key_idx = vidai_malloc((size_t)(np - first_key) * sizeof *v->key_idx);
    if (!v->pts || !v->key_pts || !v->key_ts || !v->key_idx) {
        rc = vidai_error(VIDA_ENOMEM, "%s: out of memory for the frame table", v->path);
        goto out;
    }
    if (!v->sequential) {
        for (int64_t i = first_key; i < np; i++)
            if (!pk[i].corrupt && (i == first_key || pk[i].pts >= key0_pts))
                v->pts[n++] = pk[i].pts;
        qsort(v->pts, (size_t)n, sizeof *v->pts, cmp_i64);
        for (int64_t i = 1; i < n; i++)
            if (v->pts[i] == v->pts[i - 1])
                v->sequential = 1; /* repeated timestamps: read sequentially (below) */
    }
    if (v->sequential) {
        /* Frame i is the i-th decoded frame; its time is the packet's dts when those increase
           throughout, else i frames at the stream's average rate (25 fps if it has none). */
        n = 0;
        for (int64_t i = first_key; i < np; i++)
            v->pts[n++] = pk[i].dts;
        int monotonic = 1;
        for (int64_t i = 0; i < n; i++)
            if (v->pts[i] == AV_NOPTS_VALUE || (i && v->pts[i] <= v->pts[i - 1]))
                monotonic = 0;
        if (!monotonic) {
            AVRational fr = v->fmt->streams[v->si]->avg_frame_rate;
            if (fr.num <= 0 || fr.den <= 0)
                fr = (AVRational){25, 1};
            for (int64_t i = 0; i < n; i++)
                v->pts[i] = av_rescale_q(i, av_inv_q(fr), v->tb);
        }
    }
    v->n = n;

    /* Keyframes (ascending pts; a keyframe never has a frame shown before it decoded after it). */
    int64_t nk = 0;
    for (int64_t i = first_key; i < np; i++) {
        if (!pk[i].key || pk[i].corrupt ||
            (i != first_key && !v->sequential && pk[i].pts < key0_pts))
            continue;
        int64_t kp = v->sequential ? v->pts[i - first_key] : pk[i].pts;
        if (nk && kp <= v->key_pts[nk - 1])
            continue;
        v->key_pts[nk] = kp;
        int64_t kt = pk[i].dts != AV_NOPTS_VALUE && pk[i].dts < kp ? pk[i].dts : kp;
        v->key_ts[nk] = v->sequential ? kp : kt;
        v->key_idx[nk] = v->sequential ? i - first_key : lower_bound(v->pts, n, kp);
        nk++;
    }
    if (nk == 0) {
        v->key_pts[0] = v->key_ts[0] = v->pts[0];
        v->key_idx[0] = 0;
        nk = 1;
    }
    v->n_keys = nk;

    /* Timing. */
    double tb = av_q2d(v->tb);
    double median = 0, last_dur = 0;
    int vfr = 0;
    if (n > 1) {
        /* median frame duration from the sorted differences */
        int64_t *di = vidai_malloc((size_t)(n - 1) * sizeof *di);
        if (!di) {
            rc = vidai_error(VIDA_ENOMEM, "%s: out of memory", v->path);
            goto out;
        }
        for (int64_t i = 1; i < n; i++)
            di[i - 1] = v->pts[i] - v->pts[i - 1];
        qsort(di, (size_t)(n - 1), sizeof *di, cmp_i64);
        median = (double)di[(n - 1) / 2] * tb;
        /* variable when the shortest or longest differs from the median by > 5% */
        vfr = fabs((double)di[0] * tb - median) > 0.05 * median ||
              fabs((double)di[n - 2] * tb - median) > 0.05 * median;
        free(di);
    }
    /* The last frame lasts its packet's duration, else the median, else 1/rate. */
    for (int64_t i = np - 1; i >= first_key; i--) {
        if (!v->sequential && pk[i].pts == v->pts[n - 1] && pk[i].dur > 0) {
            last_dur = (double)pk[i].dur * tb;
            break;
        }
    }
    if (last_dur <= 0)
        last_dur = median;
    if (last_dur <= 0) {
        AVRational fr = v->fmt->streams[v->si]->avg_frame_rate;
        last_dur = fr.num > 0 && fr.den > 0 ? av_q2d(av_inv_q(fr)) : 1.0 / 25;
    }
    v->frame_dur = median > 0 ? median : last_dur;
    v->info.duration = (double)(v->pts[n - 1] - v->pts[0]) * tb + last_dur;
    v->info.vfr = vfr;
out:
    free(pk);
    return rc;
}

/* The decoder's frame buffers, as FFmpeg allocates them, noting a failure: a decoder that cannot
   get a buffer drops the frame and says nothing, which would read as a damaged stream. */
static int get_buffer_watch(AVCodecContext *c, AVFrame *f, int flags)
{
    int e = avcodec_default_get_buffer2(c, f, flags);
    if (e < 0)
        ((vida_video *)c->opaque)->buffer_failed = 1;
    return e;
}

/* The error for frame idx that the decoder did not give: out of memory when a buffer failed. */
static int missing_frame(vida_video *v, int64_t idx, const char *why)
{
    if (v->buffer_failed) {
        vidai_note_alloc_failure();
        return vidai_error(VIDA_ENOMEM, "%s: frame %lld: out of memory while decoding (a frame "
                           "buffer could not be allocated)", v->path, (long long)idx);
    }
    return vidai_error(VIDA_EDECODE, "%s: frame %lld: %s", v->path, (long long)idx, why);
}

static void fill_info(vida_video *v)
{
    AVStream *st = v->fmt->streams[v->si];
    AVCodecParameters *cp = st->codecpar;
    vida_video_info *in = &v->info;
    const AVPixFmtDescriptor *pd = av_pix_fmt_desc_get(v->pix_fmt);

    in->size = sizeof *in;
    in->n_frames = v->n;
    in->header_frames = st->nb_frames > 0 ? st->nb_frames : -1;
    in->avg_fps = in->duration > 0 ? (double)v->n / in->duration : 0;
    in->real_fps = st->r_frame_rate.num > 0 && st->r_frame_rate.den > 0 ? av_q2d(st->r_frame_rate) : 0;
    in->start_time = (double)v->pts[0] * av_q2d(v->tb);
    in->coded_width = v->base_w;
    in->coded_height = v->base_h;
    in->width = in->rotation % 180 ? v->base_h : v->base_w;
    in->height = in->rotation % 180 ? v->base_w : v->base_h;
    in->n_keyframes = v->n_keys;
    in->max_keyframe_gap = 0;
    for (int64_t k = 0; k < v->n_keys; k++) {
        int64_t next = k + 1 < v->n_keys ? v->key_idx[k + 1] : v->n;
        if (next - v->key_idx[k] > in->max_keyframe_gap)
            in->max_keyframe_gap = next - v->key_idx[k];
    }
    in->bit_depth = pd ? pd->comp[0].depth : 8;
    in->full_range = v->color_range == AVCOL_RANGE_JPEG ||
                     (pd && (pd->flags & AV_PIX_FMT_FLAG_RGB)) ||
                     (pd && strncmp(pd->name, "yuvj", 4) == 0);
    in->sequential = v->sequential;
    snprintf(in->codec, sizeof in->codec, "%s", avcodec_get_name(cp->codec_id));
    snprintf(in->format, sizeof in->format, "%s", v->fmt->iformat->name);
    snprintf(in->pix_fmt, sizeof in->pix_fmt, "%s", pd ? pd->name : "unknown");
}

/*
 * The display matrix as the ffmpeg program applies it (its autorotate): a
 * quarter-turn rotation, and *mirror when the picture is then mirrored
 * horizontally. Theta 90: transpose "clock", or "cclock_flip" (= 90 then a
 * mirror) when m[3] > 0; 180: hflip if m[0] < 0 and vflip if m[4] < 0 (both:
 * a 180 turn, hflip alone: a mirror); 270: "cclock", or "clock_flip" (= 270
 * then a mirror) when m[3] < 0. Other angles, and a vertical flip alone
 * (theta 0), are ignored as there.
 */
static int display_rotation(AVStream *st, int *mirror)
{
    size_t sz = 0;
    const uint8_t *m = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &sz);
    int32_t mat[9];
    *mirror = 0;
    if (!m || sz < 9 * sizeof(int32_t))
        return 0;
    memcpy(mat, m, sizeof mat);
    double theta = -av_display_rotation_get(mat);
    if (isnan(theta))
        return 0;
    theta -= 360 * floor(theta / 360 + 0.9 / 360);
    if (fabs(theta - 90) < 1) {
        *mirror = mat[3] > 0;
        return 90;
    }
    if (fabs(theta - 180) < 1) {
        if (mat[0] < 0 && mat[4] >= 0) {
            *mirror = 1;
            return 0;
        }
        return mat[0] < 0 ? 180 : 0;
    }
    if (fabs(theta - 270) < 1) {
        *mirror = mat[3] < 0;
        return 270;
    }
    return 0;
}

static int seek_start(vida_video *v);
static int next_frame(vida_video *v, int64_t *decoded, int64_t want);

/* Whether the container's header alone describes its video stream (see vida_video_open). */
static int header_complete(const AVFormatContext *fmt)
{
    const char *name = fmt->iformat->name;
    if (!strstr(name, "mov") && !strstr(name, "matroska"))
        return 0;
    int best = av_find_best_stream((AVFormatContext *)fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (best < 0)
        return 0;
    const AVCodecParameters *cp = fmt->streams[best]->codecpar;
    return cp->codec_id != AV_CODEC_ID_NONE && cp->width > 0 && cp->height > 0;
}

static int find_stream_info(vida_video *v)
{
    /* Probe decoders run on one thread: spawning FFmpeg's thread pool per open costs more
       than the probe itself. */
    /* probing may add streams (mpeg-ts, mpeg-ps): the options cover the ones there now */
    unsigned n = v->fmt->nb_streams;
    AVDictionary **sopts = av_calloc(n ? n : 1, sizeof *sopts);
    if (!sopts) {
        vidai_note_alloc_failure();
        return vidai_error(VIDA_ENOMEM, "%s: out of memory", v->path);
    }
    for (unsigned i = 0; i < n; i++)
        av_dict_set(&sopts[i], "threads", "1", 0);
    int e = avformat_find_stream_info(v->fmt, sopts);
    for (unsigned i = 0; i < n; i++)
        av_dict_free(&sopts[i]);
    av_free(sopts);
    return e < 0 ? av_fail(v, e, "cannot read the stream parameters") : VIDA_OK;
}

/* ---- H.264 sequence parameter set: the full-range flag without decoding --- */

typedef struct bits {
    const uint8_t *p;
    size_t n, pos; /* in bits */
    int bad;
} bits;

static unsigned get_bit(bits *b)
{
    if (b->pos >= b->n) {
        b->bad = 1;
        return 0;
    }
    unsigned v = (b->p[b->pos >> 3] >> (7 - (b->pos & 7))) & 1;
    b->pos++;
    return v;
}

static uint32_t get_bits(bits *b, int k)
{
    uint32_t v = 0;
    while (k-- > 0)
        v = v << 1 | get_bit(b);
    return v;
}

static uint32_t get_ue(bits *b)
{
    int zeros = 0;
    while (!get_bit(b) && !b->bad)
        if (++zeros > 31) {
            b->bad = 1;
            return 0;
        }
    return ((1u << zeros) - 1) + get_bits(b, zeros);
}

static int32_t get_se(bits *b)
{
    uint32_t u = get_ue(b);
    return u & 1 ? (int32_t)((u + 1) / 2) : -(int32_t)(u / 2);
}

/*
 * The range an H.264 SPS NAL unit (header byte included) declares: 1 full,
 * 0 limited (also when it has no video signal type: the standard's default),
 * -1 when it cannot be read. H.264 7.3.2.1.1 and E.1.1.
 */
static int h264_sps_full_range(const uint8_t *nal, size_t size)
{
    uint8_t rbsp[512];
    size_t n = 0;
    if (size < 4 || (nal[0] & 0x1F) != 7)
        return -1;
    for (size_t i = 1; i < size && n < sizeof rbsp; i++) {
        if (i + 2 < size && nal[i] == 0 && nal[i + 1] == 0 && nal[i + 2] == 3) {
            rbsp[n++] = 0;
            if (n < sizeof rbsp)
                rbsp[n++] = 0;
            i += 2; /* drop the emulation prevention byte */
            continue;
        }
        rbsp[n++] = nal[i];
    }
    bits b = {rbsp, n * 8, 0, 0};
    unsigned profile = get_bits(&b, 8);
    get_bits(&b, 16); /* constraint flags, level */
    get_ue(&b);       /* seq_parameter_set_id */
    if (profile == 100 || profile == 110 || profile == 122 || profile == 244 || profile == 44 ||
        profile == 83 || profile == 86 || profile == 118 || profile == 128 || profile == 138 ||
        profile == 139 || profile == 134 || profile == 135) {
        uint32_t chroma = get_ue(&b);
        if (chroma == 3)
            get_bit(&b); /* separate_colour_plane_flag */
        get_ue(&b);      /* bit depths */
        get_ue(&b);
        get_bit(&b);     /* qpprime_y_zero_transform_bypass_flag */
        if (get_bit(&b)) { /* seq_scaling_matrix_present_flag */
            for (int i = 0; i < (chroma != 3 ? 8 : 12) && !b.bad; i++) {
                if (!get_bit(&b))
                    continue;
                int last = 8, next = 8;
                for (int j = 0; j < (i < 6 ? 16 : 64) && !b.bad; j++) {
                    if (next != 0)
                        next = (last + get_se(&b) + 256) % 256;
                    last = next == 0 ? last : next;
                }
            }
        }
    }
    get_ue(&b); /* log2_max_frame_num_minus4 */
    uint32_t poc = get_ue(&b);
    if (poc == 0) {
        get_ue(&b);
    } else if (poc == 1) {
        get_bit(&b);
        get_se(&b);
        get_se(&b);
        uint32_t cycle = get_ue(&b);
        if (cycle > 255)
            return -1;
        for (uint32_t i = 0; i < cycle && !b.bad; i++)
            get_se(&b);
    }
    get_ue(&b);  /* max_num_ref_frames */
    get_bit(&b); /* gaps_in_frame_num_value_allowed_flag */
    get_ue(&b);  /* pic_width_in_mbs_minus1 */
    get_ue(&b);  /* pic_height_in_map_units_minus1 */
    if (!get_bit(&b)) /* frame_mbs_only_flag */
        get_bit(&b);
    get_bit(&b); /* direct_8x8_inference_flag */
    if (get_bit(&b)) { /* frame_cropping_flag */
        for (int i = 0; i < 4; i++)
            get_ue(&b);
    }
    int range = 0;
    if (get_bit(&b)) {       /* vui_parameters_present_flag */
        if (get_bit(&b)) {   /* aspect_ratio_info_present_flag */
            if (get_bits(&b, 8) == 255)
                get_bits(&b, 32);
        }
        if (get_bit(&b))     /* overscan_info_present_flag */
            get_bit(&b);
        if (get_bit(&b)) {   /* video_signal_type_present_flag */
            get_bits(&b, 3); /* video_format */
            range = (int)get_bit(&b);
        }
    }
    return b.bad ? -1 : range;
}

/* The range the first SPS of H.264 extradata (avcC or Annex B) declares, or -1. */
static int h264_extradata_full_range(const uint8_t *x, size_t n)
{
    if (!x || n < 8)
        return -1;
    if (x[0] == 1) { /* avcC: version, profile, compat, level, length size, SPS count, SPS */
        if ((x[5] & 0x1F) == 0)
            return -1;
        size_t len = (size_t)x[6] << 8 | x[7];
        return 8 + len <= n ? h264_sps_full_range(x + 8, len) : -1;
    }
    for (size_t i = 0; i + 3 < n; i++) { /* Annex B: find the SPS start code */
        if (x[i] == 0 && x[i + 1] == 0 && x[i + 2] == 1 && (x[i + 3] & 0x1F) == 7) {
            size_t end = i + 3;
            while (end + 2 < n && !(x[end] == 0 && x[end + 1] == 0 && x[end + 2] <= 1))
                end++;
            if (end + 2 >= n)
                end = n;
            return h264_sps_full_range(x + i + 3, end - (i + 3));
        }
    }
    return -1;
}

/* The stream's pixel format, range (when the frame says) and size, from a decoded frame. */
static void take_format(vida_video *v, const AVFrame *f)
{
    v->pix_fmt = f->format;
    if (f->color_range != AVCOL_RANGE_UNSPECIFIED)
        v->color_range = f->color_range;
    if (f->width > 0 && f->height > 0)
        v->base_w = f->width, v->base_h = f->height;
}

/*
 * The pixel format and range of the stream from its first keyframe: the
 * codec's parser gives the format for free, and an H.264 SPS the range; when
 * they do not, and the container does not say the range, the keyframe is
 * decoded on its own (send it, drain, flush) -- one picture, where probing the
 * stream (avformat_find_stream_info) decodes several.
 */
static void probe_format(vida_video *v, const AVPacket *pkt)
{
    AVCodecParserContext *pc = av_parser_init(v->dec->codec_id);
    AVCodecContext *c = avcodec_alloc_context3(NULL);
    if (pc && c && avcodec_parameters_to_context(c, v->fmt->streams[v->si]->codecpar) >= 0) {
        uint8_t *o = NULL;
        int os = 0;
        pc->flags |= PARSER_FLAG_COMPLETE_FRAMES;
        av_parser_parse2(pc, c, &o, &os, pkt->data, pkt->size, pkt->pts, pkt->dts, pkt->pos);
        if (pc->format >= 0 && v->pix_fmt < 0)
            v->pix_fmt = pc->format;
        if (pc->width > 0 && pc->height > 0)
            v->base_w = pc->width, v->base_h = pc->height;
        if (c->color_range != AVCOL_RANGE_UNSPECIFIED && v->color_range == AVCOL_RANGE_UNSPECIFIED)
            v->color_range = c->color_range;
    }
    av_parser_close(pc);
    avcodec_free_context(&c);
    const AVCodecParameters *cp = v->fmt->streams[v->si]->codecpar;
    if (v->color_range == AVCOL_RANGE_UNSPECIFIED && cp->codec_id == AV_CODEC_ID_H264) {
        int full = h264_extradata_full_range(cp->extradata, (size_t)cp->extradata_size);
        if (full >= 0)
            v->color_range = full ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG;
    }
    /* a parser reads 4:4:4 where the decoder, seeing the identity matrix, gives planar RGB
       (H.264/HEVC "RGB" streams): there only a decoded frame tells */
    const AVPixFmtDescriptor *pd = v->pix_fmt >= 0 ? av_pix_fmt_desc_get(v->pix_fmt) : NULL;
    int rgb_possible = (cp->codec_id == AV_CODEC_ID_H264 || cp->codec_id == AV_CODEC_ID_HEVC) &&
                       pd && pd->log2_chroma_w == 0 && pd->log2_chroma_h == 0 &&
                       pd->nb_components >= 3;
    if (v->pix_fmt >= 0 && v->color_range != AVCOL_RANGE_UNSPECIFIED && !rgb_possible)
        return;
    if (avcodec_send_packet(v->dec, pkt) >= 0 && avcodec_send_packet(v->dec, NULL) >= 0) {
        int first = 1;
        while (avcodec_receive_frame(v->dec, v->frame) >= 0) {
            if (first)
                take_format(v, v->frame);
            first = 0;
            av_frame_unref(v->frame);
        }
    }
    avcodec_flush_buffers(v->dec);
}

/* The pixel format (and range) of the first frame, decoded from the start. */
static int first_frame_format(vida_video *v)
{
    int64_t decoded = 0;
    int rc = seek_start(v);
    if (rc)
        return rc;
    rc = next_frame(v, &decoded, 0);
    if (rc < 0)
        return rc;
    if (rc != 1) {
        v->positioned = 0;
        return vidai_error(VIDA_EDECODE, "%s: the decoder gives no frame", v->path);
    }
    take_format(v, v->frame);
    av_frame_unref(v->frame);
    v->positioned = 0; /* the frame was taken: the next read seeks */
    return VIDA_OK;
}

int vida_video_open(vida_video **out, vida_context *ctx, const char *path,
                    const vida_video_params *p)
{
    vida_video *v;
    struct stat sb;
    const AVCodec *codec = NULL;
    int e, rc;

    if (out)
        *out = NULL;
    if (!out || !path)
        return vidai_error(VIDA_EINVAL, "vida_video_open: %s is NULL", out ? "path" : "out");
    if (p && p->size < sizeof *p)
        return vidai_error(VIDA_EINVAL, "vida_video_open: params.size %zu is smaller than %zu",
                           p->size, sizeof *p);
    if (p && (p->max_pixels < 0 || p->max_decode_frames < 0 || !(p->deadline >= 0) ||
              p->threads < 0 || p->threads > 64 || p->stream < -1))
        return vidai_error(VIDA_EINVAL, "vida_video_open: %s: params out of range (%s)", path,
                           p->max_pixels < 0 ? "max_pixels" : p->max_decode_frames < 0 ? "max_decode_frames"
                           : !(p->deadline >= 0) ? "deadline" : p->stream < -1 ? "stream" : "threads");
    vidai_av_quiet();
    v = vidai_calloc(1, sizeof *v);
    if (!v)
        return VIDA_ENOMEM;
    v->fd = -1;
    v->si = -1;
    if (p)
        v->p = *p;
    else
        vida_video_params_init(&v->p);
    v->p.size = sizeof v->p;
    if (v->p.max_pixels == 0)
        v->p.max_pixels = 4096 * 4096;
    if (v->p.max_decode_frames == 0)
        v->p.max_decode_frames = 8192;
    if (v->p.threads == 0)
        v->p.threads = 1;
    v->ctx = ctx;
    if (ctx)
        vidai_context_ref(ctx);
    v->path = vidai_strdup(path);
    if (!v->path) {
        vida_video_free(v);
        return VIDA_ENOMEM;
    }
    start_clock(v);

    v->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (v->fd < 0) {
        rc = vidai_error(VIDA_EIO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    if (fstat(v->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rc = vidai_error(VIDA_EIO, "%s: not a regular file", path);
        goto fail;
    }
    v->file_size = (int64_t)sb.st_size;
    if (v->file_size == 0) {
        rc = vidai_error(VIDA_EDECODE, "%s: empty file", path);
        goto fail;
    }

    v->fmt = avformat_alloc_context();
    uint8_t *iobuf = av_malloc(VIDAI_IO_BUFFER);
    if (!v->fmt || !iobuf) {
        av_free(iobuf);
        vidai_note_alloc_failure();
        rc = vidai_error(VIDA_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    v->pb = avio_alloc_context(iobuf, VIDAI_IO_BUFFER, 0, v, io_read, NULL, io_seek);
    if (!v->pb) {
        av_free(iobuf);
        vidai_note_alloc_failure();
        rc = vidai_error(VIDA_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    v->fmt->pb = v->pb;
    v->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    v->fmt->io_open = io_open_refuse;
    v->fmt->interrupt_callback.callback = interrupt_cb;
    v->fmt->interrupt_callback.opaque = v;
    v->fmt->format_whitelist = av_strdup(format_whitelist);
    v->fmt->protocol_whitelist = av_strdup("none");
    if (!v->fmt->format_whitelist || !v->fmt->protocol_whitelist) {
        vidai_note_alloc_failure();
        rc = vidai_error(VIDA_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    e = avformat_open_input(&v->fmt, path, NULL, NULL);
    if (e < 0) {
        /* avformat_open_input frees the context on failure (not our pb). */
        v->fmt = NULL;
        if (e == AVERROR_INVALIDDATA)
            rc = vidai_error(VIDA_EDECODE, "%s: not a video file in a format this build accepts "
                             "(or damaged beyond use)", path);
        else if (e == AVERROR(EINVAL)) /* probed as a demuxer outside the whitelist */
            rc = vidai_error(VIDA_EDECODE, "%s: not a video file: its content is of a format "
                             "that is never opened as a video (an image, a playlist, a "
                             "device...)", path);
        else
            rc = av_fail(v, e, "cannot open");
        goto fail;
    }
    /*
     * mov/mp4 and matroska headers describe their streams completely (codec,
     * size, extradata): probing them by decoding (avformat_find_stream_info)
     * would cost more than the rest of the open. The pixel format and range
     * then come from the first keyframe, decoded alone during the scan (or,
     * failing that, from the first frame decoded from the start).
     */
    if (!header_complete(v->fmt)) {
        rc = find_stream_info(v);
        if (rc)
            goto fail;
    }
    e = av_find_best_stream(v->fmt, AVMEDIA_TYPE_VIDEO, v->p.stream, -1, &codec, 0);
    if (e == AVERROR_STREAM_NOT_FOUND || (e >= 0 && (v->fmt->streams[e]->disposition &
                                                     AV_DISPOSITION_ATTACHED_PIC))) {
        rc = vidai_error(VIDA_EDECODE, "%s: no video stream%s", path,
                         v->p.stream >= 0 ? " at the index asked for" : "");
        goto fail;
    }
    if (e == AVERROR_DECODER_NOT_FOUND || (e >= 0 && !codec)) {
        rc = vidai_error(VIDA_EDECODE, "%s: no decoder in this FFmpeg for the video codec %s", path,
                         e >= 0 ? avcodec_get_name(v->fmt->streams[e]->codecpar->codec_id) : "");
        goto fail;
    }
    if (e < 0) {
        rc = av_fail(v, e, "cannot select the video stream");
        goto fail;
    }
    v->si = e;
    for (unsigned i = 0; i < v->fmt->nb_streams; i++)
        v->fmt->streams[i]->discard = (int)i == v->si ? AVDISCARD_DEFAULT : AVDISCARD_ALL;
    AVStream *st = v->fmt->streams[v->si];
    v->tb = st->time_base;
    if (v->tb.num <= 0 || v->tb.den <= 0) {
        rc = vidai_error(VIDA_EDECODE, "%s: invalid time base %d/%d", path, v->tb.num, v->tb.den);
        goto fail;
    }
    if (st->codecpar->width <= 0 || st->codecpar->height <= 0) {
        rc = vidai_error(VIDA_EDECODE, "%s: the video stream has no frame size", path);
        goto fail;
    }
    v->base_w = st->codecpar->width;
    v->base_h = st->codecpar->height;

    v->dec = avcodec_alloc_context3(codec);
    v->pkt = av_packet_alloc();
    v->frame = av_frame_alloc();
    if (!v->dec || !v->pkt || !v->frame) {
        vidai_note_alloc_failure();
        rc = vidai_error(VIDA_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    e = avcodec_parameters_to_context(v->dec, st->codecpar);
    if (e >= 0) {
        v->dec->pkt_timebase = v->tb;
        v->dec->thread_count = v->p.threads;
        v->dec->opaque = v;
        v->dec->get_buffer2 = get_buffer_watch;
        /* the decoder counts its padded (macroblock-aligned) size: give it room for that;
           every frame's real size is checked against max_pixels before conversion */
        int64_t mp = v->p.max_pixels;
        v->dec->max_pixels = mp > INT64_MAX / 2 ? INT64_MAX : mp + mp / 4 + 65536;
        e = avcodec_open2(v->dec, codec, NULL);
    }
    if (e < 0 && e == AVERROR(EINVAL) &&
        (int64_t)st->codecpar->width * st->codecpar->height > v->p.max_pixels) {
        /* the decoder refused the size its headers declare (which the container repeats) */
        rc = vidai_error(VIDA_ENOMEM, "%s: frames of %dx%d exceed the limit of %lld pixels "
                         "(max_pixels)", path, st->codecpar->width, st->codecpar->height,
                         (long long)v->p.max_pixels);
        goto fail;
    }
    if (e < 0) {
        rc = av_fail(v, e, "cannot open the decoder");
        goto fail;
    }

    v->info.rotation = display_rotation(st, &v->mirror);
    v->pix_fmt = st->codecpar->format;
    v->color_range = st->codecpar->color_range;
    rc = scan_stream(v);
    if (rc == VIDA_OK && v->pix_fmt < 0)
        rc = first_frame_format(v);
    if (rc)
        goto fail;
    /* the size the bitstream declares wins over the container's claim */
    if ((int64_t)v->base_w * v->base_h > v->p.max_pixels) {
        rc = vidai_error(VIDA_ENOMEM, "%s: frames of %dx%d exceed the limit of %lld pixels (max_pixels)",
                         path, v->base_w, v->base_h, (long long)v->p.max_pixels);
        goto fail;
    }
    fill_info(v);
    v->last_pts = INT64_MIN;
    v->sent_pts = INT64_MIN;
    v->skip_nonref = !v->sequential;
    *out = v;
    return VIDA_OK;
fail:
    vida_video_free(v);
    return rc;
}

void vida_video_free(vida_video *v)
{
    if (!v)
        return;
    sws_freeContext(v->sws);
    sws_freeContext(v->sws2);
    vidai_free(v->yuv);
    av_frame_free(&v->frame);
    av_packet_free(&v->pkt);
    avcodec_free_context(&v->dec);
    if (v->fmt)
        avformat_close_input(&v->fmt);
    if (v->pb) {
        av_freep(&v->pb->buffer);
        avio_context_free(&v->pb);
    }
    if (v->fd >= 0)
        close(v->fd);
    free(v->pts);
    free(v->key_pts);
    free(v->key_ts);
    free(v->key_idx);
    vidai_free(v->tmp);
    vidai_free(v->path);
    vida_context_free(v->ctx);
    vidai_free(v);
}

int vida_video_get_info(const vida_video *v, vida_video_info *info)
{
    if (!v || !info)
        return vidai_error(VIDA_EINVAL, "vida_video_get_info: %s is NULL", v ? "info" : "video");
    if (info->size < sizeof *info)
        return vidai_error(VIDA_EINVAL, "vida_video_get_info: info.size %zu is smaller than %zu",
                           info->size, sizeof *info);
    *info = v->info;
    return VIDA_OK;
}

int vida_video_get_stats(const vida_video *v, vida_video_stats *stats)
{
    if (!v || !stats)
        return vidai_error(VIDA_EINVAL, "vida_video_get_stats: %s is NULL", v ? "stats" : "video");
    if (stats->size < sizeof *stats)
        return vidai_error(VIDA_EINVAL, "vida_video_get_stats: stats.size %zu is smaller than %zu",
                           stats->size, sizeof *stats);
    *stats = v->stats;
    stats->size = sizeof *stats;
    return VIDA_OK;
}

int vida_video_frame_time(const vida_video *v, int64_t index, double *seconds)
{
    if (!v || !seconds)
        return vidai_error(VIDA_EINVAL, "vida_video_frame_time: %s is NULL", v ? "seconds" : "video");
    if (index < 0 || index >= v->n)
        return vidai_error(VIDA_EINVAL, "%s: frame %lld out of range (the video has %lld frames)",
                           v->path, (long long)index, (long long)v->n);
    *seconds = (double)(v->pts[index] - v->pts[0]) * av_q2d(v->tb);
    return VIDA_OK;
}

int vida_video_frame_at(const vida_video *v, double seconds, int64_t *index)
{
    if (!v || !index)
        return vidai_error(VIDA_EINVAL, "vida_video_frame_at: %s is NULL", v ? "index" : "video");
    if (isnan(seconds))
        return vidai_error(VIDA_EINVAL, "%s: time is NaN", v->path);
    /* in ticks from the first frame; beyond the ends without any int64 overflow */
    double t = floor(seconds / av_q2d(v->tb) + 1e-6);
    if (!(t >= 0)) {
        *index = 0;
        return VIDA_OK;
    }
    if (t >= (double)v->pts[v->n - 1] - (double)v->pts[0]) {
        *index = v->n - 1;
        return VIDA_OK;
    }
    int64_t key = v->pts[0] + (int64_t)t;
    int64_t i = lower_bound(v->pts, v->n, key + 1) - 1;
    *index = i < 0 ? 0 : i;
    return VIDA_OK;
}

/* ---- geometry ------------------------------------------------------------- */

typedef struct geom {
    int sw, sh;        /* scaled size, in output (rotated) orientation */
    int cw, ch, cx, cy;
    int flip;
    int uw, uh;        /* scaled size before rotation (what swscale makes) */
} geom;

static int make_geom(const vida_video *v, const vida_frame_geometry *g, geom *o)
{
    int W = v->info.width, H = v->info.height;
    memset(o, 0, sizeof *o);
    if (g && g->size < sizeof *g)
        return vidai_error(VIDA_EINVAL, "frame geometry: size %zu is smaller than %zu", g->size,
                           sizeof *g);
    if (g && (g->short_side < 0 || g->scale_width < 0 || g->scale_height < 0 || g->crop_width < 0 ||
              g->crop_height < 0 || g->crop_x < -1 || g->crop_y < -1 || g->short_side > 16384 ||
              g->scale_width > 16384 || g->scale_height > 16384))
        return vidai_error(VIDA_EINVAL, "%s: frame geometry out of range (sizes must be 0..16384, "
                           "crop_x/crop_y >= -1)", v->path);
    o->sw = W, o->sh = H;
    if (g && (g->scale_width > 0 || g->scale_height > 0)) {
        if (g->scale_width <= 0 || g->scale_height <= 0)
            return vidai_error(VIDA_EINVAL, "%s: scale_width and scale_height must both be set",
                               v->path);
        o->sw = g->scale_width, o->sh = g->scale_height;
    } else if (g && g->short_side > 0) {
        int s = g->short_side;
        if (W <= H) {
            o->sw = s;
            o->sh = (int)lround((double)H * s / W);
        } else {
            o->sh = s;
            o->sw = (int)lround((double)W * s / H);
        }
        if (o->sw < 1)
            o->sw = 1;
        if (o->sh < 1)
            o->sh = 1;
    }
    if ((int64_t)o->sw * o->sh > v->p.max_pixels)
        return vidai_error(VIDA_ENOMEM, "%s: output frames of %dx%d exceed max_pixels", v->path, o->sw,
                           o->sh);
    o->cw = g && g->crop_width > 0 ? g->crop_width : o->sw;
    o->ch = g && g->crop_height > 0 ? g->crop_height : o->sh;
    if (o->cw > o->sw || o->ch > o->sh)
        return vidai_error(VIDA_EINVAL, "%s: crop %dx%d is larger than the scaled frame %dx%d", v->path,
                           o->cw, o->ch, o->sw, o->sh);
    o->cx = g && g->crop_x >= 0 ? g->crop_x : (o->sw - o->cw) / 2;
    o->cy = g && g->crop_y >= 0 ? g->crop_y : (o->sh - o->ch) / 2;
    if (o->cx + o->cw > o->sw || o->cy + o->ch > o->sh)
        return vidai_error(VIDA_EINVAL, "%s: crop %dx%d at (%d,%d) runs outside the scaled frame %dx%d",
                           v->path, o->cw, o->ch, o->cx, o->cy, o->sw, o->sh);
    o->flip = g ? g->flip != 0 : 0;
    int rot90 = v->info.rotation % 180 != 0;
    o->uw = rot90 ? o->sh : o->sw;
    o->uh = rot90 ? o->sw : o->sh;
    return VIDA_OK;
}

int vida_video_output_size(const vida_video *v, const vida_frame_geometry *g, int *width,
                           int *height)
{
    geom o;
    int rc;
    if (!v)
        return vidai_error(VIDA_EINVAL, "vida_video_output_size: video is NULL");
    rc = make_geom(v, g, &o);
    if (rc)
        return rc;
    if (width)
        *width = o.cw;
    if (height)
        *height = o.ch;
    return VIDA_OK;
}

/* ---- conversion ----------------------------------------------------------- */

static int sws_colorspace(int cs)
{
    switch (cs) {
    case AVCOL_SPC_BT709: return SWS_CS_ITU709;
    case AVCOL_SPC_FCC: return SWS_CS_FCC;
    case AVCOL_SPC_SMPTE240M: return SWS_CS_SMPTE240M;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL: return SWS_CS_BT2020;
    case AVCOL_SPC_BT470BG:
    case AVCOL_SPC_SMPTE170M: return SWS_CS_ITU601;
    default: return SWS_CS_DEFAULT;
    }
}

/* Sets the YUV matrix and range of a context (srcr/dstr: 1 = full, -1 = keep). */
static void set_colors(struct SwsContext *c, int cs, int srcr, int dstr)
{
    int *inv, sr, *tab, dr, b, ct, sat;
    if (sws_getColorspaceDetails(c, &inv, &sr, &tab, &dr, &b, &ct, &sat) < 0)
        return;
    sws_setColorspaceDetails(c, sws_getCoefficients(cs), srcr >= 0 ? srcr : sr, tab,
                             dstr >= 0 ? dstr : dr, b, ct, sat);
}

/* Whether frames of format fmt are scaled in 8-bit YUV 4:4:4 first (see convert). */
static int scale_in_yuv(int fmt)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(fmt);
    return d && d->nb_components >= 3 && d->comp[0].depth == 8 &&
           (d->flags & AV_PIX_FMT_FLAG_PLANAR) &&
           !(d->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_HWACCEL |
                         AV_PIX_FMT_FLAG_BITSTREAM | AV_PIX_FMT_FLAG_ALPHA));
}

static int grow_tmp(uint8_t **buf, size_t *size, size_t need)
{
    if (need <= *size)
        return VIDA_OK;
    vidai_free(*buf);
    *buf = vidai_malloc(need);
    *size = *buf ? need : 0;
    return *buf ? VIDA_OK : VIDA_ENOMEM;
}

/*
 * Converts v->frame (frame index idx) into out (cw x ch x 3).
 *
 * At native size: one swscale pass to RGB24 (what the ffmpeg program does, byte
 * for byte). Scaled, from 8-bit YUV: swscale scales to YUV 4:4:4 (bicubic),
 * then converts only the pixels that survive the crop to RGB24; this is 1.8x
 * cheaper than scaling straight to RGB24 (whose output stage has no SIMD) and
 * differs from it by less than 0.1 of 255 on average. Then rotation, crop and
 * mirror are a copy.
 */
static int convert(vida_video *v, int64_t idx, const geom *o, uint8_t *out)
{
    AVFrame *f = v->frame;
    int rot = v->info.rotation;
    if (f->width <= 0 || f->height <= 0 || (int64_t)f->width * f->height > v->p.max_pixels)
        return vidai_error(VIDA_ENOMEM, "%s: frame %lld: %dx%d exceeds max_pixels", v->path,
                           (long long)idx, f->width, f->height);
    int cs = sws_colorspace(f->colorspace);
    int full = f->color_range == AVCOL_RANGE_JPEG ? 1 : f->color_range == AVCOL_RANGE_MPEG ? 0 : -1;
    int two = (o->uw != f->width || o->uh != f->height) && scale_in_yuv(f->format);

    /* a mirroring display matrix: the crop from the other side, and the output mirrored */
    int cx = v->mirror ? o->sw - o->cx - o->cw : o->cx;
    int flip = o->flip ^ v->mirror;
    /* the region of the unrotated scaled frame that the crop keeps */
    int rx, ry, rw, rh;
    if (rot == 0)
        rx = cx, ry = o->cy, rw = o->cw, rh = o->ch;
    else if (rot == 180)
        rx = o->uw - cx - o->cw, ry = o->uh - o->cy - o->ch, rw = o->cw, rh = o->ch;
    else if (rot == 90)
        rx = o->cy, ry = o->uh - cx - o->cw, rw = o->ch, rh = o->cw;
    else
        rx = o->uw - o->cy - o->ch, ry = cx, rw = o->ch, rh = o->cw;
    if (!two)
        rx = ry = 0, rw = o->uw, rh = o->uh; /* one pass makes the whole scaled frame */

    int key[8] = {f->width, f->height, f->format, o->uw, o->uh, cs * 4 + full + 1, two, 0};
    if (!v->sws || memcmp(key, v->sws_key, sizeof key)) {
        sws_freeContext(v->sws);
        v->sws = sws_getContext(f->width, f->height, f->format, o->uw, o->uh,
                                two ? AV_PIX_FMT_YUV444P : AV_PIX_FMT_RGB24, SWS_BICUBIC, NULL, NULL,
                                NULL);
        if (!v->sws) {
            memset(v->sws_key, 0, sizeof v->sws_key);
            return vidai_error(VIDA_EDECODE, "%s: frame %lld: cannot convert %s %dx%d to RGB",
                               v->path, (long long)idx, av_get_pix_fmt_name(f->format), f->width,
                               f->height);
        }
        if (two)
            set_colors(v->sws, cs, full, full < 0 ? -1 : full); /* YUV to YUV: keep the range */
        else if (cs != SWS_CS_DEFAULT || full >= 0)
            set_colors(v->sws, cs, full, -1);
        memcpy(v->sws_key, key, sizeof key);
    }
    int direct = rot == 0 && !flip && rw == o->cw && rh == o->ch && (two || (o->cw == o->sw &&
                                                                              o->ch == o->sh));
    uint8_t *dst = out;
    if (!direct) {
        if (grow_tmp(&v->tmp, &v->tmp_size, (size_t)rw * rh * 3))
            return VIDA_ENOMEM;
        dst = v->tmp;
    }
    uint8_t *dp[4] = {dst, NULL, NULL, NULL};
    int dl[4] = {rw * 3, 0, 0, 0};
    if (two) {
        /* scale to YUV 4:4:4, then convert the kept region */
        int ls = (o->uw + 63) & ~63;
        if (grow_tmp(&v->yuv, &v->yuv_size, (size_t)ls * o->uh * 3))
            return VIDA_ENOMEM;
        uint8_t *yp[4] = {v->yuv, v->yuv + (size_t)ls * o->uh, v->yuv + (size_t)2 * ls * o->uh, NULL};
        int yl[4] = {ls, ls, ls, 0};
        if (sws_scale(v->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, yp, yl) !=
            o->uh)
            return vidai_error(VIDA_EDECODE, "%s: frame %lld: scaling failed", v->path,
                               (long long)idx);
        int key2[4] = {rw, rh, cs * 4 + full + 1, 1};
        if (!v->sws2 || memcmp(key2, v->sws2_key, sizeof key2)) {
            sws_freeContext(v->sws2);
            v->sws2 = sws_getContext(rw, rh, AV_PIX_FMT_YUV444P, rw, rh, AV_PIX_FMT_RGB24,
                                     SWS_BICUBIC, NULL, NULL, NULL);
            if (!v->sws2) {
                memset(v->sws2_key, 0, sizeof v->sws2_key);
                return vidai_error(VIDA_ENOMEM, "%s: out of memory for the RGB conversion", v->path);
            }
            set_colors(v->sws2, cs, full, -1);
            memcpy(v->sws2_key, key2, sizeof key2);
        }
        const uint8_t *sp[4] = {yp[0] + (size_t)ry * ls + rx, yp[1] + (size_t)ry * ls + rx,
                                yp[2] + (size_t)ry * ls + rx, NULL};
        if (sws_scale(v->sws2, sp, yl, 0, rh, dp, dl) != rh)
            return vidai_error(VIDA_EDECODE, "%s: frame %lld: conversion to RGB failed", v->path,
                               (long long)idx);
    } else if (sws_scale(v->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dp,
                         dl) != o->uh) {
        return vidai_error(VIDA_EDECODE, "%s: frame %lld: conversion to RGB failed", v->path,
                           (long long)idx);
    }
    v->stats.frames_converted++;
    if (direct)
        return VIDA_OK;
    /*
     * crop (and flip) in the rotated frame: map each output pixel back to the
     * unrotated scaled frame, whose region (rx, ry, rw, rh) is in v->tmp
     */
    const uint8_t *src = v->tmp;
    int uw = o->uw, uh = o->uh;
    for (int y = 0; y < o->ch; y++) {
        uint8_t *row = out + (size_t)y * o->cw * 3;
        int Y = y + o->cy;
        if (rot == 0) {
            const uint8_t *sr = src + ((size_t)(Y - ry) * rw + (cx - rx)) * 3;
            if (!flip) {
                memcpy(row, sr, (size_t)o->cw * 3);
            } else {
                for (int x = 0; x < o->cw; x++)
                    memcpy(row + (size_t)(o->cw - 1 - x) * 3, sr + (size_t)x * 3, 3);
            }
            continue;
        }
        for (int x = 0; x < o->cw; x++) {
            int X = cx + (flip ? o->cw - 1 - x : x);
            int ux, uy;
            if (rot == 90) {
                ux = Y, uy = uh - 1 - X;
            } else if (rot == 180) {
                ux = uw - 1 - X, uy = uh - 1 - Y;
            } else {
                ux = uw - 1 - Y, uy = X;
            }
            memcpy(row + (size_t)x * 3, src + ((size_t)(uy - ry) * rw + (ux - rx)) * 3, 3);
        }
    }
    return VIDA_OK;
}

/* ---- decoding ------------------------------------------------------------- */

/* The last keyframe whose pts is <= frame idx's (-1 if none; not for sequential streams). */
static int64_t key_for(const vida_video *v, int64_t idx)
{
    return lower_bound(v->key_pts, v->n_keys, v->pts[idx] + 1) - 1;
}

/* The decoder's state after any seek: flushed, nothing sent, waiting for a keyframe. */
static void restart(vida_video *v, int64_t aim)
{
    avcodec_flush_buffers(v->dec);
    v->stats.seeks++;
    v->demux_eof = v->decoder_eof = 0;
    v->last_pts = v->sent_pts = INT64_MIN;
    v->seq_next = 0;
    v->wait_key = 1;
    v->n_skipped = v->skipped_overflow = 0;
    v->seek_aim = aim;
}

/* Puts the demuxer back at the start of the file. */
static int rewind_demuxer(vida_video *v)
{
    int e = av_seek_frame(v->fmt, v->si, INT64_MIN, AVSEEK_FLAG_BACKWARD);
    if (e < 0)
        e = av_seek_frame(v->fmt, -1, 0, AVSEEK_FLAG_BYTE);
    if (e < 0)
        e = avformat_seek_file(v->fmt, -1, INT64_MIN, 0, 0, AVSEEK_FLAG_BYTE);
    if (e < 0)
        return av_fail(v, e, "cannot seek to the start");
    v->positioned = 1;
    return VIDA_OK;
}

static int seek_start(vida_video *v)
{
    restart(v, INT64_MAX);
    return rewind_demuxer(v);
}

/*
 * Seeks for keyframe k, attempt a: 0 by its pts (what mov and matroska index),
 * 1 by min(pts, dts) (mpeg-ts, avi), 2 the keyframe before by min(pts, dts),
 * 3 and later (or k < 0) the start. The first keyframe packet read afterwards
 * is checked against the aim (seek_aim): a later one means the demuxer landed
 * too late, and next_frame says so before decoding anything.
 */
static int do_seek(vida_video *v, int64_t k, int a)
{
    int e;
    if (a >= 2)
        k -= a - 1;
    if (k < 0 || a > VIDAI_SEEK_RETRIES)
        return seek_start(v);
    restart(v, v->key_pts[k]);
    int64_t ts = a == 0 ? v->key_pts[k] : v->key_ts[k];
    e = avformat_seek_file(v->fmt, v->si, INT64_MIN, ts, ts, 0);
    if (e < 0)
        e = av_seek_frame(v->fmt, v->si, ts, AVSEEK_FLAG_BACKWARD);
    if (e < 0) {
        v->seek_aim = INT64_MAX;
        return rewind_demuxer(v);
    }
    v->positioned = 1;
    return VIDA_OK;
}

/* Whether the frame with timestamp ts is one the current read wants. */
static int wanted_ts(const vida_video *v, int64_t ts)
{
    if (ts == AV_NOPTS_VALUE || v->sequential)
        return 1;
    int64_t fi = lower_bound(v->pts, v->n, ts);
    if (fi >= v->n || v->pts[fi] != ts)
        return 0;
    /* Beyond this read's last frame: decode, the next read may want it. */
    if (v->n_want == 0 || fi > v->want_idx[(v->n_want - 1) * v->want_stride])
        return 1;
    int64_t lo = 0, hi = v->n_want;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int64_t x = v->want_idx[mid * v->want_stride];
        if (x == fi)
            return 1;
        if (x < fi)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/*
 * Gets the next frame out of the decoder into v->frame. Returns 1 for a frame,
 * 0 at the end of the stream, VIDAI_LATE when the seek landed too late, or an
 * error code.
 */
static int next_frame(vida_video *v, int64_t *decoded, int64_t want)
{
    int e;
    for (;;) {
        if (expired(v))
            return av_fail(v, AVERROR_EXIT, "decoding");
        e = avcodec_receive_frame(v->dec, v->frame);
        if (e >= 0) {
            v->stats.frames_decoded++;
            if (++*decoded > v->p.max_decode_frames)
                return vidai_error(VIDA_ENOMEM, "%s: decoded %lld frames without reaching frame %lld "
                                   "(max_decode_frames)", v->path, (long long)*decoded - 1,
                                   (long long)want);
            return 1;
        }
        if (e == AVERROR_EOF)
            return 0;
        if (e == AVERROR(ENOMEM)) /* out of memory is not a broken frame */
            return av_fail(v, e, "decoding");
        if (e != AVERROR(EAGAIN)) {
            /* a broken frame: skip it, decoding goes on */
            if (++*decoded > v->p.max_decode_frames)
                return av_fail(v, e, "decoding");
            continue;
        }
        if (v->demux_eof) {
            if (v->decoder_eof)
                return 0;
            v->decoder_eof = 1;
            e = avcodec_send_packet(v->dec, NULL);
            if (e < 0 && e != AVERROR_EOF)
                return 0;
            continue;
        }
        /* read packets until one of ours is sent */
        int64_t spins = 0;
        for (;;) {
            if (expired(v))
                return av_fail(v, AVERROR_EXIT, "reading packets");
            if (++spins > 1000000)
                return vidai_error(VIDA_EDECODE, "%s: a million packets without one of the video "
                                   "stream's", v->path);
            e = av_read_frame(v->fmt, v->pkt);
            if (e < 0) {
                if (e == AVERROR_EXIT)
                    return av_fail(v, e, "reading packets");
                v->demux_eof = 1; /* EOF or a damaged tail: decode what we have */
                break;
            }
            if (v->pkt->stream_index != v->si || (v->wait_key && !(v->pkt->flags & AV_PKT_FLAG_KEY))) {
                av_packet_unref(v->pkt);
                continue;
            }
            if (v->wait_key && !v->sequential && v->pkt->pts != AV_NOPTS_VALUE &&
                v->pkt->pts > v->seek_aim) {
                av_packet_unref(v->pkt);
                return VIDAI_LATE;
            }
            v->wait_key = 0;
            v->stats.packets++;
            if (v->pkt->pts != AV_NOPTS_VALUE && v->pkt->pts > v->sent_pts)
                v->sent_pts = v->pkt->pts;
            /* Frames nobody wants and nothing references need not be decoded at all. */
            if (v->skip_nonref) {
                int keep = wanted_ts(v, v->pkt->pts);
                v->dec->skip_frame = keep ? AVDISCARD_DEFAULT : AVDISCARD_NONREF;
                if (!keep && !(v->pkt->flags & AV_PKT_FLAG_KEY)) {
                    if (v->n_skipped < (int)(sizeof v->skipped / sizeof v->skipped[0]))
                        v->skipped[v->n_skipped++] = v->pkt->pts;
                    else
                        v->skipped_overflow = 1;
                }
            }
            e = avcodec_send_packet(v->dec, v->pkt);
            av_packet_unref(v->pkt);
            if (e == AVERROR(EAGAIN)) /* cannot happen after receive gave EAGAIN; be safe */
                break;
            if (e == AVERROR(ENOMEM))
                return av_fail(v, e, "decoding");
            break; /* other errors: a damaged packet; go on */
        }
    }
}

static int64_t frame_ts(const AVFrame *f)
{
    return f->best_effort_timestamp != AV_NOPTS_VALUE ? f->best_effort_timestamp : f->pts;
}

/*
 * Whether keyframe k is far enough ahead of what the decoder has been sent
 * that seeking to it beats decoding forward (more than 2 frames between).
 */
static int key_far(const vida_video *v, int64_t k)
{
    if (v->sent_pts == INT64_MIN)
        return 1;
    int64_t sent = lower_bound(v->pts, v->n, v->sent_pts);
    return v->key_idx[k] > sent + 2;
}

/* Whether the frame with timestamp ts may have been skipped by an earlier read. */
static int was_skipped(const vida_video *v, int64_t ts)
{
    if (v->skipped_overflow)
        return 1;
    for (int j = 0; j < v->n_skipped; j++)
        if (v->skipped[j] == ts)
            return 1;
    return 0;
}

/*
 * Frame idx went missing (a seek landed late, the stream ended, or the
 * decoder dropped it): sets up the next try -- a seek from further back, then
 * one more round decoding everything (skipping is never trusted again on this
 * video). 0 when no try is left.
 */
static int next_try(vida_video *v, int *attempt)
{
    v->positioned = 0;
    if (!v->sequential && *attempt <= VIDAI_SEEK_RETRIES) {
        (*attempt)++;
        return 1;
    }
    if (v->skip_nonref) {
        v->skip_nonref = 0;
        v->dec->skip_frame = AVDISCARD_DEFAULT;
        *attempt = 0;
        return 1;
    }
    return 0;
}

typedef struct want {
    int64_t idx;
    int64_t slot;
} want;

static int cmp_want(const void *a, const void *b)
{
    const want *x = a, *y = b;
    if (x->idx != y->idx)
        return x->idx < y->idx ? -1 : 1;
    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

static int video_read(vida_video *v, const int64_t *indices, int64_t n,
                      const vida_frame_geometry *g, uint8_t *out, size_t out_bytes)
{
    geom o;
    want *w;
    int rc;
    if (!v || (!indices && n > 0) || (!out && n > 0))
        return vidai_error(VIDA_EINVAL, "vida_video_read: %s is NULL",
                           !v ? "video" : !indices ? "indices" : "out");
    if (n < 0)
        return vidai_error(VIDA_EINVAL, "%s: negative frame count %lld", v->path, (long long)n);
    rc = make_geom(v, g, &o);
    if (rc)
        return rc;
    size_t fb = (size_t)o.cw * o.ch * 3, need;
    if (vidai_mul_size(&need, fb, (size_t)n) || out_bytes < need)
        return vidai_error(VIDA_EINVAL, "%s: output buffer of %zu bytes is too small for %lld frames "
                           "of %dx%dx3", v->path, out_bytes, (long long)n, o.cw, o.ch);
    for (int64_t i = 0; i < n; i++)
        if (indices[i] < 0 || indices[i] >= v->n)
            return vidai_error(VIDA_EINVAL, "%s: frame %lld out of range (the video has %lld frames)",
                               v->path, (long long)indices[i], (long long)v->n);
    if (n == 0)
        return VIDA_OK;
    w = vidai_malloc((size_t)n * sizeof *w);
    if (!w)
        return VIDA_ENOMEM;
    for (int64_t i = 0; i < n; i++)
        w[i].idx = indices[i], w[i].slot = i;
    qsort(w, (size_t)n, sizeof *w, cmp_want);
    start_clock(v);
    v->buffer_failed = 0; /* an allocation failure of this read, not an earlier one */
    v->want_idx = &w[0].idx;
    v->want_stride = sizeof *w / sizeof(int64_t);
    v->n_want = n;

    int64_t decoded = 0;
    int attempt = 0; /* seek attempt for the current frame (do_seek) */
    int64_t i = 0;
    while (i < n) {
        int64_t idx = w[i].idx;
        int64_t k = v->sequential ? -1 : key_for(v, idx);
        /* Seek unless the decoder is before idx and idx's keyframe is not ahead of it. */
        int seek;
        if (v->sequential)
            seek = !v->positioned || v->seq_next > idx; /* the only seek is to the start */
        else
            seek = !v->positioned || v->last_pts >= v->pts[idx] || was_skipped(v, v->pts[idx]) ||
                   (k >= 0 && v->key_pts[k] > v->last_pts && key_far(v, k));
        if (seek) {
            if (v->sequential)
                rc = seek_start(v);
            else
                rc = do_seek(v, k, attempt);
            if (rc)
                goto out;
        }
        /* decode forward to idx, converting wanted frames on the way */
        for (;;) {
            int r = next_frame(v, &decoded, idx);
            if (r < 0) {
                rc = r;
                goto out;
            }
            if (r == VIDAI_LATE || r == 0) {
                /* landed too late, or the stream ended first: try again from further back */
                if (next_try(v, &attempt))
                    break;
                rc = missing_frame(v, idx, "the stream ends (or is damaged) before the decoder "
                                           "gives it");
                goto out;
            }
            int64_t fi;
            if (v->sequential) {
                fi = v->seq_next++;
            } else {
                int64_t ts = frame_ts(v->frame);
                if (ts == AV_NOPTS_VALUE) {
                    av_frame_unref(v->frame);
                    continue;
                }
                v->last_pts = ts;
                for (int j = 0; j < v->n_skipped;)
                    if (v->skipped[j] <= ts)
                        v->skipped[j] = v->skipped[--v->n_skipped];
                    else
                        j++;
                fi = lower_bound(v->pts, v->n, ts);
                if (fi >= v->n || v->pts[fi] != ts) {
                    av_frame_unref(v->frame); /* not a frame of the table (leading, discarded) */
                    continue;
                }
            }
            if (fi < idx) {
                av_frame_unref(v->frame);
                continue;
            }
            if (fi > idx) {
                /* idx went missing: the seek landed late, or the decoder dropped it */
                av_frame_unref(v->frame);
                if (next_try(v, &attempt))
                    break;
                rc = missing_frame(v, idx, "the decoder did not give it (damaged or "
                                           "undecodable)");
                goto out;
            }
            /* fi == idx: convert into every slot that wants it */
            rc = convert(v, idx, &o, out + (size_t)w[i].slot * fb);
            av_frame_unref(v->frame);
            if (rc)
                goto out;
            int64_t first = w[i].slot;
            for (i++; i < n && w[i].idx == idx; i++)
                memcpy(out + (size_t)w[i].slot * fb, out + (size_t)first * fb, fb);
            attempt = 0;
            break;
        }
    }
    rc = VIDA_OK;
out:
    v->want_idx = NULL;
    v->n_want = 0;
    vidai_free(w);
    return rc;
}

int vida_video_read(vida_video *v, const int64_t *indices, int64_t n, const vida_frame_geometry *g,
                    uint8_t *out, size_t out_bytes)
{
    VIDAI_GUARDED(v, __func__, "video", video_read(v, indices, n, g, out, out_bytes));
}
