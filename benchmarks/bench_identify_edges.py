"""Session-10 studies of ``identify_elements`` on simulation only (issue 11; rules: ``git show d227db6:SHIP_RULE.md``,
z19: ``git show d5d3fdd:SHIP_RULE.md``).

    python benchmarks/bench_identify_edges.py --study start        # A: edges at the window start
    python benchmarks/bench_identify_edges.py --study end          # A: edges at the window end
    python benchmarks/bench_identify_edges.py --study coincidence  # B: coincidence default, natural vs oversampled
    python benchmarks/bench_identify_edges.py --study cost         # A: what the 15 / 35 eV margins cost
    python benchmarks/bench_identify_edges.py --study coincidence --evidence          # z19: rules G / E / EM
    python benchmarks/bench_identify_edges.py --study coincidence --evidence --check  # z19: check seeds
    python benchmarks/bench_identify_edges.py --study position   # z23: position-aware calibration
    python benchmarks/bench_identify_edges.py --study position --check   # z23: check seeds (not deciding)
    python benchmarks/bench_identify_edges.py --study coincidence --default-study  # session 13: EM as the default
    python benchmarks/bench_identify_edges.py --study coincidence --learned train   # session 14 (z37): fit + select
    python benchmarks/bench_identify_edges.py --study coincidence --learned decide  # session 14 (z37): deciding sets

A. Precision and recall of the calls of the shipped network as a function of the distance ``d``
   between the window start and the element's highest assessable Major onset (every assessable Major
   edge of the element lies within ``d`` eV of the start), on windows drawn so that the first Major
   edge of a target element (present in half of the spectra, absent in the other half) falls
   0-40 eV after the window start (``--study end``: the window ends 0-70 eV after it, and ``d`` is the
   distance from the lowest assessable onset to the window end). The distance ``D`` below which the
   calls are unreliable follows the rule of ``SHIP_RULE.md``.

B. Default calls against ``resolve_coincidences=True`` on held-out spectra whose compositions come
   at the simulator's natural frequencies (no near-coincident partner added to the element pool by
   ``simulate._elements``, ``p_partner=0`` in ``realism.sample_composition``) and on the usual
   oversampled ones (both mechanisms on), for ``realistic-v3`` and ``realistic-v2``. ``--evidence``
   (helper z19, its rule: ``git show d5d3fdd:SHIP_RULE.md``): the removal rules G (group level, the flag rule), E (every edge of a
   group explained) and EM (E and the partner's probability higher by >= 0.2, what
   ``resolve_coincidences=True`` removes since) on natural / oversampled v3 with new seeds.

C. ``--study position`` (helper z23, its rule: ``git show 194c591:SHIP_RULE.md``): reliability of today's calibrated
   probabilities by the position of the element's lowest assessable Major onset in the window (``d_end``:
   window end - onset; ``f``: relative position) and by window width, on natural / oversampled v3 sets
   (seeds 11450000 / 11350000); candidates A (one Platt pair per ``d_end`` bin) and B (``d_end`` x ``f`` bins)
   fitted on the held-out shards 0-1 of v2 and v3 (written to ``--cal-folder``), the rule on both sets, then a
   descriptive Si K pair check (``bench_identify.pair_study``).

D. ``--study coincidence --learned`` (session 14, helper z37, rule: ``git show c68ad31:SHIP_RULE.md``): a learned
   coincidence resolver (``coincidence_learned.py``, a logistic regression giving P(present) for every flagged
   call) fitted on the flagged calls of 4 x 16,384 training spectra (natural and oversampled, v3 and v2), its L2
   strength chosen on three selection sets, then none / EM / learned on the deciding sets (not shipped).

Nothing here reads the real spectra.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # coincidence_learned (session 14)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

START_BINS = (10.0, 15.0, 20.0, 25.0, 30.0, 40.0, np.inf)
START_CANDIDATES = (10.0, 15.0, 20.0, 25.0, 30.0, 40.0)
END_BINS = (30.0, 35.0, 40.0, 50.0, 70.0, np.inf)
END_CANDIDATES = (30.0, 35.0, 40.0, 50.0, 70.0)
PRECISION_MARGIN = 0.10
RECALL_MARGIN = 0.20
MIN_SUPPORT = 30


def _natural_elements(rng, s, e):
    """``simulate._elements`` without the near-coincident partners (the same draws otherwise)."""
    from hyperspy_eels_ml.elements import simulate as S

    return S._elements(rng, s, e, partners=False)


def _dispersion_size(rng, s, e):
    from hyperspy_eels_ml.elements import simulate as S

    d = float(rng.choice(S.DISPERSIONS, p=S.DISPERSION_P))
    while (e - s) / d > S.MAX_CHANNELS:
        d = float(S.DISPERSIONS[np.searchsorted(S.DISPERSIONS, d) + 1])
    return d, max(int((e - s) / d), 16)


def _edge_window(rng, where):
    """Target element, and a window starting 0-40 eV below (``where="start"``) or ending 0-70 eV above
    (``"end"``) one of its Major onsets."""
    from hyperspy_eels_ml.elements.preprocess import LABELS, major_onsets

    onsets = major_onsets()
    while True:
        el = str(LABELS[int(rng.integers(len(LABELS)))])
        ons = [o for o in onsets[el] if 60.0 <= o <= 3000.0]
        if not ons:
            continue
        o = float(ons[int(rng.integers(len(ons)))])
        w = float(np.exp(rng.uniform(np.log(100.0), np.log(2000.0))))
        if where == "start":
            s = o - float(rng.uniform(0.0, 40.0))
            e = min(s + w, 3100.0)
            if e - s < 100.0:
                continue
        else:
            e = min(o + float(rng.uniform(0.0, 70.0)), 3100.0)
            s = max(e - w, 50.0)
            if e - s < 100.0:
                continue
        return el, s, e


def simulate_set(n, seed, realism="realistic-v3", kind="oversampled"):
    """Simulated held-out spectra and the shipped network's probabilities.

    ``kind``: ``"oversampled"`` (the usual evaluation: partners in the pool, ``p_partner=0.5``),
    ``"natural"`` (neither), ``"start"`` / ``"end"`` (study A windows, oversampled compositions,
    a target forced absent in half of the spectra and present in the other half).

    Returns a dict of ``p`` (n, 80) calibrated probabilities (NaN where not assessable), ``z1`` their
    logits (the per-element calibrated logit, NaN where not assessable), ``y``,
    ``mask``, ``present``, ``assessable``, ``lo``, ``hi`` and ``target`` (label index or -1).
    """
    from hyperspy_eels_ml.elements import simulate as S
    from hyperspy_eels_ml.elements.network import load_network
    from hyperspy_eels_ml.elements.preprocess import LABELS, assessable_matrix, preprocess_block
    from hyperspy_eels_ml.simulation.core_loss import core_loss
    from hyperspy_eels_ml.simulation.edges import edge_table
    from hyperspy_eels_ml.simulation.realism import sample_composition

    rng = np.random.default_rng(seed)
    opts = S.simulator_options(realism)
    method = "vectorised" if realism == "realistic-v3" else "loop"
    net = load_network()
    t = edge_table()
    col = {el: j for j, el in enumerate(LABELS)}
    out = {k: [] for k in ("p", "z1", "y", "mask", "present", "assessable", "lo", "hi", "target")}
    done = 0
    while done < n:
        m = min(S.GROUP, n - done)
        target = None
        if kind in ("start", "end"):
            target, s, e = _edge_window(rng, kind)
            d, size = _dispersion_size(rng, s, e)
            els = S._elements(rng, s, s + d * size)
            if target not in els:
                els.append(target)
        else:
            s, d, size = S._window(rng)
            els = (_natural_elements if kind == "natural" else S._elements)(rng, s, s + d * size)
        energy = s + d * np.arange(size)
        in_win = np.array([any(energy[0] - 5 <= t.onset[i] <= energy[-1] - 10 for i in t.edges_of(el))
                           for el in els])
        amt = sample_composition(m, els, rng, in_window=in_win, method=method,
                                 p_partner=0.0 if kind == "natural" else 0.5)
        if target is not None:
            jt = els.index(target)
            absent = rng.random(m) < 0.5
            fill = np.exp(rng.uniform(np.log(0.05), 0.0, m))
            amt[:, jt] = np.where(absent, 0.0, np.where(amt[:, jt] > 0, amt[:, jt], fill))
            empty = ~(amt > 0).any(axis=1)
            if empty.any():  # only the target was drawn: keep one other element
                amt[empty, (jt + 1) % len(els)] = 1.0
        try:
            b = core_loss(m, els, energy_offset=s, dispersion=d, size=size, rng=rng, amounts=amt, **opts)
        except ValueError:
            continue
        good = np.all(np.isfinite(b.spectra), axis=1)
        if not good.any():
            continue
        x, g, lo, hi, _ = preprocess_block(b.spectra[good], b.energy)
        ass = assessable_matrix(lo, hi)
        mm = int(good.sum())
        y = np.zeros((mm, len(LABELS)), bool)
        present = np.zeros_like(y)
        for j, el in enumerate(els):
            y[:, col[el]] = b.visible[good, j]
            present[:, col[el]] = b.present[good, j]
        y &= ass
        z1 = (net.calib_a[None, :] * net.logits(x.astype(np.float32)) + net.calib_b[None, :]).astype(np.float64)
        p = 1.0 / (1.0 + np.exp(-np.clip(z1, -50, 50)))  # == net.predict_proba(x)
        p[~ass] = np.nan
        z1[~ass] = np.nan
        out["z1"].append(z1)
        out["p"].append(p)
        out["y"].append(y)
        out["mask"].append(ass & ~(present & ~y))
        out["present"].append(present)
        out["assessable"].append(ass)
        out["lo"].append(lo)
        out["hi"].append(hi)
        out["target"].append(np.full(mm, col[target] if target else -1))
        done += mm
    return {k: np.concatenate(v) for k, v in out.items()}


def edge_distances(lo, hi):
    """``(n, 80)`` distances (eV) for every assessable element (NaN otherwise):

    ``start_all``: highest assessable Major onset - window start (every assessable edge lies within it),
    ``start_first``: lowest assessable Major onset - window start,
    ``end_all``: window end - lowest assessable Major onset.
    """
    from hyperspy_eels_ml.elements.preprocess import HIGH_MARGIN, LABELS, LOW_MARGIN, major_onsets

    lo = np.asarray(lo, float)[:, None]
    hi = np.asarray(hi, float)[:, None]
    n = lo.shape[0]
    res = {k: np.full((n, len(LABELS)), np.nan) for k in ("start_all", "start_first", "end_all")}
    for j, el in enumerate(LABELS):
        on = np.asarray(major_onsets()[el], float)
        if on.size == 0:
            continue
        inside = (on[None, :] >= lo + LOW_MARGIN) & (on[None, :] <= hi - HIGH_MARGIN)
        anyin = inside.any(axis=1)
        hi_on = np.where(inside, on[None, :], -np.inf).max(axis=1)
        lo_on = np.where(inside, on[None, :], np.inf).min(axis=1)
        res["start_all"][anyin, j] = hi_on[anyin] - lo[anyin, 0]
        res["start_first"][anyin, j] = lo_on[anyin] - lo[anyin, 0]
        res["end_all"][anyin, j] = hi[anyin, 0] - lo_on[anyin]
    return res


def binned(data, dist, bins):
    """Precision / recall of the scored pairs per distance bin, and over all scored pairs."""
    called = np.nan_to_num(data["p"], nan=-1.0) >= 0.5
    m = data["mask"] & data["assessable"]
    y = data["y"]

    def pr(sel):
        tp = int((called & y & sel).sum())
        nc = int((called & sel).sum())
        npos = int((y & sel).sum())
        return {"calls": nc, "positives": npos, "tp": tp,
                "precision": tp / nc if nc else None, "recall": tp / npos if npos else None,
                "pairs": int(sel.sum())}

    rows = []
    for a, b in zip(bins[:-1], bins[1:]):
        rows.append({"bin": [a, b], **pr(m & (dist >= a) & (dist < b))})
    return pr(m), rows


def decide(ref, rows, candidates, upper):
    """The distance D of the rule (SHIP_RULE.md) and the unreliable bins."""
    bad = []
    for r in rows:
        lo_b = r["bin"][0]
        if lo_b >= upper:
            continue
        p_bad = r["calls"] >= MIN_SUPPORT and r["precision"] < ref["precision"] - PRECISION_MARGIN
        r_bad = r["positives"] >= MIN_SUPPORT and r["recall"] < ref["recall"] - RECALL_MARGIN
        r["unreliable"] = bool(p_bad or r_bad)
        if r["unreliable"]:
            bad.append(lo_b)
    for D in candidates:
        if not any(b >= D for b in bad):
            return D, bad
    return candidates[-1], bad


def _fmt(v):
    return "-" if v is None else f"{v:.3f}"


def study_edges(where, n, seed):
    t0 = time.time()
    data = simulate_set(n, seed, "realistic-v3", kind=where)
    dist = edge_distances(data["lo"], data["hi"])
    key = "start_all" if where == "start" else "end_all"
    bins = START_BINS if where == "start" else END_BINS
    cands = START_CANDIDATES if where == "start" else END_CANDIDATES
    upper = 40.0 if where == "start" else 70.0
    ref, rows = binned(data, dist[key], bins)
    D, bad = decide(ref, rows, cands, upper)
    out = {"where": where, "n": int(data["p"].shape[0]), "seed": seed, "seconds": round(time.time() - t0, 1),
           "reference": ref, "bins": rows, "D": D, "unreliable_bins": bad}
    if where == "start":
        out["reference_first"], out["bins_first"] = binned(data, dist["start_first"], bins)
        # the targets alone (present in half of the spectra, absent in the other half)
        tmask = np.zeros_like(data["mask"])
        ok = data["target"] >= 0
        tmask[np.flatnonzero(ok), data["target"][ok]] = True
        sub = dict(data, mask=data["mask"] & tmask)
        out["reference_targets"], out["bins_targets"] = binned(sub, dist[key], bins)
    print(f"\n## Window {where}: {out['n']} spectra (realistic-v3, seed {seed}), {out['seconds']} s\n")
    print(f"all scored pairs: precision {_fmt(ref['precision'])}, recall {_fmt(ref['recall'])}, "
          f"{ref['calls']} calls, {ref['positives']} visible positives")
    tabs = [("every assessable edge within d (rule variable)", rows)]
    if where == "start":
        tabs += [("first assessable edge at d", out["bins_first"]), ("targets only, rule variable", out["bins_targets"])]
    for title, rr in tabs:
        print(f"\n{title}\n| d (eV) | pairs | calls | precision | positives | recall | unreliable |\n|---|---|---|---|---|---|---|")
        for r in rr:
            print(f"| {r['bin'][0]:g}-{r['bin'][1]:g} | {r['pairs']} | {r['calls']} | {_fmt(r['precision'])} | "
                  f"{r['positives']} | {_fmt(r['recall'])} | {r.get('unreliable', '')} |")
    print(f"\nrule: D = {D:g} eV (unreliable bins from {bad})")
    return out


#: the rules of SHIP_RULE.md (z19): "G" the group-level flag rule (what ``resolve_coincidences=True`` removed
#: until session 10), "E" edge level (``explained_pairs``, margin 0), "EM" edge level + probability margin
#: 0.2 (``removable_coincidences``, what ``resolve_coincidences=True`` removes since)
RULES = ("G", "E", "EM")


def rule_ambiguity(data, rule):
    from hyperspy_eels_ml.elements.coincidence import COINCIDENCE_MARGIN, removable_coincidences, resolve_coincidences

    if rule == "G":
        return resolve_coincidences(data["p"], data["lo"], data["hi"])
    return removable_coincidences(data["p"], data["lo"], data["hi"], margin=COINCIDENCE_MARGIN if rule == "EM" else 0.0)


def coincidence_scores(data, rules=("G",)):
    from hyperspy_eels_ml.elements.train import metrics

    p = np.nan_to_num(data["p"], nan=0.0)
    flagged = rule_ambiguity(data, "G") >= 0
    res = {}
    m = metrics(p, data["y"], data["mask"], data["present"], assessable=data["assessable"])
    res["default"] = {k: m[k] for k in ("micro_f1", "weighted_f1_no_C", "exact_match_no_C")}
    for rule in rules:
        amb = rule_ambiguity(data, rule)
        removed = amb >= 0
        m = metrics(np.where(removed, 0.0, p), data["y"], data["mask"], data["present"], assessable=data["assessable"])
        name = "resolve_coincidences" if rule == "G" else rule
        res[name] = {k: m[k] for k in ("micro_f1", "weighted_f1_no_C", "exact_match_no_C")}
        res[name].update(removed_calls=int(removed.sum()), removed_true=int((removed & data["y"]).sum()),
                         removed_scored_false=int((removed & ~data["y"] & data["mask"]).sum()),
                         spectra_with_removal=int(removed.any(axis=1).sum()),
                         removed_not_flagged=int((removed & ~flagged).sum()))
    g = res["resolve_coincidences"]
    for k in ("removed_calls", "removed_true", "removed_scored_false", "spectra_with_removal"):
        res[k] = g[k]
    return res


COINCIDENCE_SETS = (("natural", "realistic-v3", 11400000), ("oversampled", "realistic-v3", 11300000),
                    ("natural", "realistic-v2", 11500000), ("oversampled", "realistic-v2", 11600000))
#: session 10 (z19, git show d5d3fdd:SHIP_RULE.md): new seeds, v3 only
EVIDENCE_SETS = (("natural", "realistic-v3", 11410000), ("oversampled", "realistic-v3", 11310000))
#: a check after the decision (not deciding): two more seeds
CHECK_SETS = (("natural", "realistic-v3", 11420000), ("oversampled", "realistic-v3", 11320000))
#: session 13 (git show baede50:SHIP_RULE.md): EM as the default, decided on natural compositions only
DEFAULT_SETS = (("natural", "realistic-v3", 11430000), ("natural", "realistic-v3", 11440000),
                ("natural", "realistic-v2", 11520000), ("oversampled", "realistic-v3", 11330000))


#: session 14 (z37, SHIP_RULE.md at c68ad31): the learned coincidence resolver
LEARNED_TRAIN_SETS = (("natural", "realistic-v3", 37100000), ("oversampled", "realistic-v3", 37110000),
                      ("natural", "realistic-v2", 37120000), ("oversampled", "realistic-v2", 37130000))
LEARNED_TRAIN_N = 16384
LEARNED_SELECT_SETS = (("natural", "realistic-v3", 37200000), ("natural", "realistic-v2", 37210000),
                       ("oversampled", "realistic-v3", 37220000))
LEARNED_DECIDE_SETS = (("natural", "realistic-v3", 37300000), ("natural", "realistic-v3", 37310000),
                       ("natural", "realistic-v2", 37320000), ("oversampled", "realistic-v3", 37330000))
LEARNED_CS = (0.01, 0.1, 1.0, 10.0)
_SET_KEYS = ("p", "y", "mask", "present", "assessable", "lo", "hi")


def cached_set(n, seed, realism, kind, folder=None):
    """:func:`simulate_set` (the arrays the coincidence studies need), cached as ``.npz`` in ``folder``."""
    if folder is None:
        return simulate_set(n, seed, realism, kind=kind)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{kind}_{realism}_{seed}_{n}.npz")
    if os.path.exists(path):
        with np.load(path) as z:
            return {k: z[k] for k in _SET_KEYS}
    data = simulate_set(n, seed, realism, kind=kind)
    np.savez_compressed(path + ".tmp.npz", **{k: data[k] for k in _SET_KEYS})
    os.replace(path + ".tmp.npz", path)
    return data


def _learned_rows(data):
    """Flagged calls of a set with a defined label: features and truth (visible)."""
    from hyperspy_eels_ml.elements.coincidence import resolve_coincidences

    from coincidence_learned import coincidence_features

    flag = resolve_coincidences(data["p"], data["lo"], data["hi"])
    rows, cols, X = coincidence_features(data["p"], data["lo"], data["hi"], flag)
    keep = data["mask"][rows, cols]
    return X[keep], data["y"][rows, cols][keep]


def learned_scores(data, resolvers):
    """none / EM / learned (one per resolver) on one set: micro, weighted F1 and exact match (C dropped)."""
    from hyperspy_eels_ml.elements.train import metrics

    from coincidence_learned import learned_removals

    p = np.nan_to_num(data["p"], nan=0.0)
    keys = ("micro_f1", "weighted_f1_no_C", "exact_match_no_C")

    def score(removed):
        m = metrics(np.where(removed, 0.0, p), data["y"], data["mask"], data["present"],
                    assessable=data["assessable"])
        r = {k: round(float(m[k]), 4) for k in keys}
        r.update(removed_calls=int(removed.sum()), removed_true=int((removed & data["y"]).sum()),
                 removed_scored_false=int((removed & ~data["y"] & data["mask"]).sum()))
        return r

    out = {"none": score(np.zeros(p.shape, bool)), "EM": score(rule_ambiguity(data, "EM") >= 0)}
    for name, res in resolvers.items():
        out[name] = score(learned_removals(data["p"], data["lo"], data["hi"], resolver=res)[0] >= 0)
    return out


def _print_learned(title, table):
    print(f"\n## {title}\n")
    print("| set | seed | rule | micro / wF1 / exact | d wF1 | d exact | removed (true / scored false) |\n"
          "|---|---|---|---|---|---|---|")
    for key, r in table.items():
        a = r["none"]
        first = True
        for name, b in r.items():
            if not isinstance(b, dict):
                continue
            lab = key if first else ""
            first = False
            print(f"| {lab} | {r['seed'] if lab else ''} | {name} | {b['micro_f1']:.4f} / {b['weighted_f1_no_C']:.4f} / "
                  f"{b['exact_match_no_C']:.4f} | {b['weighted_f1_no_C'] - a['weighted_f1_no_C']:+.4f} | "
                  f"{b['exact_match_no_C'] - a['exact_match_no_C']:+.4f} | {b['removed_calls']} "
                  f"({b['removed_true']} / {b['removed_scored_false']}) |", flush=True)


def study_learned_train(folder, out_path=None):
    """Session 14 (z37): fit the learned resolver on the training seeds, choose C on the selection seeds and
    write it (``out_path``, default ``folder/coincidence_resolver.json``; the committed fit of session 14 is
    ``benchmarks/coincidence_resolver_z37.json``, which also holds the deciding scores)."""
    import coincidence_learned as CO

    t0 = time.time()
    Xs, ys, counts = [], [], {}
    for kind, realism, seed in LEARNED_TRAIN_SETS:
        X, y = _learned_rows(cached_set(LEARNED_TRAIN_N, seed, realism, kind, folder))
        Xs.append(X)
        ys.append(y)
        counts[f"{kind}/{realism}/{seed}"] = {"flagged_scored": int(y.size), "present": int(y.sum())}
    X, y = np.concatenate(Xs), np.concatenate(ys)
    print(f"training: {y.size} flagged scored calls ({int(y.sum())} truly present) from "
          f"{len(LEARNED_TRAIN_SETS)} x {LEARNED_TRAIN_N} spectra: {counts}")
    fits = {f"C={c:g}": CO.fit_resolver(X, y, C=c) for c in LEARNED_CS}
    sel = {}
    for kind, realism, seed in LEARNED_SELECT_SETS:
        r = learned_scores(cached_set(8192, seed, realism, kind, folder), fits)
        r["seed"] = seed
        sel[f"{kind} {realism}"] = r
    _print_learned("Selection sets (variant choice only)", sel)

    def merit(name):
        return float(np.mean([r[name]["weighted_f1_no_C"] + r[name]["exact_match_no_C"] for r in sel.values()]))

    best = max(fits, key=merit)
    print(f"\nchosen on the selection sets (mean wF1 + exact): {best} "
          f"({', '.join(f'{k} {merit(k):.4f}' for k in fits)})")
    res = dict(fits[best])
    res.update(
        created="2026-12-06", session="session_14_2026_12_06 (helper z37, issue 11; SHIP_RULE.md at c68ad31)",
        model="sklearn.linear_model.LogisticRegression (L2, lbfgs) on standardised features; "
              "P = 1 / (1 + exp(-(((x - mean) / scale) . coef + intercept)))",
        cutoff=CO.LEARNED_THRESHOLD,
        training={"command": "python benchmarks/bench_identify_edges.py --study coincidence --learned train",
                  "network": "shipped elements_cnn (E8)", "sets": [list(t) for t in LEARNED_TRAIN_SETS],
                  "spectra_per_set": LEARNED_TRAIN_N, "rows": counts,
                  "label": "the flagged element is visible in the spectrum (simulator label); flagged calls of "
                           "present-but-invisible elements are left out, as in the metrics"},
        selection={"sets": [list(t) for t in LEARNED_SELECT_SETS], "spectra_per_set": 8192,
                   "candidates": {k: round(merit(k), 4) for k in fits}, "merit": "mean of weighted F1 + exact match",
                   "chosen": best, "scores": sel},
        seconds=round(time.time() - t0, 1))
    path = out_path or os.path.join(folder, "coincidence_resolver.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
    print(f"wrote {path} ({time.time() - t0:.0f} s)")
    return res


def study_learned_decide(folder, resolver_path=None):
    """Session 14 (z37): none / EM / learned on the deciding seeds and the rule of SHIP_RULE.md (c68ad31)."""
    from coincidence_learned import load_resolver

    res = load_resolver(resolver_path)
    out = {}
    for kind, realism, seed in LEARNED_DECIDE_SETS:
        r = learned_scores(cached_set(8192, seed, realism, kind, folder), {"learned": res})
        r["seed"] = seed
        out[f"{kind} {realism} {seed}"] = r
    _print_learned(f"Deciding sets (resolver C={res['C']:g})", out)
    nat = [r for k, r in out.items() if k.startswith("natural")]
    over = [r for k, r in out.items() if k.startswith("oversampled")]

    def ge(r, a, b, key):
        return r[a][key] >= r[b][key]

    default = (all(ge(r, "learned", "none", "weighted_f1_no_C") and ge(r, "learned", "none", "exact_match_no_C")
                   for r in nat)
               and all(r["learned"]["weighted_f1_no_C"] >= round(r["none"]["weighted_f1_no_C"] - 0.002, 4)
                       for r in over))
    option = (all(ge(r, "learned", "EM", "weighted_f1_no_C") and ge(r, "learned", "EM", "exact_match_no_C")
                  for r in nat)
              and np.mean([r["learned"]["weighted_f1_no_C"] for r in nat])
              > np.mean([r["EM"]["weighted_f1_no_C"] for r in nat]))
    out["decision"] = ("default" if default else "option" if option else "not shipped")
    print(f"\nrule (SHIP_RULE.md, c68ad31): learned default: {default}; opt-in option (beats EM): {option} "
          f"-> {out['decision']}")
    out["rule"] = {"default": bool(default), "option": bool(option)}
    return out


def study_coincidence(n, sets=COINCIDENCE_SETS, rules=("G",)):
    out = {}
    print(f"\n## Coincidence rules, {n} spectra per set\n")
    print("| set | seed | rule | micro / wF1 / exact | d wF1 | d exact | removed (true / scored false) |\n"
          "|---|---|---|---|---|---|---|")
    for kind, realism, seed in sets:
        t0 = time.time()
        data = simulate_set(n, seed, realism, kind=kind)
        r = coincidence_scores(data, rules)
        r.update(seed=seed, realism=realism, kind=kind, n=int(data["p"].shape[0]), seconds=round(time.time() - t0, 1))
        a = r["default"]
        print(f"| {kind} {realism} | {seed} | default | {a['micro_f1']:.4f} / {a['weighted_f1_no_C']:.4f} / "
              f"{a['exact_match_no_C']:.4f} | | | |")
        for rule in rules:
            name = "resolve_coincidences" if rule == "G" else rule
            b = r[name]
            b["delta_weighted_f1"] = round(b["weighted_f1_no_C"] - a["weighted_f1_no_C"], 4)
            b["delta_exact"] = round(b["exact_match_no_C"] - a["exact_match_no_C"], 4)
            print(f"| | | {rule} | {b['micro_f1']:.4f} / {b['weighted_f1_no_C']:.4f} / {b['exact_match_no_C']:.4f} | "
                  f"{b['delta_weighted_f1']:+.4f} | {b['delta_exact']:+.4f} | "
                  f"{b['removed_calls']} ({b['removed_true']} / {b['removed_scored_false']}) |", flush=True)
        g = r["resolve_coincidences"]
        r["delta_weighted_f1"], r["delta_exact"] = g["delta_weighted_f1"], g["delta_exact"]
        out[f"{kind}/{realism}" + (f"/{seed}" if sets is DEFAULT_SETS else "")] = r
    if sets is DEFAULT_SETS:
        deciding = [k for k in out if k.startswith("natural/")]
        out["switch_default_to_EM"] = bool(all(
            round(out[k]["EM"]["weighted_f1_no_C"], 4) >= round(out[k]["default"]["weighted_f1_no_C"], 4)
            and round(out[k]["EM"]["exact_match_no_C"], 4) >= round(out[k]["default"]["exact_match_no_C"], 4)
            for k in deciding))
        print(f"\nrule (baede50:SHIP_RULE.md, natural sets only): EM as the default: {out['switch_default_to_EM']}")
    elif sets is COINCIDENCE_SETS:
        dec = out["natural/realistic-v3"]
        out["switch_default"] = bool(dec["delta_weighted_f1"] >= 0 and dec["delta_exact"] >= 0)
        print(f"\nrule (natural v3): switch the default to resolve_coincidences=True: {out['switch_default']}")
    else:
        out["decision"] = decide_evidence(out, [r for r in rules if r != "G"])
        tag = "check seeds, not deciding" if sets is CHECK_SETS else "deciding seeds"
        print(f"\nrule (SHIP_RULE.md, both sets; {tag}): {out['decision']}")
    return out


def decide_evidence(out, candidates):
    """SHIP_RULE.md (z19): default if >= today's default on wF1 and exact on every set; else option if
    >= rule G on both on every set; ties between passing candidates: the higher mean weighted F1."""
    sets = [k for k in out if "/" in k]

    def ok(c, ref):
        return all(out[s][c]["weighted_f1_no_C"] >= out[s][ref]["weighted_f1_no_C"]
                   and out[s][c]["exact_match_no_C"] >= out[s][ref]["exact_match_no_C"] for s in sets)

    def best(cs):
        return max(cs, key=lambda c: np.mean([out[s][c]["weighted_f1_no_C"] for s in sets])) if cs else None

    d = best([c for c in candidates if ok(c, "default")])
    if d:
        return {"ship_default": d}
    o = best([c for c in candidates if ok(c, "resolve_coincidences")])
    return {"ship_default": None, "replace_resolve_coincidences": o}


def study_cost(n, seed=11300000, start=15.0, end=35.0):
    """Cost of wider margins (start / end, eV) on the general (oversampled v3) held-out set: scored pairs
    and visible positives that become not assessable, and the metrics before / after (labels that are not
    assessable are never called and not scored, as ``identify_elements`` reports them)."""
    from hyperspy_eels_ml.elements.preprocess import HIGH_MARGIN, LOW_MARGIN, assessable_matrix
    from hyperspy_eels_ml.elements.train import metrics

    data = simulate_set(n, seed, "realistic-v3", kind="oversampled")
    res = {"seed": seed, "n": int(data["p"].shape[0]), "start_margin": start, "end_margin": end}
    print(f"\n## Cost of margins {start:g} / {end:g} eV (were {LOW_MARGIN:g} / {HIGH_MARGIN:g}) on "
          f"{res['n']} oversampled v3 spectra, seed {seed}\n")
    print("| margins (start / end) | scored pairs | visible positives | calls | micro-F1 | weighted F1 | exact |")
    print("|---|---|---|---|---|---|---|")
    for name, (a, b) in (("current", (LOW_MARGIN, HIGH_MARGIN)), ("start only", (start, HIGH_MARGIN)),
                         ("end only", (LOW_MARGIN, end)), ("both", (start, end))):
        ass = assessable_matrix(data["lo"], data["hi"], a, b) & data["assessable"]
        p = np.where(ass, np.nan_to_num(data["p"], nan=0.0), 0.0)
        mask = data["mask"] & ass
        y = data["y"] & ass
        m = metrics(p, y, mask, data["present"], assessable=ass)
        called = (p >= 0.5) & mask
        row = {"scored_pairs": int(mask.sum()), "visible_positives": int((y & mask).sum()),
               "calls": int(called.sum()), **{k: m[k] for k in ("micro_f1", "weighted_f1_no_C", "exact_match_no_C")}}
        res[name] = row
        print(f"| {name} ({a:g} / {b:g}) | {row['scored_pairs']} | {row['visible_positives']} | {row['calls']} | "
              f"{row['micro_f1']:.4f} | {row['weighted_f1_no_C']:.4f} | {row['exact_match_no_C']:.4f} |")
    return res


# -- z23: position-aware second calibration stage (git show 194c591:SHIP_RULE.md; not shipped) -----------------
# Every (spectrum, element) pair is binned by the position of the element's lowest assessable Major onset o
# (training margins) in the usable window [lo, hi]: d_end = hi - o (eV) and f = (o - lo) / (hi - lo); one
# Platt pair per bin on the per-element calibrated logit z1: p = sigmoid(a_k z1 + b_k).

#: the two candidates of SHIP_RULE.md (z23): ``(d_end bin edges, f bin edges)``
CANDIDATES = {
    "A": ((30.0, 60.0, 100.0, 200.0, 400.0, 800.0, np.inf), (0.0, np.inf)),
    "B": ((30.0, 100.0, 300.0, np.inf), (0.0, 0.5, 0.8, np.inf)),
}


def edge_position(lo, hi):
    """``(d_end, f)``, each ``(n, 80)``: position of every element's lowest assessable Major onset in the
    usable window (NaN where the element is not assessable with the training margins, or no window)."""
    lo = np.atleast_1d(np.asarray(lo, float))
    hi = np.atleast_1d(np.asarray(hi, float))
    d = edge_distances(lo, hi)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = d["start_first"] / (hi - lo)[:, None]
    return d["end_all"], f


def position_bins(lo, hi, d_end_edges, f_edges):
    """``(n, 80)`` int bin index ``i_d * (len(f_edges) - 1) + i_f`` (-1 where not assessable)."""
    d_end, f = edge_position(lo, hi)
    de = np.asarray(d_end_edges, float)
    fe = np.asarray(f_edges, float)
    ok = np.isfinite(d_end)
    i_d = np.clip(np.searchsorted(de, np.nan_to_num(d_end), side="right") - 1, 0, len(de) - 2)
    i_f = np.clip(np.searchsorted(fe, np.nan_to_num(f), side="right") - 1, 0, len(fe) - 2)
    return np.where(ok, i_d * (len(fe) - 1) + i_f, -1)


def fit_position_platt(z1, y, mask, bins, n_bins, iters=50, l2=1e-2):
    """One Platt pair per position bin on the calibrated logits ``z1`` (Newton on the masked log-loss,
    weak prior towards (1, 0), as :func:`~hyperspy_eels_ml.elements.train.fit_platt`)."""
    m = (np.asarray(mask) > 0) & (bins >= 0) & np.isfinite(z1)
    zz, tt, bb = np.asarray(z1, float)[m], np.asarray(y, float)[m], bins[m]
    from hyperspy_eels_ml.elements.train import platt_pair

    A, B = np.ones(n_bins), np.zeros(n_bins)
    for k in range(n_bins):
        s = bb == k
        A[k], B[k] = platt_pair(np.clip(zz[s], -50, 50), tt[s], iters, l2)
    return A.astype(np.float32), B.astype(np.float32)


def apply_position(z1, lo, hi, d_end_edges, f_edges, a, b):
    """Probabilities ``sigmoid(a_k z1 + b_k)`` (``(n, 80)``); pairs outside every bin keep ``sigmoid(z1)``."""
    bins = position_bins(lo, hi, d_end_edges, f_edges)
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    k = np.maximum(bins, 0)
    z = np.where(bins >= 0, a[k] * z1 + b[k], z1)
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


#: z23 (git show 194c591:SHIP_RULE.md): position-aware calibration; deciding sets (never fitted on)
POSITION_SETS = (("natural", "realistic-v3", 11450000), ("oversampled", "realistic-v3", 11350000))
#: a check after the decision (not deciding): two more seeds
POSITION_CHECK_SETS = (("natural", "realistic-v3", 11460000), ("oversampled", "realistic-v3", 11360000))
#: calibration (fitting) data: the held-out shards 0-1 the shipped per-element Platt was fitted on
POSITION_CAL = (("realistic-v2", 77770000), ("realistic-v3", 77790000))
D_END_BINS = (30.0, 60.0, 100.0, 200.0, 400.0, 800.0, np.inf)
F_BINS = (0.0, 0.5, 0.8, 1.0001)
WIDTH_BINS = (100.0, 300.0, 800.0, np.inf)


def calibration_data(folder, n_shards=2):
    """Per-element calibrated logits ``z1`` (NaN where not assessable), labels and windows of the held-out
    shards 0-1 of v2 and v3 (written to ``folder``/v2, ``folder``/v3 when missing; 4096 spectra each)."""
    from hyperspy_eels_ml.elements.network import load_network
    from hyperspy_eels_ml.elements.simulate import write_shards
    from hyperspy_eels_ml.elements.train import _shards, _stack

    net = load_network()
    parts = []
    for realism, base in POSITION_CAL:
        sub = os.path.join(folder, realism)
        write_shards(sub, 0, n_shards, seed_base=base, realism=realism)
        paths = _shards(sub)[:n_shards]
        d = _stack(paths, ("x", "y", "mask", "present", "assessable", "lo", "hi"))
        z1 = np.empty(d["y"].shape)
        for s0 in range(0, len(z1), 1024):
            zz = net.logits(d["x"][s0:s0 + 1024].astype(np.float32))
            z1[s0:s0 + 1024] = net.calib_a[None, :] * zz + net.calib_b[None, :]
        ass = d["assessable"] > 0
        z1[~ass] = np.nan
        parts.append({"z1": z1, "y": d["y"] > 0, "mask": d["mask"] > 0, "lo": d["lo"], "hi": d["hi"]})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def reliability(p, y, mask, var, bins):
    """Per bin of ``var``: scored pairs, mean p, observed frequency, gap (freq - mean p), calls, precision, recall."""
    rows = []
    ok = mask & np.isfinite(p) & np.isfinite(var)
    for a, b in zip(bins[:-1], bins[1:]):
        s = ok & (var >= a) & (var < b)
        n = int(s.sum())
        if not n:
            rows.append({"bin": [a, b], "pairs": 0})
            continue
        c = s & (p >= 0.5)
        tp = int((c & y).sum())
        npos = int((s & y).sum())
        mp, fr = float(p[s].mean()), float(y[s].mean())
        # positives alone: mean p of the visible positives (under-confidence where the network ranks right)
        rows.append({"bin": [a, b], "pairs": n, "mean_p": round(mp, 4), "freq": round(fr, 4),
                     "gap": round(fr - mp, 4), "calls": int(c.sum()), "positives": npos,
                     "precision": round(tp / c.sum(), 4) if c.sum() else None,
                     "recall": round(tp / npos, 4) if npos else None,
                     "ece_in_bin": round(_ece_rows(p[s], y[s]), 4)})
    return rows


def _ece_rows(p, y, bins=15):
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    return float(sum((idx == k).mean() * abs(p[idx == k].mean() - y[idx == k].mean())
                     for k in range(bins) if (idx == k).any()))


def _scores(p, data):
    from hyperspy_eels_ml.elements.train import ece, metrics

    p0 = np.nan_to_num(p, nan=0.0)
    m = metrics(p0, data["y"], data["mask"], data["present"], assessable=data["assessable"])
    out = {k: m[k] for k in ("micro_f1", "weighted_f1_no_C", "exact_match_no_C")}
    out["ece"] = round(ece(p0, data["y"], data["mask"]), 4)
    out["per_family_f1"] = {f: v["f1"] for f, v in m["per_family"].items()}
    return out


def _print_rel(title, rows):
    print(f"\n{title}\n| bin | pairs | mean p | frequency | gap | calls | precision | positives | recall | ECE in bin |\n"
          "|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if not r["pairs"]:
            continue
        print(f"| {r['bin'][0]:g}-{r['bin'][1]:g} | {r['pairs']} | {r['mean_p']:.4f} | {r['freq']:.4f} | "
              f"{r['gap']:+.4f} | {r['calls']} | {_fmt(r['precision'])} | {r['positives']} | {_fmt(r['recall'])} | "
              f"{r['ece_in_bin']:.4f} |")


def study_position(n, folder, sets=POSITION_SETS, pairs=512):
    """z23: reliability by edge position (d_end, f, width), candidates A / B fitted on the calibration
    shards, the rule of SHIP_RULE.md on the deciding sets."""
    t0 = time.time()
    cal = calibration_data(folder)
    fits = {}
    for name, (de, fe) in CANDIDATES.items():
        bins = position_bins(cal["lo"], cal["hi"], de, fe)
        nb = (len(de) - 1) * (len(fe) - 1)
        a, b = fit_position_platt(cal["z1"], cal["y"], cal["mask"], bins, nb)
        support = [int(((bins == k) & cal["mask"]).sum()) for k in range(nb)]
        pos = [int(((bins == k) & cal["mask"] & cal["y"]).sum()) for k in range(nb)]
        fits[name] = {"d_end_edges": list(de), "f_edges": list(fe), "a": a.tolist(), "b": b.tolist(),
                      "pairs": support, "positives": pos}
    print(f"\n## Position-aware calibration (z23): {cal['z1'].shape[0]} calibration spectra "
          f"({time.time() - t0:.0f} s)\n")
    for name, f in fits.items():
        print(f"candidate {name}: a = {np.round(f['a'], 3).tolist()}, b = {np.round(f['b'], 3).tolist()}, "
              f"pairs {f['pairs']}, positives {f['positives']}")
    p_cal = 1 / (1 + np.exp(-np.clip(np.nan_to_num(cal["z1"], nan=-50), -50, 50)))
    d_end, f = edge_position(cal["lo"], cal["hi"])
    _print_rel("calibration data, today's p, by d_end (eV)", reliability(p_cal, cal["y"], cal["mask"], d_end, D_END_BINS))
    onset = cal["hi"][:, None] - d_end
    grid = {}
    for title, sel in (("all elements", np.ones_like(cal["mask"])), ("onset >= 1500 eV", onset >= 1500.0)):
        rows = []
        for fa, fb in ((0.0, 0.5), (0.5, 0.8), (0.8, 0.9), (0.9, 1.0001)):
            for r in reliability(p_cal, cal["y"], cal["mask"] & sel & (f >= fa) & (f < fb), d_end, (30.0, 100.0, 300.0, np.inf)):
                if r["pairs"] >= 200:
                    rows.append({**r, "bin": [fa, fb, *r["bin"]]})
        grid[title] = rows
        print(f"\ncalibration data, today's p, {title}, by f x d_end (bins with >= 200 pairs)\n"
              "| f | d_end (eV) | pairs | mean p | frequency | gap | precision | positives | recall |\n"
              "|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['bin'][0]:g}-{r['bin'][1]:g} | {r['bin'][2]:g}-{r['bin'][3]:g} | {r['pairs']} | {r['mean_p']:.4f} | "
                  f"{r['freq']:.4f} | {r['gap']:+.4f} | {_fmt(r['precision'])} | {r['positives']} | {_fmt(r['recall'])} |")
    out = {"fits": fits, "n_calibration": int(cal["z1"].shape[0]), "calibration_grid": grid, "sets": {}}
    for kind, realism, seed in sets:
        t1 = time.time()
        data = simulate_set(n, seed, realism, kind=kind)
        d_end, f = edge_position(data["lo"], data["hi"])
        width = np.broadcast_to((data["hi"] - data["lo"])[:, None], d_end.shape)
        m = data["mask"] & data["assessable"]
        probs = {"today": data["p"]}
        for name, fit in fits.items():
            pc = apply_position(np.nan_to_num(data["z1"], nan=0.0), data["lo"], data["hi"], fit["d_end_edges"],
                                fit["f_edges"], fit["a"], fit["b"])
            pc[~data["assessable"]] = np.nan
            probs[name] = pc
        res = {"seed": seed, "realism": realism, "kind": kind, "n": int(data["p"].shape[0])}
        for name, p in probs.items():
            res[name] = _scores(p, data)
            res[name]["reliability"] = {
                "d_end": reliability(p, data["y"], m, d_end, D_END_BINS),
                "f": reliability(p, data["y"], m, f, F_BINS),
                "width": reliability(p, data["y"], m, width, WIDTH_BINS)}
        res["seconds"] = round(time.time() - t1, 1)
        print(f"\n### {kind} {realism}, seed {seed}, {res['n']} spectra ({res['seconds']} s)")
        for name in probs:
            r = res[name]
            print(f"{name}: micro {r['micro_f1']:.4f} wF1 {r['weighted_f1_no_C']:.4f} exact {r['exact_match_no_C']:.4f} "
                  f"ECE {r['ece']:.4f} families {r['per_family_f1']}")
        for name in probs:
            for var in ("d_end", "f", "width"):
                _print_rel(f"{kind}: {name}, by {var}", res[name]["reliability"][var])
        out["sets"][f"{kind}/{realism}"] = res
    # the rule of SHIP_RULE.md (z23)
    passing = []
    for name in fits:
        ok = all(r[name]["weighted_f1_no_C"] >= r["today"]["weighted_f1_no_C"]
                 and r[name]["exact_match_no_C"] >= r["today"]["exact_match_no_C"]
                 and r[name]["ece"] <= 0.05 for r in out["sets"].values())
        out.setdefault("passes", {})[name] = bool(ok)
        if ok:
            passing.append(name)
    out["ship"] = max(passing, key=lambda c: np.mean([r[c]["weighted_f1_no_C"] for r in out["sets"].values()])) \
        if passing else None
    tag = "check seeds, not deciding" if sets is POSITION_CHECK_SETS else "deciding seeds"
    print(f"\nrule (SHIP_RULE.md, z23; {tag}): passes {out['passes']}; ship {out['ship']}")
    if pairs:
        out["pairs"] = position_pairs(fits, pairs)
    return out


def position_pairs(fits, n=512, seed=7170000, shifts=(1.0, 2.0, 2.6)):
    """Descriptive, after the decision (not deciding): the Si K pair scenarios of ``bench_identify.py --pairs``
    (seed 7170000, the diagnosis of b72569e) with today's calibration, candidates A / B, and today's
    calibrated logit shifted by ``shifts`` (a prior shift: what a higher base rate of the target would give)."""
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench_identify as BI

    sc = {k: v for k, v in BI.PAIR_SCENARIOS.items() if k.startswith("Si_K")}

    def cal(fit=None, shift=0.0):
        def f(net, z, lo, hi):
            z1 = (net.calib_a[None, :] * z + net.calib_b[None, :]).astype(np.float64) + shift
            if fit is None:
                return 1.0 / (1.0 + np.exp(-np.clip(z1, -50, 50)))
            return apply_position(z1, lo, hi, fit["d_end_edges"], fit["f_edges"], fit["a"], fit["b"])
        return f

    variants = {"today": cal(), **{name: cal(fit) for name, fit in fits.items()},
                **{f"today+{s:g}": cal(None, s) for s in shifts}}
    out = {}
    print(f"\nSi K pair scenarios (bench_identify.pair_study, n {n}, seed {seed}; descriptive, not deciding)\n"
          "| calibration | scenario | recall on visible targets (n) | false calls (n) | AUC p |\n|---|---|---|---|---|")
    for name, f in variants.items():
        res = BI.pair_study(n, seed, None, scenarios=sc, calibrate=f)
        out[name] = {k: {"recall_visible": r["recall_visible"], "false_call": r["false_call"], "auc_p": r["auc_p"]}
                     for k, r in res.items()}
        for k, r in res.items():
            print(f"| {name} | {k} | {r['recall_visible']['rate']:.3f} ({r['recall_visible']['n']}) | "
                  f"{r['false_call']['rate']:.3f} ({r['false_call']['n']}) | {r['auc_p']} |", flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", choices=("start", "end", "coincidence", "cost", "position"), required=True)
    ap.add_argument("--n", type=int, default=None, help="spectra (default: as in SHIP_RULE.md)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--evidence", action="store_true",
                    help="with --study coincidence: the z19 rules E / EM against G on the new seeds (SHIP_RULE.md)")
    ap.add_argument("--default-study", action="store_true",
                    help="with --study coincidence: session 13, EM as the default on fresh natural seeds")
    ap.add_argument("--learned", choices=("train", "decide"), default=None,
                    help="with --study coincidence: session 14 (z37), the learned resolver: fit + select, or decide")
    ap.add_argument("--folder", default="/tmp/coincidence_sets",
                    help="with --learned: cache of the simulated sets (.npz)")
    ap.add_argument("--resolver", default=None,
                    help="with --learned decide: resolver JSON (default: benchmarks/coincidence_resolver_z37.json)")
    ap.add_argument("--check", action="store_true", help="with --evidence / --study position: the check seeds (not deciding)")
    ap.add_argument("--cal-folder", default="/tmp/position_calibration",
                    help="--study position: where the held-out shards 0-1 (v2, v3) are written / read")
    ap.add_argument("--pairs", type=int, default=512,
                    help="--study position: spectra per pair scenario of the descriptive Si K check (0: none)")
    a = ap.parse_args(argv)
    import hyperspy_eels_ml  # noqa: F401

    if a.study == "position":
        res = study_position(a.n or 8192, a.cal_folder, POSITION_CHECK_SETS if a.check else POSITION_SETS,
                             pairs=0 if a.check else a.pairs)
    elif a.study == "start":
        res = study_edges("start", a.n or 16384, a.seed or 11100000)
    elif a.study == "end":
        res = study_edges("end", a.n or 8192, a.seed or 11200000)
    elif a.study == "cost":
        res = study_cost(a.n or 8192, a.seed or 11300000)
    else:
        if a.learned == "train":
            res = study_learned_train(a.folder)
        elif a.learned == "decide":
            res = study_learned_decide(a.folder, a.resolver)
        elif a.default_study:
            res = study_coincidence(a.n or 8192, DEFAULT_SETS, RULES)
        else:
            res = (study_coincidence(a.n or 8192, CHECK_SETS if a.check else EVIDENCE_SETS, RULES) if a.evidence
                   else study_coincidence(a.n or 8192))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1, default=float)


if __name__ == "__main__":
    main()
