"""Deferred, quiet imports of heavy optional libraries (umap, hdbscan, TensorFlow/Keras)."""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["import_umap", "import_hdbscan", "import_tensorflow", "import_keras", "quiet_tensorflow"]


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
    """Import hdbscan (deferred: it pulls in numba-compiled code)."""
    import hdbscan

    return hdbscan


def quiet_tensorflow():
    """Silence TensorFlow's C++ and Python logging (call before and after importing it).

    Sets ``TF_CPP_MIN_LOG_LEVEL=3`` unless the user set it (their choice wins),
    and lowers the ``tensorflow`` and ``absl`` loggers to ERROR.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for name in ("tensorflow", "absl", "h5py._conv"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if "absl.logging" in sys.modules:
        try:
            sys.modules["absl.logging"].set_verbosity("error")
        except Exception:  # pragma: no cover - absl API variations
            pass


def import_tensorflow():
    """Import TensorFlow quietly (no CUDA/oneDNN chatter on stderr); returns the module."""
    quiet_tensorflow()
    import tensorflow as tf

    quiet_tensorflow()
    try:
        tf.get_logger().setLevel(logging.ERROR)
    except Exception:  # pragma: no cover
        pass
    return tf


def import_keras():
    """Import Keras 3 quietly (its TensorFlow backend included); returns the module."""
    quiet_tensorflow()
    import keras

    quiet_tensorflow()
    if "tensorflow" in sys.modules:
        try:
            sys.modules["tensorflow"].get_logger().setLevel(logging.ERROR)
        except Exception:  # pragma: no cover
            pass
    return keras
