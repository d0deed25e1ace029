"""``textmask``: rendered text masked out of each image (T-MARS, Maini et al. 2023), the input of the
``tmars`` score (the CLIP score of the masked image against the original caption).

T-MARS (locuslab/T-MARS) detects text regions with an OCR text detector, fills every region with a
mean colour, and recomputes the CLIP score of the masked image against the **original** caption; a
pair whose image-caption match rested on spelled-out text loses it, a pair whose visual content
matches keeps it. Its public code releases the detection step only (FAST on a 512 px padded square);
the maintainer's description of the masking ("masked with mean color before sending to the CLIP
model") leaves open whether the mean is taken inside the box or around it: this module fills each
region with the mean colour **inside** it (``fill: mean``; ``fill: border`` takes the mean of a
ring just outside the region, the other reading).

The detector is PP-OCRv4's text detector (DB, differentiable binarisation) as ``rapidocr_onnxruntime``
ships it, run through that package's own pre- and post-processing (``TextDetector``): it returns
quadrilaterals, which are filled as polygons. Its parameters are the variant's params:

- ``det_size``: the side the longer image side is resized to (bicubic) before detection, and the
  boxes mapped back to the image's own size. T-MARS runs its detector at 512 px; the tiny world's
  images are downloaded at 32 px, far below what a detector trained on photos of documents and
  scenes resolves, so detection runs on the upscaled copy and the mask is drawn on the image as
  given (the benchmark, ``benchmarks/bench_tmars.py``, measures it at both sizes).
- ``thresh`` (pixel probability binarisation), ``box_thresh`` (a box's mean probability to keep it),
  ``unclip_ratio`` (how far a box is dilated past the text kernel, DB's "unclip"; PP-OCR's 1.6),
  ``use_dilation`` (dilate the probability map before finding contours).
- ``detector``: the ONNX model file; ``""`` is the PP-OCRv4 model inside the installed package
  (no artifact: the file comes with the environment, and its path is part of the job's params, so
  changing it reruns the variant's embeddings).
- ``threads``: onnxruntime's intra-op threads per embed job.

An image without detected text is returned unchanged (the same object).
"""

from __future__ import annotations

from functools import lru_cache

from clipcurate.embed.variants import register

#: PP-OCR's own detection defaults (rapidocr_onnxruntime/config.yaml), T-MARS's 512 px render size.
DEFAULTS = {
    "detector": "",
    "det_size": 512,
    "thresh": 0.3,
    "box_thresh": 0.5,
    "unclip_ratio": 1.6,
    "use_dilation": True,
    "fill": "mean",
    "threads": 1,
}
FILLS = ("mean", "border")


def bundled_detector() -> str:
    """The PP-OCRv4 detection model shipped inside rapidocr_onnxruntime."""
    from pathlib import Path

    import rapidocr_onnxruntime

    path = Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_PP-OCRv4_det_infer.onnx"
    if not path.is_file():
        raise FileNotFoundError(f"textmask: rapidocr_onnxruntime has no bundled detector at {path}; set embed.variants.textmask.params.detector")
    return str(path)


@lru_cache(maxsize=4)
def _detector(model_path: str, det_size: int, thresh: float, box_thresh: float, unclip_ratio: float, use_dilation: bool,
              threads: int):
    """One onnxruntime session per process and setting (embed jobs call the transform per image)."""
    from rapidocr_onnxruntime.ch_ppocr_det import TextDetector

    return TextDetector({
        "model_path": model_path, "use_cuda": False, "use_dml": False,
        "intra_op_num_threads": int(threads), "inter_op_num_threads": 1,
        "limit_side_len": int(det_size), "limit_type": "max", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
        "thresh": float(thresh), "box_thresh": float(box_thresh), "max_candidates": 1000,
        "unclip_ratio": float(unclip_ratio), "use_dilation": bool(use_dilation), "score_mode": "fast",
    })


def check_params(params) -> None:
    """Raise ValueError naming the parameter when one is out of range (planning calls the variant
    with these params, so a bad value fails before any embed job)."""
    if params["fill"] not in FILLS:
        raise ValueError(f"textmask: params.fill is {params['fill']!r}; expected one of {list(FILLS)}")
    if not (isinstance(params["det_size"], int) and params["det_size"] >= 32):
        raise ValueError(f"textmask: params.det_size is {params['det_size']!r}; expected an integer >= 32 (px)")
    for key in ("thresh", "box_thresh"):
        if not 0 < float(params[key]) < 1:
            raise ValueError(f"textmask: params.{key} is {params[key]!r}; expected a probability in (0, 1)")
    if float(params["unclip_ratio"]) <= 0:
        raise ValueError(f"textmask: params.unclip_ratio is {params['unclip_ratio']!r}; expected > 0")


def detect_boxes(image, params):
    """Text quadrilaterals of ``image`` (PIL RGB) in its own pixel coordinates: float array [k, 4, 2]
    (x, y) per corner, k = 0 when the detector finds no text. The image is resized (bicubic) so its
    longer side is ``det_size``, detected there, and the boxes scaled back."""
    import numpy as np
    from PIL import Image

    check_params(params)
    w, h = image.size
    scale = params["det_size"] / max(w, h)
    big = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BICUBIC) if scale != 1 else image
    bgr = np.ascontiguousarray(np.asarray(big.convert("RGB"))[:, :, ::-1])
    det = _detector(params["detector"] or bundled_detector(), params["det_size"], params["thresh"], params["box_thresh"],
                    params["unclip_ratio"], params["use_dilation"], params["threads"])
    boxes, _ = det(bgr)
    if boxes is None or len(boxes) == 0:
        return np.zeros((0, 4, 2), dtype=np.float64)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4, 2)
    sx, sy = w / big.size[0], h / big.size[1]
    return boxes * np.array([sx, sy]) if (sx, sy) != (1.0, 1.0) else boxes


def box_mask(size, boxes):
    """Boolean [h, w] mask of the pixels inside any of ``boxes`` (polygons in pixel coordinates)."""
    import numpy as np
    from PIL import Image, ImageDraw

    w, h = size
    m = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(m)
    for quad in boxes:
        draw.polygon([(float(x), float(y)) for x, y in quad], fill=255, outline=255)
    return np.asarray(m) > 0


def fill_boxes(image, boxes, fill: str = "mean"):
    """``image`` with each box filled by one colour: the mean inside the box (``mean``) or of a ring
    two pixels wide just outside it (``border``; the box's own mean when the ring is empty)."""
    import numpy as np
    from PIL import Image

    if len(boxes) == 0:
        return image
    arr = np.asarray(image.convert("RGB")).copy()
    for quad in boxes:
        inside = box_mask(image.size, [quad])
        if not inside.any():
            continue
        source = inside
        if fill == "border":
            from scipy.ndimage import binary_dilation

            ring = binary_dilation(inside, iterations=2) & ~inside
            source = ring if ring.any() else inside
        colour = arr[source].reshape(-1, 3).astype(np.float64).mean(axis=0)
        arr[inside] = np.clip(np.rint(colour), 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


@register("textmask", defaults=DEFAULTS, check=check_params)
def textmask(image, params, artifacts):
    """The image with every PP-OCR-detected text region filled with its mean colour (T-MARS)."""
    return fill_boxes(image, detect_boxes(image, params), params["fill"])
