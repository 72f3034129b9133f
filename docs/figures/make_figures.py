# Licensed under a 3-clause BSD style license - see LICENSE
"""Make the figures that open the user-guide pages (PNGs in ``docs/_static``).

Run from the repository root, after ``pip install .``::

    python docs/figures/make_figures.py            # all figures
    python docs/figures/make_figures.py superres   # one of them

Every figure uses the models shipped with the package on the sample images
shipped with it (`astrolens.datasets.sample_path`) or on freshly simulated
lenses, so it can be remade from a checkout alone in under a minute of CPU.
Each is drawn 7.2 inches wide with text of at least 10 points: the pages
show it at about that width, so the text stays legible there.
"""

import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from astropy import units as u  # noqa: E402
from astropy.io import fits  # noqa: E402
from astropy.nddata import NDData  # noqa: E402
from astropy.wcs import WCS  # noqa: E402
from matplotlib.colors import AsinhNorm  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / '_static'
WIDTH = 7.2            # inches: about the width the pages show an image at
FONT = 11              # points, at that width
CMAP = 'RdBu_r'        # white sky, red sources; a residual shows both signs

plt.rcParams.update({'font.size': FONT, 'axes.titlesize': FONT, 'axes.labelsize': FONT,
                     'xtick.labelsize': FONT - 1, 'ytick.labelsize': FONT - 1,
                     'figure.dpi': 100, 'savefig.dpi': 150})


def _scale_bar(ax, pixel_scale, arcsec=1.0, *, color='k'):
    """A bar of ``arcsec`` in the lower left corner of an image of ``pixel_scale`` "/px."""
    ny, nx = ax.images[0].get_array().shape
    length = arcsec / pixel_scale
    x0, y0 = 0.06 * nx, 0.07 * ny
    ax.plot([x0, x0 + length], [y0, y0], color=color, lw=3, solid_capstyle='butt')
    ax.text(x0 + length / 2, y0 + 0.04 * ny, f'{arcsec:g}"', color=color, ha='center',
            va='bottom', fontsize=FONT)


def _panels(images, titles, scales, *, unit, vmax, linear_width, name, bars=None):
    """One row of images on one asinh colour scale, a shared colorbar, a scale bar each.

    ``images`` are in the same unit (``unit``, per arcsec^2 or per pixel of one
    grid); ``scales`` their pixel scales in arcsec.
    """
    n = len(images)
    fig, axes = plt.subplots(1, n, figsize=(WIDTH, WIDTH / n + 0.95), layout='constrained')
    norm = AsinhNorm(linear_width=linear_width, vmin=-vmax, vmax=vmax)
    for k, (ax, im, title, scale) in enumerate(zip(axes, images, titles, scales, strict=True)):
        shown = ax.imshow(im, origin='lower', cmap=CMAP, norm=norm, interpolation='nearest')
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
        if bars is None or bars[k]:
            _scale_bar(ax, scale)
    bar = fig.colorbar(shown, ax=axes, orientation='horizontal', fraction=0.08, aspect=40,
                       pad=0.03)
    bar.set_label(unit)
    step = 10 ** np.floor(np.log10(vmax))
    top = np.floor(vmax / step) * step
    ticks = [-top, -top / 10, 0, top / 10, top]
    bar.set_ticks(ticks)
    bar.set_ticklabels([f'{t:g}' for t in ticks])
    path = OUT / f'{name}.png'
    fig.savefig(path)
    plt.close(fig)
    print(f'wrote {path} ({path.stat().st_size / 1024:.0f} KiB)')


