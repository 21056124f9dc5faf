"""Training presets: ``quick`` (a curve within seconds, a usable model in about a minute), ``fast`` (the
study's accuracy as fast as a CPU allows) and ``study`` (the original recipe).

A recipe is a set of TrainConfig fields; ``config(name, **overrides)`` builds the config, anything given
explicitly winning. ``quick`` and ``fast`` keep the study's AdamW, cross-entropy and augmentations, choose
what the study is silent on for speed (a one-cycle schedule at a higher peak learning rate, a time
budget instead of an epoch count) and **end with an upright phase**: the last part of the run trains
with horizontal flips only, a fresh cosine schedule from a lower rate, because validation and test
images are upright and the study's vertical flips and ±90° rotations are what cost accuracy and time.
That phase departs from the study's recipe, which ``study`` keeps throughout.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .training import TrainConfig


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str                 # one line for the UI and --help
    fields: dict = field(default_factory=dict)

    @property
    def departs_from_study(self) -> bool:
        return bool(self.fields.get("final_phase"))


RECIPES: dict[str, Recipe] = {r.name: r for r in [
    Recipe("quick", "about a minute: a first curve within seconds, a usable model; ends upright (horizontal "
                    "flips only) for its last half",
           dict(epochs=50, schedule="onecycle", lr=3e-3, batch_size=64, time_budget_s=60.0, patience=50,
                final_phase=0.5, final_lr=1e-3, final_augment="upright")),
    Recipe("fast", "about 4 minutes: the study's augmentations and AdamW with a one-cycle schedule at peak lr "
                   "3e-3, then an upright phase (horizontal flips only) for the last 70%",
           dict(epochs=100, schedule="onecycle", lr=3e-3, batch_size=64, time_budget_s=240.0, patience=100,
                final_phase=0.7, final_lr=1e-3, final_augment="upright")),
    Recipe("study", "the original recipe: AdamW at 3e-4, batch 64, up to 100 epochs, flips and ±90° "
                    "rotations throughout (early stopping after 10 epochs without progress)",
           dict(epochs=100, schedule="constant", lr=3e-4, batch_size=64, time_budget_s=None, patience=10,
                final_phase=0.0)),
]}


def config(name: str, **overrides) -> TrainConfig:
    """The TrainConfig of recipe `name`, with `overrides` (any TrainConfig field) on top."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose from {', '.join(RECIPES)}")
    return TrainConfig(**{**RECIPES[name].fields, **overrides})
