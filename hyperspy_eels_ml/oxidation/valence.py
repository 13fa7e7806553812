"""Mean valence and end-member fractions from white lines in any window that holds them.

:class:`ValenceModel` regresses the fractions of an element's end-member
oxidation states (e.g. Mn0, Mn2+, Mn3+, Mn4+) from a short window aligned on
the spectrum's own L3 onset (a few eV below L3 to a few eV above L2), like
MnEdgeNet (Sci. Rep. 2023) regresses Mn2+/3+/4+ fractions. The mean valence is
the fraction-weighted sum of the end-member valences; its 68 % interval comes
from the spread of an ensemble of small networks, calibrated on held-out
simulations (:attr:`ValenceModel.interval_scale`).

The chemical shift enters as one optional extra input, the L3 onset on a
calibrated axis (``energy_calibrated=True`` or a ZLP from ``low_loss=``), with a
flag saying whether it is known: one model serves both cases, and shape alone
is used when nothing else is available.

Networks are scikit-learn ``MLPRegressor``s (a well-kept library; no
TensorFlow needed) whose weights are exported to an ``.npz`` of plain arrays
(read with ``allow_pickle=False``) and evaluated in numpy.

Classical baselines (for the benchmark and as a cross-check):

* :func:`ratio_onset_baseline` (on the aligned window) and
  :func:`ratio_baseline_spectra` (on whole spectra): the Pearson-style L3/L2
  ratio of :func:`hyperspy_eels_ml.oxidation.ratio.white_line_ratio` (and, on a
  calibrated axis, the L3 onset) mapped to a valence by linear interpolation
  between calibration points (:func:`~hyperspy_eels_ml.oxidation.ratio.ratio_calibration`:
  R_int measured the same way on digitised literature spectra for Mn,
  Chatzidakis & Botton 2019, and Fe, del-Pozo-Bueno et al.; on the simulator's
  end members, i.e. priors, for the other elements; the chemical-shift method
  follows Mansot et al. 1994 and Tan et al. 2012);
* :func:`nnls_baseline`: non-negative least squares of noise-free simulated
  end-member spectra (an MLLS fit with a scanned energy shift).
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import asdict, dataclass

import numpy as np

from .._shared.warn import warn
from .preprocess import FeatureSpec, extract_features

__all__ = ["ValenceSpec", "ValenceModel", "valence_spec", "other_edges", "ratio_onset_baseline", "nnls_baseline",
           "VALENCE_FORMAT", "EDGE_CLEARANCE", "ratio_valence", "ratio_baseline_spectra",
           "white_line_descriptors", "descriptor_inputs", "DESCRIPTOR_NAMES", "nnls_features", "hybrid_references"]

VALENCE_FORMAT = "hyperspy_eels_ml.ValenceModel"
#: (element, compound classes) reported as labels; mixtures are weighted end members
COMPOUNDS = {
    "Mn": {"Mn0": {"Mn0": 1.0}, "Mn2+": {"Mn2+": 1.0}, "Mn3O4": {"Mn2+": 1 / 3, "Mn3+": 2 / 3},
           "Mn3+": {"Mn3+": 1.0}, "Mn4+": {"Mn4+": 1.0}},
    "Fe": {"Fe0": {"Fe0": 1.0}, "Fe2+": {"Fe2+": 1.0}, "Fe3O4": {"Fe2+": 1 / 3, "Fe3+": 2 / 3},
           "Fe3+": {"Fe3+": 1.0}},
    "Co": {"Co0": {"Co0": 1.0}, "Co2+": {"Co2+": 1.0}, "Co3O4": {"Co2+": 1 / 3, "Co3+": 2 / 3},
           "Co3+": {"Co3+": 1.0}},
    "Ni": {"Ni0": {"Ni0": 1.0}, "Ni2+": {"Ni2+": 1.0}},
    "Cu": {"Cu0": {"Cu0": 1.0}, "Cu+": {"Cu+": 1.0}, "Cu2+": {"Cu2+": 1.0}},
    # oxide end members only (no metal parameters in the table); crystal-field split d0/d1 lines for Ti
    "Ti": {"Ti3+": {"Ti3+": 1.0}, "Ti4+": {"Ti4+": 1.0}},
    "V": {"V3+": {"V3+": 1.0}, "V4+": {"V4+": 1.0}, "V5+": {"V5+": 1.0}},
    "Cr": {"Cr3+": {"Cr3+": 1.0}, "Cr6+": {"Cr6+": 1.0}},
    # M4,5 white lines (M5 in the table's "L3" fields, M4 in "L2"); Ce4+ with its satellites about 5 eV above
    "Ce": {"Ce3+": {"Ce3+": 1.0}, "Ce4+": {"Ce4+": 1.0}},
}
#: elements whose valence models read M4,5 white lines (the table's edge "M45"): (lower line, upper line, edge)
M45_ELEMENTS = {"Ce": ("M5", "M4", "M4,5")}


def edge_lines(element):
    """(lower line, upper line, edge label) of ``element``'s white lines: ('L3', 'L2', 'L2,3') or M5/M4."""
    return M45_ELEMENTS.get(element, ("L3", "L2", "L2,3"))


def valence_model_name(element, oxides_only=False, descriptors=False):
    """File/registry name of ``element``'s valence model, e.g. ``mn_l23_valence``, ``ce_m45_valence``,
    ``mn_l23_valence_desc_oxide`` (``descriptors``: the descriptor model, :func:`descriptor_inputs`)."""
    edge = "m45" if element in M45_ELEMENTS else "l23"
    return f"{element.lower()}_{edge}_valence" + ("_desc" if descriptors else "") + ("_oxide" if oxides_only else "")


def compounds_for(element, end_members):
    """The compound classes of ``element`` made only of ``end_members`` (name -> composition)."""
    return {n: c for n, c in COMPOUNDS[element].items() if set(c) <= set(end_members)}


