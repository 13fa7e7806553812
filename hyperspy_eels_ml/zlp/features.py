"""Pixel layer of the ZLP capability: per-spectrum features, regions, noise, the replica ZLPs of a pixel.

Everything here is plain numpy on 2-D blocks ``J`` of shape (pixels, channels);
no signals, no dask, no TensorFlow.
"""

from __future__ import annotations

import numpy as np

from .network import interp_rows

__all__ = ["core_window", "pixel_features", "fwhm", "smooth", "zlp_centres", "noise_sd", "interp_clusters",
           "departure_from_vacuum", "vacuum_noise_end", "upper_envelope", "estimate_dark_level",
           "pixel_zlp_replicas", "auto_dE1", "vacuum_dE1",
           "significant_minimum", "smoothed_variance", "read_noise", "count_gain_terms", "estimate_count_gain"]


def core_window(fwhm_, dispersion):
    """(low, high) eV of the ZLP core whose counts scale each pixel's ZLP."""
    h = max(1.5 * fwhm_, 3 * dispersion)
    return (-h, h)


def pixel_features(J, energy, core):
    """Scale ``s`` (core counts) and thickness proxy ``c = ln(total / core)`` of every spectrum (rows of J)."""
    m = (energy >= core[0]) & (energy <= core[1])
    s = J[:, m].sum(axis=1)
    tot = np.clip(J, 0, None).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.log(np.maximum(tot, 1e-30) / np.maximum(s, 1e-30))
    return s, c


def fwhm(energy, y):
    """FWHM of the highest peak of ``y`` (half-maximum crossings interpolated; at least one channel)."""
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


def smooth(y, n):
    """Hann-window moving average of ``y`` over ``n`` channels (edges padded)."""
    n = max(int(n), 1)
    if n == 1:
        return y
    k = np.hanning(n + 2)[1:-1]
    k /= k.sum()
    pad = np.pad(y, (n, n), mode="edge")
    return np.convolve(pad, k, mode="same")[n:-n]


def variance_counts(J, dispersion, width=0.25, max_channels=51):
    """Counts from which fit weights are computed: ``J`` smoothed along the energy axis (rows).

    Weights ``1 / counts`` from the observed counts themselves (Neyman's chi^2)
    favour channels that fluctuated low, which biases a band-gap onset upwards
    (+0.07 eV on the simulated benchmark SI with the true ZLP subtracted, 3x the
    replica interval); a moving average over ``width / dispersion`` channels (3 to
    ``max_channels``; 11 at 25 meV/ch) removes that correlation (+0.01 eV).
    """
    from scipy.ndimage import uniform_filter1d

    n = int(max(3, min(max_channels, round(width / dispersion)))) | 1
    return uniform_filter1d(np.asarray(J, dtype=np.float64), n, axis=-1, mode="nearest")


def zlp_centres(J, energy):
    """Sub-channel position (eV) of every spectrum's maximum: a parabola through the top three channels."""
    i = np.clip(np.argmax(J, axis=1), 1, energy.size - 2)
    r = np.arange(J.shape[0])
    y0, y1, y2 = J[r, i - 1], J[r, i], J[r, i + 1]
    den = y0 - 2 * y1 + y2
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.where(den < 0, 0.5 * (y0 - y2) / den, 0.0)
    return energy[i] + np.clip(off, -0.5, 0.5) * (energy[1] - energy[0])


