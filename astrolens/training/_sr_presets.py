# Licensed under a 3-clause BSD style license - see LICENSE
"""Training of the shipped super-resolution models from the degradation model.

Pairs are drawn fresh at every step: a random crop of a training source
(`astrolens.datasets.SourcePool`: real HST images, the left half of the
Hubble Deep Field, drawn-scene lenses, stars, empty sky) degraded by a
random recipe of `astrolens.datasets.RANGES` (`degrade`). The network is
noise-aware: its second input channel is the noise level of every input
pixel, on the normalised scale -- the true one for half of the pairs, a
robust single-image estimate (what `enhance` uses without an uncertainty)
for the other half.

A PSF-conditioned model (``psf_condition=True``) is also told the PSFs of
each pair: the input's FWHM and the sharpening from it to the target's
(`astrolens.models._sr_networks.psf_condition_values`), both as one would
measure them on the pixels (pixel response included) and jittered by 5%, as a
user's measurement would be; for a share ``p_blind`` of the pairs they are
hidden, so that the same network also runs blind.

`train_sr_preset` runs it and writes a `SuperResolver` whose JSON records
the command, data, split, ranges, domain and time; it is what
``astrolens train sr`` calls.
"""

import time

import numpy as np
import torch
import torch.nn.functional as F

from astrolens.datasets._degradation import RANGES, degrade, draw_recipe, robust_sigma
from astrolens.datasets._sources import HDF_SPLIT_COLUMN, HST_EVAL, SourcePool

__all__ = ['DegradationSampler', 'PRESET_DOMAINS', 'SIMULATED_PAIR_DOMAINS', 'draw_degraded_pair',
           'draw_training_pair', 'train_sr_preset']

#: What each preset is trained for; `enhance` warns outside it.
PRESET_DOMAINS = {
    'survey-x2': {'input_pixel_scale_arcsec': [0.03, 0.5], 'snr': [0.0, 500.0],
                  'lr_psf_fwhm_lr_pixels': [1.2, 6.0],
                  'description': 'any survey image whose PSF spans 1.2-6 pixels; sources '
                                 'drawn at peak S/N 5-500, empty sky too'},
    'deeplense-x2': {'input_pixel_scale_arcsec': [0.07, 0.14], 'snr': [0.0, 500.0],
                     'lr_psf_fwhm_lr_pixels': [1.2, 2.6],
                     'description': 'DeepLense-like lens images at ~0.1"/px; peak S/N 5-500'},
    'hsc-hst-x3': {'input_pixel_scale_arcsec': [0.14, 0.22], 'snr': [0.0, 500.0],
                   'lr_psf_fwhm_lr_pixels': [2.5, 6.0],
                   'description': 'HSC-like ground images (0.168"/px, seeing 0.5-1") '
                                  'to an HST grid 3x finer; peak S/N 5-500'},
}

#: What a model trained on simulated pairs alone (``astrolens train sr --preset NAME``
#: without ``--degradation``) is trained for: one fixed recipe, so a narrow domain.
SIMULATED_PAIR_DOMAINS = {
    'deeplense-x2': {'input_pixel_scale_arcsec': [0.09, 0.11],
                     'lr_psf_fwhm_lr_pixels': [1.35, 1.65],
                     'description': 'DeepLense Task III.A pairs: the Model I lens without '
                                    'substructure at 0.10"/px with a 0.15" Gaussian PSF, '
                                    'Poisson and background noise, to 0.05"/px and 0.087"'},
}

_MARGIN = 3   # LR pixels cut from each side of a degraded crop (convolution borders)
#: Share of the pairs a PSF-conditioned model is trained on blind.
P_BLIND = 0.3
# FWHM^2 a one-pixel box adds to a Gaussian PSF (pixels^2): 8 ln 2 / 12
_PIXEL_FWHM2 = 8.0 * np.log(2.0) / 12.0
_CONDITION_JITTER = 0.05   # log-normal scatter of the FWHMs a conditioned model is told


def _normalise(lr):
    from astrolens.models._sr_inference import fill_bad, norm_params

    bad = ~np.isfinite(lr)
    filled = fill_bad(np.where(bad, 0.0, lr), bad)
    offset, spread = norm_params(filled)
    return filled, offset, spread


