"""``classify_oxidation``: per-pixel oxidation state from white lines or the O K edge.

Pipeline (the same feature code as training, see
:mod:`hyperspy_eels_ml.oxidation.preprocess`)::

    signal --validate--> crop to [pre-edge window, edge window]
           --per dask block: exspy remove_background (PowerLaw, fast) on the
             pre-edge window, resample to the model grid, find the edge (anchor),
             cut the model window (aligned on the spectrum's own edge, or at fixed
             energies when energy_calibrated=True), edge SNR, model--> probabilities
           --> OxidationResult (probabilities, labels, mean valence, edge position, mask)

Lazy input gives lazy output (nothing is computed at call time); each dask
worker loads a shipped or saved model once per file version (``_shared.cache.get_cached_file``).
"""

from __future__ import annotations

import json
import os
import time
import warnings

import dask
import dask.array as da
import numpy as np

from .._shared import (
    EnergyAxisError,
    EnergyRangeError,
    check_finite_block,
    navigation_map,
    per_pixel_spectra,
    record_provenance,
    validate_eels,
)
from .._shared.batch import map_spectra
from .._shared.exceptions import ParameterError
from .classifier import OxidationClassifier, _edge_key, prepare_arrays
from .preprocess import FeatureSpec, extract_features
from .result import _EDGE_NAMES, OxidationResult, OxidationResults
from .valence import ValenceModel, compounds_for

__all__ = ["classify_oxidation", "OxidationResult", "OxidationResults", "available_models"]

_MODELS_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "models")


# ----------------------------------------------------------------------------
# shipped models
# ----------------------------------------------------------------------------
def _registry():
    with open(os.path.join(_MODELS_DIR, "registry.json")) as f:
        return [m for m in json.load(f)["models"] if m.get("capability") == "classify_oxidation"]


def available_models():
    """Shipped oxidation-state models.

    Returns
    -------
    list of dict
        One entry per model: ``name``, ``element``, ``edge``, ``model``
        (``"svm"``/``"cnn"``/``"valence"``), ``variants`` (SVM/CNN:
        ``"aligned"`` for any energy calibration, ``"calibrated"`` for absolute
        energies; valence models serve both), ``classes``, the held-out
        synthetic accuracy (or valence error) from the model card, and for the
        valence models ``end_members`` and ``supported_by`` (which end members
        rest on reference spectra and which on priors).
    """
    out = []
    for m in _registry():
        with open(os.path.join(_MODELS_DIR, m["model_card"])) as f:
            card = json.load(f)
        if card.get("model") == "valence":
            from ..simulation.oxidation import white_line_parameters

            sp = white_line_parameters()["species"]
            priors = [s for s in card["end_members"] if "prior" in str(sp[s]["L3"][2])]
            out.append({
                "name": m["name"], "element": card["element"], "edge": card["edge"], "model": "valence",
                "variants": ["any calibration (chemical shift used when calibrated)"],
                "classes": card["compounds"], "end_members": card["end_members"],
                "heldout_accuracy": {"compound_accuracy_pure": card["heldout"]["compound_accuracy_pure"]},
                "heldout_valence_mae": card["heldout"]["valence_mae"], "metals": card.get("metals", True),
                "supported_by": {"references": [s for s in card["end_members"] if s not in priors],
                                 "priors": priors},
            })
            continue
        out.append({
            "name": m["name"], "element": card["element"], "edge": card["edge"], "model": card["model"],
            "variants": sorted(card["variants"]),
            "classes": next(iter(card["variants"].values()))["classes"],
            "heldout_accuracy": {k: v["heldout"]["accuracy"] for k, v in card["variants"].items()},
        })
    return out


