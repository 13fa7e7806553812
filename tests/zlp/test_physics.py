"""subtract_zlp_nn on simulated versions of the real-data failures of issue 12.

Detector offset, 5 meV/ch on a short range, an unaligned SI, a handful of
spectra; honest band gaps (NaN with a reason, never a grid-edge number).
"""

import warnings

import numpy as np
import pytest

import hyperspy_eels_ml  # noqa: F401  (attaches the methods)
from hyperspy_eels_ml.simulation import thickness_bands_low_loss_si
from hyperspy_eels_ml.zlp import fit_zlp, subtract_zlp_nn

KW = dict(n_replicas=8, max_epochs=800, random_state=0, show_progressbar=False)


def _rel(s, truth, r, lo=0.5, hi=5.0, dark=0.0):
    e = s.axes_manager.signal_axes[0].axis
    w = (e >= lo) & (e <= hi)
    ti = truth.inelastic.data[..., w]
    rel = np.linalg.norm(r.inelastic.data[..., w] - ti) / np.linalg.norm(ti)
    floor = np.linalg.norm((s.data - dark - truth.zlp.data)[..., w] - ti) / np.linalg.norm(ti)
    return rel, floor


def _quiet(fn):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = fn()
    return out, [str(w.message) for w in rec]


def test_detector_offset_is_estimated_and_removed():
    s, truth = thickness_bands_low_loss_si(shape=(4, 6), seed=11, energy_offset=-5.0, n_channels=1081)
    vac, _ = thickness_bands_low_loss_si(shape=(3,), t_lambda=(0.0,), seed=12, energy_offset=-5.0, n_channels=1081)
    offset = 40.0
    s.data = s.data + offset
    vac.data = vac.data + offset
    r, _ = _quiet(lambda: subtract_zlp_nn(s, vacuum=vac, **KW))
    assert abs(r.model.dark_level - offset) < 8, (r.model.dark_level, r.model.params["dark_level_source"])
    rel, floor = _rel(s, truth, r, dark=offset)
    assert rel < 1.6 * floor, (rel, floor)
    # the offset ends up neither in the ZLP nor in the inelastic signal: t/lambda as without it
    oracle = np.log((s.data - offset).clip(0).sum(-1) / truth.zlp.data.sum(-1))
    err = np.abs(r.thickness.data - oracle)
    assert np.max(err) < 0.05
    # without the estimate the offset ends up in the ZLP or the inelastic signal (the failure of issue 12; with
    # the vacuum reference, whose tail carries the same offset, mostly in the ZLP, so t/lambda alone can't tell)
    r0, _ = _quiet(lambda: subtract_zlp_nn(s, vacuum=vac, dark_level=None, **KW))
    e = s.axes_manager.signal_axes[0].axis
    m = (e >= 2) & (e < 40)

    def misplaced(res):
        # counts per channel put in the ZLP or the inelastic signal beyond the truth (signed: the noise averages out)
        return np.mean(res.zlp.data[..., m] - truth.zlp.data[..., m]
                       + res.inelastic.data[..., m] - truth.inelastic.data[..., m])

    assert abs(misplaced(r)) < 0.1 * offset < 0.5 * offset < misplaced(r0), (misplaced(r), misplaced(r0))


def test_no_offset_means_no_dark_level():
    s, _ = thickness_bands_low_loss_si(shape=(3, 4), seed=13, energy_offset=-5.0, n_channels=1081)
    m, _ = _quiet(lambda: fit_zlp(s, n_replicas=2, max_epochs=25, random_state=0, show_progressbar=False))
    assert m.dark_level == 0.0 and "not significant" in m.params["dark_level_source"]