def read_noise(J, energy, fwhm_, count_gain=1.0, n_sigma=3.0):
    """Signal-independent noise (read noise, counts) of the spectra ``J``: ``(sd, how)``; 0 when not significant.

    From second differences ``d = J[i-1] - 2 J[i] + J[i+1]`` beyond 5 FWHM of the
    ZLP: for counting noise plus a read noise ``r``, ``var d = count_gain
    (J[i-1] + 4 J[i] + J[i+1]) + 6 r^2``, so the mean of ``(d^2 - count_gain (...)) / 6``
    estimates ``r^2`` (a smooth signal adds little to ``d``). Kept when above
    ``n_sigma`` standard errors of that mean, else 0 (pure counting noise).
    """
    J = np.asarray(J, dtype=np.float64)
    far = np.abs(energy[1:-1]) > 5 * fwhm_
    if far.sum() < 20:
        return 0.0, "not estimable (fewer than 20 channels beyond 5 FWHM)"
    d = (J[:, :-2] - 2 * J[:, 1:-1] + J[:, 2:])[:, far]
    lam = np.clip(J, 0, None)
    pois = count_gain * (lam[:, :-2] + 4 * lam[:, 1:-1] + lam[:, 2:])[:, far]
    est = ((d**2 - pois) / 6.0).ravel()
    m = float(est.mean())
    se = float(est.std(ddof=1) / np.sqrt(est.size / 2.0))  # neighbouring second differences are correlated
    if m <= n_sigma * se:
        return 0.0, f"not significant ({m:.3g} +- {se:.2g} counts^2)"
    return float(np.sqrt(m)), f"{np.sqrt(m):.3g} counts per channel (second differences beyond 5 FWHM)"


def noise_sd(J, zlp, scatter, count_gain, read_var=0.0):
    """Standard deviation of one spectrum's inelastic signal ``J - zlp`` per channel (the one noise model).

    Counting noise of the recorded counts (variance ``count_gain x J``, with at
    least one detected electron, ``count_gain^2``, per channel so that empty
    channels keep a finite weight) plus the spectrum-to-spectrum scatter of the
    ZLP shape (``scatter`` relative to the ZLP), plus ``read_var`` (counts^2, a
    signal-independent read noise, :func:`read_noise`). Scale-free: data x a with
    ``count_gain`` x a give sd x a.
    """
    g = float(count_gain)
    return np.sqrt(g * np.maximum(J, g) + read_var + (scatter * zlp) ** 2)


def interp_clusters(c, base_c, table):
    """Rows of ``table`` (K, n_E) interpolated linearly at the pixels' c (clipped): (P, n_E)."""
    return interp_rows(c, base_c, table, axis=0)


def pixel_zlp_replicas(J, energy, core, c_grid, table, cols=None):
    """ZLP of every replica for every spectrum in J: (R, P, n_cols), scaled to the core counts.

    Returns ``(Z, s, c)``: the replica ZLPs, the core counts and the thickness proxies.
    """
    s, c = pixel_features(J, energy, core)
    m = (energy >= core[0]) & (energy <= core[1])
    logz = interp_rows(c, c_grid, table, axis=1)  # (R, P, E)
    logz -= logz[:, :, m].max(axis=2, keepdims=True)
    z = np.exp(logz)
    scale = s[None, :] / np.maximum(z[:, :, m].sum(axis=2), 1e-30)
    if cols is not None:
        z = z[:, :, cols]
    return z * scale[:, :, None].astype(np.float32), s, c


def smoothed_variance(mean, n, counts, count_gain=1.0, read_var=0.0, n_spectra=1):
    """Poisson variance of :func:`smooth` ``(mean, n)`` when ``mean`` holds ``counts`` x counts per channel.

    ``mean`` is a normalised spectrum (counts / ``counts``): its smoothed value at a
    channel has variance ``count_gain sum_j k_j^2 mean_(i-j) / counts`` for the Hann
    kernel ``k`` of :func:`smooth`; a read noise of variance ``read_var`` (counts^2
    per channel of each of ``n_spectra`` summed spectra) adds
    ``n_spectra read_var sum_j k_j^2 / counts^2``.
    """
    n = max(int(n), 1)
    extra = n_spectra * read_var / counts**2
    if n == 1:
        return count_gain * np.clip(mean, 0, None) / counts + extra
    k = np.hanning(n + 2)[1:-1]
    k /= k.sum()
    pad = np.pad(np.clip(mean, 0, None), (n, n), mode="edge")
    return (count_gain * np.convolve(pad, k**2, mode="same")[n:-n] / counts + extra * float((k**2).sum()))


