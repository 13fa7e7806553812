"""Train, calibrate and export the shipped element-identification network.

Resumable, checkpointed steps on 2 CPU cores (fixed seeds)::

    # 1. simulated shards (4096 spectra each; resumes, seed = base + shard index)
    python -m hyperspy_eels_ml.elements.simulate WORK/train --count 60
    python -m hyperspy_eels_ml.elements.simulate WORK/heldout --count 4 --seed-base 77770000
    # 2. training: one epoch per shard, checkpoint after every shard; rerun to continue
    python -m hyperspy_eels_ml.elements.train fit WORK --total-shards 60 --minutes 50
    # 3. per-element Platt calibration on held-out shards 0-1, metrics on 2-3, export + model card
    python -m hyperspy_eels_ml.elements.train finalize WORK
    # (held-out metrics of the shipped model on shards 2-3 without recalibrating it)
    python -m hyperspy_eels_ml.elements.train evaluate WORK

``fit`` always takes the least-used shard, so every new shard is used as soon
as it is written (on-the-fly data) and, when the shard writers are behind,
replays are spread evenly instead of waiting. Loss: binary cross-entropy on logits, masked by the loss
mask of :mod:`~hyperspy_eels_ml.elements.simulate` (ambiguous / not-assessable
labels ignored). Adam, learning rate 1e-3, cosine decay to 5e-5 over
``--total-shards`` or ``--minutes``, whichever ends first (``--lr-from``
restarts the cosine, e.g. for a second phase on a newer simulator, continuing
from the checkpoint).
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import platform
import time

import numpy as np

from .network import MODEL_PATH, build_keras_model, export_npz, keras_to_arrays
from .preprocess import LABELS

SEED = 20260101
HELDOUT_SEED_BASE = 77770000
BATCH = 64
LR0, LR_MIN = 1e-3, 5e-5


def _shards(folder):
    """Finished shards (a writer's ``shard_XXXXX.npz.tmp.npz`` in progress is not one)."""
    return sorted(p for p in glob.glob(os.path.join(folder, "shard_*.npz")) if not p.endswith(".tmp.npz"))


def _load(path, keys=("x", "y", "mask")):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in keys}


def _loss():
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="hyperspy_eels_ml")
    def masked_bce(y_true, logits):
        y, m = y_true[:, :80], y_true[:, 80:]
        bce = ops.maximum(logits, 0) - logits * y + ops.log1p(ops.exp(-ops.abs(logits)))
        return ops.sum(bce * m, axis=1) / ops.maximum(ops.sum(m, axis=1), 1.0)

    return masked_bce


def fit(work, total_shards, minutes, seed=SEED, lr_from=0, lr0=LR0, init=None, max_uses=None):
    """Train one epoch per shard until ``total_shards`` are done or ``minutes`` have passed.

    ``init``: a ``.keras`` checkpoint to start from when ``WORK`` has none yet (fine-tuning a
    previous model on a newer simulator: its weights and optimiser state, a fresh shard count).
    ``max_uses``: when every shard has been used that often, wait for the shard writers instead of
    replaying (limits replays in a fine-tuning phase fed by slow writers).
    """
    import keras

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    loss = _loss()
    ckpt = os.path.join(work, "checkpoint.keras")
    state_path = os.path.join(work, "state.json")
    state = {"done": 0, "replayed": 0, "history": [], "seconds": 0.0}
    if os.path.exists(ckpt) and os.path.exists(state_path):
        model = keras.saving.load_model(ckpt, custom_objects={"masked_bce": loss}, safe_mode=True)
        with open(state_path) as f:
            state = json.load(f)
        print(f"resumed after {state['done']} shards", flush=True)
    elif init:
        model = keras.saving.load_model(init, custom_objects={"masked_bce": loss}, safe_mode=True)
        state["init"] = os.path.abspath(init)
        print(f"starting from {init}", flush=True)
    else:
        model = build_keras_model(seed)
        model.compile(optimizer=keras.optimizers.Adam(LR0), loss=loss)
    rng = np.random.default_rng(seed + state["done"])
    t_start = time.time()
    t_end = t_start + 60 * minutes
    while state["done"] < total_shards and time.time() < t_end:
        shards = _shards(os.path.join(work, "train"))
        i = state["done"]
        if not shards:
            time.sleep(10)
            continue
        # the least-used shard (new shards first; replays spread evenly when the writers are behind)
        if "uses" not in state:  # checkpoints of older runs: count the uses from the history
            state["uses"] = {}
            for h_ in state["history"]:
                state["uses"][h_["shard"]] = state["uses"].get(h_["shard"], 0) + 1
        uses = state["uses"]
        n_min = min(uses.get(os.path.basename(p), 0) for p in shards)
        if max_uses is not None and n_min >= max_uses:
            time.sleep(5)
            continue
        fresh = [p for p in shards if uses.get(os.path.basename(p), 0) == n_min]
        path = str(fresh[int(rng.integers(len(fresh)))])
        if n_min > 0:
            state["replayed"] += 1
        uses[os.path.basename(path)] = uses.get(os.path.basename(path), 0) + 1
        t0 = time.time()
        d = _load(path)
        # cosine over shards or over the time budget, whichever runs out first
        frac = min(max(max(i - lr_from, 0) / max(total_shards - lr_from - 1, 1), (t0 - t_start) / (60 * minutes)), 1.0)
        lr = LR_MIN + 0.5 * (lr0 - LR_MIN) * (1 + np.cos(np.pi * frac))
        model.optimizer.learning_rate.assign(lr)
        yt = np.concatenate([d["y"], d["mask"]], axis=1).astype(np.float32)
        h = model.fit(d["x"].astype(np.float32), yt, batch_size=BATCH, epochs=1, verbose=0, shuffle=True)
        state["done"] += 1
        dt = time.time() - t0
        state["seconds"] += dt
        state["history"].append({"shard": os.path.basename(path), "loss": float(h.history["loss"][-1]),
                                 "lr": float(lr), "seconds": round(dt, 1)})
        model.save(ckpt + ".tmp.keras")
        os.replace(ckpt + ".tmp.keras", ckpt)
        with open(state_path + ".tmp", "w") as f:
            json.dump(state, f)
        os.replace(state_path + ".tmp", state_path)
        print(f"shard {state['done']}/{total_shards} {os.path.basename(path)} loss {h.history['loss'][-1]:.4f} "
              f"lr {lr:.2e} {dt:.1f} s", flush=True)
    return state


