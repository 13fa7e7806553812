"""classify_oxidation(remove_background=True) on spectra whose pre-edge power law cannot be fitted (counts <= 0 there,
as in background-subtracted reference spectra): the pixels are masked with snr NaN and a UserWarning says why and
what to do (before: masked with snr 0 and nothing said, like a pixel without an edge)."""

import warnings

import numpy as np
import pytest
from exspy.signals import EELSSpectrum

import hyperspy_eels_ml  # noqa: F401
from hyperspy_eels_ml.oxidation import classify_oxidation
from hyperspy_eels_ml.simulation import white_line_spectra

SEED = 6262


def _sig(data, energy):
    s = EELSSpectrum(np.asarray(data, dtype=np.float32))
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.scale, ax.offset, ax.name = "eV", float(energy[1] - energy[0]), float(energy[0]), "Energy loss"
    return s


def _mixed(n=8):
    """n spectra with a power-law background, then n background-subtracted ones (pre-edge: read noise around 0)."""
    kw = dict(dispersion=0.2, energy_offset=600.0, size=500, counts=(3000.0, 6000.0), rng=SEED)
    pl = white_line_spectra(n, ["Mn2+", "Mn3+", "Mn4+"], background="powerlaw", **kw)
    sub = white_line_spectra(n, ["Mn2+", "Mn3+", "Mn4+"], background=None, read_noise=5.0, **kw)
    e = sub.energy
    pre = e < 630.0  # as a background-subtracted file: the pre-edge is noise around 0
    coef = np.polyfit(e[pre], sub.spectra[:, pre].T, 1)
    flat = sub.spectra - (coef[0][:, None] * e[None] + coef[1][:, None])
    return _sig(np.concatenate([pl.spectra, flat]), pl.energy), n


def _failed_warnings(w):
    return [str(x.message) for x in w if issubclass(x.category, UserWarning) and "could not be fitted" in str(x.message)]


def test_unfitted_background_is_masked_with_nan_snr_and_a_warning():
    s, n = _mixed()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r = classify_oxidation(s, "Mn", model="valence", show_progressbar=False)
    msgs = _failed_warnings(w)
    assert len(msgs) == 1, [str(x.message) for x in w]
    snr, mask = np.asarray(r.snr.data), np.asarray(r.mask.data)
    failed = np.isnan(snr)
    assert failed[n:].any()  # pre-edge halves of opposite sign: no power law (seeded draw)
    assert f"{failed.sum()} of {2 * n} pixel(s)" in msgs[0] and "remove_background=False" in msgs[0]
    assert w[[str(x.message) for x in w].index(msgs[0])].filename == __file__  # points at the user's call
    assert mask[failed].all()
    assert np.isfinite(snr[:n]).all() and (~mask[:n]).sum() > n // 2  # the power-law pixels are classified


@pytest.mark.parametrize("model", ["valence", "svm"])
def test_lazy_warns_on_compute_once(model):
    s, n = _mixed()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r = classify_oxidation(s.as_lazy(), "Mn", model=model, show_progressbar=False)
        assert not _failed_warnings(w)  # nothing computed yet
        r.compute(show_progressbar=False)
        r.compute(show_progressbar=False)
    assert len(_failed_warnings(w)) == 1
    assert np.isnan(np.asarray(r.snr.data)[n:]).any() and np.isfinite(np.asarray(r.snr.data)[:n]).all()


def test_background_free_data_with_remove_background_false_says_nothing():
    s, n = _mixed()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r = classify_oxidation(s.inav[n:], "Mn", model="valence", remove_background=False, show_progressbar=False)
    assert not _failed_warnings(w)
    assert np.isfinite(np.asarray(r.snr.data)).all()


def test_no_pixel_classified_warns():
    """An element absent from the data: every pixel masked, and a warning says why (nothing silent)."""
    import exspy

    rng = np.random.default_rng(3)
    e = 600.0 + 0.2 * np.arange(600)
    data = (1e4 * (e / 600.0) ** -3)[None] * np.ones((3, 1)) + rng.normal(0, 5, (3, e.size))  # power law, no edge
    s = exspy.signals.EELSSpectrum(data.astype(np.float32))
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.scale, ax.offset = "eV", 0.2, 600.0
    with pytest.warns(UserWarning, match=r"no pixel was classified.*min_snr=5.*Is Mn in the data"):
        r = classify_oxidation(s, "Mn", metals=False, show_progressbar=False)
    assert int(r.n_masked) == 3
    b = white_line_spectra(3, ["Mn3+"], dispersion=0.2, energy_offset=600.0, size=600, background="powerlaw",
                           counts=(3000.0, 6000.0), rng=SEED)
    with warnings.catch_warnings():  # the same call on spectra with the edge: no such warning
        warnings.filterwarnings("error", message=".*no pixel was classified")
        r = classify_oxidation(_sig(b.spectra, b.energy), "Mn", metals=False, show_progressbar=False)
    assert int(r.n_masked) < 3
