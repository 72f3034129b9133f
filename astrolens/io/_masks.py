# Licensed under a 3-clause BSD style license - see LICENSE
"""Bit-plane masks of survey pipelines, read by the meaning of their planes.

HSC/LSST (``MASK`` extension) name their planes in ``MP_<NAME> = bit`` cards;
HST calibrated files flag pixels in a ``DQ`` extension with fixed bit values.
Only planes that say a pixel's value is wrong make it bad; planes that only
inform (``DETECTED``: part of a source; ``EDGE``, ``INTRP``, ...) never do.
"""

import warnings

import numpy as np

from astrolens.utils import AstrolensUserWarning

__all__ = ['DEFAULT_BAD_PLANES', 'HST_DQ_FLAGS', 'INFORMATIONAL_PLANES', 'LSST_DEFAULT_PLANES',
           'bad_pixels_from_bitmask', 'mask_planes']

#: Planes treated as bad by default (HSC/LSST names and HST DQ names).
DEFAULT_BAD_PLANES = ('BAD', 'SAT', 'CR', 'NO_DATA', 'SUSPECT', 'UNMASKEDNAN',
                      'REED_SOLOMON', 'FILL', 'BAD_DETECTOR', 'HOT', 'BAD_COLUMN',
                      'SATURATED', 'BAD_REFERENCE', 'ATOD_SATURATED', 'CR_DRIZZLE',
                      'CR_CALIB')

#: Planes that describe pixels without saying their value is wrong: never bad.
INFORMATIONAL_PLANES = ('DETECTED', 'DETECTED_NEGATIVE')

#: The plane numbering of LSST/HSC pipelines, used when a MASK has no MP_* cards.
LSST_DEFAULT_PLANES = {'BAD': 0, 'SAT': 1, 'INTRP': 2, 'CR': 3, 'EDGE': 4, 'DETECTED': 5,
                       'DETECTED_NEGATIVE': 6, 'SUSPECT': 7, 'NO_DATA': 8}

#: HST ACS/WFC3/STIS data-quality flags (``DQ`` extension), by bit value.
HST_DQ_FLAGS = {'REED_SOLOMON': 1, 'FILL': 2, 'BAD_DETECTOR': 4, 'MASKED': 8, 'HOT': 16,
                'CTE_TAIL': 32, 'WARM': 64, 'BAD_COLUMN': 128, 'SATURATED': 256,
                'BAD_REFERENCE': 512, 'TRAP': 1024, 'ATOD_SATURATED': 2048,
                'CR_DRIZZLE': 4096, 'CR_CALIB': 8192, 'GHOST': 16384}


def mask_planes(header):
    """Plane name -> bit number from the ``MP_*`` cards of an HSC/LSST MASK header.

    Parameters
    ----------
    header : `~astropy.io.fits.Header`

    Returns
    -------
    planes : dict
        Empty when the header names no plane.
    """
    planes = {}
    for key in header:
        key = str(key)
        if key.startswith('MP_'):
            planes[key[3:]] = int(header[key])
    return planes


def _parse_bad_bits(bad_bits, planes, *, source):
    """Bit mask (int) of the planes named in ``bad_bits`` (names, numbers or a mask)."""
    if isinstance(bad_bits, str):
        bad_bits = [part.strip() for part in bad_bits.split(',') if part.strip()]
    if isinstance(bad_bits, (int, np.integer)) and not isinstance(bad_bits, bool):
        return int(bad_bits)
    value = 0
    for item in bad_bits:
        if isinstance(item, (int, np.integer)) or str(item).isdigit():
            value |= int(item)
            continue
        name = str(item).upper()
        if name in INFORMATIONAL_PLANES:
            msg = (f'{name} marks pixels of detected sources, not bad pixels; leave it out of '
                   'bad_bits (--bad-bits)')
            raise ValueError(msg)
        if name not in planes:
            msg = (f'{source} has no mask plane {name!r}; its planes are '
                   f'{", ".join(sorted(planes))} (bad_bits= / --bad-bits takes plane names, '
                   'or an integer bit mask)')
            raise ValueError(msg)
        value |= planes[name]
    return value


def bad_pixels_from_bitmask(bits, planes, *, bad_bits=None, source='the mask'):
    """Boolean bad-pixel mask from an integer bit-plane image.

    Parameters
    ----------
    bits : `~numpy.ndarray`
        The integer mask image.
    planes : dict
        Plane name -> bit *value* (``1 << n`` for LSST plane ``n``; the flag
        value for HST DQ).
    bad_bits : int, str or sequence, optional
        Planes that make a pixel bad: names (``['BAD', 'SAT']`` or
        ``'BAD,SAT'``) or an integer mask. Default: the planes of
        `DEFAULT_BAD_PLANES` that exist in ``planes``. ``DETECTED`` and
        ``DETECTED_NEGATIVE`` are refused: they mark sources.
    source : str, optional
        Name used in messages.

    Returns
    -------
    bad : `~numpy.ndarray` of bool
    """
    bits = np.asarray(bits)
    if bits.dtype.kind == 'f':
        if np.any(bits != np.round(bits)):
            msg = f'{source} holds non-integer values; a bit-plane mask must be integers'
            raise ValueError(msg)
        bits = bits.astype(np.int64)
    if bits.dtype.kind not in 'iub':
        msg = f'{source} must hold integers, got dtype {bits.dtype}'
        raise TypeError(msg)
    if bad_bits is None:
        value = 0
        for name in DEFAULT_BAD_PLANES:
            value |= planes.get(name, 0)
    else:
        value = _parse_bad_bits(bad_bits, planes, source=source)
    informational = 0
    for name in INFORMATIONAL_PLANES:
        informational |= planes.get(name, 0)
    if value & informational:
        msg = ('DETECTED / DETECTED_NEGATIVE mark pixels of detected sources, not bad '
               'pixels; leave their bits out of bad_bits (--bad-bits)')
        raise ValueError(msg)
    unknown = np.bitwise_or.reduce(bits.astype(np.int64).ravel() & ~sum(planes.values(), 0)) \
        if bits.size else 0
    if unknown:
        warnings.warn(f'{source} sets bits {int(unknown)} that no plane names; they are '
                      'not treated as bad', AstrolensUserWarning, stacklevel=3)
    return (bits.astype(np.int64) & value) != 0


def lsst_planes(header, *, source):
    """Plane name -> bit value of an HSC/LSST MASK (``MP_*`` cards, else the default)."""
    planes = mask_planes(header)
    if not planes:
        warnings.warn(f'{source}: the MASK extension names no plane (no MP_* cards); the '
                      'LSST default numbering is assumed (BAD=0, SAT=1, INTRP=2, CR=3, '
                      'EDGE=4, DETECTED=5, ...); pass bad_bits= (--bad-bits) if it differs',
                      AstrolensUserWarning, stacklevel=3)
        planes = dict(LSST_DEFAULT_PLANES)
    return {name: 1 << bit for name, bit in planes.items()}
