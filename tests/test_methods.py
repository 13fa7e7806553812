"""Methods attached to exspy's EELSSpectrum."""

import inspect
import warnings

import numpy as np
import pytest
from exspy.signals import EELSSpectrum, LazyEELSSpectrum

import hyperspy.api as hs
import hyperspy_eels_ml
from hyperspy_eels_ml._methods import METHODS, install_methods


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_attached_and_documented(name):
    meth = getattr(EELSSpectrum, name)
    func = getattr(hyperspy_eels_ml, name)
    assert meth.__doc__ == func.__doc__ and "Parameters" in func.__doc__
    assert meth.__wrapped__ is func
    assert getattr(LazyEELSSpectrum, name) is meth  # inherited by the lazy class


def test_methods_on_loaded_lazy_and_sliced_signals(tmp_path, small_eels):
    f = tmp_path / "s.hspy"
    small_eels.save(f)
    for s in (hs.load(f), hs.load(f, lazy=True), small_eels.as_lazy(), small_eels.inav[1:3, 0:2],
              small_eels.deepcopy()):
        assert isinstance(s, EELSSpectrum)
        for name in METHODS:
            assert callable(getattr(s, name))
    # files stay plain EELS
    assert hs.load(f).metadata.Signal.signal_type == "EELS"


def test_reinstall_is_idempotent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sorted(install_methods()) == sorted(METHODS)


def test_existing_attribute_is_not_overwritten():
    class Other(EELSSpectrum):
        def umap_cluster(self):  # e.g. a future exspy method of the same name
            return "theirs"

    with pytest.warns(UserWarning, match="left untouched.*hyperspy_eels_ml.clustering.umap_cluster"):
        installed = install_methods(Other)
    assert "umap_cluster" not in installed
    assert Other.umap_cluster(None) == "theirs"


def test_wrapper_signature_matches_function():
    for name in METHODS:
        assert inspect.signature(getattr(EELSSpectrum, name)) == inspect.signature(getattr(hyperspy_eels_ml, name))


def test_method_wrapper_delegates(phantom):
    s, truth = phantom
    assert s.data.dtype == np.float32
