"""The C side of the bindings: finding libvidaction, its structs and prototypes.

Everything here mirrors include/vidaction/*.h exactly (test/python checks the
struct layouts against the C compiler's sizeof/offsetof). The library is
loaded on first use, not at import, so `import vidaction` and
`python -m vidaction.convert` work without it.

Where the library is looked for, first hit wins:
  1. the file named by the environment variable VIDACTION_LIBRARY (only it);
  2. the build tree: lib/libvidaction.so.0 of the source checkout this
     package sits in (bindings/python/vidaction -> ../../../lib);
  3. the system: "libvidaction.so.0" through the dynamic loader
     (LD_LIBRARY_PATH, ld.so.cache), then ctypes.util.find_library.
"""

import ctypes
import ctypes.util
import os
import threading
from ctypes import (POINTER, Structure, c_char, c_char_p, c_double, c_float, c_int, c_int32,
                    c_int64, c_size_t, c_uint, c_uint64, c_void_p)

byref = ctypes.byref

# ---- status codes (common.h) ------------------------------------------------

OK = 0
EINVAL = -1
EIO = -2
EFORMAT = -3
EDECODE = -4
EUNSUPPORTED = -5
ENOMEM = -6
EDEVICE = -7
ENONFINITE = -8
ECANCELLED = -9
ESTATE = -10
EMISMATCH = -11

CODE_NAMES = {
    OK: "OK", EINVAL: "EINVAL", EIO: "EIO", EFORMAT: "EFORMAT", EDECODE: "EDECODE",
    EUNSUPPORTED: "EUNSUPPORTED", ENOMEM: "ENOMEM", EDEVICE: "EDEVICE",
    ENONFINITE: "ENONFINITE", ECANCELLED: "ECANCELLED", ESTATE: "ESTATE",
    EMISMATCH: "EMISMATCH",
}

FEATURE_BITS = (("cpu", 1 << 0), ("cblas", 1 << 1), ("cuda", 1 << 2), ("cudnn", 1 << 3),
                ("ffmpeg", 1 << 4), ("mpi", 1 << 5), ("nccl", 1 << 6))

DTYPE_F32, DTYPE_U8, DTYPE_BF16, DTYPE_I32, DTYPE_I64 = 1, 2, 3, 4, 5
LAYOUT_ANY, LAYOUT_NCTHW, LAYOUT_NTHWC = 0, 1, 2
MAX_DIMS = 8

BACKENDS = {"auto": 0, "cpu": 1, "cuda": 2}
PRECISIONS = {"fp32": 0, "bf16": 1, "fp16": 2}
ARCHS = {"r2plus1d": 1, "r3d": 2, "mc3": 3, "r2d": 4}
MIDPLANES = {"per-conv": 1, "per-block": 2}
MODE_EVAL, MODE_TRAIN = 0, 1
LOSSES = {"softmax_ce": 1, "softmax_ce_soft": 2, "sigmoid_bce": 3}
CLIP_MODES = {"random": 0, "uniform": 1, "center": 2, "dense": 3, "start": 4}
CROP_MODES = {"center": 0, "random": 1, "three": 2, "none": 3}
SAMPLE_OUTPUTS = {"u8": 0, "f32": 1}
SHORT_VIDEO = {"repeat_last": 0, "loop": 1, "error": 2}
SCHEDULES = {"constant": 0, "step": 1, "cosine": 2}
MAX_MILESTONES = 16
LABEL_SPACES = {"target": 0, "verb": 1, "noun": 2, "verb_noun": 3, "verb+noun": 3}
TARGETS = {"single": 0, "soft": 1, "multihot": 2}
RESAMPLES = {"none": 0, "natural": 1, "sqrt": 2, "uniform": 3}
PREFERS = {"random": 0, "short": 1, "long": 2}
EVAL_KINDS = {"softmax": 0, "sigmoid": 1}


