"""Benchmark of ``s.umap_cluster()`` on a lazy synthetic spectrum image.

Usage::

    python benchmarks/bench_umap_cluster.py                      # 512 x 512 x 1024 (262,144 spectra)
    python benchmarks/bench_umap_cluster.py --shape 1000 1000 512  # 10^6 spectra

Prints one table: spectra/s, wall time per stage, peak RSS, ARI against the
ground truth, and - where the SI fits the baseline limit - the same for the
peer it replaces: umap-learn + hdbscan fitted on *all* pixels in memory (what
``s.cluster_analysis(preprocessing=umap.UMAP(), algorithm=hdbscan.HDBSCAN())``
does), on the same features (same normalisation and PCA projection), with the
time ratio and the label agreement (ARI between the two labelings).

The SI is generated on the fly from a seed (``multiphase_core_loss_si``), so
each pass over the data includes the generation of the Poisson counts; the
time of one plain pass (sum of all counts) is printed so it can be subtracted.
The first UMAP fit of a process compiles numba code; a warm-up fit on a small
array runs first and its time is reported separately.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: kB


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", type=int, nargs=3, default=(512, 512, 1024), metavar=("NY", "NX", "NE"))
    p.add_argument("--max-fit-samples", type=int, default=20000)
    p.add_argument("--baseline-max-pixels", type=int, default=300_000,
                   help="run the all-pixel umap-learn + hdbscan baseline only up to this many pixels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--random-state", type=int, default=None,
                   help="seed UMAP (forces single-threaded UMAP); default: unseeded, parallel")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")

    import dask
    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    import hyperspy_eels_ml  # noqa: F401
    from hyperspy_eels_ml._shared.imports import import_hdbscan, import_umap
    from hyperspy_eels_ml.simulation import multiphase_core_loss_si

    ny, nx, ne = args.shape
    n_pix = ny * nx
    rows = []
    s, truth = multiphase_core_loss_si((ny, nx), n_channels=ne, lazy=True, seed=args.seed)
    ok = ~truth.vacuum
    print(f"SI {ny} x {nx} x {ne} ({n_pix:,} spectra, {s.data.nbytes / 2**30:.2f} GiB float32 if loaded), "
          f"chunks {s.data.chunksize}, {os.cpu_count()} CPU(s), dask scheduler: "
          f"{dask.config.get('scheduler', 'threads')}", flush=True)

    t = time.perf_counter()
    s.data.sum().compute()
    t_gen = time.perf_counter() - t

    umap = import_umap()
    t = time.perf_counter()
    rng = np.random.default_rng(0)
    umap.UMAP(n_neighbors=30, min_dist=0.0, metric="cosine").fit(rng.random((5000, 30), dtype=np.float32))
    t_jit = time.perf_counter() - t

    rss0 = peak_rss_gb()
    t = time.perf_counter()
    res = s.umap_cluster(navigation_mask=truth.vacuum, max_fit_samples=args.max_fit_samples,
                         random_state=args.random_state, show_progressbar=False)
    t_call = time.perf_counter() - t
    res.compute(show_progressbar=False)
    t_ours = time.perf_counter() - t
    rss_ours = peak_rss_gb()
    labels = res.labels.data
    ari = adjusted_rand_score(truth.phase[ok], labels[ok])
    rows.append(("hyperspy_eels_ml umap_cluster (lazy, subsample fit + transform)", n_pix / t_ours, t_ours,
                 rss_ours, ari, res.n_clusters, "-"))
    print(f"  stages: fit pass (PCA + subsample) {res.timings['pass1_pca_and_sample']:.1f} s, UMAP fit "
          f"{res.timings['umap_fit']:.1f} s, HDBSCAN fit {res.timings['hdbscan_fit_and_warmup']:.1f} s, "
          f"call total {t_call:.1f} s, embed + label pass {t_ours - t_call:.1f} s", flush=True)

    base = None
    if n_pix <= args.baseline_max_pixels:
        hdbscan = import_hdbscan()
        x = s.data.compute()  # the peer loads everything
        t = time.perf_counter()
        xv = x[ok]
        z = res.model.features(xv.reshape(-1, ne))
        emb = umap.UMAP(n_neighbors=30, min_dist=0.0, metric="cosine", random_state=args.random_state).fit_transform(z)
        mcs = max(10, int(round(0.005 * len(z))))
        base_lab = hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=10).fit(emb).labels_
        t_base = time.perf_counter() - t
        base = np.full(truth.phase.shape, -1)
        base[ok] = base_lab
        ari_base = adjusted_rand_score(truth.phase[ok], base[ok])
        agree = adjusted_rand_score(base[ok], labels[ok])
        rows.append(("umap-learn + hdbscan fitted on all pixels (in memory)", n_pix / t_base, t_base,
                     peak_rss_gb(), ari_base, int(base_lab.max()) + 1, f"{agree:.3f}"))
        rows.append(("ratio (peer time / ours)", None, t_base / t_ours, None, None, None, None))
        del x

    print()
    print(f"one generation pass over the lazy SI: {t_gen:.1f} s (included in the times below, twice for ours); "
          f"numba warm-up: {t_jit:.1f} s (excluded); peak RSS before clustering {rss0:.2f} GB")
    hdr = f"{'method':66s} {'spectra/s':>10s} {'wall s':>8s} {'peakRSS GB':>10s} {'ARI':>6s} {'clusters':>8s} {'ARI vs ours':>11s}"
    print(hdr)
    print("-" * len(hdr))
    for name, sps, wall, rss, a, k, agree in rows:
        f = lambda v, fmt: (fmt.format(v) if v is not None else "")  # noqa: E731
        print(f"{name:66s} {f(sps, '{:10,.0f}'):>10s} {f(wall, '{:8.1f}'):>8s} {f(rss, '{:10.2f}'):>10s} "
              f"{f(a, '{:6.3f}'):>6s} {f(k, '{:8d}'):>8s} {agree or '':>11s}")
    if base is None:
        print(f"(all-pixel baseline skipped: {n_pix:,} > --baseline-max-pixels {args.baseline_max_pixels:,})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
