"""Session 11 (helper z23): the position-aware calibration study (benchmarks/bench_identify_edges.py --study position)."""
import importlib
import pathlib

import numpy as np


def _bench(monkeypatch, name="bench_identify_edges"):
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))
    return importlib.import_module(name)


def test_edge_position_uses_the_lowest_assessable_major_onset(monkeypatch):
    B = _bench(monkeypatch)
    from hyperspy_eels_ml.elements.preprocess import LABELS, major_onsets

    o_k = min(major_onsets()["O"])  # 532 eV
    d_end, f = B.edge_position([400.0, 600.0], [1000.0, 1000.0])
    j = LABELS.index("O")
    assert np.isclose(d_end[0, j], 1000.0 - o_k) and np.isclose(f[0, j], (o_k - 400.0) / 600.0)
    assert np.isnan(d_end[1, j]) and np.isnan(f[1, j])  # O K before the window: not assessable
    bins = B.position_bins([400.0, 600.0], [1000.0, 1000.0], *B.CANDIDATES["B"])
    assert bins[1, j] == -1 and bins[0, j] == 2 * 3 + 0  # d_end 468 eV (>= 300), f 0.22 (< 0.5)


def test_identity_second_stage_gives_todays_probabilities(monkeypatch):
    B = _bench(monkeypatch)
    rng = np.random.default_rng(0)
    lo, hi = rng.uniform(100, 1500, 20), None
    hi = lo + rng.uniform(150, 1500, 20)
    z1 = rng.normal(size=(20, 80))
    de, fe = B.CANDIDATES["A"]
    nb = (len(de) - 1) * (len(fe) - 1)
    p = B.apply_position(z1, lo, hi, de, fe, np.ones(nb), np.zeros(nb))
    assert np.allclose(p, 1 / (1 + np.exp(-z1)))


def test_fit_position_platt_recovers_a_bin_offset(monkeypatch):
    B = _bench(monkeypatch)
    rng = np.random.default_rng(1)
    n = 20000
    bins = rng.integers(0, 2, (n, 1))
    z1 = rng.normal(0, 2, (n, 1))
    true_b = np.where(bins == 1, 1.0, 0.0)
    y = rng.random((n, 1)) < 1 / (1 + np.exp(-(z1 + true_b)))
    a, b = B.fit_position_platt(z1, y, np.ones_like(y), bins, 2)
    assert abs(a[0] - 1) < 0.1 and abs(b[0]) < 0.1 and abs(b[1] - 1) < 0.15


def test_pair_study_calibrate_hook(monkeypatch):
    BI = _bench(monkeypatch, "bench_identify")
    sc = {"Si_K_local_with_O": BI.PAIR_SCENARIOS["Si_K_local_with_O"]}
    seen = []

    def never(net, z, lo, hi):
        seen.append((z.shape, np.shape(lo), np.shape(hi)))
        return np.zeros_like(z)

    res = BI.pair_study(16, seed=5, realisms=("realistic-v2",), scenarios=sc, calibrate=never)
    r = res["Si_K_local_with_O/realistic-v2"]
    assert seen and all(s[0][1] == 80 and s[1] == s[2] == (s[0][0],) for s in seen)
    assert r["recall_visible"]["rate"] in (0.0, None) and r["false_call"]["rate"] == 0.0
