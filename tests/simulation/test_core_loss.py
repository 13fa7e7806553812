"""Core-loss generator: ground truth, physics sanity, determinism, bad input, realism mechanisms."""

import numpy as np
import pytest
from scipy.signal import find_peaks

from hyperspy_eels_ml.simulation import core_loss
from hyperspy_eels_ml.simulation.edges import edge_onsets
from hyperspy_eels_ml.simulation.realism import ARTEFACT_BITS, three_d_holes

# noise-free, sharp, unshifted spectra for peak-position checks
CLEAN = dict(noise=False, instrument_shift=0.0, dispersion_error=0.0, chemical_shift=0.0, t_lambda=0.05,
             zlp_fwhm=0.3, jump_ratio=1.0)


def test_shapes_and_labels():
    b = core_loss(64, ["C", "O", "Fe"], energy_offset=250, dispersion=0.5, size=1024, rng=0)
    assert b.spectra.shape == (64, 1024) and b.spectra.dtype == np.float32
    assert b.present.shape == b.visible.shape == (64, 3)
    assert np.all(b.present.any(axis=1))
    assert not np.any(b.visible & ~b.present)  # never visible when absent
    assert set(b.params) >= {"E0", "beta", "instrument_shift", "chemical_shift", "t_lambda", "counts"}
    assert np.all((b.params["t_lambda"] >= 0.03) & (b.params["t_lambda"] <= 1.5))


def test_deterministic_for_a_seed():
    a = core_loss(8, ["Mn", "O"], energy_offset=400, size=512, rng=3)
    b = core_loss(8, ["Mn", "O"], energy_offset=400, size=512, rng=3)
    np.testing.assert_array_equal(a.spectra, b.spectra)


def test_edge_onset_follows_shift():
    """The C K edge rises at onset + instrument shift + chemical shift."""
    for shift in (-4.0, 0.0, 4.0):
        b = core_loss(1, ["C"], energy_offset=250, dispersion=0.1, size=800, amounts=[1.0], instrument_shift=shift,
                      chemical_shift=0.0, noise=False, fine_structure=False, t_lambda=0.05, zlp_fwhm=0.3,
                      jump_ratio=1.0, dispersion_error=0.0, rng=1)
        s = b.spectra[0]
        rise = b.energy[np.argmax(np.diff(s))]
        assert rise == pytest.approx(edge_onsets("C")["K"] + shift, abs=0.6)


def test_element_outside_window_is_not_visible():
    b = core_loss(32, ["C", "Fe"], energy_offset=250, dispersion=0.25, size=1024, amounts=[1.0, 1.0], rng=2)
    assert not b.visible[:, 1].any()  # Fe L3 (708 eV) lies above the 250-506 eV window
    assert b.present[:, 1].all()


def test_visibility_grows_with_counts():
    kw = dict(energy_offset=450, dispersion=0.5, size=1024, amounts=[1.0, 0.02], rng=4)
    low = core_loss(200, ["O", "Fe"], counts=100, **kw).visible[:, 1].mean()
    high = core_loss(200, ["O", "Fe"], counts=1e5, **kw).visible[:, 1].mean()
    assert high > low
    assert high > 0.5


def test_plural_scattering_fills_in_after_edge():
    """More thickness moves counts from the edge onset to one plasmon energy above it."""
    kw = dict(energy_offset=250, dispersion=0.25, size=1024, amounts=[1.0], instrument_shift=0, chemical_shift=0,
              dispersion_error=0.0,
              noise=False, fine_structure=False, plasmon_energy=20.0, plasmon_width=5.0, zlp_fwhm=0.5, E0=200,
              beta=30, background_exponent=3.0, jump_ratio=1.0, rng=0)
    thin = core_loss(1, ["C"], t_lambda=0.05, **kw).spectra[0]
    thick = core_loss(1, ["C"], t_lambda=1.2, **kw).spectra[0]
    e = core_loss(1, ["C"], t_lambda=0.05, **kw).energy
    on, k = np.searchsorted(e, 284 + 3), np.searchsorted(e, 284 + 22)
    assert thick[k] / thick[on] > 1.05 * thin[k] / thin[on]
    assert thick[-1] / thick[-20] == pytest.approx(thin[-1] / thin[-20], rel=0.05)  # no artefact at the window end


def test_poisson_statistics():
    kw = dict(energy_offset=400, size=256, amounts=[1.0, 1.0], counts=1000.0, gain=1.0, read_noise=0.0, rng=5,
              noise_correlation=0.0, dark_offset=0.0, artefacts=False)
    mean = core_loss(1, ["Mn", "O"], noise=False, **kw).spectra[0]
    noisy = core_loss(1, ["Mn", "O"], **kw).spectra[0]
    z = (noisy - mean) / np.sqrt(np.maximum(mean, 1))
    assert abs(z.mean()) < 0.3 and 0.7 < z.std() < 1.3


def test_bad_input():
    with pytest.raises(ValueError, match="Unknown element 'Qq'"):
        core_loss(2, ["Qq"])
    with pytest.raises(ValueError, match="counts must be positive"):
        core_loss(2, ["C"], counts=-5)
    with pytest.raises(ValueError, match="amounts must be >= 0"):
        core_loss(2, ["C"], amounts=[-1.0])
    with pytest.raises(ValueError, match="outside the edge table"):
        core_loss(2, ["C"], energy_offset=9000)
    with pytest.raises(ValueError, match="energy_offset > 0"):
        core_loss(2, ["C"], energy_offset=-10)
    with pytest.raises(ValueError, match="E0 must be in kV"):
        core_loss(2, ["C"], E0=200000)


# ---------------------------------------------------------------------------------------------
# realism mechanisms (issue 10)
# ---------------------------------------------------------------------------------------------
def test_hole_counts_follow_the_ionic_valence():
    assert three_d_holes("Cu", 2) == 1 and three_d_holes("Cu", 1) == 0 and three_d_holes("Cu", 0) == 0
    assert three_d_holes("Ti", 4) == 10 and three_d_holes("Ti", 3) == 9 and three_d_holes("Sc", 3) == 10
    assert three_d_holes("Fe", 3) == 5 and three_d_holes("Fe", 2) == 4 and three_d_holes("Mn", 2) == 5
    assert three_d_holes("Ca", 2) == 10 and three_d_holes("K", 1) == 10 and three_d_holes("Ni", 2) == 2


def _l3_peak_over_continuum(el, v, off, realism="realistic", n=1):
    b = core_loss(n, [el, "O"], energy_offset=off, dispersion=0.1, size=900, amounts=[1.0, 0.0], valence={el: v},
                  white_line_strength=1.0, rng=1, realism=realism, **CLEAN)
    s, e = b.spectra.astype(float), b.energy
    l3 = edge_onsets(el)["L3"]
    top = s[:, (e > l3 - 2) & (e < l3 + 6)].max(1)
    cont = s[:, (e > l3 + 45) & (e < l3 + 55)].mean(1)
    return top / cont, b


@pytest.mark.parametrize("realism", ["realistic-v2", "realistic-v3"])
def test_cu2_has_a_strong_l3_line_and_cu1_none(realism):
    # over 40 draws (one draw compared 1.49 with 0.83 on v3, less than the 2x the medians show: 1.92 / 0.61)
    r2, b2 = _l3_peak_over_continuum("Cu", 2, 900, realism, n=40)
    r1, b1 = _l3_peak_over_continuum("Cu", 1, 900, realism, n=40)
    assert np.median(r2) > 2.0 * np.median(r1) and r2.min() > r1.max()
    assert np.isfinite(b2.params["l3_l2"][:, 0]).all() and np.isnan(b1.params["l3_l2"][:, 0]).all()


