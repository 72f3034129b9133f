# Licensed under a 3-clause BSD style license - see LICENSE
"""``astrolens register``: LR/HR pair registration from the command line."""

import sys
from pathlib import Path

__all__ = ['add_commands', 'shipped_factor']

# Above this reduced chi-square the pair disagrees well beyond the noise.
_POOR_CONSISTENCY = 3.0
_CONSISTENCY = ('consistency {:.2f} (reduced chi-square of the registered HR image, '
                'PSF-matched and binned to the LR grid, against the LR image: about 1 when '
                'they agree to within the LR noise)')
_POOR_HINT = ('the pair disagrees beyond the noise: check that both images show the same '
              'band (HSC i for HST F814W), the PSF FWHMs (--lr-psf-fwhm, --hr-psf-fwhm) and '
              'the shift found (--max-shift bounds it)')


def shipped_factor(lr_scale, hr_scale):
    """The grid ratio to register at, and why.

    The factor of the shipped super-resolution model made for inputs at
    ``lr_scale`` (the narrowest input range that holds it), provided the HR
    image is at least nearly as fine as that model's output grid; otherwise
    the nearest integer to ``lr_scale / hr_scale``.

    Returns
    -------
    factor : int
    model : str or None
        The shipped model whose factor this is.
    """
    from astrolens.batch._models import shipped_models
    from astrolens.models.pretrained import read_config

    ratio = lr_scale / hr_scale
    best = None
    for name in shipped_models('sr'):
        config = read_config(name)
        low, high = (config.get('domain') or {}).get('input_pixel_scale_arcsec', (0, 0))
        scale = int(config.get('scale', 0))
        # the HR may be up to 5% coarser than the model's output grid
        if low <= lr_scale <= high and 1 < scale <= ratio * 1.05:
            key = (high / low, -scale)
            if best is None or key < best[0]:
                best = (key, scale, name)
    if best is not None:
        return best[1], best[2]
    return max(1, int(round(ratio))), None


def _plane(nd, plane, path):
    """Plane ``plane`` of a cube ``(band, y, x)``; a 2-D image as it is."""
    from astropy.nddata import NDData

    if nd.data.ndim != 3:
        return nd
    n = nd.data.shape[0]
    if plane is None:
        msg = (f'{path} is a cube of {n} planes (bands): choose one with --plane K '
               f'(0 to {n - 1})')
        raise ValueError(msg)
    if not 0 <= plane < n:
        msg = f'--plane {plane} is outside the {n} planes of {path} (0 to {n - 1})'
        raise ValueError(msg)
    mask = None if nd.mask is None or nd.mask.ndim != 3 else nd.mask[plane]
    psf = getattr(nd, 'psf', None)
    if psf is not None and psf.ndim == 3:
        psf = psf[plane]
    uncertainty = nd.uncertainty
    if uncertainty is not None:
        uncertainty = type(uncertainty)(uncertainty.array[plane], unit=uncertainty.unit)
    wcs = nd.wcs.celestial if nd.wcs is not None else None
    return NDData(nd.data[plane], wcs=wcs, unit=nd.unit, mask=mask, meta=dict(nd.meta),
                  uncertainty=uncertainty, psf=psf)


def _checked(nd, path, args, role):
    """Plane ``--plane`` of ``nd`` (a cube), refused without a PSF."""
    nd = _plane(nd, args.plane, path)
    option = f'--{role}-psf-fwhm'
    if getattr(args, f'{role}_psf_fwhm') is None and getattr(nd, 'psf', None) is None:
        msg = (f'no PSF for the {role.upper()} image {path} (it has no PSF extension): give '
               f'its FWHM in arcsec with {option}')
        raise ValueError(msg)
    return nd


def _factor(args, lr, hr):
    """``--factor``, or the shipped model's factor (printed with the reason)."""
    if args.factor is not None or args.assume_aligned or args.fit_scale:
        return args.factor  # with --fit-scale: the nearest integer to the fitted ratio
    from astrolens.wcs_utils import pixel_scale

    try:
        lr_scale, hr_scale = pixel_scale(lr.wcs), pixel_scale(hr.wcs)
    except ValueError:
        return None  # register_pair says that a WCS is missing, and what to do
    factor, model = shipped_factor(lr_scale, hr_scale)
    ratio = lr_scale / hr_scale
    why = (f'the grid of the shipped model {model} for {lr_scale:.3g}"/px inputs' if model
           else 'the nearest integer to the pixel-scale ratio')
    finest = max(1, int(round(ratio)))
    other = f'; pass --factor {finest} for the finest grid' if finest != factor else ''
    print(f'factor {factor}: {why} (pixel scales {lr_scale:.4g}" / {hr_scale:.4g}" = '
          f'{ratio:.2f}){other}')
    return factor


