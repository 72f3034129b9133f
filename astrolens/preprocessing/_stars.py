# Licensed under a 3-clause BSD style license - see LICENSE
"""The PSF of an image measured on its stars.

Isolated, unsaturated point sources are found (`photutils.detection.find_peaks`
above the sigma-clipped background), each is fitted with a Moffat profile
(`astropy.modeling.functional_models.Moffat2D`, for the FWHM and the wings) and
an elliptical Gaussian (for the ellipticity), and the stellar locus is kept: the
most compact objects with a common width, galaxies being broader and cosmic rays
sharper. The FWHM is their median with an uncertainty from their scatter; too few
stars, or a scatter too large to call them one PSF, and no PSF is returned.

This is how astronomers measure the seeing of an image when the survey does not
provide a PSF model; a PSF guessed from a galaxy alone is not measured, and is
refused here.
"""

import warnings
from dataclasses import dataclass

import numpy as np
from astropy.modeling import fitting, models
from astropy.nddata import NDData
from astropy.stats import sigma_clipped_stats
from astropy.utils.exceptions import AstropyUserWarning, AstropyWarning

__all__ = ['StarPSF', 'psf_from_stars']


@dataclass(frozen=True)
class StarPSF:
    """A PSF measured on the stars of an image.

    Attributes
    ----------
    fwhm : float
        Median FWHM of the stars' Moffat fits, in pixels.
    fwhm_error : float
        Its uncertainty (pixels): the scatter of the stars over ``sqrt(n_stars)``.
    beta : float
        Median Moffat index (the wings; 4.765 is the Kolmogorov seeing).
    ellipticity : float
        Median ``1 - b/a`` of the stars' Gaussian fits.
    n_stars : int
        Stars used.
    scatter : float
        Relative scatter of their FWHMs (standard deviation over the median).
    pixel_scale : float or None
        Arcseconds per pixel, when known.
    positions : `~numpy.ndarray`
        ``(n_stars, 2)`` fitted centres ``(x, y)``, in pixels.
    fwhms : `~numpy.ndarray`
        The FWHM of each star (pixels).
    """

    fwhm: float
    fwhm_error: float
    beta: float
    ellipticity: float
    n_stars: int
    scatter: float
    pixel_scale: float | None
    positions: np.ndarray
    fwhms: np.ndarray

    @property
    def fwhm_arcsec(self):
        """FWHM in arcseconds (None without a pixel scale)."""
        return None if self.pixel_scale is None else self.fwhm * self.pixel_scale

    @property
    def fwhm_error_arcsec(self):
        """Uncertainty of the FWHM in arcseconds (None without a pixel scale)."""
        return None if self.pixel_scale is None else self.fwhm_error * self.pixel_scale

    def image(self, size=None):
        """The PSF as a circular Moffat image sampled at pixel centres.

        Parameters
        ----------
        size : int, optional
            Odd side of the stamp; default reaches 4 FWHM from the centre.

        Returns
        -------
        psf : `~numpy.ndarray`
            Summing to 1, peaked on the central pixel.
        """
        if size is None:
            size = 2 * int(np.ceil(4.0 * self.fwhm)) + 1
        half = (int(size) - 1) / 2.0
        y, x = np.mgrid[:int(size), :int(size)] - half
        gamma = self.fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / self.beta) - 1.0))
        psf = (1.0 + (x * x + y * y) / gamma ** 2) ** (-self.beta)
        return psf / psf.sum()


def _pixel_scale(nd):
    if nd.wcs is None or not getattr(nd.wcs, 'has_celestial', False):
        return None
    from astropy.wcs.utils import proj_plane_pixel_scales

    return float(np.mean(proj_plane_pixel_scales(nd.wcs.celestial)) * 3600.0)


