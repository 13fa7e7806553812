"""Low-loss physics per replica: bulk plasmon (Drude fit) and Kramers-Kronig analysis.

For every pixel and every replica ``r`` of the ZLP ensemble the inelastic
spectrum is ``data + noise_r - zlp_r`` (the noise drawn from
:func:`~hyperspy_eels_ml.zlp.features.noise_sd`, seeded by the spectrum itself,
exactly as :meth:`ZLPResult.fit_band_gap` does), so the 68 % intervals carry
both the ZLP uncertainty and the counting noise.

* **Single scattering.** ``deconvolve=True`` (the default of
  :meth:`ZLPResult.fit_plasmon`, always for Kramers-Kronig) removes plural
  scattering by Fourier-log deconvolution with the replica's own ZLP, using
  exspy's :meth:`~exspy.signals.EELSSpectrum.fourier_log_deconvolution` on a
  temporary signal holding every replica of a block of pixels (one call per
  block).
* **Plasmon.** ``A Im(-1/eps_Drude) x ln(1 + beta^2/theta_E^2)`` (the angular
  factor only when beam energy and collection angle are in the metadata) with
  ``Im(-1/eps_Drude) = E Gamma Ep^2 / ((E^2 - Ep^2)^2 + (E Gamma)^2)``, fitted by
  a vectorised Levenberg-Marquardt (weighted least squares) over all replicas
  and pixels at once: a HyperSpy model per spectrum (the
  :class:`~hyperspy_eels_ml.zlp.DrudePlasmon` component with ``create_model``/
  ``multifit``) gives the same numbers (tested) but costs about 10 ms per fit,
  i.e. 3 hours for 100 replicas of a 10^4-pixel SI. Fits that hit the window
  edge or a width bound, or do not converge, give NaN with a reason. Where
  the reduced chi^2 of the median replica exceeds 1 (the loss function is not
  one Drude peak), the interval is widened by ``sqrt(chi^2)`` (the PDG scale
  factor), so a poor model shows as a wide interval, not a precise number.
* **Peaks** (excitons, interband transitions): ``n`` Gaussians on a linear (or
  constant) background in a window, fitted by the same kind of vectorised
  Levenberg-Marquardt over replicas and pixels (:func:`fit_gaussians`); peaks
  are ordered by energy in every replica; NaN with a reason per peak where a
  position ends within a channel of the window edge, a width hits its bound
  (below 0.75 x the ZLP FWHM: narrower than the resolution, or above half the window),
  the fit does not converge or the amplitude is not significant; the same
  ``sqrt(chi^2)`` widening as the plasmon.
* **Kramers-Kronig.** exspy's
  :meth:`~exspy.signals.EELSSpectrum.kramers_kronig_analysis` (normalised by
  the refractive index ``n`` or a known thickness ``t``) on every replica's
  single-scattering distribution with that replica's ZLP integral as ``I0``:
  eps1, eps2 and the absolute thickness (nm, from ``n``) per replica.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np

from .._shared.batch import as_dask, compute, map_spectra
from .._shared.exceptions import ParameterError
from .._shared.signals import navigation_map, per_pixel_spectra, record_provenance
from .._shared.validation import EELSInputError, EnergyRangeError, check_finite_block
from .._shared.warn import warn
from .bandgap import nan_pixels, parse_loss_range

__all__ = ["drude_loss", "fit_drude", "fit_plasmon_replicas", "kramers_kronig_replicas", "default_plasmon_window",
           "fit_gaussians", "fit_peaks_replicas"]

#: plasmon fit reason codes
PLASMON_REASONS = {0: "fitted", 1: "Ep at the window edge or width at a bound", 2: "fit did not converge",
                   3: "no plasmon peak (amplitude not significant)"}


def drude_loss(E, Ep, gamma):
    """Drude energy-loss function ``E Gamma Ep^2 / ((E^2 - Ep^2)^2 + (E Gamma)^2)`` (broadcasting)."""
    E = np.asarray(E, dtype=np.float64)
    return E * gamma * Ep**2 / ((E**2 - Ep**2) ** 2 + (E * gamma) ** 2)


def _angular(E, beam_energy, collection_angle):
    me = 510.99895  # keV
    e0 = float(beam_energy)
    gamma = 1 + e0 / me
    T = e0 * (1 + e0 / (2 * me)) / gamma**2  # keV
    theta_e = np.maximum(np.asarray(E, float), 1e-6) / (2 * gamma * T * 1e3)  # rad
    return np.log1p((float(collection_angle) * 1e-3 / theta_e) ** 2)


def fit_drude(E, I, weights, Ep0, gamma0, factor=None, bounds=None, max_iter=60, tol=1e-7):
    """Vectorised Levenberg-Marquardt fit of ``A f(E) drude_loss(E, Ep, Gamma)`` to every row of ``I``.

    Parameters
    ----------
    E : (n,) energies of the fit window (eV)
    I : (M, n) spectra
    weights : (M, n) inverse variances
    Ep0, gamma0 : (M,) or float, starting values
    factor : (n,), optional
        Fixed multiplicative factor (the angular factor); 1 if None.
    bounds : dict, optional
        ``Ep=(lo, hi)``, ``gamma=(lo, hi)``: a result outside is flagged ``at_bound``.
    max_iter, tol : int, float
        Iterations; convergence when the relative chi^2 decrease of an accepted step is below ``tol``.

    Returns
    -------
    dict with ``Ep``, ``gamma``, ``A``, ``chi2`` (weighted sum of squares), ``delta_chi2``
    (improvement over ``A = 0``), ``converged``, ``at_bound`` (arrays of length M).
    """
    E = np.asarray(E, np.float64)
    I = np.asarray(I, np.float64)
    W = np.broadcast_to(np.asarray(weights, np.float64), I.shape)
    M = I.shape[0]
    fac = np.ones_like(E) if factor is None else np.asarray(factor, np.float64)
    p = np.stack([np.zeros(M), np.broadcast_to(np.asarray(Ep0, float), (M,)).copy(),
                  np.broadcast_to(np.asarray(gamma0, float), (M,)).copy()], axis=1)

    def model(p):
        A, Ep, G = p[:, :1], p[:, 1:2], np.abs(p[:, 2:3])
        D = (E**2 - Ep**2) ** 2 + (E * G) ** 2
        f = fac * E * G * Ep**2 / D
        return A, Ep, G, D, f

    def amp(f):
        return np.clip((W * I * f).sum(1) / np.maximum((W * f * f).sum(1), 1e-300), 0, None)

    _, _, _, _, f0 = model(p)
    p[:, 0] = amp(f0)
    A, Ep, G, D, f = model(p)
    chi = (W * (I - A * f) ** 2).sum(1)
    lam = np.full(M, 1e-2)
    converged = np.zeros(M, bool)
    active = np.ones(M, bool)
    for _ in range(max_iter):
        if not active.any():
            break
        a = np.flatnonzero(active)
        Aa, Epa, Ga, Da, fa = A[a], Ep[a], G[a], D[a], f[a]
        Ea = E[None, :]
        dD_dEp = -4 * Epa * (Ea**2 - Epa**2)
        dD_dG = 2 * Ea**2 * Ga
        df_dEp = fac * Ea * Ga * (2 * Epa * Da - Epa**2 * dD_dEp) / Da**2
        df_dG = fac * Ea * Epa**2 * (Da - Ga * dD_dG) / Da**2
        J = np.stack([fa, Aa * df_dEp, Aa * df_dG], axis=2)  # (m, n, 3)
        r = I[a] - Aa * fa
        Wa = W[a]
        H = np.einsum("mni,mn,mnj->mij", J, Wa, J)
        g = np.einsum("mni,mn,mn->mi", J, Wa, r)
        dg = np.maximum(np.einsum("mii->mi", H), 1e-300)
        Hd = H + lam[a, None, None] * dg[:, :, None] * np.eye(3)[None]
        try:
            step = np.linalg.solve(Hd, g[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.zeros_like(g)
        pn = p[a] + step
        pn[:, 0] = np.maximum(pn[:, 0], 0)
        pn[:, 2] = np.abs(pn[:, 2])
        An, Epn, Gn, Dn, fn = model(pn)
        chin = (W[a] * (I[a] - An * fn) ** 2).sum(1)
        ok = np.isfinite(chin) & (chin <= chi[a])
        rel = np.where(ok, (chi[a] - chin) / np.maximum(chi[a], 1e-300), np.inf)
        acc = a[ok]
        p[acc] = pn[ok]
        A[acc], Ep[acc], G[acc], D[acc], f[acc] = An[ok], Epn[ok], Gn[ok], Dn[ok], fn[ok]
        chi[acc] = chin[ok]
        lam[a] = np.where(ok, np.maximum(lam[a] / 3, 1e-9), np.minimum(lam[a] * 4, 1e9))
        done = (ok & (rel < tol)) | (lam[a] >= 1e9)
        converged[a[ok & (rel < tol)]] = True
        active[a[done]] = False
    chi0 = (W * I**2).sum(1)
    out = dict(A=p[:, 0], Ep=p[:, 1], gamma=np.abs(p[:, 2]), chi2=chi, delta_chi2=chi0 - chi, converged=converged)
    at = np.zeros(M, bool)
    if bounds:
        for key in ("Ep", "gamma"):
            if key in bounds:
                lo, hi = bounds[key]
                at |= (out[key] <= lo) | (out[key] >= hi)
    out["at_bound"] = at
    return out


def _seed_of(spectrum):
    import zlib

    return zlib.crc32(np.ascontiguousarray(spectrum, dtype=np.float32).tobytes())


def replica_spectra(J, table, energy, core, c_grid, count_gain, base_c, scatter, dark):
    """Every replica's spectrum of every pixel: ``(data + noise_r, zlp_r)``, each (R, P, n_E) float64."""
    from .features import interp_clusters, noise_sd, pixel_zlp_replicas, variance_counts

    Jb = np.asarray(J, np.float64) - float(dark)
    Z, _, c = pixel_zlp_replicas(Jb.astype(np.float32), energy, core, c_grid, table)
    R = Z.shape[0]
    sd = noise_sd(variance_counts(Jb, energy[1] - energy[0]), np.median(Z, axis=0),
                  interp_clusters(c, base_c, scatter), count_gain)
    noise = np.stack([np.random.default_rng(_seed_of(J[i])).standard_normal((R, Jb.shape[1]))
                      for i in range(Jb.shape[0])], axis=1)
    return Jb[None] + noise * sd[None], Z.astype(np.float64), sd


