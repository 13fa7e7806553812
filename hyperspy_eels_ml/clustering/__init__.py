"""Unsupervised segmentation of spectrum images (UMAP + HDBSCAN).

Public: :func:`umap_cluster` (also ``s.umap_cluster()``), :func:`fit_umap_cluster`
-> :class:`UMAPClusterModel` (``fit``/``predict``), :class:`UMAPClusterResult`,
:func:`vacuum_mask`, :func:`remove_edge_backgrounds` (core-loss preprocessing) and
:class:`UMAPHDBSCAN` (an sklearn clusterer for HyperSpy's ``s.cluster_analysis``).
"""

from .estimator import UMAPHDBSCAN
from .masks import vacuum_mask
from .model import UMAPClusterModel, fit_umap_cluster
from .result import UMAPClusterResult
from .preprocess import remove_edge_backgrounds
from .umap_hdbscan import umap_cluster

__all__ = ["umap_cluster", "fit_umap_cluster", "UMAPClusterModel", "UMAPClusterResult", "vacuum_mask",
           "remove_edge_backgrounds", "UMAPHDBSCAN"]
