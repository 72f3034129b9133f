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
4. the result is put back in the input's units with the model's
   ``flux_gain_`` (``block_mean(hr) / lr`` of its training pairs, a ratio of
   sums: ``1/scale**2`` for flux per pixel); a surface brightness (a unit per
   solid angle) is multiplied by ``scale**2`` more;
5. the flux is corrected (`astrolens.models._sr_flux.correct_flux`).

Noise-aware networks (``noise_channel``) are told the noise level of the
input: the median standard deviation of its uncertainty where it has one,
else a robust estimate from its pixel-to-pixel differences (`noise_level`).
`check_domain` warns when an input lies outside what the model was trained
for (pixel scale from the WCS, signal-to-noise ratio), as its configuration
records under ``domain``.

The functions take the fitted estimator (``model_``, ``scale``, ``name_``,
``arch``) as their first argument; `SuperResolver` delegates to them.
"""

import numpy as np
import torch
from astropy import units as u
from astropy.io import fits
from astropy.nddata import NDData, StdDevUncertainty
from scipy import ndimage

from astrolens.io import (
    as_image_array,
    combine_in_quadrature,
    like_uncertainty,
    resampled_meta,
    restore_type,
    to_nddata,
    upsample_uncertainty,
)
from astrolens.models._sr_deconvolve import observation_kernel, refine_to_noise
from astrolens.models._sr_flux import correct_flux, match_output_psf
from astrolens.models._sr_networks import psf_condition_values
from astrolens.models._sr_psf import (
    HEADER_PSF_KEYWORDS,
    output_psf_image,
    pixel_scale_of,
    resolve_input_psf,
)
from astrolens.models._sr_support import gate_unsupported
from astrolens.models._sr_uncertainty import (
    DEFAULT_SAMPLES,
    d4_array,
    input_noise_on_output,
    model_error_coefficients,
    resampled_spread,
    total_sigma,
)
from astrolens.models._tiling import tiled_apply
from astrolens.utils import bicubic_upscale, psf_fwhm, robust_sigma
from astrolens.version import __version__
from astrolens.wcs_utils import scale_wcs

__all__ = ['FLUX_MODES', 'bicubic_upscale', 'check_domain', 'check_psf', 'd4', 'd4_inverse',
           'enhance', 'enhance_array', 'enhance_batch', 'enhance_with_uncertainty', 'fill_bad',
           'is_surface_brightness', 'noise_level', 'norm_params', 'uncertainty_sigma',
           'uncertainty_std']

FLUX_MODES = ('local', 'total', 'block', None)


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



def noise_level(image, bad=None):
    """Robust noise standard deviation of one image (its good pixels).

    ``1.4826 * MAD / sqrt(2)`` of the differences between neighbouring good
    pixels, along both axes: smooth structure and a few sources do not
    count; correlated noise is underestimated.
    """
    if bad is not None and np.any(bad):
        image = np.array(image, dtype=np.float64)
        image[np.asarray(bad, dtype=bool)] = np.nan
    return robust_sigma(image)


def uncertainty_std(uncertainty, shape):
    """Standard deviations of an NDData uncertainty, per pixel of ``shape``, or None."""
    if uncertainty is None:
        return None
    try:
        std = np.asarray(uncertainty.represent_as(StdDevUncertainty).array, dtype=np.float64)
    except (AttributeError, TypeError, ValueError, NotImplementedError):
        return None
    if std.ndim == 0:
        return np.full(shape, float(std))
    return std if std.shape == tuple(shape) else None


def uncertainty_sigma(uncertainty, bad):
    """Median standard deviation of an NDData uncertainty over good pixels, or None."""
    std = uncertainty_std(uncertainty, bad.shape)
    if std is None:
        return None
    values = std[~bad & np.isfinite(std) & (std > 0)]
    return float(np.median(values)) if values.size else None


def check_psf(psf, *, name='psf'):
    """The PSF of `SuperResolver.enhance`: a positive FWHM or a 2-D image (else ValueError)."""
    if np.ndim(psf) == 0:
        try:
            value = float(psf)
        except (TypeError, ValueError):
            value = float('nan')
        if not (np.isfinite(value) and value > 0):
            msg = (f'{name} must be a positive FWHM in input pixels, an angle, a 2-D image '
                   f"or 'stars', got {psf!r}")
            raise ValueError(msg)
        return value
    image = np.asarray(psf, dtype=np.float64)
    if image.ndim != 2 or min(image.shape) < 3:
        msg = f'{name} must be a 2-D image at least 3 pixels on a side, got shape {image.shape}'
        raise ValueError(msg)
    if not np.all(np.isfinite(image)) or not image.sum() > 0:
        msg = f'{name} must be finite with a positive sum'
        raise ValueError(msg)
    return image


def check_domain(est, image, bad, *, wcs=None, sigma=None, psf=None):
    """Warn (`~astrolens.utils.AstrolensUserWarning`) when an input is outside the model's domain.

    The domain is ``est.config_['domain']``: ``input_pixel_scale_arcsec``
    (checked against the WCS, when there is one), ``snr`` (peak signal
    over the noise level) and ``lr_psf_fwhm_lr_pixels`` (checked against
    ``psf``, the input's PSF image or FWHM in input pixels, when it is
    known). Models without a recorded domain are not checked.

    Returns
    -------
    problems : list of str
        What was warned about.
    """
    import warnings

    from astrolens.utils import AstrolensUserWarning

    domain = (getattr(est, 'config_', None) or {}).get('domain') or {}
    problems = []
    scale_range = domain.get('input_pixel_scale_arcsec')
    if scale_range and wcs is not None and getattr(wcs, 'has_celestial', False):
        from astropy.wcs.utils import proj_plane_pixel_scales

        pixel = float(np.mean(proj_plane_pixel_scales(wcs.celestial)) * 3600.0)
        if not scale_range[0] <= pixel <= scale_range[1]:
            problems.append(f'its pixel scale {pixel:.3g}" is outside the '
                            f'{scale_range[0]:g}-{scale_range[1]:g}" the model was trained for')
    snr_range = domain.get('snr')
    if snr_range:
        good = image[~bad]
        sigma = sigma if sigma is not None else noise_level(image, bad)
        if good.size and sigma > 0:
            snr = float(np.percentile(good, 99.9) - np.median(good)) / sigma
            if not snr_range[0] <= snr <= snr_range[1]:
                problems.append(f'its peak signal-to-noise ratio ~{snr:.3g} is outside the '
                                f'{snr_range[0]:g}-{snr_range[1]:g} the model was trained for')
    fwhm_range = domain.get('lr_psf_fwhm_lr_pixels')
    if fwhm_range and psf is not None:
        fwhm = float(psf) if np.ndim(psf) == 0 else psf_fwhm(psf)
        if not fwhm_range[0] <= fwhm <= fwhm_range[1]:
            problems.append(f'its PSF FWHM {fwhm:.3g} pixels is outside the '
                            f'{fwhm_range[0]:g}-{fwhm_range[1]:g} pixels the model was trained for')
    if problems:
        msg = (f'this image is outside the domain of the super-resolution model '
               f'{getattr(est, "name_", "?")!r}: ' + '; '.join(problems)
               + '; its output there is not validated (see docs/superres.rst)')
        warnings.warn(msg, AstrolensUserWarning, stacklevel=4)
    return problems


def _predict_fn(model, device, *, uncertainty, noise=None, condition=None):
    model = model.to(device).eval()
    # constant channels after the image: the noise level, then a conditioned network's PSFs
    constants = ([] if noise is None else [float(noise)]) + [float(v) for v in condition or ()]

    @torch.no_grad()
    def run(batch):
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))[:, None]
        if constants:
            x = torch.cat([x] + [torch.full_like(x, v) for v in constants], dim=1)
        x = x.to(device)
        if not uncertainty:
            return model(x).cpu().numpy()
        outs = torch.stack([d4_inverse(model(d4(x, k).contiguous()), k) for k in range(8)])
        mean, std = outs.mean(dim=0), outs.std(dim=0)
        return torch.cat([mean, std], dim=1).cpu().numpy()
    return run


def enhance_array(est, image, bad, *, surface_brightness, tile, overlap, batch_size,
                  uncertainty, progress, flux, noise=None, psf=None, output_fwhm=None,
                  deconvolve=False, noise_map=None, report=None, support_nsigma=None):
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
    noise : float, optional
        Noise standard deviation of the input (its units), for noise-aware
        networks; default `noise_level` of the image.
    psf, output_fwhm, deconvolve : optional
        The input's PSF, the output PSF wanted and whether to deconvolve on to the
        noise (see `SuperResolver.enhance`); without ``psf`` the network's own
        sharpening is kept.
    noise_map : `~numpy.ndarray`, optional
        Per-pixel noise standard deviation of the input (its uncertainty),
        at which ``deconvolve`` stops instead of the single ``noise``.
    report : dict, optional
        Receives ``'deconvolve_iterations'`` when the output was deconvolved,
        ``'support_fraction'`` when it was gated.
    support_nsigma : float, optional
        Gate the output where the input supports nothing at this significance
        (`astrolens.models._sr_support.gate_unsupported`).
    """
    s = int(est.scale)
    good = ~bad
    filled = fill_bad(np.where(bad, 0.0, image), bad).astype(np.float64)
    offset, spread = norm_params(filled)
    x = ((filled - offset) / spread).astype(np.float32)
    device = est._device()
    noise_norm = None
    sigma = noise if noise is not None else noise_level(filled, bad)
    if getattr(est.model_, 'noise_channel', False):
        noise_norm = max(float(sigma) / spread, 1e-6)
    condition = None
    if getattr(est.model_, 'psf_condition', False):
        # told the PSFs when the input's is known, blind (zeros) otherwise
        input_fwhm = None if psf is None else (float(psf) if np.ndim(psf) == 0 else psf_fwhm(psf))
        condition = psf_condition_values(input_fwhm, output_fwhm, scale=s)
    out = tiled_apply(_predict_fn(est.model_, device, uncertainty=uncertainty, noise=noise_norm,
                                  condition=condition),
                      x, scale=s, tile=tile, overlap=overlap, batch_size=batch_size,
                      channels=2 if uncertainty else 1, progress=progress)
    gain = float(getattr(est, 'flux_gain_', None) or 1.0 / (s * s))
    area = gain * s * s if surface_brightness else gain
    # in place: the output of a large image is hundreds of MiB per copy
    sr = out[0].astype(np.float64)
    sr *= spread
    sr += offset
    sr *= area
    std = None
    if uncertainty:
        std = out[1].astype(np.float64)
        std *= spread * area
    del out
    lr_filled = np.where(good, image, 0.0)
    blur = 'fit'
    if psf is not None:
        sr, blur = match_output_psf(sr, lr_filled, good, scale=s,
                                    surface_brightness=surface_brightness, psf=psf,
                                    output_fwhm=output_fwhm, overwrite=True)
    sr, factor = correct_flux(sr, lr_filled, good, scale=s, mode=flux, blur=blur,
                              surface_brightness=surface_brightness,
                              smooth=float(getattr(est, 'flux_smooth_', 2.0)),
                              noise=float(sigma) if np.isfinite(sigma) else None,
                              threshold=getattr(est, 'flux_threshold_', None),
                              overwrite=True)
    if deconvolve and (psf is None or flux != 'local'):
        import warnings

        from astrolens.utils import AstrolensUserWarning

        warnings.warn("deconvolve=True needs the input's PSF (psf=, --psf or --psf-fwhm, a PSF the "
                      "NDData or FITS file carries, or a seeing card) and flux='local' "
                      f"(got psf={'None' if psf is None else 'given'}, "
                      f'flux={flux!r}); the output was not deconvolved', AstrolensUserWarning,
                      stacklevel=4)
    if deconvolve and psf is not None and flux == 'local' and np.isfinite(sigma):
        # the network deconvolves by a typical amount; with the PSF known, carry on until
        # the output explains the input to within its noise (`refine_to_noise`)
        # observed through the PSF itself, wings included: a Gaussian of its width leaves
        # light in the wings unexplained, and the iterations would run on to fit it
        kernel, _ = observation_kernel(psf, scale=s, output_fwhm=output_fwhm)
        refined = {}
        sr, n_iter = refine_to_noise(sr, lr_filled, good, scale=s, blur=kernel,
                                     noise=float(sigma) if noise_map is None else noise_map,
                                     surface_brightness=surface_brightness, report=refined)
        if report is not None:
            # the caller warns, once per image or batch (`_warn_not_deconvolved`)
            report['deconvolve_iterations'] = int(n_iter)
            report['deconvolve_stop'] = refined.get('stop')
            for key in ('sky_ratio', 'first_sky_ratio'):
                if key in refined:
                    report[f'deconvolve_{key}'] = refined[key]
        if n_iter:
            sr, _ = correct_flux(sr, lr_filled, good, scale=s, mode='total',
                                 surface_brightness=surface_brightness)
    if support_nsigma is not None and np.isfinite(sigma):
        sr, supported = gate_unsupported(
            sr, image, bad, scale=s, noise=float(sigma) if noise_map is None else noise_map,
            nsigma=support_nsigma, surface_brightness=surface_brightness)
        if report is not None:
            report['support_fraction'] = supported
    if std is not None and factor is not None:
        std = std * np.abs(factor)
    return sr, std


