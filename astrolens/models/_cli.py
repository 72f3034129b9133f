# Licensed under a 3-clause BSD style license - see LICENSE
"""``astrolens train classifier`` and ``astrolens classify``."""

import logging
import os
import shlex
import sys
from pathlib import Path

import numpy as np

__all__ = ['add_commands']

_IMAGE_SUFFIXES = ('.npy', '.fits', '.fit', '.fts', '.fits.gz')


def add_commands(subparsers):
    """Register ``train classifier`` and ``classify``."""
    train = subparsers.add_parser('train', help='train a model')
    kinds = train.add_subparsers(dest='model_kind', metavar='MODEL')
    clf = kinds.add_parser('classifier', help='train a LensClassifier (no / cdm / vortex)',
                           description='Train a LensClassifier on a DeepLense folder or on '
                           'simulated images; works under torchrun for data parallelism.')
    source = clf.add_mutually_exclusive_group(required=True)
    source.add_argument('--data', metavar='DIR', help='DeepLense classification folder')
    source.add_argument('--simulate', metavar='MODEL', help="simulate images, e.g. 'model_i'")
    clf.add_argument('--n-per-class', type=int, default=None,
                     help='with --simulate: simulate a fixed training set of this many images '
                     'per class; without it every batch is simulated afresh')
    clf.add_argument('--cache', metavar='FILE.npz', default=None,
                     help='with --simulate --n-per-class: keep the simulated set in this file '
                     'and reuse it (a resumed run sees the same data)')
    clf.add_argument('--sim-workers', type=int, default=1, help='simulation processes')
    clf.add_argument('--backbone', default='lensresnet',
                     help="'lensresnet', 'lensresnet_s' or a timm model name")
    clf.add_argument('--epochs', type=int, default=20)
    clf.add_argument('--steps-per-epoch', type=int, default=None)
    clf.add_argument('--batch-size', type=int, default=64)
    clf.add_argument('--lr', type=float, default=2e-3)
    clf.add_argument('--weight-decay', type=float, default=0.05)
    clf.add_argument('--crop', type=int, default=84, help='central crop side; 0: none')
    clf.add_argument('--normalization', default='sqrt', choices=('sqrt', 'asinh', 'linear'))
    clf.add_argument('--val-fraction', type=float, default=0.1)
    clf.add_argument('--patience', type=int, default=None)
    clf.add_argument('--max-minutes', type=float, default=None,
                     help='time budget; the learning-rate schedule is fitted into it')
    clf.add_argument('--seed', type=int, default=0)
    clf.add_argument('--device', default='auto')
    clf.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    clf.add_argument('--checkpoint-dir', metavar='DIR', default=None,
                     help='checkpoint every epoch here and resume from it')
    clf.add_argument('--init', metavar='NAME|PATH', default=None,
                     help='continue from a saved (or shipped) classifier: new optimiser and '
                     'schedule, same architecture, crop and normalisation')
    clf.add_argument('--out', required=True, metavar='PATH',
                     help='write PATH.safetensors and PATH.json')
    clf.add_argument('--no-progress', action='store_true')
    clf.set_defaults(func=_run_train_classifier)
    train.set_defaults(func=lambda args: (train.print_help(), 2)[1])

    classify = subparsers.add_parser(
        'classify', help='classify lens images (no / cdm / vortex)',
        description='Print (or write as ECSV) the class and class probabilities of images.')
    classify.add_argument('paths', nargs='*', metavar='PATH',
                          help='.npy or FITS images, or folders of them')
    classify.add_argument('--many', metavar='PATTERN', default=None,
                          help="many files, in parallel with dask: a glob such as "
                               "'DIR/*.fits' (quote it) or a folder")
    where = classify.add_mutually_exclusive_group()
    where.add_argument('--workers', type=int, default=None,
                       help='run on this many local dask worker processes')
    where.add_argument('--scheduler', metavar='ADDRESS', default=None,
                       help='run on the dask cluster of this scheduler')
    classify.add_argument('--model', default='deeplense-model-i',
                          help='shipped model name or PATH of a saved classifier')
    classify.add_argument('--out', metavar='TABLE.ecsv', default=None)
    classify.add_argument('--overwrite', action='store_true')
    classify.set_defaults(func=_run_classify)


def _simulate_set(model, n_per_class, *, seed, workers):
    from astrolens.simulation import simulate_classification_set

    result = simulate_classification_set(n_per_class, model=model, seed=seed, workers=workers)
    images, labels = result[0], result[1]
    return np.asarray(images, dtype=np.float32), np.asarray(labels)


def _simulators(model, seed):
    from astrolens.simulation import LensSimulator

    subs = {'no': 'none', 'cdm': 'cdm', 'vortex': 'vortex'}
    return {name: LensSimulator(model, sub, seed=[seed, i])
            for i, (name, sub) in enumerate(subs.items())}


