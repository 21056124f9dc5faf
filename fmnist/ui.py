"""The Gradio app: lays out and wires; all work is done by fmnist's functions (the only gradio import)."""
from __future__ import annotations

import functools
import itertools
import os

import gradio as gr
import numpy as np
import torch
from PIL import Image

from . import augment as aug
from . import jobs, recipes, serving
from .data import CLASSES, DataFormatError, DataNotFoundError, load_fashion_mnist
from .explain import COLOUR_SCALE, explain, overlay
from .gate import ASSETS, MAX_LAYERS, FileGate
from .images import MAX_FILE_BYTES, ImageError
from .inference import ModelZoo, drawing_models_shipped
from .models import list_models, model_class
from .preprocess import Prepared, prepare
from .views import (confusion_figure, curves_figure, drawing_example_paths, drawing_models_markdown, example_paths,
                    live_figure, load_drawing_benchmark, load_seed_study, load_test_sample, metrics_markdown,
                    models_markdown, progress_html, results_markdown, sweep_figure)

PREVIEW = 168
DEFAULT_RECIPE = "quick"  # the Train tab's preset: a moving curve in seconds, a model in about a minute
AUG_CHOICES = [("horizontal flip", "hflip"), ("vertical flip", "vflip"), ("rotation ±90°", "rotate90")]
# Selects the brush as soon as the page loads, so a visitor can draw at once (Gradio 6.31 otherwise asks
# for a click on the Brush tool first).
SELECT_BRUSH_JS = """
() => {
  const pick = () => {
    const root = document.querySelector('#sketch');
    if (!root) return false;
    const btn = [...root.querySelectorAll('button')].find(b =>
      /brush|draw/i.test((b.getAttribute('aria-label') || '') + ' ' + (b.title || '')));
    if (btn) { btn.click(); return true; }
    return false;
  };
  let tries = 0;
  const timer = setInterval(() => { if (pick() || ++tries > 40) clearInterval(timer); }, 250);
}
"""
CSS = """
#verdict {font-size: 1.05em}
.model-col {border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 6px}
"""


def build_demo(zoo: ModelZoo | None = None, study_zoo: ModelZoo | None = None) -> gr.Blocks:
    """The whole app: three tabs and a hidden /predict. `zoo` answers drawings, uploads and /predict (by
    default the drawing-aware models); `study_zoo` is compared with the study in the Metrics tab (by
    default the study-recipe models, or `zoo` itself when one is given)."""
    if zoo is None:
        zoo = ModelZoo.for_drawings()
        if drawing_models_shipped():
            study_zoo = study_zoo or ModelZoo()
    study_zoo = study_zoo or zoo
    archs = list_models()
    # the only places a visitor's file may be read from: Gradio's upload cache and the app's own assets
    gate = FileGate([gr.utils.get_upload_folder(), ASSETS])
    with gr.Blocks(title=f"fmnist-lab: {_count(archs)} CNNs on Fashion-MNIST", analytics_enabled=False,
                   delete_cache=serving.DELETE_CACHE) as demo:
        gr.Markdown(f"# fmnist-lab\nTrain, compare and explain {_count(archs)} CNNs on Fashion-MNIST: "
                    + _and([f"**{n}** ({model_class(n).title})" for n in archs]) + ".")
        if zoo.unavailable:
            gr.Markdown("\n".join(f"⚠️ **{n} is unavailable**: {why}" for n, why in zoo.unavailable.items()))
        # this visitor's trained models: {name: model}, dropped with the session or after KEEP_STATE_S
        user_models = gr.State({}, time_to_live=serving.KEEP_STATE_S)
        with gr.Tab("Sketch & classify"):
            user_choice, user_column = _sketch_tab(zoo, user_models, archs, gate)
        with gr.Tab("Train"):
            train_estimate, knobs, estimate_md = _train_tab(user_models, user_choice, user_column, archs)
        with gr.Tab("Metrics & attention"):
            fill_metrics, metrics_outputs = _metrics_tab(study_zoo, zoo, archs)
        _predict_api(zoo, gate)
        demo.load(fill_metrics, None, metrics_outputs, api_name="load", js=SELECT_BRUSH_JS)
        demo.load(train_estimate, knobs, estimate_md, api_name=False)
    demo.queue(default_concurrency_limit=serving.IMAGE_WORKERS)
    serving.start_janitor()
    return demo


