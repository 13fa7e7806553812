"""classify_oxidation(model="valence", remove_background=True): the pre-edge window avoids other elements' edges
(metadata.Sample.elements, or strong white-line edges the data show), and says so when no clean window exists."""

import warnings

import numpy as np
import pytest
from exspy.signals import EELSSpectrum

import hyperspy_eels_ml  # noqa: F401
from hyperspy_eels_ml import EnergyRangeError
from hyperspy_eels_ml.oxidation.valence import EDGE_CLEARANCE, other_edges, valence_spec
from hyperspy_eels_ml.simulation import core_loss


def _sig(b, elements=None):
    s = EELSSpectrum(np.asarray(b.spectra, dtype=np.float32))
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.scale, ax.offset, ax.name = "eV", float(b.energy[1] - b.energy[0]), float(b.energy[0]), "Energy loss"
    if elements:
        s.metadata.set_item("Sample.elements", list(elements))
    return s


def _window_warnings(w):
    return [str(x.message) for x in w if issubclass(x.category, UserWarning) and "pre-edge" in str(x.message)]


def _ni(with_la, seed=2):
    els = ["La", "Ni", "O"] if with_la else ["Ni", "O"]
    amounts = np.array([2.0, 1.0, 4.0]) if with_la else np.array([1.0, 1.0])
    return core_loss(12, els, energy_offset=760.0, dispersion=0.25, size=720, amounts=amounts, valence={"Ni": 2},
                     rng=seed, artefacts=False, counts=(1e4, 1e5))


def test_other_edges_come_from_exspy_database():
    la = dict(other_edges("Ni", ["La", "Ni", "O"], (800.0, 870.0)))
    assert la == {"La M5": 832.0, "La M4": 849.0}  # the element analysed is never listed
    strong = dict(other_edges("Ni", None, (800.0, 870.0)))
    assert "La M4" in strong and "Ni L3" not in strong
    assert not any(n.startswith("I ") for n in dict(other_edges("Mn", None, (600.0, 640.0))))  # no sharp peak


def test_la_m45_below_ni_l3_no_clean_window():
    """La M4 (849 eV) is 2-4 eV below the Ni L3 onset: no power-law window fits between them."""
    b = _ni(True)
    with pytest.raises(EnergyRangeError, match=r"La M4 \(849 eV\).*remove_background=False"):
        _sig(b, ["La", "Ni", "O"]).classify_oxidation("Ni", model="valence", show_progressbar=False)
    with warnings.catch_warnings(record=True) as w:  # no elements given: La is found in the data -> warning
        warnings.simplefilter("always")
        r = _sig(b).classify_oxidation("Ni", model="valence", show_progressbar=False)
    msgs = _window_warnings(w)
    assert len(msgs) == 1 and "La M5 (832 eV)" in msgs[0] and "background under the white lines is wrong" in msgs[0]
    assert r.model_info["edges_avoided"] == ["La M5 (832 eV)", "La M4 (849 eV)"]


def test_no_warning_without_the_other_element():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r = _sig(_ni(False)).classify_oxidation("Ni", model="valence", show_progressbar=False)
    assert _window_warnings(w) == []
    assert r.model_info["edges_avoided"] == []
    default = valence_spec("Ni").feature_spec(_ni(False).energy, True).background_range
    assert r.model_info["background_window_eV"] == [round(x, 2) for x in default]


def test_window_moves_above_a_declared_edge_when_there_is_room():
    """F K (685 eV) lies in the default Fe window: declared, the window starts EDGE_CLEARANCE eV above it."""
    b = core_loss(12, ["F", "Fe"], energy_offset=640.0, dispersion=0.2, size=700, amounts=np.array([3.0, 1.0]),
                  valence={"Fe": 3}, rng=1, artefacts=False, counts=(1e4, 1e5))
    r0 = _sig(b).classify_oxidation("Fe", model="valence", show_progressbar=False)
    lo0, hi0 = r0.model_info["background_window_eV"]
    assert lo0 < 685.0 < hi0  # F K is not a white-line edge: without elements it is not avoided
    r = _sig(b, ["F", "Fe"]).classify_oxidation("Fe", model="valence", show_progressbar=False)
    lo, hi = r.model_info["background_window_eV"]
    assert lo >= 685.0 + EDGE_CLEARANCE and hi - lo >= valence_spec("Fe").min_background_width
    assert r.model_info["edges_avoided"] == ["F K (685 eV)"]
    v = np.asarray(r.mean_valence.data)  # low-SNR pixels are masked with either window (SNR < 5)
    assert np.isfinite(v).sum() >= 4 and np.nanmax(np.abs(v - 3.0)) < 0.3


def test_remove_background_false_ignores_other_edges():
    b = _ni(True)
    data = b.spectra[:, b.energy >= 846.0]
    s = EELSSpectrum(np.asarray(data, dtype=np.float32))
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.scale, ax.offset = "eV", 0.25, float(b.energy[b.energy >= 846.0][0])
    s.metadata.set_item("Sample.elements", ["La", "Ni", "O"])
    r = s.classify_oxidation("Ni", model="valence", remove_background=False, show_progressbar=False)
    assert "edges_avoided" not in r.model_info
