"""Pure rendering of scenes to pixel arrays, and the byte payloads the world serves.

``render_scene(scene, size)`` is a pure function: every random choice lives in the ``Scene``.
Drawing is done with Pillow at the native size (64 px by default) without anti-aliasing of the
shapes; text uses Pillow's built-in font (FreeType "Aileron" when Pillow has FreeType, otherwise
the bitmap font scaled up).
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw, ImageFont, features

from .concepts import COLOURS, Scene

JPEG_QUALITY = 90
_HAS_FREETYPE = features.check("freetype2")

# --------------------------------------------------------------------------------------------
# shapes


def _poly(n: int, start_deg: float) -> list[tuple[float, float]]:
    return [(math.cos(math.radians(start_deg + 360 * k / n)), math.sin(math.radians(start_deg + 360 * k / n)))
            for k in range(n)]


_STAR = [
    ((1.0 if k % 2 == 0 else 0.45) * math.cos(math.radians(-90 + 36 * k)),
     (1.0 if k % 2 == 0 else 0.45) * math.sin(math.radians(-90 + 36 * k)))
    for k in range(10)
]
_W = 0.34
_CROSS = [(-_W, -1), (_W, -1), (_W, -_W), (1, -_W), (1, _W), (_W, _W), (_W, 1), (-_W, 1), (-_W, _W),
          (-1, _W), (-1, -_W), (-_W, -_W)]
_ARROW = [(-1, -0.28), (0.12, -0.28), (0.12, -0.72), (1, 0), (0.12, 0.72), (0.12, 0.28), (-1, 0.28)]

#: unit outlines (circumradius 1, y pointing down); circle and ring are drawn as ellipses
UNIT_POLYGONS: dict[str, list[tuple[float, float]]] = {
    "square": _poly(4, 45),
    "triangle": [(x, y + 0.15) for x, y in _poly(3, -90)],  # centre the triangle's bounding box
    "diamond": [(0, -1), (0.62, 0), (0, 1), (-0.62, 0)],
    "pentagon": [(x, y + 0.05) for x, y in _poly(5, -90)],
    "hexagon": _poly(6, 0),
    "star": [(x, y + 0.05) for x, y in _STAR],
    "cross": [(x * 0.92, y * 0.92) for x, y in _CROSS],
    "arrow": _ARROW,
}
RING_INNER = 0.55


def _transform(points, cx, cy, r, rot_deg):
    c, s = math.cos(math.radians(rot_deg)), math.sin(math.radians(rot_deg))
    return [(cx + r * (x * c - y * s), cy + r * (x * s + y * c)) for x, y in points]


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float, rot: float,
               outline: int = 0) -> None:
    """Draw ``shape`` (value 255) on an 'L' image; ``outline`` > 0 draws only the outline, that wide."""
    if shape in ("circle", "ring"):
        box = (cx - r, cy - r, cx + r, cy + r)
        if outline:
            draw.ellipse(box, outline=255, width=outline)
            if shape == "ring":
                ri = r * RING_INNER
                draw.ellipse((cx - ri, cy - ri, cx + ri, cy + ri), outline=255, width=outline)
        else:
            draw.ellipse(box, fill=255)
            if shape == "ring":
                ri = r * RING_INNER
                draw.ellipse((cx - ri, cy - ri, cx + ri, cy + ri), fill=0)
        return
    pts = _transform(UNIT_POLYGONS[shape], cx, cy, r, rot)
    if outline:
        draw.polygon(pts, outline=255, width=outline)
    else:
        draw.polygon(pts, fill=255)


# --------------------------------------------------------------------------------------------
# textures and backgrounds


@functools.lru_cache(maxsize=16)
def _patterns(size: int) -> dict[str, np.ndarray]:
    """Boolean texture patterns (True = secondary colour), 16 px larger than the image for phase."""
    n = size + 16
    y, x = np.mgrid[0:n, 0:n]
    p = max(4, round(size * 10 / 64))
    q = max(4, round(size * 9 / 64))
    b = max(2, round(size * 6 / 64))
    rad = 0.3 * q
    return {
        "striped": ((x + y) % p) < p / 2,
        "dotted": ((x % q - q / 2 + 0.5) ** 2 + (y % q - q / 2 + 0.5) ** 2) < rad * rad,
        "checkered": ((x // b + y // b) % 2) == 1,
    }


@functools.lru_cache(maxsize=16)
def _ramp(size: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, size, dtype=np.float32)


def render_background(bg: tuple, size: int, noise: float = 0.0, noise_seed: int = 0) -> np.ndarray:
    c1, c2, mode = bg
    if mode == 0:
        arr = np.empty((size, size, 3), dtype=np.uint8)
        arr[...] = c1
    else:
        a = np.asarray(c1, dtype=np.float32)
        d = np.asarray(c2, dtype=np.float32) - a
        t = _ramp(size)
        if mode == 1:  # horizontal
            arr = a + d * t[None, :, None]
        else:
            arr = a + d * t[:, None, None]
        arr = np.broadcast_to(arr, (size, size, 3)).round().astype(np.uint8)
    if noise > 0:
        rng = np.random.default_rng(noise_seed)
        n = rng.normal(0.0, noise, (size, size, 3)).astype(np.float32)
        arr = np.clip(arr.astype(np.float32) + n, 0, 255).round().astype(np.uint8)
    return arr


# --------------------------------------------------------------------------------------------
# text


@functools.lru_cache(maxsize=64)
def _font(fs: int):
    return ImageFont.load_default(size=fs)


@functools.lru_cache(maxsize=1)
def _bitmap_font():
    return ImageFont.load_default_imagefont()


@functools.lru_cache(maxsize=4096)
def text_glyph(text: str, fs: int) -> Image.Image:
    """``text`` at font size ``fs`` as an 'L' image cropped to its ink."""
    fs = max(4, int(fs))
    if _HAS_FREETYPE:
        # bold (a stroke in the glyph colour): the regular weight's ~1.5 px strokes vanish at 32 px
        font = _font(fs)
        sw = max(1, round(fs / 14))
        l, t, r, b = font.getbbox(text, stroke_width=sw)
        im = Image.new("L", (max(1, r - l), max(1, b - t)), 0)
        ImageDraw.Draw(im).text((-l, -t), text, font=font, fill=255, stroke_width=sw, stroke_fill=255)
        return im
    font = _bitmap_font()  # pragma: no cover - Pillow without FreeType
    l, t, r, b = font.getbbox(text)
    im = Image.new("L", (max(1, r - l), max(1, b - t)), 0)
    ImageDraw.Draw(im).text((-l, -t), text, font=font, fill=255)
    k = fs / 11.0
    return im.resize((max(1, round(im.width * k)), max(1, round(im.height * k))), Image.NEAREST)


@functools.lru_cache(maxsize=1)
def _digit_cap_ratio() -> float:
    """Glyph height of a digit per unit of font size."""
    return text_glyph("0", 100).height / 100.0


@functools.lru_cache(maxsize=4096)
def _fit_size(text: str, max_w: int, max_fs: int) -> int:
    fs = max_fs
    while fs > 5 and text_glyph(text, fs).width > max_w:
        fs -= 1
    return fs


def _paste_text_block(img: Image.Image, lines, colour, pos, size: int) -> None:
    n = len(lines)
    max_fs = round(size * (0.34 if n == 1 else 0.27))
    max_w = int(size * 0.92)
    fs = min(_fit_size(w, max_w, max_fs) for w in lines)
    glyphs = [text_glyph(w, fs) for w in lines]
    gap = max(1, round(fs * 0.25))
    line_h = max(g.height for g in glyphs)
    block_h = n * line_h + (n - 1) * gap
    block_w = max(g.width for g in glyphs)
    u, v = pos
    x0 = round((size - block_w) * u)
    y0 = round((size - block_h) * v)
    for i, g in enumerate(glyphs):
        x = x0 + (block_w - g.width) // 2
        y = y0 + i * (line_h + gap) + (line_h - g.height)
        img.paste(tuple(colour), (x, y, x + g.width, y + g.height), g)


# --------------------------------------------------------------------------------------------
# scenes


def subject_mask(scene: Scene, size: int) -> np.ndarray:
    """Boolean mask of the scene's subject (shapes or digit glyph)."""
    mask = Image.new("L", (size, size), 0)
    if scene.objects:
        draw = ImageDraw.Draw(mask)
        for cx, cy, r, rot in scene.objects:
            if scene.subject == "digit":
                fs = max(4, round(2 * r * size / _digit_cap_ratio()))
                g = text_glyph(scene.cls, fs)
                x = round(cx * size - g.width / 2)
                y = round(cy * size - g.height / 2)
                mask.paste(255, (x, y, x + g.width, y + g.height), g)
            elif scene.subject == "shape":
                outline = max(2, round(size * 3 / 64)) if scene.style == "outline" else 0
                draw_shape(draw, scene.cls, cx * size, cy * size, max(1.0, r * size), rot, outline)
    return np.asarray(mask) > 127


