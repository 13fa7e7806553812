"""No-vacuum t/lambda bias on a simulated long-range coarse SI with symmetric and asymmetric ZLP tails (issue 12).

The SI is the one of ``tests/zlp/test_gain_side.py`` (matched to the dev 16x16 low-loss SI: -36.6..266 eV,
0.3 eV/ch, FWHM 1.52 eV, Si-like plasmon at 16.7 eV, t/lambda 0.25-0.38). The noise-free ZLP's loss side is
multiplied by ``1 + (k - 1) (1 - exp(-E / 1 eV))`` with ``k`` chosen so that the mean loss/gain ratio of the
ZLP over 2-4 eV is ``--ratios`` (1.0: the simulated tails, already slightly asymmetric in the core); Poisson
noise is drawn on the modified expected counts and the truth is ``ln(total / ZLP)`` of those. Per case and
``--vacuum`` choice it prints the median over pixels of (t/lambda estimated - true), the pixels flagged (bit 8,
ZLP tail above the data) and exspy's automatic-threshold log-ratio bias beside it.

    python benchmarks/bench_zlp_gain_side.py                       # 3 seeds x 1.0/1.3/1.6, vacuum none/default
    python benchmarks/bench_zlp_gain_side.py --vacuum none gain_side --seeds 0 --ratios 1.3
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np

KW = dict(energy_offset=-36.6, dispersion=0.3, size=1011, zlp_fwhm=1.52, zlp_asymmetry=0.104, zlp_tail=0.245,
          zlp_tail_width=5.35, zlp_tail_asymmetry=1.0, band_gap=1.1, gap_exponent=1.5, interband=0.2,
          interband_decay=5.0, plasmon_energy=16.7, plasmon_width=4.5, surface_plasmon=0.1, t_lambda=(0.25, 0.38),
          E0=200.0, beta=9.0, counts=4.33e6)


def loss_gain_ratio(zlp, energy, lo=2.0, hi=4.0):
    """Mean over ``lo..hi`` eV of ZLP(E) / ZLP(-E) of the mean of the spectra ``zlp`` (rows)."""
    z = np.asarray(zlp, float).mean(axis=0)
    e = energy[(energy >= lo) & (energy <= hi)]
    return float(np.mean(np.interp(e, energy, z) / np.interp(-e[::-1], energy, z)[::-1]))


def asymmetric_si(n, seed, ratio, kw=KW):
    """(spectra, zlp, inelastic, energy, truth, measured ratio) with the loss/gain ZLP ratio at 2-4 eV = ``ratio``."""
    from scipy.optimize import brentq

    from hyperspy_eels_ml.simulation import low_loss

    b = low_loss(n, rng=seed, noise=False, **kw)
    e = b.energy
    z0, inel = b.zlp.astype(float), b.inelastic.astype(float)
    shape = np.where(e > 0, 1 - np.exp(-np.clip(e, 0, None) / 1.0), 0.0)

    def mod(k):
        return z0 * (1 + (k - 1) * shape)[None, :]

    k = 1.0 if abs(ratio - loss_gain_ratio(z0, e)) < 1e-3 else brentq(
        lambda k: loss_gain_ratio(mod(k), e) - ratio, 0.3, 5.0)
    z = mod(k)
    lam = z + inel
    spectra = np.random.default_rng(10_000 + seed).poisson(lam).astype(float)
    truth = np.log(lam.sum(1) / z.sum(1))
    return spectra, z, inel, e, truth, loss_gain_ratio(z, e)


def _signal(spectra, energy):
    import exspy

    s = exspy.signals.EELSSpectrum(np.asarray(spectra, float))
    ax = s.axes_manager.signal_axes[0]
    ax.name, ax.units, ax.offset, ax.scale, ax.is_binned = "Energy loss", "eV", energy[0], energy[1] - energy[0], True
    return s


def _vacuum_arg(v):
    return None if v == "default" else v


def run(seed, ratio, vacuum, n=32, replicas=20, fit_seed=0):
    import hyperspy_eels_ml  # noqa: F401
    from hyperspy_eels_ml.zlp import subtract_zlp_nn

    spectra, z, inel, e, truth, meas = asymmetric_si(n, seed, ratio)
    s = _signal(spectra, e)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = subtract_zlp_nn(s, vacuum=_vacuum_arg(vacuum), n_replicas=replicas, random_state=fit_seed,
                            show_progressbar=False)
    sec = time.perf_counter() - t0
    tl = np.asarray(r.thickness.data, float)
    flags = np.asarray(r.flags.data)
    row = dict(n=n, seed=seed, ratio=ratio, ratio_measured=round(meas, 3), vacuum=vacuum,
               vacuum_source=r.model.params.get("vacuum_source"), bias=float(np.median(tl - truth)),
               truth=float(np.median(truth)), flagged=int(((flags & 8) != 0).sum()), seconds=round(sec, 1),
               dE1=[round(float(x), 2) for x in r.model.clusters["dE1"]])
    return row


def exspy_bias(seed, ratio, n=32):
    spectra, z, inel, e, truth, _ = asymmetric_si(n, seed, ratio)
    s = _signal(spectra, e)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        th = s.estimate_elastic_scattering_threshold(window=10)
        t = s.estimate_thickness(threshold=th)
    return float(np.nanmedian(np.asarray(t.data, float) - truth))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--ratios", type=float, nargs="*", default=[1.0, 1.3, 1.6])
    ap.add_argument("--vacuum", nargs="*", default=["none", "default"],
                    help="vacuum= values: default (None), none, gain_side")
    ap.add_argument("--replicas", type=int, default=20)
    ap.add_argument("--n", type=int, default=32, help="spectra in the SI")
    ap.add_argument("--no-exspy", action="store_true")
    ap.add_argument("--json", help="append the rows to this JSON-lines file")
    a = ap.parse_args(argv)
    rows = []
    for ratio in a.ratios:
        for seed in a.seeds:
            for v in a.vacuum:
                row = run(seed, ratio, v, n=a.n, replicas=a.replicas)
                if not a.no_exspy and v == a.vacuum[0]:
                    row["exspy_auto_bias"] = exspy_bias(seed, ratio, n=a.n)
                rows.append(row)
                print(json.dumps(row), flush=True)
                if a.json:
                    with open(a.json, "a") as f:
                        f.write(json.dumps(row) + "\n")
    print()
    print(f"{'ratio':>5} {'vacuum':>10} {'bias per seed':>30} {'median |bias|':>13}")
    for ratio in a.ratios:
        for v in a.vacuum:
            b = [r["bias"] for r in rows if r["ratio"] == ratio and r["vacuum"] == v]
            print(f"{ratio:>5.2f} {v:>10} {' '.join(f'{x:+.3f}' for x in b):>30} {np.median(np.abs(b)):>13.3f}")
    for v in a.vacuum:
        b = [r["bias"] for r in rows if r["vacuum"] == v]
        print(f"{'all':>5} {v:>10} {'':>30} {np.median(np.abs(b)):>13.3f}")


if __name__ == "__main__":
    main()
