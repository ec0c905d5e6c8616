"""Handles, the context and the module-level calls.

Lifetime: each C handle is owned by a _Resource with a count. The Python
object that made it holds one count; a handle whose C object needs another to
stay alive (an optimizer needs its model: vida_optimizer_free still reads
it) holds one on that resource too. A handle is freed when its count reaches
zero, then releases what it held, so the garbage collector may finalize the
Python objects in any order -- reference cycles included -- and the C objects
are still freed children first. (The C side counts its own references for
the rest: a model holds its context, a loader its dataset and sampler.)

close() drops the Python object's count at once and makes the object unusable
(vidaction.Error, code ESTATE); a second close() does nothing.
"""

import threading

import numpy as np

from . import _capi
from ._capi import Error, check, lib

_lock = threading.RLock()


class _Resource(object):
    __slots__ = ("ptr", "free", "refs", "holds")

    def __init__(self, ptr, free, holds=()):
        self.ptr = ptr
        self.free = free
        self.refs = 1
        self.holds = tuple(holds)
        with _lock:
            for r in self.holds:
                r.refs += 1

    def release(self):
        with _lock:
            self.refs -= 1
            if self.refs > 0:
                return
            ptr, self.ptr = self.ptr, None
            holds, self.holds = self.holds, ()
        if ptr:
            self.free(ptr)
        for r in holds:
            r.release()


class Handle(object):
    """Base of the objects that own a C handle: close(), with-blocks, GC."""

    _res = None
    _kind = "handle"

    def _own(self, ptr, free_name, holds=()):
        """Takes ownership of ptr (freed with lib().free_name); holds: Handles kept alive."""
        self._res = _Resource(ptr, getattr(lib(), free_name),
                              [h._res for h in holds if h is not None and h._res is not None])

    def _h(self):
        """The C pointer; Error(ESTATE) when closed."""
        r = self._res
        if r is None or not r.ptr:
            raise Error(_capi.ESTATE, "%s is closed" % self._kind)
        return r.ptr

    @property
    def closed(self):
        return self._res is None

    def close(self):
        """Frees the C object (or drops this object's hold on it). Idempotent."""
        r, self._res = self._res, None
        if r is not None:
            r.release()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _new_handle():
    return _capi.c_void_p()


# ---- module-level calls -----------------------------------------------------

def version():
    """The library's version string, e.g. "0.5.0"."""
    return _capi.text(lib().vida_version_string())


def version_number():
    """MAJOR*10000 + MINOR*100 + PATCH."""
    return lib().vida_version_number()


def features():
    """The names of what the library was built with: a frozenset of
    "cpu", "cblas", "cuda", "cudnn", "ffmpeg", "mpi", "nccl"."""
    bits = lib().vida_features()
    return frozenset(name for name, bit in _capi.FEATURE_BITS if bits & bit)


def features_string():
    """The build's features and BLAS as one line, e.g. "cpu cblas(OpenBLAS 0.3.21 ...)"."""
    return _capi.text(lib().vida_features_string())


def device_count():
    """The number of CUDA devices visible (0 without CUDA)."""
    return lib().vida_device_count()


def strerror(code):
    """The static description of a status code ("invalid argument")."""
    return _capi.text(lib().vida_strerror(code))


def library_path():
    """The file the library was loaded from (loading it if needed)."""
    return lib().path


def _enum(table, value, what):
    if isinstance(value, int) and not isinstance(value, bool) and value in table.values():
        return value
    try:
        return table[str(value).lower()]
    except KeyError:
        raise Error(_capi.EINVAL, "%s %r: not one of %s" % (what, value, ", ".join(sorted(table))))


# ---- context ----------------------------------------------------------------

class Context(Handle):
    """vida_context: backend, device, CPU threads and seed for the models made from it.

    backend    "auto" (the GPU when there is one; env VIDA_DEVICE overrides), "cpu", "cuda"
    device     CUDA device index
    threads    CPU threads; 0 = every online CPU
    seed       base seed of all randomness (weight initialisation, ...)
    precision  "fp32", "bf16" or "fp16" (the 16-bit ones need CUDA)
    log_level  0 error .. 3 debug; messages go to stderr (default: warnings)

    Models keep their context alive; closing it only drops this object's reference.
    """

    _kind = "Context"

    def __init__(self, backend="auto", device=0, threads=0, seed=0, precision="fp32",
                 log_level=None):
        L = lib()
        p = _capi.params(_capi.ContextParams, L.vida_context_params_init)
        p.backend = _enum(_capi.BACKENDS, backend, "backend")
        p.device = int(device)
        p.n_threads = int(threads)
        p.seed = int(seed)
        if log_level is not None:
            p.log_level = int(log_level)
        out = _new_handle()
        check(L.vida_context_create(_capi.byref(out), p))
        self._own(out.value, "vida_context_free")
        prec = _enum(_capi.PRECISIONS, precision, "precision")
        if prec != 0:
            self.set_precision(prec)

    def set_precision(self, precision):
        """"fp32", "bf16" or "fp16"; set it before training starts."""
        check(lib().vida_context_set_precision(self._h(), _enum(_capi.PRECISIONS, precision,
                                                                  "precision")))

    @property
    def backend(self):
        """"cpu" or "cuda": the backend actually in use."""
        b = lib().vida_context_backend(self._h())
        return {1: "cpu", 2: "cuda"}.get(b, str(b))

    @property
    def device_name(self):
        return _capi.text(lib().vida_context_device_name(self._h()))

    @property
    def threads(self):
        return lib().vida_context_n_threads(self._h())

    def __repr__(self):
        if self.closed:
            return "<vidaction.Context closed>"
        return "<vidaction.Context %s, %d threads>" % (self.backend, self.threads)


