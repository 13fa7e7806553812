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
    """Numpy forward pass of the exported network (no TensorFlow needed).

    Two exact shortcuts make it fast on CPUs (both reproduce the plain
    convolution to float32 rounding, tested against :meth:`logits_reference`):

    * the input is zero outside the usable window, so every activation whose
      receptive field lies outside the window equals that of an all-zero
      spectrum; those activations are computed once (``_zero_acts``) and only
      the positions that see the window are computed per spectrum (a 512 eV
      window costs about a fifth of the full 3072 eV grid);
    * a strided convolution with kernel ``k <= m * stride`` is ``m`` matrix
      products of the input reshaped to ``(positions / stride, stride * cin)``,
      taken on contiguous row ranges (no im2col copy): one BLAS call per tap
      block.
    """

    def __init__(self, arrays, labels, calib_a=None, calib_b=None, meta=None):
        self.arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}
        self.labels = tuple(labels)
        n = len(self.labels)
        self.calib_a = np.ones(n, np.float32) if calib_a is None else np.asarray(calib_a, np.float32)
        self.calib_b = np.zeros(n, np.float32) if calib_b is None else np.asarray(calib_b, np.float32)
        self.meta = dict(meta or {})
        self._taps = None
        self._zero = None
        self._zero_head = None

    # -- reference (plain im2col) forward pass: the definition the fast pass is tested against --------
    def logits_reference(self, x, batch=1024):
        """Raw logits ``(n, 80)`` of full inputs ``(n, 3072, 3)`` by plain strided im2col (slow, exact)."""
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
            out[s0 : s0 + batch] = self._head(h)
        return out

    def _head(self, h):
        A = self.arrays
        b = h.shape[0]
        h = h.reshape(-1, h.shape[-1]) @ A["w_reduce"][0] + A["b_reduce"]
        np.maximum(h, 0, out=h)
        h = h.reshape(b, -1) @ A["w_dense"] + A["b_dense"]
        np.maximum(h, 0, out=h)
        return h @ A["w_out"] + A["b_out"]

    # -- fast pass ----------------------------------------------------------------------------------
    def _tap_weights(self):
        """Per layer, the kernel split in stride blocks ``(s * cin, f)``; a last block that would be
        partly zero padding (kernel 3, stride 2) keeps only its non-zero rows."""
        if self._taps is None:
            taps = []
            for i, (f, k, s) in enumerate(CONV_LAYERS):
                w = self.arrays[f"w{i}"]
                m = -(-k // s)
                taps.append([np.ascontiguousarray(w[t * s:min((t + 1) * s, k)].reshape(-1, f)) for t in range(m)])
            self._taps = taps
        return self._taps

    def _zero_acts(self):
        """Activations of an all-zero input at every conv layer (index 0: the zero input itself)."""
        if self._zero is None:
            acts = [np.zeros((N_IN, N_CH), np.float32)]
            h = acts[0][None]
            for i, (f, k, s) in enumerate(CONV_LAYERS):
                h = self._conv(h, i, 0, h.shape[1], pad_left=_same_pad(h.shape[1], k, s)[0],
                               n_full=h.shape[1], zero=None)[0]
                acts.append(np.ascontiguousarray(h[0]))
            self._zero = acts
        return self._zero

    def _conv(self, v, i, a, b, pad_left, n_full, zero):
        """Layer ``i`` on the input positions ``[a, b)`` (values ``v``, the rest: ``zero`` activations).

        Returns the outputs that differ from the zero-input activations, ``(out, j0, j1)``.
        """
        f, k, s = CONV_LAYERS[i]
        taps = self._tap_weights()[i]
        m = len(taps)
        n_out = -(-n_full // s)
        j0 = max((a + pad_left - k) // s + 1, 0)
        j1 = min(-(-(b + pad_left) // s), n_out)
        nb, _, cin = v.shape
        L = j1 - j0 + m - 1  # slab length in stride blocks
        p0 = j0 * s - pad_left  # first input position of the slab
        # slab = [padding zeros | zero-input activations | v | zero-input activations | padding zeros],
        # each part written once (no zero fill of the whole slab first)
        slab = np.empty((nb, L * s, cin), np.float32)
        c0, c1 = max(a, p0), min(b, p0 + L * s)  # the window's positions (a >= 0, b <= n_full)
        q0, q1 = max(p0, 0), min(p0 + L * s, n_full)  # the positions inside the array: q0 <= c0, c1 <= q1
        if zero is None:
            q0, q1 = c0, c1
        slab[:, :q0 - p0] = 0.0
        slab[:, q1 - p0:] = 0.0
        if zero is not None:  # zero-input activations where the slab is inside the array
            slab[:, q0 - p0:c0 - p0] = zero[q0:c0]
            slab[:, c1 - p0:q1 - p0] = zero[c1:q1]
        slab[:, c0 - p0:c1 - p0] = v[:, c0 - a:c1 - a]
        flat = slab.reshape(nb * L, s * cin)
        R = nb * L - (m - 1)
        q = np.empty((nb * L, f), np.float32)
        q[R:] = 0.0  # the last m - 1 rows (positions past the slab) are discarded
        np.matmul(flat[:R], taps[0], out=q[:R])
        if m > 1:
            tmp = np.empty((R, f), np.float32)
            for t in range(1, m):
                np.matmul(flat[t:t + R, :taps[t].shape[0]], taps[t], out=tmp)
                q[:R] += tmp
        q += self.arrays[f"b{i}"]
        np.maximum(q, 0, out=q)
        return q.reshape(nb, L, f)[:, : j1 - j0], j0, j1

    def logits(self, x, batch=64, offset=0):
        """Raw logits ``(n, 80)``.

        Parameters
        ----------
        x : numpy.ndarray
            ``(n, L, 3)`` network input on grid channels ``[offset, offset + L)``; the
            input is zero on the other channels (``L = 3072, offset = 0``: the full grid).
        """
        x = np.asarray(x, dtype=np.float32)
        if offset < 0 or offset + x.shape[1] > N_IN or x.shape[2] != N_CH:
            raise ValueError(f"input segment [{offset}, {offset + x.shape[1]}) x {x.shape[2]} is not inside "
                             f"the {N_IN} x {N_CH} grid")
        zero = self._zero_acts()
        out = np.empty((x.shape[0], N_OUT), np.float32)
        for s0 in range(0, x.shape[0], batch):
            h = x[s0:s0 + batch]
            # positions where any spectrum of the batch is non-zero (reduced over the spectra first:
            # a contiguous reduction, 30x faster than np.any(h != 0, axis=(0, 2)))
            nz = np.flatnonzero((h != 0).any(axis=0).any(axis=1))
            nb = h.shape[0]
            if nz.size == 0:
                a, b, v = 0, 0, h[:, :0]
            else:
                a, b = offset + int(nz[0]), offset + int(nz[-1]) + 1
                v = h[:, a - offset:b - offset]
            n_full = N_IN
            for i, (f, k, s) in enumerate(CONV_LAYERS):
                pl = _same_pad(n_full, k, s)[0]
                if b > a:
                    v, a, b = self._conv(v, i, a, b, pl, n_full, zero[i])
                n_full = -(-n_full // s)
            out[s0:s0 + nb] = self._head_window(v, a, b, nb)
        return out

    def _head_window(self, v, a, b, nb):
        """The head when only the last-conv positions ``[a, b)`` differ from the zero-input ones:
        the 1x1 reduction on those positions and the dense layer as the (cached) contribution of
        the zero-input positions plus the window's rows of the dense weights (exact)."""
        A = self.arrays
        if self._zero_head is None:
            r0 = np.maximum(self._zero_acts()[-1] @ A["w_reduce"][0] + A["b_reduce"], 0)  # (positions, 8)
            self._zero_head = (r0, r0.reshape(-1) @ A["w_dense"] + A["b_dense"])
        r0, d0 = self._zero_head
        wd = A["w_dense"]
        nr = r0.shape[1]
        if b > a:
            r = v.reshape(-1, v.shape[-1]) @ A["w_reduce"][0] + A["b_reduce"]
            np.maximum(r, 0, out=r)
            rows = slice(a * nr, b * nr)
            h = r.reshape(nb, -1) @ wd[rows] + (d0 - r0[a:b].reshape(-1) @ wd[rows])
        else:
            h = np.broadcast_to(d0, (nb, d0.size)).copy()
        np.maximum(h, 0, out=h)
        return h @ A["w_out"] + A["b_out"]

    def calibrated(self, logits):
        """Calibrated probabilities from logits (per-element Platt scaling)."""
        z = self.calib_a[None, :] * logits + self.calib_b[None, :]
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))

    def predict_proba(self, x, offset=0):
        """Calibrated probabilities ``(n, 80)`` of inputs ``(n, L, 3)`` on grid channels ``[offset, offset + L)``."""
        return self.calibrated(self.logits(x, offset=offset))

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
