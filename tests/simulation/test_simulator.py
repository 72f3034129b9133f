from pathlib import Path

import numpy as np
import pytest
from astropy.wcs.utils import proj_plane_pixel_scales

from astrolens.simulation import LensSimulator
from astrolens.simulation._physics import einstein_radius, vortex_subhalos
from astrolens.simulation._simulator import image_seed

DATA = Path(__file__).resolve().parents[1] / 'data'
# a part of the real DeepLenseSim output in ../shared/reference (see tests/data/README.md)
SUBSET = DATA / 'deeplensesim_model_i_subset.npz'
# the whole reference, in the shared folder beside the checkout, when it is there
REFERENCE = (Path(__file__).resolve().parents[3] / 'shared' / 'reference'
             / 'deeplensesim_model_i_sample.npz')
SUBSTRUCTURE_OF_LABEL = ('none', 'cdm', 'vortex')


def _figures(images):
    """Total, peak, mean and std of the 20x20 corners of each image, as the subset has them."""
    images = np.asarray(images, dtype=float)
    corners = np.concatenate([images[:, :20, :20], images[:, :20, -20:],
                              images[:, -20:, :20], images[:, -20:, -20:]], axis=1)
    return np.stack([images.sum(axis=(1, 2)), images.max(axis=(1, 2)),
                     corners.mean(axis=(1, 2)), corners.std(axis=(1, 2))], axis=1)


def _stats(images):
    total, peak, sky, sky_std = _figures(images).mean(axis=0)
    return {'total': total, 'peak': peak, 'sky': sky, 'sky_std': sky_std}


@pytest.fixture(scope='module')
def subset():
    return np.load(SUBSET)


@pytest.fixture(scope='module')
def model_i_sample():
    return {sub: LensSimulator('model_i', sub, seed=11).simulate(150)
            for sub in ('none', 'cdm', 'vortex')}


@pytest.mark.parametrize('label', [0, 1, 2])
def test_model_i_statistics_match_deeplensesim_per_class(model_i_sample, subset, label):
    # 150 of ours against the 100 reference images of the class (their figures are in
    # tests/data): total counts, peak, sky level and sky noise within 10%
    ours = _figures(model_i_sample[SUBSTRUCTURE_OF_LABEL[label]]).mean(axis=0)
    ref = subset['figures'][subset['figure_labels'] == label].mean(axis=0)
    for name, a, b in zip(subset['figure_names'], ours, ref, strict=True):
        assert a == pytest.approx(b, rel=0.10), name


def test_model_i_statistics_match_the_quoted_figures(model_i_sample):
    ours = _stats(np.concatenate(list(model_i_sample.values())))
    # the figures quoted for 1000 images per class of the original code
    quoted = {'total': 4.25e5, 'peak': 450.0, 'sky': 7.5, 'sky_std': 11.2}
    for key, value in quoted.items():
        assert ours[key] == pytest.approx(value, rel=0.10), key


def test_vendored_subset_is_deeplensesim_output(subset):
    images, labels = subset['images'], subset['labels']
    assert images.dtype == np.uint16 and images.shape == (30, 150, 150)
    assert np.bincount(labels).tolist() == [10, 10, 10]
    # the figures of the vendored images are their rows of the table of all 300
    figures, figure_labels = subset['figures'], subset['figure_labels']
    for label in range(3):
        rows = figures[figure_labels == label][:10]
        np.testing.assert_allclose(_figures(images[labels == label]), rows, rtol=1e-6)


@pytest.mark.skipif(not REFERENCE.exists(),
                    reason='the full DeepLenseSim reference (../shared/reference) is not beside '
                           'the checkout; tests/data holds the part the other tests need')
def test_vendored_subset_matches_the_shared_reference(subset):
    ref = np.load(REFERENCE)
    np.testing.assert_allclose(subset['figures'], _figures(ref['images']), rtol=1e-6)
    for label in range(3):
        np.testing.assert_array_equal(subset['images'][subset['labels'] == label],
                                      ref['images'][ref['labels'] == label][:10])


def test_model_i_images_are_counts(model_i_sample):
    images = model_i_sample['none']
    assert images.shape == (150, 150, 150) and images.dtype == np.float32
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


