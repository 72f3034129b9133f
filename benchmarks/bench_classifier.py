"""Quality, calibration, outlier flags and speed of a LensClassifier.

Prints, on a fresh simulated test set of the model's data set (and, for
Model I, on the 300 images of the original DeepLenseSim code in
``../shared/reference``): accuracy, ROC AUCs and expected calibration error
beside the best published figures; the fraction of held-out simulated
images and of images unlike the training data (noise, flat frames, real
galaxies, star fields, mosaics) that `LensClassifier.is_outlier` flags;
and the images/s of ``predict_proba`` beside the network's FLOP count and
a plain matmul's FLOP/s on the same threads, so the distance to the
machine's limit is known.

    python benchmarks/bench_classifier.py                          # deeplense-model-i
    python benchmarks/bench_classifier.py --model deeplense-model-ii --data model_ii
    python benchmarks/bench_classifier.py --model PATH --export PATH   # metrics into the JSON

``--export`` writes the classifier again with the measured figures under
``metrics`` in its JSON configuration (the weights are unchanged).
"""

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from astrolens.models import LensClassifier

# Best published figures (noise-free DeepLense data for Models II and III).
PUBLISHED = {
    'model_i': {'accuracy': 0.9859, 'auc_macro': 0.9989,
                'source': 'D4-pooled CNN ensemble, 245k parameters, official 15,000-image test'},
    'model_ii': {'accuracy': 0.9999, 'source': 'best public Model II result (noise-free data)'},
    'model_iii': {'accuracy': 0.9998, 'source': 'best public Model III result (noise-free data)'},
}
SHARED = Path(__file__).resolve().parents[2] / 'shared'
REFERENCE = SHARED / 'reference' / 'deeplensesim_model_i_sample.npz'


def _load(name):
    path = Path(name)
    if path.with_name(path.name + '.safetensors').is_file() or path.suffix == '.safetensors':
        return LensClassifier.load(name)
    return LensClassifier.from_pretrained(name)


def _show(name, report):
    aucs = '  '.join(f'{k} {v:.4f}' for k, v in report['auc_per_class'].items())
    print(f'{name:<36} acc {report["accuracy"]:.4f}  AUC macro {report["auc_macro"]:.4f}  '
          f'({aucs})  ECE {100 * report["ece"]:.2f}%  (N={report["n_samples"]})')


def _quiet_proba(clf, images):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return clf.predict_proba(images)


def _uncalibrated(clf, images):
    temperature = clf.temperature_
    clf.temperature_ = 1.0
    try:
        return _quiet_proba(clf, images)
    finally:
        clf.temperature_ = temperature