def significant_minimum(sm, var, start, n_smooth, alpha=0.01):
    """Index of the first minimum of ``sm`` (from ``start``) that the data resolve, or None.

    A minimum counts when, at some later channel, the smoothed spectrum rises above
    it by more than ``z`` standard deviations of the difference (``var`` per channel),
    with ``z`` the one-sided Bonferroni threshold for a false alarm with probability
    ``alpha`` over the ``(size - start) / n_smooth`` independent points of the smoothed
    tail (z is 3.3-4.5 for 10-10^4 points). Noise in a ZLP-only tail does not trigger
    it, an inelastic onset does.
    """
    from scipy.special import ndtri

    y, v = sm[start:], var[start:]
    if y.size < 3:
        return None
    n_ind = max(y.size / max(int(n_smooth), 1), 1.0)
    z = float(-ndtri(alpha / n_ind))
    idx = np.arange(y.size)
    cm = np.minimum.accumulate(y)
    am = np.maximum.accumulate(np.where(y <= cm, idx, 0))  # where the running minimum sits
    hit = np.flatnonzero(y - cm > z * np.sqrt(v + v[am]))
    return int(start + am[hit[0]]) if hit.size else None


def auto_dE1(energy, mean_norm, fwhm_, dispersion, shift=0.7, counts=None, count_gain=1.0, read_var=0.0,
             n_spectra=1):
    """``shift`` x the first minimum after the ZLP of the smoothed mean spectrum (EELSfitter v2's rule).

    Returns ``(dE1, E_valley)``; ``E_valley`` is NaN when the spectrum has no minimum
    (then the energy where it falls to 1e-3 of its peak is used). With ``counts`` (the
    number of counts that ``mean_norm`` is normalised by) only a minimum the counts
    resolve is taken (:func:`significant_minimum`): in a ZLP-only spectrum (vacuum,
    no inelastic onset) the first noise wiggle of the tail is not a minimum.
    """
    n = round(2 * fwhm_ / dispersion) + 1
    sm = smooth(mean_norm, n)
    start = np.searchsorted(energy, 1.5 * fwhm_)
    floor = 2.5 * fwhm_ + dispersion
    if counts is not None:
        i = significant_minimum(sm, smoothed_variance(mean_norm, n, counts, count_gain, read_var, n_spectra), start,
                                n)
        if i is not None:
            return max(shift * energy[i], floor), energy[i]
    else:
        rising = np.flatnonzero(np.diff(sm)[start:] > 0)
        if rising.size:
            e_valley = energy[start + rising[0]]
            return max(shift * e_valley, floor), e_valley
    below = np.flatnonzero((energy > 0) & (sm < 1e-3 * sm.max()))
    e = energy[below[0]] if below.size else energy[-1] / 2
    return max(shift * e, floor), np.nan


def vacuum_dE1(energy, mean, fwhm_, dispersion, count_gain=1.0, n_spectra=None, read_var=0.0):
    """End of the fitted region of a vacuum reference: its tail reaches the noise floor.

    The first minimum of the smoothed mean spectrum after ``2 FWHM``, or where it
    falls below ``max(20 count_gain, 1e-5 peak)``, whichever comes first. With
    ``n_spectra`` (``mean`` is the mean of that many spectra) only a minimum that the
    counts resolve is taken (:func:`significant_minimum`), not a noise wiggle of the tail.
    """
    n = round(2 * fwhm_ / dispersion) + 1
    sm = smooth(mean, n)
    start = np.searchsorted(energy, 2 * fwhm_)
    if n_spectra is not None:
        # the mean of n spectra: variance (count_gain mean + read_var) / n per channel
        i = significant_minimum(sm, smoothed_variance(mean, n, n_spectra, count_gain, read_var * n_spectra, 1),
                                start, n)
        minima = [] if i is None else [energy[i]]
    else:
        rising = np.flatnonzero(np.diff(sm[start:]) > 0)
        minima = [energy[start + rising[0]]] if rising.size else []
    floor = 1.0 if n_spectra is not None else 20.0
    low = np.flatnonzero((energy > 2 * fwhm_) & (sm < max(floor * count_gain, 1e-5 * sm.max())))
    cands = [energy[-1]] + minima + ([energy[low[0]]] if low.size else [])
    return min(cands)


