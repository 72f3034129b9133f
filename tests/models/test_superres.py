import copy
import json

import numpy as np
import pytest
import torch
from astropy import units as u
from astropy.io import fits
from astropy.nddata import NDData, StdDevUncertainty
from astropy.wcs.utils import pixel_to_skycoord
from skimage.measure import block_reduce

from astrolens.cli import main
from astrolens.io import read_fits, write_fits
from astrolens.models._superres import SuperResolver, is_surface_brightness
from astrolens.utils import NotFittedError, WeightsError
from astrolens.wcs_utils import make_wcs, scale_wcs

torch.set_num_threads(1)


def _blob_pairs(n, size=32, s=2, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = (np.mgrid[0:size * s, 0:size * s] + 0.5) / s
    hr = np.zeros((n, size * s, size * s))
    for i in range(n):
        for _ in range(3):
            cy, cx = rng.uniform(6, size - 6, 2)
            sig = rng.uniform(1.0, 3.0)
            hr[i] += rng.uniform(1, 10) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2)
                                                 / (2 * sig ** 2))
    lr = block_reduce(hr, (1, s, s), np.sum)
    return lr + rng.normal(0, 0.01, lr.shape), hr


@pytest.fixture(scope='module')
def pairs():
    return _blob_pairs(24)


@pytest.fixture(scope='module')
def fitted(pairs):
    lr, hr = pairs
    sr = SuperResolver(2, arch='edsr-xs', arch_kwargs={'n_feats': 8, 'n_blocks': 2}, seed=0)
    return sr.fit(lr, hr, epochs=2, batch_size=8, patch_size=16, progress=False)


def _blob(shape, cy, cx, sigma=2.0):
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return 5.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma ** 2)) + 0.01


def test_enhance_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError, match='from_pretrained'):
        SuperResolver().enhance(np.ones((8, 8)))


def test_init_only_stores_parameters():
    sr = SuperResolver(3, arch='edsr-m', loss='l2', flux='block', seed=4)
    assert (sr.scale, sr.arch, sr.loss, sr.flux, sr.seed) == (3, 'edsr-m', 'l2', 'block', 4)
    assert not hasattr(sr, 'model_')


@pytest.mark.parametrize('kwargs, match', [({'scale': 5}, 'scale must be'),
                                           ({'loss': 'hinge'}, 'loss must be'),
                                           ({'loss': 'gan', 'gan': {'vgg': 1}},
                                            'unknown gan options'),
                                           ({'arch': 'vdsr'}, 'unknown arch'),
                                           ({'flux': 'sum'}, 'flux must be')])
def test_bad_parameters_are_reported_at_fit(pairs, kwargs, match):
    with pytest.raises(ValueError, match=match):
        SuperResolver(**kwargs).fit(*pairs, epochs=1)


def test_mismatched_pair_shapes_are_reported():
    with pytest.raises(ValueError, match='expected 2 x the low-resolution shape'):
        SuperResolver(2).fit(np.ones((4, 8, 8)), np.ones((4, 15, 16)), epochs=1)


def test_fit_without_hr_says_what_is_accepted():
    with pytest.raises(TypeError, match='RegisteredPair'):
        SuperResolver(2).fit(np.ones((4, 8, 8)))


def test_fit_sets_learned_attributes(fitted):
    assert fitted.flux_gain_ == pytest.approx(0.25, rel=0.05)
    assert len(fitted.history_) == 2 and 'val_psnr' in fitted.history_[0]


def test_enhance_array_keeps_total_flux_and_batch_shape(fitted, pairs):
    lr = pairs[0][:3]
    out = fitted.enhance(lr, progress=False)
    assert out.shape == (3, 64, 64)
    np.testing.assert_allclose(out.sum(axis=(1, 2)), lr.sum(axis=(1, 2)), rtol=1e-3)


def test_enhance_nddata_scales_wcs_keeps_unit_and_records_provenance(fitted, pairs):
    wcs = make_wcs((32, 32), 0.1)
    nd = NDData(pairs[0][0], wcs=wcs, unit=u.electron / u.s, meta={'object': 'lens'})
    out = fitted.enhance(nd, progress=False)
    assert out.unit == u.electron / u.s
    assert out.meta['object'] == 'lens'
    assert out.meta['sr_scale'] == 2 and out.meta['sr_model'] == fitted.name_
    np.testing.assert_allclose(out.wcs.wcs.crpix, scale_wcs(wcs, 2).wcs.crpix)
    assert out.data.sum() == pytest.approx(nd.data.sum(), rel=1e-3)


