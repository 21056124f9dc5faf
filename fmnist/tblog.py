"""A TensorBoard listener for fit()'s events: scalars, per-class metrics and a prediction grid."""
from __future__ import annotations

import torch
from torchvision.utils import make_grid

from .data import CLASSES, load_fashion_mnist, to_float


def prediction_grid(model, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The study's debug plot: test images framed green where right, red where wrong. (3, H, W)."""
    with torch.inference_mode():
        pred = model.eval()(to_float(images)).argmax(1)
    x = to_float(images).repeat(1, 3, 1, 1)  # (N, 3, 28, 28)
    x = torch.nn.functional.pad(x, (2, 2, 2, 2))
    right = (pred == labels)
    colour = torch.where(right[:, None], torch.tensor([0.1, 0.8, 0.1]), torch.tensor([0.9, 0.1, 0.1]))
    frame = torch.ones(1, 1, 32, 32, dtype=torch.bool)
    frame[..., 2:-2, 2:-2] = False
    x = torch.where(frame, colour[:, :, None, None], x)
    return make_grid(x, nrow=8, padding=2)


class TensorBoardLogger:
    def __init__(self, logdir: str):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(logdir)

    def __call__(self, ev: dict) -> None:
        kind, w = ev["event"], self.writer
        if kind == "step":
            w.add_scalar("train/loss_step", ev["loss"], ev["global_step"])
            w.add_scalar("train/lr", ev["lr"], ev["global_step"])
        elif kind == "epoch":
            for key in ("train_loss", "train_acc", "val_loss", "val_acc", "images_per_sec"):
                w.add_scalar(f"epoch/{key}", ev[key], ev["epoch"])
        elif kind == "end":
            result = ev["result"]
            step = len(result.history)
            if result.test_metrics:
                w.add_scalar("test/accuracy", result.test_metrics["accuracy"], step)
                w.add_scalar("test/macro_f1", result.test_metrics["macro_f1"], step)
                for c in CLASSES:
                    for k in ("precision", "recall", "f1"):
                        w.add_scalar(f"test_{k}/{c}", result.test_metrics["per_class"][c][k], step)
            ds = load_fashion_mnist(result.config.data_dir)
            w.add_image("test/predictions", prediction_grid(result.model, ds.test_images[:64], ds.test_labels[:64]), step)
            w.close()