@dataclass(frozen=True)
class ValenceSpec:
    """What a valence model expects (stored with the model).

    Attributes
    ----------
    element : str
    end_members : tuple of str
        Species whose fractions are regressed, e.g. ``("Mn0", "Mn2+", "Mn3+", "Mn4+")``.
    valences : tuple of float
    dispersion : float
        Model grid (eV/channel).
    window : tuple of float
        Model window relative to the L3 onset (eV): from a few eV below L3 to a
        few eV above L2.
    onset_range : tuple of float
        L3 onsets of the end members on a calibrated axis (eV).
    max_shift : float
        Largest calibration error searched for (eV).
    background_gap, background_width, min_background_width : float
        Pre-edge power-law window (``remove_background=True``): ends
        ``background_gap`` eV below the lowest possible onset, up to
        ``background_width`` eV wide, at least ``min_background_width``.
    smoothing : float
        Gaussian sigma (eV) used to find the L3 maximum and onset.
    max_dispersion : float
        Coarsest input dispersion accepted (eV/channel).
    onset_scale : float
        Calibrated onsets are given to the network as ``(onset - centre) / onset_scale``.
    anchor : str
        The window's anchor (:class:`~hyperspy_eels_ml.oxidation.FeatureSpec`): ``"onset_rel"`` (the models
        shipped before session 9; also what a stored spec without the field means) or ``"onset_first"``
        (:data:`FIRST_ANCHOR_ELEMENTS`).
    hybrid : bool
        The network also reads the NNLS fit of noise-free simulated end members on the same window
        (:func:`nnls_features`: fractions at the best shift, relative residual, best shift; session 14,
        issue 13). False (also what a stored spec without the field means): shape and onset only.
    descriptors : bool
        The network reads, instead of the window's shape, a few white-line descriptors measured on the
        same aligned window (:func:`descriptor_inputs`: R_int, line positions, widths, splitting,
        second L3 maximum, trough and continuum step, a flag per group not measured) plus the calibrated
        onset (session 14, issue 13). False (also what a stored spec without the field means).
    """

    element: str
    end_members: tuple
    valences: tuple
    dispersion: float = 0.2
    window: tuple = (-2.5, 17.0)
    onset_range: tuple = (638.0, 643.0)
    max_shift: float = 10.0
    background_gap: float = 3.0
    background_width: float = 15.0
    min_background_width: float = 4.0
    smoothing: float = 0.6
    max_dispersion: float = 0.6
    onset_scale: float = 2.0
    anchor: str = "onset_rel"
    hybrid: bool = False
    descriptors: bool = False

    @property
    def n_shape(self):
        return int(round((self.window[1] - self.window[0]) / self.dispersion)) + 1

    @property
    def n_hybrid(self):
        """Number of NNLS inputs (:func:`nnls_features`): k fractions, relative residual, best shift; 0 if not hybrid."""
        return len(self.end_members) + 2 if self.hybrid else 0

    @property
    def n_inputs(self):
        if self.descriptors:
            return len(DESCRIPTOR_NAMES) + 2
        return self.n_shape + self.n_hybrid + 2

    @property
    def onset_centre(self):
        return 0.5 * (self.onset_range[0] + self.onset_range[1])

    def to_dict(self):
        d = asdict(self)
        for k in ("end_members", "valences", "window", "onset_range"):
            d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        for k in ("end_members", "valences", "window", "onset_range"):
            d[k] = tuple(d[k])
        return cls(**d)

    def minimum_text(self):
        lo, hi = self.onset_range
        a, b, _ = edge_lines(self.element)
        return (f"the {self.element} {a} and {b} lines: at least {self.window[1] - self.window[0] + 1:.0f} eV from "
                f"{-self.window[0] + 0.5:g} eV below the {a} onset to {self.window[1] + 0.5:g} eV above it "
                f"(about {lo + self.window[0] - 0.5:.0f}-{hi + self.window[1] + 0.5:.0f} eV on a calibrated axis)")

    def feature_spec(self, energy, remove_background, what="classify_oxidation", avoid=(), strict=True):
        """The :class:`FeatureSpec` for a signal with channel energies ``energy`` (narrow windows allowed).

        The onset is searched within ``onset_range +- max_shift`` intersected with
        the energies where the whole model window fits inside the data.

        ``avoid``: ``(name, onset_eV)`` of other elements' edges (:func:`other_edges`).
        With ``remove_background``, the pre-edge window then starts at least
        :data:`EDGE_CLEARANCE` eV above the highest of them below the lowest
        tabulated L3 onset (none inside the fit window, none between it and the L3),
        narrowing the window and, if needed, raising the lowest onset searched, as
        long as the tabulated onsets stay searchable. When no such window exists:
        ``strict`` -> :class:`EnergyRangeError`, else a ``UserWarning`` and the
        default window.

        Raises
        ------
        EnergyRangeError
            The window cannot hold the L3 and L2 lines (or, with
            ``remove_background``, a pre-edge window); the message says the minimum.
            ``strict`` and no pre-edge window free of the ``avoid`` edges.
        """
        from .._shared.exceptions import EnergyRangeError

        e0, e1 = float(energy[0]), float(energy[-1])
        pad = 0.5
        lo = max(self.onset_range[0] - self.max_shift, e0 - self.window[0] + pad)
        hi = min(self.onset_range[1] + self.max_shift, e1 - self.window[1] - pad)
        need_bg = ""
        if remove_background:
            lo = max(lo, e0 + self.min_background_width + self.background_gap - self.window[0])
            need_bg = (f", plus a pre-edge window of at least {self.min_background_width:g} eV ending "
                       f"{self.background_gap - self.window[0]:g} eV below the onset for remove_background=True "
                       "(pass remove_background=False for background-subtracted data)")
        if hi - lo < 1.0:  # room to search for the onset over at least 1 eV
            who = what if "valence model" in what else f"{what} ({self.element} valence model)"
            raise EnergyRangeError(
                f"{who} needs {self.minimum_text()}{need_bg}; the signal covers "
                f"{e0:g}-{e1:g} eV, where no {edge_lines(self.element)[0]} onset within "
                f"{self.onset_range[0] - self.max_shift:g}-"
                f"{self.onset_range[1] + self.max_shift:g} eV (tabulated onsets +-{self.max_shift:g} eV) leaves "
                "room for the window.")
        bg_end = lo + self.window[0] - self.background_gap
        bg_start = max(e0, bg_end - self.background_width)
        if remove_background and avoid:
            lo, bg_start = self._clean_window(lo, hi, bg_start, bg_end, avoid, strict, what)
            bg_end = lo + self.window[0] - self.background_gap
        gap = self.background_gap - self.window[0]
        return FeatureSpec(
            element=self.element, edge="L23", classes=tuple(self.end_members), dispersion=self.dispersion,
            window=tuple(self.window), anchor_range=(lo, hi), reference_anchor=0.5 * (lo + hi),
            background_gap=gap, background_width=bg_end - bg_start, smoothing=self.smoothing,
            max_dispersion=self.max_dispersion, energy_calibrated=False, max_shift=0.0, anchor=self.anchor)


    def _clean_window(self, lo, hi, bg_start, bg_end, avoid, strict, what):
        """(lowest onset searched, window start) with a pre-edge window free of the ``avoid`` edges."""

        from .._shared.exceptions import EnergyRangeError

        # edges below the lowest tabulated onset spoil the background; edges at or above it overlap the
        # white lines themselves (a coincidence, not a background problem) and are not handled here
        lim = min(self.onset_range[0], hi)
        near = sorted((x, n) for n, x in avoid if bg_start - EDGE_CLEARANCE < x < lim)
        if not near:
            return lo, bg_start
        x, name = near[-1]
        start = x + EDGE_CLEARANCE
        lo_need = start + self.min_background_width + self.background_gap - self.window[0]
        # the tabulated onsets (+-1 eV) must stay inside the onset search
        if lo_need <= self.onset_range[0] - 1.0 and hi - max(lo, lo_need) >= 1.0:
            return max(lo, lo_need), max(bg_start, start)
        names = ", ".join(f"{n} ({v:g} eV)" for v, n in near)
        a, _, edge = edge_lines(self.element)
        msg = (f"{what}: no pre-edge background window for the {self.element} {edge} edge avoids {names}: a window "
               f"must start {EDGE_CLEARANCE:g} eV above {name} and span at least {self.min_background_width:g} eV "
               f"ending {self.background_gap - self.window[0]:g} eV below the {self.element} {a} onset (tabulated "
               f"{self.onset_range[0]:g}-{self.onset_range[1]:g} eV), which leaves no room. Remove the background "
               "yourself (e.g. a model with both edges: s.create_model()) and pass remove_background=False.")
        if strict:
            raise EnergyRangeError(msg)
        warn(msg + f" Using the default window {bg_start:.1f}-{bg_end:.1f} eV, which holds or precedes "
                      "that edge: the background under the white lines is wrong.")
        return lo, bg_start


#: eV above another element's edge onset before a pre-edge window may start (white lines and sharp
#: thresholds peak within a few eV of the tabulated onset)
EDGE_CLEARANCE = 8.0
#: edges that spoil a pre-edge window when no elements are given: white-line edges (exspy: "Major",
#: "Sharp peak") of the L2,3 and M4,5 shells
_STRONG_SHELLS = ("L3", "L2", "M5", "M4")


def other_edges(element, elements=None, energy_range=None):
    """Tabulated edge onsets (exspy's element database) of elements other than ``element``.

    Parameters
    ----------
    element : str
        The element analysed (excluded).
    elements : sequence of str, optional
        The sample's elements (``metadata.Sample.elements``): all their major
        edges. None: the strong white-line edges (L2,3, M4,5 with a sharp peak)
        of every element.
    energy_range : (float, float), optional
        Keep onsets inside it.

    Returns
    -------
    list of (str, float)
        ``("La M4", 849.0)``, ... sorted by energy.
    """
    import exspy

    db = exspy.material.elements
    names = [e for e in (db.keys() if elements is None else elements) if e != element and e in db]
    out = []
    for el in names:
        shells = db[el].Atomic_properties.Binding_energies.as_dictionary()
        for sh, info in shells.items():
            x = float(info["onset_energy (eV)"])
            if elements is None:
                if sh not in _STRONG_SHELLS or info.get("threshold") != "Sharp peak" \
                        or info.get("relevance") != "Major":
                    continue
            elif info.get("relevance") != "Major":
                continue
            if energy_range is None or energy_range[0] <= x <= energy_range[1]:
                out.append((f"{el} {sh}", x))
    return sorted(out, key=lambda t: t[1])


