"""Core-loss preprocessing for clustering: background removal before each edge, edge windows.

On raw core-loss SIs the decaying background dominates every spectrum, so
``umap_cluster`` on raw data of a real Cu/Zn oxide or Ge/GaAs SI sees one
population (the spectra differ mostly in their background). A microscopist
removes the background first; :func:`remove_edge_backgrounds` does that with
exspy's ``remove_background`` (a power law fitted in a pre-edge window), edge
by edge:

* for every edge (sorted by onset), the background is fitted on the spectrum
  in ``[onset - pre_edge_width - gap, onset - gap]`` and subtracted from the
  segment that starts at ``onset - gap`` and ends where the next edge's
  pre-edge window starts (or at ``onset + post_edge_width`` if given);
* channels outside every segment (pre-edge windows, regions without an edge)
  are set to 0, so the clustering sees the edges only.

The result is an ordinary EELS signal (same uniform energy axis, lazy if the
input is lazy), usable with ``umap_cluster`` and with anything else.
"""

from __future__ import annotations

import logging

import numpy as np

from .._shared.exceptions import EnergyRangeError, ParameterError
from .._shared.params import check_choice, check_float
from .._shared.validation import check_is_eels, energy_axis_values

_logger = logging.getLogger(__name__)

__all__ = ["edge_onsets", "remove_edge_backgrounds", "BACKGROUND_TYPES"]

BACKGROUND_TYPES = ("PowerLaw", "Exponential", "Offset", "Polynomial")
#: Edges used by edges="auto" (one per element: the lowest of these with its onset in range).
_MAIN_SHELLS = ("K", "L3", "M5", "M3", "N5")


def _onset_of(name):
    import exspy

    try:
        element, shell = name.split("_")
        return float(exspy.material.elements[element].Atomic_properties.Binding_energies[shell][
            "onset_energy (eV)"])
    except Exception:
        raise ParameterError(
            f"Unknown edge {name!r}: give edges as exspy subshell names ('Cu_L3', 'O_K') or onset "
            "energies in eV."
        ) from None


#: room (eV) an example edge needs inside the range: a pre-edge window below it, some signal above it
_EXAMPLE_MARGIN = (20.0, 10.0)


def _example_edges(energy, n=2):
    """Up to ``n`` edges (``"El_shell"``, lowest of :data:`_MAIN_SHELLS` per element, as ``edges="auto"``) whose
    tabulated onset lies in ``energy`` with :data:`_EXAMPLE_MARGIN` of room, spread over the range; and how many
    such edges there are."""
    import exspy

    lo, hi = float(energy[0]) + _EXAMPLE_MARGIN[0], float(energy[-1]) - _EXAMPLE_MARGIN[1]
    found = []
    for el, info in exspy.material.elements.as_dictionary().items():
        shells = info.get("Atomic_properties", {}).get("Binding_energies", {}) if isinstance(info, dict) else {}
        main = [(float(v["onset_energy (eV)"]), sh) for sh, v in shells.items()
                if sh in _MAIN_SHELLS and lo <= float(v["onset_energy (eV)"]) <= hi]
        if main:
            onset, shell = min(main)
            found.append((onset, f"{el}_{shell}"))
    found.sort()
    if len(found) <= n:
        return [name for _, name in found], len(found)
    pick = np.linspace(0, len(found) - 1, n + 2)[1:-1].round().astype(int)  # spread, not the range's ends
    return [found[k][1] for k in pick], len(found)


