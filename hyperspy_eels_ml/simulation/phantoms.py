"""Spectrum-image phantoms with ground truth.

:func:`multiphase_core_loss_si` builds a core-loss SI of several oxide phases
with a thickness gradient, Poisson noise and a vacuum region. It is generated
row by row from ``(seed, row index)``, so the eager and lazy versions are
identical and a 1000x1000 lazy phantom costs nothing until computed.

Edge shapes are a deliberately simple parametric model (onset smoothed by the
instrument resolution, power-law decay, Gaussian white lines for L2,3 edges of
3d metals) on a power-law background; onsets follow exspy's element database.
It is meant to test segmentation, not to teach a model fine structure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dask.array as da
import numpy as np
from scipy.special import erf

__all__ = ["PHASES", "PhantomTruth", "multiphase_core_loss_si", "ws2_flake_low_loss_si", "LowLossPhantomTruth",
           "superlattice_core_loss_si", "SuperlatticeTruth", "nanocube_core_shell_si", "NanocubeTruth",
           "ferrite_core_shell_si", "FerriteTruth", "thickness_bands_low_loss_si"]

# Phase library: edges as (onset eV, relative strength, decay exponent, white lines
# [(position offset from onset eV, relative height, FWHM eV), ...]).
# Onsets: exspy.material.elements (Ti L3 456, O K 532, Mn L3 640, Fe L3 708, Ni L3 855,
# La M5 832, Ca L3 346 is outside the default window).
_O_K = (532.0, 1.0, 2.5, [(0.5, 0.35, 1.5), (9.0, 0.25, 4.0)])
PHASES = {
    "TiO2": [(456.0, 0.55, 3.0, [(1.5, 1.2, 1.2), (3.5, 1.4, 1.5), (7.0, 0.9, 1.5), (9.0, 1.0, 1.8)]), _O_K],
    "Fe2O3": [_O_K, (708.0, 0.9, 3.0, [(1.5, 2.5, 2.0), (14.6, 0.9, 2.5)])],
    "MnO": [_O_K, (640.0, 0.8, 3.0, [(0.5, 3.0, 1.5), (12.0, 0.8, 2.0)])],
    "NiO": [_O_K, (853.0, 0.7, 3.0, [(0.5, 2.0, 1.2), (17.5, 0.7, 1.5)])],
    "LaMnO3": [_O_K, (640.0, 0.6, 3.0, [(2.0, 2.0, 3.0), (11.0, 0.9, 3.0)]), (832.0, 0.8, 3.0, [(0.5, 2.5, 1.5), (17.0, 3.0, 1.5)])],
}


@dataclass
class PhantomTruth:
    """Ground truth of a phantom (navigation-shaped arrays, array order)."""

    phase: np.ndarray  #: phase index per pixel, -1 in vacuum
    thickness: np.ndarray  #: relative thickness (intensity scale), 0 in vacuum
    vacuum: np.ndarray  #: bool, True in vacuum
    phase_names: list = field(default_factory=list)  #: names of the phases, index = phase value
    spectra: np.ndarray | None = None  #: noise-free reference spectrum per phase (unit thickness)


def _phase_spectrum(edges, energy, resolution):
    spec = np.zeros_like(energy)
    sig = resolution / 2.3548
    for onset, strength, decay, wls in edges:
        step = 0.5 * (1 + erf((energy - onset) / (np.sqrt(2) * max(sig, 1e-3) + 0.5)))
        body = np.where(energy > onset - 5, (np.maximum(energy, onset) / onset) ** (-decay), 0.0)
        s = strength * step * body
        for dpos, height, fwhm in wls:
            w = np.hypot(fwhm, resolution) / 2.3548
            s = s + strength * height * np.exp(-0.5 * ((energy - onset - dpos) / w) ** 2)
        spec += s
    return spec


def _layout(ny, nx, n_phases, vacuum_fraction):
    """Phase map: vertical bands with a round particle of the last phase, vacuum on top."""
    yy, xx = np.mgrid[0:ny, 0:nx]
    u = (xx + 0.5) / nx
    v = (yy + 0.5) / max(ny, 1)
    n_band = max(1, n_phases - 1) if n_phases > 2 else n_phases
    phase = np.minimum((u * n_band).astype(int), n_band - 1)
    if n_phases > 2:
        r = np.hypot((u - 0.5) * nx, (v - 0.6) * ny) / max(min(nx, ny), 1)
        phase[r < 0.2] = n_phases - 1
    vacuum = v < vacuum_fraction
    thickness = 1.0 + 0.6 * u  # 60 % thickness gradient across the field of view
    phase = np.where(vacuum, -1, phase)
    thickness = np.where(vacuum, 0.0, thickness)
    return phase, thickness, vacuum


def multiphase_core_loss_si(
    shape=(64, 64),
    n_channels=512,
    energy_range=(400.0, 912.0),
    phases=("TiO2", "Fe2O3", "MnO"),
    counts=2000.0,
    vacuum_fraction=0.1,
    resolution=1.0,
    background_ratio=4.0,
    interface_width=0.0,
    lazy=False,
    chunk_rows=None,
    seed=0,
    dtype=np.float32,
):
    """Core-loss spectrum image of several phases, with ground truth.

    Parameters
    ----------
    shape : tuple of int
        Navigation shape in array order ``(ny, nx)``; ``(nx,)`` gives a line scan.
    n_channels : int
        Number of energy channels spanning ``energy_range``.
    energy_range : tuple of float
        First and last-plus-one channel energy in eV.
    phases : sequence of str
        Names from ``PHASES``. With three or more phases the last one is a
        round particle, the others vertical bands.
    counts : float
        Mean counts per channel of the edge signal at unit thickness.
    vacuum_fraction : float
        Fraction of rows (from the top) that are vacuum (only dark counts).
    resolution : float
        Instrument resolution FWHM in eV.
    background_ratio : float
        Pre-edge background height relative to the mean edge signal.
    interface_width : float
        Gaussian blur (standard deviation, in pixels) of the phase fractions:
        pixels near an interface contain a mixture of both phases (beam
        broadening, inclined interfaces). 0 gives sharp interfaces. The truth
        ``phase`` is then the majority phase.
    lazy : bool
        Return a ``LazyEELSSpectrum`` (nothing generated until computed).
    chunk_rows : int, optional
        Rows per dask chunk (default: about 32 MB per chunk).
    seed : int
        Seed; the data are a deterministic function of ``seed`` and the row index.

    Returns
    -------
    signal : exspy.signals.EELSSpectrum or LazyEELSSpectrum
    truth : PhantomTruth
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (1, 2) or min(shape) < 1:
        raise ValueError(f"shape must be (nx,) or (ny, nx) with positive sizes, got {shape}")
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        raise ValueError(f"Unknown phase(s) {unknown}; choose from {sorted(PHASES)}")
    if counts <= 0:
        raise ValueError("counts must be positive")
    ny, nx = (1, shape[0]) if len(shape) == 1 else shape
    e0, e1 = map(float, energy_range)
    dispersion = (e1 - e0) / n_channels
    energy = e0 + dispersion * np.arange(n_channels)
    refs = np.stack([_phase_spectrum(PHASES[p], energy, resolution) for p in phases])
    empty = [p for p, r in zip(phases, refs) if not r.max() > 0]
    if empty:
        raise ValueError(f"energy_range {e0:g}-{e1:g} eV contains no edge of phase(s) {empty}: choose a range "
                         "that covers their edges (onsets: " + ", ".join(
                             f"{p} {', '.join(f'{e[0]:g}' for e in PHASES[p])} eV" for p in empty) + ")")
    refs /= refs.mean(axis=1, keepdims=True)
    background = background_ratio * (energy / energy[0]) ** -3.0
    phase, thickness, vacuum = _layout(ny, nx, len(phases), vacuum_fraction)
    phase_full = _layout(ny, nx, len(phases), 0.0)[0]  # layout without vacuum (no vacuum "phase" to blur)
    fractions = (phase_full[..., None] == np.arange(len(phases))).astype(np.float32)
    if interface_width > 0:
        from scipy.ndimage import gaussian_filter

        fractions = gaussian_filter(fractions, sigma=(interface_width, interface_width, 0), mode="nearest")
        fractions /= fractions.sum(axis=-1, keepdims=True)
        phase = np.where(vacuum, -1, np.argmax(fractions, axis=-1))
    dark = 2.0  # mean dark/read counts per channel

    def make_rows(rows):
        out = np.empty((len(rows), nx, n_channels), dtype=dtype)
        for i, r in enumerate(rows):
            rng = np.random.default_rng([int(seed), int(r)])
            ph = phase[r]
            t = thickness[r][:, None]
            # plural scattering raises the background relative to the edges with thickness
            bg = background[None, :] * (1.0 + 0.5 * (t - 1.0))
            lam = counts * t * (bg + fractions[r] @ refs)
            lam[ph < 0] = 0.0
            out[i] = rng.poisson(lam + dark)
        return out

    data = _row_generated_si(ny, nx, 1, n_channels, lambda r: make_rows(r)[:, :, None], chunk_rows, dtype)[..., 0, :]
    if len(shape) == 1:
        data = data[0]
    if not lazy:
        data = data.compute()
    s = _to_eels(data, e0, dispersion, "Multiphase core-loss phantom")
    s.metadata.set_item("Sample.elements", sorted({e for p in phases for e in _elements_of(p)}))
    s.set_microscope_parameters(beam_energy=200.0, convergence_angle=10.0, collection_angle=30.0)
    if len(shape) == 1:
        phase, thickness, vacuum = phase[0], thickness[0], vacuum[0]
    truth = PhantomTruth(phase=phase, thickness=thickness, vacuum=vacuum, phase_names=list(phases), spectra=refs)
    return s, truth


