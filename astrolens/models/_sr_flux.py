# Licensed under a 3-clause BSD style license - see LICENSE
"""Flux corrections of super-resolved images, and the LR/HR intensity gain of training pairs.

`correct_flux` runs after the network (and after the tiles are stitched):

- ``'total'`` makes the total flux (surface brightness: the mean) over the
  unmasked pixels equal to the input's;
- ``'block'`` makes every ``scale x scale`` block sum (mean) equal to its
  input pixel;
- ``'local'`` (`backproject_flux`) makes the super-resolved image,
  observed again the way the input was (blurred by the Gaussian that best
  maps it onto the input, `fit_blur`, then summed onto the input grid),
  reproduce the input on every scale above the noise: the residual is
  smoothed (a Gaussian of ``smooth`` input pixels, so noise is not put
  back) and spread back through a bicubic upsampling and the same blur (so
  no block pattern appears), a few times over, then the total is made
  exact. Every source's flux follows the input's, and the total is kept;
  the sharpening of the network is not undone, since the comparison is
  made at the input's resolution.

`estimate_gain` is the intensity gain ``block_mean(hr) / lr`` of training
pairs as a ratio of sums (``1/scale**2`` for flux per pixel).
"""

import numpy as np
from scipy import ndimage

__all__ = ['backproject_flux', 'block_sum', 'correct_flux', 'estimate_gain', 'fit_blur',
           'match_output_psf', 'psf_blur', 'psf_image']

_FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
#: Moffat index of a PSF given by its FWHM alone: the profile of atmospheric turbulence
#: (Trujillo et al. 2001, MNRAS 328, 977), with wings a Gaussian lacks
SEEING_MOFFAT_BETA = 4.765


def block_sum(image, s):
    """Sum of every ``s x s`` block of a 2-D image whose sides are multiples of ``s``."""
    h, w = image.shape[0] // s, image.shape[1] // s
    return image.reshape(h, s, w, s).sum(axis=(1, 3))


def _blur(image, fwhm, out=None):
    """Gaussian blur of FWHM ``fwhm`` pixels (into ``out`` when given; none for 0)."""
    if fwhm > 0:
        return ndimage.gaussian_filter(image, fwhm / _FWHM_PER_SIGMA, mode='reflect',
                                       output=out)
    if out is None:
        return image
    out[...] = image
    return out


def fit_blur(sr, lr, good_lr, *, scale, surface_brightness=False, max_fwhm=None, max_size=256):
    """FWHM of the Gaussian that, applied to ``sr`` and summed onto the input grid, gives ``lr``.

    The output of a super-resolution network is sharper than its input;
    this is (a Gaussian approximation of) the blur that separates the two,
    found by least squares over the good input pixels.

    Parameters
    ----------
    sr : `~numpy.ndarray`
        ``(s*h, s*w)`` super-resolved image in the input's units.
    lr : `~numpy.ndarray`
        ``(h, w)`` input.
    good_lr : `~numpy.ndarray` of bool
        Input pixels to compare.
    scale : int
    surface_brightness : bool, optional
        Block means (not sums) of ``sr`` correspond to the input.
    max_fwhm : float, optional
        Largest FWHM tried, in output pixels; default ``8 * scale``.
    max_size : int or None, optional
        Inputs larger than this many pixels on a side are fitted on one
        ``max_size``-pixel window, the one with the most signal (summed
        absolute deviation from the median): the blur is one number, and
        fitting it over a whole mosaic took longer than the network. None
        fits every pixel.

    Returns
    -------
    fwhm : float
        In output pixels; 0 when no blur fits better than none.
    """
    from scipy.optimize import minimize_scalar

    s = int(scale)
    per_pixel = 1.0 if surface_brightness else float(s * s)
    good = np.asarray(good_lr, dtype=bool)
    lr = np.asarray(lr, dtype=np.float64)
    top = float(8 * s if max_fwhm is None else max_fwhm)
    if max_size is not None:
        # a margin as wide as the widest blur tried, so the window's edge is not reflected
        margin = int(np.ceil(4.0 * top / _FWHM_PER_SIGMA / s)) + 1
        outer, inner = _fit_window(lr, good, int(max_size), margin)
        lr, good = lr[outer][inner], good[outer][inner]
        hr_outer = tuple(slice(o.start * s, o.stop * s) for o in outer)
        hr_inner = tuple(slice(i.start * s, i.stop * s) for i in inner)
        sr = np.asarray(sr)[hr_outer]
    else:
        hr_inner = (slice(None), slice(None))
    if not good.any():
        return 0.0
    target = lr[good]
    density = np.asarray(sr, dtype=np.float64) * per_pixel

    def cost(fwhm):
        model = block_sum(_blur(density, fwhm)[hr_inner], s) / (s * s)
        return float(np.mean((target - model[good]) ** 2))

    best = minimize_scalar(cost, bounds=(0.0, top), method='bounded',
                           options={'xatol': 0.05 * s})
    return float(best.x) if cost(best.x) < cost(0.0) else 0.0


