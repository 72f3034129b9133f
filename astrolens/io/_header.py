# Licensed under a 3-clause BSD style license - see LICENSE
"""FITS header cards: which travel with the data, which are rewritten, which go."""

import re

from astropy.io import fits

from astrolens.wcs_utils import wcs_header_keys

__all__ = ['PIXEL_STATISTICS', 'SR_PSF_CARDS', 'non_wcs_header', 'resampled_header',
           'resampled_meta']

_STRUCTURAL = {'SIMPLE', 'BITPIX', 'NAXIS', 'EXTEND', 'BZERO', 'BSCALE', 'BLANK', 'XTENSION',
               'PCOUNT', 'GCOUNT', 'EXTNAME', 'EXTVER', 'EXTLEVEL', 'BUNIT', 'CHECKSUM',
               'DATASUM', 'CHECKVER', 'INHERIT', 'NEXTEND', 'UTYPE', 'ZIMAGE', 'ZBITPIX',
               'ZCMPTYPE', 'ZQUANTIZ', 'ZDITHER0', 'ZTENSION', 'ZPCOUNT', 'ZGCOUNT',
               'ZEXTEND', 'ZBLANK', 'ZSIMPLE', 'ZHECKSUM', 'ZDATASUM', 'TFIELDS', 'THEAP'}
_STRUCTURAL_PATTERN = re.compile(r'^(NAXIS\d+|ZNAXIS\d*|ZTILE\d+|ZNAME\d+|ZVAL\d+|TTYPE\d+'
                                 r'|TFORM\d+|TUNIT\d+|TDIM\d+|MP_\w+)$')

#: Cards that summarise pixel values and no longer hold once pixels change.
PIXEL_STATISTICS = frozenset({
    'DATAMIN', 'DATAMAX', 'GOODMIN', 'GOODMAX', 'GOODMEAN', 'SNRMIN', 'SNRMAX', 'SNRMEAN',
    'IRAF-MIN', 'IRAF-MAX', 'IRAF-BPX', 'MINVAL', 'MAXVAL', 'MEANVAL', 'MEDVAL', 'SKYSIGMA',
    'SKYRMS', 'SATURATE', 'SATURATION', 'NGOODPIX', 'NBADPIX', 'NSATPIX', 'DATAMEAN',
    'DATAMED', 'DATARMS', 'LTV1', 'LTV2', 'LTM1_1', 'LTM1_2', 'LTM2_1', 'LTM2_2'})

#: Cards in arcsec per pixel, divided by the upscaling factor.
_PIXEL_SCALE_CARDS = ('PIXSCALE', 'PIXSCAL1', 'PIXSCAL2', 'SECPIX', 'SECPIX1', 'SECPIX2',
                      'PIXELSCL', 'D001SCAL')

_ASTROLENS = 'ASTROLENS '

#: ``meta`` entries of a super-resolved image written as short cards (keyword, comment): the
#: PSFs of the output and of the input it was computed from, and how far ``deconvolve=True``
#: sharpened it (see docs/superres.rst).
SR_PSF_CARDS = {
    'sr_psf_source': ('SRPSFSRC', 'where the input PSF came from'),
    'sr_psf_in': ('SRPSFIN', '[arcsec] FWHM of the input PSF'),
    'sr_psf_in_pix': ('SRPSFINP', '[pixel] FWHM of the input PSF, input pixels'),
    'sr_psf_in_err': ('SRPSFERR', '[arcsec] uncertainty of SRPSFIN (stars)'),
    'sr_psf_in_err_pix': ('SRPSFERP', '[pixel] uncertainty of SRPSFINP (stars)'),
    'sr_psf_nstars': ('SRPSFNST', 'number of stars the input PSF was fitted on'),
    'sr_psf_out': ('SRPSFOUT', '[arcsec] FWHM of the output PSF (PSF extension)'),
    'sr_psf_out_pix': ('SRPSFOUP', '[pixel] FWHM of the output PSF, output pixels'),
    'sr_deconvolve_iterations': ('SRDECIT', 'deconvolution iterations kept'),
    'sr_deconvolve_stop': ('SRDECSTP', 'why deconvolution stopped'),
    'sr_deconvolve_sky_ratio': ('SRDECSKY', "sky rms of the output / bicubic's"),
    'sr_support_nsigma': ('SRSUPSIG', 'output kept where the input is this significant'),
    'sr_support_fraction': ('SRSUPFRC', 'share of input pixels kept (SRSUPSIG)'),
}
_SR_PSF_KEYWORDS = {card: key for key, (card, _) in SR_PSF_CARDS.items()}


