"""Results of the ZLP capability: :class:`ZLPResult` (subtraction) and :class:`BandGapResult`."""

from __future__ import annotations

import numpy as np

from .._shared.results import LazyResult
from .._shared.signals import navigation_map, record_provenance
from .._shared.warn import warn
from .bandgap import LAW_DELTA_CHI2, LAW_FLAG_NAMES

__all__ = ["ZLPResult", "BandGapResult", "PlasmonResult", "PeakResult", "KramersKronigResult", "replica_report"]

#: bits of :attr:`ZLPResult.flags`
FLAG_THICKNESS = 1  #: t/lambda <= 0
FLAG_ZLP_ABOVE_DATA = 2  #: ZLP integral above the data integral
FLAG_REPLICAS = 4  #: more than 10 % of the replicas dropped (whole result)
FLAG_TAIL_ABOVE_DATA = 8  #: ZLP tail above the data beyond 3 sigma on more than TAIL_LIMIT of the channels above dE1
FLAG_DEAD = 16  #: constant spectrum (dead pixel: all zero or a fill value): no ZLP, t/lambda NaN
#: limit on :func:`~hyperspy_eels_ml.zlp.blocks.tail_above_data` (a physical ZLP gives ~0.13 %, one-sided 3 sigma)
TAIL_LIMIT = 0.05
FLAG_NAMES = {FLAG_THICKNESS: "t/lambda <= 0", FLAG_ZLP_ABOVE_DATA: "ZLP integral > data integral",
              FLAG_REPLICAS: "> 10 % of replicas dropped",
              FLAG_TAIL_ABOVE_DATA: f"ZLP above the data (> 3 sigma) on > {TAIL_LIMIT:.0%} of the channels above dE1",
              FLAG_DEAD: "constant spectrum (dead pixel): no zero-loss peak, t/lambda undefined (NaN)"}


def replica_report(diag):
    """``dict(trained, retrained, dropped, kept)`` from a model's diagnostics."""
    if not diag:
        return {}
    return dict(trained=int(diag.get("n_trained", 0)), retrained=int(diag.get("n_retrained", 0)),
                dropped=int(diag.get("n_dropped", 0)), kept=int(diag.get("n_kept", 0)))


class _Lazy(LazyResult):
    """LazyResult with the signal list in ``_signals`` and a short navigation text for the repr."""

    _signals: tuple = ()

    def __init__(self, **attributes):
        super().__init__(**attributes)

    def _compute_signals(self, show_progressbar=None):
        was_lazy = self.is_lazy
        LazyResult.compute(self, show_progressbar=show_progressbar)
        return was_lazy

    def _nav_text(self):
        shape = self.navigation_shape
        return "single spectrum" if not shape else "navigation " + " x ".join(str(int(n)) for n in shape)


