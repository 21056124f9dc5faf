"""One declaration per knob (fmnist.config): TrainConfig's fields, the CLI's options, the checks of an app
request and the Train tab's components all come from it."""
import dataclasses

import pytest

from fmnist import caps
from fmnist.cli import _config_from_args, get_args_parser
from fmnist.config import GROUPS, TrainConfig, knobs, ui_knobs
from fmnist.recipes import RECIPES


def test_every_field_of_trainconfig_is_a_declared_knob_in_a_group():
    fields = dataclasses.fields(TrainConfig)
    assert [f.name for f in fields] == list(knobs())
    for f in fields:
        k = knobs()[f.name]
        assert k.default == f.default and k.help and k.group in GROUPS, f.name


def test_the_recipes_set_only_knobs_declared_as_set_by_recipes():
    for recipe in RECIPES.values():
        for name in recipe.fields:
            assert knobs()[name].recipe, (recipe.name, name)


def test_every_knob_is_a_cli_option_and_reaches_the_config():
    """Each numeric knob given on the command line lands in the config; a recipe's knob left out takes the
    recipe's value."""
    parser = get_args_parser()
    for name, k in knobs().items():
        if k.kind not in ("int", "float"):
            continue
        value = (k.lo or 0) + 1 if k.kind == "int" else ((k.lo or 0) + (k.hi or 1)) / 2
        flag = k.flag or "--" + name.replace("_", "-")
        cfg = _config_from_args(parser.parse_args(["train", flag, str(value)]))
        assert getattr(cfg, name) == pytest.approx(value), name
    quick = _config_from_args(parser.parse_args(["train", "--recipe", "quick"]))
    assert (quick.lr, quick.schedule, quick.time_budget_s) == (RECIPES["quick"].fields["lr"], "onecycle", 60.0)
    off = _config_from_args(parser.parse_args(["train", "--bf16", "off", "--widths", "16,32,64", "--no-evaluate-test"]))
    assert (off.bf16, off.widths, off.evaluate_test) == (False, (16, 32, 64), False)


def test_every_labelled_knob_is_checked_in_a_request_and_shown_in_the_train_tab():
    """plan() refuses an out-of-range value of every labelled numeric knob, naming it; the Train tab has a
    component with every labelled knob's label."""
    from fmnist.ui import build_demo

    for name, k in ui_knobs().items():
        if k.kind in ("int", "float") and not k.app_choices:
            with pytest.raises(ValueError, match=k.label.split(" (")[0]):
                caps.plan({name: -1e9}, caps.Caps(100, 55_000))
    with pytest.raises(ValueError, match="knobs only"):
        caps.plan({"weight_decay": 0.1}, caps.Caps(100, 55_000))   # a knob the app does not offer
    demo = build_demo()
    labels = {c.get("props", {}).get("label") for c in demo.config["components"]}
    assert all(k.label in labels for k in ui_knobs().values()), [k.label for k in ui_knobs().values()]
