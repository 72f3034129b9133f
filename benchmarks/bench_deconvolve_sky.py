# Licensed under a 3-clause BSD style license - see LICENSE
"""Sky rms of ``enhance(..., deconvolve=True)`` on real ground-based inputs, against bicubic's.

For every SDSS r image of the SDSS/KiDS pairs (``shared/real/more/ground_pairs``, model
``survey-x2``, PSF: the SDSS seeing given as its FWHM, a Moffat profile) and every band
of the real HSC COSMOS cutout (``shared/real/hsc_hst_cosmos``, model ``hsc-hst-x3``, PSF:
the real HSC PSF of the band), prints the sky rms of the bicubic upsampling and, as ratios
to it, those of ``enhance`` without deconvolution, with deconvolution with its sky guard
switched off, and with it. Sky pixels and rms are the guard's own
(`astrolens.models._sr_deconvolve.sky_mask` and ``sky_rms``: 1.4826 MAD over the input's
sky pixels, repeated ``scale x scale``).

    python benchmarks/bench_deconvolve_sky.py [--sets ground,hsc] [--sdss-fwhm 1.3]
"""

import argparse
import sys
import warnings

import numpy as np


def _inputs(root, sets, sdss_fwhm):
    """``(name, image, psf, model)`` of every input of ``sets``."""
    from astropy.io import fits

    if 'ground' in sets:
        for path in sorted((root / 'more' / 'ground_pairs').glob('profit_sdss_r_*.fits')):
            image = np.nan_to_num(np.asarray(fits.getdata(path), dtype=np.float64))
            yield (f'SDSS r {path.stem.replace("profit_sdss_r_", "")}', image,
                   sdss_fwhm / 0.396, 'survey-x2')
    if 'hsc' in sets:
        folder = root / 'hsc_hst_cosmos'
        cube = np.asarray(fits.getdata(folder / 'Cut_HSC.fits'), dtype=np.float64)
        psfs = np.asarray(fits.getdata(folder / 'PSF_HSC.fits'), dtype=np.float64)
        for band, name in enumerate('grizy'):
            yield f'HSC {name}', cube[band], psfs[band] / psfs[band].sum(), 'hsc-hst-x3'


def measure(image, psf, model):
    """Sky rms of bicubic, and ratios to it (with iterations) of the three enhancements."""
    from astrolens.models import _sr_deconvolve
    from astrolens.models._sr_deconvolve import sky_mask, sky_rms
    from astrolens.utils import bicubic_upscale

    s = int(model.scale)
    good = np.isfinite(image)
    sky = np.repeat(np.repeat(sky_mask(image, good), s, axis=0), s, axis=1)
    bicubic = sky_rms(bicubic_upscale(image, s)[sky])
    row = {'bicubic': bicubic}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')     # outside-the-domain notes, the guard's refusals
        plain = model.enhance(image, psf=psf, progress=False)
        row['enhance'] = (sky_rms(np.asarray(plain.data)[sky]) / bicubic, None, None)
        for key, guard in (('unguarded', False), ('guarded', True)):
            _sr_deconvolve._SKY_GUARD = guard
            try:
                out = model.enhance(image, psf=psf, deconvolve=True, progress=False)
            finally:
                _sr_deconvolve._SKY_GUARD = True
            row[key] = (sky_rms(np.asarray(out.data)[sky]) / bicubic,
                        out.meta.get('sr_deconvolve_iterations'),
                        out.meta.get('sr_deconvolve_stop'))
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sets', default='ground,hsc',
                        help='ground (SDSS images of the SDSS/KiDS pairs), hsc (the HSC cutout)')
    parser.add_argument('--sdss-fwhm', type=float, default=1.3,
                        help='SDSS seeing FWHM in arcsec, given as the PSF (default 1.3)')
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args(argv)
    sets = set(args.sets.split(','))
    if sets - {'ground', 'hsc'}:
        parser.error(f'--sets: unknown {sorted(sets - {"ground", "hsc"})}; choose ground, hsc')

    import torch

    from astrolens.datasets._sources import shared_real
    from astrolens.models import SuperResolver

    root = shared_real()
    if root is None:
        print('skipped: shared/real (the real survey files) is absent; set ASTROLENS_SHARED to '
              'the folder that holds real/')
        return 0
    torch.set_num_threads(args.threads)
    models = {}
    print('sky rms of bicubic; the others as ratios to it (deconvolution iterations, stop)')
    print(f'{"input":14s} {"model":11s} {"bicubic":>9s} {"enhance":>8s} '
          f'{"deconvolve, no guard":>22s} {"deconvolve":>26s}')
    for name, image, psf, model_name in _inputs(root, sets, args.sdss_fwhm):
        if model_name not in models:
            models[model_name] = SuperResolver.from_pretrained(model_name, device='cpu')
        row = measure(image, psf, models[model_name])
        before, after = row['unguarded'], row['guarded']
        print(f'{name:14s} {model_name:11s} {row["bicubic"]:9.3g} {row["enhance"][0]:8.2f} '
              f'{before[0]:8.2f} ({before[1]:>3} {before[2]:8s}) '
              f'{after[0]:8.2f} ({after[1]:>3} {after[2]:13s})', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
