"""count_gain="auto": the detector's counts per electron estimated from the data (photon transfer, long-run variance)."""

import warnings

import numpy as np
import pytest

import hyperspy_eels_ml  # noqa: F401  (attaches the methods)
from hyperspy_eels_ml import ParameterError
from hyperspy_eels_ml.simulation import low_loss, thickness_bands_low_loss_si
from hyperspy_eels_ml.simulation.realism import convolve_rows, psf_kernel
from hyperspy_eels_ml.zlp.features import estimate_count_gain, fwhm


def _spectra(g, rho, seed):
    b = low_loss(6, gain=g, zlp_fwhm=0.3, counts=(2e6, 4e6), band_gap=1.5, rng=seed)
    x = np.asarray(b.spectra, float)
    if rho:
        k, lag1 = psf_kernel(np.full(x.shape[0], rho))
        x = convolve_rows(x, k)
    return b.energy, x


@pytest.mark.parametrize("g", [0.5, 4.5, 15.0])
@pytest.mark.parametrize("rho", [0.0, 0.9])
def test_estimate_recovers_counts_per_electron(g, rho):
    e, x = _spectra(g, rho, seed=2)
    est, se, how = estimate_count_gain(e, x, fwhm(e, x.mean(axis=0)))
    assert abs(est / g - 1) < 0.25, how
    assert 0 < se < est


def test_correlated_noise_not_underestimated_like_neighbour_differences():
    e, x = _spectra(4.5, 0.9, seed=4)
    est, _, _ = estimate_count_gain(e, x, fwhm(e, x.mean(axis=0)))
    far = e > 5
    d = np.diff(x[:, far], axis=1)
    naive = float(np.median(d**2 / (x[:, far][:, 1:] + x[:, far][:, :-1])) / 0.4549)  # neighbour differences
    assert naive < 0.5 * 4.5 < 0.75 * 4.5 < est


def test_not_estimable_gives_nan_with_reason():
    e = np.linspace(-1, 1, 64)
    est, se, how = estimate_count_gain(e, np.ones((1, 64)) * 100, 0.1)
    assert np.isnan(est) and np.isnan(se) and "not estimable" in how


def test_subtract_auto_records_value_and_source():
    s, _ = thickness_bands_low_loss_si(shape=(4, 6), seed=3)
    s.data = s.data * 4.5  # 4.5 counts per electron
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = s.subtract_zlp_nn(n_replicas=4, max_epochs=200, random_state=0, show_progressbar=False,
                              count_gain="auto")
    p = r.model.params
    assert p["count_gain_source"].startswith("auto: ")
    assert 0.75 * 4.5 < p["count_gain"] < 1.25 * 4.5
    assert float(r.count_gain) == pytest.approx(p["count_gain"])
    with pytest.raises(ParameterError):
        s.subtract_zlp_nn(n_replicas=4, count_gain="guess")
