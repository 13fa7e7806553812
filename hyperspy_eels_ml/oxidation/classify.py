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
worker loads a shipped or saved model once (:func:`~hyperspy_eels_ml._shared.get_cached`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings

import dask
import dask.array as da
import numpy as np

from .._shared import (
    EmptySignalError,
    EnergyAxisError,
    EnergyRangeError,
    check_finite_block,
    compute,
    get_cached,
    navigation_map,
    per_pixel_spectra,
    record_provenance,
    to_eager,
    validate_eels,
)
from .._shared.batch import map_spectra
from .classifier import OxidationClassifier, _edge_key, prepare_arrays
from .preprocess import FeatureSpec, extract_features

__all__ = ["classify_oxidation", "OxidationResult", "available_models"]

_MODELS_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "models")
_EDGE_NAMES = {"L23": "L2,3", "OK": "O K"}


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
        (``"svm"``/``"cnn"``), ``variants`` (``"aligned"``: for any energy
        calibration; ``"calibrated"``: absolute energies), ``classes`` and the
        held-out synthetic accuracy from the model card.
    """
    out = []
    for m in _registry():
        with open(os.path.join(_MODELS_DIR, m["model_card"])) as f:
            card = json.load(f)
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
    return get_cached(("oxidation", os.path.abspath(path)), lambda: OxidationClassifier.load(path))


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
    if element is not None and clf.element != element:
        raise ValueError(f"The model classifies {clf.element}, not {element}.")
    if edge is not None and clf.edge != edge:
        raise ValueError(f"The model uses the {_EDGE_NAMES[clf.edge]} edge, not {_EDGE_NAMES[edge]}.")
    if energy_calibrated is not None and bool(energy_calibrated) != clf.energy_calibrated:
        raise ValueError(f"The model was trained with energy_calibrated={clf.energy_calibrated}; "
                         f"energy_calibrated={energy_calibrated} was asked for.")
    info.update(element=clf.element, edge=clf.edge, classes=clf.classes, kind=clf.model,
                energy_calibrated=clf.energy_calibrated)
    return clf, transport, info


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


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
# result
# ----------------------------------------------------------------------------
class OxidationResult:
    """Result of :func:`classify_oxidation`.

    Attributes
    ----------
    probabilities : hyperspy.signals.Signal1D
        Class probabilities per pixel: the signal's navigation axes plus a signal
        axis ``"class"`` (one channel per class, in the order of ``classes``);
        NaN where masked.
    classes : list of str
        Class names, e.g. ``["Fe2+", "Fe3O4", "Fe3+"]``.
    labels : hyperspy.signal.BaseSignal
        Index into ``classes`` of the most probable class per pixel (an image for
        a 2-D scan); ``-1`` where masked.
    mean_valence : hyperspy.signal.BaseSignal
        Probability-weighted valence (Fe3O4 counts as 8/3); NaN where masked.
    edge_position : hyperspy.signal.BaseSignal
        Energy (eV, on the signal's axis) of the edge maximum the spectrum was
        aligned on: an apparent chemical-shift map (relative only, when the axis
        is uncalibrated). NaN where masked.
    snr : hyperspy.signal.BaseSignal
        Edge maximum over the noise per model channel (after background removal).
    mask : hyperspy.signal.BaseSignal
        True where no class was assigned (edge SNR below ``min_snr``, edge not
        found within ``max_shift``, or excluded by ``navigation_mask``).
    n_masked, n_pixels : int
        Number of masked pixels and of all pixels (dask scalars while lazy).
    model_info : dict
        Model source, file, sha256, variant, classes.
    parameters : dict
        Parameters of the call.
    """

    def __init__(self, **kw):
        self.__dict__.update(kw)

    _SIGNALS = ("probabilities", "labels", "mean_valence", "edge_position", "snr", "mask")

    @property
    def is_lazy(self):
        """Whether the result signals are lazy (not yet computed)."""
        return bool(self.labels._lazy)

    @property
    def masked_fraction(self):
        return float(self.n_masked) / max(int(self.n_pixels), 1)

    def compute(self, show_progressbar=None):
        """Compute every lazy part in one pass over the data (in place); returns self."""
        if not self.is_lazy:
            return self
        sigs = [getattr(self, n) for n in self._SIGNALS]
        vals = compute(*[s.data for s in sigs], self.n_masked, show_progressbar=show_progressbar)
        for name, sig, val in zip(self._SIGNALS, sigs, vals):
            setattr(self, name, to_eager(sig, val))
        self.n_masked = int(vals[-1])
        return self

    def class_fractions(self):
        """Fraction of the unmasked pixels labelled with each class (dict)."""
        lab = np.asarray(self.labels.data if not self.is_lazy else self.labels.data.compute()).reshape(-1)
        ok = lab >= 0
        return {c: float(np.mean(lab[ok] == i)) if ok.any() else float("nan") for i, c in enumerate(self.classes)}

    def plot(self, figsize=None, cmap="viridis"):
        """Probability map per class, label map and mean-valence map (like Figs. 6-7 of del-Pozo-Bueno 2023).

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt
        from matplotlib.colors import BoundaryNorm, ListedColormap

        res = self if not self.is_lazy else self.__class__(**self.__dict__).compute()
        nc = len(res.classes)
        prob = np.asarray(res.probabilities.data)
        labels = np.asarray(res.labels.data)
        val = np.asarray(res.mean_valence.data)
        nav = res._nav_axes
        fig, axs = plt.subplots(1, nc + 2, figsize=figsize or (3.3 * (nc + 2), 3.4), squeeze=False)
        axs = axs[0]

        def show(ax, img, **kw):
            if img.ndim == 2:
                extent = None
                if len(nav) == 2:
                    x, y = nav
                    extent = [x.axis[0], x.axis[-1], y.axis[-1], y.axis[0]]
                return ax.imshow(img, interpolation="nearest", extent=extent, **kw)
            return ax.imshow(np.atleast_2d(img.reshape(-1)), aspect="auto", interpolation="nearest", **kw)

        for i, c in enumerate(res.classes):
            im = show(axs[i], prob[..., i], vmin=0, vmax=1, cmap=cmap)
            axs[i].set_title(f"P({c})")
            fig.colorbar(im, ax=axs[i], fraction=0.046)
        base = plt.get_cmap("tab10")
        cm = ListedColormap([(0.8, 0.8, 0.8, 1.0)] + [base(i) for i in range(nc)])
        norm = BoundaryNorm(np.arange(-1.5, nc + 0.5), cm.N)
        im = show(axs[nc], labels, cmap=cm, norm=norm)
        cb = fig.colorbar(im, ax=axs[nc], ticks=np.arange(-1, nc), fraction=0.046)
        cb.ax.set_yticklabels(["masked"] + list(res.classes))
        axs[nc].set_title(f"labels ({int(res.n_masked)} masked)")
        im = show(axs[nc + 1], val, cmap="plasma")
        fig.colorbar(im, ax=axs[nc + 1], fraction=0.046)
        axs[nc + 1].set_title("mean valence")
        for ax in axs:
            if labels.ndim == 1:
                ax.set_yticks([])
        fig.tight_layout()
        return fig

    def __repr__(self):
        lazy = " (lazy)" if self.is_lazy else ""
        masked = "" if self.is_lazy else f", {int(self.n_masked)} of {int(self.n_pixels)} pixels masked"
        return (f"<OxidationResult{lazy}: {self.model_info.get('element')} "
                f"{_EDGE_NAMES.get(self.model_info.get('edge'), '')} {self.classes}{masked}>")


def _mask_array(navigation_mask, nav_shape):
    if navigation_mask is None:
        return None
    if hasattr(navigation_mask, "axes_manager"):
        navigation_mask = navigation_mask.data
    m = np.asarray(navigation_mask)
    if m.dtype != bool:
        raise ValueError("navigation_mask must be a boolean array (True = excluded).")
    if m.shape != tuple(nav_shape):
        raise ValueError(f"navigation_mask has shape {m.shape}, the navigation shape (array order) is "
                         f"{tuple(nav_shape)}.")
    return m


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
    lazy_output=None,
    show_progressbar=None,
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
    element : str
        ``"Fe"`` (classes ``Fe2+`` wustite, ``Fe3O4`` magnetite, ``Fe3+``
        hematite) or ``"Mn"`` (``Mn2+``, ``Mn3+``, ``Mn4+``); needed for the
        shipped models (see :func:`available_models`), taken from the model
        when ``model`` is a classifier or a file.
    edge : {"L23", "OK", "both"}
        Metal L2,3 white lines, the O K edge (Fe only), or both: the L2,3 and
        O K probabilities are multiplied (independent evidence) and renormalised.
    model : {"svm", "cnn"}, OxidationClassifier or str
        Shipped model kind, a fitted :class:`OxidationClassifier`, or the path of
        one saved with :meth:`OxidationClassifier.save`.
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
        Pixels whose edge maximum is below ``min_snr`` times the noise per
        0.2 eV channel are masked (vacuum, carbon film, too thin).
    max_shift : float, optional
        Largest calibration error searched for (eV; default 10 for aligned
        models). A smaller value needs a smaller energy range.
    navigation_mask : bool array or signal, optional
        Pixels to skip (True = excluded), navigation shape in array order.
    lazy_output : bool, optional
        Default: lazy iff the input is lazy.
    show_progressbar : bool, optional

    Returns
    -------
    OxidationResult
        ``probabilities``, ``classes``, ``labels`` (-1 where masked),
        ``mean_valence``, ``edge_position``, ``snr``, ``mask``, ``n_masked``,
        ``plot()``.

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
    edge_in = str(edge)
    if edge_in.lower() == "both":
        return _classify_both(signal, element, model, energy_calibrated, remove_background, min_snr, max_shift,
                              navigation_mask, lazy_output, show_progressbar)
    edge = _edge_key(edge)
    if energy_calibrated is None and not isinstance(model, OxidationClassifier) and str(model) in ("svm", "cnn"):
        energy_calibrated = False
    if element is not None:
        _check_element(element)
    clf, transport, info = _resolve_model(model, element, edge, energy_calibrated)
    spec = clf.spec
    if max_shift is not None:
        if max_shift < 0:
            raise ValueError("max_shift must be >= 0")
        spec = spec.replace(max_shift=float(max_shift))
    what = f"classify_oxidation ({clf.element} {_EDGE_NAMES[clf.edge]} model)"
    v = validate_eels(signal, what=what, min_channels=20)
    d = v.dispersion
    if d > spec.max_dispersion:
        raise EnergyAxisError(
            f"The signal's dispersion {d:g} eV/channel is much coarser than the model's {spec.dispersion:g} "
            f"eV/channel (at most {spec.max_dispersion:g} eV/channel is accepted): the white-line shapes are "
            "not resolved. Acquire with a finer dispersion."
        )
    need = (spec.background_range[0] if remove_background else spec.crop_range[0], spec.crop_range[1])
    e = v.energy
    half = 0.5 * d
    if need[0] < e[0] - half or need[1] > e[-1] + half:
        how = ("edge-aligned, calibration errors up to "
               f"+-{spec.max_shift:g} eV" if not spec.energy_calibrated else "calibrated axis")
        raise EnergyRangeError(
            f"{what} needs the energy range {need[0]:.1f}-{need[1]:.1f} eV "
            f"({'pre-edge background window ' + format(spec.background_range[0], '.1f') + '-' + format(spec.background_range[1], '.1f') + ' eV + ' if remove_background else ''}"
            f"{clf.element} {_EDGE_NAMES[clf.edge]} window, {how}), but the signal covers {e[0]:g}-{e[-1]:g} eV. "
            "Use a signal that contains this range"
            + (", pass a smaller max_shift" if not spec.energy_calibrated else "")
            + (", or remove_background=False for background-subtracted data." if remove_background else ".")
        )
    n_ch = int(np.sum((e >= spec.crop_range[0]) & (e <= spec.crop_range[1])))
    if n_ch < 20:  # pragma: no cover - implied by the range and dispersion checks
        raise EmptySignalError(f"{what} needs at least 20 channels in {spec.crop_range}, got {n_ch}.")
    if abs(d - spec.dispersion) > 0.01 * spec.dispersion:
        warnings.warn(
            f"classify_oxidation: the spectra ({d:g} eV/channel) are resampled to the model's "
            f"{spec.dispersion:g} eV/channel grid.", UserWarning, stacklevel=2)
    nav_shape = v.navigation_shape
    mask = _mask_array(navigation_mask, nav_shape)

    i0 = max(int(np.searchsorted(e, need[0]) - 1), 0)
    i1 = min(int(np.searchsorted(e, need[1]) + 2), e.size)
    data, energy = v.data[..., i0:i1], e[i0:i1]
    if data.ndim == 1:
        data = data[None]
        single = True
    else:
        single = False
    nc = len(spec.classes)
    transport_d = transport if isinstance(transport, str) else dask.delayed(transport, pure=True, traverse=False)
    out = map_spectra(data, _classify_block, nc + 3, np.float32, extra_args=(transport_d,),
                      energy=energy, spec_json=spec.to_json(), min_snr=float(min_snr),
                      remove_background=bool(remove_background))
    if single:
        out = out[0]
    prob = out[..., :nc]
    anchor = out[..., nc]
    snr = out[..., nc + 1]
    valid = out[..., nc + 2] > 0.5
    if mask is not None:
        valid = valid & ~da.from_array(mask, chunks=valid.chunks if valid.ndim else (), name=False)
        prob = da.where(valid[..., None], prob, np.nan)
    labels = da.where(valid, da.argmax(da.where(valid[..., None], prob, -1.0), axis=-1), -1).astype(np.int32)
    vals = _valences(spec.classes)
    mean_val = da.where(valid, (da.where(valid[..., None], prob, 0.0) * vals).sum(axis=-1), np.nan).astype(np.float32)
    anchor = da.where(valid, anchor, np.nan)
    masked = ~valid
    n_masked = masked.sum()
    n_pixels = int(np.prod(nav_shape, dtype=np.int64)) if not single else 1
    lazy = v.lazy if lazy_output is None else bool(lazy_output)
    if not lazy:
        prob, labels, mean_val, anchor, snr, masked, n_masked = compute(
            prob, labels, mean_val, anchor, snr, masked, n_masked, show_progressbar=show_progressbar)
        n_masked = int(n_masked)
    params = dict(element=element, edge=edge_in, model=model if isinstance(model, str) else repr(model),
                  energy_calibrated=clf.energy_calibrated, remove_background=remove_background,
                  min_snr=min_snr, max_shift=spec.max_shift, navigation_mask=navigation_mask is not None,
                  lazy_output=lazy_output)
    parent = signal
    p_sig = per_pixel_spectra(parent, prob, {"name": "class", "units": "", "scale": 1.0, "offset": 0.0},
                              "Oxidation-state probabilities", quantity="probability")
    p_sig.metadata.set_item("Signal.classes", list(spec.classes))
    lab_sig = navigation_map(parent, labels, "Oxidation-state labels", quantity="class index")
    lab_sig.metadata.set_item("Signal.classes", list(spec.classes))
    val_sig = navigation_map(parent, mean_val, "Mean valence", quantity="valence")
    pos_sig = navigation_map(parent, anchor, "Edge position", quantity="Energy loss (eV)")
    snr_sig = navigation_map(parent, snr, "Edge signal-to-noise ratio", quantity="SNR")
    mask_sig = navigation_map(parent, masked, "Oxidation-state mask", quantity="masked")
    models_info = dict(info, feature_spec=spec.to_dict(), training=clf.info)
    for s_ in (p_sig, lab_sig, val_sig, pos_sig, snr_sig, mask_sig):
        record_provenance(s_, "classify_oxidation", params, models=models_info,
                          dependencies=("hyperspy", "exspy", "numpy", "dask", "scikit-learn"))
    return OxidationResult(
        probabilities=p_sig, classes=list(spec.classes), labels=lab_sig, mean_valence=val_sig,
        edge_position=pos_sig, snr=snr_sig, mask=mask_sig, n_masked=n_masked, n_pixels=n_pixels,
        model_info=info, parameters=params, timings={"graph_or_compute": time.perf_counter() - t0},
        _nav_axes=list(signal.axes_manager.navigation_axes),
    )


def _check_element(element):
    from ..simulation.oxidation import white_line_parameters

    p = white_line_parameters()
    elements = sorted({s["element"] for s in p["species"].values()})
    if element not in elements:
        raise ValueError(f"Unknown element {element!r}; elements with white-line references: {elements}.")


def _classify_both(signal, element, model, energy_calibrated, remove_background, min_snr, max_shift,
                   navigation_mask, lazy_output, show_progressbar):
    """L2,3 and O K evidence combined: p ~ p_L23 * p_OK (renormalised), masked where either is masked."""
    if not (isinstance(model, str) and model in ("svm", "cnn")):
        raise ValueError("edge='both' combines two shipped models; pass model='svm' (or 'cnn').")
    if element is None:
        raise ValueError("Give element= (e.g. 'Fe') to use the shipped models.")
    kw = dict(element=element, energy_calibrated=energy_calibrated, remove_background=remove_background,
              min_snr=min_snr, max_shift=max_shift, navigation_mask=navigation_mask, lazy_output=lazy_output,
              show_progressbar=show_progressbar)
    r1 = classify_oxidation(signal, edge="L23", model=model, **kw)
    r2 = classify_oxidation(signal, edge="OK", model="svm", **kw)
    if r1.classes != r2.classes:  # pragma: no cover - shipped models share classes
        raise ValueError("The L2,3 and O K models have different classes.")
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
    if xp is np:
        out.n_masked = int(out.n_masked)
    out.model_info = {"L23": r1.model_info, "OK": r2.model_info, "element": r1.model_info["element"],
                      "edge": "both", "combination": "product of probabilities, renormalised"}
    out.parameters = dict(r1.parameters, edge="both")
    out.o_k_result = r2
    for s_ in (out.probabilities, out.labels, out.mean_valence, out.mask):
        record_provenance(s_, "classify_oxidation", out.parameters, models=out.model_info,
                          dependencies=("hyperspy", "exspy", "numpy", "dask", "scikit-learn"))
    return out
