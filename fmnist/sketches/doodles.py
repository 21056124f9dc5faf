"""Things that are not garments, drawn in ink: for outlier exposure."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch

from .bank import _cached, _map_chunks, as_model_input

FONT_PATHS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
              "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")
GLYPHS = "ABCDEFGHJKLMNPQRSTUVWXYZabdeghkmnpqrsuwxyz0123456789?!&@#$%+="
DOODLE_VERSION = 1  # the doodles' cache key


def _random_glyphs(ink: np.ndarray, rng: np.random.Generator) -> None:
    from PIL import Image, ImageDraw, ImageFont

    fonts = [p for p in FONT_PATHS if os.path.isfile(p)]
    text = "".join(rng.choice(list(GLYPHS), int(rng.integers(1, 3))))
    size = int(rng.integers(90, 200))
    font = ImageFont.truetype(str(rng.choice(fonts)), size) if fonts else ImageFont.load_default()
    img = Image.fromarray(ink)
    ImageDraw.Draw(img).text((int(rng.integers(0, 40)), int(rng.integers(0, 40))), text, fill=255, font=font,
                             stroke_width=int(rng.integers(0, 6)), stroke_fill=255)
    ink[:] = np.asarray(img)


def doodle(rng: np.random.Generator, side: int = 272) -> np.ndarray:
    """Something that is not a garment, drawn in ink on white: random strokes, loops, spirals, polygons,
    letters and digits, one to three of them. For outlier exposure (Hendrycks et al., "Deep Anomaly
    Detection with Outlier Exposure", 2019): trained towards no class, the models learn to be unsure
    of what they have never seen as a garment."""
    ink = np.zeros((side, side), np.uint8)
    width = int(rng.integers(3, 22))
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(0, 6))
        c = rng.uniform(0.25, 0.75, 2) * side
        r = rng.uniform(0.15, 0.45) * side
        if kind == 0:    # a random scribble
            pts = rng.uniform(0.05, 0.95, (int(rng.integers(3, 12)), 2)) * side
            cv2.polylines(ink, [pts.astype(np.int32)], False, 255, width, cv2.LINE_AA)
        elif kind == 1:  # a loop or an ellipse
            axes = (int(r), int(r * rng.uniform(0.4, 1.0)))
            cv2.ellipse(ink, tuple(int(v) for v in c), axes, float(rng.uniform(0, 180)), 0,
                        float(rng.uniform(200, 360)), 255, width, cv2.LINE_AA)
        elif kind == 2:  # a spiral
            t = np.linspace(0, rng.uniform(3, 7) * np.pi, 80)
            pts = c + (r * t / t[-1])[:, None] * np.stack([np.cos(t), np.sin(t)], 1)
            cv2.polylines(ink, [pts.astype(np.int32)], False, 255, width, cv2.LINE_AA)
        elif kind == 3:  # a star or a polygon
            n = int(rng.integers(3, 8))
            step = 2 if rng.random() < 0.5 and n >= 5 else 1
            a = rng.uniform(0, 2 * np.pi) + 2 * np.pi * step * np.arange(n) / n
            pts = c + r * np.stack([np.cos(a), np.sin(a)], 1)
            cv2.polylines(ink, [pts.astype(np.int32)], True, 255, width, cv2.LINE_AA)
        elif kind == 4:  # letters and digits
            _random_glyphs(ink, rng)
        else:            # a zigzag or a wave
            x = np.linspace(0.05, 0.95, int(rng.integers(4, 14))) * side
            y = c[1] + r * 0.5 * (np.arange(len(x)) % 2 * 2 - 1) * rng.uniform(0.3, 1.0)
            cv2.polylines(ink, [np.stack([x, y], 1).astype(np.int32)], False, 255, width, cv2.LINE_AA)
    if ink.max() == 0:
        cv2.circle(ink, (side // 2, side // 2), side // 3, 255, width, cv2.LINE_AA)
    return 255 - ink


def _render_doodles(args) -> np.ndarray:
    n, seed = args
    rng = np.random.default_rng(seed)
    return np.stack([as_model_input(doodle(rng)) for _ in range(n)])


def doodle_bank(n: int, seed: int = 0, cache_dir: str | Path | None = None) -> torch.Tensor:
    """n non-garment doodles as the models see them, (n, 28, 28) uint8, cached on disk."""
    from ..data import DEFAULT_CACHE

    path = Path(cache_dir or DEFAULT_CACHE) / f"doodles-v{DOODLE_VERSION}-{n}-{seed}.npy"
    jobs = [(min(1000, n - i), seed * 100_003 + 7 + i) for i in range(0, n, 1000)]
    return _cached(path, (n, 28, 28), lambda: _map_chunks(_render_doodles, jobs))
