"""Super-resolution benchmark: a shipped SuperResolver vs bicubic on fresh simulated pairs.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_superres.py [--model deeplense-x2]
        [--n-test 300] [--test-seed 12345] [--baseline-minutes 0] [--threads 1]
        [--cache DIR] [--gan-minutes 0]

Test sets (never trained on): ``deeplense-x2`` fresh simulated pairs;
``survey-x2`` crops of the right half of scikit-image's Hubble Deep Field and
fresh lens pairs; ``hsc-hst-x3`` fresh simulated hsc-hst pairs registered
with ``register_pair`` (slow: a few seconds per pair; ``--cache`` keeps them).

Prints PSNR / SSIM / MSE / flux errors (metrics of `astrolens.metrics`: images
rescaled by the HR range) for the model and for bicubic upsampling on the
same pairs, and the CPU time per image. With ``--baseline-minutes M`` it also
trains the SRGAN generator (``arch='srresnet'``) with an L2 loss for M
minutes on the same training data as the shipped model (read from its JSON
configuration) and reports it alongside; ``--equal-budget`` trains the
shipped architecture from scratch for the same M minutes too.

With ``--gan-minutes G`` it continues training the shipped model for G
minutes with ``loss='gan'`` (pixel + classifier-feature + adversarial loss)
on the same training data and prints what that costs in PSNR/SSIM and flux
next to what it buys in sharpness: the power of the image above the
low-resolution Nyquist frequency, as a ratio to the true high-resolution
image's (1 is right; a blurry answer is below 1).
"""

import argparse
import time

import numpy as np
import torch

from astrolens.datasets import sr_test_sets as _test_sets
from astrolens.datasets import sr_training_pairs as _training_pairs
from astrolens.models._superres import SuperResolver, bicubic_upscale


def _row(name, m, seconds=None):
    extra = f'  {1000 * seconds:7.1f} ms/img' if seconds is not None else ''
    print(f'{name:<22} PSNR {m["psnr"]:6.2f} dB  SSIM {m["ssim"]:.5f}  MSE {m["mse"]:.3e}  '
          f'flux err vs HR {m["flux_error"]:.2e}  vs LR {m["flux_conservation"]:.2e}{extra}')


def high_frequency_power_ratio(images, truths, scale):
    """Mean ratio of the share of power above the input's Nyquist frequency, image over truth.

    Frequencies are in cycles per output pixel; the input grid resolves up
    to ``0.5 / scale``, so the band beyond it is what super-resolution has
    to supply. Shares of the total (mean-removed) power make the figure
    independent of the images' intensity units.
    """
    ratios = []
    for image, truth in zip(images, truths, strict=True):
        fy = np.fft.fftfreq(truth.shape[0])[:, None]
        fx = np.fft.fftfreq(truth.shape[1])[None, :]
        band = np.hypot(fy, fx) > 0.5 / scale
        shares = []
        for a in (image, truth):
            power = np.abs(np.fft.fft2(a - a.mean())) ** 2
            shares.append(power[band].sum() / power.sum())
        ratios.append(shares[0] / shares[1])
    return float(np.mean(ratios))


def _sharpness(label, images, truths, scale):
    print(f'{label:<22} power share above LR Nyquist, / HR: '
          f'{high_frequency_power_ratio(images, truths, scale):.3f}')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', default='deeplense-x2')
    parser.add_argument('--n-test', type=int, default=300)
    parser.add_argument('--test-seed', type=int, default=12345)
    parser.add_argument('--baseline-minutes', type=float, default=0.0)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--equal-budget', action='store_true',
                        help='with --baseline-minutes, also train our architecture from '
                             'scratch for the same time')
    parser.add_argument('--cache', default=None, help='folder for registered hsc-hst pairs')
    parser.add_argument('--gan-minutes', type=float, default=0.0,
                        help="continue training the shipped model with loss='gan' for this "
                             'long and compare')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    sr = SuperResolver.from_pretrained(args.model, device='cpu')
    print(f'{args.model}: {sr.arch} x{sr.scale}, trained: '
          f'{sr.config_.get("command", "?")}')
    results = {}
    for name, (lr, hr, source) in _test_sets(args.model, args.n_test, args.test_seed,
                                             args.cache).items():
        print(f'\ntest set {name}: {len(lr)} pairs, seed {args.test_seed}, {source}')
        t0 = time.process_time()
        res = sr.evaluate(lr, hr)
        per_image = (time.process_time() - t0) / len(lr)
        _row('bicubic', res['bicubic'])
        _row(args.model, res['model'], per_image)
        print(f'gain over bicubic: {res["model"]["psnr"] - res["bicubic"]["psnr"]:+.2f} dB '
              f'PSNR, {res["model"]["ssim"] - res["bicubic"]["ssim"]:+.4f} SSIM')
        if args.baseline_minutes > 0:
            data = sr.config_.get('data', {})
            tlr, thr, _ = _training_pairs(args.model, int(data.get('n_train_pairs', 1500)),
                                          int(data.get('seed', 0)), args.cache)
            runs = [('srresnet-l2 baseline', 'srresnet', 'l2')]
            if args.equal_budget:
                runs.append((f'{sr.arch}-{sr.loss} same budget', sr.arch, sr.loss))
            for label, arch, loss in runs:
                base = SuperResolver(sr.scale, arch=arch, loss=loss, seed=0)
                base.fit(tlr, thr, epochs=10_000, max_minutes=args.baseline_minutes,
                         progress=False)
                minutes = base.history_[-1]['seconds'] / 60
                _row(f'{label} ({minutes:.1f} min)', base.evaluate(lr, hr)['model'])
        if args.gan_minutes > 0:
            res['gan'] = _gan_comparison(sr, args, lr, hr)
        results[name] = res
    return results



def _gan_comparison(sr, args, lr, hr):
    """Train ``sr``'s network further with the adversarial loss; print both side by side."""
    data = sr.config_.get('data', {})
    tlr, thr, _ = _training_pairs(args.model, int(data.get('n_train_pairs', 1500)),
                                  int(data.get('seed', 0)), args.cache)
    gan = SuperResolver(sr.scale, arch=sr.arch, arch_kwargs=sr.arch_kwargs, loss='gan',
                        seed=0, learning_rate=1e-4, device='cpu')
    gan.fit(tlr, thr, epochs=10_000, max_minutes=args.gan_minutes, init=sr, progress=False)
    minutes = gan.history_[-1]['seconds'] / 60
    res = gan.evaluate(lr, hr)
    print(f'\nadversarial training from {args.model} ({minutes:.1f} min, '
          f'{len(gan.history_)} epochs, options {gan._gan_options()}):')
    _row(f'{args.model}-gan', res['model'])
    n = min(len(lr), 100)
    truths = np.asarray(hr[:n], dtype=np.float64)
    _sharpness('bicubic', [bicubic_upscale(np.asarray(a, dtype=np.float64), sr.scale)
                           for a in lr[:n]], truths, sr.scale)
    for label, model in ((args.model, sr), (f'{args.model}-gan', gan)):
        _sharpness(label, model.enhance(np.asarray(lr[:n]), progress=False), truths, sr.scale)
    return res


if __name__ == '__main__':
    main()
