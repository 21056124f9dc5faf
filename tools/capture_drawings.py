"""Draw the benchmark's drawings with the mouse on the app's real sketchpad, in headless Chromium, and
store what the sketchpad exports (its composite, RGBA PNG) under tests/data/drawings/.

    .venv/bin/python tools/capture_drawings.py            # all of fmnist.sketches.designs.layouts()
    .venv/bin/python tools/capture_drawings.py --only 1-0  # names starting with 1-0 (trousers, variant 0)

Drawing in a browser is slow (page load, mouse strokes, the upload of the value), so it is done once;
bench/drawings.py reads the stored files in seconds. The canvas is served by a small app holding the
same component as the Sketch tab (fmnist.ui.sketchpad) and a hidden button that saves its value.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent

import gradio as gr

from fmnist.sketches.designs import layouts
from fmnist.ui import sketchpad

OUT = ROOT / "tests" / "data" / "drawings"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 # software WebGL through ANGLE: each mouse move redraws the canvas, ~30% faster so
                 "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


def capture_app(out: Path, brush: int) -> gr.Blocks:
    def save(value, name):
        """Store the value as the app receives it: the composite where the sketchpad sends one (opaque
        white with black ink in Gradio 6.31), else its layers (after "Clear canvas" 6.31 sends the
        strokes' layer only: transparent with black ink), flattened onto transparency."""
        if not isinstance(value, dict) or not name:
            return "nothing"
        if value.get("composite") is not None:
            img, form = Image.fromarray(np.asarray(value["composite"], np.uint8)), "composite"
        elif value.get("layers"):
            layers = [Image.fromarray(np.asarray(a, np.uint8)).convert("RGBA") for a in value["layers"]]
            img, form = layers[0], "layers"
            for layer in layers[1:]:
                img = Image.alpha_composite(img, layer)
        else:
            return "nothing: " + repr({k: (type(v).__name__, len(v) if isinstance(v, list) else None) for k, v in value.items()})
        img.save(out / f"{name}.png", optimize=True)
        return f"saved {name} ({form})"

    with gr.Blocks() as demo:
        sketch = sketchpad(brush)
        name = gr.Textbox(elem_id="name")
        status = gr.Textbox(elem_id="status")
        gr.Button("save", elem_id="save").click(save, [sketch, name], status)
    return demo


def canvas_map(page, out: Path) -> tuple[float, float, float]:
    """Where the 560x560 canvas lies on the page, (left, top, side), found by drawing two dots and
    reading where the exported image has them (the canvas is shown zoomed inside its element)."""
    box = page.locator("#sketch canvas").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    marks = [(cx - 100, cy - 100), (cx + 100, cy + 100)]
    for x, y in marks:
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 1, y + 1, steps=2)
        page.mouse.up()
    found = _save(page, "_calibration", out)
    ink = np.asarray(Image.open(found).convert("LA"), np.float32)
    dark = (ink[..., 1] > 128) & (ink[..., 0] < 128)
    ys, xs = np.nonzero(dark)
    lo, hi = (xs < xs.mean()) & (ys < ys.mean()), (xs > xs.mean()) & (ys > ys.mean())
    (x0, y0), (x1, y1) = (xs[lo].mean(), ys[lo].mean()), (xs[hi].mean(), ys[hi].mean())
    scale = 200 / ((x1 - x0 + y1 - y0) / 2)   # page pixels per canvas pixel
    Path(found).unlink()
    _clear(page)
    return marks[0][0] - x0 * scale, marks[0][1] - y0 * scale, 560 * scale


def _save(page, name: str, out: Path) -> Path:
    page.fill("#name textarea", name)
    page.click("#save")
    page.wait_for_function(f"() => document.querySelector('#status textarea').value.startsWith('saved {name} ')",
                           timeout=20_000)
    return out / f"{name}.png"


def _clear(page):
    page.click("#sketch button[aria-label='Clear canvas']")
    page.click("#sketch button[aria-label=Brush]")  # clearing deselects the brush


def draw(page, strokes, frame):
    left, top, side = frame
    for stroke in strokes:
        pts = [(left + x * side, top + y * side) for x, y in stroke]
        page.mouse.move(*pts[0])
        page.mouse.down()
        for x, y in pts[1:]:  # one move per point: the brush joins them with straight lines
            page.mouse.move(x, y)
        page.mouse.up()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="draw only the layouts whose name starts with this")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--missing", action="store_true", help="draw only those not stored yet")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    todo = [d for d in layouts() if d["name"].startswith(args.only)]
    if args.missing:
        todo = [d for d in todo if not (out / f"{d['name']}.png").is_file()]
    from playwright.sync_api import sync_playwright

    index = {}
    index_path = out / "index.json"
    if index_path.exists():
        index = {d["name"]: d for d in json.loads(index_path.read_text())}
    for d in layouts():  # drawings stored by a run that was interrupted before it wrote the index
        if d["name"] not in index and (out / f"{d['name']}.png").is_file():
            index[d["name"]] = {**{k: d[k] for k in ("name", "label", "class", "variant", "brush")}, "form": "composite"}
    t0 = time.time()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for brush in sorted({d["brush"] for d in todo}):
            demo = capture_app(out, brush)
            _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True)
            page = browser.new_page(viewport={"width": 1000, "height": 900})
            page.goto(url)
            page.wait_for_selector("#sketch canvas", timeout=30_000)
            page.click("#sketch button[aria-label=Brush]")
            frame = canvas_map(page, out)
            for d in (d for d in todo if d["brush"] == brush):
                draw(page, d["strokes"], frame)
                time.sleep(0.2)
                _save(page, d["name"], out)
                form = page.input_value("#status textarea").split("(")[-1].rstrip(")")
                _clear(page)
                index[d["name"]] = {**{k: d[k] for k in ("name", "label", "class", "variant", "brush")}, "form": form}
                index_path.write_text(json.dumps(sorted(index.values(), key=lambda d: d["name"]), indent=0))
                print(f"{d['name']:24s} brush {brush:2d} {form:9s} {time.time() - t0:6.1f} s", flush=True)
            page.close()
            demo.close()
        browser.close()
    index_path.write_text(json.dumps(sorted(index.values(), key=lambda d: d["name"]), indent=0))


if __name__ == "__main__":
    main()
