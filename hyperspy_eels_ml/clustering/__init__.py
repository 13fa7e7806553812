"""Unsupervised segmentation of spectrum images (UMAP + HDBSCAN)."""

from .umap_hdbscan import UMAPClusterResult, umap_cluster, vacuum_mask

__all__ = ["umap_cluster", "UMAPClusterResult", "vacuum_mask"]
