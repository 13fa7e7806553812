"""Kernel of the classical L3/L2 white-line ratio (pure numpy/scipy): :func:`white_line_ratio` and the L3 rule
:func:`first_strong_maximum`.

Public as :func:`hyperspy_eels_ml.oxidation.ratio.white_line_ratio` (whose module docstring gives the recipe and
its choices) and ``hyperspy_eels_ml.oxidation.preprocess.first_strong_maximum``. It lives in the simulation layer
because the simulator measures its ``r_int`` targets with it (``ratio_observable="r_int"`` /
``"r_int_species"``), and the simulation layer imports no capability; the capabilities import this module.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["WhiteLineRatio", "white_line_ratio", "first_strong_maximum"]


def first_strong_maximum(sm, fraction, base_ceiling=None):
    """Per row, the first local maximum reaching a fraction of the highest one: the L3 rule.

    Shared by the window anchor ``"onset_first"``
    (:func:`hyperspy_eels_ml.oxidation.preprocess.extract_features`) and the classical ratio
    (:func:`~hyperspy_eels_ml.oxidation.ratio.white_line_ratio`); public as
    ``hyperspy_eels_ml.oxidation.preprocess.first_strong_maximum``.

    Parameters
    ----------
    sm : numpy.ndarray
        ``(n, m)`` smoothed spectra over the search range only.
    fraction : float
        A maximum counts when it stands at least this fraction of the row's range
        (highest value minus the level) above the level.
    base_ceiling : float, optional
        The level is the row minimum, or this value where the minimum is higher
        (``0.0`` for background-free spectra: the pre-edge level is at most zero).

    Returns
    -------
    index : numpy.ndarray
        ``(n,)`` column of the first interior maximum (not smaller than its left
        neighbour, larger than its right one) that is strong enough; 0 where none is.
    found : numpy.ndarray
        ``(n,)`` bool, whether such a maximum exists.
    """
    base = sm.min(axis=1)
    if base_ceiling is not None:
        base = np.minimum(base, base_ceiling)
    top = sm.max(axis=1)
    interior = np.zeros(sm.shape, bool)
    interior[:, 1:-1] = (sm[:, 1:-1] >= sm[:, :-2]) & (sm[:, 1:-1] > sm[:, 2:])
    strong = interior & (sm - base[:, None] >= fraction * (top - base)[:, None])
    found = strong.any(axis=1)
    return np.where(found, np.argmax(strong, axis=1), 0), found


class WhiteLineRatio(NamedTuple):
    """Result of :func:`white_line_ratio` (arrays of length n)."""

    ratio: np.ndarray  #: integrated I(L3)/I(L2) after the double-step continuum (NaN: not measured)
    l3: np.ndarray  #: energy of the L3 maximum (smoothed), in the units of ``energy``
    l2: np.ndarray  #: energy of the L2 maximum (smoothed)
    level_from_continuum: np.ndarray  #: bool, the step level was read 4-8 eV above L2 (False: narrow-window rule)


def _gauss_smooth(y, sigma_ch):
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(y, max(float(sigma_ch), 1e-6), axis=1, mode="nearest") if sigma_ch > 0 else y


def white_line_ratio(energy, spectra, l3_range, split, *, first_peak_fraction=0.5, smoothing=0.5,
                     half_width=4.0, level_window=(4.0, 8.0), step_width=0.75):
    """Pearson-style integrated L3/L2 ratio of background-free spectra (the recipe and its choices:
    :mod:`hyperspy_eels_ml.oxidation.ratio`, where this function is public).

    Parameters
    ----------
    energy : array_like
        ``(m,)`` uniform axis (eV, or eV offsets from an anchor).
    spectra : array_like
        ``(n, m)`` or ``(m,)`` background-subtracted intensities.
    l3_range : tuple of float
        ``(lo, hi)``: where the L3 maximum is searched.
    split : float
        Expected L2 - L3 distance (eV); L2 is the maximum within +-2 eV of ``L3 + split``.
    first_peak_fraction : float
        L3 is the first local maximum reaching this fraction of the highest one above the pre-edge level.
    smoothing : float
        Gaussian sigma (eV) of the smoothing used to locate the maxima and the trough (the integrals use
        the unsmoothed spectra).
    half_width, level_window, step_width : float, tuple, float
        Integration half-width, continuum-level window above L2 and arctan half-width (eV).

    Returns
    -------
    WhiteLineRatio
    """
    e = np.asarray(energy, dtype=np.float64)
    y = np.atleast_2d(np.asarray(spectra, dtype=np.float64))
    if y.shape[1] != e.size or e.size < 3:
        raise ValueError(f"spectra have {y.shape[1]} channels, energy has {e.size}")
    n = y.shape[0]
    d = float(e[1] - e[0])
    # pre-edge level: the first eV of the axis (background-free data sit at about 0 there)
    y = y - y[:, e < e[0] + 1.0].mean(axis=1, keepdims=True)
    sm = _gauss_smooth(y, smoothing / d)
    rows = np.arange(n)
    j = np.arange(e.size)
    inr = (e >= l3_range[0]) & (e <= l3_range[1])
    if inr.sum() < 3:
        nan = np.full(n, np.nan)
        return WhiteLineRatio(nan, nan.copy(), nan.copy(), np.zeros(n, bool))
    j0, j1 = int(np.flatnonzero(inr)[0]), int(np.flatnonzero(inr)[-1])
    # a maximum needs a neighbour on both sides inside the range; the pre-edge level is at most zero
    first, found = first_strong_maximum(sm[:, j0 : j1 + 1], first_peak_fraction, base_ceiling=0.0)
    i3 = np.where(found, j0 + first, j0)
    e3 = e[i3]
    near2 = np.abs(e[None] - (e3[:, None] + split)) <= 2.0
    inside2 = (e3 + split - 2.0 >= e[0]) & (e3 + split + 2.0 <= e[-1])
    i2 = np.argmax(np.where(near2, sm, -np.inf), axis=1)
    e2 = e[i2]
    lo_w, hi_w = e2 + level_window[0], np.minimum(e2 + level_window[1], e[-1])
    from_cont = hi_w - lo_w >= 1.0
    win = (e[None] >= lo_w[:, None]) & (e[None] <= hi_w[:, None])
    level_c = np.where(win, y, 0.0).sum(axis=1) / np.maximum(win.sum(axis=1), 1)
    between = (j[None] > i3[:, None]) & (j[None] < i2[:, None]) & \
        (e[None] > e3[:, None] + 2.0) & (e[None] < e2[:, None] - 2.0)
    trough = np.where(between, sm, np.inf).min(axis=1)
    trough = np.where(np.isfinite(trough), trough, 0.0)
    level_n = np.minimum(y[:, e > e[-1] - 1.0].mean(axis=1), 1.5 * trough)
    level = np.clip(np.where(from_cont, level_c, level_n), 0.0, None)
    step = level[:, None] * (2 / 3 * (0.5 + np.arctan((e[None] - e3[:, None]) / step_width) / np.pi)
                             + 1 / 3 * (0.5 + np.arctan((e[None] - e2[:, None]) / step_width) / np.pi))
    wl = np.clip(y - step, 0.0, None)
    hw = np.minimum(half_width, 0.5 * (e2 - e3))
    a3 = np.where(np.abs(e[None] - e3[:, None]) <= hw[:, None], wl, 0.0).sum(axis=1)
    a2 = np.where(np.abs(e[None] - e2[:, None]) <= hw[:, None], wl, 0.0).sum(axis=1)
    ok = found & inside2 & (a2 > 0) & (e2 > e3)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ok, a3 / np.where(a2 > 0, a2, 1.0), np.nan)
    e3 = np.where(found, e3, np.nan)
    e2 = np.where(ok, e2, np.nan)
    return WhiteLineRatio(ratio, e3, e2, from_cont & ok)
