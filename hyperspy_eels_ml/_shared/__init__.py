"""Thin layer shared by all capabilities: validation, batched lazy application,
result signals with provenance, the per-process model cache, the result base
class, docstring fragments, parameter validators and quiet imports.

Data flow of every capability::

    signal --validate_eels(navigation_mask=...)--> ValidatedEELS (float array, whole spectra per block, mask)
           --map_spectra(batched model, block_size=...)--> dask/numpy result
           --navigation_map / per_pixel_spectra + record_provenance--> signals
           --> a LazyResult subclass (compute / is_lazy / repr / plot -> Figure)

See ``/docs/dev_guide.rst`` and ``SHARED_API.md`` for the list of names.
"""

from .batch import (
    as_dask,
    canonical_chunks,
    compute,
    map_spectra,
    progress,
    reduce_spectra,
    resolve_show_progressbar,
)
from .cache import clear_cache, file_key, file_sha256, get_cached, get_cached_file
from .docstrings import DOCS, fill_doc
from .exceptions import (
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
from .imports import import_hdbscan, import_keras, import_tensorflow, import_umap, quiet_tensorflow
from .masks import parse_navigation_mask, vacuum_mask_from_data
from .params import check_bool, check_choice, check_float, check_float_range, check_int, check_random_state
from .results import LazyResult
from .signals import navigation_map, per_pixel_spectra, record_provenance, to_eager
from .validation import (
    ValidatedEELS,
    check_energy_range,
    check_finite_block,
    parse_energy_range,
    validate_eels,
)
from .warn import find_stacklevel, warn

__all__ = [
    "as_dask", "canonical_chunks", "compute", "map_spectra", "progress", "reduce_spectra", "resolve_show_progressbar",
    "clear_cache", "file_key", "file_sha256", "get_cached", "get_cached_file",
    "DOCS", "fill_doc",
    "DegenerateDataError", "EELSInputError", "EmptySignalError", "EnergyAxisError", "EnergyRangeError",
    "ModelFileError", "NavigationMaskError", "NonFiniteDataError", "NotEELSSignalError", "ParameterError",
    "import_hdbscan", "import_keras", "import_tensorflow", "import_umap", "quiet_tensorflow",
    "parse_navigation_mask", "vacuum_mask_from_data",
    "check_bool", "check_choice", "check_float", "check_float_range", "check_int", "check_random_state",
    "LazyResult",
    "navigation_map", "per_pixel_spectra", "record_provenance", "to_eager",
    "ValidatedEELS", "check_energy_range", "check_finite_block", "parse_energy_range", "validate_eels",
    "find_stacklevel", "warn",
]
