# Licensed under a 3-clause BSD style license - see LICENSE
"""``astrolens register``: LR/HR pair registration from the command line."""

from pathlib import Path

__all__ = ['add_commands']


def _run_register(args):
    from astrolens.io import write_fits
    from astrolens.preprocessing._registration import register_directory, register_pair

    single = args.lr is not None or args.hr is not None
    folders = args.lr_dir is not None or args.hr_dir is not None
    if single == folders or (single and (args.lr is None or args.hr is None)) \
            or (folders and (args.lr_dir is None or args.hr_dir is None)):
        msg = 'give either LR.fits HR.fits, or --lr-dir and --hr-dir'
        raise ValueError(msg)
    options = {'factor': args.factor, 'lr_psf': args.lr_psf_fwhm, 'hr_psf': args.hr_psf_fwhm,
               'method': args.method, 'max_shift': args.max_shift}
    out = Path(args.output)
    from astrolens.utils import check_not_inputs

    if folders:
        inputs = [p for d in (args.lr_dir, args.hr_dir) for p in Path(d).glob(args.pattern)]
        check_not_inputs([out / sub / p.name for p in inputs for sub in ('LR', 'HR')], inputs,
                         option='--overwrite')
        table = register_directory(args.lr_dir, args.hr_dir, out, pattern=args.pattern,
                                   overwrite=args.overwrite, progress=args.progress, **options)
        ok = int((table['status'] == 'ok').sum())
        print(f'registered {ok} of {len(table)} pairs; report: {out / "registration.ecsv"}')
        return 0 if ok == len(table) else 1
    # each output is named after its own input: the registered HR after the HR file
    lr_out, hr_out = out / 'LR' / Path(args.lr).name, out / 'HR' / Path(args.hr).name
    check_not_inputs([lr_out, hr_out], [args.lr, args.hr], option='--overwrite')
    for path in (lr_out, hr_out):
        if path.exists() and not args.overwrite:
            msg = f'{path} already exists; pass --overwrite to replace it'
            raise FileExistsError(msg)
    pair = register_pair(args.lr, args.hr, **options)
    write_fits(pair.lr, lr_out, overwrite=args.overwrite)
    write_fits(pair.hr, hr_out, overwrite=args.overwrite)
    print(f'factor {pair.factor}; shift (y, x) = ({pair.shift[0]:.4f}, {pair.shift[1]:.4f}) '
          f'+/- ({pair.shift_error[0]:.4f}, {pair.shift_error[1]:.4f}) LR px = '
          f'({pair.shift_arcsec[0]:.4f}, {pair.shift_arcsec[1]:.4f}) arcsec; '
          f'flux ratio {pair.flux_ratio:.5f}; consistency {pair.consistency():.3f}')
    print(f'wrote {lr_out} and {hr_out}')
    return 0


def add_commands(subparsers):
    """Register the ``register`` sub-command on ``subparsers``."""
    parser = subparsers.add_parser(
        'register', help='put HR images on an integer multiple of the LR grid, aligned',
        description='Resample HR images onto factor x the LR pixel grid (flux conserved), '
                    'measure the residual offset after PSF matching and correct it. '
                    'Outputs go to OUTDIR/LR/<LR file name> and OUTDIR/HR/<HR file name>; '
                    'inputs are never written over, even with --overwrite.')
    parser.add_argument('lr', nargs='?', metavar='LR.fits', help='low-resolution image')
    parser.add_argument('hr', nargs='?', metavar='HR.fits', help='high-resolution image')
    parser.add_argument('--lr-dir', help='folder of LR FITS files (paired by name)')
    parser.add_argument('--hr-dir', help='folder of HR FITS files (paired by name)')
    parser.add_argument('--pattern', default='*.fits', help='file pattern in the folders')
    parser.add_argument('-o', '--output', required=True, metavar='OUTDIR')
    parser.add_argument('--factor', type=int, help='grid ratio (default: from pixel scales)')
    parser.add_argument('--lr-psf-fwhm', type=float, metavar='ARCSEC',
                        help='LR PSF FWHM (default: the PSF extension of the file)')
    parser.add_argument('--hr-psf-fwhm', type=float, metavar='ARCSEC',
                        help='HR PSF FWHM (default: the PSF extension of the file)')
    parser.add_argument('--method', default='adaptive', choices=('adaptive', 'exact', 'interp'))
    parser.add_argument('--max-shift', type=float, metavar='LR_PIXELS')
    parser.add_argument('--overwrite', action='store_true')
    parser.add_argument('--no-progress', dest='progress', action='store_false')
    parser.set_defaults(func=_run_register)
