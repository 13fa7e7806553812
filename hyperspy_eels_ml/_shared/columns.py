"""Two-column spectra (energy, intensity), as references are published and shared, to an EELS signal.

Digitised literature spectra and many exported references are not evenly spaced: their energy column
has uneven steps and repeated values. Placing their intensities on a uniform axis built from the first
energy and the mean step moves channels by eV (the MnEdgeNet test files: up to 1.0-3.4 eV), which no
model can undo. :func:`spectrum_from_columns` keeps every value at its recorded energy: evenly spaced
columns give a uniform axis directly; uneven ones are resampled onto a uniform grid with HyperSpy's
``interpolate_on_axis`` (linear), with a warning and the numbers in ``metadata``.
"""

from __future__ import annotations

import numpy as np

from .warn import warn

__all__ = ["spectrum_from_columns", "UNIFORM_TOLERANCE"]

#: largest distance of a recorded energy from the straight line through the first and last energy, in units
#: of the step, for the column to count as evenly spaced (rounding of the exported values)
UNIFORM_TOLERANCE = 0.05


def spectrum_from_columns(energy, intensity, *, title=None, signal_type="EELS"):
    """An EELS spectrum from an energy column (eV) and an intensity column.

    Parameters
    ----------
    energy, intensity : array-like, 1-D, same length
        Energy loss in eV (any order; sorted here) and the intensity at each energy.
    title : str, optional
        ``metadata.General.title``.
    signal_type : str
        HyperSpy signal type (``"EELS"``: an ``exspy.signals.EELSSpectrum``).

    Returns
    -------
    exspy.signals.EELSSpectrum
        On a uniform eV axis. When the recorded energies are evenly spaced (within
        :data:`UNIFORM_TOLERANCE` of a step) the values are kept as they are. Otherwise repeated
        energies are averaged and the spectrum is resampled (linearly, HyperSpy's
        ``interpolate_on_axis``) onto a uniform grid from the first to the last energy at the median
        step; a ``UserWarning`` says so and ``metadata.hyperspy_eels_ml.spectrum_from_columns`` records
        the largest distance a channel would have moved on a uniform axis, the step and the number of
        repeated energies.

    Raises
    ------
    ValueError
        Columns that are not 1-D, differ in length, hold fewer than 2 distinct energies, or hold NaN/inf
        energies.
    """
    import hyperspy.api as hs
    from hyperspy.axes import UniformDataAxis

    e = np.asarray(energy, dtype=np.float64)
    y = np.asarray(intensity, dtype=np.float64)
    if e.ndim != 1 or y.ndim != 1 or e.shape != y.shape:
        raise ValueError(f"energy and intensity must be 1-D columns of the same length, got shapes {e.shape} "
                         f"and {y.shape}.")
    if not np.isfinite(e).all():
        raise ValueError(f"The energy column holds {int((~np.isfinite(e)).sum())} NaN/inf values.")
    order = np.argsort(e, kind="stable")
    e, y = e[order], y[order]
    u, inverse, counts = np.unique(e, return_inverse=True, return_counts=True)
    if u.size < 2:
        raise ValueError("The energy column holds fewer than 2 distinct energies.")
    n_repeated = int(e.size - u.size)
    yu = np.bincount(inverse, weights=y) / counts if n_repeated else y
    line = u[0] + (u[-1] - u[0]) * np.arange(u.size) / (u.size - 1)
    step_line = (u[-1] - u[0]) / (u.size - 1)
    deviation = float(np.max(np.abs(u - line)))
    info = dict(n_values=int(e.size), n_repeated_energies=n_repeated)
    if n_repeated == 0 and deviation <= UNIFORM_TOLERANCE * step_line:
        s = hs.signals.Signal1D(yu)
        ax = s.axes_manager.signal_axes[0]
        ax.offset, ax.scale = float(u[0]), float(step_line)
        info.update(resampled=False, step_eV=float(step_line))
    else:
        step = float(np.median(np.diff(u)))
        size = int(np.floor((u[-1] - u[0]) / step + 1e-9)) + 1
        placed = float(np.max(np.abs(e - (e[0] + np.mean(np.diff(e)) * np.arange(e.size)))))
        s = hs.signals.Signal1D(yu, axes=[dict(axis=u, name="Energy loss", units="eV", navigate=False)])
        s = s.interpolate_on_axis(UniformDataAxis(offset=float(u[0]), scale=step, size=size, units="eV",
                                                  name="Energy loss"), axis=0, inplace=False)
        info.update(resampled=True, step_eV=step, max_shift_if_placed_uniformly_eV=placed,
                    max_deviation_from_uniform_eV=deviation)
        warn(f"spectrum_from_columns: the energy column is not evenly spaced (steps "
                      f"{np.min(np.diff(u)):.4g}-{np.max(np.diff(u)):.4g} eV, {n_repeated} repeated energies "
                      f"averaged); resampled linearly onto a uniform {step:.4g} eV grid ({size} channels). "
                      f"Placed on a uniform axis as recorded, values would sit up to {placed:.3g} eV from their "
                      "energies.")
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.name = "eV", "Energy loss"
    s.set_signal_type(signal_type)
    if title:
        s.metadata.General.title = title
    s.metadata.set_item("hyperspy_eels_ml.spectrum_from_columns", info)
    return s
