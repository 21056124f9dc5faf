"""The Metrics tab: the study-recipe models beside the study, confusion matrices, curves, the debug gallery
and the maps of one test image; the drawing-aware models that answer in the Sketch tab listed beside them.

Handlers first (each takes the tab's `MetricsView`), then the layout, then the wiring."""
from __future__ import annotations

from dataclasses import dataclass, field

import gradio as gr
import numpy as np
import torch

from .. import serving
from ..data import CLASSES
from ..explain import explain, overlay
from ..inference import ModelZoo
from ..views import (confusion_figure, curves_figure, drawing_models_markdown, load_drawing_benchmark,
                     load_seed_study, load_test_sample, metrics_markdown, models_markdown)
from .common import PREVIEW, big, bind, colour_legend, count, own_map_label

GALLERY_SIZE = 60


@dataclass
class MetricsView:
    study: ModelZoo            # the study-recipe models, compared with the study
    sample: dict               # 500 test images with their labels (views.load_test_sample)
    confusion_plot: gr.Plot = None
    gallery: gr.Gallery = None
    image: gr.Image = None
    caption: gr.Markdown = None
    maps: dict[str, tuple] = field(default_factory=dict)   # model -> (own map, Grad-CAM) images

    def map_outputs(self) -> list:
        return [self.image, self.caption] + [c for pair in self.maps.values() for c in pair]


# --- handlers ---------------------------------------------------------------------------------------
def gallery(view: MetricsView, class_filter: str, wrong_by: str) -> list:
    """Test images of a class (or all), those some model (or any) gets wrong, with every model's answer."""
    zoo, s, items = view.study, view.sample, []
    for idx, img, y in zip(s["indices"], s["images"], s["labels"]):
        if class_filter != "all" and CLASSES[y] != class_filter:
            continue
        preds = {n: zoo.meta[n]["test_predictions"][idx] for n in zoo.models if zoo.meta[n].get("test_predictions")}
        if wrong_by == "any model" and all(p == y for p in preds.values()):
            continue
        if wrong_by in preds and preds[wrong_by] == y:
            continue
        marks = ", ".join(f"{n}: {CLASSES[p]} {'✓' if p == y else '✗'}" for n, p in preds.items())
        items.append((big(img), f"#{idx} true {CLASSES[y]} | {marks}"))
        if len(items) >= GALLERY_SIZE:
            break
    return items


def maps_for(view: MetricsView, position) -> dict:
    """One sample image with every model's own map and Grad-CAM."""
    i, s = int(position), view.sample
    img = s["images"][i]
    x = torch.from_numpy(img.astype(np.float32) / 255)[None, None]
    out = {view.image: big(img),
           view.caption: f"Test image #{int(s['indices'][i])}, true class **{CLASSES[s['labels'][i]]}**"}
    for n, (own_img, cam_img) in view.maps.items():
        model = view.study.models.get(n)
        _, own, cam = explain(model, x) if model is not None else (None, None, None)
        out.update({own_img: overlay(img, own) if own is not None else None,
                    cam_img: overlay(img, cam) if cam is not None else None})
    return out


def confusion(view: MetricsView, name) -> object:
    meta = view.study.meta.get(name) or {}
    return confusion_figure(meta["test_metrics"]["confusion"], name) if meta.get("test_metrics") else None


def fill(view: MetricsView) -> dict:
    """The tab's views on page load."""
    return {view.confusion_plot: confusion(view, next(iter(view.study.models), None)),
            view.gallery: gallery(view, "all", "show all"), **maps_for(view, 0)}


# --- layout -----------------------------------------------------------------------------------------
def _tables(view: MetricsView, answering: ModelZoo, archs: list[str]) -> gr.Dropdown:
    zoo = view.study
    gr.Markdown(f"### The {count(archs)} architectures\n\n" + models_markdown(zoo.models))
    gr.Markdown(metrics_markdown(zoo.meta, load_seed_study()))
    if answering is not zoo:
        gr.Markdown(drawing_models_markdown(zoo.meta, answering.meta, load_drawing_benchmark()))
    with gr.Row():
        pick = gr.Dropdown(list(zoo.models), value=next(iter(zoo.models), None), label="confusion matrix of")
    view.confusion_plot = gr.Plot()
    histories = {n: m.get("history", []) for n, m in zoo.meta.items() if m.get("history")}
    gr.Plot(curves_figure(histories, "shipped models: training curves") if histories else None)
    return pick


def _gallery(view: MetricsView) -> tuple:
    gr.Markdown("### Test images and predictions (the study's debug plot), from a 500-image sample")
    with gr.Row():
        by_class = gr.Dropdown(["all"] + list(CLASSES), value="all", label="true class")
        wrong = gr.Dropdown(["show all", "any model"] + list(view.study.models), value="show all",
                            label="misclassified by")
    view.gallery = gr.Gallery(columns=8, height=420, label="✓ right, ✗ wrong", elem_id="debug-gallery")
    return by_class, wrong


def _maps(view: MetricsView, archs: list[str]) -> gr.Slider:
    gr.Markdown(f"### The maps of the {count(archs)} models for one test image")
    position = gr.Slider(0, len(view.sample["indices"]) - 1, value=0, step=1, label="sample image")
    with gr.Row():
        view.image = gr.Image(label="test image", height=PREVIEW, interactive=False)
        view.caption = gr.Markdown()
        colour_legend()
    with gr.Row(elem_id="attention-maps"):
        for n in archs:
            view.maps[n] = (gr.Image(label=f"{n}: {own_map_label(n)}", height=PREVIEW, interactive=False),
                            gr.Image(label=f"{n}: Grad-CAM", height=PREVIEW, interactive=False))
    return position


# --- wiring -----------------------------------------------------------------------------------------
def metrics_tab(study: ModelZoo, answering: ModelZoo, archs: list[str]) -> tuple:
    """Lays out and wires the tab. Returns the function that fills its views and their components, for the
    page-load event."""
    view = MetricsView(study, load_test_sample())
    pick = _tables(view, answering, archs)
    by_class, wrong = _gallery(view)
    position = _maps(view, archs)
    hidden = {"api_visibility": "undocumented"}
    pick.change(bind(confusion, view), pick, view.confusion_plot, api_name="confusion", **hidden)
    by_class.change(bind(gallery, view), [by_class, wrong], view.gallery, api_name="gallery_cls", **hidden)
    wrong.change(bind(gallery, view), [by_class, wrong], view.gallery, api_name="gallery_wrong", **hidden)
    position.change(lambda p: serving.image_work(maps_for, view, p), position, view.map_outputs(),
                    api_name="attention", concurrency_limit=serving.IMAGE_WORKERS,
                    concurrency_id=serving.IMAGE_POOL, **hidden)
    return bind(fill, view), [view.confusion_plot, view.gallery] + view.map_outputs()
