"""Benchmark of ``s.classify_oxidation()`` with the shipped models.

Usage::

    python benchmarks/bench_oxidation.py                # every shipped model, 100,000-spectrum SI
    python benchmarks/bench_oxidation.py --n-si 250000 --models fe_l23_svm

Prints one table per model variant, all on freshly simulated spectra (seed
``--seed``, neither a training nor a model-card seed):

* held-out accuracy over the classified spectra (edge SNR >= 5; the masked
  fraction is printed) and at typical SNR (>= 10);
* accuracy vs a fixed energy-calibration error of 0, +-2, +-5 eV;
* throughput on this machine (best of ``--repeats``): ``classify_oxidation`` end to end on an eager
  SI of ``--n-si`` spectra (exspy background removal, resampling, alignment,
  model; 0.2 eV/ch, 400 channels), the feature extraction + model alone, and
  the model alone; and the peak RSS of the process.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: kB


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-si", type=int, default=100_000)
    p.add_argument("--n-test", type=int, default=1500)
    p.add_argument("--seed", type=int, default=4242)
    p.add_argument("--models", nargs="*", default=None)
    p.add_argument("--repeats", type=int, default=2, help="timings: best of this many runs")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")

    import numpy as np
    from exspy.signals import EELSSpectrum

    import hyperspy_eels_ml  # noqa: F401
    from hyperspy_eels_ml.oxidation import available_models, classify_oxidation
    from hyperspy_eels_ml.oxidation.shipped import _resolve_model
    from hyperspy_eels_ml.oxidation.train import simulate, simulate_features

    def signal(data, energy, shape=None):
        s = EELSSpectrum(data if shape is None else data.reshape(shape + (-1,)))
        ax = s.axes_manager.signal_axes[0]
        ax.units, ax.scale, ax.offset = "eV", float(energy[1] - energy[0]), float(energy[0])
        return s

    import threadpoolctl

    print(f"threads: {os.cpu_count()} cores, BLAS {threadpoolctl.threadpool_info()[0].get('num_threads')}")
    rows = []
    for m in available_models():
        if args.models and m["name"] not in args.models:
            continue
        if m["model"] == "valence":  # benchmarked by bench_oxidation_real.py (real references) and its cards
            continue
        for variant in m["variants"]:
            cal = variant == "calibrated"
            clf, _, _ = _resolve_model(m["model"], m["element"], m["edge"], cal)
            spec = clf.spec
            F, L, S = simulate_features(spec, args.n_test, args.seed)
            ok = S >= 5
            pred = clf.predict_proba_features(F).argmax(1)
            acc = float(np.mean(pred[ok] == L[ok]))
            typ = S >= 10
            acc_typ = float(np.mean(pred[typ] == L[typ]))
            curve = {}
            for k, sh in enumerate((-5, -2, 0, 2, 5)):
                Fs, Ls, Ss = simulate_features(spec, args.n_test // 3, args.seed + 10 + k, shift=float(sh))
                o = Ss >= 5
                curve[sh] = float(np.mean(clf.predict_proba_features(Fs[o]).argmax(1) == Ls[o]))
            # throughput: an eager SI of n_si spectra at the model's dispersion
            data, energy, _, _ = simulate(spec, 4000, args.seed + 99, dispersions=(spec.dispersion,),
                                          residual_fraction=0.0)[0]
            e_lo = spec.background_range[0] - 2
            i0 = int(np.searchsorted(energy, e_lo))
            data, energy = data[:, i0 : i0 + 400], energy[i0 : i0 + 400]
            reps = int(np.ceil(args.n_si / data.shape[0]))
            big = np.tile(data, (reps, 1))[: args.n_si]
            ny = 250
            s = signal(big[: (args.n_si // ny) * ny], energy, (args.n_si // ny, ny))
            n = s.axes_manager.navigation_size
            kw = dict(model=m["model"], energy_calibrated=cal, show_progressbar=False)
            classify_oxidation(s.inav[:, :8], m["element"], m["edge"], **kw)  # warm-up (imports, model load)
            t_e2e = t_fm = t_m = np.inf
            from hyperspy_eels_ml.oxidation.classifier import prepare_arrays
            from hyperspy_eels_ml.oxidation.preprocess import extract_features

            x, ex = prepare_arrays(big[:50000], energy, spec, True)
            for _ in range(args.repeats):  # best of
                t = time.perf_counter()
                res = classify_oxidation(s, m["element"], m["edge"], **kw)
                t_e2e = min(t_e2e, time.perf_counter() - t)
                t = time.perf_counter()
                f = extract_features(x, ex, spec)[0]
                clf.predict_proba_features(f)
                t_fm = min(t_fm, time.perf_counter() - t)
                t = time.perf_counter()
                clf.predict_proba_features(f)
                t_m = min(t_m, time.perf_counter() - t)
            rows.append((f"{m['name']}/{variant}", len(clf.classes_), acc, float(np.mean(~ok)), acc_typ, curve,
                         n / t_e2e, x.shape[0] / t_fm, x.shape[0] / t_m, peak_rss_gb(), res.masked_fraction))
    print()
    hdr = (f"{'model/variant':<26} {'acc':>6} {'masked':>6} {'acc@SNR>=10':>11} "
           f"{'-5 eV':>6} {'-2 eV':>6} {'0 eV':>6} {'+2 eV':>6} {'+5 eV':>6} "
           f"{'e2e sp/s':>9} {'feat+model':>10} {'model':>9} {'RSS GB':>6}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        name, nc, acc, masked, acc_typ, curve, e2e, fm, mo, rss, _ = r
        print(f"{name:<26} {acc:6.4f} {masked:6.3f} {acc_typ:11.4f} "
              + " ".join(f"{curve[k]:6.3f}" for k in (-5, -2, 0, 2, 5))
              + f" {e2e:9.0f} {fm:10.0f} {mo:9.0f} {rss:6.2f}")
    print("\nacc: held-out accuracy over classified spectra (edge SNR >= 5; 'masked' = fraction below);"
          " shifts: fixed calibration error;\ne2e: classify_oxidation on an eager SI incl. exspy background "
          "removal; feat+model: resampling + alignment + model; model: the classifier alone.")


if __name__ == "__main__":
    main()
