import numpy as np
import pytest

from astrolens.simulation import einstein_radius, point_mass_deflection, sample_cdm_masses
from astrolens.simulation._physics import (
    cdm_subhalos,
    point_mass_deflection_grid,
    vortex_half_length,
    vortex_subhalos,
)


def test_main_halo_einstein_radius_follows_deeplensesim_convention():
    assert einstein_radius(1e12) == pytest.approx(1.2815, abs=5e-4)
    # theta_E scales as sqrt(M)
    assert einstein_radius(1e10) == pytest.approx(einstein_radius(1e12) / 10, rel=1e-12)


def test_einstein_radius_refuses_source_in_front_of_lens():
    with pytest.raises(ValueError, match='z_source'):
        einstein_radius(1e12, z_lens=1.0, z_source=0.5)


def test_cdm_masses_follow_the_power_law():
    masses = sample_cdm_masses(np.random.default_rng(0), 20000)
    assert masses.min() >= 1e6 and masses.max() <= 1e10
    edges = np.logspace(6, 10, 17)
    counts, _ = np.histogram(masses, bins=edges)
    dn_dm = counts / np.diff(edges)
    centres = np.sqrt(edges[1:] * edges[:-1])
    slope = np.polyfit(np.log10(centres), np.log10(dn_dm), 1)[0]
    assert slope == pytest.approx(-0.9, abs=0.05)


def test_cdm_subhalo_positions_lie_in_the_annulus():
    masses, x, y = cdm_subhalos(np.random.default_rng(1))
    assert masses.shape == (25,)
    assert np.all((np.hypot(x, y) >= 0.25) & (np.hypot(x, y) <= 2.0))


@pytest.mark.parametrize('axion_mass', [1e-24, 1e-23, 1e-22])
def test_vortex_is_a_line_of_the_stated_length(axion_mass):
    masses, x, y, m_a, angle = vortex_subhalos(np.random.default_rng(2), axion_mass=axion_mass)
    half = 0.06e-22 / (2 * axion_mass)
    assert vortex_half_length(axion_mass) == pytest.approx(half)
    assert masses.shape == (100,) and masses.sum() == pytest.approx(3e10)
    # end points at +-half, every point on the line through the centre at `angle`
    assert np.hypot(x[0], y[0]) == pytest.approx(half)
    assert np.hypot(x[-1], y[-1]) == pytest.approx(half)
    assert np.allclose(x * np.sin(angle) - y * np.cos(angle), 0, atol=1e-12 * max(half, 1))
    assert np.allclose(np.hypot(np.diff(x), np.diff(y)), 2 * half / 99)


def _lenstronomy_alpha(x, y, cx, cy, theta_e):
    from lenstronomy.LensModel.lens_model import LensModel

    model = LensModel(['POINT_MASS'] * len(cx))
    kwargs = [{'theta_E': t, 'center_x': a, 'center_y': b}
              for t, a, b in zip(theta_e, cx, cy, strict=True)]
    return model.alpha(x, y, kwargs)


@pytest.mark.parametrize('kind', ['cdm', 'vortex-long', 'vortex-short'])
def test_vectorised_deflection_matches_lenstronomy(kind):
    rng = np.random.default_rng(3)
    if kind == 'cdm':
        masses, cx, cy = cdm_subhalos(rng)
    else:
        axion = 2e-24 if kind == 'vortex-long' else 5e-23
        masses, cx, cy, _, _ = vortex_subhalos(rng, axion_mass=axion)
    theta_e = einstein_radius(masses)
    x1 = (np.arange(60) - 29.5) * 0.12
    x, y = np.meshgrid(x1, x1)
    ref_x, ref_y = _lenstronomy_alpha(x, y, cx, cy, theta_e)
    ax, ay = point_mass_deflection(x, y, cx, cy, theta_e)
    assert np.allclose(ax, ref_x, rtol=0, atol=1e-12) and np.allclose(ay, ref_y, atol=1e-12)
    gx, gy = point_mass_deflection_grid(x1, x1, cx, cy, theta_e)
    scale = np.abs(ref_x).max()
    assert np.abs(gx - ref_x).max() < 1e-3 * scale and np.abs(gy - ref_y).max() < 1e-3 * scale
