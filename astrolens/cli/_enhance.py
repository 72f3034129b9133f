# Licensed under a 3-clause BSD style license - see LICENSE
"""``astrolens enhance``: super-resolve FITS images."""

from pathlib import Path

__all__ = ['add_commands']

DEFAULT_MODEL = 'survey-x2'


def _run_enhance(args):
    if args.input is None or any(getattr(args, k) is not None
                                 for k in ('many', 'workers', 'scheduler')):
        from astrolens.cli._batch import run_enhance_many

        return run_enhance_many(args)
    from astrolens.io import read_fits, write_fits
    from astrolens.models import SuperResolver

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
    """Register ``enhance``."""
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
