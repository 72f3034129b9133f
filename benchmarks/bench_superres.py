"""Super-resolution benchmark on held-out real and simulated data, always beside bicubic.

Usage::

    python benchmarks/bench_superres.py [--sets hst,hst-recipes,hst-mild,hdf,hdf-previous,lenses,
        hsc-hst,ground,speed] [--psf]
        [--models survey-x2,deeplense-x2,hsc-hst-x3] [--flux-modes] [--n-lenses 50]
        [--n-hdf 12] [--threads 2] [--repeats 3] [--json FILE] [--gan-minutes 0]
        [--symmetries] [--support-nsigma 3 5]

Sets (nothing here is trained on; see ``astrolens/datasets/_evaluation.py``):

``hst``
    the held-out real HST images (``HST_EVAL``) degraded x2 by two fixed
    recipes: unseen sources, degradations inside the training ranges;
``hst-recipes``
    the same images degraded by four more recipes (`MORE_RECIPES`: mild and strong blur,
    S/N 10 to 500, Gaussian and Moffat PSFs, sky on and off), a wider look at the
    degradations a hidden set may use (made after the over-sharpening of mildly blurred
    inputs was seen: a diagnostic, not a blind test);
``hst-mild``
    the same images barely blurrier than themselves (`MILD_RECIPES`: their own PSF and a
    2-pixel Gaussian, S/N 1000), where a network that always sharpens falls below bicubic
    (also a diagnostic, made after that was reported);
``hdf``
    crops of the right half of the Hubble Deep Field degraded x2 by a recipe
    no model saw (`UNSEEN_RECIPE`: an elliptical Moffat PSF with wider wings than any
    trained on, noise correlated over 2 pixels); not zero-shot, since the left half of the
    same image is a training source;
``hdf-previous``
    the same crops degraded by the previous unseen recipe (`ELLIPTICAL_RECIPE`: an
    elliptical Gaussian PSF, noise correlated over 2 pixels; also unseen by the shipped
    models);
``lenses``
    fresh drawn-scene lenses degraded x2 by random ``deeplense-x2`` recipes
    (new scenes, degradations inside the training ranges);
``hsc-hst``
    the real HSC i-band image of COSMOS against its real HST F814W image,
    registered x3 (nothing simulated);
``ground``
    real SDSS r images enhanced x2 against real KiDS r images of the same
    galaxies, registered by content at each pair's fitted scale ratio (the nominal 1.98
    does not hold; ``--per-image`` prints the ratios) (nothing simulated);
``iiia``
    fresh DeepLense Task III.A pairs (`simulate_sr_pairs` preset ``deeplense-x2``,
    seed 4321: the Model I lens without substructure, HR 150x150 at 0.05"/0.087" PSF,
    LR 75x75 at 0.10"/0.15" PSF with Poisson and background noise), for
    ``--models deeplense-iiia-x2``;
``speed``
    megapixels per second of ``enhance`` (the fastest of ``--repeats`` runs) and of
    bicubic upsampling on ``--threads`` CPU threads, the network's FLOPs per output
    pixel and the machine's measured matrix-multiply rate.

Metrics (`astrolens.metrics`): PSNR and SSIM on images rescaled by the range of
the truth image; aperture fluxes (photutils, radius 3 LR pixels) on the
sources found in the truth, and again on those of them the input shows at S/N >= 20 in the
aperture (its sky noise, `astrolens.datasets.sky_noise_sigma`: a deep truth holds sources a
shallow input cannot measure); total flux against the truth; the purity of the output's
sources (`astrolens.metrics.detection_purity`: peaks of the output, smoothed over 1 pixel,
above 5 sigma of the truth's sky noise, and the share of them with a truth pixel above 2 sigma
within 2 pixels; pooled over the set, beside bicubic's; not measured where the truth has
too little empty sky for its noise, or none: a noise-free simulated truth). On the two real sets the
truth's own noise is in none of the input's pixels, so its PSNR ceiling
(`astrolens.datasets.noise_limited_psnr`) is printed too: no prediction can beat
bicubic by more than that gap. Where the input's PSF is known (HSC/HST), so is the diffuse
light the truth keeps once changed only as far as it must to explain the input to its noise
(`consistent_truth_diffuse`): how much an output can keep and still agree with the input.
With ``--flux-modes`` the x2 sets are also run with every flux correction, and with the
local one at smoothings 1 and 3 input pixels beside the default 2.
With ``--psf`` the sets whose input PSF is known (the simulated degradations, and the real
HSC image with its real PSF) are also enhanced with it given (``enhance(psf=...,
output_fwhm=...)``, the output brought to the truth's PSF):
``psf-known`` the exact PSF, ``psf-deconvolve`` the same with ``deconvolve=True``,
``psf-deconvolve-sigma`` that with the input's per-pixel noise (Poisson included) given as
its uncertainty, where a set knows it (the simulated ones), ``psf-x1.00`` its FWHM alone
(``enhance`` then assumes a Moffat seeing profile), ``psf-x0.85`` / ``psf-x1.15`` that FWHM
15% too small / too large (``--psf-modes`` picks some of them).
With ``--symmetries`` every model runs with ``uncertainty='d4'`` (the mean of its outputs
over the 8 symmetries of the square, 8x slower).
With ``--gan-minutes G`` the first x2 model is trained further for G minutes
with the adversarial + classifier-feature loss and evaluated on ``lenses``.
"""

