"""Self-describing checkpoints: safetensors weights with the whole story in the header; no pickle ever.

A checkpoint is one ``.safetensors`` file whose metadata holds, as JSON, the architecture, its
constructor arguments, the class names, the training config, per-epoch history, validation and test
metrics and library versions. ``checkpoints/<name>/`` (the shipped ones) holds ``model.safetensors``
and a readable copy of the metadata as ``config.json``. Files are written to a temporary name and
renamed, so an interrupted save leaves the previous file intact.
"""
from __future__ import annotations

import json
import os
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .data import CLASSES
from .models import FashionCNN, create_model, list_models

FORMAT = "fmnist-checkpoint/1"
CHECKPOINT_DIR = Path(os.environ.get("FMNIST_CHECKPOINTS", Path(__file__).resolve().parent.parent / "checkpoints"))
DRAWING_DIR = CHECKPOINT_DIR / "drawings"  # the drawing-aware models: drawings/<arch>/
MAX_BYTES = 64 * 1024 * 1024  # far above any model here; refuses absurd files before reading them


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, truncated or does not match its architecture; says which."""


@dataclass
class Checkpoint:
    model: FashionCNN
    meta: dict
    path: Path


def versions() -> dict:
    import numpy
    import safetensors

    return {"torch": torch.__version__, "numpy": numpy.__version__, "safetensors": safetensors.__version__,
            "python": platform.python_version()}


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def shipped_names() -> list[str]:
    """Every shipped model: 'simple', 'sa', 'gated' (the study's recipe) and 'drawings/<arch>' (the
    drawing-aware ones the Sketch tab uses), where present."""
    return list_models() + [f"drawings/{n}" for n in list_models() if (DRAWING_DIR / n / "model.safetensors").is_file()]


def resolve_path(name_or_path: str | os.PathLike) -> Path:
    """'simple' -> checkpoints/simple/model.safetensors ('drawings/simple' likewise); a folder -> its
    model.safetensors; a file -> itself."""
    p = Path(name_or_path)
    name = str(name_or_path)
    if (name in list_models() or (name.startswith("drawings/") and name[9:] in list_models())) and not p.exists():
        p = CHECKPOINT_DIR / name
    if p.is_dir():
        p = p / "model.safetensors"
    return p


def save_checkpoint(model: FashionCNN, path: str | os.PathLike, **meta) -> Path:
    """Write weights and metadata. A path without .safetensors is a folder (model.safetensors + config.json)."""
    path = Path(path)
    folder = None
    if path.suffix != ".safetensors":
        folder, path = path, path / "model.safetensors"
    full = {"format": FORMAT, "arch": model.arch, "init_args": model.init_args(), "classes": list(CLASSES),
            "versions": versions(), **meta}
    header = {"fmnist": json.dumps(full)}
    tensors = {k: v.detach().to("cpu", memory_format=torch.contiguous_format).contiguous()
               for k, v in model.state_dict().items()}
    _atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=header))
    if folder is not None:
        text = json.dumps({k: v for k, v in full.items() if k not in ("test_predictions",)}, indent=1)
        _atomic_write(folder / "config.json", lambda tmp: Path(tmp).write_text(text))
    return path


def save_result(result, path: str | os.PathLike, **extra) -> Path:
    """Save a fmnist.train.TrainResult with its config, history and metrics (and any extra metadata)."""
    test = dict(result.test_metrics or {})
    predictions = test.pop("predictions", None)
    return save_checkpoint(
        result.model, path, status=result.status, label=result.label, config=result.config.to_dict(),
        history=result.history, best_epoch=result.best_epoch, val_metrics=result.val_metrics,
        test_metrics=test or None, test_predictions=predictions, train_time_s=result.train_time_s,
        time_to_best_s=result.time_to_best_s, steps=result.steps, data_fingerprint=result.data_fingerprint,
        trained_on={"device": result.device, "bf16": result.bf16},
        **({"previous_runs": result.previous_runs} if result.previous_runs else {}), **extra,
    )


def read_metadata(path: Path) -> dict:
    """The JSON metadata of a checkpoint, read from the safetensors header only."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{path}: {len(head)} bytes, too short to be a safetensors file")
            n = int.from_bytes(head, "little")
            if n > 50_000_000 or n + 8 > path.stat().st_size:
                raise CheckpointError(f"{path}: header length {n} does not fit the file; truncated or not safetensors")
            header = json.loads(f.read(n))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: the header is not valid JSON ({e}); the file is corrupt") from e
    meta = header.get("__metadata__", {}) if isinstance(header, dict) else {}
    if "fmnist" not in meta:
        raise CheckpointError(f"{path}: a safetensors file, but not an fmnist checkpoint (no 'fmnist' metadata)")
    try:
        return json.loads(meta["fmnist"])
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: its fmnist metadata is not valid JSON ({e})") from e


def load_checkpoint(name_or_path: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the model from a checkpoint; every failure is a CheckpointError naming the cause."""
    path = resolve_path(name_or_path)
    if not path.is_file():
        hint = f" (shipped names: {', '.join(list_models())})" if not Path(name_or_path).suffix else ""
        raise CheckpointError(f"no checkpoint at {path}{hint}")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise CheckpointError(f"{path}: {size / 2**20:.0f} MiB, over the {MAX_BYTES // 2**20} MiB limit for a checkpoint")
    meta = read_metadata(path)
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    arch = meta.get("arch")
    if arch not in list_models():
        raise CheckpointError(f"{path}: unknown architecture {arch!r}; this version knows {', '.join(list_models())}")
    if meta.get("classes") != list(CLASSES):
        raise CheckpointError(f"{path}: trained on other classes {meta.get('classes')}")
    try:
        model = create_model(arch, **meta.get("init_args", {}))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot build {arch} from {meta.get('init_args')}: {e}") from e
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: the weights cannot be read ({e}); the file is corrupt or truncated") from e
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise CheckpointError(f"{path}: tensors do not match {arch}: missing {missing[:5]}, unexpected {extra[:5]}")
    wrong = [f"{k} {tuple(tensors[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
             if tensors[k].shape != v.shape]
    if wrong:
        raise CheckpointError(f"{path}: tensor shapes do not match {arch}: {'; '.join(wrong[:5])}")
    bad = [k for k, t in tensors.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise CheckpointError(f"{path}: non-finite values in {bad[:5]}")
    model.load_state_dict(tensors)
    return Checkpoint(model=model.to(device).eval(), meta=meta, path=path)


def load_model(name_or_path: str | os.PathLike, device: str | torch.device = "cpu") -> FashionCNN:
    """A shipped name ('simple', 'sa', 'gated') or a path -> the model, in eval mode on device."""
    return load_checkpoint(name_or_path, device).model
