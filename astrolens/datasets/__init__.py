# Licensed under a 3-clause BSD style license - see LICENSE
"""Training and evaluation sets: pairs for the super-resolution models (from
simulations, scikit-image's Hubble Deep Field and registered HSC/HST
simulations). No command-line code and no networks live here.
"""

from astrolens.datasets._sr_pairs import (
    HDF_SPLIT_COLUMN,
    SR_PRESETS,
    hdf_pairs,
    registered_hsc_hst_pairs,
    sr_test_sets,
    sr_training_pairs,
)

__all__ = ['HDF_SPLIT_COLUMN', 'SR_PRESETS', 'hdf_pairs', 'registered_hsc_hst_pairs',
           'sr_test_sets', 'sr_training_pairs']
