# Licensed under a 3-clause BSD style license - see LICENSE
"""Celestial WCS helpers: simulated-image WCS, pixel scales, reading WCS from real
headers and integer rescaling.

Everything here works from the state wcslib actually uses (``wcs.wcs.get_pc()``,
``get_cdelt()``, the distortions it parsed), never from the raw header cards: a
header with both ``CDi_j`` and ``PCi_j`` is interpreted as wcslib does (``PC``
wins) and written back in one consistent form (``PC`` + ``CDELT``).
"""

import re
import warnings

import numpy as np
from astropy import units as u
from astropy.wcs import WCS, FITSFixedWarning
from astropy.wcs.utils import proj_plane_pixel_scales

from astrolens.utils.exceptions import AstrolensUserWarning

__all__ = ['celestial_pixel_axes', 'make_wcs', 'pixel_scale', 'scale_wcs', 'wcs_from_header',
           'wcs_header_keys']


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


# Cards that describe distortions astropy cannot carry through a rescaling, or that
# belong to conventions wcslib only reads (IRAF TNX/ZPX in WAT cards): they are never
# copied from an input header to an output one.
_PRIOR_DISTORTION = re.compile(r'^(CPDIS\d|CPERR\d|DP\d|D2IM\w*|D2IMERR\d|NPOLEXT'
                               r'|D2IMEXT|AXISCORR)')
_IRAF_WCS = re.compile(r'^(WAT\d_\d{3}|WAT\d_\d{2}|WCSDIM|LTV\d|LTM\d_\d|WAXMAP\d\d)$')


def _lookup_tables(wcs):
    return [name for name in ('cpdis1', 'cpdis2', 'det2im1', 'det2im2')
            if getattr(wcs, name, None) is not None]


def _drop_lookup_tables(wcs, *, source):
    """Copy of ``wcs`` without astropy's lookup-table distortions (with a warning)."""
    found = _lookup_tables(wcs)
    if not found:
        return wcs
    warnings.warn(f'{source}: lookup-table distortions ({", ".join(found)}) cannot be '
                  'rescaled and were dropped; positions may be off by the size of that '
                  'distortion (typically < 0.1 pixel for HST); resample the image onto '
                  'an undistorted WCS (e.g. with drizzlepac or reproject) to keep them',
                  AstrolensUserWarning, stacklevel=3)
    wcs = wcs.deepcopy()
    wcs.cpdis1 = wcs.cpdis2 = wcs.det2im1 = wcs.det2im2 = None
    return wcs


def wcs_from_header(header, *, source='the header', naxis=None):
    """The WCS wcslib reads from a FITS header, without the cards it cannot keep.

    ``CDi_j`` and ``PCi_j`` both present: wcslib's choice (``PC``) is used, as in
    every FITS reader. IRAF ``TNX``/``ZPX`` (``WAT*`` cards) and ``TPV`` are
    kept when wcslib turns them into its own polynomial distortions (they are
    then exact and rescalable); otherwise they are dropped with a warning.
    Lookup-table distortions (``CPDIS``/``D2IM``, which need the extensions of
    the original file) are dropped with a warning.

    Parameters
    ----------
    header : `~astropy.io.fits.Header`
    source : str, optional
        Name used in warnings.
    naxis : int, optional
        Passed to `~astropy.wcs.WCS` (e.g. 2 to keep only the first two axes).

    Returns
    -------
    wcs : `~astropy.wcs.WCS` or None
        None when the header has no ``CTYPE`` card or wcslib cannot read it
        (with a warning in the second case).
    """
    if not any(str(key).startswith('CTYPE') for key in header):
        return None
    header = header.copy()
    prior = [key for key in header if _PRIOR_DISTORTION.match(str(key))]
    if prior:
        for key in prior:
            header.remove(key, remove_all=True)
        warnings.warn(f'{source}: pixel-level distortion cards ({", ".join(sorted(set(prior))[:4])}'
                      '...) need the lookup tables of the original file and were dropped; '
                      'positions may be off by the size of that distortion',
                      AstrolensUserWarning, stacklevel=2)
    iraf = {str(header.get(key, '')).split('wtype=')[-1].split()[0]
            for key in header if str(key).startswith('WAT') and 'wtype=' in str(header[key])}
    distortions = {'tnx', 'zpx'} & iraf
    names = '/'.join(sorted(d.upper() for d in distortions))
    dropped = f'{source}: the IRAF {names} distortion (WAT cards) '
    consequence = ('positions away from the reference pixel may be off by arcseconds; fit '
                   'a TPV or SIP solution (e.g. with astrometry.net or SCAMP) to keep it')
    try:
        wcs = _wcs_quietly(header, naxis)
    except Exception as exc:  # wcslib refuses some real headers; the pixels are still good
        reason = ' '.join(str(exc).split())
        if not distortions:
            warnings.warn(f'{source}: the WCS could not be read ({reason}); the image is used '
                          'without sky coordinates', AstrolensUserWarning, stacklevel=2)
            return None
        wcs = _wcs_quietly(_without_iraf_distortion(header), naxis)
        warnings.warn(dropped + f'could not be read ({reason}) and was dropped; ' + consequence,
                      AstrolensUserWarning, stacklevel=2)
        return wcs
    if distortions and 'CQDIS1' not in wcs.to_header(relax=True):
        warnings.warn(dropped + 'is not supported by this astropy/wcslib and was dropped; '
                      + consequence, AstrolensUserWarning, stacklevel=2)
    return wcs


