"""Rebuild ``deeplensesim_model_i_subset.npz`` from the shared DeepLenseSim reference.

    python tests/data/make_deeplensesim_subset.py \
        ../shared/reference/deeplensesim_model_i_sample.npz

Keeps the first 10 images of each class (uint16 counts, as DeepLenseSim writes them)
and, for all 300 reference images, the per-image figures the simulator tests compare:
total counts, peak, mean and standard deviation of the four 20x20 corners (sky).
"""

import argparse
from pathlib import Path

import numpy as np

N_IMAGES_PER_CLASS = 10


def image_figures(images):
    """``(N, 4)`` total, peak, corner mean and corner std of each image."""
    images = np.asarray(images, dtype=float)
    corners = np.concatenate([images[:, :20, :20], images[:, :20, -20:],
                              images[:, -20:, :20], images[:, -20:, -20:]], axis=1)
    return np.stack([images.sum(axis=(1, 2)), images.max(axis=(1, 2)),
                     corners.mean(axis=(1, 2)), corners.std(axis=(1, 2))], axis=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('reference', help='deeplensesim_model_i_sample.npz')
    parser.add_argument('--out',
                        default=Path(__file__).with_name('deeplensesim_model_i_subset.npz'))
    args = parser.parse_args(argv)
    ref = np.load(args.reference)
    images, labels = ref['images'], ref['labels']
    keep = np.concatenate([np.flatnonzero(labels == c)[:N_IMAGES_PER_CLASS]
                           for c in range(len(ref['classes']))])
    np.savez_compressed(args.out, images=images[keep], labels=labels[keep],
                        classes=ref['classes'], figures=image_figures(images).astype(np.float32),
                        figure_labels=labels, figure_names=np.array(['total', 'peak', 'sky',
                                                                     'sky_std']))
    print(f'{args.out}: {keep.size} images, figures of {labels.size}')


if __name__ == '__main__':
    main()
