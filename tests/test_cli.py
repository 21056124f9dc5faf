import json
import os
import subprocess
import sys

import fmnist
from conftest import ROOT


def run(*args, timeout=600):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "fmnist", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def test_help_on_every_command():
    for cmd in ([], ["train"], ["evaluate"], ["models"]):
        p = run(*cmd, "--help")
        assert p.returncode == 0 and "usage" in p.stdout


def test_train_then_evaluate_json(dataset, tmp_path):
    out = tmp_path / "gated.safetensors"
    p = run("train", "--arch", "gated", "--epochs", "1", "--limit", "500", "--out", str(out), "--quiet",
            "--tensorboard", str(tmp_path / "tb"))
    assert p.returncode == 0, p.stderr
    assert "test accuracy" in p.stdout and str(out) in p.stdout
    assert any((tmp_path / "tb").iterdir())
    import fmnist

    model = fmnist.load_model(out)
    assert model.arch == "gated"
    p = run("evaluate", "--models", str(out), "--json", "--no-tta")
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)["gated"]
    assert set(report["per_class"]) == set(fmnist.CLASSES)
    assert set(report["per_class"]["Bag"]) == {"precision", "recall", "f1", "support"}
    assert 0 <= report["accuracy"] <= 1 and 0 <= report["macro_f1"] <= 1
    # evaluate reports exactly what the loaded model computes
    from fmnist.evaluate import predict_proba

    ds = fmnist.load_fashion_mnist()
    acc = (predict_proba(model, ds.test_images).argmax(1) == ds.test_labels.numpy()).mean()
    assert report["accuracy"] == acc
    # two runs with the same file name are both reported, keyed by their paths
    other = tmp_path / "again" / "gated.safetensors"
    other.parent.mkdir()
    other.write_bytes(out.read_bytes())
    p = run("evaluate", "--models", str(out), str(other), "--json", "--no-tta")
    assert p.returncode == 0, p.stderr
    reports = json.loads(p.stdout)
    assert set(reports) == {str(out), str(other)}
    assert reports[str(out)]["accuracy"] == reports[str(other)]["accuracy"] == acc


def test_refuses_to_overwrite_shipped_checkpoints():
    from fmnist.checkpoints import CHECKPOINT_DIR

    p = run("train", "--arch", "simple", "--epochs", "1", "--limit", "100", "--out", str(CHECKPOINT_DIR / "simple"))
    assert p.returncode == 2 and "shipped" in p.stderr


def test_bad_checkpoint_is_a_message_not_a_traceback(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"junk")
    p = run("evaluate", "--models", str(bad), "--json")
    assert p.returncode == 2 and "error:" in p.stderr and "Traceback" not in p.stderr


def test_models_lists_parameters():
    p = run("models")
    assert p.returncode == 0 and "GatedCNN" in p.stdout and "SpatialAttentionCNN" in p.stdout


def test_models_lists_the_shipped_widths_beside_the_defaults(tmp_path):
    import fmnist
    from fmnist.checkpoints import save_checkpoint

    small = fmnist.create_model("simple", widths=(8, 16, 32))
    save_checkpoint(small, tmp_path / "simple")
    (tmp_path / "sa").mkdir()
    (tmp_path / "sa" / "model.safetensors").write_bytes(b"junk")  # corrupt: a message, not a traceback
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FMNIST_CHECKPOINTS": str(tmp_path)}
    p = subprocess.run([sys.executable, "-m", "fmnist", "models"], capture_output=True, text=True, timeout=120,
                       env=env, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    rows = {tuple(line.split()[:3]): line.split() for line in p.stdout.splitlines()[1:]}
    shipped = rows[("simple", "SimpleCNN", "shipped")]
    assert shipped[3] == "8-16-32" and shipped[4] == f"{fmnist.count_parameters(small):,}"
    default = rows[("simple", "SimpleCNN", "default")]
    assert default[3] == "32-64-128" and default[4] == f"{fmnist.count_parameters(fmnist.create_model('simple')):,}"
    assert "shipped   none (CheckpointError" in next(line for line in p.stdout.splitlines() if line.startswith("sa ") and "shipped" in line)
    assert next(line for line in p.stdout.splitlines() if line.startswith("gated") and "shipped" in line).endswith("none")


def test_ctrl_c_saves_a_labelled_partial_model_beside_the_old_one(dataset, tmp_path):
    import signal
    import time

    import fmnist

    out = tmp_path / "m.safetensors"
    out.write_bytes(b"previous good checkpoint stands in here")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, "-m", "fmnist", "train", "--epochs", "50", "--limit", "3000", "--quiet",
                          "--out", str(out)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    time.sleep(12)
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 0, stderr
    assert out.read_bytes() == b"previous good checkpoint stands in here"
    partial = tmp_path / "m.partial.safetensors"
    ckpt = fmnist.load_checkpoint(partial)
    assert ckpt.meta["status"] == "stopped" and "partial" in ckpt.meta["label"]


def test_recipe_sets_the_config_and_explicit_options_win():
    from fmnist.cli import _config_from_args, get_args_parser
    from fmnist.recipes import RECIPES

    parse = get_args_parser().parse_args
    fast = _config_from_args(parse(["train", "--recipe", "fast"]))
    for key, value in RECIPES["fast"].fields.items():
        assert getattr(fast, key) == value, key
    assert fast.augment == "seed"  # the study's augmentations, before the upright phase
    mine = _config_from_args(parse(["train", "--recipe", "fast", "--lr", "1e-3", "--time-budget", "0"]))
    assert mine.lr == 1e-3 and mine.time_budget_s is None and mine.schedule == "onecycle"
    study = _config_from_args(parse(["train"]))
    default = fmnist.TrainConfig()
    assert (study.lr, study.epochs, study.schedule, study.time_budget_s, study.final_phase, study.patience) == (
        default.lr, default.epochs, default.schedule, default.time_budget_s, default.final_phase, default.patience)


def test_ship_installs_a_drawing_run_and_refuses_one_without_calibration(tmp_path):
    """tools/ship.py --drawings: a calibrated run lands in drawings/<arch>/ and loads; a study-recipe run
    (no calibration, no recipe) is refused and nothing is written."""
    import shutil

    run_dir = tmp_path / "runs" / "simple"
    shutil.copytree(ROOT / "checkpoints" / "drawings" / "simple", run_dir)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FMNIST_CHECKPOINTS": str(tmp_path / "ckpts")}
    ship = [sys.executable, str(ROOT / "tools" / "ship.py"), "--drawings"]
    p = subprocess.run([*ship, str(ROOT / "checkpoints" / "simple")], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode != 0 and "no calibration" in p.stderr
    assert not (tmp_path / "ckpts").exists()
    p = subprocess.run([*ship, str(run_dir)], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    from fmnist.checkpoints import load_checkpoint

    shipped = load_checkpoint(tmp_path / "ckpts" / "drawings" / "simple")
    original = load_checkpoint(run_dir)
    assert shipped.meta["shipped_from"] == "runs/simple"
    assert shipped.meta["calibration"] == original.meta["calibration"]
    assert all((a == b).all() for a, b in zip(shipped.model.state_dict().values(), original.model.state_dict().values()))
