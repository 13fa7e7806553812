"""Input-handling invariance of ``identify_elements`` on the real core-loss spectra.

    python benchmarks/bench_identify_invariance.py [--data DIR] [--json out.json] [--seed N]

Every real core-loss file that ``benchmarks/bench_identify.py`` analyses (the ``index.json``
entries with elements, loaded by its :func:`load_entry`; ``--data`` or
``$HYPERSPY_EELS_ML_DATA``) is run untransformed ("base") and after transformations an EELS user
meets:

* ``offset-15`` ... ``offset+15``: the energy axis offset by -15, -7, +7, +15 eV (the axis is
  shifted, not the data: an uncalibrated spectrometer; no ZLP, ``energy_calibrated=False``);
* ``rebin2x``, ``rebin4x``: ``s.rebin(scale=...)`` to 2x and 4x coarser dispersion (only up to
  2 eV/ch; the channels are first cropped to a multiple of the factor);
* ``crop-edges``: the window cropped to the labelled elements' assessable Major edges -30 eV ... +30 eV
  (rounded outward by two channels; at least 100 eV);
* ``crop-drop-X``: a crop that removes every Major edge of the labelled element X (the one at the
  high end of the window, else the one at the low end): X must come out as *not assessable*
  (probability NaN), never absent;
* ``dark+neg``: 20 dark (zero) channels and then 5 negative channels prepended (the axis offset
  moved down so the real channels keep their energies);
* ``dark-noise``: 20 noisy dark channels (Gaussian around 0, sd 1 % of the file's median channel
  value) prepended: not a constant run, mixed signs;
* ``fill-end``: the last 3 channels set to a saturated fill value (65535);
* ``dark+neg+fill``: both;
* line scans and SIs: ``vacuum10``: 10 % of the pixels (at least one; random, seeded) replaced by
  flat low counts (Poisson, mean 1 % of the median channel value of the file, at least 1), analysed
  with the default ``navigation_mask`` (``"auto"``: the relative vacuum mask), with
  ``navigation_mask=None`` (``vacuum10-nomask``) and with ``navigation_mask="vacuum"``
  (``vacuum10-masked``); ``vacuum10-region`` (``-nomask``, ``-masked``): the same counts in the first
  10 % of the pixels in array order (a connected vacuum region: the first rows of an SI, the first
  positions of a line scan); ``vacuum10-zeros`` (``-nomask``): random 10 % of the pixels set to exact
  zeros (dark-subtracted vacuum).

Per file and transformation: the called elements (``r.elements``; C kept in the column, dropped in
the scores), whether the call equals the labels that are assessable in the transformed window
(exact match, C dropped), the probabilities of the labelled elements (single spectrum: ``r.probabilities``;
line scan / SI: the sum-spectrum second opinion ``r.sum_spectrum_probabilities``) and their change
against the untransformed call, and the labelled elements reported not assessable. Per transformation
over the files: weighted F1 and exact-match ratio (C dropped, as ``bench_identify.py``) against the
base. Every transformed call is also checked for silent wrong results: an element whose Major edges
all lie outside the window must be not assessable (NaN), never a finite probability; no NaN
probability for an assessable element; masked pixels NaN.

This is a consistency measurement, not tuning: nothing here changes a model, a threshold or a default.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_identify import data_dir, load_entry, scores  # noqa: E402

OFFSETS = (-15.0, -7.0, 7.0, 15.0)
REBINS = (2, 4)
FILL_VALUE = 65535.0
SEED = 20261206


def _axis(s):
    return s.axes_manager.signal_axes[0]


def _energy(s):
    ax = _axis(s)
    return ax.offset + ax.scale * np.arange(ax.size)


def offset(s, de):
    t = s.deepcopy()
    _axis(t).offset = _axis(t).offset + de
    return t


def rebin(s, k):
    ax = _axis(s)
    if ax.scale * k > 2.0 + 1e-9:
        return None
    n = (ax.size // k) * k
    t = s.isig[:n] if n != ax.size else s
    scale = [1] * s.axes_manager.navigation_dimension + [k]
    return t.rebin(scale=scale)


def crop_channels(s, i0, i1):
    """Channels ``[i0, i1)`` (indices)."""
    return s.isig[int(i0):int(i1)].deepcopy()


def _in_window_onsets(el, lo, hi):
    from hyperspy_eels_ml.elements.preprocess import major_onsets

    return [o for o in major_onsets()[el] if lo <= o <= hi]


def crop_edges(s, labelled, lo, hi):
    """Window = the labelled assessable Major edges -30 / +30 eV (two channels of slack), >= 100 eV."""
    from hyperspy_eels_ml.elements.preprocess import REPORT_HIGH_MARGIN, REPORT_LOW_MARGIN

    ons = [o for el in labelled for o in _in_window_onsets(el, lo + REPORT_LOW_MARGIN, hi - REPORT_HIGH_MARGIN)]
    if not ons:
        return None
    e = _energy(s)
    d = _axis(s).scale
    a, b = min(ons) - 30.0 - 2 * d, max(ons) + 30.0 + 2 * d
    if b - a < 110.0:  # keep >= 100 eV of usable window, inside the recorded one
        if e[-1] - e[0] < 120.0:
            return None
        mid = 0.5 * (a + b)
        a, b = mid - 55.0, mid + 55.0
        if a < e[0]:
            a, b = e[0], e[0] + 110.0
        if b > e[-1]:
            a, b = e[-1] - 110.0, e[-1]
    i0 = max(int(np.searchsorted(e, a)), 0)
    i1 = min(int(np.searchsorted(e, b)) + 1, e.size)
    if i0 == 0 and i1 == e.size:
        return None
    return crop_channels(s, i0, i1)


def crop_drop(s, labelled, lo, hi):
    """A crop removing every Major edge of one labelled element; returns (signal, element) or None."""
    from hyperspy_eels_ml.elements.preprocess import major_onsets

    e = _energy(s)
    d = _axis(s).scale
    cands = []
    for el in labelled:
        ons = _in_window_onsets(el, e[0], e[-1])
        if ons:
            cands.append((min(ons), max(ons), el))
    if len(cands) < 1:
        return None
    # high end: the element whose lowest in-window onset is highest; window ends 10 eV before it
    first, _, el = max(cands)
    b = first - 10.0
    if b - e[0] >= 110.0 and any(_in_window_onsets(o, e[0] + 15, b - 30) for o in labelled if o != el):
        i1 = int(np.searchsorted(e, b))
        t = crop_channels(s, 0, i1)
        return t, el
    # low end: the element whose highest in-window onset is lowest; window starts 20 eV after it
    _, last, el = min(cands, key=lambda c: c[1])
    a = last + 20.0
    if e[-1] - a >= 110.0:
        i0 = int(np.searchsorted(e, a))
        t = crop_channels(s, i0, e.size)
        # the element must have no Major edge left in the window at all
        if not any(a <= o <= e[-1] for o in major_onsets()[el]):
            return t, el
    return None


def _with_channels(s, before=None, after_fill=0):
    """Prepend channels ``before`` (1-D) to every spectrum and/or set the last ``after_fill`` channels
    to the fill value; the axis offset keeps the real channels at their energies."""
    import hyperspy.api as hs

    data = np.asarray(s.data, np.float64)
    nb = 0
    if before is not None:
        nb = len(before)
        pre = np.broadcast_to(np.asarray(before, np.float64), data.shape[:-1] + (nb,))
        data = np.concatenate([pre, data], axis=-1)
    else:
        data = data.copy()
    if after_fill:
        data[..., -after_fill:] = FILL_VALUE
    t = hs.signals.Signal1D(data)
    t.set_signal_type("EELS")
    for i, ax in enumerate(s.axes_manager._axes):
        tx = t.axes_manager._axes[i]
        tx.name, tx.units, tx.scale, tx.offset = ax.name, ax.units, ax.scale, ax.offset
    _axis(t).offset = _axis(s).offset - nb * _axis(s).scale
    return t


def dark_neg(s, rng, fill=False):
    neg = -rng.uniform(1.0, 20.0, 5)
    return _with_channels(s, before=np.concatenate([np.zeros(20), neg]), after_fill=3 if fill else 0)


def dark_noise(s, rng):
    """20 noisy dark channels (Gaussian around 0, sd 1 % of the file's median channel value) prepended:
    a dark region after dark subtraction, mixed signs, not a constant run."""
    return _with_channels(s, before=rng.normal(0.0, 0.01 * float(np.median(np.asarray(s.data))), 20))


def fill_end(s):
    return _with_channels(s, after_fill=3)


def vacuum(s, rng, frac=0.10, contiguous=False, zero=False):
    """10 % of the pixels (at least one) replaced by flat low counts; returns (signal, pixel mask).

    ``contiguous``: the first pixels in array order (a vacuum region: the first rows of an SI, the
    first positions of a line scan) instead of random ones; ``zero``: exact zeros (dark-subtracted
    vacuum) instead of Poisson counts."""
    t = s.deepcopy()
    data = np.asarray(t.data, np.float64)
    nav = data.shape[:-1]
    npx = int(np.prod(nav))
    k = max(1, int(round(frac * npx)))
    idx = np.arange(k) if contiguous else rng.choice(npx, k, replace=False)
    lam = max(1.0, 0.01 * float(np.median(data)))
    flat = data.reshape(npx, -1)
    flat[idx] = 0.0 if zero else rng.poisson(lam, (k, flat.shape[1]))
    t.data = flat.reshape(data.shape).astype(t.data.dtype if np.issubdtype(t.data.dtype, np.floating)
                                                  else np.float64)
    mask = np.zeros(npx, bool)
    mask[idx] = True
    return t, mask.reshape(nav)


def run_call(s, labels, **kw):
    """One call and what the table needs; ``error`` set when it raised."""
    from hyperspy_eels_ml.elements import LABELS, identify_elements
    from hyperspy_eels_ml.elements.preprocess import major_onsets

    out = {"error": None}
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            r = identify_elements(s, show_progressbar=False, **kw)
            els = set(r.elements)
            na = set(r.not_assessable)
            nav = s.axes_manager.navigation_dimension
            p = np.asarray(r.probabilities.data, np.float64).reshape(-1, len(LABELS))
            a = np.asarray(r.assessable.data, bool).reshape(-1, len(LABELS))
            win = np.asarray(r._eager_array_window(), np.float64).reshape(-1, 2)
            ps = r.sum_spectrum_probabilities if nav else p[0]
        out["warnings"] = sorted({str(x.message)[:120] for x in w})
    except Exception as exc:  # reported in the table
        out["error"] = f"{type(exc).__name__}: {str(exc)[:160]}"
        return out
    problems = []
    e = _energy(s)
    for el in labels:
        j = LABELS.index(el)
        if not any(e[0] <= o <= e[-1] for o in major_onsets()[el]):
            if el not in na:
                problems.append(f"{el} has no Major edge in {e[0]:.0f}-{e[-1]:.0f} eV but is not reported "
                                "not assessable")
            if np.isfinite(p[:, j]).any():
                problems.append(f"{el} outside the window has a finite probability")
    bad_nan = a & ~np.isfinite(p)
    if bad_nan.any():
        problems.append(f"{int(bad_nan.sum())} NaN probabilities of assessable elements")
    out.update(elements=els, not_assessable=na, p={el: float(ps[LABELS.index(el)]) for el in labels},
               window=(float(np.nanmin(win[:, 0])) if np.isfinite(win[:, 0]).any() else float("nan"),
                       float(np.nanmax(win[:, 1])) if np.isfinite(win[:, 1]).any() else float("nan")),
               problems=problems, r=r)
    return out


def _rng(seed, file, name):
    """One generator per file and transformation (adding a transformation changes no other draw)."""
    import zlib

    return np.random.default_rng([seed, zlib.crc32(file.encode()), zlib.crc32(name.encode())])


def transforms(s, labels, lo, hi, file, seed=SEED):
    """``[(name, signal or None, extra kwargs, note, vacuum pixel mask or None)]`` for one file."""
    out = []
    for de in OFFSETS:
        out.append((f"offset{de:+.0f}", offset(s, de), {}, "", None))
    for k in REBINS:
        t = rebin(s, k)
        out.append((f"rebin{k}x", t, {}, "" if t is not None else "> 2 eV/ch", None))
    t = crop_edges(s, labels, lo, hi)
    out.append(("crop-edges", t, {}, "" if t is not None else "window already at the edges or < 120 eV", None))
    cd = crop_drop(s, labels, lo, hi)
    out.append((f"crop-drop-{cd[1]}" if cd else "crop-drop", cd[0] if cd else None, {},
                "" if cd else "no crop of >= 100 eV removes one element", None))
    out.append(("dark+neg", dark_neg(s, _rng(seed, file, "dark+neg")), {}, "", None))
    out.append(("dark-noise", dark_noise(s, _rng(seed, file, "dark-noise")), {}, "", None))
    out.append(("fill-end", fill_end(s), {}, "", None))
    out.append(("dark+neg+fill", dark_neg(s, _rng(seed, file, "dark+neg+fill"), fill=True), {}, "", None))
    if s.axes_manager.navigation_dimension:
        # default navigation_mask ("auto": the relative vacuum mask), None (every pixel analysed), "vacuum"
        t, m = vacuum(s, _rng(seed, file, "vacuum10"))
        note = f"{int(m.sum())} of {m.size} px"
        out.append(("vacuum10", t, {}, note, m))
        out.append(("vacuum10-nomask", t, {"navigation_mask": None}, note, m))
        out.append(("vacuum10-masked", t, {"navigation_mask": "vacuum"}, note, m))
        t, m = vacuum(s, _rng(seed, file, "vacuum10-region"), contiguous=True)
        note = f"first {int(m.sum())} of {m.size} px"
        out.append(("vacuum10-region", t, {}, note, m))
        out.append(("vacuum10-region-nomask", t, {"navigation_mask": None}, note, m))
        out.append(("vacuum10-region-masked", t, {"navigation_mask": "vacuum"}, note, m))
        t, m = vacuum(s, _rng(seed, file, "vacuum10-zeros"), zero=True)
        note = f"{int(m.sum())} of {m.size} px set to 0"
        out.append(("vacuum10-zeros", t, {}, note, m))
        out.append(("vacuum10-zeros-nomask", t, {"navigation_mask": None}, note, m))
    return out


def benchmark(root, seed=SEED):
    with open(os.path.join(root, "index.json")) as f:
        index = json.load(f)
    rows, skipped = [], []
    for e in index:
        if not e.get("elements"):
            continue
        try:
            s = load_entry(root, e)
        except Exception as exc:  # pragma: no cover
            skipped.append((e["path"], f"load failed: {exc}"))
            continue
        if s is None:
            continue
        name = os.path.basename(e["path"])
        labels = sorted(set(e["elements"]))
        base = run_call(s, labels)
        if base["error"]:
            skipped.append((name, base["error"]))
            continue
        lo, hi = base["window"]
        truth0 = set(labels) - base["not_assessable"]
        if not truth0 - {"C"}:
            skipped.append((name, "no labelled element assessable"))
            continue
        rows.append(dict(file=name, transform="base", note="", labels=labels, truth=truth0, ours=base["elements"],
                         p=base["p"], na=sorted(set(labels) & base["not_assessable"]), problems=base["problems"],
                         error=None, window=base["window"], warnings=base["warnings"]))
        print(f"[{name[-40:]}] base {sorted(base['elements'])} window {lo:.0f}-{hi:.0f}", file=sys.stderr)
        for tname, t, kw, note, vmask in transforms(s, labels, lo, hi, name, seed):
            if t is None:
                rows.append(dict(file=name, transform=tname, note=note, skipped=True))
                continue
            res = run_call(t, labels, **kw)
            row = dict(file=name, transform=tname, note=note, labels=labels, error=res["error"])
            if res["error"] is None:
                if res["warnings"]:
                    row["note"] += ("; " if row["note"] else "") + "warns: " + " / ".join(
                        w.split(":", 1)[-1].strip()[:70] for w in res["warnings"])
                truth = set(labels) - res["not_assessable"]
                row.update(truth=truth, ours=res["elements"], p=res["p"],
                           na=sorted(set(labels) & res["not_assessable"]), problems=res["problems"],
                           window=res["window"], warnings=res["warnings"])
                if vmask is not None:
                    r = res["r"]
                    vm = vmask.reshape(-1)
                    pres = np.asarray(r.present.data, bool).reshape(vm.size, -1)
                    pm = np.asarray(r.probabilities.data, np.float64).reshape(vm.size, -1)
                    n_call = int(pres[vm].any(axis=1).sum())
                    n_nan = int((~np.isfinite(pm[vm])).all(axis=1).sum())
                    from hyperspy_eels_ml.elements import LABELS

                    cnt = pres[vm].sum(axis=0)
                    top = ",".join(f"{LABELS[j]}:{cnt[j]}" for j in np.argsort(-cnt)[:3] if cnt[j])
                    row["note"] += (f"; vacuum px with a call {n_call}" + (f" ({top})" if top else "")
                                    + f", all-NaN {n_nan}")
                    if kw.get("navigation_mask", "auto") is not None and np.isfinite(pm[~vm]).sum() == 0:
                        row["problems"] = row["problems"] + ["every non-vacuum pixel masked"]
                if tname.startswith("crop-drop-"):
                    el = tname.split("-")[-1]
                    if el not in res["not_assessable"]:
                        row["problems"] = row["problems"] + [f"{el} cropped out but not reported not assessable"]
                    if el in res["elements"]:
                        row["problems"] = row["problems"] + [f"{el} cropped out but called"]
            rows.append(row)
            print(f"   {tname:16s} {sorted(row.get('ours', [])) if not row['error'] else row['error']}",
                  file=sys.stderr)
    return rows, skipped


def _exact(r):
    return (set(r["ours"]) - {"C"}) == (set(r["truth"]) - {"C"})


def _pfmt(p, p0):
    out = []
    for el in sorted(p):
        v, v0 = p[el], p0.get(el, float("nan"))
        if not np.isfinite(v):
            out.append(f"{el} n/a")
        elif np.isfinite(v0):
            out.append(f"{el} {v:.2f} ({v - v0:+.2f})")
        else:
            out.append(f"{el} {v:.2f}")
    return ", ".join(out)


def print_table(rows, skipped):
    base = {r["file"]: r for r in rows if r["transform"] == "base"}
    print("\n## identify_elements under input transformations (real core-loss files)\n")
    print("Called = r.elements (C kept here, dropped in the scores); exact = call equals the labelled elements "
          "assessable in the transformed window (C dropped); p = probability of the labelled elements (line "
          "scan/SI: sum-spectrum second opinion), change against base in brackets; n/a = not assessable.\n")
    print("| file | transform | window (eV) | called | exact | changed vs base | p of labelled (delta) | "
          "labelled not assessable | problems |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        f = r["file"][-34:]
        if r.get("skipped"):
            print(f"| {f} | {r['transform']} | skipped: {r['note']} |||||||")
            continue
        if r["error"]:
            print(f"| {f} | {r['transform']} | ERROR {r['error']} |||||||")
            continue
        b = base[r["file"]]
        changed = "-" if r["transform"] == "base" else ("no" if set(r["ours"]) == set(b["ours"]) else
                                                       "yes: " + _diff(b["ours"], r["ours"]))
        print(f"| {f} | {r['transform']}{' (' + r['note'] + ')' if r['note'] else ''} | "
              f"{r['window'][0]:.0f}-{r['window'][1]:.0f} | {','.join(sorted(r['ours'])) or '-'} | "
              f"{'yes' if _exact(r) else 'no'} | {changed} | {_pfmt(r['p'], b['p'])} | "
              f"{','.join(r['na']) or '-'} | {'; '.join(r['problems']) or '-'} |")
    for name, why in skipped:
        print(f"| {name[-34:]} | not analysed: {why} ||||||||")
    print("\n| transform | files | weighted F1 | exact match | base weighted F1 | base exact match | "
          "files whose call changes | median abs dp | largest p drop | problems |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    names = []
    for r in rows:
        if r["transform"] not in names:
            names.append(r["transform"])
    groups = {}
    for r in rows:
        key = "crop-drop" if r["transform"].startswith("crop-drop") else r["transform"]
        groups.setdefault(key, []).append(r)
    for key, rs in groups.items():
        ok = [r for r in rs if not r.get("skipped") and not r["error"]]
        err = sum(1 for r in rs if not r.get("skipped") and r["error"])
        if not ok:
            print(f"| {key} | 0 | - | - | - | - | - | - | - | {err} errors |")
            continue
        bs = [base[r["file"]] for r in ok]
        _, w, x = scores(ok, "ours")
        _, w0, x0 = scores(bs, "ours")
        ch = sum(1 for r, b in zip(ok, bs) if set(r["ours"]) != set(b["ours"]))
        pr = sum(len(r["problems"]) for r in ok) + err
        dp = [(r["p"][el] - b["p"][el], el, r["file"]) for r, b in zip(ok, bs) for el in r["p"]
              if np.isfinite(r["p"][el]) and np.isfinite(b["p"].get(el, np.nan))]
        med = f"{np.median([abs(v[0]) for v in dp]):.3f}" if dp else "-"
        lo_ = min(dp) if dp else None
        drop = f"{lo_[0]:+.2f} ({lo_[1]}, {lo_[2][-24:]})" if lo_ and lo_[0] < 0 else "-"
        print(f"| {key} | {len(ok)} | {w:.2f} | {x:.2f} | {w0:.2f} | {x0:.2f} | {ch} | {med} | {drop} | {pr} |")


def _diff(a, b):
    a, b = set(a), set(b)
    parts = [f"-{el}" for el in sorted(a - b)] + [f"+{el}" for el in sorted(b - a)]
    return ",".join(parts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="data folder (default: $HYPERSPY_EELS_ML_DATA or ../shared/data)")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    ap.add_argument("--seed", type=int, default=SEED, help="seed of the random channels and vacuum pixels")
    a = ap.parse_args(argv)
    root = a.data or data_dir()
    if not os.path.isdir(root):
        print(f"no real data at {root}", file=sys.stderr)
        return 1
    import hyperspy_eels_ml  # noqa: F401

    rows, skipped = benchmark(root, a.seed)
    print_table(rows, skipped)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": [{k: (sorted(v) if isinstance(v, set) else v) for k, v in r.items()} for r in rows],
                       "not_analysed": skipped}, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
