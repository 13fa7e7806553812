"""Fault battery shared by every public method: input that is not a calibrated, real-valued EELS signal.

Format as in ``tests/clustering/test_faults.py``: cases ``(id, make_signal, exception, match)``; the
``check_fault`` fixture asserts the exception, its message and that the input is not modified. Every
public method joins ``METHODS``; method-specific cases live in ``tests/<capability>/test_faults.py``.
"""

import numpy as np
import pytest

import hyperspy_eels_ml as hem

METHODS = ["umap_cluster", "subtract_zlp_nn", "classify_oxidation", "identify_elements"]


def _hs_signal1d(make_eels):
    import hyperspy.api as hs

    return hs.signals.Signal1D(make_eels().data)


CASES = [
    # (id, make_signal, exception, match)
    ("hyperspy Signal1D", _hs_signal1d, hem.NotEELSSignalError, "set_signal_type"),
    ("numpy array", lambda m: m().data, hem.NotEELSSignalError, "bare array"),
    ("axis in nm", lambda m: m(units="nm"), hem.EnergyAxisError, "units 'nm'"),
    ("non-uniform axis", lambda m: m(nonuniform=True), hem.EnergyAxisError, "axis=s.axes_manager.signal_axes"),
    ("decreasing axis", lambda m: m(scale=-0.5), hem.EnergyAxisError, "increase"),
    ("complex dtype", lambda m: m(dtype=np.complex64), hem.EELSInputError, "real-valued"),
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("make_signal, exc, match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_signal_faults(method, make_eels, check_fault, make_signal, exc, match):
    check_fault(getattr(hem, method), make_signal(make_eels), {}, exc, match)
