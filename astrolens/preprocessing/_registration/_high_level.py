# Licensed under a 3-clause BSD style license - see LICENSE
"""Registration of low- and high-resolution image pairs."""

import warnings
from dataclasses import dataclass, field

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.nddata import NDData, NoOverlapError

from astrolens.io import (
                          as_variance,
                          like_uncertainty,
                          resampled_meta,
                          resampled_variance_factor,
                          to_nddata,
)
from astrolens.preprocessing._psf import _FWHM_TO_SIGMA, _normalise_psf
from astrolens.preprocessing._registration import _core, _scale
from astrolens.utils import AstrolensUserWarning
from astrolens.wcs_utils import make_wcs, pixel_scale, scale_wcs

__all__ = ['METHODS', 'RegisteredPair', 'register_pair']

METHODS = ('adaptive', 'exact', 'interp')

# Re-measuring on the final product and re-resampling from the original HR is
# needed only if the first fit was far off; two rounds are plenty.
_MAX_ROUNDS = 3
_CONVERGED = 0.005  # LR pixels


@dataclass(frozen=True)
class RegisteredPair:
    """A low/high-resolution pair on grids that differ by an integer factor.

    Attributes
    ----------
    lr : `~astropy.nddata.NDData`
        The LR input, untouched: it is the reference grid.
    hr : `~astropy.nddata.NDData`
        The HR image resampled once from the original onto ``factor`` x the LR
        grid: ``hr.wcs`` is ``scale_wcs(lr.wcs, factor)`` and ``hr.shape`` is
        ``factor * lr.shape``. Pixels without HR coverage are NaN and masked.
        ``hr.psf`` is the effective HR PSF on the new grid. ``hr.uncertainty``
        (same class as the input's) is the HR uncertainty resampled with the
        same method, its variance scaled by
        `astrolens.io.resampled_variance_factor` for the change of pixel
        area (exact when pixels grow, fully correlated pieces when they
        shrink; correlations between neighbours are not tracked); None when
        the HR has none.
    factor : int
        Grid ratio.
    shift : tuple of float
        Residual offset found and corrected, in LR pixels ``(y, x)``: the
        displacement applied to the HR content (as placed by the two WCSs)
        to bring it onto the LR content.
    shift_error : tuple of float
        1-sigma uncertainty of ``shift`` in LR pixels ``(y, x)``.
    shift_arcsec : tuple of float
        ``shift`` in arcseconds along the LR pixel axes ``(y, x)``.
    sky_offset : tuple of float
        Astrometric offset of the HR WCS relative to the LR WCS, in
        arcseconds ``(dRA cos(Dec), dDec)``: a source's HR-WCS coordinates
        minus its LR-WCS coordinates. ``(nan, nan)`` without a WCS.
    flux_ratio : float
        HR flux after / before resampling within the common footprint
        (surface brightness: flux = sum times pixel area).
    flux_scale : float
        Fitted LR flux per unit of (PSF-matched, binned) HR flux.
    footprint : `~numpy.ndarray`
        HR coverage of the fine grid, between 0 and 1 (0 where ``hr`` is NaN).
    method : str
        Resampling method used.
    psf_kernel : `~numpy.ndarray`
        Kernel on the fine grid turning the HR PSF into the LR PSF.
    scale_ratio : float
        LR over HR pixel scale: fitted from the content with
        ``fit_scale=True``, otherwise that of the WCSs (NaN without them).
    scale_ratio_error : float
        1-sigma uncertainty of a fitted ``scale_ratio`` (from the curvature of
        the fit, scaled up by its reduced chi-square when above 1); NaN when
        not fitted.
    rotation : float
        Fitted rotation of the HR grid relative to the start, in degrees
        (0 unless ``fit_rotation=True``).
    """

    lr: NDData
    hr: NDData
    factor: int
    shift: tuple
    shift_error: tuple
    shift_arcsec: tuple
    sky_offset: tuple
    flux_ratio: float
    flux_scale: float
    footprint: np.ndarray = field(repr=False)
    method: str = 'adaptive'
    psf_kernel: np.ndarray = field(default=None, repr=False)
    scale_ratio: float = np.nan
    scale_ratio_error: float = np.nan
    rotation: float = 0.0

    def consistency(self, *, gain=None):
        """Reduced chi-square of the LR image against the registered HR.

        The HR is convolved with `psf_kernel`, summed in ``factor x factor``
        blocks and fitted to the LR with a free scale and background; pixels
        near missing HR data or the edges are left out. The LR noise is its
        uncertainty when present, otherwise the sigma-clipped standard
        deviation of the LR (the background noise).

        Parameters
        ----------
        gain : float, optional
            LR data units to Poisson counts (e.g. electrons per count). When
            given, the Poisson variance of the model is added; otherwise only
            the background noise counts, and bright sources push the value up.

        Returns
        -------
        chi2 : float
            About 1 for a pair that agrees to within the noise.
        """
        if gain is not None and not gain > 0:
            msg = f'gain must be positive, got {gain!r}'
            raise ValueError(msg)
        lr_data = np.asarray(self.lr.data, dtype=float)
        lr_valid = np.isfinite(lr_data)
        if self.lr.mask is not None:
            lr_valid &= ~np.asarray(self.lr.mask, dtype=bool)
        hr_data = np.asarray(self.hr.data, dtype=float)
        hr_valid = np.isfinite(hr_data) & (self.footprint > 0)
        if self.hr.mask is not None:
            hr_valid &= ~np.asarray(self.hr.mask, dtype=bool)
        model = _core.ShiftModel(hr_data, hr_valid, self.psf_kernel, self.factor,
                                 max_shift_fine=0)
        region = _core.fit_region(lr_valid, hr_valid, self.psf_kernel, self.factor,
                                  margin_lr=0)
        if region.sum() < 10:
            msg = 'too few LR pixels with HR coverage to compare the pair'
            raise ValueError(msg)
        binned = model((0.0, 0.0))
        sigma = _core.lr_noise(lr_data, lr_valid & region, self.lr.uncertainty, model=binned)
        return _core.reduced_chi2(np.where(lr_valid, lr_data, 0.0), region, sigma, binned,
                                  gain=gain)


