"""The Sketch tab: draw or upload, and every model answers side by side with its maps, live.

Handlers first (each takes the tab's `SketchView`), then the layout, then the wiring."""
from __future__ import annotations

from dataclasses import dataclass, field

import gradio as gr
import numpy as np

from .. import serving
from ..explain import COLOUR_SCALE
from ..gate import MAX_LAYERS, FileGate
from ..images import MAX_FILE_BYTES, ImageError
from ..inference import ModelZoo
from ..preprocess import Prepared, prepare
from ..views import drawing_example_paths, example_paths, sweep_figure
from .common import PREVIEW, big, bind, colour_legend, own_map_label, title

MAX_PENDING_DRAWINGS = 64


@dataclass
class SketchView:
    """The tab's models, gate and components; `answers` holds each slot's (label, own map, Grad-CAM)."""
    zoo: ModelZoo
    gate: FileGate
    sketch: gr.Sketchpad = None
    preview: gr.Image = None
    verdict: gr.Markdown = None
    sweep_plot: gr.Plot = None
    last_input: gr.State = None
    answers: dict[str, tuple] = field(default_factory=dict)

    def outputs(self) -> list:
        """The order of the API's outputs: preview, verdict, (label, own map, Grad-CAM) per slot, sweep, input."""
        return ([self.preview, self.verdict] + [c for trio in self.answers.values() for c in trio]
                + [self.sweep_plot, self.last_input])


# --- handlers ---------------------------------------------------------------------------------------
def empty(view: SketchView, message: str) -> dict:
    out = {view.preview: None, view.verdict: message, view.sweep_plot: None, view.last_input: None}
    for label, own, cam in view.answers.values():
        out.update({label: None, own: None, cam: None})
    return out


def answer(view: SketchView, prepared: Prepared, angle, hflip, vflip, own_models, choice) -> dict:
    """Every model's answer for a prepared input, turned and flipped as the explorer says."""
    extra = {f"yours: {choice}": own_models[choice]} if own_models and choice in own_models else {}
    comparison = view.zoo.compare(prepared=prepared, angle=angle, hflip=hflip, vflip=vflip, extra=extra)
    text = comparison.verdict
    if prepared.notes:
        text += "  \n*Preprocessing: " + "; ".join(prepared.notes) + ".*"
    out = {view.preview: big(comparison.prepared.preview), view.verdict: text,
           view.sweep_plot: sweep_figure(view.zoo.rotation_sweep(prepared.tensor, extra=extra)),
           view.last_input: prepared.tensor.numpy()}
    for slot, (label, own, cam) in view.answers.items():
        name = slot if slot != "yours" else next(iter(extra), None)
        p = comparison.predictions.get(name) if name else None
        out.update({label: p.probs if p else None, own: p.own_map if p else None, cam: p.grad_cam if p else None})
    return out


def classify(view: SketchView, source, angle, hflip, vflip, own_models, choice, sketched: bool = False) -> dict:
    try:
        return serving.image_work(lambda: answer(view, prepare(source), angle, hflip, vflip, own_models, choice))
    except ImageError as e:
        if sketched:  # an empty or cleared sketchpad: no alarm
            return empty(view, f"✏️ {e}")
        gr.Warning(str(e))
        return empty(view, f"⚠️ {e}")


def classify_sketch(view: SketchView, payload, angle, hflip, vflip, own_models, choice) -> dict:
    """A drawing. preprocess=False: the raw value passes the gate, which caps its layers and sizes before
    anything is decoded. From the browser, the drawing's parts arrived just before, under the id the value
    names (bound_drawing_uploads); an API client may send them as files instead."""
    drawing_id = payload.get("id") if isinstance(payload, dict) else None
    blobs = view.sketch.blob_storage.pop(drawing_id, None) if isinstance(drawing_id, str) else None
    try:
        source = serving.image_work(view.gate.sketch, payload, blobs)
    except ImageError as e:
        gr.Warning(str(e))
        return empty(view, f"⚠️ {e}")
    return classify(view, source, angle, hflip, vflip, own_models, choice, sketched=True)


