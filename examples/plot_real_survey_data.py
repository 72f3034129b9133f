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

The files are real: a Hubble ACS/WFC F814W drizzled image (SCI + WHT) and a
Subaru HSC i-band cutout, from the ``shared/real`` folder that sits beside
the repository (the example falls back to small simulated stand-ins where it
is absent). The HSC cutout is distributed as a plain 5-band cube, so its
i band is first written in the calexp layout, with a ``DETECTED`` plane from
a 3-sigma threshold, a ``NO_DATA`` strip and a variance from its sky noise
and signal.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from astropy.io import fits
from astropy.nddata import Cutout2D, NDData
from astropy.stats import sigma_clipped_stats
from astropy.visualization import AsinhStretch, ImageNormalize, LinearStretch

from astrolens.io import as_variance, read_fits, write_fits
from astrolens.models import SuperResolver
from astrolens.wcs_utils import make_wcs

here = Path(__file__).resolve().parent if '__file__' in globals() else Path.cwd()
REAL = here.parent.parent / 'shared' / 'real'
work = Path(tempfile.mkdtemp())

# %%
# The HST drizzled image
# ----------------------
# ``rbh_rbh1_acs_f606w_f814w.fits`` holds two filters, each as ``*_SCI`` with
# its ``*_WHT``; we ask for the F814W one and get its WHT with it.

hst_path = REAL / 'more' / 'hst' / 'rbh_rbh1_acs_f606w_f814w.fits'
if not hst_path.exists():  # a stand-in with the same layout
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:400, 0:400]
    sci = (0.02 * rng.standard_normal((400, 400))
           + 2.0 * np.exp(-((xx - 200) ** 2 + (yy - 200) ** 2) / 50.0)).astype(np.float32)
    wht = np.full((400, 400), 2500.0, np.float32)
    wht[:, :40] = 0.0
    hst_path = work / 'drizzled.fits'
    fits.HDUList([fits.PrimaryHDU(),
                  fits.ImageHDU(sci, header=make_wcs((400, 400), 0.05).to_header(),
                                name='F814W_SCI'),
                  fits.ImageHDU(wht, name='F814W_WHT')]).writeto(hst_path)
hst = read_fits(hst_path, hdu='F814W_SCI')
print(f'layout {hst.meta["layout"]}: {type(hst.uncertainty).__name__}, '
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


hst_cut = cutout(hst, 100)
sr = SuperResolver.from_pretrained('survey-x2')
hst_sr = sr.enhance(hst_cut, progress=False)
print(f'{hst_cut.data.shape} -> {hst_sr.data.shape}; flux kept to '
      f'{abs(np.nansum(hst_sr.data) / np.nansum(hst_cut.data) - 1):.1e}')

# %%
# The HSC calexp
# --------------
# Build the calexp from the real i-band pixels: ``IMAGE``, ``MASK`` with
# ``MP_*`` plane names (``DETECTED`` where the image is 3 sigma above the sky,
# ``NO_DATA`` on a strip we blank) and ``VARIANCE``.

hsc_path = REAL / 'hsc_hst_cosmos' / 'Cut_HSC.fits'
if hsc_path.exists():
    cube = read_fits(hsc_path)
    image, wcs = np.asarray(cube.data[2], np.float32), cube.wcs.celestial
else:
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:50, 0:50]
    image = (0.05 * rng.standard_normal((50, 50))
             + 3.0 * np.exp(-((xx - 25) ** 2 + (yy - 25) ** 2) / 8.0)).astype(np.float32)
    wcs = make_wcs((50, 50), 0.168)
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
print(f'layout {hsc.meta["layout"]}: {int((mask & 32 > 0).sum())} DETECTED pixels, '
      f'{int(hsc.mask.sum())} masked (NO_DATA only)')
hsc_sr = SuperResolver.from_pretrained('hsc-hst-x3').enhance(hsc, progress=False)
out = write_fits(hsc_sr, work / 'calexp-HSC-I_sr.fits')
with fits.open(out) as hdul:
    print([h.name for h in hdul], hdul['UNCERT'].header['UTYPE'])

# %%
# Masks and uncertainties, in and out
# -----------------------------------
# The propagated uncertainty follows the input's: per output pixel it is the
# input error split over the ``s x s`` sub-pixels (fully correlated), so the
# error of a sum over whole input pixels is the input's. Masked pixels are
# filled for the network and masked again, and stay NaN only where the input
# was NaN.


def show(ax, data, title, *, stretch=True):
    finite = np.asarray(data, float)[np.isfinite(data)]
    norm = ImageNormalize(vmin=np.percentile(finite, 1), vmax=np.percentile(finite, 99.7),
                          stretch=AsinhStretch() if stretch else LinearStretch())
    ax.imshow(data, origin='lower', cmap='magma', norm=norm)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def error(nd):
    return np.sqrt(as_variance(nd.uncertainty))  # whatever the uncertainty class


fig, axes = plt.subplots(2, 4, figsize=(11, 6), constrained_layout=True)
show(axes[0, 0], hst_cut.data, 'HST F814W SCI')
show(axes[0, 1], hst_sr.data, 'enhanced x2 (survey-x2)')
show(axes[0, 2], error(hst_sr), 'propagated error (from WHT)', stretch=False)
show(axes[0, 3], hst_cut.uncertainty.array, 'WHT (inverse variance) read', stretch=False)
show(axes[1, 0], hsc.data, 'HSC i IMAGE (calexp)')
show(axes[1, 1], hsc_sr.data, 'enhanced x3 (hsc-hst-x3)')
show(axes[1, 2], error(hsc_sr), 'propagated error (from VARIANCE)', stretch=False)
axes[1, 3].imshow(np.where(hsc_sr.mask, 2, 0) + np.kron(mask & 32 > 0, np.ones((3, 3))),
                  origin='lower', cmap='viridis', vmin=0, vmax=2)
axes[1, 3].set_title('DETECTED (kept) / NO_DATA (masked)', fontsize=9)
axes[1, 3].set_xticks([])
axes[1, 3].set_yticks([])
plt.show()
