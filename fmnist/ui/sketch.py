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
from ..models import model_class
from .common import MAP, PREVIEW, big, bind, colour_legend, own_map_label, title
from .teach import teach_panel

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


def answer(view: SketchView, prepared: Prepared, angle, hflip, vflip, own_models, choice, taught=None,
           use_taught=False) -> dict:
    """Every model's answer for a prepared input, turned and flipped as the explorer says; with use_taught,
    the visitor's taught copies answer instead of the shipped models (under the same names)."""
    extra = {f"yours: {choice}": own_models[choice]} if own_models and choice in own_models else {}
    instead = dict(taught) if use_taught and isinstance(taught, dict) else {}
    comparison = view.zoo.compare(prepared=prepared, angle=angle, hflip=hflip, vflip=vflip,
                                  extra={**instead, **extra})
    text = comparison.verdict
    if prepared.notes:
        text += "  \n*Preprocessing: " + "; ".join(prepared.notes) + ".*"
    out = {view.preview: big(comparison.prepared.preview), view.verdict: text,
           view.sweep_plot: sweep_figure(view.zoo.rotation_sweep(prepared.tensor, extra={**instead, **extra})),
           view.last_input: prepared.tensor.numpy()}
    for slot, (label, own, cam) in view.answers.items():
        name = slot if slot != "yours" else next(iter(extra), None)
        p = comparison.predictions.get(name) if name else None
        out.update({label: p.probs if p else None, own: p.own_map if p else None, cam: p.grad_cam if p else None})
    return out


def classify(view: SketchView, source, *explorer, sketched: bool = False) -> dict:
    """`explorer`: angle, hflip, vflip, own_models, choice, taught, use_taught (answer's arguments)."""
    try:
        return serving.image_work(lambda: answer(view, prepare(source), *explorer))
    except ImageError as e:
        if sketched:  # an empty or cleared sketchpad: no alarm
            return empty(view, f"✏️ {e}")
        gr.Warning(str(e))
        return empty(view, f"⚠️ {e}")


def read_drawing(pad: gr.Sketchpad, gate: FileGate, payload):
    """A sketchpad's raw value, through the gate, for prepare(). From the browser, the drawing's parts arrived
    just before, under the id the value names (bound_drawing_uploads); an API client may send them as files."""
    drawing_id = payload.get("id") if isinstance(payload, dict) else None
    blobs = pad.blob_storage.pop(drawing_id, None) if isinstance(drawing_id, str) else None
    return serving.image_work(gate.sketch, payload, blobs)


def classify_sketch(view: SketchView, payload, *explorer) -> dict:
    """A drawing. preprocess=False: the raw value passes the gate, which caps its layers and sizes before
    anything is decoded (read_drawing)."""
    try:
        source = read_drawing(view.sketch, view.gate, payload)
    except ImageError as e:
        gr.Warning(str(e))
        return empty(view, f"⚠️ {e}")
    return classify(view, source, *explorer, sketched=True)


def classify_upload(view: SketchView, payload, *explorer) -> dict:
    """An upload. preprocess=False: Gradio hands over the file unopened; the gate lets through only files in
    its upload cache, then a broken file reaches prepare() and gets its own clear message."""
    try:
        path = view.gate.path(payload)
    except ImageError as e:
        gr.Warning(str(e))
        return empty(view, f"⚠️ {e}")
    return classify(view, path, *explorer)


def explore(view: SketchView, last, *explorer) -> dict:
    """The last input again, turned or flipped, or answered by another of the visitor's models."""
    if last is None:
        return empty(view, "Draw or upload something first; then rotate and flip it here.")
    image = np.asarray(last, np.float32)[0, 0]   # the stored (1, 1, 28, 28) input, in [0, 1]
    return serving.image_work(answer, view, Prepared.from_image(image), *explorer)


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
def sketchpad(brush_size: int = 22, elem_id: str = "sketch", height: int = 440,
              label: str = "Draw a garment (black ink on white)") -> gr.Sketchpad:
    """The canvas of the Sketch and Challenge tabs (also used by tools/capture_drawings.py, so benchmark
    drawings are made with exactly the component visitors draw on): 560x560 pixels, shown `height` tall."""
    return bound_drawing_uploads(gr.Sketchpad(
        label=label, elem_id=elem_id, height=height, canvas_size=(560, 560),
        type="numpy", image_mode="RGBA", layers=False, transforms=(),
        brush=gr.Brush(default_size=brush_size, colors=["#000000"], color_mode="fixed")))


