"""The app in headless Chromium (Debian's, driven by playwright): draw, train, read the metrics.

Set UPDATE_SCREENSHOTS=1 to refresh docs/screenshots/*.png from this run.
"""
import os
import re
import shutil
import time

import pytest

from conftest import ROOT, start_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = ROOT / "docs" / "screenshots"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_url(dataset, tmp_path_factory):
    log = open(tmp_path_factory.mktemp("app") / "app.log", "w")
    proc, url = start_app({"FMNIST_MAX_EPOCHS": "5", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}, log)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser(app_url):
    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian's chromium is not installed (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _open(browser, url):
    pg = browser.new_page(viewport={"width": 1400, "height": 1700})
    pg.goto(url)
    pg.wait_for_selector("#sketch canvas", timeout=30_000)
    return pg


@pytest.fixture(scope="module")
def page(browser, app_url):
    return _open(browser, app_url)


def _shot(pg, name):
    path = (SHOTS if os.environ.get("UPDATE_SCREENSHOTS") else ROOT / "runs" / "screenshots") / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(path), full_page=True)


def _stroke(pg, points, every=15):
    """One stroke with the mouse: a pointer event every ~`every` px along each segment. (Each event redraws
    the canvas in software; ten events per point made a 70-point spiral take a minute and a half.)"""
    pg.mouse.move(*points[0])
    pg.mouse.down()
    for p, q in zip(points, points[1:]):
        pg.mouse.move(*q, steps=max(1, round(((q[0] - p[0]) ** 2 + (q[1] - p[1]) ** 2) ** 0.5 / every)))
    pg.mouse.up()


def test_draw_and_see_three_predictions(page):
    # the brush is selected on load: drawing works without hunting for the Brush button
    page.wait_for_function("() => document.querySelector('#sketch button[aria-label=Brush]')?.className.includes('highlight')",
                           timeout=15_000)
    box = page.locator("#sketch canvas").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    h = box["height"] * 0.35
    for dx in (-8, 0, 8):  # a trouser: two legs and a waistband
        _stroke(page, [(cx - 25 + dx, cy - h), (cx - 45 + dx, cy + h)])
        _stroke(page, [(cx + 25 + dx, cy - h), (cx + 45 + dx, cy + h)])
    _stroke(page, [(cx - 32, cy - h), (cx + 32, cy - h)])
    for slot in ("simple", "sa", "gated"):
        page.wait_for_function(
            f"() => /\\d+%/.test(document.querySelector('#label-{slot}')?.innerText || '')", timeout=30_000)
    _settled(page)
    text = page.inner_text("#verdict")
    assert "say" in text or "Most likely" in text or "does not look like a garment" in text, text
    assert not page.locator("#label-yours").is_visible()  # no model of this visitor's yet: no empty column
    _shot(page, "sketch")


def _settled(pg):
    """Wait until the last stroke's answer is shown (no event pending: Gradio shows a running timer, "7.4s",
    over an output while its event runs)."""
    pg.wait_for_timeout(500)
    pg.wait_for_function("() => !/^\\s*(processing|queue|\\d+(\\.\\d+)?s)/.test(document.querySelector('#verdict').innerText)",
                         timeout=30_000)


def _clear(pg):
    pg.click("#sketch button[aria-label='Clear canvas']")
    pg.click("#sketch button[aria-label=Brush]")  # clearing deselects the brush


def _draw(pg, strokes, aspect=1.0):
    """Hand-designed strokes (fmnist/sketches/designs.py, unit box) drawn with the mouse in the canvas's
    middle, at the garment's proportions (width / height)."""
    box = pg.locator("#sketch canvas").first.bounding_box()
    side = min(box["width"], box["height"]) * 0.6
    w, h = (side * aspect, side) if aspect <= 1 else (side, side / aspect)
    left, top = box["x"] + (box["width"] - w) / 2, box["y"] + (box["height"] - h) / 2
    for stroke in strokes:
        _stroke(pg, [(left + x * w, top + y * h) for x, y in stroke])


def fmnist_classes():
    from fmnist.data import CLASSES

    return list(CLASSES)


def _tops(pg):
    return {slot: pg.evaluate(f"() => document.querySelector('#label-{slot} .output-class')?.innerText || ''")
            for slot in ("simple", "sa", "gated")}


def test_drawn_outlines_are_named_by_all_three_models(page):
    from fmnist.sketches.designs import ASPECT, ankle_boot, bag, trouser, tshirt

    page.get_by_role("tab", name="Sketch & classify").click()
    seen = {}
    for cls, strokes in (("T-shirt/top", tshirt(0)), ("Bag", bag(0)), ("Ankle boot", ankle_boot(0)), ("Trouser", trouser(0))):
        _clear(page)
        _draw(page, strokes, ASPECT[fmnist_classes().index(cls)])
        try:
            page.wait_for_function(
                "cls => ['simple', 'sa', 'gated'].every(s => document.querySelector(`#label-${s} .output-class`)?.innerText === cls)",
                arg=cls, timeout=30_000)
        except Exception:
            pass
        seen[cls] = _tops(page)
    assert all(set(tops.values()) == {cls} for cls, tops in seen.items()), seen
    assert "Trouser" in page.inner_text("#verdict")
    _shot(page, "drawing")


