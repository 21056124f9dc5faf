"""Copy a few benchmark drawings (tests/data/drawings/, drawn with the mouse on the sketchpad) into
fmnist/assets/drawings/ as the Sketch tab's drawing examples: black on white PNGs at half size.

    .venv/bin/python tools/drawing_examples.py
"""
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
PICKS = {"1-0-2": "trouser", "0-0-2": "t-shirt", "7-1-0": "sneaker", "8-0-2": "bag", "3-1-0": "dress",
         "9-0-3": "ankle-boot"}

out = ROOT / "fmnist" / "assets" / "drawings"
out.mkdir(parents=True, exist_ok=True)
for name, label in PICKS.items():
    rgba = Image.open(ROOT / "tests" / "data" / "drawings" / f"{name}.png").convert("RGBA")
    white = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("L")
    white.resize((280, 280), Image.BOX).save(out / f"{label}.png", optimize=True)
    print(out / f"{label}.png")
