# Licensed under a 3-clause BSD style license - see LICENSE
"""Commands ``astrolens enhance`` and ``astrolens train sr``."""

import argparse
import json
import logging
import os
import shlex
import sys
from pathlib import Path

__all__ = ['add_commands', 'add_train_sr', 'main_train_sr']

DEFAULT_MODEL = 'survey-x2'
PRESETS = {'deeplense-x2': {'scale': 2, 'sim_preset': 'deeplense-x2'},
           'survey-x2': {'scale': 2, 'sim_preset': 'deeplense-x2'},
           'hsc-hst-x3': {'scale': 3, 'sim_preset': 'hsc-hst'}}
# scikit-image's Hubble Deep Field: columns < 500 train, columns >= 500 are for evaluation only
HDF_SPLIT_COLUMN = 500


def _run_enhance(args):
    if args.input is None or any(getattr(args, k) is not None
                                 for k in ('many', 'workers', 'scheduler')):
        from astrolens.batch._cli import run_enhance_many

        return run_enhance_many(args)
    from astrolens.io import read_fits, write_fits
    from astrolens.models._superres import SuperResolver

    # Refuse before the (slow) network runs, and again atomically when writing.
    if Path(args.output).exists() and not args.overwrite:
        msg = f'{args.output} already exists; pass --overwrite to replace it'
        raise FileExistsError(msg)
    sr = SuperResolver.from_pretrained(args.model, device=args.device)
    data = read_fits(args.input, hdu=args.hdu)
    kwargs = {'uncertainty': args.uncertainty, 'progress': not args.quiet}
    if args.tile is not None:
        kwargs['tile'] = args.tile
    if args.flux is not None:
        kwargs['flux'] = None if args.flux == 'none' else args.flux
    out = sr.enhance(data, **kwargs)
    out.meta.pop('path', None)
    write_fits(out, args.output, overwrite=args.overwrite)
    if not args.quiet:
        shape = out.data.shape
        print(f'wrote {args.output} ({shape[1]}x{shape[0]} px, model {sr.name_}, '
              f'x{sr.scale})')
    return 0


def add_commands(subparsers):
    """Register ``enhance`` (and ``train sr`` when a ``train`` command exists)."""
    enhance = subparsers.add_parser(
        'enhance', help='super-resolve a FITS image (flux and WCS kept)',
        description='Super-resolve a FITS image. The output keeps the unit, the total flux '
                    '(mean for surface brightness), the non-WCS header cards, and has a WCS '
                    'rescaled to the finer grid.')
    enhance.add_argument('input', nargs='?', help='FITS file (or use --many)')
    enhance.add_argument('-o', '--output', required=True,
                         help='output FITS file (with --many: output folder)')
    enhance.add_argument('--many', metavar='PATTERN', default=None,
                         help="many files, in parallel with dask: a glob such as 'DIR/*.fits' "
                              '(quote it) or a folder; see astrolens.batch.enhance_many')
    where = enhance.add_mutually_exclusive_group()
    where.add_argument('--workers', type=int, default=None,
                       help='with --many: local worker processes (default: one per CPU)')
    where.add_argument('--scheduler', metavar='ADDRESS', default=None,
                       help='with --many: address of a running dask scheduler')
    enhance.add_argument('--model', default=DEFAULT_MODEL,
                         help=f'shipped model name or saved model path (default {DEFAULT_MODEL})')
    enhance.add_argument('--tile', type=int, default=None,
                         help='largest tile side in input pixels (default 512)')
    enhance.add_argument('--uncertainty', action='store_true',
                         help='add an UNCERT extension from the 8-fold symmetry spread')
    enhance.add_argument('--flux', choices=('total', 'block', 'none'), default=None,
                         help="flux correction (default: the model's, usually 'total')")
    enhance.add_argument('--hdu', default=None, help='extension holding the image')
    enhance.add_argument('--device', default='auto')
    enhance.add_argument('--overwrite', action='store_true', help='replace OUTPUT if it exists')
    enhance.add_argument('-q', '--quiet', action='store_true')
    enhance.set_defaults(func=_run_enhance)
    train = subparsers.choices.get('train')
    if train is not None:
        for action in train._actions:
            if isinstance(action, argparse._SubParsersAction):
                add_train_sr(action)
                break


