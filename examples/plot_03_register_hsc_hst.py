"""
Registering an HSC / HST pair
=============================

A ground-based cutout (HSC-like, 0.168"/px, seeing ~0.6") and a space-based
one (HST-like, 0.05"/px) of the same lens never sit on grids that differ by
an exact integer factor: each has its own pixel scale, position angle and a
small astrometric error. `~astrolens.preprocessing.register_pair` resamples
the HST image once, conserving flux, onto a grid exactly 3 times finer than
the HSC one, after measuring the residual offset between the two with the
HST image matched to the HSC PSF.

The pair comes from `~astrolens.simulation.simulate_sr_pairs` with the
``'hsc-hst'`` preset, which records the true astrometric error of the LR
header in ``meta``, so we can check what the registration found.
"""

import matplotlib.pyplot as plt
import numpy as np
from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval

from astrolens.preprocessing import register_pair
from astrolens.simulation import simulate_sr_pairs

(lr,), (hr,) = simulate_sr_pairs(1, preset='hsc-hst', seed=3)
print(f'LR {lr.data.shape} at {lr.meta["pixel_scale"]}"/px, PA {lr.meta["position_angle"]:.0f} '
      f'deg, PSF FWHM {lr.meta["psf_fwhm"]:.2f}"')
print(f'HR {hr.data.shape} at {hr.meta["pixel_scale"]}"/px, PA {hr.meta["position_angle"]:.0f} '
      f'deg, PSF FWHM {hr.meta["psf_fwhm"]:.3f}"')

# %%
# Register. The PSFs are read from ``NDData.psf`` (the simulation puts them
# there; for FITS files, from a ``PSF`` extension, or pass ``lr_psf=`` and
# ``hr_psf=`` as arrays or FWHMs). The factor defaults to the nearest integer
# to the ratio of the pixel scales, here 0.168 / 0.05 -> 3.

pair = register_pair(lr, hr)
print(f'factor {pair.factor}; HR now {pair.hr.data.shape} on the LR grid x {pair.factor}')
print(f'shift (y, x) = ({pair.shift[0]:.3f}, {pair.shift[1]:.3f}) '
      f'+/- ({pair.shift_error[0]:.3f}, {pair.shift_error[1]:.3f}) LR pixels')
true = (-lr.meta['offset_dra_arcsec'], -lr.meta['offset_ddec_arcsec'])
print(f'HR minus LR WCS offset: found ({pair.sky_offset[0]:+.3f}, {pair.sky_offset[1]:+.3f}) '
      f'arcsec, true ({true[0]:+.3f}, {true[1]:+.3f}) arcsec')
print(f'flux ratio of the resampling {pair.flux_ratio:.5f}; '
      f'consistency (reduced chi2) {pair.consistency():.2f}')

# %%
# Before: the HR image resampled with the two headers as they are (the
# astrometric error left in); after: the registered HR. Both are on the grid
# 3x finer than the LR. To compare them with the LR, each is matched to the
# LR PSF with `~astrolens.preprocessing.match_psf` (Gaussian PSFs of the
# recorded FWHMs, from `~astrolens.preprocessing.gaussian_psf`), summed into
# LR pixels and fitted to the LR with a flux scale and a sky level. Once the
# pair is registered, the residual LR minus that model is noise only.

from astropy.nddata import block_reduce
from reproject import reproject_adaptive

from astrolens.preprocessing import gaussian_psf, match_psf

fine_scale = lr.meta['pixel_scale'] / pair.factor
psf_hr = gaussian_psf(hr.meta['psf_fwhm'], fine_scale)
psf_lr = gaussian_psf(lr.meta['psf_fwhm'], fine_scale)
naive, _ = reproject_adaptive((np.asarray(hr.data, float), hr.wcs), pair.hr.wcs,
                              shape_out=pair.hr.data.shape, conserve_flux=True)
lr_data = np.asarray(lr.data, float)
inner = np.s_[3:-3, 3:-3]  # away from the edges, where the HR lacks PSF wings
residuals = {}
for name, fine in (('before', naive), ('after', pair.hr.data)):
    matched = match_psf(np.nan_to_num(np.asarray(fine, float)), psf_hr, psf_lr)
    model = block_reduce(matched, pair.factor)  # sums factor x factor blocks
    A = np.c_[model[inner].ravel(), np.ones(model[inner].size)]
    (scale, sky), *_ = np.linalg.lstsq(A, lr_data[inner].ravel(), rcond=None)
    residuals[name] = lr_data - (scale * model + sky)
    print(f'{name:>6}: rms of LR - model {np.std(residuals[name][inner]):.3f} counts '
          f'(LR sky noise {lr.meta["sky_sigma"]})')

# %%
# Top: the registered HR with the LR contours (both on the LR pixel axes,
# the HR 3x finer), and the LR. Bottom: residuals before and after.

fig, axes = plt.subplots(2, 2, figsize=(8.5, 8), constrained_layout=True)
ny, nx = lr.data.shape
extent = (-0.5, nx - 0.5, -0.5, ny - 0.5)
hr_norm = ImageNormalize(pair.hr.data, interval=PercentileInterval(99.9),
                         stretch=AsinhStretch(0.1))
axes[0, 0].imshow(pair.hr.data, origin='lower', cmap='magma', norm=hr_norm, extent=extent)
levels = np.nanpercentile(lr_data, [90, 96, 99, 99.8])
axes[0, 0].contour(lr_data, levels=levels, colors='cyan', linewidths=0.8)
axes[0, 0].set_title('registered HR, LR contours')
axes[0, 1].imshow(lr_data, origin='lower', cmap='magma',
                  norm=ImageNormalize(lr_data, interval=PercentileInterval(99.7),
                                      stretch=AsinhStretch(0.05)))
axes[0, 1].set_title(f'LR (HSC-like), seeing {lr.meta["psf_fwhm"]:.2f}"')
limit = np.abs(residuals['before'][inner]).max()
for ax, name in zip(axes[1], ('before', 'after'), strict=True):
    im = ax.imshow(residuals[name], origin='lower', cmap='RdBu_r', vmin=-limit, vmax=limit)
    ax.set_title(f'LR - PSF-matched binned HR, {name}')
fig.colorbar(im, ax=axes[1], shrink=0.8, label='counts')
for ax in axes.flat:
    ax.set_xlabel('LR x (pixel)')
    ax.set_ylabel('LR y (pixel)')
plt.show()
