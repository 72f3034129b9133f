# Licensed under a 3-clause BSD style license - see LICENSE
"""Simulated training and validation data of the shipped classifiers."""

import numpy as np

__all__ = ['class_simulators', 'simulated_validation_set']

_SUBSTRUCTURE = {'no': 'none', 'cdm': 'cdm', 'vortex': 'vortex'}


def class_simulators(model, seed):
    """One `~astrolens.simulation.LensSimulator` per class, ``{class: simulator}``."""
    from astrolens.io import CLASSES
    from astrolens.simulation import LensSimulator

    # one independent random stream per class (SeedSequence spawn key = class index)
    return {name: LensSimulator(model, _SUBSTRUCTURE[name],
                                seed=np.random.SeedSequence(seed, spawn_key=(k,)))
            for k, name in enumerate(CLASSES)}


def simulated_validation_set(model, *, n_per_class, seed):
    """``(images, labels)`` of a balanced set made by `simulate_classification_set`."""
    from astrolens.simulation import simulate_classification_set

    images, labels, classes = simulate_classification_set(n_per_class, model=model, seed=seed)
    return images, np.asarray(classes)[labels]
