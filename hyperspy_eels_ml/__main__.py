"""Command line: ``hyperspy-eels-ml demo`` (or ``python -m hyperspy_eels_ml demo``).

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

_DESCRIPTION = """\
Machine learning for EELS as a HyperSpy/exspy extension (command line).

The library is used from Python: import hyperspy_eels_ml adds s.umap_cluster(),
s.subtract_zlp_nn(), s.classify_oxidation() and s.identify_elements() to exspy EELS
signals. This command runs an offline demo:

  hyperspy-eels-ml demo --output demo_figures
  python -m hyperspy_eels_ml demo --shape 64 64      (same, without the script)
"""


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
    fig = _truth_figure(truth, res, s)
    f2 = os.path.join(out, "phantom_truth.png")
    fig.savefig(f2, dpi=110)
    plt.close(fig)
    print(f"Figures: {f1}, {f2}")
    return 0 if ari >= 0.9 else 1


def _truth_figure(truth, res, s):
    """Ground-truth phases coloured like the cluster each phase was found as, and the thickness map."""
    import matplotlib.pyplot as plt
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    from hyperspy_eels_ml.clustering.plot import plot_label_map

    labels = np.asarray(res.labels.data)
    n_ph, k = len(truth.phase_names), res.n_clusters
    overlap = np.array([[np.sum((truth.phase == p) & (labels == c)) for c in range(k)] for p in range(n_ph)])
    shown = np.full(n_ph, -1)
    if k:
        rows, cols = linear_sum_assignment(-overlap)
        shown[rows] = cols
    extra = iter(range(k, k + n_ph))  # phases matched to no cluster get colours after the clusters
    shown = np.array([c if c >= 0 else next(extra) for c in shown])
    n_col = max(k, int(shown.max()) + 1)
    display = np.where(truth.phase >= 0, shown[np.clip(truth.phase, 0, None)], -1)
    names = [""] * n_col
    for p_, c in enumerate(shown):
        names[c] = truth.phase_names[p_]
    fig, axs = plt.subplots(1, 2, figsize=(11, 4.2))
    nav = list(s.axes_manager.navigation_axes)
    plot_label_map(axs[0], display, nav, n_col, names=names, noise_name="vacuum",
                   title="ground-truth phases\n(colour of the matching cluster)")
    x, y = nav
    im = axs[1].imshow(truth.thickness, cmap="viridis", extent=[x.axis[0], x.axis[-1], y.axis[-1], y.axis[0]])
    axs[1].set_xlabel(f"{x.name} ({x.units})")
    axs[1].set_ylabel(f"{y.name} ({y.units})")
    axs[1].set_title("relative thickness (1 = thinnest specimen)")
    fig.colorbar(im, ax=axs[1], label="relative thickness")
    fig.tight_layout()
    return fig


def _version_string():
    from importlib.metadata import version

    from hyperspy_eels_ml._version import __version__

    deps = []
    for name in ("hyperspy", "exspy", "numpy", "dask", "umap-learn", "hdbscan"):
        try:
            deps.append(f"{name} {version(name)}")
        except Exception:  # pragma: no cover
            deps.append(f"{name} not installed")
    return f"hyperspy_eels_ml {__version__} ({', '.join(deps)})"


def main(argv=None):
    p = argparse.ArgumentParser(prog="hyperspy-eels-ml", description=_DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=_version_string())
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    d = sub.add_parser("demo", help="cluster a generated spectrum image offline and write figures",
                       description="Generate a lazy three-phase core-loss SI, segment it with s.umap_cluster() "
                                   "and write umap_cluster.png and phantom_truth.png. Exit status 0 when the "
                                   "adjusted Rand index against the ground truth is >= 0.9.")
    d.add_argument("--output", default="hyperspy_eels_ml_demo", help="folder for the figures (default: %(default)s)")
    d.add_argument("--shape", type=int, nargs=2, default=(128, 128), metavar=("NY", "NX"),
                   help="navigation shape of the generated SI in pixels (default: 128 128)")
    d.add_argument("--channels", type=int, default=512,
                   help="number of energy channels of the generated SI (default: %(default)s)")
    d.add_argument("--seed", type=int, default=0,
                   help="seed of the generated SI and of the clustering (default: %(default)s)")
    args = p.parse_args(argv)
    if args.command == "demo":
        return _demo(args)
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
