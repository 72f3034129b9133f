"""Does the per-pixel uncertainty of ``SuperResolver.enhance`` cover the truth?

Usage::

    python benchmarks/bench_uncertainty.py [--sets ground,hst,hsc] [--samples 8]
        [--terms gradient] [--n-calibration 12] [--no-simulated] [--fit]
        [--write CONFIG.json] [--cache DIR] [--threads 1] [--json FILE]

For every held-out pair (the sets of ``bench_superres.py``: ``ground`` real SDSS r against
real KiDS r, x2, ``survey-x2``; ``hst`` held-out real HST images degraded x2 by two fixed
recipes, ``survey-x2``; ``hsc`` the real HSC i / HST F814W pair of COSMOS, x3,
``hsc-hst-x3``) the input is enhanced with ``uncertainty='d4'`` (8 passes) and
``uncertainty='resample'`` (``--samples`` passes), and scored as

``(b) d4 [today]``
    the spread of the 8 symmetries of the clean input;
``(a)+(b) resample``
    the spread of ``--samples`` passes with noise drawn at the input's noise level, in
    antithetic pairs each in another symmetry;
``(a)+(b)+(c) sim-fitted``
    plus the model error (`astrolens.models._sr_uncertainty.model_error`, terms
    ``--terms``) fitted on CALIBRATION pairs of the model's own training recipe
    (`calibration_pairs`: preset of the model, seed `CALIBRATION_SEED`; the training
    draws seed 0), disjoint from the evaluation;
``(a)+(b)+(c) real-fitted, held out``
    the model error fitted on the other real x2 pairs: for ``ground`` and ``hst`` leaving
    out the pair's image (both recipes of an ``hst`` image), for ``hsc`` fitted on all the
    x2 pairs (another model, another survey: held out);
``enhance(uncertainty=True)``
    what ``enhance`` gives: the coefficients of the model's configuration, else
    `~astrolens.models._sr_uncertainty.DEFAULT_MODEL_ERROR` (the real x2 fit: in-sample on
    ``ground`` and ``hst``).

The model error is fitted by maximum likelihood of the errors on the truth's source pixels,
each pair weighing the same (`fit_coefficients`). The scores
(`astrolens.metrics.uncertainty_calibration`) are on the truth's source pixels
(`astrolens.metrics.source_pixels`: the truth smoothed over 2 pixels above 3 sigma of its
sky) with ``sigma_total**2 = sigma_out**2 + sigma_truth**2`` (``sigma_truth``: the truth's
sky noise, `astrolens.datasets.sky_noise_sigma`): the share within 1 sigma_total (target
60-76%; 68.3% for an exact Gaussian error) and the standard deviation of z (target
0.8-1.25), pooled over the set, and their range over its pairs.

Sets ``ground`` and ``hst`` need ``../shared/real`` (skipped with a message when absent);
``hsc`` reads the samples shipped with the package. ``--fit`` prints the coefficients fitted
on all real x2 pairs as the ``uncertainty`` entry of a model configuration; ``--write
CONFIG.json`` adds it to that file (a saved model's; rerun this to refit a shipped one).
"""

import argparse
import hashlib
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from astrolens.datasets._evaluation import (
    ground_pairs,
    hsc_hst_real_pair,
    hst_eval_pairs,
    sky_noise_sigma,
)
from astrolens.datasets._sources import shared_real
from astrolens.metrics import source_pixels, uncertainty_calibration
from astrolens.models._sr_inference import noise_level
from astrolens.models._sr_uncertainty import (
    DEFAULT_MODEL_ERROR,
    input_noise_on_output,
    model_error,
    model_error_coefficients,
)
from astrolens.models._superres import SuperResolver

SET_MODEL = {'ground': 'survey-x2', 'hsc': 'hsc-hst-x3', 'hst': 'survey-x2'}
#: Preset of `astrolens.datasets.RANGES` each model was trained on (its calibration recipe).
MODEL_PRESET = {'survey-x2': 'survey-x2', 'hsc-hst-x3': 'hsc-hst-x3'}
#: Seed of the calibration pairs (the training draws seed 0, its test sets 12345).
CALIBRATION_SEED = 777


def _key(*parts):
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]


def run_enhance(model, lr, method, samples, cache):
    """``(sr, sigma, seconds)`` of ``model.enhance(lr, uncertainty=method)``, cached."""
    path = None
    if cache is not None:
        path = Path(cache) / f'{model.name_}-{method}-{samples}-{_key(lr.tobytes())}.npz'
        if path.is_file():
            with np.load(path) as f:
                return f['sr'], f['sigma'], float(f['seconds'])
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        out = model.enhance(np.asarray(lr, dtype=np.float64), uncertainty=method,
                            uncertainty_samples=samples, progress=False)
    seconds = time.perf_counter() - t0
    sr = np.asarray(out.data, dtype=np.float64)
    sigma = np.asarray(out.uncertainty.array, dtype=np.float64)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, sr=sr, sigma=sigma, seconds=seconds)
    return sr, sigma, seconds


