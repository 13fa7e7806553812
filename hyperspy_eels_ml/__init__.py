"""hyperspy_eels_ml: machine learning for EELS, as a HyperSpy/exspy extension.

``import hyperspy_eels_ml`` attaches the package's methods to
``exspy.signals.EELSSpectrum`` (eager and lazy), e.g. ``s.umap_cluster()``.
Every method is a thin wrapper of the public function of the same name
(``hyperspy_eels_ml.umap_cluster(s, ...)``).

Heavy libraries (TensorFlow, umap-learn, hdbscan) are imported only inside
the functions that need them, so importing the package stays fast.
"""

from ._version import __version__
from ._methods import install_methods
from ._shared.exceptions import (
    DegenerateDataError,
    EELSInputError,
    EmptySignalError,
    EnergyAxisError,
    EnergyRangeError,
    ModelFileError,
    NavigationMaskError,
    NonFiniteDataError,
    NotEELSSignalError,
    ParameterError,
)
from .clustering import UMAPClusterResult, umap_cluster
from .oxidation import OxidationResult, classify_oxidation
from .zlp import ZLPResult, subtract_zlp_nn
from .elements import ElementsResult, identify_elements

__all__ = ["__version__", "umap_cluster", "UMAPClusterResult", "classify_oxidation", "OxidationResult",
           "subtract_zlp_nn", "ZLPResult",
           "identify_elements", "ElementsResult",
           "install_methods",
           "EELSInputError", "NotEELSSignalError", "EnergyAxisError", "EnergyRangeError", "NonFiniteDataError",
           "EmptySignalError", "NavigationMaskError", "ParameterError", "DegenerateDataError", "ModelFileError"]

install_methods()
