/*
 * Internal model representation: a flat program of ops over activation slots,
 * built once per architecture, plus named parameters in state_dict order.
 *
 * Activations are channels-last (N, T, H, W, C). Slot 0 is the input. Every
 * op writes one new slot, so training keeps all activations for backward.
 * In eval mode each conv that feeds a BN (and a ReLU) runs as one fused
 * conv with the BN folded into its weights and bias, writing straight into
 * the slot of the last op it replaces.
 */
#ifndef VIDAI_NN_H
#define VIDAI_NN_H

#include "backend/backend.h"
#include "core/core.h"
#include "io/io.h"
#include "vidaction/model.h"

enum {
    VIDAI_PARAM_CONV = 1,   /* conv weight: file [O][I][kT][kH][kW] (or [O][I][kH][kW]), internal OTHWI */
    VIDAI_PARAM_LINEAR = 2, /* [out][in] */
    VIDAI_PARAM_VEC = 3,    /* BN weight/bias/running stats, fc bias */
    VIDAI_PARAM_COUNT = 4   /* num_batches_tracked: I64 scalar */
};

typedef struct vidai_param {
    char *name;
    int kind;
    int learnable;
    int ndim; /* file shape */
    int64_t shape[5];
    int64_t numel;
    int cout, cin, kt, kh, kw; /* conv geometry */
    float *data;               /* internal layout; NULL for COUNT */
    float *grad;               /* learnable only; allocated on first use */
    int64_t count;             /* COUNT */
    /* CUDA: device copies and which side is out of date (vidai_param_host/_dev below) */
    float *dev, *dgrad;
    unsigned char host_stale, dev_stale, ghost_stale, gdev_stale;
} vidai_param;

enum {
    VIDAI_OP_CONV = 1,
    VIDAI_OP_BN,
    VIDAI_OP_RELU,
    VIDAI_OP_ADD_RELU,
    VIDAI_OP_MAXPOOL,
    VIDAI_OP_GAP,
    VIDAI_OP_DROPOUT,
    VIDAI_OP_LINEAR
};

typedef struct vidai_op {
    int type;
    int in, in2, out; /* slots */
    /* conv / pool geometry (per-sample sizes filled at forward time) */
    int cout, kt, kh, kw, st, sh, sw, pt, ph, pw;
    int weight;               /* param index: conv weight, linear weight, BN gamma */
    int bias;                 /* linear bias, BN beta */
    int rmean, rvar, nbt;     /* BN buffers */
    float *save_mean, *save_invstd; /* BN training */
    /* eval-mode fusion (conv ops): BN op folded in, relu fused, slot written */
    int fold_bn;              /* op index of the BN, or -1 */
    int fuse_relu;
    int eval_out;
    int eval_skip;            /* BN/ReLU ops absorbed by a fused conv */
    /* training fusion on CUDA (mode TRAIN): a BN whose output only its next op, a ReLU, reads
       computes both (bn_relu_train), and that ReLU is skipped (train_skip) */
    int bn_relu_train;
    int train_skip;
    float *wfold, *bfold;
    int32_t *argmax;          /* maxpool */
    size_t argmax_cap;
    float *mask;              /* dropout */
    size_t mask_cap;
} vidai_op;

typedef struct vidai_slot {
    int n, t, h, w, c;
    float *act;          /* what ops read and write: data (training) or an eval buffer */
    float *data, *grad;  /* owned, training mode */
    size_t cap, grad_cap; /* in floats (a bf16 slot uses half as many) */
    int eval_last_read;  /* eval mode: index of the last op reading it, -1 if none */
    int type;            /* VIDAI_F32, or VIDAI_BF16: 16-bit activation and gradient (CUDA, set
                            per forward by assign_types in model.c) */
    int readers;         /* ops reading it (each adds its gradient in backward) */
    int reader;          /* the op reading it when readers == 1, else -1 */
} vidai_slot;

/* Eval-mode activation buffers, reused once a slot's last reader has run. */
typedef struct vidai_buf {
    float *data;
    size_t cap; /* floats */
    int busy;
} vidai_buf;

typedef struct vidai_meta {
    char *key, *value;
} vidai_meta;

