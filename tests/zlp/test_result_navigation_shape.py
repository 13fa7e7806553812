"""``navigation_shape`` (and the repr) of the ZLP results is the input's navigation shape.

Before: taken from the first result signal, so a single spectrum gave its channel count (ZLPResult
``navigation 2048``) and the maps of fit_band_gap (fit_plasmon, fit_peaks, kramers_kronig alike) ``(1,)`` instead of ``()``.
"""

import numpy as np
import pytest

import hyperspy_eels_ml  # noqa: F401
from hyperspy_eels_ml.simulation import thickness_bands_low_loss_si
from hyperspy_eels_ml.zlp import subtract_zlp_nn

KW = dict(n_replicas=2, max_epochs=40, random_state=0, show_progressbar=False)


@pytest.fixture(scope="module")
def results():
    s, _ = thickness_bands_low_loss_si(shape=(2, 3), seed=4)
    one = s.inav[0, 0]
    return {(): subtract_zlp_nn(one, **KW), (2, 3): subtract_zlp_nn(s, **KW)}


@pytest.mark.parametrize("shape", [(), (2, 3)])
def test_navigation_shape_is_the_inputs(results, shape):
    r = results[shape]
    assert r.navigation_shape == shape
    assert ("single spectrum" in repr(r)) == (shape == ())
    assert r.fit_band_gap(show_progressbar=False).navigation_shape == shape
    assert np.asarray(r.thickness.data).size == int(np.prod(shape))