def test_ti4_d0_shows_crystal_field_doublets_and_low_l3_l2():
    b = core_loss(1, ["Ti", "O"], energy_offset=440, dispersion=0.05, size=800, amounts=[1.0, 0.0], valence={"Ti": 4},
                  rng=2, **CLEAN)
    s, e = b.spectra[0], b.energy
    reg = (e > 455) & (e < 472)
    p, _ = find_peaks(s[reg], prominence=0.03 * s[reg].max())
    assert len(p) >= 3  # t2g/eg doublets at L3 and L2
    assert 0.7 <= b.params["l3_l2"][0, 0] <= 0.95


def test_l3_l2_ratio_grows_with_d_count():
    lo = core_loss(200, ["Ti", "O"], energy_offset=440, size=256, amounts=[1.0, 1.0], valence={"Ti": 4}, rng=3)
    hi = core_loss(200, ["Fe", "O"], energy_offset=690, size=256, amounts=[1.0, 1.0], valence={"Fe": 3}, rng=3)
    r_lo, r_hi = lo.params["l3_l2"][:, 0], hi.params["l3_l2"][:, 0]
    assert r_lo.max() < 1.0 and r_hi.min() > 2.0
    # draws span about 0.7-3.5 over the 3d row
    allr = np.concatenate([r_lo, r_hi])
    assert allr.min() < 0.8 and allr.max() > 3.5


def test_white_line_strength_parameter_scales_the_lines():
    kw = dict(energy_offset=690, dispersion=0.1, size=900, amounts=[1.0], valence={"Fe": 3}, rng=4, **CLEAN)
    weak = core_loss(1, ["Fe"], white_line_strength=0.3, **kw).spectra[0]
    strong = core_loss(1, ["Fe"], white_line_strength=1.5, **kw).spectra[0]
    e = np.arange(900) * 0.1 + 690
    cont = (e > 760) & (e < 770)
    assert strong.max() / strong[cont].mean() > 2 * weak.max() / weak[cont].mean()


@pytest.mark.parametrize("realism", ["realistic-v2", "realistic-v3"])
@pytest.mark.parametrize("element, others, offset, window, expect", [
    ("Mg", ["O"], 1280.0, (1305, 1330), [(4.5, 8.5), (10.5, 15.5)]),   # MgO: +6 / +13 eV
    ("C", [], 270.0, (283, 300), None),
])
def test_k_elnes_peak_positions(element, others, offset, window, expect, realism):
    from hyperspy_eels_ml.simulation.realism import K_ELNES

    b = core_loss(40, [element] + others, energy_offset=offset, dispersion=0.1, size=900,
                  amounts=[1.0] + [1.0] * len(others), rng=5, realism=realism, **CLEAN)
    onset = edge_onsets(element)["K"]
    types = K_ELNES[element]
    seen = []
    for s, ti, cs in zip(b.spectra, b.params["bonding"][:, 0], b.params["chemical_shift"][:, 0]):
        assert ti >= 0
        reg = (b.energy > window[0]) & (b.energy < window[1])
        p, _ = find_peaks(s[reg], prominence=0.05 * s[reg].max())
        rel = b.energy[reg][p] - onset
        name, _, _, _, peaks = types[ti]
        if expect is None and peaks[0][1][1] <= 2.0 and peaks[0][2][0] >= 0.5:  # every narrow first peak is seen where its prior puts it
            lo, hi = peaks[0][0]
            assert np.any((rel > lo + cs - 1.0) & (rel < hi + cs + 1.0)), (name, rel)
        elif name.startswith("oxide"):  # both Mg K peaks resolved in most oxide draws
            seen.append(all(np.any((rel > lo) & (rel < hi)) for lo, hi in expect))
    if expect is not None:
        assert len(seen) >= 10 and np.mean(seen) >= 0.8, seen
    # the first (pi*/pre-peak) peak is well above the continuum: peak-to-continuum of 2 or more is common.
    # Measured exactly as the issue and benchmarks/bench_sim_vs_real.py measure the real edges: power-law
    # background removed over max(E0 + 1, onset - 40) .. onset - 4 eV, 0.5 eV Gaussian smoothing, highest point
    # within onset - 3 .. onset + 12 eV over the mean at onset + 35 .. 50 eV. (Until session 5 this test took
    # the ratio on the raw spectrum, background included, which lowers it: v3 gave 15-18 % above 2 that way.)
    bench = _bench_module()
    edge = core_loss(40, [element] + others, energy_offset=offset, dispersion=0.1, size=900,
                     amounts=[1.0] + [0.0] * len(others), rng=5, realism=realism, **CLEAN)
    e = edge.energy
    sub = bench.remove_bg(e, edge.spectra.astype(np.float64), max(e[0] + 1, onset - 40), onset - 4)
    ptc = bench.edge_features(e, sub, onset, None, 0.1)["ptc"]
    assert np.isfinite(ptc).all(), ptc
    assert np.mean(ptc > 2.0) > 0.2, ptc


@pytest.mark.parametrize("realism", ["realistic-v2", "realistic-v3"])
def test_c_k_pi_star_of_sp2_carbon(realism):
    b = core_loss(60, ["C"], energy_offset=270, dispersion=0.1, size=600, amounts=[1.0], rng=6, realism=realism,
                  **CLEAN)
    sp2 = b.params["bonding"][:, 0] == 0
    assert sp2.any()
    for s in b.spectra[sp2]:
        reg = (b.energy > 283) & (b.energy < 288)
        p, _ = find_peaks(s[reg], prominence=0.02 * s.max())
        assert np.any(np.abs(b.energy[reg][p] - 285.3) < 1.0)


def test_correlated_noise_has_the_requested_lag1_autocorrelation():
    kw = dict(energy_offset=400, size=2048, amounts=[1.0], counts=2e4, read_noise=0.0, dark_offset=0.0,
              artefacts=False, gain=5.0, correlated_fraction=1.0, fine_structure=False, rng=7)
    for rho in (0.0, 0.5, 0.9):  # smooth signal (C K tail): the blur of the signal itself does not matter
        mean = core_loss(4, ["C"], noise=False, noise_correlation=rho, **kw).spectra.astype(float)
        noisy = core_loss(4, ["C"], noise_correlation=rho, **kw)
        d = noisy.spectra - mean
        d = d[:, 50:-50]
        lag1 = np.mean([np.corrcoef(r[1:], r[:-1])[0, 1] for r in d])
        assert lag1 == pytest.approx(rho, abs=0.08), (rho, lag1, noisy.params["noise_lag1"])
        if rho == 0.0:  # white: noise / sqrt(counts) = sqrt(gain)
            z = d / np.sqrt(np.maximum(mean[:, 50:-50], 1.0))
            assert z.std() == pytest.approx(np.sqrt(5.0), rel=0.1)


