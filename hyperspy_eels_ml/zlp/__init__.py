"""Zero-loss-peak subtraction with a replica ensemble of neural networks.

Data flow: ``signal`` -> :func:`~hyperspy_eels_ml._shared.validation.validate_eels`
-> training spectra, clusters and replica targets (:func:`fit_zlp`) -> batched
replica networks (:mod:`.network`) -> per-chunk subtraction
(:meth:`ZLPModel.subtract`) -> :class:`ZLPResult` signals; band gaps with
:meth:`ZLPResult.fit_band_gap` or the :class:`BandGap` component.
"""

from .bandgap import BandGapResult, fit_onset
from .components import BandGap
from .subtract import ZLPModel, ZLPNotCentredError, ZLPResult, fit_zlp, subtract_zlp_nn

__all__ = ["subtract_zlp_nn", "fit_zlp", "ZLPModel", "ZLPResult", "ZLPNotCentredError", "BandGap",
           "BandGapResult", "fit_onset"]