class ZLPResult(_Lazy):
    """Result of :func:`~hyperspy_eels_ml.subtract_zlp_nn`.

    Attributes
    ----------
    inelastic, inelastic_lower, inelastic_upper : exspy.signals.EELSSpectrum
        ``data - dark level - zlp`` (replica median) and its 68 % band (ZLP
        replica spread, the pixel's counting noise and the ZLP shape scatter),
        on the input's axes; lazy if the input was.
    zlp, zlp_lower, zlp_upper : exspy.signals.EELSSpectrum
        ZLP replica median and 16 / 84 % percentiles (without the dark level).
    thickness, thickness_lower, thickness_upper : hyperspy.signal.BaseSignal
        ``t/lambda = ln(total / ZLP counts)`` per pixel (log-ratio with the NN
        ZLP) and its 68 % interval.
    flags : hyperspy.signal.BaseSignal
        Per-pixel sanity bits: 1 = t/lambda <= 0, 2 = ZLP integral above the
        data integral, 4 = more than 10 % of the replicas dropped, 8 = the ZLP
        (median) exceeds the data by more than 3 sigma of the data's noise
        (counting + read noise) on more than 5 % of the channels above dE1, 16 = a
        constant spectrum (dead pixel: all zero or a fill value), which holds no
        ZLP: its t/lambda and interval are NaN and no other per-pixel bit is set
        (see :attr:`flag_names`); 0 = nothing suspicious.
    tail_above_data : hyperspy.signal.BaseSignal
        That fraction of channels per pixel (also ``diagnostics["tail_above_data"]``).
    model : ZLPModel
        The trained ensemble (``result.model.save(path)``).
    replica_report : dict
        Replicas trained, retrained, dropped, kept.
    """

    _names = ("inelastic", "inelastic_lower", "inelastic_upper", "zlp", "zlp_lower", "zlp_upper")
    _signals = _names + ("thickness", "thickness_lower", "thickness_upper", "flags", "tail_above_data")
    _signal_attributes = _signals
    flag_names = FLAG_NAMES

    @classmethod
    def from_parts(cls, model, v, parts, count_gain=1.0):
        """Wrap the arrays of :func:`~hyperspy_eels_ml.zlp.blocks.make_result` in signals."""
        self = cls.__new__(cls)
        self.model = model
        self.signal = v.signal
        self.count_gain = count_gain
        self._v = v
        self._navigation_shape = tuple(v.navigation_shape)
        titles = dict(inelastic="Inelastic (NN ZLP subtracted)", inelastic_lower="Inelastic 16 %",
                      inelastic_upper="Inelastic 84 %", zlp="NN zero-loss peak", zlp_lower="NN ZLP 16 %",
                      zlp_upper="NN ZLP 84 %")
        params = dict(model.params, count_gain=count_gain)
        for name, data in zip(cls._names, parts[:6]):
            s = v.signal._deepcopy_with_new_data(data)
            src = v.signal.metadata.get_item("General.title", "")
            s.metadata.General.title = f"{titles[name]} of {src}" if src else titles[name]
            record_provenance(s, "zlp.subtract_zlp_nn", params,
                              extra=dict(output=name, n_replicas=model.n_replicas,
                                         replicas=replica_report(model.diagnostics)))
            setattr(self, name, s)
        for name, data, title in zip(("thickness", "thickness_lower", "thickness_upper"), parts[6:9],
                                     ("t/lambda (NN ZLP log-ratio)", "t/lambda 16 %", "t/lambda 84 %")):
            m = navigation_map(v.signal, data, title, quantity="t/lambda")
            record_provenance(m, "zlp.subtract_zlp_nn", params, extra=dict(output=name))
            setattr(self, name, m)
        t50, tot, zint, tail, dead = parts[6], parts[9], parts[10], parts[11], parts[12] > 0
        rep = replica_report(model.diagnostics)
        many_dropped = rep.get("trained", 0) > 0 and rep["dropped"] > 0.1 * rep["trained"]
        # a dead pixel has no ZLP: the per-pixel checks say nothing there, its own bit says why t/lambda is NaN
        flags = ((t50 <= 0) * FLAG_THICKNESS + (zint > tot) * FLAG_ZLP_ABOVE_DATA
                 + (tail > TAIL_LIMIT) * FLAG_TAIL_ABOVE_DATA)
        flags = dead * FLAG_DEAD + (1 - dead) * flags + int(many_dropped) * FLAG_REPLICAS
        flags = flags.astype(np.uint8)
        m = navigation_map(v.signal, flags, "subtract_zlp_nn sanity flags", quantity="flags")
        record_provenance(m, "zlp.subtract_zlp_nn", params, extra=dict(output="flags", bits=FLAG_NAMES))
        self.flags = m
        m = navigation_map(v.signal, tail, "ZLP above the data (> 3 sigma), fraction of the channels above dE1",
                           quantity="fraction")
        record_provenance(m, "zlp.subtract_zlp_nn", params, extra=dict(output="tail_above_data"))
        self.tail_above_data = m
        if not self.is_lazy:
            self._warn()
        return self

    def compute(self, show_progressbar=None):
        """Compute every lazy output together (the data are read once); returns self.

        The sanity warnings of :attr:`flags` are given once the flags are known.
        """
        if self._compute_signals(show_progressbar):
            self._warn()
        return self

    @property
    def diagnostics(self):
        """Per-pixel sanity figures: ``tail_above_data`` (array, fraction of the channels above dE1 where the
        median ZLP exceeds the data by more than 3 sigma; flag bit 8 above ``TAIL_LIMIT``)."""
        return dict(tail_above_data=np.asarray(self.tail_above_data.data), tail_limit=TAIL_LIMIT)

    @property
    def replica_report(self):
        """Replicas trained, retrained, dropped, kept (dict)."""
        return replica_report(self.model.diagnostics)

    def _warn(self):
        f = np.asarray(self.flags.data)
        nav = self._v.navigation_shape
        vac = bool(np.any(self.model.clusters["vacuum"]))
        causes = {FLAG_THICKNESS: "the ZLP model is wider than these spectra: unaligned spectra (run "
                                  "s.align_zero_loss_peak(subpixel=True)), a dE1 beyond the inelastic onset, "
                                  "or a vacuum reference recorded with other settings",
                  FLAG_ZLP_ABOVE_DATA: "the ZLP tail exceeds the data: a wrong dE1 (set it by hand, see "
                                       "result.model.plot_regions())" + ("" if vac else " or a missing vacuum "
                                                                                        "reference (vacuum=)"),
                  FLAG_TAIL_ABOVE_DATA: "ZLP tail above the data: no vacuum reference / wrong dE1 (give a measured "
                                        "vacuum=, or set dE1 by hand, see result.model.plot_regions())",
                  FLAG_REPLICAS: "training was unstable: more spectra, a smaller learning_rate, or "
                                 "more max_epochs",
                  FLAG_DEAD: "dead pixels or a scan edge recorded without beam (left out of the training; crop "
                             "them or ignore their NaN t/lambda)"}
        for bit, cause in causes.items():
            bad = (f & bit) != 0
            if not bad.any():
                continue
            if bit == FLAG_REPLICAS:
                rep = self.replica_report
                warn(f"subtract_zlp_nn: {rep['dropped']} of {rep['trained']} replicas were dropped "
                              f"(> 10 %); likely cause: {cause}. Flagged in result.flags (bit {bit}).",
                              UserWarning)
                continue
            idx = np.argwhere(np.atleast_1d(bad))
            where = ("the spectrum" if not nav else
                     f"{idx.shape[0]} of {bad.size} pixels (array index, first ones: "
                     f"{[tuple(int(x) for x in i) for i in idx[:5]]})")
            warn(f"subtract_zlp_nn: {FLAG_NAMES[bit]} for {where}; likely cause: {cause}. "
                          f"Flagged in result.flags (bit {bit}).", UserWarning)

    def __repr__(self):
        rep = self.replica_report
        e = self._v.energy
        return (f"<ZLPResult: {self._nav_text()}, {e[0]:g} to {e[-1]:g} eV, "
                f"{'lazy' if self.is_lazy else 'computed'}, {self.model.n_replicas} replicas "
                f"(trained {rep.get('trained')}, retrained {rep.get('retrained')}, dropped {rep.get('dropped')}), "
                f"dark level {self.model.dark_level:g}; signals: {', '.join(self._signals)}>")

    def fit_band_gap(self, energy_range=None, exponent=None, *, law_delta_chi2=LAW_DELTA_CHI2, show_progressbar=None,
                     lazy_output=None):
        """Fit ``A (E - Eg)^b`` to every replica of every pixel's inelastic signal, and check the onset law.

        Each replica's inelastic spectrum is ``data + noise - zlp_r`` (the noise is
        drawn from :func:`~hyperspy_eels_ml.zlp.features.noise_sd`, seeded by the
        spectrum itself, so results do not depend on chunking); the fit is a
        weighted least-squares grid search over ``Eg`` (and ``b``) with a
        parabolic refinement, vectorised over replicas and pixels. The fit model
        is ``A (E - Eg)^b + k zlp_r``: a free level ``k`` of the subtracted ZLP
        absorbs an error of the extrapolated ZLP tail in the window, which the
        replicas agree on and so do not sample (on the simulated benchmark SI the
        replica ZLP band covers the true ZLP beyond dE1 in under 5 % of channels),
        and its uncertainty enters the gap's; without it the 68 % interval covered
        the truth in 0.54-0.61 of pixels, with it in 0.60-0.67. ``chi2`` is the
        reduced chi^2 of the same fit to the recorded data (``data - median zlp``).
        The onset alone is available as the :class:`~hyperspy_eels_ml.zlp.BandGap`
        component.

        The onset law is checked on every pixel: the direct (``b = 0.5``) and
        the indirect (``b = 1.5``) law are fitted to the recorded data (same
        window, grid, weights and ZLP level; ``chi2_direct``, ``chi2_indirect``
        and their difference ``delta_chi2_law`` in the result). Both have the
        same free parameters, so the data decide between them where
        abs(delta) >= ``law_delta_chi2`` in units of the better law's reduced
        chi^2 where that exceeds 1
        (:func:`~hyperspy_eels_ml.zlp.bandgap.law_decisive`: data noisier
        than the noise model, e.g. several counts per electron with
        ``count_gain=1``, would otherwise overstate delta by that factor).
        Where the exponent is not fixed and
        they do not decide, the pixel gets flag 1 ("law not resolved") and a
        warning names it; where the exponent is fixed and the other law fits
        better by at least the threshold, flag 2 and a warning.

        Parameters
        ----------
        energy_range : tuple of float, optional
            ``(start, end)`` in eV: from below the gap to the end of the onset.
            Default: found from the data (see :func:`~hyperspy_eels_ml.zlp.bandgap.default_window`).
        exponent : float or {None, "free", "chi2"}, optional
            A number fixes ``b`` (0.5 direct, 1.5 indirect); ``"free"`` fits it
            (0.3-2.5); ``"chi2"`` fixes it, per pixel, at the law the data decide
            for (abs(delta) >= ``law_delta_chi2``) and fits it freely where they
            do not (those pixels flagged); None is
            :data:`~hyperspy_eels_ml.zlp.bandgap.DEFAULT_LAW`.
        law_delta_chi2 : float, optional
            chi^2 difference between the two laws for the data to decide (default
            9, 3 sigma).
        show_progressbar, lazy_output : optional

        Returns
        -------
        BandGapResult
            ``Eg``, ``Eg_lower``, ``Eg_upper``, ``b``, ``b_lower``, ``b_upper``,
            ``chi2`` maps; NaN where no onset was resolved (``reason`` map says
            why); ``chi2_direct``, ``chi2_indirect``, ``delta_chi2_law`` and
            ``flags`` (the law check).
        """
        from .bandgap import fit_band_gap_replicas

        return fit_band_gap_replicas(self, energy_range, exponent=exponent, law_delta_chi2=law_delta_chi2,
                                     show_progressbar=show_progressbar, lazy_output=lazy_output)

    def fit_plasmon(self, energy_range=None, *, deconvolve=True, show_progressbar=None, lazy_output=None):
        """Bulk plasmon energy and width per pixel, with 68 % intervals from the replicas.

        Every replica's inelastic spectrum (``data + noise - zlp_r``, as in
        :meth:`fit_band_gap`) is Fourier-log deconvolved with its own ZLP
        (exspy's ``fourier_log_deconvolution``; ``deconvolve=False`` fits the
        inelastic signal as it is) and fitted in ``energy_range`` with
        ``A Im(-1/eps_Drude(E; Ep, Gamma))`` times the angular factor
        ``ln(1 + beta^2/theta_E^2)`` when the beam energy and collection angle
        are in the metadata (vectorised Levenberg-Marquardt over replicas and
        pixels; the :class:`~hyperspy_eels_ml.zlp.DrudePlasmon` component is the
        same model for ``create_model``).

        Parameters
        ----------
        energy_range : tuple of float, optional
            ``(start, end)`` in eV around the plasmon peak. Default: where the
            pixel-averaged inelastic signal is above half its maximum (see
            :func:`~hyperspy_eels_ml.zlp.physics.default_plasmon_window`).
        deconvolve : bool
            Remove plural scattering first (recommended above t/lambda ~ 0.3).
        show_progressbar, lazy_output : optional

        Returns
        -------
        PlasmonResult
            ``Ep``, ``Ep_lower``, ``Ep_upper``, ``width``, ``width_lower``,
            ``width_upper``, ``chi2``, ``reason`` maps; NaN with a reason where the
            fit hit a bound, did not converge or found no peak.

        Notes
        -----
        The 68 % interval is the replica spread, widened by ``sqrt(chi2)``
        where the reduced chi^2 of the median replica exceeds 1 (a loss
        function that is not one Drude peak); the ``chi2`` map shows where.
        """
        from .physics import fit_plasmon_replicas

        return fit_plasmon_replicas(self, energy_range, deconvolve=deconvolve, show_progressbar=show_progressbar,
                                    lazy_output=lazy_output)

    def fit_peaks(self, energy_range=None, n_peaks=1, *, positions=None, background="linear", deconvolve=False,
                  show_progressbar=None, lazy_output=None):
        """Exciton / interband peak positions, widths and amplitudes per pixel, with 68 % intervals.

        Every replica's inelastic spectrum (``data + noise - zlp_r``, as in
        :meth:`fit_band_gap`; Fourier-log deconvolved first with
        ``deconvolve=True``) is fitted in ``energy_range`` with ``n_peaks``
        Gaussians on a linear (or constant) background by a vectorised
        Levenberg-Marquardt over replicas and pixels. In every replica the
        peaks are numbered by energy (peak 0 the lowest).

        Parameters
        ----------
        energy_range : tuple of float, optional
            ``(start, end)`` in eV, above 0 eV, holding the peaks and some
            background on both sides. Default: found from the data
            (:func:`~hyperspy_eels_ml.zlp.physics.default_peak_window`): 2 FWHM
            either side of the ``n_peaks`` lowest resolved peaks (prominence
            above 3 sigma) of the pixel-averaged inelastic signal between the
            band-gap window's start and its maximum (the bulk plasmon);
            :class:`EnergyRangeError` when fewer are resolved. The window used
            is in ``energy_range`` of the result.
        n_peaks : int
            Number of Gaussians (e.g. 2 for the A and B excitons of a TMD).
        positions : sequence of float, optional
            Starting positions (eV, inside ``energy_range``); default: the
            ``n_peaks`` highest local maxima of each replica above the chord
            of the window.
        background : {"linear", "constant"}
        deconvolve : bool
            Remove plural scattering first (exspy's ``fourier_log_deconvolution``).
        show_progressbar, lazy_output : optional

        Returns
        -------
        PeakResult
            ``position``, ``width`` (FWHM) and ``amplitude`` with ``_lower`` /
            ``_upper`` (16 / 84 %), and ``reason``: signals with the input's
            navigation axes and a ``Peak`` axis of length ``n_peaks``; ``chi2``
            a map. NaN with a reason where a peak's position ends within a
            channel of the window edge, its width at a bound (a recorded FWHM
            below 0.75 x the ZLP FWHM, i.e. narrower than the resolution, or
            a sigma above half the window), the fit did not converge, or its
            amplitude is not significant (t < 3). ``width`` is the recorded
            FWHM, the ZLP's included (for Gaussians, subtract the ZLP FWHM in
            quadrature).

        Notes
        -----
        As for :meth:`fit_plasmon`, the 68 % interval is the replica spread,
        widened by ``sqrt(chi2)`` where the reduced chi^2 of the median
        replica exceeds 1 (the window is not ``n_peaks`` Gaussians on a
        straight line). A Gaussian is a model choice: on a band-gap onset
        the background is not linear and the position follows the window.
        """
        from .physics import fit_peaks_replicas

        return fit_peaks_replicas(self, energy_range, n_peaks, positions=positions, background=background,
                                  deconvolve=deconvolve, show_progressbar=show_progressbar, lazy_output=lazy_output)

    def kramers_kronig(self, n=None, t=None, *, iterations=1, cutoff=None, show_progressbar=None, lazy_output=None):
        """Dielectric function and absolute thickness per pixel, with 68 % bands from the replicas.

        For every replica: Fourier-log deconvolution of ``data + noise - zlp_r``
        with ``zlp_r`` (exspy's ``fourier_log_deconvolution``), then exspy's
        ``kramers_kronig_analysis`` with that replica's ZLP integral as ``I0``,
        all replicas of a block of pixels in one call. Needs the beam energy
        and collection angle in the metadata
        (``s.set_microscope_parameters``). Like exspy's, the analysis neglects
        retardation, instrumental broadening and (with ``iterations=1``) surface
        losses.

        Parameters
        ----------
        n : float, optional
            Refractive index (for the sum-rule normalisation and the absolute
            thickness); give ``n`` or ``t``.
        t : float, optional
            Known thickness (nm) instead of ``n``.
        iterations : int
            exspy's surface-loss correction iterations (1 = none).
        cutoff : float, optional
            The single-scattering distribution is set to 0 below this energy
            (eV; default 3 x the ZLP FWHM): there it is ZLP mismatch and noise,
            which the sum rule divides by E. Lower it for metals with a
            significant intraband signal near 0 eV.
        show_progressbar, lazy_output : optional

        Returns
        -------
        KramersKronigResult
            ``eps1``, ``eps1_lower``, ``eps1_upper``, ``eps2``, ``eps2_lower``,
            ``eps2_upper`` (spectra on E > 0 with the input's navigation axes) and
            ``thickness``, ``thickness_lower``, ``thickness_upper`` (nm maps).
        """
        from .physics import kramers_kronig_replicas

        return kramers_kronig_replicas(self, n=n, t=t, iterations=iterations, cutoff=cutoff,
                                       show_progressbar=show_progressbar, lazy_output=lazy_output)

    def plot(self, index=None, energy_range=None, ax=None):
        """Plot one spectrum with the ZLP and inelastic medians and their 68 % bands.

        Parameters
        ----------
        index : tuple of int, optional
            Navigation index in array order (default: the pixel with the median thickness).
        energy_range : tuple of float, optional
        ax : matplotlib.axes.Axes, optional

        Returns
        -------
        matplotlib.figure.Figure
        """
        return LazyResult.plot(self, index=index, energy_range=energy_range, ax=ax)

    def _plot(self, index=None, energy_range=None, ax=None):
        from .plot import plot_result

        return plot_result(self, index=index, energy_range=energy_range, ax=ax)


