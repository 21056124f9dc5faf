"""The Gradio app, the only part of fmnist that imports gradio: one module per tab (`sketch`, `train`,
`metrics`), each with its handlers first, then its layout, then its wiring; `api` for /predict and
/verdict (also MCP tools); `demo` puts them together. All work is done by fmnist's functions."""
from .demo import build_demo, launch_kwargs
from .sketch import sketchpad

__all__ = ["build_demo", "launch_kwargs", "sketchpad"]
