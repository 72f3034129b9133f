# Licensed under a 3-clause BSD style license - see LICENSE
"""Training data of `LensClassifier`: validation split, batches from arrays and from
simulators, D4 augmentation, batch-norm refresh, the instrument of simulators.

A batch function ``batches(epoch, rank, world_size)`` yields ``(inputs, labels)``
tensors as `astrolens.models.train` wants them: reproducible from the seed
and the epoch (so a resumed run sees what it would have seen), disjoint
between the ranks of a torchrun job.
"""

import inspect
import math
import os

import numpy as np
import torch

from astrolens.io import CLASSES, as_image_array, canonical_class
from astrolens.models._classifier_inference import _d4
from astrolens.models._training import epoch_rng

__all__ = ['array_batches', 'simulated_batches', 'split_validation']


def _augment_d4(x, rng):
    which = rng.integers(0, 8, size=len(x))
    out = torch.empty_like(x)
    for k in range(8):
        idx = np.flatnonzero(which == k)
        if idx.size:
            t = torch.from_numpy(idx)
            out[t] = _d4(x[t], k)
    return out


#: Training batches (of a reserved epoch) over which batch-norm statistics are re-measured.
_BN_REFRESH_STEPS = 8
_BN_REFRESH_EPOCH = 1_000_000


@torch.no_grad()
def _refresh_batch_norm(model, batches, *, steps):
    """Re-measure every batch-norm layer's statistics with the current weights.

    During training the running averages trail weights that change quickly;
    a network whose class signal is a small difference on a large common
    signal (substructure on an Einstein ring) then predicts one class in
    evaluation mode while it is right in training mode. The statistics are
    replaced by plain averages over ``steps`` training batches.
    """
    layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not layers:
        return
    momenta = [m.momentum for m in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average
    device = next(model.parameters()).device
    was_training = model.training
    model.train()
    try:
        for i, (inputs, _) in enumerate(batches(_BN_REFRESH_EPOCH, 0, 1)):
            if i >= steps:
                break
            model(inputs.to(device))
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
        model.train(was_training)


def _instrument_of(simulator):
    """Pixel scale, PSF and image shape shared by the simulators of a fit, if they say."""
    found = set()
    for source in simulator.values():
        scale = getattr(source, 'pixel_scale', None)
        inst = getattr(source, 'instrument', None)
        shape = getattr(source, 'shape', None)
        if scale is None or shape is None:
            return None
        found.add((float(scale), getattr(inst, 'psf_fwhm', None), tuple(int(n) for n in shape)))
    if len(found) != 1:
        return None
    scale, psf, shape = found.pop()
    return {'pixel_scale': scale, 'psf_fwhm': None if psf is None else float(psf),
            'shape': list(shape)}


def split_validation(labels, rng, *, val_fraction):
    """Stratified ``(train indices, validation indices)``: ``val_fraction`` of every class
    (at least one image of a class with two or more, never all of them).
    """
    if not val_fraction:
        return np.arange(len(labels)), np.array([], dtype=np.int64)
    train_idx, val_idx = [], []
    for k in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == k))
        n_val = int(round(val_fraction * idx.size))
        if idx.size > 1:
            n_val = min(max(n_val, 1), idx.size - 1)
        else:
            n_val = 0
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))


def array_batches(x, y, steps, *, batch_size, augment, seed):
    """``(batches, steps)``: a `train` batch function over the tensors ``x``, ``y``.

    Every epoch reshuffles (the same order on every rank, each taking its
    share); ``steps`` None is one pass over the data per epoch.
    """
    n, bs = len(x), batch_size
    if steps is None:
        # One pass over the data per epoch, shared between torchrun processes.
        world = max(1, int(os.environ.get('WORLD_SIZE', '1')))
        steps = max(1, math.ceil(n / (bs * world)))

    def batches(epoch, rank, world_size):
        rng = epoch_rng(seed, epoch, rank)
        shared = epoch_rng(seed, epoch)
        per_rank = steps * bs
        order = np.concatenate([shared.permutation(n)
                                for _ in range(math.ceil(per_rank * world_size / n) + 1)])
        mine = order[rank::world_size][:per_rank]
        for i in range(0, len(mine), bs):
            idx = torch.from_numpy(mine[i:i + bs])
            xb = x[idx]
            if augment:
                xb = _augment_d4(xb, rng)
            yield xb, y[idx]

    return batches, steps


def simulated_batches(simulator, steps, rng, *, prepare, batch_size, val_fraction, augment,
                      seed):
    """``(batches, val, classes, n_train)`` for training on images simulated afresh.

    ``simulator`` is ``{class name: object with simulate(n) or callable f(n)}``;
    ``prepare`` turns ``(n, H, W)`` images into network inputs. ``val`` (images
    simulated once, before every training image) is None when ``val_fraction``
    is 0.
    """
    if not isinstance(simulator, dict) or not simulator:
        msg = ('simulator must be a dict {class name: object with simulate(n) or '
               'callable f(n)}')
        raise TypeError(msg)
    names = list(simulator)
    try:
        canon = [canonical_class(n) for n in names]
        classes = tuple(c for c in CLASSES if c in canon) if len(canon) == 3 else CLASSES
        sources = {CLASSES.index(c): simulator[n] for c, n in zip(canon, names, strict=True)}
    except ValueError:
        classes = tuple(str(n) for n in names)
        sources = dict(enumerate(simulator.values()))
    if classes == CLASSES and len(sources) < 3:
        classes = CLASSES

    def draw(source, n, start):
        if hasattr(source, 'simulate'):
            # simulators that can seek draw disjoint images for every
            # (epoch, rank) and the validation set, also after a resume
            seekable = 'start' in inspect.signature(source.simulate).parameters
            images = source.simulate(n, start=start) if seekable else source.simulate(n)
        else:
            images = source(n)
        return prepare(as_image_array(images, name='simulated images'))

    def make(n, gen, offset):
        counts = np.bincount(gen.integers(0, len(sources), size=n), minlength=len(sources))
        xs, ys = [], []
        for (label, source), c in zip(sources.items(), counts, strict=True):
            if c:
                xs.append(draw(source, int(c), offset[label]))
                offset[label] += int(c)
                ys.append(np.full(int(c), label, dtype=np.int64))
        return torch.from_numpy(np.concatenate(xs)[:, None]), torch.from_numpy(
            np.concatenate(ys))

    n_val = max(60, int(round(val_fraction * steps * batch_size)))
    val = make(n_val, rng, dict.fromkeys(sources, 0)) if val_fraction else None
    bs = batch_size
    # each (epoch, rank) owns a block of sequence indices after the validation images
    block = steps * bs

    def batches(epoch, rank, world_size):
        gen = epoch_rng(seed, epoch, rank)
        first = n_val + (epoch * world_size + rank) * block
        offset = dict.fromkeys(sources, first)
        for _ in range(steps):
            xb, yb = make(bs, gen, offset)
            if augment:
                xb = _augment_d4(xb, gen)
            yield xb, yb

    return batches, val, classes, steps * bs
