"""Far-end K edges of wide windows: the real O/Si SI against the simulator (diagnosis, issue 11).

Usage::

    python benchmarks/bench_identify_far_end.py [--n 1024] [--seed 33000] [--json out.json]
                                                [--model path.npz] [--thick] [--interventions] [--second]

The shipped network misses Si K (1839 eV) at the far end of the 300-2347 eV, 1 eV/ch
O/Si SI of the rosettasciio test data (calibrated p(Si) 0.021 on its sum spectrum), although
on simulation it recalls most far-end Si K edges. This script measures, with the same code on
the real sum spectrum (and its four pixels) and on simulated O + Si spectra of the same axis
(300 eV + 2048 channels of 1 eV, E0 200 kV, beta 62 mrad from the file's metadata; Si/O amount
ratio log-uniform 0.1-1 as ``bench_identify.py --pairs`` Si_K_far_end_with_O_K; the simulator's
priors for everything else), the statistics that could separate the file from the simulator:

* ``r_pre_o``, ``r_mid``, ``r_pre_si``: local power-law exponents (least squares of
  ln I on ln E over 10-eV bins) over 400-520, 1000-1300 and 1550-1830 eV; ``dr`` =
  ``r_pre_si - r_pre_o`` (Egerton 2011, sec. 4.4.2: the exponent r of the background of
  a wide window is not a constant);
* ``far_level``: mean counts 1780-1830 eV over the spectrum's maximum (what the ``I / max``
  input channel sees of the far end);
* ``rel_noise``: noise per channel over the level at 1550-1830 eV (from the relative
  residual of a 31-channel Savitzky-Golay fit, corrected for the fit: :func:`_noise`); ``e_per_ch`` = 1 / rel_noise^2, the
  equivalent electrons per channel; ``lag1``: the residual's lag-1 autocorrelation;
* ``si_jump``: Si K jump ``J - 1`` = mean of 1850-1950 eV over the 1550-1830 eV power law
  extrapolated there, minus 1; ``si_snr``: that excess over its noise (rel_noise and the
  100 channels);
* ``si_rise50``: eV above 1839 where the excess over that power law, relative to it and smoothed
  by a Gaussian of sigma 8 eV, first reaches half its 1839-2100 eV maximum (a sharp edge: small;
  plural scattering or a delayed maximum: large); ``o_rise50`` the same for O K (532 eV, 532-760 eV,
  over the 400-520 eV power law): plural scattering broadens both edges alike, a Si K near-edge
  shape (or a background that is not a power law) only one;
* ``wave``: rms relative residual of the 10-eV bin means of 650-1500 eV about a quadratic in
  (ln E, ln I) (background curvature allowed), ``wave_excess`` the part above the noise expected
  for 10-channel means (per-channel noise and its lag 1-3 correlation): detector gain patterns,
  EXELFS, other low-frequency ripple of the background;
* ``feat_snr``: in the network's input (``preprocess_block``), the mean of the derivative
  channel (``arcsinh(20 d ln I / dE)``) over 1839-1879 eV minus its mean over 1700-1830 eV,
  over its std there / sqrt(40): how far the edge stands out of the input's noise.

The joint test counts the simulated spectra that combine the real sum's strong Si K, its slow rise
and its sharp O K (:data:`JOINT`). ``--interventions`` multiplies the same simulated spectra by an
exponent drift or a low-frequency ripple (:func:`interventions`), ``--second`` measures ripple and
drift on the other wide real window (the CuZn SI, :func:`second_file`).

Reported: per statistic the real value(s), the simulated 5/50/95 % quantiles and the real
sum's percentile; and the network's calibrated p(Si) on the simulated spectra with Si
visible, binned by each statistic (recall at p >= 0.5, median p), plus the real files' p(Si).
Nothing is fitted to the real file.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import warnings

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

REAL = "elements/rosettasciio__rsciio__tests__data__digitalmicrograph__3D__EELS_SI.dm4"
E_OFF, SIZE, DISP = 300.0, 2048, 1.0
E0_KV, BETA = 200.0, 62.0
SI_K = 1839.0
STATS = ("r_pre_o", "r_mid", "r_pre_si", "dr", "far_level", "rel_noise", "e_per_ch", "lag1", "si_jump", "si_snr",
         "si_rise50", "o_rise50", "wave", "wave_excess", "feat_snr")
O_K = 532.0
#: the joint test of :func:`run`: simulated spectra with Si visible, si_snr >= 30 and si_rise50 >= 45 eV (a strong,
#: slowly rising Si K as in the real sum: 38 and 59 eV), and of those with o_rise50 <= 5 eV (a sharp O K, real: 0 eV)
JOINT = {"si_snr": 30.0, "si_rise50": 45.0, "o_rise50": 5.0}


def data_dir():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get("HYPERSPY_EELS_ML_DATA", os.path.join(here, "..", "..", "shared", "data"))


def _fit_r(E, I, lo, hi, binw=10):
    """Local exponent r of ``I ~ E^-r`` over ``[lo, hi)`` from 10-eV bin means; NaN if a bin is <= 0."""
    sel = (E >= lo) & (E < hi)
    e, i = E[sel], I[:, sel]
    nb = e.size // binw
    e = e[: nb * binw].reshape(nb, binw).mean(1)
    i = i[:, : nb * binw].reshape(i.shape[0], nb, binw).mean(2)
    ok = (i > 0).all(axis=1)
    li = np.log(np.where(i > 0, i, 1.0))
    le = np.log(e)
    le_c = le - le.mean()
    slope = ((li - li.mean(1, keepdims=True)) * le_c).sum(1) / (le_c ** 2).sum()
    icpt = li.mean(1) - slope * le.mean()
    return np.where(ok, -slope, np.nan), icpt


@functools.lru_cache(maxsize=8)
def _residual_lag_map(n, window):
    """``A`` (4 x 4): the mean lag-0..3 autocovariances of the Savitzky-Golay residual (``window`` channels, order 2,
    ``n`` channels) of a stationary noise whose autocovariance at lag ``j`` is 1 (and 0 at the other lags)."""
    from scipy.signal import savgol_filter

    R = np.eye(n) - savgol_filter(np.eye(n), window, 2, axis=0)
    A = np.zeros((4, 4))
    for j in range(4):
        G = np.eye(n) if j == 0 else np.eye(n, k=j) + np.eye(n, k=-j)
        C = R @ G @ R.T
        for k in range(4):
            A[k, j] = np.mean(np.diagonal(C, offset=k))
    return A


def _noise(y, window=31):
    """Relative noise per channel and its autocovariances at lags 0-3 (relative units) of each row of ``y``.

    From the residual of a Savitzky-Golay fit (``window`` channels, order 2), corrected for what the fit itself
    removes and correlates (:func:`_residual_lag_map`: the residual of white noise is anti-correlated at short
    lags), so that white and point-spread-correlated noise (lags 1-3) are measured without bias.
    """
    from scipy.signal import savgol_filter

    sm = savgol_filter(y, window, 2, axis=1)
    r = (y - sm) / np.where(np.abs(sm) > 1e-12, sm, np.nan)
    r = r - np.nanmean(r, axis=1, keepdims=True)
    meas = np.stack([np.nanmean(r[:, : r.shape[1] - k] * r[:, k:], axis=1) for k in range(4)], axis=1)
    gam = np.linalg.solve(_residual_lag_map(y.shape[1], window), meas.T).T
    gam[:, 0] = np.maximum(gam[:, 0], 0.0)
    return np.sqrt(gam[:, 0]), gam


def ripple(E, I, lo, hi, bin_ev):
    """``(wave, wave_excess)`` over ``[lo, hi)``: rms relative residual of ``bin_ev``-eV bin means about a quadratic in
    (ln E, ln I), and the part above the noise expected for such bin means (per-channel noise and its
    correlation at lags 1-3, :func:`_noise`)."""
    sel = (E >= lo) & (E < hi)
    k = max(int(round(bin_ev / (E[1] - E[0]))), 1)
    nb = int(sel.sum()) // k
    e = np.log(E[sel][: nb * k].reshape(nb, k).mean(1))
    ib = I[:, sel][:, : nb * k].reshape(I.shape[0], nb, k).mean(2)
    li = np.log(np.clip(ib, 1e-12, None))
    V = np.vander(e - e.mean(), 3)
    coef, *_ = np.linalg.lstsq(V, li.T, rcond=None)
    res = li - (V @ coef).T
    wave = np.sqrt(np.mean(res ** 2, axis=1) * nb / (nb - 3))
    if k >= 5:
        _, gam = _noise(I[:, sel])
        var_bin = (gam[:, 0] + 2 * sum((1 - j / k) * gam[:, j] for j in (1, 2, 3))) / k
    else:  # coarse channels (the CuZn SI: 2 channels per bin): a short residual fit, correlation to lag 1
        _, gam = _noise(I[:, sel], window=7)
        var_bin = (gam[:, 0] + 2 * (1 - 1 / k) * gam[:, 1]) / k if k > 1 else gam[:, 0]
    return wave, np.sqrt(np.maximum(wave ** 2 - var_bin, 0.0))


def _rise50(E, I, bg, onset, end):
    """eV above ``onset`` where the smoothed (sigma 8 eV) excess over ``bg``, relative to ``bg``, first reaches
    half its maximum over ``onset .. end``."""
    from scipy.ndimage import gaussian_filter1d

    exc = gaussian_filter1d((I - bg) / np.maximum(bg, 1e-12), 8.0, axis=1)
    win = (E >= onset) & (E < end)
    ew, xw = E[win], exc[:, win]
    mx = xw.max(1, keepdims=True)
    first = np.argmax(xw >= 0.5 * mx, axis=1)
    return np.where(mx[:, 0] > 0, ew[first] - onset, np.nan)


def statistics(E, I, feat=None):
    """The statistics of the module docstring for spectra ``I`` ``(n, channels)`` on the axis ``E``."""
    from scipy.ndimage import gaussian_filter1d

    I = np.asarray(I, np.float64)
    out = {}
    out["r_pre_o"], _ = _fit_r(E, I, 400, 520)
    out["r_mid"], _ = _fit_r(E, I, 1000, 1300)
    r_si, c_si = _fit_r(E, I, 1550, 1830)
    out["r_pre_si"] = r_si
    out["dr"] = r_si - out["r_pre_o"]
    far = (E >= 1780) & (E < 1830)
    out["far_level"] = I[:, far].mean(1) / I.max(1)
    pre = (E >= 1550) & (E < 1830)
    rel, gam = _noise(I[:, pre])
    out["rel_noise"] = rel
    out["e_per_ch"] = 1.0 / rel ** 2
    out["lag1"] = gam[:, 1] / gam[:, 0]
    bg = np.exp(c_si[:, None] - r_si[:, None] * np.log(E)[None, :])  # extrapolated pre-Si power law
    post = (E >= 1850) & (E < 1950)
    jump = I[:, post].mean(1) / bg[:, post].mean(1) - 1.0
    out["si_jump"] = jump
    out["si_snr"] = jump / (rel / np.sqrt(post.sum()))
    out["si_rise50"] = _rise50(E, I, bg, SI_K, 2100.0)
    r_o, c_o = _fit_r(E, I, 400, 520)
    out["o_rise50"] = _rise50(E, I, np.exp(c_o[:, None] - r_o[:, None] * np.log(E)[None, :]), O_K, 760.0)
    out["wave"], out["wave_excess"] = ripple(E, I, 650, 1500, 10)
    if feat is not None:
        grid = np.arange(feat.shape[1])
        d = feat[:, :, 1].astype(np.float64)
        a = (grid >= 1700) & (grid < 1830)
        b = (grid >= SI_K) & (grid < SI_K + 40)
        out["feat_snr"] = (d[:, b].mean(1) - d[:, a].mean(1)) / (d[:, a].std(1) / np.sqrt(b.sum()))
    return out


def pixel_difference_noise(E, px, lo=650.0, hi=1830.0):
    """Noise structure of the real SI from the differences of its pixels (no common signal left): mean
    autocorrelation at lags 1, 2, 3, 5, 10, 20, 40 channels and the variance of 10-channel means over the
    white-noise expectation (a slow trend of each difference, Gaussian sigma 100 channels, removed first)."""
    from scipy.ndimage import gaussian_filter1d

    sel = (E >= lo) & (E < hi)
    lags = (1, 2, 3, 5, 10, 20, 40)
    ac, vr = [], []
    for i in range(len(px)):
        for j in range(i + 1, len(px)):
            d = (px[i] - px[j])[sel]
            d = d - gaussian_filter1d(d, 100.0)
            d = d / np.sqrt(np.clip(gaussian_filter1d(px[i] + px[j], 20.0)[sel], 1.0, None))
            d = d - d.mean()
            ac.append([np.mean(d[:-k] * d[k:]) / np.mean(d * d) for k in lags])
            nb = d.size // 10
            vr.append(d[: nb * 10].reshape(nb, 10).mean(1).var() / (d.var() / 10))
    return {"lags": list(lags), "autocorrelation": [round(float(v), 3) for v in np.mean(ac, axis=0)],
            "bin10_variance_over_white": round(float(np.mean(vr)), 3)}


def load_real(root):
    """(energy, sum spectrum, the four pixels) of the O/Si SI."""
    import hyperspy.api as hs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = hs.load(os.path.join(root, REAL))
    E = s.axes_manager.signal_axes[0].axis.astype(np.float64)
    px = s.data.reshape(-1, s.data.shape[-1]).astype(np.float64)
    return E, px.sum(0, keepdims=True), px


def simulate(n, seed, realism, t_lambda=None):
    """``n`` O + Si spectra (Si/O 0.1-1, log-uniform) on the real file's axis; (batch, Si visible)."""
    from hyperspy_eels_ml.elements.simulate import INSTRUMENT_SHIFT
    from hyperspy_eels_ml.simulation.core_loss import core_loss

    rng = np.random.default_rng(seed)
    ratio = np.exp(rng.uniform(np.log(0.1), np.log(1.0), n))
    amounts = np.stack([np.full(n, 2.0), 2.0 * ratio], axis=1)
    kw = {} if t_lambda is None else {"t_lambda": t_lambda}
    b = core_loss(n, ["O", "Si"], energy_offset=E_OFF, dispersion=DISP, size=SIZE, amounts=amounts, E0=E0_KV,
                  beta=BETA, instrument_shift=INSTRUMENT_SHIFT, rng=rng, realism=realism, **kw)
    return b, ratio


