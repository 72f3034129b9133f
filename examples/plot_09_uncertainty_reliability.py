"""
Does the uncertainty cover the truth? A reliability plot on real HSC / HST
==========================================================================

``SuperResolver.enhance(..., uncertainty=True)`` returns a standard deviation
per output pixel. It is worth something only if it covers the truth: about
68% of the pixels within 1 sigma, 95% within 2. We check it where the truth
is known, on the real HSC i image of a COSMOS field against the real HST
F814W image of it (the samples shipped with astrolens, registered x3 by
`~astrolens.datasets.hsc_hst_real_pair`), on the truth's source pixels
(`~astrolens.metrics.source_pixels`).

Two estimates, side by side:

- ``uncertainty='d4'``: the spread of the model over the 8 rotations and
  flips of the input (8 forward passes) -- the network agrees with itself
  far better than with the truth;
- ``uncertainty=True`` (``'calibrated'``): the input enhanced
  ``uncertainty_samples=8`` times with its own noise level drawn afresh, in
  opposite pairs each in another symmetry, plus the model's error on
  structure the input does not show (the default coefficients, fitted by
  ``benchmarks/bench_uncertainty.py`` on real x2 pairs of another model,
  ``survey-x2``: this pair is held out).

The error against HST includes HST's own noise, so it is added:
``sigma_total**2 = sigma**2 + sigma_HST**2``. The reliability plot draws,
for each nominal probability, the share of pixels whose error lies inside the
Gaussian interval of that probability: a calibrated uncertainty follows the
diagonal, one too narrow stays below it.
"""

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np

from astrolens import SuperResolver
from astrolens.datasets import hsc_hst_real_pair, sky_noise_sigma
from astrolens.metrics import coverage_curve, source_pixels, uncertainty_calibration

pair = hsc_hst_real_pair()  # the shipped samples: no download
lr, hst = pair['lr'], pair['hr']
sources = source_pixels(hst)
hst_sigma = sky_noise_sigma(hst)
print(f'HSC {lr.shape} -> HST grid {hst.shape}; {sources.sum()} source pixels; '
      f'HST sky noise {hst_sigma:.3g} per pixel')

# %%
# Enhance twice, timing each (both cost 8 forward passes).

x3 = SuperResolver.from_pretrained('hsc-hst-x3', device='cpu')
results = {}
for label, method in (("'d4'", 'd4'), ('True', True)):
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')      # the domain check: expected on this pair
        out = x3.enhance(lr, uncertainty=method, uncertainty_samples=8, progress=False)
    seconds = time.perf_counter() - t0
    result = uncertainty_calibration(out.data, out.uncertainty.array, hst,
                                     truth_sigma=hst_sigma, mask=sources)
    results[label] = result
    print(f'uncertainty={label}: {out.meta["sr_uncertainty_passes"]} passes in '
          f'{seconds:.1f} s; {100 * result.coverage:.0f}% of the source pixels within '
          f'1 sigma_total (68% if calibrated), z std {result.z_std:.2f} (1 if calibrated)')

# %%
# Left: the reliability plot. Right: the z-scores against a unit Gaussian.

plt.rcParams.update({'font.size': 10, 'axes.titlesize': 10, 'axes.labelsize': 10,
                     'xtick.labelsize': 10, 'ytick.labelsize': 10, 'legend.fontsize': 9})
fig, (left, right) = plt.subplots(1, 2, figsize=(7.2, 3.4), constrained_layout=True)
left.plot([0, 1], [0, 1], color='0.5', lw=1, ls='--', label='calibrated')
bins = np.linspace(-6, 6, 49)
for (label, result), colour in zip(results.items(), ('tab:red', 'tab:blue'), strict=True):
    levels, observed = coverage_curve(result.z)
    left.plot(levels, observed, 'o-', ms=3, color=colour,
              label=f'{label}: {100 * result.coverage:.0f}% in 1 sigma')
    right.hist(np.clip(result.z, bins[0], bins[-1]), bins=bins, density=True,
               histtype='step', color=colour, label=f'{label}: std {result.z_std:.2f}')
grid = np.linspace(-6, 6, 200)
right.plot(grid, np.exp(-grid ** 2 / 2) / np.sqrt(2 * np.pi), color='0.5', ls='--',
           label='unit Gaussian')
left.set(xlabel='nominal probability of the interval', ylabel='share of source pixels in it',
         xlim=(0, 1), ylim=(0, 1), aspect='equal', title='Reliability on real HSC / HST')
left.legend(loc='upper left')
right.set(xlabel='z = (output - HST) / sigma_total', ylabel='density', ylim=(0, 0.65),
          title='z-scores of the source pixels')
right.legend(loc='upper left')
plt.show()
