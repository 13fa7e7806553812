"""Training data for the element-identification network, on :func:`simulation.core_loss`.

Each training spectrum is produced by the package simulator
(:func:`hyperspy_eels_ml.simulation.core_loss`: dipole cross sections, white
lines, generic fine structure, power-law background, plural scattering, noise,
ground-truth ``present``/``visible`` labels) on a random acquisition window and
dispersion, and then passed through *exactly* the preprocessing of inference
(:func:`~hyperspy_eels_ml.elements.preprocess.preprocess_block`).

Sampling (per group of ``GROUP`` spectra sharing the element pool and axis):

* window start uniform 50-1000 eV (60 %) or 1000-2900 eV, width log-uniform
  100-2000 eV, end <= 3100 eV; dispersion 0.1/0.25/0.5/1/2 eV/ch
  (at most 8000 channels);
* element pool: 2-6 elements with a Major edge in the window, their
  near-coincident partners (``simulation.realism.NEAR_COINCIDENT``), O and C,
  and with probability 0.3 one element whose edges lie outside the window;
  the simulator's compound composition sampler draws the elements present in
  each spectrum (1-4 majors, O in ~2/3, C contamination in ~40 %, partners
  with p 0.5, minors);
* the simulator's realistic defaults for everything else (ELNES, valence
  white lines, axis and dispersion errors, gain/correlated/read noise, dark
  residuals, weak edges, recording artefacts), with the instrument shift
  widened to +-15 eV.

Labels: ``y = visible & assessable``; loss mask ``m = assessable &
not (present & not visible)``: elements that are present but below the
simulator's visibility limit are "ambiguous" (mask 0), never negatives, and
elements that are not assessable in the window are never trained on.
"""

from __future__ import annotations

import argparse
import inspect
import os
import time

import numpy as np

from .preprocess import LABELS, assessable_matrix, major_onsets, preprocess_block

__all__ = ["training_batch", "write_shards", "GROUP", "simulator_options", "REALISM", "FOCUS_3D_L1",
           "FOCUS_COINCIDENCE", "FOCUS_KINDS", "FOCUS_FAR_K", "FOCUS_RE_3D", "parse_mix"]

GROUP = 16
DISPERSIONS = np.array([0.1, 0.25, 0.5, 1.0, 2.0])
DISPERSION_P = np.array([0.1, 0.2, 0.3, 0.3, 0.1])
MAX_CHANNELS = 8000
INSTRUMENT_SHIFT = (-15.0, 15.0)


#: simulator version of the current training phase (``core_loss(realism=...)``): pinned, so that a
#: later change of the simulator's ``"realistic"`` alias cannot change this recipe silently. The
#: phases of the shipped model are listed in its card (``recipe.phases``).
REALISM = "realistic-v2"


def simulator_options(realism=None):
    """Options passed to :func:`core_loss` on top of its defaults.

    The simulator's realistic preset (K-edge ELNES, valence white lines, axis/dispersion errors,
    correlated noise, dark residuals, compound composition, recording artefacts) pinned to a version
    (``realism``, default :data:`REALISM`); only the instrument shift is widened to +-15 eV (the
    range ``identify_elements`` promises without a ZLP).
    """
    from ..simulation.core_loss import core_loss

    params = inspect.signature(core_loss).parameters
    opts = {"instrument_shift": INSTRUMENT_SHIFT}
    if "realism" in params:
        opts["realism"] = REALISM if realism is None else realism
    return opts


#: "focus" groups of the third training phase (``--focus 3d-l1``): the weak L1 edge of a 3d metal
#: (Cr 696, Mn 769, Fe 846, Co 926, Ni 1008, Cu 1097 eV) moved by the instrument shift (+-15 eV) onto
#: a light element's K edge (F 685, Ne 867, Na 1072 eV) made the network call that element (Ne on 19 % of
#: clean simulated O + Fe spectra, mostly at positive shifts). These groups put the 3d metals' L edges in
#: the window with and without those K-edge elements, at the usual (uniform) shifts.
FOCUS_3D_L1 = {"metals": ("Cr", "Mn", "Fe", "Co", "Ni", "Cu"), "k_elements": ("F", "Ne", "Na")}


