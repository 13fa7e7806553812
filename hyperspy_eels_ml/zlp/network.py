"""Replica ensemble of small MLPs for the zero-loss peak, trained as one batched network.

All ``R`` replicas share one computation graph: the weights of layer ``l`` are
a tensor ``[R, n_in, n_out]`` and one optimiser step updates every replica
(the losses are summed, so replicas stay independent). Training uses
TensorFlow (imported here only); inference is plain numpy on the exported
weights, so dask workers never import TensorFlow.

Model of one replica: ``log z(E, c) = log B(E, c) + MLP(x(E), c) + v1 x + v2 |x|`` with
``B`` a parametric ZLP (split Gaussian core with Pearson-VII tails, fitted to each
cluster's mean spectrum and interpolated in ``c``; the networks learn the
residual, which makes a precise fit a matter of hundreds, not tens of thousands,
of steps),
``x = asinh(E / w)`` (a log-energy coordinate for ``|E| >> w``) and ``c`` a
thickness proxy. The hidden layers are sigmoids, which saturate outside the
training region, so beyond the fitted range the linear skip terms take over
and the tail continues as a power law ``E^-(v1 + v2)`` instead of collapsing
(EELSfitter forces the ZLP to one count beyond dE2) or flattening.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

__all__ = ["ReplicaEnsemble", "train_replicas", "baseline_log", "fit_baseline"]

#: parameters of the parametric baseline, per side (gain, loss): log sigma, log h, log gamma, p
N_BASELINE = 8

#: steps x replicas x points below which the training step is not XLA-compiled (``jit_compile="auto"``): the
#: compilation (about 3 CPU-s) costs more than it saves (about 1.5e-7 CPU-s per point-step)
XLA_MIN_WORK = 2e7


def interp_rows(c, grid, table, axis=0):
    """Linear interpolation of ``table`` along ``axis`` (tabulated at the sorted ``grid``) at ``c``.

    Values outside the grid are clipped to its ends; a single-row table is repeated.
    """
    c = np.atleast_1d(np.asarray(c, dtype=np.float64))
    grid = np.asarray(grid, dtype=np.float64)
    if grid.size == 1:
        return np.repeat(np.take(table, [0], axis=axis), c.size, axis=axis)
    t = np.interp(c, grid, np.arange(grid.size))
    i0 = np.clip(np.floor(t).astype(int), 0, grid.size - 2)
    shape = [1] * table.ndim
    shape[axis] = c.size
    w = (t - i0).astype(table.dtype).reshape(shape)
    return np.take(table, i0, axis=axis) * (1 - w) + np.take(table, i0 + 1, axis=axis) * w


def _side(E, ls, lh, lg, p):
    core = -0.5 * (E / np.exp(ls)) ** 2
    tail = lh - 0.5 * p * np.log1p((E / np.exp(lg)) ** 2)
    return np.logaddexp(core, tail)


def baseline_log(E, theta):
    """log of the parametric ZLP (peak 1 at 0 eV): split Gaussian core + Pearson-VII tails.

    ``theta``: (..., 8) = gain side (log sigma, log h, log gamma, p), loss side (same).
    Returns an array of shape ``theta.shape[:-1] + E.shape``.
    """
    E = np.asarray(E, dtype=np.float64)
    th = np.asarray(theta, dtype=np.float64)[..., None, :]
    g = _side(E, th[..., 0], th[..., 1], th[..., 2], th[..., 3])
    l = _side(E, th[..., 4], th[..., 5], th[..., 6], th[..., 7])
    return np.where(E < 0, g - np.logaddexp(0.0, th[..., 1]), l - np.logaddexp(0.0, th[..., 5]))


def fit_baseline(E, y, sigma, fwhm):
    """Fit :func:`baseline_log` + a constant to ``y`` (log counts) on the points given (least squares)."""
    from scipy.optimize import least_squares

    s0 = np.log(fwhm / 2.3548)
    x0 = np.array([s0, np.log(1e-3), np.log(fwhm), 2.0, s0, np.log(1e-3), np.log(fwhm), 2.0, y.max()])
    lo = np.array([s0 - 3, -16, np.log(fwhm) - 3, 0.5, s0 - 3, -16, np.log(fwhm) - 3, 0.5, y.max() - 5])
    hi = np.array([s0 + 3, 0, np.log(fwhm) + 4, 6.0, s0 + 3, 0, np.log(fwhm) + 4, 6.0, y.max() + 5])

    def res(t):
        return (baseline_log(E, t[:8]) + t[8] - y) / sigma

    r = least_squares(res, x0, bounds=(lo, hi), x_scale="jac", max_nfev=2000)
    return r.x[:8], r.x[8]


@dataclass
class ReplicaEnsemble:
    """Exported weights of the replica ensemble (numpy only; saved as ``.npz``)."""

    weights: list  #: [W0, b0, W1, b1, ...], W: (R, n_in, n_out), b: (R, n_out)
    skip: np.ndarray  #: (R, 2): coefficients of x and |x|
    width: float  #: w of x = asinh(E / w) (eV)
    x_scale: tuple  #: (centre, half-range) of x
    c_scale: tuple  #: (centre, half-range) of c
    base_c: np.ndarray = None  #: (K,) thickness proxies of the baseline clusters (sorted)
    base_theta: np.ndarray = None  #: (K, 8) baseline parameters per cluster

    @property
    def n_replicas(self):
        return int(self.skip.shape[0])

    def features(self, energy, c):
        """Input features for energies (eV) and thickness proxies ``c`` (1-D each): (n_c, n_E, 2)."""
        x = np.arcsinh(np.asarray(energy, dtype=np.float64) / self.width)
        xs = (x - self.x_scale[0]) / self.x_scale[1]
        cs = (np.asarray(c, dtype=np.float64) - self.c_scale[0]) / self.c_scale[1]
        f = np.empty((cs.size, xs.size, 2), dtype=np.float64)
        f[..., 0] = xs[None, :]
        f[..., 1] = cs[:, None]
        return f, x

    def baseline(self, energy, c):
        """log B(E, c): the clusters' baselines interpolated linearly in c (clipped): (n_c, n_E)."""
        c = np.atleast_1d(np.asarray(c, dtype=np.float64))
        return interp_rows(c, self.base_c, baseline_log(energy, self.base_theta), axis=0)

    def log_zlp(self, energy, c):
        """``log z`` for every replica, thickness proxy and energy: (R, n_c, n_E)."""
        f, x = self.features(energy, c)
        h = f.reshape(1, -1, 2).astype(np.float32)
        n_layers = len(self.weights) // 2
        for i in range(n_layers):
            W, b = (np.asarray(a, dtype=np.float32) for a in (self.weights[2 * i], self.weights[2 * i + 1]))
            if i == 0:  # separable first layer: energy part (R, n_E, H) + thickness part (R, n_c, H)
                fe = f[0, :, 0].astype(np.float32)
                fc = f[:, 0, 1].astype(np.float32)
                pe = fe[None, :, None] * W[:, None, 0, :]
                pc = fc[None, :, None] * W[:, None, 1, :] + b[:, None, :]
                h = (pc[:, :, None, :] + pe[:, None, :, :]).reshape(W.shape[0], -1, W.shape[2])
            else:
                h = np.matmul(h, W) + b[:, None, :]
            if i < n_layers - 1:
                h = 0.5 * (1.0 + np.tanh(0.5 * h))  # sigmoid, overflow-safe
        out = h[..., 0].reshape(-1, f.shape[0], f.shape[1]).astype(np.float64)
        sk = self.skip
        if self.base_theta is not None:
            out = out + self.baseline(energy, c)[None]
        return out + sk[:, 0, None, None] * x[None, None, :] + sk[:, 1, None, None] * np.abs(x)[None, None, :]

    def to_arrays(self):
        d = {f"w{i}": w for i, w in enumerate(self.weights)}
        d.update(skip=self.skip, width=np.float64(self.width), x_scale=np.asarray(self.x_scale),
                 c_scale=np.asarray(self.c_scale), base_c=self.base_c, base_theta=self.base_theta)
        return d

    @classmethod
    def from_arrays(cls, d, prefix=""):
        n = len([k for k in d if k.startswith(prefix + "w") and k[len(prefix) + 1:].isdigit()])
        return cls(weights=[np.asarray(d[f"{prefix}w{i}"]) for i in range(n)], skip=np.asarray(d[prefix + "skip"]),
                   width=float(d[prefix + "width"]), x_scale=tuple(np.asarray(d[prefix + "x_scale"]).tolist()),
                   c_scale=tuple(np.asarray(d[prefix + "c_scale"]).tolist()),
                   base_c=np.asarray(d[prefix + "base_c"]), base_theta=np.asarray(d[prefix + "base_theta"]))

    def subset(self, keep):
        keep = np.asarray(keep)
        return ReplicaEnsemble(weights=[w[keep] for w in self.weights], skip=self.skip[keep], width=self.width,
                               x_scale=self.x_scale, c_scale=self.c_scale, base_c=self.base_c,
                               base_theta=self.base_theta)


