"""``ZLPModel``: a trained replica ensemble, its application to signals and its safe persistence."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._shared.exceptions import ModelFileError
from .._shared.validation import EnergyRangeError, validate_eels
from .network import ReplicaEnsemble

__all__ = ["ZLPModel", "same_axis"]

_FORMAT = "hyperspy_eels_ml.zlp/1"


def same_axis(a, b):
    """True when two energy axes agree channel by channel (to 1e-6 of their largest |E|)."""
    return a.size == b.size and np.allclose(a, b, atol=1e-6 * max(1.0, float(np.abs(b).max())))


@dataclass
class ZLPModel:
    """A trained replica ensemble of ZLP networks and what it was trained on.

    Create one with :func:`~hyperspy_eels_ml.zlp.fit_zlp`; apply it with
    :meth:`subtract` to the SI it was trained on or to another one recorded with
    the same energy axis and microscope settings. Saved with :meth:`save` as a
    numpy ``.npz`` (arrays and a JSON header; loaded without pickle).
    """

    ensemble: ReplicaEnsemble
    energy: np.ndarray  #: training energy axis (eV)
    core: tuple  #: (low, high) eV: window whose counts scale each pixel's ZLP
    fwhm: float
    clusters: dict  #: c, dE1, dE2, E_valley, n_pixels, vacuum, scatter, baseline (arrays of length K)
    diagnostics: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    def __repr__(self):
        e = self.energy
        return (f"<ZLPModel: {self.n_replicas} replicas, {len(self.clusters['c'])} clusters "
                f"(vacuum: {int(np.sum(self.clusters['vacuum']))}), axis {e[0]:g} to {e[-1]:g} eV "
                f"({e.size} x {e[1] - e[0]:g} eV), FWHM {self.fwhm:.3g} eV, "
                f"dE1 {np.round(np.asarray(self.clusters['dE1'], float), 3).tolist()} eV>")

    @property
    def n_replicas(self):
        """Number of replicas kept."""
        return self.ensemble.n_replicas

    @property
    def dark_level(self):
        """Detector offset (counts per channel) removed before training (0 if none)."""
        return float(self.params.get("dark_level_value", 0.0) or 0.0)

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
    def check_axis(self, energy):
        """Raise :class:`EnergyRangeError` unless ``energy`` is the training axis."""
        if not same_axis(energy, self.energy):
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
        return self.subtract_validated(v, count_gain=count_gain, show_progressbar=show_progressbar,
                                       lazy_output=lazy_output)

    def subtract_validated(self, v, *, count_gain=1.0, show_progressbar=None, lazy_output=None):
        """:meth:`subtract` on an already validated signal (no second validation pass)."""
        from .._shared.params import check_float
        from .blocks import make_result

        count_gain = check_float("count_gain", count_gain, min=0, inclusive=(False, True))
        self.check_axis(v.energy)
        return make_result(self, v, count_gain=count_gain, show_progressbar=show_progressbar,
                           lazy_output=lazy_output)

    def plot_regions(self, ax=None):
        """Diagnostic plot of the regions: normalised cluster means with dE1 and dE2; returns a Figure."""
        from .plot import plot_regions

        return plot_regions(self, ax=ax)

    # -- persistence -------------------------------------------------------------------
    def save(self, path):
        """Save as ``.npz`` (arrays + a JSON header; loadable without pickle).

        ``".npz"`` is appended when ``path`` has no suffix (as numpy does), so
        ``save("x")`` and ``load("x")`` name the same file ``x.npz``. Returns the path written.
        """
        path = _npz_path(path)
        meta = dict(format=_FORMAT, core=list(self.core), fwhm=self.fwhm,
                    clusters={k: np.asarray(v).tolist() for k, v in self.clusters.items()},
                    diagnostics={k: np.asarray(v).tolist() for k, v in self.diagnostics.items()},
                    params=self.params)
        arrays = {f"ens_{k}": v for k, v in self.ensemble.to_arrays().items()}
        np.savez_compressed(path, energy=self.energy, header=np.array(json.dumps(meta)), **arrays)
        return path

    @classmethod
    def load(cls, path):
        """Load a model written by :meth:`save` (``allow_pickle=False``; shapes and finiteness checked).

        Raises
        ------
        ModelFileError
            The file is missing, corrupt, not a ZLP model, or its arrays are
            inconsistent or not finite.
        """
        path = _npz_path(path, must_exist=True)
        try:
            with np.load(path, allow_pickle=False) as f:
                meta = json.loads(str(f["header"]))
                if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
                    fmt = meta.get("format") if isinstance(meta, dict) else None
                    raise ModelFileError(path, f"not a hyperspy_eels_ml ZLP model (format {fmt!r})")
                arrays = {k[4:]: np.asarray(f[k]) for k in f.files if k.startswith("ens_")}
                energy = np.asarray(f["energy"], dtype=np.float64)
            ens = ReplicaEnsemble.from_arrays(arrays)
            clusters = {k: np.asarray(v) for k, v in meta["clusters"].items()}
            model = cls(ensemble=ens, energy=energy, core=tuple(float(x) for x in meta["core"]),
                        fwhm=float(meta["fwhm"]), clusters=clusters,
                        diagnostics={k: np.asarray(v) for k, v in meta["diagnostics"].items()},
                        params=dict(meta["params"]))
        except ModelFileError:
            raise
        except Exception as exc:  # BadZipFile, zlib/CRC errors, EOFError, KeyError, JSON errors, bad arrays
            raise ModelFileError(path, exc) from exc
        model._validate(path)
        return model

    def _validate(self, path):
        """Shapes, finiteness and consistency of a loaded model (a tampered file fails here)."""
        ens, e = self.ensemble, self.energy
        problems = []
        if e.ndim != 1 or e.size < 32 or not np.all(np.isfinite(e)) or not np.all(np.diff(e) > 0):
            problems.append("energy axis not a finite increasing 1-D array of >= 32 channels")
        w = ens.weights
        if len(w) < 4 or len(w) % 2:
            problems.append(f"{len(w)} weight arrays (expected pairs of W, b)")
        else:
            R = ens.skip.shape[0] if ens.skip.ndim == 2 else -1
            n_in = 2
            for i in range(0, len(w), 2):
                W, b = w[i], w[i + 1]
                if W.ndim != 3 or W.shape[0] != R or W.shape[1] != n_in or b.shape != (R, W.shape[2]):
                    problems.append(f"layer {i // 2} has shape {W.shape} / {b.shape}")
                    break
                n_in = W.shape[2]
            if n_in != 1:
                problems.append("last layer does not have one output")
        K = np.asarray(self.clusters.get("c", [])).size
        if K < 1:
            problems.append("no clusters")
        for key in ("dE1", "dE2", "vacuum", "n_pixels"):
            if np.asarray(self.clusters.get(key, [])).size != K:
                problems.append(f"clusters[{key!r}] does not have {K} entries")
        if ens.base_theta is None or np.asarray(ens.base_theta).shape != (K, 8) or \
                np.asarray(ens.base_c).shape != (K,):
            problems.append("baseline parameters do not match the clusters")
        sc = self.clusters.get("scatter")
        if sc is not None and np.asarray(sc).shape != (K, e.size):
            problems.append("scatter table does not match the clusters and energy axis")
        if ens.skip.ndim != 2 or ens.skip.shape[1] != 2 or ens.skip.shape[0] < 1:
            problems.append("skip coefficients have the wrong shape")
        finite = [*w, ens.skip, ens.base_theta, ens.base_c, np.asarray(ens.x_scale), np.asarray(ens.c_scale),
                  np.asarray([ens.width]), np.asarray(self.clusters.get("c", [np.nan]), float),
                  np.asarray(self.clusters.get("dE1", [np.nan]), float), np.asarray(self.core, float)]
        if not problems and not all(np.all(np.isfinite(np.asarray(a, float))) for a in finite):
            problems.append("non-finite weights or parameters")
        if not problems and not (ens.width > 0 and self.fwhm > 0 and self.core[0] < 0 < self.core[1]):
            problems.append("non-positive width/FWHM or a core window that does not contain 0 eV")
        if problems:
            raise ModelFileError(path, "; ".join(problems))


def _npz_path(path, must_exist=False):
    p = Path(os.fspath(path))
    if p.suffix == "" and not (must_exist and p.is_file()):
        p = p.with_suffix(".npz")
    if must_exist and not p.is_file():
        raise ModelFileError(p, "no such file")
    return str(p)