def departure_from_vacuum(energy, S, s_sum, V, v_sum, fwhm_, dispersion, count_gain=1.0, rel_tol=0.2):
    """First energy (> 2 FWHM) where the specimen's log-slope departs from the vacuum reference's.

    After Roest et al. (2021): the ZLP-dominated region ends where the first
    derivative of the specimen spectrum departs from that of the vacuum
    spectrum. Implemented on ``d ln I / dE`` of the summed spectra ``S`` and ``V``
    (smoothed over ~2 FWHM): the specimen must decay more slowly than the vacuum
    by more than ``rel_tol`` of the vacuum's slope and by 3 sigma of the counting
    noise, over 3 consecutive channels. NaN when it never departs.
    """
    n = round(2 * fwhm_ / dispersion) + 1
    Ss = smooth(np.clip(S, 0, None), n)
    Vs = smooth(np.clip(V, 0, None), n)
    g = float(count_gain)
    with np.errstate(divide="ignore", invalid="ignore"):
        ls, lv = np.log(np.maximum(Ss, g)), np.log(np.maximum(Vs, g))
        ds, dv = np.gradient(ls, energy), np.gradient(lv, energy)
        # slope noise of a smoothed log spectrum over n channels
        noise = np.sqrt(2.0 * g / (np.maximum(Ss, g) * n)) / (n * dispersion) + \
            np.sqrt(2.0 * g / (np.maximum(Vs, g) * n)) / (n * dispersion)
    cond = (energy > 2 * fwhm_) & (dv < 0) & (ds - dv > np.maximum(rel_tol * np.abs(dv), 3 * noise))
    run = cond[:-2] & cond[1:-1] & cond[2:]
    hit = np.flatnonzero(run)
    return float(energy[hit[0]]) if hit.size else np.nan


def vacuum_noise_end(energy, V, n_spectra, fwhm_, dispersion, count_gain=1.0):
    """First energy (> 2 FWHM) where one vacuum spectrum's tail falls below 3 sigma of its own noise.

    Roest et al. (2021) take dE2 where the vacuum intensity drops to its noise
    level; ``end of axis`` if it never does.
    """
    g = float(count_gain)
    mean = smooth(V / max(n_spectra, 1), round(2 * fwhm_ / dispersion) + 1)
    low = np.flatnonzero((energy > 2 * fwhm_) & (mean < 3 * np.sqrt(g * np.maximum(mean, g))))
    return float(energy[low[0]]) if low.size else float(energy[-1])


def upper_envelope(energy, Jk, sk, pe, count_gain, fwhm_, dispersion):
    """log upper envelope of a cluster's normalised mean spectrum on the energies ``pe``.

    At each ``pe`` the largest ``S + 3 sqrt(count_gain S)`` of the cluster-sum
    spectrum ``S`` over the channels within half the grid spacing (at least one
    channel either side), divided by the cluster's core counts: the ZLP may not
    exceed it beyond the noise.
    """
    S = np.clip(Jk, 0, None).sum(axis=0)
    up = (S + 3 * np.sqrt(count_gain * np.maximum(S, count_gain))) / max(float(np.sum(sk)), 1e-30)
    half = np.maximum(np.gradient(pe) / 2, dispersion * 1.01)
    lo_i = np.searchsorted(energy, pe - half)
    hi_i = np.searchsorted(energy, pe + half, side="right")
    out = np.empty(pe.size)
    for j, (a, b) in enumerate(zip(lo_i, hi_i)):
        b = max(b, a + 1)
        out[j] = up[min(a, up.size - 1):min(b, up.size)].max() if a < up.size else up[-1]
    return np.log(out)