def _focus_window_elements(rng):
    """Window and element pool of one focus group (see :data:`FOCUS_3D_L1`)."""
    metals = list(FOCUS_3D_L1["metals"])
    m = [str(x) for x in rng.choice(metals, size=int(rng.integers(1, 3)), replace=False)]
    l1 = {"Cr": 696.0, "Mn": 769.0, "Fe": 846.0, "Co": 926.0, "Ni": 1008.0, "Cu": 1097.0}
    hi_need = max(l1[x] for x in m) + 60.0
    s = float(rng.uniform(max(50.0, min(l1[x] for x in m) - 400.0), min(l1[x] for x in m) - 160.0))
    e = min(max(hi_need, s + float(np.exp(rng.uniform(np.log(300.0), np.log(1000.0))))), 3100.0)
    d = float(rng.choice(DISPERSIONS, p=DISPERSION_P))
    while (e - s) / d > MAX_CHANNELS:
        d = float(DISPERSIONS[np.searchsorted(DISPERSIONS, d) + 1])
    size = max(int((e - s) / d), 16)
    els = m + ["O", "C"]
    if rng.random() < 0.5:
        els.append(str(rng.choice(FOCUS_3D_L1["k_elements"])))
    return s, d, size, els


#: "coincidence" focus groups of the fifth training phase (``--focus-kind coincidence``): every pair of the
#: near-coincidence table of the design notes (``shared/notes/element-identification.md`` section 5.1: Major
#: onsets of different elements within 10 eV, 43-1809 eV), the pairs the issue names (La M4,5 / Ni L3, O K /
#: V L2,3 / Sb M4,5, Cu L3 / Pr M5, Ba / La / Ce M4,5 through calibration offsets), the 3d L1 / light K pairs of
#: :data:`FOCUS_3D_L1`, Rb L3 / W M5 / Ta M5 around Si K (1839 eV), and the weak high-energy K edges alone
#: (Na, Mg, Al, Si, P K at 1072-2146 eV). One group is drawn uniformly; the window is placed around the
#: group's closest onset pair (or its K edge; a trailing number: the lower onset of the pair to use, e.g. the
#: M5 edges of Ba / La / Ce instead of their N4,5 edges near 100 eV); the compound sampler then draws which
#: members are present.
FOCUS_COINCIDENCE = (
    # 43-78 eV
    ("Mg", "Mn"), ("Al", "Cu"), ("Fe", "Co"), ("Cu", "Cs"), ("Ni", "Al"), ("Al", "Cs"), ("Mg", "Fe"),
    ("Mn", "Fe"), ("Ni", "Cu"), ("Cr", "Mg"), ("Cr", "Mn"), ("Mg", "Co"), ("Mn", "Co"), ("Co", "Ni"),
    ("Ni", "Cs"),
    # 89-99 eV
    ("La", "Si"), ("Kr", "Ba"), ("Ba", "La"), ("Ba", "Si"), ("Kr", "La"),
    # 110-118 eV
    ("Ce", "Rb"), ("Ce", "Be"), ("Rb", "Be"), ("Be", "Pr"), ("Ce", "Pr"), ("Rb", "Pr"), ("Pr", "Nd"),
    ("Be", "Nd"), ("Ce", "Nd"), ("Rb", "Nd"),
    # 130-141 eV
    ("Eu", "Sr"), ("Sm", "P"), ("P", "Eu"), ("P", "Sr"), ("Sm", "Eu"), ("Sm", "Sr"), ("Eu", "Gd"),
    ("Sr", "Gd"), ("P", "Gd"),
    # 141-168 eV
    ("Y", "Ho"), ("S", "Er"), ("Ho", "S"), ("Y", "S"), ("Tb", "Dy"), ("Dy", "Y"), ("Gd", "Tb"), ("Dy", "Ho"),
    ("Ho", "Er"), ("Y", "Er"),
    # 180-202 eV
    ("Tm", "Zr"), ("Cl", "Nb"), ("Zr", "Yb"), ("Tm", "Yb"), ("Yb", "B"), ("Lu", "Cl"), ("Zr", "B"),
    ("B", "Lu"), ("Lu", "Nb"), ("Tm", "B"),
    # 245-294 eV
    ("Ru", "C"), ("Ar", "Tc"), ("C", "K"),
    # 401-404 eV
    ("N", "Sc"), ("Sc", "Cd"), ("N", "Cd"), ("N", "Sc", "Cd"),
    # 528-575 eV
    ("Te", "Cr"), ("Sb", "O"), ("V", "O"), ("V", "Sb", "O"),
    # 779-931 eV
    ("Cu", "Pr"), ("Co", "Ba"), ("La", "Ni"), ("Ba", "La", 781.0), ("La", "Ce", 832.0), ("Ba", "Ce", 781.0),
    # 3d L1 on light K (FOCUS_3D_L1)
    ("Cr", "F"), ("Fe", "Ne"), ("Cu", "Na"), ("Ni", "Na"), ("Mn", "Ne"), ("Co", "Ne"),
    # 1020-1305 eV
    ("Zn", "Pm"), ("Na", "Sm"), ("Dy", "Mg"),
    # 1550-1839 eV
    ("Rb", "W"), ("Br", "Al"), ("Rb", "W", "Si"), ("Ta", "Si"), ("W", "Si"),
    # weak high-energy K edges alone
    ("Na",), ("Mg",), ("Al",), ("Si",), ("P",),
)


