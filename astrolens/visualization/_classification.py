# Licensed under a 3-clause BSD style license - see LICENSE
"""ROC curves, confusion matrices and reliability diagrams of a classifier."""

import numpy as np

from astrolens.metrics import auc, expected_calibration_error, multiclass_roc, reliability_curve

__all__ = ['plot_confusion_matrix', 'plot_reliability_diagram', 'plot_roc']


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(4.5, 4.5))
    return ax


def plot_roc(y_true, proba, classes=None, *, ax=None, averages=True):
    """One-vs-rest ROC curve of each class, with the micro and macro averages.

    Parameters
    ----------
    y_true : array-like of int
        ``(N,)`` true class indices.
    proba : array-like
        ``(N, n_classes)`` predicted probabilities (``predict_proba``).
    classes : sequence of str, optional
        Class names for the legend (default: the indices).
    ax : `~matplotlib.axes.Axes`, optional
        Where to draw; a new figure by default.
    averages : bool, optional
        Also draw the micro- and macro-averaged curves.

    Returns
    -------
    ax : `~matplotlib.axes.Axes`
        Each curve is a line labelled with its AUC.
    """
    proba = np.asarray(proba)
    curves = multiclass_roc(y_true, proba)
    names = list(classes) if classes is not None else [str(k) for k in range(proba.shape[1])]
    if len(names) != proba.shape[1]:
        msg = f'{len(names)} class names given for {proba.shape[1]} probability columns'
        raise ValueError(msg)
    ax = _axes(ax)
    for k, name in enumerate(names):
        if k in curves:
            fpr, tpr = curves[k]
            ax.plot(fpr, tpr, lw=1.5, label=f'{name} (AUC = {auc(fpr, tpr):.4f})')
    if averages:
        for key, style in (('micro', ':'), ('macro', '--')):
            if key in curves:
                fpr, tpr = curves[key]
                ax.plot(fpr, tpr, ls=style, color='k', lw=1.2,
                        label=f'{key} average (AUC = {auc(fpr, tpr):.4f})')
    ax.plot([0, 1], [0, 1], color='0.7', lw=0.8)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel='False positive rate',
           ylabel='True positive rate', title='ROC (one vs rest)')
    ax.legend(loc='lower right', fontsize='small')
    return ax


def plot_confusion_matrix(cm, classes=None, *, ax=None, normalize=False, cmap='Blues'):
    """Draw a confusion matrix with the count (or fraction) in each cell.

    Parameters
    ----------
    cm : array-like
        ``(n_classes, n_classes)``; rows are the true classes, columns the
        predicted ones (as `astrolens.metrics.confusion_matrix` returns).
    classes : sequence of str, optional
        Tick labels.
    ax : `~matplotlib.axes.Axes`, optional
    normalize : bool, optional
        Show each row as fractions of the true class.
    cmap : str, optional

    Returns
    -------
    ax : `~matplotlib.axes.Axes`
    """
    cm = np.asarray(cm, dtype=float)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        msg = f'cm must be a square matrix, got shape {cm.shape}'
        raise ValueError(msg)
    n = cm.shape[0]
    names = list(classes) if classes is not None else [str(k) for k in range(n)]
    if len(names) != n:
        msg = f'{len(names)} class names given for a {n}x{n} confusion matrix'
        raise ValueError(msg)
    shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    ax = _axes(ax)
    ax.imshow(shown, cmap=cmap, vmin=0)
    threshold = shown.max() / 2 if shown.size else 0
    for i in range(n):
        for j in range(n):
            text = f'{shown[i, j]:.2f}' if normalize else f'{int(round(shown[i, j]))}'
            ax.text(j, i, text, ha='center', va='center',
                    color='white' if shown[i, j] > threshold else 'black')
    ax.set(xticks=range(n), yticks=range(n), xticklabels=names, yticklabels=names,
           xlabel='Predicted class', ylabel='True class', title='Confusion matrix')
    return ax


def plot_reliability_diagram(y_true, proba, *, n_bins=15, ax=None, label=None, show_counts=True):
    """Accuracy against confidence of the top-1 prediction, beside perfect calibration.

    Each bin of confidence is drawn as a marker at (mean confidence,
    accuracy); bins above the diagonal are under-confident, below it
    over-confident. The expected calibration error is in the legend.

    Parameters
    ----------
    y_true : array-like of int
        ``(N,)`` true class indices.
    proba : array-like
        ``(N, n_classes)`` predicted probabilities (``predict_proba``).
    n_bins : int, optional
        Equal-width confidence bins (see `astrolens.metrics.reliability_curve`).
    ax : `~matplotlib.axes.Axes`, optional
    label : str, optional
        Legend label of the curve (the ECE is appended).
    show_counts : bool, optional
        Also draw the fraction of images per bin as bars.

    Returns
    -------
    ax : `~matplotlib.axes.Axes`
    """
    ax = _axes(ax)
    curve = reliability_curve(y_true, proba, n_bins=n_bins)
    ece = expected_calibration_error(y_true, proba, n_bins=n_bins)
    filled = curve['count'] > 0
    edges = curve['edges']
    if show_counts:
        ax.bar(edges[:-1], curve['count'] / curve['count'].sum(), width=np.diff(edges),
               align='edge', color='0.85', edgecolor='0.6', label='fraction of images')
    ax.plot([0, 1], [0, 1], ls='--', color='0.4', lw=1, label='perfect calibration')
    text = f'ECE = {100 * ece:.2f}%'
    ax.plot(curve['confidence'][filled], curve['accuracy'][filled], marker='o',
            label=f'{label} ({text})' if label else text)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel('confidence (largest probability)')
    ax.set_ylabel('accuracy')
    ax.legend(loc='upper left', fontsize='small')
    return ax