def enhance_with_uncertainty(est, image, bad, *, uncertainty, uncertainty_samples, noise,
                             noise_std=None, noise_map=None, report=None, progress, **opts):
    """`enhance_array` with the per-pixel uncertainty of ``uncertainty`` (a checked method).

    Returns ``(sr, std or None, passes)``: ``passes`` counts the forward passes of a
    resampled method (None for the others), whose ``std`` already holds the input's noise
    (drawn from ``noise_std``, per input pixel, else ``noise``); the others' ``std`` is the
    8-fold symmetry spread (``'d4'``) or None.
    """
    if uncertainty not in ('resample', 'calibrated'):
        sr, std = enhance_array(est, image, bad, uncertainty=uncertainty == 'd4', noise=noise,
                                noise_map=noise_map, report=report, progress=progress, **opts)
        return sr, std, None
    psf = opts.pop('psf')
    if noise is None:
        noise = noise_level(fill_bad(np.where(bad, 0.0, image), bad), bad)

    def run(img, bd, k):
        # the pass sees the image in the k-th symmetry: so must its PSF and noise map
        return enhance_array(est, img, bd, uncertainty=False, noise=noise, progress=False,
                             psf=d4_array(psf, k) if np.ndim(psf) == 2 else psf,
                             noise_map=None if noise_map is None else d4_array(noise_map, k),
                             report=report if k == 0 else None, **opts)[0]

    drawn = noise if noise_std is None else noise_std
    spread = resampled_spread(run, image, bad, drawn, samples=uncertainty_samples,
                              seed=int(est.seed or 0), progress=progress)
    floor = input_noise_on_output(drawn, est.scale, surface_brightness=opts['surface_brightness'])
    std = total_sigma(spread, spread.mean, method=uncertainty, factor=int(est.scale),
                      input_noise=floor, coefficients=model_error_coefficients(est))
    return spread.mean, std, spread.passes


