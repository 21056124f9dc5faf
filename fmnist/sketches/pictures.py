"""Garments and things that are not garments in the styles people upload rather than draw with a mouse:
filled pictograms with white inner details, bold rounded line art, flat coloured cartoons with a dark
outline, thin-line drawings, and any of them with a drop shadow. For training only (the open-set
benchmark's pictures are written apart, in `openset.py`, and never imported here: a test checks).

A garment's picture starts from its Fashion-MNIST photo's shape (the same warped, thresholded mask as
`styles.py`) or, for every class but dresses, often from the shape people draw instead
(`people.person_shape`: sleeves held out, a handle over a bag, a sandal's open straps, a shoe's profile
with a tongue or a shaft), and its class's details (`details.garment_details`); a thing's from
`random_thing`: one to five random primitives (ellipses, boxes, triangles, polygons, stars, blobs,
domes, trapezoids, rounded boxes, rings and crescents, round tops on stems, bumps on a flat base, slabs
on legs, shades on stems), scattered or stacked on one axis (a roof on a box), sometimes mirrored, with
inner marks (dots, lines, arcs, grids, rays, screens, buttons, crosses). Both go through the same
painter, so style alone never tells a garment from a thing: only shape does; a quarter of the drawn
shapes and of the things are traced as mouse strokes instead.
Outlier exposure (Hendrycks et al. 2019) then trains the things, the mouse doodles of `doodles.py` and
photo-like textures towards no class.
"""
from __future__ import annotations

import colorsys
from pathlib import Path

import cv2
import numpy as np
import torch

from .bank import _cached, _map_chunks, _numpy, content_key
from .details import garment_details
from .doodles import doodle
from .people import person_shape
from .strokes import SCALE
from .styles import PAD, _inner_edges, _mask, _warp

PICTURE_STYLES = ("pictogram", "bold", "cartoon", "thin", "shadow")
PICTURES_VERSION = 5  # part of the pictures' cache keys: bump when the pictures change (v2: shapes people draw,
#                       holes traced; v3: sneakers and ankle boots drawn too; v4: hooded coats, short-sleeved shirts;
#                       v5: crossed and thong sandal straps, bags' flaps and stripes, more zips and hoods on coats;
#                       v6 and v7 were rounds not kept: the next change is v8)
OUTLIERS_VERSION = 6  # part of the outliers' cache keys (v2: domes, trapezoids, rounded boxes, rings, object marks,
#                       grainy gradients; v3: parts stacked on one another; v4: holes traced; v5: bumps on a flat
#                       base, slabs on legs, shades on stems; v6: the bumps joined along their base)
PICTURE_SHAPE_P = {0: 0.3, 1: 0.3, 2: 0.45, 4: 0.45, 5: 0.45, 6: 0.45, 7: 0.45, 8: 0.45, 9: 0.45}  # how often a class's picture is
#   of the shape people draw (`person_shape`: sleeves held out, a bag's handle, a sandal's open straps), not its photo's
AS_STROKES_P = 0.25  # how often a drawn shape (or a made-up thing) is traced as ink strokes, as a mouse would
STACKED = 0.35  # the share of made-up things built as a stack of parts (the rest: parts scattered)
OUTLIER_MIX = (("thing", 0.5), ("doodle", 0.3), ("texture", 0.2))


def _colour(rng: np.random.Generator, dark: bool = False) -> tuple[int, int, int]:
    h = float(rng.uniform(0, 1))
    s = float(rng.uniform(0.0, 0.35) if rng.random() < 0.3 else rng.uniform(0.35, 1.0))
    v = float(rng.uniform(0.0, 0.35) if dark else rng.uniform(0.45, 1.0))
    return tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(h, s, v))


