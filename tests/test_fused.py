"""The fused CPU training kernels (fmnist/fused.py) compute what eager PyTorch computes, and step aside
where they cannot run."""
from __future__ import annotations

import copy
import platform
import shutil

import pytest
import torch
import torch.nn.functional as F

from fmnist import fused
from fmnist.models import (BatchNormReLU, ConvBNReLU, GatedConv, MaxPool2x2, SpatialAttention, create_model,
                           recording_maps)

needs_kernels = pytest.mark.skipif(fused.library() is None, reason=f"fused kernels unavailable: {fused.build_error}")


def cl_bf16(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).abs().max() / b.double().abs().max().clamp_min(1e-12)).item()


def mismatched(a: torch.Tensor, b: torch.Tensor) -> float:
    """Share of elements off by more than 2% of b's largest: bf16 rounding flips a ReLU here and there
    (an element just above zero in one computation, just below in the other), nothing more."""
    return ((a.double() - b.double()).abs() > 0.02 * b.double().abs().max()).double().mean().item()


def fp64_fused_eager(run):
    """run("fp64"), run("fused") and run("eager"), the last with the kernels out of the way (restored after)."""
    ref, got = run("fp64"), run("fused")
    fused._lib, lib = None, fused._lib
    try:
        eager = run("eager")
    finally:
        fused._lib = lib
    return ref, got, eager


def module_fp64_fused_eager(module, x, g):
    """fp64_fused_eager for a copy of module on bf16 channels_last x, backward from g: per run, [output,
    x's gradient] + each parameter's gradient (fp64: the module and x in double; else under bf16 autocast)."""
    def run(kind):
        m = copy.deepcopy(module)
        if kind == "fp64":
            xx = x.double().requires_grad_()
            y = m.double()(xx)
        else:
            xx = x.clone().requires_grad_()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                y = m(xx)
        y.backward(g.to(y.dtype))
        return [y, xx.grad] + [p.grad for p in m.parameters()]

    return fp64_fused_eager(run)


@pytest.fixture
def eager_only(monkeypatch):
    monkeypatch.setattr(fused, "_lib", None)
    monkeypatch.setattr(fused, "_tried", True)


def test_kernels_build_where_a_compiler_is():
    if shutil.which("gcc") or shutil.which("cc"):
        assert fused.library() is not None, fused.build_error


@needs_kernels
@pytest.mark.parametrize("shape", [(64, 32, 28, 28), (5, 48, 7, 7), (3, 16, 5, 5)])
def test_batch_norm_relu_matches_reference(shape):
    torch.manual_seed(0)
    c = shape[1]
    bn = BatchNormReLU(c).train()
    bn.weight.data.uniform_(0.5, 1.5)
    bn.bias.data.normal_()
    ref = copy.deepcopy(bn)
    x = cl_bf16(torch.randn(shape) * 3 + 5)  # a mean far from zero: the variance must not cancel away
    g = cl_bf16(torch.randn(shape))
    assert fused.batch_norm_relu_applies(x, bn)

    xa = x.clone().requires_grad_()
    y = bn(xa)
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
    assert bn.num_batches_tracked.item() == 1


