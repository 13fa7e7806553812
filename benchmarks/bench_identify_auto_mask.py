"""What ``identify_elements``' default ``navigation_mask="auto"`` masks (helper z38, 2026-12-06).

    python benchmarks/bench_identify_auto_mask.py [--si-sim 200] [--no-real]

1. The shipped simulated core-loss phantoms (:mod:`hyperspy_eels_ml.simulation.phantoms`): pixels
   masked vs the true vacuum (a masked specimen pixel is a loss).
2. ``--si-sim N``: the N simulated 16x16 SIs of ``bench_identify.py --si-sim`` (specimen everywhere):
   how many pixels ``identify_elements`` masked (``r.parameters["n_masked"]``), with its SI table.
3. The real line scans / SIs of ``bench_identify.py`` (``$HYPERSPY_EELS_ML_DATA``): pixels masked
   (a transfer check: nothing is tuned on them).

The rule (helper z39) is :func:`hyperspy_eels_ml._shared.masks.auto_vacuum_mask_from_data`: total
counts < 10 % of the 95th percentile (the rule of ``navigation_mask="vacuum"``) AND a flat spectrum
(no significant head/tail difference, no structure beyond the pixel's own noise); NaN/inf pixels
never vacuum.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _auto(s):
    from hyperspy_eels_ml._shared.masks import auto_vacuum_mask_from_data
    from hyperspy_eels_ml.elements.identify import _auto_window

    energy = s.axes_manager.signal_axes[0].axis
    return auto_vacuum_mask_from_data(s.data, window=_auto_window(energy))


def phantoms():
    from hyperspy_eels_ml.simulation import phantoms as ph

    cases = [(f"multiphase vacuum_fraction={vf} counts={c:g}",
              lambda vf=vf, c=c: ph.multiphase_core_loss_si(vacuum_fraction=vf, counts=c))
             for vf in (0.0, 0.1, 0.3) for c in (20.0, 200.0, 2000.0)]
    cases += [("superlattice (default)", ph.superlattice_core_loss_si),
              ("nanocube_core_shell (default)", ph.nanocube_core_shell_si),
              ("ferrite_core_shell (default)", ph.ferrite_core_shell_si)]
    print("\n## Shipped phantoms: pixels masked by navigation_mask='auto'\n")
    print("| phantom | pixels | true vacuum | masked | masked specimen | vacuum not masked |")
    print("|---|---|---|---|---|---|")
    for name, f in cases:
        s, t = f()
        m = _auto(s)
        vac = getattr(t, "vacuum", None)
        if vac is None:  # ferrite: phase -1 = vacuum; the superlattice: specimen everywhere
            ph_ = getattr(t, "phase", None)
            vac = np.zeros(m.shape, bool) if ph_ is None else np.asarray(ph_) < 0
        vac = np.asarray(vac, bool)
        print(f"| {name} | {m.size} | {int(vac.sum())} | {int(m.sum())} | {int((m & ~vac).sum())} | "
              f"{int((vac & ~m).sum())} |")


def si_sim(n):
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import bench_identify as B

    import hyperspy_eels_ml.elements as E

    orig, counts = E.identify_elements, []

    def wrapped(*a, **k):
        r = orig(*a, **k)
        counts.append(int(r.parameters["n_masked"]))
        return r

    E.identify_elements = wrapped
    try:
        B.print_si(B.si_benchmark(n))
    finally:
        E.identify_elements = orig
    c = np.array(counts[::2])  # two calls per SI (with and without the sum-spectrum opinion)
    print(f"\nsimulated SIs: {c.size}; SIs with masked pixels: {int((c > 0).sum())}; masked pixels: "
          f"{int(c.sum())} of {c.size * 256}; most in one SI: {int(c.max()) if c.size else 0}")


def real():
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import bench_identify as B

    root = B.data_dir()
    with open(os.path.join(root, "index.json")) as f:
        idx = json.load(f)
    entries = idx if isinstance(idx, list) else idx.get("files", idx.get("entries", list(idx.values())))
    print("\n## Real line scans / SIs: pixels masked by navigation_mask='auto'\n")
    print("| file | navigation shape | masked | total counts min / median / 95th percentile |")
    print("|---|---|---|---|")
    for e in entries:
        if not isinstance(e, dict) or not e.get("elements"):
            continue
        try:
            s = B.load_entry(root, e)
        except Exception:  # files bench_identify cannot load are not analysed there either
            continue
        if s is None or not s.axes_manager.navigation_dimension:
            continue
        m = _auto(s)
        tot = np.asarray(s.data, np.float64).sum(-1)
        print(f"| {e['path'][-45:]} | {s.data.shape[:-1]} | {int(m.sum())} of {m.size} | "
              f"{tot.min():.3g} / {np.median(tot):.3g} / {np.percentile(tot, 95):.3g} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--si-sim", type=int, default=0, help="also the N simulated SIs of bench_identify --si-sim")
    ap.add_argument("--no-real", action="store_true")
    a = ap.parse_args(argv)
    phantoms()
    if a.si_sim:
        si_sim(a.si_sim)
    if not a.no_real:
        real()


if __name__ == "__main__":
    main()