import argparse
import json
import time
import warnings

import numpy as np
import torch
from astropy.nddata import NDData, StdDevUncertainty

from astrolens.datasets._degradation import psf_fwhm
from astrolens.datasets._evaluation import (
    ELLIPTICAL_RECIPE,
    MILD_RECIPES,
    MORE_RECIPES,
    aperture_flux_errors,
    drawn_lens_pairs,
    ground_pairs,
    hdf_right_pairs,
    hsc_hst_real_pair,
    hst_eval_pairs,
    noise_limited_psnr,
    sky_noise_sigma,
)
from astrolens.metrics import detection_purity, psnr, ssim
from astrolens.models._sr_flux import backproject_flux
from astrolens.models._sr_inference import bicubic_upscale, fill_bad, noise_level
from astrolens.models._sr_networks import PSF_CONDITION_CHANNELS
from astrolens.models._superres import SuperResolver

# real pairs from two instruments: the truth's noise is in none of the input's pixels
INDEPENDENT_TRUTH_NOISE = ('hsc-hst', 'ground')
SET_SCALE = {'hst': 2, 'hst-recipes': 2, 'hst-mild': 2, 'hdf': 2, 'hdf-previous': 2,
             'lenses': 2, 'ground': 2, 'hsc-hst': 3, 'iiia': 2}
#: Seed of the fresh DeepLense Task III.A pairs: training drew seed 0 and the training
#: command's own test set seed 12345.
IIIA_SEED = 4321
#: Sets whose input PSF is known: simulated degradations, and the real HSC image with its
#: real PSF (the output brought to the real HST PSF).
PSF_SETS = ('hst', 'hst-recipes', 'hst-mild', 'hdf', 'hdf-previous', 'lenses', 'hsc-hst')
#: The PSF variants of ``--psf`` (see `_psf_options`).
PSF_MODES = ('psf-known', 'psf-deconvolve', 'psf-deconvolve-sigma', 'psf-x0.85', 'psf-x1.00',
             'psf-x1.15')


def _filled(lr):
    bad = ~np.isfinite(lr)
    return fill_bad(np.where(bad, 0.0, lr), bad)


_SYMMETRIES = {'on': False}


