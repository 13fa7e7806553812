"""Low-loss generator: ZLP shape, thickness, band gap, vacuum, truth decomposition, bad input."""

import numpy as np
import pytest

from hyperspy_eels_ml.simulation.low_loss import low_loss, zero_loss_peak


def test_zero_loss_peak_unit_area_and_fwhm():
    e = np.arange(-20, 20, 0.001)
    for fwhm, a in [(0.05, 0.0), (0.5, 0.3), (1.5, 0.2)]:
        z = zero_loss_peak(e, fwhm, asymmetry=a, tail=0.0)
        assert np.trapezoid(z, e) == pytest.approx(1.0, rel=1e-3)
        above = e[z >= z.max() / 2]
        assert above[-1] - above[0] == pytest.approx(fwhm, rel=0.02)
        if a > 0:  # longer loss side
            assert (above[-1] - e[np.argmax(z)]) > (e[np.argmax(z)] - above[0])
    with_tail = zero_loss_peak(e, 0.3, tail=0.01, tail_width=1.0)
    assert np.trapezoid(with_tail, e) == pytest.approx(1.0, rel=0.02)
    assert with_tail[np.searchsorted(e, 5.0)] > 100 * zero_loss_peak(e, 0.3)[np.searchsorted(e, 5.0)]


def test_truth_decomposition_and_thickness():
    b = low_loss(20, energy_offset=-5, dispersion=0.05, size=8000, t_lambda=(0.1, 1.2), noise=False, rng=0)
    np.testing.assert_allclose(b.spectra, b.zlp + b.inelastic, rtol=1e-5, atol=1e-3)
    # log-ratio thickness over a window that holds the plural scattering
    tl = np.log(b.spectra.sum(1) / b.zlp.sum(1))
    np.testing.assert_allclose(tl, b.params["t_lambda"], rtol=0.03)


def test_vacuum_spectra_have_no_inelastic_signal():
    b = low_loss(50, vacuum_fraction=0.5, noise=False, rng=1)
    vac = b.params["vacuum"]
    assert vac.any() and (~vac).any()
    assert np.all(b.inelastic[vac] < 1e-6 * b.zlp[vac].max())
    assert np.all(b.params["t_lambda"][vac] == 0)


def test_band_gap_onset():
    """Inelastic signal rises at Eg with the (E - Eg)^b law (thin sample, narrow ZLP)."""
    for b_exp in (0.5, 1.5):
        b = low_loss(1, energy_offset=-2, dispersion=0.005, size=2000, band_gap=2.0, gap_exponent=b_exp,
                     zlp_fwhm=0.02, zlp_tail=0.0, t_lambda=0.05, noise=False, rng=2, interband=0.3,
                     interband_decay=10.0, surface_plasmon=0.0)
        e, inel = b.energy, b.inelastic[0]
        below = inel[(e > 0.5) & (e < 1.9)].max()
        assert below < 1e-3 * inel[(e > 2.5) & (e < 3.0)].mean()
        sel = (e > 2.1) & (e < 2.6)
        slope = np.polyfit(np.log(e[sel] - 2.0), np.log(inel[sel]), 1)[0]
        assert slope == pytest.approx(b_exp, abs=0.15)


def test_plasmon_position():
    b = low_loss(1, energy_offset=-2, dispersion=0.05, size=1200, plasmon_energy=22.0, plasmon_width=4.0,
                 t_lambda=0.1, band_gap=None, surface_plasmon=0.0, noise=False, rng=3)
    e = b.energy
    assert e[np.argmax(np.where(e > 5, b.inelastic[0], 0))] == pytest.approx(22.0, abs=1.0)


def test_deterministic_and_noise():
    a = low_loss(4, rng=5)
    b = low_loss(4, rng=5)
    np.testing.assert_array_equal(a.spectra, b.spectra)
    assert np.all(a.spectra >= 0)


def test_bad_input():
    with pytest.raises(ValueError, match="must contain 0 eV"):
        low_loss(2, energy_offset=5.0)
    with pytest.raises(ValueError, match="counts must be positive"):
        low_loss(2, counts=-1)
    with pytest.raises(ValueError, match="zlp_fwhm must be positive"):
        low_loss(2, zlp_fwhm=0.0)


def test_monochromated_zlp_narrower_than_a_channel_keeps_its_area():
    b = low_loss(3, energy_offset=-2, dispersion=0.025, size=400, zlp_fwhm=0.01, zlp_shift=np.array([0.0, 0.005, 0.012]),
                 zlp_tail=0.0, t_lambda=0.0, noise=False, rng=0)
    np.testing.assert_allclose(b.zlp.sum(1), b.params["counts"], rtol=1e-3)
