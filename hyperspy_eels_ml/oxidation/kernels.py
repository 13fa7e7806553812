"""Block functions of :func:`~hyperspy_eels_ml.oxidation.classify_oxidation`: one 2-D block of spectra in, arrays out
(run inside dask tasks; pure numpy plus the model evaluation, no HyperSpy signals)."""

from __future__ import annotations

import json

import numpy as np

from .._shared import check_finite_block
from .classifier import prepare_arrays
from .preprocess import FeatureSpec, extract_features
from .valence import ValenceModel, compounds_for
from .shipped import _load_model_file


def _background_failed_snr(snr, prepared, remove_background):
    """``snr`` with NaN where the power-law background could not be fitted (the prepared spectrum is all NaN).

    Such pixels are masked; the NaN SNR tells them apart from pixels with a weak edge (see
    :func:`~hyperspy_eels_ml.oxidation.result.warn_background_failures`).
    """
    if not remove_background:
        return snr
    failed = ~np.isfinite(prepared).any(axis=1)
    return np.where(failed, np.float32(np.nan), snr).astype(snr.dtype) if failed.any() else snr


def _classify_block(x, transport, energy, spec_json, min_snr, remove_background):
    """Columns: probabilities (n_classes, NaN where masked), anchor eV, SNR, valid (0/1).

    The background is removed here, block by block, with exspy's ``remove_background``
    on an eager signal wrapping the block: per-spectrum identical to a call on the
    whole signal, and the task graph holds only numpy data (exspy's lazy
    ``remove_background`` builds a graph that ``dask.distributed`` cannot serialise).
    """
    check_finite_block(x)
    spec = FeatureSpec.from_dict(json.loads(spec_json))
    clf = _load_model_file(transport) if isinstance(transport, str) else transport
    if clf.spec != spec:
        clf = clf.with_spec(max_shift=spec.max_shift)
    nc = len(spec.classes)
    x, energy = prepare_arrays(x, energy, spec, remove_background)
    f, anchor, snr, at_boundary = extract_features(x, energy, spec)
    snr = _background_failed_snr(snr, x, remove_background)
    valid = (snr >= min_snr) & ~at_boundary & np.isfinite(f).all(axis=1)
    out = np.full((x.shape[0], nc + 3), np.nan, dtype=np.float32)
    out[:, nc] = anchor
    out[:, nc + 1] = snr
    out[:, nc + 2] = valid
    if valid.any():
        out[valid, :nc] = clf.predict_proba_features(f[valid])
    return out


def _jobs_block(x, *transports, energy, jobs_json, min_snr, remove_background, has_zlp):
    """All (element, edge) models on one block of spectra; columns of each job side by side."""
    zlp = None
    if has_zlp:
        zlp, x = x[:, -1].astype(np.float64), x[:, :-1]
    check_finite_block(x)
    cols = []
    for job, tr in zip(json.loads(jobs_json), transports):
        xs, es = x[:, job["i0"] : job["i1"]], energy[job["i0"] : job["i1"]]
        if job["kind"] == "svm":
            cols.append(_classify_block(xs, tr, es, job["spec_json"], min_snr, remove_background))
        else:
            cols.append(_valence_block(xs, tr, es, job["spec_json"], min_snr, remove_background,
                                       job["calibrated"], zlp, job.get("fallback"), job.get("ok"),
                                       job.get("estimator") or "unbiased", job.get("metal_rule")))
    return np.concatenate(cols, axis=1)


def _metal_pixels(rule, x_full, e_full, element, anchor, onset_cal):
    """Per pixel: (metal end member admitted, O K jump / white-line jump or NaN) under ``rule`` (jobs)."""
    from .oxygen import ABSENT, PRESENT, UNDECIDED, o_k_evidence

    n = len(onset_cal)
    rel = np.full(n, np.nan)
    state = np.full(n, UNDECIDED)
    if rule.get("exclude"):
        return np.zeros(n, dtype=bool), rel
    if rule["ok_window"]:
        rel, _, state = o_k_evidence(x_full, e_full, element, anchor)
    if rule["declared_metals"]:
        return state != PRESENT, rel
    admit = (state == ABSENT) | ((state == UNDECIDED) & bool(rule["axis_calibrated"]) & np.isfinite(onset_cal))
    return admit, rel


