# Licensed under a 3-clause BSD style license - see LICENSE
"""``astrolens demo``: the whole pipeline on the shipped models, in seconds on a CPU.

It simulates a few DeepLenseSim Model I lenses of each class and classifies
them; simulates an HSC-like cutout with its HST-like counterpart, writes the
cutout as FITS, enhances it, registers the HST image onto the enhanced grid
for comparison, writes the enhanced FITS and a PNG report, and prints what it
measured.
"""

import time
from pathlib import Path

import numpy as np

__all__ = ['run_demo']

_CLASSIFIER = 'deeplense-model-i'
PRODUCTS = {'lr': 'hsc_cutout.fits', 'sr': 'hsc_cutout_sr.fits', 'png': 'demo_report.png'}
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
    from astrolens.models import LensClassifier, SuperResolver, bicubic_upscale
    from astrolens.models.pretrained import available_models
    from astrolens.preprocessing import register_pair
    from astrolens.simulation import LensSimulator, simulate_sr_pairs
    from astrolens.wcs_utils import pixel_scale

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {key: out / name for key, name in PRODUCTS.items()}
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
    truth = [list(clf.classes_).index(CLASSES[i]) for i in labels]
    summary['truth'] = [CLASSES[i] for i in labels]
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
    summary['registration_shift_arcsec'] = tuple(float(v) for v in pair.shift_arcsec)
    summary['registration_chi2'] = float(pair.consistency())
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
    _write_report(paths['png'], lenses, labels, proba, list(clf.classes_), lr, enhanced, pair,
                  summary, overwrite=overwrite)
    summary['times']['report'] = time.perf_counter() - start
    bar.update()
    bar.close()
    summary['paths'] = {k: str(v) for k, v in paths.items()}
    summary['lr_shape'], summary['sr_shape'] = lr.data.shape, enhanced.data.shape
    summary['lr_scale'] = pixel_scale(lr.wcs)
    summary['sr_scale'] = pixel_scale(enhanced.wcs)
    summary['models'] = {'classifier': classifier, 'enhancer': enhancer}
    return summary


def _wcs_axes(ax, *, dec_labels):
    lon, lat = ax.coords[0], ax.coords[1]
    lon.set_axislabel('RA (ICRS)', fontsize=8)
    lat.set_axislabel('Dec (ICRS)' if dec_labels else '', fontsize=8, minpad=0.3)
    lat.set_ticklabel_visible(dec_labels)
    lon.set_major_formatter('hh:mm:ss.ss')
    lat.set_major_formatter('dd:mm:ss.s')
    lon.set_ticks(number=3)
    lat.set_ticks(number=3)
    lon.set_ticklabel(size=7, exclude_overlapping=True)
    lat.set_ticklabel(size=7, exclude_overlapping=True)


def _write_report(path, lenses, labels, proba, classes, lr, enhanced, pair, metrics, *,
                  overwrite):
    import matplotlib

    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt
    from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval
    from matplotlib.gridspec import GridSpec

    from astrolens.io import CLASSES
    from astrolens.utils import atomic_path
    from astrolens.wcs_utils import pixel_scale

    n = len(lenses)
    n_cols = min(n, 6)
    n_rows = -(-n // n_cols)
    fig = plt.figure(figsize=(16, 2.3 * n_rows + 5.2))
    split = 1 - 2.3 * n_rows / fig.get_figheight()
    top = GridSpec(n_rows, n_cols, figure=fig, top=0.93, bottom=split + 0.03, hspace=0.45)
    bottom = GridSpec(1, 4, figure=fig, top=split - 0.05, bottom=0.12, wspace=0.45)
    for k in range(n):
        r, c = divmod(k, n_cols)
        ax = fig.add_subplot(top[r, c])
        image = lenses[k]
        norm = ImageNormalize(image, interval=PercentileInterval(99.7), stretch=AsinhStretch())
        ax.imshow(image, origin='lower', cmap='magma', norm=norm)
        true, guess = CLASSES[labels[k]], classes[int(np.argmax(proba[k]))]
        ok = classes.index(true) == int(np.argmax(proba[k]))
        ax.set_title(f'true {true}\npredicted {guess} (p={proba[k].max():.2f})', fontsize=8,
                     color='tab:green' if ok else 'tab:red')
        ax.set_xticks([])
        ax.set_yticks([])
    correct = int(sum(classes.index(CLASSES[labels[k]]) == int(np.argmax(proba[k]))
                      for k in range(n)))
    fig.text(0.5, 0.985,
             f'Classification of {n} simulated DeepLenseSim Model I lenses (counts, asinh '
             f'stretch): {correct} of {n} right; green = right, red = wrong',
             ha='center', fontsize=11)

    reference = np.asarray(pair.hr.data, dtype=float) * pair.flux_scale
    residual = np.asarray(enhanced.data, dtype=float) - reference
    unit = 'ct / pixel' if lr.unit is None else f'{lr.unit} / pixel'
    finite = np.concatenate([np.asarray(nd, dtype=float)[np.isfinite(nd)].ravel()
                             for nd in (enhanced.data, reference)])
    fine_norm = ImageNormalize(finite, interval=PercentileInterval(99.7), stretch=AsinhStretch())
    lr_data = np.asarray(lr.data, dtype=float)
    lr_norm = ImageNormalize(lr_data[np.isfinite(lr_data)], interval=PercentileInterval(99.7),
                             stretch=AsinhStretch())
    limit = float(np.nanpercentile(np.abs(residual), 99.5)) or 1.0
    enh, bic = metrics['enhance'], metrics['bicubic']
    panels = [
        (lr_data, lr.wcs, lr_norm, 'magma',
         f'HSC-like input, {pixel_scale(lr.wcs):.3f}"/px'),
        (np.asarray(enhanced.data, float), enhanced.wcs, fine_norm, 'magma',
         f'astrolens x{pair.factor}, {pixel_scale(enhanced.wcs):.3f}"/px\n'
         f'PSNR {enh["psnr"]:.1f} dB, SSIM {enh["ssim"]:.3f} (bicubic {bic["psnr"]:.1f}, '
         f'{bic["ssim"]:.3f})'),
        (reference, pair.hr.wcs, fine_norm, 'magma',
         'truth: HST-like image registered\nonto the same grid'),
        (residual, enhanced.wcs, plt.Normalize(-limit, limit), 'RdBu_r',
         'residual: astrolens - truth\n(linear, symmetric)'),
    ]
    for col, (data, wcs, norm, cmap, title) in enumerate(panels):
        ax = fig.add_subplot(bottom[0, col], projection=wcs)
        im = ax.imshow(data, origin='lower', cmap=cmap, norm=norm)
        ax.set_title(title, fontsize=9)
        _wcs_axes(ax, dec_labels=col == 0)
        bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        scale = pixel_scale(wcs)
        bar.set_label(f'{unit} ({scale:.3f}")', fontsize=8)
        bar.ax.tick_params(labelsize=7)
    fig.text(0.5, 0.02,
             'Super-resolution of a simulated HSC-like cutout toward HST resolution. Images: '
             'asinh stretch over the 99.7% interval (the two fine-grid images share one '
             'scale); residual: linear. PSNR uses the data range of the truth image.',
             ha='center', fontsize=10)
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, dpi=90, bbox_inches='tight')
    plt.close(fig)
