"""Evidence for or against oxygen, which decides whether the valence models may read a metal.

A metal's white lines are weaker and broader than an oxide's, but so are a
broadened or poorly background-subtracted oxide's: on shape alone real MnO and
LaMnO3 were read as Mn0. Oxygen is the physical evidence that separates them:

* ``metadata.Sample.elements`` containing O: no metal anywhere (the user says so);
  listing only metals (no O, N, C, B, Si, P, S, halogens, chalcogens): the metal is admitted.
* the O K edge, when the window holds 495-560 eV: a measured jump (at least 10 %
  of the white-line jump and 5 sigma) excludes the metal in that pixel; a jump
  bounded below 10 % (3 sigma; enough counts to say so) admits it; anything
  between decides nothing. The windows move with each spectrum's L3 maximum
  (the L3 to O K distance does not depend on the axis calibration). On
  noise-free simulations every Mn and Fe oxide (O K height 0.3-1 of the L3
  line, a simulator prior) gives at least 0.20.

The jump test is a few lines of numpy written here rather than the element
identifier's evidence code (:mod:`hyperspy_eels_ml.elements.evidence`), which
works on that network's fixed rebinned grid and thresholds of its own.
"""

from __future__ import annotations

import numpy as np

#: pre-edge fit window (below the 3d-oxide O K pre-peak at about 529-531 eV; V L3 at 513 eV lies inside)
OK_PRE = (495.0, 521.0)
#: post-edge window averaged for the jump
OK_POST = (535.0, 560.0)
#: the O K jump relative to the white-line jump below which oxygen is taken as absent
#: (upper bound: jump + 3 sigma) and above which (with z >= OK_Z) as present
OK_REL = 0.1
OK_Z = 5.0
#: non-metals that form compounds (a sample listing none of them, with its metal, is metallic)
NON_METALS = frozenset({"H", "He", "B", "C", "N", "O", "F", "Ne", "Si", "P", "S", "Cl", "Ar", "As", "Se", "Br",
                        "Kr", "Te", "I", "Xe"})

#: per-pixel O K states (column of the valence block)
PRESENT, ABSENT, UNDECIDED = 1.0, 0.0, -1.0


def o_k_window_covered(energy):
    """Whether the energy axis holds the O K fit and jump windows."""
    return bool(energy[0] <= OK_PRE[0] and energy[-1] >= OK_POST[1])


def declared_oxygen(elements):
    """From ``metadata.Sample.elements``: "oxygen" (O listed), "metals" (only metals listed), or None."""
    if not elements:
        return None
    els = {str(e) for e in elements}
    if "O" in els:
        return "oxygen"
    if not els & NON_METALS:
        return "metals"
    return None


def edge_jump(x, energy, pre, post):
    """Mean excess over ``post`` of spectra ``x`` above their ``pre`` fit, and its sigma (see :func:`o_k_evidence`)."""
    x = np.asarray(x, dtype=np.float64)
    e = np.asarray(energy, dtype=np.float64)
    b = (e >= pre[0]) & (e <= pre[1])
    a = (e >= post[0]) & (e <= post[1])
    n = x.shape[0]
    if b.sum() < 8 or a.sum() < 4 or n == 0:
        return np.full(n, np.nan), np.full(n, np.nan)
    u, up = np.log(e[b]), np.log(e[a])
    yb, ya = x[:, b], x[:, a]
    A = np.vstack([np.ones_like(u), u]).T
    # power law (log-log) where the pre-edge is positive, a line in log E otherwise
    pos = (yb > 0).all(axis=1)
    c_pl, *_ = np.linalg.lstsq(A, np.log(np.where(pos[:, None], yb, 1.0)).T, rcond=None)
    c_li, *_ = np.linalg.lstsq(A, yb.T, rcond=None)

    def fit(lv):
        return np.where(pos[:, None], np.exp(c_pl[0][:, None] + c_pl[1][:, None] * lv),
                        c_li[0][:, None] + c_li[1][:, None] * lv)

    fit_b, fit_a = fit(u), fit(up)
    jump = (ya - fit_a).mean(axis=1)
    s = np.sqrt(((yb - fit_b) ** 2).sum(axis=1) / max(b.sum() - 2, 1))
    # noise of the post-edge mean + error of the extrapolated fit at the post window's centre
    ub = u.mean()
    var_fit = 1.0 / u.size + (up.mean() - ub) ** 2 / ((u - ub) ** 2).sum()
    return jump, s * np.sqrt(1.0 / up.size + var_fit)