def _parse_psf(value, nd, name):
    """Return ``('fwhm', arcsec)`` or ``('array', normalised array)``."""
    if value is None:
        value = getattr(nd, 'psf', None)
        if value is None:
            msg = (f'no PSF for the {name.upper()} image: pass {name}_psf= (a PSF image at '
                   'its pixel scale, or a FWHM in arcsec) or give it an NDData.psf')
            raise ValueError(msg)
    if isinstance(value, u.Quantity) and value.isscalar:
        value = value.to_value(u.arcsec)
    if np.ndim(value) == 0:
        fwhm = float(value)
        if not np.isfinite(fwhm) or fwhm <= 0:
            msg = f'{name}_psf as a FWHM must be a positive number of arcsec, got {value!r}'
            raise ValueError(msg)
        return 'fwhm', fwhm
    return 'array', _normalise_psf(value, name=f'{name}_psf')


def _check_factor(factor, lr_scale, hr_scale):
    if factor is None:
        factor = max(1, int(round(lr_scale / hr_scale)))
    elif isinstance(factor, bool) or not float(factor).is_integer() or factor < 1:
        msg = f'factor must be a positive integer, got {factor!r}'
        raise ValueError(msg)
    return int(factor)


def _aligned_wcs(lr, hr, factor):
    """Pseudo WCSs for pixel-aligned arrays: hr's is exactly the scaled lr's."""
    if lr.wcs is not None and lr.wcs.has_celestial:
        lr_wcs = lr.wcs
    else:
        scale = float(lr.meta.get('pixel_scale', 1.0)) if lr.meta else 1.0
        lr_wcs = make_wcs(lr.data.shape, scale)
    return lr_wcs, scale_wcs(lr_wcs, factor)


