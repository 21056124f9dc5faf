import threading

import pytest
import torch

import fmnist
from fmnist.training import TrainConfig, first_reaching, fit, lr_factor
from fmnist.checkpoints import read_metadata


def _cfg(**kw):
    base = dict(arch="simple", epochs=2, limit=600, val_size=1000, log_every=2, evaluate_test=False)
    return TrainConfig(**{**base, **kw})


def test_defaults_are_the_study_recipe():
    c = TrainConfig()
    assert (c.lr, c.batch_size, c.epochs, c.augment, c.label_smoothing) == (3e-4, 64, 100, "seed", 0.0)


def test_fit_emits_events_and_lowers_the_loss(tiny_result, small_split):
    events = list(fit(_cfg(arch="gated", epochs=3, augment="none"), small_split))
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("epoch") == 3 and "step" in kinds
    step = next(e for e in events if e["event"] == "step")
    for key in ("loss", "acc", "lr", "images_per_sec", "eta_s", "progress", "epoch", "step"):
        assert key in step
    epochs = [e for e in events if e["event"] == "epoch"]
    for key in ("train_loss", "val_loss", "val_acc", "lr", "images_per_sec", "eta_s"):
        assert key in epochs[0]
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert epochs[-1]["val_acc"] > 0.3  # well above chance (0.1) after 3 short epochs
    result = events[-1]["result"]
    assert result.status == "completed" and len(result.history) == 3
    # the shared fixture ran with test evaluation on
    assert tiny_result.test_metrics["n"] == 10_000 and 0.1 < tiny_result.test_metrics["accuracy"] <= 1


def test_stop_yields_a_valid_labelled_partial_result(small_split):
    stop = threading.Event()
    events = []
    for e in fit(_cfg(epochs=5), small_split, stop=stop):
        events.append(e)
        if e["event"] == "epoch":
            stop.set()  # stop during epoch 2
    end = events[-1]
    assert end["event"] == "end" and end["status"] == "stopped"
    r = end["result"]
    assert "partial" in r.label and len(r.history) == 1
    assert torch.isfinite(r.model(torch.rand(2, 1, 28, 28))).all()
    assert 0 <= r.val_metrics["val_acc"] <= 1


def test_stop_before_the_first_epoch_still_gives_a_model(small_split):
    stop = threading.Event()
    stop.set()
    r = list(fit(_cfg(), small_split, stop=stop))[-1]["result"]
    assert r.status == "stopped" and r.history == [] and r.steps == 0
    assert r.model(torch.rand(1, 1, 28, 28)).shape == (1, 10)


def test_same_seed_same_run_on_cpu(small_split):
    a = fmnist.train(_cfg(epochs=1, bf16=False), small_split)
    b = fmnist.train(_cfg(epochs=1, bf16=False), small_split)
    c = fmnist.train(_cfg(epochs=1, bf16=False, seed=1), small_split)
    assert a.history[0]["train_loss"] == b.history[0]["train_loss"]
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(va, vb), k
    assert a.history[0]["train_loss"] != c.history[0]["train_loss"]


def test_resume_continues_the_history(small_split, tmp_path):
    first = fmnist.train(_cfg(epochs=1), small_split)
    path = fmnist.save_result(first, tmp_path / "first.safetensors")
    resumed = fmnist.train(_cfg(epochs=2, resume=str(path)), small_split)
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    assert resumed.history[0] == first.history[0]


def test_warm_restart_runs_a_fresh_schedule_and_counts_all_training_time(small_split, tmp_path):
    first = fmnist.train(_cfg(epochs=2, schedule="cosine"), small_split)
    path = fmnist.save_result(first, tmp_path / "first.safetensors")
    cont = fmnist.train(_cfg(epochs=4, schedule="cosine", resume=str(path)), small_split)
    fresh = fmnist.train(_cfg(epochs=4, schedule="cosine", resume=str(path), restart_schedule=True), small_split)
    # continuing: epoch 3 of 4 starts half-way down the cosine; restarting: at the top again
    assert cont.history[2]["lr"] < 0.6 * fresh.history[2]["lr"]
    assert fresh.history[2]["lr"] > first.history[0]["lr"] * 0.7
    assert fresh.train_time_s > first.train_time_s and fresh.history[2]["elapsed_s"] > first.history[1]["elapsed_s"]
    # the checkpoint says what it was trained with before the restart
    saved = fmnist.save_result(fresh, tmp_path / "fresh.safetensors")
    previous = read_metadata(saved)["previous_runs"]
    assert [(r["epochs"], r["config"]["epochs"]) for r in previous] == [(2, 2)]