def test_fine_dispersion_short_range():
    # 5 meV/ch, -1 to 9 eV (the second WS2 set / MoS2 geometry of issue 12)
    s, truth = thickness_bands_low_loss_si(shape=(3, 4), seed=14, energy_offset=-1.0, dispersion=0.005,
                                           n_channels=2001)
    r, _ = _quiet(lambda: subtract_zlp_nn(s, **KW))
    rel, floor = _rel(s, truth, r, lo=0.7, hi=5.0)
    assert rel < 2.0 * floor, (rel, floor)
    assert np.all(np.asarray(r.thickness.data) > 0)
    g, _ = _quiet(lambda: r.fit_band_gap(exponent="free", show_progressbar=False))  # window from the data
    eg = np.asarray(g.Eg.data, float)
    assert np.isfinite(eg).mean() >= 0.5
    # thick pixels recover the gap of the same onset model fitted to the noise-free truth (the model
    # A (E - Eg)^b itself reads the simulated 1.6 eV onset about 0.1 eV low); thin ones (t/lambda ~0.15,
    # columns 0-1) are biased high at this dispersion (a known limit, documented)
    from hyperspy_eels_ml.zlp import fit_onset
    from hyperspy_eels_ml.zlp.bandgap import eg_grid_for

    e = s.axes_manager.signal_axes[0].axis
    lo, hi = g.energy_range
    w = (e >= lo) & (e <= hi)
    egt, _, _ = fit_onset(e[w], truth.inelastic.data[..., w], 1.0 / np.clip(s.data[..., w], 1, None),
                          eg_grid_for(lo, hi, 0.005), list(np.round(np.arange(0.3, 2.55, 0.1), 2)))
    thick, thick_t = eg[:, 2:], egt[:, 2:]
    ok = np.isfinite(thick)
    # b free at 5 meV/ch is poorly determined (median error ~0.25 eV with or without the free ZLP level; the worst
    # thick pixel was 0.24 eV with the level fixed, 0.32 eV with it): within 0.35 eV and 3 of its own half-widths
    half = 0.5 * (np.asarray(g.Eg_upper.data, float) - np.asarray(g.Eg_lower.data, float))[:, 2:]
    err = np.abs(thick[ok] - thick_t[ok])
    assert np.all(err < 0.35) and np.all(err < 3 * half[ok]), (eg, egt, half)
    assert abs(np.nanmedian(eg) - 1.6) < 0.3, eg
    # with the exponent fixed (indirect gap) the same pixels are within 0.1 eV of the truth fit
    g15, _ = _quiet(lambda: r.fit_band_gap(exponent=1.5, show_progressbar=False))
    lo, hi = g15.energy_range
    w = (e >= lo) & (e <= hi)
    egt15, _, _ = fit_onset(e[w], truth.inelastic.data[..., w], 1.0 / np.clip(s.data[..., w], 1, None),
                            eg_grid_for(lo, hi, 0.005), [1.5])
    eg15 = np.asarray(g15.Eg.data, float)[:, 2:]
    assert np.isfinite(eg15).all() and np.all(np.abs(eg15 - egt15[:, 2:]) < 0.1), (eg15, egt15)
    # the default (law by chi^2): where the data decide they choose b = 1.5 (the simulated law), with its numbers
    from hyperspy_eels_ml.zlp.bandgap import law_decisive

    gd, _ = _quiet(lambda: r.fit_band_gap(show_progressbar=False))
    dec = law_decisive(gd.delta_chi2_law.data, gd.chi2_direct.data, gd.chi2_indirect.data)
    assert dec[:, 2:].mean() >= 0.5 and np.all(np.asarray(gd.delta_chi2_law.data)[dec] > 0), gd.delta_chi2_law.data
    np.testing.assert_array_equal(np.asarray(gd.Eg.data)[dec], np.asarray(g15.Eg.data)[dec])


def test_coarse_dispersion_band_gap_window():
    # issue 12: fit_band_gap((1.0, 3.0)) failed at 0.3 eV/ch ("holds only 4 channels")
    s, _ = thickness_bands_low_loss_si(shape=(2, 3), seed=15, energy_offset=-6.0, dispersion=0.3, n_channels=120)
    r, _ = _quiet(lambda: subtract_zlp_nn(s, **KW))
    g, _ = _quiet(lambda: r.fit_band_gap((1.0, 3.0), show_progressbar=False))
    assert g.Eg.data.shape == (2, 3)


def test_unaligned_si_warns():
    s, _ = thickness_bands_low_loss_si(shape=(4, 5), seed=16)
    s.data[::2] = np.roll(s.data[::2], 8, axis=-1)  # half the rows 0.2 eV off
    _, msgs = _quiet(lambda: fit_zlp(s, n_replicas=2, max_epochs=25, random_state=0, show_progressbar=False))
    assert any("unaligned" in m for m in msgs), msgs