def _hsc_hst_pair(band=2):
    """The real HSC (band i) / HST F814W COSMOS sample pair, HST registered on the x3 grid.

    The same steps as `astrolens.datasets.hsc_hst_real_pair` (the benchmark's
    pair), read from the shipped samples.
    """
    from astrolens.datasets import sample_path
    from astrolens.preprocessing import register_pair

    with fits.open(sample_path('hsc-cosmos')) as f:
        hsc = np.asarray(f[0].data[band], dtype=np.float64)
        wcs_hsc = WCS(f[0].header).celestial
    with fits.open(sample_path('hst-cosmos')) as f:
        hst = np.asarray(f[0].data, dtype=np.float64)
        wcs_hst = WCS(f[0].header).celestial
    psf_hsc = np.asarray(fits.getdata(sample_path('hsc-cosmos-psf'))[band], dtype=np.float64)
    psf_hst = np.asarray(fits.getdata(sample_path('hst-cosmos-psf')), dtype=np.float64)
    pair = register_pair(NDData(hsc, wcs=wcs_hsc), NDData(hst, wcs=wcs_hst), factor=3,
                         lr_psf=psf_hsc, hr_psf=psf_hst)
    lr = np.asarray(pair.lr.data, dtype=np.float64)
    hr = np.asarray(pair.hr.data, dtype=np.float64)
    footprint = np.isfinite(hr)
    blocks = footprint.reshape(lr.shape[0], 3, lr.shape[1], 3).all(axis=(1, 3))
    hr_sum = np.nansum(hr.reshape(lr.shape[0], 3, lr.shape[1], 3), axis=(1, 3))
    lr_med = np.median(lr[blocks])
    hr_med = np.median(hr_sum[blocks])
    # the HST image on the HSC photometric scale (a ratio of sums over its footprint)
    gain = np.sum(lr[blocks] - lr_med) / np.sum(hr_sum[blocks] - hr_med)
    truth = (hr - hr_med / 9.0) * gain + lr_med / 9.0
    return pair, lr, truth, blocks, psf_hsc


def _crop_to(blocks):
    """Slices of the LR grid (and of the x3 grid) covering the HST footprint."""
    rows = np.flatnonzero(blocks.any(axis=1))
    cols = np.flatnonzero(blocks.any(axis=0))
    r0, r1 = rows[0] + 1, rows[-1]
    c0, c1 = cols[0] + 1, cols[-1]
    return (slice(r0, r1), slice(c0, c1)), (slice(3 * r0, 3 * r1), slice(3 * c0, 3 * c1))


def superres():
    """Real HSC i | hsc-hst-x3 output | real HST truth | output - truth."""
    from astrolens import SuperResolver
    from astrolens.metrics import psnr
    from astrolens.models import bicubic_upscale

    pair, lr, truth, blocks, _ = _hsc_hst_pair()
    sr = SuperResolver.from_pretrained('hsc-hst-x3')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        out = np.asarray(sr.enhance(NDData(lr, wcs=pair.lr.wcs), progress=False).data)
    lo, hi = _crop_to(blocks)
    a_lr, a_hr = 0.168 ** 2, 0.056 ** 2
    lr_c, out_c, truth_c = lr[lo] / a_lr, out[hi] / a_hr, truth[hi] / a_hr
    bic = np.asarray(bicubic_upscale(lr, 3))[hi] / a_hr
    print(f'superres: {np.isfinite(truth_c).mean():.3f} of the crop covered; PSNR there: '
          f'model {psnr(out_c, truth_c):.2f} dB, bicubic {psnr(bic, truth_c):.2f} dB '
          '(the table: the benchmark over the whole pair)')
    vmax = float(np.nanpercentile(truth_c, 99.8))
    _panels([lr_c, out_c, truth_c, out_c - truth_c],
            ['HSC i (input)', 'hsc-hst-x3', 'HST F814W (truth)', 'output − truth'],
            [0.168, 0.056, 0.056, 0.056],
            unit='HSC i-band flux per arcsec$^2$ (image units)', vmax=vmax,
            linear_width=vmax / 8, name='superres_hsc_hst')


def registration():
    """Real HSC i | HST registered on 3x its grid | that HST seen as HSC | HSC - it."""
    from scipy.signal import fftconvolve

    pair, lr, truth, blocks, _ = _hsc_hst_pair()
    lo, hi = _crop_to(blocks)
    hr = np.where(np.isfinite(truth), truth, 0.0)
    seen = fftconvolve(hr, pair.psf_kernel, mode='same')
    n0, n1 = lr.shape
    seen = seen.reshape(n0, 3, n1, 3).sum(axis=(1, 3))
    # a free scale and background, as `RegisteredPair.consistency` fits them
    design = np.stack([seen[lo].ravel(), np.ones(seen[lo].size)], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, lr[lo].ravel(), rcond=None)
    seen = a * seen + b
    a_lr, a_hr = 0.168 ** 2, 0.056 ** 2
    lr_c, truth_c, seen_c = lr[lo] / a_lr, truth[hi] / a_hr, seen[lo] / a_lr
    print(f'registration: shift {pair.shift} LR px, flux ratio {pair.flux_ratio:.4f}, '
          f'reduced chi2 {pair.consistency():.2f}, fitted scale {a:.3f}')
    vmax = float(np.nanpercentile(truth_c, 99.8))
    _panels([lr_c, truth_c, seen_c, lr_c - seen_c],
            ['HSC i (reference)', 'HST on 3x grid', 'HST seen as HSC', 'HSC \u2212 HST seen'],
            [0.168, 0.056, 0.168, 0.168],
            unit='HSC i-band flux per arcsec$^2$ (image units)', vmax=vmax,
            linear_width=vmax / 8, name='registration_hsc_hst')


