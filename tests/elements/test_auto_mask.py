"""identify_elements' default navigation_mask="auto": vacuum pixels of SIs and line scans are masked, never classified."""

import json
import warnings

import numpy as np
import pytest

import hyperspy_eels_ml as hem
from hyperspy_eels_ml.elements import LABELS, identify_elements

from .test_identify import _sim_signal


def _si_with_vacuum(shape=(6, 6), rows=2, seed=11):
    """A simulated O/Fe SI whose first ``rows`` rows are vacuum (flat Poisson noise, ~0.5 counts/channel)."""
    s = _sim_signal(("O", "Fe"), shape=shape, seed=seed)
    vac = np.zeros(shape, bool)
    vac[:rows] = True
    s.data[vac] = np.random.default_rng(seed).poisson(0.5, size=s.data[vac].shape).astype(s.data.dtype)
    return s, vac


def _quiet(f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        return f(*a, **k)


def test_default_masks_the_vacuum_region_of_an_si_and_records_it():
    s, vac = _si_with_vacuum()
    before, meta = s.data.copy(), s.metadata.as_dictionary()
    r = _quiet(identify_elements, s, show_progressbar=False)  # masking itself is UserWarning-free
    p, present, ass = (np.asarray(x.data) for x in (r.probabilities, r.present, r.assessable))
    assert np.isnan(p[vac]).all() and not present[vac].any() and not ass[vac].any()
    assert np.isfinite(p[~vac][:, LABELS.index("O")]).all()
    assert r.parameters["navigation_mask"] == "auto"
    assert r.parameters["n_masked"] == vac.sum() and r.parameters["n_pixels"] == vac.size
    assert "95th percentile" in r.parameters["mask_rule"]
    stored = r.probabilities.metadata.get_item("hyperspy_eels_ml.parameters")
    stored = json.loads(stored) if isinstance(stored, str) else stored
    assert stored["n_masked"] == vac.sum() and stored["navigation_mask"] == "auto"
    # the same as the explicit mask of the true vacuum
    ref = identify_elements(s, navigation_mask=vac, show_progressbar=False)
    np.testing.assert_array_equal(np.nan_to_num(p, nan=-1), np.nan_to_num(np.asarray(ref.probabilities.data), nan=-1))
    assert r.elements == ref.elements
    assert {"O", "Fe"} <= set(r.elements)
    np.testing.assert_array_equal(s.data, before)  # nothing mutated
    assert s.metadata.as_dictionary() == meta


def test_none_analyses_every_pixel_including_vacuum():
    s, vac = _si_with_vacuum()
    r = identify_elements(s, navigation_mask=None, show_progressbar=False)
    assert r.parameters["navigation_mask"] is None and r.parameters["n_masked"] == 0
    assert np.isfinite(np.asarray(r.window)[vac]).all()  # analysed: a usable window in the vacuum pixels
    auto = identify_elements(s, show_progressbar=False)
    assert np.isnan(np.asarray(auto.window)[vac]).all()


def test_lazy_default_stays_lazy_and_equals_eager():
    s, vac = _si_with_vacuum()
    r = identify_elements(s, show_progressbar=False)
    sl = s.as_lazy()
    sl.data = sl.data.rechunk((2, 3, -1))
    rl = _quiet(identify_elements, sl, show_progressbar=False)
    assert rl.is_lazy and rl.probabilities._lazy
    assert rl.parameters["n_masked"] == vac.sum()
    rl.compute()
    np.testing.assert_allclose(np.nan_to_num(rl.probabilities.data, nan=-1),
                               np.nan_to_num(r.probabilities.data, nan=-1), atol=1e-6)
    assert rl.elements == r.elements
    # the sum spectrum of the SI rule is the sum of the unmasked pixels (eager and lazy)
    ref = np.asarray(s.data, np.float64)[~vac].sum(axis=0)
    np.testing.assert_allclose(r.sum_spectrum, ref, rtol=1e-9)
    np.testing.assert_allclose(np.asarray(rl.sum_spectrum), ref, rtol=1e-9)


def test_lazy_default_under_distributed_equals_local():
    distributed = pytest.importorskip("distributed")
    s, vac = _si_with_vacuum(shape=(3, 4), rows=1)
    s = s.as_lazy()
    local = identify_elements(s, show_progressbar=False).compute()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster):
        dist = identify_elements(s, show_progressbar=False).compute()
    assert dist.parameters["n_masked"] == vac.sum() == local.parameters["n_masked"]
    np.testing.assert_allclose(np.nan_to_num(dist.probabilities.data, nan=-1),
                               np.nan_to_num(local.probabilities.data, nan=-1), atol=1e-6)


def test_single_spectrum_is_never_masked():
    s = _sim_signal(("O", "Fe"), seed=12)
    s.data[:] = np.random.default_rng(0).poisson(0.5, size=s.data.shape)  # even a vacuum-like spectrum
    r = identify_elements(s, show_progressbar=False)
    assert r.parameters["navigation_mask"] == "none" and r.parameters["n_masked"] == 0
    assert np.isfinite(r.window).all()
    s1 = _sim_signal(("O", "Fe"), shape=(1,), seed=12)  # one navigation pixel: a single spectrum too
    r1 = identify_elements(s1, show_progressbar=False)
    assert r1.parameters["navigation_mask"] == "none"
    np.testing.assert_array_equal(np.asarray(r1.probabilities.data),
                                  np.asarray(identify_elements(s1, navigation_mask=None,
                                                               show_progressbar=False).probabilities.data))


