# Licensed under a 3-clause BSD style license - see LICENSE
"""Bicubic upsampling of plain arrays, the reference every super-resolution result is
compared with.

It lives here, below both `astrolens.datasets` (evaluation sets quote bicubic's
scores) and `astrolens.models` (the flux correction upsamples residuals with it),
so that neither has to import the other for it.
"""

import numpy as np

__all__ = ['bicubic_upscale']


def bicubic_upscale(image, scale, *, surface_brightness=False, dtype=np.float64):
    """Bicubic upsampling in the same pixel convention as the networks.

    Parameters
    ----------
    image : `~numpy.ndarray`
        ``(H, W)`` or ``(N, H, W)``.
    scale : int
    surface_brightness : bool, optional
        If false (flux per pixel) the result is divided by ``scale**2`` so
        the total flux is (nearly) kept.
    dtype : data-type, optional
        Of the result (computed in float32 either way).

    Returns
    -------
    upscaled : `~numpy.ndarray`
    """
    # torch's bicubic kernel is the networks' convention (align_corners=False); imported
    # here so that `astrolens.utils` stays light for the modules that never upsample
    import torch
    from torch.nn import functional as F

    array = np.asarray(image, dtype=np.float32)
    batch = array if array.ndim == 3 else array[None]
    with torch.no_grad():
        out = F.interpolate(torch.from_numpy(np.ascontiguousarray(batch))[:, None],
                            scale_factor=scale, mode='bicubic', align_corners=False)
    out = out[:, 0].numpy().astype(dtype, copy=False)
    if not surface_brightness:
        out /= scale ** 2
    return out if array.ndim == 3 else out[0]
