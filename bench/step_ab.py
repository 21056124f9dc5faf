"""The trainer's bf16 training step (augment, forward, backward, AdamW, EMA) per architecture, for A/B
comparisons of two checkouts on a machine whose speed drifts: run them alternately.

    git worktree add /tmp/old <commit>
    for i in 1 2 3; do python bench/step_ab.py /tmp/old; python bench/step_ab.py .; done

Prints images/second for simple, sa and gated with the fmnist package found in REPO (default: this one).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("repo", nargs="?", default=str(Path(__file__).resolve().parent.parent))
    p.add_argument("--steps", type=int, default=50)
    a = p.parse_args()
    sys.path.insert(0, a.repo)
    from fmnist import augment as aug
    from fmnist import training
    from fmnist.data import load_fashion_mnist, to_float
    from fmnist.models import create_model, list_models

    ds = load_fashion_mnist()
    images, labels = ds.train_images, ds.train_labels
    bf16 = training.cpu_supports_bf16()

    def images_per_second(arch: str) -> float:
        torch.manual_seed(0)
        model = create_model(arch).to(memory_format=torch.channels_last if bf16 else torch.contiguous_format)
        if hasattr(training, "make_optimizer"):  # checkouts before it used plain AdamW
            opt = training.make_optimizer(model, 3e-4, 0.05)
        else:
            opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.05)
        ema = training.WeightEMA(model, 0.999)
        g = torch.Generator().manual_seed(0)
        perm = torch.randperm(len(images), generator=g)

        def step(i: int) -> None:
            idx = perm[i * 64 : (i + 1) * 64]
            x = aug.augment(to_float(images[idx]), aug.PRESETS["seed"], g)
            if bf16:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(model(x).float(), labels[idx], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            ema.update()

        for i in range(8):
            step(i)
        t = time.perf_counter()
        for i in range(8, 8 + a.steps):
            step(i)
        return a.steps * 64 / (time.perf_counter() - t)

    print(f"{a.repo}: " + " ".join(f"{arch} {images_per_second(arch):.0f}" for arch in list_models())
          + f" img/s (bf16 {'on' if bf16 else 'off'})")


if __name__ == "__main__":
    main()
