"""Training-step speed of the Model I classifier on the CPU: precision and memory layout.

The ``model_i`` preset network (`astrolens.training.CLASSIFIER_PRESETS`, one
random D4 view per image) trains through `astrolens.models.train` on
prepared simulated images, in float32 and in bfloat16 autocast, with the
usual and the channels-last memory layout. Printed: training images/s for
each, and the ratio to float32 in the usual layout measured in the same run.
No validation runs, so this is the step alone; a stage also validates.

    python benchmarks/bench_classifier_step.py --threads 2 --steps 40
"""

import argparse
import time

import numpy as np
import torch


def _rate(make_net, batches, *, steps, batch_size, amp, channels_last):
    from torch.nn import functional as F

    from astrolens.models import train

    net = make_net()
    options = {'lr': 1e-3, 'device': 'cpu', 'progress': False, 'amp': amp,
               'channels_last': channels_last}
    # a few warm-up steps: oneDNN builds its kernels for the shapes on the first calls
    train(net, F.cross_entropy, batches, epochs=1, steps_per_epoch=3, **options)
    t0 = time.perf_counter()
    train(net, F.cross_entropy, batches, epochs=1, steps_per_epoch=steps, **options)
    return steps * batch_size / (time.perf_counter() - t0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--steps', type=int, default=40, help='timed steps per configuration')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--n-per-class', type=int, default=200,
                        help='simulated Model I images per class to draw batches from')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from astrolens.models._classifier_batches import array_batches
    from astrolens.models._classifier_inputs import prepare_images
    from astrolens.models._d4 import D4LensNet
    from astrolens.simulation import simulate_classification_set
    from astrolens.training import CLASSIFIER_PRESETS

    preset = CLASSIFIER_PRESETS['model_i']
    images, labels = simulate_classification_set(args.n_per_class, model='model_i', seed=3)[:2]
    x = torch.from_numpy(np.asarray(prepare_images(images, crop=preset['crop']),
                                    dtype=np.float32)[:, None])
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    batches, _ = array_batches(x, y, args.steps, batch_size=args.batch_size, augment=True,
                               seed=0)

    def make_net():
        torch.manual_seed(0)
        return D4LensNet(**preset['backbone_kwargs'])

    print(f'model_i preset d4lensnet, one view, batch {args.batch_size}, '
          f'{args.threads} threads, {args.steps} steps each')
    base = None
    for amp, name in ((False, 'float32'), ('bfloat16', 'bfloat16')):
        for channels_last in (False, True):
            rate = _rate(make_net, batches, steps=args.steps, batch_size=args.batch_size, amp=amp,
                         channels_last=channels_last)
            base = base or rate
            layout = 'channels-last' if channels_last else 'usual layout'
            print(f'{name:9s} {layout:14s} {rate:7.0f} images/s  ({rate / base:.2f}x)')


if __name__ == '__main__':
    main()
