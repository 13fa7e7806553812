"""Is the simulator's white-line ``ratio`` what an L3/L2 measurement of its spectra returns? (simulation only)

``white_lines.json`` gives each species a ``ratio``: the area of the L3 line profiles over the area of
the L2 line profiles, continuum excluded (``simulation.oxidation``). The Mn and Fe values were
*measured* on reference spectra as R_int (shared notes, section 2.1: 2:1 double-step continuum at the
line maxima, its level the mean 4-8 eV above L2, +-4 eV integration windows), and literature ratios
are measured in other ways again (Pearson steps over other windows, Hartree-Slater continua, peak
heights). A ratio from a paper can only replace a table entry if the simulator's spectra, measured
the paper's way, return it. This script simulates one noise-free spectrum per species with the table's
mean parameters (``parameter_spread=0``, no shift, no background) and measures:

* ``notes``: the shared-notes recipe above on the whole background-free spectrum;
* ``baseline``: :func:`hyperspy_eels_ml.oxidation.valence.white_line_ratio` (the L3/L2 baseline of
  ``bench_oxidation_real.py``) on the aligned window of the element's valence model.

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


def notes_rint(energy, y, l3_guess, split):
    """R_int after the shared notes (section 2.1) on a background-free spectrum ``y`` on ``energy``.

    L3 maximum within -3/+4 eV of ``l3_guess``, L2 maximum within +-2 eV of L3 + ``split``; a
    double-step continuum (2:1 arctan steps of 0.75 eV half-width at the maxima) whose level is the
    mean of ``y`` 4-8 eV above the L2 maximum is subtracted; each line is integrated over +-4 eV.
    """
    energy = np.asarray(energy, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    m3 = (energy > l3_guess - 3.0) & (energy < l3_guess + 4.0)
    e3 = energy[m3][np.argmax(y[m3])]
    m2 = np.abs(energy - (e3 + split)) <= 2.0
    e2 = energy[m2][np.argmax(y[m2])]
    level = y[(energy > e2 + 4.0) & (energy < e2 + 8.0)].mean()
    step = level * (2 / 3 * (0.5 + np.arctan((energy - e3) / 0.75) / np.pi)
                    + 1 / 3 * (0.5 + np.arctan((energy - e2) / 0.75) / np.pi))
    wl = np.clip(y - step, 0.0, None)
    a2 = wl[np.abs(energy - e2) <= 4.0].sum()
    return float(wl[np.abs(energy - e3) <= 4.0].sum() / a2) if a2 > 0 else float("nan")


def measure(element, resolutions=(0.3, 0.6, 1.0), t_lambdas=(0.05, 0.3), continua=(0.0, 1.0)):
    """Rows (species, resolution, t/lambda, continuum, table ratio, notes R_int, baseline ratio)."""
    from hyperspy_eels_ml.oxidation import valence as V
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
                    r_notes = notes_rint(b.energy, b.spectra[0], p[s]["L3"][0], p[s]["splitting"][0])
                    f, _, _, _, fspec = V.valence_features(b.spectra, b.energy, vspec, remove_background=False)
                    r_base = float(V.white_line_ratio(f, fspec, split)[0])
                    rows.append(dict(species=s, resolution=res, t_lambda=tl, continuum=cont,
                                     table=float(p[s]["ratio"][0]), source=str(p[s]["ratio"][2]).split(" ")[0],
                                     notes=r_notes, baseline=r_base))
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
          f"{'baseline':>8s}")
    for r in rows:
        print(f"{r['species']:8s} {r['source'][:12]:12s} {r['resolution']:4.1f} {r['t_lambda']:5.2f} "
              f"{r['continuum']:4.1f} {r['table']:6.2f} {r['notes']:11.2f} {r['baseline']:8.2f}")
    print("\nPer species, range over the cases (R_int notes / baseline) against the table value:")
    for s in dict.fromkeys(r["species"] for r in rows):
        rr = [r for r in rows if r["species"] == s]
        n = [r["notes"] for r in rr]
        b = [r["baseline"] for r in rr]
        print(f"  {s:6s} table {rr[0]['table']:.2f}: notes {min(n):.2f}-{max(n):.2f}, baseline {min(b):.2f}-{max(b):.2f}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