def test_gain_spans_below_one_to_tens_and_dark_subtraction_gives_negative_channels():
    b = core_loss(400, ["C", "O"], energy_offset=250, size=512, rng=8, counts=(20.0, 200.0), artefacts=False)
    g = b.params["gain"]
    assert g.min() < 0.5 and g.max() > 20
    assert np.mean((b.spectra < 0).any(axis=1)) > 0.2


def test_spliced_low_loss_gain_step():
    b = core_loss(30, ["C"], energy_offset=100, dispersion=0.5, size=800, amounts=[1.0], rng=9, counts=1e5,
                  artefact_rates=dict(splice=1.0, fill_channels=0, corrupt_end=0, cosmic_ray=0, gain_stripes=0))
    clean = core_loss(30, ["C"], energy_offset=100, dispersion=0.5, size=800, amounts=[1.0], rng=9, counts=1e5,
                      artefacts=False, noise=False)
    es, f = b.params["splice_energy"], b.params["splice_factor"]
    assert np.all(b.params["artefacts"] & ARTEFACT_BITS["splice"]) and np.all((es > 125) & (es < 222))
    assert np.all((np.maximum(f, 1 / f) >= 3) & (np.maximum(f, 1 / f) <= 130))
    for s, c, e_s, fac, g in zip(b.spectra, clean.spectra, es, f, b.params["gain"]):
        below = (b.energy < e_s - 3) & (b.energy > e_s - 15)
        above = (b.energy > e_s + 3) & (b.energy < e_s + 15)
        ratio = (s[below].mean() / c[below].mean()) / (s[above].mean() / c[above].mean())
        assert ratio == pytest.approx(fac, rel=0.15)


def test_fill_channels_cosmic_rays_and_corrupt_ends():
    rates = dict(splice=0, fill_channels=1.0, corrupt_end=0, cosmic_ray=0, gain_stripes=0)
    b = core_loss(40, ["O"], energy_offset=450, size=512, amounts=[1.0], rng=10, artefact_rates=rates, read_noise=2.0)
    for s in b.spectra:
        ends = np.concatenate([s[:2], s[-2:]])
        assert np.any(np.isin(np.round(ends, 4), np.float32([0.0, -1.0, 0.1])))
    rates = dict(splice=0, fill_channels=0, corrupt_end=0, cosmic_ray=1.0, gain_stripes=0)
    kw = dict(energy_offset=450, size=512, amounts=[1.0], rng=10, counts=1e4)
    c = core_loss(40, ["O"], artefact_rates=rates, **kw)
    ref = core_loss(40, ["O"], artefacts=False, noise=False, **kw)
    assert np.all(c.params["artefacts"] & ARTEFACT_BITS["cosmic_ray"])
    assert np.all((c.spectra - ref.spectra).max(1) > 0.15 * ref.spectra.max(1))  # spikes of >= 0.2 x the maximum


def test_dispersion_scale_error_moves_edges_in_proportion():
    for err in (-0.02, 0.0, 0.02):
        b = core_loss(1, ["C"], energy_offset=100, dispersion=0.25, size=1600, amounts=[1.0], fine_structure=False,
                      **{**CLEAN, "dispersion_error": err}, rng=11)
        rise = b.energy[np.argmax(np.diff(b.spectra[0]))]
        assert rise == pytest.approx(100 + (284 - 100) / (1 - err), abs=0.6)


def test_axis_and_jump_ratio_ranges_are_realistic_by_default():
    b = core_loss(2000, ["C", "O"], energy_offset=250, size=64, rng=12)
    sh = b.params["instrument_shift"]
    assert sh.min() < -9 and sh.max() > 11
    assert np.abs(b.params["dispersion_error"]).max() > 0.015
    assert (b.params["jump_ratio"] - 1).min() < 0.035


def test_no_edge_of_a_present_element_in_the_window():
    """Regression (issue 10): Au present but without an edge in 400-656 eV gave 'lam value too large'."""
    for noise in (True, False):
        b = core_loss(2, ["O", "Au"], energy_offset=400, dispersion=0.5, size=512, amounts=[0, 1], noise=noise)
        assert np.all(np.isfinite(b.spectra)) and b.spectra.max() > 0
        assert not b.visible.any()


def test_visibility_is_measured_over_a_fixed_energy_width():
    """The same specimen and dose per eV is equally visible at 0.25 and 1 eV/channel."""
    fr = []
    for disp in (0.25, 1.0):
        b = core_loss(600, ["O", "Fe"], energy_offset=450, dispersion=disp, size=int(512 / disp), amounts=[1.0, 0.1],
                      counts=1000.0 * disp, jump_ratio=0.5, artefacts=False, rng=13)
        fr.append(b.visible[:, 1].mean())
    assert 0.05 < fr[0] < 0.95
    assert fr[0] == pytest.approx(fr[1], abs=0.12)


def test_compound_composition_sampling():
    els = ["B", "C", "N", "O", "F", "Mg", "Al", "Si", "Ca", "Sc", "Ti", "Mn", "Fe", "Co", "Ni", "Cu", "Cd", "Sb", "Ba",
           "La", "Pr"]
    b = core_loss(3000, els, energy_offset=150, dispersion=1.0, size=1024, rng=14)
    pres = b.present
    n = pres.sum(1)
    assert n.min() >= 1 and n.max() <= 8 and 1.5 < n.mean() < 5
    assert 0.55 < pres[:, els.index("O")].mean() < 0.8
    assert pres[:, els.index("C")].mean() > 0.35
    # near-coincident pairs appear together far more often than by chance
    for a, c in (("N", "Sc"), ("Cu", "Pr"), ("Sc", "Cd")):
        pa, pc = pres[:, els.index(a)], pres[:, els.index(c)]
        assert (pa & pc).mean() > 1.5 * pa.mean() * pc.mean()
    sb, o = pres[:, els.index("Sb")], pres[:, els.index("O")]
    assert sb[o].mean() > 1.5 * sb[~o].mean()  # Sb M5 / O K


def test_basic_preset_is_the_earlier_generator():
    b = core_loss(500, ["C", "O", "Fe"], energy_offset=250, size=256, rng=15, realism="basic")
    assert np.all((b.params["gain"] >= 0.8) & (b.params["gain"] <= 1.25))
    assert np.all(b.params["noise_lag1"] == 0) and np.all(b.params["artefacts"] == 0)
    assert np.all(b.params["bonding"] == -1) and np.all(b.params["valence"] == -1)
    assert np.all(b.params["dispersion_error"] == 0) and (b.params["jump_ratio"] - 1).min() >= 0.2
    with pytest.raises(ValueError, match="realism must be one of"):
        core_loss(2, ["C"], realism="magic")


@pytest.mark.parametrize("kw, msg", [
    (dict(noise_correlation=0.99), "noise_correlation"),
    (dict(correlated_fraction=1.5), "correlated_fraction"),
    (dict(elnes_contrast=0.0), "elnes_contrast must be positive"),
    (dict(white_line_strength=-1.0), "white_line_strength must be positive"),
    (dict(visibility_width=0.0), "visibility_width"),
    (dict(artefact_rates={"gremlins": 0.5}), "unknown artefact"),
    (dict(artefact_rates={"splice": 2.0}), "probabilities"),
    (dict(valence={"O": 2}), "no valence-dependent white lines"),
    (dict(valence={"Fe": 2.5}), "integer formal valence"),
    (dict(dispersion_error=0.5), "dispersion_error"),
    (dict(composition="random"), "composition must be"),
])
def test_bad_realism_parameters(kw, msg):
    with pytest.raises(ValueError, match=msg):
        core_loss(2, ["Fe", "O"], energy_offset=500, size=256, **kw)


