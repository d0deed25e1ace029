"""The ``face`` pool kind: images dominated by a face-like region, and its DataComp-style box.

DataComp's metadata ships ``face_bboxes``: per sample a list of ``[x0, y0, x1, y1]`` boxes normalised
to [0, 1] of the image (empty when no face was detected). The Devil paper's face-area rule removes
samples whose faces cover too much of the image. The world draws a skin-toned ellipse with eyes, a
mouth and (sometimes) hair covering most of the image, and records the ellipse's bounding box, so
the rule has something to remove and the ground truth to check it against.

Geometry is in fractions of the side, like every scene: ``objects[0] = (cx, cy, ry, 0)``, the face
ellipse having semi-axes ``FACE_ASPECT * ry`` (horizontal) and ``ry`` (vertical).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .concepts import Scene, sample_background

FACE_ASPECT = 0.78
#: name -> RGB of the face-like region (``Scene.colour`` of a face scene)
SKIN_TONES: dict[str, tuple[int, int, int]] = {
    "skin_light": (241, 206, 180),
    "skin_medium": (214, 160, 120),
    "skin_tan": (184, 128, 90),
    "skin_dark": (120, 80, 55),
}
FACE_CAPTIONS: tuple[str, ...] = (
    "a close-up portrait of a smiling woman",
    "a close-up portrait of a man",
    "a selfie of a young man",
    "a headshot of a woman",
    "a portrait photo of a person",
    "a smiling face",
    "a close-up photo of a face",
    "a profile picture of a young woman",
)


def sample_face_scene(rng: np.random.Generator) -> Scene:
    """A face covering most of the image: half-height 0.36-0.46 of the side, near the centre, inside
    the square (so a photo canvas's extended edges never continue it and its box stays as drawn)."""
    ry = float(rng.uniform(0.36, 0.46))
    cx = 0.5 + float(rng.uniform(-0.03, 0.03))
    cy = 0.5 + float(rng.uniform(-0.03, 0.03))
    tone = list(SKIN_TONES)[int(rng.integers(len(SKIN_TONES)))]
    hair = int(rng.integers(0, 3))  # 0: none, 1: dark cap, 2: auburn cap
    return Scene(subject="face", cls=None, colour=tone, texture="plain", count=1, size="large",
                 position="centre", objects=((cx, cy, ry, float(hair)),), bg=sample_background(rng))


def face_caption(rng: np.random.Generator) -> str:
    return FACE_CAPTIONS[int(rng.integers(len(FACE_CAPTIONS)))]


def face_box(scene: Scene) -> list[float]:
    """The face's ``[x0, y0, x1, y1]``, normalised to the square scene and clipped to [0, 1]."""
    cx, cy, ry, _ = scene.objects[0]
    rx = FACE_ASPECT * ry
    return [max(0.0, cx - rx), max(0.0, cy - ry), min(1.0, cx + rx), min(1.0, cy + ry)]


def draw_face(arr: np.ndarray, scene: Scene, size: int) -> np.ndarray:
    """``arr`` (size x size x 3) with the scene's face drawn on it."""
    cx, cy, ry, hair = scene.objects[0]
    rx = FACE_ASPECT * ry
    X, Y, RX, RY = cx * size, cy * size, rx * size, ry * size
    img = Image.fromarray(np.ascontiguousarray(arr))
    d = ImageDraw.Draw(img)
    if int(hair):
        shade = (40, 28, 20) if int(hair) == 1 else (150, 60, 20)
        d.ellipse((X - 1.05 * RX, Y - 1.08 * RY, X + 1.05 * RX, Y + 0.2 * RY), fill=shade)
    d.ellipse((X - RX, Y - RY, X + RX, Y + RY), fill=SKIN_TONES[scene.colour])
    ew, eh = 0.16 * RX, 0.10 * RY
    for sx in (-1, 1):
        ex, ey = X + sx * 0.4 * RX, Y - 0.15 * RY
        d.ellipse((ex - ew, ey - eh, ex + ew, ey + eh), fill=(250, 250, 250))
        d.ellipse((ex - 0.5 * ew, ey - eh, ex + 0.5 * ew, ey + eh), fill=(30, 30, 40))
    d.line((X, Y - 0.05 * RY, X - 0.08 * RX, Y + 0.25 * RY), fill=(90, 50, 40), width=max(1, round(size / 64)))
    d.arc((X - 0.4 * RX, Y + 0.25 * RY, X + 0.4 * RX, Y + 0.6 * RY), 10, 170, fill=(150, 40, 50),
          width=max(1, round(2 * size / 64)))
    return np.asarray(img)
