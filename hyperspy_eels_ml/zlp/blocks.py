"""Block layer: the functions dask maps over chunks of spectra (numpy in, numpy out).

Each block function gets a 2-D block ``J`` (pixels, channels) and the model's
tabulated replica ZLPs; it never sees a signal and never imports TensorFlow, so
it runs the same eagerly, lazily and on ``dask.distributed`` workers.
"""

from __future__ import annotations

import zlib

import numpy as np

from .._shared.batch import as_dask, compute, map_spectra
from .._shared.validation import check_finite_block
from .features import interp_clusters, noise_sd, pixel_zlp_replicas, variance_counts

__all__ = ["subtract_block", "band_gap_block", "make_result", "N_SPECTRA_OUT", "tail_above_data", "TAIL_SIGMA"]

#: spectra per pixel in the subtraction output block: inelastic, lower, upper, zlp, zlp_lower, zlp_upper,
#: and a seventh row holding t/lambda (median, 16 %, 84 %), the data integral, the ZLP integral, the fraction
#: of channels with the ZLP above the data and 1 for a dead pixel (constant spectrum)
N_SPECTRA_OUT = 7
N_SCALARS = 7

#: a channel above dE1 counts as "ZLP above the data" when the median ZLP exceeds the data by more than this many
#: standard deviations of the data's noise under "data = ZLP" (counting noise of the ZLP + read noise)
TAIL_SIGMA = 3.0

#: the band-gap fits carry a free ZLP-level term (see :func:`~hyperspy_eels_ml.zlp.fit_onset`'s ``nuisance``)
ZLP_NUISANCE = True


