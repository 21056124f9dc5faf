"""The CPU training kernels (fmnist.accel) compute what the plain modules compute, swap in without
changing a model's parameters or state-dict keys, and step aside where they cannot run. Each test
compares a fused stand-in (accel.fused_layer / accel.to_fused) with the plain module it replaces."""
from __future__ import annotations

import copy
import platform
import shutil

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from fmnist import accel
from fmnist.accel import kernels, loader
from fmnist.accel.modules import FusedMaxPool2, fused_layer
from fmnist.models import ConvBNReLU, GatedConv, SpatialAttention, create_model, list_models, recording_maps

needs_kernels = pytest.mark.skipif(not accel.available(), reason=f"fused kernels unavailable: {accel.why_not()}")


def cl_bf16(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).abs().max() / b.double().abs().max().clamp_min(1e-12)).item()


def mismatched(a: torch.Tensor, b: torch.Tensor) -> float:
    """Share of elements off by more than 2% of b's largest: bf16 rounding flips a ReLU here and there
    (an element just above zero in one computation, just below in the other), nothing more."""
    return ((a.double() - b.double()).abs() > 0.02 * b.double().abs().max()).double().mean().item()


def fp64_fused_eager(run):
    """run("fp64"), run("fused") and run("eager"): run(kind) builds its own module (fused: the stand-in,
    eager: the plain module in bf16)."""
    return run("fp64"), run("fused"), run("eager")


def module_fp64_fused_eager(module, x, g):
    """For copies of a plain module on bf16 channels_last x, backward from g, per run [output, x's
    gradient] + each parameter's gradient: fp64 (the plain module and x in double), fused (its stand-in
    under bf16 autocast) and eager (the plain module under bf16 autocast)."""
    def run(kind):
        m = copy.deepcopy(module)
        if kind == "fp64":
            xx = x.double().requires_grad_()
            y = m.double()(xx)
        else:
            m = fused_layer(m) if kind == "fused" else m
            xx = x.clone().requires_grad_()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                y = m(xx)
        y.backward(g.to(y.dtype))
        return [y, xx.grad] + [p.grad for p in m.parameters()]

    return fp64_fused_eager(run)


def spy(monkeypatch, function) -> list:
    """Count the calls of one autograd Function of fmnist.accel.kernels."""
    calls = []
    real = function.apply
    monkeypatch.setattr(function, "apply", lambda *a: calls.append(1) or real(*a))
    return calls


def test_kernels_build_where_a_compiler_is():
    if shutil.which("gcc") or shutil.which("cc"):
        assert accel.available(), accel.why_not()


@needs_kernels
@pytest.mark.parametrize("shape", [(64, 32, 28, 28), (5, 48, 7, 7), (3, 16, 5, 5)])
def test_batch_norm_relu_matches_reference(shape):
    torch.manual_seed(0)
    c = shape[1]
    bn = nn.BatchNorm2d(c).train()
    bn.weight.data.uniform_(0.5, 1.5)
    bn.bias.data.normal_()
    ref = copy.deepcopy(bn)
    x = cl_bf16(torch.randn(shape) * 3 + 5)  # a mean far from zero: the variance must not cancel away
    g = cl_bf16(torch.randn(shape))
    assert kernels.batch_norm_relu_applies(x, bn)

    xa = x.clone().requires_grad_()
    y = kernels.BatchNormReLUFunction.apply(xa, bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.momentum,
                                            bn.eps)
    y.backward(g)
    xr = x.double().requires_grad_()  # the same bf16 values, reference arithmetic in fp64
    yr = F.relu(F.batch_norm(xr, ref.running_mean.double(), ref.running_var.double(), ref.weight.double(),
                             ref.bias.double(), True, ref.momentum, ref.eps))
    yr.backward(g.double())
    w = ref.weight.double().detach().requires_grad_()
    b = ref.bias.double().detach().requires_grad_()
    F.relu(F.batch_norm(x.double(), None, None, w, b, True, 0.1, ref.eps)).backward(g.double())
    mean = x.double().mean((0, 2, 3))
    var = x.double().var((0, 2, 3), unbiased=True)

    assert y.dtype == torch.bfloat16 and y.is_contiguous(memory_format=torch.channels_last)
    assert rel(y, yr) < 1e-2  # bf16 output: 8 bits of mantissa
    assert rel(xa.grad, xr.grad) < 1e-2
    assert rel(bn.weight.grad, w.grad) < 1e-4 and rel(bn.bias.grad, b.grad) < 1e-4
    assert rel(bn.running_mean, 0.1 * mean) < 1e-4
    assert rel(bn.running_var, 0.9 + 0.1 * var) < 1e-4


