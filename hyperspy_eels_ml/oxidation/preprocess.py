"""Feature extraction shared by training and inference (pure numpy, per block).

A :class:`FeatureSpec` fixes everything a model expects from a spectrum: the
edge, the model's energy grid (dispersion and a window relative to an anchor),
where the anchor lies on a calibrated axis, and the pre-edge window for the
power-law background. The same code turns training spectra and user spectra
into features, so the two never drift apart.

Two alignment strategies:

* ``energy_calibrated=False`` (default): every spectrum is aligned on its
  **own** edge. The anchor is the maximum of the Gaussian-smoothed spectrum
  within ``anchor_range +- max_shift`` (the L3 white line for L2,3 edges, the
  main O K peak for O K), refined to a fraction of a channel by a parabola.
  The model sees the shape relative to that anchor (multiplet shoulders, L3
  width, L2-L3 splitting, L3/L2 ratio), which does not change when the whole
  axis is off by several eV. The anchor energy is returned as a map (an
  apparent chemical shift, valid only relative to other pixels of the same SI
  when the axis is uncalibrated).
* ``energy_calibrated=True``: the window is cut at fixed energies around
  ``reference_anchor``, so the absolute edge position (the chemical shift, the
  strongest single feature on a calibrated axis) is used. Only for data whose
  axis is right to about +-1 eV (e.g. DualEELS with the zero-loss peak).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from ..simulation._ratio import first_strong_maximum  # noqa: F401  (the L3 rule; public here)

__all__ = ["FeatureSpec", "extract_features", "resample_uniform"]


@dataclass(frozen=True)
class FeatureSpec:
    """What a model expects from a spectrum (stored with every model).

    Attributes
    ----------
    element : str
        Element symbol, e.g. ``"Fe"``.
    edge : str
        ``"L23"`` (metal white lines) or ``"OK"`` (oxygen K edge).
    classes : tuple of str
        Class names in output order.
    dispersion : float
        Energy step of the model grid (eV/channel).
    window : tuple of float
        ``(low, high)`` of the model window relative to the anchor (eV).
    anchor_range : tuple of float
        Where the anchor (smoothed maximum) lies for these classes on a
        calibrated axis (eV).
    reference_anchor : float
        Fixed anchor used when ``energy_calibrated`` is True (eV).
    background_gap, background_width : float
        The power-law pre-edge window ends ``background_gap`` eV below the
        lowest possible anchor (``anchor_range[0] - max_shift``) and is
        ``background_width`` eV wide.
    smoothing : float
        Gaussian sigma (eV) of the smoothing used to find the anchor.
    max_dispersion : float
        Coarsest input dispersion accepted (eV/channel).
    energy_calibrated : bool
        Alignment strategy (see the module docstring).
    max_shift : float
        Largest calibration error searched for (eV); for calibrated models the
        tolerance of the fixed window.
    anchor : {"onset", "onset_rel", "onset_first", "max"}
        Point of the edge spectra are aligned on: the half-maximum crossing on
        the rising side of the smoothed edge maximum (``"onset"``; steep, so
        little noise jitter), the same half-way between the pre-edge minimum and
        the maximum (``"onset_rel"``: insensitive to a constant offset; the
        valence models), ``"onset_rel"`` on the *first* local maximum that
        reaches half of the highest one above the pre-edge minimum
        (``"onset_first"``: L3 even where L2 plus the continuum step stands
        higher than narrow crystal-field-split L3 lines, as for d0 V5+ and
        Cr6+), or the smoothed maximum itself (``"max"``).
    """

    element: str
    edge: str
    classes: tuple
    dispersion: float = 0.2
    window: tuple = (-8.0, 22.0)
    anchor_range: tuple = (707.8, 709.5)
    reference_anchor: float = 708.6
    background_gap: float = 5.0
    background_width: float = 20.0
    smoothing: float = 0.6
    max_dispersion: float = 0.5
    energy_calibrated: bool = False
    max_shift: float = 10.0
    anchor: str = "onset"

    # ------------------------------------------------------------------ ranges
    @property
    def search_range(self):
        """Energies (eV) searched for the anchor."""
        return (self.anchor_range[0] - self.max_shift, self.anchor_range[1] + self.max_shift)

    @property
    def crop_range(self):
        """Energies (eV) the features are computed from (background already removed)."""
        if self.energy_calibrated:
            lo = min(self.reference_anchor + self.window[0], self.search_range[0])
            hi = max(self.reference_anchor + self.window[1], self.search_range[1])
        else:
            lo = self.search_range[0] + self.window[0]
            hi = self.search_range[1] + self.window[1]
        return (lo - 1.0, hi + 1.0)

    @property
    def background_range(self):
        """Pre-edge window (eV) of the power-law background fit."""
        end = self.anchor_range[0] - self.max_shift - self.background_gap
        return (end - self.background_width, end)

    @property
    def n_features(self):
        return int(round((self.window[1] - self.window[0]) / self.dispersion)) + 1

    @property
    def offsets(self):
        """Model grid relative to the anchor (eV)."""
        return self.window[0] + self.dispersion * np.arange(self.n_features)

    def replace(self, **kw):
        d = asdict(self)
        d.update(kw)
        return FeatureSpec.from_dict(d)

    def to_dict(self):
        d = asdict(self)
        d["classes"] = list(self.classes)
        d["window"] = list(self.window)
        d["anchor_range"] = list(self.anchor_range)
        return d

    def to_json(self):
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        for k in ("classes", "window", "anchor_range"):
            d[k] = tuple(d[k])
        for k in ("dispersion", "reference_anchor", "background_gap", "background_width", "smoothing",
                  "max_dispersion", "max_shift"):
            d[k] = float(d[k])
        d["energy_calibrated"] = bool(d["energy_calibrated"])
        d.setdefault("anchor", "onset")
        return cls(**d)


# ---------------------------------------------------------------------------
# numpy helpers (vectorised over rows)
# ---------------------------------------------------------------------------
def _gather_linear(x, pos):
    """Linear interpolation of rows ``x`` (n, m) at fractional channel positions ``pos``.

    ``pos`` is (m_out,) (same for all rows) or (n, m_out). Positions outside
    ``[0, m-1]`` take the end values.
    """
    m = x.shape[1]
    pos = np.clip(pos, 0.0, m - 1.0)
    i0 = np.minimum(np.floor(pos).astype(np.int64), m - 2)
    w = (pos - i0).astype(x.dtype)
    if pos.ndim == 1:
        return x[:, i0] * (1 - w) + x[:, i0 + 1] * w
    rows = np.arange(x.shape[0])[:, None]
    return x[rows, i0] * (1 - w) + x[rows, i0 + 1] * w


def _box_smooth(x, width):
    """Moving average over ``width`` channels along rows (anti-aliasing before downsampling)."""
    if width <= 1:
        return x
    c = np.cumsum(np.pad(x, ((0, 0), (width // 2 + 1, width - width // 2 - 1)), mode="edge"), axis=1,
                  dtype=np.float64)
    return ((c[:, width:] - c[:, :-width]) / width).astype(x.dtype)


def resample_uniform(x, energy, start, step, size):
    """Resample rows of ``x`` from the uniform axis ``energy`` to ``start + step * arange(size)``.

    Finer input is box-averaged over the output step first (no aliasing of the
    noise); coarser input is linearly interpolated.
    """
    d = float(energy[1] - energy[0])
    if abs(d - step) < 1e-6 * step and abs((start - energy[0]) / d - round((start - energy[0]) / d)) < 1e-6:
        i0 = int(round((start - energy[0]) / d))
        if 0 <= i0 and i0 + size <= x.shape[1]:
            return x[:, i0 : i0 + size]
    if d < step:
        x = _box_smooth(x, int(round(step / d)))
    pos = (start + step * np.arange(size) - energy[0]) / d
    return _gather_linear(x, pos)


def _gauss_kernel(sigma_ch):
    r = max(1, int(np.ceil(3 * sigma_ch)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / max(sigma_ch, 1e-6)) ** 2)
    return (k / k.sum()).astype(np.float32)


def _smooth(x, sigma_ch):
    from scipy.ndimage import correlate1d

    return correlate1d(x, _gauss_kernel(sigma_ch), axis=1, mode="nearest")


def noise_level(x, max_samples=96):
    """Robust per-spectrum noise (std per channel): median absolute first difference.

    The median runs over at most ``max_samples`` evenly spaced differences.
    """
    m = x.shape[1]
    if m < 3:
        return np.zeros(x.shape[0], dtype=np.float32)
    idx = np.unique(np.linspace(0, m - 2, min(m - 1, max_samples)).astype(np.int64))
    diff = np.abs(x[:, idx + 1] - x[:, idx])
    return (1.4826 / np.sqrt(2.0)) * np.median(diff, axis=1)


def _gather_window(y, first, n):
    """Rows of ``y`` read at ``first + arange(n)`` (fractional ``first`` per row), linear interpolation."""
    from numpy.lib.stride_tricks import sliding_window_view

    m = y.shape[1]
    first = np.clip(first, 0.0, m - n - 1.0)
    i0 = np.floor(first).astype(np.int64)
    w = (first - i0).astype(y.dtype)[:, None]
    win = sliding_window_view(y, n + 1, axis=1)[np.arange(y.shape[0]), i0]
    return win[:, :n] * (1 - w) + win[:, 1:] * w


#: ``anchor="onset_first"``: the first local maximum reaching this fraction of the highest one (above the minimum)
FIRST_PEAK_FRACTION = 0.5


def extract_features(x, energy, spec, extra_shift=None):
    """Features of background-subtracted spectra.

    Parameters
    ----------
    x : numpy.ndarray
        ``(n, m)`` spectra, background already removed, on ``energy``.
    energy : numpy.ndarray
        ``(m,)`` uniform energy axis in eV covering ``spec.crop_range``.
    spec : FeatureSpec
    extra_shift : numpy.ndarray, optional
        ``(n,)`` eV added to the anchor (shift augmentation during training).

    Returns
    -------
    features : numpy.ndarray
        ``(n, spec.n_features)`` float32, the window on the model grid.
    anchor : numpy.ndarray
        ``(n,)`` anchor energy in eV (edge onset or maximum, see ``spec.anchor``;
        found also when the model is calibrated).
    snr : numpy.ndarray
        ``(n,)`` height of the smoothed edge maximum over the noise per model channel.
    at_boundary : numpy.ndarray
        ``(n,)`` bool, the maximum lies at the end of the search range (edge not found).
    """
    x = np.asarray(x, dtype=np.float32)
    energy = np.asarray(energy, dtype=np.float64)
    d_in = float(energy[1] - energy[0])
    step = spec.dispersion
    lo, hi = spec.crop_range
    start = energy[0] + np.ceil((lo - energy[0]) / step - 1e-9) * step if lo > energy[0] else energy[0]
    size = int(np.floor((min(hi, energy[-1]) - start) / step + 1e-9)) + 1
    noise = noise_level(x) * np.sqrt(d_in / step)
    y = resample_uniform(x, energy, start, step, size)
    grid = start + step * np.arange(size)
    s0, s1 = spec.search_range
    j0 = max(int(np.ceil((s0 - start) / step - 1e-9)), 0)
    j1 = min(int(np.floor((s1 - start) / step + 1e-9)), size - 1)
    sig = max(spec.smoothing / step, 0.5)
    pad = int(np.ceil(3 * sig))
    a0, a1 = max(j0 - pad, 0), min(j1 + pad + 1, size)
    sm = _smooth(y[:, a0:a1], sig)[:, j0 - a0 : j1 - a0 + 1]
    k = np.argmax(sm, axis=1)
    rows = np.arange(x.shape[0])
    if spec.anchor == "onset_first":
        first, found = first_strong_maximum(sm, FIRST_PEAK_FRACTION)
        k = np.minimum(np.where(found, first, k), k)
    peak = sm[rows, k]
    at_boundary = (k == 0) | (k == sm.shape[1] - 1)
    # parabolic sub-channel refinement
    km = np.clip(k, 1, sm.shape[1] - 2)
    ym, y0, yp = sm[rows, km - 1], sm[rows, km], sm[rows, km + 1]
    den = ym - 2 * y0 + yp
    frac = np.where(den < 0, 0.5 * (ym - yp) / np.where(den < 0, den, -1.0), 0.0)
    frac = np.clip(frac, -0.5, 0.5)
    kk = np.where(at_boundary, k, km + frac)
    if spec.anchor in ("onset", "onset_rel", "onset_first"):
        # last channel left of the maximum below half of it, then linear interpolation;
        # "onset_rel": half-way between the pre-edge minimum (left of the maximum, whole
        # window) and the maximum, so that a constant offset of the data does not matter
        if spec.anchor in ("onset_rel", "onset_first"):
            full = _smooth(y[:, : j1 + pad + 1], sig)
            left = np.arange(full.shape[1])[None, :] <= (j0 + k)[:, None]
            base = np.where(left, full, np.inf).min(axis=1)
            thr = base + 0.5 * (peak - base)
        else:
            thr = 0.5 * peak
        idx = np.arange(sm.shape[1])[None, :]
        below = (sm < thr[:, None]) & (idx < k[:, None])
        jb = np.where(below, idx, -1).max(axis=1)
        at_boundary |= jb < 0
        jb = np.maximum(jb, 0)
        lo_v, hi_v = sm[rows, jb], sm[rows, np.minimum(jb + 1, sm.shape[1] - 1)]
        den = hi_v - lo_v
        fr = np.clip(np.where(den > 0, (thr - lo_v) / np.where(den > 0, den, 1.0), 0.0), 0.0, 1.0)
        kk = np.where(at_boundary, k, jb + fr)
    elif spec.anchor != "max":
        raise ValueError(f"anchor must be 'onset', 'onset_rel', 'onset_first' or 'max', got {spec.anchor!r}")
    anchor = grid[j0] + step * kk
    if spec.energy_calibrated:
        a = np.full(x.shape[0], spec.reference_anchor)
    else:
        a = anchor
    if extra_shift is not None:
        a = a + np.asarray(extra_shift)
    feats = _gather_window(y, (a + spec.window[0] - start) / step, spec.n_features).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(noise > 0, peak / noise, np.where(peak > 0, np.inf, 0.0))
    return feats, anchor.astype(np.float64), snr.astype(np.float32), at_boundary
