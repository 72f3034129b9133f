# Licensed under a 3-clause BSD style license - see LICENSE
"""Point-spread functions: Gaussian models, reading PSF images and PSF matching.

PSF arrays are images of a point source sampled at the pixel centres of the
image they describe (the convention of lenstronomy kernels and of most PSF
models shipped with survey cutouts), normalised to sum 1, with an odd size and
the centroid on the central pixel.
"""

from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.nddata import NDData
from scipy import ndimage
from scipy.signal import fftconvolve

__all__ = ['gaussian_psf', 'match_psf', 'matching_kernel', 'read_psf']

_FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def _positive_arcsec(value, name):
    if isinstance(value, u.Quantity):
        value = value.to_value(u.arcsec)
    try:
        value = float(value)
    except (TypeError, ValueError):
        msg = f'{name} must be a number of arcseconds or an angle Quantity, got {value!r}'
        raise TypeError(msg) from None
    if not np.isfinite(value) or value <= 0:
        msg = f'{name} must be a positive number of arcseconds, got {value!r}'
        raise ValueError(msg)
    return value


def gaussian_psf(fwhm, pixel_scale, *, size=None):
    """A circular Gaussian PSF sampled at pixel centres.

    Parameters
    ----------
    fwhm : float or `~astropy.units.Quantity`
        Full width at half maximum, in arcseconds (a plain number) or as an
        angle.
    pixel_scale : float or `~astropy.units.Quantity`
        Arcseconds per pixel.
    size : int, optional
        Side of the square stamp; must be odd. By default the smallest odd
        size reaching three FWHM from the centre (at least 3 pixels).

    Returns
    -------
    psf : `~numpy.ndarray`
        ``(size, size)`` float array summing to 1, peaked on the central pixel.
    """
    fwhm = _positive_arcsec(fwhm, 'fwhm')
    scale = _positive_arcsec(pixel_scale, 'pixel_scale')
    sigma = fwhm * _FWHM_TO_SIGMA / scale
    if size is None:
        size = 2 * int(np.ceil(3.0 * fwhm / scale)) + 1
    if isinstance(size, bool) or not float(size).is_integer() or size < 1 or size % 2 == 0:
        msg = f'size must be a positive odd integer, got {size!r}'
        raise ValueError(msg)
    size = int(size)
    r = np.arange(size) - size // 2
    profile = np.exp(-0.5 * (r / sigma) ** 2)
    psf = np.outer(profile, profile)
    return psf / psf.sum()


def _centroid(psf):
    total = psf.sum()
    y, x = np.indices(psf.shape)
    return (y * psf).sum() / total, (x * psf).sum() / total


def _normalise_psf(psf, *, name='psf'):
    """Check a PSF array; return it odd-sized, centred on its centroid, summing to 1."""
    psf = np.array(psf, dtype=float)
    if psf.ndim != 2 or min(psf.shape) < 1:
        msg = f'{name} must be a 2-D image of the PSF, got shape {psf.shape}'
        raise ValueError(msg)
    if not np.all(np.isfinite(psf)):
        msg = f'{name} has non-finite values'
        raise ValueError(msg)
    total = psf.sum()
    if not total > 0:
        msg = f'{name} must have a positive sum, got {total!r}'
        raise ValueError(msg)
    psf = psf / total
    pad = [(0, 1 - n % 2) for n in psf.shape]
    if any(p[1] for p in pad):
        psf = np.pad(psf, pad)
    # A PSF centred off its central pixel would show up as an astrometric
    # offset of the whole image, so it is re-centred on its centroid.
    cy, cx = _centroid(psf)
    dy, dx = psf.shape[0] // 2 - cy, psf.shape[1] // 2 - cx
    if max(abs(dy), abs(dx)) > 1e-3:
        psf = ndimage.shift(psf, (dy, dx), order=3, mode='constant')
        psf /= psf.sum()
    return psf


def read_psf(hdu_or_path, *, hdu=None):
    """Read a PSF image from a FITS file, HDU or NDData.

    Parameters
    ----------
    hdu_or_path : str, `~pathlib.Path`, `~astropy.io.fits.HDUList`, HDU or `~astropy.nddata.NDData`
        For a file or ``HDUList``, the extension named ``PSF`` is used when
        present (as `astrolens.io.write_fits` writes it), else the first image
        HDU; ``NDData`` gives its ``psf`` attribute.
    hdu : int or str, optional
        Extension to read instead.

    Returns
    -------
    psf : `~numpy.ndarray`
        Odd-sized, centred on its centroid, normalised to sum 1.
    """
    source = hdu_or_path
    if isinstance(source, NDData):
        if source.psf is None:
            msg = 'this NDData has no psf'
            raise ValueError(msg)
        return _normalise_psf(source.psf)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            msg = f'no such file: {path}'
            raise FileNotFoundError(msg)
        with fits.open(path, memmap=False) as hdulist:
            return _psf_from_hdulist(hdulist, hdu=hdu, source=str(path))
    if isinstance(source, fits.HDUList):
        return _psf_from_hdulist(source, hdu=hdu, source='the HDUList')
    if isinstance(source, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)):
        if source.data is None:
            msg = f'HDU {source.name!r} holds no data'
            raise ValueError(msg)
        return _normalise_psf(source.data, name=f'HDU {source.name!r}')
    msg = (f'cannot read a PSF from {type(source).__name__}: expected a FITS path, '
           'HDUList, HDU or NDData')
    raise TypeError(msg)


