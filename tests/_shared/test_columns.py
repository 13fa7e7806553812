"""spectrum_from_columns: two-column references keep every value at its recorded energy."""

import numpy as np
import pytest
from exspy.signals import EELSSpectrum

from hyperspy_eels_ml import spectrum_from_columns


def test_evenly_spaced_columns_are_kept_as_they_are():
    e = 400.0 + 0.25 * np.arange(200) + 1e-4 * np.sin(np.arange(200))  # rounding of exported values
    y = np.random.default_rng(0).random(200)
    s = spectrum_from_columns(e, y, title="ref")
    ax = s.axes_manager.signal_axes[0]
    assert isinstance(s, EELSSpectrum) and ax.is_uniform and ax.units == "eV"
    assert ax.offset == pytest.approx(400.0) and ax.scale == pytest.approx(0.25, abs=1e-5)
    np.testing.assert_array_equal(s.data, y)
    assert s.metadata.hyperspy_eels_ml.spectrum_from_columns.resampled is False
    assert s.metadata.General.title == "ref"


def test_uneven_columns_are_resampled_at_their_energies_with_a_warning():
    rng = np.random.default_rng(1)
    steps = rng.uniform(0.0, 0.3, 300)
    steps[[10, 50, 51]] = 0.0  # repeated energies, as in digitised spectra
    e = 630.0 + np.concatenate([[0.0], np.cumsum(steps)])
    y = 3.0 * e - 100.0  # linear: interpolation is exact wherever the values sit at their energies
    y[11] = y[10] + 2.0  # a repeated energy with two values: they are averaged
    y[10] -= 2.0
    with pytest.warns(UserWarning, match="not evenly spaced.*3 repeated energies averaged"):
        s = spectrum_from_columns(e[::-1], y[::-1])  # any order
    ax = s.axes_manager.signal_axes[0]
    assert ax.is_uniform and ax.offset == pytest.approx(e[0])
    u = np.unique(e)
    assert ax.scale == pytest.approx(np.median(np.diff(u)))
    np.testing.assert_allclose(s.data, 3.0 * ax.axis - 100.0, rtol=0, atol=1e-9)
    info = s.metadata.hyperspy_eels_ml.spectrum_from_columns
    assert info.resampled is True and info.n_repeated_energies == 3
    # what placing the values on a uniform axis would have done (the old benchmark reader)
    placed = e[0] + np.mean(np.diff(e)) * np.arange(e.size)
    assert info.max_shift_if_placed_uniformly_eV == pytest.approx(np.max(np.abs(e - placed)))
    assert info.max_shift_if_placed_uniformly_eV > 1.0


@pytest.mark.parametrize("e,y,match", [
    (np.arange(5.0), np.arange(4.0), "same length"),
    (np.ones((2, 3)), np.ones((2, 3)), "1-D"),
    (np.array([1.0, np.nan, 3.0]), np.ones(3), "NaN/inf"),
    (np.ones(4), np.ones(4), "fewer than 2 distinct"),
])
def test_bad_columns_get_a_clear_error(e, y, match):
    with pytest.raises(ValueError, match=match):
        spectrum_from_columns(e, y)
