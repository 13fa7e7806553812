"""68 % valence interval per true-composition bin, for every shipped valence model (issue 13, z24).

Run::

    OMP_NUM_THREADS=1 python benchmarks/bench_oxidation_interval.py [--models a,b] [--json out.json]
        [--candidates]          # also fit candidates A (entropy) / B (predicted valence) on seed 778

Simulation only (``train_valence.simulate``, 3000 spectra, ``at_boundary`` dropped); measurement and
criteria: SHIP_RULE.md (z24; git show 8274619:SHIP_RULE.md). Sets: measurement seed 24024, the card's held-out seed 777; candidates
are fitted on calibration seed 778 only. Without ``--candidates`` the models are measured as shipped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

MODELS = ["mn_l23_valence", "mn_l23_valence_oxide", "fe_l23_valence", "fe_l23_valence_oxide", "co_l23_valence",
          "co_l23_valence_oxide", "ni_l23_valence", "cu_l23_valence", "cu_l23_valence_oxide", "ti_l23_valence",
          "ce_m45_valence"]
MEASURE_SEED, HELDOUT_SEED, CAL_SEED = 24024, 777, 778
N = 3000
TARGET, MIN_N = 0.68, 50


def quantity(fractions, valence, feature):
    """Candidate A: normalised entropy of the predicted fractions; B: the predicted mean valence."""
    if feature == "valence":
        return np.asarray(valence, dtype=np.float64)
    f = np.clip(np.asarray(fractions, dtype=np.float64), 1e-12, 1.0)
    return -(f * np.log(f)).sum(axis=1) / np.log(f.shape[1])


class Scaled:
    """A shipped model whose default 68 % half-width is multiplied by s(z) per input kind (SHIP_RULE z24)."""

    def __init__(self, model, X, F, feature, n_bins=5, clamp=(0.3, 5.0), min_rows=250):
        self.model, self.feature, self.shape = model, feature, {}
        fr, v, h = model.predict(X)
        vt = F @ np.asarray(model.spec_.valences)
        known = X[:, -1] > 0.5
        for key, rows in (("calibrated", known), ("shape_only", ~known)):
            if rows.sum() < min_rows:
                continue
            z = quantity(fr[rows], v[rows], feature)
            r = np.abs(v[rows] - vt[rows]) / np.maximum(h[rows], 1e-12)
            edges = np.quantile(z, np.linspace(0, 1, n_bins + 1))
            idx = np.clip(np.searchsorted(edges, z, side="right") - 1, 0, n_bins - 1)
            kn, sc = [], []
            for i in range(n_bins):
                sel = idx == i
                if sel.sum() >= 20:
                    kn.append(float(np.median(z[sel])))
                    sc.append(float(np.clip(np.quantile(r[sel], 0.6827), *clamp)))
            o = np.argsort(kn)
            self.shape[key] = {"feature": feature, "knots": [kn[i] for i in o], "scale": [sc[i] for i in o],
                               "n": int(rows.sum())}

    def predict(self, X):
        fr, v, h = self.model.predict(X)
        known = X[:, -1] > 0.5
        h = h.copy()
        for key, rows in (("calibrated", known), ("shape_only", ~known)):
            c = self.shape.get(key)
            if c is not None and rows.any():
                h[rows] *= np.interp(quantity(fr[rows], v[rows], self.feature), c["knots"], c["scale"])
        return fr, v, h


def composition_bins(F):
    """Boolean masks of the true-composition bins (SHIP_RULE z24)."""
    nz = (F > 1e-9).sum(axis=1)
    binary = nz == 2
    return {"pure": nz == 1, "binary": binary,
            "balanced": binary & (np.where(F > 1e-9, F, 1.0).min(axis=1) >= 0.3), "dirichlet": nz >= 3}


def measure(model, data, ems, valences):
    ok = ~data["at_boundary"]
    X, F = data["X"][ok], data["F"][ok]
    fr, v, h = model.predict(X)
    vt = F @ np.asarray(valences)
    cov = np.abs(v - vt) <= h
    ent = quantity(fr, v, "entropy")
    need = np.abs(v - vt) / np.maximum(h, 1e-12)
    out = {"n": int(ok.sum()), "coverage_68": float(cov.mean()), "valence_mae": float(np.mean(np.abs(v - vt))),
           "mean_half_width": float(np.mean(h)), "bins": {}, "pure_by_end_member": {}}
    for name, m in composition_bins(F).items():
        if m.sum():
            out["bins"][name] = {"n": int(m.sum()), "coverage_68": float(cov[m].mean()),
                                 "bias": float(np.mean((v - vt)[m])), "mean_half_width": float(np.mean(h[m])),
                                 # information: the scale this true bin alone would need, its predicted entropy
                                 "needed_scale": float(np.quantile(need[m], 0.6827)),
                                 "mean_entropy": float(np.mean(ent[m]))}
    for j, s in enumerate(ems):
        m = F[:, j] > 1 - 1e-9
        if m.sum():
            out["pure_by_end_member"][s] = {"n": int(m.sum()), "coverage_68": float(cov[m].mean()),
                                            "bias": float(np.mean((v - vt)[m]))}
    return out, v


def worst(res):
    return max(abs(b["coverage_68"] - TARGET) for b in res["bins"].values() if b["n"] >= MIN_N)


def criteria(report, tol=0.03, gain=0.03):
    """SHIP_RULE z24 criteria 1-4 per candidate (``report`` from :func:`main`)."""
    names = [n for n in report if not n.startswith("_")]
    M, H = str(MEASURE_SEED), str(HELDOUT_SEED)
    base = np.mean([worst(report[n]["shipped"][M]) for n in names])
    out = {"shipped": {"mean_worst_bin_deviation": float(base)}}
    for k in ("A", "B"):
        c1 = [f"{n} {s} {report[n][k][s]['coverage_68']:.3f}" for n in names for s in (H, M)
              if not 0.60 <= report[n][k][s]["coverage_68"] <= 0.80]
        c2 = []
        for n in names:
            for b, x in report[n][k][M]["bins"].items():
                x0 = report[n]["shipped"][M]["bins"][b]
                if x["n"] >= MIN_N and abs(x["coverage_68"] - TARGET) > abs(x0["coverage_68"] - TARGET) + tol:
                    c2.append(f"{n} {b} {x0['coverage_68']:.3f}->{x['coverage_68']:.3f}")
        mw = float(np.mean([worst(report[n][k][M]) for n in names]))
        c4 = max(report[n][k][s]["max_abs_dvalence"] for n in names for s in (H, M))
        c4 = c4 <= 1e-9 and all(report[n][k][s]["valence_mae"] == report[n]["shipped"][s]["valence_mae"]
                                for n in names for s in (H, M))
        out[k] = {"c1_fails": c1, "c2_fails": c2, "mean_worst_bin_deviation": mw,
                  "c3": bool(base - mw >= gain), "c4": bool(c4),
                  "passes": bool(not c1 and not c2 and base - mw >= gain and c4)}
    return out


def main(argv=None):
    global MEASURE_SEED
    from hyperspy_eels_ml.oxidation.train_valence import MODEL_DIR, simulate
    from hyperspy_eels_ml.oxidation.valence import ValenceModel

    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--candidates", action="store_true")
    ap.add_argument("--model-dir", default=MODEL_DIR)
    ap.add_argument("--json")
    ap.add_argument("--measure-seed", type=int, default=MEASURE_SEED,
                    help="replicate the measurement on another seed (information only; the rule uses 24024)")
    a = ap.parse_args(argv)
    MEASURE_SEED = a.measure_seed
    report = {}
    for name in a.models.split(","):
        t0 = time.time()
        model = ValenceModel.load(os.path.join(a.model_dir, name + ".npz"))
        el, sp = model.spec_.element, model.spec_
        ems, vals = sp.end_members, sp.valences
        sets = {s: simulate(el, N, s, sp)[0] for s in (MEASURE_SEED, HELDOUT_SEED)}
        r = {"shipped": {}}
        v0 = {}
        for s, d in sets.items():
            r["shipped"][str(s)], v0[s] = measure(model, d, ems, vals)
        if a.candidates:
            cal = simulate(el, N, CAL_SEED, sp)[0]
            ok = ~cal["at_boundary"]
            for cname, feat in (("A", "entropy"), ("B", "valence")):
                m = Scaled(model, cal["X"][ok], cal["F"][ok], feat)
                r[cname] = {"interval_shape": m.shape}
                for s, d in sets.items():
                    r[cname][str(s)], v = measure(m, d, ems, vals)
                    r[cname][str(s)]["max_abs_dvalence"] = float(np.max(np.abs(v - v0[s])))
        report[name] = r
        line = [name]
        for k in (x for x in r if x in ("shipped", "A", "B")):
            x = r[k][str(MEASURE_SEED)]
            bins = " ".join(f"{b}={x['bins'][b]['coverage_68']:.2f}(n{x['bins'][b]['n']})" for b in x["bins"])
            line.append(f"  {k}: 777 {r[k][str(HELDOUT_SEED)]['coverage_68']:.3f} | 24024 {x['coverage_68']:.3f} "
                        f"MAE {x['valence_mae']:.4f} worst {worst(x):.3f} | {bins}")
        print("\n".join(line), f"({time.time() - t0:.0f} s)", flush=True)
    if a.candidates:
        report["_criteria"] = criteria(report)
        for k, c in report["_criteria"].items():
            print(k, json.dumps(c))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
