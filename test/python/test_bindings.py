"""The Python bindings (bindings/python/vidaction) against independent references:
the C compiler's struct layouts and the headers' prototypes, the vidaction
program's own output (forward, clip, classify, eval), PyTorch's logits in the
golden fixture, numpy's softmax cross-entropy, the process's resident memory.

    PYTHONPATH=bindings/python python3 test/python/test_bindings.py [CASE...]

Run from the repository root after `make`. Prints "ok   test_python__CASE" or
"FAIL test_python__CASE: why" per case and "N passed, M failed" last; exit
status 1 when a case failed. Needs numpy and the ffmpeg program (the cases that
decode videos are skipped without it), not PyTorch.
"""

import ctypes
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import traceback

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))

import vidaction  # noqa: E402
from vidaction import _capi  # noqa: E402
from vidaction.convert import read_safetensors  # noqa: E402

BIN = os.environ.get("VIDACTION", os.path.join(ROOT, "bin", "vidaction"))
PY = sys.executable
TMP = tempfile.mkdtemp(prefix="vida_py_")
HAVE_FFMPEG = shutil.which("ffmpeg") is not None
CPU = None  # vidaction.Context(backend="cpu", threads=2, seed=1), made by main()

CASES = []


class Skip(Exception):
    pass


def case(fn):
    CASES.append(fn)
    return fn


def note(*a):
    """A line of measurements (shown above the case's ok line)."""
    print("  " + " ".join(str(x) for x in a))


def need_ffmpeg():
    if not HAVE_FFMPEG:
        raise Skip("needs the ffmpeg program")


