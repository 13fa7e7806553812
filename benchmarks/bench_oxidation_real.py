"""classify_oxidation on every real oxidation reference in the shared data, with two classical baselines.

Run::

    python benchmarks/bench_oxidation_real.py [--data PATH] [--json out.json]

``--data`` defaults to ``$HYPERSPY_EELS_ML_DATA`` or ``../shared/data``. The
spectra are only read (never copied, never used for training or tuning).

Columns: expected valence (from the source; ``?`` where the source gives
none), the shipped valence model (``model="valence"``; compound class, mean
valence +- 68 % half-width: the unbiased estimator; beside it the networks' posterior mean,
the estimator shipped before), the same with the chemical shift where a ZLP
partner exists (``low_loss=``), the two classical baselines on the same prepared
(background-subtracted) spectra: the L3/L2 ratio (Pearson-style R_int of
:func:`hyperspy_eels_ml.oxidation.ratio.white_line_ratio` with its own line finding on the whole
spectrum, shown as ``valence (R = ratio)``, mapped on the calibration points of
:func:`~hyperspy_eels_ml.oxidation.ratio.ratio_calibration`: literature R_int for Mn and Fe, the
simulator's end members for the other elements) and NNLS of simulated end-member references on the
aligned window, and
the shipped SVM (``model="svm"``) and the default of classify_oxidation (``model="auto"``: the SVM where
its window is there, else the valence model; the choice is shown) for comparison. SIs and line scans
are summarised by the median over classified pixels.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np


def _data_dir(arg):
    if arg:
        return arg
    env = os.environ.get("HYPERSPY_EELS_ML_DATA")
    if env:
        return env
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")


def _csv(path):
    """A two-column CSV reference on its own energy column (uneven steps resampled, with a warning)."""
    from hyperspy_eels_ml import spectrum_from_columns

    a = np.loadtxt(path, delimiter=",", skiprows=1, encoding="utf-8-sig")
    return _quiet_columns(spectrum_from_columns, a)


def _txt(path):
    from hyperspy_eels_ml import spectrum_from_columns

    return _quiet_columns(spectrum_from_columns, np.loadtxt(path))


def _quiet_columns(fn, a):
    import warnings

    with warnings.catch_warnings():  # the resampling is recorded in metadata and said in the guide
        warnings.filterwarnings("ignore", message="spectrum_from_columns")
        return fn(a[:, 0], a[:, 1])


def _load(path, reader=None):
    import hyperspy.api as hs

    s = hs.load(path, reader=reader) if reader else hs.load(path)
    if isinstance(s, list):
        s = s[0]
    s.set_signal_type("EELS")
    return s


def cases(d):
    """(name, loader, element, expected valence, remove_background, low-loss loader or None, note)."""
    ox, el, zl = (os.path.join(d, k) for k in ("oxidation", "elements", "zlp"))
    mn = lambda n: os.path.join(ox, f"MnEdgeNet__test_Mn_spectra__Data2_{n}.csv")  # noqa: E731
    return [
        ("MnEdgeNet MnO", lambda: _csv(mn("MnO")), "Mn", 2.0, False, None, "636-663 eV, bg-subtracted"),
        ("MnEdgeNet YBaMn3AlO7", lambda: _csv(mn("YBaMn3AlO7")), "Mn", 2.0, False, None, "charge balance"),
        ("MnEdgeNet LaMnO3", lambda: _csv(mn("LaMnO3")), "Mn", 3.0, False, None, ""),
        ("MnEdgeNet SrMnO3", lambda: _csv(mn("SrMnO3")), "Mn", 4.0, False, None, ""),
        ("EELS DB Fe metal", lambda: _load(os.path.join(ox, "practical_EELS_QEM__intermediate_level__core_loss__Fe.txt"),
                                            "MSA"), "Fe", 0.0, True, None, "679-781 eV"),
        ("EELS DB Co metal", lambda: _load(os.path.join(ox, "practical_EELS_QEM__Co.txt"), "MSA"), "Co", 0.0, False,
         None, "770-817 eV"),
        ("EELS DB Cr2O3 (O K)", lambda: _load(os.path.join(
            ox, "practical_EELS_QEM__intermediate_level__core_loss__CrO.txt"), "MSA"), "Cr", 3.0, True, None,
         "Cr L onset at the end of the window"),
        ("LSMO line scan", lambda: _load(os.path.join(el, "exspy-demos__LSMO_linescan.hspy")), "Mn", 3.3, True,
         lambda: _load(os.path.join(zl, "exspy-demos__LSMO_linescan_low_loss.hspy")), "La0.7Sr0.3MnO3"),
        ("LSMO/STO line scan", lambda: _load(os.path.join(el, "exspy-demos__LSMO_STO_linescan.hspy")), "Mn", 3.3,
         True, lambda: _load(os.path.join(zl, "exspy-demos__LSMO_STO_linescan_low_loss.hspy")), "LSMO pixels"),
        ("exspy Mn/O spectrum", lambda: _load(os.path.join(el, "exspy_pkg__coreloss_spectrum.msa")), "Mn", None,
         True, lambda: _load(os.path.join(zl, "exspy_pkg__lowloss_spectrum.msa")), "valence not stated"),
        ("FeO/Fe3O4 nanocube SI", lambda: _load(os.path.join(ox, "delpozo_SVM__EELS Spectrum Image (dark ref corrected).dm3")),
         "Fe", None, True, None, "expected 2-2.67 (FeO core, Fe3O4)"),
        ("EELS DB La2NiO4", lambda: _txt(os.path.join(el, "hyperspy_pkg__La2NiO4_eels.txt")), "Ni", 2.0, True, None,
         "Ni2+; La M4 (849 eV) just below Ni L3"),
        ("exspy Cr L spectrum", lambda: _load(os.path.join(el, "exspy_pkg__Cr_L_cl.hspy")), "Cr", None, True, None,
         "compound not stated"),
        ("Cr/Fe/Al oxide line scan (Cr)", lambda: _load(os.path.join(
            el, "practical_EELS_QEM__intermediate_level__core_loss__EELS Spectrum Image (high-loss).dm3")), "Cr", None,
         True, lambda: _load(os.path.join(
             zl, "practical_EELS_QEM__intermediate_level__core_loss__EELS Spectrum Image (low-loss).dm3")),
         "valence not stated"),
        ("Cr/Fe/Al oxide line scan", lambda: _load(os.path.join(
            el, "practical_EELS_QEM__intermediate_level__core_loss__EELS Spectrum Image (high-loss).dm3")), "Fe", None,
         True, lambda: _load(os.path.join(
             zl, "practical_EELS_QEM__intermediate_level__core_loss__EELS Spectrum Image (low-loss).dm3")),
         "valence not stated"),
    ]


def _median(sig, ok):
    a = np.asarray(sig.data, dtype=float).reshape(-1)
    return float(np.nanmedian(a[ok])) if ok.any() else float("nan")


def run_case(name, load, element, expected, rb, load_ll, note):
    import hyperspy_eels_ml  # noqa: F401
    from hyperspy_eels_ml.oxidation.valence import (
        nnls_baseline,
        ratio_baseline_spectra,
        reference_windows,
        valence_features,
    )
    from hyperspy_eels_ml.oxidation.shipped import _resolve_valence

    row = {"name": name, "element": element, "expected": expected, "note": note}
    try:
        s = load()
    except Exception as exc:  # a missing file
        row["error"] = f"load: {exc}"
        return row
    e = s.axes_manager.signal_axes[0]
    row["range"] = f"{e.axis[0]:.0f}-{e.axis[-1]:.0f} eV, {e.scale:.3g} eV/ch"
    kw = dict(remove_background=rb, show_progressbar=False)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = s.classify_oxidation(element, model="valence", **kw)
    except Exception as exc:
        row["valence"] = f"refused: {type(exc).__name__}: {str(exc)[:160]}"
        if "No shipped valence model" in str(exc):  # no model: the L3/L2 baseline still measures
            _ratio_only(row, s, element, rb)
        return row
    # the pre-edge window: other elements' edges avoided, or a warning that no clean window exists
    row["edges_avoided"] = r.model_info.get("edges_avoided", [])
    row["window_warning"] = [str(w.message)[:120] for w in caught
                             if issubclass(w.category, UserWarning) and "pre-edge" in str(w.message)]
    ok = np.asarray(r.labels.data).reshape(-1) >= 0
    row["n_pixels"], row["n_classified"] = int(ok.size), int(ok.sum())
    lab = np.asarray(r.labels.data).reshape(-1)[ok]
    row["class"] = r.classes[int(np.bincount(lab).argmax())] if ok.any() else "masked"
    row["mean_valence"] = _median(r.mean_valence, ok)
    row["half68"] = _median(r.valence_uncertainty, ok)
    # the metal end member under metals=None (O K evidence, Sample.elements, calibration): the rule and where
    row["metals_rule"] = r.model_info.get("metals", "")
    adm = np.asarray(r.metal_admitted.data).reshape(-1)[ok]
    row["metal_admitted"] = float(adm.mean()) if ok.any() else float("nan")
    okj = np.asarray(r.o_k_jump.data, dtype=float).reshape(-1)[ok]
    row["o_k_jump"] = float(np.nanmedian(okj)) if np.isfinite(okj).any() else float("nan")
    if DESCRIPTORS_DIR:  # information column: the descriptor model of the variant the default column used
        _descriptor_cell(row, s, element, r.model_info.get("name", ""), kw)
    # the networks' posterior mean (the estimator shipped before the unbiased one): fractions @ valences
    fr = np.asarray(r.fractions.data, dtype=float).reshape(-1, len(r.end_members))[ok]
    row["posterior_mean"] = float(np.nanmedian(fr @ np.asarray(r.model_info.get("valences") or _valences_of(r))))
    # metal end member read from the shape alone (no chemical shift); the axis taken as calibrated (an
    # assumption: the sources do not all say so)
    for suffix, extra in (("metals", dict(metals=True)), ("cal", dict(energy_calibrated=True))):
        try:
            rv = s.classify_oxidation(element, model="valence", **extra, **kw)
            okv = np.asarray(rv.labels.data).reshape(-1) >= 0
            labv = np.asarray(rv.labels.data).reshape(-1)[okv]
            row[f"class_{suffix}"] = rv.classes[int(np.bincount(labv).argmax())] if okv.any() else "masked"
            row[f"mean_valence_{suffix}"] = _median(rv.mean_valence, okv)
            row[f"half68_{suffix}"] = _median(rv.valence_uncertainty, okv)
        except Exception as exc:
            row[f"{suffix}_error"] = f"{type(exc).__name__}: {str(exc)[:120]}"
    if load_ll is not None:
        try:
            rl = s.classify_oxidation(element, model="valence", low_loss=load_ll(), **kw)
            okl = np.asarray(rl.labels.data).reshape(-1) >= 0
            row["mean_valence_zlp"] = _median(rl.mean_valence, okl)
            row["half68_zlp"] = _median(rl.valence_uncertainty, okl)
        except Exception as exc:
            row["zlp_error"] = f"{type(exc).__name__}: {str(exc)[:120]}"
    # baselines on the same aligned window of the classified pixels
    if not ok.any():
        row["class"] = f"all {ok.size} pixels masked (SNR or edge not found)"
        return row
    vm = _resolve_valence("valence", element, oxides_only=True)[0]  # the end members of the default column
    data = np.asarray(s.data, dtype=np.float64).reshape(-1, e.size)[ok]
    f, onset, snr, atb, fspec = valence_features(data, e.axis, vm.spec_, rb)
    # the L3/L2 baseline on the whole prepared spectra (its own line finding, not the models' window)
    vr, wr, row["ratio_calibration"] = ratio_baseline_spectra(data, e.axis, vm.spec_, rb)
    row["l3_l2"] = float(np.nanmedian(wr.ratio)) if np.isfinite(wr.ratio).any() else float("nan")
    row["ratio_measured"] = float(np.mean(np.isfinite(wr.ratio)))
    _, vn = nnls_baseline(f[:400], reference_windows(vm.spec_, fspec), vm.spec_)
    row["ratio_baseline"] = float(np.nanmedian(vr))
    row["nnls_baseline"] = float(np.nanmedian(vn))
    try:  # the default of classify_oxidation (model="auto": the SVM where its window is there, else valence)
        ra = s.classify_oxidation(element, **kw)
        oka = np.asarray(ra.labels.data).reshape(-1) >= 0
        row["auto_choice"] = ra.model_info.get("model_choice", "?").split(" ")[0]
        row["auto_valence"] = _median(ra.mean_valence, oka)
    except Exception as exc:
        row["auto_choice"] = f"refused ({type(exc).__name__})"
    try:
        rs = s.classify_oxidation(element, model="svm", **kw)
        oks = np.asarray(rs.labels.data).reshape(-1) >= 0
        row["svm_class"] = rs.classes[int(np.bincount(np.asarray(rs.labels.data).reshape(-1)[oks]).argmax())] \
            if oks.any() else "masked"
        row["svm_valence"] = _median(rs.mean_valence, oks)
    except Exception as exc:
        row["svm_class"] = f"refused ({type(exc).__name__})"
    return row


#: a folder with descriptor valence models (``--descriptors``); None: no descriptor column
DESCRIPTORS_DIR = None


def _descriptor_cell(row, s, element, name, kw):
    """``classify_oxidation`` with the descriptor model (``<name>_desc``) of the variant the default column used."""
    from hyperspy_eels_ml.oxidation.valence import ValenceModel

    dname = name.replace("_valence", "_valence_desc", 1) if "_valence" in name else ""
    path = os.path.join(DESCRIPTORS_DIR, dname + ".npz")
    if not dname or not os.path.exists(path):
        return
    try:
        rd = s.classify_oxidation(element, model=ValenceModel.load(path), **kw)
        okd = np.asarray(rd.labels.data).reshape(-1) >= 0
        row["descriptors_model"] = dname
        row["mean_valence_desc"] = _median(rd.mean_valence, okd)
        row["half68_desc"] = _median(rd.valence_uncertainty, okd)
    except Exception as exc:
        row["desc_error"] = f"{type(exc).__name__}: {str(exc)[:120]}"


def _descriptor_mean(sub, cell):
    """``, descriptor model X (n = k)`` for the summary lines (empty without ``--descriptors``)."""
    if not DESCRIPTORS_DIR:
        return ""
    n = sum(np.isfinite(r.get("mean_valence_desc", np.nan)) for r in sub)
    return f", descriptor model {cell('mean_valence_desc'):.2f} (n = {n})"


def _ratio_only(row, s, element, rb):
    """The L3/L2 baseline where no valence model is shipped (oxide end members of the element's table)."""
    from hyperspy_eels_ml.oxidation.valence import ratio_baseline_spectra, valence_spec

    e = s.axes_manager.signal_axes[0]
    try:
        data = np.asarray(s.data, dtype=np.float64).reshape(-1, e.size)
        vr, wr, row["ratio_calibration"] = ratio_baseline_spectra(data, e.axis, valence_spec(element, metals=False), rb)
    except Exception as exc:
        row["ratio_only_error"] = f"{type(exc).__name__}: {str(exc)[:120]}"
        return
    row["ratio_only"] = float(np.nanmedian(vr)) if np.isfinite(vr).any() else float("nan")
    row["l3_l2"] = float(np.nanmedian(wr.ratio)) if np.isfinite(wr.ratio).any() else float("nan")
    row["ratio_measured"] = float(np.mean(np.isfinite(wr.ratio)))


def _valences_of(r):
    from hyperspy_eels_ml.simulation.oxidation import white_line_parameters

    p = white_line_parameters()["species"]
    return [float(p[e]["valence"]) for e in r.end_members]


def _auto(r):
    return f"{r.get('auto_choice')} ({_f(r.get('auto_valence'))})" if "auto_valence" in r else str(r.get("auto_choice"))


def _metal_cell(r):
    """The metal end member of the default column (metals=None): where admitted, or why not."""
    why = r.get("metals_rule", "")
    ok = f", O K jump {_f(r.get('o_k_jump'))}" if np.isfinite(r.get("o_k_jump", np.nan)) else ""
    if why.startswith("kept"):
        return "kept (single oxide end member)"
    if "does not hold the O K edge" in why:
        return "not admitted (no O K region in the window)"
    if why.startswith("per pixel") and not ok and not r.get("metal_admitted"):
        return "not admitted (O K test undecided: white-line jump not measured)"
    if why.startswith("per pixel") or why.startswith("admitted"):
        return f"admitted in {100 * r.get('metal_admitted', np.nan):.0f} % of pixels{ok}"
    return why[:60] or "-"


def _ratio_cell(r):
    """The L3/L2 baseline: valence and the median measured ratio."""
    return f"{_f(r.get('ratio_baseline'))} (R = {_f(r.get('l3_l2'))})"


def _ratio_only_cell(r):
    """The L3/L2 baseline of an element without a shipped model (or why it could not run)."""
    if "ratio_only" in r:
        return f"{_f(r['ratio_only'])} (R = {_f(r.get('l3_l2'))}; no model)"
    return f"not measured ({r['ratio_only_error'][:60]})" if "ratio_only_error" in r else ""


def _f(v, nd=2):
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.{nd}f}"


