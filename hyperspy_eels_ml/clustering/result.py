"""Result of :func:`~hyperspy_eels_ml.umap_cluster`: :class:`UMAPClusterResult` (on the shared lazy-result base)."""

from __future__ import annotations

import dask.array as da
import numpy as np

from .._shared.batch import compute
from .._shared.results import LazyResult
from .._shared.signals import navigation_map, per_pixel_spectra, record_provenance

__all__ = ["UMAPClusterResult"]

_DEPENDENCIES = ("hyperspy", "exspy", "numpy", "dask", "umap-learn", "hdbscan")


def _cluster_spectra_signal(parent, means, n_clusters):
    from exspy.signals import EELSSpectrum, LazyEELSSpectrum

    lazy = isinstance(means, da.Array)
    sax = parent.axes_manager.signal_axes[0].get_axis_dictionary()
    sax["navigate"] = False
    axes = [dict(name="cluster", units="", scale=1.0, offset=0.0, size=n_clusters, navigate=True), sax]
    cls = LazyEELSSpectrum if lazy else EELSSpectrum
    out = cls(means, axes=axes)
    out.metadata.General.title = f"Cluster mean spectra of {parent.metadata.General.title}"
    if parent.metadata.has_item("Acquisition_instrument"):
        out.metadata.Acquisition_instrument = parent.metadata.Acquisition_instrument.deepcopy()
    if parent.metadata.has_item("Sample"):
        out.metadata.Sample = parent.metadata.Sample.deepcopy()
    return out


