# Licensed under a 3-clause BSD style license - see LICENSE
"""Reading and writing images with WCS, unit, mask, uncertainty and PSF as FITS."""

import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.nddata import InverseVariance, NDData, StdDevUncertainty, VarianceUncertainty

from astrolens.io._header import SR_PSF_CARDS, astrolens_cards, non_wcs_header
from astrolens.io._layouts import checked_data, find_layout
from astrolens.io._masks import HST_DQ_FLAGS, bad_pixels_from_bitmask, lsst_planes
from astrolens.io._parse import _build, as_image_array
from astrolens.utils import AstrolensUserWarning, atomic_path, check_writable
from astrolens.utils._limits import DEFAULT_MAX_PIXELS

__all__ = ['read_fits', 'read_hdulist', 'write_fits']

_UNCERTAINTY_TYPES = {'std': StdDevUncertainty, 'var': VarianceUncertainty,
                      'ivar': InverseVariance}
# meta entries that describe where the data came from, not the data: not written back
_NOT_WRITTEN = {'header', 'path', 'layout'}


def _open(path):
    path = Path(path)
    if not path.exists():
        msg = f'no such file: {path}'
        raise FileNotFoundError(msg)
    if path.is_dir():
        msg = f'{path} is a folder, not a FITS file'
        raise ValueError(msg)
    try:
        hdulist = fits.open(path, memmap=False, lazy_load_hdus=False)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', fits.verify.VerifyWarning)
            hdulist.verify('silentfix')
        len(hdulist)  # forces every header to be parsed now, inside the try
    except (OSError, TypeError, ValueError, EOFError) as exc:
        msg = f'{path} is not a readable FITS file ({exc})'
        raise ValueError(msg) from None
    return hdulist


def _squeezed(array, *, source):
    array = np.asarray(array)
    while array.ndim > 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim > 3:
        msg = (f'{source} holds a {array.ndim}-D image of shape {array.shape}; astrolens reads '
               '2-D images and 3-D (bands, y, x) cubes: cut it first')
        raise ValueError(msg)
    return array


def _merged_header(hdulist, index):
    """The image header, with the primary header's cards under it (HST keeps EXPTIME there)."""
    header = hdulist[index].header
    if index == 0:
        return header
    merged = non_wcs_header(hdulist[0].header)
    for card in non_wcs_header(header).cards:
        if card.keyword in ('COMMENT', 'HISTORY', ''):
            merged.append(card)
        else:
            merged[card.keyword] = (card.value, card.comment)
    return merged


def read_hdulist(hdulist, *, hdu=None, bad_bits=None, max_pixels=DEFAULT_MAX_PIXELS,
                 source='the HDUList', option='max_pixels=', path=None):
    """Read one image of an open `~astropy.io.fits.HDUList` with its mask and uncertainty.

    See `read_fits` for the layouts and the parameters; ``option`` names the
    size limit in messages (``'--max-pixels '`` on the command line).
    """
    layout = find_layout(hdulist, hdu, source=source)
    read = lambda i: checked_data(hdulist, i, max_pixels=max_pixels, source=source,  # noqa: E731
                                  option=option)
    science = hdulist[layout.science]
    array = as_image_array(_squeezed(read(layout.science), source=source), name=source)
    shape = array.shape
    bad = np.zeros(shape, dtype=bool)
    companions = []

    def companion(index):
        data = _squeezed(read(index), source=source)
        companions.append(hdulist[index].name)
        return data

    uncertainty = None
    if layout.uncertainty is not None:
        values = as_image_array(companion(layout.uncertainty),
                                name=f'{source}[{hdulist[layout.uncertainty].name}]')
        kind = layout.uncertainty_kind
        if kind == 'uncert':
            kind = str(hdulist[layout.uncertainty].header.get('UTYPE', 'std')).lower()
            kind = kind if kind in _UNCERTAINTY_TYPES else 'std'
        if kind == 'ivar':
            bad |= ~(values > 0)  # WHT == 0: no data there
        else:
            bad |= ~np.isfinite(values) | (values < 0)
        uncertainty = _UNCERTAINTY_TYPES[kind](np.where(np.isfinite(values), values, 0.0)
                                               .astype(values.dtype))
    used_bits = False
    if layout.mask is not None:
        mask_hdu = hdulist[layout.mask]
        bits = companion(layout.mask)
        name = f'{source}[{mask_hdu.name}]'
        if layout.mask_kind == 'dq':
            bad |= bad_pixels_from_bitmask(bits, HST_DQ_FLAGS, bad_bits=bad_bits, source=name)
            used_bits = True
        elif layout.mask_kind == 'lsst':
            planes = lsst_planes(mask_hdu.header, source=name)
            bad |= bad_pixels_from_bitmask(bits, planes, bad_bits=bad_bits, source=name)
            used_bits = True
        else:
            bad |= np.asarray(bits) != 0
    if bad_bits is not None and not used_bits:
        warnings.warn(f'{source} has no bit-plane mask (HSC/LSST MASK or HST DQ); bad_bits '
                      'is ignored', AstrolensUserWarning, stacklevel=3)
    psf = None
    if layout.psf is not None:
        psf = as_image_array(companion(layout.psf), name=f'{source}[PSF]')
    header = _merged_header(hdulist, layout.science)
    meta = {**astrolens_cards(science.header), 'header': non_wcs_header(header),
            'layout': layout.name}
    if path is not None:
        meta['path'] = str(path)
    return _build(array, wcs=science.header, unit=None, header_unit=science.header.get('BUNIT'),
                  mask=bad if bad.any() else None, meta=meta, source=source,
                  uncertainty=uncertainty, psf=psf)


