# Licensed under a 3-clause BSD style license - see LICENSE
"""Metrics, with NumPy only: ROC curves, AUC, confusion matrix and accuracy for
the classifier; MSE, PSNR, SSIM and flux errors for super-resolution.
"""

from astrolens.metrics._classification import (
                                               accuracy,
                                               auc,
                                               classification_report,
                                               confusion_matrix,
                                               multiclass_roc,
                                               roc_auc,
                                               roc_curve,
)
from astrolens.metrics._image import flux_error, image_metrics, mse, psnr, ssim

__all__ = ['accuracy', 'auc', 'classification_report', 'confusion_matrix', 'flux_error',
           'image_metrics', 'mse', 'multiclass_roc', 'psnr', 'roc_auc', 'roc_curve', 'ssim']
