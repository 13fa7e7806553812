"""Session 14 (helper z35): the input transformations of benchmarks/bench_identify_invariance.py."""
import importlib
import pathlib

import numpy as np
import pytest


def _bench(monkeypatch):
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))
    return importlib.import_module("bench_identify_invariance")


@pytest.fixture
def spectrum():
    from exspy.signals import EELSSpectrum

    e = 400.0 + 0.5 * np.arange(1000)
    s = EELSSpectrum(np.stack([1e4 * (e / 400.0) ** -3] * 6).reshape(2, 3, 1000))
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.scale, ax.offset, ax.name = "eV", 0.5, 400.0, "Energy loss"
    return s


def test_offset_moves_the_axis_not_the_data(monkeypatch, spectrum):
    B = _bench(monkeypatch)
    t = B.offset(spectrum, -15.0)
    assert t.axes_manager.signal_axes[0].offset == 385.0 and spectrum.axes_manager.signal_axes[0].offset == 400.0
    np.testing.assert_array_equal(t.data, spectrum.data)


def test_rebin_and_channel_edits_keep_the_energies(monkeypatch, spectrum):
    B = _bench(monkeypatch)
    r = B.rebin(spectrum, 4)
    assert r.axes_manager.signal_axes[0].scale == 2.0 and r.data.shape[-1] == 250
    np.testing.assert_allclose(r.data.sum(-1), spectrum.data.sum(-1))
    assert B.rebin(r, 2) is None  # > 2 eV/ch
    t = B.dark_neg(spectrum, np.random.default_rng(0), fill=True)
    ax = t.axes_manager.signal_axes[0]
    assert t.data.shape[-1] == 1025 and ax.offset == pytest.approx(400.0 - 25 * 0.5)
    assert (t.data[..., :20] == 0).all() and (t.data[..., 20:25] < 0).all() and (t.data[..., -3:] == 65535).all()
    np.testing.assert_array_equal(t.data[..., 25:-3], spectrum.data[..., :-3])


def test_crops_and_vacuum(monkeypatch, spectrum):
    B = _bench(monkeypatch)
    t = B.crop_edges(spectrum, ["O", "Mn", "Fe"], 400.0, 899.5)
    e = B._energy(t)
    assert e[0] <= 532 - 30 and e[-1] >= 708 + 30 and e[0] > 400 and e[-1] < 899
    t, el = B.crop_drop(spectrum, ["O", "Fe"], 400.0, 899.5)
    assert el == "Fe" and B._energy(t)[-1] < 708
    v, m = B.vacuum(spectrum, np.random.default_rng(0), contiguous=True)
    assert m.sum() == 1 and m.reshape(-1)[0]
    assert v.data.reshape(6, -1)[0].mean() < 0.1 * spectrum.data.mean()
    np.testing.assert_array_equal(v.data.reshape(6, -1)[1:], spectrum.data.reshape(6, -1)[1:])
