# Licensed under a 3-clause BSD style license - see LICENSE
"""Survey file layouts: which HDU is the image and which hold its mask and errors.

Known layouts, recognised from the extension names without ``hdu=``:

- HST drizzled: ``SCI`` + ``WHT`` (inverse variance; 0 = no data) + ``CTX``;
- HST calibrated: ``SCI`` + ``ERR`` (standard deviation) + ``DQ`` (flags);
- HSC/LSST calexp: ``IMAGE`` + ``MASK`` (bit planes named by ``MP_*``) +
  ``VARIANCE``;
- astrolens: image + ``MASK`` (0/1) + ``UNCERT`` (``UTYPE`` std/var/ivar) +
  ``PSF``.

Names may carry a prefix (``F606W_SCI`` with ``F606W_WHT``); companions are
matched by prefix and ``EXTVER``.
"""

import re
import warnings
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from astrolens.utils import AmbiguousHDUError, AstrolensUserWarning, check_declared_size
from astrolens.utils._limits import DEFAULT_MAX_PIXELS

__all__ = ['Layout', 'find_layout', 'parse_hdu']

_SCIENCE = {'SCI', 'IMAGE', 'PRIMARY', ''}
_ROLES = {'WHT': 'ivar', 'WEIGHT': 'ivar', 'IVM': 'ivar', 'INVVAR': 'ivar',
          'ERR': 'std', 'RMS': 'std', 'SIGMA': 'std', 'ERROR': 'std', 'STD': 'std',
          'VARIANCE': 'var', 'VAR': 'var', 'UNCERT': 'uncert',
          'DQ': 'dq', 'MASK': 'mask', 'PSF': 'psf'}
# extensions that go with an image but are not one to enhance
_AUXILIARY = {'CTX', 'CON', 'EXP', 'EXPTIME', 'HDRTAB', 'SAMP', 'TIME', 'WCSCORR', 'D2IMARR',
              'WCSDVARR', 'SCI_SKY', 'BKG', 'BACKGROUND', 'FLAGS', 'SEG', 'SEGM'}


@dataclass
class Layout:
    """Where the parts of one image are in an HDUList (indices), and what they are."""

    name: str
    science: int
    mask: int = None
    mask_kind: str = None        # 'bool', 'lsst', 'dq'
    uncertainty: int = None
    uncertainty_kind: str = None  # 'std', 'var', 'ivar', 'uncert'
    weight_mask: int = None      # WHT: 0 means no data
    psf: int = None


def parse_hdu(value):
    """An ``hdu`` selector from text: an index, a name or ``NAME,VER`` (as astropy takes).

    Parameters
    ----------
    value : int, str, tuple or None

    Returns
    -------
    hdu : int, str, tuple or None
        ``'1'`` -> ``1``, ``'SCI'`` -> ``'SCI'``, ``'SCI,2'`` -> ``('SCI', 2)``.
    """
    if value is None or isinstance(value, (int, tuple)):
        return value
    if isinstance(value, np.integer):
        return int(value)
    text = str(value).strip()
    if re.fullmatch(r'[+-]?\d+', text):
        return int(text)
    match = re.fullmatch(r'\s*([^,]+?)\s*,\s*(\d+)\s*', text)
    if match:
        return (match.group(1), int(match.group(2)))
    return text


def _split(name):
    """``'F606W_SCI'`` -> (``'F606W_'``, ``'SCI'``)."""
    name = (name or '').upper()
    for role in list(_ROLES) + sorted(_SCIENCE - {''}) + sorted(_AUXILIARY):
        if name == role:
            return '', role
        if name.endswith('_' + role):
            return name[:-len(role)], role
    return '', name


def _declared_shape(hdu):
    # a tile-compressed image declares its size in ZNAXISn of the table that stores it
    bintable = getattr(hdu, '_bintable', None) if isinstance(hdu, fits.CompImageHDU) else None
    header = bintable.header if bintable is not None else hdu.header
    if 'ZNAXIS' in header:
        naxis = int(header['ZNAXIS'])
        return tuple(int(header.get(f'ZNAXIS{i}', 0)) for i in range(naxis, 0, -1)), \
            abs(int(header.get('ZBITPIX', 32))) // 8
    naxis = int(hdu.header.get('NAXIS', 0))
    shape = tuple(int(hdu.header.get(f'NAXIS{i}', 0)) for i in range(naxis, 0, -1))
    return shape, abs(int(hdu.header.get('BITPIX', 32))) // 8


def _is_image(hdu):
    shape, _ = _declared_shape(hdu)
    return bool(hdu.is_image) and len(shape) >= 2 and min(shape) > 0


