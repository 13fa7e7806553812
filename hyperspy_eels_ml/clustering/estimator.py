"""An sklearn-compatible clusterer for HyperSpy's ``s.cluster_analysis(..., algorithm=...)``.

:class:`UMAPHDBSCAN` runs the same UMAP + HDBSCAN + merge + size ordering as
:func:`~hyperspy_eels_ml.umap_cluster` on an in-memory feature matrix ``X``
(``n_pixels x n_features``), e.g. HyperSpy's decomposition loadings::

    s.decomposition(output_dimension=20)
    s.cluster_analysis("decomposition", number_of_components=20,
                       algorithm=UMAPHDBSCAN(random_state=0))
    s.plot_cluster_results()

HyperSpy then owns the data flow (eager, all pixels at once); use
``umap_cluster`` for lazy SIs, prediction of new pixels and membership maps.
Noise pixels (label -1) are in no cluster of ``learning_results``.
"""

from __future__ import annotations

import numpy as np

from .._shared.exceptions import EmptySignalError, NonFiniteDataError, ParameterError
from .._shared.params import ParamsMixin

__all__ = ["UMAPHDBSCAN"]


class UMAPHDBSCAN(ParamsMixin):
    """UMAP embedding + HDBSCAN clustering with the density-dip merge (scikit-learn clusterer API).

    Parameters
    ----------
    n_neighbors, min_dist, n_components, metric, min_cluster_size, min_samples, merge_threshold,
    random_state, umap_kwargs, hdbscan_kwargs
        As in :func:`~hyperspy_eels_ml.umap_cluster`.

    Attributes
    ----------
    labels_ : numpy.ndarray
        Cluster per sample (largest cluster = 0, -1 = noise).
    probabilities_ : numpy.ndarray
        HDBSCAN membership strengths (0 for noise).
    embedding_ : numpy.ndarray
        UMAP coordinates of the samples.
    n_clusters_ : int
    reducer_, clusterer_
        Fitted ``umap.UMAP`` and ``hdbscan.HDBSCAN``.
    """

    def __init__(self, n_neighbors=30, min_dist=0.0, n_components=2, metric="cosine", min_cluster_size=None,
                 min_samples=None, merge_threshold=0.8, random_state=None, umap_kwargs=None,
                 hdbscan_kwargs=None):
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.n_components = n_components
        self.metric = metric
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.merge_threshold = merge_threshold
        self.random_state = random_state
        self.umap_kwargs = umap_kwargs
        self.hdbscan_kwargs = hdbscan_kwargs

    def __repr__(self):
        return f"UMAPHDBSCAN(random_state={self.random_state!r})"

    def fit(self, X, y=None):
        """Fit on ``X`` (n_samples x n_features); sets ``labels_`` etc. and returns self."""
        from .model import check_umap_hdbscan_params, fit_umap_hdbscan

        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise ParameterError(f"UMAPHDBSCAN.fit needs a 2-D array (n_samples, n_features), got shape {X.shape}.")
        if not np.all(np.isfinite(X)):
            raise NonFiniteDataError("UMAPHDBSCAN.fit: X contains NaN/inf.")
        p = check_umap_hdbscan_params(self)
        need = max(3, p["min_cluster_size"] or 10)
        if X.shape[0] < need:
            raise EmptySignalError(f"UMAPHDBSCAN needs at least {need} samples, got {X.shape[0]}.")
        reducer, clusterer, relabel, labels, n_clusters, _ = fit_umap_hdbscan(
            X, p, self.metric, self.umap_kwargs, self.hdbscan_kwargs)
        self.reducer_ = reducer
        self.clusterer_ = clusterer
        self.labels_ = np.asarray(labels, dtype=np.int64)
        self.probabilities_ = np.where(self.labels_ >= 0, clusterer.probabilities_, 0.0)
        self.embedding_ = reducer.embedding_
        self.n_clusters_ = n_clusters
        return self

    def fit_predict(self, X, y=None):
        """Fit and return ``labels_``."""
        return self.fit(X).labels_