@pytest.mark.parametrize("thing", ["spiral", "cat's face", "house"])
def test_a_spiral_a_cats_face_and_a_house_are_not_garments(page, thing):
    """Drawn with the mouse and the sketchpad's own brush (fmnist/sketches/openset.py's designs), each is
    told it does not look like a garment, with what to draw instead. (The house is the hardest: with the
    sketchpad's thick brush its windows fill in and each model's best guess is a Bag.)"""
    from fmnist.sketches.openset import OBJECTS

    _clear(page)
    _draw(page, OBJECTS[thing]())
    _settled(page)
    try:  # the last stroke's answer (earlier strokes' answers may still be on screen for a moment)
        page.wait_for_function("() => /does not look like a garment/.test(document.querySelector('#verdict').innerText)",
                               timeout=15_000)
    except Exception:
        pass
    verdict = page.inner_text("#verdict")
    assert "does not look like a garment" in verdict, (thing, verdict)
    assert "outline" in verdict  # and it says what to draw instead
    if thing == "cat's face":
        _shot(page, "not_a_garment")


def test_the_whole_28x28_input_is_shown(page):
    img = page.locator("#preview img").first
    img.wait_for(timeout=30_000)
    box, frame = img.bounding_box(), page.locator("#preview").bounding_box()
    assert box["height"] >= 150 and box["y"] + box["height"] <= frame["y"] + frame["height"] + 1, (box, frame)


def _start_training(page, arch, epochs, images, width=None):
    page.get_by_role("tab", name="Train").click()
    page.locator("#train-arch").get_by_text(arch, exact=True).click()
    if width:
        page.locator("#train-width").get_by_text(width).click()
    for elem, value in (("#train-epochs", str(epochs)), ("#train-size", str(images))):
        box = page.locator(f"{elem} input[type=number]")
        box.fill(value)
        box.press("Enter")
    page.click("#start-train")


def test_train_with_the_defaults_moves_the_curve_at_once(page):
    """A new visitor presses Start without changing anything (the quick preset): the time estimate is
    there before, the chart moves during the first epoch, and about a minute later a usable model is
    ready (and answers in the Sketch tab, next test)."""
    page.get_by_role("tab", name="Train").click()
    page.wait_for_function("() => /About .* on this server/.test(document.querySelector('#train-estimate').innerText)",
                           timeout=60_000)
    assert "quick" in page.inner_text("#train-recipe-text")
    page.click("#start-train")
    page.wait_for_function("() => document.querySelector('#train-curves .js-plotly-plot, #train-curves .plotly')",
                           timeout=60_000)
    assert "epoch 1/" in page.inner_text("#train-progress")  # the curve moves before the first epoch ends
    page.wait_for_function("() => /finished|stopped/.test(document.querySelector('#train-progress').innerText)",
                           timeout=240_000)
    results = page.inner_text("#train-results")
    # a model that has learned (chance is 0.10). How far a minute gets depends on the host: 3 epochs and
    # ~0.90 on the development box (docs/benchmarks.md, bench/time_to_accuracy.py), one epoch and 0.846
    # on a slower CI host. The accuracy-in-a-minute figure is a benchmark's, not this test's.
    assert float(re.search(r"validation accuracy (0\.\d+)", results).group(1)) > 0.75, results[:300]
    _shot(page, "train")


def test_your_trained_model_answers_in_the_sketch_tab(page):
    # follows the training test: the model trained there now answers the drawing beside the shipped ones
    page.get_by_role("tab", name="Sketch & classify").click()
    page.wait_for_function("() => /\\d+%/.test(document.querySelector('#label-yours')?.innerText || '')",
                           timeout=30_000)
    assert "simple-" in page.locator("#user-model input").input_value()
    assert "(time_budget)" in page.locator("#user-model input").input_value()  # quick ends by its budget


def test_metrics_tab(page):
    page.get_by_role("tab", name="Metrics & attention").click()
    page.wait_for_selector("text=McNemar", timeout=30_000)
    page.wait_for_function("() => document.querySelectorAll('#debug-gallery img').length > 5", timeout=30_000)
    assert "simple_Precision" in page.content()
    # attention maps for a test image: sa's and gated's own maps and three Grad-CAMs (simple has no own map)
    page.locator("#attention-maps").scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelectorAll('#attention-maps img').length >= 5", timeout=30_000)
    page.wait_for_function("() => [...document.querySelectorAll('#attention-maps img')].every(i => i.complete && i.naturalWidth > 0)",
                           timeout=30_000)
    _shot(page, "metrics")