def estimate_dark_level(energy, J, fwhm_, dispersion, count_gain=1.0, vacuum=False):
    """Detector offset (counts per channel) from the ZLP tail: ``(level, how)``.

    Fits ``a / (x^2 + gamma^2)^(p/2) + d`` (a Pearson-VII-like tail plus a
    constant, ``1 <= p <= 4``: detector point-spread tails, ``p = 2`` is
    Lorentzian) to the mean spectrum at ``x = |E|`` beyond 3 FWHM: on the loss side
    of the vacuum reference when there is one (``vacuum=True``), else on the
    energy-gain side (no inelastic signal there). The offset ``d`` is used only
    when it is significant (3 sigma), the tail is long enough to separate it
    from the power law (20 channels spanning a factor 3 in ``x``) and it is
    consistent with the data (not above the lowest tail level, the smallest of
    10 block means, and negative only where that level is); otherwise 0.
    Fitted on the gain side, it is compared with the lowest level of the loss
    side beyond 3 FWHM (the minimum of the mean spectrum smoothed over one
    FWHM): a recorded spectrum is offset + signal with signal >= 0, so where the
    loss side lies significantly below the gain-side offset the offset is not
    constant along the axis and the constant over-subtracts there. The
    gain-side level is kept (it holds where the ZLP, gap and plasmons are) and
    ``how`` says so, with the largest constant that subtracts no more than the
    data anywhere; one spectrum cannot tell an axis-dependent offset from
    signal, so no profile is guessed.
    """
    from scipy.optimize import least_squares

    J = np.asarray(J, float)
    n = J.shape[0]
    S = J.sum(axis=0)
    x0 = 3 * fwhm_
    sel = (energy > x0) if vacuum else (energy < -x0)
    side = "vacuum loss side" if vacuum else "gain side"
    x = np.abs(energy[sel])
    if sel.sum() < 20 or x.max() / max(x.min(), 1e-12) < 3:
        return 0.0, f"not estimable ({side} beyond 3 FWHM too short)"
    y = S[sel] / n
    sd = np.sqrt(count_gain * np.maximum(np.abs(S[sel]), count_gain)) / n
    tail0 = max(float(np.median(y[:5])), 1e-30)

    def model(t):
        return np.exp(t[0]) / (x**2 + np.exp(2 * t[1])) ** (t[2] / 2) + t[3]

    t0 = np.array([np.log(tail0 * x.min() ** 2), np.log(fwhm_), 2.0, 0.0])
    try:
        r = least_squares(lambda t: (model(t) - y) / sd, t0, x_scale="jac", max_nfev=400,
                          bounds=([-np.inf, np.log(fwhm_) - 4, 1.0, -np.inf], [np.inf, np.log(fwhm_) + 4, 4.0, np.inf]))
        jac = r.jac
        cov = np.linalg.pinv(jac.T @ jac) * max(2 * r.cost / max(y.size - 4, 1), 1.0)
        d, d_sd = float(r.x[3]), float(np.sqrt(max(cov[3, 3], 0)))
    except (ValueError, np.linalg.LinAlgError):
        return 0.0, f"not estimable (the {side} fit failed)"
    if not np.isfinite(d) or abs(d) < 3 * d_sd:
        return 0.0, f"not significant on the {side} ({d:.3g} +- {d_sd:.2g} counts)"
    chunks = np.array_split(np.arange(y.size), 10)
    means = np.array([y[c].mean() for c in chunks])
    errs = np.array([y[c].std(ddof=1) / np.sqrt(c.size) if c.size > 1 else np.inf for c in chunks])
    i_low = int(np.argmin(means))
    lowest, tol = float(means[i_low]), float(3 * errs[i_low] + 3 * d_sd)
    if (d < 0 and lowest > tol) or d > lowest + tol:
        # an offset lies below the lowest tail level, and is negative only where the data go negative
        return 0.0, (f"not identifiable on the {side} (fitted {d:.3g} counts against a lowest tail level of "
                     f"{lowest:.3g}: tail and offset degenerate)")
    how = f"fitted on the {side} ({d:.4g} +- {d_sd:.2g} counts)"
    if not vacuum:
        # the gain side gives the offset there; where the loss side's lowest level lies below it the offset is not
        # constant along the axis, and the constant over-subtracts there: said, with the largest safe constant
        loss = np.flatnonzero(energy > x0)
        width = int(max(5, round(fwhm_ / dispersion)))  # smoothing over one FWHM (at least 5 channels)
        if loss.size >= 4 * width:
            sm = smooth(S[loss] / n, width)
            j = int(np.argmin(sm))
            err = np.sqrt(count_gain * max(float(S[loss][j]), count_gain) / width) / n
            if d > sm[j] + 3 * err + 3 * d_sd:
                how += (f"; not constant along the axis: the loss side falls to {sm[j]:.4g} counts at "
                        f"{energy[loss[j]]:.4g} eV, where this level over-subtracts (dark_level={sm[j]:.3g} is "
                        "the largest constant that subtracts no more than the smoothed data anywhere)")
    return d, how


