"""Benchmark: ``fit_plasmon`` and ``kramers_kronig`` per replica against the simulator's truth.

Usage::

    python benchmarks/bench_zlp_lowloss_physics.py              # 4x4 SI, 24 replicas, seed 0
    python benchmarks/bench_zlp_lowloss_physics.py --replicas 50 --seed 1
    python benchmarks/bench_zlp_lowloss_physics.py --only peaks          # fit_peaks on simulated excitons
    python benchmarks/bench_zlp_lowloss_physics.py --only peaks --real   # + WS2 and MoS2 dev files

SI: :func:`hyperspy_eels_ml.simulation.low_loss` without a gap or surface
plasmon (the single scattering is then exactly the Drude loss function times
the angular factor), Ep 15-22 eV, Gamma 3-7 eV, t/lambda 0.2-0.8, 200 kV,
20 mrad, -4 to 51 eV at 50 meV/ch. Printed: Ep and Gamma bias, median
absolute error and 68 % coverage of the truth (with and without
deconvolution); the KK thickness against exspy's ``kramers_kronig_analysis`` of
the noise-free truth (same cutoff), and the coverage of the truth eps1/eps2 by
the replica bands (3-40 eV); CPU seconds of each step.

Peaks (``fit_peaks``): an 8x8 SI with a direct gap at 2.6 eV and an exciton
0.4-0.7 eV below it (the simulator's Gaussian, FWHM 0.235 eV), ZLP FWHM 0.15
eV, 25 meV/ch; printed: fraction fitted, position bias and median absolute
error, 68 % coverage, median interval width, recorded FWHM against
``hypot(0.235, 0.15)`` (exciton convolved with the ZLP). ``--real``: the WS2
Specimen_4 spectra (with their vacuum spectra) and the MoS2 spectrum of
``../shared/data/zlp``, loaded and aligned as ``bench_zlp_real.py`` does,
two peaks in a window fixed beforehand (WS2 1.7-2.7 eV, MoS2 1.6-2.4 eV), beside
the literature A/B excitons and the baseline of the two highest local maxima
of the smoothed ``inelastic`` median.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replicas", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=("all", "plasmon", "peaks"), default="all")
    ap.add_argument("--real", action="store_true", help="fit_peaks on the WS2 and MoS2 dev files too")
    a = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    if a.only in ("all", "peaks"):
        bench_peaks(a.replicas, a.seed)
        if a.real:
            bench_peaks_real(a.replicas, a.seed)
    if a.only == "peaks":
        return
    import exspy
    import hyperspy.api as hs

    import hyperspy_eels_ml  # noqa: F401
    from hyperspy_eels_ml.simulation.low_loss import low_loss
    from hyperspy_eels_ml.zlp.physics import _eels, single_scattering

    b = low_loss(16, energy_offset=-4.0, dispersion=0.05, size=1100, zlp_fwhm=0.5, zlp_tail=(1e-3, 3e-3),
                 band_gap=None, surface_plasmon=0.0, plasmon_energy=(15.0, 22.0), plasmon_width=(3.0, 7.0),
                 t_lambda=(0.2, 0.8), E0=200.0, beta=20.0, counts=(3e5, 1e6), rng=a.seed)
    s = exspy.signals.EELSSpectrum(b.spectra.reshape(4, 4, -1))
    ax = s.axes_manager.signal_axes[0]
    ax.name, ax.units, ax.offset, ax.scale = "Energy loss", "eV", b.energy[0], 0.05
    s.set_microscope_parameters(beam_energy=200.0, collection_angle=20.0, convergence_angle=0.0)
    c0 = time.process_time()
    r = s.subtract_zlp_nn(n_replicas=a.replicas, random_state=0, show_progressbar=False)
    c1 = time.process_time()
    tE, tG = b.params["plasmon_energy"].reshape(4, 4), b.params["plasmon_width"].reshape(4, 4)
    print(f"subtract_zlp_nn: {c1 - c0:.1f} CPU s, {r.model.n_replicas} replicas")
    print(f"{'plasmon':<16} {'Ep bias':>8} {'Ep MAE':>7} {'Ep cov':>6} {'Ep 68% w':>8} {'G bias':>7} {'G MAE':>6} "
          f"{'G cov':>6} {'NaN':>4} {'CPU s':>6}")
    for dec in (True, False):
        t0 = time.process_time()
        p = r.fit_plasmon(deconvolve=dec, show_progressbar=False)
        dt = time.process_time() - t0
        Ep, L, U = p.Ep.data, p.Ep_lower.data, p.Ep_upper.data
        G, GL, GU = p.width.data, p.width_lower.data, p.width_upper.data
        print(f"{'deconvolved' if dec else 'as recorded':<16} {np.nanmedian(Ep - tE):+8.3f} "
              f"{np.nanmedian(np.abs(Ep - tE)):7.3f} {np.mean((L <= tE) & (tE <= U)):6.2f} "
              f"{np.nanmedian(U - L):8.3f} {np.nanmedian(G - tG):+7.3f} {np.nanmedian(np.abs(G - tG)):6.3f} "
              f"{np.mean((GL <= tG) & (tG <= GU)):6.2f} {int(np.isnan(Ep).sum()):4d} {dt:6.1f}")
    t0 = time.process_time()
    k = r.kramers_kronig(n=4.0, show_progressbar=False)
    dt = time.process_time() - t0
    e = b.energy
    keep = e > 0.25 * 0.05
    ssd = single_scattering((b.zlp + b.inelastic).astype(float)[None], b.zlp.astype(float)[None], e)
    ssd[..., e < 3 * r.model.fwhm] = 0
    st = _eels(ssd[0][:, keep], e[keep], 200.0, 20.0)
    eps_t, out = st.kramers_kronig_analysis(zlp=hs.signals.BaseSignal(b.zlp.sum(1).astype(float)).T, n=4.0,
                                            full_output=True)
    tt = out["thickness"].data.reshape(4, 4)
    e1t, e2t = (f(np.asarray(eps_t.data)).reshape(4, 4, -1) for f in (np.real, np.imag))
    w = (e[keep] > 3) & (e[keep] < 40)

    def cov(lo, hi, t):
        return float(np.mean((lo[..., w] <= t[..., w]) & (t[..., w] <= hi[..., w])))

    print(f"\nKramers-Kronig (n = 4): thickness ours / truth-KK median {np.median(k.thickness.data / tt):.3f} "
          f"(range {np.min(k.thickness.data / tt):.3f}-{np.max(k.thickness.data / tt):.3f}), 68 % coverage "
          f"{np.mean((k.thickness_lower.data <= tt) & (tt <= k.thickness_upper.data)):.2f}; eps1 band coverage "
          f"{cov(k.eps1_lower.data, k.eps1_upper.data, e1t):.2f}, eps2 {cov(k.eps2_lower.data, k.eps2_upper.data, e2t):.2f}"
          f" (3-40 eV); {dt:.1f} CPU s")


#: literature A / B exciton energies (eV) given in the task (issue 12, section 3)
LITERATURE = {"ws2": ((1.95, 2.0), (2.35, 2.45)), "mos2": ((1.85, 1.9), (2.0, 2.1))}
#: fit windows fixed before the real run (/tmp/z5/SHIP_RULE.md)
REAL_WINDOWS = {"ws2": (1.7, 2.7), "mos2": (1.6, 2.4)}


def bench_peaks(replicas, seed):
    import exspy

    import hyperspy_eels_ml  # noqa: F401
    from hyperspy_eels_ml.simulation.low_loss import low_loss

    b = low_loss(64, energy_offset=-3.0, dispersion=0.025, size=1200, zlp_fwhm=0.15, zlp_tail=(1e-3, 3e-3),
                 band_gap=2.6, gap_exponent=0.5, exciton_binding=(0.4, 0.7), surface_plasmon=0.0,
                 plasmon_energy=(15.0, 21.0), plasmon_width=(3.0, 6.0), interband=0.2, interband_decay=5.0,
                 t_lambda=(0.3, 0.6), E0=200.0, beta=20.0, counts=(1e6, 3e6), rng=seed + 5)
    s = exspy.signals.EELSSpectrum(b.spectra.reshape(8, 8, -1).astype(float))
    ax = s.axes_manager.signal_axes[0]
    ax.name, ax.units, ax.offset, ax.scale = "Energy loss", "eV", float(b.energy[0]), 0.025
    c0 = time.process_time()
    r = s.subtract_zlp_nn(n_replicas=replicas, random_state=seed, show_progressbar=False)
    print(f"peaks SI 8x8: subtract_zlp_nn {time.process_time() - c0:.1f} CPU s, {r.model.n_replicas} replicas")
    truth = (b.params["band_gap"] - b.params["exciton_binding"]).reshape(8, 8)
    print(f"{'fit_peaks (1.6-2.5 eV)':<24} {'fitted':>6} {'bias':>7} {'MAE':>6} {'cov68':>6} {'68% w':>6} "
          f"{'FWHM':>6} {'expect':>6} {'CPU s':>6}")
    for dec in (False, True):
        t0 = time.process_time()
        p = r.fit_peaks((1.6, 2.5), 1, deconvolve=dec, show_progressbar=False)
        dt = time.process_time() - t0
        P, L, U = (getattr(p, n).data[..., 0].astype(float) for n in ("position", "position_lower", "position_upper"))
        print(f"{'deconvolved' if dec else 'as recorded':<24} {np.mean(p.reason.data[..., 0] == 0):6.2f} "
              f"{np.nanmedian(P - truth):+7.3f} {np.nanmedian(np.abs(P - truth)):6.3f} "
              f"{np.mean((L <= truth) & (truth <= U)):6.2f} {np.nanmedian(U - L):6.3f} "
              f"{np.nanmedian(p.width.data):6.3f} {np.hypot(2.3548 * 0.1, 0.15):6.3f} {dt:6.1f}")


def bench_peaks_real(replicas, seed):
    import importlib.util
    from pathlib import Path

    here = Path(__file__).resolve().parent
    spec = importlib.util.spec_from_file_location("bench_zlp_real", here / "bench_zlp_real.py")
    bzr = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bzr)
    z = bzr.data_dir() / "zlp"
    if not z.is_dir():
        print(f"\nreal files: {z} not found (set HYPERSPY_EELS_ML_DATA); skipped")
        return
    from hyperspy_eels_ml.zlp.features import smooth

    loaders = {"ws2": lambda: bzr.load_ws2(z),
               "mos2": lambda: (bzr.load_cbl(sorted(z.glob("CBL-ML__Data__May__MoS2*"))[0]), None)}
    print(f"\nfit_peaks on real files ({replicas} replicas, 2 peaks; literature A / B excitons beside)")
    print(f"{'file':<6} {'spectrum':>8} {'A (eV) [68 %]':>22} {'B (eV) [68 %]':>22} {'FWHM A/B':>11} {'chi2':>6} "
          f"{'reason':>6} {'max-baseline':>13}")
    for key, load in loaders.items():
        sp, vac = load()
        sp, _ = bzr.align(sp)
        if vac is not None:
            vac, _ = bzr.align(vac)
        t0 = time.perf_counter()
        r = sp.subtract_zlp_nn(vacuum=vac, n_replicas=replicas, random_state=seed, show_progressbar=False)
        t1 = time.perf_counter()
        lo, hi = REAL_WINDOWS[key]
        p = r.fit_peaks((lo, hi), 2, show_progressbar=False)
        t2 = time.perf_counter()
        e = sp.axes_manager.signal_axes[0].axis
        w = (e >= lo) & (e <= hi)
        inel = np.asarray(r.inelastic.data, float).reshape(-1, e.size)
        get = {n: np.asarray(getattr(p, n).data, float).reshape(-1, 2)
               for n in ("position", "position_lower", "position_upper", "width", "reason")}
        chi = np.atleast_1d(np.asarray(p.chi2.data, float)).ravel()
        for i in range(inel.shape[0]):
            sm = smooth(inel[i, w], max(3, int(round(0.1 / (e[1] - e[0]))) | 1))
            mx = np.flatnonzero((sm[1:-1] >= sm[:-2]) & (sm[1:-1] > sm[2:])) + 1
            top = np.sort(e[w][mx[np.argsort(-sm[mx])[:2]]]) if mx.size else []
            pk = [f"{get['position'][i, k]:.3f} [{get['position_lower'][i, k]:.3f}, "
                  f"{get['position_upper'][i, k]:.3f}]" for k in range(2)]
            print(f"{key:<6} {i:>8} {pk[0]:>22} {pk[1]:>22} "
                  f"{get['width'][i, 0]:5.2f}/{get['width'][i, 1]:<5.2f} {chi[i]:6.2f} "
                  f"{'/'.join(str(int(x)) for x in get['reason'][i]):>6} {' '.join(f'{x:.2f}' for x in top):>13}")
        (a0, a1), (b0, b1) = LITERATURE[key]
        print(f"{key:<6} literature A {a0}-{a1} eV, B {b0}-{b1} eV; window {lo}-{hi} eV; subtract {t1 - t0:.0f} s, "
              f"fit_peaks {t2 - t1:.1f} s, {r.replica_report}")


if __name__ == "__main__":
    main()