def test_a_round_with_other_data_keeps_its_own_weights_when_asked(small_split, tmp_path):
    """Resumed from a model that scored higher than this round ever does: by default the whole history's
    best (the earlier weights) is kept; with best_of_this_run the round's own best epoch is."""
    first = fmnist.train(_cfg(epochs=2, lr=3e-3), small_split)
    path = fmnist.save_result(first, tmp_path / "first.safetensors")
    ruin = dict(epochs=3, lr=5.0, weight_decay=0.0, resume=str(path), restart_schedule=True)  # spoils the weights
    kept = fmnist.train(_cfg(**ruin), small_split)
    own = fmnist.train(_cfg(**ruin, best_of_this_run=True), small_split)
    assert kept.history[2]["val_acc"] < max(h["val_acc"] for h in first.history)
    assert kept.best_epoch == first.best_epoch
    assert all(torch.equal(a, b) for a, b in zip(kept.model.state_dict().values(), first.model.state_dict().values()))
    assert own.best_epoch == 3 and len(own.history) == 3
    assert not all(torch.equal(a, b) for a, b in zip(own.model.state_dict().values(), first.model.state_dict().values()))


def test_time_budget_ends_training(small_split):
    r = fmnist.train(_cfg(epochs=50, time_budget_s=1.0, schedule="cosine"), small_split)
    assert r.status == "time_budget" and len(r.history) < 50


@pytest.mark.parametrize("arch", ["sa", "gated"])
def test_a_run_with_the_cpu_kernels_returns_plain_modules(arch, small_split):
    """Trained with fused="on" (where the kernels apply), the result is the plain architecture: the same
    module types and state-dict keys as a fresh model, and it answers as the model saved from it does."""
    from fmnist import accel

    events = list(fit(_cfg(arch=arch, epochs=1, fused="on"), small_split))
    assert events[0]["fused"] == accel.use_kernels("on", "cpu", events[0]["bf16"])
    model = events[-1]["result"].model
    fresh = fmnist.create_model(arch)
    assert [type(m) for m in model.modules()] == [type(m) for m in fresh.modules()]
    assert list(model.state_dict()) == list(fresh.state_dict())
    off = next(iter(fit(_cfg(arch=arch, epochs=1, fused="off"), small_split)))
    assert off["fused"] is False


def test_progress_is_one_measure_for_events_and_schedule(small_split):
    """Step events report the run's share of its planned steps, and the learning rate of a cosine run
    at that point is the schedule's value there."""
    cfg = _cfg(epochs=3, schedule="cosine", log_every=1)
    steps = [e for e in fit(cfg, small_split) if e["event"] == "step"]
    total = 3 * steps[0]["steps_per_epoch"]
    for i, e in enumerate(steps):
        assert e["progress"] == pytest.approx((i + 1) / total)
        # the rate a step used was set before it ran, at the progress of the steps before it
        assert e["lr"] == pytest.approx(cfg.lr * lr_factor("cosine", i / total))
    assert steps[-1]["progress"] == pytest.approx(1.0) and steps[-1]["eta_s"] == pytest.approx(0.0)


def test_schedules():
    assert lr_factor("constant", 0.7) == 1.0
    assert lr_factor("cosine", 0.0) == pytest.approx(1.0) and lr_factor("cosine", 1.0) == pytest.approx(0.0)
    assert lr_factor("cosine", 0.5) == pytest.approx(0.5)
    assert lr_factor("onecycle", 0.0) == pytest.approx(1 / 25) and lr_factor("onecycle", 0.3) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="cosine"):
        lr_factor("exp", 0.1)


def test_bf16_is_detected_not_assumed(monkeypatch, small_split):
    from fmnist import hardware

    monkeypatch.setattr(hardware, "cpu_supports_bf16", lambda: False)
    start = next(iter(fit(_cfg(), small_split)))
    assert start["bf16"] is False and start["channels_last"] is False
    with pytest.raises(RuntimeError, match="bf16"):
        next(iter(fit(_cfg(bf16=True), small_split)))


