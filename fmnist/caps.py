"""What a training request from the app may ask for: the server's caps (from the environment, failing
closed) and the checks of every knob a client sends, before a job joins the queue."""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

from . import messages
from .config import FULL_TRAIN, Knob, TrainConfig, ui_knobs

MAX_MINUTES = 10.0  # default wall-clock cap of one job (FMNIST_MAX_TRAIN_MINUTES)
MIN_TRAIN_IMAGES = 10  # one per class
LOG_EVERY = 5    # steps between step events in app jobs: the curves move every second even without bf16
VAL_CHECKS = 3   # looks at 1,000 validation images between epochs, for the live curves
log = logging.getLogger("fmnist.caps")


@dataclass(frozen=True)
class Caps:
    max_epochs: int
    max_train_images: int
    max_minutes: float = MAX_MINUTES
    proxy_hops: int = 0   # trusted reverse proxies in front of the app (X-Forwarded-For entries to skip)

    @classmethod
    def from_env(cls) -> "Caps":
        """FMNIST_MAX_EPOCHS (default 100, the study's), FMNIST_MAX_TRAIN_IMAGES (default 55,000: all),
        FMNIST_MAX_TRAIN_MINUTES (default 10: a job's wall-clock cap, set-up and final evaluation
        included) and FMNIST_TRUSTED_PROXIES (default 1 on a Hugging Face Space, else 0).

        Caps fail closed: a value that cannot be read, or is out of range, is logged by name and the
        strictest value is used instead (1 epoch, 10 images, 0.1 minute, 0 proxies), never the default."""
        on_space = bool(os.environ.get("SPACE_ID"))
        return cls(max_epochs=env_number("FMNIST_MAX_EPOCHS", 100, 1, 1000, integer=True),
                   max_train_images=env_number("FMNIST_MAX_TRAIN_IMAGES", FULL_TRAIN, MIN_TRAIN_IMAGES, FULL_TRAIN,
                                                integer=True),
                   max_minutes=env_number("FMNIST_MAX_TRAIN_MINUTES", MAX_MINUTES, 0.1, 24 * 60),
                   proxy_hops=env_number("FMNIST_TRUSTED_PROXIES", 1 if on_space else 0, 0, 5, integer=True,
                                          strictest=0))


def env_number(name: str, default: float, lo: float, hi: float, integer: bool = False,
               strictest: float | None = None):
    """An environment cap: unset -> default; readable and in [lo, hi] -> its value (a whole number
    where integer, "5.0" included); anything else -> the strictest value (lo unless given), logged."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
        ok = math.isfinite(value) and lo <= value <= hi and (not integer or value == int(value))
    except ValueError:
        ok = False
    if ok:
        return int(value) if integer else value
    strict = lo if strictest is None else strictest
    log.error("%s=%r is not a valid value (%s %g..%g): using the strictest, %g", name, raw,
              "a whole number in" if integer else "a number in", lo, hi, strict)
    return int(strict) if integer else float(strict)


def check_number(name: str, value, lo: float, hi: float, integer: bool = False):
    """A knob's value from a client (any JSON): a finite number in [lo, hi] (a whole one where integer),
    else ValueError naming the knob."""
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        raise ValueError(f"{name}: a number is needed" + (" (the field is empty)" if value is None else ""))
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name}: {str(value)[:40]!r} is not a number") from None
    if not math.isfinite(x) or not lo <= x <= hi:
        raise ValueError(f"{name} must be between {lo:g} and {hi:g}, not {str(value)[:40]}")
    if integer:
        if x != int(x):
            raise ValueError(f"{name} must be a whole number, not {value}")
        return int(x)
    return x


def check(k: Knob, value):
    """One knob's value as the Train tab (or any client) sends it -> the config's value; ValueError, with
    a message for the visitor naming the knob, for anything else."""
    from .augment import OPS

    name = k.label or k.name
    if k.kind == "choice":
        allowed = k.allowed()
        if not isinstance(value, str) or value not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {str(value)[:40]!r}")
        return value
    if k.kind == "ops":
        if value is None:
            return ()
        if not isinstance(value, (list, tuple)) or any(not isinstance(a, str) or a not in OPS for a in value):
            raise ValueError(f"{name} must be among {', '.join(OPS)}, not {str(value)[:60]}")
        return tuple(value)
    if k.app_choices is not None:
        values = [v for _, v in k.app_choices]
        if k.kind in ("int", "float"):
            value = check_number(name, value, k.lo, k.hi, integer=k.kind == "int")
        if isinstance(value, bool) or value not in values:
            raise ValueError(f"{name} must be one of {', '.join(map(str, values))}, not {str(value)[:40]!r}")
        return k.parse(value)
    if k.optional and not value:
        return None
    lo, hi = k.lo / k.ui_scale, k.hi / k.ui_scale
    x = check_number(name, value, lo, hi, integer=k.kind == "int")
    return x * k.ui_scale if k.ui_scale != 1.0 else x


def plan(request: dict, caps: Caps | None = None) -> tuple[list[TrainConfig], list[str]]:
    """The configs to run for a request from the Train tab (its knobs by TrainConfig field name, in the
    tab's units; `arch` may be a list: one run each), clamped to the caps; notes say what was changed.

    Every value is checked here, before a job joins the queue (a client may send any JSON): a missing,
    non-numeric or out-of-range value raises ValueError with a message for the visitor. A knob left out
    takes TrainConfig's default, as does None for a knob that is not `required`. The job's wall-clock cap
    is applied when it runs (jobs.run_job)."""
    caps = caps or Caps.from_env()
    spec = ui_knobs()
    if not isinstance(request, dict) or set(request) - set(spec):
        raise ValueError(f"a training request names these knobs only: {', '.join(spec)}")
    archs = request.get("arch", spec["arch"].default)
    archs = list(archs) if isinstance(archs, (list, tuple)) and archs else [archs]
    given = {name: v for name, v in request.items() if v is not None or spec[name].required}
    values = {name: check(k, given[name]) for name, k in spec.items() if name in given and name != "arch"}
    archs = [check(spec["arch"], a) for a in archs]
    notes = []
    if values.get("epochs", TrainConfig.epochs) > caps.max_epochs:
        notes.append(messages.capped("epochs", caps.max_epochs, "FMNIST_MAX_EPOCHS"))
        values["epochs"] = caps.max_epochs
    images = values.get("limit") or FULL_TRAIN
    if images > caps.max_train_images:
        notes.append(messages.capped("training images", caps.max_train_images, "FMNIST_MAX_TRAIN_IMAGES"))
        images = caps.max_train_images
    if images < min(100, caps.max_train_images):
        notes.append(messages.raised_images(min(100, caps.max_train_images)))
        images = min(100, caps.max_train_images)
    values["limit"] = images if images < FULL_TRAIN else None
    if values.get("time_budget_s") is not None and values["time_budget_s"] < 1:
        raise ValueError(f"a time budget of {values['time_budget_s']:g} seconds is under a second")
    cfgs = [TrainConfig(**{**values, "arch": a, "log_every": LOG_EVERY, "val_checks": VAL_CHECKS}) for a in archs]
    return cfgs, notes
