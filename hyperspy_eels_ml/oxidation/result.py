"""Result objects of :func:`~hyperspy_eels_ml.oxidation.classify_oxidation` (on the shared ``LazyResult``)."""

from __future__ import annotations

import numpy as np

from .._shared import compute, to_eager
from .._shared.results import LazyResult

__all__ = ["OxidationResult", "OxidationResults"]

_EDGE_NAMES = {"L23": "L2,3", "OK": "O K"}


def warn_background_failures(res):
    """Warn once (eager results) when pixels are masked because the pre-edge power law could not be fitted,
    or when no pixel at all was classified (:func:`_warn_none_classified`).

    The block functions set ``snr`` to NaN there (the background-subtracted spectrum is all NaN: counts <= 0
    in the pre-edge window, typically data whose background was already removed); without this warning
    such pixels would look like pixels with a weak edge.
    """
    if res.is_lazy or getattr(res, "_background_reported", False):
        return
    res._background_reported = True
    _warn_none_classified(res)
    if not res.parameters.get("remove_background", False):
        return
    snr = np.asarray(res.snr.data, dtype=float)
    failed = np.asarray(res.mask.data, dtype=bool) & np.isnan(snr)
    n = int(failed.sum())
    if not n:
        return
    from .._shared.warn import warn

    info = res.model_info.get("L23", res.model_info)
    window = info.get("background_window_eV")
    where = f" (background fit window {window[0]:g}-{window[1]:g} eV)" if window else ""
    warn(f"classify_oxidation ({info.get('element', '')}): the power-law background before the edge could not be "
         f"fitted in {n} of {failed.size} pixel(s){where}: the counts there are about 0 or below (vacuum, or "
         "spectra whose background was already removed). These pixels are masked (snr NaN). For "
         "background-subtracted data pass remove_background=False; otherwise record more channels below the edge.")


def _warn_none_classified(res):
    """Warn when every pixel is masked although some had an edge measured (snr finite): an element absent from
    the data, or data too noisy for ``min_snr``; the result alone (all NaN) would not say why."""
    from .._shared.warn import warn

    mask = np.asarray(res.mask.data, dtype=bool)
    snr = np.asarray(res.snr.data, dtype=float)
    measured = np.isfinite(snr)
    if mask.size == 0 or not mask.all() or not measured.any():
        return
    info = res.model_info.get("L23", res.model_info)
    el = info.get("element", "")
    min_snr = res.parameters.get("min_snr")
    warn(f"classify_oxidation ({el}): no pixel was classified: in all {mask.size} pixel(s) the edge signal-to-noise "
         f"ratio is below min_snr={min_snr:g} (highest {np.nanmax(snr):.2g}) or the edge was not found within "
         f"max_shift. Is {el} in the data, with its edge inside the window? For noisy data lower min_snr or sum "
         "pixels (e.g. s.rebin).")


