"""Writes tests/data/drawings_v{VERSION}.npz: the drawings the current code makes, kept so a test can
check, byte for byte, that the code still makes what the shipped drawing-aware models were trained on.

Run it only when the drawings change on purpose, after bumping `fmnist.sketches.styles.VERSION` (the
cache key), and set the test's REFERENCE_SIMD to this CPU's flags (it prints them): OpenCV and numpy
pick other vector kernels on other CPUs, so elsewhere the test allows a handful of pixels.

    python tools/make_drawings_reference.py
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from fmnist.data import load_fashion_mnist
from fmnist.sketches import STYLES, VERSION, doodle, draw_like_a_person, render_drawings

OUT = Path(__file__).resolve().parent.parent / "tests" / "data"


def main() -> None:
    ds = load_fashion_mnist()
    images, labels = ds.train_images[:300].numpy(), ds.train_labels[:300].numpy().astype(np.int64)
    first = np.array([int(np.flatnonzero(labels == c)[0]) for c in range(10)])
    raw = np.stack([draw_like_a_person(images[i], np.random.default_rng(100 * s + c), style=st, label=c)
                    for s, st in enumerate(STYLES) for c, i in enumerate(first)])
    bank = render_drawings(images, seed=3, workers=1, labels=labels)
    doodles = np.stack([doodle(np.random.default_rng(i)) for i in range(8)])
    path = OUT / f"drawings_v{VERSION}.npz"
    np.savez_compressed(path, images=images, labels=labels, first=first, raw=raw, bank=bank, doodles=doodles)
    flags = set(Path("/proc/cpuinfo").read_text().split()) if Path("/proc/cpuinfo").exists() else set()
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); this CPU's flags for REFERENCE_SIMD:",
          tuple(sorted(flags & {"avx2", "avx512f", "avx512_bf16", "amx_bf16"})))


if __name__ == "__main__":
    main()
