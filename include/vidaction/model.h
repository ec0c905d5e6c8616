/*
 * vida_model: a video network (R(2+1)D, R3D, MC3, frame-based 2D ResNet),
 * its weights and its metadata.
 *
 * Input follows PyTorch's convention: float32 [N, 3, T, H, W], normalised.
 * Weights are named and laid out as in torchvision's VideoResNet state_dict
 * (and torchvision's ResNet for the 2D baseline), so a model file loads in
 * PyTorch with load_state_dict and a torchvision checkpoint converts by a
 * change of format only.
 *
 * Threads: a model handle is used by one thread at a time (it holds its
 * activations); different models may run concurrently. Each call spreads its
 * work over the context's threads. A call on a model (forward, backward,
 * zero_grad, set_mode, get/set_tensor, get_grad, set_head, set_meta, save,
 * vida_train_step, and vida_optimizer_step of an optimizer made for it) made
 * while another thread is inside one of these on the same model returns
 * VIDA_ESTATE ("in use by another thread") without touching it.
 */
#ifndef VIDACTION_MODEL_H
#define VIDACTION_MODEL_H

#include "common.h"
#include "context.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vida_model vida_model;

enum {
    VIDA_ARCH_R2PLUS1D = 1, /* (2+1)D convolutions: 1xdxd then tx1x1 (Tran et al. 2018) */
    VIDA_ARCH_R3D = 2,      /* full 3x3x3 convolutions */
    VIDA_ARCH_MC3 = 3,      /* 3D convolutions in layer1, 2D (1x3x3) in layers 2-4 */
    VIDA_ARCH_R2D = 4       /* 2D ResNet over frames; frame scores averaged */
};

/* How the (2+1)D mid-channel count M = floor(27*Nin*Nout / (9*Nin + 3*Nout)) is taken. */
enum {
    VIDA_MIDPLANES_PER_CONV = 1, /* per (2+1)D conv from its own in/out (Caffe2/VMZ, IG-65M) */
    VIDA_MIDPLANES_PER_BLOCK = 2 /* once per block from the block's in/out (torchvision) */
};

enum {
    VIDA_MODE_EVAL = 0,  /* BN on running statistics, dropout off */
    VIDA_MODE_TRAIN = 1, /* BN on batch statistics (running ones updated), dropout on */
    VIDA_MODE_TRAIN_FROZEN_BN = 2 /* training with BN frozen (since 0.4): BN on the running
                                     statistics, which stay; its scale and shift still learn;
                                     dropout on. Results do not depend on how a batch is split
                                     (data-parallel training, small batches). */
};

typedef struct vida_model_params {
    size_t size;        /* sizeof(vida_model_params), set by _params_init */
    int arch;           /* VIDA_ARCH_*; default R2PLUS1D */
    int depth;          /* R(2+1)D: 10,16,18,26,34,50,101,152; R3D: 18,34; MC3: 18; R2D: 18,50 */
    int midplanes;      /* VIDA_MIDPLANES_*; default PER_BLOCK (torchvision) */
    int pool1;          /* 1: max-pool 1x3x3/(1,2,2) after the stem (video); R2D always pools */
    int num_classes;    /* default 400 */
    float width;        /* channel-width multiplier; default 1.0 */
    float bn_eps;       /* default 1e-5 (torchvision); IG-65M models use 1e-3 */
    float bn_momentum;  /* PyTorch convention: running = (1-m)*running + m*batch; default 0.1 */
    float dropout;      /* dropout before the classifier, 0 = none */
} vida_model_params;

/* Fills *p with defaults: torchvision r2plus1d_18, 400 classes. */
VIDA_API void vida_model_params_init(vida_model_params *p);

/*
 * Creates a model with freshly initialised weights (He-normal convs, BN
 * gamma 1 beta 0, classifier N(0, 0.01)), drawn from the context's seed.
 * Its metadata gets the default clip geometry and normalisation (16 frames,
 * stride 1, short side 128, crop 112, the IG-65M mean/std; keys in
 * docs/model-format.md), which vida_model_set_meta can change.
 * Returns VIDA_OK, VIDA_EINVAL (NULL, bad size), VIDA_EUNSUPPORTED (arch and
 * depth pair unknown, width too small), VIDA_ENOMEM.
 */
VIDA_API int vida_model_create(vida_model **out, vida_context *ctx, const vida_model_params *p);

/*
 * Loads a model file (safetensors, see docs/model-format.md). The file is
 * validated fully: header, offsets, dtypes, and every tensor's name and shape
 * against the architecture its metadata names.
 * Returns VIDA_OK, VIDA_EINVAL, VIDA_EIO, VIDA_EFORMAT (malformed file),
 * VIDA_EMISMATCH (tensor missing, unexpected or of the wrong shape),
 * VIDA_EUNSUPPORTED (architecture unknown), VIDA_ENOMEM.
 */
VIDA_API int vida_model_load(vida_model **out, vida_context *ctx, const char *path);

/*
 * Writes the model atomically: a temporary file beside path, fsync, rename,
 * fsync of the directory. An existing file at path is intact if this fails.
 * Temporary files that killed saves of path left are removed first (as by
 * vida_checkpoint_save).
 * Returns VIDA_OK, VIDA_EINVAL, VIDA_EIO, VIDA_ENOMEM.
 */
VIDA_API int vida_model_save(const vida_model *m, const char *path);

/* Drops the caller's reference; the model goes when its optimizers are freed too. NULL is a no-op. */
VIDA_API void vida_model_free(vida_model *m);

