"""classify_oxidation(model="valence"): any window with L3 and L2, the chemical shift, mean valence, metals,
several elements in one pass, baselines and safe model files."""

import json
import warnings

import dask.array as da
import numpy as np
import pytest
from exspy.signals import EELSSpectrum

import hyperspy_eels_ml  # noqa: F401
from hyperspy_eels_ml import EnergyRangeError, ModelFileError
from hyperspy_eels_ml.oxidation import available_models, classify_oxidation
from hyperspy_eels_ml.oxidation.valence import (
    ValenceModel,
    nnls_baseline,
    ratio_onset_baseline,
    reference_windows,
    valence_features,
    valence_spec,
)
from hyperspy_eels_ml.simulation import white_line_spectra

SEED = 4242  # neither the training (2024) nor the held-out (777) seed


def _sig(data, energy):
    s = EELSSpectrum(np.asarray(data, dtype=np.float32))
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.scale, ax.offset, ax.name = "eV", float(energy[1] - energy[0]), float(energy[0]), "Energy loss"
    return s


def _crop(b, lo, hi):
    sel = (b.energy >= lo) & (b.energy <= hi)
    return b.spectra[:, sel], b.energy[sel]


def _mn(n, fractions=None, dispersion=0.1, background="residual", shift=0.0, seed=SEED, **kw):
    if fractions is None:
        fractions = np.eye(4)[np.random.default_rng(seed).integers(1, 4, n)]  # Mn2+/3+/4+
    kw.setdefault("counts", (2000.0, 5000.0))
    return white_line_spectra(n, ["Mn0", "Mn2+", "Mn3+", "Mn4+"], fractions=fractions, dispersion=dispersion,
                              background=background, shift=shift, rng=seed, **kw)


def _valence_error(b, lo, hi, **kw):
    data, e = _crop(b, lo, hi)
    r = classify_oxidation(_sig(data, e), "Mn", model="valence", remove_background=False,
                           show_progressbar=False, **kw)
    v = np.asarray(r.mean_valence.data)
    truth = b.fractions @ np.array([0.0, 2.0, 3.0, 4.0])
    ok = np.isfinite(v)
    return np.abs(v[ok] - truth[ok]), ok.mean(), r


@pytest.mark.parametrize("lo,hi,d", [(636.0, 663.0, 0.1),     # narrow, as MnEdgeNet/atlas references
                                     (620.0, 700.0, 0.1),     # wide
                                     (634.0, 665.0, 0.5),     # coarse
                                     (636.0, 663.0, 0.05)])   # fine
def test_any_window_with_both_lines(lo, hi, d):
    b = _mn(120, dispersion=d, shift=(-0.5, 0.5))
    err, frac_ok, r = _valence_error(b, lo, hi)
    assert frac_ok > 0.85  # a 636 eV start leaves 2.5-4 eV below the Mn2+ onset: some spectra fall outside
    assert np.median(err) < 0.45, np.median(err)
    # shape only: oxide end members (a metal needs the chemical shift, see test_metals_need_the_shift)
    assert r.classes == ["Mn2+", "Mn3O4", "Mn3+", "Mn4+"]
    assert r.fractions.data.shape == (120, 3)
    fs = np.asarray(r.fractions.data)
    ok = np.isfinite(fs).all(axis=1)
    np.testing.assert_allclose(fs[ok].sum(axis=1), 1.0, atol=1e-5)


def test_window_too_narrow_names_the_minimum():
    b = _mn(2)
    data, e = _crop(b, 637.0, 650.0)  # L2 missing
    with pytest.raises(EnergyRangeError, match=r"L3 and L2 lines: at least \d+ eV"):
        classify_oxidation(_sig(data, e), "Mn", model="valence", remove_background=False)
    data, e = _crop(b, 636.0, 663.0)  # fine without, but no pre-edge window for a background fit
    with pytest.raises(EnergyRangeError, match="pre-edge window of at least"):
        classify_oxidation(_sig(data, e), "Mn", model="valence", remove_background=True)