@dataclass
class TrainingData:
    """Region-I targets of every replica, plus the penalty grid.

    ``y``/``sigma``/``mask`` have shape (R, K, n_E): the log of the normalised
    cluster-mean spectrum of replica r (bootstrap over pixels), its uncertainty
    and which points are fitted (E_low_k <= E < dE1_k). ``y_val`` holds the
    same for the out-of-bag pixels (held-out whole spectra), on the same points.
    """

    energy: np.ndarray
    c: np.ndarray  #: (K,)
    y: np.ndarray
    sigma: np.ndarray
    mask: np.ndarray
    y_val: np.ndarray
    penalty_energy: np.ndarray  #: (n_P,) energies of the monotonicity/curvature grid (loss side)
    penalty_mask: np.ndarray  #: (K, n_P) which grid points apply to each cluster (dE1_k*0.5 .. dE2_k)
    curvature_mask: np.ndarray  #: (K, n_P) points beyond dE1_k (smooth power-law continuation)
    base_theta: np.ndarray = None  #: (K, 8) baseline parameters of the clusters
    upper: np.ndarray = None  #: (K, n_P) log upper envelope of the data (mean + noise) on the penalty grid
    prior_mask: np.ndarray = None  #: (K, n_P) points where the ZLP must follow the vacuum reference's
    prior_ref: int = -1  #: index of the vacuum cluster (-1: none)


