"""Public function ``subtract_zlp_nn``: :func:`~.fit.fit_zlp` then :meth:`~.model.ZLPModel.subtract`.

Layers of the ZLP capability (one module each): :mod:`.features` (pixel
features, regions, the noise model), :mod:`.network` (batched replica
networks), :mod:`.fit` (``fit_zlp`` -> :class:`~.model.ZLPModel`),
:mod:`.model` (the model and its persistence), :mod:`.blocks` (what dask maps
over chunks), :mod:`.result` (:class:`~.result.ZLPResult`,
:class:`~.result.BandGapResult`), :mod:`.bandgap` (onset fits), :mod:`.plot`.
"""

from __future__ import annotations

from .._shared.validation import validate_eels
from .fit import fit_validated, resolve_count_gain

__all__ = ["subtract_zlp_nn"]


def subtract_zlp_nn(signal, vacuum=None, *, n_clusters=3, n_replicas=100, dE1=None, dE2=None,
                    max_training_pixels=2000, hidden=(10, 15, 5), max_epochs=4000, learning_rate=0.02, patience=600,
                    count_gain=1.0, dark_level="auto", random_state=None, show_progressbar=None, lazy_output=None):
    """Subtract the zero-loss peak with a replica ensemble of neural networks.

    NNPDF-style method of Roest et al. (Ultramicroscopy 222 (2021) 113202): Monte
    Carlo replicas of the data, one small network per replica, the median and
    16-84 % band of the ensemble as result and uncertainty. All replicas are
    trained together as one batched network with early stopping on held-out
    spectra; failed replicas are retrained or dropped (``result.replica_report``).
    Details in :mod:`hyperspy_eels_ml.zlp.fit`.

    Parameters
    ----------
    signal : exspy.signals.EELSSpectrum
        Low-loss spectrum, line scan or SI (eager or lazy), ZLP aligned at 0 eV
        (``s.align_zero_loss_peak()``), with some energy-gain channels.
    vacuum : EELSSpectrum, list, "gain_side", "none", False or None, optional
        Vacuum spectra on the same energy axis (a pure-ZLP reference; one more
        cluster for the networks). ``"gain_side"``: the energy-gain side of the
        32 thinnest spectra, mirrored onto the loss side and continued beyond
        its mirror image as a power law, serves as the reference (it assumes
        symmetric ZLP tails); refused (EnergyRangeError) when the gain side is
        shorter than 10 FWHM (``fit.GAIN_SIDE_MIN_FWHM``). None (default):
        ``"gain_side"`` when the gain side is that long, else no reference.
        ``"none"`` or False: no reference (the default before issue 12; dE1 from
        the first minimum, see below). Which one was used:
        ``result.model.params["vacuum_source"]`` (``"given"``, ``"gain_side"``,
        ``"gain_side (auto)"`` or None). On a simulated coarse long-range SI
        (``benchmarks/bench_zlp_gain_side.py``) the automatic gain side cuts the
        median t/lambda bias from -0.08 to -0.02, also with loss-side tails
        1.3-1.6x the gain side (user guide, "Gain side by default").
    n_clusters : int
        Thickness clusters of the specimen pixels (K-means on ``ln(total/ZLP counts)``).
    n_replicas : int
        Monte Carlo replicas (networks).
    dE1, dE2 : float or sequence, optional
        End of the fitted region (eV, > FWHM) and end of the smooth-tail
        constraint, one value or one per cluster (clusters sorted by ``c``; a
        vacuum reference is usually the first). Default, from the data (Roest et
        al. 2021 / EELSfitter): with a vacuum reference, ``dE1`` is where the
        specimen's log-slope departs from the vacuum's
        (:func:`~hyperspy_eels_ml.zlp.features.departure_from_vacuum`) and
        ``dE2`` where the vacuum's tail reaches its noise (also for the
        gain-side reference); without any (``vacuum="none"``, or a gain side
        shorter than 10 FWHM),
        ``dE1`` = 0.7 x the first minimum after the ZLP and ``dE2 = 3 dE1``. Only a
        minimum the noise resolves counts (counting plus the read noise estimated
        from the data, ``model.params["read_noise"]``); a spectrum without one is
        ZLP-only and fitted down to one electron per channel. The
        rule used per cluster is in ``model.diagnostics["dE_rule"]``; see
        ``result.model.plot_regions()``.
    max_training_pixels : int
        Pixels sampled (uniformly, seeded) for training; the subtraction runs on all.
    hidden : tuple of int
        Hidden layer sizes of each replica's network.
    max_epochs, learning_rate, patience : int, float, int
        Training (Adam with a cosine learning-rate decay over ``max_epochs``
        steps, XLA-compiled; early stopping with ``patience`` in steps: when no
        replica's held-out score improves, or when the replica-median ZLP
        moved by less than a quarter of its 68 % band over the last
        ``patience`` steps; the rule that stopped is in
        ``model.diagnostics["stop_rule"]``). A 1,500-step schedule gave the
        same results on the simulated benchmark SI (which stops at about 800)
        but a t/lambda of 0.10 instead of 0.18 on the real 16x16 SI, whose
        training stops (ZLP stable) at about 3,100 steps: 4,000 stays.
        With 20 or more replicas this full schedule trains only 10 central
        replicas (each on its own bootstrap targets; about a sixth of the cost per
        step); every replica then starts from one of them and trains on its
        own targets for at most 1,000 steps (``fit.WARM_START``;
        ``model.diagnostics["central_epochs"]`` and ``["epochs"]``).
    count_gain : float or "auto"
        Detector counts per electron (Poisson variance = ``count_gain x counts``);
        every count threshold of the method scales with it, so data x a with
        ``count_gain`` x a give the same relative result. ``"auto"``: estimated
        from the data (training and vacuum spectra beyond 5 FWHM of the ZLP,
        photon-transfer mean-variance gain with the long-run variance, so that
        noise correlated between channels counts in full:
        :func:`~hyperspy_eels_ml.zlp.features.estimate_count_gain`); the value
        is ``result.model.params["count_gain"]``, how it was found
        ``["count_gain_source"]`` (``"user"`` for a number). Not estimable: a
        warning and 1.0.
    dark_level : "auto", float or None
        Detector offset (counts per channel) removed from every spectrum before
        training and subtraction, so that it ends up neither in the ZLP nor in the
        inelastic signal (``result.model.dark_level``; how it was found:
        ``result.model.params["dark_level_source"]``). ``"auto"``: a constant
        fitted together with the ZLP tail beyond 3 FWHM, on the loss side of the
        vacuum reference if given, else on the energy-gain side, used only when
        significant (:func:`~hyperspy_eels_ml.zlp.features.estimate_dark_level`).
        0 or None: none.
    random_state : int, optional
    show_progressbar : bool, optional
        Default: HyperSpy's preference.
    lazy_output : bool, optional
        Default: lazy if ``signal`` is lazy (inference then runs chunk by chunk).

    Returns
    -------
    ZLPResult
        ``inelastic``/``zlp`` signals with 68 % bands, ``thickness`` maps,
        ``flags`` (sanity bits per pixel, with a warning naming the pixels),
        ``fit_band_gap()``, ``plot()``, ``model`` (savable).

    Raises
    ------
    EnergyRangeError
        No 0 eV in the axis, too few gain-side channels, ``dE1`` outside the axis.
    ZLPNotCentredError
        The ZLP maximum is not at 0 eV (align first).
    NonFiniteDataError
        NaN or inf in the data.
    ParameterError
        A parameter of the wrong type or outside its range.

    Notes
    -----
    Physical constraints of the ZLP (training penalties): positive (it is the
    exponential of the network output); decreasing on the loss side; beyond
    ``dE1`` never above the cluster's data plus 3 sigma of its counting noise,
    and, with a vacuum reference, following the vacuum reference's tail (scaled
    to the same core counts) up to the vacuum's own fitted range.

    Negative counts (over-subtracted dark reference) count as 0 for training and
    for the noise variance, and are kept as they are in ``inelastic``; a warning is
    given when more than 1 % of the training channels are negative.

    Examples
    --------
    >>> import hyperspy_eels_ml                                   # doctest: +SKIP
    >>> r = s.subtract_zlp_nn(n_replicas=100, random_state=0)    # doctest: +SKIP
    >>> r.inelastic.plot(); r.plot()                              # doctest: +SKIP
    >>> gap = r.fit_band_gap(energy_range=(1.0, 3.0), exponent=1.5)  # doctest: +SKIP
    """
    v = validate_eels(signal, what="subtract_zlp_nn", min_channels=32)  # once: fit and subtraction share it
    count_gain, source, random_state = resolve_count_gain(v, vacuum, count_gain, dark_level, max_training_pixels,
                                                          random_state)
    model = fit_validated(v, vacuum, n_clusters=n_clusters, n_replicas=n_replicas, dE1=dE1, dE2=dE2,
                    max_training_pixels=max_training_pixels, hidden=hidden, max_epochs=max_epochs,
                    learning_rate=learning_rate, patience=patience, count_gain=count_gain, dark_level=dark_level,
                    random_state=random_state, show_progressbar=show_progressbar, count_gain_source=source)
    return model.subtract_validated(v, count_gain=count_gain, show_progressbar=show_progressbar,
                                    lazy_output=lazy_output)
