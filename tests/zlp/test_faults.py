"""subtract_zlp_nn fault table (issue 9): parameters, model files, warnings, scale invariance."""

import warnings
import zipfile

import numpy as np
import pytest

import hyperspy_eels_ml  # noqa: F401  (attaches the methods)
from hyperspy_eels_ml import EnergyRangeError, ModelFileError, ParameterError
from hyperspy_eels_ml.simulation import thickness_bands_low_loss_si
from hyperspy_eels_ml.zlp import ZLPModel, fit_zlp, subtract_zlp_nn


@pytest.fixture(scope="module")
def small():
    s, truth = thickness_bands_low_loss_si(shape=(3, 4), seed=2)
    return s, truth


@pytest.fixture(scope="module")
def model(small):
    s, _ = small
    return fit_zlp(s, n_replicas=4, max_epochs=100, random_state=0, show_progressbar=False)


BAD_PARAMETERS = [
    ("n_replicas", "4"), ("n_replicas", 2.5), ("n_replicas", 1), ("n_clusters", 0), ("n_clusters", -1),
    ("hidden", (0,)), ("hidden", ()), ("hidden", 5), ("max_epochs", 0), ("max_training_pixels", 0),
    ("learning_rate", 0.0), ("learning_rate", -0.1), ("learning_rate", float("nan")), ("count_gain", 0),
    ("count_gain", -1.0), ("patience", 0), ("dE1", -1.0), ("dE1", 0.0), ("dE2", -2.0), ("dE1", "1"),
    ("random_state", 1.5), ("random_state", -1), ("dark_level", "dark"), ("dark_level", float("inf")),
]


@pytest.mark.parametrize("name,value", BAD_PARAMETERS, ids=[f"{n}={v!r}" for n, v in BAD_PARAMETERS])
def test_bad_parameter_is_refused_up_front(small, name, value):
    s, _ = small
    with pytest.raises(ParameterError, match=name):
        subtract_zlp_nn(s, **{name: value}, show_progressbar=False)


def test_dE1_inside_the_zlp_core_is_refused(small):
    s, _ = small
    with pytest.raises(EnergyRangeError, match="inside the zero-loss peak"):
        fit_zlp(s, dE1=0.05, n_replicas=2, max_epochs=1, show_progressbar=False)


def test_exponent_must_be_positive(small, model):
    s, _ = small
    r = model.subtract(s, show_progressbar=False)
    for bad in (0.0, -1.5, float("nan"), "1.5", "direct"):
        with pytest.raises(ParameterError, match="exponent"):
            r.fit_band_gap((1.0, 3.0), exponent=bad, show_progressbar=False)


def test_subtract_count_gain_validated(small, model):
    s, _ = small
    with pytest.raises(ParameterError, match="count_gain"):
        model.subtract(s, count_gain=0)


# ----------------------------------------------------------------------------- model files


def test_save_without_suffix_round_trips(model, tmp_path):
    written = model.save(tmp_path / "x")
    assert written.endswith("x.npz") and (tmp_path / "x.npz").is_file()
    m2 = ZLPModel.load(tmp_path / "x")
    assert m2.n_replicas == model.n_replicas
    np.testing.assert_array_equal(m2.ensemble.weights[0], model.ensemble.weights[0])


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        ZLPModel.load(tmp_path / "nothing.npz")


def test_corrupt_model_file(model, tmp_path):
    p = tmp_path / "m.npz"
    model.save(p)
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])  # truncated
    with pytest.raises(ModelFileError, match="m.npz"):
        ZLPModel.load(p)
    p.write_bytes(b"not a zip file at all")
    with pytest.raises(ModelFileError):
        ZLPModel.load(p)


