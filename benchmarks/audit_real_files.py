"""Robustness audit: the four methods on every real file of ``$HYPERSPY_EELS_ML_DATA``, called as a user would.

For each file of ``index.json`` (default ``../shared/data``) the file is loaded the obvious way (``hs.load``
and ``set_signal_type("EELS")``; two-column text and csv through
:func:`hyperspy_eels_ml.spectrum_from_columns`; the one-row WS2 / one-column CBL-ML text files with the
axis from the file name) and every method that applies is called, with defaults and common variants:

* ``identify_elements`` on core-loss files: defaults, one pixel of an SI (``s.inav[0]`` /
  ``s.inav[0, 0]``), a navigation of size 1, a cropped signal range ``s.isig[a:b]``, lazy
  (``hs.load(..., lazy=True)`` for hspy/dm3/dm4, else ``s.as_lazy()``), int32 counts, two dead (all-zero)
  pixels, ``low_loss=`` the dual-EELS partner;
* ``classify_oxidation`` on the oxidation / Mn / Fe files: defaults, ``element=`` given, lazy, int32, dead
  pixels, one pixel, ``low_loss=`` partner;
* ``subtract_zlp_nn(n_replicas=8)`` on low-loss files (SIs cropped to 4 x 4 pixels; when it refuses an
  unaligned ZLP, again after ``s.align_zero_loss_peak(subpixel=True, crop=True)`` as its message says),
  int32 counts, dead pixels, ``vacuum=`` the three WS2 vacuum spectra / ``"gain_side"`` / a vacuum on
  another axis / a numpy array, then ``fit_band_gap()`` (WS2, MoS2) or ``fit_plasmon()`` on the result;
* ``umap_cluster`` on the SIs (navigation crop of at most 20 x 20): defaults, ``signal_range=``, lazy,
  int32, dead pixels, short line scans;
* the result methods a user calls next: ``plot()`` (Agg backend), ``explain``, ``flags``,
  ``to_metadata`` (on a copy), ``predict``;
* wrong inputs a user may try: ``identify_elements`` / ``classify_oxidation`` on a low-loss file,
  ``subtract_zlp_nn`` on a core-loss file, ``classify_oxidation`` on a file without Mn/Fe or for an absent
  element, ``umap_cluster`` on one spectrum or on a fitted map, NaN channels, a non-eV axis (units
  ``"nm"``; ``"keV"`` is converted), a non-uniform axis, a plain ``hs.signals.Signal1D``.

Each call is classified as

``ok``
    a result came back; its signals are checked for non-finite values (reported as ``nan a/b`` in the
    note, with the reason the API gives: a mask, ``not_assessable``, a ``reason`` map);
``clear error``
    an exception of :mod:`hyperspy_eels_ml._shared.exceptions`, or a ``ValueError`` / ``TypeError``
    whose message names the problem;
``BUG``
    any other exception type (``IndexError``, ``KeyError``, ...), the input signal modified (data,
    metadata, original_metadata or axes differ after the call), more than ``MAX_WARNINGS`` warnings,
    TensorFlow log lines on stderr, or an ``ok`` result whose main output is all NaN with no reason.

Usage::

    python benchmarks/audit_real_files.py [--data DIR] [--only SUBSTR ...] [--json rows.json]

``--only`` keeps the files whose path contains any of the given substrings (and the wrong-input rows
built from them). Seconds are wall time per call on one thread.

Last run
--------
2026-12-04, commit a1c7e02 (+ this script), one thread, ``python benchmarks/audit_real_files.py``
(HYPERSPY_EELS_ML_DATA=/work/shared/data): 427 calls, ok 310, clear error 117,
BUG 0. Found by this audit and fixed before this run: classify_oxidation masked pixels whose
pre-edge power law could not be fitted silently with snr 0 (EELS DB Co L3 file; commit 059d0f9: snr NaN +
warning); subtract_zlp_nn failed on SIs with dead pixels with "a vacuum spectrum has no counts" (no vacuum
given; commit c16fc3f); ``navigation_shape`` / repr of the ZLP and oxidation results of a single spectrum
gave the channel count (commit a1c7e02). Under each row: what came back (``nan a/b``: non-finite values of a
result signal, i.e. masked / not assessable pixels) or the error's message, shortened.

Rerun after the merge into main (commit 7b55f89: the E8 elements network, the valence models' 0.75-1.05 eV/ch
and the fixes above; one thread, 434 s, 1.7 GB peak): **428 calls, ok 318, clear error 110, BUG 0**. The
difference from the table below: the seven ``classify_oxidation`` rows of the 1 eV/ch LSMO/STO line scan that
were refused ("coarser than the 0.6 eV/channel the valence model accepts") are now ok (plus one result-plot
row); the Mn valence model's EnergyRangeError names the model once. Every other row is as below.

::

    file                                       method                     variant                      outcome         s
    --------------------------------------------------------------------------------------------------------------------
    exspy_pkg__coreloss_spectrum.msa           identify_elements          default                      ok            0.4
        found O,Mn; probabilities nan 63/80
    exspy_pkg__coreloss_spectrum.msa           ElementsResult.plot                                     ok            0.2
    exspy_pkg__coreloss_spectrum.msa           ElementsResult.explain     O                            ok            0.0
    exspy_pkg__coreloss_spectrum.msa           ElementsResult.flags                                    ok            0.0
    exspy_pkg__coreloss_spectrum.msa           ElementsResult.to_metadata on a copy                    ok            0.0
    exspy_pkg__coreloss_spectrum.msa           identify_elements          isig[401:688]                ok            0.1
        found O,Mn; probabilities nan 70/80
    exspy_pkg__coreloss_spectrum.msa           identify_elements          lazy                         ok            0.0
        found O,Mn; probabilities nan 63/80
    exspy_pkg__coreloss_spectrum.msa           identify_elements          int32 counts                 ok            0.1
        found O,Mn; probabilities nan 63/80
    exspy_pkg__coreloss_spectrum.msa           classify_oxidation         default                      clear error   0.0
        ValueError: Give element= (e.g. 'Fe' or 'Mn') to use a shipped model.
    exspy_pkg__coreloss_spectrum.msa           classify_oxidation         element='Mn'                 ok            0.4
        fractions Mn2+=0.00,Mn3+=1.00,Mn4+=0.00
    exspy_pkg__coreloss_spectrum.msa           OxidationResult.plot                                    ok            0.3
    exspy_pkg__coreloss_spectrum.msa           classify_oxidation         lazy element='Mn'            ok            0.1
        fractions Mn2+=0.00,Mn3+=1.00,Mn4+=0.00
    exspy_pkg__coreloss_spectrum.msa           classify_oxidation         int32 counts element='Mn'    ok            0.2
        fractions Mn2+=0.00,Mn3+=1.00,Mn4+=0.00
    exspy_pkg__coreloss_spectrum.msa           identify_elements          low_loss=partner             ok            0.1
        found O,Mn; probabilities nan 63/80
    exspy_pkg__coreloss_spectrum.msa           classify_oxidation         low_loss=partner element='Mn ok            0.3
        fractions Mn0=0.00,Mn2+=0.00,Mn3O4=0.00,Mn3+=0.00,Mn4+=1.00
    exspy_pkg__lowloss_spectrum.msa            subtract_zlp_nn            n_replicas=8                 ok            9.7
    exspy_pkg__lowloss_spectrum.msa            subtract_zlp_nn            vacuum='gain_side'           ok            5.2
    exspy_pkg__lowloss_spectrum.msa            subtract_zlp_nn            vacuum=numpy array (wrong)   ok            2.4
    exspy_pkg__lowloss_spectrum.msa            ZLPResult.plot                                          ok            0.0
    exspy_pkg__lowloss_spectrum.msa            ZLPResult.inelastic.plot                                ok            0.1
    exspy_pkg__lowloss_spectrum.msa            subtract_zlp_nn            int32 counts                 ok            5.5
    exspy_pkg__lowloss_spectrum.msa            fit_plasmon                default                      ok            0.2
        Ep median 32.21 eV
    exspy_pkg__lowloss_spectrum.msa            PlasmonResult.plot                                      ok            0.0
    exspy_pkg__Cr_L_cl.hspy                    identify_elements          default                      clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    exspy_pkg__Cr_L_cl.hspy                    identify_elements          isig[564:592]                clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    exspy_pkg__Cr_L_cl.hspy                    identify_elements          lazy                         clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    exspy_pkg__Cr_L_cl.hspy                    identify_elements          int32 counts                 clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    exspy_pkg__Cr_L_cl.hspy                    identify_elements          low_loss=partner             clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    exspy_pkg__Cr_L_ll.hspy                    subtract_zlp_nn            n_replicas=8                 ok            8.6
    exspy_pkg__Cr_L_ll.hspy                    subtract_zlp_nn            vacuum='gain_side'           ok            8.4
    exspy_pkg__Cr_L_ll.hspy                    subtract_zlp_nn            vacuum=numpy array (wrong)   ok            8.3
    exspy_pkg__Cr_L_ll.hspy                    ZLPResult.plot                                          ok            0.0
    exspy_pkg__Cr_L_ll.hspy                    ZLPResult.inelastic.plot                                ok            0.1
    exspy_pkg__Cr_L_ll.hspy                    subtract_zlp_nn            int32 counts                 ok            8.8
    exspy_pkg__Cr_L_ll.hspy                    fit_plasmon                default                      ok            0.2
        Ep median 27.67 eV
    exspy_pkg__Cr_L_ll.hspy                    PlasmonResult.plot                                      ok            0.0
    exspy-demos__CuZn_EELS_mapping_tutorial.hs identify_elements          default                      clear error   0.0
        EnergyAxisError: identify_elements supports dispersions of 0.05-2.0 eV/ch, the signal has 8 eV/ch. Rebin (e.g. `
    exspy-demos__CuZn_EELS_mapping_tutorial.hs identify_elements          inav[0, 0]                   clear error   0.0
        EnergyAxisError: identify_elements supports dispersions of 0.05-2.0 eV/ch, the signal has 8 eV/ch. Rebin (e.g. `
    exspy-demos__CuZn_EELS_mapping_tutorial.hs identify_elements          isig[829:1730]               clear error   0.0
        EnergyAxisError: identify_elements supports dispersions of 0.05-2.0 eV/ch, the signal has 8 eV/ch. Rebin (e.g. `
    exspy-demos__CuZn_EELS_mapping_tutorial.hs identify_elements          lazy                         clear error   0.0
        EnergyAxisError: identify_elements supports dispersions of 0.05-2.0 eV/ch, the signal has 8 eV/ch. Rebin (e.g. `
    exspy-demos__CuZn_EELS_mapping_tutorial.hs identify_elements          int32 counts                 clear error   0.0
        EnergyAxisError: identify_elements supports dispersions of 0.05-2.0 eV/ch, the signal has 8 eV/ch. Rebin (e.g. `
    exspy-demos__CuZn_EELS_mapping_tutorial.hs identify_elements          2 dead pixels                clear error   0.0
        EnergyAxisError: identify_elements supports dispersions of 0.05-2.0 eV/ch, the signal has 8 eV/ch. Rebin (e.g. `
    exspy-demos__CuZn_EELS_mapping_tutorial.hs identify_elements          navigation size 1            clear error   0.0
        EnergyAxisError: identify_elements supports dispersions of 0.05-2.0 eV/ch, the signal has 8 eV/ch. Rebin (e.g. `
    exspy-demos__CuZn_EELS_mapping_tutorial.hs umap_cluster               default                      ok           15.1
        1 clusters
    exspy-demos__CuZn_EELS_mapping_tutorial.hs UMAPClusterResult.plot                                  ok            0.2
    exspy-demos__CuZn_EELS_mapping_tutorial.hs UMAPClusterResult.predict  same signal                  ok            0.2
        1 clusters
    exspy-demos__CuZn_EELS_mapping_tutorial.hs umap_cluster               signal_range=(958, 1859)     ok            0.9
        1 clusters
    exspy-demos__CuZn_EELS_mapping_tutorial.hs umap_cluster               int32 counts                 ok            1.0
        1 clusters
    exspy-demos__CuZn_EELS_mapping_tutorial.hs umap_cluster               2 dead pixels                ok            0.9
        1 clusters
    exspy-demos__CuZn_EELS_mapping_tutorial.hs umap_cluster               lazy                         ok            0.8
        1 clusters
    exspy-demos__Cu_map.hspy                   umap_cluster               on a fitted map (wrong)      clear error   0.0
        NotEELSSignalError: umap_cluster works on EELS spectra (exspy.signals.EELSSpectrum), got Signal2D with signal_ty
    exspy-demos__Cu_map.hspy                   identify_elements          on a fitted map (wrong)      clear error   0.0
        NotEELSSignalError: identify_elements works on EELS spectra (exspy.signals.EELSSpectrum), got Signal2D with sign
    exspy-demos__Zn_map.hspy                   umap_cluster               on a fitted map (wrong)      clear error   0.0
        NotEELSSignalError: umap_cluster works on EELS spectra (exspy.signals.EELSSpectrum), got Signal2D with signal_ty
    exspy-demos__Zn_map.hspy                   identify_elements          on a fitted map (wrong)      clear error   0.0
        NotEELSSignalError: identify_elements works on EELS spectra (exspy.signals.EELSSpectrum), got Signal2D with sign
    exspy-demos__LSMO_linescan.hspy            identify_elements          default                      ok            0.1
        found O,Mn; probabilities nan 1360/1600
    exspy-demos__LSMO_linescan.hspy            ElementsResult.plot                                     ok            0.1
    exspy-demos__LSMO_linescan.hspy            ElementsResult.explain     O                            ok            0.0
    exspy-demos__LSMO_linescan.hspy            ElementsResult.flags                                    ok            0.0
    exspy-demos__LSMO_linescan.hspy            ElementsResult.to_metadata on a copy                    ok            0.0
    exspy-demos__LSMO_linescan.hspy            identify_elements          inav[0]                      ok            0.1
        found O,Mn; probabilities nan 68/80
    exspy-demos__LSMO_linescan.hspy            identify_elements          isig[458:662]                ok            0.1
        found O; probabilities nan 1460/1600
    exspy-demos__LSMO_linescan.hspy            identify_elements          lazy                         ok            0.0
        found O,Mn; probabilities nan 1360/1600
    exspy-demos__LSMO_linescan.hspy            identify_elements          int32 counts                 ok            0.1
        found O,Mn; probabilities nan 1360/1600
    exspy-demos__LSMO_linescan.hspy            identify_elements          2 dead pixels                ok            0.1
        found O,Mn; probabilities nan 1384/1600
    exspy-demos__LSMO_linescan.hspy            identify_elements          navigation size 1            ok            0.1
        found O,Mn; probabilities nan 68/80
    exspy-demos__LSMO_linescan.hspy            classify_oxidation         default                      clear error   0.0
        ValueError: Give element= (e.g. 'Fe' or 'Mn') to use a shipped model.
    exspy-demos__LSMO_linescan.hspy            classify_oxidation         element='Mn'                 ok            0.2
        fractions Mn2+=0.00,Mn3+=0.95,Mn4+=0.05
    exspy-demos__LSMO_linescan.hspy            OxidationResult.plot                                    ok            0.1
    exspy-demos__LSMO_linescan.hspy            classify_oxidation         lazy element='Mn'            ok            0.0
        fractions Mn2+=0.00,Mn3+=0.95,Mn4+=0.05
    exspy-demos__LSMO_linescan.hspy            classify_oxidation         2 dead pixels                ok            0.2
        fractions Mn2+=0.00,Mn3+=0.94,Mn4+=0.06; probabilities nan 6/60; mean_valence nan 2/20; edge_position nan 2/20
    exspy-demos__LSMO_linescan.hspy            classify_oxidation         int32 counts element='Mn'    ok            0.8
        fractions Mn2+=0.00,Mn3+=0.95,Mn4+=0.05
    exspy-demos__LSMO_linescan.hspy            classify_oxidation         navigation size 1            ok            0.2
        fractions Mn2+=0.00,Mn3+=1.00,Mn4+=0.00
    exspy-demos__LSMO_linescan.hspy            classify_oxidation         one pixel element='Mn'       ok            0.2
        fractions Mn2+=0.00,Mn3+=1.00,Mn4+=0.00
    exspy-demos__LSMO_linescan.hspy            identify_elements          low_loss=partner             ok            0.1
        found O,Mn; probabilities nan 1360/1600
    exspy-demos__LSMO_linescan.hspy            classify_oxidation         low_loss=partner element='Mn ok            0.2
        fractions Mn0=0.00,Mn2+=0.05,Mn3O4=0.95,Mn3+=0.00,Mn4+=0.00
    exspy-demos__LSMO_linescan.hspy            umap_cluster               default                      ok            0.3
        0 clusters
    exspy-demos__LSMO_linescan.hspy            UMAPClusterResult.plot                                  ok            0.1
    exspy-demos__LSMO_linescan.hspy            UMAPClusterResult.predict  same signal                  ok            0.2
        0 clusters
    exspy-demos__LSMO_linescan.hspy            umap_cluster               signal_range=(487, 692)      ok            0.3
        0 clusters
    exspy-demos__LSMO_linescan.hspy            umap_cluster               int32 counts                 ok            0.3
        0 clusters
    exspy-demos__LSMO_linescan.hspy            umap_cluster               2 dead pixels                ok            0.3
        0 clusters
    exspy-demos__LSMO_linescan_low_loss.hspy   subtract_zlp_nn            n_replicas=8                 clear error   0.0
        ZLPNotCentredError: The zero-loss peak is not at 0 eV: its maximum is at +3.074 eV (median over the training spe
    exspy-demos__LSMO_linescan_low_loss.hspy   subtract_zlp_nn            aligned, n_replicas=8        ok            4.4
    exspy-demos__LSMO_linescan_low_loss.hspy   subtract_zlp_nn            2 dead pixels                ok            5.7
        thickness nan 2/4; thickness_lower nan 2/4; thickness_upper nan 2/4
    exspy-demos__LSMO_linescan_low_loss.hspy   ZLPResult.plot                                          ok            0.0
    exspy-demos__LSMO_linescan_low_loss.hspy   ZLPResult.inelastic.plot                                ok            0.2
    exspy-demos__LSMO_linescan_low_loss.hspy   subtract_zlp_nn            int32 counts                 ok            4.3
    exspy-demos__LSMO_linescan_low_loss.hspy   fit_plasmon                default                      ok            0.1
        Ep median 29.63 eV
    exspy-demos__LSMO_linescan_low_loss.hspy   PlasmonResult.plot                                      ok            0.0
    exspy-demos__LSMO_linescan_low_loss.hspy   subtract_zlp_nn            lazy n_replicas=8            clear error   0.0
        ZLPNotCentredError: The zero-loss peak is not at 0 eV: its maximum is at +3.074 eV (median over the training spe
    exspy-demos__LSMO_linescan_low_loss.hspy   umap_cluster               low-loss SI                  ok            0.4
        0 clusters
    exspy-demos__LSMO_STO_linescan.hspy        identify_elements          default                      ok            0.1
        found O,Ti,Mn,La; probabilities nan 600/800
    exspy-demos__LSMO_STO_linescan.hspy        ElementsResult.plot                                     ok            0.1
    exspy-demos__LSMO_STO_linescan.hspy        ElementsResult.explain     O                            ok            0.0
    exspy-demos__LSMO_STO_linescan.hspy        ElementsResult.flags                                    ok            0.0
    exspy-demos__LSMO_STO_linescan.hspy        ElementsResult.to_metadata on a copy                    ok            0.0
    exspy-demos__LSMO_STO_linescan.hspy        identify_elements          inav[0]                      ok            0.1
        found O,Ti; probabilities nan 60/80
    exspy-demos__LSMO_STO_linescan.hspy        identify_elements          isig[446:804]                ok            0.1
        found O,Ti,Mn; probabilities nan 670/800
    exspy-demos__LSMO_STO_linescan.hspy        identify_elements          lazy                         ok            0.0
        found O,Ti,Mn,La; probabilities nan 600/800
    exspy-demos__LSMO_STO_linescan.hspy        identify_elements          int32 counts                 ok            0.1
        found O,Ti,Mn,La; probabilities nan 600/800
    exspy-demos__LSMO_STO_linescan.hspy        identify_elements          2 dead pixels                ok            0.1
        found O,Mn,La; probabilities nan 640/800
    exspy-demos__LSMO_STO_linescan.hspy        identify_elements          navigation size 1            ok            0.1
        found O,Ti; probabilities nan 60/80
    exspy-demos__LSMO_STO_linescan.hspy        classify_oxidation         default                      clear error   0.0
        ValueError: Give element= (e.g. 'Fe' or 'Mn') to use a shipped model.
    exspy-demos__LSMO_STO_linescan.hspy        classify_oxidation         element='Mn'                 clear error   0.0
        EnergyAxisError: The signal's dispersion 1 eV/channel is coarser than the 0.6 eV/channel the valence model accep
    exspy-demos__LSMO_STO_linescan.hspy        classify_oxidation         lazy element='Mn'            clear error   0.0
        EnergyAxisError: The signal's dispersion 1 eV/channel is coarser than the 0.6 eV/channel the valence model accep
    exspy-demos__LSMO_STO_linescan.hspy        classify_oxidation         2 dead pixels                clear error   0.0
        EnergyAxisError: The signal's dispersion 1 eV/channel is coarser than the 0.6 eV/channel the valence model accep
    exspy-demos__LSMO_STO_linescan.hspy        classify_oxidation         int32 counts element='Mn'    clear error   0.0
        EnergyAxisError: The signal's dispersion 1 eV/channel is coarser than the 0.6 eV/channel the valence model accep
    exspy-demos__LSMO_STO_linescan.hspy        classify_oxidation         navigation size 1            clear error   0.0
        EnergyAxisError: The signal's dispersion 1 eV/channel is coarser than the 0.6 eV/channel the valence model accep
    exspy-demos__LSMO_STO_linescan.hspy        classify_oxidation         one pixel element='Mn'       clear error   0.0
        EnergyAxisError: The signal's dispersion 1 eV/channel is coarser than the 0.6 eV/channel the valence model accep
    exspy-demos__LSMO_STO_linescan.hspy        identify_elements          low_loss=partner             ok            0.8
        found O,Ti,Mn,La; probabilities nan 600/800
    exspy-demos__LSMO_STO_linescan.hspy        classify_oxidation         low_loss=partner element='Mn clear error   0.0
        EnergyAxisError: The signal's dispersion 1 eV/channel is coarser than the 0.6 eV/channel the valence model accep
    exspy-demos__LSMO_STO_linescan.hspy        umap_cluster               10 spectra                   ok            0.3
        0 clusters
    exspy-demos__LSMO_STO_linescan_low_loss.hs subtract_zlp_nn            n_replicas=8                 ok            6.8
    exspy-demos__LSMO_STO_linescan_low_loss.hs subtract_zlp_nn            2 dead pixels                ok            4.3
        thickness nan 2/4; thickness_lower nan 2/4; thickness_upper nan 2/4
    exspy-demos__LSMO_STO_linescan_low_loss.hs ZLPResult.plot                                          ok            0.0
    exspy-demos__LSMO_STO_linescan_low_loss.hs ZLPResult.inelastic.plot                                ok            0.2
    exspy-demos__LSMO_STO_linescan_low_loss.hs subtract_zlp_nn            int32 counts                 ok            5.5
    exspy-demos__LSMO_STO_linescan_low_loss.hs fit_plasmon                default                      ok            0.2
        Ep median 31.30 eV
    exspy-demos__LSMO_STO_linescan_low_loss.hs PlasmonResult.plot                                      ok            0.0
    exspy-demos__LSMO_STO_linescan_low_loss.hs subtract_zlp_nn            lazy n_replicas=8            ok            7.3
    exspy-demos__LSMO_STO_linescan_low_loss.hs umap_cluster               10 spectra                   ok            0.3
        0 clusters
    delpozo_SVM__EELS Spectrum Image (dark ref identify_elements          default                      ok            0.1
        found O,Fe; probabilities nan 19380/25840
    delpozo_SVM__EELS Spectrum Image (dark ref ElementsResult.plot                                     ok            0.1
    delpozo_SVM__EELS Spectrum Image (dark ref ElementsResult.explain     O                            ok            0.0
    delpozo_SVM__EELS Spectrum Image (dark ref ElementsResult.flags                                    ok            0.0
    delpozo_SVM__EELS Spectrum Image (dark ref ElementsResult.to_metadata on a copy                    ok            0.0
    delpozo_SVM__EELS Spectrum Image (dark ref identify_elements          inav[0, 0]                   ok            0.1
        found ; probabilities nan 60/80
    delpozo_SVM__EELS Spectrum Image (dark ref identify_elements          isig[501:859]                ok            0.1
        found O,Fe; probabilities nan 21641/25840
    delpozo_SVM__EELS Spectrum Image (dark ref identify_elements          lazy                         ok            0.0
        found O,Fe; probabilities nan 19380/25840
    delpozo_SVM__EELS Spectrum Image (dark ref identify_elements          int32 counts                 ok            0.1
        found O,Fe; probabilities nan 19380/25840
    delpozo_SVM__EELS Spectrum Image (dark ref identify_elements          2 dead pixels                ok            0.8
        found O,Fe; probabilities nan 19420/25840
    delpozo_SVM__EELS Spectrum Image (dark ref identify_elements          navigation size 1            ok            0.1
        found ; probabilities nan 60/80
    delpozo_SVM__EELS Spectrum Image (dark ref classify_oxidation         default                      clear error   0.0
        ValueError: Give element= (e.g. 'Fe' or 'Mn') to use a shipped model.
    delpozo_SVM__EELS Spectrum Image (dark ref classify_oxidation         element='Fe'                 ok            0.2
        fractions Fe2+=0.82,Fe3O4=0.18,Fe3+=0.00; probabilities nan 180/969; mean_valence nan 60/323; edge_position nan 
    delpozo_SVM__EELS Spectrum Image (dark ref OxidationResult.plot                                    ok            0.2
    delpozo_SVM__EELS Spectrum Image (dark ref classify_oxidation         lazy element='Fe'            ok            0.1
        fractions Fe2+=0.82,Fe3O4=0.18,Fe3+=0.00; probabilities nan 180/969; mean_valence nan 60/323; edge_position nan 
    delpozo_SVM__EELS Spectrum Image (dark ref classify_oxidation         2 dead pixels                ok            0.2
        fractions Fe2+=0.82,Fe3O4=0.18,Fe3+=0.00; probabilities nan 180/969; mean_valence nan 60/323; edge_position nan 
    delpozo_SVM__EELS Spectrum Image (dark ref classify_oxidation         int32 counts element='Fe'    ok            0.2
        fractions Fe2+=0.82,Fe3O4=0.18,Fe3+=0.00; probabilities nan 177/969; mean_valence nan 59/323; edge_position nan 
    delpozo_SVM__EELS Spectrum Image (dark ref classify_oxidation         navigation size 1            ok            0.2
        fractions Fe2+=nan,Fe3O4=nan,Fe3+=nan; probabilities nan 3/3; mean_valence nan 1/1; edge_position nan 1/1; mean_
    delpozo_SVM__EELS Spectrum Image (dark ref classify_oxidation         one pixel element='Fe'       ok            0.2
        fractions Fe2+=nan,Fe3O4=nan,Fe3+=nan; probabilities nan 3/3; mean_valence nan 1/1; edge_position nan 1/1; mean_
    delpozo_SVM__EELS Spectrum Image (dark ref umap_cluster               default                      ok            2.4
        2 clusters
    delpozo_SVM__EELS Spectrum Image (dark ref UMAPClusterResult.plot                                  ok            0.2
    delpozo_SVM__EELS Spectrum Image (dark ref UMAPClusterResult.predict  same signal                  ok            0.2
        2 clusters
    delpozo_SVM__EELS Spectrum Image (dark ref umap_cluster               signal_range=(552, 911)      ok            1.3
        2 clusters
    delpozo_SVM__EELS Spectrum Image (dark ref umap_cluster               int32 counts                 ok            2.5
        2 clusters
    delpozo_SVM__EELS Spectrum Image (dark ref umap_cluster               2 dead pixels                ok            2.5
        2 clusters
    vcangadi1_EELS_Hyperspy__EELS Spectrum Ima umap_cluster               default                      ok            0.8
        1 clusters
    vcangadi1_EELS_Hyperspy__EELS Spectrum Ima UMAPClusterResult.plot                                  ok            0.1
    vcangadi1_EELS_Hyperspy__EELS Spectrum Ima UMAPClusterResult.predict  same signal                  ok            0.8
        1 clusters
    vcangadi1_EELS_Hyperspy__EELS Spectrum Ima umap_cluster               signal_range=(130, 488)      ok            0.7
        1 clusters
    vcangadi1_EELS_Hyperspy__EELS Spectrum Ima umap_cluster               int32 counts                 ok            0.7
        1 clusters
    vcangadi1_EELS_Hyperspy__EELS Spectrum Ima umap_cluster               2 dead pixels                ok            0.8
        1 clusters
    vcangadi1_EELS_Hyperspy__EELS Spectrum Ima subtract_zlp_nn            n_replicas=8                 clear error   0.0
        ZLPNotCentredError: The zero-loss peak is not at 0 eV: its maximum is at +8.580 eV (median over the training spe
    vcangadi1_EELS_Hyperspy__EELS Spectrum Ima subtract_zlp_nn            aligned, n_replicas=8        ok            3.8
    vcangadi1_EELS_Hyperspy__EELS Spectrum Ima subtract_zlp_nn            2 dead pixels                ok            4.3
        thickness nan 2/16; thickness_lower nan 2/16; thickness_upper nan 2/16
    vcangadi1_EELS_Hyperspy__EELS Spectrum Ima ZLPResult.plot                                          ok            0.0
    vcangadi1_EELS_Hyperspy__EELS Spectrum Ima ZLPResult.inelastic.plot                                ok            0.3
    vcangadi1_EELS_Hyperspy__EELS Spectrum Ima subtract_zlp_nn            int32 counts                 ok            3.5
    vcangadi1_EELS_Hyperspy__EELS Spectrum Ima fit_plasmon                default                      ok            0.2
        Ep median 16.76 eV
    vcangadi1_EELS_Hyperspy__EELS Spectrum Ima PlasmonResult.plot                                      ok            0.0
    vcangadi1_EELS_Hyperspy__EELS Spectrum Ima subtract_zlp_nn            lazy n_replicas=8            clear error   0.0
        ZLPNotCentredError: The zero-loss peak is not at 0 eV: its maximum is at +8.580 eV (median over the training spe
    vcangadi1_EELS_Hyperspy__EELS Spectrum Ima umap_cluster               low-loss SI                  ok            0.8
        1 clusters
    eelsfitter__Specimen_4__(14)_m4d054eV_45d4 subtract_zlp_nn            n_replicas=8                 ok            5.5
    eelsfitter__Specimen_4__(14)_m4d054eV_45d4 subtract_zlp_nn            vacuum='gain_side'           clear error   0.0
        EnergyRangeError: vacuum='gain_side' needs an energy-gain side of at least 10 FWHM (4.74 eV); this axis starts a
    eelsfitter__Specimen_4__(14)_m4d054eV_45d4 subtract_zlp_nn            vacuum=numpy array (wrong)   ok            6.2
    eelsfitter__Specimen_4__(14)_m4d054eV_45d4 ZLPResult.plot                                          ok            0.0
    eelsfitter__Specimen_4__(14)_m4d054eV_45d4 ZLPResult.inelastic.plot                                ok            0.1
    eelsfitter__Specimen_4__(14)_m4d054eV_45d4 subtract_zlp_nn            int32 counts                 ok            5.3
    eelsfitter__Specimen_4__(14)_m4d054eV_45d4 fit_band_gap               default                      ok            0.2
        Eg nan 1/1; Eg_lower nan 1/1; Eg_upper nan 1/1; b nan 1/1; b_lower nan 1/1; b_upper nan 1/1; Eg all NaN (reason 
    eelsfitter__Specimen_4__(14)_m4d054eV_45d4 BandGapResult.plot                                      ok            0.0
    eelsfitter__Specimen_4__(14)_m4d054eV_45d4 fit_plasmon                default                      ok            0.1
        Ep median 23.26 eV
    eelsfitter__Specimen_4__(14)_m4d054eV_45d4 PlasmonResult.plot                                      ok            0.0
    eelsfitter__Specimen_4__(14)_m4d054eV_45d4 subtract_zlp_nn            vacuum=[3 WS2 vacuum] n_repl ok            5.8
    eelsfitter__Specimen_4__(14)_m4d054eV_45d4 fit_band_gap               vacuum given                 ok            0.2
        Eg median 1.83 eV
    eelsfitter__Specimen_4__(14)_m4d054eV_45d4 subtract_zlp_nn            vacuum on another axis (wron clear error   0.0
        EnergyRangeError: The vacuum reference's energy axis (-0.39887 to 4.22707 eV, 2048 channels) differs from the si
    eelsfitter__Specimen_4__(15)_m4d054eV_45d4 subtract_zlp_nn            n_replicas=8                 ok            1.6
    eelsfitter__Specimen_4__(15)_m4d054eV_45d4 subtract_zlp_nn            vacuum='gain_side'           clear error   0.0
        EnergyRangeError: vacuum='gain_side' needs an energy-gain side of at least 10 FWHM (4.76 eV); this axis starts a
    eelsfitter__Specimen_4__(15)_m4d054eV_45d4 subtract_zlp_nn            vacuum=numpy array (wrong)   ok            6.1
    eelsfitter__Specimen_4__(15)_m4d054eV_45d4 ZLPResult.plot                                          ok            0.0
    eelsfitter__Specimen_4__(15)_m4d054eV_45d4 ZLPResult.inelastic.plot                                ok            0.1
    eelsfitter__Specimen_4__(15)_m4d054eV_45d4 subtract_zlp_nn            int32 counts                 ok            1.8
    eelsfitter__Specimen_4__(15)_m4d054eV_45d4 fit_band_gap               default                      ok            0.2
        Eg median 1.56 eV
    eelsfitter__Specimen_4__(15)_m4d054eV_45d4 BandGapResult.plot                                      ok            0.0
    eelsfitter__Specimen_4__(15)_m4d054eV_45d4 fit_plasmon                default                      ok            0.2
        Ep median 23.32 eV
    eelsfitter__Specimen_4__(15)_m4d054eV_45d4 PlasmonResult.plot                                      ok            0.0
    eelsfitter__Specimen_4__(15)_m4d054eV_45d4 subtract_zlp_nn            vacuum=[3 WS2 vacuum] n_repl ok            5.9
    eelsfitter__Specimen_4__(15)_m4d054eV_45d4 fit_band_gap               vacuum given                 ok            0.2
        Eg median 1.62 eV
    eelsfitter__Specimen_4__(15)_m4d054eV_45d4 subtract_zlp_nn            vacuum on another axis (wron clear error   0.0
        EnergyRangeError: The vacuum reference's energy axis (-0.39887 to 4.22707 eV, 2048 channels) differs from the si
    eelsfitter__Specimen_4__(16)_m4d054eV_45d4 subtract_zlp_nn            n_replicas=8                 ok            2.0
    eelsfitter__Specimen_4__(16)_m4d054eV_45d4 subtract_zlp_nn            vacuum='gain_side'           clear error   0.0
        EnergyRangeError: vacuum='gain_side' needs an energy-gain side of at least 10 FWHM (4.71 eV); this axis starts a
    eelsfitter__Specimen_4__(16)_m4d054eV_45d4 subtract_zlp_nn            vacuum=numpy array (wrong)   ok            6.2
    eelsfitter__Specimen_4__(16)_m4d054eV_45d4 ZLPResult.plot                                          ok            0.0
    eelsfitter__Specimen_4__(16)_m4d054eV_45d4 ZLPResult.inelastic.plot                                ok            0.1
    eelsfitter__Specimen_4__(16)_m4d054eV_45d4 subtract_zlp_nn            int32 counts                 ok            1.6
    eelsfitter__Specimen_4__(16)_m4d054eV_45d4 fit_band_gap               default                      ok            0.2
        Eg nan 1/1; Eg_lower nan 1/1; Eg_upper nan 1/1; b nan 1/1; b_lower nan 1/1; b_upper nan 1/1; Eg all NaN (reason 
    eelsfitter__Specimen_4__(16)_m4d054eV_45d4 BandGapResult.plot                                      ok            0.0
    eelsfitter__Specimen_4__(16)_m4d054eV_45d4 fit_plasmon                default                      ok            0.2
        Ep median 23.39 eV
    eelsfitter__Specimen_4__(16)_m4d054eV_45d4 PlasmonResult.plot                                      ok            0.0
    eelsfitter__Specimen_4__(16)_m4d054eV_45d4 subtract_zlp_nn            vacuum=[3 WS2 vacuum] n_repl ok            5.5
    eelsfitter__Specimen_4__(16)_m4d054eV_45d4 fit_band_gap               vacuum given                 ok            0.2
        Eg median 1.78 eV
    eelsfitter__Specimen_4__(16)_m4d054eV_45d4 subtract_zlp_nn            vacuum on another axis (wron clear error   0.0
        EnergyRangeError: The vacuum reference's energy axis (-0.39887 to 4.22707 eV, 2048 channels) differs from the si
    eelsfitter__Specimen_4__(17)_Vacuum_m4d054 subtract_zlp_nn            n_replicas=8                 ok            1.4
    eelsfitter__Specimen_4__(17)_Vacuum_m4d054 subtract_zlp_nn            vacuum='gain_side'           clear error   0.0
        EnergyRangeError: vacuum='gain_side' needs an energy-gain side of at least 10 FWHM (4.5 eV); this axis starts at
    eelsfitter__Specimen_4__(17)_Vacuum_m4d054 subtract_zlp_nn            vacuum=numpy array (wrong)   ok            1.7
    eelsfitter__Specimen_4__(17)_Vacuum_m4d054 ZLPResult.plot                                          ok            0.0
    eelsfitter__Specimen_4__(17)_Vacuum_m4d054 ZLPResult.inelastic.plot                                ok            0.1
    eelsfitter__Specimen_4__(17)_Vacuum_m4d054 subtract_zlp_nn            int32 counts                 ok            1.4
    eelsfitter__Specimen_4__(19)_m4d054eV_45d4 subtract_zlp_nn            n_replicas=8                 ok            1.5
    eelsfitter__Specimen_4__(19)_m4d054eV_45d4 subtract_zlp_nn            vacuum='gain_side'           clear error   0.0
        EnergyRangeError: vacuum='gain_side' needs an energy-gain side of at least 10 FWHM (4.74 eV); this axis starts a
    eelsfitter__Specimen_4__(19)_m4d054eV_45d4 subtract_zlp_nn            vacuum=numpy array (wrong)   ok            5.1
    eelsfitter__Specimen_4__(19)_m4d054eV_45d4 ZLPResult.plot                                          ok            0.0
    eelsfitter__Specimen_4__(19)_m4d054eV_45d4 ZLPResult.inelastic.plot                                ok            0.1
    eelsfitter__Specimen_4__(19)_m4d054eV_45d4 subtract_zlp_nn            int32 counts                 ok            1.9
    eelsfitter__Specimen_4__(19)_m4d054eV_45d4 fit_band_gap               default                      ok            0.2
        Eg nan 1/1; Eg_lower nan 1/1; Eg_upper nan 1/1; b nan 1/1; b_lower nan 1/1; b_upper nan 1/1; Eg all NaN (reason 
    eelsfitter__Specimen_4__(19)_m4d054eV_45d4 BandGapResult.plot                                      ok            0.0
    eelsfitter__Specimen_4__(19)_m4d054eV_45d4 fit_plasmon                default                      ok            0.2
        Ep median 23.56 eV
    eelsfitter__Specimen_4__(19)_m4d054eV_45d4 PlasmonResult.plot                                      ok            0.0
    eelsfitter__Specimen_4__(19)_m4d054eV_45d4 subtract_zlp_nn            vacuum=[3 WS2 vacuum] n_repl ok            4.8
    eelsfitter__Specimen_4__(19)_m4d054eV_45d4 fit_band_gap               vacuum given                 ok            1.1
        Eg nan 1/1; Eg_lower nan 1/1; Eg_upper nan 1/1; b nan 1/1; b_lower nan 1/1; b_upper nan 1/1; Eg all NaN (reason 
    eelsfitter__Specimen_4__(19)_m4d054eV_45d4 subtract_zlp_nn            vacuum on another axis (wron clear error   0.0
        EnergyRangeError: The vacuum reference's energy axis (-0.39887 to 4.22707 eV, 2048 channels) differs from the si
    eelsfitter__Specimen_4__(20)_m4d054eV_45d4 subtract_zlp_nn            n_replicas=8                 ok            2.2
    eelsfitter__Specimen_4__(20)_m4d054eV_45d4 subtract_zlp_nn            vacuum='gain_side'           clear error   0.0
        EnergyRangeError: vacuum='gain_side' needs an energy-gain side of at least 10 FWHM (4.71 eV); this axis starts a
    eelsfitter__Specimen_4__(20)_m4d054eV_45d4 subtract_zlp_nn            vacuum=numpy array (wrong)   ok            2.0
    eelsfitter__Specimen_4__(20)_m4d054eV_45d4 ZLPResult.plot                                          ok            0.0
    eelsfitter__Specimen_4__(20)_m4d054eV_45d4 ZLPResult.inelastic.plot                                ok            0.1
    eelsfitter__Specimen_4__(20)_m4d054eV_45d4 subtract_zlp_nn            int32 counts                 ok            1.6
    eelsfitter__Specimen_4__(20)_m4d054eV_45d4 fit_band_gap               default                      ok            0.2
        Eg median 1.42 eV
    eelsfitter__Specimen_4__(20)_m4d054eV_45d4 BandGapResult.plot                                      ok            0.0
    eelsfitter__Specimen_4__(20)_m4d054eV_45d4 fit_plasmon                default                      ok            0.2
        Ep median 23.36 eV
    eelsfitter__Specimen_4__(20)_m4d054eV_45d4 PlasmonResult.plot                                      ok            0.0
    eelsfitter__Specimen_4__(20)_m4d054eV_45d4 subtract_zlp_nn            vacuum=[3 WS2 vacuum] n_repl ok            4.9
    eelsfitter__Specimen_4__(20)_m4d054eV_45d4 fit_band_gap               vacuum given                 ok            0.2
        Eg median 1.78 eV
    eelsfitter__Specimen_4__(20)_m4d054eV_45d4 subtract_zlp_nn            vacuum on another axis (wron clear error   0.0
        EnergyRangeError: The vacuum reference's energy axis (-0.39887 to 4.22707 eV, 2048 channels) differs from the si
    eelsfitter__Specimen_4__(21)_m4d054eV_45d4 subtract_zlp_nn            n_replicas=8                 ok            1.4
    eelsfitter__Specimen_4__(21)_m4d054eV_45d4 subtract_zlp_nn            vacuum='gain_side'           clear error   0.0
        EnergyRangeError: vacuum='gain_side' needs an energy-gain side of at least 10 FWHM (4.71 eV); this axis starts a
    eelsfitter__Specimen_4__(21)_m4d054eV_45d4 subtract_zlp_nn            vacuum=numpy array (wrong)   ok            1.7
    eelsfitter__Specimen_4__(21)_m4d054eV_45d4 ZLPResult.plot                                          ok            0.0
    eelsfitter__Specimen_4__(21)_m4d054eV_45d4 ZLPResult.inelastic.plot                                ok            0.1
    eelsfitter__Specimen_4__(21)_m4d054eV_45d4 subtract_zlp_nn            int32 counts                 ok            1.4
    eelsfitter__Specimen_4__(21)_m4d054eV_45d4 fit_band_gap               default                      ok            0.2
        Eg nan 1/1; Eg_lower nan 1/1; Eg_upper nan 1/1; b nan 1/1; b_lower nan 1/1; b_upper nan 1/1; Eg all NaN (reason 
    eelsfitter__Specimen_4__(21)_m4d054eV_45d4 BandGapResult.plot                                      ok            0.0
    eelsfitter__Specimen_4__(21)_m4d054eV_45d4 fit_plasmon                default                      ok            0.1
        Ep median 23.18 eV
    eelsfitter__Specimen_4__(21)_m4d054eV_45d4 PlasmonResult.plot                                      ok            0.0
    eelsfitter__Specimen_4__(21)_m4d054eV_45d4 subtract_zlp_nn            vacuum=[3 WS2 vacuum] n_repl ok            5.5
    eelsfitter__Specimen_4__(21)_m4d054eV_45d4 fit_band_gap               vacuum given                 ok            0.2
        Eg median 1.66 eV
    eelsfitter__Specimen_4__(21)_m4d054eV_45d4 subtract_zlp_nn            vacuum on another axis (wron clear error   0.0
        EnergyRangeError: The vacuum reference's energy axis (-0.39887 to 4.22707 eV, 2048 channels) differs from the si
    eelsfitter__Specimen_4__(22)_Vacuum_m4d054 subtract_zlp_nn            n_replicas=8                 ok            2.6
    eelsfitter__Specimen_4__(22)_Vacuum_m4d054 subtract_zlp_nn            vacuum='gain_side'           clear error   0.0
        EnergyRangeError: vacuum='gain_side' needs an energy-gain side of at least 10 FWHM (4.52 eV); this axis starts a
    eelsfitter__Specimen_4__(22)_Vacuum_m4d054 subtract_zlp_nn            vacuum=numpy array (wrong)   ok            2.2
    eelsfitter__Specimen_4__(22)_Vacuum_m4d054 ZLPResult.plot                                          ok            0.0
    eelsfitter__Specimen_4__(22)_Vacuum_m4d054 ZLPResult.inelastic.plot                                ok            0.1
    eelsfitter__Specimen_4__(22)_Vacuum_m4d054 subtract_zlp_nn            int32 counts                 ok            1.7
    eelsfitter__Specimen_4__(23)_Vacuum_m4d054 subtract_zlp_nn            n_replicas=8                 ok            1.7
    eelsfitter__Specimen_4__(23)_Vacuum_m4d054 subtract_zlp_nn            vacuum='gain_side'           clear error   0.0
        EnergyRangeError: vacuum='gain_side' needs an energy-gain side of at least 10 FWHM (4.52 eV); this axis starts a
    eelsfitter__Specimen_4__(23)_Vacuum_m4d054 subtract_zlp_nn            vacuum=numpy array (wrong)   ok            2.1
    eelsfitter__Specimen_4__(23)_Vacuum_m4d054 ZLPResult.plot                                          ok            0.0
    eelsfitter__Specimen_4__(23)_Vacuum_m4d054 ZLPResult.inelastic.plot                                ok            0.1
    eelsfitter__Specimen_4__(23)_Vacuum_m4d054 subtract_zlp_nn            int32 counts                 ok            1.8
    hyperspy_pkg__La2NiO4_eels.txt             identify_elements          default                      ok            0.1
        found O,La; probabilities nan 60/80
    hyperspy_pkg__La2NiO4_eels.txt             ElementsResult.plot                                     ok            0.1
    hyperspy_pkg__La2NiO4_eels.txt             ElementsResult.explain     O                            ok            0.0
    hyperspy_pkg__La2NiO4_eels.txt             ElementsResult.flags                                    ok            0.0
    hyperspy_pkg__La2NiO4_eels.txt             ElementsResult.to_metadata on a copy                    ok            0.0
    hyperspy_pkg__La2NiO4_eels.txt             identify_elements          isig[475:832]                ok            0.1
        found O; probabilities nan 66/80
    hyperspy_pkg__La2NiO4_eels.txt             identify_elements          lazy                         ok            0.0
        found O,La; probabilities nan 60/80
    hyperspy_pkg__La2NiO4_eels.txt             identify_elements          int32 counts                 ok            0.1
        found O,La; probabilities nan 60/80
    MnEdgeNet__test_Mn_spectra__Data2_MnO.csv  identify_elements          default                      clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    MnEdgeNet__test_Mn_spectra__Data2_MnO.csv  identify_elements          isig[639:658]                clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    MnEdgeNet__test_Mn_spectra__Data2_MnO.csv  identify_elements          lazy                         clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    MnEdgeNet__test_Mn_spectra__Data2_MnO.csv  identify_elements          int32 counts                 clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    MnEdgeNet__test_Mn_spectra__Data2_MnO.csv  classify_oxidation         default                      clear error   0.0
        ValueError: Give element= (e.g. 'Fe' or 'Mn') to use a shipped model.
    MnEdgeNet__test_Mn_spectra__Data2_MnO.csv  classify_oxidation         element='Mn'                 clear error   0.0
        EnergyRangeError: classify_oxidation (Mn L2,3 valence model) (Mn valence model) needs the Mn L3 and L2 lines: at
    MnEdgeNet__test_Mn_spectra__Data2_MnO.csv  classify_oxidation         lazy element='Mn'            clear error   0.0
        EnergyRangeError: classify_oxidation (Mn L2,3 valence model) (Mn valence model) needs the Mn L3 and L2 lines: at
    MnEdgeNet__test_Mn_spectra__Data2_MnO.csv  classify_oxidation         int32 counts element='Mn'    clear error   0.0
        EnergyRangeError: classify_oxidation (Mn L2,3 valence model) (Mn valence model) needs the Mn L3 and L2 lines: at
    MnEdgeNet__test_Mn_spectra__Data2_LaMnO3.c identify_elements          default                      clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    MnEdgeNet__test_Mn_spectra__Data2_LaMnO3.c identify_elements          isig[639:658]                clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    MnEdgeNet__test_Mn_spectra__Data2_LaMnO3.c identify_elements          lazy                         clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    MnEdgeNet__test_Mn_spectra__Data2_LaMnO3.c identify_elements          int32 counts                 clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    MnEdgeNet__test_Mn_spectra__Data2_LaMnO3.c classify_oxidation         default                      clear error   0.0
        ValueError: Give element= (e.g. 'Fe' or 'Mn') to use a shipped model.
    MnEdgeNet__test_Mn_spectra__Data2_LaMnO3.c classify_oxidation         element='Mn'                 clear error   0.0
        EnergyRangeError: classify_oxidation (Mn L2,3 valence model) (Mn valence model) needs the Mn L3 and L2 lines: at
    MnEdgeNet__test_Mn_spectra__Data2_LaMnO3.c classify_oxidation         lazy element='Mn'            clear error   0.0
        EnergyRangeError: classify_oxidation (Mn L2,3 valence model) (Mn valence model) needs the Mn L3 and L2 lines: at
    MnEdgeNet__test_Mn_spectra__Data2_LaMnO3.c classify_oxidation         int32 counts element='Mn'    clear error   0.0
        EnergyRangeError: classify_oxidation (Mn L2,3 valence model) (Mn valence model) needs the Mn L3 and L2 lines: at
    MnEdgeNet__test_Mn_spectra__Data2_SrMnO3.c identify_elements          default                      clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    MnEdgeNet__test_Mn_spectra__Data2_SrMnO3.c identify_elements          isig[639:658]                clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    MnEdgeNet__test_Mn_spectra__Data2_SrMnO3.c identify_elements          lazy                         clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    MnEdgeNet__test_Mn_spectra__Data2_SrMnO3.c identify_elements          int32 counts                 clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    MnEdgeNet__test_Mn_spectra__Data2_SrMnO3.c classify_oxidation         default                      clear error   0.0
        ValueError: Give element= (e.g. 'Fe' or 'Mn') to use a shipped model.
    MnEdgeNet__test_Mn_spectra__Data2_SrMnO3.c classify_oxidation         element='Mn'                 clear error   0.0
        EnergyRangeError: classify_oxidation (Mn L2,3 valence model) (Mn valence model) needs the Mn L3 and L2 lines: at
    MnEdgeNet__test_Mn_spectra__Data2_SrMnO3.c classify_oxidation         lazy element='Mn'            clear error   0.0
        EnergyRangeError: classify_oxidation (Mn L2,3 valence model) (Mn valence model) needs the Mn L3 and L2 lines: at
    MnEdgeNet__test_Mn_spectra__Data2_SrMnO3.c classify_oxidation         int32 counts element='Mn'    clear error   0.0
        EnergyRangeError: classify_oxidation (Mn L2,3 valence model) (Mn valence model) needs the Mn L3 and L2 lines: at
    MnEdgeNet__test_Mn_spectra__Data2_YBaMn3Al identify_elements          default                      clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    MnEdgeNet__test_Mn_spectra__Data2_YBaMn3Al identify_elements          isig[639:657]                clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    MnEdgeNet__test_Mn_spectra__Data2_YBaMn3Al identify_elements          lazy                         clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    MnEdgeNet__test_Mn_spectra__Data2_YBaMn3Al identify_elements          int32 counts                 clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    MnEdgeNet__test_Mn_spectra__Data2_YBaMn3Al classify_oxidation         default                      clear error   0.0
        ValueError: Give element= (e.g. 'Fe' or 'Mn') to use a shipped model.
    MnEdgeNet__test_Mn_spectra__Data2_YBaMn3Al classify_oxidation         element='Mn'                 clear error   0.0
        EnergyRangeError: classify_oxidation (Mn L2,3 valence model) (Mn valence model) needs the Mn L3 and L2 lines: at
    MnEdgeNet__test_Mn_spectra__Data2_YBaMn3Al classify_oxidation         lazy element='Mn'            clear error   0.0
        EnergyRangeError: classify_oxidation (Mn L2,3 valence model) (Mn valence model) needs the Mn L3 and L2 lines: at
    MnEdgeNet__test_Mn_spectra__Data2_YBaMn3Al classify_oxidation         int32 counts element='Mn'    clear error   0.0
        EnergyRangeError: classify_oxidation (Mn L2,3 valence model) (Mn valence model) needs the Mn L3 and L2 lines: at
    practical_EELS_QEM__Co.txt                 identify_elements          default                      clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    practical_EELS_QEM__Co.txt                 identify_elements          isig[774:807]                clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    practical_EELS_QEM__Co.txt                 identify_elements          lazy                         clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    practical_EELS_QEM__Co.txt                 identify_elements          int32 counts                 clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    practical_EELS_QEM__Co.txt                 classify_oxidation         default                      clear error   0.0
        ValueError: Give element= (e.g. 'Fe' or 'Mn') to use a shipped model.
    practical_EELS_QEM__Co.txt                 classify_oxidation         lazy                         clear error   0.0
        ValueError: Give element= (e.g. 'Fe' or 'Mn') to use a shipped model.
    practical_EELS_QEM__Co.txt                 classify_oxidation         int32 counts                 clear error   0.0
        ValueError: Give element= (e.g. 'Fe' or 'Mn') to use a shipped model.
    practical_EELS_QEM__intermediate_level__co identify_elements          default                      ok            0.1
        found Fe; probabilities nan 78/80
    practical_EELS_QEM__intermediate_level__co ElementsResult.plot                                     ok            0.0
    practical_EELS_QEM__intermediate_level__co ElementsResult.explain     Fe                           ok            0.0
    practical_EELS_QEM__intermediate_level__co ElementsResult.flags                                    ok            0.0
    practical_EELS_QEM__intermediate_level__co ElementsResult.to_metadata on a copy                    ok            0.0
    practical_EELS_QEM__intermediate_level__co identify_elements          isig[689:761]                clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    practical_EELS_QEM__intermediate_level__co identify_elements          lazy                         ok            0.0
        found Fe; probabilities nan 78/80
    practical_EELS_QEM__intermediate_level__co identify_elements          int32 counts                 ok            0.1
        found Fe; probabilities nan 78/80
    practical_EELS_QEM__intermediate_level__co classify_oxidation         default                      clear error   0.0
        ValueError: Give element= (e.g. 'Fe' or 'Mn') to use a shipped model.
    practical_EELS_QEM__intermediate_level__co classify_oxidation         element='Fe'                 ok            0.2
        fractions Fe2+=1.00,Fe3O4=0.00,Fe3+=0.00; o_k_jump nan 1/1
    practical_EELS_QEM__intermediate_level__co OxidationResult.plot                                    ok            0.1
    practical_EELS_QEM__intermediate_level__co classify_oxidation         lazy element='Fe'            ok            0.1
        fractions Fe2+=1.00,Fe3O4=0.00,Fe3+=0.00; o_k_jump nan 1/1
    practical_EELS_QEM__intermediate_level__co classify_oxidation         int32 counts element='Fe'    ok            0.2
        fractions Fe2+=1.00,Fe3O4=0.00,Fe3+=0.00; o_k_jump nan 1/1
    practical_EELS_QEM__intermediate_level__co identify_elements          default                      ok            0.1
        found O,Cr,Sb,Te; probabilities nan 76/80
    practical_EELS_QEM__intermediate_level__co ElementsResult.plot                                     ok            0.1
    practical_EELS_QEM__intermediate_level__co ElementsResult.explain     O                            ok            0.0
    practical_EELS_QEM__intermediate_level__co ElementsResult.flags                                    ok            0.0
    practical_EELS_QEM__intermediate_level__co ElementsResult.to_metadata on a copy                    ok            0.0
    practical_EELS_QEM__intermediate_level__co identify_elements          isig[520:592]                clear error   0.0
        EnergyRangeError: identify_elements needs at least 100 eV of core-loss window inside 50-3100 eV; the signal cove
    practical_EELS_QEM__intermediate_level__co identify_elements          lazy                         ok            0.0
        found O,Cr,Sb,Te; probabilities nan 76/80
    practical_EELS_QEM__intermediate_level__co identify_elements          int32 counts                 ok            0.1
        found O,Cr,Sb,Te; probabilities nan 76/80
    practical_EELS_QEM__intermediate_level__co classify_oxidation         default                      clear error   0.0
        ValueError: Give element= (e.g. 'Fe' or 'Mn') to use a shipped model.
    practical_EELS_QEM__intermediate_level__co classify_oxidation         lazy                         clear error   0.0
        ValueError: Give element= (e.g. 'Fe' or 'Mn') to use a shipped model.
    practical_EELS_QEM__intermediate_level__co classify_oxidation         int32 counts                 clear error   0.0
        ValueError: Give element= (e.g. 'Fe' or 'Mn') to use a shipped model.
    practical_EELS_QEM__intermediate_level__co identify_elements          default                      ok            0.1
        found O,Cr,Fe; probabilities nan 1220/1600
    practical_EELS_QEM__intermediate_level__co ElementsResult.plot                                     ok            0.1
    practical_EELS_QEM__intermediate_level__co ElementsResult.explain     O                            ok            0.0
    practical_EELS_QEM__intermediate_level__co ElementsResult.flags                                    ok            0.0
    practical_EELS_QEM__intermediate_level__co ElementsResult.to_metadata on a copy                    ok            0.0
    practical_EELS_QEM__intermediate_level__co identify_elements          inav[0]                      ok            0.1
        found O; probabilities nan 61/80
    practical_EELS_QEM__intermediate_level__co identify_elements          isig[451:809]                ok            0.1
        found O,Cr,Fe; probabilities nan 1360/1600
    practical_EELS_QEM__intermediate_level__co identify_elements          lazy                         ok            0.0
        found O,Cr,Fe; probabilities nan 1220/1600
    practical_EELS_QEM__intermediate_level__co identify_elements          int32 counts                 ok            0.1
        found O,Cr,Fe; probabilities nan 1220/1600
    practical_EELS_QEM__intermediate_level__co identify_elements          2 dead pixels                ok            0.1
        found O,Cr,Fe; probabilities nan 1258/1600
    practical_EELS_QEM__intermediate_level__co identify_elements          navigation size 1            ok            0.1
        found O; probabilities nan 61/80
    practical_EELS_QEM__intermediate_level__co classify_oxidation         default                      clear error   0.0
        ValueError: Give element= (e.g. 'Fe' or 'Mn') to use a shipped model.
    practical_EELS_QEM__intermediate_level__co classify_oxidation         element='Fe'                 ok            0.2
        fractions Fe2+=0.77,Fe3O4=0.23,Fe3+=0.00; probabilities nan 21/60; mean_valence nan 7/20; edge_position nan 7/20
    practical_EELS_QEM__intermediate_level__co OxidationResult.plot                                    ok            0.1
    practical_EELS_QEM__intermediate_level__co classify_oxidation         lazy element='Fe'            ok            0.1
        fractions Fe2+=0.77,Fe3O4=0.23,Fe3+=0.00; probabilities nan 21/60; mean_valence nan 7/20; edge_position nan 7/20
    practical_EELS_QEM__intermediate_level__co classify_oxidation         2 dead pixels                ok            0.2
        fractions Fe2+=0.77,Fe3O4=0.23,Fe3+=0.00; probabilities nan 21/60; mean_valence nan 7/20; edge_position nan 7/20
    practical_EELS_QEM__intermediate_level__co classify_oxidation         int32 counts element='Fe'    ok            0.2
        fractions Fe2+=0.77,Fe3O4=0.23,Fe3+=0.00; probabilities nan 21/60; mean_valence nan 7/20; edge_position nan 7/20
    practical_EELS_QEM__intermediate_level__co classify_oxidation         navigation size 1            ok            0.2
        fractions Fe2+=nan,Fe3O4=nan,Fe3+=nan; probabilities nan 3/3; mean_valence nan 1/1; edge_position nan 1/1; mean_
    practical_EELS_QEM__intermediate_level__co classify_oxidation         one pixel element='Fe'       ok            0.2
        fractions Fe2+=nan,Fe3O4=nan,Fe3+=nan; probabilities nan 3/3; mean_valence nan 1/1; edge_position nan 1/1; mean_
    practical_EELS_QEM__intermediate_level__co identify_elements          low_loss=partner             ok            0.1
        found O,Cr,Fe; probabilities nan 1200/1600
    practical_EELS_QEM__intermediate_level__co classify_oxidation         low_loss=partner element='Fe ok            0.8
        fractions Fe0=0.08,Fe2+=0.69,Fe3O4=0.23,Fe3+=0.00; probabilities nan 28/80; mean_valence nan 7/20; edge_position
    practical_EELS_QEM__intermediate_level__co umap_cluster               default                      ok            1.7
        0 clusters
    practical_EELS_QEM__intermediate_level__co UMAPClusterResult.plot                                  ok            0.1
    practical_EELS_QEM__intermediate_level__co UMAPClusterResult.predict  same signal                  ok            0.2
        0 clusters
    practical_EELS_QEM__intermediate_level__co umap_cluster               signal_range=(502, 861)      ok            0.7
        0 clusters
    practical_EELS_QEM__intermediate_level__co umap_cluster               int32 counts                 ok            1.7
        0 clusters
    practical_EELS_QEM__intermediate_level__co umap_cluster               2 dead pixels                ok            1.6
        0 clusters
    practical_EELS_QEM__intermediate_level__co subtract_zlp_nn            n_replicas=8                 clear error   0.0
        ZLPNotCentredError: The zero-loss peak is not at 0 eV: its maximum is at -2.056 eV (median over the training spe
    practical_EELS_QEM__intermediate_level__co subtract_zlp_nn            aligned, n_replicas=8        ok            4.4
    practical_EELS_QEM__intermediate_level__co subtract_zlp_nn            2 dead pixels                ok            9.7
        thickness nan 2/4; thickness_lower nan 2/4; thickness_upper nan 2/4
    practical_EELS_QEM__intermediate_level__co ZLPResult.plot                                          ok            0.0
    practical_EELS_QEM__intermediate_level__co ZLPResult.inelastic.plot                                ok            0.3
    practical_EELS_QEM__intermediate_level__co subtract_zlp_nn            int32 counts                 ok            3.9
    practical_EELS_QEM__intermediate_level__co fit_plasmon                default                      ok            0.1
        Ep median 26.60 eV
    practical_EELS_QEM__intermediate_level__co PlasmonResult.plot                                      ok            0.0
    practical_EELS_QEM__intermediate_level__co subtract_zlp_nn            lazy n_replicas=8            clear error   0.0
        ZLPNotCentredError: The zero-loss peak is not at 0 eV: its maximum is at -2.056 eV (median over the training spe
    practical_EELS_QEM__intermediate_level__co umap_cluster               low-loss SI                  ok            1.7
        0 clusters
    rosettasciio__rsciio__tests__data__digital identify_elements          default                      ok            0.1
        found O; probabilities nan 60/320
    rosettasciio__rsciio__tests__data__digital ElementsResult.plot                                     ok            0.0
    rosettasciio__rsciio__tests__data__digital ElementsResult.explain     O                            ok            0.0
    rosettasciio__rsciio__tests__data__digital ElementsResult.flags                                    ok            0.0
    rosettasciio__rsciio__tests__data__digital ElementsResult.to_metadata on a copy                    ok            0.0
    rosettasciio__rsciio__tests__data__digital identify_elements          inav[0, 0]                   ok            0.1
        found O; probabilities nan 15/80
    rosettasciio__rsciio__tests__data__digital identify_elements          isig[505:1938]               ok            0.1
        found O; probabilities nan 132/320
    rosettasciio__rsciio__tests__data__digital identify_elements          lazy                         ok            0.0
        found O; probabilities nan 60/320
    rosettasciio__rsciio__tests__data__digital identify_elements          int32 counts                 ok            0.1
        found O; probabilities nan 60/320
    rosettasciio__rsciio__tests__data__digital identify_elements          2 dead pixels                ok            0.1
        found O; probabilities nan 190/320
    rosettasciio__rsciio__tests__data__digital identify_elements          navigation size 1            ok            0.1
        found O; probabilities nan 15/80
    rosettasciio__rsciio__tests__data__digital umap_cluster               4 spectra                    clear error   0.0
        EmptySignalError: umap_cluster needs at least 10 unmasked spectra (min_cluster_size, default 10), got 4.
    practical_EELS_QEM__Beginner_level__Beginn subtract_zlp_nn            n_replicas=8                 ok            3.0
    practical_EELS_QEM__Beginner_level__Beginn subtract_zlp_nn            vacuum='gain_side'           clear error   0.0
        EnergyRangeError: vacuum='gain_side' needs an energy-gain side of at least 10 FWHM (11.6 eV); this axis starts a
    practical_EELS_QEM__Beginner_level__Beginn subtract_zlp_nn            vacuum=numpy array (wrong)   ok            2.1
    practical_EELS_QEM__Beginner_level__Beginn ZLPResult.plot                                          ok            0.0
    practical_EELS_QEM__Beginner_level__Beginn ZLPResult.inelastic.plot                                ok            0.1
    practical_EELS_QEM__Beginner_level__Beginn subtract_zlp_nn            int32 counts                 ok            1.6
    practical_EELS_QEM__Beginner_level__Beginn fit_plasmon                default                      ok            0.2
        Ep median 25.63 eV
    practical_EELS_QEM__Beginner_level__Beginn PlasmonResult.plot                                      ok            0.0
    CBL-ML__Data__May__MoS2_EELS-Spectrum_01_m subtract_zlp_nn            n_replicas=8                 clear error   0.0
        ZLPNotCentredError: The zero-loss peak is not at 0 eV: its maximum is at -0.203 eV (median over the training spe
    CBL-ML__Data__May__MoS2_EELS-Spectrum_01_m subtract_zlp_nn            aligned, n_replicas=8        ok            4.7
    CBL-ML__Data__May__MoS2_EELS-Spectrum_01_m subtract_zlp_nn            vacuum='gain_side'           ok            5.0
    CBL-ML__Data__May__MoS2_EELS-Spectrum_01_m subtract_zlp_nn            vacuum=numpy array (wrong)   ok            5.8
    CBL-ML__Data__May__MoS2_EELS-Spectrum_01_m ZLPResult.plot                                          ok            0.0
    CBL-ML__Data__May__MoS2_EELS-Spectrum_01_m ZLPResult.inelastic.plot                                ok            0.1
    CBL-ML__Data__May__MoS2_EELS-Spectrum_01_m subtract_zlp_nn            int32 counts                 ok            5.9
    CBL-ML__Data__May__MoS2_EELS-Spectrum_01_m fit_band_gap               default                      ok            0.2
        Eg nan 1/1; Eg_lower nan 1/1; Eg_upper nan 1/1; b nan 1/1; b_lower nan 1/1; b_upper nan 1/1; Eg all NaN (reason 
    CBL-ML__Data__May__MoS2_EELS-Spectrum_01_m BandGapResult.plot                                      ok            0.0
    CBL-ML__Data__Apr__ZLP_60keV_10ms_Spectrum subtract_zlp_nn            n_replicas=8                 ok            5.0
    CBL-ML__Data__Apr__ZLP_60keV_10ms_Spectrum subtract_zlp_nn            vacuum='gain_side'           ok            5.5
    CBL-ML__Data__Apr__ZLP_60keV_10ms_Spectrum subtract_zlp_nn            vacuum=numpy array (wrong)   ok            2.0
    CBL-ML__Data__Apr__ZLP_60keV_10ms_Spectrum ZLPResult.plot                                          ok            0.0
    CBL-ML__Data__Apr__ZLP_60keV_10ms_Spectrum ZLPResult.inelastic.plot                                ok            0.1
    CBL-ML__Data__Apr__ZLP_60keV_10ms_Spectrum subtract_zlp_nn            int32 counts                 ok            2.9
    exspy lowloss                              identify_elements          low-loss file                ok            0.1
        found ; probabilities nan 41/80
    exspy lowloss                              classify_oxidation         low-loss file                clear error   0.0
        ValueError: Give element= (e.g. 'Fe' or 'Mn') to use a shipped model.
    exspy coreloss                             subtract_zlp_nn            core-loss file               clear error   0.0
        EnergyRangeError: subtract_zlp_nn needs a low-loss spectrum whose energy axis contains 0 eV (the zero-loss peak)
    exspy coreloss                             umap_cluster               single spectrum              clear error   0.0
        EmptySignalError: umap_cluster needs a spectrum image or line scan (at least 2 spectra).
    exspy coreloss                             classify_oxidation         element='Fe' (absent)        ok            0.2
        fractions Fe2+=nan,Fe3O4=nan,Fe3+=nan; probabilities nan 3/3; mean_valence nan 1/1; edge_position nan 1/1; mean_
    exspy coreloss                             classify_oxidation         element='Mn' edge='K' (absen clear error   0.0
        ValueError: No shipped SVM model for Mn O K; shipped models: Ce m45 (valence), Co L2,3 (valence), Co L2,3 (valen
    exspy coreloss                             identify_elements          NaN channels                 clear error   0.0
        NonFiniteDataError: identify_elements: the data contain NaN/inf in 1 pixel(s) (first at array index (0,)). Remov
    exspy coreloss                             classify_oxidation         NaN channels                 clear error   0.0
        NonFiniteDataError: classify_oxidation: the data contain NaN/inf in 1 pixel(s) (first at array index (0,)). Remo
    exspy coreloss                             umap_cluster               NaN channels                 clear error   0.0
        NonFiniteDataError: umap_cluster: the data contain NaN/inf in 1 pixel(s) (first at array index (0,)). Remove or 
    exspy coreloss                             identify_elements          units='nm'                   clear error   0.0
        EnergyAxisError: The signal axis '' has units 'nm'; an energy-loss axis in eV is needed. Calibrate it, e.g. `ax 
    exspy coreloss                             classify_oxidation         units='nm'                   clear error   0.0
        EnergyAxisError: The signal axis '' has units 'nm'; an energy-loss axis in eV is needed. Calibrate it, e.g. `ax 
    exspy coreloss                             identify_elements          units='keV'                  ok            0.1
        found O,Mn; probabilities nan 63/80
    exspy coreloss                             classify_oxidation         units='keV' element='Mn'     ok            0.2
        fractions Mn2+=0.00,Mn3+=1.00,Mn4+=0.00
    plain Signal1D                             identify_elements          functional API               clear error   0.0
        NotEELSSignalError: identify_elements works on EELS spectra (exspy.signals.EELSSpectrum), got Signal1D with sign
    plain Signal1D                             classify_oxidation         functional API               clear error   0.0
        NotEELSSignalError: classify_oxidation works on EELS spectra (exspy.signals.EELSSpectrum), got Signal1D with sig
    plain Signal1D                             subtract_zlp_nn            functional API               clear error   0.0
        NotEELSSignalError: subtract_zlp_nn works on EELS spectra (exspy.signals.EELSSpectrum), got Signal1D with signal
    plain Signal1D                             umap_cluster               functional API               clear error   0.0
        NotEELSSignalError: umap_cluster works on EELS spectra (exspy.signals.EELSSpectrum), got Signal1D with signal_ty
    exspy lowloss                              subtract_zlp_nn            NaN channels                 clear error   0.0
        NonFiniteDataError: subtract_zlp_nn: the data contain NaN/inf in 1 pixel(s) (first at array index (0,)). Remove 
    exspy lowloss                              subtract_zlp_nn            units='nm'                   clear error   0.0
        EnergyAxisError: The signal axis '' has units 'nm'; an energy-loss axis in eV is needed. Calibrate it, e.g. `ax 
    exspy lowloss                              subtract_zlp_nn            units='keV'                  ok            5.3
    MnO csv                                    classify_oxidation         non-uniform axis element='Mn clear error   0.0
        EnergyAxisError: The signal axis 'Energy loss' is non-uniform; these models need a uniform energy axis. Resample
    MnO csv                                    identify_elements          non-uniform axis             clear error   0.0
        EnergyAxisError: The signal axis 'Energy loss' is non-uniform; these models need a uniform energy axis. Resample
    exspy Cr_L_cl                              classify_oxidation         no Mn/Fe (Cr)                clear error   0.0
        ValueError: Give element= (e.g. 'Fe' or 'Mn') to use a shipped model.
    QEM Co                                     classify_oxidation         element='Co'                 ok            0.2
        fractions Co2+=nan,Co3O4=nan,Co3+=nan; probabilities nan 3/3; mean_valence nan 1/1; edge_position nan 1/1; snr n
    Ge/GaAs SI                                 umap_cluster               NaN channels in one pixel    clear error   0.0
        NonFiniteDataError: umap_cluster: the data contain NaN/inf in 1 pixel(s) (first at array index (0, 0)). Remove o
    Ge/GaAs SI                                 identify_elements          NaN channels in one pixel    clear error   0.0
        NonFiniteDataError: identify_elements: the data contain NaN/inf in 1 pixel(s) (first at array index (0, 0)). Rem
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402

#: more warnings than this from one call count as a flood
MAX_WARNINGS = 5
#: stderr lines that are TensorFlow / XLA / CUDA log chatter
_TF_LOG = re.compile(r"tensorflow|^[IWEF]\d{4} |oneDNN|cuda|XLA|absl", re.I)
#: longest SI navigation side kept for the per-pixel calls
NAV_CROP = 20
#: pixels kept for subtract_zlp_nn on an SI
ZLP_NAV_CROP = 4


def data_dir():
    here = Path(__file__).resolve().parent
    return Path(os.environ.get("HYPERSPY_EELS_ML_DATA", here.parents[1] / "shared" / "data"))


# --------------------------------------------------------------------------------------------- loading
def _eels(d, offset, scale):
    import exspy

    s = exspy.signals.EELSSpectrum(np.asarray(d, float))
    ax = s.axes_manager.signal_axes[0]
    ax.name, ax.units, ax.offset, ax.scale = "Energy loss", "eV", offset, scale
    return s


def _axis_from_name(name):
    m = re.search(r"_m([0-9dp]+)eV[-_]([0-9dp]+)eV", name)
    lo = -float(m.group(1).replace("d", ".").replace("p", "."))
    hi = float(m.group(2).replace("d", ".").replace("p", "."))
    return lo, hi


def load(root, e, lazy=False):
    """The signal of one ``index.json`` entry, loaded as a user would; ``(signal, how)``."""
    import hyperspy.api as hs

    import hyperspy_eels_ml

    p = root / e["path"]
    name = p.name
    if p.suffix == ".csv":
        a = np.loadtxt(p, delimiter=",", skiprows=1, encoding="utf-8-sig")
        s, how = hyperspy_eels_ml.spectrum_from_columns(a[:, 0], a[:, 1]), "spectrum_from_columns"
    elif p.suffix == ".txt" and e.get("reader") != "MSA":
        a = np.loadtxt(p)
        if a.ndim == 2 and a.shape[1] == 2:
            s, how = hyperspy_eels_ml.spectrum_from_columns(a[:, 0], a[:, 1]), "spectrum_from_columns"
        elif name.startswith("eelsfitter"):
            lo, hi = _axis_from_name(name)
            s, how = _eels(a, lo, (hi - lo) / (a.size - 1)), "row of counts"
        else:
            lo, hi = _axis_from_name(name)
            s, how = _eels(a, lo + 0.5 * (hi - lo) / a.size, (hi - lo) / a.size), "column of counts"
        if lazy:
            s = s.as_lazy()
            how += " as_lazy"
        return s, how
    else:
        kw = dict(reader="MSA") if e.get("reader") == "MSA" else {}
        s = hs.load(str(p), lazy=lazy, **kw)
        how = "hs.load" + (" lazy" if lazy else "")
        if isinstance(s, list):
            s = s[0]
        if s.axes_manager.signal_dimension == 1 and s.metadata.Signal.get_item("signal_type") != "EELS":
            s.set_signal_type("EELS")
        return s, how
    if lazy:
        s = s.as_lazy()
        how += " as_lazy"
    return s, how


def nav_crop(s, n=NAV_CROP):
    nd = s.axes_manager.navigation_dimension
    if nd == 0:
        return s
    sl = tuple(slice(0, n) for _ in range(nd))
    if all(a.size <= n for a in s.axes_manager.navigation_axes):
        return s
    return s.inav[sl]


def as_int(s):
    """The same counts as int32 (raw camera data often comes as integers)."""
    d = s.data.compute() if hasattr(s.data, "compute") else s.data
    return s._deepcopy_with_new_data(np.round(np.asarray(d, float)).astype(np.int32))


def dead(s):
    """A copy with the first two pixels all zero (dead pixels / the unexposed edge of a scan)."""
    d = np.array(s.data.compute() if hasattr(s.data, "compute") else s.data, dtype=float)
    flat = d.reshape(-1, d.shape[-1])
    flat[:2] = 0.0
    return s._deepcopy_with_new_data(d)


def aligned(s):
    """exspy's ZLP alignment, as the ZLPNotCentredError message suggests."""
    s = s.deepcopy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s.align_zero_loss_peak(subpixel=True, crop=True, show_progressbar=False, print_stats=False)
    return s


