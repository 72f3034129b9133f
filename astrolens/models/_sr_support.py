# Licensed under a 3-clause BSD style license - see LICENSE
"""Where the input supports structure: a significance gate for super-resolved outputs.

A network sharpens what it sees, sky noise included: on empty sky it grows
compact specks that a deeper image of the same field does not hold (issue 23:
10 of 27 peaks above 5 sigma of a KiDS sky had no KiDS counterpart in
``survey-x2`` outputs of SDSS images). `support_mask` marks the input pixels
whose signal, smoothed over about a pixel, stands ``nsigma`` or more above the
sky noise, grown by ``grow`` pixels so that the wings of what is found stay
with it. `gate_unsupported` keeps the super-resolved output there and puts a
smooth version of the unsupported input pixels elsewhere: structure the input
does not support at that level is neither sharpened nor kept as noise. The level is the user's
choice and is recorded with the output.
"""

import numpy as np
from scipy import ndimage

from astrolens.utils import bicubic_upscale

__all__ = ['gate_unsupported', 'support_mask']

# Gaussian smoothing (input pixels) of the significance map and of the background put where
# the input supports nothing: wide enough to leave no peak of the noise, narrow enough to
# follow a varying sky
_SIGNIFICANCE_SMOOTH = 1.0
_BACKGROUND_SMOOTH = 3.0


def _sky_level(image, good):
    # the median of the values within 3 sigma (MAD) of the median: sources pull it up little
    values = image[good]
    if values.size == 0:
        return 0.0
    median = float(np.median(values))
    spread = 1.4826 * float(np.median(np.abs(values - median)))
    if not np.isfinite(spread) or spread == 0:
        return median
    return float(np.median(values[np.abs(values - median) < 3.0 * spread]))


def support_mask(image, bad, *, noise, nsigma=3.0, min_area=5, grow=2.0, sky=None):
    """Input pixels whose signal is significant at ``nsigma``, grown by ``grow`` pixels.

    Parameters
    ----------
    image : `~numpy.ndarray`
        The input (2-D); ``bad`` pixels may hold anything.
    bad : `~numpy.ndarray` of bool
        Pixels to ignore (never supported).
    noise : float or `~numpy.ndarray`
        Noise standard deviation per input pixel, a number or a map like
        ``image``.
    nsigma : float, optional
        Significance of the signal, smoothed by a Gaussian of one pixel,
        above the sky level (a sigma-clipped median).
    min_area : int, optional
        Fewest connected pixels above ``nsigma`` that count (as a source
        extractor's minimum area): a noise excursion of the smoothed image
        covers a pixel or a few, so at 3 sigma it would otherwise be kept
        once every few hundred pixels.
    grow : float, optional
        Radius in pixels by which the significant pixels are grown.
    sky : float, optional
        The sky level; default the median of the good pixels within 3 sigma
        (MAD) of their median.

    Returns
    -------
    mask : `~numpy.ndarray` of bool
    """
    if not (np.isfinite(nsigma) and nsigma > 0):
        msg = f'the significance level must be a positive number of sigmas, got {nsigma!r}'
        raise ValueError(msg)
    good = ~np.asarray(bad, dtype=bool)
    sky = _sky_level(image, good) if sky is None else float(sky)
    filled = np.where(good, image - sky, 0.0)
    kernel = np.zeros((9, 9))
    kernel[4, 4] = 1.0
    kernel = ndimage.gaussian_filter(kernel, _SIGNIFICANCE_SMOOTH)
    # the noise of a smoothed white-noise pixel is sigma times the kernel's quadratic sum
    smoothed = ndimage.gaussian_filter(filled, _SIGNIFICANCE_SMOOTH, mode='nearest')
    sigma = np.asarray(noise, dtype=np.float64) * float(np.sqrt(np.sum(kernel ** 2)))
    significant = (smoothed > nsigma * sigma) & good
    if min_area > 1 and significant.any():
        labels, _ = ndimage.label(significant)
        areas = np.bincount(labels.ravel())
        areas[0] = 0
        significant = areas[labels] >= min_area
    if grow > 0 and significant.any():
        r = int(np.ceil(grow))
        yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
        significant = ndimage.binary_dilation(significant, structure=xx * xx + yy * yy <= grow ** 2)
    return significant & good


def gate_unsupported(sr, image, bad, *, scale, noise, nsigma, surface_brightness):
    """The output where the input supports it, a smooth background elsewhere.

    Parameters
    ----------
    sr : `~numpy.ndarray`
        The super-resolved image, ``scale`` times the input's shape, in the
        output's units.
    image, bad, noise, nsigma
        As for `support_mask`.
    scale : int
    surface_brightness : bool
        Whether the unit is per solid angle (else flux per pixel, divided by
        ``scale**2`` on the finer grid).

    Returns
    -------
    gated : `~numpy.ndarray`
    supported : float
        Share of the input's good pixels that are supported.
    """
    s = int(scale)
    good = ~np.asarray(bad, dtype=bool)
    sky = _sky_level(image, good)
    mask = support_mask(image, bad, noise=noise, nsigma=nsigma, sky=sky)
    # the background: the unsupported pixels alone, smoothed (a normalised convolution), so
    # that no light of a source spreads into a halo around it; the sky where none is near
    free = (good & ~mask).astype(np.float64)
    total = ndimage.gaussian_filter(np.where(free > 0, image, 0.0), _BACKGROUND_SMOOTH,
                                    mode='nearest')
    weight_sum = ndimage.gaussian_filter(free, _BACKGROUND_SMOOTH, mode='nearest')
    with np.errstate(divide='ignore', invalid='ignore'):
        background = np.where(weight_sum > 1e-3, total / weight_sum, sky)
    background = bicubic_upscale(background, s, surface_brightness=surface_brightness)
    # a soft edge, half an input pixel wide, so no seam is drawn around what is kept
    weight = np.repeat(np.repeat(mask.astype(np.float64), s, axis=0), s, axis=1)
    weight = ndimage.gaussian_filter(weight, s / 2.0, mode='nearest')
    gated = weight * sr + (1.0 - weight) * background
    supported = float(mask[good].mean()) if good.any() else 0.0
    return gated, supported
