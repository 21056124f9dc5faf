"""The app's figures and tables, built from checkpoint metadata: what they show must match the data."""
import re

import numpy as np
import pytest

import fmnist
from fmnist.inference import ModelZoo
from fmnist.models import count_parameters, create_model
from fmnist.reference import STUDY, STUDY_ACCURACY
from fmnist.views import (SEED_STUDY, confusion_figure, curves_figure, drawing_example_paths, load_seed_study,
                          metrics_markdown, models_markdown, progress_html, results_markdown, seed_study_markdown)


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


def _run(seed, acc, minutes=None):
    return {"seed": seed, "accuracy": acc, "macro_f1": acc - 0.001, "epochs": 30 + seed, "budget_s": 600.0,
            "widths": [32, 64, 128], "device": "cpu", "minutes_to_level": minutes,
            "epoch_to_level": None if minutes is None else 20}


def test_seed_study_markdown_gives_mean_spread_and_the_tests_between_architectures():
    study = {"level": 0.893, "made_with": "python tools/train_release.py --out runs/x",
             "runs": {"simple": [_run(0, 0.90, 7.5), _run(1, 0.91, 7.0), _run(2, 0.92, 6.5)],
                      "sa": [_run(0, 0.86), _run(1, 0.87), _run(2, 0.88, 9.9)],
                      "gated": [_run(0, 0.895), _run(1, 0.905), _run(2, 0.915)]}}
    text = seed_study_markdown(study)
    assert "(10 minutes of training each, validation included, one run at a time, on cpu) at widths 32-64-128" in text
    assert "with 3 or more seeds" in text and "`python tools/train_release.py --out runs/x`" in text
    simple_row = next(line for line in text.splitlines() if line.startswith("| simple |"))
    assert "| 0, 1, 2 | 0.9100 ± 0.0100 | 0.9090 ± 0.0100 |" in simple_row
    assert "0.9000 (30 ep), 0.9100 (31 ep), 0.9200 (32 ep)" in simple_row and "7.5 (epoch 20)" in simple_row
    sa_row = next(line for line in text.splitlines() if line.startswith("| sa |"))
    assert sa_row.count("not reached") == 2
    pairs = re.findall(r"^- (\w+) vs (\w+): (.*)$", text, flags=re.M)
    verdicts = {(a, b): v for a, b, v in pairs}
    assert verdicts["simple", "sa"].startswith("simple is better by 0.0400")  # 4 sd apart: p ~ 0.01
    assert "within the seed-to-seed spread" in verdicts["simple", "gated"]  # 0.005 apart, sd 0.01
    assert "These are 3 tests between the same runs" in text
    assert "No seed runs were found" in seed_study_markdown({"runs": {"simple": [], "sa": []}})


def test_metrics_markdown_appends_the_seed_study_and_the_package_ships_one(zoo, tmp_path):
    assert load_seed_study(tmp_path / "missing.json") is None
    for bad in ("{not json", "[]", '{"runs": [1]}', '{"runs": {"simple": []}}', '{"runs": {"simple": [{"seed": 0, "accuracy": "high"}]}}'):
        (tmp_path / "bad.json").write_text(bad)
        assert load_seed_study(tmp_path / "bad.json") is None, bad
    study = load_seed_study()
    assert study is not None, f"{SEED_STUDY} missing: python tools/results.py --seeds <folder> writes it"
    # the seed study compares at least 3 seeds per architecture under one budget
    assert set(study["runs"]) == set(fmnist.list_models())
    assert all(len(runs) >= 3 for runs in study["runs"].values())
    assert len({r["budget_s"] for runs in study["runs"].values() for r in runs}) == 1
    text = metrics_markdown(zoo.meta, study)
    assert text.startswith(metrics_markdown(zoo.meta)) and "Several seeds under the same budget" in text


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


def test_drawing_models_are_listed_beside_the_study_models_with_both_benchmarks(zoo, tmp_path):
    from fmnist.views import drawing_models_markdown, load_drawing_benchmark

    drawing_zoo = ModelZoo.for_drawings()
    bench = load_drawing_benchmark()
    assert bench is not None, "fmnist/assets/drawing_benchmark.json is shipped (python bench/drawings.py --asset)"
    text = drawing_models_markdown(zoo.meta, drawing_zoo.meta, bench)
    for name in fmnist.list_models():
        row = next(line for line in text.splitlines() if line.startswith(f"| {name} |"))
        assert f"{zoo.meta[name]['test_metrics']['accuracy']:.4f}" in row
        assert f"{drawing_zoo.meta[name]['test_metrics']['accuracy']:.4f}" in row
        assert f"{bench['drawings']['accuracy'][name]['sketchpad']:.1%}" in row  # 89.5% must not read as 90%
    assert "departs from the study" in text and "horizontal flips only" in text
    assert all(m["recipe"] in text for m in drawing_zoo.meta.values())  # each model's own recipe, not one for all
    one = {"recipe": "recipe one", "test_metrics": {"accuracy": 0.9}}
    two = drawing_models_markdown({}, {"a": one, "b": one, "c": {**one, "recipe": "recipe two"}}, None)
    assert "Drawing-aware recipes:\n- a, b: recipe one.\n- c: recipe two." in two
    # a damaged or wrong-shaped benchmark file is ignored: the table shows dashes, the tab still builds
    for bad in ("{", '{"study": 1}', '{"study": {"accuracy": {"simple": {"sketchpad": "x"}}}, "drawings": {}}'):
        (tmp_path / "b.json").write_text(bad)
        assert load_drawing_benchmark(tmp_path / "b.json") is None
    assert "| simple |" in drawing_models_markdown(zoo.meta, drawing_zoo.meta, None)


def test_shipped_drawing_models_carry_their_recipe_and_calibration():
    drawing_zoo = ModelZoo.for_drawings()
    assert drawing_zoo.unavailable == {} and list(drawing_zoo.models) == fmnist.list_models()
    for name, meta in drawing_zoo.meta.items():
        assert meta["config"]["drawings"] > 0 and "hflip" in meta["config"]["augment"]
        assert not {"vflip", "rotate90"} & set(meta["config"]["augment"])  # upright: no vertical flips or turns
        assert "upright" in meta["recipe"]
        cal = meta["calibration"]
        assert cal["with_drawings"] and cal["nll_after"] < cal["nll_before"]
        assert drawing_zoo.temperature[name] == pytest.approx(cal["temperature"])


def test_the_drawing_examples_cover_every_class_and_are_named_right():
    """The Sketch tab's drawing examples (tools/drawing_examples.py): one per class, in class order, and
    each named right by all three drawing-aware models, so a visitor who clicks one sees it work."""
    paths = drawing_example_paths()
    assert len(paths) == len(fmnist.CLASSES)
    drawing_zoo = ModelZoo.for_drawings()
    for label, path in enumerate(paths):
        c = drawing_zoo.compare(open(path, "rb").read(), explain=False)
        assert c.prepared.drawing, path
        assert {p.top for p in c.predictions.values()} == {fmnist.CLASSES[label]}, (path, c.verdict)
        assert c.looks_like_a_garment, (path, c.verdict)
