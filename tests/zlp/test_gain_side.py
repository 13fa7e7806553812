"""vacuum="gain_side": the mirrored energy-gain side as the vacuum reference (opt-in; session 6, Z9)."""

import warnings

import numpy as np
import pytest

import exspy
import hyperspy_eels_ml  # noqa: F401  (attaches the methods)
from hyperspy_eels_ml._shared.validation import EELSInputError, EnergyRangeError
from hyperspy_eels_ml.simulation import low_loss
from hyperspy_eels_ml.zlp import subtract_zlp_nn
from hyperspy_eels_ml.zlp.fit import gain_side_reference

# a long-range coarse SI like the dev 16x16 low-loss SI (-36.6 to 266 eV, 0.3 eV/ch, broad symmetric tails)
KW = dict(energy_offset=-36.6, dispersion=0.3, size=1011, zlp_fwhm=1.52, zlp_asymmetry=0.104, zlp_tail=0.245,
          zlp_tail_width=5.35, zlp_tail_asymmetry=1.0, band_gap=1.1, gap_exponent=1.5, interband=0.2,
          interband_decay=5.0, plasmon_energy=16.7, plasmon_width=4.5, surface_plasmon=0.1, t_lambda=(0.25, 0.38),
          E0=200.0, beta=9.0, counts=4.33e6)


def _signal(b, scale):
    s = exspy.signals.EELSSpectrum(np.asarray(b.spectra, float))
    ax = s.axes_manager.signal_axes[0]
    ax.name, ax.units, ax.offset, ax.scale, ax.is_binned = "Energy loss", "eV", b.energy[0], scale, True
    return s


def test_gain_side_reduces_the_thickness_bias_of_a_long_range_si():
    b = low_loss(32, rng=1, **KW)
    lam = b.zlp.astype(float) + b.inelastic.astype(float)
    truth = np.log(lam.sum(1) / b.zlp.sum(1))
    s = _signal(b, 0.3)
    bias = {}
    for v in (None, "gain_side"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = subtract_zlp_nn(s, vacuum=v, n_replicas=20, random_state=0, show_progressbar=False)
        bias[v] = float(np.median(np.asarray(r.thickness.data, float) - truth))
        if v == "gain_side":
            assert r.model.params["vacuum_source"] == "gain_side" and np.any(r.model.clusters["vacuum"])
    # measured (seeds 0/1/2 of the simulation): default -0.082/-0.079/-0.083, gain_side -0.031/-0.026/-0.026
    assert abs(bias["gain_side"]) < 0.05 and abs(bias["gain_side"]) < abs(bias[None]) - 0.02, bias


def test_gain_side_reference_mirrors_and_continues_as_a_power_law():
    e = np.arange(-10.0, 30.0, 0.1)
    z = 1e4 / (1 + (e / 0.5) ** 2)  # a symmetric Lorentzian ZLP
    thick = z + np.where(e > 2, 500.0, 0.0)
    ref = gain_side_reference(np.stack([thick, z]), e, 1.0, n=1)
    assert ref.shape == (1, e.size)
    inside = (e > 0) & (e <= 10)
    np.testing.assert_allclose(ref[0, inside], z[inside], rtol=1e-6)  # the thinnest (pure ZLP) one, mirrored
    beyond = e > 10.05
    np.testing.assert_allclose(ref[0, beyond], z[beyond], rtol=0.1)  # the E^-2 tail continued
    assert gain_side_reference(np.stack([z]), e, 2.0) is None  # 10 eV gain side < 10 FWHM of 2 eV


def test_gain_side_refused_when_the_gain_side_is_short_and_bad_strings_refused():
    b = low_loss(4, rng=0, energy_offset=-0.5, dispersion=0.01, size=600, zlp_fwhm=0.1, band_gap=1.5, counts=1e6)
    s = _signal(b, 0.01)
    with pytest.raises(EnergyRangeError, match="gain side of at least 10 FWHM"):
        subtract_zlp_nn(s, vacuum="gain_side", n_replicas=2, max_epochs=50, show_progressbar=False)
    with pytest.raises(EELSInputError, match="'gain_side' or None"):
        subtract_zlp_nn(s, vacuum="mirror", n_replicas=2, max_epochs=50, show_progressbar=False)
