"""Clear, specific errors for bad input (shared validation layer)."""

import dask.array as da
import numpy as np
import pytest
from exspy.signals import EELSSpectrum

import hyperspy.api as hs
from hyperspy.axes import DataAxis
from hyperspy_eels_ml._shared import (
    EmptySignalError,
    EnergyAxisError,
    EnergyRangeError,
    NonFiniteDataError,
    NotEELSSignalError,
    check_energy_range,
    validate_eels,
)


def test_not_eels_signal1d_says_how_to_convert():
    s = hs.signals.Signal1D(np.ones((3, 10)))
    with pytest.raises(NotEELSSignalError, match=r"set_signal_type\('EELS'\)"):
        validate_eels(s)


def test_not_eels_2d_signal_explains_dimension():
    s = hs.signals.Signal2D(np.ones((3, 10, 10)))
    with pytest.raises(NotEELSSignalError, match="signal dimension is 2"):
        validate_eels(s)


def test_bare_array():
    with pytest.raises(NotEELSSignalError, match="EELSSpectrum\\(array\\)"):
        validate_eels(np.ones((3, 10)))


def test_not_ev(small_eels):
    small_eels.axes_manager.signal_axes[0].units = "nm"
    with pytest.raises(EnergyAxisError, match="units 'nm'.*eV"):
        validate_eels(small_eels)


def test_uncalibrated_axis_is_rejected():
    s = EELSSpectrum(np.ones((2, 16)))  # units <undefined>
    with pytest.raises(EnergyAxisError, match="eV"):
        validate_eels(s)


def test_kev_axis_is_converted(small_eels):
    ax = small_eels.axes_manager.signal_axes[0]
    ax.units, ax.scale, ax.offset = "keV", 0.0005, 0.4
    v = validate_eels(small_eels)
    np.testing.assert_allclose(v.energy[:2], [400.0, 400.5])


def test_non_uniform_axis():
    axis = DataAxis(axis=np.linspace(0, 1, 16) ** 2 * 100 + 400, units="eV", navigate=False)
    s = EELSSpectrum(np.ones((2, 16)), axes=[dict(size=2, navigate=True), axis.get_axis_dictionary()])
    with pytest.raises(EnergyAxisError, match="non-uniform"):
        validate_eels(s)


def test_nan_eager(small_eels):
    small_eels.data[1, 2, 3] = np.nan
    with pytest.raises(NonFiniteDataError, match="NaN/inf"):
        validate_eels(small_eels)


def test_nan_lazy_raises_when_computed(small_eels):
    small_eels.data[1, 2, 3] = np.inf
    v = validate_eels(small_eels.as_lazy())  # nothing computed yet
    from hyperspy_eels_ml._shared import map_spectra

    out = map_spectra(v.data, lambda x: x.sum(axis=1, keepdims=True), 1)
    from hyperspy_eels_ml._shared import check_finite_block

    out = map_spectra(v.data, lambda x: check_finite_block(x)[:, :1], 1)
    with pytest.raises(NonFiniteDataError):
        out.compute()


def test_integer_data_converted(small_eels):
    s = small_eels.deepcopy()
    s.data = s.data.astype(np.int32)
    v = validate_eels(s)
    assert v.data.dtype == np.float32
    assert s.data.dtype == np.int32  # user's signal untouched


def test_energy_range_message_names_the_range(small_eels):
    with pytest.raises(EnergyRangeError, match="needs the energy range 700-730 eV.*400-431.5 eV"):
        check_energy_range(validate_eels(small_eels).energy, (700, 730), what="The Fe L2,3 model")
    with pytest.raises(EnergyRangeError):
        validate_eels(small_eels, signal_range=(380, 420))


def test_signal_range_selects_channels(small_eels):
    v = validate_eels(small_eels, signal_range=(405, 410))
    assert v.energy[0] == pytest.approx(405) and v.energy[-1] == pytest.approx(410)


def test_signal_axis_split_over_chunks_is_rechunked(small_eels):
    s = small_eels.as_lazy()
    s.data = s.data.rechunk((2, 2, 16))
    v = validate_eels(s)
    assert len(v.data.chunks[-1]) == 1
    np.testing.assert_array_equal(v.data.compute(), small_eels.data)


def test_empty_navigation():
    s = EELSSpectrum(np.ones((0, 16)))
    s.axes_manager.signal_axes[0].units = "eV"
    with pytest.raises(EmptySignalError):
        validate_eels(s)


def test_lazy_validation_computes_nothing(small_eels):
    calls = []

    def f(b):
        if b.size:
            calls.append(1)
        return b

    s = small_eels.as_lazy()
    s.data = s.data.map_blocks(f, dtype=s.data.dtype)
    validate_eels(s)
    assert calls == []
    assert isinstance(validate_eels(s).data, da.Array)
