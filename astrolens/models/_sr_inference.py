# Licensed under a 3-clause BSD style license - see LICENSE
"""The inference pipeline of `SuperResolver.enhance`.

For one image:

1. masked and non-finite pixels are filled from their nearest valid
   neighbour (only for the network; they are masked again in the output);
2. the image is normalised *globally* (median offset, 99.5th-percentile
   scale), so tiles see the same intensity scale;
3. the network runs over overlapping tiles (overlap >= its receptive field,
   so tiled == untiled) and predicts a "density": intensities on the input's
   per-pixel scale, upsampled;
4. the result is put back in the input's units: flux per pixel is divided by
   ``scale**2``; a surface brightness (a unit per solid angle) is not;
5. the flux is corrected (`astrolens.models._sr_flux.correct_flux`).

The functions take the fitted estimator (``model_``, ``scale``, ``name_``,
``arch``) as their first argument; `SuperResolver` delegates to them.
"""

import numpy as np
import torch
import torch.nn.functional as F
from astropy import units as u
from astropy.nddata import NDData, StdDevUncertainty
from scipy import ndimage

from astrolens.io import as_image_array, to_nddata
from astrolens.models._sr_flux import correct_flux
from astrolens.models._tiling import tiled_apply
from astrolens.version import __version__
from astrolens.wcs_utils import scale_wcs

__all__ = ['FLUX_MODES', 'bicubic_upscale', 'd4', 'd4_inverse', 'enhance', 'enhance_array',
           'enhance_batch', 'fill_bad', 'is_surface_brightness', 'norm_params']

FLUX_MODES = ('total', 'block', None)


def is_surface_brightness(unit):
    """Whether ``unit`` is per solid angle (so the mean, not the sum, is conserved).

    Parameters
    ----------
    unit : `~astropy.units.UnitBase` or None

    Returns
    -------
    bool
        True when the unit, decomposed, has a negative power of an angle
        (``MJy / sr``, ``erg / (s cm2 Hz arcsec2)``, ...).
    """
    if unit is None:
        return False
    try:
        decomposed = u.Unit(unit).decompose()
    except (TypeError, ValueError, u.UnitsError):
        return False
    return any(base.physical_type == 'angle' and power < 0
               for base, power in zip(decomposed.bases, decomposed.powers, strict=True))


def _is_logarithmic(unit):
    if isinstance(unit, u.FunctionUnitBase):
        return True
    try:
        bases = u.Unit(unit).decompose().bases
    except (TypeError, ValueError, u.UnitsError):
        return False
    return any(base in (u.mag, u.dex, u.dB) for base in bases)


def fill_bad(image, bad):
    """Replace ``bad`` pixels by their nearest good neighbour."""
    if not bad.any():
        return image
    _, (iy, ix) = ndimage.distance_transform_edt(bad, return_indices=True)
    return image[iy, ix]


def norm_params(image):
    """Global offset and scale of an image (the 'flux' normalisation of astrolens)."""
    offset = float(np.median(image))
    spread = float(np.percentile(image - offset, 99.5))
    if not spread > 0:
        spread = float(np.max(np.abs(image - offset)))
    return offset, (spread if spread > 0 else 1.0)


def bicubic_upscale(image, scale, *, surface_brightness=False):
    """Bicubic upsampling in the same pixel convention as the networks.

    Parameters
    ----------
    image : `~numpy.ndarray`
        ``(H, W)`` or ``(N, H, W)``.
    scale : int
    surface_brightness : bool, optional
        If false (flux per pixel) the result is divided by ``scale**2`` so
        the total flux is (nearly) kept.

    Returns
    -------
    upscaled : `~numpy.ndarray`
    """
    array = np.asarray(image, dtype=np.float32)
    batch = array if array.ndim == 3 else array[None]
    with torch.no_grad():
        out = F.interpolate(torch.from_numpy(np.ascontiguousarray(batch))[:, None],
                            scale_factor=scale, mode='bicubic', align_corners=False)
    out = out[:, 0].numpy().astype(np.float64)
    if not surface_brightness:
        out /= scale ** 2
    return out if array.ndim == 3 else out[0]



def d4(x, k):
    """The k-th of the 8 symmetries of the square (rotations, then transposes) on the last axes."""
    if k >= 4:
        x = x.transpose(-1, -2)
    return torch.rot90(x, k % 4, dims=(-2, -1))


def d4_inverse(x, k):
    x = torch.rot90(x, -(k % 4), dims=(-2, -1))
    if k >= 4:
        x = x.transpose(-1, -2)
    return x



def _predict_fn(model, device, *, uncertainty):
    model = model.to(device).eval()

    @torch.no_grad()
    def run(batch):
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))[:, None]
        x = x.to(device)
        if not uncertainty:
            return model(x).cpu().numpy()
        outs = torch.stack([d4_inverse(model(d4(x, k).contiguous()), k) for k in range(8)])
        mean, std = outs.mean(dim=0), outs.std(dim=0)
        return torch.cat([mean, std], dim=1).cpu().numpy()
    return run


