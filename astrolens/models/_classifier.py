# Licensed under a 3-clause BSD style license - see LICENSE
"""`LensClassifier`: dark-matter substructure classes of strong-lens images.

The estimator (parameters, fit, predictions, calibration, persistence) lives
here; its pieces live beside it: input parsing and preparation in
``_classifier_inputs``, training batches in ``_classifier_batches``, the network
pass (symmetric views, features, logits) in ``_classifier_inference``, the
temperature and the outlier statistics in ``_outliers``, and the files in
``_classifier_io``.
"""

import time
import warnings

import numpy as np
import torch
from torch.nn import functional as F

from astrolens.io import CLASSES, canonical_class
from astrolens.models._classifier_batches import (
    _BN_REFRESH_STEPS,
    _instrument_of,
    _refresh_batch_norm,
    array_batches,
    simulated_batches,
    split_validation,
)
from astrolens.models._classifier_inference import infer
from astrolens.models._classifier_inputs import STRETCHES, _as_images, prepare_images
from astrolens.models._classifier_io import (
    classifier_config,
    classifier_from_files,
    save_classifier,
)
from astrolens.models._networks import create_network
from astrolens.models._outliers import fit_outlier_threshold, fit_temperature, softmax_mean
from astrolens.models._serialization import weight_paths
from astrolens.models._training import resolve_device, train
from astrolens.utils import AstrolensUserWarning, NotFittedError, WeightsError

__all__ = ['LensClassifier', 'STRETCHES', 'prepare_images']