def p_si(net, spectra, energy):
    from hyperspy_eels_ml.elements.preprocess import LABELS, preprocess_block, report_assessable

    x, g, lo, hi, _ = preprocess_block(spectra, energy)
    z = net.logits(x.astype(np.float32))
    j = LABELS.index("Si")
    p = net.calibrated(z)[:, j]
    return np.where(report_assessable(lo, hi)[:, j], p, np.nan), x


def interventions(n=4096, seed=34000, realism="realistic-v3", model=None):
    """Paired test: recall of visible Si K on the same simulated spectra multiplied by smooth factors.

    ``drift``: ``exp(-k (ln E - ln 300)^2 / 2)`` with ``k = 1 / ln(1690 / 460)`` (the local exponent rises by
    1.0 from 460 to 1690 eV, as ``dr`` of the real file); ``ripple``: ``1 + a sin(2 pi E / P + phi)``, ``a``
    uniform 0.03-0.10, ``P`` log-uniform 100-400 eV (a gain pattern of the size of the real file's
    ``wave_excess``); ``both``. The factors scale signal and noise alike (a gain pattern; the small change of
    the counts by the drift is ignored); the ``visible`` labels are the simulator's.
    """
    from hyperspy_eels_ml.elements.network import load_network

    net = load_network(model) if model else load_network()
    rows = {k: [] for k in ("base", "drift", "ripple", "both")}
    joint = {k: [] for k in rows}
    vis_all, stat, amp, per = [], {k: [] for k in ("dr", "wave_excess", "si_rise50")}, [], []
    k_drift = 1.0 / np.log(1690.0 / 460.0)
    for c0 in range(0, n, 256):
        m = min(256, n - c0)
        b, _ = simulate(m, seed + c0, realism)
        rng = np.random.default_rng(seed + 7 + c0)
        E = b.energy.astype(np.float64)
        drift = np.exp(-0.5 * k_drift * (np.log(E) - np.log(300.0)) ** 2)[None, :]
        a = rng.uniform(0.03, 0.10, m)[:, None]
        P = np.exp(rng.uniform(np.log(100.0), np.log(400.0), m))[:, None]
        ph = rng.uniform(0, 2 * np.pi, m)[:, None]
        ripple = 1.0 + a * np.sin(2 * np.pi * E[None, :] / P + ph)
        vis_all.append(b.visible[:, 1].astype(bool))
        amp.append(a[:, 0])
        per.append(P[:, 0])
        for key, f in (("base", 1.0), ("drift", drift), ("ripple", ripple), ("both", drift * ripple)):
            sp = (b.spectra * f).astype(np.float32)
            p, x = p_si(net, sp, E)
            rows[key].append(p)
            st = statistics(E, sp, x)
            joint[key].append((st["si_snr"] >= JOINT["si_snr"]) & (st["si_rise50"] >= JOINT["si_rise50"])
                              & (st["o_rise50"] <= JOINT["o_rise50"]))
            if key == "both":
                for k in stat:
                    stat[k].append(st[k])
    vis = np.concatenate(vis_all)
    out = {"n": int(n), "n_visible": int(vis.sum()), "realism": realism}
    for key, v in rows.items():
        p = np.concatenate(v)
        ok = vis & np.isfinite(p)
        out[key] = {"recall_visible": round(float((p[ok] >= 0.5).mean()), 4),
                    "median_p_visible": round(float(np.median(p[ok])), 4),
                    "false_call_not_visible": round(float((p[~vis & np.isfinite(p)] >= 0.5).mean()), 4)}
    out["both_quantiles_5_50_95"] = {k: _q(np.concatenate(v)[vis]) for k, v in stat.items()}
    a_all = np.concatenate(amp)
    out["joint"] = {k: int((np.concatenate(v) & vis).sum()) for k, v in joint.items()}
    out["joint"]["ripple_a_0.03-0.05"] = int((np.concatenate(joint["ripple"]) & vis & (a_all < 0.05)).sum())
    out["joint"]["n_a_0.03-0.05"] = int((a_all < 0.05).sum())
    amp, per, pr, pb = np.concatenate(amp), np.concatenate(per), np.concatenate(rows["ripple"]), np.concatenate(rows["base"])
    ok = vis & np.isfinite(pr) & np.isfinite(pb)
    out["ripple_by_amplitude"] = [
        {"a": [lo_, hi_], "n": int((ok & (amp >= lo_) & (amp < hi_)).sum()),
         "recall_base": round(float((pb[ok & (amp >= lo_) & (amp < hi_)] >= 0.5).mean()), 4),
         "recall_ripple": round(float((pr[ok & (amp >= lo_) & (amp < hi_)] >= 0.5).mean()), 4)}
        for lo_, hi_ in ((0.03, 0.05), (0.05, 0.075), (0.075, 0.1))]
    out["ripple_by_period"] = [
        {"P": [lo_, hi_], "n": int((ok & (per >= lo_) & (per < hi_)).sum()),
         "recall_base": round(float((pb[ok & (per >= lo_) & (per < hi_)] >= 0.5).mean()), 4),
         "recall_ripple": round(float((pr[ok & (per >= lo_) & (per < hi_)] >= 0.5).mean()), 4)}
        for lo_, hi_ in ((100.0, 160.0), (160.0, 250.0), (250.0, 400.0))]
    return out


