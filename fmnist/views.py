"""Figures and tables for the app, built from checkpoint metadata (no dataset needed): plotly and Markdown."""
from __future__ import annotations

import html
import json
import math
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .data import CLASSES
from .evaluate import compare_groups, compare_pairs, format_interval, study_table
from .models import count_macs, count_parameters
from .reference import STUDY_ACCURACY, STUDY_LEVEL

ASSETS = Path(__file__).resolve().parent / "assets"
SEED_STUDY = ASSETS / "seed_study.json"  # written by tools/results.py --seeds
COLOURS = {"simple": "#1f77b4", "sa": "#d62728", "gated": "#2ca02c"}


def run_colour(name: str, i: int) -> str:
    """A run's colour in the curves: its architecture's ("sa-123456 (completed)" is sa's), else one of
    its own by position."""
    return COLOURS.get(name.split(" ")[0].split("-")[0]) or f"hsl({(i * 97) % 360},60%,45%)"


def load_test_sample() -> dict[str, np.ndarray]:
    """500 test images shipped with the package: indices into the test set, images (N, 28, 28), labels."""
    with np.load(ASSETS / "test_sample.npz") as z:
        return {k: z[k] for k in z.files}


def example_paths() -> list[str]:
    return sorted(str(p) for p in (ASSETS / "examples").glob("*.png"))


MAX_POINTS = 300  # per series in the live chart: a long run keeps the page light


def thin(xs: list, ys: list, limit: int = MAX_POINTS) -> tuple[list, list]:
    """At most about `limit` evenly spaced points of a series, the last one always kept."""
    if len(xs) <= limit:
        return list(xs), list(ys)
    step = math.ceil(len(xs) / limit)
    idx = list(range(0, len(xs) - 1, step)) + [len(xs) - 1]
    return [xs[i] for i in idx], [ys[i] for i in idx]


def live_figure(live: dict[str, dict[str, list]], title: str = "") -> go.Figure:
    """The Train tab's live chart: per run, smoothed training loss and accuracy from the step events
    (dashed), validation after each epoch (solid, markers) and the looks at 1,000 validation images
    between epochs (dots); x in epochs."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"))
    for i, (name, series) in enumerate(live.items()):
        colour = run_colour(name, i)
        for col, key in ((1, "loss"), (2, "acc")):
            x, y = thin(series["x"], series[key])
            fig.add_trace(go.Scatter(x=x, y=y, name=f"{name} train (smoothed)", mode="lines",
                                     line=dict(color=colour, dash="dash"), legendgroup=name,
                                     showlegend=col == 1), row=1, col=col)
            x, y = thin(series["check_x"], series[f"check_{key}"])
            fig.add_trace(go.Scatter(x=x, y=y, name=f"{name} validation (1,000 images)", mode="markers",
                                     marker=dict(color=colour, size=5, opacity=0.6), legendgroup=name,
                                     showlegend=col == 1 and bool(x)), row=1, col=col)
            x, y = thin(series["val_x"], series[f"val_{key}"])
            fig.add_trace(go.Scatter(x=x, y=y, name=f"{name} validation", mode="lines+markers",
                                     line=dict(color=colour), legendgroup=name, showlegend=col == 1 and bool(x)),
                          row=1, col=col)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(height=360, margin=dict(l=40, r=10, t=50, b=40), title=title or None,
                      legend=dict(orientation="h", y=-0.25), uirevision="live")
    return fig


def curves_figure(histories: dict[str, list[dict]], title: str = "") -> go.Figure:
    """Loss and accuracy per epoch, train (dashed) and validation (solid), several runs overlaid."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"))
    for i, (name, hist) in enumerate(histories.items()):
        colour = run_colour(name, i)
        ep = [h["epoch"] for h in hist]
        for col, key in ((1, "loss"), (2, "acc")):
            fig.add_trace(go.Scatter(x=ep, y=[h[f"train_{key}"] for h in hist], name=f"{name} train",
                                     line=dict(color=colour, dash="dash"), legendgroup=name,
                                     showlegend=col == 1, mode="lines+markers"), row=1, col=col)
            fig.add_trace(go.Scatter(x=ep, y=[h[f"val_{key}"] for h in hist], name=f"{name} validation",
                                     line=dict(color=colour), legendgroup=name, showlegend=col == 1,
                                     mode="lines+markers"), row=1, col=col)
    # whole epochs on the axis (a short run would otherwise get ticks at 1.2, 1.4, ...)
    longest = max((h[-1]["epoch"] for h in histories.values() if h), default=0)
    fig.update_xaxes(title_text="epoch", dtick=1 if longest <= 12 else None)
    fig.update_layout(height=360, margin=dict(l=40, r=10, t=50, b=40), title=title or None,
                      legend=dict(orientation="h", y=-0.25))
    return fig


