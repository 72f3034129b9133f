# Licensed under a 3-clause BSD style license - see LICENSE
"""Held-out evaluation sets for super-resolution, and the aperture-flux metric.

Every set here is kept out of training (see `astrolens.datasets._sources`):

- `hst_eval_pairs`: the real HST images of ``HST_EVAL`` degraded by fixed
  recipes (`EVAL_RECIPES`) -- unseen sources, degradations inside the
  training ranges;
- `hdf_right_pairs`: crops of the right half of the Hubble Deep Field
  degraded by `UNSEEN_RECIPE` (a Moffat PSF with wider wings than any
  trained on, elliptical, and noise correlated over 2 pixels: no preset
  draws that recipe) -- unseen degradation, on the unseen half of an image
  whose other half is a training source;
- `drawn_lens_pairs`: fresh drawn-scene lenses (a seed no training pool
  uses), degraded by random ``deeplense-x2`` recipes;
- `hsc_hst_real_pair`: the real HSC i-band image and its real HST F814W
  image, registered onto an exact x3 grid and put on the HSC photometric
  scale;
- `ground_pairs`: real SDSS r / KiDS r images of the same galaxies, the
  KiDS image registered by content at its measured scale ratio (not the
  nominal 1.98) and resampled onto the x2 grid of SDSS.

`aperture_flux_errors` measures fluxes in circular apertures on the sources
found in the truth (photutils). `noise_limited_psnr` is the most a prediction
can reach against a truth whose own noise it cannot see (a real pair taken by
two telescopes), from `sky_noise_sigma`.
"""

import numpy as np

from astrolens.datasets._degradation import (
    Recipe,
    degrade,
    draw_recipe,
    lr_psf_image,
    psf_fwhm,
    robust_sigma,
)
from astrolens.datasets._samples import sample_path
from astrolens.datasets._sources import draw_lens_scene, hdf_half, load_hst_images, shared_real

__all__ = ['ELLIPTICAL_RECIPE', 'EVAL_RECIPES', 'MILD_RECIPES', 'MORE_RECIPES', 'UNSEEN_RECIPE',
           'aperture_flux_errors',
           'drawn_lens_pairs', 'ground_pairs', 'hdf_right_pairs', 'hsc_hst_real_pair',
           'hst_eval_pairs', 'noise_limited_psnr', 'sky_noise_sigma']

_HSC_PIXEL_SCALE = 0.168      # arcsec per HSC pixel

#: Fixed x2 recipes for the held-out real HST images ("fwhm_ratio" = LR FWHM / target FWHM).
EVAL_RECIPES = {
    'gauss-r2.0-snr100-skysub': {'psf_kind': 'gaussian', 'fwhm_ratio': 2.0, 'snr': 100.0,
                                 'sky_subtracted': True},
    'moffat-r1.6-snr30-sky-corr': {'psf_kind': 'moffat', 'moffat_beta': 3.0,
                                   'fwhm_ratio': 1.6, 'snr': 30.0, 'sky_subtracted': False,
                                   'correlation_fwhm': 1.0},
}
#: Four more x2 recipes for the same images (`hst_eval_pairs(recipes=MORE_RECIPES)`): mild blur at
#: high S/N (where a network blind to the PSF over-sharpens; the set was made after that was
#: seen, so it is a diagnostic), strong blur at S/N 10, Moffat wings with correlated noise, sky
#: on and off.
MORE_RECIPES = {
    'gauss-r1.5-snr500-skysub': {'psf_kind': 'gaussian', 'fwhm_ratio': 1.5, 'snr': 500.0,
                                 'sky_subtracted': True},
    'gauss-r3.0-snr10-sky': {'psf_kind': 'gaussian', 'fwhm_ratio': 3.0, 'snr': 10.0,
                             'sky_subtracted': False},
    'moffat2.5-r2.5-snr50-skysub-corr': {'psf_kind': 'moffat', 'moffat_beta': 2.5,
                                         'fwhm_ratio': 2.5, 'snr': 50.0, 'sky_subtracted': True,
                                         'correlation_fwhm': 1.4},
    'moffat4-r1.3-snr200-sky': {'psf_kind': 'moffat', 'moffat_beta': 4.0, 'fwhm_ratio': 1.3,
                                'snr': 200.0, 'sky_subtracted': False},
}
#: Barely blurrier than the truth, at high S/N: the image's own PSF convolved with a Gaussian
#: of 2 of its pixels, then 2x2 pixels (the LR FWHM is at least 1.2 LR pixels, as in every
#: recipe here). Where a network that always sharpens does harm; added after the issue that
#: reported it (23), so a diagnostic and not a held-out figure.
MILD_RECIPES = {
    'gauss-add2px-snr1000-skysub': {'psf_kind': 'gaussian', 'added_fwhm': 2.0, 'snr': 1000.0,
                                    'sky_subtracted': True},
}
#: An x2 degradation no preset draws: a Moffat PSF with wings wider than any trained on
#: (beta 1.8; training 2-5), elliptical (axis ratio 0.6), and noise correlated over 2 LR
#: pixels (training: at most 1.6), sky subtracted.
UNSEEN_RECIPE = {'psf_kind': 'moffat', 'moffat_beta': 1.8, 'fwhm_ratio': 2.2,
                 'psf_axis_ratio': 0.6, 'psf_angle': 30.0, 'snr': 200.0,
                 'sky_subtracted': True, 'correlation_fwhm': 2.0}
