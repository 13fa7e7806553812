"""Neural-network zero-loss-peak subtraction with Monte Carlo replicas (signal -> array -> model -> signal).

Method (after Roest et al., Ultramicroscopy 222 (2021) 113202, NNPDF-style), with
the changes that make it fast and calibrated:

1. **Pixels -> features.** Every spectrum gets a scale ``s`` (counts in the ZLP
   core window) and a thickness proxy ``c = ln(total counts / s)`` (log-ratio
   style, independent of the beam current). Pixels are K-means clustered on ``c``;
   an optional vacuum reference forms its own cluster. Without a measured one, the
   mirrored energy-gain side is the reference when it is at least
   ``GAIN_SIDE_MIN_FWHM`` FWHM long (``vacuum="none"`` turns that off).
2. **Regions.** Region I (fitted): the whole gain side and the loss side below
   ``dE1`` (automatic: 0.7 x the first minimum of the smoothed cluster spectrum
   after the ZLP, i.e. before the inelastic onset, counted only when the noise
   resolves it; a ZLP-only spectrum is fitted down to one electron per channel;
   with a vacuum reference, where the specimen departs from it; overridable). Above ``dE1`` no
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
import time

import dask.array as da
import numpy as np

from .._shared.warn import warn
from .._shared.batch import resolve_show_progressbar
from .._shared.params import check_float, check_int, check_random_state
from .._shared.validation import EELSInputError, EnergyRangeError, check_finite_block, validate_eels
from .features import (
    auto_dE1,
    core_window,
    departure_from_vacuum,
    estimate_count_gain,
    estimate_dark_level,
    pixel_features,
    read_noise,
    smooth,
    upper_envelope,
    vacuum_dE1,
    vacuum_noise_end,
    zlp_centres,
)
from .features import fwhm as _fwhm
from .model import ZLPModel, same_axis
from .network import TrainingData, fit_baseline, train_replicas

__all__ = ["fit_zlp", "ZLPNotCentredError", "check_parameters", "failed_replicas"]


#: relative precision below which the replica targets are not trusted (log-intensity units)
TARGET_SIGMA_FLOOR = 0.003

#: points of the loss-side penalty grid (monotonicity, curvature, upper envelope, vacuum prior), uniform in
#: asinh(E / w); 64 instead of 96 cuts 17 % of the work per step with the same benchmark results
N_PENALTY = 64

#: warm start of the replica ensemble: ``n_central`` replicas are trained first with the full schedule (cheap: the
#: cost of a step grows with the number of replicas), then every replica starts from one of them (replica r from
#: central fit r mod n_central) and trains on its own targets for at most ``max_epochs`` steps at
#: ``learning_rate`` (cosine decay), stopping after ``patience`` steps without improvement; a failed replica is
#: retrained the same way from the next central fit. None: every replica
#: trains from a random initialisation with the full schedule.
WARM_START = dict(n_central=10, learning_rate=0.005, max_epochs=1000, patience=300)


class ZLPNotCentredError(EELSInputError):
    """The zero-loss peak is not at 0 eV: align it first."""


def check_parameters(*, n_clusters, n_replicas, dE1, dE2, max_training_pixels, hidden, max_epochs, learning_rate,
                     patience, count_gain, random_state):
    """Validate the parameters of :func:`fit_zlp` up front; returns them normalised (a dict)."""
    out = dict(n_clusters=check_int("n_clusters", n_clusters, min=1),
               n_replicas=check_int("n_replicas", n_replicas, min=2),
               max_training_pixels=check_int("max_training_pixels", max_training_pixels, min=1),
               max_epochs=check_int("max_epochs", max_epochs, min=1),
               patience=check_int("patience", patience, min=1),
               learning_rate=check_float("learning_rate", learning_rate, min=0, inclusive=(False, True)),
               count_gain=check_float("count_gain", count_gain, min=0, inclusive=(False, True)))
    from .._shared.exceptions import ParameterError

    try:
        h = tuple(hidden)
    except TypeError:
        raise ParameterError(f"hidden must be a sequence of positive integers, got {hidden!r}") from None
    if not h:
        raise ParameterError("hidden must hold at least one layer size, got ()")
    out["hidden"] = tuple(check_int("hidden[i]", x, min=1) for x in h)
    for name, val in (("dE1", dE1), ("dE2", dE2)):
        if val is None:
            out[name] = None
            continue
        arr = np.atleast_1d(val)
        if arr.dtype.kind not in "iuf" or arr.ndim != 1 or arr.size == 0:
            raise ParameterError(f"{name} must be a positive float or a sequence of them (eV), got {val!r}")
        arr = arr.astype(float)
        if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise ParameterError(f"{name} must be > 0 eV (on the energy-loss side of the ZLP), got {val!r}")
        out[name] = float(arr[0]) if np.ndim(val) == 0 else arr.tolist()
    check_random_state(random_state)
    out["random_state"] = random_state
    return out


# ----------------------------------------------------------------------------- training

#: the energy-gain side is used as a mirrored vacuum reference (``vacuum="gain_side"``, and by default,
#: ``vacuum=None``, when no vacuum is given) only when it reaches this many FWHM below 0 eV (the outer part, beyond
#: 40 % of its length, sets the power law beyond its mirror image)
GAIN_SIDE_MIN_FWHM = 10.0


#: passes of the gain-side cleaning in :func:`gain_side_reference` (0: the raw mirrored gain side)
GAIN_SIDE_CLEAN_PASSES = 2


def gain_side_reference(J, energy, fwhm_, n=32, clean=None):
    """Pseudo-vacuum spectra: the energy-gain side of the ``n`` thinnest spectra mirrored onto the loss side.

    The ZLP's detector tails are the only signal on the gain side; mirrored, they are the reference that a
    vacuum spectrum would give when the tails are symmetric. Beyond the mirror image of the first channel
    (``E > -energy[0]``) a power law ``A E^p`` (``p <= -1``) fitted to the outer 60 % of the gain side (and beyond
    3 FWHM) continues it. Returns ``None`` when the gain side is shorter than ``GAIN_SIDE_MIN_FWHM`` FWHM.

    The same tails spread the inelastic electrons too, some of them onto the gain side of a specimen spectrum
    (the more, the thicker it is). ``clean`` passes (default ``GAIN_SIDE_CLEAN_PASSES``) remove them: the
    inelastic estimate (the spectrum minus the reference, beyond 2 FWHM) convolved with the reference's own
    unit-area shape (mirrored beyond the axis) is subtracted from the gain side, and the reference rebuilt.
    """
    if -energy[0] < GAIN_SIDE_MIN_FWHM * fwhm_:
        return None
    passes = GAIN_SIDE_CLEAN_PASSES if clean is None else int(clean)
    J = np.clip(np.asarray(J, dtype=np.float64), 0, None)
    core = np.abs(energy) <= fwhm_
    zc = J[:, core].sum(axis=1)
    c = np.log(np.maximum(J.sum(axis=1), 1e-30) / np.maximum(zc, 1e-30))
    # dead or dark-only pixels (no counts in the ZLP core) have c = 0, the "thinnest" of all, but no ZLP
    cand = np.flatnonzero(zc > 0)
    if cand.size == 0:
        cand = np.arange(J.shape[0])
    sel = J[cand[np.argsort(c[cand], kind="stable")[: max(1, min(n, cand.size))]]]
    pos = energy > 0
    gain = energy < 0
    inside = pos & (energy <= -energy[0])
    beyond = pos & (energy > -energy[0])
    far = (energy < 0.4 * energy[0]) & (energy < -3 * fwhm_)
    outer = energy > 2 * fwhm_  # beyond the core, whose loss/gain asymmetry is no inelastic signal
    disp = float(np.median(np.diff(energy)))
    nE = energy.size
    x = np.arange(-(nE - 1), nE) * disp  # kernel offsets (eV)

    def mirror(d):
        z = d.copy()
        z[inside] = np.interp(-energy[inside], energy, d)
        if beyond.any():
            if far.sum() >= 5:
                slope, icpt = np.polyfit(np.log(-energy[far]), np.log(np.maximum(d[far], 1.0)), 1)
                z[beyond] = np.exp(icpt + min(slope, -1.0) * np.log(energy[beyond]))
            else:
                z[beyond] = 0.0
        return z

    out = sel.copy()
    for i, d in enumerate(sel):
        z = mirror(d)
        for _ in range(passes):
            inel = np.where(outer, np.clip(d - z, 0, None), 0.0)
            if not inel.any():
                break
            kern = np.where(x >= energy[0], np.interp(x, energy, z, right=0.0),
                            np.interp(-x, energy, z, right=0.0))
            kern /= max(float(kern.sum()), 1e-30)
            spill = np.convolve(inel, kern)[nE - 1: 2 * nE - 1]
            dc = d.copy()
            dc[gain] = np.clip(d[gain] - spill[gain], 0.0, None)
            z = mirror(dc)
        out[i] = z
    return out


def vacuum_mode(vacuum):
    """How ``vacuum=`` is read: ``"auto"`` (None), ``"gain_side"``, ``"none"`` (``"none"`` or False) or ``"given"``."""
    if vacuum is None:
        return "auto"
    if vacuum is False:
        return "none"
    if isinstance(vacuum, str):
        if vacuum in ("gain_side", "none"):
            return vacuum
        raise EELSInputError(f"vacuum must be a signal, a list of spectra, 'gain_side', 'none' (or False) or None, "
                             f"not {vacuum!r}")
    return "given"


def _as_vacuum_array(vacuum, energy):
    """Stack a vacuum reference (signal or list of signals/arrays) into (n, n_E) float."""
    if vacuum_mode(vacuum) != "given":
        return None
    items = vacuum if isinstance(vacuum, list | tuple) else [vacuum]
    out = []
    for item in items:
        if hasattr(item, "axes_manager"):
            vv = validate_eels(item, what="subtract_zlp_nn (vacuum)", min_channels=32)
            if not same_axis(vv.energy, energy):
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


def _seed(random_state):
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(random_state, np.random.Generator | np.random.RandomState):
        return int(random_state.integers(0, 2**31 - 1) if isinstance(random_state, np.random.Generator)
                   else random_state.randint(0, 2**31 - 1))
    return int(random_state)


def _dark_level(dark_level, J, Jv, energy, dispersion, count_gain):
    """The detector offset to remove and how it was found (see :func:`subtract_zlp_nn`)."""
    if dark_level is None:
        return 0.0, "none"
    if isinstance(dark_level, str):
        if dark_level != "auto":
            from .._shared.exceptions import ParameterError

            raise ParameterError(f"dark_level must be 'auto', a number of counts or None, got {dark_level!r}")
        allJ = J if Jv is None else Jv
        fw = _fwhm(energy, np.clip(allJ, 0, None).mean(axis=0))
        level, how = estimate_dark_level(energy, allJ, fw, dispersion, count_gain, vacuum=Jv is not None)
        if "not constant along the axis" in how:
            warn(f"dark_level='auto': {how}. Subtract a dark reference recorded with the data for an exact "
                 "offset, or pass dark_level=<counts>.", UserWarning)
        return level, how
    return check_float("dark_level", dark_level), "user"


def resolve_count_gain(v, vacuum, count_gain, dark_level, max_training_pixels, random_state):
    """``count_gain`` as :func:`fit_validated` takes it: ``(g, source, random_state)``.

    A number passes through (source ``"user"``). ``"auto"``:
    :func:`~hyperspy_eels_ml.zlp.features.estimate_count_gain` on the training
    spectra and the vacuum spectra, after removing the detector offset found
    as ``dark_level`` says (source ``"auto: ..."``); not estimable: a warning,
    1.0 and source ``"auto failed, 1.0 used: <reason>"``. ``random_state`` is
    returned as one integer seed, so that the fit that follows draws the same
    training subset as the estimate (also for ``None`` and generators).
    Any other string raises :class:`ParameterError`.
    """
    from .._shared.exceptions import ParameterError

    if not isinstance(count_gain, str):
        return count_gain, "user", random_state
    if count_gain != "auto":
        raise ParameterError(f"count_gain must be a positive number or 'auto', got {count_gain!r}")
    seed = _seed(check_random_state(random_state))
    energy = v.energy
    rng = np.random.default_rng(seed)
    J, _, _ = _training_spectra(v, check_int("max_training_pixels", max_training_pixels, min=1), rng)
    Jv = _as_vacuum_array(vacuum, energy)
    dark, _ = _dark_level(dark_level, J, Jv, energy, v.dispersion, 1.0)
    allJ = J if Jv is None else np.concatenate([J, Jv])
    fw = _fwhm(energy, np.clip(allJ, 0, None).mean(axis=0))
    g, se, how = estimate_count_gain(energy, allJ - dark, fw)
    if not np.isfinite(g) or g <= 0:
        warn(f"count_gain='auto': the counts per electron are {how}; count_gain=1.0 is used (pass the detector's "
             "value as count_gain=<counts per electron>).", UserWarning)
        return 1.0, f"auto failed, 1.0 used: {how}", seed
    return g, f"auto: {how}", seed


def _check_centred(J, energy, fwhm, dispersion):
    if fwhm <= 1.5 * dispersion:
        warn(
            f"The zero-loss peak is narrower than two channels (FWHM {fwhm:.3g} eV at {dispersion:.3g} eV per "
            "channel): its shape is undersampled, so the ZLP tail and t/lambda are unreliable (t/lambda is "
            "typically biased low). Record at a finer dispersion for ZLP subtraction.",
            UserWarning,
        )
    peaks = zlp_centres(J, energy)
    med = float(np.median(peaks))
    tol = max(0.5 * fwhm, 1.5 * dispersion)
    if abs(med) > tol:
        raise ZLPNotCentredError(
            f"The zero-loss peak is not at 0 eV: its maximum is at {med:+.3f} eV (median over the training "
            f"spectra; FWHM {fwhm:.3f} eV). Align it first with exspy's s.align_zero_loss_peak() "
            "(subpixel=True), then call subtract_zlp_nn again."
        )
    fine = max(0.15 * fwhm, 0.25 * dispersion)  # shifts above this bias the subtraction measurably
    if abs(med) > fine:
        warn(
            f"The zero-loss peak is off 0 eV by {med:+.3f} eV (median sub-channel maximum; FWHM {fwhm:.3f} eV), "
            "within the tolerated range but enough to bias the subtraction. Run "
            "s.align_zero_loss_peak(subpixel=True) first.",
            UserWarning,
        )
    off = np.abs(peaks - med) > max(fine, 0.5 * dispersion)
    if off.mean() > 0.05:
        warn(
            f"{100 * off.mean():.0f} % of the training spectra have their ZLP maximum more than "
            f"{max(fine, 0.5 * dispersion):.3f} eV from the median: the SI looks unaligned. Run "
            "s.align_zero_loss_peak(subpixel=True) first for an accurate subtraction.",
            UserWarning,
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
    if isinstance(J, da.Array):  # eager data were checked by validate_eels already
        J = check_finite_block(np.asarray(J.compute(), dtype=np.float64))
    J = np.asarray(J, dtype=np.float64)
    # dead pixels (a constant spectrum: all zero, or a fill value) hold no ZLP: left out of the training (and of
    # the dark level, the alignment check and the gain-side reference); the subtraction still covers them
    live = np.ptp(J, axis=1) > 0
    if not live.any():
        raise EELSInputError("subtract_zlp_nn: every spectrum is constant (dead pixels or an empty signal): there "
                             "is no zero-loss peak to train on.")
    return J[live], idx[live], int((~live).sum())


def fit_zlp(signal, vacuum=None, *, n_clusters=3, n_replicas=100, dE1=None, dE2=None, max_training_pixels=2000,
            hidden=(10, 15, 5), max_epochs=4000, learning_rate=0.02, patience=600, count_gain=1.0, dark_level="auto",
            physical=True, random_state=None, show_progressbar=None):
    """Train the replica ensemble of ZLP networks on a low-loss signal.

    Parameters are those of :func:`~hyperspy_eels_ml.subtract_zlp_nn` (which calls
    this and then :meth:`ZLPModel.subtract`).

    Parameters
    ----------
    signal : exspy.signals.EELSSpectrum
    vacuum : EELSSpectrum, list, "gain_side", "none", False or None, optional
        A measured vacuum reference; ``"gain_side"``: the mirrored energy-gain side
        (:func:`gain_side_reference`; refused when shorter than ``GAIN_SIDE_MIN_FWHM``
        FWHM); None (default): ``"gain_side"`` when the gain side is long enough,
        else none; ``"none"`` or False: no reference. The choice made is in
        ``model.params["vacuum_source"]`` (``"given"``, ``"gain_side"``,
        ``"gain_side (auto)"`` or None).
    n_clusters, n_replicas, dE1, dE2, max_training_pixels, hidden, max_epochs, learning_rate, patience, \
