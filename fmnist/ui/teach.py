"""Teach it, in the Sketch tab: say what a drawing really is ("It's a Coat"), collect such examples (a
strip of thumbnails, removable), and press Teach: the visitor's own copies of the three drawing-aware
models learn them through the training queue (fmnist.jobs.serve_teach), then answer for this visitor
only, and download as checkpoints.

Handlers first, then the layout and the wiring (`teach_panel`)."""
from __future__ import annotations

import itertools

import gradio as gr
import numpy as np

from .. import caps as server_caps
from .. import jobs, messages, teach
from ..checkpoints import save_checkpoint
from ..data import CLASSES, DataFormatError, DataNotFoundError, load_fashion_mnist
from ..inference import ModelZoo
from ..trainqueue import QUEUE, Refused
from ..views import progress_html
from .common import big, stop_my_job, visitor


# --- handlers ---------------------------------------------------------------------------------------
def as_image(last_input) -> np.ndarray | None:
    """The last input the models saw ((1, 1, 28, 28) in [0, 1], from the session) as a 28x28 uint8."""
    if last_input is None:
        return None
    return (np.asarray(last_input, np.float32)[0, 0].clip(0, 1) * 255).round().astype(np.uint8)


def strip(examples: list) -> list:
    """The examples as thumbnails with their labels."""
    return [(big(e.image), e.name) for e in examples or []]


def add(last_input, label, examples):
    """The drawing now on screen joins the visitor's examples as `label`."""
    image = as_image(last_input)
    if image is None:
        gr.Warning("Draw or upload something first; then say what it is.")
        return examples, strip(examples)
    if label not in CLASSES:
        gr.Warning("Pick what the drawing really is (It's a…) first.")
        return examples, strip(examples)
    examples = teach.add_example(examples or [], image, CLASSES.index(label))
    return examples, strip(examples)


def choose(evt: gr.SelectData):
    return evt.index


def remove(examples, index):
    """The selected example leaves the strip."""
    examples = list(examples or [])
    if isinstance(index, int) and 0 <= index < len(examples):
        examples.pop(index)
    else:
        gr.Info("Click an example in the strip first, then Remove.")
    return examples, strip(examples), None


def _download(models: dict, session: str) -> list[str]:
    """The taught copies as checkpoints in the visitor's own folder (deleted after a while)."""
    return [str(save_checkpoint(m, jobs.output_path(session, f"taught-{name}"), status="taught",
                                label="fine-tuned on a visitor's drawings (Teach it)")) for name, m in models.items()]


def start(zoo: ModelZoo, proxy_hops: int, examples, request: gr.Request):
    """Teach: the visitor's copies of the models learn their examples, through the training queue."""
    session, address = visitor(request, proxy_hops)
    try:
        events = jobs.serve_teach(dict(zoo.models), list(examples or []), load_fashion_mnist(), session, address)
        first = next(events)   # joins the queue here: Refused where it does not take the job
    except (ValueError, Refused) as e:
        yield progress_html(0, messages.refused(e)), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return
    except (DataNotFoundError, DataFormatError) as e:
        yield progress_html(0, messages.needs_data(e)), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return
    try:
        for _, fraction, text, result in itertools.chain([first], events):
            if result is None:
                yield progress_html(fraction, text), gr.skip(), gr.skip(), gr.skip(), gr.skip()
                continue
            yield (progress_html(1.0, text), result["models"], teach.report_markdown(result["report"], len(examples)),
                   gr.File(_download(result["models"], session), visible=True), gr.Checkbox(value=True, visible=True))
    finally:   # Stop, a closed tab or a crash: the job ends and leaves the queue now
        events.close()


# --- layout and wiring ------------------------------------------------------------------------------
def teach_panel(zoo: ModelZoo, last_input: gr.State, taught: gr.State, examples: gr.State
                ) -> tuple[gr.Checkbox, gr.Gallery]:
    """The panel under the answers. Returns the "answer with my taught models" box (hidden until taught)
    and the strip of examples (the Challenge tab adds to it too)."""
    hops = server_caps.Caps.from_env().proxy_hops
    with gr.Accordion("Teach it: say what your drawing really is, and your own copies of the models learn it",
                      open=True, elem_id="teach"):
        with gr.Row(equal_height=True):
            label = gr.Dropdown(list(CLASSES), value=None, label="It's a…", elem_id="teach-label", scale=2)
            add_button = gr.Button("Add to my examples", elem_id="teach-add", scale=1)
            remove_button = gr.Button("Remove the selected example", elem_id="teach-remove", scale=1)
        gallery = gr.Gallery(label="Your examples (click one to select it)", columns=10, height=130,
                             object_fit="contain", allow_preview=False, elem_id="teach-examples")
        with gr.Row():
            teach_button = gr.Button("Teach my models (about a minute)", variant="primary", elem_id="teach-start")
            stop_button = gr.Button("Stop", variant="stop", elem_id="teach-stop")
        progress = gr.HTML(progress_html(0, "idle"), elem_id="teach-progress")
        results = gr.Markdown(elem_id="teach-results")
        use_taught = gr.Checkbox(False, label="Answer with my taught models (for you only)", visible=False,
                                 elem_id="teach-use")
        download = gr.File(label="Download your taught models", file_count="multiple", visible=False)
    selected = gr.State(None)
    hidden = {"api_visibility": "undocumented"}
    add_button.click(add, [last_input, label, examples], [examples, gallery], api_name="teach_add", **hidden)
    gallery.select(choose, None, selected, api_name=False)
    remove_button.click(remove, [examples, selected], [examples, gallery, selected], api_name="teach_remove", **hidden)

    def start_teaching(examples_now, request: gr.Request):
        yield from start(zoo, hops, examples_now, request)

    teach_button.click(start_teaching, examples, [progress, taught, results, download, use_taught],
                       api_name="teach", concurrency_limit=QUEUE.capacity + 2, concurrency_id="train", **hidden)
    stop_button.click(stop_my_job, None, None, api_name="teach_stop", queue=False, **hidden)
    return use_taught, gallery
