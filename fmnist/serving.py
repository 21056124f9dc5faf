"""How the app serves many visitors at once on a small machine: one bounded pool for image work, the
torch threads each request uses, and what is kept on disk and in memory, and for how long.

    IMAGE_WORKERS   image requests (sketch strokes, uploads, the explorer, /predict, /verdict) that run at
                    once, all endpoints together; the others wait in Gradio's queue. Sized so that the
                    worst accepted inputs at full concurrency stay within the memory budget
                    (docs/benchmarks.md, "Hostile clients").
    SERVE_THREADS   torch threads per image request (FMNIST_SERVE_THREADS): with IMAGE_WORKERS requests
                    at once on a 2-core machine, one each keeps the cores busy without oversubscribing.
                    The model work runs on IMAGE_WORKERS threads of its own (image_work).
    DELETE_CACHE    Gradio deletes uploads, sketch strokes and output images older than an hour
                    (FMNIST_CACHE_MAX_AGE_S), every ten minutes (or every half of that age).
    KEEP_STATE_S    a visitor's trained models (in memory) are dropped two hours after their last change
                    or when the tab closes; their checkpoint files follow jobs.KEEP_OUTPUTS_S.
    STATE_SESSIONS  sessions whose state Gradio keeps in memory (the least recently used go first).
"""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import torch

from . import caps, jobs

IMAGE_POOL = "images"
IMAGE_WORKERS = 2
SERVE_THREADS = caps.env_number("FMNIST_SERVE_THREADS", 1, 1, max(1, os.cpu_count() or 1), integer=True)
# (every, older than) seconds; FMNIST_CACHE_MAX_AGE_S sets the age (a short one for tests and soaks)
_AGE = caps.env_number("FMNIST_CACHE_MAX_AGE_S", 3600, 10, 7 * 24 * 3600, integer=True, strictest=10)
DELETE_CACHE = (min(600, max(5, _AGE // 2)), _AGE)
KEEP_STATE_S = 2 * 3600
# Gradio keeps a state object per session, about 0.2-1 MiB each for this app (every component's config,
# made anew per session), 10,000 of them by default: a client that calls the API with a fresh session each
# time grows the process by gigabytes. The least recently used beyond this many are dropped (a browser
# visitor's session, trained models included, is dropped only after this many newer sessions).
STATE_SESSIONS = caps.env_number("FMNIST_STATE_SESSIONS", 200, 10, 10_000, integer=True, strictest=10)
MAX_MODELS_PER_VISITOR = 6
JANITOR_EVERY_S = 600

_janitor: threading.Thread | None = None


def _serving_thread_init() -> None:
    torch.set_num_threads(SERVE_THREADS)


# Model work of every image request runs on these threads only. Gradio runs handlers on a pool of up to
# 40 threads; torch (oneDNN's primitive caches and scratch buffers) and the C allocator keep memory per
# thread that ran a convolution, so letting every Gradio thread run the models grew the process by
# hundreds of MiB under load. Here it is bounded by IMAGE_WORKERS threads.
_POOL = ThreadPoolExecutor(max_workers=IMAGE_WORKERS, thread_name_prefix="fmnist-image",
                           initializer=_serving_thread_init)


def image_work(fn, *args, **kwargs):
    """fn(*args, **kwargs) on one of the serving threads (SERVE_THREADS torch threads each); its result,
    or its exception raised here. Messages for the visitor (gr.Warning, gr.Info) belong in the caller:
    they need the request's own thread."""
    return _POOL.submit(fn, *args, **kwargs).result()


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
