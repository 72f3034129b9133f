# Licensed under a 3-clause BSD style license - see LICENSE
"""Which PSF the input of `SuperResolver.enhance` has, and where that came from.

`resolve_input_psf` takes the first of, in this order:

==================  ============================================================
``SRPSFSRC``        the input PSF is
==================  ============================================================
``'argument'``      the ``psf=`` argument (an image, a FWHM in input pixels or an
                    angle Quantity), or ``--psf FILE`` / ``--psf-fwhm``
``'stars'``         measured on the image's stars (``psf='stars'``,
                    `astrolens.preprocessing.psf_from_stars`)
``'nddata.psf'``    the ``psf`` of an NDData input
``'psf-hdu'``       the ``PSF`` extension of the input FITS file
``'header:KEY'``    a header card giving the seeing (`HEADER_PSF_KEYWORDS`)
``'prior'``         unknown: the network's own sharpening, trained over the PSFs
                    its configuration records
==================  ============================================================

Stars are measured only when asked: a PSF guessed blindly from a galaxy is not a
measurement.
"""

import re
import warnings
from dataclasses import dataclass

import numpy as np
from astropy import units as u

from astrolens.utils import AstrolensUserWarning, psf_fwhm

__all__ = ['HEADER_PSF_KEYWORDS', 'InputPSF', 'output_psf_image', 'pixel_scale_of',
           'resolve_input_psf']

#: Header cards read for the input's seeing, in this order, with the unit taken when the
#: card's comment names none (``pix``/``px`` or ``arcsec``/``asec``/``"`` in the comment
#: decide). ``FWHM`` is read only when its comment names the unit: surveys write it in
#: either (DECam in pixels).
HEADER_PSF_KEYWORDS = (('PSF_FWHM', 'arcsec'), ('PSFFWHM', 'arcsec'), ('SEEING', 'arcsec'),
                       ('FWHM', None))
_PIXEL_WORDS = re.compile(r'\b(pix|pixel|pixels|px)\b', re.IGNORECASE)
_ARCSEC_WORDS = re.compile(r'(arcsec|asec|")', re.IGNORECASE)


@dataclass(frozen=True)
class InputPSF:
    """The input's PSF as `SuperResolver.enhance` uses it.

    Attributes
    ----------
    psf : float, `~numpy.ndarray` or None
        An image on the input grid or a FWHM in input pixels; None when unknown.
    source : str
        Where it came from (see the module's table).
    fwhm : float or None
        FWHM in input pixels.
    fwhm_error : float or None
        Its uncertainty (input pixels), when measured on stars.
    n_stars : int or None
        Stars it was measured on.
    """

    psf: object
    source: str
    fwhm: float | None = None
    fwhm_error: float | None = None
    n_stars: int | None = None