count_gain, dark_level, physical, random_state, show_progressbar
        As :func:`~hyperspy_eels_ml.subtract_zlp_nn`.

    Returns
    -------
    ZLPModel
        ``count_gain="auto"``: the value found is ``model.params["count_gain"]``
        (pass it to :meth:`ZLPModel.subtract`), how it was found
        ``model.params["count_gain_source"]``.
    """
    v = validate_eels(signal, what="subtract_zlp_nn", min_channels=32)
    count_gain, source, random_state = resolve_count_gain(v, vacuum, count_gain, dark_level, max_training_pixels,
                                                          random_state)
    return fit_validated(v, vacuum, n_clusters=n_clusters, n_replicas=n_replicas, dE1=dE1, dE2=dE2,
                         max_training_pixels=max_training_pixels, hidden=hidden, max_epochs=max_epochs,
                         learning_rate=learning_rate, patience=patience, count_gain=count_gain,
                         dark_level=dark_level, physical=physical, random_state=random_state,
                         show_progressbar=show_progressbar, count_gain_source=source)


def fit_validated(v, vacuum=None, *, n_clusters, n_replicas, dE1, dE2, max_training_pixels, hidden, max_epochs,
                  learning_rate, patience, count_gain, dark_level="auto", physical=True, random_state=None,
                  show_progressbar=None, count_gain_source="user"):
    """:func:`fit_zlp` on an already validated signal (:class:`~hyperspy_eels_ml._shared.validation.ValidatedEELS`)."""
    t0 = time.perf_counter()
    p = check_parameters(n_clusters=n_clusters, n_replicas=n_replicas, dE1=dE1, dE2=dE2,
                         max_training_pixels=max_training_pixels, hidden=hidden, max_epochs=max_epochs,
                         learning_rate=learning_rate, patience=patience, count_gain=count_gain,
                         random_state=random_state)
    g = p["count_gain"]
    energy = v.energy
    disp = v.dispersion
    _check_energy_axis(energy)
    seed = _seed(random_state)
    rng = np.random.default_rng(seed)
    J, _, n_dead = _training_spectra(v, p["max_training_pixels"], rng)
    if n_dead:
        warn(f"subtract_zlp_nn: {n_dead} of the {n_dead + J.shape[0]} training spectra are constant (dead pixels, "
             "e.g. all zero): they hold no zero-loss peak and are left out of the training; their t/lambda is NaN.",
             UserWarning)
    Jv = _as_vacuum_array(vacuum, energy)
    dark, dark_info = _dark_level(dark_level, J, Jv, energy, disp, g)
    if dark:
        J = J - dark
        Jv = None if Jv is None else Jv - dark
    if np.any(J < 0) and (J < 0).mean() > 0.01:
        warn(
            f"{100 * (J < 0).mean():.1f} % of the channels of the training spectra are negative (dark-reference "
            "over-subtraction or read noise). They count as 0 when training; the subtraction keeps them.",
            UserWarning,
        )
    nonzero = np.abs(J).sum(axis=1) > 0
    allJ = J[nonzero] if Jv is None else np.concatenate([J[nonzero], Jv])
    if allJ.shape[0] == 0:
        raise EELSInputError("subtract_zlp_nn: every training spectrum is zero")
    fwhm = _fwhm(energy, np.clip(allJ, 0, None).mean(axis=0))
    _check_centred(allJ, energy, fwhm, disp)
    mode = vacuum_mode(vacuum)
    vacuum_source = "given" if Jv is not None else None
    if mode in ("gain_side", "auto"):  # the mirrored gain side as the reference (default when it is long enough)
        Jv = gain_side_reference(J[nonzero], energy, fwhm)
        vacuum_source = None if Jv is None else ("gain_side" if mode == "gain_side" else "gain_side (auto)")
        if Jv is None and mode == "gain_side":
            raise EnergyRangeError(f"vacuum='gain_side' needs an energy-gain side of at least {GAIN_SIDE_MIN_FWHM:g} "
                                   f"FWHM ({GAIN_SIDE_MIN_FWHM * fwhm:.3g} eV); this axis starts at {energy[0]:g} eV. "
                                   "Record a longer gain side or give a measured vacuum spectrum (vacuum=).")
    # signal-independent (read) noise of the detector, in counts: in the noise bands and the dE1 significance tests
    rn, rn_info = read_noise(allJ, energy, fwhm, g)
    rv = rn**2
    core = core_window(fwhm, disp)
    s, c = pixel_features(J, energy, core)
    good = s > 0
    if not good.any():
        raise EELSInputError("subtract_zlp_nn: no spectrum has counts in the zero-loss-peak window")
    J, s, c = J[good], s[good], c[good]
    n_clusters, R = p["n_clusters"], p["n_replicas"]
    dE1, dE2 = p["dE1"], p["dE2"]
    max_epochs, patience, learning_rate, hidden = p["max_epochs"], p["patience"], p["learning_rate"], p["hidden"]

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
        sv, cv = pixel_features(Jv, energy, core)
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
    vac_k = next((k for k, gr in enumerate(groups) if gr[3]), None)
    vac_norm = None
    if vac_k is not None:
        Jv_, sv_ = groups[vac_k][0], groups[vac_k][1]
        vac_norm = (np.clip(Jv_, 0, None).sum(axis=0) / sv_.sum(), Jv_.sum(axis=0), sv_.sum())
    rules = []
    vac_d1 = None if vac_k is None else vacuum_dE1(energy, groups[vac_k][0].mean(axis=0), fwhm, disp, g,
                                                   n_spectra=groups[vac_k][0].shape[0], read_var=rv)
    for k, (Jk, sk, ck, vac) in enumerate(groups):
        mean_norm = np.clip(Jk, 0, None).sum(axis=0) / sk.sum()
        if vac:
            auto1, ev = vac_d1, np.nan
            rule = "vacuum: tail at the noise floor"
        else:
            # only a minimum the counts resolve (a ZLP-only tail's noise is no inelastic onset)
            auto1, ev = auto_dE1(energy, mean_norm, fwhm, disp, counts=sk.sum(), count_gain=g, read_var=rv,
                                 n_spectra=Jk.shape[0])
            rule = "0.7 x first minimum"
            if not np.isfinite(ev):  # no resolved onset: a ZLP-only spectrum, fitted like a vacuum reference
                auto1 = vacuum_dE1(energy, Jk.mean(axis=0), fwhm, disp, g, n_spectra=Jk.shape[0], read_var=rv)
                rule = "no resolved minimum: tail at the noise floor"
            if vac_norm is not None:
                dep = departure_from_vacuum(energy, Jk.sum(axis=0), sk.sum(), vac_norm[1], vac_norm[2], fwhm, disp,
                                            g)
                if np.isfinite(dep):
                    auto1, rule = min(auto1, dep), "departure from the vacuum reference" if dep < auto1 else rule
                elif not np.isfinite(ev):  # neither departs from the vacuum nor has an onset: as the vacuum
                    auto1, rule = vac_d1, "no departure from the vacuum reference: its fitted region"
        d1 = auto1 if dE1_user is None else dE1_user[k]
        if not (energy[0] < d1 <= energy[-1]):
            raise EnergyRangeError(f"dE1 = {d1:g} eV is outside the energy axis ({energy[0]:g} to {energy[-1]:g} eV)")
        if dE1_user is not None and d1 <= fwhm:
            raise EnergyRangeError(f"dE1 = {d1:g} eV is inside the zero-loss peak (FWHM {fwhm:.3g} eV): the fitted "
                                   "region must extend beyond the ZLP core; use a value above the FWHM")
        if dE2_user is not None:
            d2 = dE2_user[k]
        elif vac_norm is not None:
            d2 = max(min(vacuum_noise_end(energy, vac_norm[1], groups[vac_k][0].shape[0], fwhm, disp, g),
                         energy[-1]), d1)
        else:
            d2 = max(min(3 * d1, energy[-1]), d1)
        if d2 < d1:
            raise EnergyRangeError(f"dE2 ({d2:g} eV) must be larger than dE1 ({d1:g} eV)")
        cl["c"][k], cl["dE1"][k], cl["dE2"][k], cl["E_valley"][k] = np.median(ck), d1, d2, ev
        cl["n_pixels"][k], cl["vacuum"][k] = Jk.shape[0], vac
        rules.append("user" if dE1_user is not None else rule)

    # replica targets: bootstrap over the cluster's spectra (Poisson resampling for tiny clusters)
    nE = energy.size
    y = np.full((R, K, nE), np.nan)
    yv = np.full((R, K, nE), np.nan)
    mask = np.zeros((R, K, nE), bool)
    for k, (Jk, sk, _, _) in enumerate(groups):
        n = Jk.shape[0]
        Jc = np.clip(Jk, 0, None)
        region = (energy < cl["dE1"][k]) & (Jc.mean(axis=0) >= g)  # at least one electron per channel
        if n >= 2:
            W = rng.multinomial(n, np.full(n, 1.0 / n), size=R).astype(np.float64)
            Wo = (W == 0).astype(np.float64)
            Wo[Wo.sum(axis=1) == 0] = 1.0
            num, den = W @ Jc, W @ sk
            numv, denv = Wo @ Jc, Wo @ sk
            if n < 5:  # few spectra: the bootstrap alone under-represents the counting noise
                num = g * rng.poisson(num / g).astype(np.float64)
                numv = g * rng.poisson(numv / g).astype(np.float64)
        else:
            num = g * rng.poisson(np.broadcast_to(Jc.sum(axis=0) / g, (R, nE))).astype(np.float64)
            numv = g * rng.poisson(np.broadcast_to(Jc.sum(axis=0) / g, (R, nE))).astype(np.float64)
            den = denv = np.full(R, sk.sum())
        with np.errstate(divide="ignore"):
            y[:, k] = np.log(np.maximum(num, 0.5 * g) / den[:, None])
            yv[:, k] = np.log(np.maximum(numv, 0.5 * g) / denv[:, None])
        mask[:, k] = region[None, :]
    sigma = np.sqrt(np.where(mask[0], y.var(axis=0), 0.0) + TARGET_SIGMA_FLOOR**2)  # replica spread of the targets
    cl["scatter"] = np.stack([_intrinsic_scatter(gr[0], gr[1], energy, mask[0, k], cl["dE1"][k], g)
                              for k, gr in enumerate(groups)])
    # parametric baseline of every cluster (the networks learn the residual)
    base_theta = np.zeros((K, 8))
    ymean = y.mean(axis=0)
    for k in range(K):
        mk = mask[0, k]
        e_k, y_k, s_k = energy[mk], ymean[k, mk], sigma[k, mk]
        if vac_k is not None and physical and not cl["vacuum"][k]:
            # beyond dE1 the networks are asked to follow the vacuum reference (the prior penalty below): the
            # baseline does so too. Fitted to the cluster's own region only, its tail parameters are free beyond
            # dE1, and a baseline tail far from the vacuum's leaves the networks to bridge orders of magnitude
            # through saturating sigmoids; replicas then stall with the prior penalty unmet (on the WS2 dev
            # spectra, 6 of 10 central fits of one seed), which the outlier rule cannot see when most fail
            pv = mask[0, vac_k] & (energy >= cl["dE1"][k]) & (energy <= cl["dE1"][vac_k]) & ~mk
            e_k, y_k = np.concatenate([e_k, energy[pv]]), np.concatenate([y_k, ymean[vac_k, pv]])
            s_k = np.concatenate([s_k, sigma[vac_k, pv]])
        base_theta[k], _ = fit_baseline(e_k, y_k, s_k, fwhm)
    cl["baseline"] = base_theta
    sigma = sigma[None].repeat(R, axis=0)

    # penalty grid: loss side, from half the FWHM to the end of the axis, uniform in asinh(E / w)
    w = fwhm / 2
    xg = np.linspace(np.arcsinh(0.5 * fwhm / w), np.arcsinh(energy[-1] / w), N_PENALTY)
    pe = np.sinh(xg) * w
    pmask = np.ones((K, pe.size), bool)
    cmask = (pe[None, :] >= 0.8 * cl["dE1"][:, None]) & (pe[None, :] <= cl["dE2"][:, None])
    upper = np.stack([upper_envelope(energy, gr[0], gr[1], pe, g, fwhm, disp) for gr in groups])
    prior = None
    if vac_k is not None and physical:
        prior = (pe[None, :] >= cl["dE1"][:, None]) & ~cl["vacuum"][:, None]
        prior &= pe[None, :] <= cl["dE1"][vac_k]  # where the vacuum reference is itself fitted
    data = TrainingData(energy=energy, c=cl["c"], y=y, sigma=sigma, mask=mask, y_val=yv,
                        penalty_energy=pe, penalty_mask=pmask, curvature_mask=cmask, base_theta=base_theta,
                        upper=upper if physical else None, prior_mask=prior,
                        prior_ref=-1 if vac_k is None else int(vac_k))
    fit_lo = energy[np.argmax(mask.any(axis=(0, 1)))]
    xr = np.arcsinh(np.array([fit_lo, cl["dE1"].max()]) / w)
    x_scale = (float(xr.mean()), float(max((xr[1] - xr[0]) / 2, 1e-3)))
    crange = (cl["c"].min(), cl["c"].max())
    c_scale = (float(np.mean(crange)), float(max((crange[1] - crange[0]) / 2, 1e-3)) if K > 1 else 1.0)

    ws = WARM_START if WARM_START and R >= 2 * WARM_START["n_central"] else None
    total = max_epochs + (min(int(ws["max_epochs"]), int(max_epochs)) if ws else 0)  # central + warm stage
    pbar = _progress_bar(show_progressbar, total=total, desc="Training ZLP replicas")
    train_kw = dict(hidden=tuple(hidden), width=w, x_scale=x_scale, c_scale=c_scale, max_epochs=int(max_epochs),
                    learning_rate=learning_rate, patience=int(patience),
                    progress=(pbar.update if pbar is not None else None))
    central_epochs, n_central = 0, 0
    if ws:
        n_central = int(ws["n_central"])
        ens_c, diag_c = train_replicas(_subset_data(data, np.arange(n_central)), random_state=seed, **train_kw)
        central_epochs = int(diag_c["epochs"])
        warm_kw = {**train_kw, "learning_rate": ws["learning_rate"],
                   "max_epochs": min(int(ws["max_epochs"]), int(max_epochs)),
                   "patience": min(int(ws["patience"]), int(patience))}
        ens, diag = train_replicas(data, random_state=seed, init=ens_c.subset(np.arange(R) % n_central), **warm_kw)
    else:
        ens, diag = train_replicas(data, random_state=seed, **train_kw)
    failed = failed_replicas(diag["val_chi2"])
    n_retrained = int(failed.sum())
    retrain_epochs = 0  # steps of the second training of the failed replicas (not in ``epochs``)
    if failed.any():
        sub = _subset_data(data, failed)
        if n_central:  # warm start again, from the next central fit (replica r started from r mod n_central)
            init = ens_c.subset((np.flatnonzero(failed) + 1) % n_central)
            ens2, diag2 = train_replicas(sub, random_state=seed + 1, init=init, **{**warm_kw, "progress": None})
        else:
            ens2, diag2 = train_replicas(sub, random_state=seed + 1, **{**train_kw, "progress": None})
        retrain_epochs = int(diag2["epochs"])
        idx = np.flatnonzero(failed)
        better = diag2["val_chi2"] < diag["val_chi2"][idx]
        for j, i in enumerate(idx):
            if better[j]:
                for W_, W2 in zip(ens.weights, ens2.weights):
                    W_[i] = W2[j]
                ens.skip[i] = ens2.skip[j]
                for key in ("train_chi2", "val_chi2", "penalty", "best_epoch"):
                    diag[key][i] = diag2[key][j]
        # only a replica that failed twice is dropped: the median moves once the retrained ones are better, and
        # a replica never retrained is not judged against the new median
        failed &= failed_replicas(diag["val_chi2"])
    if pbar is not None:
        pbar.close()
    keep = ~failed
    ens = ens.subset(keep)
    diagnostics = dict(train_chi2=diag["train_chi2"][keep], val_chi2=diag["val_chi2"][keep],
                       penalty=diag["penalty"][keep], best_epoch=diag["best_epoch"][keep], epochs=diag["epochs"],
                       stop_rule=diag["stop_rule"],
                       n_trained=R,
                       n_retrained=n_retrained, retrain_epochs=retrain_epochs,
                       n_central=n_central, central_epochs=central_epochs,
                       n_dropped=int(failed.sum()), n_kept=int(keep.sum()),
                       train_seconds=time.perf_counter() - t0)
    diagnostics["dE_rule"] = np.array(rules)
    diagnostics["cluster_mean"] = np.stack([np.clip(gr[0], 0, None).sum(axis=0) / gr[1].sum() for gr in groups])
    params = dict(n_clusters=n_clusters, n_replicas=R, dE1=dE1, dE2=dE2, max_training_pixels=p["max_training_pixels"],
                  hidden=list(hidden), max_epochs=max_epochs, learning_rate=learning_rate, patience=patience,
                  count_gain=g, dark_level=dark_level if dark_level is None or isinstance(dark_level, str)
                  else float(dark_level), dark_level_value=float(dark), dark_level_source=dark_info,
                  physical=bool(physical), read_noise=float(rn), read_noise_source=rn_info,
                  random_state=seed, vacuum=None if Jv is None else int(Jv.shape[0]),
                  vacuum_source=vacuum_source, vacuum_mode=mode, count_gain_source=count_gain_source)
    return ZLPModel(ensemble=ens, energy=energy, core=core, fwhm=fwhm, clusters=cl, diagnostics=diagnostics,
                    params=params)


def _intrinsic_scatter(Jk, sk, energy, region, dE1, count_gain):
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
    v = r.var(axis=0, ddof=1) - (count_gain * Jc / sk[:, None] ** 2).mean(axis=0)
    frac = np.sqrt(np.clip(v, 0, None)) / np.maximum(mean, 1e-30)
    idx = np.flatnonzero(region)
    frac_s = np.zeros(energy.size)
    frac_s[idx] = smooth(frac[idx], 5)
    out[idx] = frac_s[idx]
    tail = idx[energy[idx] >= 0.7 * dE1]
    out[energy >= energy[idx[-1]]] = np.median(frac_s[tail]) if tail.size else frac_s[idx[-1]]
    out[: idx[0]] = frac_s[idx[0]]
    return out


def failed_replicas(val):
    """Replicas whose held-out chi^2 is an outlier (> median + 5 MAD and > 2 x median)."""
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


