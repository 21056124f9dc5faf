"""Drawings made from training images (fmnist.sketches), drawing detection, calibration, and the
"does not look like a garment" verdict."""
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import fmnist
from fmnist.calibrate import calibrate, expected_calibration_error, fit_temperature, nll
from fmnist.images import read_image, render_as_random_upload
from fmnist.inference import Comparison, ModelPrediction
from fmnist.preprocess import Prepared, _stroke_width, looks_like_drawing, prepare
from fmnist.sketches import STYLES, draw_like_a_person, drawing_bank, render_drawings


@pytest.fixture(scope="module")
def images(dataset):
    return dataset.train_images[:40].numpy()


def _ink(drawing):
    return drawing < 128


@pytest.mark.parametrize("style", STYLES)
def test_a_drawing_is_black_ink_on_white_at_canvas_scale(images, style):
    rng = np.random.default_rng(0)
    for im in images[:10]:
        d = draw_like_a_person(im, rng, style)
        assert d.dtype == np.uint8 and d.ndim == 2 and min(d.shape) >= 28 * 8
        # a white border: the garment is inside (the thickest brush at the warp's extreme can graze the
        # canvas edge: about 1 drawing in 1500, a few pixels of it)
        border = np.concatenate([d[0], d[-1], d[:, 0], d[:, -1]])
        assert (border < 128).mean() < 0.02
        assert 0.005 < _ink(d).mean() < 0.6


def test_outlines_are_thin_and_silhouettes_solid(images):
    rng = np.random.default_rng(1)
    shirts = images[:20]
    outline = np.median([_stroke_width(_ink(draw_like_a_person(im, rng, "outline"))) for im in shirts])
    solid = np.median([_stroke_width(_ink(draw_like_a_person(im, rng, "silhouette"))) for im in shirts])
    assert outline < 30  # the brush is 3-25 px wide at this scale in three drawings of four, up to 44 px in the rest
    assert solid > 2 * outline
    # a silhouette is one filled region: no holes inside the ink
    from scipy import ndimage
    sil = _ink(draw_like_a_person(images[1], rng, "silhouette"))
    assert (ndimage.binary_fill_holes(sil) & ~sil).sum() < 0.01 * sil.sum()


def test_drawings_are_deterministic_for_a_seed_and_vary_between_seeds(images):
    a, b = render_drawings(images[:8], seed=3, workers=1), render_drawings(images[:8], seed=3, workers=1)
    c = render_drawings(images[:8], seed=4, workers=1)
    assert a.shape == (8, 28, 28) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_class_details_are_drawn_inside_the_garment_and_only_with_a_label(dataset):
    """garment_details: a coat gets inner lines (its opening, lapels, buttons...) on its own mask; the
    same drawing without a label has none; the label is part of the bank's cache key."""
    import cv2

    from fmnist.sketches import SCALE, garment_details
    from fmnist.sketches.styles import _mask

    labels = dataset.train_labels.numpy()
    coats = dataset.train_images.numpy()[labels == 4][:10]
    rng = np.random.default_rng(2)
    inside, outside = 0, 0
    for im in coats:
        big = cv2.resize(im.astype(np.float32) / 255, (28 * SCALE,) * 2, interpolation=cv2.INTER_LINEAR)
        mask = _mask(big, rng)
        ink = garment_details(mask, 4, 8, rng) > 0
        grown = cv2.dilate(mask, np.ones((11, 11), np.uint8)) > 0
        inside += (ink & mask.astype(bool)).sum()
        outside += (ink & ~grown).sum()
    assert inside > 0 and outside == 0
    # outlines of the same images differ with a coat's label and without one; without: as before
    a = render_drawings(coats, seed=1, workers=1)
    b = render_drawings(coats, seed=1, workers=1, labels=np.full(len(coats), 4))
    assert (a != b).any(axis=(1, 2)).sum() >= 3
    assert np.array_equal(render_drawings(coats, seed=1, workers=1, labels=np.full(len(coats), 4)), b)


def _runs(row: np.ndarray) -> int:
    """How many separate stretches of ink a row of a 0/1 mask crosses."""
    return int(np.count_nonzero(np.diff(np.concatenate([[0], row.astype(np.int8), [0]])) == 1))


def _dilate(mask: np.ndarray, k: int = 5) -> np.ndarray:
    import cv2
    return cv2.dilate(mask, np.ones((k, k), np.uint8))


