"""identify_elements' SI rule: the sum-spectrum second opinion (sum_spectrum=True, the default)."""

import numpy as np
import pytest

from hyperspy_eels_ml.elements import LABELS, identify_elements


def _scattered_si(seed=5):
    """12x12 SI: O everywhere, Fe + O in isolated pixels (every other row and column, never 8-connected)."""
    from exspy.signals import EELSSpectrum

    from hyperspy_eels_ml.simulation.core_loss import core_loss

    fe_px = np.zeros((12, 12), bool)
    fe_px[::2, ::2] = True
    amounts = np.where(fe_px.reshape(-1, 1), [[1.0, 1.0]], [[1.0, 0.0]])
    b = core_loss(144, ["O", "Fe"], energy_offset=450.0, dispersion=0.5, size=1000, amounts=amounts,
                  counts=(2e4, 5e4), jump_ratio=(0.5, 1.0), rng=11, realism="basic")
    s = EELSSpectrum(b.spectra.reshape(12, 12, -1))
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.scale, ax.offset, ax.name = "eV", 0.5, 450.0, "Energy loss"
    return s, fe_px


@pytest.fixture(scope="module")
def scattered():
    return _scattered_si()


def test_sum_spectrum_opinion_reports_an_element_whose_calls_are_scattered(scattered):
    s, fe_px = scattered
    r = identify_elements(s, show_progressbar=False)
    p = np.asarray(r.probabilities.data)[..., LABELS.index("Fe")]
    called = p >= 0.5
    assert called[fe_px].mean() > 0.8 and not called[~fe_px].any()  # isolated calls: no connected region
    area_only = identify_elements(s, show_progressbar=False, sum_spectrum=False).elements
    assert "Fe" not in area_only and "O" in area_only
    assert r.sum_spectrum_probabilities[LABELS.index("Fe")] >= 0.5
    assert "Fe" in r.elements
    assert any("sum spectrum" in f for f in r.flags["Fe"]) and "O" not in r.flags
    assert r.parameters["sum_spectrum"] is True


def test_sum_spectrum_opinion_needs_min_area_calls(scattered):
    s, _ = scattered
    # 36 Fe pixels are called: with min_area above that, the sum spectrum alone does not report Fe
    r = identify_elements(s, show_progressbar=False, min_area=40)
    assert r.sum_spectrum_probabilities[LABELS.index("Fe")] >= 0.5
    assert "Fe" not in r.elements


def test_sum_spectrum_of_unmasked_pixels_lazy_equals_eager(scattered):
    s, fe_px = scattered
    mask = np.zeros((12, 12), bool)
    mask[:, 6:] = True
    r = identify_elements(s, show_progressbar=False, navigation_mask=mask)
    np.testing.assert_allclose(r.sum_spectrum, s.data[~mask].astype(np.float64).sum(axis=0), rtol=1e-10)
    sl = s.as_lazy()
    sl.data = sl.data.rechunk((4, 12, -1))
    rl = identify_elements(sl, show_progressbar=False, navigation_mask=mask)
    assert rl.is_lazy
    assert rl.elements == r.elements
    rl.compute(show_progressbar=False)
    assert isinstance(rl.sum_spectrum, np.ndarray)
    np.testing.assert_allclose(rl.sum_spectrum, r.sum_spectrum, rtol=1e-10)
    np.testing.assert_allclose(rl.sum_spectrum_probabilities, r.sum_spectrum_probabilities, rtol=1e-5, equal_nan=True)


def test_single_spectrum_has_no_sum_opinion():
    s, _ = _scattered_si()
    r = identify_elements(s.inav[0, 0], show_progressbar=False)
    assert r.sum_spectrum is None and r.sum_spectrum_probabilities is None
    assert r.elements == ["O", "Fe"]
