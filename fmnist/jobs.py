"""Training jobs from the app: a visitor's request from the queue to the outcome (`serve_job`), runs one
after another under the job's hard time cap (`run_job`), and where visitors' checkpoints are kept.

The parts live beside it: `caps` (the server's limits and the request checks), `trainqueue` (the queue and
stop flags), `speed` (threads, measured speed, estimates), `live` (the curves' data) and `messages` (all
the wording)."""
from __future__ import annotations

import tempfile
import threading
import time
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import torch

from . import messages
from .caps import Caps, env_number
from .checkpoints import save_result
from .config import TrainConfig
from .data import FashionMNIST, make_split
from .live import JobState, RunCurves
from .speed import TRAIN_THREADS, estimate_seconds, evaluation_seconds, record_speed, with_threads
from .training import fit
from .trainqueue import QUEUE, Ticket, TrainQueue

OUTPUT_DIR = Path(tempfile.gettempdir()) / "fmnist-app"   # user-trained checkpoints; never checkpoints/
KEEP_OUTPUTS_S = 2 * 3600       # a visitor's checkpoints are deleted this long after they were saved
MAX_OUTPUT_BYTES = 1 << 30       # and the oldest go first once all of them together pass 1 GiB
CAP_MARGIN_S = 3.0  # what a job may run past its cap: the estimate of its final evaluation may be off by this


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


class _StopOrDeadline:
    """A stop flag that is also set once a deadline (time.monotonic()) has passed: the hard cap."""

    def __init__(self, stop: threading.Event, deadline: float):
        self.stop, self.deadline = stop, deadline

    def is_set(self) -> bool:
        return self.stop.is_set() or time.monotonic() >= self.deadline



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
        curves = RunCurves(state, label)
        split = make_split(ds, cfg.val_size, cfg.seed, cfg.limit)
        last_t, last_step = float("-inf"), 0  # the first step event updates at once
        for ev in with_threads(fit(cfg, split, hard), TRAIN_THREADS):
            kind = ev["event"]
            if kind == "step":
                loss, _ = curves.step(ev)
                state.images_per_sec = ev["images_per_sec"]
                state.eta_s = ev["eta_s"] + sum(c.time_budget_s or 0 for c in cfgs[k + 1:])
                if ticket is not None:
                    QUEUE.update(ticket, min(state.eta_s, max(0.0, deadline - time.monotonic())))
                if time.monotonic() - last_t >= min_interval_s or ev["global_step"] - last_step >= update_every_steps:
                    last_t, last_step = time.monotonic(), ev["global_step"]
                    yield ("step", overall(k, ev["progress"]),
                           messages.step(cfg.arch, k, len(cfgs), ev, cfg.epochs, loss), state)
            elif kind == "val":
                curves.check(ev)
            elif kind == "epoch":
                curves.epoch(cfg.arch, ev)
                record_speed(cfg.arch, cfg.widths, ev["images_per_sec"])
                done = ev["progress"] if "progress" in ev else ev["epoch"] / cfg.epochs
                yield "epoch", overall(k, done), messages.epoch(cfg.arch, ev), state
            elif kind == "end":
                result = ev["result"]
                if capped and (result.status == "time_budget" or (result.status == "stopped" and not stop.is_set())):
                    result.status = "time_cap"  # the server's cap ended it, not the visitor's settings
                state.files.append(str(save_result(result, output_path(session, label))))
                state.results.append((f"{label} ({result.status})", result))
                yield "model", overall(k, 1.0), f"{cfg.arch}: {result.label}", state
        if stop.is_set():
            break


