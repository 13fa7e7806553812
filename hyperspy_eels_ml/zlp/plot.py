"""Plots of the ZLP capability (matplotlib imported here only); each returns a Figure."""

from __future__ import annotations

import dask.array as da
import numpy as np

__all__ = ["plot_result", "plot_regions", "plot_band_gap", "plot_pixel_values", "plot_dielectric"]


def _np(a):
    return np.asarray(a.compute() if isinstance(a, da.Array) else a)


def plot_result(result, index=None, energy_range=None, ax=None):
    """One spectrum with the ZLP and inelastic medians and their 68 % bands (see :meth:`ZLPResult.plot`)."""
    import matplotlib.pyplot as plt

    nav = result._v.navigation_shape
    if index is None and nav:
        t = _np(result.thickness.data)
        flat = np.nanargmin(np.abs(t - np.nanmedian(t)).ravel()) if np.isfinite(t).any() else 0
        index = np.unravel_index(flat, nav)
    idx = tuple(int(i) for i in index) if nav else ()

    def get(s):
        return _np(s.data[idx] if idx else s.data)

    e = result._v.energy
    raw = _np(result._v.data[idx] if idx else result._v.data) - result.model.dark_level
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    else:
        fig = ax.figure
    ax.plot(e, raw, color="0.3", lw=0.8, label="data" + (" - dark level" if result.model.dark_level else ""))
    ax.plot(e, get(result.zlp), color="C0", label="NN ZLP (median)")
    ax.fill_between(e, get(result.zlp_lower), get(result.zlp_upper), color="C0", alpha=0.3, label="ZLP 68 %")
    ax.plot(e, get(result.inelastic), color="C3", label="inelastic (median)")
    ax.fill_between(e, get(result.inelastic_lower), get(result.inelastic_upper), color="C3", alpha=0.3,
                    label="inelastic 68 %")
    de1 = float(np.median(result.model.clusters["dE1"]))
    ax.axvline(de1, color="0.5", ls="--", lw=0.8, label="dE1 (median)")
    lo, hi = energy_range if energy_range else (e[0], min(e[-1], 4 * de1 + 2))
    ax.set_xlim(lo, hi)
    sel = (e >= lo) & (e <= hi) & (e > de1 * 0.5)
    top = max(float(np.nanmax(raw[sel])) if sel.any() else 1.0, 1e-30)
    ax.set_ylim(-0.1 * top, 1.3 * top)
    ax.set_xlabel("Energy loss (eV)")
    ax.set_ylabel("Intensity (counts)")
    where = f"pixel {idx}" if idx else "single spectrum"
    ax.set_title(f"subtract_zlp_nn, {where}, {result.model.n_replicas} replicas")
    ax.legend(fontsize=8)
    return fig


