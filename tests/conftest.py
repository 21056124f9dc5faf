"""Shared fixtures: the real dataset (once per session), small splits, tiny trained models."""
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent

import fmnist
from fmnist.data import DataNotFoundError


@pytest.fixture(scope="session")
def dataset():
    try:
        return fmnist.load_fashion_mnist(download=False)
    except DataNotFoundError as e:
        if os.environ.get("CI"):
            raise  # CI installs the data: its absence is a failure, not a skip
        pytest.skip(f"Fashion-MNIST not installed: {e}")


@pytest.fixture(scope="session")
def small_split(dataset):
    """600 training images (60 per class), 1,000 validation, the real test set."""
    return fmnist.make_split(dataset, val_size=1000, seed=0, limit=600)


@pytest.fixture(scope="session")
def tiny_result(small_split):
    """One short real training run shared by several tests."""
    cfg = fmnist.TrainConfig(arch="sa", epochs=2, limit=600, val_size=1000, log_every=2, augment="none", lr=2e-3)
    return fmnist.train(cfg, small_split)


@pytest.fixture(autouse=True)
def _few_threads():
    torch.set_num_threads(min(2, os.cpu_count() or 1))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(env: dict, stdout=subprocess.DEVNULL) -> tuple[subprocess.Popen, str]:
    """`python app.py` on a free local port, as a user would start it; returns once it answers."""
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), **env}
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=stdout, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(240):
        try:
            urllib.request.urlopen(url, timeout=1)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"app.py exited with {proc.returncode}")
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("app.py did not answer within 2 minutes")
