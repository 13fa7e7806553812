"""Warm start of the replica ensemble (fit.WARM_START): a few central replicas first, then every replica from one."""

import warnings

import numpy as np
import pytest

import hyperspy_eels_ml  # noqa: F401  (attaches the methods)
from hyperspy_eels_ml.simulation import thickness_bands_low_loss_si
from hyperspy_eels_ml.zlp import fit_zlp


def test_training_starts_from_init(captured):
    from hyperspy_eels_ml.zlp.network import train_replicas

    data, kw = captured
    kw = {**kw, "progress": None}
    ref, _ = train_replicas(data, **{**kw, "max_epochs": 50})
    init = ref.subset(np.array([1, 0, 3, 2]))  # rows swapped: each replica must start from its own row
    ens, diag = train_replicas(data, init=init, **{**kw, "max_epochs": 25, "learning_rate": 1e-9})
    for w, w0 in zip(ens.weights + [ens.skip], init.weights + [init.skip]):
        np.testing.assert_allclose(w, w0, atol=1e-6)
    fresh, _ = train_replicas(data, **{**kw, "max_epochs": 25, "learning_rate": 1e-9})
    assert not np.allclose(fresh.weights[0], init.weights[0])  # without init: the random initialisation


def test_init_of_the_wrong_size_is_refused(captured):
    from hyperspy_eels_ml.zlp.network import train_replicas

    data, kw = captured
    ref, _ = train_replicas(data, **{**kw, "progress": None, "max_epochs": 25})
    with pytest.raises(ValueError, match="init holds 2 replicas"):
        train_replicas(data, init=ref.subset(np.array([0, 1])), **{**kw, "progress": None, "max_epochs": 25})


def test_fit_uses_the_warm_start_and_can_switch_it_off(monkeypatch):
    import hyperspy_eels_ml.zlp.fit as zfit

    s, _ = thickness_bands_low_loss_si(shape=(4,), seed=6)
    n_central = zfit.WARM_START["n_central"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = fit_zlp(s, n_replicas=2 * n_central, max_epochs=100, random_state=0, show_progressbar=False)
        d = m.diagnostics
        assert int(d["n_central"]) == n_central
        assert 0 < int(d["central_epochs"]) <= 100
        assert 0 < int(d["epochs"]) <= 100  # the warm stage never runs longer than max_epochs
        # the replicas start from n_central different fits: the ensemble is not one function repeated
        z = m.ensemble.log_zlp(np.linspace(0.5, 3.0, 20), [float(np.median(m.clusters["c"]))])[:, 0]
        assert np.unique(np.round(z, 6), axis=0).shape[0] == m.ensemble.n_replicas
        few = fit_zlp(s, n_replicas=n_central, max_epochs=100, random_state=0, show_progressbar=False)
        assert int(few.diagnostics["n_central"]) == 0  # too few replicas for a warm start
        monkeypatch.setattr(zfit, "WARM_START", None)
        off = fit_zlp(s, n_replicas=2 * n_central, max_epochs=100, random_state=0, show_progressbar=False)
        assert int(off.diagnostics["n_central"]) == 0 and int(off.diagnostics["central_epochs"]) == 0


def test_failed_replica_is_retrained_from_a_central_fit(monkeypatch):
    """With the warm start a failed replica restarts from the next central fit with the short schedule, not from
    a random initialisation with the full one (which cost WS2 3,600 more steps)."""
    import hyperspy_eels_ml.zlp.fit as zfit

    s, _ = thickness_bands_low_loss_si(shape=(4,), seed=6)
    n_central = zfit.WARM_START["n_central"]
    calls = []
    inits = []
    orig_rule, orig_train = zfit.failed_replicas, zfit.train_replicas

    def first_fails(val_chi2):
        out = orig_rule(val_chi2)
        if not calls:
            out = out.copy()
            out[3] = True
        calls.append(1)
        return out

    def train(data, **kw):
        inits.append(kw.get("init"))
        return orig_train(data, **kw)

    monkeypatch.setattr(zfit, "failed_replicas", first_fails)
    monkeypatch.setattr(zfit, "train_replicas", train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = fit_zlp(s, n_replicas=2 * n_central, max_epochs=400, random_state=0, show_progressbar=False)
    d = m.diagnostics
    assert len(inits) == 3 and inits[0] is None  # central fits, the ensemble, the retraining
    assert int(d["n_retrained"]) >= 1 and inits[2] is not None and inits[2].n_replicas == int(d["n_retrained"])
    assert 0 < int(d["retrain_epochs"]) <= zfit.WARM_START["max_epochs"]
