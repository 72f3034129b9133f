# Licensed under a 3-clause BSD style license - see LICENSE
"""One training loop for every astrolens estimator.

`train` takes a network, a loss, a function that yields the batches of an
epoch, optimiser settings and metric callbacks. It handles the compute
device, mixed precision on CUDA, `torch.distributed` data parallelism when
started under ``torchrun``, an atomic checkpoint after every epoch (resumed
after a kill), a cosine learning-rate schedule that can be fitted to a time
budget, early stopping on a validation metric, seeding and progress bars.
"""

import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from astrolens.utils import atomic_path

__all__ = ['DistributedContext', 'TrainResult', 'distributed_context', 'resolve_device',
           'seed_everything', 'train']

log = logging.getLogger('astrolens.training')

CHECKPOINT_NAME = 'checkpoint.pt'


def resolve_device(device='auto'):
    """Turn ``'auto'`` (CUDA if available, else CPU) or a device name into `torch.device`."""
    if device is None or device == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    return torch.device(device)


def seed_everything(seed):
    """Seed torch (CPU and CUDA); NumPy randomness uses explicit generators instead."""
    torch.manual_seed(int(seed))
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(int(seed))


@dataclass
class DistributedContext:
    """Where this process sits in a ``torchrun`` job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    active: bool = False

    @property
    def is_main(self):
        """Whether this process writes checkpoints, logs and progress bars."""
        return self.rank == 0


def distributed_context(device):
    """Join the process group when started by ``torchrun`` (``RANK``/``WORLD_SIZE`` set).

    Uses NCCL on CUDA and gloo on CPU. Returns a `DistributedContext`; the
    caller's ``device`` is moved to this process's local GPU when on CUDA.
    """
    world_size = int(os.environ.get('WORLD_SIZE', '1'))
    if world_size <= 1 or 'RANK' not in os.environ:
        return DistributedContext(), device
    import torch.distributed as dist

    rank, local_rank = int(os.environ['RANK']), int(os.environ.get('LOCAL_RANK', '0'))
    if device.type == 'cuda':
        device = torch.device('cuda', local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend='nccl' if device.type == 'cuda' else 'gloo')
    return DistributedContext(rank, world_size, local_rank, True), device


@dataclass
class TrainResult:
    """What `train` returns.

    Attributes
    ----------
    history : list of dict
        One entry per epoch: ``epoch``, ``lr``, ``train_loss``, ``seconds``
        and the validation metrics (prefixed ``val_``).
    best_epoch : int or None
        Epoch whose weights were kept (the best on the monitored metric),
        or None without validation.
    stopped_early : bool
    resumed_from : int
        Epochs already done in the checkpoint that was resumed (0 if none).
    """

    history: list = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
    resumed_from: int = 0


def _cosine_lr(base_lr, step, total, warmup):
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base_lr * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def _state_to_cpu(module):
    return {k: v.detach().to('cpu', copy=True) for k, v in module.state_dict().items()}


def _save_checkpoint(path, state):
    with atomic_path(path, overwrite=True) as tmp:
        torch.save(state, tmp)


def _load_checkpoint(path):
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- any unreadable checkpoint is reported the same way
        msg = (f'checkpoint {path} cannot be read ({exc}); delete it or pass resume=False '
               'to start over')
        raise ValueError(msg) from None


def train(model, loss_fn, batches, *, epochs, steps_per_epoch, lr=1e-3, weight_decay=0.05,
          warmup_steps=None, val_batches=None, metrics=None, monitor='val_loss', mode='min',
          patience=None, max_minutes=None, checkpoint_dir=None, resume=True, device='auto',
          amp=True, seed=0, progress=True, grad_clip=5.0, lr_scales=None, restore_best=True,
          channels_last=False):
    """Train ``model`` in place and return its history.

    Parameters
    ----------
    model : `torch.nn.Module`
    loss_fn : callable
        ``loss_fn(outputs, targets) -> scalar tensor``. A loss with trainable
        parts of its own (an adversarial loss) may also define ``to(device)``,
        ``checkpoint_state()`` / ``load_checkpoint_state(state)`` (saved and
        restored with the checkpoint) and ``validation_loss(outputs,
        targets)`` (used for ``val_loss`` instead of the training loss).
    batches : callable
        ``batches(epoch, rank, world_size)`` returns an iterable of
        ``(inputs, targets)`` tensors for one epoch, this process's share
        when distributed. It should draw its randomness from ``epoch`` (and
        its own seed) so a resumed run sees the same data order.
    epochs : int
        Maximum number of epochs.
    steps_per_epoch : int
        Optimiser steps per epoch (per process); sizes the schedule.
    lr, weight_decay : float
        AdamW settings; the learning rate follows a linear warm-up then a
        cosine decay to 1% over ``epochs``.
    warmup_steps : int, optional
        Default: a half epoch, at most 500 steps.
    val_batches : callable, optional
        ``val_batches()`` returns an iterable of ``(inputs, targets)``; each
        process evaluates all of it.
    metrics : callable, optional
        ``metrics(outputs, targets) -> dict`` of floats on the concatenated
        validation outputs (CPU tensors); ``val_loss`` is always computed.
    monitor, mode : str
        Validation metric (``'val_...'``) for early stopping and for the
        best weights, and whether lower (``'min'``) or higher (``'max'``)
        is better.
    patience : int, optional
        Stop after this many epochs without improvement.
    max_minutes : float, optional
        Training time budget. After each epoch the number of epochs is set
        to what fits in the budget at the pace of the last epochs (at most
        ``epochs``), and the cosine schedule is fitted to end there, so the
        run finishes annealed inside the budget.
    checkpoint_dir : str or `~pathlib.Path`, optional
        Where ``checkpoint.pt`` is written after every epoch (atomically:
        weights, optimiser, schedule, epoch, history, best weights, RNG
        state). With ``resume=True`` an existing checkpoint is continued.
    device : str, optional
        ``'auto'``, ``'cpu'``, ``'cuda'``, ...
    amp : bool or {'bfloat16'}, optional
        ``True``: mixed precision (float16 autocast with gradient scaling)
        on CUDA, float32 elsewhere. ``'bfloat16'``: bfloat16 autocast on any
        device (no scaling needed); on CPUs with avx512_bf16 it about doubles
        the training throughput of the classifiers. ``False``: float32.
    seed : int, optional
    progress : bool, optional
        Show tqdm progress bars (main process only).
    grad_clip : float, optional
        Gradient-norm clipping threshold; None turns it off.
    lr_scales : dict, optional
        ``{parameter-name prefix: factor}``: parameters whose name starts
        with a prefix learn at ``factor`` times the scheduled rate (0
        freezes them), e.g. ``{'body.': 0.1}`` for a slower body when
        fine-tuning. The longest matching prefix wins.
    restore_best : bool, optional
        Return the best weights on ``monitor`` (default) or, if False, those
        of the last epoch (adversarial training, where the pixel metrics
        of validation favour the blurriest epoch); early stopping still
        follows ``monitor``.
    channels_last : bool, optional
        Train with the weights and the 4-D inputs in the channels-last
        memory layout, which the CPU convolution kernels run faster (the
        classifiers' training step runs 1.2-1.3x faster on 2 cores:
        ``benchmarks/bench_classifier_step.py``); the model is handed
        back in the usual layout.

    Returns
    -------
    result : `TrainResult`
        ``model`` holds the best weights (on ``monitor``) when validation
        is given and ``restore_best`` is true, else those of the last epoch.
    """
    if mode not in ('min', 'max'):
        msg = f"mode must be 'min' or 'max', got {mode!r}"
        raise ValueError(msg)
    if epochs < 1 or steps_per_epoch < 1:
        msg = f'epochs and steps_per_epoch must be positive, got {epochs} and {steps_per_epoch}'
        raise ValueError(msg)
    from tqdm.auto import tqdm

    device = resolve_device(device)
    ctx, device = distributed_context(device)
    seed_everything(seed + ctx.rank)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model.to(device, memory_format=layout)
    net = model
    if ctx.active:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == 'cuda' else None)
    if amp not in (True, False, None, 'bfloat16'):
        msg = f"amp must be True, False or 'bfloat16', got {amp!r}"
        raise ValueError(msg)
    use_bf16 = amp == 'bfloat16'
    use_amp = amp is True and device.type == 'cuda'
    scaler = torch.amp.GradScaler('cuda', enabled=use_amp)
    autocast_dtype = torch.bfloat16 if use_bf16 else torch.float16
    groups, frozen = _param_groups(model, lr_scales)
    optimizer = torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    if hasattr(loss_fn, 'to'):
        loss_fn.to(device)
    val_loss_fn = getattr(loss_fn, 'validation_loss', loss_fn)
    warmup = warmup_steps if warmup_steps is not None else min(500, max(1, steps_per_epoch // 2))
    sched = {'step': 0, 'epochs': int(epochs)}
    result = TrainResult()
    best = {'value': None, 'epoch': None, 'state': None, 'bad_epochs': 0}
    start_epoch, spent = 0, 0.0
    ckpt_path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    if ckpt_path is not None and resume and ckpt_path.is_file():
        state = _load_checkpoint(ckpt_path)
        model.load_state_dict(state['model'])
        optimizer.load_state_dict(state['optimizer'])
        sched = dict(state['scheduler'])
        scaler.load_state_dict(state['scaler'])
        if state.get('loss') is not None and hasattr(loss_fn, 'load_checkpoint_state'):
            loss_fn.load_checkpoint_state(state['loss'])
        start_epoch, spent = int(state['epoch']), float(state['seconds'])
        result.history = list(state['history'])
        best = dict(state['best'])
        torch.set_rng_state(state['rng_cpu'])
        if device.type == 'cuda' and state.get('rng_cuda') is not None:
            torch.cuda.set_rng_state(state['rng_cuda'], device)
        result.resumed_from = start_epoch
        if ctx.is_main:
            log.info('resumed from %s at epoch %d', ckpt_path, start_epoch)
    better = (lambda a, b: a < b) if mode == 'min' else (lambda a, b: a > b)

    epoch = start_epoch
    while epoch < sched['epochs']:
        if best['bad_epochs'] and patience is not None and best['bad_epochs'] >= patience:
            result.stopped_early = True
            break
        t0 = time.perf_counter()
        net.train()
        total, count = 0.0, 0
        bar = tqdm(total=steps_per_epoch, desc=f'epoch {epoch + 1}/{sched["epochs"]}',
                   disable=not (progress and ctx.is_main), leave=False)
        for step, (inputs, targets) in enumerate(batches(epoch, ctx.rank, ctx.world_size)):
            if step >= steps_per_epoch:
                break
            total_steps = sched['epochs'] * steps_per_epoch
            current_lr = _cosine_lr(lr, sched['step'], total_steps, warmup)
            for group in optimizer.param_groups:
                group['lr'] = current_lr * group['lr_scale']
            inputs = _to_device(inputs, device, layout)
            targets = targets.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=autocast_dtype,
                                enabled=use_amp or use_bf16):
                loss = loss_fn(net(inputs), targets)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if grad_clip is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
            sched['step'] += 1
            total += float(loss.detach()) * len(targets)
            count += len(targets)
            bar.update(1)
            bar.set_postfix(loss=f'{total / max(count, 1):.4f}', lr=f'{current_lr:.2e}')
        bar.close()
        entry = {'epoch': epoch + 1, 'lr': current_lr, 'train_loss': total / max(count, 1)}
        if val_batches is not None:
            entry.update(_validate(model, val_loss_fn, val_batches, metrics, device, use_amp,
                                   layout))
        epoch_seconds = time.perf_counter() - t0
        spent += epoch_seconds
        entry['seconds'] = spent
        result.history.append(entry)
        epoch += 1
        if val_batches is not None:
            if monitor not in entry:
                msg = f'monitor {monitor!r} is not among the validation metrics {sorted(entry)}'
                raise ValueError(msg)
            value = float(entry[monitor])
            if best['value'] is None or better(value, best['value']):
                best.update(value=value, epoch=epoch, state=_state_to_cpu(model), bad_epochs=0)
            else:
                best['bad_epochs'] += 1
        if max_minutes is not None:
            # Fit the run to the remaining budget at the pace of the last few epochs (the
            # machine may be shared), at most `epochs`, so the cosine schedule ends inside it.
            times = [0.0] + [h['seconds'] for h in result.history]
            recent = float(np.median(np.diff(times)[-3:]))
            remaining = max_minutes * 60.0 - spent
            fits = epoch + int(remaining // max(recent, 1e-9))
            sched['epochs'] = max(epoch, min(int(epochs), fits))
        if ctx.is_main:
            log.info(' '.join(f'{k}={v:.5g}' if isinstance(v, float) else f'{k}={v}'
                              for k, v in entry.items() if not isinstance(v, list)))
            if epoch == start_epoch + 1 and sched['epochs'] > epoch:
                left = (sched['epochs'] - epoch) * epoch_seconds / 60
                log.info('epoch %d took %.1f s: about %.0f more minutes for epochs %d-%d at this '
                         'pace%s', epoch, epoch_seconds, left, epoch + 1, sched['epochs'],
                         '' if ckpt_path is None else
                         f'; a checkpoint is saved after every epoch in {ckpt_path.parent}, '
                         'so an interrupted run resumes when rerun')
            if ckpt_path is not None:
                _save_checkpoint(ckpt_path, {
                    'model': _state_to_cpu(model), 'optimizer': optimizer.state_dict(),
                    'scheduler': sched, 'scaler': scaler.state_dict(), 'epoch': epoch,
                    'seconds': spent, 'history': result.history, 'best': best,
                    'loss': loss_fn.checkpoint_state()
                    if hasattr(loss_fn, 'checkpoint_state') else None,
                    'rng_cpu': torch.get_rng_state(),
                    'rng_cuda': torch.cuda.get_rng_state(device) if device.type == 'cuda'
                    else None})
        if ctx.active:
            torch.distributed.barrier()
    else:
        if best['bad_epochs'] and patience is not None and best['bad_epochs'] >= patience:
            result.stopped_early = True
    if best['state'] is not None and restore_best:
        model.load_state_dict(best['state'])
        result.best_epoch = best['epoch']
    for param in frozen:
        param.requires_grad_(True)
    model.to('cpu', memory_format=torch.contiguous_format)
    return result


def _to_device(inputs, device, layout):
    if inputs.dim() == 4:
        return inputs.to(device, non_blocking=True, memory_format=layout)
    return inputs.to(device, non_blocking=True)


def _param_groups(model, lr_scales):
    """AdamW parameter groups, one per learning-rate factor, and the frozen parameters.

    Frozen parameters get ``requires_grad=False`` for the run (`train` turns
    it back on at the end).
    """
    lr_scales = dict(lr_scales or {})
    for prefix, factor in lr_scales.items():
        if not (isinstance(factor, (int, float)) and factor >= 0):
            msg = f'lr_scales[{prefix!r}] must be a non-negative number, got {factor!r}'
            raise ValueError(msg)
    groups, frozen = {}, []
    for name, param in model.named_parameters():
        matches = [p for p in lr_scales if name.startswith(p)]
        factor = float(lr_scales[max(matches, key=len)]) if matches else 1.0
        if factor == 0.0:
            param.requires_grad_(False)
            frozen.append(param)
            continue
        groups.setdefault(factor, []).append(param)
    if not groups:
        msg = 'lr_scales freezes every parameter; nothing would be trained'
        raise ValueError(msg)
    return [{'params': params, 'lr_scale': factor} for factor, params in groups.items()], frozen


@torch.no_grad()
def _validate(model, loss_fn, val_batches, metrics, device, use_amp, layout):
    model.eval()
    outputs, targets = [], []
    for inputs, target in val_batches():
        with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
            out = model(_to_device(inputs, device, layout))
        outputs.append(out.float().cpu())
        targets.append(target.cpu())
    outputs, targets = torch.cat(outputs), torch.cat(targets)
    entry = {'val_loss': float(loss_fn(outputs, targets))}
    if metrics is not None:
        entry.update({f'val_{k}': v for k, v in metrics(outputs, targets).items()})
    model.train()
    return entry


def epoch_rng(seed, epoch, rank=0):
    """A NumPy generator that depends only on ``(seed, epoch, rank)``, for resumable shuffles."""
    return np.random.default_rng([int(seed), int(epoch), int(rank)])