def psf_image(psf):
    """The input's PSF as an image on the input grid (sum 1) and its FWHM in input pixels.

    Parameters
    ----------
    psf : float or `~numpy.ndarray`
        An image sampled on the input grid, or a FWHM in input pixels, taken
        as a Moffat profile of index `SEEING_MOFFAT_BETA` (the seeing).

    Returns
    -------
    image : `~numpy.ndarray`
    fwhm : float
    """
    from astrolens.utils import psf_fwhm

    if np.ndim(psf) == 0:
        width = float(psf)
        n = 2 * int(np.ceil(6.0 * width)) + 9
        half = (n - 1) / 2.0
        y, x = np.mgrid[:n, :n] - half
        # a Moffat, not a Gaussian: real PSFs have wings, and a Gaussian of their FWHM
        # underestimates the blur (the output then comes out too soft)
        beta = SEEING_MOFFAT_BETA
        alpha = width / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
        image = (1.0 + (x * x + y * y) / alpha ** 2) ** (-beta)
    else:
        image = np.asarray(psf, dtype=np.float64)
        width = psf_fwhm(image)
    return image / image.sum(), width


def psf_blur(psf, *, scale, output_fwhm):
    """FWHM of the Gaussian between an output of PSF ``output_fwhm`` and an input of PSF ``psf``.

    The blur that, applied to an image whose PSF is a Gaussian of FWHM
    ``output_fwhm`` output pixels and summed onto the input grid, gives an
    image of PSF ``psf``: found by the same least-squares fit as `fit_blur`,
    so the two can be compared.

    Parameters
    ----------
    psf : float or `~numpy.ndarray`
        The input's PSF: an image sampled on the input grid (any size; its
        centroid is its centre), or its FWHM in input pixels, taken as a
        Moffat profile of index `SEEING_MOFFAT_BETA` (the seeing).
    scale : int
    output_fwhm : float
        FWHM of the output PSF wanted, in output pixels.

    Returns
    -------
    fwhm : float
        In output pixels; 0 when the input is not blurrier than that output.
    """
    s = int(scale)
    image, width = psf_image(psf)
    ny, nx = image.shape
    yy, xx = np.mgrid[:ny, :nx]
    cy, cx = float(np.sum(yy * image)), float(np.sum(xx * image))
    # the centre of input pixel i is at s*i + (s-1)/2 on the output grid
    y, x = np.mgrid[:s * ny, :s * nx]
    sigma = float(output_fwhm) / _FWHM_PER_SIGMA
    point = np.exp(-0.5 * ((y - s * cy - (s - 1) / 2) ** 2 + (x - s * cx - (s - 1) / 2) ** 2)
                   / sigma ** 2)
    point /= point.sum()
    return fit_blur(point, image, np.ones(image.shape, dtype=bool), scale=s, max_size=None,
                    max_fwhm=max(8.0 * s, 3.0 * s * width))


