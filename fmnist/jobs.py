"""Server-side rules for training from the app: one job at a time in a first-come queue whose visitors
see their place and the expected wait, caps from the environment (epochs, images, minutes per job),
time estimates from measured speed, stop flags, and the live curves' data."""
from __future__ import annotations

import math
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

from .checkpoints import save_result
from .data import FashionMNIST, make_split
from .training import SCHEDULES, TrainConfig, TrainResult, fit

_STOP_FLAGS: dict[str, threading.Event] = {}
_FLAGS_LOCK = threading.Lock()
OUTPUT_DIR = Path(tempfile.gettempdir()) / "fmnist-app"   # user-trained checkpoints; never checkpoints/
WIDTHS = {"32-64-128": (32, 64, 128), "64-128-256": (64, 128, 256)}  # channels per stage a visitor may pick
DEFAULT_WIDTH = "-".join(map(str, TrainConfig.widths))  # what `train` builds: "32-64-128"


MAX_MINUTES = 10.0  # default wall-clock cap of one job (FMNIST_MAX_TRAIN_MINUTES)


@dataclass(frozen=True)
class Caps:
    max_epochs: int
    max_train_images: int
    max_minutes: float = MAX_MINUTES

    @classmethod
    def from_env(cls) -> "Caps":
        """FMNIST_MAX_EPOCHS (default 100, the study's), FMNIST_MAX_TRAIN_IMAGES (default 55,000: all) and
        FMNIST_MAX_TRAIN_MINUTES (default 10: a job's wall-clock cap, all its architectures together)."""
        return cls(max_epochs=_env_int("FMNIST_MAX_EPOCHS", 100),
                   max_train_images=_env_int("FMNIST_MAX_TRAIN_IMAGES", 55_000),
                   max_minutes=_env_float("FMNIST_MAX_TRAIN_MINUTES", MAX_MINUTES))


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