def simulation():
    """Model I, one scene, noise-free: no substructure | CDM | CDM - none | vortex - none."""
    from astrolens.simulation import LensSimulator

    images = {}
    for kind in ('none', 'cdm', 'vortex'):
        sim = LensSimulator('model_i', kind, seed=7, noise=False)
        image, meta = sim.render(np.random.default_rng(5), source_center=(0.12, -0.08))
        images[kind] = image / meta['exposure_time']       # counts per second per pixel
    area = 0.05 ** 2
    shown = [images['none'] / area, images['cdm'] / area,
             (images['cdm'] - images['none']) / area, (images['vortex'] - images['none']) / area]
    vmax = float(np.percentile(shown[0], 99.9))
    _panels(shown, ['no substructure', 'CDM subhalos', 'CDM − none', 'vortex − none'],
            [0.05] * 4, unit='counts s$^{-1}$ arcsec$^{-2}$ (noise-free Model I)', vmax=vmax,
            linear_width=vmax / 5, name='simulation_classes')


def classification():
    """One simulated Model I lens per class, each with the shipped classifier's probabilities."""
    from astrolens.models import LensClassifier
    from astrolens.simulation import LensSimulator

    clf = LensClassifier.from_pretrained('deeplense-model-i')
    kinds = {'no': 'none', 'cdm': 'cdm', 'vortex': 'vortex'}
    images = np.stack([LensSimulator('model_i', kinds[c], seed=11 + k).simulate(1)[0]
                       for k, c in enumerate(clf.classes_)])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        proba = clf.predict_proba(images)
    fig = plt.figure(figsize=(WIDTH, 4.1), layout='constrained')
    grid = fig.add_gridspec(2, 3, height_ratios=[2.4, 1])
    vmax = float(np.percentile(images, 99.9))
    norm = AsinhNorm(linear_width=vmax / 20, vmin=0, vmax=vmax)
    for k, truth in enumerate(clf.classes_):
        ax = fig.add_subplot(grid[0, k])
        shown = ax.imshow(images[k], origin='lower', cmap='magma', norm=norm,
                          interpolation='nearest')
        ax.set_title(f'true class: {truth}')
        ax.set_xticks([])
        ax.set_yticks([])
        _scale_bar(ax, 0.05, color='w')
        bars = fig.add_subplot(grid[1, k])
        colors = ['tab:green' if c == truth else 'tab:gray' for c in clf.classes_]
        bars.barh(range(3), proba[k], color=colors)
        bars.set_yticks(range(3), clf.classes_)
        bars.invert_yaxis()
        bars.set_xlim(0, 1)
        bars.set_xticks([0, 0.5, 1])
        bars.set_xlabel('probability')
        for j, p in enumerate(proba[k]):
            bars.text(min(p + 0.03, 0.75), j, f'{p:.2f}', va='center', fontsize=FONT - 1)
    bar = fig.colorbar(shown, ax=fig.axes[::2], orientation='vertical', fraction=0.05,
                       pad=0.02, shrink=0.9)
    ticks = [t for t in (0, 10, 30, 100, 300, 1000) if t <= vmax]
    bar.set_ticks(ticks)
    bar.set_ticklabels([str(t) for t in ticks])
    bar.set_label('counts per 0.05" pixel')
    path = OUT / 'classification_model_i.png'
    fig.savefig(path)
    plt.close(fig)
    print(f'classification: probabilities {np.round(proba, 3).tolist()}')
    print(f'wrote {path} ({path.stat().st_size / 1024:.0f} KiB)')


