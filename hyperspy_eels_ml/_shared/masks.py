"""One parser for every ``navigation_mask`` parameter of the package.

Convention (HyperSpy's ``navigation_mask`` of ``decomposition``): True =
excluded. A mask is given in *array order* (``s.data.shape[:-1]``), as a
HyperSpy signal whose data have that shape (e.g. exspy's ``s.vacuum_mask()``
or ``s.sum(-1) < 10``), or as ``"vacuum"``.
"""

from __future__ import annotations

import dask.array as da
import numpy as np

from .exceptions import NavigationMaskError

__all__ = ["parse_navigation_mask", "vacuum_mask_from_data"]

#: A pixel is vacuum when its total counts are below this fraction of the 95th percentile.
VACUUM_THRESHOLD = 0.1


def vacuum_mask_from_data(data, threshold=VACUUM_THRESHOLD, skipna=True):
    """Bool array (True = vacuum) from data ``(..., E)``: total counts < ``threshold`` x 95th percentile.

    One pass over lazy data. Unlike exspy's ``s.vacuum_mask()`` (mean of the
    last quarter of the energy range <= an absolute 10 counts, then a
    morphological closing), this threshold is relative, so it does not depend
    on the dose or the gain, and uses the whole given range; no morphology.

    The percentile is taken over the finite totals (an inf channel does not
    move the threshold). With ``skipna=True`` NaN channels count as 0 (an
    all-NaN pixel is vacuum); with ``skipna=False`` a pixel with any NaN or inf
    is never vacuum (so that a caller's non-finite check still sees it).
    """
    lazy = isinstance(data, da.Array)
    if skipna:
        total = da.nansum(data, axis=-1) if lazy else np.nansum(data, axis=-1)
    else:
        total = da.sum(data, axis=-1) if lazy else np.sum(data, axis=-1)
    if lazy:
        total = total.compute()
    total = np.asarray(total, dtype=np.float64)
    finite = np.isfinite(total)
    if not finite.any():
        return np.zeros(total.shape, bool)
    ref = np.percentile(total[finite], 95)
    with np.errstate(invalid="ignore"):
        return finite & (total < threshold * ref)


def parse_navigation_mask(signal, mask, what="this function", name="navigation_mask"):
    """Return ``mask`` as a boolean numpy array of the navigation shape (array order), or None.

    Parameters
    ----------
    signal : exspy.signals.EELSSpectrum or ValidatedEELS
        The signal the mask applies to (its navigation shape; its data for ``"vacuum"``).
    mask : None, bool array-like, HyperSpy signal, or "vacuum"
        * None: no mask (returns None);
        * a boolean numpy/dask array or nested list of shape ``s.data.shape[:-1]``;
        * a HyperSpy signal whose data have that shape (bool, or 0/1 numbers);
        * 0/1 integer or float arrays (exact 0 or 1 only);
        * ``"vacuum"``: :func:`vacuum_mask_from_data` on the signal (relative
          threshold; see there how it differs from exspy's ``s.vacuum_mask()``).
    what, name : str
        Caller and parameter names, for messages.

    Returns
    -------
    numpy.ndarray or None
        Boolean array, True = excluded.

    Raises
    ------
    NavigationMaskError
        Wrong shape (with a hint when the mask is transposed), NaN in a float
        mask, values other than 0/1/True/False, unknown strings or types.

    Examples
    --------
    >>> m = parse_navigation_mask(s, s.data.sum(-1) < 10)          # doctest: +SKIP
    >>> m = parse_navigation_mask(s, s.vacuum_mask())              # doctest: +SKIP
    >>> m = parse_navigation_mask(s, "vacuum")                     # doctest: +SKIP
    """
    if mask is None:
        return None
    data = getattr(signal, "data", None)
    shape = tuple(data.shape[:-1])
    if isinstance(mask, str):
        if mask != "vacuum":
            raise NavigationMaskError(
                f"{what}: {name} must be None, 'vacuum', a boolean array or a boolean signal; "
                f"got the string {mask!r}."
            )
        return vacuum_mask_from_data(data)
    if hasattr(mask, "axes_manager") and hasattr(mask, "data"):
        values = mask.data
    elif isinstance(mask, np.ndarray | da.Array | list | tuple) or np.isscalar(mask):
        values = mask
    else:
        raise NavigationMaskError(
            f"{what}: {name} must be None, 'vacuum', a boolean array or a boolean signal; got "
            f"{type(mask).__name__}."
        )
    if isinstance(values, da.Array):
        values = values.compute()
    values = np.asarray(values)
    if values.dtype == object:
        raise NavigationMaskError(f"{what}: {name} must hold booleans, got an object array.")
    if values.shape != shape:
        hint = ""
        if values.ndim == len(shape) and values.T.shape == shape:
            hint = " It looks transposed: pass mask.T (masks are in array order, s.data.shape[:-1])."
        elif values.size == int(np.prod(shape, dtype=np.int64)):
            hint = f" It has the right size: reshape it with mask.reshape({shape})."
        raise NavigationMaskError(
            f"{what}: {name} has shape {values.shape}, the navigation shape (array order, "
            f"s.data.shape[:-1]) is {shape}.{hint}"
        )
    if values.dtype == bool:
        return values.copy()
    if not (np.issubdtype(values.dtype, np.number)):
        raise NavigationMaskError(f"{what}: {name} must hold booleans (True = excluded), got dtype {values.dtype}.")
    if np.issubdtype(values.dtype, np.floating) and np.isnan(values).any():
        raise NavigationMaskError(
            f"{what}: {name} contains {int(np.isnan(values).sum())} NaN value(s); a mask must be "
            "True/False (True = excluded). Build it explicitly, e.g. `np.isnan(m) | (m > 0)`."
        )
    if not np.isin(values, (0, 1)).all():
        bad = values[~np.isin(values, (0, 1))]
        raise NavigationMaskError(
            f"{what}: {name} must be boolean (True = excluded) or 0/1, got values such as "
            f"{bad.reshape(-1)[0].item()!r}. Threshold it explicitly, e.g. `mask = values > 0.5`."
        )
    return values.astype(bool)
