"""Descriptor valence models: white-line descriptors as network inputs (issue 13, session 14, z36)."""

import dataclasses
import json
import warnings

import numpy as np
import pytest
from exspy.signals import EELSSpectrum

from hyperspy_eels_ml._shared.exceptions import ModelFileError
from hyperspy_eels_ml.oxidation import classify_oxidation
from hyperspy_eels_ml.oxidation.valence import (
    DESCRIPTOR_NAMES,
    ValenceModel,
    descriptor_inputs,
    network_inputs,
    valence_features,
    valence_model_name,
    valence_spec,
    white_line_descriptors,
)
from hyperspy_eels_ml.simulation import white_line_spectra

SEED = 5151


def _spec(metals=False):
    return dataclasses.replace(valence_spec("Mn", metals=metals), descriptors=True)


def _two_lines(vs, ratio, l3=1.5, sigma=0.6, split=None, n=1):
    """Aligned windows with two Gaussian lines of area ratio ``ratio`` (no continuum, no noise)."""
    from hyperspy_eels_ml.oxidation.valence import _oxide_splitting

    split = _oxide_splitting(tuple(vs.end_members)) if split is None else split
    e = vs.window[0] + vs.dispersion * np.arange(vs.n_shape)
    g = lambda c: np.exp(-0.5 * ((e - c) / sigma) ** 2)  # noqa: E731
    y = ratio * g(l3) + g(l3 + split)
    return np.repeat(y[None], n, axis=0), split


@pytest.mark.parametrize("ratio", [1.8, 2.5, 4.0])
def test_descriptors_of_two_lines_with_known_r_int(ratio):
    vs = _spec()
    f, split = _two_lines(vs, ratio)
    d = white_line_descriptors(f, vs)
    assert d["r_int"][0] == pytest.approx(ratio, rel=0.03)
    assert d["l3"][0] == pytest.approx(1.5, abs=0.15)
    assert d["l2"][0] - d["l3"][0] == pytest.approx(split, abs=0.25)
    assert d["l3_fwhm"][0] == pytest.approx(2.3548 * np.hypot(0.6, 0.5), rel=0.1)  # smoothed by 0.5 eV
    assert d["l2_height"][0] == pytest.approx(1.0 / ratio, rel=0.05)
    assert abs(d["step"][0]) < 0.02 and abs(d["l3_centroid"][0]) < 0.1
    assert np.isnan(d["second_height"][0])  # a single line: no second L3 maximum
    X = descriptor_inputs(f, vs)
    assert X.shape == (1, len(DESCRIPTOR_NAMES)) and np.isfinite(X).all()
    assert X[0, DESCRIPTOR_NAMES.index("log_r_int")] == pytest.approx(np.log(ratio), abs=0.03)
    flags = {k: X[0, DESCRIPTOR_NAMES.index(k)] for k in DESCRIPTOR_NAMES if k.endswith("_missing")}
    assert flags == {"ratio_missing": 0.0, "l2_missing": 0.0, "l3_second_missing": 1.0}


def test_a_higher_ratio_reads_as_a_higher_r_int_and_a_doublet_as_a_second_maximum():
    vs = _spec()
    lo, _ = _two_lines(vs, 2.0)
    hi, _ = _two_lines(vs, 4.0)
    assert white_line_descriptors(hi, vs)["r_int"][0] > white_line_descriptors(lo, vs)["r_int"][0]
    e = vs.window[0] + vs.dispersion * np.arange(vs.n_shape)
    doublet = lo[0] + 0.8 * np.exp(-0.5 * ((e - 3.8) / 0.4) ** 2)
    d = white_line_descriptors(doublet[None], vs)
    assert d["l3"][0] == pytest.approx(1.5, abs=0.15)  # the first strong maximum stays L3
    assert d["second_offset"][0] == pytest.approx(3.8 - 1.5, abs=0.3)
    assert 0.2 < d["second_height"][0] < 0.6


