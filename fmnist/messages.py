"""Every sentence the app says about training, in one place: the queue, the caps, progress, outcomes."""
from __future__ import annotations

import math


def duration(seconds: float) -> str:
    """'4m 05s', or '1h 12m' from an hour on ('?' where it is not known yet)."""
    if not math.isfinite(seconds):
        return "?"
    s = max(0, int(seconds))
    return f"{s // 3600}h {s % 3600 // 60}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s"


# --- the queue
ALREADY_QUEUED = ("You already have a training job in the queue or running: stop it (Stop) or wait for it to "
                  "finish before starting another.")
ADDRESS_QUEUED = ("A training job from your network address is already in the queue or running: one job at a "
                  "time per visitor. Wait for it to finish, or stop it from its tab.")
LEFT_QUEUE = "Left the queue: no training was started."
STOPPING = "Stopping after the current step…"
NOTHING_TO_STOP = "No training of yours is running."


def queue_full(jobs: int, wait_s: float) -> str:
    return f"The training queue is full ({jobs} jobs): try again in about {duration(max(60.0, wait_s))}."


def waiting(place: int, wait_s: float) -> str:
    return (f"⏳ Another visitor's training is running: you are number {place} in the queue; yours should start "
            f"in about {duration(wait_s)}.")


# --- caps and requests
def capped(what: str, value: int, variable: str) -> str:
    return f"{what} capped at {value:,} on this server ({variable})"


def raised_images(value: int) -> str:
    return f"training images raised to {value} (the fewest a run takes)"


def refused(reason: str) -> str:
    return f"⚠️ {reason}"


def needs_data(error: Exception) -> str:
    return f"⚠️ Training needs the Fashion-MNIST data.\n{error}"


def rules(max_minutes: float, max_epochs: int, max_images: int) -> str:
    return (f"Pick a preset, change any knob, press Start. This server trains one job at a time (others wait in a "
            f"queue and see their place) and caps each job at **{max_minutes:g} minutes**, **{max_epochs} "
            f"epochs** and **{max_images:,} training images**. Shipped models are never overwritten.")


def estimate(seconds: float, capped_by_server: bool, max_minutes: float, speeds: list[str]) -> str:
    return (f"⏱ **About {duration(seconds)}** on this server with these settings"
            + (f", **the {max_minutes:g}-minute cap per job** (the run then ends and keeps its model)"
               if capped_by_server else "") + f" ({'; '.join(speeds)}).")


# --- progress and outcomes
def step(arch: str, k: int, runs: int, ev: dict, epochs: int, loss: float) -> str:
    phase = " (upright phase)" if ev.get("phase") == "final" else ""
    return (f"{arch} ({k + 1}/{runs}): epoch {ev['epoch']}/{epochs}, step {ev['step']}/{ev['steps_per_epoch']}"
            f"{phase}, loss {loss:.3f}, {ev['images_per_sec']:,.0f} img/s, ETA {duration(ev['eta_s'])}")


def epoch(arch: str, ev: dict) -> str:
    return (f"{arch}: epoch {ev['epoch']} done, validation accuracy {ev['val_acc']:.4f}, "
            f"ETA {duration(ev['eta_s'])}")


def outcome(stopped: bool, capped_by_server: bool, max_minutes: float, notes: list[str]) -> str:
    how = ("stopped by you: the partial model is kept" if stopped else
           f"ended by the server's {max_minutes:g}-minute cap: the partial model is kept" if capped_by_server
           else "finished")
    return f"✅ Training {how}. " + "; ".join(notes)


# --- teaching
NO_EXAMPLES = "Add at least one example first: say what a drawing really is (\"It's a…\"), then Add."
TAUGHT = "✅ Your models have learned your examples: they answer for you in the Sketch tab (tick \"Answer with my taught models\")."


def teaching(ev: dict) -> str:
    return f"Teaching your {ev['model']}: step {ev['step']}/{ev['steps']}, loss {ev['loss']:.3f}"