def confusion_figure(confusion: list[list[int]], name: str) -> go.Figure:
    z = np.asarray(confusion)
    fig = go.Figure(go.Heatmap(z=z, x=list(CLASSES), y=list(CLASSES), colorscale="Blues",
                               text=z, texttemplate="%{text}",
                               hovertemplate="true %{y}<br>predicted %{x}<br>%{z} images<extra></extra>"))
    fig.update_layout(title=f"{name}: confusion matrix (rows: true class, columns: predicted)",
                      yaxis=dict(autorange="reversed"), height=520, margin=dict(l=10, r=10, t=50, b=10))
    return fig


def sweep_figure(sweep: dict) -> go.Figure:
    """Probability of the upright answer against rotation angle, one line per model."""
    fig = go.Figure()
    for name, v in sweep.items():
        if name == "angles":
            continue
        fig.add_trace(go.Scatter(x=sweep["angles"], y=v["prob"], name=f"{name}: P({v['class']})",
                                 mode="lines+markers", line=dict(color=COLOURS.get(name)),
                                 text=v["top"], hovertemplate="%{x}°: %{y:.2f}, top: %{text}<extra></extra>"))
    fig.update_layout(height=300, xaxis_title="rotation (degrees)", yaxis_title="probability of upright answer",
                      yaxis=dict(range=[0, 1.02]), margin=dict(l=40, r=10, t=20, b=40),
                      legend=dict(orientation="h", y=-0.3))
    return fig


def models_markdown(models: dict) -> str:
    """What each model is: its class's one-line description, size and cost, and the paper behind it
    (the class's ``paper``)."""
    lines = ["| model | what it is | parameters | multiply-adds / image | paper |", "|---|---|---|---|---|"]
    for name, m in models.items():
        about = (type(m).__doc__ or "").strip().splitlines()[0]
        lines.append(f"| **{name}** ({type(m).__name__}) | {about} | {count_parameters(m):,} | "
                     f"{count_macs(m) / 1e6:.1f} M | {type(m).paper or '-'} |")
    widths = sorted({tuple(m.widths) for m in models.values()})
    shared = " or ".join("-".join(map(str, w)) for w in widths)
    return "\n".join(lines) + (f"\n\nAll share one backbone: three stages at 28, 14 and 7 px with {shared} channels, "
                               "global average pooling, dropout and a linear head; normalization is inside the model.")


def metrics_markdown(meta: dict[str, dict], seeds: dict | None = None) -> str:
    """Study-layout table (ours, study in brackets), intervals and McNemar sentences from checkpoints;
    with seeds (load_seed_study()), the several-seeds comparison of the architectures after them."""
    reports = {n: m["test_metrics"] for n, m in meta.items() if m.get("test_metrics")}
    if not reports:
        return "No test metrics are stored in the checkpoints."
    lines = ["### Per class, in the study's layout: ours (study's published figure)", "", study_table(reports), "",
             "The study printed the same number as precision, recall and F1 in every cell, which real "
             "predictions almost never give; it was most likely per-class accuracy. Ours are computed "
             "with scikit-learn on the 10,000 test images.", "", "### Accuracy and macro-F1, 95% bootstrap intervals", "",
             "| model | accuracy | macro-F1 | study's accuracy | trained |", "|---|---|---|---|---|"]
    for n, r in reports.items():
        cfg = meta[n].get("config", {})
        lines.append(f"| {n} | {format_interval(r['accuracy'], r.get('accuracy_ci95'))} | "
                     f"{format_interval(r['macro_f1'], r.get('macro_f1_ci95'))} | "
                     f"{STUDY_ACCURACY.get(n, float('nan')):.4f} | {len(meta[n].get('history', []))} epochs, "
                     f"{cfg.get('schedule', '?')} lr {cfg.get('lr', '?')}, {meta[n].get('train_time_s', 0) / 60:.0f} min |")
    preds = {n: meta[n].get("test_predictions") for n in reports if meta[n].get("test_predictions")}
    labels = _test_labels()
    if len(preds) > 1 and labels is not None:
        lines += ["", "### Is one model really better? McNemar's test on the paired test predictions", ""]
        pairs, holm = compare_pairs(labels, preds, {n: reports[n]["accuracy"] for n in preds})
        lines += ["- " + line for line in pairs] + (["", holm] if holm else [])
    if seeds:
        lines += ["", seed_study_markdown(seeds)]
    return "\n".join(lines)


