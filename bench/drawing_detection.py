"""Drawing or photo: how often `fmnist.preprocess.looks_like_drawing` takes each kind of image for a
drawing. A drawing loses its faint pixels and is not sharpened; a photo is sharpened like the dataset's.

    .venv/bin/python bench/drawing_detection.py

Drawings (should be ~100%): the benchmark's 200 + 28 mouse-drawn sketchpad values, as a PNG and a
JPEG; the held-out designs rendered anti-aliased, as a paint program draws them, at brushes of 3-18 px
on a 560 px canvas, as a PNG and a JPEG; drawings made from test images by `fmnist.sketches`.
Photos (should be ~0%): test images re-rendered as random uploads (`fmnist.images.render_as_random_upload`,
as `bench/upload_agreement.py` does). No model is run.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from drawings import load_drawings, on_white  # bench/drawings.py, beside this script
from fmnist.data import load_fashion_mnist
from fmnist.images import read_image, render_as_random_upload
from fmnist.preprocess import looks_like_drawing
from fmnist.sketches import draw_like_a_person
from fmnist.sketches import heldout as held
from fmnist.sketches.strokes import render


def _jpeg(grey: np.ndarray, quality: int = 75) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, "JPEG", quality=quality)
    return read_image(buf.getvalue())


def _rate(greys) -> str:
    found = [looks_like_drawing(g if g.dtype != np.uint8 else g / 255.0) for g in greys]
    return f"{np.mean(found):.1%} of {len(found)}"


def main() -> None:
    rows = []
    bench = [on_white(d["rgba"]) for d in load_drawings()]
    rows += [("benchmark drawings, PNG", _rate(bench)), ("benchmark drawings, JPEG q75", _rate(_jpeg(g) for g in bench))]
    for brush in (3, 6, 12, 18):
        aa = [render(fn(), held.OWN_ASPECT.get(fn.__name__, held.ASPECT[label]), lay[:3] + (brush,), anti_aliased=True)[..., 0]
              for label, designs in held.DESIGNS.items() for fn in designs for lay in held.LAYOUTS]
        rows += [(f"held-out designs anti-aliased, {brush} px brush, PNG", _rate(aa)),
                 (f"held-out designs anti-aliased, {brush} px brush, JPEG q75", _rate(_jpeg(g) for g in aa))]
    test = load_fashion_mnist().test_images[:1000].numpy()
    rng = np.random.default_rng(0)
    made = [draw_like_a_person(im, rng) for im in test[:300]]
    rows += [("drawings made from test images (fmnist.sketches), PNG", _rate(made)),
             ("drawings made from test images, JPEG q75", _rate(_jpeg(g) for g in made))]
    rows.append(("photos: test images as random uploads", _rate(read_image(render_as_random_upload(im, rng)) for im in test)))
    print("| images | taken for drawings |\n|---|---|")
    for name, rate in rows:
        print(f"| {name} | {rate} |")


if __name__ == "__main__":
    main()
