"""fit_umap_cluster -> UMAPClusterModel, degenerate and extreme inputs, NaN in masked pixels, large E."""

import warnings

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

import hyperspy_eels_ml as hem
from hyperspy_eels_ml.clustering import UMAPClusterModel, fit_umap_cluster
from hyperspy_eels_ml.simulation import multiphase_core_loss_si


@pytest.fixture(scope="module")
def small():
    return multiphase_core_loss_si((24, 32), n_channels=128, seed=1)


def _ari(truth, labels):
    ok = ~truth.vacuum
    return adjusted_rand_score(truth.phase[ok], labels[ok])


def test_model_follows_sklearn_conventions(small):
    s, truth = small
    m = UMAPClusterModel(random_state=0, max_fit_samples=400)
    assert m.get_params()["max_fit_samples"] == 400 and not hasattr(m, "n_clusters_")
    assert m.set_params(n_neighbors=15) is m and m.n_neighbors == 15
    with pytest.raises(hem.ParameterError, match="no parameter"):
        m.set_params(bogus=1)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        m.predict(s)
    assert m.fit(s, navigation_mask=truth.vacuum) is m
    assert m.n_clusters_ == 3 and m.components_.shape == (128, 30) and m.energy_.size == 128
    res = m.predict(s, navigation_mask=truth.vacuum)
    assert _ari(truth, res.labels.data) >= 0.95
    assert res.model is m and "UMAPClusterModel" in repr(m)


def test_fit_umap_cluster_equals_umap_cluster(small):
    s, truth = small
    kw = dict(random_state=0, max_fit_samples=400)
    a = s.umap_cluster(navigation_mask=truth.vacuum, **kw).labels.data
    b = fit_umap_cluster(s, navigation_mask=truth.vacuum, **kw).predict(s, navigation_mask=truth.vacuum).labels.data
    np.testing.assert_array_equal(a, b)


def test_result_repr_and_compute(small):
    s, truth = small
    r = s.as_lazy().umap_cluster(navigation_mask=truth.vacuum, random_state=0, max_fit_samples=300)
    text = repr(r)
    assert "UMAPClusterResult (lazy)" in text and "(24, 32)" in text and "labels" in text
    assert r.is_lazy and r.compute() is r and not r.is_lazy
    assert "(eager)" in repr(r)


def test_nan_in_masked_pixels_is_accepted_and_ignored(small, lazy):
    s, truth = small
    s = s.deepcopy()
    s.data[truth.vacuum] = np.nan  # e.g. dead pixels, masked as the NaN message advises
    sig = s.as_lazy() if lazy else s
    res = sig.umap_cluster(navigation_mask=truth.vacuum, random_state=0, max_fit_samples=400)
    res.compute()
    assert np.all(res.labels.data[truth.vacuum] == -1)
    assert _ari(truth, res.labels.data) >= 0.95
    assert np.isfinite(res.cluster_spectra.data).all()
    # the advice of the error message works as written
    with pytest.raises(hem.NonFiniteDataError, match="navigation_mask=") as info:
        s.umap_cluster(random_state=0)
    mask = ~np.isfinite(s.data).all(axis=-1)
    assert "~np.isfinite(s.data).all(axis=-1)" in str(info.value)
    assert s.umap_cluster(navigation_mask=mask, random_state=0, max_fit_samples=300).n_clusters == 3


@pytest.mark.parametrize("factor", [1e-30, 1e20])
def test_extreme_scales_cluster_like_the_original(small, factor):
    s, truth = small
    ref = s.umap_cluster(navigation_mask=truth.vacuum, random_state=0, max_fit_samples=400).labels.data
    t = s.deepcopy()
    t.data = (t.data * factor).astype(np.float32)
    res = t.umap_cluster(navigation_mask=truth.vacuum, random_state=0, max_fit_samples=400)
    assert res.model.scale_ != 1.0
    assert adjusted_rand_score(ref[~truth.vacuum], res.labels.data[~truth.vacuum]) >= 0.95


def test_few_channels_warn(small):
    s, truth = small
    with pytest.warns(UserWarning, match="only 4 channels"):
        s.isig[:4].umap_cluster(navigation_mask=truth.vacuum, random_state=0, max_fit_samples=300)


def test_single_cluster_warns_with_preprocessing_hint(small):
    s, truth = small
    one = s.deepcopy()
    rng = np.random.default_rng(0)
    one.data = rng.poisson(np.broadcast_to(s.data[~truth.vacuum].mean(0), s.data.shape)).astype(np.float32)
    with pytest.warns(UserWarning, match="single cluster.*remove\\s+the background"):
        one.umap_cluster(random_state=0, max_fit_samples=300)


def test_many_channels_do_not_build_an_e_by_e_matrix(make_eels):
    """51,200 channels: the Gram matrix alone would need 19.5 GiB; the fit uses a randomized SVD instead."""
    s = make_eels(shape=(6, 5), n_channels=51_200, scale=0.01, counts=50.0)
    s.data[:3] *= np.linspace(0.5, 1.5, 51_200, dtype=np.float32)  # two spectral shapes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = fit_umap_cluster(s, random_state=0, n_neighbors=5, min_cluster_size=5)
    assert m.components_.shape == (51_200, 30)
    assert np.isfinite(m.components_).all()


def test_warnings_point_at_the_callers_line(small):
    s, truth = small
    with pytest.warns(UserWarning, match="only 4 channels") as rec:
        s.isig[:4].umap_cluster(navigation_mask=truth.vacuum, random_state=0, max_fit_samples=300)
    assert any(w.filename == __file__ for w in rec), [w.filename for w in rec]
