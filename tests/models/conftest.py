import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    # Leave the other cores to whatever else runs; the models in these tests are tiny.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def ring_images(n_per_class, seed=0, size=24):
    """Poisson counts: class 0 a ring, class 1 a ring plus a blob, class 2 a ring plus a bar."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    ring = 40 * np.exp(-0.5 * ((np.hypot(yy, xx) - size / 4) / 1.5) ** 2)
    images, labels = [], []
    for label in range(3):
        for _ in range(n_per_class):
            model = ring + 2.0
            if label == 1:
                cy, cx = rng.uniform(-size / 4, size / 4, 2)
                model = model + 60 * np.exp(-0.5 * ((yy - cy) ** 2 + (xx - cx) ** 2))
            elif label == 2:
                model = model + 30 * (np.abs(yy - rng.uniform(-3, 3)) < 1)
            images.append(rng.poisson(model * rng.uniform(1, 3)))
            labels.append(label)
    return np.asarray(images, dtype=np.float32), np.asarray(labels)
