"""What a training job has produced so far, for the Train tab: the live curves (smoothed steps, looks at
validation images between epochs, validation after each epoch), per-epoch rows, finished models."""
from __future__ import annotations

from dataclasses import dataclass, field

from .training import TrainResult

SMOOTHING = 0.15  # weight of each new step in the exponential moving average the live curves show
ROW_HEADERS = ["arch", "epoch", "train loss", "train acc", "val loss", "val acc", "img/s", "seconds"]


def live_series() -> dict[str, list]:
    """x: epochs (fractional); loss/acc: smoothed training steps; val_*: full validation after each epoch;
    check_*: the looks at 1,000 validation images between epochs."""
    return {k: [] for k in ("x", "loss", "acc", "val_x", "val_loss", "val_acc", "check_x", "check_loss",
                            "check_acc")}


@dataclass
class JobState:
    """What a job has produced so far, for the UI to show: curves, per-epoch rows, finished models."""
    histories: dict[str, list[dict]] = field(default_factory=dict)   # run label -> epoch records
    live: dict[str, dict[str, list]] = field(default_factory=dict)   # run label -> the live curves' series
    rows: list[list] = field(default_factory=list)                  # one per epoch (ROW_HEADERS)
    results: list[tuple[str, TrainResult]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)                  # saved checkpoints, for download
    images_per_sec: float = 0.0
    eta_s: float = 0.0


class RunCurves:
    """One run's part of a JobState, fed with the run's events."""

    def __init__(self, state: JobState, label: str):
        self.state, self.label, self.smooth = state, label, None
        state.histories[label] = []
        self.series = state.live[label] = live_series()

    def step(self, ev: dict) -> tuple[float, float]:
        """A training step: the smoothed (loss, accuracy) now shown."""
        new = (ev["loss"], ev["acc"])
        self.smooth = new if self.smooth is None else tuple(
            (1 - SMOOTHING) * old + SMOOTHING * value for old, value in zip(self.smooth, new))
        self.series["x"].append(ev["epoch"] - 1 + ev["step"] / ev["steps_per_epoch"])
        self.series["loss"].append(self.smooth[0])
        self.series["acc"].append(self.smooth[1])
        return self.smooth

    def check(self, ev: dict) -> None:
        """A look at 1,000 validation images between epochs."""
        self.series["check_x"].append(ev["epoch_float"])
        self.series["check_loss"].append(ev["val_loss"])
        self.series["check_acc"].append(ev["val_acc"])

    def epoch(self, arch: str, ev: dict) -> None:
        """An epoch's end: validation on the curves, a history record and a table row."""
        self.series["val_x"].append(float(ev["epoch"]))
        self.series["val_loss"].append(ev["val_loss"])
        self.series["val_acc"].append(ev["val_acc"])
        self.state.histories[self.label].append(
            {key: ev[key] for key in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")})
        self.state.rows.append([arch, ev["epoch"], round(ev["train_loss"], 4), round(ev["train_acc"], 4),
                                round(ev["val_loss"], 4), round(ev["val_acc"], 4), round(ev["images_per_sec"]),
                                round(ev["epoch_time_s"], 1)])
