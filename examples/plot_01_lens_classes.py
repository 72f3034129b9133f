"""
The three Model I classes side by side
======================================

DeepLense Model I lenses come in three classes: no substructure, cold dark
matter (CDM) subhalos, and a "vortex" of point masses along a line whose
length follows the mass of an axion-like dark-matter particle.
`~astrolens.simulation.LensSimulator` draws them as DeepLenseSim does:
150x150 pixels of 0.05", counts after a random exposure.

The top row shows one noisy image per class, as a classifier sees it. The
differences are small, so the bottom row renders the same three lenses
without noise, with the source at the same place, and shows what the
substructure changes: the flux of each image minus that of the lens without
substructure.
"""

import matplotlib.pyplot as plt
import numpy as np
from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval

from astrolens.simulation import LensSimulator

kinds = ('none', 'cdm', 'vortex')

# %%
# One image of each class, as `~astropy.nddata.NDData` with a TAN WCS. The
# random draws are in ``meta``: subhalo masses and positions (arcsec), the
# axion mass of the vortex (eV), the exposure time.

lenses = {kind: LensSimulator('model_i', kind, seed=7).simulate_nddata() for kind in kinds}
for kind, nd in lenses.items():
    meta = nd.meta
    print(f'{kind:>6}: {nd.data.shape} {nd.unit}, exposure {meta["exposure_time"]:.0f} s, '
          f'total {nd.data.sum():.3g} counts')
cdm = lenses['cdm'].meta
print(f'CDM: {len(cdm["subhalo_masses"])} subhalos, '
      f'{cdm["subhalo_masses"].min():.2g}-{cdm["subhalo_masses"].max():.2g} Msun')
vortex = lenses['vortex'].meta
print(f'vortex: axion mass {vortex["axion_mass"]:.3g} eV, '
      f'{len(vortex["subhalo_masses"])} point masses, '
      f'total {vortex["subhalo_masses"].sum():.3g} Msun')

# %%
# The same source position for the three noise-free renders, so that only
# the substructure differs. ``render`` takes the random generator; the
# expected counts are divided by the exposure time to compare fluxes.

source = (lenses['none'].meta['source_x'], lenses['none'].meta['source_y'])
clean = {}
for k, kind in enumerate(kinds):
    sim = LensSimulator('model_i', kind, noise=False)
    image, meta = sim.render(np.random.default_rng(k), source_center=source)
    clean[kind] = (image / meta['exposure_time'], meta)


def title(kind, meta):
    if kind == 'none':
        return 'no substructure'
    if kind == 'cdm':
        masses = meta['subhalo_masses']
        return f'CDM: {len(masses)} subhalos\nlargest {masses.max():.1e} Msun'
    return f'vortex: m_a = {meta["axion_mass"]:.2e} eV\n{meta["subhalo_masses"].sum():.0e} Msun'


extent = np.array([-1, 1, -1, 1]) * 75 * 0.05
fig, axes = plt.subplots(2, 3, figsize=(10, 7), constrained_layout=True)
norm = ImageNormalize(lenses['none'].data, interval=PercentileInterval(99.8),
                      stretch=AsinhStretch(0.05))
for ax, kind in zip(axes[0], kinds, strict=True):
    ax.imshow(lenses[kind].data, origin='lower', cmap='magma', norm=norm, extent=extent)
    ax.set_title(title(kind, lenses[kind].meta))

reference = clean['none'][0]
peak = np.abs(clean['vortex'][0] - reference).max()
axes[1, 0].imshow(reference, origin='lower', cmap='magma', extent=extent,
                  norm=ImageNormalize(reference, stretch=AsinhStretch(0.05)))
axes[1, 0].set_title('noise-free,\nno substructure')
for ax, kind in zip(axes[1, 1:], kinds[1:], strict=True):
    diff = clean[kind][0] - reference
    im = ax.imshow(diff, origin='lower', cmap='RdBu_r', vmin=-peak, vmax=peak, extent=extent)
    ax.set_title(f'{title(kind, clean[kind][1]).splitlines()[0]}\nminus no substructure')
fig.colorbar(im, ax=axes[1, 1:], shrink=0.8, label='flux difference (counts / s)')
for ax in axes.flat:
    ax.set_xlabel('x (arcsec)')
axes[0, 0].set_ylabel('y (arcsec)')
axes[1, 0].set_ylabel('y (arcsec)')
plt.show()
