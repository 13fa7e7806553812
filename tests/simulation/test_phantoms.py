"""Phantoms: determinism, lazy == eager, ground truth consistency, lazy creation of big SIs."""

import time

import numpy as np
import pytest

from hyperspy_eels_ml.simulation import multiphase_core_loss_si
from hyperspy_eels_ml.simulation.phantoms import (
    ferrite_core_shell_si,
    nanocube_core_shell_si,
    superlattice_core_loss_si,
    ws2_flake_low_loss_si,
)


@pytest.mark.parametrize("make", [
    lambda lazy: multiphase_core_loss_si((12, 20), n_channels=128, lazy=lazy, chunk_rows=5, seed=3),
    lambda lazy: ws2_flake_low_loss_si((12, 20), n_channels=400, lazy=lazy, chunk_rows=5, seed=3),
    lambda lazy: superlattice_core_loss_si((12, 20), n_channels=256, lazy=lazy, chunk_rows=5, seed=3),
    lambda lazy: nanocube_core_shell_si((12, 20), n_channels=1200, n_cubes=1, lazy=lazy, chunk_rows=5, seed=3),
    lambda lazy: ferrite_core_shell_si((16, 20), n_particles=2, diameters_nm=(5, 12), lazy=lazy, chunk_rows=5,
                                       seed=3),
], ids=["multiphase", "ws2_flake", "superlattice", "nanocube", "ferrite"])
def test_lazy_equals_eager_and_deterministic(make):
    s, _ = make(False)
    sl, _ = make(True)
    assert sl._lazy and not s._lazy
    assert s.metadata.Signal.signal_type == "EELS" and s.axes_manager.signal_axes[0].units == "eV"
    np.testing.assert_array_equal(sl.data.compute(), s.data)
    np.testing.assert_array_equal(make(False)[0].data, s.data)


def test_big_lazy_phantoms_are_not_materialised():
    for make in (lambda: multiphase_core_loss_si((1000, 1000), lazy=True),
                 lambda: ws2_flake_low_loss_si((1000, 1000), lazy=True),
                 lambda: superlattice_core_loss_si((1000, 1000), lazy=True),
                 lambda: nanocube_core_shell_si((1000, 1000), lazy=True),
                 lambda: ferrite_core_shell_si((1000, 1000), lazy=True)):
        t0 = time.perf_counter()
        s, _ = make()
        assert s._lazy and s.axes_manager.navigation_shape == (1000, 1000)
        assert time.perf_counter() - t0 < 5.0


def test_ws2_flake_truth():
    s, truth = ws2_flake_low_loss_si((16, 24), n_channels=1982, seed=0)
    zlp, inel = truth.zlp.data, truth.inelastic.data
    assert truth.vacuum.any() and (~truth.vacuum).any()
    assert np.all(inel[truth.vacuum] < 1e-6 * zlp[truth.vacuum].max())
    assert np.all(truth.t_lambda[truth.vacuum] == 0) and truth.t_lambda.max() == pytest.approx(0.9)
    # recorded counts scatter around the truth (Poisson)
    tot = s.data.sum(-1)
    np.testing.assert_allclose(tot, (zlp + inel).sum(-1), rtol=0.01)
    # log-ratio thickness from the truth grows with the flake's t/lambda
    m = np.log((zlp + inel).sum(-1) / zlp.sum(-1))
    assert np.corrcoef(m[~truth.vacuum], truth.t_lambda[~truth.vacuum])[0, 1] > 0.99
    assert np.all(truth.band_gap[~truth.vacuum] == 1.6)


def test_superlattice_element_maps():
    s, truth = superlattice_core_loss_si((6, 40), interdiffusion=0.0, seed=1)
    la = truth.elements.index("La")
    ba = truth.elements.index("Ba")
    assert np.all(truth.amounts[truth.layer == 0][:, la] == 1)
    assert np.all(truth.amounts[truth.layer != 0][:, la] == 0)
    assert np.all(truth.amounts[truth.layer == 1][:, ba] == 1)
    # the La M5 white line (832 eV) is stronger in LaMnO3 than in BaTiO3 pixels
    e = s.axes_manager.signal_axes[0].axis
    win = (e > 830) & (e < 840)
    pre = (e > 815) & (e < 825)
    jump = s.data[..., win].mean(-1) - s.data[..., pre].mean(-1)
    assert jump[truth.layer == 0].mean() > 3 * abs(jump[truth.layer == 1].mean())


