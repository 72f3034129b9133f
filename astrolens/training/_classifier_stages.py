# Licensed under a 3-clause BSD style license - see LICENSE
"""Classifier training in stages on simulated images.

No single run on a shared CPU can last long, so a long training is a chain
of stages. Each stage starts from the last committed weights (``init``),
trains for a budget of minutes (checkpointing every epoch, so a killed
stage resumes where it stopped) on images simulated afresh or on a pool
simulated once, then calibrates and measures the result on fixed
validation sets and writes it only when it beats the weights it started
from (or the weights already at ``out``) on the first of them. The
configuration keeps the record of every stage: command, minutes, images
seen, both validations and the learning curve.
"""

import time
import warnings
from pathlib import Path

import numpy as np

__all__ = ['CLASSIFIER_PRESETS', 'run_classifier_stage', 'train_classifier_stage']

#: Network and input settings of the shipped classifiers, per simulated model.
CLASSIFIER_PRESETS = {
    'model_i': {'crop': 96, 'backbone': 'd4lensnet', 'augment': 'd4',
                'backbone_kwargs': {'widths': [32, 48, 64, 80], 'depths': [1, 1, 1, 1],
                                    'patch': 4, 'physics': ['log', 'grad', 'laplacian'],
                                    'train_views': 1}},
    # Model I keeps 100% of the substructure signal inside a 96 px (4.8") crop
    # (same source rendered with and without subhalos); II and III get the same
    # 4.8" field at their pixel scales
    'model_ii': {'crop': 48, 'backbone': 'd4lensnet', 'augment': None,
                 'backbone_kwargs': {'widths': [32, 48, 64, 80], 'depths': [1, 1, 1, 1],
                                     'patch': 2, 'physics': ['log', 'grad', 'laplacian']}},
    'model_iii': {'crop': 56, 'backbone': 'd4lensnet', 'augment': None,
                  'backbone_kwargs': {'widths': [32, 48, 64, 80], 'depths': [1, 1, 1, 1],
                                      'patch': 2, 'physics': ['log', 'grad', 'laplacian']}},
}


def _quiet_evaluate(clf, images, labels):
    # a few validation images beyond the outlier threshold are expected (about 1%)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        report = clf.evaluate(images, labels)
    return {'accuracy': report['accuracy'], 'auc_macro': report['auc_macro']}


def _load(init):
    from astrolens.models import LensClassifier

    if Path(str(init) + '.json').is_file() or Path(init).suffix == '.json':
        return LensClassifier.load(init)
    return LensClassifier.from_pretrained(init)