def rst_table(rows):
    """The benchmark table as an RST list-table (for docs/user_guide/oxidation_real.inc)."""
    head = ["spectrum", "expected", "valence model (class, unbiased v +- 68 %)", "posterior mean (before)",
            "metals=True (shape only)", "axis taken as calibrated", "with ZLP partner", "L3/L2 ratio", "NNLS", "SVM",
            "default (model='auto')", "metal end member (metals=None)"]
    out = [".. list-table::", "   :header-rows: 1", ""]
    out += ["   * - " + head[0]] + [f"     - {h}" for h in head[1:]]
    for r in rows:
        if "ratio_baseline" not in r:
            msg = r.get("valence", r.get("error", r.get("class", "")))
            cells = [r["name"], _f(r["expected"], 1), msg.split(";")[0][:90], "", "", "", "", _ratio_only_cell(r), "", "",
                     "", ""]
        else:
            cal = f"{r['class_cal']}, {_f(r['mean_valence_cal'])} +- {_f(r['half68_cal'])}" if "class_cal" in r else "-"
            z = f"{_f(r.get('mean_valence_zlp'))} +- {_f(r.get('half68_zlp'))}" if "mean_valence_zlp" in r else "-"
            svm = f"{r.get('svm_class')} ({_f(r.get('svm_valence'))})" if "svm_valence" in r else str(r.get("svm_class"))
            met = f"{r['class_metals']}, {_f(r['mean_valence_metals'])} +- {_f(r['half68_metals'])}" \
                if "class_metals" in r else "-"
            cells = [r["name"], _f(r["expected"], 1), f"{r['class']}, {_f(r['mean_valence'])} +- {_f(r['half68'])}",
                     _f(r.get("posterior_mean")), met, cal, z, _ratio_cell(r), _f(r["nnls_baseline"]), svm,
                     _auto(r), _metal_cell(r)]
        out += ["   * - " + cells[0]] + [f"     - {c}" if c else "     -" for c in cells[1:]]
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--rst", default=None, help="also write the table as an RST list-table to this file")
    ap.add_argument("--models", default=None, help="a models folder (registry.json + oxidation/) to use instead "
                                                   "of the package's (to compare retrained variants)")
    ap.add_argument("--descriptors", default=None,
                    help="a folder with descriptor valence models (<el>_l23_valence_desc[_oxide].npz): an extra "
                         "column, for information")
    a = ap.parse_args(argv)
    global DESCRIPTORS_DIR
    DESCRIPTORS_DIR = a.descriptors
    if a.models:
        import hyperspy_eels_ml.oxidation.shipped as C

        C._MODELS_DIR = os.path.abspath(a.models)
    d = _data_dir(a.data)
    if not os.path.isdir(d):
        print(f"no data folder {d}")
        return 1
    warnings.simplefilter("ignore")
    rows = []
    t0 = time.time()
    for c in cases(d):
        rows.append(run_case(*c))
    head = ("spectrum", "expected", "valence model (class, unbiased v +- 68 %)", "posterior mean (before)",
            "metals=True (shape only)", "axis taken as calibrated",
            "with ZLP partner", "L3/L2 ratio", "NNLS", "SVM", "default (model='auto')")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    errs = {"valence model (unbiased)": [], "valence model (posterior mean, before)": [], "model (metals=True)": [],
            "model (axis calibrated)": [], "ratio": [], "nnls": [], "svm": [], "default (model='auto')": []}
    for r in rows:
        if "valence" in r or "error" in r:
            print(f"| {r['name']} | {_f(r['expected'], 1)} | {r.get('valence', r.get('error'))[:90]} | | | | | "
                  f"{_ratio_only_cell(r)} | | | |")
            continue
        if "ratio_baseline" not in r:
            print(f"| {r['name']} | {_f(r['expected'], 1)} | {r['class']} | | | | | | | | |")
            continue
        v = f"{r['class']}, {_f(r['mean_valence'])} +- {_f(r['half68'])}"
        z = f"{_f(r.get('mean_valence_zlp'))} +- {_f(r.get('half68_zlp'))}" if "mean_valence_zlp" in r else \
            (r.get("zlp_error", "")[:40] or "-")
        svm = f"{r.get('svm_class')} ({_f(r.get('svm_valence'))})" if "svm_valence" in r else r.get("svm_class")
        cal = f"{r['class_cal']}, {_f(r['mean_valence_cal'])} +- {_f(r['half68_cal'])}" if "class_cal" in r \
            else r.get("cal_error", "-")[:40]
        met = f"{r['class_metals']}, {_f(r['mean_valence_metals'])} +- {_f(r['half68_metals'])}" \
            if "class_metals" in r else r.get("metals_error", "-")[:40]
        print(f"| {r['name']} | {_f(r['expected'], 1)} | {v} | {_f(r.get('posterior_mean'))} | {met} | {cal} | {z} | "
              f"{_ratio_cell(r)} | {_f(r['nnls_baseline'])} | {svm} | {_auto(r)} |")
        if r["expected"] is not None:
            errs["valence model (unbiased)"].append(abs(r["mean_valence"] - r["expected"]))
            errs["valence model (posterior mean, before)"].append(abs(r.get("posterior_mean", np.nan) - r["expected"]))
            errs["default (model='auto')"].append(abs(r.get("auto_valence", np.nan) - r["expected"]))
            errs["model (axis calibrated)"].append(abs(r.get("mean_valence_cal", np.nan) - r["expected"]))
            errs["model (metals=True)"].append(abs(r.get("mean_valence_metals", np.nan) - r["expected"]))
            errs["ratio"].append(abs(r["ratio_baseline"] - r["expected"]))
            errs["nnls"].append(abs(r["nnls_baseline"] - r["expected"]))
            if "svm_valence" in r:
                errs["svm"].append(abs(r["svm_valence"] - r["expected"]))
            if DESCRIPTORS_DIR:
                errs.setdefault("descriptor model (where one exists)", []).append(
                    abs(r.get("mean_valence_desc", np.nan) - r["expected"]))
    print()
    for k, v in errs.items():
        v = np.asarray(v, dtype=float)
        print(f"mean |valence error| over spectra with a known valence, {k}: {np.nanmean(v):.2f} "
              f"(n = {np.isfinite(v).sum()})")
    for r in rows:
        if "ratio_only" in r:  # not in the means above: no model to compare with
            print(f"L3/L2 baseline without a shipped model, {r['name']} ({r['element']}): valence "
                  f"{_f(r['ratio_only'])}, R = {_f(r.get('l3_l2'))}, measured in {100 * r['ratio_measured']:.0f} % "
                  f"of spectra, expected {_f(r['expected'], 1)}; calibration: {r['ratio_calibration'][:70]}")
    known = [r for r in rows if r.get("expected") is not None and "ratio_baseline" in r]
    for label, sel in (("oxides only", lambda r: r["expected"] > 0), ("metals only", lambda r: r["expected"] == 0),
                       ("Mn references", lambda r: r["element"] == "Mn")):
        sub = [r for r in known if sel(r)]
        if sub:
            cell = lambda key: np.nanmean([abs(r.get(key, np.nan) - r["expected"]) for r in sub])  # noqa: E731
            print(f"  {label} (n = {len(sub)}): model {cell('mean_valence'):.2f}, posterior mean (before) "
                  f"{cell('posterior_mean'):.2f}, default (auto) {cell('auto_valence'):.2f}, axis calibrated "
                  f"{cell('mean_valence_cal'):.2f}, ratio {cell('ratio_baseline'):.2f}, "
                  f"NNLS {cell('nnls_baseline'):.2f}" + _descriptor_mean(sub, cell))
    if DESCRIPTORS_DIR:
        for r in rows:
            if "mean_valence_desc" in r or "desc_error" in r:
                cellv = (f"{_f(r['mean_valence_desc'])} +- {_f(r['half68_desc'])}" if "mean_valence_desc" in r
                         else r["desc_error"])
                print(f"descriptor model, {r['name']}: {r.get('descriptors_model', '')} {cellv} "
                      f"(expected {_f(r['expected'], 1)}, default {_f(r.get('mean_valence'))})")
    for r in rows:
        if "metals_rule" in r:
            print(f"metal end member (metals=None), {r['name']}: {_metal_cell(r)}; {r['metals_rule'][:110]}")
    for r in rows:
        if r.get("edges_avoided") or r.get("window_warning"):
            print(f"pre-edge window, {r['name']}: edges {r['edges_avoided']}; "
                  + ("warning: " + r["window_warning"][0] if r.get("window_warning") else "clean window used"))
    print(f"total {time.time() - t0:.0f} s")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    if a.rst:
        with open(a.rst, "w") as fh:
            fh.write(rst_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