@needs_kernels
def test_batch_norm_relu_propagates_nan_as_eager_does():
    bn = nn.BatchNorm2d(16).train()
    x = torch.randn(2, 16, 4, 4)
    x[0, 3, 1, 1] = float("nan")
    y = kernels.BatchNormReLUFunction.apply(cl_bf16(x), bn.weight, bn.bias, bn.running_mean, bn.running_var,
                                            bn.momentum, bn.eps)
    assert y[:, 3].isnan().all() and not y[:, :3].isnan().any()


@needs_kernels
def test_gated_residual_matches_reference():
    """Against fp64 from the same bf16 inputs, the fused gate is at least as close as eager bf16 is."""
    torch.manual_seed(0)
    shape, c = (8, 32, 14, 14), 32
    x, cv, a = cl_bf16(torch.randn(shape)), cl_bf16(torch.randn(shape) * 2 + 1), cl_bf16(torch.randn(shape))
    w, b = torch.rand(c) + 0.5, torch.randn(c)
    g = cl_bf16(torch.randn(shape))
    running = torch.zeros(c), torch.ones(c)

    def run(kind):
        ins = [(t.double() if kind == "fp64" else t.clone()).requires_grad_() for t in (x, cv, a, w, b)]
        if kind == "fused":
            y = kernels.GatedResidualFunction.apply(*ins, *running, 0.1, 1e-5)
        else:
            y = F.relu(ins[0] + F.batch_norm(ins[1], None, None, ins[3], ins[4], True, 0.1, 1e-5) * torch.sigmoid(ins[2]))
        y.backward(g.to(y.dtype))
        return [y] + [t.grad for t in ins]

    ref, got, eager = run("fp64"), run("fused"), run("eager")
    names = ["output", "x", "conv", "gate", "weight", "bias"]
    for name, r, f, e in zip(names, ref, got, eager):
        assert rel(f, r) <= 1.5 * rel(e, r) + 1e-3, name
    for name, r, f in zip(names[:4], ref, got):
        assert mismatched(f, r) < 2e-3, name
    assert rel(running[0], 0.1 * cv.double().mean((0, 2, 3))) < 1e-4
    assert rel(running[1], 0.9 + 0.1 * cv.double().var((0, 2, 3))) < 1e-4


@needs_kernels
@pytest.mark.parametrize("shape", [(8, 32, 14, 14), (4, 48, 7, 7)])
@pytest.mark.parametrize("strong_gate", [False, True])
@pytest.mark.parametrize("conv_add", [True, False])
def test_gated_conv_with_its_gate_inside_matches_reference(shape, strong_gate, conv_add, monkeypatch):
    """GatedConv in bf16 training (kernels.GatedGateFunction: the 3x3 convolution and the 1x1 gate inside,
    the gate's and the convolution's shares of x's gradient added in place, the latter by oneDNN's sum
    post-op or, where torch lacks it (conv_add False), by an add after the convolution): output and every
    gradient (x, both convolutions, the gate's bias, BatchNorm's) at least as close to fp64 as eager bf16
    under autocast. With a strong gate (the gate's share of x's gradient as large as the residual's)
    output and x's gradient only: BatchNorm's weight gradient is then a sum that cancels ~10-fold, a few
    percent off in eager bf16 too."""
    monkeypatch.setattr(kernels, "_conv_add_", None if conv_add else False)
    torch.manual_seed(0)
    block = GatedConv(shape[1]).to(memory_format=torch.channels_last)
    block.gate.weight.data.normal_(0, 1.0 if strong_gate else 0.3)  # gates that vary, not the half-open start
    block.gate.bias.data.normal_()
    if strong_gate:
        block.bn.bias.data.fill_(2.0)
    x, g = cl_bf16(torch.randn(shape)), cl_bf16(torch.randn(shape))
    ref, got, eager = module_fp64_fused_eager(block, x, g)
    if conv_add and not kernels._conv_add_:  # this torch has the op, but this host's oneDNN refused it
        pytest.skip("oneDNN has no bf16 convolution with a sum post-op on this CPU (AVX2 only?): the fallback "
                    "ran, which conv_add=False tests")
    assert bool(kernels._conv_add_) == conv_add  # the post-op ran (this torch has it), or the fallback did
    assert got[0].dtype == torch.bfloat16 and got[0].is_contiguous(memory_format=torch.channels_last)
    names = ["output", "x"] + [name for name, _ in block.named_parameters()]
    assert "gate.weight" in names and "gate.bias" in names
    for name, r, f, e in list(zip(names, ref, got, eager))[: 2 if strong_gate else None]:
        assert rel(f, r) <= 1.5 * rel(e, r) + 1e-3, name
        if f.dim() == 4 and f.shape[-1] > 1:  # activations: rounding may flip a ReLU here and there, no more
            assert mismatched(f, r) <= max(2 * mismatched(e, r), 1e-3), name


