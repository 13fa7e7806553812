"""User-trainable oxidation-state classifier with a safe on-disk format.

:class:`OxidationClassifier` turns spectra into features with
:func:`~hyperspy_eels_ml.oxidation.preprocess.extract_features` (the same code
as :func:`~hyperspy_eels_ml.oxidation.classify_oxidation`) and trains

* ``model="svm"``: a support-vector machine on L2-normalised features (the
  cosine kernel is the linear kernel on L2-normalised spectra; or RBF), with a
  cross-validated grid search over ``C`` (and ``gamma``) and Platt (sigmoid)
  probabilities from :class:`sklearn.calibration.CalibratedClassifierCV`
  (``ensemble=False``; ``SVC(probability=True)`` is deprecated in
  scikit-learn 1.9). After fitting, the decision function and calibration are
  exported to plain arrays and evaluated in numpy, so prediction needs no
  scikit-learn object and a saved model is an ``.npz`` of numbers plus a JSON
  header, read with ``allow_pickle=False``;
* ``model="cnn"``: a compact 1-D convolutional network (Keras 3), saved as a
  ``.keras`` file (weights + architecture, loaded with ``safe_mode=True``)
  plus a JSON sidecar with the feature specification.

Nothing is ever unpickled when loading.
"""

from __future__ import annotations

import json
import logging
import os
import threading

import numpy as np

from .._shared.exceptions import ParameterError
from .preprocess import FeatureSpec, extract_features