def _run_register(args):
    single = args.lr is not None or args.hr is not None
    folders = args.lr_dir is not None or args.hr_dir is not None
    if single == folders or (single and (args.lr is None or args.hr is None)) \
            or (folders and (args.lr_dir is None or args.hr_dir is None)):
        msg = 'give either LR.fits HR.fits, or --lr-dir and --hr-dir'
        raise ValueError(msg)
    if args.max_shift is not None and not args.max_shift > 0:
        msg = f'--max-shift must be a positive number of LR pixels, got {args.max_shift}'
        raise ValueError(msg)
    options = {'lr_psf': args.lr_psf_fwhm, 'hr_psf': args.hr_psf_fwhm,
               'method': args.method, 'max_shift': args.max_shift}
    if args.fit_scale:
        options.update(fit_scale=True, scale_ratio=args.scale_ratio,
                       fit_rotation=args.fit_rotation)
    elif args.scale_ratio is not None or args.fit_rotation:
        msg = '--scale-ratio and --fit-rotation are options of --fit-scale'
        raise ValueError(msg)
    out = Path(args.output)
    if folders:
        return _register_folders(args, out, options)
    from astrolens.io import write_fits
    from astrolens.preprocessing._registration import register_pair
    from astrolens.utils import check_not_inputs

    # each output is named after its own input: the registered HR after the HR file
    lr_out, hr_out = out / 'LR' / Path(args.lr).name, out / 'HR' / Path(args.hr).name
    check_not_inputs([lr_out, hr_out], [args.lr, args.hr], option='--overwrite')
    for path in (lr_out, hr_out):
        if path.exists() and not args.overwrite:
            msg = f'{path} already exists; pass --overwrite to replace it'
            raise FileExistsError(msg)
    from astrolens.cli._enhance import read_input

    lr, hr = read_input(args.lr), read_input(args.hr)
    if args.plane is not None and 3 not in (lr.data.ndim, hr.data.ndim):
        msg = f'--plane is for a cube input, and {args.lr} and {args.hr} are 2-D images'
        raise ValueError(msg)
    lr, hr = _checked(lr, args.lr, args, 'lr'), _checked(hr, args.hr, args, 'hr')
    factor = _factor(args, lr, hr)
    pair = register_pair(lr, hr, factor=factor, assume_aligned=args.assume_aligned, **options)
    chi2 = pair.consistency()
    if args.fit_scale:
        rotation = f', rotation {pair.rotation:.3f} deg' if args.fit_rotation else ''
        print(f'fitted scale ratio {pair.scale_ratio:.4f} +/- {pair.scale_ratio_error:.4f} '
              f'(LR / HR pixel scale){rotation}')
    write_fits(pair.lr, lr_out, overwrite=args.overwrite)
    write_fits(pair.hr, hr_out, overwrite=args.overwrite)
    print(f'factor {pair.factor}; shift (y, x) = ({pair.shift[0]:.4f}, {pair.shift[1]:.4f}) '
          f'+/- ({pair.shift_error[0]:.4f}, {pair.shift_error[1]:.4f}) LR px = '
          f'({pair.shift_arcsec[0]:.4f}, {pair.shift_arcsec[1]:.4f}) arcsec; '
          f'flux ratio {pair.flux_ratio:.5f}')
    print(_CONSISTENCY.format(chi2))
    if chi2 > _POOR_CONSISTENCY:
        print(f'astrolens register: warning: consistency {chi2:.1f} > {_POOR_CONSISTENCY:g}: '
              f'{_POOR_HINT}', file=sys.stderr)
    print(f'wrote {lr_out} and {hr_out}')
    return 0


def _register_folders(args, out, options):
    from astrolens.preprocessing._registration import register_directory
    from astrolens.utils import check_not_inputs

    if args.plane is not None or args.assume_aligned:
        msg = '--plane and --assume-aligned are for one pair (LR.fits HR.fits), not folders'
        raise ValueError(msg)
    lr_files = {p.name: p for p in Path(args.lr_dir).glob(args.pattern)}
    hr_files = {p.name: p for p in Path(args.hr_dir).glob(args.pattern)}
    inputs = [*lr_files.values(), *hr_files.values()]
    check_not_inputs([out / sub / p.name for p in inputs for sub in ('LR', 'HR')], inputs,
                     option='--overwrite')
    factor = args.factor
    common = sorted(set(lr_files) & set(hr_files))
    if factor is None and common:
        # one grid ratio for the whole set, from its first pair
        from astrolens.cli._enhance import read_input

        try:
            lr, hr = read_input(lr_files[common[0]]), read_input(hr_files[common[0]])
        except (OSError, ValueError, TypeError):
            pass  # that pair's row will say what is wrong with it
        else:
            factor = _factor(args, lr, hr)
    table = register_directory(args.lr_dir, args.hr_dir, out, pattern=args.pattern,
                               overwrite=args.overwrite, progress=args.progress, factor=factor,
                               **options)
    ok = int((table['status'] == 'ok').sum())
    print(f'registered {ok} of {len(table)} pairs; report: {out / "registration.ecsv"} (its '
          'consistency column: ' + _CONSISTENCY.split(' (', 1)[1].rstrip(')') + ')')
    from astrolens.cli._wording import in_cli_words

    failed = table[table['status'] != 'ok']
    for row in failed[:3]:
        text = in_cli_words(str(row['message']), getattr(args, 'cli_parser', None))
        print(f'astrolens register: {row["status"]}: {row["name"]}: {text}', file=sys.stderr)
    if len(failed) > 3:
        print(f'astrolens register: ... and {len(failed) - 3} more (see the report)',
              file=sys.stderr)
    poor = table[(table['status'] == 'ok') & (table['consistency'] > _POOR_CONSISTENCY)]
    if len(poor):
        print(f'astrolens register: warning: {len(poor)} pairs have consistency > '
              f'{_POOR_CONSISTENCY:g} ({", ".join(poor["name"][:3])}'
              f'{", ..." if len(poor) > 3 else ""}): {_POOR_HINT}', file=sys.stderr)
    return 0 if ok == len(table) else 1


