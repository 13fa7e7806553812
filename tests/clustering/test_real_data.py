"""umap_cluster on real spectrum images from ../shared/data (skipped when the folder is absent)."""

import numpy as np
import pytest

import hyperspy.api as hs
import hyperspy_eels_ml  # noqa: F401


def _load(shared_data, lazy=False):
    d = shared_data / "clustering"
    path = d / "exspy-demos__CuZn_EELS_mapping_tutorial.hspy"
    if not path.exists():
        pytest.skip(f"{path} not found")
    s = hs.load(path, lazy=lazy)
    s.set_signal_type("EELS")
    cu = hs.load(d / "exspy-demos__Cu_map.hspy").data
    zn = hs.load(d / "exspy-demos__Zn_map.hspy").data
    return s, cu, zn


def test_mixed_cu_zn_oxide_is_not_split_into_spurious_phases(shared_data):
    """The fitted Cu/(Cu+Zn) ratio of this 50x40 SI is unimodal (a mixed oxide on C nanotubes):
    no cluster holding more than 5 % of the pixels may differ from the mean ratio by more than 0.1."""
    s, cu, zn = _load(shared_data)
    ratio = cu / (cu + zn + 1e-9)
    res = s.umap_cluster(navigation_mask="vacuum", random_state=0)
    labels = res.labels.data
    assert labels.shape == ratio.shape
    mean = np.nanmean(ratio[labels >= 0])
    for k in range(res.n_clusters):
        m = labels == k
        if m.mean() > 0.05:
            assert abs(np.nanmean(ratio[m]) - mean) < 0.1, (k, m.sum(), np.nanmean(ratio[m]), mean)
    # the SI has no vacuum (every total is >= 14 % of the 95th percentile): nothing is masked as vacuum,
    # and few pixels are HDBSCAN noise
    from hyperspy_eels_ml.clustering import vacuum_mask

    assert not vacuum_mask(s).any()
    assert (labels == -1).mean() < 0.05


def test_lazy_loaded_file_equals_eager(shared_data):
    s, _, _ = _load(shared_data)
    sl, _, _ = _load(shared_data, lazy=True)
    eager = s.umap_cluster(navigation_mask="vacuum", random_state=0, merge_threshold=None)
    lazy = sl.umap_cluster(navigation_mask="vacuum", random_state=0, merge_threshold=None).compute()
    np.testing.assert_array_equal(lazy.labels.data, eager.labels.data)
