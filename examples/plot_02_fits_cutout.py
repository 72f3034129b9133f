"""
A FITS cutout as NDData with a sky WCS
======================================

Every image in astrolens is `~astropy.nddata.NDData` with a celestial WCS.
Here we make a small synthetic cutout, write it as FITS, read it back and show
it with WCSAxes, so the axes are right ascension and declination.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval

from astrolens.io import make_wcs, read_fits, to_nddata, write_fits

rng = np.random.default_rng(0)
yy, xx = np.mgrid[:64, :64]
galaxy = 500 * np.exp(-0.5 * ((xx - 30) ** 2 + (yy - 34) ** 2) / 3.0 ** 2)
image = rng.poisson(galaxy + 20).astype(float)

wcs = make_wcs(image.shape, 0.168, ra=150.1, dec=2.2, rotation=25.0)
cutout = to_nddata((image, wcs), unit='electron')

path = Path(tempfile.mkdtemp()) / 'cutout.fits'
write_fits(cutout, path)
back = read_fits(path)
print(f'read {path.name}: shape {back.data.shape}, unit {back.unit}, '
      f'centre {back.wcs.pixel_to_world(31.5, 31.5).to_string("hmsdms")}')

fig = plt.figure(figsize=(5.5, 5))
ax = fig.add_subplot(projection=back.wcs)
norm = ImageNormalize(back.data, interval=PercentileInterval(99.5), stretch=AsinhStretch())
ax.imshow(back.data, origin='lower', cmap='magma', norm=norm)
ax.coords[0].set_axislabel('Right ascension')
ax.coords[1].set_axislabel('Declination')
ax.coords.grid(color='white', alpha=0.3, linestyle='dotted')
ax.set_title('HSC-like cutout, rotated 25 deg')
fig.subplots_adjust(left=0.2)
plt.show()
