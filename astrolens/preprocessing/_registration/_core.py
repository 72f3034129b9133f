# Licensed under a 3-clause BSD style license - see LICENSE
"""Numerics of LR/HR registration: flux-conserving reprojection, PSF kernels
on the fine grid, and the sub-pixel shift fit.

Conventions used throughout: the *fine grid* is ``scale_wcs(lr_wcs, factor)``
(shape ``factor * lr.shape``); a shift ``(dy, dx)`` in LR pixels is the
displacement to apply to the HR content, as placed by the WCSs, to bring it
onto the LR content (the convention of
`skimage.registration.phase_cross_correlation` with LR as reference).
"""

import numpy as np
from astropy import units as u
from astropy.stats import sigma_clipped_stats
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_area
from reproject import reproject_adaptive, reproject_exact, reproject_interp
from scipy import fft as sfft
from scipy import ndimage
from scipy.optimize import least_squares
from skimage.measure import block_reduce
from skimage.registration import phase_cross_correlation

from astrolens.preprocessing._psf import (
    _FWHM_TO_SIGMA,
    _normalise_psf,
    gaussian_matching_kernel,
    gaussian_psf,
    matching_kernel,
)

__all__ = []


# ----------------------------------------------------------------------------
# Reprojection

def is_surface_brightness(unit):
    """Whether ``unit`` is per solid angle (then means, not sums, are conserved)."""
    if unit is None:
        return False
    try:
        decomposed = u.Unit(unit).decompose()
    except (TypeError, ValueError):
        return False
    return any(base == u.rad and power <= -2
               for base, power in zip(decomposed.bases, decomposed.powers, strict=True))


def reproject_flux(data, wcs_in, wcs_out, shape_out, *, method, surface_brightness):
    """Reproject ``data`` keeping flux per pixel (or surface brightness).

    Returns ``(array, valid)``: NaN and ``valid == False`` where the output
    has no (or contaminated) input coverage.
    """
    if method == 'adaptive':
        out, footprint = reproject_adaptive((data, wcs_in), wcs_out, shape_out=shape_out,
                                            conserve_flux=not surface_brightness,
                                            boundary_mode='strict')
    else:
        function = reproject_exact if method == 'exact' else reproject_interp
        kwargs = {} if method == 'exact' else {'order': 'bicubic'}
        out, footprint = function((data, wcs_in), wcs_out, shape_out=shape_out, **kwargs)
        if not surface_brightness:
            out = out * (proj_plane_pixel_area(wcs_out) / proj_plane_pixel_area(wcs_in))
    valid = np.isfinite(out) & (footprint > 0)
    out = np.where(valid, out, np.nan)
    return out, np.where(valid, footprint, 0.0), valid


def flux_before(data, valid_in, wcs_in, wcs_out, valid_out):
    """Sum of input pixels whose centres fall on valid output pixels."""
    yy, xx = np.nonzero(valid_in)
    world = wcs_in.pixel_to_world_values(xx, yy)
    x_out, y_out = wcs_out.world_to_pixel_values(*world)
    ix, iy = np.round(x_out), np.round(y_out)
    ny, nx = valid_out.shape
    inside = np.isfinite(ix) & np.isfinite(iy) & (ix >= 0) & (iy >= 0) & (ix < nx) & (iy < ny)
    keep = np.zeros(inside.shape, dtype=bool)
    keep[inside] = valid_out[iy[inside].astype(int), ix[inside].astype(int)]
    return float(np.sum(data[yy[keep], xx[keep]]))


def overlaps(wcs_in, shape_in, wcs_out, shape_out):
    """Cheap test: does the input's outline touch the output grid at all?"""
    ny, nx = shape_in
    edge = np.linspace(-0.5, 1.0, 16)
    xs = np.concatenate([edge * nx, np.full(16, nx - 0.5), edge[::-1] * nx, np.full(16, -0.5)])
    ys = np.concatenate([np.full(16, -0.5), edge * ny, np.full(16, ny - 0.5), edge[::-1] * ny])
    world = wcs_in.pixel_to_world_values(np.clip(xs, -0.5, nx - 0.5), np.clip(ys, -0.5, ny - 0.5))
    x_out, y_out = wcs_out.world_to_pixel_values(*world)
    if not (np.all(np.isfinite(x_out)) and np.all(np.isfinite(y_out))):
        return True  # let the reprojection decide
    return not (x_out.max() < -0.5 or y_out.max() < -0.5
                or x_out.min() > shape_out[1] - 0.5 or y_out.min() > shape_out[0] - 0.5)


