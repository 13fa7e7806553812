"""Session 14 (helper z37): the learned coincidence resolver study (benchmarks/coincidence_learned.py; not shipped)."""

import importlib
import json
import pathlib

import numpy as np
import pytest

from hyperspy_eels_ml.elements import LABELS
from hyperspy_eels_ml.elements.coincidence import resolve_coincidences

J = {el: LABELS.index(el) for el in ("O", "Sb", "Cr", "Te", "La", "Ni", "Fe")}


@pytest.fixture
def CO(monkeypatch):
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))
    return importlib.import_module("coincidence_learned")


def _pair(px, py, x="Sb", y="O", lo=450.0, hi=650.0, n=None):
    p = np.zeros((1 if n is None else n, 80))
    p[:, J[x]], p[:, J[y]] = px, py
    return p, np.full(p.shape[0], lo), np.full(p.shape[0], hi)


def test_fitted_resolver_loads_and_matches_the_features(CO):
    r = CO.load_resolver()
    assert r["features"] == list(CO.FEATURES)
    for k in ("mean", "scale", "coef"):
        assert len(r[k]) == len(CO.FEATURES) and np.all(np.isfinite(r[k]))
    assert np.isfinite(r["intercept"]) and r["cutoff"] == CO.LEARNED_THRESHOLD == 0.5
    assert r["selection"]["chosen"] == f"C={r['C']:g}" and r["deciding"]["decision"].startswith("not shipped")


def test_resolver_probability_is_monotone_in_the_partners_margin(CO):
    """O K / Sb M4,5 and Cr L2,3 / Te M4,5: lowering p_X (p_Y fixed) or raising p_Y (p_X fixed) never raises P(X)."""
    grid = np.linspace(0.5, 0.99, 25)
    for x, y, lo, hi in (("Sb", "O", 450.0, 650.0), ("Te", "Cr", 500.0, 700.0), ("Sb", "O", 300.0, 1500.0)):
        for fixed in (0.99, 0.9, 0.75):
            px = grid[grid <= fixed][::-1]  # p_X falls with p_Y fixed (p_X <= p_Y: flagged)
            p, lo_, hi_ = _pair(px, fixed, x, y, lo, hi, n=px.size)
            P = CO.learned_removals(p, lo_, hi_)[1][:, J[x]]
            assert np.all(np.isfinite(P)), (x, y, fixed)
            assert np.all(np.diff(P) <= 1e-12), (x, y, "p_x falls", fixed, P)
            py = grid[grid >= fixed]  # p_Y rises with p_X fixed
            p, lo_, hi_ = _pair(fixed, py, x, y, lo, hi, n=py.size)
            P = CO.learned_removals(p, lo_, hi_)[1][:, J[x]]
            assert np.all(np.diff(P) <= 1e-12), (x, y, "p_y rises", fixed, P)


def test_a_call_with_an_independent_edge_is_never_removed(CO):
    # Ni L3 855 eV on La M4 849 eV, but from 50 eV Ni M2,3 (68 eV) is an edge of Ni's own
    p, lo, hi = _pair(0.5, 0.999, "Ni", "La", 50.0, 1000.0)
    rem, P = CO.learned_removals(p, lo, hi)
    assert rem[0, J["Ni"]] == -1 and np.isnan(P[0, J["Ni"]])
    p, lo, hi = _pair(0.5, 0.999, "Ni", "La", 450.0, 1000.0)  # from 450 eV: flagged, gets a P
    assert np.isfinite(CO.learned_removals(p, lo, hi)[1][0, J["Ni"]])
    # random probabilities and windows: only flagged calls are removed, for the flag's partner, at P < 0.5
    rng = np.random.default_rng(5)
    q = rng.random((500, 80))
    lo_r = rng.uniform(100, 1500, 500)
    hi_r = lo_r + rng.uniform(100, 1500, 500)
    flag = resolve_coincidences(q, lo_r, hi_r)
    rem, P = CO.learned_removals(q, lo_r, hi_r)
    assert (rem >= 0).any() and ((flag >= 0) & (rem < 0)).any()
    assert not ((rem >= 0) & (flag < 0)).any()
    np.testing.assert_array_equal(rem[rem >= 0], flag[rem >= 0])
    assert np.array_equal(np.isfinite(P), flag >= 0)
    assert np.all(P[rem >= 0] < 0.5) and np.all(P[(flag >= 0) & (rem < 0)] >= 0.5)


def test_fit_resolver_recovers_a_planted_rule_and_rejects_bad_input(CO, tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(4000, len(CO.FEATURES)))
    y = X[:, CO.FEATURES.index("logit_diff")] < 0  # present iff the partner is not clearly better
    r = CO.fit_resolver(X, y, C=1.0)
    assert np.mean((CO.resolver_proba(r, X) >= 0.5) == y) > 0.97
    assert np.argmax(np.abs(r["coef"])) == CO.FEATURES.index("logit_diff") and r["coef"][4] < 0
    with pytest.raises(ValueError, match="both present and absent"):
        CO.fit_resolver(X, np.ones(4000, bool))
    with pytest.raises(ValueError, match="must be"):
        CO.fit_resolver(X[:, :3], y)
    bad = dict(CO.load_resolver())
    bad["coef"] = bad["coef"][:-1]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="coef"):
        CO.load_resolver(str(path))
    bad["features"] = ["p_x"]
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="features"):
        CO.load_resolver(str(path))


def test_benchmark_scores_none_em_learned_on_a_tiny_set(monkeypatch, CO):
    """learned_scores on a hand-made set: removal only ever zeroes flagged calls."""
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))
    B = importlib.import_module("bench_identify_edges")
    p, lo, hi = _pair(np.array([0.55, 0.95]), 0.99, "Sb", "O", 450.0, 650.0, n=2)
    y = np.zeros((2, 80), bool)
    y[:, J["O"]] = True
    y[1, J["Sb"]] = True
    from hyperspy_eels_ml.elements.preprocess import report_assessable

    ass = report_assessable(lo, hi)
    data = {"p": np.where(ass, p, np.nan), "y": y & ass, "mask": ass, "present": y, "assessable": ass,
            "lo": lo, "hi": hi}
    r = B.learned_scores(data, {"learned": CO.load_resolver()})
    assert r["none"]["removed_calls"] == 0 and r["EM"]["removed_calls"] == 1  # Sb at 0.55 (margin 0.44)
    assert r["learned"]["removed_calls"] <= 2 and r["learned"]["removed_true"] <= 1
