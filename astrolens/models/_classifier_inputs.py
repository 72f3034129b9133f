# Licensed under a 3-clause BSD style license - see LICENSE
"""Input preparation of `LensClassifier`: any accepted input -> network input.

`_as_images` parses what the estimator accepts (arrays, lists, NDData, HDUs,
FITS or ``.npy`` paths, DeepLense folders) into an ``(N, H, W)`` batch,
putting images with a celestial WCS on the model's pixel grid
(`astrolens.models._resample.resample_to_model`); `prepare_images` crops,
scales and stretches that batch into what the network sees.
"""

from pathlib import Path

import numpy as np

from astrolens.io import (
    as_image_array,
    load_deeplense_classification,
    read_deeplense_npy,
    to_nddata,
)
from astrolens.models._resample import resample_to_model

__all__ = ['STRETCHES', 'prepare_images']

#: Intensity stretches available after the per-image min-max scaling.
STRETCHES = ('sqrt', 'asinh', 'linear')


def prepare_images(images, *, crop=84, stretch='sqrt'):
    """Turn images into network inputs, independently of their intensity units.

    Each image is centre-cropped, scaled to [0, 1] by its own minimum and
    maximum, stretched, and standardised to zero mean and unit variance.
    The min-max step makes the result invariant to any positive affine
    rescaling of the input, so raw counts (DeepLenseSim) and DeepLense's
    min-max normalised files give the same network input.

    Parameters
    ----------
    images : `~numpy.ndarray`
        ``(N, H, W)`` batch (or one ``(H, W)`` image).
    crop : int or None, optional
        Side of the central crop; images no larger than it are kept whole,
        and None (or 0) keeps every image whole.
    stretch : {'sqrt', 'asinh', 'linear'}, optional
        ``'sqrt'`` approximately equalises Poisson noise on counts,
        ``'asinh'`` is ``asinh(x / 0.02)``.

    Returns
    -------
    prepared : `~numpy.ndarray`
        ``(N, h, w)`` float32.
    """
    if stretch not in STRETCHES:
        msg = f'stretch must be one of {STRETCHES}, got {stretch!r}'
        raise ValueError(msg)
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 2:
        x = x[None]
    if crop:
        crop = int(crop)
        h, w = x.shape[-2:]
        top, left = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
        x = x[:, top:top + min(h, crop), left:left + min(w, crop)]
    x = np.array(x, dtype=np.float32, copy=True)
    bad = ~np.isfinite(x)
    if bad.any():
        fill = np.nanmin(np.where(bad, np.nan, x), axis=(1, 2), keepdims=True)
        x = np.where(bad, np.nan_to_num(fill, nan=0.0), x)
    lo = x.min(axis=(1, 2), keepdims=True)
    span = x.max(axis=(1, 2), keepdims=True) - lo
    x = (x - lo) / np.where(span > 0, span, 1.0)
    if stretch == 'sqrt':
        x = np.sqrt(x)
    elif stretch == 'asinh':
        x = np.arcsinh(x / 0.02)
    mean = x.mean(axis=(1, 2), keepdims=True)
    std = x.std(axis=(1, 2), keepdims=True)
    return ((x - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)


def _on_model_grid(nddata, target, source):
    """The data of ``nddata``, resampled to ``target`` when it has a celestial WCS."""
    data = nddata.data
    wcs = getattr(nddata, 'wcs', None)
    if target is None or wcs is None or not getattr(wcs, 'has_celestial', False) or \
            np.ndim(data) not in (2, 3):
        return data
    mask = getattr(nddata, 'mask', None)
    if mask is not None and np.any(mask):
        data = np.where(np.asarray(mask, dtype=bool), np.nan, data)
    if np.ndim(data) == 3:
        # a cube (band, y, x): every plane on the model's grid through the celestial axes
        return np.stack([resample_to_model(plane, wcs, pixel_scale=target[0], shape=target[1],
                                           source=f'{source}, plane {k}')
                         for k, plane in enumerate(data)])
    return resample_to_model(data, wcs, pixel_scale=target[0], shape=target[1], source=source)


def _single_image(item, target=None):
    if isinstance(item, (str, Path)) and Path(item).suffix == '.npy':
        return read_deeplense_npy(item)[0]
    data = _on_model_grid(to_nddata(item), target, str(item) if isinstance(item, (str, Path))
                          else 'image')
    return as_image_array(data, name='image', allow_batch=False)


def _as_images(X, target=None):
    """Parse any accepted input into an ``(N, H, W)`` array (and labels for a folder).

    ``target`` is ``(pixel scale, (ny, nx))``: inputs with a celestial WCS
    are resampled onto that grid (arrays without a WCS are taken as they are).
    """
    if isinstance(X, (str, Path)) and Path(X).is_dir():
        images, labels, classes = load_deeplense_classification(X)
        return images, [classes[i] for i in labels]
    if isinstance(X, np.ndarray):
        array = as_image_array(X, name='X')
        return (array[None] if array.ndim == 2 else array), None
    if isinstance(X, list):
        if not X:
            msg = 'X is an empty list'
            raise ValueError(msg)
        arrays = [_single_image(item, target) for item in X]
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            msg = f'all images must have the same shape, got {sorted(shapes)}'
            raise ValueError(msg)
        return np.stack(arrays), None
    if isinstance(X, (str, Path)) and Path(X).suffix == '.npy':
        return read_deeplense_npy(X)[0][None], None
    data = _on_model_grid(to_nddata(X), target, str(X) if isinstance(X, (str, Path)) else 'X')
    array = as_image_array(data, name='X')
    return (array[None] if array.ndim == 2 else array), None