def o_k_state(rel, sig):
    """:data:`PRESENT`, :data:`ABSENT` or :data:`UNDECIDED` from the relative jump and its sigma."""
    ok = np.isfinite(rel) & np.isfinite(sig)
    return np.where(ok & (rel >= OK_REL) & (rel >= OK_Z * sig), PRESENT,
                    np.where(ok & (rel + 3.0 * sig < OK_REL), ABSENT, UNDECIDED))


def l3_reference(element):
    """Mean tabulated L3 maximum (eV) of the element's species (the anchor of :func:`o_k_evidence`'s windows)."""
    from ..simulation.oxidation import white_line_parameters

    sp = white_line_parameters()["species"]
    return float(np.mean([v["L3"][0] for v in sp.values() if v["element"] == element]))


def l3_maximum(x, energy, element, search=10.0):
    """Energy of each spectrum's L3 maximum above its power-law background, within +-``search`` eV of the table."""
    e = np.asarray(energy, dtype=np.float64)
    ref = l3_reference(element)
    lo, hi = ref - search - 2.0, ref + search
    x = np.asarray(x, dtype=np.float64)
    b = (e >= lo - 25.0) & (e <= lo - 3.0)
    w = (e >= lo) & (e <= hi)
    if b.sum() < 8 or w.sum() < 3:
        return np.full(x.shape[0], np.nan)
    A = np.vstack([np.ones(b.sum()), e[b]]).T
    c, *_ = np.linalg.lstsq(A, x[:, b].T, rcond=None)
    y = x[:, w] - (c[0][:, None] + c[1][:, None] * e[w][None])
    return e[w][np.argmax(y, axis=1)]


def o_k_evidence(x, energy, element, anchor=None):
    """O K jump per spectrum relative to the metal's white-line jump, its sigma, and the state.

    Parameters
    ----------
    x : (n, m) array
        Spectra (counts, any background) on ``energy``, which must cover :data:`OK_PRE`, :data:`OK_POST`
        and 35 eV below the metal's L3.
    energy : (m,) array
    element : str
    anchor : (n,) array, optional
        Energy of each spectrum's L3 maximum on this axis (default: :func:`l3_maximum`).

    Returns
    -------
    rel, sigma, state : (n,) arrays
        ``rel`` = O K jump (:func:`edge_jump`, :data:`OK_PRE` -> :data:`OK_POST`) over the white-line
        jump (fit from 35 to 10 eV below the L3 maximum, mean from 2 eV below to 6 eV above it);
        ``state``: :data:`PRESENT`, :data:`ABSENT`, or :data:`UNDECIDED` (also where the white-line
        jump is below 10 sigma). Power-law fits where the pre-edge is positive, else straight lines
        (background-subtracted data). Every window moves with the spectrum's L3 maximum (the L3 to
        O K distance does not depend on the axis calibration), in 1 eV steps.
    """
    x = np.asarray(x, dtype=np.float64)
    e = np.asarray(energy, dtype=np.float64)
    n = x.shape[0]
    a = l3_maximum(x, e, element) if anchor is None else np.asarray(anchor, dtype=np.float64)
    l3 = l3_reference(element)
    shift = np.round(a - l3)
    rel, sig = np.full(n, np.nan), np.full(n, np.nan)
    for d in np.unique(shift[np.isfinite(shift)]):
        rows = np.flatnonzero(shift == d)
        ref = l3 + d
        lj, ls = edge_jump(x[rows], e, (ref - 35.0, ref - 10.0), (ref - 2.0, ref + 6.0))
        oj, osig = edge_jump(x[rows], e, (OK_PRE[0] + d, OK_PRE[1] + d), (OK_POST[0] + d, OK_POST[1] + d))
        good = np.isfinite(lj) & (lj > 0) & (lj >= 10.0 * ls)
        h = np.where(good, lj, np.nan)
        rel[rows], sig[rows] = oj / h, osig / h
    return rel, sig, o_k_state(rel, sig)