def _init_weights(rng, n_replicas, sizes):
    ws = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        lim = np.sqrt(6.0 / (a + b))
        ws.append(rng.uniform(-lim, lim, (n_replicas, a, b)).astype(np.float32))
        ws.append(np.zeros((n_replicas, b), dtype=np.float32))
    return ws


def train_replicas(data, *, hidden=(10, 15, 5), width, x_scale, c_scale, max_epochs=4000, learning_rate=0.01,
                   check_every=25, patience=600, monotonic_weight=100.0, curvature_weight=30.0,
                   upper_weight=100.0, prior_weight=10.0, min_improvement=1e-3, max_points=256, random_state=0,
                   stable_tolerance=0.25, jit_compile="auto", init=None, progress=None):
    """Train all replicas at once; per-replica early stopping on the out-of-bag spectra.

    Parameters
    ----------
    data : TrainingData
    hidden : tuple of int
        Sizes of the sigmoid hidden layers.
    width, x_scale, c_scale
        Feature scaling (see :class:`ReplicaEnsemble`).
    max_epochs, learning_rate, check_every, patience
        Adam with cosine decay of the learning rate; the validation loss of every
        replica is checked every ``check_every`` steps and its best weights kept;
        training stops when no replica improved for ``patience`` steps.
    monotonic_weight, curvature_weight, upper_weight, prior_weight
        Weights of the penalties: the loss-side ZLP must decrease; beyond dE1
        ``log z`` must be a smooth function of ``log E`` (power-law continuation);
        it must not exceed the data's upper envelope (``data.upper``); beyond dE1
        it follows the vacuum reference's ``log z`` (``data.prior_mask``).
    max_points : int
        At most this many fitted channels (chosen uniformly in ``asinh(E / w)``
        over the fitted region: fine dispersions and long gain sides are thinned).
    stable_tolerance : float
        Training also stops when, over the last ``patience`` steps, the replica
        median of ``log z`` moved by less than this fraction of its 68 %
        half-width (90th percentile over the loss-side grid up to dE2 of every
        cluster): further steps would change the ZLP well inside its own
        uncertainty. This is what stops few-spectrum fits, whose held-out
        spectra keep improving slowly. 0 disables it.
    min_improvement : float
        A replica counts as improving when its validation score falls by more
        than this fraction (and by more than this amount, in chi^2 per point).
    random_state : int
    init : ReplicaEnsemble, optional
        Start every replica from these weights (one row per replica, same layer sizes and scaling) instead of
        the random initialisation (the warm start of :func:`~hyperspy_eels_ml.zlp.fit.fit_zlp`).
    jit_compile : bool or "auto"
        Compile the training step with XLA (about 2x less CPU per step than the
        plain graph on 2 cores, same results); falls back to the plain graph
        when XLA is not available. Compiling costs a few CPU-seconds, so
        ``"auto"`` compiles only when the run is long enough to repay it
        (``max_epochs`` x replicas x points >= :data:`XLA_MIN_WORK`).
    progress : callable, optional
        ``progress(n_steps)`` called as training advances.

    Returns
    -------
    ensemble : ReplicaEnsemble
        Best (early-stopped) weights of every replica.
    diagnostics : dict
        Per-replica ``train_chi2`` and ``val_chi2`` (per point; ``val_chi2`` includes the penalties),
        ``penalty`` (the penalties at the kept weights), ``best_epoch``, ``epochs``.
    """
    from .._shared.imports import import_tensorflow

    tf = import_tensorflow()

    rng = np.random.default_rng(random_state)
    # only the channels fitted by some cluster enter the graph (region I is a small part of the axis)
    used = np.flatnonzero(data.mask.any(axis=(0, 1)))
    if used.size > max_points:  # uniform in x = asinh(E / w): the ZLP core keeps its channels, long tails are thinned
        xu = np.arcsinh(data.energy[used] / width)
        grid = np.linspace(xu[0], xu[-1], max_points)
        used = np.unique(used[np.clip(np.searchsorted(xu, grid), 0, used.size - 1)])
    data = dataclasses.replace(data, energy=data.energy[used], y=data.y[..., used], sigma=data.sigma[..., used],
                               mask=data.mask[..., used], y_val=data.y_val[..., used])
    R = data.y.shape[0]
    sizes = (2,) + tuple(hidden) + (1,)
    ens0 = ReplicaEnsemble(weights=_init_weights(rng, R, sizes), skip=np.zeros((R, 2), np.float32),
                           width=width, x_scale=x_scale, c_scale=c_scale, base_c=np.asarray(data.c, float),
                           base_theta=data.base_theta)
    feats, x = ens0.features(data.energy, data.c)  # (K, n_E, 2)
    pfeats, px = ens0.features(data.penalty_energy, data.c)  # (K, n_P, 2)
    K = feats.shape[0]
    nP = pfeats.shape[1]
    # the residual network starts at zero: every replica starts from the baseline (+ a fitted constant)
    base = ens0.baseline(data.energy, data.c)  # (K, n_E)
    pbase = ens0.baseline(data.penalty_energy, data.c)
    ens0.weights[-2][:] *= 0.01
    ybar = np.nanmean(np.where(data.mask, data.y - base[None], np.nan))
    ens0.weights[-1][:] = ybar
    if init is not None:
        if init.n_replicas != R or [w.shape for w in init.weights] != [w.shape for w in ens0.weights]:
            raise ValueError(f"init holds {init.n_replicas} replicas of layers {[w.shape for w in init.weights]}; "
                             f"the training needs {R} of {[w.shape for w in ens0.weights]}")
        ens0.weights = [np.array(w, dtype=np.float32) for w in init.weights]
        ens0.skip = np.array(init.skip, dtype=np.float32)

    f32 = tf.float32
    # features as rows (2, N): the layers run as W^T (R, n_out, n_in) @ h (R, n_in, N), so the long point axis is
    # the contiguous one (about a quarter less CPU per step than (R, N, n_in) @ W for these tiny layers)
    # only the (cluster, channel) points some replica fits enter the graph (clusters fit different ranges)
    fk, fe = np.nonzero(data.mask.any(axis=0))
    nF = fk.size
    F = tf.constant(np.concatenate([feats[fk, fe], pfeats.reshape(-1, 2)]).T, f32)  # (2, N)
    X = tf.constant(np.concatenate([x[fe], np.tile(px, K)]), f32)
    BASE = tf.constant(np.concatenate([base[fk, fe], pbase.ravel()])[None], f32)
    w_tr = data.mask / np.maximum(data.sigma, 1e-6) ** 2
    n_tr = np.maximum(data.mask.sum(axis=(1, 2)), 1)
    Y = tf.constant(np.nan_to_num(data.y)[:, fk, fe], f32)
    Wt = tf.constant((w_tr / n_tr[:, None, None])[:, fk, fe], f32)  # training and validation points agree
    Yv = tf.constant(np.nan_to_num(data.y_val)[:, fk, fe], f32)
    pm = tf.constant(data.penalty_mask[:, 1:].astype(np.float32))  # (K, nP-1)
    cm = tf.constant((data.curvature_mask[:, 1:-1] & data.curvature_mask[:, 2:] & data.curvature_mask[:, :-2])
                     .astype(np.float32))
    dx = np.diff(px)
    dxt = tf.constant(np.maximum(dx, 1e-6).astype(np.float32))
    n_pm = float(max(data.penalty_mask.sum(), 1))
    has_upper = data.upper is not None
    UP = tf.constant(np.nan_to_num(data.upper if has_upper else np.zeros((K, nP)), nan=50.0).astype(np.float32))
    has_prior = data.prior_mask is not None and data.prior_ref >= 0 and data.prior_mask.any()
    PM = tf.constant((data.prior_mask if has_prior else np.zeros((K, nP), bool)).astype(np.float32))
    n_prior = float(max(PM.numpy().sum(), 1))
    ref = int(max(data.prior_ref, 0))
    n_cm = float(max(cm.numpy().sum(), 1))

    params = [tf.Variable(w) for w in ens0.weights] + [tf.Variable(ens0.skip)]
    best = [tf.Variable(w) for w in ens0.weights] + [tf.Variable(ens0.skip)]
    n_layers = len(sizes) - 1
    steps = tf.Variable(0, dtype=tf.int64)
    # Adam (beta 0.9 / 0.999, epsilon 1e-7) with cosine decay of the learning rate to 1 % over max_epochs, written
    # out (:func:`adam_cosine_update`): the update of keras.optimizers.Adam(CosineDecay(learning_rate, max_epochs,
    # alpha=0.01)) without the optimiser's machinery, a smaller graph to trace and to compile with XLA (each
    # training compiles its own step, and on WS2 a compile cost about as much CPU as the 3,375 central steps)
    moments = [tf.Variable(tf.zeros_like(p)) for p in params]
    velocities = [tf.Variable(tf.zeros_like(p)) for p in params]
    if jit_compile == "auto":
        jit_compile = max_epochs * R * int(F.shape[1]) >= XLA_MIN_WORK

    def forward(ps):
        # first layer from the two feature rows (no (R, N, 2) tile): (R, n_out, N)
        h = (ps[0][:, 0, :, None] * F[None, 0:1, :] + ps[0][:, 1, :, None] * F[None, 1:2, :]
             + ps[1][:, :, None])
        for i in range(n_layers):
            if i > 0:
                h = tf.matmul(ps[2 * i], h, transpose_a=True) + ps[2 * i + 1][:, :, None]
            if i < n_layers - 1:
                h = tf.sigmoid(h)
        sk = ps[-1]
        resid = h[:, 0, :] + sk[:, 0:1] * X[None] + sk[:, 1:2] * tf.abs(X)[None]
        return resid, resid + BASE

    def losses(ps):
        resid, out = forward(ps)
        fit = out[:, :nF]
        chi_tr = tf.reduce_sum(Wt * tf.square(fit - Y), axis=1)
        chi_va = tf.reduce_sum(Wt * tf.square(fit - Yv), axis=1)
        pen = tf.reshape(out[:, nF:], (R, K, nP))
        slope = (pen[:, :, 1:] - pen[:, :, :-1]) / dxt  # d log z / d x on the loss side
        mono = tf.reduce_sum(pm * tf.square(tf.nn.relu(slope)), axis=(1, 2)) / n_pm
        rp = tf.reshape(resid[:, nF:], (R, K, nP))
        rslope = (rp[:, :, 1:] - rp[:, :, :-1]) / dxt  # the residual continues linearly in log E
        curv = tf.reduce_sum(cm * tf.square(rslope[:, :, 1:] - rslope[:, :, :-1]), axis=(1, 2)) / n_cm
        total = monotonic_weight * mono + curvature_weight * curv
        if has_upper:  # never above the data beyond the noise
            total += upper_weight * tf.reduce_sum(tf.square(tf.nn.relu(pen - UP[None])), axis=(1, 2)) / float(K * nP)
        if has_prior:  # beyond dE1 the tail follows the vacuum reference (normalised to the same core counts)
            total += prior_weight * tf.reduce_sum(PM[None] * tf.square(pen - pen[:, ref:ref + 1, :]),
                                                  axis=(1, 2)) / n_prior
        return chi_tr, chi_va, total

    def one_step():
        with tf.GradientTape() as tape:
            chi_tr, _, pen = losses(params)
            total = tf.reduce_sum(chi_tr + pen)
        grads = tape.gradient(total, params)
        ops = adam_cosine_update(tf, params, grads, moments, velocities, steps, learning_rate, max_epochs)
        with tf.control_dependencies(ops):
            return steps.assign_add(1)

    # ``n`` optimiser steps in one call (a graph while-loop), then the evaluation: calling a tf.function costs
    # about 1-2 ms of Python and dispatch per call, as much as a whole step of a 10-replica ensemble, so one call
    # per check interval (``check_every`` steps) instead of one per step, and one compilation instead of two
    @tf.function(jit_compile=jit_compile, autograph=False)
    def step(n):
        def body(i):
            with tf.control_dependencies([one_step()]):  # the next step starts after this one's updates
                return (tf.identity(i) + 1,)

        (i_end,) = tf.while_loop(lambda i: i < n, body, (tf.constant(0, tf.int32),), parallel_iterations=1)
        with tf.control_dependencies([i_end]):
            chi_tr, chi_va, pen = losses(params)
            _, out = forward(params)
            return chi_tr, chi_va, pen, tf.reshape(out[:, nF:], (R, K, nP))

    @tf.function(autograph=False)
    def keep(mask):
        for p, b in zip(params, best):
            m = tf.reshape(mask, [R] + [1] * (len(p.shape) - 1))
            b.assign(tf.where(m, p, b))

    best_val = np.full(R, np.inf)
    best_epoch = np.zeros(R, dtype=int)
    best_tr = np.full(R, np.inf)
    best_pen = np.full(R, np.inf)
    allowed = max(1, int(np.floor(0.1 * R))) if R >= 4 else 0
    lag = max(1, patience // check_every)
    history = []  # best validation score of every replica at each check
    zlp_history = []  # replica median and 68 % half-width of log z on the loss-side grid at each check
    stopped_stable = False
    # where the ZLP matters: the loss side up to dE2 of each cluster (where the curvature penalty ends)
    last = np.where(data.curvature_mask.any(axis=1), data.curvature_mask.shape[1] - 1
                    - np.argmax(data.curvature_mask[:, ::-1], axis=1), nP - 1)
    stable_mask = data.penalty_mask & (np.arange(nP)[None, :] <= last[:, None])
    epoch = 0
    done = 0  # steps already taken in the current check interval
    if jit_compile:
        try:  # the first XLA-compiled step; without XLA (some TensorFlow builds) train the plain graph
            step(tf.constant(1, tf.int32))
            done = 1
        except Exception:  # noqa: BLE001 - a compilation failure applies nothing: same computation without XLA
            step = tf.function(step.python_function, autograph=False)
    while epoch < max_epochs:
        chi_tr, chi_va, pen, logz = (t.numpy() for t in step(tf.constant(check_every - done, tf.int32)))
        done = 0
        epoch += check_every
        if progress is not None:
            progress(check_every)
        score = chi_va + pen
        zlp_history.append(_ensemble_summary(logz, stable_mask))
        better = score < np.minimum(best_val * (1 - min_improvement), best_val - min_improvement)
        if better.any():
            keep(tf.constant(better))
            best_val[better] = score[better]
            best_tr[better] = chi_tr[better]
            best_pen[better] = pen[better]
            best_epoch[better] = epoch
        history.append(best_val.copy())
        if len(history) > lag:
            # a replica still improves if its best score fell by more than the tolerance
            # (relative 10 x min_improvement) over the last ``patience`` steps
            old = history[-1 - lag]
            improving = old - best_val > np.maximum(10 * min_improvement * best_val, min_improvement)
            if np.sum(improving) <= allowed:
                break
            if stable_tolerance and _zlp_stable(zlp_history[-1 - lag], zlp_history[-1], stable_tolerance):
                stopped_stable = True
                break
    ens = ReplicaEnsemble(weights=[b.numpy() for b in best[:-1]], skip=best[-1].numpy(), width=width,
                          x_scale=x_scale, c_scale=c_scale, base_c=ens0.base_c, base_theta=ens0.base_theta)
    # per point chi2 (the weights were divided by the point counts)
    hist = np.asarray(history)
    diag = dict(train_chi2=best_tr, val_chi2=best_val, penalty=best_pen, best_epoch=best_epoch, epochs=epoch,
                stop_rule="zlp stable" if stopped_stable else ("no replica improving" if epoch < max_epochs
                                                               else "max_epochs"),
                score_history=np.median(hist, axis=1) if hist.size else np.zeros(0))
    return ens, diag



def adam_cosine_update(tf, params, grads, moments, velocities, step, learning_rate, decay_steps, beta_1=0.9,
                       beta_2=0.999, epsilon=1e-7, alpha=0.01):
    """One Adam update of ``params`` (tf.Variables) at step ``step`` (0-based, before the update).

    The update of ``keras.optimizers.Adam(CosineDecay(learning_rate, decay_steps, alpha))``: the learning rate
    at step t is ``learning_rate ((1 - alpha) (1 + cos(pi min(t, decay_steps) / decay_steps)) / 2 + alpha)``,
    the bias corrections use t + 1. Returns the assignment ops of the parameters.
    """
    t = tf.cast(step, tf.float32)
    frac = tf.minimum(t, float(decay_steps)) / float(decay_steps)
    lr = learning_rate * ((1.0 - alpha) * 0.5 * (1.0 + tf.cos(np.pi * frac)) + alpha)
    a = lr * tf.sqrt(1.0 - tf.pow(beta_2, t + 1.0)) / (1.0 - tf.pow(beta_1, t + 1.0))
    ops = []
    for p, g, m, v in zip(params, grads, moments, velocities):
        m_new = m.assign_add((g - m) * (1.0 - beta_1))
        v_new = v.assign_add((tf.square(g) - v) * (1.0 - beta_2))
        ops.append(p.assign_sub(m_new * a / (tf.sqrt(v_new) + epsilon)))
    return ops


def _ensemble_summary(logz, mask):
    """(median, 68 % half-width) of the replicas' ``log z`` (R, K, n_P) at the masked grid points."""
    v = logz[:, mask]
    q16, q50, q84 = np.quantile(v, [0.16, 0.5, 0.84], axis=0)
    return q50, 0.5 * (q84 - q16)


def _zlp_stable(old, new, tolerance):
    """True when the ensemble median moved by less than ``tolerance`` x its half-width (90th percentile)."""
    if old[0].size == 0:
        return False
    half = np.maximum(new[1], 1e-3)  # 0.1 % in log units: a floor for grid points the replicas agree on
    return float(np.quantile(np.abs(new[0] - old[0]) / half, 0.9)) < tolerance
