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

__all__ = ["auto_vacuum_mask_from_data", "flat_spectra", "parse_navigation_mask", "vacuum_mask_from_data"]

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
    return _low_total(total, threshold)


def _low_total(total, threshold):
    """Finite totals below ``threshold`` x the 95th percentile of the finite totals (bool array)."""
    total = np.asarray(total, dtype=np.float64)
    finite = np.isfinite(total)
    if not finite.any():
        return np.zeros(total.shape, bool)
    ref = np.percentile(total[finite], 95)
    with np.errstate(invalid="ignore"):
        return finite & (total < threshold * ref)


#: ``"auto"``: a pixel's spectrum is flat when |mean(first quarter) - mean(last quarter)| is below this
#: many standard errors of that difference (noise from the first differences of its channels).
FLAT_HEAD_TAIL_SIGMAS = 3.0
#: ``"auto"``: and when the standard deviation of its channels is below this many noise sigmas (a flat
#: spectrum of white noise has 1; detector-correlated noise up to about 1.5; a background or an edge far more).
FLAT_STD_RATIO = 3.0
#: ``"auto"``: and when none of the means of this many equal segments of the window is more than
#: ``FLAT_SEGMENT_SIGMAS`` standard errors from their overall mean (4 sigma over 8 segments: a flat
#: spectrum of white noise fails with about 0.05 % chance).
FLAT_SEGMENTS = 8
FLAT_SEGMENT_SIGMAS = 4.0


#: pixels per sub-batch of :func:`_flat_block` (bounds its temporaries to a few MB whatever the chunk)
_FLAT_BATCH = 1024


def _flat_block(x, total_axis_slice):
    """Per pixel of a block ``(..., E)``: [total counts (all channels), flat (1.0/0.0) over the window]."""
    x = np.asarray(x)
    shape = x.shape[:-1]
    x = x.reshape(-1, x.shape[-1])
    out = np.empty((x.shape[0], 2))
    for i in range(0, x.shape[0], _FLAT_BATCH):
        out[i:i + _FLAT_BATCH] = _flat_rows(x[i:i + _FLAT_BATCH], total_axis_slice)
    return out.reshape(shape + (2,))


def _flat_rows(x, total_axis_slice):
    x = np.asarray(x, dtype=np.float64)
    total = np.sum(x, axis=-1)
    w = x[..., total_axis_slice]
    n = w.shape[-1]
    q = max(n // 4, 1)
    with np.errstate(invalid="ignore", over="ignore"):
        head = w[..., :q].mean(axis=-1)
        tail = w[..., n - q:].mean(axis=-1)
        d = np.diff(w, axis=-1)
        if d.shape[-1] == 0:
            sigma = np.zeros(head.shape)
        else:
            # std of the differences winsorized at 5 robust sigmas (1.4826 median |diff|, about 0: the
            # differences of a smooth spectrum are centred within noise): spikes do not inflate it, and
            # unlike the MAD alone it is unbiased for discrete low-count (Poisson) noise; where the
            # median |diff| is 0 (most differences 0) the plain std
            clip = 5.0 * 1.4826 * np.median(np.abs(d), axis=-1, keepdims=True)
            clip = np.where(clip > 0, clip, np.inf)
            sigma = np.std(np.clip(d, -clip, clip), axis=-1) / np.sqrt(2.0)
        step = np.abs(head - tail)
        flat = (step <= FLAT_HEAD_TAIL_SIGMAS * sigma * np.sqrt(2.0 / q)) & (
            np.std(w, axis=-1) <= FLAT_STD_RATIO * sigma)
        # structure: the means of FLAT_SEGMENTS equal segments (an edge between a decaying head and an
        # equal tail) within FLAT_SEGMENT_SIGMAS standard errors of their overall mean
        m = n // FLAT_SEGMENTS
        if m >= 2:
            seg = w[..., :FLAT_SEGMENTS * m].reshape(w.shape[:-1] + (FLAT_SEGMENTS, m)).mean(axis=-1)
            dev = np.max(np.abs(seg - seg.mean(axis=-1, keepdims=True)), axis=-1)
            flat &= dev <= FLAT_SEGMENT_SIGMAS * sigma * np.sqrt((1.0 - 1.0 / FLAT_SEGMENTS) / m)
        flat &= np.isfinite(step)
    return np.stack([total, flat.astype(np.float64)], axis=-1)


def flat_spectra(data, window=slice(None)):
    """Per-pixel totals and flatness of ``data`` ``(..., E)``, in one pass over lazy data.

    Parameters
    ----------
    data : numpy.ndarray or dask.array.Array
        Spectra, signal axis last.
    window : slice
        Channels on which flatness is judged (the usable window); totals are over all channels.

    Returns
    -------
    total : numpy.ndarray
        Total counts per pixel (NaN/inf propagate).
    flat : numpy.ndarray of bool
        True where the spectrum carries no significant energy-loss signal: the means of the first and
        last quarters of the window agree within ``FLAT_HEAD_TAIL_SIGMAS`` standard errors, and the
        standard deviation of the channels is at most ``FLAT_STD_RATIO`` times the noise, and the means
        of ``FLAT_SEGMENTS`` (8) equal segments lie within ``FLAT_SEGMENT_SIGMAS`` (4) standard errors of
        their overall mean (an edge between a decaying head and an equal tail), the noise per
        channel being ``std(diff) / sqrt(2)`` of the first differences winsorized at 5 x 1.4826 median(|diff|)
        (robust to spikes, unbiased for discrete Poisson counts; the plain std where that median is 0).
        All-zero and constant spectra are flat; spectra with NaN/inf are not.
    """
    if isinstance(data, da.Array):
        if data.chunks[-1] != (data.shape[-1],):
            data = data.rechunk({data.ndim - 1: -1})
        out = data.map_blocks(_flat_block, window, chunks=data.chunks[:-1] + ((2,),),
                              dtype=np.float64).compute()
    else:
        out = _flat_block(data, window)
    return out[..., 0], out[..., 1].astype(bool)


def auto_vacuum_mask_from_data(data, window=slice(None), threshold=VACUUM_THRESHOLD):
    """identify_elements' ``"auto"`` mask: vacuum in the physical sense (True = vacuum).

    A pixel is vacuum only if BOTH its total counts are below ``threshold`` x the 95th percentile of
    the finite totals (the rule of ``"vacuum"``, :func:`vacuum_mask_from_data`) AND its spectrum is
    flat (:func:`flat_spectra`: no decaying background, no edge, no structure beyond its own noise).
    So a thin or low-dose specimen pixel, far below the threshold but with a background, is kept.
    Pixels with NaN/inf are never vacuum. One pass over lazy data (memory bounded by a chunk).
    """
    total, flat = flat_spectra(data, window)
    return _low_total(total, threshold) & np.asarray(flat, bool)


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
