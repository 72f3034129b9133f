# Licensed under a 3-clause BSD style license - see LICENSE
"""Whether a per-pixel uncertainty covers the truth: coverage, z-scores, reliability."""

from dataclasses import dataclass

import numpy as np

__all__ = ['UncertaintyCalibration', 'coverage_curve', 'source_pixels',
           'uncertainty_calibration']


def source_pixels(truth, *, smooth=2.0, nsigma=3.0):
    """The pixels of the sources of ``truth``: its smoothed image above ``nsigma`` of its sky.

    Parameters
    ----------
    truth : array-like
        2-D image; NaN pixels are never sources.
    smooth : float, optional
        Standard deviation (pixels) of the Gaussian the truth is smoothed by first.
    nsigma : float, optional
        Threshold above the sky level, in standard deviations of the smoothed sky (both
        from 3-sigma clipped statistics of the smoothed image).

    Returns
    -------
    mask : `~numpy.ndarray` of bool
    """
    from astropy.stats import sigma_clipped_stats
    from scipy import ndimage

    truth = np.asarray(truth, dtype=np.float64)
    good = np.isfinite(truth)
    if not good.any():
        return good
    smoothed = ndimage.gaussian_filter(np.where(good, truth, np.median(truth[good])), smooth)
    _, sky, sigma = sigma_clipped_stats(smoothed[good], sigma=3.0)
    return good & (smoothed > sky + nsigma * sigma)


@dataclass(frozen=True)
class UncertaintyCalibration:
    """How a per-pixel uncertainty compares with the errors it should describe.

    Attributes
    ----------
    coverage : float
        Share of the pixels with ``|z| < 1`` (0.683 for Gaussian errors described exactly).
    z_std : float
        Standard deviation of the z-scores (1 when the uncertainty is right on average).
    z : `~numpy.ndarray`
        The z-scores ``(pred - truth) / sqrt(sigma**2 + truth_sigma**2)`` of the pixels.
    """

    coverage: float
    z_std: float
    z: np.ndarray

    @property
    def n(self):
        """Number of pixels."""
        return int(self.z.size)


def uncertainty_calibration(pred, sigma, truth, *, truth_sigma=0.0, mask=None):
    """Coverage and z-score spread of ``sigma`` as the error of ``pred`` against ``truth``.

    The truth's own noise ``truth_sigma`` is added in quadrature (the error against a
    noisy truth includes it): ``sigma_total**2 = sigma**2 + truth_sigma**2``.

    Parameters
    ----------
    pred, sigma, truth : array-like
        Same shape.
    truth_sigma : float or array-like, optional
        Noise per pixel of the truth.
    mask : array-like of bool, optional
        Pixels to use (e.g. `source_pixels`); default all. Non-finite pixels and pixels
        of zero total uncertainty are left out.

    Returns
    -------
    result : `UncertaintyCalibration`
    """
    pred, sigma, truth = (np.asarray(a, dtype=np.float64) for a in (pred, sigma, truth))
    if not pred.shape == sigma.shape == truth.shape:
        msg = (f'pred, sigma and truth must have one shape, got {pred.shape}, {sigma.shape} '
               f'and {truth.shape}')
        raise ValueError(msg)
    total = np.sqrt(sigma ** 2 + np.asarray(truth_sigma, dtype=np.float64) ** 2)
    use = np.isfinite(pred) & np.isfinite(truth) & np.isfinite(total) & (total > 0)
    if mask is not None:
        use &= np.asarray(mask, dtype=bool)
    z = (pred[use] - truth[use]) / total[use]
    if not z.size:
        return UncertaintyCalibration(float('nan'), float('nan'), z)
    return UncertaintyCalibration(float(np.mean(np.abs(z) < 1.0)), float(np.std(z)), z)


def coverage_curve(z, levels=None):
    """Observed against nominal coverage of central intervals (a reliability curve).

    Parameters
    ----------
    z : array-like
        z-scores (e.g. `UncertaintyCalibration.z`, pooled over images).
    levels : array-like, optional
        Nominal probabilities of the central Gaussian intervals; default 0.05 to 0.95.

    Returns
    -------
    levels, observed : `~numpy.ndarray`
        ``observed[i]`` is the share of ``|z|`` within the interval that holds
        ``levels[i]`` of a unit Gaussian; a calibrated uncertainty gives the diagonal.
    """
    from scipy.special import erfinv

    levels = np.linspace(0.05, 0.95, 19) if levels is None else np.asarray(levels, float)
    z = np.abs(np.asarray(z, dtype=np.float64).ravel())
    half_widths = np.sqrt(2.0) * erfinv(levels)
    observed = np.array([np.mean(z <= w) if z.size else np.nan for w in half_widths])
    return levels, observed
