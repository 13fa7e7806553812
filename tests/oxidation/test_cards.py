"""Model cards of the shipped classifiers (SVM, CNN; L2,3 and O K) say which white-line table each variant was trained on.

A variant whose recorded L3/L2 ratios differ from ``simulation/data/white_lines.json`` (or that records none) must be
named in ``recipe.white_lines_note`` as ``"<variant> variant: trained ..."`` (issue 13; issue 10 section 3)."""

import glob
import json
import os

import pytest

import hyperspy_eels_ml
from hyperspy_eels_ml.simulation.oxidation import white_line_parameters

MODELS = os.path.join(os.path.dirname(hyperspy_eels_ml.__file__), "models", "oxidation")


def classifier_cards(folder=MODELS):
    cards = []
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        with open(path) as f:
            card = json.load(f)
        if card.get("model") in ("svm", "cnn") and card.get("edge") in ("L23", "OK") and "variants" in card:
            cards.append(card)
    return cards


def stale_variants(card):
    """{variant: reason} for variants not trained on the current table and not declared in the note."""
    current = white_line_parameters()["species"]
    note = card["recipe"].get("white_lines_note", "")
    out = {}
    for name, variant in card["variants"].items():
        table = variant.get("trained", {}).get("white_lines", card["recipe"].get("white_lines"))
        if isinstance(table, dict):
            ratios = {k: r for k, r in table["L3_L2_area_ratio_mean_sigma"].items() if k.startswith(card["element"])}
            differ = sorted(k for k, r in ratios.items() if list(r) != list(current[k]["ratio"][:2]))
            reason = f"ratios differ for {differ}" if differ else ("no ratio of the element" if not ratios else "")
        else:
            reason = "no table recorded"
        if reason and f"{name} variant: trained" not in note:
            out[name] = reason
    return out


def test_there_are_classifier_cards():
    names = {c["name"] for c in classifier_cards()}
    assert {"fe_l23_svm", "mn_l23_svm", "fe_l23_cnn", "fe_ok_svm"} <= names, names


@pytest.mark.parametrize("card", classifier_cards(), ids=lambda c: c["name"])
def test_card_states_the_white_line_table_of_each_variant(card):
    assert stale_variants(card) == {}, (card["name"], card["recipe"].get("white_lines_note"))


def test_retrained_fe_calibrated_svm_records_the_current_fe_ratios():
    with open(os.path.join(MODELS, "fe_l23_svm.json")) as f:
        card = json.load(f)
    table = card["variants"]["calibrated"]["trained"]["white_lines"]["L3_L2_area_ratio_mean_sigma"]
    current = white_line_parameters()["species"]
    assert table["Fe3+"] == current["Fe3+"]["ratio"][:2] and table["Fe2+"] == current["Fe2+"]["ratio"][:2]
    assert card["retrain_check"]["decision"]["calibrated"].startswith("shipped")