#: The first unseen recipe of the Hubble Deep Field set: an elliptical Gaussian PSF (axis ratio
#: 0.6) and noise correlated over 2 LR pixels; no shipped preset draws either.
ELLIPTICAL_RECIPE = {'psf_kind': 'gaussian', 'fwhm_ratio': 2.2, 'psf_axis_ratio': 0.6,
                     'psf_angle': 30.0, 'snr': 200.0, 'sky_subtracted': True,
                     'correlation_fwhm': 2.0}


def _recipe(spec, *, scale, native):
    # the LR FWHM is fwhm_ratio times the truth's, or the truth's with added_fwhm (target
    # pixels) in quadrature
    spec = dict(spec)
    target = float(native)
    if 'added_fwhm' in spec:
        lr_fwhm = float(np.hypot(target, spec.pop('added_fwhm')))
    else:
        lr_fwhm = target * spec.pop('fwhm_ratio')
    return Recipe(scale=scale, pixel_ratio=float(scale), target_fwhm=target,
                  lr_fwhm=max(lr_fwhm, 1.2 * scale), read_fraction=0.3, sky_sigmas=20.0,
                  **spec)


def hst_eval_pairs(*, scale=2, seed=2024, recipes=None):
    """The held-out real HST images degraded by each of ``recipes`` (default `EVAL_RECIPES`).

    Returns
    -------
    pairs : list of dict
        ``{'name', 'recipe', 'lr', 'hr', 'sigma', 'psf', 'hr_fwhm'}`` (``psf``: the LR
        images' PSF on their grid, `lr_psf_image`; ``hr_fwhm``: the FWHM of the truth's PSF
        in its pixels); empty when ``../shared/real`` is absent.
    """
    out = []
    recipes = EVAL_RECIPES if recipes is None else recipes
    for k, im in enumerate(load_hst_images('eval')):
        for j, (rname, spec) in enumerate(recipes.items()):
            rng = np.random.default_rng([seed, k, j])
            recipe = _recipe(spec, scale=scale, native=im.fwhm_pixels)
            pair = degrade(im.data, recipe, rng=rng, native_fwhm=im.fwhm_pixels, margin=2)
            psf, hr_fwhm = lr_psf_image(recipe, native_fwhm=im.fwhm_pixels)
            out.append({'name': im.name, 'recipe': rname, 'lr': pair.lr, 'hr': pair.hr,
                        'sigma': pair.sigma, 'psf': psf, 'hr_fwhm': hr_fwhm})
    return out