#: third difference of consecutive block sums: annihilates a quadratic trend (Gasser et al. 1986)
_D3 = np.array([1.0, -3.0, 3.0, -1.0]) / np.sqrt(20.0)
#: median of chi^2 with one degree of freedom (D^2 / E[D^2] for Gaussian D)
_MEDIAN_CHI2_1 = 0.454936423119572
#: asymptotic sd of the sample median of chi^2_1 over the median, x sqrt(n): 1 / (2 f(m) m), f the chi^2_1 density
_MEDIAN_CHI2_1_RSD = 2.3334
#: windows per independent one, in units of ``block``, for the median of overlapping third differences: 1 + 2 sum_s
#: of the correlation of the indicators 1{D_i^2 < median} at shift s (bivariate normal; 0.450 x block at 32, 0.489 at 8)
_MEDIAN_SPAN = 0.45


def _count_gain_inputs(energy, J, fwhm_, block, min_fwhm, flatness, variance=None, reference=None):
    """Checked inputs of :func:`count_gain_terms`: ``(energy, J, L, variance, reference)`` (the last two: J where
    None); a ParameterError names what is wrong."""
    from .._shared.exceptions import ParameterError

    energy = np.asarray(energy, dtype=np.float64)
    J = np.atleast_2d(np.asarray(J, dtype=np.float64))
    if energy.ndim != 1 or J.ndim != 2 or J.shape[1] != energy.size:
        raise ParameterError(f"count gain: J must be (spectra, channels) on the energy axis of {energy.size} "
                             f"channels, got J of shape {J.shape} and energy of shape {energy.shape}")
    extra = []
    for name, x in (("variance", variance), ("reference", reference)):
        x = J if x is None else np.atleast_2d(np.asarray(x, dtype=np.float64))
        if x.shape != J.shape:
            raise ParameterError(f"count gain: {name} must have the shape of J {J.shape}, got {x.shape}")
        extra.append(x)
    if isinstance(block, bool) or not float(block).is_integer() or int(block) < 1:
        raise ParameterError(f"count gain: block must be a whole number of channels >= 1, got {block!r}")
    for name, x in (("fwhm_", fwhm_), ("min_fwhm", min_fwhm), ("flatness", flatness)):
        if not np.isfinite(x) or x <= 0:
            raise ParameterError(f"count gain: {name} must be a finite number > 0, got {x!r}")
    return energy, J, int(block), extra[0], extra[1]


