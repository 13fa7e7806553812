"""Band-gap fits ``A (E - Eg)^b`` on every replica of every pixel (vectorised grid search).

Honesty rules: a pixel whose replica fits end at the edge of the Eg search grid,
or whose onset amplitude is not significant (the fit is not better than "no
onset" by 3 sigma), gets NaN with a reason code and a warning, never a number.
The onset law is checked per pixel: the direct (b = 0.5) and indirect (b = 1.5)
laws are both fitted, and a pixel whose data cannot tell them apart (chi^2
differing by less than :data:`LAW_DELTA_CHI2`, see :func:`law_decisive`), or
whose fixed exponent is beaten decisively by the other law, is flagged with a
warning.
"""

from __future__ import annotations


import dask
import dask.array as da
import numpy as np

from .._shared.warn import warn
from .._shared.batch import as_dask, compute, map_spectra
from .._shared.signals import navigation_map, record_provenance
from .._shared.validation import EnergyRangeError

__all__ = ["fit_onset", "fit_band_gap_replicas", "default_window", "parse_loss_range", "law_decisive",
           "LAW_EXPONENTS", "LAW_DELTA_CHI2", "FLAG_LAW_NOT_RESOLVED", "FLAG_LAW_REJECTED", "LAW_FLAG_NAMES"]

#: minimum improvement of chi^2 over the "no onset" model for an onset to count as resolved (3 sigma)
MIN_DELTA_CHI2 = 9.0
#: the textbook onset laws compared per pixel: direct (allowed) and indirect (allowed) gap exponents
LAW_EXPONENTS = (0.5, 1.5)
#: default chi^2 difference between the two laws for the data to decide between them (3 sigma; both laws have the
#: same free parameters, so the difference is twice a log-likelihood ratio), in units of the better law's reduced
#: chi^2 where that exceeds 1 (see :func:`law_decisive`)
LAW_DELTA_CHI2 = 9.0
#: bits of :attr:`BandGapResult.flags <hyperspy_eels_ml.zlp.BandGapResult>`
FLAG_LAW_NOT_RESOLVED = 1  #: exponent not fixed, the two laws' chi^2 differ by less than the threshold
FLAG_LAW_REJECTED = 2  #: exponent fixed, another textbook law fits better by at least the threshold
LAW_FLAG_NAMES = {FLAG_LAW_NOT_RESOLVED: "onset law not resolved (direct and indirect fit equally well)",
                  FLAG_LAW_REJECTED: "the fixed exponent is beaten decisively by the other textbook law"}
#: what ``exponent=None`` does: ``"free"`` (b fitted on 0.3-2.5 everywhere) or ``"chi2"`` (b fixed at the law
#: the data decide for, where they decide)
DEFAULT_LAW = "chi2"


def law_decisive(delta_chi2_law, chi2_direct, chi2_indirect, threshold=LAW_DELTA_CHI2):
    """Where the data decide between the direct and the indirect law (the rule of the band-gap law check).

    ``abs(delta) / max(1, min(chi2_direct, chi2_indirect)) >= threshold``: the
    chi^2 difference (sums) in units of the better law's reduced chi^2 where
    that exceeds 1, so that data noisier than the noise model (e.g. several
    detector counts per electron with ``count_gain=1``) do not make the check
    over-confident. Arguments are arrays (or the maps' ``.data``) of a
    :class:`~hyperspy_eels_ml.zlp.BandGapResult`.
    """
    scale = np.maximum(1.0, np.minimum(np.asarray(chi2_direct, float), np.asarray(chi2_indirect, float)))
    return np.abs(np.asarray(delta_chi2_law, float)) / scale >= threshold