def keras_from_arrays(arrays, x_stats, seed=SEED, lr=LR0):
    """A compiled Keras model whose inference function equals the folded ``arrays`` of an exported npz.

    The npz holds the convolutions with batch normalisation folded in (``w * g / sqrt(var + eps)``,
    ``beta - mean * g / sqrt(var + eps)``), so the original BN parameters cannot be recovered. They are
    rebuilt such that (1) inference is unchanged and (2) a training step sees about the same function:
    the convolution keeps the folded kernel (no bias); for each BN layer the per-channel mean ``mu`` and
    variance ``var`` of that kernel's output on ``x_stats`` (a few thousand training inputs, positions and
    spectra pooled as Keras' BN does) become the moving statistics, ``gamma = sqrt(var + eps)`` and
    ``beta = mu + b``: inference ``gamma (z - mu) / sqrt(var + eps) + beta = z + b`` exactly, and the
    batch-statistics normalisation of training reproduces it to the batch-to-batch spread of ``mu, var``.
    Adam starts fresh (the npz holds no optimiser state).
    """
    import keras

    from .network import BN_EPS, CONV_LAYERS

    model = build_keras_model(seed)
    for i in range(len(CONV_LAYERS)):
        model.get_layer(f"conv{i}").set_weights([arrays[f"w{i}"]])
        nf = arrays[f"b{i}"].shape[0]
        model.get_layer(f"bn{i}").set_weights([np.full(nf, np.sqrt(1.0 - BN_EPS), np.float32),
                                               arrays[f"b{i}"], np.zeros(nf, np.float32),
                                               np.full(nf, 1.0 - BN_EPS, np.float32)])
    model.get_layer("reduce").set_weights([arrays["w_reduce"], arrays["b_reduce"]])
    model.get_layer("dense").set_weights([arrays["w_dense"], arrays["b_dense"]])
    model.get_layer("logits").set_weights([arrays["w_out"], arrays["b_out"]])
    # statistics of each convolution's output (inference mode: the function of the folded network)
    taps = keras.Model(model.input, [model.get_layer(f"conv{i}").output for i in range(len(CONV_LAYERS))])
    x_stats = np.asarray(x_stats, np.float32)
    sums = None
    for s0 in range(0, len(x_stats), 256):
        outs = taps(x_stats[s0:s0 + 256], training=False)
        part = [(np.asarray(o, np.float64).sum((0, 1)), (np.asarray(o, np.float64) ** 2).sum((0, 1)),
                 o.shape[0] * o.shape[1]) for o in outs]
        sums = part if sums is None else [(a[0] + b[0], a[1] + b[1], a[2] + b[2]) for a, b in zip(sums, part)]
    for i, (s1, s2, n) in enumerate(sums):
        mu = s1 / n
        var = np.maximum(s2 / n - mu ** 2, 1e-12)
        model.get_layer(f"bn{i}").set_weights([np.sqrt(var + BN_EPS).astype(np.float32),
                                               (mu + arrays[f"b{i}"]).astype(np.float32),
                                               mu.astype(np.float32), var.astype(np.float32)])
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=_loss())
    return model