def hdf_right_pairs(n=12, *, seed=2024, size=96, recipe=None):
    """Crops of the right half of the Hubble Deep Field, degraded x2 by ``recipe``.

    Default `UNSEEN_RECIPE`; the LR crops are ``size`` pixels on a side.
    """
    image = hdf_half('right')
    rng = np.random.default_rng(seed)
    out = []
    spec = UNSEEN_RECIPE if recipe is None else recipe
    hr_size = 2 * (size + 4)
    for i in range(n):
        r = int(rng.integers(0, image.shape[0] - hr_size + 1))
        c = int(rng.integers(0, image.shape[1] - hr_size + 1))
        crop = image[r:r + hr_size, c:c + hr_size]
        recipe = _recipe(spec, scale=2, native=2.0)
        pair = degrade(crop, recipe, rng=rng, native_fwhm=2.0, margin=1)
        psf, hr_fwhm = lr_psf_image(recipe, native_fwhm=2.0)
        out.append({'name': f'hdf-right-{i}', 'recipe': 'unseen', 'lr': pair.lr,
                    'hr': pair.hr, 'sigma': pair.sigma, 'psf': psf, 'hr_fwhm': hr_fwhm})
    return out


def drawn_lens_pairs(n=50, *, seed=2024, num_pix=96):
    """Fresh drawn-scene lenses (0.05"/px) degraded by random ``deeplense-x2`` recipes."""
    rng = np.random.default_rng([seed, 31])
    out = []
    for i in range(n):
        scene = draw_lens_scene(rng, num_pix=num_pix + 8)
        recipe = draw_recipe(rng, preset='deeplense-x2', native_fwhm=1.0,
                             overrides={'mask_fraction': 0.0, 'n_cosmic': 0})
        pair = degrade(scene * 100.0, recipe, rng=rng, native_fwhm=1.0, margin=1)
        psf, hr_fwhm = lr_psf_image(recipe, native_fwhm=1.0)
        out.append({'name': f'lens-{i}', 'recipe': 'deeplense-x2 draw', 'lr': pair.lr,
                    'hr': pair.hr, 'sigma': pair.sigma, 'psf': psf, 'hr_fwhm': hr_fwhm})
    return out


def hsc_hst_real_pair(*, band=2):
    """The real HSC (band ``band``, default i) / HST F814W pair of COSMOS, x3 registered.

    The HST image is registered and resampled onto the exact x3 grid of the
    HSC image (`astrolens.preprocessing.register_pair`), then scaled to the
    HSC photometric scale by a ratio of sums over the HST footprint.

    Returns
    -------
    pair : dict
        ``{'name', 'lr', 'hr', 'shift', 'psf', 'hr_fwhm'}`` (``hr`` NaN outside the HST
        footprint; ``psf`` the real HSC PSF of the band on the HSC grid; ``hr_fwhm`` the FWHM
        of the real HST PSF in pixels of the x3 grid). The images and PSFs are the samples
        shipped with the package (`sample_path`: ``'hsc-cosmos'``, ``'hst-cosmos'``,
        ``'hsc-cosmos-psf'``, ``'hst-cosmos-psf'``), the same bytes as
        ``shared/real/hsc_hst_cosmos``, so this works without that folder.
    """
    from astropy.io import fits
    from astropy.nddata import NDData
    from astropy.wcs import WCS

    from astrolens.preprocessing import register_pair

    with fits.open(sample_path('hsc-cosmos')) as f:
        hsc = np.asarray(f[0].data[band], dtype=np.float64)
        wcs_hsc = WCS(f[0].header).celestial
    with fits.open(sample_path('hst-cosmos')) as f:
        hst = np.asarray(f[0].data, dtype=np.float64)
        wcs_hst = WCS(f[0].header).celestial
    psf_hsc = np.asarray(fits.getdata(sample_path('hsc-cosmos-psf'))[band], dtype=np.float64)
    psf_hst = np.asarray(fits.getdata(sample_path('hst-cosmos-psf')), dtype=np.float64)
    pair = register_pair(NDData(hsc, wcs=wcs_hsc), NDData(hst, wcs=wcs_hst), factor=3,
                         lr_psf=psf_hsc, hr_psf=psf_hst)
    lr = np.asarray(pair.lr.data, dtype=np.float64)
    hr = np.asarray(pair.hr.data, dtype=np.float64)
    footprint = np.isfinite(hr)
    blocks = footprint.reshape(lr.shape[0], 3, lr.shape[1], 3).all(axis=(1, 3))
    hr_sum = np.nansum(hr.reshape(lr.shape[0], 3, lr.shape[1], 3), axis=(1, 3))
    lr_med = np.median(lr[blocks])
    hr_med = np.median(hr_sum[blocks])
    gain = np.sum(lr[blocks] - lr_med) / np.sum(hr_sum[blocks] - hr_med)
    truth = (hr - hr_med / 9.0) * gain + lr_med / 9.0
    # the HST PSF (0.03"/px) measured, in the pixels of the x3 grid
    hr_fwhm = psf_fwhm(psf_hst) * 0.03 / (_HSC_PIXEL_SCALE / 3)
    return {'name': 'COSMOS HSC i / HST F814W', 'lr': lr, 'hr': truth,
            'shift': tuple(float(v) for v in pair.shift), 'psf': psf_hsc / psf_hsc.sum(),
            'hr_fwhm': float(hr_fwhm)}



