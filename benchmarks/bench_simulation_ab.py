"""A/B of ``core_loss`` against another checkout of the package: fixed-seed equivalence and CPU time.

Usage::

    git worktree add /tmp/base <commit>            # the code to compare against
    python benchmarks/bench_simulation_ab.py --base /tmp/base --check
    python benchmarks/bench_simulation_ab.py --base /tmp/base --time --rounds 10

``--check`` runs both versions (each in its own process, ``PYTHONPATH`` set to the checkout) on a grid of
presets (basic, realistic-v1/v2/v3), axes (0.05, 0.1, 1, 2 eV/ch, 3072 channels among them), element sets,
batch sizes and seeds, with and without noise, and compares every output: spectra within ``--rtol`` of the
largest |value| of each spectrum (1e-6: float reassociation), labels, amounts and every ``params`` entry.

``--time`` starts one worker process per version (one thread each: ``OMP_NUM_THREADS=1`` etc.) and runs
them in interleaved rounds (base, new, base, new, ...; the order alternates every round), each round
``--seconds`` of CPU time of 256-spectrum batches of the two cases of ``bench_simulation.py --only
"core_loss, 3072"`` (3072 channels at 1 eV/ch from 100 eV, C/O/Fe/Mn/La; at 0.1 eV/ch from 500 eV, Mn/O),
and prints spectra per CPU-second (``time.process_time``) best and median over the rounds. On a shared
machine CPU time is the comparable figure (wall-clock rates depend on the load); interleaving spreads slow
phases of the machine over both versions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NEW = os.path.dirname(HERE)

CASES = {
    "a": dict(elements=["C", "O", "Fe", "Mn", "La"], energy_offset=100.0, dispersion=1.0, size=3072),
    "b": dict(elements=["Mn", "O"], energy_offset=500.0, dispersion=0.1, size=3072),
}


def check_grid():
    """(name, kwargs) of the equivalence grid."""
    axes = [(0.05, 1024, 500.0), (0.1, 3072, 500.0), (1.0, 3072, 100.0), (2.0, 1024, 200.0), (0.5, 1024, 400.0)]
    sets = [["C", "O", "Fe", "Mn", "La"], ["Mn", "O"], ["B", "C", "N", "O", "Si"], ["Ti", "Cu", "Ce", "O"],
            ["O", "Au"], ["Ca", "K", "Sc", "Mg", "Al"]]
    grid = []
    for realism in ("realistic-v3", "realistic-v2", "realistic-v1", "basic"):
        for ai, (disp, size, off) in enumerate(axes):
            for si, els in enumerate(sets):
                if (ai + si) % 2 and realism != "realistic-v3":
                    continue  # a thinner grid for the older presets (still every axis and set)
                for noise in (True, False):
                    n = 1 if (ai + si + noise) % 5 == 0 else 64
                    seed = 1000 * ai + 10 * si + noise
                    grid.append((f"{realism} {disp} eV/ch x{size} {'/'.join(els)} noise={noise} n={n}",
                                 dict(n=n, elements=els, dispersion=disp, size=size, energy_offset=off,
                                      noise=noise, rng=seed, realism=realism)))
    # the no-edge case and fixed amounts
    grid.append(("v3 O/Au no edge in window", dict(n=2, elements=["O", "Au"], energy_offset=400.0, dispersion=0.5,
                                                   size=512, amounts=[0, 1], rng=3, realism="realistic-v3")))
    return grid


def worker_check(out):
    import warnings

    import numpy as np

    warnings.filterwarnings("ignore")
    from hyperspy_eels_ml.simulation import core_loss

    res = {"__file__": sys.modules["hyperspy_eels_ml"].__file__}
    for name, kw in check_grid():
        kw = dict(kw)
        n = kw.pop("n")
        els = kw.pop("elements")
        b = core_loss(n, els, **kw)
        res[name + "|spectra"] = b.spectra
        res[name + "|present"] = b.present
        res[name + "|visible"] = b.visible
        res[name + "|amounts"] = b.amounts
        for key, v in b.params.items():
            if isinstance(v, np.ndarray):
                res[name + "|p:" + key] = v
    # the other generators that share the changed code (low-loss kernel, EXELFS, recording)
    from hyperspy_eels_ml.simulation import multiphase_core_loss_si, superlattice_core_loss_si, white_line_spectra

    for seed, edge in ((1, "both"), (2, "L23")):
        w = white_line_spectra(64, ["Fe2+", "Fe3+", "Fe3O4"], edge=edge, dispersion=0.25, rng=seed)
        res[f"white_line_spectra {edge}|spectra"] = w.spectra
        res[f"white_line_spectra {edge}|fractions"] = w.fractions
        for key, v in w.params.items():
            if isinstance(v, np.ndarray):
                res[f"white_line_spectra {edge}|p:{key}"] = v
    for name, fn in (("multiphase_core_loss_si", multiphase_core_loss_si),
                     ("superlattice_core_loss_si", superlattice_core_loss_si)):
        sp, _ = fn((4, 16), n_channels=512, seed=7)
        res[name + "|spectra"] = np.asarray(sp.data)
    np.savez(out, **{k: (np.asarray(v) if not isinstance(v, str) else np.array(v)) for k, v in res.items()})


def compare(f_base, f_new, rtol):
    import numpy as np

    a, b = np.load(f_base), np.load(f_new)
    print(f"base: {a['__file__']}\nnew:  {b['__file__']}")
    bad, close, n_exact, n_close = [], [], 0, 0
    worst = 0.0
    for key in a.files:
        if key == "__file__":
            continue
        x, y = a[key], b[key]
        if x.shape != y.shape or x.dtype != y.dtype:
            bad.append(f"{key}: shape/dtype {x.shape} {x.dtype} vs {y.shape} {y.dtype}")
            continue
        if np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
            n_exact += 1
            continue
        if x.dtype.kind != "f":
            bad.append(f"{key}: {int((x != y).sum())} of {x.size} differ")
            continue
        if key.endswith("|spectra"):
            ref = np.abs(x).max(axis=1, keepdims=True) if x.ndim == 2 else np.abs(x).max()
        else:
            ref = np.abs(x)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.where(np.isnan(x) & np.isnan(y), 0.0, np.abs(x.astype(np.float64) - y) / np.maximum(ref, 1e-300))
        r = float(np.nanmax(rel)) if rel.size else 0.0
        worst = max(worst, r)
        if not r <= rtol:
            bad.append(f"{key}: max relative difference {r:.3g}")
        else:
            n_close += 1
            close.append(f"{key}: {r:.2g}")
    print(f"{n_exact} arrays bit-identical, {n_close} within {rtol:g} (worst {worst:.2g}), {len(bad)} differ")
    for line in close[:40]:
        print("  close", line)
    for line in bad[:40]:
        print("  DIFF", line)
    return not bad


def worker_time():
    """Serve timing rounds: read 'case seconds realism' lines, answer 'spectra cpu_seconds'."""
    import warnings

    warnings.filterwarnings("ignore")
    from hyperspy_eels_ml.simulation import core_loss

    pad = float(os.environ.get("Z_AB_RETAIN_MB", "0"))
    if pad > 0:
        from hyperspy_eels_ml.simulation._memory import retain_freed_memory as _retain  # noqa: F401 (new code)
    info = {"file": sys.modules["hyperspy_eels_ml"].__file__}
    if pad > 0:
        info["retain_freed_memory"] = _retain(pad)
    print(json.dumps(info), flush=True)
    seed = 0
    for line in sys.stdin:
        case, seconds, realism = line.split()
        kw = dict(CASES[case])
        els = kw.pop("elements")
        c0, n = time.process_time(), 0
        while time.process_time() - c0 < float(seconds) or n == 0:
            core_loss(256, els, rng=seed, realism=realism, **kw)
            seed += 1
            n += 256
        print(json.dumps({"n": n, "cpu": time.process_time() - c0}), flush=True)


def one_thread_env(path, retain_mb=0.0):
    env = dict(os.environ)
    env["Z_AB_RETAIN_MB"] = str(retain_mb)
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[v] = "1"
    env["PYTHONPATH"] = path + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=False, help="checkout (work tree) of the code to compare against")
    p.add_argument("--check", action="store_true", help="fixed-seed equivalence of all outputs")
    p.add_argument("--rtol", type=float, default=1e-6)
    p.add_argument("--time", action="store_true", help="interleaved CPU-time A/B")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--seconds", type=float, default=2.0, help="CPU seconds per round and version")
    p.add_argument("--realism", default="realistic-v3")
    p.add_argument("--cases", default="a,b")
    p.add_argument("--retain-memory", type=float, default=0.0, metavar="MB",
                   help="the new worker calls hyperspy_eels_ml.simulation.retain_freed_memory(MB) first (glibc "
                        "M_TOP_PAD: fewer page faults; the base worker runs without it)")
    p.add_argument("--_worker", choices=["check", "time"], help=argparse.SUPPRESS)
    p.add_argument("--_out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._worker == "check":
        worker_check(args._out)
        return 0
    if args._worker == "time":
        worker_time()
        return 0
    if not args.base:
        p.error("--base is required")
    base = os.path.abspath(args.base)
    ok = True
    if args.check:
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            outs = []
            for tag, path in (("base", base), ("new", NEW)):
                out = os.path.join(d, tag + ".npz")
                subprocess.run([sys.executable, os.path.abspath(__file__), "--_worker", "check", "--_out", out],
                               env=one_thread_env(path), check=True)
                outs.append(out)
            ok = compare(*outs, args.rtol)
    if args.time:
        import numpy as np

        procs = {}
        for tag, path in (("base", base), ("new", NEW)):
            procs[tag] = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--_worker", "time"],
                                          env=one_thread_env(path, args.retain_memory if tag == "new" else 0.0),
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          text=True)
            print(f"{tag}: {json.loads(procs[tag].stdout.readline())}")
        for case in args.cases.split(","):
            rates = {"base": [], "new": []}
            for tag in procs:  # warm-up (caches of the element profiles)
                procs[tag].stdin.write(f"{case} 0.2 {args.realism}\n")
                procs[tag].stdin.flush()
                procs[tag].stdout.readline()
            for r in range(args.rounds):
                for tag in (("base", "new") if r % 2 == 0 else ("new", "base")):
                    procs[tag].stdin.write(f"{case} {args.seconds} {args.realism}\n")
                    procs[tag].stdin.flush()
                    res = json.loads(procs[tag].stdout.readline())
                    rates[tag].append(res["n"] / res["cpu"])
            b, nw = np.array(rates["base"]), np.array(rates["new"])
            kw = CASES[case]
            print(f"case {case} ({kw['size']} ch at {kw['dispersion']} eV/ch, {'/'.join(kw['elements'])}), "
                  f"{args.realism}, {args.rounds} rounds of {args.seconds} CPU-s, spectra per CPU-second:")
            print(f"  base best {b.max():7.0f}  median {np.median(b):7.0f}   rounds {' '.join(f'{x:.0f}' for x in b)}")
            print(f"  new  best {nw.max():7.0f}  median {np.median(nw):7.0f}   rounds {' '.join(f'{x:.0f}' for x in nw)}")
            ratio = nw / b  # per round (base and new measured next to each other)
            print(f"  new/base: best {nw.max() / b.max():.3f}, median {np.median(nw) / np.median(b):.3f}, "
                  f"median of per-round ratios {np.median(ratio):.3f} "
                  f"(CPU per spectrum -{100 * (1 - 1 / np.median(ratio)):.1f} %)", flush=True)
        for pr in procs.values():
            pr.stdin.close()
            pr.wait()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
