"""Datasets (vida_dataset), loaders (vida_loader) and evaluation (vida_eval)."""

import dataclasses
import os

import numpy as np

from . import _capi
from ._capi import Error, check, lib
from ._core import Handle, _ctx_or_null, _enum, _new_handle, f32
from .video import Sampler

_TARGET_NAMES = {v: k for k, v in _capi.TARGETS.items()}


class Dataset(Handle):
    """vida_dataset: a manifest of labelled videos, its label space and epoch order.

        ds = vidaction.Dataset("train.tsv")            # path<TAB>labels lines, or JSON lines
        len(ds), ds.classes, ds.video(0)

    Keyword arguments set vida_dataset_params (include/vidaction/dataset.h):
    root (directory of relative paths; default the manifest's), taxonomy,
    label_space "target" | "verb" | "noun" | "verb_noun", min_count, target
    "single" | "soft" | "multihot", resample "none" | "natural" | "sqrt" |
    "uniform", draws, max_videos, max_minutes, clips_per_video, prefer
    "random" | "short" | "long", seed, classes (a fixed class list, e.g. a
    model's labels), check_files, strict, probe_durations.
    """

    _kind = "Dataset"

    def __init__(self, manifest, root=None, taxonomy=None, label_space="target", min_count=None,
                 target="single", resample="none", draws=0, max_videos=0, max_minutes=0.0,
                 clips_per_video=None, prefer="random", seed=0, classes=None, check_files=True,
                 strict=False, probe_durations=True, ctx=None):
        L = lib()
        p = _capi.params(_capi.DatasetParams, L.vida_dataset_params_init)
        keep = []  # the strings the params point to, alive as long as the dataset
        if root is not None:
            keep.append(_capi.path_arg(root))
            p.root = keep[-1]
        if taxonomy is not None:
            keep.append(_capi.path_arg(taxonomy))
            p.taxonomy = keep[-1]
        p.label_space = _enum(_capi.LABEL_SPACES, label_space, "label_space")
        if min_count is not None:
            p.min_count = int(min_count)
        p.target = _enum(_capi.TARGETS, target, "target")
        p.resample = _enum(_capi.RESAMPLES, resample, "resample")
        p.draws = int(draws)
        p.max_videos = int(max_videos)
        p.max_minutes = float(max_minutes)
        if clips_per_video is not None:
            p.clips_per_video = int(clips_per_video)
        p.prefer = _enum(_capi.PREFERS, prefer, "prefer")
        p.seed = int(seed)
        if classes is not None:
            names = [str(c).encode("utf-8") for c in classes]
            arr = (_capi.c_char_p * max(len(names), 1))(*names)
            keep += [names, arr]
            p.classes = arr
            p.n_classes = len(names)
        p.check_files = 1 if check_files else 0
        p.strict = 1 if strict else 0
        p.probe_durations = 1 if probe_durations else 0
        out = _new_handle()
        check(L.vida_dataset_open(_capi.byref(out), _ctx_or_null(ctx),
                                  _capi.path_arg(manifest), p))
        self._own(out.value, "vida_dataset_free")
        self._keep = keep
        self.manifest = os.fspath(manifest)
        self.target_kind = _TARGET_NAMES[p.target]

    def __len__(self):
        """Kept videos."""
        return lib().vida_dataset_size(self._h())

    @property
    def num_classes(self):
        return lib().vida_dataset_n_classes(self._h())

    @property
    def epoch_size(self):
        """Samples per epoch (all ranks together)."""
        return lib().vida_dataset_epoch_size(self._h())

    @property
    def classes(self):
        """The class names, by class number."""
        h = self._h()
        return [_capi.text(lib().vida_dataset_label_name(h, c)) for c in range(self.num_classes)]

    def label_videos(self, c):
        """How many kept videos carry class c."""
        n = lib().vida_dataset_label_videos(self._h(), int(c))
        if n < 0:
            raise Error(_capi.EINVAL, "class %r out of range" % c)
        return n

    @property
    def problems(self):
        """What was wrong at open: "line N: why" or "PATH: why"."""
        h = self._h()
        L = lib()
        return [_capi.text(L.vida_dataset_problem(h, i))
                for i in range(L.vida_dataset_n_problems(h))]

    @property
    def stats(self):
        s = _capi.sized(_capi.DatasetStats)
        check(lib().vida_dataset_get_stats(self._h(), s))
        return {k: getattr(s, k) for k, _ in _capi.DatasetStats._fields_ if k != "size"}

    def video(self, i):
        """Kept video i: {"path", "line", "duration", "start", "end", "labels"}."""
        v = _capi.sized(_capi.DatasetVideo)
        check(lib().vida_dataset_get_video(self._h(), int(i), v))
        return {"path": os.fsdecode(v.path), "line": v.line, "duration": v.duration,
                "start": v.start, "end": v.end,
                "labels": [v.labels[k] for k in range(v.n_labels)]}

    def videos(self):
        """Every kept video, as video(i)."""
        return [self.video(i) for i in range(len(self))]

    def draw(self, seed, epoch, index):
        """Sample index of epoch under seed: {"video", "label", "slot"}."""
        s = _capi.sized(_capi.DatasetSample)
        check(lib().vida_dataset_draw(self._h(), int(seed), int(epoch), int(index), s))
        return {"video": s.video, "label": s.label, "slot": s.slot}

    def target(self, sample):
        """The target row (float32 [num_classes]) of a sample from draw()."""
        s = _capi.sized(_capi.DatasetSample)
        s.video, s.label, s.slot = sample["video"], sample["label"], sample["slot"]
        row = np.empty(self.num_classes, dtype=np.float32)
        check(lib().vida_dataset_target(self._h(), s, row.ctypes.data_as(_capi._F32P), row.size))
        return row

    def __repr__(self):
        if self.closed:
            return "<vidaction.Dataset %r closed>" % self.manifest
        return "<vidaction.Dataset %r: %d videos, %d classes>" % (self.manifest, len(self),
                                                                 self.num_classes)