def _bench_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_sim_vs_real.py"
    spec = importlib.util.spec_from_file_location("bench_sim_vs_real", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_real_dev_spectra_fall_inside_the_simulated_range(shared_data):
    """Coverage property (issue 10): real edge features lie inside the simulator's 5-95 % draw range.

    Measured with ``benchmarks/bench_sim_vs_real.py`` (same background removal for real and simulated
    spectra) on a subset of the development spectra; the full table is in the simulation user guide.
    """
    import logging
    import warnings

    logging.getLogger("hyperspy").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    bench = _bench_module()
    files = ["elements/exspy_pkg__coreloss_spectrum.msa", "elements/exspy_pkg__Cr_L_cl.hspy",
             "elements/hyperspy_pkg__La2NiO4_eels.txt", "elements/exspy-demos__LSMO_STO_linescan.hspy",
             "oxidation/practical_EELS_QEM__intermediate_level__core_loss__Fe.txt",
             "oxidation/practical_EELS_QEM__intermediate_level__core_loss__CrO.txt",
             "oxidation/MnEdgeNet__test_Mn_spectra__Data2_LaMnO3.csv"]
    records, _ = bench.measure(shared_data, n=120, seed=0, files=files, log=lambda *a: None)
    edge = [r for r in records if "p5" in r and r["family"] != "noise"]
    assert len(edge) >= 20
    inside = np.array([r["p5"] <= r["real"] <= r["p95"] for r in edge])
    assert inside.mean() >= 0.85, [(r["file"], r["element"], r["feature"], r["real"], r["p5"], r["p95"])
                                   for r, i in zip(edge, inside) if not i]
    for fam in ("K", "3d L2,3"):
        al = [r["real"] for r in records if r["family"] == fam and r["feature"] == "corr_al"]
        assert al and np.mean(al) >= 0.8, (fam, al)


def test_exelfs_modulates_the_tail_but_not_the_near_edge():
    from hyperspy_eels_ml.simulation.realism import exelfs

    disp = 0.5
    sig = np.ones((200, 1200))
    exelfs(sig, np.arange(200), np.full(200, 100.0), disp, np.random.default_rng(0))
    x = (np.arange(1200) - 100) * disp  # eV above the onset
    assert np.all(sig[:, x < 35] == 1.0)  # ELNES window untouched
    band = (x > 50) & (x < 70)
    amp = np.abs(sig[:, band] - 1).max(1)
    assert 0.015 < np.median(amp) < 0.15 and amp.max() < 0.2  # a few % at 50-70 eV
    far = np.abs(sig[:, (x > 350) & (x < 400)] - 1).max(1)
    assert np.median(far) < 0.5 * np.median(amp)  # damped (1/k, Debye-Waller)
    assert abs(sig[:, x > 50].mean() - 1) < 0.01  # oscillates about the atomic cross section
    assert core_loss(2, ["O"], energy_offset=500, size=256, realism="basic").params["realism"] == "basic"

# Fixed-seed outputs of the generator the shipped models were trained on (computed at commit 7d00742, before
# the speed work): sum, channel-weighted mean and absolute sum of the spectra, packed present / visible bits,
# nansum of the L3:L2 draws, sum of the bonding types and of the artefact flags. Speed work must keep these.
_REPRO_CASES = {
    "realistic 5 el 1 eV": (dict(n=12, elements=["C", "O", "Fe", "Mn", "La"], energy_offset=100.0, dispersion=1.0,
                                 size=3072), 3),
    "realistic 0.1 eV": (dict(n=8, elements=["Mn", "O"], energy_offset=500.0, dispersion=0.1, size=3072), 11),
    "basic": (dict(n=12, elements=["C", "O", "Fe", "Mn", "La"], energy_offset=100.0, dispersion=1.0, size=3072,
                   realism="basic"), 5),
    "noise-free K/L": (dict(n=10, elements=["B", "N", "Ti", "Ca", "Si", "Al", "Mg"], energy_offset=150.0,
                            dispersion=0.5, size=2048, noise=False), 2),
    "artefacts": (dict(n=12, elements=["O", "Fe", "Cu", "Ce", "Sc"], energy_offset=50.0, dispersion=0.3, size=4096,
                       artefact_rates={"splice": 0.5, "fill_channels": 0.5, "corrupt_end": 0.5, "cosmic_ray": 0.5,
                                       "gain_stripes": 0.5}), 9),
    "lanthanides, alpha > beta": (dict(n=10, elements=["Ba", "Gd", "Dy", "Er", "O", "F"], energy_offset=600.0,
                                       dispersion=2.0, size=1024, alpha=(0, 40)), 4),
}
_REPRO_EXPECTED = [
    ('realistic 5 el 1 eV', 123167366.31916733, 8609586.55274559, 123202791.05246821, '946f5499eb7bb6e0', '004000192b481200', 38.6112754188409, -40, 28),
    ('realistic 0.1 eV', 94533738.27211723, 38711406.1195213, 94533769.46286038, 'ffff', 'fffb', 19.55545019555784, -8, 8),
    ('basic', 10765774.13932212, 623562.7678720009, 10777061.264596922, '3fbcfda5f7b7aaf0', '0000102420000010', 0.0, -60, 0),
    ('noise-free K/L', 563741818.4380679, 103109489.29561955, 563741818.4380679, '1022a10893222041e0', '1020a10000022040e0', 7.701794680090359, -48, 0),
    ('artefacts', 152632262.00039974, 16577939.874262705, 152691906.478238, '68b87fbeffa56d80', '00b82bbcc2a12d80', 53.11300498568431, -51, 166),
    ('lanthanides, alpha > beta', 83717672.13676953, 18984538.42544423, 83717868.706729, 'b5a7c684be925670', '8007448488000040', 0.0, -41, 4),
]


@pytest.mark.parametrize("expected", _REPRO_EXPECTED, ids=[e[0] for e in _REPRO_EXPECTED])
def test_fixed_seed_outputs_are_those_the_shipped_models_were_trained_on(expected):
    """The realistic (v1) and basic presets reproduce the training generator exactly (labels) / to 1e-6 (spectra)."""
    name = expected[0]
    kw, seed = _REPRO_CASES[name]
    kw = dict(kw)
    n, elements = kw.pop("n"), kw.pop("elements")
    if "realism" not in kw:
        kw["realism"] = "realistic-v1"
    _assert_checksums(core_loss(n, elements, rng=seed, **kw), expected)


def _assert_checksums(b, expected):
    """Spectra sums (to 1e-6), label bits and parameter sums of a fixed-seed batch equal ``expected[1:]``."""
    s = b.spectra.astype(np.float64)
    got = (float(s.sum()), float((s * np.arange(s.shape[1])).sum() / s.shape[1]), float(np.abs(s).sum()))
    np.testing.assert_allclose(got, expected[1:4], rtol=1e-6)
    assert np.packbits(b.present).tobytes().hex() == expected[4]
    assert np.packbits(b.visible).tobytes().hex() == expected[5]
    assert float(np.nansum(b.params["l3_l2"])) == pytest.approx(expected[6], rel=1e-9)
    assert int(b.params["bonding"].sum()) == expected[7]
    assert int(b.params["artefacts"].sum()) == expected[8]


# Fixed-seed outputs of realistic-v2 (the generator elements_cnn was fine-tuned on) computed at commit 97c6c3d,
# before the v3 speed work: the same cases and checksums as above ("basic" is not repeated)
_REPRO_EXPECTED_V2 = [
    ('realistic 5 el 1 eV', 2543671278.3467274, 167573594.10530636, 2543706653.0458717, '946f5499eb7bb6e0', '004200112b481200', 38.6112754188409, -40, 19),
    ('realistic 0.1 eV', 392413300.27854407, 159213243.61132625, 392413439.920582, 'ffff', 'fffb', 19.55545019555784, -8, 24),
    ('noise-free K/L', 10708835538.50565, 1930964752.1139903, 10708835538.50565, '1022a10893222041e0', '1022a10000022040e0', 7.701794680090359, -48, 0),
    ('artefacts', 33849057227.527176, 4208622993.1003075, 35130603998.48711, '68b87fbeffa56d80', '00b82bbec2a12d80', 53.11300498568431, -51, 255),
    ('lanthanides, alpha > beta', 1271526663.8730392, 292446176.30547285, 1271527604.8165114, 'b5a7c684be925670', '8407448488000040', 0.0, -41, 20),
]


@pytest.mark.parametrize("expected", _REPRO_EXPECTED_V2, ids=[e[0] for e in _REPRO_EXPECTED_V2])
def test_fixed_seed_outputs_of_realistic_v2_are_unchanged(expected):
    """realistic-v2 reproduces its fixed-seed outputs (speed work for v3 must not change v1 or v2)."""
    kw, seed = _REPRO_CASES[expected[0]]
    kw = dict(kw)
    n, elements = kw.pop("n"), kw.pop("elements")
    _assert_checksums(core_loss(n, elements, rng=seed, realism="realistic-v2", **kw), expected)


def _edge_integral_ratio(realism, element, e_l3, strength, valence):
    """50-eV integral of ``element`` L2,3 over that of O K per atom, noise-free, single scattering only."""
    b = core_loss(1, [element, "O"], energy_offset=480.0, dispersion=0.05, size=int(round((e_l3 + 70 - 480) / 0.05)),
                  amounts=[1.0, 1.0], E0=200.0, beta=30.0, alpha=0.0, noise=False, fine_structure=False,
                  exelfs=False, instrument_shift=0.0, dispersion_error=0.0, chemical_shift=0.0, t_lambda=0.03,
                  zlp_fwhm=0.3, jump_ratio=1e4, white_line_strength=strength, valence={element: valence},
                  realism=realism, rng=0)
    e, s = b.energy, b.spectra[0].astype(np.float64)
    on_o = edge_onsets("O")["K"]
    # the O K tail under the L2,3 edge: power law fitted 40-10 eV before the L3 onset, as in quantification
    pre = (e > e_l3 - 40) & (e < e_l3 - 10)
    r, lna = np.polyfit(np.log(e[pre]), np.log(s[pre]), 1)
    tail = np.exp(lna) * e**r
    w_o = (e >= on_o - 2) & (e <= on_o + 50)
    w_l = (e >= e_l3 - 2) & (e <= e_l3 + 50)
    o_k = s[w_o].sum() - np.interp(on_o - 5, e, s) * w_o.sum()
    return (s[w_l] - tail[w_l]).sum() / o_k


def test_v2_l23_edges_follow_the_hydrogenic_cross_section_relative_to_o_k():
    """realistic-v2: Fe L2,3 (continuum + mean-strength white lines) / O K over 50 eV = exspy's hydrogenic ratio."""
    import logging

    from exspy.components import EELSCLEdge

    from hyperspy_eels_ml.simulation.realism import L23_HYDROGENIC_SCALE

    logging.getLogger("exspy").setLevel(logging.ERROR)

    def hydrogenic(name, onset):
        spl = EELSCLEdge(name, GOS="hydrogenic").GOS.integrateq(onset, 30e-3, 200.0)
        x = np.arange(onset, onset + 50.0, 0.05)
        return np.trapezoid(spl(x), x)

    e_l3 = edge_onsets("Fe")["L3"]
    expected = hydrogenic("Fe_L3", e_l3) / hydrogenic("O_K", edge_onsets("O")["K"])
    mean_strength = (1.6 - 0.3) / np.log(1.6 / 0.3)  # mean of the log-uniform white-line strength prior
    v2 = _edge_integral_ratio("realistic-v2", "Fe", e_l3, mean_strength, 3)
    v1 = _edge_integral_ratio("realistic-v1", "Fe", e_l3, mean_strength, 3)
    assert v2 == pytest.approx(expected, rel=0.12)
    assert v1 / v2 == pytest.approx(1 / L23_HYDROGENIC_SCALE["Fe"], rel=0.02)  # v1 stays the xraylib strength
    assert v1 > 1.4 * expected


def test_v2_gain_range_covers_exported_spectra_scalings():
    b = core_loss(400, ["O"], energy_offset=450.0, dispersion=0.5, size=256, realism="realistic-v2", rng=1)
    g = b.params["gain"]
    assert g.min() < 0.3 and g.max() > 200 and np.all((g >= 0.1) & (g <= 1500))
    assert b.params["realism"] == "realistic-v2"
    assert core_loss(2, ["O"], energy_offset=450.0, size=64, rng=1).params["realism"] == "realistic-v3"  # alias
    v1 = core_loss(400, ["O"], energy_offset=450.0, dispersion=0.5, size=256, realism="realistic-v1", rng=1)
    assert np.all((v1.params["gain"] >= 0.3) & (v1.params["gain"] <= 40))
    with pytest.raises(ValueError, match="l23_cross_section"):
        core_loss(2, ["O"], energy_offset=450.0, size=64, l23_cross_section="hartree")


def test_compound_composition_draws_are_those_of_the_training_generator():
    """sample_composition with many near-coincident partners: same draws as at commit 7d00742."""
    import hashlib

    from hyperspy_eels_ml.simulation.realism import sample_composition

    els = ["N", "Sc", "Cd", "O", "C", "Sb", "Cu", "Pr", "Mg", "Dy", "Ga", "Eu", "Co", "Ba", "Ti", "Fe"]
    a = sample_composition(200, els, np.random.default_rng(42), in_window=np.arange(16) % 3 != 0)
    assert hashlib.sha256(np.packbits(a > 0).tobytes()).hexdigest() == (
        "8e964bda00742c6455c61200181cae64214cadca151d8473dfe2990febcf9e1e")
    np.testing.assert_allclose([a.sum(), (a * np.arange(16)).sum()], [331.2606439018359, 1813.5545518772735],
                               rtol=1e-12)


def test_v2_generic_fine_structure_modulates_only_its_own_edge():
    """v1 applied the generic fine structure of the weak Fe L1 (846 eV) to the whole Fe L2,3 continuum under it
    (up to x2.5 over 40 eV, which looks like Ce M5); v2 modulates only the L1 cross section itself."""
    fixed = dict(energy_offset=600.0, dispersion=0.5, size=800, amounts=[1.0, 1.0], E0=200.0, beta=30.0, alpha=0.0,
                 background_exponent=3.0, plasmon_energy=20.0, plasmon_width=6.0, counts=1e4, gain=1.0,
                 white_line_strength=1.0, elnes_contrast=1.0, valence={"Fe": 3}, exelfs=False, **CLEAN)
    e = 600.0 + 0.5 * np.arange(800)
    win = (e > 850) & (e < 884)
    ref = (e > 760) & (e < 800)  # below L1: the L2,3 continuum, normalises each spectrum

    def dev(realism):
        on = core_loss(30, ["Fe", "O"], realism=realism, fine_structure=True, rng=4, **fixed).spectra
        off = core_loss(30, ["Fe", "O"], realism=realism, fine_structure=False, rng=4, **fixed).spectra
        on = on / on[:, ref].mean(1, keepdims=True)
        off = off / off[:, ref].mean(1, keepdims=True)
        return np.abs(on[:, win] / off[:, win] - 1).max(1)

    d1, d2 = dev("realistic-v1"), dev("realistic-v2")
    assert np.median(d1) > 0.2 and d1.max() > 0.5, d1  # v1: the L1 window reshapes the L2,3 continuum
    # v2: only the L1 cross section itself (about a tenth of the signal there) is modulated
    assert np.median(d2) < 0.1 and d2.max() < 0.15, d2
    assert np.median(d1) > 3 * np.median(d2)
    with pytest.raises(ValueError, match="fine_structure_scope"):
        core_loss(2, ["O"], energy_offset=450.0, size=64, fine_structure_scope="all")


# ---------------------------------------------------------------------------------------------
# realistic-v3: faster draws of the same distributions, literature K-edge peak-to-continuum
# ---------------------------------------------------------------------------------------------
def _core_loss_module():
    import sys

    import hyperspy_eels_ml.simulation  # noqa: F401  (the package's core_loss name is the function)

    return sys.modules["hyperspy_eels_ml.simulation.core_loss"]


def test_v3_vectorised_composition_has_the_loop_sampler_distribution():
    """20,000 draws each: element, pair and element-count frequencies and log-amount means of the v3
    (vectorised) compound sampler equal those of the v1/v2 row loop within sampling error."""
    from hyperspy_eels_ml.simulation.realism import sample_composition

    els = ["N", "Sc", "Cd", "O", "C", "Sb", "Cu", "Pr", "Mg", "Dy", "Ga", "Eu", "Co", "Ba", "Ti", "Fe"]
    iw = np.arange(16) % 3 != 0
    n = 20000
    a = sample_composition(n, els, np.random.default_rng(1), in_window=iw) > 0
    amt_b = sample_composition(n, els, np.random.default_rng(2), in_window=iw, method="vectorised")
    b = amt_b > 0
    pa, pb = a.mean(0), b.mean(0)
    assert np.all(np.abs(pa - pb) <= 4.5 * np.sqrt(2 * pa * (1 - pa) / n) + 1e-9), (pa, pb)
    ca, cb = (a.T @ a.astype(float)) / n, (b.T @ b.astype(float)) / n  # pair frequencies
    assert np.all(np.abs(ca - cb) <= 4.5 * np.sqrt(2 * ca * (1 - ca) / n) + 1e-3)
    ha = np.bincount(a.sum(1), minlength=10) / n
    hb = np.bincount(b.sum(1), minlength=10) / n
    assert np.abs(ha - hb).max() < 0.015, (ha, hb)
    amt_a = sample_composition(n, els, np.random.default_rng(1), in_window=iw)
    for j in range(16):
        la, lb = np.log(amt_a[a[:, j], j]), np.log(amt_b[b[:, j], j])
        assert abs(la.mean() - lb.mean()) < 4.5 * np.sqrt(la.var() / la.size + lb.var() / lb.size), els[j]
    # an empty majors pool and a single element still give a non-empty composition
    assert np.all((sample_composition(500, ["O", "C"], np.random.default_rng(3), method="vectorised") > 0).any(1))
    assert np.all(sample_composition(50, ["Fe"], np.random.default_rng(3), method="vectorised") > 0)
    with pytest.raises(ValueError, match="method"):
        sample_composition(5, ["Fe"], np.random.default_rng(0), method="numba")


def test_v3_batched_generic_fine_structure_has_the_loop_distribution():
    C = _core_loss_module()
    n, w = 4000, 80
    stats = []
    for batched in (False, True):
        sig = np.ones((n, 200))
        C._fine_structure_local(sig, np.full(n, 20), np.ones(n, bool), w, 0.5, np.random.default_rng(7),
                                batched=batched)
        seg = sig[:, 20 : 20 + w]
        assert np.allclose(seg.sum(1), w)  # integral preserved
        assert np.all(sig[:, :20] == 1.0) and np.all(sig[:, 20 + w :] == 1.0)
        stats.append((seg.max(1), seg.min(1), seg.argmax(1)))
    for x, y in zip(stats[0], stats[1]):
        assert abs(np.median(x) - np.median(y)) < 0.06 * np.median(x) + 0.5, (np.median(x), np.median(y))
        assert abs(x.mean() - y.mean()) < 4.5 * np.sqrt(x.var() / n + y.var() / n)


def test_v3_profile_gathers_equal_the_strided_reference_and_nearest_is_a_plain_read():
    """Phase-split gathers (every preset) give the same numbers as the strided reads they replace;
    ``nearest`` (v3) is ``profile[i0 + q j]``."""
    C = _core_loss_module()
    rng = np.random.default_rng(0)
    for _ in range(60):
        q, size = int(rng.integers(1, 12)), int(rng.integers(20, 300))
        fs = q * (size - 1) + int(rng.integers(3, 400))
        prof = rng.random(fs)
        hi = fs - 2 - q * (size - 1)
        i0 = rng.integers(0, hi + 1, 7)
        i0[:2] = hi, 0
        w = rng.random((7, 1))
        idx = i0[:, None] + q * np.arange(size)[None, :]
        ref = prof[idx] * (1.0 - w) + prof[idx + 1] * w
        assert np.array_equal(C._lerp_rows(prof, i0, q, size, w), ref)
        assert np.array_equal(C._lerp_rows(prof, i0, q, size, w, nearest=True), prof[idx])


def test_v3_single_precision_paths_match_float64():
    """v3's float32 logarithm / exponentials / sines and the cosine from the sine agree with float64."""
    from unittest import mock

    C = _core_loss_module()
    rng = np.random.default_rng(0)
    n = 64
    args = (0.5, n, rng.uniform(0.3, 2, n), np.exp(rng.uniform(np.log(0.03), np.log(1.5), n)),
            rng.uniform(12, 30, n), rng.uniform(3, 12, n), 4096)
    np.testing.assert_allclose(C.low_loss_kernel(*args, cos_from_sin=True), C.low_loss_kernel(*args),
                               rtol=0, atol=1e-14)
    grid = np.linspace(100.0, 6000.0, 3000)
    e0, beta, alpha = rng.uniform(60, 300, n), rng.uniform(5, 60, n), rng.uniform(0, 30, n)
    np.testing.assert_allclose(C._dipole_factor_rows(grid, e0, beta, alpha, single_precision=True),
                               C._dipole_factor_rows(grid, e0, beta, alpha), rtol=2e-5)
    from hyperspy_eels_ml.simulation.realism import bin_gauss

    x = rng.uniform(-10, 10, (50, 1)) + 0.1 * np.arange(300)[None, :]
    c, f = rng.uniform(-5, 20, (50, 1)), rng.uniform(0.3, 5, (50, 1))
    np.testing.assert_allclose(bin_gauss(x, 0.1, c, f, contiguous=True), bin_gauss(x, 0.1, c, f), rtol=0, atol=1e-12)
    # whole noise-free spectra: the float32 paths on and off (everything else v3)
    kw = dict(energy_offset=100.0, dispersion=1.0, size=3072, noise=False, realism="realistic-v3", rng=5)
    els = ["C", "O", "Fe", "Mn", "La"]
    fast = core_loss(24, els, **kw).spectra.astype(np.float64)
    v3 = dict(C.PRESETS["realistic-v3"], single_precision=False)
    with mock.patch.dict(C.PRESETS, {"realistic-v3": v3}):
        ref = core_loss(24, els, **kw).spectra.astype(np.float64)
    big = ref > 1e-3 * ref.max(1, keepdims=True)
    assert np.abs(fast - ref)[big].max() <= 1e-5 * np.abs(ref)[big].max()
    assert (np.abs(fast - ref) / np.abs(ref))[big].max() < 1e-5


def test_v3_read_noise_and_poisson_statistics():
    """v3 counts: Poisson electrons (mean, variance, fraction of zeros at low counts) plus float32-drawn
    Gaussian read noise of the requested rms."""
    kw = dict(energy_offset=450.0, dispersion=0.5, size=512, noise=True, artefacts=False, noise_correlation=0.0,
              dark_offset=0.0, gain=1.0, counts=3.0, realism="realistic-v3")
    clean = core_loss(400, ["O"], **{**kw, "noise": False}, read_noise=0.0, rng=11).spectra.astype(np.float64)
    pois = core_loss(400, ["O"], **kw, read_noise=0.0, rng=11).spectra.astype(np.float64)
    lo = (clean > 0.3) & (clean < 1.0)  # expected 0.3-1 electrons: zeros are frequent
    assert abs(pois[lo].mean() / clean[lo].mean() - 1) < 0.03
    assert abs(pois[lo].var() / clean[lo].mean() - 1) < 0.08
    assert abs((pois[lo] == 0).mean() / np.exp(-clean[lo]).mean() - 1) < 0.03
    assert np.all(pois == np.round(pois))  # integer electrons at gain 1
    rn = core_loss(400, ["O"], **kw, read_noise=5.0, rng=11).spectra.astype(np.float64) - pois
    assert abs(rn.std() - 5.0) < 0.05 and abs(rn.mean()) < 0.05


def test_v3_profile_shift_is_rounded_to_the_fine_grid_only():
    """The atomic edge of a v3 spectrum sits at the chemical shift rounded to the fine grid (the dispersion
    or a fraction of it <= 0.1 eV; here 0.05 eV); v2 interpolates it exactly."""
    kw = dict(energy_offset=500.0, dispersion=0.05, size=1200, amounts=[1.0], fine_structure=False, exelfs=False,
              noise=False, instrument_shift=0.0, dispersion_error=0.0, t_lambda=0.03, zlp_fwhm=0.1, jump_ratio=50.0)
    shifts = np.array([0.0, 0.03, 0.07, 1.26, -0.84])
    e = 500.0 + 0.05 * np.arange(1200)

    def onset(realism):
        s = core_loss(5, ["O"], chemical_shift=np.repeat(shifts[:, None], 1, 1), realism=realism, rng=0, **kw).spectra
        s = s - s[:, :100].mean(1, keepdims=True)
        return np.array([np.interp(0.5, r[400:700] / r[400:700].max(), e[400:700]) for r in s])

    d3 = onset("realistic-v3") - onset("realistic-v3")[0]
    d2 = onset("realistic-v2") - onset("realistic-v2")[0]
    np.testing.assert_allclose(d2, shifts, atol=0.02)
    np.testing.assert_allclose(d3, np.round(shifts / 0.05) * 0.05, atol=0.02)


def test_v3_k_edge_peak_to_continuum_follows_the_literature_ranges():
    """Per bonding type, the median peak-to-continuum of noise-free thin v3 spectra lies inside the literature
    range of realism.K_PTC_LITERATURE (v2 was above it for most types); the v3 table differs from v2 only in
    the heights of the first-12-eV peaks."""
    from hyperspy_eels_ml.simulation.realism import (K_ELNES, K_ELNES_V3, K_PI_STAR_V3, K_PTC_LITERATURE,
                                                     K_PTC_SCALE_V3, K_SIGMA_STAR_V3)

    for el, types in K_ELNES.items():
        for t2, t3 in zip(types, K_ELNES_V3[el]):
            assert t2[:4] == t3[:4]
            for i, ((p2, f2, a2), (p3, f3, a3)) in enumerate(zip(t2[4], t3[4])):
                s = K_PTC_SCALE_V3[el][t2[0]] if p2[0] < 12 else 1.0
                want = (a2[0] * s, a2[1] * s)
                if i == 0 and (el, t2[0]) in K_PI_STAR_V3:
                    want = K_PI_STAR_V3[(el, t2[0])]
                elif i == 1 and (el, t2[0]) in K_SIGMA_STAR_V3:
                    want = K_SIGMA_STAR_V3[(el, t2[0])]
                assert p2 == p3 and f2 == f3 and a3 == pytest.approx(want)
    bench = _bench_module()
    v3 = bench.k_ptc_per_type(K_PTC_SCALE_V3, n=40, seed=3)
    v2 = bench.k_ptc_per_type({el: {name: 1.0 for name in d} for el, d in K_PTC_LITERATURE.items()}, n=40, seed=3)
    above = 0
    for (el, name), (med, _, _) in v3.items():
        lo, hi = K_PTC_LITERATURE[el][name]
        assert 0.9 * lo <= med <= 1.1 * hi, (el, name, med, lo, hi)
        above += v2[(el, name)][0] > hi
    assert above >= 10  # the v2 heights are above the literature for most types
    b = core_loss(3, ["O"], energy_offset=450.0, size=256, rng=0, realism="realistic-v3")
    assert b.params["realism"] == "realistic-v3"


def test_v3_draws_more_and_stronger_correlated_noise_than_v2():
    """v3 (session 5): lag-1 0-0.95 for two thirds of the spectra (v2: 0-0.9 for half); the issue's survey has
    lag-1 > 0.4 in 38 % of real spectra and up to 0.9, which v2's prior reaches only at its nominal maximum."""
    kw = dict(energy_offset=400, size=64, amounts=[1.0], rng=21, noise=True)
    v2 = core_loss(3000, ["C"], realism="realistic-v2", **kw).params["noise_lag1"]
    v3 = core_loss(3000, ["C"], realism="realistic-v3", **kw).params["noise_lag1"]
    assert np.mean(v2 > 0.4) < 0.26 and v2.max() <= 0.9 + 1e-6  # 22 % (rng 21)
    assert 0.29 < np.mean(v3 > 0.4) < 0.38 and v3.max() > 0.93  # 33 %
    assert np.mean(v3 == 0) == pytest.approx(1 / 3, abs=0.04)


def test_v3_sharp_pi_star_peaks_follow_the_published_pi_sigma_ratios():
    """v3 (session 5): carbonate C K, h-BN B K / N K and BO3 B K pi* heights from their own priors: the median
    pi*/sigma* peak-height ratio of noise-free thin spectra lies in realism.K_PI_SIGMA_LITERATURE and the median
    peak-to-continuum stays in K_PTC_LITERATURE. With the PTC factor scaling pi* (first v3) carbonate, h-BN B and
    BO3 had pi*/sigma* 0.98 / 0.66 / 0.50, below the published 1.3 / 1.2 / 1.0."""
    from hyperspy_eels_ml.simulation.realism import K_PI_SIGMA_LITERATURE, K_PTC_LITERATURE

    bench = _bench_module()
    res = bench.pi_sigma_per_type(n=40, seed=7)
    assert set(res) == set(K_PI_SIGMA_LITERATURE)
    for (el, name), ((ptc, _, _), (ratio, _, _)) in res.items():
        lo, hi = K_PI_SIGMA_LITERATURE[(el, name)]
        assert lo <= ratio <= hi, (el, name, ratio)
        lo, hi = K_PTC_LITERATURE[el][name]
        assert lo <= ptc <= hi, (el, name, ptc)
    old = bench.pi_sigma_per_type(pi_star={("C", "sp2 graphitic/amorphous"): (0.45, 1.1)}, sigma_star={}, n=40,
                                  seed=7)
    assert sum(old[k][1][0] < K_PI_SIGMA_LITERATURE[k][0] for k in old) >= 3


def test_bench_background_window_clears_the_preceding_edges_elnes():
    """bench_sim_vs_real (session 6): an edge's power-law window starts ELNES_CLEARANCE_EV (30 eV) above the
    preceding onset, past that edge's near-edge structure. Synthetic spectrum: power-law background, an O K step
    with the simulator's 3d-oxide peaks (+5 and +18 eV, FWHM 4 and 8 eV: ELNES ends before +30 eV) and a Cr L2,3
    doublet 43 eV above O K (as Cr2O3). With the 15 eV start of sessions 1-5 the window lay on the O K peaks and
    the measured Cr L3/L2 is 21 % low (1.04 for a true 1.32); with 30 eV it is within 5 % (1.34).
    The rule is only as good as its premise: a structure reaching past +30 eV (e.g. a multiple-scattering peak at
    +25 eV, FWHM 10 eV) still biases it (then 0.94 against a true 1.32; the 15 eV window gave 1.13)."""
    bench = _bench_module()
    assert bench.ELNES_CLEARANCE_EV == 30.0
    e = np.arange(420.0, 800.0, 0.25)

    def g(c, w):
        return np.exp(-0.5 * ((e - c) / (w / 2.355)) ** 2)

    def step(c, w=1.0):
        return 0.5 * (1 + np.tanh((e - c) / w))

    bg = 2e4 * (e / 420.0) ** -3.5
    ok = 60.0 * step(532.0) * (e / 532.0) ** -2.5 + 80.0 * g(537.0, 4.0) + 50.0 * g(550.0, 8.0)
    cr = 90.0 * g(577.0, 1.8) + 60.0 * g(586.0, 2.5) + 8.0 * step(576.0) * (e / 576.0) ** -2.0
    truth = bench.edge_features(e, cr[None], 575.0, 584.0, 0.25)["l3l2"][0]
    rows = (bg + ok + cr)[None]
    meas = {}
    for cl in (15.0, 30.0):
        f, _ = bench._edge_pass(e, rows, [(532.0, "O", "K", None), (575.0, "Cr", "3d L2,3", 584.0)], False, 0.25,
                                clearance=cl)
        meas[cl] = f[("Cr", "3d L2,3")]["l3l2"][0]
    assert 1.1 < truth < 1.6  # L3 over L2 + the L3 step under it
    assert abs(meas[30.0] / truth - 1) < 0.05, (truth, meas)
    assert abs(meas[15.0] / truth - 1) > 0.15, (truth, meas)


def test_bench_reports_the_continuum_left_after_the_white_lines():
    """bench_sim_vs_real (session 6) prints, beside each L3/L2, the level 8-11 eV above the L2 onset over the L3
    maximum: about the step height for white lines on a continuum, about 0 when a file's authors removed the
    continuum too (the MnEdgeNet csv files), which is why their L3/L2 is not comparable with simulated lines."""
    bench = _bench_module()
    e = np.arange(630.0, 665.0, 0.1)
    lines = np.exp(-0.5 * ((e - 641.0) / 0.6) ** 2) + 0.3 * np.exp(-0.5 * ((e - 652.0) / 1.5) ** 2)
    step = 0.2 * (e >= 640.5) + 0.1 * (e >= 651.5)
    lev = bench.post_l2_level(e, np.stack([lines + step, lines]), 640.0, 651.0, 0.1)
    l3_max = 0.6 / np.hypot(0.6, 0.5) + 0.2  # L3 line after the 0.5 eV smoothing, on its step
    assert lev[0] == pytest.approx(0.3 / l3_max, rel=0.03)
    assert abs(lev[1]) < 0.01
    assert np.isnan(bench.post_l2_level(e[e < 655], lines[None, e < 655], 640.0, 651.0, 0.1)[0])


def test_speed_paths_give_the_same_numbers():
    """Session 10 speed paths: the low-loss kernel against the direct complex formula, EXELFS through
    row windows (C-contiguous) against the flat-index path (Fortran order; windows past the end included),
    the in-place PSF blur against the returning one, and the opt-in allocator setting."""
    from hyperspy_eels_ml.simulation import realism as R
    from hyperspy_eels_ml.simulation import retain_freed_memory

    C = _core_loss_module()
    rng = np.random.default_rng(1)
    n, size, step = 32, 2048, 0.3
    fw, tl, ep, pw = rng.uniform(0.3, 2, n), np.exp(rng.uniform(np.log(0.03), np.log(1.5), n)), \
        rng.uniform(12, 30, n), rng.uniform(3, 12, n)
    f = np.fft.rfftfreq(size, step)
    z = np.exp(-2 * np.pi * np.outer(pw / 2 + 1j * ep, f))
    direct = np.exp(-2 * (np.pi * np.outer(fw / 2.3548, f)) ** 2) * np.exp(tl[:, None] * (z - 1.0))
    for cfs in (False, True):
        np.testing.assert_allclose(C.low_loss_kernel(step, n, fw, tl, ep, pw, size, cos_from_sin=cfs), direct,
                                   rtol=0, atol=1e-13)
    sig = rng.uniform(0.5, 2.0, (40, 3000))
    rows = np.arange(3, 40, 2)
    ch_on = rng.uniform(0, 2900, rows.size)  # many windows run past the end
    for disp, sp in ((0.1, False), (1.0, True)):
        a, b = sig.copy(), np.asfortranarray(sig)
        R.exelfs(a, rows, ch_on, disp, np.random.default_rng(5), single_precision=sp)
        R.exelfs(b, rows, ch_on, disp, np.random.default_rng(5), single_precision=sp)
        assert np.array_equal(a, b) and not np.array_equal(a, sig)
    x = rng.poisson(50, (12, 500)).astype(float)
    k, _ = R.psf_kernel(rng.uniform(0.1, 0.9, 5))
    sel = np.array([0, 3, 4, 8, 11])
    want = x.copy()
    want[sel] = R.convolve_rows(x[sel], k)
    assert np.array_equal(R.convolve_rows(x, k, rows=sel), want)
    assert isinstance(retain_freed_memory(64), bool)