def _no_elements_message(energy):
    """The error for ``edges="auto"`` without ``metadata.Sample.elements``, with an example that fits the
    signal's energy range."""
    rng = f"{float(energy[0]):g}-{float(energy[-1]):g} eV"
    names, n_in = _example_edges(energy)
    if not names:
        mid = round(0.5 * (float(energy[0]) + float(energy[-1])))
        return (f"edges='auto' needs metadata.Sample.elements, and no tabulated {'/'.join(_MAIN_SHELLS)} edge has "
                f"its onset in {rng} (with {_EXAMPLE_MARGIN[0]:g} eV below it for the background window): give "
                f"the onset energies in eV, e.g. edges=[{mid:g}], or record a wider energy range.")
    els = ", ".join(repr(nm.split("_")[0]) for nm in names)
    return (f"edges='auto' needs metadata.Sample.elements: add the sample's elements (e.g. "
            f"s.add_elements([{els}])) or give the edges explicitly, e.g. edges=[{', '.join(map(repr, names))}] "
            f"or onset energies in eV (examples only, nothing is detected here: {n_in} tabulated "
            f"{'/'.join(_MAIN_SHELLS)} edges have their onset in this signal's {rng}).")


def edge_onsets(signal, edges="auto"):
    """Onset energies (eV, sorted) of the edges to use.

    Parameters
    ----------
    signal : exspy.signals.EELSSpectrum
    edges : "auto", list of str or float
        ``"auto"``: the subshells of ``metadata.Sample.elements`` whose onset lies in the energy
        range (as ``s.add_elements`` / ``s.subshells`` in exspy); strings like ``"Cu_L3"``; or
        onset energies in eV.

    Returns
    -------
    list of (name, onset)
    """
    energy = energy_axis_values(signal)
    if isinstance(edges, str) and edges == "auto":
        elements = list(signal.metadata.get_item("Sample.elements", []) or [])
        if not elements:
            raise ParameterError(_no_elements_message(energy))
        import exspy

        names = []
        for el in elements:
            shells = exspy.material.elements[el].Atomic_properties.Binding_energies.as_dictionary()
            main = [(float(info["onset_energy (eV)"]), shell) for shell, info in shells.items()
                    if shell in _MAIN_SHELLS and energy[0] < float(info["onset_energy (eV)"]) < energy[-1]]
            if main:  # the lowest main edge of each element in the range (L3 rather than L1, ...)
                names.append(f"{el}_{min(main)[1]}")
        edges = names
        if not edges:
            raise EnergyRangeError(
                f"No edge of {elements} has its onset in {energy[0]:g}-{energy[-1]:g} eV; give edges explicitly."
            )
    if isinstance(edges, str | float | int):
        edges = [edges]
    out = []
    for e in edges:
        if isinstance(e, str):
            out.append((e, _onset_of(e)))
        else:
            out.append((f"{float(e):g} eV", check_float("edge onset", e)))
    out.sort(key=lambda t: t[1])
    # L2/L3 (and M4/M5) of one element share one background: keep the first onset of each element
    merged = []
    for name, onset in out:
        el = name.split("_")[0] if "_" in name else None
        if merged and el is not None and merged[-1][0].split("_")[0] == el and onset - merged[-1][1] < 60:
            continue
        merged.append((name, onset))
    return merged


