# Licensed under a 3-clause BSD style license - see LICENSE
"""``astrolens demo``: the whole pipeline on the shipped models."""

import time
from pathlib import Path

__all__ = ['add_commands']

_DESCRIPTION = ('Simulate a few lenses of each class and classify them; simulate an HSC-like '
                'cutout with its HST-like counterpart, enhance it, compare with the HST image, '
                'write FITS files and a PNG report, and print what was measured.')

# what the demo takes: 6-8 s on 2 idle CPU cores, about 20 s on busy ones
_DURATION = 'some 10 to 30 s on 2 CPU cores'
# below this the relative difference of two float32 sums is rounding, not a measurement
_FLUX_FLOOR = 1e-6

_CLASSIFIER = 'deeplense-model-i'
_ENHANCER = 'hsc-hst-x3'


def _print_summary(summary):
    classes, proba, truth = summary['classes'], summary['probabilities'], summary['truth']
    models = summary['models']
    n = len(proba)
    right = sum(truth[k] == classes[int(proba[k].argmax())] for k in range(n))
    print(f'\n1. Classification ({models["classifier"]}): {n} freshly simulated DeepLenseSim '
          f'Model I lenses, {n // 3} per class; {right} of {n} classified right.')
    for k in range(n):
        guess = classes[int(proba[k].argmax())]
        flag = '' if guess == truth[k] else '  <- wrong'
        print(f'   image {k + 1:2d}: true {truth[k]:<7} predicted {guess:<7} '
              f'with probability {proba[k].max():.2f}{flag}')
    dy, dx = summary['registration_shift_lr_px']
    ay, ax = summary['registration_shift_arcsec']
    print('\n2. Registration: the simulated HST-like image was resampled onto an exact 3x grid '
          'of the HSC-like cutout (flux kept).')
    print(f'   Offset left between the two WCSs, found and removed: {dx:+.3f} px in x, '
          f'{dy:+.3f} px in y (HSC pixels) = {1000 * ax:+.0f}, {1000 * ay:+.0f} mas.')
    print(f'   Fit quality: reduced chi-square {summary["registration_chi2"]:.2f} '
          '(about 1 when the pair agrees to within the noise).')
    enh, bic = summary['enhance'], summary['bicubic']
    (h, w), (sh, sw) = summary['lr_shape'], summary['sr_shape']
    print(f'\n3. Super-resolution ({models["enhancer"]}): {w}x{h} px at '
          f'{summary["lr_scale"]:.3f}"/px -> {sw}x{sh} px at {summary["sr_scale"]:.3f}"/px.')
    print('   ' + _flux_line(summary['flux_error']))
    print(f'   Against the registered HST-like truth: PSNR {enh["psnr"]:.2f} dB, SSIM '
          f'{enh["ssim"]:.3f}; bicubic upsampling of the same cutout: {bic["psnr"]:.2f} dB, '
          f'{bic["ssim"]:.3f} (higher is better; PSNR over the data range of the truth).')
    print('\ntimes: ' + ', '.join(f'{k} {v:.1f} s' for k, v in summary['times'].items()))
    print('wrote ' + ', '.join(summary['paths'].values()))


def _flux_line(error):
    """The measured total-flux difference in words (a float32 sum has ~1e-7 precision)."""
    if error < _FLUX_FLOOR:
        return (f'Total flux kept: the sums of the output and the input agree to better than '
                f'{_FLUX_FLOOR:.0e} (relative).')
    return (f'Total flux kept to {error:.1e} relative (difference of the sums of the output '
            'and the input).')


def _fresh_folder(base='astrolens-demo'):
    path = Path(base)
    k = 2
    while path.exists() and any(path.iterdir()):
        path = Path(f'{base}-{k}')
        k += 1
    return path


def _run(args):
    start = time.perf_counter()
    if args.out is None:
        out = _fresh_folder()
    else:
        out = Path(args.out)
        from astrolens._demo import PRODUCTS

        products = [out / name for name in PRODUCTS.values() if (out / name).exists()]
        if products and not args.overwrite:
            # say it now, not after the simulation
            msg = (f'{out} already holds the products of an earlier demo; pass --overwrite to '
                   'replace them, or leave out --out to write into a fresh folder')
            raise FileExistsError(msg)
    print(f'astrolens demo: writing into {out}/ ({_DURATION})')
    from astrolens._demo import run_demo

    summary = run_demo(out, n_per_class=args.n_per_class, seed=args.seed,
                       classifier=args.classifier, enhancer=args.enhancer,
                       overwrite=args.overwrite, progress=not args.no_progress)
    _print_summary(summary)
    print(f'done in {time.perf_counter() - start:.1f} s')
    return 0


def add_commands(subparsers):
    """Register ``astrolens demo``."""
    demo = subparsers.add_parser(
        'demo', help=f'run the whole pipeline on the shipped models ({_DURATION})',
        description=_DESCRIPTION)
    demo.add_argument('--out', default=None,
                      help='output folder (default: astrolens-demo, or astrolens-demo-2, ... '
                           'when that already has files)')
    demo.add_argument('--n-per-class', type=int, default=4, metavar='N',
                      help='lenses simulated and classified per class (default 4)')
    demo.add_argument('--seed', type=int, default=0,
                      help='seed of the simulations (default 0): the same seed, the same demo')
    demo.add_argument('--classifier', default=_CLASSIFIER,
                      help=f'classifier: shipped name or saved path (default {_CLASSIFIER})')
    demo.add_argument('--enhancer', default=_ENHANCER,
                      help=f'super-resolution model: shipped name or saved path (default '
                           f'{_ENHANCER})')
    demo.add_argument('--overwrite', action='store_true',
                      help='replace the products of an earlier demo in --out')
    demo.add_argument('--no-progress', action='store_true', help='no progress bar')
    demo.set_defaults(func=_run)
