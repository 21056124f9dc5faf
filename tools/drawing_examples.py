"""Copy one benchmark drawing per class (tests/data/drawings/, drawn with the mouse on the sketchpad) into
fmnist/assets/drawings/ as the Sketch tab's drawing examples: black on white PNGs at half size.

    .venv/bin/python tools/drawing_examples.py
"""
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
# one per class, among the drawings all three drawing-aware models name right (a demo, not a sample:
# bench/drawings.py is the measure; tests/test_views.py checks these stay named right)
PICKS = {"0-0-2": "t-shirt", "1-0-0": "trouser", "2-4-0": "pullover", "3-1-1": "dress", "4-1-0": "coat",
         "5-0-1": "sandal", "6-0-0": "shirt", "7-2-1": "sneaker", "8-0-2": "bag", "9-0-0": "ankle-boot"}

out = ROOT / "fmnist" / "assets" / "drawings"
out.mkdir(parents=True, exist_ok=True)
for old in out.glob("*.png"):
    old.unlink()
for name, label in PICKS.items():
    rgba = Image.open(ROOT / "tests" / "data" / "drawings" / f"{name}.png").convert("RGBA")
    white = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("L")
    path = out / f"{name.split('-')[0]}-{label}.png"  # the class index first: the examples in class order
    white.resize((280, 280), Image.BOX).save(path, optimize=True)
    print(path)
