"""The training loop of the replica ensemble: check_every steps per call, and the written-out Adam update."""

import numpy as np
import pytest

import hyperspy_eels_ml  # noqa: F401  (attaches the methods)


@pytest.fixture(scope="module")
def captured(captured):
    """The shared captured training call (conftest), without a progress bar."""
    data, kw = captured
    return data, {**kw, "progress": None}


@pytest.mark.parametrize("jit", [False, True])
def test_one_call_per_check_interval(captured, monkeypatch, jit):
    """Calling a tf.function costs ~1-2 ms, as much as a 10-replica step: the steps of a check interval run in
    one call (a graph loop), not one call per step."""
    from hyperspy_eels_ml._shared.imports import import_tensorflow
    from hyperspy_eels_ml.zlp.network import train_replicas

    tf = import_tensorflow()
    calls = []
    real = tf.function

    def counting(*args, **kwargs):
        def wrap(fn):
            compiled = real(fn, **kwargs)
            i = len(calls)
            calls.append(0)

            def call(*a, **k):
                calls[i] += 1
                return compiled(*a, **k)

            call.python_function = fn
            return call

        return wrap(args[0]) if args and callable(args[0]) else wrap

    monkeypatch.setattr(tf, "function", counting)
    data, kw = captured
    _, diag = train_replicas(data, **{**kw, "max_epochs": 200, "patience": 10**6, "check_every": 25,
                                      "stable_tolerance": 0, "jit_compile": jit})
    assert diag["epochs"] == 200
    assert calls and max(calls) <= 200 // 25 + 1, calls  # 8 intervals (+1: the first step compiles alone)


def test_adam_update_is_keras_adam_with_cosine_decay():
    from hyperspy_eels_ml._shared.imports import import_tensorflow
    from hyperspy_eels_ml.zlp.network import adam_cosine_update

    tf = import_tensorflow()
    rng = np.random.default_rng(0)
    x0 = [rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(5,)).astype(np.float32)]
    ours = [tf.Variable(x) for x in x0]
    ref = [tf.Variable(x) for x in x0]
    m = [tf.Variable(tf.zeros_like(x)) for x in x0]
    v = [tf.Variable(tf.zeros_like(x)) for x in x0]
    decay = 20
    opt = tf.keras.optimizers.Adam(tf.keras.optimizers.schedules.CosineDecay(0.05, decay, alpha=0.01))
    for t in range(30):  # beyond decay_steps: the rate stays at alpha x learning_rate
        g = [tf.constant(rng.normal(size=x.shape).astype(np.float32)) for x in x0]
        adam_cosine_update(tf, ours, g, m, v, t, 0.05, decay)
        opt.apply_gradients(zip(g, ref))
    for a, b, x in zip(ours, ref, x0):
        assert not np.allclose(a.numpy(), x)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_zlp_stable_yardstick_is_the_data_noise_not_the_replica_spread():
    """Session 9: the ZLP-stable rule measures the median's move in the data's noise (which does not shrink with
    training), so the wide optimisation spread of unconverged replicas cannot make it fire early."""
    from hyperspy_eels_ml.zlp.network import _zlp_moved, _zlp_stable

    med_old = np.log(np.array([1.0, 1e-2, 1e-4]))
    move = np.array([0.01, 0.05, 0.2])
    spread = np.array([1.0, 1.0, 1.0])  # early in training: replicas far apart
    new = (med_old + move, spread)
    old = (med_old, spread)
    # the spread rule sees 0.2 / 1.0 at most: "stable" at its tolerance 0.25
    assert _zlp_stable(old, new, 0.25)
    # the noise yardstick: noise (normalised counts) 1e-3 / 1e-4 / 1e-5 -> in log z: 1e-3 / 1e-2 / 1e-1 at the median
    noise = np.log(np.array([1e-3, 1e-4, 1e-5]))
    z = np.exp(new[0])
    expected = np.quantile(move / np.maximum(np.exp(noise) / z, 1e-3), 0.9)
    assert _zlp_moved(old, new, noise) == pytest.approx(expected)
    assert not _zlp_stable(old, new, 0.5, noise)
    # the yardstick does not depend on the ensemble's spread
    assert _zlp_moved(old, (new[0], 100 * spread), noise) == _zlp_moved(old, new, noise)
    # a move well inside the noise is stable whatever the spread
    tiny = (med_old + 0.1 * np.exp(noise) / np.exp(med_old), 1e-3 * spread)
    assert _zlp_stable(old, tiny, 0.5, noise) and not _zlp_stable(old, tiny, 0.25)
    assert _zlp_moved((np.zeros(0), np.zeros(0)), (np.zeros(0), np.zeros(0)), np.zeros(0)) == np.inf


