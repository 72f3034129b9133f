# Licensed under a 3-clause BSD style license - see LICENSE
"""Throughput of ``astrolens.batch.enhance_many`` on many small cutouts.

Writes ``--n`` (default 1000) seeded ``--size`` x ``--size`` FITS cutouts
(galaxies on a noisy sky, TAN WCS at 0.168"/px), then for each number of
workers in ``--workers`` (default 1 and 2) starts a local cluster, loads the
model on every worker, and enhances all the cutouts into a fresh folder;
prints the start-up time, the throughput (images/s) and whether the manifest
is complete, then the ratio of the throughputs. ``--chunk-sizes`` compares
files per task (``auto`` is the default of enhance_many; 1 is one task per
file) on the same cluster.

    python benchmarks/bench_batch.py [--n 1000] [--size 32] [--workers 1 2]
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from astrolens.batch import enhance_many
from astrolens.io import make_wcs, write_fits


def write_cutouts(folder, n, size, seed):
    """``n`` cutouts of one to three Gaussian galaxies on a noisy sky, in counts."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        image = rng.normal(20.0, 3.0, (size, size))
        for _ in range(rng.integers(1, 4)):
            y, x = rng.uniform(0, size, 2)
            sigma, amp = rng.uniform(1, 3), rng.lognormal(4, 1)
            image += amp * np.exp(-0.5 * ((yy - y) ** 2 + (xx - x) ** 2) / sigma ** 2)
        wcs = make_wcs((size, size), 0.168, ra=150 + rng.uniform(-1, 1),
                       dec=2 + rng.uniform(-1, 1))
        write_fits((image.astype(np.float32), wcs), folder / f'cutout{i:05d}.fits',
                   overwrite=True)
    return folder


def run(in_dir, out_root, workers, chunk_sizes, model):
    from distributed import Client, LocalCluster

    from astrolens.batch._worker import get_model

    rows = []
    start = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.run(get_model, 'sr', model)  # import torch and load the model everywhere
        startup = time.perf_counter() - start
        for chunk in chunk_sizes:
            out = out_root / f'{workers}w-chunk{chunk}'
            t0 = time.perf_counter()
            table = enhance_many(in_dir, out, client=client, model=model, progress=False,
                                 chunk_size=None if chunk == 'auto' else int(chunk))
            wall = time.perf_counter() - t0
            complete = (len(table) == len(list(in_dir.glob('*.fits')))
                        and table.meta['n_done'] == len(table)
                        and (out / 'manifest.ecsv').is_file())
            rows.append({'workers': workers, 'chunk': chunk, 'startup': startup, 'wall': wall,
                         'rate': len(table) / wall, 'files': len(table),
                         'done': int(table.meta['n_done']), 'complete': complete,
                         'per_file': float(np.median(table['seconds']))})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--n', type=int, default=1000)
    parser.add_argument('--size', type=int, default=32)
    parser.add_argument('--workers', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--chunk-sizes', nargs='+', default=['auto'],
                        help="files per task to compare, e.g. 'auto 1'")
    parser.add_argument('--model', default='survey-x2')
    parser.add_argument('--dir', default=None, help='keep inputs and outputs here')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.dir) if args.dir else Path(tmp)
        in_dir = root / f'in-{args.n}-{args.size}'
        t0 = time.perf_counter()
        if len(list(in_dir.glob('*.fits'))) != args.n:
            write_cutouts(in_dir, args.n, args.size, args.seed)
        print(f'{args.n} cutouts of {args.size}x{args.size} px in {in_dir} '
              f'({time.perf_counter() - t0:.1f} s to write); model {args.model}; '
              f'{os.cpu_count()} CPUs, load average before: '
              + ' '.join(f'{x:.2f}' for x in os.getloadavg()))
        out_root = root / f'out-{time.strftime("%Y%m%d-%H%M%S")}'
        rows = []
        for workers in args.workers:
            rows += run(in_dir, out_root, workers, args.chunk_sizes, args.model)
        print(f'{"workers":>7} {"chunk":>6} {"start s":>8} {"wall s":>7} {"images/s":>9} '
              f'{"median s/file":>14} {"manifest":>16}')
        for r in rows:
            manifest = f'{r["done"]}/{r["files"]} done' + ('' if r['complete'] else ' (!)')
            print(f'{r["workers"]:>7} {r["chunk"]:>6} {r["startup"]:>8.1f} {r["wall"]:>7.1f} '
                  f'{r["rate"]:>9.1f} {r["per_file"]:>14.4f} {manifest:>16}')
        rates = {(r['workers'], r['chunk']): r['rate'] for r in rows}
        for chunk in args.chunk_sizes:
            if (1, chunk) in rates and (2, chunk) in rates:
                print(f'chunk {chunk}: 2 workers / 1 worker = '
                      f'{rates[(2, chunk)] / rates[(1, chunk)]:.2f}x')
        print('load average after: ' + ' '.join(f'{x:.2f}' for x in os.getloadavg()))


if __name__ == '__main__':
    main()
