"""The app's functions through gradio_client against a launched demo, and its behaviour on broken files."""
import shutil

import pytest
from gradio_client import Client, handle_file

import fmnist
from conftest import free_port
from fmnist.checkpoints import CHECKPOINT_DIR
from fmnist.inference import GARMENT_CONFIDENCE, ModelZoo
from fmnist.views import example_paths


@pytest.fixture(scope="module")
def client():
    import os

    from fmnist.ui import build_demo

    # behind one trusted proxy, as on a Space: visitors are told apart by the X-Forwarded-For it sets
    os.environ["FMNIST_TRUSTED_PROXIES"] = "1"
    try:
        demo = build_demo()
    finally:
        del os.environ["FMNIST_TRUSTED_PROXIES"]
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    demo.close()


def test_shipped_models_load():
    zoo = ModelZoo()
    assert zoo.unavailable == {}, zoo.unavailable
    assert list(zoo.models) == fmnist.list_models()


def test_zoo_layout_changes_speed_not_answers():
    """The zoo keeps its models channels_last (faster at batch 1); the answers and maps stay the same."""
    import numpy as np
    import torch

    fast, plain = ModelZoo(), ModelZoo(channels_last=False)

    def convs(zoo, name):  # the 3x3 convolutions between stages (1 channel or a 1x1 kernel fits both layouts)
        return [m.weight for m in zoo.models[name].modules()
                if isinstance(m, torch.nn.Conv2d) and min(m.in_channels, m.out_channels) > 1 and m.kernel_size != (1, 1)]

    for name in fast.models:
        assert all(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
                   for w in convs(fast, name))
        assert all(w.is_contiguous() for w in convs(plain, name))
    for path in example_paths()[:4]:
        a, b = fast.compare(path), plain.compare(path)
        for name in fast.models:
            pa, pb = a.predictions[name], b.predictions[name]
            assert pa.top == pb.top
            assert max(abs(pa.probs[c] - pb.probs[c]) for c in fmnist.CLASSES) < 1e-4
            assert np.abs(pa.grad_cam.astype(int) - pb.grad_cam.astype(int)).max() <= 2


def test_predict_api_returns_all_models(client):
    out = client.predict(handle_file(example_paths()[1]), api_name="/predict")
    assert set(out) == set(fmnist.list_models())
    for probs in out.values():
        assert set(probs) == set(fmnist.CLASSES)
        assert abs(sum(probs.values()) - 1) < 1e-4


