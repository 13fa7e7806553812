"""Planning of :func:`~hyperspy_eels_ml.oxidation.classify_oxidation`: one job per (element, edge) model, with the
energy range it needs, checked against the signal before anything is computed."""

from __future__ import annotations

import json
import os

import dask.array as da
import numpy as np

from .._shared import EnergyAxisError, EnergyRangeError, ParameterError
from .classifier import OxidationClassifier
from .oxygen import OK_POST, OK_PRE, declared_oxygen, o_k_window_covered
from .result import _EDGE_NAMES
from .valence import EDGE_CLEARANCE, ValenceModel, compounds_for, edge_lines
from .shipped import _has_valence, _resolve_model, _resolve_valence


def _models_per_edge(model, edges):
    """``model`` per edge: one value for all, or a dict {"L23": ..., "OK": ...} (edge='both')."""
    if isinstance(model, dict):
        bad = sorted(set(model) - {"L23", "OK"})
        if bad or any(e not in model for e in edges):
            raise ValueError(f"model as a dict needs the keys {edges} ('L23', 'OK'), got {sorted(model)}.")
        return {e: model[e] for e in edges}
    if len(edges) > 1 and isinstance(model, str) and model == "auto":
        # edge="both" multiplies class probabilities of the same classes: the two shipped SVMs
        return {"L23": "svm", "OK": "svm"}
    if len(edges) > 1:
        # the O K edge has a shipped SVM only; a user L2,3 classifier/file pairs with it
        return {"L23": model, "OK": "svm" if (not isinstance(model, str) or model in ("cnn", "valence", "auto"))
                else model}
    return {edges[0]: model}


def _rechunk_navigation(data):
    """Lazy SIs with tiny navigation chunks (e.g. 1 pixel) -> blocks of about 32 MB (one task per block)."""
    from .._shared.batch import canonical_chunks

    if not isinstance(data, da.Array) or data.ndim < 2:
        return data
    nblocks = int(np.prod([len(c) for c in data.chunks[:-1]]))
    per_block = data.size / max(nblocks, 1) * data.dtype.itemsize
    if nblocks > 1 and per_block < 4 * 2**20:
        return data.rechunk(canonical_chunks(data.shape, data.dtype.itemsize)[:-1] + (-1,))
    return data


def _zlp_centres(low_loss, v):
    """Zero-loss-peak centre per pixel (eV) of the low-loss partner, via exspy."""
    from .._shared import validate_eels as _val

    ll = _val(low_loss, what="classify_oxidation(low_loss=...)", min_channels=5)
    if ll.navigation_shape != v.navigation_shape:
        raise ValueError(f"low_loss has navigation shape {ll.navigation_shape}, the core-loss signal "
                         f"{v.navigation_shape}; give the low-loss partner of the same acquisition.")
    if not (ll.energy[0] < 0 < ll.energy[-1]):
        raise EnergyRangeError(f"low_loss must contain the zero-loss peak (0 eV); it covers "
                               f"{ll.energy[0]:g}-{ll.energy[-1]:g} eV.")
    c = low_loss.estimate_zero_loss_peak_centre()
    z = c.data.compute() if hasattr(c.data, "compute") else np.asarray(c.data)
    z = np.asarray(z, dtype=np.float64).reshape(v.navigation_shape)
    if not np.isfinite(z).all():
        raise ValueError("The zero-loss peak centre could not be found in every low-loss spectrum.")
    return z


def _has_svm(element, edge):
    from .shipped import _registry

    return element is not None and any(m["name"] == f"{element.lower()}_{edge.lower()}_svm" for m in _registry())


