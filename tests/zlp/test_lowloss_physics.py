"""Low-loss physics per replica: ``ZLPResult.fit_plasmon`` (Drude) and ``ZLPResult.kramers_kronig`` (exspy KK)."""

import warnings

import exspy
import hyperspy.api as hs
import matplotlib.figure
import numpy as np
import pytest

from hyperspy_eels_ml._shared.validation import EELSInputError, EnergyRangeError
from hyperspy_eels_ml.simulation.low_loss import _single_scattering, low_loss
from hyperspy_eels_ml.zlp import DrudePlasmon, PlasmonResult
from hyperspy_eels_ml.zlp.physics import _angular, _eels, drude_loss, fit_drude, single_scattering


def _signal(batch, shape, microscope=True):
    s = exspy.signals.EELSSpectrum(batch.spectra.reshape(*shape, -1).astype(np.float64))
    ax = s.axes_manager.signal_axes[0]
    ax.name, ax.units, ax.offset, ax.scale = "Energy loss", "eV", float(batch.energy[0]), 0.05
    if microscope:
        s.set_microscope_parameters(beam_energy=200.0, collection_angle=20.0, convergence_angle=0.0)
    return s


@pytest.fixture(scope="module")
def sim():
    """3x3 metal-like SI (no gap, no surface plasmon: the SSD is Drude x angular factor), plasmon 15-21 eV."""
    b = low_loss(9, energy_offset=-4.0, dispersion=0.05, size=1200, zlp_fwhm=0.5, zlp_tail=(1e-3, 3e-3),
                 band_gap=None, surface_plasmon=0.0, plasmon_energy=(15.0, 21.0), plasmon_width=(3.0, 6.0),
                 t_lambda=(0.2, 0.7), E0=200.0, beta=20.0, counts=(3e5, 1e6), rng=4)
    s = _signal(b, (3, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = s.subtract_zlp_nn(n_replicas=8, max_epochs=300, random_state=0, show_progressbar=False)
    return b, s, r


def test_fit_drude_recovers_parameters_vectorised():
    e = np.linspace(10, 30, 200)
    Ep, G = np.array([15.0, 18.0, 22.0]), np.array([3.0, 5.0, 8.0])
    fac = _angular(e, 200.0, 20.0)
    I = 1e5 * fac * drude_loss(e[None], Ep[:, None], G[:, None])
    out = fit_drude(e, I, np.ones_like(I), Ep + 1.5, G * 1.6, factor=fac, bounds=dict(Ep=(10, 30), gamma=(0.1, 40)))
    np.testing.assert_allclose(out["Ep"], Ep, rtol=1e-4)
    np.testing.assert_allclose(out["gamma"], G, rtol=1e-3)
    assert out["converged"].all() and not out["at_bound"].any()
    # a window on the rising edge only: the best Ep is outside it, flagged
    w = e < 13
    edge = fit_drude(e[w], I[1:2, w], np.ones((1, w.sum())), 12.0, 4.0, factor=fac[w],
                     bounds=dict(Ep=(e[w][0], e[w][-1]), gamma=(0.1, 40)))
    assert edge["at_bound"].all()


def test_fit_drude_agrees_with_hyperspy_model():
    rng = np.random.default_rng(0)
    e = np.linspace(12, 26, 141)
    y = rng.poisson(2e4 * drude_loss(e, 18.3, 4.4) * 5).astype(float)
    s = hs.signals.Signal1D(y)
    s.axes_manager[0].offset, s.axes_manager[0].scale = e[0], e[1] - e[0]
    m = s.create_model()
    m.append(DrudePlasmon(A=5e4, Ep=18.0, width=5.0))
    m.fit()
    ours = fit_drude(e, y[None], np.ones((1, e.size)), 18.0, 5.0)
    comp = m[-1]
    assert abs(ours["Ep"][0] - comp.Ep.value) < 1e-3
    assert abs(ours["gamma"][0] - comp.width.value) < 1e-3


def test_drude_fit_of_exact_single_scattering():
    e = np.arange(1, 900) * 0.05
    one = lambda x: np.array([x], float)  # noqa: E731
    S = _single_scattering(e[None], one(np.inf), one(0.5), one(np.nan), one(18.0), one(5.0), one(0.0), one(200.0),
                           one(20.0), one(0.1), one(5.0))
    w = (e > 14) & (e < 23)
    out = fit_drude(e[w], 1e6 * S[:, w], np.ones((1, w.sum())), 18.5, 6.0, factor=_angular(e[w], 200.0, 20.0))
    assert abs(out["Ep"][0] - 18.0) < 1e-3 and abs(out["gamma"][0] - 5.0) < 1e-3


def test_fit_plasmon_recovers_simulated_truth(sim):
    b, s, r = sim
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = r.fit_plasmon(show_progressbar=False)
    assert isinstance(p, PlasmonResult)
    assert p.Ep.data.shape == (3, 3)
    tE, tG = b.params["plasmon_energy"].reshape(3, 3), b.params["plasmon_width"].reshape(3, 3)
    assert np.all(p.reason.data == 0)
    assert np.all(np.abs(p.Ep.data - tE) < 0.15), p.Ep.data - tE
    assert np.all(np.abs(p.width.data - tG) < 0.4), p.width.data - tG
    assert np.all(p.Ep_lower.data <= p.Ep.data) and np.all(p.Ep.data <= p.Ep_upper.data)
    assert p.Ep.metadata.hyperspy_eels_ml.as_dictionary()
    assert isinstance(p.plot(), matplotlib.figure.Figure)


def test_fit_plasmon_window_without_peak_is_nan_with_reason(sim):
    _, _, r = sim
    with pytest.warns(UserWarning, match="fit_plasmon"):
        p = r.fit_plasmon(energy_range=(6.0, 9.0), show_progressbar=False)
    assert np.all(np.isnan(p.Ep.data)) and np.all(p.reason.data != 0)
    with pytest.raises(EnergyRangeError):
        r.fit_plasmon(energy_range=(9.0, 9.2))


def test_fit_plasmon_lazy_in_lazy_out(sim):
    _, s, r = sim
    rl = r.model.subtract(s.as_lazy(), show_progressbar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pl = rl.fit_plasmon(energy_range=(14.0, 24.0), show_progressbar=False)
        pe = r.fit_plasmon(energy_range=(14.0, 24.0), show_progressbar=False)
    assert pl.is_lazy
    pl.compute()
    np.testing.assert_allclose(pl.Ep.data, pe.Ep.data, rtol=1e-6)


def test_kramers_kronig_matches_exspy_on_truth(sim):
    b, s, r = sim
    with pytest.raises(ValueError, match="exactly one"):
        r.kramers_kronig()
    k = r.kramers_kronig(n=3.0, show_progressbar=False)
    assert k.eps1.data.shape[:2] == (3, 3) and k.thickness.data.shape == (3, 3)
    e = b.energy
    cut = 3 * r.model.fwhm
    ssd = single_scattering((b.zlp + b.inelastic).astype(float)[None], b.zlp.astype(float)[None], e)
    ssd[..., e < cut] = 0
    keep = e > 0.25 * 0.05
    st = _eels(ssd[0][:, keep], e[keep], 200.0, 20.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, out = st.kramers_kronig_analysis(zlp=hs.signals.BaseSignal(b.zlp.sum(1).astype(float)).T, n=3.0,
                                            full_output=True)
    truth = out["thickness"].data.reshape(3, 3)
    assert np.all(np.abs(k.thickness.data / truth - 1) < 0.1), k.thickness.data / truth
    assert np.all(k.thickness_lower.data <= k.thickness_upper.data)
    assert isinstance(k.plot(), matplotlib.figure.Figure)


def test_kramers_kronig_needs_microscope_parameters(sim):
    b, _, r = sim
    s = _signal(b, (3, 3), microscope=False)
    for key in ("beam_energy", "Detector"):
        if s.metadata.has_item(f"Acquisition_instrument.TEM.{key}"):
            s.metadata.Acquisition_instrument.TEM.del_item(key)
    r2 = r.model.subtract(s, show_progressbar=False)
    with pytest.raises(EELSInputError, match="collection angle"):
        r2.kramers_kronig(n=3.0)
