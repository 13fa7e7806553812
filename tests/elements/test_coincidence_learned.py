"""The learned coincidence resolver (session 14, helper z37): ``resolve_coincidences="learned"``."""

import json

import numpy as np
import pytest

from hyperspy_eels_ml._shared import ParameterError
from hyperspy_eels_ml.elements import LABELS, identify_elements
from hyperspy_eels_ml.elements import coincidence as CO

J = {el: LABELS.index(el) for el in ("O", "Sb", "Cr", "Te", "La", "Ni", "Fe")}


def _pair(px, py, x="Sb", y="O", lo=450.0, hi=650.0, n=None):
    p = np.zeros((1 if n is None else n, 80))
    p[:, J[x]], p[:, J[y]] = px, py
    return p, np.full(p.shape[0], lo), np.full(p.shape[0], hi)


def test_shipped_resolver_loads_and_matches_the_features():
    r = CO.load_resolver()
    assert r["features"] == list(CO.FEATURES)
    for k in ("mean", "scale", "coef"):
        assert len(r[k]) == len(CO.FEATURES) and np.all(np.isfinite(r[k]))
    assert np.isfinite(r["intercept"]) and r["cutoff"] == CO.LEARNED_THRESHOLD == 0.5
    assert r["training"]["sets"] and r["selection"]["chosen"].startswith("C=")


def test_resolver_probability_is_monotone_in_the_partners_margin():
    """O K / Sb M4,5 and Cr L2,3 / Te M4,5: lowering p_X (p_Y fixed) or raising p_Y (p_X fixed) never raises P(X)."""
    grid = np.linspace(0.5, 0.99, 25)
    for x, y, lo, hi in (("Sb", "O", 450.0, 650.0), ("Te", "Cr", 500.0, 700.0), ("Sb", "O", 300.0, 1500.0)):
        for fixed in (0.99, 0.9, 0.75):
            # p_X falls along the grid with p_Y fixed (only where p_X <= p_Y: flagged)
            px = grid[grid <= fixed][::-1]
            p, lo_, hi_ = _pair(px, fixed, x, y, lo, hi, n=px.size)
            _, P = CO.learned_removals(p, lo_, hi_)
            P = P[:, J[x]]
            assert np.all(np.isfinite(P)), (x, y, fixed)
            assert np.all(np.diff(P) <= 1e-12), (x, y, "p_x falls", fixed, P)
            # p_Y rises along the grid with p_X fixed
            py = grid[grid >= fixed]
            p, lo_, hi_ = _pair(fixed, py, x, y, lo, hi, n=py.size)
            _, P = CO.learned_removals(p, lo_, hi_)
            P = P[:, J[x]]
            assert np.all(np.diff(P) <= 1e-12), (x, y, "p_y rises", fixed, P)


def test_a_call_with_an_independent_edge_is_never_removed():
    # Ni L3 855 eV on La M4 849 eV, but from 50 eV Ni M2,3 (68 eV) is an edge of Ni's own
    p, lo, hi = _pair(0.5, 0.999, "Ni", "La", 50.0, 1000.0)
    rem, P = CO.learned_removals(p, lo, hi)
    assert rem[0, J["Ni"]] == -1 and np.isnan(P[0, J["Ni"]])
    # from 450 eV it is flagged and gets a probability
    p, lo, hi = _pair(0.5, 0.999, "Ni", "La", 450.0, 1000.0)
    _, P = CO.learned_removals(p, lo, hi)
    assert np.isfinite(P[0, J["Ni"]])
    # random probabilities and windows: only flagged calls are removed; the partner is the flag's
    rng = np.random.default_rng(5)
    q = rng.random((500, 80))
    lo_r = rng.uniform(100, 1500, 500)
    hi_r = lo_r + rng.uniform(100, 1500, 500)
    flag = CO.resolve_coincidences(q, lo_r, hi_r)
    rem, P = CO.learned_removals(q, lo_r, hi_r)
    assert (rem >= 0).any() and (rem < 0).sum() > (flag < 0).sum()
    assert not ((rem >= 0) & (flag < 0)).any()
    np.testing.assert_array_equal(rem[rem >= 0], flag[rem >= 0])
    assert np.array_equal(np.isfinite(P), flag >= 0)
    assert np.all(P[rem >= 0] < 0.5) and np.all(P[(flag >= 0) & (rem < 0)] >= 0.5)


def test_bad_resolver_and_bad_option(tmp_path):
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
    from exspy.signals import EELSSpectrum

    s = EELSSpectrum(np.random.default_rng(0).poisson(100, 400).astype(float))
    s.axes_manager.signal_axes[0].units = "eV"
    s.axes_manager.signal_axes[0].offset = 400.0
    with pytest.raises(ParameterError, match="learned"):
        identify_elements(s, resolve_coincidences="learnt")


def test_learned_option_in_the_result_lazy_equals_eager():
    """O + Cr in 450-950 eV at a low threshold (weak Sb / Te calls on O K / Cr L3 are flagged)."""
    from tests.elements.test_identify import _sim_signal

    s = _sim_signal(("O", "Cr"), shape=(2, 2), seed=0)
    kw = dict(show_progressbar=False, threshold=0.03, resolve_coincidences="learned")
    r = identify_elements(s, **kw)
    rl = identify_elements(s.as_lazy(), **kw)
    assert rl.is_lazy and not r.is_lazy
    rl.compute()
    np.testing.assert_array_equal(r.present.data, rl.present.data)
    assert r.elements == rl.elements and r.flags == rl.flags
    p = np.nan_to_num(r.probabilities.data, nan=-1).reshape(-1, 80)
    w = np.asarray(r.window).reshape(-1, 2)
    rem, P = CO.learned_removals(r.probabilities.data.reshape(-1, 80), w[:, 0], w[:, 1], 0.03)
    np.testing.assert_array_equal(r.present.data.reshape(-1, 80), (p >= 0.03) & (rem < 0))
    amb = np.asarray(r.ambiguous_with).reshape(-1, 80)
    flagged = sorted({LABELS[k] for k in np.flatnonzero(((amb >= 0) & (p >= 0.03)).any(axis=0))})
    assert flagged
    for el in flagged:
        ex = r.explain(el)
        assert ex.learned_p and all(0 <= v <= 1 for v in ex.learned_p.values())
        assert "learned coincidence resolver: P(present) = " in str(ex)
        assert el in r.flags and any("learned coincidence resolver" in f for f in r.flags[el])
    assert r.parameters["resolve_coincidences"] == "learned"
    # True (EM) and False unchanged: no learned P
    r0 = identify_elements(s, show_progressbar=False, threshold=0.03)
    assert all(not r0.explain(el).learned_p for el in flagged)