@dataclasses.dataclass
class Batch(object):
    """One batch from a Loader (numpy copies; they stay valid after the next batch).

    clips    uint8 [n*views, L, H, W, 3] or float32 [n*views, 3, L, H, W]
    labels   int32 [n], the sample's class
    targets  float32 [n, classes], as the dataset's target kind says
    videos   int64 [n], the kept video index; draws int64 [n], the draw in the epoch
    """
    clips: np.ndarray
    labels: np.ndarray
    targets: np.ndarray
    videos: np.ndarray
    draws: np.ndarray
    n: int
    views: int
    epoch: int
    number: int
    failed: int
    last_in_epoch: bool
    target_kind: str


def _copy(ptr_or_addr, dtype, shape):
    n = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
    if n == 0 or not ptr_or_addr:
        return np.zeros(shape, dtype=dtype)
    addr = ptr_or_addr if isinstance(ptr_or_addr, int) else \
        _capi.ctypes.cast(ptr_or_addr, _capi.c_void_p).value
    buf = (_capi.c_char * (n * np.dtype(dtype).itemsize)).from_address(addr)
    return np.frombuffer(buf, dtype=dtype).reshape(shape).copy()


def _tensor_copy(t):
    dt = {_capi.DTYPE_F32: np.float32, _capi.DTYPE_U8: np.uint8}[t.dtype]
    return _copy(t.data, dt, tuple(t.shape[k] for k in range(t.ndim)))


_STATE_FIELDS = [k for k, _ in _capi.LoaderState._fields_ if k != "size"]


def _state_struct(state):
    s = _capi.sized(_capi.LoaderState)
    for k in _STATE_FIELDS:
        setattr(s, k, int(state[k]))
    return s


def _state_dict(s):
    return {k: getattr(s, k) for k in _STATE_FIELDS}


class Loader(Handle):
    """vida_loader: threads decoding a dataset's samples into batches, ahead of the caller.

        for b in vidaction.Loader(ds, batch=8, clip_len=16, crop=112, threads=4, epochs=1):
            loss = model.train_step(opt, b)

    Batches are a function of (seed, epoch, batch number, rank, world) only.
    Sampler settings (see vidaction.Sampler): clip_len (frames per clip),
    stride, fps, clip_mode "random" | "uniform" | "center" | "start", clips,
    short_side (n or (min, max) jitter), crop, crop_mode, flip, output "u8" |
    "f32", mean, std, short_video; or pass sampler=Sampler(...). Loader
    settings (vida_loader_params): threads, seed, rank, world, epochs (default
    1 here; 0 = no end), drop_last, prefetch, max_bytes, max_failures,
    failure_grace, max_pixels, deadline.
    The loader keeps its dataset alive.
    """

    _kind = "Loader"

    def __init__(self, dataset, batch=8, clip_len=16, sampler=None, threads=1, seed=0, rank=0,
                 world=1, epochs=1, drop_last=False, prefetch=None, max_bytes=None,
                 max_failures=None, failure_grace=None, max_pixels=0, deadline=0.0, ctx=None,
                 **sampler_kw):
        L = lib()
        own_sampler = sampler is None
        if own_sampler:
            sampler = Sampler(ctx=ctx, frames=clip_len, **sampler_kw)
        elif sampler_kw:
            raise Error(_capi.EINVAL, "Loader: give sampler= or sampler settings, not both")
        p = _capi.params(_capi.LoaderParams, L.vida_loader_params_init)
        p.batch = int(batch)
        p.threads = int(threads)
        p.seed = int(seed)
        p.rank, p.world = int(rank), int(world)
        p.epochs = int(epochs)
        p.drop_last = 1 if drop_last else 0
        for k, v in (("prefetch", prefetch), ("max_bytes", max_bytes),
                     ("max_failures", max_failures), ("failure_grace", failure_grace)):
            if v is not None:
                setattr(p, k, v)
        p.max_pixels = int(max_pixels)
        p.deadline = float(deadline)
        out = _new_handle()
        try:
            check(L.vida_loader_create(_capi.byref(out), _ctx_or_null(ctx), dataset._h(),
                                       sampler._h(), p))
        finally:
            if own_sampler:
                sampler.close()  # the loader holds its own reference
        self._own(out.value, "vida_loader_free")
        self.dataset = dataset
        self._target_kind = dataset.target_kind

    def __iter__(self):
        return self

    def __next__(self):
        b = self.next()
        if b is None:
            raise StopIteration
        return b

    def next(self):
        """The next Batch, or None after the last epoch."""
        b = _capi.sized(_capi.Batch)
        check(lib().vida_loader_next(self._h(), b))
        if b.end:
            return None
        n = b.n
        return Batch(clips=_tensor_copy(b.clips), labels=_copy(b.labels, np.int32, (n,)),
                     targets=_tensor_copy(b.targets), videos=_copy(b.videos, np.int64, (n,)),
                     draws=_copy(b.draws, np.int64, (n,)), n=n, views=b.views, epoch=b.epoch,
                     number=b.number, failed=b.failed, last_in_epoch=bool(b.last_in_epoch),
                     target_kind=self._target_kind)

    def state(self):
        """Where the loader is (a dict); set_state() of it gives the same batches again."""
        s = _capi.sized(_capi.LoaderState)
        check(lib().vida_loader_get_state(self._h(), s))
        return _state_dict(s)

    def set_state(self, state):
        check(lib().vida_loader_set_state(self._h(), _state_struct(state)))

    @property
    def stats(self):
        s = _capi.sized(_capi.LoaderStats)
        check(lib().vida_loader_get_stats(self._h(), s))
        return {k: getattr(s, k) for k, _ in _capi.LoaderStats._fields_ if k != "size"}

    @property
    def failures(self):
        """[(video index, "PATH: why")] of the videos that failed so far."""
        h = self._h()
        out = []
        for i in range(self.stats["failed_videos"]):
            v, msg = _capi.c_int64(), _capi.c_char_p()
            check(lib().vida_loader_failure(h, i, _capi.byref(v), _capi.byref(msg)))
            out.append((v.value, _capi.text(msg.value)))
        return out