class BandGapResult(_Lazy):
    """Band gap and onset exponent per pixel: replica median, 68 % interval, goodness of fit, onset-law check.

    Attributes
    ----------
    Eg, Eg_lower, Eg_upper : hyperspy.signal.BaseSignal
        Gap (eV): replica median and 16 / 84 % percentiles; NaN where no onset
        was resolved.
    b, b_lower, b_upper : hyperspy.signal.BaseSignal
        Onset exponent.
    chi2 : hyperspy.signal.BaseSignal
        Reduced chi^2 of the reported fit to the recorded data (goodness of fit per pixel).
    reason : hyperspy.signal.BaseSignal
        0 = fitted, 1 = gap at the edge of the search grid or below the
        window start, 2 = no resolved onset (amplitude not significant) (see
        :attr:`reason_names`).
    chi2_direct, chi2_indirect : hyperspy.signal.BaseSignal
        Reduced chi^2 of the direct (``b = 0.5``) and of the indirect (``b =
        1.5``) law fitted to the recorded data in the same window (same Eg
        grid, weights and free ZLP level; see
        :data:`~hyperspy_eels_ml.zlp.bandgap.LAW_EXPONENTS`), whatever
        ``exponent`` was asked for.
    delta_chi2_law : hyperspy.signal.BaseSignal
        ``chi2(b = 0.5) - chi2(b = 1.5)`` as sums (not reduced): > 0 favours
        the indirect law, < 0 the direct one; the data decide where
        abs(delta) / max(1, min(``chi2_direct``, ``chi2_indirect``)) >=
        :attr:`law_delta_chi2` (:func:`~hyperspy_eels_ml.zlp.bandgap.law_decisive`).
    flags : hyperspy.signal.BaseSignal
        Bits (see :attr:`flag_names`), set only where an onset is resolved
        (``reason`` 0 or 1): 1 = the onset law is not resolved (exponent not
        fixed and the law check not decisive: the gap depends
        on a law the data cannot choose), 2 = the fixed exponent is beaten by
        the other textbook law by at least the threshold (likely the wrong law).
    energy_range : tuple of float
        The fit window used.
    law : str
        How ``b`` was chosen: ``"fixed"`` (the user's exponent), ``"free"``
        (fitted on 0.3-2.5) or ``"chi2"`` (fixed at the law the data decide for
        where they decide, fitted freely elsewhere).
    law_delta_chi2 : float
        The decision threshold used.
    exponent : float or None
        The fixed exponent (None unless ``law`` is ``"fixed"``).
    """

    _signals = ("Eg", "Eg_lower", "Eg_upper", "b", "b_lower", "b_upper", "chi2", "reason", "chi2_direct",
                "chi2_indirect", "delta_chi2_law", "flags")
    _signal_attributes = _signals
    reason_names = {0: "fitted", 1: "gap at the grid edge or below the window", 2: "no resolved onset"}
    flag_names = LAW_FLAG_NAMES

    def __init__(self, energy_range=None, law="free", law_delta_chi2=LAW_DELTA_CHI2, exponent=None, **signals):
        super().__init__(**signals)
        self.energy_range = energy_range
        self.law = law
        self.law_delta_chi2 = law_delta_chi2
        self.exponent = exponent

    def compute(self, show_progressbar=None):
        """Compute every lazy map together; returns self.

        The NaN and onset-law warnings are given once the maps are known.
        """
        if self._compute_signals(show_progressbar):
            from .bandgap import warn_law, warn_unresolved

            warn_unresolved(self)
            warn_law(self, self.exponent)
        return self

    def __repr__(self):
        lo, hi = self.energy_range
        txt = ""
        if not self.is_lazy:
            eg = np.asarray(self.Eg.data, float)
            ok = np.isfinite(eg)
            txt = (f", median Eg {np.nanmedian(eg):.3g} eV" if ok.any() else ", no gap resolved") + \
                f", {int((~ok).sum())} of {eg.size} NaN, {int((np.asarray(self.flags.data) != 0).sum())} law-flagged"
        return (f"<BandGapResult: {self._nav_text()}, window {lo:g}-{hi:g} eV, "
                f"{'lazy' if self.is_lazy else 'computed'}{txt}>")

    def plot(self):
        """Maps of Eg and its 68 % interval width (or error bars for few pixels); returns a Figure."""
        return LazyResult.plot(self)

    def _plot(self):
        from .plot import plot_band_gap

        return plot_band_gap(self)


