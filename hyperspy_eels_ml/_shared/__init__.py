"""Thin layer shared by all capabilities: validation, batched lazy application,
result signals with provenance, and the per-process model cache.

Data flow of every capability::

    signal --validate_eels--> ValidatedEELS (float array, whole spectra per block)
           --map_spectra(batched model)--> dask/numpy result
           --navigation_map / per_pixel_spectra + record_provenance--> signal
"""

from .batch import as_dask, compute, map_spectra, progress
from .cache import clear_cache, get_cached
from .signals import navigation_map, per_pixel_spectra, record_provenance, to_eager
from .validation import (
    EELSInputError,
    EmptySignalError,
    EnergyAxisError,
    EnergyRangeError,
    NonFiniteDataError,
    NotEELSSignalError,
    ValidatedEELS,
    check_energy_range,
    check_finite_block,
    validate_eels,
)

__all__ = [
    "as_dask", "compute", "map_spectra", "progress", "clear_cache", "get_cached",
    "navigation_map", "per_pixel_spectra", "record_provenance", "to_eager", "EELSInputError",
    "EmptySignalError", "EnergyAxisError", "EnergyRangeError", "NonFiniteDataError",
    "NotEELSSignalError", "ValidatedEELS", "check_energy_range", "check_finite_block",
    "validate_eels",
]
