"""Small parameter validators with our own messages (no library tracebacks).

Each returns the (normalised) value or raises
:class:`~hyperspy_eels_ml.ParameterError` naming the parameter, the value
received and what is allowed.
"""

from __future__ import annotations

import numbers

import numpy as np

from .exceptions import ParameterError

__all__ = ["ParamsMixin", "check_int", "check_float", "check_float_range", "check_random_state", "check_choice",
           "check_bool"]


def _is_bool(value):
    return isinstance(value, bool | np.bool_)


def _bounds_text(min, max, inclusive=(True, True)):
    lo = "" if min is None else (f">= {min}" if inclusive[0] else f"> {min}")
    hi = "" if max is None else (f"<= {max}" if inclusive[1] else f"< {max}")
    return " and ".join(t for t in (lo, hi) if t)


def check_int(name, value, min=None, max=None, allow_none=False):
    """Validate an integer parameter; returns it as a Python ``int`` (or None).

    Integral floats (``3.0``) are refused like any float: a count given as
    ``2.5`` or ``"4"`` is an error, never rounded.

    Examples
    --------
    >>> check_int("n_replicas", 4, min=1)
    4
    """
    if value is None and allow_none:
        return None
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        allowed = "an integer" + (" or None" if allow_none else "")
        raise ParameterError(f"{name} must be {allowed}, got {value!r} ({type(value).__name__}).")
    value = int(value)
    if (min is not None and value < min) or (max is not None and value > max):
        raise ParameterError(f"{name} must be an integer {_bounds_text(min, max)}, got {value}.")
    return value


def check_float(name, value, min=None, max=None, inclusive=(True, True), allow_none=False):
    """Validate a finite real parameter; returns it as a Python ``float`` (or None).

    ``inclusive`` says whether ``min``/``max`` themselves are allowed, e.g.
    ``check_float("learning_rate", lr, min=0, inclusive=(False, True))``.
    NaN and inf are refused; strings are refused (no silent ``float("5")``).
    """
    if value is None and allow_none:
        return None
    if _is_bool(value) or not isinstance(value, numbers.Real):
        allowed = "a real number" + (" or None" if allow_none else "")
        raise ParameterError(f"{name} must be {allowed}, got {value!r} ({type(value).__name__}).")
    value = float(value)
    if not np.isfinite(value):
        raise ParameterError(f"{name} must be finite, got {value}.")
    lo_bad = min is not None and (value < min if inclusive[0] else value <= min)
    hi_bad = max is not None and (value > max if inclusive[1] else value >= max)
    if lo_bad or hi_bad:
        raise ParameterError(f"{name} must be {_bounds_text(min, max, inclusive)}, got {value:g}.")
    return value


def check_float_range(name, value, low, high, allow_none=False):
    """Validate a real number in the closed interval ``[low, high]`` (e.g. a threshold in [0, 1])."""
    return check_float(name, value, min=low, max=high, allow_none=allow_none)


def check_random_state(value, name="random_state"):
    """Validate a seed: None, an int in 0..2**32-1, or a numpy ``Generator``/``RandomState``.

    Returns the value unchanged (so the caller seeds exactly as before).
    """
    if value is None or isinstance(value, np.random.Generator | np.random.RandomState):
        return value
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        raise ParameterError(
            f"{name} must be None, an integer in 0..2**32-1 or a numpy Generator/RandomState, "
            f"got {value!r} ({type(value).__name__})."
        )
    if not 0 <= int(value) <= 2**32 - 1:
        raise ParameterError(f"{name} must be in 0..2**32-1 (4294967295), got {int(value)}.")
    return int(value)


def check_choice(name, value, choices):
    """Validate that ``value`` is one of ``choices`` (compared with ``==``; None allowed if listed)."""
    for c in choices:
        if (c is None and value is None) or (c is not None and isinstance(value, type(c)) and value == c):
            return value
    raise ParameterError(f"{name} must be one of {tuple(choices)!r}, got {value!r}.")


def check_bool(name, value, allow_none=False):
    """Validate a boolean flag (``True``/``False``, numpy bools; None if allowed)."""
    if value is None and allow_none:
        return None
    if not _is_bool(value):
        raise ParameterError(f"{name} must be True or False, got {value!r} ({type(value).__name__}).")
    return bool(value)


class ParamsMixin:
    """scikit-learn's ``get_params``/``set_params`` for classes whose ``__init__`` only stores its arguments."""

    @classmethod
    def _param_names(cls):
        import inspect

        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep=True):
        """Parameters of the estimator (scikit-learn protocol)."""
        return {p: getattr(self, p) for p in self._param_names()}

    def set_params(self, **params):
        """Set parameters (scikit-learn protocol); returns self."""
        for k, v in params.items():
            if k not in self._param_names():
                raise ParameterError(f"{type(self).__name__} has no parameter {k!r}.")
            setattr(self, k, v)
        return self