def data_model():
    """The same sky on three grids: HSC input, its x3 output and the HST image, on WCS axes."""
    from astrolens import SuperResolver
    from astrolens.datasets import sample_path

    pair, lr, truth, blocks, _ = _hsc_hst_pair()
    sr = SuperResolver.from_pretrained('hsc-hst-x3')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        out = sr.enhance(NDData(lr, wcs=pair.lr.wcs), progress=False)
    with fits.open(sample_path('hst-cosmos')) as f:
        hst = np.asarray(f[0].data, dtype=np.float64)
        wcs_hst = WCS(f[0].header).celestial
    # the HST image on the HSC flux scale, per arcsec^2: the same linear map as the truth's
    ok = np.isfinite(truth)
    design = np.stack([np.asarray(pair.hr.data)[ok], np.ones(ok.sum())], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, truth[ok], rcond=None)
    hst_sb = (a * hst + b * (0.03 / 0.056) ** 2) / 0.03 ** 2
    images = [(lr / 0.168 ** 2, pair.lr.wcs, 'HSC i, 0.168"/px'),
              (np.asarray(out.data) / 0.056 ** 2, out.wcs, 'hsc-hst-x3, 0.056"/px'),
              (hst_sb, wcs_hst, 'HST F814W, 0.03"/px')]
    peak = np.unravel_index(np.nanargmax(np.where(ok, truth, -np.inf)), truth.shape)
    knot = out.wcs.pixel_to_world(peak[1], peak[0])
    vmax = float(np.nanpercentile(truth / 0.056 ** 2, 99.8))
    norm = AsinhNorm(linear_width=vmax / 8, vmin=-vmax, vmax=vmax)
    fig = plt.figure(figsize=(WIDTH, 3.55), layout='constrained')
    axes = []
    for k, (data, wcs, title) in enumerate(images):
        ax = fig.add_subplot(1, 3, k + 1, projection=wcs)
        shown = ax.imshow(data, origin='lower', cmap=CMAP, norm=norm, interpolation='nearest')
        ax.plot_coord(knot, marker='o', mfc='none', color='k', markersize=14, mew=1.5)
        ax.coords.grid(color='0.4', ls=':', lw=0.8)
        ra, dec = ax.coords[0], ax.coords[1]
        ra.set_major_formatter('hh:mm:ss.s')
        dec.set_major_formatter('dd:mm:ss')
        ra.set_ticks(spacing=0.2 * 15 * u.arcsec)
        dec.set_ticks(spacing=3 * u.arcsec)
        ra.set_ticklabel(exclude_overlapping=True)
        ra.set_axislabel('RA')
        if k == 0:
            dec.set_axislabel('Dec')
        else:
            dec.set_ticklabel_visible(False)
            dec.set_axislabel('')
        ax.set_title(title)
        # the same sky window in every panel: the HST footprint
        corners = wcs_hst.pixel_to_world([0, hst.shape[1] - 1], [0, hst.shape[0] - 1])
        x, y = wcs.world_to_pixel(corners)
        ax.set_xlim(min(x), max(x))
        ax.set_ylim(min(y), max(y))
        axes.append(ax)
    bar = fig.colorbar(shown, ax=axes, orientation='horizontal', fraction=0.07, aspect=40,
                       pad=0.02)
    bar.set_label('HSC i-band flux per arcsec$^2$ (image units)')
    step = 10 ** np.floor(np.log10(vmax))
    top = np.floor(vmax / step) * step
    ticks = [-top, -top / 10, 0, top / 10, top]
    bar.set_ticks(ticks)
    bar.set_ticklabels([f'{t:g}' for t in ticks])
    path = OUT / 'data_model_wcs.png'
    fig.savefig(path)
    plt.close(fig)
    print(f'data_model: the knot at {knot.to_string("hmsdms")}')
    print(f'wrote {path} ({path.stat().st_size / 1024:.0f} KiB)')


FIGURES = {'superres': superres, 'registration': registration, 'simulation': simulation,
           'classification': classification, 'data_model': data_model}

if __name__ == '__main__':
    OUT.mkdir(exist_ok=True)
    for name in sys.argv[1:] or FIGURES:
        FIGURES[name]()
