"""Chunk-wise batched application, result signals, provenance, model cache."""

import json
import threading

import dask.array as da
import numpy as np
import pytest

import hyperspy.api as hs
from hyperspy_eels_ml._shared import (
    get_cached,
    map_spectra,
    navigation_map,
    per_pixel_spectra,
    record_provenance,
    validate_eels,
)
from hyperspy_eels_ml._shared.batch import as_dask, canonical_chunks


def _softmax3(x):
    z = x[:, :3] - x[:, :3].max(axis=1, keepdims=True)
    e = np.exp(z / 10)
    return e / e.sum(axis=1, keepdims=True)


def test_one_call_per_block_and_lazy_equals_eager(small_eels):
    calls = []

    def f(x):
        calls.append(x.shape)
        return _softmax3(x)

    eager = map_spectra(validate_eels(small_eels).data, f, 3).compute()
    n_eager = len(calls)
    lazy_sig = small_eels.as_lazy()
    lazy_sig.data = lazy_sig.data.rechunk((2, 5, 64))
    calls.clear()
    out = map_spectra(validate_eels(lazy_sig).data, f, 3)
    assert calls == []  # nothing computed at call time
    assert isinstance(out, da.Array) and out.chunks[0] == (2, 2)
    np.testing.assert_allclose(out.compute(), eager, rtol=1e-6)
    assert len(calls) == 2 and all(c == (10, 64) for c in calls)  # batched, whole spectra
    assert n_eager == 1


def test_canonical_chunks_depend_on_shape_only():
    assert canonical_chunks((1000, 1000, 512), 4) == (16, -1, -1)
    assert canonical_chunks((7,), 4) == ((7,),)
    x = as_dask(np.zeros((3, 4, 5)))
    assert x.chunks == ((3,), (4,), (5,))


def test_result_signals_keep_axes_and_title(small_eels):
    s = small_eels
    nav = s.axes_manager.navigation_axes
    nav[0].scale, nav[0].units, nav[0].name = 2.5, "nm", "x"
    s.metadata.General.title = "SI"
    m = navigation_map(s, np.zeros((4, 5)), "Labels")
    assert m.axes_manager.signal_shape == (5, 4)
    assert m.axes_manager.signal_axes[0].scale == 2.5 and m.axes_manager.signal_axes[0].units == "nm"
    assert m.metadata.General.title == "Labels of SI"
    p = per_pixel_spectra(s, da.zeros((4, 5, 3), chunks=(2, 5, 3)), {"name": "class", "units": ""}, "P")
    assert p._lazy and p.axes_manager.navigation_shape == (5, 4) and p.axes_manager.signal_shape == (3,)
    assert p.metadata.Signal.signal_type == ""
    assert p.axes_manager.navigation_axes[0].scale == 2.5


def test_provenance_round_trip(tmp_path, small_eels):
    m = navigation_map(small_eels, np.zeros((4, 5)), "Labels")
    record_provenance(m, "umap_cluster", {"a": 1, "b": None, "c": (1, 2), "arr": np.zeros(3)}, models={"x": "1"})
    f = tmp_path / "m.hspy"
    m.save(f)
    info = hs.load(f).metadata.hyperspy_eels_ml
    assert info.function == "hyperspy_eels_ml.umap_cluster"
    assert json.loads(info.parameters)["b"] is None
    assert json.loads(info.parameters)["c"] == [1, 2]
    assert info.package_version
    assert "dask" in info.dependencies.as_dictionary()


def test_model_cache_loads_once_per_process():
    calls = []

    def loader():
        calls.append(1)
        return object()

    objs = []
    threads = [threading.Thread(target=lambda: objs.append(get_cached("test-model", loader))) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(calls) == 1 and len({id(o) for o in objs}) == 1


def test_input_not_modified(small_eels):
    before = small_eels.data.copy()
    v = validate_eels(small_eels, signal_range=(401, 420))
    map_spectra(v.data, lambda x: x * 0, 64 if False else v.data.shape[-1]).compute()
    np.testing.assert_array_equal(small_eels.data, before)


@pytest.mark.parametrize("shape", [(64,), (5, 64), (4, 5, 64), (2, 3, 4, 64)])
def test_any_navigation_dimension(shape):
    from exspy.signals import EELSSpectrum

    s = EELSSpectrum(np.ones(shape, dtype=np.float32))
    s.axes_manager.signal_axes[0].units = "eV"
    v = validate_eels(s)
    out = map_spectra(v.data, lambda x: x.sum(axis=1, keepdims=True), 1, drop_signal_axis=True).compute()
    assert out.shape == (shape[:-1] or (1,))