class Error(Exception):
    """A libvidaction call failed.

    code     the negative status (vidaction.EIO, ...); None when the library
             itself could not be loaded
    message  the library's message (vida_last_error()), naming the file,
             tensor, frame or argument that was wrong
    """

    def __init__(self, code, message):
        Exception.__init__(self, message)
        self.code = code
        self.message = message

    @property
    def name(self):
        """The code's name without the VIDA_ prefix, e.g. "EIO"."""
        return CODE_NAMES.get(self.code, str(self.code))

    def __repr__(self):
        return "vidaction.Error(%s, %r)" % (self.name, self.message)


class LibraryNotFound(Error, OSError):
    """libvidaction.so.0 could not be loaded (the message lists where it was looked for)."""

    def __init__(self, message):
        Error.__init__(self, None, message)


# ---- structs (field for field as in the headers) ----------------------------

class Tensor(Structure):  # vida_tensor
    _fields_ = [("data", c_void_p), ("dtype", c_int), ("layout", c_int), ("ndim", c_int),
                ("shape", c_int64 * MAX_DIMS)]


LOG_FN = ctypes.CFUNCTYPE(None, c_int, c_char_p, c_void_p)


class ContextParams(Structure):  # vida_context_params
    _fields_ = [("size", c_size_t), ("backend", c_int), ("device", c_int), ("n_threads", c_int),
                ("seed", c_uint64), ("log_level", c_int), ("log", c_void_p),
                ("log_user_data", c_void_p)]


class VideoParams(Structure):  # vida_video_params
    _fields_ = [("size", c_size_t), ("max_pixels", c_int64), ("max_decode_frames", c_int64),
                ("deadline", c_double), ("threads", c_int), ("stream", c_int)]


class VideoInfo(Structure):  # vida_video_info
    _fields_ = [("size", c_size_t), ("n_frames", c_int64), ("header_frames", c_int64),
                ("duration", c_double), ("avg_fps", c_double), ("real_fps", c_double),
                ("start_time", c_double), ("vfr", c_int), ("width", c_int), ("height", c_int),
                ("coded_width", c_int), ("coded_height", c_int), ("rotation", c_int),
                ("n_keyframes", c_int64), ("max_keyframe_gap", c_int64), ("bit_depth", c_int),
                ("full_range", c_int), ("sequential", c_int), ("codec", c_char * 32),
                ("format", c_char * 64), ("pix_fmt", c_char * 32)]


class FrameGeometry(Structure):  # vida_frame_geometry
    _fields_ = [("size", c_size_t), ("short_side", c_int), ("scale_width", c_int),
                ("scale_height", c_int), ("crop_width", c_int), ("crop_height", c_int),
                ("crop_x", c_int), ("crop_y", c_int), ("flip", c_int)]


class VideoStats(Structure):  # vida_video_stats
    _fields_ = [("size", c_size_t), ("seeks", c_int64), ("packets", c_int64),
                ("frames_decoded", c_int64), ("frames_converted", c_int64)]


class SamplerParams(Structure):  # vida_sampler_params
    _fields_ = [("size", c_size_t), ("frames", c_int), ("stride", c_int), ("fps", c_double),
                ("clip_mode", c_int), ("clips", c_int), ("max_minutes", c_double),
                ("start_frame", c_int64), ("start_time", c_double), ("dense_step", c_int),
                ("short_side_min", c_int), ("short_side_max", c_int), ("crop", c_int),
                ("crop_mode", c_int), ("flip", c_int), ("output", c_int),
                ("mean", c_float * 3), ("std", c_float * 3), ("short_video", c_int)]


class ModelParams(Structure):  # vida_model_params
    _fields_ = [("size", c_size_t), ("arch", c_int), ("depth", c_int), ("midplanes", c_int),
                ("pool1", c_int), ("num_classes", c_int), ("width", c_float),
                ("bn_eps", c_float), ("bn_momentum", c_float), ("dropout", c_float)]


class OptimizerParams(Structure):  # vida_optimizer_params
    _fields_ = [("size", c_size_t), ("lr", c_double), ("momentum", c_double),
                ("nesterov", c_int), ("weight_decay", c_double),
                ("decay_norm_and_bias", c_int), ("schedule", c_int),
                ("warmup_steps", c_int64), ("warmup_start", c_double),
                ("total_steps", c_int64), ("min_lr", c_double), ("n_milestones", c_int),
                ("milestones", c_int64 * MAX_MILESTONES), ("gamma", c_double),
                ("batch", c_int), ("base_batch", c_int), ("clip_norm", c_double)]


