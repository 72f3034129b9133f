"""Model I classifier designs compared at equal CPU time.

Every candidate trains for the same wall-clock budget (2 threads, alone on
the machine) on the same pool of images from our simulator and is
validated after every epoch on the same images made by the *original*
DeepLenseSim code (``benchmarks/make_original_validation.py``); at the end
it is also measured on a validation set of our own simulator, so a gap
between the two codes shows. Printed: accuracy and macro AUC on both,
images seen, training images/s, inference images/s, and the accuracy
extrapolated to the campaign's budget (a power law of the error rate in
CPU-minutes fitted to the second half of the learning curve).

    python benchmarks/make_original_validation.py --python VENV/bin/python --n-per-class 500
    python benchmarks/bench_classifier_designs.py --minutes 7 --plot designs.png

Results go to ``--results`` (JSON) after each candidate, so a killed run
continues with the next one (a killed candidate resumes from its checkpoint).
"""

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent

#: The Model I network of the first D4 stage (8-view orbit in training).
PRESET = {'widths': [32, 48, 64, 80], 'depths': [1, 1, 1, 1], 'patch': 4,
          'physics': ['log', 'grad', 'laplacian']}

#: name -> (backbone kwargs over the preset, augment, amp, steps per epoch, data)
CANDIDATES = {
    'orbit-bf16': ({}, None, 'bfloat16', 60, 'pool'),
    'one-view-bf16': ({'train_views': 1}, 'd4', 'bfloat16', 500, 'pool'),
    'one-view-patch2-bf16': ({'train_views': 1, 'patch': 2}, 'd4', 'bfloat16', 200, 'pool'),
    'one-view-wide-bf16': ({'train_views': 1, 'widths': [48, 96, 128, 160],
                            'depths': [1, 2, 2, 1]}, 'd4', 'bfloat16', 250, 'pool'),
    'one-view-fp32': ({'train_views': 1}, 'd4', False, 350, 'pool'),
    'one-view-bf16-fresh': ({'train_views': 1}, 'd4', 'bfloat16', 200, 'fresh'),
}
CROP = 96


def cache_dir():
    return Path(os.environ.get('ASTROLENS_CACHE', Path.home() / '.cache' / 'astrolens'))


def load_original(n_per_class, seed):
    path = cache_dir() / f'original_model_i_seed{seed}_n{n_per_class}.npz'
    if not path.is_file():
        raise SystemExit(f'{path} is missing: make it with benchmarks/make_original_validation.py '
                         f'--n-per-class {n_per_class} --seed {seed}')
    with np.load(path) as data:
        return data['images'].astype(np.float32), np.asarray(data['classes'])[data['labels']]


def central(images, side=CROP):
    h, w = images.shape[-2:]
    top, left = (h - side) // 2, (w - side) // 2
    return images[..., top:top + side, left:left + side]


def simulation_pool(n_per_class, seed, workers):
    """Model I images of our simulator, cropped to the network's field (cached)."""
    from astrolens.simulation import simulate_classification_set

    path = cache_dir() / f'pool_model_i_seed{seed}_n{n_per_class}_crop{CROP}.npz'
    if path.is_file():
        with np.load(path) as data:
            return data['images'], data['labels']
    t0 = time.perf_counter()
    images, labels, _ = simulate_classification_set(n_per_class, model='model_i', seed=seed,
                                                    workers=workers, progress=True)
    images = np.clip(np.round(central(np.asarray(images))), 0, 65535).astype(np.uint16)
    labels = np.asarray(labels, dtype=np.int8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + '.part.npz')
    np.savez(tmp, images=images, labels=labels)
    os.replace(tmp, path)
    print(f'pool: {len(images)} images in {time.perf_counter() - t0:.0f} s -> {path}')
    return images, labels


