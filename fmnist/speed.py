"""Training speed on this server: the threads a job trains with, images/second measured (from finished
jobs, or briefly while the server is idle) or assumed, and the time estimates made from them."""
from __future__ import annotations

import threading
import time
from typing import Iterator

import torch

from .caps import Caps
from .config import FULL_TRAIN, TrainConfig
from .trainqueue import QUEUE

# torch threads of a training job: all the cores (the count at start-up). torch's setting is per calling
# thread and Gradio steps a job's generator from whichever worker thread is free, so it is set again
# before every step (with_threads); image requests use fewer (fmnist.serving).
TRAIN_THREADS = torch.get_num_threads()


def with_threads(events: Iterator, threads: int) -> Iterator:
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
    from .hardware import bf16_supported, pick_device

    return arch, tuple(widths), bf16_supported(pick_device("auto"))


def _measure(arch: str, widths: tuple[int, ...]) -> float:
    """Images/second of the trainer's own step on random images: 12 steps after 3 to warm up."""
    x = torch.randint(0, 256, (64 * 15, 28, 28), dtype=torch.uint8)
    y = torch.randint(0, 10, (64 * 15,))
    from .data import Split

    split = Split(train_images=x, train_labels=y, val_images=x[:64], val_labels=y[:64], test_images=x[:64],
                  test_labels=y[:64], fingerprint="speed")
    cfg = TrainConfig(arch=arch, widths=widths, epochs=1, evaluate_test=False, log_every=1)
    seen = []
    from .training import fit

    for ev in with_threads(fit(cfg, split), TRAIN_THREADS):
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




def evaluation_seconds(cfg: TrainConfig) -> float:
    """What a run's evaluations after training cost (the last epoch's validation, the final validation
    and test), from the measured or assumed speed: forward passes, about 4x faster than training."""
    ips, _ = images_per_second(cfg.arch, cfg.widths, measure=False)
    return (2 * cfg.val_size + (10_000 if cfg.evaluate_test else 0)) / (4 * ips) + 1.0
