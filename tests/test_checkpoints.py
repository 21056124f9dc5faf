import json

import pytest
import torch

import fmnist
from fmnist import checkpoints as ck
from fmnist.checkpoints import CheckpointError


def test_round_trip_gives_identical_outputs(tiny_result, tmp_path):
    path = fmnist.save_result(tiny_result, tmp_path / "run")
    assert path == tmp_path / "run" / "model.safetensors" and (tmp_path / "run" / "config.json").exists()
    loaded = fmnist.load_checkpoint(path)
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), tiny_result.model(x))
    assert not loaded.model.training
    meta = loaded.meta
    assert meta["arch"] == "sa" and meta["classes"] == list(fmnist.CLASSES)
    assert meta["config"]["lr"] == 2e-3 and len(meta["history"]) == 2
    assert meta["versions"]["torch"] == torch.__version__
    assert meta["test_metrics"]["accuracy"] == tiny_result.test_metrics["accuracy"]
    assert len(meta["test_predictions"]) == 10_000
    assert meta["data_fingerprint"] == tiny_result.data_fingerprint
    # a folder path and the file path load the same model
    assert torch.equal(fmnist.load_model(tmp_path / "run")(x), loaded.model(x))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "header"])
def test_corrupt_checkpoint_is_a_clear_error(tiny_result, tmp_path, damage):
    path = fmnist.save_result(tiny_result, tmp_path / "m.safetensors")
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00" * 8 + b"not a checkpoint at all")
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        n = int.from_bytes(raw[:8], "little")
        path.write_bytes(raw[:8] + b"{" * n + raw[8 + n :])
    with pytest.raises(CheckpointError):
        fmnist.load_model(path)


def test_mismatched_architecture_is_refused(tiny_result, tmp_path):
    from safetensors.torch import load_file, save_file

    path = fmnist.save_result(tiny_result, tmp_path / "m.safetensors")
    meta = ck.read_metadata(path)
    tensors = load_file(str(path))
    meta["arch"] = "gated"  # sa weights labelled as gated
    save_file(tensors, str(path), metadata={"fmnist": json.dumps(meta)})
    with pytest.raises(CheckpointError, match="do not match gated"):
        fmnist.load_model(path)
    meta["arch"] = "transformer"
    save_file(tensors, str(path), metadata={"fmnist": json.dumps(meta)})
    with pytest.raises(CheckpointError, match="unknown architecture"):
        fmnist.load_model(path)
    save_file(tensors, str(path))  # plain safetensors, no fmnist metadata
    with pytest.raises(CheckpointError, match="not an fmnist checkpoint"):
        fmnist.load_model(path)


def test_missing_checkpoint_names_the_shipped_choices(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        fmnist.load_model(tmp_path / "nothing.safetensors")


def test_interrupted_save_keeps_the_previous_file(tiny_result, tmp_path, monkeypatch):
    path = fmnist.save_result(tiny_result, tmp_path / "m.safetensors")
    before = path.read_bytes()

    def explode(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half written")
        raise KeyboardInterrupt

    monkeypatch.setattr(ck, "save_file", explode)
    with pytest.raises(KeyboardInterrupt):
        fmnist.save_result(tiny_result, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temporary left behind
    fmnist.load_model(path)


@pytest.mark.slow
@pytest.mark.parametrize("name", ck.shipped_names())
def test_shipped_models_predict_what_their_checkpoints_recorded(name, dataset):
    """Each shipped model, loaded into today's plain modules, names the test images as it did when it
    was evaluated and saved (fp32, no test-time augmentation; the first 2,000 of the 10,000, for time):
    the architectures' code may be rearranged, but not their function or their state-dict keys
    (loading is strict)."""
    import numpy as np

    from fmnist.evaluate import predict_proba

    ckpt = fmnist.load_checkpoint(name)
    ours = predict_proba(ckpt.model, dataset.test_images[:2000]).argmax(1)
    stored = np.asarray(ckpt.meta["test_predictions"])
    assert len(stored) == 10_000
    changed = int((ours != stored[:2000]).sum())
    assert changed <= 1, f"{name}: {changed} of 2,000 predictions changed"