_default = None


def default_context():
    """The context used where ctx=None and the call needs one (made on first use, with
    the defaults: backend auto, every CPU, seed 0)."""
    global _default
    with _lock:
        if _default is None or _default.closed:
            _default = Context()
        return _default


def _ctx_or_default(ctx):
    return default_context() if ctx is None else ctx


def _ctx_or_null(ctx):
    return None if ctx is None else ctx._h()


# ---- tensors ----------------------------------------------------------------

_DTYPE_OF = {np.dtype(np.float32): _capi.DTYPE_F32, np.dtype(np.uint8): _capi.DTYPE_U8,
             np.dtype(np.int32): _capi.DTYPE_I32, np.dtype(np.int64): _capi.DTYPE_I64}
_NUMPY_OF = {_capi.DTYPE_F32: np.float32, _capi.DTYPE_U8: np.uint8, _capi.DTYPE_I32: np.int32,
             _capi.DTYPE_I64: np.int64}


def tensor_view(arr, layout=_capi.LAYOUT_ANY):
    """A vida_tensor over a C-contiguous numpy array (keep arr alive during the call)."""
    if arr.ndim > _capi.MAX_DIMS:
        raise Error(_capi.EINVAL, "tensor of rank %d: at most %d dimensions" % (arr.ndim,
                                                                                  _capi.MAX_DIMS))
    t = _capi.Tensor()
    t.data = arr.ctypes.data
    t.dtype = _DTYPE_OF[arr.dtype]
    t.layout = layout
    t.ndim = arr.ndim
    for i, d in enumerate(arr.shape):
        t.shape[i] = d
    return t


def f32(x, what="x"):
    """x as a C-contiguous float32 array (a copy only when needed)."""
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32))


def fptr(arr):
    return arr.ctypes.data_as(_capi.POINTER(_capi.c_float))


def read_tensors(path):
    """Reads a safetensors file with the library (vida_tensorfile_read): a dict of
    name -> numpy array (copies), in file order. BF16 tensors come as uint16 arrays."""
    L = lib()
    out = _new_handle()
    check(L.vida_tensorfile_read(_capi.byref(out), _capi.path_arg(path)))
    f = out.value
    try:
        result = {}
        for i in range(L.vida_tensorfile_count(f)):
            name = _capi.c_char_p()
            check(L.vida_tensorfile_name(f, i, _capi.byref(name)))
            t = _capi.Tensor()
            check(L.vida_tensorfile_get(f, name.value, _capi.byref(t)))
            shape = tuple(t.shape[k] for k in range(t.ndim))
            dt = _NUMPY_OF.get(t.dtype, np.uint16)
            n = int(np.prod(shape, dtype=np.int64))
            if n:
                buf = (_capi.c_char * (n * np.dtype(dt).itemsize)).from_address(t.data)
                a = np.frombuffer(buf, dtype=dt).reshape(shape).copy()
            else:
                a = np.zeros(shape, dtype=dt)
            result[_capi.text(name.value)] = a
        return result
    finally:
        L.vida_tensorfile_free(f)


def write_tensors(path, tensors):
    """Writes {name: array} (float32, uint8, int32 or int64) atomically with
    vida_tensorfile_write, in the dict's order."""
    names, arrays = [], []
    for k, v in tensors.items():
        a = np.ascontiguousarray(v)
        if a.dtype not in _DTYPE_OF:
            raise Error(_capi.EINVAL, "tensor %r: dtype %s (float32, uint8, int32 or int64)"
                        % (k, a.dtype))
        names.append(k.encode("utf-8"))
        arrays.append(a)
    n = len(names)
    cnames = (_capi.c_char_p * max(n, 1))(*names)
    views = (_capi.Tensor * max(n, 1))(*[tensor_view(a) for a in arrays])
    check(lib().vida_tensorfile_write(_capi.path_arg(path), n, cnames, views))


def loss(logits, target, kind=None):
    """The library's loss (vida_loss) over logits [N, K]: (mean loss, dlogits [N, K]).

    target int [N] -> softmax cross-entropy; float [N, K] -> softmax
    cross-entropy on soft targets, or kind="sigmoid_bce" for multi-hot targets.
    """
    lg = f32(logits)
    tg = np.asarray(target)
    if kind is None:
        kind = "softmax_ce" if tg.dtype.kind in "iub" else "softmax_ce_soft"
    k = _enum(_capi.LOSSES, kind, "loss kind")
    tg = np.ascontiguousarray(tg, dtype=np.int32 if k == 1 else np.float32)
    d = np.empty_like(lg)
    out = _capi.c_float()
    tl, tt, td = tensor_view(lg), tensor_view(tg), tensor_view(d)
    check(lib().vida_loss(k, _capi.byref(tl), _capi.byref(tt), _capi.byref(out),
                          _capi.byref(td)))
    return float(out.value), d