def enhance(est, data, *, tile, overlap, batch_size, uncertainty, progress, flux, hdu,
            bad_bits=None, max_pixels='default', psf=None, output_fwhm=None, deconvolve=False,
            uncertainty_samples=DEFAULT_SAMPLES, support_nsigma=None):
    """`SuperResolver.enhance` for a fitted ``est``, with the options checked there.

    ``uncertainty`` is None or one of `astrolens.models._sr_uncertainty.UNCERTAINTY_METHODS`.
    """
    opts = {'tile': int(tile), 'overlap': int(overlap), 'batch_size': int(batch_size),
            'uncertainty': uncertainty, 'uncertainty_samples': int(uncertainty_samples),
            'flux': flux, 'psf': psf, 'output_fwhm': output_fwhm,
            'deconvolve': bool(deconvolve), 'support_nsigma': support_nsigma}
    if isinstance(data, np.ndarray) and data.ndim in (3, 4):
        return enhance_batch(est, data, progress=progress, **opts)
    read = {} if max_pixels == 'default' else {'max_pixels': max_pixels}
    nd = to_nddata(data, hdu=hdu, bad_bits=bad_bits, **read)
    image = np.asarray(nd.data)
    if image.ndim == 3:
        # an NDData or FITS cube (bands, y, x): plane by plane, the band axis of its WCS kept
        return restore_type(_enhance_cube(est, nd, progress=progress, opts=opts), data)
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
    sigma = uncertainty_sigma(nd.uncertainty, bad)
    if sigma is None:
        sigma = noise_level(image, bad)       # once: seconds on a large image
    # the input's PSF and where it came from (argument, NDData, PSF HDU, header, stars, prior)
    resolved = resolve_input_psf(nd, opts['psf'], check_psf=check_psf)
    opts['psf'] = resolved.psf
    check_domain(est, image, bad, wcs=nd.wcs, sigma=sigma, psf=opts['psf'])
    report = {}
    # per pixel, the uncertainty tells deconvolve where bright sources are noisier (Poisson)
    noise_map = uncertainty_std(nd.uncertainty, image.shape) if opts['deconvolve'] else None
    # the resampled uncertainties draw the input's noise from its uncertainty where it has one
    noise_std = uncertainty_std(nd.uncertainty, image.shape) \
        if opts['uncertainty'] in ('resample', 'calibrated') else None
    sr, std, passes = enhance_with_uncertainty(est, image, bad, surface_brightness=sb,
                                               progress=progress, noise=sigma,
                                               noise_std=noise_std, noise_map=noise_map,
                                               report=report, **opts)
    _warn_not_deconvolved([report])
    s = int(est.scale)
    up = lambda a: np.repeat(np.repeat(a, s, axis=0), s, axis=1)  # noqa: E731
    sr[up(~finite)] = np.nan
    dtype = np.float32 if image.dtype == np.float32 else np.float64
    mask = up(bad) if bad.any() else None
    # the input's header cards and astrolens entries, rewritten for the finer grid
    meta = resampled_meta(nd.meta, s, role='SR' if 'role' in (nd.meta or {}) else None)
    meta.update({'sr_model': est.name_, 'sr_version': __version__, 'sr_scale': s,
                 'sr_flux': 'none' if flux is None else flux, 'sr_arch': est.arch})
    if opts['psf'] is not None:
        meta['sr_output_fwhm'] = float(output_fwhm)      # output pixels
    out_fwhm = float(output_fwhm) if opts['psf'] is not None else est._output_fwhm()
    meta.update(_psf_meta(resolved, out_fwhm, pixel_scale_of(nd), s))
    if isinstance(meta.get('header'), fits.Header):
        # the input's seeing cards describe a PSF the output no longer has (SRPSFIN keeps it)
        for key, _ in HEADER_PSF_KEYWORDS:
            meta['header'].remove(key, ignore_missing=True, remove_all=True)
    if support_nsigma is not None and 'support_fraction' in report:
        meta['sr_support_nsigma'] = float(support_nsigma)
        meta['sr_support_fraction'] = _sig(report['support_fraction'])
    if 'deconvolve_iterations' in report:
        # how far deconvolution went, why it stopped, its sky rms over bicubic's (SRDEC* cards)
        meta['sr_deconvolve_iterations'] = report['deconvolve_iterations']
        meta['sr_deconvolve_stop'] = report['deconvolve_stop']
        if 'deconvolve_sky_ratio' in report:
            meta['sr_deconvolve_sky_ratio'] = _sig(report['deconvolve_sky_ratio'])
    wcs = scale_wcs(nd.wcs, s) if nd.wcs is not None else None
    if opts['uncertainty'] is not None:
        meta['sr_uncertainty'] = opts['uncertainty']
        meta['sr_uncertainty_passes'] = 8 if passes is None else int(passes)
    if passes is None:
        # the input uncertainty, propagated as a flux-conserving upsampling, plus the
        # network's own symmetry spread ('d4') in quadrature
        propagated = upsample_uncertainty(nd.uncertainty, s, surface_brightness=sb, dtype=dtype)
        unc = combine_in_quadrature(propagated, std, dtype=dtype)
    else:
        # the input's noise went through the network in the draws: not added again
        unc = like_uncertainty(std ** 2, nd.uncertainty, dtype=dtype)
    return restore_type(NDData(sr.astype(dtype), wcs=wcs, unit=nd.unit, mask=mask, meta=meta,
                               uncertainty=unc, psf=output_psf_image(out_fwhm)), data)


