# Licensed under a 3-clause BSD style license - see LICENSE
"""Celestial WCS helpers: simulated-image WCS, pixel scales and integer rescaling."""

import numpy as np
from astropy import units as u
from astropy.wcs import WCS, Sip
from astropy.wcs.utils import proj_plane_pixel_scales

__all__ = ['make_wcs', 'pixel_scale', 'scale_wcs']


def _arcsec(value, name):
    if isinstance(value, u.Quantity):
        value = value.to_value(u.arcsec)
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        msg = f'{name} must be a positive number of arcseconds, got {value!r}'
        raise ValueError(msg)
    return value


def make_wcs(shape, pixel_scale, *, ra=150.0, dec=2.0, rotation=0.0):
    """Build a gnomonic (TAN) celestial WCS for an image of ``shape``.

    The reference pixel is the image centre (FITS ``CRPIX = (n + 1) / 2``),
    north is up and east left when ``rotation`` is zero.

    Parameters
    ----------
    shape : tuple of int
        ``(ny, nx)`` of the image.
    pixel_scale : float or `~astropy.units.Quantity`
        Arcseconds per pixel (a plain number is taken as arcsec).
    ra, dec : float, optional
        Sky position of the image centre in degrees. The default is in the
        COSMOS field.
    rotation : float or `~astropy.units.Quantity`, optional
        Position angle of the image's +y axis, east of north, in degrees.

    Returns
    -------
    wcs : `~astropy.wcs.WCS`
    """
    if len(shape) != 2 or min(shape) < 1:
        msg = f'shape must be (ny, nx) with positive sizes, got {shape!r}'
        raise ValueError(msg)
    scale_deg = _arcsec(pixel_scale, 'pixel_scale') / 3600.0
    if isinstance(rotation, u.Quantity):
        rotation = rotation.to_value(u.deg)
    theta = np.deg2rad(float(rotation))
    cos, sin = np.cos(theta), np.sin(theta)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.cunit = ['deg', 'deg']
    wcs.wcs.crval = [float(ra), float(dec)]
    wcs.wcs.crpix = [(shape[1] + 1) / 2.0, (shape[0] + 1) / 2.0]
    wcs.wcs.cd = scale_deg * np.array([[-cos, sin], [sin, cos]])
    wcs.wcs.radesys = 'ICRS'
    wcs.pixel_shape = (shape[1], shape[0])
    wcs.wcs.set()
    return wcs


def pixel_scale(wcs):
    """Mean pixel scale of a celestial WCS in arcseconds per pixel.

    Parameters
    ----------
    wcs : `~astropy.wcs.WCS`

    Returns
    -------
    scale : float
    """
    if wcs is None or not wcs.has_celestial:
        msg = 'a celestial WCS is needed to know the pixel scale'
        raise ValueError(msg)
    scales = proj_plane_pixel_scales(wcs.celestial) * 3600.0
    return float(np.sqrt(scales[0] * scales[1]))


def _scale_sip(sip, factor, crpix):
    def rescale(coeffs):
        if coeffs is None:
            return None
        order = coeffs.shape[0]
        p, q = np.indices((order, order))
        return coeffs * float(factor) ** (1 - p - q)

    return Sip(rescale(sip.a), rescale(sip.b), rescale(sip.ap), rescale(sip.bp), crpix)


def scale_wcs(wcs, factor):
    """WCS of the same sky footprint sampled by ``factor`` times more pixels.

    Pixel ``(i, j)`` of the new grid (0-based) is the centre of sub-pixel
    ``(i, j)`` when each old pixel is split into ``factor x factor``. With
    1-based FITS conventions ``CRPIX' = factor * (CRPIX - 0.5) + 0.5`` and
    ``CD' = CD / factor`` (or ``CDELT' = CDELT / factor`` with ``PC``
    unchanged). SIP polynomials are rescaled to the new pixel units.

    Parameters
    ----------
    wcs : `~astropy.wcs.WCS`
        A 2-D celestial WCS.
    factor : int
        Integer upscaling factor (``>= 1``).

    Returns
    -------
    scaled : `~astropy.wcs.WCS`
        A new object; ``wcs`` is not modified.

    Raises
    ------
    ValueError
        If ``factor`` is not a positive integer, the WCS is not 2-D, or it
        carries lookup-table distortions that cannot be rescaled.
    """
    if isinstance(factor, bool) or not float(factor).is_integer() or factor < 1:
        msg = f'factor must be a positive integer, got {factor!r}'
        raise ValueError(msg)
    factor = int(factor)
    if not isinstance(wcs, WCS) or wcs.naxis != 2:
        msg = 'scale_wcs needs a 2-D astropy.wcs.WCS'
        raise ValueError(msg)
    if wcs.cpdis1 is not None or wcs.cpdis2 is not None or wcs.det2im1 is not None \
            or wcs.det2im2 is not None:
        msg = ('scale_wcs cannot rescale lookup-table distortions (CPDIS/DET2IM); '
               'resample the image onto an undistorted WCS first')
        raise ValueError(msg)
    scaled = wcs.deepcopy()
    crpix = factor * (np.asarray(wcs.wcs.crpix, dtype=float) - 0.5) + 0.5
    scaled.wcs.crpix = crpix
    if wcs.wcs.has_cd():
        scaled.wcs.cd = np.asarray(wcs.wcs.cd) / factor
    else:
        scaled.wcs.cdelt = np.asarray(wcs.wcs.cdelt) / factor
    if wcs.sip is not None:
        scaled.sip = _scale_sip(wcs.sip, factor, crpix)
    if wcs.pixel_shape is not None:
        scaled.pixel_shape = tuple(factor * n for n in wcs.pixel_shape)
    scaled.wcs.set()
    return scaled
