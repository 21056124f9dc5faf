"""Drawings made from Fashion-MNIST images, the ways people draw a garment: for training models to read
sketches as well as photos.

The models only ever saw solid grey photos, where the only thin-line garments are sandals, so a drawn
outline of a trouser looked like a sandal or a bag to all of them. Following "Edge Augmentation for
Large-Scale Sketch Recognition without Sketches" (arXiv 2202.13164: randomized thin edges of photos
stand in for sketches), each training image can be turned into one of five kinds of drawing:

- ``silhouette``: the garment's mask, thresholded and filled, in solid ink (people shade shapes in);
- ``outline``: the mask's boundary at a random stroke width;
- ``contour``: the boundary traced, simplified to a polygon, its corners jittered, parts of it left out
  (open outlines), drawn as a polyline;
  both often with inner detail lines (collars, zips, seams: the photo's inner edges) and, given the
  image's class, the details people draw on that kind of garment (``garment_details``);
- ``edges``: an edge map of the photo (Canny), which keeps inner edges, thickened into strokes;
- ``scribble``: the shape shaded in the way a mouse does it, one zigzag stroke back and forth across it,
  sometimes with its outline.

Tops and trousers are also drawn, some of the time, from the shape a person draws rather than the
photo's (``person_shape``): a photographed pullover's sleeves hang against its body, so its mask is nearly
a rectangle, but people draw sleeves held out from the body, and trousers in any proportions.

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

STYLES = ("silhouette", "outline", "contour", "edges", "scribble")
STYLE_WEIGHTS = (0.13, 0.23, 0.36, 0.18, 0.10)
SCALE = 8          # drawn at 8x: a 224 px garment, the size of a drawing on the 560 px sketchpad
PAD = 40           # room for the warp and for strokes at the border (the thickest brush grazes it in ~1 drawing of 1500)
VERSION = 9        # part of the cache key: bump when the drawings change (4-5: garment_details; 6: person_shape, scribble;
#                   9: thicker brushes, details drawn with the outline's brush)
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


def _boundary(mask: np.ndarray, width: int, ink: np.ndarray | None = None) -> np.ndarray:
    """The mask's outer boundary drawn at `width` (uint8 0/255), onto `ink` if given."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return cv2.drawContours(np.zeros_like(mask) if ink is None else ink, contours, -1, 255, thickness=width,
                            lineType=cv2.LINE_AA)


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


# --- the shapes people draw -----------------------------------------------------------------------
# A photographed top lies flat with its sleeves against its body: its mask is nearly a rectangle, and a
# drawing traced from it has no gap between sleeve and body. People draw a top as a body with two sleeves
# held out from it (short for a T-shirt, to the hem or beyond for the rest), and a trouser as two legs in
# any proportions. `person_shape` makes such a shape; its proportions are random within wide ranges.
PERSON_SHAPE_P = {0: 0.3, 1: 0.3, 2: 0.45, 4: 0.45, 6: 0.45}  # how often a class is drawn from person_shape
PERSON_DETAILS_P = {2: 0.5, 4: 0.95, 6: 0.95}  # how often such a shape gets its details: a coat or a shirt
#   drawn without them is a long-sleeved top like any other, and a plain one is most often a pullover


def _fill(shape: tuple, polygon: list) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    cv2.fillPoly(out, [np.asarray(polygon, np.float32).round().astype(np.int32)], 1, cv2.LINE_AA)
    return out


