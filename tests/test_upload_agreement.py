"""Real test images re-rendered as a user would upload them give the same answer as the originals."""
import numpy as np
import pytest
import torch

import fmnist
from fmnist.data import to_float
from fmnist.images import render_as_random_upload
from fmnist.preprocess import prepare


@pytest.mark.slow
@pytest.mark.parametrize("name", fmnist.list_models())
def test_uploads_agree_with_the_original_28x28(dataset, name):
    model = fmnist.load_model(name)
    rng = np.random.default_rng(0)
    idx = rng.choice(10_000, 300, replace=False)
    originals = dataset.test_images[idx]
    with torch.no_grad():
        probs = model(to_float(originals)).softmax(1)
        direct = probs.argmax(1)
        top2 = probs.topk(2, 1).values
        confident = top2[:, 0] - top2[:, 1] >= 0.3  # the original's answer leads by 0.3 or more
        batch = []
        for img in originals.numpy():
            batch.append(prepare(render_as_random_upload(img, rng)).tensor)
        via_upload = model(torch.cat(batch)).argmax(1)
    same = direct == via_upload
    agreement = same.float().mean().item()
    sure = same[confident].float().mean().item()
    print(f"\n{name}: {agreement:.1%} of uploads agree with the original 28x28 image; {sure:.1%} of those "
          f"where the original's answer leads by >= 0.3 ({confident.float().mean().item():.0%} of images)")
    # the bar: 95% of uploads agree (docs/benchmarks.md has the measured figures, on more images)
    assert agreement >= 0.95, f"{name}: only {agreement:.1%} of uploads agree with the original image"
    # where the model is sure of the original, the upload must get the same answer
    assert sure >= 0.95, f"{name}: only {sure:.1%} of confidently classified uploads agree"


def _outline(points, closed=True):
    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (560, 560), "white")
    ImageDraw.Draw(img).line(points + ([points[0]] if closed else []), fill="black", width=14)
    return {"background": None, "layers": [], "composite": np.asarray(img)}


SKETCHES = {  # drawn outlines, as a visitor would sketch them on the canvas
    "T-shirt/top": [(180, 120), (240, 100), (320, 100), (380, 120), (450, 200), (400, 240), (370, 210), (370, 460),
                    (190, 460), (190, 210), (160, 240), (110, 200)],
    "Trouser": [(200, 80), (360, 80), (380, 480), (310, 480), (280, 200), (250, 480), (180, 480)],
    "Dress": [(240, 80), (320, 80), (330, 200), (400, 470), (160, 470), (230, 200)],
    "Bag": [(150, 220), (410, 220), (410, 450), (150, 450)],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", fmnist.list_models())
def test_filled_outlines_are_recognised_by_the_study_models(name):
    """The study-recipe models only know solid garments: filling a closed outline is what they need."""
    model = fmnist.load_model(name)
    right = []
    with torch.no_grad():
        for cls, pts in SKETCHES.items():
            pred = fmnist.CLASSES[int(model(prepare(_outline(pts), fill_outlines=True).tensor).argmax())]
            right.append(pred == cls)
    assert sum(right) >= 3, f"{name} recognised only {sum(right)} of {len(SKETCHES)} sketches"


@pytest.mark.slow
@pytest.mark.parametrize("name", fmnist.list_models())
def test_outlines_as_drawn_are_recognised_by_the_drawing_aware_models(name):
    from fmnist.inference import DRAWING_CHECKPOINTS

    model = fmnist.load_model(DRAWING_CHECKPOINTS / name)
    with torch.no_grad():
        said = {cls: fmnist.CLASSES[int(model(prepare(_outline(pts)).tensor).argmax())] for cls, pts in SKETCHES.items()}
        # an outline left open at the bottom cannot be filled, and is still a trouser
        open_trouser = prepare(_outline(SKETCHES["Trouser"], closed=False)).tensor
        said["open Trouser"] = fmnist.CLASSES[int(model(open_trouser).argmax())]
    assert all(said[c] == c.replace("open ", "") for c in said), said
