"""continuum_ratio / undecided_mixture: the continuum evidence studied in bench_oxidation_continuum."""

import numpy as np
import pytest

from hyperspy_eels_ml.oxidation.continuum import continuum_ratio, max_splitting, undecided_mixture


def _edge(e, onset, step, split=12.0):
    l3 = np.exp(-4 * np.log(2) * ((e - onset - 1.0) / 1.5) ** 2)
    l2 = 0.3 * np.exp(-4 * np.log(2) * ((e - onset - 1.0 - split) / 1.5) ** 2)
    s = step * (0.5 + np.arctan((e - onset) / 0.5) / np.pi)
    return l3 + l2 + s


def test_ratio_is_the_step_over_the_l3_height():
    e = np.arange(630.0, 670.0, 0.2)
    x = np.stack([_edge(e, 640.0, 0.1), _edge(e, 640.0, 0.4)])
    q = continuum_ratio(x, e, np.array([640.0, 640.0]), 12.0)
    # pre-edge level 0.08 s (arctan tail), post-L2 0.98 s, L3 maximum 1 + 0.85 s: q = 0.90 s / (1 + 0.77 s)
    assert q[0] == pytest.approx(0.09 / 1.077, rel=0.06)
    assert q[1] == pytest.approx(0.36 / 1.308, rel=0.06)
    assert q[1] > 3 * q[0]


def test_nan_without_the_continuum_window_or_onset():
    e = np.arange(630.0, 656.0, 0.2)  # ends 4 eV above L2: no room for L2 + 6..10 eV
    x = _edge(e, 640.0, 0.3)[None].repeat(2, axis=0)
    assert np.isnan(continuum_ratio(x, e, np.array([640.0, 640.0]), 12.0)).all()
    e2 = np.arange(630.0, 670.0, 0.2)
    q = continuum_ratio(_edge(e2, 640.0, 0.3)[None].repeat(2, axis=0), e2, np.array([np.nan, 640.0]), 12.0)
    assert np.isnan(q[0]) and np.isfinite(q[1])


def test_mixture_spans_both_readings():
    m, h = undecided_mixture(np.array([2.2]), np.array([0.1]), np.array([0.9]), np.array([0.3]))
    assert m[0] == pytest.approx(1.55)
    assert h[0] >= 0.65 - 1e-9  # at least half the distance between the two readings
    assert max_splitting("Mn") == pytest.approx(12.2)


def test_contrast_study_flags_fewer_oxides_when_the_metals_continuum_is_larger(monkeypatch):
    """bench_oxidation_continuum --contrast (session 5, O7): scaling only the metals' continuum step raises
    their q and q_lo, so fewer simulated oxides reach q_lo; at the table's contrast (k = 1) most Mn2+ do."""
    import os

    # the benchmark folder is on sys.path for this test only (monkeypatch undoes it)
    monkeypatch.syspath_prepend(os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
    import bench_oxidation_continuum as bench

    rows = bench.contrast(8, (1.0, 4.0), elements=["Mn"], windows=("narrow",))
    lo, hi = rows
    assert (lo["k"], hi["k"]) == (1.0, 4.0) and set(lo["flagged"]) == {"Mn2+", "Mn3+", "Mn4+"}
    assert hi["metal_median"] > lo["metal_median"] + 0.2 and hi["q_lo"] > lo["q_lo"]
    assert hi["max_flagged"] < lo["max_flagged"] and lo["max_flagged"] > 0.5
    assert hi["q_hi"] == lo["q_hi"] and hi["admitted"] >= lo["admitted"]
    assert "| Mn | 4 |" in bench.contrast_table(rows)