def _psf_meta(resolved, out_fwhm, pixel_scale, scale):
    """The ``sr_psf_*`` entries (`astrolens.io.SR_PSF_CARDS`) of an output of PSF ``out_fwhm``."""
    meta = {'sr_psf_source': resolved.source, 'sr_psf_out_pix': _sig(out_fwhm)}
    if pixel_scale is not None:
        meta['sr_psf_out'] = _sig(out_fwhm * pixel_scale / scale)
    if resolved.fwhm is not None:
        meta['sr_psf_in_pix'] = _sig(resolved.fwhm)
        if resolved.fwhm_error is not None:
            meta['sr_psf_in_err_pix'] = _sig(resolved.fwhm_error)
        if pixel_scale is not None:
            meta['sr_psf_in'] = _sig(resolved.fwhm * pixel_scale)
            if resolved.fwhm_error is not None:
                meta['sr_psf_in_err'] = _sig(resolved.fwhm_error * pixel_scale)
    if resolved.n_stars is not None:
        meta['sr_psf_nstars'] = int(resolved.n_stars)
    return meta


def _warn_not_deconvolved(reports):
    """One warning for the images ``deconvolve=True`` left alone because of the sky guard."""
    ratios = [r['deconvolve_first_sky_ratio'] for r in reports
              if r.get('deconvolve_stop') == 'sky-rms-first']
    if not ratios:
        return
    import warnings

    from astrolens.utils import AstrolensUserWarning

    which = '' if len(reports) == 1 else f' on {len(ratios)} of {len(reports)} images'
    warnings.warn(f'deconvolve=True: the first Richardson-Lucy iteration would raise the sky '
                  f"rms to {max(ratios):.2f}x bicubic's{which}, so the output was not "
                  'deconvolved', AstrolensUserWarning, stacklevel=4)


