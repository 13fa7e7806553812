"""Benchmark: band gaps with a vacuum reference on a simulated WS2-like flake (bias, 68 % coverage, NaN reasons).

Usage::

    python benchmarks/bench_zlp_band_gap_vacuum.py          # gap exponents 0.5 and 1.5, seeds 0 1 2, 24 replicas
    python benchmarks/bench_zlp_band_gap_vacuum.py --fast   # one exponent (0.5), seed 0, 8 replicas: a smoke run
    python benchmarks/bench_zlp_band_gap_vacuum.py --seeds 0 1 2 3 --json new.json
    # the code before a commit, e.g. 9367d83 (specimen baselines follow the vacuum tail):
    git worktree add /tmp/z15_old 9367d83~1
    PYTHONPATH=/tmp/z15_old python benchmarks/bench_zlp_band_gap_vacuum.py --json old.json
    python benchmarks/bench_zlp_band_gap_vacuum.py --compare old.json new.json   # both pooled tables, no fitting
    python benchmarks/bench_zlp_band_gap_vacuum.py --real ../shared/data/zlp --seeds 0 1 2 3   # real WS2: Eg, b
    # the onset-law check (session 10): b "free" and "chi2" instead of None, the law maps, the law table
    python benchmarks/bench_zlp_band_gap_vacuum.py --law --seeds 0 1 2 3 4 5 6 7 --json law.json
    python benchmarks/bench_zlp_band_gap_vacuum.py --law-table law.json        # the law table again, no fitting
    python benchmarks/bench_zlp_band_gap_vacuum.py --law --real ../shared/data/zlp --seeds 0 1 2 3
    # 4.5 counts per electron, count_gain estimated from the data (session 10, counts per electron)
    python benchmarks/bench_zlp_band_gap_vacuum.py --gain 4.5 --count-gain auto --seeds 0 1 2 3 --json g45_auto.json
    # the same with channels correlated (PSF blur, lag-1 autocorrelation 0.9; z21)
    python benchmarks/bench_zlp_band_gap_vacuum.py --gain 4.5 --rho 0.9 --count-gain auto --seeds 0 1 2 3
    # 4.5 detector counts per electron, count_gain left at 1; --scaled: candidate C (delta / reduced chi^2)
    python benchmarks/bench_zlp_band_gap_vacuum.py --law --gain 4.5 --seeds 0 1 2 3 4 5 6 7 --json g45.json
    python benchmarks/bench_zlp_band_gap_vacuum.py --law-table g45.json --scaled

Data: ``ws2_flake_low_loss_si((16, 24), gap_exponent=b0, band_gap=1.6, seed=s)``
(25 meV/ch, -4.05..45.5 eV, 60 kV), as the real WS2 case is fitted
(``tests/zlp/test_real_data.py``): the ``--n-flake`` thinnest flake pixels
(t/lambda 0.1, spread along the flake's edge) as the specimen and ``--n-vacuum``
vacuum pixels as ``vacuum=``; ``subtract_zlp_nn(vacuum=..., n_replicas=R,
random_state=s)``. Then ``fit_band_gap`` in the window 1.0-3.0 eV and in the
default window, with the exponent not given (``None``: b free up to session 9,
the law by chi^2 since session 10; ``--law`` asks for "free" and "chi2"
explicitly), fixed at the true ``b0`` and fixed at the other textbook value
(1.5 for ``b0`` 0.5, 0.5 for 1.5: the wrong law).

Per case it prints: replicas kept; the fitted ZLP over the true one summed in
1-1.5 / 1.5-2 / 2-3 eV (pixel median); the median Eg of the fitted pixels; the
bias of that median against the truth (1.6 eV) and against the same grid fit of
the noise-free true inelastic signal (``fit_onset``, same window, exponents and
Eg grid, weights 1/noise-free counts); the fraction of fitted pixels whose 68 %
interval holds 1.6 and holds that noise-free fit (the issue-12 target is
0.6-0.8); NaN pixels with their reasons (``gap.reason`` 1: grid edge or below
the window start, 2: onset not resolved); the pixel-median reduced chi^2. The
summary pools the seeds: coverage over all fitted pixels of all seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import numpy as np

TRUE_GAP = 1.6
ZLP_BANDS = ((1.0, 1.5), (1.5, 2.0), (2.0, 3.0))


def _eels(d, axis, beam=60.0):
    import exspy

    s = exspy.signals.EELSSpectrum(np.asarray(d, float))
    ax = s.axes_manager.signal_axes[0]
    ax.name, ax.units, ax.offset, ax.scale = "Energy loss", "eV", float(axis[0]), float(axis[1] - axis[0])
    return s


def pick_pixels(truth, n_flake, n_vacuum):
    """Flat indices: the ``n_flake`` thinnest flake pixels (spread along the edge) and ``n_vacuum`` vacuum pixels."""
    t = np.asarray(truth.t_lambda, float).ravel()
    vac = np.asarray(truth.vacuum, bool).ravel()
    flake = np.flatnonzero(~vac)
    thin = flake[t[flake] <= t[flake].min() + 1e-9]
    fl = thin[np.linspace(0, thin.size - 1, n_flake).round().astype(int)]
    vv = np.flatnonzero(vac)
    vc = vv[np.linspace(0, vv.size - 1, n_vacuum + 2).round().astype(int)[1:-1]]  # away from the corners' ends
    return fl, vc


class capture_replica_fits:
    """Record the replica-level ``fit_onset`` results inside ``fit_band_gap`` (synchronous dask, pixel order)."""

    def __enter__(self):
        import dask

        from hyperspy_eels_ml.zlp import bandgap

        self.mod, self.orig, self.calls = bandgap, bandgap.fit_onset, []
        self.cfg = dask.config.set(scheduler="synchronous")
        self.cfg.__enter__()

        def wrapped(E, I, *args, **kw):
            out = self.orig(E, I, *args, **kw)
            if kw.get("full_output") and np.ndim(I) == 3:  # the (R, p, nW) replica fits, not the chi^2 fit
                self.calls.append((out[0], out[1], out[3], out[5]))  # Eg, b, at_edge, delta_chi2: (R, p)
            return out

        bandgap.fit_onset = wrapped
        return self

    def __exit__(self, *exc):
        self.mod.fit_onset = self.orig
        self.cfg.__exit__(*exc)
        return False

    def arrays(self):
        if not self.calls:
            return None
        return [np.concatenate([c[k] for c in self.calls], axis=1) for k in range(4)]


def nan_reasons(cap, reason, lo, hi, disp):
    """Per NaN pixel: where its replicas' Eg ended (grid low / high edge, below the window start) and their b."""
    from hyperspy_eels_ml.zlp.bandgap import eg_grid_for

    arr = cap.arrays()
    if arr is None or not np.any(reason != 0):
        return []
    eg, b, edge, dchi2 = arr
    grid = eg_grid_for(lo, hi, disp)
    out = []
    for i in np.flatnonzero(reason != 0):
        e_i = eg[:, i]
        out.append(dict(pixel=int(i), reason=int(reason[i]), low_edge=float(np.mean(e_i <= grid[0] + 1e-9)),
                        high_edge=float(np.mean(e_i >= grid[-1] - 1e-9)),
                        below_lo=float(np.mean((e_i < lo) & (e_i > grid[0] + 1e-9))),
                        eg_med=float(np.median(e_i)), b_med=float(np.median(b[:, i])),
                        dchi2_med=float(np.median(dchi2[:, i]))))
    return out