def _top_shape(label: int, rng: np.random.Generator) -> tuple[list, list, list]:
    """A top as people draw it, in units of its body's height: (outline, body, cuffs), points (x, y) with
    x = 0 on the centre line and y = 0 at the neck, y down."""
    u = rng.uniform
    s = u(0.26, 0.42)                  # shoulder half-width
    hem = s * u(0.85, 1.15)            # the hem's half-width
    neck_w = s * u(0.3, 0.5)
    v_neck = label == 4 or (label in (0, 6) and rng.random() < 0.2)
    depth = u(0.15, 0.45) if v_neck else u(0.03, 0.12)
    slope = u(0.0, 0.07)               # shoulders fall from the neck
    if label == 0:                     # short sleeves held well out
        angle, length, width = u(30, 80), u(0.15, 0.45), u(0.16, 0.3)
    else:                              # long sleeves, from nearly hanging to held out
        angle, length, width = u(8, 55), u(0.6, 1.05), u(0.12, 0.22)
    armpit_y = u(0.18, 0.35)
    sides, cuffs = [], []
    for sign in (-1, 1):               # left sleeve, then right, each slightly different
        a = np.radians(angle + rng.normal(0, 4))
        d = np.array([sign * np.sin(a), np.cos(a)])           # along the sleeve
        across = np.array([-sign * np.cos(a), np.sin(a)])     # across it, towards the body
        shoulder = np.array([sign * s, slope])
        out = shoulder + length * u(0.93, 1.07) * d
        inner = out + width * u(0.65, 1.0) * across
        sides.append((shoulder, out, inner, np.array([sign * s * u(0.9, 1.0), armpit_y])))
        back = out - 0.08 * d
        cuffs.append([tuple(back), tuple(back + width * 0.8 * across)])
    (ls, lo, li, la), (rs, ro, ri, ra) = sides
    neckline = [(neck_w * np.cos(t), depth * np.sin(t)) for t in np.linspace(0, np.pi, 9)] if not v_neck else [
        (neck_w, 0.0), (0.0, depth), (-neck_w, 0.0)]                                          # right to left
    outline = [*neckline, tuple(ls), tuple(lo), tuple(li), tuple(la), (-hem, 1.0), (hem, 1.0), tuple(ra),
               tuple(ri), tuple(ro), tuple(rs)]
    body = [*neckline, tuple(ls), tuple(la), (-hem, 1.0), (hem, 1.0), tuple(ra), tuple(rs)]
    return outline, body, cuffs


def _trouser_shape(rng: np.random.Generator) -> list:
    """Two legs joined at the waist, in units of the trouser's length."""
    u = rng.uniform
    waist = u(0.16, 0.42)
    hip = waist * u(1.0, 1.12)
    outer = waist * u(0.85, 1.4)
    gap = u(0.015, 0.12)
    outer = max(outer, gap + u(0.09, 0.2))
    crotch = u(0.2, 0.42)
    return [(-waist, 0.0), (waist, 0.0), (hip, 0.15), (outer, 1.0), (gap, 1.0), (0.0, crotch), (-gap, 1.0),
            (-outer, 1.0), (-hip, 0.15)]


def person_shape(label: int, shape: tuple, rng: np.random.Generator):
    """A garment's shape as people draw it, on a canvas of `shape` (the drawing's, garment ~224 px tall):
    (mask, body, cuffs): 0/1 masks of the whole shape and of a top's body (None for trousers), and a top's
    cuff lines in canvas pixels (empty for trousers)."""
    if label == 1:
        outline, body, cuffs = _trouser_shape(rng), None, []
    else:
        outline, body, cuffs = _top_shape(label, rng)
    t = np.radians(rng.uniform(-5, 5))  # a hand's tilt and shear
    tilt = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]) @ np.array([[1, rng.uniform(-0.08, 0.08)], [0, 1]])
    pts = np.asarray(outline, np.float64) @ tilt.T
    lo, hi = pts.min(0), pts.max(0)
    size = 28 * SCALE * rng.uniform(0.85, 1.0) / max(hi - lo)   # the long side ~ the dataset's frame
    centre = np.array([shape[1], shape[0]]) / 2 - (lo + hi) / 2 * size

    def place(points):
        return [tuple(tilt @ np.asarray(p) * size + centre) for p in points]

    mask = _fill(shape, place(outline))
    return (mask, None if body is None else _fill(shape, place(body)) & mask,
            [place(c) for c in cuffs])