def _enhance(model, lr, flux='default', sigma=None, **psf):
    smooth = None
    if isinstance(flux, str) and flux.startswith('local-s'):
        # the local correction with another smoothing, on the network's raw output
        flux, smooth = None, float(flux[len('local-s'):])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        data = np.asarray(lr, dtype=np.float64)
        if sigma is not None:
            data = NDData(data, uncertainty=StdDevUncertainty(sigma))
        out = model.enhance(data, progress=False, flux=flux,
                            uncertainty='d4' if _SYMMETRIES['on'] else False, **psf)
    out = np.asarray(out.data, dtype=np.float64)
    if smooth is not None:
        good = np.isfinite(lr)
        threshold = getattr(model, 'flux_threshold_', None)
        shrink = {} if threshold is None else {
            'noise': noise_level(np.where(good, lr, 0.0), ~good), 'threshold': threshold}
        out = backproject_flux(out, np.where(good, lr, 0.0), good, scale=int(model.scale),
                               smooth=smooth, **shrink)
    return out


def consistent_truth_diffuse(pair, scale, *, max_iter=200):
    """Diffuse light (`diffuse_flux_ratio`) of the truth once it agrees with the input.

    Landweber iterations from the truth, observed through the input's PSF
    (`observation_kernel`, the truth's PSF FWHM as the output PSF) and summed onto the
    input grid, with the residual counted where the truth covers whole input pixels;
    they stop once it explains the input to within the input's noise. The change is
    the smallest the input asks for, so the diffuse light left is what the input
    allows an output to keep. Returns ``(ratio, iterations)``.
    """
    from astrolens.models._sr_deconvolve import _observe, observation_kernel
    from astrolens.models._sr_flux import block_sum

    truth, lr = pair['hr'], _filled(pair['lr'])
    good = np.isfinite(truth)
    h, w = lr.shape
    blocks = good.reshape(h, scale, w, scale).all(axis=(1, 3)) & np.isfinite(pair['lr'])
    kernel, _ = observation_kernel(pair['psf'], scale=scale, output_fwhm=pair['hr_fwhm'])
    flipped = np.ascontiguousarray(kernel[::-1, ::-1])
    noise = noise_level(lr)
    estimate = np.where(good, truth, np.nanmedian(truth))
    n_iter = 0
    for n_iter in range(max_iter + 1):       # noqa: B007 (n_iter is returned)
        resid = np.where(blocks, lr - block_sum(_observe(estimate, kernel), scale), 0.0)
        if np.mean(resid[blocks] ** 2) <= noise ** 2 or n_iter == max_iter:
            break
        # the transposed observation, scaled by 1 / scale**2 so the step is stable
        up = np.repeat(np.repeat(resid, scale, axis=0), scale, axis=1) / scale ** 2
        estimate = estimate + _observe(up, flipped)
    return diffuse_flux_ratio(np.where(good, estimate, np.nan), truth), n_iter


def diffuse_flux_ratio(pred, truth):
    """Flux of ``pred`` over the truth's in the truth's faint diffuse light.

    The diffuse light is where the truth, smoothed by a Gaussian of 3 pixels, lies between
    its 60th and 90th percentiles: above the sky, below the cores. 1 keeps it; a network
    that flattens faint light towards the sky gives less.
    """
    from scipy import ndimage

    good = np.isfinite(truth)
    smooth = ndimage.gaussian_filter(np.where(good, truth, np.nanmedian(truth)), 3.0)
    sky = np.median(smooth[good])
    lo, hi = np.percentile(smooth[good], [60, 90])
    region = good & (smooth > lo) & (smooth < hi)
    return float(np.sum(pred[region] - sky) / np.sum(truth[region] - sky))


