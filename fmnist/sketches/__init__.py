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

The package, one concept a module: ``styles`` (the five kinds, ``draw_like_a_person``), ``people`` (the
shapes people draw), ``details`` (the details per class, as a table), ``bank`` (the cached drawings),
``doodles`` (mouse doodles of non-garments), ``pictures`` (garments and made-up things in the styles
people upload: pictograms, bold lines, cartoons, thin lines, shadows; the outlier bank), ``strokes`` (the stroke format and its renderer), and
the two benchmark sets written apart from all of these: ``designs`` and ``heldout``.
"""
from __future__ import annotations

from .bank import as_model_input, drawing_bank, render_drawings
from .details import garment_details
from .doodles import doodle, doodle_bank
from .people import person_shape
from .pictures import PICTURE_STYLES, outlier_bank, picture_bank, picture_of
from .strokes import SCALE
from .styles import STYLES, VERSION, draw_like_a_person, scribble

__all__ = ["PICTURE_STYLES", "SCALE", "STYLES", "outlier_bank", "picture_bank", "picture_of", "VERSION", "as_model_input", "doodle", "doodle_bank", "draw_like_a_person",
           "drawing_bank", "garment_details", "person_shape", "render_drawings", "scribble"]
