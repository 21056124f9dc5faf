"""The five ways a drawing is made from a Fashion-MNIST photo (silhouette, outline, contour, edges,
scribble), and `draw_like_a_person`, which picks one and adds what people draw."""
from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from .details import CLASS_DETAILS_P, garment_details
from .people import PERSON_CLASS_DETAILS_P, PERSON_SHAPE_P, person_shape
from .strokes import SCALE

STYLES = ("silhouette", "outline", "contour", "edges", "scribble")
STYLE_WEIGHTS = (0.13, 0.23, 0.36, 0.18, 0.10)
PAD = 40           # room for the warp and for strokes at the border (the thickest brush grazes it in ~1 drawing of 1500)
VERSION = 11       # part of the cache key: bump when the drawings change (4-5: garment_details; 6: person_shape, scribble;
#                   9: thicker brushes, details drawn with the outline's brush; 10: hooded coats, short-sleeved shirts;
#                   11: sandals, bags and shoes drawn from person_shape too, crossed and thong straps, bags' flaps and
#                   stripes, half the person-shaped coats hooded, zips with teeth twice as often, smaller shirt buttons;
#                   12 and 13 were rounds not kept (docs/drawings.md): the next change is 14, so that no cache of theirs
#                   left on a machine is read as its drawings)
INNER_EDGES_P = {"outline": 0.5, "contour": 0.7}  # how often an outline also gets the photo's inner edges


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
        if photo and rng.random() < INNER_EDGES_P[style]:
            inner = _inner_edges(big, mask, rng)
            ink = np.maximum(ink, cv2.dilate(inner, np.ones((max(1, width // 2),) * 2, np.uint8)))
        if label is not None and rng.random() < (CLASS_DETAILS_P if photo else PERSON_CLASS_DETAILS_P).get(int(label), 0.7):
            ink = np.maximum(ink, garment_details(mask, int(label), width, rng, body, cuffs))
    elif style == "edges":
        edges = _inner_edges(big, None, rng)
        ink = cv2.dilate(edges, np.ones((max(1, width // 2),) * 2, np.uint8))
    else:
        raise ValueError(f"unknown drawing style {style!r}; choose from {STYLES}")
    if ink.max() == 0:  # nothing traced (a very faint image): fall back to its silhouette
        ink = mask * 255 if mask.any() else (big > 0.02).astype(np.uint8) * 255
    return 255 - ink