def first_pixel(s):
    nd = s.axes_manager.navigation_dimension
    return s.inav[(0,) * nd] if nd else s


# --------------------------------------------------------------------------------------------- checks
def _snapshot(s):
    if s is None or not hasattr(s, "axes_manager"):
        return None
    d = s.data
    data = np.array(d.compute() if hasattr(d, "compute") else d, copy=True)
    axes = [(a.name, a.units, a.size, float(getattr(a, "offset", 0.0) or 0.0), float(getattr(a, "scale", 1.0) or 1.0))
            for a in s.axes_manager._axes]
    return data, repr(s.metadata.as_dictionary()), repr(s.original_metadata.as_dictionary()), axes, type(s)


def _changed(before, after):
    if before is None:
        return []
    out = []
    if before[0].shape != after[0].shape or not np.array_equal(before[0], after[0], equal_nan=True):
        out.append("data")
    for i, what in ((1, "metadata"), (2, "original_metadata"), (3, "axes"), (4, "class")):
        if before[i] != after[i]:
            out.append(what)
    return out


def _signals_of(res):
    """(name, numpy array) of every hyperspy signal / array attribute of a result."""
    import hyperspy.signal

    out = []
    items = res.items() if isinstance(res, dict) else vars(res).items()
    for k, v in items:
        if k.startswith("_"):
            continue
        if isinstance(v, hyperspy.signal.BaseSignal):
            d = v.data
            out.append((k, np.asarray(d.compute() if hasattr(d, "compute") else d)))
        elif hasattr(v, "_signal_attributes") or hasattr(v, "_names"):
            out.extend((f"{k}.{a}", b) for a, b in _signals_of(v))
    return out