def drawing_example_paths() -> list[str]:
    return sorted(str(p) for p in (ASSETS / "drawings").glob("*.png"))


def load_drawing_benchmark(path: Path | None = None) -> dict | None:
    """bench/drawings.py's figures for the study-recipe and the drawing-aware models, or None."""
    path = path or ASSETS / "drawing_benchmark.json"
    try:
        data = json.loads(Path(path).read_text())
        for key in ("study", "drawings"):
            acc = data[key]["accuracy"]
            if not all(isinstance(v, (int, float)) for paths in acc.values() for v in paths.values()):
                return None
        return data
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _bench_cell(res: dict | None, name: str) -> str:
    acc = (res or {}).get("accuracy", {}).get(name)
    if not acc:
        return "–"
    uploads = [v for k, v in acc.items() if k != "sketchpad"]
    return f"{acc.get('sketchpad', float('nan')):.1%} / {np.mean(uploads):.1%}"


def drawing_models_markdown(study_meta: dict[str, dict], drawing_meta: dict[str, dict], bench: dict | None) -> str:
    """The drawing-aware models beside the study-recipe ones: test accuracy and drawing benchmark."""
    lines = ["### The models that answer in the Sketch tab: drawing-aware", "",
             "The table above compares models trained with the study's recipe throughout. The Sketch tab and "
             "/predict use the same models fine-tuned on drawings as well: their recipe departs from the "
             "study's (see below), so they are listed here, not compared above.", "",
             "| model | test accuracy: study recipe | drawing-aware | drawings named right, sketchpad / uploads: "
             "study recipe | drawing-aware |", "|---|---|---|---|---|"]
    for n, m in drawing_meta.items():
        before = (study_meta.get(n, {}).get("test_metrics") or {}).get("accuracy")
        after = (m.get("test_metrics") or {}).get("accuracy")
        fmt = lambda v: f"{v:.4f}" if isinstance(v, (int, float)) else "–"  # noqa: E731
        lines.append(f"| {n} | {fmt(before)} | {fmt(after)} | {_bench_cell((bench or {}).get('study'), n)} | "
                     f"{_bench_cell((bench or {}).get('drawings'), n)} |")
    recipes: dict[str, list[str]] = {}  # recipe -> the models trained with it
    for n, m in drawing_meta.items():
        if m.get("recipe"):
            recipes.setdefault(m["recipe"], []).append(n)
    if len(recipes) == 1:
        lines += ["", f"Drawing-aware recipe: {next(iter(recipes))}."]
    elif recipes:
        lines += ["", "Drawing-aware recipes:"] + [f"- {', '.join(names)}: {r}." for r, names in recipes.items()]
    if bench:
        lines += ["", f"Drawing benchmark: {bench['drawings'].get('drawings', '?')} garment drawings made with the "
                  "mouse on this sketchpad, as its value and as four kinds of uploaded file "
                  f"(`{bench.get('made_with', 'python bench/drawings.py')}`)."]
    return "\n".join(lines)


def load_seed_study(path: Path = SEED_STUDY) -> dict | None:
    """The several-seeds study shipped with the package (see seed_study_markdown), or None where the file
    is missing or not such a study (the Metrics tab then leaves the section out rather than fail)."""
    try:
        study = json.loads(path.read_text())
        runs = study["runs"].values()
        if any(runs) and all(isinstance(r["accuracy"], float) and isinstance(r["macro_f1"], float) and isinstance(r["epochs"], int)
               and "seed" in r for rs in runs for r in rs):
            return study
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        pass
    return None


