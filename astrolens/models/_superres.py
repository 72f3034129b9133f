# Licensed under a 3-clause BSD style license - see LICENSE
"""`SuperResolver`: flux- and WCS-preserving super-resolution of astronomical images.

Pipeline of `SuperResolver.enhance` for one image:

1. masked and non-finite pixels are filled from their nearest valid
   neighbour (only for the network; they are masked again in the output);
2. the image is normalised *globally* (median offset, 99.5th-percentile
   scale), so tiles see the same intensity scale;
3. the network runs over overlapping tiles (overlap >= its receptive field,
   so tiled == untiled) and predicts a "density": intensities on the input's
   per-pixel scale, upsampled;
4. the result is put back in the input's units: flux per pixel is divided by
   ``scale**2``; a surface brightness (a unit per solid angle) is not;
5. the flux is corrected globally: ``flux='total'`` makes the total flux
   (surface brightness: the mean) equal to the input's over unmasked pixels,
   ``flux='block'`` makes every ``scale x scale`` block sum (mean) equal to
   its input pixel.
"""

import copy
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from astropy import units as u
from astropy.nddata import NDData, StdDevUncertainty
from scipy import ndimage

from astrolens.io import as_image_array, load_deeplense_sr, to_nddata
from astrolens.models._sr_networks import SR_ARCHS, count_parameters, create_sr_network
from astrolens.models._tiling import tiled_apply
from astrolens.utils import NotFittedError, WeightsError
from astrolens.version import __version__
from astrolens.wcs_utils import scale_wcs

__all__ = ['SuperResolver', 'bicubic_upscale', 'is_surface_brightness']

_LOSSES = ('l1', 'l2', 'gan')
_FLUX = ('total', 'block', None)
CONFIG_KIND = 'astrolens.SuperResolver'
FORMAT_VERSION = 1


# --------------------------------------------------------------------------- helpers

def is_surface_brightness(unit):
    """Whether ``unit`` is per solid angle (so the mean, not the sum, is conserved).

    Parameters
    ----------
    unit : `~astropy.units.UnitBase` or None

    Returns
    -------
    bool
        True when the unit, decomposed, has a negative power of an angle
        (``MJy / sr``, ``erg / (s cm2 Hz arcsec2)``, ...).
    """
    if unit is None:
        return False
    try:
        decomposed = u.Unit(unit).decompose()
    except (TypeError, ValueError, u.UnitsError):
        return False
    return any(base.physical_type == 'angle' and power < 0
               for base, power in zip(decomposed.bases, decomposed.powers, strict=True))


def _is_logarithmic(unit):
    if isinstance(unit, u.FunctionUnitBase):
        return True
    try:
        bases = u.Unit(unit).decompose().bases
    except (TypeError, ValueError, u.UnitsError):
        return False
    return any(base in (u.mag, u.dex, u.dB) for base in bases)


def _fill_bad(image, bad):
    """Replace ``bad`` pixels by their nearest good neighbour."""
    if not bad.any():
        return image
    _, (iy, ix) = ndimage.distance_transform_edt(bad, return_indices=True)
    return image[iy, ix]


def _norm_params(image):
    """Global offset and scale of an image (the 'flux' normalisation of astrolens)."""
    offset = float(np.median(image))
    spread = float(np.percentile(image - offset, 99.5))
    if not spread > 0:
        spread = float(np.max(np.abs(image - offset)))
    return offset, (spread if spread > 0 else 1.0)


def bicubic_upscale(image, scale, *, surface_brightness=False):
    """Bicubic upsampling in the same pixel convention as the networks.

    Parameters
    ----------
    image : `~numpy.ndarray`
        ``(H, W)`` or ``(N, H, W)``.
    scale : int
    surface_brightness : bool, optional
        If false (flux per pixel) the result is divided by ``scale**2`` so
        the total flux is (nearly) kept.

    Returns
    -------
    upscaled : `~numpy.ndarray`
    """
    array = np.asarray(image, dtype=np.float32)
    batch = array if array.ndim == 3 else array[None]
    with torch.no_grad():
        out = F.interpolate(torch.from_numpy(np.ascontiguousarray(batch))[:, None],
                            scale_factor=scale, mode='bicubic', align_corners=False)
    out = out[:, 0].numpy().astype(np.float64)
    if not surface_brightness:
        out /= scale ** 2
    return out if array.ndim == 3 else out[0]


def _block_sum(image, s):
    h, w = image.shape[0] // s, image.shape[1] // s
    return image.reshape(h, s, w, s).sum(axis=(1, 3))