#: main output of each result type: all-NaN there without a reason is a silent failure
_MAIN = {"ElementsResult": "probabilities", "OxidationResult": "mean_valence", "ZLPResult": "inelastic",
         "BandGapResult": "Eg", "PlasmonResult": "Ep", "UMAPClusterResult": "labels"}
_REASON = {"ElementsResult": "assessable", "OxidationResult": "mask", "BandGapResult": "reason",
           "PlasmonResult": "reason", "ZLPResult": "flags"}


def check_result(res):
    """(problem or None, note) for a returned result."""
    from hyperspy_eels_ml.oxidation.result import OxidationResults

    if isinstance(res, OxidationResults):
        notes, probs = [], []
        for k, v in res.items():
            p, n = check_result(v)
            notes.append(f"{k}: {n}")
            if p:
                probs.append(f"{k}: {p}")
        return ("; ".join(probs) or None), "; ".join(notes)
    if not hasattr(res, "__dict__") or not hasattr(res, "is_lazy"):  # a str, tuple, figure, ... : nothing to check
        return None, ""
    if res.is_lazy:
        res = res.compute(show_progressbar=False)
    cls = type(res).__name__
    arrays = dict(_signals_of(res))
    notes = []
    for k, a in arrays.items():
        if a.dtype.kind == "f":
            bad = int((~np.isfinite(a)).sum())
            if bad:
                notes.append(f"{k} nan {bad}/{a.size}")
    main = _MAIN.get(cls)
    prob = None
    if main in arrays and arrays[main].dtype.kind == "f" and not np.isfinite(arrays[main]).any():
        reason = _REASON.get(cls)
        if reason not in arrays:
            prob = f"{main} all NaN, no reason given"
        else:
            notes.append(f"{main} all NaN ({reason} given)")
    if cls == "ElementsResult":
        try:
            notes.insert(0, "found " + ",".join(res.elements))
        except Exception as exc:  # noqa: BLE001 - a failing property is a bug of the result
            prob = f"elements property: {type(exc).__name__}: {exc}"
    elif cls == "OxidationResult":
        try:
            cf = res.class_fractions()
            notes.insert(0, "fractions " + ",".join(f"{k}={v:.2f}" for k, v in cf.items()))
        except Exception as exc:  # noqa: BLE001
            prob = f"class_fractions: {type(exc).__name__}: {exc}"
    elif cls == "UMAPClusterResult":
        lab = arrays.get("labels")
        if lab is not None:
            notes.insert(0, f"{len(set(np.unique(lab)) - {-1})} clusters")
    elif cls == "BandGapResult":
        eg = arrays.get("Eg")
        if eg is not None and np.isfinite(eg).any():
            notes.insert(0, f"Eg median {np.nanmedian(eg):.2f} eV")
    elif cls == "PlasmonResult":
        ep = arrays.get("Ep")
        if ep is not None and np.isfinite(ep).any():
            notes.insert(0, f"Ep median {np.nanmedian(ep):.2f} eV")
    return prob, "; ".join(notes)[:200]


