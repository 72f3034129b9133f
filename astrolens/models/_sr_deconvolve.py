# Licensed under a 3-clause BSD style license - see LICENSE
"""Deconvolution of a super-resolved image up to the input's noise, when the input's PSF is known.

A network trained on a range of blurs deconvolves by a typical amount. On
bright, smoothly blurred inputs it stops short: the super-resolved image,
observed again the way the input was, still differs from the input by more
than the noise. `refine_to_noise` continues from the network's output with
Richardson-Lucy iterations through the blur the input's PSF implies, and
stops as soon as the residual on the input grid is down to the noise (the
discrepancy principle): an output that already explains the input is left
as it is, so the noise is never deconvolved.
"""

import numpy as np

from astrolens.models._sr_flux import _blur, block_sum

__all__ = ['refine_to_noise']


def refine_to_noise(sr, lr, good_lr, *, scale, blur, noise, surface_brightness=False,
                    max_iter=100):
    """Richardson-Lucy iterations from ``sr`` until it reproduces ``lr`` to within the noise.

    Parameters
    ----------
    sr : `~numpy.ndarray`
        ``(s*h, s*w)`` super-resolved image in the input's units.
    lr : `~numpy.ndarray`
        ``(h, w)`` input (any value where not ``good_lr``).
    good_lr : `~numpy.ndarray` of bool
        Input pixels to honour; the others neither pull nor push.
    scale : int
    blur : float
        FWHM (output pixels) of the Gaussian through which the output is
        observed before it is summed onto the input grid
        (`~astrolens.models._sr_flux.psf_blur` of the input's PSF).
    noise : float
        Noise standard deviation of the input pixels. The iterations stop
        once the mean squared residual over the good input pixels is at
        most ``noise**2``.
    surface_brightness : bool, optional
        Block means (not sums) of the output correspond to the input.
    max_iter : int, optional

    Returns
    -------
    refined : `~numpy.ndarray`
        A new float64 array (``sr`` itself when no iteration was needed).
    n_iter : int
        Iterations run.
    """
    s = int(scale)
    good = np.asarray(good_lr, dtype=bool)
    if not (noise and np.isfinite(noise) and noise > 0) or not good.any():
        return sr, 0
    per_pixel = 1.0 if surface_brightness else float(s * s)
    target = np.asarray(lr, dtype=np.float64)
    density = np.asarray(sr, dtype=np.float64) * per_pixel
    # Richardson-Lucy needs positive images: both are lifted by the same constant, which the
    # observation (a normalised blur and a block mean) carries through unchanged
    floor = min(float(np.min(target[good])), float(np.min(density)))
    lift = max(0.0, -floor) + 1e-3 * noise
    target = np.where(good, target + lift, 1.0)
    estimate = density + lift
    limit = float(noise) ** 2
    n_iter = 0
    for n_iter in range(int(max_iter) + 1):       # noqa: B007 (n_iter is returned)
        observed = block_sum(_blur(estimate, blur), s) / (s * s)
        resid = np.where(good, target - observed, 0.0)
        if np.mean(resid[good] ** 2) <= limit or n_iter == max_iter:
            break
        ratio = np.where(good, target / np.maximum(observed, 1e-12 * lift), 1.0)
        estimate *= _blur(np.repeat(np.repeat(ratio, s, axis=0), s, axis=1), blur)
    if n_iter == 0:
        return sr, 0
    estimate -= lift
    estimate /= per_pixel
    return estimate, n_iter