def test_surface_brightness_keeps_the_mean(fitted, pairs):
    assert is_surface_brightness(u.MJy / u.sr)
    assert is_surface_brightness(u.erg / u.s / u.cm ** 2 / u.arcsec ** 2)
    assert not is_surface_brightness(u.electron / u.s)
    image = pairs[0][1]
    out = fitted.enhance(NDData(image, unit=u.MJy / u.sr), progress=False)
    assert out.data.mean() == pytest.approx(image.mean(), rel=1e-3)


def test_block_flux_is_exactly_consistent(fitted, pairs):
    image = pairs[0][2]
    out = fitted.enhance(image, flux='block', progress=False)
    np.testing.assert_allclose(block_reduce(out.data, 2, np.sum), image, rtol=1e-6,
                               atol=1e-9 * np.abs(image).max())


def test_enhance_tiled_equals_untiled(fitted):
    rng = np.random.default_rng(3)
    image = _blob((90, 75), 40.3, 33.7) + rng.normal(0, 0.05, (90, 75))
    rf = fitted.model_.receptive_field
    full = fitted.enhance(image, tile=512, progress=False).data
    tiled = fitted.enhance(image, tile=2 * rf + 10, batch_size=2, progress=False).data
    assert np.abs(tiled - full).max() < 1e-5 * (full.max() - full.min())


def test_source_keeps_its_sky_position_on_a_rotated_wcs(fitted):
    wcs = make_wcs((41, 41), 0.1, ra=150.1, dec=2.2, rotation=33.0)
    cy, cx = 20.3, 19.6
    nd = NDData(_blob((41, 41), cy, cx), wcs=wcs)
    out = fitted.enhance(nd, progress=False)
    truth = pixel_to_skycoord(cx, cy, wcs, origin=0)
    data = out.data - np.median(out.data)
    data = np.where(data > 0.01 * data.max(), data, 0.0)
    yy, xx = np.indices(data.shape)
    oy, ox = (yy * data).sum() / data.sum(), (xx * data).sum() / data.sum()
    found = pixel_to_skycoord(ox, oy, out.wcs, origin=0)
    assert truth.separation(found).to_value(u.mas) < 1.0


def test_nan_and_masked_pixels_do_not_leak(fitted, pairs):
    image = pairs[0][0].copy()
    image[10, 12] = np.nan
    mask = np.zeros(image.shape, dtype=bool)
    mask[20, 5] = True
    image_masked_value = image.copy()
    image_masked_value[20, 5] = 1e6  # a masked hot pixel must not affect anything
    out = fitted.enhance(NDData(image_masked_value, mask=mask), progress=False)
    bad = np.isnan(out.data)
    assert bad.sum() == 4 and bad[20:22, 24:26].all()
    assert out.mask[40:42, 10:12].all() and out.mask[20:22, 24:26].all()
    assert out.mask.sum() == 8
    assert np.nanmax(out.data) < 100
    good = ~out.mask
    lr_good = np.isfinite(image) & ~mask
    assert out.data[good].sum() == pytest.approx(image[lr_good].sum(), rel=1e-3)


def test_uncertainty_from_d4_spread(fitted, pairs):
    out = fitted.enhance(pairs[0][0], uncertainty='d4', progress=False)
    assert isinstance(out.uncertainty, StdDevUncertainty)
    assert out.uncertainty.array.shape == out.data.shape
    assert (out.uncertainty.array >= 0).all() and out.uncertainty.array.max() > 0


def test_enhance_rejects_bad_inputs(fitted):
    with pytest.raises(TypeError, match='expected'):
        fitted.enhance({'a': 1})
    with pytest.raises(ValueError, match='shape'):
        fitted.enhance(np.ones(10))
    with pytest.raises(ValueError, match='too small'):
        fitted.enhance(np.ones((8, 8)), tile=4)
    with pytest.raises(ValueError, match='linear unit'):
        fitted.enhance(NDData(np.ones((8, 8)), unit=u.mag))


def test_evaluate_reports_model_and_bicubic(fitted):
    lr, hr = _blob_pairs(3, seed=9)
    res = fitted.evaluate(lr, hr)
    assert set(res) == {'model', 'bicubic', 'n_images'}
    for entry in (res['model'], res['bicubic']):
        assert {'psnr', 'ssim', 'mse', 'flux_error', 'flux_conservation'} <= set(entry)
    assert res['model']['flux_conservation'] < 1e-3


