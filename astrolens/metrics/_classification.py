# Licensed under a 3-clause BSD style license - see LICENSE
"""Classification metrics with NumPy: ROC curves, AUC, confusion matrix, accuracy."""

import numpy as np

__all__ = ['accuracy', 'auc', 'classification_report', 'expected_calibration_error',
           'reliability_curve', 'confusion_matrix', 'multiclass_roc',
           'roc_auc', 'roc_curve']


def _binary_inputs(y_true, score):
    y_true = np.asarray(y_true).ravel()
    score = np.asarray(score, dtype=np.float64).ravel()
    if y_true.shape != score.shape:
        msg = f'y_true and score must have the same length, got {y_true.shape} and {score.shape}'
        raise ValueError(msg)
    if not np.all(np.isfinite(score)):
        msg = 'score holds NaN or infinite values'
        raise ValueError(msg)
    return y_true.astype(bool), score


def roc_curve(y_true, score):
    """Receiver operating characteristic of a binary score.

    Parameters
    ----------
    y_true : array-like of bool or {0, 1}
        True where the sample is positive.
    score : array-like of float
        Higher means more likely positive.

    Returns
    -------
    fpr, tpr : `~numpy.ndarray`
        False and true positive rates, from (0, 0) to (1, 1), one point per
        distinct score (tied scores make one diagonal step).
    thresholds : `~numpy.ndarray`
        ``score >= threshold`` gives each point; the first is ``inf``.

    Raises
    ------
    ValueError
        If ``y_true`` holds only one class (the curve is undefined).
    """
    y_true, score = _binary_inputs(y_true, score)
    n_pos = int(y_true.sum())
    n_neg = y_true.size - n_pos
    if n_pos == 0 or n_neg == 0:
        msg = 'the ROC curve needs both positive and negative samples in y_true'
        raise ValueError(msg)
    order = np.argsort(-score, kind='mergesort')
    score, y_true = score[order], y_true[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(score)), score.size - 1]
    tps = np.cumsum(y_true)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    tpr = np.r_[0.0, tps / n_pos]
    fpr = np.r_[0.0, fps / n_neg]
    thresholds = np.r_[np.inf, score[last_of_tie]]
    return fpr, tpr, thresholds


def auc(x, y):
    """Area under a curve by the trapezoidal rule (``x`` monotonic)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    dx = np.diff(x)
    if np.any(dx < 0) and np.any(dx > 0):
        msg = 'x must be monotonic'
        raise ValueError(msg)
    return float(abs(np.sum(dx * (y[1:] + y[:-1]) / 2.0)))


def _one_hot(y_true, n_classes):
    y_true = np.asarray(y_true).ravel().astype(np.int64)
    if y_true.size and (y_true.min() < 0 or y_true.max() >= n_classes):
        msg = (f'labels must be integers in [0, {n_classes}), '
               f'got range [{y_true.min()}, {y_true.max()}]')
        raise ValueError(msg)
    return np.eye(n_classes, dtype=bool)[y_true]


def _check_proba(y_true, proba):
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2:
        msg = f'proba must have shape (N, n_classes), got {proba.shape}'
        raise ValueError(msg)
    onehot = _one_hot(y_true, proba.shape[1])
    if onehot.shape[0] != proba.shape[0]:
        msg = f'y_true has {onehot.shape[0]} labels but proba has {proba.shape[0]} rows'
        raise ValueError(msg)
    return onehot, proba


def multiclass_roc(y_true, proba):
    """One-vs-rest ROC curves per class, plus the micro and macro averages.

    Parameters
    ----------
    y_true : array-like of int
        Class indices, ``(N,)``.
    proba : array-like
        ``(N, n_classes)`` scores (probabilities).

    Returns
    -------
    curves : dict
        Keys are the class indices, ``'micro'`` and ``'macro'``; values are
        ``(fpr, tpr)``. Micro pools every (sample, class) decision; macro
        averages the per-class TPR on the union of their FPR grids. A class
        absent from ``y_true`` (or present everywhere) is left out.
    """
    onehot, proba = _check_proba(y_true, proba)
    curves = {}
    for k in range(proba.shape[1]):
        if 0 < onehot[:, k].sum() < onehot.shape[0]:
            fpr, tpr, _ = roc_curve(onehot[:, k], proba[:, k])
            curves[k] = (fpr, tpr)
    fpr, tpr, _ = roc_curve(onehot.ravel(), proba.ravel())
    curves['micro'] = (fpr, tpr)
    per_class = [curves[k] for k in range(proba.shape[1]) if k in curves]
    if per_class:
        grid = np.unique(np.concatenate([f for f, _ in per_class]))
        mean_tpr = np.mean([np.interp(grid, f, t) for f, t in per_class], axis=0)
        curves['macro'] = (grid, mean_tpr)
    return curves


def roc_auc(y_true, proba):
    """One-vs-rest areas under the ROC curve.

    Parameters
    ----------
    y_true : array-like of int
        Class indices, ``(N,)``.
    proba : array-like
        ``(N, n_classes)`` scores, or ``(N,)`` scores of a binary problem
        (``y_true`` in {0, 1}).

    Returns
    -------
    result : dict
        ``per_class`` (list, NaN for a class that is absent or alone in
        ``y_true``), ``macro`` (mean of the per-class areas that are
        defined, as scikit-learn's ``average='macro'``) and ``micro`` (the
        area of the pooled one-vs-rest decisions).
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim == 1:
        fpr, tpr, _ = roc_curve(y_true, proba)
        value = auc(fpr, tpr)
        return {'per_class': [value], 'macro': value, 'micro': value}
    curves = multiclass_roc(y_true, proba)
    per_class = [auc(*curves[k]) if k in curves else float('nan')
                 for k in range(proba.shape[1])]
    defined = [v for v in per_class if not np.isnan(v)]
    return {'per_class': per_class,
            'macro': float(np.mean(defined)) if defined else float('nan'),
            'micro': auc(*curves['micro'])}


