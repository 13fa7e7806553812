"""subtract_zlp_nn on real low-loss spectra of $HYPERSPY_EELS_ML_DATA/zlp (skipped when absent).

WS2 Specimen_4 of Roest et al. (2021): 6 specimen and 3 vacuum spectra at 25 meV/ch;
published band gap 1.6 (+0.3 -0.2) eV. MoS2 nanoflower at 5 meV/ch on a short
range (-1 to 9 eV). These check transfer; nothing in the method is tuned to them.
"""

import re
import warnings

import numpy as np
import pytest


def _eels(d, offset, scale):
    import exspy

    s = exspy.signals.EELSSpectrum(np.asarray(d, float))
    ax = s.axes_manager.signal_axes[0]
    ax.name, ax.units, ax.offset, ax.scale = "Energy loss", "eV", offset, scale
    return s


def _ws2(zdir, vacuum):
    files = sorted(f for f in zdir.glob("eelsfitter__*.txt") if ("Vacuum" in f.name) == vacuum)
    if not files:
        pytest.skip("WS2 spectra (eelsfitter__*.txt) not in the data folder")
    d = np.array([np.loadtxt(f) for f in files])
    # file names: m4d054eV_45d471eV = -4.054 ... 45.471 eV, linear
    return _eels(d, -4.054, (45.471 + 4.054) / (d.shape[1] - 1))