def _shipped_path(element, edge, kind, energy_calibrated):
    name = f"{element.lower()}_{edge.lower()}_{kind}"
    reg = {m["name"]: m for m in _registry()}
    if name not in reg:
        have = []
        for m in reg.values():
            el, ed, kd = m["name"].split("_")[:3]
            have.append(f"{el.capitalize()} {_EDGE_NAMES.get(ed.upper(), ed)} ({kd})")
        have = sorted(have)
        raise ValueError(
            f"No shipped {kind.upper()} model for {element} {_EDGE_NAMES.get(edge, edge)}; shipped models: "
            f"{', '.join(have)}. Train one with hyperspy_eels_ml.oxidation.OxidationClassifier and pass it "
            "(or its saved file) as model=."
        )
    variant = "calibrated" if energy_calibrated else "aligned"
    files = [f for f in reg[name]["files"] if f"_{variant}." in f and not f.endswith(".json")]
    if not files:
        raise ValueError(f"The shipped model {name!r} has no {variant!r} variant; use "
                         f"energy_calibrated={not energy_calibrated}.")
    return os.path.join(_MODELS_DIR, files[0]), name, variant


def _load_model_file(path):
    """The classifier saved at ``path``, loaded once per process and per file version.

    Cached by (resolved path, size, mtime_ns): a file overwritten in place is reloaded.
    """
    from .._shared.cache import get_cached_file

    return get_cached_file("oxidation", path, OxidationClassifier.load)


def _resolve_model(model, element, edge, energy_calibrated):
    """-> (classifier, transport, info). ``transport`` is a path (str) or the classifier itself."""
    if isinstance(model, OxidationClassifier):
        if not model.is_fitted:
            raise ValueError("The OxidationClassifier passed as model= is not fitted.")
        clf, transport, info = model, model, {"source": "user OxidationClassifier (in memory)"}
    elif isinstance(model, str | os.PathLike) and str(model) in ("svm", "cnn"):
        if element is None:
            raise ValueError("Give element= (e.g. 'Fe' or 'Mn') to use a shipped model.")
        path, name, variant = _shipped_path(element, edge, str(model), bool(energy_calibrated))
        clf, transport = _load_model_file(path), path
        info = {"source": "shipped", "name": name, "variant": variant, "file": os.path.basename(path),
                "sha256": _sha256(path)}
    elif isinstance(model, str | os.PathLike) and str(model).endswith((".npz", ".keras")):
        path = os.fspath(model)
        if not os.path.exists(path):
            raise FileNotFoundError(f"No model file {path!r}.")
        clf, transport = _load_model_file(path), os.path.abspath(path)
        info = {"source": "file", "file": os.path.abspath(path), "sha256": _sha256(path)}
    else:
        raise ValueError(f"Unknown model {model!r}: use 'svm', 'cnn', a fitted OxidationClassifier or the path "
                         "of a saved one (.npz / .keras).")
    sp = clf.spec
    if element is not None and sp.element != element:
        raise ValueError(f"The model classifies {sp.element}, not {element}.")
    if edge is not None and sp.edge != edge:
        raise ValueError(f"The model uses the {_EDGE_NAMES[sp.edge]} edge, not {_EDGE_NAMES[edge]}.")
    if energy_calibrated is not None and bool(energy_calibrated) != sp.energy_calibrated:
        raise ValueError(f"The model was trained with energy_calibrated={sp.energy_calibrated}; "
                         f"energy_calibrated={energy_calibrated} was asked for.")
    info.update(element=sp.element, edge=sp.edge, classes=list(sp.classes), kind=clf.model,
                energy_calibrated=sp.energy_calibrated)
    return clf, transport, info


def _sha256(path):
    from .._shared.cache import file_sha256

    return file_sha256(path)


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


# ----------------------------------------------------------------------------
# block function (numpy; runs in dask tasks)
# ----------------------------------------------------------------------------
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
    valid = (snr >= min_snr) & ~at_boundary & np.isfinite(f).all(axis=1)
    out = np.full((x.shape[0], nc + 3), np.nan, dtype=np.float32)
    out[:, nc] = anchor
    out[:, nc + 1] = snr
    out[:, nc + 2] = valid
    if valid.any():
        out[valid, :nc] = clf.predict_proba_features(f[valid])
    return out


