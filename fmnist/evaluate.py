"""Test-set metrics (scikit-learn), bootstrap intervals, McNemar's test and the study-layout table."""
from __future__ import annotations

import numpy as np
import torch
from scipy.stats import binomtest, chi2, ttest_ind
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from .data import CLASSES, to_float
from .reference import STUDY, STUDY_ACCURACY

TTA_VIEWS = ("identity", "hflip", "vflip", "hvflip")


def _views(x: torch.Tensor, views: tuple[str, ...]) -> list[torch.Tensor]:
    flips = {"identity": (), "hflip": (-1,), "vflip": (-2,), "hvflip": (-2, -1)}
    return [x.flip(flips[v]) if flips[v] else x for v in views]


@torch.inference_mode()
def predict_proba(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 256,
                  bf16: bool = False, tta: bool = False) -> np.ndarray:
    """Class probabilities (N, 10) for uint8 images (N, 28, 28); tta averages over the four flips."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(images), batch_size):
        x = to_float(images[i : i + batch_size]).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            views = _views(x, TTA_VIEWS if tta else ("identity",))
            p = torch.stack([model(v).float().softmax(1) for v in views]).mean(0)
        out.append(p.cpu())
    return torch.cat(out).numpy()


def bootstrap_ci(y_true: np.ndarray, y_pred: np.ndarray, metric: str = "accuracy",
                 n_resamples: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of accuracy or macro-F1 over test images."""
    rng = np.random.default_rng(seed)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    n = len(y_true)
    stats = np.empty(n_resamples)
    for i in range(n_resamples):
        idx = rng.integers(0, n, n)
        if metric == "accuracy":
            stats[i] = np.mean(y_true[idx] == y_pred[idx])
        else:
            stats[i] = f1_score(y_true[idx], y_pred[idx], average="macro", labels=range(len(CLASSES)), zero_division=0)
    lo, hi = np.quantile(stats, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def classification_metrics(y_true, y_pred, ci: bool = True, n_resamples: int = 1000) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = list(range(len(CLASSES)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    out = {
        "accuracy": float(np.mean(y_true == y_pred)),
        "macro_f1": float(np.mean(f)),
        "per_class": {
            c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, c in enumerate(CLASSES)
        },
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "n": int(len(y_true)),
    }
    if ci:
        out["accuracy_ci95"] = bootstrap_ci(y_true, y_pred, "accuracy", n_resamples)
        out["macro_f1_ci95"] = bootstrap_ci(y_true, y_pred, "macro_f1", n_resamples // 5)
    return out


def evaluate_model(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor,
                   bf16: bool = False, tta: bool = True) -> dict:
    """Full test report for one model; predictions kept so models can be compared image by image."""
    y_true = labels.numpy()
    probs = predict_proba(model, images, bf16=bf16)
    pred = probs.argmax(1)
    report = classification_metrics(y_true, pred)
    report["predictions"] = pred.tolist()
    if tta:
        tta_pred = predict_proba(model, images, bf16=bf16, tta=True).argmax(1)
        tta_report = classification_metrics(y_true, tta_pred, ci=False)
        report["tta_flips"] = {k: tta_report[k] for k in ("accuracy", "macro_f1", "per_class")}
    return report


def mcnemar(y_true, pred_a, pred_b) -> dict:
    """McNemar's test on paired predictions: do models A and B err on different images more than chance?

    b = A right and B wrong, c = A wrong and B right. Exact binomial test when b + c < 25, else the
    chi-squared statistic with continuity correction.
    """
    y_true, pred_a, pred_b = map(np.asarray, (y_true, pred_a, pred_b))
    ra, rb = pred_a == y_true, pred_b == y_true
    b, c = int(np.sum(ra & ~rb)), int(np.sum(~ra & rb))
    if b + c == 0:
        return {"b": 0, "c": 0, "statistic": 0.0, "p_value": 1.0, "method": "no discordant pairs"}
    if b + c < 25:
        return {"b": b, "c": c, "statistic": float(min(b, c)), "method": "exact binomial",
                "p_value": float(binomtest(min(b, c), b + c, 0.5).pvalue)}
    stat = (abs(b - c) - 1) ** 2 / (b + c)
    return {"b": b, "c": c, "statistic": float(stat), "p_value": float(chi2.sf(stat, 1)),
            "method": "chi-squared, continuity-corrected"}


def describe_mcnemar(name_a: str, name_b: str, acc_a: float, acc_b: float, test: dict, alpha: float = 0.05) -> str:
    """One plain sentence, e.g. 'gated vs simple: difference not significant (p = 0.41)'."""
    p = test["p_value"]
    p_txt = f"p = {p:.3g}" if p >= 1e-4 else "p < 0.0001"
    if p < alpha:
        better, worse = (name_a, name_b) if acc_a > acc_b else (name_b, name_a)
        return (f"{name_a} vs {name_b}: {better} is better, the difference is significant ({p_txt}; "
                f"{test['b']} images only {name_a} got right, {test['c']} only {name_b})")
    return (f"{name_a} vs {name_b}: difference not significant ({p_txt}; "
            f"{test['b']} images only {name_a} got right, {test['c']} only {name_b})")


def holm(tests: dict, alpha: float = 0.05) -> list:
    """Keys of the tests ({key: mcnemar(...)}) whose difference stays significant under Holm's step-down
    correction for testing them all on one test set (family-wise error alpha), smallest p first."""
    kept = []
    for k, (key, t) in enumerate(sorted(tests.items(), key=lambda item: item[1]["p_value"])):
        if t["p_value"] >= alpha / (len(tests) - k):
            break
        kept.append(key)
    return kept


def describe_holm(tests: dict[tuple[str, str], dict], alpha: float = 0.05, on: str = "on the same test set") -> str:
    """One sentence: which pairwise differences survive the correction for making several comparisons."""
    held = holm(tests, alpha)
    verdict = ("these still hold: " + ", ".join(f"{a} vs {b}" for a, b in held) + "." if held
               else "none of the differences holds.")
    return (f"These are {len(tests)} tests {on}; with Holm's correction for that "
            f"(family-wise error {alpha:g}) {verdict}")


def compare_pairs(y_true, predictions: dict[str, np.ndarray],
                  accuracies: dict[str, float]) -> tuple[list[str], str | None]:
    """McNemar's test for every pair of models on the same test set, one plain sentence each, and (when
    there are several pairs) a sentence on which differences survive Holm's correction, else None."""
    names, tests, lines = list(predictions), {}, []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            t = tests[a, b] = mcnemar(y_true, predictions[a], predictions[b])
            lines.append(describe_mcnemar(a, b, accuracies[a], accuracies[b], t))
    return lines, describe_holm(tests) if len(tests) > 1 else None


def welch(a, b) -> dict:
    """Welch's t-test (unequal variances) on two groups of runs' scores, e.g. test accuracies over seeds:
    is the difference of the means larger than the runs' spread explains? p is nan under 2 runs a group,
    or where neither group varies (the test is then undefined)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float(a.mean() - b.mean()) if len(a) and len(b) else float("nan")
    if len(a) < 2 or len(b) < 2 or (a.std() == 0 and b.std() == 0):
        return {"diff": diff, "statistic": float("nan"), "p_value": float("nan"), "n": (len(a), len(b))}
    t = ttest_ind(a, b, equal_var=False)
    return {"diff": diff, "statistic": float(t.statistic), "p_value": float(t.pvalue), "n": (len(a), len(b))}


def describe_welch(name_a: str, name_b: str, test: dict, alpha: float = 0.05) -> str:
    """One plain sentence, e.g. 'simple vs sa: simple is better by 0.0123 on average, more than the
    seed-to-seed spread explains (Welch's t-test over 3 and 3 runs, p = 0.004)'."""
    p, (na, nb), d = test["p_value"], test["n"], test["diff"]
    runs = f"{na} and {nb} runs"
    if not p == p:  # nan
        return f"{name_a} vs {name_b}: no test (needs 2 or more runs each that differ; {runs}), difference {d:+.4f}"
    p_txt = f"p = {p:.3g}" if p >= 1e-4 else "p < 0.0001"
    if p < alpha:
        better = name_a if d > 0 else name_b
        return (f"{name_a} vs {name_b}: {better} is better by {abs(d):.4f} on average, more than the "
                f"seed-to-seed spread explains (Welch's t-test over {runs}, {p_txt})")
    return (f"{name_a} vs {name_b}: difference {d:+.4f} on average, within the seed-to-seed spread "
            f"(Welch's t-test over {runs}, {p_txt})")


def compare_groups(scores: dict[str, list[float]], alpha: float = 0.05) -> tuple[list[str], str | None]:
    """Welch's t-test for every pair of architectures on their runs' scores (one per seed), one plain sentence
    each, and (when there are several pairs with a test) which differences survive Holm's correction."""
    names, tests, lines = list(scores), {}, []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            t = welch(scores[a], scores[b])
            lines.append(describe_welch(a, b, t, alpha))
            if t["p_value"] == t["p_value"]:
                tests[a, b] = t
    return lines, describe_holm(tests, alpha, on="between the same runs") if len(tests) > 1 else None


def study_table(reports: dict[str, dict], with_study: bool = True) -> str:
    """Markdown in the study's layout: one row per class, columns <model>_Precision/_Recall/_F1.

    With with_study, each of our cells reads 'ours (study)' where the study published that model.
    """
    names = list(reports)
    head = ["class"] + [f"{m}_{k}" for m in names for k in ("Precision", "Recall", "F1")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in CLASSES:
        cells = [c]
        for m in names:
            for key in ("precision", "recall", "f1"):
                ours = f"{reports[m]['per_class'][c][key]:.3f}"
                if with_study and m in STUDY:
                    ours += f" ({STUDY[m][c][key]:.3f})"
                cells.append(ours)
        lines.append("| " + " | ".join(cells) + " |")
    acc = ["**accuracy**"]
    for m in names:
        a = f"{reports[m]['accuracy']:.4f}"
        if with_study and m in STUDY_ACCURACY:
            a += f" ({STUDY_ACCURACY[m]:.4f})"
        acc += [a, "", ""]
    lines.append("| " + " | ".join(acc) + " |")
    return "\n".join(lines)


def format_interval(value: float, ci: tuple[float, float] | list[float] | None) -> str:
    if not ci:
        return f"{value:.4f}"
    return f"{value:.4f} [{ci[0]:.4f}, {ci[1]:.4f}]"
