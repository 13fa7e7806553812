"""Figures of docs/user_guide/zlp.rst (simulated data only): ``python docs/make_zlp_figures.py``."""

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
        fig.colorbar(im, ax=ax, shrink=0.8)
        ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(OUT / "zlp_maps.png", dpi=90)
    print("written to", OUT, "| median Eg", float(np.median(g.Eg.data)))


if __name__ == "__main__":
    main()