def queued(start, estimate_s: float, session: str, address: str, queue: TrainQueue | None = None
           ) -> Iterator[tuple[str, float, str, object]]:
    """Any training work through the server's one queue: joins it (Refused where it does not take the
    work), yields ("wait", 0.0, message, None) with the place and the expected wait until the work's
    turn, then yields from start(ticket) (the ticket carries the visitor's own stop flag), and leaves the
    queue however it ends (a closed tab too). The last item is ("left", 0, message, None) when the
    visitor stopped before the turn came."""
    queue = queue or QUEUE
    ticket = queue.join(estimate_s, session, address)
    work = None
    try:
        while not queue.wait_turn(ticket, timeout=1.0):
            if ticket.stop.is_set():
                yield "left", 0.0, messages.LEFT_QUEUE, None
                return
            yield "wait", 0.0, messages.waiting(queue.place(ticket), queue.wait_s(ticket)), None
        work = start(ticket)
        yield from work
    finally:        # also on Stop, a closed tab or a crash: end the work, free the server's slot
        if work is not None:
            work.close()
        queue.leave(ticket)


def serve_job(cfgs: list[TrainConfig], notes: list[str], ds: FashionMNIST, session: str, address: str,
              caps: Caps | None = None, queue: TrainQueue | None = None
              ) -> Iterator[tuple[str, float, str, JobState]]:
    """A visitor's training request from joining the queue to the outcome, as run_job's events plus
    "wait" (a place in the queue, with the expected wait) and a last "done" whose message says how it
    ended (finished, stopped by the visitor, ended by the server's cap). Raises Refused before anything
    is queued where the queue does not take it. Leaves the queue however it ends (a closed tab too)."""
    caps = caps or Caps.from_env()
    state, started = JobState(), []

    def start(ticket):
        started.append(ticket)
        return run_job(cfgs, ds, session, ticket.stop, caps=caps, ticket=ticket)

    # closed explicitly: Stop or a closed tab frees the queue at once, not at garbage collection
    with closing(queued(start, estimate_seconds(cfgs, caps, measure=False)[0], session, address, queue)) as events:
        for kind, fraction, text, got in events:
            if kind == "left":
                yield "done", 0.0, text, state
                return
            state = got if got is not None else state
            yield kind, fraction, text, state
    capped = any(r.status == "time_cap" for _, r in state.results)
    stopped = bool(started) and started[0].stop.is_set()
    yield "done", 1.0, messages.outcome(stopped, capped, caps.max_minutes, notes), state


TEACH_ESTIMATE_S = 60.0   # what a teaching job is expected to take, for the visitors waiting behind it
TEACH_STEPS = env_number("FMNIST_TEACH_STEPS", 20, 1, 200, integer=True)   # steps per model (fmnist.teach)


def serve_teach(models: dict, examples: list, ds: FashionMNIST, session: str, address: str,
                queue: TrainQueue | None = None, steps: int | None = None
                ) -> Iterator[tuple[str, float, str, dict | None]]:
    """A visitor's "Teach" request through the training queue: ("wait", 0, place and wait, None) until its
    turn, ("step", fraction, progress, None) while their copies of the models learn, and a last
    ("done", 1, outcome, {"models", "report"}) (None where they stopped before it started). Raises
    ValueError (no examples) or Refused before anything is queued."""
    from . import teach
    from .views import load_test_sample

    if not examples:
        raise ValueError(messages.NO_EXAMPLES)
    sample = load_test_sample()
    check = (torch.from_numpy(sample["images"].astype("float32") / 255)[:, None], torch.from_numpy(sample["labels"]))

    def start(ticket):
        replay = teach.replay_set(ds)
        return teach.fine_tune(models, examples, replay, check, steps=steps or TEACH_STEPS, stop=ticket.stop)

    result = None
    with closing(queued(start, TEACH_ESTIMATE_S, session, address, queue)) as events:
        for ev in events:
            if isinstance(ev, tuple):   # the queue's own ("wait" | "left", 0, message, None)
                yield ("done" if ev[0] == "left" else ev[0]), ev[1], ev[2], None
            elif ev["event"] == "step":
                yield "step", ev["progress"], messages.teaching(ev), None
            elif ev["event"] == "end":
                result = {"models": ev["models"], "report": ev["report"]}
    if result is not None:
        yield "done", 1.0, messages.TAUGHT, result
