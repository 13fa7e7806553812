"""Fitting: :func:`fit_umap_cluster` -> :class:`UMAPClusterModel` (PCA + UMAP + HDBSCAN).

The fit makes one pass over the data (uncentred PCA Gram matrix accumulated
block by block, a dask tree reduction, and a random subsample of
``max_fit_samples`` unmasked pixels), then fits UMAP and HDBSCAN on the
subsample in memory. :meth:`UMAPClusterModel.predict` embeds and labels every
pixel of a signal, one block at a time (a second pass).

Why uncentred PCA: with the default cosine metric the segmentation must not
depend on the intensity (thickness) of a pixel. An uncentred projection is
linear without offset, so a spectrum ``k*x`` maps to ``k*z`` and keeps its
cosine distances; a centred PCA would not. HyperSpy's lazy ``decomposition``
fits all components through its own pass and stores them on the signal
(modifying it); the Gram-matrix pass is exact, one pass, and shares the read of
the data with the subsample. Above :data:`GRAM_MAX_CHANNELS` channels the
``E x E`` Gram matrix would be too large (51,200 channels: 19.5 GiB), so the
components come from a randomized SVD of the fit subsample instead
(memory ``n_fit x E``).
"""

from __future__ import annotations

import inspect
import logging
import time
import warnings

import dask
import dask.array as da
import numpy as np

from .._shared.batch import as_dask, canonical_chunks, compute, map_spectra, reduce_spectra
from .._shared.exceptions import DegenerateDataError, EmptySignalError, EnergyAxisError, ParameterError
from .._shared.imports import import_hdbscan, import_umap
from .._shared.params import (
    ParamsMixin,
    check_bool,
    check_choice,
    check_float,
    check_float_range,
    check_int,
    check_random_state,
)
from .._shared.validation import check_finite_block, parse_energy_range, validate_eels
from .._shared.warn import warn
from .kernels import NORMALIZATIONS, embed_block, features, gram_block, sums_block
from .masks import vacuum_mask
from .merge import merge_continuous_clusters, relabel_by_size, rescue_index

_logger = logging.getLogger(__name__)

__all__ = ["UMAPClusterModel", "fit_umap_cluster", "GRAM_MAX_CHANNELS", "MAX_FIT_BYTES"]

#: Above this many channels the PCA uses a randomized SVD of the fit subsample (no E x E Gram matrix).
GRAM_MAX_CHANNELS = 2048
#: Largest in-memory fit subsample (n_fit x channels x 4 bytes) accepted before asking for fewer samples.
MAX_FIT_BYTES = 2 * 2**30
#: Fewer channels than this in the clustering range trigger a warning.
FEW_CHANNELS = 8


class _ModelHandle:
    """Carries the fitted PCA/UMAP/HDBSCAN bundle into dask tasks.

    It is one graph key (``dask.delayed``), so ``dask.distributed`` sends it
    once per worker and keeps it there. Unpickling goes through
    :func:`_restore_model`, which imports umap without TensorFlow first
    (a plain unpickle of a UMAP object would ``import umap`` and with it
    TensorFlow on every worker). Only objects fitted in this session are
    pickled; nothing from disk is ever unpickled.
    """

    def __init__(self, model):
        self.model = model

    def __reduce__(self):
        import cloudpickle

        return (_restore_model, (cloudpickle.dumps(self.model),))


def _restore_model(payload):
    import pickle

    import_umap()
    import_hdbscan()
    return _ModelHandle(pickle.loads(payload))


def _gather(data, flat_idx, nav_shape):
    idx = np.unravel_index(flat_idx, nav_shape)
    if isinstance(data, da.Array):
        if len(nav_shape) == 1:
            return data[idx[0]]
        return data.vindex[idx]
    return np.asarray(data[idx])


def _finite_flags(block, mask=None):
    """Kernel of the first pass without PCA: checks finiteness (raises), one True per spectrum."""
    check_finite_block(block, mask)
    return np.ones((block.shape[0], 1), dtype=bool)


def _version(name):
    from importlib.metadata import version

    return version(name)