def train_classifier_stage(train, *, out, minutes, validation, calibration, preset, init=None,
                           seed=0, lr=2e-3, batch_size=64, steps_per_epoch=200, amp=True,
                           instrument=None, data=None, checkpoint_dir=None, command=None,
                           progress=False):
    """Run one training stage and write its weights if they are better.

    Parameters
    ----------
    train : dict or tuple
        ``{class name: simulator}`` (every batch simulated afresh, see
        `astrolens.models.LensClassifier.fit`) or ``(images, labels)``, a
        pool reused across epochs.
    out : str or `~pathlib.Path`
        Where the weights go (``out.safetensors`` + ``out.json``).
    minutes : float
        Training budget of this stage, validation included.
    validation : dict
        ``{name: (images, labels, description)}``, at least one entry. The
        first is validated after every epoch (learning curve, best epoch)
        and decides whether the stage is committed; every entry is measured
        at the end, before and after, and recorded.
    calibration : tuple
        ``(images, labels)``, held out from both: the temperature and the
        outlier threshold.
    preset : dict
        ``crop``, ``backbone``, ``backbone_kwargs`` and ``augment`` of a
        first stage (a stage with ``init`` keeps the network it starts from).
    init : str or `~pathlib.Path`, optional
        Shipped model name or saved path to start from; its stage records are
        carried over. None starts from new weights with ``preset``.
    seed : int
        Seeds the weights (first stage), the order of the pool and the
        augmentation; give every stage its own.
    lr : float
        Peak learning rate (cosine schedule fitted to ``minutes``).
    batch_size, steps_per_epoch : int
        Images per step and steps between checkpoints/validations.
    amp : bool or {'bfloat16'}
        See `astrolens.models.LensClassifier`.
    instrument : dict, optional
        Pixel scale, PSF and shape of the training images, stored with the
        weights (known without it only when ``train`` is a simulator dict).
    data : dict, optional
        Description of ``train`` recorded in the stage (its ``'model'``, the
        simulated data set's name, is recorded as the stage's ``model``).
    checkpoint_dir : str or `~pathlib.Path`, optional
        Checkpoint (resume after a kill).
    command : str, optional
        Command line recorded in the configuration.
    progress : bool
        Show progress bars.

    Returns
    -------
    record : dict
        This stage's record (also in the configuration when committed):
        ``committed`` says whether the weights were written.
    """
    from astrolens.models import LensClassifier

    if not validation:
        msg = 'train_classifier_stage needs at least one validation set'
        raise ValueError(msg)
    t0 = time.perf_counter()
    deciding = next(iter(validation))
    val_x, val_y, _ = validation[deciding]
    stages = []
    start = None
    if init is not None:
        start = _load(init)
        stages = list(getattr(start, 'config_', {}).get('stages', []))
        instrument = instrument or getattr(start, 'instrument_', None)
        clf = start.set_params(warm_start=True)
    else:
        clf = LensClassifier(preset['backbone'], backbone_kwargs=preset['backbone_kwargs'],
                             crop=preset['crop'], augment=preset.get('augment'))
    clf.set_params(tta=False, lr=lr, batch_size=batch_size, epochs=10_000, max_minutes=minutes,
                   seed=seed, val_fraction=0.0, checkpoint_dir=checkpoint_dir,
                   progress=progress, device='cpu', amp=amp)
    out = Path(out)
    previous = LensClassifier.load(out) if Path(str(out) + '.json').is_file() else start
    before = ({name: _quiet_evaluate(previous, x, y) for name, (x, y, _) in validation.items()}
              if previous is not None else None)
    if isinstance(train, dict):
        clf.fit(simulator=train, steps=steps_per_epoch, val_images=val_x, val_labels=val_y)
    else:
        images, labels = train
        clf.fit(images, labels, steps=steps_per_epoch, val_images=val_x, val_labels=val_y)
    if instrument is not None:
        clf.instrument_ = dict(instrument)
    after = {name: _quiet_evaluate(clf, x, y) for name, (x, y, _) in validation.items()}
    images_seen = len(clf.history_) * steps_per_epoch * batch_size
    record = {'command': command, 'model': (data or {}).get('model'),
              'init': None if init is None else str(init),
              'seed': seed, 'minutes_budget': minutes,
              'minutes_trained': round(clf.history_[-1]['seconds'] / 60, 1)
              if clf.history_ else 0.0,
              'images_seen': images_seen, 'best_epoch': clf.info_.get('best_epoch'),
              'amp': amp, 'data': data,
              'validation': {name: {'set': desc, **after[name]}
                             for name, (_, _, desc) in validation.items()},
              'deciding_validation': deciding,
              'baseline_validation': before,
              'learning_curve': [
                  {'images_seen': h['epoch'] * steps_per_epoch * batch_size,
                   'minutes': round(h['seconds'] / 60, 2),
                   'val_accuracy': h.get('val_accuracy'), 'val_auc_macro': h.get('val_auc_macro')}
                  for h in clf.history_]}
    better = before is None or (after[deciding]['accuracy'], after[deciding]['auc_macro']) > (
        before[deciding]['accuracy'], before[deciding]['auc_macro'])
    record['committed'] = bool(better)
    if better:
        clf.calibrate(*calibration)
        clf.save(out, metadata={'stages': [*stages, record],
                                'stage_seconds': round(time.perf_counter() - t0, 1)})
    return record