def test_few_spectra_many_replicas_stop_early():
    s, truth = thickness_bands_low_loss_si(shape=(3,), seed=17)
    r, _ = _quiet(lambda: subtract_zlp_nn(s, n_replicas=40, max_epochs=4000, random_state=0, show_progressbar=False))
    assert r.model.diagnostics["epochs"] < 4000
    rel, floor = _rel(s, truth, r)
    assert rel < 2.0 * floor, (rel, floor)


@pytest.fixture(scope="module")
def bands():
    s, truth = thickness_bands_low_loss_si(shape=(3, 6), seed=18)
    r, _ = _quiet(lambda: subtract_zlp_nn(s, **KW))
    return s, truth, r


def test_band_gap_at_grid_edge_is_nan_with_reason(bands):
    _, _, r = bands
    # the gap (1.6 eV) lies below this window's search grid (from 2.25 eV): never a grid-edge number
    g, msgs = _quiet(lambda: r.fit_band_gap((3.0, 4.5), exponent=1.5, show_progressbar=False))
    eg = np.asarray(g.Eg.data, float)
    assert np.isnan(eg).mean() > 0.8, eg
    assert np.all(np.asarray(g.reason.data)[np.isnan(eg)] > 0)
    assert any("Eg = NaN" in m for m in msgs)


def test_vacuum_has_no_resolved_onset(bands):
    _, _, r = bands
    vac, _ = thickness_bands_low_loss_si(shape=(3,), t_lambda=(0.0,), seed=19)
    rv, _ = _quiet(lambda: r.model.subtract(vac, show_progressbar=False))
    g, msgs = _quiet(lambda: rv.fit_band_gap((1.0, 3.0), show_progressbar=False))
    assert np.all(np.isnan(g.Eg.data)) and np.all(np.asarray(g.reason.data) == 2), g.reason.data
    assert any("no resolved onset" in m for m in msgs)
    # no onset, no law to check: the law flags stay off and say nothing
    assert not np.any(np.asarray(g.flags.data)) and not any("onset law" in m for m in msgs)


def test_band_gap_law_not_resolved_is_flagged_and_warned(bands):
    # 1.2-2.0 eV on the indirect (b = 1.5) onset: the window holds too little of the onset for its curvature to
    # tell b = 0.5 from b = 1.5 (abs(delta chi^2) ~ 0-2 in every pixel): flag 1 and one warning naming the pixels
    from hyperspy_eels_ml.zlp.bandgap import FLAG_LAW_NOT_RESOLVED, law_decisive

    _, _, r = bands
    g, msgs = _quiet(lambda: r.fit_band_gap((1.2, 2.0), show_progressbar=False))
    flags, reason = np.asarray(g.flags.data).astype(int), np.asarray(g.reason.data)
    delta = np.asarray(g.delta_chi2_law.data, float)
    fitted = reason == 0
    assert np.mean(flags[fitted] & FLAG_LAW_NOT_RESOLVED) >= 0.8, (flags, delta)
    assert np.all(np.abs(delta) < 9), delta
    dec = law_decisive(delta, g.chi2_direct.data, g.chi2_indirect.data)
    assert np.all((flags == FLAG_LAW_NOT_RESOLVED) == ((reason != 2) & ~dec))
    law = [m for m in msgs if "onset law not resolved" in m]
    first = tuple(int(i) for i in np.argwhere(flags != 0)[0])
    assert len(law) == 1 and str(first) in law[0] and f"{int((flags != 0).sum())} of 18 pixels" in law[0], msgs
    assert np.all(np.isfinite(np.asarray(g.Eg.data)[fitted]))  # a flag qualifies the number, it is not a NaN
    assert "law-flagged" in repr(g) and g.flags.metadata.General.title.startswith("Band-gap law flags")


