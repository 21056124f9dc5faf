import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from fmnist.images import ImageError, read_image, render_as_upload
from fmnist.preprocess import prepare


def _check(p):
    assert p.tensor.shape == (1, 1, 28, 28) and p.tensor.dtype == torch.float32
    assert torch.isfinite(p.tensor).all() and p.tensor.min() >= 0 and p.tensor.max() <= 1
    assert p.preview.shape == (28, 28) and p.preview.dtype == np.uint8


def _trouser_canvas(size=800, width=22, background=(255, 255, 255, 255)):
    img = Image.new("RGBA", (size, size), background)
    d = ImageDraw.Draw(img)
    d.line([(330, 150), (280, 650)], fill=(0, 0, 0, 255), width=width)
    d.line([(470, 150), (520, 650)], fill=(0, 0, 0, 255), width=width)
    d.line([(330, 150), (470, 150)], fill=(0, 0, 0, 255), width=width)
    return np.asarray(img)


@pytest.mark.parametrize("background", [(255, 255, 255, 255), (0, 0, 0, 0)], ids=["opaque-white", "transparent"])
def test_sketchpad_dict_both_gradio_variants(background):
    comp = _trouser_canvas(background=background)
    value = {"background": None, "layers": [comp], "composite": comp}
    p = prepare(value)
    _check(p)
    # black ink becomes bright strokes on black, filling the frame vertically
    assert p.preview[0].max() > 0 or p.preview[1].max() > 0
    assert p.preview.mean() > 10 and p.preview[:, 0].max() < 250
    assert "inverted" in " ".join(p.notes)


def test_sketchpad_without_composite_uses_layers():
    layer = _trouser_canvas(background=(0, 0, 0, 0))
    p = prepare({"background": None, "layers": [layer], "composite": None})
    _check(p)
    assert p.preview.mean() > 10


def test_thin_strokes_survive_shrinking():
    thin = prepare({"composite": _trouser_canvas(width=6)})
    assert "thin strokes thickened" in thin.notes
    # both legs still visible as separate bright columns in the middle row
    row = thin.preview[14].astype(int)
    bright = row > 100
    assert bright.sum() >= 2 and np.diff(bright.astype(int)).clip(0).sum() >= 2


def test_upload_of_a_dataset_image_round_trips(dataset):
    img = dataset.test_images[0].numpy()
    p = prepare(render_as_upload(img))
    _check(p)
    corr = np.corrcoef(p.preview.ravel().astype(float), img.ravel().astype(float))[0, 1]
    assert corr > 0.85


@pytest.mark.parametrize("scale", [3, 5, 8])
@pytest.mark.parametrize("width", [16, 17])
def test_an_enlarged_upload_lands_on_the_dataset_pixel_grid(scale, width):
    # a garment as the dataset frames it: full height, `width` columns, the odd margin's extra pixel on
    # the left; enlarged, put off-centre on a page, JPEG: the same columns come back, none blurred away
    img = np.zeros((28, 28), np.uint8)
    left = (28 - width + 1) // 2
    img[:, left:left + width] = np.linspace(170, 255, 28).astype(np.uint8)[:, None]  # shaded, as a photo
    img[:, left] = img[:, left + width - 1] = 110  # soft edges, as the dataset's garments have
    p = prepare(render_as_upload(img, scale=scale, canvas=480, offset=(37, -23), jpeg_quality=90))
    assert not p.drawing  # shading: a photo (a flat one would be taken for a filled drawing)
    lit = np.flatnonzero(p.preview.max(0) > 45)
    assert (lit[0], lit[-1]) == (left, left + width - 1)
    assert (p.preview.max(1) > 45).all()  # the long side fills the frame
    assert np.abs(p.preview.astype(int) - img).mean() < 8


def test_faint_drawings_are_brought_to_full_brightness():
    page = Image.new("L", (400, 400), 255)
    ImageDraw.Draw(page).rectangle([120, 60, 280, 340], fill=190)  # a light pencil on white
    p = prepare(page)
    assert p.preview.max() == 255 and p.preview[14, 14] > 240


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "I;16", "LA", "CMYK", "1", "F"])
def test_any_pil_mode(mode):
    base = Image.new("L", (90, 60), 255)
    ImageDraw.Draw(base).rectangle([20, 10, 70, 50], fill=0)
    if mode == "I;16":
        img = Image.fromarray((np.asarray(base).astype(np.uint16) * 257))
    elif mode == "F":
        img = Image.fromarray(np.asarray(base).astype(np.float32) / 255)
    else:
        img = base.convert(mode)
    p = prepare(img)
    _check(p)
    # the aspect ratio is kept: a 50x40 box fills the width but not the height
    rows_lit = (p.preview > 128).any(1).sum()
    cols_lit = (p.preview > 128).any(0).sum()
    assert cols_lit >= 26 and rows_lit < cols_lit


def test_dark_garment_on_light_photo_is_inverted_and_centred():
    photo = Image.new("RGB", (640, 480), (235, 235, 230))
    ImageDraw.Draw(photo).ellipse([400, 50, 600, 400], fill=(40, 30, 30))  # off-centre, right side
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=80)
    p = prepare(buf.getvalue())
    _check(p)
    assert p.preview[14, 14] > 200 and p.preview[0, 0] < 30
    cols = np.flatnonzero((p.preview > 100).any(0))
    assert abs((cols[0] + cols[-1]) / 2 - 13.5) <= 2  # centred


