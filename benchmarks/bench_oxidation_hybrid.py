"""Valence models vs the NNLS and L3/L2 baselines on held-out simulation, and the hybrid decision (issue 13).

Run::

    python benchmarks/bench_oxidation_hybrid.py [--seed 777] [--n 3000] [--names mn_l23_valence ...]
    python benchmarks/bench_oxidation_hybrid.py --seed 9013 --candidates DIR [--json OUT]   # the decision

For every shipped valence model (or ``--names``) a held-out set is simulated exactly as
``train_valence`` simulates its held-out sets (:func:`hyperspy_eels_ml.oxidation.train_valence.simulate`:
35 % pure end members, 65 % mixtures, 300-5000 counts, all nuisances; ``--seed``, 777 is the cards'
held-out seed, 9013 the fresh decision seed of SHIP_RULE.md) and the valence MAE is printed on

* ``all`` spectra whose edge was found (as in the cards),
* ``pure_hi``: pure end members with >= 2000 counts at the edge maximum,
* ``mix``: mixtures; ``low_n``: the lowest-count tercile; ``cal`` / ``shape``: calibrated onset given / not,

for the shipped model (``model``), the NNLS fit of noise-free simulated end members
(:func:`~hyperspy_eels_ml.oxidation.valence.nnls_baseline`, here its exact batched form
:func:`~hyperspy_eels_ml.oxidation.valence.nnls_features`) and the L3/L2 ratio (+ calibrated onset)
baseline (:func:`~hyperspy_eels_ml.oxidation.valence.ratio_onset_baseline`, on the oxide-only rows: the
ratio does not identify metals). ``cov68`` is the 68 % coverage of the model's interval.

With ``--candidates DIR`` the candidate of the same name in DIR (e.g. a hybrid model,
``train_valence --hybrid --out-dir DIR``) is evaluated on the same spectra, its inference speed
(``classify_oxidation`` end to end, eager, 2000 spectra at 0.2 eV/ch) is measured beside the shipped
model's, and the rule of SHIP_RULE.md is applied (PASS / FAIL with the reasons). Real spectra are not
read.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
import warnings

import numpy as np

#: SHIP_RULE.md (session 14), fixed before any candidate was measured
RULE = {"overall_gain": 0.01, "subset_tolerance": 0.01, "coverage": (0.62, 0.74), "speed_ratio": 1 / 3,
        "metal_tolerance": 0.05, "oxide_as_metal_tolerance": 0.01}
SUBSETS = ("all", "pure_hi", "mix", "low_n", "cal", "shape")


def _subsets(data):
    ok = ~data["at_boundary"]
    F, counts, known = data["F"], data["counts"], np.isfinite(data["onset"])
    pure = F.max(axis=1) > 0.999
    t1 = np.quantile(counts[ok], 1 / 3)
    return {"all": ok, "pure_hi": ok & pure & (counts >= 2000), "mix": ok & ~pure, "low_n": ok & (counts <= t1),
            "cal": ok & known, "shape": ok & ~known}


def _mae(err, sub):
    e = err[sub]
    e = e[np.isfinite(e)]
    return float(np.mean(e)) if e.size else float("nan")


def _metal(fr, data, vspec, sub):
    """Shape-only metal reading (as train_valence.evaluate): pure metal read as metal, oxide read as metal."""
    metal = np.asarray(vspec.valences) == 0
    if not metal.any():
        return {}
    shape = sub["shape"]
    tm = data["F"][:, metal].sum(axis=1)
    pm = fr[:, metal].sum(axis=1)
    return {"pure_metal_as_metal": float(np.mean(pm[shape & (tm > 0.999)] > 0.5)),
            "oxide_as_metal": float(np.mean(pm[shape & (tm < 1e-9)] > 0.5))}


def evaluate_model(model, data, sub):
    from hyperspy_eels_ml.oxidation.valence import network_inputs

    vt = data["F"] @ np.asarray(model.spec_.valences)
    X = network_inputs(data["feats"], data["onset"], model.spec_, refs=model.references())
    fr, v, half = model.predict(X)
    err = np.abs(v - vt)
    out = {k: _mae(err, s) for k, s in sub.items()}
    out["cov68"] = float(np.mean((err <= half)[sub["all"]]))
    out.update(_metal(fr, data, model.spec_, sub))
    return out


def baselines(model, data, fspec, sub):
    from hyperspy_eels_ml.oxidation.valence import hybrid_references, nnls_features, ratio_onset_baseline

    vs = model.spec_
    vt = data["F"] @ np.asarray(vs.valences)
    fr, _, _ = nnls_features(data["feats"], hybrid_references(vs), step=vs.dispersion)
    nn = {k: _mae(np.abs(fr @ np.asarray(vs.valences) - vt), s) for k, s in sub.items()}
    oxide = data["F"][:, np.asarray(vs.valences) == 0].sum(axis=1) < 1e-9
    vr = ratio_onset_baseline(data["feats"], data["onset"], fspec, vs)
    ra = {k: _mae(np.abs(vr - vt), s & oxide) for k, s in sub.items()}
    mo = {k: s & oxide for k, s in sub.items()}
    return nn, ra, mo


def speed(model, n=2000, repeats=2):
    """Spectra per second of ``classify_oxidation`` (eager, 0.2 eV/ch, power-law background) with ``model``."""
    import exspy

    from hyperspy_eels_ml import classify_oxidation
    from hyperspy_eels_ml.simulation.oxidation import white_line_spectra

    vs = model.spec_
    b = white_line_spectra(n, list(vs.end_members), dispersion=0.2, shift=(-2.0, 2.0), background="powerlaw",
                           counts=(1000.0, 3000.0), rng=5)
    s = exspy.signals.EELSSpectrum(b.spectra)
    ax = s.axes_manager.signal_axes[0]
    ax.scale, ax.offset, ax.units = float(b.energy[1] - b.energy[0]), float(b.energy[0]), "eV"
    metals = bool(any(v == 0 for v in vs.valences))
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            classify_oxidation(s, element=vs.element, model=model, metals=metals, show_progressbar=False)
        best = min(best, time.perf_counter() - t)
    return n / best


def decide(cur, cand, nnls, sp_cur, sp_cand):
    r, why = RULE, []
    if not cand["all"] <= cur["all"] - r["overall_gain"]:
        why.append(f"overall MAE {cand['all']:.3f} not <= {cur['all']:.3f} - {r['overall_gain']}")
    for k in ("pure_hi", "mix", "low_n", "cal", "shape"):
        if cand[k] > cur[k] + r["subset_tolerance"]:
            why.append(f"{k} MAE {cand[k]:.3f} > {cur[k]:.3f} + {r['subset_tolerance']}")
    if not cand["pure_hi"] <= nnls["pure_hi"]:
        why.append(f"pure_hi MAE {cand['pure_hi']:.3f} > NNLS {nnls['pure_hi']:.3f}")
    if not r["coverage"][0] <= cand["cov68"] <= r["coverage"][1]:
        why.append(f"cov68 {cand['cov68']:.3f} outside {r['coverage']}")
    if sp_cand < r["speed_ratio"] * sp_cur:
        why.append(f"speed {sp_cand:.0f}/s < 1/3 of {sp_cur:.0f}/s")
    if "pure_metal_as_metal" in cur:
        if cand["pure_metal_as_metal"] < cur["pure_metal_as_metal"] - r["metal_tolerance"]:
            why.append(f"pure metal read as metal {cand['pure_metal_as_metal']:.3f} < "
                       f"{cur['pure_metal_as_metal']:.3f} - {r['metal_tolerance']}")
        if cand["oxide_as_metal"] > cur["oxide_as_metal"] + r["oxide_as_metal_tolerance"]:
            why.append(f"oxide read as metal {cand['oxide_as_metal']:.3f} > "
                       f"{cur['oxide_as_metal']:.3f} + {r['oxide_as_metal_tolerance']}")
    return not why, why


def main(argv=None):
    from hyperspy_eels_ml.oxidation.train_valence import MODEL_DIR, simulate
    from hyperspy_eels_ml.oxidation.valence import ValenceModel

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=777)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--names", nargs="*")
    ap.add_argument("--candidates", help="directory of candidate models (same file names)")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    names = a.names or sorted(f[:-4] for f in os.listdir(MODEL_DIR) if f.endswith(".npz") and "_valence" in f)
    print(f"held-out simulation, seed {a.seed}, n {a.n} per model; valence MAE (ratio: oxide-only rows)", flush=True)
    cols = "".join(f"{k:>8}" for k in SUBSETS)
    print(f"{'model':<22}{'who':<8}{cols}{'cov68':>7}{'n_pure_hi':>10}{'spec/s':>8}")
    report = {"seed": a.seed, "n": a.n, "rule": {k: list(v) if isinstance(v, tuple) else v for k, v in RULE.items()},
              "models": {}}
    for name in names:
        cur = ValenceModel.load(os.path.join(MODEL_DIR, name + ".npz"))
        data, _, fspec = simulate(cur.spec_.element, a.n, a.seed, cur.spec_)
        sub = _subsets(data)
        m_cur = evaluate_model(cur, data, sub)
        nn, ra, mo = baselines(cur, data, fspec, sub)
        rows = {"model": m_cur, "nnls": nn, "ratio": ra}
        sp = {}
        cand = None
        if a.candidates:
            cand = ValenceModel.load(os.path.join(a.candidates, name + ".npz"))
            if dataclasses.replace(cand.spec_, hybrid=cur.spec_.hybrid) != cur.spec_:
                raise SystemExit(f"{name}: the candidate's window/spec differs from the shipped model's")
            rows["hybrid"] = evaluate_model(cand, data, sub)
        if not a.no_speed:
            sp["model"] = speed(cur)
            if cand is not None:
                sp["hybrid"] = speed(cand)
        for who, r in rows.items():
            line = "".join(f"{r[k]:8.3f}" for k in SUBSETS)
            cov = f"{r['cov68']:7.3f}" if "cov68" in r else " " * 7
            npure = int(sub["pure_hi"].sum()) if who == "model" else int((mo["pure_hi"]).sum()) if who == "ratio" \
                else ""
            spd = f"{sp[who]:8.0f}" if who in sp else ""
            print(f"{name:<22}{who:<8}{line}{cov}{npure!s:>10}{spd}", flush=True)
        extra = {k: v for k, v in m_cur.items() if "metal" in k}
        if extra:
            print(f"{'':<22}{'':<8}shape-only metal reading, model: {json.dumps(extra)}"
                  + (f"; hybrid: {json.dumps({k: v for k, v in rows['hybrid'].items() if 'metal' in k})}"
                     if cand is not None else ""))
        entry = {"rows": rows, "speed_spectra_per_s": sp, "n_subset": {k: int(s.sum()) for k, s in sub.items()}}
        if cand is not None:
            ok, why = decide(m_cur, rows["hybrid"], nn, sp.get("model", np.inf), sp.get("hybrid", 0.0))
            entry["decision"] = {"ship": ok, "reasons": why}
            print(f"{'':<22}DECISION: {'PASS' if ok else 'FAIL'}" + ("" if ok else " - " + "; ".join(why)), flush=True)
        report["models"][name] = entry
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
