import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fmnist
from fmnist.models import count_macs, count_parameters, recording, recording_maps


@pytest.mark.parametrize("name", fmnist.list_models())
def test_forward_shape_finite_and_gradients(name):
    torch.manual_seed(0)
    model = fmnist.create_model(name)
    x = torch.rand(4, 1, 28, 28)
    logits = model(x)
    assert logits.shape == (4, 10)
    assert torch.isfinite(logits).all()
    logits.logsumexp(1).sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads)
    assert all(torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


@pytest.mark.parametrize("name", fmnist.list_models())
def test_spatial_maps_shape_and_range(name):
    model = fmnist.create_model(name).eval()
    maps = model.spatial_maps(torch.rand(3, 1, 28, 28))
    assert (model.map_name is None) == (name == "simple")  # what the app labels the maps with
    if name == "simple":
        assert maps == []
        return
    assert [tuple(m.shape) for m in maps] == [(3, 28, 28), (3, 14, 14), (3, 7, 7)]
    for m in maps:
        assert m.min() >= 0 and m.max() <= 1


def test_maps_are_per_thread():
    """Two threads asking one shared model for maps of different images each get their own."""
    import threading

    model = fmnist.create_model("gated").eval()
    a, b = torch.zeros(1, 1, 28, 28), torch.rand(1, 1, 28, 28)
    expected = {0: model.spatial_maps(a)[0], 1: model.spatial_maps(b)[0]}
    errors = []

    def worker(k, x):
        for _ in range(30):
            if not torch.equal(model.spatial_maps(x)[0], expected[k]):
                errors.append(k)

    threads = [threading.Thread(target=worker, args=(k, x)) for k, x in ((0, a), (1, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_grad_cam_range_and_shape():
    from fmnist.explain import grad_cam

    model = fmnist.create_model("sa").eval()
    cam = grad_cam(model, torch.rand(1, 1, 28, 28))
    assert cam.shape == (7, 7) and cam.min() >= 0 and cam.max() <= 1
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad(), recording() as rec:
        logits = model(x)
    assert [tuple(a.shape) for a in rec.activations] == [(2, 32, 28, 28), (2, 64, 14, 14), (2, 128, 7, 7)]
    # the last one is the last stage's output before its pooling, what the head sees after pooling
    with torch.no_grad():
        pooled = F.max_pool2d(rec.activations[-1], 2).mean((2, 3), keepdim=True)
        assert torch.allclose(model.head(pooled), logits, atol=1e-6)


def test_unknown_model_names_the_choices():
    with pytest.raises(ValueError, match="simple, sa, gated"):
        fmnist.create_model("resnet")


def test_models_are_comparable_in_size():
    params = {n: count_parameters(fmnist.create_model(n)) for n in fmnist.list_models()}
    macs = {n: count_macs(fmnist.create_model(n)) for n in fmnist.list_models()}
    assert max(params.values()) / min(params.values()) < 1.2, params
    assert max(macs.values()) / min(macs.values()) < 1.2, macs


def test_normalization_is_inside_the_model():
    """Raw [0, 1] input: a blank image and a bright one give different, finite answers."""
    model = fmnist.create_model("simple").eval()
    with torch.no_grad():
        a, b = model(torch.zeros(1, 1, 28, 28)), model(torch.ones(1, 1, 28, 28))
    assert not torch.allclose(a, b)


def test_width_option_changes_capacity():
    small = count_parameters(fmnist.create_model("gated", widths=(8, 16, 32)))
    assert small < count_parameters(fmnist.create_model("gated"))


@pytest.mark.parametrize("name", fmnist.list_models())
def test_explain_in_one_pass(name):
    from fmnist.explain import explain

    model = fmnist.create_model(name).eval()
    x = torch.rand(1, 1, 28, 28)
    probs, own, cam = explain(model, x)
    with torch.no_grad():
        assert np.allclose(probs, model(x).softmax(1)[0].numpy(), atol=1e-5)
    assert (own is None) == (name == "simple")
    if own is not None:
        assert own.shape == (28, 28) and own.min() >= 0 and own.max() <= 1
    assert cam.shape == (7, 7)


def test_spatial_attention_is_cbams_formula():
    """sa's layer computes CBAM's M(F) = sigmoid(conv7x7([AvgPool_c(F); MaxPool_c(F)])) and F * M(F), with
    gradients that pass gradcheck in fp64."""
    from fmnist.models import SpatialAttention

    torch.manual_seed(0)
    sa = SpatialAttention().double()
    sa.conv.weight.data.normal_(0, 0.3)
    x = torch.randn(3, 5, 6, 7, dtype=torch.float64)
    avg, mx = x.sum(1, keepdim=True) / 5, x.amax(1, keepdim=True)
    mask = torch.sigmoid(F.conv2d(torch.cat([avg, mx], 1), sa.conv.weight, sa.conv.bias, padding=3))
    torch.testing.assert_close(sa(x), x * mask)
    assert torch.autograd.gradcheck(sa, (torch.randn(2, 4, 3, 3, dtype=torch.float64, requires_grad=True),))


def test_gated_block_is_the_papers_formula():
    """gated's block: ReLU(x + BN(x*W) * sigmoid(x*V + c)), its map the mean gate per pixel."""
    from fmnist.models import GatedConv

    torch.manual_seed(0)
    block = GatedConv(6).double().eval()
    block.gate.weight.data.normal_(0, 0.5)
    block.bn.running_mean.normal_()
    x = torch.randn(2, 6, 5, 5, dtype=torch.float64)
    gate = torch.sigmoid(F.conv2d(x, block.gate.weight, block.gate.bias))
    bn = (F.conv2d(x, block.conv.weight, padding=1) - block.bn.running_mean[:, None, None]) / torch.sqrt(
        block.bn.running_var[:, None, None] + block.bn.eps) * block.bn.weight[:, None, None] + block.bn.bias[:, None, None]
    with recording_maps() as maps:
        torch.testing.assert_close(block(x), torch.relu(x + bn * gate))
    torch.testing.assert_close(maps[0], gate.mean(1).float())


def test_overlay_colours_match_the_colour_ramp():
    """overlay() looks colours up per level; the result equals interpolating the ramp pixel by pixel."""
    from PIL import Image

    from fmnist.explain import colormap, overlay

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    heat = rng.random((7, 7))
    heat[0, 0], heat[0, 1] = 0.0, 1.0
    base = np.asarray(Image.fromarray(image).resize((168, 168), Image.NEAREST).convert("RGB"), np.float32)
    heat_big = np.asarray(Image.fromarray((heat * 255).astype(np.uint8)).resize((168, 168), Image.BILINEAR))
    expected = (base * 0.45 + colormap(heat_big / 255.0).astype(np.float32) * 0.55).round().astype(np.uint8)
    out = overlay(image, heat)
    assert out.shape == (168, 168, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("name", fmnist.list_models())
def test_forward_is_the_head_on_the_pooled_features(name):
    model = fmnist.create_model(name).eval()
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        feats = model.embed(x)
        assert feats.shape == (3, model.widths[-1])
        assert torch.allclose(model(x), model.head(feats), atol=1e-6)


def test_garment_head_separates_what_it_was_fitted_on_and_rejects_bad_metadata():
    import numpy as np

    from fmnist.garment_head import GarmentHead, fit

    rng = np.random.default_rng(0)
    garments = rng.normal(0, 1, (400, 16)).astype(np.float32) + np.r_[2.0, np.zeros(15)]
    others = rng.normal(0, 1, (300, 16)).astype(np.float32) - np.r_[2.0, np.zeros(15)]
    head = fit(garments, others)
    assert (head.logit(garments) > 0).mean() > 0.95 and (head.logit(others) < 0).mean() > 0.95
    again = GarmentHead.from_meta(head.to_meta(), 16)
    assert again is not None and np.allclose(again.logit(garments), head.logit(garments), atol=1e-5)
    assert GarmentHead.from_meta(head.to_meta(), 32) is None                      # not this model's width
    assert GarmentHead.from_meta({**head.to_meta(), "bias": float("nan")}, 16) is None
    assert GarmentHead.from_meta({**head.to_meta(), "std": [0.0] * 16}, 16) is None
    assert GarmentHead.from_meta({"mean": "x"}, 16) is None and GarmentHead.from_meta(None, 16) is None
