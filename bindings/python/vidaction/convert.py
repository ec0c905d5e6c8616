"""Convert video-network checkpoints into libvidaction model files.

    python -m vidaction.convert --from torchvision|ig65m|vmz --arch NAME IN OUT.safetensors
                                [--classes N] [--labels FILE] [--frames N]
    python -m vidaction.convert --self-test

Sources:
  torchvision  a state_dict of torchvision.models.video r3d_18, mc3_18 or
               r2plus1d_18 (BN eps 1e-5, (2+1)D mid-channels once per block),
               or of torchvision.models resnet18/34/50/101/152 (e.g. the
               ImageNet weights): the frame-based 2D baseline, arch "r2d",
               which runs the ResNet on every frame and averages the logits.
  ig65m        a state_dict of ig65m-pytorch's R(2+1)D (torchvision VideoResNet
               names, BN eps 1e-3, mid-channels per (2+1)D conv, as Caffe2).
  vmz          a VMZ Caffe2 pickle (a top-level "blobs" dict, blob names as in
               ig65m-pytorch's convert.py), or a VMZ-pt state_dict.

IN saved with torch.save may be the state_dict itself or a dict holding it
under "state_dict" or "model"; "module." prefixes (DataParallel) are removed.

The checkpoint is validated against the architecture, whose tensor names and
shapes are computed here from its definition (paper.md 1.2, 1.4): a missing
tensor, an unexpected one, a wrong shape or dtype, a non-finite value or a
negative running variance is an error (exit status 1) and nothing is written.

The output is a safetensors file (written here, no `safetensors` package):
  u64 little-endian N | N bytes of JSON header | tensor data.
The header is compact JSON (separators "," and ":", UTF-8, not ASCII-escaped),
"__metadata__" first, then the tensors in state_dict order with contiguous
data_offsets; it is padded with spaces so that N is a multiple of 8. Tensors
are F32 little-endian in PyTorch layout, num_batches_tracked I64 of shape []
(0 when the checkpoint has none). The file is written to a temporary file
beside OUT, fsync'ed and renamed over OUT, then the directory is fsync'ed.

Reading a pickle can run code. torch.load is called with weights_only=True
where the installed PyTorch has it, and Caffe2 pickles are read with an
unpickler that only builds numpy arrays; --trust-pickle lifts both limits
for files you trust.
"""

import argparse
import io
import json
import os
import pickle
import re
import sys
import tempfile
from collections import OrderedDict

try:
    import numpy as np
except ImportError:  # pragma: no cover
    raise ImportError("vidaction.convert needs numpy (Debian: python3-numpy); "
                      "PyTorch too for torch.save files")

# --------------------------------------------------------------------------
# Architectures (paper.md 1.2 and 1.4; torchvision.models.video.resnet)

BLOCK_CONFIG = {
    10: (1, 1, 1, 1),
    16: (2, 2, 2, 1),
    18: (2, 2, 2, 2),
    26: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
}

# torchvision.models.resnetN (2D, per frame): depths and whether blocks are bottlenecks.
R2D_DEPTHS = (18, 34, 50, 101, 152)

ARCHS = OrderedDict([("r3d_18", ("r3d", 18)), ("mc3_18", ("mc3", 18))] +
                    [("r2plus1d_%d" % d, ("r2plus1d", d)) for d in sorted(BLOCK_CONFIG)] +
                    [("resnet%d" % d, ("r2d", d)) for d in R2D_DEPTHS])

SOURCES = {
    "torchvision": {"archs": ("r3d_18", "mc3_18", "r2plus1d_18") +
                    tuple("resnet%d" % d for d in R2D_DEPTHS),
                    "midplanes": "per-block", "bn_eps": 1e-5, "frames": 16},
    "ig65m": {"archs": tuple(a for a in ARCHS if a.startswith("r2plus1d_")),
              "midplanes": "per-conv", "bn_eps": 1e-3, "frames": 32},
    "vmz": {"archs": tuple(a for a in ARCHS if a.startswith("r2plus1d_")),
            "midplanes": "per-conv", "bn_eps": 1e-3, "frames": 32},
}

KINETICS_MEAN = "0.43216,0.394666,0.37645"
KINETICS_STD = "0.22803,0.22145,0.216989"
IMAGENET_MEAN = "0.485,0.456,0.406"
IMAGENET_STD = "0.229,0.224,0.225"

# BN tensor suffixes in state_dict order, with the Caffe2 blob suffix of each.
_BN_PARTS = (("weight", "_s"), ("bias", "_b"), ("running_mean", "_rm"),
             ("running_var", "_riv"), ("num_batches_tracked", None))


class ConvertError(Exception):
    """A checkpoint that cannot be converted; the message says why."""


class TensorSpec(object):
    """One tensor of an architecture: state_dict name, shape, role, Caffe2 blob name.

    role: "conv", "fc.weight", "fc.bias" or "bn.<part>" (part as in _BN_PARTS).
    """
    __slots__ = ("name", "shape", "role", "c2name")

    def __init__(self, name, shape, role, c2name):
        self.name, self.shape, self.role, self.c2name = name, tuple(shape), role, c2name

    @property
    def learnable(self):
        return self.role in ("conv", "fc.weight", "fc.bias", "bn.weight", "bn.bias")

    @property
    def numel(self):
        n = 1
        for d in self.shape:
            n *= d
        return n


def midplanes(n_in, n_out):
    """(2+1)D mid-channels M = floor(27*Nin*Nout / (9*Nin + 3*Nout)) (t = 3, d = 3)."""
    return (n_in * n_out * 27) // (n_in * 9 + 3 * n_out)


def is_bottleneck(depth):
    return not (depth <= 18 or depth == 34)


