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

On real ground-based images (SDSS, KiDS, HSC) the noise the iterations stop
at is not reached before they fit it: the sky fills with worm-like noise,
above the noise of a plain bicubic upsampling. A guard keeps every iterate's
sky rms (`sky_rms`, over the pixels of `sky_mask`) at most bicubic's on the
same pixels: the iterations stop at the last iterate within it, and none run
when even the first would exceed it.
"""

import numpy as np
from astropy.stats import sigma_clipped_stats
from scipy import ndimage, signal

from astrolens.models._sr_flux import _FWHM_PER_SIGMA, _blur, block_sum, psf_blur, psf_image

__all__ = ['observation_kernel', 'refine_to_noise', 'sky_mask', 'sky_rms']

#: Private switch: False lets `refine_to_noise` run without its sky guard, as it did before
#: it had one (benchmarks/bench_deconvolve_sky.py measures what the guard prevents).
_SKY_GUARD = True
#: Sky pixels of the output the guard measures, about at most (an even subset beyond).
_MAX_SKY_SAMPLES = 1_000_000
#: Fewer sky pixels of the input than this: the faintest quarter counts as sky instead.
_MIN_SKY_PIXELS = 64


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


def sky_mask(lr, good_lr):
    """Input pixels of empty sky, where the guard of `refine_to_noise` measures the noise.

    The input (bad pixels filled from their nearest good neighbour) is
    smoothed by a Gaussian of sigma 1 pixel; pixels above the smoothed
    image's sigma-clipped median plus twice its sigma-clipped standard
    deviation (3 sigma, 10 iterations) are sources, grown by 2 pixels, and
    bad pixels are grown by 2 pixels too. Sky is every other pixel. When
    fewer than 64 remain (an image filled by a galaxy), the faintest quarter
    of the good smoothed pixels is the sky instead.

    Parameters
    ----------
    lr : `~numpy.ndarray`
        ``(h, w)`` input (any value where not ``good_lr``).
    good_lr : `~numpy.ndarray` of bool

    Returns
    -------
    sky : `~numpy.ndarray` of bool
        ``(h, w)``; repeat it ``scale x scale`` for the output grid.
    """
    good = np.asarray(good_lr, dtype=bool)
    image = _filled(lr, good)
    smooth = ndimage.gaussian_filter(image, 1.0, mode='reflect')
    # the statistics of a large image from an even subset: seconds saved, nothing changed
    step = max(1, int(np.sqrt(smooth.size / 1e6)))
    sample = smooth[::step, ::step][good[::step, ::step]]
    _, median, std = sigma_clipped_stats(sample, sigma=3.0, maxiters=10)
    sources = ndimage.binary_dilation(smooth > median + 2.0 * std, iterations=2)
    near_bad = ndimage.binary_dilation(~good, iterations=2)
    sky = ~sources & ~near_bad
    if sky.sum() < _MIN_SKY_PIXELS:
        faint = smooth <= np.percentile(smooth[good], 25.0)
        sky = faint & good
    return sky


def sky_rms(values):
    """Robust sky rms: ``1.4826`` times the median absolute deviation of ``values``.

    The guard of `refine_to_noise` takes it over the output pixels of
    `sky_mask` (repeated ``scale x scale``), for an iterate and for the
    bicubic upsampling of the input (`astrolens.utils.bicubic_upscale`).
    Unlike `astrolens.utils.robust_sigma` (pixel-to-pixel differences) it
    counts noise correlated over a few pixels, as deconvolved noise is.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def _filled(lr, good):
    """``lr`` with its bad pixels replaced by their nearest good neighbour."""
    image = np.asarray(lr, dtype=np.float64)
    if good.all():
        return image
    _, (iy, ix) = ndimage.distance_transform_edt(~good, return_indices=True)
    return image[iy, ix]


def _sky_guard(lr, good, *, scale, surface_brightness, limit):
    """Flat indices of the output's sky pixels and the sky rms allowed there (output units)."""
    from astrolens.utils import bicubic_upscale

    s = int(scale)
    sky = sky_mask(lr, good)
    # on a large image, the sky pixels of an even sub-grid of the input: the indices of all
    # of them would outweigh the image
    step = max(1, int(np.ceil(np.sqrt(sky.sum() * s * s / _MAX_SKY_SAMPLES))))
    rows, cols = np.nonzero(sky[::step, ::step])
    rows, cols = rows * step, cols * step
    # the s x s output pixels of every sky pixel of the input
    dy, dx = np.divmod(np.arange(s * s), s)
    index = ((s * rows[:, None] + dy) * (s * sky.shape[1]) + s * cols[:, None] + dx).ravel()
    # float32: no larger than the iterate, which the iterations hold several of anyway
    bicubic = bicubic_upscale(_filled(lr, good), s, surface_brightness=surface_brightness,
                              dtype=np.float32)
    return index, limit * sky_rms(bicubic.ravel()[index])


