"""The optimizer (vida_optimizer) and checkpoints (vida_checkpoint_*)."""

import numpy as np

from . import _capi
from ._capi import Error, check, lib
from ._core import Handle, _enum, _new_handle, f32, fptr
from .data import Loader, _state_dict, _state_struct


class SGD(Handle):
    """vida_optimizer: SGD with momentum (PyTorch's torch.optim.SGD, dampening 0),
    weight decay, a learning-rate schedule, per-group multipliers, clipping.

        opt = vidaction.SGD(model, lr=0.01, momentum=0.9, weight_decay=1e-4)
        loss = model.train_step(opt, clips, labels)

    schedule "constant" | "step" (milestones, gamma) | "cosine" (total_steps,
    min_lr); warmup_steps from warmup_start x lr; batch/base_batch: linear
    scaling of lr; clip_norm: global gradient-norm clipping;
    decay_norm_and_bias=False exempts BN and biases from weight decay.
    The optimizer keeps its model alive. A model's freeze() wish is applied
    here as group rules (see Model.freeze).
    """

    _kind = "SGD"

    def __init__(self, model, lr, momentum=0.9, weight_decay=1e-4, nesterov=False,
                 decay_norm_and_bias=True, schedule="constant", warmup_steps=0,
                 warmup_start=None, total_steps=0, min_lr=0.0, milestones=(), gamma=None,
                 batch=0, base_batch=0, clip_norm=0.0):
        L = lib()
        p = _capi.params(_capi.OptimizerParams, L.vida_optimizer_params_init)
        p.lr = float(lr)
        p.momentum = float(momentum)
        p.weight_decay = float(weight_decay)
        p.nesterov = 1 if nesterov else 0
        p.decay_norm_and_bias = 1 if decay_norm_and_bias else 0
        p.schedule = _enum(_capi.SCHEDULES, schedule, "schedule")
        p.warmup_steps = int(warmup_steps)
        if warmup_start is not None:
            p.warmup_start = float(warmup_start)
        p.total_steps = int(total_steps)
        p.min_lr = float(min_lr)
        milestones = [int(m) for m in milestones]
        if len(milestones) > _capi.MAX_MILESTONES:
            raise Error(_capi.EINVAL, "SGD: %d milestones, at most %d" % (
                len(milestones), _capi.MAX_MILESTONES))
        p.n_milestones = len(milestones)
        for i, m in enumerate(milestones):
            p.milestones[i] = m
        if gamma is not None:
            p.gamma = float(gamma)
        p.batch, p.base_batch = int(batch), int(base_batch)
        p.clip_norm = float(clip_norm)
        out = _new_handle()
        check(L.vida_optimizer_create(_capi.byref(out), model._h(), p))
        # the model's C object stays until the optimizer is freed, whatever the order the
        # garbage collector takes (libvidaction before 0.4 needed the model at
        # vida_optimizer_free; since then the C optimizer holds a reference itself)
        self._own(out.value, "vida_optimizer_free", holds=[model])
        self._model = model
        self._groups = []
        model._optimizers.add(self)
        if model._frozen is not None:
            try:
                self._apply_rules(model._freeze_rules(model._frozen))
            except Error:
                self.close()
                raise

    @property
    def model(self):
        return self._model

    def _apply_rules(self, rules):
        h = self._h()
        for prefix, lr_mult, wd_mult in rules:
            check(lib().vida_optimizer_set_group(h, prefix.encode("utf-8"), float(lr_mult),
                                                 float(wd_mult)))

    def set_group(self, prefix, lr_mult, wd_mult=1.0):
        """Tensors whose name starts with prefix ("" = all) get lr x lr_mult and
        weight_decay x wd_mult; later rules win; lr_mult 0 freezes."""
        rule = (str(prefix), float(lr_mult), float(wd_mult))
        self._apply_rules([rule])
        self._groups.append(rule)

    def step(self):
        """One update from the model's gradients (after Model.backward)."""
        check(lib().vida_optimizer_step(self._h()))

    @property
    def lr(self):
        """The learning rate of the next step (before group multipliers)."""
        return lib().vida_optimizer_lr(self._h(), -1)

    def lr_at(self, step):
        """The learning rate of step (0, 1, ...)."""
        return lib().vida_optimizer_lr(self._h(), int(step))

    @property
    def stats(self):
        """steps, skipped, consecutive_skips, last_grad_norm, last_lr."""
        s = _capi.sized(_capi.OptimizerStats)
        check(lib().vida_optimizer_get_stats(self._h(), s))
        return {k: getattr(s, k) for k, _ in _capi.OptimizerStats._fields_ if k != "size"}

    @property
    def step_count(self):
        return lib().vida_optimizer_step_count(self._h())

    @step_count.setter
    def step_count(self, steps):
        check(lib().vida_optimizer_set_step_count(self._h(), int(steps)))

    def buffer(self, name):
        """The momentum buffer of tensor name (its shape; zeros before its first update)."""
        shape, _ = self._model._info(name)
        a = np.empty(shape, dtype=np.float32)
        check(lib().vida_optimizer_get_buffer(self._h(), name.encode("utf-8"), fptr(a), a.size))
        return a

    def set_buffer(self, name, value):
        a = f32(value)
        check(lib().vida_optimizer_set_buffer(self._h(), name.encode("utf-8"), fptr(a), a.size))


def save_checkpoint(path, model, optimizer=None, loader=None):
    """Writes model, and the optimizer's state and the loader's position when given
    (a Loader or a state dict), to path atomically (vida_checkpoint_save)."""
    st = None
    if loader is not None:
        st = _state_struct(loader.state() if isinstance(loader, Loader) else loader)
    check(lib().vida_checkpoint_save(_capi.path_arg(path), model._h(),
                                     optimizer._h() if optimizer is not None else None,
                                     _capi.byref(st) if st is not None else None))


def load_checkpoint(path, model, optimizer=None, loader=None):
    """Restores model (and optimizer) from path (vida_checkpoint_load); nothing changes
    on failure. loader: True to return the stored loader state (a dict), or a Loader
    to restore it into; otherwise returns None."""
    st = _capi.sized(_capi.LoaderState) if loader else None
    check(lib().vida_checkpoint_load(_capi.path_arg(path), model._h(),
                                     optimizer._h() if optimizer is not None else None,
                                     _capi.byref(st) if st is not None else None))
    if st is None:
        return None
    state = _state_dict(st)
    if isinstance(loader, Loader):
        loader.set_state(state)
    return state
