"""Fixtures shared by the ZLP tests."""

import warnings

import pytest


@pytest.fixture(scope="module")
def captured():
    """The TrainingData and keyword arguments fit_zlp hands to train_replicas (4 replicas, 3 spectra)."""
    import hyperspy_eels_ml.zlp.fit as zfit
    from hyperspy_eels_ml.simulation import thickness_bands_low_loss_si
    from hyperspy_eels_ml.zlp import fit_zlp

    s, _ = thickness_bands_low_loss_si(shape=(3,), seed=5)
    got = {}
    orig = zfit.train_replicas

    def grab(data, **kw):
        got.setdefault("call", (data, kw))
        return orig(data, **kw)

    zfit.train_replicas = grab
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit_zlp(s, n_replicas=4, max_epochs=50, random_state=0, show_progressbar=False)
    finally:
        zfit.train_replicas = orig
    return got["call"]