def count_gain_terms(energy, J, fwhm_, block=32, min_fwhm=5.0, flatness=0.3, *, variance=None, reference=None):
    """Per-window terms of :func:`estimate_count_gain`: ``(D^2, M)`` (1-D arrays).

    For every spectrum of ``J`` (dark-subtracted counts, (pixels, channels)) and
    every contiguous run of channels beyond ``min_fwhm`` FWHM of the ZLP on
    either side: moving block sums ``B_i`` of ``block`` channels, their third
    difference ``D_i = sum_j d_j B_(i + j block)`` with ``d = (1, -3, 3, -1) /
    sqrt(20)`` (zero for any quadratic trend) and ``M_i = sum_j d_j^2 B_(i + j
    block)``. For counting noise of ``g`` counts per electron ``E[D_i^2] = g M_i``
    whatever the correlation between channels shorter than ``block`` (block sums
    keep the long-run variance; the edge loss is ``2 sum_k k rho_k / block``).
    Windows whose four block sums differ by more than a factor ``1 +
    flatness`` (steep ZLP tails, onsets), hold a non-positive sum, or hold a
    non-finite channel are left out.

    Parameters
    ----------
    energy : numpy.ndarray
        (channels,) energy axis (eV), ZLP at 0.
    J : numpy.ndarray
        (spectra, channels) or (channels,) dark-subtracted counts.
    fwhm_ : float
        ZLP FWHM (eV), > 0.
    block : int
        Channels per block, >= 1.
    min_fwhm : float
        Channels within this many FWHM of 0 eV are not used.
    flatness : float
        Largest relative spread of the four block sums of a window.
    variance : numpy.ndarray, optional
        Shape of ``J``: what ``M`` sums instead of ``J``, the variance of ``J``'s noise per unit gain (for the
        difference ``A - s B`` of two spectra of independent counting noise, ``A + s**2 B``). Default ``J``.
    reference : numpy.ndarray, optional
        Shape of ``J``: the spectra whose block sums must be positive and flat (``flatness``) for a window to
        be used, instead of ``J`` (e.g. ``A`` for ``A - s B``, which sits near zero). Default ``J``.

    Returns
    -------
    D2, M : numpy.ndarray
        Squared third differences and their expected value per unit gain, one per usable window.

    Raises
    ------
    ParameterError
        Shapes that do not match, a block that is not a whole number >= 1, or a
        non-positive or non-finite ``fwhm_``, ``min_fwhm`` or ``flatness``.
    """
    energy, J, L, V, R = _count_gain_inputs(energy, J, fwhm_, block, min_fwhm, flatness, variance, reference)
    far = np.abs(energy) > min_fwhm * fwhm_
    segs = []
    for side in (energy < 0, energy > 0):
        idx = np.flatnonzero(far & side)
        if idx.size:
            cut = np.flatnonzero(np.diff(idx) > 1) + 1
            segs += [s for s in np.split(idx, cut) if s.size >= 4 * L]
    D2, M = [], []
    own_v, own_r = V is J, R is J  # the defaults: J's own block sums serve (no second pass)
    for s in segs:
        x, v, r = (a[:, s[0]:s[-1] + 1] for a in (J, V, R))
        fin = np.isfinite(x)
        if not (own_v and own_r):
            fin = fin & np.isfinite(v) & np.isfinite(r)
        zero = np.zeros((x.shape[0], 1))
        nb = np.concatenate([zero, np.cumsum(~fin, axis=1)], axis=1)
        n = x.shape[1] - 4 * L + 1  # windows of four consecutive blocks
        if n < 1:
            continue

        def blocks(y):
            c = np.concatenate([zero, np.cumsum(np.where(fin, y, 0.0), axis=1)], axis=1)
            B = c[:, L:] - c[:, :-L]  # moving sums, (pixels, n + 3 L)
            return np.stack([B[:, j * L:j * L + n] for j in range(4)])  # (4, pixels, n)

        Bs = blocks(x)
        Bv = Bs if own_v else blocks(v)
        Br = Bs if own_r else blocks(r)
        D = np.tensordot(_D3, Bs, axes=1)
        Mi = np.tensordot(_D3**2, Bv, axes=1)
        lo, hi = Br.min(axis=0), Br.max(axis=0)
        clean = (nb[:, 4 * L:4 * L + n] - nb[:, :n]) == 0  # no non-finite channel in the window's 4 blocks
        ok = clean & (lo > 0) & (hi <= (1.0 + flatness) * lo)
        D2.append((D**2)[ok])
        M.append(Mi[ok])
    if not D2:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(D2), np.concatenate(M)


