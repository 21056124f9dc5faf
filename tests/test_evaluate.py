import numpy as np
import pytest

from fmnist import evaluate as ev
from fmnist.data import CLASSES
from fmnist.reference import STUDY, STUDY_ACCURACY


def test_metrics_against_hand_computed_values():
    y_true = [0, 0, 0, 1, 1, 2, 2, 2, 2, 3]
    y_pred = [0, 0, 1, 1, 1, 2, 2, 0, 2, 2]
    m = ev.classification_metrics(y_true, y_pred, ci=False)
    assert m["accuracy"] == pytest.approx(7 / 10)
    t = m["per_class"]["T-shirt/top"]  # class 0: tp 2, fp 1, fn 1
    assert t["precision"] == pytest.approx(2 / 3) and t["recall"] == pytest.approx(2 / 3) and t["support"] == 3
    tr = m["per_class"]["Trouser"]  # class 1: tp 2, fp 1, fn 0
    assert tr["precision"] == pytest.approx(2 / 3) and tr["recall"] == 1.0 and tr["f1"] == pytest.approx(0.8)
    assert m["per_class"]["Dress"]["f1"] == 0.0  # class 3 never predicted
    assert m["confusion"][2][0] == 1 and m["confusion"][3][2] == 1
    assert sum(map(sum, m["confusion"])) == 10


def test_bootstrap_interval_brackets_the_accuracy():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 2000)
    pred = np.where(rng.random(2000) < 0.9, y, (y + 1) % 10)
    lo, hi = ev.bootstrap_ci(y, pred)
    acc = np.mean(y == pred)
    assert lo < acc < hi and hi - lo < 0.04


def test_mcnemar_exact_and_chi2():
    y = np.zeros(100, int)
    a = np.zeros(100, int)
    b = np.zeros(100, int)
    b[:10] = 1  # B wrong on 10 that A got right; no image the other way round
    t = ev.mcnemar(y, a, b)
    assert (t["b"], t["c"], t["method"]) == (10, 0, "exact binomial")
    assert t["p_value"] == pytest.approx(2 * 0.5 ** 10)
    b[:30] = 1
    a[30:35] = 1
    t = ev.mcnemar(y, a, b)
    assert t["method"].startswith("chi-squared")
    assert t["statistic"] == pytest.approx((abs(30 - 5) - 1) ** 2 / 35)
    assert t["p_value"] < 0.001
    assert "significant" in ev.describe_mcnemar("a", "b", 0.95, 0.7, t)
    same = ev.mcnemar(y, a, a)
    assert same["p_value"] == 1.0
    assert "not significant" in ev.describe_mcnemar("a", "b", 0.9, 0.9, same)


def test_study_reference_and_table_layout():
    assert STUDY_ACCURACY["simple"] == pytest.approx(0.8931, abs=1e-4)
    assert STUDY_ACCURACY["sa"] == pytest.approx(0.8908, abs=1e-4)
    assert STUDY_ACCURACY["gated"] == pytest.approx(0.8928, abs=1e-4)
    assert STUDY["gated"]["Coat"]["f1"] == 0.921
    y = np.arange(100) % 10
    report = ev.classification_metrics(y, y, ci=False)
    md = ev.study_table({"simple": report, "gated": report})
    head = md.splitlines()[0]
    assert "simple_Precision" in head and "gated_F1" in head and "simple_Recall" in head
    assert md.count("\n") == len(CLASSES) + 2
    assert "1.000 (0.978)" in md  # ours next to the study's Trouser figure for simple


def test_holm_keeps_only_differences_that_survive_several_comparisons():
    t = lambda p: {"p_value": p}  # noqa: E731
    # 0.043 alone would pass 0.05, but as the smallest of three it must pass 0.05 / 3
    three = {("simple", "sa"): t(0.161), ("simple", "gated"): t(0.043), ("sa", "gated"): t(0.575)}
    assert ev.holm(three) == []
    assert "none of the differences holds" in ev.describe_holm(three)
    # step-down: 0.01 < 0.05/3, then 0.02 < 0.05/2, then 0.2 >= 0.05 stops
    steps = {("a", "b"): t(0.02), ("a", "c"): t(0.01), ("b", "c"): t(0.2)}
    assert ev.holm(steps) == [("a", "c"), ("a", "b")]
    assert "these still hold: a vs c, a vs b." in ev.describe_holm(steps)
    # once one fails, later (larger) p-values are not tested even if they would pass alone
    assert ev.holm({("a", "b"): t(0.03), ("a", "c"): t(0.04)}) == []


def test_compare_pairs_says_holm_only_for_several_pairs():
    y = np.zeros(100, dtype=int)
    right, half = np.zeros(100, dtype=int), np.r_[np.zeros(50, dtype=int), np.ones(50, dtype=int)]
    pairs, holm = ev.compare_pairs(y, {"a": right, "b": half}, {"a": 1.0, "b": 0.5})
    assert pairs == [ev.describe_mcnemar("a", "b", 1.0, 0.5, ev.mcnemar(y, right, half))] and holm is None
    pairs, holm = ev.compare_pairs(y, {"a": right, "b": half, "c": right}, {"a": 1.0, "b": 0.5, "c": 1.0})
    assert [p.split(":")[0] for p in pairs] == ["a vs b", "a vs c", "b vs c"]
    assert "these still hold: a vs b, b vs c." in holm  # a and c agree everywhere: no difference
