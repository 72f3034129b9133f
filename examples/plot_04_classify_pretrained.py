"""
Classifying lenses: ROC curves and confusion matrix
===================================================

`~astrolens.models.LensClassifier` sorts lenses into no substructure / CDM /
vortex. This example loads the shipped ``deeplense-model-i`` weights with
``LensClassifier.from_pretrained``, classifies 100 freshly simulated lenses
per class and draws the ROC curves and the confusion matrix with
`astrolens.visualization`.

When the shipped model is not installed (as in the build of these pages, if
the output below shows training epochs), the example trains a tiny
classifier instead -- the small ``'lensresnet_s'`` network for a few epochs
on 80 simulated lenses per class, to stay within a minute on a CPU -- so
expect modest numbers then: the point is the workflow.
"""

import textwrap
import warnings

import matplotlib.pyplot as plt
import numpy as np

from astrolens.metrics import classification_report
from astrolens.models import LensClassifier
from astrolens.models.pretrained import available_models
from astrolens.simulation import simulate_classification_set
from astrolens.visualization import plot_confusion_matrix, plot_roc

# %%
# Training and test sets from different seeds: image ``i`` of class ``c``
# depends only on ``(seed, c, i)``. Labels index ``('no', 'cdm', 'vortex')``.
# Images are raw counts: the classifier scales each image by its own
# minimum and maximum, so normalised images give the same answer.

x_test, y_test, classes = simulate_classification_set(100, model='model_i', seed=2024)

if 'deeplense-model-i' in available_models():
    clf = LensClassifier.from_pretrained('deeplense-model-i')
    # a model trained in stages records each stage (command, data, learning curve)
    info = {**clf.info_, **(clf.config_.get('stages') or [{}])[-1]}
    source = (info.get('data') or {}).get('source', info.get('source', '?'))
    print(textwrap.fill(f'shipped model: {clf.backbone}, trained on {info["n_train"]} '
                        f'lenses ({source}), best epoch {info["best_epoch"]}, by the '
                        'command:', width=76))
    # one option and its value per piece, packed into lines short enough for the page
    pieces = info['command'].split(' --')
    lines, line = [], pieces[0]
    for piece in pieces[1:]:
        if len(line) + len(piece) + 3 > 72:
            lines.append(f'{line} \\')
            line = f'    --{piece}'
        else:
            line = f'{line} --{piece}'
    print('\n'.join([*lines, line]))
else:
    x_train, y_train, _ = simulate_classification_set(80, model='model_i', seed=1)
    clf = LensClassifier('lensresnet_s', epochs=4, batch_size=32, lr=3e-3, tta='rot4',
                         device='cpu', progress=False, seed=0)
    clf.fit(x_train, y_train)
    for h in clf.history_:
        print(f'epoch {h["epoch"]}: train loss {h["train_loss"]:.3f}, '
              f'validation accuracy {h["val_accuracy"]:.2f}')

# predict_proba warns about images unlike the training ones; the warning is
# printed here by its message alone (the default format adds the script's path)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    proba = clf.predict_proba(x_test)  # (300, 3), columns follow clf.classes_
for w in caught:
    print(textwrap.fill(f'{w.category.__name__}: {w.message}', width=76))
report = classification_report(y_test, proba, classes=clf.classes_)
print(f'accuracy {report["accuracy"]:.3f}, macro AUC {report["auc_macro"]:.3f}')
for name, auc in report['auc_per_class'].items():
    print(f'  AUC {name:>6}: {auc:.3f}')

# %%
# ROC curves (one class against the other two, with the micro and macro
# averages) and the confusion matrix: rows are the true class, columns the
# predicted one, as fractions of each true class.

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.5), constrained_layout=True)
plot_roc(y_test, proba, clf.classes_, ax=ax1)
ax1.set_title('ROC, 100 simulated lenses per class')
plot_confusion_matrix(np.asarray(report['confusion_matrix']), clf.classes_, ax=ax2,
                      normalize=True)
ax2.set_title('confusion matrix (row fractions)')
plt.show()