def test_powerlaw_background_removed_with_a_pre_edge_window():
    b = _mn(80, background="powerlaw", shift=(-2.0, 2.0))
    data, e = _crop(b, 615.0, 670.0)
    r = classify_oxidation(_sig(data, e), "Mn", model="valence", show_progressbar=False)
    v = np.asarray(r.mean_valence.data)
    truth = b.fractions @ np.array([0.0, 2.0, 3.0, 4.0])
    assert np.nanmedian(np.abs(v - truth)) < 0.45


def test_chemical_shift_used_when_calibrated_and_from_a_low_loss_partner():
    b = _mn(150, shift=0.0)
    data, e = _crop(b, 625.0, 680.0)
    truth = b.fractions @ np.array([0.0, 2.0, 3.0, 4.0])
    r0 = classify_oxidation(_sig(data, e), "Mn", model="valence", remove_background=False, show_progressbar=False)
    r1 = classify_oxidation(_sig(data, e), "Mn", model="valence", remove_background=False, energy_calibrated=True,
                            show_progressbar=False)
    assert not np.asarray(r0.calibration_used.data).any()
    assert np.asarray(r1.calibration_used.data).mean() > 0.95
    e0 = np.nanmean(np.abs(np.asarray(r0.mean_valence.data) - truth))
    e1 = np.nanmean(np.abs(np.asarray(r1.mean_valence.data) - truth))
    assert e0 < 0.2 and e1 < 0.25, (e0, e1)  # r1 also has the metal end member to rule out
    assert r1.model_info["name"] == "mn_l23_valence" and r0.model_info["name"] == "mn_l23_valence_oxide"
    # the same axis 4 eV off, with a ZLP partner 4 eV off as well (DualEELS): the ZLP calibrates it
    s = _sig(data, e + 4.0)
    ell = np.arange(-5.0, 20.0, 0.05)
    zl = np.exp(-0.5 * ((ell - 4.0) / 0.3) ** 2) * 1e4
    ll = EELSSpectrum(np.tile(zl, (150, 1)).astype(np.float32))
    ax = ll.axes_manager.signal_axes[0]
    ax.units, ax.scale, ax.offset = "eV", 0.05, -5.0
    r2 = classify_oxidation(s, "Mn", model="valence", remove_background=False, low_loss=ll, show_progressbar=False)
    assert np.asarray(r2.calibration_used.data).mean() > 0.95
    np.testing.assert_allclose(np.asarray(r2.mean_valence.data), np.asarray(r1.mean_valence.data), atol=0.1)
    # an implausible calibration (axis 30 eV off, "calibrated") is not trusted: shape only, and said so
    r3 = classify_oxidation(_sig(data, e + 9.0), "Mn", model="valence", remove_background=False,
                            energy_calibrated=True, show_progressbar=False)
    assert not np.asarray(r3.calibration_used.data).any()


def test_mean_valence_interval_and_mixed_valence():
    rng = np.random.default_rng(SEED)
    fr = np.zeros((300, 4))
    fr[:, 1:] = rng.dirichlet([0.7, 0.7, 0.7], 300)
    b = _mn(300, fractions=fr, shift=(-1.0, 1.0))
    err, _, r = _valence_error(b, 630.0, 670.0)
    half = np.asarray(r.valence_uncertainty.data)
    half = half[np.isfinite(half)]
    cover = np.mean(err <= half)
    assert 0.5 < cover < 0.9, cover  # a calibrated 68 % interval
    assert np.mean(err) < 0.4
    # Mn3O4 (1 Mn2+ : 2 Mn3+): mean valence about 8/3 and the Mn3O4 phase rather than forcing Mn3+
    b = _mn(60, fractions=np.tile([0.0, 1 / 3, 2 / 3, 0.0], (60, 1)))
    err, _, r = _valence_error(b, 630.0, 670.0)
    assert np.median(err) < 0.35
    fr_m = np.nanmedian(np.asarray(r.fractions.data), axis=0)  # Mn2+, Mn3+, Mn4+
    assert fr_m[0] > 0.1 and fr_m[1] > 0.3


