"""Model cards: every preset's card is complete and measured; zoo/CARDS.md is current.

The catalogue is generated once for the module (every preset built, with its twin and Adam), so
the tests that read it are marked slow.
"""

import re

import pytest

from eqzoo import train, zoo
from eqzoo.zoo import cards, catalogue, registry

ALL = zoo.list_models()
EMPTY = {"", "none", "n/a", "nan", "[]", "{}", "()", "``"}


def fields(card):
    """`{field: value}` from a card's two-column table."""
    rows = re.findall(r"^\| (.+?) \| (.*) \|$", card, flags=re.MULTILINE)
    return {field: value for field, value in rows if field not in ("field", "---")}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    path = tmp_path_factory.mktemp("cards") / "CARDS.md"
    assert catalogue.write_catalogue(str(path)) == str(path)
    return path.read_text()


def card_in(text, name):
    return text.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]


@pytest.mark.slow
def test_committed_catalogue_is_current(generated):
    with open(catalogue.CATALOGUE_PATH) as f:
        committed = f.read()
    assert committed == generated, (
        "zoo/CARDS.md is stale: regenerate it with `python -m eqzoo.zoo.catalogue`")
    assert sorted(re.findall(r"^## (\S+)$", generated, flags=re.MULTILINE)) == ALL


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_no_card_has_an_empty_field(generated, name):
    card = fields(card_in(generated, name))
    assert list(card) == list(cards.FIELDS)
    for field, value in card.items():
        assert value.strip().lower() not in EMPTY, f"{name}: {field} is empty"
        assert "nan" not in re.findall(r"[a-z]+", value.lower()), f"{name}: {field}: {value}"


def test_a_card_states_measured_sizes_and_the_shipped_weights():
    card = fields(zoo.model_card("symmetric_mlp_digits"))
    # 9,354 trainable parameters; Adam keeps two slots per parameter.
    assert card["trainable parameters"] == (
        "9,354 against 13,386 for its twin `mlp_digits` (0.70x)")
    assert card["optimizer state (Adam)"].startswith("18,708 slot values, 73.1 KiB in float32, "
                                                     "against 26,772 (104.6 KiB)")
    assert "`block0_symmetric`, `block1_symmetric`" in card["constraint"]
    weights = zoo.get_preset("symmetric_mlp_digits")["metadata"]["weights"]
    for fragment in (weights["sha256"], weights["command"], "test/accuracy 0.9777",
                     "zoo/weights/symmetric_mlp_digits.weights.h5"):
        assert fragment in card["shipped weights"]
    assert card["equivariance error"].startswith("does not apply: a symmetric model")
    assert fields(zoo.model_card("mlp_wine"))["shipped weights"].startswith("none; train with")


def test_an_equivariant_card_names_its_group_and_measures_its_error(monkeypatch):
    card = fields(zoo.model_card("deepsets_set_sum"))
    assert card["symmetry group"].startswith("SymmetricGroup(8), order 40,320; acting on inputs")
    assert card["equivariance error"].startswith("below 1e-05 (float32 round-off)")
    # A preset that claims a group its model does not respect gets the measured, large error.
    fake = zoo.get_preset("mlp_cyclic_signal")
    fake["metadata"].update(constraint="equivariant",
                            equivariance=zoo.get_preset("dihedral_signal_net")["metadata"][
                                "equivariance"])
    monkeypatch.setitem(registry._PRESETS, "mlp_claiming_dihedral", fake)
    error = fields(zoo.model_card("mlp_claiming_dihedral"))["equivariance error"]
    assert float(error.split(":")[0]) > 1e-2, error


def test_cards_of_tied_and_twin_presets_say_what_they_tie_and_why_no_group():
    tied = fields(zoo.model_card("tied_autoencoder_digits_symmetric"))
    assert "`decoder0` = `encoder0`^T" in tied["constraint"]
    assert "also `W = W^T` exactly in `bottleneck_symmetric`" in tied["constraint"]
    twin = fields(zoo.model_card("mlp_set_sum"))
    assert twin["constraint"] == "none: the unconstrained twin of `deepsets_set_sum`"
    assert twin["equivariance error"].startswith("does not apply: an unconstrained twin")


def test_train_py_prints_a_card_and_refuses_unknown_names(capsys):
    assert train.main(["--card", "pairwise_wine"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("## pairwise_wine\n") and "| shipped weights |" in out
    assert train.main(["--card", "pairwise_win"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("train.py: error: Unknown model 'pairwise_win'. Did you mean: "
                          "pairwise_wine") and "\n" not in err


def test_the_command_rewrites_and_checks_the_catalogue(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "CARDS.md"
    stale.write_text("# old\n")
    monkeypatch.setattr(catalogue, "CATALOGUE_PATH", str(stale))
    monkeypatch.setattr(catalogue, "catalogue", lambda: "# new\n")
    assert catalogue.main(["--check"]) == 1
    assert "stale: run python -m eqzoo.zoo.catalogue" in capsys.readouterr().out
    assert catalogue.main([]) == 0  # rewrites it
    assert stale.read_text() == "# new\n" and [p.name for p in tmp_path.iterdir()] == ["CARDS.md"]
    assert catalogue.main(["--check"]) == 0