def _valence_block(x, transport, energy, spec_json, min_snr, remove_background, calibrated, zlp, fallback=None,
                   ok=None, estimator="unbiased", metal_rule=None):
    """Columns: fractions (k), compound probabilities (nc), valence, 68 % half-width, onset eV, SNR, valid,
    calibration used (1: the calibrated onset entered the model; 0: shape only), metal end member admitted
    (0/1), O K jump relative to the white-line jump (NaN where not measured).

    A calibrated onset more than 3 eV outside the end members' tabulated onsets
    is not trusted (an axis or ZLP partner that does not share the energy
    reference): such pixels fall back to shape only, and the result says so.
    ``metal_rule`` (``metals=None`` with evidence available, see ``jobs._metal_admission``): the metal
    model where :func:`_metal_pixels` admits the metal, elsewhere the oxide model (or, without one, the
    metal model's fractions with the metal set to 0 and renormalised).
    """
    x_full, e_full = x, energy
    if metal_rule is not None and metal_rule.get("l_from") is not None:  # the O K region precedes the job's own
        il = max(int(np.searchsorted(energy, metal_rule["l_from"])) - 1, 0)
        x, energy = x[:, il:], energy[il:]
    from .valence import ValenceSpec, _compound_probs, prepare_valence

    d = json.loads(spec_json)
    fspec, vspec = FeatureSpec.from_dict(d["fspec"]), ValenceSpec.from_dict(d["vspec"])
    from .._shared.cache import get_cached_file

    vm = get_cached_file("oxidation-valence", transport, ValenceModel.load) if isinstance(transport, str) \
        else transport
    k, nc = len(vspec.end_members), len(compounds_for(vspec.element, vspec.end_members))
    xs, es = prepare_valence(x, energy, fspec, remove_background)
    f, anchor, snr, at_boundary = extract_features(xs, es, fspec)
    snr = _background_failed_snr(snr, xs, remove_background)
    onset_cal = np.full(len(f), np.nan)
    if ok is not None:  # O K pre-peak of the same spectrum as the energy reference
        from .valence import o_k_pre_peak

        pre = o_k_pre_peak(x, energy, np.where(at_boundary, np.nan, anchor), (ok[1], ok[2]))
        onset_cal = anchor - (pre - ok[0])
    elif calibrated:
        onset_cal = anchor - (zlp if zlp is not None else 0.0)
    if calibrated:
        lo, hi = vspec.onset_range
        onset_cal = np.where((onset_cal > lo - 3.0) & (onset_cal < hi + 3.0), onset_cal, np.nan)
    valid = (snr >= min_snr) & ~at_boundary & np.isfinite(f).all(axis=1)
    out = np.full((len(f), k + nc + 8), np.nan, dtype=np.float32)
    groups = [(valid, vm, vspec, False)]
    admit = np.full(len(f), any(float(v_) == 0.0 for v_ in vspec.valences))
    if metal_rule is not None:
        admit, out[:, k + nc + 7] = _metal_pixels(metal_rule, x_full, e_full, vspec.element,
                                                  np.where(at_boundary, np.nan, anchor), onset_cal)
        if ok is not None and not metal_rule["axis_calibrated"]:
            onset_cal = np.where(admit, np.nan, onset_cal)  # no oxygen: no O K pre-peak reference
        if fallback is not None:
            ox = get_cached_file("oxidation-valence", fallback, ValenceModel.load)
            groups = [(valid & admit, vm, vspec, False), (valid & ~admit, ox, ox.spec_, False)]
        else:
            groups = [(valid & admit, vm, vspec, False), (valid & ~admit, vm, vspec, True)]
    out[:, k + nc + 2] = anchor
    out[:, k + nc + 3] = snr
    out[:, k + nc + 4] = valid
    out[:, k + nc + 5] = np.isfinite(onset_cal)
    out[:, k + nc + 6] = admit
    names = list(compounds_for(vspec.element, vspec.end_members))
    for sel, model, sp, condition in groups:
        if not sel.any():
            continue
        fr, val, half = model.predict(model.inputs(f[sel], onset_cal[sel]), estimator=estimator)
        if condition:  # no oxide-only model: the metal excluded from the posterior fractions
            vals = np.asarray(sp.valences, dtype=np.float64)
            fr = np.where(vals[None] == 0.0, 0.0, fr)
            s_ = fr.sum(axis=1, keepdims=True)
            fr = np.where(s_ > 0, fr / np.where(s_ > 0, s_, 1.0), (vals[None] > 0) / max((vals > 0).sum(), 1))
            val = fr @ vals
        cp = _compound_probs(fr, val, half, sp.element, sp.end_members)
        ei = [list(vspec.end_members).index(e) for e in sp.end_members]
        ci = [names.index(c) for c in compounds_for(sp.element, sp.end_members)]
        rows = np.flatnonzero(sel)
        out[rows, :k] = 0.0
        out[rows, k : k + nc] = 0.0
        out[np.ix_(rows, ei)] = fr
        out[np.ix_(rows, [k + c for c in ci])] = cp
        out[rows, k + nc] = val
        out[rows, k + nc + 1] = half
    return out
