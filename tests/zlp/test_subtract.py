"""subtract_zlp_nn: accuracy and calibration on simulated truth, lazy/distributed, persistence, bad input."""

import sys
import warnings

import dask.array as da
import numpy as np
import pytest

import hyperspy_eels_ml  # noqa: F401  (attaches the methods)
from hyperspy_eels_ml import (
    EmptySignalError,
    EnergyRangeError,
    NonFiniteDataError,
    NotEELSSignalError,
)
from hyperspy_eels_ml.simulation import thickness_bands_low_loss_si
from hyperspy_eels_ml.zlp import BandGap, ZLPModel, ZLPNotCentredError, fit_onset, fit_zlp, subtract_zlp_nn
from hyperspy_eels_ml.zlp.fit import failed_replicas

N_REP = 24


@pytest.fixture(scope="module")
def bench():
    s, truth = thickness_bands_low_loss_si(shape=(10, 10), seed=3)
    before = s.data.copy()
    r = s.subtract_zlp_nn(n_replicas=N_REP, random_state=1, show_progressbar=False)
    return s, truth, r, before


def _window(s, lo=0.5, hi=5.0):
    e = s.axes_manager.signal_axes[0].axis
    return (e >= lo) & (e <= hi)


def test_accuracy_close_to_poisson_floor(bench):
    s, truth, r, _ = bench
    w = _window(s)
    ti = truth.inelastic.data[..., w]
    rel = np.linalg.norm(r.inelastic.data[..., w] - ti) / np.linalg.norm(ti)
    floor = np.linalg.norm((s.data - truth.zlp.data)[..., w] - ti) / np.linalg.norm(ti)
    # EELSfitter 3.1.0 on this benchmark: 0.247 (floor 0.137); the target is <= 0.17
    assert rel <= 1.2 * floor, (rel, floor)
    thin = truth.t_lambda < 0.3
    rel_thin = np.linalg.norm((r.inelastic.data[..., w] - ti)[thin]) / np.linalg.norm(ti[thin])
    assert rel_thin < 0.3, rel_thin
    e = s.axes_manager.signal_axes[0].axis
    # sub-gap bias (truth ~0.2 counts/channel) within the Poisson noise
    sub = (e >= 1.0) & (e < 1.6)
    bias = np.mean(r.inelastic.data[..., sub] - truth.inelastic.data[..., sub])
    noise = np.sqrt(np.mean(s.data[..., sub]))
    assert abs(bias) < noise, (bias, noise)


def test_band_is_calibrated(bench):
    s, truth, r, _ = bench
    w = _window(s)
    ti = truth.inelastic.data[..., w]
    inside = (r.inelastic_lower.data[..., w] <= ti) & (ti <= r.inelastic_upper.data[..., w])
    assert 0.6 <= inside.mean() <= 0.8, inside.mean()
    zin = (r.zlp_lower.data <= r.zlp.data) & (r.zlp.data <= r.zlp_upper.data)
    assert zin.all()


def test_no_failed_replicas_left(bench):
    _, _, r, _ = bench
    rep = r.replica_report
    assert rep["kept"] + rep["dropped"] == N_REP
    assert rep["kept"] >= 0.8 * N_REP
    v = r.model.diagnostics["val_chi2"]
    assert not failed_replicas(v).any()


def test_failure_detector():
    v = np.r_[np.random.default_rng(0).normal(2.0, 0.2, 40), 40.0, 105.0]
    f = failed_replicas(v)
    assert f[-2:].all() and not f[:-2].any()


def test_outputs_are_signals_on_input_axes(bench):
    s, _, r, before = bench
    for name in ("inelastic", "inelastic_lower", "inelastic_upper", "zlp", "zlp_lower", "zlp_upper"):
        out = getattr(r, name)
        assert type(out).__name__ == "EELSSpectrum"
        assert out.data.shape == s.data.shape
        assert out.axes_manager.signal_axes[0].offset == s.axes_manager.signal_axes[0].offset
        assert out.axes_manager.navigation_axes[0].units == s.axes_manager.navigation_axes[0].units
        prov = out.metadata.hyperspy_eels_ml
        assert prov.function == "hyperspy_eels_ml.zlp.subtract_zlp_nn"
    np.testing.assert_array_equal(s.data, before)  # the input is untouched
    assert r.thickness.data.shape == s.data.shape[:-1]
    assert np.all(r.thickness_lower.data <= r.thickness.data) and np.all(r.thickness.data <= r.thickness_upper.data)


def test_thickness_matches_log_ratio_of_true_zlp(bench):
    s, truth, r, _ = bench
    oracle = np.log(np.clip(s.data, 0, None).sum(-1) / truth.zlp.data.sum(-1))
    assert np.max(np.abs(r.thickness.data - oracle)) < 0.02
    assert np.corrcoef(r.thickness.data.ravel(), truth.t_lambda.ravel())[0, 1] > 0.99


