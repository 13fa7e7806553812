"""One base class for every result object of the package.

A result holds HyperSpy signals (and possibly dask arrays) that are lazy when
the input was lazy. Subclasses declare which attributes are signals
(``_signal_attributes``) and which are plain arrays (``_array_attributes``);
the base class gives them:

* :meth:`LazyResult.compute` - one ``dask.compute`` over all lazy parts
  (shared inputs read once), in place, returns ``self``;
* :attr:`LazyResult.is_lazy`;
* an informative ``repr`` (class, navigation shape, lazy/eager, attributes,
  the key parameters listed in ``_repr_parameters``);
* the :meth:`LazyResult.plot` contract: returns a :class:`matplotlib.figure.Figure`
  (subclasses implement ``_plot(self, **kwargs)`` on an eager copy; the result
  itself is not computed by plotting).
"""

from __future__ import annotations

import copy

import dask.array as da
import numpy as np

from .batch import compute
from .signals import to_eager

__all__ = ["LazyResult"]


class LazyResult:
    """Base class of result objects (lazy or eager).

    Parameters
    ----------
    **attributes
        Set as attributes (every name of ``_signal_attributes`` is required).

    Notes
    -----
    Subclasses declare ``_signal_attributes`` (attributes holding HyperSpy
    signals, lazy or eager), ``_array_attributes`` (numpy or dask arrays) and
    ``_repr_parameters`` (keys of ``self.parameters``, or attribute names,
    shown in the repr), and implement ``_plot(**kwargs)`` returning a Figure.

    Examples
    --------
    >>> class MyResult(LazyResult):
    ...     _signal_attributes = ("labels",)
    ...     def _plot(self, **kw):
    ...         return self.labels._plot_figure()   # doctest: +SKIP
    """

    _signal_attributes: tuple = ()
    _array_attributes: tuple = ()
    _repr_parameters: tuple = ()

    def __init__(self, **attributes):
        missing = [n for n in self._signal_attributes if n not in attributes]
        if missing:
            raise TypeError(f"{type(self).__name__} needs the signal attribute(s) {missing}")
        self.__dict__.update(attributes)

    # -- laziness ---------------------------------------------------------------------
    def _lazy_parts(self):
        parts = []
        for name in self._signal_attributes:
            sig = getattr(self, name, None)
            if sig is not None and getattr(sig, "_lazy", False):
                parts.append((name, "signal", sig.data))
        for name in self._array_attributes:
            arr = getattr(self, name, None)
            if isinstance(arr, da.Array):
                parts.append((name, "array", arr))
        return parts

    @property
    def is_lazy(self):
        """True while any signal or array of the result is lazy (not yet computed)."""
        return bool(self._lazy_parts())

    def compute(self, show_progressbar=None):
        """Compute every lazy part in one pass over the data (in place); returns ``self``.

        Parameters
        ----------
        show_progressbar : bool, optional
            Show a progress bar (default: HyperSpy's preference).
        """
        parts = self._lazy_parts()
        if not parts:
            return self
        values = compute(*(p[2] for p in parts), show_progressbar=show_progressbar)
        for (name, kind, _), value in zip(parts, values):
            if kind == "signal":
                setattr(self, name, to_eager(getattr(self, name), value))
            else:
                setattr(self, name, np.asarray(value))
        return self

    def _eager_copy(self, show_progressbar=None):
        """``self`` if eager, else a computed shallow copy (``self`` stays lazy)."""
        if not self.is_lazy:
            return self
        return copy.copy(self).compute(show_progressbar=show_progressbar)

    # -- display ----------------------------------------------------------------------
    @property
    def navigation_shape(self):
        """Navigation shape of the analysed signal (array order)."""
        shape = getattr(self, "_navigation_shape", None)
        if shape is not None:
            return tuple(shape)
        for name in self._signal_attributes:
            sig = getattr(self, name, None)
            if sig is not None and hasattr(sig, "axes_manager"):
                am = sig.axes_manager
                # navigation maps carry the parent's navigation as signal axes
                if am.navigation_dimension == 0:
                    return tuple(sig.data.shape)
                return tuple(sig.data.shape[: am.navigation_dimension])
        return ()

    def _repr_items(self):
        params = getattr(self, "parameters", None) or {}
        items = []
        for key in self._repr_parameters:
            if key in params:
                items.append((key, params[key]))
            elif hasattr(self, key):
                items.append((key, getattr(self, key)))
        return items

    def __repr__(self):
        state = "lazy" if self.is_lazy else "eager"
        attrs = ", ".join(n for n in self._signal_attributes + self._array_attributes if hasattr(self, n))
        head = f"<{type(self).__name__} ({state}), navigation shape {self.navigation_shape}"
        items = self._repr_items()
        if items:
            head += ", " + ", ".join(f"{k}={v!r}" for k, v in items)
        return head + f"; attributes: {attrs}>"

    def plot(self, **kwargs):
        """Plot the result; returns a :class:`matplotlib.figure.Figure`.

        Lazy results are computed for the plot only (``self`` stays lazy; call
        :meth:`compute` first to compute once and plot many times).
        """
        from matplotlib.figure import Figure

        fig = self._eager_copy()._plot(**kwargs)
        if not isinstance(fig, Figure):  # pragma: no cover - contract of subclasses
            raise TypeError(f"{type(self).__name__}._plot must return a matplotlib Figure, got {type(fig)}")
        return fig

    def _plot(self, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} has no plot")
