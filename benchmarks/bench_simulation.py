"""Speed of astrolens.simulation against the original DeepLenseSim code, in the same run.

On one core (OMP_NUM_THREADS=1), per Model I class: images/s of the original
DeepLenseSim code (``../shared/deeplensesim``, run by the old-dependency
Python its ``setup-venv.sh`` builds, in a subprocess that stays warm) and of
`LensSimulator`, each the best of ``--blocks`` blocks after a warm-up, timed
alternately, and their ratio; the arithmetic per image and this machine's
measured FLOP/s (a float32 matrix product), so the distance to the limit is
known; Models II and III (ours only); Model I statistics against the
DeepLenseSim reference; and the throughput of `simulate_classification_set`
on one process and on a local dask cluster of two.

    python benchmarks/bench_simulation.py --original-python ../shared/deeplensesim/venv/bin/python

Without the original it says so and prints no ratio.
"""

import os

for _name in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[_name] = '1'

import argparse  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / 'shared'
ORIGINAL = SHARED / 'deeplensesim'
SUBSET = HERE.parent / 'tests' / 'data' / 'deeplensesim_model_i_subset.npz'
REFERENCE = SHARED / 'reference' / 'deeplensesim_model_i_sample.npz'
CLASSES = ('none', 'cdm', 'vortex')

# Runs in the original's Python: reads "CLASS N" lines, answers "CPU_SECONDS WALL_SECONDS"
# for N images made exactly as DeepLenseSim's own scripts make them (Model I).
ORIGINAL_SERVER = r'''
import sys, time
import numpy as np
from deeplense.lens import DeepLens

def one(sub):
    lens = DeepLens(axion_mass=10 ** np.random.uniform(-24, -22) if sub == 'vortex' else None)
    lens.make_single_halo(1e12)
    if sub == 'vortex':
        lens.make_vortex(3e10)
    elif sub == 'cdm':
        lens.make_old_cdm()
    else:
        lens.make_no_sub()
    lens.make_source_light()
    lens.simple_sim()
    return lens.image_real

np.random.seed(0)
print('ready', flush=True)
for line in sys.stdin:
    sub, n = line.split()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(int(n)):
        one(sub)
    print(time.process_time() - cpu, time.perf_counter() - wall, flush=True)
'''


