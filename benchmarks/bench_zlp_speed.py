"""Benchmark: speed of ``subtract_zlp_nn`` (training + subtraction) for few spectra and for a 10^4-spectrum SI.

Usage::

    python benchmarks/bench_zlp_speed.py                    # all cases, 100 replicas
    python benchmarks/bench_zlp_speed.py --only ws2 si100   # some cases
    python benchmarks/bench_zlp_speed.py --replicas 32

Each case runs in a fresh subprocess (so TensorFlow's import, about 5 s, is
counted once per case, as in a new Jupyter kernel) and prints one row: the
number of spectra, the replicas, the training steps of the whole ensemble (first
training plus any retraining of failed replicas), the steps of the warm start's
central replicas (``fit.WARM_START``: a few replicas trained first, cheap per
step; 0 without a warm start), the rule that stopped training, the CPU time of
the process (user + sys of all its threads: the figure to compare on a shared machine), the wall time, and the wall time of
the ``subtract_zlp_nn`` call alone (without imports and loading). The issue-12
target: a handful of spectra with 100 replicas well under 30 s on 2 cores; a
10^4-spectrum SI near 32 s.

Cases: ``ws2`` the 6 WS2 specimen + 3 vacuum spectra of ``../shared/data/zlp``
(skipped without the data), ``si10`` and ``si100`` the simulated
``thickness_bands_low_loss_si`` of 10x10 and 100x100 spectra.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def worker(case, replicas):
    t0, c0 = time.perf_counter(), time.process_time()
    import warnings

    import numpy as np

    import hyperspy_eels_ml  # noqa: F401

    vac = None
    if case == "ws2":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import bench_zlp_real as b

        spec, vac = b.load_ws2(b.data_dir() / "zlp")
        spec, _ = b.align(spec)
        vac, _ = b.align(vac)
    else:
        from hyperspy_eels_ml.simulation import thickness_bands_low_loss_si

        n = 10 if case == "si10" else 100
        spec, _ = thickness_bands_low_loss_si(shape=(n, n), seed=0)
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = spec.subtract_zlp_nn(vacuum=vac, n_replicas=replicas, random_state=0, show_progressbar=False)
    t2 = time.perf_counter()
    d = r.model.diagnostics
    row = dict(case=case, n=int(np.prod(spec.data.shape[:-1])), replicas=replicas,
               steps=int(d["epochs"]) + int(d.get("retrain_epochs", 0)),  # first training + retraining of failures
               central=int(d.get("central_epochs", 0)), stop=str(d.get("stop_rule", "")),
               cpu=time.process_time() - c0, wall=t2 - t0, call=t2 - t1,
               t_lambda=float(np.median(r.thickness.data)))
    print("ROW " + json.dumps(row), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replicas", type=int, default=100)
    ap.add_argument("--only", nargs="*", default=["ws2", "si10", "si100"])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        return worker(a.worker, a.replicas)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    rows = []
    for case in a.only:
        p = subprocess.run([sys.executable, __file__, "--worker", case, "--replicas", str(a.replicas)],
                           capture_output=True, text=True, env=env)
        line = [x for x in p.stdout.splitlines() if x.startswith("ROW ")]
        if p.returncode != 0 or not line:
            print(f"{case}: failed (rc {p.returncode}): {p.stderr.strip().splitlines()[-1:]}")
            continue
        rows.append(json.loads(line[0][4:]))
    print(f"\nsubtract_zlp_nn speed, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'case':<6} {'spectra':>7} {'replicas':>8} {'steps':>5} {'central':>7} {'stopped by':<20} {'CPU s':>6} "
          f"{'wall s':>6} {'call s':>6} {'t/lambda':>8}")
    for r in rows:
        print(f"{r['case']:<6} {r['n']:>7} {r['replicas']:>8} {r['steps']:>5} {r.get('central', 0):>7} {r['stop']:<20} "
              f"{r['cpu']:>6.1f} {r['wall']:>6.1f} {r['call']:>6.1f} {r['t_lambda']:>8.3f}")
    print("CPU s: user + sys of the whole process (imports included); wall s: imports + loading + call; "
          "call s: subtract_zlp_nn alone")


if __name__ == "__main__":
    main()