def _eels(data, energy, beam_energy=None, collection_angle=None):
    import exspy

    s = exspy.signals.EELSSpectrum(data)
    ax = s.axes_manager.signal_axes[0]
    ax.name, ax.units, ax.offset, ax.scale = "Energy loss", "eV", float(energy[0]), float(energy[1] - energy[0])
    if beam_energy is not None:
        s.set_microscope_parameters(beam_energy=float(beam_energy), collection_angle=float(collection_angle),
                                    convergence_angle=0.0)
    return s


def single_scattering(Jr, Z, energy):
    """Fourier-log deconvolution of every replica (exspy, one call): (R, P, n_E) single scattering x ZLP area.

    exspy returns ``IFT[Z(f) ln(J(f) / Z(f))]`` with ``Z`` the replica's
    elastic peak (area ``I0``): the single-scattering intensity convolved with
    the normalised ZLP, in counts (integral ``I0 t/lambda``).
    """
    R, P, n = Jr.shape
    s = _eels(Jr.reshape(R * P, n), energy)
    z = _eels(Z.reshape(R * P, n), energy)
    with np.errstate(all="ignore"):
        ssd = s.fourier_log_deconvolution(z, add_zlp=False, crop=False)
    return np.asarray(ssd.data, np.float64).reshape(R, P, n)