#: elements whose window is anchored on the first strong maximum (``anchor="onset_first"``): their d0 end members
#: (V5+, Cr6+) have narrow crystal-field-split L3 lines that L2 plus the continuum step can out-top after smoothing,
#: which put the highest-point anchor on L2 in 32-42 % of training-like V/Cr spectra (3-8 % for the other elements,
#: whose shipped models keep "onset_rel"; measured in session 9)
FIRST_ANCHOR_ELEMENTS = ("V", "Cr")


def valence_spec(element, end_members=None, metals=True, **kw):
    """Default :class:`ValenceSpec` of ``element`` from the white-line table (``metals=False``: oxides only)."""
    from ..simulation.oxidation import white_line_parameters

    p = white_line_parameters()["species"]
    if end_members is None:
        if element not in COMPOUNDS:
            raise ValueError(f"No default end members for {element!r}; known: {sorted(COMPOUNDS)}.")
        end_members = tuple(sorted({s for c in COMPOUNDS[element].values() for s in c
                                    if metals or p[s]["valence"] > 0}, key=lambda s: p[s]["valence"]))
    sp = [p[s] for s in end_members]
    # onset ~ L3 maximum minus half the main-line width (envelope FWHM / 2), within 1.5 eV
    onsets = [s["L3"][0] - 0.5 * min(s["L3_fwhm"][0], 3.0) for s in sp]
    split = max(s["splitting"][0] for s in sp)
    d = dict(element=element, end_members=tuple(end_members), valences=tuple(float(s["valence"]) for s in sp),
             window=(-2.5, float(np.ceil(split + 4.5))), onset_range=(round(min(onsets) - 1.0, 2),
                                                                      round(max(onsets) + 1.0, 2)))
    if element in FIRST_ANCHOR_ELEMENTS:
        d["anchor"] = "onset_first"
    d.update(kw)
    return ValenceSpec(**d)


# ---------------------------------------------------------------------------
# preprocessing
# ---------------------------------------------------------------------------
def prepare_valence(data, energy, fspec, remove_background):
    """Raw spectra -> (scaled, optionally background-subtracted, cropped spectra, their energies)."""
    from .classifier import _prepare

    from exspy.signals import EELSSpectrum

    data = np.asarray(data, dtype=np.float64)
    if data.ndim == 1:
        data = data[None]
    peak = np.max(np.abs(data), axis=1, keepdims=True) if data.size else np.ones((data.shape[0], 1))
    data = (data / np.where(peak > 0, peak, 1.0)).astype(np.float32)
    s = EELSSpectrum(data)
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.scale, ax.offset, ax.name = "eV", float(energy[1] - energy[0]), float(energy[0]), "Energy loss"
    x, e = _prepare(s, fspec, remove_background)
    return np.asarray(x, dtype=np.float32).reshape(-1, x.shape[-1]), e


def shape_inputs(feats):
    """Window features -> network inputs: unit L2 norm times sqrt(n) (scale-free, O(1) values)."""
    from .classifier import _l2

    feats = np.asarray(feats, dtype=np.float64)
    n0 = max(1, int(round(feats.shape[1] / 20)))  # the first ~1 eV: pre-edge level (background-free data)
    feats = feats - feats[:, :n0].mean(axis=1, keepdims=True)
    return _l2(feats) * np.float32(np.sqrt(feats.shape[1]))


def network_inputs(feats, onset_cal, vspec, refs=None):
    """Shape inputs [, NNLS inputs when ``vspec.hybrid``] plus [calibrated onset (scaled, 0 when unknown), known flag].

    ``refs``: the end-member reference windows of a hybrid spec (:func:`hybrid_references`; pass them
    when calling repeatedly, e.g. :meth:`ValenceModel.references`); built here when None. The
    known flag stays the last column whatever the spec.
    """
    known = np.isfinite(onset_cal)
    z = np.where(known, (np.nan_to_num(onset_cal) - vspec.onset_centre) / vspec.onset_scale, 0.0)
    if vspec.descriptors:
        parts = [descriptor_inputs(feats, vspec)]
    else:
        parts = [shape_inputs(feats)]
    if vspec.hybrid and not vspec.descriptors:
        refs = hybrid_references(vspec) if refs is None else refs
        fr, rel, shift = nnls_features(feats, refs, step=vspec.dispersion)
        parts.append(np.concatenate([fr, HYBRID_RESIDUAL_SCALE * rel[:, None], shift[:, None]],
                                    axis=1).astype(np.float32))
    parts += [np.clip(z, -5, 5)[:, None].astype(np.float32), known[:, None].astype(np.float32)]
    return np.concatenate(parts, axis=1)


#: the inputs of a descriptor model (:func:`descriptor_inputs`), in order; ``*_missing`` are flags (1: the group
#: could not be measured and its values are set to fixed fill values)
DESCRIPTOR_NAMES = ("log_r_int", "l3_position", "l3_centroid", "splitting", "l3_fwhm", "l2_fwhm", "l2_height",
                    "trough", "continuum_step", "l3_second_height", "l3_second_offset", "ratio_missing",
                    "l2_missing", "l3_second_missing")
#: fill values (after scaling) of the descriptors of a group that could not be measured
_DESCRIPTOR_FILL = 0.0


def _half_max_crossing(sm, e, i_peak, half, lo, hi, side):
    """Energy where each row of ``sm`` first falls below ``half`` going ``side`` (-1/+1) from ``i_peak``, searched
    inside ``[lo, hi]`` (per row), linearly interpolated; NaN where it does not fall below inside the range."""
    n, m = sm.shape
    j = np.arange(m)[None]
    below = sm < half[:, None]
    inr = (e[None] >= lo[:, None]) & (e[None] <= hi[:, None])
    if side > 0:
        cand = below & inr & (j > i_peak[:, None])
        k = np.argmax(cand, axis=1)
        k0 = np.clip(k - 1, 0, m - 1)
    else:
        cand = below & inr & (j < i_peak[:, None])
        k = m - 1 - np.argmax(cand[:, ::-1], axis=1)
        k0 = np.clip(k + 1, 0, m - 1)
    ok = cand.any(axis=1)
    r = np.arange(n)
    y0, y1 = sm[r, k0], sm[r, k]
    t = np.clip((y0 - half) / np.where(y0 - y1 > 0, y0 - y1, 1.0), 0.0, 1.0)
    x = e[k0] + t * (e[k] - e[k0])
    return np.where(ok, x, np.nan)


@functools.lru_cache(maxsize=64)
def _oxide_splitting(end_members):
    from ..simulation.oxidation import white_line_parameters

    p = white_line_parameters()["species"]
    ox = [s for s in end_members if p[s]["valence"] > 0] or list(end_members)
    return float(np.mean([p[s]["splitting"][0] for s in ox]))


