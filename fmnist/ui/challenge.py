"""The Challenge tab: "Draw a Sneaker!", a 20-second clock from the first stroke, the three architectures
guessing out loud while you draw, six rounds, then a review and a scoreboard (fmnist.challenge holds the
game's rules; this module only shows them).

Handlers first (each takes the tab's `ChallengeView`), then the layout, then the wiring."""
from __future__ import annotations

import time
from dataclasses import dataclass

import gradio as gr
import numpy as np

from .. import challenge, serving, teach
from ..gate import FileGate
from ..images import ImageError
from ..inference import ModelZoo
from ..preprocess import Prepared, prepare
from .common import big, bind
from .sketch import read_drawing, sketchpad
from .teach import strip

# A new round starts on a clean canvas: the sketchpad cannot be cleared by setting its value from the server
# (Gradio 6.31 keeps the strokes), so the browser presses its own Clear button, then picks the brush again.
CLEAR_JS = """
() => {
  const root = document.querySelector('#challenge-sketch');
  if (!root) return;
  root.querySelector("button[aria-label='Clear canvas']")?.click();
  setTimeout(() => root.querySelector("button[aria-label=Brush]")?.click(), 150);
}
"""
# The clock starts when the first stroke starts, but the sketchpad sends a stroke only when it ends: the
# browser notes when the pointer went down on the Challenge's canvas (POINTER_JS, installed at page load),
# and each stroke event sends how long ago that was (STROKE_JS, as the event's last input; the server
# reads it with challenge.stroke_seconds, so any value is safe).
POINTER_JS = """
() => {
  if (window.fmnistStrokeDown !== undefined) return;
  window.fmnistStrokeDown = null;
  document.addEventListener('pointerdown', (e) => {
    const t = e.target;
    if (window.fmnistStrokeDown === null && t.closest && t.closest('#challenge-sketch') && !t.closest('button'))
      window.fmnistStrokeDown = performance.now();
  }, true);
}
"""
STROKE_JS = """
(pad, state, strokeFor) => {
  const down = window.fmnistStrokeDown;
  window.fmnistStrokeDown = null;
  return [pad, state, down == null ? 0 : (performance.now() - down) / 1000];
}
"""
INTRO = ("Press **New game**: six garments to draw, one at a time. The clock (20 s) starts at your first "
         "stroke; the round ends as soon as one of the three networks names the garment with confidence.")


@dataclass
class ChallengeView:
    zoo: ModelZoo
    gate: FileGate
    pad: gr.Sketchpad = None
    prompt: gr.Markdown = None
    clock: gr.HTML = None
    guesses: gr.Markdown = None
    next_button: gr.Button = None
    score: gr.Markdown = None
    review: gr.Gallery = None
    timer: gr.Timer = None
    missed: gr.Button = None
    stroke_for: gr.Number = None   # seconds the stroke took before it reached the server (STROKE_JS)



# --- handlers ---------------------------------------------------------------------------------------
def clock_html(seconds: float, running: bool) -> str:
    share = max(0.0, min(1.0, seconds / challenge.ROUND_SECONDS))
    colour = "#d9534f" if seconds <= 5 else "#5cb85c"
    note = "" if running else " (starts at your first stroke)"
    return (f"<div id='challenge-time' style='font-size:1.6em;font-weight:600'>⏱ {seconds:.0f} s{note}</div>"
            f"<div style='height:8px;background:#eee;border-radius:4px'><div style='width:{share:.0%};height:8px;"
            f"background:{colour};border-radius:4px'></div></div>")


def _round_prompt(game: challenge.Game) -> str:
    r = game.round
    return f"### Round {game.current + 1} of {len(game.rounds)}: draw a **{r.asked}**!"


def _result(rnd: challenge.Round) -> str:
    if rnd.recognised:
        first = min(rnd.recognised, key=rnd.recognised.get)
        return f"### ✅ {first} recognised your **{rnd.asked}** after {rnd.recognised[first]:.1f} s! Press **Next**."
    return f"### ⌛ No model recognised your **{rnd.asked}** in time. Press **Next**."


def _guesses_md(rnd: challenge.Round) -> str:
    said = challenge.guesses(rnd)
    return "  \n".join(f"**{name}**: {text}" for name, text in said.items()) or "*(the models are watching…)*"


