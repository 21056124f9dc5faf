"""Server-side rules for training from the app: one job at a time in a first-come queue whose visitors
see their place and the expected wait, caps from the environment (epochs, images, minutes per job),
time estimates from measured speed, stop flags, and the live curves' data."""
from __future__ import annotations

import logging
import math
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

import torch

from .checkpoints import save_result
from .data import FashionMNIST, make_split
from .training import SCHEDULES, TrainConfig, TrainResult, fit

OUTPUT_DIR = Path(tempfile.gettempdir()) / "fmnist-app"   # user-trained checkpoints; never checkpoints/
WIDTHS = {"32-64-128": (32, 64, 128), "64-128-256": (64, 128, 256)}  # channels per stage a visitor may pick
DEFAULT_WIDTH = "-".join(map(str, TrainConfig.widths))  # what `train` builds: "32-64-128"


MAX_MINUTES = 10.0  # default wall-clock cap of one job (FMNIST_MAX_TRAIN_MINUTES)
FULL_TRAIN = 55_000  # training images once the 5,000 validation images are carved out of the 60,000
MIN_TRAIN_IMAGES = 10  # one per class
# torch threads of a training job: all the cores (the count at start-up). torch's setting is per calling
# thread and Gradio steps a job's generator from whichever worker thread is free, so it is set again
# before every step (_with_threads); image requests use fewer (fmnist.serving).
TRAIN_THREADS = torch.get_num_threads()
log = logging.getLogger("fmnist.jobs")


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


def plan(archs: list[str], epochs: int, lr: float, batch_size: int, augment: list[str], train_images: int,
         seed: int, caps: Caps | None = None, widths: str = DEFAULT_WIDTH, *, schedule: str = "constant",
         minutes: float | None = None, final_phase: float = 0.0, final_lr: float | None = None,
         patience: int | None = None) -> tuple[list[TrainConfig], list[str]]:
    """The configs to run for a request from the UI, clamped to the caps; notes say what was changed.

    Every value is checked here, before a job joins the queue (a client may send any JSON): a missing,
    non-numeric or out-of-range value raises ValueError with a message for the visitor.
    widths names the channels per stage, a key of WIDTHS: the default, or the shipped models' (wider, slower).
    minutes is each run's time budget (None or 0: epochs decide); final_phase the share of each run
    trained upright at the end (fmnist.recipes). The job's wall-clock cap is applied when it runs (run_job)."""
    from .augment import OPS
    from .models import list_models

    caps = caps or Caps.from_env()
    notes = []
    if not isinstance(archs, (list, tuple)) or not archs or any(a not in list_models() for a in archs):
        raise ValueError(f"architecture must be one of {', '.join(list_models())}")
    epochs = _number("epochs", epochs, 1, 10_000, integer=True)
    train_images = _number("training images", train_images, 1, 10**9, integer=True)
    lr = _number("learning rate", lr, 1e-6, 1.0)
    batch_size = _number("batch size", batch_size, 1, 4096, integer=True)
    seed = _number("seed", seed, 0, 2**32 - 1, integer=True)
    final_phase = _number("upright final phase", final_phase or 0.0, 0.0, 0.95)
    if epochs > caps.max_epochs:
        notes.append(f"epochs capped at {caps.max_epochs} on this server (FMNIST_MAX_EPOCHS)")
        epochs = caps.max_epochs
    if train_images > caps.max_train_images:
        notes.append(f"training images capped at {caps.max_train_images:,} (FMNIST_MAX_TRAIN_IMAGES)")
        train_images = caps.max_train_images
    if train_images < min(100, caps.max_train_images):
        notes.append(f"training images raised to {min(100, caps.max_train_images)} (the fewest a run takes)")
        train_images = min(100, caps.max_train_images)
    if batch_size not in BATCH_SIZES:
        raise ValueError(f"batch size must be one of {', '.join(map(str, BATCH_SIZES))}")
    if not isinstance(widths, str) or widths not in WIDTHS:
        raise ValueError(f"model width must be one of {', '.join(WIDTHS)} (channels per stage), not {widths!r}")
    if not isinstance(schedule, str) or schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, not {schedule!r}")
    if not final_phase < 1:
        raise ValueError(f"the upright final phase is a share of the run in [0, 1), not {final_phase}")
    if augment is None:
        augment = []
    if not isinstance(augment, (list, tuple)) or any(not isinstance(a, str) or a not in OPS for a in augment):
        raise ValueError(f"augmentations must be among {', '.join(OPS)}")
    minutes = _number("time budget (minutes)", minutes or 0, 0, 24 * 60)
    budget = minutes * 60 if minutes else None
    if budget is not None and budget < 1:
        raise ValueError(f"a time budget of {minutes} minutes is under a second")
    extra = {} if patience is None else {"patience": int(patience)}
    cfgs = [TrainConfig(arch=a, epochs=epochs, lr=lr, batch_size=batch_size, augment=tuple(augment),
                        limit=train_images if train_images < FULL_TRAIN else None,
                        seed=seed, widths=WIDTHS[widths], schedule=schedule, time_budget_s=budget,
                        final_phase=final_phase, final_lr=final_lr, log_every=LOG_EVERY,
                        val_checks=VAL_CHECKS, **extra) for a in archs]
    return cfgs, notes


