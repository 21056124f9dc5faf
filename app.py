"""fmnist-lab: the Gradio app (Hugging Face Space entry point). The UI lives in fmnist/ui.py."""
from fmnist.ui import build_demo, launch_kwargs

demo = build_demo()

if __name__ == "__main__":
    demo.launch(**launch_kwargs())
