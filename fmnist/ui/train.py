"""The Train tab: presets, every knob of fmnist.config that has a label, live curves, one job at a time
for the server (waiting visitors see their place and the expected wait), models kept per visitor.

Handlers first (each takes the tab's `TrainView` and one dict of knobs), then the layout (built from the
knobs' declarations), then the wiring. The queue wait and all wording live in fmnist.jobs and
fmnist.messages."""
from __future__ import annotations

import inspect
import itertools
from dataclasses import dataclass, field

import gradio as gr

from .. import augment as aug
from .. import caps as server_caps
from .. import jobs, messages, recipes, serving, speed
from ..config import Knob, ui_knobs
from ..data import DataFormatError, DataNotFoundError, load_fashion_mnist
from ..live import ROW_HEADERS, JobState
from ..trainqueue import QUEUE, Refused
from ..views import live_figure, progress_html, results_markdown
from .common import count, stop_my_job, visitor

DEFAULT_RECIPE = "quick"  # the Train tab's preset: a moving curve in seconds, a model in about a minute


@dataclass
class TrainView:
    """The tab's caps and components: `knobs` maps each knob's name to its component, in the API's order."""
    caps: server_caps.Caps
    archs: list[str]
    user_models: gr.State
    user_choice: gr.Dropdown
    user_column: gr.Column
    knobs: dict[str, gr.components.Component] = field(default_factory=dict)
    recipe_md: gr.Markdown = None
    estimate_md: gr.Markdown = None
    progress: gr.HTML = None
    curves: gr.Plot = None
    table: gr.Dataframe = None
    results_md: gr.Markdown = None
    download: gr.File = None
    start: gr.Button = None
    stop: gr.Button = None

    @property
    def everyone(self) -> str:
        return f"all {count(self.archs)}"

    def request(self, knobs: dict) -> dict:
        """The tab's values as a request for caps.plan ("all" architectures: one run each)."""
        return {**knobs, "arch": self.archs if knobs.get("arch") == self.everyone else knobs.get("arch")}


# --- handlers ---------------------------------------------------------------------------------------
def start_training(view: TrainView, knobs: dict, own_models=None, request: gr.Request = None):
    """Checks every knob, queues the job, and shows its progress, curves and results as they come."""
    session, address = visitor(request, view.caps.proxy_hops)
    try:   # every knob is checked before the job joins the queue
        cfgs, notes = server_caps.plan(view.request(knobs), view.caps)
        events = jobs.serve_job(cfgs, notes, load_fashion_mnist(), session, address, view.caps)
        first = next(events)   # joins the queue here: Refused where it does not take the job
    except (ValueError, Refused) as e:
        yield {view.progress: progress_html(0, messages.refused(e))}
        return
    except (DataNotFoundError, DataFormatError) as e:
        yield {view.progress: progress_html(0, messages.needs_data(e))}
        return
    state, text = JobState(), ""
    try:
        for kind, fraction, text, state in itertools.chain([first], events):
            shown = {view.progress: progress_html(fraction, text)}
            if kind in ("step", "epoch"):
                shown[view.curves] = live_figure(state.live, "this run")
            if kind == "epoch":
                shown[view.table] = state.rows
            if kind != "done" or not state.results:
                yield shown
    finally:   # Stop, a closed tab or a crash: the job ends and leaves the queue now, not at garbage collection
        events.close()
    if state.results:
        yield finished(view, state, notes, text, own_models)


def finished(view: TrainView, state: JobState, notes: list[str], text: str, own_models) -> dict:
    """The last update of a job with models: they join the visitor's own (at most MAX_MODELS_PER_VISITOR)."""
    own_models = dict(own_models if isinstance(own_models, dict) else {})
    own_models.update({name: result.model for name, result in state.results})
    while len(own_models) > serving.MAX_MODELS_PER_VISITOR:   # a visitor keeps their latest models only
        own_models.pop(next(iter(own_models)))
    return {view.progress: progress_html(1.0, text), view.curves: live_figure(state.live, "this run"),
            view.table: state.rows, view.results_md: results_markdown(state.results, notes),
            view.download: state.files, view.user_models: own_models,
            view.user_choice: gr.update(choices=list(own_models), value=state.results[-1][0]),
            view.user_column: gr.Column(visible=True)}


def recipe_values(view: TrainView, name: str) -> dict:
    """What a preset puts in the knobs (all but the architecture and the seed, the visitor's choices), by knob
    name, in the tab's units (they stay editable)."""
    cfg, spec = recipes.config(name), ui_knobs()
    values = {k: spec[k].show(getattr(cfg, k)) for k in spec if k not in ("arch", "seed")}
    values.update(epochs=min(cfg.epochs, view.caps.max_epochs), augment=list(aug.resolve(cfg.augment)),
                  limit=view.caps.max_train_images)
    return values


def choose_recipe(view: TrainView, name: str) -> dict:
    values = recipe_values(view, name)
    return {**{view.knobs[k]: v for k, v in values.items()}, view.recipe_md: recipe_text(name)}


def estimate(view: TrainView, knobs: dict) -> str:
    """How long the job would take on this server, from measured (or assumed) speed."""
    try:
        cfgs, _ = server_caps.plan(view.request(knobs), view.caps)
    except ValueError as e:
        return messages.refused(e)
    seconds, speeds = speed.estimate_seconds(cfgs, view.caps)
    return messages.estimate(seconds, seconds >= view.caps.max_minutes * 60 - 1, view.caps.max_minutes, speeds)


def recipe_text(name: str) -> str:
    r = recipes.RECIPES[name]
    departs = " **Departs from the study's recipe** in its upright phase." if r.departs_from_study else ""
    return f"**{name}**: {r.summary}.{departs}"