def _sleeve_reach(mask: np.ndarray, body: np.ndarray) -> float:
    """How far down a top's sleeves reach, as a share of its body's height from the body's top."""
    ys = np.flatnonzero(body.any(1))
    sleeves = mask & ~_dilate(body)
    return (np.flatnonzero(sleeves.any(1)).max() - ys[0]) / (ys[-1] - ys[0])


def test_person_shapes_hold_sleeves_apart_and_draw_two_legs():
    """person_shape: a top drawn as people draw it has sleeves apart from its body (a row crosses sleeve,
    body, sleeve), short ones for a T-shirt and long ones for a pullover; a trouser has two legs."""
    from fmnist.sketches import person_shape

    rng = np.random.default_rng(0)
    shape = (304, 304)
    reach = {0: [], 2: []}
    apart = 0
    for label in (0, 2):
        for _ in range(20):
            mask, body, cuffs = person_shape(label, shape, rng)
            assert mask.any() and body is not None and not (body & ~mask).any() and len(cuffs) == 2
            ys = np.flatnonzero(body.any(1))
            reach[label].append(_sleeve_reach(mask, body))
            apart += label == 2 and max(_runs(r) for r in mask[ys[0]:ys[-1]]) >= 3
    assert np.median(reach[0]) < 0.5 < np.median(reach[2])   # T-shirt sleeves end high, pullover ones low
    assert apart >= 14                                       # most pullovers' sleeves stand off the body
    for _ in range(10):
        mask, body, cuffs = person_shape(1, shape, rng)
        ys = np.flatnonzero(mask.any(1))
        hem = int(ys[0] + 0.85 * (ys[-1] - ys[0]))
        assert body is None and cuffs == [] and _runs(mask[hem]) == 2  # two legs towards the hem


def test_some_coats_have_a_hood_and_some_shirts_short_sleeves():
    """person_shape (drawings v10-11, pictures v4-5): about HOODED_COAT_P of coats have a hood standing over the
    neck, outside the body that places the details; about SHORT_SLEEVED_SHIRT_P of shirts have short
    sleeves; pullovers never have either."""
    from fmnist.sketches import person_shape
    from fmnist.sketches.people import HOODED_COAT_P, SHORT_SLEEVED_SHIRT_P

    shape = (304, 304)

    def hooded(mask, body):   # mask rows above the body's top, at the centre line, are the hood
        top = np.flatnonzero(body.any(1))[0]
        cx = int(np.nonzero(body)[1].mean())
        return mask[:top, cx - 3:cx + 4].any() and top - np.flatnonzero(mask.any(1))[0] > 0.05 * 224

    def short(mask, body):    # the sleeves end in the upper half of the body
        return _sleeve_reach(mask, body) < 0.5

    rng = np.random.default_rng(7)
    coats = [person_shape(4, shape, rng)[:2] for _ in range(60)]
    shirts = [person_shape(6, shape, rng)[:2] for _ in range(60)]
    pullovers = [person_shape(2, shape, rng)[:2] for _ in range(30)]
    hoods = np.mean([hooded(m, b) for m, b in coats])
    assert abs(hoods - HOODED_COAT_P) < 0.15, hoods
    assert not any(hooded(m, b) for m, b in shirts + pullovers)
    shorts, longs = np.mean([short(m, b) for m, b in shirts]), np.mean([short(m, b) for m, b in coats + pullovers])
    assert longs < 0.1, longs   # a long sleeve held high may end in the upper half, rarely
    assert abs(shorts - longs - SHORT_SLEEVED_SHIRT_P) < 0.15, (shorts, longs)


def _holes(mask) -> int:
    """How many holes a 0/1 mask has (closed gaps: a handle's, a strap's)."""
    import cv2
    from scipy import ndimage
    return cv2.connectedComponents((ndimage.binary_fill_holes(mask) & ~mask.astype(bool)).astype(np.uint8))[0] - 1


