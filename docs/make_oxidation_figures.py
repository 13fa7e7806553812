"""Make the figures of the oxidation-state user-guide page (docs/_static/oxidation/*.png).

Usage (from the repository root; simulated data only, nothing from ../shared)::

    python docs/make_oxidation_figures.py [--tables]   # --tables: the two .inc tables only

Figures:

* ``alignment.png``: simulated Fe2+/Fe3O4/Fe3+ spectra with -8, 0 and +8 eV
  calibration errors, before and after the edge alignment (the model features);
* ``phantom.png``: ``classify_oxidation`` on the FeO/Fe3O4 core-shell nanocube
  phantom: ground truth, probability maps, labels and mean valence;
* ``shift_curves.png``: held-out accuracy against a fixed calibration error
  for the edge-aligned and calibrated-axis variants (from the model cards);
* ``docs/user_guide/oxidation_cards.inc``: the held-out table of the model cards;
* ``docs/user_guide/oxidation_valence_cards.inc``: the same for the valence models.
"""

from __future__ import annotations

import json
import os
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "_static", "oxidation")


def alignment():
    from hyperspy_eels_ml.oxidation import OxidationClassifier
    from hyperspy_eels_ml.oxidation.classifier import prepare_arrays
    from hyperspy_eels_ml.oxidation.preprocess import extract_features
    from hyperspy_eels_ml.oxidation.train import simulate

    spec = OxidationClassifier("Fe").spec
    fig, axs = plt.subplots(1, 2, figsize=(10, 3.6))
    colors = {0: "tab:blue", 1: "tab:orange", 2: "tab:green"}
    for k, shift in enumerate((-8.0, 0.0, 8.0)):
        data, energy, labels, _ = simulate(spec, 30, 10 + k, shift=shift, dispersions=(0.2,), residual_fraction=0.0,
                                           counts=(4000.0, 4000.0), parameter_spread=0.0, resolution=(0.8, 0.8))[0]
        x, e = prepare_arrays(data, energy, spec, True)
        f, anchor, snr, _ = extract_features(x, e, spec)
        for c in range(3):
            idx = np.flatnonzero(labels == c)
            i = int(idx[np.argmax(snr[idx])])  # the clearest example of the class
            axs[0].plot(e, x[i] / x[i].max(), color=colors[c], lw=0.8, ls=("--", "-", ":")[k],
                        label=f"{spec.classes[c]}, {shift:+g} eV")
            axs[1].plot(spec.offsets, f[i] / f[i].max(), color=colors[c], lw=0.8, ls=("--", "-", ":")[k])
    axs[0].set_xlabel("Energy loss (eV), axis with a calibration error")
    axs[0].set_ylabel("background-subtracted, max = 1")
    axs[0].set_title("input (shifts -8 / 0 / +8 eV)")
    axs[0].legend(fontsize="x-small", ncol=2)
    axs[1].set_xlabel("Energy relative to the L3 onset (eV)")
    axs[1].set_title("model features (aligned on each spectrum's own edge)")
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "alignment.png"), dpi=110)
    plt.close(fig)


def phantom():
    import hyperspy_eels_ml  # noqa: F401
    from hyperspy_eels_ml.simulation import nanocube_core_shell_si

    s, truth = nanocube_core_shell_si((48, 64), seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = s.classify_oxidation("Fe")
    fig = res.plot(figsize=(17, 3.2))
    ax0 = fig.add_axes([0.0, 0.0, 0.01, 0.01])
    ax0.set_visible(False)
    fig.savefig(os.path.join(OUT, "phantom.png"), dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(3.6, 3.2))
    from matplotlib.colors import ListedColormap

    ax.imshow(truth.phase, cmap=ListedColormap(["0.8", "0.55", "tab:blue", "tab:orange"]), vmin=-1, vmax=2,
              interpolation="nearest")
    ax.set_title("truth: vacuum / C / FeO / Fe3O4", fontsize="small")
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "phantom_truth.png"), dpi=100)
    plt.close(fig)


def shift_curves():
    from hyperspy_eels_ml.oxidation.shipped import _MODELS_DIR, _registry

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for m in _registry():
        card = json.load(open(os.path.join(_MODELS_DIR, m["model_card"])))
        for variant, v in card["variants"].items():
            curve = v["heldout"]["accuracy_vs_shift_eV"]
            xs = sorted(float(k) for k in curve)
            ys = [curve[f"{x:+g}"] for x in xs]
            ax.plot(xs, ys, marker="o", ms=3, ls="-" if variant == "aligned" else "--",
                    label=f"{m['name']} ({variant})")
    ax.axhline(1 / 3, color="0.6", lw=0.8)
    ax.set_xlabel("energy-axis calibration error (eV)")
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize="x-small")
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "shift_curves.png"), dpi=110)
    plt.close(fig)


