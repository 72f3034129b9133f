import numpy as np
import pytest
import torch

from astrolens.models._sr_networks import create_sr_network
from astrolens.models._tiling import tile_windows, tiled_apply


@pytest.mark.parametrize('shape', [(100, 90), (37, 130), (20, 20)])
def test_tile_cores_cover_every_pixel_exactly_once(shape):
    count = np.zeros(shape, dtype=int)
    windows = tile_windows(shape, tile=32, overlap=6)
    sizes = {(w[0].stop - w[0].start, w[1].stop - w[1].start) for w, _ in windows}
    assert len(sizes) == 1  # one tile size, so tiles batch together
    for window, core in windows:
        assert window[0].stop - window[0].start <= min(32, shape[0])
        # the core keeps the margin from every window edge that is not an image edge
        for ax in (0, 1):
            if window[ax].start > 0:
                assert core[ax].start - window[ax].start >= 6
            if window[ax].stop < shape[ax]:
                assert window[ax].stop - core[ax].stop >= 6
        count[core] += 1
    assert (count == 1).all()


def test_tiles_shrink_to_waste_little_work():
    # 4096 px in tiles of at most 512 with a 22 px halo: 9 tiles are needed, and
    # 495 px each suffice, so 18% of extra pixels per axis pair instead of 27%
    windows = tile_windows((4096, 4096), tile=512, overlap=22)
    assert len(windows) == 81
    side = windows[0][0][0].stop - windows[0][0][0].start
    assert side == 495


def test_tile_smaller_than_twice_the_overlap_is_refused():
    with pytest.raises(ValueError, match='larger than twice the overlap'):
        tile_windows((100, 100), tile=20, overlap=10)


@pytest.fixture(scope='module')
def random_net():
    torch.manual_seed(1)
    net = create_sr_network('edsr-xs', 2, n_feats=8, n_blocks=2).eval()
    with torch.no_grad():  # a non-trivial network: the tail starts at zero
        net.tail.weight.normal_(0, 0.3)
    return net


def _run(net):
    def func(batch):
        with torch.no_grad():
            return net(torch.from_numpy(batch)[:, None]).numpy()
    return func


def test_tiled_equals_untiled(random_net):
    image = np.random.default_rng(0).normal(size=(70, 61)).astype(np.float32)
    full = tiled_apply(_run(random_net), image, scale=2, tile=512, overlap=0)
    rf = random_net.receptive_field
    tiled = tiled_apply(_run(random_net), image, scale=2, tile=2 * rf + 5, overlap=rf,
                        batch_size=3)
    assert len(tile_windows(image.shape, tile=2 * rf + 5, overlap=rf)) > 4
    span = full.max() - full.min()
    assert np.abs(tiled - full).max() < 1e-5 * span
    # without overlap the seams show: the test above has teeth
    seams = tiled_apply(_run(random_net), image, scale=2, tile=2 * rf + 5, overlap=0)
    assert np.abs(seams - full).max() > 1e-3 * span