def default_plasmon_window(result, min_energy=None):
    """Plasmon fit window from the data: around the maximum of the pixel-averaged inelastic signal.

    The maximum is searched above ``min_energy`` (default the larger of 3 eV,
    4 x the ZLP FWHM and the largest specimen dE1: a vacuum reference's dE1 says
    where the vacuum is ZLP-only, not where the specimen's plasmon can be, and with
    a read-noise floor it can reach 28 eV, as on WS2); the window is the contiguous range
    around it where the smoothed mean stays above half its maximum (at least 8
    channels and 1 eV). Raises :class:`EnergyRangeError` when the maximum lies at
    the end of the axis (the plasmon is not inside the recorded range).
    """
    from .features import smooth

    model, v = result.model, result._v
    e = v.energy
    disp = v.dispersion
    d1 = np.asarray(model.clusters["dE1"], float)
    spec = ~np.asarray(model.clusters["vacuum"], bool)
    d1 = d1[spec] if spec.any() else d1
    lo_min = max(3.0, 4 * model.fwhm, float(np.max(d1))) if min_energy is None else min_energy
    mean = result.inelastic.data.reshape(-1, e.size).mean(axis=0)
    if isinstance(mean, da.Array):
        mean = mean.compute()
    sm = smooth(np.asarray(mean, float), max(3, round(1.0 / disp) | 1))
    sel = np.flatnonzero(e >= lo_min)
    if sel.size < 8:
        raise EnergyRangeError(f"fit_plasmon: the axis ends at {e[-1]:g} eV, too close to the ZLP for a plasmon "
                               f"fit (needs channels above {lo_min:g} eV)")
    k = sel[np.argmax(sm[sel])]
    if k >= e.size - 3 or sm[k] <= 0:
        raise EnergyRangeError(f"fit_plasmon: the inelastic signal rises to the end of the axis ({e[-1]:g} eV): "
                               "the bulk plasmon is not inside the recorded range; give energy_range=(lo, hi)")
    half = 0.5 * sm[k]
    i0 = k
    while i0 > sel[0] and sm[i0 - 1] >= half:
        i0 -= 1
    i1 = k
    while i1 < e.size - 1 and sm[i1 + 1] >= half:
        i1 += 1
    lo, hi = float(e[i0]), float(e[i1])
    if hi - lo < max(1.0, 8 * disp):
        c = 0.5 * (lo + hi)
        w = max(1.0, 8 * disp) / 2
        lo, hi = max(c - w, float(e[sel[0]])), min(c + w, float(e[-1]))
    return lo, hi


def _replica_window(J, table, energy, core, c_grid, count_gain, base_c, scatter, dark, window, deconvolve):
    """Replica inelastic spectra of a batch in ``window``, flattened to (replicas x pixels, channels).

    Returns ``(I, weights, Z, R, p)``: the spectra (single scattering with ``deconvolve``), their inverse
    variances, the replica ZLPs (R, p, channels) and the replica and pixel counts.
    """
    Jr, Z, sd = replica_spectra(J, table, energy, core, c_grid, count_gain, base_c, scatter, dark)
    I = single_scattering(Jr, Z, energy) if deconvolve else Jr - Z
    R, p = I.shape[:2]
    Iw = I[:, :, window].reshape(R * p, -1)
    wts = np.broadcast_to(1.0 / sd[None, :, window] ** 2, (R, p, window.size)).reshape(R * p, -1)
    return Iw, wts, Z, R, p


def _zlp_centroid(Z, energy, fwhm):
    """(R, p) first moment of each replica ZLP's core (|E| <= 5 FWHM; a long tail's moment is not a shift)."""
    cm = np.abs(energy) <= 5 * fwhm
    return (Z[..., cm] * energy[cm]).sum(axis=2) / np.maximum(Z[..., cm].sum(axis=2), 1e-30)


def plasmon_block(J, table, energy, core, c_grid, window, count_gain, batch, base_c, scatter, dark, deconvolve,
                  factor, gamma_bounds, fwhm):
    """Replica Drude fits of every spectrum of a block: (P, 8) Ep 50/16/84, Gamma 50/16/84, chi2/dof, reason."""
    from ..zlp.bandgap import MIN_DELTA_CHI2

    J = np.asarray(J, dtype=np.float32)
    check_finite_block(J)
    P = J.shape[0]
    out = np.empty((P, 8), dtype=np.float32)
    Ew = energy[window]
    dof = max(window.size - 3, 1)
    for a in range(0, P, batch):
        b = min(P, a + batch)
        Iw, wts, Z, R, p = _replica_window(J[a:b], table, energy, core, c_grid, count_gain, base_c, scatter, dark,
                                           window, deconvolve)
        k = np.argmax(Iw, axis=1)
        fit = fit_drude(Ew, Iw, wts, Ew[k], max(Ew[-1] - Ew[0], 4 * (Ew[1] - Ew[0])), factor=factor,
                        bounds=dict(Ep=(Ew[0], Ew[-1]), gamma=gamma_bounds))
        # the fitted spectrum is the single scattering convolved with the (normalised) ZLP, whose centroid is
        # not at 0 eV for an asymmetric ZLP: to first order that shifts the peak by the centroid
        # (of the core, |E| <= 5 FWHM: a long tail's first moment is not a shift of the peak)
        centroid = _zlp_centroid(Z, energy, fwhm)
        Ep, G = fit["Ep"].reshape(R, p) - centroid, fit["gamma"].reshape(R, p)
        bad = (fit["at_bound"] | ~fit["converged"]).reshape(R, p)
        ok = ~bad
        Epm = np.where(ok, Ep, np.nan)
        Gm = np.where(ok, G, np.nan)
        with np.errstate(all="ignore"), _quiet_nan():
            q = np.nanquantile(Epm, [0.5, 0.16, 0.84], axis=0)
            qg = np.nanquantile(Gm, [0.5, 0.16, 0.84], axis=0)
        dchi = np.median(fit["delta_chi2"].reshape(R, p), axis=0)
        chi = np.median(fit["chi2"].reshape(R, p), axis=0) / dof
        at = fit["at_bound"].reshape(R, p).mean(axis=0) > 0.5
        nc = (~fit["converged"]).reshape(R, p).mean(axis=0) > 0.5
        # a Drude peak that does not describe the data (reduced chi^2 > 1: interband transitions, several
        # plasmons) makes the replica spread too small: widen the interval by sqrt(chi2) (PDG scale factor)
        f = np.sqrt(np.maximum(chi, 1.0))
        q[1], q[2] = q[0] - (q[0] - q[1]) * f, q[0] + (q[2] - q[0]) * f
        qg[1], qg[2] = qg[0] - (qg[0] - qg[1]) * f, qg[0] + (qg[2] - qg[0]) * f
        reason = np.where(dchi < MIN_DELTA_CHI2, 3, np.where(at, 1, np.where(nc, 2, 0)))
        q[:, reason != 0] = np.nan
        qg[:, reason != 0] = np.nan
        out[a:b] = np.concatenate([q.T, qg.T, chi[:, None], reason[:, None]], axis=1)
    return out


class _quiet_nan:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