def render_scene(scene: Scene, size: int = 64) -> np.ndarray:
    """Render ``scene`` to a (size, size, 3) uint8 array."""
    arr = render_background(scene.bg, size, scene.noise, scene.noise_seed)
    if scene.objects and scene.subject in ("shape", "digit"):
        m = subject_mask(scene, size)
        colour = np.asarray(COLOURS.get(scene.colour, (20, 20, 20)), dtype=np.uint8)
        if scene.texture != "plain" and scene.style != "outline":
            dark = (colour.astype(np.float32) * 0.35).astype(np.uint8)
            dx, dy = scene.tex_phase
            pat = _patterns(size)[scene.texture][dy : dy + size, dx : dx + size]
            fill = np.where(pat[m][:, None], dark, colour)
        else:
            fill = colour
        if not arr.flags.writeable:
            arr = arr.copy()
        if scene.style == "faint":
            a = float(scene.alpha)
            arr[m] = (arr[m].astype(np.float32) * (1 - a) + np.asarray(fill, np.float32) * a).round().astype(np.uint8)
        else:
            arr[m] = fill
    if scene.subject == "face":
        from .faces import draw_face

        arr = draw_face(arr, scene, size)
    if scene.text:
        img = Image.fromarray(arr)
        _paste_text_block(img, scene.text, scene.text_colour, scene.text_pos, size)
        arr = np.asarray(img)
    return arr


