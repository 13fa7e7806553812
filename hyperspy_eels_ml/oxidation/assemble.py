"""Result assembly of :func:`~hyperspy_eels_ml.oxidation.classify_oxidation`: block columns -> HyperSpy signals
with provenance, masks, and the L2,3 x O K combination."""

from __future__ import annotations

import time

import dask.array as da
import numpy as np

from .._shared import navigation_map, per_pixel_spectra, record_provenance
from .result import OxidationResult
from .valence import compounds_for


def _valences(classes):
    from ..simulation.oxidation import white_line_parameters

    p = white_line_parameters()
    out = []
    for c in classes:
        if c in p["species"]:
            out.append(float(p["species"][c]["valence"]))
        elif c in p["mixtures"]:
            comp = p["mixtures"][c]["components"]
            out.append(sum(w * p["species"][s]["valence"] for s, w in comp.items()) / sum(comp.values()))
        else:  # user class names outside the table
            out.append(np.nan)
    return np.array(out)


def _apply_mask(valid, mask):
    if mask is None:
        return valid
    m = da.from_array(np.asarray(mask), chunks=valid.chunks if valid.ndim else (), name=False) \
        if isinstance(valid, da.Array) else np.asarray(mask)
    return valid & ~m


def _svm_result(job, out, mask, parent, single, nav_shape, params, t0):
    spec, clf, info = job["spec"], job["clf"], job["info"]
    nc = len(spec.classes)
    xp = da if isinstance(out, da.Array) else np
    prob = out[..., :nc]
    anchor = out[..., nc]
    snr = out[..., nc + 1]
    valid = _apply_mask(out[..., nc + 2] > 0.5, mask)
    prob = xp.where(valid[..., None], prob, np.nan)
    labels = xp.where(valid, xp.argmax(xp.where(valid[..., None], prob, -1.0), axis=-1), -1).astype(np.int32)
    vals = _valences(spec.classes)
    mean_val = xp.where(valid, (xp.where(valid[..., None], prob, 0.0) * vals).sum(axis=-1), np.nan).astype(np.float32)
    anchor = xp.where(valid, anchor, np.nan)
    masked = ~valid
    p = dict(params, energy_calibrated=spec.energy_calibrated, max_shift=spec.max_shift)
    models_info = dict(info, feature_spec=spec.to_dict(), training=clf.info)
    sig = _signals(parent, prob, labels, mean_val, anchor, snr, masked, list(spec.classes), p, models_info)
    return OxidationResult(
        **sig, classes=list(spec.classes), n_masked=masked.sum(),
        n_pixels=int(np.prod(nav_shape, dtype=np.int64)) if not single else 1,
        model_info=info, parameters=p, timings={"graph_or_compute": time.perf_counter() - t0},
        _nav_axes=list(parent.axes_manager.navigation_axes), _navigation_shape=() if single else tuple(nav_shape))


def _valence_result(job, out, mask, parent, single, nav_shape, params, t0):
    vspec, info = job["vspec"], job["info"]
    k = len(vspec.end_members)
    names = list(compounds_for(vspec.element, vspec.end_members))
    nc = len(names)
    xp = da if isinstance(out, da.Array) else np
    valid = _apply_mask(out[..., k + nc + 4] > 0.5, mask)
    fr = xp.where(valid[..., None], out[..., :k], np.nan)
    prob = xp.where(valid[..., None], out[..., k : k + nc], np.nan)
    val = xp.where(valid, out[..., k + nc], np.nan)
    half = xp.where(valid, out[..., k + nc + 1], np.nan)
    anchor = xp.where(valid, out[..., k + nc + 2], np.nan)
    snr = out[..., k + nc + 3]
    labels = xp.where(valid, xp.argmax(xp.where(valid[..., None], prob, -1.0), axis=-1), -1).astype(np.int32)
    masked = ~valid
    cal_used = xp.where(valid, out[..., k + nc + 5] > 0.5, False)
    p = dict(params, energy_calibrated=job["calibrated"], max_shift=vspec.max_shift)
    models_info = dict(info, valence_spec=vspec.to_dict(), feature_spec=job["spec"].to_dict(),
                       training=job["model"].info_)
    sig = _signals(parent, prob, labels, val.astype(np.float32), anchor, snr, masked, names, p, models_info)
    f_sig = per_pixel_spectra(parent, fr, {"name": "end member", "units": "", "scale": 1.0, "offset": 0.0},
                              "End-member fractions", quantity="fraction")
    f_sig.metadata.set_item("Signal.end_members", list(vspec.end_members))
    u_sig = navigation_map(parent, half.astype(np.float32), "Mean valence 68 % half-width", quantity="valence")
    c_sig = navigation_map(parent, cal_used, "Chemical shift used", quantity="calibrated onset used")
    m_sig = navigation_map(parent, xp.where(valid, out[..., k + nc + 6] > 0.5, False), "Metal end member admitted",
                           quantity="metal admitted")
    o_sig = navigation_map(parent, out[..., k + nc + 7], "O K jump / white-line jump", quantity="relative jump")
    for s_ in (f_sig, u_sig, c_sig, m_sig, o_sig):
        record_provenance(s_, "classify_oxidation", p, models=models_info, dependencies=_DEPS)
    return OxidationResult(
        **sig, fractions=f_sig, valence_uncertainty=u_sig, calibration_used=c_sig, metal_admitted=m_sig,
        o_k_jump=o_sig,
        end_members=list(vspec.end_members), classes=names,
        n_masked=masked.sum(), n_pixels=int(np.prod(nav_shape, dtype=np.int64)) if not single else 1,
        model_info=info, parameters=p, timings={"graph_or_compute": time.perf_counter() - t0},
        _nav_axes=list(parent.axes_manager.navigation_axes), _navigation_shape=() if single else tuple(nav_shape))