def run_case(b0, seed, replicas, n_flake, n_vacuum, shape, law=False, gain=1.0, count_gain=1.0, rho=0.0):
    from hyperspy_eels_ml.simulation import ws2_flake_low_loss_si
    from hyperspy_eels_ml.zlp import fit_onset
    from hyperspy_eels_ml.zlp.bandgap import eg_grid_for

    s, truth = ws2_flake_low_loss_si(tuple(shape), band_gap=TRUE_GAP, gap_exponent=b0, seed=seed)
    e = s.axes_manager.signal_axes[0].axis
    disp = e[1] - e[0]
    nE = e.size
    data = np.asarray(s.data, float).reshape(-1, nE)
    zt = np.asarray(truth.zlp.data, float).reshape(-1, nE)
    it = np.asarray(truth.inelastic.data, float).reshape(-1, nE)
    if gain != 1.0:  # detector counts per electron: the data (and truth) x gain, count_gain left at 1
        data, zt, it = data * gain, zt * gain, it * gain
    if rho > 0:  # channels correlated by the simulator's PSF (lag-1 autocorrelation rho); truth blurred alike
        from hyperspy_eels_ml.simulation.realism import convolve_rows, psf_kernel

        k, _ = psf_kernel(np.full(data.shape[0], float(rho)))
        data, zt, it = convolve_rows(data, k), convolve_rows(zt, k), convolve_rows(it, k)
    fl, vc = pick_pixels(truth, n_flake, n_vacuum)
    spec, vac = _eels(data[fl], e), _eels(data[vc], e)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = spec.subtract_zlp_nn(vacuum=vac, n_replicas=replicas, random_state=seed, show_progressbar=False,
                                count_gain=count_gain)
    t_fit = time.perf_counter() - t0
    rep = getattr(r, "replica_report", None) or {}
    zf = np.asarray(r.zlp.data, float)
    zr = []
    for lo, hi in ZLP_BANDS:
        m = (e >= lo) & (e < hi)
        zr.append(float(np.median(zf[:, m].sum(1) / zt[fl][:, m].sum(1))))
    cl = r.model.clusters
    d1 = np.asarray(cl["dE1"], float)[~np.asarray(cl["vacuum"], bool)]
    case = dict(b0=b0, seed=seed, replicas=replicas, gain=gain, rho=float(rho), count_gain=float(r.model.params["count_gain"]),
                kept=int(rep.get("kept", -1)), trained=int(rep.get("trained", -1)),
                fit_s=round(t_fit, 1), zlp_ratio=zr, dE1=[float(x) for x in d1], fits=[])
    wrong = 1.5 if b0 < 1.0 else 0.5  # the other textbook exponent: a fit with the wrong onset law
    for rng in ((1.0, 3.0), None):
        for ex in (("free", "chi2", b0, wrong) if law else (None, b0, wrong)):
            with warnings.catch_warnings(), capture_replica_fits() as cap:
                warnings.simplefilter("ignore")
                g = r.fit_band_gap(rng, exponent=ex, show_progressbar=False)
            lo, hi = g.energy_range
            win = (e >= lo) & (e <= hi)
            bv = [ex] if not (ex is None or isinstance(ex, str)) else list(np.round(np.arange(0.3, 2.55, 0.1), 2))
            w_true = 1.0 / np.clip(zt[fl] + it[fl], 1, None)[:, win]  # inverse noise-free counts
            egt, bt, _, edge_t, _, _ = fit_onset(e[win], it[fl][:, win], w_true, eg_grid_for(lo, hi, disp), bv,
                                                 full_output=True)
            eg = np.asarray(g.Eg.data, float)
            L, U = np.asarray(g.Eg_lower.data, float), np.asarray(g.Eg_upper.data, float)
            reason = np.asarray(g.reason.data).astype(int)
            ok = np.isfinite(eg)
            case["fits"].append(dict(
                window="1.0-3.0" if rng else "default", lo=float(lo), hi=float(hi),
                exponent=ex if isinstance(ex, str) else "free" if ex is None else float(ex),
                eg=[float(x) for x in eg], lower=[float(x) for x in L], upper=[float(x) for x in U],
                b=[float(x) for x in np.asarray(g.b.data, float)],
                truth_fit=[float(x) for x in egt], truth_b=[float(x) for x in bt], truth_edge=int(np.sum(edge_t)),
                reason=[int(x) for x in reason], chi2=[float(x) for x in np.asarray(g.chi2.data, float)],
                n_ok=int(ok.sum()), nan_why=nan_reasons(cap, reason, lo, hi, disp),
                cov_true=[bool(x) for x in (L <= TRUE_GAP) & (TRUE_GAP <= U)],
                cov_fit=[bool(x) for x in (L <= egt) & (egt <= U)]))
            if law:
                egl = fit_onset(e[win], it[fl][:, win], w_true, eg_grid_for(lo, hi, disp), [b0])[0]
                case["fits"][-1].update(
                    truth_fit_law=[float(x) for x in egl], cov_law=[bool(x) for x in (L <= egl) & (egl <= U)],
                    **{k: [float(x) for x in np.asarray(getattr(g, k).data, float)]
                       for k in ("chi2_direct", "chi2_indirect", "delta_chi2_law", "flags")},
                    law_delta_chi2=float(g.law_delta_chi2))
    return case