def fit_onset(E, I, weights, eg_grid, b_values, full_output=False, nuisance=None):
    """Weighted least squares of ``A (E - Eg)^b`` (A >= 0) on a grid of Eg and b.

    Parameters
    ----------
    E : (n,) energies of the fit window
    I : (..., n) spectra (any leading shape)
    weights : (..., n) or (n,) inverse variances
    eg_grid : (G,) trial gaps
    b_values : sequence of trial exponents
    full_output : bool
        Also return ``at_edge`` (best Eg on the first or last grid point),
        ``chi2`` (weighted sum of squares of the best fit) and ``delta_chi2``
        (its improvement over ``A = 0``).
    nuisance : (..., n) array, optional
        A template fitted with a free linear coefficient together with the onset,
        ``I = A (E - Eg)^b + k T``: the subtracted ZLP, so that an error of the
        ZLP tail's level in the window (which the replicas do not sample, see
        :func:`fit_band_gap_replicas`) is fitted instead of read as onset
        signal, and its uncertainty enters the gap's. The "no onset" model of
        ``delta_chi2`` then is ``k T`` alone.

    Returns
    -------
    Eg, b, A : arrays of the leading shape (Eg refined by a parabola through the best grid point)
    at_edge, chi2, delta_chi2 : arrays of the leading shape, only with ``full_output``
    """
    I = np.asarray(I, dtype=np.float64)
    lead = I.shape[:-1]
    I2 = I.reshape(-1, I.shape[-1])
    Wt = np.broadcast_to(weights, I.shape).reshape(-1, I.shape[-1])
    best_sse = np.full(I2.shape[0], np.inf)
    best_g = np.zeros(I2.shape[0], int)
    best_b = np.zeros(I2.shape[0])
    sse_best_curve = None
    d = np.clip(E[None, :] - eg_grid[:, None], 0, None)  # (G, n)
    wI2 = (Wt * I2**2).sum(axis=1)
    if nuisance is not None:
        T = np.broadcast_to(np.asarray(nuisance, dtype=np.float64), I.shape).reshape(I2.shape)
        s_tt = np.maximum((Wt * T**2).sum(axis=1), 1e-300)
        s_it = (Wt * I2 * T).sum(axis=1)
        sse0 = wI2 - s_it**2 / s_tt  # the template alone (no onset)
    else:
        sse0 = wI2
    for b in b_values:
        B = d**b  # (G, n)
        num = (Wt * I2) @ B.T  # (P, G)
        den = Wt @ (B**2).T  # (P, G)
        with np.errstate(divide="ignore", invalid="ignore"):
            if nuisance is None:
                sse = wI2[:, None] - np.where((num > 0) & (den > 0), num**2 / den, 0.0)
            else:  # 2x2 normal equations in (A, k); where A < 0 the constrained optimum is A = 0
                s_bt = (Wt * T) @ B.T
                det = den * s_tt[:, None] - s_bt**2
                a = (num * s_tt[:, None] - s_bt * s_it[:, None]) / det
                k = (den * s_it[:, None] - s_bt * num) / det
                ok = (a > 0) & (det > 1e-12 * np.maximum(den * s_tt[:, None], 1e-300))
                sse = np.where(ok, wI2[:, None] - a * num - k * s_it[:, None], sse0[:, None])
        g = np.argmin(sse, axis=1)
        s = sse[np.arange(sse.shape[0]), g]
        better = s < best_sse
        best_sse[better], best_g[better], best_b[better] = s[better], g[better], b
        if sse_best_curve is None:
            sse_best_curve = sse.copy()
        else:
            sse_best_curve[better] = sse[better]
    rows = np.arange(I2.shape[0])
    g = np.clip(best_g, 1, eg_grid.size - 2)
    y0, y1, y2 = sse_best_curve[rows, g - 1], sse_best_curve[rows, g], sse_best_curve[rows, g + 1]
    den = y0 - 2 * y1 + y2
    step = eg_grid[1] - eg_grid[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.where(den > 0, 0.5 * (y0 - y2) / den, 0.0)
    eg = eg_grid[g] + np.clip(off, -1, 1) * step
    at_edge = (best_g == 0) | (best_g == eg_grid.size - 1)
    eg = np.where(at_edge, eg_grid[best_g], eg)
    B = np.clip(E[None, :] - eg[:, None], 0, None) ** best_b[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        if nuisance is None:
            A = np.clip((Wt * I2 * B).sum(1) / (Wt * B**2).sum(1), 0, None)
        else:
            s_bb, s_ib, s_bt = (Wt * B**2).sum(1), (Wt * I2 * B).sum(1), (Wt * T * B).sum(1)
            A = np.clip((s_ib * s_tt - s_bt * s_it) / (s_bb * s_tt - s_bt**2), 0, None)
    out = (eg.reshape(lead), best_b.reshape(lead), np.nan_to_num(A).reshape(lead))
    if full_output:
        out += (at_edge.reshape(lead), best_sse.reshape(lead), (sse0 - best_sse).reshape(lead))
    return out


def eg_grid_for(lo, hi, dispersion):
    """Trial gaps for a window ``(lo, hi)``: from ``lo - (hi - lo)/2`` (>= 0) to 3 channels before ``hi``."""
    step = min(dispersion / 2, 0.025)
    return np.arange(max(lo - 0.5 * (hi - lo), 0.0), hi - 3 * dispersion, step)


def default_window(result):
    """Band-gap fit window from the data: ``(lo, hi)`` in eV.

    ``lo`` = the larger of 2 x the ZLP FWHM and 0.8 x the smallest specimen
    ``dE1``: below ``dE1`` the networks are fitted to the data, so an onset
    there is absorbed into the ZLP and cannot be resolved (with a vacuum
    reference ``dE1`` is where the specimen departs from the vacuum, i.e. the
    onset itself, hence the 0.8); ``hi`` = where
    the pixel-averaged inelastic signal (smoothed) first reaches 30 % of its
    maximum between ``lo`` and ``min(lo + 8 eV, end of axis)``, at least
    ``lo + 1 eV`` and 8 channels.
    """
    from .features import smooth

    model, v = result.model, result._v
    e = v.energy
    disp = v.dispersion
    spec = ~np.asarray(model.clusters["vacuum"], bool)
    d1 = np.asarray(model.clusters["dE1"], float)[spec] if spec.any() else np.asarray(model.clusters["dE1"])
    lo = max(2 * model.fwhm, 0.8 * float(d1.min()), e[0])
    data = result.inelastic.data
    mean = data.reshape(-1, e.size).mean(axis=0)
    if isinstance(mean, da.Array):
        mean = mean.compute()
    mean = np.asarray(mean, float)
    stop = min(lo + 8.0, e[-1])
    sel = (e >= lo) & (e <= stop)
    sm = smooth(mean, max(3, round(0.2 / disp)))
    hi = stop
    if sel.any() and np.max(sm[sel]) > 0:
        idx = np.flatnonzero(sel)
        reach = idx[sm[idx] >= 0.3 * np.max(sm[idx])]
        if reach.size:
            hi = float(e[reach[0]])
    hi = min(max(hi, lo + 1.0, lo + 8 * disp), e[-1])
    return float(lo), float(hi)


def fit_band_gap_replicas(result, energy_range=None, exponent=None, law_delta_chi2=LAW_DELTA_CHI2,
                          show_progressbar=None, lazy_output=None):
    """See :meth:`hyperspy_eels_ml.zlp.ZLPResult.fit_band_gap`."""
    from .._shared.exceptions import ParameterError
    from .._shared.params import check_float
    from .blocks import ZLP_NUISANCE, band_gap_block
    from .result import BandGapResult

    v, model = result._v, result.model
    e = v.energy
    disp = v.dispersion
    if isinstance(exponent, str):
        if exponent not in ("free", "chi2"):
            raise ParameterError(f"exponent must be a number > 0, None, 'free' or 'chi2', got {exponent!r}.")
        law = exponent
    else:
        exponent = check_float("exponent", exponent, min=0, inclusive=(False, True), allow_none=True)
        law = DEFAULT_LAW if exponent is None else "fixed"
    law_delta_chi2 = check_float("law_delta_chi2", law_delta_chi2, min=0)
    if energy_range is None:
        lo, hi = default_window(result)
    else:
        lo, hi = parse_loss_range(e, energy_range, above_zero=False)
    window = np.flatnonzero((e >= lo) & (e <= hi))
    if window.size < 5:
        raise EnergyRangeError(f"energy_range ({lo:g}, {hi:g}) eV holds only {window.size} channels of "
                               f"{disp:g} eV; a band-gap fit needs at least 5: widen it to at least "
                               f"{5 * disp:g} eV")
    eg_grid = eg_grid_for(lo, hi, disp)
    if eg_grid.size < 3:
        raise EnergyRangeError(f"energy_range ({lo:g}, {hi:g}) eV is too short for a gap search at "
                               f"{disp:g} eV per channel")
    b_values = [float(exponent)] if law == "fixed" else list(np.round(np.arange(0.3, 2.55, 0.1), 2))
    lazy_output = v.lazy if lazy_output is None else bool(lazy_output)
    c_grid, table = model.log_zlp_table(e)
    dtable = dask.delayed(table, pure=True)
    batch = int(max(1, min(64, 2_000_000 // max(table.shape[0] * eg_grid.size, 1))))
    names = BandGapResult._signals
    n_out = len(names)
    out = map_spectra(as_dask(v.data), band_gap_block, n_out, np.float32, extra_args=(dtable,), energy=e,
                      core=model.core, c_grid=c_grid, window=window, eg_grid=eg_grid, b_values=b_values,
                      count_gain=float(result.count_gain), batch=batch,
                      base_c=np.asarray(model.clusters["c"], float), scatter=model.scatter_table(),
                      dark=model.dark_level, n_params=2 + (law != "fixed") + int(ZLP_NUISANCE), law=law,
                      law_values=LAW_EXPONENTS, law_delta_chi2=law_delta_chi2)
    if not v.navigation_shape:
        out = out[0]
    parts = [out[..., k] for k in range(n_out)]
    if not lazy_output:
        parts = list(compute(*parts, show_progressbar=show_progressbar))
    b0, b1 = LAW_EXPONENTS
    titles = ("Band gap Eg (eV)", "Eg 16 %", "Eg 84 %", "Onset exponent b", "b 16 %", "b 84 %",
              "Band-gap fit reduced chi^2", "Band-gap fit reason (0 fitted, 1 grid edge, 2 no onset)",
              f"Reduced chi^2 of the direct law (b = {b0:g})", f"Reduced chi^2 of the indirect law (b = {b1:g})",
              f"chi^2(b = {b0:g}) - chi^2(b = {b1:g}) (> 0: indirect favoured)",
              "Band-gap law flags (1 law not resolved, 2 fixed exponent beaten by the other law)")
    quantities = ("eV", "eV", "eV", "b", "b", "b", "chi2", "reason", "chi2", "chi2", "delta chi2", "flags")
    params = dict(energy_range=[lo, hi], exponent=exponent if law == "fixed" else law, law=law,
                  law_exponents=list(LAW_EXPONENTS), law_delta_chi2=law_delta_chi2, n_replicas=model.n_replicas)
    sigs = {}
    for name, data, title, q in zip(names, parts, titles, quantities):
        if not isinstance(data, da.Array):
            data = np.asarray(data)
        if name == "flags":
            data = data.astype(np.uint8)
        m = navigation_map(v.signal, data, title, quantity=q)
        record_provenance(m, "zlp.ZLPResult.fit_band_gap", params, extra=dict(output=name))
        sigs[name] = m
    res = BandGapResult(energy_range=(lo, hi), law=law, law_delta_chi2=law_delta_chi2,
                        exponent=exponent if law == "fixed" else None, _navigation_shape=tuple(v.navigation_shape),
                        **sigs)
    if not lazy_output:
        warn_unresolved(res)
        warn_law(res, exponent)
    return res


def parse_loss_range(e, energy_range, *, above_zero=True, what=""):
    """``(start, end)`` in eV of a user's ``energy_range`` for the low-loss fits (band gap, plasmon, peaks).

    One parser for the three fits: the range must be a pair of numbers, increasing and inside the signal's
    axis ``e``; ``above_zero`` also asks for a start above 0 eV (loss side only). ``what`` prefixes the
    message (e.g. ``"fit_peaks: "``). Raises :class:`EnergyRangeError`.
    """
    try:
        lo, hi = (float(x) for x in energy_range)
    except (TypeError, ValueError) as exc:
        raise EnergyRangeError(f"{what}energy_range must be (start, end) in eV, got {energy_range!r}") from exc
    if above_zero and not (max(e[0], 0.0) < lo < hi <= e[-1]):
        raise EnergyRangeError(f"{what}energy_range ({lo:g}, {hi:g}) eV must be increasing, above 0 eV and "
                               f"inside the signal's axis ({e[0]:g} to {e[-1]:g} eV)")
    if not above_zero and not (e[0] <= lo < hi <= e[-1]):
        raise EnergyRangeError(f"{what}energy_range ({lo:g}, {hi:g}) eV must be increasing and inside the "
                               f"signal's axis ({e[0]:g} to {e[-1]:g} eV)")
    return lo, hi


def nan_pixels(reason, code):
    """Which pixels of a per-pixel ``reason`` map carry ``code``, as text for a warning (None if none)."""
    r = np.atleast_1d(np.asarray(reason))
    bad = r == code
    if not bad.any():
        return None
    if r.size == 1 and np.ndim(reason) == 0:
        return "the spectrum"
    first = [tuple(int(x) for x in i) for i in np.argwhere(bad)[:5]]
    return f"{bad.sum()} of {r.size} pixels (first: {first})"


def warn_unresolved(res):
    """Warn (naming the pixels) where the band-gap fit returned NaN."""
    lo, hi = res.energy_range
    for code, text, hint in ((1, "the best gap lies at the edge of the search grid or below the window start",
                              "move energy_range so that it starts below the onset and ends above it"),
                             (2, "no resolved onset (not better than no onset by 3 sigma)",
                              "the gap may be outside the window, the signal too weak, or the ZLP tail "
                              "unsubtracted")):
        where = nan_pixels(res.reason.data, code)
        if where:
            warn(f"fit_band_gap({lo:g}-{hi:g} eV): {text} for {where}: Eg = NaN there. {hint}.",
                 UserWarning)


def warn_law(res, exponent=None):
    """Warn once per law flag (naming the pixels) where the onset-law check did not back the reported law."""
    lo, hi = res.energy_range
    flags = np.asarray(res.flags.data).astype(int)
    b0, b1 = LAW_EXPONENTS
    thr = res.law_delta_chi2
    where = nan_pixels(flags & FLAG_LAW_NOT_RESOLVED, FLAG_LAW_NOT_RESOLVED)
    if where:
        out = ("b fitted freely there (0.3-2.5)" if res.law == "free" else
               "b fitted freely there (0.3-2.5), not fixed at a law the data do not choose")
        warn(f"fit_band_gap({lo:g}-{hi:g} eV): onset law not resolved for {where}: the direct (b = {b0:g}) and "
             f"indirect (b = {b1:g}) laws fit within chi^2 {thr:g} of each other (x the better law's reduced chi^2 "
             f"where > 1; see .delta_chi2_law), {out}; "
             f"the gap depends on the law: fix the exponent from the physics, or widen energy_range above the "
             f"onset.", UserWarning)
    where = nan_pixels(flags & FLAG_LAW_REJECTED, FLAG_LAW_REJECTED)
    if where:
        other = " or ".join(f"b = {x:g}" for x in LAW_EXPONENTS if exponent is None or abs(x - exponent) > 1e-9)
        warn(f"fit_band_gap({lo:g}-{hi:g} eV): with exponent={exponent:g} the other textbook law ({other}) fits "
             f"better by chi^2 >= {thr:g} (x the reduced chi^2 where > 1) for {where} (see .chi2_direct, .chi2_indirect, .delta_chi2_law): the "
             f"fixed exponent is likely the wrong law there.", UserWarning)
