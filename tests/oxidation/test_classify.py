"""s.classify_oxidation() and OxidationClassifier: shipped-model accuracy on fresh simulations,
shift robustness, masking, lazy == eager, distributed == local, errors, safe save/load, provenance."""

import json
import os
import pickle
import warnings

import dask.array as da
import numpy as np
import pytest
from exspy.signals import EELSSpectrum

import hyperspy_eels_ml
from hyperspy_eels_ml import EmptySignalError, EnergyAxisError, EnergyRangeError
from hyperspy_eels_ml.oxidation import OxidationClassifier, available_models, classify_oxidation
from hyperspy_eels_ml.oxidation.train import simulate
from hyperspy_eels_ml.simulation import nanocube_core_shell_si

TEST_SEED = 20251  # neither the training nor the held-out seed of the model cards


def _signal(data, energy, nav=None):
    s = EELSSpectrum(np.asarray(data, dtype=np.float32) if nav is None else data.reshape(nav + (-1,)))
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.scale, ax.offset, ax.name = "eV", float(energy[1] - energy[0]), float(energy[0]), "Energy loss"
    return s


def _classified_accuracy(element, edge="L23", n=600, shift=None, seed=TEST_SEED, dispersions=(0.2, 0.25),
                         **kw):
    """Accuracy of the public function on simulated spectra (masked pixels excluded) and masked fraction."""
    spec = OxidationClassifier(element, edge, energy_calibrated=kw.get("energy_calibrated", False),
                               max_shift=kw.get("max_shift")).spec
    hits, n_ok, n_all = 0, 0, 0
    for data, energy, labels, rb in simulate(spec, n, seed, shift=shift, dispersions=dispersions):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # 0.25 eV/ch is resampled
            res = classify_oxidation(_signal(data, energy), element, edge, remove_background=rb, **kw)
        lab = res.labels.data
        ok = lab >= 0
        hits += int(np.sum(lab[ok] == labels[ok]))
        n_ok += int(ok.sum())
        n_all += lab.size
        assert res.n_masked == int((~ok).sum())
    return (hits / n_ok if n_ok else float("nan")), 1 - n_ok / n_all


# ----------------------------------------------------------------------------
# shipped models
# ----------------------------------------------------------------------------
def test_available_models_and_cards():
    models = {m["name"]: m for m in available_models()}
    assert {"fe_l23_svm", "mn_l23_svm", "fe_ok_svm"} <= set(models)
    assert models["fe_l23_svm"]["classes"] == ["Fe2+", "Fe3O4", "Fe3+"]
    assert models["mn_l23_svm"]["classes"] == ["Mn2+", "Mn3+", "Mn4+"]
    reg = json.load(open(os.path.join(os.path.dirname(hyperspy_eels_ml.__file__), "models", "registry.json")))
    for m in reg["models"]:
        if m["capability"] != "classify_oxidation":
            continue
        card = json.load(open(os.path.join(os.path.dirname(hyperspy_eels_ml.__file__), "models", m["model_card"])))
        if card["model"] == "valence":
            assert {"valence_mae", "coverage_68", "compound_accuracy_pure"} <= set(card["heldout"])
            assert card["recipe"]["seeds"]["train"] != card["recipe"]["seeds"]["heldout"]
            continue
        for v in card["variants"].values():
            assert {"accuracy", "accuracy_vs_shift_eV", "per_class"} <= set(v["heldout"])
            assert v["expected_energy_range_eV"][0] < v["expected_energy_range_eV"][1]
            assert v["model_dispersion_eV"] == 0.2


@pytest.mark.parametrize("element", ["Fe", "Mn"])
def test_shipped_l23_svm_accuracy_on_fresh_simulations(element):
    acc, masked = _classified_accuracy(element)
    assert acc >= 0.98, acc
    assert masked < 0.25, masked
    # typical signal-to-noise: edge maximum >= 10x the noise per 0.2 eV channel
    spec = OxidationClassifier(element).spec
    hits = tot = 0
    for data, energy, labels, rb in simulate(spec, 300, TEST_SEED + 1, counts=(1500.0, 5000.0),
                                             dispersions=(0.2,), residual_fraction=0.0):
        res = classify_oxidation(_signal(data, energy), element)
        lab = res.labels.data
        snr = res.snr.data
        typical = (snr >= 10) & (lab >= 0)
        hits += int(np.sum(lab[typical] == labels[typical]))
        tot += int(typical.sum())
    assert tot > 150 and hits / tot >= 0.99, (hits, tot)


