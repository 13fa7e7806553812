"""identify_elements: shipped model, preprocessing, assessable logic, SI rule, lazy/eager/distributed, API."""

import os
import subprocess
import sys

import numpy as np
import pytest

import hyperspy_eels_ml as hem
from hyperspy_eels_ml.elements import LABELS, identify_elements
from hyperspy_eels_ml.elements.identify import select_elements
from hyperspy_eels_ml.elements.network import MODEL_PATH, load_network
from hyperspy_eels_ml.elements.preprocess import assessable_matrix, preprocess_block, usable_window


def _sim_signal(elements=("O", "Fe"), shape=(), offset=450.0, dispersion=0.5, size=1000, seed=0, amounts=None,
                counts=(2e4, 5e4)):
    """A simulated EELS signal (basic realism: clean, for API tests) of the given elements."""
    from exspy.signals import EELSSpectrum

    from hyperspy_eels_ml.simulation.core_loss import core_loss

    n = int(np.prod(shape)) if shape else 1
    amt = np.ones(len(elements)) if amounts is None else amounts
    b = core_loss(n, list(elements), energy_offset=offset, dispersion=dispersion, size=size, amounts=amt,
                  counts=counts, jump_ratio=(0.5, 1.0), rng=seed, realism="basic")
    s = EELSSpectrum(b.spectra.reshape(tuple(shape) + (size,)))
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.scale, ax.offset, ax.name = "eV", dispersion, offset, "Energy loss"
    return s


@pytest.fixture(scope="module")
def net():
    return load_network()


# --- shipped model ----------------------------------------------------------------------------
def test_shipped_model_meets_floors_on_fresh_simulations(net):
    """Fresh realistic simulations (a seed never used in training/calibration): F1 and calibration floors."""
    from hyperspy_eels_ml.elements.simulate import training_batch
    from hyperspy_eels_ml.elements.train import ece, metrics

    b = training_batch(128, 31337)
    p = net.predict_proba(b["x"].astype(np.float32))
    m = metrics(p, b["y"], b["mask"], b["present"], assessable=b["assessable"])
    assert m["micro_f1"] >= 0.45, m
    assert ece(p, b["y"], b["mask"]) <= 0.05


def test_no_ce_on_clean_simulated_o_fe(net):
    """The known Ce false positive (the v1 simulator's fine structure at Fe L1 looked like Ce M5) is gone on
    the v2 simulator; the same check also catches the network inventing any other element on O + Fe."""
    from hyperspy_eels_ml.elements.train import o_fe_false_calls

    r = o_fe_false_calls(net, n=64, seed=97, realisms=("realistic-v2",))["realistic-v2"]
    assert r["ce_called"] <= 0.05, r
    assert r["any_other_call"] <= 0.3, r


def test_model_card_matches_the_shipped_model(net):
    import json

    with open(MODEL_PATH.replace(".npz", ".json")) as f:
        card = json.load(f)
    assert card["labels"] == list(LABELS) and len(LABELS) == 80
    assert card["heldout_simulated"]["ece_calibrated"] <= 0.05
    assert card["n_parameters"] == net.n_parameters
    assert 3e5 <= net.n_parameters <= 2e6


def test_tampered_or_corrupt_model_file_is_refused(tmp_path):
    bad = tmp_path / "m.npz"
    with np.load(MODEL_PATH, allow_pickle=False) as f:
        d = {k: f[k] for k in f.files}
    d["net_w_dense"] = d["net_w_dense"] * 1.01  # plausible-looking but modified weights
    np.savez(bad, **d)
    with pytest.raises(hem.ModelFileError, match="probe"):
        load_network(str(bad))
    d["net_w0"] = d["net_w0"][:2]
    np.savez(bad, **d)
    with pytest.raises(hem.ModelFileError, match="shape"):
        load_network(str(bad))
    trunc = tmp_path / "t.npz"
    trunc.write_bytes(open(MODEL_PATH, "rb").read()[:1000])
    with pytest.raises(hem.ModelFileError):
        load_network(str(trunc))


def test_model_round_trip(tmp_path, net):
    from hyperspy_eels_ml.elements.network import export_npz

    probe = np.random.default_rng(0).random((3, 3072, 3)).astype(np.float32)
    out = tmp_path / "copy.npz"
    export_npz(str(out), net.arrays, net.labels, net.calib_a, net.calib_b, net.meta, probe)
    again = load_network(str(out))
    np.testing.assert_allclose(again.predict_proba(probe), net.predict_proba(probe), rtol=1e-5, atol=1e-6)