def test_lazy_equals_eager_and_chunking_independent(bench):
    s, _, r, _ = bench
    lazy = s.as_lazy()
    lazy.data = lazy.data.rechunk((3, 4, -1))
    rl = r.model.subtract(lazy, show_progressbar=False)
    assert rl.inelastic._lazy and isinstance(rl.zlp.data, da.Array)
    rl.compute()
    np.testing.assert_allclose(rl.inelastic.data, r.inelastic.data, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(rl.zlp_upper.data, r.zlp_upper.data, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(rl.thickness.data, r.thickness.data, rtol=1e-5, atol=1e-6)


def test_lazy_input_gives_lazy_output_and_trains_without_loading_all():
    s, _ = thickness_bands_low_loss_si(shape=(6, 10), seed=5, lazy=True)
    r = s.subtract_zlp_nn(n_replicas=8, max_epochs=300, random_state=0, show_progressbar=False)
    assert r.inelastic._lazy and r.thickness._lazy
    r.compute()
    assert np.isfinite(r.inelastic.data).all()


@pytest.mark.distributed
def test_distributed_equals_local(bench):
    from dask.distributed import Client, LocalCluster

    s, _, r, _ = bench
    lazy = s.as_lazy()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        rl = r.model.subtract(lazy, show_progressbar=False)
        rl.compute()
        tf_loaded = client.run(lambda: "tensorflow" in sys.modules)
    np.testing.assert_allclose(rl.inelastic.data, r.inelastic.data, rtol=1e-5, atol=1e-3)
    assert not any(tf_loaded.values()), "inference must not import TensorFlow on the workers"


def test_model_save_load_round_trip(bench, tmp_path):
    s, _, r, _ = bench
    path = tmp_path / "zlp_model.npz"
    r.model.save(path)
    with np.load(path, allow_pickle=False) as f:  # plain arrays only
        assert "header" in f.files
    m2 = ZLPModel.load(path)
    assert m2.n_replicas == r.model.n_replicas
    r2 = m2.subtract(s, show_progressbar=False)
    np.testing.assert_allclose(r2.inelastic.data, r.inelastic.data, rtol=1e-6, atol=1e-4)


def test_result_signals_save_load(bench, tmp_path):
    import hyperspy.api as hs

    _, _, r, _ = bench
    r.inelastic.save(tmp_path / "inel.hspy")
    back = hs.load(tmp_path / "inel.hspy")
    np.testing.assert_array_equal(back.data, r.inelastic.data)
    assert back.metadata.hyperspy_eels_ml.function == "hyperspy_eels_ml.zlp.subtract_zlp_nn"


def test_band_gap_replica_fit_matches_truth_fit(bench):
    s, truth, r, _ = bench
    rng_ = (1.0, 3.0)
    g = r.fit_band_gap(rng_, exponent=1.5, show_progressbar=False)
    e = s.axes_manager.signal_axes[0].axis
    w = (e >= rng_[0]) & (e <= rng_[1])
    eg_grid = np.arange(0.0, 3.0 - 0.075, 0.0125)
    eg_truth, _, _ = fit_onset(e[w], truth.inelastic.data[..., w], 1.0 / np.clip(s.data[..., w], 1, None),
                               eg_grid, [1.5])
    # our estimate agrees with the same fit on the noise-free truth (the model bias of A(E-Eg)^b is
    # common to both and characterised separately)
    assert np.median(np.abs(g.Eg.data - eg_truth)) < 0.1
    assert np.mean((g.Eg_lower.data <= g.Eg.data) & (g.Eg.data <= g.Eg_upper.data)) == 1.0
    assert np.all(g.b.data == 1.5)
    assert g.Eg.data.shape == s.data.shape[:-1]


def test_band_gap_component_agrees_with_grid_fit():
    import exspy

    e = np.arange(0.5, 3.5, 0.025)
    rng = np.random.default_rng(0)
    y = 40 * np.clip(e - 1.55, 0, None) ** 1.5 + rng.normal(0, 0.5, e.size)
    s = exspy.signals.EELSSpectrum(y)
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale, ax.units = e[0], 0.025, "eV"
    s.set_microscope_parameters(beam_energy=200, convergence_angle=10, collection_angle=20)
    m = s.create_model(auto_background=False, auto_add_edges=False)
    comp = BandGap(A=10, Eg=1.3, b=1.5)
    comp.b.free = False
    m.append(comp)
    m.fit(bounded=True)
    eg_grid, _, _ = fit_onset(e, y, np.ones_like(e), np.arange(1.0, 2.0, 0.0125), [1.5])
    assert abs(comp.Eg.value - 1.55) < 0.03
    assert abs(comp.Eg.value - float(eg_grid)) < 0.02


def test_band_gap_component_registered_with_hyperspy():
    from hyperspy.extensions import ALL_EXTENSIONS

    entry = ALL_EXTENSIONS["components1D"][BandGap._id_name]
    assert entry["module"] == "hyperspy_eels_ml.zlp.components" and entry["class"] == "BandGap"


def test_drude_plasmon_component_registered_and_restored_from_a_saved_model(tmp_path):
    import hyperspy.api as hs
    from hyperspy.extensions import ALL_EXTENSIONS

    from hyperspy_eels_ml.zlp import DrudePlasmon

    entry = ALL_EXTENSIONS["components1D"][DrudePlasmon._id_name]
    assert entry["module"] == "hyperspy_eels_ml.zlp.components" and entry["class"] == "DrudePlasmon"
    e = np.arange(2.0, 60.0, 0.1)
    truth = DrudePlasmon(A=50.0, Ep=16.7, width=3.5)
    s = hs.signals.Signal1D(truth.function(e) + 0.01)
    s.axes_manager[0].offset, s.axes_manager[0].scale, s.axes_manager[0].units = e[0], 0.1, "eV"
    m = s.create_model()
    m.append(DrudePlasmon(A=30.0, Ep=15.0, width=5.0))
    m.fit()
    assert abs(m[-1].Ep.value - 16.7) < 0.05 and abs(m[-1].width.value - 3.5) < 0.05
    m.store("fit")
    s.save(tmp_path / "m.hspy")
    m2 = hs.load(tmp_path / "m.hspy").models.restore("fit")
    assert type(m2[-1]).__name__ == "DrudePlasmon"
    assert abs(m2[-1].Ep.value - m[-1].Ep.value) < 1e-9


def test_single_spectrum_and_vacuum_reference():
    s, truth = thickness_bands_low_loss_si(shape=(12,), seed=7)
    vac, _ = thickness_bands_low_loss_si(shape=(3,), t_lambda=(0.0,), seed=8)
    one = s.inav[4]
    r = subtract_zlp_nn(one, vacuum=vac, n_replicas=8, max_epochs=400, random_state=0, show_progressbar=False)
    assert r.inelastic.data.shape == one.data.shape
    assert r.model.clusters["vacuum"].sum() == 1
    assert r.thickness.data.size == 1  # HyperSpy scalar signal


# ----------------------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def small():
    s, _ = thickness_bands_low_loss_si(shape=(4,), seed=2)
    return s


def test_error_no_zero_in_axis(small):
    with pytest.raises(EnergyRangeError, match="contains 0 eV"):
        subtract_zlp_nn(small.isig[1.0:], n_replicas=4)


def test_error_zlp_not_centred(small):
    s = small.deepcopy()
    s.axes_manager.signal_axes[0].offset += 0.6
    with pytest.raises(ZLPNotCentredError, match="align_zero_loss_peak"):
        subtract_zlp_nn(s, n_replicas=4)


def test_error_too_few_channels(small):
    with pytest.raises(EmptySignalError, match="at least 32 channels"):
        subtract_zlp_nn(small.isig[-0.3:0.3], n_replicas=4)


def test_error_nan_and_not_eels(small):
    s = small.deepcopy()
    s.data[1, 100] = np.nan
    with pytest.raises(NonFiniteDataError):
        subtract_zlp_nn(s, n_replicas=4)
    from hyperspy.signals import Signal1D

    with pytest.raises(NotEELSSignalError):
        subtract_zlp_nn(Signal1D(small.data), n_replicas=4)


def test_error_vacuum_on_other_axis(small):
    with pytest.raises(EnergyRangeError, match="vacuum"):
        fit_zlp(small, vacuum=small.isig[:-5], n_replicas=4)


def test_negative_counts_warn_and_are_kept():
    s, _ = thickness_bands_low_loss_si(shape=(6,), seed=4, counts=2e4)
    s.data -= 5.0  # over-subtracted dark reference
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        r = subtract_zlp_nn(s, n_replicas=4, max_epochs=200, random_state=0, show_progressbar=False)
    assert any("negative" in str(w.message) for w in rec)
    assert (r.inelastic.data < 0).any()  # signed residuals, never clipped


def test_retraining_steps_are_reported(monkeypatch):
    """A replica that fails its first training is retrained; the steps of that second run are in the diagnostics
    (``retrain_epochs``), not hidden behind ``epochs`` (the first run only)."""
    import hyperspy_eels_ml.zlp.fit as zfit

    s, _ = thickness_bands_low_loss_si(shape=(3, 3), seed=4)
    calls = []

    def first_fails(val_chi2):  # the real rule, but replica 0 "fails" its first training
        out = failed_replicas(val_chi2)
        if not calls:
            out = out.copy()
            out[0] = True
        calls.append(1)
        return out

    monkeypatch.setattr(zfit, "failed_replicas", first_fails)
    m = fit_zlp(s, n_replicas=4, max_epochs=300, random_state=0, show_progressbar=False)
    d = m.diagnostics
    assert int(d["n_retrained"]) >= 1
    assert 0 < int(d["retrain_epochs"]) <= 300
    assert 0 < int(d["epochs"]) <= 300
    m0 = fit_zlp(s, n_replicas=4, max_epochs=300, random_state=0, show_progressbar=False)  # the real rule alone
    assert (int(m0.diagnostics["n_retrained"]) == 0) == (int(m0.diagnostics["retrain_epochs"]) == 0)