def test_band_gap_decisive_law_and_chi2_per_law(bands):
    # 1.0-3.0 eV on the indirect onset: where the laws' chi^2 differ by >= 9 the data choose b = 1.5, the truth
    from hyperspy_eels_ml.zlp.bandgap import FLAG_LAW_NOT_RESOLVED, FLAG_LAW_REJECTED, LAW_DELTA_CHI2, law_decisive

    s, _, r = bands
    g, _ = _quiet(lambda: r.fit_band_gap((1.0, 3.0), exponent="chi2", show_progressbar=False))
    cd, ci, delta = (np.asarray(getattr(g, k).data, float) for k in ("chi2_direct", "chi2_indirect",
                                                                       "delta_chi2_law"))
    assert cd.shape == ci.shape == delta.shape == s.data.shape[:-1] and g.law == "chi2"
    e = s.axes_manager.signal_axes[0].axis
    dof = int(((e >= 1.0) & (e <= 3.0)).sum()) - 3  # Eg, A and the ZLP level
    np.testing.assert_allclose(delta, dof * (cd - ci), rtol=1e-4, atol=1e-2)
    dec = law_decisive(delta, cd, ci)
    np.testing.assert_array_equal(dec, np.abs(delta) / np.maximum(1, np.minimum(cd, ci)) >= LAW_DELTA_CHI2)
    assert dec.mean() >= 0.5 and np.all(delta[dec] > 0), delta  # decisive: indirect, never direct
    b = np.asarray(g.b.data, float)
    assert np.all(b[dec] == 1.5) and np.all((np.asarray(g.flags.data) == FLAG_LAW_NOT_RESOLVED) == ~dec)
    # the winning law's fit is the fixed-exponent fit: same numbers; and b = 1.5 fixed raises no flag
    g15, msgs15 = _quiet(lambda: r.fit_band_gap((1.0, 3.0), exponent=1.5, show_progressbar=False))
    np.testing.assert_array_equal(np.asarray(g.Eg.data)[dec], np.asarray(g15.Eg.data)[dec])
    np.testing.assert_array_equal(np.asarray(g15.delta_chi2_law.data), delta)
    assert not np.any(np.asarray(g15.flags.data)) and not any("textbook law" in m for m in msgs15)
    # the wrong law fixed: flag 2 where the indirect law fits decisively better, one warning naming them
    g05, msgs05 = _quiet(lambda: r.fit_band_gap((1.0, 3.0), exponent=0.5, show_progressbar=False))
    np.testing.assert_array_equal(np.asarray(g05.flags.data) == FLAG_LAW_REJECTED, dec)
    law = [m for m in msgs05 if "other textbook law (b = 1.5)" in m]
    assert len(law) == 1 and str(tuple(int(i) for i in np.argwhere(dec)[0])) in law[0], msgs05
    # b fitted freely keeps today's numbers; the check only adds maps and flags
    gf, _ = _quiet(lambda: r.fit_band_gap((1.0, 3.0), exponent="free", show_progressbar=False))
    assert np.all((np.asarray(gf.flags.data) == FLAG_LAW_NOT_RESOLVED) == ~dec)
    import json

    prov = json.loads(g.flags.metadata.hyperspy_eels_ml.parameters)
    assert prov["law"] == "chi2" and prov["law_delta_chi2"] == LAW_DELTA_CHI2 and prov["law_exponents"] == [0.5, 1.5]


def test_band_gap_law_check_in_units_of_the_reduced_chi2(bands):
    # 4.5 detector counts per electron with count_gain=1: chi^2 ~ 4.5 and delta overstated by that factor; the
    # check divides it by the better law's reduced chi^2, so fewer pixels are decisive than the raw delta says
    from hyperspy_eels_ml.zlp.bandgap import FLAG_LAW_NOT_RESOLVED, law_decisive

    s, _, r = bands
    s45 = s.deepcopy()
    s45.data = s45.data * 4.5
    r45, _ = _quiet(lambda: r.model.subtract(s45, show_progressbar=False))
    g, _ = _quiet(lambda: r45.fit_band_gap((1.0, 3.0), show_progressbar=False))
    cd, ci, delta = (np.asarray(getattr(g, k).data, float) for k in ("chi2_direct", "chi2_indirect",
                                                                       "delta_chi2_law"))
    assert np.median(np.minimum(cd, ci)) > 2.5, (cd, ci)
    dec = law_decisive(delta, cd, ci)
    assert dec.sum() < (np.abs(delta) >= 9).sum(), (delta, cd, ci)
    onset = np.asarray(g.reason.data) != 2
    np.testing.assert_array_equal(np.asarray(g.flags.data) == FLAG_LAW_NOT_RESOLVED, onset & ~dec)