def _fit_star(stamp, half):
    """Moffat and Gaussian fits of a background-subtracted stamp; None if either fails."""
    y, x = np.mgrid[:stamp.shape[0], :stamp.shape[1]]
    peak = float(stamp[half, half])
    moffat = models.Moffat2D(amplitude=peak, x_0=half, y_0=half, gamma=2.0, alpha=3.0,
                             bounds={'alpha': (1.2, 12.0), 'gamma': (0.05, 4.0 * half),
                                     'x_0': (half - 2, half + 2), 'y_0': (half - 2, half + 2)})
    gauss = models.Gaussian2D(amplitude=peak, x_mean=half, y_mean=half, x_stddev=1.5,
                              y_stddev=1.5,
                              bounds={'x_stddev': (0.1, 2.0 * half), 'y_stddev': (0.1, 2.0 * half),
                                      'x_mean': (half - 2, half + 2),
                                      'y_mean': (half - 2, half + 2)})
    fitter = fitting.TRFLSQFitter()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', AstropyUserWarning)
        try:
            moffat = fitter(moffat, x, y, stamp, maxiter=200)
            gauss = fitter(gauss, x, y, stamp, maxiter=200)
        except (ValueError, RuntimeError, np.linalg.LinAlgError):
            return None
    resid = stamp - moffat(x, y)
    a, b = sorted((abs(gauss.x_stddev.value), abs(gauss.y_stddev.value)), reverse=True)
    return {'fwhm': float(moffat.fwhm), 'beta': float(moffat.alpha.value),
            'amplitude': float(moffat.amplitude.value),
            'x': float(moffat.x_0.value), 'y': float(moffat.y_0.value),
            'ellipticity': float(1.0 - b / a) if a > 0 else 1.0,
            'rms': float(np.sqrt(np.mean(resid ** 2)))}