def remove_edge_backgrounds(signal, edges="auto", pre_edge_width=None, gap=None, post_edge_width=None,
                            background_type="PowerLaw", show_progressbar=None):
    """Subtract the background before each edge and keep only the edge segments.

    Builds on exspy's ``EELSSpectrum.remove_background`` (``fast=True``: the
    closed-form estimate per pixel, lazy-capable). The user's signal is not modified.

    Parameters
    ----------
    signal : exspy.signals.EELSSpectrum
        Core-loss SI (eager or lazy).
    edges : "auto", list of str or float
        See :func:`edge_onsets`. Edges of one element closer than 60 eV (L3/L2, M5/M4) share one
        background fitted before the first.
    pre_edge_width : float, optional
        Width of the background window in eV (default: 30 channels, at least 20 eV, at most the
        space to the previous edge).
    gap : float, optional
        Distance between the end of the background window and the onset, in eV (default: 2
        channels; edges' tabulated onsets are approximate).
    post_edge_width : float, optional
        Keep at most this many eV after each onset (default: up to the next edge's window or the
        end of the range).
    background_type : {"PowerLaw", "Exponential", "Offset", "Polynomial"}
        Passed to exspy's ``remove_background``.
    show_progressbar : bool, optional

    Returns
    -------
    exspy.signals.EELSSpectrum
        Same axes; background-subtracted edge segments, 0 elsewhere. ``metadata.hyperspy_eels_ml``
        records the edges and windows.

    Examples
    --------
    >>> s.add_elements(["Cu", "Zn"])                                # doctest: +SKIP
    >>> sb = remove_edge_backgrounds(s)                              # doctest: +SKIP
    >>> res = sb.umap_cluster(navigation_mask="vacuum", random_state=0)   # doctest: +SKIP
    """
    from .._shared.signals import record_provenance

    check_is_eels(signal, "remove_edge_backgrounds")
    check_choice("background_type", background_type, BACKGROUND_TYPES)
    energy = energy_axis_values(signal)
    de = float(energy[1] - energy[0])
    gap = check_float("gap", 2 * de if gap is None else gap, min=0)
    pre_edge_width = check_float("pre_edge_width", pre_edge_width, min=0, inclusive=(False, True), allow_none=True)
    post_edge_width = check_float("post_edge_width", post_edge_width, min=0, inclusive=(False, True),
                                  allow_none=True)
    onsets = edge_onsets(signal, edges)
    data = signal.data
    if np.issubdtype(data.dtype, np.integer):
        signal = signal._deepcopy_with_new_data(data.astype(np.float32))
        data = signal.data
    pieces = []
    windows = []
    default_width = max(30 * de, 20.0)
    for i, (name, onset) in enumerate(onsets):
        prev = onsets[i - 1][1] if i else energy[0]
        width = pre_edge_width if pre_edge_width is not None else default_width
        width = min(width, onset - gap - prev)
        a, b = onset - gap - width, onset - gap
        if width < 3 * de or a < energy[0] - 0.5 * de:
            raise EnergyRangeError(
                f"remove_edge_backgrounds: the {name} edge (onset {onset:g} eV) needs a background window "
                f"of at least {3 * de:g} eV before it; the signal covers {energy[0]:g}-{energy[-1]:g} eV and "
                f"the window would be {a:g}-{b:g} eV. Acquire more pre-edge range or drop this edge."
            )
        # the segment runs up to the next edge (whose background, fitted on this edge's tail, is removed there)
        end = onsets[i + 1][1] - gap if i + 1 < len(onsets) else energy[-1] + de
        if post_edge_width is not None:
            end = min(end, onset + post_edge_width)
        sub = signal.remove_background(signal_range=(a, b), background_type=background_type, fast=True,
                                       plot_remainder=False, display=False, show_progressbar=show_progressbar)
        seg = (energy >= b - 0.5 * de) & (energy < end - 0.5 * de)
        pieces.append((seg, sub.data))
        windows.append({"edge": name, "onset": float(onset), "background_window": [float(a), float(b)],
                        "segment": [float(b), float(end)]})
    if signal._lazy:
        import dask.array as da

        out = da.zeros_like(data)
        for seg, d in pieces:
            out = da.where(seg, d, out)
    else:
        out = np.zeros_like(data)
        for seg, d in pieces:
            out[..., seg] = np.asarray(d)[..., seg]
    res = signal._deepcopy_with_new_data(out)
    title = signal.metadata.get_item("General.title", "")
    res.metadata.General.title = f"Edge backgrounds removed of {title}" if title else "Edge backgrounds removed"
    record_provenance(res, "clustering.remove_edge_backgrounds",
                      dict(edges=[w["edge"] for w in windows], pre_edge_width=pre_edge_width, gap=gap,
                           post_edge_width=post_edge_width, background_type=background_type),
                      extra={"windows": repr(windows)})
    return res