def _microscope(signal):
    md = signal.metadata
    e0 = md.get_item("Acquisition_instrument.TEM.beam_energy")
    beta = md.get_item("Acquisition_instrument.TEM.Detector.EELS.collection_angle")
    return e0, beta


def fit_plasmon_replicas(result, energy_range=None, *, deconvolve=True, show_progressbar=None, lazy_output=None):
    """See :meth:`hyperspy_eels_ml.zlp.ZLPResult.fit_plasmon`."""
    from .result import PlasmonResult

    v, model = result._v, result.model
    e = v.energy
    disp = v.dispersion
    if energy_range is None:
        lo, hi = default_plasmon_window(result)
    else:
        lo, hi = parse_loss_range(e, energy_range)
    window = np.flatnonzero((e >= lo) & (e <= hi))
    if window.size < 6:
        raise EnergyRangeError(f"energy_range ({lo:g}, {hi:g}) eV holds only {window.size} channels of {disp:g} eV; "
                               "a Drude fit (3 parameters) needs at least 6")
    e0, beta = _microscope(v.signal)
    factor = _angular(e[window], e0, beta) if (e0 and beta) else None
    lazy_output = v.lazy if lazy_output is None else bool(lazy_output)
    c_grid, table = model.log_zlp_table(e)
    R = table.shape[0]
    batch = int(max(1, min(64, 1_500_000 // max(R * e.size, 1))))
    out = map_spectra(as_dask(v.data), plasmon_block, 8, np.float32, extra_args=(dask.delayed(table, pure=True),),
                      energy=e, core=model.core, c_grid=c_grid, window=window, count_gain=float(result.count_gain),
                      batch=batch, base_c=np.asarray(model.clusters["c"], float), scatter=model.scatter_table(),
                      dark=model.dark_level, deconvolve=bool(deconvolve), factor=factor,
                      gamma_bounds=(2 * disp, 4 * (hi - lo) + 10.0), fwhm=float(model.fwhm))
    if not v.navigation_shape:
        out = out[0]
    parts = [out[..., k] for k in range(8)]
    if not lazy_output:
        parts = list(compute(*parts, show_progressbar=show_progressbar))
    titles = ("Bulk plasmon energy Ep (eV)", "Ep 16 %", "Ep 84 %", "Plasmon width Gamma (eV)", "Gamma 16 %",
              "Gamma 84 %", "Plasmon fit reduced chi^2",
              "Plasmon fit reason (0 fitted, 1 bound, 2 not converged, 3 no peak)")
    quantities = ("eV", "eV", "eV", "eV", "eV", "eV", "chi2", "reason")
    params = dict(energy_range=[lo, hi], deconvolve=bool(deconvolve), angular_factor=factor is not None,
                  n_replicas=model.n_replicas, method="vectorised Levenberg-Marquardt, Drude loss function")
    sigs = {}
    for name, data, title, q in zip(PlasmonResult._signals, parts, titles, quantities):
        m = navigation_map(v.signal, data if isinstance(data, da.Array) else np.asarray(data), title, quantity=q)
        record_provenance(m, "zlp.ZLPResult.fit_plasmon", params, extra=dict(output=name))
        sigs[name] = m
    res = PlasmonResult(energy_range=(lo, hi), deconvolved=bool(deconvolve),
                        _navigation_shape=tuple(v.navigation_shape), **sigs)
    if not lazy_output:
        warn_plasmon(res)
    return res


def warn_plasmon(res):
    """Warn (naming the pixels) where the plasmon fit returned NaN."""
    lo, hi = res.energy_range
    for code in (1, 2, 3):
        where = nan_pixels(res.reason.data, code)
        if where:
            warn(f"fit_plasmon({lo:g}-{hi:g} eV): {PLASMON_REASONS[code]} for {where}: Ep = NaN there; widen or "
                 "move energy_range around the plasmon peak.", UserWarning)


def kk_block(J, table, energy, core, c_grid, count_gain, batch, base_c, scatter, dark, n, t, iterations,
             beam_energy, collection_angle, keep, cutoff):
    """Kramers-Kronig of every replica of every spectrum: (P, 6 nK + 3) eps1/eps2 50/16/84 and thickness."""
    J = np.asarray(J, dtype=np.float32)
    check_finite_block(J)
    P = J.shape[0]
    nK = int(keep.sum())
    out = np.empty((P, 6 * nK + 3), dtype=np.float32)
    for a in range(0, P, batch):
        b = min(P, a + batch)
        Jr, Z, _ = replica_spectra(J[a:b], table, energy, core, c_grid, count_gain, base_c, scatter, dark)
        R, p, nE = Jr.shape
        ssd = single_scattering(Jr, Z, energy)
        ssd[..., energy < cutoff] = 0.0  # under the ZLP the residual is ZLP mismatch and noise, divided by E
        ssd = ssd[..., keep]  # only E > 0: exspy divides by E
        s = _eels(ssd.reshape(R * p, -1), energy[keep], beam_energy, collection_angle)
        i0 = Z.sum(axis=2).reshape(R * p)
        import hyperspy.api as hs

        zl = hs.signals.BaseSignal(i0).T
        with np.errstate(all="ignore"):
            eps, extra = s.kramers_kronig_analysis(zlp=zl, n=n, t=t, iterations=iterations, full_output=True)
        ed = np.asarray(eps.data).reshape(R, p, -1)
        off = ed.shape[-1] - nK  # exspy drops E <= 0 (and E = 0); keep the channels above 0
        e1, e2 = ed.real[..., off:], ed.imag[..., off:]
        th = extra.get("thickness")
        th = np.full((R, p), float(t) if t is not None else np.nan) if th is None else \
            np.asarray(th.data, float).reshape(R, p)
        with _quiet_nan():
            q1 = np.quantile(e1, [0.5, 0.16, 0.84], axis=0)
            q2 = np.quantile(e2, [0.5, 0.16, 0.84], axis=0)
            qt = np.quantile(th, [0.5, 0.16, 0.84], axis=0)
        out[a:b] = np.concatenate([q1[0], q1[1], q1[2], q2[0], q2[1], q2[2], qt.T], axis=1)
    return out


def kramers_kronig_replicas(result, n=None, t=None, *, iterations=1, cutoff=None, show_progressbar=None,
                            lazy_output=None):
    """See :meth:`hyperspy_eels_ml.zlp.ZLPResult.kramers_kronig`."""
    from .._shared.params import check_float, check_int
    from .result import KramersKronigResult

    v, model = result._v, result.model
    if (n is None) == (t is None):
        raise ParameterError("kramers_kronig: give exactly one of n (refractive index, e.g. 4.0 for WS2, 3.9 for Si) "
                         "or t (thickness in nm) to normalise the loss function")
    n = check_float("n", n, min=1.0, inclusive=(False, True), allow_none=True)
    t = check_float("t", t, min=0.0, inclusive=(False, True), allow_none=True)
    iterations = check_int("iterations", iterations, min=1)
    cutoff = check_float("cutoff", 3 * model.fwhm if cutoff is None else cutoff, min=0)
    e0, beta = _microscope(v.signal)
    if not (e0 and beta):
        raise EELSInputError("kramers_kronig needs the beam energy and the collection angle: "
                             "s.set_microscope_parameters(beam_energy=..., collection_angle=...) on the signal "
                             "before subtract_zlp_nn")
    e = v.energy
    if e[-1] <= 0:
        raise EnergyRangeError("kramers_kronig: the axis has no energy-loss channel above 0 eV")
    # exspy's KK works on E >= 0 and divides by E: pass only channels clearly above 0 eV (a channel at
    # 1e-15 eV from floating-point offsets would dominate the sum rule)
    keep = e > 0.25 * v.dispersion
    nK = int(keep.sum())
    lazy_output = v.lazy if lazy_output is None else bool(lazy_output)
    c_grid, table = model.log_zlp_table(e)
    R = table.shape[0]
    batch = int(max(1, min(32, 1_000_000 // max(R * e.size, 1))))
    out = map_spectra(as_dask(v.data), kk_block, 6 * nK + 3, np.float32,
                      extra_args=(dask.delayed(table, pure=True),), energy=e, core=model.core, c_grid=c_grid,
                      count_gain=float(result.count_gain), batch=batch, base_c=np.asarray(model.clusters["c"], float),
                      scatter=model.scatter_table(), dark=model.dark_level, n=n, t=t, iterations=iterations,
                      beam_energy=float(e0), collection_angle=float(beta), keep=keep, cutoff=cutoff)
    if not v.navigation_shape:
        out = out[0]
    spectra = [out[..., k * nK:(k + 1) * nK] for k in range(6)]
    scalars = [out[..., 6 * nK + k] for k in range(3)]
    parts = spectra + scalars
    if not lazy_output:
        parts = list(compute(*parts, show_progressbar=show_progressbar))
    ek = e[keep]
    axis = dict(name="Energy", units="eV", offset=float(ek[0]), scale=float(v.dispersion))
    params = dict(n=n, t=t, iterations=iterations, cutoff=cutoff, n_replicas=model.n_replicas, beam_energy=float(e0),
                  collection_angle=float(beta), method="exspy fourier_log_deconvolution + kramers_kronig_analysis "
                  "per replica")
    sigs = {}
    names = KramersKronigResult._signals
    titles = ("eps1 (median)", "eps1 16 %", "eps1 84 %", "eps2 (median)", "eps2 16 %", "eps2 84 %",
              "Absolute thickness (nm, KK)", "Thickness 16 % (nm)", "Thickness 84 % (nm)")
    for i, (name, data, title) in enumerate(zip(names, parts, titles)):
        data = data if isinstance(data, da.Array) else np.asarray(data)
        if i < 6:
            m = per_pixel_spectra(v.signal, data if v.navigation_shape else data, axis, title,
                                  quantity="eps1" if i < 3 else "eps2")
        else:
            m = navigation_map(v.signal, data, title, quantity="nm")
        record_provenance(m, "zlp.ZLPResult.kramers_kronig", params, extra=dict(output=name))
        sigs[name] = m
    return KramersKronigResult(n=n, t=t, _navigation_shape=tuple(v.navigation_shape), **sigs)


#: peak fit reason codes
PEAK_REASONS = {0: "fitted", 1: "position at the window edge or width at a bound", 2: "fit did not converge",
                3: "no peak (amplitude not significant)"}
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
#: a recorded peak is the single scattering convolved with the ZLP: one narrower than this fraction of the ZLP
#: FWHM is noise, not a resolved peak (flagged as a width at its bound)
MIN_WIDTH_PER_ZLP = 0.75


def _gauss_model(E, p, n_peaks, n_bg, ec):
    """Model and Jacobian of ``bg + sum_k A_k exp(-(E - mu_k)^2 / (2 s_k^2))``; p = (M, n_bg + 3 n_peaks)."""
    M = p.shape[0]
    x = (E - ec)[None, :]
    y = np.broadcast_to(p[:, :1], (M, E.size)).copy()
    cols = [np.ones((M, E.size))]
    if n_bg == 2:
        y += p[:, 1:2] * x
        cols.append(np.broadcast_to(x, (M, E.size)))
    for k in range(n_peaks):
        A, mu, sg = p[:, n_bg + 3 * k, None], p[:, n_bg + 3 * k + 1, None], np.abs(p[:, n_bg + 3 * k + 2, None])
        d = E[None, :] - mu
        with np.errstate(all="ignore"):  # a trial step with sigma -> 0 gives inf, rejected by the caller
            g = np.exp(-0.5 * (d / sg) ** 2)
            y += A * g
            cols += [g, A * g * d / sg**2, A * g * d**2 / sg**3]
    return y, np.stack(cols, axis=2)


def fit_gaussians(E, I, weights, mu0, sigma0, *, background="linear", sigma_bounds=None, max_iter=100, tol=1e-8):
    """Vectorised Levenberg-Marquardt fit of ``n`` Gaussians plus a polynomial background to every row of ``I``.

    Parameters
    ----------
    E : (n,) energies of the fit window (eV)
    I : (M, n) spectra
    weights : (M, n) inverse variances
    mu0, sigma0 : (M, n_peaks) starting positions and standard deviations (eV)
    background : {"linear", "constant"}
    sigma_bounds : (lo, hi), optional
        A fitted ``sigma`` outside (or on) these is flagged ``at_bound``; a
        position within one channel of the window edge (or outside) too.
    max_iter, tol : int, float
        Iterations; convergence when the relative chi^2 decrease of an accepted step is below ``tol``.

    Returns
    -------
    dict of arrays: ``position``, ``sigma``, ``amplitude`` (M, n_peaks, ordered by position),
    ``t_amplitude`` (amplitude / its standard error from the curvature), ``at_bound`` (M, n_peaks),
    ``background`` (M, n_bg), ``chi2`` (M,), ``converged`` (M,).
    """
    E = np.asarray(E, np.float64)
    I = np.asarray(I, np.float64)
    W = np.broadcast_to(np.asarray(weights, np.float64), I.shape)
    mu0 = np.atleast_2d(np.asarray(mu0, np.float64))
    sigma0 = np.broadcast_to(np.asarray(sigma0, np.float64), mu0.shape)
    M, K = I.shape[0], mu0.shape[1]
    if background not in ("linear", "constant"):
        raise ParameterError(f"background must be 'linear' or 'constant', got {background!r}")
    nb = 2 if background == "linear" else 1
    ec = 0.5 * (E[0] + E[-1])
    npar = nb + 3 * K
    p = np.zeros((M, npar))
    p[:, nb + 1::3] = np.broadcast_to(mu0, (M, K))
    p[:, nb + 2::3] = np.broadcast_to(sigma0, (M, K))
    # linear start: background and amplitudes by weighted least squares at the starting shapes
    _, J = _gauss_model(E, p, K, nb, ec)
    lin = np.r_[np.arange(nb), nb + 3 * np.arange(K)]
    Jl = J[:, :, lin]
    H = np.einsum("mni,mn,mnj->mij", Jl, W, Jl) + 1e-12 * np.eye(lin.size)
    g = np.einsum("mni,mn,mn->mi", Jl, W, I)
    with np.errstate(all="ignore"):
        sol = np.linalg.solve(H, g[..., None])[..., 0]
    p[:, lin] = np.nan_to_num(sol)
    p[:, nb::3][:, :K] = np.maximum(p[:, nb::3][:, :K], 0)
    y, J = _gauss_model(E, p, K, nb, ec)
    chi = (W * (I - y) ** 2).sum(1)
    lam = np.full(M, 1e-3)
    converged = np.zeros(M, bool)
    active = np.ones(M, bool)
    eye = np.eye(npar)[None]
    for _ in range(max_iter):
        if not active.any():
            break
        a = np.flatnonzero(active)
        Ja, Wa = J[a], W[a]
        r = I[a] - y[a]
        H = np.einsum("mni,mn,mnj->mij", Ja, Wa, Ja)
        g = np.einsum("mni,mn,mn->mi", Ja, Wa, r)
        dg = np.maximum(np.einsum("mii->mi", H), 1e-300)
        with np.errstate(all="ignore"):
            try:
                step = np.linalg.solve(H + lam[a, None, None] * dg[:, :, None] * eye, g[..., None])[..., 0]
            except np.linalg.LinAlgError:
                step = np.zeros_like(g)
        pn = p[a] + np.nan_to_num(step)
        amp = pn[:, nb::3][:, :K]
        pn[:, nb + 3 * np.arange(K)] = np.maximum(amp, 0)
        pn[:, nb + 2 + 3 * np.arange(K)] = np.abs(pn[:, nb + 2 + 3 * np.arange(K)])
        yn, Jn = _gauss_model(E, pn, K, nb, ec)
        chin = (Wa * (I[a] - yn) ** 2).sum(1)
        ok = np.isfinite(chin) & (chin <= chi[a])
        rel = np.where(ok, (chi[a] - chin) / np.maximum(chi[a], 1e-300), np.inf)
        acc = a[ok]
        p[acc], y[acc], J[acc], chi[acc] = pn[ok], yn[ok], Jn[ok], chin[ok]
        lam[a] = np.where(ok, np.maximum(lam[a] / 3, 1e-9), np.minimum(lam[a] * 4, 1e9))
        conv = ok & (rel < tol)
        converged[a[conv]] = True
        active[a[conv | (lam[a] >= 1e9)]] = False
    # standard errors from the curvature at the optimum
    H = np.einsum("mni,mn,mnj->mij", J, W, J)
    with np.errstate(all="ignore"):
        try:
            cov_diag = np.einsum("mii->mi", np.linalg.pinv(H))
        except np.linalg.LinAlgError:
            cov_diag = np.full((M, npar), np.inf)
    iA = nb + 3 * np.arange(K)
    A, mu, sg = p[:, iA], p[:, iA + 1], np.abs(p[:, iA + 2])
    with np.errstate(all="ignore"):
        tA = A / np.sqrt(np.maximum(cov_diag[:, iA], 1e-300))
    order = np.argsort(mu, axis=1)
    A, mu, sg, tA = (np.take_along_axis(x, order, axis=1) for x in (A, mu, sg, tA))
    d = E[1] - E[0] if E.size > 1 else 0.0
    at = (mu <= E[0] + d) | (mu >= E[-1] - d)
    if sigma_bounds is not None:
        lo, hi = sigma_bounds
        at |= (sg <= lo) | (sg >= hi)
    return dict(position=mu, sigma=sg, amplitude=A, t_amplitude=tA, at_bound=at, background=p[:, :nb], chi2=chi,
                converged=converged)


def _start_peaks(E, I, n_peaks, positions, disp):
    """Starting positions (M, n_peaks): the given ones, or the highest local maxima above the chord."""
    M = I.shape[0]
    if positions is not None:
        return np.broadcast_to(np.asarray(positions, float), (M, n_peaks)).copy()
    from scipy.ndimage import convolve1d

    k = max(3, int(round(0.1 / disp)) | 1)  # odd: the same Hann moving average as features.smooth, all rows at once
    w = np.hanning(k + 2)[1:-1]
    sm = convolve1d(I, w / w.sum(), axis=1, mode="nearest") if k < E.size else I
    chord = sm[:, :1] + (sm[:, -1:] - sm[:, :1]) * (E - E[0])[None] / max(E[-1] - E[0], 1e-30)
    h = sm - chord
    peak = np.zeros_like(h, bool)
    peak[:, 1:-1] = (h[:, 1:-1] >= h[:, :-2]) & (h[:, 1:-1] > h[:, 2:])
    vals = np.where(peak, h, -np.inf)
    idx = np.argsort(-vals, axis=1)[:, :n_peaks]
    found = np.take_along_axis(vals, idx, axis=1) > -np.inf
    even = E[0] + (E[-1] - E[0]) * (np.arange(n_peaks) + 1) / (n_peaks + 1)
    mu = np.where(found, E[idx], even[None])
    return np.sort(mu, axis=1)


def peaks_block(J, table, energy, core, c_grid, window, count_gain, batch, base_c, scatter, dark, deconvolve,
                n_peaks, positions, background, sigma_bounds, fwhm):
    """Replica Gaussian fits of every spectrum of a block.

    Returns (P, 10 n_peaks + 1): per peak position 50/16/84, FWHM 50/16/84, amplitude 50/16/84 and the
    reason (each block of n_peaks values), then the reduced chi^2 of the median replica.
    """
    from ..zlp.bandgap import MIN_DELTA_CHI2

    J = np.asarray(J, dtype=np.float32)
    check_finite_block(J)
    P, K = J.shape[0], n_peaks
    out = np.empty((P, 10 * K + 1), dtype=np.float32)
    Ew = energy[window]
    disp = float(energy[1] - energy[0])
    nb = 2 if background == "linear" else 1
    dof = max(window.size - nb - 3 * K, 1)
    for a in range(0, P, batch):
        b = min(P, a + batch)
        Iw, wts, Z, R, p = _replica_window(J[a:b], table, energy, core, c_grid, count_gain, base_c, scatter, dark,
                                           window, deconvolve)
        mu0 = _start_peaks(Ew, Iw, K, positions, disp)
        s0 = np.full_like(mu0, max(2 * disp, min(0.1, (Ew[-1] - Ew[0]) / (4 * K))))
        fit = fit_gaussians(Ew, Iw, wts, mu0, s0, background=background, sigma_bounds=sigma_bounds)
        # recorded (and deconvolved, see plasmon_block) spectra are the single scattering convolved with the
        # normalised ZLP, whose centroid is not at 0 eV for an asymmetric ZLP: that shifts every peak by it
        centroid = _zlp_centroid(Z, energy, fwhm)
        fit["position"] = fit["position"] - centroid.reshape(R * p, 1)
        pos = fit["position"].reshape(R, p, K)
        fw = (FWHM_PER_SIGMA * fit["sigma"]).reshape(R, p, K)
        amp = fit["amplitude"].reshape(R, p, K)
        bad = (fit["at_bound"] | ~fit["converged"][:, None]).reshape(R, p, K)
        qs = []
        with np.errstate(all="ignore"), _quiet_nan():
            for x in (pos, fw, amp):
                qs.append(np.nanquantile(np.where(bad, np.nan, x), [0.5, 0.16, 0.84], axis=0))  # (3, p, K)
        chi = np.median(fit["chi2"].reshape(R, p), axis=0) / dof
        f = np.sqrt(np.maximum(chi, 1.0))[None, :, None]
        for q in qs:
            q[1], q[2] = q[0] - (q[0] - q[1]) * f[0], q[0] + (q[2] - q[0]) * f[0]
        at = fit["at_bound"].reshape(R, p, K).mean(axis=0) > 0.5
        nc = np.broadcast_to((~fit["converged"]).reshape(R, p, 1), (R, p, K)).mean(axis=0) > 0.5
        tA = np.median(np.nan_to_num(fit["t_amplitude"]).reshape(R, p, K), axis=0)
        reason = np.where(tA**2 < MIN_DELTA_CHI2, 3, np.where(at, 1, np.where(nc, 2, 0)))
        for q in qs:
            q[:, reason != 0] = np.nan
        cols = [np.moveaxis(q, 0, 1).reshape(p, 3, K).reshape(p, 3 * K) for q in qs]  # (p, [50 x K, 16 x K, 84 x K])
        out[a:b] = np.concatenate(cols + [reason.astype(float), chi[:, None]], axis=1)
    return out


def default_peak_window(result, n_peaks=1, z=3.0):
    """Peak fit window from the data: ``(lo, hi)`` in eV around the ``n_peaks`` lowest resolved peaks.

    The pixel-averaged inelastic signal is smoothed over the ZLP FWHM (the
    resolution) and searched from the band-gap window's start (:func:`~.bandgap.default_window`:
    above the region where the networks fit the data) up to its maximum
    beyond it (the bulk plasmon, or the end of the axis), which is not itself
    a candidate. A local maximum counts when its prominence exceeds ``z``
    standard deviations of the smoothed mean (from the pixels' 68 % inelastic
    bands); the ``n_peaks`` lowest in energy are taken (excitons and the first
    interband peaks come first above the gap; a broad interband maximum
    higher up would otherwise win). The window runs from 2 FWHM (at half
    prominence) below the lowest chosen peak to 2 FWHM above the highest,
    but not beyond the smoothed signal's minimum between them and the
    neighbouring structure (the previous/next local maximum, or the onset
    that rises to the searched range's end).
    Raises :class:`EnergyRangeError` when no peak is resolved.
    """
    from scipy.signal import find_peaks, peak_widths

    from .bandgap import default_window
    from .features import smooth

    model, v = result.model, result._v
    e, disp = v.energy, v.dispersion
    lo0 = default_window(result)[0]
    P = max(int(np.prod(v.navigation_shape)) if v.navigation_shape else 1, 1)

    def pixel_mean(sig):
        d = sig.data.reshape(-1, e.size)
        m = d.mean(axis=0) if not isinstance(d, da.Array) else d.mean(axis=0).compute()
        return np.asarray(m, float)

    mean = pixel_mean(result.inelastic)
    half = 0.5 * (pixel_mean(result.inelastic_upper) - pixel_mean(result.inelastic_lower))
    n = max(3, int(round(model.fwhm / disp)) | 1)
    sm = smooth(mean, n)
    # variance of the smoothed pixel mean: per-channel variance half^2 / P through the smoothing kernel
    k = np.hanning(n + 2)[1:-1]
    k /= k.sum()
    sd = np.sqrt(np.convolve(np.pad(half**2 / P, (n, n), mode="edge"), k**2, mode="same")[n:-n])
    idx = np.flatnonzero(e >= lo0)
    if idx.size < 5:
        raise EnergyRangeError(f"fit_peaks: no channels above {lo0:g} eV to search for peaks; give energy_range")
    top = idx[int(np.argmax(sm[idx]))]
    idx = idx[idx <= top]
    found = np.zeros(0, int)
    if idx.size >= 3:
        pk, props = find_peaks(sm[idx], prominence=0.0)
        sig = props["prominences"] > z * sd[idx][pk]
        found = pk[sig][:n_peaks]  # the lowest-energy resolved peaks (excitons come first above the gap)
    if found.size < n_peaks:
        raise EnergyRangeError(
            f"fit_peaks: {found.size} resolved peak(s) (prominence above {z:g} sigma of the pixel-averaged "
            f"inelastic signal) between {lo0:g} and {e[top]:g} eV, {n_peaks} asked for: give energy_range")
    w = peak_widths(sm[idx], found, rel_height=0.5)[0] * disp  # FWHM at half prominence (eV)
    E, y = e[idx], sm[idx]
    # ... but not beyond the valleys that separate the chosen peaks from the next structure (onset, next peak)
    nxt = pk[sig][n_peaks] if np.sum(sig) > n_peaks else y.size - 1
    v_hi = found[-1] + int(np.argmin(y[found[-1]:nxt + 1]))
    prev = pk[sig][:np.searchsorted(pk[sig], found[0])]
    start = prev[-1] if prev.size else 0
    v_lo = start + int(np.argmin(y[start:found[0] + 1]))
    lo = max(float(E[found[0]] - 2 * max(w[0], model.fwhm)), float(E[v_lo]))
    hi = min(float(E[found[-1]] + 2 * max(w[-1], model.fwhm)), float(E[v_hi]) if v_hi > found[-1] else float(E[-1]))
    return lo, hi


def fit_peaks_replicas(result, energy_range=None, n_peaks=1, *, positions=None, background="linear",
                       deconvolve=False, show_progressbar=None, lazy_output=None):
    """See :meth:`hyperspy_eels_ml.zlp.ZLPResult.fit_peaks`."""
    from .._shared.params import check_int
    from .result import PeakResult

    v, model = result._v, result.model
    e = v.energy
    disp = v.dispersion
    n_peaks = check_int("n_peaks", n_peaks, min=1)
    if background not in ("linear", "constant"):
        raise ParameterError(f"fit_peaks: background must be 'linear' or 'constant', got {background!r}")
    if energy_range is None:
        energy_range = default_peak_window(result, n_peaks)
    lo, hi = parse_loss_range(e, energy_range, what="fit_peaks: ")
    window = np.flatnonzero((e >= lo) & (e <= hi))
    nb = 2 if background == "linear" else 1
    need = 2 * (nb + 3 * n_peaks)
    if window.size < need:
        raise EnergyRangeError(f"fit_peaks: energy_range ({lo:g}, {hi:g}) eV holds only {window.size} channels of "
                               f"{disp:g} eV; {n_peaks} Gaussian peak(s) on a {background} background "
                               f"({nb + 3 * n_peaks} parameters) need at least {need}")
    if positions is not None:
        positions = np.sort(np.atleast_1d(np.asarray(positions, float)))
        if positions.shape != (n_peaks,) or not np.all((positions > lo) & (positions < hi)):
            raise EnergyRangeError(f"fit_peaks: positions {positions.tolist()} must be {n_peaks} energies inside "
                                   f"energy_range ({lo:g}, {hi:g}) eV")
    lazy_output = v.lazy if lazy_output is None else bool(lazy_output)
    c_grid, table = model.log_zlp_table(e)
    R = table.shape[0]
    batch = int(max(1, min(64, 1_500_000 // max(R * e.size, 1))))
    K = n_peaks
    out = map_spectra(as_dask(v.data), peaks_block, 10 * K + 1, np.float32,
                      extra_args=(dask.delayed(table, pure=True),), energy=e, core=model.core, c_grid=c_grid,
                      window=window, count_gain=float(result.count_gain), batch=batch,
                      base_c=np.asarray(model.clusters["c"], float), scatter=model.scatter_table(),
                      dark=model.dark_level, deconvolve=bool(deconvolve), n_peaks=K, positions=positions,
                      background=background, sigma_bounds=(max(0.5 * disp, MIN_WIDTH_PER_ZLP * model.fwhm / FWHM_PER_SIGMA),
                                                           0.5 * (hi - lo)), fwhm=float(model.fwhm))
    if not v.navigation_shape:
        out = out[0]
    parts = [out[..., k * K:(k + 1) * K] for k in range(10)] + [out[..., 10 * K]]
    if not lazy_output:
        parts = list(compute(*parts, show_progressbar=show_progressbar))
    names = PeakResult._signals
    titles = ("Peak position (eV)", "Peak position 16 %", "Peak position 84 %", "Peak FWHM (eV)", "Peak FWHM 16 %",
              "Peak FWHM 84 %", "Peak amplitude (counts/channel)", "Peak amplitude 16 %", "Peak amplitude 84 %",
              "Peak fit reason (0 fitted, 1 bound, 2 not converged, 3 no peak)", "Peak fit reduced chi^2")
    quantities = ("eV",) * 6 + ("counts",) * 3 + ("reason", "chi2")
    # parts order: pos50, pos16, pos84, fw50, fw16, fw84, amp50, amp16, amp84, reason, chi2
    params = dict(energy_range=[lo, hi], n_peaks=K, positions=None if positions is None else positions.tolist(),
                  background=background, deconvolve=bool(deconvolve), n_replicas=model.n_replicas,
                  method="vectorised Levenberg-Marquardt, Gaussian peaks on a polynomial background")
    axis = dict(name="Peak", units="", offset=0.0, scale=1.0)
    sigs = {}
    for name, data, title, q in zip(names, parts, titles, quantities):
        data = data if isinstance(data, da.Array) else np.asarray(data)
        m = navigation_map(v.signal, data, title, quantity=q) if name == "chi2" else \
            per_pixel_spectra(v.signal, data, axis, title, quantity=q)
        record_provenance(m, "zlp.ZLPResult.fit_peaks", params, extra=dict(output=name))
        sigs[name] = m
    res = PeakResult(energy_range=(lo, hi), n_peaks=K, deconvolved=bool(deconvolve),
                     _navigation_shape=tuple(v.navigation_shape), **sigs)
    if not lazy_output:
        warn_peaks(res)
    return res


def warn_peaks(res):
    """Warn (naming the pixels) where a peak fit returned NaN."""
    lo, hi = res.energy_range
    r = np.asarray(res.reason.data)
    for k in range(res.n_peaks):
        for code in (1, 2, 3):
            where = nan_pixels(r[..., k], code)
            if where:
                warn(f"fit_peaks({lo:g}-{hi:g} eV): peak {k}: {PEAK_REASONS[code]} for {where}: NaN there; move or "
                     "widen energy_range, or change n_peaks.", UserWarning)
