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