def read_fits(path, *, hdu=None, bad_bits=None, max_pixels=DEFAULT_MAX_PIXELS):
    """Read a FITS image into `~astropy.nddata.NDData`, with its mask and uncertainty.

    Survey layouts are recognised from the extension names (a prefix such as
    ``F606W_SCI``/``F606W_WHT`` is allowed), so ``hdu`` is needed only when a
    file holds several images:

    =========================  ============================  ==========================
    layout                     mask                          uncertainty
    =========================  ============================  ==========================
    HST drizzled SCI/WHT/CTX   ``WHT == 0``                  ``WHT`` (inverse variance)
    HST calibrated SCI/ERR/DQ  ``DQ`` flags in ``bad_bits``  ``ERR`` (std. deviation)
    HSC/LSST IMAGE/MASK/VAR.   ``MASK`` planes in bad_bits   ``VARIANCE``
    astrolens image/MASK/...   ``MASK != 0``                 ``UNCERT`` (``UTYPE``)
    =========================  ============================  ==========================

    Non-finite pixels, and pixels whose uncertainty is not finite, are masked
    as well. ``CTX`` and other context extensions are left alone.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        Also ``.fits.gz`` and tile-compressed ``.fits.fz``.
    hdu : int, str or (str, int), optional
        The image HDU: an index, a name or ``(NAME, VER)``; ``'NAME,VER'``
        also works. Its companions are found by name.
    bad_bits : int, str or sequence of str, optional
        Mask planes (HSC/LSST names from the ``MP_*`` cards, or HST DQ names
        of `astrolens.io.HST_DQ_FLAGS`) that make a pixel bad, as names
        (``'BAD,SAT,CR'``) or an integer mask. Default
        `astrolens.io.DEFAULT_BAD_PLANES`: BAD, SAT, CR, NO_DATA, SUSPECT,
        UNMASKEDNAN and the HST flags that mean a wrong value; never
        ``DETECTED`` (a source) or other informational planes.
    max_pixels : int or None, optional
        Refuse, before reading, any image whose header declares more pixels
        (``NAXISn``, or ``ZNAXISn`` for compressed images); default
        `astrolens.utils.DEFAULT_MAX_PIXELS`, None for no limit.

    Returns
    -------
    nddata : `~astropy.nddata.NDData`
        Data (scaled by ``BZERO``/``BSCALE``, native byte order, integers as
        float32), WCS (2-D, or 3-D for a ``(bands, y, x)`` cube), unit from
        ``BUNIT``, mask, uncertainty and PSF. ``meta['header']`` holds the
        non-WCS header cards (with the primary header's beneath an
        extension's), ``meta['path']`` the file name and ``meta['layout']``
        the layout recognised.

    Raises
    ------
    astrolens.utils.AmbiguousHDUError
        Several images and no ``hdu`` (the message lists them).
    astrolens.utils.ImageTooLargeError
        An image larger than ``max_pixels``.
    """
    source = str(path)
    with _open(path) as hdulist:
        return read_hdulist(hdulist, hdu=hdu, bad_bits=bad_bits, max_pixels=max_pixels,
                            source=source, path=path)


def _uncertainty_code(uncertainty):
    for code, kind in _UNCERTAINTY_TYPES.items():
        if isinstance(uncertainty, kind):
            return code
    msg = f'cannot write an uncertainty of type {type(uncertainty).__name__} to FITS'
    raise TypeError(msg)


