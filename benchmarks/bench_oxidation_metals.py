"""Metallic end members on simulation: the O K evidence of ``metals=None`` against shape alone (``metals=True``).

For each element, held-out simulations (seed 9090 + i, never a training seed) on a wide window
(480 eV to 60 eV above L3, power-law background, 0.25 eV/ch, +-5 eV calibration errors): oxides
with their O K edge (Mn, Fe: the simulator has O K parameters for these only), metals without.
Columns per case: pixels where the metal was admitted, pixels read as metal (mean valence < 0.75
and, for oxides, "oxide read as metal"), median valence; for ``metals=None`` (default, O K
evidence), ``metals=True`` (shape only) and ``metals=False`` (oxide-only model).

    python benchmarks/bench_oxidation_metals.py [--n 200] [--counts 300,5000]
"""

from __future__ import annotations

import argparse
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

L3 = {"Mn": 640.0, "Fe": 708.0, "Co": 779.0, "Ni": 853.0, "Cu": 932.0}
OXIDES = {"Mn": ["Mn2+", "Mn3+", "Mn4+"], "Fe": ["Fe2+", "Fe3+"]}


def _sig(b):
    from exspy.signals import EELSSpectrum

    s = EELSSpectrum(np.asarray(b.spectra, dtype=np.float32))
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.scale, ax.offset = "eV", float(b.energy[1] - b.energy[0]), float(b.energy[0])
    return s


def run(n=200, counts=(300.0, 5000.0), elements=("Mn", "Fe", "Co", "Ni", "Cu")):
    import hyperspy_eels_ml  # noqa: F401
    from hyperspy_eels_ml.oxidation import classify_oxidation
    from hyperspy_eels_ml.simulation import white_line_spectra

    rows = []
    for i, el in enumerate(elements):
        cases = [(f"{el}0", [f"{el}0"], "L23")] + ([(f"{el} oxides", OXIDES[el], "both")] if el in OXIDES else [])
        for name, classes, edge in cases:
            b = white_line_spectra(n, classes, edge=edge, energy_offset=480.0, dispersion=0.25,
                                   size=int((L3[el] + 60 - 480) / 0.25), background="powerlaw", counts=counts,
                                   rng=9090 + 10 * i + len(rows))
            s = _sig(b)
            row = {"case": name, "n": n}
            for tag, metals in (("auto", None), ("shape", True), ("oxide", False)):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    r = classify_oxidation(s, el, model="valence", metals=metals, show_progressbar=False)
                v = np.asarray(r.mean_valence.data, dtype=float)
                ok = np.isfinite(v)
                adm = np.asarray(r.metal_admitted.data) & ok
                row[f"{tag}_admitted"] = adm.sum() / max(ok.sum(), 1)
                row[f"{tag}_metal"] = (v[ok] < 0.75).mean() if ok.any() else np.nan
                row[f"{tag}_median"] = float(np.nanmedian(v)) if ok.any() else np.nan
                if tag == "auto":
                    row["metal_when_admitted"] = (v[adm] < 0.75).mean() if adm.any() else np.nan
            rows.append(row)
    return rows


def table(rows):
    head = ("case", "metal admitted (auto)", "read as metal: auto", "when admitted", "shape only (metals=True)",
            "oxide model (metals=False)", "median valence auto / shape / oxide")
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        out.append(f"| {r['case']} | {r['auto_admitted']:.2f} | {r['auto_metal']:.2f} | "
                   f"{r['metal_when_admitted']:.2f} | {r['shape_metal']:.2f} | {r['oxide_metal']:.2f} | "
                   f"{r['auto_median']:.2f} / {r['shape_median']:.2f} / {r['oxide_median']:.2f} |")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--counts", default="300,5000", help="low,high counts in the brightest edge channel")
    ap.add_argument("--elements", default="Mn,Fe,Co,Ni,Cu")
    a = ap.parse_args(argv)
    lo, hi = (float(x) for x in a.counts.split(","))
    rows = run(a.n, (lo, hi), tuple(a.elements.split(",")))
    print(f"counts {lo:g}-{hi:g}, n = {a.n} per case")
    print(table(rows))


if __name__ == "__main__":
    main()