def _wcs_quietly(header, naxis):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FITSFixedWarning)
        return WCS(header, naxis=naxis)


def _without_iraf_distortion(header):
    header = header.copy()
    for key in list(header):
        if str(key).startswith('WAT'):
            header.remove(key, remove_all=True)
    for key in ('CTYPE1', 'CTYPE2'):
        value = str(header.get(key, ''))
        header[key] = value.replace('-TNX', '-TAN').replace('-ZPX', '-ZPN')
    return header


def celestial_pixel_axes(wcs):
    """Pixel axes (0-based, FITS order) that map to the celestial axes.

    For a WCS without celestial axes the first two pixel axes are returned
    (an image's spatial axes).

    Parameters
    ----------
    wcs : `~astropy.wcs.WCS`

    Returns
    -------
    axes : tuple of int
    """
    if wcs.has_celestial:
        world = [wcs.wcs.lng, wcs.wcs.lat]
        correlated = np.asarray(wcs.axis_correlation_matrix)[world].any(axis=0)
        return tuple(int(i) for i in np.flatnonzero(correlated))
    return tuple(range(min(2, wcs.pixel_n_dim)))


_KEPT_WITH_DATA = {'DATE-OBS', 'MJD-OBS', 'DATE-BEG', 'DATE-END', 'MJD-BEG', 'MJD-END',
                   'DATE-AVG', 'MJD-AVG', 'EQUINOX', 'TIMESYS', 'DATEREF', 'MJDREF'}
_SIP_KEY = re.compile(r'^(A|B|AP|BP)_(\d+)_(\d+)$')
_MATRIX_KEY = re.compile(r'^(PC|CD)\d+_\d+$')


