# Licensed under a 3-clause BSD style license - see LICENSE
"""Flux corrections of super-resolved images, and the LR/HR intensity gain of training pairs.

`correct_flux` runs after the network (and after the tiles are stitched):

- ``'total'`` makes the total flux (surface brightness: the mean) over the
  unmasked pixels equal to the input's;
- ``'block'`` makes every ``scale x scale`` block sum (mean) equal to its
  input pixel;
- ``'local'`` (`backproject_flux`) makes the super-resolved image, summed
  back onto the input grid, reproduce the input on every scale above the
  noise: the residual ``lr - block_sum(sr)`` is smoothed (a Gaussian of
  ``smooth`` input pixels, so noise is not put back) and spread back with
  a bicubic upsampling (so no block pattern appears), a few times over,
  then the total is made exact. Every source's aperture flux follows the
  input's, and the total is kept.

`estimate_gain` is the intensity gain ``block_mean(hr) / lr`` of training
pairs as a ratio of sums (``1/scale**2`` for flux per pixel).
"""

import numpy as np
from scipy import ndimage

__all__ = ['backproject_flux', 'block_sum', 'correct_flux', 'estimate_gain']


def block_sum(image, s):
    """Sum of every ``s x s`` block of a 2-D image whose sides are multiples of ``s``."""
    h, w = image.shape[0] // s, image.shape[1] // s
    return image.reshape(h, s, w, s).sum(axis=(1, 3))


def backproject_flux(sr, lr, good_lr, *, scale, surface_brightness=False, smooth=2.0,
                     n_iter=4):
    """Local flux correction by iterative, smoothed back-projection.

    Parameters
    ----------
    sr : `~numpy.ndarray`
        ``(s*h, s*w)`` super-resolved image in the input's units.
    lr : `~numpy.ndarray`
        ``(h, w)`` input (any value where not ``good_lr``).
    good_lr : `~numpy.ndarray` of bool
        Input pixels to honour; masked ones neither pull nor push.
    scale : int
    surface_brightness : bool, optional
        Block means (not sums) reproduce the input.
    smooth : float, optional
        Gaussian sigma, in input pixels, of the residual before it is spread
        back: 0 reproduces the input pixel by pixel (and its noise), larger
        values keep fluxes on larger scales only. The residual also holds
        the PSF difference between input and output (the output is sharper),
        which must not be undone, so the smoothing must be about as wide as
        that PSF: the default, 2, is a compromise over the PSFs the shipped
        models were trained for (1.2-6 input pixels FWHM);
        ``benchmarks/bench_superres.py --flux-modes`` shows 1 and 3 beside it.
    n_iter : int, optional

    Returns
    -------
    corrected : `~numpy.ndarray`
        With ``sum(corrected)`` (over good pixels) equal to the input's
        (surface brightness: the mean).
    """
    from astrolens.models._sr_inference import bicubic_upscale

    s = int(scale)
    per_pixel = 1.0 if surface_brightness else float(s * s)
    good = np.asarray(good_lr, dtype=bool)
    target = np.where(good, lr, 0.0).astype(np.float64)
    density = np.asarray(sr, dtype=np.float64) * per_pixel
    for _ in range(int(n_iter)):
        resid = np.where(good, target - block_sum(density, s) / (s * s), 0.0)
        if smooth > 0:
            # masked pixels hold no residual: their neighbours' spill over, never amplified
            # (a normalised convolution would keep pushing into pixels nothing constrains)
            resid = ndimage.gaussian_filter(resid, smooth, mode='reflect')
        density = density + bicubic_upscale(resid, s, surface_brightness=True)
    good_hr = np.repeat(np.repeat(good, s, axis=0), s, axis=1)
    total = float(np.sum(target[good])) * s * s
    density[good_hr] += (total - float(np.sum(density[good_hr]))) / max(int(good_hr.sum()), 1)
    return density / per_pixel


def correct_flux(sr, lr, good_lr, *, scale, mode, surface_brightness, smooth=2.0):
    """Flux correction after stitching; returns ``(corrected, multiplicative_factor_map)``.

    ``mode`` is ``'local'``, ``'total'``, ``'block'`` or None (see the module docstring);
    ``smooth`` is the smoothing of ``'local'`` (`backproject_flux`).
    """
    s = scale
    area = s * s if surface_brightness else 1.0
    if mode is None:
        return sr, None
    if mode == 'local':
        return backproject_flux(sr, lr, good_lr, scale=s, surface_brightness=surface_brightness,
                                smooth=smooth), None
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
    sums = block_sum(sr, s)
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


def estimate_gain(lrs, hrs, scale):
    """Intensity gain ``g = sum(block_mean(hr)) / sum(lr)`` over all pairs (a ratio of sums).

    ``1 / scale**2`` for pairs in flux per pixel, 1 for surface brightness;
    anything else for data normalised separately (as DeepLense distributes).
    A ratio of sums, unlike a per-pixel regression slope, is not biased by
    the noise of the low-resolution images.
    """
    num = den = 0.0
    for low, high in zip(lrs, hrs, strict=True):
        good = np.isfinite(low)
        hb = block_sum(np.nan_to_num(high), scale) / scale ** 2
        good &= np.isfinite(hb)
        num += float(np.sum(hb[good], dtype=np.float64))
        den += float(np.sum(low[good], dtype=np.float64))
    gain = num / den if den != 0 else 1.0
    if not gain > 0:
        msg = ('the high-resolution images do not correlate positively with the '
               'low-resolution ones; check that the pairs are aligned')
        raise ValueError(msg)
    return gain