def _scalar_meta_cards(meta):
    cards = []
    for key, value in meta.items():
        if key in _NOT_WRITTEN or not isinstance(key, str):
            continue
        if isinstance(value, (bool, int, float, str, np.integer, np.floating)):
            value = value.item() if isinstance(value, np.generic) else value
            if isinstance(value, float) and not np.isfinite(value):
                continue
            if isinstance(value, str) and len(value) > 60:
                continue
            if key in SR_PSF_CARDS:
                # the PSF cards an astronomer reads: short names, with their units
                keyword, comment = SR_PSF_CARDS[key]
                cards.append((keyword, (value, comment)))
            else:
                cards.append((f'HIERARCH ASTROLENS {key.upper()}', value))
    return cards


def _unit_card(unit):
    try:
        return unit.to_string(format='fits')
    except ValueError:
        return str(unit)


def _wcs_cards(wcs):
    if wcs is None:
        return fits.Header()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return wcs.to_header(relax=True)


def write_fits(nddata, path, *, overwrite=False):
    """Write `~astropy.nddata.NDData` to a FITS file atomically.

    The image (2-D, or a 3-D cube) goes in the primary HDU with its WCS and
    ``BUNIT``; the mask, uncertainty and PSF, when present, go in extensions
    named ``MASK`` (0/1), ``UNCERT`` (with ``UTYPE`` = ``std``, ``var`` or
    ``ivar``, and the WCS and the matching ``BUNIT``) and ``PSF`` (with
    ``FWHMPIX``, its FWHM in its own pixels). Non-WCS cards in
    ``meta['header']`` and scalar ``meta`` entries (as ``HIERARCH ASTROLENS``
    cards, or the short PSF cards of `astrolens.io.SR_PSF_CARDS` such as
    ``SRPSFSRC`` and ``SRPSFOUT``) are kept; WCS cards are written only from
    ``nddata.wcs``, so no stale ones survive. The file is written beside
    ``path`` under a temporary name and then renamed (a killed process never
    leaves half a file); it gets the usual permissions (``0o666`` less the
    umask).

    Parameters
    ----------
    nddata : `~astropy.nddata.NDData` or anything `~astrolens.io.to_nddata` accepts
    path : str or `~pathlib.Path`
    overwrite : bool, optional
        Replace an existing file. Default: raise `FileExistsError`.

    Returns
    -------
    path : `~pathlib.Path`
    """
    from astrolens.io._parse import to_nddata

    check_writable(path, overwrite=overwrite)
    nd = nddata if isinstance(nddata, NDData) else to_nddata(nddata)
    header = fits.Header()
    extra = (nd.meta or {}).get('header')
    if isinstance(extra, fits.Header):
        header.extend(non_wcs_header(extra), update=True)
    for key, value in _scalar_meta_cards(nd.meta or {}):
        header[key] = value
    wcs_cards = _wcs_cards(nd.wcs)
    header.extend(wcs_cards, update=True)
    if nd.unit is not None:
        header['BUNIT'] = _unit_card(nd.unit)
    hdus = [fits.PrimaryHDU(np.asarray(nd.data), header=header)]
    if nd.mask is not None and np.any(nd.mask):
        mhdu = fits.ImageHDU(np.asarray(nd.mask, dtype=np.uint8), header=wcs_cards.copy(),
                             name='MASK')
        mhdu.header['COMMENT'] = '1 = bad pixel (masked), 0 = good'
        hdus.append(mhdu)
    if nd.uncertainty is not None:
        code = _uncertainty_code(nd.uncertainty)
        uhdu = fits.ImageHDU(np.asarray(nd.uncertainty.array), header=wcs_cards.copy(),
                             name='UNCERT')
        uhdu.header['UTYPE'] = (code, 'std, var (variance) or ivar (1/variance)')
        if nd.unit is not None:
            power = {'std': 1, 'var': 2, 'ivar': -2}[code]
            uhdu.header['BUNIT'] = _unit_card(nd.unit ** power if power != 1 else nd.unit)
        hdus.append(uhdu)
    psf = getattr(nd, 'psf', None)
    if psf is not None:
        from astrolens.utils import psf_fwhm

        phdu = fits.ImageHDU(np.asarray(psf), name='PSF')
        if phdu.data.ndim == 2 and np.all(np.isfinite(phdu.data)):
            phdu.header['FWHMPIX'] = (round(psf_fwhm(phdu.data), 4),
                                      '[pixel] FWHM of this PSF image')
        hdus.append(phdu)
    with atomic_path(path, overwrite=overwrite) as tmp:
        fits.HDUList(hdus).writeto(tmp, overwrite=True, output_verify='silentfix')
    return Path(path)

