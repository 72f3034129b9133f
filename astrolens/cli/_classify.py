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
        description='Print (or write as ECSV) the class and class probabilities of images. '
                    'Images unlike the training data are flagged: their class is "outlier" '
                    '(their probabilities stay in the p_ columns, meaningless as they are). '
                    'A file that cannot be read or classified is reported in the error column '
                    'of its row and the others go on; the exit status is then 1 (0 when every '
                    'file was classified). The images go through the network in batches.')
    classify.add_argument('paths', nargs='*', metavar='PATH',
                          help='.npy or FITS images, or folders of them (searched recursively, '
                               'as a DeepLense layout lens/{no,sphere,vort}/*.npy)')
    classify.add_argument('--many', metavar='PATTERN', default=None,
                          help="many files, in parallel: a glob such as 'DIR/*.fits' (quote it) "
                               'or a folder; on a local dask cluster, or local processes without '
                               'dask')
    where = classify.add_mutually_exclusive_group()
    where.add_argument('--workers', type=int, default=None, metavar='N',
                       help='classify in N local worker processes (dask workers when '
                            'dask.distributed is installed); default: in this process for '
                            'PATHs, one per CPU with --many')
    where.add_argument('--scheduler', metavar='ADDRESS', default=None,
                       help="run on the dask cluster of this scheduler, e.g. 'tcp://host:8786' "
                            '(needs dask.distributed: pip install "astrolens[all]")')
    classify.add_argument('--model', default='deeplense-model-i',
                          help='shipped classifier name (astrolens models --kind classifier '
                               'lists them) or PATH of a saved classifier (default '
                               'deeplense-model-i)')
    classify.add_argument('--hdu', default=None,
                          help='FITS extension holding the image: an index, a name or NAME,VER '
                               '(needed only when a file holds several images)')
    classify.add_argument('--device', default='auto',
                          help="torch device: 'auto' (default: a GPU when there is one), 'cpu', "
                               "'cuda', 'cuda:1', 'mps'")
    classify.add_argument('--out', metavar='TABLE.ecsv', default=None,
                          help='write the table there (ECSV: file, class, p_<class>..., '
                               'outlier, outlier_score, error) instead of printing it')
    classify.add_argument('--overwrite', action='store_true',
                          help='replace the --out table if it exists')
    classify.add_argument('-q', '--quiet', action='store_true',
                          help='no progress bar and no summary line')
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
    from astrolens.batch._models import resolve_model
    from astrolens.cli._batch import check_scheduler
    from astrolens.io import parse_hdu
    from astrolens.utils import check_writable

    if args.paths and args.many is not None:
        msg = 'give either PATH arguments or --many PATTERN, not both'
        raise ValueError(msg)
    if not args.paths and args.many is None:
        msg = "give image PATHs, or --many 'DIR/*.fits' for many files"
        raise ValueError(msg)
    check_scheduler(args)
    hdu = parse_hdu(args.hdu)
    name, _ = resolve_model('classifier', args.model)   # a wrong name: refused before any work
    if args.out is not None:
        check_writable(args.out, overwrite=args.overwrite)
    inputs = args.many if args.many is not None else [str(p) for p in _expand(args.paths)]
    # PATHs are classified here unless workers are asked for: a cluster only adds seconds
    here = args.many is None and args.workers is None and args.scheduler is None
    if here:
        from astrolens.batch._worker import get_model

        # loaded now, so that bad weights stop the command in one line (and are kept for
        # the batch: the same process, the same model cache)
        get_model('classifier', name, device=args.device)
    from astrolens.batch import classify_many

    table = classify_many(inputs, model=args.model, workers=1 if here else args.workers,
                          scheduler=args.scheduler, hdu=hdu, device=args.device,
                          progress=not args.quiet)
    table = _cli_table(table, getattr(args, 'cli_parser', None))
    n_failed = int(np.sum(table['error'] != ''))
    if args.out is None:
        shown = table if n_failed else table[table.colnames[:-1]]
        shown.pprint_all()
    else:
        from astrolens.utils import atomic_path

        with atomic_path(args.out, overwrite=args.overwrite) as tmp:
            table.write(tmp, format='ascii.ecsv', overwrite=True)
        if not args.quiet:
            print(f'classified {len(table)} files: {len(table) - n_failed} done, {n_failed} '
                  f'failed; table {args.out}')
    _report(table, n_failed, quiet=args.quiet)
    return 1 if n_failed else 0


def _cli_table(table, parser=None):
    """The command's table: ``class`` says ``outlier`` for images unlike the training data.

    Columns ``file``, ``class``, ``p_<class>``..., ``outlier`` and
    ``outlier_score`` (masked when the model has no outlier statistics:
    unknown, not False) and ``error`` (empty for the files classified).
    """
    from astropy.table import Column, MaskedColumn, Table

    known = table.meta.get('outlier_threshold') is not None
    flagged = np.asarray(table['outlier'], dtype=bool) & known
    classes = ['outlier' if out and str(c) else str(c)
               for c, out in zip(table['class'], flagged, strict=True)]
    probabilities = [c for c in table.colnames if c.startswith('p_')]
    out = Table(meta={k: table.meta[k] for k in ('model', 'outlier_threshold', 'classes')
                      if k in table.meta})
    out['file'] = Column([str(f) for f in table['input']], dtype=str)
    out['class'] = Column(classes, dtype=str)
    for name in probabilities:
        out[name] = table[name]
        out[name].info.format = '.4f'
    out['outlier'] = MaskedColumn(flagged, mask=[not known] * len(table))
    out['outlier_score'] = MaskedColumn(table['outlier_score'], mask=[not known] * len(table),
                                        format='.2f')
    from astrolens.cli._wording import in_cli_words

    out['error'] = Column([in_cli_words(str(e), parser) for e in table['error']], dtype=str)
    return out


def _report(table, n_failed, *, quiet):
    import sys

    n = len(table)
    if n_failed:
        print(f'astrolens classify: {n_failed} of {n} files could not be classified (see the '
              'error column)', file=sys.stderr)
    if table.meta.get('outlier_threshold') is None:
        print('outlier: unknown (this model has no outlier statistics)', file=sys.stderr)
        return
    n_out = int(np.sum(table['outlier'].filled(False)))
    if n_out:
        print(f'{n_out} of {n} images look unlike the training data (class outlier): their '
              'probabilities are not meaningful', file=sys.stderr)
