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


def _user_wants_tf_logs():
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    return level is not None and level.strip() not in ("", "3") and not os.environ.get("_HEM_TF_QUIET")


class _silenced_stderr:
    """Redirect the C-level stderr (file descriptor 2) while TensorFlow initialises.

    TensorFlow/XLA print "Could not find cuda drivers", oneDNN and absl notices from C++ before
    ``TF_CPP_MIN_LOG_LEVEL`` takes effect. What was written is re-emitted if the import fails.
    """

    def __enter__(self):
        import tempfile

        try:
            sys.stderr.flush()
            self._saved = os.dup(2)
            self._tmp = tempfile.TemporaryFile()
            os.dup2(self._tmp.fileno(), 2)
        except (OSError, ValueError, AttributeError):  # pragma: no cover - no real fd 2 (some notebooks)
            self._saved = None
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._saved is None:  # pragma: no cover
            return False
        try:
            sys.stderr.flush()
        except Exception:  # pragma: no cover
            pass
        os.dup2(self._saved, 2)
        os.close(self._saved)
        if exc_type is not None:
            self._tmp.seek(0)
            sys.stderr.write(self._tmp.read().decode(errors="replace"))
        self._tmp.close()
        return False


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
    """Import TensorFlow quietly (no CUDA/oneDNN chatter on stderr); returns the module.

    A user who set ``TF_CPP_MIN_LOG_LEVEL`` below 3 gets TensorFlow's messages.
    """
    verbose = _user_wants_tf_logs()
    quiet_tensorflow()
    if verbose or "tensorflow" in sys.modules:
        import tensorflow as tf
    else:
        with _silenced_stderr():
            import tensorflow as tf

    quiet_tensorflow()
    try:
        tf.get_logger().setLevel(logging.ERROR)
    except Exception:  # pragma: no cover
        pass
    return tf


def import_keras():
    """Import Keras 3 quietly (its TensorFlow backend included); returns the module."""
    verbose = _user_wants_tf_logs()
    quiet_tensorflow()
    if verbose or "keras" in sys.modules:
        import keras
    else:
        with _silenced_stderr():
            import keras
            import keras.src.backend  # noqa: F401  (initialises the backend inside the redirect)
    quiet_tensorflow()
    if "tensorflow" in sys.modules:
        try:
            sys.modules["tensorflow"].get_logger().setLevel(logging.ERROR)
        except Exception:  # pragma: no cover
            pass
    return keras