def r2d_spec(depth, num_classes):
    """Tensors of torchvision.models.resnetN (the per-frame 2D baseline) in state_dict order.

    Conv weights are 4-D [O, I, kH, kW] as in the state_dict; no Caffe2 names.
    """
    if depth not in R2D_DEPTHS:
        raise ConvertError("r2d exists at depth %s only, not %d"
                           % (", ".join(str(d) for d in R2D_DEPTHS), depth))
    out = []

    def conv(name, shape):
        out.append(TensorSpec(name + ".weight", shape, "conv", None))

    def bn(name, channels):
        for part, _ in _BN_PARTS:
            shape = () if part == "num_batches_tracked" else (channels,)
            out.append(TensorSpec(name + "." + part, shape, "bn." + part, None))

    conv("conv1", (64, 3, 7, 7))
    bn("bn1", 64)
    bottleneck = is_bottleneck(depth)
    expansion = 4 if bottleneck else 1
    inplanes = 64
    for li, (planes, n_blocks) in enumerate(zip((64, 128, 256, 512), BLOCK_CONFIG[depth])):
        for b in range(n_blocks):
            stride = 2 if (li > 0 and b == 0) else 1
            p = "layer%d.%d." % (li + 1, b)
            if not bottleneck:
                conv(p + "conv1", (planes, inplanes, 3, 3))
                bn(p + "bn1", planes)
                conv(p + "conv2", (planes, planes, 3, 3))
                bn(p + "bn2", planes)
            else:
                conv(p + "conv1", (planes, inplanes, 1, 1))
                bn(p + "bn1", planes)
                conv(p + "conv2", (planes, planes, 3, 3))
                bn(p + "bn2", planes)
                conv(p + "conv3", (planes * 4, planes, 1, 1))
                bn(p + "bn3", planes * 4)
            if stride != 1 or inplanes != planes * expansion:
                conv(p + "downsample.0", (planes * expansion, inplanes, 1, 1))
                bn(p + "downsample.1", planes * expansion)
            inplanes = planes * expansion
    out.append(TensorSpec("fc.weight", (num_classes, 512 * expansion), "fc.weight", None))
    out.append(TensorSpec("fc.bias", (num_classes,), "fc.bias", None))
    return out


def arch_spec(family, depth, rule, num_classes):
    """Tensors of a VideoResNet (or, for "r2d", a torchvision ResNet) in state_dict order.

    family: "r2plus1d", "r3d", "mc3" or "r2d"; rule: "per-block" (torchvision) or
    "per-conv" (Caffe2/VMZ/IG-65M). Caffe2 blob names are given for R(2+1)D.
    """
    if family == "r2d":
        if rule != "per-block":
            raise ConvertError("r2d has no (2+1)D convs: midplanes rule must be per-block")
        return r2d_spec(depth, num_classes)
    if depth not in BLOCK_CONFIG or family not in ("r2plus1d", "r3d", "mc3"):
        raise ConvertError("unknown architecture %s depth %d" % (family, depth))
    if family != "r2plus1d" and depth not in (18, 34):
        raise ConvertError("%s exists at depth 18 and 34 only" % family)
    if rule not in ("per-block", "per-conv"):
        raise ConvertError("unknown midplanes rule %r" % rule)
    c2 = family == "r2plus1d"
    out = []

    def conv(name, shape, c2name):
        out.append(TensorSpec(name + ".weight", shape, "conv", c2name + "_w" if c2 else None))

    def bn(name, channels, c2name):
        for part, c2suffix in _BN_PARTS:
            shape = () if part == "num_batches_tracked" else (channels,)
            c2n = c2name + c2suffix if (c2 and c2suffix) else None
            out.append(TensorSpec(name + "." + part, shape, "bn." + part, c2n))

    if family == "r2plus1d":
        conv("stem.0", (45, 3, 1, 7, 7), "conv1_middle")
        bn("stem.1", 45, "conv1_middle_spatbn_relu")
        conv("stem.3", (64, 45, 3, 1, 1), "conv1")
        bn("stem.4", 64, "conv1_spatbn_relu")
    else:
        conv("stem.0", (64, 3, 3, 7, 7), "conv1")
        bn("stem.1", 64, "conv1_spatbn_relu")

    bottleneck = is_bottleneck(depth)
    expansion = 4 if bottleneck else 1
    inplanes = 64
    comp = 0  # Caffe2 numbers blocks globally
    for li, (planes, n_blocks) in enumerate(zip((64, 128, 256, 512), BLOCK_CONFIG[depth])):
        full3d = family == "r3d" or (family == "mc3" and li == 0)
        for b in range(n_blocks):
            stride = 2 if (li > 0 and b == 0) else 1
            p = "layer%d.%d." % (li + 1, b)
            block_mid = midplanes(inplanes, planes)

            def conv3(name, n_in, n_out, j):
                if family == "r2plus1d":
                    mid = block_mid if rule == "per-block" else midplanes(n_in, n_out)
                    conv(name + ".0", (mid, n_in, 1, 3, 3), "comp_%d_conv_%d_middle" % (comp, j))
                    bn(name + ".1", mid, "comp_%d_spatbn_%d_middle" % (comp, j))
                    conv(name + ".3", (n_out, mid, 3, 1, 1), "comp_%d_conv_%d" % (comp, j))
                elif full3d:
                    conv(name, (n_out, n_in, 3, 3, 3), None)
                else:
                    conv(name, (n_out, n_in, 1, 3, 3), None)

            if not bottleneck:
                conv3(p + "conv1.0", inplanes, planes, 1)
                bn(p + "conv1.1", planes, "comp_%d_spatbn_1" % comp)
                conv3(p + "conv2.0", planes, planes, 2)
                bn(p + "conv2.1", planes, "comp_%d_spatbn_2" % comp)
            else:
                conv(p + "conv1.0", (planes, inplanes, 1, 1, 1), "comp_%d_conv_1" % comp)
                bn(p + "conv1.1", planes, "comp_%d_spatbn_1" % comp)
                conv3(p + "conv2.0", planes, planes, 2)
                bn(p + "conv2.1", planes, "comp_%d_spatbn_2" % comp)
                conv(p + "conv3.0", (planes * 4, planes, 1, 1, 1), "comp_%d_conv_3" % comp)
                bn(p + "conv3.1", planes * 4, "comp_%d_spatbn_3" % comp)
            if stride != 1 or inplanes != planes * expansion:
                conv(p + "downsample.0", (planes * expansion, inplanes, 1, 1, 1),
                     "shortcut_projection_%d" % comp)
                bn(p + "downsample.1", planes * expansion, "shortcut_projection_%d_spatbn" % comp)
            inplanes = planes * expansion
            comp += 1

    fcname = "last_out_L%d" % num_classes
    out.append(TensorSpec("fc.weight", (num_classes, 512 * expansion), "fc.weight",
                          fcname + "_w" if c2 else None))
    out.append(TensorSpec("fc.bias", (num_classes,), "fc.bias", fcname + "_b" if c2 else None))
    return out


