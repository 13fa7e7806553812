"""Public exception types of hyperspy_eels_ml (re-exported as ``hyperspy_eels_ml.<Name>``).

Every error raised because of the user's input derives from
:class:`EELSInputError` (itself a :class:`ValueError`), so ``except
hyperspy_eels_ml.EELSInputError`` catches all of them.
"""

from __future__ import annotations

import os

__all__ = [
    "EELSInputError",
    "NotEELSSignalError",
    "EnergyAxisError",
    "EnergyRangeError",
    "NonFiniteDataError",
    "EmptySignalError",
    "NavigationMaskError",
    "ParameterError",
    "DegenerateDataError",
    "ModelFileError",
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
    """The data contain NaN or infinite values (outside the masked pixels)."""


class EmptySignalError(EELSInputError):
    """The signal has no spectra or no channels."""


class NavigationMaskError(EELSInputError, TypeError):
    """A ``navigation_mask`` has the wrong shape, type or values."""


class ParameterError(EELSInputError, TypeError):
    """A parameter has the wrong type or a value outside its allowed range.

    Subclasses both :class:`ValueError` and :class:`TypeError` (like
    scikit-learn's ``InvalidParameterError``), so either ``except`` catches it.
    """


class DegenerateDataError(EELSInputError):
    """The data carry no information for the operation (all zero, constant, too few channels...)."""


class ModelFileError(EELSInputError, OSError):
    """A model file cannot be loaded: missing, corrupt, tampered or inconsistent.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.
    cause : str or BaseException
        What is wrong (an exception is summarised as ``Type: message``).

    Attributes
    ----------
    path : str
    cause : str
    """

    def __init__(self, path, cause):
        self.path = os.fspath(path) if path is not None else "<unknown>"
        if isinstance(cause, BaseException):
            cause = f"{type(cause).__name__}: {cause}"
        self.cause = str(cause)
        super().__init__(f"Cannot load the model file {self.path!r}: {self.cause}")

    def __reduce__(self):  # picklable across dask.distributed workers
        return (type(self), (self.path, self.cause))