def fit_row(f):
    eg = np.asarray(f["eg"])
    ok = np.isfinite(eg)
    tf = np.median(f["truth_fit"])
    med = np.nanmedian(eg) if ok.any() else np.nan
    cov_t = np.asarray(f["cov_true"])[ok]
    cov_f = np.asarray(f["cov_fit"])[ok]
    rs = np.asarray(f["reason"])
    nan = f"{int((~ok).sum())}" + (f" (r1 {int((rs == 1).sum())}, r2 {int((rs == 2).sum())})" if (~ok).any() else "")
    width = np.nanmedian(np.asarray(f["upper"]) - np.asarray(f["lower"])) if ok.any() else np.nan
    return dict(med=med, bias=med - TRUE_GAP, tf=tf, bias_tf=med - tf, width=width,
                cov_t=cov_t.mean() if ok.any() else np.nan, cov_f=cov_f.mean() if ok.any() else np.nan,
                nan=nan, chi2=np.nanmedian(f["chi2"]), b=np.nanmedian(f["b"]) if ok.any() else np.nan)


HEAD = (f"{'b0':>4} {'seed':>4} {'window':>11} {'b':>5} {'Eg med':>7} {'-1.6':>6} {'truthfit':>8} {'-tfit':>6} "
        f"{'width':>6} {'cov1.6':>6} {'covfit':>6} {'b med':>5} {'chi2':>5}  NaN")