def draw_degraded_pair(pool, rng, *, preset, lr_size, return_recipe=False):
    """One degraded pair as the training draws it, in its own units.

    Returns
    -------
    lr, hr, sigma : `~numpy.ndarray`
        The ``(lr_size, lr_size)`` input (NaN where masked), the
        ``(s*lr_size, s*lr_size)`` target in flux per output pixel, and the
        input's noise standard deviation per pixel.
    recipe : `~astrolens.datasets.Recipe`
        How it was degraded; only with ``return_recipe=True``.
    """
    r = RANGES[preset]
    s = int(r['scale'])
    ratio = float(rng.choice(r['pixel_ratio']))
    # hsc-hst-x3: half of the real HST crops are sampled physically, 0.168" LR pixels over
    # the image's own pixel scale (down to 0.03": a ratio of 5.6)
    physical = preset == 'hsc-hst-x3' and rng.random() < 0.5
    size = int(np.ceil((lr_size + 2 + 2 * _MARGIN) * (0.168 / 0.03 if physical else ratio))) + 2
    image, fwhm, _, pix = pool.crop(rng, size)
    if physical and pix is not None:
        ratio = 0.168 / pix
    overrides = {'pixel_ratio': ratio}
    image = image * float(np.exp(rng.uniform(np.log(0.1), np.log(10.0))))
    recipe = draw_recipe(rng, preset=preset, native_fwhm=fwhm, overrides=overrides)
    pair = degrade(image, recipe, rng=rng, native_fwhm=fwhm, margin=_MARGIN)
    if min(pair.lr.shape) < lr_size:
        msg = f'internal: a degraded crop of {pair.lr.shape} is smaller than {lr_size}'
        raise RuntimeError(msg)
    out = (pair.lr[:lr_size, :lr_size], pair.hr[:s * lr_size, :s * lr_size],
           pair.sigma[:lr_size, :lr_size])
    return (*out, recipe) if return_recipe else out


def recipe_psf_fwhms(recipe):
    """``(input FWHM in input pixels, target FWHM in target pixels)`` of a recipe.

    As they would be measured on the images' own pixels: the PSF the recipe
    draws and the pixel's box (the input's PSF is nearly Gaussian only in the
    core, which a FWHM describes).
    """
    s = float(recipe.scale)
    fin = float(np.sqrt((recipe.lr_fwhm / s) ** 2 + _PIXEL_FWHM2))
    fout = float(np.sqrt(recipe.target_fwhm ** 2 + _PIXEL_FWHM2))
    return fin, fout


def draw_training_pair(pool, rng, *, preset, lr_size, psf_condition=False, p_blind=P_BLIND):
    """One normalised training pair (`draw_degraded_pair`, normalised).

    Parameters
    ----------
    psf_condition : bool, optional
        Add the PSF channels of a conditioned network (see the module
        docstring), blind for a share ``p_blind`` of the pairs.

    Returns
    -------
    x : `~numpy.ndarray`
        ``(2, lr_size, lr_size)`` float32: normalised LR (masked pixels
        filled) and its noise level on the same scale; with
        ``psf_condition``, ``(2 + PSF_CONDITION_CHANNELS, lr_size, lr_size)``.
    y : `~numpy.ndarray`
        ``(1, s*lr_size, s*lr_size)`` float32: the target as a density on
        the LR scale (``hr * s**2``, normalised like the LR).
    """
    from astrolens.models._sr_networks import psf_condition_values

    s = int(RANGES[preset]['scale'])
    lr, hr, sigma, recipe = draw_degraded_pair(pool, rng, preset=preset, lr_size=lr_size,
                                               return_recipe=True)
    filled, offset, spread = _normalise(lr)
    x = (filled - offset) / spread
    if rng.random() < 0.5:
        noise = sigma / spread
    else:
        noise = np.full(lr.shape, robust_sigma(filled) / spread)
    y = (hr * s * s - offset) / spread
    channels = [x, noise]
    if psf_condition:
        fin, fout = recipe_psf_fwhms(recipe)
        jitter = np.exp(rng.normal(0.0, _CONDITION_JITTER, 2))
        blind = rng.random() < p_blind
        values = psf_condition_values(None if blind else fin * jitter[0], fout * jitter[1],
                                      scale=s)
        channels += [np.full(lr.shape, v) for v in values]
    return (np.stack(channels).astype(np.float32), y[None].astype(np.float32))