class LensClassifier:
    """Classify strong-lens images by dark-matter substructure: no / CDM / vortex.

    Parameters
    ----------
    backbone : str, optional
        ``'lensresnet'`` (default), a compact residual network that keeps
        full resolution in its first stage, where substructure shows as
        perturbations a few pixels wide; ``'lensresnet_s'``, a smaller one;
        ``'d4lensnet'``, invariant to the 8 rotations/reflections by
        construction (its encoder sees all 8 and pools over them; see
        `astrolens.models.D4LensNet`), the network of the shipped
        ``deeplense-model-*`` weights; or any `timm` model name (built with
        ``in_chans=1``, ``pretrained=False``), such as
        ``'efficientnet_b0'`` or ``'resnet18'``.
    epochs : int, optional
        Maximum number of epochs.
    batch_size : int, optional
    lr : float, optional
        Peak AdamW learning rate (linear warm-up, then cosine decay).
    weight_decay : float, optional
    augment : {'d4', None}, optional
        Random rotations by multiples of 90 degrees and flips in training.
    tta : bool or {'d4', 'rot4'}, optional
        Average predicted probabilities over the 8 (``True``, ``'d4'``) or
        4 (``'rot4'``) symmetric versions of each image (pointless, and
        skipped, for ``'d4lensnet'``, which is invariant already).
    normalization : {'sqrt', 'asinh', 'linear'}, optional
        Stretch applied after the per-image min-max scaling and before the
        per-image standardisation (see `prepare_images`); part of the saved
        model.
    crop : int or None, optional
        Side of the central crop fed to the network (part of the saved
        model). Model I lenses lie within ~2" (40 px) of the centre.
    val_fraction : float, optional
        Fraction of the training images held out (stratified) for
        validation, early stopping and keeping the best epoch; 0 turns
        validation off.
    patience : int, optional
        Early-stopping patience in epochs (None: never stop early).
    max_minutes : float, optional
        Training time budget; the cosine schedule is shortened to end
        inside it.
    amp : bool or {'bfloat16'}, optional
        Mixed precision in training: ``True`` autocasts to float16 on CUDA
        only (float32 elsewhere); ``'bfloat16'`` autocasts to bfloat16 on any
        device (about doubles the training speed on CPUs with
        ``avx512_bf16``); ``False`` trains in float32. Predictions are
        computed in float32 either way.
    device : str, optional
        ``'auto'`` (CUDA when available), ``'cpu'``, ``'cuda'``, ...
    seed : int, optional
        Seeds the weights, the validation split, shuffling and augmentation.
    checkpoint_dir : str or `~pathlib.Path`, optional
        Write a checkpoint every epoch there and resume from it.
    backbone_kwargs : dict, optional
        Extra arguments of the network factory (JSON-serialisable).
    warm_start : bool, optional
        Start `fit` from the current `model_` (after an earlier fit or
        `load`) instead of new weights, with a new optimiser and schedule:
        fine-tuning, or a second training phase.
    progress : bool, optional
        Show progress bars.

    Attributes
    ----------
    model_ : `torch.nn.Module`
        The trained network (on the CPU, in evaluation mode).
    classes_ : tuple of str
        Class names, in the order of the columns of `predict_proba`.
    history_ : list of dict
        Per-epoch training loss, learning rate and validation metrics.
    info_ : dict
        Provenance: training data sizes, seeds, command and metrics, saved
        in the JSON configuration.
    temperature_ : float
        Divides the logits before the softmax (temperature scaling, fitted
        by `calibrate`; 1 before).
    outlier_threshold_ : float or None
        `outlier_score` above which `is_outlier` is true, set by `calibrate`
        (which `fit` calls on its validation images) so that about
        ``1 - outlier_quantile`` of held-out training-like images exceed it.
    instrument_ : dict or None
        ``pixel_scale`` (arcsec/px), ``psf_fwhm`` (arcsec) and ``shape``
        (pixels) of the training images, when known (fit on simulators, or
        the shipped configurations). Inputs with a celestial WCS are
        resampled to this pixel scale before classification; arrays without
        a WCS are taken to be at it already.

    Notes
    -----
    Pixel scale: a 2-D array has no pixel scale, so it is classified as if
    it had the model's (0.05"/px for ``deeplense-model-i``). Give NDData, a
    FITS file or ``(array, wcs)`` to have it resampled first (flux-conserving,
    `reproject.reproject_exact`, keeping the image's orientation); an
    image that covers less of the sky than the model's field (its central
    crop) is refused with a message.
    """

    def __init__(self, backbone='lensresnet', *, epochs=20, batch_size=64, lr=2e-3,
                 weight_decay=0.05, augment='d4', tta=True, normalization='sqrt', crop=84,
                 val_fraction=0.1, patience=None, max_minutes=None, amp=True, device='auto',
                 seed=0, checkpoint_dir=None, backbone_kwargs=None, warm_start=False,
                 progress=True):
        self.backbone = backbone
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.augment = augment
        self.tta = tta
        self.normalization = normalization
        self.crop = crop
        self.val_fraction = val_fraction
        self.patience = patience
        self.max_minutes = max_minutes
        self.amp = amp
        self.device = device
        self.seed = seed
        self.checkpoint_dir = checkpoint_dir
        self.backbone_kwargs = backbone_kwargs
        self.warm_start = warm_start
        self.progress = progress

    _PARAMS = ('backbone', 'epochs', 'batch_size', 'lr', 'weight_decay', 'augment', 'tta',
               'normalization', 'crop', 'val_fraction', 'patience', 'max_minutes', 'amp',
               'device', 'seed', 'checkpoint_dir', 'backbone_kwargs', 'warm_start', 'progress')

    def get_params(self):
        """Constructor parameters as a dict (scikit-learn convention)."""
        return {name: getattr(self, name) for name in self._PARAMS}

    def set_params(self, **params):
        """Set constructor parameters; returns ``self`` (scikit-learn convention)."""
        for name, value in params.items():
            if name not in self._PARAMS:
                msg = f'unknown parameter {name!r}; valid ones: {list(self._PARAMS)}'
                raise ValueError(msg)
            setattr(self, name, value)
        return self

    def __repr__(self):
        changed = {k: v for k, v in self.get_params().items()
                   if v != type(self)().get_params()[k]}
        return f'{type(self).__name__}({", ".join(f"{k}={v!r}" for k, v in changed.items())})'

    # -- helpers -----------------------------------------------------------------------

    def _check_params(self):
        if self.augment not in ('d4', None, False):
            msg = f"augment must be 'd4' or None, got {self.augment!r}"
            raise ValueError(msg)
        if self.tta not in (True, False, None, 'd4', 'rot4'):
            msg = f"tta must be True, False, 'd4' or 'rot4', got {self.tta!r}"
            raise ValueError(msg)
        if self.normalization not in STRETCHES:
            msg = f'normalization must be one of {STRETCHES}, got {self.normalization!r}'
            raise ValueError(msg)
        if not 0 <= self.val_fraction < 1:
            msg = f'val_fraction must be in [0, 1), got {self.val_fraction!r}'
            raise ValueError(msg)
        if self.amp not in (True, False, None, 'bfloat16'):
            msg = f"amp must be True, False or 'bfloat16', got {self.amp!r}"
            raise ValueError(msg)

    def _prepare(self, images):
        h, w = np.shape(images)[-2:]
        eff_h, eff_w = (min(h, self.crop), min(w, self.crop)) if self.crop else (h, w)
        # the network halves the image several times: below 16 px there is
        # nothing left for it to look at
        if min(eff_h, eff_w) < 16:
            msg = (f'images of {h}x{w} pixels are too small for this classifier: it needs at '
                   f'least 16x16 pixels and looks at the central {self.crop}x{self.crop} of '
                   'larger ones (crop); pass larger images (DeepLense Model I images are '
                   '150x150)')
            if not self.crop:
                msg = (f'images of {h}x{w} pixels are too small for this classifier: it needs '
                       'at least 16x16 pixels (DeepLense Model I images are 150x150)')
            raise ValueError(msg)
        crop = self.crop
        if self.backbone == 'd4lensnet':
            # rotations need a square: the central square of a rectangular image
            crop = min(eff_h, eff_w)
        prepared = prepare_images(images, crop=crop, stretch=self.normalization)
        # its space-to-depth stem needs even sides: drop a last odd row or column
        return prepared[..., :prepared.shape[-2] // 2 * 2, :prepared.shape[-1] // 2 * 2]

    def _encode(self, y, n):
        """Labels -> (indices, classes)."""
        y = list(np.asarray(y).ravel()) if not isinstance(y, list) else list(y)
        if len(y) != n:
            msg = f'y has {len(y)} labels but X has {n} images'
            raise ValueError(msg)
        arr = np.asarray(y)
        if arr.dtype.kind in 'iu' or (arr.dtype.kind == 'f' and np.all(arr == np.round(arr))):
            ints = arr.astype(np.int64)
            if ints.min() >= 0 and ints.max() < len(CLASSES):
                return ints, CLASSES
            classes = tuple(str(v) for v in np.unique(ints))
            return np.searchsorted(np.unique(ints), ints), classes
        names = [str(v) for v in y]
        try:
            canon = [canonical_class(v) for v in names]
        except ValueError:
            classes = tuple(sorted(set(names)))
            return np.array([classes.index(v) for v in names]), classes
        return np.array([CLASSES.index(v) for v in canon]), CLASSES

    def _build(self, num_classes):
        return create_network(self.backbone, in_chans=1, num_classes=num_classes,
                              **(self.backbone_kwargs or {}))

    def _tta_ops(self):
        if self.backbone == 'd4lensnet':
            return range(1)
        if self.tta in (True, 'd4'):
            return range(8)
        if self.tta == 'rot4':
            return range(4)
        return range(1)

    def _check_fitted(self):
        if getattr(self, 'model_', None) is None:
            msg = (f'this {type(self).__name__} is not fitted yet: call fit() first, or use '
                   'LensClassifier.load(path) or LensClassifier.from_pretrained(name)')
            raise NotFittedError(msg)

    # -- training ----------------------------------------------------------------------

    def fit(self, X=None, y=None, *, simulator=None, steps=None, val_images=None,
            val_labels=None):
        """Train on images, a DeepLense folder, or freshly simulated images.

        Parameters
        ----------
        X : array-like, list, or path, optional
            ``(N, H, W)`` images (any units: counts or normalised), a list
            of anything `astrolens.io.to_nddata` accepts, or a DeepLense
            classification folder (then ``y`` must be None).
        y : array-like, optional
            ``(N,)`` labels: class names (DeepLense aliases are mapped to
            ``'no'``, ``'cdm'``, ``'vortex'``) or integer indices (0, 1, 2
            mean no, cdm, vortex).
        simulator : dict, optional
            Instead of ``X``: ``{class name: source}`` where ``source`` is an
            object with ``simulate(n)`` (such as
            ``astrolens.simulation.LensSimulator``) or a callable ``f(n)``
            returning ``(n, H, W)`` images. Every batch is simulated afresh,
            so a long run never sees the same image twice.
        steps : int, optional
            Optimiser steps per epoch. Required with ``simulator``; with
            images it defaults to one pass over the training split.
        val_images, val_labels : optional
            An explicit validation set instead of ``val_fraction`` of ``X``
            (with ``simulator``, by default ``val_fraction * steps *
            batch_size`` images, at least 60, are simulated once).

        Returns
        -------
        self : `LensClassifier`
        """
        self._check_params()
        rng = np.random.default_rng(self.seed)
        if simulator is not None:
            if X is not None:
                msg = 'pass either X (and y) or simulator, not both'
                raise ValueError(msg)
            if steps is None:
                msg = 'fit(simulator=...) needs steps= (optimiser steps per epoch)'
                raise ValueError(msg)
            batches, val, classes, n_train = self._simulated_batches(simulator, steps, rng)
            if val_images is not None:
                val = self._val_tensors(val_images, val_labels, classes)
        else:
            if X is None:
                msg = 'fit needs images X (with labels y) or simulator='
                raise ValueError(msg)
            images, folder_labels = _as_images(X)
            if folder_labels is not None:
                if y is not None:
                    msg = 'X is a DeepLense folder, which carries its labels: pass y=None'
                    raise ValueError(msg)
                y = folder_labels
            elif y is None:
                msg = 'fit(X, y) needs labels y for an array of images'
                raise ValueError(msg)
            labels, classes = self._encode(y, len(images))
            prepared = self._prepare(images)
            del images
            if val_images is not None:
                train_idx = np.arange(len(labels))
                val = self._val_tensors(val_images, val_labels, classes)
            else:
                train_idx, val_idx = self._split(labels, rng)
                val = None
                if val_idx.size:
                    val = (torch.from_numpy(prepared[val_idx][:, None]),
                           torch.from_numpy(labels[val_idx]))
            x_train = torch.from_numpy(prepared[train_idx][:, None])
            y_train = torch.from_numpy(labels[train_idx])
            n_train = len(train_idx)
            batches, steps = self._array_batches(x_train, y_train, steps)
        num_classes = len(classes)
        torch.manual_seed(self.seed)
        if self.warm_start and getattr(self, 'model_', None) is not None:
            if tuple(self.classes_) != tuple(classes):
                msg = (f'warm_start needs the same classes as the current model, '
                       f'{self.classes_}, got {classes}')
                raise ValueError(msg)
            model = self.model_
        else:
            model = self._build(num_classes)
        val_fn = None
        if val is not None:
            xv, yv, bs = val[0], val[1], max(self.batch_size, 128)

            def val_fn():
                # validate (and keep as best) the network with batch-norm statistics
                # measured on the current weights, not a running average of older ones
                _refresh_batch_norm(model, batches, steps=_BN_REFRESH_STEPS)
                return ((xv[i:i + bs], yv[i:i + bs]) for i in range(0, len(xv), bs))

        def metrics(outputs, targets):
            from astrolens.metrics import roc_auc

            proba = torch.softmax(outputs, 1).numpy()
            t = targets.numpy()
            out = {'accuracy': float(np.mean(proba.argmax(1) == t))}
            if len(np.unique(t)) > 1:
                out['auc_macro'] = roc_auc(t, proba)['macro']
            return out

        t0 = time.perf_counter()
        result = train(model, F.cross_entropy, batches, epochs=self.epochs,
                       steps_per_epoch=steps, lr=self.lr, weight_decay=self.weight_decay,
                       val_batches=val_fn, metrics=metrics, monitor='val_loss', mode='min',
                       patience=self.patience, max_minutes=self.max_minutes, amp=self.amp,
                       checkpoint_dir=self.checkpoint_dir, device=self.device, seed=self.seed,
                       progress=self.progress, channels_last=True)
        model.eval()
        self.model_ = model
        self.classes_ = tuple(classes)
        self.history_ = result.history
        if simulator is not None:
            self.instrument_ = _instrument_of(simulator)
        elif not self.warm_start:
            self.instrument_ = None
        self.temperature_, self.outlier_stats_, self.outlier_threshold_ = 1.0, None, None
        # measurements of loaded weights do not describe the new ones; stage records do
        stages = (getattr(self, 'config_', None) or {}).get('stages')
        self.config_ = {'stages': stages} if stages else {}
        if val is not None:
            counts = np.bincount(val[1].numpy(), minlength=len(classes))
            if len(val[1]) >= 20 and np.all(counts >= 4):
                self._calibrate_tensors(val[0], val[1].numpy())
        self.info_ = {'n_train': int(n_train), 'n_val': 0 if val is None else len(val[1]),
                      'steps_per_epoch': int(steps), 'best_epoch': result.best_epoch,
                      'stopped_early': result.stopped_early,
                      'resumed_from_epoch': result.resumed_from,
                      'train_seconds_this_run': round(time.perf_counter() - t0, 1),
                      'data': 'simulated on the fly' if simulator is not None else 'arrays'}
        return self

    def _split(self, labels, rng):
        return split_validation(labels, rng, val_fraction=self.val_fraction)

    def _val_tensors(self, images, labels, classes):
        images, _ = _as_images(images)
        idx, val_classes = self._encode(labels, len(images))
        if tuple(val_classes) != tuple(classes):
            msg = f'validation classes {val_classes} differ from the training classes {classes}'
            raise ValueError(msg)
        return torch.from_numpy(self._prepare(images)[:, None]), torch.from_numpy(idx)

    def _array_batches(self, x, y, steps):
        return array_batches(x, y, steps, batch_size=self.batch_size,
                             augment=self.augment == 'd4', seed=self.seed)

    def _simulated_batches(self, simulator, steps, rng):
        return simulated_batches(simulator, steps, rng, prepare=self._prepare,
                                 batch_size=self.batch_size, val_fraction=self.val_fraction,
                                 augment=self.augment == 'd4', seed=self.seed)

    # -- prediction --------------------------------------------------------------------

    def _target(self):
        """``(pixel scale, (ny, nx))`` of the field the network looks at, or None."""
        inst = getattr(self, 'instrument_', None)
        if not inst or not inst.get('pixel_scale'):
            return None
        shape = tuple(int(n) for n in inst['shape'])
        if self.crop:
            shape = (min(shape[0], int(self.crop)), min(shape[1], int(self.crop)))
        return float(inst['pixel_scale']), shape

    def _images(self, X):
        return _as_images(X, self._target())[0]

    def _infer(self, x, *, batch_size=256):
        """Logits ``(V, N, K)`` of the TTA views and view-averaged features ``(N, D)``."""
        return infer(self.model_, x, views=self._tta_ops(), device=resolve_device(self.device),
                     batch_size=batch_size)

    def _outlier_model(self):
        stats = getattr(self, 'outlier_stats_', None)
        if stats is None or getattr(self, 'outlier_threshold_', None) is None:
            msg = ('this classifier has no outlier statistics: call calibrate(images, labels) '
                   'with held-out images of its training distribution (fit does it when it '
                   'has validation images)')
            raise NotFittedError(msg)
        return stats

    def _proba_and_scores(self, X, *, batch_size=256):
        """Calibrated probabilities and outlier scores (None without statistics), no warning."""
        self._check_fitted()
        x = torch.from_numpy(self._prepare(self._images(X))[:, None])
        logits, features = self._infer(x, batch_size=batch_size)
        proba = softmax_mean(logits, getattr(self, 'temperature_', 1.0))
        scores = None
        if getattr(self, 'outlier_stats_', None) is not None and \
                getattr(self, 'outlier_threshold_', None) is not None:
            scores = self.outlier_stats_.score(features)
        return proba, scores

    def predict_proba(self, X, *, batch_size=256, return_outlier_score=False):
        """Class probabilities, ``(N, len(classes_))``, columns following `classes_`.

        Probabilities are calibrated by `temperature_`. When the classifier
        has outlier statistics, inputs unlike its training data raise an
        `~astrolens.utils.AstrolensUserWarning` (their probabilities mean
        little; see `is_outlier`).

        Parameters
        ----------
        X : array-like, list, `~astropy.nddata.NDData`, HDU, or path
            One image, an ``(N, H, W)`` batch, a list of images or a
            DeepLense folder; raw counts and normalised images are
            equivalent. Inputs with a celestial WCS are resampled to the
            model's pixel scale first (see the class notes).
        batch_size : int, optional
        return_outlier_score : bool, optional
            Also return `outlier_score` of every image (one network pass for
            both; None when the classifier has no outlier statistics).

        Returns
        -------
        proba : `~numpy.ndarray`
        scores : `~numpy.ndarray` or None
            Only with ``return_outlier_score=True``.
        """
        proba, scores = self._proba_and_scores(X, batch_size=batch_size)
        if scores is not None:
            n_out = int(np.sum(scores > self.outlier_threshold_))
            if n_out:
                msg = (f'{n_out} of {len(scores)} images do not look like the images this '
                       'classifier was trained on (outlier_score above outlier_threshold_): '
                       'their class probabilities are not meaningful; check the pixel scale, '
                       'field and content (see is_outlier)')
                warnings.warn(msg, AstrolensUserWarning, stacklevel=2)
        if return_outlier_score:
            return proba, scores
        return proba

    def outlier_score(self, X, *, batch_size=256):
        """How unlike the training data each image is (higher: less like it), ``(N,)``.

        The Mahalanobis distance of the image's network features to the
        nearest class centre, in units of the training spread (see
        `calibrate`). Compare with `outlier_threshold_`, or use `is_outlier`.
        """
        self._check_fitted()
        stats = self._outlier_model()
        x = torch.from_numpy(self._prepare(self._images(X))[:, None])
        return stats.score(self._infer(x, batch_size=batch_size)[1])

    def is_outlier(self, X, *, batch_size=256):
        """Boolean ``(N,)``: `outlier_score` above `outlier_threshold_`."""
        return self.outlier_score(X, batch_size=batch_size) > self.outlier_threshold_

    def calibrate(self, X, y=None, *, outlier_quantile=0.99, seed=0):
        """Fit the temperature and the outlier statistics on held-out labelled images.

        The images must come from the training distribution but not have
        been trained on (a validation set). The temperature minimises the
        negative log-likelihood of the labels; the outlier statistics (class
        centres and shared covariance of the features) are estimated on one
        half of the images, chosen at random within each class, and
        `outlier_threshold_` is the ``outlier_quantile`` quantile of the
        scores of the other half.

        Parameters
        ----------
        X, y : see `evaluate`
        outlier_quantile : float, optional
            Fraction of held-out training-like images kept below the
            threshold.
        seed : int, optional
            Seeds the split.

        Returns
        -------
        self : `LensClassifier`
        """
        self._check_fitted()
        images, idx = self._labels_for(X, y)
        x = torch.from_numpy(self._prepare(images)[:, None])
        return self._calibrate_tensors(x, idx, outlier_quantile=outlier_quantile, seed=seed)

    def _calibrate_tensors(self, x, idx, *, outlier_quantile=0.99, seed=0):
        if not 0 < outlier_quantile < 1:
            msg = f'outlier_quantile must be in (0, 1), got {outlier_quantile!r}'
            raise ValueError(msg)
        idx = np.asarray(idx)
        counts = np.bincount(idx, minlength=len(self.classes_))
        if len(idx) < 20 or np.any(counts < 4):
            msg = (f'calibrate needs at least 20 images and 4 per class, got {len(idx)} '
                   f'({dict(zip(self.classes_, counts.tolist(), strict=True))})')
            raise ValueError(msg)
        logits, features = self._infer(x)
        self.temperature_ = fit_temperature(logits, idx)
        self.outlier_stats_, self.outlier_threshold_ = fit_outlier_threshold(
            features, idx, quantile=outlier_quantile, seed=seed)
        self.calibration_info_ = {'n_images': int(len(idx)), 'outlier_quantile': outlier_quantile,
                                  'seed': seed}
        return self

    def predict(self, X, *, reject_outliers=False, **kwargs):
        """Most probable class name of each image, as an array of str.

        Parameters
        ----------
        X : array-like, list, `~astropy.nddata.NDData`, HDU, or path
            As in `predict_proba`.
        reject_outliers : bool, optional
            Label the images that `is_outlier` flags ``'outlier'`` instead of
            giving them a class (without the warning of `predict_proba`: they
            are accounted for). Needs outlier statistics (see `calibrate`).
        **kwargs
            Passed to `predict_proba` (``batch_size``).

        Returns
        -------
        labels : `~numpy.ndarray` of str
            Names from `classes_`, or ``'outlier'``.

        Raises
        ------
        NotFittedError
            With ``reject_outliers=True``, if the classifier has no outlier
            statistics.

        Notes
        -----
        The classifier sorts simulated strong lenses by their dark-matter
        substructure; it is not a lens finder. Every image gets one of
        `classes_`, whatever it shows, so ``'no'`` means a lens without
        substructure, never "no lens". ``reject_outliers=True`` sets aside
        images unlike the training data (noise, flat frames, star fields,
        galaxies without a lens; see `is_outlier`), but an image that is not
        rejected is not thereby shown to be a lens.
        """
        if not reject_outliers:
            proba = self.predict_proba(X, **kwargs)
            return np.asarray(self.classes_)[proba.argmax(axis=1)]
        self._check_fitted()
        self._outlier_model()
        proba, scores = self._proba_and_scores(X, **kwargs)
        best = proba.argmax(axis=1)
        best[scores > self.outlier_threshold_] = len(self.classes_)
        return np.asarray([*self.classes_, 'outlier'])[best]

    def _labels_for(self, X, y):
        images, folder_labels = _as_images(X, self._target())
        if folder_labels is not None and y is None:
            y = folder_labels
        if y is None:
            msg = 'labels y are needed (or a DeepLense folder)'
            raise ValueError(msg)
        idx, classes = self._encode(y, len(images))
        if tuple(classes) != tuple(self.classes_):
            names = np.asarray(classes)[idx]
            unknown = sorted(set(names) - set(self.classes_))
            if unknown:
                msg = f'labels {unknown} are not among the classes {self.classes_}'
                raise ValueError(msg)
            idx = np.array([self.classes_.index(n) for n in names])
        return images, idx

    def score(self, X, y=None):
        """Accuracy on ``X`` with true labels ``y``."""
        images, idx = self._labels_for(X, y)
        return float(np.mean(self.predict_proba(images).argmax(axis=1) == idx))

    def evaluate(self, X, y=None):
        """Accuracy, ROC AUCs and confusion matrix on labelled images.

        Returns
        -------
        report : dict
            See `astrolens.metrics.classification_report`: ``accuracy``,
            ``auc_micro``, ``auc_macro``, ``auc_per_class`` (by class name),
            ``confusion_matrix`` (rows: true class, columns: predicted, in
            the order of `classes_`), ``n_samples``, ``classes``.
        """
        from astrolens.metrics import classification_report

        images, idx = self._labels_for(X, y)
        return classification_report(idx, self.predict_proba(images), classes=self.classes_)

    # -- persistence -------------------------------------------------------------------

    def _config(self, extra=None):
        return classifier_config(self, extra)

    def save(self, path, *, metadata=None, overwrite=True):
        """Write ``PATH.safetensors`` (weights) and ``PATH.json`` (configuration).

        Parameters
        ----------
        path : str or `~pathlib.Path`
            With or without the ``.safetensors`` suffix.
        metadata : dict, optional
            Extra JSON-serialisable entries for the configuration (training
            command, metrics, ...).
        overwrite : bool, optional

        Returns
        -------
        weights, config : `~pathlib.Path`
        """
        self._check_fitted()
        return save_classifier(self, path, metadata=metadata, overwrite=overwrite)

    @classmethod
    def _from_files(cls, weights, config_source, *, name):
        return classifier_from_files(cls, weights, config_source, name=name)

    @classmethod
    def load(cls, path):
        """Read a classifier written by `save` (no unpickling).

        Raises
        ------
        WeightsError
            If a file is missing, corrupted or truncated, or the weights do
            not fit the architecture of the configuration.
        """
        weights, config = weight_paths(path)
        for file in (weights, config):
            if not file.is_file():
                msg = f'{file} not found: a saved classifier is a .safetensors + .json pair'
                raise WeightsError(msg)
        return cls._from_files(weights, config, name=str(weights.with_suffix('')))

    @classmethod
    def from_pretrained(cls, name='deeplense-model-i'):
        """Load shipped weights by name (see `astrolens.models.pretrained.available_models`).

        Read from package data with `importlib.resources`; never from the
        network.
        """
        from astrolens.models.pretrained import model_files

        weights, config = model_files(name)
        return cls._from_files(weights, config, name=name)