@pytest.mark.parametrize("element", ["Fe", "Mn"])
def test_accuracy_under_5_eV_calibration_errors(element):
    """energy_calibrated=False: +-5 eV axis errors cost < 10 % of the zero-shift accuracy."""
    a0, _ = _classified_accuracy(element, n=300, shift=0.0, dispersions=(0.2,))
    for s in (-5.0, 5.0):
        a, _ = _classified_accuracy(element, n=300, shift=s, dispersions=(0.2,), seed=TEST_SEED + 7)
        assert a >= 0.9 * a0 and a >= 0.95, (s, a, a0)


def test_calibrated_model_uses_absolute_energies():
    """The calibrated variant is accurate on a right axis and fails with a 5 eV error (why the default aligns)."""
    a0, m0 = _classified_accuracy("Fe", n=300, shift=0.0, dispersions=(0.2,), energy_calibrated=True)
    assert a0 >= 0.95 and m0 < 0.25, (a0, m0)
    # the edge is not within +-max_shift (2 eV) of where a calibrated axis has it: masked, not misclassified
    _, m5 = _classified_accuracy("Fe", n=300, shift=5.0, dispersions=(0.2,), energy_calibrated=True)
    assert m5 > 0.95, m5
    # searched anyway, the absolute-energy model is wrong most of the time
    a5, _ = _classified_accuracy("Fe", n=300, shift=5.0, dispersions=(0.2,), energy_calibrated=True, max_shift=8.0)
    assert a5 < 0.8 * a0, (a0, a5)


def test_shipped_cnn_accuracy():
    import sys

    acc, masked = _classified_accuracy("Fe", n=300, model="cnn", dispersions=(0.2,))
    assert acc >= 0.98 and masked < 0.25, (acc, masked)
    assert "keras" in sys.modules  # imported on first use only (see test_import_is_light)


def test_import_is_light():
    import subprocess
    import sys

    code = ("import sys, hyperspy_eels_ml; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_fe_o_k_model_beats_chance():
    acc, _ = _classified_accuracy("Fe", "OK", n=600)
    assert acc >= 0.55, acc  # 3 classes: chance 0.33 (O K alone is a weak discriminator, see the model card)


# ----------------------------------------------------------------------------
# the phantom: core/shell map, masking, lazy, distributed
# ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cube():
    return nanocube_core_shell_si((24, 32), seed=3)


@pytest.fixture(scope="module")
def cube_result(cube):
    s, truth = cube
    before = s.data.copy()
    meta = s.metadata.as_dictionary()
    with pytest.warns(UserWarning, match="resampled to the model's 0.2 eV"):
        res = s.classify_oxidation("Fe")
    np.testing.assert_array_equal(s.data, before)  # the user's signal is unchanged
    assert s.metadata.as_dictionary() == meta
    return res


def test_core_shell_phantom_map(cube, cube_result):
    s, truth = cube
    res = cube_result
    lab = res.labels.data
    assert res.classes == ["Fe2+", "Fe3O4", "Fe3+"]
    core, shell = truth.phase == 1, truth.phase == 2
    assert np.mean(lab[core] == 0) >= 0.95
    assert np.mean(lab[shell] == 1) >= 0.9
    # vacuum and the bare carbon film carry no Fe edge: masked, label -1, counted
    assert np.all(lab[truth.vacuum] == -1)
    assert np.mean(lab[truth.phase == 0] == -1) >= 0.98
    assert res.n_masked == int(np.sum(lab == -1)) == int(res.mask.data.sum())
    assert res.n_pixels == lab.size
    assert np.all(np.isnan(res.probabilities.data[lab == -1]))
    p = res.probabilities.data[lab >= 0]
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)
    # probabilities: one channel per class, navigation axes copied
    assert res.probabilities.axes_manager.signal_shape == (3,)
    assert res.probabilities.axes_manager.navigation_shape == s.axes_manager.navigation_shape
    assert res.probabilities.axes_manager.navigation_axes[0].scale == s.axes_manager.navigation_axes[0].scale
    assert res.labels.axes_manager.signal_shape == s.axes_manager.navigation_shape
    v = res.mean_valence.data
    assert np.nanmedian(v[core]) < 2.2 and 2.4 < np.nanmedian(v[shell]) < 2.8
    fig = res.plot()
    assert len(fig.axes) >= 5
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_both_edges_combined(cube, cube_result):
    s, truth = cube
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = s.classify_oxidation("Fe", edge="both")
    lab = res.labels.data
    assert np.mean(lab[truth.phase == 1] == 0) >= 0.95 and np.mean(lab[truth.phase == 2] == 1) >= 0.9
    # masked where either edge is masked
    assert np.all(lab[cube_result.labels.data == -1] == -1)
    ok = lab >= 0
    np.testing.assert_allclose(res.probabilities.data[ok].sum(-1), 1.0, atol=1e-5)
    assert res.model_info["edge"] == "both" and res.o_k_result.classes == res.classes


