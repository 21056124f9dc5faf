"""Batched training augmentations on tensors: each image gets its own random flip/rotation/crop/erase."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_hflip(x: torch.Tensor, g: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Like torchvision's RandomHorizontalFlip, one coin per image. x: (N, C, H, W)."""
    flip = torch.rand(x.shape[0], generator=g, device=g.device) < p
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def random_vflip(x: torch.Tensor, g: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Like torchvision's RandomVerticalFlip, one coin per image."""
    flip = torch.rand(x.shape[0], generator=g, device=g.device) < p
    return torch.where(flip[:, None, None, None], x.flip(-2), x)


def _affine(x: torch.Tensor, angle_deg: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
    """Rotate each image about its centre (and shift it by `shift` pixels), nearest pixel, zero fill.

    Matches torchvision's RandomRotation(interpolation=NEAREST, fill=0): its grid uses the same
    pixel-centre convention (align_corners=False) and the same direction of rotation.
    """
    n, _, h, w = x.shape
    theta = torch.deg2rad(angle_deg.to(torch.float32))
    cos, sin = torch.cos(theta), torch.sin(theta)
    mat = torch.zeros(n, 2, 3, dtype=torch.float32, device=angle_deg.device)
    # inverse map output -> input, in normalized coordinates (x right, y down); positive angle = counter-clockwise
    mat[:, 0, 0], mat[:, 0, 1] = cos, -sin * h / w
    mat[:, 1, 0], mat[:, 1, 1] = sin * w / h, cos
    if shift is not None:
        mat[:, 0, 2] = -2 * shift[:, 0] / w
        mat[:, 1, 2] = -2 * shift[:, 1] / h
    grid = F.affine_grid(mat, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid.to(x.dtype), mode="nearest", padding_mode="zeros", align_corners=False)


def random_rotation(x: torch.Tensor, g: torch.Generator, degrees: float = 90.0) -> torch.Tensor:
    """Like torchvision's RandomRotation(degrees): angle uniform in [-degrees, degrees] per image."""
    angle = (torch.rand(x.shape[0], generator=g, device=g.device) * 2 - 1) * degrees
    return _affine(x, angle)


def random_translate(x: torch.Tensor, g: torch.Generator, pixels: int = 2) -> torch.Tensor:
    """Shift each image by up to `pixels` in x and y (a random crop of a zero-padded image)."""
    shift = torch.randint(-pixels, pixels + 1, (x.shape[0], 2), generator=g, device=g.device).float()
    return _affine(x, torch.zeros(x.shape[0], device=g.device), shift)


def random_erasing(x: torch.Tensor, g: torch.Generator, p: float = 0.5, max_frac: float = 0.25) -> torch.Tensor:
    """Zero a random rectangle (up to max_frac of the area) in a fraction p of the images."""
    n, _, h, w = x.shape
    dev = g.device
    area = torch.rand(n, generator=g, device=dev) * max_frac * h * w
    aspect = torch.exp((torch.rand(n, generator=g, device=dev) * 2 - 1) * math.log(3))
    eh = (area * aspect).sqrt().clamp(1, h).long()
    ew = (area / aspect).sqrt().clamp(1, w).long()
    top = (torch.rand(n, generator=g, device=dev) * (h - eh + 1)).long()
    left = (torch.rand(n, generator=g, device=dev) * (w - ew + 1)).long()
    rows = torch.arange(h, device=dev)[None, :]
    cols = torch.arange(w, device=dev)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < (top + eh)[:, None])  # (N, H)
    in_cols = (cols >= left[:, None]) & (cols < (left + ew)[:, None])  # (N, W)
    box = in_rows[:, :, None] & in_cols[:, None, :]
    box &= (torch.rand(n, generator=g, device=dev) < p)[:, None, None]
    return x.masked_fill(box[:, None], 0.0)


# Each preset is a list of (name, function) applied in order; names are what the UI shows as toggles.
PRESETS: dict[str, tuple[str, ...]] = {
    "seed": ("hflip", "vflip", "rotate90"),   # the original study's three
    "none": (),
    "upright": ("hflip",),                    # what people draw and photograph: upright, either way round
    "strong": ("hflip", "vflip", "rotate90", "translate2", "erase"),
}
OPS = {
    "hflip": random_hflip,
    "vflip": random_vflip,
    "rotate90": lambda x, g: random_rotation(x, g, 90.0),
    "translate2": lambda x, g: random_translate(x, g, 2),
    "erase": random_erasing,
}


def parse_spec(text: str) -> str | tuple[str, ...]:
    """A command line's augmentation spec: a preset name as it is, else comma-separated op names (checked
    when the config is used, by resolve())."""
    return text if text in PRESETS else tuple(x for x in text.split(",") if x)


def resolve(preset_or_ops: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """A preset name, or an explicit list of op names (e.g. from the app's toggles), checked."""
    if isinstance(preset_or_ops, str):
        if preset_or_ops not in PRESETS:
            raise ValueError(f"unknown augmentation preset {preset_or_ops!r}; choose from {sorted(PRESETS)}")
        return PRESETS[preset_or_ops]
    unknown = [op for op in preset_or_ops if op not in OPS]
    if unknown:
        raise ValueError(f"unknown augmentation(s) {unknown}; choose from {sorted(OPS)}")
    return tuple(preset_or_ops)


def augment(x: torch.Tensor, ops: tuple[str, ...], g: torch.Generator) -> torch.Tensor:
    """Apply ops to a float batch (N, 1, H, W); random draws come from g, a generator on x's device."""
    for op in ops:
        x = OPS[op](x, g)
    return x
