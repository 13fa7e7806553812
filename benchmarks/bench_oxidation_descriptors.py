"""Descriptor valence models vs the shipped window models, NNLS and the L3/L2 ratio (issue 13; SHIP_RULE of z36).

Run::

    python benchmarks/bench_oxidation_descriptors.py --models /work/h/z36_work/models [--elements Mn Fe]

``--models``: a folder with ``<el>_l23_valence_desc[_oxide].npz`` (default: the package's ``models/oxidation``).
The window models are always the package's shipped ones. Simulation only; nothing from ``../shared``.

Sets (the rule's H, A, B):

* H: held-out ``train_valence.simulate`` (seed 777, 3000 spectra) at the training ranges, shape only and
  calibrated onset; the models' MAE and 68 % coverage on all rows off the window boundary, and all four methods
  on its first 600 such rows.
* A: another generator, :func:`hyperspy_eels_ml.simulation.core_loss` (realistic preset), as
  ``bench_oxidation_transfer.check_core_loss`` (80 per valence, seeds 9000+v, 0.2 eV/ch), shape only; oxide
  variant: oxide valences; full variant: metal and oxides.
* B: the stress set of ``bench_oxidation_transfer.check_stress`` (seed 31337, 600 spectra), shape only.

Every method is scored on the same spectra of a set; the ratio (defined for oxides) on the oxide rows, beside
both networks on those rows. ``--write-cards`` stores the numbers under ``transfer`` in the descriptor models'
cards (``<name>.json`` next to the ``.npz``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PKG_MODELS = os.path.join(HERE, "..", "hyperspy_eels_ml", "models", "oxidation")


def _methods(feats, onset, vt, oxide, win, desc):
    """MAE of the window model, descriptor model, NNLS, and ratio (oxide rows) on the same spectra."""
    from hyperspy_eels_ml.oxidation.valence import nnls_baseline, ratio_onset_baseline, reference_windows

    vspec = win.spec_
    fspec = vspec.feature_spec(np.arange(vspec.onset_range[0] - 40.0, vspec.onset_range[1] + 40.0, 0.05), False)
    _, vw, _ = win.predict(win.inputs(feats, onset))
    _, vd, hd = desc.predict(desc.inputs(feats, onset))
    _, vn = nnls_baseline(feats, reference_windows(vspec, fspec), vspec)
    vr = ratio_onset_baseline(feats[oxide], onset[oxide], fspec, vspec)
    ew, ed, en = np.abs(vw - vt), np.abs(vd - vt), np.abs(vn - vt)
    er = np.abs(vr - vt[oxide])
    return {"n": int(len(vt)), "window": float(ew.mean()), "descriptors": float(ed.mean()),
            "nnls": float(np.nanmean(en)), "n_oxide": int(oxide.sum()),
            "window_oxide": float(ew[oxide].mean()), "descriptors_oxide": float(ed[oxide].mean()),
            "ratio_oxide": float(np.nanmean(er)), "ratio_nan": float(np.mean(~np.isfinite(vr))),
            "descriptors_coverage_68": float(np.mean(ed <= hd))}


def set_h(el, win, desc):
    import hyperspy_eels_ml.oxidation.train_valence as T

    data, vspec, _ = T.simulate(el, 3000, T.HELDOUT_SEED, win.spec_)
    ok = ~data["at_boundary"]
    feats, onset = data["feats"][ok], data["onset"][ok]
    vt = data["F"][ok] @ np.asarray(vspec.valences)
    _, vw, _ = win.predict(win.inputs(feats, onset))
    _, vd, hd = desc.predict(desc.inputs(feats, onset))
    _, _, hw = win.predict(win.inputs(feats, onset))
    oxide = data["F"][ok][:, np.asarray(vspec.valences) == 0].sum(axis=1) < 1e-9
    sub = np.arange(min(600, len(vt)))
    out = _methods(feats[sub], onset[sub], vt[sub], oxide[sub], win, desc)
    out.update(n_all=int(len(vt)), window_all=float(np.mean(np.abs(vw - vt))),
               descriptors_all=float(np.mean(np.abs(vd - vt))),
               window_coverage_68_all=float(np.mean(np.abs(vw - vt) <= hw)),
               descriptors_coverage_68_all=float(np.mean(np.abs(vd - vt) <= hd)))
    return out


def set_a(el, win, desc, oxides_only):
    from hyperspy_eels_ml.oxidation.valence import valence_features
    from hyperspy_eels_ml.simulation import core_loss

    sys.path.insert(0, HERE)
    from bench_oxidation_transfer import E0, VALS

    feats, vt = [], []
    for v in VALS[el]:
        if oxides_only and v == 0:
            continue
        b = core_loss(80, [el, "O"] if v else [el], energy_offset=E0[el], dispersion=0.2, size=600,
                      amounts=np.array([1.0, 1.0]) if v else np.array([1.0]), valence={el: v}, rng=9000 + v,
                      artefacts=False, jump_ratio=(0.3, 1.5), counts=(1e3, 1e5))
        f, _, _, atb, _ = valence_features(b.spectra, b.energy, win.spec_, True)
        feats.append(f[~atb])
        vt.append(np.full(int((~atb).sum()), float(v)))
    feats, vt = np.concatenate(feats), np.concatenate(vt)
    return _methods(feats, np.full(len(vt), np.nan), vt, vt > 0, win, desc)


def set_b(el, win, desc):
    sys.path.insert(0, HERE)
    from bench_oxidation_transfer import _simulate

    data, vspec, _ = _simulate(el, win.spec_, 600, 31337, ALIGN_JITTER=0.7, CONTINUUM=(0.0, 2.0),
                               DISPERSION_ERROR=(-0.02, 0.02), PARAMETER_SPREAD=2.0, MULTIPLET_JITTER=(0.3, 0.3))
    sel = ~data["at_boundary"] & ~np.isfinite(data["onset"])
    F = data["F"][sel]
    vt = F @ np.asarray(vspec.valences)
    oxide = F[:, np.asarray(vspec.valences) == 0].sum(axis=1) < 1e-9
    return _methods(data["feats"][sel], data["onset"][sel], vt, oxide, win, desc)


def decide(r):
    """The SHIP_RULE of z36 applied to one candidate's results ``r`` (keys H, A, B)."""
    opt = all(r[s]["descriptors"] < min(r[s]["window"], r[s]["nnls"]) and
              r[s]["descriptors_oxide"] < r[s]["ratio_oxide"] for s in ("A", "B"))
    cov = 0.60 <= r["H"]["descriptors_coverage_68_all"] <= 0.76
    opt_in = bool(opt and cov)
    default = bool(opt_in and r["H"]["descriptors_all"] <= r["H"]["window_all"] + 0.05
                   and all(r[s]["window"] - r[s]["descriptors"] >= 0.05 for s in ("A", "B")))
    return {"opt_in": opt_in, "default": default, "wins_A_B": bool(opt), "coverage_ok": bool(cov)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=PKG_MODELS)
    ap.add_argument("--elements", nargs="*", default=["Mn", "Fe"])
    ap.add_argument("--variants", nargs="*", default=["oxide", "full"])
    ap.add_argument("--write-cards", action="store_true")
    ap.add_argument("--json", default=None, help="also write all numbers to this JSON file")
    a = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    from hyperspy_eels_ml.oxidation.valence import ValenceModel, valence_model_name

    print(f"descriptor models: {os.path.abspath(a.models)}; window models: the package's")
    res = {}
    rows = []
    for el in a.elements:
        for var in a.variants:
            ox = var == "oxide"
            wname = valence_model_name(el, oxides_only=ox)
            dname = valence_model_name(el, oxides_only=ox, descriptors=True)
            win = ValenceModel.load(os.path.join(PKG_MODELS, wname + ".npz"))
            dpath = os.path.join(a.models, dname + ".npz")
            if not os.path.exists(dpath):
                print(f"{dname}: no model in {a.models}; skipped")
                continue
            desc = ValenceModel.load(dpath)
            ws, ds = win.spec_, desc.spec_
            if (ws.window, ws.dispersion, ws.onset_range, ws.anchor, ws.smoothing) != \
                    (ds.window, ds.dispersion, ds.onset_range, ds.anchor, ds.smoothing):
                raise RuntimeError(f"{dname} does not read the window of {wname}")
            r = {"H": set_h(el, win, desc), "A": set_a(el, win, desc, ox), "B": set_b(el, win, desc)}
            r["decision"] = decide(r)
            r["window_model"] = wname + (" (hybrid)" if ws.hybrid else "")
            res[dname] = r
            for s in ("H", "A", "B"):
                x = r[s]
                rows.append((f"{el} {var}", s, x["n"], x["window"], x["descriptors"], x["nnls"], x["n_oxide"],
                             x["window_oxide"], x["descriptors_oxide"], x["ratio_oxide"]))
            print(f"{dname}: H all rows (n {r['H']['n_all']}): window {r['H']['window_all']:.3f} "
                  f"(cov {r['H']['window_coverage_68_all']:.2f}), descriptors {r['H']['descriptors_all']:.3f} "
                  f"(cov {r['H']['descriptors_coverage_68_all']:.2f}); decision {r['decision']}", flush=True)
            if a.write_cards:
                cpath = os.path.join(a.models, dname + ".json")
                with open(cpath) as f:
                    card = json.load(f)
                card["transfer"] = {k: r[k] for k in ("H", "A", "B", "decision", "window_model")}
                card["transfer"]["command"] = "python benchmarks/bench_oxidation_descriptors.py"
                with open(cpath, "w") as f:
                    json.dump(card, f, indent=1, sort_keys=True)
    print()
    print("mean |valence error| (same spectra per set; ratio and the *_ox columns on the oxide rows)")
    print(f"{'model':10s} {'set':3s} {'n':>5s} {'window':>7s} {'descr':>7s} {'NNLS':>7s} {'n_ox':>5s} "
          f"{'win_ox':>7s} {'desc_ox':>7s} {'ratio':>7s}")
    for m, s, n, w, d, nn, no, wo, do, ro in rows:
        print(f"{m:10s} {s:3s} {n:5d} {w:7.3f} {d:7.3f} {nn:7.3f} {no:5d} {wo:7.3f} {do:7.3f} {ro:7.3f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