def run(cmd, **kw):
    """Runs a command; its stdout, or an AssertionError with its stderr."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if p.returncode != 0:
        raise AssertionError("%s exited %d: %s" % (" ".join(cmd), p.returncode,
                                                   p.stderr.decode(errors="replace")[-2000:]))
    return p.stdout.decode()


def python(code, env=None):
    """Runs code in a fresh interpreter with the bindings on the path; (rc, output)."""
    e = dict(os.environ)
    e["PYTHONPATH"] = os.path.join(ROOT, "bindings", "python")
    e.update(env or {})
    p = subprocess.run([PY, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, env=e, cwd=ROOT)
    return p.returncode, p.stdout.decode(errors="replace")


def raises(fn, code=None, *needles):
    """Calls fn; it must raise vidaction.Error (with code, if given) whose message holds
    every needle. Returns the error."""
    try:
        fn()
    except vidaction.Error as e:
        assert code is None or e.code == code, "code %s, want %s: %s" % (
            e.name, _capi.CODE_NAMES.get(code), e)
        for n in needles:
            assert n in str(e), "%r not in the message %r" % (n, str(e))
        return e
    raise AssertionError("no vidaction.Error raised")


def ffmpeg(out, lavfi, seconds, extra=()):
    run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", lavfi, "-t",
         str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"] +
        list(extra) + [out])
    return out


_videos = {}


def video(name):
    """Test videos, made once: "testsrc" 160x120 25 fps 2 s; "tiny" 32x24 0.2 s;
    "m.tsv": a manifest of 6 videos of a square moving left or right."""
    need_ffmpeg()
    if name in _videos:
        return _videos[name]
    if name == "testsrc":
        p = ffmpeg(os.path.join(TMP, "testsrc.mp4"), "testsrc=size=160x120:rate=25", 2)
    elif name == "tiny":
        p = ffmpeg(os.path.join(TMP, "tiny.mp4"), "testsrc=size=32x24:rate=25", 0.2)
    elif name == "m.tsv":
        d = os.path.join(TMP, "data")
        os.makedirs(d, exist_ok=True)
        lines = []
        for i in range(6):
            right = i % 2 == 1
            x = "4+%d*t" % (16 + i) if right else "44-%d*t" % (16 + i)
            ffmpeg(os.path.join(d, "v%d.mp4" % i),
                   "color=c=0x303030:s=64x64:r=25:d=1[bg];color=c=0xe8e8e8:s=12x12:r=25:d=1[fg];"
                   "[bg][fg]overlay=x='%s':y=%d:shortest=1" % (x, 6 + i * 6), 1)
            lines.append("v%d.mp4\t%s\n" % (i, "right" if right else "left"))
        p = os.path.join(d, "m.tsv")
        with open(p, "w") as f:
            f.writelines(lines)
    _videos[name] = p
    return p


def tiny_model(classes=3, labels=None, depth=10, width=0.125, ctx=None, **meta):
    return vidaction.Model.create(depth=depth, width=width, num_classes=classes, labels=labels,
                                  ctx=ctx or CPU, meta=meta)


# ---- the golden model: rebuilt from test/golden as the converter wrote it ------

def _fnv1a32(name):
    h = 2166136261
    for b in name.encode("utf-8"):
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def generated(name, shape):
    """The fixture generator of test/golden/README.md, in numpy."""
    numel = int(np.prod(shape))
    x = np.arange(numel, dtype=np.uint32) * np.uint32(0x9E3779B9) + np.uint32(_fnv1a32(name))
    x ^= x >> np.uint32(16)
    x *= np.uint32(0x7FEB352D)
    x ^= x >> np.uint32(15)
    x *= np.uint32(0x846CA68B)
    x ^= x >> np.uint32(16)
    u = ((x >> np.uint32(8)).astype(np.int32) - (1 << 23)).astype(np.float32) \
        * np.float32(2.0 ** -23)
    s = np.float32(np.sqrt(3.0 / np.prod(shape[1:]))) if len(shape) >= 2 else np.float32(0.1)
    return (u * s).reshape(shape)


_golden = {}


def golden():
    """(model file path, fixture tensors, header dict) of r2plus1d_18, rebuilt byte for
    byte as `vidaction.convert --from torchvision` wrote it."""
    if _golden:
        return _golden["v"]
    g = os.path.join(ROOT, "test", "golden")
    with open(os.path.join(g, "r2plus1d_18.header.json"), "rb") as f:
        header = f.read()
    head = json.loads(header)
    _, _, fx = read_safetensors(os.path.join(g, "r2plus1d_18.fixture.safetensors"))
    total = max(e["data_offsets"][1] for k, e in head.items() if k != "__metadata__")
    data = bytearray(total)
    for k, e in head.items():
        if k == "__metadata__":
            continue
        b0, b1 = e["data_offsets"]
        arr = fx[k] if k in fx else generated(k, tuple(e["shape"]))
        raw = np.ascontiguousarray(arr).tobytes()
        assert len(raw) == b1 - b0, k
        data[b0:b1] = raw
    path = os.path.join(TMP, "r2plus1d_18.safetensors")
    with open(path, "wb") as f:
        f.write(len(header).to_bytes(8, "little") + header + bytes(data))
    _golden["v"] = (path, fx, head)
    return _golden["v"]


# ---- cases -------------------------------------------------------------------

@case
def import_without_library():
    nowhere = {"VIDACTION_LIBRARY": "/nonexistent/libvidaction.so.0"}
    rc, out = python("""
        import vidaction, vidaction.convert
        try:
            vidaction.version()
        except vidaction.LibraryNotFound as e:
            assert isinstance(e, vidaction.Error) and isinstance(e, OSError)
            assert "/nonexistent/libvidaction.so.0" in str(e), str(e)
            print("refused:", e)
        else:
            raise SystemExit("loaded a library that does not exist")
        """, env=nowhere)
    assert rc == 0, out
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "bindings", "python"), **nowhere)
    out = run([PY, "-m", "vidaction.convert", "--help"], env=env)
    assert "--from" in out, out


@case
def library_from_build_tree_or_env():
    want = os.environ.get("VIDACTION_LIBRARY") or os.path.join(ROOT, "lib", "libvidaction.so.0")
    got = vidaction.library_path()
    note("library:", got)
    assert os.path.realpath(got) == os.path.realpath(want), (got, want)


@case
def version_and_features():
    with open(os.path.join(ROOT, "include", "vidaction", "version.h")) as f:
        v = dict(re.findall(r"#define VIDA_VERSION_(MAJOR|MINOR|PATCH) (\d+)", f.read()))
    want = "%s.%s.%s" % (v["MAJOR"], v["MINOR"], v["PATCH"])
    assert vidaction.version() == want, (vidaction.version(), want)
    assert vidaction.version_number() == int(v["MAJOR"]) * 10000 + int(v["MINOR"]) * 100 + \
        int(v["PATCH"])
    f = vidaction.features()
    assert "cpu" in f and f <= {"cpu", "cblas", "cuda", "cudnn", "ffmpeg", "mpi", "nccl"}, f
    line = run([BIN, "--version"]).strip()
    assert line == "vidaction %s (%s)" % (want, vidaction.features_string()), line
    assert isinstance(vidaction.device_count(), int) and vidaction.device_count() >= 0
    assert vidaction.strerror(vidaction.EIO)


@case
def struct_layouts_match_c():
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if not cc:
        raise Skip("needs a C compiler")
    lines = ["#include <stddef.h>", "#include <stdio.h>", "#include <vidaction.h>",
             "int main(void) {"]
    want = []
    for cname, st in _capi.STRUCTS.items():
        lines.append('printf("%%s %%zu\\n", "%s", sizeof(%s));' % (cname, cname))
        want.append("%s %d" % (cname, _ctypes_sizeof(st)))
        for fname, _ in st._fields_:
            lines.append('printf("%%s %%zu\\n", "%s.%s", offsetof(%s, %s));' % (
                cname, fname, cname, fname))
            want.append("%s.%s %d" % (cname, fname, getattr(st, fname).offset))
    lines += ["return 0;", "}"]
    src = os.path.join(TMP, "layout.c")
    with open(src, "w") as f:
        f.write("\n".join(lines))
    exe = os.path.join(TMP, "layout")
    run([cc, "-std=c11", "-I" + os.path.join(ROOT, "include"), "-o", exe, src])
    got = run([exe]).split("\n")[:-1]
    bad = [(w, g) for w, g in zip(want, got) if w != g]
    assert len(got) == len(want) and not bad, "ctypes vs C: %s" % bad[:5]
    note("%d structs, %d fields agree" % (len(_capi.STRUCTS), len(want) - len(_capi.STRUCTS)))


def _ctypes_sizeof(st):
    import ctypes
    return ctypes.sizeof(st)


def _header_prototypes():
    """{name: (return type, [param types])} of every VIDA_API function in include/."""
    text = ""
    d = os.path.join(ROOT, "include", "vidaction")
    for fn in sorted(os.listdir(d)):
        if fn.endswith(".h"):
            with open(os.path.join(d, fn)) as f:
                text += f.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    protos = {}
    for ret, name, params in re.findall(r"VIDA_API\s+([^;(]*?)\s*\b(vida_\w+)\s*\(([^)]*)\)\s*;",
                                        text):
        ps = [p.strip() for p in params.split(",")]
        protos[name] = (ret, [] if ps == ["void"] else ps)
    return protos


def _expected_ctype(decl, is_return=False):
    import ctypes
    level = decl.count("*") + decl.count("[")
    decl = re.sub(r"\[[^]]*\]", "", decl).replace("*", " ")
    toks = [t for t in decl.split() if t != "const"]
    if not is_return and len(toks) >= 2:
        toks = toks[:-1]  # the parameter's name
    base = " ".join(toks)
    scalars = {"int": ctypes.c_int, "int64_t": ctypes.c_int64, "uint64_t": ctypes.c_uint64,
               "size_t": ctypes.c_size_t, "double": ctypes.c_double, "float": ctypes.c_float,
               "unsigned": ctypes.c_uint, "void": None}
    pointees = {"float": ctypes.c_float, "int64_t": ctypes.c_int64, "int32_t": ctypes.c_int32,
                "int": ctypes.c_int, "double": ctypes.c_double, "uint8_t": ctypes.c_uint8}
    if level == 0:
        return scalars[base]
    if level == 1:
        if base == "char":
            return ctypes.c_char_p
        if base == "void":
            return ctypes.c_void_p
        if base in _capi.STRUCTS:
            return ctypes.POINTER(_capi.STRUCTS[base])
        if base.startswith("vida_"):
            return ctypes.c_void_p  # an opaque handle
        return ctypes.POINTER(pointees[base])
    if level == 2 and base == "char":
        return ctypes.POINTER(ctypes.c_char_p)
    if level == 2 and base.startswith("vida_") and base not in _capi.STRUCTS:
        return ctypes.POINTER(ctypes.c_void_p)
    raise AssertionError("no rule for %r" % decl)


@case
def prototypes_match_headers():
    protos = _header_prototypes()
    assert len(protos) > 100, len(protos)
    missing = sorted(set(protos) - set(_capi.PROTOTYPES))
    extra = sorted(set(_capi.PROTOTYPES) - set(protos))
    assert not missing, "functions of the headers without a binding: %s" % missing
    assert not extra, "bound functions not in the headers: %s" % extra
    bad = []
    for name, (ret, params) in protos.items():
        r, args = _capi.PROTOTYPES[name]
        if r is not _expected_ctype(ret, True):
            bad.append("%s returns %s, bound %s" % (name, ret, r))
        if len(args) != len(params):
            bad.append("%s: %d parameters, bound %d" % (name, len(params), len(args)))
            continue
        for i, (p, a) in enumerate(zip(params, args)):
            if a is not _expected_ctype(p):
                bad.append("%s parameter %d %r bound as %s" % (name, i, p, a))
    assert not bad, "\n".join(bad)
    assert not vidaction._capi.lib().missing, vidaction._capi.lib().missing
    note("%d functions, every signature as in the headers" % len(protos))


@case
def golden_forward_bitwise_as_cli():
    # the generator's check values of test/golden/README.md
    assert generated("fc.bias", (400,))[:3].view(np.uint32).tolist() == [
        0x3D3272DA, 0xBD722BAA, 0xBCA9B540]
    assert generated("stem.0.weight", (45, 3, 1, 7, 7)).reshape(-1)[:3].view(
        np.uint32).tolist() == [0xBDB9D7D5, 0x3DBD152E, 0x3E0A0594]
    path, fx, _ = golden()
    x = fx["input"]
    m = vidaction.Model.load(path, ctx=CPU)
    logits, feats = m.forward(x, with_features=True)
    inp = os.path.join(TMP, "golden_input.safetensors")
    out = os.path.join(TMP, "golden_output.safetensors")
    vidaction.write_tensors(inp, {"input": x})
    run([BIN, "--device", "cpu", "forward", path, inp, "-o", out, "--threads",
         str(CPU.threads)])
    _, _, cli = read_safetensors(out)
    assert logits.dtype == np.float32 and logits.shape == (2, 400)
    assert np.array_equal(logits, cli["logits"]), np.abs(logits - cli["logits"]).max()
    assert np.array_equal(feats, cli["features"])
    d = float(np.abs(logits - fx["logits"]).max())
    df = float(np.abs(feats - fx["features"]).max())
    note("bitwise as `vidaction forward`; |ours - torch| max: logits %.2e, features %.2e"
          % (d, df))
    assert d <= 1e-3 and df <= 1e-3
    assert np.array_equal(m.features(x), feats)
    m.close()


@case
def golden_create_set_tensor_save():
    path, fx, head = golden()
    meta = head["__metadata__"]
    ref = vidaction.Model.load(path, ctx=CPU)
    m = vidaction.Model.create(arch=meta["arch"], depth=int(meta["depth"]),
                               num_classes=int(meta["num_classes"]), midplanes=meta["midplanes"],
                               pool1=meta["pool1"] == "1", bn_eps=float(meta["bn_eps"]),
                               ctx=CPU)
    names = [k for k in head if k != "__metadata__"]
    assert m.tensors() == names
    shapes = m.tensor_shapes()
    for k in names:
        assert shapes[k][0] == tuple(head[k]["shape"]), (k, shapes[k], head[k]["shape"])
        m.set_tensor(k, ref.tensor(k))
    assert m.tensor("layer1.0.conv1.1.num_batches_tracked").dtype == np.int64
    assert int(m.tensor("layer1.0.conv1.1.num_batches_tracked")) == 3
    x = fx["input"]
    a = m.forward(x)
    assert np.array_equal(a, ref.forward(x))
    saved = os.path.join(TMP, "created.safetensors")
    m.save(saved)
    back = vidaction.Model.load(saved, ctx=CPU)
    assert np.array_equal(back.forward(x), a)
    assert np.array_equal(back.tensor("fc.weight"), generated("fc.weight", (400, 512)))
    for o in (m, back, ref):
        o.close()


@case
def video_info_and_clip_as_cli():
    p = video("testsrc")
    with vidaction.Video(p) as v:
        i = v.info
        assert (i.n_frames, i.width, i.height, i.codec, i.pix_fmt) == (50, 160, 120, "h264",
                                                                       "yuv420p"), i
        assert abs(i.avg_fps - 25) < 1e-6 and len(v) == 50 and not i.vfr
        assert abs(v.frame_time(25) - 1.0) < 1e-9 and v.frame_at(1.0) == 25
        c = v.clip(5, 8, stride=2, short_side=64, crop=56)
        full = v.clip(0, 3)
        raises(lambda: v.clip(40, 8, stride=2), vidaction.EINVAL)
    out = os.path.join(TMP, "clip.safetensors")
    run([BIN, "clip", p, "-o", out, "--start-frame", "5", "--frames", "8", "--stride", "2",
         "--short-side", "64", "--crop", "56"])
    _, _, ref = read_safetensors(out)
    assert c.shape == (8, 56, 56, 3) and c.dtype == np.uint8
    assert np.array_equal(c, ref["frames"])
    assert list(ref["indices"]) == list(range(5, 21, 2))
    assert full.shape == (3, 120, 160, 3)


@case
def sampler_start_clip_equals_video_clip():
    p = video("testsrc")
    with vidaction.Video(p) as v, \
            vidaction.Sampler(frames=8, stride=2, clip_mode="start", start_frame=5,
                              short_side=64, crop=56) as s:
        x, idx = s.sample(v, return_indices=True)
        assert s.plan(v) == (1, (1, 8, 56, 56, 3))
        assert idx.tolist() == [list(range(5, 21, 2))]
        assert np.array_equal(s.indices(v), idx)
        assert np.array_equal(x[0], v.clip(5, 8, stride=2, short_side=64, crop=56))
    with vidaction.Sampler(frames=4, clip_mode="uniform", clips=3, short_side=32, crop=32,
                           output="f32") as s:
        y = s.sample(p)
        assert y.shape == (3, 3, 4, 32, 32) and y.dtype == np.float32
        assert s.params["clips"] == 3


@case
def classify_as_cli():
    p = video("testsrc")
    names = ["archery", "bowling", "cooking", "dancing"]
    path = os.path.join(TMP, "cls.safetensors")
    m = tiny_model(4, names, clip_frames=8, short_side=64, crop=56)
    m.save(path)
    m.close()
    m = vidaction.Model.load(path, ctx=CPU)
    top = m.classify(p, clips=4, top=3)
    note("classify:", top)
    assert len(top) == 3 and all(lab in names for lab, _ in top)
    scores = [s for _, s in top]
    assert scores == sorted(scores, reverse=True) and sum(scores) <= 1 + 1e-6
    assert len(m.classify(p, clips=2, top=10)) == 4
    full = m.classify(p, clips=4, top=4)
    assert abs(sum(s for _, s in full) - 1) < 1e-6
    cli = json.loads(run([BIN, "--device", "cpu", "classify", path, p, "--clips", "4", "--top",
                          "3", "--json"]))
    got = [(t["name"], t["p"]) for t in cli[0]["top"]]
    assert [n for n, _ in got] == [n for n, _ in top], (got, top)
    assert all(abs(a - b) <= 1e-6 for (_, a), (_, b) in zip(got, top)), (got, top)
    m.set_meta("labels", "not json")
    assert all(isinstance(lab, int) for lab, _ in m.classify(p, clips=1, top=2))
    raises(lambda: m.classify(os.path.join(TMP, "none.mp4")), vidaction.EIO, "none.mp4")
    m.close()


def _fixed_data(n=4, classes=3, t=4, hw=32, seed=0):
    r = np.random.RandomState(seed)
    return r.randn(n, 3, t, hw, hw).astype(np.float32), np.arange(n) % classes


@case
def train_step_reduces_loss():
    x, y = _fixed_data()
    m = tiny_model(3, width=0.25)
    opt = vidaction.SGD(m, lr=0.05, momentum=0.9, weight_decay=1e-4)
    m.train()
    first, _ = vidaction.loss(m.forward(x), y)  # the library's loss on a training forward
    losses = [m.train_step(opt, x, y) for _ in range(3)]
    note("losses (float32 clips, labels):", ["%.4f" % v for v in losses])
    assert losses[0] == first, (losses[0], first)
    assert losses[2] < losses[1] < losses[0]
    assert opt.step_count == 3 and opt.stats["steps"] == 3
    # uint8 clips [N, T, H, W, 3] normalised with the model's mean/std, soft targets
    m2 = tiny_model(3, width=0.25)
    opt2 = vidaction.SGD(m2, lr=0.05)
    u8 = (np.random.RandomState(1).rand(4, 4, 32, 32, 3) * 255).astype(np.uint8)
    soft = np.full((4, 3), 0.0, dtype=np.float32)
    soft[np.arange(4), y] = 1
    soft[0] = [0.5, 0.5, 0]
    losses = [m2.train_step(opt2, u8, soft) for _ in range(3)]
    note("losses (uint8 clips, soft targets):", ["%.4f" % v for v in losses])
    assert losses[2] < losses[0]
    raises(lambda: m2.train_step(opt, x, y), vidaction.EINVAL, "another model")
    raises(lambda: m.train_step(opt, x, np.array([0, 1, 2, 3])), vidaction.EINVAL)


@case
def loss_against_numpy():
    r = np.random.RandomState(3)
    z = r.randn(5, 7).astype(np.float32)
    y = r.randint(0, 7, 5)
    loss, d = vidaction.loss(z, y)
    zz = z.astype(np.float64)
    p = np.exp(zz - zz.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    ref = -np.log(p[np.arange(5), y]).mean()
    onehot = np.eye(7)[y]
    assert abs(loss - ref) < 1e-5, (loss, ref)
    assert np.abs(d - (p - onehot) / 5).max() < 1e-6
    raises(lambda: vidaction.loss(z, np.array([0, 1, 2, 3, 9])), vidaction.EINVAL)


@case
def set_head_and_freeze_backbone():
    x, _ = _fixed_data()
    y = np.array([0, 1, 0, 1])
    m = tiny_model(3)
    old = vidaction.SGD(m, lr=0.1)
    m.set_head(2, ["yes", "no"])
    assert m.num_classes == 2 and m.labels == ["yes", "no"]
    assert m.tensor("fc.weight").shape == (2, m.feature_dim)
    raises(lambda: m.train_step(old, x, y), vidaction.ESTATE)
    old.close()
    m.freeze("backbone")
    opt = vidaction.SGD(m, lr=0.5)
    before = m.state_dict()
    losses = [m.train_step(opt, x, y) for _ in range(3)]
    note("fc-only losses:", ["%.4f" % v for v in losses])
    after = m.state_dict()
    changed = sorted(k for k in before if not np.array_equal(before[k], after[k]))
    assert changed == ["fc.bias", "fc.weight"], changed
    assert losses[2] < losses[0]
    # with a rule of its own the optimizer takes the full step; layer4 learns too
    opt2 = vidaction.SGD(m, lr=0.1)
    opt2.set_group("layer4.", 1.0)
    m.train_step(opt2, x, y)
    after2 = m.state_dict()
    changed = {k for k in after if not np.array_equal(after[k], after2[k])}
    assert "layer4.0.conv1.0.0.weight" in changed and "stem.0.weight" not in changed, changed
    m.unfreeze()
    assert m.frozen is None
    m.train_step(opt, x, y, fc_only=False)
    assert not np.array_equal(m.tensor("stem.0.weight"), after2["stem.0.weight"])
    raises(lambda: m.freeze("nothing."), vidaction.EINVAL, "nothing.")
    raises(lambda: m.set_head(0), vidaction.EINVAL)


@case
def missing_files_raise_error_naming_them():
    missing = os.path.join(TMP, "no such dir", "missing.safetensors")
    e = raises(lambda: vidaction.Model.load(missing), vidaction.EIO, missing)
    assert isinstance(e, Exception) and e.message == str(e) and e.name == "EIO"
    raises(lambda: vidaction.Video(os.path.join(TMP, "missing.mp4")), vidaction.EIO,
           "missing.mp4")
    raises(lambda: vidaction.Dataset(os.path.join(TMP, "missing.tsv")), vidaction.EIO,
           "missing.tsv")
    raises(lambda: vidaction.read_tensors(os.path.join(TMP, "missing2.safetensors")),
           vidaction.EIO, "missing2.safetensors")
    bad = os.path.join(TMP, "truncated.safetensors")
    tiny_model().save(bad)
    with open(bad, "r+b") as f:
        f.truncate(100)
    raises(lambda: vidaction.Model.load(bad), None, "truncated.safetensors")
    junk = os.path.join(TMP, "junk.mp4")
    with open(junk, "w") as f:
        f.write("not a video\n")
    raises(lambda: vidaction.Video(junk), vidaction.EDECODE, "junk.mp4")


@case
def errors_carry_code_and_message():
    e = raises(lambda: vidaction.Model.create(depth=19, ctx=CPU), vidaction.EUNSUPPORTED)
    assert "19" in e.message, e.message
    m = tiny_model()
    raises(lambda: m.forward(np.zeros((1, 3, 4, 8, 8), np.float32)), vidaction.EINVAL)
    raises(lambda: m.forward(np.zeros((3, 4, 32, 32), np.float32)), vidaction.EINVAL)
    raises(lambda: m.tensor("nope"), vidaction.EINVAL, "nope")
    raises(lambda: m.set_tensor("fc.bias", np.zeros(7)), vidaction.EINVAL)
    raises(lambda: m.set_meta("arch", "r3d"), vidaction.EINVAL, "arch")
    raises(lambda: vidaction.Model.create(arch="vit"), vidaction.EINVAL, "vit")
    raises(lambda: vidaction.SGD(m, lr=-1), vidaction.EINVAL)
    if "cuda" not in vidaction.features():
        raises(lambda: vidaction.Context(backend="cuda"), vidaction.EUNSUPPORTED)
    raises(lambda: vidaction.Context(backend="cpu", precision="bf16"), vidaction.EUNSUPPORTED)
    # non-C-contiguous and float64 input is converted, not refused
    x = np.asfortranarray(np.random.RandomState(0).randn(1, 3, 4, 32, 32))
    assert np.array_equal(m.forward(x), m.forward(np.ascontiguousarray(x, np.float32)))


def _rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@case
def memory_10000_cycles():
    # in a fresh interpreter, so that what the other cases allocated and freed cannot
    # hide a leak (a freed heap is reused before it grows)
    tiny = video("tiny")
    model_path = os.path.join(TMP, "cycle.safetensors")
    with vidaction.Model.create(depth=10, width=0.0625, num_classes=2, ctx=CPU) as m:
        m.save(model_path)
    out = run([PY, os.path.abspath(__file__), "--memory-child", tiny, model_path])
    note(out.strip())
    r1, r2 = (int(v) for v in re.findall(r"after [0-9,]+ cycles? (\d+) kB", out))
    assert r2 - r1 < 2048, out


def memory_child(tiny, model_path):
    """10,000 create/free cycles of every handle kind; prints VmRSS after 1,000 and 10,000."""
    x = np.random.RandomState(0).randn(1, 3, 1, 16, 16).astype(np.float32)
    keep = vidaction.Model.load(model_path, ctx=CPU)

    def cycle(i):
        # closed in varying orders or left to the garbage collector; a model loaded,
        # run and trained, and a frame decoded, every 10th cycle
        ctx = vidaction.Context(backend="cpu", threads=1)
        v = vidaction.Video(tiny, ctx=ctx)
        s = vidaction.Sampler(ctx=ctx, frames=2, crop=16, short_side=16)
        ev = vidaction.Evaluation(2)
        opt = vidaction.SGD(keep, lr=0.1)
        if i % 10 == 0:
            m = vidaction.Model.load(model_path, ctx=ctx)
            opt = vidaction.SGD(m, lr=0.1)
            m.train_step(opt, x, [i % 2])
            ev.add_video(m.forward(x), [i % 2])
            v.read([i % 5])
            if i % 20 == 0:
                m.close()
        if i % 3 == 0:
            ctx.close(), v.close(), opt.close(), ev.close(), s.close()
        elif i % 3 == 1:
            opt.close(), s.close(), ctx.close(), ev.close(), v.close()

    t = time.time()
    for i in range(1000):
        cycle(i)
    gc.collect()
    r1 = _rss_kb()
    for i in range(1000, 10000):
        cycle(i)
    gc.collect()
    r2 = _rss_kb()
    print("VmRSS after 1,000 cycles %d kB, after 10,000 cycles %d kB: %+d kB (%.1f s)"
          % (r1, r2, r2 - r1, time.time() - t))


@case
def gc_in_any_order():
    rc, out = python("""
        import gc, random, numpy as np, vidaction
        x = np.zeros((2, 3, 2, 16, 16), np.float32); y = np.array([0, 1])
        def model(ctx=None):
            return vidaction.Model.create(depth=10, width=0.0625, num_classes=2, ctx=ctx)
        # the model dropped before its optimizer: the optimizer keeps it
        m = model(); o = vidaction.SGD(m, lr=0.1); del m; gc.collect()
        assert o.model.train_step(o, x, y) > 0; del o; gc.collect()
        # the context dropped (and closed) before the model
        c = vidaction.Context(threads=1); m = model(c); c.close(); del c; gc.collect()
        m.forward(x); del m; gc.collect()
        # a model closed while its optimizer lives: the optimizer still frees safely
        m = model(); o = vidaction.SGD(m, lr=0.1); m.close(); o.step_count; del m; gc.collect()
        o.close(); del o
        # cycles through every kind, collected in whatever order the collector picks
        for seed in range(20):
            r = random.Random(seed)
            c = vidaction.Context(threads=1); m = model(c); o = vidaction.SGD(m, lr=0.1)
            objs = [c, m, o, vidaction.Evaluation(2), vidaction.Sampler()]
            for a in objs:
                a.others = objs  # a reference cycle
            r.shuffle(objs)
            for a in objs[:r.randint(0, 4)]:
                a.close()
            del c, m, o, a, objs
            gc.collect()
        print("no crash")
        """)
    assert rc == 0 and "no crash" in out, "exit %d: %s" % (rc, out[-2000:])


@case
def use_after_close_raises():
    m = tiny_model()
    o = vidaction.SGD(m, lr=0.1)
    m.close()
    m.close()
    assert m.closed
    x, y = _fixed_data(2)
    raises(lambda: m.forward(x), vidaction.ESTATE, "closed")
    raises(lambda: m.num_classes, vidaction.ESTATE)
    raises(lambda: vidaction.SGD(m, lr=0.1), vidaction.ESTATE)
    o.close()
    raises(lambda: o.step(), vidaction.ESTATE)
    with vidaction.Context(threads=1) as c:
        pass
    raises(lambda: c.threads, vidaction.ESTATE)
    raises(lambda: vidaction.Model.create(ctx=c), vidaction.ESTATE)
    with vidaction.Evaluation(2) as ev:
        pass
    raises(lambda: ev.result(), vidaction.ESTATE)
    if HAVE_FFMPEG:
        v = vidaction.Video(video("tiny"))
        v.close()
        raises(lambda: v.read([0]), vidaction.ESTATE)
        raises(lambda: v.info, vidaction.ESTATE)


@case
def dataset_and_loader():
    mf = video("m.tsv")
    ds = vidaction.Dataset(mf)
    assert len(ds) == 6 and ds.num_classes == 2 and ds.classes == ["left", "right"]
    assert ds.epoch_size == 6 and ds.problems == [] and ds.stats["videos"] == 6
    v1 = ds.video(1)
    assert v1["path"].endswith("v1.mp4") and v1["labels"] == [1] and v1["line"] == 2
    s = ds.draw(0, 0, 0)
    assert ds.target(s).tolist() == [1.0 * (c == s["label"]) for c in range(2)]

    def batches(**kw):
        ld = vidaction.Loader(ds, batch=4, clip_len=4, short_side=32, crop=32, threads=2,
                              seed=5, **kw)
        return ld, list(ld)

    ld, bs = batches()
    assert [b.n for b in bs] == [4, 2] and bs[1].last_in_epoch, [b.n for b in bs]
    seen = []
    for b in bs:
        assert b.clips.shape == (b.n, 4, 32, 32, 3) and b.clips.dtype == np.uint8
        assert b.targets.shape == (b.n, 2) and b.labels.dtype == np.int32
        for k in range(b.n):
            assert b.labels[k] == ds.video(int(b.videos[k]))["labels"][0]
            assert b.targets[k, b.labels[k]] == 1
        seen += b.videos.tolist()
    assert sorted(seen) == list(range(6)), seen
    assert ld.next() is None and ld.stats["batches"] == 2
    ld2, bs2 = batches()
    assert all(np.array_equal(a.clips, b.clips) for a, b in zip(bs, bs2))
    ld2.set_state({**ld2.state(), "epoch": 0, "number": 1, "samples": 4})
    assert np.array_equal(ld2.next().clips, bs[1].clips)
    # the dataset may go before its loader
    ld3 = vidaction.Loader(vidaction.Dataset(mf), batch=3, clip_len=4, short_side=32,
                           crop=32, output="f32", epochs=2)
    gc.collect()
    n = [b.clips.shape for b in ld3]
    assert n == [(3, 3, 4, 32, 32)] * 4, n
    # a batch trains a model directly (targets as the dataset says)
    m = tiny_model(2)
    opt = vidaction.SGD(m, lr=0.05)
    losses = [m.train_step(opt, bs[0]) for _ in range(3)]
    assert losses[2] < losses[0], losses


@case
def evaluate_as_cli():
    mf = video("m.tsv")
    ctx1 = vidaction.Context(backend="cpu", threads=1)
    path = os.path.join(TMP, "eval.safetensors")
    with tiny_model(2, ["left", "right"], ctx=ctx1, clip_frames=4, short_side=32,
                    crop=32) as m:
        m.save(path)
    m = vidaction.Model.load(path, ctx=ctx1)
    r = m.evaluate(mf, clips=2)
    assert r["videos"] == 6 and r["clips"] == 12 and r["failed"] == 0
    assert r["confusion"].sum() == 6 and r["confusion"].shape == (2, 2)
    assert [c["name"] for c in r["classes"]] == ["left", "right"]
    cli = json.loads(run([BIN, "--device", "cpu", "eval", path, "--manifest", mf, "--clips",
                          "2", "--json"]))
    for k in ("videos", "clips", "clip_top1", "clip_top5", "video_top1", "video_top5",
              "mean_class_accuracy", "map"):
        assert abs(r[k] - cli[k]) <= 1e-9, (k, r[k], cli[k])
    assert r["confusion"].tolist() == cli["confusion"]
    note("evaluate: video@1 %.3f, mAP %.3f, as `vidaction eval`" % (r["video_top1"], r["map"]))
    ds = vidaction.Dataset(mf, classes=["right", "left"])
    r2 = m.evaluate(ds, clips=1)
    assert r2["videos"] == 6 and [c["name"] for c in r2["classes"]] == ["right", "left"]
    raises(lambda: m.evaluate(vidaction.Dataset(mf, classes=["a", "left", "right"])),
           vidaction.EMISMATCH)


@case
def evaluation_protocol():
    with vidaction.Evaluation(3) as ev:
        ev.add_video([[3, 1, 0], [2, 0, 1]], 0)
        ev.add_video([[0, 2, 1]], [2])
        r = ev.result()
        assert (r["videos"], r["clips"], r["video_top1"], r["clip_top1"]) == (2, 3, 0.5, 2 / 3)
        assert ev.confusion().tolist() == [[1, 0, 0], [0, 0, 0], [0, 1, 0]]
        s = ev.video_scores(1)
        e = np.exp(np.array([0, 2, 1.0]))
        assert np.abs(s - e / e.sum()).max() < 1e-6
        assert ev.class_stats(1)[0] == 0
        raises(lambda: ev.add_video([[0, np.nan, 0]], 0), vidaction.ENONFINITE)


@case
def checkpoint_roundtrip():
    x, y = _fixed_data()
    m = tiny_model()
    o = vidaction.SGD(m, lr=0.05)
    for _ in range(2):
        m.train_step(o, x, y)
    path = os.path.join(TMP, "ckpt.safetensors")
    vidaction.save_checkpoint(path, m, o)
    m2 = tiny_model()
    o2 = vidaction.SGD(m2, lr=0.05)
    vidaction.load_checkpoint(path, m2, o2)
    assert o2.step_count == 2
    for k in ("stem.0.weight", "fc.weight", "layer1.0.conv1.1.running_mean"):
        assert np.array_equal(m.tensor(k), m2.tensor(k)), k
    assert np.array_equal(o.buffer("fc.weight"), o2.buffer("fc.weight"))
    assert m.train_step(o, x, y) == m2.train_step(o2, x, y)


@case
def tensor_files():
    path = os.path.join(TMP, "t.safetensors")
    t = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.arange(4, dtype=np.uint8),
         "c": np.array([-1, 2**40], dtype=np.int64)}
    vidaction.write_tensors(path, t)
    back = vidaction.read_tensors(path)
    assert list(back) == ["a", "b", "c"]
    assert all(np.array_equal(back[k], t[k]) and back[k].dtype == t[k].dtype for k in t)
    _, _, ref = read_safetensors(path)
    assert all(np.array_equal(ref[k], t[k]) for k in t)


@case
def threads_run_models_concurrently():
    x = np.random.RandomState(2).randn(2, 3, 4, 32, 32).astype(np.float32)
    models = [tiny_model(ctx=vidaction.Context(backend="cpu", threads=1, seed=s))
              for s in range(2)]
    want = [m.forward(x) for m in models]
    got = [None, None]

    def work(k):
        for _ in range(5):
            got[k] = models[k].forward(x)

    ts = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert all(np.array_equal(a, b) for a, b in zip(want, got))
    # the per-thread last error reaches the thread that failed
    errs = []

    def fail():
        try:
            vidaction.Model.load(os.path.join(TMP, "thread-missing.safetensors"))
        except vidaction.Error as e:
            errs.append(str(e))

    t = threading.Thread(target=fail)
    t.start()
    t.join()
    assert errs and "thread-missing.safetensors" in errs[0], errs


@case
def synth_and_class_names():
    # the Python call writes what `vidaction synth` writes, byte for byte
    a, b = os.path.join(TMP, "synth_py"), os.path.join(TMP, "synth_cli")
    vidaction.synth(a, "target-k", videos=8, classes=2, width=48, height=32, seed=5,
                    min_seconds=1, max_seconds=1.5, ctx=CPU)
    run([BIN, "synth", b, "--preset", "target-k", "--videos", "8", "--classes", "2", "--size",
         "48x32", "--seed", "5", "--seconds", "1-1.5", "--threads", "1"])
    for name in ("train.tsv", "test.tsv", "truth.jsonl", "videos/000007.mp4"):
        with open(os.path.join(a, name), "rb") as f, open(os.path.join(b, name), "rb") as g:
            assert f.read() == g.read(), name
    verbs = vidaction.synth_verbs()
    assert len(verbs) == 12 and verbs[0] == "move left", verbs
    assert vidaction.synth_verb_reverse("grow") == "shrink"
    assert vidaction.synth_verb_reverse("bounce") is None
    assert vidaction.synth_nouns()[8] == "hexagon"
    try:
        vidaction.synth(a, "target-k", colour=3)
        raise AssertionError("an unknown field was accepted")
    except vidaction.Error as e:
        assert "colour" in str(e), e
    try:
        vidaction.synth(a, "target-k", width=81, ctx=CPU)
        raise AssertionError("an odd width was accepted")
    except vidaction.Error as e:
        assert e.code == vidaction.EINVAL and "width" in str(e), e
    # vida_model_label: the names set_head wrote, NULL out of range
    m = vidaction.Model.create(arch="r2plus1d", depth=10, width=0.25, num_classes=3, ctx=CPU)
    m.set_head(2, ["left \"quoted\"", "right"])
    L = _capi.lib()
    assert L.vida_model_label(m._h(), 0).decode() == 'left "quoted"'
    assert L.vida_model_label(m._h(), 1).decode() == "right"
    assert L.vida_model_label(m._h(), 2) is None
    # vida_sampler_params_from_model: the model's geometry, uniform clips, float32
    m.set_meta("clip_frames", "4")
    m.set_meta("crop", "32")
    sp = _capi.SamplerParams()
    sp.size = ctypes.sizeof(sp)
    check_rc = L.vida_sampler_params_from_model(ctypes.byref(sp), m._h(), 3)
    assert check_rc == 0 and sp.frames == 4 and sp.crop == 32 and sp.clips == 3, (sp.frames, sp.crop)
    m.set_meta("std", "1,0,1")
    assert L.vida_sampler_params_from_model(ctypes.byref(sp), m._h(), 3) == vidaction.EFORMAT
    m.close()


@case
def pip_install():
    rc, _ = python("import setuptools, pip")
    if rc != 0:
        raise Skip("needs pip and setuptools")
    src = os.path.join(TMP, "pysrc")
    shutil.copytree(os.path.join(ROOT, "bindings", "python"), src,
                    ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    site = os.path.join(TMP, "site")
    run([PY, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps",
         "--no-index", "--target", site, src], env=dict(os.environ, PIP_NO_CACHE_DIR="1"))
    code = ("import vidaction, sys; assert vidaction.__file__.startswith(%r), vidaction.__file__;"
            "print(vidaction.version(), vidaction.library_path())" % site)
    env = dict(os.environ, PYTHONPATH=site,
               VIDACTION_LIBRARY=os.path.join(ROOT, "lib", "libvidaction.so.0"))
    out = run([PY, "-c", code], env=env, cwd=TMP)
    assert out.startswith(vidaction.version()), out
    run([PY, "-m", "vidaction.convert", "--help"], env=env, cwd=TMP)


def main():
    global CPU
    try:
        CPU = vidaction.Context(backend="cpu", threads=2, seed=1)
    except vidaction.Error as e:
        shutil.rmtree(TMP, ignore_errors=True)
        print("FAIL test_python__library: %s" % e)
        print("0 passed, 1 failed")
        return 1
    if sys.argv[1:2] == ["--memory-child"]:
        try:
            memory_child(*sys.argv[2:4])
        finally:
            shutil.rmtree(TMP, ignore_errors=True)
        return 0
    only = set(sys.argv[1:])
    passed = failed = 0
    t0 = time.time()
    try:
        for fn in CASES:
            if only and fn.__name__ not in only:
                continue
            name = "test_python__" + fn.__name__
            t = time.time()
            try:
                fn()
            except Skip as e:
                print("skip %s: %s" % (name, e))
                continue
            except Exception as e:  # noqa: BLE001 -- every failure is a FAIL line
                failed += 1
                print("FAIL %s: %s: %s" % (name, type(e).__name__, str(e).splitlines()[0]
                                             if str(e) else ""))
                for line in traceback.format_exc().splitlines()[-12:]:
                    print("    " + line)
                continue
            passed += 1
            print("ok   %s (%.1f s)" % (name, time.time() - t))
            sys.stdout.flush()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    print("  total %.1f s" % (time.time() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
