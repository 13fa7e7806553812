"""Core-loss generator: ground truth, physics sanity, determinism, bad input."""

import numpy as np
import pytest

from hyperspy_eels_ml.simulation import core_loss
from hyperspy_eels_ml.simulation.edges import edge_onsets


def test_shapes_and_labels():
    b = core_loss(64, ["C", "O", "Fe"], energy_offset=250, dispersion=0.5, size=1024, rng=0)
    assert b.spectra.shape == (64, 1024) and b.spectra.dtype == np.float32
    assert b.present.shape == b.visible.shape == (64, 3)
    assert np.all(b.present.any(axis=1))
    assert not np.any(b.visible & ~b.present)  # never visible when absent
    assert set(b.params) >= {"E0", "beta", "instrument_shift", "chemical_shift", "t_lambda", "counts"}
    assert np.all((b.params["t_lambda"] >= 0.05) & (b.params["t_lambda"] <= 1.5))


def test_deterministic_for_a_seed():
    a = core_loss(8, ["Mn", "O"], energy_offset=400, size=512, rng=3)
    b = core_loss(8, ["Mn", "O"], energy_offset=400, size=512, rng=3)
    np.testing.assert_array_equal(a.spectra, b.spectra)


def test_edge_onset_follows_shift():
    """The C K edge rises at onset + instrument shift + chemical shift."""
    for shift in (-4.0, 0.0, 4.0):
        b = core_loss(1, ["C"], energy_offset=250, dispersion=0.1, size=800, amounts=[1.0], instrument_shift=shift,
                      chemical_shift=0.0, noise=False, fine_structure=False, t_lambda=0.05, zlp_fwhm=0.3,
                      jump_ratio=1.0, rng=1)
        s = b.spectra[0]
        rise = b.energy[np.argmax(np.diff(s))]
        assert rise == pytest.approx(edge_onsets("C")["K"] + shift, abs=0.6)


def test_element_outside_window_is_not_visible():
    b = core_loss(32, ["C", "Fe"], energy_offset=250, dispersion=0.25, size=1024, amounts=[1.0, 1.0], rng=2)
    assert not b.visible[:, 1].any()  # Fe L3 (708 eV) lies above the 250-506 eV window
    assert b.present[:, 1].all()


def test_visibility_grows_with_counts():
    kw = dict(energy_offset=450, dispersion=0.5, size=1024, amounts=[1.0, 0.02], rng=4)
    low = core_loss(200, ["O", "Fe"], counts=100, **kw).visible[:, 1].mean()
    high = core_loss(200, ["O", "Fe"], counts=1e5, **kw).visible[:, 1].mean()
    assert high > low
    assert high > 0.5


def test_plural_scattering_fills_in_after_edge():
    """More thickness moves counts from the edge onset to one plasmon energy above it."""
    kw = dict(energy_offset=250, dispersion=0.25, size=1024, amounts=[1.0], instrument_shift=0, chemical_shift=0,
              noise=False, fine_structure=False, plasmon_energy=20.0, plasmon_width=5.0, zlp_fwhm=0.5, E0=200,
              beta=30, background_exponent=3.0, jump_ratio=1.0, rng=0)
    thin = core_loss(1, ["C"], t_lambda=0.05, **kw).spectra[0]
    thick = core_loss(1, ["C"], t_lambda=1.2, **kw).spectra[0]
    e = core_loss(1, ["C"], t_lambda=0.05, **kw).energy
    on, k = np.searchsorted(e, 284 + 3), np.searchsorted(e, 284 + 22)
    assert thick[k] / thick[on] > 1.05 * thin[k] / thin[on]
    assert thick[-1] / thick[-20] == pytest.approx(thin[-1] / thin[-20], rel=0.05)  # no artefact at the window end


def test_poisson_statistics():
    kw = dict(energy_offset=400, size=256, amounts=[1.0, 1.0], counts=1000.0, gain=1.0, read_noise=0.0, rng=5)
    mean = core_loss(1, ["Mn", "O"], noise=False, **kw).spectra[0]
    noisy = core_loss(1, ["Mn", "O"], **kw).spectra[0]
    z = (noisy - mean) / np.sqrt(np.maximum(mean, 1))
    assert abs(z.mean()) < 0.3 and 0.7 < z.std() < 1.3


def test_bad_input():
    with pytest.raises(ValueError, match="Unknown element 'Qq'"):
        core_loss(2, ["Qq"])
    with pytest.raises(ValueError, match="counts must be positive"):
        core_loss(2, ["C"], counts=-5)
    with pytest.raises(ValueError, match="amounts must be >= 0"):
        core_loss(2, ["C"], amounts=[-1.0])
    with pytest.raises(ValueError, match="outside the edge table"):
        core_loss(2, ["C"], energy_offset=9000)
    with pytest.raises(ValueError, match="energy_offset > 0"):
        core_loss(2, ["C"], energy_offset=-10)
    with pytest.raises(ValueError, match="E0 must be in kV"):
        core_loss(2, ["C"], E0=200000)