def _make_job(element, edge, model, energy_calibrated, has_zlp, max_shift, remove_background, v, metals=None,
              o_k_reference=None):
    """Resolve the model of one (element, edge) and check the signal holds what it needs.

    ``model="auto"`` (the default): the shipped SVM where it applies (a shipped SVM for the element and
    edge, a window and dispersion it accepts, no ``low_loss=``, ``metals=True`` or
    ``o_k_reference=True``, which only the valence models use), else the valence model. The choice and
    its reason go to ``info["model_choice"]`` (and so to ``metadata.hyperspy_eels_ml``).
    """
    if not (isinstance(model, str) and model == "auto"):
        return _build_job(element, edge, model, energy_calibrated, has_zlp, max_shift, remove_background, v,
                          metals, o_k_reference)
    args = (energy_calibrated, has_zlp, max_shift, remove_background, v, metals, o_k_reference)
    has_val = edge == "L23" and element is not None and _has_valence(element)
    if not has_val:
        job = _build_job(element, edge, "svm", *args)
        job["info"]["model_choice"] = f"svm (auto: no valence model for {element} {_EDGE_NAMES.get(edge, edge)})"
        return job
    needs_val = [w for w, on in (("low_loss=", has_zlp), ("metals=True", bool(metals)),
                                 ("o_k_reference=True", bool(o_k_reference))) if on]
    reason, svm_exc = None, None
    hint = _metal_hint(element, v) if metals is None and not needs_val else None
    if hint:
        reason = f"a metal is possible ({hint}) and the SVM has oxide classes only"
    elif needs_val:
        reason = f"{' and '.join(needs_val)} need the valence model"
    elif not _has_svm(element, edge):
        reason = f"no shipped SVM for {element}"
    else:
        try:
            job = _build_job(element, edge, "svm", *args)
        except (EnergyRangeError, EnergyAxisError) as exc:
            svm_exc = exc
            reason = f"the SVM refused the signal: {exc}"
        else:
            job["info"]["model_choice"] = "svm (auto: the signal holds the SVM's window and dispersion)"
            return job
    try:
        job = _build_job(element, edge, "valence", *args)
    except (EnergyRangeError, EnergyAxisError) as exc:
        svm = "" if svm_exc is None else f" (The SVM, tried first by model='auto', also refused: {svm_exc})"
        raise type(exc)(f"{exc}{svm}") from None
    job["info"]["model_choice"] = f"valence (auto: {reason})"
    return job


