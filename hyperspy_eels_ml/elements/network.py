"""The element-identification network: Keras for training, numpy for inference.

Architecture (keeps energy position, as recommended by Annys et al. 2023 and
the package notes §4): input ``(3072, 3)`` ->
Conv1D(16, 8, stride 4) -> Conv1D(32, 4, stride 2) -> Conv1D(64, 4, stride 2)
-> Conv1D(96, 3, stride 2) (each with batch normalisation and ReLU; total
stride 32, one position per 32 eV) -> 1x1 Conv1D(8) -> flatten (768) ->
Dense(384) -> Dense(80) logits. About 0.36 M parameters.

Inference never needs TensorFlow: the trained network is exported to a plain
``.npz`` (batch normalisation folded into the convolutions, loaded with
``allow_pickle=False``) and evaluated in numpy (strided im2col + matmul) per
dask block, so workers hold only numpy arrays. The file also carries per-element
Platt calibration (``a``, ``b``: ``p = sigmoid(a * logit + b)``) and a probe
(input, expected logits) checked at load time: a corrupt or tampered file
raises :class:`~hyperspy_eels_ml.ModelFileError` instead of giving wrong
answers.
"""

from __future__ import annotations

import json
import os

import numpy as np

from .._shared.exceptions import ModelFileError

__all__ = ["build_keras_model", "export_npz", "NumpyNetwork", "load_network", "CONV_LAYERS", "MODEL_PATH"]

#: (filters, kernel, stride) of the strided convolutions
CONV_LAYERS = ((16, 8, 4), (32, 4, 2), (64, 4, 2), (96, 3, 2))
REDUCE = 8
DENSE = 384
N_IN = 3072
N_CH = 3
N_OUT = 80
BN_EPS = 1e-3
MODEL_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "models", "elements", "elements_cnn.npz")


