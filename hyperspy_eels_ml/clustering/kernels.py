"""Block kernels of :func:`~hyperspy_eels_ml.clustering.umap_cluster` (pure numpy, run inside dask tasks).

Each takes a 2-D block of spectra ``(n_spectra, n_channels)`` (and per-pixel
arrays of the same block) as given by
:func:`~hyperspy_eels_ml._shared.batch.map_spectra` /
:func:`~hyperspy_eels_ml._shared.batch.reduce_spectra`.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._shared.imports import import_hdbscan, import_umap
from .._shared.validation import check_finite_block

__all__ = ["NORMALIZATIONS", "normalize", "features", "gram_block", "subspace_block", "embed_block",
           "sums_block", "rescue_noise"]

NORMALIZATIONS = (None, "l2", "max", "area")


def normalize(x, normalization):
    """Per-spectrum normalisation (rows of ``x``), float32; zero spectra stay zero."""
    x = np.asarray(x, dtype=np.float32)
    if normalization is None:
        return x
    n = _norms(x, normalization)
    bad = ~np.isfinite(n) | ((n == 0) & np.any(x != 0, axis=1, keepdims=True))
    if bad.any():  # float32 overflow/underflow at extreme scales: redo those rows in float64
        rows = bad[:, 0]
        x64 = x[rows].astype(np.float64)
        out = x.copy()
        n64 = _norms(x64, normalization)
        out[rows] = (x64 / np.where(n64 > 0, n64, 1.0)).astype(np.float32)
        n = np.where(bad, 1.0, n)
        out[~rows] = x[~rows] / np.where(n[~rows] > 0, n[~rows], 1.0)
        return out
    return x / np.where(n > 0, n, 1.0)


def _norms(x, normalization):
    if normalization == "l2":
        return np.linalg.norm(x, axis=1, keepdims=True)
    if normalization == "max":
        return np.max(np.abs(x), axis=1, keepdims=True)
    if normalization == "area":
        return np.abs(np.sum(x, axis=1, keepdims=True))
    raise ValueError(normalization)  # pragma: no cover - validated before


def _scaled(x, scale):
    """``x * scale`` computed in float64 (scale brings extreme data, e.g. x1e-30, to order 1)."""
    if scale == 1.0:
        return x
    return np.asarray(np.asarray(x, dtype=np.float64) * scale, dtype=np.float32)


def gram_block(block, mask=None, normalization=None, scale=1.0):
    """Partial uncentred Gram matrix ``X^T X`` (float64) of the unmasked spectra of one block."""
    check_finite_block(block, mask)
    x = normalize(_scaled(block, scale), normalization)
    if mask is not None:
        x = x[~mask]
    x = x.astype(np.float64)
    return x.T @ x


def subspace_block(block, basis, mask=None, normalization=None, scale=1.0):
    """Partial ``X^T (X Q)`` (float64, shape ``(E, k)``) for the subspace iteration of large ``E``."""
    check_finite_block(block, mask)
    x = normalize(_scaled(block, scale), normalization)
    if mask is not None:
        x = x[~mask]
    x = x.astype(np.float64)
    return x.T @ (x @ basis)


def features(x, model):
    """Features fed to UMAP: scaled, normalised spectra projected on the PCA components."""
    z = normalize(_scaled(x, model.get("scale", 1.0)), model["normalization"])
    if model["components"] is not None:
        z = z @ model["components"]
    return np.ascontiguousarray(z, dtype=np.float32)


def embed_block(block, handle, mask=None):
    """Embed and label one block: returns ``(n_spectra, 2 + n_components)`` float32.

    Columns: label, membership strength, embedding coordinates. Masked pixels get
    label -1, strength 0 and NaN coordinates.
    """
    hdbscan = import_hdbscan()
    import_umap()
    model = handle.model

    check_finite_block(block, mask)
    keep = np.ones(block.shape[0], bool) if mask is None else ~mask
    nc = model["n_components"]
    out = np.full((block.shape[0], 2 + nc), np.nan, dtype=np.float32)
    out[:, 0] = -1
    out[:, 1] = 0.0
    if keep.any():
        z = features(block[keep], model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            emb = model["reducer"].transform(z)
            labels, strengths = hdbscan.approximate_predict(model["clusterer"], emb)
        lab = model["relabel"][labels + 1]
        strengths = np.asarray(strengths, dtype=np.float64)
        if model.get("rescue") is not None and np.any(lab < 0):
            lab, strengths = rescue_noise(z, lab, strengths, model["rescue"])
        out[keep, 0] = lab
        out[keep, 1] = strengths
        out[keep, 2:] = emb
    return out


def rescue_noise(z, lab, strengths, rescue, k=15, vote=0.8):
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
    st = np.where(nl == best[:, None], fit_strength[nbr], 0.0).sum(1) / np.maximum(
        counts[np.arange(idx.size), best], 1)
    strengths[idx[ok]] = (frac * st)[ok]
    return lab, strengths


def sums_block(block, labels, n_clusters):
    """Per-cluster sums of spectra and pixel counts of one block: ``(n_clusters, E + 1)`` float64."""
    x = block.astype(np.float64)
    lab = np.asarray(labels).astype(np.int64)
    sums = np.zeros((n_clusters, x.shape[1] + 1))
    for k in range(n_clusters):
        sel = lab == k
        if sel.any():
            sums[k, :-1] = x[sel].sum(axis=0)
            sums[k, -1] = sel.sum()
    return sums