_DEPS = ("hyperspy", "exspy", "numpy", "dask", "scikit-learn")


def _signals(parent, prob, labels, mean_val, anchor, snr, masked, classes, params, models_info):
    p_sig = per_pixel_spectra(parent, prob, {"name": "class", "units": "", "scale": 1.0, "offset": 0.0},
                              "Oxidation-state probabilities", quantity="probability")
    p_sig.metadata.set_item("Signal.classes", list(classes))
    lab_sig = navigation_map(parent, labels, "Oxidation-state labels", quantity="class index")
    lab_sig.metadata.set_item("Signal.classes", list(classes))
    val_sig = navigation_map(parent, mean_val, "Mean valence", quantity="valence")
    pos_sig = navigation_map(parent, anchor, "Edge position", quantity="Energy loss (eV)")
    snr_sig = navigation_map(parent, snr, "Edge signal-to-noise ratio", quantity="SNR")
    mask_sig = navigation_map(parent, masked, "Oxidation-state mask", quantity="masked")
    for s_ in (p_sig, lab_sig, val_sig, pos_sig, snr_sig, mask_sig):
        record_provenance(s_, "classify_oxidation", params, models=models_info, dependencies=_DEPS)
    return dict(probabilities=p_sig, labels=lab_sig, mean_valence=val_sig, edge_position=pos_sig, snr=snr_sig,
                mask=mask_sig)


def _combine_edges(r1, r2, params):
    """L2,3 and O K evidence of one pass: p ~ p_L23 * p_OK (renormalised), masked where either is masked."""
    if r1.classes != r2.classes:
        raise ValueError(f"The L2,3 and O K models have different classes ({r1.classes} vs {r2.classes}).")
    p1, p2 = r1.probabilities.data, r2.probabilities.data
    xp = da if isinstance(p1, da.Array) else np
    prod = p1 * p2
    s = prod.sum(axis=-1, keepdims=True)
    prob = prod / xp.where(s > 0, s, np.nan)
    valid = xp.isfinite(prob).all(axis=-1)
    labels = xp.where(valid, xp.argmax(xp.where(valid[..., None], prob, -1.0), axis=-1), -1).astype(np.int32)
    vals = _valences(r1.classes)
    mean_val = xp.where(valid, (xp.where(valid[..., None], prob, 0.0) * vals).sum(axis=-1), np.nan)
    out = r1
    out.probabilities = out.probabilities._deepcopy_with_new_data(prob)
    out.labels = out.labels._deepcopy_with_new_data(labels)
    out.mean_valence = out.mean_valence._deepcopy_with_new_data(mean_val.astype(np.float32))
    out.mask = out.mask._deepcopy_with_new_data(~valid)
    out.n_masked = (~valid).sum()
    out.model_info = {"L23": r1.model_info, "OK": r2.model_info, "element": r1.model_info["element"],
                      "edge": "both", "combination": "product of probabilities, renormalised"}
    out.parameters = dict(r1.parameters, edge="both")
    out.o_k_result = r2
    for s_ in (out.probabilities, out.labels, out.mean_valence, out.mask):
        record_provenance(s_, "classify_oxidation", out.parameters, models=out.model_info, dependencies=_DEPS)
    return out