def taking_knobs(view: TrainView, fn):
    """fn(view, knobs: dict, *rest, request) as a Gradio handler whose inputs are the knobs' components
    (in view.knobs' order) and then the rest; Gradio passes the request first."""
    names = list(view.knobs)

    def split(values):
        return dict(zip(names, values[:len(names)])), values[len(names):]

    if inspect.isgeneratorfunction(fn):   # start_training: needs the request, streams its updates
        def handler(request: gr.Request, *values):
            knobs, rest = split(values)
            yield from fn(view, knobs, *rest, request=request)
    else:
        def handler(*values):
            knobs, rest = split(values)
            return fn(view, knobs, *rest)
    handler.__name__ = fn.__name__
    return handler


# --- layout -----------------------------------------------------------------------------------------
def knob_component(k: Knob, value, view: TrainView) -> gr.components.Component:
    """A knob's component, from its declaration; the server's caps bound the epochs and images."""
    common = {"label": k.label, "value": value, "elem_id": _ELEM_IDS.get(k.name, "train-" + k.name.replace("_", "-"))}
    choices = [(label, v) for label, v in k.app_choices] if k.app_choices else None
    if k.name == "arch":
        return gr.Radio(view.archs + [view.everyone], **common)
    if k.name == "epochs":   # a slider needs min < max: with a cap of 1 the range shows 2 and plan() caps it
        return gr.Slider(1, max(2, view.caps.max_epochs), step=k.step, **common)
    if k.name == "limit":
        low = min(500, max(100, view.caps.max_train_images // 2))
        return gr.Slider(low, max(low + 100, view.caps.max_train_images), step=k.step, **common)
    if k.widget == "slider":
        return gr.Slider(k.lo, k.hi, step=k.step, **common)
    if k.widget == "radio":
        return gr.Radio(choices, **common)
    if k.widget == "dropdown":
        return gr.Dropdown(choices or list(k.allowed()), **common)
    if k.widget == "checkboxes":
        return gr.CheckboxGroup(choices, **common)
    # no minimum/maximum on the component: caps.plan checks the range and names the knob in its message
    return gr.Number(precision=0 if k.kind == "int" else None, **common)


_ELEM_IDS = {"limit": "train-size", "time_budget_s": "train-minutes", "widths": "train-width"}
_ROWS = (("arch", "epochs", "lr", "batch_size", "schedule"), ("augment", "final_phase", "time_budget_s"),
         ("limit", "seed", "widths"))   # the knobs' rows; any other labelled knob gets a row of its own


def _knobs(view: TrainView) -> None:
    spec = ui_knobs()
    values = {**recipe_values(view, DEFAULT_RECIPE), "arch": view.archs[0], "seed": spec["seed"].default}
    placed = [n for row in _ROWS for n in row]
    for row in list(_ROWS) + [(n,) for n in spec if n not in placed]:
        with gr.Row():
            for name in row:
                view.knobs[name] = knob_component(spec[name], values[name], view)
    view.knobs = {name: view.knobs[name] for name in spec}   # the API's order: the declarations'


def _layout(view: TrainView) -> gr.Radio:
    gr.Markdown(messages.rules(view.caps.max_minutes, view.caps.max_epochs, view.caps.max_train_images))
    with gr.Row():
        recipe = gr.Radio(list(recipes.RECIPES), value=DEFAULT_RECIPE, label="preset", elem_id="train-recipe")
        view.recipe_md = gr.Markdown(recipe_text(DEFAULT_RECIPE), elem_id="train-recipe-text")
    _knobs(view)
    view.estimate_md = gr.Markdown(elem_id="train-estimate")
    with gr.Row():
        view.start = gr.Button("Start training", variant="primary", elem_id="start-train")
        view.stop = gr.Button("Stop", variant="stop", elem_id="stop-train")
    view.progress = gr.HTML(progress_html(0, "idle"), elem_id="train-progress")
    view.curves = gr.Plot(label="Live curves: loss and accuracy (dashed: training, smoothed; dots: 1,000 validation "
                                "images; solid: validation after each epoch)", elem_id="train-curves")
    view.table = gr.Dataframe(headers=ROW_HEADERS, label="per epoch", interactive=False)
    view.results_md = gr.Markdown(elem_id="train-results")
    view.download = gr.File(label="Download your checkpoint(s)", file_count="multiple")
    return recipe


# --- wiring -----------------------------------------------------------------------------------------
def train_tab(user_models: gr.State, user_choice: gr.Dropdown, user_column: gr.Column, archs: list[str]) -> tuple:
    """Lays out and wires the tab. Returns the time-estimate handler, its inputs and its output, for the
    page-load event."""
    view = TrainView(server_caps.Caps.from_env(), archs, user_models, user_choice, user_column)
    recipe = _layout(view)
    knobs = list(view.knobs.values())
    hidden = {"api_visibility": "undocumented"}   # the UI's own events: callable, not on the API page or MCP
    recipe.change(lambda name: choose_recipe(view, name), recipe, knobs[1:] + [view.recipe_md],
                  api_name="choose_recipe", queue=False, **hidden)
    ask = taking_knobs(view, estimate)
    for knob in knobs:
        knob.change(ask, knobs, view.estimate_md, api_name=False, trigger_mode="always_last",
                    show_progress="hidden", concurrency_limit=2, concurrency_id="estimate")
    view.start.click(taking_knobs(view, start_training), knobs + [user_models],
                     [view.progress, view.curves, view.table, view.results_md, view.download, user_models,
                      user_choice, user_column], api_name="train", **hidden,
                     concurrency_limit=QUEUE.capacity + 2, concurrency_id="train")  # refusals at once
    view.stop.click(stop_my_job, None, None, api_name="stop", queue=False, **hidden)
    return ask, knobs, view.estimate_md