def _metrics(pred, truth, scale, *, input_noise, truth_sigma=float('nan')):
    good = np.isfinite(truth)
    out = {'psnr': psnr(pred, truth), 'ssim': ssim(pred, truth),
           'diffuse_flux_ratio': diffuse_flux_ratio(pred, truth)}
    total = float(np.sum(truth[good]))
    out['total_flux_error'] = (float(np.sum(pred[good])) - total) / abs(total) \
        if total else float('nan')
    truth = np.where(good, truth, np.nan)
    errs = aperture_flux_errors(pred, truth, radius=3 * scale)
    out['aperture_flux_error'] = float(np.median(np.abs(errs))) if errs.size else float('nan')
    out['n_apertures'] = int(errs.size)
    # only the sources the input shows at S/N >= 20 in the aperture too
    errs = aperture_flux_errors(pred, truth, radius=3 * scale, input_noise=input_noise,
                                scale=scale)
    out['aperture_flux_error_shown'] = float(np.median(np.abs(errs))) if errs.size \
        else float('nan')
    out['n_apertures_shown'] = int(errs.size)
    # peaks of the output above 5 sigma of the truth's sky, and how many the truth holds
    out['n_peaks'], out['n_real_peaks'] = 0, 0
    # a noise-free (simulated) truth has no sky noise to set a threshold by
    peak = np.nanmax(np.abs(truth - np.nanmedian(truth)))
    if np.isfinite(truth_sigma) and truth_sigma > 1e-5 * peak:
        found = detection_purity(pred, truth, sky_sigma=truth_sigma)
        out['n_peaks'], out['n_real_peaks'] = found.n_peaks, found.n_real
    return out


def _pairs(name, args):
    if name == 'hst':
        return hst_eval_pairs()
    if name == 'hst-recipes':
        return hst_eval_pairs(recipes=MORE_RECIPES, seed=77)
    if name == 'hst-mild':
        return hst_eval_pairs(recipes=MILD_RECIPES, seed=78)
    if name == 'hdf':
        return hdf_right_pairs(args.n_hdf)
    if name == 'hdf-previous':
        return hdf_right_pairs(args.n_hdf, recipe=ELLIPTICAL_RECIPE)
    if name == 'lenses':
        return drawn_lens_pairs(args.n_lenses)
    if name == 'ground':
        return ground_pairs()
    if name == 'iiia':
        # DeepLense Task III.A: the Model I lens without substructure, HR 150x150 at
        # 0.05"/0.087" PSF (noise-free), LR 75x75 at 0.10"/0.15" PSF with Poisson and
        # background noise; scenes and noise drawn afresh
        from astrolens.simulation import simulate_sr_pairs

        lr, hr = simulate_sr_pairs(args.n_iiia, preset='deeplense-x2', seed=IIIA_SEED)
        return [{'lr': np.asarray(a, dtype=np.float64), 'hr': np.asarray(b, dtype=np.float64),
                 'name': f'iiia-{i}', 'recipe': 'III.A'} for i, (a, b) in enumerate(zip(
                     lr, hr, strict=True))]
    pair = hsc_hst_real_pair()
    return [] if pair is None else [pair]


def _nanmedian(values):
    values = np.asarray(values, dtype=float)
    return float(np.nanmedian(values)) if np.isfinite(values).any() else float('nan')


