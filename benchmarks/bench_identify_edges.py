"""Session-10 studies of ``identify_elements`` on simulation only (issue 11; rules: ``git show d227db6:SHIP_RULE.md``,
z19: ``git show d5d3fdd:SHIP_RULE.md``).

    python benchmarks/bench_identify_edges.py --study start        # A: edges at the window start
    python benchmarks/bench_identify_edges.py --study end          # A: edges at the window end
    python benchmarks/bench_identify_edges.py --study coincidence  # B: coincidence default, natural vs oversampled
    python benchmarks/bench_identify_edges.py --study cost         # A: what the 15 / 35 eV margins cost
    python benchmarks/bench_identify_edges.py --study coincidence --evidence          # z19: rules G / E / EM
    python benchmarks/bench_identify_edges.py --study coincidence --evidence --check  # z19: check seeds

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

Nothing here reads the real spectra.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")
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

    Returns a dict of ``p`` (n, 80) calibrated probabilities (NaN where not assessable), ``y``,
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
    out = {k: [] for k in ("p", "y", "mask", "present", "assessable", "lo", "hi", "target")}
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
        p = net.predict_proba(x.astype(np.float32)).astype(np.float64)
        p[~ass] = np.nan
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
        out[f"{kind}/{realism}"] = r
    if sets is COINCIDENCE_SETS:
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", choices=("start", "end", "coincidence", "cost"), required=True)
    ap.add_argument("--n", type=int, default=None, help="spectra (default: as in SHIP_RULE.md)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--evidence", action="store_true",
                    help="with --study coincidence: the z19 rules E / EM against G on the new seeds (SHIP_RULE.md)")
    ap.add_argument("--check", action="store_true", help="with --evidence: the check seeds (not deciding)")
    a = ap.parse_args(argv)
    import hyperspy_eels_ml  # noqa: F401

    if a.study == "start":
        res = study_edges("start", a.n or 16384, a.seed or 11100000)
    elif a.study == "end":
        res = study_edges("end", a.n or 8192, a.seed or 11200000)
    elif a.study == "cost":
        res = study_cost(a.n or 8192, a.seed or 11300000)
    else:
        res = (study_coincidence(a.n or 8192, CHECK_SETS if a.check else EVIDENCE_SETS, RULES) if a.evidence
               else study_coincidence(a.n or 8192))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1, default=float)


if __name__ == "__main__":
    main()
