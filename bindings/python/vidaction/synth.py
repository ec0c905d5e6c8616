"""SynthActions (vida_synth): procedural action videos with hashtag-like labels.

    import vidaction
    vidaction.synth("data/pre", "pretrain", videos=500, seed=3)
    vidaction.synth("data/ss", "target-ss", verbs=10, max_distractors=0)
    vidaction.synth_verbs()        # ["move left", "move right", ...]

Presets: "pretrain", "target-k", "target-ss", "target-epic", "demo"; keyword
arguments set the fields of vida_synth_params (include/vidaction/synth.h):
videos, seed, width, height, fps, min_seconds, max_seconds,
action_min_seconds, action_max_seconds, classes, test_fraction, zipf,
p_missing, p_wrong, max_distractors, verbs, codec ("auto", "h264", "mpeg4").
The files are described in docs/synthactions.md.
"""

import ctypes

from . import _capi
from ._capi import Error, check, lib
from ._core import _ctx_or_default, _enum

PRESETS = {"pretrain": 1, "target-k": 2, "target-ss": 3, "target-epic": 4, "demo": 5}
CODECS = {"auto": 0, "h264": 1, "mpeg4": 2}


def synth(out_dir, preset, ctx=None, **fields):
    """Writes a SynthActions data set into out_dir (created if missing); returns out_dir."""
    L = lib()
    code = _enum(PRESETS, preset, "preset")
    p = _capi.params(_capi.SynthParams, lambda q: L.vida_synth_params_init(q, code))
    names = {f[0] for f in _capi.SynthParams._fields_} - {"size", "preset"}
    for k, v in fields.items():
        if k not in names:
            raise Error(_capi.EINVAL, "synth: unknown field %r (one of %s)" % (k, ", ".join(sorted(names))))
        setattr(p, k, _enum(CODECS, v, "codec") if k == "codec" else v)
    c = _ctx_or_default(ctx)
    check(L.vida_synth_generate(c._h(), _capi.path_arg(out_dir), ctypes.byref(p)))
    return out_dir


def synth_verbs():
    """The 12 verbs, in their numbering."""
    L = lib()
    return [L.vida_synth_verb_name(i).decode() for i in range(L.vida_synth_n_verbs())]


def synth_nouns():
    """The 12 nouns (0-7 in pretrain/target-k/target-epic, 8-11 only in target-ss)."""
    L = lib()
    return [L.vida_synth_noun_name(i).decode() for i in range(L.vida_synth_n_nouns())]


def synth_verb_reverse(verb):
    """The verb played backwards (by name or number), or None for bounce and shake."""
    L = lib()
    verbs = synth_verbs()
    i = verbs.index(verb) if isinstance(verb, str) else int(verb)
    r = L.vida_synth_verb_reverse(i)
    return None if r < 0 else verbs[r]
