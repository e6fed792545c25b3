"""One road per option: every option of every subcommand is a keyword of the subcommand's API function with the same
name, the CLI sets no default of its own, and the choice lists are the owning modules' lists."""

from __future__ import annotations

import argparse
import inspect

import pytest

import shadowplay.api as api
import shadowplay.debias
from shadowplay import cli
from shadowplay.data import SPLITS
from shadowplay.distributions import LIKELIHOODS
from shadowplay.evaluation import PATHS, RANGE_MODES
from shadowplay.nets import NETS


def _subcommands(parser: argparse.ArgumentParser | None = None, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every command that calls an API function, nested groups (``outliers fit``) included."""
    parser = parser or cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = {}
    for name, p in sub.choices.items():
        nested = any(isinstance(a, argparse._SubParsersAction) for a in p._actions)
        out.update(_subcommands(p, f"{prefix}{name} ") if nested else {f"{prefix}{name}": p})
    return out


SUBCOMMANDS = _subcommands()
# Switches that turn something off: a `--no-X` flag that stores False into the keyword it names. `--no-browser`
# keeps the name issue 13 gives the command line; the Python keyword says what it enables (`open_browser=True`).
NEGATIONS = {"--no-progress": "progress", "--no-browser": "open_browser"}


def test_every_command_calls_an_api_function():
    expected = {"train", "resume", "sample", "reconstruct", "info", "presets", "study", "evaluate", "traverse",
                "interpolate", "report", "explore"}
    assert expected <= set(SUBCOMMANDS)
    for name, p in SUBCOMMANDS.items():
        fn = p.get_default("api")
        owner = shadowplay.debias if name.startswith("debias ") else api  # DB-VAE's functions: sp.debias.*
        assert callable(fn) and getattr(owner, fn.__name__) is fn, name


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_each_option_is_a_same_named_keyword_with_one_default(name):
    p = SUBCOMMANDS[name]
    params = inspect.signature(p.get_default("api")).parameters
    for action in p._actions:
        if isinstance(action, argparse._HelpAction) or action.dest in ("debug", *cli.CLI_ONLY):
            continue
        assert action.dest in params, f"`shadowplay {name}` option {action.option_strings or action.dest} has no " \
                                      f"keyword {action.dest!r} in api.{p.get_default('api').__name__}"
        flag = next((s for s in action.option_strings if s.startswith("--")), None)
        if flag in NEGATIONS:
            assert action.dest == NEGATIONS[flag] and action.const is False, (name, flag, action.dest)
        elif flag is not None:
            assert flag[2:].replace("-", "_").rstrip("_") == action.dest.rstrip("_"), (name, flag, action.dest)
        # the API's default is the only one: an option the user did not type is not passed at all
        assert action.default is argparse.SUPPRESS or action.required, (name, action.dest, action.default)


def test_train_flags_set_the_config_keys_api_train_documents():
    p = SUBCOMMANDS["train"]
    dests = {a.dest for a in p._actions}
    assert set(api.TRAIN_KEYS) <= dests


def test_choice_lists_come_from_their_owners():
    def choices(cmd, dest):
        return next(a.choices for a in SUBCOMMANDS[cmd]._actions if a.dest == dest)
    assert tuple(choices("train", "likelihood")) == ("auto", *LIKELIHOODS)
    assert tuple(choices("train", "net")) == ("auto", *NETS)
    assert tuple(choices("traverse", "mode")) == tuple(RANGE_MODES)
    assert tuple(choices("interpolate", "path")) == tuple(PATHS)
    for cmd in ("traverse", "interpolate", "reconstruct"):
        assert tuple(choices(cmd, "split")) == tuple(SPLITS)
    assert tuple(choices("evaluate", "split")) == tuple(api.EVALUATE_SPLITS) == (*SPLITS, "all")


def test_options_reach_the_api_unchanged(monkeypatch):
    """What the parser hands the API for a typical command line: only what was typed, under the API's names."""
    seen = {}

    def fake_train(config=None, **kw):
        seen.update(kw, config=config)
        raise SystemExit(0)
    monkeypatch.setattr(cli.api, "train", fake_train)
    with pytest.raises(SystemExit):
        cli.main(["train", "--data", "digits", "--tc-weight", "10", "--lr", "3e-4", "--batch-size", "64",
                  "--likelihood", "gaussian", "--deterministic", "--no-progress", "trainer.epochs=2"])
    assert seen == {"config": None, "data": "digits", "tc_weight": 10.0, "lr": 3e-4, "batch_size": 64,
                    "likelihood": "gaussian", "deterministic": True, "progress": False,
                    "overrides": ["trainer.epochs=2"]}
