"""Every recipe parses and instantiates; bad keys give a ConfigError naming them."""

from pathlib import Path

import pytest

from speechzoo.errors import ConfigError
from speechzoo.tasks.recipes import make_cli

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


ALL = sorted(RECIPES.glob("*.yaml"))


def test_there_are_recipes():
    assert {"ds2.yaml", "ds2_debug.yaml", "ds2_librispeech.yaml"} <= {p.name for p in ALL}


@pytest.mark.parametrize("recipe", ALL, ids=lambda p: p.name)
def test_recipe_instantiates(recipe):
    cli = make_cli(recipe, subcommand=None)  # fails on any key the classes do not take
    assert sum(p.numel() for p in cli.model.parameters()) > 0


def test_unknown_key_is_a_config_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((RECIPES / "ds2_debug.yaml").read_text().replace("rnn_hidden:", "rnn_hiden:"))
    with pytest.raises(ConfigError, match="rnn_hiden"):
        make_cli(bad, subcommand=None)
    with pytest.raises(ConfigError, match="does not exist"):
        make_cli(tmp_path / "missing.yaml", subcommand=None)


def test_mismatched_alphabet_is_a_config_error():
    with pytest.raises(ConfigError, match="num_classes"):
        make_cli(RECIPES / "ds2_debug.yaml", ["--model.init_args.model.init_args.num_classes",
                                             "30"], subcommand=None)