def _summary(rows, label):
    d = np.array([r['psnr'] - r['bicubic_psnr'] for r in rows])
    ds = np.array([r['ssim'] - r['bicubic_ssim'] for r in rows])
    ap = np.array([r['aperture_flux_error'] for r in rows], dtype=float)
    apb = np.array([r['bicubic_aperture_flux_error'] for r in rows], dtype=float)
    tf = np.array([abs(r['total_flux_error']) for r in rows], dtype=float)
    dif = np.array([r['diffuse_flux_ratio'] for r in rows], dtype=float)
    difb = np.array([r['bicubic_diffuse_flux_ratio'] for r in rows], dtype=float)
    summary = {'model': label, 'n': len(rows), 'mean_dpsnr': float(d.mean()),
               'min_dpsnr': float(d.min()), 'mean_dssim': float(ds.mean()),
               'share_psnr_above_bicubic': float(np.mean(d > 0)),
               'share_ssim_above_bicubic': float(np.mean(ds > 0)),
               'median_aperture_flux_error': float(np.nanmedian(ap)),
               'median_aperture_flux_error_bicubic': float(np.nanmedian(apb)),
               'median_aperture_flux_error_shown': _nanmedian(
                   [r['aperture_flux_error_shown'] for r in rows]),
               'median_aperture_flux_error_shown_bicubic': _nanmedian(
                   [r['bicubic_aperture_flux_error_shown'] for r in rows]),
               'median_abs_total_flux_error': float(np.nanmedian(tf)),
               'median_diffuse_flux_ratio': float(np.nanmedian(dif)),
               'median_diffuse_flux_ratio_bicubic': float(np.nanmedian(difb)),
               'mean_psnr': float(np.mean([r['psnr'] for r in rows])),
               'mean_psnr_bicubic': float(np.mean([r['bicubic_psnr'] for r in rows])),
               'mean_ssim': float(np.mean([r['ssim'] for r in rows])),
               'mean_ssim_bicubic': float(np.mean([r['bicubic_ssim'] for r in rows]))}
    for key, prefix in (('purity', ''), ('purity_bicubic', 'bicubic_')):
        peaks = sum(r[f'{prefix}n_peaks'] for r in rows)
        summary[key] = sum(r[f'{prefix}n_real_peaks'] for r in rows) / peaks if peaks \
            else float('nan')
        summary[f'n_peaks{key[6:]}'] = int(peaks)
    if all('noise_limited_psnr' in r for r in rows):
        summary['mean_noise_limited_psnr'] = float(np.mean([r['noise_limited_psnr']
                                                            for r in rows]))
    print(f'  {label:<26} n={len(rows):3d}  PSNR {summary["mean_psnr"]:6.2f} vs bicubic '
          f'{summary["mean_psnr_bicubic"]:6.2f} dB: {d.mean():+5.2f} dB mean, {d.min():+5.2f} '
          f'worst, above on {100 * np.mean(d > 0):3.0f}%;  SSIM {summary["mean_ssim"]:.3f} vs '
          f'{summary["mean_ssim_bicubic"]:.3f} (above on {100 * np.mean(ds > 0):3.0f}%);  '
          f'aperture flux |err| {summary["median_aperture_flux_error"]:.2%} (bicubic '
          f'{summary["median_aperture_flux_error_bicubic"]:.2%}), on the sources the input '
          f'shows {summary["median_aperture_flux_error_shown"]:.2%} (bicubic '
          f'{summary["median_aperture_flux_error_shown_bicubic"]:.2%}); total |err| '
          f'{summary["median_abs_total_flux_error"]:.3%}; diffuse light '
          f'{summary["median_diffuse_flux_ratio"]:.3f} of the truth (bicubic '
          f'{summary["median_diffuse_flux_ratio_bicubic"]:.3f}); purity of the peaks above '
          f'5 sigma of the truth sky {summary["purity"]:.3f} of {summary["n_peaks"]} (bicubic '
          f'{summary["purity_bicubic"]:.3f} of {summary["n_peaks_bicubic"]})')
    return summary