def extrapolate(curve, minutes):
    """Accuracy at ``minutes`` from a power law of the error in CPU-minutes.

    Fitted to the curve without its first epoch (warm-up). The schedule of
    each run anneals at its own budget, so this is a ranking device for
    designs trained alike, not a forecast of a longer run's figure.
    """
    pts = [(c['minutes'], 1 - c['val_accuracy']) for c in curve
           if c.get('val_accuracy') is not None and c['minutes'] > 0][1:]
    if len(pts) < 3 or min(e for _, e in pts) <= 0:
        return None
    t, err = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    slope, intercept = np.polyfit(t, err, 1)
    return float(1 - np.exp(intercept + slope * np.log(minutes))), float(slope)


def inference_rate(clf, images, threads):
    torch.set_num_threads(threads)
    x = images[:256]
    clf.predict_proba(x[:32])
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        clf.predict_proba(x)
    return len(x) / (time.perf_counter() - t0)


def run_candidate(name, args, pool, val, ours_val):
    from astrolens.datasets import class_simulators
    from astrolens.models import LensClassifier

    extra, augment, amp, steps, data = CANDIDATES[name]
    kwargs = {**PRESET, **extra}
    clf = LensClassifier('d4lensnet', backbone_kwargs=kwargs, crop=CROP, tta=False,
                         augment=augment, amp=amp, lr=args.lr, batch_size=args.batch_size,
                         epochs=10_000, max_minutes=args.minutes, seed=args.seed,
                         val_fraction=0.0, device='cpu', progress=False,
                         checkpoint_dir=Path(args.checkpoints) / name)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        if data == 'pool':
            clf.fit(pool[0], pool[1], steps=steps, val_images=val[0], val_labels=val[1])
        else:
            clf.fit(simulator=class_simulators('model_i', args.pool_seed + 1), steps=steps,
                    val_images=val[0], val_labels=val[1])
        wall = time.perf_counter() - t0
        rep_orig = clf.evaluate(val[0], val[1])
        rep_ours = clf.evaluate(ours_val[0], ours_val[1])
    curve = [{'images_seen': h['epoch'] * steps * args.batch_size,
              'minutes': round(h['seconds'] / 60, 3),
              'val_accuracy': h.get('val_accuracy'), 'val_auc_macro': h.get('val_auc_macro')}
             for h in clf.history_]
    seen = curve[-1]['images_seen'] if curve else 0
    params = sum(p.numel() for p in clf.model_.parameters())
    return {'name': name, 'load_average_after': round(os.getloadavg()[1], 2),
            'backbone_kwargs': kwargs, 'augment': augment, 'amp': amp,
            'data': data, 'steps_per_epoch': steps, 'parameters': int(params),
            'minutes': round(wall / 60, 2), 'images_seen': seen,
            'train_images_per_s': seen / max(1e-9, clf.history_[-1]['seconds'])
            if clf.history_ else 0.0,
            'inference_images_per_s': inference_rate(clf, val[0], args.threads),
            'original': {'accuracy': rep_orig['accuracy'], 'auc_macro': rep_orig['auc_macro']},
            'ours': {'accuracy': rep_ours['accuracy'], 'auc_macro': rep_ours['auc_macro']},
            'best_epoch': clf.info_.get('best_epoch'),
            'extrapolated_to': args.campaign_minutes,
            'extrapolated_accuracy': (extrapolate(curve, args.campaign_minutes) or (None,))[0],
            'curve': curve}