def test_save_load_round_trip(fitted, pairs, tmp_path):
    weights, config = fitted.save(tmp_path / 'model')
    assert weights.name == 'model.safetensors' and config.name == 'model.json'
    loaded = SuperResolver.load(tmp_path / 'model.json')
    a = fitted.enhance(pairs[0][0], progress=False).data
    b = loaded.enhance(pairs[0][0], progress=False).data
    np.testing.assert_array_equal(a, b)
    assert loaded.flux_gain_ == fitted.flux_gain_
    assert SuperResolver.from_pretrained(tmp_path / 'model').arch == 'edsr-xs'
    with pytest.raises(FileExistsError):
        fitted.save(tmp_path / 'model')


def test_corrupted_and_mismatched_weights_raise_weights_error(fitted, tmp_path):
    weights, config = fitted.save(tmp_path / 'model')
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(WeightsError, match='safetensors'):
        SuperResolver.load(tmp_path / 'model')
    fitted.save(tmp_path / 'other')
    cfg = json.loads((tmp_path / 'other.json').read_text())
    cfg['arch_kwargs'] = {'n_feats': 12, 'n_blocks': 2}
    (tmp_path / 'other.json').write_text(json.dumps(cfg))
    with pytest.raises(WeightsError, match='do not fit the architecture'):
        SuperResolver.load(tmp_path / 'other')
    (tmp_path / 'other.json').write_text('{not json')
    with pytest.raises(WeightsError, match='JSON'):
        SuperResolver.load(tmp_path / 'other')
    fitted.save(tmp_path / 'third')
    cfg = json.loads((tmp_path / 'third.json').read_text())
    cfg['flux_threshold'] = 'high'
    (tmp_path / 'third.json').write_text(json.dumps(cfg))
    with pytest.raises(WeightsError, match='flux_threshold'):
        SuperResolver.load(tmp_path / 'third')
    cfg['flux_threshold'] = 2
    (tmp_path / 'third.json').write_text(json.dumps(cfg))
    assert SuperResolver.load(tmp_path / 'third').flux_threshold_ == 2.0


def test_unknown_pretrained_name_lists_shipped_models():
    with pytest.raises(ValueError, match='shipped'):
        SuperResolver.from_pretrained('no-such-model')


def test_fine_tune_starts_from_current_weights(fitted, pairs):
    lr, hr = pairs
    other = copy.deepcopy(fitted)  # keep the module fixture untouched
    other.fine_tune(lr[:10], hr[:10], epochs=1, batch_size=4, patch_size=12, progress=False)
    assert other.config_['training']['init'] is not None
    assert other.learning_rate == fitted.learning_rate


def test_cli_enhance_writes_fits_keeps_header_and_refuses_overwrite(fitted, pairs, tmp_path):
    fitted.save(tmp_path / 'model')
    header = make_wcs((32, 32), 0.1).to_header()
    header['OBSERVER'] = 'Hubble'
    src = tmp_path / 'in.fits'
    fits.PrimaryHDU(pairs[0][0], header=header).writeto(src)
    out = tmp_path / 'out.fits'
    args = ['enhance', str(src), '-o', str(out), '--model', str(tmp_path / 'model'), '-q']
    assert main(args) == 0
    result = read_fits(out)
    assert result.data.shape == (64, 64)
    assert result.meta['header']['OBSERVER'] == 'Hubble'
    assert result.wcs.wcs.crpix[0] == pytest.approx(2 * (16.5 - 0.5) + 0.5)
    assert main(args) == 1
    assert main(args + ['--overwrite', '--uncertainty']) == 0
    assert read_fits(out).uncertainty is not None


def test_write_fits_round_trip_of_enhanced_image(fitted, pairs, tmp_path):
    out = fitted.enhance((pairs[0][0], make_wcs((32, 32), 0.1)), progress=False)
    write_fits(out, tmp_path / 'sr.fits')
    back = read_fits(tmp_path / 'sr.fits')
    np.testing.assert_allclose(back.data, out.data)