def run_set(name, models, args, *, flux_modes=(None,)):
    """Evaluate the applicable ``models`` and bicubic on one set; print and return rows."""
    scale = SET_SCALE[name]
    t0 = time.perf_counter()
    pairs = _pairs(name, args)
    if not pairs:
        print(f'\n[{name}] skipped: ../shared/real is absent')
        return {}
    print(f'\n[{name}] {len(pairs)} pairs ({time.perf_counter() - t0:.0f} s to build)')
    bic = []
    # the sky noise, counting correlated noise in full; a cutout with too little empty sky
    # falls back to the neighbouring-pixel estimate
    input_noise = [sky_noise_sigma(p['lr']) for p in pairs]
    input_noise = [n if np.isfinite(n) else noise_level(p['lr'], ~np.isfinite(p['lr']))
                   for n, p in zip(input_noise, pairs, strict=True)]
    truth_sigma = [sky_noise_sigma(p['hr']) for p in pairs]
    for p, noise, truth_noise in zip(pairs, input_noise, truth_sigma, strict=True):
        b = bicubic_upscale(_filled(p['lr']), scale)
        bic.append(_metrics(b, p['hr'], scale, input_noise=noise, truth_sigma=truth_noise))
        if name in INDEPENDENT_TRUTH_NOISE:
            bic[-1]['noise_limited_psnr'] = noise_limited_psnr(p['hr'], sigma=truth_noise)
            print(f'  {p["name"][-38:]:<38} truth noise {truth_noise:.4g} per pixel: PSNR ceiling '
                  f'{bic[-1]["noise_limited_psnr"]:.2f} dB (bicubic {bic[-1]["psnr"]:.2f})')
    if name in INDEPENDENT_TRUTH_NOISE:
        ceiling = np.mean([b['noise_limited_psnr'] for b in bic])
        gap = np.mean([b['noise_limited_psnr'] - b['psnr'] for b in bic])
        print(f'  the truth\'s own noise caps PSNR at {ceiling:.2f} dB (mean): no prediction '
              f'can beat bicubic by more than {gap:+.2f} dB here')
    for p in pairs:
        if name in INDEPENDENT_TRUTH_NOISE and p.get('psf') is not None:
            kept, n_iter = consistent_truth_diffuse(p, scale)
            print(f'  {p["name"]}: the truth changed only until, seen through the input\'s PSF, it '
                  f'explains the input to its noise ({n_iter} iterations) keeps {kept:.3f} of its '
                  'diffuse light: an output can keep that much and agree with the input')
    results = {}
    for model_name, model in models.items():
        if int(model.scale) != scale:
            continue
        for flux in flux_modes:
            label = model_name if flux is None else f'{model_name} flux={flux}'
            rows = []
            for p, b, noise, truth_noise in zip(pairs, bic, input_noise, truth_sigma,
                                                strict=True):
                mode = 'default' if flux is None or flux.startswith(('psf-', 'support-')) else (
                    None if flux == 'none' else flux)
                pred = _enhance(model, p['lr'], mode, **_psf_options(p, flux))
                m = _metrics(pred, p['hr'], scale, input_noise=noise, truth_sigma=truth_noise)
                m.update({f'bicubic_{k}': v for k, v in b.items() if k != 'noise_limited_psnr'})
                if 'noise_limited_psnr' in b:
                    m['noise_limited_psnr'] = b['noise_limited_psnr']
                m.update({'name': p['name'], 'recipe': p.get('recipe'),
                          'scale_ratio': p.get('scale_ratio'),
                          'scale_ratio_error': p.get('scale_ratio_error')})
                rows.append(m)
            if args.per_image:
                for r in rows:
                    print(f'    {r["name"][-38:]:<38} {str(r["recipe"])[:26]:<26} '
                          f'{r["psnr"]:6.2f} vs {r["bicubic_psnr"]:6.2f} dB  SSIM '
                          f'{r["ssim"]:.3f} vs {r["bicubic_ssim"]:.3f}  ap '
                          f'{r["aperture_flux_error"]:.2%} vs '
                          f'{r["bicubic_aperture_flux_error"]:.2%}  real peaks '
                          f'{r["n_real_peaks"]}/{r["n_peaks"]} vs '
                          f'{r["bicubic_n_real_peaks"]}/{r["bicubic_n_peaks"]}'
                          + ('' if r['scale_ratio'] is None else
                             f'  fitted scale ratio {r["scale_ratio"]:.3f} +/- '
                             f'{r["scale_ratio_error"]:.3f}'))
            results[label] = {'summary': _summary(rows, label), 'rows': rows}
    return results