def print_cases(cases, label=""):
    print(f"\n== per case {label}")
    for c in cases:
        print(f"b0={c['b0']} seed={c['seed']}: kept {c['kept']}/{c['trained']}, fit {c['fit_s']} s, dE1 "
              + "/".join(f"{x:.2f}" for x in c["dE1"]) + ", ZLP/true in 1-1.5/1.5-2/2-3 eV "
              + "/".join(f"{x:.2f}" for x in c["zlp_ratio"]))
    print(HEAD)
    for c in cases:
        for f in c["fits"]:
            w = f"{f['lo']:.2f}-{f['hi']:.2f}"
            x = fit_row(f)
            print(f"{c['b0']:4.1f} {c['seed']:4d} {w:>11} {str(f['exponent']):>5} {x['med']:7.3f} {x['bias']:+6.3f} "
                  f"{x['tf']:8.3f} {x['bias_tf']:+6.3f} {x['width']:6.3f} {x['cov_t']:6.2f} {x['cov_f']:6.2f} "
                  f"{x['b']:5.2f} {x['chi2']:5.2f}  {x['nan']}")
    why = [(c, f, w) for c in cases for f in c["fits"] for w in f.get("nan_why", [])]
    if why:
        print("\nNaN pixels: fraction of replicas whose Eg is at the grid's low edge / high edge / below the window "
              "start (not at the edge); replica-median Eg, b and delta chi^2 over 'no onset'")
        for c, f, w in why:
            print(f"  b0={c['b0']} seed={c['seed']} {f['window']} b={f['exponent']} pixel {w['pixel']} reason "
                  f"{w['reason']}: {w['low_edge']:.2f} / {w['high_edge']:.2f} / {w['below_lo']:.2f}; Eg "
                  f"{w['eg_med']:.3f} (window {f['lo']:.2f}-{f['hi']:.2f}), b {w['b_med']:.2f}, "
                  f"dchi2 {w['dchi2_med']:.0f}")


def summary(cases):
    """Pooled over seeds, per (b0, window, exponent)."""
    out = {}
    for c in cases:
        for f in c["fits"]:
            k = (c["b0"], f["window"], str(f["exponent"]))
            d = out.setdefault(k, dict(eg=[], tf=[], ct=[], cf=[], r1=0, r2=0, n=0, chi2=[], meds=[], ctf=[]))
            eg = np.asarray(f["eg"])
            ok = np.isfinite(eg)
            d["n"] += eg.size
            d["eg"] += list(eg[ok])
            d["tf"] += list(np.asarray(f["truth_fit"])[ok])
            d["ctf"].append(float(np.median(f["truth_fit"])))
            d["ct"] += list(np.asarray(f["cov_true"])[ok])
            d["cf"] += list(np.asarray(f["cov_fit"])[ok])
            d["r1"] += int(np.sum(np.asarray(f["reason"]) == 1))
            d["r2"] += int(np.sum(np.asarray(f["reason"]) == 2))
            d["chi2"] += list(f["chi2"])
            d["meds"].append(float(np.nanmedian(eg)) if ok.any() else np.nan)
    return out


