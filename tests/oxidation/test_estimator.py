"""The valence models' unbiased estimator (issue 13): the posterior mean's shrinkage toward the middle valence undone,
calibrated on held-out simulations, kept only where it does not overshoot clear spectra, stored safely."""

import json

import numpy as np
import pytest
from exspy.signals import EELSSpectrum

import hyperspy_eels_ml  # noqa: F401
from hyperspy_eels_ml import ModelFileError
from hyperspy_eels_ml.oxidation import classify_oxidation
from hyperspy_eels_ml.oxidation.shipped import _resolve_valence
from hyperspy_eels_ml.oxidation.valence import ValenceModel
from hyperspy_eels_ml.simulation import white_line_spectra

SEED = 6161  # neither the training (2024), held-out (777), calibration (778) nor clean (4243/4244) seed


def _sig(data, energy):
    s = EELSSpectrum(np.asarray(data, dtype=np.float32))
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.scale, ax.offset, ax.name = "eV", float(energy[1] - energy[0]), float(energy[0]), "Energy loss"
    return s


def test_unbiased_estimator_reads_end_members_at_their_valence():
    """Pure Mn2+/3+/4+ with the training nuisances (spreads x1.5, jittered multiplets), narrow window, shape only."""
    rng = np.random.default_rng(SEED)
    fr = np.eye(3)[rng.integers(0, 3, 240)]
    b = white_line_spectra(240, ["Mn2+", "Mn3+", "Mn4+"], fractions=fr, dispersion=0.1, background="residual",
                           shift=(-1.0, 1.0), counts=(1000.0, 5000.0), parameter_spread=1.5,
                           multiplet_jitter=(0.25, 0.25), continuum=(0.0, 2.0), rng=SEED)
    sel = (b.energy >= 634.0) & (b.energy <= 664.0)
    s = _sig(b.spectra[:, sel], b.energy[sel])
    truth = fr @ np.array([2.0, 3.0, 4.0])
    out = {}
    for est in ("unbiased", "posterior_mean"):
        r = classify_oxidation(s, "Mn", remove_background=False, valence_estimator=est, show_progressbar=False)
        assert r.model_info["valence_estimator"] == est
        md = r.mean_valence.metadata.hyperspy_eels_ml
        assert json.loads(md.parameters)["valence_estimator"] == est
        assert json.loads(md.models)["valence_estimator"] == est
        v = np.asarray(r.mean_valence.data)
        ok = np.isfinite(v)
        out[est] = (np.polyfit(truth[ok], v[ok], 1)[0], v, ok, np.asarray(r.valence_uncertainty.data), r)
    s_u, v_u, ok, h_u, r_u = out["unbiased"]
    s_p, v_p, _, _, r_p = out["posterior_mean"]
    assert s_u > s_p + 0.1, (s_u, s_p)
    assert 0.85 < s_u < 1.15, s_u
    assert np.nanmean(v_u[fr[:, 2] > 0]) > np.nanmean(v_p[fr[:, 2] > 0]) + 0.1  # Mn4+ less pulled down
    assert 0.55 < np.mean(np.abs(v_u[ok] - truth[ok]) <= h_u[ok]) < 0.95  # an honest interval (0.89 here: pure, clear)
    # the fractions are the posterior means either way; fractions @ valences is the posterior-mean valence
    fu, fp = np.asarray(r_u.fractions.data), np.asarray(r_p.fractions.data)
    np.testing.assert_array_equal(fu, fp)
    np.testing.assert_allclose(fp[ok] @ np.array([2.0, 3.0, 4.0]), v_p[ok], atol=1e-4)


def test_estimator_choice_is_validated_and_cards_say_where_it_is_used():
    s = _sig(np.ones((2, 300), np.float32), np.arange(300) * 0.1 + 634.0)
    with pytest.raises(ValueError, match="valence_estimator must be 'unbiased' or 'posterior_mean'"):
        classify_oxidation(s, "Mn", model="valence", remove_background=False, valence_estimator="mode")
    vm, path, _ = _resolve_valence("valence", "Mn", oxides_only=True)
    with open(path[:-4] + ".json") as f:
        card = json.load(f)
    gate = card["estimator"]["gate"]
    for kind, g in gate.items():
        # kept exactly where both slopes pass the gate
        assert g["used"] == (0.9 <= g["slope_calibration_set"] <= 1.1 and 0.9 <= g["slope_clean_set"] <= 1.1)
        assert (kind in vm.deshrink_) == g["used"]
    X = np.random.default_rng(0).normal(size=(5, vm.spec_.n_inputs)).astype(np.float32)
    with pytest.raises(ValueError, match="estimator must be"):
        vm.predict(X, estimator="map")


def test_calibration_is_covered_by_the_digest(tmp_path):
    vm, _, _ = _resolve_valence("valence", "Mn", oxides_only=True)
    assert vm.deshrink_, "the shipped Mn oxide model carries its unbiased calibration"
    p = vm.save(tmp_path / "m.npz")
    X = np.random.default_rng(1).normal(size=(20, vm.spec_.n_inputs)).astype(np.float32)
    X[:, -1] = 0.0
    for a, b in zip(vm.predict(X), ValenceModel.load(p).predict(X)):
        np.testing.assert_array_equal(a, b)
    with np.load(p, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    head = json.loads(str(arrays.pop("header")))
    head["deshrink"]["shape_only"]["b"] = [1.0] * len(head["deshrink"]["shape_only"]["b"])  # tampered
    np.savez(tmp_path / "t.npz", header=np.array(json.dumps(head)), **arrays)
    with pytest.raises(ModelFileError, match="digest"):
        ValenceModel.load(tmp_path / "t.npz")
