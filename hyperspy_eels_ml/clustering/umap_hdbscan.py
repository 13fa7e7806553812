"""UMAP + HDBSCAN segmentation of EELS spectrum images.

Method of Blanco-Portals, Peiro & Estrade, Microsc. Microanal. 28 (2022) 109,
as used by del-Pozo-Bueno et al., Ultramicroscopy (2023) 113828, made to scale
to lazy SIs of 10^6-10^7 spectra:

1. validate, select ``signal_range``, optional per-spectrum normalisation;
2. one pass over the data: uncentred PCA (the Gram matrix ``X^T X`` is
   accumulated block by block, a dask tree reduction; memory ~ n_channels^2)
   and a random subsample of ``max_fit_samples`` unmasked pixels;
3. UMAP and HDBSCAN fitted on the subsample (in memory);
4. a second pass, chunk by chunk: every pixel is projected, embedded with
   ``UMAP.transform`` and labelled with ``hdbscan.approximate_predict``.

Why uncentred PCA: with the default cosine metric the segmentation must not
depend on the intensity (thickness) of a pixel. An uncentred projection is
linear without offset, so a spectrum ``k*x`` maps to ``k*z`` and keeps its
cosine distances; a centred PCA would not. HyperSpy's lazy ``decomposition``
fits all components through its own pass and stores them on the signal
(modifying it); the Gram-matrix pass is exact, one pass, and shares the read of
the data with the subsample.
"""

from __future__ import annotations

import logging
import time
import warnings

import dask
import dask.array as da
import numpy as np

from .._shared import (
    check_finite_block,
    compute,
    navigation_map,
    per_pixel_spectra,
    record_provenance,
    to_eager,
    validate_eels,
)
from .._shared.batch import as_dask, canonical_chunks
from .._shared.imports import import_hdbscan, import_umap

_logger = logging.getLogger(__name__)

__all__ = ["umap_cluster", "UMAPClusterResult", "vacuum_mask"]

_NORMALIZATIONS = (None, "l2", "max", "area")


# ----------------------------------------------------------------------------
# fitted-model transport
# ----------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------
# block functions (pure numpy; run inside dask tasks)
# ----------------------------------------------------------------------------
def _normalize(x, normalization):
    x = np.asarray(x, dtype=np.float32)
    if normalization is None:
        return x
    if normalization == "l2":
        n = np.linalg.norm(x, axis=1, keepdims=True)
    elif normalization == "max":
        n = np.max(np.abs(x), axis=1, keepdims=True)
    elif normalization == "area":
        n = np.abs(np.sum(x, axis=1, keepdims=True))
    else:  # pragma: no cover - validated before
        raise ValueError(normalization)
    return x / np.where(n > 0, n, 1.0)


def _gram_block(block, mask_block, normalization):
    """Partial X^T X of one block, shape (1,)*nav + (E, E)."""
    check_finite_block(block)
    nav = block.shape[:-1]
    x = _normalize(block.reshape(-1, block.shape[-1]), normalization)
    keep = ~mask_block.reshape(-1)
    x = x[keep].astype(np.float64)
    g = x.T @ x
    return g.reshape((1,) * len(nav) + g.shape)


def _features(x, model):
    z = _normalize(x, model["normalization"])
    if model["components"] is not None:
        z = z @ model["components"]
    return np.ascontiguousarray(z, dtype=np.float32)


