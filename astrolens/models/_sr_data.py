# Licensed under a 3-clause BSD style license - see LICENSE
"""Training data of `SuperResolver`: accepted pair inputs, normalisation, patch sampling."""

import math

import numpy as np
import torch
from astropy.nddata import NDData

from astrolens.io import as_image_array, load_deeplense_sr, to_nddata
from astrolens.models._sr_inference import d4, fill_bad, norm_params

__all__ = ['PatchSampler', 'as_pairs', 'prepare_pairs', 'psnr_metric']


def as_pairs(lr, hr, scale):
    """Normalise every accepted training input to two lists of float32 2-D arrays."""
    if hr is None:
        if isinstance(lr, (str, bytes)) or hasattr(lr, '__fspath__'):
            lr, hr = load_deeplense_sr(lr)
        elif isinstance(lr, (list, tuple)) and lr and all(
                hasattr(p, 'lr') and hasattr(p, 'hr') and hasattr(p, 'factor') for p in lr):
            factors = {int(p.factor) for p in lr}
            if factors != {scale}:
                msg = (f'the registered pairs have factor(s) {sorted(factors)} but this '
                       f'SuperResolver has scale={scale}')
                raise ValueError(msg)
            lr, hr = [p.lr for p in lr], [p.hr for p in lr]
        else:
            msg = ('fit(lr, hr) needs both images, or fit(pairs) with a list of RegisteredPair, '
                   'or fit(path) with a DeepLense super-resolution folder')
            raise TypeError(msg)
    lrs, hrs = _as_list(lr, 'lr'), _as_list(hr, 'hr')
    if len(lrs) != len(hrs):
        msg = f'{len(lrs)} low-resolution images but {len(hrs)} high-resolution ones'
        raise ValueError(msg)
    for i, (low, high) in enumerate(zip(lrs, hrs, strict=True)):
        if high.shape != (scale * low.shape[0], scale * low.shape[1]):
            msg = (f'pair {i}: the high-resolution image has shape {high.shape}, expected '
                   f'{scale} x the low-resolution shape {low.shape}')
            raise ValueError(msg)
    return lrs, hrs


def _as_list(images, name):
    if isinstance(images, np.ndarray) or (hasattr(images, '__array__')
                                          and not isinstance(images, NDData)):
        array = as_image_array(images, name=name)
        array = array[None] if array.ndim == 2 else array
        return [np.asarray(a, dtype=np.float32) for a in array]
    if isinstance(images, (list, tuple)):
        out = []
        for item in images:
            nd = to_nddata(item)
            data = np.array(nd.data, dtype=np.float32)
            if data.ndim != 2:
                msg = f'each item of {name} must be one 2-D image, got shape {data.shape}'
                raise ValueError(msg)
            if nd.mask is not None:
                data[np.asarray(nd.mask, dtype=bool)] = np.nan
            out.append(data)
        if not out:
            msg = f'{name} is empty'
            raise ValueError(msg)
        return out
    msg = (f'{name} must be an (N, H, W) array or a list of images (arrays, NDData, HDUs, '
           f'paths), got {type(images).__name__}')
    raise TypeError(msg)


def prepare_pairs(lrs, hrs, scale, gain):
    """Fill bad pixels, normalise by the LR statistics; targets on the LR intensity scale."""
    xs, ys = [], []
    for low, high in zip(lrs, hrs, strict=True):
        bad_l, bad_h = ~np.isfinite(low), ~np.isfinite(high)
        low, high = fill_bad(low, bad_l), fill_bad(high, bad_h)
        offset, spread = norm_params(low)
        xs.append(((low - offset) / spread).astype(np.float32))
        ys.append(((high / gain - offset) / spread).astype(np.float32))
    return xs, ys



class PatchSampler:
    """Random LR/HR patch pairs with D4 (and optionally noise) augmentation."""

    def __init__(self, xs, ys, *, scale, patch_size, batch_size, seed, noise=0.0):
        self.xs, self.ys, self.s = xs, ys, scale
        self.p = int(patch_size)
        self.batch_size, self.seed, self.noise = int(batch_size), int(seed), float(noise)

    def steps(self, world_size=1):
        """Optimiser steps per epoch and process: one pass over the pairs, shared out."""
        return max(1, len(self.xs) // (self.batch_size * world_size))

    def __call__(self, epoch, rank=0, world_size=1):
        from astrolens.models._training import epoch_rng

        rng = epoch_rng(self.seed, epoch, rank)
        n, s, bs = len(self.xs), self.s, self.batch_size
        per_rank = self.steps(world_size) * bs
        # Under torchrun every process cuts its share out of one permutation common to all,
        # and all shares have the same number of batches (DDP needs every process to step).
        # A single process draws it from its own generator, as it always has, so runs
        # recorded in shipped configurations repeat exactly.
        shared = rng if world_size == 1 else epoch_rng(self.seed, epoch)
        order = np.concatenate([shared.permutation(n)
                                for _ in range(math.ceil(per_rank * world_size / n))])
        order = order[rank::world_size][:per_rank]
        for first in range(0, per_rank, bs):
            idx = order[first:first + bs]
            p = min([self.p] + [min(self.xs[i].shape) for i in idx])
            xb, yb = [], []
            for i in idx:
                x, y = self.xs[i], self.ys[i]
                r = int(rng.integers(0, x.shape[0] - p + 1))
                c = int(rng.integers(0, x.shape[1] - p + 1))
                xb.append(x[r:r + p, c:c + p])
                yb.append(y[s * r:s * (r + p), s * c:s * (c + p)])
            xb = torch.from_numpy(np.stack(xb))[:, None]
            yb = torch.from_numpy(np.stack(yb))[:, None]
            k = int(rng.integers(0, 8))
            xb, yb = d4(xb, k).contiguous(), d4(yb, k).contiguous()
            if self.noise > 0:
                sigma = torch.from_numpy(rng.uniform(0, self.noise, (len(idx), 1, 1, 1))
                                         .astype(np.float32))
                gen = torch.Generator().manual_seed(int(rng.integers(2 ** 31)))
                xb = xb + sigma * torch.randn(xb.shape, generator=gen)
            yield xb, yb


def psnr_metric(outputs, targets):
    """Mean PSNR (dB) on images rescaled by each target's range, as `astrolens.metrics.psnr`."""
    t = targets.flatten(1)
    o = outputs.flatten(1)
    low = t.min(dim=1, keepdim=True).values
    span = (t.max(dim=1, keepdim=True).values - low).clamp_min(1e-12)
    mse = (((o - t) / span) ** 2).mean(dim=1).clamp_min(1e-20)
    return {'psnr': float((10 * torch.log10(1.0 / mse)).mean())}
