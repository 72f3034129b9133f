"""
Enhancing a FITS cutout, keeping flux and WCS
=============================================

`SuperResolver.enhance <astrolens.models.SuperResolver.enhance>`
takes a FITS file (or anything `~astrolens.io.to_nddata` accepts) and
returns `~astropy.nddata.NDData` with ``scale`` times more pixels per axis,
in the same unit, with the WCS rescaled by `~astrolens.wcs_utils.scale_wcs`
and the total flux kept.

Here the shipped ``hsc-hst-x3`` model enhances an HSC-like cutout (0.168"/px,
seeing ~0.6", rotated, written as FITS with its WCS and PSF) onto a 3x finer
grid (0.056"/px). A simulated ``'hsc-hst'`` pair
(`~astrolens.simulation.simulate_sr_pairs`) gives us the truth: the deep
HST-like image of the same lens, registered onto that finer grid with
`~astrolens.preprocessing.register_pair`.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from astropy import units as u
from astropy.visualization import AsinhStretch, ImageNormalize

from astrolens.io import write_fits
from astrolens.metrics import image_metrics
from astrolens.models import SuperResolver, bicubic_upscale
from astrolens.preprocessing import register_pair
from astrolens.simulation import simulate_sr_pairs

(lr,), (hr,) = simulate_sr_pairs(1, preset='hsc-hst', seed=5)
path = Path(tempfile.mkdtemp()) / 'hsc_cutout.fits'
write_fits(lr, path)
print(f'{path.name}: {lr.data.shape}, {lr.unit}, PA {lr.meta["position_angle"]:.0f} deg')

# %%
# Enhance the file. ``flux='local'`` (the shipped models' default) corrects
# the output until, observed again the way the input was, it reproduces the
# input, and makes its sum equal the input's; ``flux='total'`` would only
# rescale the sum, and ``flux='block'`` make every 3x3 block sum to its
# input pixel.

sr = SuperResolver.from_pretrained('hsc-hst-x3')
enhanced = sr.enhance(path, progress=False)
print(f'-> {enhanced.data.shape}, {enhanced.unit}, model {enhanced.meta["sr_model"]} '
      f'x{enhanced.meta["sr_scale"]}')

# %%
# The truth: the HST-like image registered onto the same x3 grid (its WCS
# is ``scale_wcs(lr.wcs, 3)``, exactly the WCS of the enhanced image), and
# scaled to the HSC flux by the factor the registration fitted.

pair = register_pair(lr, hr, factor=3)
truth = np.asarray(pair.hr.data, float) * pair.flux_scale
print('same WCS as the enhanced image:',
      np.allclose(pair.hr.wcs.pixel_scale_matrix, enhanced.wcs.pixel_scale_matrix)
      and np.allclose(pair.hr.wcs.wcs.crpix, enhanced.wcs.wcs.crpix))

# %%
# Flux and astrometry. The centre of LR pixel (x, y) is the centre of SR
# pixel (3x + 1, 3y + 1), so the same sky position comes out of both WCSs.

lr_sum, sr_sum = float(lr.data.sum()), float(enhanced.data.sum())
print(f'total flux: LR {lr_sum:.2f} {lr.unit}, SR {sr_sum:.2f} '
      f'(relative difference {(sr_sum - lr_sum) / lr_sum:+.1e}), '
      f'registered HST {np.nansum(truth):.2f}')
x, y = 10.0, 20.0
c_lr = lr.wcs.pixel_to_world(x, y)
c_sr = enhanced.wcs.pixel_to_world(3 * x + 1, 3 * y + 1)
print(f'same sky position to {c_lr.separation(c_sr).to(u.uarcsec):.2f}')

# %%
# Against the truth, next to bicubic upsampling (`astrolens.metrics.image_metrics`:
# images rescaled by the truth's range), away from the edges.

inner = np.s_[6:-6, 6:-6]
bicubic = bicubic_upscale(lr.data, 3)
for name, image in (('bicubic', bicubic), ('hsc-hst-x3', enhanced.data)):
    m = image_metrics(image[inner], truth[inner])
    print(f'{name:>10}: PSNR {m["psnr"]:.1f} dB, SSIM {m["ssim"]:.4f}')

# %%
# The input, the enhanced image and the truth on their sky grids with
# WCSAxes (same stretch, in counts per arcsec^2 so that the different pixel
# sizes compare), and the enhanced image minus the truth.

fig = plt.figure(figsize=(11, 9.5))
fine = 0.168 / 3
panels = (('HSC-like input, 0.168"/px', lr.data, lr.wcs, 0.168),
          ('enhanced (hsc-hst-x3), 0.056"/px', enhanced.data, enhanced.wcs, fine),
          ('HST-like truth, registered', truth, pair.hr.wcs, fine))
norm = ImageNormalize(vmin=0, vmax=np.nanmax(truth) / fine ** 2, stretch=AsinhStretch(0.05))
for k, (title, data, wcs, scale) in enumerate(panels):
    ax = fig.add_subplot(2, 2, k + 1, projection=wcs)
    im = ax.imshow(data / scale ** 2, origin='lower', cmap='magma', norm=norm)
    ax.set_title(title)
    ax.coords[0].set_axislabel('RA')
    ax.coords[1].set_axislabel('Dec')
    ax.coords.grid(color='white', alpha=0.25, linestyle='dotted')
    if k == 1:
        fig.colorbar(im, ax=ax, shrink=0.8, label='counts / arcsec$^2$')
ax = fig.add_subplot(2, 2, 4, projection=enhanced.wcs)
diff = enhanced.data - truth
limit = np.nanmax(np.abs(diff[inner]))
im = ax.imshow(diff, origin='lower', cmap='RdBu_r', vmin=-limit, vmax=limit)
ax.set_title('enhanced - truth, per pixel')
ax.coords[0].set_axislabel('RA')
ax.coords[1].set_axislabel('Dec')
fig.colorbar(im, ax=ax, shrink=0.8, label='counts')
fig.subplots_adjust(left=0.1, right=0.95, wspace=0.4, hspace=0.35)
plt.show()
