# Licensed under a 3-clause BSD style license - see LICENSE
"""Metrics: ROC curves, AUC, confusion matrix and accuracy for the classifier,
with its expected calibration error and reliability curve; MSE, PSNR, SSIM and
flux errors for super-resolution (NumPy only), the detection purity of an
output's sources against the truth (photutils peaks), and the coverage of a
per-pixel uncertainty (z-scores on the truth's sources, reliability curve).
"""

from astrolens.metrics._classification import (
                                               accuracy,
                                               auc,
                                               classification_report,
                                               confusion_matrix,
                                               expected_calibration_error,
                                               multiclass_roc,
                                               reliability_curve,
                                               roc_auc,
                                               roc_curve,
)
from astrolens.metrics._detection import DetectionPurity, detection_purity
from astrolens.metrics._image import flux_error, image_metrics, mse, psnr, ssim
from astrolens.metrics._uncertainty import (
                                            UncertaintyCalibration,
                                            coverage_curve,
                                            source_pixels,
                                            uncertainty_calibration,
)

__all__ = ['DetectionPurity', 'UncertaintyCalibration', 'accuracy', 'auc',
           'classification_report', 'confusion_matrix', 'coverage_curve', 'detection_purity',
           'expected_calibration_error', 'flux_error', 'image_metrics', 'mse', 'multiclass_roc',
           'psnr', 'reliability_curve', 'roc_auc', 'roc_curve', 'source_pixels', 'ssim',
           'uncertainty_calibration']