@pytest.mark.parametrize("bad,message", [
    (b"", "empty"),
    (b"this is text, not a picture", "not an image"),
    (None, "No image"),
])
def test_bad_inputs_raise_image_error(bad, message):
    with pytest.raises(ImageError, match=message):
        prepare(bad)


def test_blank_and_transparent_images_are_refused():
    for img in (Image.new("RGB", (100, 100), "white"), Image.new("RGBA", (100, 100), (0, 0, 0, 0)),
                Image.new("L", (50, 50), 0)):
        with pytest.raises(ImageError, match="blank"):
            prepare(img)


def test_truncated_png_is_refused():
    buf = io.BytesIO()
    Image.new("RGB", (200, 200), "red").save(buf, "PNG")
    with pytest.raises(ImageError, match="damaged|not an image"):
        prepare(buf.getvalue()[:60])


def test_arrays_of_any_dtype():
    a = np.zeros((40, 30), bool)
    a[5:35, 10:20] = True
    for arr in (a, a.astype(np.uint8) * 255, a.astype(np.uint16) * 4000, a.astype(np.float64),
                np.where(a, np.inf, np.nan), np.stack([a * 200] * 3, -1).astype(np.uint8)):
        try:
            _check(prepare(arr))
        except ImageError:
            pass  # a clear refusal is fine; anything else is not
    with pytest.raises(ImageError, match="shape"):
        prepare(np.zeros((4, 4, 4, 4)))


def test_read_image_composites_alpha_over_white():
    rgba = np.zeros((10, 10, 4), np.uint8)  # transparent black
    grey = read_image(Image.fromarray(rgba, "RGBA"))
    assert np.allclose(grey, 1.0)


def _tshirt_outline():
    img = Image.new("RGBA", (560, 560), "white")
    ImageDraw.Draw(img).line([(180, 120), (240, 100), (320, 100), (380, 120), (450, 200), (400, 240), (370, 210),
                              (370, 460), (190, 460), (190, 210), (160, 240), (110, 200), (180, 120)],
                             fill="black", width=14)
    return np.asarray(img)


def test_a_drawing_gets_one_treatment_whatever_its_entry_and_filling_is_explicit():
    outline = _tshirt_outline()
    sketch = prepare({"composite": outline})
    buf = io.BytesIO()
    Image.fromarray(outline).save(buf, "PNG")
    upload = prepare(buf.getvalue())
    assert sketch.drawing and upload.drawing
    assert np.array_equal(sketch.preview, upload.preview)  # the sketchpad and an uploaded file alike
    assert sketch.preview[16, 14] < 50  # an outline stays an outline: the drawing-aware models read them
    filled = prepare({"composite": outline}, fill_outlines=True)
    assert any("outlines filled" in n for n in filled.notes)
    assert filled.preview[16, 14] > 200  # the middle of the shirt is solid, like the dataset's garments
    # an open scribble has nothing to fill
    scribble = np.full((300, 300, 4), 255, np.uint8)
    scribble[100:110, 20:280] = (0, 0, 0, 255)
    assert not any("filled" in n for n in prepare({"composite": scribble}, fill_outlines=True).notes)


def test_big_images_are_refused_before_decoding():
    buf = io.BytesIO()
    Image.new("1", (8000, 6000), 0).save(buf, "PNG")  # 48 MP: over the limit, under Pillow's hard error
    with pytest.raises(ImageError, match="too large"):
        prepare(buf.getvalue())


@pytest.mark.parametrize("k", [2, 4, 7, 20])
def test_pixel_enlargements_and_28x28_dataset_images_reach_the_model_unchanged(dataset, k):
    # a dataset image saved as a PNG, enlarged by repeating pixels (like the shipped examples or a zoomed
    # screenshot): the models must see exactly the original, not a resampled copy
    for i in (3, 320, 290):  # trouser, a bag that fills the frame, a sandal
        img = dataset.test_images[i].numpy()
        buf = io.BytesIO()
        Image.fromarray(np.kron(img, np.ones((k, k), np.uint8))).save(buf, "PNG")
        p = prepare(buf.getvalue())
        assert np.array_equal(p.preview, img), (i, k)
        assert any(f"repeated {k}x{k}" in n for n in p.notes) and any("used as it is" in n for n in p.notes)


def test_smooth_enlargements_are_not_mistaken_for_repeated_pixels(dataset):
    img = Image.fromarray(dataset.test_images[3].numpy()).resize((112, 112), Image.BILINEAR)
    p = prepare(np.asarray(img))
    assert not any("repeated" in n for n in p.notes) and not any("used as it is" in n for n in p.notes)


def test_shipped_examples_are_the_exact_test_images(dataset):
    from fmnist.views import example_paths

    for path in example_paths():
        index = int(path.rsplit("test", 1)[1].split(".")[0])
        assert np.array_equal(prepare(path).preview, dataset.test_images[index].numpy()), path
