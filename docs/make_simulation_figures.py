"""Make the figures of the simulation user-guide page (docs/_static/simulation/*.png).

Usage (from the repository root; the real spectra are read from ../shared/data
and never copied into the repository; only GPL-3 spectra from the exspy and
hyperspy packages are plotted)::

    python docs/make_simulation_figures.py

Figures:

* ``edge_families.png``: dipole cross sections of K, L2,3, M4,5 and N4,5
  edges from the shipped edge table, with and without the parametric white lines;
* ``sim_vs_real.png``: real spectra (exspy Mn/O, exspy Cr L, hyperspy La2NiO4)
  against simulated ones. The simulation uses the edge table for the elements
  in the spectrum with a power law fitted to the pre-edge region, element
  amounts from a non-negative least-squares fit, instrument resolution 1 eV and
  single scattering only, so differences show what the atomic + white-line
  model does and does not capture (fine structure is not fitted);
* ``phantoms.png``: ground truth and spectra of each of the five phantoms;
* ``oxidation.png``: white-line references of Fe and Mn oxidation states;
* ``realism.png``: the realism mechanisms of ``core_loss`` with ``REALISM_PRESET`` (C K ELNES per bonding
  type, valence white lines, correlated noise, recording artefacts);
* ``sim_vs_real_families.png`` is written by ``benchmarks/bench_sim_vs_real.py
  --figure`` (see the user guide).

``--only NAME`` makes one figure (e.g. ``--only realism``).
"""

from __future__ import annotations

import os
import sys
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.ndimage import gaussian_filter1d  # noqa: E402
from scipy.optimize import nnls  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "_static", "simulation")
SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


def edge_families(ax_grid):
    from hyperspy_eels_ml.simulation import element_cross_section

    cases = [("C", (270, 500), "C K"), ("Fe", (690, 800), "Fe L2,3"), ("Ba", (760, 900), "Ba M4,5"),
             ("Ce", (90, 260), "Ce N4,5 (+ M edges out of range)")]
    for ax, (el, (a, b), title) in zip(ax_grid.ravel(), cases):
        e = np.arange(a, b, 0.1)
        ax.plot(e, element_cross_section(el, e, white_lines=False) * 1e24, label="atomic (xraylib, dipole)")
        ax.plot(e, element_cross_section(el, e) * 1e24, label="+ parametric white lines")
        ax.set_title(title)
        ax.set_xlabel("Energy loss (eV)")
        ax.set_ylabel("dsigma/dE (barn/eV)")
    ax_grid.ravel()[0].legend(fontsize="small")


def _fit(energy, data, elements, E0, pre):
    from hyperspy_eels_ml.simulation import element_cross_section

    sel = (energy > pre[0]) & (energy < pre[1]) & (data > 0)
    r, lna = np.polyfit(np.log(energy[sel]), np.log(data[sel]), 1)
    if r < 0:
        bg = np.exp(lna) * energy**r
    else:  # background already removed (or window too short): constant pre-edge level
        bg = np.full_like(energy, np.median(data[sel]))
    step = energy[1] - energy[0]
    cols = [gaussian_filter1d(element_cross_section(el, energy, E0=E0, beta=30.0), 1.0 / 2.3548 / step)
            for el in elements]
    A = np.stack(cols, axis=1)
    fit_sel = energy > pre[1]
    w, _ = nnls(A[fit_sel], (data - bg)[fit_sel])
    return bg, A @ w


def sim_vs_real(axs):
    import hyperspy.api as hs

    cases = [
        ("elements/exspy_pkg__coreloss_spectrum.msa", ["Mn", "O"], (380, 520), "exspy Mn/O (GPL-3)"),
        ("elements/exspy_pkg__Cr_L_cl.hspy", ["Cr", "O"], None, "exspy Cr L (GPL-3)"),
        ("elements/hyperspy_pkg__La2NiO4_eels.txt", ["La", "Ni", "O"], (430, 520), "hyperspy La2NiO4 (GPL-3)"),
    ]
    for ax, (path, els, pre, title) in zip(axs, cases):
        f = os.path.join(SHARED, path)
        if path.endswith(".txt"):
            d = np.loadtxt(f)
            energy, data = d[:, 0], d[:, 1]
        else:
            s = hs.load(f)
            if s.axes_manager.navigation_dimension:
                s = s.sum(s.axes_manager.navigation_axes)
            energy, data = s.axes_manager.signal_axes[0].axis, np.asarray(s.data, float)
        if pre is None:
            pre = (energy[0] + 2, energy[0] + 0.15 * (energy[-1] - energy[0]))
        bg, edges = _fit(energy, data, els, 200.0, pre)
        ax.plot(energy, data, "k", lw=1, label="real")
        ax.plot(energy, bg + edges, "C1", lw=1, label="simulated: " + "+".join(els))
        ax.plot(energy, bg, "C0:", lw=1, label="power law")
        ax.set_title(title)
        ax.set_xlabel("Energy loss (eV)")
        ax.legend(fontsize="small")