def new_game(view: ChallengeView, state):
    deck = (state or {}).get("deck", [])
    game, deck = challenge.new_game(deck, np.random.default_rng())
    return ({"game": game, "deck": deck}, None, _round_prompt(game), clock_html(challenge.ROUND_SECONDS, False),
            "*(the models are watching…)*", gr.Button(visible=False), "", gr.Gallery(value=None, visible=False),
            gr.Timer(active=True), gr.Button(visible=False))


def on_stroke(view: ChallengeView, payload, state, stroke_for=0.0):
    """After each stroke: the models' guesses, the clock started (when the first stroke started: `stroke_for`
    seconds ago, as the browser says), the round ended when one recognised it."""
    game = (state or {}).get("game")
    if game is None or game.finished or game.round.over:
        return state, gr.skip(), gr.skip(), gr.skip(), gr.skip()
    try:
        source = read_drawing(view.pad, view.gate, payload)
        # probabilities only: the maps are drawn once, for the review (review_items), not after every stroke
        comparison = serving.image_work(lambda: view.zoo.compare(prepared=prepare(source), explain=False))
    except ImageError:      # an empty or cleared canvas
        return state, gr.skip(), gr.skip(), gr.skip(), gr.skip()
    rnd, now = game.round, time.monotonic()
    challenge.observe(rnd, {n: p.probs for n, p in comparison.predictions.items()}, now,
                      drawing=comparison.prepared.preview, stroke_for=stroke_for)
    prompt = _result(rnd) if rnd.over else gr.skip()
    return (state, prompt, clock_html(challenge.time_left(rnd, now), True), _guesses_md(rnd),
            gr.Button(visible=rnd.over))


def on_tick(view: ChallengeView, state):
    """The clock: counts down, and ends the round when the time is up."""
    game = (state or {}).get("game")
    if game is None or game.finished or game.round.started is None or game.round.over:
        return state, gr.skip(), gr.skip(), gr.skip()
    rnd, now = game.round, time.monotonic()
    ended = challenge.tick(rnd, now)
    return (state, _result(rnd) if ended else gr.skip(), clock_html(challenge.time_left(rnd, now), True),
            gr.Button(visible=True) if ended else gr.skip())


def next_round(view: ChallengeView, state):
    """Next drawing (a skipped round counts as not recognised), or the review after the last one."""
    game = (state or {}).get("game")
    if game is None or game.finished:
        return (state,) + (gr.skip(),) * 9
    challenge.give_up(game.round, time.monotonic())
    game.current += 1
    if game.finished:
        return (state, None, "### Game over: how fast did each network understand you?", "", "",
                gr.Button(visible=False), scoreboard_md(game, list(view.zoo.models)),
                gr.Gallery(value=serving.image_work(review_items, view, game), visible=True), gr.Timer(active=False),
                gr.Button(visible=True))
    return (state, None, _round_prompt(game), clock_html(challenge.ROUND_SECONDS, False),
            "*(the models are watching…)*", gr.Button(visible=False), gr.skip(), gr.skip(), gr.skip(), gr.skip())


def scoreboard_md(game: challenge.Game, models: list[str]) -> str:
    rows = challenge.scoreboard(game, models)
    lines = ["| | model | recognised | first to recognise | median time |", "|---|---|---|---|---|"]
    for i, r in enumerate(rows):
        median = f"{r['median_s']:.1f} s" if r["median_s"] is not None else "—"
        lines.append(f"| {'🏆' if i == 0 and r['recognised'] else i + 1} | **{r['model']}** | {r['recognised']} of "
                     f"{len(game.rounds)} | {r['wins']} | {median} |")
    best = rows[0]
    head = (f"**{best['model']} understood you fastest.**" if best["recognised"] else
            "**No network recognised a drawing this game.** Bigger, whole outlines help; or teach them below.")
    return head + "\n\n" + "\n".join(lines)


