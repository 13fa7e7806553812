"""Check: the band-gap block of an older checkout and of this one give the same Eg/b/chi2/reason.

Usage::

    git worktree add /tmp/bg_old 7f90637      # the code before the onset-law check (session 10)
    python benchmarks/check_band_gap_unchanged.py /tmp/bg_old

On ``ws2_flake_low_loss_si((16, 24), band_gap=1.6, gap_exponent=b0, seed=0)`` (6 flake + 3 vacuum pixels, as
``bench_zlp_band_gap_vacuum.py``; 8 replicas), b0 0.5 and 1.5, windows 1-3 eV and the default one: the old
``band_gap_block`` and the new one with ``law="fixed"`` (exponent 0.5, 1.5) or ``law="free"`` (b fitted) on the same
inputs; prints whether the 8 columns of the old output are bit-identical in the new one.
"""
import importlib.util
import os
import sys
import warnings

import numpy as np

import hyperspy_eels_ml  # noqa: F401
from hyperspy_eels_ml.simulation import ws2_flake_low_loss_si
from hyperspy_eels_ml.zlp import blocks as new
from hyperspy_eels_ml.zlp.bandgap import eg_grid_for, default_window

OLD = os.path.join(sys.argv[1], "hyperspy_eels_ml", "zlp", "blocks.py")
spec = importlib.util.spec_from_file_location("hyperspy_eels_ml.zlp._old_blocks", OLD)
old = importlib.util.module_from_spec(spec)
spec.loader.exec_module(old)  # its relative imports resolve to this checkout (fit_onset is unchanged)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_zlp_band_gap_vacuum import _eels, pick_pixels  # noqa: E402
for b0 in (0.5, 1.5):
    s, truth = ws2_flake_low_loss_si((16, 24), band_gap=1.6, gap_exponent=b0, seed=0)
    e = s.axes_manager.signal_axes[0].axis
    data = np.asarray(s.data, float).reshape(-1, e.size)
    fl, vc = pick_pixels(truth, 6, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = _eels(data[fl], e).subtract_zlp_nn(vacuum=_eels(data[vc], e), n_replicas=8, random_state=0,
                                               show_progressbar=False)
    v, m = r._v, r.model
    c_grid, table = m.log_zlp_table(e)
    for rng in ((1.0, 3.0), default_window(r)):
        lo, hi = rng
        window = np.flatnonzero((e >= lo) & (e <= hi)); grid = eg_grid_for(lo, hi, v.dispersion)
        for ex in (0.5, 1.5, None):
            bv = [ex] if ex is not None else list(np.round(np.arange(0.3, 2.55, 0.1), 2))
            kw = dict(energy=e, core=m.core, c_grid=c_grid, window=window, eg_grid=grid, b_values=bv,
                      count_gain=float(r.count_gain), batch=64, base_c=np.asarray(m.clusters["c"], float),
                      scatter=m.scatter_table(), dark=m.dark_level, n_params=2 + (ex is None) + 1)
            J = np.asarray(v.data, np.float32)
            a = old.band_gap_block(J, table, **kw)
            b = new.band_gap_block(J, table, **kw, law="fixed" if ex is not None else "free")
            same = np.array_equal(a, b[:, :8], equal_nan=True)
            print(f"b0={b0} window {lo:.2f}-{hi:.2f} exponent={'free' if ex is None else ex}: "
                  f"old == new (8 columns) {same}")
