"""Deferred imports of heavy optional libraries."""

from __future__ import annotations

import sys

__all__ = ["import_umap", "import_hdbscan"]


def import_umap():
    """Import umap-learn without importing TensorFlow.

    ``import umap`` imports ``umap.parametric_umap`` and with it TensorFlow
    (seconds and ~0.5 GB per process, on every dask worker), although
    ``umap.UMAP`` never uses it. The submodule is blocked during the import and
    unblocked afterwards, so ``from umap.parametric_umap import ParametricUMAP``
    still works later in the same process.
    """
    if "umap" in sys.modules:
        return sys.modules["umap"]
    blocked = "umap.parametric_umap" not in sys.modules
    if blocked:
        sys.modules["umap.parametric_umap"] = None
    try:
        import umap
    finally:
        if blocked and sys.modules.get("umap.parametric_umap", 0) is None:
            del sys.modules["umap.parametric_umap"]
    return umap


def import_hdbscan():
    import hdbscan

    return hdbscan