def test_init_across_scales_transfers_the_body(fitted, pairs):
    lr3 = pairs[0][:8, :30, :30]
    hr3 = np.repeat(np.repeat(lr3, 3, axis=1), 3, axis=2) / 9
    x3 = SuperResolver(3, arch='edsr-xs', arch_kwargs={'n_feats': 8, 'n_blocks': 2})
    x3.fit(lr3, hr3, epochs=1, batch_size=4, patch_size=10, init=fitted, val_fraction=0,
           progress=False)
    assert x3.model_.upsample[0].weight.shape[0] == 8 * 9
    assert x3.config_['training']['init'] == fitted.name_
    with pytest.raises(ValueError, match='init weights are for'):
        SuperResolver(2, arch='edsr-s').fit(*pairs, epochs=1, init=fitted)


def test_a_chain_of_stages_keeps_every_earlier_stage(fitted, pairs, tmp_path):
    lr, hr = pairs[0][:8], pairs[1][:8]
    first = copy.deepcopy(fitted)
    first.config_['command'] = 'stage one'
    first.save(tmp_path / 'one')
    second = SuperResolver(2, arch=fitted.arch, arch_kwargs=fitted.arch_kwargs)
    second.fit(lr, hr, epochs=1, batch_size=4, patch_size=16, init=tmp_path / 'one',
               val_fraction=0, progress=False)
    second.config_['command'] = 'stage two'
    second.save(tmp_path / 'two')
    third = SuperResolver(2, arch=fitted.arch, arch_kwargs=fitted.arch_kwargs)
    third.fit(lr, hr, epochs=1, batch_size=4, patch_size=16, init=tmp_path / 'two',
              val_fraction=0, progress=False)
    stages = third.config_['pretraining']
    assert [s['command'] for s in stages] == ['stage one', 'stage two']
    assert stages[0]['epochs_run'] == fitted.config_['training']['epochs_run']
    assert third.config_['training']['init'].endswith('two')


def test_cli_train_sr_on_a_deeplense_folder(pairs, tmp_path):
    from astrolens.io import write_deeplense_sr

    write_deeplense_sr(tmp_path / 'data', pairs[0][:8], pairs[1][:8])
    out = tmp_path / 'tiny'
    assert main(['train', 'sr', '--data', str(tmp_path / 'data'), '--arch', 'edsr-xs',
                 '--epochs', '1', '--batch-size', '4', '--patch-size', '12', '-o', str(out),
                 '-q']) == 0
    config = json.loads((tmp_path / 'tiny.json').read_text())
    assert config['data']['n_train_pairs'] == 8
    assert config['command'].startswith('astrolens train sr')
    assert SuperResolver.load(out).scale == 2


def test_fit_accepts_a_deeplense_folder_and_registered_pairs(pairs, tmp_path):
    from astrolens.io import write_deeplense_sr
    from astrolens.preprocessing import RegisteredPair

    lr, hr = pairs[0][:6], pairs[1][:6]
    write_deeplense_sr(tmp_path, lr, hr)
    opts = {'epochs': 1, 'batch_size': 3, 'patch_size': 12, 'progress': False}
    small = {'arch': 'edsr-xs', 'arch_kwargs': {'n_feats': 8, 'n_blocks': 1}}
    assert SuperResolver(2, **small).fit(tmp_path, **opts).config_['training']['n_pairs'] == 6
    registered = [RegisteredPair(NDData(a), NDData(b), 2, (0, 0), (0, 0), (0, 0), (0, 0), 1.0,
                                 1.0, np.ones_like(b)) for a, b in zip(lr, hr, strict=True)]
    assert SuperResolver(2, **small).fit(registered, **opts).config_['training']['n_pairs'] == 6
    with pytest.raises(ValueError, match='factor'):
        SuperResolver(3, **small).fit(registered, **opts)


def test_patch_sampler_shares_an_epoch_between_processes_in_equal_parts():
    from astrolens.models._sr_data import PatchSampler as _PatchSampler
    from astrolens.models._training import epoch_rng

    n = 17
    xs = [np.full((8, 8), i, dtype=np.float32) for i in range(n)]
    ys = [np.full((16, 16), i, dtype=np.float32) for i in range(n)]
    sampler = _PatchSampler(xs, ys, scale=2, patch_size=4, batch_size=4, seed=3)
    assert sampler.steps() == 4 and sampler.steps(2) == 2

    def seen(rank, world):
        return [int(round(float(v))) for xb, _ in sampler(5, rank, world)
                for v in xb[:, 0, 0, 0]]

    # A single process keeps its historical order: its own generator's permutation.
    assert seen(0, 1) == list(epoch_rng(3, 5, 0).permutation(n)[:16])
    a, b = seen(0, 2), seen(1, 2)
    assert len(a) == len(b) == 8
    assert not set(a) & set(b)
