"""Neural-network zero-loss-peak subtraction with Monte Carlo replicas (signal -> array -> model -> signal).

Method (after Roest et al., Ultramicroscopy 222 (2021) 113202, NNPDF-style), with
the changes that make it fast and calibrated:

1. **Pixels -> features.** Every spectrum gets a scale ``s`` (counts in the ZLP
   core window) and a thickness proxy ``c = ln(total counts / s)`` (log-ratio
   style, independent of the beam current). Pixels are K-means clustered on ``c``;
   an optional vacuum reference forms its own cluster.
2. **Regions.** Region I (fitted): the whole gain side and the loss side below
   ``dE1`` (automatic: 0.7 x the first minimum of the smoothed cluster spectrum
   after the ZLP, i.e. before the inelastic onset; overridable). Above ``dE1`` no
   data are fitted: the loss-side ZLP is constrained to decrease (everywhere) and,
   from ``0.8 dE1`` to ``dE2`` (default ``3 dE1``), its residual to the baseline must
   continue smoothly in log-log space (a power-law tail). There is no "one count
   beyond dE2" pseudo-data: beyond ``dE2`` the saturated networks and the baseline
   carry the tail on.
3. **Replicas.** Replica ``r`` fits the log of the cluster-mean normalised
   spectrum of a bootstrap resample of the cluster's pixels (plus Poisson resampling
   of the counts for clusters of fewer than 5 spectra), so each replica carries
   the statistical and pixel-to-pixel uncertainty of the data. The out-of-bag
   pixels of each replica are its held-out validation spectra.
4. **Training.** All replicas form one batched network (:mod:`.network`), trained
   together with per-replica early stopping. Replicas whose held-out chi^2 is an
   outlier are retrained once with new initial weights, and dropped if they fail
   again; the counts are reported.
5. **Subtraction.** Per pixel, every replica's ZLP shape at the pixel's ``c`` is
   scaled to the pixel's core counts; ``zlp`` is the replica median with the
   16-84 % band. ``inelastic = data - zlp`` is kept signed (no clipping, no
   forced zero near 0 eV) and its 68 % band combines the ZLP replica spread, the
   pixel's own Poisson noise (variance ``count_gain x counts``) and the measured
   spectrum-to-spectrum scatter of the ZLP shape within the pixel's cluster.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from dataclasses import dataclass, field

import dask.array as da
import numpy as np

from .._shared.batch import as_dask, compute, map_spectra, resolve_show_progressbar
from .._shared.signals import navigation_map, record_provenance, to_eager
from .._shared.validation import EELSInputError, EnergyRangeError, check_finite_block, validate_eels
from .network import ReplicaEnsemble, TrainingData, fit_baseline, interp_rows, train_replicas

__all__ = ["subtract_zlp_nn", "fit_zlp", "ZLPModel", "ZLPResult", "ZLPNotCentredError"]

_FORMAT = "hyperspy_eels_ml.zlp/1"


class ZLPNotCentredError(EELSInputError):
    """The zero-loss peak is not at 0 eV: align it first."""


# ----------------------------------------------------------------------------- features


def _core_window(fwhm, dispersion):
    h = max(1.5 * fwhm, 3 * dispersion)
    return (-h, h)


def _pixel_features(J, energy, core):
    """Scale (core counts) and thickness proxy ``c = ln(total / core)`` of every spectrum (rows of J)."""
    m = (energy >= core[0]) & (energy <= core[1])
    s = J[:, m].sum(axis=1)
    tot = np.clip(J, 0, None).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.log(np.maximum(tot, 1e-30) / np.maximum(s, 1e-30))
    return s, c


def _fwhm(energy, y):
    i = int(np.argmax(y))
    half = y[i] / 2
    left = i
    while left > 0 and y[left] > half:
        left -= 1
    right = i
    while right < y.size - 1 and y[right] > half:
        right += 1
    d = energy[1] - energy[0]

    def _cross(a, b):  # linear interpolation of the half-maximum crossing between channels a, b
        ya, yb = y[a], y[b]
        return energy[a] + (half - ya) / (yb - ya) * (energy[b] - energy[a]) if yb != ya else energy[a]

    lo = _cross(left, left + 1) if left < i else energy[i] - d / 2
    hi = _cross(right - 1, right) if right > i else energy[i] + d / 2
    return max(hi - lo, d)


def _smooth(y, n):
    n = max(int(n), 1)
    if n == 1:
        return y
    k = np.hanning(n + 2)[1:-1]
    k /= k.sum()
    pad = np.pad(y, (n, n), mode="edge")
    return np.convolve(pad, k, mode="same")[n:-n]


def _auto_dE1(energy, mean_norm, fwhm, dispersion, shift=0.7):
    """0.7 x the first minimum after the ZLP of the smoothed mean spectrum (EELSfitter v2's rule)."""
    sm = _smooth(mean_norm, round(2 * fwhm / dispersion) + 1)
    start = np.searchsorted(energy, 1.5 * fwhm)
    d = np.diff(sm)
    rising = np.flatnonzero(d[start:] > 0)
    floor = 2.5 * fwhm + dispersion
    if rising.size:
        e_valley = energy[start + rising[0]]
        return max(shift * e_valley, floor), e_valley
    # no minimum (monotonic spectrum): where the smoothed spectrum falls to 1e-3 of its peak
    below = np.flatnonzero((energy > 0) & (sm < 1e-3 * sm.max()))
    e = energy[below[0]] if below.size else energy[-1] / 2
    return max(shift * e, floor), np.nan


# ----------------------------------------------------------------------------- model


@dataclass
class ZLPModel:
    """A trained replica ensemble of ZLP networks and what it was trained on.

    Create one with :func:`fit_zlp`; apply it with :meth:`subtract` to the SI it
    was trained on or to another one recorded with the same energy axis and
    microscope settings. Saved with :meth:`save` as a numpy ``.npz`` (no pickle).
    """

    ensemble: ReplicaEnsemble
    energy: np.ndarray  #: training energy axis (eV)
    core: tuple  #: (low, high) eV: window whose counts scale each pixel's ZLP
    fwhm: float
    clusters: dict  #: c, dE1, dE2, E_valley, n_pixels, vacuum (arrays of length K)
    diagnostics: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    @property
    def n_replicas(self):
        """Number of replicas kept."""
        return self.ensemble.n_replicas

    def scatter_table(self):
        """(K, n_E) relative spectrum-to-spectrum scatter of the ZLP per cluster (0 if unknown)."""
        sc = self.clusters.get("scatter")
        if sc is None:
            return np.zeros((len(self.clusters["c"]), self.energy.size))
        return np.asarray(sc, float)

    def c_grid(self, n=24):
        """Grid of thickness proxies on which the ZLP shapes are tabulated for inference."""
        c = np.asarray(self.clusters["c"], float)
        lo, hi = c.min(), c.max()
        if hi - lo < 1e-6:
            return np.array([lo, lo + 1e-6])
        return np.linspace(lo, hi, n)

    def log_zlp_table(self, energy=None):
        """``(c_grid, log z)`` with ``log z`` of shape (R, n_c, n_E), float32 (cached per energy axis)."""
        energy = self.energy if energy is None else np.asarray(energy)
        key = (energy.size, float(energy[0]), float(energy[-1]), self.n_replicas)
        cache = self.__dict__.setdefault("_table_cache", {})
        if key not in cache:
            cg = self.c_grid()
            cache.clear()
            cache[key] = (cg, self.ensemble.log_zlp(energy, cg).astype(np.float32))
        return cache[key]

    # -- application -------------------------------------------------------------------
    def _check_axis(self, energy):
        if not _same_axis(energy, self.energy):
            raise EnergyRangeError(
                f"This ZLP model was trained on an energy axis {self.energy[0]:g} to {self.energy[-1]:g} eV "
                f"({self.energy.size} channels of {self.energy[1] - self.energy[0]:g} eV); the signal has "
                f"{energy[0]:g} to {energy[-1]:g} eV ({energy.size} channels). Crop or interpolate the signal "
                "onto the training axis (s.crop_signal(...), s.interpolate_on_axis(...)), or train on it."
            )

    def subtract(self, signal, *, count_gain=1.0, show_progressbar=None, lazy_output=None):
        """Subtract the ZLP from every spectrum of ``signal``.

        Parameters
        ----------
        signal : exspy.signals.EELSSpectrum
            Eager or lazy, on the model's energy axis.
        count_gain : float
            Detector counts per electron: the pixel's noise variance is
            ``count_gain x counts`` (1 for data in electron counts).
        show_progressbar : bool, optional
        lazy_output : bool, optional
            Default: lazy if ``signal`` is lazy.

        Returns
        -------
        ZLPResult
        """
        v = validate_eels(signal, what="subtract_zlp_nn", min_channels=32)
        self._check_axis(v.energy)
        return _make_result(self, v, count_gain=count_gain, show_progressbar=show_progressbar,
                            lazy_output=lazy_output)

    # -- persistence -------------------------------------------------------------------
    def save(self, path):
        """Save as ``.npz`` (arrays + a JSON header; loadable without pickle)."""
        meta = dict(format=_FORMAT, core=list(self.core), fwhm=self.fwhm,
                    clusters={k: np.asarray(v).tolist() for k, v in self.clusters.items()},
                    diagnostics={k: np.asarray(v).tolist() for k, v in self.diagnostics.items()},
                    params=self.params)
        arrays = {f"ens_{k}": v for k, v in self.ensemble.to_arrays().items()}
        np.savez_compressed(path, energy=self.energy, header=np.array(json.dumps(meta)), **arrays)

    @classmethod
    def load(cls, path):
        """Load a model written by :meth:`save` (``allow_pickle=False``)."""
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["header"]))
            if meta.get("format") != _FORMAT:
                raise ValueError(f"{path} is not a hyperspy_eels_ml ZLP model (format {meta.get('format')!r})")
            ens = ReplicaEnsemble.from_arrays({k[4:]: f[k] for k in f.files if k.startswith("ens_")})
            energy = np.asarray(f["energy"])
        clusters = {k: np.asarray(v) for k, v in meta["clusters"].items()}
        return cls(ensemble=ens, energy=energy, core=tuple(meta["core"]), fwhm=meta["fwhm"], clusters=clusters,
                   diagnostics={k: np.asarray(v) for k, v in meta["diagnostics"].items()}, params=meta["params"])


