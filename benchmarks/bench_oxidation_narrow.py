"""Mn valence on simulated inputs made like the MnEdgeNet references (issue 13): bias and coverage per valence.

Run::

    python benchmarks/bench_oxidation_narrow.py [--sets M0,M1,M1c,M2] [--seed-offset 0] [--models DIR]
                                                [--json out.json]

Simulation only (``hyperspy_eels_ml.simulation.white_line_spectra``); the measurement and the decision
criteria are fixed in SHIP_RULE.md (z22; ``git show b2ace1d:SHIP_RULE.md``). Sets:

* ``M0``: training-like control (full window, power-law background removed or a subtraction
  residual, continuum 0-2x, 300-5000 counts);
* ``M1``: like the references: cropped to 636.3-662.8 eV, no background, a constant offset 0-2x
  the edge height, no continuum, 5,000-50,000 counts, ``remove_background=False``;
  ``M1c``: the same with 0.25x the table's continuum;
* ``M2``: M1 sampled at the recorded energies of the four MnEdgeNet files (their energy column
  only, read from ``$HYPERSPY_EELS_ML_DATA``), (a) placed on a uniform axis (first energy, mean
  step: the benchmark's old ``_csv``) or (b) interpolated onto a uniform grid at the median step.

Every set goes through ``classify_oxidation("Mn", model="valence")`` (default metals=None: the
oxide model); the model applied directly to ``valence_features`` is checked to agree.
Seeds: M0 22000, M1 22001, M1c 22002, M2 22003 (+ ``--seed-offset``: 100 for the fresh sets that judge
a fix).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

COMPOSITIONS = [("2", (1.0, 0.0, 0.0)), ("2.5", (0.5, 0.5, 0.0)), ("3", (0.0, 1.0, 0.0)),
                ("3.3", (0.0, 0.7, 0.3)), ("3.5", (0.0, 0.5, 0.5)), ("4", (0.0, 0.0, 1.0))]
END_MEMBERS = ("Mn2+", "Mn3+", "Mn4+")
VAL = np.array([2.0, 3.0, 4.0])
DISPERSIONS = (0.1, 0.2, 0.3)
N_PER = 300
WINDOW = (636.3, 662.8)
COMMON = dict(shift=(-1.0, 1.0), resolution=(0.3, 1.2), t_lambda=(0.1, 0.6), parameter_spread=1.5,
              multiplet_jitter=(0.25, 0.25))
SEEDS = {"M0": 22000, "M1": 22001, "M1c": 22002, "M2": 22003}
MNEDGENET = ("MnO", "YBaMn3AlO7", "LaMnO3", "SrMnO3")


def _fractions():
    F = np.concatenate([np.tile(f, (N_PER, 1)) for _, f in COMPOSITIONS])
    return F, F @ VAL


def _classify(data, energy, rb):
    """(unbiased v, half, posterior-mean v, ok) through the public path, and the direct model's v."""
    from exspy.signals import EELSSpectrum

    import hyperspy_eels_ml  # noqa: F401
    from hyperspy_eels_ml.oxidation.shipped import _resolve_valence
    from hyperspy_eels_ml.oxidation.valence import network_inputs, valence_features

    s = EELSSpectrum(np.asarray(data, dtype=np.float32))
    ax = s.axes_manager.signal_axes[0]
    ax.scale, ax.offset, ax.units, ax.name = float(energy[1] - energy[0]), float(energy[0]), "eV", "Energy loss"
    r = s.classify_oxidation("Mn", model="valence", remove_background=rb, show_progressbar=False)
    ok = np.asarray(r.labels.data).reshape(-1) >= 0
    v = np.asarray(r.mean_valence.data, dtype=float).reshape(-1)
    h = np.asarray(r.valence_uncertainty.data, dtype=float).reshape(-1)
    fr = np.asarray(r.fractions.data, dtype=float).reshape(len(v), -1)
    ems = list(r.end_members)
    from hyperspy_eels_ml.simulation.oxidation import white_line_parameters

    p = white_line_parameters()["species"]
    pm = fr @ np.array([p[e]["valence"] for e in ems], dtype=float)
    # the model directly (no dask, no masks): must agree with the public path on classified pixels
    vm = _resolve_valence("valence", "Mn", oxides_only=True)[0]
    f, onset, snr, atb, fspec = valence_features(np.asarray(data, dtype=np.float64), energy, vm.spec_, rb)
    X = network_inputs(f, np.full(len(f), np.nan), vm.spec_)
    _, vd, _ = vm.predict(X)
    return dict(v=v, half=h, pm=pm, ok=ok, direct=vd, anchor=onset, model_info=r.model_info)