MAX_PENDING_DRAWINGS = 64


def _bound_drawing_uploads(sketch: gr.Sketchpad) -> gr.Sketchpad:
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


def sketchpad(brush_size: int = 22) -> gr.Sketchpad:
    """The Sketch tab's canvas (also used by tools/capture_drawings.py, so benchmark drawings are made
    with exactly the component visitors draw on)."""
    return _bound_drawing_uploads(gr.Sketchpad(
        label="Draw a garment (black ink on white)", elem_id="sketch", height=520, canvas_size=(560, 560),
        type="numpy", image_mode="RGBA", layers=False, transforms=(),
        brush=gr.Brush(default_size=brush_size, colors=["#000000"], color_mode="fixed")))


def _count(names: list[str]) -> str:
    return {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}.get(len(names), str(len(names)))


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _title(name: str) -> str:
    """A slot's title: the registry name and what the class calls itself."""
    return f"{name} ({model_class(name).title})"


def _own_map_label(name: str) -> str:
    """The label of a model's own-map slot, from what its class says its maps are."""
    what = model_class(name).map_name
    return f"own map: {what}" if what else "own map (none: no attention or gates)"


def _big(image28: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(image28).resize((PREVIEW, PREVIEW), Image.NEAREST))


def _sketch_tab(zoo: ModelZoo, user_models: gr.State, archs: list[str], gate: FileGate
                ) -> tuple[gr.Dropdown, gr.Column]:
    """Sketchpad and upload → every model's answer with its maps, live.

    Returns the picker of the visitor's own trained models and their (hidden until then) column."""
    slots = archs + ["yours"]
    shown = {}  # slot -> (label, own map, Grad-CAM) components, filled in below

    def empty(message: str):
        out = {preview: None, verdict: message, sweep_plot: None, last_input: None}
        for label, own, cam in shown.values():
            out.update({label: None, own: None, cam: None})
        return out

    def answer(prepared: Prepared, angle, hflip, vflip, mine, choice):
        extra = {f"yours: {choice}": mine[choice]} if mine and choice in mine else {}
        cmp_ = zoo.compare(prepared=prepared, angle=angle, hflip=hflip, vflip=vflip, extra=extra)
        text = cmp_.verdict
        if prepared.notes:
            text += "  \n*Preprocessing: " + "; ".join(prepared.notes) + ".*"
        out = {preview: _big(cmp_.prepared.preview), verdict: text,
               sweep_plot: sweep_figure(zoo.rotation_sweep(prepared.tensor, extra=extra)),
               last_input: prepared.tensor.numpy()}
        for slot, (label, own, cam) in shown.items():
            name = slot if slot != "yours" else next(iter(extra), None)
            p = cmp_.predictions.get(name) if name else None
            out.update({label: p.probs if p else None, own: p.own_map if p else None, cam: p.grad_cam if p else None})
        return out

    def classify(source, angle, hflip, vflip, mine, choice, sketched: bool = False):
        try:
            return serving.image_work(lambda: answer(prepare(source), angle, hflip, vflip, mine, choice))
        except ImageError as e:
            if sketched:  # an empty or cleared sketchpad: no alarm
                return empty(f"✏️ {e}")
            gr.Warning(str(e))
            return empty(f"⚠️ {e}")

    def classify_sketch(payload, angle, hflip, vflip, mine, choice):
        # preprocess=False: the raw value passes the gate, which caps its layers and sizes before anything
        # is decoded. From the browser, the drawing's parts arrived just before, under the id the value
        # names (_bound_drawing_uploads); an API client may send them as files instead.
        drawing_id = payload.get("id") if isinstance(payload, dict) else None
        blobs = sketch.blob_storage.pop(drawing_id, None) if isinstance(drawing_id, str) else None
        try:
            source = serving.image_work(gate.sketch, payload, blobs)
        except ImageError as e:
            gr.Warning(str(e))
            return empty(f"⚠️ {e}")
        return classify(source, angle, hflip, vflip, mine, choice, sketched=True)

    def classify_upload(payload, angle, hflip, vflip, mine, choice):
        # preprocess=False: Gradio hands over the uploaded file unopened; the gate lets through only
        # files in its upload cache, then a broken file reaches prepare() and gets its own clear message
        try:
            path = gate.path(payload)
        except ImageError as e:
            gr.Warning(str(e))
            return empty(f"⚠️ {e}")
        return classify(path, angle, hflip, vflip, mine, choice)

    def explore(last, angle, hflip, vflip, mine, choice):
        if last is None:
            return empty("Draw or upload something first; then rotate and flip it here.")
        image = np.asarray(last, np.float32)[0, 0]   # the stored (1, 1, 28, 28) input, in [0, 1]
        return serving.image_work(answer, Prepared.from_image(image), angle, hflip, vflip, mine, choice)

    last_input = gr.State(None)            # the last prepared input, for the explorer
    with gr.Row():
        with gr.Column(scale=3):
            sketch = sketchpad()
            upload = gr.Image(label="…or upload a photo or a drawing", type="filepath", sources=["upload", "clipboard"],
                              height=220, elem_id="upload")
            gr.Examples(drawing_example_paths(), inputs=upload, label="Drawings (made with the mouse on this canvas)")
            gr.Examples(example_paths(), inputs=upload, label="Real test images")
        with gr.Column(scale=2):
            # the image's own height plus its label's row, so the whole 28x28 input shows
            preview = gr.Image(label="What the models see (28×28)", height=PREVIEW + 48, interactive=False,
                               elem_id="preview")
            verdict = gr.Markdown("Draw something, or upload a picture.", elem_id="verdict")
            with gr.Accordion("Invariance explorer: rotate and flip the input", open=True):
                angle = gr.Slider(-180, 180, value=0, step=5, label="rotation (degrees)")
                with gr.Row():
                    hflip = gr.Checkbox(label="flip left-right")
                    vflip = gr.Checkbox(label="flip upside down")
                sweep_plot = gr.Plot(label="Probability of the upright answer at every angle")
    user_choice = gr.Dropdown([], label="Your trained model to compare", value=None, elem_id="user-model",
                              info="Models you train in the Train tab appear here (for you only).")
    drawing_aware = any(m.get("recipe") for m in zoo.meta.values())
    gr.Markdown(("These are the **drawing-aware** models (fine-tuned on drawings as well as photos, "
                 "probabilities calibrated; the Metrics tab has their recipe and figures). " if drawing_aware else "")
                + f"Maps: the model's own map (spatial attention for sa, gates for gated) and Grad-CAM on the "
                f"last stage. Colour scale: {COLOUR_SCALE}.")
    columns = {}
    with gr.Row():
        for slot in slots:
            with gr.Column(elem_classes="model-col", min_width=200, visible=slot != "yours") as columns[slot]:
                title = "your model" if slot == "yours" else _title(slot)
                if slot in zoo.unavailable or (slot != "yours" and slot not in zoo.models):
                    title += " — unavailable"
                shown[slot] = (
                    gr.Label(num_top_classes=3, label=title, elem_id=f"label-{slot}"),
                    gr.Image(label="own map" if slot == "yours" else _own_map_label(slot), height=PREVIEW,
                             interactive=False),
                    gr.Image(label="Grad-CAM", height=PREVIEW, interactive=False))
    # the order of the API's outputs: preview, verdict, (label, own map, Grad-CAM) per slot, sweep, input
    outs = [preview, verdict] + [c for trio in shown.values() for c in trio] + [sweep_plot, last_input]
    explorer = [angle, hflip, vflip, user_models, user_choice]
    # one pool for every image event (and /predict, /verdict): a bounded number of decodes at once
    pool = {"concurrency_limit": serving.IMAGE_WORKERS, "concurrency_id": serving.IMAGE_POOL}
    sketch.change(classify_sketch, [sketch] + explorer, outs, api_name="classify_sketch", preprocess=False,
                  trigger_mode="always_last", show_progress="hidden", **pool)
    upload.change(classify_upload, [upload] + explorer, outs, api_name="classify_upload", preprocess=False, **pool)
    for ctl, api in ((angle, "rotate"), (hflip, "hflip"), (vflip, "vflip"), (user_choice, "choose_model")):
        ctl.change(explore, [last_input] + explorer, outs, api_name=api,
                   trigger_mode="always_last", show_progress="hidden", **pool)
    return user_choice, columns["yours"]