def cards_table():
    """``docs/user_guide/oxidation_cards.inc``: held-out numbers of every shipped model, from the model cards."""
    from hyperspy_eels_ml.oxidation.shipped import _MODELS_DIR, _registry

    lines = [".. list-table::", "   :header-rows: 1", "", "   * - model / variant", "     - accuracy (SNR >= 5)",
             "     - masked", "     - accuracy (SNR >= 10)", "     - per class", "     - at -5 / 0 / +5 eV"]
    for m in _registry():
        card = json.load(open(os.path.join(_MODELS_DIR, m["model_card"])))
        if card.get("model") == "valence":  # own table (valence_cards_table)
            continue
        for variant, v in card["variants"].items():
            h = v["heldout"]
            c = h["accuracy_vs_shift_eV"]
            pc = ", ".join(f"{k} {x:.3f}" for k, x in h["per_class"].items())
            lines += [f"   * - ``{m['name']}`` / {variant}", f"     - {h['accuracy']:.4f}",
                      f"     - {h['masked_fraction']:.3f}", f"     - {h['accuracy_typical_snr']:.4f}",
                      f"     - {pc}", f"     - {c['-5']:.3f} / {c['+0']:.3f} / {c['+5']:.3f}"]
    path = os.path.join(os.path.dirname(__file__), "user_guide", "oxidation_cards.inc")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def valence_cards_table():
    """``docs/user_guide/oxidation_valence_cards.inc``: held-out numbers of the valence models (model cards)."""
    from hyperspy_eels_ml.oxidation.shipped import _MODELS_DIR, _registry

    lines = [".. list-table::", "   :header-rows: 1", "", "   * - model", "     - end members",
             "     - valence MAE (shape only / calibrated onset)", "     - 68 % coverage",
             "     - compound accuracy (pure end members)", "     - baselines, 600 spectra: MAE model / NNLS (all); model / L3-L2 ratio (oxide mixtures)",
             "     - metal from the shape alone: pure metal read as metal / oxide read as metal",
             "     - slope of predicted on true valence, shape only / calibrated onset: posterior mean -> "
             "reported (unbiased where kept)"]
    for m in _registry():
        card = json.load(open(os.path.join(_MODELS_DIR, m["model_card"])))
        if card.get("model") != "valence":
            continue
        h = card["heldout"]
        b = h["baselines_on_first_600"]
        lines += [f"   * - ``{m['name']}``", f"     - {', '.join(card['end_members'])}",
                  f"     - {h['valence_mae']:.2f} ({h['valence_mae_shape_only']:.2f} / "
                  f"{h['valence_mae_calibrated_onset']:.2f})", f"     - {h['coverage_68']:.2f}",
                  f"     - {h['compound_accuracy_pure']:.2f}",
                  f"     - {b['model_mae']:.2f} / {b['nnls_mae']:.2f}; {b['model_mae_oxides_only']:.2f} / "
                  f"{b['ratio_onset_mae_oxides_only']:.2f}"]
        ms = h.get("metal_shape_only")
        lines += [f"     - {ms['pure_metal_read_as_metal']:.2f} / {ms['oxide_read_as_metal']:.2f}" if ms else "     - -"]
        be = h.get("by_estimator")
        if be:
            kept = card.get("estimator", {}).get("deshrink", {})
            cells = []
            for k, kk in (("shape_only", "shape_only"), ("calibrated_onset", "calibrated")):
                pm, ub = be["posterior_mean"][k]["slope_pred_on_true"], be["unbiased"][k]["slope_pred_on_true"]
                cells.append(f"{pm:.2f} -> {ub:.2f}" if kk in kept else f"{pm:.2f} (posterior mean kept)")
            lines += ["     - " + " / ".join(cells)]
        else:
            lines += ["     - -"]
    path = os.path.join(os.path.dirname(__file__), "user_guide", "oxidation_valence_cards.inc")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    import sys

    cards_table()
    valence_cards_table()
    if "--tables" in sys.argv[1:]:  # the two .inc tables only (no figures)
        return
    os.makedirs(OUT, exist_ok=True)
    alignment()
    phantom()
    shift_curves()
    print("written:", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