def enhance_array(est, image, bad, *, surface_brightness, tile, overlap, batch_size,
                  uncertainty, progress, flux):
    """Super-resolve one 2-D array in its own units; returns ``(sr, std or None)``.

    Parameters
    ----------
    est : `~astrolens.models.SuperResolver`
        A fitted estimator.
    image : `~numpy.ndarray`
        The image; ``bad`` pixels may hold anything.
    bad : `~numpy.ndarray` of bool
        Pixels the network must not see (masked or non-finite).
    surface_brightness : bool
        Whether the unit is per solid angle (the mean, not the sum, is kept).
    tile, overlap, batch_size, uncertainty, progress, flux
        As for `enhance`.
    """
    s = int(est.scale)
    good = ~bad
    filled = fill_bad(np.where(bad, 0.0, image), bad).astype(np.float64)
    offset, spread = norm_params(filled)
    x = ((filled - offset) / spread).astype(np.float32)
    device = est._device()
    out = tiled_apply(_predict_fn(est.model_, device, uncertainty=uncertainty), x, scale=s,
                      tile=tile, overlap=overlap, batch_size=batch_size,
                      channels=2 if uncertainty else 1, progress=progress)
    area = 1.0 if surface_brightness else 1.0 / (s * s)
    sr = (out[0].astype(np.float64) * spread + offset) * area
    std = out[1].astype(np.float64) * spread * area if uncertainty else None
    lr_filled = np.where(good, image, 0.0)
    sr, factor = correct_flux(sr, lr_filled, good, scale=s, mode=flux,
                              surface_brightness=surface_brightness)
    if std is not None and factor is not None:
        std = std * np.abs(factor)
    return sr, std


def enhance(est, data, *, tile, overlap, batch_size, uncertainty, progress, flux, hdu):
    """`SuperResolver.enhance` for a fitted ``est``, with the options checked there."""
    opts = {'tile': int(tile), 'overlap': int(overlap), 'batch_size': int(batch_size),
            'uncertainty': bool(uncertainty), 'flux': flux}
    if isinstance(data, np.ndarray) and data.ndim in (3, 4):
        return enhance_batch(est, data, progress=progress, **opts)
    nd = to_nddata(data, hdu=hdu)
    image = np.asarray(nd.data)
    if image.ndim != 2:
        msg = f'enhance takes one 2-D image or an (N, H, W) array, got shape {image.shape}'
        raise ValueError(msg)
    finite = np.isfinite(image)
    bad = ~finite if nd.mask is None else (np.asarray(nd.mask, dtype=bool) | ~finite)
    if bad.all():
        msg = 'every pixel of the image is masked or non-finite; nothing to enhance'
        raise ValueError(msg)
    if nd.unit is not None and _is_logarithmic(nd.unit):
        msg = (f'enhance needs a linear unit (flux or surface brightness), got {nd.unit}; '
               'convert magnitudes to flux first')
        raise ValueError(msg)
    sb = is_surface_brightness(nd.unit)
    sr, std = enhance_array(est, image, bad, surface_brightness=sb, progress=progress, **opts)
    s = int(est.scale)
    up = lambda a: np.repeat(np.repeat(a, s, axis=0), s, axis=1)  # noqa: E731
    sr[up(~finite)] = np.nan
    dtype = np.float32 if image.dtype == np.float32 else np.float64
    mask = up(bad) if bad.any() else None
    meta = dict(nd.meta or {})
    meta.update({'sr_model': est.name_, 'sr_version': __version__, 'sr_scale': s,
                 'sr_flux': 'none' if flux is None else flux, 'sr_arch': est.arch})
    wcs = scale_wcs(nd.wcs, s) if nd.wcs is not None else None
    unc = StdDevUncertainty(std.astype(dtype)) if std is not None else None
    return NDData(sr.astype(dtype), wcs=wcs, unit=nd.unit, mask=mask, meta=meta,
                  uncertainty=unc)


def enhance_batch(est, data, *, progress, **opts):
    """Super-resolve an ``(N, H, W)`` batch in flux per pixel; NaNs stay NaN."""
    from tqdm.auto import tqdm

    batch = as_image_array(data, name='data')
    if batch.ndim == 2:
        batch = batch[None]
    s = int(est.scale)
    srs, stds = [], []
    for image in tqdm(batch, desc='enhance', unit='image', leave=False,
                      disable=not progress or len(batch) < 2):
        bad = ~np.isfinite(image)
        if bad.all():
            msg = 'an image of the batch has no finite pixel'
            raise ValueError(msg)
        sr, std = enhance_array(est, image, bad, surface_brightness=False, progress=False,
                                **opts)
        sr[np.repeat(np.repeat(bad, s, axis=0), s, axis=1)] = np.nan
        srs.append(sr)
        stds.append(std)
    dtype = np.float32 if batch.dtype == np.float32 else np.float64
    out = np.stack(srs).astype(dtype)
    if opts['uncertainty']:
        return out, np.stack(stds).astype(dtype)
    return out
