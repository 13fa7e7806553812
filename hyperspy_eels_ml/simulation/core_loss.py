"""Vectorised core-loss spectrum generator with ground truth.

:func:`core_loss` draws a batch of spectra of given (or random) elements:

1. single scattering: sum over elements of ``amount * dsigma/dE`` (dipole
   cross sections of :mod:`~hyperspy_eels_ml.simulation.edges`, white lines
   included), each element with a chemical shift, every edge with random
   generic fine structure (a weighted sum of lifetime-broadened Gaussians in
   the first 40 eV, amplitude ratio <= 10, integral preserved, as in Annys,
   Jannis & Verbeeck, Sci. Rep. 2023);
2. power-law background ``A (E/E_start)^-r`` (r 2-4), A set by the jump ratio
   of the strongest edge in the window;
3. plural scattering and resolution: convolution with a random low-loss
   spectrum (zero-loss peak + Drude plasmon, Poisson multiple scattering with
   t/lambda 0.05-1.5), in Fourier space with zero padding;
4. a global instrument shift, scaling to counts (brightest channel), Poisson
   noise, detector gain and Gaussian read noise.

Labels per element: ``present`` (amount > 0) and ``visible`` (an edge inside
the window whose signal over 20 channels exceeds ``visibility_snr`` times the
noise of the counts there), so models are never trained on invisible edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .edges import _dipole_factor, edge_table, white_line_dfde

__all__ = ["CoreLossBatch", "core_loss", "low_loss_kernel"]


@dataclass
class CoreLossBatch:
    """Spectra and the ground truth that produced them."""

    spectra: np.ndarray  #: (n, n_channels) float32 counts
    energy: np.ndarray  #: (n_channels,) eV (nominal axis; the truth shift is in ``params``)
    elements: list  #: element symbols, columns of ``present``/``visible``/``amounts``
    present: np.ndarray  #: (n, n_elements) bool
    visible: np.ndarray  #: (n, n_elements) bool
    amounts: np.ndarray  #: (n, n_elements) relative areal densities
    params: dict = field(default_factory=dict)  #: per-spectrum parameters (arrays of length n)


def _u(rng, n, lo_hi):
    """Scalar -> constant, numpy array -> per-spectrum values, (low, high) -> uniform draw."""
    if isinstance(lo_hi, np.ndarray):
        return np.broadcast_to(lo_hi.astype(np.float64), (n,)).copy()
    lo, hi = (lo_hi, lo_hi) if np.isscalar(lo_hi) else lo_hi
    return rng.uniform(lo, hi, n)


def _logu(rng, n, lo_hi):
    if isinstance(lo_hi, np.ndarray):
        return np.broadcast_to(lo_hi.astype(np.float64), (n,)).copy()
    lo, hi = (lo_hi, lo_hi) if np.isscalar(lo_hi) else lo_hi
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def low_loss_kernel(energy_step, n, fwhm_zlp, t_lambda, plasmon_energy, plasmon_width, size):
    """Fourier transform of the normalised low-loss spectrum (ZLP + plural plasmons).

    Returns ``(n, size // 2 + 1)`` complex arrays for ``numpy.fft.rfft`` of length
    ``size``. ``exp(t/lambda (P(f) - 1))`` sums the Poisson series of plasmon
    orders; the single plasmon is a Drude-like Lorentzian (unit area).
    """
    f = np.fft.rfftfreq(size, d=energy_step)[None, :]  # cycles per eV
    sig = (fwhm_zlp / 2.3548)[:, None]
    zlp = np.exp(-2 * (np.pi * f * sig) ** 2)
    ep = plasmon_energy[:, None]
    gw = plasmon_width[:, None] / 2
    # FT of a Lorentzian at ep with HWHM gw: exp(-2 pi i f ep) exp(-2 pi gw |f|)
    p1 = np.exp(-2j * np.pi * f * ep) * np.exp(-2 * np.pi * gw * np.abs(f))
    return zlp * np.exp(t_lambda[:, None] * (p1 - 1.0))


def core_loss(
    n,
    elements,
    *,
    energy_offset=400.0,
    dispersion=0.5,
    size=1024,
    amounts=None,
    E0=(60.0, 300.0),
    beta=(5.0, 60.0),
    alpha=(0.0, 30.0),
    background_exponent=(2.0, 4.0),
    jump_ratio=(0.2, 1.5),
    t_lambda=(0.05, 1.5),
    plasmon_energy=(12.0, 30.0),
    plasmon_width=(3.0, 12.0),
    zlp_fwhm=(0.3, 2.0),
    instrument_shift=(-5.0, 5.0),
    chemical_shift=(-2.0, 2.0),
    fine_structure=True,
    counts=(1e2, 1e5),
    gain=(0.8, 1.25),
    read_noise=(0.0, 3.0),
    noise=True,
    visibility_snr=5.0,
    rng=None,
):
    """Simulate ``n`` core-loss spectra of the given elements.

    Parameters
    ----------
    n : int
        Number of spectra.
    elements : sequence of str
        Element symbols (Be-Bi). Columns of the labels follow this order.
    energy_offset, dispersion, size : float, float, int
        Energy axis (eV of the first channel, eV per channel, channels).
    amounts : array_like, optional
        ``(n, len(elements))`` or ``(len(elements),)`` relative areal densities
        (0 = absent). Default: each element present with probability 0.7
        (at least one), amounts log-uniform over two decades.
    E0, beta, alpha : float or (low, high)
        Beam energy (kV, 60-300), collection and convergence semi-angles (mrad).
    background_exponent, jump_ratio, t_lambda, plasmon_energy, plasmon_width, zlp_fwhm
        Ranges (uniform; jump ratio ``(J - 1)`` log-uniform) or fixed values. Every
        range parameter also accepts a numpy array of per-spectrum values.
    instrument_shift, chemical_shift : float or (low, high)
        Global and per-element energy shifts in eV.
    fine_structure : bool
        Add random generic fine structure to every edge.
    counts : float or (low, high)
        Counts in the brightest channel (log-uniform).
    gain, read_noise : float or (low, high)
        Detector gain and Gaussian read noise (counts).
    noise : bool
        Apply Poisson noise, gain and read noise.
    visibility_snr : float
        Signal-to-noise ratio over 20 channels above which an element counts
        as visible.
    rng : numpy.random.Generator or int, optional

    Returns
    -------
    CoreLossBatch
    """
    rng = np.random.default_rng(rng)
    t = edge_table()
    elements = list(elements)
    k = len(elements)
    if k == 0:
        raise ValueError("elements is empty")
    for el in elements:
        t.edges_of(el)  # raises for unknown elements
    if size < 16 or dispersion <= 0:
        raise ValueError("size must be >= 16 and dispersion > 0")
    energy = energy_offset + dispersion * np.arange(size)
    if energy[0] <= 0:
        raise ValueError("core_loss needs energy_offset > 0 (a core-loss window)")
    if energy[-1] > t.onset.max() + 3300 or energy[0] < 20:
        raise ValueError(f"energy axis {energy[0]:.0f}-{energy[-1]:.0f} eV is outside the edge table (20-6000 eV)")
    for name, val in (("counts", counts), ("gain", gain)):
        if np.any(np.asarray(val) <= 0):
            raise ValueError(f"{name} must be positive")
    if np.any(np.asarray(read_noise) < 0):
        raise ValueError("read_noise must be >= 0")

    # amounts / presence
    if amounts is None:
        pres = rng.random((n, k)) < 0.7
        pres[np.arange(n), rng.integers(0, k, n)] = True
        amt = np.exp(rng.uniform(np.log(0.01), 0.0, (n, k))) * pres
    else:
        amt = np.broadcast_to(np.asarray(amounts, dtype=np.float64), (n, k)).copy()
        if np.any(amt < 0):
            raise ValueError("amounts must be >= 0")
    present = amt > 0

    e0 = _u(rng, n, E0)
    if np.any((e0 < 20) | (e0 > 1000)):
        raise ValueError("E0 must be in kV (e.g. 60-300)")
    bet = _u(rng, n, beta)
    alp = _u(rng, n, alpha)
    shift = _u(rng, n, instrument_shift)
    if isinstance(chemical_shift, np.ndarray):
        chem = np.broadcast_to(chemical_shift.astype(np.float64), (n, k)).copy()
    else:
        chem = rng.uniform(*(chemical_shift if not np.isscalar(chemical_shift) else (chemical_shift,) * 2), (n, k))

    # extended grid below the window for plural scattering (zeroed further below)
    ext = int(min(100.0, max(energy[0] - 10.0, 0.0)) / dispersion)
    ext_hi = int(60.0 / dispersion)  # above the window too: the plasmon line shape has tails both ways
    n_ext = size + ext + ext_hi
    n_pad = 1 << int(np.ceil(np.log2(n_ext + int(100 / dispersion))))
    grid = energy_offset + dispersion * (np.arange(n_ext) - ext)  # true energies of channels

    ssd = np.zeros((n, n_ext))
    s20 = np.zeros((n, k))  # per element: single-scattering signal in 20 channels above its first edge
    edge_at = np.full((n, k), -1, dtype=np.int64)
    factor = _dipole_factor(grid[None, :], e0[:, None], bet[:, None], alp[:, None])  # (n, E)
    w_fs = max(int(round(40.0 / dispersion)), 2)
    for j, el in enumerate(elements):
        # atomic + white-line df/dE of all the element's edges on a fine absolute grid, then one
        # interpolation per element onto the shifted channel energies
        e_shift = shift + chem[:, j]
        lo = grid[0] - e_shift.max() - 1.0
        hi = grid[-1] - e_shift.min() + 1.0
        q = max(1, int(np.ceil(dispersion / 0.1)))  # fine grid: dispersion / q <= 0.1 eV
        fstep = dispersion / q
        fine = lo + fstep * np.arange(int((hi - lo) / fstep) + 2)
        atomic = np.zeros_like(fine)
        wl = np.zeros_like(fine)
        onsets = []
        for i in t.edges_of(el):
            atomic += t.dfde_on(i, fine)
            wl += white_line_dfde(el, t.subshell[i], fine)
            onsets.append(t.onset[i])
        # channel energies minus the shift fall on the fine grid at c + q*j: the interpolation
        # weight is one number per spectrum, the indices a strided gather
        c = (grid[0] - e_shift - lo) / fstep
        i0 = np.floor(c).astype(np.int64)
        w = (c - i0)[:, None]
        idx = i0[:, None] + q * np.arange(grid.size)[None, :]
        np.clip(idx, 0, fine.size - 2, out=idx)
        sig_el = atomic[idx] * (1.0 - w) + atomic[idx + 1] * w
        if wl.any():
            sig_el += rng.uniform(0.3, 2.0, (n, 1)) * (wl[idx] * (1.0 - w) + wl[idx + 1] * w)
        for onset in sorted(onsets):
            ch0 = np.round((onset + e_shift - grid[0]) / dispersion).astype(np.int64)  # extended-grid index
            ok = (ch0 >= 0) & (ch0 < n_ext - 2)
            if fine_structure and ok.any():
                _fine_structure_local(sig_el, ch0, ok, w_fs, dispersion, rng)
            inside = (ch0 - ext >= 0) & (ch0 - ext < size - 20)
            take = inside & (edge_at[:, j] < 0)
            edge_at[take, j] = ch0[take] - ext
        contrib = amt[:, j : j + 1] * sig_el * factor
        ssd += contrib
        has = edge_at[:, j] >= 0
        if has.any():
            cols = np.clip(edge_at[has, j][:, None] + ext + np.arange(20)[None, :], 0, n_ext - 1)
            s20[has, j] = np.take_along_axis(contrib[has], cols, 1).sum(1)
    # background set by the jump ratio of the strongest edge in the window
    win = ssd[:, ext : ext + size]
    jr = 1.0 + _logu(rng, n, jump_ratio)
    r = _u(rng, n, background_exponent)
    ref_ch = np.argmax(np.diff(win, axis=1, prepend=win[:, :1]), axis=1)  # steepest rise = strongest onset
    h = np.take_along_axis(win, np.minimum(ref_ch + int(5 / dispersion), size - 1)[:, None], 1)[:, 0]
    e_ref = energy[ref_ch]
    A = h / (jr - 1.0)
    bg = A[:, None] * np.exp(-r[:, None] * (np.log(np.maximum(grid, 1.0))[None, :] - np.log(e_ref)[:, None]))
    bg[:, : max(ext - int(100 / dispersion), 0)] = 0.0
    total = ssd + bg

    # plural scattering + resolution (zero-padded FFT convolution)
    tl = _u(rng, n, t_lambda)
    kern = low_loss_kernel(dispersion, n, _u(rng, n, zlp_fwhm), tl, _u(rng, n, plasmon_energy),
                           _u(rng, n, plasmon_width), n_pad)
    conv = np.fft.irfft(np.fft.rfft(total, n=n_pad, axis=1) * kern, n=n_pad, axis=1)[:, ext : ext + size]
    conv = np.maximum(conv, 0.0)

    # scale to counts, noise
    peak = _logu(rng, n, counts)
    scale = peak / conv.max(axis=1)
    lam = conv * scale[:, None]
    g = _u(rng, n, gain)
    rn = _u(rng, n, read_noise)
    if noise:
        spectra = g[:, None] * rng.poisson(lam) + rn[:, None] * rng.standard_normal(lam.shape)
    else:
        spectra = g[:, None] * lam

    # visibility: the element's unscattered signal (fraction exp(-t/lambda)) in the 20 channels above its
    # first in-window edge, against the Poisson + read noise of all counts there
    visible = np.zeros((n, k), dtype=bool)
    for j in range(k):
        idx = np.flatnonzero(present[:, j] & (edge_at[:, j] >= 0))
        if idx.size == 0:
            continue
        cols = np.clip(edge_at[idx, j][:, None] + np.arange(20)[None, :], 0, size - 1)
        s_counts = s20[idx, j] * scale[idx] * np.exp(-tl[idx])
        tot_counts = np.take_along_axis(lam[idx], cols, 1).sum(1)
        snr = s_counts / np.sqrt(np.maximum(tot_counts, 1.0) + (rn[idx] / g[idx]) ** 2 * 20)
        visible[idx, j] = snr >= visibility_snr
    params = dict(E0=e0, beta=bet, alpha=alp, instrument_shift=shift, chemical_shift=chem, t_lambda=tl,
                  background_exponent=r, jump_ratio=jr, counts=peak, gain=g, read_noise=rn)
    return CoreLossBatch(spectra=spectra.astype(np.float32), energy=energy, elements=elements,
                         present=present, visible=visible, amounts=amt, params=params)


def _fine_structure_local(sig, ch0, ok, w, dispersion, rng):
    """Random generic fine structure in the ``w`` channels above each spectrum's onset (in place).

    Modulation ``m = 1 + sum_i a_i g_i`` with 1-4 Gaussians (widths 1-6 eV growing
    with energy above the onset: lifetime broadening), clipped so that
    max(m)/min(m) <= 10, then scaled so the integral over the region is preserved.
    """
    idx = np.flatnonzero(ok)
    n = idx.size
    cols = np.clip(ch0[idx, None] + np.arange(w)[None, :], 0, sig.shape[1] - 1)
    seg = np.take_along_axis(sig[idx], cols, 1)
    rel = np.arange(w)[None, :] * dispersion
    m = np.ones((n, w))
    n_peaks = rng.integers(1, 5, n)
    for p in range(4):
        active = (n_peaks > p)[:, None]
        pos = rng.uniform(0, 35, (n, 1))
        width = 1.0 + pos / 35 * 5 * rng.uniform(0.3, 1.0, (n, 1))
        amp = rng.uniform(-0.6, 1.5, (n, 1)) * active
        m += amp * np.exp(-0.5 * ((rel - pos) / width) ** 2)
    m = np.clip(m, 0.1, None)
    m = np.minimum(m, 10 * m.min(axis=1, keepdims=True))
    num = seg.sum(1, keepdims=True)
    den = (seg * m).sum(1, keepdims=True)
    m *= np.where(den > 0, num / np.maximum(den, 1e-300), 1.0)
    rows = sig[idx]
    np.put_along_axis(rows, cols, seg * m, 1)
    sig[idx] = rows
