"""Post-HDBSCAN merge heuristic and label bookkeeping of :func:`~hyperspy_eels_ml.clustering.umap_cluster`."""

from __future__ import annotations

import numpy as np

__all__ = ["dip_ratio", "merge_continuous_clusters", "relabel_by_size", "rescue_index"]


def dip_ratio(pa, pb, bins=None):
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


def merge_continuous_clusters(z, labels, graph, threshold):
    """Merge HDBSCAN clusters that are one continuous population.

    HDBSCAN can cut one phase in two where its density along a thickness
    gradient thins out. Two clusters are merged when (i) they are linked in
    UMAP's neighbour graph of the fit pixels and (ii) their fit pixels, in the
    feature space (unit-normalised for intensity invariance) and projected on
    the line through the two centroids, show no density dip between them
    (:func:`dip_ratio` > ``threshold``). Separate phases are separated by a gap
    (ratio ~ 0); interfaces with mixed pixels form their own clusters and
    keep a dip. Returns the merged labels (-1 stays noise).

    Parameters
    ----------
    z : numpy.ndarray
        Features of the fit pixels ``(n, d)``.
    labels : numpy.ndarray
        HDBSCAN labels ``(n,)``; -1 = noise.
    graph : scipy.sparse matrix
        Neighbour graph of the fit pixels (UMAP's ``graph_``).
    threshold : float
        Dip ratio above which two linked clusters are merged.
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
                ratio = dip_ratio(zn[labels == a] @ (d / nd), zn[labels == b] @ (d / nd))
            if ratio > best:
                best, pair = ratio, (a, b)
        if pair is None:
            return labels
        labels[labels == pair[1]] = pair[0]


def rescue_index(z, fit_labels, fit_strength, metric):
    """Nearest-neighbour index of the fit pixels for :func:`~.kernels.rescue_noise` (None if unsupported)."""
    from sklearn.neighbors import NearestNeighbors

    if not isinstance(metric, str) or fit_labels.max() < 0:
        return None
    try:
        nn = NearestNeighbors(metric=metric, algorithm="brute").fit(z)
    except ValueError:
        return None
    return nn, np.asarray(fit_labels), np.asarray(fit_strength, dtype=np.float64)


def relabel_by_size(labels):
    """Lookup table old label (+1 offset for noise) -> new label, largest cluster = 0."""
    n = int(labels.max()) + 1 if labels.size and labels.max() >= 0 else 0
    sizes = np.bincount(labels[labels >= 0], minlength=n)
    order = np.argsort(-sizes, kind="stable")  # order[new] = old
    table = np.full(n + 1, -1, dtype=np.int64)
    table[order + 1] = np.arange(n)
    return table