def _build_job(element, edge, model, energy_calibrated, has_zlp, max_shift, remove_background, v, metals=None,
               o_k_reference=None):
    kind = model
    e, d = v.energy, v.dispersion
    if kind == "valence" or isinstance(model, ValenceModel):
        ok_ref = _o_k_job(element, o_k_reference, energy_calibrated, has_zlp, v, remove_background, max_shift)
        calibrated = bool(energy_calibrated) or has_zlp or ok_ref is not None
        # shape alone does not separate a metal's broad white line from a broadened oxide
        # spectrum: the metal end member needs evidence (oxygen absent, or the chemical shift)
        use_metals, metal_rule, metals_why = _metal_admission(metals, v, calibrated, ok_ref, bool(has_zlp)
                                                              or bool(energy_calibrated))
        vm, transport, info = _resolve_valence(model if isinstance(model, ValenceModel) else "valence", element,
                                               oxides_only=not use_metals)
        info = dict(info)
        vspec = vm.spec_
        has_metal = any(float(x) == 0.0 for x in vspec.valences)
        if metal_rule is not None and not has_metal:
            metal_rule, metals_why = None, "the model has no metallic end member"
        elif has_metal and not use_metals:  # no oxide-only model (Ni): the metal is conditioned out, or kept
            if metals is False or metals_why.startswith("not admitted: metadata"):
                metal_rule = dict(exclude=True, declared_metals=False, ok_window=False, axis_calibrated=False)
                metals_why += " (no oxide-only model: the metal's fraction set to 0 and the others renormalised)"
            elif not o_k_window_covered(e):
                metals_why = ("kept: the model has a single oxide end member and nothing measures oxygen ("
                              + metals_why + ")")
        if max_shift is not None:
            vspec = vspec.__class__(**dict(vspec.to_dict() | {"max_shift": float(max_shift)},
                                           **{k: tuple(vspec.to_dict()[k]) for k in
                                              ("end_members", "valences", "window", "onset_range")}))
        what = f"classify_oxidation ({vspec.element} {edge_lines(vspec.element)[2]} valence model)"
        if d > vspec.max_dispersion:
            raise EnergyAxisError(f"The signal's dispersion {d:g} eV/channel is coarser than the {vspec.max_dispersion:g} "
                                  "eV/channel the valence model accepts: the white lines are not resolved.")
        avoid, strict = _edges_to_avoid(vspec, v, remove_background, what) if remove_background else ((), True)
        fspec = vspec.feature_spec(e, remove_background, what=what, avoid=avoid, strict=strict)
        if remove_background:
            info["background_window_eV"] = [round(x, 2) for x in fspec.background_range]
            bg0 = vspec.feature_spec(e, remove_background, what=what).background_range[0]
            info["edges_avoided"] = [f"{n} ({x:g} eV)" for n, x in avoid
                                     if bg0 - EDGE_CLEARANCE < x < vspec.onset_range[0]]
        need = (fspec.background_range[0] if remove_background else fspec.crop_range[0], fspec.crop_range[1])
        if ok_ref is not None:  # the O K region and its pre-edge window
            need = (min(need[0], fspec.search_range[0] - ok_ref[2] - 2.0 - 9.5), need[1])
            info["o_k_pre_peak_reference_eV"] = ok_ref[0]
        need = (max(need[0], e[0]), min(need[1], e[-1]))
        if metal_rule is not None and metal_rule["ok_window"]:  # the O K jump test needs 495-560 eV
            metal_rule["l_from"] = need[0]
            need = (min(need[0], max(OK_PRE[0] - 1.0, e[0])), need[1])
        info["metals"] = metals_why
        info = dict(info, energy_calibrated=calibrated, chemical_shift=(
            "ZLP of low_loss" if has_zlp else "calibrated axis" if energy_calibrated else
            f"O K pre-peak as reference ({ok_ref[0]:.1f} eV)" if ok_ref is not None else "not used (shape only)"))
        nc = len(compounds_for(vspec.element, vspec.end_members))
        k = len(vspec.end_members)
        fallback = None
        if use_metals and metal_rule is not None and isinstance(transport, str):
            # pixels whose calibration is not trusted fall back to the oxide model (shape only)
            try:
                ox, ox_path, _ = _resolve_valence("valence", vspec.element, oxides_only=True)
            except (ValueError, OSError):
                ox = None
            # the oxide model reads the same aligned window (its own NNLS inputs, if hybrid, come from it)
            if ox is not None and ox_path != transport and ox.spec_.n_shape == vspec.n_shape \
                    and tuple(ox.spec_.window) == tuple(vspec.window) and ox.spec_.dispersion == vspec.dispersion:
                fallback = ox_path
                info["fallback"] = os.path.basename(ox_path)
        return dict(kind="valence", element=vspec.element, edge="L23", spec=fspec, vspec=vspec, model=vm,
                    transport=transport, info=info, need=need, calibrated=calibrated, n_out=k + nc + 8,
                    fallback=fallback, ok=ok_ref, metal_rule=metal_rule,
                    spec_json=json.dumps({"fspec": fspec.to_dict(), "vspec": vspec.to_dict()}))
    if has_zlp:
        raise ValueError("low_loss= is used by the valence models (model='valence' or 'auto'); the SVM/CNN "
                         "classifiers take energy_calibrated=True instead.")
    ec = energy_calibrated
    if ec is None and not isinstance(model, OxidationClassifier) and str(model) in ("svm", "cnn", "auto"):
        ec = False
    clf, transport, info = _resolve_model(kind, element, edge, ec)
    spec = clf.spec
    if max_shift is not None:
        spec = spec.replace(max_shift=float(max_shift))
    what = f"classify_oxidation ({spec.element} {_EDGE_NAMES[spec.edge]} model)"
    if d > spec.max_dispersion:
        raise EnergyAxisError(
            f"The signal's dispersion {d:g} eV/channel is much coarser than the model's {spec.dispersion:g} "
            f"eV/channel (at most {spec.max_dispersion:g} eV/channel is accepted): the white-line shapes are "
            "not resolved. Acquire with a finer dispersion.")
    need = (spec.background_range[0] if remove_background else spec.crop_range[0], spec.crop_range[1])
    half = 0.5 * d
    if need[0] < e[0] - half or need[1] > e[-1] + half:
        how = ("edge-aligned, calibration errors up to "
               f"+-{spec.max_shift:g} eV" if not spec.energy_calibrated else "calibrated axis")
        bg = (f"pre-edge background window {spec.background_range[0]:.1f}-{spec.background_range[1]:.1f} eV + "
              if remove_background else "")
        hint = " For narrow windows use model='valence' (L3 and L2 with a few eV either side)." \
            if spec.edge == "L23" and _has_valence(spec.element) else ""
        raise EnergyRangeError(
            f"{what} needs the energy range {need[0]:.1f}-{need[1]:.1f} eV ({bg}{spec.element} "
            f"{_EDGE_NAMES[spec.edge]} window, {how}), but the signal covers {e[0]:g}-{e[-1]:g} eV. "
            "Use a signal that contains this range"
            + (", pass a smaller max_shift" if not spec.energy_calibrated else "")
            + (", or remove_background=False for background-subtracted data." if remove_background else ".")
            + hint)
    nc = len(spec.classes)
    return dict(kind="svm", element=spec.element, edge=spec.edge, spec=spec, clf=clf, transport=transport,
                info=info, need=need, calibrated=spec.energy_calibrated, n_out=nc + 3, spec_json=spec.to_json())


