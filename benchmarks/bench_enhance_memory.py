# Licensed under a 3-clause BSD style license - see LICENSE
"""Memory of a large FITS enhanced through the CLI, and the cost of tiling.

Prints the peak resident memory of ``astrolens enhance`` on a ``--size``
square FITS image (default 4096x4096, goal: under 3 GB), its wall time, and
the time of tiled against untiled inference on a 512x512 image (goal: tiling
overhead under 15 %), with the largest difference between the two results.
``--deconvolve`` enhances with ``--psf-fwhm 3 --deconvolve`` instead (the
Richardson-Lucy iterations hold a few output-sized arrays at once).

    python benchmarks/bench_enhance_memory.py --size 4096 --model survey-x2
    python benchmarks/bench_enhance_memory.py --size 2048 --skip-tiling --deconvolve
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def sky_image(size, seed):
    """Galaxies (Gaussian blobs) on a noisy sky, in counts per pixel."""
    rng = np.random.default_rng(seed)
    image = rng.normal(20.0, 3.0, (size, size)).astype(np.float32)
    n = max(1, size * size // 4000)
    ys, xs = rng.uniform(0, size, (2, n))
    amps, sigmas = rng.lognormal(4, 1, n), rng.uniform(1, 4, n)
    for y, x, a, s in zip(ys, xs, amps, sigmas, strict=True):
        y0, y1 = int(max(0, y - 5 * s)), int(min(size, y + 5 * s + 1))
        x0, x1 = int(max(0, x - 5 * s)), int(min(size, x + 5 * s + 1))
        yy, xx = np.mgrid[y0:y1, x0:x1]
        image[y0:y1, x0:x1] += a * np.exp(-0.5 * ((yy - y) ** 2 + (xx - x) ** 2) / s ** 2)
    return image


def cli_memory(size, model, tile, seed, extra=()):
    from astrolens.io import make_wcs, write_fits

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / 'big.fits', Path(tmp) / 'big_sr.fits'
        write_fits((sky_image(size, seed), make_wcs((size, size), 0.168)), src)
        start = time.perf_counter()
        cmd = [sys.executable, '-m', 'astrolens.cli', 'enhance', str(src), '-o', str(dst),
               '--model', model, '--tile', str(tile), *extra]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        out_bytes = dst.stat().st_size
    return peak_kib / 1024 ** 2, wall, out_bytes / 1024 ** 2


def tiling_overhead(model, seed, repeats):
    from astrolens.models import SuperResolver

    sr = SuperResolver.from_pretrained(model)
    image = sky_image(512, seed + 1)
    sr.enhance(image[:64, :64], progress=False)  # warm-up
    timings = {}
    results = {}
    for name, tile in (('untiled', 2048), ('tiled', 256)):
        best = np.inf
        for _ in range(repeats):
            start = time.perf_counter()
            results[name] = sr.enhance(image, tile=tile, progress=False).data
            best = min(best, time.perf_counter() - start)
        timings[name] = best
    span = float(results['untiled'].max() - results['untiled'].min())
    diff = float(np.abs(results['tiled'] - results['untiled']).max()) / span
    return timings, diff


def report_tiling(args):
    """Print the time of tiled against untiled inference and the halo cost of tiling."""
    timings, diff = tiling_overhead(args.model, args.seed, args.repeats)
    overhead = timings['tiled'] / timings['untiled'] - 1
    print(f'512x512 with {args.model}: untiled {timings["untiled"]:.2f} s, forced into '
          f'tiles of at most 256 px {timings["tiled"]:.2f} s -> overhead {overhead:+.1%}; '
          f'max |tiled - untiled| = {diff:.1e} of the range (goal < 1e-5). At the default '
          'tile (512) this image is not tiled at all.')
    from astrolens.models._tiling import tile_windows

    for size in (1024, 4096):
        windows = tile_windows((size, size), tile=args.tile, overlap=22)
        side = windows[0][0][0].stop - windows[0][0][0].start
        extra = len(windows) * side ** 2 / size ** 2 - 1
        print(f'{size}x{size} at tile {args.tile}: {len(windows)} tiles of {side} px, '
              f'{extra:+.1%} pixels computed (the halo cost of tiling)')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=4096)
    parser.add_argument('--model', default='survey-x2')
    parser.add_argument('--tile', type=int, default=512)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--skip-cli', action='store_true')
    parser.add_argument('--skip-tiling', action='store_true')
    parser.add_argument('--deconvolve', action='store_true',
                        help='enhance with --psf-fwhm 3 --deconvolve')
    args = parser.parse_args()
    import torch

    print(f'torch threads: {torch.get_num_threads()}  (OMP_NUM_THREADS='
          f'{os.environ.get("OMP_NUM_THREADS", "unset")})')
    if not args.skip_tiling:
        report_tiling(args)
    if not args.skip_cli:
        extra = ('--psf-fwhm', '3', '--deconvolve') if args.deconvolve else ()
        peak, wall, out_mb = cli_memory(args.size, args.model, args.tile, args.seed, extra)
        how = ' --psf-fwhm 3 --deconvolve' if args.deconvolve else ''
        print(f'astrolens enhance{how} on {args.size}x{args.size}: peak memory {peak:.2f} GiB '
              f'(goal < 3 GB), {wall:.0f} s, output {out_mb:.0f} MiB')


if __name__ == '__main__':
    main()