def test_metals_need_the_shift():
    b = white_line_spectra(80, ["Fe0", "Fe2+", "Fe3+"], fractions=np.tile([1.0, 0, 0], (80, 1)), shift=0.0,
                           dispersion=0.1, background="residual", counts=(2000.0, 5000.0), rng=SEED)
    data, e = _crop(b, 695.0, 735.0)
    r0 = classify_oxidation(_sig(data, e), "Fe", model="valence", remove_background=False, show_progressbar=False)
    assert "Fe0" not in r0.classes and r0.model_info["name"] == "fe_l23_valence_oxide"
    r = classify_oxidation(_sig(data, e), "Fe", model="valence", remove_background=False, energy_calibrated=True,
                           show_progressbar=False)
    assert r.classes[0] == "Fe0" and r.model_info["name"] == "fe_l23_valence"
    rm = classify_oxidation(_sig(data, e), "Fe", model="valence", remove_background=False, metals=True,
                            show_progressbar=False)
    assert rm.classes[0] == "Fe0"
    lab = np.asarray(r.labels.data)
    assert np.mean(lab == r.classes.index("Fe0")) > 0.7
    assert np.nanmedian(np.asarray(r.mean_valence.data)) < 0.8


def test_fe_and_mn_in_one_pass_lazy_equals_eager():
    bm = _mn(24, shift=0.0)
    bf = white_line_spectra(24, ["Fe0", "Fe2+", "Fe3+"], fractions=np.tile([0, 0, 1.0], (24, 1)), shift=0.0,
                            dispersion=0.1, energy_offset=bm.energy[0], size=1200, background="residual",
                            counts=(2000.0, 5000.0), rng=SEED)
    e = bm.energy[0] + 0.1 * np.arange(1200)
    mn = np.zeros((24, 1200), np.float32)
    mn[:, : bm.spectra.shape[1]] = bm.spectra
    s = _sig(mn + bf.spectra, e)
    res = s.classify_oxidation(["Fe", "Mn"], model="valence", remove_background=False, show_progressbar=False)
    assert set(res) == {"Fe", "Mn"}
    vm = np.asarray(res["Mn"].mean_valence.data)
    assert np.nanmedian(np.abs(vm - bm.fractions @ np.array([0.0, 2.0, 3.0, 4.0]))) < 0.5
    assert np.nanmedian(np.asarray(res["Fe"].mean_valence.data)) > 2.5
    sl = s.as_lazy()
    sl.data = sl.data.rechunk((1, -1))  # navigation chunks of one: rechunked, one pass
    rl = sl.classify_oxidation(["Fe", "Mn"], model="valence", remove_background=False)
    assert rl.is_lazy and isinstance(rl["Fe"].labels.data, da.Array)
    assert rl["Fe"].labels.data.numblocks[0] < 24
    rl.compute()
    for el in ("Fe", "Mn"):
        np.testing.assert_array_equal(rl[el].labels.data, res[el].labels.data)
    assert "Fe" in repr(res) and "Mn" in repr(res)


def test_baselines_recover_references_exactly():
    vs = valence_spec("Mn")
    e = np.arange(620.0, 700.0, 0.1)
    fs = vs.feature_spec(e, False)
    refs = reference_windows(vs, fs)
    _, v = nnls_baseline(refs, refs, vs)
    np.testing.assert_allclose(v, [0.0, 2.0, 3.0, 4.0], atol=1e-6)
    vr = ratio_onset_baseline(refs[1:], np.full(3, np.nan), fs, vs)
    assert np.all(np.diff(vr) > 0)  # monotone in the valence
    b = _mn(5, shift=0.0)
    f, onset, snr, atb, _ = valence_features(*_crop(b, 625.0, 680.0), vs, False)
    assert f.shape == (5, fs.n_features) and not atb.any()


def test_available_models_list_valence_models_with_support():
    av = {m["name"]: m for m in available_models()}
    for el in ("mn", "fe", "co", "ni", "cu"):
        m = av[f"{el}_l23_valence"]
        assert m["model"] == "valence" and m["heldout_valence_mae"] < 1.0
        assert set(m["supported_by"]["references"]) | set(m["supported_by"]["priors"]) == set(m["end_members"])
    assert "Fe0" in av["fe_l23_valence"]["supported_by"]["priors"]
    assert "Mn2+" in av["mn_l23_valence"]["supported_by"]["references"]
    ti = av["ti_l23_valence"]  # TiO2 measured (Zanetta), Ti3+ from the literature shift: no metal end member
    assert ti["end_members"] == ["Ti3+", "Ti4+"] and not ti["metals"]
    assert "Ti4+" in ti["supported_by"]["references"]