class PlasmonResult(_Lazy):
    """Bulk plasmon energy and width per pixel: replica median, 68 % interval, goodness of fit.

    Attributes
    ----------
    Ep, Ep_lower, Ep_upper : hyperspy.signal.BaseSignal
        Plasmon energy (eV, the Drude ``Ep``): replica median and 16 / 84 % percentiles.
    width, width_lower, width_upper : hyperspy.signal.BaseSignal
        Drude width ``Gamma`` (eV).
    chi2 : hyperspy.signal.BaseSignal
        Reduced chi^2 of the median replica fit.
    reason : hyperspy.signal.BaseSignal
        0 fitted, 1 Ep at the window edge or width at a bound, 2 not converged,
        3 no significant peak (see :attr:`reason_names`); NaN values elsewhere.
    energy_range : tuple of float
        The fit window.
    deconvolved : bool
        Whether plural scattering was removed first.
    """

    _signals = ("Ep", "Ep_lower", "Ep_upper", "width", "width_lower", "width_upper", "chi2", "reason")
    _signal_attributes = _signals

    def __init__(self, energy_range=None, deconvolved=True, **signals):
        from .physics import PLASMON_REASONS

        super().__init__(**signals)
        self.energy_range = energy_range
        self.deconvolved = deconvolved
        self.reason_names = PLASMON_REASONS

    def __repr__(self):
        lo, hi = self.energy_range
        txt = ""
        if not self.is_lazy:
            ep = np.asarray(self.Ep.data, float)
            ok = np.isfinite(ep)
            txt = (f", median Ep {np.nanmedian(ep):.3g} eV, width {np.nanmedian(self.width.data):.3g} eV"
                   if ok.any() else ", no plasmon fitted") + f", {int((~ok).sum())} of {ep.size} NaN"
        return (f"<PlasmonResult: {self._nav_text()}, window {lo:g}-{hi:g} eV, "
                f"{'lazy' if self.is_lazy else 'computed'}{txt}>")

    def plot(self):
        """Ep and width with their 68 % intervals (maps for SIs, error bars otherwise); returns a Figure."""
        return LazyResult.plot(self)

    def _plot(self):
        from .plot import plot_pixel_values

        return plot_pixel_values(self, (("Ep", "Bulk plasmon energy Ep (eV)"), ("width", "Plasmon width (eV)")),
                                 f"Bulk plasmon (Drude), window {self.energy_range[0]:g}-{self.energy_range[1]:g} eV")