def print_summary(cases, label=""):
    print(f"\n== pooled over seeds {label}")
    print(f"{'b0':>4} {'window':>8} {'b':>5} {'Eg med':>7} {'-1.6':>6} {'-tfit':>6} {'truthfit':>8} "
          f"{'cov1.6':>6} {'covfit':>6} {'NaN':>8} {'chi2':>5}  per-seed medians")
    for (b0, w, ex), d in summary(cases).items():
        eg = np.asarray(d["eg"])
        med = np.median(eg) if eg.size else np.nan
        btf = np.median(eg - np.asarray(d["tf"])) if eg.size else np.nan
        ct = np.mean(d["ct"]) if d["ct"] else np.nan
        cf = np.mean(d["cf"]) if d["cf"] else np.nan
        nan = f"{d['r1'] + d['r2']}/{d['n']}"
        meds = "/".join("nan" if not np.isfinite(m) else f"{m:.2f}" for m in d["meds"])
        print(f"{b0:4.1f} {w:>8} {ex:>5} {med:7.3f} {med - TRUE_GAP:+6.3f} {btf:+6.3f} {np.median(d['ctf']):8.3f} "
              f"{ct:6.2f} {cf:6.2f} {nan:>8} {np.nanmedian(d['chi2']):5.2f}  {meds}"
              + (f"  (r1 {d['r1']}, r2 {d['r2']})" if d["r1"] + d["r2"] else ""))


def law_table(cases, scaled=False):
    """The onset-law check per (b0, window), pooled over seeds (``--law`` runs).

    ``scaled``: candidate C of session 10's rule addendum (git show 75cd380:SHIP_RULE.md), recomputed from the stored maps: decisive iff
    abs(delta) / max(1, the better law's reduced chi^2) >= the threshold; the "chi2" output of a pixel is then the
    stored fixed-exponent row of the winning law where decisive, the "free" row elsewhere, and the flags follow.
    """
    rows = {}
    for c in cases:
        for f in c["fits"]:
            if "delta_chi2_law" not in f:
                return
            d = rows.setdefault((c["b0"], f["window"]), {})
            d.setdefault(str(f["exponent"]), []).append(f)
    print("\n== onset-law check, pooled over seeds (decisive: abs(chi2(0.5) - chi2(1.5)) "
          + ("/ max(1, reduced chi2 of the better law) " if scaled else "") + ">= threshold; "
          "reference: truth fit with b = b0)" + ("; candidate C, recomputed from the stored maps" if scaled else ""))
    print(f"{'b0':>4} {'window':>8} {'onset':>6} {'decis.':>6} {'right':>6} {'flag free':>9} {'flag b0':>7} "
          f"{'flag wrong':>10} {'n both':>6} {'A bias':>7} {'B bias':>7} {'A cov':>6} {'B cov':>6} "
          f"{'A cov1.6':>8} {'B cov1.6':>8}  delta median (range)")
    for (b0, w), d in rows.items():
        fr, ch = d["free"], d["chi2"]
        fb = [f for k, v in d.items() if k not in ("free", "chi2") and abs(float(k) - b0) < 1e-9 for f in v]
        fw = [f for k, v in d.items() if k not in ("free", "chi2") and abs(float(k) - b0) > 1e-9 for f in v]
        cat = lambda fs, k: np.concatenate([np.asarray(f[k], float) for f in fs])  # noqa: E731
        delta, reason, thr = cat(fr, "delta_chi2_law"), cat(fr, "reason"), fr[0]["law_delta_chi2"]
        if scaled:
            delta = delta / np.maximum(1.0, np.minimum(cat(fr, "chi2_direct"), cat(fr, "chi2_indirect")))
        onset = reason != 2
        dec = onset & (np.abs(delta) >= thr)
        win = np.where(delta > 0, 1.5, 0.5)
        right = win == b0
        ea, eb = cat(fr, "eg"), cat(ch, "eg")
        la, ua, lb, ub = cat(fr, "lower"), cat(fr, "upper"), cat(ch, "lower"), cat(ch, "upper")
        if scaled:
            flag_rows = {}
            for name, fs, bfix in (("free", fr, None), ("b0", fb, b0), ("wrong", fw, 1.5 if b0 < 1 else 0.5)):
                on = cat(fs, "reason") != 2
                dec_r = on & (np.abs(delta) >= thr)
                flag_rows[name] = np.mean(on & ~dec_r) if bfix is None else np.mean(dec_r & (win != bfix))
            flag = lambda fs: flag_rows["free" if fs is fr else "b0" if fs is fb else "wrong"]  # noqa: E731
            pick = lambda k: np.where(dec & right, cat(fb, k), np.where(dec, cat(fw, k), cat(fr, k)))  # noqa: E731
            eb, lb, ub = pick("eg"), pick("lower"), pick("upper")
        else:
            flag = lambda fs: np.mean(cat(fs, "flags") != 0)  # noqa: E731
        ref = cat(fr, "truth_fit_law")
        both = dec & np.isfinite(ea) & np.isfinite(eb)

        def stat(eg, lo_, up_):
            if not both.any():
                return np.nan, np.nan, np.nan
            return (float(np.median(eg[both] - ref[both])), float(np.mean(((lo_ <= ref) & (ref <= up_))[both])),
                    float(np.mean(((lo_ <= TRUE_GAP) & (TRUE_GAP <= up_))[both])))

        a_b, a_c, a_c16 = stat(ea, la, ua)
        b_b, b_c, b_c16 = stat(eb, lb, ub)
        frac_dec = dec[onset].mean() if onset.any() else np.nan
        print(f"{b0:4.1f} {w:>8} {int(onset.sum()):3d}/{onset.size:<2d} {frac_dec:6.2f} "
              f"{right[dec].mean() if dec.any() else np.nan:6.2f} {flag(fr):9.2f} {flag(fb):7.2f} {flag(fw):10.2f} "
              f"{int(both.sum()):6d} {a_b:+7.3f} {b_b:+7.3f} {a_c:6.2f} {b_c:6.2f} {a_c16:8.2f} {b_c16:8.2f}  "
              f"{np.median(delta):+.1f} ({delta.min():+.1f} to {delta.max():+.1f})")