@contextlib.contextmanager
def _capture_stderr():
    """Capture file descriptor 2 (TensorFlow's C++ logs bypass ``sys.stderr``)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        box = {}
        try:
            yield box
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            box["text"] = tmp.read().decode("utf-8", "replace")


def _clear_exception(exc):
    from hyperspy_eels_ml._shared.exceptions import EELSInputError

    if isinstance(exc, EELSInputError):
        return True
    if type(exc) in (ValueError, TypeError) and len(str(exc)) >= 25:
        return True
    return False


def call(rows, file, method, variant, fn, signal, after=None):
    """Run ``fn()``, classify the outcome, append a row; returns the result (or None)."""
    before = _snapshot(signal)
    t0 = time.perf_counter()
    res, exc = None, None
    with _capture_stderr() as err, warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            res = fn()
            if after is not None:
                res = after(res)
        except Exception as e:  # noqa: BLE001 - the audit classifies every failure
            exc = e
            tb = traceback.extract_tb(e.__traceback__)
    sec = time.perf_counter() - t0
    row = dict(file=file, method=method, variant=variant, seconds=round(sec, 2), warnings=len(w))
    problems = []
    if exc is not None:
        where = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(tb)
                      if "hyperspy_eels_ml" in f.filename), "")
        msg = f"{type(exc).__name__}: {str(exc)[:240]}"
        if _clear_exception(exc):
            row["outcome"], row["note"] = "clear error", msg
        else:
            row["outcome"], row["note"] = "BUG", f"{msg} [{where}]"
    else:
        try:
            prob, note = check_result(res)
        except Exception as e:  # noqa: BLE001
            prob, note = f"checking the result: {type(e).__name__}: {e}", ""
        row["outcome"], row["note"] = ("BUG", prob + "; " + note) if prob else ("ok", note)
    if before is not None:
        ch = _changed(before, _snapshot(signal))
        if ch:
            problems.append("input modified: " + ",".join(ch))
    if len(w) > MAX_WARNINGS:
        problems.append(f"{len(w)} warnings")
    tf = [ln for ln in err.get("text", "").splitlines() if _TF_LOG.search(ln)]
    if tf:
        problems.append(f"{len(tf)} TF log lines: {tf[0][:80]}")
    if problems:
        row["outcome"] = "BUG"
        row["note"] = "; ".join(problems) + " | " + row["note"]
    row["warning_messages"] = sorted({f"{x.category.__name__}: {str(x.message)[:140]}" for x in w})
    rows.append(row)
    flag = "" if row["outcome"] == "ok" else f"  <-- {row['note'][:150]}"
    print(f"  {method:20s} {variant:28s} {row['outcome']:12s} {sec:7.1f}s{flag}", flush=True)
    return res


def exercise(rows, file, res, signal):
    """The result methods a user calls next: plot (Agg backend), explain / to_metadata, predict, ... ."""
    import matplotlib.pyplot as plt

    if res is None:
        return
    cls = type(res).__name__

    def plot():
        out = res.plot()
        plt.close("all")
        return out

    call(rows, file, f"{cls}.plot", "", plot, signal)
    if cls == "ElementsResult":
        els = list(res.elements) or ["O"]
        call(rows, file, "ElementsResult.explain", els[0], lambda: str(res.explain(els[0])), signal)
        call(rows, file, "ElementsResult.flags", "", lambda: res.flags, signal)
        copy = signal.deepcopy()
        call(rows, file, "ElementsResult.to_metadata", "on a copy", lambda: res.to_metadata(copy), signal)
    elif cls == "UMAPClusterResult":
        call(rows, file, "UMAPClusterResult.predict", "same signal", lambda: res.predict(signal), signal)
    elif cls == "ZLPResult":
        call(rows, file, "ZLPResult.inelastic.plot", "", lambda: (res.inelastic.plot(), plt.close("all")), signal)


# --------------------------------------------------------------------------------------------- plan
def _has(e, *els):
    return bool(set(e.get("elements", [])) & set(els))


def _ox_element(e):
    for el in ("Mn", "Fe"):
        if _has(e, el):
            return el
    return None


def _lazy_ok(e):
    return True


def audit_file(rows, root, e):
    import hyperspy.api as hs

    path = e["path"]
    short = Path(path).name[:60]
    try:
        s, how = load(root, e)
    except Exception as exc:  # noqa: BLE001
        rows.append(dict(file=short, method="load", variant="", outcome="BUG", seconds=0, warnings=0,
                         note=f"{type(exc).__name__}: {exc}"))
        return
    print(f"{short}  [{how}; nav {s.axes_manager.navigation_shape} sig {s.axes_manager.signal_shape}; "
          f"{type(s).__name__}]", flush=True)
    if s.axes_manager.signal_dimension != 1:
        call(rows, short, "umap_cluster", "on a fitted map (wrong)", lambda: s.umap_cluster(random_state=0)
             if hasattr(s, "umap_cluster") else _func("umap_cluster")(s, random_state=0), s)
        call(rows, short, "identify_elements", "on a fitted map (wrong)",
             lambda: _func("identify_elements")(s), s)
        return
    nd = s.axes_manager.navigation_dimension
    task, role = e.get("task"), e.get("role", "")
    sig = s.axes_manager.signal_axes[0]
    lo, hi = float(sig.axis[0]), float(sig.axis[-1])
    core = task in ("elements", "oxidation", "clustering") and lo > 30
    low = task == "zlp"
    sc = nav_crop(s)

    def lazy_signal():
        if Path(path).suffix in (".hspy", ".dm3", ".dm4"):
            return load(root, e, lazy=True)[0]
        return s.as_lazy()  # text / csv / msa: no lazy reader

    if core:
        exercise(rows, short, call(rows, short, "identify_elements", "default", lambda: sc.identify_elements(), sc),
                 sc)
        if nd:
            p = first_pixel(s)
            call(rows, short, "identify_elements", "inav[0" + ", 0" * (nd - 1) + "]", lambda: p.identify_elements(),
                 p)
        a, b = lo + 0.1 * (hi - lo), lo + 0.8 * (hi - lo)
        crop = sc.isig[a:b]
        call(rows, short, "identify_elements", f"isig[{a:.0f}:{b:.0f}]", lambda: crop.identify_elements(), crop)
        sl = nav_crop(lazy_signal())
        call(rows, short, "identify_elements", "lazy", lambda: sl.identify_elements(), sl)
        si = as_int(sc)
        call(rows, short, "identify_elements", "int32 counts", lambda: si.identify_elements(), si)
        if nd:
            dz = dead(sc)
            call(rows, short, "identify_elements", "2 dead pixels", lambda: dz.identify_elements(), dz)
        if nd:
            s1 = s.inav[(slice(0, 1),) * nd]
            call(rows, short, "identify_elements", "navigation size 1", lambda: s1.identify_elements(), s1)
    if core and (task == "oxidation" or _ox_element(e)):
        el = _ox_element(e)
        call(rows, short, "classify_oxidation", "default", lambda: sc.classify_oxidation(), sc)
        if el:
            exercise(rows, short, call(rows, short, "classify_oxidation", f"element={el!r}",
                                       lambda: sc.classify_oxidation(element=el), sc), sc)
        sl = nav_crop(lazy_signal())
        kw = dict(element=el) if el else {}
        call(rows, short, "classify_oxidation", "lazy" + (f" element={el!r}" if el else ""),
             lambda: sl.classify_oxidation(**kw), sl)
        if nd:
            dz = dead(sc)
            call(rows, short, "classify_oxidation", "2 dead pixels", lambda: dz.classify_oxidation(**kw), dz)
        si = as_int(sc)
        call(rows, short, "classify_oxidation", "int32 counts" + (f" element={el!r}" if el else ""),
             lambda: si.classify_oxidation(**kw), si)
        if nd:
            s1 = s.inav[(slice(0, 1),) * nd]
            call(rows, short, "classify_oxidation", "navigation size 1", lambda: s1.classify_oxidation(**kw), s1)
        if nd:
            p = first_pixel(s)
            call(rows, short, "classify_oxidation", "one pixel" + (f" element={el!r}" if el else ""),
                 lambda: p.classify_oxidation(**kw), p)
    if core and not _ox_element(e) and task == "oxidation":
        pass  # the default above is already the "no Mn/Fe" case for Co / Cr2O3
    if low:
        sz = nav_crop(s, ZLP_NAV_CROP)
        r = call(rows, short, "subtract_zlp_nn", "n_replicas=8", lambda: sz.subtract_zlp_nn(n_replicas=8,
                                                                                                 random_state=0), sz)
        if r is None and rows[-1]["note"].startswith("ZLPNotCentredError"):  # what the error tells the user
            sz = aligned(sz)
            r = call(rows, short, "subtract_zlp_nn", "aligned, n_replicas=8",
                     lambda: sz.subtract_zlp_nn(n_replicas=8, random_state=0), sz)
        if r is not None and nd:  # dead pixels (all zero), e.g. at the edge of a scan
            dz = dead(sz)
            call(rows, short, "subtract_zlp_nn", "2 dead pixels", lambda: dz.subtract_zlp_nn(n_replicas=8,
                                                                                               random_state=0), dz)
        if r is not None and not nd:
            call(rows, short, "subtract_zlp_nn", "vacuum='gain_side'",
                 lambda: sz.subtract_zlp_nn(vacuum="gain_side", n_replicas=8, random_state=0), sz)
            arr = np.asarray(sz.data)
            call(rows, short, "subtract_zlp_nn", "vacuum=numpy array (wrong)",
                 lambda: sz.subtract_zlp_nn(vacuum=arr, n_replicas=8, random_state=0), sz)
        if r is not None:
            exercise(rows, short, r, sz)
            si = as_int(sz)
            call(rows, short, "subtract_zlp_nn", "int32 counts", lambda: si.subtract_zlp_nn(n_replicas=8,
                                                                                              random_state=0), si)
        if r is not None:
            if "MoS2" in path or "eelsfitter" in path and "Vacuum" not in path:
                exercise(rows, short, call(rows, short, "fit_band_gap", "default", lambda: r.fit_band_gap(), None),
                         None)
            if "Vacuum" not in path and "ZLP_60keV" not in path and hi > 25:
                exercise(rows, short, call(rows, short, "fit_plasmon", "default", lambda: r.fit_plasmon(), None),
                         None)
        if nd:
            sl = nav_crop(lazy_signal(), ZLP_NAV_CROP)
            call(rows, short, "subtract_zlp_nn", "lazy n_replicas=8",
                 lambda: sl.subtract_zlp_nn(n_replicas=8, random_state=0), sl)
    partner = _partner(root, e)
    if partner is not None and core:  # dual EELS: the low-loss partner calibrates the axis
        ll = nav_crop(load(root, partner)[0])
        call(rows, short, "identify_elements", "low_loss=partner", lambda: sc.identify_elements(low_loss=ll), sc)
        if _ox_element(e):
            el = _ox_element(e)
            call(rows, short, "classify_oxidation", f"low_loss=partner element={el!r}",
                 lambda: sc.classify_oxidation(element=el, low_loss=ll), sc)
    if low and "eelsfitter" in path and "Vacuum" not in path:  # the WS2 specimens with their vacuum spectra
        vac = [load(root, v)[0] for v in _ws2_vacuum(root)]
        r = call(rows, short, "subtract_zlp_nn", "vacuum=[3 WS2 vacuum] n_replicas=8",
                 lambda: s.subtract_zlp_nn(vacuum=vac, n_replicas=8, random_state=0), s)
        if r is not None:
            call(rows, short, "fit_band_gap", "vacuum given", lambda: r.fit_band_gap(), None)
        v60 = _cbl60(root)
        if v60 is not None:
            call(rows, short, "subtract_zlp_nn", "vacuum on another axis (wrong)",
                 lambda: s.subtract_zlp_nn(vacuum=v60, n_replicas=8, random_state=0), s)
    if nd and (task == "clustering" or s.axes_manager.navigation_size >= 16) and not low:
        exercise(rows, short, call(rows, short, "umap_cluster", "default", lambda: sc.umap_cluster(random_state=0),
                                   sc), sc)
        a, b = lo + 0.2 * (hi - lo), lo + 0.9 * (hi - lo)
        call(rows, short, "umap_cluster", f"signal_range=({a:.0f}, {b:.0f})",
             lambda: sc.umap_cluster(signal_range=(a, b), random_state=0), sc)
        si = as_int(sc)
        call(rows, short, "umap_cluster", "int32 counts", lambda: si.umap_cluster(random_state=0), si)
        dz = dead(sc)
        call(rows, short, "umap_cluster", "2 dead pixels", lambda: dz.umap_cluster(random_state=0), dz)
    if nd and task == "clustering" and low is False and e.get("elements"):
        call(rows, short, "umap_cluster", "lazy", lambda: nav_crop(lazy_signal()).umap_cluster(random_state=0), None)
    if nd and low and s.axes_manager.navigation_size >= 16:
        call(rows, short, "umap_cluster", "low-loss SI", lambda: sc.umap_cluster(random_state=0), sc)
    if nd and s.axes_manager.navigation_size < 16:  # a short line scan / small SI
        call(rows, short, "umap_cluster", f"{s.axes_manager.navigation_size} spectra",
             lambda: sc.umap_cluster(random_state=0), sc)


_INDEX = {}


def _partner(root, e):
    """The low-loss entry of a dual-EELS core-loss file (same stem with low-loss), or None."""
    idx = _INDEX.setdefault("index", json.loads((root / "index.json").read_text()))
    stem = Path(e["path"]).name
    cands = {"exspy-demos__LSMO_linescan.hspy": "exspy-demos__LSMO_linescan_low_loss.hspy",
             "exspy-demos__LSMO_STO_linescan.hspy": "exspy-demos__LSMO_STO_linescan_low_loss.hspy",
             "practical_EELS_QEM__intermediate_level__core_loss__EELS Spectrum Image (high-loss).dm3":
                 "practical_EELS_QEM__intermediate_level__core_loss__EELS Spectrum Image (low-loss).dm3",
             "exspy_pkg__Cr_L_cl.hspy": "exspy_pkg__Cr_L_ll.hspy",
             "exspy_pkg__coreloss_spectrum.msa": "exspy_pkg__lowloss_spectrum.msa"}
    want = cands.get(stem)
    return next((x for x in idx if Path(x["path"]).name == want), None) if want else None


def _ws2_vacuum(root):
    idx = _INDEX.setdefault("index", json.loads((root / "index.json").read_text()))
    return [x for x in idx if "eelsfitter" in x["path"] and "Vacuum" in x["path"]]


def _cbl60(root):
    idx = _INDEX.setdefault("index", json.loads((root / "index.json").read_text()))
    x = next((x for x in idx if "ZLP_60keV" in x["path"]), None)
    return None if x is None else load(root, x)[0]


def _func(name):
    import hyperspy_eels_ml

    return getattr(hyperspy_eels_ml, name)


def audit_wrong(rows, root, index, only):
    """Wrong inputs a user may try, built from the real files."""
    import hyperspy.api as hs

    def find(sub):
        for e in index:
            if sub in e["path"]:
                return e
        return None

    def pick(sub):
        e = find(sub)
        if e is None or (only and not any(o in e["path"] for o in only)):
            return None
        return load(root, e)[0]

    print("wrong inputs", flush=True)
    ll = pick("exspy_pkg__lowloss_spectrum")
    cl = pick("exspy_pkg__coreloss_spectrum")
    cr = pick("exspy_pkg__Cr_L_cl")
    co = pick("practical_EELS_QEM__Co.txt")
    si = pick("vcangadi1_EELS_Hyperspy__EELS Spectrum Image 16x16 1s")
    f = "wrong input"
    if ll is not None:
        call(rows, "exspy lowloss", "identify_elements", "low-loss file", lambda: ll.identify_elements(), ll)
        call(rows, "exspy lowloss", "classify_oxidation", "low-loss file", lambda: ll.classify_oxidation(), ll)
    if cl is not None:
        call(rows, "exspy coreloss", "subtract_zlp_nn", "core-loss file",
             lambda: cl.subtract_zlp_nn(n_replicas=8, random_state=0), cl)
        call(rows, "exspy coreloss", "umap_cluster", "single spectrum", lambda: cl.umap_cluster(random_state=0), cl)
        call(rows, "exspy coreloss", "classify_oxidation", "element='Fe' (absent)",
             lambda: cl.classify_oxidation(element="Fe"), cl)
        call(rows, "exspy coreloss", "classify_oxidation", "element='Mn' edge='K' (absent)",
             lambda: cl.classify_oxidation(element="Mn", edge="K"), cl)
        # NaN channels
        n = cl.deepcopy()
        n.data = n.data.astype(float)
        n.data[100:110] = np.nan
        for m, kw in (("identify_elements", {}), ("classify_oxidation", {}), ("umap_cluster", {})):
            call(rows, "exspy coreloss", m, "NaN channels", lambda m=m, kw=kw: getattr(n, m)(**kw), n)
        # non-eV axis
        u = cl.deepcopy()
        u.axes_manager.signal_axes[0].units = "nm"
        for m in ("identify_elements", "classify_oxidation"):
            call(rows, "exspy coreloss", m, "units='nm'", lambda m=m: getattr(u, m)(), u)
        k = cl.deepcopy()
        ax = k.axes_manager.signal_axes[0]
        ax.units, ax.offset, ax.scale = "keV", ax.offset / 1000, ax.scale / 1000
        call(rows, "exspy coreloss", "identify_elements", "units='keV'", lambda: k.identify_elements(), k)
        call(rows, "exspy coreloss", "classify_oxidation", "units='keV' element='Mn'",
             lambda: k.classify_oxidation(element="Mn"), k)
        # not EELS
        p = hs.signals.Signal1D(np.asarray(cl.data, float))
        p.axes_manager.signal_axes[0].units = "eV"
        p.axes_manager.signal_axes[0].offset = cl.axes_manager.signal_axes[0].offset
        p.axes_manager.signal_axes[0].scale = cl.axes_manager.signal_axes[0].scale
        for m in ("identify_elements", "classify_oxidation", "subtract_zlp_nn", "umap_cluster"):
            call(rows, "plain Signal1D", m, "functional API", lambda m=m: _func(m)(p), p)
    if ll is not None:
        n = ll.deepcopy()
        n.data = n.data.astype(float)
        n.data[300:305] = np.nan
        call(rows, "exspy lowloss", "subtract_zlp_nn", "NaN channels",
             lambda: n.subtract_zlp_nn(n_replicas=8, random_state=0), n)
        u = ll.deepcopy()
        u.axes_manager.signal_axes[0].units = "nm"
        call(rows, "exspy lowloss", "subtract_zlp_nn", "units='nm'",
             lambda: u.subtract_zlp_nn(n_replicas=8, random_state=0), u)
        k = ll.deepcopy()
        ax = k.axes_manager.signal_axes[0]
        ax.units, ax.offset, ax.scale = "keV", ax.offset / 1000, ax.scale / 1000
        call(rows, "exspy lowloss", "subtract_zlp_nn", "units='keV'",
             lambda: k.subtract_zlp_nn(n_replicas=8, random_state=0), k)
    mn = next((x for x in index if "Data2_MnO.csv" in x["path"]), None)
    if mn is not None and (not only or any(o in mn["path"] for o in only)):
        a = np.loadtxt(root / mn["path"], delimiter=",", skiprows=1, encoding="utf-8-sig")
        x, i = np.unique(a[:, 0], return_index=True)  # HyperSpy needs an increasing axis
        nu = hs.signals.Signal1D(a[i, 1], axes=[dict(axis=x, units="eV", name="Energy loss")])
        nu.set_signal_type("EELS")  # the uneven energy column as a non-uniform axis
        call(rows, "MnO csv", "classify_oxidation", "non-uniform axis element='Mn'",
             lambda: nu.classify_oxidation(element="Mn", remove_background=False), nu)
        call(rows, "MnO csv", "identify_elements", "non-uniform axis", lambda: nu.identify_elements(), nu)
    if cr is not None:
        call(rows, "exspy Cr_L_cl", "classify_oxidation", "no Mn/Fe (Cr)", lambda: cr.classify_oxidation(), cr)
    if co is not None:
        call(rows, "QEM Co", "classify_oxidation", "element='Co'", lambda: co.classify_oxidation(element="Co"), co)
    if si is not None:
        sc = nav_crop(si)
        n = sc.deepcopy()
        n.data = n.data.astype(float)
        n.data[0, 0, 50:60] = np.nan
        call(rows, "Ge/GaAs SI", "umap_cluster", "NaN channels in one pixel", lambda: n.umap_cluster(random_state=0),
             n)
        call(rows, "Ge/GaAs SI", "identify_elements", "NaN channels in one pixel", lambda: n.identify_elements(), n)


# --------------------------------------------------------------------------------------------- main
def print_table(rows, note_width=110):
    from collections import Counter

    w = min(max([len(r["file"]) for r in rows] + [4]), 44)
    print()
    print(f"{'file':{w}s} | {'method':26s} | {'variant':34s} | {'outcome':11s} | {'s':>5s} | note")
    print("-" * (w + 100))
    for r in rows:
        print(f"{r['file'][:w]:{w}s} | {r['method'][:26]:26s} | {r['variant'][:34]:34s} | {r['outcome']:11s} | "
              f"{r['seconds']:5.1f} | {r['note'][:note_width]}")
    c = Counter(r["outcome"] for r in rows)
    print()
    print("summary: " + ", ".join(f"{k} {c[k]}" for k in ("ok", "clear error", "BUG")) + f" of {len(rows)} calls")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--only", nargs="*", default=None, help="keep files whose path contains any of these")
    ap.add_argument("--json", type=Path, default=None, help="write the rows to this JSON file")
    ap.add_argument("--no-wrong", action="store_true", help="skip the wrong-input rows")
    a = ap.parse_args(argv)
    root = a.data or data_dir()
    if not (root / "index.json").exists():
        sys.exit(f"no index.json in {root}: set HYPERSPY_EELS_ML_DATA or --data")
    import hyperspy_eels_ml  # noqa: F401  (imports exspy without its deprecation chatter)

    index = json.loads((root / "index.json").read_text())
    rows = []
    for e in index:
        if a.only and not any(o in e["path"] for o in a.only):
            continue
        audit_file(rows, root, e)
    if not a.no_wrong:
        audit_wrong(rows, root, index, a.only)
    print_table(rows)
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