def _correct_flux(sr, lr, good_lr, *, scale, mode, surface_brightness):
    """Flux correction after stitching; returns ``(corrected, multiplicative_factor_map)``."""
    s = scale
    area = s * s if surface_brightness else 1.0
    if mode is None:
        return sr, None
    if mode == 'total':
        good_hr = np.repeat(np.repeat(good_lr, s, axis=0), s, axis=1)
        target = float(np.sum(lr[good_lr], dtype=np.float64)) * area
        current = float(np.sum(sr[good_hr], dtype=np.float64))
        # multiplicative when it is a gentle rescaling of a positive image, otherwise an additive
        # offset (sky-subtracted images can have totals near zero)
        if target > 0 and current > 0 and 0.5 < target / current < 2.0:
            factor = target / current
            return sr * factor, factor
        return sr + (target - current) / max(int(good_hr.sum()), 1), None
    # 'block'
    target = lr * area
    sums = _block_sum(sr, s)
    blocks = sr.reshape(lr.shape[0], s, lr.shape[1], s)
    positive = (target > 0) & (sums > 0) & (blocks.min(axis=(1, 3)) >= 0)
    with np.errstate(divide='ignore', invalid='ignore'):
        ratio = np.where(positive, target / np.where(sums > 0, sums, 1.0), 1.0)
    delta = np.where(positive, 0.0, (target - sums) / (s * s))
    ratio = np.where(good_lr, ratio, 1.0)
    delta = np.where(good_lr, delta, 0.0)
    up = lambda a: np.repeat(np.repeat(a, s, axis=0), s, axis=1)  # noqa: E731
    factor = up(ratio)
    return sr * factor + up(delta), factor


def _d4(x, k):
    """The k-th of the 8 symmetries of the square (rotations, then transposes) on the last axes."""
    if k >= 4:
        x = x.transpose(-1, -2)
    return torch.rot90(x, k % 4, dims=(-2, -1))


def _d4_inverse(x, k):
    x = torch.rot90(x, -(k % 4), dims=(-2, -1))
    if k >= 4:
        x = x.transpose(-1, -2)
    return x


# --------------------------------------------------------------------------- data

def _as_pairs(lr, hr, scale):
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


def _prepare(lrs, hrs, scale, gain):
    """Fill bad pixels, normalise by the LR statistics; targets on the LR intensity scale."""
    xs, ys = [], []
    for low, high in zip(lrs, hrs, strict=True):
        bad_l, bad_h = ~np.isfinite(low), ~np.isfinite(high)
        low, high = _fill_bad(low, bad_l), _fill_bad(high, bad_h)
        offset, spread = _norm_params(low)
        xs.append(((low - offset) / spread).astype(np.float32))
        ys.append(((high / gain - offset) / spread).astype(np.float32))
    return xs, ys


def _estimate_gain(lrs, hrs, scale):
    """Least-squares factor ``g`` with ``block_mean(hr) ~ g * lr`` over all pairs.

    ``1 / scale**2`` for pairs in flux per pixel, 1 for surface brightness;
    anything else for data normalised separately (as DeepLense distributes).
    """
    num = den = 0.0
    for low, high in zip(lrs, hrs, strict=True):
        good = np.isfinite(low)
        hb = _block_sum(np.nan_to_num(high), scale) / scale ** 2
        good &= np.isfinite(hb)
        num += float(np.sum(low[good] * hb[good], dtype=np.float64))
        den += float(np.sum(low[good] ** 2, dtype=np.float64))
    gain = num / den if den > 0 else 1.0
    if not gain > 0:
        msg = ('the high-resolution images do not correlate positively with the '
               'low-resolution ones; check that the pairs are aligned')
        raise ValueError(msg)
    return gain


class _PatchSampler:
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
            xb, yb = _d4(xb, k).contiguous(), _d4(yb, k).contiguous()
            if self.noise > 0:
                sigma = torch.from_numpy(rng.uniform(0, self.noise, (len(idx), 1, 1, 1))
                                         .astype(np.float32))
                gen = torch.Generator().manual_seed(int(rng.integers(2 ** 31)))
                xb = xb + sigma * torch.randn(xb.shape, generator=gen)
            yield xb, yb


def _psnr_metric(outputs, targets):
    """Mean PSNR (dB) on images rescaled by each target's range, as `astrolens.metrics.psnr`."""
    t = targets.flatten(1)
    o = outputs.flatten(1)
    low = t.min(dim=1, keepdim=True).values
    span = (t.max(dim=1, keepdim=True).values - low).clamp_min(1e-12)
    mse = (((o - t) / span) ** 2).mean(dim=1).clamp_min(1e-20)
    return {'psnr': float((10 * torch.log10(1.0 / mse)).mean())}


# --------------------------------------------------------------------------- estimator

