"""``OxidationResult.navigation_shape`` is the input's navigation shape (before: a single spectrum gave
``(n_classes,)``, the shape of its probabilities)."""

import numpy as np
import pytest
from exspy.signals import EELSSpectrum

import hyperspy_eels_ml  # noqa: F401
from hyperspy_eels_ml.oxidation import classify_oxidation
from hyperspy_eels_ml.simulation import white_line_spectra


def _sig(data, energy):
    s = EELSSpectrum(np.asarray(data, dtype=np.float32))
    ax = s.axes_manager.signal_axes[-1]
    ax.units, ax.scale, ax.offset, ax.name = "eV", float(energy[1] - energy[0]), float(energy[0]), "Energy loss"
    return s


@pytest.mark.parametrize("model", ["svm", "valence"])
@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
def test_navigation_shape_is_the_inputs(model, shape):
    n = int(np.prod(shape))
    b = white_line_spectra(n, ["Mn2+", "Mn3+", "Mn4+"], dispersion=0.2, energy_offset=600.0, size=500,
                           background="powerlaw", counts=(3000.0, 6000.0), rng=77)
    s = _sig(b.spectra.reshape(shape + (-1,)), b.energy)
    r = classify_oxidation(s, "Mn", model=model, show_progressbar=False)
    assert r.navigation_shape == shape
    assert np.asarray(r.mean_valence.data).size == max(n, 1)