def test_closing_the_tab_mid_training_frees_the_slot(browser, app_url):
    first = _open(browser, app_url)
    _start_training(first, "gated", 5, 55000)  # minutes of work if nobody stopped it
    first.wait_for_function("() => /step/.test(document.querySelector('#train-progress').innerText)", timeout=60_000)
    first.close()
    second = _open(browser, app_url)
    _start_training(second, "simple", 1, 500)
    # only possible within this time if the abandoned job ended and released the one training slot
    second.wait_for_function("() => /finished/.test(document.querySelector('#train-progress').innerText)",
                             timeout=90_000)
    second.close()


def test_stop_keeps_the_partial_model_for_this_user(browser, app_url):
    pg = _open(browser, app_url)
    _start_training(pg, "simple", 5, 55000)
    pg.wait_for_function("() => /step/.test(document.querySelector('#train-progress').innerText)", timeout=60_000)
    pg.click("#stop-train")
    pg.wait_for_function("() => /stopped by you/.test(document.querySelector('#train-progress').innerText)",
                         timeout=90_000)
    assert "partial" in pg.inner_text("body")  # the result is labelled as partial
    assert pg.locator("text=.safetensors").count() >= 1  # and offered for download
    pg.get_by_role("tab", name="Sketch & classify").click()
    pg.locator("#sketch").scroll_into_view_if_needed()
    assert "(stopped)" in pg.content()  # usable in the Sketch tab
    pg.close()


def _draw_on(pg, elem, strokes, aspect=1.0, every=15) -> list[float]:
    """_draw on another sketchpad (the Challenge tab's); the seconds each stroke took, pointer down to up."""
    box = pg.locator(f"{elem} canvas").first.bounding_box()
    side = min(box["width"], box["height"]) * 0.6
    w, h = (side * aspect, side) if aspect <= 1 else (side, side / aspect)
    left, top = box["x"] + (box["width"] - w) / 2, box["y"] + (box["height"] - h) / 2
    took = []
    for stroke in strokes:
        start = time.monotonic()
        _stroke(pg, [(left + x * w, top + y * h) for x, y in stroke], every)
        took.append(time.monotonic() - start)
    return took


def test_at_a_laptops_size_the_canvas_and_the_three_answers_show_together(browser, app_url):
    pg = browser.new_page(viewport={"width": 1366, "height": 768})
    pg.goto(app_url)
    pg.wait_for_selector("#sketch canvas", timeout=30_000)
    for elem in ("#sketch canvas", "#label-simple", "#label-sa", "#label-gated"):
        box = pg.locator(elem).first.bounding_box()
        assert box and box["y"] >= 0 and box["y"] + min(box["height"], 120) <= 768, (elem, box)
    _draw(pg, *_trouser())
    pg.wait_for_function("() => /\\d+%/.test(document.querySelector('#label-gated')?.innerText || '')", timeout=30_000)
    pg.screenshot(path=str((SHOTS if os.environ.get("UPDATE_SCREENSHOTS") else ROOT / "runs" / "screenshots")
                           / "laptop.png"))
    pg.close()


def _trouser():
    from fmnist.sketches.designs import ASPECT, trouser

    return trouser(0), ASPECT[1]


# classes whose design 0, drawn stroke by stroke, every model recognises at 76% or more (a37f349; b2f6dfc: 85%
# or more). Not sneakers: design 0 reached 43 / 0 / 57% after the third open-set round, 56 / 71 / 80% after
# the fourth (the game asks 60%, so simple still misses it)
RELIABLE = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Bag")


