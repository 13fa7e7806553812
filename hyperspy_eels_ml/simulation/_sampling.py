"""Parameter sampling shared by the generators."""

from __future__ import annotations

import numpy as np


def per_spectrum(rng, v, n):
    """Per-spectrum values of a generator parameter.

    Scalar -> constant, None -> NaN, numpy array -> per-spectrum values,
    ``(low, high)`` -> uniform draw.
    """
    if isinstance(v, np.ndarray):
        return np.broadcast_to(v.astype(np.float64), (n,)).copy()
    if v is None or np.isscalar(v):
        return np.full(n, np.nan if v is None else float(v))
    return rng.uniform(v[0], v[1], n)
