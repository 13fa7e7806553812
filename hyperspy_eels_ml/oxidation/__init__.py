"""Oxidation-state classification from white lines (Fe/Mn L2,3) and the O K edge.

* :func:`classify_oxidation` (also ``s.classify_oxidation()``): shipped or
  user models applied per pixel, eager or lazy;
* :class:`OxidationClassifier`: train your own (SVM with grid search and Platt
  probabilities, or a compact CNN), save/load in a safe format;
* :class:`~hyperspy_eels_ml.oxidation.valence.ValenceModel`: end-member fractions and a mean valence with a
  68 % interval from any window holding L3 and L2 (``model="valence"``);
* :func:`available_models`: the shipped models and their held-out accuracy;
* ``python -m hyperspy_eels_ml.oxidation.train --all`` and
  ``python -m hyperspy_eels_ml.oxidation.train_valence --all`` (plus ``--all --oxides``)
  rebuild the shipped models and their model cards.
"""

from .classifier import OxidationClassifier
from .classify import available_models, classify_oxidation
from .result import OxidationResult, OxidationResults
from .preprocess import FeatureSpec
from .valence import ValenceModel

__all__ = ["classify_oxidation", "OxidationClassifier", "OxidationResult", "OxidationResults", "ValenceModel",
           "available_models", "FeatureSpec"]