def test_bags_and_sandals_are_drawn_with_open_handles_and_straps():
    """person_shape for a bag: a body with a handle standing over it, the handle's hole open, most of the
    time; for a sandal: a sole wider than the sandal is tall with straps over it, gaps showing. Both are
    one piece or nearly, and the same seed gives the same shape."""
    import cv2

    from fmnist.sketches import person_shape

    shape = (304, 304)
    for label, least in ((8, 0.6), (5, 0.8)):
        rng = np.random.default_rng(label)
        open_, wide = 0, 0
        for i in range(40):
            mask, body, cuffs = person_shape(label, shape, rng)
            assert body is None and cuffs == [] and mask.dtype == np.uint8 and mask.max() == 1
            assert cv2.connectedComponents(mask)[0] - 1 <= 2, (label, i)
            ys, xs = np.nonzero(mask)
            assert max(np.ptp(ys), np.ptp(xs)) > 0.6 * 224, (label, i)   # about the dataset's frame
            open_ += _holes(mask) >= 1
            wide += np.ptp(xs) > 1.2 * np.ptp(ys)
        assert open_ >= least * 40, (label, open_)
        if label == 5:
            assert wide >= 36, wide                                        # seen from the side
    a = person_shape(5, shape, np.random.default_rng(3))[0]
    assert np.array_equal(a, person_shape(5, shape, np.random.default_rng(3))[0])
    from fmnist.sketches.people import DRAWN_SHAPES, PERSON_SHAPE_P
    from fmnist.sketches.pictures import PICTURE_SHAPE_P
    assert set(PERSON_SHAPE_P) <= set(DRAWN_SHAPES) and set(PICTURE_SHAPE_P) <= set(DRAWN_SHAPES)
    with pytest.raises(ValueError, match="no drawn shape"):
        person_shape(3, shape, np.random.default_rng(0))   # a dress is drawn from its photo


@pytest.mark.parametrize("straps", ["crossed", "thong"])
def test_sandal_straps_can_cross_or_be_a_thong(monkeypatch, straps):
    """Drawings v11: a sandal's straps may be straight ones crossing one another (the gaps between them
    several holes) or a flip-flop's thong (a flat sole and one inverted V: one hole, wide and low); either
    way one piece standing on its sole."""
    import cv2

    from fmnist.sketches import people

    monkeypatch.setattr(people, "SANDAL_STRAPS", {straps: 1.0})
    rng = np.random.default_rng(11)
    holes, low = [], 0
    for i in range(30):
        mask = people._sandal_shape((304, 304), rng)
        assert cv2.connectedComponents(mask)[0] - 1 == 1, (straps, i)
        ys, xs = np.nonzero(mask)
        holes.append(_holes(mask))
        low += np.ptp(ys) < 0.5 * np.ptp(xs)
    holes = np.array(holes)
    if straps == "thong":
        assert (holes == 1).all() and low == 30, (holes, low)
    else:
        assert (holes >= 2).mean() >= 0.8, holes   # a strap crosses another: more than one gap


def test_bags_get_flaps_or_stripes_and_shirts_smaller_buttons_than_coats():
    """garment_details v11: a bag's details (a flap, stripes or a zigzag) are drawn on the bag, about as
    often as the table says; a shirt's buttons are smaller than a coat's on the same body."""
    from fmnist.sketches import details as D

    mask = np.zeros((200, 300), np.uint8)
    mask[40:190, 20:280] = 1
    drawn, inked = 0, 0
    for seed in range(200):
        ink = D.garment_details(mask, 8, 6, np.random.default_rng(seed))
        assert not ink[_dilate(mask, 9) == 0].any()   # on the bag (its brush may reach over the edge)
        inked += ink.any()
    p_none = np.prod([1 - d.p for d in D.BAG])
    assert abs(inked / 200 - (1 - p_none)) < 0.08, (inked, 1 - p_none)

    def button_area(size):
        pen = D.Pen(mask, 6, np.random.default_rng(0))
        pen.dots(150, [100], size)
        return (pen.ink > 0).sum()
    assert 0 < button_area(D.SHIRT_BUTTON) < 0.6 * button_area(1.0)   # 0.6 of the radius, rounded to pixels


