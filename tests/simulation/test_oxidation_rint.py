"""z25 (issue 13): ``white_line_spectra(ratio_observable=)``: the cited R_int observable of the Mn white lines."""

import numpy as np
import pytest

from hyperspy_eels_ml.oxidation.ratio import white_line_ratio
from hyperspy_eels_ml.simulation.oxidation import white_line_parameters, white_line_spectra


def _r_int(species, mode, res, tl, cont):
    p = white_line_parameters()["species"][species]
    b = white_line_spectra(1, [species], dispersion=0.05, shift=0.0, resolution=res, t_lambda=tl, background=None,
                           noise=False, parameter_spread=0.0, continuum=cont, rng=0, ratio_observable=mode)
    l3 = p["L3"][0]
    return float(white_line_ratio(b.energy, b.spectra, (l3 - 3, l3 + 4), p["splitting"][0]).ratio[0])


def test_default_is_todays_generator():
    # checksum of the generator before z25 (same seed): the default mode did not move
    b = white_line_spectra(64, ["Mn2+", "Mn3+", "Mn4+"], rng=2525)
    x = b.spectra.astype(np.float64)
    assert x.sum() == pytest.approx(13847947.958362788, rel=1e-9)
    assert (x ** 2).sum() == pytest.approx(13997011812.767302, rel=1e-9)
    assert np.array_equal(white_line_spectra(8, ["Mn2+"], rng=3, ratio_observable="area").spectra,
                          white_line_spectra(8, ["Mn2+"], rng=3).spectra)


@pytest.mark.parametrize("species,target", [("Mn2+", 4.1), ("Mn3+", 2.55), ("Mn4+", 1.96)])
@pytest.mark.parametrize("res,tl,cont", [(0.3, 0.05, 0.0), (0.6, 0.3, 1.0), (1.0, 0.3, 0.0), (1.0, 0.05, 1.0)])
def test_r_int_mode_reproduces_cited_r_int(species, target, res, tl, cont):
    # SHIP_RULE C1: within 15 % of the cited R_int (Chatzidakis & Botton 2019; shared notes 2.1)
    assert abs(_r_int(species, "r_int", res, tl, cont) / target - 1) <= 0.15


def test_area_mode_misses_mn2_r_int():
    # why z25 exists: the area ratio 4.1 of the broad-L2 Mn2+ lines reads as R_int 4.5-6.7 (6.66 continuum-free)
    assert _r_int("Mn2+", "area", 0.6, 0.05, 0.0) > 1.3 * 4.1


def test_r_int_mode_draws_the_same_nuisances_and_leaves_other_species():
    a = white_line_spectra(16, ["Mn2+", "Mn3+"], rng=5)
    b = white_line_spectra(16, ["Mn2+", "Mn3+"], rng=5, ratio_observable="r_int")
    assert np.array_equal(a.labels, b.labels)
    for k in ("shift", "resolution", "t_lambda", "counts"):
        assert np.array_equal(a.params[k], b.params[k])
    assert not np.array_equal(a.spectra, b.spectra)
    c = white_line_spectra(8, ["Fe2+", "Fe3+"], rng=6, noise=False)
    d = white_line_spectra(8, ["Fe2+", "Fe3+"], rng=6, noise=False, ratio_observable="r_int")
    assert np.array_equal(c.spectra, d.spectra)  # no cited r_int entry: as "area"
    with pytest.raises(ValueError):
        white_line_spectra(2, ["Mn2+"], ratio_observable="peak")


def test_simulator_measures_r_int_without_importing_a_capability():
    """The r_int observables use the white-line-ratio kernel of the simulation layer (simulation/_ratio.py), not
    hyperspy_eels_ml.oxidation (before: a function-local import of oxidation.ratio, i.e. the whole capability);
    oxidation.ratio / oxidation.preprocess re-export the same objects."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from hyperspy_eels_ml.simulation.oxidation import white_line_spectra\n"
            "b = white_line_spectra(2, ['Mn2+'], rng=0, ratio_observable='r_int')\n"
            "white_line_spectra(2, ['Fe3+'], rng=0, ratio_observable='r_int_species')\n"
            "bad = sorted(m for m in sys.modules if m.startswith('hyperspy_eels_ml.')\n"
            "             and m.split('.')[1] in ('oxidation', 'zlp', 'elements', 'clustering'))\n"
            "assert not bad, bad\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]

    from hyperspy_eels_ml.oxidation import preprocess, ratio
    from hyperspy_eels_ml.simulation import _ratio

    assert ratio.white_line_ratio is _ratio.white_line_ratio and ratio.WhiteLineRatio is _ratio.WhiteLineRatio
    assert preprocess.first_strong_maximum is _ratio.first_strong_maximum