class DegradationSampler:
    """Batches of fresh degraded pairs for `astrolens.models.train`."""

    def __init__(self, pool, *, preset, lr_size, batch_size, steps, seed, psf_condition=False):
        self.pool, self.preset, self.lr_size = pool, preset, int(lr_size)
        self.batch_size, self.n_steps, self.seed = int(batch_size), int(steps), int(seed)
        self.psf_condition = bool(psf_condition)

    def steps(self, world_size=1):
        """Optimiser steps per epoch and process."""
        return max(1, self.n_steps // world_size)

    def __call__(self, epoch, rank=0, world_size=1):
        from astrolens.models._sr_inference import d4
        from astrolens.models._training import epoch_rng

        rng = epoch_rng(self.seed, epoch, rank)
        for _ in range(self.steps(world_size)):
            pairs = [draw_training_pair(self.pool, rng, preset=self.preset,
                                        lr_size=self.lr_size, psf_condition=self.psf_condition)
                     for _ in range(self.batch_size)]
            x = torch.from_numpy(np.stack([p[0] for p in pairs]))
            y = torch.from_numpy(np.stack([p[1] for p in pairs]))
            k = int(rng.integers(0, 8))
            yield d4(x, k).contiguous(), d4(y, k).contiguous()


def _flux_gain(pool, rng, preset, n=64, lr_size=32):
    """``sum(block_mean(hr)) / sum(lr)`` over generated pairs with the sky on (a ratio of sums)."""
    num = den = 0.0
    for _ in range(n):
        image, fwhm, _, _ = pool.crop(rng, (lr_size + 2 + 2 * _MARGIN) * 4)
        recipe = draw_recipe(rng, preset=preset, native_fwhm=fwhm,
                             overrides={'sky_subtracted': False, 'mask_fraction': 0.0,
                                        'n_cosmic': 0})
        pair = degrade(image + 1.0, recipe, rng=rng, native_fwhm=fwhm, margin=_MARGIN)
        s = recipe.scale
        num += float(pair.hr.sum()) / (s * s)
        den += float(np.sum(pair.lr))
    return num / den


def _init_from(model, init):
    """Copy the weights of a (maybe single-channel) shipped or saved model into ``model``."""
    from astrolens.models._superres import SuperResolver

    source = SuperResolver.from_pretrained(init, device='cpu')
    own = model.state_dict()
    for key, value in source.model_.state_dict().items():
        if key not in own:
            continue
        if own[key].shape == value.shape:
            own[key] = value
        elif (value.ndim == 4 and own[key].shape[0] == value.shape[0]
              and own[key].shape[1] > value.shape[1] and key.startswith('head')):
            # a head with more input channels (noise, PSF): the weights of the channels both
            # have carry over, the new ones start at 0, so the network starts as it was
            extra = own[key].shape[1] - value.shape[1]
            own[key] = torch.cat([value, value.new_zeros((value.shape[0], extra,
                                                          *value.shape[2:]))], dim=1)
        elif key.startswith('head') and value.ndim == 4 and own[key].shape[1] < value.shape[1]:
            msg = (f'{init} takes {value.shape[1]} input channels (noise and PSF), more than this '
                   f'network\'s {own[key].shape[1]}: train it with psf_condition=True '
                   '(--psf-condition)')
            raise ValueError(msg)
    model.load_state_dict(own)
    return source.name_


def train_sr_preset(preset, out, *, minutes=60.0, arch='edsr-s', init=None, seed=0,
                    batch_size=16, lr_size=32, steps_per_epoch=100, learning_rate=5e-4,
                    checkpoint_dir=None, n_lenses=64, n_val=64, psf_condition=False,
                    progress=False, command=None, overwrite=True):
    """Train a noise-aware model of ``preset`` on degraded sources and save it.

    Parameters
    ----------
    preset : {'survey-x2', 'deeplense-x2', 'hsc-hst-x3'}
    out : str or `~pathlib.Path`
        Where `SuperResolver.save` writes ``.safetensors`` and ``.json``.
    minutes : float, optional
        Training time budget (the schedule is fitted to it).
    arch : str, optional
    init : str, optional
        Start from these weights (shipped name or saved path).
    seed : int, optional
    batch_size, lr_size, steps_per_epoch, learning_rate : optional
    checkpoint_dir : str or `~pathlib.Path`, optional
        Checkpoint after every epoch; an existing one is resumed.
    n_lenses, n_val : int, optional
        Lens scenes in the pool; fixed validation pairs.
    psf_condition : bool, optional
        Train a PSF-conditioned network (see the module docstring); the
        validation pairs are then told their PSFs (blind for the same share
        of them as in training).
    command : str, optional
        The command line to record.
    overwrite : bool, optional
        Replace existing output files.

    Returns
    -------
    sr : `SuperResolver`
    """
    from astrolens.models._sr_data import psnr_metric
    from astrolens.models._sr_networks import create_sr_network
    from astrolens.models._superres import SuperResolver
    from astrolens.models._training import train

    if preset not in RANGES:
        msg = f'unknown preset {preset!r}; use one of {sorted(RANGES)}'
        raise ValueError(msg)
    s = int(RANGES[preset]['scale'])
    torch.manual_seed(seed)
    pool = SourcePool(preset, seed=seed, n_lenses=n_lenses)
    arch_kwargs = {'noise_channel': True, **({'psf_condition': True} if psf_condition else {})}
    model = create_sr_network(arch, s, **arch_kwargs)
    init_name = _init_from(model, init) if init is not None else None
    val_rng = np.random.default_rng([seed, 99])
    val = []
    while len(val) < n_val:
        pair = draw_training_pair(pool, val_rng, preset=preset, lr_size=lr_size,
                                  psf_condition=psf_condition)
        # a flat target (empty sky) has no range, so no PSNR: it is trained on, not validated
        if np.ptp(pair[1]) > 0:
            val.append(pair)
    xv = torch.from_numpy(np.stack([v[0] for v in val]))
    yv = torch.from_numpy(np.stack([v[1] for v in val]))

    def val_batches():
        for first in range(0, len(xv), 16):
            yield xv[first:first + 16], yv[first:first + 16]

    sampler = DegradationSampler(pool, preset=preset, lr_size=lr_size, batch_size=batch_size,
                                 steps=steps_per_epoch, seed=seed, psf_condition=psf_condition)
    t0 = time.perf_counter()
    result = train(model, F.l1_loss, sampler, epochs=10_000, steps_per_epoch=sampler.steps(),
                   lr=learning_rate, weight_decay=0.0, val_batches=val_batches,
                   metrics=psnr_metric, monitor='val_psnr', mode='max',
                   max_minutes=minutes, checkpoint_dir=checkpoint_dir, resume=True,
                   device='cpu', seed=seed, progress=progress)
    model.eval()
    sr = SuperResolver(s, arch=arch, arch_kwargs=arch_kwargs, flux='local',
                       seed=seed, learning_rate=learning_rate, device='auto')
    sr.model_ = model
    sr.flux_gain_ = float(_flux_gain(pool, np.random.default_rng([seed, 5]), preset))
    sr.history_ = result.history
    sr.name_ = preset
    sr.config_ = {
        'command': command or (f'astrolens train sr --degradation --preset {preset} '
                               f'--max-minutes {minutes:g}'),
        'data': {
            'source': ('astrolens.datasets.SourcePool (real HST images of HST_TRAIN, HDF '
                       'columns < 500, drawn-scene lenses, stars, sky) degraded by '
                       'astrolens.datasets.degrade'),
            'seed': seed,
            'sources': pool.describe(),
            'degradation': {'module': 'astrolens.datasets._degradation',
                            'ranges': RANGES[preset]},
            'held_out': {'hst_files': [f'{p}[{h}]' for p, h, _, _ in HST_EVAL],
                         'hdf': f'columns >= {HDF_SPLIT_COLUMN}'},
            'pairs': 'drawn fresh every step (crop, D4, flux scale, recipe, noise)',
        },
        'domain': PRESET_DOMAINS[preset],
        'training': {
            'epochs_run': len(result.history), 'best_epoch': result.best_epoch,
            'steps_per_epoch': sampler.steps(), 'batch_size': batch_size, 'lr_size': lr_size,
            'learning_rate': learning_rate, 'minutes': round((time.perf_counter() - t0) / 60, 1),
            'seed': seed, 'init': init_name, 'noise_aware': True,
            **({'psf_conditioned': {'p_blind': P_BLIND, 'fwhm_jitter': _CONDITION_JITTER,
                                    'fwhms': 'recipe_psf_fwhms'}} if psf_condition else {}),
            'history': result.history,
        },
    }
    sr.save(out, overwrite=overwrite)
    return sr