def _summary(res, vt, label):
    rows = {}
    for name, f in COMPOSITIONS:
        t = float(np.dot(f, VAL))
        sel = np.isclose(vt, t) & res["ok"]
        n_all = int(np.isclose(vt, t).sum())
        e = res["v"][sel] - t
        epm = res["pm"][sel] - t
        rows[name] = {"n": int(sel.sum()), "masked": n_all - int(sel.sum()),
                      "bias": float(e.mean()), "se": float(e.std(ddof=1) / np.sqrt(max(len(e), 2))),
                      "mae": float(np.abs(e).mean()),
                      "cov68": float(np.mean(np.abs(e) <= res["half"][sel])),
                      "bias_posterior_mean": float(epm.mean()),
                      "direct_minus_public_max": float(np.max(np.abs(res["direct"][sel] - res["v"][sel])))}
    return {"set": label, "by_valence": rows}


def _noise(lam, rng):
    return rng.poisson(np.clip(lam, 0, None)).astype(np.float64)


def make_set(kind, seed, d, data_dir=None):
    """-> list of (label, spectra, energy, remove_background, true valence)."""
    from hyperspy_eels_ml.simulation.oxidation import white_line_spectra

    rng = np.random.default_rng(seed + int(round(100 * d)))
    F, vt = _fractions()
    n = len(F)
    if kind == "M0":
        out = []
        half = n // 2
        idx = rng.permutation(n)
        for bg, rows in (("powerlaw", idx[:half]), ("residual", idx[half:])):
            b = white_line_spectra(len(rows), list(END_MEMBERS), fractions=F[rows], dispersion=d, background=bg,
                                   counts=(300.0, 5000.0), continuum=(0.0, 2.0), rng=rng, **COMMON)
            out.append((f"M0 {bg}", b.spectra, b.energy, bg == "powerlaw", vt[rows]))
        return out
    cont = 0.25 if kind == "M1c" else 0.0
    fine = 0.01 if kind == "M2" else d
    top = np.exp(rng.uniform(np.log(5000.0), np.log(50000.0), n))
    offset = rng.uniform(0.0, 2.0, n)
    chunks, energy = [], None
    for c in range(0, n, 300):
        b = white_line_spectra(min(300, n - c), list(END_MEMBERS), fractions=F[c:c + 300], dispersion=fine,
                               background=None, noise=False, counts=top[c:c + 300], continuum=cont, rng=rng,
                               energy_offset=WINDOW[0] - 10.0, size=int(round((WINDOW[1] - WINDOW[0] + 20.0) / fine)),
                               **COMMON)
        chunks.append(b.spectra.astype(np.float64))
        energy = b.energy
    lam = np.concatenate(chunks) + (offset * top)[:, None]
    if kind != "M2":
        keep = (energy >= WINDOW[0] - 1e-6) & (energy <= WINDOW[1] + 1e-6)
        return [(f"{kind} {d:g} eV/ch", _noise(lam[:, keep], rng), energy[keep], False, vt)]
    out = []
    for fname in MNEDGENET:
        path = os.path.join(data_dir, "oxidation", f"MnEdgeNet__test_Mn_spectra__Data2_{fname}.csv")
        e_rec = np.loadtxt(path, delimiter=",", skiprows=1, encoding="utf-8-sig")[:, 0]  # energy column only
        y = _noise(np.array([np.interp(e_rec, energy, row) for row in lam]), rng)
        step = float(np.mean(np.diff(e_rec)))
        uni_a = e_rec[0] + step * np.arange(e_rec.size)  # old loader: values placed on a uniform axis
        u, first = np.unique(e_rec, return_index=True)
        med = float(np.median(np.diff(e_rec)))
        uni_b = u[0] + med * np.arange(int(np.floor((u[-1] - u[0]) / med)) + 1)
        yb = np.array([np.interp(uni_b, u, row[first]) for row in y])
        out.append((f"M2a {fname} axis (uniform placement)", y, uni_a, False, vt))
        out.append((f"M2b {fname} axis (interpolated)", yb, uni_b, False, vt))
    return out