#: the other wide-window real file of the data folder (same spectrometer type, GIF Quantum ER): 700-1988 eV,
#: 8 eV/ch, 40 x 50 SI of Cu / Zn oxide on carbon nanotubes (E0 200 kV, beta 36 mrad)
SECOND = "clustering/exspy-demos__CuZn_EELS_mapping_tutorial.hspy"


def second_file(n=2048, seed=35000):
    """Ripple (1250-1960 eV, 16-eV bins) and exponent drift (r over 1500-1980 minus r over 710-920 eV) of the
    CuZn SI's sum spectrum against simulated Cu + Zn spectra of its axis (v2, v3)."""
    import hyperspy.api as hs

    from hyperspy_eels_ml.elements.simulate import INSTRUMENT_SHIFT
    from hyperspy_eels_ml.simulation.core_loss import core_loss

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = hs.load(os.path.join(data_dir(), SECOND))
    E = s.axes_manager.signal_axes[0].axis.astype(np.float64)
    tot = s.data.reshape(-1, E.size).astype(np.float64).sum(0, keepdims=True)

    def r_of(I, lo, hi):
        sel = (E >= lo) & (E < hi)
        return -np.polyfit(np.log(E[sel]), np.log(np.clip(I[:, sel], 1e-12, None)).T, 1)[0]

    real_w = ripple(E, tot, 1250, 1960, 16)
    real_dr = float((r_of(tot, 1500, 1980) - r_of(tot, 710, 920))[0])
    out = {"file": SECOND, "real": {"wave": round(float(real_w[0][0]), 4), "wave_excess": round(float(real_w[1][0]), 4),
                                    "dr": round(real_dr, 4)}, "sim": {}}
    for i, realism in enumerate(("realistic-v2", "realistic-v3")):
        b = core_loss(n, ["Cu", "Zn"], energy_offset=float(E[0]), dispersion=float(E[1] - E[0]), size=E.size, E0=200.0,
                      beta=36.0, instrument_shift=INSTRUMENT_SHIFT, rng=np.random.default_rng(seed + i), realism=realism)
        I = b.spectra.astype(np.float64)
        w, we = ripple(E, I, 1250, 1960, 16)
        dr = r_of(I, 1500, 1980) - r_of(I, 710, 920)
        out["sim"][realism] = {"wave": _q(w), "wave_excess": _q(we), "dr": _q(dr),
                               "real_percentile": {"wave": round(float((w < real_w[0][0]).mean() * 100), 1),
                                                   "wave_excess": round(float((we < real_w[1][0]).mean() * 100), 1),
                                                   "dr": round(float((dr < real_dr).mean() * 100), 1)}}
    return out


