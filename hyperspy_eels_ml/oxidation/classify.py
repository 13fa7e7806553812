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

Layout, by layer: :mod:`.shipped` (the registry, :func:`available_models`, model
resolution), :mod:`.jobs` (one job per element and edge, the energy range each
needs, checked before anything is computed), :mod:`.kernels` (the block
functions run inside dask tasks), :mod:`.assemble` (signals, provenance, masks,
the L2,3 x O K combination) and this module (the public function).
"""

from __future__ import annotations

import json
import time

import dask
import dask.array as da
import numpy as np

from .._shared import validate_eels, warn
from .._shared.batch import map_spectra
from .._shared.exceptions import ParameterError
from .classifier import _edge_key
from .result import OxidationResult, OxidationResults
from .assemble import _combine_edges, _svm_result, _valence_result
from .jobs import _check_element, _make_job, _models_per_edge, _rechunk_navigation, _zlp_centres
from .kernels import _jobs_block
from .shipped import (  # noqa: F401  (_MODELS_DIR, _registry, _resolve_*: re-exported for scripts)
    _MODELS_DIR,
    _registry,
    _resolve_model,
    _resolve_valence,
    available_models,
)

__all__ = ["classify_oxidation", "OxidationResult", "OxidationResults", "available_models"]


def classify_oxidation(
    signal,
    element=None,
    edge="L23",
    model="auto",
    energy_calibrated=None,
    remove_background=True,
    min_snr=5.0,
    max_shift=None,
    navigation_mask=None,
    low_loss=None,
    metals=None,
    o_k_reference=None,
    valence_estimator="unbiased",
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
        ``model="valence"`` also ``"Co"``, ``"Ni"``, ``"Cu"``, ``"Ti"``, ``"Ce"``
        (its M4,5 lines; priors only) and the metals (see :func:`available_models`).
        A list (``["Fe", "Mn"]``) classifies
        each element from its own edge in one pass and returns an
        :class:`OxidationResults` dict. Taken from the model when ``model`` is
        a classifier or a file. Not given: the elements of
        ``metadata.Sample.elements`` that have a shipped model (one symbol, or a
        list when several do; recorded as ``element_source`` in the provenance).
    edge : {"L23", "OK", "both"}
        Metal L2,3 white lines (Ce: its M4,5 white lines), the O K edge (Fe only), or both: the L2,3 and
        O K probabilities are multiplied (independent evidence) and renormalised.
    model : {"svm", "cnn", "valence", "auto"}, OxidationClassifier, ValenceModel, str or dict
        Shipped model kind, a fitted :class:`OxidationClassifier` or
        :class:`~hyperspy_eels_ml.oxidation.valence.ValenceModel`, or the path of
        a saved classifier. ``"valence"``: end-member fractions (metal
        included), a continuous mean valence with a 68 % interval and compound
        probabilities from any window holding the L3 and L2 lines (a few eV
        either side); it uses the chemical shift when the axis is calibrated
        (``energy_calibrated=True`` or ``low_loss=``). ``"auto"`` (default):
        the shipped SVM where it applies (Fe and Mn, a window and dispersion it
        accepts: its result is then exactly that of ``model="svm"``), else the
        valence model: narrow windows (published references, about 631-665 eV
        for Mn), elements without an SVM (Co, Ni, Cu, Ti, Ce), ``low_loss=``,
        ``metals=True``, ``o_k_reference=True``, or a possible metal (see
        ``metals``: the SVMs have oxide classes only). The choice and its reason are
        in ``result.model_info["model_choice"]`` and the results'
        ``metadata.hyperspy_eels_ml``. With ``edge="both"`` (two SVMs whose
        probabilities are multiplied) ``"auto"`` means ``"svm"``, and a dict
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
        Valence models: admit the metallic end member (Fe0, Mn0, Co0, Ni0, Cu0).
        ``True``/``False``: everywhere / nowhere. Default (auto): only on
        evidence, because shape alone does not tell a metal's broad white line
        from a broadened oxide spectrum (real MnO and LaMnO3 read as Mn0):
        ``metadata.Sample.elements`` listing O excludes it and listing only
        metals admits it; when the window holds the O K edge (495-560 eV) each
        pixel decides: an O K jump of at least 10 % of the white-line jump
        (5 sigma) excludes the metal, one bounded below 10 % (3 sigma) admits it;
        where O K decides nothing the metal is admitted only where a calibrated
        chemical shift (``energy_calibrated=True`` or ``low_loss=``) is trusted.
        Narrow windows without any of this: no metal (``model_info["metals"]``
        says why). Elements without an oxide-only model (Ni) keep the metal
        unless oxygen is measured or declared (then its fraction is set to 0 and
        the others renormalised). ``result.metal_admitted`` and
        ``result.o_k_jump`` map the decision. With ``model="auto"`` the SVM
        (oxide classes only) is skipped when only metals are declared or at
        least a quarter of the first spectra (the first row of an SI) show no
        O K jump and none shows one.
    o_k_reference : bool, optional
        Valence models of Mn and Fe: use the O K pre-peak of the same spectrum
        as the energy reference (the 3d-oxide pre-peak lies within about
        +-0.4 eV of 530.6 eV), i.e. the L3 onset to O K pre-peak distance.
        Default: when the window holds the O K edge and nothing else calibrates
        the axis. A pixel calibrated this way holds oxygen: the oxide model reads it.
    valence_estimator : {"unbiased", "posterior_mean"}
        Valence models: what ``mean_valence`` reports. ``"unbiased"`` (default):
        the networks' posterior mean with its shrinkage toward the middle valence
        undone (classical calibration on held-out simulations: slope of predicted
        on true valence 0.93-1.05 instead of 0.43-0.83, 68 % intervals recalibrated;
        pure end members read at their valence on average, with a larger spread).
        ``"posterior_mean"``: the minimum-squared-error estimate (smaller held-out
        error, pulled toward the middle where the shape is ambiguous: a pure Mn4+
        reads about 3.65 on held-out simulations). ``fractions`` are the posterior
        means in both cases. See the user guide, "Estimator".
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
    element_source = "argument"
    if element is None and (model is None or isinstance(model, str) and model in ("auto", "svm", "cnn", "valence")):
        from .jobs import _sample_elements

        modelled = {m["element"] for m in available_models()}
        usable = [el for el in (_sample_elements(signal) or []) if el in modelled]
        if usable:
            element = usable[0] if len(usable) == 1 else usable
            element_source = "metadata.Sample.elements"
    multi = element is not None and not isinstance(element, str)
    elements = list(element) if multi else [element]
    if multi and (not elements or len(set(elements)) != len(elements)):
        raise ParameterError(f"element must be one symbol or a list of distinct symbols, got {element!r}.")
    for el in elements:
        if el is not None:
            _check_element(el)
    edges = ["L23", "OK"] if edge_in.lower() == "both" else [_edge_key(edge)]
    if multi and len(edges) > 1:
        raise ParameterError("edge='both' takes one element; for several elements use edge='L23'.")
    if valence_estimator not in ("unbiased", "posterior_mean"):
        raise ParameterError(f"valence_estimator must be 'unbiased' or 'posterior_mean', got {valence_estimator!r}.")
    if low_loss is not None and energy_calibrated is False:
        raise ParameterError("low_loss= calibrates the axis with the zero-loss peak; do not also pass "
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
    for j in jobs:
        why = j["info"].get("metals") or ""
        if metals is None and why.startswith("not admitted: the window"):
            el = j["element"]
            warn(f"classify_oxidation ({el}): the metallic end member ({el}0) is not considered: "
                          f"{why[len('not admitted: '):].split('; shape alone')[0]}, and shape alone misreads oxides as "
                          "metals. If the sample may be metallic, list only metals in metadata.Sample.elements "
                          "(admits the metal), pass energy_calibrated=True or low_loss= (the chemical shift "
                          "decides), or metals=True (shape only).")
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
        warn(f"classify_oxidation: the spectra ({d:g} eV/channel) are resampled to the model's "
                      f"{jobs[0]['spec'].dispersion:g} eV/channel grid.")
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
    for j in jobs:
        if j["kind"] == "valence":
            j["estimator"] = valence_estimator
            j["info"]["valence_estimator"] = valence_estimator if j["model"].deshrink_ else "posterior_mean"
    jobs_json = json.dumps([{k: j.get(k) for k in ("kind", "spec_json", "i0", "i1", "calibrated", "fallback", "ok",
                                                   "estimator", "metal_rule")} for j in jobs])
    out = map_spectra(data, _jobs_block, int(sum(widths)), np.float32, extra_args=tuple(transports),
                      block_size=block_size, energy=energy, jobs_json=jobs_json, min_snr=min_snr,
                      remove_background=remove_background, has_zlp=zlp is not None)
    if single:
        out = out[0]
    mask = v.mask
    if mask is not None and single:
        mask = np.asarray(mask).reshape(())
    lazy = v.lazy if lazy_output is None else check_bool("lazy_output", lazy_output)
    params = dict(element=element, element_source=element_source, edge=edge_in, model=model if isinstance(model, str) else repr(model),
                  energy_calibrated=energy_calibrated, low_loss=low_loss is not None,
                  remove_background=remove_background, min_snr=min_snr, max_shift=max_shift,
                  valence_estimator=valence_estimator,
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
        res.compute(show_progressbar=show_progressbar)  # also warns about masking (result.warn_background_failures)
    return res