def add_commands(subparsers):
    """Register the ``register`` sub-command on ``subparsers``."""
    parser = subparsers.add_parser(
        'register', help='put HR images on an integer multiple of the LR grid, aligned',
        description='Resample HR images onto factor x the LR pixel grid (flux conserved), '
                    'measure the residual offset after PSF matching and correct it. '
                    'Outputs go to OUTDIR/LR/<LR file name> and OUTDIR/HR/<HR file name>, '
                    "each with its own image's observation date; inputs are never written "
                    'over, even with --overwrite. The consistency printed is the reduced '
                    'chi-square of the registered HR image, PSF-matched and binned to the LR '
                    'grid, against the LR image: about 1 when the pair agrees to within the '
                    f'noise; above {_POOR_CONSISTENCY:g} a warning says what to check.')
    parser.add_argument('lr', nargs='?', metavar='LR.fits', help='low-resolution image')
    parser.add_argument('hr', nargs='?', metavar='HR.fits', help='high-resolution image')
    parser.add_argument('--lr-dir', help='folder of LR FITS files (paired by name)')
    parser.add_argument('--hr-dir', help='folder of HR FITS files (paired by name)')
    parser.add_argument('--pattern', default='*.fits', help='file pattern in the folders')
    parser.add_argument('-o', '--output', required=True, metavar='OUTDIR',
                        help='output folder (LR/ and HR/ are made in it)')
    parser.add_argument('--factor', type=int,
                        help='grid ratio. Default: the factor of the shipped super-resolution '
                             'model made for the LR pixel scale (3 for HSC 0.168"/px, that of '
                             'hsc-hst-x3, even with HST at 0.03"/px), else the nearest '
                             'integer to the pixel-scale ratio; the choice is printed')
    parser.add_argument('--plane', type=int, metavar='K',
                        help='for a cube input (band, y, x) such as an HSC cutout of 5 bands: '
                             'register its plane K (0-based)')
    parser.add_argument('--lr-psf-fwhm', type=float, metavar='ARCSEC',
                        help='LR PSF FWHM (default: the PSF extension of the file)')
    parser.add_argument('--hr-psf-fwhm', type=float, metavar='ARCSEC',
                        help='HR PSF FWHM (default: the PSF extension of the file)')
    parser.add_argument('--assume-aligned', action='store_true',
                        help='the two images are pixel-aligned grids (HR shape an integer '
                             'multiple of the LR shape), as DeepLense LR/HR pairs: ignore or '
                             'do without their WCS; the residual offset is still measured and '
                             'corrected')
    parser.add_argument('--fit-scale', action='store_true',
                        help='measure the LR / HR pixel-scale ratio and offset from the '
                             'content (the HR blurred to the LR PSF and sampled on the LR '
                             'grid, fitted to the LR), for pairs without a WCS or whose WCS '
                             'scale is wrong; the fitted ratio is printed and the HR resampled '
                             'with it. --factor defaults to the nearest integer to it')
    parser.add_argument('--scale-ratio', type=float, metavar='RATIO',
                        help='with --fit-scale: the nominal LR / HR pixel-scale ratio to start '
                             'from (default: from the WCSs; needed without them, e.g. 1.98 '
                             'for SDSS 0.396"/px and KiDS 0.2"/px)')
    parser.add_argument('--fit-rotation', action='store_true',
                        help='with --fit-scale: fit a small rotation (up to 5 degrees) too')
    parser.add_argument('--method', default='adaptive', choices=('adaptive', 'exact', 'interp'),
                        help='resampling: adaptive (default, anti-aliased and flux-conserving), '
                             'exact (polygon overlap) or interp (bicubic)')
    parser.add_argument('--max-shift', type=float, metavar='LR_PIXELS',
                        help='largest offset accepted between the two WCSs (default: a quarter '
                             'of the smaller LR side)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace outputs that exist (never the inputs)')
    parser.add_argument('--no-progress', dest='progress', action='store_false',
                        help='no progress bar (with --lr-dir/--hr-dir)')
    parser.set_defaults(func=_run_register)
