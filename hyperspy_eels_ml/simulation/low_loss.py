"""Vectorised low-loss spectrum generator with zero-loss and inelastic ground truth.

Each spectrum is ``J(E) = I0 * Z(E) (*) P(E)`` where ``Z`` is the zero-loss
peak (unit area) and ``P = IFT[exp(t/lambda (S(f) - 1))]`` the Poisson sum of
plural scattering of a single-scattering distribution ``S`` (unit area):

* band-gap onset ``A (E - Eg)^b`` (b = 0.5 direct, 1.5 indirect), rolling off
  into the plasmon, with an optional exciton peak below the gap;
* bulk plasmon: Drude loss function ``E Gamma Ep^2 / ((E^2 - Ep^2)^2 + (E Gamma)^2)``
  times the angular factor ``ln(1 + beta^2 / theta_E^2)``;
* surface plasmon at ``Ep / sqrt(2)`` whose weight falls with thickness;
* vacuum spectra (``t/lambda = 0``): zero-loss peak only.

The zero-loss peak has an asymmetric Gaussian core (FWHM 0.01-2 eV, the longer
side on the energy-loss side), Lorentzian-like detector tails and an
energy-gain side. Returned truth: ``zlp`` (the elastic part, ``I0 exp(-t/lambda) Z``)
and ``inelastic`` (the rest), both noise-free, with ``zlp + inelastic`` the
expectation of ``spectra`` before detector gain and read noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._sampling import per_spectrum
from .edges import beam_constants

__all__ = ["LowLossBatch", "low_loss", "zero_loss_peak"]


@dataclass
class LowLossBatch:
    """Low-loss spectra and their ground truth."""

    spectra: np.ndarray  #: (n, size) float32 recorded counts
    zlp: np.ndarray  #: (n, size) float32 expected zero-loss counts
    inelastic: np.ndarray  #: (n, size) float32 expected inelastic counts
    energy: np.ndarray  #: (size,) eV
    params: dict = field(default_factory=dict)  #: per-spectrum parameters (arrays of length n)


def zero_loss_peak(e, fwhm, asymmetry=0.0, tail=0.0, tail_width=None, tail_asymmetry=1.0):
    """Unit-area zero-loss peak on energies ``e`` (eV), vectorised over spectra.

    Parameters
    ----------
    e : array_like
        Energies, broadcastable against the parameters (use ``[:, None]`` for batches).
    fwhm : float or array
        FWHM of the Gaussian core (eV).
    asymmetry : float or array
        0-1: the loss side (E > 0) is ``(1 + a)`` times wider than the gain side ``(1 - a)``,
        keeping the FWHM.
    tail : float or array
        Area fraction in Lorentzian tails (detector point-spread function).
    tail_width : float or array, optional
        FWHM of the Lorentzian tails (default 2 x fwhm).
    tail_asymmetry : float or array
        Loss-side tail FWHM / gain-side tail FWHM (each half-Lorentzian keeps half
        of the tail area).
    """
    e = np.asarray(e, dtype=np.float64)
    fwhm = np.asarray(fwhm, dtype=np.float64)
    a = np.clip(np.asarray(asymmetry, dtype=np.float64), 0.0, 0.9)
    sl, sr = fwhm * (1 - a) / 2.3548, fwhm * (1 + a) / 2.3548
    s = np.where(e < 0, sl, sr)
    core = np.exp(-0.5 * (e / s) ** 2) * 2.0 / (np.sqrt(2 * np.pi) * (sl + sr))
    gw = (2.0 * fwhm if tail_width is None else np.asarray(tail_width, dtype=np.float64)) / 2
    gw = np.where(e < 0, gw, gw * np.asarray(tail_asymmetry, dtype=np.float64))
    lor = gw / np.pi / (e**2 + gw**2)
    return (1.0 - tail) * core + tail * lor


def _zlp_cdf(e, fwhm, asymmetry, tail, tail_width, tail_asymmetry=1.0):
    """Cumulative distribution of :func:`zero_loss_peak` (for exact channel integrals)."""
    from scipy.special import ndtr

    fwhm = np.asarray(fwhm, dtype=np.float64)
    a = np.clip(np.asarray(asymmetry, dtype=np.float64), 0.0, 0.9)
    sl, sr = fwhm * (1 - a) / 2.3548, fwhm * (1 + a) / 2.3548
    wl, wr = sl / (sl + sr), sr / (sl + sr)
    core = np.where(e < 0, 2 * wl * ndtr(e / sl), wl + 2 * wr * (ndtr(e / sr) - 0.5))
    gw = np.asarray(tail_width, dtype=np.float64) / 2
    gw = np.where(e < 0, gw, gw * np.asarray(tail_asymmetry, dtype=np.float64))
    lor = 0.5 + np.arctan(e / gw) / np.pi
    return (1.0 - tail) * core + tail * lor


def _single_scattering(e, Eg, b, exciton, Ep, gamma_p, surface, E0, beta, interband, decay):
    """Unit-area single-scattering distribution on e >= 0 (rows = spectra)."""
    T, gam = beam_constants(E0)
    theta_e = np.maximum(e, 1e-3) / (2 * gam[:, None] * T[:, None])
    ang = np.log1p((beta[:, None] * 1e-3 / theta_e) ** 2)
    epp, gp = Ep[:, None], gamma_p[:, None]
    bulk = e * gp * epp**2 / ((e**2 - epp**2) ** 2 + (e * gp) ** 2)
    es = epp / np.sqrt(2.0)
    surf = e * gp * es**2 / ((e**2 - es**2) ** 2 + (e * gp) ** 2)
    s = (bulk + surface[:, None] * surf) * ang
    # band gap: nothing below Eg; interband transitions A (E - Eg)^b rolling off over `decay` eV,
    # with a peak height `interband` x the plasmon maximum
    has_gap = np.isfinite(Eg)
    eg = np.where(has_gap, Eg, 0.0)[:, None]
    x = np.maximum(e - eg, 0.0)
    bb = b[:, None]
    dec = decay[:, None]
    ib = x**bb * np.exp(-x / dec)
    ib *= interband[:, None] * s.max(axis=1, keepdims=True) / np.maximum(ib.max(axis=1, keepdims=True), 1e-300)
    onset = np.where(has_gap[:, None], np.minimum((x / np.maximum(epp - eg, 1.0)) ** bb, 1.0), 1.0)
    s = (s * onset + np.where(has_gap[:, None], ib, 0.0)) * (e > eg)
    s = np.where(has_gap[:, None], s, s * (1 - np.exp(-e / 0.5)))  # metals: smooth start at 0
    # exciton below the gap
    ex = exciton[:, None]
    s = s + np.where(np.isfinite(ex) & has_gap[:, None],
                     0.02 * s.max(axis=1, keepdims=True) * np.exp(-0.5 * ((e - (eg - np.nan_to_num(ex))) / 0.1) ** 2), 0.0)
    s[:, 0] = 0.0
    area = s.sum(axis=1, keepdims=True)
    return s / np.where(area > 0, area, 1.0)


def low_loss(
    n,
    *,
    energy_offset=-4.0,
    dispersion=0.025,
    size=2048,
    zlp_fwhm=(0.01, 2.0),
    zlp_asymmetry=(0.0, 0.3),
    zlp_tail=(1e-3, 3e-2),
    zlp_tail_width=(0.5, 3.0),
    zlp_shift=0.0,
    zlp_tail_asymmetry=1.0,
    band_gap=(0.5, 4.0),
    gap_exponent=(0.5, 1.5),
    exciton_binding=None,
    interband=(0.05, 0.5),
    interband_decay=(3.0, 15.0),
    plasmon_energy=(14.0, 28.0),
    plasmon_width=(3.0, 12.0),
    surface_plasmon=(0.0, 0.3),
    t_lambda=(0.05, 1.5),
    vacuum_fraction=0.0,
    E0=(60.0, 300.0),
    beta=(5.0, 60.0),
    counts=(1e4, 1e7),
    gain=1.0,
    read_noise=0.0,
    noise=True,
    rng=None,
):
    """Simulate ``n`` low-loss spectra with zero-loss and inelastic truth.

    Parameters
    ----------
    n : int
    energy_offset, dispersion, size : float, float, int
        Energy axis in eV (the offset is usually negative: the ZLP is inside).
    zlp_fwhm, zlp_asymmetry, zlp_tail, zlp_tail_width, zlp_shift : float or (low, high)
        Zero-loss peak: FWHM (eV; a range is drawn log-uniformly), asymmetry (0-0.9), area fraction and FWHM (eV)
        of the Lorentzian detector tails, position (eV; 0 = aligned).
    zlp_tail_asymmetry : float or (low, high)
        Loss-side / gain-side FWHM of the Lorentzian tails (1 = symmetric tails).
    band_gap : float, (low, high) or None
        Gap energy (eV); None for metals (no gap).
    gap_exponent : float or (low, high)
        b in ``(E - Eg)^b``; a pair draws 0.5 or 1.5 at random (direct/indirect)
        when it is exactly (0.5, 1.5), otherwise uniform.
    exciton_binding : float, (low, high) or None
        Exciton peak this far below the gap (eV); None for no exciton.
    interband, interband_decay : float or (low, high)
        Height of the interband term ``(E - Eg)^b exp(-(E - Eg) / decay)`` relative
        to the plasmon maximum, and its decay (eV).
    plasmon_energy, plasmon_width, surface_plasmon : float or (low, high)
        Bulk plasmon energy and width (eV), surface-plasmon weight at t/lambda -> 0.
    t_lambda : float or (low, high)
        Relative thickness. Every range parameter also accepts a numpy array of
        per-spectrum values.
    vacuum_fraction : float
        Fraction of spectra recorded in vacuum (t/lambda = 0).
    E0, beta : float or (low, high)
        Beam energy (kV) and collection semi-angle (mrad).
    counts : float or (low, high)
        Total counts of the spectrum (log-uniform).
    gain, read_noise : float or (low, high)
    noise : bool
    rng : numpy.random.Generator or int, optional

    Returns
    -------
    LowLossBatch
    """
    rng = np.random.default_rng(rng)
    if size < 16 or dispersion <= 0:
        raise ValueError("size must be >= 16 and dispersion > 0")
    energy = energy_offset + dispersion * np.arange(size)
    if not (energy[0] < 0 < energy[-1]):
        raise ValueError(
            f"the energy axis ({energy[0]:g} to {energy[-1]:g} eV) must contain 0 eV: a low-loss spectrum "
            "includes the zero-loss peak"
        )
    if np.any(np.asarray(counts) <= 0):
        raise ValueError("counts must be positive")
    if not 0 <= vacuum_fraction <= 1:
        raise ValueError("vacuum_fraction must be in [0, 1]")
    if isinstance(zlp_fwhm, tuple | list) and len(zlp_fwhm) == 2 and min(zlp_fwhm) > 0:
        # log-uniform: monochromated (10 meV) to cold-FEG/Schottky (0.3-1 eV) and worse
        fwhm = np.exp(rng.uniform(np.log(zlp_fwhm[0]), np.log(zlp_fwhm[1]), n))
    else:
        fwhm = per_spectrum(rng, zlp_fwhm, n)
    if np.any(fwhm <= 0):
        raise ValueError("zlp_fwhm must be positive")
    asym = per_spectrum(rng, zlp_asymmetry, n)
    tail = per_spectrum(rng, zlp_tail, n)
    tail_w = per_spectrum(rng, zlp_tail_width, n)
    ib = per_spectrum(rng, interband, n)
    ib_decay = per_spectrum(rng, interband_decay, n)
    shift = per_spectrum(rng, zlp_shift, n)
    tail_asym = per_spectrum(rng, zlp_tail_asymmetry, n)
    eg = np.full(n, np.inf) if band_gap is None else per_spectrum(rng, band_gap, n)
    if gap_exponent is not None and not np.isscalar(gap_exponent) and tuple(gap_exponent) == (0.5, 1.5):
        b = rng.choice([0.5, 1.5], n)
    else:
        b = per_spectrum(rng, gap_exponent, n)
    exb = np.full(n, np.nan) if exciton_binding is None else per_spectrum(rng, exciton_binding, n)
    ep = per_spectrum(rng, plasmon_energy, n)
    gp = per_spectrum(rng, plasmon_width, n)
    tl = per_spectrum(rng, t_lambda, n)
    vac = rng.random(n) < vacuum_fraction
    tl[vac] = 0.0
    surf = per_spectrum(rng, surface_plasmon, n) * np.exp(-2.0 * tl)
    e0 = per_spectrum(rng, E0, n)
    bet = per_spectrum(rng, beta, n)
    if isinstance(counts, np.ndarray):
        total = np.broadcast_to(counts.astype(np.float64), (n,)).copy()
    else:
        total = np.exp(rng.uniform(np.log(np.min(counts)), np.log(np.max(counts)), n))

    # circular grid: index k <-> energy k*d (k < N/2) or (k - N)*d; wide enough for several plasmons
    span = max(energy[-1], 0) + 6 * float(np.max(ep)) + 10 * float(np.max(fwhm)) + abs(energy[0])
    N = 1 << int(np.ceil(np.log2(span / dispersion + size)))
    k = np.arange(N)
    ek = np.where(k < N // 2, k, k - N) * dispersion
    S = _single_scattering(np.where(ek >= 0, ek, 0.0)[None, :], eg, b, exb, ep, gp, surf, e0, bet, ib, ib_decay)
    S[:, ek < 0] = 0.0
    # ZLP integrated over each channel (exact, also for a ZLP narrower than a channel)
    args = (fwhm[:, None], asym[:, None], tail[:, None], tail_w[:, None], tail_asym[:, None])
    rel = ek[None, :] - shift[:, None]
    Z = _zlp_cdf(rel + dispersion / 2, *args) - _zlp_cdf(rel - dispersion / 2, *args)
    Zf = np.fft.rfft(Z, axis=1)
    Pf = np.exp(tl[:, None] * (np.fft.rfft(S, axis=1) - 1.0))
    J = np.fft.irfft(Zf * Pf, n=N, axis=1)
    elastic = np.exp(-tl)[:, None] * Z
    # map the output channels onto the circular grid (offset is a multiple of the dispersion up to rounding)
    idx = (np.round(energy / dispersion).astype(np.int64)) % N
    J, elastic = J[:, idx], elastic[:, idx]
    J = np.maximum(J, 0.0)
    zlp = total[:, None] * elastic
    inel = np.maximum(total[:, None] * J - zlp, 0.0)
    lam = zlp + inel
    g = per_spectrum(rng, gain, n)
    rn = per_spectrum(rng, read_noise, n)
    if noise:
        spectra = g[:, None] * rng.poisson(lam) + rn[:, None] * rng.standard_normal(lam.shape)
    else:
        spectra = g[:, None] * lam
    params = dict(zlp_fwhm=fwhm, zlp_asymmetry=asym, zlp_tail=tail, zlp_tail_width=tail_w, zlp_shift=shift,
                  zlp_tail_asymmetry=tail_asym,
                  interband=ib, interband_decay=ib_decay, band_gap=eg, gap_exponent=b,
                  exciton_binding=exb, plasmon_energy=ep, plasmon_width=gp, surface_plasmon=surf, t_lambda=tl,
                  vacuum=vac, E0=e0, beta=bet, counts=total, gain=g, read_noise=rn)
    return LowLossBatch(spectra=spectra.astype(np.float32), zlp=zlp.astype(np.float32),
                        inelastic=inel.astype(np.float32), energy=energy, params=params)
