/*
 * Checkpoints: a model, its optimizer's state and the loader's position in
 * one safetensors file, written atomically (a temporary file beside it,
 * fsync, rename, fsync of the directory): a process killed at any moment
 * leaves either the previous file or the new one, never a broken one. The
 * temporary file a killed save leaves (PATH.tmp.<pid>.XXXXXX) is removed by
 * the next save of the same path, never one a live process is writing.
 *
 * The file is a model file (docs/model-format.md) with, in addition, the
 * optimizer's momentum buffers as tensors "optimizer.momentum.<tensor>" (file
 * layout) and metadata keys "checkpoint.*" (format version, optimizer step
 * count, the model's training-forward count, the loader state). It loads as a
 * model with vida_model_load too (the extra tensors are ignored).
 */
#ifndef VIDACTION_CHECKPOINT_H
#define VIDACTION_CHECKPOINT_H

#include "common.h"
#include "loader.h"
#include "model.h"
#include "optimizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Writes m, and o and ls when not NULL, to path. Returns VIDA_OK, VIDA_EINVAL,
 * VIDA_EIO (the previous file at path is intact), VIDA_ENONFINITE (a weight,
 * statistic or optimizer buffer holds NaN or an infinity: nothing is written,
 * the previous file at path is intact), VIDA_ENOMEM.
 */
VIDA_API int vida_checkpoint_save(const char *path, const vida_model *m, const vida_optimizer *o,
                                  const vida_loader_state *ls);

/*
 * Restores m (same architecture: every tensor by name and shape), and o and
 * ls when not NULL, from path. Everything is checked before anything is
 * changed: on failure m, o and ls are as they were (unless memory runs out
 * while the optimizer's buffers are created). ls->size must be set.
 * Returns VIDA_OK, VIDA_EINVAL, VIDA_EIO, VIDA_EFORMAT (not a checkpoint, bad
 * metadata), VIDA_EMISMATCH (a tensor missing or of another shape, optimizer
 * or loader state asked for but not in the file; the message names it),
 * VIDA_ENOMEM.
 */
VIDA_API int vida_checkpoint_load(const char *path, vida_model *m, vida_optimizer *o,
                                  vida_loader_state *ls);

#ifdef __cplusplus
}
#endif
#endif
