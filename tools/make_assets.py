"""Write the small test-set sample the app ships (fmnist/assets): 500 test images and 10 example PNGs.

The app's gallery and attention views use these so that they work without the dataset.
"""
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fmnist.data import CLASSES, load_fashion_mnist

ASSETS = Path(__file__).resolve().parent.parent / "fmnist" / "assets"


def main() -> None:
    ds = load_fashion_mnist()
    g = torch.Generator().manual_seed(2024)
    idx = torch.randperm(len(ds.test_labels), generator=g)[:500].sort().values
    np.savez_compressed(ASSETS / "test_sample.npz", indices=idx.numpy(), images=ds.test_images[idx].numpy(),
                        labels=ds.test_labels[idx].numpy())
    np.save(ASSETS / "test_labels.npy", ds.test_labels.numpy().astype(np.uint8))  # for McNemar without data
    for c, name in enumerate(CLASSES):
        first = int(idx[(ds.test_labels[idx] == c).nonzero()[0, 0]])
        img = Image.fromarray(ds.test_images[first].numpy()).resize((112, 112), Image.NEAREST)
        img.save(ASSETS / "examples" / f"{c}-{name.replace('/', '-').replace(' ', '-').lower()}-test{first}.png")
    print(f"wrote {ASSETS}")


if __name__ == "__main__":
    main()