@needs_kernels
def test_batch_norm_relu_propagates_nan_as_eager_does():
    bn = BatchNormReLU(16).train()
    x = torch.randn(2, 16, 4, 4)
    x[0, 3, 1, 1] = float("nan")
    y = bn(cl_bf16(x))
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
            y = fused.GatedResidualFunction.apply(*ins, *running, 0.1, 1e-5)
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
    """GatedConv in bf16 training (fused.GatedGateFunction: the 3x3 convolution and the 1x1 gate inside,
    the gate's and the convolution's shares of x's gradient added in place, the latter by oneDNN's sum
    post-op or, where torch lacks it (conv_add False), by an add after the convolution): output and every
    gradient (x, both convolutions, the gate's bias, BatchNorm's) at least as close to fp64 as eager bf16
    under autocast. With a strong gate (the gate's share of x's gradient as large as the residual's)
    output and x's gradient only: BatchNorm's weight gradient is then a sum that cancels ~10-fold, a few
    percent off in eager bf16 too."""
    monkeypatch.setattr(fused, "_conv_add_", None if conv_add else False)
    torch.manual_seed(0)
    block = GatedConv(shape[1]).to(memory_format=torch.channels_last)
    block.gate.weight.data.normal_(0, 1.0 if strong_gate else 0.3)  # gates that vary, not the half-open start
    block.gate.bias.data.normal_()
    if strong_gate:
        block.bn.bias.data.fill_(2.0)
    x, g = cl_bf16(torch.randn(shape)), cl_bf16(torch.randn(shape))
    ref, got, eager = module_fp64_fused_eager(block, x, g)
    assert bool(fused._conv_add_) == conv_add  # the post-op ran (this torch has it), or the fallback did
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
    """gated's block and the max-pooling after it as one (fused.GatedGatePool2Function, whose pooling code
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
        m = copy.deepcopy(block)
        xx = x.clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = m(xx, pool=MaxPool2x2()) if one_kernel else MaxPool2x2()(m(xx))
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
    x = torch.zeros(1, 4, 1, 1)
    x[0, 1] = x[0, 3] = 2.0  # channels 1 and 3 tie for the max; 0 and 2 are equal too
    xx = cl_bf16(x).requires_grad_()
    sa(xx).backward(cl_bf16(torch.ones(1, 4, 1, 1)))
    d = xx.grad[0, :, 0, 0].float()
    assert d[0] == d[2]  # same value, same gradient: the mask's and the mean's shares
    extra = d[[1, 3]] - d[0]  # the max's share (and x's own in the product's gradient, equal for both)
    assert extra[0] != extra[1]  # the max's gradient went to one of the tied channels, not both


@needs_kernels
def test_spatial_attention_records_its_map_in_training_too():
    torch.manual_seed(0)
    sa = SpatialAttention()
    x = cl_bf16(torch.rand(2, 16, 6, 6))
    with recording_maps() as maps:
        sa(x)  # training mode, bf16 channels_last: the fused path
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
    pool = MaxPool2x2()
    ya, yb = pool(a), F.max_pool2d(b, 2)
    assert fused.applies(x) and ya.is_contiguous(memory_format=torch.channels_last)
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
        m = copy.deepcopy(sa)
        xx = x.clone().requires_grad_()
        with recording_maps() as maps:
            y = m.forward_pool(xx) if one_kernel else MaxPool2x2()(m(xx))
        y.backward(g)
        return [y, xx.grad, m.conv.weight.grad, m.conv.bias.grad, maps[0]]

    assert sa.fuses_pool(x)
    got, want = run(True), run(False)
    assert got[0].shape == (n, c, h // 2, w // 2) and got[0].is_contiguous(memory_format=torch.channels_last)
    for name, a, b in zip(["output", "x", "weight", "bias", "map"], got, want):
        assert torch.equal(a.nan_to_num(), b.nan_to_num()) and torch.equal(a.isnan(), b.isnan()), name
    assert got[1].isfinite().any() and (got[1][:, :, : 2 * (h // 2), : 2 * (w // 2)] != 0).any()


@needs_kernels
@pytest.mark.parametrize("arch, function", [("sa", "SpatialAttentionPool2Function"),
                                            ("gated", "GatedGatePool2Function")])
def test_stage_end_and_pooling_fuse_in_bf16_training_only(arch, function, monkeypatch):
    """sa's attention and gated's block run with the max-pooling after them as one kernel in bf16 training,
    once per stage, maps still recorded; fp32 training and evaluation stay eager."""
    calls = []
    real = getattr(fused, function).apply
    monkeypatch.setattr(getattr(fused, function), "apply", lambda *a: calls.append(1) or real(*a))
    torch.manual_seed(0)
    model = create_model(arch).to(memory_format=torch.channels_last)
    x = torch.rand(4, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with recording_maps() as maps:
            model(x)
    assert calls == [1, 1, 1] and [tuple(m.shape) for m in maps] == [(4, 28, 28), (4, 14, 14), (4, 7, 7)]
    model(x)  # fp32 training: eager
    model.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(x)  # evaluation: eager
    assert calls == [1, 1, 1]


STEM_SHAPES = [(64, 32, 28, 28), (64, 64, 28, 28), (3, 24, 5, 7), (2, 16, 1, 1)]


@needs_kernels
@pytest.mark.parametrize("shape", STEM_SHAPES)
def test_stem_matches_reference(shape):
    """The fused first layer (3x3 conv of one channel + BatchNorm + ReLU, fmnist.fused.StemFunction) against
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
    monkeypatch.setattr(fused, "FLAGS", [f for f in fused.FLAGS if not f.startswith(("-march", "-mprefer"))]
                        + ["-march=x86-64-v3"])
    monkeypatch.setattr(fused, "_lib", None)
    monkeypatch.setattr(fused, "_tried", False)
    assert fused.library() is not None, fused.build_error
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
    layer = ConvBNReLU(1, c).train()
    layer[1].weight.data.uniform_(0.5, 1.5)
    layer[1].bias.data.normal_()
    x = torch.rand(n, 1, h, w) * 3 + 5  # far from zero: the moments behind the variance must not cancel
    g = cl_bf16(torch.randn(n, c, h, w))

    def run(kind):
        m = copy.deepcopy(layer)
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
    calls = []
    real = fused.StemFunction.apply
    monkeypatch.setattr(fused.StemFunction, "apply", lambda *a: calls.append(1) or real(*a))
    model = create_model("simple").to(memory_format=torch.channels_last)
    x = torch.rand(4, 1, 28, 28)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(x)
        assert calls == [1]  # the first layer only: the others have more than one input channel
        model(x.requires_grad_())  # an image that wants its gradient (Grad-CAM on the input): eager
    model(x.detach())  # fp32: eager
    model.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(x.detach())  # evaluation: running statistics, eager
    assert calls == [1]
    layer = ConvBNReLU(1, 8).eval()
    assert torch.equal(layer(x.detach()), F.relu(layer[1](layer[0](x.detach()))))  # a Sequential still


