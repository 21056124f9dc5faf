"""The whole app: four tabs, the public API (/predict, /verdict, also as MCP tools) and how it launches."""
from __future__ import annotations

import os

import gradio as gr

from .. import serving
from ..gate import ASSETS, FileGate
from ..images import MAX_FILE_BYTES
from ..inference import ModelZoo, drawing_models_shipped
from ..models import list_models, model_class
from .api import api_endpoints
from .challenge import POINTER_JS, challenge_tab
from .common import and_, count
from .metrics import metrics_tab
from .sketch import sketch_tab
from .train import train_tab

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
.map-caption, .small-note {font-size: 0.85em; color: var(--body-text-color-subdued)}
"""


def build_demo(zoo: ModelZoo | None = None, study_zoo: ModelZoo | None = None) -> gr.Blocks:
    """The whole app: three tabs and the public API. `zoo` answers drawings, uploads and /predict (by
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
    with gr.Blocks(title=f"fmnist-lab: {count(archs)} CNNs on Fashion-MNIST", analytics_enabled=False,
                   delete_cache=serving.DELETE_CACHE) as demo:
        gr.Markdown(f"# fmnist-lab\nTrain, compare and explain {count(archs)} CNNs on Fashion-MNIST: "
                    + and_([f"**{n}** ({model_class(n).title})" for n in archs]) + ".")
        if zoo.unavailable:
            gr.Markdown("\n".join(f"⚠️ **{n} is unavailable**: {why}" for n, why in zoo.unavailable.items()))
        # this visitor's trained models: {name: model}, dropped with the session or after KEEP_STATE_S
        user_models = gr.State({}, time_to_live=serving.KEEP_STATE_S)
        # this visitor's examples ("It's a…") and their taught copies of the models: {name: model}
        teach_examples = gr.State([], time_to_live=serving.KEEP_STATE_S)
        taught = gr.State({}, time_to_live=serving.KEEP_STATE_S)
        with gr.Tab("Sketch & classify"):
            user_choice, user_column, _, teach_strip = sketch_tab(zoo, user_models, archs, gate, taught, teach_examples)
        with gr.Tab("Challenge"):
            challenge_tab(zoo, gate, teach_examples, teach_strip)
        with gr.Tab("Train"):
            estimate, knobs, estimate_md = train_tab(user_models, user_choice, user_column, archs)
        with gr.Tab("Metrics & attention"):
            fill_metrics, metrics_outputs = metrics_tab(study_zoo, zoo, archs)
        api_endpoints(zoo, gate)
        demo.load(fill_metrics, None, metrics_outputs, api_name="load", api_visibility="undocumented",
                  js=SELECT_BRUSH_JS)
        demo.load(estimate, knobs, estimate_md, api_name=False)
        demo.load(None, js=POINTER_JS, api_name=False)   # the Challenge's clock: when a stroke starts
    demo.queue(default_concurrency_limit=serving.IMAGE_WORKERS)
    serving.start_janitor()
    return demo


def launch_kwargs() -> dict:
    """Launch options for app.py: host/port from GRADIO_SERVER_NAME/PORT, an upload cap, a bound on the
    sessions kept in memory, the CSS, and the MCP server (/gradio_api/mcp/; FMNIST_MCP=0 turns it off)."""
    return {"server_name": os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
            "server_port": int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
            "max_file_size": MAX_FILE_BYTES, "state_session_capacity": serving.STATE_SESSIONS, "css": CSS,
            "mcp_server": os.environ.get("FMNIST_MCP", "1") != "0"}
