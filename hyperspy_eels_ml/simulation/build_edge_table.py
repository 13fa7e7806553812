"""Build the shipped core-loss edge table from xraylib photoabsorption data.

Run (needs ``pip install xraylib``; the package itself does not)::

    python -m hyperspy_eels_ml.simulation.build_edge_table

For every element Be-Bi (Z = 4-83) and every subshell that exspy's element
database lists with an onset in 30-3100 eV, the optical oscillator strength
per eV, ``df/dE = sigma_ph(E) / C`` with ``C = 109.75 Mb eV`` (Egerton,
*EELS in the Electron Microscope*, 3rd ed., eq. 3.62 region), is tabulated on a
grid of energies above the edge. ``sigma_ph`` is xraylib's per-subshell
photoionisation cross section ``CS_Photo_Partial`` (cm^2/g, converted to
cm^2/atom with the atomic weight; ``CSb_Photo_Partial`` is a factor 2 off in
xraylib 4.3.0). The xraylib threshold is mapped onto exspy's onset energy
(what HyperSpy users see), so energies in the table are *relative to exspy's
onset*.

In the dipole approximation the EELS cross section follows from it at run time
(:func:`hyperspy_eels_ml.simulation.edges.edge_cross_section`)::

    dsigma/dE = 4 pi a0^2 R^2 / (E T) * df/dE * ln(1 + beta^2 / theta_E^2)

The output ``edge_table.npz`` is plain arrays (loaded with
``allow_pickle=False``), float32, well under 5 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

#: relative-energy grid (eV above onset): fine near the onset, geometric beyond
GRID = np.concatenate([np.arange(0.0, 60.0, 0.5), np.geomspace(60.0, 3300.0, 160)]).astype(np.float32)
C_MB_EV = 109.75  # Mb eV per unit oscillator strength (Egerton)
N_A = 6.02214076e23
Z_RANGE = (4, 83)
ONSET_RANGE = (30.0, 3100.0)

#: exspy lists some light-element L2,3 edges as one entry
COMBINED = {"L2,3": ("L3", "L2")}
SUBSHELLS = ["K", "L1", "L2", "L3", "M1", "M2", "M3", "M4", "M5", "N1", "N2", "N3", "N4", "N5", "N6", "N7",
             "O1", "O2", "O3", "O4", "O5"]


def _exspy_edges():
    from exspy.material import elements as db

    out = []
    for el in db.keys():
        node = db[el]
        z = int(node.General_properties.Z)
        if not (Z_RANGE[0] <= z <= Z_RANGE[1]):
            continue
        be = node.Atomic_properties.Binding_energies.as_dictionary()
        for shell, info in be.items():
            if shell not in SUBSHELLS and shell not in COMBINED:  # e.g. C "K1a", K "L1a"
                continue
            onset = float(info["onset_energy (eV)"])
            if ONSET_RANGE[0] <= onset <= ONSET_RANGE[1]:
                out.append((el, z, shell, onset, info.get("relevance", "")))
    return sorted(out, key=lambda t: (t[1], t[3]))


def build(path):
    import xraylib as xrl

    t0 = time.perf_counter()
    rows, dfde, skipped = [], [], []
    for el, z, shell, onset, relevance in _exspy_edges():
        parts = COMBINED.get(shell, (shell,))
        shells = [getattr(xrl, f"{p}_SHELL") for p in parts]
        try:
            edges = [xrl.EdgeEnergy(z, sh) * 1e3 for sh in shells]
        except ValueError:
            skipped.append(f"{el} {shell}: no xraylib edge energy")
            continue
        edge = min(edges)
        aw = xrl.AtomicWeight(z)
        vals = np.zeros(GRID.size)
        for i, eps in enumerate(GRID):
            for sh, e_sh in zip(shells, edges):
                e_ev = edge + float(eps)
                if e_ev < e_sh:
                    continue
                try:
                    cs = xrl.CS_Photo_Partial(z, sh, max(e_ev, e_sh + 0.05) / 1e3)  # cm^2/g
                except ValueError:
                    cs = 0.0
                vals[i] += cs * aw / N_A / 1e-18 / C_MB_EV  # Mb -> df/dE (1/eV)
        if not np.any(vals > 0):
            skipped.append(f"{el} {shell}: zero cross section")
            continue
        rows.append((el, z, shell, onset, edge, relevance))
        dfde.append(vals)
    dfde = np.asarray(dfde, dtype=np.float32)
    meta = {
        "source": f"xraylib {xrl.__version__} CS_Photo_Partial (per-subshell photoionisation), "
                  "onsets from exspy.material.elements",
        "quantity": "df/dE (optical oscillator strength per eV) at E = onset + grid",
        "C_Mb_eV": C_MB_EV,
        "z_range": Z_RANGE,
        "onset_range_eV": ONSET_RANGE,
        "skipped": skipped,
        "build_seconds": round(time.perf_counter() - t0, 1),
    }
    np.savez_compressed(
        path,
        grid=GRID,
        dfde=dfde,
        element=np.array([r[0] for r in rows]),
        z=np.array([r[1] for r in rows], dtype=np.int16),
        subshell=np.array([r[2] for r in rows]),
        onset=np.array([r[3] for r in rows], dtype=np.float32),
        xraylib_edge=np.array([r[4] for r in rows], dtype=np.float32),
        relevance=np.array([r[5] for r in rows]),
        meta=np.array(json.dumps(meta)),
    )
    return rows, meta


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output", default=os.path.join(os.path.dirname(__file__), "data", "edge_table.npz"))
    args = p.parse_args(argv)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    rows, meta = build(args.output)
    print(f"{len(rows)} edges of {len({r[0] for r in rows})} elements -> {args.output} "
          f"({os.path.getsize(args.output) / 1e6:.2f} MB, {meta['build_seconds']} s); skipped: {meta['skipped']}")


if __name__ == "__main__":
    main()