@needs_kernels
def test_gated_conv_takes_the_fused_path_in_bf16_training_only(monkeypatch):
    calls = []
    real = fused.GatedGateFunction.apply
    monkeypatch.setattr(fused.GatedGateFunction, "apply", lambda *a: calls.append(1) or real(*a))
    m = GatedConv(16).to(memory_format=torch.channels_last)
    x = cl_bf16(torch.rand(4, 16, 8, 8))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        m(x)
    assert calls == [1]
    m(x.float())  # fp32: eager
    m.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        m(x)  # evaluation: eager, running statistics
    assert calls == [1]


def test_kernels_step_aside_for_tensors_they_do_not_take():
    bn = BatchNormReLU(8).train()
    assert not fused.applies(torch.rand(2, 8, 4, 4))  # fp32
    assert not fused.applies(torch.rand(2, 8, 4, 4, dtype=torch.bfloat16)[:, :, :, :3])  # not channels_last
    assert not fused.batch_norm_relu_applies(cl_bf16(torch.rand(2, 8, 4, 4)), bn.eval())


def test_eager_fallback_is_batch_norm_then_relu(eager_only):
    torch.manual_seed(0)
    bn = BatchNormReLU(8).train()
    x = cl_bf16(torch.randn(4, 8, 5, 5))
    want = F.relu(F.batch_norm(x, torch.zeros(8), torch.ones(8), bn.weight, bn.bias, True, 0.1, bn.eps))
    assert torch.equal(bn(x), want)


def test_a_failed_build_leaves_eager_pytorch(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", "false")  # a "compiler" that always fails
    monkeypatch.setenv("FMNIST_CACHE", str(tmp_path))
    monkeypatch.setattr(fused, "SOURCE", tmp_path / "other.c")  # a key no cached library has
    (tmp_path / "other.c").write_text("int f(void) { return 0; }\n")
    monkeypatch.setattr(fused, "_lib", None)
    monkeypatch.setattr(fused, "_tried", False)
    monkeypatch.setattr(fused, "build_error", None)
    assert fused.library() is None
    assert "false failed" in fused.build_error
    assert not fused.applies(cl_bf16(torch.rand(2, 8, 4, 4)))
    assert list(tmp_path.glob("*.so")) == []  # no half-written library left behind


def test_fmnist_fused_0_turns_the_kernels_off(monkeypatch):
    monkeypatch.setenv("FMNIST_FUSED", "0")
    monkeypatch.setattr(fused, "_lib", None)
    monkeypatch.setattr(fused, "_tried", False)
    assert fused.library() is None and "FMNIST_FUSED=0" in fused.build_error


@needs_kernels
@pytest.mark.parametrize("arch", ["simple", "sa", "gated"])
def test_training_gradients_are_as_close_to_fp64_as_eager_bf16(arch, monkeypatch):
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

    loss_fused, g_fused = step(copy.deepcopy(start))
    loss_ref, g_ref = step(copy.deepcopy(start), torch.float64)
    monkeypatch.setattr(fused, "_lib", None)
    loss_eager, g_eager = step(copy.deepcopy(start))

    def cos(a, b):
        return (a @ b / a.norm() / b.norm()).item()

    assert abs(loss_fused - loss_ref) < 0.01 and abs(loss_eager - loss_ref) < 0.01
    assert cos(g_fused, g_ref) > 0.98 and cos(g_fused, g_ref) > cos(g_eager, g_ref) - 0.002
