"""Coincidence resolution: an element whose edges are all explained by a better-supported element.

Several elements have Major edges within a few eV of each other (O K 532 / Sb M5 528 eV, Cr L3
575 / Te M5 572 eV, La M4 849 / Ni L3 855 eV, ...). A network (or a microscopist) that sees one
edge there cannot tell them apart from that edge alone. The rule, applied per spectrum:

    element X, called present, is **ambiguous with Y** when Y is also called, with a probability
    at least as high as X's, and *every* assessable Major edge group of X lies within
    ``COINCIDENCE_EV`` of a Major edge of Y (so X has no edge of its own in the window).

By default such a call is kept and carries a caution (``ElementsResult.flags``,
:meth:`~hyperspy_eels_ml.elements.ElementsResult.explain` says which element explains its edges);
``probabilities`` are never changed. An element with an independent edge in the window is never
affected.

With ``identify_elements(..., resolve_coincidences=True)`` a flagged call is removed from ``present``
only when the evidence says the partner explains it (:func:`removable_coincidences`; user guide,
"Session 10 (coincidence evidence)"):

* **every** Major edge of each coincident group of X, not only the group's lowest onset, lies within
  ``COINCIDENCE_EV`` of a Major onset of Y (Sb M5 528 / M4 537 eV both on O K 532 eV, Te M5 572 /
  M4 582 eV on Cr L3 575 / L2 584 eV; but Ni L2 872 eV is 23 eV from La M4 849 eV, an edge of Ni's
  own, so Ni is not removed for La), and
* Y is clearly better supported: ``p_Y - p_X >= COINCIDENCE_MARGIN`` (0.2); a call of p >= 0.8, or a
  near tie, says that the network sees both elements.

The measured onsets cannot separate such pairs (the instrument shift, up to +-15 eV on the simulated
spectra, is larger than the 2-6 eV between the onsets) and the jump test at the shared edge measures
one rise for both, so they are not used.
``COINCIDENCE_EV`` = 10 eV and the margin are fixed a priori, not tuned on data. Removal is **not**
the default because it lowers the scores on held-out spectra whose compositions oversample
near-coincident partners (as the training set does); on compositions at natural frequencies it raises
them (``benchmarks/bench_identify_edges.py --study coincidence --evidence``).
"""

from __future__ import annotations

import functools
import os

import numpy as np

from .preprocess import LABELS, REPORT_HIGH_MARGIN, REPORT_LOW_MARGIN

__all__ = ["COINCIDENCE_EV", "COINCIDENCE_MARGIN", "FEATURES", "LEARNED_THRESHOLD", "RESOLVER_PATH",
           "coincidence_features", "coincidence_pairs", "explained_pairs", "fit_resolver", "group_members",
           "learned_removals", "load_resolver", "resolver_proba",
           "removable_coincidences", "resolve_coincidences"]

COINCIDENCE_EV = 10.0
#: the partner's probability exceeds the call's by at least this much for the call to be removed
COINCIDENCE_MARGIN = 0.2


@functools.lru_cache(maxsize=4)
def coincidence_pairs(delta=COINCIDENCE_EV):
    """Pairs ``(x, y, coincident group indices of x, other group indices of x)`` with >= 1 coincident group.

    Group indices refer to :func:`~hyperspy_eels_ml.elements.evidence.edge_groups` (Major edges of one
    element within 25 eV form one group, e.g. L3+L2); a group of ``x`` is coincident with ``y`` when
    its onset lies within ``delta`` eV of one of ``y``'s Major-edge onsets.
    """
    from .evidence import edge_groups
    from .preprocess import major_onsets

    groups = edge_groups()
    by_el = {}
    for g, (j, _, _, _) in enumerate(groups):
        by_el.setdefault(j, []).append(g)
    onsets = {j: np.asarray(major_onsets()[el]) for j, el in enumerate(LABELS)}
    out = []
    for x, gx in by_el.items():
        for y in range(len(LABELS)):
            if y == x or onsets[y].size == 0:
                continue
            co = [g for g in gx if np.min(np.abs(onsets[y] - groups[g][3])) <= delta]
            if co:
                out.append((x, y, tuple(co), tuple(g for g in gx if g not in co)))
    return tuple(out)


