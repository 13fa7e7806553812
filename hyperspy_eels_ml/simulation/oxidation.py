"""White-line (L2,3 / M4,5) and O K reference spectra per oxidation state.

Parameters per species (peak position, spin-orbit splitting, L3/L2 area ratio,
widths, multiplet shoulders, O K pre-peak and main peak) live in
``data/white_lines.json``, each with a spread and its source (measured from
public reference spectra, literature, or marked "prior (unverified)").
:func:`white_line_spectra` samples every parameter within its spread and adds
the instrument: resolution, plural scattering (random low loss), a global
energy shift, an optional power-law background or an imperfect background
subtraction residual, and Poisson + read noise. Mixed-valence compounds
(Fe3O4, Mn3O4) are weighted sums of their end members.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field

import numpy as np

from ._ratio import white_line_ratio
from ._sampling import per_spectrum
from .core_loss import low_loss_kernel

__all__ = ["OxidationBatch", "white_line_spectra", "white_line_parameters", "species_names"]

_DATA = os.path.join(os.path.dirname(__file__), "data", "white_lines.json")


@functools.lru_cache(maxsize=1)
def white_line_parameters():
    """The parameter table (dict) with sources; see ``data/white_lines.json``."""
    with open(_DATA) as f:
        return json.load(f)


def species_names(element=None):
    """Known species (oxidation states and mixtures), optionally of one element."""
    p = white_line_parameters()
    names = list(p["species"]) + list(p["mixtures"])
    if element is None:
        return names
    return [s for s in names if _element_of(s) == element]


def _element_of(name):
    p = white_line_parameters()
    if name in p["species"]:
        return p["species"][name]["element"]
    comp = next(iter(p["mixtures"][name]["components"]))
    return p["species"][comp]["element"]


@dataclass
class OxidationBatch:
    """White-line spectra and their ground truth."""

    spectra: np.ndarray  #: (n, size) float32 counts
    energy: np.ndarray  #: (size,) eV, nominal axis
    classes: list  #: class names (columns of ``fractions``' source labels)
    labels: np.ndarray  #: (n,) int index into ``classes``
    fractions: np.ndarray  #: (n, n_base) fraction of each end-member species
    base_species: list  #: end-member species of ``fractions``
    params: dict = field(default_factory=dict)


def _draw(rng, spec, n, positive=True, spread=1.0):
    v, s = float(spec[0]), float(spec[1]) * spread
    x = v + s * rng.standard_normal(n)
    return np.maximum(x, 0.05 * abs(v)) if positive else x


def _pv(e, centre, fwhm):
    """Gaussian of unit height (rows = spectra)."""
    return np.exp(-4 * np.log(2) * ((e - centre) / fwhm) ** 2)


def _envelope_fwhm(w, multiplets):
    x = np.arange(-20, 20, 0.005)
    y = _pv(x, 0.0, w) + sum(h * _pv(x, off, 0.8 * w) for off, h in multiplets)
    above = x[y >= y.max() / 2]
    return above[-1] - above[0]


@functools.lru_cache(maxsize=None)
def _main_width_factor(name, which):
    """Main-peak width / envelope FWHM so that the L3 (L2) envelope has the tabulated FWHM."""
    sp = white_line_parameters()["species"][name]
    target = sp[f"{which}_fwhm"][0]
    mult = [tuple(m) for m in sp[f"{which}_multiplets"]]
    lo, hi = 0.05 * target, target
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _envelope_fwhm(mid, mult) < target else (lo, mid)
    return max(0.5 * (lo + hi), 0.3) / target


def _tail(e, centre, width, decay):
    """Band-like tail of a metallic white line: exp(-(E - centre)/decay) above the line, smooth onset."""
    x = e - centre
    return np.exp(-np.clip(x, 0.0, None) / decay) * (0.5 + np.arctan(x / (0.5 * width)) / np.pi)


#: ``ratio_observable`` values of :func:`white_line_spectra` (z25, issue 13)
RATIO_OBSERVABLES = ("area", "r_int_species", "r_int")


def _r_int(e1, y, l3c, split):
    """R_int (``oxidation.ratio.white_line_ratio``, the shared-notes recipe) of rows y on axis e1, L3 near l3c."""
    out = np.full(y.shape[0], np.nan)
    bins = np.floor(l3c).astype(int)
    for b in np.unique(bins):
        r = np.flatnonzero(bins == b)
        out[r] = white_line_ratio(e1, y[r], (b - 3.0, b + 5.0), split).ratio
    return out


def _match_r_int_rows(e, l3p, l2p, step, k, target, l3c, split, iterations=8):
    """Per-row L2 scale k such that R_int(l3p + k l2p + step) = target (fixed point k <- k R / target)."""
    e1 = np.asarray(e).mean(axis=0) if np.ndim(e) == 2 else np.asarray(e)
    k = np.array(k, dtype=np.float64).reshape(-1, 1) * np.ones((l3p.shape[0], 1))
    for _ in range(iterations):
        r = _r_int(e1, l3p + k * l2p + step, l3c, split)
        good = np.isfinite(r) & (r > 0)
        k[good, 0] *= r[good] / target[good]
    return k


@functools.lru_cache(maxsize=None)
def _r_int_species_factor(name, iterations=8):
    """Candidate A (z25): one L2 factor per species so that the noise-free table-mean end member at the
    reference condition (resolution 0.6 eV, t/lambda 0.05, continuum 0, 0.05 eV/ch) has R_int = the table's
    ``r_int`` target, measured with ``oxidation.ratio.white_line_ratio``."""
    sp = white_line_parameters()["species"][name]
    target = float(sp["r_int"][0])
    f = 1.0
    for _ in range(iterations):
        b = white_line_spectra(1, [name], dispersion=0.05, shift=0.0, resolution=0.6, t_lambda=0.05,
                               background=None, noise=False, parameter_spread=0.0, continuum=0.0, rng=0,
                               _l2_factor=f)
        l3 = sp["L3"][0]
        r = float(white_line_ratio(b.energy, b.spectra, (l3 - 3.0, l3 + 4.0), sp["splitting"][0]).ratio[0])
        if not np.isfinite(r) or r <= 0:
            break
        f *= r / target
    return f


def _species_single(rng, sp, e, n, edge, shift, name, spread=1.0, ok_amp=(0.3, 1.0), continuum=None,
                    multiplet_jitter=(0.1, 0.0), ratio_observable="area", l2_factor=1.0):
    """Single-scattering metal edge (+ O K) of one species for n spectra on energies e (n, size).

    ``continuum``: per-spectrum multiplier (n,) of the species' continuum step height, or None (1).
    ``multiplet_jitter``: (relative height sigma, position sigma in eV) of each multiplet line.
    """
    l3 = _draw(rng, sp["L3"], n, positive=False, spread=spread)[:, None] + shift[:, None]
    split = _draw(rng, sp["splitting"], n, spread=spread)[:, None]
    ratio = _draw(rng, sp["ratio"], n, spread=spread)[:, None]
    w3 = _draw(rng, sp["L3_fwhm"], n, spread=spread)[:, None] * _main_width_factor(name, "L3")
    w2 = _draw(rng, sp["L2_fwhm"], n, spread=spread)[:, None]  # main L2 width (from measured R_peak where known)
    scale = sp.get("white_line_scale", 1.0)
    out = np.zeros_like(e)
    if edge in ("L23", "both"):
        hj, pj = multiplet_jitter
        jit = lambda: np.maximum(1 + hj * spread * rng.standard_normal((n, 1)), 0.0)  # noqa: E731  height jitter
        pos = lambda: pj * rng.standard_normal((n, 1)) if pj > 0 else 0.0  # noqa: E731  position jitter
        l3_peaks = _pv(e, l3, w3)
        area3 = w3.copy()
        tail = sp.get("tail")  # metals: asymmetric band-like line (height rel. to the line, decay in eV)
        if tail is not None:
            th = _draw(rng, tail["height"], n, spread=spread)[:, None]
            td = _draw(rng, tail["decay"], n, spread=spread)[:, None]
            l3_peaks += th * _tail(e, l3, w3, td)
            area3 += th * td * 1.0645  # area of the tail in units of a unit-height Gaussian's FWHM x 1.0645
        for off, h in sp["L3_multiplets"]:
            hh = h * jit()
            l3_peaks += hh * _pv(e, l3 + off + pos(), 0.8 * w3)
            area3 += hh * 0.8 * w3
        l2c = l3 + split
        l2_peaks = _pv(e, l2c, w2)
        area2 = w2.copy()
        if tail is not None:
            l2_peaks += th * _tail(e, l2c, w2, td)
            area2 += th * td * 1.0645
        for off, h in sp["L2_multiplets"]:
            hh = h * jit()
            l2_peaks += hh * _pv(e, l2c + off + pos(), 0.8 * w2)
            area2 += hh * 0.8 * w2
        # scale L2 so that the integrated L3/L2 ratio is `ratio`
        k = area3 / (area2 * ratio)
        if ratio_observable == "r_int_species" and "r_int" in sp:
            k = k * _r_int_species_factor(name)
        k = k * l2_factor
        c_tab = sp.get("continuum")  # step height relative to the main L3 line (default 0.125 +- 0.075)
        if c_tab is None:
            step_h = 0.125 + spread * rng.uniform(-0.075, 0.075, (n, 1))
        else:
            step_h = _draw(rng, c_tab, n, spread=spread)[:, None]
        if continuum is not None:
            step_h = step_h * np.asarray(continuum, dtype=np.float64).reshape(n, 1)
        gs = 0.75 + spread * rng.uniform(-0.25, 0.25, (n, 1))
        step = step_h * (2 / 3 * (0.5 + np.arctan((e - l3) / gs) / np.pi) + 1 / 3 * (0.5 + np.arctan((e - l2c) / gs) / np.pi))
        if ratio_observable == "r_int" and "r_int" in sp:
            k = _match_r_int_rows(e, scale * l3_peaks, scale * l2_peaks, step, k, ratio[:, 0],
                                  l3[:, 0], float(sp["splitting"][0]))
        out += scale * (l3_peaks + k * l2_peaks) + step
    if edge in ("OK", "both") and "O_K" in sp:
        ok = sp["O_K"]
        pre = l3 + _draw(rng, ok["pre_peak_offset"], n, positive=False, spread=spread)[:, None]
        main = pre + _draw(rng, ok["main_offset"], n, spread=spread)[:, None]
        ph = _draw(rng, ok["pre_height"], n, spread=spread)[:, None]
        amp = rng.uniform(ok_amp[0], ok_amp[1], (n, 1)) if not np.isscalar(ok_amp) else np.full((n, 1), ok_amp)
        okspec = (ph * _pv(e, pre, 1.6 + spread * rng.uniform(-0.4, 0.4, (n, 1)))
                  + _pv(e, main, 4.0 + spread * rng.uniform(-1.0, 1.0, (n, 1))))
        okspec += 0.4 * (0.5 + np.arctan((e - pre - 2) / 2.0) / np.pi)
        out += amp * okspec
    return out


def white_line_spectra(
    n,
    classes,
    *,
    edge="L23",
    energy_offset=None,
    dispersion=0.1,
    size=None,
    labels=None,
    shift=(-5.0, 5.0),
    resolution=(0.3, 1.2),
    t_lambda=(0.1, 1.0),
    background="residual",
    counts=(300.0, 5000.0),
    read_noise=(0.0, 3.0),
    noise=True,
    fractions=None,
    parameter_spread=1.0,
    o_k_amplitude=(0.3, 1.0),
    continuum=1.0,
    dispersion_error=0.0,
    multiplet_jitter=(0.1, 0.0),
    ratio_observable="area",
    rng=None,
    _l2_factor=1.0,
):
    """Simulate oxidation-state reference spectra.

    Parameters
    ----------
    n : int
        Number of spectra.
    classes : sequence of str
        Species or mixtures, e.g. ``["Fe2+", "Fe3+", "Fe3O4"]`` or
        ``["Mn2+", "Mn3+", "Mn4+"]`` (see :func:`species_names`). All of one element.
    edge : {"L23", "OK", "both"}
        The metal white lines, the O K edge, or both (O K is placed at its
        measured/literature distance from the metal L3, a calibration-free relation).
    energy_offset, dispersion, size : float, float, int
        Energy axis; default: a window from 20 eV below the lowest L3 (M5) to 40 eV
        above the highest L2 (M4), or around O K.
    labels : array_like of int, optional
        Class index per spectrum (default: uniform random).
    shift : float or (low, high)
        Global energy shift in eV (calibration error), uniform.
    resolution : float or (low, high)
        Instrument resolution FWHM in eV.
    t_lambda : float or (low, high)
        Relative thickness for plural scattering.
    background : {"residual", "powerlaw", None}
        "residual": an imperfect background subtraction (random linear/curved
        residual of up to +-15 % of the edge height); "powerlaw": the pre-edge
        power law A E^-r is kept; None: none.
    counts : float, (low, high) or array
        Counts in the brightest channel of the edge (log-uniform), or per spectrum.
    read_noise : float or (low, high)
    noise : bool
    fractions : array_like, optional
        ``(n, n_end_members)`` fractions of the end-member species of ``classes``
        (in the order of ``OxidationBatch.base_species``) per spectrum, e.g. a
        Fe2+/Fe3+ map of a core-shell particle. Overrides ``labels``; each label is
        then the class whose composition is closest.
    parameter_spread : float
        Scale of the parameter spreads (1 = the table's; 0 = the table values for
        every spectrum, as for one specimen).
    o_k_amplitude : float or (low, high)
        O K height relative to the metal edge (``edge="both"``).
    continuum : float or (low, high)
        Multiplier of the table's continuum (double-step) height, uniform per spectrum:
        0 = the continuum subtracted, as in many published reference spectra; 1 = the table
        (default); >1 = thick specimens, strong plural scattering or a poor subtraction.
    dispersion_error : float or (low, high)
        Relative error of the recorded dispersion (uniform): a feature at true energy E
        appears at ``energy_offset + (E - energy_offset) / (1 + err)`` on the nominal axis.
    multiplet_jitter : (float, float)
        Per-spectrum variation of each multiplet/shoulder line: relative height sigma (times
        ``parameter_spread``) and position sigma in eV. Compounds of one valence differ in
        crystal field and covalency more than the class-mean shapes of the table say.
    ratio_observable : {"area", "r_int_species", "r_int"}
        What the table's L3/L2 ``ratio`` means (z25, issue 13). ``"area"`` (default, every shipped model
        but the ones whose card says otherwise): the area ratio of the line profiles, continuum excluded.
        ``"r_int"``: for species with a cited ``r_int`` entry (Mn2+/3+/4+) each spectrum's L2
        is scaled so that the observable R_int of its single-scattering lines + continuum step, measured
        with :func:`hyperspy_eels_ml.oxidation.ratio.white_line_ratio` (the shared-notes recipe), is the
        drawn ratio. ``"r_int_species"``: one L2 factor per species, fitted on the noise-free table-mean
        end member (resolution 0.6 eV, t/lambda 0.05, continuum 0). Other species: as ``"area"``.
        Draws no extra random numbers, so a seed gives the same nuisances in every mode.
    rng : numpy.random.Generator or int, optional

    Returns
    -------
    OxidationBatch
    """
    if ratio_observable not in RATIO_OBSERVABLES:
        raise ValueError(f"ratio_observable must be one of {RATIO_OBSERVABLES}")
    rng = np.random.default_rng(rng)
    p = white_line_parameters()
    classes = list(classes)
    unknown = [c for c in classes if c not in p["species"] and c not in p["mixtures"]]
    if unknown:
        raise ValueError(f"Unknown species {unknown}; known: {species_names()}")
    els = {_element_of(c) for c in classes}
    if len(els) != 1:
        raise ValueError(f"classes must be of one element, got {sorted(els)}")
    if edge not in ("L23", "OK", "both"):
        raise ValueError("edge must be 'L23', 'OK' or 'both'")
    base = []
    for c in classes:
        for s_ in (p["mixtures"][c]["components"] if c in p["mixtures"] else {c: 1.0}):
            if s_ not in base:
                base.append(s_)
    l3s = [p["species"][b]["L3"][0] for b in base]
    l2s = [p["species"][b]["L3"][0] + p["species"][b]["splitting"][0] for b in base]
    if edge == "OK" and not all("O_K" in p["species"][b] for b in base):
        raise ValueError(f"no O K parameters for {[b for b in base if 'O_K' not in p['species'][b]]}")
    if energy_offset is None or size is None:
        if edge == "L23":
            lo, hi = min(l3s) - 20, max(l2s) + 40
        else:
            pres = [p["species"][b]["L3"][0] + p["species"][b]["O_K"]["pre_peak_offset"][0] for b in base]
            lo, hi = (min(pres) - 15, min(pres) + 45) if edge == "OK" else (min(pres) - 15, max(l2s) + 40)
        energy_offset = lo if energy_offset is None else energy_offset
        size = int(np.ceil((hi - energy_offset) / dispersion)) if size is None else size
    energy = energy_offset + dispersion * np.arange(size)
    need_lo, need_hi = (min(l3s), max(l2s)) if edge != "OK" else (energy[0], energy[0])
    if edge != "OK" and (energy[0] > need_lo - 5 or energy[-1] < need_hi + 5):
        raise ValueError(
            f"the energy axis {energy[0]:g}-{energy[-1]:g} eV must contain the edges of {classes} "
            f"({need_lo - 5:g}-{need_hi + 5:g} eV)"
        )
    comp = np.zeros((len(classes), len(base)))
    for ci, c in enumerate(classes):
        for sname, w in (p["mixtures"][c]["components"] if c in p["mixtures"] else {c: 1.0}).items():
            comp[ci, base.index(sname)] = w
    if fractions is not None:
        fractions = np.asarray(fractions, dtype=np.float64)
        if fractions.shape != (n, len(base)) or np.any(fractions < 0):
            raise ValueError(f"fractions must be a non-negative ({n}, {len(base)}) array for {base}")
        labels = np.abs(fractions[:, None, :] - comp[None]).sum(-1).argmin(1)
    lab = rng.integers(0, len(classes), n) if labels is None else np.asarray(labels, dtype=int)
    if lab.shape != (n,) or lab.min() < 0 or lab.max() >= len(classes):
        raise ValueError("labels must be n class indices")
    sh = per_spectrum(rng, shift, n)
    # extended grid below/above for the convolution
    ext = int(30 / dispersion)
    n_ext = size + 2 * ext
    grid = energy_offset + dispersion * (np.arange(n_ext) - ext)
    derr = per_spectrum(rng, dispersion_error, n)
    if np.any(np.abs(derr) >= 0.5):
        raise ValueError("dispersion_error must be within (-0.5, 0.5)")
    # true energy of each nominal channel (a scale error of the spectrometer)
    e = energy_offset + (grid[None, :] - energy_offset) * (1.0 + derr[:, None]) if np.any(derr) else \
        np.broadcast_to(grid, (n, n_ext))
    cmul = per_spectrum(rng, continuum, n)
    if np.any(cmul < 0):
        raise ValueError("continuum must be >= 0")
    single = np.zeros((n, n_ext))
    if fractions is None:
        fractions = comp[lab]
    for bi, sname in enumerate(base):
        rows = np.flatnonzero(fractions[:, bi] > 0)
        if rows.size:
            single[rows] += fractions[rows, bi, None] * _species_single(
                rng, p["species"][sname], e[rows], rows.size, edge, sh[rows], sname, parameter_spread, o_k_amplitude,
                cmul[rows], tuple(float(v) for v in multiplet_jitter), ratio_observable, _l2_factor)
    peak = single[:, ext : ext + size].max(axis=1, keepdims=True)
    # The background is added *after* the convolution: a measured pre-edge background already
    # contains plural scattering, and convolving a power law known on a finite grid only (30 eV
    # below the window) bent the first ~30 eV of the axis (slope +3 instead of -r at t/lambda = 1).
    x_win = (energy - energy[0]) / max(energy[-1] - energy[0], dispersion)
    if background == "powerlaw":
        r = rng.uniform(2, 4, (n, 1))
        jr = np.exp(rng.uniform(np.log(0.2), np.log(3.0), (n, 1)))
        bg = peak / jr * (np.maximum(energy, 1) / energy[0]) ** (-r)
    elif background == "residual":
        bg = peak * (rng.uniform(-0.15, 0.15, (n, 1)) * x_win + rng.uniform(-0.1, 0.1, (n, 1)) * (x_win - x_win**2))
    elif background is not None:
        raise ValueError("background must be 'residual', 'powerlaw' or None")
    else:
        bg = 0.0
    # resolution + plural scattering of the edge (zero-padded FFT convolution; the kernel has unit area)
    n_pad = 1 << int(np.ceil(np.log2(n_ext + int(60 / dispersion))))
    res = per_spectrum(rng, resolution, n)
    tl = per_spectrum(rng, t_lambda, n)
    kern = low_loss_kernel(dispersion, n, res, tl, rng.uniform(15, 25, n), rng.uniform(4, 10, n), n_pad)
    conv = np.fft.irfft(np.fft.rfft(single, n=n_pad, axis=1) * kern, n=n_pad, axis=1)[:, ext : ext + size] + bg
    mx = np.abs(conv).max(axis=1, keepdims=True)
    if isinstance(counts, np.ndarray):
        top = np.broadcast_to(counts.astype(np.float64), (n,)).copy()[:, None]
        if np.any(top < 0):
            raise ValueError("counts must be >= 0")
    else:
        lo_c, hi_c = (counts, counts) if np.isscalar(counts) else counts
        if lo_c <= 0:
            raise ValueError("counts must be positive")
        top = np.exp(rng.uniform(np.log(lo_c), np.log(hi_c), (n, 1)))
    lam = conv / np.where(mx > 0, mx, 1.0) * top
    rn = rng.uniform(*read_noise, (n, 1)) if not np.isscalar(read_noise) else np.full((n, 1), float(read_noise))
    if noise:
        # a residual background can be negative: Poisson on the positive part, sign kept
        spectra = np.sign(lam) * rng.poisson(np.abs(lam)) + rn * rng.standard_normal(lam.shape)
    else:
        spectra = lam
    params = dict(shift=sh, resolution=res, t_lambda=tl, counts=top[:, 0], read_noise=rn[:, 0], continuum=cmul,
                  dispersion_error=derr)
    return OxidationBatch(spectra=spectra.astype(np.float32), energy=energy, classes=classes, labels=lab,
                          fractions=fractions, base_species=base, params=params)