def _interp_table(c, c_grid, table):
    """Linear interpolation of ``table`` (R, G, E) at the pixels' ``c`` (clipped to the grid): (R, P, E)."""
    return interp_rows(c, c_grid, table, axis=1)


def _pixel_zlp_replicas(J, energy, core, c_grid, table, cols=None):
    """ZLP of every replica for every spectrum in J: (R, P, n_cols), scaled to the core counts."""
    s, c = _pixel_features(J, energy, core)
    m = (energy >= core[0]) & (energy <= core[1])
    logz = _interp_table(c, c_grid, table)  # (R, P, E)
    logz -= logz[:, :, m].max(axis=2, keepdims=True)
    z = np.exp(logz)
    scale = s[None, :] / np.maximum(z[:, :, m].sum(axis=2), 1e-30)
    if cols is not None:
        z = z[:, :, cols]
    return z * scale[:, :, None].astype(np.float32), s, c


def _subtract_block(J, table, energy, core, c_grid, count_gain, batch, base_c, scatter):
    J = np.asarray(J, dtype=np.float32)
    check_finite_block(J)
    P, nE = J.shape
    # layout (P, 7, n_E): six spectra, then the three thickness values at the start of row 7,
    # so the dask reshape to (..., 7, n_E) is free and the outputs are views of one block
    out = np.zeros((P, 7 * nE), dtype=np.float32)
    for a in range(0, P, batch):
        b = min(P, a + batch)
        Jb = J[a:b]
        Z, _, c = _pixel_zlp_replicas(Jb, energy, core, c_grid, table)
        z16, z50, z84 = np.quantile(Z, [0.16, 0.5, 0.84], axis=0)
        # pixel's counting noise + spectrum-to-spectrum scatter of the ZLP shape
        var = count_gain * np.clip(Jb, 0, None) + (_interp_clusters(c, base_c, scatter) * z50) ** 2
        inel = Jb - z50
        lo = inel - np.sqrt((z84 - z50) ** 2 + var)
        hi = inel + np.sqrt((z50 - z16) ** 2 + var)
        with np.errstate(divide="ignore", invalid="ignore"):
            tl = np.log(np.clip(Jb, 0, None).sum(axis=1)[None, :] / Z.sum(axis=2))
        t16, t50, t84 = np.quantile(tl, [0.16, 0.5, 0.84], axis=0)
        out[a:b, : 6 * nE] = np.concatenate([inel, lo, hi, z50, z16, z84], axis=1)
        out[a:b, 6 * nE: 6 * nE + 3] = np.stack([t50, t16, t84], axis=1)
    return out


