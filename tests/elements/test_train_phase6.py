"""Sixth (corrective) training phase: focus groups without Ne next to the 3d L edges (issue 11)."""

import numpy as np
import pytest

from hyperspy_eels_ml.elements import LABELS
from hyperspy_eels_ml.elements import simulate as S


def test_coincidence_no_ne_drops_exactly_the_ne_groups():
    assert all("Ne" not in g for g in S.FOCUS_COINCIDENCE_NO_NE)
    dropped = [g for g in S.FOCUS_COINCIDENCE if g not in S.FOCUS_COINCIDENCE_NO_NE]
    assert sorted(dropped) == sorted([("Fe", "Ne"), ("Mn", "Ne"), ("Co", "Ne")])
    rng = np.random.default_rng(0)
    for _ in range(300):
        *_, els = S._coincidence_no_ne_window_elements(rng)
        assert "Ne" not in els


def test_3d_oxide_windows_hold_a_3d_l_edge_and_no_light_k_element():
    rng = np.random.default_rng(1)
    l1 = {"Cr": 696.0, "Mn": 769.0, "Fe": 846.0, "Co": 926.0, "Ni": 1008.0, "Cu": 1097.0}
    seen = set()
    for _ in range(300):
        s, d, size, els = S._oxide_window_elements(rng)
        metals = [e for e in els if e in l1]
        assert 1 <= len(metals) <= 2 and "O" in els and "C" in els
        assert not set(els) & {"Ne", "F", "Na"}
        assert s < min(l1[m] for m in metals) and s + d * size >= max(l1[m] for m in metals)
        seen.update(metals)
    assert seen == set(l1)
    # the 3d-l1 kind it derives from does add Ne / F / Na (about half of the groups)
    rng = np.random.default_rng(1)
    n_k = sum(bool(set(S._focus_window_elements(rng)[3]) & {"Ne", "F", "Na"}) for _ in range(300))
    assert 100 < n_k < 200


def test_combined_focus_kind_batch_has_no_ne_in_focus_groups_and_bad_kinds_fail():
    b = S.training_batch(64, 5, focus=1.0, focus_kind="coincidence-no-ne+3d-oxide")
    assert b["x"].shape == (64, 3072, 3)
    assert b["present"][:, LABELS.index("Ne")].sum() == 0
    # the old shards are reproduced: a single kind draws no extra random number
    a = S.training_batch(16, 7, focus=0.25, focus_kind="coincidence")
    a2 = S.training_batch(16, 7, focus=0.25, focus_kind="coincidence")
    assert np.array_equal(a["x"], a2["x"])
    c = S.training_batch(16, 7, focus=1.0, focus_kind="coincidence+3d-oxide")
    d = S.training_batch(16, 7, focus=1.0, focus_kind="coincidence")
    assert not np.array_equal(c["lo"], d["lo"])
    for bad in ("pairs", "3d-oxide+", "coincidence+pairs"):
        with pytest.raises(ValueError, match="focus_kind"):
            S.training_batch(4, 0, focus=1.0, focus_kind=bad)
