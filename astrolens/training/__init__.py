# Licensed under a 3-clause BSD style license - see LICENSE
"""Training recipes of the shipped models.

This subpackage wires data to estimators: the simulated and degraded sets
of `astrolens.datasets` and `astrolens.simulation` to the networks of
`astrolens.models`. It is what ``astrolens train`` calls for the shipped
weights (classifier stages, super-resolution presets), so that neither
`astrolens.models` nor `astrolens.datasets` has to import the other.
"""

from astrolens.training._classifier_stages import (
    CLASSIFIER_PRESETS,
    run_classifier_stage,
    train_classifier_stage,
)
from astrolens.training._sr_presets import (
    PRESET_DOMAINS,
    SIMULATED_PAIR_DOMAINS,
    DegradationSampler,
    draw_degraded_pair,
    draw_training_pair,
    train_sr_preset,
)

__all__ = ['CLASSIFIER_PRESETS', 'PRESET_DOMAINS', 'SIMULATED_PAIR_DOMAINS', 'DegradationSampler',
           'draw_degraded_pair', 'draw_training_pair', 'run_classifier_stage',
           'train_classifier_stage', 'train_sr_preset']