@functools.lru_cache(maxsize=1)
def group_members():
    """Major onsets (eV) of every edge group of :func:`~hyperspy_eels_ml.elements.evidence.edge_groups`.

    Returns
    -------
    tuple of tuple of float
        Per group, its lowest onset and the Major onsets of the element chained to it within 25 eV
        (e.g. Sb M4,5: 528, 537 eV).
    """
    from .evidence import edge_groups
    from .preprocess import major_onsets

    mo = major_onsets()
    out = []
    for _, el, _, on in edge_groups():
        mem = [float(on)]
        for v in sorted(mo[el]):
            if v > mem[-1] and v - mem[-1] <= 25.0:
                mem.append(float(v))
        out.append(tuple(mem))
    return tuple(out)


@functools.lru_cache(maxsize=4)
def explained_pairs(delta=COINCIDENCE_EV):
    """The pairs of :func:`coincidence_pairs` at the level of single edges.

    A coincident group of ``x`` is kept only when *every* Major edge of it (:func:`group_members`)
    lies within ``delta`` eV of a Major onset of ``y``; the other groups count as independent edges
    of ``x``. Pairs left without a coincident group are dropped.

    Parameters
    ----------
    delta : float
        Coincidence distance (eV).

    Returns
    -------
    tuple
        ``(x, y, coincident group indices of x, other group indices of x)``.
    """
    from .preprocess import major_onsets

    mem = group_members()
    mo = major_onsets()
    out = []
    for x, y, co, other in coincidence_pairs(delta):
        oy = np.asarray(mo[LABELS[y]], np.float64)
        keep = tuple(g for g in co if all(np.min(np.abs(oy - m)) <= delta for m in mem[g]))
        if keep:
            out.append((x, y, keep, tuple(other) + tuple(g for g in co if g not in keep)))
    return tuple(out)


def _group_assessable(lo, hi):
    from .evidence import edge_groups

    on = np.array([g[3] for g in edge_groups()])
    lo = np.nan_to_num(np.asarray(lo, np.float64), nan=1e9)[:, None]
    hi = np.nan_to_num(np.asarray(hi, np.float64), nan=-1e9)[:, None]
    # the margins of identify_elements' assessable rule: an edge within 15 eV of the window start or
    # 30 eV of its end is not an independent edge
    return (on[None, :] >= lo + REPORT_LOW_MARGIN) & (on[None, :] <= hi - REPORT_HIGH_MARGIN)


def _resolve(p, lo, hi, pairs, threshold, margin):
    p = np.nan_to_num(np.asarray(p, np.float64), nan=-1.0)
    n = p.shape[0]
    out = np.full((n, len(LABELS)), -1, np.int8)
    called = p >= threshold
    if n == 0 or not called.any():
        return out
    gass = _group_assessable(lo, hi)
    active = called.any(axis=0)
    for x, y, co, other in pairs:
        if not (active[x] and active[y]):
            continue
        if margin > 0:
            better = p[:, y] - p[:, x] >= margin
        else:
            better = (p[:, y] > p[:, x]) | ((p[:, y] == p[:, x]) & (y < x))  # ties: the lower Z explains
        rows = called[:, x] & called[:, y] & better & (out[:, x] < 0)
        if not rows.any():
            continue
        rows &= gass[:, list(co)].any(axis=1)  # a coincident group is in the window ...
        if other:
            rows &= ~gass[:, list(other)].any(axis=1)  # ... and no independent group is
        out[rows, x] = y
    return out


