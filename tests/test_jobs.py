"""Server-side training rules: caps from the environment, plans, stop flags, output folder."""
from pathlib import Path

import pytest

from fmnist import jobs


def test_caps_from_environment(monkeypatch):
    monkeypatch.setenv("FMNIST_MAX_EPOCHS", "3")
    monkeypatch.setenv("FMNIST_MAX_TRAIN_IMAGES", "1000")
    caps = jobs.Caps.from_env()
    assert (caps.max_epochs, caps.max_train_images) == (3, 1000)
    monkeypatch.setenv("FMNIST_MAX_EPOCHS", "lots")
    assert jobs.Caps.from_env().max_epochs == 100  # unreadable: the default, not a crash


def test_plan_clamps_to_caps_and_says_so():
    cfgs, notes = jobs.plan(["simple", "sa"], 50, 3e-4, 64, ["hflip"], 55_000, 1, jobs.Caps(5, 2000))
    assert [c.arch for c in cfgs] == ["simple", "sa"]
    assert all(c.epochs == 5 and c.limit == 2000 and c.augment == ("hflip",) and c.seed == 1 for c in cfgs)
    assert any("epochs capped" in n for n in notes) and any("images capped" in n for n in notes)
    full, notes = jobs.plan(["gated"], 2, 3e-4, 64, [], 55_000, 0, jobs.Caps(100, 55_000))
    assert full[0].limit is None and notes == []
    assert full[0].widths == (32, 64, 128)  # the default width
    wide, _ = jobs.plan(["sa"], 2, 3e-4, 64, [], 1000, 0, jobs.Caps(100, 55_000), "64-128-256")
    assert wide[0].widths == (64, 128, 256)


def test_plan_refuses_bad_values():
    with pytest.raises(ValueError, match="learning rate"):
        jobs.plan(["simple"], 1, 5.0, 64, [], 1000, 0)
    with pytest.raises(ValueError, match="batch size"):
        jobs.plan(["simple"], 1, 3e-4, 7, [], 1000, 0)
    with pytest.raises(ValueError, match="model width"):
        jobs.plan(["simple"], 1, 3e-4, 64, [], 1000, 0, widths="512-1024-2048")


def test_stop_flags_are_per_session():
    a = jobs.stop_flag("alice")
    b = jobs.stop_flag("bob")
    assert jobs.request_stop("alice") and a.is_set() and not b.is_set()
    jobs.release("alice")
    assert not jobs.request_stop("alice")
    jobs.release("bob")


def test_output_path_stays_in_the_app_folder():
    p = jobs.output_path("../../etc/passwd", "simple-1")
    assert p.resolve().is_relative_to(jobs.OUTPUT_DIR.resolve())
    assert "checkpoints" not in str(p)


def test_run_job_trains_each_config_and_saves_outside_checkpoints(dataset, tmp_path, monkeypatch):
    import threading

    import fmnist
    from fmnist.checkpoints import CHECKPOINT_DIR

    monkeypatch.setattr(jobs, "OUTPUT_DIR", tmp_path)
    cfgs, _ = jobs.plan(["simple", "gated"], 2, 3e-4, 64, [], 200, 0, jobs.Caps(100, 55_000), "64-128-256")
    cfgs = [fmnist.TrainConfig(**{**c.to_dict(), "val_size": 500}) for c in cfgs]
    events = list(jobs.run_job(cfgs, dataset, "alice", threading.Event(), min_interval_s=0))
    kinds = [k for k, *_ in events]
    assert kinds.count("epoch") == 4 and kinds.count("model") == 2 and "step" in kinds
    state = events[-1][3]
    assert [r[:2] for r in state.rows] == [["simple", 1], ["simple", 2], ["gated", 1], ["gated", 2]]
    assert [len(h) for h in state.histories.values()] == [2, 2]
    assert [r.config.arch for _, r in state.results] == ["simple", "gated"]
    for f in state.files:
        assert Path(f).is_relative_to(tmp_path) and not Path(f).is_relative_to(CHECKPOINT_DIR)
        model = fmnist.load_model(f)
        assert model.arch in ("simple", "gated") and model.widths == (64, 128, 256)  # the width asked for
    fractions = [frac for kind, frac, _, _ in events if kind != "step"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0  # one bar for the whole job
    assert [frac for kind, frac, _, _ in events if kind == "model"] == [0.5, 1.0]


def test_run_job_stop_keeps_a_partial_model_and_skips_the_rest(dataset, tmp_path, monkeypatch):
    import threading

    import fmnist

    monkeypatch.setattr(jobs, "OUTPUT_DIR", tmp_path)
    stop = threading.Event()
    cfgs = [fmnist.TrainConfig(arch=a, epochs=50, limit=2000, val_size=500) for a in ("sa", "simple")]
    results = []
    for kind, _, text, state in jobs.run_job(cfgs, dataset, "bob", stop, min_interval_s=0):
        if kind == "step":
            stop.set()
        if kind == "model":
            results = state.results
    assert len(results) == 1                       # simple never started
    name, result = results[0]
    assert result.status == "stopped" and "partial" in result.label and "(stopped)" in name
    assert len(state.files) == 1 and Path(state.files[0]).exists()
