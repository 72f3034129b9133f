"""Make a Model I validation set with the original DeepLenseSim code, cached in a file.

The classifier's stages and the design comparison are judged on images made by
the original code (``../shared/deeplensesim``, run under the old-dependency venv
that ``../shared/deeplensesim/setup-venv.sh`` builds), beside images of our own
simulator: a gap between the two is a simulator bug, not noise.

    python benchmarks/make_original_validation.py --python PATH/bin/python \
        --n-per-class 500 --seed 5001

writes ``original_model_i_seed5001_n500.npz`` (uint16 counts, 150x150, as the
original writes them; labels 0/1/2 = no/cdm/vortex) into the cache folder
(``$ASTROLENS_CACHE``, default ``~/.cache/astrolens``). Images of class ``k``
are drawn with ``numpy.random.seed(seed * 10 + k)``; the axion mass is
``10**U(-24, -22)`` eV, as in the original's own scripts. Tests and benchmarks
that need such a file skip without it.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / 'shared'
ORIGINAL = SHARED / 'deeplensesim'
CLASSES = ('no', 'cdm', 'vortex')

# Runs under the original's venv: numpy < 2, lenstronomy 1.11.2.
_WORKER = r'''
import sys
import numpy as np
from deeplense.lens import DeepLens

kind, n, seed, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
np.random.seed(seed)
images = np.empty((n, 150, 150), dtype=np.uint16)
for i in range(n):
    axion = 10 ** np.random.uniform(-24, -22) if kind == 'vortex' else None
    lens = DeepLens(axion_mass=axion)
    lens.make_single_halo(1e12)
    if kind == 'no':
        lens.make_no_sub()
    elif kind == 'cdm':
        lens.make_old_cdm()
    else:
        lens.make_vortex(3e10)
    lens.make_source_light()
    lens.simple_sim()
    images[i] = np.clip(np.round(lens.image_real), 0, 65535)
np.save(out, images)
'''


def cache_dir():
    """Folder of the cached original-code sets (``$ASTROLENS_CACHE`` or ``~/.cache/astrolens``)."""
    return Path(os.environ.get('ASTROLENS_CACHE', Path.home() / '.cache' / 'astrolens'))


def cache_name(n_per_class, seed):
    return f'original_model_i_seed{seed}_n{n_per_class}.npz'


def _run(python, kind, n, seed, out):
    env = {**os.environ, 'PYTHONPATH': f'{ORIGINAL / "shim"}{os.pathsep}{ORIGINAL}'}
    subprocess.run([str(python), '-c', _WORKER, kind, str(n), str(seed), str(out)],
                   check=True, env=env)
    return np.load(out)


def make(python, n_per_class, seed, *, workers=2):
    """``(images, labels)`` from the original code, one worker process per chunk."""
    chunks = []
    per_chunk = max(1, int(np.ceil(n_per_class / workers)))
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(workers) as pool:
        futures = []
        for label, kind in enumerate(CLASSES):
            for j, start in enumerate(range(0, n_per_class, per_chunk)):
                n = min(per_chunk, n_per_class - start)
                out = Path(tmp) / f'{kind}_{j}.npy'
                futures.append((label, pool.submit(_run, python, kind, n,
                                                   (seed * 10 + label) * 100 + j, out)))
        for label, future in futures:
            images = future.result()
            chunks.append((images, np.full(len(images), label, dtype=np.int8)))
    images = np.concatenate([c[0] for c in chunks])
    labels = np.concatenate([c[1] for c in chunks])
    return images, labels


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--python', default=str(ORIGINAL / 'venv' / 'bin' / 'python'),
                        help='python of the venv built by ../shared/deeplensesim/setup-venv.sh')
    parser.add_argument('--n-per-class', type=int, default=500)
    parser.add_argument('--seed', type=int, default=5001)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--out', default=None, help='output .npz (default: in the cache folder)')
    args = parser.parse_args(argv)
    if not (ORIGINAL / 'deeplense' / 'lens.py').is_file():
        sys.exit(f'the original DeepLenseSim code is not at {ORIGINAL}')
    if not Path(args.python).is_file():
        sys.exit(f'no python at {args.python}: build the venv with '
                 f'{ORIGINAL / "setup-venv.sh"} DIR and pass --python DIR/bin/python')
    out = Path(args.out) if args.out else cache_dir() / cache_name(args.n_per_class, args.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    images, labels = make(args.python, args.n_per_class, args.seed, workers=args.workers)
    tmp = out.with_name(out.name + '.part.npz')
    np.savez_compressed(tmp, images=images, labels=labels, classes=np.array(CLASSES),
                        seed=args.seed, generator='DeepLenseSim @ a0c0191 (lenstronomy 1.11.2)')
    os.replace(tmp, out)
    print(f'{out}: {len(images)} images ({args.n_per_class} per class, seed {args.seed}) in '
          f'{time.perf_counter() - t0:.0f} s')


if __name__ == '__main__':
    main()
