# Licensed under a 3-clause BSD style license - see LICENSE
"""Deconvolution of a super-resolved image up to the input's noise, when the input's PSF is known.

A network trained on a range of blurs deconvolves by a typical amount. On
bright, smoothly blurred inputs it stops short: the super-resolved image,
observed again the way the input was, still differs from the input by more
than the noise. `refine_to_noise` continues from the network's output with
Richardson-Lucy iterations and stops as soon as the residual on the input
grid is down to the noise (the discrepancy principle): an output that
already explains the input is left as it is, so the noise is never
deconvolved. The output is observed through `observation_kernel`, which
reproduces the input's PSF with its wings: through a Gaussian of the same
width, light the wings spread would stay unexplained, and the iterations
would sharpen cores to account for it.
"""

import numpy as np
from scipy import signal

from astrolens.models._sr_flux import _FWHM_PER_SIGMA, _blur, block_sum, psf_blur, psf_image

__all__ = ['observation_kernel', 'refine_to_noise']


def observation_kernel(psf, *, scale, output_fwhm, tolerance=0.005, max_iter=500):
    """Kernel on the output grid through which an output of PSF ``output_fwhm`` becomes the input.

    Convolved with the kernel and summed over ``scale x scale`` blocks, a
    Gaussian of FWHM ``output_fwhm`` output pixels reproduces the input's
    PSF image, wings and asymmetry included. The kernel starts as the
    Gaussian of `~astrolens.models._sr_flux.psf_blur` (which keeps only the
    width) and is refined by Richardson-Lucy iterations against the PSF
    image until it reproduces it to ``tolerance`` (relative rms): a PSF the
    Gaussian already explains, or one too undersampled to say more, keeps
    the Gaussian.

    Parameters
    ----------
    psf : float or `~numpy.ndarray`
        The input's PSF: an image on the input grid, or its FWHM in input
        pixels (a Moffat seeing profile, `~astrolens.models._sr_flux.psf_image`).
    scale : int
    output_fwhm : float
        In output pixels.
    tolerance : float, optional
        Relative rms residual on the PSF image at which the refinement stops.
    max_iter : int, optional

    Returns
    -------
    kernel : `~numpy.ndarray`
        Odd-sized, non-negative, summing to 1.
    residual : float
        Relative rms residual of the PSF image it reproduces.
    """
    s = int(scale)
    image, _ = psf_image(psf)
    image = np.clip(image, 0.0, None)
    image /= image.sum()
    ny, nx = image.shape
    yy, xx = np.mgrid[:ny, :nx]
    cy, cx = float(np.sum(yy * image)), float(np.sum(xx * image))
    # twice the stamp on the output grid, so the circular convolutions below do not wrap
    shape = (2 * s * ny, 2 * s * nx)
    sigma = float(output_fwhm) / _FWHM_PER_SIGMA
    y, x = np.mgrid[:shape[0], :shape[1]]
    # the centre of input pixel i is at s*i + (s-1)/2 on the output grid
    point = np.exp(-0.5 * ((y - s * cy - (s - 1) / 2) ** 2 + (x - s * cx - (s - 1) / 2) ** 2)
                   / sigma ** 2)
    point[s * ny:] = 0.0
    point[:, s * nx:] = 0.0
    point_ft = np.fft.rfft2(point / point.sum())
    # kernel coordinates wrap around the origin
    dy = np.minimum(y, shape[0] - y)
    dx = np.minimum(x, shape[1] - x)
    blur = max(psf_blur(psf, scale=s, output_fwhm=output_fwhm), 0.5)
    kernel = np.exp(-0.5 * (dy ** 2 + dx ** 2) / (blur / _FWHM_PER_SIGMA) ** 2)
    kernel /= kernel.sum()
    norm = np.sqrt(np.sum(image ** 2))

    def observe(k):
        fine = np.fft.irfft2(point_ft * np.fft.rfft2(k), s=shape)[:s * ny, :s * nx]
        return block_sum(fine, s)

    def back(lr_image):
        up = np.zeros(shape)
        up[:s * ny, :s * nx] = np.repeat(np.repeat(lr_image, s, axis=0), s, axis=1)
        return np.fft.irfft2(np.fft.rfft2(up) * np.conj(point_ft), s=shape)

    weight = np.maximum(back(np.ones_like(image)), 1e-12)
    for _ in range(int(max_iter)):
        observed = observe(kernel)
        residual = float(np.sqrt(np.sum((observed - image) ** 2)) / norm)
        if residual <= tolerance:
            break
        ratio = image / np.maximum(observed, 1e-12 * image.max())
        kernel *= np.clip(back(ratio), 0.0, None) / weight
    residual = float(np.sqrt(np.sum((observe(kernel) - image) ** 2)) / norm)
    r = s * (max(ny, nx) // 2)
    rows = np.arange(-r, r + 1) % shape[0]
    cols = np.arange(-r, r + 1) % shape[1]
    kernel = kernel[np.ix_(rows, cols)]
    # the smallest square holding all but 1e-4 of it: the convolutions of a large image
    # cost in proportion to its area
    inside = [kernel[r - k:r + k + 1, r - k:r + k + 1].sum() for k in range(r + 1)]
    k = int(np.searchsorted(np.asarray(inside) / inside[-1], 1.0 - 1e-4))
    kernel = kernel[r - k:r + k + 1, r - k:r + k + 1]
    return kernel / kernel.sum(), residual


def _observe(image, blur):
    """``image`` blurred by a Gaussian of FWHM ``blur`` or convolved with the kernel ``blur``."""
    if np.ndim(blur) == 0:
        return _blur(image, float(blur))
    r = blur.shape[0] // 2
    # reflected edges, as the Gaussian path: zeros outside would darken the border
    padded = np.pad(image, r, mode='reflect')
    return signal.oaconvolve(padded, blur.astype(image.dtype, copy=False), mode='valid')


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
    blur : float or `~numpy.ndarray`
        How the output is observed before it is summed onto the input grid:
        the FWHM (output pixels) of a Gaussian
        (`~astrolens.models._sr_flux.psf_blur` of the input's PSF), or a
        kernel on the output grid (`observation_kernel`).
    noise : float or `~numpy.ndarray`
        Noise standard deviation of the input pixels: one value, or one per
        input pixel (``(h, w)``, from the input's uncertainty, Poisson noise
        of bright sources included). The iterations stop once the mean of
        ``(residual / noise)**2`` over the good input pixels is at most 1.
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
    noise = np.asarray(noise, dtype=np.float64)
    if noise.ndim:
        good = good & np.isfinite(noise) & (noise > 0)
        level = float(np.median(noise[good])) if good.any() else 0.0
    else:
        level = float(noise) if np.isfinite(noise) else 0.0
    if not level > 0 or not good.any():
        return sr, 0
    per_pixel = 1.0 if surface_brightness else float(s * s)
    target = np.asarray(lr, dtype=np.float64)
    # Richardson-Lucy needs positive images: both are lifted by the same constant, which the
    # observation (a normalised blur and a block mean) carries through unchanged
    floor = min(float(np.min(target[good])), float(np.min(sr)) * per_pixel)
    lift = max(0.0, -floor) + 1e-3 * level
    target = np.where(good, target + lift, 1.0)
    # float32 halves the output-sized arrays (a 4096x4096 input holds several of 8192x8192);
    # its rounding is far below the noise the iterations stop at
    estimate = np.array(sr, dtype=np.float32)
    estimate *= per_pixel
    estimate += lift
    weight = 1.0 / noise[good] ** 2 if noise.ndim else 1.0 / level ** 2
    # Richardson-Lucy spreads the ratio back through the transposed observation
    flipped = blur if np.ndim(blur) == 0 else np.ascontiguousarray(blur[::-1, ::-1])
    h, w = target.shape
    n_iter = 0
    for n_iter in range(int(max_iter) + 1):       # noqa: B007 (n_iter is returned)
        observed = block_sum(_observe(estimate, blur), s).astype(np.float64) / (s * s)
        resid = np.where(good, target - observed, 0.0)
        if np.mean(resid[good] ** 2 * weight) <= 1.0 or n_iter == max_iter:
            break
        ratio = np.where(good, target / np.maximum(observed, 1e-12 * lift), 1.0)
        up = np.broadcast_to(ratio.astype(np.float32)[:, None, :, None], (h, s, w, s))
        estimate *= _observe(up.reshape(h * s, w * s), flipped)
    if n_iter == 0:
        return sr, 0
    refined = estimate.astype(np.float64)
    del estimate
    refined -= lift
    refined /= per_pixel
    return refined, n_iter
