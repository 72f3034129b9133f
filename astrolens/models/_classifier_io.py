# Licensed under a 3-clause BSD style license - see LICENSE
"""Saving and loading `LensClassifier`: a ``.safetensors`` file (the network's
weights, and the outlier statistics under ``outlier_stats.*``) beside a JSON
configuration (architecture, normalisation, classes, parameters, instrument,
calibration, training record). Nothing is unpickled.
"""

import numpy as np
import torch

from astrolens.models._outliers import FeatureGaussian
from astrolens.models._serialization import (
    check_network_kwargs,
    load_state,
    load_weights,
    read_json_config,
    save_weights,
    to_tensor_dict,
)
from astrolens.utils import WeightsError

__all__ = ['FORMAT', 'classifier_config', 'classifier_from_files', 'save_classifier']

#: The ``format`` entry of a classifier's configuration.
FORMAT = 'astrolens-classifier'
#: safetensors keys of the outlier statistics, stored beside the network's weights
OUTLIER_PREFIX = 'outlier_stats.'


def classifier_config(clf, extra=None):
    """The JSON configuration of a fitted classifier (``extra`` entries added)."""
    from astrolens.version import __version__

    params = clf.get_params()
    params['checkpoint_dir'] = None if params['checkpoint_dir'] is None else str(
        params['checkpoint_dir'])
    config = {'format': FORMAT, 'format_version': 1, 'astrolens_version': __version__,
              'architecture': {'backbone': clf.backbone, 'in_chans': 1,
                               'num_classes': len(clf.classes_),
                               'kwargs': clf.backbone_kwargs or {}},
              'normalization': {'method': 'crop, per-image min-max, stretch, standardise',
                                'crop': clf.crop, 'stretch': clf.normalization},
              'classes': list(clf.classes_), 'params': params,
              'instrument': getattr(clf, 'instrument_', None),
              'calibration': {'temperature': float(getattr(clf, 'temperature_', 1.0)),
                              'method': 'temperature scaling (NLL on held-out images)',
                              **(getattr(clf, 'calibration_info_', None) or {})},
              'outliers': None if getattr(clf, 'outlier_stats_', None) is None else {
                  'threshold': clf.outlier_threshold_,
                  'method': 'Mahalanobis distance of the network features to the nearest '
                            'class centre (shared covariance); statistics in the '
                            f'{OUTLIER_PREFIX}* tensors'},
              'training': dict(getattr(clf, 'info_', {}) or {}),
              'history': list(getattr(clf, 'history_', []) or [])}
    # records of earlier training stages and measurements travel with the weights
    for key in ('stages', 'metrics', 'notes'):
        if key in (getattr(clf, 'config_', None) or {}):
            config[key] = clf.config_[key]
    if extra:
        config.update(extra)
    return config


def save_classifier(clf, path, *, metadata=None, overwrite=True):
    """Write the weights (and outlier statistics) and the configuration of ``clf``."""
    tensors = to_tensor_dict(clf.model_.state_dict())
    stats = getattr(clf, 'outlier_stats_', None)
    if stats is not None:
        tensors[OUTLIER_PREFIX + 'means'] = torch.from_numpy(stats.means.astype(np.float32))
        tensors[OUTLIER_PREFIX + 'precision'] = torch.from_numpy(
            stats.precision.astype(np.float32))
    return save_weights(path, tensors, classifier_config(clf, metadata), overwrite=overwrite)


def classifier_from_files(cls, weights, config_source, *, name):
    """A ``cls`` (`LensClassifier`) from a weights file and its JSON configuration.

    ``config_source`` is what `read_json_config` reads; ``name`` names both in
    messages.
    """
    config = read_json_config(config_source, source=f'{name}.json')
    if config.get('format') != FORMAT:
        msg = (f'{name}.json is not a LensClassifier configuration '
               f'(format={config.get("format")!r})')
        raise WeightsError(msg)
    try:
        arch, norm = config['architecture'], config['normalization']
        params = dict(config.get('params', {}))
        classes = tuple(config['classes'])
        backbone = arch['backbone']
        if not isinstance(backbone, str):
            msg = f'{name}.json: the backbone must be a name, got {backbone!r}'
            raise WeightsError(msg)
        kwargs = check_network_kwargs(backbone, arch.get('kwargs'), source=f'{name}.json')
        params.update(backbone=backbone, backbone_kwargs=kwargs or None,
                      crop=norm['crop'], normalization=norm['stretch'])
    except (KeyError, TypeError) as exc:
        msg = f'{name}.json misses an entry the classifier needs: {exc}'
        raise WeightsError(msg) from None
    params = {k: v for k, v in params.items() if k in cls._PARAMS}
    params['checkpoint_dir'] = None
    params['device'] = 'auto'
    clf = cls(**params)
    try:
        model = clf._build(len(classes))
    except (ValueError, TypeError) as exc:
        msg = f'{name}.json describes an architecture that cannot be built: {exc}'
        raise WeightsError(msg) from None
    tensors = load_weights(weights, name=f'{name}.safetensors')
    stats = {k[len(OUTLIER_PREFIX):]: tensors.pop(k).double().numpy()
             for k in list(tensors) if k.startswith(OUTLIER_PREFIX)}
    load_state(model, tensors, source=f'{name}.safetensors')
    model.eval()
    clf.model_, clf.classes_ = model, classes
    clf.instrument_ = config.get('instrument')
    clf.temperature_ = float((config.get('calibration') or {}).get('temperature', 1.0))
    outliers = config.get('outliers') or {}
    clf.outlier_stats_, clf.outlier_threshold_ = None, None
    if stats and outliers.get('threshold') is not None:
        try:
            clf.outlier_stats_ = FeatureGaussian(stats['means'], stats['precision'])
        except KeyError as exc:
            msg = f'{name}.safetensors misses the outlier statistics tensor {exc}'
            raise WeightsError(msg) from None
        clf.outlier_threshold_ = float(outliers['threshold'])
    clf.history_ = config.get('history', [])
    clf.info_ = config.get('training', {})
    clf.config_ = config
    return clf