def phantoms(axs):
    from hyperspy_eels_ml.simulation import (
        ferrite_core_shell_si,
        multiphase_core_loss_si,
        nanocube_core_shell_si,
        superlattice_core_loss_si,
        ws2_flake_low_loss_si,
    )

    s, t = multiphase_core_loss_si((64, 64), n_channels=512, seed=0)
    axs[0, 0].imshow(t.phase, cmap="tab10", vmin=-1, vmax=9, interpolation="nearest")
    axs[0, 0].set_title("multiphase: phases")
    e = s.axes_manager.signal_axes[0].axis
    for k, name in enumerate(t.phase_names):
        axs[1, 0].plot(e, s.data[t.phase == k].mean(0), label=name)
    axs[1, 0].legend(fontsize="small")
    s, t = ws2_flake_low_loss_si((48, 64), seed=0)
    axs[0, 1].imshow(t.t_lambda, cmap="viridis")
    axs[0, 1].set_title("WS2 flake: t/lambda")
    e = s.axes_manager.signal_axes[0].axis
    iy, ix = np.unravel_index(np.argmax(t.t_lambda), t.t_lambda.shape)
    axs[1, 1].semilogy(e, np.maximum(s.data[iy, ix], 0.5), "k", lw=0.7, label="spectrum")
    axs[1, 1].semilogy(e, np.maximum(t.zlp.data[iy, ix], 1e-3), label="ZLP truth")
    axs[1, 1].semilogy(e, np.maximum(t.inelastic.data[iy, ix], 1e-3), label="inelastic truth")
    axs[1, 1].set_ylim(0.5, None)
    axs[1, 1].legend(fontsize="small")
    s, t = superlattice_core_loss_si((24, 72), seed=0)
    axs[0, 2].imshow(t.amounts[..., t.elements.index("La")], cmap="magma", aspect="auto")
    axs[0, 2].set_title("superlattice: La map")
    e = s.axes_manager.signal_axes[0].axis
    for k, name in enumerate(t.layer_names):
        axs[1, 2].plot(e, s.data[t.layer == k].mean(0), label=name)
    axs[1, 2].legend(fontsize="small")
    s, t = nanocube_core_shell_si((48, 64), seed=0)
    axs[0, 3].imshow(t.fe3_fraction, cmap="coolwarm", vmin=0, vmax=1)
    axs[0, 3].set_title("nanocubes: Fe3+ fraction")
    e = s.axes_manager.signal_axes[0].axis
    win = (e > 695) & (e < 735)
    for k, name in enumerate(t.phase_names):
        axs[1, 3].plot(e[win], s.data[t.phase == k].mean(0)[win], label=name)
    axs[1, 3].legend(fontsize="small")
    s, t = ferrite_core_shell_si((64, 64), seed=0)
    axs[0, 4].imshow(t.mn_fraction, cmap="viridis")
    axs[0, 4].set_title("ferrite particles: Mn/(Mn+Fe)")
    e = s.axes_manager.signal_axes[0].axis
    for k, name in enumerate(t.phase_names):
        axs[1, 4].plot(e, s.data[t.phase == k].mean(0), label=name)
    axs[1, 4].legend(fontsize="small")


def oxidation(axs):
    from hyperspy_eels_ml.simulation import white_line_spectra

    for ax, cls in zip(axs, (["Fe2+", "Fe3+", "Fe3O4"], ["Mn2+", "Mn3+", "Mn4+"])):
        b = white_line_spectra(len(cls), cls, labels=np.arange(len(cls)), shift=0.0, noise=False,
                               background=None, resolution=0.5, t_lambda=0.2, rng=0)
        for s_, lab in zip(b.spectra, b.labels):
            ax.plot(b.energy, s_ / s_.max(), label=cls[lab])
        ax.set_xlabel("Energy loss (eV)")
        ax.legend(fontsize="small")


#: the preset realism.png shows (named in its panel titles and in the guide's caption)
REALISM_PRESET = "realistic-v3"


