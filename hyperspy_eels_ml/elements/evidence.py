"""Physics evidence for element calls: power-law background fit + jump test at tabulated onsets.

This is both what :meth:`ElementsResult.explain` shows and the classical
(no learning) baseline of ``benchmarks/bench_identify.py``. For every Major
edge group of every element (edges of one element within 25 eV are one group,
e.g. L3+L2, M5+M4, evaluated at the lowest onset) whose tabulated onset
(exspy's element database) lies in the usable window, on the 1 eV grid:

1. measured onset: the steepest relative rise of the 2 eV-smoothed spectrum
   within ``+-tolerance`` eV of the tabulated onset (15 eV without an energy
   calibration, 3 eV with one);
2. power law ``A E^-r`` fitted in log-log by least squares over a pre-edge
   window (up to 50 eV, ending 4 eV below the measured onset, at least
   15 eV), vectorised over all spectra through cumulative sums (the same
   model as exspy's ``PowerLaw``; hyperspy's per-pixel ``remove_background``
   would be orders of magnitude slower on a 10^6-pixel SI);
3. signal ``S`` = counts minus the extrapolated background over up to 40 eV
   above the onset; jump ratio ``J = S / B``; signal-to-noise ratio
   ``SNR = S / noise``, the noise estimated from the pre-edge fit residuals and
   the extrapolation lever arm (so it also holds for non-Poisson, gain-scaled
   or dark-subtracted data).

The classical detector calls an element present when its best edge group has
``SNR >= 5`` and ``J >= 0.05`` (fixed a priori, never tuned on the real
spectra).
"""

from __future__ import annotations

import functools

import numpy as np

from .preprocess import HIGH_MARGIN, LABELS, LOW_MARGIN, N_GRID

__all__ = ["edge_groups", "edge_evidence", "classical_calls", "CLASSICAL_SNR", "CLASSICAL_JUMP"]

CLASSICAL_SNR = 5.0
CLASSICAL_JUMP = 0.05
PRE_MAX, PRE_MIN, PRE_GAP = 50, 15, 4
POST_MAX, POST_MIN = 40, 15


@functools.lru_cache(maxsize=1)
def edge_groups():
    """List of ``(label index, element, group name, lowest onset eV)`` for all Major edge groups."""
    from ..simulation.edges import edge_table

    t = edge_table()
    out = []
    for j, el in enumerate(LABELS):
        edges = sorted((float(t.onset[i]), str(t.subshell[i])) for i in t.edges_of(el) if t.relevance[i] == "Major")
        groups = []
        for on, sub in edges:
            if groups and on - groups[-1][0] <= 25.0:
                groups[-1][1].append(sub)
            else:
                groups.append([on, [sub]])
        for on, subs in groups:
            out.append((j, el, _group_name(subs), on))
    return out


def _group_name(subs):
    shells = sorted(set(subs), key=lambda s: (s[0], int(s[1:]) if s[1:].isdigit() else 0))
    if len(shells) == 1:
        return shells[0]
    letter = shells[0][0]
    nums = ",".join(s[1:] for s in shells)
    return f"{letter}{nums}"


def _cums(s):
    """Cumulative sums (with a leading 0) of the quantities of the log-log fit."""
    n = s.shape[0]
    e = np.arange(N_GRID, dtype=np.float64)
    le = np.log(np.maximum(e, 1.0))[None, :]
    ly = np.log(np.maximum(s, 1e-12))
    ok = (s > 0).astype(np.float64)
    z = np.zeros((n, 1))

    def c(a):
        return np.concatenate([z, np.cumsum(np.broadcast_to(a, s.shape), axis=1)], axis=1)

    return dict(n=c(ok), x=c(le * ok), xx=c(le * le * ok), y=c(ly * ok), xy=c(le * ly * ok),
                yy=c(ly * ly * ok), I=c(s))


def _win(c, key, a, b):
    rows = np.arange(a.size)
    return c[key][rows, b] - c[key][rows, a]