def confusion_matrix(y_true, y_pred, *, n_classes=None):
    """Counts ``cm[i, j]`` of samples of true class ``i`` predicted as ``j``."""
    y_true = np.asarray(y_true).ravel().astype(np.int64)
    y_pred = np.asarray(y_pred).ravel().astype(np.int64)
    if y_true.shape != y_pred.shape:
        msg = f'y_true and y_pred must have the same length, got {y_true.size} and {y_pred.size}'
        raise ValueError(msg)
    if n_classes is None:
        n_classes = int(max(y_true.max(initial=-1), y_pred.max(initial=-1))) + 1
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def accuracy(y_true, y_pred):
    """Fraction of ``y_pred`` equal to ``y_true``."""
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        msg = f'y_true and y_pred must have the same length, got {y_true.size} and {y_pred.size}'
        raise ValueError(msg)
    return float(np.mean(y_true == y_pred))


def classification_report(y_true, proba, *, classes=None):
    """Accuracy, AUCs and confusion matrix of class probabilities, as plain Python types.

    Parameters
    ----------
    y_true : array-like of int
        ``(N,)`` class indices.
    proba : array-like
        ``(N, n_classes)`` probabilities.
    classes : sequence of str, optional
        Names used as keys of ``auc_per_class``; default the indices.

    Returns
    -------
    report : dict
        ``accuracy``, ``auc_micro``, ``auc_macro``, ``auc_per_class``
        (dict name -> area), ``confusion_matrix`` (nested lists, rows are
        the true classes), ``n_samples`` and ``classes``.
    """
    onehot, proba = _check_proba(y_true, proba)
    y_true = onehot.argmax(axis=1)
    classes = list(classes) if classes is not None else [str(k) for k in range(proba.shape[1])]
    aucs = roc_auc(y_true, proba)
    y_pred = proba.argmax(axis=1)
    return {'accuracy': accuracy(y_true, y_pred), 'auc_micro': aucs['micro'],
            'auc_macro': aucs['macro'], 'ece': expected_calibration_error(y_true, proba),
            'auc_per_class': dict(zip(classes, aucs['per_class'], strict=True)),
            'confusion_matrix': confusion_matrix(y_true, y_pred,
                                                 n_classes=proba.shape[1]).tolist(),
            'n_samples': int(y_true.size), 'classes': classes}


def reliability_curve(y_true, proba, *, n_bins=15):
    """Accuracy against confidence of the top-1 prediction, in equal-width bins.

    Parameters
    ----------
    y_true : array-like of int
        ``(N,)`` class indices.
    proba : array-like
        ``(N, n_classes)`` probabilities.
    n_bins : int, optional
        Bins of the confidence (the largest probability) over [0, 1].

    Returns
    -------
    curve : dict
        ``edges`` (``n_bins + 1``), and per bin ``confidence`` (mean top
        probability), ``accuracy`` (fraction of correct top-1 predictions)
        and ``count``; empty bins hold NaN and 0.
    """
    onehot, proba = _check_proba(y_true, proba)
    if int(n_bins) < 1:
        msg = f'n_bins must be a positive integer, got {n_bins!r}'
        raise ValueError(msg)
    n_bins = int(n_bins)
    confidence = proba.max(axis=1)
    correct = onehot[np.arange(len(proba)), proba.argmax(axis=1)]
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # right-closed bins, so a confidence of exactly 1 falls in the last one
    which = np.clip(np.searchsorted(edges, confidence, side='left') - 1, 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid='ignore', divide='ignore'):
        conf = np.bincount(which, weights=confidence, minlength=n_bins) / count
        acc = np.bincount(which, weights=correct.astype(float), minlength=n_bins) / count
    return {'edges': edges, 'confidence': conf, 'accuracy': acc, 'count': count}


def expected_calibration_error(y_true, proba, *, n_bins=15):
    """Expected calibration error (ECE) of the top-1 prediction.

    The mean, weighted by the number of images per confidence bin, of
    ``|accuracy - confidence|`` (see `reliability_curve`): 0 for perfectly
    calibrated probabilities; 0.02 means the confidence is off by two
    points on average.

    Returns
    -------
    ece : float
    """
    curve = reliability_curve(y_true, proba, n_bins=n_bins)
    filled = curve['count'] > 0
    gaps = np.abs(curve['accuracy'][filled] - curve['confidence'][filled])
    return float(np.sum(gaps * curve['count'][filled]) / np.sum(curve['count']))