@pytest.mark.parametrize('axion_mass', [1e-22, 3e-24])
def test_batched_vortex_matches_lenstronomy_image_model(axion_mass):
    # a compact vortex (half-length 0.03": the multipole expansion covers most pixels)
    # and an extended one (1": the direct sum covers the image)
    sim = LensSimulator('model_i', 'vortex', noise=False)
    rng = np.random.default_rng(2)
    models, sources, lens_kwargs = [], [], []
    for _ in range(2):
        masses, x, y, _, _ = vortex_subhalos(rng, axion_mass=axion_mass)
        theta_e = einstein_radius(masses)
        sources.append(rng.uniform(-0.35, 0.35, size=2))
        models.append((theta_e, x, y))
        lens_kwargs.append(sim._renderer.kwargs_lens + [
            {'theta_E': t, 'center_x': a, 'center_y': b}
            for t, a, b in zip(theta_e, x, y, strict=True)])
    images = sim._batch.model([c[0] for c in sources], [c[1] for c in sources], models)
    reference_model = sim._renderer.reference_image_model(100)
    for image, kwargs_lens, (cx, cy) in zip(images, lens_kwargs, sources, strict=True):
        source = {'amp': 20, 'R_sersic': 0.25, 'n_sersic': 1, 'e1': -0.1, 'e2': 0.1,
                  'center_x': cx, 'center_y': cy}
        expected = reference_model.image(kwargs_lens, [source])
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


@pytest.mark.parametrize('model', ['model_i', 'model_iii'])
@pytest.mark.parametrize('substructure', ['none', 'cdm', 'vortex'])
def test_batch_size_does_not_change_any_image(model, substructure):
    # image k depends on (seed, k) only: rendered alone, in batches of 3 or all together
    images = {size: LensSimulator(model, substructure, seed=8, batch_size=size).simulate(7)
              for size in (1, 3, 7)}
    np.testing.assert_array_equal(images[1], images[3])
    np.testing.assert_array_equal(images[1], images[7])
    # the batched simulate is the single-image render with that image's generator
    sim = LensSimulator(model, substructure, seed=8)
    single, _ = sim.render(np.random.default_rng(image_seed(np.random.SeedSequence(8), 5)))
    np.testing.assert_array_equal(single, images[3][5])


def test_render_batch_is_render_of_each():
    sim = LensSimulator('model_i', 'cdm', seed=1)
    batch, metas = sim.render_batch([np.random.default_rng(k) for k in range(4)])
    for k in range(4):
        image, meta = sim.render(np.random.default_rng(k))
        np.testing.assert_array_equal(image, batch[k])
        np.testing.assert_array_equal(meta['subhalo_masses'], metas[k]['subhalo_masses'])


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match='batch_size'):
        LensSimulator(batch_size=0)


def test_point_mass_deflection_far_from_a_compact_vortex_is_exact():
    # beyond three extents of the masses the multipole expansion is used: there it
    # must agree with the direct sum to 1e-5 of the local deflection
    from astrolens.simulation._physics import point_mass_deflection

    batch = LensSimulator('model_i', 'vortex')._batch
    masses, x, y, _, _ = vortex_subhalos(np.random.default_rng(0), axion_mass=3e-23)
    theta_e = einstein_radius(masses)
    au, av = batch._point_mass_shift(theta_e, x, y)
    xx, yy = np.meshgrid(batch.x, batch.y)
    ax, ay = point_mass_deflection(xx, yy, x, y, theta_e, far_factor=np.inf)
    eu, ev = batch._transform(ax, ay)
    far = np.hypot(xx, yy) > 4 * np.hypot(x, y).max()
    assert far.mean() > 0.9
    error = np.hypot(au - eu, av - ev)[far] / np.hypot(eu, ev)[far]
    assert error.max() < 1e-5


def test_point_mass_on_a_pixel_centre_gives_finite_deflections():
    from astrolens.simulation._physics import point_mass_deflection

    batch = LensSimulator('model_i', 'cdm')._batch
    # one mass exactly on a pixel centre, one elsewhere
    cx, cy = np.array([batch.x[40], 0.3]), np.array([batch.y[70], -0.2])
    theta_e = np.array([0.05, 0.02])
    au, av = batch._point_mass_shift(theta_e, cx, cy)
    assert np.isfinite(au).all() and np.isfinite(av).all()
    xx, yy = np.meshgrid(batch.x, batch.y)
    eu, ev = batch._transform(*point_mass_deflection(xx, yy, cx, cy, theta_e,
                                                     far_factor=np.inf))
    assert au[70, 40] == pytest.approx(eu[70, 40], abs=1e-6)
    off = np.ones(au.shape, dtype=bool)
    off[70, 40] = False
    np.testing.assert_allclose(au[off], eu[off], atol=1e-4 * np.abs(eu[off]).max())