def real_ws2(folder, seeds, replicas, law=False):
    """The real WS2 spectra (6 + 3 vacuum, as tests/zlp/test_real_data.py): Eg and b, window 1-3 eV, b free/0.5/1.5.

    With ``law``: exponents "free" / "chi2" / 0.5 / 1.5, in 1-3 eV and the default window, with the law maps; then
    the MoS2 nanoflower of the same folder (aligned and run with the defaults as ``bench_zlp_real.py`` does, the
    window it uses: the default one).
    """
    import pathlib

    files = sorted(pathlib.Path(folder).glob("eelsfitter__*.txt"))
    if not files:
        raise SystemExit(f"no eelsfitter__*.txt in {folder}")
    load = [np.loadtxt(f) for f in files]
    axis = np.linspace(-4.054, 45.471, load[0].size)  # file names: m4d054eV_45d471eV, linear
    spec = _eels([d for f, d in zip(files, load) if "Vacuum" not in f.name], axis)
    vac = _eels([d for f, d in zip(files, load) if "Vacuum" in f.name], axis)
    runs = [("WS2", spec, vac, ((1.0, 3.0), None) if law else ((1.0, 3.0),))]
    mos2 = sorted(pathlib.Path(folder).glob("CBL-ML__Data__May__MoS2*"))
    if law and mos2:
        import sys

        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from bench_zlp_real import align, load_cbl

        runs.append(("MoS2", align(load_cbl(mos2[0]))[0], None, (None,)))
    print(f"{'data':>4} {'seed':>4} {'kept':>5} {'window':>9} {'b':>5} {'Eg med':>7} {'b med':>5} {'chi2':>5}  reasons"
          + ("  delta chi2(0.5)-chi2(1.5) per pixel; flags" if law else ""))
    for name, sp, vc, windows in runs:
        for seed in seeds:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = sp.subtract_zlp_nn(vacuum=vc, n_replicas=replicas, random_state=seed, show_progressbar=False)
                for rng in windows:
                    for ex in (("free", "chi2", 0.5, 1.5) if law else (None, 0.5, 1.5)):
                        real_row(name, seed, r, rng, ex, law)


