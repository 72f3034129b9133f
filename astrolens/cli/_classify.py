# Licensed under a 3-clause BSD style license - see LICENSE
"""``astrolens classify``: class probabilities of lens images."""

from pathlib import Path

import numpy as np

__all__ = ['add_commands']

_IMAGE_SUFFIXES = ('.npy', '.fits', '.fit', '.fts', '.fits.gz')


def add_commands(subparsers):
    """Register ``classify``."""
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


def load_classifier(name):
    """A saved classifier at path ``name``, or the shipped model of that name."""
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
        from astrolens.cli._batch import run_classify_many

        return run_classify_many(args)
    if args.out is not None:
        check_writable(args.out, overwrite=args.overwrite)
    clf = load_classifier(args.model)
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