class PeakResult(_Lazy):
    """Peak (exciton, interband) positions, FWHM and amplitudes per pixel from the replica fits.

    Attributes
    ----------
    position, position_lower, position_upper : hyperspy.signals.Signal1D
        Peak position (eV): replica median and 16 / 84 % percentiles; the
        input's navigation axes and a ``Peak`` signal axis (peak 0 the lowest).
    width, width_lower, width_upper : hyperspy.signals.Signal1D
        Gaussian FWHM (eV).
    amplitude, amplitude_lower, amplitude_upper : hyperspy.signals.Signal1D
        Peak height (counts per channel).
    reason : hyperspy.signals.Signal1D
        Per peak: 0 fitted, 1 position at the window edge or width at a bound,
        2 not converged, 3 amplitude not significant (see :attr:`reason_names`).
    chi2 : hyperspy.signal.BaseSignal
        Reduced chi^2 of the median replica fit (map).
    energy_range, n_peaks, deconvolved
        The fit settings.
    """

    _signals = ("position", "position_lower", "position_upper", "width", "width_lower", "width_upper",
                "amplitude", "amplitude_lower", "amplitude_upper", "reason", "chi2")
    _signal_attributes = _signals

    def __init__(self, energy_range=None, n_peaks=1, deconvolved=False, **signals):
        from .physics import PEAK_REASONS

        super().__init__(**signals)
        self.energy_range = energy_range
        self.n_peaks = n_peaks
        self.deconvolved = deconvolved
        self.reason_names = PEAK_REASONS

    def __repr__(self):
        lo, hi = self.energy_range
        txt = ""
        if not self.is_lazy:
            pos = np.asarray(self.position.data, float).reshape(-1, self.n_peaks)
            with np.errstate(all="ignore"):
                med = [f"{np.nanmedian(c):.3g}" if np.isfinite(c).any() else "NaN" for c in pos.T]
            txt = f", median positions {', '.join(med)} eV, {int(np.isnan(pos).sum())} of {pos.size} NaN"
        return (f"<PeakResult: {self._nav_text()}, {self.n_peaks} peak(s), window {lo:g}-{hi:g} eV, "
                f"{'lazy' if self.is_lazy else 'computed'}{txt}>")

    def plot(self):
        """Position and FWHM of every peak with 68 % intervals against pixel index; returns a Figure."""
        return LazyResult.plot(self)

    def _plot(self):
        import matplotlib.pyplot as plt

        K = self.n_peaks
        fig, axs = plt.subplots(2, 1, figsize=(7, 5.2), sharex=True)
        for ax, name, label in zip(axs, ("position", "width"), ("Peak position (eV)", "Peak FWHM (eV)")):
            v, lo, hi = (np.asarray(getattr(self, name + s).data, float).reshape(-1, K)
                         for s in ("", "_lower", "_upper"))
            x = np.arange(v.shape[0])
            for k in range(K):
                ax.errorbar(x, v[:, k], yerr=[v[:, k] - lo[:, k], hi[:, k] - v[:, k]], fmt="o", ms=3, capsize=2,
                            label=f"peak {k}")
            ax.set_ylabel(label)
            ax.legend(fontsize=8)
        axs[-1].set_xlabel("pixel (flattened index)")
        fig.suptitle(f"Peak fit, window {self.energy_range[0]:g}-{self.energy_range[1]:g} eV (68 % intervals)")
        return fig


