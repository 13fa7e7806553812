"""Public function :func:`umap_cluster`: UMAP + HDBSCAN segmentation of EELS spectrum images.

Method of Blanco-Portals, Peiro & Estrade, Microsc. Microanal. 28 (2022) 109,
as used by del-Pozo-Bueno et al., Ultramicroscopy (2023) 113828, made to scale
to lazy SIs of 10^6-10^7 spectra. The layers (see the developers' guide):

* :mod:`.kernels` - block functions (normalise, Gram matrix, embed + label, sums);
* :mod:`.merge` - the post-HDBSCAN merge heuristic and label bookkeeping;
* :mod:`.masks` - :func:`vacuum_mask`;
* :mod:`.model` - :func:`fit_umap_cluster` -> :class:`UMAPClusterModel` (``fit``/``predict``);
* :mod:`.result` - :class:`UMAPClusterResult`; :mod:`.plot` - its figures;
* :mod:`.preprocess` - background removal before edges, edge windows;
* :mod:`.estimator` - an sklearn estimator for HyperSpy's ``s.cluster_analysis``;
* this module - the thin public function.
"""

from __future__ import annotations

from .._shared.docstrings import fill_doc
from .._shared.params import check_bool
from .masks import vacuum_mask
from .model import UMAPClusterModel, fit_umap_cluster
from .result import UMAPClusterResult

__all__ = ["umap_cluster", "UMAPClusterResult", "UMAPClusterModel", "fit_umap_cluster", "vacuum_mask"]


@fill_doc
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
    block_size=None,
    background=None,
    edges="auto",
    pre_edge_width=None,
    post_edge_width=None,
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
    %(signal_range)s
        Used for the clustering (e.g. the edges that distinguish the phases).
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
    %(navigation_mask)s
        ``"vacuum"`` is :func:`~hyperspy_eels_ml.clustering.vacuum_mask`.
        Masked pixels get label -1.
    %(random_state)s
        Seeds the subsample, UMAP and HDBSCAN (UMAP then runs single-threaded,
        about 20 % slower).
    %(lazy_output)s
    store_learning_results : bool
        Also write the clustering into ``signal.learning_results`` so that
        HyperSpy's ``get_cluster_labels``/``plot_cluster_results`` work
        (modifies ``signal``; computes lazy labels).
    %(show_progressbar)s
    umap_kwargs, hdbscan_kwargs : dict, optional
        Extra keyword arguments for ``umap.UMAP`` and ``hdbscan.HDBSCAN``.
    %(block_size)s
        Lazy input is rechunked the same way (whole rows), so that lazy and
        eager results are identical for a fixed ``random_state``.
    background : {None, "PowerLaw", "Exponential", "Offset", "Polynomial"}
        Core-loss preprocessing (default None: the spectra as they are). With a
        background type, the background before each edge is fitted and
        subtracted with exspy's ``remove_background`` and only the edge
        segments are clustered
        (:func:`~hyperspy_eels_ml.clustering.preprocess.remove_edge_backgrounds`);
        the mean spectra stay those of the raw data. **Use it for core-loss
        SIs**: on raw core-loss data the decaying background dominates and
        real SIs often come out as one cluster.
    edges : "auto", list of str or float
        Edges for ``background``: ``"auto"`` takes the lowest main edge (K,
        L3, M5, ...) of each element of ``metadata.Sample.elements`` in range
        (``s.add_elements(["Cu", "Zn"])``); or names (``"Cu_L3"``) or onsets in eV.
    pre_edge_width, post_edge_width : float, optional
        Background-window width before each edge (default 30 channels, at least
        20 eV) and the most eV kept after each onset (default: up to the next
        edge), in eV.

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
    check_bool("store_learning_results", store_learning_results)
    model = UMAPClusterModel(
        signal_range=signal_range, normalization=normalization, n_pca_components=n_pca_components,
        n_neighbors=n_neighbors, min_dist=min_dist, n_components=n_components, metric=metric,
        min_cluster_size=min_cluster_size, min_samples=min_samples, max_fit_samples=max_fit_samples,
        merge_threshold=merge_threshold, random_state=random_state, umap_kwargs=umap_kwargs,
        hdbscan_kwargs=hdbscan_kwargs, background=background, edges=edges, pre_edge_width=pre_edge_width,
        post_edge_width=post_edge_width)
    res = model.fit_predict(signal, navigation_mask=navigation_mask, lazy_output=lazy_output,
                            show_progressbar=show_progressbar, block_size=block_size)
    if store_learning_results:
        res.store_in_learning_results(signal)
    return res