struct vida_model {
    int refcount; /* atomic: the caller's reference and one per optimizer made for it */
    vidai_guard guard; /* one thread at a time in the public calls (core.h) */
    vida_context *ctx;
    vida_model_params p;
    int feature_dim;
    int n_params;
    vidai_param *params;
    int n_ops;
    vidai_op *ops;
    int n_slots;
    vidai_slot *slots;
    int feature_slot, logits_slot;
    int mode;
    int have_train_forward; /* activations of a training forward are kept */
    int train_fused;        /* that forward ran the training fusions (bn_relu_train) */
    uint64_t generation;    /* changes when the tensors are replaced (vida_model_set_head) */
    struct vidai_dist_model *dist; /* data-parallel group (vida_dist_attach), or NULL */
    int folded_valid;
    uint64_t step; /* training forwards so far (dropout key) */
    int n_meta;
    vidai_meta *meta;
    int n_labels;  /* the "labels" metadata parsed (vida_model_label); 0 when absent or malformed */
    char **labels;
    int n_bufs;
    vidai_buf *bufs;
    float *stage;       /* CUDA: the NCTHW input on the device before the layout change */
    size_t stage_cap;   /* floats */
    int *slot_buf; /* eval: buffer index of each slot, -1 if none */
};

/*
 * Host/device coherence of parameter values and gradients. On the CPU the
 * two sides are the same memory and these return p->data / p->grad. On CUDA
 * the host copy is what the model file, tensor access and checkpoints see,
 * the device copy what the ops use; each side is brought up to date when
 * asked for, and a writer marks the other side stale. NULL + error on a
 * failed transfer or allocation. Gradients must exist (ensure_grads).
 */
float *vidai_param_host(const vida_model *m, int i);
void vidai_param_host_wrote(vida_model *m, int i);
float *vidai_param_dev(vida_model *m, int i);
void vidai_param_dev_wrote(vida_model *m, int i);
float *vidai_grad_host(const vida_model *m, int i);
void vidai_grad_host_wrote(vida_model *m, int i);
float *vidai_grad_dev(vida_model *m, int i);
void vidai_grad_dev_wrote(vida_model *m, int i);
/* Allocates (zeroed) the gradients of every learnable parameter that has none. */
int vidai_model_ensure_grads(vida_model *m);

/*
 * vida_model_forward on uint8 clips [V][L][H][W][3] (a loader batch),
 * normalised (x/255 - mean) / std on the model's backend (the GPU with CUDA:
 * a quarter of the bytes cross the bus).
 */
int vidai_model_forward_u8(vida_model *m, const vida_tensor *clips, const float mean[3],
                           const float stdv[3], vida_tensor *logits, vida_tensor *features);

/* One more reference (an optimizer made for m); vida_model_free drops one. */
void vidai_model_ref(vida_model *m);

/* Builds the op program and parameters (no weight values). */
int vidai_model_build(vida_model **out, vida_context *ctx, const vida_model_params *p);
/* He-normal / BN / classifier initialisation from the context seed. */
void vidai_model_init_weights(vida_model *m);
/* Weights changed: drop the eval-mode folded copies. */
void vidai_model_weights_changed(vida_model *m);
/* Parameter `param` changed: drops the folded copies only if it is folded into one
   (a conv weight or its BN's tensors) -- a classifier update keeps them. */
void vidai_model_param_changed(vida_model *m, int param);
int vidai_model_find_param(const vida_model *m, const char *name);
/* Layout conversions between the file's conv layout and the internal OTHWI. */
void vidai_conv_to_internal(const vidai_param *p, const float *src, float *dst);
void vidai_conv_to_file(const vidai_param *p, const float *src, float *dst);
/* "r2plus1d" etc.; NULL for an unknown arch. */
const char *vidai_arch_name(int arch);
int vidai_arch_from_name(const char *s);



/*
 * Adds m's metadata (keys "checkpoint.*" left out) and its tensors in the
 * file layout to w -- what vida_model_save writes. bufs (n_params entries,
 * zeroed) receives the converted copies, to free after the write.
 */
int vidai_model_add_to_writer(const vida_model *m, vidai_st_writer *w, void **bufs);

/* Rewrites the architecture metadata keys from m->p. */
int vidai_model_sync_meta(vida_model *m);
/* Sets any metadata key (no check against the architecture keys). */
int vidai_model_set_meta(vida_model *m, const char *key, const char *value);
#endif