class UMAPClusterResult(LazyResult):
    """Result of :func:`~hyperspy_eels_ml.umap_cluster` and :meth:`UMAPClusterModel.predict`.

    Attributes
    ----------
    labels : hyperspy.signal.BaseSignal
        Cluster index per pixel, shaped like the navigation space (an image for a
        2-D scan); ``-1`` for HDBSCAN noise and masked pixels. Clusters are
        numbered by decreasing size in the fit subsample.
    probabilities : hyperspy.signal.BaseSignal
        HDBSCAN membership strength (0-1; 0 for noise/masked pixels).
    embedding : hyperspy.signals.Signal1D
        UMAP coordinates of every pixel (signal axis ``"UMAP component"``); NaN
        for masked pixels.
    cluster_spectra : exspy.signals.EELSSpectrum
        Mean spectrum of each cluster over the full energy range of the input,
        with a navigation axis ``"cluster"``.
    cluster_sizes : numpy.ndarray or dask.array.Array
        Number of pixels per cluster.
    n_clusters : int
        Number of clusters (noise excluded).
    model : UMAPClusterModel
        The fitted model (reusable via :meth:`predict`).
    parameters : dict
        The parameters of the call.
    reducer, clusterer, components, fit_embedding, fit_labels, fit_indices
        Shortcuts to the model's fitted attributes (``reducer_`` etc.).
    timings : dict
        Wall time of the stages in seconds.
    """

    _signal_attributes = ("labels", "probabilities", "embedding", "cluster_spectra")
    _array_attributes = ("cluster_sizes",)
    _repr_parameters = ("n_clusters", "metric", "signal_range", "random_state")

    @classmethod
    def from_arrays(cls, signal, model, *, labels, probabilities, embedding, means, sizes, timings,
                    navigation_mask=None):
        """Wrap the arrays of a prediction into signals with provenance."""
        params = dict(model.get_params())
        params["navigation_mask"] = (None if navigation_mask is None else
                                     (navigation_mask if isinstance(navigation_mask, str) else "array"))
        order = ["signal_range", "normalization", "n_pca_components", "n_neighbors", "min_dist", "n_components",
                 "metric", "min_cluster_size", "min_samples", "max_fit_samples", "merge_threshold",
                 "navigation_mask", "random_state", "umap_kwargs", "hdbscan_kwargs"]
        params = {k: params[k] for k in order if k in params} | {k: v for k, v in params.items() if k not in order}
        n_clusters = model.n_clusters_
        lab_sig = navigation_map(signal, labels, "Cluster labels", quantity="cluster index")
        prob_sig = navigation_map(signal, probabilities, "Cluster membership strength", quantity="probability")
        emb_sig = per_pixel_spectra(signal, embedding,
                                    {"name": "UMAP component", "units": "", "scale": 1, "offset": 0},
                                    "UMAP embedding")
        spec = _cluster_spectra_signal(signal, means, n_clusters)
        from .model import _version

        models_info = {"umap-learn": _version("umap-learn"), "hdbscan": _version("hdbscan"),
                       "n_clusters": n_clusters, "n_fit_pixels": int(len(model.fit_indices_))}
        for s_ in (lab_sig, prob_sig, emb_sig, spec):
            record_provenance(s_, "umap_cluster", params, models=models_info, dependencies=_DEPENDENCIES)
        return cls(labels=lab_sig, probabilities=prob_sig, embedding=emb_sig, cluster_spectra=spec,
                   cluster_sizes=sizes, n_clusters=n_clusters, model=model, parameters=params,
                   timings=timings, _signal=signal, _nav_axes=list(signal.axes_manager.navigation_axes),
                   _navigation_shape=tuple(signal.data.shape[:-1]))

    # shortcuts to the fitted model (kept for backward compatibility)
    reducer = property(lambda self: self.model.reducer_, doc="The fitted ``umap.UMAP``.")
    clusterer = property(lambda self: self.model.clusterer_, doc="The fitted ``hdbscan.HDBSCAN``.")
    components = property(lambda self: self.model.components_, doc="PCA components or None.")
    fit_embedding = property(lambda self: self.model.fit_embedding_, doc="Embedding of the fit subsample.")
    fit_labels = property(lambda self: self.model.fit_labels_, doc="Labels of the fit subsample.")
    fit_indices = property(lambda self: self.model.fit_indices_, doc="Flat indices of the fit subsample.")

    def predict(self, signal, navigation_mask=None, lazy_output=None, show_progressbar=None, block_size=None):
        """Embed and label another SI with the fitted model (:meth:`UMAPClusterModel.predict`).

        The other SI must have the same energy axis over the clustering range.
        Returns a new :class:`UMAPClusterResult` (sharing the fitted objects).
        """
        return self.model.predict(signal, navigation_mask=navigation_mask, lazy_output=lazy_output,
                                  show_progressbar=show_progressbar, block_size=block_size)

    def store_in_learning_results(self, signal=None):
        """Write the clustering into ``signal.learning_results`` (HyperSpy's format).

        Afterwards ``signal.get_cluster_labels()``, ``get_cluster_signals()``,
        ``plot_cluster_results()`` etc. work. Noise/masked pixels are in no
        cluster (HyperSpy's convention: ``get_cluster_labels(merged=True)`` gives
        -1 for them). This modifies ``signal`` (default: the clustered one) and
        computes the labels of lazy results.
        """
        signal = self._signal if signal is None else signal
        labels = self.labels.data
        sums = self.cluster_spectra.data
        if isinstance(labels, da.Array) or isinstance(sums, da.Array):
            labels, sums, sizes = compute(labels, sums, self.cluster_sizes)
        else:
            sizes = np.asarray(self.cluster_sizes)
        emb = self.embedding.data
        if isinstance(emb, da.Array):
            emb = emb.compute()
        flat = np.asarray(labels).reshape(-1)
        k = self.n_clusters
        lr = signal.learning_results
        lr.cluster_labels = np.stack([flat == i for i in range(k)]) if k else np.zeros((0, flat.size), bool)
        lr.number_of_clusters = k
        lr.cluster_algorithm = "hyperspy_eels_ml.umap_cluster (UMAP + HDBSCAN)"
        sizes = np.asarray(sizes, dtype=float).reshape(-1)
        lr.cluster_sum_signals = np.asarray(sums) * sizes[:, None]
        e = np.asarray(emb).reshape(flat.size, -1)
        centroids = np.stack([np.nanmean(e[flat == i], axis=0) for i in range(k)]) if k else np.zeros((0, e.shape[1]))
        dist = np.stack([np.linalg.norm(e - c, axis=1) for c in centroids]) if k else np.zeros((0, flat.size))
        lr.cluster_centroids = centroids
        lr.cluster_distances = dist
        # centroid signal = spectrum of the fitted pixel nearest to each embedding centroid
        cs = []
        for i in range(k):
            d = np.linalg.norm(self.fit_embedding - centroids[i], axis=1)
            d[self.fit_labels != i] = np.inf
            cs.append(self.model.fit_spectra_full_[np.argmin(d)])
        lr.cluster_centroid_signals = np.stack(cs) if k else np.zeros((0,) + sums.shape[1:])
        return signal

    def _plot(self, max_points=20000, spectra_offset=0.0, figsize=None):
        from .plot import plot_umap_cluster_result

        return plot_umap_cluster_result(self, max_points=max_points, spectra_offset=spectra_offset,
                                        figsize=figsize)

    def plot(self, max_points=20000, spectra_offset=0.0, figsize=None):
        """Label map, embedding scatter coloured by label, and mean spectra.

        Parameters
        ----------
        max_points : int
            Largest number of pixels in the embedding scatter (a random subset).
        spectra_offset : float
            Vertical offset between the mean spectra.
        figsize : tuple, optional

        Returns
        -------
        matplotlib.figure.Figure
        """
        return super().plot(max_points=max_points, spectra_offset=spectra_offset, figsize=figsize)