def scale_wcs(wcs, factor):
    """WCS of the same sky footprint sampled by ``factor`` times more pixels.

    Pixel ``(i, j)`` of the new grid (0-based) is the centre of sub-pixel
    ``(i, j)`` when each old pixel is split into ``factor x factor``. With
    1-based FITS conventions ``CRPIX' = factor * (CRPIX - 0.5) + 0.5`` on the
    celestial pixel axes, and the columns of the matrix wcslib uses
    (``get_pc()``; ``CD`` is folded into it with ``CDELT = 1``) for those axes
    are divided by ``factor``. Everything that acts after that matrix is then
    unchanged and stays exact: ``CDELT``, projection parameters, ``TPV`` and
    the polynomial distortions wcslib makes of IRAF ``TNX``/``ZPX``. SIP
    polynomials act on pixel offsets and are rescaled
    (``A_p_q' = A_p_q * factor**(1 - p - q)``). Lookup-table distortions
    cannot be rescaled: they are dropped with a warning. Further axes of an
    n-D WCS (a cube's band axis) are kept as they are. The result is written
    in one form (``PC`` + ``CDELT``) so no stale ``CD`` card can disagree.

    Parameters
    ----------
    wcs : `~astropy.wcs.WCS`
        A celestial WCS with 2 or more axes.
    factor : int
        Integer upscaling factor (``>= 1``).

    Returns
    -------
    scaled : `~astropy.wcs.WCS`
        A new object; ``wcs`` is not modified.

    Raises
    ------
    ValueError
        If ``factor`` is not a positive integer or ``wcs`` is not an
        `~astropy.wcs.WCS` with at least two axes.
    """
    if isinstance(factor, bool) or not float(factor).is_integer() or factor < 1:
        msg = f'factor must be a positive integer, got {factor!r}'
        raise ValueError(msg)
    factor = int(factor)
    if not isinstance(wcs, WCS) or wcs.naxis < 2:
        msg = 'scale_wcs needs an astropy.wcs.WCS with at least two (celestial) axes'
        raise ValueError(msg)
    wcs = _drop_lookup_tables(wcs, source='scale_wcs')
    axes = celestial_pixel_axes(wcs)
    wcs.wcs.set()
    pc = np.array(wcs.wcs.get_pc(), dtype=float)
    crpix = np.array(wcs.wcs.crpix, dtype=float)
    for j in axes:
        pc[:, j] /= factor
        crpix[j] = factor * (crpix[j] - 0.5) + 0.5
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FITSFixedWarning)
        header = wcs.to_header(relax=True)
    for key in list(header):
        if _MATRIX_KEY.match(key) or _PRIOR_DISTORTION.match(key):
            header.remove(key, remove_all=True)
    n = wcs.naxis
    for j in range(n):
        header[f'CRPIX{j + 1}'] = float(crpix[j])
    for i in range(n):
        for j in range(n):
            header[f'PC{i + 1}_{j + 1}'] = float(pc[i, j])
    for key in list(header):
        match = _SIP_KEY.match(key)
        if match:
            p, q = int(match.group(2)), int(match.group(3))
            header[key] = float(header[key]) * float(factor) ** (1 - p - q)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FITSFixedWarning)
        scaled = WCS(header, naxis=n)
    if wcs.pixel_shape is not None:
        shape = list(wcs.pixel_shape)
        for j in axes:
            shape[j] *= factor
        scaled.pixel_shape = tuple(shape)
    return scaled


def wcs_header_keys(header):
    """Keys of ``header`` that describe its WCS (to leave out of a non-WCS copy).

    The keys wcslib writes for this header, every ``CD``/``PC``/``PV``/``PS``/SIP/
    distortion card, and the IRAF ``WAT*``/``LTV``/``LTM`` cards.

    Parameters
    ----------
    header : `~astropy.io.fits.Header`

    Returns
    -------
    keys : set of str
    """
    keys = set()
    if any(str(key).startswith('CTYPE') for key in header):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                keys |= set(WCS(header).to_header(relax=True).keys())
        except Exception:  # a broken WCS must not stop us from keeping the rest
            pass
    # still true of the data whatever the pixel grid; a WCS writer may repeat them
    keys -= _KEPT_WITH_DATA
    pattern = re.compile(r'^((CD|PC|PV|PS)\d+_\d+[A-Z]?|(A|B|AP|BP)_(ORDER|DMAX|\d+_\d+)'
                         r'|(CTYPE|CRPIX|CRVAL|CDELT|CUNIT|CROTA|CRDER|CSYER|CNAME)\d+[A-Z]?'
                         r'|CQDIS\d|DQ\d|CQERR\d|DVERR|WCSAXES[A-Z]?|WCSNAME[A-Z]?|LONPOLE'
                         r'|LATPOLE|RADESYS|RADECSYS|EPOCH|RESTFRQ|RESTWAV'
                         r'|SPECSYS|VELREF|SSYSOBS|SSYSSRC)$')
    for key in header:
        key = str(key)
        if pattern.match(key) or _PRIOR_DISTORTION.match(key) or _IRAF_WCS.match(key):
            keys.add(key)
    return keys
