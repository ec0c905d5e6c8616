"""Videos (vida_video) and clip samplers (vida_sampler)."""

import dataclasses
import os

import numpy as np

from . import _capi
from ._capi import Error, check, lib
from ._core import Handle, _ctx_or_null, _enum, _new_handle


@dataclasses.dataclass(frozen=True)
class VideoInfo(object):
    """vida_video_info: what the scan at open measured (see include/vidaction/video.h)."""
    n_frames: int
    header_frames: int
    duration: float
    avg_fps: float
    real_fps: float
    start_time: float
    vfr: bool
    width: int
    height: int
    coded_width: int
    coded_height: int
    rotation: int
    n_keyframes: int
    max_keyframe_gap: int
    bit_depth: int
    full_range: bool
    sequential: bool
    codec: str
    format: str
    pix_fmt: str

    def asdict(self):
        return dataclasses.asdict(self)


def _geometry(short_side=None, size=None, crop=None, crop_at=None, flip=False):
    """A vida_frame_geometry: scale (short side, or exact (w, h)), crop (n or (w, h),
    centred unless crop_at=(x, y)), mirror."""
    g = _capi.params(_capi.FrameGeometry, lib().vida_frame_geometry_init)
    if short_side:
        g.short_side = int(short_side)
    if size is not None:
        g.scale_width, g.scale_height = (int(v) for v in size)
    if crop:
        cw, ch = (crop, crop) if np.isscalar(crop) else crop
        g.crop_width, g.crop_height = int(cw), int(ch)
        g.crop_x, g.crop_y = (-1, -1) if crop_at is None else (int(v) for v in crop_at)
    g.flip = 1 if flip else 0
    return g


