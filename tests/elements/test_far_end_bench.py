"""Session 14 (helper z33): the statistics of benchmarks/bench_identify_far_end.py on known synthetic spectra."""
import importlib
import pathlib

import numpy as np


def _bench(monkeypatch):
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))
    return importlib.import_module("bench_identify_far_end")


def _axis(B):
    return B.E_OFF + B.DISP * np.arange(B.SIZE)


def test_exponents_jump_and_rise_of_noise_free_spectra(monkeypatch):
    B = _bench(monkeypatch)
    E = _axis(B)
    bg = 1e6 * (E / 300.0) ** -3.0
    step = np.where(E >= B.SI_K, 1.5, 1.0)  # J - 1 = 0.5, a sharp Si K
    ramp = 1.0 + 0.5 * np.clip((E - B.SI_K) / 100.0, 0.0, 1.0)  # the same jump reached 100 eV above the onset
    drift = np.exp(-0.5 * (np.log(E) - np.log(300.0)) ** 2)  # local exponent 3 + ln(E / 300)
    st = B.statistics(E, np.stack([bg * step, bg * ramp, bg * drift]))
    assert np.allclose(st["r_pre_o"][:2], 3.0, atol=1e-3) and np.allclose(st["dr"][:2], 0.0, atol=1e-3)
    assert np.isclose(st["dr"][2], np.log(1690.0 / 460.0), atol=0.05)  # r rises by ln(E2/E1) between the windows
    assert np.isclose(st["si_jump"][0], 0.5, atol=1e-3)
    assert st["si_rise50"][0] <= 1.0 and 45.0 <= st["si_rise50"][1] <= 55.0
    assert np.all(st["rel_noise"][:2] < 1e-3)  # no noise


def test_ripple_above_noise(monkeypatch):
    B = _bench(monkeypatch)
    E = _axis(B)
    rng = np.random.default_rng(3)
    bg = 1e4 * (E / 300.0) ** -2.5
    flat = rng.poisson(np.tile(bg, (8, 1))).astype(float)
    wavy = rng.poisson(np.tile(bg * (1.0 + 0.06 * np.sin(2 * np.pi * E / 200.0)), (8, 1))).astype(float)
    _, ex_flat = B.ripple(E, flat, 650, 1500, 10)
    _, ex_wavy = B.ripple(E, wavy, 650, 1500, 10)
    # Poisson noise alone (10-eV bin means with 0.8-2.4 % noise): nothing above it but sampling scatter
    assert np.all(ex_flat < 0.015) and np.median(ex_flat) < 0.006
    assert np.all(np.abs(ex_wavy - 0.06 / np.sqrt(2)) < 0.006)  # the rms of the sinusoid


def test_noise_estimate_is_unbiased_for_white_and_correlated_noise(monkeypatch):
    B = _bench(monkeypatch)
    from scipy.ndimage import gaussian_filter1d

    rng = np.random.default_rng(5)
    level = np.linspace(400.0, 300.0, 280)
    white = 1.0 + 0.1 * rng.normal(size=(64, 280))
    rel, gam = B._noise(level * white)
    assert abs(np.mean(rel) - 0.1) < 0.004 and abs(np.mean(gam[:, 1] / gam[:, 0])) < 0.03
    psf = gaussian_filter1d(rng.normal(size=(64, 280)), 1.0, axis=1)
    psf /= psf.std(axis=1, keepdims=True)
    rel_c, gam_c = B._noise(level * (1.0 + 0.1 * psf))
    lag1 = np.exp(-1 / 4)  # autocorrelation of Gaussian-smoothed white noise, sigma 1: exp(-k^2 / (4 sigma^2))
    assert abs(np.mean(rel_c) - 0.1) < 0.006 and abs(np.mean(gam_c[:, 1] / gam_c[:, 0]) - lag1) < 0.05
