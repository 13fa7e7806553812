"""Figures of docs/user_guide/elements.rst (real spectra from ../shared/data; skipped when absent).

    python docs/make_elements_figures.py
"""

import os
import warnings

import matplotlib

matplotlib.use("Agg")
warnings.filterwarnings("ignore")

import hyperspy.api as hs  # noqa: E402

import hyperspy_eels_ml  # noqa: E402,F401

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "_static", "elements")
DATA = os.environ.get("HYPERSPY_EELS_ML_DATA", os.path.join(HERE, "..", "..", "shared", "data"))


def main():
    os.makedirs(OUT, exist_ok=True)
    p = os.path.join(DATA, "elements", "exspy_pkg__coreloss_spectrum.msa")
    if os.path.exists(p):
        s = hs.load(p)
        s.set_signal_type("EELS")
        r = s.identify_elements(show_progressbar=False)
        fig = r.plot(elements=sorted(set(r.elements) | {"Mn", "O"}))
        fig.axes[0].set_title(f"exspy Mn/O spectrum: found {', '.join(r.elements) or 'nothing'}")
        fig.savefig(os.path.join(OUT, "mn_o_spectrum.png"), dpi=110)
        print(r.explain("Mn"))
        print(r.explain("O"))
    p = os.path.join(DATA, "elements", "exspy-demos__LSMO_STO_linescan.hspy")
    if os.path.exists(p):
        s = hs.load(p)
        s.set_signal_type("EELS")
        r = s.identify_elements(show_progressbar=False)
        fig = r.plot(elements=["O", "Ti", "Mn", "La"])
        fig.savefig(os.path.join(OUT, "lsmo_sto_linescan.png"), dpi=110)
        print("LSMO/STO line scan:", r.elements, r.flags)
    p = os.path.join(DATA, "oxidation", "delpozo_SVM__EELS Spectrum Image (dark ref corrected).dm3")
    if os.path.exists(p):
        s = hs.load(p)
        s.set_signal_type("EELS")
        r = s.identify_elements(show_progressbar=False)
        from hyperspy_eels_ml.elements import LABELS

        p_fe = float(r.sum_spectrum_probabilities[LABELS.index("Fe")])
        fig = r.plot(elements=["O", "Fe"])
        how = " (Fe from the sum spectrum)" if any("sum spectrum" in f for f in r.flags.get("Fe", [])) else ""
        fig.suptitle(f"FeO/Fe3O4 SI: found {', '.join(r.elements)}{how}; sum-spectrum p(Fe) = {p_fe:.2f}", fontsize=9)
        fig.savefig(os.path.join(OUT, "feo_si_maps.png"), dpi=110)
        print("FeO/Fe3O4 SI:", r.elements, r.flags, "sum-spectrum p(Fe):", round(p_fe, 3))


if __name__ == "__main__":
    main()
