"""Server-side training rules: caps from the environment, plans, stop flags, output folder."""
import re
import time
from pathlib import Path

import pytest

from fmnist import caps, jobs, speed, trainqueue


def test_caps_from_environment(monkeypatch):
    monkeypatch.setenv("FMNIST_MAX_EPOCHS", "3")
    monkeypatch.setenv("FMNIST_MAX_TRAIN_IMAGES", "1000")
    limits = caps.Caps.from_env()
    assert (limits.max_epochs, limits.max_train_images) == (3, 1000)
    monkeypatch.setenv("FMNIST_MAX_EPOCHS", "lots")
    assert caps.Caps.from_env().max_epochs == 1  # unreadable: the strictest value, never a wider default


def test_plan_clamps_to_caps_and_says_so():
    cfgs, notes = caps.plan(dict(arch=["simple", "sa"], epochs=50, lr=3e-4, batch_size=64, augment=["hflip"], limit=55_000, seed=1), caps.Caps(5, 2000))
    assert [c.arch for c in cfgs] == ["simple", "sa"]
    assert all(c.epochs == 5 and c.limit == 2000 and c.augment == ("hflip",) and c.seed == 1 for c in cfgs)
    assert any("epochs capped" in n for n in notes) and any("images capped" in n for n in notes)
    full, notes = caps.plan(dict(arch=["gated"], epochs=2, lr=3e-4, batch_size=64, augment=[], limit=55_000, seed=0), caps.Caps(100, 55_000))
    assert full[0].limit is None and notes == []
    assert full[0].widths == (32, 64, 128)  # the default width
    wide, _ = caps.plan(dict(arch=["sa"], epochs=2, lr=3e-4, batch_size=64, augment=[], limit=1000, seed=0, widths="64-128-256"), caps.Caps(100, 55_000))
    assert wide[0].widths == (64, 128, 256)


def test_plan_refuses_bad_values():
    with pytest.raises(ValueError, match="learning rate"):
        caps.plan(dict(arch=["simple"], epochs=1, lr=5.0, batch_size=64, augment=[], limit=1000, seed=0))
    with pytest.raises(ValueError, match="batch size"):
        caps.plan(dict(arch=["simple"], epochs=1, lr=3e-4, batch_size=7, augment=[], limit=1000, seed=0))
    with pytest.raises(ValueError, match="model width"):
        caps.plan(dict(arch=["simple"], epochs=1, lr=3e-4, batch_size=64, augment=[], limit=1000, seed=0, widths="512-1024-2048"))


def test_stop_flags_are_per_job_and_the_queue_is_fair():
    q = trainqueue.TrainQueue(capacity=3)
    a = q.join(10, "alice", "10.0.0.1")
    b = q.join(10, "bob", "10.0.0.2")
    with pytest.raises(trainqueue.Refused, match="already have"):
        q.join(10, "alice", "10.0.0.9")
    with pytest.raises(trainqueue.Refused, match="network address"):
        q.join(10, "mallory", "10.0.0.2")
    q.join(10, "carol", "10.0.0.3")
    with pytest.raises(trainqueue.Refused, match="queue is full"):
        q.join(10, "dave", "10.0.0.4")
    assert q.request_stop("alice") and a.stop.is_set() and not b.stop.is_set()
    q.leave(a)
    assert not q.request_stop("alice")
    assert q.place(b) == 0


def test_the_client_address_comes_from_the_trusted_proxy_only():
    assert trainqueue.client_address("127.0.0.1", "6.6.6.6", 0) == "127.0.0.1"      # no proxy: the header is ignored
    assert trainqueue.client_address("10.1.1.1", "6.6.6.6, 203.0.113.5", 1) == "203.0.113.5"  # the proxy's entry
    assert trainqueue.client_address("10.1.1.1", "203.0.113.5", 1) == "203.0.113.5"
    assert trainqueue.client_address("10.1.1.1", None, 1) == "10.1.1.1"


def test_output_path_stays_in_the_app_folder():
    p = jobs.output_path("../../etc/passwd", "simple-1")
    assert p.resolve().is_relative_to(jobs.OUTPUT_DIR.resolve())
    assert "checkpoints" not in str(p)


def test_run_job_trains_each_config_and_saves_outside_checkpoints(dataset, tmp_path, monkeypatch):
    import threading

    import fmnist
    from fmnist.checkpoints import CHECKPOINT_DIR

    monkeypatch.setattr(jobs, "OUTPUT_DIR", tmp_path)
    cfgs, _ = caps.plan(dict(arch=["simple", "gated"], epochs=2, lr=3e-4, batch_size=64, augment=[], limit=200, seed=0, widths="64-128-256"), caps.Caps(100, 55_000))
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


def test_caps_include_a_time_cap_per_job(monkeypatch):
    monkeypatch.delenv("FMNIST_MAX_TRAIN_MINUTES", raising=False)
    assert caps.Caps.from_env().max_minutes == caps.MAX_MINUTES
    monkeypatch.setenv("FMNIST_MAX_TRAIN_MINUTES", "2.5")
    assert caps.Caps.from_env().max_minutes == 2.5
    for bad in ("soon", "-1", "nan"):
        monkeypatch.setenv("FMNIST_MAX_TRAIN_MINUTES", bad)
        assert caps.Caps.from_env().max_minutes == 0.1  # unreadable: the strictest, never the default


