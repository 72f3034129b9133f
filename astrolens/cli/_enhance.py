# Licensed under a 3-clause BSD style license - see LICENSE
"""``astrolens enhance``: super-resolve FITS images."""

from pathlib import Path

__all__ = ['add_commands', 'on_input_grid', 'psf_options', 'psf_summary', 'read_psf_file']

DEFAULT_MODEL = 'survey-x2'
FITS_NAMES = ('.fits', '.fit', '.fts', '.fits.gz', '.fit.gz', '.fts.gz')


def check_fits_name(path):
    """Refuse an output name that does not say FITS (``-o out.png`` would write FITS as .png)."""
    if not str(path).lower().endswith(FITS_NAMES):
        msg = (f'{path}: the output is a FITS file, so its name must end in .fits, .fit or '
               '.fts (optionally .gz)')
        raise ValueError(msg)


def read_psf_file(path):
    """A PSF image from ``--psf FILE`` and its pixel scale (arcsec, from its header) or None.

    The ``PSF`` extension when the file has one, else its first image
    (`astrolens.preprocessing.read_psf`); errors in one line.
    """
    from astropy.io import fits

    from astrolens.preprocessing import read_psf

    try:
        with fits.open(path, memmap=False) as hdulist:
            image = read_psf(hdulist)
            chosen = hdulist['PSF'] if 'PSF' in [h.name for h in hdulist] else next(
                h for h in hdulist if h.is_image and h.data is not None)
            header = chosen.header
    except FileNotFoundError:
        msg = f'--psf {path}: no such file'
        raise ValueError(msg) from None
    except (OSError, TypeError, ValueError, KeyError, StopIteration, EOFError) as exc:
        text = ' '.join(str(exc).split())
        msg = f'--psf {path}: not a readable FITS PSF image ({text})'
        raise ValueError(msg) from None
    return image, _header_pixel_scale(header)


def _header_pixel_scale(header):
    """Arcsec per pixel of a PSF image's header: its celestial WCS, else a PIXSCALE card."""
    import warnings

    import numpy as np
    from astropy.wcs import WCS, FITSFixedWarning

    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FITSFixedWarning)
        try:
            wcs = WCS(header, naxis=2)
        except (ValueError, KeyError, MemoryError):
            wcs = None
    if wcs is not None and wcs.has_celestial:
        from astropy.wcs.utils import proj_plane_pixel_scales

        scale = float(np.mean(proj_plane_pixel_scales(wcs.celestial)) * 3600.0)
        if np.isfinite(scale) and scale > 0:
            return scale
    for key in ('PIXSCALE', 'PIXSCAL1', 'SECPIX', 'SECPIX1'):
        value = header.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
    return None


def on_input_grid(psf, psf_scale, input_scale):
    """The PSF image resampled to the input's pixels when both pixel scales are known.

    Otherwise (either unknown) the PSF is taken to be sampled on the input's
    pixels as it is.
    """
    import numpy as np
    from scipy import ndimage

    if psf_scale is None or input_scale is None or abs(psf_scale / input_scale - 1) < 0.01:
        return psf
    zoom = psf_scale / input_scale
    size = 2 * int(np.ceil(psf.shape[0] * zoom / 2)) + 1
    if size < 3:
        msg = (f'--psf: the PSF image ({psf.shape[0]} pixels of {psf_scale:.3g}") is smaller '
               f'than 3 pixels of the input ({input_scale:.3g}")')
        raise ValueError(msg)
    # a grid of the input's pixels, centred on the PSF's central pixel
    centre = (np.asarray(psf.shape) - 1) / 2
    offsets = (np.arange(size) - (size - 1) / 2) / zoom
    coords = np.meshgrid(centre[0] + offsets, centre[1] + offsets, indexing='ij')
    resampled = np.clip(ndimage.map_coordinates(psf, coords, order=3, mode='constant'), 0, None)
    return resampled / resampled.sum()


