import math

import numpy as np
import pytest
from scipy.stats import t as student_t

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


def test_welch_matches_the_hand_computed_test_and_names_the_better_group():
    a, b = [0.91, 0.92, 0.93], [0.88, 0.89, 0.90]
    t = ev.welch(a, b)
    # by hand: difference 0.03, each group's variance 1e-4, se = sqrt(2e-4 / 3), Welch df = 4
    se = math.sqrt(2e-4 / 3)
    assert t["diff"] == pytest.approx(0.03)
    assert t["statistic"] == pytest.approx(0.03 / se)
    assert t["p_value"] == pytest.approx(2 * student_t.sf(0.03 / se, 4))
    line = ev.describe_welch("simple", "gated", t)
    assert line.startswith("simple vs gated: simple is better by 0.0300") and "over 3 and 3 runs" in line
    # the same groups the other way round: the better one is still simple
    assert "simple is better" in ev.describe_welch("gated", "simple", ev.welch(b, a))


def test_welch_says_when_a_difference_is_within_the_spread_or_cannot_be_tested():
    overlap = ev.welch([0.90, 0.92, 0.94], [0.91, 0.92, 0.93])
    assert overlap["p_value"] > 0.5
    assert "within the seed-to-seed spread" in ev.describe_welch("sa", "gated", overlap)
    for a, b in (([0.9], [0.8, 0.85]), ([0.9, 0.9], [0.8, 0.8])):  # one run; no spread at all
        t = ev.welch(a, b)
        assert math.isnan(t["p_value"]) and "no test" in ev.describe_welch("sa", "gated", t)


def test_compare_groups_tests_every_pair_and_corrects_for_several():
    scores = {"simple": [0.91, 0.92, 0.93], "sa": [0.88, 0.89, 0.90], "gated": [0.905, 0.915, 0.925]}
    lines, holm = ev.compare_groups(scores)
    assert [line.split(":")[0] for line in lines] == ["simple vs sa", "simple vs gated", "sa vs gated"]
    assert holm.startswith("These are 3 tests between the same runs")
    # a pair without a test is reported but left out of the correction
    lines, holm = ev.compare_groups({"simple": [0.9, 0.91], "sa": [0.8]})
    assert "no test" in lines[0] and holm is None


def test_compare_pairs_says_holm_only_for_several_pairs():
    y = np.zeros(100, dtype=int)
    right, half = np.zeros(100, dtype=int), np.r_[np.zeros(50, dtype=int), np.ones(50, dtype=int)]
    pairs, holm = ev.compare_pairs(y, {"a": right, "b": half}, {"a": 1.0, "b": 0.5})
    assert pairs == [ev.describe_mcnemar("a", "b", 1.0, 0.5, ev.mcnemar(y, right, half))] and holm is None
    pairs, holm = ev.compare_pairs(y, {"a": right, "b": half, "c": right}, {"a": 1.0, "b": 0.5, "c": 1.0})
    assert [p.split(":")[0] for p in pairs] == ["a vs b", "a vs c", "b vs c"]
    assert "these still hold: a vs b, b vs c." in holm  # a and c agree everywhere: no difference