def realism(axs):
    """Realism mechanisms of core_loss (preset REALISM_PRESET), noise-free where the mechanism is not the noise."""
    from functools import partial

    from hyperspy_eels_ml.simulation import core_loss as _core_loss
    from hyperspy_eels_ml.simulation.realism import K_ELNES

    core_loss = partial(_core_loss, realism=REALISM_PRESET)

    from hyperspy_eels_ml.simulation.edges import edge_onsets

    clean = dict(noise=False, instrument_shift=0.0, dispersion_error=0.0, chemical_shift=0.0, t_lambda=0.05,
                 zlp_fwhm=0.4, jump_ratio=200.0, elnes_contrast=1.3)
    ax = axs[0]
    b = core_loss(400, ["C", "O"], energy_offset=270, dispersion=0.1, size=600, amounts=[1.0, 0.5], rng=1, **clean)
    for ti, (name, *_rest) in enumerate(K_ELNES["C"]):
        i = np.flatnonzero(b.params["bonding"][:, 0] == ti)
        if i.size:
            sub = b.spectra[i[0]] - b.spectra[i[0]][:100].mean()
            ax.plot(b.energy, sub / sub.max() + 0.8 * ti, label=name)
    ax.set_title(f"C K ELNES by bonding type (offset), {REALISM_PRESET}", fontsize=9)
    ax.set_xlim(278, 320)
    ax.legend(fontsize=6)
    ax = axs[1]
    for k, (el, v, off) in enumerate([("Ti", 4, 445), ("Fe", 3, 695), ("Cu", 2, 915), ("Cu", 1, 915)]):
        b = core_loss(1, [el], energy_offset=off, dispersion=0.1, size=600, amounts=[1.0], valence={el: v},
                      white_line_strength=1.0, fine_structure=False, rng=2, **{**clean, "elnes_contrast": 1.0})
        x = b.energy - edge_onsets(el)["L3"]
        y = b.spectra[0] - b.spectra[0][:50].mean()
        ax.plot(x, y / y.max() + 1.1 * k, label=f"{el}{v}+  L3:L2 area {b.params['l3_l2'][0, 0]:.2f}")
    ax.set_title(f"L2,3 white lines from the valence (offset), {REALISM_PRESET}", fontsize=9)
    ax.set_xlabel("Energy above the L3 onset (eV)")
    ax.set_xlim(-5, 40)
    ax.legend(fontsize=6)
    ax = axs[2]
    kw = dict(energy_offset=400, dispersion=0.5, size=400, amounts=[1.0, 1.0], counts=300.0, gain=4.0,
              artefacts=False, read_noise=0.0, dark_offset=0.0, correlated_fraction=1.0, rng=3)
    for k, rho in enumerate((0.0, 0.9)):
        b = core_loss(1, ["N", "O"], noise_correlation=rho, **kw)
        ax.plot(b.energy, b.spectra[0] + 1500 * k, lw=0.8, label=f"lag-1 {b.params['noise_lag1'][0]:.2f}")
    ax.set_title(f"white and correlated noise (gain 4), {REALISM_PRESET}", fontsize=9)
    ax.legend(fontsize=6)
    ax = axs[3]
    rates = dict(splice=1.0, fill_channels=0.0, corrupt_end=1.0, cosmic_ray=1.0, gain_stripes=0.0)
    b = core_loss(1, ["C", "Ca"], energy_offset=100, dispersion=0.5, size=800, amounts=[1.0, 0.3], counts=3e3,
                  artefact_rates=rates, rng=5)
    ax.semilogy(b.energy, np.maximum(b.spectra[0], 1.0), lw=0.8)
    ax.axvline(b.params["splice_energy"][0], color="0.6", ls="--", lw=0.8)
    ax.set_title(f"splice x{b.params['splice_factor'][0]:.3g}, cosmic ray, corrupt end ({REALISM_PRESET})", fontsize=9)
    for a in axs:
        a.set_xlabel(a.get_xlabel() or "Energy loss (eV)")
        a.set_ylabel("Intensity (counts, offset)" if a is not axs[3] else "Counts (log)")


def main():
    warnings.filterwarnings("ignore")
    os.makedirs(OUT, exist_ok=True)
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    if only == "realism":
        fig, axs = plt.subplots(1, 4, figsize=(18, 4))
        realism(axs)
        fig.tight_layout()
        fig.savefig(os.path.join(OUT, "realism.png"), dpi=80)
        print("figure in", OUT)
        return
    fig, axs = plt.subplots(1, 4, figsize=(18, 4))
    realism(axs)
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "realism.png"), dpi=80)
    fig, axs = plt.subplots(2, 2, figsize=(10, 7))
    edge_families(axs)
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "edge_families.png"), dpi=80)
    if os.path.isdir(SHARED):
        fig, axs = plt.subplots(1, 3, figsize=(15, 4))
        sim_vs_real(axs)
        fig.tight_layout()
        fig.savefig(os.path.join(OUT, "sim_vs_real.png"), dpi=80)
    else:
        print("../shared/data not found: sim_vs_real.png not made", file=sys.stderr)
    fig, axs = plt.subplots(2, 5, figsize=(22, 7))
    phantoms(axs)
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "phantoms.png"), dpi=70)
    fig, axs = plt.subplots(1, 2, figsize=(11, 4))
    oxidation(axs)
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "oxidation.png"), dpi=80)
    print("figures in", OUT)


if __name__ == "__main__":
    main()