def init_from_npz(out, npz=MODEL_PATH, stats_shard=None, n_stats=2048, lr=LR0):
    """Write ``out`` (``.keras``) rebuilt from an exported npz (:func:`keras_from_arrays`) for ``fit --init``.

    ``stats_shard``: a training shard whose first ``n_stats`` inputs give the BN statistics.
    Returns the largest absolute difference of the rebuilt model's logits (inference) from the npz
    network's on those inputs (printed; float32 rounding, ~1e-5).
    """
    from .network import load_network

    if stats_shard is None:
        raise ValueError("init needs --stats-shard (a training shard for the batch-normalisation statistics)")
    net = load_network(npz)
    x = _load(stats_shard, ("x",))["x"][:n_stats].astype(np.float32)
    model = keras_from_arrays(net.arrays, x, lr=lr)
    diff = float(np.max(np.abs(np.asarray(model(x[:256], training=False)) - net.logits(x[:256]))))
    model.save(out)
    print(f"{out}: rebuilt from {npz}, max |logit difference| {diff:.2e} on 256 inputs", flush=True)
    return diff


def platt_pair(z, t, iters=50, l2=1e-2):
    """One Platt pair ``(a, b)``, ``p = sigmoid(a z + b)``, by Newton steps on the log-loss of logits ``z``
    against targets ``t``, with a weak prior pulling towards (1, 0); (1, 0) when the fit fails."""
    z, t = np.asarray(z, np.float64), np.asarray(t, np.float64)
    a, b = 1.0, 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(a * z + b, -50, 50)))
        g = np.array([np.sum((p - t) * z) + l2 * (a - 1), np.sum(p - t) + l2 * b])
        w = p * (1 - p)
        H = np.array([[np.sum(w * z * z) + l2, np.sum(w * z)], [np.sum(w * z), np.sum(w) + l2]])
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-6:
            break
    return (a, b) if np.isfinite(a) and np.isfinite(b) and a > 0 else (1.0, 0.0)


def fit_platt(logits, y, mask, iters=50, l2=1e-2):
    """Per-element Platt scaling ``p = sigmoid(a z + b)`` by Newton steps on the masked log-loss.

    A weak prior pulls (a, b) towards (1, 0) so elements with few held-out
    positives keep the network's own probabilities.
    """
    n_el = logits.shape[1]
    A = np.ones(n_el)
    B = np.zeros(n_el)
    for j in range(n_el):
        m = mask[:, j] > 0
        A[j], B[j] = platt_pair(logits[m, j], y[m, j], iters, l2)
    return A.astype(np.float32), B.astype(np.float32)


def ece(p, y, mask, bins=15):
    """Expected calibration error over all masked (spectrum, element) pairs."""
    m = mask > 0
    p, y = p[m], y[m]
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    err = 0.0
    for k in range(bins):
        s = idx == k
        if s.any():
            err += s.mean() * abs(p[s].mean() - y[s].mean())
    return float(err)


def _family(el):
    """Edge family of an element's lowest Major edge at >= 100 eV (for the per-family table)."""
    from ..simulation.edges import edge_table

    t = edge_table()
    edges = sorted((t.onset[i], t.subshell[i]) for i in t.edges_of(el) if t.relevance[i] == "Major")
    hi = [s for o, s in edges if o >= 100] or [s for o, s in edges]
    s = hi[0]
    return {"K": "K", "L": "L2,3", "M": "M4,5", "N": "N4,5"}.get(s[0], s[0]) if s[0] != "L" or s in ("L2", "L3") \
        else "L2,3"


def metrics(p, y, mask, present, threshold=0.5, assessable=None):
    """Micro/weighted F1, exact match, per-family F1 (masked labels) and missed-below-visibility.

    ``assessable`` (``(n, 80)``): labels that are not assessable are never called, as in
    :func:`identify_elements` (NaN probability). Without it the raw network output on those
    labels would count as a correct call in the weighted F1 (which forgives masked labels): that
    inflated the weighted F1 of the first model card (0.91 instead of 0.81).
    """
    from sklearn.metrics import f1_score

    pred = p >= threshold
    if assessable is not None:
        pred &= np.asarray(assessable) > 0
    m = mask > 0
    yt = (y > 0)
    tp = np.sum(pred & yt & m)
    fp = np.sum(pred & ~yt & m)
    fn = np.sum(~pred & yt & m)
    micro = 2 * tp / max(2 * tp + fp + fn, 1)
    # exact match over masked labels, carbon dropped
    ci = LABELS.index("C")
    keep = np.ones(len(LABELS), bool)
    keep[ci] = False
    ok = ((pred == yt) | ~m)[:, keep].all(axis=1)
    yw = np.where(m, yt, pred)  # masked labels count as correct
    weighted = f1_score(yw[:, keep], pred[:, keep], average="weighted", zero_division=0)
    fam = {}
    for j, el in enumerate(LABELS):
        fam.setdefault(_family(el), []).append(j)
    per_family = {}
    for f, js in sorted(fam.items()):
        mm = m[:, js]
        t_, p_ = yt[:, js][mm], pred[:, js][mm]
        tpf, fpf, fnf = np.sum(p_ & t_), np.sum(p_ & ~t_), np.sum(~p_ & t_)
        per_family[f] = {"f1": round(float(2 * tpf / max(2 * tpf + fpf + fnf, 1)), 4),
                         "precision": round(float(tpf / max(tpf + fpf, 1)), 4),
                         "recall": round(float(tpf / max(tpf + fnf, 1)), 4), "positives": int(t_.sum()),
                         "elements": [LABELS[j] for j in js]}
    # present elements (assessable) that were not called: how many were below visibility (ambiguous)?
    missed_all = present.astype(bool) & ~pred & (m | (present.astype(bool) & ~yt))
    below = missed_all & ~yt
    return {"micro_f1": round(float(micro), 4), "weighted_f1_no_C": round(float(weighted), 4),
            "exact_match_no_C": round(float(ok.mean()), 4), "per_family": per_family,
            "missed_present_fraction_below_visibility": round(float(below.sum() / max(missed_all.sum(), 1)), 4),
            "n_spectra": int(p.shape[0])}


