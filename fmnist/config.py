"""Every training knob declared once, as a field of `TrainConfig`: its type, range or choices, default,
help, group, whether the recipes set it, and how the Train tab shows it.

The CLI's options (`fmnist.cli`), the checks of an app request (`fmnist.jobs.plan`) and the Train tab's
components (`fmnist.ui.train`) are built from these declarations, so a new knob is one `knob(...)` line
here (plus its use in training): `label=` puts it in the Train tab, `recipe=True` lets the recipes set it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable

SCHEDULES = ("constant", "cosine", "onecycle")  # the names training.lr_factor knows
FULL_TRAIN = 55_000  # training images once the 5,000 validation images are carved out of the 60,000
GROUPS = {"study": "the study's recipe and model", "schedule": "schedule and regularisation",
          "drawings": "drawings", "hardware": "hardware", "app": "runs, checks and the app"}


@dataclass(frozen=True)
class Knob:
    """How one TrainConfig field is declared, checked and shown.

    kind: int | float | str | choice | ops (augmentations) | widths | flag (a bool) | switch (auto/on/off).
    lo, hi: a number's range, for requests and the CLI. choices: allowed values everywhere (a callable is
    asked when needed, e.g. the model registry); app_choices: what an app request may pick (the server's
    cost), as (label, value) pairs. optional: None is a value (the CLI's default; 0 in the app means None).
    recipe: the recipes (fmnist.recipes) set it, so its CLI option defaults to the recipe's value.
    label: shown in the Train tab with this label, as `widget` (slider | number | dropdown | radio |
    checkboxes); ui_scale: the tab's value x ui_scale is the config's (minutes -> seconds). required: an
    app request that sends None for it is refused (the others take their default)."""
    default: Any
    help: str
    group: str
    kind: str = "float"
    lo: float | None = None
    hi: float | None = None
    choices: tuple | Callable[[], tuple] | None = None
    app_choices: tuple[tuple[str, Any], ...] | None = None
    optional: bool = False
    recipe: bool = False
    flag: str | None = None          # the CLI option's name, where it is not --field-name
    label: str | None = None
    required: bool = False           # an app request must give it (None is refused); others: None -> default
    widget: str = "number"
    step: float | None = None
    ui_scale: float = 1.0
    name: str = ""                   # the field's name, filled in by `knobs()`

    def allowed(self) -> tuple | None:
        return self.choices() if callable(self.choices) else self.choices

    def parse(self, value):
        """A value written as text (the CLI) or sent by the app, as the config holds it."""
        if self.kind == "widths" and isinstance(value, str):
            return tuple(int(v) for v in value.replace("-", ",").split(",") if v)
        if self.kind == "switch" and isinstance(value, str):
            return {"auto": "auto", "on": True, "off": False}[value]
        return value

    def show(self, value):
        """A config's value as the Train tab shows it."""
        if self.kind == "widths":
            return "-".join(map(str, value))
        if self.ui_scale != 1.0:
            return round(value / self.ui_scale, 2) if value else 0
        return value


def knob(default, help: str, group: str, **spec) -> Any:
    """A TrainConfig field declared with its Knob."""
    return field(default=default, metadata={"knob": Knob(default, help, group, **spec)})


def _architectures() -> tuple[str, ...]:
    from .models import list_models

    return tuple(list_models())


AUGMENTATIONS = (("horizontal flip", "hflip"), ("vertical flip", "vflip"), ("rotation ±90°", "rotate90"))
WIDTHS = (("32-64-128 (standard)", "32-64-128"),
          ("64-128-256 (the shipped models' width, ~2.5x slower per epoch)", "64-128-256"))


@dataclass
class TrainConfig:
    """Defaults are the original study's recipe; the options it is silent on default to the plain choice."""

    # --- the study's recipe and model
    arch: str = knob("simple", "architecture", "study", kind="choice", choices=_architectures,
                     label="architecture", widget="radio", required=True)
    epochs: int = knob(100, 'study: "up to 100 epochs"; early stopping usually ends sooner', "study",
                       kind="int", lo=1, hi=10_000, recipe=True, label="epochs (max)", widget="slider", step=1, required=True)
    lr: float = knob(3e-4, "peak learning rate of AdamW; study: 3e-4", "study", lo=1e-6, hi=1.0, recipe=True,
                     label="peak learning rate (AdamW)", required=True)
    batch_size: int = knob(64, "study: 64", "study", kind="int", lo=1, hi=4096, recipe=True,
                           app_choices=tuple((str(b), b) for b in (16, 32, 64, 128, 256)),
                           label="batch size", widget="dropdown", required=True)
    augment: str | tuple[str, ...] = knob(
        "seed", "preset (seed, none, upright, strong) or comma-separated ops (hflip,vflip,rotate90,translate2,"
        "erase); study: seed (flips and ±90° rotations)", "study", kind="ops", app_choices=AUGMENTATIONS,
        label="augmentations", widget="checkboxes")
    limit: int | None = knob(None, "use only this many training images (quick runs)", "study", kind="int", lo=1,
                             hi=10**9, optional=True, widget="slider", step=100,
                             label="training images (fewer = quicker)", required=True)
    seed: int = knob(0, "random seed (split, initialisation, batches)", "study", kind="int", lo=0, hi=2**32 - 1,
                     label="seed", required=True)
    widths: tuple[int, ...] = knob((32, 64, 128), "channels per stage, e.g. 32,64,128", "study", kind="widths",
                                   app_choices=WIDTHS, label="model width (channels per stage)", widget="radio")
    val_size: int = knob(5000, "validation images, stratified, carved from the 60,000 training images", "study",
                         kind="int", lo=100, hi=30_000)

    # --- schedule and regularisation
    schedule: str = knob("constant", "learning-rate schedule (the study does not say: constant)", "schedule",
                         kind="choice", choices=SCHEDULES, recipe=True, label="schedule", widget="dropdown")
    time_budget_s: float | None = knob(
        None, "stop after this many seconds of training; schedules follow the clock (0: none)", "schedule",
        lo=0, hi=24 * 3600, optional=True, recipe=True, flag="--time-budget", ui_scale=60.0,
        label="time budget per architecture, minutes (0: epochs decide)")
    final_phase: float = knob(
        0.0, "share of the run, at its end, trained with final_augment and a fresh cosine from final_lr: an "
        "upright phase (fmnist.recipes); study: 0", "schedule", lo=0, hi=0.95, recipe=True, widget="slider",
        step=0.05, label="upright final phase (share of the run with horizontal flips only; 0 = the study's "
                         "augmentations throughout)")
    warmup_epochs: float = knob(0.0, "linear warm-up for cosine, in epochs", "schedule", lo=0, hi=1000)
    weight_decay: float = knob(0.01, "AdamW's weight decay (its own default; the study does not say)", "schedule",
                               lo=0, hi=1)
    label_smoothing: float = knob(0.0, "label smoothing of the cross-entropy", "schedule", lo=0, hi=0.5)
    dropout: float = knob(0.2, "dropout before the classifier", "schedule", lo=0, hi=0.9)
    ema: float = knob(0.0, "weight-averaging decay, e.g. 0.999 (0: off)", "schedule", lo=0, hi=0.99999)
    patience: int = knob(10, "early stopping: epochs without a better validation accuracy", "schedule",
                         kind="int", lo=1, hi=10_000, recipe=True)
    final_lr: float | None = knob(None, "the final phase's first learning rate (default lr / 3)", "schedule",
                                  lo=1e-7, hi=1.0, optional=True, recipe=True)
    final_augment: str | tuple[str, ...] = knob("upright", "the final phase's augmentations", "schedule",
                                                kind="ops", recipe=True)

    # --- drawings
    drawings: float = knob(0.0, "fraction of each batch shown as drawings of the same images "
                                "(fmnist.sketches); the study has none: 0", "drawings", lo=0, hi=1)
    pictures: float = knob(0.0, "fraction of each batch shown as pictures of the same images in other styles "
                                "(pictograms, bold line art, flat cartoons, thin lines, drop shadows: "
                                "fmnist.sketches.pictures); study: 0", "drawings", lo=0, hi=1)
    outliers: float = knob(0.0, "fraction of each batch shown as non-garments (made-up objects in every picture "
                                "style, mouse doodles, textures), trained towards no class (outlier exposure); "
                                "study: 0", "drawings", lo=0, hi=1)

    # --- hardware
    device: str = knob("auto", "auto, cpu, cuda or mps", "hardware", kind="str")
    bf16: str | bool = knob("auto", "bf16 autocast (auto: where the hardware supports it)", "hardware",
                            kind="switch")
    channels_last: str | bool = knob("auto", "channels-last memory layout (auto: with bf16)", "hardware",
                                     kind="switch")
    fused: str | bool = knob("auto", "the CPU training kernels of fmnist.accel (auto: CPU, bf16, a C compiler; "
                                     "FMNIST_FUSED=0/1 overrides)", "hardware", kind="switch")

    # --- runs, checks and the app
    log_every: int = knob(20, "steps between step events", "app", kind="int", lo=1, hi=100_000)
    val_checks: int = knob(0, "extra validations per epoch on val_check_size images (live curves; never used "
                              "to pick the best epoch)", "app", kind="int", lo=0, hi=100)
    val_check_size: int = knob(1000, "images in each extra validation", "app", kind="int", lo=10, hi=30_000)
    evaluate_test: bool = knob(True, "report test metrics at the end (never used for model selection)", "app",
                               kind="flag")
    data_dir: str | None = knob(None, "folder with the Fashion-MNIST files (else $FMNIST_DATA, ...)", "app",
                                kind="str", optional=True)
    resume: str | None = knob(None, "checkpoint to continue training from (weights, history, epoch counter)",
                              "app", kind="str", optional=True)
    restart_schedule: bool = knob(False, "with resume: a fresh learning-rate schedule over this run (a warm "
                                         "restart, SGDR)", "app", kind="flag")
    best_of_this_run: bool = knob(False, "with resume: the best epoch is one of this run's, not of the whole "
                                         "history (a round with other data)", "app", kind="flag")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        for key in ("augment", "final_augment"):
            if not isinstance(d[key], str):
                d[key] = list(d[key])
        return d


def knobs() -> dict[str, Knob]:
    """Every knob by field name, in TrainConfig's order."""
    from dataclasses import replace

    return {f.name: replace(f.metadata["knob"], name=f.name) for f in fields(TrainConfig)}


def ui_knobs() -> dict[str, Knob]:
    """The knobs the Train tab shows, in its order."""
    return {name: k for name, k in knobs().items() if k.label}
