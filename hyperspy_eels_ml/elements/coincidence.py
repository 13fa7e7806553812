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

import numpy as np

from .preprocess import LABELS, REPORT_HIGH_MARGIN, REPORT_LOW_MARGIN

__all__ = ["COINCIDENCE_EV", "COINCIDENCE_MARGIN", "coincidence_pairs", "explained_pairs", "group_members",
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
