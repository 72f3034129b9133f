# Licensed under a 3-clause BSD style license - see LICENSE
"""``astrolens enhance``: super-resolve FITS images."""

from pathlib import Path

__all__ = ['add_commands', 'psf_options']

DEFAULT_MODEL = 'survey-x2'
FITS_NAMES = ('.fits', '.fit', '.fts', '.fits.gz', '.fit.gz', '.fts.gz')


def check_fits_name(path):
    """Refuse an output name that does not say FITS (``-o out.png`` would write FITS as .png)."""
    if not str(path).lower().endswith(FITS_NAMES):
        msg = (f'{path}: the output is a FITS file, so its name must end in .fits, .fit or '
               '.fts (optionally .gz)')
        raise ValueError(msg)


def psf_options(args):
    """``psf``, ``output_fwhm`` and ``deconvolve`` of `SuperResolver.enhance` from the CLI."""
    options = {}
    for option, key in (('psf_fwhm', 'psf'), ('output_fwhm', 'output_fwhm')):
        value = getattr(args, option, None)
        if value is None:
            continue
        if not value > 0:
            msg = f'--{option.replace("_", "-")} must be a positive number of pixels, got {value}'
            raise ValueError(msg)
        options[key] = value
    if getattr(args, 'deconvolve', False):
        options['deconvolve'] = True
    return options


def _run_enhance(args):
    psf_options(args)           # a bad value is refused before any file is read
    if args.input is None or any(getattr(args, k) is not None
                                 for k in ('many', 'workers', 'scheduler')):
        from astrolens.cli._batch import run_enhance_many

        return run_enhance_many(args)
    from astrolens.batch._models import resolve_model
    from astrolens.models import SuperResolver
    from astrolens.utils import check_not_inputs

    check_fits_name(args.output)
    resolve_model('sr', args.model)     # a classifier's or an unknown name: one line, now
    check_not_inputs([args.output], [args.input], option='--overwrite')
    # Refuse before the (slow) network runs, and again atomically when writing.
    if Path(args.output).exists() and not args.overwrite:
        msg = f'{args.output} already exists; pass --overwrite to replace it'
        raise FileExistsError(msg)
    data = read_input(args.input, hdu=args.hdu, bad_bits=args.bad_bits,
                      max_pixels=args.max_pixels)
    sr = SuperResolver.from_pretrained(args.model, device=args.device)
    kwargs = {'uncertainty': args.uncertainty, 'progress': not args.quiet}
    if args.tile is not None:
        kwargs['tile'] = args.tile
    if args.flux is not None:
        kwargs['flux'] = None if args.flux == 'none' else args.flux
    kwargs.update(psf_options(args))
    out = sr.enhance(data, **kwargs)
    out.meta.pop('path', None)
    from astrolens.io import write_fits

    write_fits(out, args.output, overwrite=args.overwrite)
    if not args.quiet:
        shape = out.data.shape
        bands = f', {shape[0]} planes' if len(shape) == 3 else ''
        print(f'wrote {args.output} ({shape[-1]}x{shape[-2]} px{bands}, model {sr.name_}, '
              f'x{sr.scale})')
    return 0


def read_input(path, *, hdu=None, bad_bits=None, max_pixels=None):
    """`astrolens.io.read_fits` with its errors worded for the command line (one line)."""
    from astrolens.io import parse_hdu, read_fits
    from astrolens.utils import DEFAULT_MAX_PIXELS, AmbiguousHDUError, ImageTooLargeError

    limit = DEFAULT_MAX_PIXELS if max_pixels is None else (max_pixels or None)
    try:
        return read_fits(path, hdu=parse_hdu(hdu), bad_bits=bad_bits, max_pixels=limit)
    except AmbiguousHDUError as exc:
        raise ValueError(exc.message('--hdu ')) from None
    except ImageTooLargeError as exc:
        raise ValueError(exc.message('--max-pixels ')) from None
    except ValueError as exc:
        text = ' '.join(str(exc).replace('bad_bits=', '--bad-bits').split())
        raise ValueError(text) from None


