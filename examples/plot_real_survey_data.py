"""
Enhancing a real HST drizzled image and an HSC calexp
=====================================================

Archive products come with more than pixels: an HST drizzled image has a
``WHT`` (inverse-variance) extension beside its ``SCI`` image, and an HSC/LSST
calexp holds ``IMAGE``, a ``MASK`` of named bit planes and a ``VARIANCE``.
`~astrolens.io.read_fits` recognises these layouts without ``hdu=`` (or
with the science HDU chosen when a file holds several), turns the weights
and variances into an NDData uncertainty and the bit planes into a mask with
meaning: ``DETECTED`` pixels are sources, never bad; BAD, SAT, CR, NO_DATA
... are (see :doc:`/data_model`). `SuperResolver.enhance
<astrolens.models.SuperResolver.enhance>` then propagates both.

The pixels are real and ship with astrolens (`~astrolens.datasets.sample_path`):
a Hubble ACS/WFC drizzled image with SCI and WHT extensions (sample
``'hst-drizzled'``) and a Subaru HSC cutout (sample ``'hsc-cosmos'``). The
HST image was one of the training sources of ``survey-x2``
(`astrolens.datasets.HST_TRAIN`), so its enhancement below shows the
workflow, not how the model does on images it has not seen. The HSC cutout
is distributed as a plain 5-band cube without mask or variance, so we write
its i band in the calexp layout with a mask and a variance that we make up:
a ``DETECTED`` plane from a 3-sigma threshold, a ``NO_DATA`` strip that we
blank, and a variance from its sky noise and an assumed gain.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from astropy.io import fits
from astropy.nddata import Cutout2D, NDData
from astropy.stats import sigma_clipped_stats
from astropy.visualization import AsinhStretch, ImageNormalize
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

from astrolens.datasets import sample_path
from astrolens.io import as_variance, read_fits, write_fits
from astrolens.models import SuperResolver

work = Path(tempfile.mkdtemp())
# the figures are drawn at page width (7.2 inches): every text at 10 points, as shown
plt.rcParams.update({'font.size': 10, 'axes.titlesize': 10, 'axes.labelsize': 10,
                     'xtick.labelsize': 10, 'ytick.labelsize': 10})

# %%
# The HST drizzled image
# ----------------------
# ``'hst-drizzled'`` holds two filters, each as ``*_SCI`` with its ``*_WHT``;
# we ask for the F814W one and get its WHT with it. Drizzled ACS images are
# in electrons per second (e-/s) per pixel.

hst = read_fits(sample_path('hst-drizzled'), hdu='F814W_SCI')
print(f'layout {hst.meta["layout"]}: {hst.data.shape} px, '
      f'{type(hst.uncertainty).__name__} from WHT,\n'
      f'{0 if hst.mask is None else int(hst.mask.sum())} pixels with WHT == 0')

# %%
# A 100 x 100 cutout around the image centre (data, mask and uncertainty
# cut alike, the WCS with them) keeps this example quick on a CPU.


def cutout(nd, size):
    centre = (nd.data.shape[1] / 2, nd.data.shape[0] / 2)
    cut = Cutout2D(nd.data, centre, size, wcs=nd.wcs)
    pick = cut.slices_original
    mask = None if nd.mask is None else nd.mask[pick]
    unc = None if nd.uncertainty is None else type(nd.uncertainty)(nd.uncertainty.array[pick])
    return NDData(cut.data, wcs=cut.wcs, unit=nd.unit, mask=mask, uncertainty=unc,
                  meta=nd.meta)


def error(nd):
    """1-sigma error per pixel, whatever the uncertainty class; NaN where masked."""
    sigma = np.sqrt(as_variance(nd.uncertainty))
    return sigma if nd.mask is None else np.where(nd.mask, np.nan, sigma)


hst_cut = cutout(hst, 100)
hst_sr = SuperResolver.from_pretrained('survey-x2').enhance(hst_cut, progress=False)
print(f'{hst_cut.data.shape} -> {hst_sr.data.shape}; flux kept to '
      f'{abs(np.nansum(hst_sr.data) / np.nansum(hst_cut.data) - 1):.1e}')
# the error of a sum over whole input pixels is the input's: output error x 2**2
ratio = error(hst_sr)[::2, ::2] * 4 / error(hst_cut)
print(f'propagated error x 4 / input error: median {np.nanmedian(ratio):.3f}')

# %%
# The HSC calexp
# --------------
# Build the calexp from the real i-band pixels: ``IMAGE``, ``MASK`` with
# ``MP_*`` plane names and ``VARIANCE``. The mask is made up here
# (``DETECTED`` where the image is 3 sigma above the sky, ``NO_DATA`` on a
# 4-pixel strip we blank), and so is the variance.

cube = read_fits(sample_path('hsc-cosmos'))
image, wcs = np.asarray(cube.data[2], np.float32), cube.wcs.celestial
_, sky, sky_sigma = sigma_clipped_stats(image)
planes = {'BAD': 0, 'SAT': 1, 'INTRP': 2, 'CR': 3, 'EDGE': 4, 'DETECTED': 5,
          'DETECTED_NEGATIVE': 6, 'SUSPECT': 7, 'NO_DATA': 8}
mask = np.where(image > sky + 3 * sky_sigma, 1 << planes['DETECTED'], 0).astype(np.int32)
mask[:, :4] |= 1 << planes['NO_DATA']
image[:, :4] = np.nan
# sky noise plus a Poisson-like term that grows with the signal (an assumed gain)
variance = (sky_sigma ** 2 * (1 + np.clip((image - sky) / sky_sigma, 0, None) / 5)
            ).astype(np.float32)
mask_hdu = fits.ImageHDU(mask, header=wcs.to_header(), name='MASK')
for name, bit in planes.items():
    mask_hdu.header[f'HIERARCH MP_{name}'] = bit
calexp_path = work / 'calexp-HSC-I.fits'
fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(image, header=wcs.to_header(), name='IMAGE'),
              mask_hdu, fits.ImageHDU(variance, header=wcs.to_header(), name='VARIANCE')]
             ).writeto(calexp_path)

hsc = read_fits(calexp_path)
detected = (mask & (1 << planes['DETECTED'])) > 0
print(f'layout {hsc.meta["layout"]}: {int(detected.sum())} DETECTED pixels, '
      f'{int(hsc.mask.sum())} masked (NO_DATA only)')
hsc_sr = SuperResolver.from_pretrained('hsc-hst-x3').enhance(hsc, progress=False)
out = write_fits(hsc_sr, work / 'calexp-HSC-I_sr.fits')
with fits.open(out) as hdul:
    print(f'wrote HDUs {[h.name for h in hdul]}, uncertainty stored as '
          f'{hdul["UNCERT"].header["UTYPE"]!r}')
print(f'{hsc.data.shape} -> {hsc_sr.data.shape}: {int(hsc_sr.mask.sum())} output pixels masked '
      f'(the NO_DATA strip, x3),\n{int(np.isnan(hsc_sr.data[~hsc_sr.mask]).sum())} NaN '
      'outside it')
ratio = error(hsc_sr)[::3, ::3] * 9 / error(hsc)
print(f'propagated error x 9 / input error: median {np.nanmedian(ratio):.3f}')

# %%
# Masks and uncertainties, in and out
# -----------------------------------
# The propagated uncertainty follows the input's: per output pixel it is the
# input error split over the ``s x s`` sub-pixels (fully correlated), so the
# error of a sum over whole input pixels is the input's. To compare like with
# like, every panel shows values per *input* pixel: the outputs and their
# errors are multiplied by ``s**2`` (4 for HST, 9 for HSC). Masked pixels are
# filled for the network and masked again; grey marks them (no value, no
# error). The bar is 1".


def panel(ax, data, scale, title, norm):
    size = data.shape[0] * scale
    cmap = plt.get_cmap('magma').with_extremes(bad='0.6')
    shown = ax.imshow(data, origin='lower', cmap=cmap, norm=norm, extent=(0, size, 0, size))
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.add_artist(AnchoredSizeBar(ax.transData, 1.0, '1"', 'lower right', color='white',
                                  frameon=False, size_vertical=size / 150, pad=0.4, sep=3,
                                  fontproperties={'size': 10}))
    return shown


def image_norm(data):
    return ImageNormalize(vmin=np.nanpercentile(data, 1), vmax=np.nanpercentile(data, 99.7),
                          stretch=AsinhStretch(0.1))


def error_norm(*errors):
    return ImageNormalize(vmin=min(np.nanpercentile(e, 1) for e in errors),
                          vmax=max(np.nanpercentile(e, 99) for e in errors))


fig, axes = plt.subplots(2, 2, figsize=(7.2, 6.6), constrained_layout=True)
fig.suptitle('HST ACS F814W drizzled (a survey-x2 training source), enhanced x2')
norm = image_norm(hst_cut.data)
panel(axes[0, 0], hst_cut.data, 0.05, 'SCI (input, 0.05"/px)', norm)
shown = panel(axes[0, 1], hst_sr.data * 4, 0.025, 'output (0.025"/px) x 4', norm)
fig.colorbar(shown, ax=axes[0, :], shrink=0.9, label='e-/s per 0.05" pixel')
errors = error(hst_cut), error(hst_sr) * 4
norm = error_norm(*errors)
panel(axes[1, 0], errors[0], 0.05, 'error from WHT', norm)
shown = panel(axes[1, 1], errors[1], 0.025, 'propagated error x 4', norm)
fig.colorbar(shown, ax=axes[1, :], shrink=0.9, label='1-sigma error, e-/s per 0.05" pixel')

# %%
# The HSC calexp: the cyan line outlines the made-up ``DETECTED`` plane
# (kept: sources are never bad), the grey strip is the made-up ``NO_DATA``
# one (masked in the input and, x3, in the output; its error is not known,
# so it is not drawn).

fig, axes = plt.subplots(2, 2, figsize=(7.2, 6.6), constrained_layout=True)
fig.suptitle('HSC i calexp (made-up mask), enhanced x3 by hsc-hst-x3')
norm = image_norm(hsc.data)
panel(axes[0, 0], np.where(hsc.mask, np.nan, hsc.data), 0.168, 'IMAGE (input, 0.168"/px)',
      norm)
size = hsc.data.shape[0] * 0.168
axes[0, 0].contour(detected.astype(float), levels=[0.5], colors='cyan', linewidths=1,
                   extent=(0, size, 0, size))
shown = panel(axes[0, 1], np.where(hsc_sr.mask, np.nan, hsc_sr.data) * 9, 0.056,
              'output (0.056"/px) x 9', norm)
fig.colorbar(shown, ax=axes[0, :], shrink=0.9, label='HSC counts per 0.168" pixel')
errors = error(hsc), error(hsc_sr) * 9
norm = error_norm(*errors)
panel(axes[1, 0], errors[0], 0.168, 'error from VARIANCE', norm)
shown = panel(axes[1, 1], errors[1], 0.056, 'propagated error x 9', norm)
fig.colorbar(shown, ax=axes[1, :], shrink=0.9, label='1-sigma error, counts per 0.168" pixel')
plt.show()
