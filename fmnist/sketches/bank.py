"""One drawing per training image, made once and cached on disk: training pays an index lookup per batch."""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from .styles import STYLES, VERSION, draw_like_a_person


def as_model_input(drawing: np.ndarray) -> np.ndarray:
    """A drawing (black on white) -> the (28, 28) uint8 the models see, through the app's prepare()."""
    from ..preprocess import ImageError, prepare

    try:
        return prepare(drawing, drawing=True).preview  # not left to the detector, whose tuning may move
    except ImageError:
        return np.zeros((28, 28), np.uint8)


def _render(args) -> np.ndarray:
    images, labels, seed = args
    rng = np.random.default_rng(seed)
    return np.stack([as_model_input(draw_like_a_person(im, rng, label=None if labels is None else int(y)))
                     for im, y in zip(images, labels if labels is not None else [None] * len(images))])


def _map_chunks(fn, jobs: list, workers: int | None = None) -> np.ndarray:
    """fn over jobs, in processes (one per core) where there is more than one job; results concatenated."""
    workers = workers if workers is not None else min(len(jobs), os.cpu_count() or 1)
    if workers <= 1 or len(jobs) <= 1:
        parts = [fn(j) for j in jobs]
    else:
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(fn, jobs))
    return np.concatenate(parts) if parts else np.zeros((0, 28, 28), np.uint8)


def _cached(path: Path, shape: tuple, make) -> torch.Tensor:
    """The uint8 array of `shape` stored at path, or make() stored there (atomically; a damaged or
    unwritable cache file only means it is made again)."""
    if path.is_file():
        try:
            bank = np.load(path)
            if bank.shape == shape and bank.dtype == np.uint8:
                return torch.from_numpy(bank)
        except (OSError, ValueError):
            pass
    bank = make()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.save(f, bank)
        os.replace(tmp, path)
    except OSError:
        pass
    return torch.from_numpy(bank)


def _numpy(a):
    return a.numpy() if isinstance(a, torch.Tensor) else (None if a is None else np.asarray(a))


def content_key(images: np.ndarray, labels: np.ndarray | None) -> str:
    """16 hex digits of the images' (and labels') bytes: part of a cached bank's file name."""
    digest = hashlib.sha256(images.tobytes())
    if labels is not None:
        digest.update(np.asarray(labels, np.int64).tobytes())
    return digest.hexdigest()[:16]


def render_drawings(images: np.ndarray | torch.Tensor, seed: int = 0, workers: int | None = None,
                    labels: np.ndarray | torch.Tensor | None = None) -> np.ndarray:
    """One drawing per image, (N, 28, 28) uint8 as the models see them; deterministic for a seed. With
    labels, outlines get their class's details (`garment_details`)."""
    images, labels = _numpy(images), _numpy(labels)
    chunk = 2000
    return _map_chunks(_render, [(images[i:i + chunk], None if labels is None else labels[i:i + chunk],
                                  seed * 100_003 + i) for i in range(0, len(images), chunk)], workers)


def drawing_bank(images: torch.Tensor, seed: int = 0, cache_dir: str | Path | None = None,
                 labels: torch.Tensor | None = None) -> torch.Tensor:
    """render_drawings(images, seed, labels=labels), cached on disk by the images' (and labels')
    content, the seed and VERSION."""
    from ..data import DEFAULT_CACHE

    arr, lab = _numpy(images), _numpy(labels)
    path = Path(cache_dir or DEFAULT_CACHE) / f"drawings-v{VERSION}-{content_key(arr, lab)}-{seed}.npy"
    return _cached(path, arr.shape, lambda: render_drawings(arr, seed, labels=lab))


def reference_drawings(images: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """What tests/data/drawings_v<VERSION>.npz holds, made by the current code from (N, 28, 28) training
    images and their labels: the images and labels, `first` (each class's first image), `raw` (one drawing
    per style and class at canvas scale, drawn with seed 100 * style + class), `bank` (render_drawings with
    seed 3, one process) and 8 doodles. tools/make_drawings_reference.py writes it; a test compares."""
    from .doodles import doodle

    images, labels = np.asarray(images), np.asarray(labels, np.int64)
    first = np.array([int(np.flatnonzero(labels == c)[0]) for c in range(10)])
    raw = np.stack([draw_like_a_person(images[i], np.random.default_rng(100 * s + c), style=st, label=c)
                    for s, st in enumerate(STYLES) for c, i in enumerate(first)])
    return {"images": images, "labels": labels, "first": first, "raw": raw,
            "bank": render_drawings(images, seed=3, workers=1, labels=labels),
            "doodles": np.stack([doodle(np.random.default_rng(i)) for i in range(8)])}
