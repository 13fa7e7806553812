"""subtract_zlp_nn on an SI with dead pixels (constant spectra, e.g. all zero at the edge of a scan).

Before: with a detector offset, the dark-subtracted dead pixels (no ZLP counts, so t/lambda proxy 0) were picked
as the "thinnest" spectra for the gain-side reference and the call failed with "a vacuum spectrum has no counts in
the zero-loss-peak window" although no vacuum was given; without an offset they biased the dark level and the
alignment check ("the SI looks unaligned"), and their t/lambda quantile raised a numpy RuntimeWarning.
"""

import warnings

import numpy as np
import pytest

import hyperspy_eels_ml  # noqa: F401  (attaches the methods)
from hyperspy_eels_ml import EELSInputError
from hyperspy_eels_ml.simulation import thickness_bands_low_loss_si
from hyperspy_eels_ml.zlp import subtract_zlp_nn

KW = dict(n_replicas=2, max_epochs=60, random_state=0, show_progressbar=False)
DEAD = [(0, 0), (0, 1)]


def _si(offset):
    s, _ = thickness_bands_low_loss_si(shape=(4, 6), seed=11, energy_offset=-5.0, n_channels=1081)
    s.data = s.data + offset
    for ij in DEAD:
        s.data[ij] = 0.0
    return s


@pytest.mark.parametrize("offset", [0.0, 40.0])
def test_dead_pixels_are_left_out_of_the_training_and_said(offset):
    s = _si(offset)
    before = s.data.copy()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        r = subtract_zlp_nn(s, **KW)
    msgs = [str(w.message) for w in rec]
    assert not [w for w in rec if issubclass(w.category, RuntimeWarning)], msgs
    assert not any("looks unaligned" in m for m in msgs), msgs
    dead = [m for m in msgs if "training spectra are constant" in m]
    assert len(dead) == 1 and dead[0].startswith("subtract_zlp_nn: 2 of the 24 training spectra"), msgs
    t = np.asarray(r.thickness.data)
    live = np.ones(t.shape, bool)
    for ij in DEAD:
        live[ij] = False
    assert np.isnan(t[~live]).all() and np.isfinite(t[live]).all() and (t[live] > 0).all()
    assert np.array_equal(s.data, before)


@pytest.mark.parametrize("fill", [0.0, 7.0], ids=["all_zero", "constant_fill"])
def test_dead_pixels_are_flagged_with_a_reason(fill):
    """A dead pixel (constant spectrum) has no t/lambda: NaN with flag bit 16 and its name, never flag 0 (= OK),
    and one warning naming the pixels (before: all-zero pixels got NaN with flag 0)."""
    from hyperspy_eels_ml.zlp.result import FLAG_DEAD, FLAG_NAMES

    s = _si(0.0)
    for ij in DEAD:
        s.data[ij] = fill
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        r = subtract_zlp_nn(s, **KW)
    f = np.asarray(r.flags.data).astype(int)
    t = np.asarray(r.thickness.data)
    for ij in DEAD:
        assert f[ij] & FLAG_DEAD and np.isnan(t[ij]), (ij, f[ij], t[ij])
        assert np.isnan(np.asarray(r.thickness_lower.data)[ij]) and np.isnan(np.asarray(r.thickness_upper.data)[ij])
    live = np.ones(f.shape, bool)
    for ij in DEAD:
        live[ij] = False
    assert not (f[live] & FLAG_DEAD).any() and np.isfinite(t[live]).all()
    assert FLAG_NAMES[FLAG_DEAD].startswith("constant spectrum (dead pixel)")
    bits = r.flags.metadata.hyperspy_eels_ml.bits.as_dictionary()
    assert FLAG_NAMES[FLAG_DEAD] in bits.values()  # the provenance names the bit, as the others
    msgs = [str(w.message) for w in rec if f"(bit {FLAG_DEAD})" in str(w.message)]
    assert len(msgs) == 1 and "2 of 24 pixels" in msgs[0] and "(0, 0)" in msgs[0], msgs


def test_only_dead_pixels_is_a_clear_error():
    s = _si(0.0)
    s.data[:] = 7.0
    with pytest.raises(EELSInputError, match="every spectrum is constant"):
        subtract_zlp_nn(s, **KW)
