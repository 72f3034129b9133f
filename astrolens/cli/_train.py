# Licensed under a 3-clause BSD style license - see LICENSE
"""``astrolens train classifier`` and ``astrolens train sr``."""

import json
import logging
import os
import shlex
import sys
from pathlib import Path

import numpy as np

from astrolens.cli._classify import load_classifier

__all__ = ['add_commands']


def add_commands(subparsers):
    """Register ``train classifier`` and ``train sr``."""
    train = subparsers.add_parser(
        'train', help='train a model',
        description='Train a classifier (astrolens train classifier) or a super-resolution '
                    'model (astrolens train sr); both checkpoint every epoch and resume.')
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
                     help="'d4lensnet', 'lensresnet', 'lensresnet_s' or a timm model name")
    clf.add_argument('--stage', action='store_true',
                     help='with --simulate: one stage of a staged training (how the shipped '
                     'deeplense-model-* weights are made): the preset network of that model '
                     '(or --init), images simulated afresh (or a pool of --n-per-class '
                     'images per class, kept in --cache) for --max-minutes, then calibration '
                     'and a comparison with the weights at --out (or --init) on a fixed '
                     'validation set (--original-val when given); --out is written only when '
                     'better, and its JSON keeps the record of every stage')
    clf.add_argument('--original-val', metavar='FILE.npz', default=None,
                     help='with --stage: images of the original DeepLenseSim code (made by '
                     'benchmarks/make_original_validation.py); the stage is validated and '
                     'committed on them, with our simulator\'s validation set beside')
    clf.add_argument('--amp', default='auto', choices=('auto', 'bfloat16', 'off'),
                     help="mixed precision: 'auto' is float16 on CUDA and float32 on the CPU; "
                     "'bfloat16' about doubles training speed on CPUs with avx512_bf16")
    clf.add_argument('--epochs', type=int, default=20,
                     help='passes over the training set, or batches of --steps-per-epoch '
                          '(default 20)')
    clf.add_argument('--steps-per-epoch', type=int, default=None,
                     help='batches per epoch (default: the whole set; 200 when images are '
                          'simulated afresh)')
    clf.add_argument('--batch-size', type=int, default=None, help='default 64 (32 with --stage)')
    clf.add_argument('--lr', type=float, default=2e-3,
                     help='peak learning rate: linear warm-up, then cosine decay (default 2e-3)')
    clf.add_argument('--weight-decay', type=float, default=0.05,
                     help='AdamW weight decay (default 0.05)')
    clf.add_argument('--crop', type=int, default=84, help='central crop side; 0: none')
    clf.add_argument('--normalization', default='sqrt', choices=('sqrt', 'asinh', 'linear'),
                     help='stretch after the per-image min-max scaling (default sqrt)')
    clf.add_argument('--val-fraction', type=float, default=0.1,
                     help='share of the images held out for validation, the best epoch and '
                          'calibration (default 0.1; 0: none)')
    clf.add_argument('--patience', type=int, default=None,
                     help='stop after this many epochs without improvement (default: never)')
    clf.add_argument('--max-minutes', type=float, default=None,
                     help='time budget; the learning-rate schedule is fitted into it')
    clf.add_argument('--seed', type=int, default=0, help='seed of the run (default 0)')
    clf.add_argument('--device', default='auto',
                     help="torch device: 'auto' (default: a GPU when there is one), 'cpu', "
                          "'cuda', 'cuda:1', 'mps'")
    clf.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    clf.add_argument('--checkpoint-dir', metavar='DIR', default=None,
                     help='checkpoint every epoch here and resume from it (default: '
                          'OUT.checkpoint, removed once the model is saved)')
    clf.add_argument('--init', metavar='NAME|PATH', default=None,
                     help='continue from a saved (or shipped) classifier: new optimiser and '
                     'schedule, same architecture, crop and normalisation')
    clf.add_argument('--out', required=True, metavar='PATH',
                     help='write PATH.safetensors and PATH.json')
    clf.add_argument('--no-progress', action='store_true', help='no progress bars')
    clf.set_defaults(func=_run_train_classifier)
    train.set_defaults(func=lambda args: (train.print_help(), 2)[1])

    add_train_sr(kinds)


