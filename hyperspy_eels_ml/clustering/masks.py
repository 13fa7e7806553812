"""Navigation masks for clustering: :func:`vacuum_mask`.

Not exspy's ``s.vacuum_mask()``: exspy marks a pixel as vacuum when the mean
of the last quarter of its energy range is <= an absolute 10 counts (then a
morphological closing), which suits low-loss data with a known dose. This one
is *relative* (total counts below ``threshold`` x the 95th percentile of all
pixels, over ``signal_range``), so it does not depend on dose, gain or
dispersion and suits core-loss SIs; no morphology. Both return True = vacuum
and both are accepted as ``navigation_mask``.
"""

from __future__ import annotations

import numpy as np

from .._shared.masks import VACUUM_THRESHOLD, vacuum_mask_from_data
from .._shared.params import check_float
from .._shared.validation import check_is_eels, energy_axis_values, parse_energy_range

__all__ = ["vacuum_mask"]


def vacuum_mask(signal, threshold=VACUUM_THRESHOLD, signal_range=None):
    """Boolean navigation mask of vacuum (or nearly empty) pixels.

    A pixel is vacuum when its total counts in ``signal_range`` are below
    ``threshold`` times the 95th percentile of all pixels' totals. This suits
    core-loss SIs, where the thinnest specimen region still scatters an order of
    magnitude more than vacuum. For low-loss data use exspy's
    ``estimate_elastic_scattering_intensity`` or ``s.vacuum_mask()`` instead
    (an absolute threshold on the mean counts of the last quarter of the range).
    NaN/inf are ignored in the totals (so the mask can be combined with a NaN mask).

    Parameters
    ----------
    signal : exspy.signals.EELSSpectrum
    threshold : float
        Fraction of the 95th percentile of the totals (0 < threshold < 1).
    signal_range : tuple of float, optional
        ``(start, end)`` in eV over which the counts are summed.

    Returns
    -------
    numpy.ndarray
        Bool array in array order (True = vacuum). One pass over lazy data.
    """
    check_is_eels(signal, "vacuum_mask")
    threshold = check_float("threshold", threshold, min=0, max=1, inclusive=(False, False))
    energy = energy_axis_values(signal)
    data = signal.data
    if signal_range is not None:
        lo, hi = parse_energy_range(energy, signal_range, what="vacuum_mask")
        i0 = int(np.argmin(np.abs(energy - lo)))
        i1 = int(np.argmin(np.abs(energy - hi)))
        data = data[..., i0 : i1 + 1]
    if np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float32)
    return vacuum_mask_from_data(data, threshold)