def _train_tab(user_models: gr.State, user_choice: gr.Dropdown, user_column: gr.Column, archs: list[str]) -> tuple:
    """Training with live curves and presets; one job at a time for the server (jobs.QUEUE: waiting
    visitors see their place and the expected wait), models kept per visitor.

    Returns the time-estimate function, its inputs and its output, for the page-load event."""
    caps = jobs.Caps.from_env()
    ALL = f"all {_count(archs)}"  # noqa: N806 (a constant of this tab)
    default = DEFAULT_RECIPE

    def configs(arch_choice, epochs, lr, batch, augs, n_train, seed, width, schedule, minutes, final_phase):
        if arch_choice != ALL and arch_choice not in archs:
            raise ValueError(f"architecture must be one of {', '.join(archs)} or {ALL}")
        chosen = archs if arch_choice == ALL else [arch_choice]
        return jobs.plan(chosen, epochs, lr, batch, augs or [], n_train, seed, caps, width or jobs.DEFAULT_WIDTH,
                         schedule=schedule or "constant", minutes=minutes or None, final_phase=final_phase or 0.0)

    def start_training(arch_choice, epochs, lr, batch, augs, n_train, seed, width, schedule, minutes, final_phase,
                       mine, request: gr.Request):
        session = getattr(request, "session_hash", None) or "anon"
        address = jobs.client_address(getattr(getattr(request, "client", None), "host", None),
                                       (getattr(request, "headers", None) or {}).get("x-forwarded-for"),
                                       caps.proxy_hops)
        mine = dict(mine if isinstance(mine, dict) else {})

        def status(fraction, text):  # only the progress line changes
            return {progress: progress_html(fraction, text)}

        try:   # every knob is checked before the job joins the queue
            cfgs, notes = configs(arch_choice, epochs, lr, batch, augs, n_train, seed, width, schedule, minutes,
                                  final_phase)
            ds = load_fashion_mnist()
            events = jobs.serve_job(cfgs, notes, ds, session, address, caps)
            first = next(events)   # joins the queue here: Refused where it does not take the job
        except (ValueError, jobs.Refused) as e:
            yield status(0, f"⚠️ {e}")
            return
        except (DataNotFoundError, DataFormatError) as e:
            yield status(0, f"⚠️ Training needs the Fashion-MNIST data.\n{e}")
            return
        state = jobs.JobState()
        try:
            for kind, fraction, text, state in itertools.chain([first], events):
                if kind == "step":
                    yield {progress: progress_html(fraction, text), curves: live_figure(state.live, "this run")}
                elif kind == "epoch":
                    yield {progress: progress_html(fraction, text), curves: live_figure(state.live, "this run"),
                           table: state.rows}
                elif kind != "done" or not state.results:
                    yield status(fraction, text)
        finally:   # Stop, a closed tab or a crash: the job ends and leaves the queue now, not at garbage collection
            events.close()
        if not state.results:
            return
        mine.update({name: result.model for name, result in state.results})
        while len(mine) > serving.MAX_MODELS_PER_VISITOR:   # a visitor keeps their latest models only
            mine.pop(next(iter(mine)))
        yield {progress: progress_html(1.0, text),
               curves: live_figure(state.live, "this run"), table: state.rows,
               results_md: results_markdown(state.results, notes), download: state.files, user_models: mine,
               user_choice: gr.update(choices=list(mine), value=state.results[-1][0] if state.results else None),
               user_column: gr.Column(visible=bool(mine))}

    def stop_training(request: gr.Request):
        session = getattr(request, "session_hash", None) or "anon"
        if jobs.QUEUE.request_stop(session):
            gr.Info("Stopping after the current step…")
        else:
            gr.Info("No training of yours is running.")

    def recipe_knobs(name: str) -> dict:
        """What a preset puts in the knobs, by knob name (they stay editable)."""
        cfg = recipes.config(name)
        return {"epochs": min(cfg.epochs, caps.max_epochs), "lr": cfg.lr, "batch": cfg.batch_size,
                "augs": list(aug.resolve(cfg.augment)), "n_train": caps.max_train_images,
                "width": jobs.DEFAULT_WIDTH, "schedule": cfg.schedule, "final_phase": cfg.final_phase,
                "minutes": round(cfg.time_budget_s / 60, 2) if cfg.time_budget_s else 0}

    def choose_recipe(name):
        filled = recipe_knobs(name)
        return {**{by_name[k]: v for k, v in filled.items()}, recipe_md: _recipe_text(name)}

    def estimate(*knobs):
        try:
            cfgs, _ = configs(*knobs)
        except ValueError as e:
            return f"⚠️ {e}"
        seconds, speeds = jobs.estimate_seconds(cfgs, caps)
        capped = seconds >= caps.max_minutes * 60 - 1
        return (f"⏱ **About {jobs.duration(seconds)}** on this server with these settings"
                + (f", **the {caps.max_minutes:g}-minute cap per job** (the run then ends and keeps its model)"
                   if capped else "") + f" ({'; '.join(speeds)}).")

    gr.Markdown(f"Pick a preset, change any knob, press Start. This server trains one job at a time (others "
                f"wait in a queue and see their place) and caps each job at **{caps.max_minutes:g} minutes**, "
                f"**{caps.max_epochs} epochs** and **{caps.max_train_images:,} training images**. Shipped models "
                "are never overwritten.")
    with gr.Row():
        recipe = gr.Radio([(f"{n}", n) for n in recipes.RECIPES], value=default, label="preset",
                          elem_id="train-recipe")
        recipe_md = gr.Markdown(_recipe_text(default), elem_id="train-recipe-text")
    initial = recipe_knobs(default)
    with gr.Row():
        arch = gr.Radio(archs + [ALL], value=archs[0], label="architecture", elem_id="train-arch")
        # a slider needs min < max: with a cap of 1 the range shows 2 and jobs.plan() caps it
        epochs = gr.Slider(1, max(2, caps.max_epochs), value=initial["epochs"], step=1,
                           label="epochs (max)", elem_id="train-epochs")
        lr = gr.Number(initial["lr"], label="peak learning rate (AdamW)", minimum=1e-6, maximum=1.0,
                       elem_id="train-lr")
        batch = gr.Dropdown([16, 32, 64, 128, 256], value=initial["batch"], label="batch size")
        schedule = gr.Dropdown(list(jobs.SCHEDULES), value=initial["schedule"], label="schedule",
                               elem_id="train-schedule")
    with gr.Row():
        augs = gr.CheckboxGroup(AUG_CHOICES, value=initial["augs"], label="augmentations")
        final_phase = gr.Slider(0, 0.9, value=initial["final_phase"], step=0.05, elem_id="train-final-phase",
                                label="upright final phase (share of the run with horizontal flips only; "
                                      "0 = the study's augmentations throughout)")
        minutes = gr.Number(initial["minutes"],
                            label="time budget per architecture, minutes (0: epochs decide)", minimum=0,
                            elem_id="train-minutes")
    with gr.Row():
        n_min = min(500, max(100, caps.max_train_images // 2))
        n_train = gr.Slider(n_min, max(n_min + 100, caps.max_train_images), value=initial["n_train"],
                            step=100, label="training images (fewer = quicker)", elem_id="train-size")
        seed = gr.Number(0, label="seed", precision=0)
        width = gr.Radio([("32-64-128 (standard)", "32-64-128"),
                          ("64-128-256 (the shipped models' width, ~2.5x slower per epoch)", "64-128-256")],
                         value=initial["width"], label="channels per stage", elem_id="train-width")
    estimate_md = gr.Markdown(elem_id="train-estimate")
    with gr.Row():
        start = gr.Button("Start training", variant="primary", elem_id="start-train")
        stop = gr.Button("Stop", variant="stop", elem_id="stop-train")
    progress = gr.HTML(progress_html(0, "idle"), elem_id="train-progress")
    curves = gr.Plot(label="Live curves: loss and accuracy (dashed: training, smoothed; dots: 1,000 validation "
                           "images; solid: validation after each epoch)", elem_id="train-curves")
    table = gr.Dataframe(headers=["arch", "epoch", "train loss", "train acc", "val loss", "val acc", "img/s",
                                  "seconds"], label="per epoch", interactive=False)
    results_md = gr.Markdown(elem_id="train-results")
    download = gr.File(label="Download your checkpoint(s)", file_count="multiple")
    knobs = [arch, epochs, lr, batch, augs, n_train, seed, width, schedule, minutes, final_phase]
    by_name = {"epochs": epochs, "lr": lr, "batch": batch, "augs": augs, "n_train": n_train, "width": width,
               "schedule": schedule, "minutes": minutes, "final_phase": final_phase}
    recipe.change(choose_recipe, recipe, knobs[1:] + [recipe_md], api_name="choose_recipe", queue=False)
    for knob in knobs:
        knob.change(estimate, knobs, estimate_md, api_name=False, trigger_mode="always_last",
                    show_progress="hidden", concurrency_limit=2, concurrency_id="estimate")
    start.click(start_training, knobs + [user_models],
                [progress, curves, table, results_md, download, user_models, user_choice, user_column],
                api_name="train", concurrency_limit=jobs.QUEUE.capacity + 2, concurrency_id="train")  # refusals at once
    stop.click(stop_training, None, None, api_name="stop", queue=False)
    return estimate, knobs, estimate_md


def _recipe_text(name: str) -> str:
    r = recipes.RECIPES[name]
    departs = " **Departs from the study's recipe** in its upright phase." if r.departs_from_study else ""
    return f"**{name}**: {r.summary}.{departs}"


def _metrics_tab(zoo: ModelZoo, answering: ModelZoo, archs: list[str]) -> tuple:
    """The study-recipe models' metrics beside the study's, confusion matrices, curves, debug gallery,
    maps; the drawing-aware models that answer in the Sketch tab (`answering`) listed beside them.

    Returns the function that fills the tab's views and their components, for the page-load event."""
    sample = load_test_sample()

    def gallery(class_filter, wrong_by):
        items = []
        for idx, img, y in zip(sample["indices"], sample["images"], sample["labels"]):
            if class_filter != "all" and CLASSES[y] != class_filter:
                continue
            preds = {n: zoo.meta[n]["test_predictions"][idx] for n in zoo.models if zoo.meta[n].get("test_predictions")}
            if wrong_by == "any model" and all(p == y for p in preds.values()):
                continue
            if wrong_by in preds and preds[wrong_by] == y:
                continue
            marks = ", ".join(f"{n}: {CLASSES[p]} {'✓' if p == y else '✗'}" for n, p in preds.items())
            items.append((_big(img), f"#{idx} true {CLASSES[y]} | {marks}"))
            if len(items) >= 60:
                break
        return items

    def attention_for(position):
        i = int(position)
        img = sample["images"][i]
        x = torch.from_numpy(img.astype(np.float32) / 255)[None, None]
        out = {att_img: _big(img),
               att_caption: f"Test image #{int(sample['indices'][i])}, true class **{CLASSES[sample['labels'][i]]}**"}
        for n, (own_img, cam_img) in att_maps.items():
            model = zoo.models.get(n)
            _, own, cam = explain(model, x) if model is not None else (None, None, None)
            out.update({own_img: overlay(img, own) if own is not None else None,
                        cam_img: overlay(img, cam) if cam is not None else None})
        return out

    def confusion(name):
        meta = zoo.meta.get(name) or {}
        return confusion_figure(meta["test_metrics"]["confusion"], name) if meta.get("test_metrics") else None

    gr.Markdown(f"### The {_count(archs)} architectures\n\n" + models_markdown(zoo.models))
    gr.Markdown(metrics_markdown(zoo.meta, load_seed_study()))
    if answering is not zoo:
        gr.Markdown(drawing_models_markdown(zoo.meta, answering.meta, load_drawing_benchmark()))
    with gr.Row():
        cm_model = gr.Dropdown(list(zoo.models), value=next(iter(zoo.models), None), label="confusion matrix of")
    cm_plot = gr.Plot()
    histories = {n: m.get("history", []) for n, m in zoo.meta.items() if m.get("history")}
    gr.Plot(curves_figure(histories, "shipped models: training curves") if histories else None)
    gr.Markdown("### Test images and predictions (the study's debug plot), from a 500-image sample")
    with gr.Row():
        cls_filter = gr.Dropdown(["all"] + list(CLASSES), value="all", label="true class")
        wrong_filter = gr.Dropdown(["show all", "any model"] + list(zoo.models), value="show all",
                                   label="misclassified by")
    gal = gr.Gallery(columns=8, height=420, label="✓ right, ✗ wrong", elem_id="debug-gallery")
    gr.Markdown(f"### The maps of the {_count(archs)} models for one test image")
    pos = gr.Slider(0, len(sample["indices"]) - 1, value=0, step=1, label="sample image")
    with gr.Row():
        att_img = gr.Image(label="test image", height=PREVIEW, interactive=False)
        att_caption = gr.Markdown()
    att_maps = {}
    with gr.Row(elem_id="attention-maps"):
        for n in archs:
            att_maps[n] = (gr.Image(label=f"{n}: {_own_map_label(n)}", height=PREVIEW, interactive=False),
                           gr.Image(label=f"{n}: Grad-CAM", height=PREVIEW, interactive=False))
    att_out = [att_img, att_caption] + [c for pair in att_maps.values() for c in pair]
    cm_model.change(confusion, cm_model, cm_plot, api_name="confusion")
    cls_filter.change(gallery, [cls_filter, wrong_filter], gal, api_name="gallery_cls")
    wrong_filter.change(gallery, [cls_filter, wrong_filter], gal, api_name="gallery_wrong")
    pos.change(lambda position: serving.image_work(attention_for, position), pos, att_out, api_name="attention",
               concurrency_limit=serving.IMAGE_WORKERS, concurrency_id=serving.IMAGE_POOL)
    return (lambda: {cm_plot: confusion(next(iter(zoo.models), None)), gal: gallery("all", "show all"),
                     **attention_for(0)},
            [cm_plot, gal] + att_out)


def _predict_api(zoo: ModelZoo, gate: FileGate) -> None:
    """/predict: one image file → {model: {class: probability}} for every available model; /verdict: the
    Sketch tab's answer for it, "does not look like a garment" included."""
    def predict_api(file):
        """Classify one image file (PNG, JPEG, GIF, WebP or BMP) with every available model: {model: {class: probability}}."""
        return zoo.predict_json(gate.path(file))

    def verdict_api(file):
        """What the Sketch tab says about one image file: {garment, answer, confidence, verdict, drawing,
        models: {model: {top, confidence}}}; answer is None where it does not look like a garment."""
        return zoo.verdict_json(gate.path(file))

    for fn in (predict_api, verdict_api):
        with gr.Row(visible=False):
            file, out, button = gr.File(label="image file"), gr.JSON(), gr.Button(fn.__name__)
        # preprocess=False: the client's file value reaches the gate as sent
        button.click(_image_errors_as_messages(fn), file, out, api_name=fn.__name__.removesuffix("_api"),
                     preprocess=False, concurrency_limit=serving.IMAGE_WORKERS, concurrency_id=serving.IMAGE_POOL)


def _image_errors_as_messages(fn):
    """fn(file), run as image work (the serving threads), with a file that is not a usable image
    answered by a gr.Error that says why."""
    @functools.wraps(fn)
    def wrapped(file):
        try:
            return serving.image_work(fn, file)
        except ImageError as e:
            raise gr.Error(str(e))
    return wrapped


def launch_kwargs() -> dict:
    """Launch options for app.py: host/port from GRADIO_SERVER_NAME/PORT, an upload cap, a bound on the
    sessions kept in memory, the CSS."""
    return {"server_name": os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
            "server_port": int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
            "max_file_size": MAX_FILE_BYTES, "state_session_capacity": serving.STATE_SESSIONS, "css": CSS}
