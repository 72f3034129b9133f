# Licensed under a 3-clause BSD style license - see LICENSE
"""Speed and fidelity of astrolens.simulation against a naive DeepLenseSim-style baseline.

Prints, on one core: images/s per class for the naive baseline (new
lenstronomy objects per image, one POINT_MASS profile per subhalo, as
DeepLenseSim does) and for `LensSimulator`, their ratio; Model I statistics
against the DeepLenseSim reference figures; and workers=1 vs workers=2
throughput of `simulate_classification_set`.

    python benchmarks/bench_simulation.py --n 200 --n-stats 1000
"""

import os

for _name in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[_name] = '1'

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

REFERENCE = os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'reference',
                         'deeplensesim_model_i_sample.npz')
QUOTED = {'total': 4.25e5, 'peak': 450.0, 'sky': 7.5, 'sky_std': 11.2}


def naive_image(sub, rng_np):
    """One Model I image the way DeepLenseSim makes it: everything rebuilt per image."""
    import lenstronomy.Util.image_util as image_util
    from lenstronomy.Data.imaging_data import ImageData
    from lenstronomy.Data.psf import PSF
    from lenstronomy.ImSim.image_model import ImageModel
    from lenstronomy.LensModel.lens_model import LensModel
    from lenstronomy.LightModel.light_model import LightModel
    from lenstronomy.Util import util

    from astrolens.simulation._physics import einstein_radius, sample_cdm_masses

    lens_list = ['SIE', 'SHEAR']
    kwargs_lens = [{'theta_E': einstein_radius(1e12), 'e1': 0.1, 'e2': 0, 'center_x': 0,
                    'center_y': 0}, {'gamma1': 0.05, 'gamma2': 0}]
    if sub == 'cdm':
        masses = sample_cdm_masses(np.random.default_rng(rng_np.randint(2 ** 31)), 25)
        for theta in einstein_radius(masses):
            r, th = rng_np.uniform(0.25, 2.0), rng_np.uniform(0, 2 * np.pi)
            lens_list.append('POINT_MASS')
            kwargs_lens.append({'theta_E': theta, 'center_x': r * np.sin(th),
                                'center_y': r * np.cos(th)})
    elif sub == 'vortex':
        axion = 10 ** rng_np.uniform(-24, -22)
        half = 0.06e-22 / (2 * axion)
        coords = np.linspace(-half, half, 100)
        angle = 2 * np.pi * rng_np.random()
        theta = einstein_radius(3e10 / 100)
        for c in coords:
            lens_list.append('POINT_MASS')
            kwargs_lens.append({'theta_E': theta, 'center_x': c * np.cos(angle),
                                'center_y': c * np.sin(angle)})
    lens_model = LensModel(lens_list)
    cx, cy = rng_np.uniform(-0.35, 0.35, 2)
    kwargs_source = [{'amp': 20, 'R_sersic': 0.25, 'n_sersic': 1, 'e1': -0.1, 'e2': 0.1,
                      'center_x': cx, 'center_y': cy}]
    exp_time = 10 ** rng_np.uniform(3, 3.5)
    _, _, ra0, dec0, _, _, pix2angle, _ = util.make_grid_with_coordtransform(
        num_pix=150, delta_pix=0.05, center_ra=0, center_dec=0, subgrid_res=1, inverse=False)
    data = ImageData(background_rms=0.01, exposure_time=exp_time, ra_at_xy_0=ra0,
                     dec_at_xy_0=dec0, transform_pix2angle=pix2angle,
                     image_data=np.zeros((150, 150)))
    psf = PSF(psf_type='GAUSSIAN', fwhm=0.087, pixel_size=0.05, truncation=3)
    model = ImageModel(data, psf, lens_model_class=lens_model,
                       source_model_class=LightModel(['SERSIC_ELLIPSE']),
                       kwargs_numerics={'supersampling_factor': 1,
                                        'supersampling_convolution': False})
    image = model.image(kwargs_lens, kwargs_source)
    poisson = image_util.add_poisson(image, exp_time=exp_time)
    bkg = image_util.add_background(image, sigma_bkd=0.01)
    return rng_np.poisson(np.clip(exp_time * (image + poisson + bkg), 0, None))