def batch_size(n_replicas, n_channels, budget=6_000_000):
    """Pixels per inner batch so that a (replicas, pixels, channels) float32 array stays near ``budget``."""
    return int(max(1, min(256, budget // max(n_replicas * n_channels, 1))))


def tail_above_data(J, zlp, energy, dE1, count_gain, read_var=0.0):
    """Per spectrum, the fraction of channels above its ``dE1`` where ``zlp`` exceeds ``J`` by more than
    :data:`TAIL_SIGMA` sigma; sigma is the noise the data would have if they were the ZLP alone (counting noise,
    at least one electron, plus ``read_var``). A physical ZLP never does this beyond 0.13 % of the channels
    (one-sided 3 sigma); a tail that drifted above the data does it on a large fraction. ``dE1`` is per spectrum.
    """
    g = float(count_gain)
    sd = np.sqrt(g * np.maximum(zlp, g) + read_var)
    above = energy[None, :] > np.asarray(dE1, float)[:, None]
    over = ((zlp - J) > TAIL_SIGMA * sd) & above
    return over.sum(axis=1) / np.maximum(above.sum(axis=1), 1)


def subtract_block(J, table, energy, core, c_grid, count_gain, batch, base_c, scatter, dark, read_var=0.0,
                   dE1=None):
    """Inelastic/ZLP medians and bands, t/lambda and integrals of every spectrum of a block.

    The sixth scalar is :func:`tail_above_data` (``dE1``: per cluster, interpolated at the pixels' c; 0 when
    ``dE1`` is None); the seventh is 1 for a dead pixel (a constant spectrum: all zero or a fill value, no
    zero-loss peak), whose t/lambda is NaN (undefined), else 0.

    Output layout (P, 7 n_E): six spectra, then the scalars at the start of row 7,
    so the reshape to (..., 7, n_E) is free and the outputs are views of one block.
    """
    J = np.asarray(J, dtype=np.float32)
    check_finite_block(J)
    P, nE = J.shape
    out = np.zeros((P, N_SPECTRA_OUT * nE), dtype=np.float32)
    for a in range(0, P, batch):
        b = min(P, a + batch)
        Jb = J[a:b] - np.float32(dark)
        Z, _, c = pixel_zlp_replicas(Jb, energy, core, c_grid, table)
        z16, z50, z84 = np.quantile(Z, [0.16, 0.5, 0.84], axis=0)
        sd = noise_sd(Jb, z50, interp_clusters(c, base_c, scatter), count_gain, read_var)
        inel = Jb - z50
        lo = inel - np.sqrt((z84 - z50) ** 2 + sd**2)
        hi = inel + np.sqrt((z50 - z16) ** 2 + sd**2)
        tot = np.clip(Jb, 0, None).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            tl = np.log(tot[None, :] / Z.sum(axis=2))
        # a dead pixel (constant spectrum: all zero or a fill value) holds no ZLP: t/lambda undefined, even where
        # the fill gives a finite log-ratio (and -inf from no counts would make quantile warn)
        dead = np.ptp(J[a:b], axis=1) == 0
        tl[:, dead] = np.nan
        tl[~np.isfinite(tl)] = np.nan
        t16, t50, t84 = np.quantile(tl, [0.16, 0.5, 0.84], axis=0)
        if dE1 is None:
            frac = np.zeros_like(t50)
        else:
            d1 = interp_clusters(c, base_c, np.asarray(dE1, float)[:, None])[:, 0]
            frac = tail_above_data(Jb, z50, energy, d1, count_gain, read_var)
        out[a:b, : 6 * nE] = np.concatenate([inel, lo, hi, z50, z16, z84], axis=1)
        out[a:b, 6 * nE: 6 * nE + N_SCALARS] = np.stack([t50, t16, t84, tot, z50.sum(axis=1), frac, dead],
                                                        axis=1)
    return out


def _seed_of(spectrum):
    return zlib.crc32(np.ascontiguousarray(spectrum, dtype=np.float32).tobytes())


def band_gap_block(J, table, energy, core, c_grid, window, eg_grid, b_values, count_gain, batch, base_c, scatter,
                   dark, n_params, law="free", law_values=(0.5, 1.5), law_delta_chi2=9.0):
    """Replica band-gap fits of every spectrum of a block, with the onset-law check.

    ``law``: ``"fixed"`` (``b_values`` holds the user's exponent), ``"free"``
    (``b_values`` is the b grid) or ``"chi2"`` (b grid, but where the law check is
    decisive the replica fits use the winning law's exponent, see
    :func:`~hyperspy_eels_ml.zlp.bandgap.fit_band_gap_replicas`).

    Returns (P, 12): Eg, Eg16, Eg84, b, b16, b84, reduced chi^2, reason, reduced
    chi^2 of the direct and of the indirect law (``law_values``), their
    difference ``chi2(law_values[0]) - chi2(law_values[1])`` (sums, not
    reduced; the law check divides it by the better law's reduced chi^2 where
    that exceeds 1) and the law flags (:data:`~hyperspy_eels_ml.zlp.bandgap.FLAG_LAW_NOT_RESOLVED`,
    :data:`~hyperspy_eels_ml.zlp.bandgap.FLAG_LAW_REJECTED`). Eg and b are NaN
    where the reason is not 0 (2: the onset is not resolved, median improvement
    over "no onset" below ``MIN_DELTA_CHI2``; else 1: the fits of most replicas
    end at the edge of the Eg grid or below the window start).
    """
    from .bandgap import FLAG_LAW_NOT_RESOLVED, FLAG_LAW_REJECTED, MIN_DELTA_CHI2, fit_onset

    J = np.asarray(J, dtype=np.float32)
    check_finite_block(J)
    P = J.shape[0]
    R = table.shape[0]
    out = np.empty((P, 12), dtype=np.float32)
    Ew = energy[window]
    dof = max(window.size - n_params, 1)
    n_law = n_params - (law != "fixed")  # a law fixes b: one free parameter fewer than the b-free fit
    dof_law = max(window.size - n_law, 1)
    law_values = [float(x) for x in law_values]
    for a in range(0, P, batch):
        b = min(P, a + batch)
        Jb = J[a:b] - np.float32(dark)
        Z, _, c = pixel_zlp_replicas(Jb, energy, core, c_grid, table, cols=window)  # (R, p, nW)
        Jw = Jb[:, window]
        frac = interp_clusters(c, base_c, scatter)[:, window]
        # weights from smoothed counts (observed counts as weights bias the onset upwards, see variance_counts)
        sd = noise_sd(variance_counts(Jb, energy[1] - energy[0])[:, window], np.median(Z, axis=0), frac, count_gain)
        noise = np.stack([np.random.default_rng(_seed_of(J[a + i])).standard_normal((R, Jw.shape[1]))
                          for i in range(Jb.shape[0])], axis=1)
        I = Jw[None] + noise * sd[None] - Z
        wts = 1.0 / sd**2

        def replica_fits(cols, bv):
            eg, bb, _, edge, _, dchi2 = fit_onset(Ew, I[:, cols], np.broadcast_to(wts[cols][None], I[:, cols].shape),
                                                  eg_grid, bv, full_output=True,
                                                  nuisance=Z[:, cols] if ZLP_NUISANCE else None)
            return eg, bb, edge | (eg < Ew[0]), dchi2  # an onset below the window start is not resolved by it

        # goodness of fit from the data as recorded (the replicas carry a second noise draw: chi^2 ~ 2 there)
        Zm = np.median(Z, axis=0)
        nm = Zm if ZLP_NUISANCE else None
        chi2 = fit_onset(Ew, Jw - Zm, wts, eg_grid, b_values, full_output=True, nuisance=nm)[4] / dof
        # the law check: each textbook law fitted to the recorded data (same window, grid, weights, ZLP level)
        chi2_law = np.stack([fit_onset(Ew, Jw - Zm, wts, eg_grid, [bl], full_output=True, nuisance=nm)[4]
                             for bl in law_values])  # (n_law, p), sums
        delta = chi2_law[0] - chi2_law[1]
        # in units of the better law's reduced chi^2 where that exceeds 1 (data noisier than the noise model, e.g.
        # several detector counts per electron with count_gain=1: delta is overstated by that factor)
        scale = np.maximum(1.0, chi2_law[:2].min(axis=0) / dof_law)
        decisive = np.abs(delta) / scale >= law_delta_chi2
        # the replica fits, per pixel once: with b_values, or (law "chi2", decisive pixels) with the winning law
        groups = [(np.arange(b - a), b_values)]
        if law == "chi2":
            win = np.where(delta > 0, 1, 0)
            groups = [(np.flatnonzero(~decisive), b_values)] + [
                (np.flatnonzero(decisive & (win == j)), [bl]) for j, bl in enumerate(law_values[:2])]
        shape = (I.shape[0], b - a)
        eg, bb, dchi2 = np.empty(shape), np.empty(shape), np.empty(shape)
        edge = np.empty(shape, dtype=bool)
        for j, (cols, bv) in enumerate(groups):
            if cols.size:
                eg[:, cols], bb[:, cols], edge[:, cols], dchi2[:, cols] = replica_fits(cols, bv)
                if j:
                    chi2[cols] = chi2_law[j - 1, cols] / dof_law
        q = np.quantile(eg, [0.5, 0.16, 0.84], axis=0)
        qb = np.quantile(bb, [0.5, 0.16, 0.84], axis=0)
        reason = np.where(np.median(dchi2, axis=0) < MIN_DELTA_CHI2, 2, np.where(edge.mean(axis=0) > 0.5, 1, 0))
        q[:, reason != 0] = np.nan
        qb[:, reason != 0] = np.nan
        onset = reason != 2  # the law flags qualify a resolved onset only
        if law == "fixed":
            bfix = float(b_values[0])
            other = [j for j, bl in enumerate(law_values) if abs(bl - bfix) > 1e-9]
            fixed_sum = chi2 * dof
            best_other = chi2_law[other].min(axis=0) if other else np.full(b - a, np.inf)
            flags = np.where(onset & ((fixed_sum - best_other) / scale >= law_delta_chi2), FLAG_LAW_REJECTED, 0)
        else:
            flags = np.where(onset & ~decisive, FLAG_LAW_NOT_RESOLVED, 0)
        out[a:b] = np.concatenate([q.T, qb.T, chi2[:, None], reason[:, None], (chi2_law[:2] / dof_law).T,
                                   delta[:, None], flags[:, None]], axis=1)
    return out


def make_result(model, v, *, count_gain, show_progressbar, lazy_output):
    """Map :func:`subtract_block` over the validated signal ``v`` and wrap the parts in a ZLPResult."""
    import dask

    from .result import ZLPResult

    lazy_output = v.lazy if lazy_output is None else bool(lazy_output)
    c_grid, table = model.log_zlp_table(v.energy)
    nE = v.energy.size
    dtable = dask.delayed(table, pure=True)
    data = as_dask(v.data)
    out = map_spectra(data, subtract_block, N_SPECTRA_OUT * nE, np.float32,
                      extra_args=(dtable,), energy=v.energy, core=model.core, c_grid=c_grid,
                      count_gain=float(count_gain), batch=batch_size(model.n_replicas, nE),
                      base_c=np.asarray(model.clusters["c"], float), scatter=model.scatter_table(),
                      dark=model.dark_level, read_var=float(model.params.get("read_noise", 0.0)) ** 2,
                      dE1=np.asarray(model.clusters["dE1"], float))
    nav = v.navigation_shape
    if not nav:
        out = out[0]
    spectra = out.reshape(tuple(out.shape[:-1]) + (N_SPECTRA_OUT, nE))
    parts = [spectra[..., k, :] for k in range(6)] + [spectra[..., 6, k] for k in range(N_SCALARS)]
    if not lazy_output:
        parts = list(compute(*parts, show_progressbar=show_progressbar))
    return ZLPResult.from_parts(model, v, parts, count_gain=count_gain)
