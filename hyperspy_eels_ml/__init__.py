"""hyperspy_eels_ml: machine learning for EELS, as a HyperSpy/exspy extension.

``import hyperspy_eels_ml`` attaches the package's methods to
``exspy.signals.EELSSpectrum`` (eager and lazy), e.g. ``s.umap_cluster()``.
Every method is a thin wrapper of the public function of the same name
(``hyperspy_eels_ml.umap_cluster(s, ...)``).

Heavy libraries (TensorFlow, umap-learn, hdbscan) are imported only inside
the functions that need them, and the capabilities' modules on first use
(``s.umap_cluster`` or ``hyperspy_eels_ml.umap_cluster``), so importing the
package costs little more than importing exspy.
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

__all__ = ["__version__", "umap_cluster", "UMAPClusterResult", "classify_oxidation", "OxidationResult",
           "subtract_zlp_nn", "ZLPResult",
           "identify_elements", "ElementsResult",
           "install_methods", "spectrum_from_columns",
           "EELSInputError", "NotEELSSignalError", "EnergyAxisError", "EnergyRangeError", "NonFiniteDataError",
           "EmptySignalError", "NavigationMaskError", "ParameterError", "DegenerateDataError", "ModelFileError"]

#: Public names imported on first use (PEP 562), so that ``import hyperspy_eels_ml`` stays fast.
_LAZY = {
    "umap_cluster": "clustering", "UMAPClusterResult": "clustering",
    "classify_oxidation": "oxidation", "OxidationResult": "oxidation",
    "subtract_zlp_nn": "zlp", "ZLPResult": "zlp",
    "identify_elements": "elements", "ElementsResult": "elements",
    "spectrum_from_columns": "_shared.columns",
}
_SUBMODULES = ("clustering", "oxidation", "zlp", "simulation", "elements")


def __getattr__(name):
    import importlib

    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))


install_methods()
