"""identify_elements on real spectra of ../shared/data (skipped without the data)."""

import numpy as np
import pytest

from hyperspy_eels_ml.elements import LABELS, identify_elements


def _load(shared_data, rel):
    import hyperspy.api as hs

    p = shared_data / rel
    if not p.exists():
        pytest.skip(f"{rel} not in the data folder")
    s = hs.load(p)
    s.set_signal_type("EELS")
    return s


def test_mn_o_spectrum_assessable_logic_and_calls(shared_data):
    """exspy's Mn/O spectrum (360-770 eV): window logic is exact; the calls stay within Mn, O."""
    s = _load(shared_data, "elements/exspy_pkg__coreloss_spectrum.msa")
    r = identify_elements(s, show_progressbar=False)
    na = set(r.not_assessable)
    assert {"C", "Si", "Cu", "La", "Ca"} <= na  # no Major edge in 370-740 eV
    assert "Mn" not in na and "O" not in na
    assert set(r.elements) - {"C"} <= {"Mn", "O", "Sb", "V", "Cr"}  # O K / Sb M5, V/Cr L near O K
    ex = r.explain("Mn")
    l23 = [e for e in ex.edges if e["edge"].startswith("L")][0]
    assert abs(l23["measured_onset"] - 640) <= 15 and l23["snr"] > 10  # the L2,3 evidence is found
    ex = r.explain("O")
    assert abs(ex.edges[0]["measured_onset"] - 532) <= 15 and ex.edges[0]["jump_ratio"] > 0.1


def test_lsmo_sto_line_scan_lazy_equals_eager(shared_data):
    s = _load(shared_data, "elements/exspy-demos__LSMO_STO_linescan.hspy")
    r = identify_elements(s, show_progressbar=False)
    rl = identify_elements(s.as_lazy(), show_progressbar=False).compute()
    np.testing.assert_allclose(np.nan_to_num(r.probabilities.data, nan=-1),
                               np.nan_to_num(rl.probabilities.data, nan=-1), atol=1e-6)
    assert r.elements == rl.elements
    assert r.probabilities.data.shape == (10, 80)
    # Sr (L3 1940 eV) has no edge in 395-906 eV: not assessable, never "absent"
    assert "Sr" in r.not_assessable and np.isnan(r.probabilities.data[:, LABELS.index("Sr")]).all()


def test_identification_to_quantification_on_a_real_spectrum(shared_data):
    """r.to_metadata(s) then s.create_model() holds the edges of the elements found (user-guide flow)."""
    s = _load(shared_data, "elements/exspy_pkg__coreloss_spectrum.msa")
    r = identify_elements(s, show_progressbar=False)
    s.set_microscope_parameters(beam_energy=200, convergence_angle=10, collection_angle=30)
    found = r.to_metadata(s)
    assert {"Mn", "O"} <= set(found)
    m = s.create_model(GOS="hydrogenic")  # offline GOS (K and L shells)
    names = " ".join(c.name for c in m)
    assert "Mn_L3" in names and "O_K" in names


def test_coincident_calls_on_cr2o3_are_flagged_and_removable(shared_data):
    """Cr2O3 O K + Cr L onset (510-612 eV): O K / Sb M5 and Cr L3 / Te M5 coincide. Whatever the network
    calls there, every call the coincidence rule removes is flagged as ambiguous by default, and Cr and O,
    which have the higher probabilities, are never removed."""
    import hyperspy.api as hs

    p = shared_data / "oxidation/practical_EELS_QEM__intermediate_level__core_loss__CrO.txt"
    if not p.exists():
        pytest.skip("Cr2O3 spectrum not in the data folder")
    s = hs.load(p, reader="MSA")
    s.set_signal_type("EELS")
    r = identify_elements(s, show_progressbar=False)
    rr = identify_elements(s, show_progressbar=False, resolve_coincidences=True)
    assert {"Cr", "O"} <= set(rr.elements) <= set(r.elements)
    removed = set(r.elements) - set(rr.elements)
    for el in removed:
        assert any("ambiguous" in f for f in r.flags[el])
        assert set(rr.explain(el).ambiguous_with) <= {"Cr", "O"}
    for el in set(r.elements) - removed:
        assert not any("ambiguous" in f for f in r.flags.get(el, []))


def test_sum_spectrum_opinion_on_a_real_si_lazy_equals_eager(shared_data):
    """The SI rule's sum-spectrum opinion on the real FeO/Fe3O4 SI: same elements and sum lazy and eager, and an
    element it adds carries the caution."""
    s = _load(shared_data, "oxidation/delpozo_SVM__EELS Spectrum Image (dark ref corrected).dm3")
    r = identify_elements(s, show_progressbar=False)
    rl = identify_elements(s.as_lazy(), show_progressbar=False)
    assert rl.is_lazy
    assert rl.elements == r.elements
    assert r.parameters["n_masked"] == rl.parameters["n_masked"]
    # navigation_mask="vacuum" masks the low-count border (total counts < 10 % of the 95th percentile; the
    # default "auto" also asks for a flat spectrum, and these have a background); the sum spectrum is that
    # of the analysed pixels, eager and lazy
    data = np.asarray(s.data, np.float64)
    vac = data.sum(-1) < 0.1 * np.percentile(data.sum(-1), 95)
    rv = identify_elements(s, navigation_mask="vacuum", show_progressbar=False)
    rvl = identify_elements(s.as_lazy(), navigation_mask="vacuum", show_progressbar=False)
    assert rv.parameters["n_masked"] == rvl.parameters["n_masked"] == vac.sum() > 0
    np.testing.assert_allclose(rv.sum_spectrum, data[~vac].sum(axis=0), rtol=1e-9)
    np.testing.assert_allclose(rvl.sum_spectrum, data[~vac].sum(axis=0), rtol=1e-6)
    r_all = identify_elements(s, navigation_mask=None, show_progressbar=False)
    np.testing.assert_allclose(r_all.sum_spectrum, data.sum(axis=(0, 1)), rtol=1e-9)
    np.testing.assert_allclose(rl.sum_spectrum_probabilities, r.sum_spectrum_probabilities, rtol=1e-4, atol=1e-6,
                               equal_nan=True)
    area_only = set(identify_elements(s, show_progressbar=False, sum_spectrum=False).elements)
    assert area_only <= set(r.elements)
    for el in set(r.elements) - area_only:
        assert any("sum spectrum" in f for f in r.flags[el])