class OptimizerStats(Structure):  # vida_optimizer_stats
    _fields_ = [("size", c_size_t), ("steps", c_int64), ("skipped", c_int64),
                ("consecutive_skips", c_int64), ("last_grad_norm", c_double),
                ("last_lr", c_double)]


class DatasetParams(Structure):  # vida_dataset_params
    _fields_ = [("size", c_size_t), ("root", c_char_p), ("taxonomy", c_char_p),
                ("label_space", c_int), ("min_count", c_int), ("target", c_int),
                ("resample", c_int), ("draws", c_int64), ("max_videos", c_int64),
                ("max_minutes", c_double), ("clips_per_video", c_int), ("prefer", c_int),
                ("seed", c_uint64), ("classes", POINTER(c_char_p)), ("n_classes", c_int),
                ("check_files", c_int), ("strict", c_int), ("probe_durations", c_int)]


class DatasetStats(Structure):  # vida_dataset_stats
    _fields_ = [("size", c_size_t), ("lines", c_int64), ("bad_lines", c_int64),
                ("missing", c_int64), ("unlabelled", c_int64), ("over_budget", c_int64),
                ("unprobed", c_int64), ("videos", c_int64), ("classes", c_int64),
                ("epoch_size", c_int64), ("minutes", c_double)]


class DatasetVideo(Structure):  # vida_dataset_video
    _fields_ = [("size", c_size_t), ("path", c_char_p), ("line", c_int64),
                ("duration", c_double), ("start", c_double), ("end", c_double),
                ("n_labels", c_int), ("labels", POINTER(c_int32))]


class DatasetSample(Structure):  # vida_dataset_sample
    _fields_ = [("size", c_size_t), ("video", c_int64), ("label", c_int32), ("slot", c_int32)]


class LoaderParams(Structure):  # vida_loader_params
    _fields_ = [("size", c_size_t), ("batch", c_int), ("threads", c_int), ("seed", c_uint64),
                ("rank", c_int), ("world", c_int), ("epochs", c_int64), ("drop_last", c_int),
                ("prefetch", c_int), ("max_bytes", c_size_t), ("max_failures", c_double),
                ("failure_grace", c_int64), ("max_pixels", c_int64), ("deadline", c_double)]


class Batch(Structure):  # vida_batch
    _fields_ = [("size", c_size_t), ("end", c_int), ("n", c_int64), ("views", c_int64),
                ("clips", Tensor), ("targets", Tensor), ("labels", POINTER(c_int32)),
                ("videos", POINTER(c_int64)), ("draws", POINTER(c_int64)),
                ("epoch", c_int64), ("number", c_int64), ("failed", c_int64),
                ("last_in_epoch", c_int)]


class LoaderState(Structure):  # vida_loader_state
    _fields_ = [("size", c_size_t), ("seed", c_uint64), ("epoch", c_int64), ("number", c_int64),
                ("samples", c_int64), ("failures", c_int64), ("batch", c_int64),
                ("rank", c_int64), ("world", c_int64), ("dataset_id", c_uint64)]


class LoaderStats(Structure):  # vida_loader_stats
    _fields_ = [("size", c_size_t), ("samples", c_int64), ("failures", c_int64),
                ("failed_videos", c_int64), ("batches", c_int64), ("ready", c_int64),
                ("slots", c_int64), ("batch_bytes", c_size_t), ("bytes", c_size_t),
                ("decode_seconds", c_double), ("wait_seconds", c_double)]


class EvalResult(Structure):  # vida_eval_result
    _fields_ = [("size", c_size_t), ("videos", c_int64), ("clips", c_int64),
                ("clip_top1", c_double), ("clip_top5", c_double), ("video_top1", c_double),
                ("video_top5", c_double), ("mean_class_accuracy", c_double), ("map", c_double)]


ALLREDUCE_FN = ctypes.CFUNCTYPE(c_int, POINTER(c_float), c_int64, c_void_p)


