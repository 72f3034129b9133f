# Licensed under a 3-clause BSD style license - see LICENSE
"""Plots with matplotlib: ROC curves, confusion matrices and reliability diagrams of the
classifier.
"""

from astrolens.visualization._classification import (
    plot_confusion_matrix,
    plot_reliability_diagram,
    plot_roc,
)

__all__ = ['plot_confusion_matrix', 'plot_reliability_diagram', 'plot_roc']