def _psf_options(pair, flux):
    """``psf`` / ``output_fwhm`` of `SuperResolver.enhance` for one of the PSF variants.

    ``psf-known``: the LR images' exact PSF and the truth's PSF FWHM; ``psf-deconvolve``: the
    same with ``deconvolve=True``; ``psf-deconvolve-sigma``: that with the pair's per-pixel
    noise as the input's uncertainty (when it has one); ``psf-x1.00``: the exact
    PSF's FWHM alone (all a seeing estimate gives); ``psf-x0.85`` and ``psf-x1.15``: that FWHM
    15% too small or too large; anything else: nothing (blind).
    """
    if isinstance(flux, str) and flux.startswith('support-'):
        return {'support_nsigma': float(flux[len('support-'):])}
    if not isinstance(flux, str) or not flux.startswith('psf-'):
        return {}
    if flux == 'psf-known':
        return {'psf': pair['psf'], 'output_fwhm': float(pair['hr_fwhm'])}
    if flux in ('psf-deconvolve', 'psf-deconvolve-sigma'):
        options = {'psf': pair['psf'], 'output_fwhm': float(pair['hr_fwhm']), 'deconvolve': True}
        if flux == 'psf-deconvolve-sigma' and pair.get('sigma') is not None:
            options['sigma'] = pair['sigma']
        return options
    factor = float(flux[len('psf-x'):])
    return {'psf': factor * psf_fwhm(pair['psf']),
            'output_fwhm': float(pair['hr_fwhm'])}


def _flops_per_output_pixel(model, scale):
    from torch.utils.flop_counter import FlopCounterMode

    net = model.model_.cpu().eval()
    chans = net.in_chans + int(getattr(net, 'noise_channel', False)) + (
        PSF_CONDITION_CHANNELS if getattr(net, 'psf_condition', False) else 0)
    x = torch.zeros(1, chans, 64, 64)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(x)
    return counter.get_total_flops() / (64 * scale) ** 2


def _matmul_rate(threads):
    torch.set_num_threads(threads)
    a = torch.randn(1024, 1024)
    torch.mm(a, a)
    t0 = time.perf_counter()
    n = 10
    for _ in range(n):
        torch.mm(a, a)
    return 2 * 1024 ** 3 * n / (time.perf_counter() - t0)


def run_speed(models, args, size=512):
    print(f'\n[speed] {size}x{size} input, {args.threads} CPU thread(s)')
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    image = rng.normal(100.0, 5.0, (size, size))
    t0 = time.perf_counter()
    for _ in range(5):
        bicubic_upscale(image, 2)
    t_bic = (time.perf_counter() - t0) / 5
    peak = _matmul_rate(args.threads)
    out = {'bicubic_mpix_per_s': size * size * 4 / t_bic / 1e6, 'matmul_gflops': peak / 1e9}
    print(f'  bicubic x2: {out["bicubic_mpix_per_s"]:.1f} output Mpix/s; machine matrix '
          f'multiply {peak / 1e9:.1f} GFLOP/s')
    for name, model in models.items():
        s = int(model.scale)
        _enhance(model, image[:64, :64])
        seconds = np.inf
        for _ in range(args.repeats):             # the best of a few: the least disturbed run
            t0 = time.perf_counter()
            _enhance(model, image)
            seconds = min(seconds, time.perf_counter() - t0)
        flops = _flops_per_output_pixel(model, s)
        mpix = size * size * s * s / seconds / 1e6
        achieved = flops * size * size * s * s / seconds
        out[name] = {'output_mpix_per_s': mpix, 'input_mpix_per_s': size * size / seconds / 1e6,
                     'flops_per_output_pixel': flops, 'achieved_gflops': achieved / 1e9,
                     'share_of_matmul_rate': achieved / peak}
        print(f'  {name:<14} x{s}: {mpix:.3f} output Mpix/s ({size * size / seconds / 1e6:.3f} '
              f'input Mpix/s), {flops / 1e3:.1f} kFLOP per output pixel -> '
              f'{achieved / 1e9:.2f} GFLOP/s = {100 * achieved / peak:.0f}% of the matmul rate')
    return out


