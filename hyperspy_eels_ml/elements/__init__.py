"""Element identification in core-loss EELS: ``s.identify_elements()``.

* :func:`identify_elements`: calibrated per-element probabilities (80 labels
  Be-Bi) for spectra, line scans and SIs, eager or lazy, with the physics
  evidence behind every call (:meth:`ElementsResult.explain`);
* :mod:`~hyperspy_eels_ml.elements.evidence`: the power-law fit + jump test at
  tabulated onsets (also the classical baseline of the benchmark);
* :mod:`~hyperspy_eels_ml.elements.coincidence`: calls whose every edge is explained
  by a better-supported element (flagged; removed with ``resolve_coincidences=True`` when the
  partner is clearly better supported);
* ``python -m hyperspy_eels_ml.elements.train``: rebuilds the shipped network
  and its model card.
"""

from .identify import FLAGS, ElementsResult, Explanation, identify_elements
from .preprocess import LABELS

__all__ = ["identify_elements", "ElementsResult", "Explanation", "LABELS", "FLAGS"]