def test_provenance(cube_result):
    md = cube_result.labels.metadata.hyperspy_eels_ml
    assert md.function == "hyperspy_eels_ml.classify_oxidation"
    params = json.loads(md.parameters)
    assert params["element"] == "Fe" and params["remove_background"] is True
    models = json.loads(md.models)
    assert models["name"] == "fe_l23_svm" and models["variant"] == "aligned" and len(models["sha256"]) == 64
    assert cube_result.probabilities.metadata.Signal.classes == ["Fe2+", "Fe3O4", "Fe3+"]


def test_lazy_equals_eager(cube, cube_result):
    s, _ = cube
    sl = s.as_lazy()
    sl.data = sl.data.rechunk((5, 7, -1))
    with pytest.warns(UserWarning, match="resampled"):
        res = sl.classify_oxidation("Fe")
    assert res.is_lazy and isinstance(res.probabilities.data, da.Array)
    res.compute()
    np.testing.assert_array_equal(res.labels.data, cube_result.labels.data)
    np.testing.assert_allclose(res.probabilities.data, cube_result.probabilities.data, atol=1e-6)
    assert res.n_masked == cube_result.n_masked
    # eager input, lazy output; and several eager blocks give the same answer
    with pytest.warns(UserWarning):
        res2 = s.classify_oxidation("Fe", lazy_output=True, block_size=96)
    assert res2.is_lazy
    np.testing.assert_array_equal(res2.compute().labels.data, cube_result.labels.data)


@pytest.mark.distributed
def test_distributed_equals_local(cube, cube_result):
    distributed = pytest.importorskip("distributed")
    s, _ = cube
    sl = s.as_lazy()
    sl.data = sl.data.rechunk((6, -1, -1))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        with distributed.Client(c) as client:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                res = sl.classify_oxidation("Fe").compute()
            mods = client.run(lambda: "tensorflow" in __import__("sys").modules)
            assert not any(mods.values())
    np.testing.assert_array_equal(res.labels.data, cube_result.labels.data)


