"""Fault battery of ``classify_oxidation`` (format: see ``tests/test_faults_umap_cluster.py``).

A table of cases ``(id, make_signal, kwargs, exception, match)``; ``check_fault`` asserts the exception,
its message and that the input is not modified. The owner of the capability extends this table.
"""

import numpy as np
import pytest

import hyperspy_eels_ml as hem


def _hs_signal1d(make_eels):
    import hyperspy.api as hs

    return hs.signals.Signal1D(make_eels().data)


CASES = [
    # (id, make_signal, kwargs, exception, match)
    ("hyperspy Signal1D", _hs_signal1d, {}, hem.NotEELSSignalError, "set_signal_type"),
    ("numpy array", lambda m: m().data, {}, hem.NotEELSSignalError, "bare array"),
    ("axis in nm", lambda m: m(units="nm"), {}, hem.EnergyAxisError, "units 'nm'"),
    ("non-uniform axis", lambda m: m(nonuniform=True), {}, hem.EnergyAxisError, "axis=s.axes_manager.signal_axes"),
    ("decreasing axis", lambda m: m(scale=-0.5), {}, hem.EnergyAxisError, "increase"),
    ("complex dtype", lambda m: m(dtype=np.complex64), {}, hem.EELSInputError, "real-valued"),
]


@pytest.mark.parametrize("make_signal, kwargs, exc, match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_classify_oxidation_faults(make_eels, check_fault, make_signal, kwargs, exc, match):
    check_fault(hem.classify_oxidation, make_signal(make_eels), kwargs, exc, match)