def resolve_coincidences(p, lo, hi, threshold=0.5, delta=COINCIDENCE_EV):
    """Which calls are ambiguous (flagged), and with which element.

    Parameters
    ----------
    p : numpy.ndarray
        ``(n, 80)`` calibrated probabilities (NaN: not assessable / masked).
    lo, hi : numpy.ndarray
        ``(n,)`` usable windows (eV; NaN: none).
    threshold : float
        Calling threshold.
    delta : float
        Coincidence distance (eV).

    Returns
    -------
    numpy.ndarray
        ``(n, 80)`` int8: index of the element that explains the call (-1: not ambiguous).

    See Also
    --------
    removable_coincidences : the flagged calls that ``resolve_coincidences=True`` removes.
    """
    return _resolve(p, lo, hi, coincidence_pairs(delta), threshold, 0.0)


def removable_coincidences(p, lo, hi, threshold=0.5, delta=COINCIDENCE_EV, margin=COINCIDENCE_MARGIN):
    """The ambiguous calls that the evidence says the partner explains (removed with ``resolve_coincidences=True``).

    A call of ``x`` is removable with ``y`` when ``y`` is called, ``p_y - p_x >= margin``, and every
    Major edge of ``x``'s assessable groups lies within ``delta`` eV of a Major onset of ``y``
    (:func:`explained_pairs`). Every removable call is also flagged by :func:`resolve_coincidences`.

    Parameters
    ----------
    p, lo, hi, threshold, delta
        As :func:`resolve_coincidences`.
    margin : float
        Probability margin of the partner; 0: at least as high (ties to the lower Z), as
        :func:`resolve_coincidences`.

    Returns
    -------
    numpy.ndarray
        ``(n, 80)`` int8: index of the element that explains the call (-1: kept).
    """
    return _resolve(p, lo, hi, explained_pairs(delta), threshold, float(margin))


# -- the learned resolver (session 14, helper z37; SHIP_RULE at c68ad31) -----------------------------------

#: a flagged call is removed when the resolver's P(present) is below this (fixed a priori)
LEARNED_THRESHOLD = 0.5
_FAMILIES = ("K", "L", "M", "N")
#: feature names of :func:`coincidence_features`, in order
FEATURES = ("p_x", "p_y", "logit_x", "logit_y", "logit_diff", "margin_0.2",
            *(f"x_family_{f}" for f in _FAMILIES), *(f"y_family_{f}" for f in _FAMILIES),
            "onset_distance", "explained_every_edge", "x_groups_in_window", "x_edges_in_window",
            "y_own_groups_in_window", "log_onset", "log_d_start", "log_d_end", "rel_position")


#: the learned resolver shipped with the package (plain arrays in JSON, :func:`load_resolver`)
RESOLVER_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models", "elements",
                             "coincidence_resolver.json")


@functools.lru_cache(maxsize=1)
def _pair_table(delta=COINCIDENCE_EV):
    """Per flag pair ``(x, y)``: coincident groups of x, the other groups of x, the Major onsets of y and
    their families, and y's groups (index, onset) with whether they coincide with an edge of x."""
    from .evidence import edge_groups
    from .preprocess import major_onsets

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
    from .evidence import edge_groups

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
    """The learned resolver (a dict of plain arrays) from its JSON file (default: the shipped one).

    Raises
    ------
    ValueError
        The file does not hold a resolver for this version's :data:`FEATURES`.
    """
    path = os.path.abspath(path or RESOLVER_PATH)
    return _load_resolver_cached(path, os.path.getmtime(path))


def learned_removals(p, lo, hi, threshold=0.5, resolver=None, delta=COINCIDENCE_EV, cutoff=LEARNED_THRESHOLD):
    """The flagged calls that the learned resolver removes (``resolve_coincidences="learned"``).

    Every call flagged by :func:`resolve_coincidences` (all its assessable Major edge groups within
    ``delta`` eV of a Major edge of a partner called at least as probable) gets P(present) from the
    resolver (:func:`coincidence_features`, :func:`resolver_proba`); it is removed when P < ``cutoff``.
    A call with an independent assessable edge is never flagged, so never removed.

    Parameters
    ----------
    p, lo, hi, threshold, delta
        As :func:`resolve_coincidences`.
    resolver : dict, optional
        :func:`load_resolver`'s output (default: the shipped resolver).
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
