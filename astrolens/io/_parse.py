# Licensed under a 3-clause BSD style license - see LICENSE
"""One parser for every kind of image input astrolens accepts."""

from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.nddata import NDData
from astropy.wcs import WCS

__all__ = ['to_nddata', 'as_image_array']

ACCEPTED = ('a 2-D array, a 3-D (N, H, W) batch, (array, WCS or Header), NDData/CCDData, '
            'PrimaryHDU/ImageHDU, HDUList (with hdu=), or a FITS path')


def as_image_array(data, *, name='data', allow_batch=True):
    """Check and convert an array to a native-endian float image or batch.

    Parameters
    ----------
    data : array-like
    name : str, optional
        How the argument is called in error messages.
    allow_batch : bool, optional
        Accept ``(N, H, W)`` and ``(N, 1, H, W)`` batches.

    Returns
    -------
    array : `~numpy.ndarray`
        Floating point (float32 stays float32, everything else becomes
        float64), native byte order, ``(H, W)`` or ``(N, H, W)``.
    """
    if isinstance(data, np.ma.MaskedArray):
        data = data.data
    array = np.asarray(data)
    if array.dtype.kind not in 'biuf':
        msg = f'{name} must hold numbers, got dtype {array.dtype}'
        raise TypeError(msg)
    if array.size == 0:
        msg = f'{name} is empty (shape {array.shape})'
        raise ValueError(msg)
    if allow_batch and array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 2 and not (allow_batch and array.ndim == 3):
        expected = '(H, W), (N, H, W) or (N, 1, H, W)' if allow_batch else '(H, W)'
        msg = f'{name} must have shape {expected}, got {array.shape}'
        raise ValueError(msg)
    single = array.dtype.kind == 'f' and array.dtype.itemsize == 4  # either byte order
    dtype = np.float32 if single else np.float64
    return np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder('='))


def _wcs_from(wcs, shape, *, source):
    if wcs is None:
        return None
    if isinstance(wcs, fits.Header):
        header = wcs
        if not any(key.startswith('CTYPE') for key in header):
            return None
        wcs = WCS(header)
    if not isinstance(wcs, WCS):
        msg = f'wcs must be an astropy.wcs.WCS or a FITS Header, got {type(wcs).__name__}'
        raise TypeError(msg)
    if wcs.naxis != 2 and wcs.has_celestial and wcs.celestial.naxis == 2:
        wcs = wcs.celestial
    if wcs.naxis != 2:
        msg = (f'the WCS of {source} has {wcs.naxis} axes but the image is 2-D; '
               'pass a 2-D celestial WCS')
        raise ValueError(msg)
    if len(shape) == 2:
        wcs = wcs.deepcopy()
        wcs.pixel_shape = (shape[-1], shape[-2])
    return wcs


def _mask_from(array, mask, *, source):
    finite = np.isfinite(array)
    if len(array.shape) == 2 and not finite.any():
        msg = f'{source} has no finite pixel (all NaN or inf)'
        raise ValueError(msg)
    if array.ndim == 3 and not finite.any(axis=(1, 2)).all():
        bad = np.flatnonzero(~finite.any(axis=(1, 2)))
        msg = f'{source} has images with no finite pixel, at indices {bad[:10].tolist()}'
        raise ValueError(msg)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != array.shape:
            msg = f'mask shape {mask.shape} differs from the data shape {array.shape}'
            raise ValueError(msg)
        mask = mask | ~finite
    elif not finite.all():
        mask = ~finite
    return mask


def _unit_from(unit, fallback):
    unit = fallback if unit is None else unit
    if unit is None or unit == '':
        return None
    try:
        return u.Unit(unit)
    except ValueError:
        return u.Unit(unit, parse_strict='silent')


def _select_hdu(hdulist, hdu, *, source):
    if hdu is not None:
        try:
            chosen = hdulist[hdu]
        except (KeyError, IndexError):
            names = [h.name for h in hdulist]
            msg = f'{source} has no HDU {hdu!r}; it has {names}'
            raise ValueError(msg) from None
        if chosen.data is None or chosen.is_image is False:
            msg = f'HDU {hdu!r} of {source} holds no image'
            raise ValueError(msg)
        return chosen
    images = [h for h in hdulist if h.is_image and h.data is not None
              and h.data.ndim >= 2 and h.name not in ('MASK', 'UNCERT', 'PSF')]
    if not images:
        msg = f'{source} has no image HDU'
        raise ValueError(msg)
    if len(images) > 1:
        names = [f'{i}:{h.name}' for i, h in enumerate(hdulist) if h in images]
        msg = f'{source} has several image HDUs ({", ".join(names)}); choose one with hdu='
        raise ValueError(msg)
    return images[0]


def _from_hdu(hdu, *, wcs, unit, source):
    array = as_image_array(hdu.data, name=source)
    header = hdu.header
    meta = {'header': _non_wcs_header(header)}
    return _build(array, wcs=wcs if wcs is not None else header, unit=unit,
                  header_unit=header.get('BUNIT'), mask=None, meta=meta, source=source)