def add_train_sr(train_subparsers):
    """Add ``sr`` to the sub-commands of ``astrolens train``."""
    p = train_subparsers.add_parser(
        'sr', help='train a SuperResolver',
        description='Train a SuperResolver on simulated pairs (--preset) or a DeepLense SR '
                    'folder (--data), evaluate it on a fresh test set and save weights + JSON.')
    p.add_argument('--preset', choices=sorted(_sr_presets()), default=None,
                   help='simulated training pairs (astrolens.simulation.simulate_sr_pairs)')
    p.add_argument('--data', default=None, help='DeepLense SR folder (LR/ and HR/)')
    p.add_argument('--degradation', action='store_true',
                   help='with --preset: train a noise-aware model on real HST images, the left '
                        'half of the Hubble Deep Field, drawn-scene lenses, stars and sky, '
                        'degraded afresh every step by astrolens.datasets (how the shipped '
                        'models are made); --max-minutes is the time budget')
    p.add_argument('--psf-condition', action='store_true',
                   help='with --degradation: a PSF-conditioned network, told the input PSF '
                        'and the output PSF of every pair (hidden for 30%% of them, so it '
                        'also runs blind); enhance then uses a PSF it is given')
    p.add_argument('--scale', type=int, default=None,
                   help="upscaling factor (default: the preset's, else 2)")
    p.add_argument('--n-train', type=int, default=1500,
                   help='simulated training pairs with --preset (default 1500)')
    p.add_argument('--n-test', type=int, default=300,
                   help='fresh test pairs evaluated after training, with --preset (default '
                        '300; 0: none)')
    p.add_argument('--data-seed', type=int, default=0, help='seed of the training pairs')
    p.add_argument('--test-seed', type=int, default=12345, help='seed of the test pairs')
    p.add_argument('--arch', default='edsr-s',
                   help="network: 'edsr-xs', 'edsr-s' (default), 'edsr-m' or 'srresnet'")
    p.add_argument('--loss', default='l1', choices=('l1', 'l2', 'gan'),
                   help="'gan': SRGAN-style training; start it from L1 weights with --init")
    p.add_argument('--epochs', type=int, default=200, help='most epochs (default 200)')
    p.add_argument('--max-minutes', type=float, default=None,
                   help='time budget; training stops when it is spent')
    p.add_argument('--batch-size', type=int, default=16,
                   help='pairs per batch (default 16)')
    p.add_argument('--patch-size', type=int, default=24,
                   help='side of the LR training crops in pixels (default 24)')
    p.add_argument('--learning-rate', type=float, default=1e-3,
                   help='learning rate (default 1e-3)')
    p.add_argument('--patience', type=int, default=None,
                   help='stop after this many epochs without improvement (default: never)')
    p.add_argument('--val-fraction', type=float, default=0.1,
                   help='share of the pairs held out for validation (default 0.1)')
    p.add_argument('--noise-augment', type=float, default=0.0,
                   help='input-noise jitter (normalised units), for few-shot runs')
    p.add_argument('--init', default=None, help='start from these weights (fine-tuning)')
    p.add_argument('--fine-tune', action='store_true',
                   help='few-shot: start from --init with SuperResolver.fine_tune')
    p.add_argument('--seed', type=int, default=0, help='seed of the run (default 0)')
    p.add_argument('--checkpoint-dir', metavar='DIR', default=None,
                   help='checkpoint every epoch here and resume from it (default: '
                        'OUTPUT.checkpoint, removed once the model is saved)')
    p.add_argument('--cache', default=None,
                   help='folder for simulated/registered hsc-hst pairs (reused when present)')
    p.add_argument('--device', default='auto',
                   help="torch device: 'auto' (default: a GPU when there is one), 'cpu', "
                        "'cuda', 'cuda:1', 'mps'")
    p.add_argument('--name', default=None, help='model name recorded in the config')
    p.add_argument('-o', '--output', required=True, help='PATH for PATH.safetensors/.json')
    p.add_argument('--overwrite', action='store_true',
                   help='replace OUTPUT.safetensors/.json if they exist')
    p.add_argument('-q', '--quiet', action='store_true',
                   help='no progress bars and no closing summary')
    p.set_defaults(func=main_train_sr)
    return p


# The names, not an import of astrolens.datasets: that pulls astropy, and `astrolens --help`
# should not wait for it (tests/test_cli.py checks they match).
SR_PRESETS = ('deeplense-x2', 'hsc-hst-x3', 'survey-x2')


def _sr_presets():
    return SR_PRESETS


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