def edge_evidence(grid_counts, lo_ev, hi_ev, tolerance=15.0):
    """Evidence for every Major edge group, vectorised over spectra.

    Parameters
    ----------
    grid_counts : numpy.ndarray
        ``(n, 3072)`` spectra on the 1 eV grid (from
        :func:`~hyperspy_eels_ml.elements.preprocess.preprocess_block`).
    lo_ev, hi_ev : numpy.ndarray
        Usable windows (NaN: none).
    tolerance : float
        Search half-width (eV) for the measured onset.

    Returns
    -------
    dict
        ``groups`` (the list of :func:`edge_groups`) and ``(n, n_groups)``
        arrays ``evaluated`` (bool), ``onset`` (measured, eV), ``jump``,
        ``snr``.
    """
    from scipy.ndimage import gaussian_filter1d

    x = np.asarray(grid_counts, dtype=np.float64)
    n = x.shape[0]
    lo = np.nan_to_num(np.asarray(lo_ev, np.float64), nan=1e9)
    hi = np.nan_to_num(np.asarray(hi_ev, np.float64), nan=-1e9)
    s = gaussian_filter1d(x, 2.0, axis=1, mode="nearest", truncate=3.0)
    mx = np.maximum(s.max(axis=1, keepdims=True), 1e-12)
    rel = np.zeros_like(s)
    rel[:, 2:-2] = (s[:, 4:] - s[:, :-4]) / (4.0 * np.maximum(s[:, 2:-2], 1e-3 * mx))
    c = _cums(x)
    groups = edge_groups()
    G = len(groups)
    evaluated = np.zeros((n, G), bool)
    onset = np.full((n, G), np.nan)
    jump = np.full((n, G), np.nan)
    snr = np.full((n, G), np.nan)
    tol = int(round(tolerance))
    for g, (_, _, _, on) in enumerate(groups):
        ok = (on >= lo + LOW_MARGIN) & (on <= hi - HIGH_MARGIN)
        if not ok.any():
            continue
        # measured onset: steepest relative rise within the tolerance, inside the window
        cand = np.arange(int(on) - tol, int(on) + tol + 1)
        cand = cand[(cand > 2) & (cand < N_GRID - 3)]
        r = rel[:, cand]
        inside = (cand[None, :] >= lo[:, None] + 3) & (cand[None, :] <= hi[:, None] - POST_MIN)
        r = np.where(inside, r, -np.inf)
        em = cand[np.argmax(r, axis=1)]
        a_pre = np.maximum(em - PRE_GAP - PRE_MAX, lo.clip(0, N_GRID).astype(np.int64))
        b_pre = em - PRE_GAP
        a_post = em
        b_post = np.minimum(em + POST_MAX, np.clip(hi, 0, N_GRID - 1).astype(np.int64) + 1)
        ok &= (b_pre - a_pre >= PRE_MIN) & (b_post - a_post >= POST_MIN) & np.isfinite(r.max(axis=1))
        if not ok.any():
            continue
        a_pre, b_pre, a_post, b_post = (np.clip(v, 0, N_GRID) for v in (a_pre, b_pre, a_post, b_post))
        nn = _win(c, "n", a_pre, b_pre)
        sx, sxx, sy, sxy, syy = (_win(c, k, a_pre, b_pre) for k in ("x", "xx", "y", "xy", "yy"))
        den = nn * sxx - sx ** 2
        slope = np.where(den > 0, (nn * sxy - sx * sy) / np.where(den > 0, den, 1), np.nan)
        icpt = (sy - slope * sx) / np.maximum(nn, 1)
        rss = syy - 2 * icpt * sy - 2 * slope * sxy + icpt ** 2 * nn + 2 * icpt * slope * sx + slope ** 2 * sxx
        sig_log = np.sqrt(np.maximum(rss, 0) / np.maximum(nn - 2, 1))
        rexp = -slope
        e1 = a_post - 0.5
        e2 = b_post - 0.5
        with np.errstate(all="ignore"):
            one = 1.0 - rexp
            B = np.where(np.abs(one) > 1e-6, np.exp(icpt) * (e2 ** one - e1 ** one) / one,
                         np.exp(icpt) * np.log(e2 / e1))
        I_post = _win(c, "I", a_post, b_post)
        n_post = b_post - a_post
        S = I_post - B
        # noise: per-channel scatter from the pre-edge residuals, plus the extrapolation error
        # (lever arm ~ distance / pre-window length)
        lever = 1.0 + (n_post / 2 + PRE_GAP + (b_pre - a_pre) / 2) / np.maximum(b_pre - a_pre, 1) * 2
        noise = sig_log * np.sqrt(n_post) * np.maximum(I_post / np.maximum(n_post, 1), 1e-12) \
            + sig_log * B * lever / np.sqrt(np.maximum(nn, 1))
        # a Poisson floor when the data are counts (noise never below sqrt(counts))
        noise = np.sqrt(noise ** 2 + np.maximum(I_post, 0))
        with np.errstate(all="ignore"):
            jr = S / B
            sn = S / noise
        good = ok & np.isfinite(jr) & np.isfinite(sn) & (B > 0)
        evaluated[:, g] = good
        onset[good, g] = em[good]
        jump[good, g] = jr[good]
        snr[good, g] = sn[good]
    return dict(groups=groups, evaluated=evaluated, onset=onset, jump=jump, snr=snr)


def per_element(ev):
    """Best edge group per element: ``(n, 80)`` arrays ``snr``, ``jump``, ``onset``, ``group`` (index, -1)."""
    groups = ev["groups"]
    n = ev["snr"].shape[0]
    best_snr = np.full((n, len(LABELS)), np.nan)
    best_jump = np.full((n, len(LABELS)), np.nan)
    best_on = np.full((n, len(LABELS)), np.nan)
    best_g = np.full((n, len(LABELS)), -1, dtype=np.int64)
    for g, (j, _, _, _) in enumerate(groups):
        sn = ev["snr"][:, g]
        better = np.isfinite(sn) & ~(sn <= np.nan_to_num(best_snr[:, j], nan=-np.inf))
        best_snr[better, j] = sn[better]
        best_jump[better, j] = ev["jump"][better, g]
        best_on[better, j] = ev["onset"][better, g]
        best_g[better, j] = g
    return dict(snr=best_snr, jump=best_jump, onset=best_on, group=best_g)


def classical_calls(best, snr_min=CLASSICAL_SNR, jump_min=CLASSICAL_JUMP):
    """Boolean ``(n, 80)``: the classical edge-jump detector's calls."""
    return (np.nan_to_num(best["snr"], nan=-1) >= snr_min) & (np.nan_to_num(best["jump"], nan=-1) >= jump_min)
