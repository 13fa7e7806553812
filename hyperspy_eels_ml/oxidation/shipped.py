"""Shipped oxidation models: the registry, :func:`available_models` and model resolution (SVM/CNN/valence)."""

from __future__ import annotations

import json
import os


from .classifier import OxidationClassifier
from .result import _EDGE_NAMES
from .valence import ValenceModel, valence_model_name


_MODELS_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "models")


def _registry():
    with open(os.path.join(_MODELS_DIR, "registry.json")) as f:
        return [m for m in json.load(f)["models"] if m.get("capability") == "classify_oxidation"]


def available_models():
    """Shipped oxidation-state models.

    Returns
    -------
    list of dict
        One entry per model: ``name``, ``element``, ``edge``, ``model``
        (``"svm"``/``"cnn"``/``"valence"``), ``variants`` (SVM/CNN:
        ``"aligned"`` for any energy calibration, ``"calibrated"`` for absolute
        energies; valence models serve both), ``classes``, the held-out
        synthetic accuracy (or valence error) from the model card, and for the
        valence models ``end_members`` and ``supported_by`` (which end members
        rest on reference spectra and which on priors).
    """
    out = []
    for m in _registry():
        with open(os.path.join(_MODELS_DIR, m["model_card"])) as f:
            card = json.load(f)
        if card.get("model") == "valence":
            from ..simulation.oxidation import white_line_parameters

            sp = white_line_parameters()["species"]
            # a reference only when both the line position and the white-line ratio are measured/literature
            priors = [s for s in card["end_members"]
                      if "prior" in str(sp[s]["L3"][2]) or "prior" in str(sp[s]["ratio"][2])]
            out.append({
                "name": m["name"], "element": card["element"], "edge": card["edge"], "model": "valence",
                "variants": ["any calibration (chemical shift used when calibrated)"],
                "classes": card["compounds"], "end_members": card["end_members"],
                "heldout_accuracy": {"compound_accuracy_pure": card["heldout"]["compound_accuracy_pure"]},
                "heldout_valence_mae": card["heldout"]["valence_mae"], "metals": card.get("metals", True),
                "supported_by": {"references": [s for s in card["end_members"] if s not in priors],
                                 "priors": priors},
            })
            continue
        out.append({
            "name": m["name"], "element": card["element"], "edge": card["edge"], "model": card["model"],
            "variants": sorted(card["variants"]),
            "classes": next(iter(card["variants"].values()))["classes"],
            "heldout_accuracy": {k: v["heldout"]["accuracy"] for k, v in card["variants"].items()},
        })
    return out


def _shipped_path(element, edge, kind, energy_calibrated):
    name = f"{element.lower()}_{edge.lower()}_{kind}"
    reg = {m["name"]: m for m in _registry()}
    if name not in reg:
        have = []
        for m in reg.values():
            el, ed, kd = m["name"].split("_")[:3]
            have.append(f"{el.capitalize()} {_EDGE_NAMES.get(ed.upper(), ed)} ({kd})")
        have = sorted(have)
        raise ValueError(
            f"No shipped {kind.upper()} model for {element} {_EDGE_NAMES.get(edge, edge)}; shipped models: "
            f"{', '.join(have)}. Train one with hyperspy_eels_ml.oxidation.OxidationClassifier and pass it "
            "(or its saved file) as model=."
        )
    variant = "calibrated" if energy_calibrated else "aligned"
    files = [f for f in reg[name]["files"] if f"_{variant}." in f and not f.endswith(".json")]
    if not files:
        raise ValueError(f"The shipped model {name!r} has no {variant!r} variant; use "
                         f"energy_calibrated={not energy_calibrated}.")
    return os.path.join(_MODELS_DIR, files[0]), name, variant


def _load_model_file(path):
    """The classifier saved at ``path``, loaded once per process and per file version.

    Cached by (resolved path, size, mtime_ns): a file overwritten in place is reloaded.
    """
    from .._shared.cache import get_cached_file

    return get_cached_file("oxidation", path, OxidationClassifier.load)


