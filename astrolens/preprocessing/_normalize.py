# Licensed under a 3-clause BSD style license - see LICENSE
"""Invertible intensity normalisation for the networks, recorded in ``meta``."""

import numpy as np
from astropy.nddata import NDData

from astrolens.io import to_nddata

__all__ = ['METHODS', 'denormalize', 'normalize', 'normalize_array', 'denormalize_array']

METHODS = ('flux', 'asinh', 'minmax')


def _per_image(array, func):
    """Apply a reduction over the last two axes, keeping them for broadcasting."""
    flat = array.reshape(array.shape[:-2] + (-1,))
    return func(flat, axis=-1)[..., None, None]


def normalize_array(array, *, method='flux', softening=None):
    """Normalise an image ``(H, W)`` or batch ``(N, H, W)`` per image.

    Parameters
    ----------
    array : `~numpy.ndarray`
        Non-finite pixels are ignored by the statistics and stay non-finite.
    method : {'flux', 'asinh', 'minmax'}
        ``'flux'``: ``(x - offset) / scale`` with ``offset`` the median (the
        sky for a sparse field) and ``scale`` the 99.5th percentile above it,
        linear so sums are kept up to the record. ``'asinh'``:
        ``asinh((x - offset) / softening) / asinh(scale / softening)``,
        which compresses bright cores. ``'minmax'``: DeepLense's per-image
        ``(x - min) / (max - min)``.
    softening : float, optional
        For ``'asinh'``: the softening in units of ``scale`` (default 0.05).

    Returns
    -------
    normalised : `~numpy.ndarray`
    record : dict
        ``method`` and the parameters (floats for an image, lists for a
        batch) that `denormalize_array` needs.
    """
    if method not in METHODS:
        msg = f'method must be one of {METHODS}, got {method!r}'
        raise ValueError(msg)
    array = np.asarray(array, dtype=np.float64)
    # inf would poison every statistic; like NaN it is ignored and stays as it was
    stats = np.where(np.isfinite(array), array, np.nan)
    if method == 'minmax':
        low, high = _per_image(stats, np.nanmin), _per_image(stats, np.nanmax)
        span = high - low
        offset, scale = low, np.where(np.isfinite(span) & (span > 0), span, 1.0)
        params = {'offset': offset, 'scale': scale}
        out = (array - offset) / scale
    else:
        offset = _per_image(stats, np.nanmedian)
        spread = _per_image(stats - offset, lambda a, axis: np.nanpercentile(a, 99.5, axis=axis))
        fallback = _per_image(np.abs(stats - offset), np.nanmax)
        usable = np.isfinite(spread) & (spread > 0)
        scale = np.where(usable, spread, np.where(np.isfinite(fallback) & (fallback > 0),
                                                  fallback, 1.0))
        params = {'offset': offset, 'scale': scale}
        if method == 'flux':
            out = (array - offset) / scale
        else:
            soft = 0.05 if softening is None else float(softening)
            if soft <= 0:
                msg = f'softening must be positive, got {softening!r}'
                raise ValueError(msg)
            params['softening'] = np.full_like(scale, soft)
            out = np.arcsinh((array - offset) / (soft * scale)) / np.arcsinh(1.0 / soft)
    record = {'method': method}
    for key, value in params.items():
        value = value[..., 0, 0]
        record[key] = float(value) if value.ndim == 0 else value.tolist()
    return out, record


def denormalize_array(array, record):
    """Invert `normalize_array` given its ``record``.

    Parameters
    ----------
    array : `~numpy.ndarray`
        Normalised image ``(H, W)`` or batch ``(N, H, W)`` -- or an image
        produced from one at a different size, such as a network output.
    record : dict
        As returned by `normalize_array` (or ``meta['normalization']``).

    Returns
    -------
    restored : `~numpy.ndarray`
        In the original units. Note that for ``'flux'`` and ``'minmax'`` the
        map is affine per pixel, so the sum over an upscaled image must be
        compared with the input sum times the pixel-area ratio by the caller.
    """
    if not isinstance(record, dict) or record.get('method') not in METHODS:
        msg = ("record must be the dict written by normalize (meta['normalization']) with "
               f"'method' in {METHODS}, got {record!r}")
        raise ValueError(msg)
    array = np.asarray(array, dtype=np.float64)

    def param(key):
        value = np.asarray(record[key], dtype=np.float64)
        return value[..., None, None]

    offset, scale = param('offset'), param('scale')
    if record['method'] == 'asinh':
        soft = param('softening')
        return offset + soft * scale * np.sinh(array * np.arcsinh(1.0 / soft))
    return array * scale + offset


def normalize(data, *, method='flux', softening=None):
    """Normalise an image for a network, recording how in ``meta``.

    Parameters
    ----------
    data : array-like, `~astropy.nddata.NDData`, HDU or path
        Anything `astrolens.io.to_nddata` accepts; a 3-D array is a batch
        normalised image by image.
    method : {'flux', 'asinh', 'minmax'}, optional
        See `normalize_array`. ``'flux'`` is linear and the default.
    softening : float, optional
        Softening of ``'asinh'`` in units of the scale.

    Returns
    -------
    normalised : `~astropy.nddata.NDData`
        Same WCS and mask, no unit (the values are dimensionless), and
        ``meta['normalization']`` holding the method, its parameters and
        the original unit, which `denormalize` uses.
    """
    nd = to_nddata(data)
    out, record = normalize_array(nd.data, method=method, softening=softening)
    record['unit'] = None if nd.unit is None else nd.unit.to_string()
    meta = dict(nd.meta)
    meta['normalization'] = record
    dtype = nd.data.dtype
    return NDData(out.astype(dtype), wcs=nd.wcs, mask=nd.mask, meta=meta, psf=nd.psf)


def denormalize(data, record=None):
    """Invert `normalize`.

    Parameters
    ----------
    data : `~astropy.nddata.NDData` or array-like
        Normalised data; an ``NDData`` carries its record in
        ``meta['normalization']``.
    record : dict, optional
        The record, when ``data`` does not carry it (a bare array).

    Returns
    -------
    restored : `~astropy.nddata.NDData`
        In the original unit.
    """
    nd = to_nddata(data)
    record = record if record is not None else nd.meta.get('normalization')
    if record is None:
        msg = ("denormalize needs the normalisation record: pass record= or data whose "
               "meta['normalization'] was written by normalize")
        raise ValueError(msg)
    restored = denormalize_array(nd.data, record)
    meta = {k: v for k, v in nd.meta.items() if k != 'normalization'}
    return NDData(restored.astype(nd.data.dtype), wcs=nd.wcs, mask=nd.mask, meta=meta,
                  unit=record.get('unit'), psf=nd.psf)