def plot(results, path):
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True, layout='constrained')
    for r in results.values():
        c = r['curve']
        acc = [100 * p['val_accuracy'] for p in c]
        axes[0].plot([p['minutes'] for p in c], acc, marker='.', label=r['name'])
        axes[1].plot([p['images_seen'] for p in c], acc, marker='.', label=r['name'])
    axes[0].set_xlabel('CPU minutes (2 threads, validation included)')
    axes[1].set_xlabel('training images seen')
    axes[1].set_xscale('log')
    axes[0].set_ylabel('accuracy on original-DeepLenseSim images (%)')
    axes[0].legend(fontsize=9)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle('Model I designs at equal CPU time (validation: 1500 images of the '
                 'original code)', fontsize=11)
    fig.savefig(path, dpi=110)
    print(f'wrote {path}')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--candidates', default=','.join(CANDIDATES),
                        help=f'comma-separated, from {list(CANDIDATES)}')
    parser.add_argument('--minutes', type=float, default=7.0, help='budget per candidate')
    parser.add_argument('--campaign-minutes', type=float, default=150.0,
                        help='budget the accuracy is extrapolated to')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--lr', type=float, default=2e-3)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--pool-per-class', type=int, default=12000)
    parser.add_argument('--pool-seed', type=int, default=11)
    parser.add_argument('--sim-workers', type=int, default=2)
    parser.add_argument('--val-per-class', type=int, default=500)
    parser.add_argument('--val-seed', type=int, default=5001)
    parser.add_argument('--ours-val-seed', type=int, default=7)
    parser.add_argument('--results', default='classifier_designs.json')
    parser.add_argument('--checkpoints', default='checkpoints/designs')
    parser.add_argument('--plot', default=None, metavar='PNG')
    parser.add_argument('--report-only', action='store_true',
                        help='print the table (and plot) of --results without training')
    args = parser.parse_args(argv)
    from astrolens.datasets import simulated_validation_set

    results_path = Path(args.results)
    if args.report_only:
        results = json.loads(results_path.read_text())
        for r in results.values():
            r['extrapolated_to'] = args.campaign_minutes
            r['extrapolated_accuracy'] = (extrapolate(r['curve'], args.campaign_minutes)
                                          or (None,))[0]
        report(results, args)
        return
    names = [n for n in args.candidates.split(',') if n]
    unknown = set(names) - set(CANDIDATES)
    if unknown:
        parser.error(f'unknown candidates {sorted(unknown)}; choose from {list(CANDIDATES)}')
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    val = load_original(args.val_per_class, args.val_seed)
    ours_val = simulated_validation_set('model_i', n_per_class=args.val_per_class,
                                        seed=args.ours_val_seed)
    pool = None
    if any(CANDIDATES[n][4] == 'pool' for n in names if n not in results):
        pool = simulation_pool(args.pool_per_class, args.pool_seed, args.sim_workers)
    for name in names:
        if name in results:
            continue
        print(f'== {name}: {args.minutes} min, {args.threads} threads', flush=True)
        results[name] = run_candidate(name, args, pool, val, ours_val)
        tmp = results_path.with_name(results_path.name + '.part')
        tmp.write_text(json.dumps(results, indent=1))
        os.replace(tmp, results_path)
        r = results[name]
        print(f"   load average (5 min) {r['load_average_after']}; "
              f"{r['images_seen']} images, {r['train_images_per_s']:.0f} img/s; original "
              f"{r['original']['accuracy']:.4f}/{r['original']['auc_macro']:.4f}, ours "
              f"{r['ours']['accuracy']:.4f}/{r['ours']['auc_macro']:.4f}", flush=True)
    report(results, args)


def report(results, args):
    print(f'\n{"design":24s} {"params":>8s} {"train img/s":>11s} {"images":>9s} '
          f'{"orig acc":>8s} {"orig AUC":>8s} {"ours acc":>8s} {"infer img/s":>11s} '
          f'{"acc @" + str(int(args.campaign_minutes)) + "min":>12s}')
    for r in results.values():
        ext = r.get('extrapolated_accuracy')
        print(f"{r['name']:24s} {r['parameters']:8d} {r['train_images_per_s']:11.0f} "
              f"{r['images_seen']:9d} {r['original']['accuracy']:8.4f} "
              f"{r['original']['auc_macro']:8.4f} {r['ours']['accuracy']:8.4f} "
              f"{r['inference_images_per_s']:11.0f} "
              f"{'-' if ext is None else f'{ext:.4f}':>12s}")
    if args.plot:
        plot(results, args.plot)


if __name__ == '__main__':
    main()
