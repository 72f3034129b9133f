# Licensed under a 3-clause BSD style license - see LICENSE
"""``astrolens simulate classification`` and ``astrolens simulate sr``."""

__all__ = ['add_commands']

# The names, not imports of astrolens.simulation: that pulls lenstronomy and astropy, and
# `astrolens --help` should not wait for them (tests/test_cli.py checks they match).
MODELS = ('model_i', 'model_ii', 'model_iii')
PRESETS = ('deeplense-x2', 'hsc-hst')


def _run_classification(args):
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

    cls = sub.add_parser('classification', help='no / cdm / vortex classification set')
    cls.add_argument('--model', default='model_i', choices=MODELS)
    cls.add_argument('--n-per-class', type=int, required=True, metavar='N')
    cls.add_argument('--out', required=True, metavar='DIR')
    cls.add_argument('--format', default='deeplense', choices=('deeplense', 'fits'))
    cls.add_argument('--seed', type=int, default=0)
    where = cls.add_mutually_exclusive_group()
    where.add_argument('--workers', type=int, default=1, metavar='N',
                       help='1 (default): render here; more: a local dask cluster of N '
                            'single-threaded processes (0: one per CPU)')
    where.add_argument('--scheduler', default=None, metavar='ADDR',
                       help="address of a running dask scheduler, e.g. 'tcp://host:8786' "
                            '(its workers must see --out)')
    cls.add_argument('-q', '--quiet', action='store_true', help='no progress bar')
    cls.set_defaults(func=_run_classification)

    sr = sub.add_parser('sr', help='low/high-resolution pairs')
    sr.add_argument('--preset', default='deeplense-x2', choices=PRESETS)
    sr.add_argument('--n', type=int, required=True)
    sr.add_argument('--out', required=True, metavar='DIR')
    sr.add_argument('--seed', type=int, default=0)
    sr.add_argument('--workers', type=int, default=1, metavar='W',
                    help='worker processes (0: all CPUs)')
    sr.set_defaults(func=_run_sr)