def _embed_block(block, mask_block, handle):
    """Embed and label one block: returns (..., 2 + n_components) float32.

    Columns: label, membership strength, embedding coordinates.
    """
    hdbscan = import_hdbscan()
    import_umap()
    model = handle.model

    check_finite_block(block)
    nav = block.shape[:-1]
    x = block.reshape(-1, block.shape[-1])
    keep = ~mask_block.reshape(-1)
    nc = model["n_components"]
    out = np.full((x.shape[0], 2 + nc), np.nan, dtype=np.float32)
    out[:, 0] = -1
    out[:, 1] = 0.0
    if keep.any():
        z = _features(x[keep], model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            emb = model["reducer"].transform(z)
            labels, strengths = hdbscan.approximate_predict(model["clusterer"], emb)
        lab = model["relabel"][labels + 1]
        strengths = np.asarray(strengths, dtype=np.float64)
        if model.get("rescue") is not None and np.any(lab < 0):
            lab, strengths = _rescue_noise(z, lab, strengths, model["rescue"])
        out[keep, 0] = lab
        out[keep, 1] = strengths
        out[keep, 2:] = emb
    return out.reshape(nav + (2 + nc,))


def _rescue_noise(z, lab, strengths, rescue, k=15, vote=0.8):
    """Label prediction-noise pixels from their nearest fit pixels in feature space.

    ``hdbscan.approximate_predict`` calls a new point noise when its *embedding*
    falls in a sparse region, which ``UMAP.transform`` can produce for points of
    a well-defined cluster (e.g. where HDBSCAN had cut, and the merge re-joined,
    a phase). Such a pixel gets the label shared by at least ``vote`` of its
    ``k`` nearest fit pixels in the (PCA) feature space, with strength = vote
    fraction x their mean strength; otherwise it stays noise.
    """
    nn, fit_labels, fit_strength = rescue
    idx = np.flatnonzero(lab < 0)
    _, nbr = nn.kneighbors(z[idx], n_neighbors=min(k, len(fit_labels)))
    nl = fit_labels[nbr]
    n_cl = int(fit_labels.max()) + 1
    if n_cl <= 0:
        return lab, strengths
    counts = np.stack([(nl == c).sum(1) for c in range(n_cl)], axis=1)
    best = counts.argmax(1)
    frac = counts[np.arange(idx.size), best] / nl.shape[1]
    ok = frac >= vote
    lab = lab.copy()
    strengths = strengths.copy()
    lab[idx[ok]] = best[ok]
    st = np.where(nl == best[:, None], fit_strength[nbr], 0.0).sum(1) / np.maximum(counts[np.arange(idx.size), best], 1)
    strengths[idx[ok]] = (frac * st)[ok]
    return lab, strengths


def _sums_block(block, label_block, n_clusters):
    """Per-cluster sums of spectra and pixel counts of one block."""
    nav = block.shape[:-1]
    x = block.reshape(-1, block.shape[-1]).astype(np.float64)
    lab = label_block.reshape(-1).astype(np.int64)
    sums = np.zeros((n_clusters, x.shape[1] + 1))
    for k in range(n_clusters):
        sel = lab == k
        if sel.any():
            sums[k, :-1] = x[sel].sum(axis=0)
            sums[k, -1] = sel.sum()
    return sums.reshape((1,) * len(nav) + sums.shape)


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------
def _mask_array(navigation_mask, validated):
    """Bool numpy array in array order (True = excluded) or None."""
    shape = validated.navigation_shape
    if navigation_mask is None:
        return np.zeros(shape, dtype=bool)
    if isinstance(navigation_mask, str):
        if navigation_mask != "vacuum":
            raise ValueError(f"navigation_mask must be None, 'vacuum', a bool array or signal; got {navigation_mask!r}")
        return _vacuum_from_data(validated.data)
    data = getattr(navigation_mask, "data", navigation_mask)
    if isinstance(data, da.Array):
        data = data.compute()
    mask = np.asarray(data).astype(bool)
    if mask.shape != shape:
        hint = " (it looks transposed: pass mask.T)" if mask.T.shape == shape else ""
        raise ValueError(
            f"navigation_mask has shape {mask.shape}, the navigation shape (array order) is {shape}{hint}."
        )
    return mask


def _vacuum_from_data(data, threshold=0.1):
    total = (da.sum(data, axis=-1) if isinstance(data, da.Array) else np.sum(data, axis=-1))
    if isinstance(total, da.Array):
        total = total.compute()
    ref = np.percentile(total, 95)
    return total < threshold * ref


def vacuum_mask(signal, threshold=0.1, signal_range=None):
    """Boolean navigation mask of vacuum (or nearly empty) pixels.

    A pixel is vacuum when its total counts in ``signal_range`` are below
    ``threshold`` times the 95th percentile of all pixels' totals. This suits
    core-loss SIs, where the thinnest specimen region still scatters an order of
    magnitude more than vacuum. For low-loss data use exspy's
    ``estimate_elastic_scattering_intensity`` instead.

    Parameters
    ----------
    signal : exspy.signals.EELSSpectrum
    threshold : float
    signal_range : tuple of float, optional

    Returns
    -------
    numpy.ndarray
        Bool array in array order (True = vacuum). One pass over lazy data.
    """
    v = validate_eels(signal, what="vacuum_mask", signal_range=signal_range)
    return _vacuum_from_data(v.data, threshold)


def _gather(data, flat_idx, nav_shape):
    idx = np.unravel_index(flat_idx, nav_shape)
    if isinstance(data, da.Array):
        if len(nav_shape) == 1:
            return data[idx[0]]
        return data.vindex[idx]
    return np.asarray(data[idx])


def _dip_ratio(pa, pb, bins=None):
    """Density dip between two 1-D samples: min density between their medians / density at them.

    About 1 for one continuous population cut in two, near 0 for two separate groups.
    The number of bins adapts to the smaller sample (about 20 points per bin) so that
    counting noise of a small cluster does not fake a dip.
    """
    if bins is None:
        bins = int(np.clip(min(len(pa), len(pb)) / 20, 8, 40))
    allp = np.concatenate([pa, pb])
    lo, hi = np.percentile(allp, [0.5, 99.5])
    if hi <= lo:
        return 1.0
    h, e = np.histogram(allp, bins=bins, range=(lo, hi))
    h = np.convolve(h, np.ones(3) / 3, mode="same")
    c = 0.5 * (e[1:] + e[:-1])
    ma, mb = np.median(pa), np.median(pb)
    between = (c > min(ma, mb)) & (c < max(ma, mb))
    if not between.any():
        return 1.0
    ref = min(h[np.argmin(np.abs(c - ma))], h[np.argmin(np.abs(c - mb))])
    return float(h[between].min() / max(ref, 1e-12))


def _merge_continuous_clusters(z, labels, graph, threshold):
    """Merge HDBSCAN clusters that are one continuous population.

    HDBSCAN can cut one phase in two where its density along a thickness
    gradient thins out. Two clusters are merged when (i) they are linked in
    UMAP's neighbour graph of the fit pixels and (ii) their fit pixels, in the
    feature space (unit-normalised for intensity invariance) and projected on
    the line through the two centroids, show no density dip between them
    (:func:`_dip_ratio` > ``threshold``). Separate phases are separated by a gap
    (ratio ~ 0); interfaces with mixed pixels form their own clusters and
    keep a dip. Returns the merged labels (-1 stays noise).
    """
    labels = labels.copy()
    zn = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    g = graph.tocoo()
    while True:
        ids = np.unique(labels[labels >= 0])
        if ids.size < 2:
            return labels
        la, lb = labels[g.row], labels[g.col]
        linked = {(min(a, b), max(a, b)) for a, b in zip(la, lb) if a >= 0 and b >= 0 and a != b}
        best, pair = threshold, None
        for a, b in sorted(linked):
            ca, cb = zn[labels == a].mean(0), zn[labels == b].mean(0)
            d = cb - ca
            nd = np.linalg.norm(d)
            if nd == 0:
                ratio = np.inf
            else:
                ratio = _dip_ratio(zn[labels == a] @ (d / nd), zn[labels == b] @ (d / nd))
            if ratio > best:
                best, pair = ratio, (a, b)
        if pair is None:
            return labels
        labels[labels == pair[1]] = pair[0]


def _rescue_index(z, fit_labels, fit_strength, metric):
    """Nearest-neighbour index of the fit pixels for :func:`_rescue_noise` (None if unsupported)."""
    from sklearn.neighbors import NearestNeighbors

    if not isinstance(metric, str) or fit_labels.max() < 0:
        return None
    try:
        nn = NearestNeighbors(metric=metric, algorithm="brute").fit(z)
    except ValueError:
        return None
    return nn, np.asarray(fit_labels), np.asarray(fit_strength, dtype=np.float64)


def _relabel_by_size(labels):
    """Lookup table old label (+1 offset for noise) -> new label, largest cluster = 0."""
    n = int(labels.max()) + 1 if labels.size and labels.max() >= 0 else 0
    sizes = np.bincount(labels[labels >= 0], minlength=n)
    order = np.argsort(-sizes, kind="stable")  # order[new] = old
    table = np.full(n + 1, -1, dtype=np.int64)
    table[order + 1] = np.arange(n)
    return table


# ----------------------------------------------------------------------------
# result object
# ----------------------------------------------------------------------------
class UMAPClusterResult:
    """Result of :func:`umap_cluster`.

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
    parameters : dict
        The parameters of the call.
    reducer : umap.UMAP
        The fitted UMAP object (reusable via :meth:`predict`).
    clusterer : hdbscan.HDBSCAN
        The fitted HDBSCAN object (with prediction data).
    components : numpy.ndarray or None
        PCA components (n_channels x n_pca_components), or None.
    fit_embedding, fit_labels : numpy.ndarray
        Embedding and (relabelled) labels of the fit subsample.
    fit_indices : numpy.ndarray
        Flat navigation indices (array order) of the fit subsample.
    timings : dict
        Wall time of the stages in seconds.
    """

    def __init__(self, **kw):
        self.__dict__.update(kw)

    @property
    def is_lazy(self):
        """Whether the result signals are lazy (not yet computed)."""
        return bool(self.labels._lazy)

    def compute(self, show_progressbar=None):
        """Compute every lazy part in one pass over the data (in place); returns self."""
        if not self.is_lazy:
            return self
        parts = [self.labels.data, self.probabilities.data, self.embedding.data,
                 self.cluster_spectra.data, self.cluster_sizes]
        vals = compute(*parts, show_progressbar=show_progressbar)
        self.labels, self.probabilities, self.embedding, self.cluster_spectra = (
            to_eager(sig, val) for sig, val in
            zip((self.labels, self.probabilities, self.embedding, self.cluster_spectra), vals))
        self.cluster_sizes = np.asarray(vals[4])
        return self

    def predict(self, signal, navigation_mask=None, lazy_output=None, show_progressbar=None):
        """Embed and label another SI with the fitted PCA, UMAP and HDBSCAN.

        The other SI must have the same energy axis (after ``signal_range``).
        Returns a new :class:`UMAPClusterResult` (sharing the fitted objects).
        """
        return _apply(signal, self._model, self.parameters, navigation_mask, lazy_output,
                      show_progressbar, fit_info=self._fit_info, timings={})

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
            cs.append(self._fit_spectra_full[np.argmin(d)])
        lr.cluster_centroid_signals = np.stack(cs) if k else np.zeros((0,) + sums.shape[1:])
        return signal

    def plot(self, max_points=20000, spectra_offset=0.0, figsize=None):
        """Label map, embedding scatter coloured by label, and mean spectra.

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt
        from matplotlib.colors import BoundaryNorm, ListedColormap

        res = self if not self.is_lazy else self.__class__(**self.__dict__).compute()
        k = res.n_clusters
        base = plt.get_cmap("tab10" if k <= 10 else "tab20")
        colors = [(0.75, 0.75, 0.75, 1.0)] + [base(i % base.N) for i in range(k)]
        cmap = ListedColormap(colors)
        norm = BoundaryNorm(np.arange(-1.5, k + 0.5), cmap.N)
        labels = np.asarray(res.labels.data)
        fig, axs = plt.subplots(1, 3, figsize=figsize or (15, 4.5))
        ax = axs[0]
        if labels.ndim == 2:
            nav = res._nav_axes
            extent = None
            if len(nav) == 2:
                x, y = nav
                extent = [x.axis[0], x.axis[-1], y.axis[-1], y.axis[0]]
            im = ax.imshow(labels, cmap=cmap, norm=norm, interpolation="nearest", extent=extent)
            ax.set_xlabel(f"{nav[0].name} ({nav[0].units})" if nav else "")
            ax.set_ylabel(f"{nav[1].name} ({nav[1].units})" if len(nav) > 1 else "")
        else:
            im = ax.imshow(np.atleast_2d(labels.reshape(-1)), cmap=cmap, norm=norm, aspect="auto",
                           interpolation="nearest")
            ax.set_yticks([])
        cb = fig.colorbar(im, ax=ax, ticks=np.arange(-1, k))
        cb.ax.set_yticklabels(["noise/masked"] + [str(i) for i in range(k)])
        ax.set_title("cluster labels")
        ax = axs[1]
        e = np.asarray(res.embedding.data).reshape(-1, res.embedding.data.shape[-1])
        lab = labels.reshape(-1)
        ok = np.isfinite(e).all(axis=1)
        idx = np.flatnonzero(ok)
        if idx.size > max_points:
            idx = np.random.default_rng(0).choice(idx, max_points, replace=False)
        ax.scatter(e[idx, 0], e[idx, 1] if e.shape[1] > 1 else np.zeros(idx.size), c=lab[idx], cmap=cmap,
                   norm=norm, s=2, linewidths=0, rasterized=True)
        ax.set_xlabel("UMAP 1")
        ax.set_ylabel("UMAP 2")
        ax.set_title(f"embedding ({idx.size} of {ok.sum()} pixels)")
        ax = axs[2]
        spec = np.asarray(res.cluster_spectra.data)
        sax = res.cluster_spectra.axes_manager.signal_axes[0]
        for i in range(k):
            ax.plot(sax.axis, spec[i] + i * spectra_offset, color=colors[i + 1],
                    label=f"{i} ({int(np.asarray(res.cluster_sizes)[i])} px)")
        ax.set_xlabel(f"Energy loss ({sax.units})")
        ax.set_ylabel("mean counts")
        ax.set_title("mean spectrum per cluster")
        if k:
            ax.legend(fontsize="small")
        fig.tight_layout()
        return fig

    def __repr__(self):
        lazy = " (lazy)" if self.is_lazy else ""
        return (f"<UMAPClusterResult{lazy}: {self.n_clusters} clusters, navigation shape "
                f"{self.labels.data.shape}>")


# ----------------------------------------------------------------------------
# public function
# ----------------------------------------------------------------------------
def umap_cluster(
    signal,
    signal_range=None,
    normalization=None,
    n_pca_components=30,
    n_neighbors=30,
    min_dist=0.0,
    n_components=2,
    metric="cosine",
    min_cluster_size=None,
    min_samples=None,
    max_fit_samples=20000,
    merge_threshold=0.8,
    navigation_mask=None,
    random_state=None,
    lazy_output=None,
    store_learning_results=False,
    show_progressbar=None,
    umap_kwargs=None,
    hdbscan_kwargs=None,
):
    """Segment an EELS spectrum image with UMAP + HDBSCAN.

    UMAP (McInnes et al.) embeds every spectrum in a low-dimensional space and
    HDBSCAN (Campello et al.) finds the dense groups in it, as proposed for EELS
    by Blanco-Portals, Peiro & Estrade (Microsc. Microanal. 28 (2022) 109). To
    scale to lazy SIs of 10^6+ spectra, UMAP and HDBSCAN are fitted on a random
    subsample of ``max_fit_samples`` pixels; every pixel is then embedded with
    ``UMAP.transform`` and labelled with ``hdbscan.approximate_predict``, one
    dask block at a time (memory bounded by the chunk size).

    The default is intensity-invariant: the cosine metric compares spectral
    *shapes*, so thickness variations (which scale the counts) do not split a
    phase, and no normalisation is applied (del-Pozo-Bueno et al. 2023 show
    that L2/max normalisation biases the embedding; the cosine metric bypasses
    it). With ``metric="euclidean"`` on raw counts a 60 % thickness gradient
    splits phases; use ``normalization="area"`` then.

    Parameters
    ----------
    signal : exspy.signals.EELSSpectrum
        Eager or lazy EELS signal with any navigation dimension.
    signal_range : tuple of float, optional
        ``(start, end)`` energy-loss range in eV used for the clustering
        (e.g. the edges that distinguish the phases). Default: all channels.
    normalization : {None, "l2", "max", "area"}
        Per-spectrum normalisation before PCA/UMAP. Default None.
    n_pca_components : int or None
        Linear pre-reduction: number of uncentred PCA components (computed
        out of core, one pass). None uses the spectra directly (slower).
    n_neighbors : int
        UMAP neighbourhood size (Blanco-Portals et al. and del-Pozo-Bueno
        et al. use 300 for visualisation; 30 is as robust for clustering and
        several times faster).
    min_dist : float
        UMAP minimum distance; 0.0 packs clusters tightly, which HDBSCAN
        separates best (umap-learn's advice for clustering). The papers' 0.5
        spreads the map for display.
    n_components : int
        Dimension of the embedding (2 for display).
    metric : str
        UMAP input metric, e.g. ``"cosine"`` (default, intensity-invariant),
        ``"euclidean"``, ``"correlation"``.
    min_cluster_size : int, optional
        HDBSCAN's smallest cluster, in fit-subsample pixels. Default: 0.5 % of
        the fitted pixels (at least 10).
    min_samples : int, optional
        HDBSCAN's density smoothing. Default: ``min(min_cluster_size, 10)``.
    max_fit_samples : int
        Number of pixels UMAP/HDBSCAN are fitted on (all if fewer).
    merge_threshold : float or None
        HDBSCAN can cut one phase in two where its density thins out along a
        thickness gradient. Clusters linked in UMAP's neighbour graph whose
        pixels show no density dip between them (ratio of the smallest density
        between the two clusters to the density at their medians, along the
        line joining their centroids in the intensity-normalised feature space,
        above this value) are merged. Separate phases have a gap (ratio ~ 0).
        None disables the merging.
    navigation_mask : bool array, signal, "vacuum" or None
        Pixels to exclude (True = excluded), in array order or as a HyperSpy
        signal of the navigation shape. ``"vacuum"`` uses
        :func:`~hyperspy_eels_ml.clustering.vacuum_mask`.
        Masked pixels get label -1.
    random_state : int, optional
        Seed for the subsample, UMAP and HDBSCAN. An integer makes results
        reproducible (UMAP then runs single-threaded, about 20 % slower).
    lazy_output : bool, optional
        Return lazy signals (default: lazy iff the input is lazy). Lazy
        results are computed with :meth:`UMAPClusterResult.compute`.
    store_learning_results : bool
        Also write the clustering into ``signal.learning_results`` so that
        HyperSpy's ``get_cluster_labels``/``plot_cluster_results`` work
        (modifies ``signal``; computes lazy labels).
    show_progressbar : bool, optional
        Show a progress bar for the passes over the data (default: HyperSpy
        preference).
    umap_kwargs, hdbscan_kwargs : dict, optional
        Extra keyword arguments for ``umap.UMAP`` and ``hdbscan.HDBSCAN``.

    Returns
    -------
    UMAPClusterResult
        ``labels``, ``probabilities``, ``embedding``, ``cluster_spectra``,
        ``plot()``, ``predict()``, ``store_in_learning_results()``.

    Notes
    -----
    The fit always computes: one pass for the PCA and the subsample, and (for
    eager output) a second pass for embedding and labelling. Blocks are
    re-chunked to whole rows of the navigation space so that results do not
    depend on the input chunking (lazy == eager for a fixed ``random_state``).

    HyperSpy's own ``s.cluster_analysis(preprocessing=umap.UMAP(),
    algorithm=hdbscan.HDBSCAN())`` loads all data, fits on every pixel, has no
    noise label, membership strengths or prediction for new pixels, and orders
    clusters inconsistently; this function adds those and can still fill
    ``learning_results`` for HyperSpy's plotting tools.

    Examples
    --------
    >>> import hyperspy_eels_ml
    >>> from hyperspy_eels_ml.simulation import multiphase_core_loss_si
    >>> s, truth = multiphase_core_loss_si((32, 32), n_channels=256)
    >>> res = s.umap_cluster(navigation_mask=truth.vacuum, random_state=0)  # doctest: +SKIP
    >>> res.labels.plot()  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    if normalization not in _NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {_NORMALIZATIONS}, got {normalization!r}")
    if n_components < 1:
        raise ValueError("n_components must be >= 1")
    v = validate_eels(signal, what="umap_cluster", signal_range=signal_range, min_channels=3)
    if v.navigation_size < 2:
        raise ValueError("umap_cluster needs a spectrum image or line scan (at least 2 spectra).")
    params = dict(signal_range=signal_range, normalization=normalization, n_pca_components=n_pca_components,
                  n_neighbors=n_neighbors, min_dist=min_dist, n_components=n_components, metric=metric,
                  min_cluster_size=min_cluster_size, min_samples=min_samples, max_fit_samples=max_fit_samples,
                  merge_threshold=merge_threshold,
                  navigation_mask=None if navigation_mask is None else (navigation_mask if isinstance(navigation_mask, str) else "array"),
                  random_state=random_state, umap_kwargs=umap_kwargs, hdbscan_kwargs=hdbscan_kwargs)
    mask = _mask_array(navigation_mask, v)
    valid = np.flatnonzero(~mask.reshape(-1))
    if valid.size < 2:
        raise ValueError("umap_cluster: fewer than 2 unmasked pixels.")
    rng = np.random.default_rng(random_state)
    n_fit = min(int(max_fit_samples), valid.size)
    fit_idx = np.sort(rng.choice(valid, n_fit, replace=False))

    x = _canonical(v)
    # trailing singleton axis: map_blocks aligns arrays from the right, like numpy broadcasting
    mask_d = da.from_array(mask[..., None], chunks=x.chunks[:-1] + ((1,),), name=False)
    E = x.shape[-1]
    nav_nd = x.ndim - 1
    use_pca = n_pca_components is not None and 0 < int(n_pca_components) < E
    todo = [_gather(x, fit_idx, v.navigation_shape)]
    if use_pca:
        gram = da.map_blocks(
            _gram_block, x, mask_d, normalization, dtype=np.float64,
            chunks=tuple((1,) * len(c) for c in x.chunks[:-1]) + ((E,), (E,)),
            new_axis=nav_nd + 1, meta=np.empty((0,) * (nav_nd + 2)),
        ).sum(axis=tuple(range(nav_nd)))
        todo.append(gram)
    else:
        # still check finiteness of every block in the first pass
        todo.append(da.map_blocks(lambda b: np.array([np.isfinite(check_finite_block(b)).all()]).reshape((1,) * b.ndim),
                                  x, dtype=bool, chunks=tuple((1,) * len(c) for c in x.chunks)).all())
    vals = compute(*todo, show_progressbar=show_progressbar)
    fit_spectra = np.asarray(vals[0], dtype=np.float32)
    check_finite_block(fit_spectra)
    components = None
    if use_pca:
        w, vec = np.linalg.eigh(vals[1])
        components = np.ascontiguousarray(vec[:, ::-1][:, : int(n_pca_components)], dtype=np.float32)
        # deterministic sign: largest loading positive
        sign = np.sign(components[np.argmax(np.abs(components), axis=0), np.arange(components.shape[1])])
        components *= np.where(sign == 0, 1, sign)
    t_pass1 = time.perf_counter()

    hdbscan = import_hdbscan()
    umap = import_umap()

    model = {"normalization": normalization, "components": components, "n_components": int(n_components)}
    z = _features(fit_spectra, model)
    if min_cluster_size is None:
        min_cluster_size = max(10, int(round(0.005 * n_fit)))
    if min_samples is None:
        min_samples = min(int(min_cluster_size), 10)
    ukw = dict(n_neighbors=int(min(n_neighbors, n_fit - 1)), min_dist=min_dist, n_components=int(n_components),
               metric=metric, random_state=random_state)
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
    if merge_threshold is not None and raw.max() >= 1:
        merged = _merge_continuous_clusters(z, raw, reducer.graph_, float(merge_threshold))
    order = _relabel_by_size(merged)  # merged label (+1) -> final label, largest cluster = 0
    relabel = np.full(int(raw.max()) + 2, -1, dtype=np.int64)  # HDBSCAN label (+1) -> final label
    for old in range(int(raw.max()) + 1):
        relabel[old + 1] = order[merged[raw == old][0] + 1] if np.any(raw == old) else -1
    fit_labels = relabel[raw + 1]
    n_clusters = int(relabel.max()) + 1
    model.update(reducer=reducer, clusterer=clusterer, relabel=relabel, n_clusters=n_clusters,
                 rescue=_rescue_index(z, fit_labels, clusterer.probabilities_, metric))
    # warm up transform in this thread (numba compilation, lazy search-index set-up),
    # so concurrent dask threads do not race on first use
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reducer.transform(z[: min(8, len(z))])
    t_fit = time.perf_counter()
    if n_clusters == 0:
        warnings.warn(
            "HDBSCAN found no cluster (every fitted pixel is noise); lower min_cluster_size/min_samples.",
            UserWarning, stacklevel=2,
        )
    # full-range spectra of the fit subsample for HyperSpy's centroid signals
    fit_info = dict(fit_idx=fit_idx, fit_labels=fit_labels, fit_spectra=fit_spectra)
    timings = {"pass1_pca_and_sample": t_pass1 - t0, "umap_fit": t_umap - t_pass1,
               "hdbscan_fit_and_warmup": t_fit - t_umap}
    res = _apply(signal, model, params, mask, lazy_output, show_progressbar, fit_info=fit_info,
                 timings=timings, validated=v, canonical=x)
    if store_learning_results:
        res.store_in_learning_results(signal)
    return res


def _canonical(v):
    """Rechunk to whole rows of the last navigation axis (shape-determined chunks)."""
    x = as_dask(v.data)
    target = canonical_chunks(x.shape, 4)
    if x.ndim == 1:  # pragma: no cover - validated has a navigation axis
        return x
    want = tuple(da.core.normalize_chunks(target, x.shape, dtype=np.float32))
    if x.chunks != want:
        x = x.rechunk(want)
    return x.astype(np.float32)


def _apply(signal, model, params, navigation_mask, lazy_output, show_progressbar, fit_info, timings,
           validated=None, canonical=None):
    t0 = time.perf_counter()
    v = validated if validated is not None else validate_eels(
        signal, what="UMAPClusterResult.predict", signal_range=params["signal_range"], min_channels=3)
    if model["components"] is not None and v.data.shape[-1] != model["components"].shape[0]:
        raise ValueError(
            f"The signal has {v.data.shape[-1]} channels in the clustering range, the fitted model "
            f"{model['components'].shape[0]}; use the same energy axis."
        )
    mask = _mask_array(navigation_mask, v)
    x = canonical if canonical is not None else _canonical(v)
    nav_chunks = x.chunks[:-1]
    mask_d = da.from_array(mask[..., None], chunks=nav_chunks + ((1,),), name=False)
    nc = model["n_components"]
    model_d = dask.delayed(_ModelHandle(model), pure=True, traverse=False)
    out = da.map_blocks(
        _embed_block, x, mask_d, model_d, dtype=np.float32, chunks=nav_chunks + ((2 + nc,),),
        meta=np.empty((0,) * x.ndim, dtype=np.float32),
    )
    labels = out[..., 0].astype(np.int32)
    probs = out[..., 1]
    emb = out[..., 2:]
    # mean spectra per cluster over the full energy range of the input signal
    full = as_dask(signal.data)
    if np.issubdtype(full.dtype, np.integer):
        full = full.astype(np.float32)
    full = full.rechunk(nav_chunks + (-1,)) if full.chunks[:-1] != nav_chunks or len(full.chunks[-1]) > 1 else full
    K = max(model["n_clusters"], 1)
    Ef = full.shape[-1]
    nav_nd = full.ndim - 1
    sums = da.map_blocks(
        _sums_block, full, labels[..., None], K, dtype=np.float64,
        chunks=tuple((1,) * len(c) for c in nav_chunks) + ((K,), (Ef + 1,)),
        new_axis=nav_nd + 1, meta=np.empty((0,) * (nav_nd + 2)),
    ).sum(axis=tuple(range(nav_nd)))
    sizes = sums[: model["n_clusters"], -1]
    means = sums[: model["n_clusters"], :-1] / da.maximum(sizes, 1)[:, None]

    lazy = v.lazy if lazy_output is None else bool(lazy_output)
    if not lazy:
        labels, probs, emb, means, sizes = compute(labels, probs, emb, means, sizes,
                                                   show_progressbar=show_progressbar)
    t1 = time.perf_counter()
    timings = dict(timings, embed_and_label=t1 - t0)
    parent = signal
    lab_sig = navigation_map(parent, labels, "Cluster labels", quantity="cluster index")
    prob_sig = navigation_map(parent, probs, "Cluster membership strength", quantity="probability")
    emb_sig = per_pixel_spectra(parent, emb, {"name": "UMAP component", "units": "", "scale": 1, "offset": 0},
                                "UMAP embedding")
    spec = _cluster_spectra_signal(parent, means, model["n_clusters"])
    models_info = {"umap-learn": _version("umap-learn"), "hdbscan": _version("hdbscan"),
                   "n_clusters": model["n_clusters"], "n_fit_pixels": int(len(fit_info["fit_idx"]))}
    for s_ in (lab_sig, prob_sig, emb_sig, spec):
        record_provenance(s_, "umap_cluster", params, models=models_info,
                          dependencies=("hyperspy", "exspy", "numpy", "dask", "umap-learn", "hdbscan"))
    fit_full = fit_info["fit_spectra"]
    if v.data.shape[-1] != signal.axes_manager.signal_axes[0].size:
        # centroid signals need full-range spectra of the fitted pixels: gather them (small)
        fit_full = _gather(as_dask(signal.data), fit_info["fit_idx"], v.navigation_shape)
        if isinstance(fit_full, da.Array):
            fit_full = fit_full.compute()
    res = UMAPClusterResult(
        labels=lab_sig, probabilities=prob_sig, embedding=emb_sig, cluster_spectra=spec,
        cluster_sizes=sizes, n_clusters=model["n_clusters"], reducer=model["reducer"],
        clusterer=model["clusterer"], components=model["components"],
        fit_embedding=model["reducer"].embedding_, fit_labels=fit_info["fit_labels"],
        fit_indices=fit_info["fit_idx"], parameters=params, timings=timings,
        _model=model, _fit_info=fit_info, _signal=signal, _fit_spectra_full=np.asarray(fit_full),
        _nav_axes=list(signal.axes_manager.navigation_axes),
    )
    return res


def _version(name):
    from importlib.metadata import version

    return version(name)


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
