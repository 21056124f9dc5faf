"""Writes tests/data/drawings_v{VERSION}.npz: the drawings the current code makes
(`fmnist.sketches.bank.reference_drawings` of the first 300 training images), kept so a test can check,
byte for byte, that the code still makes what the shipped drawing-aware models were trained on.

Run it only when the drawings change on purpose, after bumping `fmnist.sketches.styles.VERSION` (the
cache key), and set the test's REFERENCE_SIMD to this CPU's flags (it prints them): OpenCV and numpy
pick other vector kernels on other CPUs, so elsewhere the test allows a handful of pixels.

    python tools/make_drawings_reference.py
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from fmnist.data import load_fashion_mnist
from fmnist.hardware import simd
from fmnist.sketches import VERSION
from fmnist.sketches.bank import reference_drawings

OUT = Path(__file__).resolve().parent.parent / "tests" / "data"


def main() -> None:
    ds = load_fashion_mnist()
    ref = reference_drawings(ds.train_images[:300].numpy(), ds.train_labels[:300].numpy())
    path = OUT / f"drawings_v{VERSION}.npz"
    np.savez_compressed(path, **ref)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); this CPU's flags for REFERENCE_SIMD:", simd())


if __name__ == "__main__":
    main()
