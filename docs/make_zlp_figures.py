"""Figures of docs/user_guide/zlp.rst: ``python docs/make_zlp_figures.py``.

Simulated SI for the bands and maps; the WS2 spectra of ``$HYPERSPY_EELS_ML_DATA/zlp``
(or ``../shared/data/zlp``) for the region diagnostic, when present.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import hyperspy_eels_ml  # noqa: E402,F401
from hyperspy_eels_ml.simulation import thickness_bands_low_loss_si  # noqa: E402

OUT = Path(__file__).parent / "_static" / "zlp"


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    s, truth = thickness_bands_low_loss_si(shape=(10, 10), seed=0)
    r = s.subtract_zlp_nn(n_replicas=50, random_state=0, show_progressbar=False)
    e = s.axes_manager.signal_axes[0].axis
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, idx, name in zip(axes, [(5, 1), (5, 8)], ["thin", "thick"]):
        r.plot(index=idx, energy_range=(-0.5, 5), ax=ax)
        ax.plot(e, truth.inelastic.data[idx], "k:", lw=1.2, label="inelastic truth")
        ax.set_title(f"{name} (t/lambda {truth.t_lambda[idx]:.2f}), pixel {idx}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(OUT / "zlp_bands.png", dpi=90)
    g = r.fit_band_gap((1.0, 3.0), exponent=1.5, show_progressbar=False)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for ax, data, title in zip(axes, [r.thickness.data, g.Eg.data, g.Eg_upper.data - g.Eg_lower.data],
                               ["t/lambda (NN ZLP log-ratio)", "Eg (eV), b = 1.5", "Eg 68 % interval width (eV)"]):
        im = ax.imshow(data, cmap="viridis")
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8, label="t/lambda" if ax is axes[0] else "eV")
        ax.set_xlabel("x (pixel)")
        ax.set_ylabel("y (pixel)")
    fig.tight_layout()
    fig.savefig(OUT / "zlp_maps.png", dpi=90)
    print("written to", OUT, "| median Eg", float(np.nanmedian(g.Eg.data)))
    ws2_regions()


def ws2_regions():
    """Region diagnostic (dE1/dE2 per cluster) and one subtracted spectrum of the WS2 set."""
    import os
    import sys
    import warnings

    root = Path(os.environ.get("HYPERSPY_EELS_ML_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    if not (root / "zlp").is_dir():
        print("no real data: WS2 figure skipped")
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_zlp_real import load_ws2

    spec, vac = load_ws2(root / "zlp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = spec.subtract_zlp_nn(vacuum=vac, n_replicas=32, random_state=0, show_progressbar=False)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    r.model.plot_regions(ax=axes[0])
    axes[0].set_xlim(-1, 8)
    r.plot(index=(0,), energy_range=(-0.5, 4), ax=axes[1])
    axes[1].set_title("WS2 spectrum 0 (vacuum reference, 32 replicas)")
    fig.tight_layout()
    fig.savefig(OUT / "zlp_ws2_regions.png", dpi=90)


if __name__ == "__main__":
    main()
