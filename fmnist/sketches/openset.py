"""The open-set benchmark's pictures: things that are not garments, in many styles, and garments in styles
other than the training drawings'. Written apart from everything training uses (`styles`, `details`,
`people`, `doodles`, `pictures` never import this module; a test checks), and deterministic for a seed.

Sources, all made here or shipped with Debian packages:
- **objects**: 30 everyday things (a house, a cat's face, a car, a bicycle, an umbrella, a cup...) written
  as stroke paths, each drawn six ways: with the mouse (`strokes.render`, the sketchpad's brush), as a
  line icon (one bold rounded line), a filled pictogram (closed parts filled, inner lines cut out in
  white), a flat coloured cartoon (fills and a dark outline), a thin-line drawing, and a pictogram with
  a drop shadow;
- **glyphs**: letters, digits and symbols of the Liberation fonts (training's doodles use DejaVu's
  letters) and DejaVu's dingbats and miscellaneous symbols (✈ ☂ ♞ ✂ ☎ ...): no emoji font;
- **textures**: photo-like pictures of no object (plaids, cells, blurred blobs, wood-like rings, gradients);
- **garments**: the drawing benchmark's garment designs (`designs.GARMENTS`, the variants whose outline
  is closed) drawn in the five styles above other than the mouse's.
"""
from __future__ import annotations

import colorsys
import math
import os

import cv2
import numpy as np

from .designs import ASPECT, GARMENTS
from .strokes import arc, closed, dots

SIDE = 256
OBJECT_STYLES = ("mouse", "line icon", "pictogram", "cartoon", "thin line", "shadow")
GARMENT_STYLES = ("line icon", "pictogram", "cartoon", "thin line", "shadow")


def _circle(cx, cy, r, n=20):
    return closed(*arc(cx, cy, r, r, 0, 360, n)[:-1])


def _ellipse(cx, cy, rx, ry, n=20):
    return closed(*arc(cx, cy, rx, ry, 0, 360, n)[:-1])