def test_nanocube_truth_and_spectra():
    s, truth = nanocube_core_shell_si((48, 64), seed=0)
    assert set(np.unique(truth.phase)) == {-1, 0, 1, 2}
    assert np.all(truth.fe3_fraction[truth.phase == 1] == 0)
    assert np.allclose(truth.fe3_fraction[truth.phase == 2], 2 / 3)
    assert np.all(np.isnan(truth.fe3_fraction[truth.phase <= 0]))
    e = s.axes_manager.signal_axes[0].axis
    fe_l3 = (e > 705) & (e < 713)
    pre = (e > 690) & (e < 700)
    jump = s.data[..., fe_l3].mean(-1) - s.data[..., pre].mean(-1)
    assert jump[truth.phase >= 1].mean() > 10 * abs(jump[truth.phase == 0].mean())
    # Fe3O4 shell: the Fe3+ maximum (709.5 eV) is relatively stronger than in the FeO core (707.8 eV)
    def ratio(mask):
        m = s.data[mask].mean(0)
        return m[np.argmin(abs(e - 709.5))] / m[np.argmin(abs(e - 707.8))]
    assert ratio(truth.phase == 2) > ratio(truth.phase == 1)
    assert np.all(s.data[truth.vacuum].mean(-1) < 5)


def test_nanocube_needs_o_k_and_fe_l():
    with pytest.raises(ValueError, match="must cover the O K and Fe L2,3 edges"):
        nanocube_core_shell_si((8, 8), n_channels=512)


def test_ferrite_composition_map():
    s, truth = ferrite_core_shell_si((64, 64), seed=0)
    assert all(5 <= d <= 60 for d in truth.diameters_nm) and truth.diameters_nm
    assert np.all(truth.mn_x[truth.phase == 1] == 0) and np.allclose(truth.mn_x[truth.phase == 2], 0.6)
    part = truth.phase >= 1
    assert np.nanmax(truth.mn_fraction) == pytest.approx(0.2)  # x / 3 in a pure shell chord
    # the Mn L3 jump follows the Mn amount along the beam
    e = s.axes_manager.signal_axes[0].axis
    jump = s.data[..., (e > 638) & (e < 644)].mean(-1) - s.data[..., (e > 625) & (e < 634)].mean(-1)
    mn_amount = truth.mn_fraction * truth.t_lambda
    assert np.corrcoef(jump[part], np.nan_to_num(mn_amount[part]))[0, 1] > 0.8
    with pytest.raises(ValueError, match="must cover O K, Mn L2,3 and Fe L2,3"):
        ferrite_core_shell_si((8, 8), energy_offset=600)


def test_small_nanocube_si_regression():
    """Regression (issue 9): a 6x8 nanocube SI raised numpy's 'low >= high'."""
    from hyperspy_eels_ml.simulation import nanocube_core_shell_si

    s, truth = nanocube_core_shell_si((6, 8), n_channels=1200, seed=0)
    assert s.data.shape == (6, 8, 1200) and np.isfinite(s.data).all()
    assert (truth.phase >= 1).any()  # a cube was placed
    with pytest.raises(ValueError, match="too small for a nanocube"):
        nanocube_core_shell_si((2, 3), n_channels=1200)


def test_multiphase_si_over_a_range_without_edges_is_a_clear_error():
    """Regression (issue 9): a range without any edge gave numpy's 'lam value too large'."""
    from hyperspy_eels_ml.simulation import multiphase_core_loss_si

    with pytest.raises(ValueError, match="contains no edge of phase"):
        multiphase_core_loss_si((4, 4), energy_range=(100.0, 300.0), n_channels=200)