def _env_float(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if math.isfinite(value) and value > 0 else default


def plan(archs: list[str], epochs: int, lr: float, batch_size: int, augment: list[str], train_images: int,
         seed: int, caps: Caps | None = None, widths: str = DEFAULT_WIDTH, *, schedule: str = "constant",
         minutes: float | None = None, final_phase: float = 0.0, final_lr: float | None = None,
         patience: int | None = None) -> tuple[list[TrainConfig], list[str]]:
    """The configs to run for a request from the UI, clamped to the caps; notes say what was changed.

    widths names the channels per stage, a key of WIDTHS: the default, or the shipped models' (wider, slower).
    minutes is each run's time budget (None: epochs decide); final_phase the share of each run trained
    upright at the end (fmnist.recipes). The job's wall-clock cap is applied when it runs (run_job)."""
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
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, not {schedule!r}")
    if not 0 <= float(final_phase) < 1:
        raise ValueError(f"the upright final phase is a share of the run in [0, 1), not {final_phase}")
    budget = float(minutes) * 60 if minutes else None
    if budget is not None and not (1 <= budget <= 24 * 3600):
        raise ValueError(f"a time budget of {minutes} minutes is outside 1 second..24 hours")
    extra = {} if patience is None else {"patience": int(patience)}
    cfgs = [TrainConfig(arch=a, epochs=max(1, epochs), lr=float(lr), batch_size=int(batch_size),
                        augment=tuple(augment), limit=max(100, train_images) if train_images < 55_000 else None,
                        seed=int(seed), widths=WIDTHS[widths], schedule=schedule, time_budget_s=budget,
                        final_phase=float(final_phase), final_lr=final_lr, log_every=LOG_EVERY,
                        val_checks=VAL_CHECKS, **extra) for a in archs]
    return cfgs, notes


LOG_EVERY = 5    # steps between step events in app jobs: the curves move every second even without bf16
VAL_CHECKS = 3   # looks at 1,000 validation images between epochs, for the live curves


class TrainQueue:
    """One training job at a time for the whole server, first come first served. A waiting visitor holds
    a ticket and can ask for its place and the expected wait: what the running job has left (from its
    own ETA) plus the estimates of the jobs ahead."""

    def __init__(self):
        self._cond = threading.Condition()
        self._tickets: list[dict] = []  # [0] runs once started; the rest wait in order

    def join(self, estimate_s: float) -> dict:
        with self._cond:
            ticket = {"estimate_s": float(estimate_s), "left_s": float(estimate_s), "started": False}
            self._tickets.append(ticket)
            return ticket

    def place(self, ticket: dict) -> int:
        """0: this ticket's job may run (or runs); k: k jobs are ahead of it."""
        with self._cond:
            return self._tickets.index(ticket)

    def wait_s(self, ticket: dict) -> float:
        """Seconds until this ticket's job should start."""
        with self._cond:
            ahead = self._tickets[: self._tickets.index(ticket)]
            return sum(t["left_s"] if t["started"] else t["estimate_s"] for t in ahead)

    def wait_turn(self, ticket: dict, timeout: float) -> bool:
        """Wait up to timeout seconds for this ticket's turn; True once it has come (the job starts)."""
        with self._cond:
            if self._cond.wait_for(lambda: self._tickets.index(ticket) == 0, timeout):
                ticket["started"] = True
                return True
            return False

    def update(self, ticket: dict, left_s: float) -> None:
        """The running job's own estimate of what it has left (its ETA)."""
        with self._cond:
            ticket["left_s"] = max(0.0, float(left_s))

    def leave(self, ticket: dict) -> None:
        """Done, stopped, or given up waiting (a closed tab): the next job may start."""
        with self._cond:
            if ticket in self._tickets:
                self._tickets.remove(ticket)
            self._cond.notify_all()

    def busy(self) -> bool:
        with self._cond:
            return bool(self._tickets)


QUEUE = TrainQueue()
MAX_WAITING = 8  # visitors who wait in QUEUE, seeing their place; more wait in Gradio's own queue

# measured training speed on this server, images/second: (arch, widths, bf16) -> figure; filled from
# real jobs, or by a short measurement when the server is idle
_SPEED: dict[tuple, float] = {}
_SPEED_LOCK = threading.Lock()
_MEASURE_LOCK = threading.Lock()
# what to assume before anything is measured: the slowest architecture at the default width without
# bf16 on this project's CPU is ~700 img/s, wide ~4x slower; estimates say when they are assumed
_ASSUMED = {(32, 64, 128): 700.0, (64, 128, 256): 180.0}


def images_per_second(arch: str, widths: tuple[int, ...], measure: bool = True) -> tuple[float, str]:
    """(training images/second for this architecture and width on this server, where the figure comes
    from): a finished job's, a short measurement (about two seconds, only while no job runs), or an
    assumption."""
    key = _speed_key(arch, widths)
    with _SPEED_LOCK:
        if key in _SPEED:
            return _SPEED[key], "measured here"
    if measure and not QUEUE.busy() and _MEASURE_LOCK.acquire(blocking=False):  # one measurement at a time
        try:
            value = _measure(arch, tuple(widths))
        except Exception:  # no memory, an odd platform...: fall back to the assumption
            value = None
        finally:
            _MEASURE_LOCK.release()
        if value:
            record_speed(arch, widths, value)
            return value, "measured here"
    return _ASSUMED.get(tuple(widths), 180.0), "assumed (not measured yet)"


def record_speed(arch: str, widths: tuple[int, ...], value: float) -> None:
    with _SPEED_LOCK:
        _SPEED[_speed_key(arch, widths)] = float(value)


def _speed_key(arch: str, widths: tuple[int, ...]) -> tuple:
    """Speeds are per architecture, width and precision (bf16 where this machine trains in it)."""
    from .training import bf16_supported, pick_device

    return arch, tuple(widths), bf16_supported(pick_device("auto"))


def _measure(arch: str, widths: tuple[int, ...]) -> float:
    """Images/second of the trainer's own step on random images: 12 steps after 3 to warm up."""
    import torch

    x = torch.randint(0, 256, (64 * 15, 28, 28), dtype=torch.uint8)
    y = torch.randint(0, 10, (64 * 15,))
    from .data import Split

    split = Split(train_images=x, train_labels=y, val_images=x[:64], val_labels=y[:64], test_images=x[:64],
                  test_labels=y[:64], fingerprint="speed")
    cfg = TrainConfig(arch=arch, widths=widths, epochs=1, evaluate_test=False, log_every=1)
    seen = []
    for ev in fit(cfg, split):
        if ev["event"] == "step":
            seen.append((time.perf_counter(), ev["step"]))
    (t0, s0), (t1, s1) = seen[3], seen[-1]
    return (s1 - s0) * 64 / (t1 - t0)


def estimate_seconds(cfgs: list[TrainConfig], caps: Caps | None = None, measure: bool = True) -> tuple[float, list[str]]:
    """How long these runs should take on this server (validation included), capped by the job's time
    cap, and the speeds the estimate used ("simple 3,100 img/s measured here")."""
    caps = caps or Caps.from_env()
    total, used = 0.0, []
    for cfg in cfgs:
        ips, where = images_per_second(cfg.arch, cfg.widths, measure)
        n = cfg.limit or 55_000
        per_epoch = n / ips + cfg.val_size / (4 * ips)  # validation: forward passes only, ~4x faster
        seconds = cfg.epochs * per_epoch
        if cfg.time_budget_s:
            seconds = min(seconds, cfg.time_budget_s + per_epoch / 4)
        total += seconds
        used.append(f"{cfg.arch} {ips:,.0f} img/s {where}")
    return min(total, caps.max_minutes * 60), used



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
    live: dict[str, dict[str, list]] = field(default_factory=dict)   # run label -> the live curves' series
    rows: list[list] = field(default_factory=list)                  # one per epoch, for a table
    results: list[tuple[str, TrainResult]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)                  # saved checkpoints, for download
    images_per_sec: float = 0.0
    eta_s: float = 0.0


SMOOTHING = 0.15  # weight of each new step in the exponential moving average the live curves show


def _live_series() -> dict[str, list]:
    # x: epochs (fractional); loss/acc: smoothed training steps; val_*: full validation after each
    # epoch; check_*: the looks at 1,000 validation images between epochs
    return {k: [] for k in ("x", "loss", "acc", "val_x", "val_loss", "val_acc", "check_x", "check_loss",
                            "check_acc")}


def run_job(cfgs: list[TrainConfig], ds: FashionMNIST, session: str, stop: threading.Event,
            min_interval_s: float = 0.7, caps: Caps | None = None, ticket: dict | None = None,
            update_every_steps: int = 50) -> Iterator[tuple[str, float, str, JobState]]:
    """Train the configs one after another; yields (kind, fraction done, message, state).

    kind is "step" (the live curves grew: at most every `min_interval_s`, and at least every
    `update_every_steps` training steps), "epoch" (state.histories and rows grew) or "model" (a run
    ended, its checkpoint is saved under output_path() and listed in state). The job's wall-clock cap
    (caps.max_minutes) is shared by its runs: a run that reaches its share ends like a stopped one,
    labelled, with its model kept. A set `stop` ends the current run with a partial model and skips
    the rest. Closing the generator stops training. With a queue ticket, the job keeps its ETA there
    for the visitors waiting behind it.
    """
    caps = caps or Caps.from_env()
    state = JobState()
    deadline = time.monotonic() + caps.max_minutes * 60

    def overall(k: int, run_fraction: float) -> float:  # progress of the whole job, not of one run
        return (k + min(1.0, run_fraction)) / len(cfgs)

    for k, cfg in enumerate(cfgs):
        share = (deadline - time.monotonic()) / (len(cfgs) - k)  # the cap, shared by the runs left
        capped = cfg.time_budget_s is None or cfg.time_budget_s > share
        if capped:
            cfg = replace(cfg, time_budget_s=max(1.0, share))
        label = f"{cfg.arch}-{time.strftime('%H%M%S')}"
        state.histories[label] = []
        live = state.live[label] = _live_series()
        split = make_split(ds, cfg.val_size, cfg.seed, cfg.limit)
        last_t, last_step, smooth = float("-inf"), 0, None  # the first step event updates at once
        for ev in fit(cfg, split, stop):
            kind = ev["event"]
            if kind == "step":
                x = ev["epoch"] - 1 + ev["step"] / ev["steps_per_epoch"]
                smooth = (ev["loss"], ev["acc"]) if smooth is None else tuple(
                    (1 - SMOOTHING) * old + SMOOTHING * new for old, new in zip(smooth, (ev["loss"], ev["acc"])))
                live["x"].append(x)
                live["loss"].append(smooth[0])
                live["acc"].append(smooth[1])
                state.images_per_sec, state.eta_s = ev["images_per_sec"], ev["eta_s"] + sum(
                    c.time_budget_s or 0 for c in cfgs[k + 1:])
                if ticket is not None:
                    ticket_left = min(state.eta_s, max(0.0, deadline - time.monotonic()))
                    QUEUE.update(ticket, ticket_left)
                if time.monotonic() - last_t >= min_interval_s or ev["global_step"] - last_step >= update_every_steps:
                    last_t, last_step = time.monotonic(), ev["global_step"]
                    phase = " (upright phase)" if ev.get("phase") == "final" else ""
                    yield "step", overall(k, ev["progress"]), (
                        f"{cfg.arch} ({k + 1}/{len(cfgs)}): epoch {ev['epoch']}/{cfg.epochs}, step {ev['step']}/"
                        f"{ev['steps_per_epoch']}{phase}, loss {smooth[0]:.3f}, {ev['images_per_sec']:,.0f} img/s, "
                        f"ETA {duration(ev['eta_s'])}"), state
            elif kind == "val":
                live["check_x"].append(ev["epoch_float"])
                live["check_loss"].append(ev["val_loss"])
                live["check_acc"].append(ev["val_acc"])
            elif kind == "epoch":
                live["val_x"].append(float(ev["epoch"]))
                live["val_loss"].append(ev["val_loss"])
                live["val_acc"].append(ev["val_acc"])
                state.histories[label].append({key: ev[key] for key in
                                               ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")})
                state.rows.append([cfg.arch, ev["epoch"], round(ev["train_loss"], 4), round(ev["train_acc"], 4),
                                   round(ev["val_loss"], 4), round(ev["val_acc"], 4), round(ev["images_per_sec"]),
                                   round(ev["epoch_time_s"], 1)])
                record_speed(cfg.arch, cfg.widths, ev["images_per_sec"])
                yield "epoch", overall(k, ev["progress"] if "progress" in ev else ev["epoch"] / cfg.epochs), (
                    f"{cfg.arch}: epoch {ev['epoch']} done, validation accuracy {ev['val_acc']:.4f}, "
                    f"ETA {duration(ev['eta_s'])}"), state
            elif kind == "end":
                result = ev["result"]
                if capped and result.status == "time_budget":
                    result.status = "time_cap"  # the server's cap ended it, not the visitor's settings
                name = f"{label} ({result.status})"
                state.files.append(str(save_result(result, output_path(session, label))))
                state.results.append((name, result))
                yield "model", overall(k, 1.0), f"{cfg.arch}: {result.label}", state
        if stop.is_set():
            break


def duration(seconds: float) -> str:
    """'4m 05s', or '1h 12m' from an hour on ('?' where it is not known yet)."""
    if not math.isfinite(seconds):
        return "?"
    s = max(0, int(seconds))
    return f"{s // 3600}h {s % 3600 // 60}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s"
