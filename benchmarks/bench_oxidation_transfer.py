"""Valence models on simulated data they were not trained on: the transfer checks behind the training recipe.

Run::

    python benchmarks/bench_oxidation_transfer.py [--models DIR] [--elements Mn Fe Co]

``--models`` is a folder holding ``<el>_l23_valence.npz`` and ``<el>_l23_valence_oxide.npz``
(default: the package's ``models/oxidation``), so retrained variants can be compared
before they are shipped. Simulation only; nothing from ``../shared``.

A. Another generator: :func:`hyperspy_eels_ml.simulation.core_loss` (realistic preset:
   hole-count white-line areas, no multiplets, its own valence shifts, power-law
   background, detector noise), 80 spectra per valence at 0.2 eV/ch, background removed
   as in ``classify_oxidation``, shape only. Oxide model vs NNLS of the simulated
   references; the full model's metal/oxide calls.
B. A stress set of :func:`white_line_spectra` beyond the training ranges: parameter
   spread x2, multiplet jitter (0.3, 0.3 eV), window alignment errors +-0.7 eV,
   continuum 0-2x, +-2 % dispersion errors (seed 31337).
C. Window alignment error alone (the NNLS baseline scans a +-1 eV shift, the networks
   do not): oxide model vs NNLS at 0, +-0.5 and +-1 eV.
D. Shrinkage toward the middle valence: the slope of predicted on true mean valence
   (1 = no shrinkage) of the oxide model, shape only, on the core_loss spectra of A
   (per-valence means), the stress set of B and a held-out set at the training ranges
   (seed 777), with the stress set's mean prediction per pure end member and the
   held-out slope of true on predicted valence; for the networks' posterior mean and for the
   model's unbiased estimator (what ``classify_oxidation`` reports where the card keeps it).

B, C and D draw their end-member fractions from one fixed prior (:data:`EVAL_PRIOR`, the
recipe's original one), whatever prior a model was trained with, so that models trained on
other priors are compared on identical spectra.

Prints one line per check; mean absolute valence errors.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np

#: fraction prior of the evaluation sets (train_valence's FRACTION_KINDS, DIRICHLET_ALPHA before this session)
EVAL_PRIOR = dict(FRACTION_KINDS=(0.35, 0.30, 0.35), DIRICHLET_ALPHA=0.7)
VALS = {"Mn": [0, 2, 3, 4], "Fe": [0, 2, 3], "Co": [0, 2, 3], "Ni": [0, 2], "Cu": [0, 1, 2]}
E0 = {"Mn": 600.0, "Fe": 670.0, "Co": 740.0, "Ni": 815.0, "Cu": 895.0}


def _load(mdir, el):
    from hyperspy_eels_ml.oxidation.valence import ValenceModel

    full = ValenceModel.load(os.path.join(mdir, f"{el.lower()}_l23_valence.npz"))
    p = os.path.join(mdir, f"{el.lower()}_l23_valence_oxide.npz")
    return (ValenceModel.load(p) if os.path.exists(p) else full), full


def check_core_loss(el, ox, full):
    from hyperspy_eels_ml.oxidation.valence import network_inputs, nnls_baseline, reference_windows, valence_features
    from hyperspy_eels_ml.simulation import core_loss

    ox_err, nn_err, hits, false_metal = [], [], [], []
    for v in VALS[el]:
        b = core_loss(80, [el, "O"] if v else [el], energy_offset=E0[el], dispersion=0.2, size=600,
                      amounts=np.array([1.0, 1.0]) if v else np.array([1.0]), valence={el: v}, rng=9000 + v,
                      artefacts=False, jump_ratio=(0.3, 1.5), counts=(1e3, 1e5))
        f, _, _, atb, fs = valence_features(b.spectra, b.energy, ox.spec_, True)
        f = f[~atb]
        nan = np.full(len(f), np.nan)
        _, vo, _ = ox.predict(network_inputs(f, nan, ox.spec_))
        fr, _, _ = full.predict(network_inputs(f, nan, full.spec_))
        pm = fr[:, np.asarray(full.spec_.valences) == 0].sum(axis=1)
        if v:
            _, vn = nnls_baseline(f[:40], reference_windows(ox.spec_, fs), ox.spec_)
            ox_err.append(np.mean(np.abs(vo - v)))
            nn_err.append(np.nanmean(np.abs(vn - v)))
            false_metal.append(np.mean(pm > 0.5))
        else:
            hits.append(np.mean(pm > 0.5))
    print(f"A {el} core_loss white lines: oxide model {np.mean(ox_err):.2f}, NNLS {np.mean(nn_err):.2f}; "
          f"full model: metal called metal {np.mean(hits):.2f}, oxide called metal {np.mean(false_metal):.2f}")


def _simulate(el, spec, n, seed, **nuis):
    import hyperspy_eels_ml.oxidation.train_valence as T

    nuis = dict(EVAL_PRIOR, **nuis)
    saved = {k: getattr(T, k) for k in nuis}
    try:
        for k, v in nuis.items():
            setattr(T, k, v)
        return T.simulate(el, n, seed, spec)
    finally:
        for k, v in saved.items():
            setattr(T, k, v)


def check_stress(el, ox, full):
    from hyperspy_eels_ml.oxidation.valence import nnls_baseline, reference_windows

    for name, m in (("oxide", ox), ("full", full)):
        data, vspec, fspec = _simulate(el, m.spec_, 600, 31337, ALIGN_JITTER=0.7, CONTINUUM=(0.0, 2.0),
                                       DISPERSION_ERROR=(-0.02, 0.02), PARAMETER_SPREAD=2.0,
                                       MULTIPLET_JITTER=(0.3, 0.3))
        sel = ~data["at_boundary"] & ~np.isfinite(data["onset"])
        F = data["F"][sel]
        vt = F @ np.asarray(vspec.valences)
        fr, v, _ = m.predict(data["X"][sel])
        _, vn = nnls_baseline(data["feats"][sel][:200], reference_windows(vspec, fspec), vspec)
        line = (f"B {el} stress set, {name} model (shape only): {np.mean(np.abs(v - vt)):.2f}, "
                f"NNLS {np.nanmean(np.abs(vn - vt[:200])):.2f}")
        metal = np.asarray(vspec.valences) == 0
        if metal.any():
            tm, pm = F[:, metal].sum(axis=1), fr[:, metal].sum(axis=1)
            line += f"; pure metal called metal {np.mean(pm[tm > 0.999] > 0.5):.2f}, oxide {np.mean(pm[tm < 1e-9] > 0.5):.2f}"
        print(line)


def check_alignment(el, ox):
    from hyperspy_eels_ml.oxidation.valence import nnls_baseline, reference_windows

    cells = []
    for jit in (0.0, 0.5, 1.0):
        data, vspec, fspec = _simulate(el, ox.spec_, 300, 4242, ALIGN_JITTER=jit, CONTINUUM=(0.0, 2.0),
                                       DISPERSION_ERROR=(-0.02, 0.02), PARAMETER_SPREAD=1.0,
                                       MULTIPLET_JITTER=(0.1, 0.0))
        sel = ~data["at_boundary"] & ~np.isfinite(data["onset"])
        vt = data["F"][sel] @ np.asarray(vspec.valences)
        _, v, _ = ox.predict(data["X"][sel])
        _, vn = nnls_baseline(data["feats"][sel], reference_windows(vspec, fspec), vspec)
        cells.append(f"+-{jit:g} eV: {np.mean(np.abs(v - vt)):.2f} / {np.nanmean(np.abs(vn - vt)):.2f}")
    print(f"C {el} window alignment error, oxide model / NNLS: " + "; ".join(cells))


def check_shrinkage(el, ox):
    for est in ("posterior_mean", "unbiased"):
        _check_shrinkage(el, ox, est)


def _check_shrinkage(el, ox, est):
    from hyperspy_eels_ml.oxidation.valence import network_inputs, valence_features
    from hyperspy_eels_ml.simulation import core_loss

    vs, pm = [], []
    for v in VALS[el][1:]:
        b = core_loss(60, [el, "O"], energy_offset=E0[el], dispersion=0.2, size=600, amounts=np.array([1.0, 1.0]),
                      valence={el: v}, rng=9000 + v, artefacts=False, jump_ratio=(0.3, 1.5), counts=(1e3, 1e5))
        f, _, _, atb, _ = valence_features(b.spectra, b.energy, ox.spec_, True)
        f = f[~atb]
        _, vo, _ = ox.predict(network_inputs(f, np.full(len(f), np.nan), ox.spec_), estimator=est)
        vs.append(v)
        pm.append(float(vo.mean()))
    cells = [f"core_loss {np.polyfit(vs, pm, 1)[0]:.2f} (" + ", ".join(f"{v}: {p:.2f}" for v, p in zip(vs, pm)) + ")"]
    for name, seed, nuis in (("stress", 31337, dict(ALIGN_JITTER=0.7, CONTINUUM=(0.0, 2.0), PARAMETER_SPREAD=2.0,
                                                    DISPERSION_ERROR=(-0.02, 0.02), MULTIPLET_JITTER=(0.3, 0.3))),
                             ("held-out", 777, {})):
        data, vspec, _ = _simulate(el, ox.spec_, 600, seed, **nuis)
        sel = ~data["at_boundary"] & ~np.isfinite(data["onset"])
        F = data["F"][sel]
        vt = F @ np.asarray(vspec.valences)
        _, v, _ = ox.predict(data["X"][sel], estimator=est)
        cell = f"{name} {np.polyfit(vt, v, 1)[0]:.2f}"
        if name == "held-out":  # 1 = calibrated readings (E[true | predicted] = predicted)
            cell += f" (true on predicted {np.polyfit(v, vt, 1)[0]:.2f})"
        if name == "stress":
            pure = F.max(axis=1) > 0.999
            cell += " (pure: " + ", ".join(f"{k:g}: {v[pure & (np.abs(vt - k) < 1e-6)].mean():.2f}"
                                           for k in vspec.valences) + ")"
        cells.append(cell)
    print(f"D {el} shrinkage, slope of predicted on true valence (oxide model, shape only, {est}"
          + (" as shipped" if est == "unbiased" and ox.deshrink_.get("shape_only") else
             " = posterior mean, not kept" if est == "unbiased" else "") + "): " + "; ".join(cells))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=None)
    ap.add_argument("--elements", nargs="*", default=["Mn", "Fe", "Co"])
    ap.add_argument("--checks", default="ABCD", help="which checks to run (default: ABCD)")
    a = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    import hyperspy_eels_ml  # noqa: F401

    mdir = a.models or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hyperspy_eels_ml", "models",
                                    "oxidation")
    print(f"models: {os.path.abspath(mdir)}")
    for el in a.elements:
        ox, full = _load(mdir, el)
        if "A" in a.checks:
            check_core_loss(el, ox, full)
        if "B" in a.checks:
            check_stress(el, ox, full)
        if "C" in a.checks:
            check_alignment(el, ox)
        if "D" in a.checks:
            check_shrinkage(el, ox)
    return 0


if __name__ == "__main__":
    sys.exit(main())