/* Copies the model's creation parameters into *out (out->size must be set). */
VIDA_API int vida_model_get_params(const vida_model *m, vida_model_params *out);

/* Width of the pooled feature vector before the classifier. -1 for NULL. */
VIDA_API int vida_model_feature_dim(const vida_model *m);

/* Number of classes. -1 for NULL. */
VIDA_API int vida_model_num_classes(const vida_model *m);

/*
 * Replaces the classifier with a fresh one of num_classes outputs (weights
 * N(0, 0.01) from the context seed, bias 0), for transfer to a new label
 * set (since 0.4). Every other tensor and the metadata stay; "num_classes"
 * follows; "labels" becomes labels (num_classes strings, copied) or is
 * removed when labels is NULL. Optimizers made for m before the call refuse
 * to step afterwards (VIDA_ESTATE): make a new one. Returns VIDA_OK,
 * VIDA_EINVAL (num_classes < 1 or > 1000000, a NULL label), VIDA_ENOMEM; on
 * error m is unchanged.
 */
VIDA_API int vida_model_set_head(vida_model *m, int num_classes, const char *const *labels);

/* Number of learnable parameters (BN running statistics excluded). */
VIDA_API int64_t vida_model_num_params(const vida_model *m);

/* VIDA_MODE_EVAL, VIDA_MODE_TRAIN or VIDA_MODE_TRAIN_FROZEN_BN. Returns VIDA_OK or VIDA_EINVAL. */
VIDA_API int vida_model_set_mode(vida_model *m, int mode);

/*
 * Runs the network. input: float32 [N, 3, T, H, W] (layout NCTHW), T >= 1,
 * H, W >= 16. logits: float32 [N, classes], written. features: NULL or
 * float32 [N, feature_dim], written with the pooled vector. In training mode
 * the activations are kept for vida_model_backward.
 * Returns VIDA_OK, VIDA_EINVAL (NULL, wrong dtype, rank or shape),
 * VIDA_ENOMEM.
 */
VIDA_API int vida_model_forward(vida_model *m, const vida_tensor *input, vida_tensor *logits,
                                vida_tensor *features);

/* Sets every parameter gradient to zero. */
VIDA_API int vida_model_zero_grad(vida_model *m);

/*
 * Back-propagates dlogits ([N, classes], the gradient of the loss) through
 * the activations of the last training-mode forward, adding into the
 * parameter gradients. dinput: NULL, or float32 [N, 3, T, H, W], written.
 * Returns VIDA_OK, VIDA_EINVAL, VIDA_ESTATE (no training forward before),
 * VIDA_ENOMEM.
 */
VIDA_API int vida_model_backward(vida_model *m, const vida_tensor *dlogits, vida_tensor *dinput);

/*
 * Named tensors, in state_dict order. Names and shapes are those of the
 * model file (PyTorch layout, e.g. conv weights [O, I, kT, kH, kW]).
 * The name is valid while the model lives.
 */
VIDA_API int vida_model_n_tensors(const vida_model *m);
VIDA_API int vida_model_tensor_info(const vida_model *m, int index, const char **out_name,
                                    int *out_ndim, int64_t *out_shape, int *out_dtype);

/*
 * Copies a tensor (or its gradient) out of / into the model in the file's
 * layout. count is the number of elements of dst/src and must match.
 * Integer tensors (num_batches_tracked) are read as float.
 * Returns VIDA_OK, VIDA_EINVAL (unknown name, count mismatch, no gradient).
 */
VIDA_API int vida_model_get_tensor(const vida_model *m, const char *name, float *dst, int64_t count);
VIDA_API int vida_model_set_tensor(vida_model *m, const char *name, const float *src, int64_t count);
VIDA_API int vida_model_get_grad(const vida_model *m, const char *name, float *dst, int64_t count);

/*
 * Metadata of the model file (`__metadata__`), string values. Returns NULL
 * when the key is absent; the string is valid until the next set on the key
 * or until the model is freed.
 */
VIDA_API const char *vida_model_get_meta(const vida_model *m, const char *key);

/*
 * The name of class k: element k of the "labels" metadata, a JSON list of
 * num_classes strings (what `vidaction train` and vida_model_set_head write).
 * NULL when k is out of range or the model has no such list. Valid until
 * "labels" is set again, the head is replaced, or the model is freed.
 */
VIDA_API const char *vida_model_label(const vida_model *m, int k);
VIDA_API int vida_model_set_meta(vida_model *m, const char *key, const char *value);

/* Loss functions over logits [N, K]. */
enum {
    VIDA_LOSS_SOFTMAX_CE = 1,      /* target: int32 [N] class indices */
    VIDA_LOSS_SOFTMAX_CE_SOFT = 2, /* target: float32 [N, K] rows summing to 1 (1/k for k labels) */
    VIDA_LOSS_SIGMOID_BCE = 3      /* target: float32 [N, K] multi-hot; mean over N*K */
};

/*
 * Computes the mean loss over the batch and, when dlogits is not NULL, its
 * gradient with respect to the logits (float32 [N, K], written).
 * Returns VIDA_OK, VIDA_EINVAL (shapes, dtype, label out of range),
 * VIDA_ENONFINITE (NaN or infinite loss).
 */
VIDA_API int vida_loss(int kind, const vida_tensor *logits, const vida_tensor *target,
                       float *out_loss, vida_tensor *dlogits);

#ifdef __cplusplus
}
#endif
#endif