def test_noise_band_is_the_counting_noise_of_the_cluster_sum():
    from hyperspy_eels_ml.zlp.features import noise_band

    E = np.linspace(-1, 5, 61)
    J = np.vstack([np.full(61, 100.0), np.full(61, 300.0)])
    s = np.array([1e4, 3e4])
    pe = np.array([0.3, 2.05])
    np.testing.assert_allclose(np.exp(noise_band(E, J, s, pe, 1.0)), np.sqrt(400.0) / 4e4)
    np.testing.assert_allclose(np.exp(noise_band(E, J, s, pe, 2.0, read_var=50.0)), np.sqrt(800.0 + 100.0) / 4e4)


def test_targets_yardstick_inside_the_fitted_region_noise_beyond():
    """The default yardstick: the targets' replica sd where the cluster is fitted, the noise band beyond."""
    from hyperspy_eels_ml.zlp.network import _zlp_moved

    med = np.log(np.array([1.0, 1e-2, 1e-4]))
    old = (med, np.ones(3))
    noise = np.log(np.array([1e-3, 1e-4, 1e-5]))  # as log z: 1e-3, 1e-2, 1e-1 at the median
    inside = np.array([0.02, 0.05, np.nan])  # the third point lies beyond dE1
    move = np.array([0.01, 0.04, 0.05])
    new = (med + move, np.ones(3))
    h = np.array([0.02, 0.05, np.exp(noise[2] - new[0][2])])
    assert _zlp_moved(old, new, noise, inside) == pytest.approx(np.quantile(move / h, 0.9))
    assert _zlp_moved(old, new, noise, inside) < 1.0 < _zlp_moved(old, new, noise)


def test_training_stops_by_a_yardstick_of_the_data(captured):
    """fit_zlp hands the data's noise band to the training; the rule's statistic is recorded at every check, the
    targets' sd is the default yardstick, the old one (ensemble spread, tolerance 0.25) stays reachable."""
    import dataclasses

    from hyperspy_eels_ml.zlp.network import _target_sd_on_grid, train_replicas

    data, kw = captured
    assert data.noise is not None and data.noise.shape == data.penalty_mask.shape
    assert np.all(np.isfinite(data.noise))
    sd = _target_sd_on_grid(data)
    assert np.isfinite(sd).any() and np.all(sd[np.isfinite(sd)] > 0)
    assert np.all(np.isnan(sd[:, data.penalty_energy > data.energy[data.mask.any(axis=(0, 1))].max()]))
    kw = {**kw, "max_epochs": 300, "patience": 100, "check_every": 25, "min_improvement": -1.0}  # never "improving"
    diags = {}
    for name in ("targets", "noise", "spread"):
        _, diags[name] = train_replicas(data, **{**kw, "stable_yardstick": name})
    _, d_default = train_replicas(data, **kw)
    assert d_default["stable_yardstick"] == "targets" and d_default["stable_tolerance"] == 1.0
    _, d_none = train_replicas(dataclasses.replace(data, noise=None), **kw)
    assert d_none["stable_yardstick"] == "spread" and d_none["stable_tolerance"] == 0.25  # no noise band
    for name, tol in (("targets", 1.0), ("noise", 0.5), ("spread", 0.25)):
        d = diags[name]
        assert d["stable_yardstick"] == name and d["stable_tolerance"] == tol
        h = d["stable_history"]
        assert h.size >= 1 and np.all(h >= 0)
        assert (d["stop_rule"] == "zlp stable") == (h[-1] < tol)
        assert np.all(h[:-1] >= tol)  # it stopped at the first check below the tolerance
    with pytest.raises(ValueError, match="stable_yardstick"):
        train_replicas(data, **{**kw, "stable_yardstick": "bootstrap"})
