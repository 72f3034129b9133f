# Licensed under a 3-clause BSD style license - see LICENSE
"""``astrolens demo``: the whole pipeline on the shipped models, in under two minutes.

It simulates a few DeepLenseSim Model I lenses of each class and classifies
them; simulates an HSC-like cutout with its HST-like counterpart, writes the
cutout as FITS, enhances it, registers the HST image onto the enhanced grid
for comparison, writes the enhanced FITS and a PNG report, and prints what it
measured.
"""

import time
from pathlib import Path

import numpy as np

__all__ = ['add_commands', 'run_demo']

_CLASSIFIER = 'deeplense-model-i'
_ENHANCER = 'hsc-hst-x3'


def _steps(progress):
    from tqdm.auto import tqdm

    return tqdm(total=5, desc='astrolens demo', unit='step', disable=not progress)


def run_demo(out='astrolens-demo', *, n_per_class=4, seed=0, classifier=_CLASSIFIER,
             enhancer=_ENHANCER, overwrite=False, progress=True):
    """Run the demonstration pipeline and write its products to ``out``.

    Parameters
    ----------
    out : str or `~pathlib.Path`, optional
        Folder for ``hsc_cutout.fits``, ``hsc_cutout_sr.fits`` and
        ``demo_report.png``.
    n_per_class : int, optional
        Model I lenses simulated per class.
    seed : int, optional
    classifier, enhancer : str, optional
        Shipped model names or saved model paths.
    overwrite : bool, optional
        Replace the products of an earlier run.
    progress : bool, optional

    Returns
    -------
    summary : dict
        What was measured: class probabilities, accuracy on the simulated
        lenses, total-flux error of the enhanced cutout, PSNR/SSIM of the
        enhanced and bicubic cutouts against the registered HST image, times.
    """
    from astrolens.io import CLASSES, write_fits
    from astrolens.metrics import image_metrics
    from astrolens.models import LensClassifier
    from astrolens.models._superres import SuperResolver, bicubic_upscale
    from astrolens.models.pretrained import available_models
    from astrolens.preprocessing import register_pair
    from astrolens.simulation import LensSimulator, simulate_sr_pairs

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {'lr': out / 'hsc_cutout.fits', 'sr': out / 'hsc_cutout_sr.fits',
             'png': out / 'demo_report.png'}
    if not overwrite:
        existing = [str(p) for p in paths.values() if p.exists()]
        if existing:
            msg = f'{", ".join(existing)} already exist; pass overwrite=True (--overwrite)'
            raise FileExistsError(msg)
    summary = {'times': {}}
    bar = _steps(progress)

    start = time.perf_counter()
    lenses, labels = [], []
    for label, substructure in enumerate(('none', 'cdm', 'vortex')):
        sim = LensSimulator('model_i', substructure, seed=seed * 10 + label)
        lenses.append(sim.simulate(n_per_class))
        labels += [label] * n_per_class
    lenses, labels = np.concatenate(lenses), np.asarray(labels)
    summary['times']['simulate lenses'] = time.perf_counter() - start
    bar.set_postfix_str('classify')
    bar.update()

    start = time.perf_counter()
    clf = (LensClassifier.from_pretrained(classifier) if classifier in available_models()
           else LensClassifier.load(classifier))
    proba = clf.predict_proba(lenses)
    predicted = proba.argmax(axis=1)
    truth = [clf.classes_.index(CLASSES[i]) for i in labels]
    summary['classes'] = tuple(clf.classes_)
    summary['probabilities'] = proba
    summary['accuracy'] = float(np.mean(predicted == np.asarray(truth)))
    summary['times']['classify'] = time.perf_counter() - start
    bar.set_postfix_str('simulate cutout')
    bar.update()

    start = time.perf_counter()
    lr_list, hr_list = simulate_sr_pairs(1, preset='hsc-hst', seed=seed)
    lr, hr = lr_list[0], hr_list[0]
    write_fits(lr, paths['lr'], overwrite=overwrite)
    pair = register_pair(lr, hr, factor=3)
    summary['registration_shift_lr_px'] = tuple(float(v) for v in pair.shift)
    summary['times']['simulate + register cutout'] = time.perf_counter() - start
    bar.set_postfix_str('enhance')
    bar.update()

    start = time.perf_counter()
    sr_model = (SuperResolver.from_pretrained(enhancer) if enhancer in available_models()
                else SuperResolver.load(enhancer))
    if int(sr_model.scale) != pair.factor:
        pair = register_pair(lr, hr, factor=int(sr_model.scale))
    enhanced = sr_model.enhance(str(paths['lr']), progress=False)
    write_fits(enhanced, paths['sr'], overwrite=overwrite)
    lr_sum, sr_sum = float(np.nansum(lr.data)), float(np.nansum(enhanced.data))
    summary['flux_error'] = abs(sr_sum - lr_sum) / abs(lr_sum)
    reference = np.asarray(pair.hr.data, dtype=float) * pair.flux_scale
    bicubic = bicubic_upscale(np.asarray(lr.data, dtype=float), int(sr_model.scale))
    usable = np.isfinite(reference)
    margin = 3 * int(sr_model.scale)
    usable[:margin], usable[-margin:], usable[:, :margin], usable[:, -margin:] = (False,) * 4
    ys, xs = np.nonzero(usable)
    crop = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    summary['enhance'] = image_metrics(np.asarray(enhanced.data, float)[crop], reference[crop])
    summary['bicubic'] = image_metrics(bicubic[crop], reference[crop])
    summary['times']['enhance'] = time.perf_counter() - start
    bar.set_postfix_str('report')
    bar.update()

    start = time.perf_counter()
    _write_report(paths['png'], lenses, labels, proba, clf.classes_, lr, enhanced, pair,
                  overwrite=overwrite)
    summary['times']['report'] = time.perf_counter() - start
    bar.update()
    bar.close()
    summary['paths'] = {k: str(v) for k, v in paths.items()}
    summary['models'] = {'classifier': classifier, 'enhancer': enhancer}
    return summary