def white_line_descriptors(feats, vspec, smoothing=0.5):
    """Physical white-line descriptors of aligned windows (unscaled, NaN where not measured).

    Measured on the window :func:`classify_oxidation` extracts (axis: eV from the L3 onset,
    ``vspec.window``), batched. The lines are found by
    :func:`hyperspy_eels_ml.oxidation.ratio.white_line_ratio` (L3: first strong maximum within
    -1..5 eV of the onset; L2: maximum within +-2 eV of L3 plus the end members' mean splitting);
    heights are relative to the smoothed L3 maximum above the pre-edge level.

    Parameters
    ----------
    feats : array_like
        ``(n, vspec.n_shape)`` aligned windows.
    vspec : ValenceSpec
    smoothing : float
        Gaussian sigma (eV) of the smoothed spectrum on which maxima, widths and levels are read.

    Returns
    -------
    dict of numpy.ndarray
        ``r_int`` (the ratio), ``l3``/``l2`` (maxima, eV from the onset), ``l3_centroid`` (first moment of the L3
        line within +-2 eV of its maximum, above the double step, minus the maximum), ``l3_fwhm``/``l2_fwhm``
        (eV; L3: between its half-maximum crossings, the upper one searched up to the midpoint between the
        lines; L2: twice its low-side half width, as the continuum step often keeps the high side above half
        maximum inside the window),
        ``l2_height``, ``trough`` (minimum between the lines), ``step`` (mean of the window's last eV),
        ``second_height``/``second_offset`` (the highest other local maximum within -3..+4 eV of L3,
        excluding +-0.5 eV around it; NaN when there is none).
    """
    from ..simulation._ratio import _gauss_smooth, white_line_ratio

    feats = np.atleast_2d(np.asarray(feats, dtype=np.float64))
    n, m = feats.shape
    if m != vspec.n_shape:
        raise ValueError(f"expected windows of {vspec.n_shape} channels, got {m}")
    e = vspec.window[0] + vspec.dispersion * np.arange(m)
    y = feats - feats[:, e < e[0] + 1.0].mean(axis=1, keepdims=True)
    split = _oxide_splitting(tuple(vspec.end_members))
    w = white_line_ratio(e, y, (-1.0, 5.0), split, smoothing=smoothing)
    sm = _gauss_smooth(y, smoothing / vspec.dispersion)
    r = np.arange(n)
    l3_ok = np.isfinite(w.l3)
    i3 = np.clip(np.round((np.nan_to_num(w.l3, nan=0.0) - e[0]) / vspec.dispersion).astype(int), 0, m - 1)
    h3 = sm[r, i3]
    good = l3_ok & (h3 > 0)
    h3s = np.where(good, h3, 1.0)
    ys, ss = y / h3s[:, None], sm / h3s[:, None]
    l2_ok = good & np.isfinite(w.l2)
    e3 = np.where(good, e[i3], np.nan)
    e2 = np.where(l2_ok, w.l2, np.nan)
    i2 = np.clip(np.round((np.nan_to_num(w.l2, nan=e[-1]) - e[0]) / vspec.dispersion).astype(int), 0, m - 1)
    mid = np.where(l2_ok, 0.5 * (e3 + e2), np.nan_to_num(e3, nan=0.0) + 0.5 * split)
    half = np.full(n, 0.5)
    f3_lo = _half_max_crossing(ss, e, i3, half, np.full(n, e[0]), np.nan_to_num(e3, nan=e[0]), -1)
    f3_hi = _half_max_crossing(ss, e, i3, half, np.nan_to_num(e3, nan=e[0]), mid, +1)
    h2 = ss[r, i2]
    f2_lo = _half_max_crossing(ss, e, i2, 0.5 * h2, mid, np.nan_to_num(e2, nan=e[-1]), -1)
    between = (e[None] > e3[:, None] + 1.0) & (e[None] < e2[:, None] - 1.0)
    trough = np.where(between.any(axis=1), np.where(between, ss, np.inf).min(axis=1), np.nan)
    step = ys[:, e > e[-1] - 1.0].mean(axis=1)
    # L3 centroid above a 2:1 double step at the measured level (the window's last eV)
    lev = np.clip(np.nan_to_num(step), 0.0, None)[:, None]
    e2f = np.where(np.isfinite(e2), e2, np.nan_to_num(e3, nan=0.0) + split)
    dstep = lev * (2 / 3 * (0.5 + np.arctan((e[None] - np.nan_to_num(e3, nan=0.0)[:, None]) / 0.75) / np.pi)
                   + 1 / 3 * (0.5 + np.arctan((e[None] - e2f[:, None]) / 0.75) / np.pi))
    wl = np.clip(ys - dstep, 0.0, None)
    near3 = np.abs(e[None] - e3[:, None]) <= 2.0
    a = np.where(near3, wl, 0.0).sum(axis=1)
    cen = np.where(a > 0, np.where(near3, wl * e[None], 0.0).sum(axis=1) / np.where(a > 0, a, 1.0), np.nan) - e3
    # a second L3 maximum (crystal-field / multiplet structure)
    pk = np.zeros((n, m), bool)
    pk[:, 1:-1] = (ss[:, 1:-1] >= ss[:, :-2]) & (ss[:, 1:-1] > ss[:, 2:])
    zone = (e[None] >= e3[:, None] - 3.0) & (e[None] <= e3[:, None] + 4.0) & (np.abs(e[None] - e3[:, None]) > 0.5)
    zone &= e[None] < mid[:, None]
    cand = pk & zone
    has2 = cand.any(axis=1) & good
    j2 = np.argmax(np.where(cand, ss, -np.inf), axis=1)
    nan = np.full(n, np.nan)
    return {
        "r_int": np.where(good, w.ratio, np.nan), "l3": e3, "l2": e2, "l3_centroid": np.where(good, cen, nan),
        "l3_fwhm": np.where(good, f3_hi - f3_lo, nan), "l2_fwhm": np.where(l2_ok, 2.0 * (e2 - f2_lo), nan),
        "l2_height": np.where(l2_ok, h2, nan), "trough": np.where(l2_ok, trough, nan),
        "step": np.where(good, step, nan),
        "second_height": np.where(has2, ss[r, j2], nan), "second_offset": np.where(has2, e[j2] - e3, nan),
    }


def descriptor_inputs(feats, vspec):
    """Network inputs of a descriptor model (:data:`DESCRIPTOR_NAMES`) from aligned windows ``(n, n_shape)``.

    The descriptors of :func:`white_line_descriptors`, scaled to O(1) with fixed constants (positions and
    widths in units of 2 eV, the splitting relative to the end members' mean, ``log`` of R_int clipped to
    -1..3, heights as measured, clipped to -1..3). A value that could not be measured never enters
    silently: it is set to 0 and the flag of its group (ratio / L2 / second L3 maximum) is 1; the L3
    group's failure (no L3 maximum found) sets all three flags and all values to 0.
    """
    d = white_line_descriptors(feats, vspec)
    split = _oxide_splitting(tuple(vspec.end_members))
    with np.errstate(divide="ignore", invalid="ignore"):
        logr = np.log(d["r_int"])
    cols = [np.clip(logr, -1, 3), d["l3"] / 2.0, d["l3_centroid"] / 2.0, (d["l2"] - d["l3"] - split) / 2.0,
            d["l3_fwhm"] / 2.0, d["l2_fwhm"] / 2.0, np.clip(d["l2_height"], -1, 3), np.clip(d["trough"], -1, 3),
            np.clip(d["step"], -1, 3), np.clip(d["second_height"], -1, 3), d["second_offset"] / 2.0]
    groups = {"ratio": [0], "l2": [3, 5, 6, 7], "second": [9, 10]}
    X = np.column_stack(cols)
    l3_bad = ~np.isfinite(d["l3"])
    flags = []
    for g, idx in groups.items():
        miss = l3_bad | ~np.isfinite(X[:, idx]).all(axis=1)
        X[np.ix_(miss, idx)] = np.nan
        flags.append(miss)
    miss_any = ~np.isfinite(X)
    # values outside the groups (L3 position, centroid, L3 width, step) fail only with L3 itself or at the
    # window's edge: then every group is flagged
    other = [1, 2, 4, 8]
    bad_other = miss_any[:, other].any(axis=1)
    for f in flags:
        f |= bad_other
    X = np.where(np.isfinite(X), np.clip(X, -5, 5), _DESCRIPTOR_FILL)
    X[bad_other] = _DESCRIPTOR_FILL
    return np.column_stack([X] + [f.astype(np.float64) for f in flags]).astype(np.float32)


