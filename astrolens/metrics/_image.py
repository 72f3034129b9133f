# Licensed under a 3-clause BSD style license - see LICENSE
"""Image-quality metrics for super-resolution: MSE, PSNR, SSIM and flux error.

Convention (as in the DeepLense super-resolution tests, made explicit): MSE,
PSNR and SSIM are computed on images rescaled by the range of the *reference*
image, ``(x - min(ref)) / (max(ref) - min(ref))``, applied identically to the
prediction and the reference, so the reference spans ``[0, 1]`` and
``data_range = 1``. The figures then do not depend on the units of the data.
The flux error is relative: ``(sum(pred) - sum(ref)) / |sum(ref)|``.

Every function takes one image ``(H, W)`` (returns a float) or a batch
``(N, H, W)`` (returns an array of ``N`` values). Non-finite pixels in
either image are left out.
"""

import numpy as np

__all__ = ['flux_error', 'image_metrics', 'mse', 'psnr', 'ssim']


def _pair(pred, ref):
    pred = np.asarray(pred, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if pred.shape != ref.shape:
        msg = f'prediction and reference shapes differ: {pred.shape} vs {ref.shape}'
        raise ValueError(msg)
    if pred.ndim not in (2, 3):
        msg = f'images must be (H, W) or (N, H, W), got shape {pred.shape}'
        raise ValueError(msg)
    return pred, ref


def _per_image(func, pred, ref):
    pred, ref = _pair(pred, ref)
    if pred.ndim == 2:
        return float(func(pred, ref))
    return np.array([func(p, r) for p, r in zip(pred, ref, strict=True)])


def _rescaled(pred, ref):
    good = np.isfinite(pred) & np.isfinite(ref)
    if not good.any():
        msg = 'no pixel is finite in both images'
        raise ValueError(msg)
    low, high = ref[good].min(), ref[good].max()
    span = high - low if high > low else 1.0
    return (pred - low) / span, (ref - low) / span, good


def _mse(pred, ref):
    p, r, good = _rescaled(pred, ref)
    return np.mean((p[good] - r[good]) ** 2)


def _psnr(pred, ref):
    err = _mse(pred, ref)
    return np.inf if err == 0 else 10.0 * np.log10(1.0 / err)


def _ssim(pred, ref):
    from skimage.metrics import structural_similarity

    p, r, good = _rescaled(pred, ref)
    p, r = np.where(good, p, 0.0), np.where(good, r, 0.0)
    win = min(7, min(p.shape) - (1 - min(p.shape) % 2))
    return structural_similarity(p, r, data_range=1.0, win_size=max(win, 3))


def _flux_error(pred, ref):
    good = np.isfinite(pred) & np.isfinite(ref)
    total = ref[good].sum()
    if total == 0:
        msg = 'the reference has zero total flux; the relative flux error is undefined'
        raise ValueError(msg)
    return (pred[good].sum() - total) / abs(total)


def mse(pred, ref):
    """Mean squared error on images rescaled by the reference's range.

    Parameters
    ----------
    pred, ref : `~numpy.ndarray`
        ``(H, W)`` or ``(N, H, W)``, same shape.

    Returns
    -------
    mse : float or `~numpy.ndarray`
    """
    return _per_image(_mse, pred, ref)


def psnr(pred, ref):
    """Peak signal-to-noise ratio in dB, ``10 log10(1 / mse)`` (see `mse`)."""
    return _per_image(_psnr, pred, ref)


def ssim(pred, ref):
    """Structural similarity (scikit-image, 7x7 window) on range-rescaled images."""
    return _per_image(_ssim, pred, ref)


def flux_error(pred, ref, *, surface_brightness=False):
    """Relative total-flux error ``(sum(pred) - sum(ref)) / |sum(ref)|``.

    Parameters
    ----------
    pred, ref : `~numpy.ndarray`
        Images of the same shape, or -- to compare a super-resolved image
        with its low-resolution input -- of shapes that differ by an integer
        factor per axis.
    surface_brightness : bool, optional
        Pixel values are per solid angle: compare means instead of sums
        (only matters when the shapes differ).

    Returns
    -------
    error : float or `~numpy.ndarray`
    """
    pred = np.asarray(pred, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if pred.shape == ref.shape:
        return _per_image(_flux_error, pred, ref)
    if pred.ndim != ref.ndim or pred.ndim not in (2, 3):
        msg = f'cannot compare the flux of shapes {pred.shape} and {ref.shape}'
        raise ValueError(msg)
    axes = (-2, -1)
    area = pred.shape[-2] * pred.shape[-1] / (ref.shape[-2] * ref.shape[-1])
    ps, rs = np.nansum(pred, axis=axes), np.nansum(ref, axis=axes)
    if surface_brightness:
        ps = ps / area
    err = (ps - rs) / np.abs(rs)
    return float(err) if np.ndim(err) == 0 else err


def image_metrics(pred, ref):
    """Mean PSNR, SSIM, MSE and mean absolute relative flux error over a batch.

    Parameters
    ----------
    pred, ref : `~numpy.ndarray`
        ``(H, W)`` or ``(N, H, W)``.

    Returns
    -------
    metrics : dict
        ``psnr``, ``ssim``, ``mse``, ``flux_error`` (floats).
    """
    return {'psnr': float(np.mean(psnr(pred, ref))),
            'ssim': float(np.mean(ssim(pred, ref))),
            'mse': float(np.mean(mse(pred, ref))),
            'flux_error': float(np.mean(np.abs(flux_error(pred, ref))))}
