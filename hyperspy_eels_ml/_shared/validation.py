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
]


class EELSInputError(ValueError):
    """Base class of the input errors raised by hyperspy_eels_ml."""


class NotEELSSignalError(EELSInputError, TypeError):
    """The object is not an EELS spectrum (``exspy.signals.EELSSpectrum``)."""


class EnergyAxisError(EELSInputError):
    """The signal axis is not a uniform energy-loss axis in eV."""


class EnergyRangeError(EELSInputError):
    """The signal does not cover the energy range an operation needs."""


class NonFiniteDataError(EELSInputError):
    """The data contain NaN or infinite values."""


class EmptySignalError(EELSInputError):
    """The signal has no spectra or no channels."""


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
        For lazy signals the signal axis is a single chunk.
    energy : numpy.ndarray
        Energy-loss values of the channels, in eV.
    lazy : bool
        Whether the input was lazy.
    """

    signal: object
    data: object
    energy: np.ndarray
    lazy: bool

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
        raise EnergyAxisError(
            f"The signal axis {axis.name!r} is non-uniform; these models need a uniform "
            "energy axis. Resample it onto a uniform grid first, e.g. with "
            "`s.interpolate_on_axis(UniformDataAxis(...), 0, inplace=False)`."
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

    Parameters
    ----------
    energy : numpy.ndarray
        Channel energies in eV.
    required : tuple of float
        ``(low, high)`` energy range in eV that must lie inside the signal range.
    what : str
        Name of the operation, used in the message.
    """
    lo, hi = (float(required[0]), float(required[1]))
    half = 0.5 * abs(energy[1] - energy[0]) if energy.size > 1 else 0.0
    e0, e1 = float(energy[0]) - half, float(energy[-1]) + half
    if lo < e0 or hi > e1:
        raise EnergyRangeError(
            f"{what} needs the energy range {lo:g}-{hi:g} eV but the signal covers "
            f"{float(energy[0]):g}-{float(energy[-1]):g} eV. Acquire or select a range "
            f"that contains {lo:g}-{hi:g} eV (check the energy calibration: an offset error "
            "shifts the whole axis)."
        )


def check_finite_block(block):
    """Raise :class:`NonFiniteDataError` if ``block`` holds NaN/inf; return it otherwise.

    Used inside dask blocks, so lazy data are checked while they are computed
    (never by an extra pass over the data).
    """
    if not np.all(np.isfinite(block)):
        bad = int(np.size(block) - np.count_nonzero(np.isfinite(block)))
        raise NonFiniteDataError(
            f"The data contain {bad} NaN/inf value(s) in one block. Remove or replace them "
            "first, e.g. `s.data = np.nan_to_num(s.data)` (eager) or "
            "`s.map(np.nan_to_num)`, or mask the affected pixels."
        )
    return block


def validate_eels(signal, *, what="this function", signal_range=None, min_channels=2):
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
        NaN/inf in eager data (in lazy data: raised when the blocks are computed).
    """
    check_is_eels(signal, what)
    energy = energy_axis_values(signal)
    if signal_range is not None:
        lo, hi = signal_range
        lo = energy[0] if lo is None else float(lo)
        hi = energy[-1] if hi is None else float(hi)
        if hi <= lo:
            raise EnergyRangeError(f"signal_range must be increasing, got ({lo}, {hi}).")
        check_energy_range(energy, (lo, hi), what=f"signal_range of {what}")
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
    if lazy:
        if len(data.chunks[-1]) > 1:
            _logger.info(
                "Rechunking: the signal axis was split over %d dask chunks; each block "
                "needs whole spectra.",
                len(data.chunks[-1]),
            )
            nav_auto = ("auto",) * (data.ndim - 1)
            data = data.rechunk(nav_auto + (-1,), block_size_limit=64 * 2**20)
    else:
        if not np.all(np.isfinite(data)):
            check_finite_block(data)
    return ValidatedEELS(signal=signal, data=data, energy=energy, lazy=lazy)
