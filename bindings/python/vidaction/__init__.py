"""libvidaction's Python side: ctypes bindings of the C library, and the
checkpoint converter.

    import vidaction
    m = vidaction.Model.load("model.safetensors")
    print(m.classify("video.mp4", clips=10, top=5))

The bindings (docs/python.md) need numpy and libvidaction.so.0, found through
$VIDACTION_LIBRARY, then the build tree this package sits in, then the system;
the library is loaded on first use. vidaction.convert turns torchvision,
ig65m-pytorch and VMZ (Caffe2) checkpoints into libvidaction model files; see
`python -m vidaction.convert -h`. Importing this package needs neither
PyTorch nor the C library.
"""

__version__ = "0.5.0"

from ._capi import (EDECODE, EDEVICE, EFORMAT, EINVAL, EIO, EMISMATCH, ENOMEM, ENONFINITE,
                    ECANCELLED, ESTATE, EUNSUPPORTED, OK, Error, LibraryNotFound)
from ._core import (Context, default_context, device_count, features, features_string,
                    library_path, loss, read_tensors, strerror, version, version_number,
                    write_tensors)
from .video import Sampler, Video, VideoInfo
from .model import Model
from .data import Batch, Dataset, Evaluation, Loader
from .train import SGD, load_checkpoint, save_checkpoint
from .synth import synth, synth_nouns, synth_verb_reverse, synth_verbs

__all__ = [
    "Batch", "Context", "Dataset", "Error", "Evaluation", "LibraryNotFound", "Loader", "Model",
    "SGD", "Sampler", "Video", "VideoInfo", "default_context", "device_count", "features",
    "features_string", "library_path", "load_checkpoint", "loss", "read_tensors",
    "save_checkpoint", "strerror", "synth", "synth_nouns", "synth_verb_reverse", "synth_verbs",
    "version", "version_number", "write_tensors",
    "OK", "EINVAL", "EIO", "EFORMAT", "EDECODE", "EUNSUPPORTED", "ENOMEM", "EDEVICE",
    "ENONFINITE", "ECANCELLED", "ESTATE", "EMISMATCH",
]
