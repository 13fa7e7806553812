"""Attach the package's functions as methods of ``exspy.signals.EELSSpectrum``.

HyperSpy 2.5 has no accessor or method-registration API, and registering a
second signal class for ``signal_type="EELS"`` makes the class resolution
depend on install order. So ``import hyperspy_eels_ml`` sets thin wrappers on
``EELSSpectrum`` itself (``LazyEELSSpectrum`` inherits them). An attribute that
already exists and is not ours is never overwritten: a ``UserWarning`` names
the functional alternative and the method is skipped. Re-running the installer
is idempotent.

The methods are installed as lazy descriptors: the capability's module (and
its dependencies, e.g. the ZLP network or the oxidation models) is imported on
first access of ``s.<method>``, not at ``import hyperspy_eels_ml``, so the
import costs little more than exspy's own.
"""

from __future__ import annotations

import functools
import inspect
import threading
import types
import warnings

__all__ = ["install_methods", "METHODS"]

_MARKER = "_hyperspy_eels_ml_method"

#: name of the method -> dotted path of the public function it wraps.
#: Only capabilities that exist are listed here (no placeholders).
METHODS = {
    "umap_cluster": "hyperspy_eels_ml.clustering:umap_cluster",
    "subtract_zlp_nn": "hyperspy_eels_ml.zlp:subtract_zlp_nn",
    "classify_oxidation": "hyperspy_eels_ml.oxidation:classify_oxidation",
    "identify_elements": "hyperspy_eels_ml.elements:identify_elements",
}


def _resolve(path):
    import importlib

    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def _make_method(func):
    @functools.wraps(func)
    def method(self, *args, **kwargs):
        return func(self, *args, **kwargs)

    setattr(method, _MARKER, True)
    return method


class _LazyMethod:
    """Class attribute that imports the wrapped function on first access.

    ``EELSSpectrum.name`` gives the wrapper function (``__wrapped__``, ``__doc__``,
    signature of the public function); ``s.name`` a bound method.
    """

    def __init__(self, name, path):
        self.name = name
        self.path = path
        self._method = None
        self._lock = threading.Lock()
        setattr(self, _MARKER, True)

    def resolve(self):
        if self._method is None:
            with self._lock:
                if self._method is None:
                    self._method = _make_method(_resolve(self.path))
        return self._method

    def __get__(self, obj, objtype=None):
        method = self.resolve()
        return method if obj is None else types.MethodType(method, obj)

    def __repr__(self):
        return f"<hyperspy_eels_ml method {self.name!r} -> {self.path}>"


def _eels_spectrum_class():
    """``exspy.signals.EELSSpectrum``, imported without exspy's own deprecation chatter.

    exspy 0.3 imports ``LazySignal1D``/``LazyComplexSignal1D`` from paths that HyperSpy 2.x deprecates, so a first
    ``import exspy`` prints HyperSpy ``VisibleDeprecationWarning`` s that a user of this package can do nothing
    about. Only those messages are silenced, and only while exspy is imported here.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Importing `\w+` from `hyperspy\._signals\.",
                                category=Warning)
        from exspy.signals import EELSSpectrum
    return EELSSpectrum


def install_methods(cls=None, methods=None):
    """Attach the methods to ``cls`` (default ``exspy.signals.EELSSpectrum``).

    Returns the list of names that were attached (or already ours).
    """
    if cls is None:
        cls = _eels_spectrum_class()
    methods = METHODS if methods is None else methods
    installed = []
    for name, path in methods.items():
        existing = inspect.getattr_static(cls, name, None)
        if existing is not None and not getattr(existing, _MARKER, False):
            warnings.warn(
                f"{cls.__name__} already has an attribute {name!r} (not from "
                f"hyperspy_eels_ml); it is left untouched. Use the function "
                f"`{path.replace(':', '.')}(signal, ...)` instead.",
                UserWarning,
                stacklevel=2,
            )
            continue
        if not (isinstance(existing, _LazyMethod) and existing.path == path and name in vars(cls)):
            setattr(cls, name, _LazyMethod(name, path))
        installed.append(name)
    return installed