def _truth_sigma(truth):
    sigma = sky_noise_sigma(truth)
    return float(sigma) if np.isfinite(sigma) else 0.0


def prepare(pair, model, samples, cache, *, d4=True):
    """Everything the scores need for one pair: outputs, sigmas, source mask, truth noise."""
    lr, truth = pair['lr'], pair['hr']
    sr_d4, sig_d4, t_d4 = run_enhance(model, lr, 'd4', 8, cache) if d4 else (None, None, 0.0)
    sr, sig, t_r = run_enhance(model, lr, 'resample', samples, cache)
    # the input's noise level as enhance estimates it (the inputs carry no uncertainty)
    bad = ~np.isfinite(lr)
    floor = input_noise_on_output(noise_level(np.where(bad, 0.0, lr), bad), model.scale)
    return {'name': pair['name'], 'group': pair.get('group', pair['name']), 'truth': truth,
            'input_noise': float(floor), 'factor': int(model.scale),
            'mask': source_pixels(truth), 'truth_sigma': _truth_sigma(truth),
            'sr_d4': sr_d4, 'sig_d4': sig_d4, 'sr': sr, 'sig': sig,
            'seconds': {'d4': t_d4, 'resample': t_r}}


def calibrated_sigma(item, coeffs):
    """The sigma of ``uncertainty='calibrated'`` from the resampled output (same formula)."""
    coeffs = dict(DEFAULT_MODEL_ERROR, **coeffs)
    return np.sqrt((coeffs['scale'] * item['sig']) ** 2
                   + model_error(item['sr'], factor=item['factor'],
                                 input_noise=item['input_noise'], **coeffs) ** 2)


def score(item, method, coeffs=None):
    if method == 'd4':
        pred, sigma = item['sr_d4'], item['sig_d4']
    elif method == 'resample':
        pred, sigma = item['sr'], item['sig']
    else:
        pred, sigma = item['sr'], calibrated_sigma(item, coeffs)
    return uncertainty_calibration(pred, sigma, item['truth'], truth_sigma=item['truth_sigma'],
                                   mask=item['mask'])


TERMS = ('scale', 'noise', 'level', 'gradient')


def fit_coefficients(items, *, terms=('gradient',)):
    """Model-error coefficients maximising the Gaussian likelihood of the source-pixel errors.

    Only ``terms`` (of `TERMS`) are fitted; the others keep `DEFAULT_MODEL_ERROR`'s 1
    (``scale``) or 0. Each pair weighs the same, whatever its number of source pixels.
    """
    from scipy.optimize import minimize

    cols = {k: [] for k in ('r2', 'base2', 't2', 'noise', 'level', 'gradient', 'w')}
    for item in items:
        m = item['mask'] & np.isfinite(item['truth']) & np.isfinite(item['sr'])
        if not m.any():
            continue
        sr = np.where(np.isfinite(item['sr']), item['sr'], np.nanmedian(item['sr']))
        gy, gx = np.gradient(sr)
        n = int(m.sum())
        cols['r2'].append(((item['sr'] - item['truth'])[m]) ** 2)
        cols['base2'].append(item['sig'][m] ** 2)
        cols['t2'].append(np.full(n, item['truth_sigma'] ** 2))
        cols['noise'].append(np.full(n, item['input_noise'] ** 2))
        cols['level'].append((sr - np.median(sr))[m] ** 2)
        cols['gradient'].append(item['factor'] ** 2 * (gy ** 2 + gx ** 2)[m])
        cols['w'].append(np.full(n, 1.0 / n))
    cols = {k: np.concatenate(v) for k, v in cols.items()}
    start = {'scale': 1.0, 'noise': 1.0, 'level': 0.1, 'gradient': 1.0}

    def unpack(theta):
        coeffs = {'scale': 1.0, 'noise': 0.0, 'level': 0.0, 'gradient': 0.0}
        coeffs.update({k: float(np.exp(v)) for k, v in zip(terms, theta, strict=True)})
        return coeffs

    def nll(theta):
        c = unpack(theta)
        var = (c['scale'] ** 2 * cols['base2'] + cols['t2'] + c['noise'] ** 2 * cols['noise']
               + c['level'] ** 2 * cols['level'] + c['gradient'] ** 2 * cols['gradient'])
        var = np.maximum(var, 1e-300)
        return float(np.sum(cols['w'] * (cols['r2'] / var + np.log(var))))

    best = minimize(nll, np.log([start[k] for k in terms]), method='Nelder-Mead',
                    options={'xatol': 1e-4, 'fatol': 1e-9, 'maxiter': 4000})
    return {k: round(v, 4) for k, v in unpack(best.x).items()}


