"""Attach the package's functions as methods of ``exspy.signals.EELSSpectrum``.

HyperSpy 2.5 has no accessor or method-registration API, and registering a
second signal class for ``signal_type="EELS"`` makes the class resolution
depend on install order. So ``import hyperspy_eels_ml`` sets thin wrappers on
``EELSSpectrum`` itself (``LazyEELSSpectrum`` inherits them). An attribute that
already exists and is not ours is never overwritten: a ``UserWarning`` names
the functional alternative and the method is skipped. Re-running the installer
is idempotent.
"""

from __future__ import annotations

import functools
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


def install_methods(cls=None, methods=None):
    """Attach the methods to ``cls`` (default ``exspy.signals.EELSSpectrum``).

    Returns the list of names that were attached (or already ours).
    """
    if cls is None:
        from exspy.signals import EELSSpectrum as cls
    methods = METHODS if methods is None else methods
    installed = []
    for name, path in methods.items():
        existing = getattr(cls, name, None)
        if existing is not None and not getattr(existing, _MARKER, False):
            warnings.warn(
                f"{cls.__name__} already has an attribute {name!r} (not from "
                f"hyperspy_eels_ml); it is left untouched. Use the function "
                f"`{path.replace(':', '.')}(signal, ...)` instead.",
                UserWarning,
                stacklevel=2,
            )
            continue
        setattr(cls, name, _make_method(_resolve(path)))
        installed.append(name)
    return installed