def _box(x0, y0, x1, y1):
    return closed((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def _spiral():
    t = np.linspace(0, 6 * math.pi, 70)
    return [[(0.5 + 0.5 * a / t[-1] * math.cos(a), 0.5 + 0.5 * a / t[-1] * math.sin(a)) for a in t]]


def _cat_face():
    head = closed(*arc(0.5, 0.58, 0.42, 0.38, -20, 200, 14)[::-1], (0.14, 0.3), (0.2, 0.02), (0.38, 0.22),
                  (0.62, 0.22), (0.8, 0.02), (0.86, 0.3))
    whiskers = [[(0.36, 0.66), (0.05, 0.6)], [(0.36, 0.7), (0.05, 0.76)], [(0.64, 0.66), (0.95, 0.6)],
                [(0.64, 0.7), (0.95, 0.76)]]
    return [head, _circle(0.36, 0.5, 0.05, 8), _circle(0.64, 0.5, 0.05, 8),
            closed((0.46, 0.62), (0.54, 0.62), (0.5, 0.67))] + whiskers + [arc(0.45, 0.72, 0.05, 0.05, 0, 180, 6),
                                                                         arc(0.55, 0.72, 0.05, 0.05, 0, 180, 6)]


def _house():
    return [closed((0.12, 0.45), (0.5, 0.05), (0.88, 0.45), (0.88, 1.0), (0.12, 1.0)),
            _box(0.42, 0.68, 0.58, 1.0), _box(0.2, 0.55, 0.34, 0.68), _box(0.66, 0.55, 0.8, 0.68)]


def _car():
    return [closed((0.0, 0.55), (0.18, 0.52), (0.3, 0.3), (0.7, 0.3), (0.82, 0.52), (1.0, 0.58), (1.0, 0.8),
                   (0.0, 0.8)), _circle(0.24, 0.82, 0.11, 12), _circle(0.76, 0.82, 0.11, 12),
            [(0.35, 0.35), (0.5, 0.35), (0.5, 0.52), (0.26, 0.52), (0.35, 0.35)],
            [(0.55, 0.35), (0.68, 0.35), (0.76, 0.52), (0.55, 0.52), (0.55, 0.35)]]


def _bicycle():
    return [_circle(0.2, 0.7, 0.2, 16), _circle(0.8, 0.7, 0.2, 16),
            [(0.2, 0.7), (0.42, 0.35), (0.72, 0.35), (0.8, 0.7)], [(0.42, 0.35), (0.5, 0.7), (0.72, 0.35)],
            [(0.36, 0.25), (0.5, 0.25)], [(0.72, 0.35), (0.7, 0.2), (0.8, 0.18)]]


def _umbrella():
    canopy = closed(*arc(0.5, 0.45, 0.5, 0.42, 180, 360, 14), (0.83, 0.4), (0.67, 0.45), (0.5, 0.4), (0.33, 0.45),
                    (0.17, 0.4))
    return [canopy, [(0.5, 0.45), (0.5, 0.92)] + arc(0.43, 0.92, 0.07, 0.07, 0, 180, 6)]


def _cup():
    return [closed((0.1, 0.2), (0.75, 0.2), (0.7, 0.95), (0.15, 0.95)), arc(0.75, 0.5, 0.2, 0.18, -90, 90, 8),
            [(0.3, 0.0), (0.28, 0.12)], [(0.5, 0.0), (0.52, 0.12)]]


def _apple():
    body = closed(*arc(0.32, 0.58, 0.3, 0.38, 90, 270, 8), *arc(0.68, 0.58, 0.3, 0.38, 270, 450, 8))
    return [body, [(0.5, 0.22), (0.55, 0.0)], closed((0.55, 0.12), (0.75, 0.02), (0.8, 0.12), (0.6, 0.17))]


def _key():
    return [_circle(0.22, 0.5, 0.2, 14), [(0.42, 0.5), (1.0, 0.5)], [(0.8, 0.5), (0.8, 0.68)], [(0.92, 0.5), (0.92, 0.64)],
            _circle(0.22, 0.5, 0.07, 8)]


def _bell():
    return [closed((0.5, 0.05), *arc(0.5, 0.35, 0.28, 0.3, 270, 360, 6)[1:], (0.85, 0.85), (0.15, 0.85),
                   *arc(0.5, 0.35, 0.28, 0.3, 180, 270, 6)[:-1]), _circle(0.5, 0.92, 0.08, 8)]


def _bus():
    return [_box(0.0, 0.1, 1.0, 0.82), _circle(0.22, 0.85, 0.1, 12), _circle(0.78, 0.85, 0.1, 12)] \
        + [_box(0.06 + 0.19 * i, 0.2, 0.2 + 0.19 * i, 0.45) for i in range(5)] + [[(0.0, 0.6), (1.0, 0.6)]]


def _flower():
    petals = [_ellipse(0.5 + 0.25 * math.cos(a), 0.35 + 0.25 * math.sin(a), 0.13, 0.13, 10)
              for a in np.linspace(0, 2 * math.pi, 7)[:-1]]
    return petals + [_circle(0.5, 0.35, 0.1, 10), [(0.5, 0.6), (0.5, 1.0)], closed((0.5, 0.85), (0.7, 0.72), (0.52, 0.78))]


def _moon():
    return [closed(*arc(0.5, 0.5, 0.45, 0.45, 60, 300, 14), *arc(0.72, 0.5, 0.38, 0.4, 240, 120, 12)[1:-1])]


def _lightning():
    return [closed((0.55, 0.0), (0.15, 0.55), (0.45, 0.55), (0.3, 1.0), (0.85, 0.4), (0.55, 0.4), (0.75, 0.0))]


def _envelope():
    return [_box(0.0, 0.15, 1.0, 0.85), [(0.0, 0.15), (0.5, 0.55), (1.0, 0.15)]]


def _clock():
    return [_circle(0.5, 0.5, 0.48, 20), [(0.5, 0.5), (0.5, 0.2)], [(0.5, 0.5), (0.72, 0.6)]] \
        + [[(0.5 + 0.4 * math.cos(a), 0.5 + 0.4 * math.sin(a)), (0.5 + 0.46 * math.cos(a), 0.5 + 0.46 * math.sin(a))]
           for a in np.linspace(0, 2 * math.pi, 13)[:-1]]


def _balloon():
    return [_ellipse(0.5, 0.35, 0.3, 0.35, 16), closed((0.47, 0.7), (0.53, 0.7), (0.5, 0.74)),
            [(0.5, 0.74), (0.45, 0.82), (0.55, 0.9), (0.48, 1.0)]]


def _cloud():
    return [closed(*arc(0.25, 0.6, 0.2, 0.2, 90, 270, 6), *arc(0.42, 0.38, 0.2, 0.22, 180, 330, 6),
                   *arc(0.68, 0.4, 0.22, 0.24, 210, 360, 6), *arc(0.8, 0.62, 0.18, 0.18, 270, 450, 6))]


def _tree():
    return [closed(*arc(0.5, 0.38, 0.42, 0.38, 110, 430, 18), (0.58, 0.72), (0.58, 1.0), (0.42, 1.0), (0.42, 0.72))]


def _fish():
    return [closed(*arc(0.42, 0.5, 0.4, 0.28, -150, 150, 16), (1.0, 0.2), (1.0, 0.8)), _circle(0.22, 0.45, 0.04, 6),
            arc(0.55, 0.5, 0.12, 0.2, -60, 60, 6)]


def _bird():
    return [closed(*arc(0.45, 0.6, 0.35, 0.25, 0, 180, 10), (0.05, 0.5), (0.2, 0.3), (0.35, 0.35), (0.8, 0.45)),
            [(0.2, 0.3), (0.0, 0.35), (0.18, 0.4)], [(0.4, 0.55), (0.65, 0.25), (0.75, 0.55)],
            [(0.4, 0.85), (0.38, 1.0)], [(0.55, 0.85), (0.57, 1.0)], _circle(0.25, 0.38, 0.03, 6)]


def _rocket():
    return [closed((0.5, 0.0), (0.68, 0.25), (0.68, 0.75), (0.32, 0.75), (0.32, 0.25)),
            closed((0.32, 0.55), (0.15, 0.85), (0.32, 0.75)), closed((0.68, 0.55), (0.85, 0.85), (0.68, 0.75)),
            _circle(0.5, 0.38, 0.08, 10), [(0.42, 0.8), (0.5, 1.0), (0.58, 0.8)]]


def _boat():
    return [closed((0.0, 0.65), (1.0, 0.65), (0.82, 0.9), (0.18, 0.9)), [(0.5, 0.65), (0.5, 0.0)],
            closed((0.5, 0.05), (0.9, 0.55), (0.5, 0.55))]


def _lamp():
    return [closed((0.3, 0.0), (0.7, 0.0), (0.9, 0.4), (0.1, 0.4)), [(0.5, 0.4), (0.5, 0.9)], _box(0.25, 0.9, 0.75, 1.0)]


def _chair():
    return [[(0.25, 0.0), (0.25, 1.0)], [(0.25, 0.55), (0.8, 0.55), (0.8, 1.0)], [(0.25, 0.1), (0.25, 0.55)],
            _box(0.25, 0.05, 0.35, 0.5)]


def _guitar():
    return [closed(*arc(0.3, 0.72, 0.28, 0.26, 0, 360, 14)[:-1]), _circle(0.3, 0.72, 0.08, 8),
            [(0.4, 0.62), (0.92, 0.1)], _box(0.88, 0.0, 1.0, 0.12)]


def _mushroom():
    return [closed(*arc(0.5, 0.5, 0.5, 0.45, 180, 360, 14), (0.5, 0.5)), _box(0.38, 0.5, 0.62, 1.0),
            _circle(0.3, 0.3, 0.06, 8), _circle(0.62, 0.22, 0.07, 8)]


def _teapot():
    return [closed(*arc(0.5, 0.6, 0.32, 0.3, 0, 360, 16)[:-1]), [(0.18, 0.55), (0.0, 0.35), (0.05, 0.3)],
            arc(0.82, 0.6, 0.14, 0.16, -90, 90, 8), _box(0.42, 0.22, 0.58, 0.3)]


def _ball():
    return [_circle(0.5, 0.5, 0.48, 20), arc(0.0, 0.5, 0.45, 0.45, -60, 60, 8), arc(1.0, 0.5, 0.45, 0.45, 120, 240, 8)]


def _book():
    return [closed((0.1, 0.0), (0.9, 0.0), (0.9, 1.0), (0.1, 1.0)), [(0.2, 0.0), (0.2, 1.0)],
            [(0.35, 0.3), (0.8, 0.3)], [(0.35, 0.42), (0.7, 0.42)]]


def _phone():
    return [_box(0.2, 0.0, 0.8, 1.0), _box(0.26, 0.1, 0.74, 0.82), _circle(0.5, 0.91, 0.04, 6)]


def _camera():
    return [closed((0.0, 0.25), (0.3, 0.25), (0.36, 0.1), (0.64, 0.1), (0.7, 0.25), (1.0, 0.25), (1.0, 0.9), (0.0, 0.9)),
            _circle(0.5, 0.56, 0.22, 14), _circle(0.5, 0.56, 0.1, 8)]


def _heart():
    return [closed(*arc(0.28, 0.3, 0.25, 0.25, 150, 360, 8), *arc(0.72, 0.3, 0.25, 0.25, 180, 390, 8)[1:], (0.5, 1.0))]


def _sun():
    return [_circle(0.5, 0.5, 0.25, 16)] + [
        [(0.5 + 0.32 * math.cos(a), 0.5 + 0.32 * math.sin(a)), (0.5 + 0.5 * math.cos(a), 0.5 + 0.5 * math.sin(a))]
        for a in np.linspace(0, 2 * math.pi, 9)[:-1]]


def _smiley():
    return [_circle(0.5, 0.5, 0.48, 20), arc(0.5, 0.55, 0.28, 0.22, 20, 160, 8)] + dots([0.35, 0.65], [0.35, 0.35], 0.05)


OBJECTS = {"house": _house, "spiral": _spiral, "cat's face": _cat_face, "car": _car, "bicycle": _bicycle,
           "umbrella": _umbrella, "cup": _cup, "apple": _apple, "key": _key, "bell": _bell, "bus": _bus,
           "flower": _flower, "moon": _moon, "lightning": _lightning, "envelope": _envelope, "clock": _clock,
           "balloon": _balloon, "cloud": _cloud, "tree": _tree, "fish": _fish, "bird": _bird, "rocket": _rocket,
           "boat": _boat, "lamp": _lamp, "chair": _chair, "guitar": _guitar, "mushroom": _mushroom,
           "teapot": _teapot, "ball": _ball, "book": _book, "phone": _phone, "camera": _camera, "heart": _heart,
           "sun": _sun, "smiley": _smiley}
OBJECT_ASPECT = {"car": 1.6, "bicycle": 1.6, "bus": 1.7, "key": 1.8, "envelope": 1.4, "fish": 1.5, "boat": 1.3,
                 "bird": 1.3, "camera": 1.3, "phone": 0.55, "book": 0.8, "lamp": 0.7, "cup": 1.1, "guitar": 1.0,
                 "chair": 0.6, "rocket": 0.6, "umbrella": 1.0, "teapot": 1.3}

LIBERATION = "/usr/share/fonts/truetype/liberation"
GLYPH_TEXT = "ABGKMQRWZbfgjkqtwy34579?&@%§¶€£"
SYMBOL_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SYMBOLS = "✈☂♞✂☎♠♣♥♦★☀☁☃⚓⚑✉✏✒♪♫☯✿❀☘⚙⚡☕"  # DejaVu Sans' dingbats and miscellaneous symbols


# --- drawing styles -------------------------------------------------------------------------------
def _colour(rng, dark=False):
    h, s = float(rng.uniform()), float(rng.uniform(0.2, 0.9))
    v = float(rng.uniform(0.05, 0.3) if dark else rng.uniform(0.55, 0.95))
    return tuple(int(255 * c) for c in colorsys.hsv_to_rgb(h, s, v))


def _place(strokes, aspect, rng):
    """Strokes in unit fractions -> pixel polylines on the SIDE canvas, the design's box fitted at a random
    size and position."""
    every = np.array([p for s in strokes for p in s], float)
    lo, span = every.min(0), np.maximum(np.ptp(every, 0), 1e-6)
    h = SIDE * rng.uniform(0.5, 0.8)
    w = h * aspect
    if w > SIDE * 0.85:
        h, w = h * SIDE * 0.85 / w, SIDE * 0.85
    x0, y0 = rng.uniform(0.06 * SIDE, 0.94 * SIDE - w), rng.uniform(0.06 * SIDE, 0.94 * SIDE - h)
    return [np.stack([x0 + (np.array(s, float)[:, 0] - lo[0]) / span[0] * w,
                      y0 + (np.array(s, float)[:, 1] - lo[1]) / span[1] * h], 1) for s in strokes]


def _is_closed(s) -> bool:
    return len(s) > 2 and np.allclose(s[0], s[-1], atol=1e-6)


def _aa(pts):
    return [np.round(np.asarray(pts) * 16).astype(np.int32)]


def draw(strokes, aspect: float, style: str, rng: np.random.Generator) -> np.ndarray:
    """A design in a style, as an RGB uint8 picture (SIDE x SIDE) on white."""
    placed = _place(strokes, aspect, rng)
    img = np.full((SIDE, SIDE, 3), 255, np.uint8)
    if style == "mouse":
        brush = int(rng.choice([5, 9, 14]))
        for s in placed:
            pts = (s + rng.normal(0, 1.2, s.shape)).round().astype(np.int32)
            cv2.polylines(img, [pts], False, (0, 0, 0), brush, cv2.LINE_8)
        return img
    if style in ("line icon", "thin line"):
        width = int(rng.integers(9, 16)) if style == "line icon" else int(rng.integers(1, 3))
        ink = (0, 0, 0) if rng.random() < 0.6 else _colour(rng, dark=True)
        for s in placed:
            cv2.polylines(img, _aa(s), _is_closed(s), ink, width, cv2.LINE_AA, shift=4)
        return img
    shadow = style == "shadow"
    fills = [s for s in placed if _is_closed(s)]
    if not fills:  # nothing to fill: a bold line icon instead
        return draw(strokes, aspect, "line icon", rng)
    body = np.zeros((SIDE, SIDE), np.uint8)
    cv2.fillPoly(body, _aa(fills[0]), 1, cv2.LINE_AA, shift=4)
    others = fills[1:]
    if shadow:
        off = (int(rng.integers(6, 14)), int(rng.integers(6, 14)))
        sh = np.zeros_like(body)
        for s in fills:
            cv2.fillPoly(sh, _aa(s + off), 1, cv2.LINE_AA, shift=4)
        img[sh > 0] = int(rng.integers(170, 215))
    if style in ("pictogram", "shadow"):
        ink = (0, 0, 0) if rng.random() < 0.5 else _colour(rng, dark=True)
        width = int(rng.integers(5, 10))
        for s in fills:
            cv2.fillPoly(img, _aa(s), ink, cv2.LINE_AA, shift=4)
        cut = np.zeros_like(body)  # inner lines cut out in white, outer ones drawn in ink
        for s in placed[1:]:
            cv2.polylines(cut, _aa(s), _is_closed(s), 1, width, cv2.LINE_AA, shift=4)
        inside = cv2.erode(body, np.ones((5, 5), np.uint8)) > 0
        img[(cut > 0) & inside] = 255
        img[(cut > 0) & ~inside] = ink
        return img
    # cartoon: fills in colours, a dark outline over every stroke
    cv2.fillPoly(img, _aa(fills[0]), _colour(rng), cv2.LINE_AA, shift=4)
    for s in others:
        cv2.fillPoly(img, _aa(s), _colour(rng), cv2.LINE_AA, shift=4)
    outline, width = _colour(rng, dark=True), int(rng.integers(3, 7))
    for s in placed:
        cv2.polylines(img, _aa(s), _is_closed(s), outline, width, cv2.LINE_AA, shift=4)
    return img


def glyph(text: str, font_path: str, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (SIDE, SIDE), "white")
    font = ImageFont.truetype(font_path, int(rng.integers(120, 190)))
    d = ImageDraw.Draw(img)
    box = d.textbbox((0, 0), text, font=font)
    x = (SIDE - (box[2] - box[0])) / 2 - box[0] + rng.uniform(-15, 15)
    y = (SIDE - (box[3] - box[1])) / 2 - box[1] + rng.uniform(-15, 15)
    d.text((x, y), text, fill=(0, 0, 0) if rng.random() < 0.6 else _colour(rng, dark=True), font=font)
    return np.asarray(img)


def texture(kind: str, rng: np.random.Generator) -> np.ndarray:
    """A photo-like picture of no object (RGB uint8)."""
    ys, xs = np.mgrid[0:SIDE, 0:SIDE] / SIDE
    if kind == "plaid":
        f = rng.uniform(4, 12)
        g = 0.5 + 0.25 * np.sin(2 * np.pi * f * xs) + 0.25 * np.sin(2 * np.pi * f * rng.uniform(0.5, 1.5) * ys)
    elif kind == "cells":  # Voronoi cells with random shades
        pts = rng.uniform(0, 1, (int(rng.integers(8, 30)), 2))
        d = (xs[..., None] - pts[:, 0]) ** 2 + (ys[..., None] - pts[:, 1]) ** 2
        g = rng.uniform(0, 1, len(pts))[d.argmin(-1)]
    elif kind == "blobs":
        g = np.zeros_like(xs)
        for _ in range(int(rng.integers(3, 10))):
            c, s = rng.uniform(0, 1, 2), rng.uniform(0.05, 0.25)
            g += rng.uniform(-1, 1) * np.exp(-((xs - c[0]) ** 2 + (ys - c[1]) ** 2) / (2 * s * s))
    elif kind == "rings":  # wood-like
        c = rng.uniform(0, 1, 2)
        r = np.hypot(xs - c[0], (ys - c[1]) * rng.uniform(0.3, 1))
        g = 0.5 + 0.5 * np.sin(r * rng.uniform(30, 80) + 3 * np.sin(xs * 7))
    else:  # a gradient with grain
        t = rng.uniform(0, np.pi)
        g = xs * np.cos(t) + ys * np.sin(t) + rng.normal(0, 0.08, xs.shape)
    g = (g - g.min()) / max(float(np.ptp(g)), 1e-6)
    tint = np.array(_colour(rng), float) / 255
    return (np.clip(g[..., None] * tint[None, None] + (1 - g[..., None]) * tint[::-1] * 0.3, 0, 1) * 255).astype(np.uint8)


TEXTURES = ("plaid", "cells", "blobs", "rings", "gradient")


def non_garments(seed: int = 0) -> list[dict]:
    """Every non-garment picture: {name, source, style, image (RGB uint8)}."""
    rng = np.random.default_rng(seed)
    out = []
    for name, make in OBJECTS.items():
        for style in OBJECT_STYLES:
            out.append({"name": f"{name} ({style})", "source": "objects", "style": style,
                        "image": draw(make(), OBJECT_ASPECT.get(name, 1.0), style, rng)})
    fonts = sorted(os.path.join(LIBERATION, f) for f in os.listdir(LIBERATION)) if os.path.isdir(LIBERATION) else []
    for i, ch in enumerate(GLYPH_TEXT):
        if fonts:
            out.append({"name": f"'{ch}'", "source": "glyphs", "style": "letters and digits",
                        "image": glyph(ch, fonts[i % len(fonts)], rng)})
    if os.path.isfile(SYMBOL_FONT):
        for ch in SYMBOLS:
            out.append({"name": f"'{ch}'", "source": "glyphs", "style": "dingbats", "image": glyph(ch, SYMBOL_FONT, rng)})
    for kind in TEXTURES:
        for k in range(6):
            out.append({"name": f"{kind} {k}", "source": "textures", "style": kind, "image": texture(kind, rng)})
    return out


def garments(seed: int = 1) -> list[dict]:
    """Every garment picture in the styles the training drawings never use: {name, label, style, image}."""
    rng = np.random.default_rng(seed)
    out = []
    for label, make in GARMENTS.items():
        for v in range(5):
            strokes = make(v)
            if not _is_closed(strokes[0]):
                continue
            for style in GARMENT_STYLES:
                out.append({"name": f"{label}-{v} ({style})", "label": label, "style": style,
                            "image": draw(strokes, ASPECT[label], style, rng)})
    return out