# ----------------------------------------------------------------------------
# public function
# ----------------------------------------------------------------------------
def classify_oxidation(
    signal,
    element=None,
    edge="L23",
    model="svm",
    energy_calibrated=None,
    remove_background=True,
    min_snr=5.0,
    max_shift=None,
    navigation_mask=None,
    low_loss=None,
    metals=None,
    o_k_reference=None,
    lazy_output=None,
    show_progressbar=None,
    block_size=None,
):
    """Classify the oxidation state of every spectrum from its white lines or O K edge.

    Implements the supervised classification of del-Pozo-Bueno et al.
    (Ultramicroscopy 221 (2021) 113190; 2023, 113828) and Chatzidakis & Botton
    (Sci. Rep. 9 (2019) 2126) with models trained on simulated references
    (:mod:`hyperspy_eels_ml.simulation`): a probabilistic SVM (Platt scaling)
    or a compact CNN. Works on single spectra, line scans and spectrum images,
    eager or lazy.

    Parameters
    ----------
    signal : exspy.signals.EELSSpectrum
        Core-loss spectra covering the edge and a pre-edge window (the error
        message says which range is needed).
    element : str or list of str
        ``"Fe"`` (SVM classes ``Fe2+`` wustite, ``Fe3O4`` magnetite, ``Fe3+``
        hematite) or ``"Mn"`` (``Mn2+``, ``Mn3+``, ``Mn4+``); with
        ``model="valence"`` also ``"Co"``, ``"Ni"``, ``"Cu"``, ``"Ti"`` and the metals
        (see :func:`available_models`). A list (``["Fe", "Mn"]``) classifies
        each element from its own edge in one pass and returns an
        :class:`OxidationResults` dict. Taken from the model when ``model`` is
        a classifier or a file.
    edge : {"L23", "OK", "both"}
        Metal L2,3 white lines, the O K edge (Fe only), or both: the L2,3 and
        O K probabilities are multiplied (independent evidence) and renormalised.
    model : {"svm", "cnn", "valence", "auto"}, OxidationClassifier, ValenceModel, str or dict
        Shipped model kind, a fitted :class:`OxidationClassifier` or
        :class:`~hyperspy_eels_ml.oxidation.valence.ValenceModel`, or the path of
        a saved classifier. ``"valence"``: end-member fractions (metal
        included), a continuous mean valence with a 68 % interval and compound
        probabilities from any window holding the L3 and L2 lines (a few eV
        either side); it uses the chemical shift when the axis is calibrated
        (``energy_calibrated=True`` or ``low_loss=``). ``"auto"``: ``"valence"``
        where shipped, else ``"svm"``. With ``edge="both"`` a dict
        ``{"L23": ..., "OK": ...}`` gives each edge its own model.
    energy_calibrated : bool, optional
        False (default for shipped models): each spectrum is aligned on its own
        edge maximum, so calibration errors up to ``max_shift`` (10 eV) do not
        matter; the chemical shift is then only reported (``edge_position``),
        not used. True: absolute energies are used (axis right within about
        +-1 eV, e.g. DualEELS). For a user classifier, its own setting.
    remove_background : bool
        Remove the pre-edge power law with exspy's ``remove_background``
        (``PowerLaw``, fast two-area estimate) first. False for data already
        background-subtracted.
    min_snr : float
        Finite, >= 0. Pixels whose edge maximum is below ``min_snr`` times the noise per
        0.2 eV channel are masked (vacuum, carbon film, too thin).
    max_shift : float, optional
        Largest calibration error searched for (eV; default 10 for aligned
        models). A smaller value needs a smaller energy range.
    navigation_mask : bool array, signal or "vacuum", optional
        Pixels to skip (True = excluded), navigation shape in array order;
        ``"vacuum"``: the shared relative-intensity vacuum mask. NaN/inf are
        accepted in masked pixels.
    metals : bool, optional
        Valence models: include the metallic end member (Fe0, Mn0, ...).
        Default: only when the chemical shift is known (``energy_calibrated=True``
        or ``low_loss=``), because shape alone does not tell a metal's broad
        white line from a broadened oxide spectrum (held-out simulations: 52-77 %
        of pure metals recognised; real MnO is called Mn0). Elements with a
        single oxide end member (Ni) always include the metal.
    o_k_reference : bool, optional
        Valence models of Mn and Fe: use the O K pre-peak of the same spectrum
        as the energy reference (the 3d-oxide pre-peak lies within about
        +-0.4 eV of 530.6 eV), i.e. the L3 onset to O K pre-peak distance.
        Default: when the window holds the O K edge and nothing else calibrates
        the axis.
    low_loss : EELSSpectrum, optional
        Low-loss partner (DualEELS, same navigation shape) whose zero-loss peak
        calibrates the axis per pixel: the absolute L3 onset (chemical shift)
        is then used by the valence models.
    lazy_output : bool, optional
        Default: lazy iff the input is lazy.
    show_progressbar : bool, optional
    block_size : int, optional
        Spectra per block for eager input (default: about 32 MB per block);
        lazy input keeps its navigation chunks (tiny ones are merged).

    Returns
    -------
    OxidationResult or OxidationResults
        ``probabilities``, ``classes``, ``labels`` (-1 where masked),
        ``mean_valence``, ``edge_position``, ``snr``, ``mask``, ``n_masked``,
        ``plot()``; valence models add ``fractions``, ``valence_uncertainty``
        and ``calibration_used``. A list of elements gives an
        :class:`OxidationResults` dict ``{element: OxidationResult}``.

    Raises
    ------
    EnergyRangeError
        The signal misses the edge or its pre-edge window (the needed range is named).
    EnergyAxisError
        Not an eV axis, or a dispersion much coarser than the model's.
    EmptySignalError
        Too few channels.
    ValueError
        Unknown element, edge or model.

    Notes
    -----
    The signal is resampled to the model's 0.2 eV grid (a warning says so when
    its dispersion differs). The user's signal is never modified. Provenance
    (parameters, model file and sha256, versions) is stored in
    ``metadata.hyperspy_eels_ml`` of every result signal.

    Examples
    --------
    >>> import hyperspy_eels_ml
    >>> from hyperspy_eels_ml.simulation import nanocube_core_shell_si
    >>> s, truth = nanocube_core_shell_si((24, 32))
    >>> res = s.classify_oxidation("Fe")
    >>> res.classes
    ['Fe2+', 'Fe3O4', 'Fe3+']
    """
    t0 = time.perf_counter()
    from .._shared.params import check_bool, check_float

    edge_in = str(edge)
    if isinstance(min_snr, bool) or not isinstance(min_snr, int | float | np.integer | np.floating) \
            or not np.isfinite(min_snr) or min_snr < 0:
        raise ParameterError(f"min_snr must be a finite number >= 0, got {min_snr!r}.")
    min_snr = float(min_snr)
    max_shift = check_float("max_shift", max_shift, min=0.0, allow_none=True)
    remove_background = check_bool("remove_background", remove_background)
    if energy_calibrated is not None:
        energy_calibrated = check_bool("energy_calibrated", energy_calibrated)
    multi = element is not None and not isinstance(element, str)
    elements = list(element) if multi else [element]
    if multi and (not elements or len(set(elements)) != len(elements)):
        raise ValueError(f"element must be one symbol or a list of distinct symbols, got {element!r}.")
    for el in elements:
        if el is not None:
            _check_element(el)
    edges = ["L23", "OK"] if edge_in.lower() == "both" else [_edge_key(edge)]
    if multi and len(edges) > 1:
        raise ValueError("edge='both' takes one element; for several elements use edge='L23'.")
    if low_loss is not None and energy_calibrated is False:
        raise ValueError("low_loss= calibrates the axis with the zero-loss peak; do not also pass "
                         "energy_calibrated=False.")
    models = _models_per_edge(model, edges)
    what0 = "classify_oxidation"
    v = validate_eels(signal, what=what0, min_channels=20, navigation_mask=navigation_mask)
    e = v.energy
    zlp = _zlp_centres(low_loss, v) if low_loss is not None else None
    jobs = []
    for el in elements:
        for ed in edges:
            jobs.append(_make_job(el, ed, models[ed], energy_calibrated, low_loss is not None, max_shift,
                                  remove_background, v, metals, o_k_reference))
    lo = min(j["need"][0] for j in jobs)
    hi = max(j["need"][1] for j in jobs)
    i0 = max(int(np.searchsorted(e, lo) - 1), 0)
    i1 = min(int(np.searchsorted(e, hi) + 2), e.size)
    for j in jobs:
        j["i0"] = max(int(np.searchsorted(e, j["need"][0]) - 1), i0) - i0
        j["i1"] = min(int(np.searchsorted(e, j["need"][1]) + 2), i1) - i0
    d = v.dispersion
    if any(j["kind"] == "svm" for j in jobs) and any(abs(d - j["spec"].dispersion) > 0.01 * j["spec"].dispersion
                                                     for j in jobs):
        warnings.warn(f"classify_oxidation: the spectra ({d:g} eV/channel) are resampled to the model's "
                      f"{jobs[0]['spec'].dispersion:g} eV/channel grid.", UserWarning, stacklevel=2)
    data, energy = v.data[..., i0:i1], e[i0:i1]
    single = data.ndim == 1
    if single:
        data = data[None]
        zlp = None if zlp is None else np.atleast_1d(zlp)
    if block_size is not None:
        from .._shared.params import check_int

        block_size = check_int("block_size", block_size, min=1)
    if v.lazy:
        data = _rechunk_navigation(data)
    if zlp is not None:
        zd = zlp[..., None].astype(data.dtype)
        if isinstance(data, da.Array):
            zd = da.from_array(zd, chunks=data.chunks[:-1] + ((1,),), name=False)
            data = da.concatenate([data, zd], axis=-1)
        else:
            data = np.concatenate([np.asarray(data), zd], axis=-1)
    transports = [j["transport"] if isinstance(j["transport"], str)
                  else dask.delayed(j["transport"], pure=True, traverse=False) for j in jobs]
    widths = [j["n_out"] for j in jobs]
    jobs_json = json.dumps([{k: j.get(k) for k in ("kind", "spec_json", "i0", "i1", "calibrated", "fallback", "ok")}
                            for j in jobs])
    out = map_spectra(data, _jobs_block, int(sum(widths)), np.float32, extra_args=tuple(transports),
                      block_size=block_size, energy=energy, jobs_json=jobs_json, min_snr=min_snr,
                      remove_background=remove_background, has_zlp=zlp is not None)
    if single:
        out = out[0]
    mask = v.mask
    if mask is not None and single:
        mask = np.asarray(mask).reshape(())
    lazy = v.lazy if lazy_output is None else check_bool("lazy_output", lazy_output)
    params = dict(element=element, edge=edge_in, model=model if isinstance(model, str) else repr(model),
                  energy_calibrated=energy_calibrated, low_loss=low_loss is not None,
                  remove_background=remove_background, min_snr=min_snr, max_shift=max_shift,
                  navigation_mask=navigation_mask if isinstance(navigation_mask, str) else navigation_mask is not None,
                  lazy_output=lazy_output)
    results, c = [], 0
    for j, w in zip(jobs, widths):
        cols = out[..., c : c + w]
        c += w
        build = _svm_result if j["kind"] == "svm" else _valence_result
        results.append(build(j, cols, mask, signal, single, v.navigation_shape, params, t0))
    if len(edges) > 1:
        res = _combine_edges(results[0], results[1], params)
    elif multi:
        res = OxidationResults({j["element"]: r for j, r in zip(jobs, results)})
    else:
        res = results[0]
    if not lazy:
        res.compute(show_progressbar=show_progressbar)
    return res