def shifted_wcs(wcs, shift_fine):
    """``wcs`` with its pixel grid moved so that content moves by ``shift_fine`` (y, x)."""
    moved = wcs.deepcopy()
    moved.wcs.crpix = np.asarray(wcs.wcs.crpix, dtype=float) + [shift_fine[1], shift_fine[0]]
    moved.wcs.set()
    return moved


# ----------------------------------------------------------------------------
# PSFs on the fine grid

def _linear_wcs(matrix, shape):
    """A TAN WCS at (0, 0) with the linear part ``matrix`` (deg/pixel)."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [0.0, 0.0]
    wcs.wcs.crpix = [(shape[1] + 1) / 2.0, (shape[0] + 1) / 2.0]
    wcs.wcs.cd = matrix
    wcs.wcs.set()
    return wcs


def _second_moment(psf):
    """Mean per-axis second moment about the centroid, in pixels squared."""
    psf = psf / psf.sum()
    y, x = np.indices(psf.shape)
    cy, cx = (y * psf).sum(), (x * psf).sum()
    return 0.5 * (((y - cy) ** 2 * psf).sum() + ((x - cx) ** 2 * psf).sum())


def lr_psf_on_fine_grid(psf, *, factor, lr_scale):
    """The LR PSF (``('fwhm', arcsec)`` or ``('array', array)``) sampled on the fine grid."""
    kind, value = psf
    if kind == 'fwhm':
        return gaussian_psf(value, lr_scale / factor)
    axes = []
    for n in value.shape:
        size = factor * n + (1 - factor * n % 2)
        axes.append((np.arange(size) - size // 2) / factor + n // 2)
    yy, xx = np.meshgrid(*axes, indexing='ij')
    fine = ndimage.map_coordinates(value, [yy, xx], order=3, mode='constant')
    return _normalise_psf(np.clip(fine, 0, None), name='the LR PSF')


def hr_psf_on_fine_grid(psf, *, hr_wcs, fine_wcs, method):
    """The HR PSF resampled onto the fine grid as the image is, so that the
    smoothing of the resampling is part of the effective PSF.
    """
    kind, value = psf
    hr_scale = np.sqrt(abs(np.linalg.det(hr_wcs.celestial.pixel_scale_matrix))) * 3600
    fine_scale = np.sqrt(abs(np.linalg.det(fine_wcs.celestial.pixel_scale_matrix))) * 3600
    stamp = gaussian_psf(value, hr_scale) if kind == 'fwhm' else value
    extent = max(stamp.shape) * hr_scale / fine_scale
    size = int(np.ceil(extent)) + 6
    size += 1 - size % 2
    wcs_in = _linear_wcs(hr_wcs.celestial.pixel_scale_matrix, stamp.shape)
    wcs_out = _linear_wcs(fine_wcs.celestial.pixel_scale_matrix, (size, size))
    out, _, valid = reproject_flux(stamp, wcs_in, wcs_out, (size, size), method=method,
                                   surface_brightness=False)
    return _normalise_psf(np.where(valid, out, 0.0), name='the HR PSF')


def fine_kernel(lr_psf, hr_psf, lr_fine, hr_fine, *, fine_scale):
    """Matching kernel on the fine grid from the HR to the LR PSF.

    Gaussian when both PSFs are given by FWHM (the HR width then includes the
    resampling smoothing, read from ``hr_fine``), otherwise the Fourier ratio.
    Returns ``(kernel, broader)``; ``broader`` is False when the LR PSF is not
    broader than the HR one.
    """
    var_hr = _second_moment(hr_fine)
    var_lr = _second_moment(lr_fine)
    broader = var_lr > var_hr
    if lr_psf[0] == 'fwhm' and hr_psf[0] == 'fwhm':
        sigma_lr = lr_psf[1] * _FWHM_TO_SIGMA / fine_scale
        return gaussian_matching_kernel(np.sqrt(var_hr), sigma_lr), broader
    if not broader:
        return np.ones((1, 1)), broader
    return matching_kernel(hr_fine, lr_fine), broader


# ----------------------------------------------------------------------------
# Noise and the shift fit

def lr_noise(data, valid, uncertainty=None, *, model=None):
    """Per-pixel standard deviation of the LR image (array or scalar).

    Without an uncertainty, the sigma-clipped standard deviation of the LR;
    when the binned HR ``model`` (same grid, any scale) is given, only LR
    pixels where it predicts little light are used, because the wings of
    extended sources survive clipping and inflate the estimate.
    """
    if uncertainty is not None:
        from astropy.nddata import InverseVariance, VarianceUncertainty

        array = np.asarray(uncertainty.array, dtype=float)
        if isinstance(uncertainty, VarianceUncertainty):
            array = np.sqrt(array)
        elif isinstance(uncertainty, InverseVariance):
            with np.errstate(divide='ignore'):
                array = 1.0 / np.sqrt(array)
        return np.broadcast_to(array, data.shape)
    _, _, std = sigma_clipped_stats(data, mask=~valid, sigma=3.0, maxiters=10)
    if model is not None and np.isfinite(std) and std > 0:
        a, b = _linear_fit(model[valid], data[valid], np.ones(valid.sum()))
        faint = valid & (np.abs(a * model) < 0.1 * std)
        if faint.sum() >= 50:
            _, _, refined = sigma_clipped_stats(data - a * model, mask=~faint, sigma=3.0,
                                                maxiters=10)
            if np.isfinite(refined) and refined > 0:
                std = refined
    if not np.isfinite(std) or std <= 0:
        std = np.nanstd(np.where(valid, data, np.nan)) or 1.0
    # noiseless (simulated) images would otherwise get absurd weights
    return max(float(std), 1e-5 * float(np.max(np.abs(data[valid]), initial=0.0)))


class ShiftModel:
    """The PSF-matched, binned HR model as a function of a sub-pixel shift.

    The fine-grid HR image is convolved with ``kernel`` in Fourier space
    (zero-padded, so nothing wraps); a shift is a phase ramp on that product,
    which is exact here because the kernel band-limits the result far below
    the fine grid's Nyquist frequency. Derivatives come from the same ramp.
    """

    def __init__(self, hr_fine, hr_valid, kernel, factor, *, max_shift_fine):
        self.factor = factor
        self.shape_fine = hr_fine.shape
        ky, kx = kernel.shape
        margin = int(np.ceil(max_shift_fine)) + 2
        shape = (sfft.next_fast_len(hr_fine.shape[0] + ky + 2 * margin),
                 sfft.next_fast_len(hr_fine.shape[1] + kx + 2 * margin))
        _, background, _ = sigma_clipped_stats(hr_fine, mask=~hr_valid, sigma=3.0, maxiters=5)
        background = 0.0 if not np.isfinite(background) else background
        filled = np.where(hr_valid, hr_fine - background, 0.0)
        self.spectrum = sfft.rfft2(filled, shape) * sfft.rfft2(kernel, shape)
        self.fy = sfft.fftfreq(shape[0])[:, None]
        self.fx = sfft.rfftfreq(shape[1])[None, :]
        self.shape = shape
        self.offset = (ky // 2, kx // 2)

    def _crop_bin(self, full):
        oy, ox = self.offset
        ny, nx = self.shape_fine
        return block_reduce(full[oy:oy + ny, ox:ox + nx], self.factor, np.sum)

    def __call__(self, shift, *, derivatives=False):
        """Binned model moved by ``shift`` LR pixels (y, x) [and d/dy, d/dx]."""
        sy, sx = np.asarray(shift, dtype=float) * self.factor
        ramp = np.exp(-2j * np.pi * (self.fy * sy + self.fx * sx))
        moved = self.spectrum * ramp
        model = self._crop_bin(sfft.irfft2(moved, self.shape))
        if not derivatives:
            return model
        # d/d(shift in LR px) = factor * d/d(shift in fine px)
        dy = self._crop_bin(sfft.irfft2(moved * (-2j * np.pi * self.fy), self.shape))
        dx = self._crop_bin(sfft.irfft2(moved * (-2j * np.pi * self.fx), self.shape))
        return model, dy * self.factor, dx * self.factor


def fit_region(lr_valid, hr_valid, kernel, factor, *, margin_lr):
    """LR pixels whose model only uses valid HR pixels (kernel support + margin)."""
    support = kernel >= 1e-2 * kernel.max()
    ys, xs = np.nonzero(support)
    radius = max(abs(ys - kernel.shape[0] // 2).max(), abs(xs - kernel.shape[1] // 2).max())
    radius += int(np.ceil(margin_lr * factor))
    bad = np.pad(~hr_valid, 1, constant_values=True)
    if radius > 0:
        bad = ndimage.binary_dilation(bad, structure=np.ones((3, 3), bool), iterations=radius)
    bad = bad[1:-1, 1:-1]
    bad_lr = block_reduce(bad, factor, np.any)
    return lr_valid & ~bad_lr


def _linear_fit(model, data, weight):
    """Weighted least-squares ``data ~ a * model + b``."""
    design = np.stack([model * weight, weight], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, data * weight, rcond=None)
    return a, b


def _poisson_coefficient(residual, light, background_var):
    """Least-squares ``alpha`` in ``residual**2 ~ background_var + alpha * light``."""
    light = np.clip(light, 0, None)
    norm = np.sum(light ** 2)
    if norm <= 0:
        return 0.0
    return max(0.0, float(np.sum((residual ** 2 - background_var) * light) / norm))


def measure_shift(lr_data, region, sigma, model, *, upsample_factor, max_shift,
                  poisson=True):
    """Fit the shift (LR px), its 1-sigma error, the flux scale and chi^2.

    Phase correlation of the LR with the unshifted model gives the start; a
    least-squares fit of ``lr = a * model(shift) + b`` with analytic
    derivatives refines it. With ``poisson`` (used when the LR has no
    uncertainty), the variance is then modelled as ``sigma**2 + alpha * light``
    with ``alpha`` regressed on the squared residuals, and the fit is redone
    with those weights: the cores of bright sources carry the offset and
    their shot noise must not be under-weighted. The error is from the
    Jacobian at the solution, scaled up by the reduced chi-square when that
    exceeds 1.
    """
    sigma_map = np.broadcast_to(np.asarray(sigma, dtype=float), lr_data.shape)
    data = lr_data[region]
    base_sigma = sigma_map[region]
    base = model((0.0, 0.0))
    lr_filled = np.where(region, lr_data - np.median(data), 0.0)
    base_filled = np.where(region, base - np.median(base[region]), 0.0)
    start = np.zeros(2)
    if np.any(base_filled) and np.any(lr_filled):
        found, _, _ = phase_cross_correlation(lr_filled, base_filled,
                                              upsample_factor=upsample_factor,
                                              normalization=None)
        if np.all(np.abs(found) < max_shift):
            start = np.asarray(found, dtype=float)
    bound = float(max_shift)
    start = np.clip(start, -0.999 * bound, 0.999 * bound)
    weight = 1.0 / base_sigma
    a0, b0 = _linear_fit(model(start)[region], data, weight)
    params = np.array([start[0], start[1], a0, b0])
    lower = [-bound, -bound, -np.inf, -np.inf]
    upper = [bound, bound, np.inf, np.inf]
    for attempt in range(2 if poisson else 1):
        if attempt:
            light = params[2] * model(params[:2])[region]
            alpha = _poisson_coefficient(data - light - params[3], light, base_sigma ** 2)
            weight = 1.0 / np.sqrt(base_sigma ** 2 + alpha * np.clip(light, 0, None))

        def residuals(p, weight=weight):
            return (data - p[2] * model(p[:2])[region] - p[3]) * weight

        def jacobian(p, weight=weight):
            m, dy, dx = model(p[:2], derivatives=True)
            return -np.stack([p[2] * dy[region], p[2] * dx[region], m[region],
                              np.ones(data.size)], axis=1) * weight[:, None]

        result = least_squares(residuals, params, jac=jacobian, bounds=(lower, upper),
                               x_scale='jac', xtol=1e-10, ftol=1e-10)
        params = result.x
    chi2 = float(np.sum(result.fun ** 2))
    dof = max(data.size - 4, 1)
    jac = result.jac
    try:
        cov = np.linalg.inv(jac.T @ jac)
    except np.linalg.LinAlgError:
        cov = np.full((4, 4), np.inf)
    cov *= max(1.0, chi2 / dof)
    error = np.sqrt(np.abs(np.diag(cov)[:2]))
    return params[:2], error, float(params[2]), float(params[3]), chi2 / dof


def reduced_chi2(lr_data, region, sigma, model, *, gain=None, n_params=4):
    """Reduced chi-square of ``lr ~ a * model + b`` over ``region``."""
    sigma_map = np.broadcast_to(np.asarray(sigma, dtype=float), lr_data.shape)
    data = lr_data[region]
    weight = 1.0 / sigma_map[region]
    binned = model[region]
    a, b = _linear_fit(binned, data, weight)
    variance = sigma_map[region] ** 2
    if gain is not None:
        variance = variance + np.clip(a * binned, 0, None) / gain
    chi2 = np.sum((data - a * binned - b) ** 2 / variance)
    return float(chi2 / max(data.size - n_params, 1))