def add_commands(subparsers):
    """Register ``enhance``."""
    enhance = subparsers.add_parser(
        'enhance', help='super-resolve a FITS image (flux and WCS kept)',
        description='Super-resolve a FITS image. The output keeps the unit, the total flux '
                    '(mean for surface brightness), the non-WCS header cards, and has a WCS '
                    'rescaled to the finer grid.')
    enhance.add_argument('input', nargs='?', help='FITS file (or use --many)')
    enhance.add_argument('-o', '--output', required=True,
                         help='output FITS file, named .fits, .fit or .fts (optionally .gz); '
                              'with --many: output folder')
    enhance.add_argument('--many', metavar='PATTERN', default=None,
                         help="many files, in parallel: a glob such as 'DIR/*.fits' (quote it) "
                              'or a folder; on a local dask cluster, or local processes without '
                              'dask (see astrolens.batch.enhance_many)')
    where = enhance.add_mutually_exclusive_group()
    where.add_argument('--workers', type=int, default=None, metavar='N',
                       help='with --many: N local worker processes (default: one per CPU; 1: '
                            'in this process); dask workers when dask.distributed is installed')
    where.add_argument('--scheduler', metavar='ADDRESS', default=None,
                       help='with --many: address of a running dask scheduler (needs '
                            'dask.distributed: pip install "astrolens[all]")')
    enhance.add_argument('--model', default=DEFAULT_MODEL,
                         help='shipped super-resolution model (astrolens models --kind sr lists '
                              f'them) or saved model path (default {DEFAULT_MODEL})')
    enhance.add_argument('--tile', type=int, default=None,
                         help='largest tile side in input pixels (default 512)')
    enhance.add_argument('--uncertainty', action='store_true',
                         help="add the model's 8-fold symmetry spread to the UNCERT extension "
                              "(in quadrature with the input's propagated uncertainty, which "
                              'is always written when the input has one)')
    enhance.add_argument('--flux', choices=('local', 'total', 'block', 'none'), default=None,
                         help="flux correction (default: the model's, 'local' for the shipped "
                              "ones: every source keeps its flux)")
    enhance.add_argument('--psf-fwhm', type=float, default=None, metavar='PIXELS',
                         help="FWHM of the input's PSF in input pixels (the seeing, taken as "
                              'a Moffat profile); a PSF extension of the input file is used '
                              'without it, and is better. With a PSF the output is brought to '
                              "the resolution --output-fwhm instead of the network's own guess")
    enhance.add_argument('--output-fwhm', type=float, default=None, metavar='PIXELS',
                         help="FWHM of the output PSF in output pixels, when the input's PSF "
                              "is known (default: the model's output_fwhm)")
    enhance.add_argument('--deconvolve', action='store_true',
                         help="with the input's PSF known (a PSF extension or --psf-fwhm): "
                              'carry the deconvolution on from the network until the output, '
                              'observed through that PSF, explains the input to within its '
                              'noise (Richardson-Lucy, stopped by the discrepancy principle)')
    enhance.add_argument('--hdu', default=None,
                         help='extension holding the image: an index, a name or NAME,VER '
                              '(needed only when the file holds several images; HST '
                              'SCI/WHT/CTX and SCI/ERR/DQ and HSC/LSST IMAGE/MASK/VARIANCE '
                              'files are recognised)')
    enhance.add_argument('--bad-bits', default=None, metavar='PLANES',
                         help='mask planes that make a pixel bad, comma-separated names '
                              '(HSC/LSST MP_* planes or HST DQ flags) or an integer; default '
                              'BAD,SAT,CR,NO_DATA,SUSPECT,UNMASKEDNAN and the HST flags of '
                              'wrong values (never DETECTED)')
    enhance.add_argument('--max-pixels', type=int, default=None, metavar='N',
                         help='refuse images whose header declares more pixels (default '
                              '200000000; 0 for no limit)')
    enhance.add_argument('--device', default='auto',
                         help="torch device: 'auto' (default: a GPU when there is one), 'cpu', "
                              "'cuda', 'cuda:1', 'mps'")
    enhance.add_argument('--overwrite', action='store_true', help='replace OUTPUT if it exists')
    enhance.add_argument('-q', '--quiet', action='store_true',
                         help='no progress bar and no closing summary')
    enhance.set_defaults(func=_run_enhance)
