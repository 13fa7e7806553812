"""Benchmark: the detector's counts per electron estimated from the data (``count_gain="auto"``).

Usage::

    python benchmarks/bench_zlp_count_gain.py --estimator                 # rule (1): simulated, g x rho x seeds
    python benchmarks/bench_zlp_count_gain.py --real ../shared/data/zlp   # the estimate on every real low-loss file

``--estimator``: for g in {0.5, 1, 4.5, 15} and PSF lag-1 correlation rho in {0, 0.5, 0.9}
(``simulation.realism.psf_kernel``, applied to the recorded counts, as ``realism.record`` does), seeds 0-9:
(a) the WS2-like set of ``bench_zlp_band_gap_vacuum.py`` (6 thinnest flake + 3 vacuum pixels of
``ws2_flake_low_loss_si((16, 24), band_gap=1.6, seed=s)``, data x g); (b) one ``low_loss`` spectrum
(``gain=g``, default ranges, seed s). Prints per cell the median ratio estimate / truth and the fraction of
cases within +-25 % (rule (1) of git show e177f64:SHIP_RULE.md).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

GAINS = (0.5, 1.0, 4.5, 15.0)
RHOS = (0.0, 0.5, 0.9)


def blur(x, rho):
    """Rows of ``x`` correlated by the simulator's PSF kernel of lag-1 autocorrelation ``rho`` (0: unchanged)."""
    from hyperspy_eels_ml.simulation.realism import convolve_rows, psf_kernel

    if rho <= 0.02:
        return x
    k, _ = psf_kernel(np.full(x.shape[0], rho))
    return convolve_rows(np.asarray(x, float), k)


def estimate(energy, J):
    from hyperspy_eels_ml.zlp.features import estimate_count_gain, fwhm

    fw = fwhm(energy, np.clip(J, 0, None).mean(axis=0))
    return estimate_count_gain(energy, J, fw)


def ws2_set(seed):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_zlp_band_gap_vacuum import pick_pixels

    from hyperspy_eels_ml.simulation import ws2_flake_low_loss_si

    s, truth = ws2_flake_low_loss_si((16, 24), band_gap=1.6, gap_exponent=1.5, seed=seed)
    e = s.axes_manager.signal_axes[0].axis
    data = np.asarray(s.data, float).reshape(-1, e.size)
    fl, vc = pick_pixels(truth, 6, 3)
    return e, data[np.concatenate([fl, vc])]


def run_estimator(seeds):
    from hyperspy_eels_ml.simulation import low_loss

    rows = []
    ws2 = {s: ws2_set(s) for s in seeds}
    for g in GAINS:
        for rho in RHOS:
            for kind in ("ws2 6+3", "low_loss 1"):
                ratios = []
                for s in seeds:
                    if kind == "ws2 6+3":
                        e, d = ws2[s]
                        J = blur(d * g, rho)
                    else:
                        b = low_loss(1, gain=g, rng=1000 + s)
                        e, J = b.energy, blur(np.asarray(b.spectra, float), rho)
                    est, se, how = estimate(e, J)
                    ratios.append(est / g)
                r = np.asarray(ratios)
                ok = np.isfinite(r) & (np.abs(r - 1) <= 0.25)
                rows.append((g, rho, kind, r, ok.mean()))
                print(f"g={g:5.1f} rho={rho:.1f} {kind:>10}: median est/true {np.nanmedian(r):.3f} "
                      f"(range {np.nanmin(r):.2f}-{np.nanmax(r):.2f}, NaN {int(np.isnan(r).sum())}), "
                      f"within 25 %: {ok.mean():.2f}", flush=True)
    return rows


def run_real(folder):
    import pathlib

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench_zlp_real as br

    from hyperspy_eels_ml.zlp.features import estimate_dark_level, fwhm

    for key, label, loader, _gap in br.cases(pathlib.Path(folder).parent):
        s, vac = loader()
        s, _ = br.align(s)
        e = s.axes_manager.signal_axes[0].axis
        J = np.asarray(s.data, float).reshape(-1, e.size)
        V = None if vac is None or isinstance(vac, str) else np.asarray(br.align(vac)[0].data, float).reshape(-1, e.size)
        allJ = J if V is None else np.concatenate([J, V])
        fw = fwhm(e, np.clip(allJ, 0, None).mean(axis=0))
        dark, _ = estimate_dark_level(e, allJ if V is None else V, fw, e[1] - e[0], 1.0, vacuum=V is not None)
        g, se, how = estimate(e, allJ - dark)
        print(f"{label:>44}: {allJ.shape[0]:4d} spectra, {e[1] - e[0]:.3g} eV/ch, dark {dark:.4g}: {how}",
              flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--estimator", action="store_true")
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--real", metavar="DIR")
    a = ap.parse_args(argv)
    if a.estimator:
        run_estimator(a.seeds)
    if a.real:
        run_real(a.real)


if __name__ == "__main__":
    main()
