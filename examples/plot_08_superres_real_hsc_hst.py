"""
Super-resolution on a real HSC / HST pair
=========================================

The real test of a super-resolution model: a real ground-based image (HSC
i band, 0.168"/px, seeing ~0.7") of a COSMOS field next to the real HST ACS
F814W image of the same field (0.03"/px), which no model was trained on.
Both ship with astrolens, with their PSFs, as the samples ``'hsc-cosmos'``,
``'hst-cosmos'``, ``'hsc-cosmos-psf'`` and ``'hst-cosmos-psf'``
(`~astrolens.datasets.sample_path`; ``astrolens sample --list``).

The HST image is registered onto the grid 3x finer than the HSC one
(`~astrolens.preprocessing.register_pair`, the WCSs disagree by ~50-80 mas)
and put on the HSC photometric scale (a ratio of sums over its footprint);
see `~astrolens.datasets.hsc_hst_real_pair`. Then we compare, on the same
grid: bicubic upsampling, ``hsc-hst-x3`` (trained for exactly this) blind,
given the real HSC PSF (``enhance(psf=...)``: the output brought to the
resolution of the real HST PSF), and given it with ``deconvolve=True`` (the
deconvolution carried on until the output, observed through the HSC PSF,
explains the input to its noise).
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from astropy.io import fits
from astropy.visualization import AsinhStretch, ImageNormalize
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

from astrolens import SuperResolver
from astrolens.datasets import hsc_hst_real_pair, noise_limited_psnr, sample_path
from astrolens.metrics import psnr, ssim
from astrolens.models._sr_inference import bicubic_upscale

for name in ('hsc-cosmos', 'hst-cosmos', 'hsc-cosmos-psf', 'hst-cosmos-psf'):
    path = sample_path(name)
    print(f'{name:>14}: {path.name}, {fits.getdata(path).shape}')
pair = hsc_hst_real_pair()  # reads those four files
lr, hst = pair['lr'], pair['hr']
print(f'HSC i {lr.shape} px, HST registered onto {hst.shape} (x3);\nresidual shift '
      f'{pair["shift"][0]:+.3f}, {pair["shift"][1]:+.3f} HSC pixels (y, x)')

# %%
# Enhance: bicubic, then ``hsc-hst-x3`` blind, given the HSC PSF, and given
# it with ``deconvolve=True``. Scores are against the registered HST image
# where it covers, PSNR over the data range of the HST image.

outputs = {'bicubic x3': bicubic_upscale(lr, 3)}
with warnings.catch_warnings():
    # the PSF options warn that the output is sharper than the training targets: expected
    warnings.simplefilter('ignore')
    x3 = SuperResolver.from_pretrained('hsc-hst-x3', device='cpu')
    outputs['hsc-hst-x3 blind'] = np.asarray(x3.enhance(lr, progress=False).data)
    outputs['given the PSF'] = np.asarray(
        x3.enhance(lr, progress=False, psf=pair['psf'], output_fwhm=pair['hr_fwhm']).data)
    deconvolved = x3.enhance(lr, progress=False, psf=pair['psf'], output_fwhm=pair['hr_fwhm'],
                             deconvolve=True)
    outputs['PSF, deconvolve'] = np.asarray(deconvolved.data)
print(f"deconvolve=True ran {deconvolved.meta['sr_deconvolve_iterations']} iterations")
for name, out in outputs.items():
    print(f'{name:>16}: PSNR {psnr(out, hst):.2f} dB, SSIM {ssim(out, hst):.3f}, '
          f'flux change {np.sum(out) / np.sum(lr) - 1:+.1e}')

# %%
# The HST image is itself noisy, and none of its noise is in the HSC pixels:
# even the noise-free sky would not score above this ceiling.
print(f'ceiling set by the HST noise: {noise_limited_psnr(hst):.2f} dB')

# %%
# Top: the HSC input and the ``hsc-hst-x3`` output given the PSF, with
# ``deconvolve=True``; bottom left: HST, the truth. These three share one
# stretch and the colorbar top right, in HSC counts per 0.056" pixel (the
# HSC pixels hold 9 of those, so the input is shown divided by 9). Bottom
# right: output minus HST, on its own symmetric scale. Grey: outside the HST
# footprint, where there is no truth. The bar is 2".

size = lr.shape[1] * 0.168  # the field, 8.4" across
extent = (0, size, 0, size)
norm = ImageNormalize(vmin=np.nanpercentile(hst, 1), vmax=np.nanpercentile(hst, 99.8),
                      stretch=AsinhStretch(0.05))
image_cmap = plt.get_cmap('magma').with_extremes(bad='0.6')
resid_cmap = plt.get_cmap('coolwarm').with_extremes(bad='0.6')
resid = outputs['PSF, deconvolve'] - hst
limit = np.nanpercentile(np.abs(resid), 99)

# the figures are drawn at page width (7.2 inches): every text at 10 points, as shown
plt.rcParams.update({'font.size': 10, 'axes.titlesize': 10, 'axes.labelsize': 10,
                     'xtick.labelsize': 10, 'ytick.labelsize': 10})
fig, axes = plt.subplots(2, 2, figsize=(7.2, 6.6), constrained_layout=True)
panels = [(axes[0, 0], lr / 9.0, 'HSC i, the input (0.168"/px)'),
          (axes[0, 1], outputs['PSF, deconvolve'], 'hsc-hst-x3 output (0.056"/px)'),
          (axes[1, 0], hst, 'HST F814W, the truth')]
for ax, shown, title in panels:
    image = ax.imshow(shown, origin='lower', cmap=image_cmap, norm=norm, extent=extent)
    ax.set_title(title)
fig.colorbar(image, ax=axes[0, :], label='HSC counts per 0.056" pixel', shrink=0.9)
shown = axes[1, 1].imshow(resid, origin='lower', cmap=resid_cmap, vmin=-limit, vmax=limit,
                          extent=extent)
axes[1, 1].set_title(f'output - HST ({psnr(outputs["PSF, deconvolve"], hst):.1f} dB)')
fig.colorbar(shown, ax=axes[1, :], label='output - HST, same units', shrink=0.9)
for ax, colour in zip(axes.ravel(), ('white', 'white', 'white', 'black'), strict=True):
    ax.set_xticks([])
    ax.set_yticks([])
    ax.add_artist(AnchoredSizeBar(ax.transData, 2.0, '2"', 'lower right', color=colour,
                                  frameon=False, size_vertical=0.06, pad=0.4, sep=3,
                                  fontproperties={'size': 10}))
plt.show()
