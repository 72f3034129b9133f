"""Super-resolution benchmark: a shipped SuperResolver vs bicubic on fresh simulated pairs.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_superres.py [--model deeplense-x2]
        [--n-test 300] [--test-seed 12345] [--baseline-minutes 0] [--threads 1]

Prints PSNR / SSIM / MSE / flux errors (metrics of `astrolens.metrics`: images
rescaled by the HR range) for the model and for bicubic upsampling on the
same pairs, and the CPU time per image. With ``--baseline-minutes M`` it also
trains the SRGAN generator (``arch='srresnet'``) with an L2 loss for M
minutes on the same training data as the shipped model (read from its JSON
configuration) and reports it alongside.
"""

import argparse
import time

import torch

from astrolens.models._superres import SuperResolver

PRESET_OF_MODEL = {'deeplense-x2': 'deeplense-x2', 'hsc-hst-x3': 'hsc-hst',
                   'survey-x2': 'deeplense-x2'}


def _pairs(preset, n, seed):
    try:
        from astrolens.simulation import simulate_sr_pairs
    except ImportError:
        from astrolens.simulation._sr_pairs import simulate_sr_pairs
    return simulate_sr_pairs(n, preset=preset, seed=seed)


def _row(name, m, seconds=None):
    extra = f'  {1000 * seconds:7.1f} ms/img' if seconds is not None else ''
    print(f'{name:<22} PSNR {m["psnr"]:6.2f} dB  SSIM {m["ssim"]:.5f}  MSE {m["mse"]:.3e}  '
          f'flux err vs HR {m["flux_error"]:.2e}  vs LR {m["flux_conservation"]:.2e}{extra}')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', default='deeplense-x2')
    parser.add_argument('--n-test', type=int, default=300)
    parser.add_argument('--test-seed', type=int, default=12345)
    parser.add_argument('--baseline-minutes', type=float, default=0.0)
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    sr = SuperResolver.from_pretrained(args.model, device='cpu')
    preset = PRESET_OF_MODEL.get(args.model, 'deeplense-x2')
    lr, hr = _pairs(preset, args.n_test, args.test_seed)
    print(f'{args.model}: {sr.arch} x{sr.scale}, trained: '
          f'{sr.config_.get("command", "?")}')
    print(f'test set: {args.n_test} fresh "{preset}" pairs, seed {args.test_seed}')
    t0 = time.process_time()
    res = sr.evaluate(lr, hr)
    per_image = (time.process_time() - t0) / len(lr)
    _row('bicubic', res['bicubic'])
    _row(f'{args.model}', res['model'], per_image)
    print(f'gain over bicubic: {res["model"]["psnr"] - res["bicubic"]["psnr"]:+.2f} dB PSNR, '
          f'{res["model"]["ssim"] - res["bicubic"]["ssim"]:+.4f} SSIM')

    if args.baseline_minutes > 0:
        data = sr.config_.get('data', {})
        n_train = int(data.get('n_train_pairs', 1500))
        tlr, thr = _pairs(preset, n_train, int(data.get('seed', 0)))
        base = SuperResolver(sr.scale, arch='srresnet', loss='l2', seed=0)
        base.fit(tlr, thr, epochs=10_000, max_minutes=args.baseline_minutes, progress=False)
        bres = base.evaluate(lr, hr)
        _row('srresnet-l2 baseline', bres['model'])
    return res


if __name__ == '__main__':
    main()
