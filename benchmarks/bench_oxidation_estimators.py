"""Which valence estimator does not shrink toward the middle? Simulation only (issue 13).

Run::

    python benchmarks/bench_oxidation_estimators.py [--elements Mn Fe Co] [--n 600]

The shipped oxide valence networks output a calibrated posterior mean (E[true | spectrum]);
its slope of predicted on true valence is 0.6-0.8 on held-out simulation, so pure
end members read toward the middle valence. Candidates, all shape only (no calibrated onset),
on the same spectra:

* ``mean``: the shipped network ensemble (posterior mean, its calibrated interval);
* ``nnls``: the NNLS baseline of ``classify_oxidation``'s benchmark (one noise-free reference per end
  member, +-1 eV shift scan, linear residual background);
* ``fit``: a likelihood (least-squares) fit of the spectrum by the simulator's end-member mixture
  with the nuisances free: each end member as a non-negative combination of references at
  several resolutions (0.3-2 eV) and continuum steps (0-2x), a +-1 eV shift scan, a linear
  residual background; the interval is the valence spread over the near-best shifts, scaled to
  68 % coverage on a calibration set (seed 778);
* ``deshrunk``: the network mean with its shrinkage undone, v' = (v - a) / b, where v = a + b
  v_true is fitted on the calibration set (seed 778); interval scaled by 1/b and recalibrated;
* ``deshrunk_clip``: the same, clipped to the end members' valence range;
* ``deshrunk_width``: (a, b) fitted in 4 quantile bins of the ensemble's half-width h and interpolated
  in h (clear spectra shrink less than ambiguous ones, so one (a, b) over-corrects them);
  ``deshrunk_width_clip`` / ``_clip25``: clipped to the range / 0.25 beyond it;
* ``map``: the mode of a binned posterior over the valence (scikit-learn ``MLPClassifier``, 0.1
  valence bins, trained on the recipe's simulations, seed 2024) with its 68 % highest-density set;
  ``map_cal``: the same with the half-width scaled to 68 % coverage on the calibration set;
* ``shipped``: what ``classify_oxidation`` reports now (the model file's estimator).

Sets: ``held-out`` (seed 777, the training ranges, the recipe's prior), ``core_loss`` (another
generator: :func:`hyperspy_eels_ml.simulation.core_loss`, pure valences, 60 spectra each, the
domain-shift check of ``bench_oxidation_transfer.py``; Mn, Fe, Co only), ``clean`` (seed 4243, the
recipe's generator with small nuisances: table spreads x1, no window jitter; unambiguous shapes,
where a de-shrinking estimator must not overshoot). Metrics: slope of predicted on true valence
(1 = no shrinkage), mean absolute error, 68 % interval coverage, means of the pure end members.

Decision rule (simulation only, fixed before any real spectrum was read with a candidate): a slope
within 0.9-1.1 on held-out and clean sets and 68 % coverage within 0.63-0.73, then the lowest
held-out MAE. First round (held-out and core_loss only): ``deshrunk`` alone passed for Mn, Fe and Co.
The clean set then showed it overshooting clear spectra (clean slope 1.09 / 1.06 / 1.33, Ti 1.38; a
pure Ti4+ test spectrum read 4.49), so the half-width-binned variant clipped 0.25 beyond the range
(``deshrunk_width_clip25``) was adopted, and ``train_valence`` keeps it per model and input kind only
where its slope is within 0.9-1.1 on its calibration set and on a clean set of its own (seed 4244,
3,000-spectrum sets; see each card's ``estimator.gate``); elsewhere the posterior mean stays.
Calibration (``fit`` scale, ``deshrunk``) uses seed 778 only; evaluation never enters a choice
of parameters. Real spectra are not used.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _oxide_model(el):
    from hyperspy_eels_ml.oxidation.valence import ValenceModel

    d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hyperspy_eels_ml", "models", "oxidation")
    p = os.path.join(d, f"{el.lower()}_l23_valence_oxide.npz")
    return ValenceModel.load(p if os.path.exists(p) else os.path.join(d, f"{el.lower()}_l23_valence.npz"))


def _shape_only(data):
    sel = ~data["at_boundary"] & ~np.isfinite(data["onset"])
    return {k: v[sel] for k, v in data.items()}


def heldout(el, spec, n, seed):
    from bench_oxidation_transfer import _simulate

    data, vspec, fspec = _simulate(el, spec, n, seed)
    d = _shape_only(data)
    d["vt"] = d["F"] @ np.asarray(vspec.valences)
    return d, fspec


def core_loss_set(el, spec, n=60):
    from bench_oxidation_transfer import E0, VALS
    from hyperspy_eels_ml.oxidation.valence import network_inputs, valence_features
    from hyperspy_eels_ml.simulation import core_loss

    feats, vt = [], []
    for v in VALS[el][1:]:
        b = core_loss(n, [el, "O"], energy_offset=E0[el], dispersion=0.2, size=600, amounts=np.array([1.0, 1.0]),
                      valence={el: v}, rng=9000 + v, artefacts=False, jump_ratio=(0.3, 1.5), counts=(1e3, 1e5))
        f, _, _, atb, fspec = valence_features(b.spectra, b.energy, spec, True)
        feats.append(f[~atb])
        vt.append(np.full((~atb).sum(), float(v)))
    f = np.concatenate(feats)
    return {"feats": f, "X": network_inputs(f, np.full(len(f), np.nan), spec), "vt": np.concatenate(vt)}, fspec


def clean_set(el, spec, n, seed=4243):
    """The recipe's generator with small nuisances (table spreads x1, no window jitter, the table's continuum,
    no dispersion error): spectra whose shape is not ambiguous, where no estimator should move far from truth."""
    from bench_oxidation_transfer import _simulate

    data, vspec, fspec = _simulate(el, spec, n, seed, ALIGN_JITTER=0.0, PARAMETER_SPREAD=1.0,
                                   MULTIPLET_JITTER=(0.1, 0.0), CONTINUUM=(1.0, 1.0), DISPERSION_ERROR=(0.0, 0.0))
    d = _shape_only(data)
    d["vt"] = d["F"] @ np.asarray(vspec.valences)
    return d, fspec


# ----------------------------------------------------------------------------- estimators
def est_mean(model, d, fspec):
    _, v, h = model.predict(d["X"], estimator="posterior_mean")
    return v, h


def est_shipped(model, d, fspec):
    """What classify_oxidation reports: the shipped model's default estimator (its card's 'estimator')."""
    _, v, h = model.predict(d["X"])
    return v, h


def est_nnls(model, d, fspec):
    from hyperspy_eels_ml.oxidation.valence import nnls_baseline, reference_windows

    _, v = nnls_baseline(d["feats"], reference_windows(model.spec_, fspec), model.spec_)
    return v, np.full(len(v), np.nan)


def reference_dictionary(vspec, fspec, resolutions=(0.3, 0.8, 1.4, 2.0), continua=(0.0, 1.0, 2.0)):
    """Noise-free end-member windows at several resolutions and continuum steps: (k, n_variants, n_shape)."""
    from hyperspy_eels_ml.oxidation.preprocess import extract_features
    from hyperspy_eels_ml.simulation.oxidation import white_line_spectra

    out = []
    sp = fspec.replace(anchor_range=(vspec.onset_range[0] - 3, vspec.onset_range[1] + 3))
    for s in vspec.end_members:
        rows = []
        for r in resolutions:
            for c in continua:
                b = white_line_spectra(1, [s], dispersion=0.05, shift=0.0, resolution=r, t_lambda=0.3,
                                       background=None, noise=False, parameter_spread=0.0, continuum=c, rng=0)
                f, _, _, _ = extract_features(b.spectra, b.energy, sp)
                rows.append(f[0] / max(float(np.abs(f[0]).max()), 1e-12))
        out.append(rows)
    return np.array(out)


def fit_mixture(feats, D, valences, shifts=np.arange(-1.0, 1.01, 0.2), step=0.2, n_near=3):
    """Least-squares fit by the end-member dictionary D (k, nv, m) over a shift scan.

    Returns (valence, spread): the best fit's valence and the standard deviation of the
    valences of the ``n_near`` best shifts (the interval's raw width).
    """
    from scipy.optimize import nnls

    n, m = feats.shape
    k, nv, _ = D.shape
    x = np.arange(m) / max(m - 1, 1)
    vals = np.asarray(valences, dtype=np.float64)
    res = np.full((len(shifts), n), np.inf)
    vv = np.full((len(shifts), n), np.nan)
    for j, sh in enumerate(shifts):
        pos = np.arange(m) - sh / step
        R = np.array([[np.interp(pos, np.arange(m), r) for r in Dk] for Dk in D]).reshape(k * nv, m)
        A = np.vstack([R, np.ones(m), x, -np.ones(m), -x]).T
        for i in range(n):
            c, r = nnls(A, feats[i].astype(np.float64))
            w = c[: k * nv].reshape(k, nv).sum(axis=1)
            if w.sum() > 0:
                res[j, i] = r
                vv[j, i] = (w / w.sum()) @ vals
    order = np.argsort(res, axis=0)
    best = vv[order[0], np.arange(n)]
    near = np.take_along_axis(vv, order[:n_near], axis=0)
    return best, np.nanstd(near, axis=0)


class FitEstimator:
    def __init__(self, model, fspec):
        self.D = reference_dictionary(model.spec_, fspec)
        self.vals = model.spec_.valences

    def calibrate(self, d):
        v, s = fit_mixture(d["feats"], self.D, self.vals)
        self.floor = float(np.median(s)) + 0.02
        self.scale = float(np.quantile(np.abs(v - d["vt"]) / (s + self.floor), 0.6827))
        return self

    def __call__(self, model, d, fspec):
        v, s = fit_mixture(d["feats"], self.D, self.vals)
        return v, self.scale * (s + self.floor)


class DeshrunkEstimator:
    def __init__(self, clip=False):
        self.clip = clip

    def calibrate(self, model, d):
        _, v, h = model.predict(d["X"], estimator="posterior_mean")
        self.b, self.a = np.polyfit(d["vt"], v, 1)
        vd = (v - self.a) / self.b
        self.scale = float(np.quantile(np.abs(vd - d["vt"]) / (h / self.b), 0.6827))
        return self

    def __call__(self, model, d, fspec):
        _, v, h = model.predict(d["X"], estimator="posterior_mean")
        vd = (v - self.a) / self.b
        if self.clip:  # the physical range of the end members
            vd = np.clip(vd, min(model.spec_.valences), max(model.spec_.valences))
        return vd, self.scale * h / self.b


class DeshrunkByWidthEstimator:
    """Classical calibration conditional on the ensemble's interval: (a, b) fitted in quantile bins of the
    half-width and interpolated in it (confident spectra are not pulled toward the middle, so they are not pushed
    out either)."""

    def __init__(self, n_bins=4, min_slope=0.3, clip=None):
        self.n_bins, self.min_slope, self.clip = n_bins, min_slope, clip

    def calibrate(self, model, d):
        _, v, h = model.predict(d["X"], estimator="posterior_mean")
        edges = np.quantile(h, np.linspace(0, 1, self.n_bins + 1))
        self.hc, self.a, self.b = [], [], []
        for lo, hi in zip(edges[:-1], edges[1:]):
            r = (h >= lo) & (h <= hi)
            b, a = np.polyfit(d["vt"][r], v[r], 1)
            b = float(np.clip(b, self.min_slope, 1.0))
            a = float(np.mean(v[r]) - b * np.mean(d["vt"][r]))
            self.hc.append(float(np.median(h[r])))
            self.a.append(a)
            self.b.append(b)
        self.scale = 1.0
        vd, hd = self(model, d, None)
        self.scale = float(np.quantile(np.abs(vd - d["vt"]) / hd, 0.6827))
        return self

    def __call__(self, model, d, fspec):
        _, v, h = model.predict(d["X"], estimator="posterior_mean")
        a = np.interp(h, self.hc, self.a)
        b = np.interp(h, self.hc, self.b)
        vd = (v - a) / b
        if self.clip is not None:  # margin (valence units) beyond the end members' range
            vals = model.spec_.valences
            vd = np.clip(vd, min(vals) - self.clip, max(vals) + self.clip)
        return vd, self.scale * h / b


class MapEstimator:
    """Mode of a binned valence posterior (MLPClassifier, fixed seeds) and its 68 % highest-density set."""

    def __init__(self, el, spec, n_train=12000, width=0.1):
        import hyperspy_eels_ml.oxidation.train_valence as T
        from sklearn.neural_network import MLPClassifier

        data, vspec, _ = T.simulate(el, n_train, T.TRAIN_SEED, spec)
        keep = ~data["at_boundary"]
        X, vt = data["X"][keep], data["F"][keep] @ np.asarray(vspec.valences)
        lo, hi = min(vspec.valences), max(vspec.valences)
        self.centres = np.round(np.arange(lo, hi + 1e-9, width), 6)
        y = np.clip(np.round((vt - lo) / width).astype(int), 0, len(self.centres) - 1)
        self.width = width
        self.net = MLPClassifier(hidden_layer_sizes=(64, 32), alpha=1e-4, max_iter=200, early_stopping=True,
                                 n_iter_no_change=10, random_state=0).fit(X, y)

    def posterior(self, X):
        P = np.zeros((len(X), len(self.centres)))
        P[:, self.net.classes_] = self.net.predict_proba(X)
        return P

    def calibrate(self, model, d):
        """Scale the highest-density half-width to 68 % coverage on the calibration set."""
        self.scale = 1.0
        v, h = self(model, d, None)
        self.scale = float(np.quantile(np.abs(v - d["vt"]) / h, 0.6827))
        return self

    def __call__(self, model, d, fspec):
        P = self.posterior(d["X"])
        v = self.centres[P.argmax(axis=1)]
        # 68 % highest-density set -> half its extent around the mode
        order = np.argsort(-P, axis=1)
        cum = np.cumsum(np.take_along_axis(P, order, axis=1), axis=1)
        nk = (cum < 0.6827).sum(axis=1) + 1
        half = np.empty(len(v))
        for i in range(len(v)):
            c = self.centres[order[i, : nk[i]]]
            half[i] = max(np.abs(c - v[i]).max(), 0.5 * self.width)
        return v, getattr(self, "scale", 1.0) * half


def metrics(v, h, vt):
    ok = np.isfinite(v)
    slope = np.polyfit(vt[ok], v[ok], 1)[0]
    mae = float(np.mean(np.abs(v[ok] - vt[ok])))
    cov = float(np.mean(np.abs(v[ok] - vt[ok]) <= h[ok])) if np.isfinite(h).any() else np.nan
    return slope, mae, cov


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--elements", nargs="*", default=["Mn", "Fe", "Co"])
    ap.add_argument("--n", type=int, default=600, help="held-out and calibration spectra per element (before the "
                                                       "shape-only selection)")
    ap.add_argument("--estimators", nargs="*", default=["mean", "nnls", "fit", "deshrunk", "deshrunk_clip",
                                                        "deshrunk_width", "deshrunk_width_clip25", "map", "map_cal",
                                                        "shipped"])
    a = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    import hyperspy_eels_ml  # noqa: F401

    print("| element | estimator | held-out slope | MAE | 68 % cov. | held-out pure end members | core_loss slope | "
          "MAE | 68 % cov. | core_loss mean per valence | clean slope | clean MAE | clean pure end members | CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for el in a.elements:
        model = _oxide_model(el)
        spec = model.spec_
        held, fspec = heldout(el, spec, a.n, 777)
        cal, _ = heldout(el, spec, a.n, 778)
        from bench_oxidation_transfer import VALS

        cl, fspec_c = core_loss_set(el, spec) if el in VALS else (None, None)
        clean, fspec_k = clean_set(el, spec, a.n)
        for name in a.estimators:
            t = time.process_time()
            if name == "mean":
                est = est_mean
            elif name == "shipped":
                est = est_shipped
            elif name == "nnls":
                est = est_nnls
            elif name == "fit":
                est = FitEstimator(model, fspec).calibrate(cal)
            elif name in ("deshrunk", "deshrunk_clip"):
                est = DeshrunkEstimator(clip=name == "deshrunk_clip").calibrate(model, cal)
            elif name == "deshrunk_width":
                est = DeshrunkByWidthEstimator().calibrate(model, cal)
            elif name == "deshrunk_width_clip":
                est = DeshrunkByWidthEstimator(clip=0.0).calibrate(model, cal)
            elif name == "deshrunk_width_clip25":
                est = DeshrunkByWidthEstimator(clip=0.25).calibrate(model, cal)
            elif name == "map":
                est = MapEstimator(el, spec)
            elif name == "map_cal":
                est = MapEstimator(el, spec).calibrate(model, cal)
            else:
                raise SystemExit(f"unknown estimator {name}")
            v1, h1 = est(model, held, fspec)
            if cl is not None:
                v2, h2 = est(model, cl, fspec_c)
                s2, m2, c2 = metrics(v2, h2, cl["vt"])
                per = ", ".join(f"{k:g}: {np.nanmean(v2[cl['vt'] == k]):.2f}" for k in np.unique(cl["vt"]))
            else:
                s2 = m2 = c2 = np.nan
                per = "-"
            v3, _ = est(model, clean, fspec_k)
            pk = clean["F"].max(axis=1) > 0.999
            pc = ", ".join(f"{k:g}: {np.nanmean(v3[pk & (np.abs(clean['vt'] - k) < 1e-6)]):.2f}"
                           for k in spec.valences)
            s3, m3, _ = metrics(v3, np.full(len(v3), np.nan), clean["vt"])
            s1, m1, c1 = metrics(v1, h1, held["vt"])
            pure = held["F"].max(axis=1) > 0.999
            ph = ", ".join(f"{k:g}: {np.nanmean(v1[pure & (np.abs(held['vt'] - k) < 1e-6)]):.2f}"
                           for k in spec.valences)
            print(f"| {el} | {name} | {s1:.2f} | {m1:.2f} | {c1:.2f} | {ph} | {s2:.2f} | {m2:.2f} | {c2:.2f} | "
                  f"{per} | {s3:.2f} | {m3:.2f} | {pc} | {time.process_time() - t:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
