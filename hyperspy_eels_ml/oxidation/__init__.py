"""Oxidation-state classification from white lines (Fe/Mn L2,3) and the O K edge.

* :func:`classify_oxidation` (also ``s.classify_oxidation()``): shipped or
  user models applied per pixel, eager or lazy;
* :class:`OxidationClassifier`: train your own (SVM with grid search and Platt
  probabilities, or a compact CNN), save/load in a safe format;
* :func:`available_models`: the shipped models and their held-out accuracy;
* ``python -m hyperspy_eels_ml.oxidation.train --all`` rebuilds the shipped
  models and their model cards.
"""

from .classifier import OxidationClassifier
from .classify import OxidationResult, available_models, classify_oxidation
from .preprocess import FeatureSpec

__all__ = ["classify_oxidation", "OxidationClassifier", "OxidationResult", "available_models", "FeatureSpec"]