def _sig(value):
    """``value`` to 5 significant figures (a FITS card need not carry float noise)."""
    return float(f'{value:.5g}')


def _enhance_cube(est, nd, *, progress, opts):
    """Enhance a ``(bands, y, x)`` NDData plane by plane; a 3-D WCS keeps its band axis."""
    from tqdm.auto import tqdm

    plane_wcs = None
    if nd.wcs is not None:
        plane_wcs = nd.wcs.celestial if nd.wcs.naxis == 3 else nd.wcs
    mask = None if nd.mask is None else np.asarray(nd.mask, dtype=bool)
    psf = getattr(nd, 'psf', None)
    outs = []
    for band in tqdm(range(nd.data.shape[0]), desc='enhance', unit='plane', leave=False,
                     disable=not progress):
        unc = None
        if nd.uncertainty is not None:
            unc = type(nd.uncertainty)(np.asarray(nd.uncertainty.array)[band])
        plane = NDData(np.asarray(nd.data)[band], wcs=plane_wcs, unit=nd.unit,
                       mask=None if mask is None else mask[band], uncertainty=unc,
                       meta=nd.meta, psf=psf[band] if np.ndim(psf) == 3 else psf)
        outs.append(enhance(est, plane, progress=False, hdu=None, **opts))
    masks = [o.mask for o in outs]
    cube_mask = None
    if any(m is not None for m in masks):
        cube_mask = np.stack([np.zeros(outs[0].data.shape, bool) if m is None else m
                              for m in masks])
    cube_unc = None
    if outs[0].uncertainty is not None:
        cube_unc = type(outs[0].uncertainty)(np.stack([o.uncertainty.array for o in outs]))
    wcs = scale_wcs(nd.wcs, int(est.scale)) if nd.wcs is not None else None
    meta = outs[0].meta
    per_plane = {'sr_deconvolve_iterations': ('sr_deconvolve_iterations', 'sr_deconvolve_stop',
                                              'sr_deconvolve_sky_ratio'),
                 'sr_support_fraction': ('sr_support_fraction',)}
    for marker, keys in per_plane.items():
        if any(marker in o.meta for o in outs):
            # one value per plane, as a string a FITS card can hold ('-': not done there)
            meta = dict(meta)
            for key in keys:
                meta[key] = ','.join(str(o.meta.get(key, '-')) for o in outs)
    return NDData(np.stack([o.data for o in outs]), wcs=wcs, unit=outs[0].unit, mask=cube_mask,
                  meta=meta, uncertainty=cube_unc, psf=outs[0].psf)


