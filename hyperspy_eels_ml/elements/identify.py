"""``identify_elements``: which elements have edges in every spectrum, with calibrated probabilities.

Pipeline per dask block (one model load per worker, numpy only, nothing
TensorFlow in the graph)::

    spectra --usable window, 1 eV grid, features (preprocess.py)-->
            --compact CNN (network.py, numpy) + per-element Platt calibration--> p(element)
            --power-law fit + jump test at tabulated onsets (evidence.py)--> SNR, jump, onset
    -> probabilities (NaN where not assessable or masked), assessable, evidence

An element is *assessable* in a spectrum when one of its Major edges lies in
the usable window at least 15 eV above its start and 30 eV below its end
(:func:`~.preprocess.report_assessable`; an edge closer to the start has no
pre-edge region); otherwise its probability is NaN and it is listed as not
assessable, never as absent, and :meth:`ElementsResult.explain` says why.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import threading
from dataclasses import dataclass, field

import numpy as np

from .._shared import (
    EnergyAxisError,
    EnergyRangeError,
    ParameterError,
    check_finite_block,
    compute,
    map_spectra,
    per_pixel_spectra,
    record_provenance,
    validate_eels,
)
from .._shared.cache import file_sha256, get_cached_file
from .._shared.docstrings import fill_doc
from .._shared.masks import VACUUM_THRESHOLD, auto_vacuum_mask_from_data
from .._shared.params import check_bool, check_float_range, check_int
from .._shared.results import LazyResult
from .coincidence import COINCIDENCE_EV, COINCIDENCE_MARGIN, removable_coincidences, resolve_coincidences
from .evidence import edge_evidence, edge_groups, per_element
from .network import MODEL_PATH, load_network
from .preprocess import (DISPERSION_RANGE, ENERGY_LIMITS, LABELS, MIN_WINDOW, embed, not_assessable_reason,
                         report_assessable,
                         preprocess_block, preprocess_segment)

__all__ = ["identify_elements", "ElementsResult", "Explanation", "FLAGS", "select_elements"]

N_EL = len(LABELS)
Z_OFFSET = 4  # Be
#: block output layout: probabilities, assessable (80 each), window lo, hi; with the per-pixel
#: evidence also snr, jump, measured onset (80 each) before the window
_P, _A, _S, _J, _O = (slice(k * N_EL, (k + 1) * N_EL) for k in range(5))
_N_OUT = 2 * N_EL + 2
_N_OUT_EV = 5 * N_EL + 2
_N_EV = 3 * N_EL + 2  # the evidence pass alone: snr, jump, onset, window

#: elements that deserve a caution when found
FLAGS = {
    "C": "possible contamination (carbon builds up under the beam)",
    "Ga": "possible preparation artefact (Ga implanted by FIB milling)",
    "Ar": "possible preparation artefact (Ar implanted by ion milling)",
    "Cu": "possible preparation artefact (Cu grid or holder)",
}
LOW_CONFIDENCE_EV = 100.0


#: spectra processed at once inside a block: bounds the temporaries (features, cumulative sums of the
#: evidence) to a few hundred MB per thread whatever the dask chunk size
SUB_BATCH = 1024


_BLAS_LOCK = threading.Lock()
_BLAS_STATE = {"users": 0, "limiter": None}


@contextlib.contextmanager
def _one_blas_thread():
    """BLAS limited to one thread while any block runs in this process (dask already runs one block
    per worker thread; OpenBLAS's own threads on top of that made the small products of the network
    3.5x slower per CPU-second on 2 cores). The limit is process-wide, so it is reference-counted
    across the worker threads and the previous setting is restored when the last block ends."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with _BLAS_LOCK:
        if _BLAS_STATE["users"] == 0:
            _BLAS_STATE["limiter"] = threadpool_limits(limits=1, user_api="blas")
        _BLAS_STATE["users"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_STATE["users"] -= 1
            if _BLAS_STATE["users"] == 0:
                _BLAS_STATE["limiter"].restore_original_limits()
                _BLAS_STATE["limiter"] = None


def _block(block, shift, mask=None, *, energy, model_path, tolerance, evidence=False, network=True):
    """Everything per spectrum of one block (one BLAS thread, :func:`_one_blas_thread`)."""
    with _one_blas_thread():
        return _block_batches(block, shift, mask, energy=energy, model_path=model_path, tolerance=tolerance,
                              evidence=evidence, network=network)


def _block_batches(block, shift, mask=None, *, energy, model_path, tolerance, evidence=False, network=True):
    """Everything per spectrum of one block, in sub-batches of ``SUB_BATCH``.

    ``network`` and ``evidence`` select the parts: probabilities + assessable (``(n, 2*80 + 2)``),
    both (``(n, 5*80 + 2)``) or the evidence alone (``(n, 3*80 + 2)``); the last two columns are
    the usable window.
    """
    n_out = (2 * N_EL if network else 0) + (3 * N_EL if evidence else 0) + 2
    n = block.shape[0]
    if n > SUB_BATCH:
        parts = []
        for s0 in range(0, n, SUB_BATCH):
            sl = slice(s0, s0 + SUB_BATCH)
            sh = shift[sl] if np.ndim(shift) else shift
            parts.append(_block_batches(block[sl], sh, None if mask is None else mask[sl], energy=energy,
                                model_path=model_path, tolerance=tolerance, evidence=evidence, network=network))
        return np.concatenate(parts)
    out = np.full((n, n_out), np.nan, dtype=np.float32)
    use = np.ones(n, bool) if mask is None else ~np.asarray(mask, bool)
    if not use.any():
        return out
    # no boolean-index copy of the block when nothing is masked (the float64 cast copies once)
    data = check_finite_block(np.asarray(block if use.all() else block[use], dtype=np.float64))
    x, g, g0, lo, hi, _ = preprocess_segment(data, energy, np.asarray(shift, np.float64).reshape(-1)[use]
                                             if np.ndim(shift) else float(shift))
    rows = np.flatnonzero(use)
    res = out[rows]
    col = 0
    if network:
        ass = report_assessable(lo, hi)
        ok = np.isfinite(lo)
        net = get_cached_file("elements_npz", model_path, load_network)
        p = np.full((data.shape[0], N_EL), np.nan)
        if ok.any():
            p[ok] = net.predict_proba(x[ok], offset=g0)
        p[~ass] = np.nan
        res[:, _P] = p
        res[:, _A] = ass
        col = 2 * N_EL
    if evidence:
        ev = per_element(edge_evidence(embed(g, g0), lo, hi, tolerance=tolerance))
        res[:, col:col + N_EL] = ev["snr"]
        res[:, col + N_EL:col + 2 * N_EL] = ev["jump"]
        res[:, col + 2 * N_EL:col + 3 * N_EL] = ev["onset"]
    res[:, -2] = lo
    res[:, -1] = hi
    out[rows] = res
    return out


_MASK_RULES = {
    None: "no mask: every pixel analysed",
    "none": "auto on a single spectrum: nothing masked",
    "auto": f"auto: vacuum = total counts < {VACUUM_THRESHOLD:g} x the 95th percentile of the pixels' totals "
            "and a flat spectrum (first and last quarters of the window equal within 3 noise standard errors, "
            "8 segment means within 4, channel std <= 3 x the noise from first differences; pixels with NaN/inf never vacuum)",
    "vacuum": f"vacuum: total counts < {VACUUM_THRESHOLD:g} x the 95th percentile of the pixels' totals",
    "user": "the mask given by the user",
}


def _auto_window(energy):
    """The channels (a slice) on which ``"auto"`` judges flatness: those inside ENERGY_LIMITS."""
    lo, hi = max(energy[0], ENERGY_LIMITS[0]), min(energy[-1], ENERGY_LIMITS[1])
    win = np.flatnonzero((energy >= lo) & (energy <= hi))
    if win.size < 8:  # (identify raises on such a window before; other callers: the whole range)
        return slice(None)
    return slice(int(win[0]), int(win[-1]) + 1)


def _navigation_mask_mode(signal, navigation_mask):
    """The mode of identify's ``navigation_mask``: None, ``"auto"``, ``"none"``, ``"vacuum"`` or ``"user"``.

    ``"auto"`` is the physical vacuum mask (:func:`auto_vacuum_mask_from_data`: low total AND flat spectrum,
    NaN/inf pixels never vacuum)
    for 2 or more navigation pixels; for a single spectrum it is ``"none"`` (nothing masked). Only the
    string is checked here; arrays and signals are checked by :func:`parse_navigation_mask`.
    """
    if navigation_mask is None:
        return None
    if isinstance(navigation_mask, str):
        if navigation_mask == "vacuum":
            return "vacuum"
        if navigation_mask != "auto":
            from .._shared.exceptions import NavigationMaskError

            raise NavigationMaskError(
                "identify_elements: navigation_mask must be 'auto', None, 'vacuum', a boolean array or a "
                f"boolean signal; got the string {navigation_mask!r}.")
        from .._shared.validation import check_is_eels

        check_is_eels(signal, "identify_elements")
        data = signal.data
        if data.ndim < 2 or int(np.prod(data.shape[:-1], dtype=np.int64)) < 2:
            return "none"
        return "auto"
    return "user"


def _zlp_shift(signal, low_loss, nav_shape):
    """Energy correction (eV, added to the axis) from the zero-loss peak of ``low_loss``."""
    from .._shared.validation import check_is_eels

    check_is_eels(low_loss, "low_loss")
    centre = low_loss.estimate_zero_loss_peak_centre()
    c = np.asarray(centre.data, dtype=np.float64)
    if hasattr(c, "compute"):
        c = np.asarray(c.compute())
    if c.shape == tuple(nav_shape):
        return -c
    return -float(np.nanmean(c))


def _z_axis():
    return {"name": "Z", "units": "", "scale": 1.0, "offset": float(Z_OFFSET), "size": N_EL}


@fill_doc
def identify_elements(
    signal,
    *,
    threshold=0.5,
    navigation_mask="auto",
    energy_calibrated=False,
    low_loss=None,
    min_area=None,
    sum_spectrum=True,
    model=None,
    pixel_evidence=False,
    resolve_coincidences=False,
    show_progressbar=None,
    lazy_output=None,
    block_size=None,
):
    """Identify the elements whose core-loss edges are in every spectrum.

    A compact 1-D CNN trained on the package simulator gives per-element
    probabilities, calibrated on held-out simulated spectra (per-element Platt
    scaling); a power-law fit + jump test at every tabulated onset gives the
    evidence behind each call (:meth:`ElementsResult.explain`). 80 labels Be-Bi
    (as Annys, Jannis & Verbeeck, Sci. Rep. 13 (2023) 13724).

    Parameters
    ----------
    signal : exspy.signals.EELSSpectrum
        Core-loss spectrum, line scan or spectrum image, eager or lazy. Any
        dispersion from 0.05 to 2 eV/ch and any window of at least 100 eV
        between 50 and 3100 eV. Dark/fill channels and negative channels at the
        ends, corrupt last channels and a spliced low-loss part are excluded
        automatically.
    threshold : float
        Probability at or above which an element is called present (0-1).
        The probabilities are calibrated, so 0.5 is the same policy for
        simulated and real spectra.
    navigation_mask : "auto", None, bool array, signal or "vacuum", optional
        Pixels to exclude (True = excluded). Masked pixels are never
        classified: their probabilities are NaN, no element is assessable or
        present there, and they are left out of ``elements`` (the SI rule) and
        of the sum spectrum. Default ``"auto"``: for a line scan or spectrum
        image (2 or more pixels) a pixel is vacuum only if both its total
        counts are below 10 % of the 95th percentile (the rule of ``"vacuum"``
        below) and its spectrum carries no energy-loss signal: the means of
        the first and last quarters of the usable window agree within 3
        standard errors, the means of 8 equal segments within 4 standard
        errors of their mean, and the channels' standard deviation is at most 3
        times the pixel's noise (noise per channel: std / sqrt(2) of the first
        differences, winsorized at 5 robust sigmas); so a thin or low-dose specimen pixel with a
        decaying background or an edge is never masked. All-zero and constant
        pixels are flat. For a single spectrum nothing is masked. A pixel with NaN or inf
        is never vacuum under ``"auto"`` (non-finite data still raise
        :class:`~hyperspy_eels_ml.NonFiniteDataError`). The number of masked
        pixels and the rule are recorded in :attr:`ElementsResult.parameters`
        and the metadata (``navigation_mask``, ``n_masked``, ``mask_rule``); when
        more than half the pixels are vacuum a warning says so (a wrong signal
        or a low-dose map?). ``None`` analyses every pixel. Otherwise, as
        for every ``navigation_mask`` of the package: a boolean array in array
        order (``s.data.shape[:-1]``) or a HyperSpy signal of that shape (e.g.
        exspy's ``s.vacuum_mask()``, or ``s.sum(-1) < 10``; 0/1 numbers
        accepted), or ``"vacuum"``: pixels whose total counts are below 10 %
        of the 95th percentile (relative, unlike exspy's absolute
        ``s.vacuum_mask()``). Masked pixels may contain NaN. For lazy input,
        ``"auto"`` and ``"vacuum"`` read every pixel at call time
        (one pass over the data, chunk by chunk); the result stays lazy.
    energy_calibrated : bool
        True if the energy axis is calibrated to about 1 eV: the evidence then
        searches onsets within +-3 eV of the tabulated ones instead of +-15 eV.
    low_loss : exspy.signals.EELSSpectrum, optional
        Low-loss spectrum (or SI with the same navigation shape) recorded with
        the same settings; its zero-loss peak calibrates the energy axis (the
        signal itself is not modified). Implies ``energy_calibrated=True``.
    min_area : int, optional
        SI rule for :attr:`ElementsResult.elements`: an element is reported
        when its present pixels form one connected region (8-connected in 2-D,
        consecutive in a line scan) of at least ``min_area`` pixels. Default 9
        for a spectrum image, 3 for a line scan, capped at half the analysed
        pixels; 1 for a single spectrum.
    sum_spectrum : bool
        Second opinion of the sum spectrum for the SI rule (line scans and SIs):
        an element is also reported when the network calls it on the sum of the
        analysed (unmasked) pixels and it is called in at least ``min_area``
        pixels, connected or not. At low counts per pixel the calls of a present
        element are scattered (no connected region) while the sum spectrum shows
        it clearly. On 200 simulated SIs of 16x16 pixels at 20-3,000 counts in the
        brightest channel (``python benchmarks/bench_identify.py --si-sim 200``) it
        raises the SI-level weighted F1 from 0.82 to 0.85 (0.77 to 0.85 below 200
        counts) at an equal exact match (model card, ``si_rule_simulated``). The sum is computed in the same pass over the data as
        the probabilities. With per-pixel shifts (``low_loss`` SI) the mean shift
        is used for the sum.
    model : str, optional
        Path of an exported ``.npz`` network (default: the shipped model).
    pixel_evidence : bool
        Compute the per-pixel edge evidence (:attr:`ElementsResult.evidence`)
        in the same pass as the probabilities. By default it is computed on
        first access of ``evidence`` (a second pass over the data, lazy for a
        lazy result): the network alone is about twice as fast, and
        :meth:`~ElementsResult.explain` uses the evidence of the sum spectrum,
        not of the pixels.
    resolve_coincidences : bool
        Remove the ambiguous calls that the partner explains
        (:func:`~hyperspy_eels_ml.elements.coincidence.removable_coincidences`): an element
        called present whose every assessable Major edge, each edge of a group (e.g. M5 and M4)
        counted, lies within 10 eV of a Major edge of another called element whose probability is
        higher by at least 0.2. Off by default: on held-out simulated spectra whose compositions
        oversample near-coincident partners it lowers the weighted F1 and the exact match (0.836 ->
        0.822, 0.665 -> 0.657); at natural frequencies it raises both (0.821 -> 0.822, 0.640 ->
        0.656; ``benchmarks/bench_identify_edges.py --study coincidence --evidence``). Every
        ambiguous call, removed or not, carries a caution in :attr:`ElementsResult.flags` and
        :meth:`~ElementsResult.explain` (see :attr:`ElementsResult.ambiguous_with`); the
        probabilities are never changed.
    %(show_progressbar)s
    %(lazy_output)s
    %(block_size)s

    Returns
    -------
    ElementsResult
        ``elements``, ``probabilities``, ``present``, ``assessable``,
        ``evidence``, ``flags``, :meth:`~ElementsResult.explain`,
        :meth:`~ElementsResult.plot`, :meth:`~ElementsResult.to_metadata`.

    Raises
    ------
    NotEELSSignalError, EnergyAxisError
        Not an EELS spectrum, axis not in eV or non-uniform, dispersion outside
        0.05-2 eV/ch.
    EnergyRangeError
        Less than 100 eV of the window inside 50-3100 eV.
    NonFiniteDataError
        NaN/inf in pixels that are not masked.
    ModelFileError
        The model file is corrupt or was modified.

    Warns
    -----
    UserWarning
        No spectrum could be analysed (every unmasked spectrum all-zero, constant or without a usable
        window of 100 eV, or every pixel masked): ``elements`` is then empty because nothing was
        assessed. A spectrum that was analysed and shows no edge gives an empty ``elements`` without a
        warning: "no element found" is a valid result.

    Examples
    --------
    >>> r = s.identify_elements()               # doctest: +SKIP
    >>> r.elements                              # doctest: +SKIP
    ['Mn', 'O']
    >>> print(r.explain("Mn"))                  # doctest: +SKIP
    >>> r.to_metadata(s); m = s.create_model()  # doctest: +SKIP
    """
    threshold = check_float_range("threshold", threshold, 0.0, 1.0)
    energy_calibrated = check_bool("energy_calibrated", energy_calibrated)
    pixel_evidence = check_bool("pixel_evidence", pixel_evidence)
    resolve_coincidences = check_bool("resolve_coincidences", resolve_coincidences)
    lazy_output = check_bool("lazy_output", lazy_output, allow_none=True)
    sum_spectrum = check_bool("sum_spectrum", sum_spectrum)
    if min_area is not None:
        min_area = check_int("min_area", min_area, min=1)
    mask_mode = _navigation_mask_mode(signal, navigation_mask)
    # "auto": validated without a mask (a NaN/inf pixel is never vacuum, so the non-finite check is the
    # same), the mask computed after the axis checks
    v = validate_eels(signal, what="identify_elements",
                      navigation_mask=None if mask_mode in ("auto", "none") else navigation_mask)
    d = v.dispersion
    if not (DISPERSION_RANGE[0] - 1e-9 <= d <= DISPERSION_RANGE[1] + 1e-9):
        raise EnergyAxisError(
            f"identify_elements supports dispersions of {DISPERSION_RANGE[0]}-{DISPERSION_RANGE[1]} eV/ch, "
            f"the signal has {d:.4g} eV/ch. Rebin (e.g. `s.rebin(scale=...)`) or interpolate onto such an axis."
        )
    lo = max(v.energy[0], ENERGY_LIMITS[0])
    hi = min(v.energy[-1], ENERGY_LIMITS[1])
    if hi - lo < MIN_WINDOW:
        raise EnergyRangeError(
            f"identify_elements needs at least {MIN_WINDOW:g} eV of core-loss window inside "
            f"{ENERGY_LIMITS[0]:g}-{ENERGY_LIMITS[1]:g} eV; the signal covers {v.energy[0]:g}-{v.energy[-1]:g} eV "
            f"({max(hi - lo, 0):.0f} eV usable). Record or select a wider core-loss window."
        )
    model_path = os.path.abspath(model or MODEL_PATH)
    net = get_cached_file("elements_npz", model_path, load_network)  # fail early on a bad file
    if mask_mode == "auto":
        # one pass over lazy data (totals and flatness)
        vac = auto_vacuum_mask_from_data(v.data, window=_auto_window(v.energy))
        if vac.any():  # else exactly the unmasked path (no per-block mask)
            v = dataclasses.replace(v, mask=vac)
    n_pixels = int(np.prod(v.navigation_shape, dtype=np.int64))
    n_masked = 0 if v.mask is None else int(v.mask.sum())
    if mask_mode == "auto" and n_masked > 0.5 * n_pixels:
        from .._shared.warn import warn

        warn(f"identify_elements: {n_masked} of {n_pixels} pixels ({100 * n_masked / n_pixels:.0f} %) are vacuum "
             "(total counts below 10 % of the 95th percentile and a flat spectrum) and were masked (navigation_mask='auto'). Is this "
             "the right signal, or a low-dose map? Pass navigation_mask=None to analyse every pixel.")
    shift = 0.0
    if low_loss is not None:
        shift = _zlp_shift(signal, low_loss, v.navigation_shape)
        energy_calibrated = True
    tolerance = 3.0 if energy_calibrated else 15.0
    aligned = ()
    if np.ndim(shift):
        aligned = (np.asarray(shift, np.float32),)
        func_shift = None
    else:
        func_shift = float(shift)

    def func(block, *args, mask=None, **kw):
        sh = args[0] if aligned else func_shift
        return _block(block, sh, mask, **kw)

    n_out = _N_OUT_EV if pixel_evidence else _N_OUT
    out = map_spectra(v.data, func, n_out, np.float32, aligned=aligned, mask=v.mask, block_size=block_size,
                      energy=v.energy, model_path=model_path, tolerance=tolerance, evidence=pixel_evidence)
    out = out.reshape(tuple(v.navigation_shape) + (n_out,))  # a single spectrum: (n_out,), not (1, ...)
    lazy = v.lazy if lazy_output is None else lazy_output
    # sum spectrum of the unmasked pixels for the SI rule's second opinion (same pass over the data)
    total = (_sum_of_pixels(v.data, v.mask, len(v.navigation_shape))
             if (sum_spectrum and len(v.navigation_shape)) else None)
    if not lazy:
        if total is not None and hasattr(total, "dask"):
            out, total = compute(out, total, show_progressbar=show_progressbar)
        else:
            (out,) = compute(out, show_progressbar=show_progressbar)
    parent = v.signal
    params = dict(threshold=threshold, navigation_mask=mask_mode, n_masked=n_masked, n_pixels=n_pixels,
                  mask_rule=_MASK_RULES[mask_mode],
                  energy_calibrated=energy_calibrated, low_loss=low_loss is not None, min_area=min_area,
                  sum_spectrum=sum_spectrum,
                  model=model_path, tolerance=tolerance, pixel_evidence=pixel_evidence,
                  resolve_coincidences=resolve_coincidences)
    models = {"elements_cnn": {"path": model_path, "sha256": file_sha256(model_path),
                               "created": net.meta.get("created")}}
    state = {}

    def signals(arrays):
        sig = {}
        for name, data, title, q in arrays:
            s_ = per_pixel_spectra(parent, data, _z_axis(), title, quantity=q)
            if "provenance" not in state:  # versions etc. gathered once
                record_provenance(s_, "identify_elements", params, models=models)
                state["provenance"] = s_.metadata.get_item("hyperspy_eels_ml").as_dictionary()
            else:
                s_.metadata.set_item("hyperspy_eels_ml", dict(state["provenance"]))
            s_.metadata.set_item("hyperspy_eels_ml.labels", list(LABELS))
            sig[name] = s_
        return sig

    def evidence_signals(ev):
        return signals((("snr", ev[..., 0:N_EL], "Edge signal-to-noise ratio", "SNR"),
                        ("jump_ratio", ev[..., N_EL:2 * N_EL], "Edge jump ratio", "jump ratio"),
                        ("measured_onset", ev[..., 2 * N_EL:3 * N_EL], "Measured edge onset", "eV")))

    amb = _ambiguity(out, threshold)
    called = out[..., _P] >= threshold
    if resolve_coincidences:
        called = called & (_ambiguity(out, threshold, removable=True) < 0)
    sig = signals((("probabilities", out[..., _P], "Element probabilities", "probability"),
                   ("present", called, "Elements present",
                    "present"),
                   ("assessable", out[..., _A] > 0, "Elements assessable", "assessable")))
    evidence = evidence_signals(out[..., 2 * N_EL:5 * N_EL]) if pixel_evidence else None

    def evidence_pass(lazy_ev):
        ev = map_spectra(v.data, func, _N_EV, np.float32, aligned=aligned, mask=v.mask, block_size=block_size,
                         energy=v.energy, model_path=model_path, tolerance=tolerance, evidence=True,
                         network=False)
        ev = ev.reshape(tuple(v.navigation_shape) + (_N_EV,))
        if not lazy_ev:
            (ev,) = compute(ev, show_progressbar=show_progressbar)
        return evidence_signals(ev)

    window = out[..., -2:]
    nav_shape = v.navigation_shape
    result = ElementsResult(
        probabilities=sig["probabilities"], present=sig["present"], assessable=sig["assessable"],
        _evidence=evidence, _evidence_pass=evidence_pass,
        window=window, ambiguous_with=amb, threshold=threshold, min_area=min_area, parameters=params,
        resolve_coincidences=resolve_coincidences, sum_spectrum=total, sum_spectrum_rule=sum_spectrum,
        _energy=v.energy, _model_path=model_path,
        _navigation_shape=nav_shape, _signal=signal, _shift=shift, _tolerance=tolerance,
        _mask=v.mask, _reported={},
    )
    result._warn_if_nothing_analysed(window)
    return result


def _sum_of_pixels(data, mask, nav_ndim):
    """Sum spectrum of the unmasked pixels (lazy for lazy data: computed in the same pass)."""
    axes = tuple(range(nav_ndim))
    # float64 accumulation without a float64 copy of the data (numpy casts in small buffers)
    if hasattr(data, "dask"):
        if mask is None:
            return data.sum(axis=axes, dtype=np.float64)
        import dask.array as da

        mask_d = da.from_array(np.asarray(mask, bool)[..., None], chunks=data.chunks[:-1] + ((1,),), name=False)
        parts = da.map_blocks(_unmasked_block_sum, data, mask_d, dtype=np.float64,
                              chunks=tuple((1,) * len(c) for c in data.chunks[:-1]) + ((data.shape[-1],),))
        return parts.sum(axis=axes)
    data = np.asarray(data)
    if mask is None:
        return data.sum(axis=axes, dtype=np.float64)
    return _unmasked_block_sum(data, np.asarray(mask, bool)[..., None]).reshape(-1)


def _unmasked_block_sum(block, mask):
    """float64 sum of the unmasked spectra of ``block`` (``(..., E)``; ``mask`` ``(..., 1)``, True = masked),
    shape ``(1, ..., 1, E)``, without a masked copy of the block: the sum of all minus the masked ones
    (their values are finite: validation zeroes non-finite masked values), or the unmasked rows directly
    when most are masked."""
    flat = block.reshape(-1, block.shape[-1])
    m = np.asarray(mask, bool).reshape(-1)
    n_m = int(m.sum())
    if n_m == 0:
        tot = flat.sum(axis=0, dtype=np.float64)
    elif 2 * n_m > m.size:
        tot = flat[~m].sum(axis=0, dtype=np.float64)
    else:
        tot = flat.sum(axis=0, dtype=np.float64) - flat[m].sum(axis=0, dtype=np.float64)
    return tot.reshape((1,) * (block.ndim - 1) + (-1,))


def _ambiguity_block(o, threshold, removable=False):
    flat = o.reshape(-1, o.shape[-1])
    rule = removable_coincidences if removable else resolve_coincidences
    amb = rule(flat[:, _P], flat[:, -2], flat[:, -1], threshold)
    return amb.reshape(o.shape[:-1] + (N_EL,))


def _ambiguity(out, threshold, removable=False):
    """``navigation_shape + (80,)`` int8: the element that explains each call's edges (-1: none);
    ``removable=True``: only the calls that ``resolve_coincidences=True`` removes."""
    if hasattr(out, "dask"):
        return out.map_blocks(_ambiguity_block, threshold, removable, dtype=np.int8,
                              chunks=out.chunks[:-1] + ((N_EL,),))
    return _ambiguity_block(np.asarray(out), threshold, removable)


def select_elements(present, min_area):
    """Elements present over one connected region of at least ``min_area`` pixels.

    Parameters
    ----------
    present : numpy.ndarray of bool
        ``navigation_shape + (80,)`` per-pixel calls.
    min_area : int
        Minimum size of the largest connected region (8-connected in 2-D,
        consecutive pixels in 1-D, full connectivity in higher dimensions).

    Returns
    -------
    list of str
    """
    from scipy import ndimage

    present = np.asarray(present, bool)
    nav = present.shape[:-1]
    if len(nav) == 0:
        return [LABELS[j] for j in np.flatnonzero(present)]
    structure = np.ones((3,) * len(nav), bool)
    out = []
    for j in range(present.shape[-1]):
        col = present[..., j]
        if col.sum() < min_area:
            continue
        lab, nlab = ndimage.label(col, structure=structure)
        if nlab and np.bincount(lab.ravel())[1:].max() >= min_area:
            out.append(LABELS[j])
    return out


@dataclass
class Explanation:
    """What supports (or not) one element's call; ``print()`` it for a table."""

    element: str
    called: bool
    assessable: bool
    probability: float
    fraction_present: float
    flags: list
    edges: list = field(default_factory=list)  #: dicts: edge, tabulated_onset, measured_onset, jump_ratio, snr
    #: ``{other element: fraction of the analysed pixels}`` where this element's call is ambiguous (flagged)
    #: because all its assessable edges coincide with edges of the other, better-supported element
    ambiguous_with: dict = field(default_factory=dict)
    #: why the element is not assessable ("" when it is): no Major edge in the usable window, or all of
    #: them within 15 eV of the window start (no pre-edge region) / 30 eV of its end
    not_assessable_reason: str = ""
    #: ``{other element: fraction of the analysed pixels}`` where ``resolve_coincidences=True`` removed
    #: this element's call for the other (:func:`~hyperspy_eels_ml.elements.coincidence.removable_coincidences`)
    removed_with: dict = field(default_factory=dict)

    def __str__(self):
        head = (f"{self.element}: {'PRESENT' if self.called else 'not found'}"
                + ("" if self.assessable else f" (not assessable: {self.not_assessable_reason or 'no Major edge in the usable window'})")
                + f", probability {self.probability:.2f}")
        if self.fraction_present < 1.0 or self.fraction_present > 0:
            head += f", present in {100 * self.fraction_present:.1f} % of the analysed pixels"
        lines = [head]
        for other, frac in self.ambiguous_with.items():
            lines.append(f"  ambiguous with {other} in {100 * frac:.1f} % of the analysed pixels: every assessable "
                         f"edge of {self.element} lies within {COINCIDENCE_EV:g} eV of an edge of {other}, which "
                         "is called with a probability at least as high"
                         + (f" (removed in {100 * self.removed_with[other]:.1f} %: resolve_coincidences=True, every "
                            f"edge explained and {other}'s probability higher by at least {COINCIDENCE_MARGIN:g})"
                            if self.removed_with.get(other) else ""))
        for f in self.flags:
            lines.append(f"  caution: {f}")
        if self.edges:
            lines.append("  edge      tabulated  measured  jump ratio    SNR  in window")
            for e in self.edges:
                mo = "-" if not np.isfinite(e["measured_onset"]) else f"{e['measured_onset']:.0f}"
                jr = "-" if not np.isfinite(e["jump_ratio"]) else f"{e['jump_ratio']:.3f}"
                sn = "-" if not np.isfinite(e["snr"]) else f"{e['snr']:.1f}"
                lines.append(f"  {e['edge']:<8} {e['tabulated_onset']:>9.0f} {mo:>9} {jr:>11} {sn:>6}  "
                             f"{'yes' if e['in_window'] else 'no'}")
        return "\n".join(lines)

    __repr__ = __str__


def _check_label(element):
    """Raise :class:`ParameterError` unless ``element`` is one of the 80 labels (a symbol, e.g. ``"Fe"``)."""
    if element not in LABELS:
        raise ParameterError(f"Unknown element {element!r}: give the symbol of one of the 80 labels Be-Bi "
                             f"(e.g. 'Fe'): {', '.join(LABELS)}")


class ElementsResult(LazyResult):
    """Result of :func:`identify_elements`.

    Attributes
    ----------
    probabilities : hyperspy.signals.Signal1D
        Navigation axes of the input and one channel per element (axis ``Z``,
        Be = 4 ... Bi = 83; ``metadata.hyperspy_eels_ml.labels``); NaN where the
        element is not assessable or the pixel is masked.
    present : hyperspy.signals.Signal1D
        ``probabilities >= threshold`` (boolean).
    assessable : hyperspy.signals.Signal1D
        True where the element has a Major edge in the pixel's usable window, at least 15 eV above its
        start and 30 eV below its end (boolean; :func:`~hyperspy_eels_ml.elements.preprocess.report_assessable`).
    evidence : dict of signals
        ``snr``, ``jump_ratio``, ``measured_onset`` of the best edge group of
        each element (power-law fit + jump test).
    window : numpy.ndarray or dask.array.Array
        ``navigation_shape + (2,)`` usable window (eV) of every pixel.
    ambiguous_with : numpy.ndarray or dask.array.Array
        ``navigation_shape + (80,)`` int8: for a call that the coincidence rule finds ambiguous
        (flagged; with ``resolve_coincidences=True`` removed from ``present`` when
        :func:`~hyperspy_eels_ml.elements.coincidence.removable_coincidences` says so), the index (in
        ``LABELS``) of the better-supported element whose edges explain it; -1 otherwise.
    """

    _signal_attributes = ("probabilities", "present", "assessable")
    _array_attributes = ("window", "ambiguous_with", "sum_spectrum")
    _repr_parameters = ("threshold", "energy_calibrated")

    @property
    def evidence(self):
        """Per-pixel edge evidence: ``{"snr", "jump_ratio", "measured_onset"}`` signals (Z axis as
        :attr:`probabilities`) of the best edge group of each element.

        Computed on first access unless ``identify_elements(..., pixel_evidence=True)`` (a second
        pass over the data; lazy signals while the result is lazy).
        """
        if self._evidence is None:
            self._evidence = self._evidence_pass(self.is_lazy)
        return self._evidence

    def compute(self, show_progressbar=None):
        """Compute every lazy part (the per-pixel evidence only if it was requested or accessed)."""
        from .._shared.signals import to_eager

        ev = self._evidence or {}
        lazy = [(k, s) for k, s in ev.items() if s._lazy]
        super().compute(show_progressbar=show_progressbar)
        if lazy:
            vals = compute(*(s.data for _, s in lazy), show_progressbar=show_progressbar)
            for (k, s), val in zip(lazy, vals):
                ev[k] = to_eager(s, val)
        self._warn_if_nothing_analysed(self.window)
        return self

    def _warn_if_nothing_analysed(self, window):
        """Warn once when no pixel was analysed (no usable window in any unmasked spectrum): the empty
        :attr:`elements` then means "nothing assessed", not "no element present".

        ``window`` is the computed ``(..., 2)`` usable window (a dask array is skipped: the check runs
        again by :meth:`compute` and on the first use of the computed table)."""
        # a dict shared with the computed copies of a lazy result (plot, ...): one warning in all
        reported = self.__dict__.setdefault("_reported", {})
        if reported.get("nothing_analysed") or hasattr(window, "dask"):
            return
        reported["nothing_analysed"] = True
        w = np.asarray(window).reshape(-1, 2)
        if w.shape[0] == 0:
            return
        from .._shared.warn import warn

        n = w.shape[0]
        n_masked = int(np.asarray(self._mask, bool).sum()) if self._mask is not None else 0
        if np.isfinite(w[:, 0]).any():
            # some spectra analysed: say how many unmasked ones were not (their probabilities are all NaN)
            bad = ~np.isfinite(w[:, 0])
            if self._mask is not None:
                bad &= ~np.asarray(self._mask, bool).reshape(-1)
            n_bad = int(bad.sum())
            if n_bad:
                warn(f"identify_elements: {n_bad} of {n} {'unmasked ' if self._mask is not None else ''}spectra "
                     f"have no usable window (constant, dark/fill or negative channels only, or less than "
                     f"{MIN_WINDOW:g} eV left after cutting them): their probabilities are NaN and every element "
                     "is not assessable there. Mask such pixels (navigation_mask=..., e.g. \"vacuum\") or check "
                     "the data.")
            return
        if n_masked >= n:
            warn(f"identify_elements: every pixel is masked by navigation_mask ({n} of {n}); nothing was "
                 "analysed and elements is empty. Mask only the pixels to leave out (e.g. vacuum).")
            return
        warn(f"identify_elements: no spectrum could be analysed: none of the {n - n_masked} unmasked spectra "
             f"has a usable window of at least {MIN_WINDOW:g} eV (all-zero or constant counts, or too little left "
             "after cutting constant fill/dark channels at the ends). Every probability is NaN and elements is "
             "empty because nothing was assessed, not because no element is present. Check that the signal "
             "holds the recorded core-loss counts (not a dark reference or a blank frame), or mask such pixels "
             "with navigation_mask.")

    # -- derived quantities --------------------------------------------------------------
    def _eager_array(self, sig):
        d = sig.data
        return np.asarray(d.compute() if hasattr(d, "compute") else d)

    @property
    def _nav_ndim(self):
        return len(self.navigation_shape)

    def _default_min_area(self, n_analysed):
        if self._nav_ndim == 0:
            return 1
        base = 9 if self._nav_ndim >= 2 else 3
        return max(1, min(base, int(math.ceil(0.5 * max(n_analysed, 1)))))

    def _element_table(self):
        if getattr(self, "_table", None) is None:
            # one pass over the data for a lazy result (the result itself stays lazy)
            tot = getattr(self, "sum_spectrum", None)
            if tot is not None:
                p, a, w, amb, tot = compute(self.probabilities.data, self.assessable.data, self.window,
                                            self.ambiguous_with, tot)
                self._sum_total = np.asarray(tot, np.float64)
            else:
                p, a, w, amb = compute(self.probabilities.data, self.assessable.data, self.window,
                                       self.ambiguous_with)
            p = np.asarray(p).reshape(-1, N_EL)
            a = np.asarray(a).reshape(-1, N_EL)
            analysed = np.isfinite(np.asarray(w).reshape(-1, 2)[:, 0])
            self._table = (p, a, analysed, np.asarray(w).reshape(-1, 2), np.asarray(amb).reshape(-1, N_EL))
            self._warn_if_nothing_analysed(self._table[3])  # a lazy result used without compute()
        return self._table[:3]

    def _called(self):
        """``(n_pixels, 80)`` bool: probability >= threshold and, with ``resolve_coincidences``, not removed
        by :func:`~hyperspy_eels_ml.elements.coincidence.removable_coincidences`."""
        p, _, _ = self._element_table()
        called = np.nan_to_num(p, nan=-1.0) >= self.threshold
        if not self.resolve_coincidences:
            return called
        if getattr(self, "_removed", None) is None:
            w = self._table[3]
            self._removed = removable_coincidences(p, w[:, 0], w[:, 1], self.threshold)
        return called & (self._removed < 0)

    def _eager_array_window(self):
        self._element_table()
        return self._table[3]

    @property
    def elements(self):
        """Elements found (symbols in Z order).

        Single spectrum: probability >= threshold. Line scan / SI: present
        over one connected region of at least ``min_area`` pixels (see
        :func:`identify_elements`), which rejects isolated false positives
        while keeping small particles that a 1 %-of-pixels rule would drop.
        """
        p, a, analysed = self._element_table()
        pres = self._called()
        if self._nav_ndim == 0:
            return [LABELS[j] for j in np.flatnonzero(pres[0])]
        need = self.min_area or self._default_min_area(int(analysed.sum()))
        found = set(select_elements(pres.reshape(self.navigation_shape + (N_EL,)), need))
        self._from_sum = set()
        if getattr(self, "sum_spectrum_rule", False):
            ps = self.sum_spectrum_probabilities
            if ps is not None:
                n_called = pres[analysed].sum(axis=0)
                extra = {LABELS[j] for j in np.flatnonzero((np.nan_to_num(ps, nan=-1.0) >= self.threshold)
                                                           & (n_called >= need))} - found
                self._from_sum = extra
                found |= extra
        return [el for el in LABELS if el in found]

    @property
    def sum_spectrum_probabilities(self):
        """Calibrated probabilities ``(80,)`` of the sum spectrum of the analysed pixels (NaN where
        not assessable), the second opinion of the SI rule; None for a single spectrum or with
        ``sum_spectrum=False``."""
        if getattr(self, "_sum_probs", None) is None:
            if getattr(self, "sum_spectrum", None) is None or self._nav_ndim == 0:
                return None
            self._element_table()
            tot = getattr(self, "_sum_total", None)
            if tot is None:
                tot = np.asarray(self.sum_spectrum, np.float64)
            shift = self._shift
            if np.ndim(shift):
                sh = np.asarray(shift, np.float64).reshape(-1)
                if self._mask is not None:
                    sh = sh[~np.asarray(self._mask, bool).reshape(-1)]
                shift = float(np.nanmean(sh)) if sh.size else 0.0
            ps = np.full(N_EL, np.nan)
            if np.all(np.isfinite(tot)) and np.any(tot != 0):
                x, _, lo, hi, _ = preprocess_block(tot[None, :], self._energy, shift)
                if np.isfinite(lo[0]):
                    net = get_cached_file("elements_npz", self._model_path, load_network)
                    ps = net.predict_proba(x.astype(np.float32))[0].astype(np.float64)
                    ps[~report_assessable(lo, hi)[0]] = np.nan
            self._sum_probs = ps
        return self._sum_probs

    @property
    def not_assessable(self):
        """Elements not assessable in any analysed pixel (no Major edge in the usable window at least
        15 eV above its start and 30 eV below its end; :meth:`explain` gives the reason)."""
        p, a, analysed = self._element_table()
        anyass = a[analysed].any(axis=0) if analysed.any() else np.zeros(N_EL, bool)
        return [LABELS[j] for j in np.flatnonzero(~anyass.astype(bool))]

    @property
    def flags(self):
        """``{element: [cautions]}`` for the elements found (contamination, artefacts, low confidence)."""
        out = {}
        for el in self.elements:
            notes = []
            if el in FLAGS:
                notes.append(FLAGS[el])
            amb = self._ambiguous_partners(el)
            if amb:
                notes.append(f"ambiguous: every assessable edge lies within {COINCIDENCE_EV:g} eV of an edge of "
                             f"{', '.join(amb)} (called with a higher probability); check with explain()")
            if self._rests_below(el):
                notes.append(f"low confidence: rests only on edges below {LOW_CONFIDENCE_EV:g} eV "
                             "(crowded M2,3/N4,5/L2,3 region on the plasmon tail)")
            if el in getattr(self, "_from_sum", ()):
                notes.append("found in the sum spectrum; its pixel calls are scattered (no connected region "
                             "of min_area pixels): low counts per pixel, or check the map")
            if notes:
                out[el] = notes
        return out

    def _ambiguous_partners(self, el):
        """Elements that explain ``el``'s edges in the pixels where ``el`` is called (coincidence rule)."""
        j = LABELS.index(el)
        self._element_table()
        amb = self._table[4][:, j]
        called = np.nan_to_num(self._table[0][:, j], nan=-1.0) >= self.threshold
        if not called.any():
            return []
        # ambiguous in most of the pixels where it is called
        ks, counts = np.unique(amb[called], return_counts=True)
        return [LABELS[int(k)] for k, c in zip(ks, counts) if k >= 0 and c >= 0.5 * called.sum()]

    def _rests_below(self, el):
        w = self._eager_array_window().reshape(-1, 2)
        ok = np.isfinite(w[:, 0])
        if not ok.any():
            return False
        lo, hi = np.nanmin(w[ok, 0]), np.nanmax(w[ok, 1])
        from .preprocess import REPORT_HIGH_MARGIN, REPORT_LOW_MARGIN, major_onsets

        ons = [o for o in major_onsets()[el] if lo + REPORT_LOW_MARGIN <= o <= hi - REPORT_HIGH_MARGIN]
        return bool(ons) and max(ons) < LOW_CONFIDENCE_EV

    # -- explanation ------------------------------------------------------------------------
    def _sum_spectrum_evidence(self, rows):
        """Evidence on the sum of the given pixels (highest SNR), per edge group."""
        s = self._signal
        data = s.data
        flat = data.reshape(-1, data.shape[-1])
        sub = flat[rows] if rows is not None else flat
        tot = np.asarray(sub.sum(axis=0))
        if hasattr(tot, "compute"):
            tot = np.asarray(tot.compute())
        from .._shared.validation import energy_axis_values

        energy = energy_axis_values(s)
        shift = self._shift
        if np.ndim(shift):
            shift = float(np.nanmean(np.asarray(shift).reshape(-1)[rows] if rows is not None else shift))
        _, g, lo, hi, _ = preprocess_block(tot[None, :].astype(np.float64), energy, shift)
        return edge_evidence(g, lo, hi, tolerance=self._tolerance), lo[0], hi[0]

    def explain(self, element):
        """The evidence behind one element's call.

        Parameters
        ----------
        element : str
            Symbol, e.g. ``"Fe"``.

        Returns
        -------
        Explanation
            Probability (mean over the pixels where present, else over all
            analysed pixels), fraction of pixels present, cautions, and per
            Major edge group of the element: tabulated onset (exspy's
            database), measured onset, jump ratio and SNR of a power-law fit +
            jump test on the sum spectrum of the pixels where it is present
            (of all analysed pixels when nowhere present). For an element that
            is not assessable, ``not_assessable_reason`` says why: no Major
            edge in the usable window, or all of them within 15 eV of its start
            (no pre-edge region) or 30 eV of its end.

        Raises
        ------
        ParameterError
            ``element`` is not one of the 80 labels Be-Bi.
        """
        _check_label(element)
        j = LABELS.index(element)
        p, a, analysed = self._element_table()
        col = p[:, j]
        pres = np.nan_to_num(col, nan=-1) >= self.threshold
        n_an = max(int(analysed.sum()), 1)
        rows = np.flatnonzero(pres) if pres.any() else np.flatnonzero(analysed)
        prob = float(np.nanmean(col[rows])) if rows.size and np.isfinite(col[rows]).any() else float("nan")
        if self._mask is not None:
            pass  # masked pixels have NaN probabilities and no window: excluded by `analysed`
        ev, lo, hi = self._sum_spectrum_evidence(rows if rows.size else None)
        edges = []
        for g, (jj, _, name, on) in enumerate(edge_groups()):
            if jj != j:
                continue
            edges.append({"edge": name, "tabulated_onset": on, "measured_onset": float(ev["onset"][0, g]),
                          "jump_ratio": float(ev["jump"][0, g]), "snr": float(ev["snr"][0, g]),
                          "in_window": bool(ev["evaluated"][0, g])})
        called = element in self.elements
        flags = self.flags.get(element, []) if called else []
        amb = self._table[4][:, j]
        amb_with = {LABELS[int(k)]: float(np.sum(amb == k) / n_an) for k in np.unique(amb[pres & (amb >= 0)])}
        assessable = bool(a[analysed, j].any()) if analysed.any() else False
        reason = ""
        if not assessable:
            w = self._eager_array_window().reshape(-1, 2)[analysed]
            reason = (not_assessable_reason(element, float(np.min(w[:, 0])), float(np.max(w[:, 1])))
                      if w.size else "no analysed pixel") or ""
        removed_with = {}
        if self.resolve_coincidences:
            self._called()
            rem = self._removed[:, j]
            removed_with = {LABELS[int(k)]: float(np.sum(pres & (rem == k)) / n_an)
                            for k in np.unique(rem[pres & (rem >= 0)])}
        return Explanation(element=element, called=called, assessable=assessable, probability=prob,
                           fraction_present=float(self._called()[:, j].sum() / n_an), flags=flags, edges=edges,
                           ambiguous_with=amb_with, not_assessable_reason=reason, removed_with=removed_with)

    # -- metadata ---------------------------------------------------------------------------
    def to_metadata(self, signal, include_flagged=True):
        """Write the elements found to ``signal.metadata.Sample.elements`` (exspy's ``add_elements``).

        Then ``signal.create_model()`` adds the corresponding ionisation edges.
        ``include_flagged=False`` leaves out C, Ga, Ar, Cu and low-confidence calls.
        """
        els = self.elements
        if not include_flagged:
            fl = self.flags
            els = [e for e in els if e not in fl]
        if els:
            signal.add_elements(els)
        return els

    # -- plotting ---------------------------------------------------------------------------
    def _plot(self, elements=None, **kwargs):
        import matplotlib.pyplot as plt

        els = list(elements) if elements is not None else self.elements
        for el in els:
            _check_label(el)
        if self._nav_ndim == 0:
            return self._plot_spectrum(els)
        p = self._eager_array(self.probabilities)
        nav_axes = self.probabilities.axes_manager.navigation_axes
        ncol = max(1, min(4, len(els)))
        nrow = max(1, int(math.ceil(len(els) / ncol)))
        fig, axs = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.8 * nrow), squeeze=False)
        for k, ax in enumerate(axs.ravel()):
            if k >= len(els):
                ax.axis("off")
                continue
            j = LABELS.index(els[k])
            if self._nav_ndim == 1:
                x = nav_axes[0].axis
                ax.plot(x, p[..., j])
                ax.set_ylim(-0.02, 1.02)
                ax.set_xlabel(f"{nav_axes[0].name} ({nav_axes[0].units})")
                ax.set_ylabel("probability")
            else:
                xa, ya = nav_axes[0], nav_axes[1]
                ext = [xa.axis[0], xa.axis[-1], ya.axis[-1], ya.axis[0]]
                im = ax.imshow(p[..., j], vmin=0, vmax=1, extent=ext, cmap="viridis")
                ax.set_xlabel(f"{xa.name} ({xa.units})")
                ax.set_ylabel(f"{ya.name} ({ya.units})")
                fig.colorbar(im, ax=ax, label="probability")
            ax.set_title(els[k] + (" *" if els[k] in self.flags else ""))
        if not els:
            axs[0, 0].text(0.5, 0.5, "no element found", ha="center", va="center", transform=axs[0, 0].transAxes)
        fig.suptitle("identify_elements: probability maps (* = caution, see .flags)")
        fig.tight_layout()
        return fig

    def _plot_spectrum(self, els):
        import matplotlib.pyplot as plt

        from .._shared.validation import energy_axis_values

        s = self._signal
        y = np.asarray(s.data.compute() if hasattr(s.data, "compute") else s.data, dtype=float).reshape(-1)
        e = energy_axis_values(s)
        fig, ax = plt.subplots(figsize=(8, 4))
        ax.plot(e, y, lw=0.8, color="k")
        p = self._eager_array(self.probabilities).reshape(-1)
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for k, el in enumerate(els):
            c = colors[k % len(colors)]
            ex = self.explain(el)
            for edge in ex.edges:
                if not edge["in_window"]:
                    continue
                on = edge["measured_onset"] if np.isfinite(edge["measured_onset"]) else edge["tabulated_onset"]
                ax.axvline(on, color=c, ls="--", lw=1)
                ax.text(on, ax.get_ylim()[1], f" {el} {edge['edge']}", color=c, rotation=90, va="top",
                        ha="right", fontsize=8)
            ax.plot([], [], color=c, ls="--", label=f"{el} (p = {p[LABELS.index(el)]:.2f})")
        ax.set_xlabel("Energy loss (eV)")
        ax.set_ylabel("Intensity (counts)")
        ax.set_title("identify_elements: supporting edges")
        if els:
            ax.legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        return fig