def num_params(spec):
    """Learnable parameters (BN running statistics excluded), as vida_model_num_params."""
    return sum(t.numel for t in spec if t.learnable)


# --------------------------------------------------------------------------
# safetensors, written and read here

_DTYPES = OrderedDict([("F32", np.dtype("<f4")), ("F64", np.dtype("<f8")), ("I64", np.dtype("<i8")),
                       ("I32", np.dtype("<i4")), ("U8", np.dtype("u1"))])


def _dtype_name(arr):
    for name, dt in _DTYPES.items():
        if arr.dtype.kind == dt.kind and arr.dtype.itemsize == dt.itemsize:
            return name
    raise ConvertError("dtype %s cannot be stored" % arr.dtype)


def encode_header(entries, metadata):
    """The header bytes (padding included) for [(name, dtype, shape, nbytes)] and metadata.

    Compact JSON, "__metadata__" first, entries in the given order with
    contiguous offsets, spaces appended so that the length is a multiple of 8.
    """
    head = OrderedDict()
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise ConvertError("metadata %r: keys and values must be strings" % (k,))
        head["__metadata__"] = OrderedDict(metadata)
    offset = 0
    for name, dtype, shape, nbytes in entries:
        if name == "__metadata__" or name in head:
            raise ConvertError("tensor name %r repeated or reserved" % name)
        head[name] = OrderedDict([("dtype", dtype), ("shape", [int(d) for d in shape]),
                                  ("data_offsets", [offset, offset + nbytes])])
        offset += nbytes
    raw = json.dumps(head, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return raw + b" " * (-len(raw) % 8)


def write_safetensors(path, tensors, metadata=None):
    """Writes [(name, ndarray)] atomically: temp file beside path, fsync, rename, fsync dir."""
    arrays = []
    for name, arr in tensors:
        arr = np.asarray(arr)
        dtype = _dtype_name(arr)
        arr = np.asarray(arr, dtype=_DTYPES[dtype])  # (ascontiguousarray would make 0-d 1-d)
        if not arr.flags.c_contiguous:
            arr = arr.copy(order="C")
        arrays.append((name, dtype, arr))
    header = encode_header([(n, d, a.shape, a.nbytes) for n, d, a in arrays], metadata)
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=directory)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; give the usual mode
        with os.fdopen(fd, "wb") as f:
            f.write(len(header).to_bytes(8, "little"))
            f.write(header)
            for _, _, arr in arrays:
                f.write(memoryview(arr.reshape(-1)).cast("B"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass  # some file systems cannot fsync a directory; the rename is done


def read_safetensors(path):
    """Reads and checks a safetensors file: (header_bytes, metadata, OrderedDict name -> ndarray).

    Tensors come in header order. Offsets must be in range, match dtype and
    shape, and cover the data exactly.
    """
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ConvertError("%s: shorter than the 8-byte header length" % path)
    n = int.from_bytes(blob[:8], "little")
    if n > len(blob) - 8:
        raise ConvertError("%s: header length %d beyond the file" % (path, n))
    header = blob[8:8 + n]
    try:
        head = json.loads(header.decode("utf-8"), object_pairs_hook=OrderedDict)
    except (UnicodeDecodeError, ValueError) as e:
        raise ConvertError("%s: header is not JSON: %s" % (path, e))
    if not isinstance(head, dict):
        raise ConvertError("%s: header is not a JSON object" % path)
    data = memoryview(blob)[8 + n:]
    meta = head.pop("__metadata__", None) or OrderedDict()
    tensors = OrderedDict()
    spans = []
    for name, e in head.items():
        try:
            dt = _DTYPES[e["dtype"]]
            shape = tuple(int(d) for d in e["shape"])
            begin, end = (int(x) for x in e["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ConvertError("%s: tensor %r: bad or unsupported entry %r" % (path, name, e))
        count = 1
        for d in shape:
            if d < 0:
                raise ConvertError("%s: tensor %r: negative dimension" % (path, name))
            count *= d
        if not (0 <= begin <= end <= len(data)) or end - begin != count * dt.itemsize:
            raise ConvertError("%s: tensor %r: offsets [%d,%d] do not fit %s %s"
                               % (path, name, begin, end, e["dtype"], list(shape)))
        spans.append((begin, end, name))
        tensors[name] = np.frombuffer(data[begin:end], dtype=dt).reshape(shape)
    pos = 0
    for begin, end, name in sorted(spans):
        if begin != pos:
            raise ConvertError("%s: tensor %r: data has a hole or overlap at byte %d" % (path, name, pos))
        pos = end
    if pos != len(data):
        raise ConvertError("%s: %d bytes of data after the last tensor" % (path, len(data) - pos))
    return bytes(header), meta, tensors


# --------------------------------------------------------------------------
# Reading checkpoints

class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists and numpy arrays only (Caffe2 blob pickles)."""
    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "OrderedDict"),
        ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"),
        ("__builtin__", "object"), ("builtins", "object"),
        ("_codecs", "encode"),  # how Python 3 pickles bytes at protocol 2
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError("refusing to load %s.%s (pass --trust-pickle for a trusted file)"
                                     % (module, name))


def _import_torch():
    try:
        import torch
    except ImportError:
        raise ConvertError("reading a torch.save file needs PyTorch (Debian: python3-torch); "
                           "run this with a Python that has it")
    return torch


def _torch_load(path, trust):
    torch = _import_torch()
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=not trust)
        except TypeError:  # a PyTorch without weights_only
            return torch.load(path, map_location="cpu")
    except pickle.UnpicklingError as e:
        raise ConvertError("%s: %s\n  (the file holds Python objects besides tensors; "
                           "pass --trust-pickle if you trust it)" % (path, e))
    except Exception as e:  # torch raises RuntimeError and others for corrupt files
        raise ConvertError("%s: torch.load failed: %s" % (path, e))


def _unwrap_state_dict(obj, path):
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    for key in ("state_dict", "model", "model_state", "model_state_dict"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
        if torch is not None and isinstance(obj, dict) and isinstance(obj.get(key), torch.nn.Module):
            obj = obj[key].state_dict()
            break
    if not isinstance(obj, dict):
        raise ConvertError("%s: no state_dict found (got %s)" % (path, type(obj).__name__))
    state = OrderedDict()
    for name, value in obj.items():
        if not isinstance(name, str):
            raise ConvertError("%s: key %r is not a string" % (path, name))
        while name.startswith("module."):
            name = name[len("module."):]
        if name in state:
            raise ConvertError("%s: tensor %r appears twice (with and without 'module.')" % (path, name))
        state[name] = value
    return state


def _to_numpy(name, value):
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        t = value.detach().cpu()
        if t.is_floating_point():
            t = t.to(torch.float64 if t.dtype == torch.float64 else torch.float32)
        return t.contiguous().numpy()
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (int, float, np.generic)):
        return np.asarray(value)
    raise ConvertError("tensor %r: not a tensor (%s)" % (name, type(value).__name__))


def load_torch_checkpoint(path, trust=False):
    """A torch.save file -> OrderedDict name -> ndarray (prefixes stripped)."""
    state = _unwrap_state_dict(_torch_load(path, trust), path)
    return OrderedDict((k, _to_numpy(k, v)) for k, v in state.items())


def load_caffe2_blobs(path, trust=False):
    """A Caffe2 pickle with a top-level "blobs" dict -> dict name -> ndarray, or None if not one."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:4] == b"PK\x03\x04":
        return None  # a zip: torch.save
    try:
        if trust:
            obj = pickle.loads(raw, encoding="latin1")
        else:
            obj = _NumpyOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except pickle.UnpicklingError as e:
        if "refusing" in str(e):
            raise ConvertError("%s: %s" % (path, e))
        return None
    except Exception:
        return None  # not a pickle: let torch.load try
    if not isinstance(obj, dict) or not isinstance(obj.get("blobs"), dict):
        return None
    blobs = {}
    for k, v in obj["blobs"].items():
        if isinstance(k, bytes):
            k = k.decode("latin1")
        k = re.sub(r"^gpu_\d+/", "", k)
        blobs[k] = v
    return blobs


# Caffe2 training-state blobs that a model file has no place for.
_C2_IGNORED = re.compile(r"(_momentum$|^model_iter$|^lr$|^ITER$|^data$|^label$)")


def caffe2_to_state(blobs, spec):
    """Renames Caffe2 blobs to the spec's state_dict names. Unknown blobs are errors."""
    by_c2 = {t.c2name: t for t in spec if t.c2name}
    state = OrderedDict()
    unexpected = []
    ignored = []
    for name in sorted(blobs):
        if name in by_c2:
            state[by_c2[name].name] = blobs[name]
        elif _C2_IGNORED.search(name):
            ignored.append(name)
        else:
            unexpected.append(name)
    if ignored:
        print("vidaction.convert: ignoring %d Caffe2 training-state blobs (%s%s)"
              % (len(ignored), ", ".join(ignored[:3]), ", ..." if len(ignored) > 3 else ""),
              file=sys.stderr)
    missing = [t.c2name for t in spec if t.c2name and t.c2name not in blobs]
    errors = []
    if missing:
        errors.append("%d blob(s) missing: %s" % (len(missing), _some(missing)))
    if unexpected:
        errors.append("%d unexpected blob(s): %s" % (len(unexpected), _some(unexpected)))
    if errors:
        raise ConvertError("Caffe2 blobs do not match the architecture:\n  " + "\n  ".join(errors))
    return state


def _some(names, n=8):
    return ", ".join(names[:n]) + (", ... (%d more)" % (len(names) - n) if len(names) > n else "")


# --------------------------------------------------------------------------
# Validation and conversion

def validate(state, spec, source_rule):
    """Checks the state against the spec; returns [(name, ndarray)] in spec order (F32 / I64)."""
    errors = []
    out = []
    expected = set(t.name for t in spec)
    unexpected = [k for k in state if k not in expected]
    if unexpected:
        errors.append("unexpected tensor(s) for this architecture: %s" % _some(unexpected))
    missing = []
    mid_mismatch = False
    for t in spec:
        value = state.get(t.name)
        if t.role == "bn.num_batches_tracked":
            if value is None:
                out.append((t.name, np.zeros((), dtype=np.int64)))
                continue
            arr = np.asarray(value)
            if arr.dtype.kind not in "iu" or arr.size != 1 or arr.ndim > 1:
                errors.append("%s: want an integer scalar, got %s %s"
                              % (t.name, arr.dtype, list(arr.shape)))
                continue
            out.append((t.name, arr.reshape(()).astype(np.int64)))
            continue
        if value is None:
            missing.append(t.name)
            continue
        arr = np.asarray(value)
        if arr.dtype.kind != "f":
            errors.append("%s: want floating point, got %s" % (t.name, arr.dtype))
            continue
        if tuple(arr.shape) != t.shape:
            errors.append("%s: shape %s, architecture wants %s"
                          % (t.name, list(arr.shape), list(t.shape)))
            if ".conv" in t.name and t.name.endswith((".0.0.weight", ".0.3.weight", ".0.1.weight")):
                mid_mismatch = True
            continue
        arr = arr.astype(np.float32)
        if not np.isfinite(arr).all():
            errors.append("%s: holds NaN or infinite values" % t.name)
            continue
        if t.role == "bn.running_var" and (arr < 0).any():
            errors.append("%s: negative running variance" % t.name)
            continue
        out.append((t.name, arr))
    if missing:
        errors.insert(0, "%d tensor(s) missing: %s" % (len(missing), _some(missing)))
    if errors:
        lines = errors[:20] + (["... %d more" % (len(errors) - 20)] if len(errors) > 20 else [])
        if mid_mismatch:
            other = "per-block (torchvision)" if source_rule == "per-conv" else "per-conv (ig65m/vmz)"
            lines.append("hint: the (2+1)D mid-channel counts differ; the checkpoint may use the "
                         "%s rule: check --from" % other)
        if spec[0].name == "conv1.weight" and "stem.0.weight" in state:
            lines.append("hint: this is a torchvision.models.video network (stem.*), not a 2D "
                         "ResNet: check --arch (r3d_18, mc3_18, r2plus1d_18)")
        elif spec[0].name == "stem.0.weight" and "conv1.weight" in state:
            lines.append("hint: this is a 2D torchvision ResNet (conv1, bn1), not a video network: "
                         "check --arch (resnet18, resnet34, resnet50, resnet101, resnet152)")
        raise ConvertError("checkpoint does not match the architecture:\n  " + "\n  ".join(lines))
    return out


def _infer_classes(state, blobs):
    if blobs is not None:
        ns = sorted(set(int(m.group(1)) for m in (re.match(r"^last_out_L(\d+)_w$", k) for k in blobs) if m))
        if len(ns) != 1:
            raise ConvertError("cannot tell the number of classes from the blobs (last_out_L*_w: %s); "
                               "pass --classes" % (ns or "none"))
        return ns[0]
    b = state.get("fc.bias")
    if b is None or np.asarray(b).ndim != 1:
        raise ConvertError("no 1-D fc.bias to tell the number of classes from; pass --classes")
    return int(np.asarray(b).shape[0])


def read_labels(path, num_classes):
    with open(path, "r", encoding="utf-8") as f:
        text = f.read()
    if text.lstrip().startswith("["):
        try:
            labels = json.loads(text)
        except ValueError as e:
            raise ConvertError("%s: not a JSON array: %s" % (path, e))
        if not all(isinstance(x, str) for x in labels):
            raise ConvertError("%s: labels must be strings" % path)
    else:
        labels = text.split("\n")
        while labels and labels[-1].strip() == "":
            labels.pop()
        labels = [x.rstrip("\r") for x in labels]
    if len(labels) != num_classes:
        raise ConvertError("%s: %d labels for %d classes" % (path, len(labels), num_classes))
    return labels


def build_metadata(source, arch, num_classes, frames, labels=None):
    family, depth = ARCHS[arch]
    src = SOURCES[source]
    rule = src["midplanes"] if family == "r2plus1d" else "per-block"
    meta = OrderedDict()
    meta["format"] = "vidaction-model"
    meta["format_version"] = "1"
    meta["arch"] = family
    meta["depth"] = str(depth)
    meta["midplanes"] = rule
    meta["pool1"] = "0"
    meta["bn_eps"] = repr(float(src["bn_eps"]))
    meta["bn_momentum"] = "0.1"
    meta["width"] = "1"
    meta["num_classes"] = str(num_classes)
    meta["dropout"] = "0"
    if labels is not None:
        meta["labels"] = json.dumps(labels, ensure_ascii=False, separators=(",", ":"))
    meta["clip_frames"] = str(frames)
    if family == "r2d":  # torchvision's ImageNet preprocessing
        meta["crop"] = "224"
        meta["short_side"] = "256"
        meta["mean"] = IMAGENET_MEAN
        meta["std"] = IMAGENET_STD
    else:
        meta["crop"] = "112"
        meta["short_side"] = "128"
        meta["mean"] = KINETICS_MEAN
        meta["std"] = KINETICS_STD
    meta["source"] = "%s %s via vidaction.convert" % (source, arch)
    return meta


def convert(source, arch, src_path, out_path, num_classes=None, labels_path=None, frames=None,
            trust=False, quiet=False):
    if source not in SOURCES:
        raise ConvertError("unknown source %r (torchvision, ig65m, vmz)" % source)
    if arch not in SOURCES[source]["archs"]:
        raise ConvertError("--arch %s is not available --from %s (choose from %s)"
                           % (arch, source, ", ".join(SOURCES[source]["archs"])))
    family, depth = ARCHS[arch]
    rule = SOURCES[source]["midplanes"] if family == "r2plus1d" else "per-block"
    if not os.path.isfile(src_path):
        raise ConvertError("%s: no such file" % src_path)

    blobs = load_caffe2_blobs(src_path, trust) if source == "vmz" else None
    state = None
    if blobs is None:
        try:
            state = load_torch_checkpoint(src_path, trust)
        except ConvertError as e:
            if source != "vmz":
                raise
            raise ConvertError("%s: neither a Caffe2 pickle with a \"blobs\" dict nor a readable "
                               "torch.save file (%s)" % (src_path, e))
    if num_classes is None:
        num_classes = _infer_classes(state, blobs)
    if num_classes < 1:
        raise ConvertError("--classes must be positive")
    spec = arch_spec(family, depth, rule, num_classes)
    if blobs is not None:
        state = caffe2_to_state(blobs, spec)
    tensors = validate(state, spec, rule)
    labels = read_labels(labels_path, num_classes) if labels_path else None
    frames = SOURCES[source]["frames"] if frames is None else frames
    if frames < 1:
        raise ConvertError("--frames must be positive")
    meta = build_metadata(source, arch, num_classes, frames, labels)
    write_safetensors(out_path, tensors, meta)
    if not quiet:
        print("vidaction.convert: wrote %s: %s-%d, midplanes %s, bn_eps %s, %d classes, "
              "%s parameters, %d tensors, %d bytes"
              % (out_path, family, depth, rule, meta["bn_eps"], num_classes,
                 format(num_params(spec), ","), len(tensors), os.path.getsize(out_path)))
    return spec, meta


# --------------------------------------------------------------------------
# Self-test

def _check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("  ok  " + what)


def _ig65m_torch_model(depth, num_classes):
    """ig65m-pytorch's construction: torchvision VideoResNet, per-conv mid-channels, eps 1e-3."""
    import torch.nn as nn
    from torchvision.models.video.resnet import (VideoResNet, BasicBlock, Bottleneck, Conv2Plus1D,
                                                 R2Plus1dStem)

    class PerConv(Conv2Plus1D):  # VMZ-pt: mid-channels from the conv's own in/out
        def __init__(self, n_in, n_out, mid, stride=1, padding=1):
            super().__init__(n_in, n_out, midplanes(n_in, n_out), stride, padding)

    block = Bottleneck if is_bottleneck(depth) else BasicBlock
    m = VideoResNet(block=block, conv_makers=[PerConv] * 4, layers=list(BLOCK_CONFIG[depth]),
                    stem=R2Plus1dStem, num_classes=num_classes)
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm3d):
            mod.eps = 1e-3
    return m


def self_test():
    import subprocess
    print("vidaction.convert self-test")
    counts = OrderedDict()
    for label, fam, depth, rule, k in (
            ("torchvision r2plus1d_18", "r2plus1d", 18, "per-block", 400),
            ("torchvision r3d_18", "r3d", 18, "per-block", 400),
            ("torchvision mc3_18", "mc3", 18, "per-block", 400),
            ("R(2+1)D-34 per-conv, 400 classes", "r2plus1d", 34, "per-conv", 400),
            ("R(2+1)D-34 per-conv, 359 classes", "r2plus1d", 34, "per-conv", 359),
            ("R(2+1)D-34 per-conv, 487 classes", "r2plus1d", 34, "per-conv", 487),
            ("R(2+1)D-34 per-block, 400 classes", "r2plus1d", 34, "per-block", 400),
            ("R(2+1)D-152 per-conv, 400 classes", "r2plus1d", 152, "per-conv", 400),
            ("R(2+1)D-152 per-conv, 359 classes", "r2plus1d", 152, "per-conv", 359),
            ("torchvision resnet18, 1000 classes", "r2d", 18, "per-block", 1000),
            ("torchvision resnet34, 1000 classes", "r2d", 34, "per-block", 1000),
            ("torchvision resnet50, 1000 classes", "r2d", 50, "per-block", 1000),
            ("torchvision resnet101, 1000 classes", "r2d", 101, "per-block", 1000),
            ("torchvision resnet152, 1000 classes", "r2d", 152, "per-block", 1000)):
        n = num_params(arch_spec(fam, depth, rule, k))
        counts[label] = n
        print("  %-36s %14s parameters" % (label, format(n, ",")))
    _check(counts["torchvision r2plus1d_18"] == 31505325, "r2plus1d_18 has 31,505,325 parameters")
    _check(counts["torchvision r3d_18"] == 33371472, "r3d_18 has 33,371,472 (torchvision meta)")
    _check(counts["torchvision mc3_18"] == 11695440, "mc3_18 has 11,695,440 (torchvision meta)")
    _check(abs(counts["R(2+1)D-34 per-conv, 400 classes"] - 63.70e6) <= 0.05e6,
           "R(2+1)D-34 per-conv is 63.70M +- 0.05M")
    _check(abs(counts["R(2+1)D-34 per-block, 400 classes"] - 61.83e6) <= 0.05e6,
           "R(2+1)D-34 per-block is 61.83M (paper.md 1.4)")
    _check(abs(counts["R(2+1)D-152 per-conv, 400 classes"] - 118.23e6) <= 0.05e6,
           "R(2+1)D-152 per-conv is 118.23M (paper.md 1.2)")
    mids = [t.shape[0] for t in arch_spec("r2plus1d", 34, "per-conv", 400)
            if t.name.startswith("layer") and t.name.endswith(".0.0.weight")]
    _check(mids[6:8] == [230, 288] and mids[14:16] == [460, 576] and mids[26:28] == [921, 1152],
           "R(2+1)D-34 per-conv mid-channels 230/288, 460/576, 921/1152 (paper.md 1.2 table)")
    mids152 = sorted(set(t.shape[0] for t in arch_spec("r2plus1d", 152, "per-conv", 400)
                         if t.name.endswith("conv2.0.0.weight")))
    _check(mids152 == [144, 288, 576, 1152], "R(2+1)D-152 mid-channels 144/288/576/1152")
    _check(counts["torchvision resnet18, 1000 classes"] == 11689512,
           "resnet18 has 11,689,512 parameters (torchvision meta)")
    _check(counts["torchvision resnet50, 1000 classes"] == 25557032,
           "resnet50 has 25,557,032 parameters (torchvision meta)")
    _check(counts["torchvision resnet34, 1000 classes"] == 21797672
           and counts["torchvision resnet101, 1000 classes"] == 44549160
           and counts["torchvision resnet152, 1000 classes"] == 60192808,
           "resnet34/101/152 have 21,797,672 / 44,549,160 / 60,192,808 (torchvision meta)")
    r2d50 = arch_spec("r2d", 50, "per-block", 1000)
    _check(all(len(t.shape) == 4 for t in r2d50 if t.role == "conv")
           and r2d50[0].name == "conv1.weight" and r2d50[0].shape == (64, 3, 7, 7)
           and r2d50[-2].shape == (1000, 2048),
           "r2d conv weights are 4-D [O,I,kH,kW]; resnet50 fc is 2048 -> classes")

    tmp = tempfile.mkdtemp(prefix="vidaction-selftest-")
    try:
        # safetensors round trip and header shape
        p = os.path.join(tmp, "t.safetensors")
        a = np.arange(5, dtype=np.float32)
        write_safetensors(p, [("a", a), ("n", np.array(7, dtype=np.int64)),
                              ("i", np.array([1, 2], dtype=np.int32))], OrderedDict([("k", "v\"\u00e9")]))
        hdr, meta, ts = read_safetensors(p)
        raw = open(p, "rb").read()
        _check(len(hdr) % 8 == 0 and int.from_bytes(raw[:8], "little") == len(hdr)
               and hdr.rstrip(b" ").endswith(b"}") and json.loads(hdr.decode("utf-8")) is not None,
               "header length is a multiple of 8, JSON padded with spaces")
        _check(meta == {"k": "v\"\u00e9"} and list(ts) == ["a", "n", "i"] and ts["n"].shape == ()
               and ts["n"] == 7 and (ts["a"] == a).all() and ts["i"].dtype == np.int32,
               "safetensors round trip (F32, I64 scalar, I32, metadata)")
        _check(not [f for f in os.listdir(tmp) if f.endswith(".tmp")], "no temporary file left")

        try:
            import torch
        except ImportError:
            print("  skip: PyTorch is absent; torchvision comparisons and conversions not run")
            return 0
        import torchvision.models.video as tvv
        for arch in ("r3d_18", "mc3_18", "r2plus1d_18"):
            fam, depth = ARCHS[arch]
            sd = getattr(tvv, arch)().state_dict()
            spec = arch_spec(fam, depth, "per-block", 400)
            _check([(k, tuple(v.shape)) for k, v in sd.items()] == [(t.name, t.shape) for t in spec],
                   "%s: names, order and shapes equal torchvision's state_dict" % arch)
        for depth in (34, 152):
            sd = _ig65m_torch_model(depth, 400).state_dict()
            spec = arch_spec("r2plus1d", depth, "per-conv", 400)
            _check([(k, tuple(v.shape)) for k, v in sd.items()] == [(t.name, t.shape) for t in spec],
                   "R(2+1)D-%d per-conv: equals a VideoResNet with per-conv Conv2Plus1D" % depth)
        import torchvision.models as tvm
        for depth in R2D_DEPTHS:
            net = getattr(tvm, "resnet%d" % depth)()
            sd = net.state_dict()
            spec = arch_spec("r2d", depth, "per-block", 1000)
            _check([(k, tuple(v.shape)) for k, v in sd.items()] == [(t.name, t.shape) for t in spec]
                   and sum(p.numel() for p in net.parameters()) == num_params(spec),
                   "resnet%d: names, order, shapes and parameter count equal torchvision's" % depth)
            del net, sd

        # The ig65m-pytorch construction: torchvision r2plus1d_34 patched in three places.
        from torchvision.models.video.resnet import (VideoResNet, BasicBlock, Conv2Plus1D,
                                                     R2Plus1dStem)
        m = VideoResNet(block=BasicBlock, conv_makers=[Conv2Plus1D] * 4, layers=[3, 4, 6, 3],
                        stem=R2Plus1dStem, num_classes=400)
        m.layer2[0].conv2[0] = Conv2Plus1D(128, 128, 288)
        m.layer3[0].conv2[0] = Conv2Plus1D(256, 256, 576)
        m.layer4[0].conv2[0] = Conv2Plus1D(512, 512, 1152)
        sd = m.state_dict()
        spec = arch_spec("r2plus1d", 34, "per-conv", 400)
        _check([(k, tuple(v.shape)) for k, v in sd.items()] == [(t.name, t.shape) for t in spec],
               "R(2+1)D-34 per-conv equals ig65m-pytorch's patched torchvision model")
        _check(sum(v.numel() for k, v in m.named_parameters()) == num_params(spec),
               "parameter count equals PyTorch's")

        # End-to-end conversions through the command line, on r2plus1d_18-sized data.
        env = dict(os.environ)
        env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + \
            (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")

        def run(*args):
            r = subprocess.run([sys.executable, "-m", "vidaction.convert"] + list(args), env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
            return r.returncode, r.stdout + r.stderr

        def run_here(*args):  # the same command line in this process (no torch import to wait for)
            import contextlib
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
                rc = main(list(args))
            return rc, buf.getvalue()

        rng = np.random.default_rng(1)
        spec = arch_spec("r2plus1d", 18, "per-conv", 10)
        state = OrderedDict()
        for t in spec:
            if t.role == "bn.num_batches_tracked":
                state[t.name] = torch.tensor(5)
            else:
                state[t.name] = torch.from_numpy(rng.random(t.shape, dtype=np.float32))
        src = os.path.join(tmp, "in.pth")
        torch.save({"state_dict": OrderedDict(("module." + k, v) for k, v in state.items()),
                    "epoch": 3}, src)
        out = os.path.join(tmp, "out.safetensors")
        labels = os.path.join(tmp, "labels.txt")
        with open(labels, "w") as f:
            f.write("\n".join("class %d" % i for i in range(10)) + "\n")
        rc, log = run("--from", "ig65m", "--arch", "r2plus1d_18", src, out, "--labels", labels)
        _check(rc == 0, "ig65m conversion ({module.}-prefixed, wrapped state_dict) succeeds")
        hdr, meta, ts = read_safetensors(out)
        _check(list(ts) == [t.name for t in spec] and all(
            np.array_equal(ts[k], state[k].numpy()) for k in ts),
            "output holds the tensors in state_dict order, unchanged")
        _check(meta["bn_eps"] == "0.001" and meta["midplanes"] == "per-conv"
               and meta["num_classes"] == "10" and json.loads(meta["labels"])[9] == "class 9"
               and meta["clip_frames"] == "32", "metadata (bn_eps, midplanes, classes, labels)")

        # The same weights as a VMZ Caffe2 pickle must give the same file.
        blobs = {}
        for t in spec:
            if t.c2name:
                blobs[t.c2name] = state[t.name].numpy()
        blobs["model_iter"] = np.array([1000], dtype=np.int64)
        pkl = os.path.join(tmp, "in.pkl")
        with open(pkl, "wb") as f:
            pickle.dump({"blobs": blobs}, f, protocol=2)
        out2 = os.path.join(tmp, "out2.safetensors")
        rc, log = run("--from", "vmz", "--arch", "r2plus1d_18", pkl, out2, "--labels", labels)
        _, meta2, ts2 = read_safetensors(out2)
        _check(rc == 0 and list(ts2) == list(ts) and all(
            np.array_equal(ts2[k], ts[k]) or k.endswith("num_batches_tracked") for k in ts),
            "VMZ Caffe2 blobs convert to the same tensors")
        _check(meta2["source"] == "vmz r2plus1d_18 via vidaction.convert", "vmz source metadata")

        # Failures: exit status 1, a message naming the tensor, and OUT untouched.
        before = open(out, "rb").read()
        for what, mutate, needle in (
                ("missing tensor", lambda s: s.pop("layer3.1.conv2.1.bias"), "layer3.1.conv2.1.bias"),
                ("unexpected tensor", lambda s: s.__setitem__("head.weight", torch.zeros(3)), "head.weight"),
                ("wrong shape", lambda s: s.__setitem__("fc.weight", torch.zeros(10, 256)), "fc.weight"),
                ("NaN", lambda s: s["stem.0.weight"].view(-1).__setitem__(0, float("nan")), "stem.0.weight"),
                ("negative variance", lambda s: s["stem.1.running_var"].__setitem__(0, -1.0), "running_var")):
            bad = OrderedDict((k, v.clone()) for k, v in state.items())
            mutate(bad)
            torch.save(bad, src)
            rc, log = run("--from", "ig65m", "--arch", "r2plus1d_18", src, out)
            _check(rc == 1 and needle in log and open(out, "rb").read() == before,
                   "%s: exit 1, names %s, output untouched" % (what, needle))
        torch.save(state, src)
        rc, log = run("--from", "torchvision", "--arch", "r2plus1d_18", src, out)
        _check(rc == 1 and "mid-channel" in log, "per-conv weights given as torchvision: exit 1 with a hint")
        rc, log = run("--from", "ig65m", "--arch", "r2plus1d_18", src, out, "--classes", "400")
        _check(rc == 1 and "fc.weight" in log, "--classes that disagrees with fc: exit 1")
        rc, log = run("--from", "torchvision", "--arch", "r2plus1d_34", src, out)
        _check(rc == 1 and "not available" in log, "unknown source/arch pair: exit 1")
        rc, log = run_here("--from", "torchvision", "--arch", "resnet18", src, out)
        _check(rc == 1 and "not a 2D" in log and open(out, "rb").read() == before,
               "a video checkpoint given as resnet18: exit 1 with a hint, output untouched")
        rc, log = run_here("--from", "ig65m", "--arch", "resnet50", src, out)
        _check(rc == 1 and "not available" in log, "resnet50 --from ig65m: exit 1")

        # torchvision ResNet (the 2D baseline): converts to arch r2d with 4-D conv weights.
        torch.manual_seed(0)
        net = tvm.resnet18(num_classes=10)
        for mod in net.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
                mod.num_batches_tracked.fill_(7)
        r18 = OrderedDict((k, v.clone()) for k, v in net.state_dict().items())
        torch.save(r18, src)
        rc, log = run("--from", "torchvision", "--arch", "resnet18", src, out)
        _check(rc == 0, "torchvision resnet18 state_dict converts")
        hdr, meta, ts = read_safetensors(out)
        _check(list(ts) == list(r18) and all(np.array_equal(ts[k], r18[k].numpy()) for k in ts)
               and ts["conv1.weight"].shape == (64, 3, 7, 7)
               and ts["layer2.0.downsample.0.weight"].shape == (128, 64, 1, 1),
               "resnet18: tensors in state_dict order, unchanged, conv weights 4-D")
        _check(meta["arch"] == "r2d" and meta["depth"] == "18" and meta["bn_eps"] == "1e-05"
               and meta["num_classes"] == "10" and meta["midplanes"] == "per-block"
               and meta["mean"] == IMAGENET_MEAN,
               "resnet18 metadata: arch r2d, depth 18, bn_eps 1e-05, ImageNet normalisation")
        net2 = tvm.resnet18(num_classes=10)
        net2.load_state_dict(OrderedDict((k, torch.from_numpy(np.array(v))) for k, v in ts.items()),
                             strict=True)
        _check(True, "the resnet18 file loads back into torchvision with strict=True")
        before = open(out, "rb").read()
        for what, mutate, needle in (
                ("resnet: missing tensor", lambda s: s.pop("layer4.1.bn2.running_var"),
                 "layer4.1.bn2.running_var"),
                ("resnet: 5-D conv weight", lambda s: s.__setitem__(
                    "layer1.0.conv1.weight", s["layer1.0.conv1.weight"][:, :, None]),
                 "layer1.0.conv1.weight")):
            bad = OrderedDict((k, v.clone()) for k, v in r18.items())
            mutate(bad)
            torch.save(bad, src)
            rc, log = run_here("--from", "torchvision", "--arch", "resnet18", src, out)
            _check(rc == 1 and needle in log and open(out, "rb").read() == before,
                   "%s: exit 1, names %s, output untouched" % (what, needle))
        torch.save(r18, src)
        rc, log = run_here("--from", "torchvision", "--arch", "resnet34", src, out)
        _check(rc == 1 and "missing" in log and open(out, "rb").read() == before,
               "resnet18 weights given as resnet34: exit 1, output untouched")
        print("self-test passed")
        return 0
    finally:
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)


# --------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="python -m vidaction.convert",
        description="Convert a torchvision / ig65m-pytorch / VMZ checkpoint into a libvidaction "
                    "model file (safetensors), validating every tensor against the architecture.")
    ap.add_argument("--from", dest="source", choices=sorted(SOURCES))
    ap.add_argument("--arch", choices=list(ARCHS))
    ap.add_argument("--classes", type=int, help="number of classes (default: from the fc layer)")
    ap.add_argument("--labels", help="class names: one per line, or a JSON array")
    ap.add_argument("--frames", type=int,
                    help="clip_frames metadata (default 16 for torchvision, 32 for ig65m/vmz)")
    ap.add_argument("--trust-pickle", action="store_true",
                    help="load pickles without restriction (they can run code)")
    ap.add_argument("--self-test", action="store_true", help="check the architecture tables and exit")
    ap.add_argument("input", nargs="?", metavar="IN")
    ap.add_argument("output", nargs="?", metavar="OUT.safetensors")
    args = ap.parse_args(argv)
    if args.self_test:
        try:
            return self_test()
        except AssertionError as e:
            print("self-test FAILED: %s" % e, file=sys.stderr)
            return 1
    if not (args.source and args.arch and args.input and args.output):
        ap.error("--from, --arch, IN and OUT are required")
    try:
        convert(args.source, args.arch, args.input, args.output, args.classes, args.labels,
                args.frames, args.trust_pickle)
    except (ConvertError, OSError) as e:
        print("vidaction.convert: error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
