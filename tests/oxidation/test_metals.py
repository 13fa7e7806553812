"""Metallic end members (issue 13) only on evidence about oxygen: the O K edge in the window, metadata.Sample.elements,
or a calibrated chemical shift; narrow windows without any of it keep the oxide-only reading and say so."""

import warnings

import numpy as np
import pytest
from exspy.signals import EELSSpectrum

import hyperspy_eels_ml  # noqa: F401
from hyperspy_eels_ml.oxidation import classify_oxidation
from hyperspy_eels_ml.oxidation.oxygen import ABSENT, PRESENT, declared_oxygen, o_k_evidence
from hyperspy_eels_ml.simulation import white_line_spectra

SEED = 6262  # neither a training (2024) nor a held-out (777) seed


def _sig(b, elements=None):
    s = EELSSpectrum(np.asarray(b.spectra, dtype=np.float32))
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.scale, ax.offset, ax.name = "eV", float(b.energy[1] - b.energy[0]), float(b.energy[0]), "Energy loss"
    if elements is not None:
        s.metadata.set_item("Sample.elements", elements)
    return s


def _wide(classes, n=48, counts=(5e3, 5e4), seed=SEED, el_l3=640.0):
    """480 eV to 60 eV above L3, a power-law background; oxides with their O K edge, metals without."""
    edge = "L23" if all(c.endswith("0") for c in classes) else "both"
    return white_line_spectra(n, classes, edge=edge, energy_offset=480.0, dispersion=0.25,
                              size=int((el_l3 + 60 - 480) / 0.25), background="powerlaw", counts=counts, rng=seed)


@pytest.mark.parametrize("el,classes,l3", [("Mn", ["Mn2+", "Mn3+", "Mn4+"], 640.0), ("Fe", ["Fe2+", "Fe3+"], 708.0)])
def test_oxide_with_o_k_in_the_window_is_never_read_as_a_metal(el, classes, l3):
    b = _wide(classes, n=90, counts=(300.0, 5000.0), el_l3=l3)  # noisy too: absence needs enough counts
    r = classify_oxidation(_sig(b), el, model="valence", show_progressbar=False)
    assert r.model_info["metals"].startswith("per pixel")
    # pixels without the metal go to the oxide-only model (also when one of the two is hybrid, session 14)
    assert r.model_info["fallback"] == f"{el.lower()}_l23_valence_oxide.npz"
    assert not np.asarray(r.metal_admitted.data).any()
    fr = np.asarray(r.fractions.data)
    assert np.nanmax(fr[:, r.end_members.index(f"{el}0")]) == 0.0
    ok = np.asarray(r.o_k_jump.data)
    assert np.nanmedian(ok) > 0.2  # the O K jump is measured
    assert np.nanmin(np.asarray(r.mean_valence.data)) > 1.0


@pytest.mark.parametrize("el,l3", [("Mn", 640.0), ("Fe", 708.0)])
def test_metal_without_o_k_is_read_as_a_metal(el, l3):
    b = _wide([f"{el}0"], n=64, el_l3=l3)
    r = classify_oxidation(_sig(b), el, model="valence", show_progressbar=False)
    adm = np.asarray(r.metal_admitted.data)
    v = np.asarray(r.mean_valence.data)
    assert adm.mean() > 0.3  # absence shown with enough counts (57-59 % at 5e3-5e4 counts on simulation)
    assert np.nanmedian(v[adm]) < 0.75
    assert np.nanmax(np.asarray(r.o_k_jump.data)[adm]) < 0.1