def _models_per_edge(model, edges):
    """``model`` per edge: one value for all, or a dict {"L23": ..., "OK": ...} (edge='both')."""
    if isinstance(model, dict):
        bad = sorted(set(model) - {"L23", "OK"})
        if bad or any(e not in model for e in edges):
            raise ValueError(f"model as a dict needs the keys {edges} ('L23', 'OK'), got {sorted(model)}.")
        return {e: model[e] for e in edges}
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


def _make_job(element, edge, model, energy_calibrated, has_zlp, max_shift, remove_background, v, metals=None,
              o_k_reference=None):
    """Resolve the model of one (element, edge) and check the signal holds what it needs."""
    kind = model
    if isinstance(model, str) and model == "auto":
        kind = "valence" if (edge == "L23" and element is not None and _has_valence(element)) else "svm"
    e, d = v.energy, v.dispersion
    if kind == "valence" or isinstance(model, ValenceModel):
        ok_ref = _o_k_job(element, o_k_reference, energy_calibrated, has_zlp, v, remove_background, max_shift)
        calibrated = bool(energy_calibrated) or has_zlp or ok_ref is not None
        # shape alone does not separate a metal's broad white line from a broadened oxide
        # spectrum (seen on real references): the metal end member needs the chemical shift
        use_metals = calibrated if metals is None else bool(metals)
        vm, transport, info = _resolve_valence(model if isinstance(model, ValenceModel) else "valence", element,
                                               oxides_only=not use_metals)
        vspec = vm.spec_
        if max_shift is not None:
            vspec = vspec.__class__(**dict(vspec.to_dict() | {"max_shift": float(max_shift)},
                                           **{k: tuple(vspec.to_dict()[k]) for k in
                                              ("end_members", "valences", "window", "onset_range")}))
        what = f"classify_oxidation ({vspec.element} L2,3 valence model)"
        if d > vspec.max_dispersion:
            raise EnergyAxisError(f"The signal's dispersion {d:g} eV/channel is coarser than the {vspec.max_dispersion:g} "
                                  "eV/channel the valence model accepts: the white lines are not resolved.")
        fspec = vspec.feature_spec(e, remove_background, what=what)
        need = (fspec.background_range[0] if remove_background else fspec.crop_range[0], fspec.crop_range[1])
        if ok_ref is not None:  # the O K region and its pre-edge window
            need = (min(need[0], fspec.search_range[0] - ok_ref[2] - 2.0 - 9.5), need[1])
            info["o_k_pre_peak_reference_eV"] = ok_ref[0]
        need = (max(need[0], e[0]), min(need[1], e[-1]))
        info = dict(info, energy_calibrated=calibrated, chemical_shift=(
            "ZLP of low_loss" if has_zlp else "calibrated axis" if energy_calibrated else
            f"O K pre-peak as reference ({ok_ref[0]:.1f} eV)" if ok_ref is not None else "not used (shape only)"))
        nc = len(compounds_for(vspec.element, vspec.end_members))
        k = len(vspec.end_members)
        fallback = None
        if use_metals and metals is None and isinstance(transport, str):
            # pixels whose calibration is not trusted fall back to the oxide model (shape only)
            try:
                ox, ox_path, _ = _resolve_valence("valence", vspec.element, oxides_only=True)
            except (ValueError, OSError):
                ox = None
            if ox is not None and ox_path != transport and ox.spec_.n_inputs == vspec.n_inputs:
                fallback = ox_path
                info["fallback"] = os.path.basename(ox_path)
        return dict(kind="valence", element=vspec.element, edge="L23", spec=fspec, vspec=vspec, model=vm,
                    transport=transport, info=info, need=need, calibrated=calibrated, n_out=k + nc + 6,
                    fallback=fallback, ok=ok_ref,
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


def _has_valence(element):
    return any(m["name"] == f"{element.lower()}_l23_valence" for m in _registry())


def _resolve_valence(model, element, oxides_only=False):
    if isinstance(model, ValenceModel):
        if not model.is_fitted:
            raise ValueError("The ValenceModel passed as model= is not fitted.")
        if element is not None and model.spec_.element != element:
            raise ValueError(f"The model is for {model.spec_.element}, not {element}.")
        return model, model, {"source": "user ValenceModel (in memory)", "element": model.spec_.element,
                              "edge": "L23", "kind": "valence"}
    if element is None:
        raise ValueError("Give element= (e.g. 'Mn', 'Fe' or ['Fe', 'Mn']) to use a shipped model.")
    name = f"{element.lower()}_l23_valence"
    reg = {m["name"]: m for m in _registry()}
    if oxides_only and name + "_oxide" in reg:
        name += "_oxide"
    if name not in reg:
        have = sorted(m["name"] for m in reg.values() if m["name"].endswith("_valence"))
        raise ValueError(f"No shipped valence model for {element}; shipped: {have}.")
    path = os.path.join(_MODELS_DIR, next(f for f in reg[name]["files"] if f.endswith(".npz")))
    from .._shared.cache import get_cached_file

    vm = get_cached_file("oxidation-valence", path, ValenceModel.load)
    return vm, path, {"source": "shipped", "name": name, "file": os.path.basename(path), "sha256": _sha256(path),
                      "element": element, "edge": "L23", "kind": "valence",
                      "end_members": list(vm.spec_.end_members)}


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
                                       job["calibrated"], zlp, job.get("fallback"), job.get("ok")))
    return np.concatenate(cols, axis=1)


