# Licensed under a 3-clause BSD style license - see LICENSE
"""One parser for every kind of image input astrolens accepts."""

from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData, NDData
from astropy.wcs import WCS

from astrolens.io._header import astrolens_cards, non_wcs_header
from astrolens.utils._limits import DEFAULT_MAX_PIXELS
from astrolens.wcs_utils import celestial_pixel_axes, wcs_from_header

__all__ = ['as_image_array', 'restore_type', 'to_nddata']

ACCEPTED = ('a 2-D array, a 3-D (N, H, W) batch, a Quantity, (array, WCS or Header), '
            'NDData/CCDData, PrimaryHDU/ImageHDU, HDUList (with hdu=), or a FITS path')


def as_image_array(data, *, name='data', allow_batch=True):
    """Check and convert an array to a native-endian float image or batch.

    Parameters
    ----------
    data : array-like
    name : str, optional
        How the argument is called in error messages.
    allow_batch : bool, optional
        Accept ``(N, H, W)`` and ``(N, 1, H, W)`` batches (and cubes).

    Returns
    -------
    array : `~numpy.ndarray`
        Floating point -- float32 for float32 and integer input (FITS images
        are mostly 16- or 32-bit), float64 for everything else -- native byte
        order, ``(H, W)`` or ``(N, H, W)``.
    """
    if isinstance(data, np.ma.MaskedArray):
        data = data.data
    if isinstance(data, u.Quantity):
        data = data.value
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
    single = array.dtype.kind in 'biu' or (array.dtype.kind == 'f' and array.dtype.itemsize <= 4)
    dtype = np.float32 if single else np.float64
    return np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder('='))


def _wcs_from(wcs, shape, *, source):
    if wcs is None:
        return None
    if isinstance(wcs, fits.Header):
        wcs = wcs_from_header(wcs, source=source)
        if wcs is None:
            return None
    if not isinstance(wcs, WCS):
        msg = f'wcs must be an astropy.wcs.WCS or a FITS Header, got {type(wcs).__name__}'
        raise TypeError(msg)
    if len(shape) == 2 and wcs.naxis != 2 and wcs.has_celestial and wcs.celestial.naxis == 2:
        wcs = wcs.celestial
    if len(shape) == 3 and wcs.naxis not in (2, 3):
        if wcs.has_celestial and wcs.celestial.naxis == 2:
            wcs = wcs.celestial
    if wcs.naxis != 2 and not (len(shape) == 3 and wcs.naxis == 3):
        kind = 'image is 2-D' if len(shape) == 2 else f'data have shape {shape}'
        msg = (f'the WCS of {source} has {wcs.naxis} axes but the {kind}; '
               'pass a 2-D celestial WCS (or a 3-D one for a (bands, y, x) cube)')
        raise ValueError(msg)
    if wcs.naxis == 3 and wcs.has_celestial and celestial_pixel_axes(wcs) != (0, 1):
        msg = (f'the celestial axes of the 3-D WCS of {source} are not the image axes of '
               'a (bands, y, x) cube (FITS axes 1 and 2); reorder the cube so they are')
        raise ValueError(msg)
    wcs = wcs.deepcopy()
    if wcs.naxis == 2:
        wcs.pixel_shape = (shape[-1], shape[-2])
    else:
        wcs.pixel_shape = tuple(reversed(shape))
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
    if isinstance(unit, u.UnitBase):
        return unit
    text = str(unit).strip()
    # HST pipelines write these; astropy knows them under other names
    text = _ARCHIVE_UNITS.get(text.upper().replace(' ', ''), text)
    try:
        return u.Unit(text)
    except ValueError:
        return u.Unit(str(unit), parse_strict='silent')


_ARCHIVE_UNITS = {'ELECTRONS/S': 'electron/s', 'ELECTRONS/SEC': 'electron/s',
                  'ELECTRONS': 'electron', 'COUNTS/S': 'count/s', 'COUNTS': 'count'}


def _build(array, *, wcs, unit, header_unit, mask, meta, source, uncertainty=None, psf=None):
    wcs = _wcs_from(wcs, array.shape, source=source)
    mask = _mask_from(array, mask, source=source)
    if uncertainty is not None:
        if uncertainty.array.shape != array.shape:
            msg = (f'the uncertainty of {source} has shape {uncertainty.array.shape}, not the '
                   f'data shape {array.shape}')
            raise ValueError(msg)
        if uncertainty.unit is not None or getattr(uncertainty, '_parent_nddata', None) is not None:
            # the uncertainty follows the data unit, which may just have been overridden
            uncertainty = type(uncertainty)(np.asarray(uncertainty.array))
    return NDData(array, wcs=wcs, unit=_unit_from(unit, header_unit), mask=mask,
                  meta=meta, uncertainty=uncertainty, psf=psf)


def _from_hdu(hdu, *, wcs, unit, source, max_pixels=DEFAULT_MAX_PIXELS):
    from astrolens.io._layouts import _declared_shape
    from astrolens.utils import check_declared_size

    shape, itemsize = _declared_shape(hdu)
    check_declared_size(shape, itemsize=itemsize, max_pixels=max_pixels, source=source)
    if hdu.data is None:
        msg = f'{source} holds no data'
        raise ValueError(msg)
    array = as_image_array(hdu.data, name=source)
    header = hdu.header
    meta = {**astrolens_cards(header), 'header': non_wcs_header(header)}
    return _build(array, wcs=wcs if wcs is not None else header, unit=unit,
                  header_unit=header.get('BUNIT'), mask=None, meta=meta, source=source)