def _csv_axis(path, interpolate):
    """A MnEdgeNet CSV as (energy, counts): the recorded values placed on a uniform axis (old loader) or
    interpolated onto a uniform grid at the median step (over the unique recorded energies)."""
    a = np.loadtxt(path, delimiter=",", skiprows=1, encoding="utf-8-sig")
    e, y = a[:, 0], a[:, 1]
    if not interpolate:
        return e[0] + float(np.mean(np.diff(e))) * np.arange(e.size), y
    u, first = np.unique(e, return_index=True)
    med = float(np.median(np.diff(e)))
    g = u[0] + med * np.arange(int(np.floor((u[-1] - u[0]) / med)) + 1)
    return g, np.interp(g, u, y[first])


def descriptors(data, energy):
    """White-line descriptors of background-free spectra (n, m): L3 maximum (eV), L3 FWHM (eV, above the
    pre-edge level), L3-L2 splitting and Pearson-style R_int (oxidation.ratio, as the L3/L2 baseline)."""
    from hyperspy_eels_ml.oxidation.shipped import _resolve_valence
    from hyperspy_eels_ml.oxidation.valence import ratio_baseline_spectra

    data = np.atleast_2d(np.asarray(data, dtype=np.float64))
    vm = _resolve_valence("valence", "Mn", oxides_only=True)[0]
    _, w, _ = ratio_baseline_spectra(data, energy, vm.spec_, remove_background=False)
    d = float(energy[1] - energy[0])
    from scipy.ndimage import gaussian_filter1d

    sm = gaussian_filter1d(data, 0.3 / d, axis=1)
    y = sm - sm[:, energy < energy[0] + 1.0].mean(axis=1, keepdims=True)
    fw = np.full(len(y), np.nan)
    for i in range(len(y)):
        if not np.isfinite(w.l3[i]):
            continue
        k = int(np.argmin(np.abs(energy - w.l3[i])))
        half = 0.5 * y[i, k]
        lo = k
        while lo > 0 and y[i, lo] > half:
            lo -= 1
        hi = k
        while hi < len(energy) - 1 and y[i, hi] > half:
            hi += 1
        fw[i] = (hi - lo) * d
    return {"L3_eV": w.l3, "L3_fwhm_eV": fw, "splitting_eV": w.l2 - w.l3, "R_int": w.ratio}


