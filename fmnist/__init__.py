"""fmnist: train, compare and explain three CNNs (simple, sa, gated) on Fashion-MNIST."""
from .checkpoints import CheckpointError, load_checkpoint, load_model, save_checkpoint, save_result
from .data import CLASSES, DataFormatError, DataNotFoundError, load_fashion_mnist, make_split
from .models import count_macs, count_parameters, create_model, list_models
from .training import TrainConfig, TrainResult, fit, train

__all__ = [
    "CLASSES", "list_models", "create_model", "count_parameters", "count_macs", "load_model",
    "load_checkpoint", "save_checkpoint", "save_result", "CheckpointError", "load_fashion_mnist",
    "make_split", "DataNotFoundError", "DataFormatError", "TrainConfig", "TrainResult", "fit", "train",
]
