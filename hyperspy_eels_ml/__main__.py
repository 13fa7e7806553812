"""Command line: ``python -m hyperspy_eels_ml demo``.

The demo runs offline on a generated spectrum image: a three-phase oxide
phantom (TiO2 / Fe2O3 bands and a MnO particle) with a 60 % thickness gradient,
Poisson noise and vacuum, loaded lazily, segmented with ``s.umap_cluster()``;
it writes PNG figures and prints what it found against the ground truth.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _demo(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    import hyperspy_eels_ml  # noqa: F401  (attaches s.umap_cluster)
    from hyperspy_eels_ml.clustering import vacuum_mask
    from hyperspy_eels_ml.simulation import multiphase_core_loss_si

    out = os.path.abspath(args.output)
    os.makedirs(out, exist_ok=True)
    ny, nx = args.shape
    print(f"hyperspy_eels_ml {hyperspy_eels_ml.__version__} demo -> {out}")
    s, truth = multiphase_core_loss_si((ny, nx), n_channels=args.channels, lazy=True, seed=args.seed)
    print(f"Spectrum image: {s} (lazy, {s.data.nbytes / 2**20:.0f} MB if loaded), phases "
          f"{truth.phase_names} + vacuum, thickness {truth.thickness[~truth.vacuum].min():.2f}-"
          f"{truth.thickness.max():.2f} (relative)")
    t0 = time.perf_counter()
    mask = vacuum_mask(s)
    print(f"Vacuum mask: {mask.sum()} pixels (truth: {truth.vacuum.sum()})")
    print("Clustering with s.umap_cluster() (the first UMAP fit of a process compiles numba code, 20-40 s)...")
    res = s.umap_cluster(navigation_mask=mask, random_state=args.seed)
    res.compute()
    dt = time.perf_counter() - t0
    ok = ~truth.vacuum
    ari = adjusted_rand_score(truth.phase[ok], res.labels.data[ok])
    print(f"Found {res.n_clusters} clusters in {dt:.1f} s; adjusted Rand index vs truth: {ari:.3f}")
    for k in range(res.n_clusters):
        member = res.labels.data == k
        phases, counts = np.unique(truth.phase[member], return_counts=True)
        main = phases[np.argmax(counts)]
        name = truth.phase_names[main] if main >= 0 else "vacuum"
        print(f"  cluster {k}: {member.sum():6d} px, {counts.max() / member.sum():6.1%} {name}, "
              f"mean membership {res.probabilities.data[member].mean():.2f}")
    print(f"  noise/masked: {(res.labels.data == -1).sum()} px")
    fig = res.plot()
    f1 = os.path.join(out, "umap_cluster.png")
    fig.savefig(f1, dpi=110)
    plt.close(fig)
    fig, axs = plt.subplots(1, 2, figsize=(9, 4))
    im = axs[0].imshow(truth.phase, cmap="tab10", vmin=-1, vmax=9, interpolation="nearest")
    axs[0].set_title("ground truth phases (-1 = vacuum)")
    fig.colorbar(im, ax=axs[0])
    im = axs[1].imshow(truth.thickness, cmap="viridis")
    axs[1].set_title("relative thickness")
    fig.colorbar(im, ax=axs[1])
    fig.tight_layout()
    f2 = os.path.join(out, "phantom_truth.png")
    fig.savefig(f2, dpi=110)
    plt.close(fig)
    print(f"Figures: {f1}, {f2}")
    return 0 if ari >= 0.9 else 1


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m hyperspy_eels_ml", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="cluster a generated spectrum image offline and write figures")
    d.add_argument("--output", default="hyperspy_eels_ml_demo", help="folder for the figures")
    d.add_argument("--shape", type=int, nargs=2, default=(128, 128), metavar=("NY", "NX"))
    d.add_argument("--channels", type=int, default=512)
    d.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.command == "demo":
        return _demo(args)
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