__all__ = ["OxidationClassifier", "default_spec", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_DEFAULT_CLASSES = {
    "Fe": ("Fe2+", "Fe3O4", "Fe3+"),
    "Mn": ("Mn2+", "Mn3+", "Mn4+"),
}


def _edge_key(edge):
    e = str(edge).upper().replace(" ", "").replace(",", "").replace("_", "")
    if e in ("L23", "L2,3", "L"):
        return "L23"
    if e in ("OK", "K", "O"):
        return "OK"
    raise ValueError(f"Unknown edge {edge!r}; use 'L23' (metal white lines) or 'OK' (oxygen K).")


def default_spec(element, edge="L23", classes=None, energy_calibrated=False, max_shift=None,
                 dispersion=0.2, window=None):
    """Feature specification for ``element``/``edge`` derived from the white-line table.

    The anchor range covers the L3 maxima (or O K main peaks) of the classes'
    end members on a calibrated axis, widened by 0.5 eV; the window spans the
    L3 (-8 eV) to beyond L2, or the O K pre-peak to 16 eV above the main peak.
    """
    from ..simulation.oxidation import species_names, white_line_parameters

    p = white_line_parameters()
    edge = _edge_key(edge)
    known = species_names(element)
    if not known:
        elements = sorted({p["species"][s]["element"] for s in p["species"]})
        raise ParameterError(f"Unknown element {element!r}; the white-line table knows {elements}.")
    classes = tuple(_DEFAULT_CLASSES.get(element, tuple(s for s in known if s in p["species"]))
                    if classes is None else classes)
    bad = [c for c in classes if c not in known]
    if bad:
        raise ValueError(f"Unknown {element} species {bad}; known: {known}.")
    base = []
    for c in classes:
        base += list(p["mixtures"][c]["components"]) if c in p["mixtures"] else [c]
    base = sorted(set(base))
    sp = [p["species"][b] for b in base]
    if edge == "L23":
        anchors = [s["L3"][0] for s in sp]
        split = max(s["splitting"][0] for s in sp)
        win = (-8.0, round(split + 9.0))
        gap = 5.0
    else:
        missing = [b for b, s in zip(base, sp) if "O_K" not in s]
        if missing:
            raise ValueError(f"No O K parameters for {missing}; use edge='L23'.")
        anchors = [s["L3"][0] + s["O_K"]["pre_peak_offset"][0] + s["O_K"]["main_offset"][0] for s in sp]
        win = (-14.0, 16.0)
        gap = 14.0
    ar = (min(anchors) - 0.5, max(anchors) + 0.5)
    if max_shift is None:
        max_shift = 2.0 if energy_calibrated else 10.0
    return FeatureSpec(
        element=element, edge=edge, classes=tuple(classes), dispersion=float(dispersion),
        window=tuple(window) if window is not None else win, anchor_range=ar,
        reference_anchor=round(0.5 * (ar[0] + ar[1]), 2), background_gap=gap,
        energy_calibrated=bool(energy_calibrated), max_shift=float(max_shift),
        max_dispersion=max(0.5, 2.5 * float(dispersion)),
        # the L3 rising edge is steep (little noise jitter); the O K pre-peak can exceed half of
        # the main peak, so O K spectra are aligned on the main maximum
        anchor="onset" if edge == "L23" else "max",
    )


# ---------------------------------------------------------------------------
# numpy SVM (exported from scikit-learn)
# ---------------------------------------------------------------------------
def _l2(F):
    """Rows scaled to unit L2 norm, in float64 after dividing by the row's largest magnitude.

    Scaling first keeps the norm finite for any data scale (x1e20 overflows, x1e-30
    underflows float32 squares).
    """
    F = np.asarray(F, dtype=np.float64)
    m = np.max(np.abs(F), axis=1, keepdims=True) if F.size else np.ones((F.shape[0], 1))
    F = F / np.where(m > 0, m, 1.0)
    n = np.sqrt(np.einsum("ij,ij->i", F, F))
    return (F / np.where(n > 0, n, 1.0)[:, None]).astype(np.float32)


def _ovr(dec, n_classes):
    """scikit-learn's ``_ovr_decision_function`` from one-vs-one decision values."""
    n = dec.shape[0]
    votes = np.zeros((n, n_classes), dtype=np.float64)
    conf = np.zeros((n, n_classes), dtype=np.float64)
    k = 0
    for i in range(n_classes):
        for j in range(i + 1, n_classes):
            d = dec[:, k]
            conf[:, i] += d
            conf[:, j] -= d
            votes[:, i] += d >= 0
            votes[:, j] += d < 0
            k += 1
    return votes + conf / (3 * (np.abs(conf) + 1))


def svm_predict_proba(F, arrays):
    """Calibrated class probabilities of the exported SVM (numpy only)."""
    X = _l2(F)
    if arrays["kernel"] == "linear":
        dec = X @ arrays["W"] + arrays["b"]
    else:
        X = X.astype(np.float64)
        sv = arrays["sv"].astype(np.float64)
        d2 = np.einsum("ij,ij->i", X, X)[:, None] + arrays["sv_sq"][None, :] - 2.0 * (X @ sv.T)
        K = np.exp(-arrays["gamma"] * np.maximum(d2, 0.0))
        dec = K @ arrays["W"] + arrays["b"]
    nc = int(arrays["n_classes"])
    scores = dec[:, :1] if nc == 2 else _ovr(dec.astype(np.float64), nc)
    z = arrays["cal_a"][None, :] * scores + arrays["cal_b"][None, :]
    p = 1.0 / (1.0 + np.exp(np.clip(z, -500, 500)))
    if nc == 2:
        return np.concatenate([1 - p, p], axis=1)
    s = p.sum(axis=1, keepdims=True)
    return np.where(s > 0, p / np.where(s > 0, s, 1.0), 1.0 / nc)


def _export_svm(cal, n_classes):
    """Plain arrays of a fitted ``CalibratedClassifierCV(SVC, ensemble=False)``."""
    cc = cal.calibrated_classifiers_[0]
    svc = cc.estimator
    out = {"n_classes": np.int64(n_classes)}
    if svc.kernel == "linear":
        out["kernel"] = "linear"
        out["W"] = np.asarray(svc.coef_, dtype=np.float64).T.copy()
        out["b"] = np.asarray(svc.intercept_, dtype=np.float64)
        out["gamma"] = np.float64(0.0)
    else:
        out["kernel"] = "rbf"
        sv = np.asarray(svc.support_vectors_, dtype=np.float32)
        nsv = svc.n_support_
        start = np.concatenate([[0], np.cumsum(nsv)[:-1]])
        dual = svc.dual_coef_
        if n_classes == 2:
            W = dual[0][:, None].astype(np.float64)
        else:
            W = np.zeros((sv.shape[0], n_classes * (n_classes - 1) // 2))
            p = 0
            for i in range(n_classes):
                for j in range(i + 1, n_classes):
                    si = slice(start[i], start[i] + nsv[i])
                    sj = slice(start[j], start[j] + nsv[j])
                    W[si, p] = dual[j - 1, si]
                    W[sj, p] = dual[i, sj]
                    p += 1
        out["W"] = W
        out["b"] = np.asarray(svc.intercept_, dtype=np.float64)
        out["sv"] = sv
        out["gamma"] = np.float64(svc._gamma)
    out["sv_sq"] = (np.einsum("ij,ij->i", out["sv"].astype(np.float64), out["sv"].astype(np.float64))
                    if "sv" in out else np.zeros(0))
    out["cal_a"] = np.array([c.a_ for c in cc.calibrators], dtype=np.float64)
    out["cal_b"] = np.array([c.b_ for c in cc.calibrators], dtype=np.float64)
    return out


# ---------------------------------------------------------------------------
# CNN (Keras 3; imported only here)
# ---------------------------------------------------------------------------
def _cnn_input(F):
    F = _l2(F) * np.sqrt(F.shape[1])
    return F[:, :, None].astype(np.float32)


def _build_cnn(n_features, n_classes, seed):
    keras = _keras_module()

    keras.utils.set_random_seed(int(seed))
    return keras.Sequential([
        keras.Input((n_features, 1)),
        keras.layers.Conv1D(8, 7, padding="same", activation="relu"),
        keras.layers.MaxPooling1D(2),
        keras.layers.Conv1D(12, 5, padding="same", activation="relu"),
        keras.layers.MaxPooling1D(2),
        keras.layers.Conv1D(16, 5, padding="same", activation="relu"),
        keras.layers.MaxPooling1D(2),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(n_classes, activation="softmax"),
    ])


# ---------------------------------------------------------------------------
# inputs -> (spectra, energy, labels)
# ---------------------------------------------------------------------------
def _signal_arrays(signal):
    from .._shared import validate_eels

    v = validate_eels(signal, what="OxidationClassifier")
    data = v.data.compute() if v.lazy else np.asarray(v.data)
    return data.reshape(-1, data.shape[-1]), v.energy


def _labels_to_index(y, classes):
    y = np.asarray(y).reshape(-1)
    if y.dtype.kind in "US O".replace(" ", ""):
        idx = {c: i for i, c in enumerate(classes)}
        bad = sorted({str(v) for v in y if v not in idx})
        if bad:
            raise ValueError(f"Unknown labels {bad}; classes are {list(classes)}.")
        return np.array([idx[v] for v in y], dtype=np.int64)
    y = y.astype(np.int64)
    if y.size and (y.min() < -1 or y.max() >= len(classes)):
        raise ValueError(f"Integer labels must be -1 (ignored) or 0..{len(classes) - 1}.")
    return y


def spectra_features(data, energy, spec, remove_background=True, extra_shift=None):
    """Features of raw spectra ``(n, m)`` on ``energy``: exspy power-law removal + :func:`extract_features`."""
    x, e = prepare_arrays(data, energy, spec, remove_background)
    return extract_features(x, e, spec, extra_shift=extra_shift)


def prepare_arrays(data, energy, spec, remove_background=True):
    """Raw spectra ``(n, m)`` -> cropped, background-subtracted ``(n, m')`` and their energies."""
    from exspy.signals import EELSSpectrum

    from .._shared import check_energy_range

    data = np.asarray(data, dtype=np.float64)
    energy = np.asarray(energy, dtype=np.float64)
    if data.ndim == 1:
        data = data[None]
    # every later step is linear in the intensity (power law, features, SNR): scale each spectrum to
    # a maximum of 1 in float64 first, so that x1e20 / x1e-30 data neither overflow nor underflow
    peak = np.max(np.abs(data), axis=1, keepdims=True) if data.size else np.ones((data.shape[0], 1))
    data = (data / np.where(peak > 0, peak, 1.0)).astype(np.float32)
    lo = spec.background_range[0] if remove_background else spec.crop_range[0]
    check_energy_range(energy, (lo, spec.crop_range[1]), what=f"The {spec.element} {spec.edge} model")
    s = EELSSpectrum(data)
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.scale, ax.offset, ax.name = "eV", float(energy[1] - energy[0]), float(energy[0]), "Energy loss"
    x, e = _prepare(s, spec, remove_background)
    return np.asarray(x, dtype=np.float32).reshape(-1, x.shape[-1]), e


class _QuietNumexpr(logging.Filter):
    """Drops hyperspy's "Numexpr is not installed" warning, only inside our own background removal.

    A filter (not a level change) so that concurrent dask threads never leave the
    user's logging configuration modified.
    """

    def filter(self, record):
        msg = record.getMessage()
        return not (getattr(_TLS, "quiet", False) and ("Numexpr" in msg or "Power-law parameter estimation" in msg))


_TLS = threading.local()
_QUIET = _QuietNumexpr()


def _powerlaw_subtract(data, energy, window):
    """``data`` minus a power law fitted by least squares in log-log space on ``window`` (NaN rows if I <= 0)."""
    sel = (energy >= window[0]) & (energy <= window[1])
    flat = data.reshape(-1, data.shape[-1])
    y = flat[:, sel]
    good = (y > 0).all(axis=1)
    lx = np.log(energy[sel])
    A = np.vstack([np.ones_like(lx), lx]).T
    coef = np.linalg.lstsq(A, np.log(np.where(y > 0, y, 1.0)).T, rcond=None)[0]  # (2, n)
    bg = np.exp(coef[0][:, None] + coef[1][:, None] * np.log(energy)[None])
    out = flat - bg
    out[~good] = np.nan
    return out.reshape(data.shape)


def _prepare(signal, spec, remove_background):
    """Crop (and remove the power-law background of) a validated signal; returns (data, energy)."""
    lo = spec.background_range[0] if remove_background else spec.crop_range[0]
    ax = signal.axes_manager.signal_axes[0]
    e = ax.axis
    i0 = max(int(np.searchsorted(e, lo) - 1), 0)
    i1 = min(int(np.searchsorted(e, spec.crop_range[1]) + 2), e.size)
    s = signal.isig[i0:i1]
    if remove_background:
        expr_log = logging.getLogger("hyperspy._components.expression")
        if _QUIET not in expr_log.filters:
            expr_log.addFilter(_QUIET)
        pl_log = logging.getLogger("hyperspy._components.power_law")  # its failure is handled below
        if _QUIET not in pl_log.filters:
            pl_log.addFilter(_QUIET)
        _TLS.quiet = True
        try:
            with np.errstate(all="ignore"):  # thread-local, unlike warnings.catch_warnings
                s = s.remove_background(signal_range=tuple(spec.background_range), background_type="PowerLaw",
                                        fast=True, zero_fill=False, show_progressbar=False)
        except ValueError:
            # hyperspy's two-area estimate fails for the whole block when one spectrum decays so steeply
            # (e.g. the tail of another edge's white line) that E**-r underflows: fit log I = a - r log E
            # per spectrum instead (the same power law, by least squares; NaN where the window has I <= 0)
            s = s.deepcopy()
            s.data = _powerlaw_subtract(np.asarray(s.data, dtype=np.float64), s.axes_manager.signal_axes[0].axis,
                                        spec.background_range).astype(s.data.dtype)
        finally:
            _TLS.quiet = False
    e = s.axes_manager.signal_axes[0].axis
    j0 = max(int(np.searchsorted(e, spec.crop_range[0]) - 1), 0)
    s = s.isig[j0:]
    return s.data, np.asarray(s.axes_manager.signal_axes[0].axis, dtype=np.float64)


# ---------------------------------------------------------------------------
# the classifier
# ---------------------------------------------------------------------------
class OxidationClassifier:
    """Oxidation-state classifier (scikit-learn-like), usable as ``model=`` of :func:`classify_oxidation`.

    Parameters
    ----------
    element : str
        ``"Fe"``, ``"Mn"`` or another element of the white-line table.
    edge : {"L23", "OK"}
        Metal L2,3 white lines or the O K edge.
    classes : sequence of str, optional
        Class names (default Fe: ``Fe2+, Fe3O4, Fe3+``; Mn: ``Mn2+, Mn3+, Mn4+``).
        Labels passed to :meth:`fit` are indices into, or names of, these.
    model : {"svm", "cnn"}
        Back end.
    kernel : {"cosine", "rbf", "auto"}
        SVM kernel; ``"auto"`` searches both.
    C, gamma : sequence of float, optional
        Grid-search values (default ``C`` 0.1-1000, ``gamma`` 1-100 on
        L2-normalised features).
    cv : int
        Folds of the grid search and of the Platt calibration.
    energy_calibrated : bool
        False: align every spectrum on its own edge (robust to calibration
        errors up to ``max_shift``); True: use absolute energies.
    shift_augmentation : float
        Each training spectrum is used ``n_augment`` times with a random window
        shift uniform in +-``shift_augmentation`` eV.
    n_augment : int
    max_shift : float, optional
        Largest calibration error handled (default 10 eV, or 2 eV when calibrated).
    dispersion : float
        Model grid (eV/channel).
    epochs, batch_size : int
        CNN training.
    random_state : int

    Examples
    --------
    >>> clf = OxidationClassifier("Mn", kernel="cosine")  # doctest: +SKIP
    >>> clf.fit({"Mn2+": s_mno, "Mn3+": s_mn2o3, "Mn4+": s_mno2})  # doctest: +SKIP
    >>> clf.save("my_mn.npz"); res = s.classify_oxidation("Mn", model="my_mn.npz")  # doctest: +SKIP
    """

    _PARAMS = ("element", "edge", "classes", "model", "kernel", "C", "gamma", "cv", "energy_calibrated",
               "shift_augmentation", "n_augment", "max_shift", "dispersion", "epochs", "batch_size", "random_state")

    def __init__(self, element="Fe", edge="L23", classes=None, model="svm", kernel="auto", C=None, gamma=None,
                 cv=3, energy_calibrated=False, shift_augmentation=0.0, n_augment=1, max_shift=None,
                 dispersion=0.2, epochs=30, batch_size=128, random_state=0):
        # scikit-learn convention: store only; validation and defaults happen in fit()
        self.element = element
        self.edge = edge
        self.classes = classes
        self.model = model
        self.kernel = kernel
        self.C = C
        self.gamma = gamma
        self.cv = cv
        self.energy_calibrated = energy_calibrated
        self.shift_augmentation = shift_augmentation
        self.n_augment = n_augment
        self.max_shift = max_shift
        self.dispersion = dispersion
        self.epochs = epochs
        self.batch_size = batch_size
        self.random_state = random_state

    # ---------------------------------------------------------------- sklearn API
    def get_params(self, deep=True):
        """Parameters of the estimator (scikit-learn convention)."""
        return {k: getattr(self, k) for k in self._PARAMS}

    def set_params(self, **params):
        """Set parameters (scikit-learn convention); a fitted model must be refitted."""
        bad = sorted(set(params) - set(self._PARAMS))
        if bad:
            raise ValueError(f"Unknown parameters {bad}; valid: {list(self._PARAMS)}.")
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def _validated_spec(self):
        """Validate the parameters and build the feature specification (called by fit)."""
        from .._shared.params import check_bool, check_choice, check_float, check_int, check_random_state

        check_choice("model", self.model, ("svm", "cnn"))
        check_choice("kernel", self.kernel, ("cosine", "rbf", "auto"))
        check_int("cv", self.cv, min=2)
        check_int("n_augment", self.n_augment, min=1)
        check_int("epochs", self.epochs, min=1)
        check_int("batch_size", self.batch_size, min=1)
        check_float("shift_augmentation", self.shift_augmentation, min=0.0)
        check_float("dispersion", self.dispersion, min=0.0, inclusive=(False, True))
        check_float("max_shift", self.max_shift, min=0.0, allow_none=True)
        check_bool("energy_calibrated", self.energy_calibrated)
        check_random_state(self.random_state)
        return default_spec(self.element, self.edge, self.classes, self.energy_calibrated, self.max_shift,
                            self.dispersion)

    # ---------------------------------------------------------------- fitted state
    @property
    def spec(self):
        """The feature specification: ``spec_`` once fitted, else built (and validated) from the parameters."""
        return self.__dict__["spec_"] if "spec_" in self.__dict__ else self._validated_spec()

    @property
    def classes_(self):
        """Class names, in the order of the probability channels (fitted)."""
        return list(self.spec.classes)

    @property
    def info(self):
        """Training summary (``info_`` once fitted)."""
        return self.__dict__.setdefault("info_", {})

    @property
    def _svm(self):
        return self.__dict__.get("svm_")

    @property
    def _keras(self):
        return self.__dict__.get("keras_")

    @property
    def is_fitted(self):
        return self._svm is not None or self._keras is not None

    def __repr__(self):
        state = "fitted" if self.is_fitted else "not fitted"
        try:
            sp = self.spec
        except Exception as exc:  # invalid parameters: say so instead of failing in repr
            return f"<OxidationClassifier (invalid parameters: {exc}), {state}>"
        cal = "calibrated axis" if sp.energy_calibrated else f"edge-aligned, +-{sp.max_shift:g} eV"
        return f"<OxidationClassifier {self.model} {sp.element} {sp.edge} {list(sp.classes)} ({cal}), {state}>"

    # ---------------------------------------------------------------- data
    def _collect(self, X, y, energy, remove_background, augment=False):
        """-> features, label indices, snr."""
        from hyperspy.signal import BaseSignal

        if isinstance(X, dict):
            items = list(X.items())
            Xs = [v for _, v in items]
            ys = [k for k, _ in items]
        elif isinstance(X, list | tuple) and X and isinstance(X[0], BaseSignal):
            Xs = list(X)
            ys = list(self.classes_) if y is None else list(y)
            if len(ys) != len(Xs):
                raise ValueError("Give one class per signal (y), or a dict {class: signal}.")
        else:
            Xs, ys = [X], [y]
        feats, labs, snrs = [], [], []
        for Xi, yi in zip(Xs, ys):
            if isinstance(Xi, BaseSignal):
                data, e = _signal_arrays(Xi)
                if (yi is not None and not (isinstance(yi, str | np.integer | int))
                        and isinstance(yi, BaseSignal)):
                    yi = np.asarray(yi.data)
            else:
                if energy is None:
                    raise ValueError("Arrays need `energy` (the energy axis in eV).")
                data = np.asarray(X if Xi is X else Xi, dtype=np.float32)
                data = data.reshape(-1, data.shape[-1])
                e = np.asarray(energy, dtype=np.float64)
            if yi is None:
                raise ValueError("Labels are needed: y, a dict {class: signal} or a list of signals per class.")
            if isinstance(yi, str | int | np.integer):
                lab = _labels_to_index(np.full(data.shape[0], yi, dtype=object if isinstance(yi, str) else int),
                                       self.classes_)
            else:
                lab = _labels_to_index(yi, self.classes_)
                if lab.size != data.shape[0]:
                    raise ValueError(f"{lab.size} labels for {data.shape[0]} spectra.")
            if not np.isfinite(np.asarray(data, dtype=np.float64)).all():
                from .._shared.exceptions import NonFiniteDataError

                bad = int((~np.isfinite(np.asarray(data, dtype=np.float64))).any(axis=-1).sum())
                raise NonFiniteDataError(f"{bad} training spectra contain NaN or inf; remove or repair them "
                                         "before fit().")
            x, ex = prepare_arrays(data, e, self.spec, remove_background)
            rng = np.random.default_rng(self.random_state)
            for _ in range(self.n_augment if augment and self.shift_augmentation > 0 else 1):
                extra = (rng.uniform(-self.shift_augmentation, self.shift_augmentation, x.shape[0])
                         if augment and self.shift_augmentation > 0 else None)
                f, _, snr, _ = extract_features(x, ex, self.spec, extra_shift=extra)
                feats.append(f)
                labs.append(lab)
                snrs.append(snr)
        F, lab, snr = np.concatenate(feats), np.concatenate(labs), np.concatenate(snrs)
        keep = lab >= 0
        return F[keep], lab[keep], snr[keep]

    def _features(self, X, energy, remove_background):
        from hyperspy.signal import BaseSignal

        if isinstance(X, BaseSignal):
            data, e = _signal_arrays(X)
        else:
            if energy is None:
                raise ValueError("Arrays need `energy` (the energy axis in eV).")
            data = np.asarray(X, dtype=np.float32)
            data = data.reshape(-1, data.shape[-1])
            e = energy
        return spectra_features(data, e, self.spec, remove_background)[0]

    # ---------------------------------------------------------------- fit
    def fit(self, X, y=None, energy=None, remove_background=True):
        """Train on labelled spectra.

        Parameters
        ----------
        X : EELSSpectrum, list/dict of EELSSpectrum, or numpy.ndarray
            * a signal (any navigation shape) with ``y`` = labels per pixel
              (array of the navigation shape, class names or indices, ``-1`` =
              unused; e.g. ``umap_cluster(...).labels.data`` remapped);
            * ``{class_name: signal}`` or a list of signals with ``y`` = one class
              per signal (e.g. ROIs of reference SIs);
            * an array ``(n, channels)`` with ``energy`` and ``y``.
        y : array_like or sequence, optional
        energy : numpy.ndarray, optional
            Energy axis (eV) of array input.
        remove_background : bool
            Remove the pre-edge power law (exspy) first, as at prediction.

        Returns
        -------
        self
        """
        spec = self._validated_spec()
        for k in ("svm_", "keras_", "info_"):
            self.__dict__.pop(k, None)
        self.spec_ = spec
        F, lab, _ = self._collect(X, y, energy, remove_background, augment=True)
        return self.fit_features(F, lab)

    def fit_features(self, F, labels, raw_spectra=None):
        """Train on precomputed features (``extract_features`` output) and label indices."""
        from .._shared.exceptions import NonFiniteDataError

        if "spec_" not in self.__dict__:
            self.spec_ = self._validated_spec()
        for k in ("svm_", "keras_"):
            self.__dict__.pop(k, None)
        F = np.asarray(F, dtype=np.float32)
        if not np.isfinite(F).all():
            raise NonFiniteDataError("Training features contain NaN or inf; remove or repair those spectra.")
        labels = np.asarray(labels, dtype=np.int64)
        present = np.unique(labels)
        if present.size < 2:
            raise ValueError(f"Training needs at least two classes, got {[self.classes_[i] for i in present]}.")
        if self.model == "svm":
            self._fit_svm(F, labels)
        else:
            self._fit_cnn(F, labels)
        self.info["n_train"] = int(F.shape[0])
        self.info["class_counts"] = {c: int((labels == i).sum()) for i, c in enumerate(self.classes_)}
        return self

    def _fit_svm(self, F, labels):
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.model_selection import GridSearchCV, StratifiedKFold
        from sklearn.svm import SVC

        X = _l2(F)
        Cs = list(self.C) if self.C is not None else [0.1, 1.0, 10.0, 100.0, 1000.0]
        gammas = list(self.gamma) if self.gamma is not None else [1.0, 10.0, 100.0]
        grid = []
        if self.kernel in ("cosine", "auto"):
            grid.append({"kernel": ["linear"], "C": Cs})
        if self.kernel in ("rbf", "auto"):
            grid.append({"kernel": ["rbf"], "C": Cs, "gamma": gammas})
        cv = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
        single = sum(len(g["C"]) * len(g.get("gamma", [1])) for g in grid) == 1
        if single:
            best = {k: v[0] for k, v in grid[0].items()}
            cv_score = None
        else:
            gs = GridSearchCV(SVC(class_weight="balanced", cache_size=500), grid, cv=cv, n_jobs=1)
            gs.fit(X, labels)
            best, cv_score = gs.best_params_, float(gs.best_score_)
        svc = SVC(class_weight="balanced", cache_size=500, **best)
        cal = CalibratedClassifierCV(svc, method="sigmoid", cv=cv, ensemble=False)
        cal.fit(X, labels)
        nc = len(self.classes_)
        if list(cal.classes_) != list(range(nc)):
            raise ValueError(f"Every class needs training spectra; present: {[self.classes_[i] for i in cal.classes_]}.")
        arrays = _export_svm(cal, nc)
        # the numpy re-implementation must reproduce scikit-learn
        chk = X[:: max(1, X.shape[0] // 500)]
        # away from one-vs-one ties (where scikit-learn's vote-based scores jump), the
        # numpy re-implementation must reproduce scikit-learn
        fitted = cal.calibrated_classifiers_[0].estimator
        shape = fitted.decision_function_shape
        fitted.decision_function_shape = "ovo"
        try:
            ovo = fitted.decision_function(chk)
        finally:
            fitted.decision_function_shape = shape
        chk = chk[np.all(np.abs(ovo.reshape(len(chk), -1)) > 1e-3, axis=1)]
        diff = np.abs(svm_predict_proba(chk, arrays) - cal.predict_proba(chk)).max() if len(chk) else 0.0
        if diff > 1e-4:  # pragma: no cover - guards against scikit-learn internals changing
            raise RuntimeError(f"exported SVM ({best}) differs from scikit-learn by {diff:g}")
        self.svm_ = arrays
        self.info.update(best_params={k: (float(v) if not isinstance(v, str) else v) for k, v in best.items()},
                         cv_accuracy=cv_score, n_support_vectors=int(arrays["sv"].shape[0]) if "sv" in arrays else 0)

    def _fit_cnn(self, F, labels):
        keras = _keras_module()

        Xn = _cnn_input(F)
        nc = len(self.classes_)
        model = _build_cnn(F.shape[1], nc, self.random_state or 0)
        model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        rng = np.random.default_rng(self.random_state)
        perm = rng.permutation(len(labels))
        n_val = max(1, len(labels) // 10)
        val, tr = perm[:n_val], perm[n_val:]
        cb = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=4, restore_best_weights=True)]
        hist = model.fit(Xn[tr], labels[tr], validation_data=(Xn[val], labels[val]), epochs=self.epochs,
                         batch_size=self.batch_size, verbose=0, callbacks=cb, shuffle=True)
        self.keras_ = model
        self.info.update(epochs_run=len(hist.history["loss"]),
                         val_accuracy=float(max(hist.history["val_accuracy"])),
                         n_parameters=int(model.count_params()))

    # ---------------------------------------------------------------- predict
    def predict_proba_features(self, F):
        """Class probabilities ``(n, n_classes)`` of features."""
        if not self.is_fitted:
            raise RuntimeError("This OxidationClassifier is not fitted; call fit() or load().")
        F = np.asarray(F, dtype=np.float32)
        if F.shape[1] != self.spec.n_features:
            raise ValueError(f"expected {self.spec.n_features} features, got {F.shape[1]}")
        if self._svm is not None:
            return svm_predict_proba(F, self._svm).astype(np.float32)
        out = np.zeros((F.shape[0], len(self.classes_)), dtype=np.float32)
        step = 65536
        with _quiet_stderr_fd():  # the first call initialises TensorFlow's devices (more C++ chatter)
            for i in range(0, F.shape[0], step):
                out[i : i + step] = np.asarray(self._keras(_cnn_input(F[i : i + step]), training=False))
        return out

    def predict_proba(self, X, energy=None, remove_background=True):
        """Class probabilities of spectra (a signal, or an array with ``energy``)."""
        return self.predict_proba_features(self._features(X, energy, remove_background))

    def predict(self, X, energy=None, remove_background=True):
        """Class index per spectrum (argmax of :meth:`predict_proba`)."""
        return np.argmax(self.predict_proba(X, energy, remove_background), axis=1)

    def score(self, X, y=None, energy=None, remove_background=True):
        """Accuracy on labelled spectra (same inputs as :meth:`fit`)."""
        F, lab, _ = self._collect(X, y, energy, remove_background)
        return float(np.mean(np.argmax(self.predict_proba_features(F), axis=1) == lab))

    def __dask_tokenize__(self):
        """Deterministic token (the classifier travels in dask graphs as one delayed object)."""
        if self._svm is not None:
            import hashlib

            h = hashlib.sha256(self.spec.to_json().encode())
            for k in sorted(self._svm):
                h.update(k.encode())
                h.update(np.ascontiguousarray(np.asarray(self._svm[k])).tobytes())
            return ("OxidationClassifier", h.hexdigest())
        return ("OxidationClassifier", id(self), self.spec.to_json())

    # ---------------------------------------------------------------- io
    def _header(self):
        return {"format": "hyperspy_eels_ml.OxidationClassifier", "format_version": FORMAT_VERSION,
                "model": self.model, "spec": self.spec.to_dict(), "info": self.info,
                "kernel": self.kernel, "random_state": self.random_state}

    def save(self, path):
        """Save in a safe format: ``.npz`` (SVM: arrays + JSON header) or ``.keras`` + ``.json`` (CNN).

        The header holds a SHA-256 digest of the arrays and the feature
        specification, checked by :meth:`load` (a tampered file is refused).
        Returns the path written.
        """
        if not self.is_fitted:
            raise RuntimeError("Nothing to save: the classifier is not fitted.")
        path = os.fspath(path)
        head = self._header()
        if self.model == "svm":
            if not path.endswith(".npz"):
                path += ".npz"
            arrays = {k: (np.asarray(v) if k != "kernel" else np.array(v)) for k, v in self._svm.items()}
            head["digest"] = _digest(head["spec"], arrays)
            np.savez_compressed(path, header=np.array(json.dumps(head, sort_keys=True, default=_json_default)),
                                **arrays)
            return path
        stem = path[:-6] if path.endswith(".keras") else path
        self._keras.save(stem + ".keras")
        head["digest"] = _digest(head["spec"], {})
        with open(stem + ".json", "w") as f:
            f.write(json.dumps(head, sort_keys=True, default=_json_default))
        return stem + ".keras"

    @classmethod
    def load(cls, path):
        """Load a model written by :meth:`save` (never unpickles).

        Raises
        ------
        ModelFileError
            Missing, corrupt, tampered or inconsistent file (the cause is named).
        """
        from .._shared.exceptions import ModelFileError

        path = os.fspath(path)
        if not os.path.isfile(path):
            raise ModelFileError(path, "no such file")
        if path.endswith(".keras"):
            side = path[:-6] + ".json"
            try:
                with open(side) as f:
                    header = json.load(f)
            except (OSError, ValueError) as exc:
                raise ModelFileError(side, exc) from None
            obj = cls._from_header(header, path)
            keras = _keras_module()

            try:
                with _quiet_stderr_fd():
                    net = keras.saving.load_model(path, safe_mode=True, compile=False)
            except Exception as exc:  # corrupt zip, missing config, unsafe content
                raise ModelFileError(path, exc) from None
            shp_in, shp_out = tuple(net.input_shape), tuple(net.output_shape)
            if shp_in[1:] != (obj.spec_.n_features, 1) or shp_out[1:] != (len(obj.spec_.classes),):
                raise ModelFileError(path, f"network shapes {shp_in} -> {shp_out} do not match the header "
                                           f"({obj.spec_.n_features} features, {len(obj.spec_.classes)} classes)")
            if not all(np.isfinite(w).all() for w in net.get_weights()):
                raise ModelFileError(path, "non-finite weights")
            obj.keras_ = net
            return obj
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(str(z["header"]))
                arrays = {k: z[k] for k in z.files if k != "header"}
        except Exception as exc:  # BadZipFile, EOFError, CRC error, object arrays refused, bad JSON
            raise ModelFileError(path, exc) from None
        obj = cls._from_header(header, path)
        _check_svm_arrays(path, arrays, obj.spec_, header)
        arrays["kernel"] = str(arrays["kernel"])
        obj.svm_ = arrays
        return obj

    @classmethod
    def _from_header(cls, header, path=None):
        from .._shared.exceptions import ModelFileError
        from ..simulation.oxidation import species_names

        if not isinstance(header, dict) or header.get("format") != "hyperspy_eels_ml.OxidationClassifier":
            raise ModelFileError(path, "not an OxidationClassifier file")
        try:
            version = int(header.get("format_version", 0))
        except (TypeError, ValueError):
            raise ModelFileError(path, f"bad format_version {header.get('format_version')!r}") from None
        if version > FORMAT_VERSION:
            raise ModelFileError(path, f"file format {version} is newer than this package's {FORMAT_VERSION}")
        try:
            spec = FeatureSpec.from_dict(header["spec"])
        except Exception as exc:
            raise ModelFileError(path, f"invalid feature specification ({exc})") from None
        known, table = species_names(spec.element), set(species_names())
        foreign = [c for c in spec.classes if c in table and c not in known]
        if foreign:  # e.g. the element changed in the header of an Fe model
            raise ModelFileError(path, f"header inconsistent: classes {foreign} are not {spec.element} species")
        if header.get("model") not in ("svm", "cnn"):
            raise ModelFileError(path, f"unknown model kind {header.get('model')!r}")
        digest = header.get("digest")
        obj = cls.__new__(cls)
        obj.__init__(element=spec.element, edge=spec.edge, classes=tuple(spec.classes), model=header["model"],
                     kernel=header.get("kernel", "auto"), energy_calibrated=spec.energy_calibrated,
                     max_shift=spec.max_shift, dispersion=spec.dispersion,
                     random_state=header.get("random_state"))
        obj.spec_ = spec
        obj.info_ = header.get("info", {})
        obj._digest = digest
        return obj

    def with_spec(self, **kw):
        """Shallow copy using a modified feature spec (e.g. another ``max_shift``); shares the fitted model."""
        new = self.__class__.__new__(self.__class__)
        new.__dict__.update(self.__dict__)
        new.spec_ = self.spec.replace(**kw)
        return new


def _keras_module():
    """Keras imported quietly (no TensorFlow/CUDA chatter on stderr)."""
    from .._shared.imports import import_keras

    with _quiet_stderr_fd():
        return import_keras()


class _quiet_stderr_fd:
    """Redirect the process's file descriptor 2 to /dev/null while TensorFlow starts.

    TensorFlow's C++ start-up lines ("Could not find cuda drivers", absl's
    "All log messages before absl::InitializeLog()") are written to fd 2 before
    any logging setting applies, whatever ``TF_CPP_MIN_LOG_LEVEL`` says. Python
    exceptions are unaffected (they are printed later, after the restore).
    """

    _lock = threading.Lock()

    def __enter__(self):
        self._saved = None
        try:
            import sys

            sys.stderr.flush()
            fd = sys.stderr.fileno()
        except Exception:  # no real stderr (e.g. some notebooks): nothing to silence
            return self
        self._lock.acquire()
        self._fd, self._saved = fd, os.dup(fd)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
        return self

    def __exit__(self, *exc):
        if self._saved is not None:
            os.dup2(self._saved, self._fd)
            os.close(self._saved)
            self._lock.release()
        return False


def _digest(spec_dict, arrays):
    import hashlib

    h = hashlib.sha256(json.dumps(spec_dict, sort_keys=True, default=_json_default).encode())
    for k in sorted(arrays):
        a = np.ascontiguousarray(np.asarray(arrays[k]))
        h.update(k.encode())
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _check_svm_arrays(path, arrays, spec, header):
    """Shapes, finiteness and header consistency of a saved SVM (ModelFileError otherwise)."""
    from .._shared.exceptions import ModelFileError

    need = {"n_classes", "kernel", "W", "b", "gamma", "sv_sq", "cal_a", "cal_b"}
    missing = sorted(need - set(arrays))
    if missing:
        raise ModelFileError(path, f"missing arrays {missing}")
    for k, a in arrays.items():
        if a.dtype.kind not in "fiub" and k != "kernel":
            raise ModelFileError(path, f"array {k!r} has dtype {a.dtype}")
    kernel = str(arrays["kernel"])
    nc = int(arrays["n_classes"])
    if nc != len(spec.classes):
        raise ModelFileError(path, f"{nc} classes in the arrays, {len(spec.classes)} in the header")
    n_dec = 1 if nc == 2 else nc * (nc - 1) // 2
    W, b = arrays["W"], arrays["b"]
    if kernel == "linear":
        ok = W.shape == (spec.n_features, n_dec)
    elif kernel == "rbf":
        sv = arrays.get("sv")
        ok = (sv is not None and sv.ndim == 2 and sv.shape[1] == spec.n_features and W.shape == (sv.shape[0], n_dec)
              and arrays["sv_sq"].shape == (sv.shape[0],))
    else:
        raise ModelFileError(path, f"unknown kernel {kernel!r}")
    n_cal = 1 if nc == 2 else nc
    ok = ok and b.shape == (n_dec,) and arrays["cal_a"].shape == (n_cal,) and arrays["cal_b"].shape == (n_cal,)
    if not ok:
        raise ModelFileError(path, f"array shapes do not match the header ({spec.n_features} features, {nc} classes, "
                                   f"{kernel} kernel)")
    for k, a in arrays.items():
        if k != "kernel" and not np.isfinite(a).all():
            raise ModelFileError(path, f"non-finite values in {k!r}")
    digest = header.get("digest")
    if digest is not None and digest != _digest(header["spec"], arrays):
        raise ModelFileError(path, "the header's digest does not match the arrays and specification "
                                   "(file modified after saving)")


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
