"""Models (vida_model): load, create, run, train, classify, evaluate."""

import json
import re
import weakref

import numpy as np

from . import _capi
from ._capi import Error, check, lib
from ._core import (Handle, _ctx_or_default, _enum, _new_handle, f32, fptr, tensor_view)
from .video import Sampler, _opened

_ARCH_NAMES = {v: k for k, v in _capi.ARCHS.items()}
_MIDPLANES_NAMES = {v: k for k, v in _capi.MIDPLANES.items()}
_DTYPE_NAMES = {_capi.DTYPE_F32: "float32", _capi.DTYPE_I64: "int64"}

# classify/evaluate run at most this many views per forward, as `vidaction classify` does
_CHUNK = 16


def _f(v):
    """A float32 field as the shortest float that rounds to it (1e-05, not 9.99999974e-06)."""
    return float(str(np.float32(v)))


def _meta_int(m, key, fallback):
    """Integer metadata as the CLI reads it (atoi): a positive leading integer, else fallback."""
    s = m.meta(key)
    mo = re.match(r"\s*[+-]?\d+", s or "")
    v = int(mo.group(0)) if mo else 0
    return v if v > 0 else fallback


class Model(Handle):
    """vida_model: a video network (R(2+1)D, R3D, MC3, frame-based R2D) and its weights.

        m = vidaction.Model.load("r2plus1d_34_kinetics.safetensors")
        m.classify("a.mp4", clips=10, top=5)      # [(label, probability), ...]
        logits = m.forward(x)                     # x float32 [N, 3, T, H, W]

    Made with Model.load(path) or Model.create(...). A model is used by one
    thread at a time; different models run concurrently (the GIL is released
    during every library call).
    """

    _kind = "Model"

    def __init__(self, *a, **kw):
        raise TypeError("use vidaction.Model.load(path) or vidaction.Model.create(...)")

    @classmethod
    def _wrap(cls, ptr, ctx):
        self = cls.__new__(cls)
        self._own(ptr, "vida_model_free")
        self.context = ctx
        self._frozen = None
        self._optimizers = weakref.WeakSet()
        self._last_shape = None
        return self

    @classmethod
    def load(cls, path, ctx=None):
        """Loads a model file (safetensors; docs/model-format.md), validated fully."""
        ctx = _ctx_or_default(ctx)
        out = _new_handle()
        check(lib().vida_model_load(_capi.byref(out), ctx._h(), _capi.path_arg(path)))
        return cls._wrap(out.value, ctx)

    @classmethod
    def create(cls, arch="r2plus1d", depth=18, num_classes=400, width=1.0, midplanes="per-block",
               pool1=False, dropout=0.0, bn_eps=None, bn_momentum=None, labels=None, meta=None,
               ctx=None):
        """A model with fresh weights drawn from the context's seed.

        arch "r2plus1d" | "r3d" | "mc3" | "r2d"; depth as the architecture has
        them (r2plus1d: 10, 16, 18, 26, 34, 50, 101, 152); midplanes
        "per-block" (torchvision) or "per-conv" (Caffe2/VMZ, IG-65M); pool1:
        max-pool after the stem; bn_eps default 1e-5; labels: class names;
        meta: more metadata {key: value} (clip_frames, crop, mean, ...).
        """
        ctx = _ctx_or_default(ctx)
        L = lib()
        p = _capi.params(_capi.ModelParams, L.vida_model_params_init)
        p.arch = _enum(_capi.ARCHS, arch, "arch")
        p.depth = int(depth)
        p.num_classes = int(num_classes)
        p.width = float(width)
        p.midplanes = _enum(_capi.MIDPLANES, midplanes, "midplanes")
        p.pool1 = 1 if pool1 else 0
        p.dropout = float(dropout)
        if bn_eps is not None:
            p.bn_eps = float(bn_eps)
        if bn_momentum is not None:
            p.bn_momentum = float(bn_momentum)
        out = _new_handle()
        check(L.vida_model_create(_capi.byref(out), ctx._h(), p))
        m = cls._wrap(out.value, ctx)
        if labels is not None:
            labels = [str(s) for s in labels]
            if len(labels) != m.num_classes:
                m.close()
                raise Error(_capi.EINVAL, "%d labels for %d classes" % (len(labels),
                                                                       int(num_classes)))
            m.set_meta("labels", json.dumps(labels, ensure_ascii=False))
        for k, v in (meta or {}).items():
            m.set_meta(k, v)
        return m

    def save(self, path):
        """Writes the model file atomically."""
        check(lib().vida_model_save(self._h(), _capi.path_arg(path)))

    # ---- description ------------------------------------------------------

    @property
    def params(self):
        """The creation parameters: arch, depth, midplanes, pool1, num_classes, width,
        bn_eps, bn_momentum, dropout."""
        p = _capi.sized(_capi.ModelParams)
        check(lib().vida_model_get_params(self._h(), p))
        return {"arch": _ARCH_NAMES.get(p.arch, p.arch), "depth": p.depth,
                "midplanes": _MIDPLANES_NAMES.get(p.midplanes, p.midplanes),
                "pool1": bool(p.pool1), "num_classes": p.num_classes, "width": _f(p.width),
                "bn_eps": _f(p.bn_eps), "bn_momentum": _f(p.bn_momentum),
                "dropout": _f(p.dropout)}

    @property
    def num_classes(self):
        return lib().vida_model_num_classes(self._h())

    @property
    def feature_dim(self):
        """Width of the pooled feature vector before the classifier."""
        return lib().vida_model_feature_dim(self._h())

    @property
    def num_params(self):
        """Learnable parameters (BN running statistics excluded)."""
        return lib().vida_model_num_params(self._h())

    def meta(self, key, default=None):
        """Metadata value (a string) of key, or default when absent."""
        v = lib().vida_model_get_meta(self._h(), key.encode("utf-8"))
        return default if v is None else _capi.text(v)

    def set_meta(self, key, value):
        """Sets a metadata string (architecture keys cannot be set)."""
        check(lib().vida_model_set_meta(self._h(), key.encode("utf-8"),
                                        str(value).encode("utf-8")))

    @property
    def labels(self):
        """The class names from the "labels" metadata, or None when it is missing,
        malformed or not num_classes long."""
        s = self.meta("labels")
        try:
            v = json.loads(s) if s is not None else None
        except ValueError:
            return None
        if (not isinstance(v, list) or len(v) != self.num_classes or
                not all(isinstance(x, str) for x in v)):
            return None
        return v

    def __repr__(self):
        if self.closed:
            return "<vidaction.Model closed>"
        p = self.params
        return "<vidaction.Model %s-%d, %d classes, width %g>" % (p["arch"], p["depth"],
                                                                 p["num_classes"], p["width"])

    # ---- tensors ----------------------------------------------------------

    def _tensor_infos(self):
        h = self._h()
        L = lib()
        out = []
        name = _capi.c_char_p()
        ndim, dtype = _capi.c_int(), _capi.c_int()
        shape = (_capi.c_int64 * _capi.MAX_DIMS)()
        for i in range(L.vida_model_n_tensors(h)):
            check(L.vida_model_tensor_info(h, i, _capi.byref(name), _capi.byref(ndim), shape,
                                           _capi.byref(dtype)))
            out.append((_capi.text(name.value), tuple(shape[k] for k in range(ndim.value)),
                        dtype.value))
        return out

    def tensors(self):
        """The tensor names, in state_dict order."""
        return [n for n, _, _ in self._tensor_infos()]

    def tensor_shapes(self):
        """{name: (shape, dtype name)} in state_dict order."""
        return {n: (s, _DTYPE_NAMES.get(d, str(d))) for n, s, d in self._tensor_infos()}

    def _info(self, name):
        for n, s, d in self._tensor_infos():
            if n == name:
                return s, d
        raise Error(_capi.EINVAL, "no tensor %r in the model" % name)

    def tensor(self, name):
        """A copy of tensor name in the file's (PyTorch) layout: float32, or int64 for
        num_batches_tracked."""
        shape, dtype = self._info(name)
        a = np.empty(shape, dtype=np.float32)
        check(lib().vida_model_get_tensor(self._h(), name.encode("utf-8"), fptr(a), a.size))
        return a.astype(np.int64) if dtype == _capi.DTYPE_I64 else a

    def grad(self, name):
        """A copy of the gradient of a learnable tensor (after backward or a train step)."""
        shape, _ = self._info(name)
        a = np.empty(shape, dtype=np.float32)
        check(lib().vida_model_get_grad(self._h(), name.encode("utf-8"), fptr(a), a.size))
        return a

    def set_tensor(self, name, value):
        """Copies value (its shape must have the tensor's element count) into tensor name."""
        a = f32(value)
        check(lib().vida_model_set_tensor(self._h(), name.encode("utf-8"), fptr(a), a.size))

    def state_dict(self):
        """{name: array} of every tensor, in order."""
        return {n: self.tensor(n) for n in self.tensors()}

    def load_state_dict(self, state):
        """Sets every tensor of state (a dict name -> array); names must exist."""
        for k, v in state.items():
            self.set_tensor(k, v)

    # ---- running ----------------------------------------------------------

    def train(self):
        """Training mode: BN on batch statistics, dropout on. Returns self."""
        check(lib().vida_model_set_mode(self._h(), _capi.MODE_TRAIN))
        return self

    def eval(self):
        """Evaluation mode: BN on running statistics, no dropout. Returns self."""
        check(lib().vida_model_set_mode(self._h(), _capi.MODE_EVAL))
        return self

    def _run(self, x, want_features):
        h = self._h()
        xa = f32(x)
        if xa.ndim != 5:
            raise Error(_capi.EINVAL, "input of shape %s: the model takes float32 "
                        "[N, 3, T, H, W]" % (xa.shape,))
        n = xa.shape[0]
        logits = np.empty((n, self.num_classes), dtype=np.float32)
        feats = np.empty((n, self.feature_dim), dtype=np.float32) if want_features else None
        self._last_shape = xa.shape
        tx = tensor_view(xa, _capi.LAYOUT_NCTHW)
        tl = tensor_view(logits)
        tf = tensor_view(feats) if want_features else None
        check(lib().vida_model_forward(h, _capi.byref(tx), _capi.byref(tl),
                                       _capi.byref(tf) if tf is not None else None))
        return logits, feats

    def forward(self, x, with_features=False):
        """Runs the network on x, float32 [N, 3, T, H, W] (normalised, PyTorch layout;
        other dtypes and layouts are converted to a C-contiguous float32 copy).
        Returns logits float32 [N, num_classes], or (logits, features) with
        with_features. In training mode the activations are kept for backward()."""
        logits, feats = self._run(x, with_features)
        return (logits, feats) if with_features else logits

    __call__ = forward

    def features(self, x):
        """The pooled feature vectors float32 [N, feature_dim] of x."""
        return self._run(x, True)[1]

    def zero_grad(self):
        check(lib().vida_model_zero_grad(self._h()))

    def backward(self, dlogits, input_grad=False):
        """Back-propagates dlogits [N, classes] (the loss gradient) through the last
        training-mode forward, adding into the parameter gradients. With input_grad,
        returns d loss / d input, float32 [N, 3, T, H, W]."""
        d = f32(dlogits)
        td = tensor_view(d)
        din = tdin = None
        if input_grad:
            shape = self._last_shape
            if shape is None:
                raise Error(_capi.ESTATE, "backward: no forward before")
            din = np.empty(shape, dtype=np.float32)
            tdin = tensor_view(din, _capi.LAYOUT_NCTHW)
        check(lib().vida_model_backward(self._h(), _capi.byref(td),
                                        _capi.byref(tdin) if tdin is not None else None))
        return din

    # ---- transfer ---------------------------------------------------------

    def set_head(self, num_classes, labels=None):
        """Replaces the classifier with a fresh one of num_classes outputs (and class
        names labels, or none). Optimizers made before refuse to step afterwards."""
        arr = None
        if labels is not None:
            labels = [str(s).encode("utf-8") for s in labels]
            if len(labels) != int(num_classes):
                raise Error(_capi.EINVAL, "set_head: %d labels for %d classes" % (
                    len(labels), int(num_classes)))
            arr = (_capi.c_char_p * len(labels))(*labels)
        check(lib().vida_model_set_head(self._h(), int(num_classes), arr))

    def freeze(self, what="backbone"):
        """Freezes tensors for training, as optimizer groups with lr_mult 0.

        what: "backbone" (everything but the classifier fc.*), or a tensor-name
        prefix or a list of them. Freezing is a property of the optimizer:
        it is applied to the SGDs made for this model, now and later, as the
        rules ("", 0, 1) then ("fc.", 1, 1) (or (prefix, 0, 1) for each
        prefix); group rules added to an SGD afterwards win. With "backbone"
        and no other group rules, train_step takes the fc-only path
        (vida_train_step_fc: BN on running statistics, only fc computed).
        """
        rules = self._freeze_rules(what)
        self._frozen = what if what == "backbone" else tuple(r[0] for r in rules)
        for o in self._live_optimizers():
            o._apply_rules(rules)

    def unfreeze(self):
        """Undoes freeze(): every tensor learns again (live SGDs get ("", 1, 1) and then
        their own group rules again)."""
        self._frozen = None
        for o in self._live_optimizers():
            o._apply_rules([("", 1.0, 1.0)])
            o._apply_rules(o._groups)

    def _live_optimizers(self):
        return [o for o in list(self._optimizers) if not o.closed]

    @property
    def frozen(self):
        """None, "backbone" or the frozen prefixes."""
        return self._frozen

    def _freeze_rules(self, what):
        if what == "backbone":
            return [("", 0.0, 1.0), ("fc.", 1.0, 1.0)]
        prefixes = [what] if isinstance(what, str) else list(what)
        names = self.tensors()
        for pfx in prefixes:
            if not any(n.startswith(pfx) for n in names):
                raise Error(_capi.EINVAL, "freeze: no tensor name starts with %r" % pfx)
        return [(pfx, 0.0, 1.0) for pfx in prefixes]

    # ---- training ---------------------------------------------------------

    def train_step(self, optimizer, clips, targets=None, kind=None, fc_only=None):
        """One training step (vida_train_step): forward in training mode, the library's
        loss, backward, optimizer update. Returns the loss (float).

        clips    float32 [V, 3, T, H, W] (normalised), or uint8 [V, T, H, W, 3]
                 (normalised here with the model's mean/std metadata), or a
                 Batch from a Loader (then targets and kind come with it)
        targets  int class labels [N], or float targets [N, classes] (rows of 1/k
                 for k labels: soft cross-entropy; kind="multihot" for sigmoid BCE);
                 V = N x views, every view gets its sample's target
        fc_only  None: when freeze("backbone") is in force and the optimizer has
                 no group rules of its own, the fc-only step (vida_train_step_fc)
        A non-finite loss or gradient skips the update and raises Error (ENONFINITE).
        """
        from .data import Batch as _PyBatch
        if optimizer._model is not self:
            raise Error(_capi.EINVAL, "train_step: the optimizer was made for another model")
        C = self.num_classes
        if isinstance(clips, _PyBatch):
            b = clips
            clips, labels, tgt = b.clips, b.labels, b.targets
            kind = b.target_kind if kind is None else kind
            n = b.n
        else:
            if targets is None:
                raise Error(_capi.EINVAL, "train_step: targets are missing")
            t = np.asarray(targets)
            n = t.shape[0] if t.ndim else 0
            if t.ndim == 1 and t.dtype.kind in "iub":
                labels = np.ascontiguousarray(t, dtype=np.int32)
                if n and (labels.min() < 0 or labels.max() >= C):
                    raise Error(_capi.EINVAL, "train_step: a label is outside [0, %d)" % C)
                tgt = np.zeros((n, C), dtype=np.float32)
                tgt[np.arange(n), labels] = 1
                kind = "single" if kind is None else kind
            elif t.ndim == 2:
                tgt = f32(t)
                labels = np.ascontiguousarray(np.argmax(tgt, axis=1) if n else
                                              np.zeros(0), dtype=np.int32)
                kind = "soft" if kind is None else kind
            else:
                raise Error(_capi.EINVAL, "train_step: targets of shape %s: int labels [N] or "
                            "float targets [N, classes]" % (t.shape,))
        kind = _enum(_capi.TARGETS, kind, "target kind")
        c = np.asarray(clips)
        if c.dtype == np.uint8:
            c = np.ascontiguousarray(c)
            layout = _capi.LAYOUT_NTHWC
        else:
            c = f32(c)
            layout = _capi.LAYOUT_NCTHW
        if c.ndim != 5:
            raise Error(_capi.EINVAL, "train_step: clips of shape %s: float32 [V, 3, T, H, W] "
                        "or uint8 [V, T, H, W, 3]" % (c.shape,))
        if (n == 0) != (c.shape[0] == 0) or (n and c.shape[0] % n):
            raise Error(_capi.EINVAL, "train_step: %d clips for %d targets" % (c.shape[0], n))
        labels = np.ascontiguousarray(labels, dtype=np.int32)
        tgt = f32(tgt)
        b = _capi.sized(_capi.Batch)
        b.n = n
        b.views = c.shape[0] // n if n else 1
        b.clips = tensor_view(c, layout)
        b.targets = tensor_view(tgt)
        b.labels = labels.ctypes.data_as(_capi._I32P)
        if fc_only is None:
            fc_only = self._frozen == "backbone" and not optimizer._groups
        fn = lib().vida_train_step_fc if fc_only else lib().vida_train_step
        out = _capi.c_float()
        check(fn(self._h(), optimizer._h(), b, kind, _capi.byref(out)))
        return float(out.value)

    # ---- inference over videos --------------------------------------------

    def _sampler(self, clips, mode, crops=1, ctx=None):
        """The model's clip geometry (metadata), K clips, centre crop(s), float32 -- as the
        CLI's classify and eval."""
        return Sampler(ctx=ctx, frames=_meta_int(self, "clip_frames", 16),
                       stride=_meta_int(self, "frame_stride", 1),
                       crop=_meta_int(self, "crop", 112),
                       short_side=_meta_int(self, "short_side", 128),
                       clip_mode=mode, clips=int(clips),
                       crop_mode="three" if crops == 3 else "center", output="f32")

    def _run_views(self, sampler, video, window=(0.0, -1.0)):
        """Logits [views, classes] of the views sampler gives for video, in eval mode,
        16 views per forward."""
        x = sampler.sample(video, seed=0, window=window)
        self.eval()
        out = np.empty((x.shape[0], self.num_classes), dtype=np.float32)
        for a in range(0, x.shape[0], _CHUNK):
            out[a:a + _CHUNK] = self._run(x[a:a + _CHUNK], False)[0]
        return out

    def classify(self, path, clips=10, top=5):
        """The top classes of a video: [(label, probability), ...] best first.

        clips clips spread uniformly over the video, each scaled and centre-cropped
        as the model's metadata says (clip_frames, frame_stride, short_side, crop),
        run in eval mode (the model stays in eval mode); the probability is the
        softmax averaged over the clips, so they sum to at most 1. label is the
        class name, or the class number when the model has no labels. Ties go to
        the lower class number. As `vidaction classify`.
        """
        C = self.num_classes
        top = max(1, min(int(top), C))
        names = self.labels
        with self._sampler(clips, "uniform", ctx=self.context) as s:
            with _opened(path, ctx=self.context) as v:
                logits = self._run_views(s, v)
        z = logits.astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        p = (e / e.sum(axis=1, keepdims=True)).mean(axis=0)
        order = np.argsort(-p, kind="stable")[:top]
        return [(names[c] if names else int(c), float(p[c])) for c in order]

    def evaluate(self, dataset, clips=10, crops=1, kind="softmax", root=None):
        """The paper's multi-clip evaluation over a Dataset (or a manifest path, opened
        with the model's class names): clip@1/5, video@1/5, mean class accuracy, mAP,
        per-class numbers and the confusion matrix, as `vidaction eval`.

        Videos that cannot be decoded are left out and counted ("failed", with
        their messages in "failures"). The model is left in eval mode.
        """
        from .data import Dataset, Evaluation
        own = None
        if not isinstance(dataset, Dataset):
            names = self.labels
            own = dataset = Dataset(dataset, root=root, classes=names)
        try:
            C = self.num_classes
            if dataset.num_classes != C:
                raise Error(_capi.EMISMATCH, "evaluate: the dataset has %d classes, the model %d"
                            % (dataset.num_classes, C))
            failures = []
            with self._sampler(clips, "uniform", crops, ctx=self.context) as s, \
                    Evaluation(C, kind) as ev:
                for i in range(len(dataset)):
                    dv = dataset.video(i)
                    window = (dv["start"], dv["end"]) if dv["start"] > 0 or dv["end"] >= 0 \
                        else (0.0, -1.0)
                    try:
                        logits = self._run_views(s, dv["path"], window)
                    except Error as e:
                        if e.code in (_capi.EINVAL, _capi.ESTATE):
                            raise
                        failures.append(e.message)
                        continue
                    ev.add_video(logits, dv["labels"])
                r = ev.result()
                if r["videos"] == 0:
                    raise Error(_capi.EDECODE, "evaluate: no video could be evaluated (%d left "
                                "out%s)" % (len(failures), ": " + failures[0] if failures else ""))
                r["failed"] = len(failures)
                r["failures"] = failures
                r["classes"] = []
                for c in range(C):
                    nv, acc, ap = ev.class_stats(c)
                    r["classes"].append({"name": dataset.classes[c], "videos": nv,
                                         "accuracy": acc if nv else float("nan"),
                                         "ap": ap if nv else float("nan")})
                r["confusion"] = ev.confusion()
                return r
        finally:
            if own is not None:
                own.close()
