"""
Calibrated probabilities and outliers: reliability diagram
==========================================================

A probability of 0.9 should be right nine times in ten. The reliability
diagram bins predictions by their confidence (the largest probability) and
draws the accuracy in each bin against it: a calibrated classifier follows
the diagonal. `~astrolens.models.LensClassifier` divides its logits by a
temperature fitted on held-out images (``temperature_``, set by
``calibrate``, which ``fit`` calls on its validation images); the expected
calibration error (ECE) is the mean distance to the diagonal.

The same held-out images also set ``outlier_threshold_``: images that look
like nothing the classifier was trained on -- here pure noise and a flat
frame -- get a high ``outlier_score`` and ``predict_proba`` warns about them.
"""

import textwrap
import warnings

import matplotlib.pyplot as plt
import numpy as np

from astrolens.metrics import expected_calibration_error
from astrolens.models import LensClassifier
from astrolens.simulation import simulate_classification_set
from astrolens.visualization import plot_reliability_diagram

clf = LensClassifier.from_pretrained('deeplense-model-i')
images, labels, classes = simulate_classification_set(100, model='model_i', seed=2027)

# predict_proba warns about images unlike the training ones; the warning is
# printed once, by its message alone (the default format adds the script's path)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    calibrated = clf.predict_proba(images)
    temperature = clf.temperature_
    clf.temperature_ = 1.0  # the raw softmax, for comparison
    raw = clf.predict_proba(images)
    clf.temperature_ = temperature
for message in dict.fromkeys(str(w.message) for w in caught):
    print(textwrap.fill(message, width=76))

# the printed ECE and the figure's use the same 10 confidence bins
N_BINS = 10
ece_raw = expected_calibration_error(labels, raw, n_bins=N_BINS)
ece_calibrated = expected_calibration_error(labels, calibrated, n_bins=N_BINS)
print(f'temperature {temperature:.2f}: ECE {100 * ece_raw:.2f}% -> {100 * ece_calibrated:.2f}% '
      f'({N_BINS} bins)')

fig, axes = plt.subplots(1, 2, figsize=(9, 4.3), sharey=True)
plot_reliability_diagram(labels, raw, ax=axes[0], label='softmax', n_bins=N_BINS)
axes[0].set_title('before temperature scaling')
plot_reliability_diagram(labels, calibrated, ax=axes[1], label='calibrated', n_bins=N_BINS)
axes[1].set_title(f'temperature {temperature:.2f}')
fig.tight_layout()

# %%
# Outlier scores of simulated lenses, pure noise and a flat frame, against
# the threshold set at fit time.

rng = np.random.default_rng(0)
others = np.concatenate([rng.normal(10, 3, (20, 150, 150)), np.full((1, 150, 150), 7.0)])
with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    lens_scores = clf.outlier_score(images)
    other_scores = clf.outlier_score(others.astype(np.float32))

fig, ax = plt.subplots(figsize=(6, 3.5))
bins = np.linspace(0, max(lens_scores.max(), other_scores.max()) * 1.05, 40)
ax.hist(lens_scores, bins=bins, label='simulated Model I lenses')
ax.hist(other_scores, bins=bins, label='noise and a flat frame')
ax.axvline(clf.outlier_threshold_, color='k', ls='--', label='outlier_threshold_')
ax.set_xlabel('outlier score')
ax.set_ylabel('images')
ax.legend()
fig.tight_layout()
plt.show()