def test_titanium_crystal_field_split_lines_read_in_valence_order():
    """Ti3+/Ti4+ (d1/d0, t2g/eg split lines) on a narrow 450-475 eV window, shape only, +-3 eV axis errors."""
    rng = np.random.default_rng(SEED)
    fr = np.eye(2)[rng.integers(0, 2, 80)]
    b = white_line_spectra(80, ["Ti3+", "Ti4+"], fractions=fr, dispersion=0.1, background="residual",
                           shift=(-3.0, 3.0), counts=(2000.0, 5000.0), rng=SEED)
    data, e = _crop(b, 446.0, 478.0)
    r = classify_oxidation(_sig(data, e), "Ti", model="valence", remove_background=False, show_progressbar=False)
    assert r.classes == ["Ti3+", "Ti4+"] and r.model_info["name"] == "ti_l23_valence"
    v = np.asarray(r.mean_valence.data)
    truth = fr @ np.array([3.0, 4.0])
    ok = np.isfinite(v)
    assert ok.mean() > 0.9
    assert np.median(np.abs(v[ok] - truth[ok])) < 0.3
    assert np.median(v[ok & (truth == 4)]) > np.median(v[ok & (truth == 3)]) + 0.5


def test_valence_model_files_safe_and_validated(tmp_path):
    vm = ValenceModel.load(_shipped("mn"))
    p = vm.save(tmp_path / "m.npz")
    vm2 = ValenceModel.load(p)
    X = np.random.default_rng(0).normal(size=(3, vm.spec_.n_inputs)).astype(np.float32)
    for a, b in zip(vm.predict(X), vm2.predict(X)):
        np.testing.assert_allclose(a, b, atol=1e-5)
    with np.load(p) as z:
        arrays = {k: z[k] for k in z.files}
    head = json.loads(str(arrays["header"]))
    head["spec"]["element"] = "Fe"
    arrays["header"] = np.array(json.dumps(head))
    np.savez(tmp_path / "tampered.npz", **arrays)
    with pytest.raises(ModelFileError, match="digest"):
        ValenceModel.load(tmp_path / "tampered.npz")
    (tmp_path / "trunc.npz").write_bytes(open(p, "rb").read()[:200])
    with pytest.raises(ModelFileError, match="trunc.npz"):
        ValenceModel.load(tmp_path / "trunc.npz")


def _shipped(el):
    import os

    import hyperspy_eels_ml.oxidation as ox

    return os.path.join(os.path.dirname(os.path.dirname(ox.__file__)), "models", "oxidation",
                        f"{el}_l23_valence.npz")


def test_extreme_scales_give_identical_answers():
    b = _mn(30, shift=0.0)
    data, e = _crop(b, 630.0, 670.0)
    ref = classify_oxidation(_sig(data, e), "Mn", model="valence", remove_background=False, show_progressbar=False)
    for k in (1e20, 1e-30):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            r = classify_oxidation(_sig(data.astype(np.float64) * k, e), "Mn", model="valence",
                                   remove_background=False, show_progressbar=False)
        np.testing.assert_array_equal(np.asarray(r.labels.data), np.asarray(ref.labels.data))
        np.testing.assert_allclose(np.asarray(r.mean_valence.data), np.asarray(ref.mean_valence.data), atol=1e-3)


def test_o_k_pre_peak_is_the_energy_reference_when_both_edges_are_in_the_window():
    rng = np.random.default_rng(SEED)
    fr = np.eye(3)[rng.integers(0, 3, 120)]
    b = white_line_spectra(120, ["Mn2+", "Mn3+", "Mn4+"], fractions=fr, edge="both", dispersion=0.2,
                           shift=(-5.0, 5.0), background="powerlaw", counts=(2000.0, 5000.0), energy_offset=480.0,
                           size=1300, rng=SEED)
    s = _sig(b.spectra, b.energy)
    truth = fr @ np.array([2.0, 3.0, 4.0])
    r = classify_oxidation(s, "Mn", model="valence", show_progressbar=False)
    assert "O K pre-peak" in r.model_info["chemical_shift"]
    assert np.asarray(r.calibration_used.data).mean() > 0.8  # the +-5 eV axis errors are absorbed
    assert np.nanmean(np.abs(np.asarray(r.mean_valence.data) - truth)) < 0.25
    r0 = classify_oxidation(s, "Mn", model="valence", o_k_reference=False, show_progressbar=False)
    assert not np.asarray(r0.calibration_used.data).any()
    data, e = _crop(b, 600.0, 700.0)  # no O K in the window
    with pytest.raises(EnergyRangeError, match="o_k_reference=True needs the O K edge"):
        classify_oxidation(_sig(data, e), "Mn", model="valence", o_k_reference=True)