def refine_to_noise(sr, lr, good_lr, *, scale, blur, noise, surface_brightness=False,
                    max_iter=100, sky_limit=1.0, report=None):
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
    sky_limit : float or None, optional
        The guard: no iterate's sky rms (`sky_rms` over the output pixels
        of `sky_mask`) may exceed ``sky_limit`` (at most 1) times that of
        the bicubic upsampling of ``lr`` on the same pixels. The iterations
        stop at the last iterate within it; when the first iterate already
        exceeds it, none is kept (``sr`` is returned). None switches the
        guard off.
    report : dict, optional
        Receives ``'stop'``, why the iterations stopped: ``'noise'`` (the
        input is explained to within the noise), ``'sky-rms'`` (the next
        iterate would exceed the guard's sky rms), ``'sky-rms-first'`` (so
        would the first: nothing was deconvolved), ``'max-iter'`` or
        ``'no-noise'`` (no noise level to stop at: nothing done); and, with
        the guard, ``'sky_ratio'``, the sky rms of ``refined`` over
        bicubic's, and ``'first_sky_ratio'``, that of the first iterate
        when it was refused.

    Returns
    -------
    refined : `~numpy.ndarray`
        A new float64 array (``sr`` itself when no iteration was kept).
    n_iter : int
        Iterations run and kept.
    """
    if sky_limit is not None and not 0 < sky_limit <= 1:
        msg = ("sky_limit must be in (0, 1] (a sky rms at most bicubic's) or None, "
               f'got {sky_limit!r}')
        raise ValueError(msg)
    report = {} if report is None else report
    s = int(scale)
    good = np.asarray(good_lr, dtype=bool)
    noise = np.asarray(noise, dtype=np.float64)
    if noise.ndim:
        good = good & np.isfinite(noise) & (noise > 0)
        level = float(np.median(noise[good])) if good.any() else 0.0
    else:
        level = float(noise) if np.isfinite(noise) else 0.0
    if not level > 0 or not good.any():
        report['stop'] = 'no-noise'
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
    sky, allowed = None, None
    if sky_limit is not None and _SKY_GUARD:
        sky, allowed = _sky_guard(lr, good, scale=s, surface_brightness=surface_brightness,
                                  limit=float(sky_limit))
        allowed *= per_pixel
        bicubic_rms = allowed / float(sky_limit)
    n_iter = 0
    for n_iter in range(int(max_iter) + 1):       # noqa: B007 (n_iter is returned)
        observed = block_sum(_observe(estimate, blur), s).astype(np.float64) / (s * s)
        resid = np.where(good, target - observed, 0.0)
        if np.mean(resid[good] ** 2 * weight) <= 1.0:
            report['stop'] = 'noise'
            break
        if n_iter == max_iter:
            report['stop'] = 'max-iter'
            break
        ratio = np.where(good, target / np.maximum(observed, 1e-12 * lift), 1.0)
        up = np.broadcast_to(ratio.astype(np.float32)[:, None, :, None], (h, s, w, s))
        update = _observe(up.reshape(h * s, w * s), flipped)
        if sky is not None:
            # the next iterate on the sky pixels alone: kept only within the guard
            rms = sky_rms(estimate.ravel()[sky] * update.ravel()[sky])
            if rms > allowed:
                report['stop'] = 'sky-rms' if n_iter else 'sky-rms-first'
                if not n_iter:
                    report['first_sky_ratio'] = _ratio(rms, bicubic_rms)
                break
        estimate *= update
        del update
    if sky is not None:
        report['sky_ratio'] = _ratio(sky_rms(estimate.ravel()[sky]), bicubic_rms)
    if n_iter == 0:
        return sr, 0
    refined = estimate.astype(np.float64)
    del estimate
    refined -= lift
    refined /= per_pixel
    return refined, n_iter


def _ratio(rms, reference):
    return float(rms / reference) if reference > 0 else float('inf') if rms > 0 else 1.0