def scribble(mask: np.ndarray, width: int, rng: np.random.Generator) -> np.ndarray:
    """The mask shaded in as a mouse does it: one stroke zigzagging across it at a random angle and
    spacing, a little over its edge (uint8 ink 0/255)."""
    ink = np.zeros_like(mask)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return ink
    t = np.radians(rng.uniform(0, 180))
    c, s_ = np.cos(t), np.sin(t)
    along, across = xs * c + ys * s_, -xs * s_ + ys * c
    step = max(4.0, width * rng.uniform(0.6, 1.8))
    rows = np.floor((across - across.min()) / step).astype(int)
    pts = []
    for r in range(rows.max() + 1):
        sel = rows == r
        if not sel.any():
            continue
        a0, a1 = along[sel].min(), along[sel].max()
        v = across.min() + (r + 0.5) * step
        ends = [a0, a1] if r % 2 == 0 else [a1, a0]
        pts += [(e * c - v * s_, e * s_ + v * c) for e in ends]
    pts = np.asarray(pts, np.float32) + rng.normal(0, 1.5, (len(pts), 2)).astype(np.float32)
    cv2.polylines(ink, [pts.round().astype(np.int32)], False, 255, width, cv2.LINE_AA)
    ink &= cv2.dilate(mask, np.ones((width // 2 + 3,) * 2, np.uint8)) * 255
    return ink


# --- the details people draw to say which garment it is ------------------------------------------
# Once the shading is gone, a coat, a shirt and a pullover have the same outline; what tells them apart in
# a drawing is what people add: a coat's opening, lapels and pockets, a shirt's collar and buttons, a
# pullover's ribbed hem and cuffs, a trouser's waistband and fly, a shoe's sole and laces. A 28x28 photo
# shows these faintly or not at all (its Canny edges above find some), so `garment_details` draws them
# on the garment's own mask, placed from the mask's shape (its box, centre line, neckline), each with a
# probability per class: a prior about how people draw garments, written by hand. The drawing benchmark's
# designs carry the same kind of knowledge (written separately, as stroke paths), so its figures are
# reported for plain outlines apart from outlines with details (bench/drawings.py, by kind).
DETAILS_P = {4: 0.9, 6: 0.9}  # how often an outline or contour of a class gets its details (0.7 otherwise):
#                              coats and shirts share an outline, so their details are what names them


def _box(mask: np.ndarray):
    ys, xs = np.nonzero(mask)
    return xs.min(), ys.min(), xs.max(), ys.max()


def garment_details(mask: np.ndarray, label: int, width: int, rng: np.random.Generator,
                    body: np.ndarray | None = None, cuffs: list | None = None) -> np.ndarray:
    """Detail strokes for a garment of class `label` on its (H, W) 0/1 mask: uint8 ink 0/255. For a shape
    from `person_shape`, `body` (a top without its sleeves) places the details and `cuffs` are where its
    sleeves end."""
    ink = np.zeros_like(mask)
    if not mask.any():
        return ink
    frame = body if body is not None and body.any() else mask
    x0, y0, x1, y1 = _box(frame)
    w, h = max(1, x1 - x0), max(1, y1 - y0)
    cx = int(round((x0 + x1) / 2 + rng.normal(0, 0.01) * w))
    col = np.flatnonzero(frame[:, min(max(cx, 0), mask.shape[1] - 1)])
    neck = int(col[0]) if len(col) else y0           # the neckline's lowest point at the centre
    hem = int(col[-1]) if len(col) else y1
    lw = max(2, int(round(width * rng.uniform(0.75, 1.0))))  # the same brush as the outline, most often
    jit = 0.012 * max(w, h)

    def stroke(pts, closed=False):
        pts = np.asarray(pts, np.float32) + rng.normal(0, jit, (len(pts), 2)).astype(np.float32)
        cv2.polylines(ink, [pts.round().astype(np.int32)], closed, 255, lw, cv2.LINE_AA)

    def X(f):  # a fraction of the box's width, from its left
        return x0 + f * w

    def Y(f):
        return y0 + f * h

    def dots(x, ys):
        r = max(lw, int(0.025 * w))
        for y in ys:
            cv2.circle(ink, (int(x), int(y)), r, 255, -1, cv2.LINE_AA)

    def p(q):
        return rng.random() < q

    def sleeve_ends():  # a line across each sleeve near its end
        if cuffs:
            for c in cuffs:
                stroke(c)
        else:
            y = Y(rng.uniform(0.7, 0.85))
            stroke([(X(0.0), y), (X(0.15), y)])
            stroke([(X(0.85), y), (X(1.0), y)])

    def across(y, a=0.22, b=0.78):  # a horizontal line across the body at row y, clipped to the mask
        row = np.flatnonzero(mask[int(min(max(y, 0), mask.shape[0] - 1))])
        if len(row):
            lo, hi = max(row[0], X(a)), min(row[-1], X(b))
            if hi > lo:
                stroke([(lo, y), (hi, y)])

    if label in (0, 2, 4, 6):  # tops
        if label == 4:         # coat: an opening down the front, lapels, buttons, pockets, a belt, a zip
            front = p(0.85)
            if front:
                stroke([(cx, neck), (cx, hem)])
            if p(0.5):
                stroke([(X(0.38), y0), (cx, Y(rng.uniform(0.25, 0.4))), (X(0.62), y0)])
            if p(0.3):
                dots(cx - (0.06 * w if front else 0), np.linspace(Y(0.35), Y(0.85), int(rng.integers(3, 6))))
            if p(0.35):
                y = Y(rng.uniform(0.6, 0.75))
                stroke([(X(0.25), y), (X(0.4), y)])
                stroke([(X(0.6), y), (X(0.75), y)])
            if p(0.15):
                across(Y(0.5))
            if front and p(0.2):
                for y in np.linspace(Y(0.2), Y(0.9), int(rng.integers(4, 8))):
                    stroke([(cx - 0.03 * w, y), (cx + 0.03 * w, y)])
        elif label == 6:       # shirt: a collar, buttons or a placket, a chest pocket, cuffs
            if p(0.75):
                d = rng.uniform(0.05, 0.1)
                stroke([(X(0.36), y0), (cx - d * w, neck + 0.1 * h), (cx, neck + 0.03 * h),
                        (cx + d * w, neck + 0.1 * h), (X(0.64), y0)])
            buttons = p(0.7)
            if buttons:
                dots(cx, np.linspace(Y(0.22), Y(0.88), int(rng.integers(3, 7))))
            if p(0.35 if buttons else 0.1):  # a placket: with buttons on it, most often
                stroke([(cx, neck + 0.05 * h), (cx, hem)])
            if p(0.25):
                stroke([(X(0.58), Y(0.22)), (X(0.72), Y(0.22)), (X(0.72), Y(0.34)), (X(0.58), Y(0.34))], True)
            if p(0.2):
                sleeve_ends()
        elif label == 2:       # pullover: a crew neck, a ribbed hem and cuffs, a pattern band
            if p(0.35):
                stroke(arc_points(cx, y0, 0.14 * w, max(neck - y0, 0.08 * h) + 0.04 * h, 180, 0))
            if p(0.45):
                across(Y(0.92))
            if p(0.35):
                sleeve_ends()
            if p(0.12):
                xs = np.linspace(X(0.24), X(0.76), 7)
                stroke([(x, Y(0.45) if i % 2 else Y(0.55)) for i, x in enumerate(xs)])
        else:                  # T-shirt/top: the neck, the hem, the sleeves' hems
            if p(0.35):
                stroke(arc_points(cx, y0, 0.13 * w, max(neck - y0, 0.08 * h) + 0.03 * h, 180, 0))
            if p(0.25):
                across(Y(0.92))
    elif label == 1:           # trouser: a waistband, a fly, pockets
        if p(0.45):
            across(Y(0.08), 0.0, 1.0)
        if p(0.35):
            stroke([(cx, Y(0.08)), (cx, Y(0.28))])
        if p(0.25):
            stroke(arc_points(X(0.2), y0, 0.12 * w, 0.1 * h, 0, 90))
            stroke(arc_points(X(0.8), y0, 0.12 * w, 0.1 * h, 180, 90))
    elif label == 3:           # dress: a waist, a neckline
        if p(0.3):
            across(Y(rng.uniform(0.3, 0.42)), 0.0, 1.0)
        if p(0.2):
            stroke(arc_points(cx, y0, 0.12 * w, 0.1 * h, 180, 0))
    elif label in (7, 9):      # sneaker, ankle boot: a sole line, laces, a stripe or a zip
        if p(0.45):
            across(Y(rng.uniform(0.78, 0.9)), 0.0, 1.0)
        if p(0.3):
            toe_left = mask[:, x0:int(X(0.5))].sum() < mask[:, int(X(0.5)):x1 + 1].sum() if label == 9 else True
            for i in range(int(rng.integers(2, 5))):
                if label == 7:
                    x, y = X(0.38 + 0.08 * i), Y(0.35 - 0.05 * i)
                else:
                    x, y = (X(0.5) if toe_left else X(0.45)), Y(0.15 + 0.13 * i)
                stroke([(x, y), (x + 0.07 * w, y - 0.04 * h)])
        if label == 7 and p(0.2):
            stroke([(X(0.35), Y(0.65)), (X(0.6), Y(0.45)), (X(0.8), Y(0.6))])
        if label == 9 and p(0.15):
            stroke([(X(0.8), Y(0.05)), (X(0.8), Y(0.8))])
    elif label == 8:           # bag: a flap, a clasp
        if p(0.2):
            stroke([(X(0.0), Y(0.4)), (cx, Y(0.65)), (X(1.0), Y(0.4))])
    ink &= cv2.dilate(mask, np.ones((lw + 1, lw + 1), np.uint8)) * 255  # details stay on the garment
    return ink


def arc_points(cx, cy, rx, ry, a0, a1, n: int = 9) -> list:
    """Points on an ellipse from angle a0 to a1 (degrees, 0 = right, 90 = down)."""
    a = np.radians(np.linspace(a0, a1, n))
    return list(zip(cx + rx * np.cos(a), cy + ry * np.sin(a)))


def draw_like_a_person(image28: np.ndarray, rng: np.random.Generator, style: str | None = None,
                       label: int | None = None) -> np.ndarray:
    """A (28, 28) uint8 Fashion-MNIST image -> a drawing of it, (H, W) uint8, black ink on white.

    style: one of STYLES, or None for a random one (STYLE_WEIGHTS). label: the image's class, for the
    details people draw on that kind of garment (`garment_details`) and, for tops and trousers, sometimes
    the shape people draw instead of the photo's (`person_shape`, PERSON_SHAPE_P); None uses neither."""
    style = style or STYLES[int(rng.choice(len(STYLES), p=STYLE_WEIGHTS))]
    big = cv2.resize(np.asarray(image28, np.float32) / 255.0, (28 * SCALE, 28 * SCALE), interpolation=cv2.INTER_LINEAR)
    big = _warp(np.pad(big, PAD), rng)
    body, cuffs, photo = None, None, True
    if label is not None and style != "edges" and rng.random() < PERSON_SHAPE_P.get(int(label), 0.0):
        mask, body, cuffs = person_shape(int(label), big.shape, rng)  # drawn from the class, not the photo
        photo = False
    else:
        mask = _mask(big, rng)
    # the brush: 12-36 px on the sketchpad measures 14-46 px here (median stroke width scaled to a 224 px garment);
    # a quarter of the drawings get the thick end, which v6 (3-25 px) never showed
    width = int(rng.integers(3, 26)) if rng.random() < 0.75 else int(rng.integers(26, 45))
    if style == "silhouette":
        ink = mask * 255
    elif style == "scribble":
        ink = scribble(mask, width, rng)
        if rng.random() < 0.5:
            ink = _boundary(mask, width, ink)
    elif style in ("outline", "contour"):
        if style == "outline":
            ink = _boundary(mask, width)
        else:
            ink = _polyline_outline(mask, width, rng)
        # detail lines: a coat's opening, a collar, buttons, a zip, seams, laces; what tells a coat, a shirt
        # and a pullover apart once the shading is gone
        if photo and rng.random() < DETAIL_P[style]:
            inner = _inner_edges(big, mask, rng)
            ink = np.maximum(ink, cv2.dilate(inner, np.ones((max(1, width // 2),) * 2, np.uint8)))
        if label is not None and rng.random() < (DETAILS_P if photo else PERSON_DETAILS_P).get(int(label), 0.7):
            ink = np.maximum(ink, garment_details(mask, int(label), width, rng, body, cuffs))
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
    from .data import DEFAULT_CACHE

    arr, lab = _numpy(images), _numpy(labels)
    digest = hashlib.sha256(arr.tobytes())
    if lab is not None:
        digest.update(np.asarray(lab, np.int64).tobytes())
    path = Path(cache_dir or DEFAULT_CACHE) / f"drawings-v{VERSION}-{digest.hexdigest()[:16]}-{seed}.npy"
    return _cached(path, arr.shape, lambda: render_drawings(arr, seed, labels=lab))


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
