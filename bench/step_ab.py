"""The trainer's bf16 training step (augment, forward, backward, AdamW, EMA) per architecture, for A/B
comparisons on a machine whose speed drifts: alternate the two sides.

Two checkouts, in separate processes (prints images/second for simple, sa and gated with the fmnist
package found in REPO, default: this one):

    git worktree add /tmp/old <commit>
    for i in 1 2 3; do python bench/step_ab.py /tmp/old; python bench/step_ab.py .; done

The fused kernels (fmnist/fused.py) against eager PyTorch, in one process, blocks of steps alternating
(--blocks pairs; the median of each side is printed):

    python bench/step_ab.py --kernels [--blocks 6]

The fused first layer (fused.StemFunction) against the convolution it replaces (oneDNN's, then the
fused BatchNorm + ReLU), everything else fused on both sides, in one process, alternating:

    python bench/step_ab.py --stem [--widths 64,128,256]

AdamW on one flat buffer that all parameters are views of (training.FlatParameters, as fmnist.fit does)
against AdamW on the separate tensors, two models from the same start, steps alternating in blocks:

    python bench/step_ab.py --flat

sa's attention and the max-pooling after it as one kernel (fused.SpatialAttentionPool2Function) against
the two kernels one after the other, sa only, in one process, alternating:

    python bench/step_ab.py --sa-pool [--widths 64,128,256]

gated's block inside the fused function (fused.GatedGateFunction: its 3x3 convolution, whose share of
x's gradient oneDNN adds in place, and its 1x1 gate as matrix products) against oneDNN's 3x3 and 1x1
convolutions before the element-wise kernel (fused.GatedResidualFunction), gated only, in one process,
alternating:

    python bench/step_ab.py --gate [--widths 64,128,256]

gated's block and the max-pooling after it as one kernel (fused.GatedGatePool2Function) against the two
one after the other (the gate inside on both sides), alternating:

    python bench/step_ab.py --gated-pool [--widths 64,128,256]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("repo", nargs="?", default=str(Path(__file__).resolve().parent.parent))
    p.add_argument("--steps", type=int, default=50, help="timed steps (per block with --kernels: 20)")
    p.add_argument("--kernels", action="store_true", help="fused kernels vs eager PyTorch, alternating")
    p.add_argument("--stem", action="store_true", help="fused first layer vs oneDNN's convolution, alternating")
    p.add_argument("--flat", action="store_true", help="AdamW on one flat buffer vs on separate tensors, alternating")
    p.add_argument("--sa-pool", action="store_true",
                   help="sa: attention + max-pooling as one kernel vs two, alternating")
    p.add_argument("--gate", action="store_true",
                   help="gated: its convolutions inside the fused function vs oneDNN's before it, alternating")
    p.add_argument("--gated-pool", action="store_true",
                   help="gated: its block and the max-pooling after it as one kernel vs two, alternating")
    p.add_argument("--blocks", type=int, default=6)
    p.add_argument("--widths", default="32,64,128", help="channels per stage, e.g. 64,128,256")
    a = p.parse_args()
    sys.path.insert(0, a.repo)
    from fmnist import augment as aug
    from fmnist import training
    from fmnist.data import load_fashion_mnist, to_float
    from fmnist.models import create_model, list_models

    try:  # checkouts before session 6 have neither
        from fmnist import fused
        fused.keep_freed_memory()  # as fmnist.fit does on the CPU
    except ImportError:
        fused = None
    if (a.kernels or a.stem or a.sa_pool or a.gate or a.gated_pool) and (fused is None or fused.library() is None):
        sys.exit(f"no fused kernels here: {getattr(fused, 'build_error', 'fmnist.fused missing')}")

    widths = tuple(int(v) for v in a.widths.split(","))
    ds = load_fashion_mnist()
    images, labels = ds.train_images, ds.train_labels
    bf16 = training.cpu_supports_bf16()

    def make_step(arch: str, flat_buffer: bool = True):
        torch.manual_seed(0)
        layout = torch.channels_last if bf16 else torch.contiguous_format
        model = create_model(arch, widths=widths).to(memory_format=layout)
        flat = training.FlatParameters(model) if flat_buffer and hasattr(training, "FlatParameters") else None
        if hasattr(training, "make_optimizer"):  # checkouts before it used plain AdamW
            opt = training.make_optimizer(flat or model, 3e-4, 0.05)
        else:
            opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.05)
        ema = training.WeightEMA(model, 0.999)
        g = torch.Generator().manual_seed(0)
        perm = torch.randperm(len(images), generator=g)
        counter = iter(range(10**9))

        def step() -> None:
            i = next(counter) % (len(images) // 64)
            idx = perm[i * 64 : (i + 1) * 64]
            x = aug.augment(to_float(images[idx]), aug.PRESETS["seed"], g)
            if bf16:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(model(x).float(), labels[idx], label_smoothing=0.1)
            if flat is not None:
                flat.zero_grad()
            else:
                opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            ema.update()

        return step

    def images_per_second(step, steps: int, warmup: int) -> float:
        for _ in range(warmup):
            step()
        t = time.perf_counter()
        for _ in range(steps):
            step()
        return steps * 64 / (time.perf_counter() - t)

    def alternate(arch: str, steps: dict, enter=lambda side: None) -> None:
        """Blocks of 20 steps, the two sides (name -> step) in turn, enter(side) before each block; prints
        each side's median and every block."""
        runs = {side: [] for side in steps}
        for _ in range(a.blocks):
            for side, step in steps.items():
                enter(side)
                runs[side].append(images_per_second(step, 20, 3))
        (x, rx), (y, ry) = runs.items()
        e, f = statistics.median(rx), statistics.median(ry)
        print(f"{arch} {a.widths}: {x} {e:.0f} img/s, {y} {f:.0f} img/s ({f / e - 1:+.1%}); "
              f"blocks {[round(v) for v in rx]}, {[round(v) for v in ry]}", flush=True)

    if not (a.flat or a.stem or a.kernels or a.sa_pool or a.gate or a.gated_pool):
        print(f"{a.repo}: " + " ".join(f"{arch} {images_per_second(make_step(arch), a.steps, 8):.0f}"
                                       for arch in list_models()) + f" img/s (bf16 {'on' if bf16 else 'off'})")
        return
    lib, real_stem = (fused.library(), getattr(fused, "stem_applies", None)) if fused else (None, None)
    switched = [name for name in ("sa_pool", "gate", "gated_pool") if getattr(a, name)]
    if switched:  # one architecture, a switch in the package turned off on one side
        from fmnist.models import FashionCNN, GatedCNN, SpatialAttention
        arch, owner, switch, off_value, (off, on) = {
            "sa_pool": ("sa", SpatialAttention, "fuses_pool", lambda *args: False, ("two kernels", "one kernel")),
            "gate": ("gated", fused, "gate_applies", lambda *args: False, ("convolutions before", "convolutions inside")),
            "gated_pool": ("gated", GatedCNN, "run_stage", FashionCNN.run_stage,
                           ("block, then pooling", "block and pooling as one")),
        }[switched[0]]
        real = getattr(owner, switch)

        def turn(side):
            setattr(owner, switch, real if side == on else off_value)
        try:
            alternate(arch, {off: make_step(arch), on: make_step(arch)}, turn)
        finally:
            setattr(owner, switch, real)
        return
    for arch in list_models():
        if a.flat:
            alternate(arch, {"separate tensors": make_step(arch, False), "flat buffer": make_step(arch, True)})
            continue
        step = make_step(arch)
        try:
            if a.stem:
                def use_stem(side):
                    fused.stem_applies = real_stem if side == "fused stem" else (lambda *args: False)
                alternate(arch, {"oneDNN conv": step, "fused stem": step}, use_stem)
            else:
                def use_kernels(side):
                    fused._lib = lib if side == "fused" else None
                alternate(arch, {"eager": step, "fused": step}, use_kernels)
        finally:
            fused._lib, fused.stem_applies = lib, real_stem


if __name__ == "__main__":
    main()