def _stars(rng, n, shape):
    """Fields of Gaussian stars with a power-law flux distribution on a noisy sky."""
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    out = []
    for _ in range(n):
        img = rng.normal(5.0, 1.0, shape)
        for _ in range(rng.integers(5, 40)):
            y, x = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
            flux, sigma = 50 * rng.pareto(1.5) + 20, rng.uniform(1.0, 3.0)
            img += flux / (2 * np.pi * sigma ** 2) * np.exp(
                -((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma ** 2))
        out.append(img)
    return np.array(out, dtype=np.float32)


def _mosaics(rng, n, shape, model):
    """Contact sheets: 2x2 or 3x3 simulated lenses shrunk into one frame."""
    from skimage.transform import resize

    from astrolens.simulation import simulate_classification_set

    tiles, _, _ = simulate_classification_set(6 * n, model=model, seed=99)
    tiles = tiles[rng.permutation(len(tiles))]
    out, used = [], 0
    for k in range(n):
        g = 2 + k % 2
        side = shape[0] // g
        sheet = np.zeros(shape, dtype=np.float32)
        for i in range(g):
            for j in range(g):
                tile = resize(tiles[used % len(tiles)], (side, side), anti_aliasing=True)
                sheet[i * side:(i + 1) * side, j * side:(j + 1) * side] = tile
                used += 1
        out.append(sheet)
    return np.array(out)


def _real_galaxies():
    """Real HST and ground galaxy stamps from ../shared/real (FITS with or without WCS)."""
    from astropy.io import fits

    from astrolens.io import to_nddata

    items = []
    folder = SHARED / 'real' / 'hst_galaxies'
    for path in sorted(folder.glob('AEGIS_F*_images_0*.fits')):
        if 'PSF' in path.name:
            continue
        with fits.open(path) as hdul:
            for hdu in hdul:
                if hdu.data is not None and hdu.data.ndim == 2 and min(hdu.data.shape) >= 48:
                    items.append((f'{path.name}[{hdu.name}]', hdu.data.astype(np.float32)))
    for sub in ('more/hst', 'more/ground'):
        for path in sorted((SHARED / 'real' / sub).glob('*.fits*')):
            if 'dolphin' in path.name:  # these are lenses
                continue
            try:
                items.append((path.name, to_nddata(path)))
            except Exception as exc:  # noqa: BLE001 -- report and go on
                print(f'  skipped {path.name}: {exc}')
    return items


def _outlier_sets(clf, data, rng, n=100):
    shape = tuple(clf.instrument_['shape']) if clf.instrument_ else (150, 150)
    sets = {
        'gaussian noise': rng.normal(0, 1, (n, *shape)).astype(np.float32),
        'poisson sky': rng.poisson(7.5, (n, *shape)).astype(np.float32),
        'flat frames': (np.ones((n, *shape)) * rng.uniform(0, 100, (n, 1, 1))).astype(
            np.float32),
        'flat + gradient': (np.linspace(0, 1, shape[1])[None, None] * rng.uniform(
            1, 10, (n, 1, 1)) + rng.normal(0, 0.01, (n, *shape))).astype(np.float32),
        'star fields': _stars(rng, n, shape),
        'mosaics': _mosaics(rng, n // 2, shape, data),
    }
    return sets


def _flags(clf, X):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return clf.is_outlier(X)


def _outliers(clf, data, seed, n):
    from astrolens.simulation import simulate_classification_set

    rng = np.random.default_rng(seed)
    held_out, _, _ = simulate_classification_set(n, model=data, seed=seed + 1)
    results = {'held-out simulated': float(np.mean(_flags(clf, held_out)))}
    for name, images in _outlier_sets(clf, data, rng).items():
        results[name] = float(np.mean(_flags(clf, images)))
    if SHARED.is_dir():
        flags, skipped = [], []
        for name, item in _real_galaxies():
            try:
                flags.append(bool(_flags(clf, item)[0]))
            except ValueError as exc:
                skipped.append(f'{name}: {str(exc)[:80]}')
        results['real galaxies'] = float(np.mean(flags)) if flags else None
        results['real galaxies n'] = len(flags)
        if skipped:
            results['real galaxies refused (field too small)'] = len(skipped)
        lenses = []
        for path in sorted((SHARED / 'real' / 'slacs_hst').glob('SDSS*.fits')):
            lenses.append(float(clf.outlier_score(str(path))[0]))
        results['real SLACS lenses: scores (not a target)'] = [round(v, 2) for v in lenses]
    results['threshold'] = clf.outlier_threshold_
    return results


def _flops(clf, shape):
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, 1, *shape)
    model = clf.model_.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        for _ in clf._tta_ops():
            model(x)
    return counter.get_total_flops()


def _matmul_flops(threads, n=1024, repeats=5):
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    return 2 * n ** 3 * repeats / (time.perf_counter() - start)


def _speed(clf, images, threads):
    torch.set_num_threads(threads)
    _quiet_proba(clf, images[:8])
    times = []
    for _ in range(2):
        start = time.perf_counter()
        _quiet_proba(clf, images)
        times.append(time.perf_counter() - start)
    rate = len(images) / min(times)
    prepared_shape = clf._prepare(images[:1]).shape[-2:]
    flops = _flops(clf, prepared_shape)
    peak = _matmul_flops(threads)
    print(f'speed on {threads} CPU threads: predict_proba {rate:.1f} images/s '
          f'({images.shape[-2]}x{images.shape[-1]} input, network sees {prepared_shape[0]}x'
          f'{prepared_shape[1]}); {flops / 1e9:.3f} GFLOP per image -> '
          f'{rate * flops / 1e9:.1f} GFLOP/s; a 1024x1024 matmul runs at {peak / 1e9:.1f} '
          f'GFLOP/s on the same threads ({rate * flops / peak:.0%} of it)')
    return {'threads': threads, 'images_per_second': round(rate, 1),
            'gflop_per_image': round(flops / 1e9, 4),
            'matmul_gflops': round(peak / 1e9, 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', default='deeplense-model-i')
    parser.add_argument('--data', default='model_i', choices=['model_i', 'model_ii', 'model_iii'])
    parser.add_argument('--n-per-class', type=int, default=1000)
    parser.add_argument('--seed', type=int, default=2026,
                        help='simulation seed of the test set (training used others)')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--speed-n', type=int, default=128,
                        help='images for the speed measurement (0: skip)')
    parser.add_argument('--outlier-n', type=int, default=100,
                        help='held-out images per class for the outlier rates (0: skip)')
    parser.add_argument('--original', default=None, metavar='FILE.npz',
                        help='also measure on images of the original DeepLenseSim code made by '
                        'benchmarks/make_original_validation.py (e.g. 1000 per class, seed 5002)')
    parser.add_argument('--export', default=None, metavar='PATH')
    parser.add_argument('--plot', default=None, metavar='PNG',
                        help='ROC, confusion matrix and reliability diagram')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    clf = _load(args.model)
    from astrolens.metrics import classification_report, expected_calibration_error
    from astrolens.simulation import simulate_classification_set

    images, labels, _ = simulate_classification_set(args.n_per_class, model=args.data,
                                                    seed=args.seed)
    proba = _quiet_proba(clf, images)
    report = classification_report(labels, proba, classes=clf.classes_)
    report['ece_uncalibrated'] = expected_calibration_error(labels, _uncalibrated(clf, images))
    report['test_set'] = {'simulator': f'astrolens {args.data}',
                          'n_per_class': args.n_per_class, 'seed': args.seed}
    print(f'model: {args.model}  ({clf.backbone}, temperature {clf.temperature_:.3f})')
    _show(f'fresh {args.data} test set (seed {args.seed})', report)
    print(f'{"":<36} ECE before temperature scaling {100 * report["ece_uncalibrated"]:.2f}%')
    pub = PUBLISHED[args.data]
    print(f'{"published best":<36} acc {pub["accuracy"]:.4f}'
          + (f'  AUC macro {pub["auc_macro"]:.4f}' if 'auc_macro' in pub else '')
          + f'  ({pub["source"]})')
    print('confusion matrix (rows true, columns predicted):', report['confusion_matrix'])
    metrics = {f'simulated_{args.data}_test': report, 'published_best': pub}
    if args.data == 'model_i' and REFERENCE.is_file():
        with np.load(REFERENCE) as ref:
            ref_images, ref_labels = ref['images'], ref['labels'].astype(np.int64)
        ref_report = classification_report(ref_labels, _quiet_proba(clf, ref_images),
                                           classes=clf.classes_)
        ref_report['test_set'] = {'source': 'DeepLenseSim Model I reference sample '
                                  '(original code, lenstronomy 1.11.2), 100 per class'}
        _show('DeepLenseSim reference (300)', ref_report)
        metrics['deeplensesim_reference'] = ref_report
    if args.original:
        with np.load(args.original) as orig:
            orig_images, orig_labels = orig['images'], orig['labels'].astype(np.int64)
        orig_proba = _quiet_proba(clf, orig_images)
        orig_report = classification_report(orig_labels, orig_proba, classes=clf.classes_)
        orig_report['test_set'] = {'source': 'original DeepLenseSim Model I (lenstronomy '
                                   f'1.11.2), {Path(args.original).name}'}
        _show(f'original DeepLenseSim ({len(orig_labels)})', orig_report)
        metrics['original_deeplensesim_test'] = orig_report
    if args.outlier_n and clf.outlier_threshold_ is not None:
        out = _outliers(clf, args.data, args.seed + 17, args.outlier_n)
        print('fraction flagged as outliers:', json.dumps(out))
        metrics['outliers_flagged'] = out
    if args.speed_n:
        metrics['speed'] = _speed(clf, images[:args.speed_n], args.threads)
    if args.plot:
        import matplotlib

        matplotlib.use('Agg')
        import matplotlib.pyplot as plt

        from astrolens.visualization import (
            plot_confusion_matrix,
            plot_reliability_diagram,
            plot_roc,
        )

        fig, axes = plt.subplots(1, 3, figsize=(14, 4.5))
        plot_roc(labels, proba, clf.classes_, ax=axes[0])
        plot_confusion_matrix(report['confusion_matrix'], clf.classes_, ax=axes[1])
        plot_reliability_diagram(labels, proba, ax=axes[2])
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
    if args.export:
        clf.save(args.export, metadata={'metrics': metrics})
        print(f'wrote {args.export}.safetensors and .json')


if __name__ == '__main__':
    main()
