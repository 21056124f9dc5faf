"""What the tabs share: sizes, counts and names in words, and binding a handler to its tab's components."""
from __future__ import annotations

import gradio as gr
import numpy as np
from PIL import Image

from ..models import model_class

PREVIEW = 168   # the side of a 28x28 image or map as shown
MAP = 120       # the height of a map beside the canvas


def count(names: list[str]) -> str:
    return {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}.get(len(names), str(len(names)))


def and_(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def title(name: str) -> str:
    """A model's title: the registry name and what the class calls itself."""
    return f"{name} ({model_class(name).title})"


def own_map_label(name: str) -> str:
    """The label of a model's own map, from what its class says its maps are."""
    what = model_class(name).map_name
    return f"own map: {what}" if what else "own map (none: no attention or gates)"


def big(image28: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(image28).resize((PREVIEW, PREVIEW), Image.NEAREST))


def visitor(request, proxy_hops: int) -> tuple[str, str]:
    """(session, address) of the visitor behind a request: the address as the trusted proxies saw it
    (trainqueue.client_address), for the queue's one-job-per-visitor rule."""
    from ..trainqueue import client_address

    session = getattr(request, "session_hash", None) or "anon"
    address = client_address(getattr(getattr(request, "client", None), "host", None),
                             (getattr(request, "headers", None) or {}).get("x-forwarded-for"), proxy_hops)
    return session, address


def stop_my_job(request: gr.Request) -> None:
    """Stop: this visitor's job in the training queue (training or teaching), queued or running."""
    from .. import messages
    from ..trainqueue import QUEUE

    session = getattr(request, "session_hash", None) or "anon"
    gr.Info(messages.STOPPING if QUEUE.request_stop(session) else messages.NOTHING_TO_STOP)


def colour_legend() -> None:
    """The maps' colour bar (matplotlib's inferno, 0 to 1), small, beside the maps."""
    from ..explain import colour_bar

    gr.Image(colour_bar(), show_label=False, interactive=False, height=64, width=336, container=False,
             buttons=[], elem_id="colour-bar")


def bind(fn, view):
    """fn(view, ...) as a Gradio handler: the view (the tab's components and models) bound first. Its name
    and docstring are kept for the API page, without __wrapped__ (Gradio reads the bound signature)."""
    import functools

    bound = functools.partial(fn, view)
    bound.__name__, bound.__doc__ = fn.__name__, fn.__doc__
    return bound