def pixel_scale_of(nd):
    """Arcseconds per pixel of an NDData: its celestial WCS, else ``meta['pixel_scale']``."""
    wcs = getattr(nd, 'wcs', None)
    if wcs is not None and getattr(wcs, 'has_celestial', False):
        from astropy.wcs.utils import proj_plane_pixel_scales

        scale = float(np.mean(proj_plane_pixel_scales(wcs.celestial)) * 3600.0)
        if np.isfinite(scale) and scale > 0:
            return scale
    value = (nd.meta or {}).get('pixel_scale') if hasattr(nd, 'meta') else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _header_psf(header, pixel_scale):
    """``(keyword, fwhm in pixels)`` from the first usable seeing card, or None."""
    for key, default in HEADER_PSF_KEYWORDS:
        if key not in header:
            continue
        value = header[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not (np.isfinite(value) and value > 0):
            continue
        comment = header.comments[key] or ''
        unit = ('pixel' if _PIXEL_WORDS.search(comment)
                else 'arcsec' if _ARCSEC_WORDS.search(comment) else default)
        if unit == 'pixel' and 0.3 <= value <= 50.0:
            return key, float(value)
        if unit == 'arcsec' and 0.01 <= value <= 20.0 and pixel_scale is not None:
            return key, float(value) / pixel_scale
    return None


def _from_stars(nd, pixel_scale):
    from astrolens.preprocessing import psf_from_stars

    header = (nd.meta or {}).get('header')
    saturation = None
    if header is not None and isinstance(header.get('SATURATE'), (int, float)):
        saturation = float(header['SATURATE'])
    star = psf_from_stars(nd, pixel_scale=pixel_scale, saturation=saturation)
    return InputPSF(star.image(), 'stars', fwhm=star.fwhm, fwhm_error=star.fwhm_error,
                    n_stars=star.n_stars)


def resolve_input_psf(nd, psf, *, check_psf):
    """The input's PSF and its provenance, the first found in the documented order.

    Parameters
    ----------
    nd : `~astropy.nddata.NDData`
        The 2-D input (``meta['header']`` holds its FITS cards, ``meta['layout']``
        is set when it was read from a file).
    psf : None, float, `~numpy.ndarray`, `~astropy.units.Quantity` or ``'stars'``
        The ``psf`` argument of `SuperResolver.enhance`.
    check_psf : callable
        Validates a PSF image or a FWHM in pixels.

    Returns
    -------
    resolved : `InputPSF`

    Warns
    -----
    AstrolensUserWarning
        When ``psf='stars'`` found no usable stars (the message says why); the
        rest of the order is then followed.
    """
    pixel_scale = pixel_scale_of(nd)
    if isinstance(psf, str):
        try:
            return _from_stars(nd, pixel_scale)
        except ValueError as exc:
            warnings.warn(f'no PSF measured on the stars: {exc}; the input PSF is taken from '
                          'what the data carry, else the model\'s prior (SRPSFSRC says which)',
                          AstrolensUserWarning, stacklevel=5)
    elif isinstance(psf, u.Quantity):
        if pixel_scale is None:
            msg = (f'psf={psf} is an angle, but the image has no celestial WCS or '
                   "meta['pixel_scale'] to convert it to pixels: give the FWHM in input pixels")
            raise ValueError(msg)
        fwhm = float(psf.to_value(u.arcsec)) / pixel_scale
        return InputPSF(check_psf(fwhm), 'argument', fwhm=fwhm)
    elif psf is not None:
        return InputPSF(psf, 'argument', fwhm=_fwhm(psf))
    carried = getattr(nd, 'psf', None)
    if carried is not None:
        carried = check_psf(carried, name='the PSF of the input')
        # read_fits is what sets the PSF of a file's NDData (from its PSF extension)
        source = 'psf-hdu' if 'layout' in (nd.meta or {}) else 'nddata.psf'
        return InputPSF(carried, source, fwhm=_fwhm(carried))
    header = (nd.meta or {}).get('header')
    if header is not None and hasattr(header, 'comments'):
        found = _header_psf(header, pixel_scale)
        if found is not None:
            return InputPSF(found[1], f'header:{found[0]}', fwhm=found[1])
    return InputPSF(None, 'prior')


def _fwhm(psf):
    return float(psf) if np.ndim(psf) == 0 else psf_fwhm(psf)


def output_psf_image(fwhm):
    """The output PSF: a circular Gaussian of FWHM ``fwhm`` output pixels, sum 1, odd side.

    The PSF `SuperResolver.enhance` brings its output to (``output_fwhm``) is a
    Gaussian of that FWHM on the output grid.
    """
    # not `astrolens.preprocessing.gaussian_psf`: importing that package imports reproject,
    # and with it dask, which enhance must not need
    sigma = float(fwhm) / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    r = np.arange(2 * int(np.ceil(3.0 * fwhm)) + 1, dtype=np.float64)
    r -= r[-1] / 2
    profile = np.exp(-0.5 * (r / sigma) ** 2)
    image = np.outer(profile, profile)
    return image / image.sum()