BATCH_SIZES = (16, 32, 64, 128, 256)


def _number(name: str, value, lo: float, hi: float, integer: bool = False):
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


LOG_EVERY = 5    # steps between step events in app jobs: the curves move every second even without bf16
VAL_CHECKS = 3   # looks at 1,000 validation images between epochs, for the live curves


MAX_WAITING = 8  # jobs that wait behind the running one; more are refused with the expected wait


class Refused(ValueError):
    """A training request the queue does not take; the message says why and what to do."""


@dataclass(eq=False)
class Ticket:
    """One job's place in the queue: who owns it, its estimate, and its own stop flag."""
    session: str
    address: str
    estimate_s: float
    left_s: float
    started: bool = False
    stop: threading.Event = field(default_factory=threading.Event)


class TrainQueue:
    """One training job at a time for the whole server, first come first served, fair and bounded: at
    most one queued or running job per session and per client address, at most `capacity` jobs in all
    (the running one included). A waiting visitor holds a ticket and can ask for its place and the
    expected wait: what the running job has left (from its own ETA) plus the estimates of the jobs ahead.
    Each ticket carries its own stop flag, so a job is stopped by its owner's session only."""

    def __init__(self, capacity: int = 1 + MAX_WAITING):
        self.capacity = capacity
        self._cond = threading.Condition()
        self._tickets: list[Ticket] = []  # [0] runs once started; the rest wait in order

    def join(self, estimate_s: float, session: str = "anon", address: str = "local") -> Ticket:
        """A ticket for a new job; Refused where this session or address already has one, or the
        queue is full (with the expected wait)."""
        with self._cond:
            if any(t.session == session for t in self._tickets):
                raise Refused("You already have a training job in the queue or running: stop it (Stop) or wait "
                              "for it to finish before starting another.")
            if any(t.address == address for t in self._tickets):
                raise Refused("A training job from your network address is already in the queue or running: "
                              "one job at a time per visitor. Wait for it to finish, or stop it from its tab.")
            if len(self._tickets) >= self.capacity:
                wait = sum(t.left_s if t.started else t.estimate_s for t in self._tickets[:1])
                raise Refused(f"The training queue is full ({len(self._tickets)} jobs): try again in about "
                              f"{duration(max(60.0, wait))}.")
            ticket = Ticket(session=session, address=address, estimate_s=float(estimate_s), left_s=float(estimate_s))
            self._tickets.append(ticket)
            return ticket

    def place(self, ticket: Ticket) -> int:
        """0: this ticket's job may run (or runs); k: k jobs are ahead of it."""
        with self._cond:
            return self._tickets.index(ticket)

    def wait_s(self, ticket: Ticket) -> float:
        """Seconds until this ticket's job should start."""
        with self._cond:
            ahead = self._tickets[: self._tickets.index(ticket)]
            return sum(t.left_s if t.started else t.estimate_s for t in ahead)

    def wait_turn(self, ticket: Ticket, timeout: float) -> bool:
        """Wait up to timeout seconds for this ticket's turn; True once it has come (the job starts)."""
        with self._cond:
            if self._cond.wait_for(lambda: self._tickets.index(ticket) == 0, timeout):
                ticket.started = True
                return True
            return False

    def update(self, ticket: Ticket, left_s: float) -> None:
        """The running job's own estimate of what it has left (its ETA)."""
        with self._cond:
            ticket.left_s = max(0.0, float(left_s))

    def leave(self, ticket: Ticket) -> None:
        """Done, stopped, or given up waiting (a closed tab): the next job may start."""
        with self._cond:
            if ticket in self._tickets:
                self._tickets.remove(ticket)
            self._cond.notify_all()

    def request_stop(self, session: str) -> bool:
        """Stop this session's job (queued or running) at its next step; False when it has none."""
        with self._cond:
            mine = [t for t in self._tickets if t.session == session]
        for t in mine:
            t.stop.set()
        return bool(mine)

    def busy(self) -> bool:
        with self._cond:
            return bool(self._tickets)