def test_fast_network_pass_equals_plain_convolution(net):
    """The windowed fast pass (zero-input activations outside the window, tap-block matmuls) is exact."""
    rng = np.random.default_rng(1)
    x = np.zeros((5, 3072, 3), np.float32)
    for i, (a, b) in enumerate(((400, 912), (60, 3071), (2900, 3072), (0, 3072), (1000, 1001))):
        x[i, a:b] = rng.normal(size=(b - a, 3))
    ref = net.logits_reference(x)
    np.testing.assert_allclose(net.logits(x, batch=2), ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(net.logits(x[:1, 380:930], offset=380), ref[:1], rtol=1e-4, atol=1e-4)
    assert np.abs(ref[0] - ref[1]).max() > 1e-2  # the window matters: the test can fail
    # an all-zero spectrum alone in its batch (head from the zero-input activations only), default batch
    x0 = np.concatenate([np.zeros((1, 3072, 3), np.float32), x])
    np.testing.assert_allclose(net.logits(x0, batch=1), net.logits_reference(x0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(net.logits(x0), net.logits_reference(x0), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="inside"):
        net.logits(x[:1, :100], offset=3000)


def test_fast_network_pass_random_windows_and_dirty_memory(net):
    """Property test of the fast pass: random windows (also touching either end of the grid) and batch
    sizes give the reference logits, with freed memory full of NaN (the slabs are allocated uninitialised
    and every part is written explicitly: a part left unwritten would show up as NaN)."""
    rng = np.random.default_rng(7)
    x = np.zeros((12, 3072, 3), np.float32)
    for i in range(12):
        a = int(rng.choice([0, rng.integers(1, 2900)]))
        b = int(rng.choice([3072, rng.integers(a + 1, min(a + 2200, 3072) + 1)]))
        x[i, a:b] = rng.normal(size=(b - a, 3))
    ref = net.logits_reference(x)
    for batch in (1, 3, 12):
        for _ in range(3):  # freed blocks full of NaN, likely to be handed back by np.empty
            junk = np.full((batch, 3072 + 64, 96), np.nan, np.float32)
            del junk
        np.testing.assert_allclose(net.logits(x, batch=batch), ref, rtol=1e-4, atol=1e-4)
    # windows spread over a whole batch: the batch is evaluated on the union of its windows
    assert np.isfinite(net.logits(x, batch=12)).all()


def test_fast_arcsinh_equals_numpy():
    from hyperspy_eels_ml.elements.preprocess import _asinh

    z = np.concatenate([np.linspace(-1e4, 1e4, 20001), np.geomspace(1e-12, 30, 500),
                        -np.geomspace(1e-12, 30, 500), [0.0]]).astype(np.float32)
    np.testing.assert_allclose(_asinh(z.copy()), np.arcsinh(z), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(_asinh(-z), -_asinh(z))  # odd, as arcsinh
    assert np.all(np.diff(_asinh(np.sort(z))) >= 0)  # monotonic


def test_segment_preprocessing_equals_full_grid_features():
    """Features on the window segment equal those computed on the full 3072 eV grid."""
    from hyperspy_eels_ml.elements.preprocess import embed, features, preprocess_segment

    e = 380.0 + 0.25 * np.arange(2400)
    rng = np.random.default_rng(2)
    y = rng.poisson(1e4 * (e / 380.0) ** -3 * (1 + 0.3 * (e > 532)), size=(4, e.size)).astype(float)
    y[1, :40] = 0.0  # a different window in one spectrum
    x, g, g0, lo, hi, _ = preprocess_segment(y, e)
    assert g0 > 0 and g0 + x.shape[1] < 3072 and lo[1] > lo[0]
    full = features(embed(g, g0), lo, hi)
    np.testing.assert_allclose(embed(x, g0), full, atol=1e-5)
    assert np.abs(full[:, :, 1]).max() > 0.1


def test_evidence_on_demand_equals_pixel_evidence():
    s = _sim_signal(("O", "Fe"), shape=(2, 2), seed=11)
    r = identify_elements(s, show_progressbar=False)
    assert r._evidence is None  # not computed until asked for
    rp = identify_elements(s, pixel_evidence=True, show_progressbar=False)
    for k in ("snr", "jump_ratio", "measured_onset"):
        np.testing.assert_allclose(np.nan_to_num(r.evidence[k].data, nan=-9),
                                   np.nan_to_num(rp.evidence[k].data, nan=-9), rtol=1e-6)
    # float32 network: the two passes may group spectra differently for BLAS (ulp-level differences)
    np.testing.assert_allclose(np.nan_to_num(r.probabilities.data, nan=-1),
                               np.nan_to_num(rp.probabilities.data, nan=-1), rtol=1e-5, atol=1e-6)
    assert np.nanmax(r.evidence["snr"].data[..., LABELS.index("Fe")]) > 5
    rl = identify_elements(s.as_lazy(), show_progressbar=False)
    assert rl.evidence["snr"]._lazy
    rl.compute()
    np.testing.assert_allclose(np.nan_to_num(rl.evidence["snr"].data, nan=-9),
                               np.nan_to_num(rp.evidence["snr"].data, nan=-9), rtol=1e-6)


# --- preprocessing, assessable ------------------------------------------------------------------
def test_usable_window_cuts_fill_corrupt_and_splice():
    e = 100.0 + np.arange(800) * 0.5
    y = 1e5 * (e / 100.0) ** -3
    y[:10] = 0.0  # dark/fill channels
    y[-6:] = -1.0  # fill at the end
    y[-7] = 50 * y[-8]  # one corrupt channel before it
    spliced = y.copy()
    spliced[10:150] *= 40.0  # low loss recorded with another gain up to 175 eV
    a, b, why = usable_window(np.stack([y, spliced]), e)
    assert a[0] == 10 and b[0] == 800 - 7
    assert 150 <= a[1] <= 165
    assert any("spliced" in w for w in why) and any("fill" in w for w in why)


def test_rebinning_conserves_counts_for_any_dispersion():
    for d in (0.05, 0.3, 1.0, 2.0):
        e = 400.0 + d * np.arange(int(600 / d))
        y = (1e4 * (e / 400.0) ** -3)[None, :]
        _, g, lo, hi, _ = preprocess_block(y, e)
        assert lo[0] <= 401 and hi[0] >= 400 + 600 - d - 1.5
        # only whole 1 eV bins inside the window are kept: at most ~1 eV of counts lost at each end
        lost = y.sum() - g.sum()
        assert -1e-5 * y.sum() <= lost <= 2.5 * y.max() / d
        np.testing.assert_allclose(g[0, 500], y[0, np.abs(e - 500).argmin()] / d, rtol=0.02)


def test_assessable_rule():
    ass = assessable_matrix(np.array([400.0]), np.array([760.0]))[0]
    have = {LABELS[j] for j in np.flatnonzero(ass)}
    assert {"O", "Mn", "Fe", "Ti", "Cr"} <= have
    assert not {"Si", "La", "Cu", "C", "Al", "Ni"} & have  # no Major edge in 410-730 eV
    assert not assessable_matrix(np.array([400.0]), np.array([700.0]))[0][LABELS.index("Fe")]  # L3 708 eV
    # 10 eV / 30 eV margins: O K (532 eV) not assessable in a window ending at 550 eV
    assert not assessable_matrix(np.array([400.0]), np.array([550.0]))[0][LABELS.index("O")]


def test_not_assessable_on_a_cropped_window():
    s = _sim_signal(("O", "Fe", "La"), offset=450, size=800)  # 450-850 eV: La M4,5 (832) within 30 eV of the end
    r = identify_elements(s, show_progressbar=False)
    na = set(r.not_assessable)
    assert {"La", "Si", "C", "Cu"} <= na
    assert "O" not in na and "Fe" not in na
    p = r.probabilities.data
    assert np.isnan(p[LABELS.index("La")]) and np.isfinite(p[LABELS.index("O")])
    assert "La" not in r.elements


def test_report_margins_at_the_window_start_and_end():
    """identify_elements reports with a 15 eV start margin (session 10; training 10 eV) and the 30 eV end margin."""
    from hyperspy_eels_ml.elements.preprocess import (HIGH_MARGIN, LOW_MARGIN, REPORT_HIGH_MARGIN,
                                                      REPORT_LOW_MARGIN, not_assessable_reason, report_assessable)

    assert (LOW_MARGIN, HIGH_MARGIN, REPORT_LOW_MARGIN, REPORT_HIGH_MARGIN) == (10.0, 30.0, 15.0, 30.0)
    o, v, cr = LABELS.index("O"), LABELS.index("V"), LABELS.index("Cr")
    lo, hi = np.array([510.0]), np.array([612.0])
    # V L3 513 / L2 521 eV: L2 is 11 eV after the start; O K 532 eV is 22 eV after it
    assert assessable_matrix(lo, hi)[0, v] and not report_assessable(lo, hi)[0, v]
    assert report_assessable(lo, hi)[0, o] and report_assessable(lo, hi)[0, cr]  # Cr L3 575 <= 612 - 30
    # a window ending at 600 eV: Cr L3 575 eV is 25 eV before the end, L2 584 eV 16 eV
    assert not assessable_matrix(lo, np.array([600.0]))[0, cr] and not report_assessable(lo, np.array([600.0]))[0, cr]
    assert report_assessable(lo, np.array([605.0]))[0, cr]  # 30 eV before the end: at the margin
    assert "window start (no pre-edge region)" in not_assessable_reason("V", 510.0, 612.0)
    assert "window end" in not_assessable_reason("Cr", 510.0, 600.0)
    assert not_assessable_reason("O", 510.0, 612.0) is None
    assert not_assessable_reason("Si", 510.0, 612.0) == "no Major edge in the usable window"
    assert not_assessable_reason("O", np.nan, np.nan) == "no usable window"
    # exactly at the margins: assessable
    assert report_assessable(np.array([517.0]), np.array([562.0]))[0, o]
    assert not report_assessable(np.array([517.5]), np.array([562.0]))[0, o]
    assert not report_assessable(np.array([517.0]), np.array([561.5]))[0, o]


def test_not_assessable_when_the_window_starts_just_below_an_edge():
    """A cropped window starting 11 eV below O K (532 eV): O gets NaN and the reason, never "absent"."""
    s = _sim_signal(("O", "Mn"), offset=520.0, size=600)  # 520-820 eV, usable from 521 eV on the grid
    r = identify_elements(s, show_progressbar=False)
    jo = LABELS.index("O")
    assert "O" in r.not_assessable and "O" not in r.elements
    assert np.isnan(r.probabilities.data[jo]) and not r.assessable.data[jo]
    ex = r.explain("O")
    assert not ex.assessable and "window start" in ex.not_assessable_reason
    assert "no pre-edge region" in str(ex)
    assert "Mn" in r.elements and r.explain("Mn").not_assessable_reason == ""
    # the same sample from 500 eV: O K has 32 eV of pre-edge region and is found
    r2 = identify_elements(_sim_signal(("O", "Mn"), offset=500.0, size=640), show_progressbar=False)
    assert "O" in r2.elements and np.isfinite(r2.probabilities.data[jo])


def test_not_assessable_when_the_window_ends_just_above_an_edge():
    """The window ends 28 eV after O K: within the 30 eV end margin."""
    s = _sim_signal(("O", "Ti"), offset=400.0, size=320)  # 400-560 eV
    r = identify_elements(s, show_progressbar=False)
    assert "O" in r.not_assessable and "window end" in r.explain("O").not_assessable_reason
    assert "Ti" not in r.not_assessable  # Ti L3 456 eV


# --- SI rule --------------------------------------------------------------------------------------
def test_connected_area_rule_keeps_a_small_particle_and_drops_scattered_pixels():
    """Better than a 1 %-of-pixels rule both ways."""
    pres = np.zeros((64, 64, 80), bool)
    fe, ni = LABELS.index("Fe"), LABELS.index("Ni")
    pres[10:14, 20:23, fe] = True  # 12-pixel particle: 0.3 % of the pixels, below a 1 % rule
    pres[::4, ::4, ni] = True  # 256 isolated false positives (6 % of the pixels, above a 1 % rule)
    assert select_elements(pres, 9) == ["Fe"]


# --- API: eager/lazy/distributed, nothing mutated, metadata --------------------------------------
def test_line_scan_lazy_equals_eager_and_input_untouched():
    s = _sim_signal(("O", "Fe"), shape=(6,), seed=3)
    before = s.data.copy()
    r = identify_elements(s, show_progressbar=False)
    rl = identify_elements(s.as_lazy(), show_progressbar=False)
    assert rl.is_lazy and rl.probabilities._lazy
    rl.compute()
    np.testing.assert_allclose(np.nan_to_num(rl.probabilities.data, nan=-1),
                               np.nan_to_num(r.probabilities.data, nan=-1), atol=1e-6)
    assert r.elements == rl.elements
    np.testing.assert_array_equal(s.data, before)
    assert not s.metadata.has_item("Sample.elements")
    assert r.probabilities.data.shape == (6, 80)
    assert r.probabilities.axes_manager.signal_axes[0].offset == 4  # Z axis, Be = 4


def test_distributed_equals_local():
    distributed = pytest.importorskip("distributed")
    s = _sim_signal(("O", "Fe"), shape=(2, 3), seed=4).as_lazy()
    local = identify_elements(s, show_progressbar=False).compute()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster):
        dist = identify_elements(s, show_progressbar=False).compute()
    np.testing.assert_allclose(np.nan_to_num(dist.probabilities.data, nan=-1),
                               np.nan_to_num(local.probabilities.data, nan=-1), atol=1e-6)


def test_to_metadata_writes_sample_elements():
    s = _sim_signal(("O", "Fe"), seed=5)
    r = identify_elements(s, show_progressbar=False)
    assert {"O", "Fe"} <= set(r.elements)
    found = r.to_metadata(s)
    assert set(found) == set(s.metadata.Sample.elements) == set(r.elements)
    s2 = _sim_signal(("O", "Fe"), seed=5)
    assert set(r.to_metadata(s2, include_flagged=False)) == set(r.elements) - set(r.flags)


def test_explain_and_plot_return_evidence_and_figures():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    s = _sim_signal(("O", "Fe"), seed=6)
    r = identify_elements(s, show_progressbar=False)
    ex = r.explain("Fe")
    l23 = [e for e in ex.edges if e["edge"].startswith("L")][0]
    assert l23["tabulated_onset"] == 708.0 and l23["in_window"]
    assert abs(l23["measured_onset"] - 708.0) <= 15 and l23["snr"] > 5 and l23["jump_ratio"] > 0
    assert "tabulated" in str(ex)
    assert isinstance(r.plot(), Figure)
    si = identify_elements(_sim_signal(("O", "Fe"), shape=(3, 4), seed=7), show_progressbar=False)
    assert isinstance(si.plot(elements=["O", "Fe"]), Figure)
    with pytest.raises(ValueError, match="Unknown element"):
        r.explain("Xx")


def test_explain_unknown_element_is_a_parameter_error():
    """A symbol outside Be-Bi is the user's input: the package's ParameterError (still a ValueError)."""
    r = identify_elements(_sim_signal(("O",), seed=6), show_progressbar=False)
    with pytest.raises(hem.ParameterError, match=r"Unknown element 'Xx'.*e\.g\. 'Fe'"):
        r.explain("Xx")
    with pytest.raises(hem.ParameterError, match="Unknown element"):
        r.explain(26)
    si = identify_elements(_sim_signal(("O",), shape=(2, 2), seed=6), show_progressbar=False)
    with pytest.raises(hem.ParameterError, match="Unknown element 'Xx'"):  # before: "'Xx' is not in list"
        si.plot(elements=["O", "Xx"])


def test_flags_for_contamination_and_low_energy_calls():
    from hyperspy_eels_ml.elements.identify import FLAGS

    assert "contamination" in FLAGS["C"] and "artefact" in FLAGS["Ga"] and "grid" in FLAGS["Cu"]


def test_vacuum_pixels_masked_never_classified():
    s = _sim_signal(("O", "Fe"), shape=(2, 3), seed=8)
    mask = np.zeros((2, 3), bool)
    mask[0, 1] = True
    s.data[0, 1] = np.nan  # NaN only in the masked pixel is accepted
    r = identify_elements(s, navigation_mask=mask, show_progressbar=False)
    assert np.isnan(r.probabilities.data[0, 1]).all()
    assert np.isfinite(r.probabilities.data[1, 1, LABELS.index("O")])


def test_no_element_found_is_a_valid_empty_result_without_warning():
    """A spectrum with no edge (a smooth power-law background): analysed, nothing called -> [] quietly."""
    import warnings

    from exspy.signals import EELSSpectrum

    e = np.arange(400.0, 1400.0, 1.0)
    s = EELSSpectrum(np.random.default_rng(0).poisson(2e4 * (e / 400.0) ** -3.0).astype(float))
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.scale, ax.offset = "eV", 1.0, 400.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        r = identify_elements(s, show_progressbar=False)
        assert r.elements == [] and r.flags == {} and r.to_metadata(s.deepcopy()) == []
    assert np.isfinite(r.window).all()  # analysed: the empty list means "no element found"


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
def test_warns_when_no_spectrum_could_be_analysed(make_eels, lazy):
    """All-zero / constant spectra have no usable window: the empty ``elements`` means "nothing assessed",
    not "no element present", and a UserWarning says so (before: [] and all-NaN probabilities, nothing said)."""
    s = make_eels(n_channels=400)
    s.data[:] = 0.0
    s.data[0] = 7.0  # a constant row: no usable window either
    if lazy:
        s = s.as_lazy()
    with pytest.warns(UserWarning, match=r"no spectrum could be analysed.*all-zero or constant"):
        r = identify_elements(s, navigation_mask=None, show_progressbar=False)
        assert r.elements == []
    assert np.isnan(np.asarray(r.probabilities.data)).all()
    mask = np.ones(s.axes_manager.navigation_shape[::-1], bool)
    with pytest.warns(UserWarning, match="every pixel is masked"):
        identify_elements(make_eels(n_channels=400), navigation_mask=mask, show_progressbar=False).elements


# --- bad input ----------------------------------------------------------------------------------
def _narrow(make_eels):
    return make_eels(n_channels=64, scale=1.0, offset=500.0)  # 64 eV window


CASES = [
    ("hyperspy Signal1D", lambda m: __import__("hyperspy.api").api.signals.Signal1D(m(n_channels=400).data), {},
     hem.NotEELSSignalError, "set_signal_type"),
    ("axis in nm", lambda m: m(n_channels=400, units="nm"), {}, hem.EnergyAxisError, "units 'nm'"),
    ("window too narrow", _narrow, {}, hem.EnergyRangeError, "at least 100 eV"),
    ("below 50 eV", lambda m: m(n_channels=100, offset=-60.0, scale=1.0), {}, hem.EnergyRangeError, "50-3100"),
    ("dispersion 5 eV", lambda m: m(n_channels=100, scale=5.0), {}, hem.EnergyAxisError, "0.05-2"),
    ("NaN", lambda m: _nan(m), {}, hem.NonFiniteDataError, "NaN"),
    ("threshold 2", lambda m: m(n_channels=400), {"threshold": 2.0}, hem.ParameterError, "threshold"),
    ("min_area 0", lambda m: m(n_channels=400), {"min_area": 0}, hem.ParameterError, "min_area"),
    ("missing model", lambda m: m(n_channels=400), {"model": "/nonexistent/model.npz"}, hem.ModelFileError,
     "model.npz"),
]


def _nan(make_eels):
    s = make_eels(n_channels=400)
    s.data[1, 2, 3] = np.nan
    return s


@pytest.mark.parametrize("make_signal, kwargs, exc, match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_identify_elements_faults(make_eels, check_fault, make_signal, kwargs, exc, match):
    check_fault(hem.identify_elements, make_signal(make_eels), kwargs, exc, match)


def test_method_is_attached():
    s = _sim_signal(("O",), seed=9)
    r = s.identify_elements(show_progressbar=False)
    assert isinstance(r, hem.ElementsResult)


# --- coincidence rule -----------------------------------------------------------------------------
def test_coincidence_rule_removes_calls_explained_by_a_better_supported_element():
    from hyperspy_eels_ml.elements.coincidence import resolve_coincidences

    j = {el: LABELS.index(el) for el in ("O", "Sb", "Cr", "Te", "La", "Ni", "Fe")}
    p = np.zeros((5, 80))
    p[0, [j["O"], j["Sb"]]] = 0.99, 0.7  # O K 532 / Sb M5 528: Sb has no other edge in 450-650 eV
    p[1, [j["Cr"], j["Te"]]] = 0.6, 0.9  # Cr L3 575 / Te M5 572: the better supported Te explains Cr
    p[2, [j["La"], j["Ni"]]] = 0.95, 0.8  # Ni L3 855 on La M4 849 ...
    p[3, [j["La"], j["Ni"]]] = 0.95, 0.8  # ... but with Ni M2,3 (68 eV) in the window Ni has its own edge
    p[4, [j["O"], j["Fe"]]] = 0.99, 0.9  # no coincidence: nothing removed
    lo = np.array([450.0, 450.0, 500.0, 50.0, 450.0])
    hi = np.array([650.0, 650.0, 1000.0, 1000.0, 900.0])
    amb = resolve_coincidences(p, lo, hi)
    # an edge within 15 eV of the window start is no independent edge (identify_elements' margins):
    # from 55 eV Ni M2,3 (68 eV) lies 13 eV after the start and Ni is explained by La again
    lo55 = lo.copy()
    lo55[3] = 55.0
    assert resolve_coincidences(p, lo55, hi)[3, j["Ni"]] == j["La"]
    assert amb[0, j["Sb"]] == j["O"] and amb[0, j["O"]] == -1
    assert amb[1, j["Cr"]] == j["Te"] and amb[1, j["Te"]] == -1
    assert amb[2, j["Ni"]] == j["La"] and amb[2, j["La"]] == -1
    assert (amb[3] == -1).all() and (amb[4] == -1).all()
    assert (amb[:, [k for k in range(80) if k not in j.values()]] == -1).all()
    # below the threshold nothing is resolved
    assert (resolve_coincidences(p * 0.5, lo, hi) == -1).all()


def test_removable_coincidences_need_every_edge_explained_and_a_clear_margin():
    from hyperspy_eels_ml.elements.coincidence import (COINCIDENCE_MARGIN, explained_pairs, group_members,
                                                       removable_coincidences, resolve_coincidences)
    from hyperspy_eels_ml.elements.evidence import edge_groups

    j = {el: LABELS.index(el) for el in ("O", "Sb", "Cr", "Te", "La", "Ni")}
    gsb = [g for g, grp in enumerate(edge_groups()) if grp[1] == "Sb" and grp[2] == "M4,5"][0]
    assert group_members()[gsb] == (528.0, 537.0)
    pairs = {(x, y) for x, y, _, _ in explained_pairs()}
    assert (j["Sb"], j["O"]) in pairs and (j["Te"], j["Cr"]) in pairs
    assert (j["Ni"], j["La"]) not in pairs  # Ni L2 872 eV lies 23 eV from La M4 849 eV
    p = np.zeros((6, 80))
    p[0, [j["O"], j["Sb"]]] = 0.99, 0.7  # margin 0.29: removed
    p[1, [j["O"], j["Sb"]]] = 0.99, 0.85  # margin 0.14: flagged, kept
    p[2, [j["Cr"], j["Te"]]] = 0.95, 0.55  # Te M5 572 / M4 582 on Cr L3 575 / L2 584: removed
    p[3, [j["La"], j["Ni"]]] = 0.99, 0.6  # Ni L3 855 on La M4 849 but Ni L2 872 is its own: kept
    p[4, [j["Cr"], j["Te"]]] = 0.6, 0.9  # the better supported Te explains Cr's edges (flag), margin 0.3
    p[5, [j["O"], j["Sb"]]] = 0.99, 0.7  # as row 0, but below the calling threshold of the call below
    lo = np.array([450.0, 450.0, 500.0, 500.0, 500.0, 450.0])
    hi = np.array([650.0, 650.0, 650.0, 1000.0, 650.0, 650.0])
    flag = resolve_coincidences(p, lo, hi)
    rem = removable_coincidences(p, lo, hi)
    assert flag[0, j["Sb"]] == j["O"] and rem[0, j["Sb"]] == j["O"]
    assert flag[1, j["Sb"]] == j["O"] and rem[1, j["Sb"]] == -1
    assert flag[2, j["Te"]] == j["Cr"] and rem[2, j["Te"]] == j["Cr"]
    assert flag[3, j["Ni"]] == j["La"] and rem[3, j["Ni"]] == -1
    assert flag[4, j["Cr"]] == j["Te"] and rem[4, j["Cr"]] == j["Te"]
    assert rem[:, j["O"]].max() == -1 and rem[:, j["La"]].max() == -1
    # the margin is what it says: at margin 0.1 row 1 is removed too, at 0.3 row 0 is kept
    assert removable_coincidences(p, lo, hi, margin=0.1)[1, j["Sb"]] == j["O"]
    assert removable_coincidences(p, lo, hi, margin=0.3)[0, j["Sb"]] == -1
    assert removable_coincidences(p, lo, hi, threshold=0.75)[5, j["Sb"]] == -1
    assert COINCIDENCE_MARGIN == 0.2
    # every removable call is a flagged call, on random probabilities too
    rng = np.random.default_rng(3)
    q = rng.random((400, 80))
    lo_r = rng.uniform(100, 1500, 400)
    hi_r = lo_r + rng.uniform(100, 1500, 400)
    f2, r2 = resolve_coincidences(q, lo_r, hi_r), removable_coincidences(q, lo_r, hi_r)
    assert (r2 >= 0).any() and not ((r2 >= 0) & (f2 < 0)).any()
    assert (r2 >= 0).sum() < (f2 >= 0).sum()


def test_coincidence_rule_in_the_result_and_explain():
    """O + Cr in 450-950 eV at a low threshold (0.03: the fine-tuned models give Sb 0.03-0.44 there): weak Sb (M5 528 eV, on O K) calls are explained by O."""
    from hyperspy_eels_ml.elements.coincidence import removable_coincidences

    s = _sim_signal(("O", "Cr"), shape=(2, 2), seed=0).as_lazy()
    r = identify_elements(s, show_progressbar=False, threshold=0.03, resolve_coincidences=True)
    r0 = identify_elements(s, show_progressbar=False, threshold=0.03)  # default: flagged, not removed
    assert r.is_lazy
    r.compute()
    amb = np.asarray(r.ambiguous_with)
    assert amb.shape == (2, 2, 80)
    np.testing.assert_array_equal(np.asarray(r0.ambiguous_with), amb)
    p = np.nan_to_num(r.probabilities.data, nan=-1)
    w = np.asarray(r.window).reshape(-1, 2)
    rem = removable_coincidences(r.probabilities.data.reshape(-1, 80), w[:, 0], w[:, 1], 0.03).reshape(2, 2, 80)
    assert not ((rem >= 0) & (amb < 0)).any()  # only flagged calls are removed
    np.testing.assert_array_equal(r.present.data, (p >= 0.03) & (rem < 0))
    np.testing.assert_array_equal(r0.present.data, p >= 0.03)
    removed = {LABELS[k] for k in np.flatnonzero((rem >= 0).any(axis=(0, 1)))}
    assert "Sb" in removed and "O" not in removed and "Cr" not in removed
    assert set(r.elements) <= set(r0.elements)
    ex = r.explain("Sb")
    assert "O" in ex.ambiguous_with and "ambiguous with O" in str(ex) and not ex.called
    assert ex.removed_with["O"] > 0 and "removed in" in str(ex) and "higher by at least 0.2" in str(ex)
    assert r0.explain("Sb").removed_with == {} and "removed in" not in str(r0.explain("Sb"))
    # the summary list of the flag-only result keeps such calls, flagged with their partner (which weak
    # calls reach it depends on the model: Sb for the E3 network, Te on Cr L3 (Te M5 572 eV) for E6's)
    flagged = {LABELS[k] for k in np.flatnonzero((amb >= 0).any(axis=(0, 1)))}
    kept = [el for el in r0.elements if el in flagged]
    assert kept
    for el in kept:
        partners = {LABELS[j] for j in amb[..., LABELS.index(el)].ravel() if j >= 0}
        assert any("ambiguous" in f and any(q in f for q in partners) for f in r0.flags[el])
    # a flagged call that is kept with resolve_coincidences=True stays flagged there too
    for el in set(r.elements) & flagged:
        assert any("ambiguous" in f for f in r.flags[el])
    assert r.parameters["resolve_coincidences"] and not r0.parameters["resolve_coincidences"]


def test_blas_limited_to_one_thread_while_blocks_run_and_restored_after():
    pytest.importorskip("threadpoolctl")
    # In a fresh interpreter: OpenBLAS 0.3.30 ignores a later openblas_set_num_threads from the main
    # thread once dask's worker threads have set their own, so earlier tests in this process would
    # make the check below meaningless (the limiter itself acts in the worker threads that run blocks).
    code = """
import threadpoolctl
from hyperspy_eels_ml.elements.identify import _one_blas_thread

def blas_threads():
    return [d["num_threads"] for d in threadpoolctl.threadpool_info() if d["user_api"] == "blas"]

with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
    before = blas_threads()
    assert set(before) == {2}, before
    with _one_blas_thread():
        with _one_blas_thread():  # a second worker thread entering: still one thread
            assert set(blas_threads()) == {1}
        assert set(blas_threads()) == {1}  # the first is still running
    assert blas_threads() == before
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]

def test_usable_window_cuts_negative_channels_at_the_ends():
    """Negative channels next to dark/fill runs (dark-reference over-subtraction) are not signal: a
    negative run before the positive counts looked like an edge at the window start (bench_identify_invariance
    on the LSMO/STO line scan: a spurious Sc L2,3 call)."""
    e = 390.0 + np.arange(600) * 1.0
    y = 1e5 * (e / 390.0) ** -3
    y[:20] = 0.0  # dark channels
    y[20:25] = -np.array([3.0, 11.0, 7.0, 1.5, 19.0])  # negative channels
    y[-8:-3] = -np.array([2.0, 5.0, 1.0, 4.0, 6.0])  # negative channels before a fill run at the end
    y[-3:] = 65535.0
    a, b, why = usable_window(y[None], e)
    assert a[0] == 25 and b[0] == 600 - 8
    assert any("negative" in w for w in why)
    # an all-negative spectrum has no usable window
    a, b, _ = usable_window(-np.abs(y)[None] - 1.0, e)
    assert b[0] <= a[0]
    # isolated negative channels inside the window are kept
    z = 1e5 * (e / 390.0) ** -3
    z[300] = -5.0
    a, b, _ = usable_window(z[None], e)
    assert a[0] == 0 and b[0] == 600


def test_identify_window_and_calls_ignore_prepended_dark_and_negative_channels():
    s = _sim_signal(("O", "Ti", "Mn"), offset=395.0, dispersion=1.0, size=510, seed=3)
    d = s.axes_manager[-1].scale
    pre = np.concatenate([np.zeros(20), -np.array([3.0, 11.0, 7.0, 1.5, 19.0])])
    t = s._deepcopy_with_new_data(np.concatenate([pre, np.asarray(s.data, np.float64)]))
    t.axes_manager[-1].offset = s.axes_manager[-1].offset - 25 * d
    r0 = identify_elements(s, show_progressbar=False)
    r1 = identify_elements(t, show_progressbar=False)
    np.testing.assert_allclose(np.asarray(r1.window), np.asarray(r0.window))
    np.testing.assert_allclose(np.nan_to_num(r1.probabilities.data, nan=-1),
                               np.nan_to_num(r0.probabilities.data, nan=-1), atol=1e-5)
    assert r1.elements == r0.elements


def test_spectra_without_usable_window_warn(lazy):
    """All-NaN probabilities are never silent: unmasked spectra with no usable window (constant, e.g. a
    dark-subtracted vacuum pixel of zeros, or negative only) warn; masked ones do not."""
    import warnings

    s = _sim_signal(("O", "Fe"), shape=(2, 3), seed=5)
    data = np.asarray(s.data, np.float64).copy()
    data[0, 0] = 0.0  # dark-subtracted vacuum: no usable window
    data[1, 2] = -3.0
    t = s._deepcopy_with_new_data(data)
    t = t.as_lazy() if lazy else t
    with pytest.warns(UserWarning, match=r"2 of 6 .*no usable window"):
        r = identify_elements(t, navigation_mask=None, show_progressbar=False)  # every pixel analysed
        r.elements
    p = np.asarray(r.probabilities.data.compute() if lazy else r.probabilities.data)
    assert np.isnan(p[0, 0]).all() and np.isnan(p[1, 2]).all() and np.isfinite(p[0, 1]).any()
    mask = np.zeros((2, 3), bool)
    mask[0, 0] = mask[1, 2] = True
    for m in (mask, "auto"):  # the default masks both as vacuum (total counts < 10 % of the 95th percentile)
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            r = identify_elements(t, navigation_mask=m, show_progressbar=False)
            r.elements
        assert r.parameters["n_masked"] == 2
    one = s.inav[0, 0]._deepcopy_with_new_data(np.zeros(s.axes_manager[-1].size))
    with pytest.warns(UserWarning, match="no spectrum could be analysed"):
        identify_elements(one, show_progressbar=False).elements