def real_row(name, seed, r, rng, ex, law):
    """One printed line of ``--real``: pixel medians of Eg, b, chi2; reasons; with ``law`` delta and flags."""
    g = r.fit_band_gap(rng, exponent=ex, show_progressbar=False)
    eg, b = np.atleast_1d(np.asarray(g.Eg.data, float)), np.atleast_1d(np.asarray(g.b.data, float))
    lo, hi = g.energy_range
    extra = ""
    if law:
        extra = ("  " + "/".join(f"{x:+.0f}" for x in np.atleast_1d(np.asarray(g.delta_chi2_law.data, float)))
                 + "; " + str(np.atleast_1d(np.asarray(g.flags.data)).astype(int).tolist()))
    print(f"{name:>4} {seed:4d} {r.replica_report['kept']:5d} {lo:4.2f}-{hi:4.2f} {str(ex or 'free'):>5} "
          f"{np.nanmedian(eg) if np.isfinite(eg).any() else np.nan:7.3f} "
          f"{np.nanmedian(b) if np.isfinite(b).any() else np.nan:5.2f} "
          f"{np.nanmedian(g.chi2.data):5.2f}  {np.atleast_1d(np.asarray(g.reason.data)).astype(int).tolist()}{extra}",
          flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--exponents", type=float, nargs="+", default=(0.5, 1.5), help="true gap exponents b0")
    ap.add_argument("--seeds", type=int, nargs="+", default=(0, 1, 2), help="phantom seeds = random_state")
    ap.add_argument("--replicas", type=int, default=24)
    ap.add_argument("--n-flake", type=int, default=6)
    ap.add_argument("--n-vacuum", type=int, default=3)
    ap.add_argument("--shape", type=int, nargs=2, default=(16, 24))
    ap.add_argument("--fast", action="store_true", help="b0 0.5, seed 0, 8 replicas")
    ap.add_argument("--json", help="write the per-pixel results here")
    ap.add_argument("--real", metavar="DIR", help="instead: the real WS2 spectra of DIR (the zlp data folder)")
    ap.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"), help="print two --json files, no fitting")
    ap.add_argument("--law", action="store_true", help="exponents 'free' and 'chi2' (the onset-law check) + law table")
    ap.add_argument("--law-table", metavar="JSON", nargs="+", help="print the law table of --law --json files "
                    "(pooled), no fitting")
    ap.add_argument("--scaled", action="store_true", help="with --law-table: also candidate C (delta / reduced chi2)")
    ap.add_argument("--gain", type=float, default=1.0, help="detector counts per electron: data x gain, "
                    "count_gain left at 1")
    ap.add_argument("--count-gain", default="1.0", help="count_gain passed to subtract_zlp_nn: a number or 'auto' "
                    "(session 10, counts per electron)")
    ap.add_argument("--rho", type=float, default=0.0, help="lag-1 autocorrelation of the channels (PSF blur of "
                    "the recorded counts, realism.psf_kernel; 0: none)")
    a = ap.parse_args(argv)
    if a.compare:
        for path in a.compare:
            with open(path) as fh:
                d = json.load(fh)
            print(f"\n######## {path}: {d['code']}")
            print_summary(d["cases"], path)
        return
    if a.law_table:
        cases = []
        for path in a.law_table:
            with open(path) as fh:
                cases += json.load(fh)["cases"]
        print_summary(cases, " ".join(a.law_table))
        law_table(cases)
        if a.scaled:
            law_table(cases, scaled=True)
        return
    if a.fast:
        a.exponents, a.seeds, a.replicas = (0.5,), (0,), 8
    import hyperspy_eels_ml

    if a.real:
        real_ws2(a.real, a.seeds, a.replicas, law=a.law)
        return

    code = os.path.dirname(os.path.dirname(os.path.abspath(hyperspy_eels_ml.__file__)))
    try:
        import subprocess

        rev = subprocess.run(["git", "-C", code, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             check=False).stdout.strip()
    except OSError:
        rev = "?"
    print(f"hyperspy_eels_ml from {code} ({rev}); {a.n_flake} flake + {a.n_vacuum} vacuum pixels, "
          f"{a.replicas} replicas")
    cases = []
    for b0 in a.exponents:
        for seed in a.seeds:
            c = run_case(b0, seed, a.replicas, a.n_flake, a.n_vacuum, a.shape, law=a.law, gain=a.gain,
                         count_gain=a.count_gain if a.count_gain == "auto" else float(a.count_gain), rho=a.rho)
            cases.append(c)
            print(f"  b0={b0} seed={seed}: {c['fit_s']} s, count_gain {c['count_gain']:.3g}", flush=True)
    print_cases(cases)
    print_summary(cases)
    if a.law:
        law_table(cases)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(dict(code=f"{code} ({rev})", args=vars(a), cases=cases), fh)


if __name__ == "__main__":
    main()