#: the relative NNLS residual is given to a hybrid network times this (O(1) values)
HYBRID_RESIDUAL_SCALE = 5.0
#: shifts (eV) of the references scanned by the NNLS fit (as :func:`nnls_baseline`)
NNLS_SHIFTS = tuple(np.round(np.arange(-1.0, 1.01, 0.2), 10))


def hybrid_references(vspec):
    """Noise-free end-member reference windows ``(k, n_shape)`` of ``vspec`` (:func:`reference_windows`).

    They depend on the spec only (window, grid, smoothing, anchor), not on the data's axis: a
    hybrid model builds them once per load (:meth:`ValenceModel.references`).

    Parameters
    ----------
    vspec : ValenceSpec
        The model's spec (end members, window, dispersion).

    Returns
    -------
    numpy.ndarray
        ``(len(vspec.end_members), vspec.n_shape)`` windows, each scaled to a maximum of 1, the input of
        :func:`nnls_features`.
    """
    lo, hi = vspec.onset_range
    e = np.arange(lo - vspec.max_shift - 40.0, hi + vspec.max_shift + vspec.window[1] + 10.0, 0.05)
    return reference_windows(vspec, vspec.feature_spec(e, False))


def nnls_features(feats, refs, shifts=NNLS_SHIFTS, step=0.2):
    """Batched NNLS of reference windows plus a free linear background, best of a scan of shifts.

    The same problem as :func:`nnls_baseline` (non-negative end members, a constant and a linear
    term of either sign), solved exactly for all spectra at once: for every shift and every subset
    of end members the unconstrained least-squares fit is computed with one matrix product, and the
    feasible fit (end-member coefficients >= 0) with the smallest residual is the NNLS optimum.
    Meant for the few (<= 5) end members of a valence model (2^k subsets).

    Parameters
    ----------
    feats : numpy.ndarray
        ``(n, m)`` aligned windows (:func:`valence_features`).
    refs : numpy.ndarray
        ``(k, m)`` reference windows (:func:`reference_windows`).
    shifts : sequence of float
        Reference shifts (eV) scanned.
    step : float
        The windows' grid (eV/channel).

    Returns
    -------
    fractions : numpy.ndarray
        ``(n, k)`` end-member coefficients normalised to sum 1 at the best shift (uniform where all are 0).
    rel_residual : numpy.ndarray
        ``(n,)`` residual norm over the norm of the mean-subtracted window (0: perfect fit).
    shift : numpy.ndarray
        ``(n,)`` the best shift (eV).
    """
    import itertools

    f = np.asarray(feats, dtype=np.float64)
    refs = np.asarray(refs, dtype=np.float64)
    n, m = f.shape
    k = refs.shape[0]
    if refs.shape[1] != m:
        raise ValueError(f"the references have {refs.shape[1]} channels, the windows {m}")
    if k > 6:
        raise ValueError(f"nnls_features enumerates 2^k subsets; {k} end members are too many")
    x = np.arange(m) / max(m - 1, 1)
    bg = np.vstack([np.ones(m), x])
    ff = np.einsum("ij,ij->i", f, f)
    best = np.full(n, np.inf)
    coef = np.zeros((n, k))
    best_shift = np.zeros(n)
    subsets = [s for r in range(k + 1) for s in itertools.combinations(range(k), r)]
    for sh in shifts:
        pos = np.arange(m) - sh / step
        R = np.array([np.interp(pos, np.arange(m), r) for r in refs])
        for sub in subsets:
            A = np.vstack([R[list(sub)], bg]).T  # (m, |sub| + 2)
            P = np.linalg.pinv(A)  # (|sub| + 2, m)
            C = f @ P.T
            r2 = ff - np.einsum("ij,ij->i", C, f @ A)
            feas = (C[:, : len(sub)] >= -1e-12).all(axis=1) & (r2 < best - 1e-12)
            if not feas.any():
                continue
            best[feas] = r2[feas]
            best_shift[feas] = sh
            c = np.zeros((int(feas.sum()), k))
            c[:, list(sub)] = np.clip(C[feas, : len(sub)], 0.0, None)
            coef[feas] = c
    tot = coef.sum(axis=1, keepdims=True)
    fr = np.where(tot > 0, coef / np.where(tot > 0, tot, 1.0), 1.0 / k)
    fc = f - f.mean(axis=1, keepdims=True)
    norm = np.sqrt(np.einsum("ij,ij->i", fc, fc))
    rel = np.sqrt(np.clip(best, 0.0, None)) / np.where(norm > 0, norm, 1.0)
    return fr, np.where(np.isfinite(rel), rel, 1.0), best_shift


# ---------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------
def _mlp_forward(X, layers):
    h = X.astype(np.float64)
    for i, (W, b) in enumerate(layers):
        h = h @ W + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return h


def project_simplex(F):
    """Rows clipped at 0 and renormalised to sum 1 (uniform where all are <= 0)."""
    F = np.clip(F, 0.0, None)
    s = F.sum(axis=1, keepdims=True)
    return np.where(s > 0, F / np.where(s > 0, s, 1.0), 1.0 / F.shape[1])


