# Licensed under a 3-clause BSD style license - see LICENSE
"""Numerics of the scale fit: the geometry of the HR image relative to the LR
image measured from their content.

The HR image is blurred by a Gaussian (the matching kernel, plus the LR pixel
box) and sampled at the HR positions of the LR pixel centres,
``p = c0 + t + (s / s0) R(theta) A0 (q - c)`` (pixel coordinates ``(y, x)``,
``q`` on the LR grid, ``c`` its centre, ``A0`` and ``c0`` the start: the
linear map and the HR position of ``c`` given by the WCSs or by the nominal
ratio ``s0``). The LR is fitted as ``a * model + b``; ``a`` and ``b`` are
solved linearly inside the non-linear fit of the ratio ``s``, the offset
``t`` (HR pixels), the kernel width and, optionally, ``theta``.
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.optimize import least_squares
from skimage.registration import phase_cross_correlation

from astrolens.preprocessing._registration._core import lr_noise

__all__ = []

# coarse search: relative steps of the ratio around the start, kernel widths relative to
# the one from the PSFs, and how many of its best distinct ratios are refined
_COARSE_STEP = 0.015
_COARSE_WIDTHS = (0.6, 1.0, 1.6)
_N_STARTS = 3


@dataclass(frozen=True)
class ScaleFit:
    """Fitted geometry of the HR pixel grid relative to the LR one.

    ``matrix`` (2x2, ``(y, x)`` order) and ``offset`` map an LR pixel
    ``q`` (0-based) to the HR pixel ``offset + matrix @ q``.
    """

    ratio: float
    ratio_error: float
    rotation: float
    rotation_error: float
    kernel_sigma: float
    flux_scale: float
    chi2: float
    matrix: np.ndarray
    offset: np.ndarray


def _rotation(theta_deg):
    t = np.deg2rad(theta_deg)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


class _Model:
    """The blurred HR sampled at the LR pixel centres, for given geometry."""

    def __init__(self, hr, hr_valid, lr_shape, a0, c0, s0):
        self.background = float(np.median(hr[hr_valid])) if hr_valid.any() else 0.0
        self.hr = np.where(hr_valid, hr, self.background)
        self.hr_valid = hr_valid.astype(float)
        self.a0 = np.asarray(a0, dtype=float)
        self.c0 = np.asarray(c0, dtype=float)
        self.s0 = float(s0)
        ny, nx = lr_shape
        self.centre = np.array([(ny - 1) / 2.0, (nx - 1) / 2.0])
        yy, xx = np.indices(lr_shape, dtype=float)
        self.q = np.stack([yy.ravel() - self.centre[0], xx.ravel() - self.centre[1]])
        self.lr_shape = lr_shape
        self._cache = (None, None)

    def matrix(self, ratio, rotation):
        return (ratio / self.s0) * _rotation(rotation) @ self.a0

    def positions(self, ratio, shift, rotation):
        return self.c0[:, None] + np.asarray(shift, float)[:, None] \
            + self.matrix(ratio, rotation) @ self.q

    def blurred(self, sigma):
        key, value = self._cache
        if key != sigma:
            value = ndimage.gaussian_filter(self.hr, sigma, mode='nearest')
            self._cache = (sigma, value)
        return value

    def __call__(self, ratio, shift, rotation, kernel_sigma):
        # the LR pixel as a box of `ratio` HR pixels, as a Gaussian of the same variance
        sigma = float(np.sqrt(kernel_sigma ** 2 + ratio ** 2 / 12.0))
        pos = self.positions(ratio, shift, rotation)
        values = ndimage.map_coordinates(self.blurred(sigma), pos, order=3, mode='constant',
                                         cval=self.background, prefilter=True)
        return values.reshape(self.lr_shape)

    def inside(self, ratio, shift, rotation, margin):
        """LR pixels whose HR position lies at least ``margin`` HR pixels inside valid data."""
        bad = ~self.hr_valid.astype(bool)
        bad = np.pad(bad, 1, constant_values=True)
        if margin >= 1:
            bad = ndimage.binary_dilation(bad, iterations=int(np.ceil(margin)))
        pos = self.positions(ratio, shift, rotation) + 1.0
        near = ndimage.map_coordinates(bad.astype(float), pos, order=0, mode='constant', cval=1.0)
        return (near < 0.5).reshape(self.lr_shape)


def _solve_linear(model, data, weight):
    design = np.stack([model * weight, weight], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, data * weight, rcond=None)
    return a, b


def _coarse(model, lr_filled, lr_valid, ratio, width):
    """``(correlation, offset)`` at ``ratio``, the offset by phase correlation; or None."""
    m = model(ratio, (0.0, 0.0), 0.0, width)
    region = lr_valid & model.inside(ratio, (0.0, 0.0), 0.0, 0.0)
    if region.sum() < 16:
        return None
    ref = np.where(region, lr_filled - np.median(lr_filled[region]), 0.0)
    mov = np.where(region, m - np.median(m[region]), 0.0)
    if not (np.any(ref) and np.any(mov)):
        return None
    found, _, _ = phase_cross_correlation(ref, mov, normalization=None)
    # lr(q) ~ model(q - found): move the HR offset accordingly
    shift = -model.matrix(ratio, 0.0) @ np.asarray(found, dtype=float)
    m = model(ratio, shift, 0.0, width)
    region = lr_valid & model.inside(ratio, shift, 0.0, 0.0)
    if region.sum() < 16 or np.std(m[region]) == 0:
        return None
    return np.corrcoef(m[region], lr_filled[region])[0, 1], shift


def fit_scale(lr, lr_valid, hr, hr_valid, *, a0, c0, s0, kernel_sigma, max_change=0.25,
              fit_rotation=False, max_rotation=5.0):
    """Fit ratio, offset, kernel width [and rotation] of the HR against the LR.

    Parameters
    ----------
    lr, hr : `~numpy.ndarray`
        Images (NaN-free where valid); flux per pixel.
    a0, c0, s0 :
        Start geometry: linear map (2x2, ``(y, x)``) from LR pixel offsets to
        HR pixel offsets, HR position of the LR centre, and the ratio ``a0``
        stands for.
    kernel_sigma : float
        Start width (HR pixels) of the Gaussian turning the HR PSF into the
        LR PSF.
    max_change : float
        Largest relative change of the ratio searched.

    Returns
    -------
    fit : `ScaleFit`
    """
    model = _Model(hr, hr_valid, lr.shape, a0, c0, s0)
    lr_filled = np.where(lr_valid, lr, np.median(lr[lr_valid]))
    kernel_sigma = max(float(kernel_sigma), 0.3)

    # coarse search over the ratio and the kernel width (the PSFs given may be off), the
    # offset of each by phase correlation
    candidates = []
    for rel in np.arange(-max_change, max_change + 1e-9, _COARSE_STEP):
        ratio = s0 * (1.0 + rel)
        for width in kernel_sigma * np.array(_COARSE_WIDTHS):
            found = _coarse(model, lr_filled, lr_valid, ratio, width)
            if found is not None:
                candidates.append((found[0], ratio, found[1], width))
    if not candidates:
        msg = 'the LR and HR images share too few valid pixels to fit their scale ratio'
        raise ValueError(msg)
    # refine the best few distinct ratios: with little structure the correlation is flat
    candidates.sort(key=lambda c: -c[0])
    starts = []
    for candidate in candidates:
        if all(abs(candidate[1] - other[1]) > 2.5 * _COARSE_STEP * s0 for other in starts):
            starts.append(candidate)
        if len(starts) == _N_STARTS:
            break

    sigma = lr_noise(lr, lr_valid)
    n_geo = 5 if fit_rotation else 4
    lower = [s0 * (1 - max_change - 0.05), -np.inf, -np.inf, 0.05, -max_rotation][:n_geo]
    upper = [s0 * (1 + max_change + 0.05), np.inf, np.inf, np.inf, max_rotation][:n_geo]

    def unpack(p):
        rotation = p[4] if fit_rotation else 0.0
        return p[0], p[1:3], rotation, p[3]

    def region_of(p):
        r, t, rot, k = unpack(p)
        # leave out LR pixels whose model reaches beyond the valid HR (kernel + slack)
        margin = 3.0 * np.sqrt(k ** 2 + r ** 2 / 12.0) + 2.0
        region = lr_valid & model.inside(r, t, rot, margin)
        if region.sum() < 16:
            region = lr_valid & model.inside(r, t, rot, 0.0)
        return region

    def refine(p, region):
        data = lr_filled[region]
        weight = np.full(data.size, 1.0 / sigma)

        def residuals(q):
            m = model(*unpack(q))[region]
            a, b = _solve_linear(m, data, weight)
            return (data - a * m - b) * weight

        p = np.clip(p, np.add(lower, 1e-9), np.subtract(upper, 1e-9))
        return least_squares(residuals, p, bounds=(lower, upper), x_scale='jac',
                             diff_step=1e-6, xtol=1e-10, ftol=1e-10)

    first = [np.array([c[1], c[2][0], c[2][1], c[3], 0.0][:n_geo]) for c in starts]
    # compared on the LR pixels inside the HR for every start: a pixel that leaves the HR
    # as the ratio changes would pull the fit
    region = np.logical_and.reduce([region_of(p) for p in first])
    if region.sum() < 16:
        region = region_of(first[0])
    params = min((refine(p, region) for p in first), key=lambda r: r.cost).x
    for _ in range(2):
        region = region_of(params)
        result = refine(params, region)
        params = result.x
    data = lr_filled[region]
    weight = np.full(data.size, 1.0 / sigma)

    r, t, rot, k = unpack(params)
    m = model(r, t, rot, k)[region]
    a, _ = _solve_linear(m, data, weight)
    chi2 = float(np.sum(result.fun ** 2))
    dof = max(data.size - n_geo - 2, 1)
    try:
        cov = np.linalg.inv(result.jac.T @ result.jac) * max(1.0, chi2 / dof)
        errors = np.sqrt(np.abs(np.diag(cov)))
    except np.linalg.LinAlgError:
        errors = np.full(n_geo, np.inf)
    matrix = model.matrix(r, rot)
    offset = model.c0 + t - matrix @ model.centre
    return ScaleFit(ratio=float(r), ratio_error=float(errors[0]), rotation=float(rot),
                    rotation_error=float(errors[4]) if fit_rotation else 0.0,
                    kernel_sigma=float(k),
                    # flux per LR pixel of the HR per HR pixel: the ratio of pixel areas
                    flux_scale=float(a / r ** 2), chi2=chi2 / dof, matrix=matrix,
                    offset=offset)


def start_geometry(lr_wcs, hr_wcs, lr_shape, hr_shape, ratio):
    """``(a0, c0, s0)`` for `fit_scale`: from the WCSs when both are given
    (``ratio``, if not None, replaces their scale ratio), otherwise the two
    centres together, axes aligned, at ``ratio``.
    """
    centre = np.array([(lr_shape[0] - 1) / 2.0, (lr_shape[1] - 1) / 2.0])
    if lr_wcs is None or hr_wcs is None:
        c0 = np.array([(hr_shape[0] - 1) / 2.0, (hr_shape[1] - 1) / 2.0])
        return ratio * np.eye(2), c0, float(ratio)
    ys = centre[0] + np.array([0.0, 1.0, 0.0])
    xs = centre[1] + np.array([0.0, 0.0, 1.0])
    world = lr_wcs.celestial.pixel_to_world_values(xs, ys)
    hx, hy = hr_wcs.celestial.world_to_pixel_values(*world)
    c0 = np.array([hy[0], hx[0]])
    a0 = np.array([[hy[1] - hy[0], hy[2] - hy[0]], [hx[1] - hx[0], hx[2] - hx[0]]])
    s0 = float(np.sqrt(abs(np.linalg.det(a0))))
    if ratio is not None:
        a0 = a0 * (ratio / s0)
        s0 = float(ratio)
    return a0, c0, s0


def fitted_wcs(lr_wcs, fit):
    """The HR WCS implied by ``fit``: the linear part of ``lr_wcs`` mapped
    through the fitted HR-to-LR pixel transform (distortions are dropped).
    """
    from astropy.wcs import WCS

    lr = lr_wcs.celestial
    swap = np.array([[0.0, 1.0], [1.0, 0.0]])
    matrix_xy = swap @ fit.matrix @ swap
    ref = np.asarray(lr.wcs.crpix, dtype=float) - 1.0
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = list(lr.wcs.ctype)
    wcs.wcs.cunit = list(lr.wcs.cunit)
    wcs.wcs.crval = list(lr.wcs.crval)
    wcs.wcs.lonpole, wcs.wcs.latpole = lr.wcs.lonpole, lr.wcs.latpole
    if lr.wcs.radesys:
        wcs.wcs.radesys = lr.wcs.radesys
    wcs.wcs.crpix = fit.offset[::-1] + matrix_xy @ ref + 1.0
    wcs.wcs.cd = lr.pixel_scale_matrix @ np.linalg.inv(matrix_xy)
    wcs.wcs.set()
    return wcs