def _metal_hint(element, v):
    """Why ``model="auto"`` should not give a signal to an oxide-only SVM, or None.

    Only metals in ``metadata.Sample.elements``, or no O K jump (:mod:`.oxygen`) shown in at least a
    quarter of the first spectra and measured in none (one small compute for lazy data).
    """
    from .oxygen import ABSENT, PRESENT, o_k_evidence

    declared = declared_oxygen(_sample_elements(v.signal))
    if declared == "metals":
        return "metadata.Sample.elements lists only metals"
    if declared == "oxygen" or not o_k_window_covered(v.energy):
        return None
    rel, _, state = o_k_evidence(_first_spectra(v.data), v.energy, element)
    absent = state == ABSENT
    if absent.mean() >= 0.25 and not (state == PRESENT).any():
        return (f"no O K jump in {absent.sum()} of the first {state.size} spectra and none measured: at most "
                f"{np.nanmax(rel[absent]):.3f} of the white-line jump")
    return None


def _metal_admission(metals, v, calibrated, ok_ref, axis_calibrated):
    """``(use_metal_model, per-pixel rule or None, reason)`` of the valence models' metallic end member.

    ``metals=True``/``False``: everywhere / nowhere (the user's choice). ``metals=None`` (auto): O in
    ``metadata.Sample.elements`` excludes the metal; a list of metals only admits it; else, when the
    window holds the O K edge (495-560 eV) or the chemical shift is measured, each pixel decides
    (:func:`hyperspy_eels_ml.oxidation.kernels._metal_pixels`); else the metal is not admitted.
    """
    if metals is not None:
        m = bool(metals)
        return m, None, ("admitted everywhere (metals=True)" if m else "not admitted (metals=False)")
    declared = declared_oxygen(_sample_elements(v.signal))
    if declared == "oxygen":
        return False, None, "not admitted: metadata.Sample.elements lists O"
    ok_win = o_k_window_covered(v.energy)
    if declared == "metals":
        return True, dict(declared_metals=True, ok_window=ok_win, axis_calibrated=axis_calibrated), \
            "admitted: metadata.Sample.elements lists only metals" + (
                " (pixels with a measured O K jump excepted)" if ok_win else "")
    if not (ok_win or axis_calibrated):
        return False, None, (
            f"not admitted: the window ({v.energy[0]:g}-{v.energy[-1]:g} eV) does not hold the O K edge "
            f"({OK_PRE[0]:g}-{OK_POST[1]:g} eV), metadata.Sample.elements is not set and the chemical shift is "
            "not measured" + (" (the O K pre-peak that calibrates it means oxygen)" if ok_ref is not None else "")
            + "; shape alone misreads oxides as metals (metals=True forces it)")
    parts = []
    if ok_win:
        parts.append("admitted where the O K jump is below 10 % of the white-line jump (3 sigma), excluded where "
                     "it is measured")
    if axis_calibrated:
        parts.append(("where O K decides nothing: " if ok_win else "") + "admitted where the calibrated onset is "
                     "trusted")
    return True, dict(declared_metals=False, ok_window=ok_win, axis_calibrated=axis_calibrated), \
        "per pixel: " + "; ".join(parts) + "; otherwise not admitted (result.metal_admitted)"