def match_output_psf(sr, lr, good_lr, *, scale, surface_brightness, psf, output_fwhm,
                     overwrite=False):
    """Blur a super-resolved image that is sharper than the output PSF asked for.

    A network told nothing about the input's PSF guesses how much to
    sharpen; where it sharpens more than an output of PSF ``output_fwhm``
    allows (the blur `fit_blur` finds between it and the input is wider
    than the one `psf_blur` gives for that output), it is blurred by the
    difference (in quadrature). An output blurrier than asked is left as it
    is: sharpening it further would be a deconvolution the network did not
    make.

    Parameters
    ----------
    sr, lr, good_lr, scale, surface_brightness
        As for `fit_blur`.
    psf : float or `~numpy.ndarray`
        The input's PSF (see `psf_blur`).
    output_fwhm : float
        In output pixels.
    overwrite : bool, optional
        Blur ``sr`` in place when it is a float64 array.

    Returns
    -------
    matched : `~numpy.ndarray`
    blur : float
        FWHM (output pixels) of the blur between the asked output and the
        input: how `backproject_flux` should observe the output again.
    """
    blur = psf_blur(psf, scale=scale, output_fwhm=output_fwhm)
    current = fit_blur(sr, lr, good_lr, scale=scale, surface_brightness=surface_brightness)
    in_place = overwrite and isinstance(sr, np.ndarray) and sr.dtype == np.float64
    out = sr if in_place else np.array(sr, dtype=np.float64)
    if current > blur:
        # scipy's separable filters buffer each line, so filtering in place is exact
        _blur(out, np.sqrt(current ** 2 - blur ** 2), out=out)
    return out, blur