def calibration_pairs(model_name, n, *, lr_size=48):
    """Fresh pairs of the model's own training recipe (its preset, `CALIBRATION_SEED`).

    As the training draws them (`astrolens.training._sr_presets.draw_degraded_pair`), but
    without cosmic rays and masked pixels: the evaluation pairs have none, and a few
    cosmic rays the truth lacks would set the fit of a handful of pairs.
    """
    from astrolens.datasets import RANGES
    from astrolens.datasets._degradation import degrade, draw_recipe
    from astrolens.datasets._sources import SourcePool

    preset = MODEL_PRESET[model_name]
    ranges = RANGES[preset]
    s = int(ranges['scale'])
    margin = 3                      # LR pixels cut from each side, as in training
    pool = SourcePool(preset, seed=CALIBRATION_SEED, n_lenses=8)
    rng = np.random.default_rng([CALIBRATION_SEED, 1])
    out = []
    for i in range(n):
        ratio = float(rng.choice(ranges['pixel_ratio']))
        size = int(np.ceil((lr_size + 2 + 2 * margin) * ratio)) + 2
        image, fwhm, kind, _ = pool.crop(rng, size)
        image = image * float(np.exp(rng.uniform(np.log(0.1), np.log(10.0))))
        recipe = draw_recipe(rng, preset=preset, native_fwhm=fwhm,
                             overrides={'pixel_ratio': ratio, 'n_cosmic': 0,
                                        'mask_fraction': 0.0})
        pair = degrade(image, recipe, rng=rng, native_fwhm=fwhm, margin=margin)
        out.append({'name': f'{preset}-cal-{i} ({kind})', 'lr': pair.lr[:lr_size, :lr_size],
                    'hr': pair.hr[:s * lr_size, :s * lr_size]})
    return out


def evaluation_pairs(name):
    if name == 'ground':
        pairs = ground_pairs()
    elif name == 'hst':
        pairs = hst_eval_pairs()
        for p in pairs:
            p['group'] = p['name']          # held out: an image, with both its recipes
            p['name'] = f'{p["name"]} {p["recipe"]}'
    else:
        pairs = [hsc_hst_real_pair()]
    return pairs


