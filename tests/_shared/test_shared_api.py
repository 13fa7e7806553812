"""The shared layer's API: masks, energy ranges, parameter validators, model cache, LazyResult, docstrings,
warnings and quiet imports."""

import os
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

import hyperspy_eels_ml as hem
from hyperspy_eels_ml._shared import (
    LazyResult,
    check_float,
    check_float_range,
    check_int,
    check_random_state,
    clear_cache,
    fill_doc,
    file_sha256,
    get_cached_file,
    map_spectra,
    navigation_map,
    parse_energy_range,
    parse_navigation_mask,
    quiet_tensorflow,
    reduce_spectra,
    validate_eels,
    warn,
)


def test_exceptions_are_public_and_value_errors():
    for name in ("EELSInputError", "NotEELSSignalError", "EnergyAxisError", "EnergyRangeError",
                 "NonFiniteDataError", "EmptySignalError", "NavigationMaskError", "ParameterError",
                 "DegenerateDataError", "ModelFileError"):
        exc = getattr(hem, name)
        assert issubclass(exc, hem.EELSInputError) and issubclass(exc, ValueError)
    assert issubclass(hem.ParameterError, TypeError)
    err = hem.ModelFileError("/x/m.npz", EOFError("truncated"))
    assert err.path == "/x/m.npz" and "m.npz" in str(err) and "EOFError: truncated" in str(err)
    import pickle

    assert str(pickle.loads(pickle.dumps(err))) == str(err)


@pytest.mark.parametrize("mask, match", [
    (np.zeros((5, 4), bool), "mask.T"), (np.zeros(20, bool), "reshape"), (np.full((4, 5), np.nan), "NaN"),
    (np.full((4, 5), 2), "0/1"), ("vacum", "'vacuum'"), (object(), "object"), (np.array([["a"] * 5] * 4), "dtype"),
])
def test_mask_errors(small_eels, mask, match):
    with pytest.raises(hem.NavigationMaskError, match=match):
        parse_navigation_mask(small_eels, mask)


def test_mask_forms(small_eels, lazy):
    s = small_eels.as_lazy() if lazy else small_eels
    m = np.zeros((4, 5), bool)
    m[1, 2] = True
    assert parse_navigation_mask(s, None) is None
    for form in (m, m.astype(int), m.astype(float), m.tolist()):
        np.testing.assert_array_equal(parse_navigation_mask(s, form), m)
    sig = navigation_map(small_eels, m, "mask")
    np.testing.assert_array_equal(parse_navigation_mask(s, sig), m)
    assert parse_navigation_mask(s, small_eels.vacuum_mask()).shape == (4, 5)  # exspy's mask signal
    vac = small_eels.deepcopy()
    vac.data[0] = 0.5
    np.testing.assert_array_equal(parse_navigation_mask(vac, "vacuum")[0], True)


def test_nan_in_masked_pixels_only(small_eels, lazy):
    s = small_eels.deepcopy()
    s.data[2, 3] = np.nan
    before = s.data.copy()
    m = np.zeros((4, 5), bool)
    m[2, 3] = True
    sig = s.as_lazy() if lazy else s
    v = validate_eels(sig, navigation_mask=m)
    data = v.data.compute() if lazy else v.data
    assert np.isfinite(data).all() and np.all(data[2, 3] == 0)
    np.testing.assert_array_equal(s.data, before)  # the user's data are untouched
    if not lazy:
        with pytest.raises(hem.NonFiniteDataError, match=r"1 pixel\(s\).*navigation_mask="):
            validate_eels(s)


def test_non_uniform_axis_hint_works_on_an_si(make_eels):
    s = make_eels(shape=(3, 4), nonuniform=True)
    with pytest.raises(hem.EnergyAxisError) as info:
        validate_eels(s)
    code = str(info.value).split("`")[1]
    ns = {"s": s}
    exec(code, ns)  # the advice runs as written
    out = ns["s"]
    assert out.axes_manager.signal_axes[0].is_uniform and out.data.shape == s.data.shape
    validate_eels(out)


def test_energy_ranges(small_eels):
    e = validate_eels(small_eels).energy
    assert parse_energy_range(e, None) == (400.0, 431.5)
    assert parse_energy_range(e, (None, 410)) == (400.0, 410.0)
    with pytest.raises(hem.EnergyRangeError, match="needs the energy range 700-730 eV.*covers 400-431.5 eV"):
        parse_energy_range(e, (700, 730))
    with pytest.raises(hem.EnergyRangeError, match="increasing"):
        parse_energy_range(e, (420, 410))
    for bad in ("ab", (1, 2, 3), (np.nan, 420), ("400", 420)):
        with pytest.raises(hem.ParameterError, match="signal_range"):
            parse_energy_range(e, bad)