def classify_upload(view: SketchView, payload, angle, hflip, vflip, own_models, choice) -> dict:
    """An upload. preprocess=False: Gradio hands over the file unopened; the gate lets through only files in
    its upload cache, then a broken file reaches prepare() and gets its own clear message."""
    try:
        path = view.gate.path(payload)
    except ImageError as e:
        gr.Warning(str(e))
        return empty(view, f"⚠️ {e}")
    return classify(view, path, angle, hflip, vflip, own_models, choice)


def explore(view: SketchView, last, angle, hflip, vflip, own_models, choice) -> dict:
    """The last input again, turned or flipped, or answered by another of the visitor's models."""
    if last is None:
        return empty(view, "Draw or upload something first; then rotate and flip it here.")
    image = np.asarray(last, np.float32)[0, 0]   # the stored (1, 1, 28, 28) input, in [0, 1]
    return serving.image_work(answer, view, Prepared.from_image(image), angle, hflip, vflip, own_models, choice)


def bound_drawing_uploads(sketch: gr.Sketchpad) -> gr.Sketchpad:
    """Receive the sketchpad's drawings within bounds. Before each change event the browser sends the
    drawing's parts to the server (the component's `accept_blobs`), kept in memory under an id until the
    event reads them: here a part is at most MAX_FILE_BYTES, a layer index below gate.MAX_LAYERS (Gradio
    pads the list up to any index a client names), and at most MAX_PENDING_DRAWINGS wait (the oldest go).
    Installed on the instance: a gr.Sketchpad subclass would make Gradio write a .pyi stub of this
    module beside it."""
    accept = sketch.accept_blobs

    def accept_blobs(data):
        kind = data.data.get("type")
        if kind not in ("layer", "background", "composite") or len(data.files) != 1:
            raise gr.Error("Not a part of a drawing.")
        if kind == "layer":
            try:
                if not 0 <= int(data.data.get("index")) < MAX_LAYERS:
                    raise ValueError
            except (TypeError, ValueError):
                raise gr.Error(f"A drawing has at most {MAX_LAYERS} layers.") from None
        if len(data.files[0][1]) > MAX_FILE_BYTES:
            raise gr.Error("This part of the drawing is too large.")
        while len(sketch.blob_storage) >= MAX_PENDING_DRAWINGS and data.data.get("id") not in sketch.blob_storage:
            sketch.blob_storage.pop(next(iter(sketch.blob_storage)))
        return accept(data)

    accept_blobs._is_server_fn = True   # what gradio.components.base.server marks
    sketch.accept_blobs = accept_blobs
    return sketch


# --- layout -----------------------------------------------------------------------------------------
def sketchpad(brush_size: int = 22) -> gr.Sketchpad:
    """The Sketch tab's canvas (also used by tools/capture_drawings.py, so benchmark drawings are made
    with exactly the component visitors draw on)."""
    return bound_drawing_uploads(gr.Sketchpad(
        label="Draw a garment (black ink on white)", elem_id="sketch", height=520, canvas_size=(560, 560),
        type="numpy", image_mode="RGBA", layers=False, transforms=(),
        brush=gr.Brush(default_size=brush_size, colors=["#000000"], color_mode="fixed")))


