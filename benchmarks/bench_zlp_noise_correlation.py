"""Benchmark: channel-to-channel noise correlation of low-loss spectra (z21, issue 12, ``count_gain="auto"``).

Usage::

    python benchmarks/bench_zlp_noise_correlation.py --sim            # known PSF correlation: the method's check
    python benchmarks/bench_zlp_noise_correlation.py --real ../shared/data/zlp
    python benchmarks/bench_zlp_noise_correlation.py --sim --real ../shared/data/zlp --pairs   # the full table

Why: a per-channel reduced chi^2 with weights 1 / (g x counts) measures g_pc / g, where g_pc is the
per-channel variance / mean; ``estimate_count_gain`` measures the long-run g_lr = g_pc F with the
correlation factor F = 1 + 2 sum_k rho_k. With ``count_gain="auto"`` the band-gap chi^2 is then ~ 1 / F.

Method (fixed in SHIP_RULE.md before measuring; git show 5f5cc6b:SHIP_RULE.md): per spectrum and window, residual = data - quadratic
Savitzky-Golay smooth of 41 channels (``scipy.signal.savgol_filter``); autocorrelation rho_k (k = 1..10)
pooled over spectra (sum of lagged products / sum of squares); ``F_acf = 1 + 2 sum rho_k``; ``F_blk`` =
variance of 16-channel block sums of the residual / (16 x its variance). Both are biased low by the
detrending; ``--sim`` gives them on simulated spectra of known F (= 1 / sum k^2 of the PSF kernel) with the
same code. Windows: ``gap`` (1.0-3.0 eV, WS2 and MoS2), ``far`` (every loss channel beyond 5 FWHM).
Also printed: whether the data are integers (raw counts) and the minimum value.

Result (z21): this pre-registered measurement fails its own check: on simulated white noise F_acf = -0.10 and
F_blk = 0.21 (truth 1), at lag-1 0.9 F_acf = -0.48, F_blk = 0.93 (truth 5.46): the 41-channel detrend removes the
low-frequency noise power that F is about. It is reported, not used. Replacement (chosen after seeing that, before
looking at the real numbers with it): ``F_est = g(32) / g_pc`` with ``g(L)`` = ``estimate_count_gain(block=L)`` on
the dark-subtracted data (the dark level as ``bench_zlp_count_gain.py --real`` finds it) and ``g_pc`` = median of
residual^2 / smooth of the same SG-41 residual (/ 0.4549, / (1 - 0.055), the SG central weight) beyond 5 FWHM: the
per-channel counterpart. ``--sim`` checks it (F_est 1.0 / 2.1 / 6.8 for F 1 / 2.02 / 5.46); ``g(L)`` for L = 1..64
shows whether the long-run variance reaches a plateau (it does on simulations by L = 16-32). ``--pairs``: the same
scan on differences of two spectra of one data set (``A - s B``, ``s`` the 201-channel smoothed ratio): structure
common to the spectra (signal, fixed pattern) cancels there, random noise does not.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np

SG_WINDOW = 41
LAGS = 10
BLOCK = 16


def correlation(J, sel):
    """``(rho[1..LAGS], F_acf, F_blk, n_channels)`` of the detrended noise of ``J[:, sel]`` (pooled rows)."""
    from scipy.signal import savgol_filter

    idx = np.flatnonzero(sel)
    if idx.size < 2 * SG_WINDOW:
        return np.full(LAGS, np.nan), np.nan, np.nan, int(idx.size)
    x = np.asarray(J, float)[:, idx[0]:idx[-1] + 1]
    r = x - savgol_filter(x, SG_WINDOW, 2, axis=1, mode="interp")
    r = r[:, SG_WINDOW // 2:-(SG_WINDOW // 2)]  # the ends of the smooth are extrapolated
    r = r - r.mean(axis=1, keepdims=True)
    r = r / np.sqrt(np.maximum(savgol_filter(x, SG_WINDOW, 2, axis=1, mode="interp")[:, SG_WINDOW // 2:
                                                                                     -(SG_WINDOW // 2)], 1.0))
    c0 = (r * r).sum()
    rho = np.array([(r[:, k:] * r[:, :-k]).sum() / c0 for k in range(1, LAGS + 1)])
    n = r.shape[1] // BLOCK
    b = r[:, :n * BLOCK].reshape(r.shape[0], n, BLOCK).sum(axis=2)
    f_blk = float((b**2).mean() / (BLOCK * (r[:, :n * BLOCK] ** 2).mean())) if n else np.nan
    return rho, float(1 + 2 * rho.sum()), f_blk, int(r.shape[1])


def windows(e, fw):
    return {"gap": (e >= 1.0) & (e <= 3.0), "far": e > 5 * fw}


def line(label, e, J, fw, only=None):
    ints = bool(np.all(np.isfinite(J)) and np.allclose(J, np.round(J)))
    for name, sel in windows(e, fw).items():
        if only and name not in only:
            continue
        rho, fa, fb, n = correlation(J, sel)
        print(f"{label:>40} {name:>4}: {n:5d} ch x {J.shape[0]:4d}, rho1-3 {rho[0]:+.2f} {rho[1]:+.2f} {rho[2]:+.2f}, "
              f"F_acf {fa:5.2f} (1/F {1 / fa:.2f}), F_blk {fb:5.2f}; integer {ints}, min {np.nanmin(J):.4g}",
              flush=True)


def g_pc(e, J, fw):
    """Per-channel counts per electron: median residual^2 / smooth (SG-41) beyond 5 FWHM, median-of-chi^2_1 scaled."""
    from scipy.signal import savgol_filter

    idx = np.flatnonzero(e > 5 * fw)
    x = np.asarray(J, float)[:, idx[0]:idx[-1] + 1]
    sm = savgol_filter(x, SG_WINDOW, 2, axis=1, mode="interp")
    h = SG_WINDOW // 2
    r, m = (x - sm)[:, h:-h], sm[:, h:-h]
    ok = m > (0.05 * np.median(m[m > 0]) if (m > 0).any() else 0)
    return float(np.median(r[ok] ** 2 / m[ok]) / 0.4549 / (1 - 0.055)) if ok.any() else np.nan


def g_scan(e, J, fw):
    from hyperspy_eels_ml.zlp.features import estimate_count_gain

    return {L: estimate_count_gain(e, J, fw, block=L, min_terms=10)[0] for L in (1, 2, 4, 8, 16, 32, 64)}


def pair_scan(e, J, fw, max_pairs=15):
    """Median over pairs of ``g(L)`` of ``A - s B``: the package's ``count_gain_terms`` with ``variance=A + s**2 B``
    (independent counting noise) and windows flat in ``reference=A``, beyond 5 FWHM on the loss side; a pair counts
    with at least 10 windows (``gain_from_terms``)."""
    import itertools

    from scipy.signal import savgol_filter

    from hyperspy_eels_ml.zlp.features import count_gain_terms, gain_from_terms

    sel = np.flatnonzero(e > 5 * fw)
    es = e[sel[0]:sel[-1] + 1]
    out = {}
    for L in (2, 8, 16, 32):
        gs = []
        for i, j in list(itertools.combinations(range(J.shape[0]), 2))[:max_pairs]:
            a, b = J[i, sel[0]:sel[-1] + 1], J[j, sel[0]:sel[-1] + 1]
            s = savgol_filter(a, 201, 2) / np.maximum(savgol_filter(b, 201, 2), 1e-9)
            D2, M = count_gain_terms(es, a - s * b, fw, block=L, min_fwhm=5.0, flatness=0.3,
                                     variance=a + s**2 * b, reference=a)
            if D2.size >= 10:
                gs.append(gain_from_terms(D2, M))
        out[L] = float(np.median(gs)) if gs else np.nan
    return out


def scan_line(label, e, J, fw, pairs=False):
    gp, gl = g_pc(e, J, fw), g_scan(e, J, fw)
    print(f"{label:>40}: g_pc {gp:.3g}, g(L) " + " ".join(f"{L}:{g:.3g}" for L, g in gl.items())
          + f"; F_est = g(32)/g_pc {gl[32] / gp:.2f} (1/F {gp / gl[32]:.2f})", flush=True)
    if pairs and J.shape[0] >= 2:
        print(f"{'':>40}  pair differences g(L): " + " ".join(f"{L}:{g:.3g}" for L, g in pair_scan(e, J, fw).items()),
              flush=True)


def run_sim(seeds, pairs=False):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_zlp_count_gain import blur, ws2_set

    from hyperspy_eels_ml.simulation.realism import psf_kernel
    from hyperspy_eels_ml.zlp.features import fwhm

    for rho in (0.0, 0.5, 0.9):
        k, lag1 = psf_kernel(np.array([rho]))
        f_true = 1.0 / float((k**2).sum()) if rho > 0.02 else 1.0
        rows = [blur(ws2_set(s)[1] * 4.5, rho) for s in seeds]
        e = ws2_set(seeds[0])[0]
        J = np.concatenate(rows)
        fw = fwhm(e, np.clip(J, 0, None).mean(axis=0))
        line(f"sim WS2-like x4.5 rho {rho:.1f} (F true {f_true:.2f})", e, J, fw)
        scan_line(f"sim WS2-like x4.5 rho {rho:.1f} (F true {f_true:.2f})", e, J, fw,
                  pairs=pairs)
        if pairs:
            J6 = blur(ws2_set(seeds[0])[1][:6] * 4.5, rho)
            print(f"{'':>40}  (6 flake pixels of seed {seeds[0]}) pair differences g(L): "
                  + " ".join(f"{L}:{g:.3g}" for L, g in pair_scan(e, J6, fw).items()), flush=True)


def run_real(folder, pairs=False):
    import pathlib

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench_zlp_real as br

    from hyperspy_eels_ml.zlp.features import estimate_dark_level, fwhm

    for key, label, loader, _gap in br.cases(pathlib.Path(folder).parent):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s, vac = loader()
            s, _ = br.align(s)
        e = s.axes_manager.signal_axes[0].axis
        J = np.asarray(s.data, float).reshape(-1, e.size)
        fw = fwhm(e, np.clip(J, 0, None).mean(axis=0))
        line(label, e, J, fw, only=None if _gap else ("far",))
        V = None
        if vac is not None and not isinstance(vac, str):
            V = np.asarray(br.align(vac)[0].data, float).reshape(-1, e.size)
            line(label.split(" (")[0] + " vacuum", e, V, fw)
        allJ = J if V is None else np.concatenate([J, V])
        fw = fwhm(e, np.clip(allJ, 0, None).mean(axis=0))
        dark, _ = estimate_dark_level(e, allJ if V is None else V, fw, e[1] - e[0], 1.0, vacuum=V is not None)
        scan_line(f"{key} (dark {dark:.3g})", e, allJ - dark, fw)
        if V is not None:
            scan_line(f"{key} specimen only", e, J - dark, fw, pairs=pairs)
            scan_line(f"{key} vacuum only", e, V - dark, fw)
        elif pairs and J.shape[0] >= 2:
            scan_line(f"{key} (first 12 spectra)", e, J[:12] - dark, fw, pairs=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sim", action="store_true")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--real", metavar="DIR")
    ap.add_argument("--pairs", action="store_true", help="also the scan on differences of two spectra")
    a = ap.parse_args(argv)
    if a.sim:
        run_sim(a.seeds, pairs=a.pairs)
    if a.real:
        run_real(a.real, pairs=a.pairs)


if __name__ == "__main__":
    main()