#: Pixel scales (arcsec) of the SDSS and KiDS cutouts as documented: their ratio, 1.98, is
#: only where the scale fit starts (fitted ratios of the pairs: 1.70 to 1.87).
_SDSS_PIXEL_SCALE, _KIDS_PIXEL_SCALE = 0.396, 0.2
#: Typical r-band seeing FWHMs (arcsec) of SDSS and KiDS: the start of the fitted matching
#: kernel, and the kernel of the residual offset fit.
_SDSS_FWHM, _KIDS_FWHM = 1.3, 0.7


def ground_pairs(*, names=None):
    """Real SDSS r (LR) / KiDS r (truth on the x2 SDSS grid) pairs, registered by content.

    The cutouts have no WCS, and their nominal pixel scales (0.396" and
    0.2", a ratio of 1.98) do not hold: the ratio of each pair is measured
    (`astrolens.preprocessing.register_pair` with ``fit_scale=True``: the
    KiDS image blurred to the SDSS PSF and sampled on the SDSS grid, fitted
    over scale ratio, offset and kernel width), and KiDS is resampled once,
    with that geometry, onto the exact x2 grid of SDSS (flux conserved). It
    is then put on the SDSS photometric scale by a ratio of sums over the
    overlap.

    Parameters
    ----------
    names : sequence of str, optional
        Only these galaxies (``'G266662'``, ...); default all.

    Returns
    -------
    pairs : list of dict
        ``{'name', 'lr', 'hr', 'shift', 'scale_ratio', 'scale_ratio_error'}``: ``hr``
        NaN where KiDS does not cover; ``shift`` the offset (SDSS pixels, y x) of the
        KiDS centre from the SDSS centre; ``scale_ratio`` the fitted SDSS / KiDS pixel
        scale ratio and its 1-sigma error. Empty when ``../shared/real`` is absent.
    """
    import warnings

    from astropy.io import fits
    from astropy.nddata import NDData

    from astrolens.preprocessing import register_pair

    root = shared_real()
    if root is None:
        return []
    folder = root / 'more' / 'ground_pairs'
    out = []
    for sdss_path in sorted(folder.glob('profit_sdss_r_*.fits')):
        name = sdss_path.stem.replace('profit_sdss_r_', '')
        kids_path = folder / sdss_path.name.replace('sdss', 'kids')
        if not kids_path.is_file() or (names is not None and name not in names):
            continue
        sdss = np.nan_to_num(np.asarray(fits.getdata(sdss_path), dtype=np.float64))
        kids = np.asarray(fits.getdata(kids_path), dtype=np.float64)
        with warnings.catch_warnings():
            # a residual-offset fit that stops short of 0.005 pixel is still far inside
            # what the comparison can see
            warnings.simplefilter('ignore')
            pair = register_pair(NDData(sdss, meta={'pixel_scale': _SDSS_PIXEL_SCALE}),
                                 NDData(kids, meta={'pixel_scale': _KIDS_PIXEL_SCALE}),
                                 fit_scale=True, factor=2, lr_psf=_SDSS_FWHM,
                                 hr_psf=_KIDS_FWHM)
        truth = np.asarray(pair.hr.data, dtype=np.float64)
        # photometric scale from the LR grid: 2x2 sums of the truth against SDSS
        blocks = np.isfinite(truth).reshape(sdss.shape[0], 2, sdss.shape[1], 2).all(axis=(1, 3))
        sums = np.nansum(truth.reshape(sdss.shape[0], 2, sdss.shape[1], 2), axis=(1, 3))
        a_med, k_med = np.median(sdss[blocks]), np.median(sums[blocks])
        gain = np.sum(sdss[blocks] - a_med) / np.sum(sums[blocks] - k_med)
        truth = (truth - k_med / 4.0) * gain + a_med / 4.0
        out.append({'name': name, 'lr': sdss, 'hr': truth,
                    'shift': tuple(float(v) for v in pair.shift),
                    'scale_ratio': float(pair.scale_ratio),
                    'scale_ratio_error': float(pair.scale_ratio_error)})
    return out


