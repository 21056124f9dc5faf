"""The drawing challenge's rules (fmnist.challenge): classes dealt fairly, the clock from the first stroke,
recognition, the review and the scoreboard."""
import numpy as np

from fmnist import challenge
from fmnist.data import CLASSES


def _probs(top: str, p: float) -> dict:
    rest = (1 - p) / (len(CLASSES) - 1)
    return {c: (p if c == top else rest) for c in CLASSES}


def test_each_class_is_asked_once_before_any_repeats_over_games():
    rng, deck, asked = np.random.default_rng(0), [], []
    for _ in range(5):   # 30 rounds over five games
        game, deck = challenge.new_game(deck, rng)
        assert len(game.rounds) == challenge.ROUNDS
        asked += [r.label for r in game.rounds]
    for start in range(0, 30, 10):
        assert sorted(asked[start:start + 10]) == list(range(10))
    assert all(a != b for a, b in zip(asked, asked[1:]))   # never the same class twice in a row


def test_the_clock_starts_when_the_first_stroke_started_whatever_a_client_says():
    """The sketchpad sends a stroke when it ends; the browser says how long it took, and the clock starts
    that long before the stroke arrived. Any value a client sends is read as 0-20 seconds: a client can
    only start its own clock earlier."""
    rnd = challenge.Round(label=CLASSES.index("Bag"))
    challenge.observe(rnd, {"simple": _probs("Bag", 0.9)}, now=50.0, stroke_for=1.5)
    assert rnd.started == 48.5 and rnd.recognised == {"simple": 1.5}
    assert challenge.guesses(rnd)["simple"] == "…a Bag! (after 1.5 s)"
    later = challenge.Round(label=CLASSES.index("Bag"))
    challenge.observe(later, {"simple": _probs("Shirt", 0.9)}, now=50.0, stroke_for=2.0)
    challenge.observe(later, {"simple": _probs("Bag", 0.9)}, now=53.0, stroke_for=9.0)  # only the first counts
    assert later.started == 48.0 and later.recognised == {"simple": 5.0}
    for sent, read in ((-3, 0.0), ("1.25", 1.25), (1e9, challenge.ROUND_SECONDS), (float("nan"), 0.0),
                       (float("inf"), 0.0), (None, 0.0), ("soon", 0.0), ([1], 0.0), ({"s": 1}, 0.0), (10**400, 0.0),
                       (True, 1.0)):
        assert challenge.stroke_seconds(sent) == read, sent
    rnd = challenge.Round(label=CLASSES.index("Bag"))
    challenge.observe(rnd, {"simple": _probs("Bag", 0.9)}, now=50.0, stroke_for=1e9)  # said 20 s: already over
    assert rnd.over and rnd.recognised == {"simple": 20.0}


def test_the_clock_starts_at_the_first_stroke_and_the_first_confident_model_ends_the_round():
    rnd = challenge.Round(label=CLASSES.index("Sneaker"))
    assert challenge.time_left(rnd, 100.0) == challenge.ROUND_SECONDS   # nothing drawn yet
    challenge.observe(rnd, {"simple": _probs("Bag", 0.7), "sa": _probs("Sneaker", 0.4)}, now=10.0)
    assert rnd.started == 10.0 and not rnd.over
    assert challenge.time_left(rnd, 14.0) == challenge.ROUND_SECONDS - 4
    said = challenge.guesses(rnd)
    assert said["simple"] == "I see… a Bag?" and said["sa"].startswith("Hmm… a Sneaker?")
    challenge.observe(rnd, {"simple": _probs("Sandal", 0.5), "sa": _probs("Sneaker", 0.9)}, now=13.5)
    assert rnd.over and rnd.recognised == {"sa": 3.5}
    assert challenge.guesses(rnd)["sa"] == "…a Sneaker! (after 3.5 s)"
    challenge.observe(rnd, {"simple": _probs("Sneaker", 0.9)}, now=14.0)   # too late: the round is over
    assert "simple" not in rnd.recognised
    summary = challenge.round_summary(rnd, ["simple", "sa", "gated"])
    assert summary["sa"] == "3.5 s" and summary["simple"] == "never (thought: Bag, 70%)" and summary["gated"] == "never"


def test_time_runs_out_and_a_skip_counts_as_not_recognised():
    rnd = challenge.Round(label=0)
    challenge.observe(rnd, {"simple": _probs("Bag", 0.9)}, now=0.0)
    assert not challenge.tick(rnd, challenge.ROUND_SECONDS - 0.5)
    assert challenge.tick(rnd, challenge.ROUND_SECONDS + 0.1) and rnd.over and not rnd.recognised
    skipped = challenge.Round(label=1)
    challenge.give_up(skipped, 5.0)
    assert skipped.over and not skipped.recognised


def test_the_scoreboard_puts_the_fastest_architecture_first():
    game = challenge.Game([challenge.Round(label=i) for i in range(3)], current=3)
    game.rounds[0].recognised = {"sa": 2.0, "gated": 2.0}       # a tie: both win
    game.rounds[1].recognised = {"gated": 1.5, "simple": 4.0}
    game.rounds[2].recognised = {}
    rows = challenge.scoreboard(game, ["simple", "sa", "gated"])
    assert [r["model"] for r in rows] == ["gated", "sa", "simple"]
    assert rows[0] == {"model": "gated", "recognised": 2, "wins": 2, "median_s": 1.75}
    assert rows[2]["wins"] == 0 and rows[2]["recognised"] == 1
