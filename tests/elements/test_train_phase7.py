"""Session 6 (E7): the ship rule reads its floors from the model card."""
import json

import pytest


def _block(w, e, ece_=0.01):
    return {"ece_calibrated": ece_, "calibrated": {"weighted_f1_no_C": w, "exact_match_no_C": e}}


def _res(v2, ne=0.05):
    return {"candidate": {"v2": _block(*v2), "v3": _block(0.90, 0.80)},
            "shipped_as_shipped": {"v2": _block(0.5, 0.5), "v3": _block(0.5, 0.5)},
            "shipped_recalibrated": {"v2": _block(0.5, 0.5), "v3": _block(0.5, 0.5)},
            "o_fe_false_calls": {"candidate": {"realistic-v2": {"ne_called": ne}}}}


def _card(w, e, ne):
    return {"heldout_simulated": {"calibrated": {"weighted_f1_no_C": w, "exact_match_no_C": e},
                                  "o_fe_false_calls": {"realistic-v2": {"ne_called": ne}}}}


def test_card_floors_are_the_shipped_cards_heldout_numbers():
    from hyperspy_eels_ml.elements.network import MODEL_PATH
    from hyperspy_eels_ml.elements.train import card_floors

    with open(MODEL_PATH.replace(".npz", ".json")) as f:
        h = json.load(f)["heldout_simulated"]
    fl = card_floors()
    assert fl["v2_floor"] == (h["calibrated"]["weighted_f1_no_C"], h["calibrated"]["exact_match_no_C"])
    assert fl["ne_max"] == h["o_fe_false_calls"]["realistic-v2"]["ne_called"]
    assert card_floors(MODEL_PATH) == fl  # the npz path reads the card beside it


def test_ship_rule_follows_the_card_not_fixed_numbers(tmp_path):
    from hyperspy_eels_ml.elements.train import ship_rule

    strict, loose = _card(0.85, 0.70, 0.10), _card(0.80, 0.60, 0.20)
    res = _res((0.84, 0.68), ne=0.15)
    assert ship_rule(res, loose)[0]
    ok, checks = ship_rule(res, strict)
    assert not ok and not checks["v2_weighted_f1"] and not checks["v2_exact"] and not checks["ne_on_o_fe"]
    path = tmp_path / "card.json"
    path.write_text(json.dumps(strict))
    assert ship_rule(res, str(path))[1] == checks
    # explicit floors override the card
    assert ship_rule(res, strict, v2_floor=(0.8, 0.6), ne_max=0.2)[0]


def test_ship_rule_default_is_the_shipped_card():
    from hyperspy_eels_ml.elements.train import card_floors, ship_rule

    fl = card_floors()
    w, e = fl["v2_floor"]
    assert ship_rule(_res((w, e), ne=fl["ne_max"]))[0]  # equal to the card's numbers: passes (>=, <=)
    assert not ship_rule(_res((w - 1e-4, e)))[1]["v2_weighted_f1"]
    assert not ship_rule(_res((w, e - 1e-4)))[1]["v2_exact"]
    assert not ship_rule(_res((w, e), ne=fl["ne_max"] + 0.01))[1]["ne_on_o_fe"]


def test_card_without_floors_is_a_clear_error():
    from hyperspy_eels_ml.elements.train import card_floors, ship_rule

    with pytest.raises(ValueError, match="held-out floor"):
        card_floors({"heldout_simulated": {"calibrated": {"weighted_f1_no_C": 0.8}}})
    with pytest.raises(ValueError, match="held-out floor"):
        ship_rule(_res((0.9, 0.9)), {})


def test_far_k_windows_put_a_weak_k_edge_near_the_far_end_of_a_wide_window():
    import numpy as np

    from hyperspy_eels_ml.elements.preprocess import HIGH_MARGIN, major_onsets
    from hyperspy_eels_ml.elements.simulate import FOCUS_FAR_K, MAX_CHANNELS, _far_k_window_elements

    rng = np.random.default_rng(3)
    seen = set()
    for _ in range(300):
        s, d, size, els = _far_k_window_elements(rng)
        k = els[0]
        on = max(major_onsets()[k])
        e = s + d * size
        assert k in FOCUS_FAR_K and {"O", "C"} <= set(els) and len(set(els)) == len(els)
        assert 280 <= s <= 1000 and s <= on - 400  # a wide window starting among the light K edges
        assert on + HIGH_MARGIN <= e + d and e <= on + HIGH_MARGIN + 350 + d and e <= 3100 + d
        assert size <= MAX_CHANNELS and d in (0.1, 0.25, 0.5, 1.0, 2.0)
        seen.add(k)
    assert seen == set(FOCUS_FAR_K)


def test_re_3d_windows_hold_both_edges_and_la_ni_in_about_half():
    import numpy as np

    from hyperspy_eels_ml.elements.simulate import FOCUS_RE_3D, _group_anchor, _re_3d_window_elements

    rng = np.random.default_rng(4)
    la_ni = 0
    for _ in range(400):
        s, d, size, els = _re_3d_window_elements(rng)
        pair = tuple(e for e in els if e not in ("O", "C"))
        assert pair in FOCUS_RE_3D
        _, lo, hi = _group_anchor(pair)
        assert s <= lo - 30 + 1e-9 and s + d * size >= hi + 60 - d
        la_ni += pair == ("La", "Ni")
    assert 0.4 < la_ni / 400 < 0.6


def test_far_k_and_re_3d_batches_label_their_targets():
    import numpy as np

    from hyperspy_eels_ml.elements.preprocess import LABELS
    from hyperspy_eels_ml.elements.simulate import training_batch

    b = training_batch(64, 11, focus=1.0, focus_kind="far-k+re-3d")
    assert b["x"].shape == (64, 3072, 3) and np.isfinite(b["x"].astype(np.float32)).all()
    targets = [LABELS.index(e) for e in ("Na", "Mg", "Al", "Si", "P", "Ni", "Co", "Cu")]
    assert b["assessable"][:, targets].any(axis=1).all()  # every spectrum can show one of the targets
    assert b["y"][:, targets].any()
    import pytest
    with pytest.raises(ValueError):
        training_batch(4, 0, focus=1.0, focus_kind="far-k+bad")


def _bench(monkeypatch):
    import importlib
    import pathlib

    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))
    return importlib.import_module("bench_identify")


def test_pair_study_auc_is_the_rank_statistic(monkeypatch):
    B = _bench(monkeypatch)
    assert B._auc([1, 2, 3], [0, 0.5]) == 1.0
    assert B._auc([0, 0.5], [1, 2, 3]) == 0.0
    assert B._auc([1, 1], [1, 1]) == 0.5  # ties count one half
    assert B._auc([], [1]) is None


def test_pair_study_scores_targets_and_controls_separately(monkeypatch):
    B = _bench(monkeypatch)
    sc = {"Si_K_local_with_O": B.PAIR_SCENARIOS["Si_K_local_with_O"]}
    res = B.pair_study(16, seed=5, realisms=("realistic-v2",), scenarios=sc)["Si_K_local_with_O/realistic-v2"]
    assert res["target"] == "Si" and res["n_present"] == 16 and res["false_call"]["n"] == 16
    assert 0 <= res["visible_fraction"] <= 1 and res["recall_visible"]["n"] == round(16 * res["visible_fraction"])
    # a strong local Si K edge next to O: found, and never called in O alone
    assert res["recall_visible"]["rate"] >= 0.5 and res["false_call"]["rate"] <= 0.2
    assert set(res["by_dispersion"]) == {str(d) for d in B.PAIR_DISPERSIONS}