def test_a_challenge_game_with_the_mouse(browser, app_url):
    """New game: "draw a …", a clock that starts when the first stroke starts (not when the sketchpad
    sends it, at its end), the models guessing in words; a garment drawn with the mouse is named by a
    model, after at least as long as its first stroke took; six rounds (the others skipped) end with a
    review and a scoreboard."""
    from fmnist.data import CLASSES
    from fmnist.sketches.designs import ASPECT, GARMENTS

    pg = browser.new_page(viewport={"width": 1366, "height": 768})
    pg.goto(app_url)
    pg.wait_for_selector("#sketch canvas", timeout=30_000)
    pg.get_by_role("tab", name="Challenge").click()
    pg.click("#challenge-new")
    drawn = False
    for k in range(1, 7):
        pg.wait_for_function(f"() => /Round {k} of 6: draw a/.test(document.querySelector('#challenge-prompt').innerText)",
                             timeout=30_000)
        asked = re.search(r"draw a (.+?)!", pg.inner_text("#challenge-prompt")).group(1)
        if drawn or asked not in RELIABLE:   # at least one of six distinct classes is among the five
            pg.click("#challenge-skip")
            continue
        assert "starts at your first stroke" in pg.inner_text("#challenge-clock")
        label = CLASSES.index(asked)
        pg.click("#challenge-sketch button[aria-label=Brush]")
        # a pointer event every ~80 px (the designs' corners are still every turn of the line): a person's
        # stroke takes a second or two, and the clock runs from the first pointer-down, through the
        # sketchpad's few seconds of headless upload (at every 15 px a stroke alone took ten of the 20)
        took = _draw_on(pg, "#challenge-sketch", GARMENTS[label](0), ASPECT[label], every=80)
        pg.wait_for_function("() => /recognised|No model/.test(document.querySelector('#challenge-prompt').innerText)",
                             timeout=40_000)
        prompt = pg.inner_text("#challenge-prompt")
        assert f"recognised your {asked}" in prompt and "No model" not in prompt, prompt
        # the prompt and the guesses come in one answer, but each Markdown renders on its own: wait for both
        pg.wait_for_function("(t) => document.querySelector('#challenge-guesses').innerText.includes(t)",
                             arg=f"a {asked}!", timeout=10_000)
        guesses = pg.inner_text("#challenge-guesses")
        assert all(n in guesses for n in ("simple", "sa", "gated")) and f"a {asked}!" in guesses, guesses
        first = min(float(t) for t in re.findall(r"after (\d+\.\d) s", guesses))
        assert first >= 0.8 * took[0] - 0.05, (first, took)   # timed from the first pointer-down
        assert "starts at your first stroke" not in pg.inner_text("#challenge-clock")   # the clock ran
        _shot(pg, "challenge")
        drawn = True
        pg.click("#challenge-next")
    assert drawn
    pg.wait_for_function("() => /understood you fastest/.test(document.querySelector('#challenge-score').innerText)",
                         timeout=30_000)
    score = pg.inner_text("#challenge-score")
    assert all(n in score for n in ("simple", "sa", "gated")) and "1 of 6" in score
    assert pg.locator("#challenge-review img").count() >= 6   # every round's drawing, and the maps of the drawn one
    _shot(pg, "challenge_review")
    pg.close()


def _labels(pg):
    return {s: pg.inner_text(f"#label-{s}") for s in ("simple", "sa", "gated")}


def _spiral_drawn_by_a_new_visitor(browser, app_url):
    """A new session (its own browser context) that draws a spiral: not a garment to the shipped models."""
    from fmnist.sketches.designs import NOT_GARMENTS

    pg = browser.new_context(viewport={"width": 1366, "height": 1400}).new_page()
    pg.goto(app_url)
    pg.wait_for_selector("#sketch canvas", timeout=30_000)
    pg.wait_for_function("() => document.querySelector('#sketch button[aria-label=Brush]')?.className.includes('highlight')",
                         timeout=15_000)
    _draw(pg, NOT_GARMENTS["spiral"]())
    pg.wait_for_function("() => /does not look like a garment/.test(document.querySelector('#verdict').innerText)",
                         timeout=30_000)
    return pg


def test_teaching_a_correction_changes_this_visitors_models_only(browser, app_url):
    """A spiral is not a garment to the shipped models; said to be a Bag and taught, the visitor's own
    copies call it a Bag, the Fashion-MNIST check is reported, and another visitor still sees the shipped
    models' answer. An example can be removed."""
    alice = _spiral_drawn_by_a_new_visitor(browser, app_url)
    alice.locator("#teach-label input").fill("Bag")
    alice.keyboard.press("Enter")
    for _ in range(2):
        alice.click("#teach-add")
        alice.wait_for_timeout(800)
    alice.wait_for_function("() => document.querySelectorAll('#teach-examples img').length === 2", timeout=15_000)
    alice.locator("#teach-examples img").nth(1).click()
    alice.click("#teach-remove")
    alice.wait_for_function("() => document.querySelectorAll('#teach-examples img').length === 1", timeout=15_000)
    assert "Bag" in alice.inner_text("#teach-examples")
    alice.click("#teach-start")
    alice.wait_for_function("() => /Fashion-MNIST check/.test(document.querySelector('#teach-results').innerText)",
                            timeout=240_000)
    assert alice.locator("#teach-use input").is_checked()
    alice.wait_for_function("() => ['simple', 'sa', 'gated'].every(s => document.querySelector(`#label-${s} .output-class`)?.innerText === 'Bag')",
                            timeout=30_000)
    _shot(alice, "teach")
    bob = _spiral_drawn_by_a_new_visitor(browser, app_url)   # another session: the shipped models answer
    assert not bob.locator("#teach-use").is_visible()
    bob.close()
    alice.close()
