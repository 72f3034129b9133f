"""Accuracy and ROC AUC of a LensClassifier on a fresh simulated Model I test set.

Prints the measured numbers next to the best published Model I result, and
the numbers on the 300 DeepLenseSim reference images when they are available.

    python benchmarks/bench_classifier.py                       # shipped deeplense-model-i
    python benchmarks/bench_classifier.py --model PATH          # a saved classifier
    python benchmarks/bench_classifier.py --model PATH \
        --export astrolens/models/pretrained/deeplense-model-i

``--export`` writes the classifier again with the measured metrics in its JSON
configuration (this is how the shipped weights got their ``metrics``).
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from astrolens.models import LensClassifier

# Best published Model I numbers, as quoted in issue #5.
PUBLISHED = {'accuracy': 0.9154, 'auc_per_class': {'no': 0.9991, 'cdm': 0.9657,
                                                   'vortex': 0.9714}}
REFERENCE = (Path(__file__).resolve().parents[2] / 'shared' / 'reference'
             / 'deeplensesim_model_i_sample.npz')


def _test_set(n_per_class, seed, cache):
    if cache is not None and Path(cache).is_file():
        with np.load(cache) as stored:
            return stored['images'], stored['labels']
    from astrolens.simulation import simulate_classification_set

    images, labels, _ = simulate_classification_set(n_per_class, model='model_i', seed=seed,
                                                    workers=1)
    return images, labels


def _naive_proba(clf, images):
    """A per-image eager loop: prepare, then one forward pass per image and symmetry."""
    from astrolens.models._classifier import _d4

    model = clf.model_.eval()
    out = []
    for image in images:
        x = torch.from_numpy(clf._prepare(image[None])[:, None])
        probs = [torch.softmax(model(_d4(x, k)), 1) for k in clf._tta_ops()]
        out.append(torch.stack(probs).mean(0)[0].detach().numpy())
    return np.array(out)


def _speed(clf, images, repeats=2):
    """Images/s of predict_proba and of the naive loop on the same images."""
    def best(func):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            result = func()
            times.append(time.perf_counter() - start)
        return len(images) / min(times), result

    fast, proba = best(lambda: clf.predict_proba(images))
    slow, naive = best(lambda: _naive_proba(clf, images))
    return fast, slow, float(np.abs(proba - naive).max())


def _show(name, report):
    aucs = report['auc_per_class']
    print(f'{name:<34} acc {report["accuracy"]:.4f}  AUC macro {report["auc_macro"]:.4f}  '
          f'micro {report["auc_micro"]:.4f}  no {aucs["no"]:.4f}  cdm {aucs["cdm"]:.4f}  '
          f'vortex {aucs["vortex"]:.4f}  (N={report["n_samples"]})')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', default='deeplense-model-i')
    parser.add_argument('--n-per-class', type=int, default=1000)
    parser.add_argument('--seed', type=int, default=2026,
                        help='simulation seed of the test set (training used another)')
    parser.add_argument('--cache', default=None, help='npz with images/labels of the test set')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--export', default=None, metavar='PATH')
    parser.add_argument('--plot', default=None, metavar='PNG')
    parser.add_argument('--note', default=None, help='free text stored with --export')
    parser.add_argument('--speed-n', type=int, default=120,
                        help='images for the inference-speed comparison (0: skip)')
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    path = Path(args.model)
    if path.with_name(path.name + '.safetensors').is_file() or path.suffix == '.safetensors':
        clf = LensClassifier.load(args.model)
    else:
        clf = LensClassifier.from_pretrained(args.model)
    images, labels = _test_set(args.n_per_class, args.seed, args.cache)
    t0 = time.perf_counter()
    proba = clf.predict_proba(images)
    seconds = time.perf_counter() - t0
    from astrolens.metrics import classification_report

    report = classification_report(labels, proba, classes=clf.classes_)
    report['images_per_second'] = round(len(images) / seconds, 1)
    report['test_set'] = {'simulator': 'astrolens model_i', 'n_per_class': args.n_per_class,
                          'seed': args.seed, 'tta': clf.tta}
    print(f'model: {args.model}  (tta={clf.tta}, {report["images_per_second"]} img/s)')
    _show(f'fresh Model I test set (seed {args.seed})', report)
    print(f'{"published best (Model I)":<34} acc {PUBLISHED["accuracy"]:.4f}  AUC '
          + '  '.join(f'{k} {v:.4f}' for k, v in PUBLISHED['auc_per_class'].items()))
    print('confusion matrix (rows true, columns predicted; no, cdm, vortex):')
    print(np.array(report['confusion_matrix']))
    metrics = {'simulated_model_i_test': report}
    if REFERENCE.is_file():
        with np.load(REFERENCE) as ref:
            ref_images, ref_labels = ref['images'], ref['labels'].astype(np.int64)
        ref_report = classification_report(ref_labels, clf.predict_proba(ref_images),
                                           classes=clf.classes_)
        ref_report['test_set'] = {'source': 'DeepLenseSim Model I reference sample '
                                  '(original code, lenstronomy 1.11.2), 100 per class'}
        _show('DeepLenseSim reference (300)', ref_report)
        metrics['deeplensesim_reference'] = ref_report
    metrics['published_best_model_i'] = PUBLISHED
    if args.speed_n:
        fast, slow, diff = _speed(clf, images[:args.speed_n])
        print(f'inference at 150x150 on {torch.get_num_threads()} CPU threads, '
              f'{len(clf._tta_ops())} symmetries per image: predict_proba {fast:.1f} img/s, '
              f'naive per-image eager loop {slow:.1f} img/s, ratio {fast / slow:.2f}x '
              f'(max probability difference {diff:.1e})')
    if args.plot:
        import matplotlib

        matplotlib.use('Agg')
        import matplotlib.pyplot as plt

        from astrolens.visualization import plot_confusion_matrix, plot_roc

        fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
        plot_roc(labels, proba, clf.classes_, ax=axes[0])
        plot_confusion_matrix(report['confusion_matrix'], clf.classes_, ax=axes[1])
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
    if args.export:
        extra = {'metrics': metrics}
        if args.note:
            extra['notes'] = args.note
        clf.save(args.export, metadata=extra)
        print(f'wrote {args.export}.safetensors and .json')
    else:
        print(json.dumps({k: v['accuracy'] for k, v in metrics.items() if 'accuracy' in v}))


if __name__ == '__main__':
    main()
