"""Zero-loss-peak subtraction with a replica ensemble of neural networks.

Data flow: ``signal`` -> :func:`~hyperspy_eels_ml._shared.validation.validate_eels`
-> training spectra, clusters and replica targets (:func:`fit_zlp`, :mod:`.fit`)
-> batched replica networks (:mod:`.network`) -> per-chunk subtraction
(:meth:`ZLPModel.subtract`, :mod:`.blocks`) -> :class:`ZLPResult` signals; band
gaps with :meth:`ZLPResult.fit_band_gap` (:mod:`.bandgap`) or the
:class:`BandGap` component; bulk plasmon and Kramers-Kronig per replica with
:meth:`ZLPResult.fit_plasmon` and :meth:`ZLPResult.kramers_kronig`, exciton/interband
peaks with :meth:`ZLPResult.fit_peaks` (:mod:`.physics`).
"""

from .bandgap import fit_onset
from .components import BandGap, DrudePlasmon
from .fit import ZLPNotCentredError, fit_zlp
from .model import ZLPModel
from .result import BandGapResult, KramersKronigResult, PeakResult, PlasmonResult, ZLPResult
from .subtract import subtract_zlp_nn

__all__ = ["subtract_zlp_nn", "fit_zlp", "ZLPModel", "ZLPResult", "ZLPNotCentredError", "BandGap",
           "BandGapResult", "PlasmonResult", "PeakResult", "KramersKronigResult", "DrudePlasmon", "fit_onset"]
