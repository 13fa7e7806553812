"""The learned coincidence resolver of session 14 (helper z37, issue 11): a study, not shipped.

For every call X that the flag rule (:func:`hyperspy_eels_ml.elements.coincidence.resolve_coincidences`)
marks ambiguous with a partner Y, a logistic regression (standardised features, plain arrays in
``benchmarks/coincidence_resolver_z37.json``, no pickle) gives P(X truly present) from p_X, p_Y, their
logits, the edge families of the coincident edges, the onset distance, EM's "every edge explained"
condition, how many of X's groups / edges are in the window, Y's own groups and the window position; the
call is removed when P < 0.5. It failed its ship rule (``git show c68ad31:SHIP_RULE.md``; user guide,
"Session 14 (learned coincidence resolver)"), so the package has no such option; this module keeps the
resolver and its training function for ``bench_identify_edges.py --study coincidence --learned``.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from hyperspy_eels_ml.elements.coincidence import (COINCIDENCE_EV, COINCIDENCE_MARGIN, _group_assessable,
                                                   coincidence_pairs, explained_pairs, group_members,
                                                   resolve_coincidences)
from hyperspy_eels_ml.elements.preprocess import LABELS

#: a flagged call is removed when the resolver's P(present) is below this (fixed a priori)
LEARNED_THRESHOLD = 0.5
_FAMILIES = ("K", "L", "M", "N")
#: feature names of :func:`coincidence_features`, in order
FEATURES = ("p_x", "p_y", "logit_x", "logit_y", "logit_diff", "margin_0.2",
            *(f"x_family_{f}" for f in _FAMILIES), *(f"y_family_{f}" for f in _FAMILIES),
            "onset_distance", "explained_every_edge", "x_groups_in_window", "x_edges_in_window",
            "y_own_groups_in_window", "log_onset", "log_d_start", "log_d_end", "rel_position")


#: the resolver fitted in session 14 (plain arrays in JSON, :func:`load_resolver`)
RESOLVER_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "coincidence_resolver_z37.json")


@functools.lru_cache(maxsize=1)
def _pair_table(delta=COINCIDENCE_EV):
    """Per flag pair ``(x, y)``: coincident groups of x, the other groups of x, the Major onsets of y and
    their families, and y's groups (index, onset) with whether they coincide with an edge of x."""
    from hyperspy_eels_ml.elements.evidence import edge_groups
    from hyperspy_eels_ml.elements.preprocess import major_onsets

    groups = edge_groups()
    mem = group_members()
    mo = major_onsets()
    fam_of = {}  # (element index, onset) -> family letter
    for g, (j, _, name, _) in enumerate(groups):
        for m in mem[g]:
            fam_of[(j, round(m, 3))] = name[0]
    by_el = {}
    for g, (j, _, _, _) in enumerate(groups):
        by_el.setdefault(j, []).append(g)
    expl = {(x, y): set(co) for x, y, co, _ in explained_pairs(delta)}
    out = {}
    for x, y, co, other in coincidence_pairs(delta):
        oy = np.array([m for g in by_el[y] for m in mem[g]], np.float64)
        fy = [fam_of.get((y, round(m, 3)), "?") for g in by_el[y] for m in mem[g]]
        ox = np.asarray(mo[LABELS[x]], np.float64)
        y_own = tuple(g for g in by_el[y] if np.min(np.abs(ox - groups[g][3])) > delta)
        out[(x, y)] = (tuple(co), tuple(other), oy, fy, frozenset(expl.get((x, y), ())), y_own)
    return out


