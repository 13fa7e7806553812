"""Coincidence resolution: an element whose edges are all explained by a better-supported element.

Several elements have Major edges within a few eV of each other (O K 532 / Sb M5 528 eV, Cr L3
575 / Te M5 572 eV, La M4 849 / Ni L3 855 eV, ...). A network (or a microscopist) that sees one
edge there cannot tell them apart from that edge alone. The rule, applied per spectrum:

    element X, called present, is **ambiguous with Y** when Y is also called, with a probability
    at least as high as X's, and *every* assessable Major edge group of X lies within
    ``COINCIDENCE_EV`` of a Major edge of Y (so X has no edge of its own in the window).

By default such a call is kept and carries a caution (``ElementsResult.flags``,
:meth:`~hyperspy_eels_ml.elements.ElementsResult.explain` says which element explains its edges);
with ``identify_elements(..., resolve_coincidences=True)`` it is not reported as present
(``probabilities`` are never changed). An element with an independent edge in the window is never
affected.

``COINCIDENCE_EV`` = 10 eV is fixed a priori (chemical shifts of a few eV plus the width of the
edge onsets), not tuned on data. Removal is **not** the default because it lowers the scores on
held-out simulated spectra (8,192 realistic spectra, shipped model: weighted F1 0.814 -> 0.776,
exact match 0.633 -> 0.610; of the 1,212 calls removed 677 were right and 335 wrong; 3 and 5 eV,
or removing only calls below p 0.7-0.9, also lower both on the calibration shards):
the simulator draws near-coincident partners together half of the time, so a coincident call is
often right there. Whether that prior or the rarity of e.g. Sb in oxides is closer to practice
is for the user to judge; ``benchmarks/bench_identify.py`` reports both on the real spectra.
"""

from __future__ import annotations

import functools

import numpy as np

from .preprocess import LABELS, REPORT_HIGH_MARGIN, REPORT_LOW_MARGIN

__all__ = ["COINCIDENCE_EV", "coincidence_pairs", "resolve_coincidences"]

COINCIDENCE_EV = 10.0


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


def _group_assessable(lo, hi):
    from .evidence import edge_groups

    on = np.array([g[3] for g in edge_groups()])
    lo = np.nan_to_num(np.asarray(lo, np.float64), nan=1e9)[:, None]
    hi = np.nan_to_num(np.asarray(hi, np.float64), nan=-1e9)[:, None]
    # the margins of identify_elements' assessable rule: an edge within 15 eV of the window start or
    # 30 eV of its end is not an independent edge
    return (on[None, :] >= lo + REPORT_LOW_MARGIN) & (on[None, :] <= hi - REPORT_HIGH_MARGIN)


def resolve_coincidences(p, lo, hi, threshold=0.5, delta=COINCIDENCE_EV):
    """Which calls are ambiguous, and with which element.

    Parameters
    ----------
    p : numpy.ndarray
        ``(n, 80)`` calibrated probabilities (NaN: not assessable / masked).
    lo, hi : numpy.ndarray
        ``(n,)`` usable windows (eV; NaN: none).
    threshold : float
        Calling threshold.

    Returns
    -------
    numpy.ndarray
        ``(n, 80)`` int8: index of the element that explains the call (-1: not ambiguous).
    """
    p = np.nan_to_num(np.asarray(p, np.float64), nan=-1.0)
    n = p.shape[0]
    out = np.full((n, len(LABELS)), -1, np.int8)
    called = p >= threshold
    if n == 0 or not called.any():
        return out
    gass = _group_assessable(lo, hi)
    active = called.any(axis=0)
    for x, y, co, other in coincidence_pairs(delta):
        if not (active[x] and active[y]):
            continue
        better = (p[:, y] > p[:, x]) | ((p[:, y] == p[:, x]) & (y < x))  # ties: the lower Z explains
        rows = called[:, x] & called[:, y] & better & (out[:, x] < 0)
        if not rows.any():
            continue
        rows &= gass[:, list(co)].any(axis=1)  # a coincident group is in the window ...
        if other:
            rows &= ~gass[:, list(other)].any(axis=1)  # ... and no independent group is
        out[rows, x] = y
    return out
