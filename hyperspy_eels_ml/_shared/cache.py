"""Per-process cache for heavy objects (trained models).

Block functions receive a *key* (a short string), not the model, and load the
model here on first use; every worker process loads each model once. This keeps
task payloads small under ``dask.distributed`` and avoids re-loading weights for
every chunk.
"""

from __future__ import annotations

import threading

__all__ = ["get_cached", "clear_cache"]

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