class Original:
    """The original DeepLenseSim code, warm in a subprocess of its own Python."""

    def __init__(self, python):
        env = {**os.environ, 'PYTHONPATH': f'{ORIGINAL / "shim"}{os.pathsep}{ORIGINAL}'}
        self.process = subprocess.Popen([str(python), '-c', ORIGINAL_SERVER], env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline().strip()
        if line != 'ready':
            msg = f'the original DeepLenseSim code did not start (got {line!r})'
            raise RuntimeError(msg)

    def time(self, sub, n):
        self.process.stdin.write(f'{sub} {n}\n')
        self.process.stdin.flush()
        cpu, wall = map(float, self.process.stdout.readline().split())
        return cpu, wall

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def find_original(python):
    """The original's Python: given, or ``../shared/deeplensesim/venv``; None if absent."""
    candidates = [Path(python)] if python else [ORIGINAL / 'venv' / 'bin' / 'python']
    for candidate in candidates:
        if candidate.exists() and (ORIGINAL / 'deeplense' / 'lens.py').exists():
            return candidate
    return None


def ours_timer(model, sub):
    from astrolens.simulation import LensSimulator

    sim = LensSimulator(model, sub, seed=0)

    def run(n):
        cpu, wall = time.process_time(), time.perf_counter()
        sim.simulate(n)
        return time.process_time() - cpu, time.perf_counter() - wall
    return run


def machine_flops():
    """Best float32 and float64 matrix-product FLOP/s on one thread."""
    from threadpoolctl import threadpool_limits

    best = {}
    with threadpool_limits(1):
        for dtype in (np.float32, np.float64):
            a = np.random.default_rng(0).standard_normal((512, 512)).astype(dtype)
            a @ a
            times = []
            for _ in range(7):
                start = time.perf_counter()
                a @ a
                times.append(time.perf_counter() - start)
            best[np.dtype(dtype).name] = 2 * 512 ** 3 / min(times)
    return best


def flops_per_image(sim, n_subhalos):
    """Arithmetic of one image by our algorithm, counting each +, *, /, sqrt, exp, log,
    sin, cos as one operation.

    Per pixel: Sersic at the deflected position 12; PSF 2 x (2 x taps) for the
    separable kernel; Box-Muller normal 4 and the noise expectation 7; a Poisson
    draw about 25 for the half of the pixels with a positive expectation; point
    masses 8 per (pixel, mass) as a direct sum (the vortex's multipole expansion
    does less) plus 6 to apply the deflection.
    """
    pixels = sim.shape[0] * sim.shape[1]
    taps = sim._batch.kernel.shape[0]
    per_pixel = 12 + 4 * taps + 4 + 7 + 0.5 * 25
    if n_subhalos:
        per_pixel += 8 * n_subhalos + 6
    return per_pixel * pixels


def speed(args, original):
    from astrolens.simulation import LensSimulator

    print(f'== speed, one core: images/s per CPU-second (wall in brackets); best of '
          f'{args.blocks} blocks after a warm-up, the two sides timed alternately')
    print(f'load average before: {", ".join(f"{x:.1f}" for x in os.getloadavg())} '
          f'({os.cpu_count()} CPUs)')
    flops = machine_flops()
    print(f'machine: float32 matrix product {flops["float32"] / 1e9:.1f} GFLOP/s, float64 '
          f'{flops["float64"] / 1e9:.1f} GFLOP/s (one thread)')
    if original is None:
        print('original DeepLenseSim: NOT FOUND; build it with '
              f'{ORIGINAL / "setup-venv.sh"} [DIR] and pass --original-python DIR/bin/python '
              '(no ratio is printed without it)')
    header = (f'{"class":8s} {"original":>16s} {"astrolens":>16s} {"ratio":>7s} '
              f'{"MFLOP/img":>10s} {"limit img/s":>12s} {"of limit":>9s}')
    print(header)
    n_subhalos = {'none': 0, 'cdm': 25, 'vortex': 100}
    rows = {}
    for sub in CLASSES:
        ours = ours_timer('model_i', sub)
        ours(max(8, args.n // 4))
        if original is not None:
            original.time(sub, max(2, args.n_original // 4))
        best_ours, best_orig = (np.inf, np.inf), (np.inf, np.inf)
        for _ in range(args.blocks):
            if original is not None:
                cpu, wall = original.time(sub, args.n_original)
                best_orig = min(best_orig, (cpu / args.n_original, wall / args.n_original))
            cpu, wall = ours(args.n)
            best_ours = min(best_ours, (cpu / args.n, wall / args.n))
        sim = LensSimulator('model_i', sub)
        work = flops_per_image(sim, n_subhalos[sub])
        limit = flops['float32'] / work
        rate = 1 / best_ours[0]
        orig = (f'{1 / best_orig[0]:7.1f} ({1 / best_orig[1]:6.1f})' if original is not None
                else f'{"absent":>16s}')
        ratio = f'{best_orig[0] / best_ours[0]:6.1f}x' if original is not None else f'{"-":>7s}'
        print(f'{sub:8s} {orig} {rate:7.1f} ({1 / best_ours[1]:6.1f}) {ratio} '
              f'{work / 1e6:10.2f} {limit:12.0f} {rate / limit:8.1%}')
        rows[sub] = (best_orig, best_ours)
    print(f'load average after: {", ".join(f"{x:.1f}" for x in os.getloadavg())}')
    print('\n== Models II and III (ours; the original has no noise there and is not timed)')
    for model in ('model_ii', 'model_iii'):
        for sub in CLASSES:
            ours = ours_timer(model, sub)
            ours(8)
            best = min(ours(args.n) for _ in range(args.blocks))
            print(f'{model:9s} {sub:7s} {args.n / best[0]:8.1f} images/s ({args.n / best[1]:.1f} '
                  'wall)')
    return rows


def stats(images):
    images = np.asarray(images, dtype=float)
    corners = np.concatenate([images[:, :20, :20], images[:, :20, -20:],
                              images[:, -20:, :20], images[:, -20:, -20:]], axis=1)
    return np.stack([images.sum(axis=(1, 2)), images.max(axis=(1, 2)),
                     corners.mean(axis=(1, 2)), corners.std(axis=(1, 2))], axis=1)


def statistics(args):
    from astrolens.simulation import LensSimulator

    if REFERENCE.exists():
        ref = np.load(REFERENCE)
        figures, labels, source = stats(ref['images']), ref['labels'], str(REFERENCE)
    elif SUBSET.exists():
        ref = np.load(SUBSET)
        figures, labels, source = ref['figures'], ref['figure_labels'], str(SUBSET)
    else:
        print('\n== statistics: SKIPPED, no DeepLenseSim reference (tests/data or ../shared)')
        return
    print(f'\n== Model I statistics, {args.n_stats} per class, against the DeepLenseSim '
          f'reference ({source}, {np.bincount(labels).tolist()} per class)')
    names = ('total', 'peak', 'sky', 'sky_std')
    print(f'{"class":8s}' + ''.join(f'{n:>22s}' for n in names) + '  within 10%')
    for label, sub in enumerate(CLASSES):
        ours = stats(LensSimulator('model_i', sub, seed=1).simulate(args.n_stats)).mean(axis=0)
        theirs = figures[labels == label].mean(axis=0)
        cells = ''.join(f'{a:10.4g} vs {b:<8.4g}  ' for a, b in zip(ours, theirs, strict=True))
        ok = np.all(np.abs(ours / theirs - 1) <= 0.10)
        print(f'{sub:8s}{cells}{"yes" if ok else "NO"}')


def workers(args):
    import tempfile

    import distributed

    from astrolens.simulation import simulate_classification_set

    n = args.n_workers
    print(f'\n== workers: simulate_classification_set({n}, model_i, out=DIR) into a temporary '
          'folder, images/s of wall time (cluster already started and warm)')
    print(f'load average before: {", ".join(f"{x:.1f}" for x in os.getloadavg())} '
          f'({os.cpu_count()} CPUs)')
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        simulate_classification_set(n, seed=0, out=Path(tmp) / 'here')
        rates = {'this process': 3 * n / (time.perf_counter() - start)}
        for n_workers in (1, 2):
            # the cluster's overhead is what 1 worker loses against this process
            with distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                          processes=True, dashboard_address=None) as cluster, \
                    distributed.Client(cluster) as client:
                simulate_classification_set(8, seed=1, client=client)  # imports, simulators
                start = time.perf_counter()
                simulate_classification_set(n, seed=0, out=Path(tmp) / str(n_workers),
                                            client=client)
                rates[f'{n_workers} dask worker(s)'] = 3 * n / (time.perf_counter() - start)
    base = rates['this process']
    print('; '.join(f'{name}: {rate:.1f} images/s ({rate / base:.2f}x)'
                    for name, rate in rates.items()))
    print(f'load average after: {", ".join(f"{x:.1f}" for x in os.getloadavg())}')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--n', type=int, default=256, help='our images per class and block')
    parser.add_argument('--n-original', type=int, default=25,
                        help="the original's images per class and block")
    parser.add_argument('--blocks', type=int, default=3)
    parser.add_argument('--original-python', default=None,
                        help='python of the venv built by ../shared/deeplensesim/setup-venv.sh '
                             '(default: ../shared/deeplensesim/venv/bin/python)')
    parser.add_argument('--n-stats', type=int, default=300, help='images per class for stats')
    parser.add_argument('--n-workers', type=int, default=600,
                        help='images per class for the workers comparison')
    parser.add_argument('--parts', nargs='+', default=['speed', 'stats', 'workers'],
                        choices=['speed', 'stats', 'workers'], help='what to run')
    args = parser.parse_args(argv)

    if 'speed' in args.parts:
        python = find_original(args.original_python)
        original = Original(python) if python is not None else None
        if python is not None:
            print(f'original DeepLenseSim: {ORIGINAL} run by {python}')
        try:
            speed(args, original)
        finally:
            if original is not None:
                original.close()
    if 'stats' in args.parts:
        statistics(args)
    if 'workers' in args.parts:
        workers(args)
    return 0


if __name__ == '__main__':
    sys.exit(main())
