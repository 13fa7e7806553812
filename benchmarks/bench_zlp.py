"""Benchmark: ``subtract_zlp_nn`` against EELSfitter 3.1.0 on the same synthetic low-loss SI.

Usage::

    python benchmarks/bench_zlp.py                      # 50 replicas each, EELSfitter at 20,000 epochs
    python benchmarks/bench_zlp.py --ef-epochs 1000     # EELSfitter's package default (unconverged)
    python benchmarks/bench_zlp.py --no-eelsfitter      # ours only
    python benchmarks/bench_zlp.py --shape 100 100 --replicas 100 --no-eelsfitter   # the 100x100 target

The SI is ``hyperspy_eels_ml.simulation.thickness_bands_low_loss_si`` (10x10, three
thickness bands, asymmetric ZLP with Lorentzian tails, indirect gap at 1.6 eV),
the synthetic benchmark of ``../shared/notes/zlp-eelsfitter.md``. EELSfitter
(GPL-3, ``pip install eelsfitter torch``) is used here only, never by the package;
it runs with one torch thread (its default of 2 threads is 8x slower on 2 cores),
in a subprocess of its own (``--ef-worker``): torch run after TensorFlow in one
process segfaults at its first replica (torch's Adam imports ``torch._dynamo``).
Without EELSfitter/torch installed the peer is reported as absent.

Printed: train and inference wall time, relative L2 error of the inelastic signal
in 0.5-5 eV against the truth and the Poisson floor, 68 % coverage of the truth,
failed replicas, and the ratios (EELSfitter / ours).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np


def metrics(e, data, truth_inel, truth_zlp, inel, lower=None, upper=None, t_lambda=None):
    w = (e >= 0.5) & (e <= 5.0)
    ti = truth_inel[..., w]
    bands = {}
    if t_lambda is not None:
        for name, sel in (("thin", t_lambda < 0.3), ("mid", (t_lambda >= 0.3) & (t_lambda < 0.75)),
                          ("thick", t_lambda >= 0.75)):
            bands[name] = float(np.linalg.norm((inel[..., w] - ti)[sel]) / np.linalg.norm(ti[sel]))
    rel = float(np.linalg.norm(inel[..., w] - ti) / np.linalg.norm(ti))
    floor = float(np.linalg.norm((data - truth_zlp)[..., w] - ti) / np.linalg.norm(ti))
    cov = float(np.mean((lower[..., w] <= ti) & (ti <= upper[..., w]))) if lower is not None else float("nan")
    sub = (e >= 1.0) & (e < 1.6)
    bias = float(np.mean(inel[..., sub] - truth_inel[..., sub]))
    return dict(relL2=rel, floor=floor, cov68=cov, subgap_bias=bias, bands=bands)


def run_ours(s, replicas, seed):
    from hyperspy_eels_ml.zlp import fit_zlp

    t0 = time.perf_counter()
    model = fit_zlp(s, n_replicas=replicas, random_state=seed, show_progressbar=False)
    t1 = time.perf_counter()
    r = model.subtract(s, show_progressbar=False)
    t2 = time.perf_counter()
    rep = r.replica_report
    return dict(train=t1 - t0, infer=t2 - t1, failed=rep["dropped"], retrained=rep["retrained"],
                inel=r.inelastic.data, lower=r.inelastic_lower.data, upper=r.inelastic_upper.data,
                epochs=int(model.diagnostics["epochs"]))


def run_eelsfitter(s, replicas, epochs, seed):
    import torch

    torch.set_num_threads(1)
    from EELSFitter.core.spectral_image import SpectralImage

    data = np.asarray(s.data, dtype=np.float64)
    deltaE = s.axes_manager.signal_axes[0].scale
    im = SpectralImage(data, deltaE=deltaE)
    path = tempfile.mkdtemp(prefix="ef_models_")
    try:
        t0 = time.perf_counter()
        im.train_zlp_models(n_clusters=3, seed=seed, based_on="log_zlp", n_replica=replicas, n_epochs=epochs,
                            shift_de1=1.0, shift_de2=1.0, regularisation_constant=10.0,
                            path_to_models=path + "/", display_step=10**9)
        t1 = time.perf_counter()
        im.load_zlp_models(path_to_models=path + "/")
        n_loaded = len(im.zlp_models)
        ny, nx, _ = data.shape
        inel = np.empty_like(data)
        lo, hi = np.empty_like(data), np.empty_like(data)
        for i in range(ny):
            for j in range(nx):
                zlps = im.get_pixel_matched_zlp_models(i, j)
                sub = data[i, j][None, :] - zlps
                lo[i, j], inel[i, j], hi[i, j] = np.percentile(sub, [16, 50, 84], axis=0)
        t2 = time.perf_counter()
    finally:
        shutil.rmtree(path, ignore_errors=True)
    return dict(train=t1 - t0, infer=t2 - t1, failed=replicas - n_loaded, retrained=0, inel=inel, lower=lo, upper=hi)


def ef_worker(a):
    """Subprocess side: simulate the same SI, run EELSfitter, write its arrays (never imports TensorFlow)."""
    from hyperspy_eels_ml.simulation import thickness_bands_low_loss_si

    s, _ = thickness_bands_low_loss_si(shape=tuple(a.shape), seed=a.seed)
    try:
        ef = run_eelsfitter(s, a.replicas, a.ef_epochs, a.seed)
    except ImportError as exc:
        print(f"EELSfitter not available ({exc}); pip install eelsfitter torch", file=sys.stderr)
        raise SystemExit(3) from None
    np.savez(a.ef_worker, **{k: np.asarray(v) for k, v in ef.items()})


def run_eelsfitter_subprocess(a):
    """Run :func:`run_eelsfitter` in a fresh process; returns its dict, or None with the reason printed."""
    out = tempfile.mktemp(suffix=".npz", prefix="ef_")
    cmd = [sys.executable, __file__, "--ef-worker", out, "--shape", *map(str, a.shape), "--replicas",
           str(a.replicas), "--ef-epochs", str(a.ef_epochs), "--seed", str(a.seed)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not os.path.exists(out):
        why = "EELSfitter/torch not installed" if proc.returncode == 3 else f"rc {proc.returncode}"
        print(f"EELSfitter peer skipped ({why}): {proc.stderr.strip().splitlines()[-1:]}")
        return None
    with np.load(out) as f:
        ef = {k: (f[k].item() if f[k].ndim == 0 else f[k]) for k in f.files}
    os.remove(out)
    return ef


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", type=int, nargs=2, default=(10, 10))
    p.add_argument("--replicas", type=int, default=50)
    p.add_argument("--ef-epochs", type=int, default=20000)
    p.add_argument("--no-eelsfitter", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ef-worker", metavar="OUT.npz", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.ef_worker:
        return ef_worker(a)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from hyperspy_eels_ml.simulation import thickness_bands_low_loss_si

    s, truth = thickness_bands_low_loss_si(shape=tuple(a.shape), seed=a.seed)
    e = s.axes_manager.signal_axes[0].axis
    rows = {}
    ours = run_ours(s, a.replicas, a.seed)
    rows["hyperspy_eels_ml"] = {**ours, **metrics(e, s.data, truth.inelastic.data, truth.zlp.data, ours["inel"],
                                                 ours["lower"], ours["upper"], truth.t_lambda)}
    rows["hyperspy_eels_ml"]["epochs"] = ours["epochs"]
    rss_ours = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if not a.no_eelsfitter:
        ef = run_eelsfitter_subprocess(a)
        if ef is not None:
            rows[f"EELSfitter 3.1.0 ({a.ef_epochs} ep)"] = {
                **ef, **metrics(e, s.data, truth.inelastic.data, truth.zlp.data, ef["inel"], ef["lower"], ef["upper"],
                           truth.t_lambda)}
    n = int(np.prod(a.shape))
    print(f"\nZLP subtraction benchmark: {a.shape[0]}x{a.shape[1]} SI ({n} spectra, {e.size} channels), "
          f"{a.replicas} replicas, {os.cpu_count()} CPUs; peak RSS of our run {rss_ours:.0f} MB")
    hdr = f"{'method':34s} {'train s':>8s} {'infer s':>8s} {'total s':>8s} {'spectra/s':>9s} {'relL2':>6s} " \
          f"{'/floor':>6s} {'cov68':>6s} {'subgap':>7s} {'failed':>6s}"
    print(hdr)
    print("-" * len(hdr))
    for name, r in rows.items():
        tot = r["train"] + r["infer"]
        print(f"{name:34s} {r['train']:8.1f} {r['infer']:8.2f} {tot:8.1f} {n / tot:9.1f} {r['relL2']:6.3f} "
              f"{r['relL2'] / r['floor']:6.2f} {r['cov68']:6.3f} {r['subgap_bias']:+7.2f} {int(r['failed']):6d}")
    print(f"training steps (ours, early stopping): {rows['hyperspy_eels_ml']['epochs']}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, r in rows.items():
        print(f"relL2 by thickness, {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in r["bands"].items()))
    print(f"Poisson floor relL2 = {rows['hyperspy_eels_ml']['floor']:.3f}; subgap = mean bias in 1.0-1.6 eV "
          "(counts/channel, truth 0.2-0.5)")
    if len(rows) == 2:
        o, f = rows["hyperspy_eels_ml"], list(rows.values())[1]
        print(f"ratios EELSfitter/ours: end-to-end time {(f['train'] + f['infer']) / (o['train'] + o['infer']):.1f}x, "
              f"train {f['train'] / o['train']:.1f}x, inference {f['infer'] / o['infer']:.1f}x, "
              f"relL2 {f['relL2'] / o['relL2']:.2f}x")


if __name__ == "__main__":
    main()
