"""Training-data options of the element network (simulate.py): focus groups and white-line strength."""

import numpy as np

from hyperspy_eels_ml.elements import LABELS
from hyperspy_eels_ml.elements.simulate import FOCUS_3D_L1, _focus_window_elements, training_batch


def test_focus_off_draws_exactly_the_earlier_batches():
    a = training_batch(32, 7)
    b = training_batch(32, 7, focus=0.0)
    for k in ("x", "y", "mask", "lo", "hi"):
        np.testing.assert_array_equal(a[k], b[k])


def test_focus_groups_hold_a_3d_metal_whose_l1_edge_is_in_the_window():
    rng = np.random.default_rng(3)
    l1 = {"Cr": 696.0, "Mn": 769.0, "Fe": 846.0, "Co": 926.0, "Ni": 1008.0, "Cu": 1097.0}
    n_k = 0
    for _ in range(200):
        s, d, size, els = _focus_window_elements(rng)
        metals = [e for e in els if e in FOCUS_3D_L1["metals"]]
        assert 1 <= len(metals) <= 2 and "O" in els
        assert all(s + 150 <= l1[m] <= s + d * size - 50 for m in metals)
        assert s >= 50 and s + d * size <= 3100.0 + d
        n_k += any(e in FOCUS_3D_L1["k_elements"] for e in els)
    assert 70 <= n_k <= 130  # light K-edge element in about half of the groups


def test_focus_batch_labels_metals_present():
    b = training_batch(64, 11, focus=1.0)
    cols = [LABELS.index(m) for m in FOCUS_3D_L1["metals"]]
    assert (b["y"][:, cols].sum(axis=1) > 0).mean() > 0.5