def test_predict_api_rejects_a_non_image_with_a_message(client, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("this is not a picture")
    with pytest.raises(Exception, match="not an image"):
        client.predict(handle_file(str(bad)), api_name="/predict")
    # and the server still answers afterwards
    assert client.predict(handle_file(example_paths()[0]), api_name="/predict")


def test_classify_upload_gives_predictions_maps_and_preview(client):
    out = client.predict(handle_file(example_paths()[1]), 0, False, False, None, api_name="/classify_upload")
    preview, verdict = out[0], out[1]
    assert preview and ("say" in verdict or "does not look like a garment" in verdict)
    labels = [out[2 + 3 * i] for i in range(3)]
    assert all(lab and lab.get("label") in fmnist.CLASSES for lab in labels)
    sa_map, gated_map = out[2 + 3 * 1 + 1], out[2 + 3 * 2 + 1]
    assert sa_map and gated_map


def test_invariance_explorer_rotates_the_last_input(client):
    import numpy as np
    from PIL import Image

    upright = client.predict(handle_file(example_paths()[1]), 0, False, False, None, api_name="/classify_upload")
    turned = client.predict(90, False, False, None, api_name="/rotate")  # this client's last input, turned
    a, b = (np.asarray(Image.open(o[0]).convert("L").resize((28, 28), Image.NEAREST)) for o in (upright, turned))
    a, b = a.astype(float), b.astype(float)
    # a trouser on its side: the upright image turned 90 degrees counter-clockwise (bilinear, so nearly
    # exact), far from the upright one
    assert abs(np.rot90(a) - b).mean() < 0.05 * abs(a - b).mean()
    assert all(turned[2 + 3 * i].get("label") in fmnist.CLASSES for i in range(3))


def test_broken_checkpoints_leave_the_app_up(tmp_path):
    shutil.copytree(CHECKPOINT_DIR / "simple", tmp_path / "simple")
    (tmp_path / "sa").mkdir()
    (tmp_path / "sa" / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{broken")
    zoo = ModelZoo(checkpoint_dir=tmp_path)  # gated is missing altogether
    assert list(zoo.models) == ["simple"]
    assert "truncated" in zoo.unavailable["sa"]
    assert "no checkpoint" in zoo.unavailable["gated"]
    from fmnist.ui import build_demo

    build_demo(zoo)  # builds, with the two marked unavailable
    assert set(zoo.predict_json(example_paths()[0])) == {"simple"}


def test_a_broken_upload_gets_a_clear_message_in_the_sketch_tab(client, tmp_path):
    bad = tmp_path / "photo.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    out = client.predict(handle_file(str(bad)), 0, False, False, None, api_name="/classify_upload")
    assert "⚠️" in out[1] and ("damaged" in out[1] or "not an image" in out[1])
    assert out[2] is None or not out[2]  # no prediction shown for it


DRAWING = CHECKPOINT_DIR.parent / "tests" / "data" / "drawings" / "1-0-0.png"  # a trouser drawn with the mouse


def test_predict_answers_with_the_drawing_aware_models(client):
    out = client.predict(handle_file(str(DRAWING)), api_name="/predict")
    expected = ModelZoo.for_drawings().predict_json(str(DRAWING))
    for name in fmnist.list_models():
        assert out[name] == pytest.approx(expected[name], abs=1e-4)
    assert all(max(p, key=p.get) == "Trouser" for p in out.values()), out


def test_verdict_api_names_a_drawn_garment_and_flags_a_spiral(client):
    """/verdict says what the Sketch tab says: a garment's name, or "does not look like a garment"."""
    out = client.predict(handle_file(str(DRAWING)), api_name="/verdict")
    assert out["garment"] is True and out["answer"] == "Trouser" and out["drawing"] is True
    assert set(out["models"]) == set(fmnist.list_models())
    assert all(m["top"] == "Trouser" for m in out["models"].values()), out
    assert "Trouser" in out["verdict"] and GARMENT_CONFIDENCE <= out["confidence"] <= 1
    spiral = client.predict(handle_file(str(DRAWING.with_name("x-spiral-0.png"))), api_name="/verdict")
    assert spiral["garment"] is False and spiral["answer"] is None
    assert "does not look like a garment" in spiral["verdict"]


NOT_GARMENTS = ("house (pictogram)", "cat's face (cartoon)", "spiral (line icon)", "bicycle (thin line)", "'&'")
GARMENTS = {"1-0 (line icon)": "Trouser", "0-0 (pictogram)": "T-shirt/top", "9-1 (cartoon)": "Ankle boot",
            "8-0 (shadow)": "Bag"}


def test_verdict_api_flags_things_in_other_styles_and_names_garments_in_them(client, tmp_path):
    """A few fixed pictures of the open-set benchmark (fmnist/sketches/openset.py), uploaded as PNGs: the
    things are told "does not look like a garment" and not named Bag; the garments are named."""
    from PIL import Image

    from fmnist.sketches import openset

    pictures = {d["name"]: d["image"] for d in openset.non_garments() + openset.garments()}
    for name in NOT_GARMENTS + tuple(GARMENTS):
        path = tmp_path / f"{abs(hash(name))}.png"
        Image.fromarray(pictures[name]).save(path)
        out = client.predict(handle_file(str(path)), api_name="/verdict")
        if name in GARMENTS:
            assert out["garment"] is True and out["answer"] == GARMENTS[name], (name, out)
        else:
            assert out["garment"] is False and out["answer"] is None, (name, out)
            assert "does not look like a garment" in out["verdict"], (name, out)


def test_verdict_api_gives_a_clear_error_for_a_bad_file(client, tmp_path):
    bad = tmp_path / "empty.png"
    bad.write_bytes(b"")
    with pytest.raises(Exception, match="empty"):
        client.predict(handle_file(str(bad)), api_name="/verdict")


def test_an_uploaded_drawing_takes_the_sketchpad_path(client):
    import numpy as np
    from PIL import Image

    out = client.predict(handle_file(str(DRAWING)), 0, False, False, None, api_name="/classify_upload")
    assert "a drawing" in out[1] and "**Trouser**" in out[1], out[1]
    zoo = ModelZoo.for_drawings()
    sketch = {"composite": np.asarray(Image.open(DRAWING).convert("RGBA")), "layers": [], "background": None}
    a, b = zoo.compare(str(DRAWING), explain=False), zoo.compare(sketch, explain=False)
    assert a.prepared.drawing and b.prepared.drawing
    assert np.array_equal(a.prepared.preview, b.prepared.preview)
    assert {n: p.top for n, p in a.predictions.items()} == {n: p.top for n, p in b.predictions.items()}


@pytest.fixture
def fourth_architecture():
    """A fourth architecture, defined here as a user would add one (one subclass, one decorator line);
    taken out of the registry afterwards so that other tests see the study's three."""
    import torch.nn as nn

    from fmnist import models

    @models.register_model("dilated")
    class DilatedCNN(models.FashionCNN):
        """Baseline whose second convolution per stage looks twice as far (dilation 2)."""

        title = "DilatedCNN"

        def second_layer(self, channels: int) -> nn.Module:
            layer = models.ConvBNReLU(channels, channels)
            layer[0] = nn.Conv2d(channels, channels, 3, padding=2, dilation=2, bias=False)
            return layer

    yield DilatedCNN
    models._REGISTRY.pop("dilated")


def test_a_fourth_registered_architecture_appears_in_the_app(fourth_architecture, small_split):
    """Registered in a test, without a change to ui.py: the Sketch tab gives it a slot that answers,
    the Train tab offers it and trains it, the Metrics tab shows its maps' slots."""
    import torch

    from fmnist.ui import build_demo

    zoo = ModelZoo()
    assert "no checkpoint" in zoo.unavailable["dilated"]  # none is shipped for it
    torch.manual_seed(0)
    zoo.add("dilated", fmnist.create_model("dilated").eval())
    demo = build_demo(zoo, zoo)
    config = demo.get_config_file()
    by_id = {c.get("props", {}).get("elem_id"): c for c in config["components"]}
    assert by_id["label-dilated"]["props"]["label"] == "dilated (DilatedCNN)"
    assert ("dilated", "dilated") in [tuple(c) for c in by_id["train-arch"]["props"]["choices"]]
    labels = [c["props"].get("label") for c in config["components"]]
    assert "dilated: own map (none: no attention or gates)" in labels
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        out = client.predict(handle_file(example_paths()[1]), 0, False, False, None, api_name="/classify_upload")
        labels = [out[2 + 3 * i] for i in range(4)]  # simple, sa, gated, dilated
        assert all(lab and lab.get("label") in fmnist.CLASSES for lab in labels), labels
        assert set(client.predict(handle_file(example_paths()[1]), api_name="/predict")) == set(fmnist.list_models())
    finally:
        demo.close()
    from fmnist import caps

    cfgs, _ = caps.plan(dict(arch=["dilated"], epochs=1, lr=3e-3, batch_size=64, augment=[], limit=200, seed=0))  # what the Train tab runs for it
    result = fmnist.train(type(cfgs[0])(**{**cfgs[0].to_dict(), "val_size": 1000, "evaluate_test": False}),
                          small_split)
    assert type(result.model).__name__ == "DilatedCNN" and result.history


def test_presets_fill_the_train_tabs_knobs(client):
    from fmnist.recipes import RECIPES

    out = client.predict("fast", api_name="/choose_recipe")
    epochs, lr, batch, augs, n_train, seed, width, schedule, minutes, final_phase, text = out
    fast = RECIPES["fast"].fields
    assert (lr, batch, schedule, final_phase) == (fast["lr"], fast["batch_size"], fast["schedule"], fast["final_phase"])
    assert minutes == fast["time_budget_s"] / 60 and set(augs) == {"hflip", "vflip", "rotate90"}
    assert "Departs from the study" in text
    study = client.predict("study", api_name="/choose_recipe")
    assert (study[1], study[7], study[9]) == (3e-4, "constant", 0.0)


def _outputs_until(job, predicate, timeout=120):
    import time

    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        outs = job.outputs()
        if any(predicate(o) for o in outs):
            return outs
        if job.done():
            break
        time.sleep(0.3)
    raise AssertionError(f"not seen in {timeout} s; last outputs: {[o[0] for o in job.outputs()][-3:]}")


@pytest.mark.slow
def test_a_second_visitor_sees_their_place_and_the_wait(client):
    """While one visitor trains, a second visitor's job waits in the queue and is told its place and
    an estimate of the wait; the first visitor's chart moves before its first epoch ends; when the
    first stops, the second's job starts."""
    url = client.src
    alice = Client(url, verbose=False, headers={"X-Forwarded-For": "198.51.100.1"})
    bob = Client(url, verbose=False, headers={"X-Forwarded-For": "198.51.100.2"})
    args = ("simple", 50, 3e-3, 64, [], 55_000, 0, "32-64-128", "onecycle", 0.5, 0.5)
    a = alice.submit(*args, api_name="/train")
    outs = _outputs_until(a, lambda o: "img/s" in str(o[0]))
    assert any(o[1] for o in outs if "epoch 1/" in str(o[0])), "no chart update during the first epoch"
    b = bob.submit(*args, api_name="/train")
    waiting = _outputs_until(b, lambda o: "in the queue" in str(o[0]))
    text = next(str(o[0]) for o in waiting if "in the queue" in str(o[0]))
    assert "number 1 in the queue" in text and "about" in text, text
    alice.predict(api_name="/stop")
    assert "stopped by you" in str(a.result()[0])
    _outputs_until(b, lambda o: "img/s" in str(o[0]))  # bob's turn came
    bob.predict(api_name="/stop")
    assert "stopped by you" in str(b.result()[0])