def aperture_flux_errors(pred, truth, *, radius, n_max=10, nsigma=5.0, positions=None,
                         min_snr=20.0, input_noise=None, scale=1):
    """Relative aperture-flux errors of ``pred`` on the sources of ``truth``.

    Sources are found in ``truth`` (photutils segmentation above ``nsigma``
    times its robust noise, at least 10 pixels); circular apertures of
    ``radius`` pixels on the ``n_max`` brightest, or on ``positions``
    (``(x, y)`` pairs) when given. Both images have the truth's median
    subtracted first. Sources whose truth aperture flux is below ``min_snr``
    times the noise in the aperture (the truth's robust noise level) are
    left out: their relative error measures the truth's noise. With
    ``input_noise``, so are those below ``min_snr`` times the input's noise in
    the aperture: a source the input barely shows (a deep truth, a shallow
    input) cannot be measured from it, by any method.

    Parameters
    ----------
    input_noise : float, optional
        Noise standard deviation per pixel of the input (the low-resolution
        image), in the flux units of its own pixels.
    scale : int, optional
        Truth pixels per input pixel, per axis (for ``input_noise``).

    Returns
    -------
    errors : `~numpy.ndarray`
        ``(flux_pred - flux_truth) / flux_truth`` per source (may be empty).
    """
    from photutils.aperture import CircularAperture, aperture_photometry
    from photutils.segmentation import SourceCatalog, detect_sources

    if input_noise is not None and not (np.isfinite(input_noise) and input_noise >= 0):
        raise ValueError(f'input_noise must be a finite noise level >= 0, got {input_noise!r}')
    truth = np.asarray(truth, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    good = np.isfinite(truth) & np.isfinite(pred)
    med = np.median(truth[good])
    t = np.where(good, truth - med, 0.0)
    p = np.where(good, pred - med, 0.0)
    sigma = robust_sigma(np.where(good, truth, np.nan))
    if positions is None:
        if not sigma > 0:
            sigma = 1e-3 * float(np.max(np.abs(t)) or 1.0)
        segm = detect_sources(t, nsigma * sigma, n_pixels=10)
        if segm is None:
            return np.array([])
        cat = SourceCatalog(t, segm)
        order = np.argsort(np.nan_to_num(cat.segment_flux))[::-1][:n_max]
        pos = np.array([(cat.x_centroid[i], cat.y_centroid[i]) for i in order])
    else:
        pos = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    inside = ((pos[:, 0] > radius) & (pos[:, 1] > radius)
              & (pos[:, 0] < t.shape[1] - radius) & (pos[:, 1] < t.shape[0] - radius))
    if not inside.any():
        return np.array([])
    apertures = CircularAperture(pos[inside], r=radius)
    ft = np.asarray(aperture_photometry(t, apertures)['aperture_sum'], dtype=np.float64)
    fp = np.asarray(aperture_photometry(p, apertures)['aperture_sum'], dtype=np.float64)
    noise = sigma * np.sqrt(np.pi) * radius
    if input_noise is not None:
        # the aperture covers pi radius**2 / scale**2 input pixels
        noise = max(noise, float(input_noise) * np.sqrt(np.pi) * radius / scale)
    keep = ft > max(min_snr * noise, 0.0)
    return (fp[keep] - ft[keep]) / ft[keep]


def _second_difference_sigma(image, lag):
    """Clipped scatter of ``x[i - lag] - 2 x[i] + x[i + lag]`` (both axes), over sqrt(6)."""
    from astropy.stats import sigma_clipped_stats

    diffs = np.concatenate([
        (image[2 * lag:] - 2 * image[lag:-lag] + image[:-2 * lag]).ravel(),
        (image[:, 2 * lag:] - 2 * image[:, lag:-lag] + image[:, :-2 * lag]).ravel()])
    diffs = diffs[np.isfinite(diffs)]
    if diffs.size < 100:
        return float('nan')
    return float(sigma_clipped_stats(diffs, sigma=3.0)[2] / np.sqrt(6.0))


def sky_noise_sigma(image, *, lag=4, dilate=4):
    """Noise standard deviation per pixel of ``image``, read from its empty sky.

    The noise is the sigma-clipped scatter of second differences
    ``x[i - lag] - 2 x[i] + x[i + lag]`` between sky pixels, over sqrt(6):
    they cancel a sky gradient and the smooth wings of galaxies, and a
    ``lag`` beyond the noise's correlation length counts correlated noise in
    full (a resampled image's noise is correlated over 2-3 pixels;
    neighbouring pixels read it low, as `robust_sigma` does). Sources are
    masked first: the image smoothed over 1.5 pixels, segmented above 3
    times the smoothed image's own noise (read the same way), the segments
    grown by ``dilate`` pixels.

    Parameters
    ----------
    image : array-like
        2-D image; NaN pixels are left out.
    lag : int, optional
        Step in pixels of the differences.
    dilate : int, optional
        Pixels by which the source mask is grown.

    Returns
    -------
    sigma : float
        NaN when fewer than 100 sky differences remain.
    """
    from astropy.stats import sigma_clipped_stats
    from photutils.segmentation import detect_sources
    from scipy import ndimage

    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f'image must be 2-D, got shape {image.shape}')
    if not (isinstance(lag, (int, np.integer)) and 0 < 2 * lag < min(image.shape)):
        raise ValueError(f'lag must be a positive number of pixels below half the image '
                         f'size, got {lag!r}')
    good = np.isfinite(image)
    if good.sum() < 100:
        return float('nan')
    filled = np.where(good, image, np.median(image[good]))
    smooth = ndimage.gaussian_filter(filled, 1.5)
    _, sky, _ = sigma_clipped_stats(smooth[good], sigma=3.0)
    smooth_noise = _second_difference_sigma(np.where(good, smooth, np.nan), lag)
    mask = ~good
    if smooth_noise > 0:
        segm = detect_sources(np.where(good, smooth - sky, 0.0), 3.0 * smooth_noise,
                              n_pixels=10)
        if segm is not None:
            mask |= ndimage.binary_dilation(segm.data > 0, iterations=dilate)
    return _second_difference_sigma(np.where(mask, np.nan, image), lag)