def _simulated_pool(model, n_per_class, *, seed, workers, cache=None):
    """``(images, labels)`` of a pool simulated once (and kept in ``cache`` if given)."""
    from astrolens.simulation import simulate_classification_set
    from astrolens.utils import atomic_path

    if cache is not None and Path(cache).is_file():
        with np.load(cache) as stored:
            return stored['images'], stored['labels']
    # cropped where they are rendered: 96k whole Model I images would take 17 GB here
    crop = CLASSIFIER_PRESETS[model]['crop']
    images, labels = simulate_classification_set(n_per_class, model=model, seed=seed,
                                                 crop=crop, workers=workers, progress=True)[:2]
    # counts are integers: the central field in uint16 keeps a pool of 36k Model I
    # images in 0.7 GB instead of 3.2
    if images.max() < 65536 and np.all(images == np.round(images)):
        images = images.astype(np.uint16)
    labels = np.asarray(labels, dtype=np.int8)
    if cache is not None:
        with atomic_path(cache, overwrite=True) as tmp:
            np.savez(tmp, images=images, labels=labels)
    return images, labels


def _original_set(path):
    with np.load(path) as stored:
        images, labels = stored['images'], np.asarray(stored['classes'])[stored['labels']]
    return images, labels, f'original DeepLenseSim, {Path(path).name}'


def run_classifier_stage(*, model='model_i', out, minutes, init=None, seed=0, lr=2e-3,
                         batch_size=64, steps_per_epoch=200, amp=True, pool_per_class=None,
                         pool_cache=None, sim_workers=1, original_validation=None,
                         val_per_class=200, val_seed=7, calib_per_class=200, calib_seed=8,
                         network=None, checkpoint_dir=None, command=None, progress=False):
    """One stage of a shipped classifier, on data drawn by `astrolens.datasets`.

    Parameters
    ----------
    model : {'model_i', 'model_ii', 'model_iii'}
        Simulated data set (see `astrolens.simulation.LensSimulator`).
    pool_per_class : int, optional
        Train on a pool of this many images per class simulated once
        (seeded by ``seed``), reused across epochs; None simulates every
        batch afresh.
    pool_cache : str or `~pathlib.Path`, optional
        ``.npz`` file keeping the pool (made once, reused by a resumed run).
    sim_workers : int
        Processes that simulate the pool.
    original_validation : str or `~pathlib.Path`, optional
        ``.npz`` of images made by the original DeepLenseSim code
        (``benchmarks/make_original_validation.py``). When given it is the
        validation that decides, with our simulator's set measured beside it.
    val_per_class, val_seed, calib_per_class, calib_seed : int
        Our simulator's validation and calibration sets.
    network : dict, optional
        Overrides entries of the preset of a first stage.

    Other parameters are those of `train_classifier_stage`.

    Returns
    -------
    record : dict
    """
    from astrolens.datasets import class_simulators, simulated_validation_set
    from astrolens.models._classifier_batches import _instrument_of

    if model not in CLASSIFIER_PRESETS:
        msg = f'model must be one of {sorted(CLASSIFIER_PRESETS)}, got {model!r}'
        raise ValueError(msg)
    preset = {**CLASSIFIER_PRESETS[model], **(network or {})}
    ours = simulated_validation_set(model, n_per_class=val_per_class, seed=val_seed)
    validation = {}
    if original_validation is not None:
        validation['original'] = _original_set(original_validation)
    validation['ours'] = (*ours, f'simulate_classification_set({val_per_class}, '
                                 f'model={model!r}, seed={val_seed})')
    calibration = simulated_validation_set(model, n_per_class=calib_per_class, seed=calib_seed)
    simulators = class_simulators(model, seed)
    if pool_per_class:
        train = _simulated_pool(model, pool_per_class, seed=seed, workers=sim_workers,
                                cache=pool_cache)
        data = {'model': model,
                'source': f'simulate_classification_set({pool_per_class}, model={model!r}, '
                          f'seed={seed}), a pool reused across epochs'}
    else:
        train = simulators
        data = {'model': model,
                'source': f'class_simulators({model!r}, {seed}), every batch afresh'}
    return train_classifier_stage(
        train, out=out, minutes=minutes, validation=validation, calibration=calibration,
        preset=preset, init=init, seed=seed, lr=lr, batch_size=batch_size,
        steps_per_epoch=steps_per_epoch, amp=amp, instrument=_instrument_of(simulators),
        data=data, checkpoint_dir=checkpoint_dir, command=command, progress=progress)