def _smooth(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rounded corners, as icon designers draw them."""
    k = int(rng.integers(3, 12)) * 2 + 1
    return (cv2.GaussianBlur(mask.astype(np.float32), (k, k), 0) > 0.5).astype(np.uint8)


def _outline(mask: np.ndarray, width: int) -> np.ndarray:
    """The shape's outer contour and the edges of its holes (a handle's, a strap's, a ring's; not specks),
    drawn `width` px wide (0/1)."""
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    least = 0.003 * float(mask.sum())
    keep = [c for i, c in enumerate(contours) if hierarchy[0][i][3] < 0 or cv2.contourArea(c) >= least]
    return cv2.drawContours(np.zeros_like(mask), keep, -1, 1, thickness=width, lineType=cv2.LINE_8)


def paint(mask: np.ndarray, lines, rng: np.random.Generator, style: str | None = None) -> np.ndarray:
    """A shape (0/1 mask) and its inner details (`lines(width)` -> ink 0/255 drawn at that width) -> an RGB
    picture on a light background."""
    style = style or PICTURE_STYLES[int(rng.integers(len(PICTURE_STYLES)))]
    shadow = style == "shadow"
    if shadow:
        style = ("pictogram", "bold", "cartoon")[int(rng.integers(3))]
    h, w = mask.shape
    side = max(1, int(np.sqrt(mask.sum())))
    bg = np.array([255, 255, 255]) if rng.random() < 0.8 else np.array(_colour(rng)) * 0.1 + 229
    out = np.empty((h, w, 3), np.float32)
    out[:] = bg
    if style in ("pictogram", "bold", "cartoon") and rng.random() < 0.7:
        mask = _smooth(mask, rng)
    if shadow:
        dx, dy = (rng.uniform(0.04, 0.12, 2) * side * rng.choice([-1, 1], 2)).astype(int)
        m = np.float32([[1, 0, dx], [0, 1, abs(dy)]])
        sh = cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_NEAREST)
        tone = rng.uniform(150, 215)
        out[sh > 0] = tone
    inner = mask > 0
    if style == "pictogram":
        out[inner] = _colour(rng, dark=rng.random() < 0.7)
        width = max(2, int(side * rng.uniform(0.02, 0.06)))
        white = lines(width) & (cv2.erode(mask, np.ones((width + 2,) * 2, np.uint8)) * 255)
        out[white > 0] = bg
    elif style == "bold":
        ink = _colour(rng, dark=rng.random() < 0.75)
        width = max(4, int(side * rng.uniform(0.05, 0.12)))
        if rng.random() < 0.3:  # a light fill inside the bold line
            out[inner] = np.array(_colour(rng)) * 0.4 + 153
        ink_mask = _outline(mask, width)
        ink_mask |= (lines(width) > 0).astype(np.uint8)
        out[ink_mask > 0] = ink
    elif style == "cartoon":
        out[inner] = _colour(rng)
        if rng.random() < 0.5:  # a second colour over part of the shape (a sole, a collar, a hem)
            t = rng.uniform(0, np.pi)
            ys, xs = np.mgrid[0:h, 0:w]
            ys0, xs0 = np.nonzero(mask)
            cut = (xs - xs0.mean()) * np.cos(t) + (ys - ys0.mean()) * np.sin(t) > rng.uniform(-0.3, 0.3) * side
            out[inner & cut] = _colour(rng)
        outline = _colour(rng, dark=True)
        width = max(2, int(side * rng.uniform(0.015, 0.05)))
        ink_mask = _outline(mask, width)
        ink_mask |= (lines(max(1, width * 2 // 3)) > 0).astype(np.uint8)
        out[ink_mask > 0] = outline
    else:  # thin lines
        ink = _colour(rng, dark=rng.random() < 0.85)
        width = int(rng.integers(1, 5))
        ink_mask = _outline(mask, width)
        ink_mask |= (lines(width) > 0).astype(np.uint8)
        out[ink_mask > 0] = ink
    return np.clip(out, 0, 255).astype(np.uint8)


def picture_of(image28: np.ndarray, label: int, rng: np.random.Generator, style: str | None = None) -> np.ndarray:
    """A Fashion-MNIST photo -> a picture of that garment in one of PICTURE_STYLES (RGB uint8)."""
    big = np.pad(cv2.resize(np.asarray(image28, np.float32) / 255.0, (28 * SCALE, 28 * SCALE),
                            interpolation=cv2.INTER_LINEAR), PAD)
    body, cuffs, drawn = None, None, rng.random() < PICTURE_SHAPE_P.get(int(label), 0.0)
    if drawn:  # the photo is not used: its shape is replaced by the one people draw
        mask, body, cuffs = person_shape(int(label), big.shape, rng)
    else:
        big = _warp(big, rng)
        mask = _mask(big, rng)
    if not mask.any():
        mask = (big > 0.02).astype(np.uint8)
    details, edges = rng.random() < 0.8, not drawn and rng.random() < 0.4
    seed = int(rng.integers(2**31))

    def lines(width: int) -> np.ndarray:
        r = np.random.default_rng(seed)
        ink = garment_details(mask, int(label), width, r, body, cuffs) if details else np.zeros_like(mask)
        if edges:
            ink = np.maximum(ink, cv2.dilate(_inner_edges(big, mask, r), np.ones((max(1, width // 2),) * 2, np.uint8)))
        return ink
    if drawn and style is None and rng.random() < AS_STROKES_P:  # traced with a mouse
        return _as_strokes(mask, lines, rng)
    return paint(mask, lines, rng, style)


def _as_strokes(mask: np.ndarray, lines, rng: np.random.Generator) -> np.ndarray:
    """A shape traced as black ink strokes on white, its inner lines too, as a mouse draws it (RGB)."""
    ink = _outline(mask, int(rng.integers(4, 30))) * 255
    ink = np.maximum(ink, lines(int(rng.integers(4, 20))))
    return np.repeat((255 - ink)[..., None], 3, 2)


# --- things that are not garments ---------------------------------------------------------------
PRIMITIVES = 15  # kinds of _primitive


def _primitive(mask: np.ndarray, rng: np.random.Generator, box: tuple[float, float, float, float],
               kind: int | None = None) -> None:
    """Fills one primitive shape (`kind`, random if None) into `mask` within `box` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    c = (int((x0 + x1) / 2), int((y0 + y1) / 2))
    rx, ry = max(3, int((x1 - x0) / 2)), max(3, int((y1 - y0) / 2))
    kind = int(rng.integers(0, PRIMITIVES)) if kind is None else kind
    if kind == 0:
        cv2.ellipse(mask, c, (rx, ry), float(rng.uniform(0, 180)), 0, 360, 1, -1)
    elif kind == 1:
        cv2.rectangle(mask, (int(x0), int(y0)), (int(x1), int(y1)), 1, -1)
    elif kind == 2:  # a triangle
        pts = np.array([[x0, y1], [x1, y1], [rng.uniform(x0, x1), y0]], np.int32)
        cv2.fillPoly(mask, [pts], 1)
    elif kind in (3, 4):  # a polygon or a star
        n = int(rng.integers(3, 9))
        a = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.arange(n * (2 if kind == 4 else 1)) / (n * (2 if kind == 4 else 1))
        r = np.ones_like(a) if kind == 3 else np.where(np.arange(len(a)) % 2 == 0, 1.0, rng.uniform(0.35, 0.6))
        pts = np.stack([c[0] + rx * r * np.cos(a), c[1] + ry * r * np.sin(a)], 1).astype(np.int32)
        cv2.fillPoly(mask, [pts], 1)
    elif kind == 5:  # a blob
        a = np.linspace(0, 2 * np.pi, 40, endpoint=False)
        r = 1 + sum(rng.normal(0, 0.15) * np.cos(k * a + rng.uniform(0, 6)) for k in range(1, 5))
        pts = np.stack([c[0] + rx * r * np.cos(a), c[1] + ry * r * np.sin(a)], 1).astype(np.int32)
        cv2.fillPoly(mask, [pts], 1)
    elif kind == 7:  # a dome: the top or bottom half of an ellipse (a cap, a shade, a bell, a hill)
        top = rng.random() < 0.75
        cv2.ellipse(mask, (c[0], int(y1 if top else y0)), (rx, 2 * ry), 0, 180 if top else 0, 360 if top else 180, 1, -1)
    elif kind == 8:  # a trapezoid, wide at the top or at the bottom (a lamp shade, a bucket, a roof)
        a, b = sorted(rng.uniform(0.0, 0.45, 2))
        top_in, bottom_in = (b, a) if rng.random() < 0.5 else (a, b)
        w = x1 - x0
        pts = np.array([[x0 + top_in * w, y0], [x1 - top_in * w, y0], [x1 - bottom_in * w, y1], [x0 + bottom_in * w, y1]], np.int32)
        cv2.fillPoly(mask, [pts], 1)
    elif kind == 9:  # a rounded box (a phone, a screen, a suitcase, a bus)
        r = max(2, int(min(rx, ry) * rng.uniform(0.15, 0.6)))
        inner = np.zeros_like(mask)
        cv2.rectangle(inner, (int(x0) + r, int(y0) + r), (int(x1) - r, int(y1) - r), 1, -1)
        mask |= cv2.dilate(inner, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    elif kind == 10:  # a ring or a crescent (a wheel, a moon, a donut)
        ring = np.zeros_like(mask)
        cv2.ellipse(ring, c, (rx, ry), 0, 0, 360, 1, -1)
        off = (0, 0) if rng.random() < 0.5 else (int(rng.uniform(-0.5, 0.5) * rx), int(rng.uniform(-0.5, 0.5) * ry))
        f = rng.uniform(0.4, 0.8)
        cv2.ellipse(ring, (c[0] + off[0], c[1] + off[1]), (max(1, int(rx * f)), max(1, int(ry * f))), 0, 0, 360, 0, -1)
        mask |= ring
    elif kind == 11:  # a round top on a stem (a tree, a mushroom, a lollipop, a lamp, a sign)
        stem = max(2, int(rx * rng.uniform(0.1, 0.4)))
        cv2.rectangle(mask, (c[0] - stem // 2, c[1]), (c[0] + stem // 2, int(y1)), 1, -1)
        head = (rx, max(3, int(ry * rng.uniform(0.4, 0.7))))
        if rng.random() < 0.5:
            cv2.ellipse(mask, (c[0], int(y0) + head[1]), head, 0, 0, 360, 1, -1)
        else:
            cv2.ellipse(mask, (c[0], int(y0) + 2 * head[1]), (head[0], 2 * head[1]), 0, 180, 360, 1, -1)
    elif kind == 12:  # bumps on a flat base line, one piece (a cloud, a bush, a row of heads)
        part = np.zeros_like(mask)
        n = int(rng.integers(3, 7))
        r_max = min(rx * 0.55, ry * 0.9)
        xs = np.linspace(x0 + rx * 0.3, x1 - rx * 0.3, n) + rng.normal(0, 0.05 * rx, n)
        radii = [max(3, int(r_max * rng.uniform(0.5, 1.0))) for _ in xs]
        for x, r in zip(xs, radii):
            cv2.circle(part, (int(x), int(y1 - r * rng.uniform(0.4, 1.0))), r, 1, -1)
        # a strip along the base through every bump's centre line joins them into one piece (v6)
        cv2.rectangle(part, (int(xs.min()), int(y1 - 0.8 * min(radii))), (int(xs.max()), int(y1)), 1, -1)
        part[int(y1) + 1:] = 0  # the flat base
        mask |= part
    elif kind == 13:  # a slab on legs, sometimes with a back (a chair, a table, a stool, a bench)
        t = max(2, int(ry * rng.uniform(0.08, 0.2)))
        seat = int(y0 + (y1 - y0) * rng.uniform(0.35, 0.6))
        cv2.rectangle(mask, (int(x0), seat), (int(x1), seat + t), 1, -1)
        lw = max(2, int(rx * rng.uniform(0.05, 0.14)))
        legs = int(rng.integers(2, 5))
        for x in np.linspace(x0 + lw, x1 - lw, legs):
            splay = rng.uniform(-0.1, 0.1) * rx
            cv2.line(mask, (int(x), seat + t), (int(x + splay), int(y1)), 1, lw)
        if rng.random() < 0.6:  # a back up from one end
            xb = int(x0 + lw) if rng.random() < 0.5 else int(x1 - lw)
            cv2.line(mask, (xb, seat), (xb + int(rng.uniform(-0.1, 0.1) * rx), int(y0)), 1, max(lw, t))
    elif kind == 14:  # a shade on a stem on a foot (a lamp, a standing sign, a goblet, a mic)
        shade_h = (y1 - y0) * rng.uniform(0.25, 0.45)
        top_in, bottom_in = rng.uniform(0.15, 0.35), rng.uniform(0.0, 0.12)
        w = x1 - x0
        pts = np.array([[x0 + top_in * w, y0], [x1 - top_in * w, y0], [x1 - bottom_in * w, y0 + shade_h],
                        [x0 + bottom_in * w, y0 + shade_h]], np.int32)
        cv2.fillPoly(mask, [pts], 1)
        stem = max(2, int(rx * rng.uniform(0.05, 0.15)))
        foot_h = max(2, int((y1 - y0) * rng.uniform(0.04, 0.1)))
        cv2.rectangle(mask, (c[0] - stem // 2, int(y0 + shade_h)), (c[0] + stem // 2, int(y1) - foot_h), 1, -1)
        fw = rx * rng.uniform(0.4, 0.9)
        cv2.ellipse(mask, (c[0], int(y1) - foot_h // 2), (max(3, int(fw)), max(2, foot_h)), 0, 0, 360, 1, -1)
    else:  # a thick bar at an angle (a stick, a leg, a handle)
        t = rng.uniform(0, np.pi)
        d = np.array([np.cos(t) * rx, np.sin(t) * ry])
        cv2.line(mask, tuple((np.array(c) - d).astype(int)), tuple((np.array(c) + d).astype(int)), 1,
                 max(3, int(min(rx, ry) * rng.uniform(0.15, 0.5))))


def _marks(shape: tuple[int, int], mask: np.ndarray, rng: np.random.Generator, width: int) -> np.ndarray:
    """Inner marks of a thing: eyes, a mouth, windows, stripes, rays, whiskers (uint8 0/255)."""
    ink = np.zeros(shape, np.uint8)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return ink
    bx0, bx1, by0, by1 = xs.min(), xs.max(), ys.min(), ys.max()
    w, h = bx1 - bx0, by1 - by0
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(0, 9))
        p = lambda fx, fy: (int(bx0 + fx * w), int(by0 + fy * h))  # noqa: E731
        if kind == 0:  # a pair of dots (eyes)
            y = rng.uniform(0.25, 0.5)
            dx = rng.uniform(0.12, 0.25)
            for fx in (0.5 - dx, 0.5 + dx):
                cv2.circle(ink, p(fx, y), max(3, int(w * rng.uniform(0.03, 0.07))), 255, -1)
        elif kind == 1:  # an arc (a mouth, a smile)
            cv2.ellipse(ink, p(0.5, rng.uniform(0.5, 0.7)), (int(w * rng.uniform(0.1, 0.25)), int(h * rng.uniform(0.05, 0.15))),
                        0, 0, 180, 255, width)
        elif kind == 2:  # a grid of windows
            n = int(rng.integers(2, 4))
            for i in range(n):
                for j in range(n):
                    q0 = p(0.2 + 0.6 * i / n, 0.3 + 0.5 * j / n)
                    q1 = p(0.2 + 0.6 * (i + 0.6) / n, 0.3 + 0.5 * (j + 0.6) / n)
                    cv2.rectangle(ink, q0, q1, 255, max(2, width // 2))
        elif kind == 3:  # stripes
            for f in np.linspace(0.2, 0.8, int(rng.integers(2, 5))):
                cv2.line(ink, p(0.1, f), p(0.9, f + rng.uniform(-0.1, 0.1)), 255, width)
        elif kind == 4:  # rays or whiskers out from the centre
            c = np.array(p(0.5, rng.uniform(0.4, 0.6)), float)
            for a in rng.uniform(0, 2 * np.pi, int(rng.integers(3, 9))):
                r0, r1 = rng.uniform(0.1, 0.3) * w, rng.uniform(0.35, 0.7) * w
                d = np.array([np.cos(a), np.sin(a)])
                cv2.line(ink, tuple((c + r0 * d).astype(int)), tuple((c + r1 * d).astype(int)), 255, max(2, width // 2))
        elif kind == 6:  # a screen, a label or a window: a box inside
            q0 = p(rng.uniform(0.1, 0.35), rng.uniform(0.1, 0.4))
            q1 = p(rng.uniform(0.65, 0.9), rng.uniform(0.55, 0.9))
            cv2.rectangle(ink, q0, q1, 255, -1 if rng.random() < 0.4 else width)
        elif kind == 7:  # buttons, keys or dials: a row or a grid of dots
            nx, ny = int(rng.integers(2, 5)), int(rng.integers(1, 4))
            r = max(2, int(min(w / nx, h / ny) * rng.uniform(0.08, 0.2)))
            for i in range(nx):
                for j in range(ny):
                    cv2.circle(ink, p(0.2 + 0.6 * (i + 0.5) / nx, 0.45 + 0.4 * (j + 0.5) / ny), r, 255, -1)
        elif kind == 8:  # a cross, a plus or an X
            c = np.array(p(rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.65)), float)
            t, r = rng.uniform(0, np.pi / 2), rng.uniform(0.1, 0.3) * min(w, h)
            for a in (t, t + np.pi / 2):
                d = r * np.array([np.cos(a), np.sin(a)])
                cv2.line(ink, tuple((c - d).astype(int)), tuple((c + d).astype(int)), 255, width)
        else:  # a random inner stroke
            pts = np.stack([bx0 + rng.uniform(0.15, 0.85, 4) * w, by0 + rng.uniform(0.15, 0.85, 4) * h], 1)
            cv2.polylines(ink, [pts.astype(np.int32)], False, 255, width)
    return ink


def random_thing(rng: np.random.Generator, side: int = 304):
    """A made-up object that is not a garment: a mask (0/1) of one to five primitives, and its marks as
    `marks(width)` -> ink 0/255 (none a third of the time)."""
    mask = np.zeros((side, side), np.uint8)
    mirror = rng.random() < 0.5
    if rng.random() < STACKED:
        _stacked_parts(mask, rng)
    else:
        _scattered_parts(mask, rng)
    if mirror:
        mask |= mask[:, ::-1]
    seed, any_marks = int(rng.integers(2**31)), rng.random() < 0.7

    def marks(width: int) -> np.ndarray:
        return _marks(mask.shape, mask, np.random.default_rng(seed), width) if any_marks else np.zeros_like(mask)
    return mask, marks


def _stacked_parts(mask: np.ndarray, rng: np.random.Generator) -> None:
    """Two to four parts stacked on one another along a vertical axis, each part's box touching or overlapping
    the one below (a roof on a box, a shade on a stand, a head on a body, a cab on a base, a cup on a saucer);
    a part that does not fill its box (a star, a ring, a slanted bar) may stand apart."""
    side = mask.shape[0]
    n = int(rng.integers(2, 5))
    heights = rng.dirichlet(np.full(n, 2.0)) * side * rng.uniform(0.6, 0.9)
    base_w = side * rng.uniform(0.35, 0.85)
    cx = side / 2 + rng.uniform(-0.1, 0.1) * side
    y = (side + heights.sum()) / 2  # the bottom of the stack, the stack centred
    for h in heights:
        w = min(side * 0.9, base_w * rng.uniform(0.3, 1.3))
        top = y - h * rng.uniform(1.0, 1.15)  # touching or overlapping a little
        _primitive(mask, rng, (cx - w / 2, top, cx + w / 2, y))
        y = top + h * 0.1


def _scattered_parts(mask: np.ndarray, rng: np.random.Generator) -> None:
    """One to five parts at random places and sizes, the first large."""
    side = mask.shape[0]
    for i in range(int(rng.integers(1, 6))):
        big = i == 0
        wdt = side * (rng.uniform(0.35, 0.8) if big else rng.uniform(0.1, 0.45))
        hgt = wdt * np.exp(rng.uniform(-0.8, 0.8))
        hgt = min(hgt, side * 0.85)
        x0 = rng.uniform(0.05 * side, max(0.05 * side + 1, 0.95 * side - wdt))
        y0 = rng.uniform(0.05 * side, max(0.05 * side + 1, 0.95 * side - hgt))
        _primitive(mask, rng, (x0, y0, x0 + wdt, y0 + hgt))


def texture(rng: np.random.Generator, side: int = 112) -> np.ndarray:
    """A photo-like picture of no garment: smooth random noise with a 1/f-like spectrum, sometimes
    thresholded into patches or crossed by stripes (grey uint8)."""
    f = np.fft.fftfreq(side)[:, None] ** 2 + np.fft.fftfreq(side)[None, :] ** 2
    spectrum = (rng.normal(size=(side, side)) + 1j * rng.normal(size=(side, side))) / np.maximum(f, 1e-4) ** rng.uniform(0.6, 1.2)
    img = np.real(np.fft.ifft2(spectrum))
    img = (img - img.min()) / max(float(np.ptp(img)), 1e-6)
    if rng.random() < 0.25:  # a grainy gradient (a sky, a wall, a blurred photo of nothing in particular)
        ys, xs = np.mgrid[0:side, 0:side] / side
        if rng.random() < 0.5:
            t = rng.uniform(0, 2 * np.pi)
            ramp = xs * np.cos(t) + ys * np.sin(t)
        else:
            ramp = np.hypot(xs - rng.uniform(0, 1), ys - rng.uniform(0, 1))
        ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
        lo, hi = sorted(rng.uniform(0, 1, 2))
        img = lo + (hi - lo) * ramp + rng.uniform(0.02, 0.15) * (img - 0.5) + rng.normal(0, rng.uniform(0.01, 0.08), img.shape)
    elif rng.random() < 0.3:
        img = (img > rng.uniform(0.3, 0.7)).astype(np.float32) * 0.8 + 0.1
    if rng.random() < 0.3:
        ys, xs = np.mgrid[0:side, 0:side]
        t = rng.uniform(0, np.pi)
        img = 0.6 * img + 0.4 * (np.sin((xs * np.cos(t) + ys * np.sin(t)) * rng.uniform(0.1, 0.6)) > 0)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def _as_input(picture: np.ndarray) -> np.ndarray:
    """A picture -> the (28, 28) uint8 the models see, through the app's prepare() (drawing or photo
    decided from the content, as for an upload)."""
    from ..preprocess import ImageError, prepare

    try:
        return prepare(picture).preview
    except ImageError:
        return np.zeros((28, 28), np.uint8)


def outlier(rng: np.random.Generator) -> np.ndarray:
    """One non-garment as the models see it: a painted thing, a mouse doodle or a texture (OUTLIER_MIX)."""
    kind = OUTLIER_MIX[int(rng.choice(len(OUTLIER_MIX), p=[p for _, p in OUTLIER_MIX]))][0]
    if kind == "thing":
        mask, marks = random_thing(rng)
        if rng.random() < AS_STROKES_P:  # drawn as ink strokes too, as a mouse would
            return _as_input(_as_strokes(mask, marks, rng))
        return _as_input(paint(mask, marks, rng))
    if kind == "doodle":
        return _as_input(doodle(rng))
    return _as_input(texture(rng))


def _render_pictures(args) -> np.ndarray:
    images, labels, seed = args
    rng = np.random.default_rng(seed)
    return np.stack([_as_input(picture_of(im, int(y), rng)) for im, y in zip(images, labels)])


def _render_outliers(args) -> np.ndarray:
    n, seed = args
    rng = np.random.default_rng(seed)
    return np.stack([outlier(rng) for _ in range(n)])


def picture_bank(images, labels, seed: int = 0, cache_dir: str | Path | None = None) -> torch.Tensor:
    """One picture per image in PICTURE_STYLES, (N, 28, 28) uint8 as the models see them, cached on disk."""
    from ..data import DEFAULT_CACHE

    arr, lab = _numpy(images), _numpy(labels)
    path = Path(cache_dir or DEFAULT_CACHE) / f"pictures-v{PICTURES_VERSION}-{content_key(arr, lab)}-{seed}.npy"
    chunk = 2000
    jobs = [(arr[i:i + chunk], lab[i:i + chunk], seed * 100_003 + 11 + i) for i in range(0, len(arr), chunk)]
    return _cached(path, arr.shape, lambda: _map_chunks(_render_pictures, jobs))


def outlier_bank(n: int, seed: int = 0, cache_dir: str | Path | None = None) -> torch.Tensor:
    """n non-garments (OUTLIER_MIX) as the models see them, (n, 28, 28) uint8, cached on disk."""
    from ..data import DEFAULT_CACHE

    path = Path(cache_dir or DEFAULT_CACHE) / f"outliers-v{OUTLIERS_VERSION}-{n}-{seed}.npy"
    jobs = [(min(1000, n - i), seed * 100_003 + 13 + i) for i in range(0, n, 1000)]
    return _cached(path, (n, 28, 28), lambda: _map_chunks(_render_outliers, jobs))
