# Licensed under a 3-clause BSD style license - see LICENSE
"""Put an image with a celestial WCS on a classifier's pixel scale and field.

A classifier learns lens morphology in pixels: an Einstein ring of 1.28"
is 26 pixels at 0.05"/px but 43 at 0.03"/px, and the network would read the
second as something else. Images with a celestial WCS are therefore
reprojected onto a grid at the model's pixel scale, centred on the image
centre and keeping the image's own orientation (no rotation is introduced),
before they are classified. The reprojection is `reproject.reproject_exact`
(each output pixel is the overlap-weighted mean of the input pixels, times
the pixel-area ratio, so flux is conserved): unlike a smoothing kernel it
adds no blur beyond the pixel footprint, which matters to a network that
reads substructure from features a few pixels wide -- a grid twice as fine
comes back exactly as it was.
"""

import numpy as np
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales

__all__ = ['resample_to_model']

#: Relative pixel-scale difference below which an image is only cropped, not resampled.
SCALE_TOLERANCE = 0.02


def resample_to_model(data, wcs, *, pixel_scale, shape, min_coverage=0.98, source='image'):
    """Image ``data`` (with ``wcs``) on a ``shape`` grid at ``pixel_scale`` arcsec/px.

    Parameters
    ----------
    data : `~numpy.ndarray`
        2-D image, flux per pixel.
    wcs : `~astropy.wcs.WCS`
        Its celestial WCS.
    pixel_scale : float
        Arcseconds per pixel of the model.
    shape : tuple of int
        ``(ny, nx)`` of the field the model looks at.
    min_coverage : float
        Smallest fraction of that field the image must cover.
    source : str
        Name used in messages.

    Returns
    -------
    image : `~numpy.ndarray`
        ``shape`` float32; pixels outside the input are NaN.

    Raises
    ------
    ValueError
        If the image covers less than ``min_coverage`` of the model's field.
    """
    from reproject import reproject_exact

    data = np.asarray(data, dtype=np.float64)
    wcs = wcs.celestial
    ny, nx = data.shape
    in_scale = float(np.sqrt(np.prod(proj_plane_pixel_scales(wcs))) * 3600.0)
    need_y, need_x = shape
    have = (ny * in_scale, nx * in_scale)
    need = (need_y * pixel_scale, need_x * pixel_scale)
    if have[0] < min_coverage * need[0] or have[1] < min_coverage * need[1]:
        msg = (f'{source} covers {have[1]:.2f}" x {have[0]:.2f}" ({nx} x {ny} px at '
               f'{in_scale:.4g}"/px) but this classifier looks at {need[1]:.2f}" x {need[0]:.2f}"'
               f' ({need_x} x {need_y} px at {pixel_scale:.4g}"/px): pass a larger cutout '
               'centred on the lens')
        raise ValueError(msg)
    if abs(in_scale / pixel_scale - 1) < SCALE_TOLERANCE:
        # same scale: a central crop, so the pixels are exactly those of the input
        top, left = (ny - need_y) // 2, (nx - need_x) // 2
        out = np.full(shape, np.nan)
        src = data[max(top, 0):max(top, 0) + min(ny, need_y),
                   max(left, 0):max(left, 0) + min(nx, need_x)]
        oy, ox = max(-top, 0), max(-left, 0)
        out[oy:oy + src.shape[0], ox:ox + src.shape[1]] = src
        return out.astype(np.float32)
    target = WCS(naxis=2)
    target.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    target.wcs.cunit = ['deg', 'deg']
    centre = wcs.pixel_to_world_values((nx - 1) / 2.0, (ny - 1) / 2.0)
    target.wcs.crval = [float(centre[0]), float(centre[1])]
    target.wcs.crpix = [(need_x + 1) / 2.0, (need_y + 1) / 2.0]
    # the input's own axes (orientation and handedness), only rescaled
    target.wcs.cd = wcs.pixel_scale_matrix * (pixel_scale / in_scale)
    target.wcs.set()
    out, footprint = reproject_exact((data, wcs), target, shape_out=tuple(shape),
                                     return_footprint=True)
    # mean surface brightness -> flux per pixel of the new grid
    out = out * (pixel_scale / in_scale) ** 2
    covered = float(np.mean(footprint > 0.5))
    if covered < min_coverage:
        msg = (f'{source} covers only {covered:.0%} of the {need[1]:.2f}" x {need[0]:.2f}" field '
               'this classifier looks at around its centre: pass a larger cutout centred on the '
               'lens')
        raise ValueError(msg)
    out[footprint <= 0.5] = np.nan
    return out.astype(np.float32)
