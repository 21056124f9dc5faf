"""Drawings made from Fashion-MNIST images, the ways people draw a garment: for training models to read
sketches as well as photos.

The models only ever saw solid grey photos, where the only thin-line garments are sandals, so a drawn
outline of a trouser looked like a sandal or a bag to all of them. Following "Edge Augmentation for
Large-Scale Sketch Recognition without Sketches" (arXiv 2202.13164: randomized thin edges of photos
stand in for sketches), each training image can be turned into one of four kinds of drawing:

- ``silhouette``: the garment's mask, thresholded and filled, in solid ink (people shade shapes in);
- ``outline``: the mask's boundary at a random stroke width;
- ``contour``: the boundary traced, simplified to a polygon, its corners jittered, parts of it left out
  (open outlines), drawn as a polyline;
  both often with inner detail lines (collars, zips, seams: the photo's inner edges);
- ``edges``: an edge map of the photo (Canny), which keeps inner edges, thickened into strokes.

Each is drawn at canvas scale (the 28x28 image enlarged 8x, slightly warped), as black ink on white,
and then passed through the app's own ``prepare()``: training sees exactly what inference sees.
``drawing_bank`` makes one drawing per image once and caches it on disk, so training pays an index
lookup per batch, not the drawing.
"""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch
from scipy import ndimage

STYLES = ("silhouette", "outline", "contour", "edges")
STYLE_WEIGHTS = (0.15, 0.25, 0.4, 0.2)
SCALE = 8          # drawn at 8x: a 224 px garment, the size of a drawing on the 560 px sketchpad
PAD = 40           # room for the warp and for strokes at the border
VERSION = 3        # part of the cache key: bump when the drawings change (3: always the drawing path)
DETAIL_P = {"outline": 0.5, "contour": 0.7}  # how often an outline also gets the photo's inner edges


