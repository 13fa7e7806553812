"""Fifth training phase: coincidence focus groups, per-shard realism mix, Keras rebuilt from the shipped npz."""

import numpy as np
import pytest

from hyperspy_eels_ml.elements import LABELS
from hyperspy_eels_ml.elements import simulate as S
from hyperspy_eels_ml.elements.preprocess import major_onsets


def test_coincidence_groups_cover_the_notes_table_and_the_issue_pairs():
    groups = {frozenset(g for g in grp if isinstance(g, str)) for grp in S.FOCUS_COINCIDENCE}
    for pair in [("La", "Ni"), ("O", "V"), ("O", "Sb"), ("Cu", "Pr"), ("N", "Sc"), ("N", "Cd"), ("Co", "Ba"),
                 ("Te", "Cr"), ("Rb", "W"), ("Zn", "Pm"), ("Dy", "Mg"), ("Br", "Al"), ("Ce", "Rb"), ("Y", "Ho"),
                 ("Tm", "Zr"), ("Ru", "C"), ("Mg", "Mn"), ("Eu", "Sr"), ("Fe", "Ne")]:
        assert frozenset(pair) in groups, pair
    assert frozenset(["Si"]) in groups  # weak high-energy K edge alone
    for grp in S.FOCUS_COINCIDENCE:
        assert all(g in LABELS for g in grp if isinstance(g, str))


def test_group_anchor_is_the_closest_onset_pair_or_the_requested_one():
    on = major_onsets()
    els, lo, hi = S._group_anchor(("Cu", "Pr"))
    assert lo == hi == 931.0
    els, lo, hi = S._group_anchor(("Ba", "La", 781.0))  # M5 pair, not the N4,5 pair near 95 eV
    assert (lo, hi) == (781.0, 832.0)
    els, lo, hi = S._group_anchor(("Si",))
    assert lo == hi == max(on["Si"])
    for grp in S.FOCUS_COINCIDENCE:
        els, lo, hi = S._group_anchor(grp)
        assert lo in sum((on[e] for e in els), ()) and hi in sum((on[e] for e in els), ())
        if len(els) > 1 and not isinstance(grp[-1], float):
            gaps = [abs(a - b) for i, x in enumerate(els) for y in els[i + 1:] for a in on[x] for b in on[y]
                    if a >= 40 and b >= 40]
            assert hi - lo == min(gaps)


def test_coincidence_windows_hold_the_pair_and_obey_the_input_ranges():
    rng = np.random.default_rng(5)
    for _ in range(400):
        s, d, size, els = S._coincidence_window_elements(rng)
        e = s + d * size
        assert 50.0 <= s and e <= 3100.0 + d and e - s >= 100.0 - d and size <= S.MAX_CHANNELS
        assert "O" in els and "C" in els
        assert d in S.DISPERSIONS


def test_coincidence_window_contains_both_onsets_of_the_drawn_pair():
    # replay the group draw to know which group each window belongs to
    rng = np.random.default_rng(0)
    n_lani = 0
    for _ in range(1500):
        st = rng.bit_generator.state
        j = int(rng.integers(len(S.FOCUS_COINCIDENCE)))
        rng.bit_generator.state = st
        s, d, size, els = S._coincidence_window_elements(rng)
        _, lo, hi = S._group_anchor(S.FOCUS_COINCIDENCE[j])
        e = s + d * size
        assert s <= max(50.0, lo - 30.0) + 1e-9
        assert e >= min(hi + 60.0, 3100.0) - d - 1e-9
        n_lani += set(S.FOCUS_COINCIDENCE[j]) == {"La", "Ni"}
    assert n_lani > 5


def test_focus_kind_coincidence_batch_and_bad_kind():
    b = S.training_batch(32, 4, focus=1.0, focus_kind="coincidence")
    assert b["x"].shape == (32, 3072, 3) and b["y"].shape == (32, 80)
    a = S.training_batch(32, 4, focus=1.0)  # the 3d-L1 groups: other draws
    assert not np.array_equal(a["lo"], b["lo"])
    with pytest.raises(ValueError, match="focus_kind"):
        S.training_batch(4, 0, focus=1.0, focus_kind="pairs")


def test_parse_mix_and_errors():
    assert S.parse_mix("realistic-v3:0.3-3.0, realistic-v2") == [("realistic-v3", (0.3, 3.0)), ("realistic-v2", None)]
    for bad in ("", "realistic-v3:3-0.3", "realistic-v3:abc"):
        with pytest.raises(ValueError):
            S.parse_mix(bad)


def test_write_shards_cycles_the_mix_by_shard_index(tmp_path, monkeypatch):
    seen = {}

    def fake_batch(n, seed, opts, focus=0.0, focus_kind="3d-l1"):
        seen[seed] = (opts.get("realism"), opts.get("white_line_strength"), focus_kind)
        return {"x": np.zeros((n, 2), np.float16)}

    monkeypatch.setattr(S, "training_batch", fake_batch)
    mix = S.parse_mix("realistic-v3:0.3-3.0,realistic-v2")
    S.write_shards(str(tmp_path), 0, 4, shard_size=2, seed_base=100, mix=mix, focus=0.25, focus_kind="coincidence")
    assert seen == {100: ("realistic-v3", (0.3, 3.0), "coincidence"), 101: ("realistic-v2", None, "coincidence"),
                    102: ("realistic-v3", (0.3, 3.0), "coincidence"), 103: ("realistic-v2", None, "coincidence")}
    assert len(list(tmp_path.glob("shard_*.npz"))) == 4


def test_keras_rebuilt_from_the_shipped_npz_has_its_inference_function(tmp_path):
    pytest.importorskip("keras")
    from hyperspy_eels_ml.elements.network import keras_to_arrays, load_network
    from hyperspy_eels_ml.elements.train import keras_from_arrays

    net = load_network()
    x = S.training_batch(96, 21)["x"].astype(np.float32)
    model = keras_from_arrays(net.arrays, x)
    z = np.asarray(model(x, training=False))
    np.testing.assert_allclose(z, net.logits(x), atol=2e-3, rtol=1e-3)
    back = keras_to_arrays(model)
    for k, v in net.arrays.items():
        np.testing.assert_allclose(back[k], v, atol=1e-5, rtol=1e-4, err_msg=k)
    # BN moving statistics are those of the folded convolution's output on x (not an identity BN)
    import keras

    conv0 = keras.Model(model.input, model.get_layer("conv0").output)(x, training=False)
    mean = np.asarray(conv0, np.float64).mean((0, 1))
    np.testing.assert_allclose(model.get_layer("bn0").get_weights()[2], mean, rtol=1e-3, atol=1e-4)
    assert np.abs(mean).max() > 1e-3
    # training-mode BN on the statistics batch itself normalises with (almost) those statistics: with the
    # dropout layers inactive the training-mode logits stay close to inference
    sub = keras.Model(model.input, model.get_layer("reduce").output)
    a = np.asarray(sub(x, training=True))
    b = np.asarray(sub(x, training=False))
    assert np.abs(a - b).max() < 0.05 * max(np.abs(b).max(), 1.0)