def _group_anchor(group):
    """``(members, lo, hi)`` of a focus group: its element symbols and the closest pair of Major onsets
    (>= 40 eV) of different members (a trailing number in the group: the pair whose lower onset is that
    energy); for a one-element group its highest onset (``lo == hi``)."""
    onsets = major_onsets()
    want = group[-1] if isinstance(group[-1], float) else None
    els = [g for g in group if isinstance(g, str)]
    if len(els) == 1:
        o = float(max(onsets[els[0]]))
        return els, o, o
    best = None
    for i, a in enumerate(els):
        for b in els[i + 1:]:
            for oa in onsets[a]:
                for ob in onsets[b]:
                    lo, hi = min(oa, ob), max(oa, ob)
                    if lo < 40 or (want is not None and abs(lo - want) > 0.5):
                        continue
                    if best is None or hi - lo < best[1] - best[0]:
                        best = (lo, hi)
    return els, float(best[0]), float(best[1])


def _coincidence_window_elements(rng, groups=FOCUS_COINCIDENCE):
    """Window and element pool of one coincidence focus group (see :data:`FOCUS_COINCIDENCE`)."""
    els, lo, hi = _group_anchor(groups[int(rng.integers(len(groups)))])
    s = float(rng.uniform(max(50.0, lo - 350.0), max(50.0, lo - 30.0)))
    w = float(np.exp(rng.uniform(np.log(150.0), np.log(1200.0))))
    e = min(max(s + w, hi + 60.0, s + 100.0), 3100.0)
    s = min(s, e - 100.0)
    d = float(rng.choice(DISPERSIONS, p=DISPERSION_P))
    while (e - s) / d > MAX_CHANNELS:
        d = float(DISPERSIONS[np.searchsorted(DISPERSIONS, d) + 1])
    size = max(int((e - s) / d), 16)
    els = list(els)
    for el in ("O", "C"):
        if el not in els:
            els.append(el)
    return s, d, size, els


#: "3d-oxide" focus groups of the sixth (corrective) phase: :data:`FOCUS_3D_L1` windows with one or two
#: 3d metals + O + C and no light K-edge element (Ne, F, Na never added), so that a 3d L1 edge near Ne K is
#: seen without Ne far more often than with it (the fifth phase learned Ne next to 3d L edges: Ne called
#: on 56 % of clean O + Fe spectra).
def _oxide_window_elements(rng):
    """Window and element pool of one 3d-oxide focus group (a :data:`FOCUS_3D_L1` window, no K element)."""
    s, d, size, els = _focus_window_elements(rng)
    return s, d, size, [e for e in els if e not in FOCUS_3D_L1["k_elements"]]


#: the coincidence groups without the (3d metal, Ne) pairs (sixth phase, ``coincidence-no-ne``).
FOCUS_COINCIDENCE_NO_NE = tuple(g for g in FOCUS_COINCIDENCE if "Ne" not in g)


def _coincidence_no_ne_window_elements(rng):
    """Window and element pool of one coincidence group of :data:`FOCUS_COINCIDENCE_NO_NE`."""
    return _coincidence_window_elements(rng, FOCUS_COINCIDENCE_NO_NE)


#: "far-k" focus groups of the seventh (corrective) phase (issue 11): a weak high-energy K edge (Na 1072,
#: Mg 1305, Al 1560, Si 1839, P 2146 eV) near the far end of a wide window that starts among the light
#: K edges (280-1000 eV, so O K is often the brightest edge, hundreds of eV lower). On simulation the
#: shipped network recalled 35-37 % of the visible Si K edges in such windows against 95-96 % when the
#: window starts near Si K (``benchmarks/bench_identify.py --pairs``), with AUC 0.95-0.96: it ranks them
#: but rarely calls them.
FOCUS_FAR_K = ("Na", "Mg", "Al", "Si", "P")