def _q(v):
    v = v[np.isfinite(v)]
    return [round(float(x), 4) for x in np.quantile(v, [0.05, 0.5, 0.95])] if v.size else [None] * 3


def run(n=1024, seed=33000, realisms=("realistic-v2", "realistic-v3"), model=None, extra=()):
    from hyperspy_eels_ml.elements.network import load_network

    net = load_network(model) if model else load_network()
    E, tot, px = load_real(data_dir())
    res = {"real": {}, "sim": {}}
    for name, arr in (("sum", tot), ("pixels", px)):
        p, x = p_si(net, arr.astype(np.float32), E)
        st = statistics(E, arr, x)
        res["real"][name] = {k: [round(float(v), 4) for v in st[k]] for k in STATS}
        res["real"][name]["p_si"] = [round(float(v), 4) for v in p]
    res["real"]["pixel_difference_noise"] = pixel_difference_noise(E, px)
    arms = [(r, None) for r in realisms] + list(extra)
    for ai, (realism, tl) in enumerate(arms):
        key = realism if tl is None else f"{realism} t/lambda {tl[0]}-{tl[1]}"
        chunks = []
        for c0 in range(0, n, 256):
            m = min(256, n - c0)
            b, ratio = simulate(m, seed + 1000 * ai + c0, realism, tl)
            p, x = p_si(net, b.spectra, b.energy)
            st = statistics(b.energy, b.spectra, x)
            st["p_si"] = p
            st["visible"] = b.visible[:, 1].astype(bool)
            st["t_lambda"] = np.asarray(b.params["t_lambda"], float)
            st["gain"] = np.asarray(b.params["gain"], float)
            st["jr_param"] = np.asarray(b.params["jump_ratio"], float)
            st["r_param"] = np.asarray(b.params["background_exponent"], float)
            chunks.append(st)
        S = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
        vis = S["visible"] & np.isfinite(S["p_si"])
        out = {"n": int(n), "visible_fraction": round(float(S["visible"].mean()), 4),
               "recall_visible": round(float((S["p_si"][vis] >= 0.5).mean()), 4) if vis.any() else None,
               "median_p_visible": round(float(np.median(S["p_si"][vis])), 4) if vis.any() else None,
               "quantiles_5_50_95": {}, "real_sum_percentile": {}, "binned": {}}
        for k in STATS + ("t_lambda",):
            out["quantiles_5_50_95"][k] = _q(S[k][vis])
            if k in res["real"]["sum"]:
                v = S[k][vis]
                v = v[np.isfinite(v)]
                rv = res["real"]["sum"][k][0]
                out["real_sum_percentile"][k] = round(float((v < rv).mean() * 100), 1) if v.size else None
            v = S[k][vis]
            ok = np.isfinite(v)
            if ok.sum() >= 40:
                edges = np.quantile(v[ok], [0, 0.2, 0.4, 0.6, 0.8, 1.0])
                rows = []
                for a_, b_ in zip(edges[:-1], edges[1:]):
                    sel = ok & (v >= a_) & (v <= b_)
                    pp = S["p_si"][vis][sel]
                    rows.append({"range": [round(float(a_), 4), round(float(b_), 4)], "n": int(sel.sum()),
                                 "recall": round(float((pp >= 0.5).mean()), 4),
                                 "median_p": round(float(np.median(pp)), 4)})
                out["binned"][k] = rows
        # the real sum's combination: a strong Si K (si_snr 38) that rises slowly (59 eV) with a sharp O K (0 eV)
        strong = vis & (S["si_snr"] >= JOINT["si_snr"])
        slow = strong & (S["si_rise50"] >= JOINT["si_rise50"])
        both = slow & (S["o_rise50"] <= JOINT["o_rise50"])
        out["joint"] = {"thresholds": JOINT, "strong_visible": int(strong.sum()), "strong_slow": int(slow.sum()),
                        "strong_slow_sharp_o": int(both.sum()),
                        "recall_strong_slow": round(float((S["p_si"][slow] >= 0.5).mean()), 4) if slow.any() else None,
                        "median_t_lambda_strong_slow": round(float(np.median(S["t_lambda"][slow])), 3) if slow.any() else None,
                        "median_o_rise50_strong_slow": round(float(np.nanmedian(S["o_rise50"][slow])), 1) if slow.any() else None}
        res["sim"][key] = out
    return res