def _elements_of(phase_name):
    import re

    return re.findall(r"[A-Z][a-z]?", phase_name)


# ----------------------------------------------------------------------------
# shared machinery: row-by-row generation from (seed, row), lazy or eager
# ----------------------------------------------------------------------------
def _row_generated_si(ny, nx, n_out, n_channels, make_rows, chunk_rows, dtype=np.float32):
    """Dask array (ny, nx, n_out, n_channels) whose rows come from ``make_rows(row_indices)``."""
    if chunk_rows is None:
        chunk_rows = max(1, (32 * 2**20) // (nx * n_out * n_channels * np.dtype(dtype).itemsize))
    rows = da.arange(ny, chunks=min(chunk_rows, ny))
    data = da.map_blocks(
        lambda r: make_rows(r.ravel()).astype(dtype), rows, new_axis=[1, 2, 3],
        chunks=(rows.chunks[0], (nx,), (n_out,), (n_channels,)), dtype=dtype,
        meta=np.empty((0, 0, 0, 0), dtype=dtype),
    )
    return data


def _to_eels(data, offset, scale, title, nav_scale=1.0):
    """EELSSpectrum (lazy for dask data) with a calibrated energy axis and nm navigation axes."""
    from exspy.signals import EELSSpectrum, LazyEELSSpectrum

    s = LazyEELSSpectrum(data) if isinstance(data, da.Array) else EELSSpectrum(np.ascontiguousarray(data))
    ax = s.axes_manager.signal_axes[0]
    ax.name, ax.units, ax.scale, ax.offset = "Energy loss", "eV", scale, offset
    for a, name in zip(s.axes_manager.navigation_axes, ("x", "y")):
        a.name, a.units, a.scale = name, "nm", nav_scale
    s.metadata.General.title = title
    return s


@dataclass
class LowLossPhantomTruth:
    """Ground truth of :func:`ws2_flake_low_loss_si` (maps in array order)."""

    t_lambda: np.ndarray  #: relative thickness, 0 in vacuum
    vacuum: np.ndarray  #: bool
    band_gap: np.ndarray  #: eV (inf in vacuum)
    zlp: object = None  #: EELSSpectrum (lazy if the SI is) of the expected zero-loss counts
    inelastic: object = None  #: EELSSpectrum of the expected inelastic counts


def ws2_flake_low_loss_si(
    shape=(64, 64),
    energy_offset=-4.054,
    dispersion=0.025,
    n_channels=1982,
    band_gap=1.6,
    gap_exponent=0.5,
    zlp_fwhm=0.12,
    counts=3e6,
    lazy=False,
    chunk_rows=None,
    seed=0,
):
    """Low-loss SI of a WS2-like flake on vacuum, with thickness, band-gap and ZLP truth.

    The flake is an ellipse of terraces (1-6 layers: t/lambda 0.1-0.9 in
    steps) surrounded by vacuum, in the style of the WS2 nanoflower spectra of
    Roest et al., Ultramicroscopy 222 (2021) 113202 (band gap about 1.6 eV,
    25 meV/channel). One microscope per SI: ZLP width and tails, beam energy and
    collection angle are fixed; counts vary by +-10 %.

    Parameters
    ----------
    shape : tuple of int
        ``(ny, nx)`` or ``(nx,)``.
    energy_offset, dispersion, n_channels : float, float, int
        Energy axis (default: that of the shared WS2 spectra).
    band_gap, gap_exponent : float
        Gap (eV) and onset exponent of the flake (direct 0.5 / indirect 1.5).
    zlp_fwhm : float
        ZLP FWHM (eV).
    counts : float
        Mean total counts per spectrum.
    lazy : bool
    chunk_rows : int, optional
    seed : int

    Returns
    -------
    signal : exspy.signals.EELSSpectrum or LazyEELSSpectrum
    truth : LowLossPhantomTruth
    """
    from .low_loss import low_loss

    shape = tuple(int(s) for s in shape)
    ny, nx = (1, shape[0]) if len(shape) == 1 else shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    u, v = (xx + 0.5) / nx - 0.5, (yy + 0.5) / max(ny, 1) - 0.5
    r = np.hypot(u / 0.42, v / 0.3) if ny > 1 else np.abs(u / 0.42)
    layers = np.clip(np.ceil((1.0 - r) * 6), 0, 6)  # terraces: thicker towards the centre
    t_lambda = np.where(r < 1.0, 0.1 + 0.8 * (layers - 1) / 5, 0.0)
    vacuum = r >= 1.0
    gap = np.where(vacuum, np.inf, band_gap)

    def make_rows(rows):
        out = np.empty((len(rows), nx, 3, n_channels), dtype=np.float32)
        for i, row in enumerate(rows):
            rng = np.random.default_rng([int(seed), int(row)])
            b = low_loss(nx, energy_offset=energy_offset, dispersion=dispersion, size=n_channels,
                         zlp_fwhm=zlp_fwhm, zlp_asymmetry=0.15, zlp_tail=5e-3, zlp_tail_width=1.5,
                         band_gap=np.where(vacuum[row], 5.0, band_gap), gap_exponent=gap_exponent,
                         interband=0.3, interband_decay=8.0, plasmon_energy=22.5, plasmon_width=9.0,
                         surface_plasmon=0.2, t_lambda=t_lambda[row], E0=60.0, beta=10.0,
                         counts=counts * rng.uniform(0.9, 1.1, nx), rng=rng)
            out[i, :, 0], out[i, :, 1], out[i, :, 2] = b.spectra, b.zlp, b.inelastic
        return out

    data = _row_generated_si(ny, nx, 3, n_channels, make_rows, chunk_rows)
    if len(shape) == 1:
        data = data[0]
        t_lambda, vacuum, gap = t_lambda[0], vacuum[0], gap[0]
    if not lazy:
        data = data.compute()
    parts = [data[..., k, :] for k in range(3)]
    sigs = []
    for part, title in zip(parts, ("WS2 flake low-loss phantom", "ZLP truth", "inelastic truth")):
        s = _to_eels(part, energy_offset, dispersion, title)
        s.set_microscope_parameters(beam_energy=60.0, convergence_angle=10.0, collection_angle=10.0)
        sigs.append(s)
    truth = LowLossPhantomTruth(t_lambda=t_lambda, vacuum=vacuum, band_gap=gap, zlp=sigs[1], inelastic=sigs[2])
    return sigs[0], truth


def thickness_bands_low_loss_si(
    shape=(10, 10),
    t_lambda=(0.15, 0.5, 1.0),
    energy_offset=-2.0,
    dispersion=0.025,
    n_channels=881,
    band_gap=1.6,
    counts=6e5,
    lazy=False,
    chunk_rows=None,
    seed=0,
):
    """Low-loss SI in thickness bands: the ZLP-subtraction benchmark of the EELSfitter notes.

    Three bands of t/lambda along x (0.15 / 0.5 / 1.0), a 10 % gradient along y and
    3 % jitter; a Schottky-like ZLP (FWHM 0.30 eV x (1 + 0.05 t/lambda) x (1 +- 2 %),
    loss side 8 % wider, Lorentzian detector tails of 3.5 % +- 10 % of the area, 1.3x
    wider on the loss side than on the gain side, so a mirrored gain side does not
    fit the loss side); an indirect gap (b = 1.5) at ``band_gap``, interband
    transitions and a 22 eV bulk plasmon; ``counts`` +- 3 % per spectrum.

    Returns
    -------
    signal : exspy.signals.EELSSpectrum or LazyEELSSpectrum
    truth : LowLossPhantomTruth
        ``zlp`` and ``inelastic`` (expected counts), t/lambda and band-gap maps.
    """
    from .low_loss import low_loss

    ny, nx = (1, shape[0]) if len(shape) == 1 else tuple(int(s) for s in shape)
    bands = np.asarray(t_lambda, float)
    col_band = np.minimum((np.arange(nx) * len(bands)) // nx, len(bands) - 1)
    base = bands[col_band][None, :] * (1 + 0.1 * (np.arange(ny)[:, None] / max(ny - 1, 1)))
    jitter = np.random.default_rng([int(seed), 99991]).uniform(0.97, 1.03, (ny, nx))
    tl = base * jitter

    def make_rows(rows):
        out = np.empty((len(rows), nx, 3, n_channels), dtype=np.float32)
        for i, row in enumerate(rows):
            rng = np.random.default_rng([int(seed), int(row)])
            t = tl[row]
            fw = 0.30 * (1 + 0.05 * t) * rng.uniform(0.98, 1.02, nx)
            b = low_loss(nx, energy_offset=energy_offset, dispersion=dispersion, size=n_channels, zlp_fwhm=fw,
                         zlp_asymmetry=0.0385, zlp_tail=0.035 * rng.uniform(0.9, 1.1, nx), zlp_tail_width=fw,
                         zlp_tail_asymmetry=1.3, band_gap=band_gap, gap_exponent=1.5, interband=0.4,
                         interband_decay=4.0, plasmon_energy=22.0, plasmon_width=8.0, surface_plasmon=0.3,
                         t_lambda=t, E0=200.0, beta=20.0, counts=counts * rng.uniform(0.97, 1.03, nx), rng=rng)
            out[i, :, 0], out[i, :, 1], out[i, :, 2] = b.spectra, b.zlp, b.inelastic
        return out

    data = _row_generated_si(ny, nx, 3, n_channels, make_rows, chunk_rows)
    if len(shape) == 1:
        data, tl = data[0], tl[0]
    if not lazy:
        data = data.compute()
    sigs = []
    for k, title in enumerate(("Thickness-band low-loss phantom", "ZLP truth", "inelastic truth")):
        sig = _to_eels(data[..., k, :], energy_offset, dispersion, title)
        sig.set_microscope_parameters(beam_energy=200.0, convergence_angle=10.0, collection_angle=20.0)
        sigs.append(sig)
    truth = LowLossPhantomTruth(t_lambda=tl, vacuum=np.zeros(tl.shape, bool), band_gap=np.full(tl.shape, band_gap),
                                zlp=sigs[1], inelastic=sigs[2])
    return sigs[0], truth


@dataclass
class SuperlatticeTruth:
    """Ground truth of :func:`superlattice_core_loss_si`."""

    elements: list  #: element order of ``amounts``
    amounts: np.ndarray  #: (..., n_elements) atoms per unit cell column (relative)
    layer: np.ndarray  #: layer index per pixel (0 LaMnO3, 1 BaTiO3, 2 SrTiO3)
    layer_names: list = field(default_factory=list)
    t_lambda: np.ndarray | None = None


_LAYERS = {"LaMnO3": {"La": 1, "Mn": 1, "O": 3}, "BaTiO3": {"Ba": 1, "Ti": 1, "O": 3},
           "SrTiO3": {"Sr": 1, "Ti": 1, "O": 3}}


def superlattice_core_loss_si(
    shape=(32, 96),
    energy_offset=400.0,
    dispersion=1.0,
    n_channels=1024,
    period=(8, 6, 6),
    interdiffusion=1.0,
    counts=3000.0,
    lazy=False,
    chunk_rows=None,
    seed=0,
):
    """Core-loss SI of a LaMnO3 / BaTiO3 / SrTiO3 superlattice with element maps.

    Layers run along x with thicknesses ``period`` (pixels) and are blurred by
    ``interdiffusion`` (Gaussian sigma, pixels); the thickness grows by 40 %
    along y. Spectra come from :func:`~hyperspy_eels_ml.simulation.core_loss`
    with fixed microscope settings (200 kV, 30 mrad) and per-pixel amounts.

    Returns
    -------
    signal : exspy.signals.EELSSpectrum or LazyEELSSpectrum
    truth : SuperlatticeTruth
    """
    from scipy.ndimage import gaussian_filter1d

    from .core_loss import core_loss

    shape = tuple(int(s) for s in shape)
    ny, nx = (1, shape[0]) if len(shape) == 1 else shape
    names = list(_LAYERS)
    elements = sorted({e for d in _LAYERS.values() for e in d})
    pos = np.arange(nx) % sum(period)
    layer_x = np.searchsorted(np.cumsum(period), pos, side="right")
    frac = np.stack([(layer_x == i).astype(float) for i in range(3)], axis=1)  # (nx, 3)
    if interdiffusion > 0:
        frac = gaussian_filter1d(frac, interdiffusion, axis=0, mode="wrap")
    comp = np.array([[_LAYERS[n].get(e, 0) for e in elements] for n in names], dtype=float)
    amounts_x = frac @ comp  # (nx, n_el)
    t_lambda = 0.3 + 0.4 * (np.arange(ny) + 0.5) / ny  # along y
    layer = np.broadcast_to(np.argmax(frac, axis=1), (ny, nx)).copy()

    def make_rows(rows):
        out = np.empty((len(rows), nx, 1, n_channels), dtype=np.float32)
        for i, row in enumerate(rows):
            rng = np.random.default_rng([int(seed), int(row)])
            b = core_loss(nx, elements, energy_offset=energy_offset, dispersion=dispersion, size=n_channels,
                          amounts=amounts_x, E0=200.0, beta=30.0, background_exponent=3.0, jump_ratio=0.5,
                          t_lambda=np.full(nx, t_lambda[row]), plasmon_energy=25.0, plasmon_width=8.0,
                          zlp_fwhm=1.0, instrument_shift=0.0, chemical_shift=0.0, fine_structure=False,
                          counts=np.full(nx, counts) * (1 + t_lambda[row]), gain=1.0, read_noise=1.0, rng=rng,
                          realism="basic")
            out[i, :, 0] = b.spectra
        return out

    data = _row_generated_si(ny, nx, 1, n_channels, make_rows, chunk_rows)[..., 0, :]
    amounts = np.broadcast_to(amounts_x, (ny, nx, len(elements))).copy()
    if len(shape) == 1:
        data, amounts, layer = data[0], amounts[0], layer[0]
    if not lazy:
        data = data.compute()
    s = _to_eels(data, energy_offset, dispersion, "LaMnO3/BaTiO3/SrTiO3 superlattice phantom", nav_scale=0.4)
    s.metadata.set_item("Sample.elements", elements)
    s.set_microscope_parameters(beam_energy=200.0, convergence_angle=20.0, collection_angle=30.0)
    return s, SuperlatticeTruth(elements=elements, amounts=amounts, layer=layer, layer_names=names,
                                t_lambda=np.broadcast_to(t_lambda[:, None], (ny, nx)).copy() if len(shape) == 2
                                else np.full(nx, t_lambda[0]))


@dataclass
class NanocubeTruth:
    """Ground truth of :func:`nanocube_core_shell_si` (maps in array order)."""

    phase: np.ndarray  #: -1 vacuum, 0 carbon film only, 1 FeO core, 2 Fe3O4 shell
    fe3_fraction: np.ndarray  #: Fe3+ / (Fe2+ + Fe3+); NaN where there is no iron
    t_lambda: np.ndarray  #: total relative thickness (cube + carbon film)
    vacuum: np.ndarray  #: bool
    phase_names: list = field(default_factory=lambda: ["carbon", "FeO", "Fe3O4"])


def nanocube_core_shell_si(
    shape=(48, 64),
    energy_offset=450.0,
    dispersion=0.25,
    n_channels=2048,
    n_cubes=3,
    shell_fraction=0.3,
    counts=2000.0,
    lazy=False,
    chunk_rows=None,
    seed=0,
):
    """Core-loss SI of FeO/Fe3O4 core-shell nanocubes on amorphous carbon, with vacuum.

    Cubes (viewed along [001], so square and of uniform projected thickness)
    have a wustite (Fe2+) core and a magnetite (Fe3O4: 1 Fe2+ : 2 Fe3+) shell
    of ``shell_fraction`` of the half-size; they sit on an amorphous carbon film
    with a hole (vacuum) on the left. Default axis: that of the Fe-oxide SI in
    the shared data (450-962 eV, 0.25 eV/ch). Spectra: O K + Fe L2,3 from
    :func:`~hyperspy_eels_ml.simulation.white_line_spectra` (table parameters,
    one specimen: no per-pixel parameter spread), a power-law background growing
    with the total thickness, plural scattering with the local t/lambda and
    Poisson noise. Generated row by row from ``(seed, row)``.

    Returns
    -------
    signal : exspy.signals.EELSSpectrum or LazyEELSSpectrum
    truth : NanocubeTruth
    """
    from .oxidation import white_line_spectra

    shape = tuple(int(s) for s in shape)
    if len(shape) != 2:
        raise ValueError("shape must be (ny, nx)")
    ny, nx = shape
    layout_rng = np.random.default_rng([int(seed), 10**6])
    yy, xx = np.mgrid[0:ny, 0:nx]
    phase = np.zeros((ny, nx), dtype=int)
    vacuum = xx < 0.15 * nx
    phase[vacuum] = -1
    cube_t = np.zeros((ny, nx))
    x_free = nx - int(0.15 * nx)  # columns right of the vacuum hole
    # the largest half-size that fits (cy in [h, ny - h), cx in [0.15 nx + h, nx - h))
    h_fit = min((ny - 1) // 2, (x_free - 1) // 2)
    if n_cubes > 0 and h_fit < 1:
        raise ValueError(f"shape {shape} is too small for a nanocube: need at least 3 rows and 4 columns "
                         "right of the vacuum hole")
    half_max = min(max(3, min(ny, nx) // 6), h_fit)
    for _ in range(n_cubes):
        for _attempt in range(100):  # place without overlapping another cube
            h = layout_rng.integers(max(1, min(2, half_max), half_max // 2), half_max + 1)
            cy = layout_rng.integers(h, ny - h)
            cx = layout_rng.integers(int(0.15 * nx) + h, nx - h)
            d = np.maximum(np.abs(yy - cy), np.abs(xx - cx))
            inside = d <= h
            if not np.any(phase[np.maximum(np.abs(yy - cy), np.abs(xx - cx)) <= h + 1] > 0):
                break
        phase[inside] = np.where(d[inside] <= h * (1 - shell_fraction), 1, 2)
        cube_t[inside] = 0.2 + 0.6 * h / half_max
    carbon_t = np.where(vacuum, 0.0, 0.15)
    t_lambda = cube_t + carbon_t
    fe3 = np.where(phase == 2, 2 / 3, np.where(phase == 1, 0.0, np.nan))
    energy = energy_offset + dispersion * np.arange(n_channels)
    if energy[0] > 515 or energy[-1] < 735:
        raise ValueError(
            f"the energy axis ({energy[0]:g}-{energy[-1]:g} eV) must cover the O K and Fe L2,3 edges "
            "(515-735 eV)"
        )
    bg_shape = (energy / energy[0]) ** -3.0

    def make_rows(rows):
        out = np.empty((len(rows), nx, 1, n_channels), dtype=np.float32)
        for i, row in enumerate(rows):
            rng = np.random.default_rng([int(seed), int(row)])
            lam = np.zeros((nx, n_channels))
            fe = phase[row] >= 1
            if fe.any():
                f2 = np.where(phase[row][fe] == 1, 1.0, 1 / 3)
                b = white_line_spectra(int(fe.sum()), ["Fe2+", "Fe3+", "Fe3O4"], edge="both",
                                       energy_offset=energy_offset, dispersion=dispersion, size=n_channels,
                                       fractions=np.stack([f2, 1 - f2], axis=1), parameter_spread=0.0,
                                       o_k_amplitude=0.8, shift=0.0, resolution=1.0, t_lambda=t_lambda[row][fe],
                                       background=None, counts=counts * cube_t[row][fe], noise=False, rng=rng)
                lam[fe] = np.maximum(b.spectra, 0.0)
            lam += (1.5 * counts * t_lambda[row])[:, None] * bg_shape[None, :] + 2.0  # background + dark counts
            out[i, :, 0] = rng.poisson(lam)
        return out

    data = _row_generated_si(ny, nx, 1, n_channels, make_rows, chunk_rows)[..., 0, :]
    if not lazy:
        data = data.compute()
    s = _to_eels(data, energy_offset, dispersion, "FeO/Fe3O4 core-shell nanocube phantom")
    s.metadata.set_item("Sample.elements", ["C", "Fe", "O"])
    s.set_microscope_parameters(beam_energy=200.0, convergence_angle=20.0, collection_angle=30.0)
    return s, NanocubeTruth(phase=phase, fe3_fraction=fe3, t_lambda=t_lambda, vacuum=vacuum)


@dataclass
class FerriteTruth:
    """Ground truth of :func:`ferrite_core_shell_si` (maps in array order)."""

    phase: np.ndarray  #: -1 vacuum, 0 carbon film, 1 Fe3O4 core, 2 MnxFe3-xO4 shell
    mn_x: np.ndarray  #: x of MnxFe3-xO4 per pixel (0 in the core), NaN without particle
    mn_fraction: np.ndarray  #: Mn / (Mn + Fe) atoms along the beam, NaN without particle
    t_lambda: np.ndarray  #: total relative thickness
    diameters_nm: list = field(default_factory=list)
    phase_names: list = field(default_factory=lambda: ["carbon", "Fe3O4", "MnxFe3-xO4"])


def ferrite_core_shell_si(
    shape=(64, 64),
    pixel_nm=1.0,
    diameters_nm=(5.0, 60.0),
    n_particles=4,
    shell_nm=(1.0, 6.0),
    x=0.6,
    energy_offset=500.0,
    dispersion=0.25,
    n_channels=1200,
    counts=1500.0,
    lazy=False,
    chunk_rows=None,
    seed=0,
):
    """Core-shell Fe3O4 / MnxFe3-xO4 spherical particles (5-60 nm) on carbon, with a composition map.

    Spheres project to disks whose thickness follows ``sqrt(R^2 - r^2)``; the
    core is magnetite (Fe2+ : Fe3+ = 1 : 2), the shell a manganese ferrite in
    which Mn2+ replaces Fe2+ (Fe2+ = 1 - x, Fe3+ = 2, Mn2+ = x per formula
    unit). Along the beam the Mn/(Mn + Fe) ratio mixes shell and core according
    to the chord lengths, which the truth ``mn_fraction`` gives. Spectra: O K,
    Mn L2,3 and Fe L2,3 from :func:`~hyperspy_eels_ml.simulation.white_line_spectra`
    (table values), power-law background, plural scattering, Poisson noise.

    Returns
    -------
    signal : exspy.signals.EELSSpectrum or LazyEELSSpectrum
    truth : FerriteTruth
    """
    from .oxidation import white_line_spectra

    shape = tuple(int(s) for s in shape)
    if len(shape) != 2:
        raise ValueError("shape must be (ny, nx)")
    if not 0 <= x <= 1:
        raise ValueError("x of MnxFe3-xO4 must be in [0, 1]")
    energy = energy_offset + dispersion * np.arange(n_channels)
    if energy[0] > 515 or energy[-1] < 735:
        raise ValueError(
            f"the energy axis ({energy[0]:g}-{energy[-1]:g} eV) must cover O K, Mn L2,3 and Fe L2,3 (515-735 eV)"
        )
    ny, nx = shape
    lrng = np.random.default_rng([int(seed), 10**6])
    yy, xx = (np.mgrid[0:ny, 0:nx] + 0.5) * pixel_nm
    core_chord = np.zeros(shape)
    shell_chord = np.zeros(shape)
    phase = np.zeros(shape, dtype=int)
    diam = []
    for _ in range(n_particles):
        for _attempt in range(200):
            d = float(np.exp(lrng.uniform(np.log(diameters_nm[0]), np.log(diameters_nm[1]))))
            R = d / 2
            if 2 * R > min(ny, nx) * pixel_nm:
                continue
            cy = lrng.uniform(R, ny * pixel_nm - R)
            cx = lrng.uniform(R, nx * pixel_nm - R)
            r2 = (yy - cy) ** 2 + (xx - cx) ** 2
            inside = r2 <= (R + pixel_nm) ** 2
            if not np.any(phase[inside] > 0):
                break
        else:
            continue
        shell = float(np.clip(lrng.uniform(*shell_nm), 0.5, 0.6 * R))
        Rc = R - shell
        total = 2 * np.sqrt(np.maximum(R**2 - r2, 0))
        core = 2 * np.sqrt(np.maximum(Rc**2 - r2, 0))
        core_chord += core
        shell_chord += total - core
        phase[r2 <= R**2] = np.where(r2[r2 <= R**2] <= Rc**2, 1, 2)
        diam.append(round(d, 1))
    vacuum = np.zeros(shape, bool)
    vacuum[:, : max(1, nx // 10)] = phase[:, : max(1, nx // 10)] == 0  # a hole in the film at the left edge
    phase[vacuum] = -1
    lam_nm = 100.0  # inelastic mean free path (nm) for t/lambda
    t_lambda = (core_chord + shell_chord) / lam_nm + np.where(vacuum, 0.0, 0.1)
    # atoms per formula unit along the beam
    fe2 = core_chord * 1.0 + shell_chord * (1 - x)
    fe3 = core_chord * 2.0 + shell_chord * 2.0
    mn = shell_chord * x
    metal = fe2 + fe3 + mn
    with np.errstate(invalid="ignore", divide="ignore"):
        mn_fraction = np.where(metal > 0, mn / metal, np.nan)
        fe2_frac = np.where(fe2 + fe3 > 0, fe2 / (fe2 + fe3), 0.0)
    mn_x = np.where(phase == 2, x, np.where(phase == 1, 0.0, np.nan))
    bg_shape = (energy / energy[0]) ** -3.0
    scale = counts / max(float(metal.max()), 1e-9)

    def make_rows(rows):
        out = np.empty((len(rows), nx, 1, n_channels), dtype=np.float32)
        for i, row in enumerate(rows):
            rng = np.random.default_rng([int(seed), int(row)])
            lam = np.zeros((nx, n_channels))
            sel = metal[row] > 0
            if sel.any():
                kw = dict(energy_offset=energy_offset, dispersion=dispersion, size=n_channels, shift=0.0,
                          resolution=1.0, t_lambda=t_lambda[row][sel], background=None, noise=False,
                          parameter_spread=0.0, rng=rng)
                f2 = fe2_frac[row][sel]
                fe = white_line_spectra(int(sel.sum()), ["Fe2+", "Fe3+"], edge="both", o_k_amplitude=0.8,
                                        fractions=np.stack([f2, 1 - f2], axis=1),
                                        counts=scale * (fe2[row] + fe3[row])[sel], **kw)
                lam[sel] += np.maximum(fe.spectra, 0.0)
                has_mn = sel & (mn[row] > 0)
                if has_mn.any():
                    kw["t_lambda"] = t_lambda[row][has_mn]
                    m = white_line_spectra(int(has_mn.sum()), ["Mn2+"], counts=scale * 1.2 * mn[row][has_mn],
                                           **kw)
                    lam[has_mn] += np.maximum(m.spectra, 0.0)
            lam += (1.5 * counts * t_lambda[row] / max(t_lambda.max(), 1e-9))[:, None] * bg_shape[None, :] + 2.0
            out[i, :, 0] = rng.poisson(lam)
        return out

    data = _row_generated_si(ny, nx, 1, n_channels, make_rows, chunk_rows)[..., 0, :]
    if not lazy:
        data = data.compute()
    s = _to_eels(data, energy_offset, dispersion, "Fe3O4/MnxFe3-xO4 core-shell particle phantom", nav_scale=pixel_nm)
    s.metadata.set_item("Sample.elements", ["C", "Fe", "Mn", "O"])
    s.set_microscope_parameters(beam_energy=200.0, convergence_angle=20.0, collection_angle=30.0)
    return s, FerriteTruth(phase=phase, mn_x=mn_x, mn_fraction=mn_fraction, t_lambda=t_lambda, diameters_nm=diam)