def test_specimen_only_si_masks_nothing_and_equals_none():
    s = _sim_signal(("O", "Fe"), shape=(3, 4), seed=13)
    r = identify_elements(s, show_progressbar=False)
    assert r.parameters["n_masked"] == 0
    r0 = identify_elements(s, navigation_mask=None, show_progressbar=False)
    np.testing.assert_array_equal(np.asarray(r.probabilities.data), np.asarray(r0.probabilities.data))


def test_warns_when_most_pixels_are_vacuum():
    s, vac = _si_with_vacuum(shape=(6, 6), rows=4)  # 24 of 36 pixels vacuum
    # a flat-noise pixel passes the 3-sigma flatness test with ~0.3 % chance of failing it (then kept):
    # here one of the 24 (head/tail 0.40 vs 0.58 counts, 3.05 sigma)
    with pytest.warns(UserWarning, match=r"2[2-4] of 36 pixels .* navigation_mask=None"):
        r = identify_elements(s, show_progressbar=False)
    assert 22 <= r.parameters["n_masked"] <= 24
    assert np.isfinite(np.asarray(r.probabilities.data)[~vac][:, LABELS.index("O")]).all()  # specimen kept
    _quiet(identify_elements, s, navigation_mask=None, show_progressbar=False)
    _quiet(identify_elements, s, navigation_mask="vacuum", show_progressbar=False)  # explicit: no warning


def test_nonfinite_pixels_are_not_vacuum_and_still_raise():
    s, vac = _si_with_vacuum()
    s.data[0, 0] = np.nan  # an all-NaN pixel in the vacuum region is not silently masked
    with pytest.raises(hem.NonFiniteDataError):
        identify_elements(s, show_progressbar=False)
    s, vac = _si_with_vacuum()
    s.data[3, 3, 10] = np.inf  # inf does not move the threshold
    with pytest.raises(hem.NonFiniteDataError):
        identify_elements(s, show_progressbar=False)
    m = vac.copy()
    m[3, 3] = True
    r = identify_elements(s, navigation_mask=m, show_progressbar=False)
    assert r.parameters["navigation_mask"] == "user" and r.parameters["n_masked"] == m.sum()


def test_unknown_string_is_a_mask_error():
    s, _ = _si_with_vacuum()
    with pytest.raises(hem.NavigationMaskError, match="'auto'"):
        identify_elements(s, navigation_mask="vac")


def _si_with_thin_and_dark(seed=5):
    """O/Fe SI: pixel (0, 0) is a thin specimen (counts / 30 and / 100, still a decaying background with
    edges, Poisson), pixel (0, 1) flat Poisson noise at a dark level of 2 counts/channel, pixel (0, 2) all
    zeros (dark-subtracted vacuum), pixel (0, 3) a constant 1.5."""
    s = _sim_signal(("O", "Fe"), shape=(4, 5), seed=seed)
    rng = np.random.default_rng(seed)
    s.data[0, 0] = rng.poisson(s.data[0, 0] / 30.0)
    s.data[1, 0] = rng.poisson(s.data[1, 0] / 100.0)
    s.data[0, 1] = rng.poisson(2.0, size=s.data.shape[-1])
    s.data[0, 2] = 0.0
    s.data[0, 3] = 1.5
    return s


def test_auto_keeps_a_low_count_thin_specimen_pixel_and_masks_flat_vacuum():
    s = _si_with_thin_and_dark()
    totals = s.data.sum(-1)
    thr = 0.1 * np.percentile(totals, 95)
    assert totals[0, 0] < thr and totals[1, 0] < thr  # both below the relative threshold ...
    r = identify_elements(s, show_progressbar=False)
    p = np.asarray(r.probabilities.data)
    o = LABELS.index("O")
    assert np.isfinite(p[0, 0, o]) and np.isfinite(p[1, 0, o])  # ... but not vacuum: analysed
    assert np.isnan(p[0, 1:4]).all()  # flat noise at dark level, zeros, constant: vacuum
    assert r.parameters["n_masked"] == 3
    assert "flat spectrum" in r.parameters["mask_rule"]


def test_vacuum_string_is_still_the_relative_total_rule():
    s = _si_with_thin_and_dark()
    r = identify_elements(s, navigation_mask="vacuum", show_progressbar=False)
    p = np.asarray(r.probabilities.data)
    expected = s.data.sum(-1) < 0.1 * np.percentile(s.data.sum(-1), 95)
    assert expected[0, 0] and expected[1, 0]
    np.testing.assert_array_equal(np.isnan(p).all(-1), expected)  # the thin pixels are masked by "vacuum"
    assert r.parameters["n_masked"] == expected.sum()


def test_flat_spectra_lazy_equals_eager_and_flags():
    import dask.array as da

    from hyperspy_eels_ml._shared.masks import auto_vacuum_mask_from_data, flat_spectra

    s = _si_with_thin_and_dark()
    x = s.data.astype(float)
    t, f = flat_spectra(x)
    tl, fl = flat_spectra(da.from_array(x, chunks=(2, 2, 250)))  # signal axis split: rechunked
    np.testing.assert_allclose(t, tl)
    np.testing.assert_array_equal(f, fl)
    assert f[0, 1:4].all() and not f[0, 0] and not f[1, 0] and not f[2:].any()
    np.testing.assert_array_equal(auto_vacuum_mask_from_data(x), auto_vacuum_mask_from_data(da.from_array(x)))
    y = x.copy()
    y[0, 1, 3] = np.nan
    assert not flat_spectra(y)[1][0, 1] and not auto_vacuum_mask_from_data(y)[0, 1]