class DistParams(Structure):  # vida_dist_params
    _fields_ = [("size", c_size_t), ("backend", c_int), ("bucket_bytes", c_size_t),
                ("rank", c_int), ("world", c_int), ("allreduce", ALLREDUCE_FN),
                ("user_data", c_void_p)]


class SynthParams(Structure):  # vida_synth_params
    _fields_ = [("size", c_size_t), ("preset", c_int), ("videos", c_int64), ("seed", c_uint64),
                ("width", c_int), ("height", c_int), ("fps", c_int),
                ("min_seconds", c_double), ("max_seconds", c_double),
                ("action_min_seconds", c_double), ("action_max_seconds", c_double),
                ("classes", c_int), ("test_fraction", c_double), ("zipf", c_double),
                ("p_missing", c_double), ("p_wrong", c_double), ("max_distractors", c_int),
                ("verbs", c_int), ("codec", c_int)]


# Every struct above with its C name, for the layout test.
STRUCTS = {
    "vida_tensor": Tensor, "vida_context_params": ContextParams,
    "vida_video_params": VideoParams, "vida_video_info": VideoInfo,
    "vida_frame_geometry": FrameGeometry, "vida_video_stats": VideoStats,
    "vida_sampler_params": SamplerParams, "vida_model_params": ModelParams,
    "vida_optimizer_params": OptimizerParams, "vida_optimizer_stats": OptimizerStats,
    "vida_dataset_params": DatasetParams, "vida_dataset_stats": DatasetStats,
    "vida_dataset_video": DatasetVideo, "vida_dataset_sample": DatasetSample,
    "vida_loader_params": LoaderParams, "vida_batch": Batch, "vida_loader_state": LoaderState,
    "vida_loader_stats": LoaderStats, "vida_eval_result": EvalResult,
    "vida_dist_params": DistParams, "vida_synth_params": SynthParams,
}

# ---- prototypes -------------------------------------------------------------

_P = c_void_p  # every opaque handle
_I64P = POINTER(c_int64)
_I32P = POINTER(c_int32)
_F32P = POINTER(c_float)
_U8P = POINTER(ctypes.c_uint8)
_TP = POINTER(Tensor)

