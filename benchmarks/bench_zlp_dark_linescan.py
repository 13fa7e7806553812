"""t/lambda bias on simulated line scans matched to the Cr/Fe/Al and LSMO low-loss line scans (issue 12).

The two real line scans read far below exspy's log-ratio (0.410 vs 0.705, 0.457 vs 0.578) and their detector
offset is not constant along the energy axis ("Dark level, checked" in the zlp guide). This script builds, per
file, a simulated line scan on the file's energy axis: the ZLP (Gaussian core + Lorentzian tails) fitted to the
file's mean energy-gain side, each pixel's ZLP area taken from the file (counts within 3 FWHM, gain-side level
removed) and scaled by exp(t/lambda), t/lambda uniform over ``T_LAMBDA``, a Drude plasmon at the file's raw
maximum, no band gap; plus a dark level that is

* ``const``: the file's gain-side level everywhere,
* ``ramp``: linear from the gain-side level at the first channel to the file's far-loss level at the last,
* ``step``: the gain-side level below 0 eV, the far-loss level above 10 eV (linear between),

and noise that is either Poisson (``--noise poisson``) or the file's (``matched``: gain and read noise measured
from second differences of the file's spectra). Per case it prints the median over pixels of (estimated - true)
t/lambda for our default (``subtract_zlp_nn``: gain-side reference, ``dark_level="auto"``), optionally
``vacuum="none"`` and ``dark_level=None``, and exspy's ``estimate_thickness`` with the automatic threshold of
``estimate_elastic_scattering_threshold`` (as ``bench_zlp_real.py`` calls it). The truth is
``ln(total / ZLP)`` of the noise-free counts over the axis.

    python benchmarks/bench_zlp_dark_linescan.py                          # 2 files x 3 darks x 3 seeds, Poisson
    python benchmarks/bench_zlp_dark_linescan.py --noise matched
    python benchmarks/bench_zlp_dark_linescan.py --keys crfeal --variants const --seeds 0 --methods default none

Data: ``$HYPERSPY_EELS_ML_DATA`` or ``../shared/data`` (the two files are read for the axis, the ZLP shape, the
per-pixel ZLP areas and the levels; nothing else of them enters).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: per file: FWHM (eV, from the mean spectrum), read noise (counts) and gain (counts per electron) from second
#: differences, gain-side level (median of the outer gain side, = what dark_level="auto" finds), far-loss level
#: (lowest 10-channel mean of the mean spectrum beyond 150 eV), the raw maximum (plasmon, eV), an assumed
#: Drude width (eV) and the t/lambda range (covering what exspy and we report on the file)
FILES = dict(
    crfeal=dict(fwhm=1.25, rn=43.0, g=1.0, dark=55.5, far=29.0, ep=24.6, gp=10.0, tl=(0.4, 0.8)),
    lsmo=dict(fwhm=1.0, rn=23.0, g=1.7, dark=171.3, far=112.0, ep=28.5, gp=15.0, tl=(0.4, 0.7)),
)

_CACHE = {}


def load(key):
    """(energy, aligned spectra (pixels, channels)) of the real file ``key``."""
    if key not in _CACHE:
        import bench_zlp_real as B

        (case,) = B.cases(B.data_dir(), [key])
        s, _ = case[2]()
        s, _ = B.align(s)
        e = s.axes_manager.signal_axes[0].axis
        _CACHE[key] = (np.asarray(e, float), np.asarray(s.data, float).reshape(-1, e.size))
    return _CACHE[key]


def fit_zlp(key):
    """ZLP shape (zlp_fwhm, zlp_tail, zlp_tail_width of ``low_loss``) fitted to the file's mean gain side."""
    from scipy.optimize import least_squares

    from hyperspy_eels_ml.simulation.low_loss import _zlp_cdf

    f = FILES[key]
    e, data = load(key)
    m, d = data.mean(axis=0), e[1] - e[0]
    sel = (e <= 0.0) & (e > e[0] + 2)

    def res(p):
        mm = np.exp(p[0]) * (_zlp_cdf(e[sel] + d / 2, p[1], 0.0, p[2], p[3]) -
                             _zlp_cdf(e[sel] - d / 2, p[1], 0.0, p[2], p[3])) + f["dark"]
        return (m[sel] - mm) / np.sqrt(np.maximum(mm, 1) + (0.02 * mm) ** 2)

    x0 = [np.log(m.max() * f["fwhm"]), f["fwhm"], 0.05, 1.2 * f["fwhm"]]
    r = least_squares(res, x0, bounds=([0, 0.8 * f["fwhm"], 0, f["fwhm"]], [30, 1.25 * f["fwhm"], 0.9, 30]))
    return dict(zlp_fwhm=float(r.x[1]), zlp_tail=float(r.x[2]), zlp_tail_width=float(r.x[3]))


def dark_profile(key, variant, e):
    f = FILES[key]
    if variant == "const":
        return np.full(e.size, f["dark"])
    if variant == "step":
        return np.interp(e, [0.0, 10.0], [f["dark"], f["far"]])
    if variant == "ramp":
        return f["dark"] + (f["far"] - f["dark"]) * (e - e[0]) / (e[-1] - e[0])
    raise ValueError(variant)