def astrolens_cards(header):
    """``meta`` entries from astrolens' own cards (``HIERARCH ASTROLENS KEY``, `SR_PSF_CARDS`)."""
    meta = {}
    for card in header.cards:
        key = card.keyword
        if key.upper().startswith(_ASTROLENS):
            meta[key[len(_ASTROLENS):].lower()] = card.value
        elif key in _SR_PSF_KEYWORDS:
            meta[_SR_PSF_KEYWORDS[key]] = card.value
    return meta


def non_wcs_header(header):
    """The cards of ``header`` that are neither structure, WCS nor astrolens' own.

    Cards astropy cannot parse (non-standard ``ESO-LOG`` lines and the like)
    are left out too.

    WCS cards (those wcslib writes, CD/PC/PV/SIP/distortion cards, IRAF
    ``WAT*``) are left out because the writer writes the WCS afresh from the
    `~astropy.wcs.WCS` object; astrolens' ``HIERARCH ASTROLENS`` cards and the
    PSF cards of `SR_PSF_CARDS` go to ``meta`` instead. Date and equinox cards stay.

    Parameters
    ----------
    header : `~astropy.io.fits.Header`

    Returns
    -------
    kept : `~astropy.io.fits.Header`
    """
    wcs_keys = wcs_header_keys(header)
    kept = fits.Header()
    for card in header.cards:
        key = card.keyword
        if key in _STRUCTURAL or key in wcs_keys or _STRUCTURAL_PATTERN.match(key):
            continue
        if key.upper().startswith(_ASTROLENS) or key in _SR_PSF_KEYWORDS:
            continue
        if getattr(card, '_invalid', False):
            # cards astropy could not parse (e.g. ESO-LOG lines): copying them would make
            # every reader of the output warn
            continue
        kept.append(card)
    return kept


def resampled_header(header, factor):
    """Non-WCS header for an image resampled to ``factor`` x finer pixels.

    Pixel statistics (`PIXEL_STATISTICS`, e.g. ``DATAMIN``, ``GOODMAX``,
    ``SATURATE``, IRAF ``LTV``/``LTM``) are dropped; pixel-scale cards
    (``PIXSCALE``, ``PIXSCAL1``, ``SECPIX``, ...) are divided by ``factor``;
    everything else (``DATE-OBS``, ``EXPTIME``, ``FILTER``, ``PHOTFLAM``,
    ``EQUINOX``, ...) is kept.

    Parameters
    ----------
    header : `~astropy.io.fits.Header` or None
    factor : float
        New pixels per old pixel along each axis (``< 1`` for coarser pixels).

    Returns
    -------
    header : `~astropy.io.fits.Header`
    """
    out = fits.Header()
    if header is None:
        return out
    for card in non_wcs_header(header).cards:
        key = card.keyword
        if key in PIXEL_STATISTICS:
            continue
        if key in _PIXEL_SCALE_CARDS and isinstance(card.value, (int, float)) \
                and not isinstance(card.value, bool):
            out.append((key, float(card.value) / factor, card.comment))
            continue
        out.append(card)
    return out


def resampled_meta(meta, factor, *, role=None, keep_psf=False):
    """``meta`` for an image resampled to ``factor`` x finer pixels.

    ``meta['header']`` goes through `resampled_header`; astrolens' own
    entries are rewritten: ``pixel_scale`` is divided by ``factor``, the
    input's PSF description (``psf_fwhm``) is dropped unless ``keep_psf``, and
    ``role`` is replaced when given.

    Parameters
    ----------
    meta : dict or None
    factor : float
    role : str, optional
        E.g. ``'SR'`` for a super-resolved image.
    keep_psf : bool, optional

    Returns
    -------
    meta : dict
        A new dict.
    """
    out = dict(meta or {})
    if isinstance(out.get('header'), fits.Header):
        out['header'] = resampled_header(out['header'], factor)
    if isinstance(out.get('pixel_scale'), (int, float)) and not isinstance(out['pixel_scale'],
                                                                            bool):
        out['pixel_scale'] = float(out['pixel_scale']) / factor
    if not keep_psf:
        for key in ('psf_fwhm', 'psf'):
            out.pop(key, None)
    if role is not None:
        out['role'] = role
    out.pop('path', None)
    return out