@pytest.mark.parametrize("arch", ["simple", "sa", "gated"])
def test_flat_parameters_train_as_separate_ones_do(arch):
    """AdamW on one buffer that every parameter (and gradient) is a view of: the same weights after a few
    steps as AdamW on the separate tensors (up to the last bit: vectorized and scalar code round
    differently), channels_last weights kept, the EMA's average following the views."""
    import copy

    import torch.nn.functional as F

    from fmnist.models import create_model
    from fmnist.accel import FlatParameters, make_optimizer
    from fmnist.training import WeightEMA

    torch.manual_seed(0)
    start = create_model(arch).to(memory_format=torch.channels_last)
    x, y = torch.rand(4, 16, 1, 28, 28), torch.randint(0, 10, (4, 16))

    def train(flat_buffer: bool):
        model = copy.deepcopy(start)
        flat = FlatParameters(model) if flat_buffer else None
        ema = WeightEMA(model, 0.9)
        opt = make_optimizer(flat or model, 1e-3, 0.05)
        torch.manual_seed(1)  # the same dropout masks on both sides
        for xb, yb in zip(x, y):
            flat.zero_grad() if flat else opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(xb.contiguous(memory_format=torch.channels_last)), yb).backward()
            opt.step()
            ema.update()
        return model, ema, flat

    plain, plain_ema, _ = train(False)
    flat_model, flat_ema, flat = train(True)
    assert FlatParameters.applies(start) and len(flat.param) == sum(p.numel() for p in start.parameters())
    conv = flat_model.stages[1][0][0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and conv.data_ptr() != 0
    assert conv.untyped_storage().data_ptr() == flat.param.untyped_storage().data_ptr()
    for a, b in [(plain, flat_model), (plain_ema.module, flat_ema.module)]:
        for (name, u), v in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.allclose(u.float(), v.float(), rtol=1e-5, atol=1e-7), name
    moved = [p for p in plain.parameters()]
    assert any(not torch.equal(p, q) for p, q in zip(moved, start.parameters()))  # training did move them
    FlatParameters.release(flat_model)
    assert len({p.untyped_storage().data_ptr() for p in flat_model.parameters()}) == len(moved)
    assert all(p.grad is None for p in flat_model.parameters())
    for u, v in zip(plain.state_dict().values(), flat_model.state_dict().values()):
        assert torch.allclose(u.float(), v.float(), rtol=1e-5, atol=1e-7)  # the values stay


@pytest.mark.parametrize("ema", [0.0, 0.99])
def test_a_fitted_model_owns_its_parameters_and_saves(small_split, tmp_path, ema):
    from fmnist.checkpoints import load_checkpoint, save_result

    events = list(fit(_cfg(epochs=1, ema=ema), small_split))
    result = events[-1]["result"]
    params = list(result.model.parameters())
    assert len({p.untyped_storage().data_ptr() for p in params}) == len(params)
    assert all(p.grad is None for p in params)
    path = save_result(result, tmp_path / "m.safetensors")  # safetensors refuses tensors sharing memory
    loaded = load_checkpoint(path).model
    for u, v in zip(result.model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(u, v)


def test_first_reaching_finds_the_first_epoch_at_the_level():
    history = [{"epoch": e, "val_acc": v, "elapsed_s": 10.0 * e} for e, v in ((1, 0.80), (2, 0.893), (3, 0.90))]
    assert first_reaching(history) == (20.0, 2)  # the study's 0.893 by default, reached exactly
    assert first_reaching(history, 0.895) == (30.0, 3)
    assert first_reaching(history, 0.95) == (None, None)


def test_an_upright_final_phase_switches_augmentations_and_restarts_the_schedule(small_split):
    """final_phase: the last share of the run (by progress) trains with final_augment and a fresh cosine
    from final_lr; before it, the main schedule runs over the rest of the run."""
    cfg = _cfg(epochs=2, schedule="onecycle", lr=3e-3, final_phase=0.5, final_lr=1e-3, log_every=1)
    steps = [e for e in fit(cfg, small_split) if e["event"] == "step"]
    total = 2 * steps[0]["steps_per_epoch"]
    phases = [e["phase"] for e in steps]
    first_final = phases.index("final")
    assert set(phases[:first_final]) == {"main"} and set(phases[first_final:]) == {"final"}
    assert first_final == pytest.approx(total / 2, abs=1)
    main_peak = max(e["lr"] for e in steps[:first_final])
    assert main_peak == pytest.approx(3e-3, rel=0.05)  # the one-cycle peak, squeezed into the first half
    assert steps[first_final]["lr"] == pytest.approx(1e-3, rel=0.05) and steps[-1]["lr"] < 1e-4
    with pytest.raises(ValueError, match="final_phase"):
        next(iter(fit(_cfg(final_phase=1.0), small_split)))


def test_val_checks_look_at_a_validation_subset_between_epochs(small_split):
    cfg = _cfg(epochs=1, batch_size=4, limit=600, val_checks=2, val_check_size=200)  # 150 steps an epoch
    events = list(fit(cfg, small_split))
    checks = [e for e in events if e["event"] == "val"]
    assert [c["step"] for c in checks] == [50, 100] and all(c["images"] == 200 for c in checks)
    assert all(0 <= c["val_acc"] <= 1 and c["epoch_float"] < 1 for c in checks)
    assert [e["event"] for e in events].count("epoch") == 1  # the epoch's full validation still happens