def gain_from_terms(D2, M):
    """Counts per electron from the terms of :func:`count_gain_terms`: ``median(D2 / M) / 0.4549`` (the median of
    chi^2_1; no check of the number of terms, see :func:`estimate_count_gain`)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.median(np.asarray(D2) / np.asarray(M)) / _MEDIAN_CHI2_1)


def estimate_count_gain(energy, J, fwhm_, block=32, min_fwhm=5.0, flatness=0.3, min_terms=50, *, variance=None,
                        reference=None):
    """Detector counts per electron from the data: ``(g, se, how)``.

    Photon-transfer (mean-variance) gain (Janesick, *Photon Transfer*, SPIE
    PM170, 2007): ``g = var / mean`` of the counting noise, where the variance
    is the long-run one (the sum of all autocovariances: blur or crosstalk
    between channels lowers the per-channel variance but keeps sums, the
    inter-pixel-capacitance correction of Moore, Ninkov & Forrest, Opt. Eng. 45
    (2006) 076402), estimated by batch means (block sums of ``block`` channels;
    Flegal & Jones, Ann. Stat. 38 (2010) 1034) with the smooth signal removed
    by a difference-based estimator (third differences of the block sums,
    Gasser, Sroka & Jennen-Steinmetz, Biometrika 73 (1986) 625; Hall & Van
    Keilegom, JRSS-B 65 (2003) 443 for correlated errors), as the slope of
    variance against mean in smooth regions (Foi et al., IEEE TIP 17 (2008)
    1737): ``g = median(D^2 / M) / 0.4549`` over the terms of
    :func:`count_gain_terms` (the median of chi^2_1; robust against the few
    windows where a curvature is left).

    Because it is the long-run variance, a per-channel reduced chi^2 computed
    with this ``g`` is about ``1 / (1 + 2 sum_k rho_k)`` (``rho_k`` the
    channel autocorrelation), well below 1 for correlated noise: 0.14-0.22 on
    simulated spectra of lag-1 autocorrelation 0.9 (``benchmarks/bench_zlp_noise_correlation.py``).
    Read noise is not separated from counting noise: where the dark-subtracted
    counts are a few per channel it raises ``g``.

    Parameters
    ----------
    energy : numpy.ndarray
        Energy axis (eV), ZLP at 0.
    J : numpy.ndarray
        (spectra, channels) or (channels,) dark-subtracted counts; non-finite
        channels are left out (with the windows that hold them) and counted in ``how``.
    fwhm_ : float
        ZLP FWHM (eV); channels within ``min_fwhm`` FWHM of 0 eV are not used.
    block : int
        Channels per block: much longer than the channel correlation (a block of
        32 loses ``2 sum_k k rho_k / 32`` of the variance: 9 % at a lag-1
        autocorrelation of 0.9, 0 for uncorrelated channels).
    min_fwhm, flatness : float
        See :func:`count_gain_terms`.
    min_terms : int
        Fewer usable windows than this: not estimable.
    variance, reference : numpy.ndarray, optional
        See :func:`count_gain_terms` (e.g. the gain from the difference of two spectra).

    Returns
    -------
    g : float
        Counts per electron, NaN when not estimable.
    se : float
        Its standard error (asymptotic sd of the median of chi^2_1 ratios, with
        one independent window per ``0.45 block`` shifts, the correlation of
        overlapping windows; 1.0-1.3 x the spread over simulated seeds; NaN when not estimable).
    how : str
        What was used, or why it is not estimable.

    Raises
    ------
    ParameterError
        As :func:`count_gain_terms`, or ``min_terms`` < 1.
    """
    from .._shared.exceptions import ParameterError

    if isinstance(min_terms, bool) or not float(min_terms).is_integer() or min_terms < 1:
        raise ParameterError(f"count gain: min_terms must be a whole number >= 1, got {min_terms!r}")
    D2, M = count_gain_terms(energy, J, fwhm_, block=block, min_fwhm=min_fwhm, flatness=flatness,
                             variance=variance, reference=reference)
    n_bad = int(np.size(J) - np.isfinite(np.asarray(J, dtype=np.float64)).sum())
    bad = f", {n_bad} non-finite values left out" if n_bad else ""
    if D2.size < min_terms:
        return np.nan, np.nan, (f"not estimable ({D2.size} smooth windows of 4 x {block} channels beyond "
                                f"{min_fwhm:g} FWHM, need {min_terms}{bad})")
    g = gain_from_terms(D2, M)
    n_ind = max(D2.size / (_MEDIAN_SPAN * block), 1.0)  # overlapping windows are correlated
    se = float(g * _MEDIAN_CHI2_1_RSD / np.sqrt(n_ind))
    return g, se, (f"{g:.3g} +- {se:.2g} counts per electron (photon transfer: third differences of {block}-channel "
                   f"block sums, {D2.size} windows beyond {min_fwhm:g} FWHM{bad})")
