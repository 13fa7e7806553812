"""Input validation shared by every capability.

Every public function of the package starts with :func:`validate_eels`, which
turns a HyperSpy signal into a :class:`ValidatedEELS`: a float dask/numpy array
with the signal axis last and in one chunk, plus the calibrated energy axis.
Problems are reported with specific exceptions whose messages say how to fix
the input; nothing is silently coerced except integer counts (converted to
float32, as counts are integers by nature).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import dask.array as da
import numpy as np

_logger = logging.getLogger(__name__)

__all__ = [
    "EELSInputError",
    "NotEELSSignalError",
    "EnergyAxisError",
    "EnergyRangeError",
    "NonFiniteDataError",
    "EmptySignalError",
    "ValidatedEELS",
    "validate_eels",
    "check_energy_range",
    "check_finite_block",
    "parse_energy_range",
]


from .exceptions import (  # noqa: E402  (re-exported here for backward compatibility)
    EELSInputError,
    EmptySignalError,
    EnergyAxisError,
    EnergyRangeError,
    NonFiniteDataError,
    NotEELSSignalError,
)


_EV_UNITS = {"ev": 1.0, "kev": 1e3, "mev": 1e-3}


@dataclass
class ValidatedEELS:
    """A validated EELS signal, ready for batched numerical work.

    Attributes
    ----------
    signal : exspy.signals.EELSSpectrum
        The (possibly cropped) signal; never a modified copy of the user's data.
    data : numpy.ndarray or dask.array.Array
        Float data, navigation axes first (array order) and the signal axis last.
        For lazy signals the signal axis is a single chunk. Finite outside the
        masked pixels (eager: checked; lazy: checked block by block with
        :func:`check_finite_block` while computing); non-finite values of
        masked pixels are replaced by 0 (in this array only).
    energy : numpy.ndarray
        Energy-loss values of the channels, in eV.
    lazy : bool
        Whether the input was lazy.
    mask : numpy.ndarray or None
        Navigation mask in array order (True = excluded) when one was given to
        :func:`validate_eels`, else None.
    """

    signal: object
    data: object
    energy: np.ndarray
    lazy: bool
    mask: object = None

    @property
    def navigation_shape(self):
        """Navigation shape in array order."""
        return tuple(self.data.shape[:-1])

    @property
    def navigation_size(self):
        """Number of spectra."""
        return int(np.prod(self.navigation_shape, dtype=np.int64))

    @property
    def dispersion(self):
        """Energy per channel in eV."""
        return float(self.energy[1] - self.energy[0]) if self.energy.size > 1 else np.nan

    @property
    def energy_range(self):
        """``(first, last)`` channel energy in eV."""
        return float(self.energy[0]), float(self.energy[-1])

    @property
    def mask_or_none(self):
        """Boolean mask array (all False when no mask was given)."""
        return np.zeros(self.navigation_shape, bool) if self.mask is None else self.mask


def _eels_classes():
    from exspy.signals import EELSSpectrum

    return EELSSpectrum


def check_is_eels(signal, what="this function"):
    """Raise :class:`NotEELSSignalError` unless ``signal`` is a 1-D EELS spectrum."""
    EELSSpectrum = _eels_classes()
    if isinstance(signal, EELSSpectrum):
        if signal.axes_manager.signal_dimension != 1:  # pragma: no cover - exspy forbids
            raise NotEELSSignalError(
                f"{what} needs a signal dimension of 1, got "
                f"{signal.axes_manager.signal_dimension}."
            )
        return
    try:
        from hyperspy.signal import BaseSignal
    except ImportError:  # pragma: no cover
        BaseSignal = ()
    if isinstance(signal, BaseSignal):
        sdim = signal.axes_manager.signal_dimension
        if sdim == 1:
            hint = (
                "Convert it with `s.set_signal_type('EELS')` (exspy must be installed)."
            )
        else:
            hint = (
                f"Its signal dimension is {sdim}; EELS spectra have one signal axis "
                "(energy loss). If the energy axis is a navigation axis, use "
                "`s = s.as_signal1D(spectral_axis)` and then `s.set_signal_type('EELS')`."
            )
        raise NotEELSSignalError(
            f"{what} works on EELS spectra (exspy.signals.EELSSpectrum), got "
            f"{type(signal).__name__} with signal_type={signal.metadata.Signal.signal_type!r}. "
            + hint
        )
    if isinstance(signal, np.ndarray | da.Array):
        raise NotEELSSignalError(
            f"{what} works on HyperSpy EELS signals, got a bare array. Wrap it with "
            "`exspy.signals.EELSSpectrum(array)` and calibrate the energy axis "
            "(`s.axes_manager.signal_axes[0].scale/offset/units = ...`, units 'eV')."
        )
    raise NotEELSSignalError(
        f"{what} works on EELS spectra (exspy.signals.EELSSpectrum), got {type(signal).__name__}."
    )


def energy_axis_values(signal):
    """Return the channel energies in eV, checking units and uniformity."""
    axis = signal.axes_manager.signal_axes[0]
    units = str(axis.units).strip()
    key = units.lower()
    if key not in _EV_UNITS:
        raise EnergyAxisError(
            f"The signal axis {axis.name!r} has units {units!r}; an energy-loss axis in eV "
            "is needed. Calibrate it, e.g. `ax = s.axes_manager.signal_axes[0]; "
            "ax.units = 'eV'; ax.scale = <eV per channel>; ax.offset = <first energy>`."
        )
    if not getattr(axis, "is_uniform", True):
        values = np.asarray(axis.axis, dtype=np.float64)
        step = float((values[-1] - values[0]) / (values.size - 1)) if values.size > 1 else 1.0
        raise EnergyAxisError(
            f"The signal axis {axis.name!r} is non-uniform; these models need a uniform "
            "energy axis. Resample it onto a uniform grid first, e.g. "
            "`from hyperspy.axes import UniformDataAxis; s = s.interpolate_on_axis("
            f"UniformDataAxis(offset={values[0]:.6g}, scale={step:.6g}, size={values.size}, "
            f"units={units!r}), axis=s.axes_manager.signal_axes[0], inplace=False)`."
        )
    if axis.size < 2:
        raise EmptySignalError("The signal axis has fewer than 2 channels.")
    energy = np.asarray(axis.axis, dtype=np.float64) * _EV_UNITS[key]
    if not np.all(np.diff(energy) > 0):
        raise EnergyAxisError(
            "The energy axis must increase from channel to channel (negative scale found); "
            "flip the data and axis first."
        )
    return energy


def check_energy_range(energy, required, what="This model", dispersion=None):
    """Raise :class:`EnergyRangeError` unless ``energy`` covers ``required``.

    The message names the range needed and the range the signal records, and
    which end is missing.

    Parameters
    ----------
    energy : numpy.ndarray
        Channel energies in eV.
    required : tuple of float
        ``(low, high)`` energy range in eV that must lie inside the signal range
        (half a channel of tolerance at each end).
    what : str
        Name of the operation or model, used in the message.
    dispersion : float, optional
        Unused; kept for backward compatibility.
    """
    energy = np.asarray(energy, dtype=np.float64)
    lo, hi = (float(required[0]), float(required[1]))
    half = 0.5 * abs(energy[1] - energy[0]) if energy.size > 1 else 0.0
    e0, e1 = float(energy[0]) - half, float(energy[-1]) + half
    if lo < e0 or hi > e1:
        missing = []
        if lo < e0:
            missing.append(f"the low end {lo:g} eV is below the first channel")
        if hi > e1:
            missing.append(f"the high end {hi:g} eV is above the last channel")
        raise EnergyRangeError(
            f"{what} needs the energy range {lo:g}-{hi:g} eV but the signal covers "
            f"{float(energy[0]):g}-{float(energy[-1]):g} eV ({' and '.join(missing)}). Acquire or "
            f"select a range that contains {lo:g}-{hi:g} eV (check the energy calibration: an "
            "offset error shifts the whole axis)."
        )


def parse_energy_range(energy, signal_range, what="this function", name="signal_range"):
    """Check a user's ``(start, end)`` energy range in eV against the channels; return floats.

    ``None`` (the whole range) gives the first and last channel; either end may
    be None. The range must be a pair of finite numbers, increasing, and inside
    the signal (:func:`check_energy_range`).

    Returns
    -------
    tuple of float
        ``(start, end)`` in eV.

    Examples
    --------
    >>> parse_energy_range(np.arange(400.0, 432.0, 0.5), (405, None))
    (405.0, 431.5)
    """
    from .exceptions import ParameterError

    energy = np.asarray(energy, dtype=np.float64)
    if signal_range is None:
        return float(energy[0]), float(energy[-1])
    try:
        lo, hi = signal_range
    except (TypeError, ValueError):
        raise ParameterError(
            f"{name} must be None or a pair (start, end) in eV, got {signal_range!r}."
        ) from None
    out = []
    for end, default in ((lo, energy[0]), (hi, energy[-1])):
        if end is None:
            out.append(float(default))
            continue
        if isinstance(end, bool | np.bool_) or not isinstance(end, int | float | np.integer | np.floating):
            raise ParameterError(f"{name} ends must be numbers in eV or None, got {end!r}.")
        if not np.isfinite(end):
            raise ParameterError(f"{name} ends must be finite, got {end!r}.")
        out.append(float(end))
    lo, hi = out
    if hi <= lo:
        raise EnergyRangeError(f"{name} must be increasing, got ({lo}, {hi}).")
    check_energy_range(energy, (lo, hi), what=f"{name} of {what}")
    return lo, hi


def check_finite_block(block, mask_block=None):
    """Raise :class:`NonFiniteDataError` if ``block`` holds NaN/inf; return it otherwise.

    Used inside dask blocks, so lazy data are checked while they are computed
    (never by an extra pass over the data). With ``mask_block`` (bool, the
    navigation shape of ``block``, True = excluded) masked spectra are not checked.
    """
    finite = np.isfinite(block)
    if not np.all(finite):
        if mask_block is not None:
            bad_px = ~finite.reshape(-1, block.shape[-1]).all(axis=1) & ~np.asarray(mask_block).reshape(-1)
            if not bad_px.any():
                return block
        bad = int(np.size(block) - np.count_nonzero(finite))
        raise NonFiniteDataError(
            f"The data contain {bad} NaN/inf value(s) in one block. Remove or replace them "
            "first, e.g. `s.data = np.nan_to_num(s.data)` (eager) or "
            "`s.map(np.nan_to_num)`, or exclude the affected pixels with "
            "`navigation_mask=~np.isfinite(s.data).all(axis=-1)` (True = excluded)."
        )
    return block


def _zero_masked_nonfinite(data, mask, what):
    """Check eager ``data`` is finite outside ``mask``; return it with masked NaN/inf set to 0."""
    finite_px = np.isfinite(data).all(axis=-1)
    if finite_px.all():
        return data
    bad = ~finite_px if mask is None else (~finite_px & ~mask)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(np.atleast_1d(bad))[0])
        raise NonFiniteDataError(
            f"{what}: the data contain NaN/inf in {int(bad.sum())} pixel(s) (first at array index "
            f"{first}). Remove or replace them first, e.g. `s.data = np.nan_to_num(s.data)`, or "
            "exclude them with `navigation_mask=~np.isfinite(s.data).all(axis=-1)` "
            "(True = excluded; combine with your own mask by `|`)."
        )
    return np.where(finite_px[..., None], data, np.zeros((), data.dtype))


def validate_eels(signal, *, what="this function", signal_range=None, min_channels=2,
                  navigation_mask=None):
    """Validate an EELS signal and return a :class:`ValidatedEELS`.

    Parameters
    ----------
    signal : exspy.signals.EELSSpectrum
        Eager or lazy EELS signal of any navigation dimension.
    what : str
        Name of the calling function, used in messages.
    signal_range : tuple of float, optional
        ``(start, end)`` energy range in eV to select (inclusive of the edges'
        channels). Both ends must lie inside the signal's range.
    min_channels : int
        Minimum number of channels after the range selection.
    navigation_mask : optional
        Anything :func:`~hyperspy_eels_ml._shared.masks.parse_navigation_mask`
        accepts. NaN/inf in masked pixels are accepted (and set to 0 in
        ``data``); the parsed mask is ``ValidatedEELS.mask``.

    Returns
    -------
    ValidatedEELS

    Raises
    ------
    NotEELSSignalError
        Not an EELS spectrum (the message says how to convert).
    EnergyAxisError
        Signal axis not in eV, non-uniform or decreasing.
    EnergyRangeError
        ``signal_range`` outside the signal.
    EmptySignalError
        No spectra or too few channels.
    NonFiniteDataError
        NaN/inf in unmasked pixels of eager data (in lazy data: raised when the
        blocks are computed).
    NavigationMaskError
        A mask of the wrong shape, type or values.
    """
    check_is_eels(signal, what)
    energy = energy_axis_values(signal)
    if signal_range is not None:
        lo, hi = parse_energy_range(energy, signal_range, what=what)
        i0 = int(np.argmin(np.abs(energy - lo)))
        i1 = int(np.argmin(np.abs(energy - hi)))
        signal = signal.isig[i0 : i1 + 1]
        energy = energy_axis_values(signal)
    if 0 in signal.data.shape:
        raise EmptySignalError(f"{what} got a signal without data (shape {signal.data.shape}).")
    if energy.size < min_channels:
        raise EmptySignalError(
            f"{what} needs at least {min_channels} channels, the selected range has {energy.size}."
        )
    lazy = bool(signal._lazy)
    data = signal.data
    if not (np.issubdtype(data.dtype, np.floating) or np.issubdtype(data.dtype, np.integer)):
        raise EELSInputError(f"{what} needs real-valued data, got dtype {data.dtype}.")
    if np.issubdtype(data.dtype, np.integer):
        # counts are integers by nature: convert, never fail
        _logger.info("Converting integer data (%s) to float32.", data.dtype)
        data = data.astype(np.float32)
    mask = None
    if navigation_mask is not None:
        from .masks import parse_navigation_mask

        mask = parse_navigation_mask(
            ValidatedEELS(signal=signal, data=data, energy=energy, lazy=lazy), navigation_mask, what=what)
    if lazy:
        if len(data.chunks[-1]) > 1:
            _logger.info(
                "Rechunking: the signal axis was split over %d dask chunks; each block "
                "needs whole spectra.",
                len(data.chunks[-1]),
            )
            nav_auto = ("auto",) * (data.ndim - 1)
            data = data.rechunk(nav_auto + (-1,), block_size_limit=64 * 2**20)
        if mask is not None and mask.any():
            mask_d = da.from_array(mask[..., None], chunks=data.chunks[:-1] + ((1,),), name=False)
            data = da.where(mask_d & ~da.isfinite(data), np.zeros((), data.dtype), data)
    else:
        data = _zero_masked_nonfinite(data, mask, what)
    return ValidatedEELS(signal=signal, data=data, energy=energy, lazy=lazy, mask=mask)
