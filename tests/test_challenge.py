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
