"""Teach it (fmnist.teach, jobs.serve_teach): examples, their variants, a fine-tune of the visitor's own
copies that leaves the shipped models untouched, the before/after report, and the training queue."""
import threading

import numpy as np
import pytest
import torch

from fmnist import jobs, teach, trainqueue
from fmnist.models import create_model


def _examples(n=3, label=4):
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        img = np.zeros((28, 28), np.uint8)
        img[4:24, 8:20] = 255
        img[rng.integers(5, 20), 10:18] = 0
        out = teach.add_example(out, img, label)
    return out


def test_examples_are_bounded_and_checked():
    ex = []
    for i in range(teach.MAX_EXAMPLES + 3):
        ex = teach.add_example(ex, np.full((28, 28), i, np.uint8), i % 10)
    assert len(ex) == teach.MAX_EXAMPLES and ex[0].image[0, 0] == 3   # the oldest went first
    with pytest.raises(ValueError, match="class"):
        teach.add_example([], np.zeros((28, 28), np.uint8), 10)
    with pytest.raises(ValueError, match="28x28"):
        teach.add_example([], np.zeros((56, 56), np.uint8), 1)


def test_variants_keep_shape_and_range_and_repeat_for_a_seed():
    x = torch.from_numpy(_examples(2)[0].image.astype(np.float32) / 255)[None, None].repeat(2, 1, 1, 1)
    a = teach.variants(x, 5, torch.Generator().manual_seed(1))
    b = teach.variants(x, 5, torch.Generator().manual_seed(1))
    assert a.shape == (10, 1, 28, 28) and a.min() >= 0 and a.max() <= 1 and torch.equal(a, b)
    assert not torch.equal(a[0], a[1])   # the variants differ


def _tiny_models():
    torch.manual_seed(0)
    return {name: create_model(name, widths=(8, 16, 32)).eval() for name in ("simple", "gated")}


def _replay_and_check():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (64,), generator=g)
    return (x, y), (x[:32], y[:32])


def test_teaching_changes_copies_only_and_reports_before_and_after():
    models = _tiny_models()
    before = {n: {k: v.clone() for k, v in m.state_dict().items()} for n, m in models.items()}
    replay, check = _replay_and_check()
    events = list(teach.fine_tune(models, _examples(), replay, check, steps=4, seed=0))
    kinds = [e["event"] for e in events]
    assert kinds.count("step") == 8 and kinds.count("model") == 2 and kinds[-1] == "end"
    taught, report = events[-1]["models"], events[-1]["report"]
    for n, m in models.items():   # the shipped models are never changed
        assert all(torch.equal(v, before[n][k]) for k, v in m.state_dict().items())
        assert taught[n] is not m
        changed = [k for k, v in taught[n].state_dict().items() if v.is_floating_point() and not torch.equal(v, before[n][k])]
        assert changed and all(k.startswith(("stages.2", "head")) for k in changed)   # only the last stage learns
        assert 0 <= report.own_after[n] <= 1 and 0 <= report.check_after[n] <= 1
    text = teach.report_markdown(report, 3)
    assert "your examples" in text and "Fashion-MNIST check" in text
    with pytest.raises(ValueError, match="at least one example"):
        next(teach.fine_tune(models, [], replay, check))


def test_a_stopped_teaching_returns_what_it_has():
    replay, check = _replay_and_check()
    stop = threading.Event()
    stop.set()
    end = list(teach.fine_tune(_tiny_models(), _examples(), replay, check, steps=50, stop=stop))[-1]
    assert end["event"] == "end" and set(end["models"]) == {"simple", "gated"}


def test_a_second_visitor_teaching_waits_in_the_queue_with_their_place(dataset):
    queue = trainqueue.TrainQueue(capacity=3)
    first = queue.join(30, "alice", "10.0.0.1")
    assert queue.wait_turn(first, 0.1)          # alice's job runs
    bob = jobs.serve_teach(_tiny_models(), _examples(), dataset, "bob", "10.0.0.2", queue=queue, steps=2)
    kind, _, text, result = next(bob)
    assert kind == "wait" and "number 1 in the queue" in text and result is None
    queue.leave(first)                          # alice is done: bob's turn
    rest = list(bob)
    assert rest[-1][0] == "done" and set(rest[-1][3]["models"]) == {"simple", "gated"}
    assert any(k == "step" and "Teaching your" in t for k, _, t, _ in rest)
    assert not queue.busy()