def test_cerium_m45_mixed_valence_from_its_own_window():
    """Ce3+/Ce4+ (M5/M4 ratio, Ce4+ satellites +5 eV) on a 876-912 eV window, shape only, +-2 eV axis errors."""
    rng = np.random.default_rng(SEED)
    f4 = np.concatenate([np.zeros(15), np.ones(15), rng.uniform(0, 1, 30)])
    b = white_line_spectra(60, ["Ce3+", "Ce4+"], fractions=np.column_stack([1 - f4, f4]), dispersion=0.1,
                           background="residual", shift=(-2.0, 2.0), counts=(2000.0, 5000.0), rng=SEED)
    data, e = _crop(b, 876.0, 912.0)
    r = classify_oxidation(_sig(data, e), "Ce", model="valence", remove_background=False, show_progressbar=False)
    v = np.asarray(r.mean_valence.data)
    truth = 3.0 + f4
    ok = np.isfinite(v)
    assert ok.mean() > 0.9 and r.classes == ["Ce3+", "Ce4+"]
    assert np.mean(np.abs(v[ok] - truth[ok])) < 0.25
    assert np.mean(v[:15][ok[:15]]) < 3.3 < 3.7 < np.mean(v[15:30][ok[15:30]])
    assert r.model_info["edge"] == "L23" and "ce_m45_valence" in str(r.model_info)
    av = {m["name"]: m for m in available_models()}
    ce = av["ce_m45_valence"]  # no Ce reference spectrum: both end members are priors
    assert ce["edge"] == "M45" and ce["supported_by"] == {"references": [], "priors": ["Ce3+", "Ce4+"]}
    with pytest.raises(EnergyRangeError, match="Ce M5 and M4 lines"):
        classify_oxidation(_sig(*_crop(b, 876.0, 895.0)), "Ce", model="valence", remove_background=False)


@pytest.mark.parametrize("species", ["V5+", "Cr6+"])
def test_first_maximum_anchor_keeps_narrow_d0_l3_lines_in_the_window(species):
    """With a continuum, L2 + the step out-tops the smoothed narrow L3 doublet of d0 V5+/Cr6+: the highest-point
    anchor ("onset_rel") then sits on L2 and the window loses L3; "onset_first" (V, Cr) anchors on L3."""
    from hyperspy_eels_ml.simulation.oxidation import white_line_parameters

    p = white_line_parameters()["species"][species]
    vs = valence_spec(p["element"])
    assert vs.anchor == "onset_first"
    b = white_line_spectra(1, [species], dispersion=0.05, shift=0.0, resolution=1.0, t_lambda=0.3, background=None,
                           noise=False, parameter_spread=0.0, continuum=1.0, rng=0)
    _, onset_first, _, _, _ = valence_features(b.spectra, b.energy, vs, remove_background=False)
    _, onset_rel, _, _, _ = valence_features(b.spectra, b.energy, valence_spec(p["element"], anchor="onset_rel"),
                                             remove_background=False)
    l3 = p["L3"][0]
    assert abs(onset_first[0] - l3) < 1.5  # on the L3 lines' rising side
    assert onset_rel[0] - l3 > 3.0  # the old anchor: on L2, L3 left outside the window


def test_shipped_valence_models_keep_their_anchor():
    """The anchor is part of what a model was trained on: every shipped valence model was trained on "onset_rel"."""
    from hyperspy_eels_ml.oxidation.shipped import _resolve_valence

    for el in ("Mn", "Fe", "Co", "Ni", "Cu", "Ti", "Ce"):
        vm = _resolve_valence("valence", el)[0]
        assert vm.spec_.anchor == "onset_rel" and valence_spec(el).anchor == "onset_rel"
