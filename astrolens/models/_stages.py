# Licensed under a 3-clause BSD style license - see LICENSE
"""Classifier training in stages on freshly simulated images.

No single run on a shared CPU can last long, so a long training is a chain
of stages. Each stage starts from the last committed weights (``init``),
trains on images simulated afresh for a budget of minutes (checkpointing
every epoch, so a killed stage resumes where it stopped), then calibrates
and measures the result on a fixed validation set and writes it only when
it beats the weights it started from (or the weights already at ``out``).
The configuration keeps the record of every stage: command, minutes,
images seen, validation figures and learning curve.
"""

import time
import warnings
from pathlib import Path

__all__ = ['CLASSIFIER_PRESETS', 'train_classifier_stage']

#: Network and input settings of the shipped classifiers, per simulated model.
CLASSIFIER_PRESETS = {
    'model_i': {'crop': 96, 'backbone': 'd4lensnet',
                'backbone_kwargs': {'widths': [32, 48, 64, 80], 'depths': [1, 1, 1, 1],
                                    'patch': 4, 'physics': ['log', 'grad', 'laplacian']}},
    # Model I keeps 100% of the substructure signal inside a 96 px (4.8") crop
    # (same source rendered with and without subhalos); II and III get the same
    # 4.8" field at their pixel scales
    'model_ii': {'crop': 48, 'backbone': 'd4lensnet',
                 'backbone_kwargs': {'widths': [32, 48, 64, 80], 'depths': [1, 1, 1, 1],
                                     'patch': 2, 'physics': ['log', 'grad', 'laplacian']}},
    'model_iii': {'crop': 56, 'backbone': 'd4lensnet',
                  'backbone_kwargs': {'widths': [32, 48, 64, 80], 'depths': [1, 1, 1, 1],
                                      'patch': 2, 'physics': ['log', 'grad', 'laplacian']}},
}

def _quiet_evaluate(clf, images, labels):
    # a few validation images beyond the outlier threshold are expected (about 1%)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return clf.evaluate(images, labels)


def train_classifier_stage(*, model='model_i', out, minutes, init=None, seed=0, lr=2e-3,
                           batch_size=32, steps_per_epoch=50, val_per_class=200, val_seed=7,
                           calib_per_class=200, calib_seed=8, checkpoint_dir=None,
                           command=None, network=None, progress=False):
    """Run one training stage and write its weights if they are better.

    Parameters
    ----------
    model : {'model_i', 'model_ii', 'model_iii'}
        Simulated data set (see `astrolens.simulation.LensSimulator`).
    out : str or `~pathlib.Path`
        Where the weights go (``out.safetensors`` + ``out.json``).
    minutes : float
        Training budget of this stage.
    init : str or `~pathlib.Path`, optional
        Shipped model name or saved path to start from; its stage records are
        carried over. None starts from new weights with the preset network.
    seed : int
        Seeds the weights (first stage) and the training images; give every
        stage its own, so that no stage sees the images of another.
    lr : float
        Peak learning rate (cosine schedule fitted to ``minutes``).
    batch_size, steps_per_epoch : int
        Images per step and steps between checkpoints/validations.
    val_per_class, val_seed : int
        Fixed validation set (per class, seed): chooses the best epoch and
        decides whether the stage is committed.
    calib_per_class, calib_seed : int
        Separate held-out set for the temperature and the outlier threshold.
    checkpoint_dir : str or `~pathlib.Path`, optional
        Checkpoint (resume after a kill).
    command : str, optional
        Command line recorded in the configuration.
    network : dict, optional
        Overrides entries of the preset (``crop``, ``backbone``,
        ``backbone_kwargs``) of a first stage.
    progress : bool
        Show progress bars.

    Returns
    -------
    record : dict
        This stage's record (also in the configuration when committed):
        ``committed`` says whether the weights were written.
    """
    from astrolens.datasets import class_simulators, simulated_validation_set
    from astrolens.models._classifier import LensClassifier

    preset = {**CLASSIFIER_PRESETS[model], **(network or {})}
    t0 = time.perf_counter()
    val_x, val_y = simulated_validation_set(model, n_per_class=val_per_class, seed=val_seed)
    stages = []
    baseline = None
    if init is not None:
        start = (LensClassifier.load(init) if Path(str(init) + '.json').is_file()
                 or Path(init).suffix == '.json' else LensClassifier.from_pretrained(init))
        stages = list(getattr(start, 'config_', {}).get('stages', []))
        clf = start.set_params(warm_start=True)
    else:
        clf = LensClassifier(preset['backbone'], backbone_kwargs=preset['backbone_kwargs'])
    clf.set_params(crop=preset['crop'], tta=False, augment=None, lr=lr, batch_size=batch_size,
                   epochs=10_000, max_minutes=minutes, seed=seed, val_fraction=0.0,
                   checkpoint_dir=checkpoint_dir, progress=progress, device='cpu')
    out = Path(out)
    previous = None
    if Path(str(out) + '.json').is_file():
        previous = LensClassifier.load(out)
    elif init is not None:
        previous = start
    if previous is not None:
        baseline = _quiet_evaluate(previous, val_x, val_y)
    clf.fit(simulator=class_simulators(model, seed), steps=steps_per_epoch,
            val_images=val_x, val_labels=val_y)
    report = _quiet_evaluate(clf, val_x, val_y)
    images_seen = len(clf.history_) * steps_per_epoch * batch_size
    record = {'command': command, 'model': model, 'init': None if init is None else str(init),
              'seed': seed, 'minutes_budget': minutes,
              'minutes_trained': round(clf.history_[-1]['seconds'] / 60, 1)
              if clf.history_ else 0.0,
              'images_seen': images_seen, 'best_epoch': clf.info_.get('best_epoch'),
              'validation': {'set': f'simulate_classification_set({val_per_class}, '
                                    f'model={model!r}, seed={val_seed})',
                             'accuracy': report['accuracy'], 'auc_macro': report['auc_macro']},
              'baseline_validation': None if baseline is None else {
                  'accuracy': baseline['accuracy'], 'auc_macro': baseline['auc_macro']},
              'learning_curve': [
                  {'images_seen': h['epoch'] * steps_per_epoch * batch_size,
                   'minutes': round(h['seconds'] / 60, 2),
                   'val_accuracy': h.get('val_accuracy'), 'val_auc_macro': h.get('val_auc_macro')}
                  for h in clf.history_]}
    better = baseline is None or (report['accuracy'], report['auc_macro']) > (
        baseline['accuracy'], baseline['auc_macro'])
    record['committed'] = bool(better)
    if better:
        if hasattr(clf, 'calibrate'):
            cal_x, cal_y = simulated_validation_set(model, n_per_class=calib_per_class,
                                                    seed=calib_seed)
            clf.calibrate(cal_x, cal_y)
        clf.save(out, metadata={'stages': [*stages, record],
                                'stage_seconds': round(time.perf_counter() - t0, 1)})
    return record
