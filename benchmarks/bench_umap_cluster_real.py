"""umap_cluster on the real core-loss SIs of ``$HYPERSPY_EELS_ML_DATA/clustering`` (default ../shared/data).

Usage::

    python benchmarks/bench_umap_cluster_real.py [--data DIR] [--random-state 0]

For every SI it prints one table row per method:

* ``raw``: ``s.umap_cluster()`` on the spectra as they are (the default);
* ``background``: ``s.umap_cluster(background="PowerLaw", edges=...)`` - a power-law background
  removed before each edge with exspy's ``remove_background``, only the edge segments clustered;
* baseline: HyperSpy's own ``s.decomposition()`` + ``s.cluster_analysis("decomposition", ...)``
  (k-means, ``n_clusters`` = the number our background run found, at least 2) on the same
  background-removed data.

Columns: clusters found, noise fraction, spatial coherence (fraction of 4-neighbour pixel pairs
with the same label; 1 = compact regions, about 1/k for salt-and-pepper labels) and, where fitted
elemental maps exist (Cu/Zn SI), the correlation ratio eta^2 of the Cu fraction Cu/(Cu+Zn) and of
the total Cu+Zn signal explained by the labels (0 = labels unrelated, 1 = labels determine it).
These SIs have no ground-truth phase labels; the numbers describe, they do not score.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def coherence(labels):
    import numpy as np

    lab = np.asarray(labels)
    if lab.ndim != 2:
        return float("nan")
    same = [(lab[1:, :] == lab[:-1, :]).ravel(), (lab[:, 1:] == lab[:, :-1]).ravel()]
    return float(np.mean(np.concatenate(same)))


def eta2(values, labels):
    """Correlation ratio: between-cluster variance / total variance of ``values`` (noise excluded)."""
    import numpy as np

    v, lab = np.asarray(values, float).ravel(), np.asarray(labels).ravel()
    ok = (lab >= 0) & np.isfinite(v)
    v, lab = v[ok], lab[ok]
    if v.size < 2 or np.var(v) == 0:
        return float("nan")
    means = {k: v[lab == k].mean() for k in np.unique(lab)}
    between = sum((lab == k).sum() * (m - v.mean()) ** 2 for k, m in means.items()) / v.size
    return float(between / np.var(v))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get("HYPERSPY_EELS_ML_DATA",
                                                    Path(__file__).resolve().parents[2] / "shared" / "data"))
    p.add_argument("--random-state", type=int, default=0)
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    import hyperspy.api as hs
    import numpy as np

    import hyperspy_eels_ml  # noqa: F401
    from hyperspy_eels_ml.clustering import remove_edge_backgrounds

    hs.preferences.General.show_progressbar = False
    d = Path(args.data) / "clustering"
    cases = []
    cuzn = d / "exspy-demos__CuZn_EELS_mapping_tutorial.hspy"
    if cuzn.exists():
        s = hs.load(cuzn)
        s.set_signal_type("EELS")
        cu = hs.load(d / "exspy-demos__Cu_map.hspy").data
        zn = hs.load(d / "exspy-demos__Zn_map.hspy").data
        cases.append(("Cu/Zn oxide 50x40, 8 eV/ch", s, dict(edges=["Cu_L3", "Zn_L3"]),
                      {"Cu fraction": cu / (cu + zn + 1e-9), "Cu+Zn": cu + zn}))
    gaas = d / "vcangadi1_EELS_Hyperspy__EELS Spectrum Image 16x16 1s 0.5eV 78offset.dm3"
    if gaas.exists():
        s = hs.load(gaas)
        s.set_signal_type("EELS")
        # M2,3 edges of Ga (~105 eV), Ge (~122 eV), As (~141 eV): not in exspy's database, given as onsets
        cases.append(("Ge/GaAs 16x16, 0.5 eV/ch", s, dict(edges=[103.0, 120.0, 140.0], pre_edge_width=12.0), {}))
    if not cases:
        print(f"no real clustering data under {d}")
        return 1
    rows = []
    for name, s, pre, refs in cases:
        rs = args.random_state
        for method in ("raw", "background", "hyperspy kmeans (baseline)"):
            t = time.perf_counter()
            if method == "raw":
                res = s.umap_cluster(random_state=rs)
                labels, k = res.labels.data, res.n_clusters
            elif method == "background":
                res = s.umap_cluster(random_state=rs, background="PowerLaw", **pre)
                labels, k = res.labels.data, res.n_clusters
                k_bg = max(k, 2)
            else:
                sb = remove_edge_backgrounds(s, **pre)
                sb.decomposition(output_dimension=10, print_info=False)
                sb.cluster_analysis("decomposition", number_of_components=10, n_clusters=k_bg,
                                    preprocessing="norm", algorithm="kmeans", random_state=rs if rs else 0)
                labels = sb.get_cluster_labels(merged=True).data
                k = k_bg
            wall = time.perf_counter() - t
            noise = float(np.mean(np.asarray(labels) < 0))
            row = [name, method, k, noise, coherence(labels), wall]
            row += [eta2(v, labels) for v in refs.values()]
            rows.append((row, list(refs)))
    print(f"{'SI':28s} {'method':28s} {'clusters':>8s} {'noise':>6s} {'coherence':>9s} {'wall s':>7s}  references")
    for row, refs in rows:
        name, method, k, noise, coh, wall, *eta = row
        extra = "  ".join(f"eta2({r})={e:.2f}" for r, e in zip(refs, eta))
        print(f"{name:28s} {method:28s} {k:8d} {noise:6.2f} {coh:9.2f} {wall:7.1f}  {extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
