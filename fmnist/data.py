"""Fashion-MNIST as in-memory tensors: find the files, validate them, split off a validation set."""
from __future__ import annotations

import gzip
import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fmnist"
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
EXPECTED_COUNT = {"train": 60_000, "test": 10_000}

HOW_TO_GET = (
    "Fashion-MNIST was not found. Get it one of these ways:\n"
    "  * Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist   (files land in /usr/share/datasets/fashion-mnist)\n"
    "  * any machine with internet: python -m fmnist download   (torchvision fetches it into ~/.cache/fmnist)\n"
    "  * by hand: put the four *-ubyte(.gz) files from https://github.com/zalandoresearch/fashion-mnist\n"
    "    in a folder and pass it as data_dir=... or set FMNIST_DATA=/that/folder"
)


class DataNotFoundError(FileNotFoundError):
    """No copy of Fashion-MNIST could be found or downloaded; the message says how to get one."""


class DataFormatError(ValueError):
    """A Fashion-MNIST file exists but is truncated, of the wrong kind or has unexpected content."""


@dataclass
class FashionMNIST:
    """The whole dataset as uint8 tensors: images (N, 28, 28), labels (N,) int64."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str

    def fingerprint(self) -> str:
        """sha256 over all four arrays: identifies the exact data a model saw."""
        h = hashlib.sha256()
        for t in (self.train_images, self.train_labels, self.test_images, self.test_labels):
            h.update(t.numpy().tobytes())
        return h.hexdigest()[:16]


@dataclass
class Split:
    """Train/validation/test tensors after carving a stratified validation set from train."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    fingerprint: str


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped), checking its magic number and its length."""
    path = Path(path)
    try:
        with _open(path) as f:
            raw = f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as e:  # truncated gzip raises EOFError
        raise DataFormatError(f"{path}: cannot be read ({e}); the file is damaged, fetch it again") from e
    if len(raw) < 8:
        raise DataFormatError(f"{path}: only {len(raw)} bytes, not an IDX file")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or ndim not in (1, 3):
        raise DataFormatError(f"{path}: not a uint8 IDX file (magic {raw[:4].hex()})")
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    body = raw[4 + 4 * ndim :]
    need = int(np.prod(dims))
    if len(body) != need:
        raise DataFormatError(f"{path}: header says {dims} ({need} bytes) but {len(body)} bytes follow; truncated?")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def _find_file(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
        if (folder / name).is_file():
            return folder / name
    return None


def _load_folder(folder: Path) -> FashionMNIST | None:
    paths = {key: _find_file(folder, stem) for key, stem in FILES.items()}
    if any(p is None for p in paths.values()):
        return None
    arrays = {key: read_idx(p) for key, p in paths.items()}
    ds = FashionMNIST(
        **{k: torch.from_numpy(v.copy()).long() if "labels" in k else torch.from_numpy(v.copy())
           for k, v in arrays.items()},
        source=str(folder),
    )
    validate(ds)
    return ds


def validate(ds: FashionMNIST) -> None:
    """Counts, shapes and label range of a loaded dataset; raises DataFormatError when off."""
    for part in ("train", "test"):
        images, labels = getattr(ds, f"{part}_images"), getattr(ds, f"{part}_labels")
        n = EXPECTED_COUNT[part]
        if tuple(images.shape) != (n, 28, 28):
            raise DataFormatError(f"{ds.source}: {part} images have shape {tuple(images.shape)}, expected ({n}, 28, 28)")
        if tuple(labels.shape) != (n,):
            raise DataFormatError(f"{ds.source}: {part} labels have shape {tuple(labels.shape)}, expected ({n},)")
        if labels.min() < 0 or labels.max() > 9:
            raise DataFormatError(f"{ds.source}: {part} labels outside 0..9")


def _download(cache: Path) -> FashionMNIST | None:
    try:
        from torchvision.datasets import FashionMNIST as TVFashionMNIST

        for train in (True, False):
            TVFashionMNIST(str(cache), train=train, download=True)
    except Exception:  # no network, no torchvision, blocked mirror: fall through to the helpful error
        return None
    return _load_folder(cache / "FashionMNIST" / "raw")


def load_fashion_mnist(data_dir: str | Path | None = None, download: bool = True) -> FashionMNIST:
    """Find Fashion-MNIST: data_dir, then $FMNIST_DATA, Debian's package, the cache, a torchvision download."""
    explicit = data_dir or os.environ.get("FMNIST_DATA")
    if explicit:
        folder = Path(explicit)
        ds = _load_folder(folder) or _load_folder(folder / "FashionMNIST" / "raw")
        if ds is None:
            raise DataNotFoundError(f"No Fashion-MNIST files in {folder}.\n{HOW_TO_GET}")
        return ds
    for folder in (DEBIAN_DIR, DEFAULT_CACHE / "FashionMNIST" / "raw"):
        ds = _load_folder(folder)
        if ds is not None:
            return ds
    if download:
        ds = _download(DEFAULT_CACHE)
        if ds is not None:
            return ds
    raise DataNotFoundError(HOW_TO_GET)


def stratified_split(labels: torch.Tensor, val_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (train, val) with val_size images spread evenly over the classes, fixed by seed."""
    g = torch.Generator().manual_seed(seed)
    classes = labels.unique()
    per_class = val_size // len(classes)
    val = []
    for c in classes:
        idx = (labels == c).nonzero().squeeze(1)
        val.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    val = torch.cat(val).sort().values
    mask = torch.ones(len(labels), dtype=torch.bool)
    mask[val] = False
    return mask.nonzero().squeeze(1), val


def make_split(ds: FashionMNIST, val_size: int = 5000, seed: int = 0, limit: int | None = None) -> Split:
    """Carve the validation split (always the same for a seed) and optionally limit training images."""
    train_idx, val_idx = stratified_split(ds.train_labels, val_size, seed)
    if limit is not None and limit < len(train_idx):
        # a stratified subset too, so a quick run still sees every class
        keep, _ = stratified_split(ds.train_labels[train_idx], len(train_idx) - limit, seed + 1)
        train_idx = train_idx[keep]
    return Split(
        train_images=ds.train_images[train_idx], train_labels=ds.train_labels[train_idx],
        val_images=ds.train_images[val_idx], val_labels=ds.train_labels[val_idx],
        test_images=ds.test_images, test_labels=ds.test_labels,
        fingerprint=ds.fingerprint(),
    )


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1], the input every model takes."""
    return images.unsqueeze(1).float().div_(255)