def _far_k_window_elements(rng):
    """Window and element pool of one far-K focus group (see :data:`FOCUS_FAR_K`)."""
    from .preprocess import HIGH_MARGIN

    el = str(FOCUS_FAR_K[int(rng.integers(len(FOCUS_FAR_K)))])
    on = float(max(major_onsets()[el]))  # the K onset
    s = float(rng.uniform(280.0, min(1000.0, on - 400.0)))
    e = min(on + HIGH_MARGIN + float(np.exp(rng.uniform(np.log(10.0), np.log(350.0)))), 3100.0)
    d = float(rng.choice(DISPERSIONS, p=DISPERSION_P))
    while (e - s) / d > MAX_CHANNELS:
        d = float(DISPERSIONS[np.searchsorted(DISPERSIONS, d) + 1])
    size = max(int((e - s) / d), 16)
    els = [el, "O", "C"]
    if rng.random() < 0.5:  # one more element with a Major edge inside the window
        onsets = major_onsets()
        cand = [x for x in LABELS if x not in els and any(s + 10 <= o <= on - 30 for o in onsets[x])]
        if cand:
            els.append(str(cand[int(rng.integers(len(cand)))]))
    return s, d, size, els


#: "re-3d" focus groups of the seventh phase: a 3d L2,3 edge under the M4,5 white lines of Ba / La / Ce / Pr
#: (La M4,5 832/849 with Ni L3,2 855/872 in half of the groups; Ce M5 883 / Ni, Ba M5 781 / Co L3 779,
#: Pr M5 931 / Cu L3 931 in the other half). The shipped network recalled 9-17 % of the visible Ni next to
#: La M4,5 on simulation (AUC 0.63-0.70; the classical jump test 0.53), with Ni false calls on 5 % of La + O.
FOCUS_RE_3D = (("La", "Ni"), ("Ce", "Ni"), ("Ba", "Co"), ("Pr", "Cu"))


def _re_3d_window_elements(rng):
    """Window and element pool of one re-3d focus group (see :data:`FOCUS_RE_3D`)."""
    g = FOCUS_RE_3D[0] if rng.random() < 0.5 else FOCUS_RE_3D[1 + int(rng.integers(len(FOCUS_RE_3D) - 1))]
    return _coincidence_window_elements(rng, (g,))


#: focus kinds: name -> window/element sampler. ``training_batch(focus_kind=...)`` also takes several
#: names joined by ``+`` (e.g. ``"coincidence-no-ne+3d-oxide"``): each focus group draws one of them uniformly.
FOCUS_KINDS = {
    "3d-l1": _focus_window_elements,
    "coincidence": _coincidence_window_elements,
    "coincidence-no-ne": _coincidence_no_ne_window_elements,
    "3d-oxide": _oxide_window_elements,
    "far-k": _far_k_window_elements,
    "re-3d": _re_3d_window_elements,
}


def _focus_samplers(focus_kind):
    kinds = str(focus_kind).split("+")
    bad = [k for k in kinds if k not in FOCUS_KINDS]
    if bad or not kinds:
        raise ValueError(f"focus_kind must be one of {sorted(FOCUS_KINDS)} or several joined by '+', "
                         f"not {focus_kind!r}")
    return [FOCUS_KINDS[k] for k in kinds]


def parse_mix(text):
    """``"realistic-v3:0.3-3.0,realistic-v2"`` -> per-shard options cycled by shard index.

    Each comma-separated item is ``REALISM`` or ``REALISM:LOW-HIGH`` (white-line strength range); shard ``i``
    uses item ``i % len(items)``. Returns a list of ``(realism, white_line_strength or None)``.
    """
    out = []
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            continue
        realism, _, wl = item.partition(":")
        if wl:
            try:
                lo, hi = (float(v) for v in wl.split("-"))
            except ValueError as exc:
                raise ValueError(f"mix item {item!r}: white-line range must be LOW-HIGH, e.g. 0.3-3.0") from exc
            if not 0 < lo < hi:
                raise ValueError(f"mix item {item!r}: need 0 < LOW < HIGH")
            out.append((realism, (lo, hi)))
        else:
            out.append((realism, None))
    if not out:
        raise ValueError("empty mix")
    return out