class SuperResolver:
    """Super-resolution of astronomical images that keeps flux, WCS and masks.

    Parameters
    ----------
    scale : {2, 3, 4}, optional
        Upscaling factor per axis.
    arch : str, optional
        Network, one of ``'edsr-xs'``, ``'edsr-s'`` (default), ``'edsr-m'``
        (residual CNNs with a pixel-shuffle upsampler and a global bicubic
        skip) or ``'srresnet'`` (the SRGAN generator, a baseline).
    arch_kwargs : dict, optional
        Overrides of the architecture (``n_feats``, ``n_blocks``).
    loss : {'l1', 'l2', 'gan'}, optional
        Training loss. ``'gan'`` trains SRGAN-style: an L1 pixel loss plus a
        feature loss on the early feature maps of a trained
        `~astrolens.models.LensClassifier` and an adversarial loss from a
        discriminator trained alongside (see ``gan``). Its output looks
        sharper, at a cost in PSNR/SSIM that ``benchmarks/bench_superres.py
        --gan-minutes`` measures; start it from L1 weights with ``fit(...,
        init=...)``.
    gan : dict, optional
        Options of ``loss='gan'``, overriding
        `astrolens.models.GAN_DEFAULTS`: ``feature_model`` (a shipped
        classifier name or saved path; None drops the feature term),
        ``pixel_weight``, ``perceptual_weight``, ``adversarial_weight``,
        ``discriminator_lr``, ``discriminator_width``.
    flux : {'total', 'block', None}, optional
        Flux correction of `enhance`: ``'total'`` keeps the total flux (mean
        surface brightness), ``'block'`` makes every ``scale x scale`` block
        consistent with its input pixel, None leaves the network output.
    device : str, optional
        ``'auto'`` (CUDA when available), ``'cpu'``, ``'cuda'``, ...
    seed : int, optional
        Seeds initialisation, data split, patch sampling and augmentation.
    learning_rate : float, optional
        Peak learning rate of `fit` (AdamW, cosine schedule).

    Attributes
    ----------
    model_ : `torch.nn.Module`
        The trained network (after `fit`, `load` or `from_pretrained`).
    flux_gain_ : float
        ``block_mean(hr) / lr`` of the training pairs (``1/scale**2`` for
        flux per pixel); used to put targets on the input's intensity scale.
    history_ : list of dict
        Per-epoch training record.
    config_ : dict
        Everything the JSON configuration records (training data, command,
        metrics, ...).

    Examples
    --------
    >>> sr = SuperResolver.from_pretrained('deeplense-x2')  # doctest: +SKIP
    >>> hi = sr.enhance('cutout.fits')                       # doctest: +SKIP
    """

    def __init__(self, scale=2, *, arch='edsr-s', arch_kwargs=None, loss='l1', flux='total',
                 device='auto', seed=0, learning_rate=1e-3, gan=None):
        self.scale = scale
        self.arch = arch
        self.arch_kwargs = arch_kwargs
        self.loss = loss
        self.gan = gan
        self.flux = flux
        self.device = device
        self.seed = seed
        self.learning_rate = learning_rate

    # ------------------------------------------------------------------ checks
    def _check_params(self):
        if isinstance(self.scale, bool) or self.scale not in (2, 3, 4):
            msg = f'scale must be 2, 3 or 4, got {self.scale!r}'
            raise ValueError(msg)
        if self.arch not in SR_ARCHS:
            msg = f'unknown arch {self.arch!r}; use one of {sorted(SR_ARCHS)}'
            raise ValueError(msg)
        if self.loss not in _LOSSES:
            msg = f'loss must be one of {_LOSSES}, got {self.loss!r}'
            raise ValueError(msg)
        if self.gan is not None:
            from astrolens.models._adversarial import GAN_DEFAULTS

            if not isinstance(self.gan, dict):
                msg = f'gan must be a dict of options, got {type(self.gan).__name__}'
                raise TypeError(msg)
            unknown = sorted(set(self.gan) - set(GAN_DEFAULTS))
            if unknown:
                msg = f'unknown gan options {unknown}; known: {sorted(GAN_DEFAULTS)}'
                raise ValueError(msg)
        if self.flux not in _FLUX:
            msg = f'flux must be one of {_FLUX}, got {self.flux!r}'
            raise ValueError(msg)

    def _check_fitted(self):
        if getattr(self, 'model_', None) is None:
            msg = ('this SuperResolver has no trained network yet: call fit(...), '
                   'SuperResolver.load(path) or SuperResolver.from_pretrained(name) first')
            raise NotFittedError(msg)

    def _device(self):
        from astrolens.models._training import resolve_device
        return resolve_device(self.device)

    # ------------------------------------------------------------------ training
    def fit(self, lr, hr=None, *, epochs=20, batch_size=16, patch_size=24, val_fraction=0.1,
            patience=None, max_minutes=None, checkpoint_dir=None, resume=True, init=None,
            noise_augment=0.0, weight_decay=0.0, progress=True, max_val=256,
            lr_scales=None):
        """Train the network on low/high-resolution pairs.

        Parameters
        ----------
        lr : array-like, list, str or `~pathlib.Path`
            ``(N, h, w)`` array or a list of images (arrays, NDData, HDUs,
            FITS paths); or, with ``hr`` omitted, a list of
            `~astrolens.preprocessing.RegisteredPair` or the path of a
            DeepLense super-resolution folder.
        hr : array-like or list, optional
            ``(N, scale*h, scale*w)`` or a list, matching ``lr``.
        epochs : int, optional
            Maximum number of epochs; one epoch draws one random patch per
            training pair.
        batch_size, patch_size : int, optional
            Patches per step, and their side in low-resolution pixels.
        val_fraction : float, optional
            Share of the pairs held out for validation (best weights and
            early stopping on the validation PSNR); 0 turns it off.
        patience : int, optional
            Early stopping after this many epochs without a better PSNR.
        max_minutes : float, optional
            Time budget: the cosine schedule is fitted to it.
        checkpoint_dir : str or `~pathlib.Path`, optional
            Where a checkpoint is written after every epoch; an existing
            one is resumed (unless ``resume=False``).
        resume : bool, optional
        init : str, `~pathlib.Path` or `SuperResolver`, optional
            Start from these weights (a shipped model name, a saved path, or
            a fitted estimator) instead of a fresh network.
        noise_augment : float, optional
            Add Gaussian noise of a random sigma up to this (in normalised
            units, where 1 is the bright end of the image) to the inputs.
        weight_decay : float, optional
        progress : bool, optional
            Show tqdm progress bars.
        max_val : int, optional
            At most this many validation pairs are evaluated each epoch.
        lr_scales : dict, optional
            Learning-rate factors by parameter-name prefix, e.g.
            ``{'head.': 0.1, 'body.': 0.1}`` (0 freezes); see
            `astrolens.models.train`.

        Returns
        -------
        self : `SuperResolver`
        """
        from astrolens.models._training import train

        self._check_params()
        s = int(self.scale)
        lrs, hrs = _as_pairs(lr, hr, s)
        gain = _estimate_gain(lrs, hrs, s)
        xs, ys = _prepare(lrs, hrs, s, gain)
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(xs))
        n_val = int(round(val_fraction * len(xs))) if len(xs) >= 5 else 0
        val_idx, train_idx = order[:n_val][:max_val], order[n_val:]
        if len(train_idx) < batch_size:
            batch_size = max(1, len(train_idx))
        torch.manual_seed(self.seed)
        model = self._init_model(init)
        sampler = _PatchSampler([xs[i] for i in train_idx], [ys[i] for i in train_idx],
                                scale=s, patch_size=patch_size, batch_size=batch_size,
                                seed=self.seed, noise=noise_augment)
        val_batches = None
        if n_val:
            val_batches = self._val_batches([xs[i] for i in val_idx], [ys[i] for i in val_idx])
        loss_fn = self._loss_function()
        t0 = time.perf_counter()
        world_size = max(1, int(os.environ.get('WORLD_SIZE', '1')))
        result = train(model, loss_fn, sampler, epochs=epochs,
                       steps_per_epoch=sampler.steps(world_size),
                       lr=self.learning_rate, weight_decay=weight_decay,
                       val_batches=val_batches, metrics=_psnr_metric if n_val else None,
                       monitor='val_psnr', mode='max', patience=patience,
                       max_minutes=max_minutes, checkpoint_dir=checkpoint_dir, resume=resume,
                       device=self.device, seed=self.seed, progress=progress,
                       lr_scales=lr_scales, restore_best=self.loss != 'gan')
        model.eval()
        self.model_ = model
        self.flux_gain_ = float(gain)
        self.history_ = result.history
        self.name_ = getattr(self, 'name_', None) or f'{self.arch}-x{s}'
        previous = getattr(self, 'config_', {}) or {}
        self.config_ = {
            'training': {
                'n_pairs': len(xs), 'n_train': int(len(train_idx)), 'n_val': int(n_val),
                'lr_shape': list(lrs[0].shape), 'epochs_run': len(result.history),
                'best_epoch': result.best_epoch, 'stopped_early': result.stopped_early,
                'batch_size': int(batch_size), 'patch_size': int(patch_size),
                'learning_rate': self.learning_rate, 'noise_augment': noise_augment,
                'seconds': round(time.perf_counter() - t0, 1), 'seed': self.seed,
                'init': None if init is None else str(getattr(init, 'name_', init)),
                'lr_scales': lr_scales, 'history': result.history,
            },
        }
        if self.loss == 'gan':
            self.config_['training']['gan'] = self._gan_options()
        if init is not None and 'training' in previous:
            self.config_['pretraining'] = {
                **previous['training'],
                **{k: previous[k] for k in ('command', 'data', 'metrics') if k in previous}}
        return self

    def fine_tune(self, lr, hr=None, *, epochs=60, batch_size=8, patch_size=24,
                  learning_rate=None, val_fraction=0.2, patience=10, noise_augment=0.05,
                  checkpoint_dir=None, max_minutes=None, progress=True, body_lr_scale=0.1):
        """Adapt a fitted or pretrained network to a few hundred pairs.

        A lower learning rate (a tenth of ``learning_rate`` by default, and
        ``body_lr_scale`` times that for the feature extractor), strong
        augmentation (the 8 D4 symmetries and input-noise jitter) and early
        stopping on a held-out split keep the few-shot run from forgetting
        what the network knew.

        Parameters
        ----------
        lr, hr
            As for `fit`.
        epochs, batch_size, patch_size, val_fraction, patience, noise_augment,
        checkpoint_dir, max_minutes, progress
            As for `fit`, with few-shot defaults.
        learning_rate : float, optional
            Peak learning rate; default ``self.learning_rate / 10``.
        body_lr_scale : float, optional
            Factor on the learning rate of the head and body (the feature
            extractor); the upsampler and tail learn at the full rate. 0
            freezes the feature extractor, 1 trains everything alike.

        Returns
        -------
        self : `SuperResolver`
        """
        self._check_fitted()
        saved = self.learning_rate
        self.learning_rate = saved / 10 if learning_rate is None else learning_rate
        try:
            return self.fit(lr, hr, epochs=epochs, batch_size=batch_size, patch_size=patch_size,
                            val_fraction=val_fraction, patience=patience, init=self,
                            noise_augment=noise_augment, checkpoint_dir=checkpoint_dir,
                            max_minutes=max_minutes, progress=progress,
                            lr_scales={'head.': body_lr_scale, 'body.': body_lr_scale})
        finally:
            self.learning_rate = saved

    def _gan_options(self):
        from astrolens.models._adversarial import GAN_DEFAULTS

        return {**GAN_DEFAULTS, **(self.gan or {})}

    def _loss_function(self):
        if self.loss == 'l1':
            return F.l1_loss
        if self.loss == 'l2':
            return F.mse_loss
        from astrolens.models._adversarial import AdversarialLoss, ClassifierFeatures
        from astrolens.models._classifier import LensClassifier

        options = self._gan_options()
        features = None
        if options['feature_model'] is not None:
            classifier = LensClassifier.from_pretrained(options['feature_model'])
            features = ClassifierFeatures(classifier)
        return AdversarialLoss(features, pixel='l1', **{
            k: v for k, v in options.items() if k != 'feature_model'})

    def _init_model(self, init):
        model = create_sr_network(self.arch, int(self.scale), **(self.arch_kwargs or {}))
        if init is None:
            return model
        if isinstance(init, SuperResolver):
            source = init
        else:
            source = SuperResolver.from_pretrained(init)
        source._check_fitted()
        if source.arch != self.arch or (source.arch_kwargs or {}) != (self.arch_kwargs or {}):
            msg = (f'init weights are for arch={source.arch!r} {source.arch_kwargs or ""}; '
                   f'this SuperResolver is arch={self.arch!r} {self.arch_kwargs or ""}')
            raise ValueError(msg)
        state = copy.deepcopy(source.model_.state_dict())
        if int(source.scale) != int(self.scale):
            # Transfer across scales: the feature extractor (head and body) carries over,
            # the upsampler and tail start fresh.
            own = model.state_dict()
            state = {k: v for k, v in state.items()
                     if k.startswith(('head.', 'body.')) and k in own and own[k].shape == v.shape}
            own.update(state)
            state = own
        model.load_state_dict(state)
        if source is not self:
            self.config_ = getattr(source, 'config_', {})
        return model

    @staticmethod
    def _val_batches(xs, ys, batch=16):
        shapes = {x.shape for x in xs}
        if len(shapes) > 1:
            side = min(min(x.shape) for x in xs)
            s = ys[0].shape[0] // xs[0].shape[0]
            xs = [x[:side, :side] for x in xs]
            ys = [y[:s * side, :s * side] for y in ys]
        xt = torch.from_numpy(np.stack(xs))[:, None]
        yt = torch.from_numpy(np.stack(ys))[:, None]

        def batches():
            for first in range(0, len(xt), batch):
                yield xt[first:first + batch], yt[first:first + batch]
        return batches

    # ------------------------------------------------------------------ inference
    def _predict_fn(self, device, *, uncertainty):
        model = self.model_.to(device).eval()

        @torch.no_grad()
        def run(batch):
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))[:, None]
            x = x.to(device)
            if not uncertainty:
                return model(x).cpu().numpy()
            outs = torch.stack([_d4_inverse(model(_d4(x, k).contiguous()), k)
                                for k in range(8)])
            mean, std = outs.mean(dim=0), outs.std(dim=0)
            return torch.cat([mean, std], dim=1).cpu().numpy()
        return run

    def _enhance_array(self, image, bad, *, surface_brightness, tile, overlap, batch_size,
                       uncertainty, progress, flux):
        s = int(self.scale)
        good = ~bad
        filled = _fill_bad(np.where(bad, 0.0, image), bad).astype(np.float64)
        offset, spread = _norm_params(filled)
        x = ((filled - offset) / spread).astype(np.float32)
        device = self._device()
        out = tiled_apply(self._predict_fn(device, uncertainty=uncertainty), x, scale=s,
                          tile=tile, overlap=overlap, batch_size=batch_size,
                          channels=2 if uncertainty else 1, progress=progress)
        area = 1.0 if surface_brightness else 1.0 / (s * s)
        sr = (out[0].astype(np.float64) * spread + offset) * area
        std = out[1].astype(np.float64) * spread * area if uncertainty else None
        lr_filled = np.where(good, image, 0.0)
        sr, factor = _correct_flux(sr, lr_filled, good, scale=s, mode=flux,
                                   surface_brightness=surface_brightness)
        if std is not None and factor is not None:
            std = std * np.abs(factor)
        return sr, std

    def enhance(self, data, *, tile=512, overlap=None, batch_size=1, uncertainty=False,
                progress=True, flux='default', hdu=None):
        """Super-resolve an image (or a batch of arrays).

        Parameters
        ----------
        data : array-like, tuple, `~astropy.nddata.NDData`, HDU, HDUList, str or Path
            One image in any form `astrolens.io.to_nddata` accepts, or a
            ``(N, H, W)`` array (a batch of images in flux per pixel).
        tile : int, optional
            Largest side of the tiles, in input pixels; images larger than
            this are processed tile by tile, so memory stays bounded (about
            1 GB at the default 512 with ``batch_size=1``).
        overlap : int, optional
            Overlap kept on each side of a tile; default the network's
            receptive field, which makes the tiled result equal to the
            untiled one. Smaller values trade exactness for speed.
        batch_size : int, optional
            Tiles per network call; memory grows with it.
        uncertainty : bool, optional
            Run the 8 D4 symmetries of every tile; return their mean, with
            their standard deviation as a `~astropy.nddata.StdDevUncertainty`
            (8x slower).
        progress : bool, optional
            Show a progress bar over tiles (or batch images).
        flux : {'total', 'block', None}, optional
            Override the estimator's ``flux`` setting for this call.
        hdu : int or str, optional
            Extension to read, for a FITS file or ``HDUList`` with several.

        Returns
        -------
        enhanced : `~astropy.nddata.NDData` or `~numpy.ndarray`
            For one image: ``NDData`` with ``scale`` x more pixels per axis,
            the WCS rescaled (`astrolens.wcs_utils.scale_wcs`), the same
            unit, the mask upsampled (input NaNs stay NaN there, and only
            there), ``meta`` kept plus the provenance (``sr_model``,
            ``sr_version``, ``sr_scale``, ``sr_flux``). For a batch: an
            array ``(N, scale*H, scale*W)``, or ``(array, std)`` with
            ``uncertainty=True``.
        """
        self._check_fitted()
        flux = self.flux if flux == 'default' else flux
        if flux not in _FLUX:
            msg = f'flux must be one of {_FLUX}, got {flux!r}'
            raise ValueError(msg)
        if overlap is None:
            overlap = int(getattr(self.model_, 'receptive_field', 16))
        if tile <= 2 * overlap:
            msg = (f'tile={tile} is too small for overlap={overlap}: use tile > '
                   f'{2 * overlap} (e.g. {max(256, 4 * overlap)})')
            raise ValueError(msg)
        opts = {'tile': int(tile), 'overlap': int(overlap), 'batch_size': int(batch_size),
                'uncertainty': bool(uncertainty), 'flux': flux}
        if isinstance(data, np.ndarray) and data.ndim in (3, 4):
            return self._enhance_batch(data, progress=progress, **opts)
        nd = to_nddata(data, hdu=hdu)
        image = np.asarray(nd.data)
        if image.ndim != 2:
            msg = f'enhance takes one 2-D image or an (N, H, W) array, got shape {image.shape}'
            raise ValueError(msg)
        finite = np.isfinite(image)
        bad = ~finite if nd.mask is None else (np.asarray(nd.mask, dtype=bool) | ~finite)
        if bad.all():
            msg = 'every pixel of the image is masked or non-finite; nothing to enhance'
            raise ValueError(msg)
        if nd.unit is not None and _is_logarithmic(nd.unit):
            msg = (f'enhance needs a linear unit (flux or surface brightness), got {nd.unit}; '
                   'convert magnitudes to flux first')
            raise ValueError(msg)
        sb = is_surface_brightness(nd.unit)
        sr, std = self._enhance_array(image, bad, surface_brightness=sb, progress=progress,
                                      **opts)
        s = int(self.scale)
        up = lambda a: np.repeat(np.repeat(a, s, axis=0), s, axis=1)  # noqa: E731
        sr[up(~finite)] = np.nan
        dtype = np.float32 if image.dtype == np.float32 else np.float64
        mask = up(bad) if bad.any() else None
        meta = dict(nd.meta or {})
        meta.update({'sr_model': self.name_, 'sr_version': __version__, 'sr_scale': s,
                     'sr_flux': 'none' if flux is None else flux, 'sr_arch': self.arch})
        wcs = scale_wcs(nd.wcs, s) if nd.wcs is not None else None
        unc = StdDevUncertainty(std.astype(dtype)) if std is not None else None
        return NDData(sr.astype(dtype), wcs=wcs, unit=nd.unit, mask=mask, meta=meta,
                      uncertainty=unc)

    def _enhance_batch(self, data, *, progress, **opts):
        batch = as_image_array(data, name='data')
        if batch.ndim == 2:
            batch = batch[None]
        srs, stds = [], []
        from tqdm.auto import tqdm
        for image in tqdm(batch, desc='enhance', unit='image', leave=False,
                          disable=not progress or len(batch) < 2):
            bad = ~np.isfinite(image)
            if bad.all():
                msg = 'an image of the batch has no finite pixel'
                raise ValueError(msg)
            sr, std = self._enhance_array(image, bad, surface_brightness=False,
                                          progress=False, **opts)
            s = int(self.scale)
            sr[np.repeat(np.repeat(bad, s, axis=0), s, axis=1)] = np.nan
            srs.append(sr)
            stds.append(std)
        dtype = np.float32 if batch.dtype == np.float32 else np.float64
        out = np.stack(srs).astype(dtype)
        if opts['uncertainty']:
            return out, np.stack(stds).astype(dtype)
        return out

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, lr, hr, *, surface_brightness=False, tile=512, batch_size=2,
                 progress=False):
        """PSNR, SSIM, MSE and flux errors of the model and of bicubic upsampling.

        Metrics follow `astrolens.metrics` (images rescaled by the range of
        the high-resolution reference, ``data_range = 1``). ``lr`` and ``hr``
        must be in consistent units: flux per pixel (``hr`` sums to the
        ``lr`` total) or, with ``surface_brightness=True``, per solid angle.

        Parameters
        ----------
        lr, hr : array-like
            ``(N, h, w)`` and ``(N, scale*h, scale*w)`` (or single images).
        surface_brightness : bool, optional
        tile, batch_size, progress
            Passed to `enhance`.

        Returns
        -------
        metrics : dict
            ``{'model': {...}, 'bicubic': {...}, 'n_images': N}`` where each
            inner dict holds ``psnr`` (dB), ``ssim``, ``mse`` and
            ``flux_error`` (mean absolute relative total-flux error against
            ``hr``) and ``flux_conservation`` (the same against ``lr``).
        """
        from astrolens.metrics._image import flux_error, image_metrics

        self._check_fitted()
        lrs, hrs = _as_pairs(lr, hr, int(self.scale))
        s = int(self.scale)
        srs, bics = [], []
        for low in lrs:
            bad = ~np.isfinite(low)
            sr, _ = self._enhance_array(low.astype(np.float64), bad,
                                        surface_brightness=surface_brightness, tile=tile,
                                        overlap=int(self.model_.receptive_field),
                                        batch_size=batch_size, uncertainty=False,
                                        progress=False, flux=self.flux)
            srs.append(sr)
            bics.append(bicubic_upscale(low, s, surface_brightness=surface_brightness))
        out = {'n_images': len(lrs)}
        for name, preds in (('model', srs), ('bicubic', bics)):
            entry = {'psnr': [], 'ssim': [], 'mse': [], 'flux_error': [],
                     'flux_conservation': []}
            for pred, high, low in zip(preds, hrs, lrs, strict=True):
                m = image_metrics(pred, high)
                for key in ('psnr', 'ssim', 'mse', 'flux_error'):
                    entry[key].append(m[key])
                entry['flux_conservation'].append(abs(flux_error(
                    pred, low, surface_brightness=surface_brightness)))
            out[name] = {k: float(np.mean(v)) for k, v in entry.items()}
        return out

    # ------------------------------------------------------------------ persistence
    def _config(self):
        config = {
            'kind': CONFIG_KIND, 'format_version': FORMAT_VERSION,
            'astrolens_version': __version__, 'name': self.name_,
            'scale': int(self.scale), 'arch': self.arch, 'arch_kwargs': self.arch_kwargs or {},
            'loss': self.loss, 'flux': self.flux, 'seed': self.seed,
            'learning_rate': self.learning_rate, 'gan': self.gan,
            'normalization': {'method': 'flux', 'per': 'image', 'offset': 'median',
                              'scale': '99.5th percentile above the median'},
            'flux_gain': self.flux_gain_,
            'receptive_field': int(self.model_.receptive_field),
            'n_parameters': count_parameters(self.model_),
        }
        extra = {k: v for k, v in (getattr(self, 'config_', None) or {}).items()
                 if k not in config}
        config.update(extra)
        return config

    def save(self, path, *, overwrite=False):
        """Write ``PATH.safetensors`` (weights) and ``PATH.json`` (configuration).

        Parameters
        ----------
        path : str or `~pathlib.Path`
            With or without one of those suffixes.
        overwrite : bool, optional

        Returns
        -------
        paths : tuple of `~pathlib.Path`
            ``(weights, config)``.
        """
        from astrolens.models._serialization import save_weights, to_tensor_dict

        self._check_fitted()
        return save_weights(path, to_tensor_dict(self.model_.state_dict()), self._config(),
                            overwrite=overwrite)

    @classmethod
    def _from_parts(cls, config, weights_source, *, source, device):
        from astrolens.models._serialization import load_state, load_weights

        if config.get('kind') != CONFIG_KIND:
            msg = (f'{source} is not a SuperResolver configuration '
                   f"(kind={config.get('kind')!r})")
            raise WeightsError(msg)
        try:
            est = cls(int(config['scale']), arch=config['arch'],
                      arch_kwargs=config.get('arch_kwargs') or None,
                      loss=config.get('loss', 'l1'), flux=config.get('flux', 'total'),
                      device=device, seed=config.get('seed', 0),
                      learning_rate=config.get('learning_rate', 1e-3),
                      gan=config.get('gan'))
            est._check_params()
            model = create_sr_network(est.arch, est.scale, **(est.arch_kwargs or {}))
            gain = float(config['flux_gain'])
        except (KeyError, TypeError, ValueError) as exc:
            msg = f'the configuration in {source} is incomplete or invalid: {exc}'
            raise WeightsError(msg) from None
        state = load_weights(weights_source, name=str(source))
        load_state(model, state, source=source)
        model.eval()
        est.model_ = model
        est.flux_gain_ = gain
        est.name_ = config.get('name') or f'{est.arch}-x{est.scale}'
        est.history_ = (config.get('training') or {}).get('history', [])
        est.config_ = {k: v for k, v in config.items()
                       if k in ('training', 'pretraining', 'data', 'command', 'metrics',
                                'description')}
        return est

    @classmethod
    def load(cls, path, *, device='auto'):
        """Read an estimator written by `save`.

        Raises
        ------
        WeightsError
            For a missing, corrupted or mismatched weights or configuration file.
        """
        from astrolens.models._serialization import read_json_config, weight_paths

        weights, config_path = weight_paths(path)
        config = read_json_config(config_path, source=str(config_path))
        return cls._from_parts(config, weights, source=weights, device=device)

    @classmethod
    def from_pretrained(cls, name, *, device='auto'):
        """A shipped model by name (``'deeplense-x2'``, ...), or a saved path.

        Weights are read from package data with `importlib.resources`; the
        network is never reached.

        Raises
        ------
        ValueError
            For an unknown name; the message lists the shipped models.
        """
        from pathlib import Path

        from astrolens.models._serialization import read_json_config, weight_paths
        from astrolens.models.pretrained import available_models, model_files

        if isinstance(name, SuperResolver):
            return name
        if name in available_models():
            weights, config_path = model_files(name)
            config = read_json_config(config_path, source=f'shipped model {name!r}')
            return cls._from_parts(config, weights, source=f'shipped model {name!r}',
                                   device=device)
        if isinstance(name, (str, Path)) and any(f.exists() for f in weight_paths(name)):
            # A saved model, maybe with one of its files missing: load says which.
            return cls.load(name, device=device)
        msg = (f'no shipped super-resolution model named {name!r} and no such saved model; '
               f'shipped: {available_models() or "none"}')
        raise ValueError(msg)

    def __repr__(self):
        params = ', '.join(f'{k}={getattr(self, k)!r}' for k in
                           ('arch', 'loss', 'flux', 'device', 'seed')
                           if getattr(self, k) is not None)
        return f'SuperResolver(scale={self.scale!r}, {params})'
