"""The app's figures and tables, built from checkpoint metadata: what they show must match the data."""
import re

import numpy as np
import pytest

import fmnist
from fmnist.inference import ModelZoo
from fmnist.models import count_parameters, create_model
from fmnist.reference import STUDY, STUDY_ACCURACY
from fmnist.views import (confusion_figure, curves_figure, metrics_markdown, models_markdown, progress_html,
                          results_markdown)


@pytest.fixture(scope="module")
def zoo():
    return ModelZoo()


def test_metrics_markdown_shows_ours_beside_the_study_and_all_mcnemar_pairs(zoo):
    text = metrics_markdown(zoo.meta)
    for name, meta in zoo.meta.items():
        acc = meta["test_metrics"]["accuracy"]
        # the accuracy row of the per-class table: ours, then the study's in brackets
        assert f"{acc:.4f} ({STUDY_ACCURACY[name]:.4f})" in text
    assert f"({STUDY['gated']['Coat']['f1']:.3f})" in text
    pairs = re.findall(r"^- (\w+) vs (\w+):", text, flags=re.M)
    assert sorted(pairs) == sorted([("simple", "sa"), ("simple", "gated"), ("sa", "gated")])
    assert all(re.search(r"p [=<] \d", line) for line in text.splitlines() if line.startswith("- "))


def test_metrics_markdown_without_metrics_says_so():
    assert "No test metrics" in metrics_markdown({"simple": {"config": {}}})


def test_models_markdown_states_real_sizes():
    models = {n: create_model(n) for n in fmnist.list_models()}
    text = models_markdown(models)
    for name, m in models.items():
        assert f"| {count_parameters(m):,} |" in text and f"**{name}**" in text
    assert "1807.06521" in text and "1612.08083" in text and "32-64-128" in text


def test_curves_figure_overlays_runs_with_their_epochs():
    hist = [{"epoch": e, "train_loss": 1 / e, "train_acc": 0.5 + e / 10, "val_loss": 1.1 / e, "val_acc": 0.4 + e / 10}
            for e in (1, 2, 3)]
    fig = curves_figure({"simple-1": hist, "sa-2": hist[:2]})
    assert len(fig.data) == 4 + 4  # train and validation, loss and accuracy, per run
    val_acc = [t for t in fig.data if t.name == "sa-2 validation" and t.xaxis == "x2"][0]
    assert list(val_acc.x) == [1, 2] and np.allclose(val_acc.y, [0.5, 0.6])
    assert fig.layout.xaxis.dtick == 1 and fig.layout.xaxis2.dtick == 1  # whole epochs on a short run
    long_run = [dict(hist[0], epoch=e) for e in range(1, 61)]
    assert curves_figure({"simple-1": long_run}).layout.xaxis.dtick is None  # plotly's own ticks


def test_confusion_figure_shows_the_matrix_with_class_names():
    cm = np.arange(100).reshape(10, 10)
    fig = confusion_figure(cm.tolist(), "simple")
    assert np.array_equal(np.asarray(fig.data[0].z), cm)
    assert tuple(fig.data[0].x) == fmnist.CLASSES and tuple(fig.data[0].y) == fmnist.CLASSES


def test_progress_html_clamps_and_escapes():
    assert "width:100.0%" in progress_html(3.0, "done") and "width:0.0%" in progress_html(-1, "x")
    html = progress_html(0.5, "<script>alert(1)</script>\nsecond line")
    assert "<script>" not in html and "&lt;script&gt;" in html and "<br>second line" in html


def test_results_markdown_reports_the_run(tiny_result):
    text = results_markdown([("sa-1 (completed)", tiny_result)], ["epochs capped at 2"])
    assert f"{tiny_result.test_metrics['accuracy']:.4f}" in text
    assert "Per class" in text and "Ankle boot" in text and "epochs capped at 2" in text
    assert "32-64-128 channels per stage" in text  # the width it was trained at
    assert results_markdown([], []) == ""