def _window(rng):
    lo_start = rng.random() < 0.6
    s = rng.uniform(50.0, 1000.0) if lo_start else rng.uniform(1000.0, 2900.0)
    w = float(np.exp(rng.uniform(np.log(100.0), np.log(2000.0))))
    e = min(s + w, 3100.0)
    if e - s < 100.0:
        s = e - 100.0
    d = float(rng.choice(DISPERSIONS, p=DISPERSION_P))
    while (e - s) / d > MAX_CHANNELS:
        d = float(DISPERSIONS[np.searchsorted(DISPERSIONS, d) + 1])
    size = max(int((e - s) / d), 16)
    return s, d, size


def _partners():
    try:
        from ..simulation.realism import NEAR_COINCIDENT
    except ImportError:  # pragma: no cover - older simulator
        return {}
    out = {}
    for a, b in NEAR_COINCIDENT:
        out.setdefault(a, set()).add(b)
        out.setdefault(b, set()).add(a)
    return out


def _elements(rng, s, e, partners=True):
    """Element pool of one group: 2-6 with a Major edge in the window, their near-coincident partners, O, C,
    and with probability 0.3 one element with edges outside the window. The simulator's compound
    composition sampler then draws which of them are present in each spectrum. ``partners=False`` leaves
    the partners out (the same random draws otherwise: natural compositions, ``bench_identify_edges.py``)."""
    onsets = major_onsets()
    cand = [el for el in LABELS if any(s + 10 <= o <= e - 30 for o in onsets[el])]
    outside = [el for el in LABELS if el not in cand]
    chosen = []
    if cand:
        k = int(rng.integers(2, 7))
        chosen = [str(c) for c in rng.choice(cand, size=min(k, len(cand)), replace=False)]
    if partners:
        table = _partners()
        for el in list(chosen):
            chosen += [p for p in sorted(table.get(el, ())) if p in LABELS and p not in chosen]
    for el in ("O", "C"):
        if el not in chosen:
            chosen.append(el)
    if outside and rng.random() < 0.3:
        chosen.append(str(rng.choice(outside)))
    return chosen


def training_batch(n, rng, options=None, return_counts=False, focus=0.0, focus_kind="3d-l1"):
    """``n`` preprocessed simulated spectra with labels.

    Returns
    -------
    dict
        ``x`` (n, 3072, 3) float16 network input, ``y`` and ``mask`` (n, 80)
        uint8 labels and loss mask, ``present`` (n, 80) uint8, ``assessable``
        (n, 80) uint8, ``lo``/``hi`` window limits (eV), ``counts``,
        ``jump_ratio``.

    ``focus``: fraction of the groups drawn as focus groups (:data:`FOCUS_3D_L1`) instead of the
    general sampling (0 for the first two training phases); ``focus_kind``: a name of
    :data:`FOCUS_KINDS` (``"3d-l1"``: :data:`FOCUS_3D_L1`, ``"coincidence"``: :data:`FOCUS_COINCIDENCE`,
    ``"coincidence-no-ne"``, ``"3d-oxide"``, ``"far-k"``, ``"re-3d"``) or several joined by ``+`` (one drawn uniformly per group;
    a single kind draws no extra random number, so the older shards are reproduced).
    """
    samplers = _focus_samplers(focus_kind)
    from ..simulation.core_loss import core_loss

    rng = np.random.default_rng(rng)
    options = simulator_options() if options is None else options
    xs, ys, ms, ps, as_, los, his, cts, jrs, gs = [], [], [], [], [], [], [], [], [], []
    col = {el: j for j, el in enumerate(LABELS)}
    done = 0
    while done < n:
        m = min(GROUP, n - done)
        if focus and rng.random() < focus:
            f = samplers[0] if len(samplers) == 1 else samplers[int(rng.integers(len(samplers)))]
            s, d, size, els = f(rng)
        else:
            s, d, size = _window(rng)
            els = _elements(rng, s, s + d * size)
        try:
            b = core_loss(m, els, energy_offset=s, dispersion=d, size=size, rng=rng, **options)
        except ValueError:
            continue  # a draw the simulator rejects (e.g. an axis outside its table): draw again
        good = np.all(np.isfinite(b.spectra), axis=1)  # a window with no signal at all gives 0/0
        if not good.all():
            if not good.any():
                continue
            b.spectra, b.visible, b.present = b.spectra[good], b.visible[good], b.present[good]
            b.params = {k: (v[good] if np.ndim(v) and len(v) == m else v) for k, v in b.params.items()}
            m = int(good.sum())
        x, g, lo, hi, _ = preprocess_block(b.spectra, b.energy)
        if return_counts:
            gs.append(g)
        ass = assessable_matrix(lo, hi)
        y = np.zeros((m, len(LABELS)), dtype=bool)
        present = np.zeros_like(y)
        for j, el in enumerate(els):
            c = col[el]
            y[:, c] = b.visible[:, j]
            present[:, c] = b.present[:, j]
        y &= ass
        mask = ass & ~(present & ~y)
        xs.append(x.astype(np.float16))
        ys.append(y)
        ms.append(mask)
        ps.append(present)
        as_.append(ass)
        los.append(lo)
        his.append(hi)
        cts.append(b.params["counts"])
        jrs.append(b.params["jump_ratio"])
        done += m
    perm = rng.permutation(n)
    out = dict(x=np.concatenate(xs), y=np.concatenate(ys), mask=np.concatenate(ms),
               present=np.concatenate(ps), assessable=np.concatenate(as_), lo=np.concatenate(los),
               hi=np.concatenate(his), counts=np.concatenate(cts), jump_ratio=np.concatenate(jrs))
    if return_counts:
        out["counts_grid"] = np.concatenate(gs)
    return {k: (v[perm].astype(np.uint8) if v.dtype == bool else v[perm]) for k, v in out.items()}


