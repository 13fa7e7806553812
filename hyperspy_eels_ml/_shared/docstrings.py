"""Shared numpydoc parameter texts, filled into docstrings with :func:`fill_doc` (as mne/kikuchipy do).

Write ``%(name)s`` alone on a line of a docstring, indented like the other
parameters; :func:`fill_doc` replaces it by the fragment, re-indented::

    @fill_doc
    def f(signal, show_progressbar=None):
        \"\"\"...

        Parameters
        ----------
        %(show_progressbar)s
        \"\"\"
"""

from __future__ import annotations

import textwrap

__all__ = ["DOCS", "fill_doc"]

#: name -> numpydoc parameter text (first line = "name : type"; body indented 4 spaces).
DOCS = {
    "show_progressbar": """\
show_progressbar : bool, optional
    Show a progress bar while the data are computed (default: HyperSpy's
    preference ``hs.preferences.General.show_progressbar``). Under
    ``dask.distributed`` use the dashboard instead.""",
    "lazy_output": """\
lazy_output : bool, optional
    Return lazy signals (default: lazy if and only if the input is lazy).
    Compute them together with the result's ``compute()``.""",
    "random_state": """\
random_state : None, int or numpy.random.Generator, optional
    Seed (an integer in 0..2**32-1) or generator. A fixed seed makes the
    results reproducible (bit-identical for the same input and versions).""",
    "navigation_mask": """\
navigation_mask : None, bool array, signal or "vacuum", optional
    Pixels to exclude (True = excluded), in array order
    (``s.data.shape[:-1]``) or as a HyperSpy signal of that shape (e.g. exspy's
    ``s.vacuum_mask()``, or ``s.sum(-1) < 10``); 0/1 numbers are accepted.
    ``"vacuum"`` excludes pixels whose total counts are below 10 % of the 95th
    percentile (a relative threshold, unlike exspy's absolute
    ``s.vacuum_mask()``). Masked pixels are never analysed and may contain
    NaN.""",
    "block_size": """\
block_size : int, optional
    Spectra per block for eager input (rounded to whole rows of the scan;
    default: blocks of about 32 MiB). Lazy input keeps its own navigation
    chunks. Memory use is bounded by the block size.""",
    "signal_range": """\
signal_range : tuple of float, optional
    ``(start, end)`` energy-loss range in eV (either end may be None).
    Default: all channels.""",
}


def _fill(docstring, docs):
    lines = docstring.split("\n")
    out = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("%(") and stripped.endswith(")s") and stripped[2:-2] in docs:
            indent = line[: len(line) - len(line.lstrip())]
            out.append(textwrap.indent(docs[stripped[2:-2]], indent))
        else:
            out.append(line)
    return "\n".join(out)


def fill_doc(obj=None, **extra):
    """Decorator: replace ``%(name)s`` lines of ``obj.__doc__`` by :data:`DOCS` fragments.

    ``fill_doc(**extra)`` adds or overrides fragments for one docstring. Works
    on functions and classes; unknown ``%(...)s`` lines are left alone.
    """
    docs = dict(DOCS, **extra)

    def deco(o):
        if o.__doc__:
            o.__doc__ = _fill(o.__doc__, docs)
        return o

    return deco if obj is None else deco(obj)
