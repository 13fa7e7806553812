"""Is the simulator's white-line ``ratio`` what an L3/L2 measurement of its spectra returns? (simulation only)

``white_lines.json`` gives each species a ``ratio``: the area of the L3 line profiles over the area of
the L2 line profiles, continuum excluded (``simulation.oxidation``). The Mn and Fe values were
*measured* on reference spectra as R_int (shared notes, section 2.1: 2:1 double-step continuum at the
line maxima, its level the mean 4-8 eV above L2, +-4 eV integration windows), and literature ratios
are measured in other ways again (Pearson steps over other windows, Hartree-Slater continua, peak
heights). A ratio from a paper can only replace a table entry if the simulator's spectra, measured
the paper's way, return it. This script simulates one noise-free spectrum per species with the table's
mean parameters (``parameter_spread=0``, no shift, no background) and measures:

* ``notes``: the shared-notes recipe above on the whole background-free spectrum, L3 searched
  -3/+4 eV around the table's L3;
* ``window``: the same function on the aligned window of the element's valence model (what
  :func:`hyperspy_eels_ml.oxidation.valence.ratio_onset_baseline` measures, L3 searched -1/+5 eV
  from the window's anchor);
* ``spectra``: :func:`hyperspy_eels_ml.oxidation.valence.ratio_baseline_spectra` (the L3/L2 baseline of
  ``bench_oxidation_real.py``): the same function on the whole prepared spectrum, L3 searched over the
  model's onset range.

All three are :func:`hyperspy_eels_ml.oxidation.ratio.white_line_ratio` (one implementation).

for instrument resolutions, thicknesses (t/lambda; plural scattering moves area from the lines into
their tails) and continuum steps (0 = subtracted, as in many published references; 1 = the table's).
No real spectrum and no training is involved.

    python benchmarks/bench_oxidation_ratio.py [--elements Mn,Fe,Cr,V] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

ELEMENTS = ("Mn", "Fe", "Co", "Cr", "V")


def measure(element, resolutions=(0.3, 0.6, 1.0), t_lambdas=(0.05, 0.3), continua=(0.0, 1.0)):
    """Rows (species, resolution, t/lambda, continuum, table ratio, notes R_int, baseline ratio)."""
    from hyperspy_eels_ml.oxidation import valence as V
    from hyperspy_eels_ml.oxidation.ratio import white_line_ratio
    from hyperspy_eels_ml.simulation.oxidation import white_line_parameters, white_line_spectra

    p = white_line_parameters()["species"]
    vspec = V.valence_spec(element, metals=False)
    split = float(np.mean([p[s]["splitting"][0] for s in vspec.end_members]))
    rows = []
    for s in vspec.end_members:
        for res in resolutions:
            for tl in t_lambdas:
                for cont in continua:
                    b = white_line_spectra(1, [s], dispersion=0.05, shift=0.0, resolution=res, t_lambda=tl,
                                           background=None, noise=False, parameter_spread=0.0,
                                           continuum=cont, rng=0)
                    l3 = p[s]["L3"][0]
                    r_notes = float(white_line_ratio(b.energy, b.spectra, (l3 - 3.0, l3 + 4.0),
                                                     p[s]["splitting"][0]).ratio[0])
                    f, _, _, _, fspec = V.valence_features(b.spectra, b.energy, vspec, remove_background=False)
                    r_base = float(white_line_ratio(fspec.offsets, f, (-1.0, 5.0), split).ratio[0])
                    r_spec = float(V.ratio_baseline_spectra(b.spectra, b.energy, vspec, False)[1].ratio[0])
                    rows.append(dict(species=s, resolution=res, t_lambda=tl, continuum=cont,
                                     table=float(p[s]["ratio"][0]), source=str(p[s]["ratio"][2]).split(" ")[0],
                                     notes=r_notes, baseline=r_base, spectra=r_spec))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--elements", default="Mn,Fe,Cr,V", help="comma-separated, of " + ",".join(ELEMENTS))
    ap.add_argument("--json", default=None, help="write the rows to this file")
    a = ap.parse_args(argv)
    rows = []
    for el in [e.strip() for e in a.elements.split(",") if e.strip()]:
        if el not in ELEMENTS:
            raise SystemExit(f"unknown element {el!r}; choose from {ELEMENTS}")
        rows += measure(el)
    print(f"{'species':8s} {'source':12s} {'res':>4s} {'t/l':>5s} {'cont':>4s} {'table':>6s} {'R_int notes':>11s} "
          f"{'window':>8s} {'spectra':>8s}")
    for r in rows:
        print(f"{r['species']:8s} {r['source'][:12]:12s} {r['resolution']:4.1f} {r['t_lambda']:5.2f} "
              f"{r['continuum']:4.1f} {r['table']:6.2f} {r['notes']:11.2f} {r['baseline']:8.2f} {r['spectra']:8.2f}")
    print("\nPer species, range over the cases (R_int notes / window / spectra) against the table value:")
    for s in dict.fromkeys(r["species"] for r in rows):
        rr = [r for r in rows if r["species"] == s]
        n, b, w = ([r[k] for r in rr] for k in ("notes", "baseline", "spectra"))
        print(f"  {s:6s} table {rr[0]['table']:.2f}: notes {min(n):.2f}-{max(n):.2f}, window {min(b):.2f}-{max(b):.2f}"
              f", spectra {min(w):.2f}-{max(w):.2f}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