def psf_options(args):
    """``psf``, ``output_fwhm``, ``deconvolve`` and ``support_nsigma`` of `SuperResolver.enhance`.

    ``--psf FILE`` gives ``psf`` as the image as it is (one file resamples it
    to the input's pixels: `on_input_grid`), ``--psf stars`` as ``'stars'``.
    """
    options = {}
    psf_file = getattr(args, 'psf_file', None)
    if psf_file is not None:
        if getattr(args, 'psf_fwhm', None) is not None:
            msg = '--psf and --psf-fwhm both give the PSF: pass one'
            raise ValueError(msg)
        options['psf'] = 'stars' if psf_file == 'stars' else read_psf_file(psf_file)[0]
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
    support = getattr(args, 'support_nsigma', None)
    if support is not None:
        if not support > 0:
            msg = f'--support-nsigma must be a positive number of sigmas, got {support}'
            raise ValueError(msg)
        options['support_nsigma'] = support
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
    kwargs = {'uncertainty': args.uncertainty and args.uncertainty_method,
              'uncertainty_samples': args.uncertainty_samples, 'progress': not args.quiet}
    if args.tile is not None:
        kwargs['tile'] = args.tile
    if args.flux is not None:
        kwargs['flux'] = None if args.flux == 'none' else args.flux
    kwargs.update(psf_options(args))
    if args.psf_file not in (None, 'stars'):
        from astrolens.models._sr_psf import pixel_scale_of

        kwargs['psf'] = on_input_grid(*read_psf_file(args.psf_file), pixel_scale_of(data))
    out = sr.enhance(data, **kwargs)
    out.meta.pop('path', None)
    from astrolens.io import write_fits

    write_fits(out, args.output, overwrite=args.overwrite)
    if not args.quiet:
        shape = out.data.shape
        bands = f', {shape[0]} planes' if len(shape) == 3 else ''
        print(f'wrote {args.output} ({shape[-1]}x{shape[-2]} px{bands}, model {sr.name_}, '
              f'x{sr.scale}; {psf_summary(out.meta)})')
    return 0


def psf_summary(meta):
    """The output's PSF and where the input's came from, in a few words."""
    source = meta.get('sr_psf_source', 'prior')
    if 'sr_psf_out' in meta:
        out = f'output PSF FWHM {meta["sr_psf_out"]:.3g}"'
    else:
        out = f'output PSF FWHM {meta.get("sr_psf_out_pix", float("nan")):.3g} px'
    if source == 'prior':
        return f"{out} (the model's prior: input PSF unknown)"
    if 'sr_psf_in' in meta:
        given = f'{meta["sr_psf_in"]:.3g}"'
        if 'sr_psf_in_err' in meta:
            given += f' +- {meta["sr_psf_in_err"]:.2g}"'
    else:
        given = f'{meta.get("sr_psf_in_pix", float("nan")):.3g} px'
    return f'{out}, input {given} from {source}'


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
                         help='write a standard deviation per output pixel (UNCERT extension; '
                              "the input's propagated uncertainty is written whenever it has "
                              'one): see --uncertainty-method')
    enhance.add_argument('--uncertainty-method', choices=('calibrated', 'resample', 'd4'),
                         default='calibrated',
                         help='with --uncertainty: calibrated (default) the spread of '
                              '--uncertainty-samples runs on the input with its noise drawn '
                              "afresh, plus the model's calibrated error; resample without "
                              "that error; d4 the older 8-fold symmetry spread, with the "
                              "input's propagated uncertainty (far too narrow on real pairs)")
    enhance.add_argument('--uncertainty-samples', type=int, default=8, metavar='K',
                         help='forward passes of --uncertainty, an even number (default 8: '
                              'the enhancement costs 8 times more)')
    enhance.add_argument('--flux', choices=('local', 'total', 'block', 'none'), default=None,
                         help="flux correction (default: the model's, 'local' for the shipped "
                              "ones: every source keeps its flux)")
    enhance.add_argument('--psf', dest='psf_file', default=None, metavar='FILE|stars',
                         help="the input's PSF: a FITS image of it (its PSF extension, else its "
                              'first image), resampled to the input\'s pixels when its header '
                              'gives its pixel scale (a celestial WCS or PIXSCALE) and taken '
                              "on the input's pixels as it is otherwise (and with --many); "
                              "or 'stars': measured "
                              "on the input's isolated stars (with too few, a warning and the "
                              "PSF the file carries, else the model's prior). The output's "
                              'SRPSFSRC card says where the PSF came from')
    enhance.add_argument('--psf-fwhm', type=float, default=None, metavar='PIXELS',
                         help="FWHM of the input's PSF in input pixels (the seeing, taken as "
                              'a Moffat profile); without it or --psf: a PSF extension of the '
                              'input file, else a seeing card of its header (PSF_FWHM, '
                              'PSFFWHM, SEEING; see docs/superres.rst). With a PSF the output '
                              "is brought to the resolution --output-fwhm instead of the "
                              "network's own guess")
    enhance.add_argument('--output-fwhm', type=float, default=None, metavar='PIXELS',
                         help="FWHM of the output PSF in output pixels, when the input's PSF "
                              "is known (default: the model's output_fwhm)")
    enhance.add_argument('--deconvolve', action='store_true',
                         help="with the input's PSF known (a PSF extension or --psf-fwhm): "
                              'carry the deconvolution on from the network until the output, '
                              'observed through that PSF, explains the input to within its '
                              'noise (Richardson-Lucy, stopped by the discrepancy principle)')
    enhance.add_argument('--support-nsigma', type=float, default=None, metavar='N',
                         help='keep the super-resolved output only where the input shows '
                              'signal at N sigma (e.g. 3), a smooth upsampled input elsewhere: '
                              'nothing is sharpened out of sky noise (cards SRSUPSIG, SRSUPFRC)')
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