def seed_study_markdown(study: dict, heading: str = "###") -> str:
    """Markdown for a study of the architectures over seeds, from {"runs": {arch: [{"seed", "accuracy",
    "macro_f1", "epochs", "budget_s", "widths", "device", "minutes_to_level", "epoch_to_level"}, ...]},
    "level", "made_with"}: mean ± sd per architecture and Welch's t-tests between them (Holm-corrected)."""
    runs = {n: rs for n, rs in study["runs"].items() if rs}
    if not runs:
        return f"{heading} Several seeds under the same budget\n\nNo seed runs were found."
    every = [r for rs in runs.values() for r in rs]
    level = study.get("level", STUDY_LEVEL)

    def each(key: str, fmt) -> str:  # one value shared by every run, or each distinct one
        return " or ".join(sorted({fmt(r[key]) for r in every if r.get(key) is not None})) or "?"

    budget = each("budget_s", lambda b: f"{b / 60:g}")
    widths = each("widths", lambda w: "-".join(map(str, w)))
    fewest = min(len(rs) for rs in runs.values())
    lines = [f"{heading} Several seeds under the same budget: is one architecture better?", "",
             f"Separate from the shipped models: each architecture trained from scratch with {fewest} or more seeds "
             f"under one equal wall-clock budget ({budget} minutes of training each, validation included, one run at "
             f"a time, on {each('device', str)}) at widths {widths}, to see how far one run's accuracy moves with the "
             f"seed and which gaps between architectures are larger than that.", "",
             f"| model | seeds | test accuracy mean ± sd | macro-F1 mean ± sd | per seed: test accuracy (epochs) | "
             f"minutes to validation ≥ {level}, per seed |", "|---|---|---|---|---|---|"]
    for n, rs in runs.items():
        per_seed = ", ".join(f"{r['accuracy']:.4f} ({r['epochs']} ep)" for r in rs)
        reach = ", ".join(f"{r['minutes_to_level']:.1f} (epoch {r['epoch_to_level']})"
                          if r.get("minutes_to_level") is not None else "not reached" for r in rs)
        lines.append(f"| {n} | {', '.join(str(r['seed']) for r in rs)} | {_mean_sd([r['accuracy'] for r in rs])} | "
                     f"{_mean_sd([r['macro_f1'] for r in rs])} | {per_seed} | {reach} |")
    pairs, holm = compare_groups({n: [r["accuracy"] for r in rs] for n, rs in runs.items()})
    lines += ["", "Test accuracy over the seeds, pair by pair:", ""]
    lines += ["- " + line for line in pairs] + (["", holm] if holm else [])
    lines += ["", f"With {fewest} seeds a test finds only large gaps: one it does not find may still be real. A budget "
              "in minutes favours the architecture that runs more epochs per minute on the machine (the epochs "
              "above)." + (f" Made with `{study['made_with']}`." if study.get("made_with") else "")]
    return "\n".join(lines)


def _mean_sd(values: list[float]) -> str:
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return f"{np.mean(values):.4f} ± {sd:.4f}"


def _test_labels() -> np.ndarray | None:
    """All 10,000 test labels: shipped as a tiny file so the comparison needs no dataset."""
    path = ASSETS / "test_labels.npy"
    return np.load(path) if path.exists() else None


def progress_html(fraction: float, text: str) -> str:
    """A progress bar with a line of text under it (the Train tab's status)."""
    pct = max(0.0, min(1.0, float(fraction))) * 100
    return (f'<div style="border:1px solid #ccc;border-radius:6px;height:14px;overflow:hidden">'
            f'<div style="width:{pct:.1f}%;height:100%;background:#2ca02c"></div></div>'
            f'<div style="margin-top:4px">{pct:.0f}% · {html.escape(text, quote=False).replace(chr(10), "<br>")}</div>')


def results_markdown(results: list, notes: list[str]) -> str:
    """What a finished (or stopped) app training job produced: one line per model and a per-class table."""
    if not results:
        return ""
    parts, reports = [], {}
    for name, r in results:
        t = r.test_metrics
        widths = "-".join(map(str, r.config.widths))
        parts.append(f"**{name}**: {r.label}; {widths} channels per stage; validation accuracy "
                     f"{r.val_metrics['val_acc']:.4f}"
                     + (f"; test accuracy **{t['accuracy']:.4f}** (95% CI {t['accuracy_ci95'][0]:.4f}–"
                        f"{t['accuracy_ci95'][1]:.4f}), macro-F1 {t['macro_f1']:.4f}" if t else ""))
        if t:
            reports[name.split(" ")[0]] = t
    text = "\n\n".join(parts)
    if reports:
        text += "\n\nPer class on the test set:\n\n" + study_table(reports, with_study=False)
    text += "\n\nYour model is now available in the Sketch tab (for you only)."
    if notes:
        text += "\n\n*" + "; ".join(notes) + "*"
    return text
