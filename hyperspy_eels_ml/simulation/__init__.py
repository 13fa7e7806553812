"""Synthetic EELS spectra and spectrum-image phantoms with ground truth.

Every generator is vectorised numpy, seeded, and returns the data together with
the ground truth that produced them.
"""

from .phantoms import PHASES, PhantomTruth, multiphase_core_loss_si

__all__ = ["PHASES", "PhantomTruth", "multiphase_core_loss_si"]