def _sample_elements(signal):
    """``metadata.Sample.elements`` as a list (None when not set)."""
    try:
        els = signal.metadata.get_item("Sample.elements", None)
    except Exception:  # pragma: no cover - metadata without get_item
        els = None
    return list(els) if els else None


def _edges_to_avoid(vspec, v, remove_background, what):
    """Other elements' edges the pre-edge window must avoid, and whether failing to is an error.

    With ``metadata.Sample.elements`` set: every major edge of the other elements
    (no clean window -> :class:`EnergyRangeError`). Without: the strong L2,3/M4,5
    white-line edges of any element in the default window or between it and the L3
    onset that the data show (an excess over the power law fitted just below the
    tabulated onset, on the median of the first spectra); no clean window -> a warning.
    """
    from .valence import other_edges

    e = v.energy
    els = _sample_elements(v.signal)
    if els is not None:
        return other_edges(vspec.element, els, (e[0], e[-1])), True
    bg0 = vspec.feature_spec(e, remove_background, what=what).background_range[0]
    cand = other_edges(vspec.element, None, (max(e[0], bg0 - EDGE_CLEARANCE), vspec.onset_range[0]))
    if not cand:
        return (), False
    sample = _first_spectra(v.data)
    return [c for c in cand if _edge_present(sample, e, c[1])], False


def _first_spectra(data, n=64):
    """Up to ``n`` spectra of the first navigation row, as numpy (one small compute for lazy data)."""
    x = data
    while x.ndim > 2:
        x = x[0]
    x = x[None] if x.ndim == 1 else x[:n]
    return np.asarray(x.compute() if hasattr(x, "compute") else x, dtype=np.float64)


def _edge_present(spectra, energy, onset, pre=(10.0, 1.0), post=(1.0, 6.0), threshold=0.15):
    """Whether the median spectrum rises above its pre-edge power law just past ``onset`` (relative excess)."""
    y = np.median(spectra, axis=0)
    b = (energy >= onset - pre[0]) & (energy <= onset - pre[1])
    a = (energy >= onset + post[0]) & (energy <= onset + post[1])
    if b.sum() < 4 or a.sum() < 2 or np.any(y[b] <= 0):
        return False
    c = np.polyfit(np.log(energy[b]), np.log(y[b]), 1)
    bg = np.exp(np.polyval(c, np.log(energy[a])))
    return bool(np.mean(y[a] - bg) > threshold * np.mean(bg))


def _o_k_job(element, o_k_reference, energy_calibrated, has_zlp, v, remove_background, max_shift):
    """``(pre_peak_eV, d_min, d_max)`` when the O K pre-peak serves as the energy reference, else None."""
    from .valence import o_k_reference as _table, valence_spec

    if o_k_reference is False or energy_calibrated or has_zlp:
        return None
    ref = _table(element)
    if ref is None:
        if o_k_reference:
            raise ValueError(f"No O K pre-peak reference for {element} in the white-line table.")
        return None
    vs = valence_spec(element, metals=False)
    # the O K window of an L3 onset at the tabulated positions must fit (pixels further off get no reference)
    lo = vs.onset_range[0] - ref[1][1] - 2.0 - 9.0
    if v.energy[0] > lo:
        if o_k_reference:
            raise EnergyRangeError(f"o_k_reference=True needs the O K edge and 9 eV below it: the signal starts at "
                                   f"{v.energy[0]:g} eV, {lo:.1f} eV is needed.")
        return None
    return (ref[0], ref[1][0], ref[1][1])


def _check_element(element):
    from ..simulation.oxidation import white_line_parameters

    p = white_line_parameters()
    elements = sorted({s["element"] for s in p["species"].values()})
    if element not in elements:
        raise ParameterError(f"Unknown element {element!r}; elements with white-line references: {elements}.")