def _rewrite(src, dst, **replace):
    with np.load(src, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays.update(replace)
    np.savez(dst, **arrays)


def test_tampered_model_files(model, tmp_path):
    import json

    p = tmp_path / "m.npz"
    model.save(p)
    with np.load(p) as f:
        w0, header = f["ens_w0"], json.loads(str(f["header"]))
    bad = w0.copy()
    bad[0, 0, 0] = np.nan
    _rewrite(p, tmp_path / "nan.npz", ens_w0=bad)
    with pytest.raises(ModelFileError, match="non-finite"):
        ZLPModel.load(tmp_path / "nan.npz")
    _rewrite(p, tmp_path / "shape.npz", ens_w0=w0[:, :, :3])
    with pytest.raises(ModelFileError, match="shape"):
        ZLPModel.load(tmp_path / "shape.npz")
    h = dict(header, format="something/else")
    _rewrite(p, tmp_path / "fmt.npz", header=np.array(json.dumps(h)))
    with pytest.raises(ModelFileError, match="not a hyperspy_eels_ml ZLP model"):
        ZLPModel.load(tmp_path / "fmt.npz")
    h = json.loads(json.dumps(header))
    h["clusters"]["dE1"] = h["clusters"]["dE1"][:-1] if len(h["clusters"]["dE1"]) > 1 else []
    _rewrite(p, tmp_path / "cl.npz", header=np.array(json.dumps(h)))
    with pytest.raises(ModelFileError, match="dE1"):
        ZLPModel.load(tmp_path / "cl.npz")


def test_model_file_with_object_array_is_refused(model, tmp_path):
    p = tmp_path / "m.npz"
    model.save(p)
    with np.load(p) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["ens_w0"] = np.array([object()], dtype=object)
    np.savez(tmp_path / "obj.npz", **arrays)
    with pytest.raises(ModelFileError):
        ZLPModel.load(tmp_path / "obj.npz")
    assert zipfile.is_zipfile(tmp_path / "obj.npz")


# ----------------------------------------------------------------------------- warnings


def _messages(fn):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = fn()
    return out, [str(w.message) for w in rec]


def test_zero_pixels_do_not_look_unaligned():
    s, _ = thickness_bands_low_loss_si(shape=(4, 5), seed=6)
    s.data[:2] = 0.0  # 40 % empty pixels (outside the specimen/beam)
    _, msgs = _messages(lambda: fit_zlp(s, n_replicas=2, max_epochs=25, random_state=0, show_progressbar=False))
    assert not any("unaligned" in m for m in msgs), msgs


def test_misaligned_zlp_inside_the_tolerance_warns():
    s, _ = thickness_bands_low_loss_si(shape=(2, 3), seed=6)
    s.axes_manager.signal_axes[0].offset += 0.1  # +0.1 eV at 0.31 eV FWHM: tolerated, but biased
    _, msgs = _messages(lambda: fit_zlp(s, n_replicas=2, max_epochs=25, random_state=0, show_progressbar=False))
    assert any("off 0 eV by +0.1" in m and "align_zero_loss_peak" in m for m in msgs), msgs


def test_aligned_benchmark_si_does_not_warn():
    s, _ = thickness_bands_low_loss_si(shape=(2, 3), seed=6)
    _, msgs = _messages(lambda: fit_zlp(s, n_replicas=2, max_epochs=25, random_state=0, show_progressbar=False))
    assert not any("off 0 eV" in m or "unaligned" in m or "narrower" in m for m in msgs), msgs


def test_zlp_narrower_than_a_channel_warns():
    s, _ = thickness_bands_low_loss_si(shape=(2, 3), seed=6, energy_offset=-40.0, dispersion=1.0, n_channels=200)
    _, msgs = _messages(lambda: fit_zlp(s, n_replicas=2, max_epochs=25, random_state=0, show_progressbar=False))
    assert any("narrower than two channels" in m for m in msgs), msgs


# ----------------------------------------------------------------------------- scale invariance


def test_relative_error_does_not_depend_on_the_data_scale():
    s, truth = thickness_bands_low_loss_si(shape=(4, 6), seed=9)
    kw = dict(n_replicas=8, max_epochs=600, random_state=0, show_progressbar=False)
    e = s.axes_manager.signal_axes[0].axis
    w = (e >= 0.5) & (e <= 5.0)
    ti = truth.inelastic.data[..., w]
    rels = []
    for a in (1.0, 1e-3):
        sa = s.deepcopy()
        sa.data = sa.data * a
        r = subtract_zlp_nn(sa, count_gain=a, **kw)
        rels.append(np.linalg.norm(r.inelastic.data[..., w] / a - ti) / np.linalg.norm(ti))
        if a != 1.0:
            assert r.model.params["count_gain"] == a
    assert abs(rels[1] - rels[0]) < 0.02 + 0.1 * rels[0], rels