def test_plan_carries_schedule_budget_and_upright_phase():
    cfgs, _ = caps.plan(dict(arch=["sa"], epochs=20, lr=3e-3, batch_size=64, augment=["hflip", "vflip", "rotate90"], limit=55_000, seed=0, schedule="onecycle", time_budget_s=1.5, final_phase=0.5), caps.Caps(100, 55_000))
    c = cfgs[0]
    assert (c.schedule, c.time_budget_s, c.final_phase, c.val_checks) == ("onecycle", 90.0, 0.5, caps.VAL_CHECKS)
    with pytest.raises(ValueError, match="schedule"):
        caps.plan(dict(arch=["sa"], epochs=1, lr=3e-4, batch_size=64, augment=[], limit=1000, seed=0, schedule="exponential"))
    with pytest.raises(ValueError, match="upright"):
        caps.plan(dict(arch=["sa"], epochs=1, lr=3e-4, batch_size=64, augment=[], limit=1000, seed=0, final_phase=1.0))


def test_the_time_cap_ends_a_job_cleanly_with_a_labelled_partial_model(dataset, tmp_path, monkeypatch):
    """A job longer than the server's cap ends at the cap like a stopped one: the model is kept, saved
    and labelled as ended by the cap; both runs of the job share the cap."""
    import threading

    import fmnist

    monkeypatch.setattr(jobs, "OUTPUT_DIR", tmp_path)
    cfgs, _ = caps.plan(dict(arch=["simple", "sa"], epochs=100, lr=3e-4, batch_size=64, augment=[], limit=55_000, seed=0), caps.Caps(100, 55_000, max_minutes=0.1))
    cfgs = [fmnist.TrainConfig(**{**c.to_dict(), "val_size": 500, "evaluate_test": False}) for c in cfgs]
    t0 = time.monotonic()
    events = list(jobs.run_job(cfgs, dataset, "carol", threading.Event(), caps=caps.Caps(100, 55_000, 0.1)))
    assert time.monotonic() - t0 < 60  # 6 seconds of training, then saving and a final validation each
    state = events[-1][3]
    assert [r.status for _, r in state.results] == ["time_cap", "time_cap"]
    for (name, result), path in zip(state.results, state.files):
        assert "(time_cap)" in name and "time cap" in result.label and "partial" in result.label
        assert result.train_time_s < 4.5  # its share: 3 of the job's 6 seconds
        assert fmnist.load_model(path).arch == result.config.arch  # kept and saved


def test_live_curves_move_at_least_every_n_steps(dataset, tmp_path, monkeypatch):
    """The job's updates for the chart come from step events: with no time throttle at all, at least
    one per `update_every_steps` steps, and the smoothed series grows with each."""
    import threading

    import fmnist

    monkeypatch.setattr(jobs, "OUTPUT_DIR", tmp_path)
    cfgs, _ = caps.plan(dict(arch=["simple"], epochs=1, lr=3e-3, batch_size=16, augment=[], limit=3000, seed=0), caps.Caps(100, 55_000))
    cfgs = [fmnist.TrainConfig(**{**cfgs[0].to_dict(), "val_size": 500, "evaluate_test": False})]
    steps, sizes = [], []
    for kind, _, text, state in jobs.run_job(cfgs, dataset, "dave", threading.Event(), min_interval_s=1e9,
                                             update_every_steps=20):
        if kind == "step":
            steps.append(int(re.search(r"step (\d+)/", text).group(1)))
            sizes.append(len(next(iter(state.live.values()))["loss"]))
    total = 3000 // 16 + 1
    assert len(steps) >= total // 20 - 1 and steps[0] <= 20
    assert max(b - a for a, b in zip(steps, steps[1:])) <= 20 + caps.LOG_EVERY
    assert sizes == sorted(sizes) and sizes[-1] >= total // caps.LOG_EVERY - 1
    live = next(iter(state.live.values()))
    assert len(live["check_x"]) == caps.VAL_CHECKS and len(live["val_x"]) == 1  # looks between epochs, one epoch


def test_queue_gives_places_waits_and_turns():
    q = trainqueue.TrainQueue()
    a, b, c = q.join(100, "a", "1"), q.join(60, "b", "2"), q.join(30, "c", "3")
    assert q.wait_turn(a, 0) and not q.wait_turn(b, 0)
    assert (q.place(b), q.place(c)) == (1, 2)
    q.update(a, 40)  # the running job's own ETA
    assert q.wait_s(b) == 40 and q.wait_s(c) == 100
    q.leave(b)  # gave up waiting: c moves up
    assert q.place(c) == 1 and q.wait_s(c) == 40
    q.leave(a)
    assert q.wait_turn(c, 1) and q.place(c) == 0
    q.leave(c)
    assert not q.busy()


def test_estimate_uses_measured_speed_and_the_cap(monkeypatch):
    import fmnist

    monkeypatch.setattr(speed, "_SPEED", {})
    speed.record_speed("simple", (32, 64, 128), 1000.0)
    cfg = fmnist.TrainConfig(arch="simple", epochs=2, limit=10_000, val_size=4000)
    seconds, used = speed.estimate_seconds([cfg], caps.Caps(100, 55_000, 10), measure=False)
    assert seconds == pytest.approx(2 * (10 + 1)) and "1,000 img/s measured here" in used[0]
    cfg = fmnist.TrainConfig(arch="simple", epochs=100)
    assert speed.estimate_seconds([cfg], caps.Caps(100, 55_000, 10), measure=False)[0] == 600  # the cap