def print_report(res):
    print("Real O/Si SI (300-2347 eV, 1 eV/ch): statistic, sum spectrum, pixels")
    for k in STATS + ("p_si",):
        print(f"  {k:10s} {res['real']['sum'][k][0]:>10.4g}   " + " ".join(f"{v:.4g}" for v in res['real']['pixels'][k]))
    pd = res["real"]["pixel_difference_noise"]
    print(f"  pixel differences (650-1830 eV): autocorrelation at lags {pd['lags']}: {pd['autocorrelation']}; "
          f"variance of 10-channel means / white {pd['bin10_variance_over_white']}")
    for key, o in res["sim"].items():
        print(f"\nSimulated O + Si, {key}: n {o['n']}, Si visible {o['visible_fraction']}, recall (p >= 0.5) "
              f"{o['recall_visible']}, median p {o['median_p_visible']}")
        print(f"  {'statistic':10s} {'q05':>9s} {'q50':>9s} {'q95':>9s}  real pct")
        for k, q in o["quantiles_5_50_95"].items():
            pc = o["real_sum_percentile"].get(k)
            print(f"  {k:10s} " + " ".join(f"{v:9.4g}" if v is not None else f"{'-':>9s}" for v in q)
                  + (f"  {pc:6.1f}" if pc is not None else ""))
        j = o["joint"]
        print(f"  joint: Si visible with si_snr >= {j['thresholds']['si_snr']:g}: {j['strong_visible']}; of those si_rise50 >= "
              f"{j['thresholds']['si_rise50']:g} eV: {j['strong_slow']} (recall {j['recall_strong_slow']}, median t/lambda "
              f"{j['median_t_lambda_strong_slow']}, median o_rise50 {j['median_o_rise50_strong_slow']}); and o_rise50 <= "
              f"{j['thresholds']['o_rise50']:g} eV: {j['strong_slow_sharp_o']}")
        for k, rows in o["binned"].items():
            print(f"  p(Si) by {k}: " + "; ".join(f"[{r['range'][0]:.3g}, {r['range'][1]:.3g}] n {r['n']} "
                                                 f"rec {r['recall']:.2f} p50 {r['median_p']:.2f}" for r in rows))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=33000)
    ap.add_argument("--model", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--thick", action="store_true",
                    help="add a v3 arm with t/lambda 0.8-1.5 (thick specimens: plural scattering)")
    ap.add_argument("--interventions", action="store_true",
                    help="also the paired drift / ripple test (interventions())")
    ap.add_argument("--second", action="store_true",
                    help="also the ripple and exponent drift of the CuZn SI (the other wide window, second_file())")
    a = ap.parse_args(argv)
    extra = [("realistic-v3", (0.8, 1.5))] if a.thick else []
    res = run(a.n, a.seed, model=a.model, extra=extra)
    print_report(res)
    if a.interventions:
        res["interventions"] = interventions(a.n, a.seed + 1000, model=a.model)
        iv = res["interventions"]
        print(f"\nPaired interventions on simulated O + Si ({iv['realism']}, n {iv['n']}, Si visible {iv['n_visible']})")
        for key in ("base", "drift", "ripple", "both"):
            print(f"  {key:7s} recall {iv[key]['recall_visible']:.3f}  median p {iv[key]['median_p_visible']:.3f}  "
                  f"false calls (Si not visible) {iv[key]['false_call_not_visible']:.3f}")
        print("  'both' statistics q05/q50/q95: " + "; ".join(f"{k} {v}" for k, v in iv["both_quantiles_5_50_95"].items()))
        print("  joint test (strong, slow Si K, sharp O K; Si visible): " + ", ".join(f"{k} {v}" for k, v in iv["joint"].items()))
        for row in iv["ripple_by_amplitude"] + iv["ripple_by_period"]:
            print("  ripple " + ", ".join(f"{k} {v}" for k, v in row.items()))
    if a.second:
        res["second_file"] = sf = second_file()
        print(f"\nSecond wide-window file {sf['file']}: real {sf['real']}")
        for k, v in sf["sim"].items():
            print(f"  {k}: q05/q50/q95 " + "; ".join(f"{s_} {v[s_]}" for s_ in ("wave", "wave_excess", "dr"))
                  + f"; real percentile {v['real_percentile']}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