def coincidence_features(p, lo, hi, flag, delta=COINCIDENCE_EV):
    """Features of every flagged call for the learned resolver (:data:`FEATURES`).

    Parameters
    ----------
    p : numpy.ndarray
        ``(n, 80)`` calibrated probabilities (NaN: not assessable).
    lo, hi : numpy.ndarray
        ``(n,)`` usable windows (eV).
    flag : numpy.ndarray
        ``(n, 80)`` int8 of :func:`resolve_coincidences` (partner index, -1: not flagged).
    delta : float
        Coincidence distance (eV).

    Returns
    -------
    rows, cols : numpy.ndarray
        Spectrum and label index of every flagged call.
    X : numpy.ndarray
        ``(n_flagged, len(FEATURES))`` float64.
    """
    from hyperspy_eels_ml.elements.evidence import edge_groups

    groups = edge_groups()
    mem = group_members()
    flag = np.asarray(flag)
    rows, cols = np.nonzero(flag >= 0)
    X = np.zeros((rows.size, len(FEATURES)), np.float64)
    if rows.size == 0:
        return rows, cols, X
    p = np.nan_to_num(np.asarray(p, np.float64), nan=0.0)
    lo = np.asarray(lo, np.float64)
    hi = np.asarray(hi, np.float64)
    gass = _group_assessable(lo, hi)
    table = _pair_table(delta)
    f_idx = {f: k for k, f in enumerate(FEATURES)}
    eps = 1e-6
    for k, (i, x) in enumerate(zip(rows, cols)):
        y = int(flag[i, x])
        co, other, oy, fy, expl, y_own = table[(int(x), y)]
        ass_co = [g for g in co if gass[i, g]]
        g = ass_co[0] if ass_co else co[0]
        on = groups[g][3]
        d = np.abs(oy - on)
        near = int(np.argmin(d))
        px, py = p[i, x], p[i, y]
        zx = np.log(max(px, eps) / max(1 - px, eps))
        zy = np.log(max(py, eps) / max(1 - py, eps))
        v = X[k]
        v[f_idx["p_x"]], v[f_idx["p_y"]] = px, py
        v[f_idx["logit_x"]], v[f_idx["logit_y"]], v[f_idx["logit_diff"]] = zx, zy, zy - zx
        v[f_idx["margin_0.2"]] = float(py - px >= COINCIDENCE_MARGIN)
        gf = groups[g][2][0]
        if gf in _FAMILIES:
            v[f_idx[f"x_family_{gf}"]] = 1.0
        if fy[near] in _FAMILIES:
            v[f_idx[f"y_family_{fy[near]}"]] = 1.0
        v[f_idx["onset_distance"]] = d[near]
        v[f_idx["explained_every_edge"]] = float(bool(ass_co) and all(gg in expl for gg in ass_co))
        v[f_idx["x_groups_in_window"]] = len(ass_co)
        v[f_idx["x_edges_in_window"]] = sum(len(mem[gg]) for gg in ass_co)
        v[f_idx["y_own_groups_in_window"]] = sum(bool(gass[i, gg]) for gg in y_own)
        v[f_idx["log_onset"]] = np.log(on)
        ds, de = on - lo[i], hi[i] - on
        v[f_idx["log_d_start"]] = np.log1p(max(ds, 0.0))
        v[f_idx["log_d_end"]] = np.log1p(max(de, 0.0))
        v[f_idx["rel_position"]] = ds / max(hi[i] - lo[i], 1.0)
    return rows, cols, X