class OxidationResult(LazyResult):
    """Result of :func:`classify_oxidation`.

    Attributes
    ----------
    probabilities : hyperspy.signals.Signal1D
        Class probabilities per pixel: the signal's navigation axes plus a signal
        axis ``"class"`` (one channel per class, in the order of ``classes``);
        NaN where masked.
    classes : list of str
        Class names, e.g. ``["Fe2+", "Fe3O4", "Fe3+"]``.
    labels : hyperspy.signal.BaseSignal
        Index into ``classes`` of the most probable class per pixel (an image for
        a 2-D scan); ``-1`` where masked.
    mean_valence : hyperspy.signal.BaseSignal
        Probability-weighted valence (Fe3O4 counts as 8/3); NaN where masked.
    edge_position : hyperspy.signal.BaseSignal
        Energy (eV, on the signal's axis) of the edge maximum the spectrum was
        aligned on: an apparent chemical-shift map (relative only, when the axis
        is uncalibrated). NaN where masked.
    snr : hyperspy.signal.BaseSignal
        Edge maximum over the noise per model channel (after background removal);
        NaN where the pre-edge power law could not be fitted (counts <= 0 there).
    mask : hyperspy.signal.BaseSignal
        True where no class was assigned (edge SNR below ``min_snr``, edge not
        found within ``max_shift``, background not fitted (a ``UserWarning``
        says how many pixels), or excluded by ``navigation_mask``).
    fractions : hyperspy.signals.Signal1D
        Valence models only: end-member fractions per pixel (signal axis
        ``"end member"``, names in ``end_members``; sum 1; NaN where masked).
    valence_uncertainty : hyperspy.signal.BaseSignal
        Valence models only: half-width of the 68 % interval of ``mean_valence``.
    calibration_used : hyperspy.signal.BaseSignal
        Valence models only: True where the calibrated L3 onset (chemical
        shift) entered the model.
    metal_admitted : hyperspy.signal.BaseSignal
        Valence models only: True where the metallic end member was admitted
        (``metals=None``: oxygen absent, only metals declared, or a trusted
        chemical shift; see ``model_info["metals"]``).
    o_k_jump : hyperspy.signal.BaseSignal
        Valence models only: the O K jump (495-521 eV fit, 535-560 eV mean)
        over the white-line jump, where it was measured (else NaN).
    n_masked, n_pixels : int
        Number of masked pixels and of all pixels (dask scalars while lazy).
    model_info : dict
        Model source, file, sha256, variant, classes.
    parameters : dict
        Parameters of the call.
    """

    _signal_attributes = ("probabilities", "labels", "mean_valence", "edge_position", "snr", "mask")
    _array_attributes = ("n_masked",)
    _OPTIONAL = ("fractions", "valence_uncertainty", "calibration_used", "metal_admitted", "o_k_jump")  # valence

    def __init__(self, **kw):
        super().__init__(**kw)
        extra = tuple(n for n in self._OPTIONAL if n in kw)
        if extra:  # instance attribute: compute() and repr include the valence signals
            self._signal_attributes = type(self)._signal_attributes + extra

    def _signal_names(self):
        return tuple(self._signal_attributes)

    @property
    def masked_fraction(self):
        return float(self.n_masked) / max(int(self.n_pixels), 1)

    def compute(self, show_progressbar=None):
        """Compute every lazy part in one pass over the data (in place); returns self."""
        super().compute(show_progressbar=show_progressbar)
        self.n_masked = int(self.n_masked)
        warn_background_failures(self)
        return self

    def class_fractions(self):
        """Fraction of the unmasked pixels labelled with each class (dict)."""
        lab = np.asarray(self.labels.data if not self.is_lazy else self.labels.data.compute()).reshape(-1)
        ok = lab >= 0
        return {c: float(np.mean(lab[ok] == i)) if ok.any() else float("nan") for i, c in enumerate(self.classes)}

    def plot(self, figsize=None, cmap="viridis"):
        """Probability map per class, label map and mean-valence map (like Figs. 6-7 of del-Pozo-Bueno 2023).

        Lazy results are computed for the plot only.

        Returns
        -------
        matplotlib.figure.Figure
        """
        return super().plot(figsize=figsize, cmap=cmap)

    def _plot(self, figsize=None, cmap="viridis"):
        import matplotlib.pyplot as plt
        from matplotlib.colors import BoundaryNorm, ListedColormap

        res = self
        nc = len(res.classes)
        prob = np.asarray(res.probabilities.data)
        labels = np.asarray(res.labels.data)
        val = np.asarray(res.mean_valence.data)
        nav = res._nav_axes
        fig, axs = plt.subplots(1, nc + 2, figsize=figsize or (3.3 * (nc + 2), 3.4), squeeze=False)
        axs = axs[0]

        def show(ax, img, **kw):
            if img.ndim == 2:
                extent = None
                if len(nav) == 2:
                    x, y = nav
                    extent = [x.axis[0], x.axis[-1], y.axis[-1], y.axis[0]]
                return ax.imshow(img, interpolation="nearest", extent=extent, **kw)
            return ax.imshow(np.atleast_2d(img.reshape(-1)), aspect="auto", interpolation="nearest", **kw)

        for i, c in enumerate(res.classes):
            im = show(axs[i], prob[..., i], vmin=0, vmax=1, cmap=cmap)
            axs[i].set_title(f"P({c})")
            fig.colorbar(im, ax=axs[i], fraction=0.046)
        base = plt.get_cmap("tab10")
        cm = ListedColormap([(0.8, 0.8, 0.8, 1.0)] + [base(i) for i in range(nc)])
        norm = BoundaryNorm(np.arange(-1.5, nc + 0.5), cm.N)
        im = show(axs[nc], labels, cmap=cm, norm=norm)
        cb = fig.colorbar(im, ax=axs[nc], ticks=np.arange(-1, nc), fraction=0.046)
        cb.ax.set_yticklabels(["masked"] + list(res.classes))
        axs[nc].set_title(f"labels ({int(res.n_masked)} masked)")
        im = show(axs[nc + 1], val, cmap="plasma")
        fig.colorbar(im, ax=axs[nc + 1], fraction=0.046)
        axs[nc + 1].set_title("mean valence (formal charge)")
        units = [getattr(a, "units", "") or "" for a in nav]
        names = [getattr(a, "name", "") or "" for a in nav]
        names = [n if isinstance(n, str) and n and "Undefined" not in n else ("x", "y")[i % 2]
                 for i, n in enumerate(names)]
        for ax in axs:
            if labels.ndim == 2 and len(nav) == 2:
                ax.set_xlabel(f"{names[0]} ({units[0]})" if units[0] else f"{names[0]} (pixels)")
                ax.set_ylabel(f"{names[1]} ({units[1]})" if units[1] else f"{names[1]} (pixels)")
            elif labels.ndim == 1:
                ax.set_yticks([])
                ax.set_xlabel(f"{names[0]} ({units[0]})" if nav and units[0] else "position (pixels)")
            else:
                ax.set_xticks([])
                ax.set_yticks([])
        el = res.model_info.get("element", "")
        fig.suptitle(f"classify_oxidation: {el} {_EDGE_NAMES.get(res.model_info.get('edge'), 'L2,3 + O K')}")
        fig.tight_layout()
        return fig

    def __repr__(self):
        lazy = " (lazy)" if self.is_lazy else ""
        masked = "" if self.is_lazy else f", {int(self.n_masked)} of {int(self.n_pixels)} pixels masked"
        edge = self.model_info.get("edge")
        edge = "L2,3 + O K" if edge == "both" else _EDGE_NAMES.get(edge, str(edge))
        kind = self.model_info.get("kind") or ""
        kind = f" ({kind})" if kind else ""
        return f"<OxidationResult{lazy}: {self.model_info.get('element')} {edge}{kind} {self.classes}{masked}>"


class OxidationResults(dict):
    """Results of several elements from one pass (``element=["Fe", "Mn"]``): ``{element: OxidationResult}``."""

    @property
    def is_lazy(self):
        return any(r.is_lazy for r in self.values())

    def compute(self, show_progressbar=None):
        """Compute every element's lazy parts in one pass over the data; returns self."""
        lazy = [r for r in self.values() if r.is_lazy]
        if lazy:
            names = OxidationResult._signal_names
            arrs = []
            for r in lazy:
                arrs += [getattr(r, n).data for n in names(r)] + [r.n_masked]
            vals = compute(*arrs, show_progressbar=show_progressbar)
            i = 0
            for r in lazy:
                for n in names(r):
                    setattr(r, n, to_eager(getattr(r, n), vals[i]))
                    i += 1
                r.n_masked = int(vals[i])
                i += 1
        for r in self.values():  # once per result (guarded), eager members included
            warn_background_failures(r)
        return self

    def plot(self, **kw):
        """One figure per element (dict of matplotlib Figures)."""
        return {el: r.plot(**kw) for el, r in self.items()}

    def __repr__(self):
        return "<OxidationResults " + ", ".join(f"{el}: {r!r}" for el, r in self.items()) + ">"