def enhance_batch(est, data, *, progress, **opts):
    """Super-resolve an ``(N, H, W)`` batch in flux per pixel; NaNs stay NaN."""
    from tqdm.auto import tqdm

    if isinstance(opts.get('psf'), (str, u.Quantity)):
        msg = (f"psf={opts['psf']!r} needs one image with its pixel scale (an NDData, HDU or "
               'FITS file); for an (N, H, W) array give the PSF image or its FWHM in pixels')
        raise ValueError(msg)
    batch = as_image_array(data, name='data')
    if batch.ndim == 2:
        batch = batch[None]
    s = int(est.scale)
    srs, stds, reports = [], [], []
    for image in tqdm(batch, desc='enhance', unit='image', leave=False,
                      disable=not progress or len(batch) < 2):
        bad = ~np.isfinite(image)
        if bad.all():
            msg = 'an image of the batch has no finite pixel'
            raise ValueError(msg)
        reports.append({})
        sr, std, _ = enhance_with_uncertainty(est, image, bad, surface_brightness=False,
                                              progress=False, noise=None, report=reports[-1],
                                              **opts)
        sr[np.repeat(np.repeat(bad, s, axis=0), s, axis=1)] = np.nan
        srs.append(sr)
        stds.append(std)
    _warn_not_deconvolved(reports)
    dtype = np.float32 if batch.dtype == np.float32 else np.float64
    out = np.stack(srs).astype(dtype)
    if opts['uncertainty']:
        return out, np.stack(stds).astype(dtype)
    return out