def noise_limited_psnr(truth, *, sigma=None):
    """The highest PSNR (`astrolens.metrics.psnr`) any prediction can reach against ``truth``
    when the truth's own noise is independent of the input.

    That holds for a real pair taken by two instruments (HSC against HST, SDSS
    against KiDS): the truth's noise is in none of the input's pixels, so even
    the noise-free sky scores ``10 log10(range**2 / sigma**2)`` at best (range:
    the truth's, as `~astrolens.metrics.psnr` rescales by it). Sources add their own
    Poisson noise, so the true ceiling is lower still. It does not hold when the
    input was made from the truth (a simulated degradation), whose noise the
    input then carries.

    Parameters
    ----------
    truth : array-like
        2-D image; NaN pixels are left out.
    sigma : float, optional
        Noise per pixel of the truth; default `sky_noise_sigma`.

    Returns
    -------
    psnr : float
        In dB; NaN when the noise cannot be measured.
    """
    truth = np.asarray(truth, dtype=np.float64)
    sigma = sky_noise_sigma(truth) if sigma is None else float(sigma)
    if not (np.isfinite(sigma) and sigma > 0):
        return float('nan')
    span = float(np.nanmax(truth) - np.nanmin(truth))
    return float(10.0 * np.log10(span ** 2 / sigma ** 2))