def stats(images):
    images = np.asarray(images, dtype=float)
    corners = np.concatenate([images[:, :20, :20], images[:, :20, -20:],
                              images[:, -20:, :20], images[:, -20:, -20:]], axis=1)
    totals = images.sum(axis=(1, 2))
    peaks = images.max(axis=(1, 2))
    return {'total': totals.mean(), 'total_std': totals.std(), 'peak': peaks.mean(),
            'peak_std': peaks.std(), 'sky': corners.mean(),
            'sky_std': corners.std(axis=(1, 2)).mean()}


def rate(func, n):
    """Images per second of wall time and of this process's CPU time.

    On a shared machine the CPU-time rate is the fairer per-core figure.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    func(n)
    return n / (time.perf_counter() - wall), n / (time.process_time() - cpu)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--n', type=int, default=200, help='images per class for speed')
    parser.add_argument('--n-naive', type=int, default=None,
                        help='images per class for the baseline (default: n / 4)')
    parser.add_argument('--n-stats', type=int, default=1000, help='images per class for stats')
    parser.add_argument('--n-workers', type=int, default=None,
                        help='images per class for the workers test (default: n)')
    args = parser.parse_args(argv)
    n_naive = args.n_naive or max(10, args.n // 4)

    from astrolens.simulation import LensSimulator, simulate_classification_set

    print(f'== speed, one core (images/s; {args.n} fast / {n_naive} naive per class)')
    print('wall-clock and, in brackets, per CPU-second of this process; the original '
          'DeepLenseSim code: 58 / 52 / 28 images/s')
    print(f'{"class":8s} {"naive":>16s} {"astrolens":>16s} {"ratio":>12s}  goal (4x original)')
    goals = {'none': 230, 'cdm': 210, 'vortex': 110}
    for sub in ('none', 'cdm', 'vortex'):
        rng_np = np.random.RandomState(0)
        naive_image(sub, rng_np)  # warm up imports
        naive = rate(lambda n, sub=sub, rng_np=rng_np: [naive_image(sub, rng_np) for _ in range(n)],
                     n_naive)
        sim = LensSimulator('model_i', sub, seed=0)
        sim.simulate(2)
        fast = rate(sim.simulate, args.n)
        print(f'{sub:8s} {naive[0]:7.1f} ({naive[1]:6.1f}) {fast[0]:7.1f} ({fast[1]:6.1f}) '
              f'{fast[0] / naive[0]:4.1f}x ({fast[1] / naive[1]:4.1f}x)  >= {goals[sub]}')

    print(f'\n== Model I statistics, {args.n_stats} per class (within 10% of the reference?)')
    ours = {sub: LensSimulator('model_i', sub, seed=1).simulate(args.n_stats)
            for sub in ('none', 'cdm', 'vortex')}
    rows = {'astrolens': stats(np.concatenate(list(ours.values())))}
    if os.path.exists(REFERENCE):
        rows['DeepLenseSim npz'] = stats(np.load(REFERENCE)['images'])
    rows['quoted (1000/cls)'] = {**QUOTED, 'total_std': 1.5e5, 'peak_std': 140.0}
    keys = ('total', 'total_std', 'peak', 'peak_std', 'sky', 'sky_std')
    print(f'{"":18s}' + ''.join(f'{k:>12s}' for k in keys))
    for name, row in rows.items():
        print(f'{name:18s}' + ''.join(f'{row[k]:12.4g}' for k in keys))
    for name, row in rows.items():
        if name == 'astrolens':
            continue
        ok = all(abs(rows['astrolens'][k] / row[k] - 1) <= 0.10 for k in QUOTED)
        print(f'within 10% of {name} (total, peak, sky, sky_std): {"yes" if ok else "NO"}')
    for sub, images in ours.items():
        s = stats(images)
        print(f'  {sub:7s} total {s["total"]:.4g}  peak {s["peak"]:.4g}  sky {s["sky"]:.3g}  '
              f'sky_std {s["sky_std"]:.3g}')

    n_workers = args.n_workers or args.n
    print(f'\n== workers (simulate_classification_set, {n_workers} per class, model_i)')
    print(f'CPUs: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.1f}')
    base = None
    for workers in (1, 2):
        start = time.perf_counter()
        simulate_classification_set(n_workers, seed=0, workers=workers)
        speed = 3 * n_workers / (time.perf_counter() - start)
        base = base or speed
        print(f'workers={workers}: {speed:7.1f} images/s wall ({speed / base:.2f}x)')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