def test_band_gap_law_maps_lazy_as_eager(bands):
    # lazy output: the law maps and flags are dask-backed, compute to the eager numbers, and warn nothing until then
    _, _, r = bands
    ge, _ = _quiet(lambda: r.fit_band_gap((1.0, 3.0), show_progressbar=False))
    gl, msgs = _quiet(lambda: r.fit_band_gap((1.0, 3.0), lazy_output=True, show_progressbar=False))
    assert gl.is_lazy and not any("onset law" in m for m in msgs)
    _, msgs = _quiet(gl.compute)
    assert sum("onset law not resolved" in m for m in msgs) == int(np.any(np.asarray(ge.flags.data))), msgs
    for k in ("Eg", "chi2_direct", "chi2_indirect", "delta_chi2_law", "flags"):
        np.testing.assert_array_equal(np.asarray(getattr(gl, k).data), np.asarray(getattr(ge, k).data))


def test_result_repr_plot_and_flags(bands):
    from matplotlib.figure import Figure

    s, _, r = bands
    text = repr(r)
    assert "ZLPResult" in text and "navigation 3 x 6" in text and "np.int64" not in text
    fig = r.plot()
    assert isinstance(fig, Figure)
    assert "np.int64" not in fig.axes[0].get_title() and fig.axes[0].get_xlabel() == "Energy loss (eV)"
    assert r.flags.data.shape == s.data.shape[:-1] and not np.any(r.flags.data)
    g, _ = _quiet(lambda: r.fit_band_gap((1.0, 3.0), show_progressbar=False))
    assert isinstance(g.plot(), Figure) and "BandGapResult" in repr(g)
    assert isinstance(r.model.plot_regions(), Figure)


def test_sanity_flags_name_pixels():
    s, _ = thickness_bands_low_loss_si(shape=(2, 4), seed=20)
    m, _ = _quiet(lambda: fit_zlp(s, **KW))
    bad = s.deepcopy()
    bad.data[0, 1] *= 0.0
    bad.data[0, 1, 70:100] = s.data[0, 1, 70:100]  # a ZLP core without its loss side: ZLP > data
    r, msgs = _quiet(lambda: m.subtract(bad, show_progressbar=False))
    assert r.flags.data[0, 1] & 1 and r.flags.data[0, 1] & 2
    assert any("(0, 1)" in msg and "t/lambda <= 0" in msg for msg in msgs), msgs


def test_tail_above_data_quiet_on_a_normal_case(bands):
    s, _, r = bands
    frac = r.diagnostics["tail_above_data"]
    assert frac.shape == s.data.shape[:-1] and np.all(frac < 0.01), frac
    assert not np.any(np.asarray(r.flags.data) & 8)


def test_tail_above_data_flags_a_zlp_tail_forced_above_the_data():
    from hyperspy_eels_ml.zlp.blocks import tail_above_data

    s, truth = thickness_bands_low_loss_si(shape=(2, 4), seed=21, counts=6e7)  # ZLP tail > 20 counts to ~10 eV
    m, _ = _quiet(lambda: fit_zlp(s, **KW))
    e = s.axes_manager.signal_axes[0].axis
    bad = s.deepcopy()
    # pixel (1, 2): its loss side beyond dE1 cut to 0.3 x the true ZLP (core kept, so the model predicts the
    # same ZLP), i.e. the fitted tail lies far above the data there; the integrals still hold (no bit 2)
    d1 = float(np.min(m.clusters["dE1"]))
    beyond = e > d1
    bad.data[1, 2, beyond] = np.round(0.3 * truth.zlp.data[1, 2, beyond])
    r, msgs = _quiet(lambda: m.subtract(bad, show_progressbar=False))
    frac = r.diagnostics["tail_above_data"]
    assert frac[1, 2] > 0.2 and np.all(np.delete(frac.ravel(), 6) < 0.02), frac
    assert r.flags.data[1, 2] & 8 and not np.any(np.delete(np.asarray(r.flags.data).ravel(), 6) & 8)
    assert any("(1, 2)" in msg and "no vacuum reference / wrong dE1" in msg for msg in msgs), msgs
    # the per-channel rule itself: 3 sigma of the ZLP's counting noise plus read noise
    z = np.full((2, 5), 100.0)
    J = np.array([[100.0] * 5, [100.0, 100.0, 60.0, 60.0, 60.0]])
    f = tail_above_data(J, z, np.arange(5.0), np.array([0.5, 0.5]), 1.0)
    np.testing.assert_allclose(f, [0.0, 0.75])
    assert tail_above_data(J, z, np.arange(5.0), np.array([0.5, 0.5]), 1.0, read_var=200.0**2)[1] == 0.0