class KramersKronigResult(_Lazy):
    """Dielectric function and absolute thickness per pixel from Kramers-Kronig analysis of every replica.

    Attributes
    ----------
    eps1, eps1_lower, eps1_upper, eps2, eps2_lower, eps2_upper : hyperspy.signals.Signal1D
        Real and imaginary parts of the dielectric function (replica median and
        16 / 84 % percentiles) on the energies above 0 eV, with the input's navigation axes.
    thickness, thickness_lower, thickness_upper : hyperspy.signal.BaseSignal
        Absolute thickness (nm) from the Kramers-Kronig sum rule (given ``t``
        when the normalisation used ``t``).
    n, t : float or None
        The normalisation used.
    """

    _signals = ("eps1", "eps1_lower", "eps1_upper", "eps2", "eps2_lower", "eps2_upper", "thickness",
                "thickness_lower", "thickness_upper")
    _signal_attributes = _signals

    def __init__(self, n=None, t=None, **signals):
        super().__init__(**signals)
        self.n, self.t = n, t

    def __repr__(self):
        txt = ""
        if not self.is_lazy:
            th = np.asarray(self.thickness.data, float)
            txt = f", median thickness {np.nanmedian(th):.3g} nm" if np.isfinite(th).any() else ""
        norm = f"n = {self.n:g}" if self.n is not None else f"t = {self.t:g} nm"
        return f"<KramersKronigResult: {self._nav_text()}, {norm}, {'lazy' if self.is_lazy else 'computed'}{txt}>"

    def plot(self, index=None, ax=None):
        """eps1 and eps2 of one pixel with their 68 % bands (default: the median-thickness pixel); a Figure."""
        return LazyResult.plot(self, index=index, ax=ax)

    def _plot(self, index=None, ax=None):
        from .plot import plot_dielectric

        return plot_dielectric(self, index=index, ax=ax)