def write_shards(out_dir, first, count, shard_size=4096, seed_base=20260101, realism=None, focus=0.0,
                 white_line_strength=None, focus_kind="3d-l1", mix=None):
    """Write shards ``first .. first+count-1`` (``shard_XXXXX.npz``, seed = seed_base + index).

    Existing shards are skipped, so the writer resumes after an interruption.
    ``white_line_strength``: ``(low, high)`` range of the simulator's white-line strength
    (log-uniform; its realistic default is 0.3-1.6), widened in the fourth training phase.
    ``mix``: list of ``(realism, white_line_strength)`` (:func:`parse_mix`); shard ``i`` uses item
    ``i % len(mix)`` instead of ``realism`` / ``white_line_strength`` (fifth phase: v3 and v2 mixed).
    """
    os.makedirs(out_dir, exist_ok=True)

    def options(i):
        r, wl = (realism, white_line_strength) if not mix else mix[i % len(mix)]
        opts = simulator_options(r)
        if wl is not None:
            opts["white_line_strength"] = tuple(float(v) for v in wl)
        return opts

    for i in range(first, first + count):
        path = os.path.join(out_dir, f"shard_{i:05d}.npz")
        if os.path.exists(path):
            continue
        t0 = time.time()
        opts = options(i)
        batch = training_batch(shard_size, seed_base + i, opts, focus=focus, focus_kind=focus_kind)
        tmp = path + ".tmp.npz"
        np.savez(tmp, **batch)
        os.replace(tmp, path)
        print(f"{path}: {shard_size} spectra in {time.time() - t0:.1f} s, options {opts}, focus {focus} "
              f"({focus_kind})", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out_dir")
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--shard-size", type=int, default=4096)
    p.add_argument("--seed-base", type=int, default=20260101)
    p.add_argument("--realism", default=None, help=f"core_loss realism preset (default {REALISM})")
    p.add_argument("--focus", type=float, default=0.0, help="fraction of focus groups (FOCUS_3D_L1)")
    p.add_argument("--white-line-strength", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="white-line strength range of the simulator (default: its own, 0.3-1.6)")
    p.add_argument("--focus-kind", default="3d-l1",
                   help="focus groups: " + ", ".join(FOCUS_KINDS) + " or several joined by '+'")
    p.add_argument("--mix", default=None,
                   help="per-shard realism[:LOW-HIGH white-line strength], comma-separated, cycled by shard index "
                        "(e.g. realistic-v3:0.3-3.0,realistic-v2:0.3-3.0,realistic-v3,realistic-v2)")
    a = p.parse_args(argv)
    write_shards(a.out_dir, a.first, a.count, a.shard_size, a.seed_base, a.realism, a.focus,
                 a.white_line_strength, a.focus_kind, parse_mix(a.mix) if a.mix else None)


if __name__ == "__main__":
    main()