def test_sneakers_and_boots_are_drawn_as_closed_profiles():
    """person_shape for a sneaker or an ankle boot: one piece with no hole (a closed upper: what tells it
    from a sandal), seen from the side, with its toe to either side; a boot is taller for its length than
    a sneaker; the same seed gives the same shape."""
    import cv2
    from scipy import ndimage

    from fmnist.sketches import person_shape

    shape = (304, 304)
    aspect, toes_right = {}, 0
    for label in (7, 9):
        rng = np.random.default_rng(label)
        ratios = []
        for i in range(40):
            mask, body, cuffs = person_shape(label, shape, rng)
            assert body is None and cuffs == [] and mask.dtype == np.uint8 and mask.max() == 1
            assert cv2.connectedComponents(mask)[0] - 1 == 1, (label, i)
            assert (ndimage.binary_fill_holes(mask) & ~mask.astype(bool)).sum() < 0.002 * mask.sum(), (label, i)
            ys, xs = np.nonzero(mask)
            assert max(np.ptp(ys), np.ptp(xs)) > 0.6 * 224, (label, i)
            ratios.append(np.ptp(ys) / np.ptp(xs))
            top = mask[: ys.min() + int(0.15 * np.ptp(ys))]              # the top band: the heel's back or shaft
            toes_right += top[:, : xs.min() + np.ptp(xs) // 2].sum() > top[:, xs.min() + np.ptp(xs) // 2:].sum()
        aspect[label] = float(np.median(ratios))
        assert max(ratios) < 1.2, label                                  # longer than tall, from the side
    assert aspect[9] > aspect[7] + 0.2, aspect
    assert 20 <= toes_right <= 60, toes_right                            # mirrored about half of the time
    a = person_shape(9, shape, np.random.default_rng(3))[0]
    assert np.array_equal(a, person_shape(9, shape, np.random.default_rng(3))[0])


def test_outlines_of_pictures_trace_holes_but_not_specks():
    """pictures._outline: a ring's inner edge is drawn as well as its outer one; a speck-sized hole is not."""
    import cv2

    from fmnist.sketches import pictures as P

    ring = np.zeros((200, 200), np.uint8)
    cv2.circle(ring, (100, 100), 80, 1, -1)
    cv2.circle(ring, (100, 100), 40, 0, -1)
    cv2.circle(ring, (100, 40), 2, 0, -1)     # a speck
    ink = P._outline(ring, 3)
    assert ink[100, 60] == 1 and ink[100, 21] == 1   # the inner and the outer edge
    assert ink[100, 100] == 0 and ink[40, 100] == 0 and ink[100, 80] == 0


def test_scribble_shades_a_shape_in_one_stroke():
    from scipy import ndimage

    from fmnist.sketches import scribble

    mask = np.zeros((304, 304), np.uint8)
    mask[60:240, 90:210] = 1
    for seed in range(5):
        ink = scribble(mask, 8, np.random.default_rng(seed)) > 0
        assert (ink & mask.astype(bool)).sum() > 0.3 * mask.sum()  # shaded, not outlined
        assert not (ink & ~_dilate(mask, 9).astype(bool)).any()  # a little over the edge at most
        assert ndimage.label(ink, np.ones((3, 3)))[1] == 1          # one stroke back and forth


def test_model_inputs_look_like_the_dataset(images):
    """Through prepare(): bright ink on black, cropped so the longest side spans the 28 pixels."""
    x = render_drawings(images[:12], seed=0, workers=1)
    for im in x:
        on = np.argwhere(im > 40)
        assert len(on) > 10
        extent = max(np.ptp(on[:, 0]), np.ptp(on[:, 1])) + 1
        assert extent >= 26
        assert (im < 40).mean() > 0.25  # bright ink on a black background, as the dataset's garments


def test_the_bank_is_cached_and_rebuilt_when_damaged(images, tmp_path):
    imgs = torch.from_numpy(images[:6])
    first = drawing_bank(imgs, seed=0, cache_dir=tmp_path)
    files = list(tmp_path.glob("drawings-*.npy"))
    assert len(files) == 1
    assert torch.equal(drawing_bank(imgs, seed=0, cache_dir=tmp_path), first)
    files[0].write_bytes(b"not an array")
    assert torch.equal(drawing_bank(imgs, seed=0, cache_dir=tmp_path), first)
    # labels are part of the key: a labelled bank is another file
    drawing_bank(imgs, seed=0, cache_dir=tmp_path, labels=torch.arange(6) % 10)
    assert len(list(tmp_path.glob("drawings-*.npy"))) == 2


def test_training_mixes_drawings_into_batches(small_split, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    import fmnist.data
    monkeypatch.setattr(fmnist.data, "DEFAULT_CACHE", tmp_path / "fmnist")
    cfg = fmnist.TrainConfig(arch="simple", epochs=1, limit=600, val_size=1000, augment="none", drawings=0.5,
                             evaluate_test=False, log_every=5)
    result = fmnist.train(cfg, small_split)
    assert result.config.drawings == 0.5 and result.history
    assert list((tmp_path / "fmnist").glob("drawings-*.npy"))  # the bank was made for these images


def _as_jpeg(arr):
    buf = io.BytesIO()
    Image.fromarray(arr).convert("RGB").save(buf, "JPEG", quality=75)
    return buf.getvalue()


def test_drawings_and_photos_are_told_apart(images):
    rng = np.random.default_rng(5)
    drawn = [draw_like_a_person(im, rng) for im in images[:30]]
    photos = [read_image(render_as_random_upload(im, rng)) for im in images[:30]]
    # thin anti-aliased strokes (3-5 px here) are mostly half-tone edge pixels: all of these pass
    assert np.mean([looks_like_drawing(d.astype(np.float32) / 255) for d in drawn]) >= 0.95  # lossless
    assert np.mean([looks_like_drawing(read_image(_as_jpeg(d))) for d in drawn]) >= 0.95  # JPEG q75
    assert np.mean([looks_like_drawing(g) for g in photos]) <= 0.1
    # prepare() records which path it took, whatever the entry (sketchpad dict, file, array)
    d = next(x for x in drawn if looks_like_drawing(x.astype(np.float32) / 255))  # one the detector calls a drawing
    assert prepare({"composite": np.stack([d] * 3 + [np.full_like(d, 255)], -1)}).drawing
    assert prepare(_as_jpeg(d)).drawing and prepare(d).drawing
    assert not prepare(render_as_random_upload(images[2], rng)).drawing


def _anti_aliased(strokes, brush, side=560):
    """Polylines drawn as a paint program draws them: anti-aliased, on white."""
    import cv2

    canvas = np.full((side, side), 255, np.uint8)
    for pts in strokes:
        cv2.polylines(canvas, [(np.array(pts, np.float64) * 16).round().astype(np.int32)], False, 0, brush,
                      cv2.LINE_AA, shift=4)
    return canvas


def test_thin_anti_aliased_strokes_and_strokes_off_the_canvas_are_drawings(images):
    tee = [[(200, 100), (90, 170), (130, 250), (190, 220), (190, 470), (370, 470), (370, 220), (430, 250),
            (470, 170), (360, 100), (280, 140), (200, 100)]]
    for brush in (3, 6, 10):
        g = _anti_aliased(tee, brush)
        d = 1 - g / 255.0
        assert (d > 0.8).sum() < 0.9 * (d > 0.15).sum()  # over a tenth of the ink is half-tone
        assert looks_like_drawing(g / 255.0), brush
        assert looks_like_drawing(read_image(_as_jpeg(g))), brush
        assert prepare(_as_jpeg(g)).drawing
    # a large trouser whose legs run off the bottom and sides of the canvas
    trouser = [[(5, 560), (60, 20), (500, 20), (555, 560)], [(280, 120), (280, 560)]]
    assert looks_like_drawing(_anti_aliased(trouser, 14) / 255.0)
    # photos stay photos, also cropped tight so that the garment fills the border
    rng = np.random.default_rng(7)
    for im in images[:10]:
        big = np.asarray(Image.fromarray(im).resize((280, 280), Image.BILINEAR)) / 255.0
        rows, cols = np.flatnonzero(big.max(1) > 0.1), np.flatnonzero(big.max(0) > 0.1)
        assert not looks_like_drawing(big[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])
        assert not looks_like_drawing(read_image(render_as_random_upload(im, rng)))


def test_temperature_scaling_fixes_overconfidence():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 10, (2000,), generator=g)
    logits = torch.randn(2000, 10, generator=g)
    logits[torch.arange(2000), labels] += 2.0
    logits *= 4  # an overconfident model: the right ranking, far too sure
    t = fit_temperature(logits, labels)
    assert t > 1.5
    assert nll(logits, labels, t) < nll(logits, labels) - 0.1
    assert expected_calibration_error(logits, labels, t) < expected_calibration_error(logits, labels)
    # an underconfident one gets a temperature below 1
    assert fit_temperature(logits / 16, labels) < 1


def test_calibrate_lowers_validation_nll_of_a_trained_model(tiny_result, small_split):
    cal = calibrate(tiny_result.model, small_split.val_images, small_split.val_labels)
    assert cal["temperature"] > 0
    assert cal["nll_after"] <= cal["nll_before"] + 1e-6


def _comparison(tops_and_conf, drawing=True):
    preds = {}
    for name, (top, conf) in tops_and_conf.items():
        probs = {c: (conf if c == top else (1 - conf) / 9) for c in fmnist.CLASSES}
        preds[name] = ModelPrediction(name=name, probs=probs, top=top, confidence=conf)
    prepared = Prepared.from_image(np.zeros((28, 28), np.float32))
    prepared.drawing = drawing
    return Comparison(prepared=prepared, predictions=preds)


def test_not_a_garment_when_the_models_disagree_or_are_unsure():
    sure = _comparison({"simple": ("Trouser", 0.9), "sa": ("Trouser", 0.8), "gated": ("Trouser", 0.95)})
    assert sure.looks_like_a_garment and "**Trouser**" in sure.verdict
    split = _comparison({"simple": ("Bag", 0.6), "sa": ("Sandal", 0.6), "gated": ("Coat", 0.6)})
    assert not split.looks_like_a_garment
    assert "does not look like a garment" in split.verdict and "outline" in split.verdict
    assert "the models disagree" in split.verdict
    # two sure models outvote an unsure third: the answer is named, and the disagreement said plainly
    most = _comparison({"simple": ("Bag", 0.9), "sa": ("Sandal", 0.6), "gated": ("Bag", 0.95)})
    assert most.looks_like_a_garment
    assert "Most likely **Bag**" in most.verdict and "disagree" in most.verdict and "sa: Sandal" in most.verdict
    unsure = _comparison({"simple": ("Bag", 0.4), "sa": ("Bag", 0.3), "gated": ("Bag", 0.5)})
    assert not unsure.looks_like_a_garment and "none of the models is sure" in unsure.verdict
    photo = _comparison({"simple": ("Bag", 0.9), "sa": ("Coat", 0.8)}, drawing=False)
    assert "photo of one garment" in photo.verdict


def test_doodles_are_not_garments_and_are_cached(tmp_path):
    from fmnist.sketches import doodle, doodle_bank

    rng = np.random.default_rng(0)
    d = doodle(rng)
    assert d.dtype == np.uint8 and d.min() == 0 and d.max() == 255
    bank = doodle_bank(12, seed=1, cache_dir=tmp_path)
    assert bank.shape == (12, 28, 28) and bank.dtype == torch.uint8
    assert (bank.flatten(1).max(1).values > 100).all()  # every doodle has ink after prepare()
    assert torch.equal(doodle_bank(12, seed=1, cache_dir=tmp_path), bank)


def test_outlier_loss_pushes_doodles_towards_no_class():
    from fmnist.training import batch_loss

    y = torch.tensor([3, -1])
    confident = torch.zeros(2, 10)
    confident[:, 3] = 8.0
    flat = confident.clone()
    flat[1] = 0.0
    # the garment's loss is plain cross-entropy; a confident answer on the doodle costs more than a flat one
    assert batch_loss(confident, y, outliers=True) > batch_loss(flat, y, outliers=True)
    assert torch.isclose(batch_loss(confident[:1], y[:1], outliers=True),
                         torch.nn.functional.cross_entropy(confident[:1], y[:1]))


def test_the_held_out_drawings_cover_every_class_and_read_as_drawings():
    """fmnist.sketches.heldout: 3 designs x 3 layouts per class, each a sketchpad value the app
    reads as a drawing, none empty or cut off the canvas."""
    from fmnist.sketches import heldout as held
    from fmnist.sketches.strokes import render

    x, labels, names = held.drawings()
    assert x.shape == (90, 1, 28, 28) and np.bincount(labels).tolist() == [9] * 10 and len(set(names)) == 90
    assert (x.flatten(1).amax(1) > 0.5).all()
    for label, designs in held.DESIGNS.items():
        for layout in held.LAYOUTS:
            rgba = render(designs[0](), held.ASPECT[label], layout)
            ink = rgba[..., 0] < 128
            assert ink.any() and not (ink[0].any() or ink[-1].any() or ink[:, 0].any() or ink[:, -1].any())
            assert prepare({"composite": rgba, "layers": [], "background": None}).drawing


REFERENCE_SIMD = ("amx_bf16", "avx2", "avx512_bf16", "avx512f")   # the CPU drawings_v11.npz was made on (Intel, AMX)


def test_the_drawings_are_the_same_byte_for_byte_as_the_shipped_models_were_trained_on():
    """tests/data/drawings_v11.npz holds drawings made by the code the drawing-aware models were trained on
    (VERSION 11; tools/make_drawings_reference.py): one raw drawing per style and class, a bank of 300 as
    the models see them, and 8 doodles. The code must make the same bytes, or bump VERSION (the cache key)."""
    from fmnist.hardware import simd
    from fmnist.sketches import VERSION
    from fmnist.sketches.bank import reference_drawings

    ref = np.load(Path(__file__).parent / "data" / "drawings_v11.npz")
    assert VERSION == 11
    now = reference_drawings(ref["images"], ref["labels"])
    assert np.array_equal(now["first"], ref["first"])
    if simd() == REFERENCE_SIMD:   # where the reference was made: the same bytes
        for key in ("raw", "bank", "doodles"):
            assert np.array_equal(now[key], ref[key]), key
    else:   # OpenCV and numpy pick other vector kernels on other CPUs: a last-bit float difference may move
        #     a pixel across a threshold, so elsewhere the same drawings up to a handful of pixels
        for key in ("raw", "bank", "doodles"):
            assert (now[key] != ref[key]).mean() < 1e-3, (simd(), key, (now[key] != ref[key]).mean())


def test_the_training_drawings_never_import_the_benchmark_designs():
    """The benchmark's designs are written apart from the training drawings, so the benchmark measures
    generalisation, not the augmentation's own output: no training module imports them."""
    import subprocess
    import sys

    code = ("import sys, fmnist.sketches, fmnist.training; "
            "print(sorted(m for m in sys.modules if m.startswith('fmnist.sketches.')))")
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert "fmnist.sketches.styles" in loaded and "fmnist.sketches.pictures" in loaded
    assert "designs" not in loaded and "heldout" not in loaded and "openset" not in loaded


def test_pictures_in_other_styles_are_deterministic_garments_and_things():
    """fmnist.sketches.pictures: every style gives an RGB picture on a light background with the garment
    on it; the same seed gives the same bytes; things and outliers come out as model inputs."""
    from fmnist.sketches import pictures as P

    photo = np.zeros((28, 28), np.uint8)
    photo[4:24, 8:20] = 200   # a plain dress-like shape (and, as a bag's, a sandal's or a shoe's photo, often
    traced = 0                # replaced by the shape people draw)
    for label in (3, 8, 5, 7, 9):
        for style in (*P.PICTURE_STYLES, None):
            for seed in (2, 5, 6, 18, 20):   # with no style, bag 2, sandal 2 and 20 and both shoes 18 and 20 are traced as mouse strokes
                a = P.picture_of(photo, label, np.random.default_rng(seed), style)
                b = P.picture_of(photo, label, np.random.default_rng(seed), style)
                assert a.shape[2] == 3 and a.dtype == np.uint8 and np.array_equal(a, b), (label, style)
                # a light border, and ink
                assert (a[0] > 200).all() and (np.abs(a.astype(int) - a[0, 0]).max(-1) > 40).mean() > 0.002, (label, style)
                x = P._as_input(a)
                assert x.shape == (28, 28) and x.max() > 200, (label, style)
                traced += style is None and set(np.unique(a)) <= {0, 255}   # black strokes on white
    assert traced >= 5
    outs = np.stack([P.outlier(np.random.default_rng(i)) for i in range(12)])
    again = np.stack([P.outlier(np.random.default_rng(i)) for i in range(12)])
    assert outs.shape == (12, 28, 28) and np.array_equal(outs, again) and (outs.reshape(12, -1).max(1) > 100).all()


def test_every_primitive_of_a_made_up_thing_fills_its_own_box():
    """The non-garments' shapes (ellipses, boxes, triangles, polygons, stars, blobs, domes, trapezoids,
    rounded boxes, rings, round tops on stems, bars; since v5 bumps on a flat base, slabs on legs, shades
    on stems): each kind puts a fair share of ink inside the box it
    is given and little outside it (a blob's wobble may cross the edge), and rings and crescents leave a hole."""
    import cv2

    from fmnist.sketches import pictures as P

    box = (60, 80, 220, 240)
    for kind in range(P.PRIMITIVES):
        mask = np.zeros((304, 304), np.uint8)
        P._primitive(mask, np.random.default_rng(kind), box, kind)
        inside = mask[80:241, 60:221].sum()
        assert inside > 0.02 * 160 * 160, kind           # a bar is the thinnest
        assert mask.sum() - inside <= 0.1 * mask.sum(), kind
        assert mask.max() == 1, kind
    ring = np.zeros((304, 304), np.uint8)
    P._primitive(ring, np.random.default_rng(1), box, 10)
    assert ring[160, 140] == 0 or ring.sum() < 0.7 * np.pi * 80 * 80   # the inner ellipse is cut out
    for seed in range(10):   # non-garments v5: a cloud's flat base, a seat's legs, a lamp's shade over its stem
        rng = np.random.default_rng(seed)
        other = np.zeros((304, 304), np.uint8)
        other[20:40, 10:30] = 1      # a part drawn before stays: each kind adds to the mask
        cloud, chair, lamp = other.copy(), np.zeros_like(other), np.zeros_like(other)
        P._primitive(cloud, rng, box, 12)
        assert cloud[20:40, 10:30].all() and not cloud[241:].any()
        bottom = np.flatnonzero(cloud[:241, 60:221].any(1)).max()
        assert cloud[bottom, 60:221].sum() > 0.25 * 160, seed             # flat, not round, at the bottom
        alone = np.zeros_like(other)
        P._primitive(alone, np.random.default_rng(100 + seed), box, 12)
        assert cv2.connectedComponents(alone)[0] - 1 == 1, seed          # v6: the bumps joined, one piece
        P._primitive(chair, rng, box, 13)
        runs = np.diff(np.concatenate([[0], chair[235, :], [0]]).astype(int))
        assert (runs == 1).sum() >= 2, seed                              # two to four legs stand apart
        P._primitive(lamp, rng, box, 14)
        rows = np.flatnonzero(lamp.any(1))
        top = lamp[rows[0]:rows[0] + 20].sum(1).max()
        middle = lamp[(rows[0] + rows[-1]) // 2 + 10].sum()
        assert top > 3 * middle > 0, seed                                # a shade over a thin stem


def test_stacked_parts_make_one_upright_thing():
    """A made-up thing built as a stack (a roof on a box, a shade on a stand): at most four pieces, the ink
    centred on one vertical axis and spanning over 40% of the canvas's height; the same seed gives the
    same thing. (A row of puffs, kind 12, is one piece: since non-garments v6 a strip joins them.)"""
    import cv2

    from fmnist.sketches import pictures as P

    pieces = []
    for seed in range(30):
        mask = np.zeros((304, 304), np.uint8)
        P._stacked_parts(mask, np.random.default_rng(seed))
        pieces.append(cv2.connectedComponents(mask)[0] - 1)
        assert 1 <= pieces[-1] <= 4, seed
        rows, cols = np.nonzero(mask)
        assert rows.max() - rows.min() > 0.4 * 304, seed
        assert abs(cols.mean() - 152) < 0.2 * 304, seed  # centred on one axis, as stacked
        again = np.zeros_like(mask)
        P._stacked_parts(again, np.random.default_rng(seed))
        assert (again == mask).all()
    # most stacks are one or two pieces (a chair's legs and back, kind 13, touch the parts above and below
    # only where those have ink: 40% of these seeds are one piece, 83% at most two)
    assert np.mean(np.array(pieces) <= 2) > 0.75 and np.mean(np.array(pieces) == 1) > 0.3


def test_the_open_set_benchmark_is_deterministic_and_varied():
    """fmnist.sketches.openset: the same pictures every time, non-garments from every source and style,
    garments of every class in every style other than the mouse's."""
    import hashlib

    from fmnist.sketches import openset

    def digest(items):
        return hashlib.sha256(b"".join(d["image"].tobytes() for d in items)).hexdigest()

    ng, gm = openset.non_garments(), openset.garments()
    assert digest(ng) == digest(openset.non_garments()) and digest(gm) == digest(openset.garments())
    assert {d["source"] for d in ng} == {"objects", "glyphs", "textures"}
    assert {d["style"] for d in ng if d["source"] == "objects"} == set(openset.OBJECT_STYLES)
    assert {d["label"] for d in gm} == set(range(10)) and {d["style"] for d in gm} == set(openset.GARMENT_STYLES)
    assert len(ng) >= 290 and len(gm) >= 200
    for d in ng + gm:
        assert d["image"].shape == (openset.SIDE, openset.SIDE, 3) and d["image"].dtype == np.uint8


def test_the_garment_or_not_heads_decide_where_the_models_have_them():
    """With heads (their log-odds in each prediction), the heads' mean decides, and the verdict says why;
    without, the probabilities' rule does."""
    from fmnist.inference import GARMENT_THRESHOLD

    sure_bag = _comparison({"simple": ("Bag", 0.9), "sa": ("Bag", 0.85), "gated": ("Bag", 0.95)})
    assert sure_bag.looks_like_a_garment
    for p in sure_bag.predictions.values():
        p.garment_logit = GARMENT_THRESHOLD - 2.0
    assert not sure_bag.looks_like_a_garment
    assert "does not look like a garment" in sure_bag.verdict and "unlike the garments they learned" in sure_bag.verdict
    for p in sure_bag.predictions.values():
        p.garment_logit = GARMENT_THRESHOLD + 2.0
    assert sure_bag.looks_like_a_garment and "**Bag**" in sure_bag.verdict