# name: (restype, argtypes)
PROTOTYPES = {
    # common.h
    "vida_strerror": (c_char_p, [c_int]),
    "vida_last_error": (c_char_p, []),
    "vida_clear_error": (None, []),
    "vida_version_number": (c_int, []),
    "vida_version_string": (c_char_p, []),
    "vida_features": (c_uint, []),
    "vida_features_string": (c_char_p, []),
    "vida_tensor_f32": (None, [_TP, _F32P, c_int, _I64P]),
    "vida_tensor_numel": (c_int64, [_TP]),
    # context.h
    "vida_context_params_init": (None, [POINTER(ContextParams)]),
    "vida_context_create": (c_int, [POINTER(_P), POINTER(ContextParams)]),
    "vida_context_free": (None, [_P]),
    "vida_context_backend": (c_int, [_P]),
    "vida_context_set_precision": (c_int, [_P, c_int]),
    "vida_context_device_name": (c_char_p, [_P]),
    "vida_context_n_threads": (c_int, [_P]),
    "vida_device_count": (c_int, []),
    # video.h
    "vida_video_params_init": (None, [POINTER(VideoParams)]),
    "vida_video_open": (c_int, [POINTER(_P), _P, c_char_p, POINTER(VideoParams)]),
    "vida_video_free": (None, [_P]),
    "vida_video_get_info": (c_int, [_P, POINTER(VideoInfo)]),
    "vida_video_frame_time": (c_int, [_P, c_int64, POINTER(c_double)]),
    "vida_video_frame_at": (c_int, [_P, c_double, _I64P]),
    "vida_frame_geometry_init": (None, [POINTER(FrameGeometry)]),
    "vida_video_output_size": (c_int, [_P, POINTER(FrameGeometry), POINTER(c_int),
                                       POINTER(c_int)]),
    "vida_video_read": (c_int, [_P, _I64P, c_int64, POINTER(FrameGeometry), _U8P, c_size_t]),
    "vida_video_get_stats": (c_int, [_P, POINTER(VideoStats)]),
    # sampler.h
    "vida_sampler_params_init": (None, [POINTER(SamplerParams)]),
    "vida_sampler_create": (c_int, [POINTER(_P), _P, POINTER(SamplerParams)]),
    "vida_sampler_free": (None, [_P]),
    "vida_sampler_get_params": (c_int, [_P, POINTER(SamplerParams)]),
    "vida_sampler_plan": (c_int, [_P, _P, _I64P, _I64P]),
    "vida_sampler_indices": (c_int, [_P, _P, c_uint64, _I64P, c_size_t]),
    "vida_sampler_sample": (c_int, [_P, _P, c_uint64, c_void_p, c_size_t, _I64P, c_size_t]),
    "vida_sampler_indices_window": (c_int, [_P, _P, c_uint64, c_double, c_double, _I64P,
                                            c_size_t]),
    "vida_sampler_sample_window": (c_int, [_P, _P, c_uint64, c_double, c_double, c_void_p,
                                           c_size_t, _I64P, c_size_t]),
    # model.h
    "vida_model_params_init": (None, [POINTER(ModelParams)]),
    "vida_model_create": (c_int, [POINTER(_P), _P, POINTER(ModelParams)]),
    "vida_model_load": (c_int, [POINTER(_P), _P, c_char_p]),
    "vida_model_save": (c_int, [_P, c_char_p]),
    "vida_model_free": (None, [_P]),
    "vida_model_get_params": (c_int, [_P, POINTER(ModelParams)]),
    "vida_model_feature_dim": (c_int, [_P]),
    "vida_model_num_classes": (c_int, [_P]),
    "vida_model_set_head": (c_int, [_P, c_int, POINTER(c_char_p)]),
    # dist.h
    "vida_dist_params_init": (None, [POINTER(DistParams)]),
    "vida_dist_create": (c_int, [POINTER(_P), POINTER(DistParams)]),
    "vida_dist_free": (None, [_P]),
    "vida_dist_rank": (c_int, [_P]),
    "vida_dist_world": (c_int, [_P]),
    "vida_dist_attach": (c_int, [_P, _P]),
    "vida_dist_barrier": (c_int, [_P]),
    "vida_dist_all_ok": (c_int, [_P, c_int, POINTER(c_int)]),
    # synth.h
    "vida_model_label": (c_char_p, [_P, c_int]),
    "vida_sampler_params_from_model": (c_int, [POINTER(SamplerParams), _P, c_int]),
    "vida_synth_params_init": (None, [POINTER(SynthParams), c_int]),
    "vida_synth_generate": (c_int, [_P, c_char_p, POINTER(SynthParams)]),
    "vida_synth_n_verbs": (c_int, []),
    "vida_synth_n_nouns": (c_int, []),
    "vida_synth_verb_name": (c_char_p, [c_int]),
    "vida_synth_noun_name": (c_char_p, [c_int]),
    "vida_synth_verb_reverse": (c_int, [c_int]),
    "vida_model_num_params": (c_int64, [_P]),
    "vida_model_set_mode": (c_int, [_P, c_int]),
    "vida_model_forward": (c_int, [_P, _TP, _TP, _TP]),
    "vida_model_zero_grad": (c_int, [_P]),
    "vida_model_backward": (c_int, [_P, _TP, _TP]),
    "vida_model_n_tensors": (c_int, [_P]),
    "vida_model_tensor_info": (c_int, [_P, c_int, POINTER(c_char_p), POINTER(c_int), _I64P,
                                       POINTER(c_int)]),
    "vida_model_get_tensor": (c_int, [_P, c_char_p, _F32P, c_int64]),
    "vida_model_set_tensor": (c_int, [_P, c_char_p, _F32P, c_int64]),
    "vida_model_get_grad": (c_int, [_P, c_char_p, _F32P, c_int64]),
    "vida_model_get_meta": (c_char_p, [_P, c_char_p]),
    "vida_model_set_meta": (c_int, [_P, c_char_p, c_char_p]),
    "vida_loss": (c_int, [c_int, _TP, _TP, _F32P, _TP]),
    # tensorfile.h
    "vida_tensorfile_read": (c_int, [POINTER(_P), c_char_p]),
    "vida_tensorfile_free": (None, [_P]),
    "vida_tensorfile_count": (c_int, [_P]),
    "vida_tensorfile_name": (c_int, [_P, c_int, POINTER(c_char_p)]),
    "vida_tensorfile_get": (c_int, [_P, c_char_p, _TP]),
    "vida_tensorfile_write": (c_int, [c_char_p, c_int, POINTER(c_char_p), _TP]),
    # dataset.h
    "vida_dataset_params_init": (None, [POINTER(DatasetParams)]),
    "vida_dataset_open": (c_int, [POINTER(_P), _P, c_char_p, POINTER(DatasetParams)]),
    "vida_dataset_free": (None, [_P]),
    "vida_dataset_get_stats": (c_int, [_P, POINTER(DatasetStats)]),
    "vida_dataset_size": (c_int64, [_P]),
    "vida_dataset_n_classes": (c_int64, [_P]),
    "vida_dataset_epoch_size": (c_int64, [_P]),
    "vida_dataset_label_name": (c_char_p, [_P, c_int64]),
    "vida_dataset_label_videos": (c_int64, [_P, c_int64]),
    "vida_dataset_n_problems": (c_int64, [_P]),
    "vida_dataset_problem": (c_char_p, [_P, c_int64]),
    "vida_dataset_get_video": (c_int, [_P, c_int64, POINTER(DatasetVideo)]),
    "vida_dataset_draw": (c_int, [_P, c_uint64, c_int64, c_int64, POINTER(DatasetSample)]),
    "vida_dataset_target": (c_int, [_P, POINTER(DatasetSample), _F32P, c_size_t]),
    # loader.h
    "vida_loader_params_init": (None, [POINTER(LoaderParams)]),
    "vida_loader_create": (c_int, [POINTER(_P), _P, _P, _P, POINTER(LoaderParams)]),
    "vida_loader_free": (None, [_P]),
    "vida_loader_next": (c_int, [_P, POINTER(Batch)]),
    "vida_loader_get_state": (c_int, [_P, POINTER(LoaderState)]),
    "vida_loader_set_state": (c_int, [_P, POINTER(LoaderState)]),
    "vida_loader_get_stats": (c_int, [_P, POINTER(LoaderStats)]),
    "vida_loader_failure": (c_int, [_P, c_int64, _I64P, POINTER(c_char_p)]),
    # optimizer.h
    "vida_optimizer_params_init": (None, [POINTER(OptimizerParams)]),
    "vida_optimizer_create": (c_int, [POINTER(_P), _P, POINTER(OptimizerParams)]),
    "vida_optimizer_free": (None, [_P]),
    "vida_optimizer_set_group": (c_int, [_P, c_char_p, c_double, c_double]),
    "vida_optimizer_step": (c_int, [_P]),
    "vida_optimizer_lr": (c_double, [_P, c_int64]),
    "vida_optimizer_get_stats": (c_int, [_P, POINTER(OptimizerStats)]),
    "vida_optimizer_step_count": (c_int64, [_P]),
    "vida_optimizer_set_step_count": (c_int, [_P, c_int64]),
    "vida_optimizer_get_buffer": (c_int, [_P, c_char_p, _F32P, c_int64]),
    "vida_optimizer_set_buffer": (c_int, [_P, c_char_p, _F32P, c_int64]),
    # eval.h
    "vida_eval_create": (c_int, [POINTER(_P), c_int64, c_int]),
    "vida_eval_free": (None, [_P]),
    "vida_eval_add_video": (c_int, [_P, _F32P, c_int64, _I32P, c_int]),
    "vida_eval_get_result": (c_int, [_P, POINTER(EvalResult)]),
    "vida_eval_class": (c_int, [_P, c_int64, _I64P, POINTER(c_double), POINTER(c_double)]),
    "vida_eval_confusion": (c_int, [_P, _I64P, c_size_t]),
    "vida_eval_video_scores": (c_int, [_P, c_int64, _F32P, c_size_t]),
    # checkpoint.h
    "vida_checkpoint_save": (c_int, [c_char_p, _P, _P, POINTER(LoaderState)]),
    "vida_checkpoint_load": (c_int, [c_char_p, _P, _P, POINTER(LoaderState)]),
    # train.h
    "vida_train_step": (c_int, [_P, _P, POINTER(Batch), c_int, _F32P]),
    "vida_train_step_fc": (c_int, [_P, _P, POINTER(Batch), c_int, _F32P]),
}