def add_train_sr(train_subparsers):
    """Add ``sr`` to the sub-commands of ``astrolens train``."""
    p = train_subparsers.add_parser(
        'sr', help='train a SuperResolver',
        description='Train a SuperResolver on simulated pairs (--preset) or a DeepLense SR '
                    'folder (--data), evaluate it on a fresh test set and save weights + JSON.')
    p.add_argument('--preset', choices=sorted(PRESETS), default=None,
                   help='simulated training pairs (astrolens.simulation.simulate_sr_pairs)')
    p.add_argument('--data', default=None, help='DeepLense SR folder (LR/ and HR/)')
    p.add_argument('--scale', type=int, default=None)
    p.add_argument('--n-train', type=int, default=1500)
    p.add_argument('--n-test', type=int, default=300)
    p.add_argument('--data-seed', type=int, default=0, help='seed of the training pairs')
    p.add_argument('--test-seed', type=int, default=12345, help='seed of the test pairs')
    p.add_argument('--arch', default='edsr-s')
    p.add_argument('--loss', default='l1', choices=('l1', 'l2', 'gan'),
                   help="'gan': SRGAN-style training; start it from L1 weights with --init")
    p.add_argument('--epochs', type=int, default=200)
    p.add_argument('--max-minutes', type=float, default=None)
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--patch-size', type=int, default=24)
    p.add_argument('--learning-rate', type=float, default=1e-3)
    p.add_argument('--patience', type=int, default=None)
    p.add_argument('--val-fraction', type=float, default=0.1)
    p.add_argument('--noise-augment', type=float, default=0.0,
                   help='input-noise jitter (normalised units), for few-shot runs')
    p.add_argument('--init', default=None, help='start from these weights (fine-tuning)')
    p.add_argument('--fine-tune', action='store_true',
                   help='few-shot: start from --init with SuperResolver.fine_tune')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--checkpoint-dir', default=None)
    p.add_argument('--cache', default=None,
                   help='folder for simulated/registered hsc-hst pairs (reused when present)')
    p.add_argument('--device', default='auto')
    p.add_argument('--name', default=None, help='model name recorded in the config')
    p.add_argument('-o', '--output', required=True, help='PATH for PATH.safetensors/.json')
    p.add_argument('--overwrite', action='store_true')
    p.add_argument('-q', '--quiet', action='store_true')
    p.set_defaults(func=main_train_sr)
    return p


def _simulated(preset, n, seed):
    try:
        from astrolens.simulation import simulate_sr_pairs
    except ImportError:  # the subpackage may not re-export it
        from astrolens.simulation._sr_pairs import simulate_sr_pairs

    pairs = simulate_sr_pairs(n, preset=preset, seed=seed)
    if isinstance(pairs, tuple) and len(pairs) == 2:
        return pairs
    return pairs.lr, pairs.hr


def hdf_pairs(n, *, half='left', seed=0, lr_size=75):
    """LR/HR pairs cut from scikit-image's Hubble Deep Field, degraded like "deeplense-x2".

    HR: a random ``2*lr_size`` square crop of the grey-level image (sum of
    the RGB planes), in a random D4 orientation. LR: the crop blurred by a
    Gaussian of FWHM 2.44 HR pixels (0.15" vs 0.087" PSFs at 0.05"/px), summed
    over 2x2 blocks (flux per pixel is kept), plus Gaussian noise of a random
    sigma in [1, 4] (the sky level of the binned image is ~150).

    Parameters
    ----------
    n : int
    half : {'left', 'right'}
        ``'left'``: columns < 500 (training); ``'right'``: columns >= 500,
        for evaluation only.
    seed : int

    Returns
    -------
    lr, hr : `~numpy.ndarray`
        ``(n, lr_size, lr_size)`` and ``(n, 2*lr_size, 2*lr_size)`` float32.
    """
    import numpy as np
    from scipy import ndimage
    from skimage import data

    grey = data.hubble_deep_field().astype(np.float64).sum(axis=-1)
    part = grey[:, :HDF_SPLIT_COLUMN] if half == 'left' else grey[:, HDF_SPLIT_COLUMN:]
    rng = np.random.default_rng([seed, 0 if half == 'left' else 1])
    size = 2 * lr_size
    sigma = 2.44 / (2 * np.sqrt(2 * np.log(2)))
    lrs, hrs = [], []
    for _ in range(n):
        r = rng.integers(0, part.shape[0] - size + 1)
        c = rng.integers(0, part.shape[1] - size + 1)
        hr = part[r:r + size, c:c + size]
        k = int(rng.integers(0, 8))
        hr = np.rot90(hr.T if k >= 4 else hr, k % 4)
        blurred = ndimage.gaussian_filter(hr, sigma, mode='reflect')
        lr = blurred.reshape(lr_size, 2, lr_size, 2).sum(axis=(1, 3))
        lr = lr + rng.normal(0, rng.uniform(1.0, 4.0), lr.shape)
        lrs.append(lr)
        hrs.append(hr)
    return np.stack(lrs).astype(np.float32), np.stack(hrs).astype(np.float32)


def _training_pairs(preset, n, seed, cache=None):
    import numpy as np

    if preset == 'survey-x2':
        n_hdf = n // 2
        llr, lhr = _simulated('deeplense-x2', n - n_hdf, seed)
        hlr, hhr = hdf_pairs(n_hdf, half='left', seed=seed)
        order = np.random.default_rng(seed).permutation(n)
        lr, hr = np.concatenate([llr, hlr])[order], np.concatenate([lhr, hhr])[order]
        source = ('half simulate_sr_pairs(preset="deeplense-x2"), half '
                  'astrolens.models._sr_cli.hdf_pairs(half="left") (HDF columns < 500)')
        return lr, hr, source
    sim = PRESETS[preset]['sim_preset']
    if sim == 'hsc-hst':
        lr, hr = registered_hsc_hst_pairs(n, seed=seed, cache=cache)
        return lr, hr, ('astrolens.simulation.simulate_sr_pairs(preset="hsc-hst") '
                        '+ astrolens.preprocessing.register_pair(factor=3)')
    lr, hr = _simulated(sim, n, seed)
    return lr, hr, f'astrolens.simulation.simulate_sr_pairs(preset={sim!r})'