def psf_from_stars(data, *, pixel_scale=None, nsigma=10.0, size=15, min_stars=3,
                   max_scatter=0.2, max_ellipticity=0.3, saturation=None, mask=None):
    """Measure the PSF of an image on its isolated, unsaturated stars.

    Parameters
    ----------
    data : `~numpy.ndarray` or `~astropy.nddata.NDData`
        A 2-D image (flux per pixel); an NDData's mask and WCS are used.
    pixel_scale : float, optional
        Arcseconds per pixel; default from the WCS of an NDData.
    nsigma : float, optional
        Peaks this many background standard deviations above the
        (sigma-clipped) background are candidates.
    size : int, optional
        Odd side (pixels) of the stamp each star is fitted in; it must hold
        the star out to a few FWHM.
    min_stars : int, optional
        Fewer stars than this and no PSF is measured.
    max_scatter : float, optional
        Largest relative scatter (standard deviation over median) of the
        stars' FWHMs for them to describe one PSF.
    max_ellipticity : float, optional
        Objects more elongated (``1 - b/a``) are not stars.
    saturation : float, optional
        Pixel value at which the detector saturates (a ``SATURATE`` card);
        stars reaching it are left out. Flat-topped stars are left out in any
        case.
    mask : `~numpy.ndarray` of bool, optional
        Bad pixels (True); stars touching one are left out.

    Returns
    -------
    psf : `StarPSF`

    Raises
    ------
    ValueError
        When fewer than ``min_stars`` stars are found, or their FWHMs scatter
        by more than ``max_scatter``: the message says how many were found
        and why the others were left out.
    """
    nd = data if isinstance(data, NDData) else NDData(np.asarray(data, dtype=np.float64))
    image = np.asarray(nd.data, dtype=np.float64)
    if image.ndim != 2:
        msg = f'psf_from_stars needs a 2-D image, got shape {image.shape}'
        raise ValueError(msg)
    if isinstance(size, bool) or int(size) != size or size < 7 or size % 2 == 0:
        msg = f'size must be an odd integer of at least 7 pixels, got {size!r}'
        raise ValueError(msg)
    if pixel_scale is None:
        pixel_scale = _pixel_scale(nd)
    bad = ~np.isfinite(image)
    for extra in (nd.mask, mask):
        if extra is not None:
            bad |= np.asarray(extra, dtype=bool)
    if bad.all():
        msg = 'every pixel is masked or non-finite: no stars to measure a PSF on'
        raise ValueError(msg)
    _, median, std = sigma_clipped_stats(image, mask=bad, sigma=3.0)
    if not std > 0:
        msg = 'the image has no noise above its background: no stars to measure a PSF on'
        raise ValueError(msg)
    sub = np.where(bad, 0.0, image - median)
    half = int(size) // 2
    from photutils.detection import find_peaks

    with warnings.catch_warnings():
        warnings.simplefilter('ignore', AstropyWarning)   # photutils' "no peaks found"
        peaks = find_peaks(sub, nsigma * std, box_size=5, mask=bad, border_width=half)
        # every significant peak, bright or not, for the isolation test
        others = find_peaks(sub, 5.0 * std, box_size=3, mask=bad)
    if peaks is None:
        msg = (f'no peak {nsigma:g} sigma above the background: no stars to measure a PSF on '
               '(give the PSF, or its FWHM)')
        raise ValueError(msg)
    ox = np.asarray(others['x_peak']) if others is not None else np.empty(0)
    oy = np.asarray(others['y_peak']) if others is not None else np.empty(0)
    ov = np.asarray(others['peak_value']) if others is not None else np.empty(0)
    reasons = {'masked': 0, 'saturated': 0, 'crowded': 0, 'fit': 0, 'elongated': 0,
               'not in the stellar locus': 0}
    stars, seen = [], []
    order = np.argsort(-np.asarray(peaks['peak_value']), kind='stable')
    for xp, yp, value in zip(np.asarray(peaks['x_peak'])[order],
                             np.asarray(peaks['y_peak'])[order],
                             np.asarray(peaks['peak_value'])[order], strict=True):
        xp, yp, value = int(xp), int(yp), float(value)
        # peaks this close to a brighter one are that object (a flat saturated top has many)
        if any(abs(xp - sx) <= 2 and abs(yp - sy) <= 2 for sx, sy in seen):
            continue
        seen.append((xp, yp))
        window = (slice(yp - half, yp + half + 1), slice(xp - half, xp + half + 1))
        if bad[window].any():
            reasons['masked'] += 1
            continue
        stamp = sub[window]
        top = stamp.max()
        if (saturation is not None and top + median >= saturation) \
                or np.count_nonzero(stamp >= top - max(1e-3 * abs(top), 0.1 * std)) >= 3:
            reasons['saturated'] += 1
            continue
        distance = np.hypot(ox - xp, oy - yp)
        if np.any(ov[(distance < size) & (distance > 0)] > 0.05 * value):
            reasons['crowded'] += 1
            continue
        ring = np.ones(stamp.shape, dtype=bool)
        ring[2:-2, 2:-2] = False
        stamp = stamp - np.median(stamp[ring])
        fit = _fit_star(stamp, half)
        if fit is None or not (0.7 < fit['fwhm'] < half) \
                or fit['rms'] > max(3.0 * std, 0.05 * fit['amplitude']):
            reasons['fit'] += 1
            continue
        if fit['ellipticity'] > max_ellipticity:
            reasons['elongated'] += 1
            continue
        stars.append((fit['fwhm'], fit['beta'], fit['ellipticity'],
                      xp - half + fit['x'], yp - half + fit['y']))
    stars = np.asarray(stars, dtype=np.float64).reshape(-1, 5)
    if len(stars):
        # the stellar locus: the most compact objects, galaxies being broader
        fwhm = stars[:, 0]
        low = np.median(fwhm[fwhm <= np.median(fwhm)]) if len(fwhm) >= 6 else np.median(fwhm)
        locus = (fwhm > 0.75 * low) & (fwhm < 1.3 * low)
        reasons['not in the stellar locus'] = int(np.count_nonzero(~locus))
        stars = stars[locus]
    left_out = ', '.join(f'{n} {why}' for why, n in reasons.items() if n)
    found = (f'{len(stars)} star{"s" if len(stars) != 1 else ""} found among '
             f'{len(seen)} peaks above {nsigma:g} sigma'
             + (f' (left out: {left_out})' if left_out else ''))
    if len(stars) < min_stars:
        msg = (f'too few stars to measure the PSF on: {found}; at least {min_stars} are needed '
               '(give the PSF, or its FWHM, instead)')
        raise ValueError(msg)
    fwhm = stars[:, 0]
    centre = float(np.median(fwhm))
    spread = float(np.std(fwhm, ddof=1))
    scatter = spread / centre
    if scatter > max_scatter:
        msg = (f"the stars' FWHMs scatter by {100 * scatter:.0f}% (more than "
               f'{100 * max_scatter:.0f}%): not one PSF; {found}')
        raise ValueError(msg)
    return StarPSF(fwhm=centre, fwhm_error=spread / np.sqrt(len(fwhm)),
                   beta=float(np.median(stars[:, 1])),
                   ellipticity=float(np.median(stars[:, 2])), n_stars=int(len(fwhm)),
                   scatter=scatter, pixel_scale=None if pixel_scale is None else float(pixel_scale),
                   positions=stars[:, 3:5].copy(), fwhms=fwhm.copy())