@pytest.fixture(scope="module")
def ws2(shared_data):
    spec, vac = _ws2(shared_data / "zlp", False), _ws2(shared_data / "zlp", True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = spec.subtract_zlp_nn(vacuum=vac, n_replicas=24, random_state=0, show_progressbar=False)
    return spec, vac, r


def test_ws2_band_gap_in_published_interval(ws2):
    _, _, r = ws2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = r.fit_band_gap((1.0, 3.0), show_progressbar=False)
    eg = np.asarray(g.Eg.data, float)
    # Roest et al. 2021: Eg = 1.6 (+0.3 -0.2) eV; NaN (unresolved) pixels are allowed but not a majority
    assert np.isfinite(eg).sum() >= 4, eg
    # the published interval and the pixel median of ours overlap (24 replicas: the median moves by ~0.2 eV
    # with the seed, 1.72-1.96 over seeds 0-3), and the median is no more than 0.3 eV from the published one
    lo, hi = np.nanmedian(g.Eg_lower.data), np.nanmedian(g.Eg_upper.data)
    assert lo <= 1.9 and hi >= 1.4, (lo, hi, eg)
    assert 1.3 <= np.nanmedian(eg) <= 2.0, eg
    ok = np.isfinite(eg)
    assert np.all((g.Eg_lower.data[ok] <= eg[ok]) & (eg[ok] <= g.Eg_upper.data[ok]))
    assert np.all(np.isfinite(g.chi2.data))


def test_ws2_fitted_zlp_tail_follows_the_vacuum(ws2):
    spec, vac, r = ws2
    e = spec.axes_manager.signal_axes[0].axis
    # issue 12: the ZLP fell to ~0 by 1.5 eV while the vacuum was still at 500-1000 counts
    core = (e > -0.3) & (e < 0.3)
    for lo, hi in ((1.0, 1.5), (1.5, 2.0)):
        m = (e >= lo) & (e < hi)
        vac_norm = vac.data[:, m].sum() / vac.data[:, core].sum()
        zlp_norm = r.zlp.data[:, m].sum() / spec.data[:, core].sum()
        assert 0.5 < zlp_norm / vac_norm < 1.5, (lo, zlp_norm / vac_norm)


def test_ws2_vacuum_is_zlp_only(ws2):
    _, vac, r = ws2
    rv = r.model.subtract(vac, show_progressbar=False)
    e = vac.axes_manager.signal_axes[0].axis
    w = (e > 0.5) & (e < 5)
    inside = (rv.inelastic_lower.data[:, w] <= 0) & (0 <= rv.inelastic_upper.data[:, w])
    # the three vacuum ZLPs differ by ~15 % in their tails: the band must include that scatter. The nominal
    # 68 % band holds 0 at 0.646-0.670 of the channels for random_state 1-5 and at 0.577 for 0 (one vacuum
    # spectrum at 0.44) on the 2026-12-03 machine; 0.63-0.79 on earlier machines (TensorFlow's CPU kernels
    # differ): the floor allows that spread, it is not the 0.68 target
    assert inside.mean() > 0.55, inside.mean()
    assert np.all(np.abs(rv.thickness.data) < 0.03)


def test_ws2_replicas_regions_and_flags(ws2):
    spec, _, r = ws2
    rep = r.replica_report
    assert rep["kept"] >= 0.8 * rep["trained"]
    d = r.model.diagnostics
    # every kept replica meets its constraints: penalties well below the data term (a replica whose tail
    # stalled away from the vacuum prior had a penalty of ~200 against a chi^2 of ~13)
    assert np.all(d["penalty"] < d["train_chi2"]), (d["penalty"], d["train_chi2"])
    cl = r.model.clusters
    assert cl["vacuum"].sum() == 1
    # dE1 of the specimen lies between the ZLP and the inelastic onset (found from the vacuum departure)
    assert np.all((cl["dE1"][~cl["vacuum"]] > 0.5) & (cl["dE1"][~cl["vacuum"]] < 2.5))
    assert np.all(np.asarray(r.thickness.data) > 0)
    assert not np.any(np.asarray(r.flags.data) & 3)
    fig = r.model.plot_regions()
    assert fig.axes[0].get_xlabel().startswith("Energy loss")


def _cbl(path):
    d = np.loadtxt(path)
    m = re.search(r"_m([0-9d]+)eV[-_]([0-9dp]+)eV", path.name)
    lo, hi = -float(m.group(1).replace("d", ".")), float(m.group(2).replace("d", ".").replace("p", "."))
    return _eels(d, lo + 0.5 * (hi - lo) / d.size, (hi - lo) / d.size)


def test_mos2_short_range_fine_dispersion(shared_data):
    files = sorted((shared_data / "zlp").glob("CBL-ML__Data__May__MoS2*.txt"))
    if not files:
        pytest.skip("MoS2 spectrum not in the data folder")
    s = _cbl(files[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s.align_zero_loss_peak(subpixel=True, show_progressbar=False, print_stats=False)  # maximum at -0.2 eV
        r = s.subtract_zlp_nn(n_replicas=16, random_state=0, show_progressbar=False)
    t = float(np.asarray(r.thickness.data).ravel()[0])
    assert 0 < t < 3, t
    e = s.axes_manager.signal_axes[0].axis
    m = (e > 3) & (e < 8)
    # beyond the onset the ZLP is a small part of the signal and never above it
    assert np.all(r.zlp.data[m] <= s.data[m] + 3 * np.sqrt(np.clip(s.data[m], 1, None)))


def test_ws2_plasmon_per_replica(ws2):
    """fit_plasmon on the WS2 spectra: a resolved bulk plasmon in every spectrum, near the raw maximum."""
    from hyperspy_eels_ml.zlp.features import smooth

    spec, _, r = ws2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = r.fit_plasmon(show_progressbar=False)
    ep, lo, hi = (np.asarray(x.data, float) for x in (p.Ep, p.Ep_lower, p.Ep_upper))
    assert ep.shape == (6,) and np.all(np.asarray(p.reason.data) == 0), p.reason.data
    assert np.all((lo <= ep) & (ep <= hi))
    e = spec.axes_manager.signal_axes[0].axis
    sel = e >= p.energy_range[0]
    raw_max = np.array([e[sel][np.argmax(smooth(x, 41)[sel])] for x in np.asarray(spec.data, float)])
    # a Drude peak lies near the maximum of the spectrum (Gamma << Ep); the fit window holds it
    assert np.all(np.abs(ep - raw_max) < 2.0), (ep, raw_max)
    assert np.all((ep > p.energy_range[0]) & (ep < p.energy_range[1]))
