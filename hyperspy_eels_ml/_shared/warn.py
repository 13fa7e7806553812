"""Warnings that point at the user's line, not at our wrappers."""

from __future__ import annotations

import inspect
import os
import warnings

__all__ = ["warn", "find_stacklevel"]

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_stacklevel():
    """Stack level of the first frame outside ``hyperspy_eels_ml`` (as pandas does).

    Tests in the repository's ``tests/`` folder are outside the package, so they
    count as user code.
    """
    frame = inspect.currentframe()
    level = 0
    try:
        while frame is not None:
            fname = os.path.abspath(frame.f_code.co_filename)
            if not fname.startswith(_PKG_DIR + os.sep):
                break
            frame = frame.f_back
            level += 1
    finally:
        del frame
    return max(level, 1)


def warn(message, category=UserWarning):
    """``warnings.warn`` with the stack level of the user's call (through methods and wrappers).

    Examples
    --------
    >>> warn("HDBSCAN found no cluster; lower min_cluster_size.")  # doctest: +SKIP
    """
    warnings.warn(message, category, stacklevel=find_stacklevel())
