# Licensed under a 3-clause BSD style license - see LICENSE
"""Numerics of the classifier's outlier score and probability calibration.

Outlier score: the Mahalanobis distance of an image's network features
(the vector the last linear layer sees) to the nearest class centre, with
one covariance shared by the classes, estimated on held-out images of the
training distribution. Images unlike anything the network was trained on
(noise, flat frames, galaxies without a lens, star fields) land far from
every class centre even when the softmax is confident.

Calibration: one temperature that divides the logits, fitted by minimising
the negative log-likelihood of held-out labels (temperature scaling); it
changes confidence, never the predicted class.
"""

import numpy as np

__all__ = ['FeatureGaussian', 'fit_outlier_threshold', 'fit_temperature', 'softmax_mean']


class FeatureGaussian:
    """Class-conditional Gaussians with a shared, shrunk covariance.

    Parameters
    ----------
    means : `~numpy.ndarray`
        ``(K, D)`` class centres.
    precision : `~numpy.ndarray`
        ``(D, D)`` inverse of the shared covariance.
    """

    def __init__(self, means, precision):
        self.means = np.asarray(means, dtype=np.float64)
        self.precision = np.asarray(precision, dtype=np.float64)

    @classmethod
    def fit(cls, features, labels, *, shrinkage=0.1):
        """Estimate class centres and a shared covariance.

        The covariance is shrunk toward ``trace / D`` times the identity by
        ``shrinkage`` so it stays invertible with few images per dimension.
        """
        features = np.asarray(features, dtype=np.float64)
        labels = np.asarray(labels)
        classes = np.unique(labels)
        means = np.stack([features[labels == k].mean(0) for k in classes])
        centred = features - means[np.searchsorted(classes, labels)]
        cov = centred.T @ centred / max(1, len(features) - len(classes))
        d = cov.shape[0]
        cov = (1 - shrinkage) * cov + shrinkage * np.trace(cov) / d * np.eye(d)
        return cls(means, np.linalg.inv(cov))

    def score(self, features):
        """Distance (in standard deviations) to the nearest class centre, ``(N,)``."""
        features = np.asarray(features, dtype=np.float64)
        diff = features[:, None, :] - self.means[None]
        d2 = np.einsum('nkd,de,nke->nk', diff, self.precision, diff)
        return np.sqrt(np.maximum(d2.min(axis=1), 0.0))


def softmax_mean(logits, temperature=1.0):
    """Softmax of ``logits / temperature``, averaged over the leading (view) axis.

    Parameters
    ----------
    logits : `~numpy.ndarray`
        ``(V, N, K)``: V symmetric views of N images.
    """
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    return (p / p.sum(axis=-1, keepdims=True)).mean(axis=0)


def fit_temperature(logits, labels):
    """Temperature minimising the negative log-likelihood of ``labels``.

    Parameters
    ----------
    logits : `~numpy.ndarray`
        ``(V, N, K)`` (views, images, classes).
    labels : `~numpy.ndarray`
        ``(N,)`` class indices.

    Returns
    -------
    temperature : float
        In [0.05, 20].
    """
    labels = np.asarray(labels)

    def nll(log_t):
        p = softmax_mean(logits, np.exp(log_t))[np.arange(len(labels)), labels]
        return -np.mean(np.log(np.clip(p, 1e-12, None)))

    # imported here: scipy.optimize costs a fifth of a second, and prediction never fits
    from scipy.optimize import minimize_scalar

    best = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method='bounded',
                           options={'xatol': 1e-4})
    return float(np.exp(best.x))


def fit_outlier_threshold(features, labels, *, quantile=0.99, seed=0):
    """Outlier statistics and threshold from held-out images of the training distribution.

    The statistics (`FeatureGaussian`) are estimated on one half of the
    images, chosen at random within each class, and the threshold is the
    ``quantile`` quantile of the scores of the other half, so that about
    ``1 - quantile`` of new training-like images score above it.

    Parameters
    ----------
    features : `~numpy.ndarray`
        ``(N, D)`` network features.
    labels : `~numpy.ndarray`
        ``(N,)`` class indices.
    quantile : float, optional
    seed : int, optional
        Seeds the split.

    Returns
    -------
    stats : `FeatureGaussian`
    threshold : float
    """
    features, labels = np.asarray(features), np.asarray(labels)
    rng = np.random.default_rng(seed)
    fit_part = np.zeros(len(labels), dtype=bool)
    for k in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == k))
        fit_part[members[:len(members) // 2]] = True
    stats = FeatureGaussian.fit(features[fit_part], labels[fit_part])
    held_out = stats.score(features[~fit_part])
    return stats, float(np.quantile(held_out, quantile))