# ---- loading ----------------------------------------------------------------

SONAME = "libvidaction.so.0"


def _build_tree_library():
    """lib/libvidaction.so.0 of the checkout holding this package, or None."""
    pkg = os.path.dirname(os.path.abspath(__file__))
    root = os.path.normpath(os.path.join(pkg, os.pardir, os.pardir, os.pardir))
    lib = os.path.join(root, "lib", SONAME)
    if os.path.isfile(os.path.join(root, "include", "vidaction.h")) and os.path.exists(lib):
        return lib
    return None


class _Lib(object):
    """The loaded library: one attribute per prototyped function it exports."""

    def __init__(self, cdll, path):
        self.cdll = cdll
        self.path = path
        self.missing = []
        for name, (restype, argtypes) in PROTOTYPES.items():
            try:
                fn = getattr(cdll, name)
            except AttributeError:
                self.missing.append(name)
                continue
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name, fn)

    def __getattr__(self, name):
        # only reached for functions this build of the library lacks
        if name.startswith("vida_"):
            raise Error(EUNSUPPORTED, "%s: this libvidaction (%s, %s) has no %s" % (
                name, self.path, self.vida_version_string().decode(), name))
        raise AttributeError(name)


_lib = None
_lib_lock = threading.Lock()


def lib():
    """The loaded library (loaded on first call); raises LibraryNotFound."""
    global _lib
    if _lib is not None:
        return _lib
    with _lib_lock:
        if _lib is None:
            _lib = _load()
    return _lib