QUEUE = TrainQueue()


def client_address(peer: str | None, forwarded_for: str | None, proxy_hops: int) -> str:
    """The visitor's address as the last trusted proxy saw it. Behind proxy_hops reverse proxies (a
    Hugging Face Space has one), each appends the address it received the request from to
    X-Forwarded-For, so the entry proxy_hops from the right was written by a proxy we trust; entries to
    its left are whatever the client sent and are ignored (a forged header cannot change the address).
    Without proxies the header is ignored entirely."""
    if proxy_hops > 0 and forwarded_for:
        hops = [h.strip() for h in str(forwarded_for).split(",") if h.strip()]
        if len(hops) >= proxy_hops:
            return hops[-proxy_hops][:64]
    return (peer or "unknown")[:64]


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
    for ev in _with_threads(fit(cfg, split), TRAIN_THREADS):
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
        n = cfg.limit or FULL_TRAIN
        per_epoch = n / ips + cfg.val_size / (4 * ips)  # validation: forward passes only, ~4x faster
        seconds = cfg.epochs * per_epoch
        if cfg.time_budget_s:
            seconds = min(seconds, cfg.time_budget_s + per_epoch / 4)
        total += seconds
        used.append(f"{cfg.arch} {ips:,.0f} img/s {where}")
    return min(total, caps.max_minutes * 60), used



KEEP_OUTPUTS_S = 2 * 3600       # a visitor's checkpoints are deleted this long after they were saved
MAX_OUTPUT_BYTES = 1 << 30       # and the oldest go first once all of them together pass 1 GiB


def output_path(session: str, name: str) -> Path:
    """Where a user's trained model is saved for download: a per-session temp folder (0700), never
    checkpoints/. Old files are cleared first (clean_outputs)."""
    clean_outputs()
    safe = "".join(ch for ch in session if ch.isalnum())[:32] or "anon"
    safe_name = "".join(ch for ch in name if ch.isalnum() or ch in "-_")[:64] or "model"
    OUTPUT_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder = OUTPUT_DIR / safe
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"{safe_name}.safetensors"


def clean_outputs(max_age_s: float = KEEP_OUTPUTS_S, max_bytes: int = MAX_OUTPUT_BYTES) -> int:
    """Delete visitors' checkpoints older than max_age_s, then the oldest until the folder holds at most
    max_bytes, then session folders empty for a minute; returns the number of files deleted."""
    if not OUTPUT_DIR.is_dir():
        return 0
    now, deleted, files = time.time(), 0, []
    for f in OUTPUT_DIR.rglob("*"):
        try:
            if f.is_file() and not f.is_symlink():
                st = f.stat()
                files.append((st.st_mtime, st.st_size, f))
        except OSError:
            continue
    files.sort()
    total = sum(size for _, size, _ in files)
    for mtime, size, f in files:
        if now - mtime > max_age_s or total > max_bytes:
            try:
                f.unlink()
                deleted += 1
                total -= size
            except OSError:
                pass
    for d in OUTPUT_DIR.iterdir():   # session folders left empty for a while (a new one may be about to fill)
        try:
            if d.is_dir() and not d.is_symlink() and not any(d.iterdir()) and now - d.stat().st_mtime > 60:
                d.rmdir()
        except OSError:
            pass
    return deleted


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


CAP_MARGIN_S = 3.0  # what a job may run past its cap: the estimate of its final evaluation may be off by this


class _StopOrDeadline:
    """A stop flag that is also set once a deadline (time.monotonic()) has passed: the hard cap."""

    def __init__(self, stop: threading.Event, deadline: float):
        self.stop, self.deadline = stop, deadline

    def is_set(self) -> bool:
        return self.stop.is_set() or time.monotonic() >= self.deadline


def _with_threads(events: Iterator, threads: int) -> Iterator:
    """events, each produced with `threads` torch threads in whichever thread asks for it."""
    try:
        while True:
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
            try:
                event = next(events)
            except StopIteration:
                return
            yield event
    finally:
        events.close()


def evaluation_seconds(cfg: TrainConfig) -> float:
    """What a run's evaluations after training cost (the last epoch's validation, the final validation
    and test), from the measured or assumed speed: forward passes, about 4x faster than training."""
    ips, _ = images_per_second(cfg.arch, cfg.widths, measure=False)
    return (2 * cfg.val_size + (10_000 if cfg.evaluate_test else 0)) / (4 * ips) + 1.0


