"""The exspy baseline of ``benchmarks/bench_zlp_real.py`` uses exspy's own threshold.

Session 6 found that the benchmark passed ``show_progressbar`` to
``estimate_elastic_scattering_threshold``, which does not take it: the
TypeError was swallowed and every file fell back to a fixed 3 eV threshold.
"""

import os

import numpy as np
import pytest


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
    import bench_zlp_real

    return bench_zlp_real


def _lowloss(n=3, t=0.3):
    import exspy

    e = np.arange(-10.0, 80.0, 0.1)
    zlp = np.exp(-0.5 * (e / 0.4) ** 2)
    plasmon = np.clip(e - 5, 0, None) ** 0.5 * np.exp(-np.clip(e - 5, 0, None) / 6.0)
    plasmon *= t * zlp.sum() / plasmon.sum()
    data = np.tile(1e5 * (zlp + plasmon), (n, 1))
    s = exspy.signals.EELSSpectrum(data)
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale, ax.units = e[0], 0.1, "eV"
    return s


def test_exspy_baseline_uses_the_automatic_threshold(bench):
    s = _lowloss()
    t, note, thr = bench.exspy_thickness(s)
    assert note == "auto"
    # the first minimum between the ZLP and the plasmon onset, not the 3 eV fallback
    assert np.all((thr > 1.0) & (thr < 6.0)) and not np.allclose(thr, 3.0)
    assert t.shape == (3,) and np.allclose(t, np.log(1.3), atol=0.03)


def test_exspy_baseline_says_when_it_falls_back(bench, monkeypatch):
    s = _lowloss(n=2)

    def broken(*args, **kwargs):
        raise RuntimeError("no minimum")

    monkeypatch.setattr(type(s), "estimate_elastic_scattering_threshold", broken)
    t, note, thr = bench.exspy_thickness(s)
    assert note.startswith("3.0 eV (auto failed: RuntimeError")
    assert np.allclose(thr, 3.0) and np.all(np.isfinite(t))
