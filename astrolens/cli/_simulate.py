# Licensed under a 3-clause BSD style license - see LICENSE
"""``astrolens simulate classification`` and ``astrolens simulate sr``."""

__all__ = ['add_commands']

# The names, not imports of astrolens.simulation: that pulls lenstronomy and astropy, and
# `astrolens --help` should not wait for them (tests/test_cli.py checks they match).
MODELS = ('model_i', 'model_ii', 'model_iii')
PRESETS = ('deeplense-x2', 'hsc-hst')


def _check_dask(args):
    """Refuse --workers/--scheduler without dask.distributed, before any folder is made."""
    if args.scheduler is None and args.workers == 1:
        return
    from astrolens.batch._local import has_distributed

    if not has_distributed():
        option = '--scheduler' if args.scheduler is not None else f'--workers {args.workers}'
        msg = (f'{option} renders on dask.distributed, which is not installed: '
               'pip install "astrolens[all]", or leave out --workers to render in this process')
        raise ValueError(msg)


def _run_classification(args):
    _check_dask(args)
    from astrolens.simulation._datasets import simulate_classification_set

    root = simulate_classification_set(args.n_per_class, model=args.model, seed=args.seed,
                                       out=args.out, format=args.format,
                                       workers=1 if args.scheduler else args.workers,
                                       scheduler=args.scheduler, progress=not args.quiet)
    print(f'{3 * args.n_per_class} images ({args.model}) in {root}')
    return 0


def _run_sr(args):
    from astrolens.simulation._sr_pairs import simulate_sr_pairs

    root = simulate_sr_pairs(args.n, preset=args.preset, seed=args.seed, out=args.out,
                             workers=args.workers, progress=True)
    print(f'{args.n} {args.preset} pairs in {root}')
    return 0


def add_commands(subparsers):
    """Register ``simulate classification`` and ``simulate sr``."""
    simulate = subparsers.add_parser(
        'simulate', help='simulate DeepLense-style lens images and SR pairs',
        description='Simulate lens images (DeepLenseSim Models I-III). Files are written '
                    'atomically; rerunning into the same folder (after a kill, say) keeps the '
                    'files already there and makes only the missing ones.')
    sub = simulate.add_subparsers(dest='what', metavar='WHAT', required=True)

    cls = sub.add_parser('classification', help='no / cdm / vortex classification set',
                         description='Simulate a balanced no-substructure / CDM subhalo / '
                                     'vortex set in the DeepLense layout (or as FITS).')
    cls.add_argument('--model', default='model_i', choices=MODELS,
                     help='DeepLenseSim model: model_i (0.05"/px, 150x150), model_ii (Euclid '
                          'VIS) or model_iii (HST F160W); default model_i')
    cls.add_argument('--n-per-class', type=int, required=True, metavar='N',
                     help='images per class (no, cdm, vortex)')
    cls.add_argument('--out', required=True, metavar='DIR',
                     help='output folder: DIR/{no,sphere,vort}/I.npy (or .fits)')
    cls.add_argument('--format', default='deeplense', choices=('deeplense', 'fits'),
                     help='deeplense (default): .npy files as DeepLense distributes them; fits: '
                          'FITS files with a WCS and the drawn parameters as header cards')
    cls.add_argument('--seed', type=int, default=0,
                     help='seed (default 0): image I of a class is the same whatever the '
                          'workers')
    where = cls.add_mutually_exclusive_group()
    where.add_argument('--workers', type=int, default=1, metavar='N',
                       help='1 (default): render here; more: a local dask cluster of N '
                            'single-threaded processes (0: one per CPU); needs dask.distributed '
                            '(pip install "astrolens[all]"), refused in one line without it'
                            ' before anything is written')
    where.add_argument('--scheduler', default=None, metavar='ADDR',
                       help="address of a running dask scheduler, e.g. 'tcp://host:8786' "
                            '(its workers must see --out)')
    cls.add_argument('-q', '--quiet', action='store_true', help='no progress bar')
    cls.set_defaults(func=_run_classification)

    sr = sub.add_parser('sr', help='low/high-resolution pairs',
                        description='Simulate low/high-resolution image pairs of the same '
                                    'lens scene, in the DeepLense SR layout DIR/LR, DIR/HR.')
    sr.add_argument('--preset', default='deeplense-x2', choices=PRESETS,
                    help='deeplense-x2 (default: Model I lenses at 0.10"/px with their '
                         '0.05"/px truth) or hsc-hst (HSC-like 0.168"/px cutouts with '
                         'HST-like 0.05"/px counterparts)')
    sr.add_argument('--n', type=int, required=True, help='number of pairs')
    sr.add_argument('--out', required=True, metavar='DIR',
                    help='output folder: DIR/LR and DIR/HR, pairs named alike')
    sr.add_argument('--seed', type=int, default=0, help='seed (default 0)')
    sr.add_argument('--workers', type=int, default=1, metavar='W',
                    help='worker processes (0: all CPUs)')
    sr.set_defaults(func=_run_sr)
