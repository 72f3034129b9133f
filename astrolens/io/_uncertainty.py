# Licensed under a 3-clause BSD style license - see LICENSE
"""Uncertainties as they travel through steps that change pixels.

Every step works on the variance and hands back the type it was given
(`~astropy.nddata.StdDevUncertainty`, `~astropy.nddata.VarianceUncertainty`
or `~astropy.nddata.InverseVariance`).

Resampling approximation (stated in ``docs/data_model.rst``): when an output
pixel covers ``r`` times the sky area of an input pixel, its variance is the
input variance, resampled like an image, times ``r * min(r, 1)`` for flux
per pixel and ``min(r, 1) / r`` for surface brightness. For ``r > 1``
(averaging ``r`` independent pixels) this is exact; for ``r < 1`` (one pixel
split into ``1 / r`` pieces, e.g. super-resolution by ``s``: ``r = 1/s**2``)
the pieces are taken as fully correlated, so the error of any sum over whole
input pixels is right and a single output pixel is not over-confident.
"""

import numpy as np
from astropy.nddata import InverseVariance, StdDevUncertainty, VarianceUncertainty

__all__ = ['as_variance', 'combine_in_quadrature', 'like_uncertainty',
           'resampled_variance_factor', 'upsample_uncertainty']


def as_variance(uncertainty):
    """Variance array of an NDData uncertainty (inf where an inverse variance is 0).

    Parameters
    ----------
    uncertainty : `~astropy.nddata.NDUncertainty` or None

    Returns
    -------
    variance : `~numpy.ndarray` or None
    """
    if uncertainty is None:
        return None
    array = np.asarray(uncertainty.array, dtype=np.float64)
    if isinstance(uncertainty, StdDevUncertainty):
        return array ** 2
    if isinstance(uncertainty, VarianceUncertainty):
        return array.copy()
    if isinstance(uncertainty, InverseVariance):
        with np.errstate(divide='ignore'):
            return np.where(array > 0, 1.0 / np.where(array > 0, array, 1.0), np.inf)
    msg = (f'cannot use an uncertainty of type {type(uncertainty).__name__}; use '
           'StdDevUncertainty, VarianceUncertainty or InverseVariance')
    raise TypeError(msg)


def like_uncertainty(variance, like, *, dtype=None):
    """An uncertainty of the same class as ``like`` holding ``variance``.

    Parameters
    ----------
    variance : `~numpy.ndarray`
    like : `~astropy.nddata.NDUncertainty` or type or None
        Default `~astropy.nddata.StdDevUncertainty`.
    dtype : numpy dtype, optional
        Output dtype (the data's, so that float32 images get float32 errors).

    Returns
    -------
    uncertainty : `~astropy.nddata.NDUncertainty`
    """
    kind = like if isinstance(like, type) else (type(like) if like is not None
                                                else StdDevUncertainty)
    variance = np.asarray(variance, dtype=np.float64)
    if kind is VarianceUncertainty:
        array = variance
    elif kind is InverseVariance:
        with np.errstate(divide='ignore'):
            array = np.where(np.isfinite(variance) & (variance > 0),
                             1.0 / np.where(variance > 0, variance, 1.0), 0.0)
    else:
        kind = StdDevUncertainty
        array = np.sqrt(variance)
    if dtype is not None:
        array = array.astype(dtype)
    return kind(array)


def resampled_variance_factor(area_ratio, *, surface_brightness=False):
    """Factor applied to a resampled variance map (see the module docstring).

    Parameters
    ----------
    area_ratio : float
        Sky area of an output pixel over that of an input pixel.
    surface_brightness : bool, optional

    Returns
    -------
    factor : float
    """
    r = float(area_ratio)
    if surface_brightness:
        return min(r, 1.0) / r
    return r * min(r, 1.0)


def upsample_uncertainty(uncertainty, factor, *, surface_brightness=False, dtype=None):
    """Uncertainty of an image super-resolved (upsampled) by an integer ``factor``.

    Each input pixel's variance goes to its ``factor x factor`` sub-pixels,
    scaled by `resampled_variance_factor` with ``area_ratio = 1/factor**2``:
    divided by ``factor**4`` for flux per pixel (sub-pixels fully
    correlated: a sum over one input pixel has the input error), unchanged
    for surface brightness. The network's own error is not in it: combine it
    with `combine_in_quadrature`.

    Parameters
    ----------
    uncertainty : `~astropy.nddata.NDUncertainty` or None
    factor : int
    surface_brightness : bool, optional
    dtype : numpy dtype, optional

    Returns
    -------
    uncertainty : `~astropy.nddata.NDUncertainty` or None
        Same class as the input.
    """
    variance = as_variance(uncertainty)
    if variance is None:
        return None
    s = int(factor)
    up = np.repeat(np.repeat(variance, s, axis=-2), s, axis=-1)
    up *= resampled_variance_factor(1.0 / s ** 2, surface_brightness=surface_brightness)
    return like_uncertainty(up, uncertainty, dtype=dtype)


def combine_in_quadrature(uncertainty, std, *, dtype=None):
    """Add a standard deviation (e.g. a model's spread) to an uncertainty in quadrature.

    Parameters
    ----------
    uncertainty : `~astropy.nddata.NDUncertainty` or None
        Propagated data uncertainty; None means only ``std`` is known.
    std : `~numpy.ndarray` or None
    dtype : numpy dtype, optional

    Returns
    -------
    uncertainty : `~astropy.nddata.NDUncertainty` or None
        Same class as ``uncertainty`` (`~astropy.nddata.StdDevUncertainty`
        when it is None).
    """
    if std is None:
        return uncertainty
    variance = np.asarray(std, dtype=np.float64) ** 2
    data_variance = as_variance(uncertainty)
    if data_variance is not None:
        variance = variance + data_variance
    return like_uncertainty(variance, uncertainty, dtype=dtype)