def test_navigation_mask_line_scan_and_single_spectrum(cube, cube_result):
    s, truth = cube
    m = np.zeros(truth.phase.shape, bool)
    m[:, -5:] = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = s.classify_oxidation("Fe", navigation_mask=m)
        assert np.all(res.labels.data[m] == -1)
        keep = ~m
        np.testing.assert_array_equal(res.labels.data[keep], cube_result.labels.data[keep])
        assert res.n_masked == int(np.sum(cube_result.labels.data[keep] == -1) + m.sum())
        line = s.inav[:, 12]
        r1 = line.classify_oxidation("Fe")
        np.testing.assert_array_equal(r1.labels.data, cube_result.labels.data[12])
        iy, ix = np.argwhere(truth.phase == 1)[0]
        r0 = s.inav[int(ix), int(iy)].classify_oxidation("Fe")
    assert np.asarray(r0.labels.data).ravel().tolist() == [0] and r0.probabilities.data.shape == (3,)
    with pytest.raises(ValueError, match="navigation_mask has shape"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        s.classify_oxidation("Fe", navigation_mask=m.T)


# ----------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------
def _flat(offset, scale, size):
    s = EELSSpectrum(np.ones((2, size), np.float32) * 100)
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.scale, ax.offset = "eV", scale, offset
    return s


def test_clear_errors():
    with pytest.raises(EnergyRangeError, match=r"needs the energy range 6\d\d\.\d-7\d\d\.\d eV"):
        classify_oxidation(_flat(400.0, 0.2, 1000), "Fe", model="svm")
    with pytest.raises(EnergyRangeError, match="remove_background=False"):
        classify_oxidation(_flat(690.0, 0.2, 300), "Fe", model="svm")
    # the default (model="auto") names the valence model's minimum and what the SVM needed
    with pytest.raises(EnergyRangeError, match=r"Fe L3 and L2 lines.*The SVM, tried first by model='auto', "
                                               r"also refused.*needs the energy range 6\d\d\.\d-7\d\d\.\d eV"):
        classify_oxidation(_flat(400.0, 0.2, 1000), "Fe")
    with pytest.raises(ValueError, match="Give element="):
        classify_oxidation(_flat(600.0, 0.2, 1000))
    with pytest.raises(ValueError, match="Unknown element 'Xx'"):
        classify_oxidation(_flat(600.0, 0.2, 1000), "Xx")
    with pytest.raises(ValueError, match="No shipped SVM model for Mn O K"):
        classify_oxidation(_flat(500.0, 0.2, 1000), "Mn", "OK")
    with pytest.raises(ValueError, match="Unknown model 'forest'"):
        classify_oxidation(_flat(600.0, 0.2, 1000), "Fe", model="forest")
    with pytest.raises(ValueError, match="Unknown edge"):
        classify_oxidation(_flat(600.0, 0.2, 1000), "Fe", edge="M45")
    with pytest.raises(EnergyAxisError, match="much coarser than the model's 0.2"):
        classify_oxidation(_flat(600.0, 1.5, 140), "Fe")  # the valence model takes up to 1.05 eV/ch (session 13)
    with pytest.raises(EmptySignalError, match="at least 20 channels"):
        classify_oxidation(_flat(700.0, 0.2, 10), "Fe")
    with pytest.raises(ValueError, match="has no 'calibrated' variant; use energy_calibrated=False"):
        classify_oxidation(_flat(600.0, 0.2, 1000), "Fe", model="cnn", energy_calibrated=True)


# ----------------------------------------------------------------------------
# user training, safe save/load
# ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mn_data():
    spec = OxidationClassifier("Mn").spec
    return simulate(spec, 480, 77, dispersions=(0.2,), residual_fraction=0.0, counts=(1000.0, 5000.0))[0]


def test_user_classifier_fit_score_save_load(mn_data, tmp_path, monkeypatch):
    data, energy, labels, _ = mn_data
    clf = OxidationClassifier("Mn", kernel="auto", C=[1.0, 10.0], gamma=[1.0, 10.0], shift_augmentation=0.5,
                              n_augment=2)
    clf.fit(data[:360], labels[:360], energy=energy)
    assert clf.info["n_train"] == 720 and "kernel" in clf.info["best_params"]
    assert clf.score(data[360:], labels[360:], energy=energy) >= 0.95
    path = clf.save(tmp_path / "mn_user")
    assert path.endswith(".npz")

    def no_unpickling(*a, **k):
        raise AssertionError("unpickling attempted")

    with monkeypatch.context() as mp:
        mp.setattr(pickle, "load", no_unpickling)
        mp.setattr(pickle, "loads", no_unpickling)
        loaded = OxidationClassifier.load(path)
    np.testing.assert_allclose(loaded.predict_proba(data[360:], energy=energy),
                               clf.predict_proba(data[360:], energy=energy), atol=1e-6)
    # usable as model= (object and file), same answer
    s = _signal(data[360:], energy)
    r_obj = s.classify_oxidation("Mn", model=clf)
    r_file = s.classify_oxidation(model=str(path))  # element and edge from the model
    np.testing.assert_array_equal(r_obj.labels.data, r_file.labels.data)
    assert json.loads(r_file.labels.metadata.hyperspy_eels_ml.models)["source"] == "file"


def test_fit_from_a_spectrum_image_with_a_label_map(mn_data):
    """E.g. cluster labels of s.umap_cluster() mapped to classes; -1 = unused pixel."""
    data, energy, labels, _ = mn_data
    si = _signal(data[:240], energy, nav=(8, 30))
    lab = labels[:240].reshape(8, 30).copy()
    lab[0] = -1
    clf = OxidationClassifier("Mn", kernel="cosine", C=[1.0]).fit(si, lab)
    assert clf.info["n_train"] == 240 - 30
    assert clf.score(_signal(data[240:], energy), labels[240:]) >= 0.9  # 210 training spectra, noisy ones included


def test_shipped_model_loaded_once_per_process(cube, monkeypatch, tmp_path):
    import shutil

    calls = []
    real_load = OxidationClassifier.load.__func__

    def counting(cls, path):
        calls.append(str(path))
        return real_load(cls, path)

    monkeypatch.setattr(OxidationClassifier, "load", classmethod(counting))
    p = tmp_path / "copy.npz"
    shutil.copy(_shipped_file("fe_l23_svm_aligned.npz"), p)
    s, _ = cube
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        s.classify_oxidation(model=str(p), block_size=100)  # several blocks, one load
        s.classify_oxidation(model=str(p))
    assert len(calls) == 1


def test_load_refuses_pickled_content(tmp_path):
    bad = tmp_path / "evil.npz"
    np.savez(bad, header=np.array([{"format": "hyperspy_eels_ml.OxidationClassifier"}], dtype=object))
    from hyperspy_eels_ml import ModelFileError

    with pytest.raises(ModelFileError, match="allow_pickle"):
        OxidationClassifier.load(bad)


def test_fit_from_signals_per_class_binary_and_rbf(mn_data):
    data, energy, labels, _ = mn_data
    sigs = {c: _signal(data[labels == i][:60], energy) for i, c in enumerate(["Mn2+", "Mn3+", "Mn4+"])}
    clf = OxidationClassifier("Mn", kernel="rbf", C=[10.0], gamma=[10.0]).fit(sigs)
    assert clf.info["n_support_vectors"] > 0
    assert clf.score(sigs) >= 0.95
    # two classes (binary SVM; the export is checked against scikit-learn inside fit)
    two = OxidationClassifier("Mn", classes=["Mn2+", "Mn4+"], kernel="cosine", C=[1.0])
    sel = labels != 1
    two.fit(data[sel], np.where(labels[sel] == 2, 1, 0), energy=energy)
    assert two.predict_proba(data[sel][:5], energy=energy).shape == (5, 2)
    with pytest.raises(ValueError, match="Unknown labels"):
        OxidationClassifier("Mn").fit(data[:10], ["MnX"] * 10, energy=energy)
    with pytest.raises(ValueError, match="The model classifies Mn, not Fe"):
        classify_oxidation(_signal(data[:4], energy), "Fe", model=clf)


# ----------------------------------------------------------------------------
# issue 9: estimator conventions, cache, scales, parameters, model files, plots
# ----------------------------------------------------------------------------
def test_classifier_follows_sklearn_conventions(mn_data):
    clf = OxidationClassifier("Mn", dispersion=-1.0, max_shift=-2.0)  # __init__ stores only
    assert clf.get_params()["dispersion"] == -1.0 and not clf.is_fitted
    data, energy, labels, _ = mn_data
    from hyperspy_eels_ml import ParameterError

    with pytest.raises(ParameterError, match="dispersion"):
        clf.fit(data[:30], labels[:30], energy=energy)
    clf.set_params(dispersion=0.2, max_shift=None, kernel="cosine", C=[1.0])
    with pytest.raises(ParameterError, match="max_shift"):
        OxidationClassifier("Mn", max_shift=-1.0).fit(data[:30], labels[:30], energy=energy)
    clf.fit(data[:90], labels[:90], energy=energy)
    assert clf.is_fitted and clf.spec_.element == "Mn" and "n_train" in clf.info_ and clf.svm_ is not None
    assert clf.classes_ == ["Mn2+", "Mn3+", "Mn4+"]
    with pytest.raises(ValueError, match="Unknown parameters"):
        clf.set_params(colour="red")
    bad = data[:30].copy()
    bad[3, 100] = np.nan
    from hyperspy_eels_ml import NonFiniteDataError

    with pytest.raises(NonFiniteDataError, match="1 training spectra"):
        OxidationClassifier("Mn", kernel="cosine", C=[1.0]).fit(bad, labels[:30], energy=energy)


def test_overwritten_model_file_is_reloaded(mn_data, tmp_path):
    data, energy, labels, _ = mn_data
    a = OxidationClassifier("Mn", kernel="cosine", C=[1.0]).fit(data[:150], labels[:150], energy=energy)
    b = OxidationClassifier("Mn", classes=["Mn2+", "Mn4+"], kernel="cosine", C=[1.0])
    sel = labels[:200] != 1
    b.fit(data[:200][sel], np.where(labels[:200][sel] == 2, 1, 0), energy=energy)
    path = tmp_path / "m.npz"
    a.save(path)
    s = _signal(data[200:220], energy)
    r1 = s.classify_oxidation(model=str(path))
    import os
    import time

    time.sleep(0.01)
    b.save(path)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new mtime even on coarse clocks
    r2 = s.classify_oxidation(model=str(path))
    assert r1.classes == ["Mn2+", "Mn3+", "Mn4+"] and r2.classes == ["Mn2+", "Mn4+"]
    assert r1.model_info["sha256"] != r2.model_info["sha256"]


def test_corrupt_and_tampered_model_files(mn_data, tmp_path):
    from hyperspy_eels_ml import ModelFileError

    data, energy, labels, _ = mn_data
    clf = OxidationClassifier("Mn", kernel="cosine", C=[1.0]).fit(data[:90], labels[:90], energy=energy)
    p = clf.save(tmp_path / "ok.npz")
    raw = open(p, "rb").read()
    (tmp_path / "trunc.npz").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "junk.npz").write_bytes(b"not a zip file at all")
    for name in ("trunc.npz", "junk.npz", "missing.npz"):
        with pytest.raises(ModelFileError, match=name):
            OxidationClassifier.load(tmp_path / name)
    with np.load(p) as z:
        arrays = {k: z[k] for k in z.files}
    head = json.loads(str(arrays["header"]))
    head["spec"]["element"] = "Fe"  # element changed in the header
    np.savez(tmp_path / "element.npz", **dict(arrays, header=np.array(json.dumps(head))))
    with pytest.raises(ModelFileError, match="not Fe species|digest"):
        OxidationClassifier.load(tmp_path / "element.npz")
    W = arrays["W"].copy()
    W[0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", **dict(arrays, W=W))
    with pytest.raises(ModelFileError, match="non-finite|digest"):
        OxidationClassifier.load(tmp_path / "nan.npz")
    head = json.loads(str(arrays["header"]))
    head.pop("digest")  # files of older versions carry no digest: shapes are still checked
    np.savez(tmp_path / "shape.npz", **dict(arrays, W=arrays["W"][:-3], header=np.array(json.dumps(head))))
    with pytest.raises(ModelFileError, match="shapes do not match"):
        OxidationClassifier.load(tmp_path / "shape.npz")
    (tmp_path / "bad.keras").write_bytes(b"PK\x03\x04 broken")
    (tmp_path / "bad.json").write_text(json.dumps(clf._header() | {"model": "cnn"}))
    with pytest.raises(ModelFileError, match="bad.keras"):
        OxidationClassifier.load(tmp_path / "bad.keras")


@pytest.mark.parametrize("scale", [1e20, 1e-30])
def test_extreme_scales_do_not_change_the_answer(cube, cube_result, scale):
    s, _ = cube
    s2 = s._deepcopy_with_new_data(s.data.astype(np.float64) * scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        r = s2.classify_oxidation("Fe", model="svm")
    np.testing.assert_array_equal(r.labels.data, cube_result.labels.data)


@pytest.mark.parametrize("bad", [float("nan"), "5", -1.0, None, True])
def test_min_snr_validated(bad):
    from hyperspy_eels_ml import ParameterError

    with pytest.raises(ParameterError, match="min_snr"):
        classify_oxidation(_flat(600.0, 0.2, 1000), "Fe", min_snr=bad)


def test_vacuum_mask_and_nan_in_masked_pixels(cube, cube_result):
    s, _ = cube
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        r = s.classify_oxidation("Fe", model="svm", navigation_mask="vacuum")
    assert r.n_masked >= 1 and np.all(r.labels.data[r.mask.data] == -1)
    s2 = s.deepcopy()
    s2.data[0, 0, :] = np.nan
    m = np.zeros(s.data.shape[:-1], bool)
    m[0, 0] = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        r2 = s2.classify_oxidation("Fe", model="svm", navigation_mask=m)
    assert r2.labels.data[0, 0] == -1
    ok = ~m
    np.testing.assert_array_equal(r2.labels.data[ok], cube_result.labels.data[ok])


def test_lazy_navigation_chunks_of_one_are_rechunked(cube, cube_result):
    s, _ = cube
    sl = s.as_lazy()
    sl.data = sl.data.rechunk((1, 1, -1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        r = sl.classify_oxidation("Fe", model="svm")
    assert int(np.prod(r.labels.data.numblocks)) < 0.1 * int(np.prod(sl.data.numblocks))
    np.testing.assert_array_equal(r.compute().labels.data, cube_result.labels.data)


def test_plot_has_labelled_axes_and_both_repr(cube, cube_result):
    import matplotlib

    fig = cube_result.plot()
    assert isinstance(fig, matplotlib.figure.Figure)
    labs = [ax.get_xlabel() for ax in fig.axes if ax.get_xlabel()]
    assert labs and all("(" in t for t in labs)
    s, _ = cube
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        rb = s.classify_oxidation("Fe", edge="both", model="svm")
    text = repr(rb)
    assert "L2,3 + O K" in text and "  " not in text


def test_both_edges_one_pass_with_a_user_model_for_o_k(cube):
    s, _ = cube
    ok_clf = OxidationClassifier.load(_shipped_file("fe_ok_svm_aligned.npz"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        r = s.as_lazy().classify_oxidation("Fe", edge="both", model={"L23": "svm", "OK": ok_clf})
    assert r.model_info["OK"]["source"].startswith("user")
    names = {k[0] for k in r.labels.data.dask.keys() if isinstance(k, tuple)}
    assert sum(n.startswith("_block") or "jobs" in n for n in names) <= 1  # one block function over the data


def _shipped_file(name):
    import os

    import hyperspy_eels_ml.oxidation as ox

    return os.path.join(os.path.dirname(os.path.dirname(ox.__file__)), "models", "oxidation", name)


def test_cnn_is_quiet(tmp_path):
    import subprocess
    import sys

    code = ("import warnings, numpy as np; warnings.simplefilter('ignore');"
            "import hyperspy_eels_ml;"
            "from hyperspy_eels_ml.simulation import nanocube_core_shell_si;"
            "s, t = nanocube_core_shell_si((12, 16), seed=1);"
            "r = s.classify_oxidation('Fe', model='cnn', show_progressbar=False); print('OK', r.labels.data.shape)")
    env = dict(__import__("os").environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert "OK" in p.stdout, p.stderr[-2000:]
    noisy = [ln for ln in p.stderr.splitlines() if any(w in ln for w in ("tensorflow", "cuda", "oneDNN", "TF-TRT",
                                                                          "absl", "I0000", "W0000"))]
    assert not noisy, noisy[:5]


def test_option_errors_are_parameter_errors():
    """Wrong option combinations raise the package's ParameterError (a ValueError), naming the fix."""
    from hyperspy_eels_ml import ParameterError

    s = _flat(600.0, 0.2, 1000)
    with pytest.raises(ParameterError, match="list of distinct symbols"):
        classify_oxidation(s, ["Fe", "Fe"])
    with pytest.raises(ParameterError, match="edge='both' takes one element"):
        classify_oxidation(s, ["Fe", "Mn"], edge="both")
    with pytest.raises(ParameterError, match="do not also pass energy_calibrated=False"):
        classify_oxidation(s, "Fe", low_loss=s, energy_calibrated=False)