def build(key, seed, variant, noise="poisson"):
    """(spectra, true zlp, energy, true t/lambda, dark profile, zlp shape) of one matched simulated line scan."""
    from hyperspy_eels_ml.simulation import low_loss

    f = FILES[key]
    e, data = load(key)
    z = fit_zlp(key)
    i0 = (data[:, np.abs(e) < 3 * f["fwhm"]] - f["dark"]).sum(axis=1)
    i0 = np.random.default_rng(seed).permutation(i0)
    tl = np.random.default_rng(seed).uniform(*f["tl"], i0.size)
    b = low_loss(i0.size, rng=seed, noise=False, energy_offset=float(e[0]), dispersion=float(e[1] - e[0]),
                 size=e.size, zlp_asymmetry=0.0, zlp_tail_asymmetry=1.0, band_gap=None, interband=0.2,
                 interband_decay=5.0, plasmon_energy=f["ep"], plasmon_width=f["gp"], surface_plasmon=0.1,
                 t_lambda=tl, E0=200.0, beta=10.0, counts=i0 * np.exp(tl), **z)
    zlp = b.zlp.astype(float)
    lam = zlp + b.inelastic.astype(float)
    dark = dark_profile(key, variant, e)
    rng = np.random.default_rng(10_000 + seed)
    if noise == "poisson":
        spectra = rng.poisson(lam + dark[None]).astype(float)
    elif noise == "matched":
        spectra = f["g"] * rng.poisson(lam / f["g"]) + dark[None] + f["rn"] * rng.standard_normal(lam.shape)
    else:
        raise ValueError(noise)
    return spectra, zlp, e, np.log(lam.sum(axis=1) / zlp.sum(axis=1)), dark, z


def _signal(spectra, e):
    import exspy

    s = exspy.signals.EELSSpectrum(np.asarray(spectra, float))
    ax = s.axes_manager.signal_axes[0]
    ax.name, ax.units, ax.offset, ax.scale, ax.is_binned = "Energy loss", "eV", e[0], e[1] - e[0], True
    return s


METHODS = dict(default={}, none=dict(vacuum="none"), nodark=dict(dark_level=None))


def run(key, variant, seed, noise, methods, replicas):
    import bench_zlp_real as B

    import hyperspy_eels_ml  # noqa: F401
    from hyperspy_eels_ml.zlp import subtract_zlp_nn

    spectra, zlp, e, truth, dark, z = build(key, seed, variant, noise)
    s = _signal(spectra, e)
    tx, note, thr = B.exspy_thickness(s)
    row = dict(key=key, variant=variant, noise=noise, seed=seed, truth=float(np.median(truth)),
               exspy_auto_bias=float(np.nanmedian(tx - truth)), exspy_threshold=float(np.median(thr)),
               zlp={k: round(v, 3) for k, v in z.items()})
    for m in methods:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = subtract_zlp_nn(s, n_replicas=replicas, random_state=0, show_progressbar=False, **METHODS[m])
        tl = np.asarray(r.thickness.data, float)
        zint = np.asarray(r.zlp.data, float).sum(axis=-1)
        row[m] = dict(bias=float(np.median(tl - truth)), dark_level=round(r.model.dark_level, 2),
                      zlp_area_error=float(np.median(zint / zlp.sum(axis=1) - 1)),
                      vacuum_source=r.model.params.get("vacuum_source"),
                      flagged=int(((np.asarray(r.flags.data) & 8) != 0).sum()),
                      seconds=round(time.perf_counter() - t0, 1))
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keys", nargs="*", default=list(FILES))
    ap.add_argument("--variants", nargs="*", default=["const", "ramp", "step"])
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--noise", default="poisson", choices=["poisson", "matched"])
    ap.add_argument("--methods", nargs="*", default=["default"], choices=list(METHODS))
    ap.add_argument("--replicas", type=int, default=16)
    ap.add_argument("--json", help="append the rows to this JSON-lines file")
    a = ap.parse_args(argv)
    rows = []
    for key in a.keys:
        for variant in a.variants:
            for seed in a.seeds:
                row = run(key, variant, seed, a.noise, a.methods, a.replicas)
                rows.append(row)
                print(json.dumps(row), flush=True)
                if a.json:
                    with open(a.json, "a") as fh:
                        fh.write(json.dumps(row) + "\n")
    print()
    print(f"{'file':>7} {'dark':>6} {'method':>8} {'bias per seed':>24}")
    for key in a.keys:
        for variant in a.variants:
            sel = [r for r in rows if r["key"] == key and r["variant"] == variant]
            for m in a.methods + ["exspy"]:
                b = [r["exspy_auto_bias"] if m == "exspy" else r[m]["bias"] for r in sel]
                print(f"{key:>7} {variant:>6} {m:>8} {' '.join(f'{x:+.3f}' for x in b):>24}")
    for m in a.methods + ["exspy"]:
        b = [r["exspy_auto_bias"] if m == "exspy" else r[m]["bias"] for r in rows]
        print(f"median |bias| {m}: {np.median(np.abs(b)):.3f}")


if __name__ == "__main__":
    main()
