"""Strokes, the one format every hand-made drawing is written in, and the one renderer for them.

A drawing is a list of strokes; a stroke is a list of (x, y) points in a unit box (x right, y down), drawn
as one line with the brush; a `Filled` stroke is also shaded in. The training drawings' class details
(`details.py`), the drawing benchmark's designs (`designs.py`) and the held-out designs (`heldout.py`) are
all written this way; `render` draws any of them as the sketchpad would, and the browser tests and
`tools/capture_drawings.py` draw them with the mouse in the real sketchpad.
"""
from __future__ import annotations

import cv2
import numpy as np

SCALE = 8      # training drawings are made at 8x: a 224 px garment, the size of a drawing on the 560 px sketchpad
CANVAS = 560   # the sketchpad's side in pixels


class Filled(list):
    """A closed stroke that is also shaded in (a list of points, so it can be drawn as a plain stroke)."""


def arc(cx, cy, rx, ry, a0, a1, n: int = 9) -> list:
    """Points on an ellipse from angle a0 to a1 (degrees, 0 = right, 90 = down)."""
    a = np.radians(np.linspace(a0, a1, n))
    return list(zip(cx + rx * np.cos(a), cy + ry * np.sin(a)))


def closed(*pts) -> list:
    """A stroke that ends where it starts."""
    return list(pts) + [pts[0]]


def zigzag(x0, x1, y0, y1, n) -> list:
    """A back-and-forth scribble filling the box, as people shade a shape in."""
    return [(x0, y0 + (y1 - y0) * i / n) if i % 2 == 0 else (x1, y0 + (y1 - y0) * i / n) for i in range(n + 1)]


def dots(xs, ys, r=0.015) -> list:
    """Small circles, one stroke each (buttons, eyes)."""
    return [arc(x, y, r, r, 0, 360, 6) for x, y in zip(xs, ys)]


def render(strokes, aspect: float, layout, anti_aliased: bool = False) -> np.ndarray:
    """A drawing on a 560 px white canvas as the sketchpad's composite (RGBA, black ink). layout:
    (height px, centre x, centre y, brush); the drawing's own box is stretched to height x height*aspect.
    anti_aliased: as a paint program draws it instead (half-tone edges, butt ends)."""
    h, cx, cy, brush = layout
    w = h * aspect
    if w > 500:
        h, w = h * 500 / w, 500
    cx = min(max(cx, w / 2 + brush), CANVAS - w / 2 - brush)  # the whole drawing on the canvas
    cy = min(max(cy, h / 2 + brush), CANVAS - h / 2 - brush)
    every = np.array([pt for s in strokes for pt in s], np.float64)
    lo, span = every.min(0), np.maximum(every.max(0) - every.min(0), 1e-6)  # the design's own box fills w x h
    canvas = np.full((CANVAS, CANVAS), 255, np.uint8)
    for s in strokes:
        fill = isinstance(s, Filled)
        unit = (np.array(s, np.float64) - lo) / span
        pts = np.stack([cx - w / 2 + unit[:, 0] * w, cy - h / 2 + unit[:, 1] * h], 1)
        if anti_aliased:  # 4 bits of sub-pixel precision
            fine = (pts * 16).round().astype(np.int32)
            if fill:
                cv2.fillPoly(canvas, [fine], 0, cv2.LINE_AA, shift=4)
            cv2.polylines(canvas, [fine], False, 0, brush, cv2.LINE_AA, shift=4)
            continue
        pts = pts.round().astype(np.int32)
        if fill:
            cv2.fillPoly(canvas, [pts], 0, cv2.LINE_8)
        cv2.polylines(canvas, [pts], False, 0, brush, cv2.LINE_8)
        for x, y in pts[[0, -1]]:  # round caps, as a brush leaves
            cv2.circle(canvas, (int(x), int(y)), brush // 2, 0, -1, cv2.LINE_8)
    return np.dstack([canvas] * 3 + [np.full_like(canvas, 255)])