def _run_stage(args):
    import torch

    from astrolens.training import run_classifier_stage

    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(name)s: %(message)s',
                        stream=sys.stderr)
    if not args.simulate or args.max_minutes is None:
        print('error: --stage needs --simulate MODEL and --max-minutes', file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    own_checkpoint = _default_checkpoint_dir(args, args.out)
    record = run_classifier_stage(
        model=args.simulate, out=args.out, minutes=args.max_minutes, init=args.init,
        seed=args.seed, lr=args.lr, batch_size=args.batch_size or 64,
        steps_per_epoch=args.steps_per_epoch or 200, amp=_AMP[args.amp],
        pool_per_class=args.n_per_class, pool_cache=args.cache, sim_workers=args.sim_workers,
        original_validation=args.original_val, checkpoint_dir=args.checkpoint_dir,
        command='astrolens ' + ' '.join(shlex.quote(a) for a in sys.argv[1:]),
        progress=not args.no_progress)
    _remove_default_checkpoint(own_checkpoint)
    print(f"stage: {record['images_seen']} images in {record['minutes_trained']} min")
    base = record['baseline_validation'] or {}
    for name, val in record['validation'].items():
        before = base.get(name)
        print(f"  {name} validation ({val['set']}): accuracy {val['accuracy']:.4f}, macro AUC "
              f"{val['auc_macro']:.4f}"
              + (f" (before: {before['accuracy']:.4f}, {before['auc_macro']:.4f})"
                 if before else ''))
    print(('wrote ' if record['committed'] else 'not better on the '
           f"{record['deciding_validation']} validation: kept ") + str(args.out))
    return 0


#: ``--amp`` choices -> `LensClassifier` ``amp``.
_AMP = {'auto': True, 'bfloat16': 'bfloat16', 'off': False}


def _run_train_classifier(args):
    import torch

    from astrolens.models import LensClassifier

    if args.stage:
        return _run_stage(args)
    if args.batch_size is None:
        args.batch_size = 64

    rank = int(os.environ.get('RANK', '0'))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format='%(asctime)s %(name)s: %(message)s', stream=sys.stderr)
    if args.threads:
        torch.set_num_threads(args.threads)
    own_checkpoint = _default_checkpoint_dir(args, args.out)
    clf = LensClassifier(
        args.backbone, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        weight_decay=args.weight_decay, crop=args.crop or None, normalization=args.normalization,
        val_fraction=args.val_fraction, patience=args.patience, max_minutes=args.max_minutes,
        device=args.device, seed=args.seed, checkpoint_dir=args.checkpoint_dir,
        amp=_AMP[args.amp], progress=not args.no_progress and rank == 0)
    if args.init:
        start = load_classifier(args.init)
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
    _remove_default_checkpoint(own_checkpoint)
    last = clf.history_[-1] if clf.history_ else {}
    print(f'wrote {weights} and {config}; last epoch: '
          + ', '.join(f'{k}={v:.4g}' for k, v in last.items() if isinstance(v, float)))
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    return 0


def _default_checkpoint_dir(args, output):
    """Checkpoint into ``OUTPUT.checkpoint`` unless a folder was given, so that an
    interrupted run can always resume; returns the folder to remove after saving.
    """
    if args.checkpoint_dir is not None:
        return None
    args.checkpoint_dir = f'{output}.checkpoint'
    return Path(args.checkpoint_dir)


def _remove_default_checkpoint(folder):
    import shutil

    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def _checkpoint_epochs(checkpoint_dir):
    """Epochs done in the checkpoint that a run will resume from (0 when there is none)."""
    from astrolens.models._training import CHECKPOINT_NAME, _load_checkpoint

    path = None if checkpoint_dir is None else Path(checkpoint_dir) / CHECKPOINT_NAME
    if path is None or not path.is_file():
        return 0
    return int(_load_checkpoint(path)['epoch'])


