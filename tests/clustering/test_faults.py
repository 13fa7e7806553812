"""Fault battery of ``umap_cluster``: bad signals, axes, dtypes, values, ranges, masks and parameters.

Format (shared by every ``tests/<capability>/test_faults.py`` and ``tests/test_faults_common.py``): a table of cases
``(id, make_signal, kwargs, exception, match)``; ``make_signal(make_eels)`` builds the input from the
``make_eels`` fixture (see ``tests/conftest.py``); the ``check_fault`` fixture asserts that the call
raises ``exception`` with a message matching ``match`` and that the input is not modified.
To add a case, add a row.
"""

import numpy as np
import pytest

import hyperspy_eels_ml as hem


def _with(values):
    """Signal whose data are replaced by ``values(data)``."""

    def make(make_eels):
        s = make_eels()
        s.data = values(s.data.copy())
        return s

    return make


def _nan_at(make_eels, lazy=False):
    s = make_eels()
    s.data[1, 2, 3] = np.nan
    return s.as_lazy() if lazy else s


BASE = lambda m: m()  # noqa: E731
BAD_PARAMETERS = [
    ("max_fit_samples", 0), ("max_fit_samples", 1), ("max_fit_samples", -1), ("max_fit_samples", "100"),
    ("random_state", "x"), ("random_state", 1.5), ("random_state", -1), ("random_state", 2**40),
    ("n_pca_components", 0), ("n_pca_components", -5), ("n_pca_components", 2.5), ("n_pca_components", 1e5),
    ("merge_threshold", -0.1), ("merge_threshold", 1.5), ("merge_threshold", float("nan")),
    ("normalization", "zscore"), ("n_neighbors", 1), ("n_components", 0), ("min_cluster_size", 1),
    ("min_samples", 0), ("min_dist", -1.0), ("block_size", 0), ("lazy_output", "yes"),
    ("store_learning_results", "no"), ("show_progressbar", "no"), ("umap_kwargs", [1]),
    ("background", "linear"),
]

CASES = [
    # (id, make_signal, kwargs, exception, match)
    # the input-signal cases shared by every method are in tests/test_faults_common.py
    ("NaN", _nan_at, {}, hem.NonFiniteDataError, "navigation_mask="),
    ("NaN lazy", lambda m: _nan_at(m, lazy=True), {}, hem.NonFiniteDataError, "NaN/inf"),
    ("inf", _with(lambda d: np.where(np.arange(d.size).reshape(d.shape) == 7, np.inf, d)), {},
     hem.NonFiniteDataError, "NaN/inf"),
    ("single spectrum", lambda m: m(shape=()), {}, hem.EmptySignalError, "at least 2 spectra"),
    ("two spectra", lambda m: m(shape=(2,)), {}, hem.EmptySignalError, "at least 10 unmasked"),
    ("all masked but 5", BASE, {"navigation_mask": np.arange(20).reshape(4, 5) >= 5}, hem.EmptySignalError,
     "at least 10 unmasked"),
    ("all zero", _with(lambda d: d * 0), {}, hem.DegenerateDataError, "zero"),
    ("constant", _with(lambda d: np.ones_like(d)), {}, hem.DegenerateDataError, "same shape"),
    ("signal_range outside", BASE, {"signal_range": (100, 200)}, hem.EnergyRangeError, "100-200 eV"),
    ("signal_range decreasing", BASE, {"signal_range": (420, 410)}, hem.EnergyRangeError, "increasing"),
    ("signal_range not a pair", BASE, {"signal_range": "abc"}, hem.ParameterError, "signal_range"),
    ("signal_range of 2 channels", BASE, {"signal_range": (410, 410.5)}, hem.EmptySignalError, "at least 3"),
    ("mask wrong shape", BASE, {"navigation_mask": np.zeros((3, 3), bool)}, hem.NavigationMaskError,
     "navigation_mask has shape"),
    ("mask transposed", BASE, {"navigation_mask": np.zeros((5, 4), bool)}, hem.NavigationMaskError, "mask.T"),
    ("mask float with NaN", BASE, {"navigation_mask": np.full((4, 5), np.nan)}, hem.NavigationMaskError, "NaN"),
    ("mask non-boolean", BASE, {"navigation_mask": np.full((4, 5), 0.5)}, hem.NavigationMaskError, "0/1"),
    ("mask unknown string", BASE, {"navigation_mask": "vac"}, hem.NavigationMaskError, "'vacuum'"),
    ("mask dict", BASE, {"navigation_mask": {}}, hem.NavigationMaskError, "dict"),
] + [
    (f"{name}={value!r}", BASE, {name: value}, hem.ParameterError, name) for name, value in BAD_PARAMETERS
]


@pytest.mark.parametrize("make_signal, kwargs, exc, match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_umap_cluster_faults(make_eels, check_fault, make_signal, kwargs, exc, match):
    check_fault(hem.umap_cluster, make_signal(make_eels), kwargs, exc, match)


def test_all_errors_are_eels_input_errors():
    for *_, exc, _ in CASES:
        assert issubclass(exc, hem.EELSInputError) and issubclass(exc, ValueError)


def test_predict_refuses_a_shifted_energy_axis(phantom):
    s, truth = phantom
    s = s.inav[:24, :16]
    model = hem.clustering.fit_umap_cluster(s, navigation_mask=truth.vacuum[:16, :24], random_state=0,
                                            max_fit_samples=300)
    shifted = s.deepcopy()
    shifted.axes_manager.signal_axes[0].offset += 50
    before = shifted.data.copy()
    with pytest.raises(hem.EnergyAxisError, match="fitted on 256 channels"):
        model.predict(shifted)
    np.testing.assert_array_equal(shifted.data, before)