class _Prepared:
    """Validated data of one call: full-range and clustering-range arrays with the same chunks."""

    def __init__(self, signal, signal_range, navigation_mask, block_size, what, preprocessing=None):
        if isinstance(navigation_mask, str) and navigation_mask == "vacuum":
            navigation_mask = vacuum_mask(signal, signal_range=signal_range)
        v = validate_eels(signal, what=what, min_channels=3, navigation_mask=navigation_mask)
        vx = v
        if preprocessing is not None:
            from .preprocess import remove_edge_backgrounds

            pre = remove_edge_backgrounds(signal, **preprocessing)
            vx = validate_eels(pre, what=what, min_channels=3, navigation_mask=v.mask)
        energy = v.energy
        if signal_range is not None:
            lo, hi = parse_energy_range(energy, signal_range, what=what)
            i0 = int(np.argmin(np.abs(energy - lo)))
            i1 = int(np.argmin(np.abs(energy - hi)))
        else:
            i0, i1 = 0, energy.size - 1
        if i1 - i0 + 1 < 3:
            raise EmptySignalError(f"{what} needs at least 3 channels, the selected range has {i1 - i0 + 1}.")
        self.validated = v
        self.energy = energy[i0 : i1 + 1]
        self.channels = (i0, i1 + 1)
        self.mask = v.mask_or_none
        self.navigation_shape = v.navigation_shape
        full = as_dask(v.data)
        E = i1 + 1 - i0
        if full.ndim > 1:
            if block_size is not None:
                rows = max(1, int(block_size) // max(int(np.prod(full.shape[1:-1], dtype=np.int64)), 1))
                target = (rows,) + (-1,) * (full.ndim - 1)
            else:
                target = canonical_chunks(full.shape[:-1] + (E,), 4)
            want = tuple(da.core.normalize_chunks(target, full.shape[:-1] + (E,), dtype=np.float32))
            nav_chunks = want[:-1]
            if full.chunks[:-1] != nav_chunks or len(full.chunks[-1]) > 1:
                full = full.rechunk(nav_chunks + (-1,))
        self.full = full  # full energy range, input dtype (ints already float32)
        if vx is not v:
            full = as_dask(vx.data)
            if full.ndim > 1 and (full.chunks[:-1] != self.full.chunks[:-1] or len(full.chunks[-1]) > 1):
                full = full.rechunk(self.full.chunks[:-1] + (-1,))
        x = full[..., i0 : i1 + 1] if (i0, i1 + 1) != (0, full.shape[-1]) else full
        self.x = x.astype(np.float32)  # clustering range, float32, whole spectra per block
        self.lazy = v.lazy
        self.preprocessed = vx is not v


def check_umap_hdbscan_params(est):
    """Validated UMAP/HDBSCAN/merge parameters of ``est`` (a UMAPClusterModel or UMAPHDBSCAN), as a dict."""
    return dict(
        n_neighbors=check_int("n_neighbors", est.n_neighbors, min=2),
        min_dist=check_float("min_dist", est.min_dist, min=0),
        n_components=check_int("n_components", est.n_components, min=1),
        min_cluster_size=check_int("min_cluster_size", est.min_cluster_size, min=2, allow_none=True),
        min_samples=check_int("min_samples", est.min_samples, min=1, allow_none=True),
        merge_threshold=check_float_range("merge_threshold", est.merge_threshold, 0.0, 1.0, allow_none=True),
        random_state=check_random_state(est.random_state),
    )


class UMAPClusterModel(ParamsMixin):
    """PCA + UMAP + HDBSCAN segmentation model (scikit-learn conventions).

    ``__init__`` only stores the parameters; :meth:`fit` validates them and the
    signal, and sets the fitted attributes (ending in ``_``); :meth:`predict`
    labels any signal with the same energy axis. Parameters are those of
    :func:`~hyperspy_eels_ml.umap_cluster`.

    Attributes
    ----------
    components_ : numpy.ndarray or None
        Uncentred PCA components ``(n_channels, n_pca_components)`` or None.
    reducer_ : umap.UMAP
        Fitted UMAP.
    clusterer_ : hdbscan.HDBSCAN
        Fitted HDBSCAN (with prediction data).
    n_clusters_ : int
        Number of clusters (noise excluded).
    energy_ : numpy.ndarray
        Channel energies (eV) of the clustering range the model was fitted on.
    fit_indices_, fit_labels_, fit_embedding_ : numpy.ndarray
        Flat navigation indices (array order), labels and embedding of the fit subsample.
    scale_ : float
        Power-of-two factor applied to the data (1 unless their scale is extreme, e.g. x1e-30).
    timings_ : dict
        Wall time of the fit stages (s).

    Examples
    --------
    >>> model = UMAPClusterModel(random_state=0).fit(s, navigation_mask="vacuum")   # doctest: +SKIP
    >>> res = model.predict(other_si)                                                # doctest: +SKIP
    """

    def __init__(self, signal_range=None, normalization=None, n_pca_components=30, n_neighbors=30,
                 min_dist=0.0, n_components=2, metric="cosine", min_cluster_size=None, min_samples=None,
                 max_fit_samples=20000, merge_threshold=0.8, random_state=None, umap_kwargs=None,
                 hdbscan_kwargs=None, background=None, edges="auto", pre_edge_width=None,
                 post_edge_width=None):
        self.signal_range = signal_range
        self.normalization = normalization
        self.n_pca_components = n_pca_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.n_components = n_components
        self.metric = metric
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.max_fit_samples = max_fit_samples
        self.merge_threshold = merge_threshold
        self.random_state = random_state
        self.umap_kwargs = umap_kwargs
        self.hdbscan_kwargs = hdbscan_kwargs
        self.background = background
        self.edges = edges
        self.pre_edge_width = pre_edge_width
        self.post_edge_width = post_edge_width

    def __repr__(self):
        changed = {k: v for k, v in self.get_params().items()
                   if v is not inspect.signature(type(self).__init__).parameters[k].default
                   and v != inspect.signature(type(self).__init__).parameters[k].default}
        fitted = f", fitted: {self.n_clusters_} clusters" if hasattr(self, "n_clusters_") else ""
        return f"UMAPClusterModel({', '.join(f'{k}={v!r}' for k, v in changed.items())}){fitted}"

    def _check_params(self):
        check_choice("normalization", self.normalization, NORMALIZATIONS)
        npc = check_int("n_pca_components", self.n_pca_components, min=1, allow_none=True)
        if not (isinstance(self.metric, str) or callable(self.metric)):
            raise ParameterError(f"metric must be a string (e.g. 'cosine') or a callable, got {self.metric!r}.")
        p = check_umap_hdbscan_params(self)
        mfs = check_int("max_fit_samples", self.max_fit_samples, min=3)
        self._preprocessing()
        for name in ("umap_kwargs", "hdbscan_kwargs"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), dict):
                raise ParameterError(f"{name} must be a dict or None, got {type(getattr(self, name)).__name__}.")
        return dict(p, n_pca_components=npc, max_fit_samples=mfs)

    # -- fit ------------------------------------------------------------------------
    def fit(self, signal, navigation_mask=None, show_progressbar=None, block_size=None):
        """Fit PCA, UMAP and HDBSCAN on ``signal`` (one pass over the data); returns self.

        Parameters
        ----------
        signal : exspy.signals.EELSSpectrum
        navigation_mask, show_progressbar, block_size
            As in :func:`~hyperspy_eels_ml.umap_cluster`.
        """
        self._check_params()
        check_bool("show_progressbar", show_progressbar, allow_none=True)
        self._fit_prepared(self._prepare(signal, navigation_mask, block_size, "umap_cluster"),
                           show_progressbar)
        return self

    def _preprocessing(self):
        from .preprocess import BACKGROUND_TYPES

        if self.background is None:
            return None
        check_choice("background", self.background, (None,) + BACKGROUND_TYPES)
        return dict(edges=self.edges, pre_edge_width=self.pre_edge_width, post_edge_width=self.post_edge_width,
                    background_type=self.background)

    def _prepare(self, signal, navigation_mask, block_size, what):
        check_int("block_size", block_size, min=1, allow_none=True)
        return _Prepared(signal, self.signal_range, navigation_mask, block_size, what,
                         preprocessing=self._preprocessing())

    def _fit_prepared(self, prep, show_progressbar):
        t0 = time.perf_counter()
        p = self._check_params()
        if prep.validated.navigation_size < 2:
            raise EmptySignalError("umap_cluster needs a spectrum image or line scan (at least 2 spectra).")
        mask = prep.mask
        valid = np.flatnonzero(~mask.reshape(-1))
        min_fit = max(3, p["min_cluster_size"] or 10)
        if valid.size < min_fit:
            raise EmptySignalError(
                f"umap_cluster needs at least {min_fit} unmasked spectra (min_cluster_size, default 10), "
                f"got {valid.size}."
            )
        rng = np.random.default_rng(p["random_state"])
        n_fit = min(p["max_fit_samples"], valid.size)
        if n_fit < min_fit:
            raise ParameterError(f"max_fit_samples={n_fit} is below the smallest cluster size {min_fit}.")
        x = prep.x
        E = x.shape[-1]
        if n_fit * E * 4 > MAX_FIT_BYTES:
            raise ParameterError(
                f"The fit subsample would need {n_fit * E * 4 / 2**30:.1f} GiB ({n_fit} spectra x {E} "
                f"channels); lower max_fit_samples (<= {MAX_FIT_BYTES // (E * 4)}) or select the edges "
                "with signal_range."
            )
        if E < FEW_CHANNELS:
            warn(f"umap_cluster: only {E} channels in the clustering range; so few channels carry little "
                 "information (often a single cluster). Use a wider signal_range.")
        fit_idx = np.sort(rng.choice(valid, n_fit, replace=False))
        npc = p["n_pca_components"]
        use_pca = npc is not None and 0 < npc < E
        use_gram = use_pca and E <= GRAM_MAX_CHANNELS
        todo = [_gather(x, fit_idx, prep.navigation_shape)]
        if use_gram:
            todo.append(reduce_spectra(x, gram_block, (E, E), mask=mask, normalization=self.normalization))
        else:
            # still check finiteness of every block in the first pass
            todo.append(map_spectra(x, _finite_flags, 1, dtype=bool, mask=mask, drop_signal_axis=True).all())
        vals = compute(*todo, show_progressbar=show_progressbar)
        fit_spectra = np.asarray(vals[0], dtype=np.float32)
        check_finite_block(fit_spectra)
        scale = self._check_degenerate(fit_spectra)
        components = None
        if use_gram:
            w, vec = np.linalg.eigh(vals[1])
            components = np.ascontiguousarray(vec[:, ::-1][:, :npc], dtype=np.float32)
        elif use_pca:
            from sklearn.utils.extmath import randomized_svd

            from .kernels import _scaled, normalize

            zf = normalize(_scaled(fit_spectra, scale), self.normalization)
            _, _, vt = randomized_svd(zf, npc, random_state=0 if p["random_state"] is None else 0)
            components = np.ascontiguousarray(vt.T, dtype=np.float32)
        if components is not None:
            # deterministic sign: largest loading positive
            sign = np.sign(components[np.argmax(np.abs(components), axis=0), np.arange(components.shape[1])])
            components *= np.where(sign == 0, 1, sign)
        t_pass1 = time.perf_counter()

        nc = p["n_components"]
        model = {"normalization": self.normalization, "components": components, "n_components": nc,
                 "scale": scale}
        z = features(fit_spectra, model)
        self._check_features(z)
        fitted = fit_umap_hdbscan(z, p, self.metric, self.umap_kwargs, self.hdbscan_kwargs)
        reducer, clusterer, relabel, fit_labels, n_clusters, t_umap = fitted
        model.update(reducer=reducer, clusterer=clusterer, relabel=relabel, n_clusters=n_clusters,
                     rescue=rescue_index(z, fit_labels, clusterer.probabilities_, self.metric))
        t_fit = time.perf_counter()
        if n_clusters == 0:
            warn("HDBSCAN found no cluster (every fitted pixel is noise); lower min_cluster_size/min_samples.")
        elif n_clusters == 1:
            warn("umap_cluster found a single cluster. If the SI has several phases: for core-loss data remove "
                 "the background before the edges first (background='PowerLaw', with edges=... or "
                 "s.add_elements([...]), see the clustering user guide) and select the edges with signal_range.")
        fit_full = fit_spectra
        if prep.channels != (0, prep.full.shape[-1]) or prep.preprocessed:
            # centroid signals need full-range spectra of the fitted pixels: gather them (small)
            fit_full = _gather(prep.full, fit_idx, prep.navigation_shape)
            if isinstance(fit_full, da.Array):
                fit_full = fit_full.compute()
        self._model = model
        self.components_ = components
        self.reducer_ = reducer
        self.clusterer_ = clusterer
        self.n_clusters_ = n_clusters
        self.energy_ = np.asarray(prep.energy)
        self.n_channels_full_ = int(prep.full.shape[-1])
        self.fit_indices_ = fit_idx
        self.fit_labels_ = fit_labels
        self.fit_embedding_ = reducer.embedding_
        self.fit_spectra_full_ = np.asarray(fit_full)
        self.scale_ = scale
        self.timings_ = {"pass1_pca_and_sample": t_pass1 - t0, "umap_fit": t_umap - t_pass1,
                         "hdbscan_fit_and_warmup": t_fit - t_umap}
        return self

    @staticmethod
    def _check_degenerate(fit_spectra):
        """Refuse data without information; return the power-of-two scale bringing them to order 1."""
        amax = float(np.max(np.abs(fit_spectra.astype(np.float64))))
        if amax == 0:
            raise DegenerateDataError(
                "umap_cluster: every fitted spectrum is zero in the clustering range; nothing to cluster "
                "(check the data, the signal_range and the navigation_mask).")
        scale = 1.0
        if not 1e-10 < amax < 1e10:
            scale = float(2.0 ** -np.round(np.log2(amax)))
            _logger.info("Data scale %.3g is extreme: spectra are multiplied by %g before the fit.", amax, scale)
        return scale

    @staticmethod
    def _check_features(z):
        zn = z.astype(np.float64)
        norms = np.linalg.norm(zn, axis=1, keepdims=True)
        if np.all(norms == 0):
            raise DegenerateDataError("umap_cluster: every fitted feature vector is zero; nothing to cluster.")
        zn = zn / np.where(norms > 0, norms, 1)
        spread = float(np.max(np.abs(zn - zn.mean(0))))
        if spread < 1e-6:
            raise DegenerateDataError(
                "umap_cluster: every fitted spectrum has the same shape (constant data up to intensity); "
                "there is nothing to cluster.")

    def features(self, spectra):
        """UMAP input features of spectra ``(n, n_channels)`` over the clustering range (scaled,
        normalised, PCA-projected as in the fit)."""
        self._check_fitted()
        spectra = np.asarray(spectra)
        if spectra.ndim != 2 or spectra.shape[1] != self.energy_.size:
            raise ParameterError(f"features needs an array (n, {self.energy_.size}), got shape {spectra.shape}.")
        return features(spectra, self._model)

    # -- predict --------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "n_clusters_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("This UMAPClusterModel is not fitted yet; call fit(signal) first.")

    def _check_energy(self, prep):
        e, ref = prep.energy, self.energy_
        tol = 0.5 * abs(ref[1] - ref[0])
        if e.size != ref.size or np.max(np.abs(e - ref)) > tol:
            raise EnergyAxisError(
                f"The signal's clustering range has {e.size} channels over {e[0]:g}-{e[-1]:g} eV; the model "
                f"was fitted on {ref.size} channels over {ref[0]:g}-{ref[-1]:g} eV. Use the same energy axis "
                "(calibration, dispersion, signal_range); align the spectra first if the offset differs."
            )

    def predict(self, signal, navigation_mask=None, lazy_output=None, show_progressbar=None, block_size=None):
        """Embed and label every pixel of ``signal`` with the fitted PCA, UMAP and HDBSCAN.

        The signal must have the same energy axis over the clustering range
        (within half a channel), else :class:`~hyperspy_eels_ml.EnergyAxisError`.

        Returns
        -------
        UMAPClusterResult
        """
        self._check_fitted()
        check_bool("lazy_output", lazy_output, allow_none=True)
        prep = self._prepare(signal, navigation_mask, block_size, "UMAPClusterModel.predict")
        return self._predict_prepared(signal, prep, lazy_output, show_progressbar, navigation_mask)

    def _predict_prepared(self, signal, prep, lazy_output, show_progressbar, navigation_mask):
        from .result import UMAPClusterResult

        t0 = time.perf_counter()
        check_bool("lazy_output", lazy_output, allow_none=True)
        self._check_energy(prep)
        model = self._model
        x = prep.x
        nc = model["n_components"]
        model_d = dask.delayed(_ModelHandle(model), pure=True, traverse=False)
        out = map_spectra(x, embed_block, 2 + nc, extra_args=(model_d,), mask=prep.mask)
        labels = out[..., 0].astype(np.int32)
        probs = out[..., 1]
        emb = out[..., 2:]
        # mean spectra per cluster over the full energy range of the input signal
        K = max(model["n_clusters"], 1)
        Ef = prep.full.shape[-1]
        sums = reduce_spectra(prep.full, sums_block, (K, Ef + 1), aligned=(labels,), n_clusters=K)
        sizes = sums[: model["n_clusters"], -1]
        means = sums[: model["n_clusters"], :-1] / da.maximum(sizes, 1)[:, None]
        lazy = prep.lazy if lazy_output is None else bool(lazy_output)
        if not lazy:
            labels, probs, emb, means, sizes = compute(labels, probs, emb, means, sizes,
                                                       show_progressbar=show_progressbar)
        timings = {"embed_and_label": time.perf_counter() - t0}
        return UMAPClusterResult.from_arrays(
            signal, self, labels=labels, probabilities=probs, embedding=emb, means=means, sizes=sizes,
            timings=timings, navigation_mask=navigation_mask)

    def fit_predict(self, signal, navigation_mask=None, lazy_output=None, show_progressbar=None,
                    block_size=None):
        """Fit on ``signal`` and label it (validating and reading it once for both)."""
        self._check_params()
        check_bool("lazy_output", lazy_output, allow_none=True)
        check_bool("show_progressbar", show_progressbar, allow_none=True)
        prep = self._prepare(signal, navigation_mask, block_size, "umap_cluster")
        self._fit_prepared(prep, show_progressbar)
        res = self._predict_prepared(signal, prep, lazy_output, show_progressbar, navigation_mask)
        res.timings = dict(self.timings_, **res.timings)
        return res


