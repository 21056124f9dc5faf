"""Server-side rules for training from the app: one job at a time, caps from the environment, stop flags."""
from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from .training import TrainConfig

TRAIN_LOCK = threading.Lock()          # one training job for the whole server
_STOP_FLAGS: dict[str, threading.Event] = {}
_FLAGS_LOCK = threading.Lock()
OUTPUT_DIR = Path(tempfile.gettempdir()) / "fmnist-app"   # user-trained checkpoints; never checkpoints/


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
         seed: int, caps: Caps | None = None) -> tuple[list[TrainConfig], list[str]]:
    """The configs to run for a request from the UI, clamped to the caps; notes say what was changed."""
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
    cfgs = [TrainConfig(arch=a, epochs=max(1, epochs), lr=float(lr), batch_size=int(batch_size),
                        augment=tuple(augment), limit=max(100, train_images) if train_images < 55_000 else None,
                        seed=int(seed)) for a in archs]
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