def _aligned_factor(lr_shape, hr_shape, factor):
    ratios = [h / n for h, n in zip(hr_shape, lr_shape, strict=True)]
    if ratios[0] != ratios[1] or not float(ratios[0]).is_integer() or ratios[0] < 1:
        msg = (f'with assume_aligned=True the HR shape must be an integer multiple of the LR '
               f'shape on both axes, got {hr_shape} and {lr_shape}')
        raise ValueError(msg)
    if factor is not None and factor != ratios[0]:
        msg = f'factor={factor!r} disagrees with the shapes ({hr_shape} vs {lr_shape})'
        raise ValueError(msg)
    return int(ratios[0])


def _meta_scale(nd):
    value = nd.meta.get('pixel_scale') if nd.meta else None
    return float(value) if value is not None else None


def _psf_sigma(psf, scale):
    """Gaussian-equivalent sigma of a parsed PSF, in arcsec (``scale``: its pixels)."""
    kind, value = psf
    if kind == 'fwhm':
        return value * _FWHM_TO_SIGMA
    return float(np.sqrt(_core._second_moment(value))) * scale


def _fit_geometry(lr, hr, *, lr_psf, hr_psf, scale_ratio, fit_rotation, max_change):
    """LR WCS (a pseudo one without), HR WCS from the fitted geometry, and the fit."""
    if scale_ratio is not None and not (np.isfinite(scale_ratio) and scale_ratio > 0):
        msg = f'scale_ratio must be a positive LR / HR pixel-scale ratio, got {scale_ratio!r}'
        raise ValueError(msg)
    if not (np.isfinite(max_change) and 0 < max_change < 0.5):
        msg = f'max_scale_change must be between 0 and 0.5, got {max_change!r}'
        raise ValueError(msg)
    with_wcs = all(nd.wcs is not None and nd.wcs.has_celestial for nd in (lr, hr))
    if lr.wcs is not None and lr.wcs.has_celestial:
        lr_wcs = lr.wcs.celestial
    else:
        lr_wcs = make_wcs(lr.data.shape, _meta_scale(lr) or 1.0)
    if scale_ratio is None and not with_wcs:
        lr_meta, hr_meta = _meta_scale(lr), _meta_scale(hr)
        if lr_meta is None or hr_meta is None:
            msg = ('fit_scale=True without a WCS on both images needs the nominal ratio of '
                   'the pixel scales to start from: pass scale_ratio= (LR / HR, e.g. '
                   '0.396 / 0.2 for SDSS and KiDS)')
            raise ValueError(msg)
        scale_ratio = lr_meta / hr_meta
    a0, c0, s0 = _scale.start_geometry(lr_wcs if with_wcs else None,
                                       hr.wcs if with_wcs else None,
                                       lr.data.shape, hr.data.shape, scale_ratio)
    lr_scale = pixel_scale(lr_wcs)
    lr_sigma = _psf_sigma(_parse_psf(lr_psf, lr, 'lr'), lr_scale)
    hr_sigma = _psf_sigma(_parse_psf(hr_psf, hr, 'hr'), lr_scale / s0)
    kernel = np.sqrt(max(lr_sigma ** 2 - hr_sigma ** 2, 0.0)) / (lr_scale / s0)
    lr_data, lr_valid = _valid(lr)
    hr_data, hr_valid = _valid(hr)
    try:
        fit = _scale.fit_scale(np.where(lr_valid, lr_data, 0.0), lr_valid,
                               np.where(hr_valid, hr_data, 0.0), hr_valid, a0=a0, c0=c0, s0=s0,
                               kernel_sigma=kernel, max_change=max_change,
                               fit_rotation=fit_rotation)
    except ValueError as error:
        raise NoOverlapError(str(error)) from None
    # the fitted offset as a displacement of the HR content at the LR centre (LR pixels)
    centre = np.array([(lr.data.shape[0] - 1) / 2.0, (lr.data.shape[1] - 1) / 2.0])
    moved = fit.offset + fit.matrix @ centre - c0
    start_shift = -np.linalg.solve(a0, moved)
    return lr_wcs, _scale.fitted_wcs(lr_wcs, fit), fit, start_shift