GATED_POOL_SHAPES = [(8, 32, 14, 14), (4, 48, 7, 7), (2, 20, 5, 6), (3, 16, 2, 3)]


@needs_kernels
@pytest.mark.parametrize("shape", GATED_POOL_SHAPES)
def test_gated_block_and_pooling_fused_equal_the_two_exactly(shape):
    """gated's block and the max-pooling after it as one (kernels.GatedGatePool2Function, whose pooling code
    also marks the windows where the ReLU passed nothing): output, running statistics and every gradient
    bit for bit those of GatedGateFunction then MaxPool2Function (odd sizes: the dropped row and column
    still get BatchNorm's share of the gradient)."""
    check_gated_pool(shape)


def check_gated_pool(shape):
    torch.manual_seed(0)
    block = GatedConv(shape[1]).to(memory_format=torch.channels_last)
    block.gate.weight.data.normal_(0, 1.0)
    block.gate.bias.data.normal_()
    block.bn.bias.data.normal_()
    n, c, h, w = shape
    x = cl_bf16(torch.randn(shape))
    g = cl_bf16(torch.randn(n, c, h // 2, w // 2))

    def run(one_kernel):
        m = fused_layer(copy.deepcopy(block), pools=one_kernel)
        xx = x.clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = m(xx) if one_kernel else FusedMaxPool2(2)(m(xx))
        y.backward(g)
        return [y, xx.grad, m.bn.running_mean, m.bn.running_var] + [p.grad for p in m.parameters()]

    got, want = run(True), run(False)
    assert got[0].shape == (n, c, h // 2, w // 2) and got[0].is_contiguous(memory_format=torch.channels_last)
    names = ["output", "x", "running mean", "running var"] + [name for name, _ in block.named_parameters()]
    for name, a, b in zip(names, got, want):
        assert torch.equal(a, b), name
    assert (got[1] != 0).float().mean() > 0.5  # a real gradient, not zeros on both sides


ATTENTION_SHAPES = [(16, 32, 28, 28), (5, 48, 7, 7), (3, 40, 6, 5)]


@needs_kernels
@pytest.mark.parametrize("shape", ATTENTION_SHAPES)
def test_spatial_attention_matches_reference(shape):
    """Fused attention (pooling, the 7x7 convolution, product and their gradients in C) is at least as
    close to fp64 as eager bf16 under autocast is."""
    check_attention(shape)


def check_attention(shape):
    torch.manual_seed(0)
    sa = SpatialAttention()
    sa.conv.weight.data.normal_(0, 0.3)  # a mask that varies, not the neutral start
    sa.conv.bias.data.normal_()
    x, g = cl_bf16(torch.randn(shape)), cl_bf16(torch.randn(shape))
    ref, got, eager = module_fp64_fused_eager(sa, x, g)  # output, x, conv weight, conv bias
    assert got[0].dtype == torch.bfloat16 and got[0].is_contiguous(memory_format=torch.channels_last)
    for name, r, f, e in zip(["output", "x"], ref[:2], got[:2], eager[:2]):
        assert rel(f, r) <= 1.5 * rel(e, r) + 2e-3, name
    assert rel(got[2], ref[2]) <= 1.5 * rel(eager[2], ref[2]) + 1e-2  # the 7x7 kernel's gradient
    # the bias's gradient is the sum of d logits over all pixels, terms of both signs that cancel ~1000-fold:
    # bf16 rounding anywhere upstream moves it by a few percent of the result (in eager PyTorch too), so
    # the bound is relative to the sum of the terms' sizes
    xd = x.double()
    pooled = torch.cat([xd.mean(1, keepdim=True), xd.amax(1, keepdim=True)], 1)
    mask = torch.sigmoid(F.conv2d(pooled, sa.conv.weight.double(), sa.conv.bias.double(), padding=3))
    terms = (g.double() * xd).sum(1, keepdim=True) * mask * (1 - mask)
    assert (got[3] - ref[3]).abs().item() <= 2**-8 * terms.abs().sum().item()


@needs_kernels
def test_spatial_attention_max_gradient_goes_to_one_channel_of_a_tie():
    sa = SpatialAttention()
    sa.conv.weight.data.fill_(0.5)
    sa = fused_layer(sa)
    x = torch.zeros(1, 4, 1, 1)
    x[0, 1] = x[0, 3] = 2.0  # channels 1 and 3 tie for the max; 0 and 2 are equal too
    xx = cl_bf16(x).requires_grad_()
    sa(xx).backward(cl_bf16(torch.ones(1, 4, 1, 1)))
    d = xx.grad[0, :, 0, 0].float()
    assert d[0] == d[2]  # same value, same gradient: the mask's and the mean's shares
    extra = d[[1, 3]] - d[0]  # the max's share (and x's own in the product's gradient, equal for both)
    assert extra[0] != extra[1]  # the max's gradient went to one of the tied channels, not both


@needs_kernels
def test_spatial_attention_records_its_map_in_training_too(monkeypatch):
    torch.manual_seed(0)
    sa = fused_layer(SpatialAttention())
    x = cl_bf16(torch.rand(2, 16, 6, 6))
    calls = spy(monkeypatch, kernels.SpatialAttentionFunction)
    with recording_maps() as maps:
        sa(x)  # training mode, bf16 channels_last: the fused path
    assert calls == [1]
    want = torch.sigmoid(sa.conv(torch.cat([x.float().mean(1, keepdim=True), x.float().amax(1, keepdim=True)], 1)))
    assert len(maps) == 1 and maps[0].shape == (2, 6, 6) and maps[0].dtype == torch.float32
    assert torch.allclose(maps[0], want[:, 0].detach(), atol=1e-2)


@needs_kernels
@pytest.mark.parametrize("shape", [(64, 32, 28, 28), (4, 128, 7, 7), (2, 16, 5, 6)])
def test_max_pool_equals_eager_exactly(shape):
    """Values and gradients bit for bit, odd sizes (the last row/column dropped) and ties included."""
    torch.manual_seed(0)
    x = cl_bf16(torch.randn(shape))
    x[:, :, 0, 0] = x[:, :, 0, 1]  # ties: torch gives the gradient to the first; so must we
    x[0, 0, 2, 2] = float("nan")  # NaN wins its window, in torch too
    n, c, h, w = shape
    g = cl_bf16(torch.randn(n, c, h // 2, w // 2))
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    pool = FusedMaxPool2(2)
    ya, yb = pool(a), F.max_pool2d(b, 2)
    assert kernels.applies(x) and ya.is_contiguous(memory_format=torch.channels_last)
    ya.backward(g)
    yb.backward(g)
    assert torch.equal(ya, yb) or torch.equal(ya.isnan(), yb.isnan()) and torch.equal(ya.nan_to_num(), yb.nan_to_num())
    assert torch.equal(a.grad, b.grad)


POOL_SHAPES = [(16, 32, 28, 28), (4, 48, 7, 7), (2, 16, 5, 6), (3, 16, 2, 3), (2, 20, 4, 4)]


@needs_kernels
@pytest.mark.parametrize("shape", POOL_SHAPES)
def test_attention_and_pooling_fused_equal_the_two_kernels_exactly(shape):
    """sa's attention and the max-pooling after it as one kernel: output, map and every gradient bit for
    bit those of SpatialAttentionFunction then MaxPool2Function (odd sizes: the dropped last row and
    column still get the gradient of the attention's mean and max), ties and a NaN included."""
    check_attention_pool(shape)


def check_attention_pool(shape):
    torch.manual_seed(0)
    sa = SpatialAttention()
    sa.conv.weight.data.normal_(0, 0.3)
    sa.conv.bias.data.normal_()
    n, c, h, w = shape
    x = cl_bf16(torch.randn(shape))
    x[:, :, 0, 0] = x[:, :, 0, 1]  # ties in the pooling windows (before the mask: the products may differ)
    x[0, 1, 1, 1] = float("nan")
    x[1, :, -1, :] = x[1, :, -1, :].abs() + 3  # big values in a row the pooling drops when h is odd
    g = cl_bf16(torch.randn(n, c, h // 2, w // 2))

    def run(one_kernel):
        m = fused_layer(copy.deepcopy(sa), pools=one_kernel)
        xx = x.clone().requires_grad_()
        with recording_maps() as maps:
            y = m(xx) if one_kernel else FusedMaxPool2(2)(m(xx))
        y.backward(g)
        return [y, xx.grad, m.conv.weight.grad, m.conv.bias.grad, maps[0]]

    got, want = run(True), run(False)
    assert got[0].shape == (n, c, h // 2, w // 2) and got[0].is_contiguous(memory_format=torch.channels_last)
    for name, a, b in zip(["output", "x", "weight", "bias", "map"], got, want):
        assert torch.equal(a.nan_to_num(), b.nan_to_num()) and torch.equal(a.isnan(), b.isnan()), name
    assert got[1].isfinite().any() and (got[1][:, :, : 2 * (h // 2), : 2 * (w // 2)] != 0).any()


@needs_kernels
@pytest.mark.parametrize("arch, function", [("sa", "SpatialAttentionPool2Function"),
                                            ("gated", "GatedGatePool2Function")])
def test_stage_end_and_pooling_fuse_in_bf16_training_only(arch, function, monkeypatch):
    """In a converted sa or gated, the attention or block runs with the max-pooling after it as one
    kernel in bf16 training, once per stage, maps still recorded; fp32 training and evaluation run the
    plain modules' arithmetic."""
    calls = spy(monkeypatch, getattr(kernels, function))
    torch.manual_seed(0)
    model = accel.to_fused(create_model(arch).to(memory_format=torch.channels_last))
    x = torch.rand(4, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with recording_maps() as maps:
            model(x)
    assert calls == [1, 1, 1] and [tuple(m.shape) for m in maps] == [(4, 28, 28), (4, 14, 14), (4, 7, 7)]
    model(x)  # fp32 training: plain
    model.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(x)  # evaluation: plain
    assert calls == [1, 1, 1]


STEM_SHAPES = [(64, 32, 28, 28), (64, 64, 28, 28), (3, 24, 5, 7), (2, 16, 1, 1)]


@needs_kernels
@pytest.mark.parametrize("shape", STEM_SHAPES)
def test_stem_matches_reference(shape):
    """The fused first layer (3x3 conv of one channel + BatchNorm + ReLU, kernels.StemFunction) against
    fp64 from the same fp32 image and weights: at least as close as eager bf16 under autocast, whose
    convolution rounds image, weight and output to bf16. Channel counts that are a multiple of 16 take the
    AVX-512 path where the CPU has one, 24 the portable one; a 1x1 image is all padding but its centre."""
    check_stem(shape)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64") or not shutil.which("gcc"),
                    reason="an x86-64 gcc build")
def test_portable_c_without_avx512_matches_reference(monkeypatch, tmp_path):
    """The portable C (what a CPU without AVX-512 runs): fused.c built for x86-64-v3 (AVX2), for the
    kernels that have AVX-512 intrinsics: the stem, the attention's channel reductions and pooling, the
    gated block with its pooling."""
    monkeypatch.setenv("FMNIST_CACHE", str(tmp_path))
    flags = [f for f in loader.FLAGS if not f.startswith(("-march", "-mprefer"))] + ["-march=x86-64-v3"]
    lib, error = loader.build(flags=flags)
    assert lib is not None, error
    with loader.using(lib):
        for shape in STEM_SHAPES:
            check_stem(shape)
        for shape in ATTENTION_SHAPES:
            check_attention(shape)
        for shape in POOL_SHAPES:
            check_attention_pool(shape)
        for shape in GATED_POOL_SHAPES:
            check_gated_pool(shape)


def check_stem(shape):
    torch.manual_seed(0)
    n, c, h, w = shape
    layer = fused_layer(ConvBNReLU(1, c)).train()
    layer[1].weight.data.uniform_(0.5, 1.5)
    layer[1].bias.data.normal_()
    x = torch.rand(n, 1, h, w) * 3 + 5  # far from zero: the moments behind the variance must not cancel
    g = cl_bf16(torch.randn(n, c, h, w))

    def run(kind):
        m = copy.deepcopy(layer) if kind != "eager" else accel.to_plain(nn.Sequential(copy.deepcopy(layer)))[0]
        if kind == "fp64":
            m = m.double()
            y = F.relu(F.batch_norm(F.conv2d(x.double(), m[0].weight, padding=1), m[1].running_mean,
                                    m[1].running_var, m[1].weight, m[1].bias, True, 0.1, m[1].eps))
        else:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                y = m(x)
        y.backward(g.to(y.dtype))
        return y, m[0].weight.grad, m[1].weight.grad, m[1].bias.grad, m[1].running_mean, m[1].running_var

    ref, got, eager = fp64_fused_eager(run)
    assert got[0].dtype == torch.bfloat16 and got[0].is_contiguous(memory_format=torch.channels_last)
    for name, r, f, e in zip(["output", "conv weight", "bn weight", "bn bias", "running mean", "running var"],
                             ref, got, eager):
        assert rel(f, r) <= 1.5 * rel(e, r) + 1e-4, name
    assert mismatched(got[0], ref[0]) < 2e-3
    assert rel(got[1], ref[1]) < 1e-4  # fp32 throughout: the weight gradient is close to exact


@needs_kernels
def test_stem_takes_the_fused_path_in_bf16_training_only(monkeypatch):
    calls = spy(monkeypatch, kernels.StemFunction)
    model = accel.to_fused(create_model("simple").to(memory_format=torch.channels_last))
    x = torch.rand(4, 1, 28, 28)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(x)
        assert calls == [1]  # the first layer only: the others have more than one input channel
        model(x.requires_grad_())  # an image that wants its gradient (Grad-CAM on the input): plain
    model(x.detach())  # fp32: plain
    model.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(x.detach())  # evaluation: running statistics, plain
    assert calls == [1]
    layer = fused_layer(ConvBNReLU(1, 8)).eval()
    assert torch.equal(layer(x.detach()), F.relu(layer[1](layer[0](x.detach()))))  # a Sequential still


@needs_kernels
def test_gated_conv_takes_the_fused_path_in_bf16_training_only(monkeypatch):
    calls = spy(monkeypatch, kernels.GatedGateFunction)
    m = fused_layer(GatedConv(16).to(memory_format=torch.channels_last))
    x = cl_bf16(torch.rand(4, 16, 8, 8))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        m(x)
    assert calls == [1]
    m(x.float())  # fp32: plain
    m.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        m(x)  # evaluation: plain, running statistics
    assert calls == [1]


def test_kernels_step_aside_for_tensors_they_do_not_take():
    bn = nn.BatchNorm2d(8).train()
    assert not kernels.applies(torch.rand(2, 8, 4, 4))  # fp32
    assert not kernels.applies(torch.rand(2, 8, 4, 4, dtype=torch.bfloat16)[:, :, :, :3])  # not channels_last
    assert not kernels.batch_norm_relu_applies(cl_bf16(torch.rand(2, 8, 4, 4)), bn.eval())


@pytest.mark.parametrize("arch", list_models())
def test_without_kernels_a_converted_model_computes_what_the_plain_one_does(arch):
    """No library (no compiler, a failed build): every stand-in runs the plain modules' arithmetic, in
    bf16 training too, exactly."""
    torch.manual_seed(0)
    plain = create_model(arch).to(memory_format=torch.channels_last)
    converted = accel.to_fused(copy.deepcopy(plain))
    x = torch.rand(4, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    with loader.using(None), torch.autocast("cpu", dtype=torch.bfloat16):
        assert not kernels.applies(cl_bf16(torch.rand(2, 8, 4, 4)))
        torch.manual_seed(1)
        got = converted(x)
        torch.manual_seed(1)
        want = plain(x)
    assert torch.equal(got, want)
    for (name, a), (_, b) in zip(converted.state_dict().items(), plain.state_dict().items()):
        assert torch.equal(a, b), name  # the running statistics moved the same way


def test_a_failed_build_leaves_no_library(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", "false")  # a "compiler" that always fails
    monkeypatch.setenv("FMNIST_CACHE", str(tmp_path))
    (tmp_path / "other.c").write_text("int f(void) { return 0; }\n")  # a key no cached library has
    lib, error = loader.build(source=tmp_path / "other.c")
    assert lib is None and "false failed" in error
    assert list(tmp_path.glob("*.so")) == []  # no half-written library left behind


def test_fmnist_fused_overrides_the_setting(monkeypatch):
    monkeypatch.delenv("FMNIST_FUSED", raising=False)
    assert not accel.use_kernels("off", "cpu", True)
    assert not accel.use_kernels("auto", "cpu", False)  # fp32: the kernels are bf16 ones
    assert not accel.use_kernels("auto", "cuda", True)
    assert accel.use_kernels("auto", "cpu", True) == accel.available()
    monkeypatch.setenv("FMNIST_FUSED", "0")
    assert not accel.use_kernels("auto", "cpu", True) and not accel.use_kernels("on", "cpu", True)
    monkeypatch.setenv("FMNIST_FUSED", "1")
    assert accel.use_kernels("off", "cpu", True) == accel.available()
    with pytest.raises(ValueError, match="auto, on or off"):
        monkeypatch.delenv("FMNIST_FUSED")
        accel.use_kernels("sometimes")


@pytest.mark.parametrize("arch", list_models())
def test_conversion_keeps_parameters_buffers_and_keys(arch):
    """to_fused and to_plain move no tensor: the same state-dict keys, the very same storage, and after
    to_plain the module types of a model never converted."""
    model = create_model(arch)
    before = {k: v.data_ptr() for k, v in model.state_dict().items()}
    types = [type(m) for m in model.modules()]
    accel.to_fused(model)
    assert {k: v.data_ptr() for k, v in model.state_dict().items()} == before
    assert any(type(m).__module__ == "fmnist.accel.modules" for m in model.modules())
    accel.to_plain(model)
    assert {k: v.data_ptr() for k, v in model.state_dict().items()} == before
    assert [type(m) for m in model.modules()] == types


@needs_kernels
@pytest.mark.parametrize("arch", ["simple", "sa", "gated"])
def test_training_gradients_are_as_close_to_fp64_as_eager_bf16(arch):
    """One bf16 training step's loss and gradients, fused and eager, against fp64 from the same start
    (bf16 gradients at initialization are noisy either way: compare the fused error with eager's)."""
    torch.manual_seed(0)
    start = create_model(arch).to(memory_format=torch.channels_last)
    x = torch.rand(64, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (64,))

    def step(model, dtype=None):
        torch.manual_seed(1)  # the same dropout mask every time
        if dtype is None:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = F.cross_entropy(model(x).float(), y)
        else:
            loss = F.cross_entropy(model.to(dtype)(x.to(dtype)), y)
        loss.backward()
        grads = torch.cat([p.grad.double().flatten() for p in model.parameters()])
        return loss.item(), grads

    loss_fused, g_fused = step(accel.to_fused(copy.deepcopy(start)))
    loss_ref, g_ref = step(copy.deepcopy(start), torch.float64)
    loss_eager, g_eager = step(copy.deepcopy(start))

    def cos(a, b):
        return (a @ b / a.norm() / b.norm()).item()

    assert abs(loss_fused - loss_ref) < 0.01 and abs(loss_eager - loss_ref) < 0.01
    assert cos(g_fused, g_ref) > 0.98 and cos(g_fused, g_ref) > cos(g_eager, g_ref) - 0.002
