"""The ``textmask`` variant (T-MARS): PP-OCR's detector (rapidocr_onnxruntime) finds text drawn at a
known box with a real font, the mask covers that box, and nothing outside it changes."""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from clipcurate.embed import variants
from clipcurate.embed.variants import textmask as tm

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
CONFIG = {"pool": {"source": "world"}, "models": {"m": {"arch": "a"}}, "scores": {}, "mixes": {}, "flyt": {"runs": {}},
          "recipes": {}, "reference_sets": {}}


def _font(size):
    try:
        return ImageFont.truetype(FONT, size)
    except OSError:  # no DejaVu: Pillow's bundled FreeType font (Aileron), also a real outline font
        return ImageFont.load_default(size=size)


def _scene(size=256, text="PIZZA", at=(40, 100), font_size=36, seed=0):
    """A photo-like background (smooth colour gradients plus mild noise) with ``text`` drawn at
    ``at``; returns the image and the text's ink box (l, t, r, b), measured by Pillow."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    bg = np.stack([60 + 80 * x, 110 + 40 * y, 70 + 50 * (1 - x) * y], axis=-1) + rng.normal(0, 3, (size, size, 3))
    im = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    font = _font(font_size)
    draw.text(at, text, font=font, fill=(250, 245, 240))
    return im, draw.textbbox(at, text, font=font)


def _iou(mask, box):
    l, t, r, b = box
    ref = np.zeros_like(mask)
    ref[t:b, l:r] = True
    return (mask & ref).sum() / (mask | ref).sum()


def test_the_mask_covers_text_drawn_at_a_known_box_and_nothing_else():
    im, box = _scene()
    out = variants.transform("textmask")(im)
    a, o = np.asarray(im).astype(int), np.asarray(out).astype(int)
    changed = (a != o).any(axis=-1)
    assert _iou(changed, box) > 0.6, f"mask {np.argwhere(changed).min(0)}..{np.argwhere(changed).max(0)} vs text box {box}"
    l, t, r, b = box
    pad = 12  # the detector dilates its boxes (unclip_ratio 1.6) a few pixels past the ink
    outside = np.ones(changed.shape, bool)
    outside[max(t - pad, 0):b + pad, max(l - pad, 0):r + pad] = False
    np.testing.assert_array_equal(o[outside], a[outside])
    # inside the mask one colour, the mean of the original pixels there (T-MARS's mean fill)
    boxes = tm.detect_boxes(im, tm.DEFAULTS)
    inside = tm.box_mask(im.size, boxes)
    assert inside.sum() >= changed.sum() and len(np.unique(o[inside], axis=0)) == 1
    np.testing.assert_allclose(o[inside][0], a[inside].mean(axis=0), atol=0.51)
    # no text left to find
    assert len(tm.detect_boxes(out, tm.DEFAULTS)) == 0


def test_text_free_image_is_unchanged():
    im, _ = _scene(text="")
    assert variants.transform("textmask")(im) is im


@pytest.mark.parametrize("size", [64, 32])
def test_small_images_are_detected_on_an_upscaled_copy(size):
    """The tiny world downloads 32 px images: detection runs at det_size and the boxes come back
    in the small image's coordinates."""
    big, box = _scene(text="SALE", at=(30, 90), font_size=70)
    im = big.resize((size, size), Image.Resampling.BICUBIC)
    f = size / 256
    small_box = (int(box[0] * f), int(box[1] * f), int(np.ceil(box[2] * f)), int(np.ceil(box[3] * f)))
    boxes = tm.detect_boxes(im, tm.DEFAULTS)
    assert len(boxes) >= 1
    assert _iou(tm.box_mask(im.size, boxes), small_box) > 0.5


def test_border_fill_takes_the_ring_outside_the_box():
    arr = np.zeros((40, 40, 3), np.uint8)
    arr[:, 20:] = 200
    quad = np.array([[[10, 10], [29, 10], [29, 29], [10, 29]]], float)
    inside = tm.box_mask((40, 40), quad)
    assert inside.sum() == 20 * 20  # the polygon includes its outline pixels
    mean = np.asarray(tm.fill_boxes(Image.fromarray(arr), quad, "mean"))
    assert (mean[inside] == 100).all()  # half 0, half 200
    from scipy.ndimage import binary_dilation

    ring = binary_dilation(inside, iterations=2) & ~inside
    border = np.asarray(tm.fill_boxes(Image.fromarray(arr), quad, "border"))
    assert (border[inside] == int(np.rint(arr[ring].mean()))).all()


def test_params_resolve_from_config_and_bad_values_name_the_key():
    plan = variants.plan_variant(CONFIG, "textmask")
    assert plan["params"] == tm.DEFAULTS and plan["artifacts"] == {}
    cfg = {**CONFIG, "embed": {"variants": {"textmask": {"params": {"det_size": 256, "box_thresh": 0.4}}}}}
    assert variants.plan_variant(cfg, "textmask")["params"] == {**tm.DEFAULTS, "det_size": 256, "box_thresh": 0.4}
    for bad, match in [({"fill": "blur"}, r"embed\.variants\.textmask\.params: textmask: params\.fill is 'blur'; expected one of \['mean', 'border'\]"),
                       ({"det_size": 8}, r"params\.det_size is 8; expected an integer >= 32"),
                       ({"thresh": 1.5}, r"params\.thresh is 1\.5; expected a probability")]:
        with pytest.raises(variants.VariantConfigError, match=match):
            variants.plan_variant({**CONFIG, "embed": {"variants": {"textmask": {"params": bad}}}}, "textmask")