def fit_resolver(X, y, C=1.0, sample_weight=None):
    """Fit the learned resolver: a standardised L2 logistic regression of "X truly present" on the features.

    Parameters
    ----------
    X : numpy.ndarray
        ``(n, len(FEATURES))`` of :func:`coincidence_features` (training spectra only).
    y : numpy.ndarray
        ``(n,)`` bool: the flagged element is truly present (visible) in the spectrum.
    C : float
        Inverse L2 strength of :class:`sklearn.linear_model.LogisticRegression`.
    sample_weight : numpy.ndarray, optional

    Returns
    -------
    dict
        Plain arrays (``features``, ``mean``, ``scale``, ``coef``, ``intercept``), JSON-serialisable.
    """
    from sklearn.linear_model import LogisticRegression

    X = np.asarray(X, np.float64)
    y = np.asarray(y, bool)
    if X.ndim != 2 or X.shape[1] != len(FEATURES) or X.shape[0] != y.shape[0]:
        raise ValueError(f"X must be (n, {len(FEATURES)}) and y (n,), got {X.shape} and {y.shape}")
    if y.all() or not y.any():
        raise ValueError("fit_resolver needs both present and absent flagged calls")
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    lr = LogisticRegression(C=float(C), max_iter=5000)
    lr.fit((X - mean) / scale, y, sample_weight=sample_weight)
    return {"features": list(FEATURES), "mean": mean.tolist(), "scale": scale.tolist(),
            "coef": lr.coef_[0].tolist(), "intercept": float(lr.intercept_[0]), "C": float(C)}


def resolver_proba(resolver, X):
    """P(flagged element truly present) of the learned resolver for feature rows ``X``."""
    X = np.asarray(X, np.float64)
    if X.shape[0] == 0:
        return np.zeros(0)
    z = ((X - np.asarray(resolver["mean"])) / np.asarray(resolver["scale"])) @ np.asarray(resolver["coef"])
    z = z + float(resolver["intercept"])
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


@functools.lru_cache(maxsize=4)
def _load_resolver_cached(path, mtime):
    import json

    with open(path) as f:
        d = json.load(f)
    if d.get("features") != list(FEATURES):
        raise ValueError(f"{path}: features {d.get('features')} do not match this version's {list(FEATURES)}")
    n = len(FEATURES)
    for k in ("mean", "scale", "coef"):
        if len(d.get(k, ())) != n or not np.all(np.isfinite(d[k])):
            raise ValueError(f"{path}: {k!r} must be {n} finite numbers")
    if not np.isfinite(d.get("intercept", np.nan)):
        raise ValueError(f"{path}: 'intercept' must be a finite number")
    return d


def load_resolver(path=None):
    """The learned resolver (a dict of plain arrays) from its JSON file (default: session 14's fit).

    Raises
    ------
    ValueError
        The file does not hold a resolver for this version's :data:`FEATURES`.
    """
    path = os.path.abspath(path or RESOLVER_PATH)
    return _load_resolver_cached(path, os.path.getmtime(path))


def learned_removals(p, lo, hi, threshold=0.5, resolver=None, delta=COINCIDENCE_EV, cutoff=LEARNED_THRESHOLD):
    """The flagged calls that the learned resolver removes.

    Every call flagged by :func:`resolve_coincidences` (all its assessable Major edge groups within
    ``delta`` eV of a Major edge of a partner called at least as probable) gets P(present) from the
    resolver (:func:`coincidence_features`, :func:`resolver_proba`); it is removed when P < ``cutoff``.
    A call with an independent assessable edge is never flagged, so never removed.

    Parameters
    ----------
    p, lo, hi, threshold, delta
        As :func:`resolve_coincidences`.
    resolver : dict, optional
        :func:`load_resolver`'s output (default: session 14's fit).
    cutoff : float
        Removal threshold on P (0.5, fixed a priori).

    Returns
    -------
    removed : numpy.ndarray
        ``(n, 80)`` int8: the partner that explains a removed call (-1: kept).
    proba : numpy.ndarray
        ``(n, 80)`` float32: P(present) of every flagged call (NaN: not flagged).
    """
    resolver = load_resolver() if resolver is None else resolver
    flag = resolve_coincidences(p, lo, hi, threshold, delta)
    rows, cols, X = coincidence_features(p, lo, hi, flag, delta)
    proba = np.full(flag.shape, np.nan, np.float32)
    removed = np.full(flag.shape, -1, np.int8)
    if rows.size:
        P = resolver_proba(resolver, X)
        proba[rows, cols] = P
        drop = P < cutoff
        removed[rows[drop], cols[drop]] = flag[rows[drop], cols[drop]]
    return removed, proba
