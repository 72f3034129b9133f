# Licensed under a 3-clause BSD style license - see LICENSE
"""Measurements on sampled images: the noise level and the width of a PSF.

Used by the degradation model and the evaluation sets (`astrolens.datasets`)
as well as by super-resolution inference (`astrolens.models`): they live
here so that the two subpackages do not import each other for them.
"""

import numpy as np

__all__ = ['psf_fwhm', 'robust_sigma']


def psf_fwhm(psf):
    """FWHM (pixels) of a sampled PSF.

    The diameter of the area above half its peak, on an 8x finer cubic interpolation.
    """
    from scipy import ndimage

    # grid_mode: every pixel becomes exactly 8x8 finer ones (the default aligns the first
    # and last pixel centres, which stretches an n-pixel stamp by (8n-1)/(8n-8): 6% at 15)
    fine = ndimage.zoom(np.asarray(psf, dtype=np.float64), 8, order=3, grid_mode=True,
                        mode='grid-constant')
    return float(2.0 * np.sqrt(np.sum(fine > 0.5 * fine.max()) / np.pi) / 8)


def robust_sigma(image):
    """Noise standard deviation from the median absolute pixel-to-pixel difference.

    Insensitive to smooth structure and to a few sources; it underestimates
    correlated noise (as every single-image estimate does).
    """
    image = np.asarray(image, dtype=np.float64)
    diffs = np.concatenate([np.diff(image, axis=0).ravel(), np.diff(image, axis=1).ravel()])
    finite = np.isfinite(diffs)
    if not finite.all():
        diffs = diffs[finite]
    if diffs.size == 0:
        return 0.0
    # in place on the one array of differences: on a 4096-pixel image the temporaries of
    # abs(diffs - median) took longer than the medians themselves
    diffs -= np.median(diffs)
    np.abs(diffs, out=diffs)
    mad = np.median(diffs, overwrite_input=True)
    return float(1.4826 * mad / np.sqrt(2.0))