def _fit_window(lr, good, size, margin):
    """Slices ``(outer, inner)`` of the input: ``lr[outer][inner]`` is the ``size``-pixel
    window with the most signal, ``lr[outer]`` the same window with ``margin`` pixels around it
    (as far as the image goes). The whole image when it is not much larger than the window.
    """
    shape = lr.shape
    if all(n <= size + 2 * margin for n in shape):
        whole = (slice(0, shape[0]), slice(0, shape[1]))
        return whole, (slice(0, shape[0]), slice(0, shape[1]))
    deviation = np.where(good, np.abs(lr - np.median(lr[good])) if good.any() else 0.0, 0.0)
    sides = [min(size, n) for n in shape]
    signal = ndimage.uniform_filter(deviation, size=sides, mode='constant')
    # centres whose window lies inside the image
    lo = [k // 2 for k in sides]
    hi = [n - (k - k // 2) + 1 for n, k in zip(shape, sides, strict=True)]
    valid = signal[lo[0]:hi[0], lo[1]:hi[1]]
    cy, cx = np.unravel_index(int(np.argmax(valid)), valid.shape)
    starts = (cy, cx)
    outer, inner = [], []
    for start, k, n in zip(starts, sides, shape, strict=True):
        first, last = max(start - margin, 0), min(start + k + margin, n)
        outer.append(slice(first, last))
        inner.append(slice(start - first, start - first + k))
    return tuple(outer), tuple(inner)


def _band_noise(a, b):
    """Noise of white noise (sigma 1) filtered by ``G_a - G_b`` (2-D Gaussians; b=inf: G_a)."""
    if np.isinf(b):
        return 1.0 / (2.0 * np.sqrt(np.pi) * a)
    return np.sqrt(1.0 / (4 * np.pi * a * a) + 1.0 / (4 * np.pi * b * b)
                   - 1.0 / (np.pi * (a * a + b * b)))


def _shrink_by_scale(resid, smooth, noise, threshold, n_scales):
    """The residual smoothed by ``smooth``, split into octaves of scale (differences of
    Gaussians of ``smooth * 2**k``, then the widest Gaussian), each shrunk towards zero by
    ``threshold`` times its own noise: a faint but extended difference (diffuse light) is
    significant on a wide scale even when no single pixel is.
    """
    widths = [smooth * 2.0 ** k for k in range(max(int(n_scales), 1))]
    smoothed = [ndimage.gaussian_filter(resid, w, mode='reflect') for w in widths]
    out = np.zeros_like(resid)
    for k, w in enumerate(widths):
        wider = widths[k + 1] if k + 1 < len(widths) else np.inf
        band = smoothed[k] - smoothed[k + 1] if k + 1 < len(widths) else smoothed[k]
        floor = threshold * noise * _band_noise(w, wider)
        out += np.sign(band) * np.maximum(np.abs(band) - floor, 0.0)
    return out


def backproject_flux(sr, lr, good_lr, *, scale, surface_brightness=False, smooth=2.0,
                     n_iter=4, blur='fit', noise=None, threshold=2.0, n_scales=4,
                     overwrite=False):
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
        values keep fluxes on larger scales only.
    n_iter : int, optional
    blur : 'fit', float or None, optional
        How the output is observed again before it is compared with the
        input: ``'fit'`` (default) blurs it by the Gaussian `fit_blur`
        finds, a number is that Gaussian's FWHM in output pixels, None
        compares block sums directly. Without the blur the residual holds
        the PSF difference between input and output (the output is
        sharper), and the correction undoes part of the sharpening; that is
        why the smoothing had to be as wide as the PSF before.
    noise : float, optional
        Noise standard deviation of the input pixels. When given, the
        smoothed residual is split into ``n_scales`` octaves of scale from
        ``smooth`` up (differences of Gaussians), and each is shrunk towards
        zero by ``threshold`` times its own noise (soft thresholding): what
        is put back is flux the input shows beyond its noise, on whatever
        scale -- a compact source's error or a faint diffuse deficit --
        not the noise.
    threshold : float, optional
    n_scales : int, optional
    overwrite : bool, optional
        Correct ``sr`` in place when it is a float64 array (one output-sized
        copy fewer, for large images); otherwise ``sr`` is left as it is.

    Returns
    -------
    corrected : `~numpy.ndarray`
        With ``sum(corrected)`` (over good pixels) equal to the input's
        (surface brightness: the mean).
    """
    from astrolens.utils import bicubic_upscale

    s = int(scale)
    per_pixel = 1.0 if surface_brightness else float(s * s)
    good = np.asarray(good_lr, dtype=bool)
    target = np.where(good, lr, 0.0).astype(np.float64)
    if isinstance(blur, str):
        if blur != 'fit':
            msg = f"blur must be 'fit', a FWHM in output pixels or None, not {blur!r}"
            raise ValueError(msg)
        fwhm = fit_blur(sr, target, good, scale=s, surface_brightness=surface_brightness)
    else:
        fwhm = 0.0 if blur is None else float(blur)
    # in place, on one work buffer: an 8192-pixel output is 512 MiB per float64 array
    in_place = overwrite and isinstance(sr, np.ndarray) and sr.dtype == np.float64
    density = sr if in_place else np.array(sr, dtype=np.float64)
    density *= per_pixel
    work = np.empty(density.shape, dtype=np.float32)     # far below the noise of any image
    for _ in range(int(n_iter)):
        observed = block_sum(_blur(density, fwhm, out=work), s) / (s * s)
        resid = np.where(good, target - observed, 0.0)
        # masked pixels hold no residual: their neighbours' spill over, never amplified
        # (a normalised convolution would keep pushing into pixels nothing constrains)
        if noise is not None and noise > 0:
            resid = _shrink_by_scale(resid, max(smooth, 0.5), float(noise), threshold, n_scales)
        elif smooth > 0:
            resid = ndimage.gaussian_filter(resid, smooth, mode='reflect')
        # float32 upsampling: half the memory of the output, far below its noise
        up = bicubic_upscale(resid, s, surface_brightness=True, dtype=np.float32)
        density += _blur(up, fwhm, out=work)
    good_hr = np.repeat(np.repeat(good, s, axis=0), s, axis=1)
    total = float(np.sum(target[good])) * s * s
    n_good = max(int(good_hr.sum()), 1)
    offset = (total - float(np.sum(density, where=good_hr))) / n_good
    np.add(density, offset, out=density, where=good_hr)
    density /= per_pixel
    return density


def correct_flux(sr, lr, good_lr, *, scale, mode, surface_brightness, smooth=2.0, noise=None,
                 threshold=None, overwrite=False, blur='fit'):
    """Flux correction after stitching; returns ``(corrected, multiplicative_factor_map)``.

    ``mode`` is ``'local'``, ``'total'``, ``'block'`` or None (see the module docstring);
    ``smooth`` is the smoothing of ``'local'`` (`backproject_flux`), ``noise`` the input's
    noise standard deviation and ``threshold`` (None: no shrinking) how many times the
    smoothed residual's noise ``'local'`` leaves out; with ``overwrite`` ``'local'`` may
    correct ``sr`` in place; ``blur`` is how ``'local'`` observes the output again (see
    `backproject_flux`).
    """
    s = scale
    area = s * s if surface_brightness else 1.0
    if mode is None:
        return sr, None
    if mode == 'local':
        shrink = {} if threshold is None or noise is None else {'noise': noise,
                                                                 'threshold': threshold}
        return backproject_flux(sr, lr, good_lr, scale=s, surface_brightness=surface_brightness,
                                smooth=smooth, overwrite=overwrite, blur=blur, **shrink), None
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

