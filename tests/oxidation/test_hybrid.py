"""Hybrid valence models: the NNLS fit of the end members as extra network inputs (issue 13, session 14)."""

import json
import warnings

import numpy as np
import pytest
from exspy.signals import EELSSpectrum

from hyperspy_eels_ml.oxidation import classify_oxidation
from hyperspy_eels_ml.oxidation.valence import (
    ValenceModel,
    hybrid_references,
    network_inputs,
    nnls_baseline,
    nnls_features,
    reference_windows,
    valence_features,
    valence_spec,
)
from hyperspy_eels_ml.simulation import white_line_spectra

SEED = 4243


def _windows(n, vs, seed=SEED, counts=(300.0, 5000.0)):
    rng = np.random.default_rng(seed)
    fr = rng.dirichlet(np.ones(len(vs.end_members)), n)
    b = white_line_spectra(n, list(vs.end_members), fractions=fr, dispersion=0.1, background="residual",
                           shift=(-1.0, 1.0), counts=counts, rng=seed)
    f, onset, snr, atb, fspec = valence_features(b.spectra, b.energy, vs, False)
    return f, fr, fspec, b


def test_batched_nnls_equals_the_nnls_baseline():
    vs = valence_spec("Mn")
    f, _, fspec, _ = _windows(60, vs)
    refs = reference_windows(vs, fspec)
    fa, va = nnls_baseline(f, refs, vs)
    fb, rel, sh = nnls_features(f, refs, step=vs.dispersion)
    np.testing.assert_allclose(fb, fa, atol=1e-8)
    assert np.all((rel >= 0) & (rel < 1.5)) and np.all(np.abs(sh) <= 1.0 + 1e-9)
    # the references themselves: exact fractions, zero residual, no shift
    fr, rel, sh = nnls_features(refs, refs, step=vs.dispersion)
    np.testing.assert_allclose(fr, np.eye(len(refs)), atol=1e-6)
    assert np.all(rel < 1e-6) and np.all(sh == 0)
    # the references do not depend on the data's axis
    np.testing.assert_allclose(hybrid_references(vs), refs)
    with pytest.raises(ValueError, match="channels"):
        nnls_features(f[:, :-1], refs)


def test_hybrid_model_trains_saves_loads_and_classifies(tmp_path):
    import dataclasses

    vs = dataclasses.replace(valence_spec("Mn", metals=False), hybrid=True)
    assert vs.n_inputs == vs.n_shape + len(vs.end_members) + 2 + 2
    f, fr, _, _ = _windows(500, vs, counts=(2000.0, 5000.0))
    X = network_inputs(f, np.full(len(f), np.nan), vs)
    assert X.shape == (len(f), vs.n_inputs) and np.all(X[:, -1] == 0)
    vm = ValenceModel("Mn", end_members=vs.end_members, n_estimators=2, max_iter=30, random_state=0)
    vm.spec_ = vs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of the short fit
        vm.fit(X, fr)
    assert vm.references() is vm.references()  # built once per model
    p = vm.save(tmp_path / "h.npz")
    with np.load(p) as z:
        head = json.loads(str(z["header"]))
    assert head["spec"]["hybrid"] is True and head["format_version"] == 2
    vm2 = ValenceModel.load(p)
    assert vm2.spec_.hybrid
    for a, b in zip(vm.predict(X), vm2.predict(vm2.inputs(f, np.full(len(f), np.nan)))):
        np.testing.assert_allclose(a, b, atol=1e-4)
    # classify_oxidation computes the same NNLS inputs in its batched path
    b = white_line_spectra(8, list(vs.end_members), fractions=np.eye(3)[np.arange(8) % 3], dispersion=0.1,
                           background="residual", shift=0.0, counts=4000.0, rng=SEED)
    s = EELSSpectrum(b.spectra.astype(np.float32))
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.scale, ax.offset = "eV", float(b.energy[1] - b.energy[0]), float(b.energy[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = classify_oxidation(s, "Mn", model=vm2, remove_background=False, metals=False, show_progressbar=False)
    f8, onset, snr, atb, _ = valence_features(b.spectra, b.energy, vs, False)
    _, v, _ = vm2.predict(vm2.inputs(f8, np.full(8, np.nan)))
    np.testing.assert_allclose(np.asarray(r.mean_valence.data), v, atol=1e-4)


def test_shape_only_files_load_as_non_hybrid():
    import os

    import hyperspy_eels_ml.oxidation as ox

    d = os.path.join(os.path.dirname(os.path.dirname(ox.__file__)), "models", "oxidation")
    for name in ("ce_m45_valence", "ti_l23_valence"):
        vm = ValenceModel.load(os.path.join(d, name + ".npz"))
        with open(os.path.join(d, name + ".json")) as fh:
            card = json.load(fh)
        assert vm.spec_.hybrid == bool(card["recipe"].get("hybrid_nnls_features", False))
        assert vm.spec_.n_inputs == vm.spec_.n_shape + vm.spec_.n_hybrid + 2
        if not vm.spec_.hybrid:
            assert vm.references() is None
