"""Synthetic EELS spectra and spectrum-image phantoms with ground truth.

Every generator is vectorised numpy, seeded, and returns the data together with
the ground truth that produced them.
"""

from ._memory import retain_freed_memory
from .core_loss import CoreLossBatch, core_loss
from .edges import edge_cross_section, edge_onsets, edge_table, element_cross_section
from .low_loss import LowLossBatch, low_loss, zero_loss_peak
from .oxidation import OxidationBatch, species_names, white_line_parameters, white_line_spectra
from .phantoms import (
    PHASES,
    FerriteTruth,
    LowLossPhantomTruth,
    NanocubeTruth,
    PhantomTruth,
    SuperlatticeTruth,
    ferrite_core_shell_si,
    multiphase_core_loss_si,
    nanocube_core_shell_si,
    superlattice_core_loss_si,
    thickness_bands_low_loss_si,
    ws2_flake_low_loss_si,
)

__all__ = ["PHASES", "PhantomTruth", "thickness_bands_low_loss_si", "multiphase_core_loss_si", "core_loss", "CoreLossBatch",
           "edge_cross_section", "element_cross_section", "edge_onsets", "edge_table", "low_loss",
           "LowLossBatch", "zero_loss_peak", "white_line_spectra", "OxidationBatch", "species_names",
           "white_line_parameters", "ws2_flake_low_loss_si", "LowLossPhantomTruth", "superlattice_core_loss_si",
           "SuperlatticeTruth", "nanocube_core_shell_si", "NanocubeTruth",
           "ferrite_core_shell_si", "FerriteTruth", "retain_freed_memory"]
