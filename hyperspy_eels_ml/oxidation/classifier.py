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
        raise ValueError(f"Unknown element {element!r}; the white-line table knows {elements}.")
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
    F = np.asarray(F, dtype=np.float32)
    n = np.sqrt(np.einsum("ij,ij->i", F, F))
    return F / np.where(n > 0, n, 1.0)[:, None]


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
    import keras

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

    data = np.asarray(data, dtype=np.float32)
    energy = np.asarray(energy, dtype=np.float64)
    if data.ndim == 1:
        data = data[None]
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
        return not (getattr(_TLS, "quiet", False) and "Numexpr" in record.getMessage())


_TLS = threading.local()
_QUIET = _QuietNumexpr()


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
        _TLS.quiet = True
        try:
            with np.errstate(all="ignore"):  # thread-local, unlike warnings.catch_warnings
                s = s.remove_background(signal_range=tuple(spec.background_range), background_type="PowerLaw",
                                        fast=True, zero_fill=False, show_progressbar=False)
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

    def __init__(self, element="Fe", edge="L23", classes=None, model="svm", kernel="auto", C=None, gamma=None,
                 cv=3, energy_calibrated=False, shift_augmentation=0.0, n_augment=1, max_shift=None,
                 dispersion=0.2, epochs=30, batch_size=128, random_state=0):
        if model not in ("svm", "cnn"):
            raise ValueError(f"model must be 'svm' or 'cnn', got {model!r}")
        if kernel not in ("cosine", "rbf", "auto"):
            raise ValueError(f"kernel must be 'cosine', 'rbf' or 'auto', got {kernel!r}")
        self.spec = default_spec(element, edge, classes, energy_calibrated, max_shift, dispersion)
        self.model = model
        self.kernel = kernel
        self.C = C
        self.gamma = gamma
        self.cv = int(cv)
        self.shift_augmentation = float(shift_augmentation)
        self.n_augment = int(n_augment)
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.random_state = random_state
        self.info = {}
        self._svm = None
        self._keras = None

    # ---------------------------------------------------------------- props
    @property
    def classes(self):
        """Class names, in the order of the probability channels."""
        return list(self.spec.classes)

    @property
    def element(self):
        return self.spec.element

    @property
    def edge(self):
        return self.spec.edge

    @property
    def energy_calibrated(self):
        return self.spec.energy_calibrated

    @property
    def is_fitted(self):
        return self._svm is not None or self._keras is not None

    def __repr__(self):
        state = "fitted" if self.is_fitted else "not fitted"
        cal = "calibrated axis" if self.energy_calibrated else f"edge-aligned, +-{self.spec.max_shift:g} eV"
        return (f"<OxidationClassifier {self.model} {self.element} {self.edge} {self.classes} ({cal}), {state}>")

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
            ys = list(self.classes) if y is None else list(y)
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
                                       self.classes)
            else:
                lab = _labels_to_index(yi, self.classes)
                if lab.size != data.shape[0]:
                    raise ValueError(f"{lab.size} labels for {data.shape[0]} spectra.")
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
        F, lab, _ = self._collect(X, y, energy, remove_background, augment=True)
        return self.fit_features(F, lab)

    def fit_features(self, F, labels, raw_spectra=None):
        """Train on precomputed features (``extract_features`` output) and label indices."""
        F = np.asarray(F, dtype=np.float32)
        labels = np.asarray(labels, dtype=np.int64)
        present = np.unique(labels)
        if present.size < 2:
            raise ValueError(f"Training needs at least two classes, got {[self.classes[i] for i in present]}.")
        if self.model == "svm":
            self._fit_svm(F, labels)
        else:
            self._fit_cnn(F, labels)
        self.info["n_train"] = int(F.shape[0])
        self.info["class_counts"] = {self.classes[i]: int((labels == i).sum()) for i in range(len(self.classes))}
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
        nc = len(self.classes)
        if list(cal.classes_) != list(range(nc)):
            raise ValueError(f"Every class needs training spectra; present: {[self.classes[i] for i in cal.classes_]}.")
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
        self._svm = arrays
        self.info.update(best_params={k: (float(v) if not isinstance(v, str) else v) for k, v in best.items()},
                         cv_accuracy=cv_score, n_support_vectors=int(arrays["sv"].shape[0]) if "sv" in arrays else 0)

    def _fit_cnn(self, F, labels):
        import keras

        Xn = _cnn_input(F)
        nc = len(self.classes)
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
        self._keras = model
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
        out = np.zeros((F.shape[0], len(self.classes)), dtype=np.float32)
        step = 65536
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

        Returns the path(s) written.
        """
        if not self.is_fitted:
            raise RuntimeError("Nothing to save: the classifier is not fitted.")
        path = os.fspath(path)
        header = json.dumps(self._header(), sort_keys=True, default=_json_default)
        if self.model == "svm":
            if not path.endswith(".npz"):
                path += ".npz"
            arrays = {k: (np.asarray(v) if k != "kernel" else np.array(v)) for k, v in self._svm.items()}
            np.savez_compressed(path, header=np.array(header), **arrays)
            return path
        stem = path[:-6] if path.endswith(".keras") else path
        self._keras.save(stem + ".keras")
        with open(stem + ".json", "w") as f:
            f.write(header)
        return stem + ".keras"

    @classmethod
    def load(cls, path):
        """Load a model written by :meth:`save` (never unpickles)."""
        path = os.fspath(path)
        if path.endswith(".keras"):
            import keras

            with open(path[:-6] + ".json") as f:
                header = json.load(f)
            obj = cls._from_header(header)
            obj._keras = keras.saving.load_model(path, safe_mode=True, compile=False)
            return obj
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(str(z["header"]))
            arrays = {k: z[k] for k in z.files if k != "header"}
        arrays["kernel"] = str(arrays["kernel"])
        obj = cls._from_header(header)
        obj._svm = arrays
        return obj

    @classmethod
    def _from_header(cls, header):
        if header.get("format") != "hyperspy_eels_ml.OxidationClassifier":
            raise ValueError("Not an OxidationClassifier file.")
        if int(header.get("format_version", 0)) > FORMAT_VERSION:
            raise ValueError(f"File format {header['format_version']} is newer than this package's {FORMAT_VERSION}.")
        spec = FeatureSpec.from_dict(header["spec"])
        obj = cls.__new__(cls)
        obj.spec = spec
        obj.model = header["model"]
        obj.kernel = header.get("kernel", "auto")
        obj.C = obj.gamma = None
        obj.cv, obj.shift_augmentation, obj.n_augment, obj.epochs, obj.batch_size = 3, 0.0, 1, 30, 128
        obj.random_state = header.get("random_state")
        obj.info = header.get("info", {})
        obj._svm = obj._keras = None
        return obj

    def with_spec(self, **kw):
        """Shallow copy using a modified feature spec (e.g. another ``max_shift``); shares the fitted model."""
        new = self.__class__.__new__(self.__class__)
        new.__dict__.update(self.__dict__)
        new.spec = self.spec.replace(**kw)
        return new


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
