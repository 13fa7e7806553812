"""Speed of the simulation generators (spectra/s), one table.

Usage::

    python benchmarks/bench_simulation.py [--seconds 10]

``core_loss`` is timed for 3072-channel spectra (1 eV/ch from 100 eV, five
elements, every term on: fine structure, plural scattering, noise), in one
thread and in two threads (numpy releases the GIL in the heavy loops; two
threads is how the training scripts use 2 cores). Target: >= 2,000 spectra/s
on 2 cores. The multiphase phantom is timed as spectra/s of a lazy SI
computed chunk by chunk.

The figures of the user guide: ``python benchmarks/bench_simulation.py --only "core_loss, 3072"
--realism realistic-v3`` (and ``realistic-v2``, ``realistic-v1``) on an idle machine (add ``--cpu`` for
spectra per CPU-second, comparable on a busy one). ``--retain-memory 256`` first calls
``hyperspy_eels_ml.simulation.retain_freed_memory(256)`` (glibc keeps freed heap memory, so the batches' temporaries
do not fault in fresh pages; process-wide). ``--gil`` checks which steps release the GIL:
a second thread counts in a pure-Python loop while the main thread runs the step, and the
table gives its counting rate relative to that during ``numpy.exp`` (which releases the GIL),
with a 0.5 s switch interval so that a step holding the GIL shuts the counting thread out:
about 1 for ``Generator.poisson`` on an array (it releases the GIL; the earlier note that it
held it was wrong), near 0 for a Python loop.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("OMP_NUM_THREADS", "1")


def rate(fn, batch, seconds, workers):
    def run(seed):
        n = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            fn(batch, seed + n)
            n += batch
        return n

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        total = sum(ex.map(run, [i * 10**6 for i in range(workers)]))
    return total / (time.perf_counter() - t0)


def cpu_rate(fn, batch, seconds):
    """Spectra per CPU-second in this thread (best of repeated 1-second rounds): robust on shared machines."""
    best, t_end = 0.0, time.perf_counter() + seconds
    seed = 0
    while time.perf_counter() < t_end or best == 0.0:
        c0, n = time.process_time(), 0
        while time.process_time() - c0 < 1.0:
            fn(batch, seed)
            seed += batch
            n += batch
        best = max(best, n / (time.process_time() - c0))
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--only", default=None, help="run only generators whose name contains this text (e.g. core_loss)")
    p.add_argument("--cpu", action="store_true",
                   help="also print spectra per CPU-second (one thread, best round): comparable on a shared machine")
    p.add_argument("--realism", default=None,
                   help="core_loss preset: 'realistic' (default, = realistic-v2), 'realistic-v3' (faster, "
                        "literature K-edge peak heights), 'realistic-v1' (the generator the shipped models were "
                        "trained on), 'basic' (the earlier one)")
    p.add_argument("--gil", action="store_true", help="check which steps release the GIL and exit")
    p.add_argument("--retain-memory", type=float, default=0.0, metavar="MB",
                   help="call hyperspy_eels_ml.simulation.retain_freed_memory(MB) first (glibc keeps freed heap "
                        "memory: fewer page faults; process-wide, outputs unchanged); e.g. 256")
    args = p.parse_args(argv)
    if args.gil:
        gil_check()
        return
    import warnings

    warnings.filterwarnings("ignore")
    from hyperspy_eels_ml.simulation import (
        core_loss,
        low_loss,
        multiphase_core_loss_si,
        superlattice_core_loss_si,
        white_line_spectra,
        ws2_flake_low_loss_si,
    )

    els = ["C", "O", "Fe", "Mn", "La"]

    kw = {} if args.realism is None else {"realism": args.realism}
    if args.retain_memory > 0:
        from hyperspy_eels_ml.simulation import retain_freed_memory

        print(f"retain_freed_memory({args.retain_memory:g}): {retain_freed_memory(args.retain_memory)}")

    def cl(b, seed):
        core_loss(b, els, energy_offset=100.0, dispersion=1.0, size=3072, rng=seed, **kw)

    def cl_fine(b, seed):
        core_loss(b, ["Mn", "O"], energy_offset=500.0, dispersion=0.1, size=3072, rng=seed, **kw)

    def phantom(b, seed):
        s, _ = multiphase_core_loss_si((b // 64, 64), n_channels=1024, lazy=True, seed=seed)
        s.data.compute()

    def ll(b, seed):
        low_loss(b, energy_offset=-4.054, dispersion=0.025, size=1982, rng=seed)

    def wl(b, seed):
        white_line_spectra(b, ["Fe2+", "Fe3+", "Fe3O4"], edge="both", dispersion=0.25, rng=seed)

    def flake(b, seed):
        s, _ = ws2_flake_low_loss_si((b // 64, 64), lazy=True, seed=seed)
        s.data.compute()

    def superlattice(b, seed):
        s, _ = superlattice_core_loss_si((b // 64, 64), n_channels=1024, lazy=True, seed=seed)
        s.data.compute()

    rows = []
    for name, fn in [("core_loss, 3072 ch at 1 eV, 5 elements", cl),
                     ("core_loss, 3072 ch at 0.1 eV (Mn L, O K)", cl_fine),
                     ("low_loss, 1982 ch at 0.025 eV", ll),
                     ("white_line_spectra, Fe L2,3 + O K at 0.25 eV", wl),
                     ("multiphase_core_loss_si, 1024 ch (lazy, computed)", phantom),
                     ("ws2_flake_low_loss_si, 1982 ch (lazy, computed)", flake),
                     ("superlattice_core_loss_si, 1024 ch (lazy, computed)", superlattice)]:
        if args.only and args.only not in name:
            continue
        fn(args.batch, 0)  # warm-up
        r1 = rate(fn, args.batch, args.seconds, 1)
        r2 = rate(fn, args.batch, args.seconds, 2)
        rows.append((name, r1, r2) + ((cpu_rate(fn, args.batch, args.seconds),) if args.cpu else ()))
    print(f"{'generator':52s} {'1 thread /s':>12s} {'2 threads /s':>13s}" + (f" {'per CPU-s':>10s}" if args.cpu else ""))
    print("-" * (79 + (11 if args.cpu else 0)))
    for row in rows:
        name, r1, r2 = row[:3]
        print(f"{name:52s} {r1:12,.0f} {r2:13,.0f}" + (f" {row[3]:10,.0f}" if args.cpu else ""))
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GB; batch {args.batch}; "
          f"{os.cpu_count()} CPU(s)")


def gil_check(rounds=4):
    """Counting rate of a pure-Python thread while the main thread runs each step, relative to numpy.exp.

    Valid for steps that are one long call (the counting thread, once it has the GIL, keeps it for the
    switch interval): not a measure of how much of a whole ``core_loss`` call holds the GIL.
    """
    import threading

    import numpy as np

    rng = np.random.default_rng(0)
    lam = rng.uniform(0, 1, (256, 1)) * np.exp(rng.uniform(0, np.log(1e3), (256, 3072)))
    count, stop = [0], [False]

    def spin():
        while not stop[0]:
            count[0] += 1

    def pyloop():
        x = 0
        for i in range(3_000_000):
            x += i

    steps = [("numpy.exp (releases the GIL)", lambda: np.exp(-lam)),
             ("Generator.poisson, (256, 3072) means", lambda: rng.poisson(lam)),
             ("Generator.standard_normal, (256, 3072)", lambda: rng.standard_normal(lam.shape)),
             ("pure-Python loop (holds the GIL)", pyloop)]
    import sys

    # a long switch interval: a step that holds the GIL keeps the counting thread out for its whole duration
    # (CPU contention from other processes then cannot blur the difference)
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.5)
    th = threading.Thread(target=spin)
    th.start()
    time.sleep(0.05)
    rates = {name: [] for name, _ in steps}
    for _ in range(rounds):
        for name, fn in steps:
            c0, t0 = count[0], time.perf_counter()
            fn()
            rates[name].append((count[0] - c0) / (time.perf_counter() - t0))
    stop[0] = True
    th.join()
    sys.setswitchinterval(old_interval)
    ref = float(np.median(rates[steps[0][0]]))
    print(f"{'step in the main thread':42s} {'other thread counting rate / during numpy.exp':>46s}")
    for name, _ in steps:
        print(f"{name:42s} {np.median(rates[name]) / ref:46.2f}")


if __name__ == "__main__":
    main()