def _end_distributed(rank):
    """Leave the ``torchrun`` process group once all have trained; whether to go on (rank 0)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    return rank == 0


def main_train_sr(args):
    """Run ``astrolens train sr`` with parsed arguments.

    Under ``torchrun`` every process simulates (or reads) the same pairs and
    trains its share of each batch (see `astrolens.models.train`); only rank
    0 then evaluates on the test sets, saves the model and prints.
    """
    from astrolens.models import SuperResolver
    from astrolens.utils import check_writable

    rank = int(os.environ.get('RANK', '0'))
    world_size = int(os.environ.get('WORLD_SIZE', '1'))
    logging.basicConfig(level=logging.INFO if rank == 0 and not args.quiet else logging.WARNING,
                        format='%(asctime)s %(name)s: %(message)s', stream=sys.stderr)
    if (args.preset is None) == (args.data is None):
        msg = 'give exactly one of --preset (simulated pairs) or --data (a DeepLense folder)'
        raise ValueError(msg)
    for path in (Path(str(args.output) + '.safetensors'), Path(str(args.output) + '.json')):
        check_writable(path, overwrite=args.overwrite)
    if args.psf_condition and not args.degradation:
        msg = '--psf-condition needs --degradation (pairs whose PSFs are known)'
        raise ValueError(msg)
    if args.degradation:
        return _train_sr_degradation(args)
    from astrolens.datasets import SR_PRESETS, sr_test_sets, sr_training_pairs

    scale = args.scale or (SR_PRESETS[args.preset]['scale'] if args.preset else 2)
    if args.preset:
        lr, hr, source = sr_training_pairs(args.preset, args.n_train, args.data_seed,
                                           args.cache)
        data = {'source': source, 'n_train_pairs': args.n_train, 'seed': args.data_seed}
    else:
        from astrolens.io import load_deeplense_sr
        lr, hr = load_deeplense_sr(args.data)
        data = {'source': str(args.data), 'n_train_pairs': int(len(lr))}
    own_checkpoint = _default_checkpoint_dir(args, args.output)
    resumed_from = _checkpoint_epochs(args.checkpoint_dir)
    sr = SuperResolver(scale, arch=args.arch, loss=args.loss, device=args.device,
                       seed=args.seed, learning_rate=args.learning_rate)
    sr.name_ = args.name or (args.preset or Path(args.output).name)
    if args.fine_tune:
        if not args.init:
            msg = '--fine-tune needs --init (the weights to start from)'
            raise ValueError(msg)
        sr = SuperResolver.from_pretrained(args.init, device=args.device)
        sr.name_ = args.name or args.preset or Path(args.output).name
        sr.fine_tune(lr, hr, epochs=args.epochs, batch_size=args.batch_size,
                     patch_size=args.patch_size, patience=args.patience or 10,
                     noise_augment=args.noise_augment or 0.05,
                     max_minutes=args.max_minutes, checkpoint_dir=args.checkpoint_dir,
                     progress=not args.quiet)
    else:
        sr.fit(lr, hr, epochs=args.epochs, batch_size=args.batch_size, patch_size=args.patch_size,
               patience=args.patience, max_minutes=args.max_minutes, init=args.init,
               val_fraction=args.val_fraction, noise_augment=args.noise_augment,
               checkpoint_dir=args.checkpoint_dir, progress=not args.quiet)
    if not _end_distributed(rank):
        return 0
    sr.config_['training'].update(world_size=world_size, resumed_from_epoch=resumed_from)
    metrics = None
    if args.preset and args.n_test > 0:
        metrics = {}
        for name, (tlr, thr, source) in sr_test_sets(args.preset, args.n_test, args.test_seed,
                                                    args.cache).items():
            result = sr.evaluate(tlr, thr)
            result['test_set'] = {'source': source, 'n_pairs': args.n_test,
                                  'seed': args.test_seed}
            metrics[name] = result
    sr.config_['data'] = data
    if args.preset:
        from astrolens.training import SIMULATED_PAIR_DOMAINS

        if args.preset in SIMULATED_PAIR_DOMAINS:
            sr.config_['domain'] = SIMULATED_PAIR_DOMAINS[args.preset]
    sr.config_['command'] = 'astrolens train sr ' + ' '.join(
        shlex.quote(a) for a in getattr(args, 'argv', sys.argv[3:]))
    if metrics is not None:
        sr.config_['metrics'] = metrics
    sr.save(args.output, overwrite=args.overwrite)
    _remove_default_checkpoint(own_checkpoint)
    if not args.quiet:
        print(json.dumps({'history_tail': sr.history_[-3:], 'metrics': metrics}, indent=1,
                         default=float))
        print(f'saved {args.output}.safetensors and {args.output}.json')
    return 0


def _train_sr_degradation(args):
    """``astrolens train sr --degradation --preset NAME``: `train_sr_preset`."""
    from astrolens.training._sr_presets import train_sr_preset

    if args.preset is None:
        msg = '--degradation needs --preset (survey-x2, deeplense-x2 or hsc-hst-x3)'
        raise ValueError(msg)
    command = 'astrolens train sr ' + ' '.join(
        shlex.quote(a) for a in getattr(args, 'argv', sys.argv[3:]))
    own_checkpoint = _default_checkpoint_dir(args, args.output)
    sr = train_sr_preset(args.preset, args.output, minutes=args.max_minutes or 60.0,
                         arch=args.arch, init=args.init, seed=args.seed,
                         batch_size=args.batch_size, learning_rate=args.learning_rate,
                         checkpoint_dir=args.checkpoint_dir, psf_condition=args.psf_condition,
                         progress=not args.quiet, command=command, overwrite=args.overwrite)
    _remove_default_checkpoint(own_checkpoint)
    if not args.quiet:
        print(json.dumps({'history_tail': sr.history_[-3:]}, indent=1, default=float))
        print(f'saved {args.output}.safetensors and {args.output}.json')
    return 0
