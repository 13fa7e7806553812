"""Wrapping numpy/dask results back into HyperSpy signals, with provenance.

* :func:`navigation_map` - one value per pixel, shown as an image/line (the
  parent's navigation axes become the signal axes, as HyperSpy's
  ``get_cluster_labels`` and ``get_decomposition_loadings`` do);
* :func:`per_pixel_spectra` - a new signal axis (classes, elements, embedding
  components) on the parent's navigation axes;
* :func:`record_provenance` - function, parameters, package/model versions.

Results are lazy iff the data are dask arrays. Navigation axes, their
calibration and ``metadata.General.title`` are carried over.
"""

from __future__ import annotations

import datetime
import json
import platform

import dask.array as da
import numpy as np

__all__ = ["navigation_map", "per_pixel_spectra", "record_provenance", "nav_axes_dicts", "to_eager"]

PROVENANCE_NODE = "hyperspy_eels_ml"


def nav_axes_dicts(parent, navigate):
    """Axis dictionaries of the parent's navigation axes, in array order."""
    out = []
    for ax in reversed(parent.axes_manager.navigation_axes):
        d = ax.get_axis_dictionary()
        d["navigate"] = navigate
        out.append(d)
    return out


def _copy_general(parent, out, title):
    src_title = parent.metadata.get_item("General.title", "")
    out.metadata.General.title = f"{title} of {src_title}" if src_title else title
    if parent.metadata.has_item("General.original_filename"):
        out.metadata.General.original_filename = parent.metadata.General.original_filename
    if parent.metadata.has_item("Acquisition_instrument"):
        out.metadata.add_node("Acquisition_instrument")
        out.metadata.Acquisition_instrument = parent.metadata.Acquisition_instrument.deepcopy()
    if parent.metadata.has_item("Sample"):
        out.metadata.Sample = parent.metadata.Sample.deepcopy()


def navigation_map(parent, data, title, quantity=None):
    """Signal holding one value per pixel of ``parent``, shaped like its navigation.

    The parent's navigation axes become the signal axes (a 2-D scan gives a
    ``Signal2D`` image, a line scan a ``Signal1D``, a single spectrum a scalar
    ``BaseSignal``), so ``out.plot()`` shows the map.
    """
    from hyperspy.signals import BaseSignal, LazySignal

    lazy = isinstance(data, da.Array)
    axes = nav_axes_dicts(parent, navigate=False)
    if data.ndim != len(axes):  # single spectrum: scalar
        axes = None
    cls = LazySignal if lazy else BaseSignal
    out = cls(data, axes=axes) if axes else cls(data)
    out._assign_subclass()
    _copy_general(parent, out, title)
    if quantity:
        out.metadata.Signal.quantity = quantity
    return out


def per_pixel_spectra(parent, data, signal_axis, title, quantity=None):
    """Signal with the parent's navigation axes and a new (non-EELS) signal axis.

    Parameters
    ----------
    parent : hyperspy.signal.BaseSignal
    data : numpy.ndarray or dask.array.Array
        Shape ``navigation_shape + (n,)``.
    signal_axis : dict
        Axis dictionary (``name``, ``units``, ``scale``, ``offset``, or ``axis``).
    """
    from hyperspy.signals import LazySignal1D, Signal1D

    lazy = isinstance(data, da.Array)
    ax = dict(signal_axis)
    ax.setdefault("navigate", False)
    ax.setdefault("is_binned", False)
    ax.setdefault("size", data.shape[-1])
    axes = nav_axes_dicts(parent, navigate=True) + [ax]
    cls = LazySignal1D if lazy else Signal1D
    out = cls(data, axes=axes)
    out.metadata.Signal.signal_type = ""
    _copy_general(parent, out, title)
    if quantity:
        out.metadata.Signal.quantity = quantity
    return out


def _jsonable(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray | da.Array):
        return f"<array shape={tuple(value.shape)} dtype={value.dtype}>"
    if hasattr(value, "metadata") and hasattr(value, "axes_manager"):
        return f"<{type(value).__name__} {value.metadata.get_item('General.title', '')!r}>"
    return repr(value)


def dependency_versions(*names):
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for n in names:
        try:
            out[n] = version(n)
        except PackageNotFoundError:
            out[n] = "not installed"
    return out


def record_provenance(signal, function, parameters, *, models=None, extra=None,
                      dependencies=("hyperspy", "exspy", "numpy", "dask")):
    """Record how ``signal`` was produced in ``metadata.hyperspy_eels_ml``.

    Parameters are stored as a JSON string (HDF5-safe, survives ``save``/``load``).
    """
    from hyperspy_eels_ml import __version__

    info = {
        "function": f"hyperspy_eels_ml.{function}",
        "parameters": json.dumps(_jsonable(parameters), sort_keys=True),
        "package_version": __version__,
        "dependencies": dependency_versions(*dependencies),
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if models:
        info["models"] = json.dumps(_jsonable(models), sort_keys=True)
    if extra:
        info.update({k: _jsonable(v) for k, v in extra.items()})
    signal.metadata.set_item(PROVENANCE_NODE, info)
    return signal


def to_eager(sig, data=None):
    """Eager copy of a lazy result signal, with ``data`` if already computed (eager signals pass through)."""
    if not sig._lazy:
        return sig
    if data is None:
        data = sig.data.compute()
    out = sig._deepcopy_with_new_data(np.asarray(data))
    out._lazy = False
    out._assign_subclass()
    return out
