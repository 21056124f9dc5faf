"""The drawing challenge, as plain data: a game of six rounds in which the three architectures race to
recognise what the visitor draws (Quick, Draw!-style).

Each round asks for one garment class (each class once before any repeats, over the visitor's games), a
20-second clock starts when the first stroke starts (the browser says how long that stroke took before it
reached the server), and the models look at the drawing after every stroke. A
model recognises the drawing when its top class is the asked one at `CONFIDENT` or more (calibrated);
the round ends as soon as one does, or when the time is up. The review lists, for every drawing, the
seconds each model needed (or never) and what it thought instead; the scoreboard says which architecture
understood the visitor fastest over the game. A game lives in the visitor's session only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .data import CLASSES

ROUNDS = 6
ROUND_SECONDS = 20.0
CONFIDENT = 0.6   # the calibrated probability of the asked class, as the model's top answer, that counts


@dataclass
class Round:
    label: int
    started: float | None = None                 # when the first stroke started (time.monotonic())
    ended: float | None = None
    recognised: dict[str, float] = field(default_factory=dict)   # model -> seconds after the first stroke
    last: dict[str, tuple[str, float]] = field(default_factory=dict)  # model -> (top class, probability)
    best_other: dict[str, tuple[str, float]] = field(default_factory=dict)  # model -> strongest wrong guess
    drawing: np.ndarray | None = None            # the last 28x28 input the models saw (uint8)
    strokes: int = 0

    @property
    def asked(self) -> str:
        return CLASSES[self.label]

    @property
    def over(self) -> bool:
        return self.ended is not None


@dataclass
class Game:
    rounds: list[Round]
    current: int = 0

    @property
    def round(self) -> Round | None:
        return self.rounds[self.current] if self.current < len(self.rounds) else None

    @property
    def finished(self) -> bool:
        return self.current >= len(self.rounds)


def deal(deck: list[int], rng: np.random.Generator, n: int = ROUNDS) -> tuple[list[int], list[int]]:
    """n classes from the visitor's deck (each class once before any repeats; a fresh shuffled deck when
    it runs out, never starting with the class just asked): (the classes, the deck left)."""
    deck, out = list(deck), []
    while len(out) < n:
        if not deck:
            fresh = [int(c) for c in rng.permutation(len(CLASSES))]
            if out and fresh[0] == out[-1]:
                fresh.append(fresh.pop(0))
            deck = fresh
        out.append(deck.pop(0))
    return out, deck


def new_game(deck: list[int], rng: np.random.Generator) -> tuple[Game, list[int]]:
    labels, deck = deal(deck, rng)
    return Game([Round(label) for label in labels]), deck


def time_left(rnd: Round, now: float) -> float:
    """Seconds left in the round (the whole 20 before the first stroke; frozen when it ended)."""
    if rnd.started is None:
        return ROUND_SECONDS
    return max(0.0, ROUND_SECONDS - ((rnd.ended if rnd.over else now) - rnd.started))


def stroke_seconds(value) -> float:
    """How long the first stroke was being drawn before it reached the server, as the browser says: any
    value a client sends, read as seconds in [0, ROUND_SECONDS] (anything else is 0). A client can only
    start its own clock earlier with it, never stop it."""
    try:
        s = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return min(max(s, 0.0), ROUND_SECONDS) if math.isfinite(s) else 0.0


def observe(rnd: Round, probs: dict[str, dict[str, float]], now: float, drawing: np.ndarray | None = None,
            stroke_for=0.0) -> None:
    """The models' answers for the drawing as it is now (after a stroke): starts the clock when the first
    stroke started (`stroke_for` seconds before now: `stroke_seconds`), notes who recognised it and when,
    and ends the round when one did or the time is up."""
    if rnd.over:
        return
    if rnd.started is None:
        rnd.started = now - stroke_seconds(stroke_for)
    rnd.strokes += 1
    if drawing is not None:
        rnd.drawing = drawing
    elapsed = now - rnd.started
    for name, p in probs.items():
        top = max(p, key=p.get)
        rnd.last[name] = (top, p[top])
        if top == rnd.asked and p[top] >= CONFIDENT and elapsed <= ROUND_SECONDS:
            rnd.recognised.setdefault(name, round(elapsed, 2))
        elif top != rnd.asked and p[top] > rnd.best_other.get(name, ("", 0.0))[1]:
            rnd.best_other[name] = (top, p[top])
    if rnd.recognised or elapsed >= ROUND_SECONDS:
        rnd.ended = now


def tick(rnd: Round, now: float) -> bool:
    """The clock: ends the round when its time is up; True when it has just ended."""
    if rnd.over or rnd.started is None or now - rnd.started < ROUND_SECONDS:
        return False
    rnd.ended = now
    return True


def give_up(rnd: Round, now: float) -> None:
    """The visitor skips the round: no model recognised it."""
    if not rnd.over:
        rnd.ended = now


def guesses(rnd: Round) -> dict[str, str]:
    """Each model's guess in words, as a person would say it while watching you draw."""
    out = {}
    for name, (top, p) in rnd.last.items():
        if name in rnd.recognised:
            out[name] = f"…a {top}! (after {rnd.recognised[name]:.1f} s)"
        elif p >= CONFIDENT:
            out[name] = f"I see… a {top}?"
        else:
            out[name] = f"Hmm… a {top}? ({p:.0%})"
    return out


def round_summary(rnd: Round, models: list[str]) -> dict[str, str]:
    """For the review: per model, the seconds it needed, or "never" and what it thought instead."""
    out = {}
    for name in models:
        if name in rnd.recognised:
            out[name] = f"{rnd.recognised[name]:.1f} s"
        else:
            other = rnd.best_other.get(name) or rnd.last.get(name)
            out[name] = "never" + (f" (thought: {other[0]}, {other[1]:.0%})" if other else "")
    return out


def scoreboard(game: Game, models: list[str]) -> list[dict]:
    """Per model: rounds recognised, rounds won (first, ties shared), median seconds when recognised;
    fastest first (most wins, then most recognised, then the lowest median)."""
    rows = []
    for name in models:
        times = [r.recognised[name] for r in game.rounds if name in r.recognised]
        wins = sum(1 for r in game.rounds if name in r.recognised and r.recognised[name] == min(r.recognised.values()))
        rows.append({"model": name, "recognised": len(times), "wins": wins,
                     "median_s": float(np.median(times)) if times else None})
    return sorted(rows, key=lambda r: (-r["wins"], -r["recognised"], r["median_s"] if r["median_s"] is not None else 1e9))