def test_unmeasured_descriptors_are_flagged_never_silent():
    vs = _spec()
    f, _ = _two_lines(vs, 2.5, n=3)
    f[1] = 0.0  # nothing: no L3 maximum
    e = vs.window[0] + vs.dispersion * np.arange(vs.n_shape)
    f[2] = np.where(e < 6.0, f[2], 0.0)  # L3 only: the L2 line is missing
    d = white_line_descriptors(f, vs)
    assert np.isnan(d["l3"][1]) and np.isnan(d["r_int"][1])
    assert np.isfinite(d["l3"][2]) and np.isnan(d["r_int"][2])
    X = descriptor_inputs(f, vs)
    assert np.isfinite(X).all()
    col = {k: X[:, DESCRIPTOR_NAMES.index(k)] for k in DESCRIPTOR_NAMES}
    np.testing.assert_array_equal(col["ratio_missing"], [0, 1, 1])
    np.testing.assert_array_equal(col["l2_missing"], [0, 1, 1])
    assert col["l3_second_missing"][1] == 1
    # a missing group's values are the fill value, not a number that looks measured
    assert col["log_r_int"][1] == 0 and col["log_r_int"][2] == 0 and col["l3_position"][1] == 0
    assert col["l3_position"][2] == pytest.approx(1.5 / 2.0, abs=0.1)
    with pytest.raises(ValueError, match="channels"):
        white_line_descriptors(f[:, :-1], vs)


def test_descriptor_names_and_input_counts():
    vs = _spec()
    assert vs.n_inputs == len(DESCRIPTOR_NAMES) + 2
    assert valence_model_name("Mn", oxides_only=True, descriptors=True) == "mn_l23_valence_desc_oxide"
    assert valence_model_name("Fe", descriptors=True) == "fe_l23_valence_desc"
    f, _ = _two_lines(vs, 2.5, n=2)
    X = network_inputs(f, np.array([np.nan, vs.onset_centre]), vs)
    assert X.shape == (2, vs.n_inputs)
    np.testing.assert_array_equal(X[:, -1], [0, 1])


def test_hybrid_and_descriptors_are_exclusive():
    from hyperspy_eels_ml.oxidation.train_valence import train

    with pytest.raises(ValueError, match="exclusive"):
        train("Mn", 10, hybrid=True, descriptors=True)


def _simulated(vs, n, seed):
    import hyperspy_eels_ml.oxidation.train_valence as T

    data, _, _ = T.simulate("Mn", n, seed, vs)
    ok = ~data["at_boundary"]
    return data["X"][ok], data["F"][ok], data["feats"][ok], data["onset"][ok]


@pytest.fixture(scope="module")
def small_model():
    vs = _spec()
    X, F, _, _ = _simulated(vs, 2500, 11)
    vm = ValenceModel("Mn", end_members=vs.end_members, n_estimators=2, random_state=0)
    vm.spec_ = vs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vm.fit(X, F)
    return vm


def test_descriptor_model_meets_a_floor_on_freshly_simulated_data(small_model):
    vm = small_model
    X, F, _, _ = _simulated(vm.spec_, 1200, 12345)
    vt = F @ np.asarray(vm.spec_.valences)
    _, v, half = vm.predict(X)
    mae = np.mean(np.abs(v - vt))
    trivial = np.mean(np.abs(vt - np.median(vt)))  # one constant valence for every spectrum
    assert mae < 0.7 * trivial and mae < 0.45, (mae, trivial)
    assert 0.5 < np.mean(np.abs(v - vt) <= half) < 0.85


def test_descriptor_model_saves_loads_and_classifies_in_the_batched_path(small_model, tmp_path):
    vm = small_model
    p = vm.save(tmp_path / "d.npz")
    with np.load(p) as z:
        head = json.loads(str(z["header"]))
        arrays = {k: z[k] for k in z.files}
    assert head["spec"]["descriptors"] is True and head["format_version"] == 3
    vm2 = ValenceModel.load(p)
    assert vm2.spec_.descriptors and not vm2.spec_.hybrid and vm2.references() is None
    # a changed spec (the model would read other inputs) is refused
    head["spec"]["descriptors"] = False
    arrays["header"] = np.array(json.dumps(head))
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ModelFileError):
        ValenceModel.load(tmp_path / "bad.npz")
    b = white_line_spectra(9, list(vm.spec_.end_members), fractions=np.eye(3)[np.arange(9) % 3], dispersion=0.1,
                           background="residual", shift=0.0, counts=4000.0, rng=SEED)
    s = EELSSpectrum(b.spectra.astype(np.float32))
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.scale, ax.offset = "eV", float(b.energy[1] - b.energy[0]), float(b.energy[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = classify_oxidation(s, "Mn", model=vm2, remove_background=False, metals=False, show_progressbar=False)
    f9, _, _, _, _ = valence_features(b.spectra, b.energy, vm2.spec_, False)
    _, v, _ = vm2.predict(vm2.inputs(f9, np.full(9, np.nan)))
    np.testing.assert_allclose(np.asarray(r.mean_valence.data), v, atol=1e-4)