class Video(Handle):
    """vida_video: one video file, decoded frame-accurately with the system FFmpeg.

        v = vidaction.Video("a.mp4")
        v.info.n_frames, v.info.width, v.info.avg_fps
        frames = v.clip(0, 16, stride=2, short_side=128, crop=112)   # uint8 [16, 112, 112, 3]

    Keyword arguments set vida_video_params: max_pixels, max_decode_frames,
    deadline (seconds per open or read, 0 = none), threads (decoder threads),
    stream (stream index, -1 = FFmpeg's best). A video is used by one thread at
    a time.
    """

    _kind = "Video"

    def __init__(self, path, ctx=None, max_pixels=None, max_decode_frames=None, deadline=None,
                 threads=None, stream=None):
        L = lib()
        p = _capi.params(_capi.VideoParams, L.vida_video_params_init)
        for k, v in (("max_pixels", max_pixels), ("max_decode_frames", max_decode_frames),
                     ("deadline", deadline), ("threads", threads), ("stream", stream)):
            if v is not None:
                setattr(p, k, v)
        out = _new_handle()
        check(L.vida_video_open(_capi.byref(out), _ctx_or_null(ctx), _capi.path_arg(path), p))
        self._own(out.value, "vida_video_free")
        self.path = os.fspath(path)
        self._info = None

    @property
    def info(self):
        """A VideoInfo (frames, size, rates, codec, ...)."""
        if self._info is None:
            i = _capi.sized(_capi.VideoInfo)
            check(lib().vida_video_get_info(self._h(), i))
            vals = {}
            for f in dataclasses.fields(VideoInfo):
                v = getattr(i, f.name)
                if isinstance(v, bytes):
                    v = _capi.text(v)
                elif f.type is bool or f.type == "bool":
                    v = bool(v)
                vals[f.name] = v
            self._info = VideoInfo(**vals)
        return self._info

    def __len__(self):
        return int(self.info.n_frames)

    def frame_time(self, index):
        """Seconds from the first frame to frame index."""
        s = _capi.c_double()
        check(lib().vida_video_frame_time(self._h(), int(index), _capi.byref(s)))
        return s.value

    def frame_at(self, seconds):
        """The frame shown at seconds (from the first frame)."""
        i = _capi.c_int64()
        check(lib().vida_video_frame_at(self._h(), float(seconds), _capi.byref(i)))
        return i.value

    def output_size(self, short_side=None, size=None, crop=None, crop_at=None):
        """(width, height) of frames read with this geometry."""
        g = _geometry(short_side, size, crop, crop_at)
        w, h = _capi.c_int(), _capi.c_int()
        check(lib().vida_video_output_size(self._h(), g, _capi.byref(w), _capi.byref(h)))
        return w.value, h.value

    def read(self, indices, short_side=None, size=None, crop=None, crop_at=None, flip=False):
        """Frames indices (any order, repeats allowed) as uint8 RGB [n, H, W, 3].

        short_side: scale the shorter side to this (bicubic); size=(w, h): scale
        to exactly this; crop: n or (w, h), centred unless crop_at=(x, y); flip:
        mirror. vida_video_read.
        """
        h = self._h()
        g = _geometry(short_side, size, crop, crop_at, flip)
        idx = np.ascontiguousarray(np.asarray(indices, dtype=np.int64).reshape(-1))
        w, hh = _capi.c_int(), _capi.c_int()
        check(lib().vida_video_output_size(h, g, _capi.byref(w), _capi.byref(hh)))
        out = np.empty((idx.size, hh.value, w.value, 3), dtype=np.uint8)
        check(lib().vida_video_read(h, idx.ctypes.data_as(_capi._I64P), idx.size, g,
                                    out.ctypes.data_as(_capi._U8P), out.nbytes))
        return out

    def clip(self, start_frame, frames, stride=1, short_side=None, crop=None):
        """The clip of frames start_frame, start_frame + stride, ... (frames of them) as
        uint8 [frames, H, W, 3], as `vidaction clip` decodes it. A clip past the last
        frame is an Error (use a Sampler for the short-video policies)."""
        if int(frames) < 1 or int(stride) < 1 or int(start_frame) < 0:
            raise Error(_capi.EINVAL, "%s: clip of %r frames, stride %r from frame %r" % (
                self.path, frames, stride, start_frame))
        idx = int(start_frame) + np.arange(int(frames), dtype=np.int64) * int(stride)
        return self.read(idx, short_side=short_side, crop=crop)

    @property
    def stats(self):
        """Reads so far: seeks, packets, frames_decoded, frames_converted."""
        s = _capi.sized(_capi.VideoStats)
        check(lib().vida_video_get_stats(self._h(), s))
        return {k: getattr(s, k) for k, _ in _capi.VideoStats._fields_ if k != "size"}

    def __repr__(self):
        if self.closed:
            return "<vidaction.Video %r closed>" % self.path
        i = self.info
        return "<vidaction.Video %r %dx%d, %d frames, %s>" % (self.path, i.width, i.height,
                                                             i.n_frames, i.codec)


def sampler_params(frames=16, stride=1, fps=0.0, clip_mode="random", clips=1, max_minutes=0.0,
                   start_frame=0, start_time=-1.0, dense_step=0, short_side=128, crop=112,
                   crop_mode="center", flip=False, output="u8", mean=None, std=None,
                   short_video="repeat_last"):
    """A vida_sampler_params from keyword arguments (the library's defaults for the rest).

    short_side: n, (min, max) for scale jitter, or 0/None for native size;
    crop: square size, 0/None for none.
    """
    p = _capi.params(_capi.SamplerParams, lib().vida_sampler_params_init)
    p.frames = int(frames)
    p.stride = int(stride)
    p.fps = float(fps)
    p.clip_mode = _enum(_capi.CLIP_MODES, clip_mode, "clip_mode")
    p.clips = int(clips)
    p.max_minutes = float(max_minutes)
    p.start_frame = int(start_frame)
    p.start_time = float(start_time)
    p.dense_step = int(dense_step)
    if not short_side:
        p.short_side_min = p.short_side_max = 0
    elif np.isscalar(short_side):
        p.short_side_min = p.short_side_max = int(short_side)
    else:
        p.short_side_min, p.short_side_max = (int(v) for v in short_side)
    p.crop = int(crop or 0)
    p.crop_mode = _enum(_capi.CROP_MODES, crop_mode, "crop_mode")
    p.flip = 1 if flip else 0
    p.output = _enum(_capi.SAMPLE_OUTPUTS, output, "output")
    if mean is not None:
        p.mean[:] = [float(v) for v in mean]
    if std is not None:
        p.std[:] = [float(v) for v in std]
    p.short_video = _enum(_capi.SHORT_VIDEO, short_video, "short_video")
    return p


