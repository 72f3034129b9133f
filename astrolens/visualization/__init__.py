# Licensed under a 3-clause BSD style license - see LICENSE
"""Plots with matplotlib: ROC curves and confusion matrices of the classifier."""

from astrolens.visualization._classification import plot_confusion_matrix, plot_roc

__all__ = ['plot_confusion_matrix', 'plot_roc']
