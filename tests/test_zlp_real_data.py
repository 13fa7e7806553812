"""subtract_zlp_nn on the WS2 spectra of Roest et al. (2021) from ../shared/data/zlp (skipped if absent)."""

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SHARED_DATA

ZLP_DIR = Path(SHARED_DATA) / "zlp"
pytestmark = pytest.mark.skipif(not any(ZLP_DIR.glob("eelsfitter__*.txt")) if ZLP_DIR.exists() else True,
                                reason="../shared/data/zlp (WS2 spectra) not available")


def _load(vacuum):
    import exspy

    files = sorted(f for f in ZLP_DIR.glob("eelsfitter__*.txt") if ("Vacuum" in f.name) == vacuum)
    d = np.array([np.loadtxt(f) for f in files])
    s = exspy.signals.EELSSpectrum(d)
    ax = s.axes_manager.signal_axes[0]
    # file names: m4d054eV_45d471eV = -4.054 ... 45.471 eV, linear
    ax.name, ax.units, ax.offset, ax.scale = "Energy loss", "eV", -4.054, (45.471 + 4.054) / (d.shape[1] - 1)
    return s


@pytest.fixture(scope="module")
def ws2():
    spec, vac = _load(False), _load(True)
    r = spec.subtract_zlp_nn(vacuum=vac, n_replicas=32, random_state=0, show_progressbar=False)
    return spec, vac, r


def test_ws2_band_gap_in_published_interval(ws2):
    _, _, r = ws2
    g = r.fit_band_gap((1.0, 3.0), show_progressbar=False)
    eg = np.asarray(g.Eg.data)
    # Roest et al. 2021: Eg = 1.6 (+0.3 -0.2) eV
    assert 1.4 <= np.median(eg) <= 1.9, eg
    assert np.all((g.Eg_lower.data <= eg) & (eg <= g.Eg_upper.data))


def test_ws2_vacuum_is_zlp_only(ws2):
    _, vac, r = ws2
    # applied to the (pure-ZLP) vacuum spectra, the inelastic band includes 0 below 5 eV
    rv = r.model.subtract(vac, show_progressbar=False)
    e = vac.axes_manager.signal_axes[0].axis
    w = (e > 0.5) & (e < 5)
    inside = (rv.inelastic_lower.data[:, w] <= 0) & (0 <= rv.inelastic_upper.data[:, w])
    # the three vacuum ZLPs differ by ~15 % in their tails: the band must include that scatter
    assert inside.mean() > 0.6, inside.mean()
    assert np.all(np.abs(rv.thickness.data) < 0.02)


def test_ws2_replicas_and_regions(ws2):
    _, _, r = ws2
    rep = r.replica_report
    assert rep["kept"] >= 0.8 * rep["trained"]
    cl = r.model.clusters
    assert cl["vacuum"].sum() == 1
    # dE1 of the specimen lies between the ZLP and the inelastic onset
    assert np.all((cl["dE1"][~cl["vacuum"]] > 0.5) & (cl["dE1"][~cl["vacuum"]] < 2.5))
