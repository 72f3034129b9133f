# Licensed under a 3-clause BSD style license - see LICENSE
"""``astrolens enhance --many``, and what the batch commands share."""

import sys

__all__ = ['check_scheduler', 'run_enhance_many']

INSTALL_HINT = 'pip install "astrolens[all]"'


def check_scheduler(args):
    """Refuse ``--scheduler`` without dask.distributed, before anything is created.

    ``--workers`` needs no check: without dask the batch runs on local processes.
    """
    if getattr(args, 'scheduler', None) is None:
        return
    from astrolens.batch._local import has_distributed

    if not has_distributed():
        msg = (f'--scheduler needs dask.distributed, which is not installed: {INSTALL_HINT} '
               '(--workers N runs on local processes without it)')
        raise ValueError(msg)


def _summary(table, what):
    meta = table.meta
    return (f'{what} {len(table)} files: {meta["n_done"]} done, {meta["n_skipped"]} skipped, '
            f'{meta["n_failed"]} failed')


def _report_failures(table, command):
    failed = table[table['status'] == 'failed']
    for row in failed[:5]:
        print(f'astrolens {command}: failed: {row["input"]}: {row["error"]}', file=sys.stderr)
    if len(failed) > 5:
        print(f'astrolens {command}: ... and {len(failed) - 5} more (see the table)',
              file=sys.stderr)
    return 1 if len(failed) else 0


def run_enhance_many(args):
    """Run ``astrolens enhance --many PATTERN -o OUTDIR`` with parsed arguments.

    Returns 0 when every file was enhanced or skipped, 1 when some failed
    (they are listed in the manifest).
    """
    if (args.input is None) == (args.many is None):
        msg = ('give either one INPUT file, or --many PATTERN for many files, not both'
               if args.input is not None else
               "give an INPUT FITS file, or --many 'DIR/*.fits' for many files")
        raise ValueError(msg)
    if args.many is None:
        msg = '--workers and --scheduler go with --many'
        raise ValueError(msg)
    check_scheduler(args)
    if getattr(args, 'uncertainty_method', 'calibrated') != 'calibrated' \
            or getattr(args, 'uncertainty_samples', 8) != 8:
        msg = ('with --many, --uncertainty is the calibrated one with 8 samples; enhance the '
               'files one by one for another --uncertainty-method or --uncertainty-samples')
        raise ValueError(msg)
    from astrolens.batch import enhance_many

    options = {'tile': args.tile} if args.tile is not None else {}
    if args.flux is not None:
        options['flux'] = None if args.flux == 'none' else args.flux
    from astrolens.io import parse_hdu

    if getattr(args, 'max_pixels', None) is not None:
        options['max_pixels'] = args.max_pixels or None
    from astrolens.cli._enhance import psf_options

    options.update(psf_options(args))
    table = enhance_many(args.many, args.output, model=args.model, workers=args.workers,
                         scheduler=args.scheduler, overwrite=args.overwrite,
                         hdu=parse_hdu(args.hdu), bad_bits=getattr(args, 'bad_bits', None),
                         device=args.device, uncertainty=args.uncertainty,
                         progress=not args.quiet, **options)
    if not args.quiet:
        print(_summary(table, 'enhanced') + f'; manifest {table.meta["manifest"]}')
    return _report_failures(table, 'enhance')