def _gan(models, args):
    """Continue the first x2 model with the adversarial + classifier-feature loss."""
    from astrolens.datasets import sr_training_pairs

    name, base = next((n, m) for n, m in models.items() if int(m.scale) == 2)
    lr, hr, _ = sr_training_pairs('deeplense-x2', 300, 0)
    gan = SuperResolver(2, arch=base.arch, arch_kwargs=base.arch_kwargs, loss='gan', seed=0,
                        learning_rate=1e-4, device='cpu')
    gan.fit(lr, hr, epochs=10_000, max_minutes=args.gan_minutes, init=base, progress=False)
    gan.name_ = f'{name}-gan'
    return run_set('lenses', {gan.name_: gan}, args)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sets',
                        default='hst,hst-recipes,hst-mild,hdf,hdf-previous,lenses,hsc-hst,ground,'
                                'speed')
    parser.add_argument('--models', '--model', dest='models',
                        default='survey-x2,deeplense-x2,hsc-hst-x3',
                        help='shipped names or saved paths, comma-separated')
    parser.add_argument('--n-lenses', type=int, default=50)
    parser.add_argument('--n-hdf', type=int, default=12)
    parser.add_argument('--n-iiia', type=int, default=100,
                        help="fresh DeepLense Task III.A pairs of the 'iiia' set")
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=3,
                        help='timed runs per model in the speed set; the fastest counts')
    parser.add_argument('--flux-modes', action='store_true')
    parser.add_argument('--psf', action='store_true',
                        help='also enhance the simulated degradations with their PSF given '
                        '(exact; its FWHM alone, and that FWHM 15%% too small or too large)')
    parser.add_argument('--psf-modes', default=','.join(PSF_MODES),
                        help=f'with --psf, these of {",".join(PSF_MODES)}')
    parser.add_argument('--support-nsigma', type=float, nargs='+', default=None, metavar='N',
                        help='also run every model gated at these significance levels '
                             '(enhance(support_nsigma=N)): rows "MODEL flux=support-N"')
    parser.add_argument('--per-image', action='store_true')
    parser.add_argument('--json', default=None, help='write every figure to this file')
    parser.add_argument('--gan-minutes', type=float, default=0.0)
    parser.add_argument('--symmetries', action='store_true',
                        help="enhance with uncertainty='d4': the mean over the 8 symmetries of "
                             'the square (8x slower)')
    args = parser.parse_args(argv)
    unknown = set(args.psf_modes.split(',')) - set(PSF_MODES)
    if unknown:
        parser.error(f'--psf-modes: unknown {sorted(unknown)}; choose among {list(PSF_MODES)}')
    _SYMMETRIES['on'] = args.symmetries
    torch.set_num_threads(args.threads)
    models = {}
    for name in args.models.split(','):
        models[name] = SuperResolver.from_pretrained(name, device='cpu')
        print(f'{name}: {models[name].arch} x{models[name].scale}, flux='
              f'{models[name].flux!r}, trained by: {models[name].config_.get("command", "?")}')
    results = {}
    for name in args.sets.split(','):
        if name == 'speed':
            results['speed'] = run_speed(models, args)
            continue
        modes = (None, 'local-s1', 'local-s3', 'total', 'block', 'none') if (
            args.flux_modes and name != 'hsc-hst') else (None,)
        if args.psf and name in PSF_SETS:
            modes = (*modes, *args.psf_modes.split(','))
        if args.support_nsigma:
            modes = (*modes, *(f'support-{n:g}' for n in args.support_nsigma))
        results[name] = run_set(name, models, args, flux_modes=modes)
    if args.gan_minutes > 0:
        results['gan'] = _gan(models, args)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1, default=float)
    return results


if __name__ == '__main__':
    main()