def fit_umap_hdbscan(z, p, metric, umap_kwargs=None, hdbscan_kwargs=None):
    """UMAP + HDBSCAN + merge + size ordering on in-memory features ``z`` (shared with the estimator).

    ``p`` holds the validated parameters (``n_neighbors``, ``min_dist``, ``n_components``,
    ``min_cluster_size``, ``min_samples``, ``merge_threshold``, ``random_state``).
    Returns ``(reducer, clusterer, relabel, fit_labels, n_clusters, t_umap)``; ``relabel`` maps
    HDBSCAN label + 1 to the final label (largest cluster = 0, -1 = noise).
    """
    hdbscan = import_hdbscan()
    umap = import_umap()
    n_fit = len(z)
    min_cluster_size = p["min_cluster_size"]
    if min_cluster_size is None:
        min_cluster_size = max(10, int(round(0.005 * n_fit)))
    min_samples = p["min_samples"]
    if min_samples is None:
        min_samples = min(int(min_cluster_size), 10)
    ukw = dict(n_neighbors=int(min(p["n_neighbors"], n_fit - 1)), min_dist=p["min_dist"],
               n_components=p["n_components"], metric=metric, random_state=p["random_state"])
    ukw.update(umap_kwargs or {})
    hkw = dict(min_cluster_size=int(min_cluster_size), min_samples=int(min_samples), prediction_data=True)
    hkw.update(hdbscan_kwargs or {})
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")
        warnings.filterwarnings("ignore", category=FutureWarning)
        reducer = umap.UMAP(**ukw).fit(z)
        t_umap = time.perf_counter()
        clusterer = hdbscan.HDBSCAN(**hkw).fit(reducer.embedding_)
    raw = clusterer.labels_
    merged = raw
    if p["merge_threshold"] is not None and raw.max() >= 1:
        merged = merge_continuous_clusters(z, raw, reducer.graph_, p["merge_threshold"])
    order = relabel_by_size(merged)  # merged label (+1) -> final label, largest cluster = 0
    relabel = np.full(int(raw.max()) + 2, -1, dtype=np.int64)  # HDBSCAN label (+1) -> final label
    for old in range(int(raw.max()) + 1):
        relabel[old + 1] = order[merged[raw == old][0] + 1] if np.any(raw == old) else -1
    fit_labels = relabel[raw + 1]
    n_clusters = int(relabel.max()) + 1
    # warm up transform in this thread (numba compilation, lazy search-index set-up),
    # so concurrent dask threads do not race on first use
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reducer.transform(z[: min(8, len(z))])
    return reducer, clusterer, relabel, fit_labels, n_clusters, t_umap


def fit_umap_cluster(signal, navigation_mask=None, show_progressbar=None, block_size=None, **params):
    """Fit a :class:`UMAPClusterModel` on ``signal``; ``params`` as in :func:`~hyperspy_eels_ml.umap_cluster`.

    Examples
    --------
    >>> model = fit_umap_cluster(s, navigation_mask="vacuum", random_state=0)   # doctest: +SKIP
    >>> model.predict(s2).labels.plot()                                         # doctest: +SKIP
    """
    return UMAPClusterModel(**params).fit(signal, navigation_mask=navigation_mask,
                                          show_progressbar=show_progressbar, block_size=block_size)
