"""Every recipe parses and instantiates; bad keys give a ConfigError naming them."""

from pathlib import Path

import pytest

from speechzoo.cli import main
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
    with pytest.raises(ConfigError, match="rnn_hiden; did you mean rnn_hidden"):
        make_cli(bad, subcommand=None)
    with pytest.raises(ConfigError, match="does not exist"):
        make_cli(tmp_path / "missing.yaml", subcommand=None)


def test_mismatched_alphabet_is_a_config_error():
    with pytest.raises(ConfigError, match="num_classes"):
        make_cli(RECIPES / "ds2_debug.yaml", ["--model.init_args.model.init_args.num_classes",
                                             "30"], subcommand=None)


def _one_line_error(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    out = capsys.readouterr()
    assert "usage" not in out.out + out.err
    (line,) = out.err.strip().splitlines()
    return line


def test_a_typo_in_a_recipe_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text((RECIPES / "ds2_debug.yaml").read_text().replace("rnn_hidden:", "rnn_hiden:"))
    assert _one_line_error(["train", str(bad)], capsys) == (
        f"speechzoo: error: recipe {bad}: unknown key model.init_args.model.init_args.rnn_hiden; "
        f"did you mean rnn_hidden? (speechzoo train {bad} --help lists every key)")
    # in a second --config file, that file is named
    extra = tmp_path / "extra.yaml"
    extra.write_text("trainer:\n  max_stepz: 3\n")
    line = _one_line_error(["test", str(RECIPES / "ds2_debug.yaml"), "--config", str(extra)],
                           capsys)
    assert line.startswith(f"speechzoo: error: recipe {extra}: unknown key trainer.max_stepz; "
                           "did you mean max_steps")
    assert line.endswith(f"(speechzoo test {RECIPES / 'ds2_debug.yaml'} --help lists every key)")


@pytest.mark.parametrize(("typo", "key", "suggestion"), [
    ("--model.init_args.model.init_args.rnn_hiden", "--model.init_args.model.init_args.rnn_hiden",
     "rnn_hidden"),
    ("--model.init_args.lrr", "--model.init_args.lrr", "lr"),
    ("--trainer.max_stepz", "--trainer.max_stepz", "max_steps"),
    ("--trainr.max_steps", "--trainr.max_steps", "trainer"),
    ("--data.init_args.batch_sise", "--data.init_args.batch_sise", "batch_size"),
])
def test_a_typo_on_the_command_line_is_one_line(capsys, typo, key, suggestion):
    line = _one_line_error(["train", str(RECIPES / "ds2_debug.yaml"), typo, "3"], capsys)
    assert line.startswith(f"speechzoo: error: on the command line: unknown key {key}; "
                           f"did you mean {suggestion}")