def finalize(work, out=MODEL_PATH):
    """Calibrate on held-out shards 0-1, evaluate on 2-3, export the npz and the model card."""
    import keras

    loss = _loss()
    model = keras.saving.load_model(os.path.join(work, "checkpoint.keras"), custom_objects={"masked_bce": loss},
                                    safe_mode=True)
    with open(os.path.join(work, "state.json")) as f:
        state = json.load(f)
    arrays = keras_to_arrays(model)
    from .network import NumpyNetwork

    net = NumpyNetwork(arrays, LABELS)
    phases = None
    if os.path.exists(os.path.join(work, "phases.json")):  # training phases (one string each), for the card
        with open(os.path.join(work, "phases.json")) as f:
            phases = json.load(f)
    held = _shards(os.path.join(work, "heldout"))
    if len(held) < 2:
        raise RuntimeError("finalize needs >= 2 held-out shards (calibration, test)")
    n_cal = max(1, len(held) // 2)
    keys = ("x", "y", "mask", "present", "assessable")

    def run(paths):
        ds = [_load(p, keys) for p in paths]
        d = {k: np.concatenate([x[k] for x in ds]) for k in keys}
        return net.logits(d["x"].astype(np.float32)), d

    z_cal, d_cal = run(held[:n_cal])
    z_test, d_test = run(held[n_cal:])
    a, b = fit_platt(z_cal, d_cal["y"], d_cal["mask"])
    net.calib_a, net.calib_b = a, b
    p_raw = 1 / (1 + np.exp(-z_test))
    p_cal = net.calibrated(z_test)
    res = {
        "ece_uncalibrated": round(ece(p_raw, d_test["y"], d_test["mask"]), 4),
        "ece_calibrated": round(ece(p_cal, d_test["y"], d_test["mask"]), 4),
        "threshold": 0.5,
        "calibrated": metrics(p_cal, d_test["y"], d_test["mask"], d_test["present"], assessable=d_test["assessable"]),
        "uncalibrated": metrics(p_raw, d_test["y"], d_test["mask"], d_test["present"],
                                assessable=d_test["assessable"]),
    }
    import tensorflow as tf

    from ..simulation.edges import edge_table
    from .._shared.signals import dependency_versions
    from .simulate import DISPERSION_P, DISPERSIONS, GROUP, INSTRUMENT_SHIFT, simulator_options

    meta = {
        "name": "elements_cnn",
        "capability": "identify_elements",
        "labels": list(LABELS),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "architecture": "Conv1D(16,k8,s4)-Conv1D(32,k4,s2)-Conv1D(64,k4,s2)-Conv1D(96,k3,s2) (BN+ReLU, folded) "
                        "-> 1x1 Conv(8) -> flatten 768 -> Dense 384 -> Dense 80; numpy inference",
        "n_parameters": net.n_parameters,
        "input": "1 eV grid 0-3071 eV; channels I/max, arcsinh(20 dlnI/dE) (2 eV Gaussian smoothing), window mask",
        "ranges": {"dispersion_eV_per_channel": [0.05, 2.0], "window_eV": [50, 3100], "min_window_eV": 100,
                   "instrument_shift_eV": list(INSTRUMENT_SHIFT),
                   "other_ranges": "simulation.core_loss realistic defaults (see its docstring)",
                   "training_dispersions": DISPERSIONS.tolist(), "training_dispersion_p": DISPERSION_P.tolist()},
        "recipe": {"training_script": "python -m hyperspy_eels_ml.elements.train fit WORK; ... finalize WORK",
                   "seed": SEED, "heldout_seed_base": HELDOUT_SEED_BASE, "batch": BATCH, "lr": [LR0, LR_MIN],
                   "group_size": GROUP, "shards_trained": state["done"], "shards_replayed": state["replayed"],
                   "train_seconds": round(state["seconds"]), "simulator_options": simulator_options(),
                   "loss": "masked binary cross-entropy (ambiguous and not-assessable labels ignored)",
                   "calibration": "per-element Platt scaling on held-out simulated shards "
                                  f"{[os.path.basename(p) for p in held[:n_cal]]}",
                   **({"phases": phases} if phases else {})},
        "heldout_simulated": res,
        "versions": {**dependency_versions("numpy", "hyperspy", "exspy", "keras", "scikit-learn"),
                     "tensorflow": tf.__version__, "python": platform.python_version(),
                     "edge_table": edge_table().meta.get("source", "")},
        "history": state["history"][-5:],
    }
    res["o_fe_false_calls"] = o_fe_false_calls(net)
    probe = _load(held[-1], ("x",))["x"][:8].astype(np.float32)
    export_npz(out, arrays, LABELS, a, b, meta, probe)
    card = out.replace(".npz", ".json")
    with open(card, "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(res, indent=1))
    return meta


def o_fe_false_calls(net, n=96, seed=4242, realisms=("basic", "realistic-v1", "realistic-v2")):
    """Calls of other elements (Ce, Ne in particular) on simulated O + Fe spectra (450-950 eV, 0.5 eV/ch).

    The check of the known Ce false positive (the v1 simulator's fine structure at the Fe L1 onset
    looked like Ce M5): per simulator version, the fraction of spectra with a calibrated p(Ce) >= 0.5,
    its median and maximum, the same for Ne (K 867 eV: the Fe L1 step at 846 eV moved by a positive
    instrument shift), and the fraction with any call other than O and Fe (C excepted).
    """
    from ..simulation.core_loss import core_loss
    from .preprocess import preprocess_block

    ce, ne = LABELS.index("Ce"), LABELS.index("Ne")
    keep = [j for j, el in enumerate(LABELS) if el not in ("O", "Fe", "C")]
    out = {}
    for realism in realisms:
        b = core_loss(n, ["O", "Fe"], energy_offset=450.0, dispersion=0.5, size=1000, amounts=np.ones(2),
                      counts=(2e4, 5e4), jump_ratio=(0.5, 1.0), rng=seed, realism=realism)
        x, _, lo, hi, _ = preprocess_block(b.spectra, b.energy)
        p = net.calibrated(net.logits(x.astype(np.float32)))
        out[realism] = {"ce_called": round(float(np.mean(p[:, ce] >= 0.5)), 4),
                        "p_ce_median": round(float(np.median(p[:, ce])), 4),
                        "p_ce_max": round(float(p[:, ce].max()), 4),
                        "ne_called": round(float(np.mean(p[:, ne] >= 0.5)), 4),
                        "p_ne_median": round(float(np.median(p[:, ne])), 4),
                        "any_other_call": round(float(np.mean((p[:, keep] >= 0.5).any(axis=1))), 4),
                        "n": n, "seed": seed}
    return out


def _heldout_sets(folders):
    """``{name: (calibration shard paths, test shard paths)}``: first half / second half of each folder."""
    out = {}
    for name, folder in folders.items():
        held = _shards(folder)
        if len(held) < 2:
            raise RuntimeError(f"held-out folder {folder!r} needs >= 2 shards (calibration, test)")
        n = max(1, len(held) // 2)
        out[name] = (held[:n], held[n:])
    return out


def _stack(paths, keys=("x", "y", "mask", "present", "assessable")):
    ds = [_load(p, keys) for p in paths]
    return {k: np.concatenate([d[k] for d in ds]) for k in keys}


def soup(base, tuned, alpha):
    """Weight-space interpolation ``(1 - alpha) base + alpha tuned`` of two folded networks (WiSE-FT)."""
    if set(base) != set(tuned):
        raise ValueError("the two networks do not have the same arrays")
    return {k: ((1.0 - alpha) * np.asarray(base[k], np.float64) + alpha * np.asarray(tuned[k], np.float64))
            .astype(np.float32) for k in base}


def select_and_evaluate(tuned_arrays, base_net, folders, alphas=(0.5, 0.75, 1.0)):
    """Choose the interpolation weight on the calibration shards only, then evaluate once on the test shards.

    ``folders``: ``{name: held-out folder}`` (e.g. ``{"v2": ..., "v3": ...}``); the first half of each
    folder's shards is the calibration set (pooled over folders for the per-element Platt fit and for
    the choice of ``alpha``: mean weighted F1 no-C over the folders after that fit), the second half the test
    set. ``base_net``: the shipped network (``load_network()``), evaluated on the same test shards as
    shipped (its own calibration) and recalibrated on the pooled calibration shards.
    Returns ``(result dict, chosen arrays, calib_a, calib_b)``.
    """
    from .network import NumpyNetwork

    sets = _heldout_sets(folders)
    cal = {k: _stack(v[0]) for k, v in sets.items()}
    test = {k: _stack(v[1]) for k, v in sets.items()}

    def logits(net, d):
        return np.concatenate([net.logits(d["x"][i:i + 1024].astype(np.float32))
                               for i in range(0, len(d["x"]), 1024)])

    def calibrate(net):
        zc = {k: logits(net, d) for k, d in cal.items()}
        a, b = fit_platt(np.concatenate(list(zc.values())), np.concatenate([d["y"] for d in cal.values()]),
                         np.concatenate([d["mask"] for d in cal.values()]))
        return zc, a, b

    def scores(net, data, z=None):
        out = {}
        for k, d in data.items():
            zk = logits(net, d) if z is None else z[k]
            p_cal, p_raw = net.calibrated(zk), 1 / (1 + np.exp(-zk))
            out[k] = {"ece_uncalibrated": round(ece(p_raw, d["y"], d["mask"]), 4),
                      "ece_calibrated": round(ece(p_cal, d["y"], d["mask"]), 4),
                      "calibrated": metrics(p_cal, d["y"], d["mask"], d["present"], assessable=d["assessable"])}
        return out

    selection = {}
    best = None
    for alpha in alphas:
        net = NumpyNetwork(soup(base_net.arrays, tuned_arrays, alpha), LABELS)
        zc, a, b = calibrate(net)
        net.calib_a, net.calib_b = a, b
        sc = scores(net, cal, zc)
        mean_w = float(np.mean([v["calibrated"]["weighted_f1_no_C"] for v in sc.values()]))
        selection[str(alpha)] = {"calibration_set_mean_weighted_f1": round(mean_w, 4),
                                 **{k: v["calibrated"]["weighted_f1_no_C"] for k, v in sc.items()}}
        if best is None or mean_w > best[0] + 1e-12:
            best = (mean_w, alpha, net)
    _, alpha, net = best
    shipped_as_is = scores(base_net, test)
    recal = NumpyNetwork(base_net.arrays, LABELS)
    _, recal.calib_a, recal.calib_b = calibrate(recal)
    res = {"alpha_selection_on_calibration_shards": selection, "alpha": alpha,
           "calibration_shards": {k: [os.path.basename(p) for p in v[0]] for k, v in sets.items()},
           "test_shards": {k: [os.path.basename(p) for p in v[1]] for k, v in sets.items()},
           "candidate": scores(net, test), "shipped_as_shipped": shipped_as_is,
           "shipped_recalibrated": scores(recal, test),
           "o_fe_false_calls": {"candidate": o_fe_false_calls(net, realisms=("realistic-v2", "realistic-v3")),
                                "shipped": o_fe_false_calls(base_net, realisms=("realistic-v2", "realistic-v3"))}}
    return res, net.arrays, net.calib_a, net.calib_b


def card_floors(card=None):
    """The ship rule's floors from a model card: ``{"v2_floor": (weighted F1, exact), "ne_max": rate}``.

    ``card``: a card dict, the path of a card (``.json``) or of a model (``.npz``, its ``.json`` beside it),
    or None for the shipped model's card. The floors are the card's own held-out numbers:
    ``heldout_simulated.calibrated`` (v2 test shards, weighted F1 no-C and exact match no-C) and
    ``heldout_simulated.o_fe_false_calls["realistic-v2"].ne_called``. Rule 1 of the E5 ship rule names
    "the shipped numbers in the card"; reading them here (rather than hard-coding one model's numbers)
    keeps the rule right after every ship. A card without these fields raises ``ValueError``.
    """
    if card is None:
        card = MODEL_PATH
    if isinstance(card, (str, os.PathLike)):
        path = str(card)
        if path.endswith(".npz"):
            path = path[:-4] + ".json"
        with open(path) as f:
            card = json.load(f)
    try:
        h = card["heldout_simulated"]
        w, e = h["calibrated"]["weighted_f1_no_C"], h["calibrated"]["exact_match_no_C"]
        ne = h["o_fe_false_calls"]["realistic-v2"]["ne_called"]
    except (KeyError, TypeError) as err:
        raise ValueError(f"the model card has no held-out floor {err} (heldout_simulated.calibrated."
                         "weighted_f1_no_C / exact_match_no_C, heldout_simulated.o_fe_false_calls."
                         "realistic-v2.ne_called)") from None
    return {"v2_floor": (float(w), float(e)), "ne_max": float(ne)}


def ship_rule(res, card=None, ece_max=0.05, v2_floor=None, ne_max=None):
    """The E5 ship rule (written before training; /tmp/e5/SHIP_RULE.md) on :func:`select_and_evaluate`'s result.

    1. v2 test weighted F1 / exact >= ``v2_floor`` (the card's shipped held-out numbers);
    2. v3 test weighted F1 and exact above the better of the shipped model as shipped and recalibrated;
    3. calibrated ECE <= ``ece_max`` on every test set; 4. O+Fe Ne false-call rate (v2) <= ``ne_max``
    (the card's value).
    ``v2_floor`` and ``ne_max`` default to :func:`card_floors` of ``card`` (None: the shipped model's card);
    given explicitly, they override the card. Returns ``(passed, {check: bool})``.
    """
    if v2_floor is None or ne_max is None:
        fl = card_floors(card)
        v2_floor = fl["v2_floor"] if v2_floor is None else v2_floor
        ne_max = fl["ne_max"] if ne_max is None else ne_max
    c, s1, s2 = res["candidate"], res["shipped_as_shipped"], res["shipped_recalibrated"]

    def m(d, k, key):
        return d[k]["calibrated"][key]

    checks = {
        "v2_weighted_f1": m(c, "v2", "weighted_f1_no_C") >= v2_floor[0],
        "v2_exact": m(c, "v2", "exact_match_no_C") >= v2_floor[1],
        "v3_weighted_f1": m(c, "v3", "weighted_f1_no_C") > max(m(s1, "v3", "weighted_f1_no_C"),
                                                              m(s2, "v3", "weighted_f1_no_C")),
        "v3_exact": m(c, "v3", "exact_match_no_C") > max(m(s1, "v3", "exact_match_no_C"),
                                                        m(s2, "v3", "exact_match_no_C")),
        "ece": all(v["ece_calibrated"] <= ece_max for v in c.values()),
        "ne_on_o_fe": res["o_fe_false_calls"]["candidate"]["realistic-v2"]["ne_called"] <= ne_max,
    }
    return all(checks.values()), checks


#: rule 1 of the E8 ship rule (session 13, ``git show 5595bef:SHIP_RULE.md``): how far below the card's v2 / v3
#: held-out values a candidate may score, about one standard error on 8,192 test spectra
TOLERANCE = {"weighted_f1_no_C": 0.003, "exact_match_no_C": 0.005}


def ship_rule_tolerant(res, card=None, ece_max=0.05, tolerance=None):
    """The E8 ship rule, checks 1-4, on :func:`select_and_evaluate`'s result (check 5, the pair study of
    ``benchmarks/bench_identify.py``, is run apart).

    1. v2 and v3 test weighted F1 / exact match >= the card's values minus ``tolerance``
    (:data:`TOLERANCE`; the card's ``heldout_simulated.calibrated`` and ``.realistic_v3.calibrated``);
    2-3. calibrated ECE <= ``ece_max`` on every test set; 4. O+Fe Ne false-call rate (v2) <= the card's.
    ``card``: as for :func:`card_floors` (None: the shipped model's card). Returns ``(passed, {check: bool})``.
    """
    tol = dict(TOLERANCE if tolerance is None else tolerance)
    if card is None or isinstance(card, (str, os.PathLike)):
        path = str(MODEL_PATH if card is None else card)
        with open(path[:-4] + ".json" if path.endswith(".npz") else path) as f:
            card = json.load(f)
    ne_max = card_floors(card)["ne_max"]
    h = card["heldout_simulated"]
    ref = {"v2": h["calibrated"], "v3": h["realistic_v3"]["calibrated"]}
    c = res["candidate"]
    checks = {f"{k}_{key}": c[k]["calibrated"][key] >= ref[k][key] - tol[key] - 1e-12
              for k in ("v2", "v3") for key in ("weighted_f1_no_C", "exact_match_no_C")}
    checks["ece"] = all(v["ece_calibrated"] <= ece_max for v in c.values())
    checks["ne_on_o_fe"] = res["o_fe_false_calls"]["candidate"]["realistic-v2"]["ne_called"] <= ne_max
    return all(checks.values()), checks


def evaluate(work, model=MODEL_PATH, heldout=None):
    """Held-out metrics of a shipped model (no retraining, no recalibration) on ``WORK/heldout`` shards.

    The calibration shards of :func:`finalize` (the first half) are left out; returns (and prints)
    what the model card's ``heldout_simulated`` holds, with and without the coincidence rule, and
    the O + Fe false-call check (:func:`o_fe_false_calls`). ``heldout``: another folder of held-out
    shards (e.g. those of an older simulator version), of which the second half is evaluated too.
    """
    from .coincidence import resolve_coincidences
    from .network import load_network

    net = load_network(model)
    held = _shards(heldout or os.path.join(work, "heldout"))
    if len(held) < 2:
        raise RuntimeError("evaluate needs >= 2 held-out shards (the second half is evaluated)")
    keys = ("x", "y", "mask", "present", "assessable", "lo", "hi")
    ds = [_load(p, keys) for p in held[max(1, len(held) // 2):]]
    d = {k: np.concatenate([x[k] for x in ds]) for k in keys}
    z = net.logits(d.pop("x").astype(np.float32))
    p_cal, p_raw = net.calibrated(z), 1 / (1 + np.exp(-z))
    amb = resolve_coincidences(p_cal, d["lo"], d["hi"])
    args = (d["y"], d["mask"], d["present"])
    res = {"ece_uncalibrated": round(ece(p_raw, d["y"], d["mask"]), 4),
           "ece_calibrated": round(ece(p_cal, d["y"], d["mask"]), 4), "threshold": 0.5,
           "calibrated": metrics(p_cal, *args, assessable=d["assessable"]),
           "uncalibrated": metrics(p_raw, *args, assessable=d["assessable"]),
           "calibrated_coincidence_rule": metrics(np.where(amb >= 0, 0.0, p_cal), *args, assessable=d["assessable"]),
           "shards": [os.path.basename(p) for p in held[max(1, len(held) // 2):]],
           "o_fe_false_calls": o_fe_false_calls(net)}
    print(json.dumps({k: v for k, v in res.items() if k not in ("uncalibrated",)}, indent=1))
    return res


def select_main(work, folders, alphas, json_path, npz_out=None, rule="e5", export_always=False):
    """``train select``: :func:`select_and_evaluate` + the ship rule (``rule="e5"``: :func:`ship_rule`, ``"e8"``:
    :func:`ship_rule_tolerant`); exports ``npz_out`` only when the rule passes, or always with
    ``export_always`` (the rule's outcome is in the JSON either way: rebuilding a shipped network from its
    recipe does not depend on the rule that shipped it)."""
    import keras

    from .network import load_network

    model = keras.saving.load_model(os.path.join(work, "checkpoint.keras"), custom_objects={"masked_bce": _loss()},
                                    safe_mode=True)
    base = load_network()
    res, arrays, ca, cb = select_and_evaluate(keras_to_arrays(model), base, folders, tuple(alphas))
    floors = card_floors(MODEL_PATH)  # the shipped model's card (the model select compares against)
    if rule == "e8":
        passed, checks = ship_rule_tolerant(res, MODEL_PATH)
    elif rule == "e5":
        passed, checks = ship_rule(res, **floors)
    else:
        raise ValueError(f"rule must be 'e5' or 'e8', got {rule!r}")
    res["rule"] = {"name": rule, "passed": passed, "checks": checks,
                   "floors": {"v2_weighted_f1": floors["v2_floor"][0], "v2_exact": floors["v2_floor"][1],
                              "ne_max": floors["ne_max"], "card": MODEL_PATH}}
    if rule == "e8":
        res["rule"]["tolerance"] = dict(TOLERANCE)
    with open(json_path, "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps({"alpha": res["alpha"], "rule": res["rule"]}, indent=1), flush=True)
    if npz_out and (passed or export_always):
        probe = _load(_heldout_sets(folders)[sorted(folders)[-1]][1][-1], ("x",))["x"][:8].astype(np.float32)
        export_npz(npz_out, arrays, LABELS, ca, cb, dict(base.meta), probe)
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fit")
    f.add_argument("work")
    f.add_argument("--total-shards", type=int, default=60)
    f.add_argument("--minutes", type=float, default=50)
    f.add_argument("--lr-from", type=int, default=0, help="shard index where the cosine schedule (re)starts")
    f.add_argument("--lr0", type=float, default=LR0)
    f.add_argument("--init", default=None, help=".keras checkpoint to start from (fine-tuning)")
    f.add_argument("--max-uses", type=int, default=None, help="wait for new shards rather than use one more often")
    z = sub.add_parser("finalize")
    z.add_argument("work")
    z.add_argument("--out", default=MODEL_PATH)
    e = sub.add_parser("evaluate", help="held-out metrics of the shipped model (no recalibration)")
    e.add_argument("work")
    e.add_argument("--model", default=MODEL_PATH)
    e.add_argument("--heldout", default=None, help="folder of held-out shards (default WORK/heldout)")
    e.add_argument("--json", default=None, help="also write the results to this file")
    i_ = sub.add_parser("init", help="rebuild a .keras checkpoint from an exported npz (for fit --init)")
    i_.add_argument("out")
    i_.add_argument("--npz", default=MODEL_PATH)
    i_.add_argument("--stats-shard", required=True, help="training shard for the batch-normalisation statistics")
    i_.add_argument("--lr0", type=float, default=LR0)
    m_ = sub.add_parser("select", help="choose the soup weight on calibration shards, evaluate once, apply the rule")
    m_.add_argument("work", help="folder with checkpoint.keras (the fine-tuned model)")
    m_.add_argument("--heldout", nargs="+", required=True, metavar="NAME=DIR", help="e.g. v2=DIR v3=DIR")
    m_.add_argument("--alphas", type=float, nargs="+", default=[0.5, 0.75, 1.0])
    m_.add_argument("--json", required=True, help="write the results and the rule outcome here")
    m_.add_argument("--npz-out", default=None, help="write the chosen network (npz) here, only if the rule passes")
    m_.add_argument("--rule", choices=("e5", "e8"), default="e5",
                    help="e5: no loss against the card (phases 5-7); e8: the card minus about one standard error")
    m_.add_argument("--export-always", action="store_true",
                    help="write --npz-out whatever the rule says (rebuilding a shipped network from its recipe)")
    a = p.parse_args(argv)
    if a.cmd == "select":
        select_main(a.work, dict(h.split("=", 1) for h in a.heldout), a.alphas, a.json, a.npz_out, rule=a.rule,
                    export_always=a.export_always)
    elif a.cmd == "init":
        init_from_npz(a.out, a.npz, a.stats_shard, lr=a.lr0)
    elif a.cmd == "fit":
        fit(a.work, a.total_shards, a.minutes, lr_from=a.lr_from, lr0=a.lr0, init=a.init, max_uses=a.max_uses)
    elif a.cmd == "evaluate":
        res = evaluate(a.work, a.model, a.heldout)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(res, f, indent=1)
    else:
        finalize(a.work, a.out)


if __name__ == "__main__":
    main()