def run_job(cfgs: list[TrainConfig], ds: FashionMNIST, session: str, stop: threading.Event,
            min_interval_s: float = 0.7, caps: Caps | None = None, ticket: Ticket | None = None,
            update_every_steps: int = 50) -> Iterator[tuple[str, float, str, JobState]]:
    """Train the configs one after another; yields (kind, fraction done, message, state).

    kind is "step" (the live curves grew: at most every `min_interval_s`, and at least every
    `update_every_steps` training steps), "epoch" (state.histories and rows grew) or "model" (a run
    ended, its checkpoint is saved under output_path() and listed in state). The job's wall-clock cap
    (caps.max_minutes) counts from this call, set-up and final evaluation included, and is shared by
    its runs: each run's training ends early enough for its evaluation to fit (evaluation_seconds; a
    run that reaches its share ends like a stopped one, labelled "time_cap", with its model kept), so a
    job ends at most CAP_MARGIN_S past the cap. A set `stop` ends the current run with a partial model
    and skips the rest. Closing the generator stops training. With a queue ticket, the job keeps its ETA
    there for the visitors waiting behind it.
    """
    caps = caps or Caps.from_env()
    state = JobState()
    deadline = time.monotonic() + caps.max_minutes * 60

    def overall(k: int, run_fraction: float) -> float:  # progress of the whole job, not of one run
        return (k + min(1.0, run_fraction)) / len(cfgs)

    for k, cfg in enumerate(cfgs):
        now = time.monotonic()
        share = (deadline - now) / (len(cfgs) - k) - evaluation_seconds(cfg)  # training time this run may use
        capped = cfg.time_budget_s is None or cfg.time_budget_s > share
        if capped:
            cfg = replace(cfg, time_budget_s=max(1.0, share))
        hard = _StopOrDeadline(stop, now + max(1.0, share))
        label = f"{cfg.arch}-{time.strftime('%H%M%S')}"
        state.histories[label] = []
        live = state.live[label] = _live_series()
        split = make_split(ds, cfg.val_size, cfg.seed, cfg.limit)
        last_t, last_step, smooth = float("-inf"), 0, None  # the first step event updates at once
        for ev in _with_threads(fit(cfg, split, hard), TRAIN_THREADS):
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
                if capped and (result.status == "time_budget" or (result.status == "stopped" and not stop.is_set())):
                    result.status = "time_cap"  # the server's cap ended it, not the visitor's settings
                name = f"{label} ({result.status})"
                state.files.append(str(save_result(result, output_path(session, label))))
                state.results.append((name, result))
                yield "model", overall(k, 1.0), f"{cfg.arch}: {result.label}", state
        if stop.is_set():
            break


def serve_job(cfgs: list[TrainConfig], notes: list[str], ds: FashionMNIST, session: str, address: str,
              caps: Caps | None = None, queue: TrainQueue | None = None
              ) -> Iterator[tuple[str, float, str, JobState]]:
    """A visitor's training request from joining the queue to the outcome, as run_job's events plus
    "wait" (a place in the queue, with the expected wait) and a last "done" whose message says how it
    ended (finished, stopped by the visitor, ended by the server's cap). Raises Refused before anything
    is queued where the queue does not take it. Leaves the queue however it ends (a closed tab too)."""
    caps = caps or Caps.from_env()
    queue = queue or QUEUE
    ticket = queue.join(estimate_seconds(cfgs, caps, measure=False)[0], session, address)
    state, job = JobState(), None
    try:
        while not queue.wait_turn(ticket, timeout=1.0):
            if ticket.stop.is_set():
                yield "done", 0.0, "Left the queue: no training was started.", state
                return
            yield "wait", 0.0, (f"⏳ Another visitor's training is running: you are number {queue.place(ticket)} in "
                                f"the queue; yours should start in about {duration(queue.wait_s(ticket))}."), state
        job = run_job(cfgs, ds, session, ticket.stop, caps=caps, ticket=ticket)
        for event in job:
            state = event[3]
            yield event
    finally:        # also on Stop, a closed tab or a crash: end training, free the server's slot
        if job is not None:
            job.close()
        queue.leave(ticket)
    capped = any(r.status == "time_cap" for _, r in state.results)
    outcome = ("stopped by you: the partial model is kept" if ticket.stop.is_set() else
               f"ended by the server's {caps.max_minutes:g}-minute cap: the partial model is kept" if capped
               else "finished")
    yield "done", 1.0, f"✅ Training {outcome}. " + "; ".join(notes), state


def duration(seconds: float) -> str:
    """'4m 05s', or '1h 12m' from an hour on ('?' where it is not known yet)."""
    if not math.isfinite(seconds):
        return "?"
    s = max(0, int(seconds))
    return f"{s // 3600}h {s % 3600 // 60}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s"