def to_nddata(data, *, hdu=None, wcs=None, unit=None, bad_bits=None,
              max_pixels=DEFAULT_MAX_PIXELS):
    """Turn any accepted image input into `~astropy.nddata.NDData`.

    Parameters
    ----------
    data : array-like, Quantity, tuple, `~astropy.nddata.NDData`, HDU, HDUList, str or Path
        A 2-D array or `~astropy.units.Quantity`; a 3-D ``(N, H, W)`` (or
        ``(N, 1, H, W)``) batch; a tuple ``(array, WCS or Header)``;
        ``NDData``/``CCDData``; a ``PrimaryHDU`` or ``ImageHDU``; an
        ``HDUList``; or the path of a FITS file (also ``.fits.gz``,
        ``.fits.fz``). Survey layouts (HST drizzled and calibrated, HSC/LSST
        calexp, astrolens) are recognised: see `read_fits`.
    hdu : int, str or (str, int), optional
        Extension holding the image, when a file holds several: an index, a
        name or ``(NAME, VER)`` (the text ``'NAME,VER'`` also works).
    wcs : `~astropy.wcs.WCS` or `~astropy.io.fits.Header`, optional
        Overrides any WCS carried by ``data``.
    unit : `~astropy.units.Unit` or str, optional
        Overrides any unit carried by ``data`` (``BUNIT`` for FITS).
    bad_bits : int, str or sequence of str, optional
        For files with bit-plane masks: the planes that make a pixel bad
        (see `read_fits`).
    max_pixels : int or None, optional
        Largest declared image size read from a file (see
        `astrolens.utils.DEFAULT_MAX_PIXELS`); None for no limit.

    Returns
    -------
    nddata : `~astropy.nddata.NDData`
        Float data in native byte order (integers become float32);
        non-finite pixels are masked; ``wcs`` is a 2-D celestial WCS when one
        is known (3-D for a ``(bands, y, x)`` FITS cube); ``meta['header']``
        keeps the non-WCS cards of a FITS header. FITS files that hold a
        3-D image give a 3-D NDData: a cube, enhanced plane by plane.

    Raises
    ------
    TypeError
        For an input of a kind not listed above, or non-numeric data.
    ValueError
        For arrays of the wrong shape, empty or all-NaN images, a WCS with the
        wrong number of axes, or FITS files without images.
    astrolens.utils.AmbiguousHDUError
        For FITS files with several images and no (or a wrong) ``hdu``.
    astrolens.utils.ImageTooLargeError
        For a file image larger than ``max_pixels``.
    FileNotFoundError
        For a path that does not exist.
    """
    if isinstance(data, (str, Path)):
        from astrolens.io._fits import read_fits
        nd = read_fits(data, hdu=hdu, bad_bits=bad_bits, max_pixels=max_pixels)
        if wcs is None and unit is None:
            return nd
        return _build(nd.data, wcs=wcs if wcs is not None else nd.wcs, unit=unit,
                      header_unit=nd.unit, mask=nd.mask, meta=nd.meta, source=str(data),
                      uncertainty=nd.uncertainty, psf=nd.psf)
    if isinstance(data, fits.HDUList):
        from astrolens.io._fits import read_hdulist
        nd = read_hdulist(data, hdu=hdu, bad_bits=bad_bits, max_pixels=max_pixels,
                          source='the HDUList')
        if wcs is None and unit is None:
            return nd
        return _build(nd.data, wcs=wcs if wcs is not None else nd.wcs, unit=unit,
                      header_unit=nd.unit, mask=nd.mask, meta=nd.meta, source='the HDUList',
                      uncertainty=nd.uncertainty, psf=nd.psf)
    if isinstance(data, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)):
        return _from_hdu(data, wcs=wcs, unit=unit, source=f'HDU {data.name!r}',
                         max_pixels=max_pixels)
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
        quantity_unit = data.unit if isinstance(data, u.Quantity) else None
        array = as_image_array(data)
        if mask is not None and mask.shape != array.shape:
            mask = mask.reshape(array.shape)
        return _build(array, wcs=wcs, unit=unit, header_unit=quantity_unit, mask=mask,
                      meta={}, source='the array')
    msg = f'cannot read {type(data).__name__}: expected {ACCEPTED}'
    raise TypeError(msg)


def restore_type(result, like):
    """Give ``result`` the container type of the input ``like``.

    A `~astropy.nddata.CCDData` input gives a ``CCDData`` back (with the
    result's data, unit, WCS, mask, uncertainty and meta); every other input
    gives the ``NDData`` itself (a `~astropy.units.Quantity` input's unit is
    already its ``unit``).

    Parameters
    ----------
    result : `~astropy.nddata.NDData`
    like : object
        What the user passed in.

    Returns
    -------
    out : `~astropy.nddata.NDData` or `~astropy.nddata.CCDData`
    """
    if isinstance(like, CCDData) and not isinstance(result, CCDData):
        unit = result.unit if result.unit is not None else like.unit
        return CCDData(np.asarray(result.data), unit=unit, wcs=result.wcs, mask=result.mask,
                       uncertainty=result.uncertainty, meta=dict(result.meta or {}),
                       psf=getattr(result, 'psf', None))
    return result
