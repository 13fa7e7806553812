"""Benchmark of ``identify_elements`` against the classical edge-jump detector.

    python benchmarks/bench_identify.py                 # real + simulated + speed
    python benchmarks/bench_identify.py --no-speed      # skip the 256x256 speed test
    python benchmarks/bench_identify.py --million       # also a 10^6-pixel lazy SI end to end
    python benchmarks/bench_identify.py --speed-only [--million]   # only the speed table
    python benchmarks/bench_identify.py --si-sim 200    # only the simulated-SI table (SI rules)
    python benchmarks/bench_identify.py --pairs 768     # only the coincidence-pair study (simulation)

1. Real spectra: every core-loss file of ``../shared/data`` (``$HYPERSPY_EELS_ML_DATA``)
   whose ``index.json`` entry lists elements. Truth = the listed elements that are
   assessable in the file's window (a Major edge inside it; the others must come out
   as "not assessable"). Ours: ``r.elements`` (line scans/SIs: the connected-area
   rule) and ours on the sum spectrum; baseline: the classical power-law + jump test
   (:mod:`hyperspy_eels_ml.elements.evidence`, SNR >= 5, J >= 0.05) on the sum
   spectrum. Metrics with carbon dropped (Annys convention): micro-F1, weighted F1
   (sklearn ``average='weighted'``), exact-match ratio.
2. Simulated held-out spectra (fresh seed): ours vs classical, per-family F1,
   calibration (ECE).
3. Speed: lazy 256x256 SIs (65,536 spectra; a 512 eV and a 2,048 eV window) and, with
   ``--million``, a 1000x1000x1024 SI, each in a fresh process: wall and CPU time, peak RSS.
4. ``--si-sim N``: N simulated 16x16 SIs (one acquisition per SI: window, dispersion, shift,
   gain, 20-3,000 counts in the brightest channel, background, thickness; a matrix composition
   everywhere and a particle composition in a disc of radius 3-6 px, both from the simulator's
   compound sampler). Per-pixel F1 and SI-level weighted F1 / exact match (C dropped) of the SI
   rule with and without the sum-spectrum second opinion, for the shipped and (``--si-model``)
   another network. SI truth: present elements with an assessable Major edge; one present but
   visible in no pixel is not scored.

Nothing here is tuned on the real spectra: thresholds are fixed (0.5 on calibrated
probabilities; SNR 5 / J 0.05 for the classical detector).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def data_dir():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get("HYPERSPY_EELS_ML_DATA", os.path.join(here, "..", "..", "shared", "data"))


def load_entry(root, e):
    """Load one ``index.json`` entry as an EELS signal (or None if it is not a core-loss spectrum)."""
    import exspy  # noqa: F401
    import hyperspy.api as hs

    p = os.path.join(root, e["path"])
    if e.get("role") or e.get("task") == "zlp":
        return None
    if p.endswith(".csv"):
        a = np.loadtxt(p, delimiter=",", skiprows=1, encoding="utf-8-sig")
        return _from_columns(a, e)
    if p.endswith(".txt") and e.get("reader") != "MSA":
        a = np.loadtxt(p)
        return _from_columns(a, e)
    s = hs.load(p, reader="MSA") if e.get("reader") == "MSA" else hs.load(p)
    if isinstance(s, list):
        s = s[0]
    s.set_signal_type("EELS")
    return s


def _from_columns(a, e):
    """Two columns (eV, intensity) on their own energy column (uneven steps resampled; see the guide)."""
    import warnings

    from hyperspy_eels_ml import spectrum_from_columns

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="spectrum_from_columns")
        return spectrum_from_columns(a[:, 0], a[:, 1])


def _sum_spectrum(s):
    return s.sum(axis=tuple(range(s.axes_manager.navigation_dimension))) if s.axes_manager.navigation_dimension \
        else s


def scores(rows, key):
    """micro-F1, weighted F1 and exact match over files (carbon dropped)."""
    from sklearn.metrics import f1_score

    from hyperspy_eels_ml.elements import LABELS

    labs = [l for l in LABELS if l != "C"]
    Y = np.array([[l in r["truth"] for l in labs] for r in rows], bool)
    P = np.array([[l in r[key] for l in labs] for r in rows], bool)
    tp, fp, fn = (Y & P).sum(), (~Y & P).sum(), (Y & ~P).sum()
    micro = 2 * tp / max(2 * tp + fp + fn, 1)
    weighted = f1_score(Y, P, average="weighted", zero_division=0)
    exact = float(np.mean((Y == P).all(axis=1)))
    return micro, weighted, exact


def real_benchmark(root):
    from hyperspy_eels_ml.elements import identify_elements
    from hyperspy_eels_ml.elements.evidence import classical_calls, edge_evidence, per_element
    from hyperspy_eels_ml.elements.preprocess import LABELS, preprocess_block, report_assessable
    from hyperspy_eels_ml._shared.validation import energy_axis_values

    with open(os.path.join(root, "index.json")) as f:
        index = json.load(f)
    rows, skipped = [], []
    for e in index:
        if not e.get("elements"):
            continue
        try:
            s = load_entry(root, e)
        except Exception as exc:  # pragma: no cover - report and continue
            skipped.append((e["path"], f"load failed: {exc}"))
            continue
        if s is None:
            continue
        energy = energy_axis_values(s)
        name = os.path.basename(e["path"])
        try:
            t0 = time.time()
            r = identify_elements(s, show_progressbar=False)
            dt = time.time() - t0
        except Exception as exc:
            skipped.append((name, f"{type(exc).__name__}: {str(exc)[:150]}"))
            continue
        r0 = identify_elements(s, show_progressbar=False, resolve_coincidences=True)
        r_area = identify_elements(s, show_progressbar=False, sum_spectrum=False)
        tot = _sum_spectrum(s)
        rs = identify_elements(tot, show_progressbar=False)
        x, g, lo, hi, _ = preprocess_block(np.asarray(tot.data, np.float64)[None], energy)
        ass = report_assessable(lo, hi)[0]  # the margins of identify_elements (15 / 35 eV since session 10)
        best = per_element(edge_evidence(g, lo, hi))
        cl = classical_calls(best)[0] & ass
        support = np.nan_to_num(best["snr"][0], nan=-1) >= HYBRID_SNR
        truth_all = set(e["elements"])
        truth = {el for el in truth_all if ass[LABELS.index(el)]}
        rows.append(dict(file=name, nav=tuple(s.data.shape[:-1]), window=(energy[0], energy[-1]),
                         dispersion=float(energy[1] - energy[0]), truth=truth,
                         not_assessable=sorted(truth_all - truth), reported_na=sorted(
                             set(r.not_assessable) & (truth_all - truth)),
                         ours=set(r.elements), ours_area_only=set(r_area.elements), ours_sum=set(rs.elements), ours_coincidence_rule=set(r0.elements),
                         ambiguous={el: sorted(r0.explain(el).ambiguous_with) for el in
                                    set(r.elements) - set(r0.elements)},
                         classical={LABELS[j] for j in np.flatnonzero(cl)},
                         hybrid={el for el in rs.elements if support[LABELS.index(el)]}, seconds=dt))
    return rows, skipped


def _fmt(found, truth):
    f = sorted(found - {"C"})
    ok = len(set(f) & truth)
    extra = sorted(set(f) - truth)
    return f"{ok}/{len(truth)}" + (f" +{','.join(extra)}" if extra else "")


def print_real(rows, skipped):
    print("\n## Real spectra (dev, ../shared/data): found/expected (+ false positives), C dropped\n")
    print("| file | nav | window (eV) | eV/ch | expected (assessable) | ours | ours, area rule only | "
          "ours + coincidence rule | ours (sum spectrum) | classical (sum spectrum) | hybrid (sum spectrum) | not assessable (reported) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        amb = "; ".join(f"{k} ~ {','.join(v)}" for k, v in sorted(r["ambiguous"].items()))
        print(f"| {r['file'][-40:]} | {r['nav'] or '1'} | {r['window'][0]:.0f}-{r['window'][1]:.0f} | "
              f"{r['dispersion']:.3g} | {','.join(sorted(r['truth']))} | {_fmt(r['ours'], r['truth'])} | "
              f"{_fmt(r['ours_area_only'], r['truth'])} | "
              f"{_fmt(r['ours_coincidence_rule'], r['truth'])}{' (ambiguous: ' + amb + ')' if amb else ''} | "
              f"{_fmt(r['ours_sum'], r['truth'])} | {_fmt(r['classical'], r['truth'])} | "
              f"{_fmt(r['hybrid'], r['truth'])} | "
              f"{','.join(r['not_assessable']) or '-'} ({','.join(r['reported_na']) or '-'}) |")
    for name, why in skipped:
        print(f"| {name[-40:]} | not analysed: {why} |||||||||")
    if rows:
        print("\n| method | micro-F1 | weighted F1 | exact match | files |")
        print("|---|---|---|---|---|")
        for key, label in (("ours", "identify_elements (SI rule: area or sum-spectrum opinion)"),
                           ("ours_area_only", "identify_elements (SI rule: connected area only, sum_spectrum=False)"),
                           ("ours_coincidence_rule", "identify_elements + coincidence rule (SI rule)"),
                           ("ours_sum", "identify_elements (sum spectrum)"),
                           ("classical", "classical edge-jump (sum spectrum)"),
                           ("hybrid", f"hybrid: ours (sum) with evidence SNR >= {HYBRID_SNR:g}")):
            m, w, x = scores(rows, key)
            print(f"| {label} | {m:.2f} | {w:.2f} | {x:.2f} | {len(rows)} |")


HYBRID_SNR = 3.0


def sim_benchmark(n=3000, seed=424242):
    from hyperspy_eels_ml.elements.coincidence import removable_coincidences
    from hyperspy_eels_ml.elements.evidence import classical_calls, edge_evidence, per_element
    from hyperspy_eels_ml.elements.network import load_network
    from hyperspy_eels_ml.elements.simulate import training_batch
    from hyperspy_eels_ml.elements.train import ece, metrics

    from hyperspy_eels_ml.elements.preprocess import report_assessable

    b = training_batch(n, seed, return_counts=True)
    # labels not assessable by identify_elements' margins (15 / 35 eV, session 10; training: 10 / 30 eV)
    # are never called and not scored
    ass = report_assessable(b["lo"], b["hi"]) & (b["assessable"] > 0)
    b["assessable"] = ass.astype(np.uint8)
    b["mask"] = b["mask"] & b["assessable"]
    b["y"] = b["y"] & b["assessable"]
    net = load_network()
    p = net.predict_proba(b["x"].astype(np.float32))
    p[b["assessable"] == 0] = 0.0
    best = per_element(edge_evidence(b["counts_grid"], b["lo"], b["hi"]))
    cl = (classical_calls(best) & (b["assessable"] > 0)).astype(float)
    # hybrid candidate: a network call needs some physical support (evidence SNR >= HYBRID_SNR)
    hy = ((p >= 0.5) & (np.nan_to_num(best["snr"], nan=-1) >= HYBRID_SNR)).astype(float)
    amb = removable_coincidences(p, b["lo"], b["hi"])  # what resolve_coincidences=True removes
    pc = np.where(amb >= 0, 0.0, p)
    out = {"ours": metrics(p, b["y"], b["mask"], b["present"], assessable=b["assessable"]),
           "ece": ece(p, b["y"], b["mask"]),
           "ours_coincidence_rule": metrics(pc, b["y"], b["mask"], b["present"], assessable=b["assessable"]),
           "ambiguous_calls": {"removed": int((amb >= 0).sum()),
                               "of_which_true_positives": int(((amb >= 0) & (b["y"] > 0)).sum())},
           "classical": metrics(cl, b["y"], b["mask"], b["present"], assessable=b["assessable"]),
           "hybrid": metrics(hy, b["y"], b["mask"], b["present"], assessable=b["assessable"])}
    return out


def print_sim(res):
    print("\n## Simulated held-out spectra (fresh seed), threshold 0.5 on calibrated probabilities\n")
    print("| method | micro-F1 | weighted F1 (no C) | exact match (no C) | missed present below visibility |")
    print("|---|---|---|---|---|")
    for k in ("ours", "ours_coincidence_rule", "classical", "hybrid"):
        m = res[k]
        print(f"| {k} | {m['micro_f1']:.3f} | {m['weighted_f1_no_C']:.3f} | {m['exact_match_no_C']:.3f} | "
              f"{m['missed_present_fraction_below_visibility']:.2f} |")
    print(f"\nECE (ours, calibrated): {res['ece']:.3f}; coincidence rule removed {res['ambiguous_calls']['removed']} "
          f"calls, {res['ambiguous_calls']['of_which_true_positives']} of them true\n")
    print("| family | F1 ours | precision ours | recall ours | F1 classical | F1 hybrid | positives |")
    print("|---|---|---|---|---|---|---|")
    for f, v in res["ours"]["per_family"].items():
        print(f"| {f} | {v['f1']:.3f} | {v['precision']:.3f} | {v['recall']:.3f} | "
              f"{res['classical']['per_family'][f]['f1']:.3f} | {res['hybrid']['per_family'][f]['f1']:.3f} | "
              f"{v['positives']} |")


SPEED_CASES = {
    # name: (side, channels, offset eV, dispersion eV/ch, elements)
    "256x256, 400-912 eV": (256, 1024, 400.0, 0.5, ["O", "Fe", "La"]),
    "256x256, 300-2347 eV": (256, 2048, 300.0, 1.0, ["O", "Fe", "La", "Sr"]),
    "1000x1000, 400-912 eV": (1000, 1024, 400.0, 0.5, ["O", "Fe", "La"]),
}


def si_benchmark(n_si=200, seed=5160000, other_model=None):
    """Simulated low-count SIs: per-pixel F1 and SI-level scores of the SI rule with / without the
    sum-spectrum second opinion (see the module docstring, item 4)."""
    import exspy
    from sklearn.metrics import f1_score

    from hyperspy_eels_ml.elements import LABELS, identify_elements
    from hyperspy_eels_ml.elements import simulate as S
    from hyperspy_eels_ml.elements.preprocess import preprocess_block, report_assessable
    from hyperspy_eels_ml.simulation.core_loss import core_loss
    from hyperspy_eels_ml.simulation.edges import edge_table
    from hyperspy_eels_ml.simulation.realism import sample_composition

    H = W = 16
    yy, xx = np.mgrid[:H, :W]
    models = {"shipped": None, **({"other": other_model} if other_model else {})}
    acc = {m: {"pix": np.zeros(3, int), "Y": [], "M": [], "counts": [], "area": [], "area_or_sum": []}
           for m in models}
    t = edge_table()
    for si in range(n_si):
        rng = np.random.default_rng(seed + si)
        s0, d, size = S._window(rng)
        size = min(size, 2048)
        els = S._elements(rng, s0, s0 + d * size)
        e_hi = s0 + d * size
        in_win = np.array([any(s0 - 5 <= t.onset[i] <= e_hi - 10 for i in t.edges_of(el)) for el in els])
        comp = np.asarray(sample_composition(2, els, rng, in_window=in_win), float)
        r = rng.uniform(3, 6)
        cy, cx = rng.uniform(4, 12, 2)
        disc = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).ravel()
        amounts = np.where(disc[:, None], comp[1][None, :], comp[0][None, :])
        counts = float(np.exp(rng.uniform(np.log(20), np.log(3000))))
        opts = dict(S.simulator_options())
        opts.update(instrument_shift=float(rng.uniform(-15, 15)), gain=float(np.exp(rng.uniform(np.log(0.3), np.log(20)))),
                    counts=(counts * 0.8, counts * 1.25), background_exponent=float(rng.uniform(2, 4)),
                    t_lambda=float(np.exp(rng.uniform(np.log(0.05), 0.0))),
                    jump_ratio=float(np.exp(rng.uniform(np.log(0.03), np.log(1.5)))),
                    noise_correlation=float(rng.uniform(0, 0.8)), correlated_fraction=1.0)
        try:
            b = core_loss(H * W, els, energy_offset=s0, dispersion=d, size=size, amounts=amounts, rng=rng, **opts)
        except ValueError:
            continue
        if not np.all(np.isfinite(b.spectra)):
            continue
        _, _, lo, hi, _ = preprocess_block(b.spectra, b.energy)
        ass = report_assessable(lo, hi)
        col = [LABELS.index(e) for e in els]
        vis = np.zeros((H * W, len(LABELS)), bool)
        pres = np.zeros_like(vis)
        vis[:, col], pres[:, col] = b.visible, b.present
        vis &= ass
        pres &= ass
        pix_mask = ass & ~(pres & ~vis)
        truth = pres.any(0) & vis.any(0)
        si_mask = ass.any(0) & ~(pres.any(0) & ~vis.any(0))
        sig = exspy.signals.EELSSpectrum(b.spectra.reshape(H, W, -1).astype(np.float32))
        ax = sig.axes_manager.signal_axes[0]
        ax.offset, ax.scale, ax.units = float(b.energy[0]), float(b.energy[1] - b.energy[0]), "eV"
        for m, path in models.items():
            res = identify_elements(sig, model=path, show_progressbar=False)
            called = np.nan_to_num(np.asarray(res.probabilities.data).reshape(H * W, -1), nan=-1) >= 0.5
            a = acc[m]
            a["pix"] += [(called & vis & pix_mask).sum(), (called & ~vis & pix_mask).sum(),
                         (~called & vis & pix_mask).sum()]
            a["Y"].append(truth)
            a["M"].append(si_mask)
            a["counts"].append(counts)
            area = set(identify_elements(sig, model=path, show_progressbar=False, sum_spectrum=False).elements)
            for key, found in (("area", area), ("area_or_sum", set(res.elements))):
                v = np.zeros(len(LABELS), bool)
                v[[LABELS.index(e) for e in found]] = True
                a[key].append(v)
    keep = np.array([el != "C" for el in LABELS])
    out = {}
    for m, a in acc.items():
        Y, M, c = np.array(a["Y"]), np.array(a["M"]), np.array(a["counts"])
        tp, fp, fn = a["pix"]
        out[m] = {"pixel_f1": round(float(2 * tp / max(2 * tp + fp + fn, 1)), 4), "n_si": int(len(Y))}
        for key in ("area", "area_or_sum"):
            P = np.array(a[key])
            for part, sel in (("all", np.ones(len(Y), bool)), ("counts<200", c < 200), ("counts>=200", c >= 200)):
                if not sel.any():
                    out[m][f"{key} {part}"] = {"weighted_f1": float("nan"), "exact_match": float("nan"), "n_si": 0}
                    continue
                yw = np.where(M[sel], Y[sel], P[sel])
                wf = f1_score(yw[:, keep], P[sel][:, keep], average="weighted", zero_division=0)
                ex = ((P[sel] == Y[sel]) | ~M[sel])[:, keep].all(1).mean()
                out[m][f"{key} {part}"] = {"weighted_f1": round(float(wf), 4), "exact_match": round(float(ex), 4),
                                           "n_si": int(sel.sum())}
    return out


def print_si(res):
    print("\n## Simulated 16x16 SIs (20-3,000 counts in the brightest channel): SI rules, C dropped\n")
    print("| network | SI rule | SIs | pixel F1 | weighted F1 (all) | exact (all) | weighted F1 (<200 counts) | "
          "exact (<200) | weighted F1 (>=200) | exact (>=200) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for m, r in res.items():
        for key, label in (("area", "connected area only (sum_spectrum=False)"),
                           ("area_or_sum", "area or sum-spectrum opinion (default)")):
            cells = " | ".join(f"{r[f'{key} {p}']['weighted_f1']:.3f} | {r[f'{key} {p}']['exact_match']:.3f}"
                               for p in ("all", "counts<200", "counts>=200"))
            print(f"| {m} | {label} | {r['n_si']} | {r['pixel_f1']:.3f} | {cells} |")


def _speed_case(name, navigation_mask="auto"):
    """One speed case in this (fresh) process: a lazy SI built with dask from 256 simulated spectra
    (never held in memory as a whole), ``identify_elements`` + ``r.elements`` + the computed maps.

    ``navigation_mask``: ``"auto"`` (the default of ``identify_elements``) or ``"none"`` (every pixel
    analysed). The 256 spectra have independent counts (over two decades), so ``"auto"`` masks the
    low-count ones as vacuum (``n_masked`` in the row). ``"auto-vac10"`` / ``"none-vac10"``: the 256
    spectra scaled to the same total counts and the first 10 % of the rows replaced by vacuum (flat
    Poisson noise, 1 % of the median channel value), analysed with ``"auto"`` / None: the cost of the
    vacuum mask on an SI where it masks only the vacuum."""
    import dask
    import dask.array as da
    import exspy

    from hyperspy_eels_ml.elements import identify_elements
    from hyperspy_eels_ml.simulation.core_loss import core_loss

    side, channels, offset, disp, els = SPEED_CASES[name]
    b = core_loss(256, els, energy_offset=offset, dispersion=disp, size=channels, rng=1)
    spectra = b.spectra.astype(np.float32)
    vac10 = navigation_mask.endswith("-vac10")
    if vac10:
        tot = spectra.sum(1, keepdims=True)
        spectra = (spectra * (np.median(tot) / tot)).astype(np.float32)
    base = da.from_array(spectra, chunks=(256, channels))
    rows = max(1, (8192 * 1024 // channels) // side)  # about 32 MB float32 per chunk
    n = side * side
    data = da.concatenate([base] * (n // 256 + 1), axis=0)[:n].reshape(side, side, channels)
    if vac10:
        level = max(1.0, 0.01 * float(np.median(spectra)))
        vac = np.random.default_rng(2).poisson(level, size=(256, channels)).astype(np.float32)
        nv = max(1, side // 10)
        vac_part = da.concatenate([da.from_array(vac, chunks=(256, channels))] * (nv * side // 256 + 1),
                                  axis=0)[:nv * side].reshape(nv, side, channels)
        data = da.concatenate([vac_part, data[nv:]], axis=0)
        navigation_mask = navigation_mask.split("-")[0]
    data = data.rechunk((rows, side, channels))
    s = exspy.signals.LazyEELSSpectrum(data)
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale, ax.units = offset, disp, "eV"
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0, c0 = time.perf_counter(), time.process_time()
    with dask.config.set(scheduler="threads", num_workers=2):
        r = identify_elements(s, show_progressbar=False,
                              navigation_mask=None if navigation_mask == "none" else navigation_mask)
        r.compute(show_progressbar=False)
        found = r.elements
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    chunk_mb = rows * side * channels * 4 / 2**20
    result_mb = sum(x.data.nbytes for x in (r.probabilities, r.present, r.assessable)) / 2**20
    return dict(case=name, n=n, channels=channels, wall_s=wall, cpu_s=cpu, spectra_per_s_wall=n / wall,
                spectra_per_cpu_s=n / cpu, spectra_per_s_2cores=2 * n / cpu, peak_rss_mb=rss1,
                rss_before_mb=rss0, chunk_mb=chunk_mb, result_mb=result_mb, elements=found,
                navigation_mask=navigation_mask + ("-vac10" if vac10 else ""),
                n_masked=int(r.parameters.get("n_masked", 0)))


def speed(million=False, navigation_masks=("auto",)):
    """Each case in a fresh Python process (clean peak RSS); returns the rows of the speed table."""
    import subprocess

    names = [k for k in SPEED_CASES if million or not k.startswith("1000x1000")]
    out = []
    for name in names:
        for nm in navigation_masks:
            proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--speed-case", name,
                                   "--speed-mask", nm], capture_output=True, text=True, check=True)
            out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print("\n## Speed (lazy SI built with dask, dask threads on 2 cores; identify_elements + compute + elements)\n")
    print("CPU time = user+sys of the process (all threads); '2 cores' = 2 x spectra per CPU-second, the rate "
          "of an idle 2-core machine; wall-clock is inflated when other jobs share the cores.\n")
    print("| SI | navigation_mask (masked px) | spectra | wall (s) | CPU (s) | spectra/s (wall) | "
          "spectra/s (2 cores, from CPU time) | peak RSS (MB) | chunk (MB) | result maps (MB) | elements |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in out:
        print(f"| {r['case']} | {r['navigation_mask']} ({r['n_masked']}) | {r['n']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['spectra_per_s_wall']:.0f} | "
              f"{r['spectra_per_s_2cores']:.0f} | {r['peak_rss_mb']:.0f} | {r['chunk_mb']:.0f} | "
              f"{r['result_mb']:.0f} | {','.join(r['elements'])} |")
    return out

#: ``--pairs``: the real-data failures of the shipped network, rebuilt on simulation only (windows, dispersions
#: and compositions from the physics of each pair, never from the dev files): target element, the matrix it
#: sits in (amounts), the target's amount relative to the first matrix element (log-uniform), the window
#: (start range, end = start + width range, at least ``need`` eV) and the white-line strength range.
PAIR_SCENARIOS = {
    "Ni_L3_on_La_M45": dict(target="Ni", matrix={"La": 2.0, "O": 4.0}, ratio=(0.05, 1.0), start=(380.0, 800.0),
                            width=(300.0, 900.0), need=905.0),
    "Si_K_far_end_with_O_K": dict(target="Si", matrix={"O": 2.0}, ratio=(0.1, 1.0), start=(380.0, 520.0),
                                  end=(1869.0, 2150.0)),
    "Si_K_local_with_O": dict(target="Si", matrix={"O": 2.0}, ratio=(0.1, 1.0), start=(1500.0, 1800.0),
                              width=(150.0, 800.0), need=1869.0),
    "Te_M45_on_Cr_L3": dict(target="Te", matrix={"Cr": 2.0, "O": 3.0}, ratio=(0.05, 1.0), start=(380.0, 540.0),
                            width=(150.0, 700.0), need=640.0),
    "Te_M45_on_Cr_L3_strong_white_lines": dict(target="Te", matrix={"Cr": 2.0, "O": 3.0}, ratio=(0.05, 1.0),
                                               start=(380.0, 540.0), width=(150.0, 700.0), need=640.0,
                                               white_line_strength=(1.6, 3.0)),
}
PAIR_DISPERSIONS = (0.1, 0.25, 0.5, 1.0)


def _rate(k, n):
    return {"rate": round(float(k / n), 4) if n else None, "n": int(n)}


def pair_study(n=768, seed=7170000, model=None, realisms=("realistic-v2", "realistic-v3"), scenarios=None,
               calibrate=None):
    """Recall and false-call rate of the shipped network (and of the classical evidence) on the coincidence
    pairs behind the real-data failures, on simulation only.

    Per scenario and realism: ``n`` spectra with the target present (amount ratio log-uniform) and ``n``
    without it (the same matrix), groups of 16 sharing a window and a dispersion
    (:data:`PAIR_DISPERSIONS`), the simulator's realistic defaults otherwise (jump ratio of the strongest
    edge, counts, gain, shifts, +-15 eV instrument shift). Reported: the fraction of present targets the
    simulator counts as visible, the network's recall on visible targets (calibrated p >= 0.5,
    assessable) by amount ratio, dispersion and jump ratio, its false-call rate on the controls, the same
    for the classical detector (SNR >= 5, J >= 0.05), and the AUC of p and of the evidence SNR
    (visible targets vs controls).

    ``calibrate``: ``f(net, logits, lo, hi) -> (m, 80)`` probabilities instead of ``net.calibrated(logits)``
    (the position-calibration candidates of ``bench_identify_edges.py --study position``, z23).
    """
    from hyperspy_eels_ml.elements.evidence import classical_calls, edge_evidence, per_element
    from hyperspy_eels_ml.elements.network import load_network
    from hyperspy_eels_ml.elements.preprocess import LABELS, preprocess_block, report_assessable
    from hyperspy_eels_ml.elements.simulate import INSTRUMENT_SHIFT
    from hyperspy_eels_ml.simulation.core_loss import core_loss

    net = load_network(model) if model else load_network()
    out = {}
    for si, (name, sc) in enumerate(sorted((scenarios or PAIR_SCENARIOS).items())):
        for ri, realism in enumerate(realisms):
            rng = np.random.default_rng(seed + 100 * si + ri)
            els = list(sc["matrix"]) + [sc["target"]]
            jt = LABELS.index(sc["target"])
            rows = {k: [] for k in ("present", "visible", "p", "called", "classical", "snr", "ratio", "disp",
                                    "jump", "assessable")}
            for present in (True, False):
                done = 0
                while done < n:
                    m = min(16, n - done)
                    s = float(rng.uniform(*sc["start"]))
                    e = float(rng.uniform(*sc["end"])) if "end" in sc else max(s + float(rng.uniform(*sc["width"])),
                                                                              sc["need"])
                    e = min(e, 3100.0)
                    d = float(rng.choice(PAIR_DISPERSIONS))
                    while (e - s) / d > 8000:
                        d *= 2
                    ratio = np.exp(rng.uniform(np.log(sc["ratio"][0]), np.log(sc["ratio"][1]), m)) if present \
                        else np.zeros(m)
                    amounts = np.tile([float(v) for v in sc["matrix"].values()] + [0.0], (m, 1))
                    amounts[:, -1] = ratio * amounts[:, 0]
                    kw = {"white_line_strength": sc["white_line_strength"]} if "white_line_strength" in sc else {}
                    b = core_loss(m, els, energy_offset=s, dispersion=d, size=int((e - s) / d), amounts=amounts,
                                  instrument_shift=INSTRUMENT_SHIFT, rng=rng, realism=realism, **kw)
                    x, g, lo, hi, _ = preprocess_block(b.spectra, b.energy)
                    z = net.logits(x.astype(np.float32))
                    p = (net.calibrated(z) if calibrate is None else calibrate(net, z, lo, hi))[:, jt]
                    ass = report_assessable(lo, hi)[:, jt]
                    best = per_element(edge_evidence(g, lo, hi))
                    rows["present"].append(np.full(m, present))
                    rows["visible"].append(b.visible[:, -1].astype(bool))
                    rows["p"].append(np.where(ass, p, 0.0))
                    rows["called"].append((p >= 0.5) & ass)
                    rows["classical"].append(classical_calls(best)[:, jt] & ass)
                    rows["snr"].append(np.nan_to_num(best["snr"][:, jt], nan=-1.0))
                    rows["ratio"].append(ratio)
                    rows["disp"].append(np.full(m, d))
                    rows["jump"].append(np.asarray(b.params["jump_ratio"], float))
                    rows["assessable"].append(ass)
                    done += m
            r = {k: np.concatenate(v) for k, v in rows.items()}
            pos = r["present"] & r["assessable"]
            vis = pos & r["visible"]
            neg = ~r["present"] & r["assessable"]
            res = {"target": sc["target"], "matrix": sc["matrix"], "n_present": int(pos.sum()),
                   "visible_fraction": round(float(vis.sum() / max(pos.sum(), 1)), 4),
                   "recall_visible": _rate((r["called"] & vis).sum(), vis.sum()),
                   "recall_present": _rate((r["called"] & pos).sum(), pos.sum()),
                   "false_call": _rate((r["called"] & neg).sum(), neg.sum()),
                   "classical_recall_visible": _rate((r["classical"] & vis).sum(), vis.sum()),
                   "classical_false_call": _rate((r["classical"] & neg).sum(), neg.sum()),
                   "auc_p": _auc(r["p"][vis], r["p"][neg]), "auc_evidence_snr": _auc(r["snr"][vis], r["snr"][neg])}
            qs = np.quantile(np.log(r["ratio"][pos]), [1 / 3, 2 / 3]) if pos.any() else [0, 0]
            for lab, sel in (("ratio_low", np.log(np.where(pos, r["ratio"], 1)) < qs[0]),
                             ("ratio_mid", (np.log(np.where(pos, r["ratio"], 1)) >= qs[0])
                              & (np.log(np.where(pos, r["ratio"], 1)) < qs[1])),
                             ("ratio_high", np.log(np.where(pos, r["ratio"], 1)) >= qs[1])):
                v = vis & sel
                res[f"recall_visible_{lab}"] = {**_rate((r["called"] & v).sum(), v.sum()),
                                               "visible_fraction": round(float(v.sum() / max((pos & sel).sum(), 1)), 4)}
            res["by_dispersion"] = {str(d): {"recall_visible": _rate((r["called"] & vis & (r["disp"] == d)).sum(),
                                                                     (vis & (r["disp"] == d)).sum()),
                                             "false_call": _rate((r["called"] & neg & (r["disp"] == d)).sum(),
                                                                 (neg & (r["disp"] == d)).sum())}
                                    for d in PAIR_DISPERSIONS}
            jb = (1.0, 1.1, 1.3, 1.7, 2.6)
            res["by_jump_ratio"] = {f"{a}-{b_}": {"recall_visible": _rate((r["called"] & vis & (r["jump"] >= a)
                                                                           & (r["jump"] < b_)).sum(),
                                                                          (vis & (r["jump"] >= a) & (r["jump"] < b_)).sum()),
                                                  "false_call": _rate((r["called"] & neg & (r["jump"] >= a)
                                                                       & (r["jump"] < b_)).sum(),
                                                                      (neg & (r["jump"] >= a) & (r["jump"] < b_)).sum())}
                                    for a, b_ in zip(jb[:-1], jb[1:])}
            out[f"{name}/{realism}"] = res
    return out


def _auc(a, b):
    """Area under the ROC curve of scores ``a`` (positives) against ``b`` (negatives); None if either is empty."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if not a.size or not b.size:
        return None
    allv = np.concatenate([a, b])
    order = np.argsort(allv, kind="mergesort")
    ranks = np.empty(len(allv))
    ranks[order] = np.arange(1, len(allv) + 1)
    for v in np.unique(allv):  # average ranks of ties
        t = allv == v
        if t.sum() > 1:
            ranks[t] = ranks[t].mean()
    return round(float((ranks[:a.size].sum() - a.size * (a.size + 1) / 2) / (a.size * b.size)), 4)