def _psf_from_hdulist(hdulist, *, hdu, source):
    if hdu is None:
        names = [h.name for h in hdulist]
        if 'PSF' in names:
            hdu = 'PSF'
        else:
            images = [i for i, h in enumerate(hdulist) if h.is_image and h.data is not None]
            if not images:
                msg = f'{source} holds no image to read a PSF from'
                raise ValueError(msg)
            hdu = images[0]
    try:
        chosen = hdulist[hdu]
    except (KeyError, IndexError):
        msg = f'{source} has no HDU {hdu!r}'
        raise ValueError(msg) from None
    if chosen.data is None:
        msg = f'HDU {hdu!r} of {source} holds no data'
        raise ValueError(msg)
    return _normalise_psf(chosen.data, name=f'the PSF in {source}')


def _pad_to(psf, shape):
    out = np.zeros(shape)
    oy, ox = (shape[0] - psf.shape[0]) // 2, (shape[1] - psf.shape[1]) // 2
    if oy >= 0 and ox >= 0:
        out[oy:oy + psf.shape[0], ox:ox + psf.shape[1]] = psf
        return out
    cy, cx = -min(oy, 0), -min(ox, 0)
    cropped = psf[cy:cy + min(shape[0], psf.shape[0]), cx:cx + min(shape[1], psf.shape[1])]
    return _pad_to(cropped, shape)


def matching_kernel(psf_from, psf_to, *, window=None, regularization=1e-4):
    """Convolution kernel that turns ``psf_from`` into ``psf_to``.

    Both PSFs must be sampled at the same pixel scale; ``psf_to`` should be
    the broader one. The kernel is the ratio of their Fourier transforms,
    tapered by ``window`` (`photutils.psf_matching.make_kernel`).

    Parameters
    ----------
    psf_from, psf_to : `~numpy.ndarray`
        PSF images (any sizes; they are padded to a common odd shape).
    window : callable, optional
        A photutils window; default ``SplitCosineBellWindow(alpha=0.4, beta=0.2)``.
    regularization : float, optional
        Passed to ``create_matching_kernel``.

    Returns
    -------
    kernel : `~numpy.ndarray`
        Odd-sized kernel summing to 1.
    """
    try:
        from photutils.psf_matching import SplitCosineBellWindow
        from photutils.psf_matching import make_kernel as create_matching_kernel
    except ImportError:  # photutils < 3
        from photutils.psf.matching import SplitCosineBellWindow, create_matching_kernel
    psf_from = _normalise_psf(psf_from, name='psf_from')
    psf_to = _normalise_psf(psf_to, name='psf_to')
    size = max(psf_from.shape + psf_to.shape)
    shape = (size, size)
    if window is None:
        window = SplitCosineBellWindow(alpha=0.4, beta=0.2)
    kernel = create_matching_kernel(_pad_to(psf_from, shape), _pad_to(psf_to, shape),
                                    window=window, regularization=regularization)
    return kernel / kernel.sum()


def gaussian_matching_kernel(sigma_from, sigma_to):
    """Gaussian kernel (sampled, odd-sized, sum 1) broadening ``sigma_from`` to ``sigma_to``.

    Sigmas are in pixels; returns ``[[1.]]`` when no broadening is needed.
    """
    var = sigma_to ** 2 - sigma_from ** 2
    if var <= 1e-6:
        return np.ones((1, 1))
    sigma = np.sqrt(var)
    half = int(np.ceil(4.0 * sigma))
    r = np.arange(-half, half + 1)
    profile = np.exp(-0.5 * (r / sigma) ** 2)
    kernel = np.outer(profile, profile)
    return kernel / kernel.sum()


def match_psf(image, psf_from, psf_to, *, window=None):
    """Convolve ``image`` so that its PSF ``psf_from`` becomes ``psf_to``.

    Parameters
    ----------
    image : `~numpy.ndarray`
        2-D image whose PSF is ``psf_from``; NaNs are treated as zeros and
        stay NaN in the output.
    psf_from, psf_to : `~numpy.ndarray`
        PSF images at the pixel scale of ``image``.
    window : callable, optional
        See `matching_kernel`.

    Returns
    -------
    matched : `~numpy.ndarray`
        Same shape as ``image``; the total flux is kept.
    """
    image = np.asarray(image, dtype=float)
    kernel = matching_kernel(psf_from, psf_to, window=window)
    bad = ~np.isfinite(image)
    out = fftconvolve(np.where(bad, 0.0, image), kernel, mode='same')
    out[bad] = np.nan
    return out