def _batch_size(n_replicas, n_channels, budget=6_000_000):
    return int(max(1, min(256, budget // max(n_replicas * n_channels, 1))))


def _make_result(model, v, *, count_gain, show_progressbar, lazy_output):
    import dask

    lazy_output = v.lazy if lazy_output is None else bool(lazy_output)
    c_grid, table = model.log_zlp_table(v.energy)
    nE = v.energy.size
    dtable = dask.delayed(table, pure=True)
    data = as_dask(v.data)
    out = map_spectra(data, _subtract_block, 7 * nE, np.float32,
                      extra_args=(dtable,), energy=v.energy, core=model.core, c_grid=c_grid,
                      count_gain=float(count_gain), batch=_batch_size(model.n_replicas, nE),
                      base_c=np.asarray(model.clusters["c"], float), scatter=model.scatter_table())
    nav = v.navigation_shape
    if not nav:
        out = out[0]
    spectra = out.reshape(tuple(out.shape[:-1]) + (7, nE))
    parts = [spectra[..., k, :] for k in range(6)] + [spectra[..., 6, k] for k in range(3)]
    if not lazy_output:
        parts = list(compute(*parts, show_progressbar=show_progressbar))
    return ZLPResult._from_parts(model, v, parts, count_gain=count_gain)


# ----------------------------------------------------------------------------- result


class ZLPResult:
    """Result of :func:`subtract_zlp_nn`.

    Attributes
    ----------
    inelastic, inelastic_lower, inelastic_upper : exspy.signals.EELSSpectrum
        ``data - zlp`` (replica median) and its 68 % band (ZLP replica spread and
        the pixel's Poisson noise), on the input's axes; lazy if the input was.
    zlp, zlp_lower, zlp_upper : exspy.signals.EELSSpectrum
        ZLP replica median and 16 / 84 % percentiles.
    thickness, thickness_lower, thickness_upper : hyperspy.signal.BaseSignal
        Log-ratio ``t/lambda = ln(I_total / I_zlp)`` from the NN ZLP, median and 68 % band
        (maps on the navigation axes).
    model : ZLPModel
        The trained ensemble (``model.save(path)`` to keep it).
    signal : exspy.signals.EELSSpectrum
        The input (not modified).
    """

    _names = ("inelastic", "inelastic_lower", "inelastic_upper", "zlp", "zlp_lower", "zlp_upper")

    @classmethod
    def _from_parts(cls, model, v, parts, count_gain=1.0):
        self = cls()
        self.model = model
        self.signal = v.signal
        self.count_gain = count_gain
        self._v = v
        titles = dict(inelastic="Inelastic (NN ZLP subtracted)", inelastic_lower="Inelastic 16 %",
                      inelastic_upper="Inelastic 84 %", zlp="NN zero-loss peak", zlp_lower="NN ZLP 16 %",
                      zlp_upper="NN ZLP 84 %")
        params = dict(model.params, count_gain=count_gain)
        for name, data in zip(cls._names, parts[:6]):
            s = v.signal._deepcopy_with_new_data(data)
            src = v.signal.metadata.get_item("General.title", "")
            s.metadata.General.title = f"{titles[name]} of {src}" if src else titles[name]
            record_provenance(s, "zlp.subtract_zlp_nn", params,
                              extra=dict(output=name, n_replicas=model.n_replicas,
                                         replicas=_replica_report(model.diagnostics)))
            setattr(self, name, s)
        for name, data, title in zip(("thickness", "thickness_lower", "thickness_upper"), parts[6:],
                                     ("t/lambda (NN ZLP log-ratio)", "t/lambda 16 %", "t/lambda 84 %")):
            m = navigation_map(v.signal, data, title, quantity="t/lambda")
            record_provenance(m, "zlp.subtract_zlp_nn", params, extra=dict(output=name))
            setattr(self, name, m)
        return self

    @property
    def replica_report(self):
        """Replicas trained, retrained, dropped (dict)."""
        return _replica_report(self.model.diagnostics)

    def compute(self, show_progressbar=None):
        """Compute every lazy output together (the data are read once)."""
        names = [n for n in self._names + ("thickness", "thickness_lower", "thickness_upper")
                 if getattr(self, n)._lazy]
        if names:
            arrays = compute(*[getattr(self, n).data for n in names], show_progressbar=show_progressbar)
            for n, a in zip(names, arrays):
                setattr(self, n, to_eager(getattr(self, n), a))
        return self

    def fit_band_gap(self, energy_range, exponent=None, *, show_progressbar=None, lazy_output=None):
        """Fit ``A (E - Eg)^b`` to every replica of every pixel's inelastic signal.

        Each replica's inelastic spectrum is ``data + noise - zlp_r`` (the noise is a
        Poisson-variance draw seeded by the spectrum itself, so results do not depend
        on chunking); the fit is a weighted least-squares grid search over ``Eg``
        (and ``b``) with a parabolic refinement, vectorised over replicas and pixels.
        The same model is available as the :class:`~hyperspy_eels_ml.zlp.BandGap`
        component for ``EELSModel`` fits.

        Parameters
        ----------
        energy_range : tuple of float
            ``(start, end)`` in eV: from below the gap to the end of the onset.
        exponent : float, optional
            Fix ``b`` (0.5 direct, 1.5 indirect); None fits it (0.3-2.5).
        show_progressbar, lazy_output : optional

        Returns
        -------
        BandGapResult
            ``Eg``, ``Eg_lower``, ``Eg_upper``, ``b``, ``b_lower``, ``b_upper`` maps (68 %).
        """
        from .bandgap import fit_band_gap_replicas

        return fit_band_gap_replicas(self, energy_range, exponent=exponent, show_progressbar=show_progressbar,
                                     lazy_output=lazy_output)

    def plot(self, index=None, energy_range=None, ax=None):
        """Plot one spectrum with the ZLP and inelastic medians and their 68 % bands.

        Parameters
        ----------
        index : tuple of int, optional
            Navigation index in array order (default: the pixel with the median thickness).
        energy_range : tuple of float, optional
        ax : matplotlib.axes.Axes, optional

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        nav = self._v.navigation_shape
        if index is None and nav:
            t = np.asarray(self.thickness.data if not self.thickness._lazy else self.thickness.data.compute())
            flat = np.nanargmin(np.abs(t - np.nanmedian(t)).ravel())
            index = np.unravel_index(flat, nav)
        idx = tuple(index) if nav else ()

        def get(s):
            d = s.data[idx] if idx else s.data
            return np.asarray(d.compute() if isinstance(d, da.Array) else d)

        e = self._v.energy
        raw = self._v.data[idx] if idx else self._v.data
        raw = np.asarray(raw.compute() if isinstance(raw, da.Array) else raw)
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        ax.plot(e, raw, color="0.3", lw=0.8, label="data")
        ax.plot(e, get(self.zlp), color="C0", label="NN ZLP (median)")
        ax.fill_between(e, get(self.zlp_lower), get(self.zlp_upper), color="C0", alpha=0.3, label="ZLP 68 %")
        ax.plot(e, get(self.inelastic), color="C3", label="inelastic (median)")
        ax.fill_between(e, get(self.inelastic_lower), get(self.inelastic_upper), color="C3", alpha=0.3,
                        label="inelastic 68 %")
        de1 = float(np.median(self.model.clusters["dE1"]))
        ax.axvline(de1, color="0.5", ls="--", lw=0.8, label="dE1 (median)")
        lo, hi = energy_range if energy_range else (e[0], min(e[-1], 4 * de1 + 2))
        ax.set_xlim(lo, hi)
        sel = (e >= lo) & (e <= hi) & (e > de1 * 0.5)
        top = max(float(np.nanmax(raw[sel])) if sel.any() else 1.0, 1.0)
        ax.set_ylim(-0.1 * top, 1.3 * top)
        ax.set_xlabel("Energy loss (eV)")
        ax.set_ylabel("Counts")
        ax.set_title(f"subtract_zlp_nn, pixel {idx if idx else '(single spectrum)'}, {self.model.n_replicas} replicas")
        ax.legend(fontsize=8)
        return ax


def _replica_report(diag):
    if not diag:
        return {}
    return dict(trained=int(diag.get("n_trained", 0)), retrained=int(diag.get("n_retrained", 0)),
                dropped=int(diag.get("n_dropped", 0)), kept=int(diag.get("n_kept", 0)))


# ----------------------------------------------------------------------------- training


def _same_axis(a, b):
    return a.size == b.size and np.allclose(a, b, atol=1e-6 * max(1.0, float(np.abs(b).max())))


def _as_vacuum_array(vacuum, energy):
    """Stack a vacuum reference (signal or list of signals/arrays) into (n, n_E) float."""
    if vacuum is None:
        return None
    items = vacuum if isinstance(vacuum, list | tuple) else [vacuum]
    out = []
    for item in items:
        if hasattr(item, "axes_manager"):
            vv = validate_eels(item, what="subtract_zlp_nn (vacuum)", min_channels=32)
            if not _same_axis(vv.energy, energy):
                raise EnergyRangeError(
                    f"The vacuum reference's energy axis ({vv.energy[0]:g} to {vv.energy[-1]:g} eV, "
                    f"{vv.energy.size} channels) differs from the signal's ({energy[0]:g} to {energy[-1]:g} eV, "
                    f"{energy.size} channels): crop or interpolate one onto the other first."
                )
            d = vv.data.compute() if isinstance(vv.data, da.Array) else vv.data
        else:
            d = np.asarray(item)
            if d.shape[-1] != energy.size:
                raise EnergyRangeError("a vacuum array must have the signal's number of channels")
        d = np.asarray(d, dtype=np.float64).reshape(-1, energy.size)
        check_finite_block(d)
        out.append(d)
    return np.concatenate(out, axis=0)


def _check_energy_axis(energy, what="subtract_zlp_nn"):
    if not (energy[0] < 0 < energy[-1]):
        raise EnergyRangeError(
            f"{what} needs a low-loss spectrum whose energy axis contains 0 eV (the zero-loss peak) with some "
            f"gain-side channels; this axis runs from {energy[0]:g} to {energy[-1]:g} eV. If the ZLP is in the "
            "data but the axis is not calibrated, calibrate it with s.align_zero_loss_peak(calibrate=True)."
        )
    n_gain = int((energy < 0).sum())
    if n_gain < 5:
        raise EnergyRangeError(
            f"{what} needs at least 5 channels on the energy-gain side (E < 0) to fit the ZLP; the axis starts at "
            f"{energy[0]:g} eV ({n_gain} channels below 0)."
        )


def _check_centred(J, energy, fwhm, dispersion):
    peaks = energy[np.argmax(J, axis=1)]
    med = float(np.median(peaks))
    tol = max(0.5 * fwhm, 1.5 * dispersion)
    if abs(med) > tol:
        raise ZLPNotCentredError(
            f"The zero-loss peak is not at 0 eV: its maximum is at {med:+.3f} eV (median over the training "
            f"spectra; FWHM {fwhm:.3f} eV). Align it first with exspy's s.align_zero_loss_peak() "
            "(subpixel=True), then call subtract_zlp_nn again."
        )
    off = np.abs(peaks - med) > tol
    if off.mean() > 0.05:
        warnings.warn(
            f"{100 * off.mean():.0f} % of the training spectra have their ZLP maximum more than {tol:.3f} eV from "
            "the median: the SI looks unaligned. Run s.align_zero_loss_peak() first for an accurate subtraction.",
            UserWarning, stacklevel=3,
        )


def _per_cluster(values, K, name):
    if values is None:
        return None
    arr = np.atleast_1d(np.asarray(values, dtype=float))
    if arr.size == 1:
        return np.full(K, float(arr[0]))
    if arr.size != K:
        raise ValueError(f"{name} must be a float or one value per cluster ({K}), got {arr.size} values")
    return arr


def _training_spectra(v, max_training_pixels, rng):
    n = v.navigation_size
    flat = v.data.reshape(-1, v.energy.size) if v.navigation_shape else v.data.reshape(1, -1)
    if n > max_training_pixels:
        idx = np.sort(rng.choice(n, max_training_pixels, replace=False))
        J = flat[idx]
    else:
        idx = np.arange(n)
        J = flat
    if isinstance(J, da.Array):
        J = J.compute()
    J = np.asarray(J, dtype=np.float64)
    check_finite_block(J)
    return J, idx


def fit_zlp(signal, vacuum=None, *, n_clusters=3, n_replicas=100, dE1=None, dE2=None, max_training_pixels=2000,
            hidden=(10, 15, 5), max_epochs=4000, learning_rate=0.02, patience=600, random_state=None,
            show_progressbar=None):
    """Train the replica ensemble of ZLP networks on a low-loss signal.

    Parameters are those of :func:`subtract_zlp_nn` (which calls this and then
    :meth:`ZLPModel.subtract`).

    Returns
    -------
    ZLPModel
    """
    t0 = time.perf_counter()
    v = validate_eels(signal, what="subtract_zlp_nn", min_channels=32)
    energy = v.energy
    disp = v.dispersion
    _check_energy_axis(energy)
    if n_replicas < 2:
        raise ValueError("n_replicas must be at least 2 (the band comes from the replica spread)")
    seed = int(np.random.SeedSequence(random_state).generate_state(1)[0]) if random_state is None else int(random_state)
    rng = np.random.default_rng(seed)
    J, _ = _training_spectra(v, int(max_training_pixels), rng)
    Jv = _as_vacuum_array(vacuum, energy)
    if np.any(J < 0) and (J < 0).mean() > 0.01:
        warnings.warn(
            f"{100 * (J < 0).mean():.1f} % of the channels of the training spectra are negative (dark-reference "
            "over-subtraction or read noise). They count as 0 when training; the subtraction keeps them.",
            UserWarning, stacklevel=2,
        )
    allJ = J if Jv is None else np.concatenate([J, Jv])
    fwhm = _fwhm(energy, np.clip(allJ, 0, None).mean(axis=0))
    _check_centred(allJ, energy, fwhm, disp)
    core = _core_window(fwhm, disp)
    s, c = _pixel_features(J, energy, core)
    good = s > 0
    if not good.any():
        raise EELSInputError("subtract_zlp_nn: no spectrum has counts in the zero-loss-peak window")
    J, s, c = J[good], s[good], c[good]

    # clusters on the thickness proxy (sorted by c); the vacuum reference is one more cluster
    from sklearn.cluster import KMeans

    K = int(max(1, min(n_clusters, len(np.unique(np.round(c, 6))), J.shape[0])))
    if K > 1:
        km = KMeans(n_clusters=K, n_init=10, random_state=seed % (2**31)).fit(c[:, None])
        order = np.argsort(km.cluster_centers_[:, 0])
        lab = np.argsort(order)[km.labels_]
    else:
        lab = np.zeros(J.shape[0], int)
    groups = [(J[lab == k], s[lab == k], c[lab == k], False) for k in range(K)]
    if Jv is not None:
        sv, cv = _pixel_features(Jv, energy, core)
        if np.any(sv <= 0):
            raise EELSInputError("a vacuum spectrum has no counts in the zero-loss-peak window")
        groups.insert(0, (Jv, sv, cv, True))
    gc = np.array([np.median(g[2]) for g in groups])
    groups = [groups[i] for i in np.argsort(gc, kind="stable")]
    K = len(groups)

    # per-cluster regions
    dE1_user = _per_cluster(dE1, K, "dE1")
    dE2_user = _per_cluster(dE2, K, "dE2")
    cl = dict(c=np.zeros(K), dE1=np.zeros(K), dE2=np.zeros(K), E_valley=np.full(K, np.nan), n_pixels=np.zeros(K, int),
              vacuum=np.zeros(K, bool))
    for k, (Jk, sk, ck, vac) in enumerate(groups):
        mean_norm = np.clip(Jk, 0, None).sum(axis=0) / sk.sum()
        if vac:
            # vacuum: pure ZLP until its tail reaches the noise floor (first minimum of the smoothed
            # mean, or 1e-5 of the peak / 20 counts, whichever comes first)
            mean = _smooth(Jk.mean(axis=0), round(2 * fwhm / disp) + 1)
            start = np.searchsorted(energy, 2 * fwhm)
            rising = np.flatnonzero(np.diff(mean[start:]) > 0)
            low = np.flatnonzero((energy > 2 * fwhm) & (mean < max(20.0, 1e-5 * mean.max())))
            cands = [energy[-1]] + ([energy[start + rising[0]]] if rising.size else []) + (
                [energy[low[0]]] if low.size else [])
            auto1, ev = min(cands), np.nan
        else:
            auto1, ev = _auto_dE1(energy, mean_norm, fwhm, disp)
        d1 = auto1 if dE1_user is None else dE1_user[k]
        if not (energy[0] < d1 <= energy[-1]):
            raise EnergyRangeError(f"dE1 = {d1:g} eV is outside the energy axis ({energy[0]:g} to {energy[-1]:g} eV)")
        d2 = max(min(3 * d1, energy[-1]), d1) if dE2_user is None else dE2_user[k]
        if d2 < d1:
            raise ValueError(f"dE2 ({d2:g} eV) must be larger than dE1 ({d1:g} eV)")
        cl["c"][k], cl["dE1"][k], cl["dE2"][k], cl["E_valley"][k] = np.median(ck), d1, d2, ev
        cl["n_pixels"][k], cl["vacuum"][k] = Jk.shape[0], vac

    # replica targets: bootstrap over the cluster's spectra (Poisson resampling for tiny clusters)
    R, nE = int(n_replicas), energy.size
    y = np.full((R, K, nE), np.nan)
    yv = np.full((R, K, nE), np.nan)
    mask = np.zeros((R, K, nE), bool)
    for k, (Jk, sk, _, _) in enumerate(groups):
        n = Jk.shape[0]
        Jc = np.clip(Jk, 0, None)
        region = (energy < cl["dE1"][k]) & (Jc.mean(axis=0) >= 1.0)
        if n >= 2:
            W = rng.multinomial(n, np.full(n, 1.0 / n), size=R).astype(np.float64)
            Wo = (W == 0).astype(np.float64)
            Wo[Wo.sum(axis=1) == 0] = 1.0
            num, den = W @ Jc, W @ sk
            numv, denv = Wo @ Jc, Wo @ sk
            if n < 5:  # few spectra: the bootstrap alone under-represents the counting noise
                num = rng.poisson(num).astype(np.float64)
                numv = rng.poisson(numv).astype(np.float64)
        else:
            num = rng.poisson(np.broadcast_to(Jc.sum(axis=0), (R, nE))).astype(np.float64)
            numv = rng.poisson(np.broadcast_to(Jc.sum(axis=0), (R, nE))).astype(np.float64)
            den = denv = np.full(R, sk.sum())
        with np.errstate(divide="ignore"):
            y[:, k] = np.log(np.maximum(num, 0.5) / den[:, None])
            yv[:, k] = np.log(np.maximum(numv, 0.5) / denv[:, None])
        mask[:, k] = region[None, :]
    sigma = np.sqrt(np.where(mask[0], y.var(axis=0), 0.0) + 0.003**2)  # replica spread of the targets
    cl["scatter"] = np.stack([_intrinsic_scatter(g[0], g[1], energy, mask[0, k], cl["dE1"][k], disp)
                              for k, g in enumerate(groups)])
    # parametric baseline of every cluster (the networks learn the residual)
    base_theta = np.zeros((K, 8))
    ymean = y.mean(axis=0)
    for k in range(K):
        mk = mask[0, k]
        base_theta[k], _ = fit_baseline(energy[mk], ymean[k, mk], sigma[k, mk], fwhm)
    cl["baseline"] = base_theta
    sigma = sigma[None].repeat(R, axis=0)

    # penalty grid: loss side, from half the FWHM to the end of the axis, uniform in asinh(E / w)
    w = fwhm / 2
    xg = np.linspace(np.arcsinh(0.5 * fwhm / w), np.arcsinh(energy[-1] / w), 96)
    pe = np.sinh(xg) * w
    pmask = np.ones((K, pe.size), bool)
    cmask = (pe[None, :] >= 0.8 * cl["dE1"][:, None]) & (pe[None, :] <= cl["dE2"][:, None])
    data = TrainingData(energy=energy, c=cl["c"], y=y, sigma=sigma, mask=mask, y_val=yv,
                        penalty_energy=pe, penalty_mask=pmask, curvature_mask=cmask, base_theta=base_theta)
    fit_lo = energy[np.argmax(mask.any(axis=(0, 1)))]
    xr = np.arcsinh(np.array([fit_lo, cl["dE1"].max()]) / w)
    x_scale = (float(xr.mean()), float(max((xr[1] - xr[0]) / 2, 1e-3)))
    crange = (cl["c"].min(), cl["c"].max())
    c_scale = (float(np.mean(crange)), float(max((crange[1] - crange[0]) / 2, 1e-3)) if K > 1 else 1.0)

    pbar = _progress_bar(show_progressbar, total=max_epochs, desc="Training ZLP replicas")
    train_kw = dict(hidden=tuple(hidden), width=w, x_scale=x_scale, c_scale=c_scale, max_epochs=int(max_epochs),
                    learning_rate=learning_rate, patience=int(patience),
                    progress=(pbar.update if pbar is not None else None))
    ens, diag = train_replicas(data, random_state=seed, **train_kw)
    failed = _failed(diag["val_chi2"])
    n_retrained = int(failed.sum())
    if failed.any():
        sub = _subset_data(data, failed)
        ens2, diag2 = train_replicas(sub, random_state=seed + 1, **{**train_kw, "progress": None})
        idx = np.flatnonzero(failed)
        better = diag2["val_chi2"] < diag["val_chi2"][idx]
        for j, i in enumerate(idx):
            if better[j]:
                for W_, W2 in zip(ens.weights, ens2.weights):
                    W_[i] = W2[j]
                ens.skip[i] = ens2.skip[j]
                for key in ("train_chi2", "val_chi2", "best_epoch"):
                    diag[key][i] = diag2[key][j]
        failed = _failed(diag["val_chi2"])
    if pbar is not None:
        pbar.close()
    keep = ~failed
    ens = ens.subset(keep)
    diagnostics = dict(train_chi2=diag["train_chi2"][keep], val_chi2=diag["val_chi2"][keep],
                       best_epoch=diag["best_epoch"][keep], epochs=diag["epochs"], n_trained=R,
                       n_retrained=n_retrained, n_dropped=int(failed.sum()), n_kept=int(keep.sum()),
                       train_seconds=time.perf_counter() - t0)
    params = dict(n_clusters=n_clusters, n_replicas=R, dE1=dE1, dE2=dE2, max_training_pixels=max_training_pixels,
                  hidden=list(hidden), max_epochs=max_epochs, learning_rate=learning_rate, patience=patience,
                  random_state=seed, vacuum=None if Jv is None else int(Jv.shape[0]))
    return ZLPModel(ensemble=ens, energy=energy, core=core, fwhm=fwhm, clusters=cl, diagnostics=diagnostics,
                    params=params)


def _intrinsic_scatter(Jk, sk, energy, region, dE1, dispersion):
    """Relative spectrum-to-spectrum scatter of the ZLP shape beyond counting noise, per channel.

    Estimated in region I from the cluster's normalised spectra (variance minus the
    Poisson part); continued as a constant beyond it. Zero for fewer than 3 spectra.
    """
    out = np.zeros(energy.size)
    if Jk.shape[0] < 3 or not region.any():
        return out
    Jc = np.clip(Jk, 0, None)
    r = Jc / sk[:, None]
    mean = r.mean(axis=0)
    v = r.var(axis=0, ddof=1) - (Jc / sk[:, None] ** 2).mean(axis=0)
    frac = np.sqrt(np.clip(v, 0, None)) / np.maximum(mean, 1e-30)
    idx = np.flatnonzero(region)
    frac_s = np.zeros(energy.size)
    frac_s[idx] = _smooth(frac[idx], 5)
    out[idx] = frac_s[idx]
    tail = idx[energy[idx] >= 0.7 * dE1]
    out[energy >= energy[idx[-1]]] = np.median(frac_s[tail]) if tail.size else frac_s[idx[-1]]
    out[: idx[0]] = frac_s[idx[0]]
    return out


def _interp_clusters(c, base_c, table):
    """Rows of ``table`` (K, n_E) interpolated linearly at the pixels' c (clipped): (P, n_E)."""
    return interp_rows(c, base_c, table, axis=0)


def _failed(val):
    med = np.median(val)
    mad = 1.4826 * np.median(np.abs(val - med))
    return (val > med + 5 * max(mad, 0.05 * med)) & (val > 2 * med)


def _subset_data(d, sel):
    return dataclasses.replace(d, y=d.y[sel], sigma=d.sigma[sel], mask=d.mask[sel], y_val=d.y_val[sel])


def _progress_bar(show_progressbar, total, desc):
    if not resolve_show_progressbar(show_progressbar):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)


def subtract_zlp_nn(signal, vacuum=None, *, n_clusters=3, n_replicas=100, dE1=None, dE2=None,
                    max_training_pixels=2000, hidden=(10, 15, 5), max_epochs=4000, learning_rate=0.02, patience=600,
                    count_gain=1.0, random_state=None, show_progressbar=None, lazy_output=None):
    """Subtract the zero-loss peak with a replica ensemble of neural networks.

    NNPDF-style method of Roest et al. (Ultramicroscopy 222 (2021) 113202): Monte
    Carlo replicas of the data, one small network per replica, the median and
    16-84 % band of the ensemble as result and uncertainty. All replicas are
    trained together as one batched network with early stopping on held-out
    spectra; failed replicas are retrained or dropped (``result.replica_report``).
    Details in :mod:`hyperspy_eels_ml.zlp.subtract`.

    Parameters
    ----------
    signal : exspy.signals.EELSSpectrum
        Low-loss spectrum, line scan or SI (eager or lazy), ZLP aligned at 0 eV
        (``s.align_zero_loss_peak()``), with some energy-gain channels.
    vacuum : EELSSpectrum or list, optional
        Vacuum spectra on the same energy axis (a pure-ZLP reference; one more
        cluster for the networks).
    n_clusters : int
        Thickness clusters of the specimen pixels (K-means on ``ln(total/ZLP counts)``).
    n_replicas : int
        Monte Carlo replicas (networks).
    dE1, dE2 : float or sequence, optional
        End of the fitted region (eV) and end of the smooth-tail constraint, one
        value or one per cluster (clusters sorted by ``c``; a vacuum reference is
        usually the first). Default: automatic
        (``dE1`` = 0.7 x the first minimum after the ZLP, ``dE2 = 3 dE1``).
    max_training_pixels : int
        Pixels sampled (uniformly, seeded) for training; the subtraction runs on all.
    hidden : tuple of int
        Hidden layer sizes of each replica's network.
    max_epochs, learning_rate, patience : int, float, int
        Training (Adam, cosine learning-rate decay, early stopping patience in steps).
    count_gain : float
        Detector counts per electron (Poisson variance = ``count_gain x counts``).
    random_state : int, optional
    show_progressbar : bool, optional
        Default: HyperSpy's preference.
    lazy_output : bool, optional
        Default: lazy if ``signal`` is lazy (inference then runs chunk by chunk).

    Returns
    -------
    ZLPResult
        ``inelastic``/``zlp`` signals with 68 % bands, ``thickness`` maps,
        ``fit_band_gap()``, ``plot()``, ``model`` (savable).

    Raises
    ------
    EnergyRangeError
        No 0 eV in the axis, too few gain-side channels, ``dE1`` outside the axis.
    ZLPNotCentredError
        The ZLP maximum is not at 0 eV (align first).
    NonFiniteDataError
        NaN or inf in the data.

    Notes
    -----
    Negative counts (over-subtracted dark reference) count as 0 for training and
    for the noise variance, and are kept as they are in ``inelastic``; a warning is
    given when more than 1 % of the training channels are negative.

    Examples
    --------
    >>> import hyperspy_eels_ml                                   # doctest: +SKIP
    >>> r = s.subtract_zlp_nn(n_replicas=100, random_state=0)    # doctest: +SKIP
    >>> r.inelastic.plot(); r.plot()                              # doctest: +SKIP
    >>> gap = r.fit_band_gap(energy_range=(1.0, 3.0), exponent=1.5)  # doctest: +SKIP
    """
    model = fit_zlp(signal, vacuum, n_clusters=n_clusters, n_replicas=n_replicas, dE1=dE1, dE2=dE2,
                    max_training_pixels=max_training_pixels, hidden=hidden, max_epochs=max_epochs,
                    learning_rate=learning_rate, patience=patience, random_state=random_state,
                    show_progressbar=show_progressbar)
    return model.subtract(signal, count_gain=count_gain, show_progressbar=show_progressbar, lazy_output=lazy_output)
