"""Continuum evidence about metals: the post-L2 step relative to the L3 white line.

The normalised white-line intensity follows the number of 3d holes, and a
metal's band-like lines are broader and lower than an oxide's: relative to the
continuum step above L2, a metal's L3 line is lower. :func:`continuum_ratio`
measures ``q`` = mean level from 6 to 10 eV above the L2 line (onset + the
largest tabulated L2-L3 splitting) over the L3 height, both above the pre-edge
level, on background-removed spectra.

Status: a study, **not used by** :func:`~hyperspy_eels_ml.classify_oxidation`.
It was designed as evidence for ``metals=None`` where nothing else decides (no
O K window, no ``metadata.Sample.elements``, no calibrated chemical shift): a
ratio in the metals' range would make the result *undecided*
(:func:`undecided_mixture`), never a metal on its own. On held-out simulation
(``benchmarks/bench_oxidation_continuum.py``) the oxides' and metals' ranges of
``q`` overlap, so that rule failed its ship rule (it would flag 53-95 % of the
simulated oxides) and is not applied; see the oxidation user guide.
No cited value of the metals' or oxides' post-L2 continuum was found (session 5);
``benchmarks/bench_oxidation_continuum.py --contrast`` shows that the metals'
continuum step would have to be about three times the table's before the flag
and admission parts of the rule could pass.
"""

from __future__ import annotations

import numpy as np

#: continuum window above the L2 line (eV after onset + splitting)
CONT_WINDOW = (6.0, 10.0)
#: at least this much of the continuum window must lie inside the data (eV)
CONT_MIN = 2.0


def continuum_ratio(x, energy, onset, split):
    """Per spectrum: mean post-L2 continuum over the L3 height (NaN where not measurable).

    Parameters
    ----------
    x : (n, m) array
        Background-removed spectra on ``energy``.
    energy : (m,) array
    onset : (n,) array
        L3 onset of each spectrum on this axis (eV; NaN: not found).
    split : float
        Largest tabulated L2-L3 splitting of the element (eV).
    """
    x = np.asarray(x, dtype=np.float64)
    e = np.asarray(energy, dtype=np.float64)
    onset = np.asarray(onset, dtype=np.float64)
    q = np.full(x.shape[0], np.nan)
    for i in np.flatnonzero(np.isfinite(onset)):
        o = onset[i]
        pre = (e >= o - 2.5) & (e <= o - 1.0)
        l3 = (e >= o - 1.0) & (e <= o + 5.0)
        c = (e >= o + split + CONT_WINDOW[0]) & (e <= o + split + CONT_WINDOW[1])
        if pre.sum() < 2 or l3.sum() < 3 or c.sum() < 2 or np.ptp(e[c]) < CONT_MIN - 1e-6:
            continue
        level = x[i, pre].mean()
        # L3 height on a 3-channel running mean (noise-robust maximum)
        y = np.convolve(x[i, l3], np.ones(3) / 3.0, mode="valid") if l3.sum() >= 3 else x[i, l3]
        h = y.max() - level
        if h > 0:
            q[i] = (x[i, c].mean() - level) / h
    return q


def undecided_mixture(v_ox, h_ox, v_me, h_me):
    """Equal-weight mixture of the oxide and metal readings: (mean, 68 % half-width)."""
    m = 0.5 * (v_ox + v_me)
    var = 0.5 * (h_ox ** 2 + h_me ** 2) + 0.25 * (v_ox - v_me) ** 2
    return m, np.sqrt(var)


def max_splitting(element):
    """Largest tabulated L2-L3 (M4-M5) splitting of the element's species (eV)."""
    from ..simulation.oxidation import white_line_parameters

    sp = white_line_parameters()["species"]
    return float(max(v["splitting"][0] for v in sp.values() if v["element"] == element))