def build_keras_model(seed=0, dropout=0.2):
    """The Keras model (training only; imports Keras)."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inp = keras.Input((N_IN, N_CH), name="spectrum")
    x = inp
    for i, (f, k, s) in enumerate(CONV_LAYERS):
        x = layers.Conv1D(f, k, strides=s, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = layers.BatchNormalization(epsilon=BN_EPS, name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
    x = layers.Conv1D(REDUCE, 1, activation="relu", name="reduce")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(dropout, name="drop0")(x)
    x = layers.Dense(DENSE, activation="relu", name="dense")(x)
    x = layers.Dropout(dropout, name="drop1")(x)
    out = layers.Dense(N_OUT, name="logits")(x)
    return keras.Model(inp, out, name="elements_cnn")


def _same_pad(n_in, k, s):
    n_out = -(-n_in // s)
    total = max((n_out - 1) * s + k - n_in, 0)
    return total // 2, total - total // 2, n_out


def keras_to_arrays(model):
    """Plain arrays of a trained Keras model, batch normalisation folded in."""
    arr = {}
    for i in range(len(CONV_LAYERS)):
        w = model.get_layer(f"conv{i}").get_weights()[0]  # (k, cin, cout)
        g, beta, mean, var = model.get_layer(f"bn{i}").get_weights()
        sc = g / np.sqrt(var + BN_EPS)
        arr[f"w{i}"] = (w * sc[None, None, :]).astype(np.float32)
        arr[f"b{i}"] = (beta - mean * sc).astype(np.float32)
    w, b = model.get_layer("reduce").get_weights()
    arr["w_reduce"], arr["b_reduce"] = w.astype(np.float32), b.astype(np.float32)
    w, b = model.get_layer("dense").get_weights()
    arr["w_dense"], arr["b_dense"] = w.astype(np.float32), b.astype(np.float32)
    w, b = model.get_layer("logits").get_weights()
    arr["w_out"], arr["b_out"] = w.astype(np.float32), b.astype(np.float32)
    return arr


class NumpyNetwork:
    """Numpy forward pass of the exported network (no TensorFlow needed)."""

    def __init__(self, arrays, labels, calib_a=None, calib_b=None, meta=None):
        self.arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}
        self.labels = tuple(labels)
        n = len(self.labels)
        self.calib_a = np.ones(n, np.float32) if calib_a is None else np.asarray(calib_a, np.float32)
        self.calib_b = np.zeros(n, np.float32) if calib_b is None else np.asarray(calib_b, np.float32)
        self.meta = dict(meta or {})

    def logits(self, x, batch=1024):
        """Raw logits ``(n, 80)`` of inputs ``(n, 3072, 3)``."""
        from numpy.lib.stride_tricks import sliding_window_view

        x = np.asarray(x, dtype=np.float32)
        out = np.empty((x.shape[0], N_OUT), np.float32)
        A = self.arrays
        for s0 in range(0, x.shape[0], batch):
            h = x[s0 : s0 + batch]
            for i, (f, k, s) in enumerate(CONV_LAYERS):
                pl, pr, n_out = _same_pad(h.shape[1], k, s)
                hp = np.pad(h, ((0, 0), (pl, pr), (0, 0)))
                win = sliding_window_view(hp, k, axis=1)[:, ::s][:, :n_out]  # (b, n_out, cin, k)
                w = A[f"w{i}"]  # (k, cin, cout)
                cols = win.transpose(0, 1, 3, 2).reshape(win.shape[0] * n_out, k * w.shape[1])
                h = cols @ w.reshape(k * w.shape[1], f) + A[f"b{i}"]
                np.maximum(h, 0, out=h)
                h = h.reshape(win.shape[0], n_out, f)
            h = h @ A["w_reduce"][0] + A["b_reduce"]
            np.maximum(h, 0, out=h)
            h = h.reshape(h.shape[0], -1) @ A["w_dense"] + A["b_dense"]
            np.maximum(h, 0, out=h)
            out[s0 : s0 + batch] = h @ A["w_out"] + A["b_out"]
        return out

    def calibrated(self, logits):
        """Calibrated probabilities from logits (per-element Platt scaling)."""
        z = self.calib_a[None, :] * logits + self.calib_b[None, :]
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))

    def predict_proba(self, x):
        return self.calibrated(self.logits(x))

    @property
    def n_parameters(self):
        return int(sum(v.size for v in self.arrays.values()))


_EXPECTED = None


def _expected_shapes():
    shapes = {}
    cin = N_CH
    n = N_IN
    for i, (f, k, s) in enumerate(CONV_LAYERS):
        shapes[f"w{i}"] = (k, cin, f)
        shapes[f"b{i}"] = (f,)
        cin = f
        n = -(-n // s)
    shapes["w_reduce"] = (1, cin, REDUCE)
    shapes["b_reduce"] = (REDUCE,)
    shapes["w_dense"] = (n * REDUCE, DENSE)
    shapes["b_dense"] = (DENSE,)
    shapes["w_out"] = (DENSE, N_OUT)
    shapes["b_out"] = (N_OUT,)
    return shapes


def export_npz(path, arrays, labels, calib_a, calib_b, meta, probe_x):
    """Write the network, calibration, labels, probe and metadata to one ``.npz``."""
    net = NumpyNetwork(arrays, labels, calib_a, calib_b, meta)
    probe_logits = net.logits(probe_x)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    np.savez_compressed(
        path, **{f"net_{k}": v for k, v in net.arrays.items()},
        labels=np.asarray(labels, dtype="U2"), calib_a=net.calib_a, calib_b=net.calib_b,
        probe_x=np.asarray(probe_x, np.float32), probe_logits=probe_logits,
        meta=np.asarray(json.dumps(meta)),
    )
    return net


def load_network(path=MODEL_PATH):
    """Load and verify an exported network (``allow_pickle=False``).

    Raises
    ------
    ModelFileError
        Missing arrays, wrong shapes, non-finite values, or a probe mismatch
        (the file is corrupt or was modified).
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            d = {k: f[k] for k in f.files}
    except Exception as exc:  # missing, truncated, not a zip, pickled objects...
        raise ModelFileError(path, exc) from exc
    shapes = _expected_shapes()
    arrays = {}
    for k, shp in shapes.items():
        key = f"net_{k}"
        if key not in d:
            raise ModelFileError(path, f"array {key!r} is missing")
        if tuple(d[key].shape) != shp:
            raise ModelFileError(path, f"array {key!r} has shape {d[key].shape}, expected {shp}")
        if not np.all(np.isfinite(d[key])):
            raise ModelFileError(path, f"array {key!r} holds NaN/inf")
        arrays[k] = d[key]
    for key in ("labels", "calib_a", "calib_b", "probe_x", "probe_logits", "meta"):
        if key not in d:
            raise ModelFileError(path, f"array {key!r} is missing")
    labels = [str(v) for v in d["labels"]]
    if len(labels) != N_OUT or d["calib_a"].shape != (N_OUT,) or d["calib_b"].shape != (N_OUT,):
        raise ModelFileError(path, "labels/calibration do not have 80 entries")
    if not (np.all(np.isfinite(d["calib_a"])) and np.all(np.isfinite(d["calib_b"]))):
        raise ModelFileError(path, "calibration holds NaN/inf")
    try:
        meta = json.loads(str(d["meta"]))
    except ValueError as exc:
        raise ModelFileError(path, f"metadata is not JSON ({exc})") from exc
    net = NumpyNetwork(arrays, labels, d["calib_a"], d["calib_b"], meta)
    got = net.logits(d["probe_x"])
    if got.shape != d["probe_logits"].shape or not np.allclose(got, d["probe_logits"], rtol=1e-3, atol=1e-3):
        raise ModelFileError(path, "the probe input does not reproduce the stored logits (corrupt or modified file)")
    return net