def test_onset_fit_with_zlp_level_term_absorbs_a_tail_error():
    # a ZLP tail under-subtracted by 6 % in the window (the replicas' common extrapolation error) reads as onset
    # signal below the gap without the free ZLP level; with it the gap is recovered
    from hyperspy_eels_ml.zlp import fit_onset
    from hyperspy_eels_ml.zlp.bandgap import eg_grid_for

    e = np.arange(1.0, 3.0, 0.01)
    onset = 40.0 * np.clip(e - 1.6, 0, None) ** 1.5
    tail = 60.0 * e**-3.0
    data_minus_zlp = onset + 0.06 * tail  # the subtracted ZLP was 6 % too low
    w = 1.0 / (onset + tail + 1.0)
    grid = eg_grid_for(1.0, 3.0, 0.01)
    eg0 = fit_onset(e, data_minus_zlp, w, grid, [1.5])[0]
    eg1, _, a1 = fit_onset(e, data_minus_zlp, w, grid, [1.5], nuisance=tail)
    assert abs(eg1 - 1.6) < 0.01 and abs(a1 - 40.0) < 1.0, (eg1, a1)
    assert abs(eg0 - 1.6) > 3 * abs(eg1 - 1.6), (eg0, eg1)
    # no onset at all: the template alone explains the data, so the onset's improvement is ~0
    *_, dchi2 = fit_onset(e, 0.06 * tail, w, grid, [1.5], full_output=True, nuisance=tail)
    assert dchi2 < 1e-6


def test_offset_falling_along_the_axis_is_said_with_the_safe_constant():
    # gain side offset 40 counts, falling to 2 counts from 0 to 2 eV on the loss side (a non-constant offset, as
    # the Cr/Fe/Al, LSMO and LSMO/STO files show): the gain-side constant over-subtracts near the gap, which is said
    s, truth = thickness_bands_low_loss_si(shape=(4, 6), seed=11, energy_offset=-5.0, n_channels=1081)
    e = s.axes_manager.signal_axes[0].axis
    ramp = np.where(e < 0, 40.0, 40.0 - 38.0 * np.clip(e / 2, 0, 1))
    s.data = s.data + ramp
    m, msgs = _quiet(lambda: fit_zlp(s, n_replicas=2, max_epochs=25, random_state=0, show_progressbar=False))
    assert abs(m.dark_level - 40.0) < 3, m.dark_level  # the gain-side level, where the ZLP is
    src = m.params["dark_level_source"]
    assert "not constant along the axis" in src and any("not constant along the axis" in x for x in msgs), msgs
    # the constant it suggests subtracts no more than the data anywhere (within the noise)
    import re

    safe = float(re.search(r"dark_level=([0-9.eE+-]+) is", src).group(1))
    mean = (s.data - safe).reshape(-1, e.size).mean(axis=0)
    true_min = (truth.zlp.data + truth.inelastic.data).reshape(-1, e.size).mean(axis=0)[e > 0.5].min()
    assert mean[e > 0.5].min() > -3.0 and 5.0 < safe < 40.0 - true_min, (mean[e > 0.5].min(), safe)
    # a constant offset is not flagged
    s2, _ = thickness_bands_low_loss_si(shape=(4, 6), seed=11, energy_offset=-5.0, n_channels=1081)
    s2.data = s2.data + 40.0
    m2, msgs2 = _quiet(lambda: fit_zlp(s2, n_replicas=2, max_epochs=25, random_state=0, show_progressbar=False))
    assert abs(m2.dark_level - 40.0) < 3 and "not constant" not in m2.params["dark_level_source"]
    assert not any("not constant along the axis" in x for x in msgs2)
