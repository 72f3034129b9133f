from pathlib import Path

import numpy as np
import pytest
from astropy.wcs.utils import proj_plane_pixel_scales

from astrolens.simulation import LensSimulator
from astrolens.simulation._physics import einstein_radius

# real DeepLenseSim output, in the shared folder beside the checkout (CI has it too)
REFERENCE = (Path(__file__).resolve().parents[3] / 'shared' / 'reference'
             / 'deeplensesim_model_i_sample.npz')


def _stats(images):
    images = np.asarray(images, dtype=float)
    corners = np.concatenate([images[:, :20, :20], images[:, :20, -20:],
                              images[:, -20:, :20], images[:, -20:, -20:]], axis=1)
    return {'total': images.sum(axis=(1, 2)).mean(), 'peak': images.max(axis=(1, 2)).mean(),
            'sky': corners.mean(), 'sky_std': corners.std(axis=(1, 2)).mean()}


@pytest.fixture(scope='module')
def model_i_sample():
    return {sub: LensSimulator('model_i', sub, seed=11).simulate(40)
            for sub in ('none', 'cdm', 'vortex')}


def test_model_i_statistics_match_deeplensesim(model_i_sample):
    ours = _stats(np.concatenate(list(model_i_sample.values())))
    # the figures quoted for 1000 images per class of the original code
    quoted = {'total': 4.25e5, 'peak': 450.0, 'sky': 7.5, 'sky_std': 11.2}
    for key, value in quoted.items():
        assert ours[key] == pytest.approx(value, rel=0.10), key
    ref = _stats(np.load(REFERENCE)['images'])
    for key in quoted:
        assert ours[key] == pytest.approx(ref[key], rel=0.10), key


def test_model_i_images_are_counts(model_i_sample):
    images = model_i_sample['none']
    assert images.shape == (40, 150, 150) and images.dtype == np.float32
    assert images.min() >= 0 and np.all(images == np.round(images))


def test_fast_renderer_matches_lenstronomy_image_model():
    sim = LensSimulator('model_i', 'cdm', seed=4, noise=False)
    rng = np.random.default_rng(5)
    image, meta = sim.render(rng)
    theta_e = einstein_radius(meta['subhalo_masses'])
    renderer = sim._renderer
    kwargs_lens = renderer.kwargs_lens + [
        {'theta_E': t, 'center_x': x, 'center_y': y}
        for t, x, y in zip(theta_e, meta['subhalo_x'], meta['subhalo_y'], strict=True)]
    source = {'amp': 20, 'R_sersic': 0.25, 'n_sersic': 1, 'e1': -0.1, 'e2': 0.1,
              'center_x': meta['source_x'], 'center_y': meta['source_y']}
    reference = renderer.reference_image_model(25).image(kwargs_lens, [source])
    expected = meta['exposure_time'] * reference
    assert np.abs(image - expected).max() < 1e-4 * expected.max()


def test_noise_free_image_is_point_symmetric_for_a_centred_source():
    # SIE (e2=0) + shear (gamma2=0) deflections are odd in (x, y) and the Sersic
    # source is centrally symmetric: a centred source gives an image unchanged
    # by a 180 degree rotation about the (between-pixel) image centre
    sim = LensSimulator('model_i', 'none', noise=False)
    image, _ = sim.render(np.random.default_rng(0), source_center=(0.0, 0.0))
    assert np.allclose(image, image[::-1, ::-1], rtol=1e-5, atol=1e-6 * image.max())
    assert not np.allclose(image, image.T, rtol=1e-2)  # not trivially round


@pytest.mark.parametrize('model', ['model_ii', 'model_iii'])
def test_models_ii_and_iii_have_noise(model):
    a = LensSimulator(model, 'none', seed=1)
    b = LensSimulator(model, 'none', seed=2)
    image_a, meta_a = a.render(np.random.default_rng(7), source_center=(0.1, 0.0))
    image_b, _ = b.render(np.random.default_rng(8), source_center=(0.1, 0.0))
    clean, _ = LensSimulator(model, 'none', noise=False).render(
        np.random.default_rng(9), source_center=(0.1, 0.0))
    assert image_a.shape == (64, 64)
    residual = image_a - clean
    assert residual.var() > 0 and not np.allclose(image_a, image_b)
    # far from the arcs the noise is the sky/read noise of the instrument
    sky = np.concatenate([residual[:12, :12].ravel(), residual[-12:, -12:].ravel()])
    assert sky.std() == pytest.approx(a.instrument.background_noise, rel=0.2)


def test_same_seed_same_images_and_sequence_continues():
    first = LensSimulator('model_i', 'vortex', seed=3).simulate(3)
    sim = LensSimulator('model_i', 'vortex', seed=3)
    assert np.array_equal(np.concatenate([sim.simulate(1), sim.simulate(2)]), first)
    assert not np.array_equal(first[0], first[1])


def test_simulate_nddata_has_wcs_and_records_the_draws():
    nd = LensSimulator('model_i', 'vortex', seed=5).simulate_nddata()
    scales = proj_plane_pixel_scales(nd.wcs) * 3600
    assert np.allclose(scales, 0.05)
    for key in ('source_x', 'source_y', 'subhalo_masses', 'subhalo_x', 'subhalo_y',
                'axion_mass', 'exposure_time'):
        assert key in nd.meta
    assert 1e-24 <= nd.meta['axion_mass'] <= 1e-22
    assert 1e3 <= nd.meta['exposure_time'] <= 10 ** 3.5
    assert len(nd.meta['subhalo_x']) == 100


@pytest.mark.parametrize(('kwargs', 'match'), [
    ({'model': 'model_iv'}, 'model'),
    ({'substructure': 'wdm'}, 'substructure'),
])
def test_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LensSimulator(**kwargs)


def test_negative_count_is_refused():
    with pytest.raises(ValueError, match='n must be a non-negative integer'):
        LensSimulator().simulate(-1)


def test_simulate_can_seek_in_its_sequence():
    from astrolens.simulation import LensSimulator

    whole = LensSimulator('model_i', 'cdm', seed=4).simulate(5)
    sim = LensSimulator('model_i', 'cdm', seed=4)
    np.testing.assert_array_equal(sim.simulate(2, start=3), whole[3:])
    np.testing.assert_array_equal(sim.simulate(1, start=1), whole[1:2])
    np.testing.assert_array_equal(sim.simulate(1), whole[2:3])  # carries on from there
