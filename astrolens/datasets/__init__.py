# Licensed under a 3-clause BSD style license - see LICENSE
"""Training and evaluation sets: pairs for the super-resolution models (from
simulations, scikit-image's Hubble Deep Field and registered HSC/HST
simulations), the physical degradation model (HR -> LR: PSF, pixel scale,
noise, sky, defects), the training sources (real HST images, drawn-scene
lenses, stars, sky) with their held-out split, and the held-out evaluation
sets; the simulated training and validation data of the classifiers; the real
sample images shipped with the package (`sample_path`, `list_samples`). No
command-line code and no networks live here.
"""

from astrolens.datasets._classification import class_simulators, simulated_validation_set
from astrolens.datasets._degradation import (
    RANGES,
    DegradedPair,
    Recipe,
    degrade,
    draw_recipe,
    lr_psf_image,
    psf_fwhm,
    rebin,
    robust_sigma,
    stretch_psf,
)
from astrolens.datasets._evaluation import (
    aperture_flux_errors,
    drawn_lens_pairs,
    ground_pairs,
    hdf_right_pairs,
    hsc_hst_real_pair,
    hst_eval_pairs,
    noise_limited_psnr,
    sky_noise_sigma,
)
from astrolens.datasets._samples import list_samples, sample_path
from astrolens.datasets._sources import (
    HST_EVAL,
    HST_TRAIN,
    SourcePool,
    draw_lens_scene,
    hdf_half,
    load_hst_images,
)
from astrolens.datasets._sr_pairs import (
    HDF_SPLIT_COLUMN,
    SR_PRESETS,
    hdf_pairs,
    registered_hsc_hst_pairs,
    sr_test_sets,
    sr_training_pairs,
)

__all__ = ['HDF_SPLIT_COLUMN', 'HST_EVAL', 'HST_TRAIN', 'RANGES', 'SR_PRESETS', 'DegradedPair',
           'Recipe', 'SourcePool', 'aperture_flux_errors', 'class_simulators', 'degrade',
           'draw_lens_scene',
           'draw_recipe', 'drawn_lens_pairs', 'ground_pairs', 'hdf_half', 'hdf_pairs',
           'hdf_right_pairs', 'hsc_hst_real_pair', 'hst_eval_pairs', 'list_samples',
           'load_hst_images', 'lr_psf_image', 'noise_limited_psnr', 'psf_fwhm', 'rebin',
           'registered_hsc_hst_pairs', 'robust_sigma', 'sample_path', 'simulated_validation_set',
           'sky_noise_sigma', 'sr_test_sets', 'sr_training_pairs', 'stretch_psf']