def _row(label, results, cost=''):
    z = np.concatenate([r.z for r in results])
    coverage = float(np.mean(np.abs(z) < 1.0)) if z.size else float('nan')
    z_std = float(np.std(z)) if z.size else float('nan')
    covs = [r.coverage for r in results]
    stds = [r.z_std for r in results]
    print(f'  {label:<38} {100 * coverage:5.1f}%  {z_std:5.2f}   pairs {100 * min(covs):3.0f}-'
          f'{100 * max(covs):3.0f}%, {min(stds):.2f}-{max(stds):.2f}   {cost}')
    return {'coverage': coverage, 'z_std': z_std, 'coverage_per_pair': covs,
            'z_std_per_pair': stds}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sets', default='ground,hst,hsc',
                        help='comma-separated, of ground, hst, hsc (default all)')
    parser.add_argument('--samples', type=int, default=8,
                        help='forward passes of the resampled uncertainty (default 8)')
    parser.add_argument('--terms', default='gradient',
                        help=f'model-error coefficients to fit, of {",".join(TERMS)} '
                             '(default gradient)')
    parser.add_argument('--n-calibration', type=int, default=12,
                        help='simulated calibration pairs per model (default 12)')
    parser.add_argument('--no-simulated', action='store_true',
                        help='skip the fit on simulated calibration pairs')
    parser.add_argument('--fit', action='store_true',
                        help='print the coefficients fitted on all real x2 pairs as a '
                             'configuration entry')
    parser.add_argument('--write', default=None, metavar='CONFIG.json',
                        help='with --fit: add the entry to this model configuration (a saved '
                             "model's)")
    parser.add_argument('--cache', default=None, metavar='DIR',
                        help='keep every output here, so that a rerun only scores')
    parser.add_argument('--threads', type=int, default=1, help='torch CPU threads (default 1)')
    parser.add_argument('--json', default=None, help='write the figures to this file')
    args = parser.parse_args(argv)
    sets = [s for s in args.sets.split(',') if s]
    unknown = set(sets) - set(SET_MODEL)
    if unknown:
        parser.error(f'--sets: unknown {sorted(unknown)}; choose among {sorted(SET_MODEL)}')
    terms = tuple(k for k in args.terms.split(',') if k)
    if not terms or set(terms) - set(TERMS):
        parser.error(f'--terms: choose among {list(TERMS)}, got {args.terms!r}')
    torch.set_num_threads(args.threads)
    if shared_real() is None:
        absent = [s for s in sets if s != 'hsc']
        if absent:
            print(f'skipped {absent}: ../shared/real is absent (only hsc, on the shipped '
                  'samples, runs without it)')
        sets = [s for s in sets if s == 'hsc']
        if not sets:
            return 0
    models = {m: SuperResolver.from_pretrained(m, device='cpu')
              for m in sorted({SET_MODEL[s] for s in sets})}
    report = {'samples': args.samples, 'terms': terms, 'sets': {}, 'coefficients': {}}
    items = {}
    for name in sets:
        t0 = time.perf_counter()
        model = models[SET_MODEL[name]]
        items[name] = [prepare(p, model, args.samples, args.cache)
                       for p in evaluation_pairs(name)]
        print(f'[{name}] {len(items[name])} pairs enhanced by {model.name_} in '
              f'{time.perf_counter() - t0:.0f} s')
    sim = {}
    for name, model in ({} if args.no_simulated else models).items():
        t0 = time.perf_counter()
        cal = [prepare(p, model, args.samples, args.cache, d4=False)
               for p in calibration_pairs(name, args.n_calibration)]
        sim[name] = fit_coefficients(cal, terms=terms)
        print(f'{name}: model error fitted on {len(cal)} simulated pairs of its recipe '
              f'(preset {MODEL_PRESET[name]}, seed {CALIBRATION_SEED}) in '
              f'{time.perf_counter() - t0:.0f} s: {json.dumps(sim[name])}')
    report['coefficients']['simulated'] = sim
    # the real x2 pairs, pooled: fitted on all, and on all but one image at a time
    x2 = [i for s in ('ground', 'hst') for i in items.get(s, [])]
    groups = sorted({i['group'] for i in x2})
    real = fit_coefficients(x2, terms=terms) if len(groups) > 1 else None
    held_out = {g: fit_coefficients([i for i in x2 if i['group'] != g], terms=terms)
                for g in groups} if len(groups) > 2 else {}
    if real is not None:
        print(f'model error fitted on the {len(x2)} real x2 pairs ({len(groups)} images): '
              f'{json.dumps(real)}')
    report['coefficients']['real_x2'] = real
    for name in sets:
        model = models[SET_MODEL[name]]
        its = items[name]
        n_pix = sum(int(i['mask'].sum()) for i in its)
        t_d4 = np.mean([i['seconds']['d4'] for i in its])
        t_r = np.mean([i['seconds']['resample'] for i in its])
        print(f'\n[{name}] {len(its)} pairs, {model.name_}, {n_pix} source pixels: share within '
              f'1 sigma_total (60-76%), z std (0.8-1.25); pooled, then over the pairs')
        rows = {'d4': _row('(b) d4 [today]', [score(i, 'd4') for i in its],
                           f'8 passes, {t_d4:.1f} s/pair'),
                'resample': _row('(a)+(b) resample', [score(i, 'resample') for i in its],
                                 f'{args.samples} passes, {t_r:.1f} s/pair')}
        if model.name_ in sim:
            rows['sim'] = _row('(a)+(b)+(c) sim-fitted',
                               [score(i, 'calibrated', sim[model.name_]) for i in its])
        if name == 'hsc' and real is not None:
            rows['real_held_out'] = _row('(a)+(b)+(c) real-fitted, held out',
                                         [score(i, 'calibrated', real) for i in its],
                                         'fitted on the x2 pairs')
        elif name != 'hsc' and held_out:
            rows['real_held_out'] = _row('(a)+(b)+(c) real-fitted, held out',
                                         [score(i, 'calibrated', held_out[i['group']])
                                          for i in its], 'leave one image out')
        configured = model_error_coefficients(model)
        rows['enhance'] = _row('enhance(uncertainty=True)',
                               [score(i, 'calibrated', configured) for i in its],
                               f'{args.samples} passes; {json.dumps(configured)}')
        report['sets'][name] = rows
    if args.fit and real is not None:
        entry = {'model_error': real,
                 'fitted_by': 'python benchmarks/bench_uncertainty.py --sets ground,hst --fit '
                              f'--samples {args.samples} --terms {",".join(terms)}',
                 'calibration': f'real x2 pairs: {len(x2)} ({len(groups)} images) of the '
                                'ground and hst sets'}
        print('\nconfiguration entry:\n' + json.dumps({'uncertainty': entry}, indent=1))
        if args.write:
            path = Path(args.write)
            config = json.loads(path.read_text())
            config['uncertainty'] = entry
            path.write_text(json.dumps(config, indent=1) + '\n')
            print(f'written to {path}')
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