@pytest.mark.parametrize("func, args, match", [
    (check_int, ("n", 2.5), "integer"), (check_int, ("n", "4"), "integer"), (check_int, ("n", True), "integer"),
    (check_int, ("n", 0, 1), ">= 1"), (check_float, ("x", float("nan")), "finite"), (check_float, ("x", "5"), "real"),
    (check_float, ("lr", 0.0, 0, None, (False, True)), "> 0"), (check_float_range, ("t", 1.5, 0, 1), "<= 1"),
    (check_random_state, ("x",), "random_state"), (check_random_state, (1.5,), "random_state"),
    (check_random_state, (-1,), "0..2\\*\\*32-1"), (check_random_state, (2**40,), "0..2\\*\\*32-1"),
])
def test_parameter_validators(func, args, match):
    with pytest.raises(hem.ParameterError, match=match):
        func(*args)


def test_parameter_validators_accept():
    assert check_int("n", np.int64(3), min=1) == 3 and check_float("x", 2) == 2.0
    assert check_random_state(None) is None and check_random_state(2**32 - 1) == 2**32 - 1
    g = np.random.default_rng(0)
    assert check_random_state(g) is g


def test_model_cache_reloads_an_overwritten_file(tmp_path):
    clear_cache()
    path = tmp_path / "m.npz"
    loads = []

    def loader(p):
        loads.append(p)
        with np.load(p, allow_pickle=False) as z:
            return float(z["w"])

    np.savez(path, w=1.0)
    assert get_cached_file("test", path, loader) == 1.0
    assert get_cached_file("test", path, loader) == 1.0 and len(loads) == 1  # cached
    h1 = file_sha256(path)
    time.sleep(0.01)
    np.savez(path, w=2.0)  # overwritten in place
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert get_cached_file("test", path, loader) == 2.0 and len(loads) == 2
    assert file_sha256(path) != h1
    with pytest.raises(hem.ModelFileError, match="missing.npz"):
        get_cached_file("test", tmp_path / "missing.npz", loader)


def test_block_size_and_mask_in_map_and_reduce(small_eels):
    x = validate_eels(small_eels).data
    m = np.zeros((4, 5), bool)
    m[0] = True
    out = map_spectra(x, lambda b, mask=None: np.where(mask, -1, b.sum(1))[:, None], 1, mask=m,
                      drop_signal_axis=True, block_size=5)
    assert out.numblocks == (4, 1)
    res = out.compute()
    assert np.all(res[0] == -1) and np.allclose(res[1:], x[1:].sum(-1))
    g = reduce_spectra(x, lambda b, mask=None: b[~mask].T @ b[~mask], (64, 64), mask=m, block_size=10).compute()
    xx = x[1:].reshape(-1, 64).astype(float)
    np.testing.assert_allclose(g, xx.T @ xx, rtol=1e-6)


class _Result(LazyResult):
    _signal_attributes = ("total",)
    _repr_parameters = ("power",)

    def _plot(self):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.imshow(self.total.data)
        return fig


def test_lazy_result_base(small_eels):
    s = small_eels.as_lazy()
    r = _Result(total=navigation_map(s, s.data.sum(-1), "total"), parameters={"power": 2})
    assert r.is_lazy and "(lazy)" in repr(r) and "(4, 5)" in repr(r) and "power=2" in repr(r)
    from matplotlib.figure import Figure

    assert isinstance(r.plot(), Figure) and r.is_lazy  # plotting does not compute the result itself
    assert r.compute() is r and not r.is_lazy and "(eager)" in repr(r)
    np.testing.assert_allclose(r.total.data, small_eels.data.sum(-1))
    with pytest.raises(TypeError, match="total"):
        _Result()


def test_fill_doc():
    @fill_doc
    def f(x, show_progressbar=None):
        """Doc.

        Parameters
        ----------
        %(show_progressbar)s
        %(unknown)s
        """

    assert "\n        show_progressbar : bool, optional\n            Show a progress bar" in f.__doc__
    assert "%(unknown)s" in f.__doc__


def test_warn_points_at_the_caller():
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        warn("hello")
    assert rec[0].filename == __file__


def test_quiet_tensorflow_respects_the_user(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
    quiet_tensorflow()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    quiet_tensorflow()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"


@pytest.mark.slow
def test_import_keras_is_quiet():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    r = subprocess.run([sys.executable, "-c", "from hyperspy_eels_ml._shared import import_keras; import_keras()"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    noisy = [ln for ln in r.stderr.splitlines() if "tensorflow" in ln.lower() or "cuda" in ln.lower()
             or "oneDNN" in ln]
    assert not noisy, noisy


def test_import_is_lazy():
    code = ("import sys, hyperspy_eels_ml; "
            "print(any(m.startswith(('hyperspy_eels_ml.zlp', 'hyperspy_eels_ml.clustering', "
            "'hyperspy_eels_ml.oxidation', 'hyperspy_eels_ml.elements', 'umap', 'tensorflow', 'keras', 'hdbscan')) "
            "for m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert r.stdout.strip() == "False", r.stdout + r.stderr
