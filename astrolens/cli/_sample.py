# Licensed under a 3-clause BSD style license - see LICENSE
"""``astrolens sample``: copy the real sample images shipped with the package."""

from pathlib import Path

__all__ = ['add_commands']

_DESCRIPTION = ('Copy real sample images (HSC and HST FITS files shipped inside the package) '
                'into a folder, as DIR/NAME.fits or DIR/NAME.fits.gz (the extension of the '
                'shipped file), to try the other commands on real data. --list shows the '
                'names, instruments, pixel scales and licences.')


def _suffix(path):
    return '.fits.gz' if path.name.endswith('.fits.gz') else path.suffix


def _print_list():
    from astrolens.datasets._samples import list_samples, sample_path

    samples = list_samples()
    width = max(len(name) for name in samples)
    for name, description in samples.items():
        print(f'{name:<{width}}  {description}')
    folder = sample_path(next(iter(samples))).parent
    print(f'origin (repository @ commit, path) and licence texts: {folder / "README.rst"}, '
          f'{folder / "LICENSES"}')


def _run_sample(args):
    import shutil

    from astrolens.datasets._samples import list_samples, sample_path
    from astrolens.utils import atomic_path

    if args.list:
        if args.names:
            msg = 'give sample names or --list, not both'
            raise ValueError(msg)
        _print_list()
        return 0
    if not args.names:
        msg = 'give one or more sample names (astrolens sample --list shows them)'
        raise ValueError(msg)
    out = Path(args.output)
    sources = {name: sample_path(name) for name in dict.fromkeys(args.names)}
    targets = {name: out / f'{name}{_suffix(src)}' for name, src in sources.items()}
    # refuse before copying anything: no half-done set of files
    existing = [str(path) for path in targets.values() if path.exists()]
    if existing and not args.overwrite:
        verb = 'exists' if len(existing) == 1 else 'exist'
        msg = f'{", ".join(existing)} already {verb}; pass --overwrite to replace'
        raise FileExistsError(msg)
    descriptions = list_samples()
    for name, src in sources.items():
        with atomic_path(targets[name], overwrite=args.overwrite) as tmp:
            shutil.copyfile(src, tmp)
        size = targets[name].stat().st_size / 1000
        print(f'wrote {targets[name]} ({size:.0f} kB): {descriptions[name]}')
    return 0


def add_commands(subparsers):
    """Register the ``sample`` sub-command on ``subparsers``."""
    parser = subparsers.add_parser(
        'sample', help='copy the real sample images shipped with astrolens (HSC, HST)',
        description=_DESCRIPTION)
    parser.add_argument('names', nargs='*', metavar='NAME',
                        help='sample to copy, e.g. hsc-cosmos or hst-lens (see --list)')
    parser.add_argument('-o', '--output', default='.', metavar='DIR',
                        help='folder to copy into, created if needed (default: the current '
                             'folder)')
    parser.add_argument('--list', action='store_true',
                        help='print the sample names with instrument, pixel scale and licence, '
                             'and copy nothing')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace files of the same name in DIR (default: refuse)')
    parser.set_defaults(func=_run_sample)