def _warp(big: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A small random affine warp (rotation, stretch, shear): hands do not draw to scale."""
    h, w = big.shape
    c = (w / 2, h / 2)
    m = cv2.getRotationMatrix2D(c, float(rng.uniform(-6, 6)), 1.0)
    sx, sy, sh = rng.uniform(0.88, 1.12), rng.uniform(0.88, 1.12), rng.uniform(-0.1, 0.1)
    a = np.array([[sx, sh], [0, sy]]) @ m[:, :2]
    t = np.array(c) - a @ np.array(c)
    return cv2.warpAffine(big, np.hstack([a, t[:, None]]).astype(np.float32), (w, h), flags=cv2.INTER_LINEAR)


def _mask(big: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The garment's shape: thresholded, holes filled, specks dropped (uint8 0/1)."""
    mask = ndimage.binary_fill_holes(big > rng.uniform(0.06, 0.3))
    labels, n = ndimage.label(mask)
    if n > 1:
        sizes = ndimage.sum(mask, labels, range(1, n + 1))
        mask = np.isin(labels, 1 + np.flatnonzero(sizes >= 0.05 * sizes.max()))
    return mask.astype(np.uint8)


def _inner_edges(big: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Canny edges of the photo (uint8 0/255): inner ones only when the mask is given."""
    grey = cv2.GaussianBlur((big * 255).astype(np.uint8), (0, 0), float(rng.uniform(1.5, 3.5)))
    lo = float(rng.uniform(10, 40))
    edges = cv2.Canny(grey, lo, lo * rng.uniform(2, 3.5))
    if mask is not None:
        edges &= cv2.erode(mask, np.ones((9, 9), np.uint8)) * 255
    # keep lines, not specks
    n, labels, stats, _ = cv2.connectedComponentsWithStats(edges, connectivity=8)
    keep = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= 25) + 1
    return np.isin(labels, keep).astype(np.uint8) * 255


def _polyline_outline(mask: np.ndarray, width: int, rng: np.random.Generator) -> np.ndarray:
    """The mask's contours traced, simplified, jittered, partly left open, drawn as polylines."""
    ink = np.zeros_like(mask)
    mode = cv2.RETR_CCOMP if rng.random() < 0.5 else cv2.RETR_EXTERNAL  # CCOMP keeps inner holes' outlines
    contours, _ = cv2.findContours(mask, mode, cv2.CHAIN_APPROX_NONE)
    eps = float(rng.uniform(1.0, 7.0))
    jitter = float(rng.uniform(0.0, 3.0))
    for c in contours:
        if len(c) < 12:
            continue
        poly = cv2.approxPolyDP(c, eps, True)[:, 0, :].astype(np.float32)
        poly += rng.normal(0, jitter, poly.shape).astype(np.float32)
        pts = np.vstack([poly, poly[:1]])
        keep = np.ones(len(pts) - 1, bool)  # segment i joins pts[i] and pts[i + 1]
        if rng.random() < 0.4 and len(keep) >= 6:  # an open outline: one or two runs of segments missing
            for _ in range(int(rng.integers(1, 3))):
                run = int(rng.integers(1, max(2, len(keep) // 5)))
                start = int(rng.integers(0, len(keep)))
                keep[[(start + i) % len(keep) for i in range(run)]] = False
        segments = [pts[i:i + 2].round().astype(np.int32) for i in np.flatnonzero(keep)]
        cv2.polylines(ink, segments, False, 255, thickness=width, lineType=cv2.LINE_AA)
    return ink


def draw_like_a_person(image28: np.ndarray, rng: np.random.Generator, style: str | None = None) -> np.ndarray:
    """A (28, 28) uint8 Fashion-MNIST image -> a drawing of it, (H, W) uint8, black ink on white.

    style: one of STYLES, or None for a random one (STYLE_WEIGHTS)."""
    style = style or STYLES[int(rng.choice(len(STYLES), p=STYLE_WEIGHTS))]
    big = cv2.resize(np.asarray(image28, np.float32) / 255.0, (28 * SCALE, 28 * SCALE), interpolation=cv2.INTER_LINEAR)
    big = _warp(np.pad(big, PAD), rng)
    mask = _mask(big, rng)
    width = int(rng.integers(3, 26))  # the brush: 12-36 px on a ~250-475 px drawing is 3-20 px here
    if style == "silhouette":
        ink = mask * 255
    elif style in ("outline", "contour"):
        if style == "outline":
            contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            ink = cv2.drawContours(np.zeros_like(mask), contours, -1, 255, thickness=width, lineType=cv2.LINE_AA)
        else:
            ink = _polyline_outline(mask, width, rng)
        # detail lines: a coat's opening, a collar, buttons, a zip, seams, laces; what tells a coat, a shirt
        # and a pullover apart once the shading is gone
        if rng.random() < DETAIL_P[style]:
            inner = _inner_edges(big, mask, rng)
            ink = np.maximum(ink, cv2.dilate(inner, np.ones((max(1, width // 2),) * 2, np.uint8)))
    elif style == "edges":
        edges = _inner_edges(big, None, rng)
        ink = cv2.dilate(edges, np.ones((max(1, width // 2),) * 2, np.uint8))
    else:
        raise ValueError(f"unknown drawing style {style!r}; choose from {STYLES}")
    if ink.max() == 0:  # nothing traced (a very faint image): fall back to its silhouette
        ink = mask * 255 if mask.any() else (big > 0.02).astype(np.uint8) * 255
    return 255 - ink


def as_model_input(drawing: np.ndarray) -> np.ndarray:
    """A drawing (black on white) -> the (28, 28) uint8 the models see, through the app's prepare()."""
    from .preprocess import ImageError, prepare

    try:
        return prepare(drawing, drawing=True).preview  # not left to the detector, whose tuning may move
    except ImageError:
        return np.zeros((28, 28), np.uint8)


def _render(args) -> np.ndarray:
    images, seed = args
    rng = np.random.default_rng(seed)
    return np.stack([as_model_input(draw_like_a_person(im, rng)) for im in images])


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


def render_drawings(images: np.ndarray | torch.Tensor, seed: int = 0, workers: int | None = None) -> np.ndarray:
    """One drawing per image, (N, 28, 28) uint8 as the models see them; deterministic for a seed."""
    images = images.numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    chunk = 2000
    return _map_chunks(_render, [(images[i:i + chunk], seed * 100_003 + i) for i in range(0, len(images), chunk)],
                       workers)


def drawing_bank(images: torch.Tensor, seed: int = 0, cache_dir: str | Path | None = None) -> torch.Tensor:
    """render_drawings(images, seed), cached on disk by the images' content, the seed and VERSION."""
    from .data import DEFAULT_CACHE

    arr = images.numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    key = hashlib.sha256(arr.tobytes()).hexdigest()[:16]
    path = Path(cache_dir or DEFAULT_CACHE) / f"drawings-v{VERSION}-{key}-{seed}.npy"
    return _cached(path, arr.shape, lambda: render_drawings(arr, seed))


# --- things that are not garments: for outlier exposure --------------------------------------------
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
    from .data import DEFAULT_CACHE

    path = Path(cache_dir or DEFAULT_CACHE) / f"doodles-v{DOODLE_VERSION}-{n}-{seed}.npy"
    jobs = [(min(1000, n - i), seed * 100_003 + 7 + i) for i in range(0, n, 1000)]
    return _cached(path, (n, 28, 28), lambda: _map_chunks(_render_doodles, jobs))
