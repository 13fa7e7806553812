"""The classical L3/L2 white-line ratio (oxidation.ratio) and the whole-spectrum ratio baseline."""

import numpy as np
import pytest

from hyperspy_eels_ml.oxidation.ratio import RATIO_CALIBRATION, ratio_calibration, white_line_ratio
from hyperspy_eels_ml.oxidation.valence import ratio_baseline_spectra, valence_spec
from hyperspy_eels_ml.simulation.oxidation import white_line_parameters, white_line_spectra


def _lines(e, a3, a2, e3=0.0, split=10.0, w=1.0, level=0.0):
    g = lambda c: np.exp(-0.5 * ((e - c) / w) ** 2) / (w * np.sqrt(2 * np.pi))  # noqa: E731
    step = level * (2 / 3 * (0.5 + np.arctan((e - e3) / 0.75) / np.pi)
                    + 1 / 3 * (0.5 + np.arctan((e - e3 - split) / 0.75) / np.pi))
    return a3 * g(e3) + a2 * g(e3 + split) + step


@pytest.mark.parametrize("level", [0.0, 0.05, 0.2])
@pytest.mark.parametrize("true", [1.0, 2.5, 4.5])
def test_ratio_of_two_lines_on_a_double_step(true, level):
    e = np.arange(-10.0, 30.0, 0.1)
    y = _lines(e, true, 1.0, level=level) / 0.1
    r = white_line_ratio(e, y, (-3.0, 4.0), 10.0)
    assert r.level_from_continuum[0]
    assert abs(r.l3[0]) < 0.25 and abs(r.l2[0] - 10.0) < 0.25  # the step under a line moves its maximum up
    # +-4 eV of a 1 eV sigma line holds all of it; the step is subtracted at its true level
    assert r.ratio[0] == pytest.approx(true, rel=0.05)


def test_l3_is_the_first_strong_maximum_not_the_highest_point():
    """A weak-looking narrow L3 doublet and a broad L2 on a continuum: L2 + continuum stands higher."""
    e = np.arange(-10.0, 30.0, 0.05)
    g = lambda c, w: np.exp(-0.5 * ((e - c) / w) ** 2)  # noqa: E731
    step = 2 / 3 * (0.5 + np.arctan(e / 0.75) / np.pi) + 1 / 3 * (0.5 + np.arctan((e - 7) / 0.75) / np.pi)
    y = 1.0 * g(0, 0.3) + 0.8 * g(1.5, 0.3) + 0.9 * g(7.0, 1.2) + 0.9 * step
    assert e[np.argmax(y)] > 5  # the highest point is on the L2 line
    r = white_line_ratio(e, y, (-3.0, 10.0), 7.0)
    assert abs(r.l3[0] - 0.0) < 0.3 and abs(r.l2[0] - 7.0) < 0.3
    assert 0.5 < r.ratio[0] < 2.0


@pytest.mark.parametrize("species", ["V5+", "Cr6+"])
def test_d0_species_with_a_continuum_read_near_their_continuum_free_ratio(species):
    """bench_oxidation_ratio before the fix: 8-10 for these with the continuum on (true 1.0-1.2)."""
    p = white_line_parameters()["species"][species]
    vs = valence_spec(p["element"], metals=False)
    out = {}
    for cont in (0.0, 1.0):
        b = white_line_spectra(1, [species], dispersion=0.05, shift=0.0, resolution=1.0, t_lambda=0.3,
                               background=None, noise=False, parameter_spread=0.0, continuum=cont, rng=0)
        l3 = p["L3"][0]
        out[cont] = white_line_ratio(b.energy, b.spectra, (l3 - 3.0, l3 + 4.0), p["splitting"][0]).ratio[0]
        v, w, _ = ratio_baseline_spectra(b.spectra, b.energy, vs, remove_background=False)
        assert abs(w.ratio[0] - out[cont]) < 0.05  # whole-spectrum baseline: same measurement
        assert abs(v[0] - p["valence"]) < 0.6
    assert out[1.0] == pytest.approx(out[0.0], rel=0.1)


def test_not_measured_is_nan():
    e = np.arange(-10.0, 12.0, 0.1)
    y = _lines(e, 2.0, 1.0)
    # the L2 search window (10 +- 2 eV) runs past the end of the axis
    assert np.isnan(white_line_ratio(e, y, (-3.0, 4.0), 10.0).ratio[0])
    # L3 search range holds no maximum (a rising flank only)
    e2 = np.arange(-10.0, 30.0, 0.1)
    assert np.isnan(white_line_ratio(e2, _lines(e2, 2.0, 1.0), (-4.0, -1.0), 10.0).ratio[0])
    with pytest.raises(ValueError, match="channels"):
        white_line_ratio(e, np.zeros((2, 5)), (-3.0, 4.0), 10.0)


def test_noisy_mn_end_members_read_in_valence_order():
    rng = np.random.default_rng(3)
    vs = valence_spec("Mn", metals=False)
    med = []
    for s in ("Mn2+", "Mn3+", "Mn4+"):
        b = white_line_spectra(40, [s], dispersion=0.2, shift=0.0, resolution=0.6, t_lambda=0.3,
                               background=None, noise=True, counts=2e4, rng=rng)
        v, w, src = ratio_baseline_spectra(b.spectra, b.energy, vs, remove_background=False)
        assert np.isfinite(w.ratio).mean() > 0.9
        med.append(np.nanmedian(v))
    assert med[0] < med[1] < med[2]
    assert "Chatzidakis" in src


def test_calibration_points_literature_and_priors():
    v, r, src = ratio_calibration("Mn", ("Mn2+", "Mn3+", "Mn4+"))
    assert (v, r) == ([2.0, 3.0, 4.0], [4.1, 2.4, 1.96]) and "notes" in src
    assert set(RATIO_CALIBRATION) == {"Mn", "Fe"}
    v, r, src = ratio_calibration("Cr", ("Cr3+", "Cr6+"))
    assert v == [3.0, 6.0] and src.startswith("prior") and r[0] > r[1] > 0


def test_first_strong_maximum_rule_shared_by_anchor_and_ratio():
    from hyperspy_eels_ml.oxidation.preprocess import first_strong_maximum

    sm = np.array([[0.0, 0.6, 0.4, 1.0, 0.2],    # first maximum 0.6 >= half of 1.0: index 1
                   [0.0, 0.3, 0.2, 1.0, 0.2],    # 0.3 too weak: index 3
                   [0.0, 0.5, 1.0, 1.5, 2.0],    # rising to the end: no interior maximum
                   [0.6, 0.7, 0.65, 1.0, 0.9]])  # level 0.6: the 0.7 bump is a quarter of the way up
    idx, found = first_strong_maximum(sm, 0.5)
    assert idx.tolist() == [1, 3, 0, 3] and found.tolist() == [True, True, False, True]
    # with the level capped at zero (background-free spectra) the 0.7 bump is 70 % of the way up
    idx, found = first_strong_maximum(sm, 0.5, base_ceiling=0.0)
    assert idx.tolist() == [1, 3, 0, 1]
