# Licensed under a 3-clause BSD style license - see LICENSE
"""Reading and writing images with WCS, unit, mask, uncertainty and PSF as FITS."""

from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.nddata import InverseVariance, NDData, StdDevUncertainty, VarianceUncertainty

from astrolens.io._parse import _build, _non_wcs_header, _select_hdu, as_image_array
from astrolens.utils import atomic_path, check_writable

__all__ = ['read_fits', 'write_fits']

_UNCERTAINTY_TYPES = {'std': StdDevUncertainty, 'var': VarianceUncertainty,
                      'ivar': InverseVariance}


def _open(path):
    path = Path(path)
    if not path.exists():
        msg = f'no such file: {path}'
        raise FileNotFoundError(msg)
    if path.is_dir():
        msg = f'{path} is a folder, not a FITS file'
        raise ValueError(msg)
    try:
        hdulist = fits.open(path, memmap=False)
        hdulist.verify('silentfix')
        len(hdulist)  # forces the whole file to be parsed now, inside the try
    except (OSError, TypeError, ValueError) as exc:
        msg = f'{path} is not a readable FITS file ({exc})'
        raise ValueError(msg) from None
    return hdulist


def read_fits(path, *, hdu=None):
    """Read a FITS image into `~astropy.nddata.NDData`.

    Parameters
    ----------
    path : str or `~pathlib.Path`
    hdu : int or str, optional
        Extension holding the image; needed only when the file holds several.

    Returns
    -------
    nddata : `~astropy.nddata.NDData`
        Data (scaled by ``BZERO``/``BSCALE``, native byte order), celestial
        WCS, unit from ``BUNIT``, and -- when the file has them, as
        `write_fits` writes them -- ``MASK``, ``UNCERT`` and ``PSF``
        extensions. ``meta['header']`` holds the non-WCS header cards and
        ``meta['path']`` the file name.
    """
    source = str(path)
    with _open(path) as hdulist:
        image = _select_hdu(hdulist, hdu, source=source)
        array = as_image_array(image.data, name=source)
        header = image.header
        names = [h.name for h in hdulist]
        mask = uncertainty = psf = None
        if 'MASK' in names:
            mask = np.asarray(hdulist['MASK'].data, dtype=bool)
        if 'UNCERT' in names:
            uhdu = hdulist['UNCERT']
            kind = _UNCERTAINTY_TYPES.get(uhdu.header.get('UTYPE', 'std'), StdDevUncertainty)
            uncertainty = kind(as_image_array(uhdu.data, name='UNCERT extension'))
        if 'PSF' in names:
            psf = as_image_array(hdulist['PSF'].data, name='PSF extension', allow_batch=False)
        meta = {'header': _non_wcs_header(header), 'path': source}
        return _build(array, wcs=header, unit=None, header_unit=header.get('BUNIT'),
                      mask=mask, meta=meta, source=source, uncertainty=uncertainty, psf=psf)


def _uncertainty_code(uncertainty):
    for code, kind in _UNCERTAINTY_TYPES.items():
        if isinstance(uncertainty, kind):
            return code
    msg = f'cannot write an uncertainty of type {type(uncertainty).__name__} to FITS'
    raise TypeError(msg)


def _scalar_meta_cards(meta):
    cards = []
    for key, value in meta.items():
        if key in ('header', 'path') or not isinstance(key, str):
            continue
        if isinstance(value, (bool, int, float, str, np.integer, np.floating)):
            value = value.item() if isinstance(value, np.generic) else value
            if isinstance(value, str) and len(value) > 60:
                continue
            cards.append((f'HIERARCH ASTROLENS {key.upper()}', value))
    return cards


def write_fits(nddata, path, *, overwrite=False):
    """Write `~astropy.nddata.NDData` to a FITS file atomically.

    The image goes in the primary HDU with its WCS and ``BUNIT``; the mask,
    uncertainty and PSF, when present, go in extensions named ``MASK``,
    ``UNCERT`` and ``PSF``. Non-WCS cards in ``meta['header']`` and scalar
    ``meta`` entries are kept. The file is first written beside ``path`` under
    a temporary name and then renamed, so a killed process never leaves a
    half-written file.

    Parameters
    ----------
    nddata : `~astropy.nddata.NDData` or anything `~astrolens.io.to_nddata` accepts
    path : str or `~pathlib.Path`
    overwrite : bool, optional
        Replace an existing file. Default: raise `FileExistsError`.
    """
    from astrolens.io._parse import to_nddata

    check_writable(path, overwrite=overwrite)
    nd = nddata if isinstance(nddata, NDData) else to_nddata(nddata)
    header = fits.Header()
    extra = (nd.meta or {}).get('header')
    if isinstance(extra, fits.Header):
        header.extend(_non_wcs_header(extra), update=True)
    for key, value in _scalar_meta_cards(nd.meta or {}):
        header[key] = value
    if nd.wcs is not None:
        header.extend(nd.wcs.to_header(relax=True), update=True)
    if nd.unit is not None:
        header['BUNIT'] = nd.unit.to_string(format='fits') if _fits_unit_ok(nd.unit) \
            else str(nd.unit)
    hdus = [fits.PrimaryHDU(np.asarray(nd.data), header=header)]
    if nd.mask is not None and np.any(nd.mask):
        hdus.append(fits.ImageHDU(np.asarray(nd.mask, dtype=np.uint8), name='MASK'))
    if nd.uncertainty is not None:
        uhdu = fits.ImageHDU(np.asarray(nd.uncertainty.array), name='UNCERT')
        uhdu.header['UTYPE'] = _uncertainty_code(nd.uncertainty)
        hdus.append(uhdu)
    psf = getattr(nd, 'psf', None)
    if psf is not None:
        hdus.append(fits.ImageHDU(np.asarray(psf), name='PSF'))
    with atomic_path(path, overwrite=overwrite) as tmp:
        fits.HDUList(hdus).writeto(tmp, overwrite=True, output_verify='silentfix')
    return Path(path)


def _fits_unit_ok(unit):
    try:
        unit.to_string(format='fits')
    except ValueError:
        return False
    return True