# --------------------------------------------------------------------------------------------
# encoding and perturbation


def encode_jpeg(arr: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=int(quality), subsampling=0, optimize=False)
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def pixel_hash(arr: np.ndarray) -> bytes:
    """Exact-content hash of a pixel array (shape included)."""
    arr = np.ascontiguousarray(arr)
    h = hashlib.blake2b(digest_size=16)
    h.update(str(arr.shape).encode())
    h.update(arr.tobytes())
    return h.digest()


def perturb(arr: np.ndarray, dx: int, dy: int, sigma: float, seed: int, quality: int) -> np.ndarray:
    """A near duplicate: shift by (dx, dy) with edge replication, Gaussian noise, JPEG round trip."""
    h, w = arr.shape[:2]
    pad = max(abs(dx), abs(dy))
    if pad:
        p = np.pad(arr, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
        arr = p[pad - dy : pad - dy + h, pad - dx : pad - dx + w]
    if sigma > 0:
        rng = np.random.default_rng(seed)
        arr = np.clip(arr.astype(np.float32) + rng.normal(0.0, sigma, arr.shape), 0, 255).round().astype(np.uint8)
    return decode(encode_jpeg(np.ascontiguousarray(arr), quality))


def extend_canvas(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    """``arr`` centred on a ``width`` x ``height`` canvas (each at least the array's side), its edge
    pixels extended outwards; the left/top margin is ``(width - w) // 2`` / ``(height - h) // 2``."""
    h, w = arr.shape[:2]
    if width < w or height < h:
        raise ValueError(f"canvas {width}x{height} is smaller than the image {w}x{h}")
    left, top = (width - w) // 2, (height - h) // 2
    pad = ((top, height - h - top), (left, width - w - left), (0, 0))
    return np.pad(arr, pad, mode="edge")


def resize(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(arr).resize((int(width), int(height)), Image.BILINEAR))


# --------------------------------------------------------------------------------------------
# payloads of failing URLs

TOO_LARGE_SIDE = 40000


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


@functools.lru_cache(maxsize=4)
def too_large_png(side: int = TOO_LARGE_SIDE) -> bytes:
    """A valid, all-black 1-bit grayscale PNG of side x side pixels (~200 KB for 40000).

    Its pixel count exceeds 2**30, so OpenCV refuses it and Pillow raises DecompressionBombError;
    generated once per process and reused for every such URL. The zlib stream is built from one
    compressed block of rows ended by a full flush (so it references no earlier data) repeated, which
    is a valid deflate stream and ~20x faster than compressing all 200 MB.
    """
    row_bytes = 1 + (side + 7) // 8  # filter byte (0) + packed bits
    rows_per_block = 1000
    n_blocks, rest = divmod(side, rows_per_block)
    block = bytes(row_bytes * rows_per_block)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    unit = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    parts = [b"\x78\xda", unit * n_blocks]
    adler = 1
    for _ in range(n_blocks):
        adler = zlib.adler32(block, adler)
    if rest:
        tail = bytes(row_bytes * rest)
        parts.append(comp.compress(tail))
        adler = zlib.adler32(tail, adler)
    parts.append(comp.flush(zlib.Z_FINISH))
    parts.append(struct.pack(">I", adler & 0xFFFFFFFF))
    idat = b"".join(parts)
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def not_image_html(uid: str) -> bytes:
    """An HTML page, as a misconfigured server returns instead of the image."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Image moved</title></head>\n"
        f"<body><h1>This image is no longer available</h1><p>Resource {uid} was moved. "
        "Please visit our <a href=\"/\">home page</a>.</p></body></html>\n"
    ).encode()
