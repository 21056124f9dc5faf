"""Server-side rules for training from the app: one job at a time, caps from the environment, stop flags."""
from __future__ import annotations

import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from .checkpoints import save_result
from .data import FashionMNIST, make_split
from .training import TrainConfig, TrainResult, fit

TRAIN_LOCK = threading.Lock()          # one training job for the whole server
_STOP_FLAGS: dict[str, threading.Event] = {}
_FLAGS_LOCK = threading.Lock()
OUTPUT_DIR = Path(tempfile.gettempdir()) / "fmnist-app"   # user-trained checkpoints; never checkpoints/
WIDTHS = {"32-64-128": (32, 64, 128), "64-128-256": (64, 128, 256)}  # channels per stage a visitor may pick
DEFAULT_WIDTH = "-".join(map(str, TrainConfig.widths))  # what `train` builds: "32-64-128"


@dataclass(frozen=True)
class Caps:
    max_epochs: int
    max_train_images: int

    @classmethod
    def from_env(cls) -> "Caps":
        """FMNIST_MAX_EPOCHS (default 100, the study's) and FMNIST_MAX_TRAIN_IMAGES (default 55,000: all)."""
        return cls(max_epochs=_env_int("FMNIST_MAX_EPOCHS", 100), max_train_images=_env_int("FMNIST_MAX_TRAIN_IMAGES", 55_000))


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


def plan(archs: list[str], epochs: int, lr: float, batch_size: int, augment: list[str], train_images: int,
         seed: int, caps: Caps | None = None, widths: str = DEFAULT_WIDTH) -> tuple[list[TrainConfig], list[str]]:
    """The configs to run for a request from the UI, clamped to the caps; notes say what was changed.

    widths names the channels per stage, a key of WIDTHS: the default, or the shipped models' (wider, slower)."""
    caps = caps or Caps.from_env()
    notes = []
    epochs, train_images = int(epochs), int(train_images)
    if epochs > caps.max_epochs:
        notes.append(f"epochs capped at {caps.max_epochs} on this server (FMNIST_MAX_EPOCHS)")
        epochs = caps.max_epochs
    if train_images > caps.max_train_images:
        notes.append(f"training images capped at {caps.max_train_images:,} (FMNIST_MAX_TRAIN_IMAGES)")
        train_images = caps.max_train_images
    if not (1e-6 <= float(lr) <= 1.0):
        raise ValueError(f"learning rate {lr} is outside 1e-6..1")
    if int(batch_size) not in (16, 32, 64, 128, 256):
        raise ValueError("batch size must be one of 16, 32, 64, 128, 256")
    if widths not in WIDTHS:
        raise ValueError(f"model width must be one of {', '.join(WIDTHS)} (channels per stage), not {widths!r}")
    cfgs = [TrainConfig(arch=a, epochs=max(1, epochs), lr=float(lr), batch_size=int(batch_size),
                        augment=tuple(augment), limit=max(100, train_images) if train_images < 55_000 else None,
                        seed=int(seed), widths=WIDTHS[widths]) for a in archs]
    return cfgs, notes


def stop_flag(session: str) -> threading.Event:
    with _FLAGS_LOCK:
        _STOP_FLAGS[session] = threading.Event()
        return _STOP_FLAGS[session]


def request_stop(session: str) -> bool:
    """Ask this session's running job to stop at its next step; False when it has none."""
    with _FLAGS_LOCK:
        flag = _STOP_FLAGS.get(session)
    if flag is None:
        return False
    flag.set()
    return True


def release(session: str) -> None:
    with _FLAGS_LOCK:
        _STOP_FLAGS.pop(session, None)


def output_path(session: str, name: str) -> Path:
    """Where a user's trained model is saved for download: a per-session temp folder, never checkpoints/."""
    safe = "".join(ch for ch in session if ch.isalnum())[:32] or "anon"
    folder = OUTPUT_DIR / safe
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.safetensors"


@dataclass
class JobState:
    """What a job has produced so far, for the UI to show: curves, per-epoch rows, finished models."""
    histories: dict[str, list[dict]] = field(default_factory=dict)   # run label -> epoch records
    rows: list[list] = field(default_factory=list)                  # one per epoch, for a table
    results: list[tuple[str, TrainResult]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)                  # saved checkpoints, for download


def run_job(cfgs: list[TrainConfig], ds: FashionMNIST, session: str, stop: threading.Event,
            min_interval_s: float = 0.7) -> Iterator[tuple[str, float, str, JobState]]:
    """Train the configs one after another; yields (kind, fraction done, message, state).

    kind is "step" (at most every `min_interval_s`), "epoch" (state.histories and rows grew) or "model"
    (a run ended, its checkpoint is saved under output_path() and listed in state). A set `stop` ends
    the current run with a partial model and skips the rest. Closing the generator stops training.
    """
    state = JobState()

    def overall(k: int, run_fraction: float) -> float:  # progress of the whole job, not of one run
        return (k + min(1.0, run_fraction)) / len(cfgs)

    for k, cfg in enumerate(cfgs):
        label = f"{cfg.arch}-{time.strftime('%H%M%S')}"
        state.histories[label] = []
        split = make_split(ds, cfg.val_size, cfg.seed, cfg.limit)
        last = 0.0
        for ev in fit(cfg, split, stop):
            kind = ev["event"]
            if kind == "step" and time.monotonic() - last > min_interval_s:
                last = time.monotonic()
                yield "step", overall(k, ev["progress"]), (
                    f"{cfg.arch} ({k + 1}/{len(cfgs)}): epoch {ev['epoch']}/{cfg.epochs}, step {ev['step']}/"
                    f"{ev['steps_per_epoch']}, loss {ev['loss']:.3f}, {ev['images_per_sec']:.0f} img/s, "
                    f"ETA {duration(ev['eta_s'])}"), state
            elif kind == "epoch":
                state.histories[label].append({key: ev[key] for key in
                                               ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")})
                state.rows.append([cfg.arch, ev["epoch"], round(ev["train_loss"], 4), round(ev["train_acc"], 4),
                                   round(ev["val_loss"], 4), round(ev["val_acc"], 4), round(ev["images_per_sec"]),
                                   round(ev["epoch_time_s"], 1)])
                yield "epoch", overall(k, ev["epoch"] / cfg.epochs), (
                    f"{cfg.arch}: epoch {ev['epoch']} done, validation accuracy {ev['val_acc']:.4f}, "
                    f"ETA {duration(ev['eta_s'])}"), state
            elif kind == "end":
                result = ev["result"]
                name = f"{label} ({result.status})"
                state.files.append(str(save_result(result, output_path(session, label))))
                state.results.append((name, result))
                yield "model", overall(k, 1.0), f"{cfg.arch}: {result.label}", state
        if stop.is_set():
            break


def duration(seconds: float) -> str:
    """'4m 05s', or '1h 12m' from an hour on."""
    s = max(0, int(seconds))
    return f"{s // 3600}h {s % 3600 // 60}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s"