def _inputs(view: SketchView) -> tuple:
    """The canvas, the upload and its examples, the preview, the verdict and the invariance explorer."""
    with gr.Row():
        with gr.Column(scale=3):
            view.sketch = sketchpad()
            upload = gr.Image(label="…or upload a photo or a drawing", type="filepath", sources=["upload", "clipboard"],
                              height=220, elem_id="upload")
            # not cached: Gradio 6.31's example cache cannot hold this panel's empty outputs (simple has no own
            # map, the visitor's slot is empty) and an answer costs ~30 ms (docs/design.md)
            gr.Examples(drawing_example_paths(), inputs=upload, label="Drawings (made with the mouse on this canvas)")
            gr.Examples(example_paths(), inputs=upload, label="Real test images")
        with gr.Column(scale=2):
            # the image's own height plus its label's row, so the whole 28x28 input shows
            view.preview = gr.Image(label="What the models see (28×28)", height=PREVIEW + 48, interactive=False,
                                    elem_id="preview")
            view.verdict = gr.Markdown("Draw something, or upload a picture.", elem_id="verdict")
            with gr.Accordion("Invariance explorer: rotate and flip the input", open=True):
                angle = gr.Slider(-180, 180, value=0, step=5, label="rotation (degrees)")
                with gr.Row():
                    hflip = gr.Checkbox(label="flip left-right")
                    vflip = gr.Checkbox(label="flip upside down")
                view.sweep_plot = gr.Plot(label="Probability of the upright answer at every angle")
    return upload, angle, hflip, vflip


def _answers(view: SketchView, slots: list[str]) -> dict:
    """One column per model (and one for the visitor's own, hidden until they train one)."""
    zoo = view.zoo
    drawing_aware = any(m.get("recipe") for m in zoo.meta.values())
    with gr.Row(equal_height=True):
        gr.Markdown(("These are the **drawing-aware** models (fine-tuned on drawings as well as photos, "
                     "probabilities calibrated; the Metrics tab has their recipe and figures). " if drawing_aware
                     else "") + f"Maps: the model's own map (spatial attention for sa, gates for gated) and "
                    f"Grad-CAM on the last stage. Colour scale: {COLOUR_SCALE}.")
        colour_legend()
    columns = {}
    with gr.Row():
        for slot in slots:
            with gr.Column(elem_classes="model-col", min_width=200, visible=slot != "yours") as columns[slot]:
                heading = "your model" if slot == "yours" else title(slot)
                if slot in zoo.unavailable or (slot != "yours" and slot not in zoo.models):
                    heading += " — unavailable"
                view.answers[slot] = (
                    gr.Label(num_top_classes=3, label=heading, elem_id=f"label-{slot}"),
                    gr.Image(label="own map" if slot == "yours" else own_map_label(slot), height=PREVIEW,
                             interactive=False),
                    gr.Image(label="Grad-CAM", height=PREVIEW, interactive=False))
    return columns


def sketch_tab(zoo: ModelZoo, user_models: gr.State, archs: list[str], gate: FileGate
               ) -> tuple[gr.Dropdown, gr.Column]:
    """Lays out and wires the tab. Returns the picker of the visitor's own trained models and their
    (hidden until then) column."""
    view = SketchView(zoo, gate, last_input=gr.State(None))   # the last prepared input, for the explorer
    upload, angle, hflip, vflip = _inputs(view)
    user_choice = gr.Dropdown([], label="Your trained model to compare", value=None, elem_id="user-model",
                              info="Models you train in the Train tab appear here (for you only).")
    columns = _answers(view, archs + ["yours"])
    outs, explorer = view.outputs(), [angle, hflip, vflip, user_models, user_choice]
    # one pool for every image event (and /predict, /verdict): a bounded number of decodes at once
    pool = {"concurrency_limit": serving.IMAGE_WORKERS, "concurrency_id": serving.IMAGE_POOL,
            "api_visibility": "undocumented"}   # the UI's own events: callable, not on the API page or MCP
    view.sketch.change(bind(classify_sketch, view), [view.sketch] + explorer, outs, api_name="classify_sketch",
                       preprocess=False, trigger_mode="always_last", show_progress="hidden", **pool)
    upload.change(bind(classify_upload, view), [upload] + explorer, outs, api_name="classify_upload",
                  preprocess=False, **pool)
    for ctl, api in ((angle, "rotate"), (hflip, "hflip"), (vflip, "vflip"), (user_choice, "choose_model")):
        ctl.change(bind(explore, view), [view.last_input] + explorer, outs, api_name=api,
                   trigger_mode="always_last", show_progress="hidden", **pool)
    return user_choice, columns["yours"]
