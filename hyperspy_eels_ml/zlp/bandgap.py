"""Band-gap fits ``A (E - Eg)^b`` on every replica of every pixel (vectorised grid search)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import dask
import dask.array as da
import numpy as np

from .._shared.batch import as_dask, compute, map_spectra
from .._shared.signals import navigation_map, record_provenance, to_eager
from .._shared.validation import EnergyRangeError, check_finite_block

__all__ = ["BandGapResult", "fit_band_gap_replicas", "fit_onset"]


@dataclass
class BandGapResult:
    """Band gap and onset exponent per pixel, replica median and 68 % interval (maps)."""

    Eg: object
    Eg_lower: object
    Eg_upper: object
    b: object
    b_lower: object
    b_upper: object

    def compute(self, show_progressbar=None):
        """Compute the lazy maps together (in place); returns self."""
        names = [n for n in ("Eg", "Eg_lower", "Eg_upper", "b", "b_lower", "b_upper") if getattr(self, n)._lazy]
        if names:
            arrays = compute(*[getattr(self, n).data for n in names], show_progressbar=show_progressbar)
            for n, a in zip(names, arrays):
                setattr(self, n, to_eager(getattr(self, n), a))
        return self


def fit_onset(E, I, weights, eg_grid, b_values):
    """Weighted least squares of ``A (E - Eg)^b`` (A >= 0) on a grid of Eg and b.

    Parameters
    ----------
    E : (n,) energies of the fit window
    I : (..., n) spectra (any leading shape)
    weights : (..., n) or (n,) inverse variances
    eg_grid : (G,) trial gaps
    b_values : sequence of trial exponents

    Returns
    -------
    Eg, b, A : arrays of the leading shape (Eg refined by a parabola through the best grid point)
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
    for b in b_values:
        B = d**b  # (G, n)
        num = (Wt * I2) @ B.T  # (P, G)
        den = Wt @ (B**2).T  # (P, G)
        with np.errstate(divide="ignore", invalid="ignore"):
            sse = wI2[:, None] - np.where((num > 0) & (den > 0), num**2 / den, 0.0)
        g = np.argmin(sse, axis=1)
        s = sse[np.arange(sse.shape[0]), g]
        better = s < best_sse
        best_sse[better], best_g[better], best_b[better] = s[better], g[better], b
        if sse_best_curve is None:
            sse_best_curve = sse.copy()
        else:
            sse_best_curve[better] = sse[better]
    # parabolic refinement of Eg around the best grid point
    rows = np.arange(I2.shape[0])
    g = np.clip(best_g, 1, eg_grid.size - 2)
    y0, y1, y2 = sse_best_curve[rows, g - 1], sse_best_curve[rows, g], sse_best_curve[rows, g + 1]
    den = y0 - 2 * y1 + y2
    step = eg_grid[1] - eg_grid[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.where(den > 0, 0.5 * (y0 - y2) / den, 0.0)
    eg = eg_grid[g] + np.clip(off, -1, 1) * step
    eg = np.where((best_g == 0) | (best_g == eg_grid.size - 1), eg_grid[best_g], eg)
    B = np.clip(E[None, :] - eg[:, None], 0, None) ** best_b[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        A = np.clip((Wt * I2 * B).sum(1) / (Wt * B**2).sum(1), 0, None)
    return eg.reshape(lead), best_b.reshape(lead), np.nan_to_num(A).reshape(lead)


def _seed_of(spectrum):
    return zlib.crc32(np.ascontiguousarray(spectrum, dtype=np.float32).tobytes())


def _band_gap_block(J, table, energy, core, c_grid, window, eg_grid, b_values, count_gain, batch, base_c, scatter):
    from .subtract import _interp_clusters, _pixel_zlp_replicas

    J = np.asarray(J, dtype=np.float32)
    check_finite_block(J)
    P = J.shape[0]
    R = table.shape[0]
    out = np.empty((P, 6), dtype=np.float32)
    Ew = energy[window]
    for a in range(0, P, batch):
        b = min(P, a + batch)
        Jb = J[a:b]
        Z, _, c = _pixel_zlp_replicas(Jb, energy, core, c_grid, table, cols=window)  # (R, p, nW)
        Jw = Jb[:, window]
        frac = _interp_clusters(c, base_c, scatter)[:, window]
        sd = np.sqrt(count_gain * np.clip(Jw, 1.0, None) + (frac * np.median(Z, axis=0)) ** 2)
        noise = np.stack([np.random.default_rng(_seed_of(Jb[i])).standard_normal((R, Jw.shape[1]))
                          for i in range(Jb.shape[0])], axis=1)
        I = Jw[None] + noise * sd[None] - Z
        wts = 1.0 / sd**2
        eg, bb, _ = fit_onset(Ew, I, np.broadcast_to(wts[None], I.shape), eg_grid, b_values)
        q = np.quantile(eg, [0.5, 0.16, 0.84], axis=0)
        qb = np.quantile(bb, [0.5, 0.16, 0.84], axis=0)
        out[a:b] = np.concatenate([q.T, qb.T], axis=1)
    return out


def fit_band_gap_replicas(result, energy_range, exponent=None, show_progressbar=None, lazy_output=None):
    """See :meth:`hyperspy_eels_ml.zlp.ZLPResult.fit_band_gap`."""
    v, model = result._v, result.model
    e = v.energy
    lo, hi = (float(x) for x in energy_range)
    if not (e[0] <= lo < hi <= e[-1]):
        raise EnergyRangeError(f"energy_range ({lo:g}, {hi:g}) eV must be increasing and inside the signal's "
                               f"axis ({e[0]:g} to {e[-1]:g} eV)")
    window = np.flatnonzero((e >= lo) & (e <= hi))
    if window.size < 8:
        raise EnergyRangeError(f"energy_range ({lo:g}, {hi:g}) eV holds only {window.size} channels; "
                               "a band-gap fit needs at least 8")
    disp = v.dispersion
    eg_grid = np.arange(max(lo - 0.5 * (hi - lo), 0.0), hi - 3 * disp, disp / 2)
    b_values = [float(exponent)] if exponent is not None else list(np.round(np.arange(0.3, 2.55, 0.1), 2))
    lazy_output = v.lazy if lazy_output is None else bool(lazy_output)
    c_grid, table = model.log_zlp_table(e)
    dtable = dask.delayed(table, pure=True)
    batch = int(max(1, min(64, 2_000_000 // max(table.shape[0] * eg_grid.size, 1))))
    out = map_spectra(as_dask(v.data), _band_gap_block, 6, np.float32, extra_args=(dtable,), energy=e,
                      core=model.core, c_grid=c_grid, window=window, eg_grid=eg_grid, b_values=b_values,
                      count_gain=float(result.count_gain), batch=batch,
                      base_c=np.asarray(model.clusters["c"], float), scatter=model.scatter_table())
    if not v.navigation_shape:
        out = out[0]
    parts = [out[..., k] for k in range(6)]
    if not lazy_output:
        parts = list(compute(*parts, show_progressbar=show_progressbar))
    names = ("Eg", "Eg_lower", "Eg_upper", "b", "b_lower", "b_upper")
    titles = ("Band gap Eg (eV)", "Eg 16 %", "Eg 84 %", "Onset exponent b", "b 16 %", "b 84 %")
    sigs = {}
    for name, data, title in zip(names, parts, titles):
        if not isinstance(data, da.Array):
            data = np.asarray(data)
        m = navigation_map(v.signal, data, title, quantity="eV" if name.startswith("Eg") else "b")
        record_provenance(m, "zlp.ZLPResult.fit_band_gap",
                          dict(energy_range=[lo, hi], exponent=exponent, n_replicas=model.n_replicas),
                          extra=dict(output=name))
        sigs[name] = m
    return BandGapResult(**sigs)