def real_report(data_dir, seed):
    """After the decision (information only): the four MnEdgeNet files with both loaders, and their
    descriptors beside the simulated M1 pure end members (0.1 eV/ch) made with ``seed``."""
    out = {"files": {}, "simulated": {}}
    sims = make_set("M1", seed, 0.1)[0]
    _, x, e, _, vt = sims
    for v, name in ((2.0, "Mn2+"), (3.0, "Mn3+"), (4.0, "Mn4+")):
        dsc = descriptors(x[np.isclose(vt, v)], e)
        out["simulated"][name] = {k: [float(np.nanpercentile(a, q)) for q in (5, 50, 95)] for k, a in dsc.items()}
    for fname in MNEDGENET:
        path = os.path.join(data_dir, "oxidation", f"MnEdgeNet__test_Mn_spectra__Data2_{fname}.csv")
        row = {}
        for interp in (False, True):
            e, y = _csv_axis(path, interp)
            r = _classify(y[None], e, False)
            key = "interpolated" if interp else "uniform_placement"
            row[key] = {"v": float(r["v"][0]), "half": float(r["half"][0]), "posterior_mean": float(r["pm"][0]),
                        "anchor_eV": float(r["anchor"][0]),
                        "descriptors": {k: float(a[0]) for k, a in descriptors(y, e).items()}}
        out["files"][fname] = row
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", default="M0,M1,M1c,M2")
    ap.add_argument("--seed-offset", type=int, default=0)
    ap.add_argument("--models", default=None, help="a models folder (registry.json + oxidation/) to evaluate")
    ap.add_argument("--data", default=os.environ.get("HYPERSPY_EELS_ML_DATA",
                                                     os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                                                  "data")))
    ap.add_argument("--json", default=None)
    ap.add_argument("--real", action="store_true", help="after the decision only: the MnEdgeNet files with both "
                                                        "loaders and their descriptors beside simulated end members")
    a = ap.parse_args(argv)
    import warnings

    warnings.simplefilter("ignore")
    if a.models:
        import hyperspy_eels_ml.oxidation.shipped as C

        C._MODELS_DIR = os.path.abspath(a.models)
    t0 = time.time()
    if a.real:
        rep = real_report(a.data, SEEDS["M1"] + a.seed_offset)
        for k, v in rep["simulated"].items():
            print(f"simulated M1 {k} (5/50/95 %): " + ", ".join(f"{n} {q[0]:.2f}/{q[1]:.2f}/{q[2]:.2f}"
                                                               for n, q in v.items()))
        for f, row in rep["files"].items():
            for key, r in row.items():
                print(f"{f:<11} {key:<18} v {r['v']:.2f} +- {r['half']:.2f} (posterior mean {r['posterior_mean']:.2f}, "
                      f"onset {r['anchor_eV']:.2f} eV); " + ", ".join(f"{n} {x:.2f}" for n, x in r["descriptors"].items()))
        if a.json:
            with open(a.json, "w") as fh:
                json.dump(rep, fh, indent=1)
        return 0
    report = []
    for kind in a.sets.split(","):
        seed = SEEDS[kind] + a.seed_offset
        pooled = {}
        for d in (DISPERSIONS if kind != "M2" else (0.1,)):
            for label, x, e, rb, vt in make_set(kind, seed, d, a.data):
                res = _classify(x, e, rb)
                s = _summary(res, vt, label)
                report.append(s)
                key = label.split(" ")[0] if kind != "M2" else label.split(" ")[0]
                acc = pooled.setdefault(key, {"v": [], "half": [], "pm": [], "ok": [], "direct": [], "vt": []})
                for k in ("v", "half", "pm", "ok", "direct"):
                    acc[k].append(res[k])
                acc["vt"].append(vt)
                _print(s)
        for key, acc in pooled.items():
            res = {k: np.concatenate(acc[k]) for k in ("v", "half", "pm", "ok", "direct")}
            s = _summary(res, np.concatenate(acc["vt"]), f"{key} pooled (seed {seed})")
            report.append(s)
            _print(s)
    print(f"total {time.time() - t0:.0f} s")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(report, fh, indent=1)
    return 0


def _print(s):
    cells = [f"{k}: {r['bias']:+.2f}+-{r['se']:.2f} cov {r['cov68']:.2f} (pm {r['bias_posterior_mean']:+.2f}"
             + (f", masked {r['masked']}" if r["masked"] else "") + ")" for k, r in s["by_valence"].items()]
    print(f"{s['set']:<42} " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    sys.exit(main())