class Sampler(Handle):
    """vida_sampler: which clips of a video, and how they look (see sampler.h).

        s = vidaction.Sampler(frames=16, clip_mode="uniform", clips=10, short_side=128,
                              crop=112, output="f32")
        x = s.sample("a.mp4")          # float32 [10, 3, 16, 112, 112], normalised

    Keyword arguments as sampler_params(). The same (seed, video, clip) always
    gives the same clip. A sampler may be shared by threads.
    """

    _kind = "Sampler"

    def __init__(self, ctx=None, **kw):
        L = lib()
        p = sampler_params(**kw)
        out = _new_handle()
        check(L.vida_sampler_create(_capi.byref(out), _ctx_or_null(ctx), p))
        self._own(out.value, "vida_sampler_free")

    @property
    def params(self):
        p = _capi.sized(_capi.SamplerParams)
        check(lib().vida_sampler_get_params(self._h(), p))
        d = {k: getattr(p, k) for k, _ in _capi.SamplerParams._fields_ if k != "size"}
        d["mean"], d["std"] = list(p.mean), list(p.std)
        return d

    def plan(self, video):
        """(n_views, shape) of what sample() gives for video."""
        with _opened(video) as v:
            n = _capi.c_int64()
            shape = (_capi.c_int64 * 5)()
            check(lib().vida_sampler_plan(self._h(), v._h(), _capi.byref(n), shape))
            return n.value, tuple(shape)

    def indices(self, video, seed=0, window=None):
        """The source frame numbers of every view, int64 [n_views, L], without decoding.
        window=(t_begin, t_end) seconds limits the clips to that part (t_end < 0: the end)."""
        with _opened(video) as v:
            n, shape = self.plan(v)
            L_ = shape[2] if self._output() == 1 else shape[1]
            idx = np.empty((n, L_), dtype=np.int64)
            p = idx.ctypes.data_as(_capi._I64P)
            if window is None:
                check(lib().vida_sampler_indices(self._h(), v._h(), int(seed), p, idx.size))
            else:
                check(lib().vida_sampler_indices_window(self._h(), v._h(), int(seed),
                                                        float(window[0]), float(window[1]),
                                                        p, idx.size))
            return idx

    def sample(self, video, seed=0, window=None, return_indices=False):
        """Decodes every view: uint8 [V, L, H, W, 3] or float32 [V, 3, L, H, W]
        (V = clips x crops, clip-major); with return_indices also int64 [V, L]."""
        with _opened(video) as v:
            n, shape = self.plan(v)
            f32 = self._output() == 1
            out = np.empty(shape, dtype=np.float32 if f32 else np.uint8)
            L_ = shape[2] if f32 else shape[1]
            idx = np.empty((n, L_), dtype=np.int64)
            ip = idx.ctypes.data_as(_capi._I64P)
            if window is None:
                check(lib().vida_sampler_sample(self._h(), v._h(), int(seed), out.ctypes.data,
                                                out.nbytes, ip, idx.size))
            else:
                check(lib().vida_sampler_sample_window(self._h(), v._h(), int(seed),
                                                       float(window[0]), float(window[1]),
                                                       out.ctypes.data, out.nbytes, ip,
                                                       idx.size))
            return (out, idx) if return_indices else out

    def _output(self):
        p = _capi.sized(_capi.SamplerParams)
        check(lib().vida_sampler_get_params(self._h(), p))
        return p.output


class _opened(object):
    """with _opened(path_or_video) as v: opens a path (closed after), passes a Video through."""

    def __init__(self, video, ctx=None):
        self.video = video
        self.ctx = ctx
        self.mine = None

    def __enter__(self):
        if isinstance(self.video, Video):
            return self.video
        self.mine = Video(self.video, ctx=self.ctx)
        return self.mine

    def __exit__(self, *exc):
        if self.mine is not None:
            self.mine.close()
        return False