def registered_hsc_hst_pairs(n, *, seed=0, cache=None, progress=False):
    """Simulated "hsc-hst" pairs registered onto exact x3 grids, as arrays.

    Parameters
    ----------
    n, seed : int
        Passed to `astrolens.simulation.simulate_sr_pairs`.
    cache : str or `~pathlib.Path`, optional
        Folder where the simulated FITS pairs (resumable) and the registered
        arrays (``registered-seed{seed}-n{n}.npz``, no pickles) are kept.

    Returns
    -------
    lr, hr : `~numpy.ndarray`
        ``(n, 32, 32)`` and ``(n, 96, 96)``; pairs whose registration failed
        are left out.
    """
    import numpy as np

    from astrolens.io import read_fits
    from astrolens.preprocessing import register_pair

    try:
        from astrolens.simulation import simulate_sr_pairs
    except ImportError:
        from astrolens.simulation._sr_pairs import simulate_sr_pairs
    done = None
    if cache is not None:
        done = Path(cache) / f'registered-seed{seed}-n{n}.npz'
        if done.is_file():
            with np.load(done, allow_pickle=False) as f:
                return f['lr'], f['hr']
        root = simulate_sr_pairs(n, preset='hsc-hst', seed=seed,
                                 out=Path(cache) / f'raw-seed{seed}', progress=progress)
        lrs = [read_fits(root / 'LR' / f'sample{i}.fits') for i in range(n)]
        hrs = [read_fits(root / 'HR' / f'sample{i}.fits') for i in range(n)]
    else:
        lrs, hrs = simulate_sr_pairs(n, preset='hsc-hst', seed=seed, progress=progress)
    out_lr, out_hr = [], []
    for low, high in zip(lrs, hrs, strict=True):
        try:
            pair = register_pair(low, high, factor=PRESETS['hsc-hst-x3']['scale'])
        except ValueError:
            continue
        out_lr.append(np.asarray(pair.lr.data, dtype=np.float32))
        out_hr.append(np.asarray(pair.hr.data, dtype=np.float32))
    lr, hr = np.stack(out_lr), np.stack(out_hr)
    if done is not None:
        from astrolens.utils import atomic_path

        # atomically: a killed run, or torchrun processes sharing the cache, never
        # leave a partial file for the next run to read
        with atomic_path(done, overwrite=True) as tmp:
            np.savez(tmp, lr=lr, hr=hr)
    return lr, hr


def _test_sets(preset, n, seed, cache=None):
    if preset == 'survey-x2':
        return {'hdf-right': (*hdf_pairs(n, half='right', seed=seed),
                              'hdf_pairs(half="right"), HDF columns >= 500'),
                'deeplense-x2': (*_simulated('deeplense-x2', n, seed),
                                 'simulate_sr_pairs(preset="deeplense-x2")')}
    lr, hr, source = _training_pairs(preset, n, seed, cache)
    return {preset: (lr, hr, source)}


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
    from astrolens.models._superres import SuperResolver
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
    scale = args.scale or (PRESETS[args.preset]['scale'] if args.preset else 2)
    if args.preset:
        lr, hr, source = _training_pairs(args.preset, args.n_train, args.data_seed,
                                         args.cache)
        data = {'source': source, 'n_train_pairs': args.n_train, 'seed': args.data_seed}
    else:
        from astrolens.io import load_deeplense_sr
        lr, hr = load_deeplense_sr(args.data)
        data = {'source': str(args.data), 'n_train_pairs': int(len(lr))}
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
        for name, (tlr, thr, source) in _test_sets(args.preset, args.n_test, args.test_seed,
                                                    args.cache).items():
            result = sr.evaluate(tlr, thr)
            result['test_set'] = {'source': source, 'n_pairs': args.n_test,
                                  'seed': args.test_seed}
            metrics[name] = result
    sr.config_['data'] = data
    sr.config_['command'] = 'astrolens train sr ' + ' '.join(
        shlex.quote(a) for a in getattr(args, 'argv', sys.argv[3:]))
    if metrics is not None:
        sr.config_['metrics'] = metrics
    sr.save(args.output, overwrite=args.overwrite)
    if not args.quiet:
        print(json.dumps({'history_tail': sr.history_[-3:], 'metrics': metrics}, indent=1,
                         default=float))
        print(f'saved {args.output}.safetensors and {args.output}.json')
    return 0


if __name__ == '__main__':  # python -m astrolens.models._sr_cli train sr ...
    parser = argparse.ArgumentParser(prog='python -m astrolens.models._sr_cli')
    subs = parser.add_subparsers(dest='command')
    train_parser = subs.add_parser('train')
    add_train_sr(train_parser.add_subparsers(dest='what'))
    parsed = parser.parse_args()
    parsed.argv = sys.argv[3:]
    sys.exit(parsed.func(parsed))