def _valence_block(x, transport, energy, spec_json, min_snr, remove_background, calibrated, zlp, fallback=None,
                   ok=None):
    """Columns: fractions (k), compound probabilities (nc), valence, 68 % half-width, onset eV, SNR, valid,
    calibration used (1: the calibrated onset entered the model; 0: shape only).

    A calibrated onset more than 3 eV outside the end members' tabulated onsets
    is not trusted (an axis or ZLP partner that does not share the energy
    reference): such pixels fall back to shape only, and the result says so.
    """
    from .valence import ValenceSpec, _compound_probs, network_inputs, prepare_valence

    d = json.loads(spec_json)
    fspec, vspec = FeatureSpec.from_dict(d["fspec"]), ValenceSpec.from_dict(d["vspec"])
    from .._shared.cache import get_cached_file

    vm = get_cached_file("oxidation-valence", transport, ValenceModel.load) if isinstance(transport, str) \
        else transport
    k, nc = len(vspec.end_members), len(compounds_for(vspec.element, vspec.end_members))
    xs, es = prepare_valence(x, energy, fspec, remove_background)
    f, anchor, snr, at_boundary = extract_features(xs, es, fspec)
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
    out = np.full((len(f), k + nc + 6), np.nan, dtype=np.float32)
    out[:, k + nc + 2] = anchor
    out[:, k + nc + 3] = snr
    out[:, k + nc + 4] = valid
    out[:, k + nc + 5] = np.isfinite(onset_cal)
    groups = [(valid, vm, vspec)]
    if fallback is not None:
        ox = get_cached_file("oxidation-valence", fallback, ValenceModel.load)
        no_cal = valid & ~np.isfinite(onset_cal)
        groups = [(valid & np.isfinite(onset_cal), vm, vspec), (no_cal, ox, ox.spec_)]
    names = list(compounds_for(vspec.element, vspec.end_members))
    for sel, model, sp in groups:
        if not sel.any():
            continue
        fr, val, half = model.predict(network_inputs(f[sel], onset_cal[sel], sp))
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
        _nav_axes=list(parent.axes_manager.navigation_axes))


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
    for s_ in (f_sig, u_sig, c_sig):
        record_provenance(s_, "classify_oxidation", p, models=models_info, dependencies=_DEPS)
    return OxidationResult(
        **sig, fractions=f_sig, valence_uncertainty=u_sig, calibration_used=c_sig,
        end_members=list(vspec.end_members), classes=names,
        n_masked=masked.sum(), n_pixels=int(np.prod(nav_shape, dtype=np.int64)) if not single else 1,
        model_info=info, parameters=p, timings={"graph_or_compute": time.perf_counter() - t0},
        _nav_axes=list(parent.axes_manager.navigation_axes))


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


def _check_element(element):
    from ..simulation.oxidation import white_line_parameters

    p = white_line_parameters()
    elements = sorted({s["element"] for s in p["species"].values()})
    if element not in elements:
        raise ValueError(f"Unknown element {element!r}; elements with white-line references: {elements}.")


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