class Evaluation(Handle):
    """vida_eval: the multi-clip evaluation protocol, accumulated video by video.

        ev = vidaction.Evaluation(num_classes)
        ev.add_video(logits_of_its_clips, [label])
        ev.result()   # clip_top1, video_top1, mean_class_accuracy, map, ...

    kind "softmax" (video score = mean softmax of its clips) or "sigmoid".
    """

    _kind = "Evaluation"

    def __init__(self, num_classes, kind="softmax"):
        out = _new_handle()
        check(lib().vida_eval_create(_capi.byref(out), int(num_classes),
                                     _enum(_capi.EVAL_KINDS, kind, "kind")))
        self._own(out.value, "vida_eval_free")
        self.num_classes = int(num_classes)

    def add_video(self, logits, labels):
        """Adds one video: logits [n_clips, classes] of its clips and its classes (an int
        or a list; the first is its class for the confusion matrix)."""
        lg = f32(logits)
        if lg.ndim == 1:
            lg = lg.reshape(1, -1)
        if lg.ndim != 2 or lg.shape[1] != self.num_classes:
            raise Error(_capi.EINVAL, "add_video: logits of shape %s, want [n_clips, %d]" % (
                lg.shape, self.num_classes))
        lab = np.ascontiguousarray(np.atleast_1d(np.asarray(labels)), dtype=np.int32)
        check(lib().vida_eval_add_video(self._h(), lg.ctypes.data_as(_capi._F32P), lg.shape[0],
                                        lab.ctypes.data_as(_capi._I32P), lab.size))

    def result(self):
        """{"videos", "clips", "clip_top1", "clip_top5", "video_top1", "video_top5",
        "mean_class_accuracy", "map"}."""
        r = _capi.sized(_capi.EvalResult)
        check(lib().vida_eval_get_result(self._h(), r))
        return {k: getattr(r, k) for k, _ in _capi.EvalResult._fields_ if k != "size"}

    def class_stats(self, c):
        """(videos, accuracy, average precision) of class c."""
        n, acc, ap = _capi.c_int64(), _capi.c_double(), _capi.c_double()
        check(lib().vida_eval_class(self._h(), int(c), _capi.byref(n), _capi.byref(acc),
                                    _capi.byref(ap)))
        return n.value, acc.value, ap.value

    def confusion(self):
        """int64 [classes, classes]: row = the video's first class, column = its video@1."""
        C = self.num_classes
        out = np.zeros((C, C), dtype=np.int64)
        check(lib().vida_eval_confusion(self._h(), out.ctypes.data_as(_capi._I64P), out.size))
        return out

    def video_scores(self, i):
        """Video i's score (mean softmax or sigmoid over its clips), float32 [classes]."""
        out = np.empty(self.num_classes, dtype=np.float32)
        check(lib().vida_eval_video_scores(self._h(), int(i), out.ctypes.data_as(_capi._F32P),
                                           out.size))
        return out