def _write_report(path, lenses, labels, proba, classes, lr, enhanced, pair, *, overwrite):
    import matplotlib

    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt
    from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval

    from astrolens.io import CLASSES
    from astrolens.utils import atomic_path
    from astrolens.wcs_utils import pixel_scale

    fig = plt.figure(figsize=(13, 8.5))
    n_show = 3
    picks = [np.flatnonzero(labels == k)[0] for k in range(n_show)]
    for col, idx in enumerate(picks):
        ax = fig.add_subplot(2, 3, col + 1)
        image = lenses[idx]
        norm = ImageNormalize(image, interval=PercentileInterval(99.7), stretch=AsinhStretch())
        ax.imshow(image, origin='lower', cmap='magma', norm=norm)
        probs = ', '.join(f'{c} {p:.2f}' for c, p in zip(classes, proba[idx], strict=True))
        ax.set_title(f'true: {CLASSES[labels[idx]]}\n{probs}', fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    panels = [(lr, f'HSC-like cutout ({pixel_scale(lr.wcs):.3f}"/px)'),
              (enhanced, f'enhanced x{pair.factor} ({pixel_scale(enhanced.wcs):.3f}"/px)'),
              (pair.hr, 'HST-like, registered onto the same grid')]
    for col, (nd, title) in enumerate(panels):
        ax = fig.add_subplot(2, 3, 4 + col, projection=nd.wcs)
        data = np.asarray(nd.data, dtype=float)
        norm = ImageNormalize(data[np.isfinite(data)], interval=PercentileInterval(99.7),
                              stretch=AsinhStretch())
        ax.imshow(data, origin='lower', cmap='magma', norm=norm)
        ax.set_title(title, fontsize=9)
        ax.coords[0].set_axislabel('RA')
        ax.coords[1].set_axislabel('Dec')
    fig.suptitle('astrolens demo: classification of Model I lenses (top), '
                 'HSC -> HST-grid super-resolution (bottom)')
    fig.subplots_adjust(left=0.06, right=0.98, wspace=0.35, hspace=0.35)
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)


def _print_summary(summary):
    classes = summary['classes']
    proba = summary['probabilities']
    print(f'classified {len(proba)} simulated Model I lenses: accuracy '
          f'{summary["accuracy"]:.0%} (mean probabilities per column: '
          + ', '.join(f'{c} {p:.2f}' for c, p in zip(classes, proba.mean(0), strict=True))
          + ')')
    shift = summary['registration_shift_lr_px']
    print(f'registered the HST-like image: residual shift ({shift[0]:+.3f}, {shift[1]:+.3f}) '
          'LR px corrected')
    enh, bic = summary['enhance'], summary['bicubic']
    print(f'enhanced cutout: total-flux error {summary["flux_error"]:.2e}; against the '
          f'registered HST image PSNR {enh["psnr"]:.2f} dB / SSIM {enh["ssim"]:.3f} '
          f'(bicubic {bic["psnr"]:.2f} dB / {bic["ssim"]:.3f})')
    print('times: ' + ', '.join(f'{k} {v:.1f} s' for k, v in summary['times'].items()))
    print('wrote ' + ', '.join(summary['paths'].values()))


def _run(args):
    start = time.perf_counter()
    summary = run_demo(args.out, n_per_class=args.n_per_class, seed=args.seed,
                       classifier=args.classifier, enhancer=args.enhancer,
                       overwrite=args.overwrite, progress=not args.no_progress)
    _print_summary(summary)
    print(f'done in {time.perf_counter() - start:.1f} s')
    return 0


def add_commands(subparsers):
    """Register ``astrolens demo``."""
    demo = subparsers.add_parser(
        'demo', help='run the whole pipeline on the shipped models (about a minute)',
        description=__doc__.split('\n\n')[1].replace('\n', ' '))
    demo.add_argument('--out', default='astrolens-demo', help='output folder')
    demo.add_argument('--n-per-class', type=int, default=4)
    demo.add_argument('--seed', type=int, default=0)
    demo.add_argument('--classifier', default=_CLASSIFIER, help='model name or path')
    demo.add_argument('--enhancer', default=_ENHANCER, help='model name or path')
    demo.add_argument('--overwrite', action='store_true')
    demo.add_argument('--no-progress', action='store_true')
    demo.set_defaults(func=_run)
