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
        description='Print (or write as ECSV) the class and class probabilities of images, '
                    'and whether each looks unlike the training data (outlier column).')
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
    import warnings

    from astropy.table import MaskedColumn, Table

    from astrolens.utils import check_writable

    if not args.paths or any(getattr(args, k) is not None
                             for k in ('many', 'workers', 'scheduler')):
        from astrolens.cli._batch import run_classify_many

        return run_classify_many(args)
    if args.out is not None:
        check_writable(args.out, overwrite=args.overwrite)
    clf = load_classifier(args.model)
    files = _expand(args.paths)
    rows, scores = [], []
    for path in files:
        with warnings.catch_warnings():
            # reported in the outlier column instead, one line below the table
            warnings.simplefilter('ignore')
            proba, score = clf.predict_proba([path], return_outlier_score=True)
        rows.append((str(path), clf.classes_[int(np.argmax(proba[0]))], *proba[0]))
        scores.append(None if score is None else float(score[0]))
    names = ['file', 'class'] + [f'p_{c}' for c in clf.classes_]
    table = Table(rows=rows, names=names)
    for name in names[2:]:
        table[name].info.format = '.4f'
    known = clf.outlier_threshold_ is not None
    values = np.array([s if s is not None else np.nan for s in scores])
    table['outlier'] = MaskedColumn(values > (clf.outlier_threshold_ if known else np.inf),
                                    mask=[not known] * len(values))
    table['outlier_score'] = MaskedColumn(values, mask=[not known] * len(values), format='.2f')
    table.meta['model'] = str(args.model)
    table.meta['outlier_threshold'] = clf.outlier_threshold_
    n_out = int(np.sum(table['outlier'].filled(False)))
    if args.out is None:
        table.pprint_all()
        _report_outliers(n_out, len(table), known)
        return 0
    from astrolens.utils import atomic_path

    with atomic_path(args.out, overwrite=args.overwrite) as tmp:
        table.write(tmp, format='ascii.ecsv', overwrite=True)
    print(f'wrote {len(table)} rows to {args.out}')
    _report_outliers(n_out, len(table), known)
    return 0


def _report_outliers(n_out, n, known):
    import sys

    if not known:
        print('outlier: unknown (this model has no outlier statistics)', file=sys.stderr)
    elif n_out:
        print(f'{n_out} of {n} images look unlike the training data (outlier = True): their '
              'probabilities are not meaningful', file=sys.stderr)