def print_pairs(res):
    print("\nCoincidence pairs on simulation (shipped network; classical = SNR >= 5, J >= 0.05)")
    print(f"{'scenario':48s} {'vis':>5s} {'rec|vis':>7s} {'lo/mid/hi ratio':>17s} {'false':>6s} "
          f"{'cl rec':>6s} {'cl fal':>6s} {'AUC p':>6s} {'AUC snr':>7s}")
    for k, v in res.items():
        t = "/".join(f"{v[f'recall_visible_ratio_{q}']['rate'] or 0:.2f}" for q in ("low", "mid", "high"))
        print(f"{k:48s} {v['visible_fraction']:5.2f} {v['recall_visible']['rate'] or 0:7.2f} {t:>17s} "
              f"{v['false_call']['rate'] or 0:6.2f} {v['classical_recall_visible']['rate'] or 0:6.2f} "
              f"{v['classical_false_call']['rate'] or 0:6.2f} {v['auc_p'] or 0:6.3f} {v['auc_evidence_snr'] or 0:7.3f}")
        print("    by dispersion (recall|vis / false): " + ", ".join(
            f"{d}: {x['recall_visible']['rate'] or 0:.2f}/{x['false_call']['rate'] or 0:.2f}"
            for d, x in v["by_dispersion"].items()))
        print("    by jump ratio (recall|vis / false): " + ", ".join(
            f"{d}: {x['recall_visible']['rate'] if x['recall_visible']['rate'] is not None else float('nan'):.2f}"
            f"/{x['false_call']['rate'] if x['false_call']['rate'] is not None else float('nan'):.2f}"
            for d, x in v["by_jump_ratio"].items()))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--no-sim", action="store_true")
    ap.add_argument("--million", action="store_true")
    ap.add_argument("--n-sim", type=int, default=3000)
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--speed-only", action="store_true", help="only the speed table")
    ap.add_argument("--speed-case", help=argparse.SUPPRESS)
    masks = ("auto", "none", "auto-vac10", "none-vac10")
    ap.add_argument("--speed-mask", default="auto", choices=masks, help=argparse.SUPPRESS)
    ap.add_argument("--speed-masks", nargs="+", default=list(masks), choices=masks,
                    help="navigation_mask of the speed cases: the default 'auto', 'none' (every pixel), and both "
                         "on the SI with equal counts and 10 %% vacuum rows ('-vac10'; see _speed_case)")
    ap.add_argument("--si-sim", type=int, default=0, help="only the simulated-SI table, with this many SIs")
    ap.add_argument("--si-seed", type=int, default=5160000)
    ap.add_argument("--si-model", default=None, help="another .npz network for the simulated-SI table")
    ap.add_argument("--pairs", type=int, default=0,
                    help="only the coincidence-pair study on simulation, with this many spectra per arm")
    ap.add_argument("--pairs-seed", type=int, default=7170000)
    ap.add_argument("--pairs-model", default=None, help="another .npz network for the pair study")
    a = ap.parse_args(argv)
    import hyperspy_eels_ml  # noqa: F401

    if a.pairs:
        res = pair_study(a.pairs, a.pairs_seed, a.pairs_model)
        print_pairs(res)
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"pairs": res}, f, indent=1)
        return

    if a.speed_case:
        print(json.dumps(_speed_case(a.speed_case, a.speed_mask), default=float))
        return
    if a.speed_only:
        speed(million=a.million, navigation_masks=a.speed_masks)
        return
    if a.si_sim:
        res = si_benchmark(a.si_sim, a.si_seed, a.si_model)
        print_si(res)
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"simulated_si": res}, f, indent=1)
        return

    root = data_dir()
    report = {}
    if os.path.isdir(root):
        rows, skipped = real_benchmark(root)
        print_real(rows, skipped)
        report["real"] = {
            "files": [{k: (sorted(v) if isinstance(v, set) else v) for k, v in r.items()} for r in rows],
            "not_analysed": [{"file": n, "reason": w} for n, w in skipped],
            "scores_C_dropped": {k: dict(zip(("micro_f1", "weighted_f1", "exact_match"), scores(rows, k)))
                                 for k in ("ours", "ours_area_only", "ours_coincidence_rule", "ours_sum", "classical", "hybrid")}
            if rows else {}}
    else:
        print(f"no real data at {root}: real-spectra table skipped", file=sys.stderr)
    if not a.no_sim:
        res = sim_benchmark(a.n_sim)
        print_sim(res)
        report["simulated"] = res
    if not a.no_speed:
        report["speed"] = speed(million=a.million, navigation_masks=a.speed_masks)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1, default=float)


if __name__ == "__main__":
    main()