def _resolve_model(model, element, edge, energy_calibrated):
    """-> (classifier, transport, info). ``transport`` is a path (str) or the classifier itself."""
    if isinstance(model, OxidationClassifier):
        if not model.is_fitted:
            raise ValueError("The OxidationClassifier passed as model= is not fitted.")
        clf, transport, info = model, model, {"source": "user OxidationClassifier (in memory)"}
    elif isinstance(model, str | os.PathLike) and str(model) in ("svm", "cnn"):
        if element is None:
            raise ValueError("Give element= (e.g. 'Fe' or 'Mn') to use a shipped model, or list the element in "
                             "metadata.Sample.elements (s.add_elements(['Fe'])).")
        path, name, variant = _shipped_path(element, edge, str(model), bool(energy_calibrated))
        clf, transport = _load_model_file(path), path
        info = {"source": "shipped", "name": name, "variant": variant, "file": os.path.basename(path),
                "sha256": _sha256(path)}
    elif isinstance(model, str | os.PathLike) and str(model).endswith((".npz", ".keras")):
        path = os.fspath(model)
        if not os.path.exists(path):
            raise FileNotFoundError(f"No model file {path!r}.")
        clf, transport = _load_model_file(path), os.path.abspath(path)
        info = {"source": "file", "file": os.path.abspath(path), "sha256": _sha256(path)}
    else:
        raise ValueError(f"Unknown model {model!r}: use 'svm', 'cnn', a fitted OxidationClassifier or the path "
                         "of a saved one (.npz / .keras).")
    sp = clf.spec
    if element is not None and sp.element != element:
        raise ValueError(f"The model classifies {sp.element}, not {element}.")
    if edge is not None and sp.edge != edge:
        raise ValueError(f"The model uses the {_EDGE_NAMES[sp.edge]} edge, not {_EDGE_NAMES[edge]}.")
    if energy_calibrated is not None and bool(energy_calibrated) != sp.energy_calibrated:
        raise ValueError(f"The model was trained with energy_calibrated={sp.energy_calibrated}; "
                         f"energy_calibrated={energy_calibrated} was asked for.")
    info.update(element=sp.element, edge=sp.edge, classes=list(sp.classes), kind=clf.model,
                energy_calibrated=sp.energy_calibrated)
    return clf, transport, info


def _sha256(path):
    from .._shared.cache import file_sha256

    return file_sha256(path)


def _has_valence(element):
    return any(m["name"] == valence_model_name(element) for m in _registry())


def _resolve_valence(model, element, oxides_only=False):
    if isinstance(model, ValenceModel):
        if not model.is_fitted:
            raise ValueError("The ValenceModel passed as model= is not fitted.")
        if element is not None and model.spec_.element != element:
            raise ValueError(f"The model is for {model.spec_.element}, not {element}.")
        return model, model, {"source": "user ValenceModel (in memory)", "element": model.spec_.element,
                              "edge": "L23", "kind": "valence"}
    if element is None:
        raise ValueError("Give element= (e.g. 'Mn', 'Fe' or ['Fe', 'Mn']) to use a shipped model, or list the "
                         "element in metadata.Sample.elements (s.add_elements(['Mn'])).")
    name = valence_model_name(element)
    reg = {m["name"]: m for m in _registry()}
    if oxides_only and name + "_oxide" in reg:
        name += "_oxide"
    if name not in reg:
        have = sorted(m["name"] for m in reg.values() if m["name"].endswith("_valence"))
        raise ValueError(f"No shipped valence model for {element}; shipped: {have}.")
    path = os.path.join(_MODELS_DIR, next(f for f in reg[name]["files"] if f.endswith(".npz")))
    from .._shared.cache import get_cached_file

    vm = get_cached_file("oxidation-valence", path, ValenceModel.load)
    return vm, path, {"source": "shipped", "name": name, "file": os.path.basename(path), "sha256": _sha256(path),
                      "element": element, "edge": "L23", "kind": "valence",
                      "end_members": list(vm.spec_.end_members)}