def review_items(view: ChallengeView, game: challenge.Game) -> list:
    """Each drawing with what each model made of it, then each model's Grad-CAM of it (model work: run it
    with serving.image_work)."""
    models, items = list(view.zoo.models), []
    for i, rnd in enumerate(game.rounds):
        if rnd.drawing is None:
            items.append((np.zeros((168, 168), np.uint8), f"{i + 1}. {rnd.asked}: not drawn"))
            continue
        said = challenge.round_summary(rnd, models)
        items.append((big(rnd.drawing), f"{i + 1}. {rnd.asked}: " + " · ".join(f"{n} {t}" for n, t in said.items())))
        maps = view.zoo.compare(prepared=Prepared.from_image(rnd.drawing / 255.0)).predictions
        items += [(maps[n].grad_cam, f"{n}'s Grad-CAM") for n in models]
    return items


def teach_missed(state, examples):
    """Every drawing of the game that no model recognised joins the visitor's examples, as the asked class."""
    game = (state or {}).get("game")
    missed = [r for r in (game.rounds if game else []) if r.drawing is not None and not r.recognised]
    for r in missed:
        examples = teach.add_example(examples or [], r.drawing, r.label)
    gr.Info(f"{len(missed)} drawing(s) added to your examples: press Teach in the Sketch tab." if missed
            else "Every drawing was recognised: nothing to teach.")
    return examples, strip(examples)


# --- layout and wiring ------------------------------------------------------------------------------
def _layout(view: ChallengeView) -> tuple:
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=360):
            view.pad = sketchpad(elem_id="challenge-sketch", label="Draw here")
        with gr.Column(scale=5):
            view.prompt = gr.Markdown(INTRO, elem_id="challenge-prompt")
            view.clock = gr.HTML(clock_html(challenge.ROUND_SECONDS, False), elem_id="challenge-clock")
            view.guesses = gr.Markdown(elem_id="challenge-guesses")
            with gr.Row():
                start = gr.Button("New game", variant="primary", elem_id="challenge-new")
                view.next_button = gr.Button("Next", variant="primary", visible=False, elem_id="challenge-next")
                skip = gr.Button("Skip this one", elem_id="challenge-skip")
    view.score = gr.Markdown(elem_id="challenge-score")
    view.review = gr.Gallery(label="Your drawings, what each network thought, and where it looked (Grad-CAM)",
                             columns=4, height=420, visible=False, allow_preview=True, elem_id="challenge-review")
    missed = gr.Button("Teach them the drawings they missed (adds them to your examples in the Sketch tab)",
                       elem_id="challenge-teach", visible=False)
    view.timer = gr.Timer(0.5, active=False)
    view.stroke_for = gr.Number(0, visible=False, elem_id="challenge-stroke-for")
    view.missed = missed
    return start, skip, missed


def challenge_tab(zoo: ModelZoo, gate: FileGate, teach_examples: gr.State, teach_strip: gr.Gallery) -> None:
    view = ChallengeView(zoo, gate)
    start, skip, missed = _layout(view)
    state = gr.State(None)   # {"game": challenge.Game, "deck": classes not asked yet}
    hidden = {"api_visibility": "undocumented"}
    round_outs = [state, view.pad, view.prompt, view.clock, view.guesses, view.next_button]
    outs = round_outs + [view.score, view.review, view.timer, view.missed]
    start.click(bind(new_game, view), state, outs, api_name="challenge_new", **hidden).then(None, js=CLEAR_JS)
    view.pad.change(bind(on_stroke, view), [view.pad, state, view.stroke_for], [state, view.prompt, view.clock,
                    view.guesses, view.next_button], js=STROKE_JS, api_name="challenge_stroke", preprocess=False,
                    trigger_mode="always_last",
                    show_progress="hidden", concurrency_limit=serving.IMAGE_WORKERS,
                    concurrency_id=serving.IMAGE_POOL, **hidden)
    view.timer.tick(bind(on_tick, view), state, [state, view.prompt, view.clock, view.next_button],
                    api_name=False, show_progress="hidden")
    view.next_button.click(bind(next_round, view), state, outs, api_name="challenge_next", **hidden).then(
        None, js=CLEAR_JS)
    skip.click(bind(next_round, view), state, outs, api_name="challenge_skip", **hidden).then(None, js=CLEAR_JS)
    missed.click(teach_missed, [state, teach_examples], [teach_examples, teach_strip], api_name="challenge_teach",
                 **hidden)
