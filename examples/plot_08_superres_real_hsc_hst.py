"""
Super-resolution on a real HSC / HST pair
=========================================

The real test of a super-resolution model: a real ground-based image (HSC
i band, 0.168"/px, seeing ~0.7") of a COSMOS field next to the real HST ACS
F814W image of the same field (0.03"/px), which no model was trained on.

The HST image is registered onto the grid 3x finer than the HSC one
(`~astrolens.preprocessing.register_pair`, the WCSs disagree by ~50-80 mas)
and put on the HSC photometric scale (a ratio of sums over its footprint);
see `~astrolens.datasets.hsc_hst_real_pair`. Then we compare, on the same
grid: bicubic upsampling, ``hsc-hst-x3`` (trained for exactly this) blind,
given the real HSC PSF (``enhance(psf=...)``: the output brought to the
resolution of the real HST PSF), and given it with ``deconvolve=True`` (the
deconvolution carried on until the output, observed through the HSC PSF,
explains the input to its noise), and the two x2 models on their own,
coarser, grid. Residuals are against HST; all intensities are HSC counts per output
pixel.

This needs the ``shared/real`` folder beside the checkout.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from astropy.visualization import AsinhStretch, ImageNormalize

from astrolens import SuperResolver
from astrolens.datasets import hsc_hst_real_pair, noise_limited_psnr
from astrolens.metrics import psnr, ssim
from astrolens.models._sr_inference import bicubic_upscale

pair = hsc_hst_real_pair()
if pair is None:
    raise SystemExit('this example needs ../shared/real (the real HSC/HST pair)')
lr, hst = pair['lr'], pair['hr']
print(f'HSC {lr.shape} px, HST registered onto {hst.shape} (x3), residual shift '
      f'{pair["shift"][0]:+.3f}, {pair["shift"][1]:+.3f} HSC pixels')

# %%
# Enhance. The x2 models also run (on a 2x grid) to show what a model made
# for another domain does; ``enhance`` warns when an input is outside what a
# model was trained for, which we collect here.

outputs = {'bicubic x3': bicubic_upscale(lr, 3)}
for name in ('hsc-hst-x3', 'survey-x2', 'deeplense-x2'):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        model = SuperResolver.from_pretrained(name, device='cpu')
        outputs[name] = np.asarray(model.enhance(lr, progress=False).data)
    for w in caught:
        print(f'{name}: {w.message}')
# the same model told the real HSC PSF, its output brought to the HST PSF's FWHM
with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    x3 = SuperResolver.from_pretrained('hsc-hst-x3', device='cpu')
    outputs['hsc-hst-x3 + PSF'] = np.asarray(
        x3.enhance(lr, progress=False, psf=pair['psf'], output_fwhm=pair['hr_fwhm']).data)
    deconvolved = x3.enhance(lr, progress=False, psf=pair['psf'], output_fwhm=pair['hr_fwhm'],
                             deconvolve=True)
    outputs['+ PSF, deconvolve'] = np.asarray(deconvolved.data)
print(f"deconvolve=True ran {deconvolved.meta['sr_deconvolve_iterations']} iterations")
for name in ('bicubic x3', 'hsc-hst-x3', 'hsc-hst-x3 + PSF', '+ PSF, deconvolve'):
    print(f'{name:>16}: PSNR {psnr(outputs[name], hst):.2f} dB, SSIM '
          f'{ssim(outputs[name], hst):.3f} against HST (range of the HST image)')

# %%
# The HST image is itself noisy, and none of its noise is in the HSC pixels:
# even the noise-free sky would not score above this ceiling.
print(f'ceiling set by the HST noise: {noise_limited_psnr(hst):.2f} dB')

# %%
# Top: HSC, bicubic, ``hsc-hst-x3``, HST. Middle: the x2 models and
# ``hsc-hst-x3`` given the HSC PSF, without and with ``deconvolve=True``.
# Bottom: residuals against HST, where HST covers (grey outside). Same
# stretch for all the images, same symmetric scale for the residuals.

norm = ImageNormalize(vmin=np.nanpercentile(hst, 1), vmax=np.nanpercentile(hst, 99.8),
                      stretch=AsinhStretch(0.05))
fig, axes = plt.subplots(3, 4, figsize=(13, 10), constrained_layout=True)
# every panel in counts per 0.056" pixel, so one stretch fits all: the HSC input (0.168"
# pixels) divided by 9, the x2 outputs (0.084" pixels) multiplied by 4/9
panels = [('HSC i (input)', lr / 9.0),
          ('bicubic x3', outputs['bicubic x3']), ('hsc-hst-x3', outputs['hsc-hst-x3']),
          ('HST F814W (truth), HSC scale', hst),
          ('survey-x2 (x2 grid)', outputs['survey-x2'] * 4.0 / 9.0),
          ('deeplense-x2 (x2 grid)', outputs['deeplense-x2'] * 4.0 / 9.0),
          ('hsc-hst-x3 given the HSC PSF', outputs['hsc-hst-x3 + PSF']),
          ('the same, deconvolve=True', outputs['+ PSF, deconvolve'])]
for ax, (title, shown) in zip(axes.ravel()[:8], panels, strict=True):
    im = ax.imshow(shown, origin='lower', cmap='magma', norm=norm)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8, label='HSC counts per 0.056" pixel')
limit = np.nanpercentile(np.abs(outputs['bicubic x3'] - hst), 99)
for ax, name in zip(axes[2], ('bicubic x3', 'hsc-hst-x3', 'hsc-hst-x3 + PSF',
                             '+ PSF, deconvolve'), strict=True):
    resid = outputs[name] - hst
    im = ax.imshow(resid, origin='lower', cmap='coolwarm', vmin=-limit, vmax=limit)
    ax.set_title(f'{name} - HST ({psnr(outputs[name], hst):.1f} dB)', fontsize=8)
    fig.colorbar(im, ax=ax, shrink=0.8, label='HSC counts per 0.056" pixel')
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
plt.show()
