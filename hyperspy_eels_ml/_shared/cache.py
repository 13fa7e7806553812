"""Per-process cache for heavy objects (trained models).

Block functions receive a *key* (a short string), not the model, and load the
model here on first use; every worker process loads each model once. This keeps
task payloads small under ``dask.distributed`` and avoids re-loading weights for
every chunk.

Models read from files are cached by :func:`file_key` = (resolved path, size,
mtime_ns): a file overwritten in place gets a new key and is reloaded (never
the stale model), and its SHA-256 is computed once per key.
"""

from __future__ import annotations

import hashlib
import os
import threading

__all__ = ["get_cached", "clear_cache", "file_key", "get_cached_file", "file_sha256"]

_CACHE: dict = {}
_LOCK = threading.Lock()


def get_cached(key, loader):
    """Return ``loader()`` for ``key``, calling the loader at most once per process."""
    try:
        return _CACHE[key]
    except KeyError:
        pass
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = loader()
        return _CACHE[key]


def clear_cache():
    """Drop every cached object (tests, or to free memory)."""
    with _LOCK:
        _CACHE.clear()


def file_key(path):
    """``(resolved path, size, mtime_ns)`` of a file: changes whenever the file is rewritten.

    Raises
    ------
    ModelFileError
        The file does not exist or cannot be read.
    """
    from .exceptions import ModelFileError

    real = os.path.realpath(os.fspath(path))
    try:
        st = os.stat(real)
    except OSError as exc:
        raise ModelFileError(path, exc) from exc
    return real, int(st.st_size), int(st.st_mtime_ns)


def get_cached_file(kind, path, loader):
    """``loader(path)`` cached per ``(kind, file_key(path))``: reloaded after the file changes.

    Entries of older versions of the same file are dropped when a new version is loaded.

    Examples
    --------
    >>> model = get_cached_file("oxidation", "m.npz", OxidationClassifier.load)  # doctest: +SKIP
    """
    key = (kind, "file") + file_key(path)
    try:
        return _CACHE[key]
    except KeyError:
        pass
    with _LOCK:
        if key not in _CACHE:
            for old in [k for k in _CACHE if k[:3] == key[:3] and k != key]:
                del _CACHE[old]
            _CACHE[key] = loader(path)
        return _CACHE[key]


def file_sha256(path):
    """SHA-256 (hex) of a file, computed once per (resolved path, size, mtime_ns)."""

    def _hash(p):
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(2**20), b""):
                h.update(chunk)
        return h.hexdigest()

    return get_cached_file("sha256", path, _hash)
