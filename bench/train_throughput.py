"""Training throughput: our trainer's step against the study-style pipeline, per architecture.

    python bench/train_throughput.py [--steps 60] [--rounds 5]

Ours: uint8 tensors in memory, batched flips/rotation on the whole batch, bf16 autocast + channels_last
where the CPU supports it (and fp32 for comparison). Study-style: torchvision's FashionMNIST dataset,
per-sample PIL transforms (RandomHorizontalFlip, RandomVerticalFlip, RandomRotation(90), ToTensor) in a
DataLoader (batch 64, shuffled, num_workers=0 as two torch processes on 2 cores slow each other), fp32.
Same model, batch size, optimizer (AdamW 3e-4; ours uses its fused kernel on one flat buffer of parameters,
as the trainer does: accel.FlatParameters). Ours also
uses what fmnist.fit turns on: the fused kernels of fmnist.accel (accel.to_fused; bf16 channels_last
only) and glibc settings that keep freed memory (accel.keep_freed_memory).
Also the machine's ceiling: large fp32/bf16 matmuls.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from fmnist import augment as aug
from fmnist import accel
from fmnist.data import DEBIAN_DIR, load_fashion_mnist, to_float
from fmnist.models import count_macs, create_model, list_models
from fmnist.accel import FlatParameters, make_optimizer
from fmnist.hardware import cpu_supports_bf16


def ours(arch: str, steps: int, bf16: bool, images: torch.Tensor, labels: torch.Tensor) -> float:
    accel.keep_freed_memory()  # as fmnist.fit does on the CPU (process-wide: see study_style_alone)
    torch.manual_seed(0)
    model = create_model(arch)
    if bf16:
        model = model.to(memory_format=torch.channels_last)
    if accel.use_kernels("auto", "cpu", bf16):
        accel.to_fused(model)  # as the trainer does
    flat = FlatParameters(model)  # as the trainer: one buffer of parameters, one of gradients
    opt = make_optimizer(flat, 3e-4, 0.01)  # the trainer's (fused where available)
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(images), generator=g)

    def step(i):
        idx = perm[i * 64 : (i + 1) * 64]
        x = aug.augment(to_float(images[idx]), aug.PRESETS["seed"], g)
        if bf16:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x).float(), labels[idx])
        flat.zero_grad()
        loss.backward()
        opt.step()

    for i in range(5):
        step(i)
    t = time.perf_counter()
    for i in range(5, 5 + steps):
        step(i)
    return steps * 64 / (time.perf_counter() - t)


def study_style(arch: str, steps: int, root: str) -> float:
    import torchvision.transforms as T
    from torchvision.datasets import FashionMNIST

    tf = T.Compose([T.RandomHorizontalFlip(), T.RandomVerticalFlip(), T.RandomRotation(90), T.ToTensor()])
    ds = FashionMNIST(root, train=True, transform=tf, download=False)
    loader = torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True, num_workers=0)
    torch.manual_seed(0)
    model = create_model(arch)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    it = iter(loader)
    t = None
    for i in range(5 + steps):
        if i == 5:
            t = time.perf_counter()
        x, y = next(it)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * 64 / (time.perf_counter() - t)


def study_style_alone(arch: str, steps: int, root: str) -> float:
    """study_style in a process of its own: ours() changes this process's allocator for good, and running
    every baseline first instead would let the machine's drift (±15% here) fall between the two sides."""
    code = ("import runpy, sys; study_style = runpy.run_path(sys.argv[1])['study_style']; "
            "print(study_style(sys.argv[2], int(sys.argv[3]), sys.argv[4]))")
    out = subprocess.run([sys.executable, "-c", code, __file__, arch, str(steps), root], check=True,
                         capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def matmul_ceiling(dtype: torch.dtype, n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(2):
        a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t)


def torchvision_root() -> str:
    """A folder laid out as torchvision expects, linking the files we already have."""
    ds = load_fashion_mnist()
    root = Path(tempfile.mkdtemp()) / "FashionMNIST" / "raw"
    root.mkdir(parents=True)
    src = Path(ds.source)
    for f in src.iterdir():
        os.symlink(f, root / f.name)
        if f.suffix == ".gz":  # torchvision reads the extracted files
            import gzip
            import shutil

            with gzip.open(f, "rb") as fi, open(root / f.stem, "wb") as fo:
                shutil.copyfileobj(fi, fo)
    return str(root.parent.parent)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--rounds", type=int, default=1,
                   help="measure the study-style pipeline and ours (bf16) this many times in turn and report "
                        "medians and the range of the speed-up (the machine's speed drifts between runs)")
    a = p.parse_args()
    ds = load_fashion_mnist()
    root = torchvision_root()
    bf16 = cpu_supports_bf16()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, bf16 support: {bf16}, data {DEBIAN_DIR}")
    rounds = max(1, a.rounds)
    print("| model | study-style fp32 (img/s) | ours fp32 | ours bf16 + channels_last | speed-up (ours best / study) "
          "| achieved training GFLOP/s |" + (f" speed-up in {rounds} rounds |" if rounds > 1 else ""))
    print("|---|---|---|---|---|---|" + ("---|" if rounds > 1 else ""))
    for arch in list_models():
        o32 = ours(arch, a.steps, False, ds.train_images, ds.train_labels)
        study, fast = [], []
        for _ in range(rounds):  # each round: the baseline, then ours right after it
            study.append(study_style_alone(arch, a.steps, root))
            fast.append(ours(arch, a.steps, True, ds.train_images, ds.train_labels) if bf16 else o32)
        ratios = [max(o32, f) / s for s, f in zip(study, fast)]
        s, o16, ratio = statistics.median(study), statistics.median(fast), statistics.median(ratios)
        best = max(o32, o16)
        gflops = 3 * 2 * count_macs(create_model(arch)) * best / 1e9  # forward + backward ≈ 3x forward
        spread = f" {min(ratios):.1f}-{max(ratios):.1f}x |" if rounds > 1 else ""
        print(f"| {arch} | {s:.0f} | {o32:.0f} | {o16 if bf16 else float('nan'):.0f} | {ratio:.1f}x | {gflops:.0f} |{spread}",
              flush=True)
    f32 = matmul_ceiling(torch.float32) / 1e9
    b16 = matmul_ceiling(torch.bfloat16) / 1e9 if bf16 else float("nan")
    print(f"\nCeiling: 2048^3 matmul {f32:.0f} GFLOP/s fp32, {b16:.0f} GFLOP/s bf16.")


if __name__ == "__main__":
    main()
