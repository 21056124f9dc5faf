"""The trainer's bf16 training step (augment, forward, backward, AdamW, EMA) per architecture, for A/B
comparisons on a machine whose speed drifts: alternate the two sides.

Two checkouts, in separate processes (prints images/second for simple, sa and gated with the fmnist
package that Python finds: PYTHONPATH comes before the installed one):

    git worktree add /tmp/old <commit>
    for i in 1 2 3; do PYTHONPATH=/tmp/old python bench/step_ab.py; python bench/step_ab.py; done

The fused kernels (fmnist.accel) against the plain modules, in one process, two models from the same
start, blocks of steps alternating (--blocks pairs; the median of each side is printed):

    python bench/step_ab.py --kernels [--blocks 6]

One fusion off on one side (accel.to_fused's options), everything else fused on both, alternating:

    python bench/step_ab.py --stem        # the first layer's kernel vs oneDNN's convolution + BN/ReLU kernel
    python bench/step_ab.py --sa-pool     # sa: attention + max-pooling as one kernel vs two
    python bench/step_ab.py --gate        # gated: its convolutions inside its kernel vs oneDNN's before it
    python bench/step_ab.py --gated-pool  # gated: its block + max-pooling as one kernel vs two

AdamW on one flat buffer that all parameters are views of (accel.FlatParameters, as the trainer does)
against AdamW on the separate tensors, two models from the same start, steps alternating in blocks:

    python bench/step_ab.py --flat

Add --widths 64,128,256 for the shipped models' width.
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
    import fmnist
    from fmnist import augment as aug
    from fmnist import training
    from fmnist.data import load_fashion_mnist, to_float
    from fmnist.models import create_model, list_models

    try:  # the package's CPU speed layer; older checkouts have fmnist/fused.py and convert nothing
        from fmnist import accel
    except ImportError:
        accel = None
    if accel is not None:
        accel.keep_freed_memory()  # as the trainer does on the CPU
        flat_type, make_optimizer = accel.FlatParameters, accel.make_optimizer
    else:
        import importlib
        try:
            importlib.import_module("fmnist.fused").keep_freed_memory()
        except (ImportError, AttributeError):
            pass
        flat_type, make_optimizer = getattr(training, "FlatParameters", None), getattr(training, "make_optimizer", None)
    ablation = a.kernels or a.stem or a.sa_pool or a.gate or a.gated_pool
    if ablation and (accel is None or not accel.available()):
        sys.exit(f"no fused kernels here: {accel.why_not() if accel else 'this checkout has no fmnist.accel'}")

    widths = tuple(int(v) for v in a.widths.split(","))
    ds = load_fashion_mnist()
    images, labels = ds.train_images, ds.train_labels
    try:    # where the checkout keeps it: fmnist.hardware, or fmnist.training before it
        from fmnist.hardware import cpu_supports_bf16
    except ImportError:
        cpu_supports_bf16 = training.cpu_supports_bf16
    bf16 = cpu_supports_bf16()

    def make_step(arch: str, flat_buffer: bool = True, fused: dict | None = {}):
        """A training step as the trainer runs it; fused: to_fused's options, None for the plain modules."""
        torch.manual_seed(0)
        layout = torch.channels_last if bf16 else torch.contiguous_format
        model = create_model(arch, widths=widths).to(memory_format=layout)
        if accel is not None and fused is not None and accel.use_kernels("auto", "cpu", bf16):
            accel.to_fused(model, **fused)
        flat = flat_type(model) if flat_buffer and flat_type else None
        if make_optimizer:  # checkouts before it used plain AdamW
            opt = make_optimizer(flat or model, 3e-4, 0.05)
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

    if not (a.flat or ablation):
        print(f"{Path(fmnist.__file__).parent.parent}: " + " ".join(f"{arch} {images_per_second(make_step(arch), a.steps, 8):.0f}"
                                       for arch in list_models()) + f" img/s (bf16 {'on' if bf16 else 'off'})")
        return
    one_off = {"stem": ("stem", "oneDNN conv", "fused stem", None), "sa_pool": ("pooling", "two kernels", "one kernel", "sa"),
               "gate": ("gate_inside", "convolutions before", "convolutions inside", "gated"),
               "gated_pool": ("pooling", "block, then pooling", "block and pooling as one", "gated")}
    for name, (option, off, on, only) in one_off.items():
        if getattr(a, name):
            for arch in [only] if only else list_models():
                alternate(arch, {off: make_step(arch, fused={option: False}), on: make_step(arch)})
            return
    for arch in list_models():
        if a.flat:
            alternate(arch, {"separate tensors": make_step(arch, False), "flat buffer": make_step(arch, True)})
        else:
            alternate(arch, {"plain": make_step(arch, fused=None), "fused": make_step(arch)})


if __name__ == "__main__":
    main()