def _load():
    tried = []
    env = os.environ.get("VIDACTION_LIBRARY")
    if env:
        candidates = [("VIDACTION_LIBRARY", env)]
    else:
        candidates = []
        build = _build_tree_library()
        if build:
            candidates.append(("build tree", build))
        candidates.append(("system", SONAME))
        found = ctypes.util.find_library("vidaction")
        if found and found != SONAME:
            candidates.append(("find_library", found))
    for how, path in candidates:
        try:
            cdll = ctypes.CDLL(path)
        except OSError as e:
            tried.append("%s %s: %s" % (how, path, e))
            continue
        try:
            number = cdll.vida_version_number
        except AttributeError:
            tried.append("%s %s: not libvidaction (no vida_version_number)" % (how, path))
            continue
        number.restype = c_int
        number.argtypes = []
        if number() // 10000 != 0:
            tried.append("%s %s: version %d, these bindings are for 0.x" % (how, path, number()))
            continue
        return _Lib(cdll, path)
    raise LibraryNotFound("cannot load libvidaction: " + "; ".join(tried) +
                          " (set VIDACTION_LIBRARY to the library's path)")


# ---- helpers ----------------------------------------------------------------

def text(b):
    """A C string from the library as str (None stays None)."""
    if b is None:
        return None
    return b.decode("utf-8", "replace")


def last_error(code):
    """The Error for a failed call with status code (read right after the call)."""
    L = lib()
    msg = text(L.vida_last_error()) or text(L.vida_strerror(code))
    return Error(code, msg)


def check(code):
    """Raises the library's Error when code < 0; returns code otherwise."""
    if code < 0:
        raise last_error(code)
    return code


def params(struct_type, init_fn):
    """A params struct filled by the library's *_params_init.

    The struct lives in a buffer larger than our view of it, so that a newer
    library with a grown struct writes its defaults for fields we do not know
    instead of past the end; `size` stays what the library put there.
    """
    buf = (c_char * max(ctypes.sizeof(struct_type) * 2, 1024))()
    p = struct_type.from_buffer(buf)
    init_fn(ctypes.byref(p))
    return p


def sized(struct_type):
    """A zeroed struct whose `size` is set by the caller (info, stats, batch, state)."""
    s = struct_type()
    s.size = ctypes.sizeof(struct_type)
    return s


def path_arg(path):
    """A path (str, bytes or os.PathLike) as bytes for the C side."""
    return os.fsencode(path)