def test_narrow_window_without_o_k_keeps_the_oxide_reading_and_says_so():
    b = white_line_spectra(24, ["Mn2+", "Mn3+", "Mn4+"], rng=SEED)  # about 620-693 eV
    s = _sig(b)
    with pytest.warns(UserWarning, match=r"metallic end member \(Mn0\) is not considered: the window"):
        auto = classify_oxidation(s, "Mn", model="valence", show_progressbar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the user's own choice: no warning about the metal
        warnings.filterwarnings("ignore", message=r"classify_oxidation .*background before the edge could not be")
        off = classify_oxidation(s, "Mn", model="valence", metals=False, show_progressbar=False)
    assert auto.model_info["metals"].startswith("not admitted: the window")
    assert "O K edge" in auto.model_info["metals"]
    assert "Mn0" not in auto.end_members
    assert np.array_equal(np.asarray(auto.mean_valence.data), np.asarray(off.mean_valence.data), equal_nan=True)
    assert not np.asarray(auto.metal_admitted.data).any()
    assert np.isnan(np.asarray(auto.o_k_jump.data)).all()
    assert "not admitted" in str(auto.mean_valence.metadata.hyperspy_eels_ml.as_dictionary())


def test_the_warning_points_at_the_users_call_through_the_method():
    import hyperspy_eels_ml  # noqa: F401  (attaches the method)

    b = white_line_spectra(4, ["Mn2+", "Mn3+"], rng=SEED)
    with pytest.warns(UserWarning, match=r"metallic end member \(Mn0\) is not considered") as rec:
        _sig(b).classify_oxidation("Mn", model="valence", show_progressbar=False)
    files = {w.filename for w in rec if "not considered" in str(w.message)}
    assert files == {__file__}  # not _methods.py or classify.py


def test_declared_elements_decide():
    assert declared_oxygen(["Mn", "O"]) == "oxygen"
    assert declared_oxygen(["Fe", "Co"]) == "metals"
    assert declared_oxygen(["Fe", "N"]) is None and declared_oxygen(None) is None
    b = white_line_spectra(16, ["Mn0"], rng=SEED, counts=(5e3, 5e4))  # narrow window: no O K
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # declared: decided, no warning about the metal
        warnings.filterwarnings("ignore", message=r"classify_oxidation .*background before the edge could not be")
        r = classify_oxidation(_sig(b, ["Mn"]), "Mn", model="valence", show_progressbar=False)
    assert r.model_info["metals"].startswith("admitted: metadata.Sample.elements lists only metals")
    assert np.array_equal(np.asarray(r.metal_admitted.data), ~np.asarray(r.mask.data))  # every unmasked pixel
    r = classify_oxidation(_sig(b, ["Mn", "O"]), "Mn", model="valence", show_progressbar=False)
    assert r.model_info["metals"] == "not admitted: metadata.Sample.elements lists O"
    assert "Mn0" not in r.end_members


def test_auto_skips_the_oxide_only_svm_for_a_possible_metal():
    b = _wide(["Mn0"], n=32, counts=(3e4, 5e4))
    s = _sig(b)
    r = classify_oxidation(s, "Mn", show_progressbar=False)
    assert r.model_info["model_choice"].startswith("valence (auto: a metal is possible (no O K jump")
    ox = classify_oxidation(_sig(_wide(["Mn2+", "Mn3+"], n=32)), "Mn", show_progressbar=False)
    assert ox.model_info["model_choice"].startswith("svm (auto")  # oxides: the SVM as before


def test_single_oxide_end_member_conditions_the_metal_out():
    b = white_line_spectra(12, ["Ni2+"], rng=SEED, counts=(5e3, 5e4), shift=(-1.0, 1.0))
    kept = classify_oxidation(_sig(b), "Ni", model="valence", remove_background=False, show_progressbar=False)
    assert kept.model_info["metals"].startswith("kept")
    r = classify_oxidation(_sig(b, ["Ni", "O"]), "Ni", model="valence", remove_background=False,
                           show_progressbar=False)
    assert "Ni0" in r.end_members and not np.asarray(r.metal_admitted.data).any()
    ok = ~np.asarray(r.mask.data)
    assert ok.sum() >= 9
    fr = np.asarray(r.fractions.data)[ok]
    assert np.allclose(fr[:, r.end_members.index("Ni0")], 0.0)
    assert np.allclose(np.asarray(r.mean_valence.data)[ok], 2.0)
    assert "fraction set to 0" in r.model_info["metals"]


def test_o_k_evidence_states():
    ox = _wide(["Mn2+"], n=20)
    me = _wide(["Mn0"], n=20)
    for b, want in ((ox, PRESENT), (me, ABSENT)):
        rel, sig, state = o_k_evidence(b.spectra, b.energy, "Mn")
        assert np.mean(state == want) > 0.4 and not np.any(state == (ABSENT if want == PRESENT else PRESENT))


def test_lazy_equals_eager_with_the_o_k_rule():
    b = _wide(["Mn0", "Mn2+"], n=16)
    s = _sig(b)
    eager = classify_oxidation(s, "Mn", model="valence", show_progressbar=False)
    lazy = classify_oxidation(s.as_lazy(), "Mn", model="valence", lazy_output=True, show_progressbar=False)
    lazy.compute()
    for k in ("mean_valence", "metal_admitted", "o_k_jump", "fractions"):
        a, c = np.asarray(getattr(eager, k).data), np.asarray(getattr(lazy, k).data)
        assert np.allclose(a, c, equal_nan=True, rtol=1e-5, atol=1e-6), k
