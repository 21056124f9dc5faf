"""The batched augmentations against torchvision's per-image transforms."""
import numpy as np
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF

from fmnist import augment as aug
from fmnist.data import to_float


def test_fixed_rotation_matches_torchvision(dataset):
    x = to_float(dataset.test_images[:16])
    for angle in (-75.0, 30.0, 90.0):
        ours = aug._affine(x, torch.full((16,), angle))
        ref = TF.rotate(x, angle, interpolation=T.InterpolationMode.NEAREST, fill=0)
        agree = (ours == ref).float().mean().item()
        assert agree > 0.99, (angle, agree)


def test_seed_preset_statistics_match_torchvision(dataset):
    torch.manual_seed(0)
    x = to_float(dataset.test_images[:64])
    reps = 30
    g = torch.Generator().manual_seed(0)
    ours = torch.cat([aug.augment(x, aug.PRESETS["seed"], g) for _ in range(reps)])
    tv = T.Compose([T.RandomHorizontalFlip(), T.RandomVerticalFlip(), T.RandomRotation(90)])
    ref = torch.cat([torch.stack([tv(img) for img in x]) for _ in range(reps)])
    # same amount of garment kept inside the frame, same mean image (up to sampling noise)
    assert abs(ours.mean().item() - ref.mean().item()) < 0.01
    assert abs((ours > 0).float().mean().item() - (ref > 0).float().mean().item()) < 0.01
    mean_ours, mean_ref = ours.mean(0).flatten().numpy(), ref.mean(0).flatten().numpy()
    assert np.corrcoef(mean_ours, mean_ref)[0, 1] > 0.97
    # every image drawn independently: flips happen about half of the time
    g = torch.Generator().manual_seed(1)
    flipped = aug.random_hflip(x, g)
    changed = (flipped != x).flatten(1).any(1).float().mean().item()
    assert 0.3 < changed < 0.7


def test_presets_and_explicit_ops():
    assert aug.resolve("seed") == ("hflip", "vflip", "rotate90")
    assert aug.resolve("none") == ()
    assert aug.resolve(["hflip"]) == ("hflip",)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 1, 28, 28)
    for name in aug.PRESETS:
        y = aug.augment(x, aug.resolve(name), g)
        assert y.shape == x.shape and torch.isfinite(y).all()
    assert torch.equal(aug.augment(x, (), g), x)


def test_unknown_augmentation_is_refused():
    import pytest

    with pytest.raises(ValueError, match="hflip"):
        aug.resolve(["twirl"])
    with pytest.raises(ValueError, match="seed"):
        aug.resolve("heavy")


def test_erasing_and_translation_change_images():
    g = torch.Generator().manual_seed(0)
    x = torch.ones(32, 1, 28, 28)
    erased = aug.random_erasing(x, g, p=1.0)
    assert (erased == 0).flatten(1).any(1).all()
    moved = aug.random_translate(x, g, 2)
    assert (moved == 0).any()


def test_translation_and_erasing_keep_shape_and_range_and_repeat_for_a_seed():
    x = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    for op in ("translate2", "erase"):
        a = aug.augment(x, (op,), torch.Generator().manual_seed(7))
        b = aug.augment(x, (op,), torch.Generator().manual_seed(7))
        c = aug.augment(x, (op,), torch.Generator().manual_seed(8))
        assert a.shape == x.shape and a.dtype == x.dtype, op
        assert a.min() >= 0 and a.max() <= 1, op
        assert torch.equal(a, b) and not torch.equal(a, c), op
        # every pixel is the input's (moved) or zero: nothing new is invented
        assert torch.isin(a[a > 0], x).all(), op