def _answers(view: SketchView, slots: list[str]) -> dict:
    """One compact column per model beside the canvas (and one for the visitor's own, hidden until they
    train one): its top three and, small, its maps; simple has no own map, so none is shown for it."""
    zoo, columns = view.zoo, {}
    with gr.Row():
        for slot in slots:
            with gr.Column(elem_classes="model-col", min_width=150, visible=slot != "yours") as columns[slot]:
                heading = "your model" if slot == "yours" else title(slot)
                if slot in zoo.unavailable or (slot != "yours" and slot not in zoo.models):
                    heading += " — unavailable"
                label = gr.Label(num_top_classes=3, label=heading, elem_id=f"label-{slot}")
                what = "own map" if slot == "yours" else model_class(slot).map_name
                with gr.Row():
                    own = gr.Image(label=own_map_label(slot) if slot != "yours" else what, height=MAP,
                                   interactive=False, visible=what is not None, min_width=80, show_label=False,
                                   buttons=[])
                    cam = gr.Image(label="Grad-CAM", height=MAP, interactive=False, min_width=80, show_label=False,
                                   buttons=[])
                gr.Markdown(f"{what} · Grad-CAM" if what else "Grad-CAM (simple has no map of its own)",
                            elem_classes="map-caption")
                view.answers[slot] = (label, own, cam)
    return columns


def _layout(view: SketchView, archs: list[str]) -> tuple:
    """At a laptop's size (1366x768) the canvas and the three answers sit side by side, visible together;
    the upload, examples, preview and the invariance explorer follow below."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=360):
            view.sketch = sketchpad()
        with gr.Column(scale=6):
            view.verdict = gr.Markdown("Draw something, or upload a picture.", elem_id="verdict")
            columns = _answers(view, archs + ["yours"])
            with gr.Row(equal_height=True):
                drawing_aware = any(m.get("recipe") for m in view.zoo.meta.values())
                gr.Markdown(("The **drawing-aware** models (fine-tuned on drawings as well as photos, probabilities "
                             "calibrated). " if drawing_aware else "") + "Maps: the model's own (spatial attention "
                            f"for sa, gates for gated) and Grad-CAM on the last stage, {COLOUR_SCALE}.",
                            elem_classes="small-note")
                colour_legend()
    with gr.Row():
        with gr.Column(scale=3):
            upload = gr.Image(label="…or upload a photo or a drawing", type="filepath", sources=["upload", "clipboard"],
                              height=200, elem_id="upload")
            # not cached: Gradio 6.31's example cache cannot hold this panel's empty outputs (simple has no own
            # map, the visitor's slot is empty) and an answer costs ~30 ms (docs/design.md)
            gr.Examples(drawing_example_paths(), inputs=upload, label="Drawings (made with the mouse on this canvas)")
            gr.Examples(example_paths(), inputs=upload, label="Real test images")
        with gr.Column(scale=2):
            # the image's own height plus its label's row, so the whole 28x28 input shows
            view.preview = gr.Image(label="What the models see (28×28)", height=PREVIEW + 48, interactive=False,
                                    elem_id="preview")
            with gr.Accordion("Invariance explorer: rotate and flip the input", open=True):
                angle = gr.Slider(-180, 180, value=0, step=5, label="rotation (degrees)")
                with gr.Row():
                    hflip = gr.Checkbox(label="flip left-right")
                    vflip = gr.Checkbox(label="flip upside down")
                view.sweep_plot = gr.Plot(label="Probability of the upright answer at every angle")
    return columns, upload, angle, hflip, vflip


def sketch_tab(zoo: ModelZoo, user_models: gr.State, archs: list[str], gate: FileGate, taught: gr.State,
               teach_examples: gr.State) -> tuple[gr.Dropdown, gr.Column, gr.Checkbox, gr.Gallery]:
    """Lays out and wires the tab. Returns the picker of the visitor's own trained models, their (hidden
    until then) column, the "answer with my taught models" box and the strip of taught examples."""
    view = SketchView(zoo, gate, last_input=gr.State(None))   # the last prepared input, for the explorer
    columns, upload, angle, hflip, vflip = _layout(view, archs)
    user_choice = gr.Dropdown([], label="Your trained model to compare", value=None, elem_id="user-model",
                              info="Models you train in the Train tab appear here (for you only).")
    use_taught, strip = teach_panel(zoo, view.last_input, taught, teach_examples)
    outs = view.outputs()
    # the box's value is kept in a State, so API clients need not send it (Gradio fills states in)
    answer_taught = gr.State(False)
    explorer = [angle, hflip, vflip, user_models, user_choice, taught, answer_taught]
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
    use_taught.change(bool, use_taught, answer_taught, api_name=False, queue=False).then(
        bind(explore, view), [view.last_input] + explorer, outs, api_name=False, show_progress="hidden", **pool)
    return user_choice, columns["yours"], use_taught, strip
