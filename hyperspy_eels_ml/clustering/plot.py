"""Figures of :class:`~hyperspy_eels_ml.clustering.UMAPClusterResult` (matplotlib only; no computation)."""

from __future__ import annotations

import numpy as np

__all__ = ["cluster_colormap", "plot_umap_cluster_result", "plot_label_map"]

NOISE_COLOR = (0.75, 0.75, 0.75, 1.0)


def cluster_colormap(n_clusters):
    """Categorical colormap and norm for labels ``-1..n_clusters-1`` (grey = noise/masked, then tab10/tab20).

    Returns ``(colors, cmap, norm)``; ``colors[k + 1]`` is the colour of label ``k``. Every figure of
    the package uses it, so label ``k`` has the same colour in all of them.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import BoundaryNorm, ListedColormap

    base = plt.get_cmap("tab10" if n_clusters <= 10 else "tab20")
    colors = [NOISE_COLOR] + [base(i % base.N) for i in range(n_clusters)]
    cmap = ListedColormap(colors)
    norm = BoundaryNorm(np.arange(-1.5, n_clusters + 0.5), cmap.N)
    return colors, cmap, norm


def plot_label_map(ax, labels, nav_axes, n_clusters, names=None, noise_name="noise/masked", title=None):
    """Draw a categorical label map on ``ax`` with a named colourbar; returns the colourbar.

    ``names[k]`` labels class ``k`` (default: its number); ``nav_axes`` are HyperSpy navigation axes
    (for the extent and the axis labels with units).
    """
    colors, cmap, norm = cluster_colormap(n_clusters)
    labels = np.asarray(labels)
    fig = ax.figure
    if labels.ndim == 2:
        extent = None
        if len(nav_axes) == 2:
            x, y = nav_axes
            extent = [x.axis[0], x.axis[-1], y.axis[-1], y.axis[0]]
        im = ax.imshow(labels, cmap=cmap, norm=norm, interpolation="nearest", extent=extent)
        ax.set_xlabel(f"{nav_axes[0].name} ({nav_axes[0].units})" if nav_axes else "x (pixel)")
        ax.set_ylabel(f"{nav_axes[1].name} ({nav_axes[1].units})" if len(nav_axes) > 1 else "y (pixel)")
    else:
        im = ax.imshow(np.atleast_2d(labels.reshape(-1)), cmap=cmap, norm=norm, aspect="auto",
                       interpolation="nearest")
        ax.set_yticks([])
        ax.set_xlabel(f"{nav_axes[0].name} ({nav_axes[0].units})" if nav_axes else "position (pixel)")
    cb = fig.colorbar(im, ax=ax, ticks=np.arange(-1, n_clusters))
    names = [str(i) for i in range(n_clusters)] if names is None else list(names)
    cb.ax.set_yticklabels([noise_name] + names)
    if title:
        ax.set_title(title)
    return cb


def plot_umap_cluster_result(res, max_points=20000, spectra_offset=0.0, figsize=None):
    """Label map, embedding scatter coloured by label, and mean spectra of an eager result; returns a Figure."""
    import matplotlib.pyplot as plt

    k = res.n_clusters
    colors, cmap, norm = cluster_colormap(k)
    labels = np.asarray(res.labels.data)
    fig, axs = plt.subplots(1, 3, figsize=figsize or (15, 4.5))
    plot_label_map(axs[0], labels, res._nav_axes, k, title="cluster labels")
    ax = axs[1]
    e = np.asarray(res.embedding.data).reshape(-1, res.embedding.data.shape[-1])
    lab = labels.reshape(-1)
    ok = np.isfinite(e).all(axis=1)
    idx = np.flatnonzero(ok)
    if idx.size > max_points:
        idx = np.random.default_rng(0).choice(idx, max_points, replace=False)
    ax.scatter(e[idx, 0], e[idx, 1] if e.shape[1] > 1 else np.zeros(idx.size), c=lab[idx], cmap=cmap,
               norm=norm, s=2, linewidths=0, rasterized=True)
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    ax.set_title(f"embedding ({idx.size} of {ok.sum()} pixels)")
    ax = axs[2]
    spec = np.asarray(res.cluster_spectra.data)
    sax = res.cluster_spectra.axes_manager.signal_axes[0]
    for i in range(k):
        ax.plot(sax.axis, spec[i] + i * spectra_offset, color=colors[i + 1],
                label=f"{i} ({int(np.asarray(res.cluster_sizes)[i])} px)")
    ax.set_xlabel(f"Energy loss ({sax.units})")
    ax.set_ylabel("mean counts")
    ax.set_title("mean spectrum per cluster")
    if k:
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