class ValenceModel:
    """Ensemble of small networks: end-member fractions and mean valence with a 68 % interval.

    Parameters
    ----------
    element : str
    end_members : sequence of str, optional
        Default: the element's metal and oxide states of the white-line table.
    hidden : tuple of int
        Hidden layer sizes of each network.
    n_estimators : int
        Ensemble size (its spread gives the interval).
    alpha : float
        L2 penalty.
    max_iter : int
    random_state : int
    """

    def __init__(self, element="Mn", end_members=None, hidden=(64, 32), n_estimators=4, alpha=1e-4, max_iter=200,
                 random_state=0):
        self.element = element
        self.end_members = end_members
        self.hidden = hidden
        self.n_estimators = n_estimators
        self.alpha = alpha
        self.max_iter = max_iter
        self.random_state = random_state

    def get_params(self, deep=True):
        return {k: getattr(self, k) for k in ("element", "end_members", "hidden", "n_estimators", "alpha",
                                               "max_iter", "random_state")}

    def set_params(self, **params):
        for k, v in params.items():
            if k not in self.get_params():
                raise ValueError(f"Unknown parameter {k!r}.")
            setattr(self, k, v)
        return self

    @property
    def is_fitted(self):
        return "layers_" in self.__dict__

    @property
    def spec(self):
        return self.__dict__["spec_"] if "spec_" in self.__dict__ else valence_spec(self.element, self.end_members)

    def references(self):
        """The NNLS reference windows of a hybrid model (:func:`hybrid_references`), built once and kept; None
        for a shape-only model."""
        if not self.spec.hybrid:
            return None
        if "refs_" not in self.__dict__:
            self.refs_ = hybrid_references(self.spec)
        return self.refs_

    def inputs(self, feats, onset_cal):
        """Network inputs of aligned windows ``feats`` and calibrated onsets (NaN: unknown) for this model."""
        return network_inputs(feats, onset_cal, self.spec, refs=self.references())

    def fit(self, X, fractions, X_cal=None, fractions_cal=None):
        """Fit on network inputs ``X`` (:func:`network_inputs`) and true fractions; calibrate the interval.

        ``X_cal, fractions_cal``: held-out simulations for the interval calibration
        (default: the last 15 % of ``X``).
        """
        from sklearn.neural_network import MLPRegressor

        from .._shared.params import check_int

        check_int("n_estimators", self.n_estimators, min=2)
        self.spec_ = self.spec
        self.__dict__.pop("refs_", None)
        X = np.asarray(X, dtype=np.float32)
        Y = np.asarray(fractions, dtype=np.float64)
        if X.shape[1] != self.spec_.n_inputs or Y.shape[1] != len(self.spec_.end_members):
            raise ValueError(f"expected {self.spec_.n_inputs} inputs and {len(self.spec_.end_members)} fractions")
        if not (np.isfinite(X).all() and np.isfinite(Y).all()):
            from .._shared.exceptions import NonFiniteDataError

            raise NonFiniteDataError("Training inputs contain NaN or inf.")
        if X_cal is None:
            n = int(0.85 * len(X))
            X, X_cal, Y, fractions_cal = X[:n], X[n:], Y[:n], Y[n:]
        rng = np.random.default_rng(self.random_state)
        layers, info = [], []
        for i in range(int(self.n_estimators)):
            idx = rng.integers(0, len(X), len(X))  # bootstrap: the spread reflects the data, not only the seed
            net = MLPRegressor(hidden_layer_sizes=tuple(self.hidden), alpha=self.alpha, max_iter=self.max_iter,
                               early_stopping=True, n_iter_no_change=10, random_state=int(self.random_state) + i)
            net.fit(X[idx], Y[idx])
            layers.append([(np.asarray(W, np.float64), np.asarray(b, np.float64))
                           for W, b in zip(net.coefs_, net.intercepts_)])
            info.append({"n_iter": int(net.n_iter_), "best_validation_score": float(net.best_validation_score_)})
        self.layers_ = layers
        self.deshrink_ = {}  # a refit invalidates any unbiased-estimator calibration (calibrate_unbiased)
        self.interval_scale_ = 1.0
        self.interval_floor_ = 0.0
        v_true = np.asarray(fractions_cal, dtype=np.float64) @ np.asarray(self.spec_.valences)
        _, v, s = self.predict(X_cal)
        err = np.abs(v - v_true)
        # sigma = scale * (ensemble std + floor): floor = median ensemble std; scale -> 68 % coverage
        self.interval_floor_ = float(np.median(s))
        self.interval_scale_ = float(np.quantile(err / (s + self.interval_floor_), 0.6827))
        self.info_ = {"estimators": info, "n_train": int(len(X)), "n_calibration": int(len(X_cal)),
                      "interval_scale": self.interval_scale_, "interval_floor": self.interval_floor_}
        return self

    def predict(self, X, estimator="unbiased"):
        """-> fractions (n, k), mean valence (n,), 68 % half-width (n,).

        ``estimator``: ``"unbiased"`` (default; the posterior mean when the model has
        no de-shrinking calibration, :meth:`calibrate_unbiased`) or ``"posterior_mean"``.
        The fractions are the networks' posterior means in both cases.
        """
        if not self.is_fitted:
            raise RuntimeError("This ValenceModel is not fitted; call fit() or load().")
        if estimator not in ("unbiased", "posterior_mean"):
            raise ValueError(f"estimator must be 'unbiased' or 'posterior_mean', got {estimator!r}.")
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.spec_.n_inputs:
            raise ValueError(f"expected (n, {self.spec_.n_inputs}) inputs, got {X.shape}")
        vals = np.asarray(self.spec_.valences)
        fr = np.stack([project_simplex(_mlp_forward(X, L)) for L in self.layers_])  # (m, n, k)
        v = fr @ vals  # (m, n)
        sd = v.std(axis=0, ddof=1)
        half = self.interval_scale_ * (sd + self.interval_floor_)
        v = v.mean(axis=0)
        if estimator == "unbiased" and self.deshrink_:
            known = X[:, -1] > 0.5  # the calibrated-onset flag of network_inputs
            for key, rows in (("calibrated", known), ("shape_only", ~known)):
                c = self.deshrink_.get(key)
                if c is None or not rows.any():
                    continue
                hr = half[rows]
                a, b = np.interp(hr, c["half"], c["a"]), np.interp(hr, c["half"], c["b"])
                v[rows] = np.clip((v[rows] - a) / b, vals.min() - c["clip"], vals.max() + c["clip"])
                half[rows] = c["scale"] * hr / b
        return fr.mean(axis=0), v, half

    #: de-shrinking (classical calibration) per input kind; empty: the posterior mean is reported
    deshrink_ = {}

    def calibrate_unbiased(self, X, fractions, n_bins=4, min_slope=0.3, clip=0.25, kinds=("calibrated",
                                                                                            "shape_only")):
        """Undo the posterior mean's shrinkage toward the middle valence (classical calibration).

        On held-out simulations ``X`` (not the training data), the posterior mean v
        is regressed on the true valence, v = a + b v_true, in ``n_bins`` quantile bins
        of the ensemble's 68 % half-width h (ambiguous spectra shrink more than clear
        ones), separately for spectra with and without a calibrated onset. The unbiased
        estimate is (v - a(h)) / b(h) with a, b interpolated in h, clipped to ``clip``
        beyond the end members' valence range; its 68 % half-width is h / b(h),
        rescaled to 68 % coverage on the same set. ``b`` is kept within
        [``min_slope``, 1]. Only the input ``kinds`` given are calibrated.
        """
        X = np.asarray(X, dtype=np.float32)
        vt = np.asarray(fractions, dtype=np.float64) @ np.asarray(self.spec_.valences)
        vals = np.asarray(self.spec_.valences)
        self.deshrink_ = {}
        _, v, h = self.predict(X, estimator="posterior_mean")
        known = X[:, -1] > 0.5
        out = {}
        for key, rows in (("calibrated", known), ("shape_only", ~known)):
            if key not in kinds or rows.sum() < 50 * n_bins:
                continue
            vr, hr, tr = v[rows], h[rows], vt[rows]
            edges = np.quantile(hr, np.linspace(0, 1, n_bins + 1))
            c = {"half": [], "a": [], "b": [], "clip": float(clip), "n": int(rows.sum())}
            for lo, hi in zip(edges[:-1], edges[1:]):
                r = (hr >= lo) & (hr <= hi)
                b = float(np.clip(np.polyfit(tr[r], vr[r], 1)[0], min_slope, 1.0))
                c["a"].append(float(np.mean(vr[r]) - b * np.mean(tr[r])))
                c["b"].append(b)
                c["half"].append(float(np.median(hr[r])))
            a, b = np.interp(hr, c["half"], c["a"]), np.interp(hr, c["half"], c["b"])
            vd = np.clip((vr - a) / b, vals.min() - clip, vals.max() + clip)
            c["scale"] = float(np.quantile(np.abs(vd - tr) / (hr / b), 0.6827))
            out[key] = c
        self.deshrink_ = out
        return self

    # ------------------------------------------------------------------ io
    def save(self, path, card=None):
        """Write an ``.npz`` of plain arrays + a JSON header (with a digest checked at load)."""
        from .classifier import _digest, _json_default

        path = os.fspath(path)
        if not path.endswith(".npz"):
            path += ".npz"
        arrays = {}
        for i, L in enumerate(self.layers_):
            for j, (W, b) in enumerate(L):
                arrays[f"W_{i}_{j}"] = W.astype(np.float32)
                arrays[f"b_{i}_{j}"] = b.astype(np.float32)
        version = 3 if self.spec_.descriptors else 2 if self.spec_.hybrid else 1
        head = {"format": VALENCE_FORMAT, "format_version": version, "spec": self.spec_.to_dict(),
                "params": self.get_params(), "n_estimators": len(self.layers_), "n_layers": len(self.layers_[0]),
                "interval_scale": self.interval_scale_, "interval_floor": self.interval_floor_,
                "info": self.info_, "deshrink": self.deshrink_}
        head["digest"] = _digest(_digest_spec(head), arrays)
        np.savez_compressed(path, header=np.array(json.dumps(head, sort_keys=True, default=_json_default)),
                            **arrays)
        return path

    @classmethod
    def load(cls, path):
        """Load a saved model (never unpickles); :class:`ModelFileError` on any inconsistency."""
        from .._shared.exceptions import ModelFileError
        from .classifier import _digest

        path = os.fspath(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                head = json.loads(str(z["header"]))
                arrays = {k: z[k] for k in z.files if k != "header"}
        except Exception as exc:
            raise ModelFileError(path, exc) from None
        if not isinstance(head, dict) or head.get("format") != VALENCE_FORMAT:
            raise ModelFileError(path, "not a ValenceModel file")
        try:
            spec = ValenceSpec.from_dict(head["spec"])
            m, nl = int(head["n_estimators"]), int(head["n_layers"])
        except Exception as exc:
            raise ModelFileError(path, f"invalid header ({exc})") from None
        if head.get("digest") != _digest(_digest_spec(head), arrays):
            raise ModelFileError(path, "the header's digest does not match the arrays and specification")
        layers = []
        for i in range(m):
            L = []
            for j in range(nl):
                W, b = arrays.get(f"W_{i}_{j}"), arrays.get(f"b_{i}_{j}")
                if W is None or b is None:
                    raise ModelFileError(path, f"missing layer {i}/{j}")
                L.append((W.astype(np.float64), b.astype(np.float64)))
            dims = [spec.n_inputs] + [W.shape[1] for W, _ in L]
            if any(W.shape != (dims[j], dims[j + 1]) or b.shape != (dims[j + 1],) for j, (W, b) in enumerate(L)) \
                    or dims[-1] != len(spec.end_members):
                raise ModelFileError(path, "layer shapes do not match the header")
            if not all(np.isfinite(W).all() and np.isfinite(b).all() for W, b in L):
                raise ModelFileError(path, "non-finite weights")
            layers.append(L)
        obj = cls(element=spec.element, end_members=tuple(spec.end_members))
        obj.spec_, obj.layers_ = spec, layers
        obj.interval_scale_ = float(head["interval_scale"])
        obj.interval_floor_ = float(head["interval_floor"])
        obj.info_ = head.get("info", {})
        try:
            obj.deshrink_ = {k: {"half": [float(x) for x in c["half"]], "a": [float(x) for x in c["a"]],
                                 "b": [float(x) for x in c["b"]], "scale": float(c["scale"]),
                                 "clip": float(c["clip"]), "n": int(c.get("n", 0))}
                             for k, c in (head.get("deshrink") or {}).items() if k in ("calibrated", "shape_only")}
        except Exception as exc:
            raise ModelFileError(path, f"invalid de-shrinking calibration ({exc})") from None
        for c in obj.deshrink_.values():
            nums = np.array(c["half"] + c["a"] + c["b"] + [c["scale"], c["clip"]])
            if not (np.isfinite(nums).all() and len(c["half"]) == len(c["a"]) == len(c["b"]) >= 1
                    and min(c["b"]) > 0 and np.all(np.diff(c["half"]) >= 0)):
                raise ModelFileError(path, "invalid de-shrinking calibration")
        return obj

    def __repr__(self):
        state = "fitted" if self.is_fitted else "not fitted"
        return f"<ValenceModel {self.element} {list(self.spec.end_members)}, {state}>"


def _digest_spec(head):
    """What the file digest covers besides the arrays: the spec, and the de-shrinking calibration when present."""
    return dict(head["spec"], _deshrink=head["deshrink"]) if head.get("deshrink") else head["spec"]


def _compound_probs(fractions, valence, half, element, end_members=None):
    from ..simulation.oxidation import white_line_parameters

    p = white_line_parameters()["species"]
    ems = list(end_members) if end_members is not None else sorted(
        {s for c in COMPOUNDS[element].values() for s in c}, key=lambda s: p[s]["valence"])
    comps = compounds_for(element, ems)
    C = np.array([[c.get(s, 0.0) for s in ems] for c in comps.values()])  # (nc, k)
    vc = C @ np.array([p[s]["valence"] for s in ems])
    sig = np.maximum(half, 0.05)[:, None]
    ll = -0.5 * ((valence[:, None] - vc[None]) / sig) ** 2
    d = np.abs(fractions[:, None, :] - C[None]).sum(-1)  # L1 distance of compositions (0..2)
    ll = ll - 2.0 * d
    ll -= ll.max(axis=1, keepdims=True)
    w = np.exp(ll)
    return w / w.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------
# baselines
# ---------------------------------------------------------------------------
def _interp_valence(x, xs, vs):
    """Valence from a monotone calibration (xs, vs) by linear interpolation/extrapolation (clipped)."""
    order = np.argsort(xs)
    xs, vs = np.asarray(xs)[order], np.asarray(vs)[order]
    v = np.interp(x, xs, vs)
    lo = vs[0] + (x - xs[0]) * (vs[1] - vs[0]) / (xs[1] - xs[0])
    hi = vs[-1] + (x - xs[-1]) * (vs[-1] - vs[-2]) / (xs[-1] - xs[-2])
    v = np.where(x < xs[0], lo, np.where(x > xs[-1], hi, v))
    return np.clip(v, min(vs) - 1, max(vs) + 1)


def ratio_valence(ratio, valences, ratios):
    """Valence from L3/L2 ratios, interpolated on calibration points.

    Parameters
    ----------
    ratio : array_like
        Measured ratios (:func:`~hyperspy_eels_ml.oxidation.ratio.white_line_ratio`), any shape.
    valences, ratios : sequence of float
        Calibration points (:func:`~hyperspy_eels_ml.oxidation.ratio.ratio_calibration`); points with a
        NaN ratio are dropped.

    Returns
    -------
    numpy.ndarray
        Valence per ratio, float64, the shape of ``ratio``: piecewise linear between the points,
        extrapolated linearly beyond them and clipped to one valence unit outside the calibrated
        range; NaN where the ratio is NaN (and everywhere when no
        point is left); the one valence when only one point is left.
    """
    keep = np.isfinite(ratios)
    vs, rs = list(np.asarray(valences, float)[keep]), list(np.asarray(ratios, float)[keep])
    ratio = np.asarray(ratio, dtype=np.float64)
    if len(vs) < 2:
        return np.full(ratio.shape, vs[0] if vs else np.nan)
    return np.where(np.isfinite(ratio), _interp_valence(np.nan_to_num(ratio), rs, vs), np.nan)


def ratio_baseline_spectra(data, energy, vspec, remove_background=True):
    """The L3/L2 baseline on whole spectra, independent of the valence models' aligned window.

    The spectra are prepared exactly as for the valence model (scaled, background removed when
    ``remove_background``, cropped to the model's range); L3 is searched over the model's whole
    onset search range (:func:`hyperspy_eels_ml.oxidation.ratio.white_line_ratio`: first strong
    maximum), so an anchor placed on the wrong line does not matter here.

    Parameters
    ----------
    data : numpy.ndarray
        ``(n, m)`` spectra (counts) on ``energy``.
    energy : numpy.ndarray
        ``(m,)`` uniform energy axis in eV.
    vspec : ValenceSpec
        The element's valence spec (:func:`valence_spec`): range, splitting, end members.
    remove_background : bool
        Remove a power-law pre-edge background first (False for background-free references).

    Returns
    -------
    valence : numpy.ndarray
        ``(n,)`` valence read off the calibration curve (NaN where the ratio is not measured).
    ratio : WhiteLineRatio
        The measurement (ratio, L3 and L2 energies, whether the continuum level was read above L2).
    source : str
        Where the calibration points come from (literature or simulator priors).
    """
    from ..simulation.oxidation import white_line_parameters

    from .ratio import ratio_calibration, white_line_ratio

    p = white_line_parameters()["species"]
    energy = np.asarray(energy, dtype=np.float64)
    fspec = vspec.feature_spec(energy, remove_background)
    x, e = prepare_valence(data, energy, fspec, remove_background)
    ox = [s for s in vspec.end_members if p[s]["valence"] > 0]
    split = float(np.mean([p[s]["splitting"][0] for s in ox]))
    w = white_line_ratio(e, x, fspec.anchor_range, split)
    vs, rs, source = ratio_calibration(vspec.element, vspec.end_members)
    return ratio_valence(w.ratio, vs, rs), w, source


def ratio_onset_baseline(feats, onset_cal, fspec, vspec):
    """Classical valence: L3/L2 ratio (+ calibrated L3 onset when known) on literature calibration curves.

    Oxide end members only (the ratio does not identify metals). Returns the
    valence per spectrum (NaN when the ratio is undefined).
    """
    from ..simulation.oxidation import white_line_parameters

    from .ratio import ratio_calibration, white_line_ratio

    p = white_line_parameters()["species"]
    ox = [s for s in vspec.end_members if p[s]["valence"] > 0]
    split = float(np.mean([p[s]["splitting"][0] for s in ox]))
    vs = [float(p[s]["valence"]) for s in ox]
    if len(ox) == 1:
        return np.full(len(feats), vs[0])
    r = white_line_ratio(fspec.offsets, feats, (-1.0, 5.0), split).ratio
    cal_v, cal_r, _ = ratio_calibration(vspec.element, vspec.end_members)
    v_ratio = ratio_valence(r, cal_v, cal_r)
    onsets = [p[s]["L3"][0] - 0.5 * min(p[s]["L3_fwhm"][0], 3.0) for s in ox]
    v_on = _interp_valence(np.nan_to_num(onset_cal, nan=np.mean(onsets)), onsets, vs)
    return np.where(np.isfinite(onset_cal), 0.5 * (v_ratio + v_on), v_ratio)


def reference_windows(vspec, fspec, resolution=0.6):
    """Noise-free simulated end-member spectra, aligned like the data: (k, n_shape)."""
    from ..simulation.oxidation import white_line_spectra

    refs = []
    for s in vspec.end_members:
        b = white_line_spectra(1, [s], dispersion=0.05, shift=0.0, resolution=resolution, t_lambda=0.3,
                               background=None, noise=False, parameter_spread=0.0, rng=0)
        sp = fspec.replace(anchor_range=(vspec.onset_range[0] - 3, vspec.onset_range[1] + 3))
        f, _, _, _ = extract_features(b.spectra, b.energy, sp)
        refs.append(f[0] / max(float(np.abs(f[0]).max()), 1e-12))
    return np.array(refs)


def nnls_baseline(feats, refs, vspec, shifts=np.arange(-1.0, 1.01, 0.2)):
    """NNLS of the end-member references (plus a constant and a linear residual background).

    The aligned references are shifted by ``shifts`` (eV) relative to the data
    (alignment on a mixture's onset is not that of its components); the shift
    with the smallest residual wins. Returns (fractions (n, k), valence (n,)).
    """
    from scipy.optimize import nnls

    n, m = feats.shape
    k = refs.shape[0]
    x = np.arange(m) / max(m - 1, 1)
    out = np.zeros((n, k))
    step = 0.2
    best = np.full(n, np.inf)
    for sh in shifts:
        pos = np.arange(m) - sh / step
        R = np.array([np.interp(pos, np.arange(m), r) for r in refs])  # (k, m)
        A = np.vstack([R, np.ones(m), x, -np.ones(m), -x]).T
        for i in range(n):
            c, res = nnls(A, feats[i].astype(np.float64))
            if res < best[i]:
                best[i] = res
                tot = c[:k].sum()
                out[i] = c[:k] / tot if tot > 0 else np.nan
    return out, out @ np.asarray(vspec.valences)


def valence_features(data, energy, vspec, remove_background=True):
    """Aligned window features of raw spectra ``(n, m)`` exactly as :func:`classify_oxidation` computes them.

    Returns ``(features, onset, snr, at_boundary, feature_spec)``; for the baselines and for training.
    """
    energy = np.asarray(energy, dtype=np.float64)
    fspec = vspec.feature_spec(energy, remove_background)
    x, e = prepare_valence(data, energy, fspec, remove_background)
    f, anchor, snr, atb = extract_features(x, e, fspec)
    return f, anchor, snr, atb, fspec


# ---------------------------------------------------------------------------
# O K pre-peak as an internal energy reference
# ---------------------------------------------------------------------------
def o_k_reference(element):
    """Tabulated O K pre-peak energy of ``element``'s oxides and the range of L3-onset to pre-peak distances.

    Returns ``(pre_peak_eV, (d_min, d_max))`` or None when the table has no O K
    parameters for the element. The pre-peak of the 3d-metal oxides lies within
    about +-0.4 eV of its mean (Mn 530.3-531.0, Fe 530.8-531.0 eV in the table),
    so it calibrates the axis of a spectrum that holds both edges, whatever its
    absolute calibration.
    """
    from ..simulation.oxidation import white_line_parameters

    p = white_line_parameters()["species"]
    ox = [s for s, v in p.items() if v["element"] == element and v["valence"] > 0 and "O_K" in v]
    if not ox:
        return None
    pre = [p[s]["L3"][0] + p[s]["O_K"]["pre_peak_offset"][0] for s in ox]
    on = [p[s]["L3"][0] - 0.5 * min(p[s]["L3_fwhm"][0], 3.0) for s in ox]
    d = [a - b for a, b in zip(on, pre)]
    return float(np.mean(pre)), (float(min(d)), float(max(d)))


def o_k_pre_peak(x, energy, onset, dist, margin=2.0, smoothing=0.5, background_width=8.0):
    """Energy of the O K pre-peak maximum per spectrum (NaN where not found).

    Searched ``dist`` (d_min, d_max) eV below each spectrum's L3 onset, +-``margin``;
    the power-law background is fitted on ``background_width`` eV ending 1 eV below
    the search window (log-log least squares), the edge smoothed (Gaussian, ``smoothing`` eV) and the
    pre-peak taken as the first local maximum above a quarter of the window's
    maximum, refined by a parabola. A spectrum whose pre-peak is too weak gives
    the main peak instead: the caller's plausibility check then refuses that
    calibration.
    """
    from .preprocess import _smooth

    x = np.asarray(x, dtype=np.float64)
    e = np.asarray(energy, dtype=np.float64)
    n = x.shape[0]
    out = np.full(n, np.nan)
    ok = np.isfinite(onset)
    if not ok.any():
        return out
    d = float(e[1] - e[0])
    w_lo = onset - dist[1] - margin
    w_hi = onset - dist[0] + margin
    ok &= (w_lo - background_width - 1.0 >= e[0]) & (w_hi <= e[-1])  # window + background inside the data
    if not ok.any():
        return out
    lo_all = np.nanmin(w_lo[ok]) - background_width - 1.0
    hi_all = np.nanmax(w_hi[ok])
    i0, i1 = int(np.searchsorted(e, lo_all)), min(int(np.searchsorted(e, hi_all)) + 1, e.size)
    if i1 - i0 < 20:
        return out
    ee, y = e[i0:i1], x[:, i0:i1]
    scale = np.max(np.abs(y), axis=1, keepdims=True)
    y = y / np.where(scale > 0, scale, 1.0)
    bg = (ee >= lo_all) & (ee < lo_all + background_width)
    lx = np.log(ee[bg])
    ly = np.log(np.clip(y[:, bg], 1e-12, None))
    A = np.vstack([np.ones_like(lx), lx]).T
    coef, *_ = np.linalg.lstsq(A, ly.T, rcond=None)
    y = y - np.exp(coef[0][:, None] + coef[1][:, None] * np.log(ee)[None])
    sm = _smooth(y.astype(np.float32), max(smoothing / d, 0.5)).astype(np.float64)
    inwin = (ee[None] >= w_lo[:, None]) & (ee[None] <= w_hi[:, None])
    M = np.where(inwin, sm, -np.inf).max(axis=1)
    peak = np.zeros_like(sm, dtype=bool)
    peak[:, 1:-1] = (sm[:, 1:-1] > sm[:, :-2]) & (sm[:, 1:-1] >= sm[:, 2:])
    cand = peak & inwin & (sm > 0.25 * M[:, None])
    has = cand.any(axis=1) & ok & np.isfinite(M) & (M > 0)
    k = np.argmax(cand, axis=1)
    km = np.clip(k, 1, sm.shape[1] - 2)
    r = np.arange(n)
    ym, y0, yp = sm[r, km - 1], sm[r, km], sm[r, km + 1]
    den = ym - 2 * y0 + yp
    frac = np.clip(np.where(den < 0, 0.5 * (ym - yp) / np.where(den < 0, den, -1.0), 0.0), -0.5, 0.5)
    out[has] = (ee[km] + d * frac)[has]
    return out