def plot_regions(model, ax=None):
    """Diagnostic of the fitted regions: normalised cluster-mean spectra (log) with dE1 and dE2 per cluster."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    else:
        fig = ax.figure
    e = model.energy
    means = model.diagnostics.get("cluster_mean")
    cl = model.clusters
    for k in range(len(cl["c"])):
        col = f"C{k % 10}"
        name = "vacuum" if cl["vacuum"][k] else f"cluster {k} (c = {cl['c'][k]:.2f}, {int(cl['n_pixels'][k])} px)"
        if means is not None:
            y = np.asarray(means[k], float)
            ax.semilogy(e, np.where(y > 0, y, np.nan), color=col, lw=0.9, label=name)
        ax.axvline(cl["dE1"][k], color=col, ls="--", lw=0.8)
        ax.axvline(cl["dE2"][k], color=col, ls=":", lw=0.8)
    ax.plot([], [], "k--", lw=0.8, label="dE1 (end of fitted region)")
    ax.plot([], [], "k:", lw=0.8, label="dE2 (end of tail constraint)")
    ax.set_xlim(e[0], min(e[-1], 3 * float(np.max(cl["dE2"])) + 1))
    ax.set_xlabel("Energy loss (eV)")
    ax.set_ylabel("Normalised intensity (per core count)")
    ax.set_title(f"ZLP regions ({model.params.get('dE_rule', 'automatic')})")
    ax.legend(fontsize=7)
    return fig


def plot_band_gap(res):
    """Eg with its 68 % interval (per pixel for line scans and few spectra, maps for SIs)."""
    import matplotlib.pyplot as plt

    eg, lo, hi = (_np(getattr(res, n).data).astype(float) for n in ("Eg", "Eg_lower", "Eg_upper"))
    if eg.ndim == 2:
        fig, axs = plt.subplots(1, 2, figsize=(9, 4))
        for ax, data, title in ((axs[0], eg, "Eg (eV)"), (axs[1], hi - lo, "Eg 68 % interval width (eV)")):
            im = ax.imshow(data)
            ax.set_title(title)
            ax.set_xlabel("x (pixel)")
            ax.set_ylabel("y (pixel)")
            fig.colorbar(im, ax=ax, label="eV")
    else:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        x = np.arange(np.atleast_1d(eg).size)
        eg, lo, hi = np.atleast_1d(eg), np.atleast_1d(lo), np.atleast_1d(hi)
        ax.errorbar(x, eg, yerr=[eg - lo, hi - eg], fmt="o", capsize=3)
        ax.set_xlabel("Spectrum index")
        ax.set_ylabel("Band gap Eg (eV)")
        ax.set_title(f"Band gap, window {res.energy_range[0]:g}-{res.energy_range[1]:g} eV (NaN not shown)")
    return fig


def plot_pixel_values(res, quantities, title):
    """Per-pixel values with 68 % intervals: one map per quantity (SIs) or error bars (line scans, few spectra)."""
    import matplotlib.pyplot as plt

    vals = [tuple(_np(getattr(res, n + suffix).data).astype(float) for suffix in ("", "_lower", "_upper"))
            for n, _ in quantities]
    if vals[0][0].ndim == 2:
        fig, axs = plt.subplots(1, len(quantities), figsize=(4.5 * len(quantities), 4), squeeze=False)
        for ax, (v, _, _), (_, label) in zip(axs[0], vals, quantities):
            im = ax.imshow(v)
            ax.set_title(label)
            ax.set_xlabel("x (pixel)")
            ax.set_ylabel("y (pixel)")
            fig.colorbar(im, ax=ax, label="eV")
    else:
        fig, axs = plt.subplots(len(quantities), 1, figsize=(7, 2.6 * len(quantities)), squeeze=False, sharex=True)
        for ax, (v, lo, hi), (_, label) in zip(axs[:, 0], vals, quantities):
            v, lo, hi = np.atleast_1d(v), np.atleast_1d(lo), np.atleast_1d(hi)
            x = np.arange(v.size)
            ax.errorbar(x, v, yerr=[v - lo, hi - v], fmt="o", capsize=3)
            ax.set_ylabel(label)
        axs[-1, 0].set_xlabel("Spectrum index")
    fig.suptitle(title + " (68 % intervals; NaN not shown)")
    return fig


def plot_dielectric(res, index=None, ax=None):
    """eps1, eps2 of one pixel with their 68 % bands."""
    import matplotlib.pyplot as plt

    th = _np(res.thickness.data)
    nav = th.shape
    if index is None and nav:
        flat = np.nanargmin(np.abs(th - np.nanmedian(th)).ravel()) if np.isfinite(th).any() else 0
        index = np.unravel_index(flat, nav)
    idx = tuple(int(i) for i in index) if nav else ()

    def get(name):
        d = getattr(res, name).data
        return _np(d[idx] if idx else d)

    e = res.eps1.axes_manager.signal_axes[0].axis
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    else:
        fig = ax.figure
    for name, col in (("eps1", "C0"), ("eps2", "C3")):
        ax.plot(e, get(name), color=col, label=f"{name} (median)")
        ax.fill_between(e, get(name + "_lower"), get(name + "_upper"), color=col, alpha=0.3, label=f"{name} 68 %")
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set_xlabel("Energy (eV)")
    ax.set_ylabel("Dielectric function")
    t = th[idx] if idx else th
    ax.set_title(f"Kramers-Kronig, {'pixel ' + str(idx) if idx else 'single spectrum'}, "
                 f"thickness {float(t):.3g} nm")
    ax.set_xlim(e[0], e[-1])
    ax.legend(fontsize=8)
    return fig
