# Licensed under a 3-clause BSD style license - see LICENSE
"""Simulated strong-lensing images: `LensSimulator` reproduces DeepLenseSim's
Models I-III (SIE main halo with shear, Sersic source; no, CDM or vortex
substructure) in distribution, rendered in closed form and vectorised, about
ten times faster than the original per core; `simulate_classification_set`
builds no / CDM / vortex data sets in memory, in the DeepLense folder layout
or as FITS, in this process or on a dask cluster, resuming after a kill;
`simulate_sr_pairs` builds low/high-resolution pairs ("deeplense-x2",
"hsc-hst" with a WCS and PSF on each image). Every image depends only on
the seed and its index, whatever the batch size or the number of workers.
"""

from astrolens.simulation._datasets import simulate_classification_set
from astrolens.simulation._physics import (
                                           einstein_radius,
                                           point_mass_deflection,
                                           sample_cdm_masses,
                                           vortex_half_length,
)
from astrolens.simulation._simulator import SUBSTRUCTURES, LensSimulator
from astrolens.simulation._sr_pairs import PRESETS, simulate_sr_pairs

__all__ = ['PRESETS', 'SUBSTRUCTURES', 'LensSimulator', 'einstein_radius',
           'point_mass_deflection', 'sample_cdm_masses', 'simulate_classification_set',
           'simulate_sr_pairs', 'vortex_half_length']