def _non_wcs_header(header):
    try:
        wcs_keys = set(WCS(header).to_header(relax=True).keys())
    except Exception:  # a broken WCS must not stop us from keeping the rest
        wcs_keys = set()
    structural = {'SIMPLE', 'BITPIX', 'NAXIS', 'NAXIS1', 'NAXIS2', 'NAXIS3', 'EXTEND',
                  'BZERO', 'BSCALE', 'XTENSION', 'PCOUNT', 'GCOUNT', 'EXTNAME', 'BUNIT',
                  'CHECKSUM', 'DATASUM', 'WCSAXES', 'LONPOLE', 'LATPOLE', 'MJDREF',
                  'RADESYS', 'EQUINOX', 'A_ORDER', 'B_ORDER', 'AP_ORDER', 'BP_ORDER'}
    kept = fits.Header()
    for card in header.cards:
        key = card.keyword
        if key in structural or key in wcs_keys or key[:5] in ('CTYPE', 'CRPIX', 'CRVAL',
                                                              'CDELT', 'CUNIT', 'CROTA'):
            continue
        if key[:2] in ('CD', 'PC', 'PV') and any(ch.isdigit() for ch in key[2:3]):
            continue
        if key[:2] in ('A_', 'B_') or key[:3] in ('AP_', 'BP_'):
            continue
        kept.append(card)
    return kept


def _build(array, *, wcs, unit, header_unit, mask, meta, source, uncertainty=None, psf=None):
    wcs = _wcs_from(wcs, array.shape, source=source)
    mask = _mask_from(array, mask, source=source)
    if uncertainty is not None and uncertainty.unit is not None:
        # the uncertainty follows the data unit, which may just have been overridden
        uncertainty = type(uncertainty)(uncertainty.array)
    return NDData(array, wcs=wcs, unit=_unit_from(unit, header_unit), mask=mask,
                  meta=meta, uncertainty=uncertainty, psf=psf)


def to_nddata(data, *, hdu=None, wcs=None, unit=None):
    """Turn any accepted image input into `~astropy.nddata.NDData`.

    Parameters
    ----------
    data : array-like, tuple, `~astropy.nddata.NDData`, HDU, HDUList, str or Path
        A 2-D array; a 3-D ``(N, H, W)`` (or ``(N, 1, H, W)``) batch; a tuple
        ``(array, WCS or Header)``; ``NDData``/``CCDData``; a ``PrimaryHDU``
        or ``ImageHDU``; an ``HDUList`` (``hdu=`` picks the extension when it
        holds several images); or the path of a FITS file.
    hdu : int or str, optional
        Extension to read from an ``HDUList`` or FITS file.
    wcs : `~astropy.wcs.WCS` or `~astropy.io.fits.Header`, optional
        Overrides any WCS carried by ``data``.
    unit : `~astropy.units.Unit` or str, optional
        Overrides any unit carried by ``data`` (``BUNIT`` for FITS).

    Returns
    -------
    nddata : `~astropy.nddata.NDData`
        Float data in native byte order; non-finite pixels are masked;
        ``wcs`` is a 2-D celestial WCS when one is known; ``meta['header']``
        keeps the non-WCS cards of a FITS header.

    Raises
    ------
    TypeError
        For an input of a kind not listed above, or non-numeric data.
    ValueError
        For arrays of the wrong shape, empty or all-NaN images, a WCS with the
        wrong number of axes, or FITS files without (or with ambiguous) images.
    FileNotFoundError
        For a path that does not exist.
    """
    if isinstance(data, (str, Path)):
        from astrolens.io._fits import read_fits
        nd = read_fits(data, hdu=hdu)
        if wcs is None and unit is None:
            return nd
        return _build(nd.data, wcs=wcs if wcs is not None else nd.wcs, unit=unit,
                      header_unit=nd.unit, mask=nd.mask, meta=nd.meta, source=str(data),
                      uncertainty=nd.uncertainty, psf=nd.psf)
    if isinstance(data, fits.HDUList):
        chosen = _select_hdu(data, hdu, source='the HDUList')
        return _from_hdu(chosen, wcs=wcs, unit=unit, source=f'HDU {chosen.name!r}')
    if isinstance(data, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)):
        if data.data is None:
            msg = f'HDU {data.name!r} holds no data'
            raise ValueError(msg)
        return _from_hdu(data, wcs=wcs, unit=unit, source=f'HDU {data.name!r}')
    if isinstance(data, NDData):
        array = as_image_array(data.data, name='NDData.data')
        meta = dict(data.meta) if data.meta is not None else {}
        return _build(array, wcs=wcs if wcs is not None else data.wcs, unit=unit,
                      header_unit=data.unit, mask=data.mask, meta=meta, source='the NDData',
                      uncertainty=data.uncertainty, psf=getattr(data, 'psf', None))
    if isinstance(data, tuple):
        if len(data) != 2:
            msg = f'a tuple input must be (array, WCS or Header), got {len(data)} items'
            raise TypeError(msg)
        array, tuple_wcs = data
        if not isinstance(tuple_wcs, (WCS, fits.Header)):
            msg = ('the second item of an (array, wcs) tuple must be an astropy WCS or '
                   f'Header, got {type(tuple_wcs).__name__}')
            raise TypeError(msg)
        return to_nddata(array, wcs=wcs if wcs is not None else tuple_wcs, unit=unit)
    if isinstance(data, (np.ndarray, list)) or hasattr(data, '__array__'):
        mask = np.ma.getmaskarray(data) if isinstance(data, np.ma.MaskedArray) else None
        array = as_image_array(data)
        if mask is not None and mask.shape != array.shape:
            mask = mask.reshape(array.shape)
        return _build(array, wcs=wcs, unit=unit, header_unit=None, mask=mask,
                      meta={}, source='the array')
    msg = f'cannot read {type(data).__name__}: expected {ACCEPTED}'
    raise TypeError(msg)
