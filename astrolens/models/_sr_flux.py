# Licensed under a 3-clause BSD style license - see LICENSE
"""Flux corrections of super-resolved images, and the LR/HR intensity gain of training pairs.

`correct_flux` runs after the network (and after the tiles are stitched):

- ``'total'`` makes the total flux (surface brightness: the mean) over the
  unmasked pixels equal to the input's;
- ``'block'`` makes every ``scale x scale`` block sum (mean) equal to its
  input pixel.
"""

import numpy as np

__all__ = ['block_sum', 'correct_flux', 'estimate_gain']


def block_sum(image, s):
    """Sum of every ``s x s`` block of a 2-D image whose sides are multiples of ``s``."""
    h, w = image.shape[0] // s, image.shape[1] // s
    return image.reshape(h, s, w, s).sum(axis=(1, 3))


def correct_flux(sr, lr, good_lr, *, scale, mode, surface_brightness):
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
    """Least-squares factor ``g`` with ``block_mean(hr) ~ g * lr`` over all pairs.

    ``1 / scale**2`` for pairs in flux per pixel, 1 for surface brightness;
    anything else for data normalised separately (as DeepLense distributes).
    """
    num = den = 0.0
    for low, high in zip(lrs, hrs, strict=True):
        good = np.isfinite(low)
        hb = block_sum(np.nan_to_num(high), scale) / scale ** 2
        good &= np.isfinite(hb)
        num += float(np.sum(low[good] * hb[good], dtype=np.float64))
        den += float(np.sum(low[good] ** 2, dtype=np.float64))
    gain = num / den if den > 0 else 1.0
    if not gain > 0:
        msg = ('the high-resolution images do not correlate positively with the '
               'low-resolution ones; check that the pairs are aligned')
        raise ValueError(msg)
    return gain