def _max_shift_lr(max_shift, lr_scale, lr_shape):
    if max_shift is None:
        return max(1.0, min(lr_shape) / 4.0)
    if isinstance(max_shift, u.Quantity):
        max_shift = max_shift.to_value(u.arcsec) / lr_scale
    max_shift = float(max_shift)
    if not np.isfinite(max_shift) or max_shift <= 0:
        msg = f'max_shift must be positive (LR pixels, or an angle), got {max_shift!r}'
        raise ValueError(msg)
    return max_shift


def _valid(nd):
    data = np.asarray(nd.data, dtype=float)
    valid = np.isfinite(data)
    if nd.mask is not None:
        valid &= ~np.asarray(nd.mask, dtype=bool)
    return data, valid


def _sky_offset(lr_wcs, shape, shift):
    """HR-WCS minus LR-WCS coordinates of the same source, in arcsec."""
    y0, x0 = (shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0
    ra0, dec0 = lr_wcs.pixel_to_world_values(x0, y0)
    ra1, dec1 = lr_wcs.pixel_to_world_values(x0 - shift[1], y0 - shift[0])
    start = SkyCoord(ra0 * u.deg, dec0 * u.deg)
    dra, ddec = start.spherical_offsets_to(SkyCoord(ra1 * u.deg, dec1 * u.deg))
    return float(dra.to_value(u.arcsec)), float(ddec.to_value(u.arcsec))


# When and where an image was taken: the registered HR keeps its own (the LR's grid, not
# the LR's epoch), or none.
_OBSERVATION_ATTRS = ('dateobs', 'dateavg', 'datebeg', 'dateend', 'mjdobs', 'mjdavg',
                      'mjdbeg', 'mjdend', 'jepoch', 'bepoch', 'tstart', 'tstop', 'xposure',
                      'telapse', 'timesys', 'obsgeo')


def _with_observation_of(wcs, source):
    """``wcs`` with the observation date, time and place of ``source`` (another WCS or None)."""
    for attr in _OBSERVATION_ATTRS:
        value = getattr(source.wcs, attr) if source is not None else None
        if value is None:
            value = getattr(type(wcs.wcs)(), attr)
        setattr(wcs.wcs, attr, value)
    wcs.wcs.set()
    return wcs


def _resampled_uncertainty(hr, hr_valid, hr_wcs, target, shape, *, method, surface_brightness,
                           area_ratio, valid):
    """The HR uncertainty on the fine grid (see `astrolens.io.resampled_variance_factor`)."""
    variance = as_variance(hr.uncertainty)
    if variance is None:
        return None
    variance = np.where(hr_valid & np.isfinite(variance), variance, np.nan)
    resampled, _, ok = _core.reproject_flux(variance, hr_wcs, target, shape, method=method,
                                            surface_brightness=True)
    resampled = np.where(ok & valid, resampled, np.nan)
    resampled = np.clip(resampled, 0.0, None) * resampled_variance_factor(
        area_ratio, surface_brightness=surface_brightness)
    dtype = np.float32 if np.asarray(hr.data).dtype == np.float32 else np.float64
    return like_uncertainty(resampled, hr.uncertainty, dtype=dtype)


def register_pair(lr, hr, *, factor=None, lr_psf=None, hr_psf=None, method='adaptive',
                  upsample_factor=100, max_shift=None, assume_aligned=False, fit_scale=False,
                  scale_ratio=None, fit_rotation=False, max_scale_change=0.25):
    """Put ``hr`` on an exact ``factor`` x grid of ``lr``, conserving flux.

    The LR image is the reference and is left untouched. The HR image is
    resampled onto ``scale_wcs(lr.wcs, factor)``; the residual offset between
    the two is measured after matching the HR PSF to the LR PSF and summing
    the HR into LR pixels, and is corrected through the WCS so that the final
    HR comes from a single resampling of the original HR image.

    The offset is first estimated by phase cross-correlation, then refined by
    a least-squares fit of ``lr = a * bin(kernel * shift(hr)) + b`` (flux
    scale ``a`` and background ``b`` free; the shift applied as a Fourier
    phase ramp), whose Jacobian gives the error. After correction the offset
    is re-measured on the product and, if not below 0.005 LR pixel, the HR
    is resampled again from the original with the summed correction.

    Parameters
    ----------
    lr, hr : array-like, `~astropy.nddata.NDData`, HDU or path
        Anything `astrolens.io.to_nddata` accepts; both need a celestial WCS
        unless ``assume_aligned`` is true. Pixel values are flux per pixel
        unless the unit is per solid angle (surface brightness). Masked and
        non-finite pixels are ignored.
    factor : int, optional
        Grid ratio; by default the nearest integer to the ratio of the
        pixel scales (HSC 0.168"/px over HST 0.05"/px gives 3).
    lr_psf, hr_psf : `~numpy.ndarray`, float or `~astropy.units.Quantity`, optional
        PSF images at each image's own pixel scale and orientation, or a
        Gaussian FWHM (a number is in arcsec). By default ``NDData.psf``;
        without either a `ValueError` asks for them.
    method : {'adaptive', 'exact', 'interp'}, optional
        Resampling: `reproject.reproject_adaptive` with flux conservation
        (default, anti-aliased), `reproject.reproject_exact` or bicubic
        `reproject.reproject_interp` (both multiplied by the ratio of pixel
        areas for flux-per-pixel data).
    upsample_factor : int, optional
        Upsampling of the phase cross-correlation that gives the start of the
        fit (1 / ``upsample_factor`` LR pixel).
    max_shift : float or `~astropy.units.Quantity`, optional
        Largest offset accepted, in LR pixels or as an angle; default a
        quarter of the smaller LR side.
    assume_aligned : bool, optional
        Treat the arrays as aligned pixel grids (``factor`` from the shapes),
        ignoring any HR WCS. The offset is still measured and corrected.
        Without a LR WCS, a PSF FWHM is read in units of
        ``lr.meta['pixel_scale']`` (default 1 per LR pixel).
    fit_scale : bool, optional
        Measure the ratio of the pixel scales (and the offset) from the
        content instead of trusting the WCSs: for pairs without a WCS, or
        whose WCS scale is wrong (cutouts of two surveys can be several per
        cent off their nominal scales). The HR image, blurred by a Gaussian
        from its PSF to the LR PSF (width fitted too) and by the LR pixel,
        is sampled at the LR pixel centres and fitted to the LR with flux
        scale and background free (`scipy.optimize.least_squares`, started
        from the best correlation over a grid of ratios within
        ``max_scale_change``). The HR is then resampled once with the fitted
        geometry; ``factor`` defaults to the nearest integer to the fitted
        ratio. The start is the WCSs when both images have one, otherwise
        the two image centres together with axes aligned at
        ``scale_ratio``; without a LR WCS the output has none and a PSF FWHM
        is in units of ``lr.meta['pixel_scale']`` (default 1 per LR pixel).
    scale_ratio : float, optional
        Nominal LR / HR pixel-scale ratio the fit starts from (with
        ``fit_scale``). Default: that of the WCSs, or of the two
        ``meta['pixel_scale']``; without either it is required.
    fit_rotation : bool, optional
        With ``fit_scale``, fit a small rotation of the HR grid too (within
        5 degrees of the start).
    max_scale_change : float, optional
        With ``fit_scale``, the largest relative departure of the ratio from
        its start that is searched (default 25%).

    Returns
    -------
    pair : `RegisteredPair`

    Raises
    ------
    ValueError
        If either image has no celestial WCS (and ``assume_aligned`` is
        false), a PSF is missing, or an option is invalid.
    astropy.nddata.NoOverlapError
        If the images do not overlap, or share too few valid pixels to
        measure an offset.
    """
    if method not in METHODS:
        msg = f'method must be one of {METHODS}, got {method!r}'
        raise ValueError(msg)
    if isinstance(upsample_factor, bool) or not float(upsample_factor).is_integer() \
            or upsample_factor < 1:
        msg = f'upsample_factor must be a positive integer, got {upsample_factor!r}'
        raise ValueError(msg)
    lr, hr = to_nddata(lr), to_nddata(hr)
    if lr.data.ndim != 2 or hr.data.ndim != 2:
        msg = 'register_pair needs two 2-D images, not batches'
        raise ValueError(msg)
    if fit_scale and assume_aligned:
        msg = ('fit_scale=True measures the geometry that assume_aligned=True takes as '
               'given: pass one of them')
        raise ValueError(msg)
    if (fit_rotation or scale_ratio is not None) and not fit_scale:
        msg = 'scale_ratio and fit_rotation are options of fit_scale=True'
        raise ValueError(msg)
    fit = None
    if fit_scale:
        lr_wcs, hr_wcs, fit, start_shift = _fit_geometry(
            lr, hr, lr_psf=lr_psf, hr_psf=hr_psf, scale_ratio=scale_ratio,
            fit_rotation=fit_rotation, max_change=max_scale_change)
        factor = _check_factor(factor, fit.ratio, 1.0)
    elif assume_aligned:
        factor = _aligned_factor(lr.data.shape, hr.data.shape, factor)
        lr_wcs, hr_wcs = _aligned_wcs(lr, hr, factor)
    else:
        if lr.wcs is None or hr.wcs is None or not (lr.wcs.has_celestial
                                                    and hr.wcs.has_celestial):
            msg = ('register_pair needs a celestial WCS on both images; pass '
                   'assume_aligned=True for pixel-aligned arrays, or fit_scale=True to '
                   'measure the scale ratio and offset from the content')
            raise ValueError(msg)
        lr_wcs, hr_wcs = lr.wcs, hr.wcs
        factor = _check_factor(factor, pixel_scale(lr_wcs), pixel_scale(hr_wcs))
    lr_scale = pixel_scale(lr_wcs)
    max_shift = _max_shift_lr(max_shift, lr_scale, lr.data.shape)
    lr_psf = _parse_psf(lr_psf, lr, 'lr')
    hr_psf = _parse_psf(hr_psf, hr, 'hr')

    fine_wcs = scale_wcs(lr_wcs, factor)
    fine_shape = (factor * lr.data.shape[0], factor * lr.data.shape[1])
    if not _core.overlaps(hr_wcs, hr.data.shape, fine_wcs, fine_shape):
        msg = 'the HR image does not overlap the LR image'
        raise NoOverlapError(msg)
    surface_brightness = _core.is_surface_brightness(hr.unit)
    hr_data, hr_valid_in = _valid(hr)
    hr_input = np.where(hr_valid_in, hr_data, np.nan)
    lr_data, lr_valid = _valid(lr)

    lr_fine = _core.lr_psf_on_fine_grid(lr_psf, factor=factor, lr_scale=lr_scale)
    hr_fine = _core.hr_psf_on_fine_grid(hr_psf, hr_wcs=hr_wcs, fine_wcs=fine_wcs,
                                        method=method)
    kernel, broader = _core.fine_kernel(lr_psf, hr_psf, lr_fine, hr_fine,
                                        fine_scale=lr_scale / factor)
    if not broader:
        warnings.warn('the LR PSF is not broader than the HR PSF; the HR is compared '
                      'with the LR without PSF matching', AstrolensUserWarning)
    lr_filled = np.where(lr_valid, lr_data, 0.0)

    total = np.zeros(2)
    error = np.full(2, np.inf)
    flux_scale = np.nan
    for _ in range(_MAX_ROUNDS):
        target = _core.shifted_wcs(fine_wcs, factor * total)
        out, footprint, valid = _core.reproject_flux(
            hr_input, hr_wcs, target, fine_shape, method=method,
            surface_brightness=surface_brightness)
        if not valid.any():
            msg = 'the HR image has no valid pixel on the LR grid'
            raise NoOverlapError(msg)
        remaining = max_shift - np.abs(total).max()
        model = _core.ShiftModel(out, valid, kernel, factor,
                                 max_shift_fine=factor * max(remaining, 1.0))
        region = _core.fit_region(lr_valid, valid, kernel, factor, margin_lr=1.0)
        if region.sum() < 16:
            msg = ('the LR and HR images share too few valid pixels to measure an '
                   f'offset ({int(region.sum())} LR pixels)')
            raise NoOverlapError(msg)
        sigma = _core.lr_noise(lr_data, lr_valid & region, lr.uncertainty,
                               model=model((0.0, 0.0)))
        step, error, flux_scale, _, _ = _core.measure_shift(
            lr_filled, region, sigma, model, upsample_factor=int(upsample_factor),
            max_shift=max(remaining, 1e-3), poisson=lr.uncertainty is None)
        if np.abs(step).max() < _CONVERGED:
            break
        total = total + step
        if np.abs(total).max() > max_shift:
            msg = (f'the offset found ({total[0]:.2f}, {total[1]:.2f}) LR pixels exceeds '
                   f'max_shift={max_shift:.2f}')
            raise ValueError(msg)
    else:
        warnings.warn('the offset fit did not converge to 0.005 LR pixel in '
                      f'{_MAX_ROUNDS} rounds', AstrolensUserWarning)
        # the last resampling used the previous total
        total = total - step

    area_in = 1.0
    area_out = 1.0
    if surface_brightness:
        area_in = pixel_scale(hr_wcs) ** 2
        area_out = (lr_scale / factor) ** 2
    before = _core.flux_before(hr_data, hr_valid_in, hr_wcs, target, valid) * area_in
    after = float(np.sum(out[valid])) * area_out
    flux_ratio = after / before if before != 0 else np.nan

    uncertainty = _resampled_uncertainty(hr, hr_valid_in, hr_wcs, target, fine_shape,
                                         method=method, surface_brightness=surface_brightness,
                                         area_ratio=(lr_scale / factor) ** 2
                                         / pixel_scale(hr_wcs) ** 2, valid=valid)

    if fit is not None:
        total = total + start_shift
        ratio, ratio_error, rotation = fit.ratio, fit.ratio_error, fit.rotation
    else:
        ratio, ratio_error, rotation = lr_scale / pixel_scale(hr_wcs), np.nan, 0.0
    shift = (float(total[0]), float(total[1]))
    meta = resampled_meta(hr.meta, pixel_scale(hr_wcs) * factor / lr_scale, keep_psf=True)
    meta.update({'registration_factor': factor, 'registration_method': method,
                 'registration_shift_y': shift[0], 'registration_shift_x': shift[1],
                 'registration_shift_error_y': float(error[0]),
                 'registration_shift_error_x': float(error[1]),
                 'registration_flux_ratio': float(flux_ratio),
                 'registration_scale_ratio': float(ratio),
                 'registration_scale_ratio_error': float(ratio_error),
                 'registration_rotation': float(rotation),
                 'pixel_scale': lr_scale / factor})
    no_lr_wcs = lr.wcs is None or not lr.wcs.has_celestial
    out_wcs = None
    if not ((assume_aligned or fit is not None) and no_lr_wcs):
        out_wcs = _with_observation_of(scale_wcs(lr.wcs, factor),
                                       hr.wcs if hr.wcs is not None and not assume_aligned
                                       else None)
    registered = NDData(out, wcs=out_wcs, unit=hr.unit, mask=~valid, meta=meta, psf=hr_fine,
                        uncertainty=uncertainty)
    placed_by_wcs = out_wcs is not None and (fit is None or (hr.wcs is not None
                                                             and hr.wcs.has_celestial))
    sky = _sky_offset(lr_wcs, lr.data.shape, total) if placed_by_wcs else (np.nan,) * 2
    return RegisteredPair(lr=lr, hr=registered, factor=factor, shift=shift,
                          shift_error=(float(error[0]), float(error[1])),
                          shift_arcsec=(shift[0] * lr_scale, shift[1] * lr_scale),
                          sky_offset=sky, flux_ratio=float(flux_ratio),
                          flux_scale=float(flux_scale), footprint=footprint,
                          method=method, psf_kernel=kernel, scale_ratio=float(ratio),
                          scale_ratio_error=float(ratio_error), rotation=float(rotation))