def checked_data(hdulist, index, *, max_pixels=DEFAULT_MAX_PIXELS, source, option='max_pixels='):
    """The data of HDU ``index`` after checking its declared size."""
    hdu = hdulist[index]
    shape, itemsize = _declared_shape(hdu)
    name = hdu.name or str(index)
    check_declared_size(shape, itemsize=itemsize, max_pixels=max_pixels,
                        source=f'{source}[{name}]', option=option)
    return hdu.data


def _label(i, hdu):
    ver = hdu.ver if hdu.ver and hdu.ver != 1 else None
    return f'{i}:{hdu.name}' + (f',{ver}' if ver else '')


def _choose(hdulist, hdu, *, source):
    if hdu is not None:
        hdu = parse_hdu(hdu)
        try:
            if isinstance(hdu, int):
                if not -len(hdulist) <= hdu < len(hdulist):
                    raise IndexError(hdu)
                index = hdu % len(hdulist)
            else:
                index = hdulist.index_of(hdu)
        except (KeyError, IndexError):
            choices = [_label(i, h) for i, h in enumerate(hdulist) if _is_image(h)]
            raise AmbiguousHDUError(source, choices, f'{source} has no HDU {hdu!r}') from None
        if not _is_image(hdulist[index]):
            choices = [_label(i, h) for i, h in enumerate(hdulist) if _is_image(h)]
            raise AmbiguousHDUError(source, choices, f'HDU {hdu!r} of {source} holds no image')
        return index
    images = [i for i, h in enumerate(hdulist) if _is_image(h)]
    if not images:
        msg = f'{source} has no image HDU'
        raise ValueError(msg)
    candidates = [i for i in images
                  if _split(hdulist[i].name)[1] not in _ROLES
                  and _split(hdulist[i].name)[1] not in _AUXILIARY]
    if len(candidates) != 1:
        labels = [_label(i, hdulist[i]) for i in (candidates or images)]
        raise AmbiguousHDUError(source, labels, f'{source} has several image HDUs')
    return candidates[0]


def find_layout(hdulist, hdu=None, *, source='the HDUList'):
    """The `Layout` of the image chosen by ``hdu`` (or the only image) in ``hdulist``.

    Raises
    ------
    AmbiguousHDUError
        When ``hdu`` is missing or names no image, or when several images
        could be meant (the message lists them).
    ValueError
        When the file holds no image.
    """
    science = _choose(hdulist, hdu, source=source)
    sci = hdulist[science]
    prefix, _ = _split(sci.name)
    ver = sci.ver or 1
    sci_shape, _ = _declared_shape(sci)
    parts = {}
    for i, h in enumerate(hdulist):
        if i == science or not _is_image(h):
            continue
        p, role = _split(h.name)
        if p != prefix or role not in _ROLES or (h.ver or 1) != ver:
            continue
        shape, _ = _declared_shape(h)
        if _ROLES[role] != 'psf' and shape != sci_shape:
            warnings.warn(f'{source}: extension {h.name} has shape {shape}, not the image\'s '
                          f'{sci_shape}; it is ignored', AstrolensUserWarning, stacklevel=3)
            continue
        parts.setdefault(_ROLES[role], i)
    names = {_split(h.name)[1] for h in hdulist}
    layout = Layout(name='image', science=science, psf=parts.get('psf'))
    if 'ivar' in parts:
        layout.name = 'hst-drizzle' if _split(sci.name)[1] == 'SCI' else 'weighted'
        layout.uncertainty, layout.uncertainty_kind = parts['ivar'], 'ivar'
        layout.weight_mask = parts['ivar']
    for kind in ('var', 'std', 'uncert'):
        if kind in parts and layout.uncertainty is None:
            layout.uncertainty, layout.uncertainty_kind = parts[kind], kind
    if 'dq' in parts:
        layout.mask, layout.mask_kind = parts['dq'], 'dq'
        layout.name = 'hst-calibrated'
    elif 'mask' in parts:
        mask_header = hdulist[parts['mask']].header
        lsst = any(str(k).startswith('MP_') for k in mask_header) or \
            {'IMAGE', 'VARIANCE'} <= names
        layout.mask, layout.mask_kind = parts['mask'], 'lsst' if lsst else 'bool'
    if layout.mask_kind == 'lsst':
        layout.name = 'calexp'
    elif layout.name == 'image' and ('uncert' in parts or layout.mask_kind == 'bool'
                                     or layout.psf is not None):
        layout.name = 'astrolens'
    elif layout.name == 'image' and layout.uncertainty is not None:
        layout.name = 'with-uncertainty'
    return layout
