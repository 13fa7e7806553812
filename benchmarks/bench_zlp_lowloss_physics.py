"""Benchmark: ``fit_plasmon`` and ``kramers_kronig`` per replica against the simulator's truth.

Usage::

    python benchmarks/bench_zlp_lowloss_physics.py              # 4x4 SI, 24 replicas, seed 0
    python benchmarks/bench_zlp_lowloss_physics.py --replicas 50 --seed 1

SI: :func:`hyperspy_eels_ml.simulation.low_loss` without a gap or surface
plasmon (the single scattering is then exactly the Drude loss function times
the angular factor), Ep 15-22 eV, Gamma 3-7 eV, t/lambda 0.2-0.8, 200 kV,
20 mrad, -4 to 51 eV at 50 meV/ch. Printed: Ep and Gamma bias, median
absolute error and 68 % coverage of the truth (with and without
deconvolution); the KK thickness against exspy's ``kramers_kronig_analysis`` of
the noise-free truth (same cutoff), and the coverage of the truth eps1/eps2 by
the replica bands (3-40 eV); CPU seconds of each step.
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
    a = ap.parse_args(argv)
    warnings.simplefilter("ignore")
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


if __name__ == "__main__":
    main()
