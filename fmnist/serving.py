"""How the app serves many visitors at once on a small machine: one bounded pool for image work, the
torch threads each request uses, and what is kept on disk and in memory, and for how long.

    IMAGE_WORKERS   image requests (sketch strokes, uploads, the explorer, /predict, /verdict) that run at
                    once, all endpoints together; the others wait in Gradio's queue. Sized so that the
                    worst accepted inputs at full concurrency stay within the memory budget
                    (docs/benchmarks.md, "Hostile clients").
    SERVE_THREADS   torch threads per image request (FMNIST_SERVE_THREADS): with IMAGE_WORKERS requests
                    at once on a 2-core machine, one each keeps the cores busy without oversubscribing.
    DELETE_CACHE    Gradio deletes uploads, sketch strokes and output images older than an hour
                    (FMNIST_CACHE_MAX_AGE_S), every ten minutes (or every half of that age).
    KEEP_STATE_S    a visitor's trained models (in memory) are dropped two hours after their last change
                    or when the tab closes; their checkpoint files follow jobs.KEEP_OUTPUTS_S.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time

import torch

from . import jobs

IMAGE_POOL = "images"
IMAGE_WORKERS = 2
SERVE_THREADS = jobs._env_number("FMNIST_SERVE_THREADS", 1, 1, max(1, os.cpu_count() or 1), integer=True)
# (every, older than) seconds; FMNIST_CACHE_MAX_AGE_S sets the age (a short one for tests and soaks)
_AGE = jobs._env_number("FMNIST_CACHE_MAX_AGE_S", 3600, 10, 7 * 24 * 3600, integer=True, strictest=10)
DELETE_CACHE = (min(600, max(5, _AGE // 2)), _AGE)
KEEP_STATE_S = 2 * 3600
MAX_MODELS_PER_VISITOR = 6
JANITOR_EVERY_S = 600

_janitor: threading.Thread | None = None


@contextlib.contextmanager
def image_work():
    """Run the body with SERVE_THREADS torch threads. torch's thread count is per calling thread (a
    training job sets its own: jobs.TRAIN_THREADS), so this does not slow a job running beside it."""
    if torch.get_num_threads() != SERVE_THREADS:
        torch.set_num_threads(SERVE_THREADS)
    yield


def start_janitor() -> None:
    """A daemon thread that clears visitors' old checkpoints (jobs.clean_outputs) every JANITOR_EVERY_S."""
    global _janitor
    if _janitor is not None and _janitor.is_alive():
        return

    def loop():
        while True:
            try:
                jobs.clean_outputs()
            except Exception:   # a janitor must never take the app down
                pass
            time.sleep(JANITOR_EVERY_S)

    _janitor = threading.Thread(target=loop, name="fmnist-janitor", daemon=True)
    _janitor.start()