def _run_train_classifier(args):
    import torch

    from astrolens.models import LensClassifier

    rank = int(os.environ.get('RANK', '0'))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format='%(asctime)s %(name)s: %(message)s', stream=sys.stderr)
    if args.threads:
        torch.set_num_threads(args.threads)
    clf = LensClassifier(
        args.backbone, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        weight_decay=args.weight_decay, crop=args.crop or None, normalization=args.normalization,
        val_fraction=args.val_fraction, patience=args.patience, max_minutes=args.max_minutes,
        device=args.device, seed=args.seed, checkpoint_dir=args.checkpoint_dir,
        progress=not args.no_progress and rank == 0)
    if args.init:
        start = _load_model(args.init)
        clf.set_params(backbone=start.backbone, backbone_kwargs=start.backbone_kwargs,
                       crop=start.crop, normalization=start.normalization, warm_start=True)
        clf.model_, clf.classes_ = start.model_, start.classes_
        previous = {'init': str(args.init), 'init_training': start.info_,
                    'init_history': start.history_}
    data = {}
    if args.data:
        clf.fit(args.data, steps=args.steps_per_epoch)
        data = {'source': str(args.data)}
    elif args.n_per_class:
        cache = Path(args.cache) if args.cache else None
        if cache is not None and cache.is_file():
            with np.load(cache) as stored:
                images, labels = stored['images'], stored['labels']
        else:
            images, labels = _simulate_set(args.simulate, args.n_per_class, seed=args.seed,
                                           workers=args.sim_workers)
            if cache is not None and rank == 0:
                from astrolens.utils import atomic_path

                with atomic_path(cache, overwrite=True) as tmp:
                    np.savez(tmp, images=images, labels=labels)
        clf.fit(images, labels, steps=args.steps_per_epoch)
        data = {'source': f'simulated {args.simulate}', 'n_per_class': args.n_per_class,
                'simulation_seed': args.seed}
        del images
    else:
        steps = args.steps_per_epoch or 200
        clf.fit(simulator=_simulators(args.simulate, args.seed), steps=steps)
        data = {'source': f'simulated {args.simulate} on the fly', 'simulation_seed': args.seed}
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        if rank != 0:
            dist.destroy_process_group()
            return 0
    elif rank != 0:
        return 0
    info = dict(clf.info_)
    info.update(data)
    if args.init:
        info.update(previous)
    info['command'] = 'astrolens ' + ' '.join(shlex.quote(a) for a in sys.argv[1:])
    info['world_size'] = int(os.environ.get('WORLD_SIZE', '1'))
    info['seed'] = args.seed
    clf.info_ = info
    weights, config = clf.save(args.out)
    last = clf.history_[-1] if clf.history_ else {}
    print(f'wrote {weights} and {config}; last epoch: '
          + ', '.join(f'{k}={v:.4g}' for k, v in last.items() if isinstance(v, float)))
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    return 0


def _expand(paths):
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.rglob('*')
                           if p.is_file() and any(p.name.lower().endswith(s)
                                                  for s in _IMAGE_SUFFIXES))
            if not found:
                msg = f'no .npy or FITS images in {path}'
                raise FileNotFoundError(msg)
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            msg = f'no such file or folder: {path}'
            raise FileNotFoundError(msg)
    return files


def _load_model(name):
    from astrolens.models import LensClassifier
    from astrolens.models._serialization import weight_paths

    weights, _ = weight_paths(name)
    if weights.is_file() or Path(name).is_file():
        return LensClassifier.load(name)
    return LensClassifier.from_pretrained(name)


def _run_classify(args):
    from astropy.table import Table

    from astrolens.utils import check_writable

    if not args.paths or any(getattr(args, k) is not None
                             for k in ('many', 'workers', 'scheduler')):
        from astrolens.batch._cli import run_classify_many

        return run_classify_many(args)
    if args.out is not None:
        check_writable(args.out, overwrite=args.overwrite)
    clf = _load_model(args.model)
    files = _expand(args.paths)
    rows = []
    for path in files:
        proba = clf.predict_proba([path])[0]
        rows.append((str(path), clf.classes_[int(np.argmax(proba))], *proba))
    names = ['file', 'class'] + [f'p_{c}' for c in clf.classes_]
    table = Table(rows=rows, names=names)
    for name in names[2:]:
        table[name].info.format = '.4f'
    table.meta['model'] = str(args.model)
    if args.out is None:
        table.pprint_all()
        return 0
    from astrolens.utils import atomic_path

    with atomic_path(args.out, overwrite=args.overwrite) as tmp:
        table.write(tmp, format='ascii.ecsv', overwrite=True)
    print(f'wrote {len(table)} rows to {args.out}')
    return 0
