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


def test_non_finite_channels_left_out_and_counted():
    e, x = _spectra(4.5, 0.0, seed=5)
    x[:, 900:905] = np.nan
    x[2, 1500] = np.inf
    est, se, how = estimate_count_gain(e, x, fwhm(e, np.nanmean(x, axis=0)))
    assert abs(est / 4.5 - 1) < 0.25 and np.isfinite(se)
    assert "31 non-finite values left out" in how
    est, se, how = estimate_count_gain(e, np.full_like(x, np.nan), 0.3)
    assert np.isnan(est) and np.isnan(se) and "not estimable" in how and "non-finite" in how


def test_one_spectrum_as_1d():
    e, x = _spectra(4.5, 0.0, seed=6)
    assert estimate_count_gain(e, x[0], 0.3)[0] == pytest.approx(estimate_count_gain(e, x[:1], 0.3)[0])


@pytest.mark.parametrize("kw", [dict(block=0), dict(block=2.5), dict(block=True), dict(fwhm_=-0.3),
                                dict(fwhm_=np.nan), dict(min_fwhm=0), dict(flatness=np.inf), dict(min_terms=0),
                                dict(J=np.ones((2, 10)))])
def test_bad_input_raises(kw):
    e, x = _spectra(4.5, 0.0, seed=2)
    args = dict(energy=e, J=x, fwhm_=0.3)
    args.update(kw)
    with pytest.raises(ParameterError):
        estimate_count_gain(**args)


def test_standard_error_matches_the_spread_over_seeds():
    ests, ses = [], []
    for seed in range(8):
        e, x = _spectra(4.5, 0.0, seed=seed)
        est, se, _ = estimate_count_gain(e, x, fwhm(e, x.mean(axis=0)))
        ests.append(est)
        ses.append(se)
    sd = np.std(ests, ddof=1)
    assert 0.7 < np.median(ses) / sd < 1.5, (np.median(ses), sd)  # 1.73 before the overlap correction


def test_auto_seed_is_resolved_once(monkeypatch):
    from hyperspy_eels_ml._shared.validation import validate_eels
    from hyperspy_eels_ml.zlp import fit as fitmod

    s, _ = thickness_bands_low_loss_si(shape=(4, 6), seed=3)
    v = validate_eels(s, what="test", min_channels=32)
    for rs in (None, np.random.default_rng(1), 7):
        g, source, seed = fitmod.resolve_count_gain(v, None, "auto", "auto", 2000, rs)
        assert isinstance(seed, int) and source.startswith("auto: ")
    assert fitmod.resolve_count_gain(v, None, 2.0, "auto", 2000, None) == (2.0, "user", None)


def test_fit_zlp_accepts_auto():
    from hyperspy_eels_ml.zlp import fit_zlp

    s, _ = thickness_bands_low_loss_si(shape=(4, 6), seed=3)
    s.data = s.data * 4.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = fit_zlp(s, n_replicas=2, max_epochs=50, random_state=0, show_progressbar=False, count_gain="auto")
    assert m.params["count_gain_source"].startswith("auto: ")
    assert 0.75 * 4.5 < m.params["count_gain"] < 1.25 * 4.5


def test_auto_not_estimable_warns_and_uses_1():
    from hyperspy_eels_ml._shared.validation import validate_eels
    from hyperspy_eels_ml.zlp import fit as fitmod

    s, _ = thickness_bands_low_loss_si(shape=(4, 6), seed=3)
    s = s.isig[-1.0:2.0]  # too short for a 4 x 32-channel window beyond 5 FWHM
    v = validate_eels(s, what="test", min_channels=32)
    with pytest.warns(UserWarning, match="not estimable"):
        g, source, seed = fitmod.resolve_count_gain(v, None, "auto", "auto", 2000, 0)
    assert g == 1.0 and source.startswith("auto failed, 1.0 used: not estimable") and seed == 0


def test_gain_from_the_difference_of_two_spectra():
    """variance= / reference=: the third differences of ``A - s B`` (structure common to both cancels) weighted by
    ``A + s**2 B`` on windows flat in A recover g; the defaults are J itself (same numbers as before)."""
    from hyperspy_eels_ml.zlp.features import count_gain_terms

    rng = np.random.default_rng(0)
    ef = np.arange(2.0, 60.0, 0.01)
    mu = 2e4 * (ef / 2.0) ** -1.5 + 50.0 * np.sin(ef)  # structure that the difference cancels
    a, b = (4.5 * rng.poisson(mu / 4.5) for _ in range(2))
    s = 0.5  # B recorded with half the dose
    b = 4.5 * rng.poisson(s * mu / 4.5) / s
    est, se, how = estimate_count_gain(ef, a - b, 0.3, variance=a + b / s, reference=a, min_terms=10)
    assert abs(est / 4.5 - 1) < 0.25 and 0 < se < est, how  # 3.96-4.99 over seeds 0-7 (se 0.5-0.6)
    e, x = _spectra(4.5, 0.0, seed=7)
    fw = fwhm(e, x.mean(axis=0))
    D2, M = count_gain_terms(e, x, fw)
    D2v, Mv = count_gain_terms(e, x, fw, variance=x, reference=x.copy())
    np.testing.assert_array_equal(D2, D2v)
    np.testing.assert_array_equal(M, Mv)
    with pytest.raises(ParameterError, match="variance must have the shape of J"):
        count_gain_terms(e, x, fw, variance=x[:2])


def test_noise_correlation_bench_uses_the_package_terms(monkeypatch):
    """benchmarks/bench_zlp_noise_correlation.py's pair scan calls the package's count_gain_terms (no copy of the
    third differences): its g(L) is the package's on each pair with at least 10 windows, median over the pairs."""
    from hyperspy_eels_ml.zlp.features import count_gain_terms, gain_from_terms

    import os

    monkeypatch.syspath_prepend(os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
    import bench_zlp_noise_correlation as bench
    from scipy.signal import savgol_filter

    e, x = _spectra(4.5, 0.0, seed=8)
    fw = fwhm(e, x.mean(axis=0))
    J = x[:3]
    got = bench.pair_scan(e, J, fw, max_pairs=3)
    sel = np.flatnonzero(e > 5 * fw)
    sl = slice(sel[0], sel[-1] + 1)
    for L in (2, 32):
        gs = []
        for i, j in ((0, 1), (0, 2), (1, 2)):
            a, b = J[i, sl], J[j, sl]
            s = savgol_filter(a, 201, 2) / np.maximum(savgol_filter(b, 201, 2), 1e-9)
            D2, M = count_gain_terms(e[sl], a - s * b, fw, block=L, variance=a + s**2 * b, reference=a)
            if D2.size >= 10:
                gs.append(gain_from_terms(D2, M))
        assert got[L] == pytest.approx(np.median(gs), rel=1e-12)
    assert "d3 = " not in open(bench.__file__).read()  # the third-difference kernel is not repeated there
