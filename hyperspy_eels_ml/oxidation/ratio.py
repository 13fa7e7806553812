"""The classical L3/L2 white-line ratio: one double-step measurement for the baselines and the benchmarks.

:func:`white_line_ratio` is the only implementation of the ratio in the package
(the valence baseline :func:`~hyperspy_eels_ml.oxidation.valence.ratio_onset_baseline`,
the simulator's ``r_int`` targets and ``benchmarks/bench_oxidation_ratio.py`` /
``bench_oxidation_real.py`` call it). Its code lives in the simulation layer
(``hyperspy_eels_ml/simulation/_ratio.py``, with the L3 rule
``first_strong_maximum``), which imports no capability; this module re-exports it.
The recipe is the Pearson-style integrated ratio ``R_int`` of the shared notes
(section 2.1; after Pearson, Ahn & Fultz, Phys. Rev. B 47 (1993) 8471): a
continuum of two arctan steps with heights 2:1 placed at the L3 and L2 maxima,
its level the mean intensity 4-8 eV above the L2 maximum, is subtracted from the
background-free spectrum, and each line is integrated over +-4 eV of its maximum.
Where the recipe leaves a choice, this implementation says what it does:

* **L3 is the first strong maximum, not the highest point.** The Gaussian-smoothed
  spectrum's local maxima in the L3 search range are scanned from low energy and
  the first one that reaches ``first_peak_fraction`` of the highest maximum above
  the pre-edge level is L3. The highest point is not used because with a
  continuum step under narrow crystal-field-split lines (d0 V5+, Cr6+) the L2 line
  plus the continuum can stand higher than the smoothed L3 doublet; taking it as
  L3 gave ratios of 8-10 for simulated V5+ / Cr6+ whose true ratio is 1.0-1.2
  (``bench_oxidation_ratio.py`` before this module).
* **Integration windows do not overlap**: the half-width is ``min(4 eV, (E(L2) -
  E(L3)) / 2)``, which only matters where the spin-orbit splitting is below 8 eV
  (Ti, V).
* **Narrow windows**: where the spectrum ends less than 1 eV past ``L2 + 4 eV`` the
  continuum level cannot be read where the recipe reads it; the level is then the
  lower of the mean of the last eV and 1.5x the trough between the lines (the
  continuum under the trough cannot be higher than the trough), and
  ``level_from_continuum`` is False for that spectrum.

NaN (never a number) where L3 is not found inside the search range (its maximum
on the range's edge), the L2 search window is not inside the spectrum, or the
L2 area is not positive.
"""

from __future__ import annotations

import functools

# the kernel lives in the simulation layer, which measures its r_int targets with it (and imports no capability)
from ..simulation._ratio import WhiteLineRatio, white_line_ratio

__all__ = ["WhiteLineRatio", "white_line_ratio", "RATIO_CALIBRATION", "ratio_calibration"]


#: L3/L2 calibration points (valence, R_int) measured with this recipe on published spectra: the shared notes,
#: section 2.1 (medians over digitised literature spectra). Elements not listed are calibrated on the
#: simulator's noise-free end members (:func:`ratio_calibration`), i.e. on priors.
RATIO_CALIBRATION = {
    "Mn": {"points": [(2.0, 4.1), (3.0, 2.4), (4.0, 1.96)],
           "source": "R_int of digitised literature Mn2+/3+/4+ spectra (Chatzidakis & Botton, Sci. Rep. 9 (2019) "
                     "2126, repository MichaelChatzidakis/Mn_Classifier_CNNs; n = 10/9/12), shared notes 2.1"},
    "Fe": {"points": [(2.0, 4.3), (8.0 / 3.0, 4.5)],
           "source": "R_int of digitised FeO (Fe2+) and Fe3O4 (mean 8/3) spectra (del-Pozo-Bueno et al., "
                     "LENS-MIND/SVM repository; n = 8 each), shared notes 2.1; Fe3+ by linear extrapolation"},
}


def ratio_calibration(element, end_members, resolution=0.6, t_lambda=0.3):
    """Calibration points ``(valences, ratios, source)`` of the L3/L2 baseline for ``element``'s oxide end members.

    Literature R_int (:data:`RATIO_CALIBRATION`) where the shared notes give them; otherwise
    :func:`white_line_ratio` of the simulator's noise-free end members (table means, continuum
    on, ``resolution`` eV, ``t_lambda``), said in ``source``.
    """
    vs, rs, source = _ratio_calibration(element, tuple(end_members), float(resolution), float(t_lambda))
    return list(vs), list(rs), source


@functools.lru_cache(maxsize=64)
def _ratio_calibration(element, end_members, resolution, t_lambda):
    """Cached body of :func:`ratio_calibration` (the priors re-simulate the end members: a few ms each)."""
    from ..simulation.oxidation import white_line_parameters, white_line_spectra

    p = white_line_parameters()["species"]
    ox = [s for s in end_members if p[s]["valence"] > 0]
    if element in RATIO_CALIBRATION:
        pts = RATIO_CALIBRATION[element]["points"]
        return [v for v, _ in pts], [r for _, r in pts], RATIO_CALIBRATION[element]["source"]
    vs, rs = [], []
    for s in ox:
        b = white_line_spectra(1, [s], dispersion=0.05, shift=0.0, resolution=resolution, t_lambda=t_lambda,
                               background=None, noise=False, parameter_spread=0.0, rng=0)
        l3 = p[s]["L3"][0]
        r = white_line_ratio(b.energy, b.spectra, (l3 - 3.0, l3 + 4.0), p[s]["splitting"][0]).ratio[0]
        vs.append(float(p[s]["valence"]))
        rs.append(float(r))
    return vs, rs, (f"prior: R_int of the simulator's noise-free {', '.join(ox)} end members (white_lines.json "
                    f"means, resolution {resolution:g} eV, t/lambda {t_lambda:g}, continuum on)")
