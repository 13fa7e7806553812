"""Chunk-wise batched application over the navigation space.

One call of a batched function per dask block, every block holding whole
spectra (the signal axis in one chunk). Eager input is wrapped in a dask array
with the same deterministic chunking rule, computed immediately and returned as
numpy; lazy input stays lazy and nothing is computed at call time.

Heavy objects (trained models, fitted UMAP/HDBSCAN objects) never travel inside
every task: pass them as :func:`dask.delayed` objects (one graph key, sent once
per worker by ``dask.distributed``) or load them inside the block function from
the per-process cache in :mod:`hyperspy_eels_ml._shared.cache`.
"""

from __future__ import annotations

import contextlib

import dask
import dask.array as da
import numpy as np

__all__ = ["as_dask", "map_spectra", "compute", "progress", "canonical_chunks", "resolve_show_progressbar",
           "reduce_spectra"]

#: Target size of one block of spectra for eager data (bytes).
EAGER_BLOCK_BYTES = 32 * 2**20


def canonical_chunks(shape, itemsize, block_bytes=None):
    """Deterministic chunks for an array of spectra: whole rows of the last navigation axis.

    Only the first navigation axis is split, so a chunking depends on the shape only
    (and on ``block_bytes``, default :data:`EAGER_BLOCK_BYTES`).
    """
    block_bytes = EAGER_BLOCK_BYTES if block_bytes is None else block_bytes
    shape = tuple(int(s) for s in shape)
    if len(shape) == 1:
        return ((shape[0],),)
    row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * itemsize
    rows = max(1, min(shape[0], block_bytes // max(row_bytes, 1)))
    return (rows,) + tuple(-1 for _ in shape[1:])


def as_dask(data, block_bytes=None, block_size=None):
    """Return ``data`` as a dask array with whole spectra per block.

    Dask input is only rechunked along the signal axis (if split); numpy input
    gets :func:`canonical_chunks` with blocks of about ``block_bytes`` bytes, or
    of about ``block_size`` spectra (whole rows: at least one row) when given.
    """
    if isinstance(data, da.Array):
        if len(data.chunks[-1]) > 1:
            data = data.rechunk({data.ndim - 1: -1})
        return data
    data = np.asarray(data)
    if data.ndim == 1:
        data = data[np.newaxis]
    if block_size is not None:
        block_bytes = int(block_size) * int(data.shape[-1]) * data.itemsize
    return da.from_array(data, chunks=canonical_chunks(data.shape, data.itemsize, block_bytes), name=False)


def _aligned_dask(arr, nav_chunks):
    """An array of navigation shape (+ trailing dims) as dask with the given navigation chunks.

    Returns ``(dask_array, squeeze)``: a trailing axis is added to navigation-shaped arrays so that
    ``map_blocks`` aligns them with the data from the right, like numpy broadcasting.
    """
    nav_nd = len(nav_chunks)
    squeeze = arr.ndim == nav_nd
    if squeeze:
        arr = arr[..., None]
    tail = tuple((s,) for s in arr.shape[nav_nd:])
    if isinstance(arr, da.Array):
        if arr.chunks != tuple(nav_chunks) + tail:
            arr = arr.rechunk(tuple(nav_chunks) + tail)
        return arr, squeeze
    return da.from_array(np.asarray(arr), chunks=tuple(nav_chunks) + tail, name=False), squeeze


def _blockwise_args(data, aligned, mask):
    nav_chunks = data.chunks[:-1]
    arrays, squeezes = [], []
    for a in aligned:
        d, sq = _aligned_dask(a, nav_chunks)
        arrays.append(d)
        squeezes.append(sq)
    has_mask = mask is not None
    if has_mask:
        d, _ = _aligned_dask(np.asarray(mask, dtype=bool), nav_chunks)
        arrays.append(d)
    return arrays, squeezes, has_mask


def _split_block_args(n_spectra, args, squeezes, has_mask):
    n_al = len(squeezes) + int(has_mask)
    al, rest = args[:n_al], args[n_al:]
    flat = []
    for a, sq in zip(al, squeezes):
        a = a.reshape(n_spectra, -1)
        flat.append(a[:, 0] if sq else a)
    kw = {}
    if has_mask:
        kw["mask"] = al[-1].reshape(n_spectra)
    return flat, rest, kw


def map_spectra(data, func, n_out, dtype=np.float32, *, extra_args=(), drop_signal_axis=False,
                block_bytes=None, block_size=None, aligned=(), mask=None, **kwargs):
    """Apply ``func`` to every block of spectra.

    Parameters
    ----------
    data : dask.array.Array or numpy.ndarray
        Spectra, navigation axes first and the signal axis last (one chunk).
    func : callable
        ``func(block2d, *aligned2d, *extra_args, [mask=mask1d], **kwargs) -> out2d`` where
        ``block2d`` has shape ``(n_spectra, n_channels)`` and ``out2d`` ``(n_spectra, n_out)``.
        ``extra_args`` may be :class:`dask.delayed.Delayed` objects (computed once
        and shared by all tasks).
    n_out : int
        Number of output values per spectrum.
    dtype : numpy.dtype
        Output dtype.
    drop_signal_axis : bool
        If True and ``n_out == 1``, the output has the navigation shape only.
    block_bytes : int, optional
        Target block size in bytes when ``data`` is a numpy array (default
        :data:`EAGER_BLOCK_BYTES`, 32 MiB); dask input keeps its chunks.
    block_size : int, optional
        Alternatively, the target number of spectra per block for numpy input
        (rounded to whole rows of the last navigation axis).
    aligned : tuple of arrays
        Per-pixel arrays (shape ``navigation_shape`` or ``navigation_shape + (k,)``,
        numpy or dask), passed to ``func`` block by block as ``(n_spectra,)`` or
        ``(n_spectra, k)`` after ``block2d``.
    mask : numpy.ndarray of bool, optional
        Navigation mask (True = excluded), passed to ``func`` as ``mask=`` (1-D per block).
    **kwargs
        Passed to ``func`` (and to :func:`dask.array.map_blocks`).

    Returns
    -------
    dask.array.Array
        Lazy result with the navigation chunks of ``data``.

    Examples
    --------
    >>> out = map_spectra(v.data, lambda x, mask=None: x.sum(1, keepdims=True), 1,
    ...                   mask=v.mask_or_none, drop_signal_axis=True)   # doctest: +SKIP
    """
    data = as_dask(data, block_bytes=block_bytes, block_size=block_size)
    nav_ndim = data.ndim - 1
    arrays, squeezes, has_mask = _blockwise_args(data, aligned, mask)

    def _block(block, *args, **kw):
        nav_shape = block.shape[:-1]
        flat = block.reshape(-1, block.shape[-1])
        al, rest, mkw = _split_block_args(flat.shape[0], args, squeezes, has_mask)
        if flat.shape[0] == 0:
            out = np.empty((0, n_out), dtype=dtype)
        else:
            out = np.asarray(func(flat, *al, *rest, **mkw, **kw), dtype=dtype)
        out = out.reshape(nav_shape + (n_out,))
        return out[..., 0] if drop_signal_axis else out

    if drop_signal_axis:
        if n_out != 1:
            raise ValueError("drop_signal_axis needs n_out == 1")
        return da.map_blocks(
            _block, data, *arrays, *extra_args, dtype=dtype, drop_axis=nav_ndim,
            chunks=data.chunks[:-1], meta=np.empty((0,) * nav_ndim, dtype=dtype), **kwargs,
        )
    return da.map_blocks(
        _block, data, *arrays, *extra_args, dtype=dtype, chunks=data.chunks[:-1] + ((n_out,),),
        meta=np.empty((0,) * data.ndim, dtype=dtype), **kwargs,
    )


def reduce_spectra(data, func, out_shape, dtype=np.float64, *, extra_args=(), block_bytes=None,
                   block_size=None, aligned=(), mask=None, **kwargs):
    """Sum ``func(block2d, ...)`` over all blocks of spectra (a dask tree reduction).

    ``func`` has the signature of :func:`map_spectra`'s but returns an array of
    shape ``out_shape`` per block (e.g. a partial Gram matrix or per-class sums);
    the result is their sum, lazy (shape ``out_shape``). Memory per task is one
    block plus ``out_shape``.
    """
    data = as_dask(data, block_bytes=block_bytes, block_size=block_size)
    nav_nd = data.ndim - 1
    out_shape = tuple(int(n) for n in out_shape)
    arrays, squeezes, has_mask = _blockwise_args(data, aligned, mask)

    def _block(block, *args, **kw):
        nav_shape = block.shape[:-1]
        flat = block.reshape(-1, block.shape[-1])
        al, rest, mkw = _split_block_args(flat.shape[0], args, squeezes, has_mask)
        out = np.asarray(func(flat, *al, *rest, **mkw, **kw), dtype=dtype).reshape(out_shape)
        return out.reshape((1,) * len(nav_shape) + out_shape)

    chunks = tuple((1,) * len(c) for c in data.chunks[:-1]) + tuple((n,) for n in out_shape)
    extra = {}
    if len(out_shape) > 1:
        extra["new_axis"] = list(range(nav_nd + 1, nav_nd + len(out_shape)))
    elif len(out_shape) == 0:
        raise ValueError("out_shape needs at least one dimension")
    parts = da.map_blocks(_block, data, *arrays, *extra_args, dtype=dtype, chunks=chunks,
                          meta=np.empty((0,) * (nav_nd + len(out_shape)), dtype=dtype), **extra, **kwargs)
    return parts.sum(axis=tuple(range(nav_nd)))


def resolve_show_progressbar(show_progressbar=None):
    """``show_progressbar``, or HyperSpy's preference when it is None."""
    if show_progressbar is None:
        try:
            from hyperspy.defaults_parser import preferences

            return bool(preferences.General.show_progressbar)
        except Exception:  # pragma: no cover
            return False
    return bool(show_progressbar)


@contextlib.contextmanager
def progress(show_progressbar=None):
    """Dask progress bar following HyperSpy's preference when ``show_progressbar`` is None.

    Under ``dask.distributed`` the local progress bar does not see the tasks;
    use the dashboard there.
    """
    if resolve_show_progressbar(show_progressbar):
        from dask.diagnostics import ProgressBar

        with ProgressBar(minimum=1.0):
            yield
    else:
        yield


def compute(*arrays, show_progressbar=None):
    """Compute several dask collections together (shared inputs are read once)."""
    with progress(show_progressbar):
        return dask.compute(*arrays)
