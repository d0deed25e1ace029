"""Named concepts of the tiny world, scene descriptions, and the captions that describe them.

A *scene* is one subject drawn on a light background:

* a shape class (the ImageNet-analogue classes) drawn ``count`` times with one colour, texture and
  size, at one position when ``count == 1``;
* or a digit glyph (the SVHN/MNIST analogue);
* or nothing but rendered words (the scene-text analogue), optionally over a weak object.

Geometry is stored in *fractions of the image side* so a scene is independent of the pixel size it
is rendered at (``render.render_scene``); every random choice a renderer needs (jitter, background,
texture phase, noise seed) is drawn here, so rendering is a pure function of the scene.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

# --------------------------------------------------------------------------------------------
# vocabularies

SHAPES: tuple[str, ...] = (
    "circle", "square", "triangle", "diamond", "pentagon",
    "hexagon", "star", "cross", "ring", "arrow",
)
SHAPE_PLURALS = {s: (s + "es" if s.endswith("s") else s + "s") for s in SHAPES}

#: colour name -> RGB of the fill; saturated so they stand out on the light backgrounds
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 25, 25),
    "green": (20, 150, 40),
    "blue": (25, 60, 215),
    "yellow": (240, 200, 0),
    "purple": (135, 35, 175),
    "orange": (245, 125, 0),
}
COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)

COUNTS: tuple[int, ...] = (1, 2, 3, 4)
COUNT_WORDS = {1: "one", 2: "two", 3: "three", 4: "four"}

POSITIONS: tuple[str, ...] = ("top left", "top right", "bottom left", "bottom right", "centre")
#: centre of a single small object at each position (fractions of the side)
POSITION_CENTRES = {
    "top left": (0.27, 0.27),
    "top right": (0.73, 0.27),
    "bottom left": (0.27, 0.73),
    "bottom right": (0.73, 0.73),
    "centre": (0.5, 0.5),
}

SIZES: tuple[str, ...] = ("small", "large")
TEXTURES: tuple[str, ...] = ("plain", "striped", "dotted", "checkered")
DIGITS: tuple[str, ...] = tuple(str(d) for d in range(10))
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

#: DataComp-style zero-shot templates of the ImageNet analogue (``shapes`` and its shifts)
ZEROSHOT_TEMPLATES: tuple[str, ...] = (
    "a photo of a {c}.",
    "a drawing of a {c}.",
    "an image of a {c}.",
    "a picture of the {c}.",
    "a photo of the {c}.",
    "a simple illustration of a {c}.",
)

#: templates of every classification task (each contains ``{c}``)
TASK_TEMPLATES: dict[str, tuple[str, ...]] = {
    "shapes": ZEROSHOT_TEMPLATES,
    "colours": (
        "a photo of a {c} shape.",
        "a {c} object.",
        "a drawing of a {c} shape.",
        "a picture of something {c}.",
        "an image of a {c} shape.",
    ),
    "counts": (
        "a photo of {c} objects.",
        "a picture of {c} shapes.",
        "there are {c} shapes.",
        "an image of {c} objects.",
    ),
    "positions": (
        "a photo of a shape in the {c}.",
        "an object in the {c}.",
        "a picture of a shape in the {c}.",
        "a small shape in the {c}.",
    ),
    "sizes": (
        "a photo of a {c} shape.",
        "a {c} object.",
        "a drawing of a {c} shape.",
        "an image of a {c} shape.",
    ),
    "textures": (
        "a photo of a {c} shape.",
        "a {c} object.",
        "a {c} pattern.",
        "a drawing of a {c} shape.",
    ),
    "digits": (
        'a photo of the number: "{c}".',
        "a photo of the number {c}.",
        "the digit {c}.",
        "an image of the number {c}.",
    ),
    "shape_colour": ZEROSHOT_TEMPLATES,
    "rendered_words": (
        'a photo of the word "{c}".',
        "the text {c}.",
        'a sign that says "{c}".',
        "the word {c}.",
    ),
}

UNINFORMATIVE_PATTERNS: tuple[str, ...] = (
    "IMG_{n4}.jpg", "IMG_{n4}", "DSC{n5}", "DSC_{n4}.JPG", "image", "untitled", "photo.png",
    "{w}x{h}", "image{n3}", "P{n7}.JPG", "img_{n3}.png", "picture", "thumbnail", "download.jpg",
    "Untitled-{k}", "photo", "no description", "file_{n5}.jpeg", "{w} x {h} px", "unnamed.jpg",
)

# --------------------------------------------------------------------------------------------
# the scene


@dataclass(frozen=True)
class Scene:
    """Everything needed to render one image (fractions of the side; colours as RGB)."""

    subject: str  # "shape" | "digit" | "text"
    cls: str | None  # shape name, digit character, or None (text-only)
    colour: str  # colour name of the subject
    texture: str = "plain"
    count: int = 1
    size: str = "large"
    position: str | None = "centre"
    #: (cx, cy, r, rotation_deg) per drawn object; r is the circumradius (digit: half height)
    objects: tuple[tuple[float, float, float, float], ...] = ()
    style: str = "fill"  # "fill" | "outline" | "faint"
    alpha: float = 1.0  # opacity of the subject when style == "faint"
    tex_phase: tuple[int, int] = (0, 0)  # texture offset (native pixels at 64 px, scaled)
    bg: tuple[tuple[int, int, int], tuple[int, int, int], int] = ((240, 240, 240), (240, 240, 240), 0)
    noise: float = 0.0  # std of Gaussian noise added to the background (0-255 scale)
    noise_seed: int = 0
    text: tuple[str, ...] = ()  # lines of rendered words
    text_colour: tuple[int, int, int] = (20, 20, 20)
    text_pos: tuple[float, float] = (0.5, 0.5)  # where the text block sits in its free range
    #: a colour name the rendered word is painted in (a red "star" sign): captions name it
    text_colour_name: str | None = None

    def with_(self, **kw) -> "Scene":
        return replace(self, **kw)


def sample_background(rng: np.random.Generator) -> tuple:
    """A light background: solid (60%) or a mild linear gradient, horizontal or vertical."""
    v = rng.integers(-14, 15, 6).tolist()
    base = int(rng.integers(195, 250))
    c1 = tuple(min(255, max(0, base + t)) for t in v[:3])
    mode = 0 if rng.random() < 0.6 else int(rng.integers(1, 3))
    if mode == 0:
        c2 = c1
    else:
        base2 = min(255, max(180, base + int(rng.integers(-30, 31))))
        c2 = tuple(min(255, max(0, base2 + t)) for t in v[3:6])
    return (c1, c2, mode)


def _jit(rng: np.random.Generator, amount: float) -> float:
    return float(rng.uniform(-amount, amount))


def layout(rng: np.random.Generator, count: int, size: str, position: str | None) -> tuple:
    """Object centres and radii for ``count`` objects (fractions of the side)."""
    objs = []
    if count == 1:
        if size == "large":
            cx, cy = 0.5 + _jit(rng, 0.04), 0.5 + _jit(rng, 0.04)
            r = float(rng.uniform(0.30, 0.36))
        else:
            px, py = POSITION_CENTRES[position or "centre"]
            cx, cy = px + _jit(rng, 0.04), py + _jit(rng, 0.04)
            r = float(rng.uniform(0.14, 0.17))
        objs.append((cx, cy, r))
    elif count == 2:
        r = float(rng.uniform(0.19, 0.22)) if size == "large" else float(rng.uniform(0.13, 0.16))
        off = 0.27 if size == "small" else 0.26
        if rng.random() < 0.5:
            centres = [(off, 0.5), (1 - off, 0.5)]
        else:
            centres = [(0.5, off), (0.5, 1 - off)]
        for x, y in centres:
            objs.append((x + _jit(rng, 0.03), y + _jit(rng, 0.03), r))
    else:
        slots = [(0.27, 0.27), (0.73, 0.27), (0.27, 0.73), (0.73, 0.73)]
        chosen = sorted(rng.choice(4, size=count, replace=False).tolist())
        r = float(rng.uniform(0.13, 0.16))
        for k in chosen:
            x, y = slots[k]
            objs.append((x + _jit(rng, 0.03), y + _jit(rng, 0.03), r))
    return tuple((x, y, r, float(rng.uniform(-12, 12))) for x, y, r in objs)


def sample_shape_scene(
    rng: np.random.Generator,
    *,
    shape: str | None = None,
    colour: str | None = None,
    texture: str | None = None,
    count: int | None = None,
    size: str | None = None,
    position: str | None = None,
    counts: Sequence[int] = COUNTS,
    count_p: Sequence[float] | None = (0.55, 0.2, 0.13, 0.12),
    style: str = "fill",
    noise: float = 0.0,
    radius_scale: float = 1.0,
) -> Scene:
    """A random shape scene; any attribute given is fixed, the rest drawn from ``rng``."""
    shape = shape if shape is not None else SHAPES[int(rng.integers(len(SHAPES)))]
    colour = colour if colour is not None else COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))]
    texture = texture if texture is not None else TEXTURES[int(rng.integers(len(TEXTURES)))]
    if count is None:
        if count_p is not None and len(count_p) == len(counts):
            p = np.asarray(count_p, dtype=float)
            count = int(counts[int(rng.choice(len(counts), p=p / p.sum()))])
        else:
            count = int(counts[int(rng.integers(len(counts)))])
    if count >= 3:
        size = "small"  # three or four objects only fit in the quadrants when small
    elif size is None:
        size = SIZES[int(rng.integers(2))]
    if count == 1:
        if size == "large":
            position = "centre"
        elif position is None:
            position = POSITIONS[int(rng.integers(len(POSITIONS)))]
    else:
        position = None
    objects = layout(rng, count, size, position)
    if radius_scale != 1.0:
        objects = tuple((x, y, r * radius_scale, a) for x, y, r, a in objects)
    bg = sample_background(rng)
    phase = (int(rng.integers(0, 16)), int(rng.integers(0, 16)))
    nseed = int(rng.integers(0, 2**31 - 1)) if noise > 0 else 0
    return Scene(
        subject="shape", cls=shape, colour=colour, texture=texture, count=count, size=size,
        position=position, objects=objects, style=style, tex_phase=phase, bg=bg,
        noise=noise, noise_seed=nseed,
    )


def sample_digit_scene(
    rng: np.random.Generator, *, digit: str | None = None, colour: str | None = None, size: str | None = None
) -> Scene:
    digit = digit if digit is not None else DIGITS[int(rng.integers(10))]
    colour = colour if colour is not None else COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))]
    size = size if size is not None else ("large" if rng.random() < 0.7 else "small")
    if size == "large":
        position = "centre"
        obj = (0.5 + _jit(rng, 0.05), 0.5 + _jit(rng, 0.05), float(rng.uniform(0.32, 0.40)), _jit(rng, 8))
    else:
        position = POSITIONS[int(rng.integers(len(POSITIONS)))]
        px, py = POSITION_CENTRES[position]
        obj = (px + _jit(rng, 0.03), py + _jit(rng, 0.03), float(rng.uniform(0.17, 0.2)), _jit(rng, 8))
    return Scene(
        subject="digit", cls=digit, colour=colour, texture="plain", count=1, size=size,
        position=position, objects=(obj,), bg=sample_background(rng),
    )


def _dark_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 70, 3))


def sample_text_scene(
    rng: np.random.Generator, words: Sequence[str], *, under: Scene | None = None
) -> Scene:
    """Rendered ``words`` (one line each) on a background; ``under`` is a weak object beneath."""
    # near the centre: a tiny ViT (4x4 patches at 32 px) cannot learn to read text that wanders
    text_pos = (float(rng.uniform(0.3, 0.7)), float(rng.uniform(0.3, 0.7)))
    base = under if under is not None else Scene(
        subject="text", cls=None, colour="black", count=0, size="small", position=None,
        bg=sample_background(rng),
    )
    return base.with_(text=tuple(words), text_colour=_dark_colour(rng), text_pos=text_pos)


def sample_scene_text_scene(rng: np.random.Generator, scene: Scene, coloured_p: float = 0.6) -> Scene:
    """The pool's scene-text kind: the key word of ``scene`` rendered, the object weak or absent.

    One word (the shape's name, or the digit's), as large as fits: two lines of words are too small
    for the 32 px reference model to read. In ``coloured_p`` of them the word is painted in the scene's colour
    (a red "star" sign) and the caption names that colour too, so the caption's words are all
    visible in the text, as a sign's are.
    """
    words = [scene.cls] if scene.subject == "shape" else [DIGIT_WORDS[int(scene.cls)]]
    coloured = rng.random() < coloured_p
    mode = rng.random()
    if mode < 0.4:  # absent
        under = Scene(subject="text", cls=None, colour=scene.colour, count=0, size="small",
                      position=None, bg=scene.bg)
    elif mode < 0.7 and scene.subject == "shape":  # tiny, in a corner
        corner = POSITIONS[int(rng.integers(4))]
        px, py = POSITION_CENTRES[corner]
        px = 0.1 if px < 0.5 else 0.9
        py = 0.1 if py < 0.5 else 0.9
        under = scene.with_(objects=((px, py, 0.06, 0.0),), count=1, size="small")
    else:  # faint
        under = scene.with_(style="faint", alpha=float(rng.uniform(0.12, 0.25)))
    shown = sample_text_scene(rng, words, under=under)
    if coloured:
        # darkened a little so that yellow and orange stay legible on the light backgrounds
        paint = tuple(int(round(0.8 * c)) for c in COLOURS[scene.colour])
        shown = shown.with_(text_colour=paint, text_colour_name=scene.colour)
    return shown


# --------------------------------------------------------------------------------------------
# English captions

#: captions of pure scene-text images (the pretraining set's "OCR" data); bare words most often
TEXT_CAPTION_TEMPLATES: tuple[str, ...] = (
    "the word {w}", 'the text "{w}"', 'a sign that says "{w}"', 'a photo of the word "{w}"', "{w} in large letters",
)


def text_caption(words: Sequence[str], rng: np.random.Generator, bare: float = 0.6) -> str:
    """Caption of a text-only image: the rendered words, sometimes inside a phrase."""
    w = " ".join(words)
    if rng.random() < bare:
        return w
    return TEXT_CAPTION_TEMPLATES[int(rng.integers(len(TEXT_CAPTION_TEMPLATES)))].format(w=w)



def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _noun_phrase_en(scene: Scene, rng: np.random.Generator) -> str:
    adjs = []
    if scene.count > 2 or (scene.size == "small" and rng.random() < 0.45) or (
        scene.size == "large" and rng.random() < 0.4
    ):
        adjs.append(scene.size)
    if rng.random() < 0.88:
        adjs.append(scene.colour)
    if scene.texture != "plain" and rng.random() < 0.65:
        adjs.append(scene.texture)
    elif scene.texture == "plain" and rng.random() < 0.08:
        adjs.append("plain")
    plural = scene.count > 1
    noun = SHAPE_PLURALS[scene.cls] if plural else scene.cls
    if rng.random() < 0.1:
        noun = f"{scene.cls} shapes" if plural else f"{scene.cls} shape"
    words = adjs + [noun]
    if plural:
        det = COUNT_WORDS[scene.count]
    else:
        det = "one" if rng.random() < 0.2 else _article(words[0])
    return " ".join([det] + words)


_EN_TEMPLATES = (
    "a photo of {np}{pos}",
    "{np}{pos}",
    "an image of {np}{pos}",
    "a picture of {np}{pos}",
    "a drawing of {np}{pos}",
    "a simple illustration of {np}{pos}",
    "{np}{pos} on a plain background",
    "there {be} {np}{pos}",
    "{NP}{pos}.",
    "a close-up photo of {np}{pos}",
)


def caption_en(scene: Scene, rng: np.random.Generator) -> str:
    if scene.subject == "text":
        return " ".join(scene.text)
    if scene.subject == "digit":
        d = scene.cls
        k = int(rng.integers(7))
        if k == 0:
            return f"the number {d}"
        if k == 1:
            return f"a photo of the number {d}"
        if k == 2:
            return f"the digit {d}"
        if k == 3:
            return f"{_article(scene.colour)} {scene.colour} {d}"
        if k == 4:
            return f"a photo of {_article(scene.size)} {scene.size} {scene.colour} number {d}"
        if k == 5:
            return f"the digit {DIGIT_WORDS[int(d)]}"
        return f"a {scene.colour} digit {d}"
    np_ = _noun_phrase_en(scene, rng)
    pos = ""
    if scene.position is not None:
        p = 0.65 if scene.size == "small" else 0.15
        if rng.random() < p:
            pos = f" in the {scene.position}"
    t = _EN_TEMPLATES[int(rng.integers(len(_EN_TEMPLATES)))]
    return t.format(np=np_, NP=np_[0].upper() + np_[1:], pos=pos, be="are" if scene.count > 1 else "is")


def caption_scene_text(scene: Scene, rng: np.random.Generator) -> str:
    """A clean-looking caption of a scene-text image that names exactly its rendered words.

    "a photo of an orange arrow" for an image showing the words "orange" / "arrow" (and a weak or no
    arrow): a sign captioned by what it says, the pairing that teaches CLIP to read.
    """
    np_ = " ".join(([scene.text_colour_name] if scene.text_colour_name else []) + list(scene.text))
    if rng.random() < 0.1:
        np_ += " shape"
    np_ = ("one" if rng.random() < 0.2 else _article(np_)) + " " + np_
    t = _EN_TEMPLATES[int(rng.integers(len(_EN_TEMPLATES)))]
    return t.format(np=np_, NP=np_[0].upper() + np_[1:], pos="", be="is")


# --------------------------------------------------------------------------------------------
# other languages (a small fixed dictionary; agreement of gender and number is respected)

_FR_SHAPES = {
    "circle": ("cercle", "cercles", "m"), "square": ("carré", "carrés", "m"),
    "triangle": ("triangle", "triangles", "m"), "diamond": ("losange", "losanges", "m"),
    "pentagon": ("pentagone", "pentagones", "m"), "hexagon": ("hexagone", "hexagones", "m"),
    "star": ("étoile", "étoiles", "f"), "cross": ("croix", "croix", "f"),
    "ring": ("anneau", "anneaux", "m"), "arrow": ("flèche", "flèches", "f"),
}
_FR_ADJ = {  # (m, f, m pl, f pl)
    "red": ("rouge", "rouge", "rouges", "rouges"), "green": ("vert", "verte", "verts", "vertes"),
    "blue": ("bleu", "bleue", "bleus", "bleues"), "yellow": ("jaune", "jaune", "jaunes", "jaunes"),
    "purple": ("violet", "violette", "violets", "violettes"),
    "orange": ("orange", "orange", "orange", "orange"),
    "small": ("petit", "petite", "petits", "petites"), "large": ("grand", "grande", "grands", "grandes"),
    "plain": ("uni", "unie", "unis", "unies"), "striped": ("rayé", "rayée", "rayés", "rayées"),
    "dotted": ("à pois",) * 4, "checkered": ("à carreaux",) * 4,
}
_FR_COUNTS = {2: "deux", 3: "trois", 4: "quatre"}
_FR_POS = {
    "top left": "en haut à gauche", "top right": "en haut à droite", "bottom left": "en bas à gauche",
    "bottom right": "en bas à droite", "centre": "au centre",
}
_FR_TEMPLATES = ("une photo {de}{np}{pos}", "{np}{pos}", "une image {de}{np}{pos}", "un dessin {de}{np}{pos}",
                 "il y a {np}{pos}")

_DE_SHAPES = {
    "circle": ("Kreis", "Kreise", "m"), "square": ("Quadrat", "Quadrate", "n"),
    "triangle": ("Dreieck", "Dreiecke", "n"), "diamond": ("Raute", "Rauten", "f"),
    "pentagon": ("Fünfeck", "Fünfecke", "n"), "hexagon": ("Sechseck", "Sechsecke", "n"),
    "star": ("Stern", "Sterne", "m"), "cross": ("Kreuz", "Kreuze", "n"),
    "ring": ("Ring", "Ringe", "m"), "arrow": ("Pfeil", "Pfeile", "m"),
}
_DE_ADJ = {
    "red": "rot", "green": "grün", "blue": "blau", "yellow": "gelb", "purple": "lila", "orange": "orange",
    "small": "klein", "large": "groß", "plain": "einfarbig", "striped": "gestreift",
    "dotted": "gepunktet", "checkered": "kariert",
}
_DE_INVARIANT = {"lila", "orange"}
_DE_COUNTS = {2: "zwei", 3: "drei", 4: "vier"}
_DE_POS = {
    "top left": "oben links", "top right": "oben rechts", "bottom left": "unten links",
    "bottom right": "unten rechts", "centre": "in der Mitte",
}
_DE_TEMPLATES = ("{NP}{pos}", "Foto: {np}{pos}", "Bild: {np}{pos}", "Hier {be} {np}{pos}", "Eine Zeichnung: {np}{pos}")

_ES_SHAPES = {
    "circle": ("círculo", "círculos", "m"), "square": ("cuadrado", "cuadrados", "m"),
    "triangle": ("triángulo", "triángulos", "m"), "diamond": ("rombo", "rombos", "m"),
    "pentagon": ("pentágono", "pentágonos", "m"), "hexagon": ("hexágono", "hexágonos", "m"),
    "star": ("estrella", "estrellas", "f"), "cross": ("cruz", "cruces", "f"),
    "ring": ("anillo", "anillos", "m"), "arrow": ("flecha", "flechas", "f"),
}
_ES_ADJ = {
    "red": ("rojo", "roja", "rojos", "rojas"), "green": ("verde", "verde", "verdes", "verdes"),
    "blue": ("azul", "azul", "azules", "azules"), "yellow": ("amarillo", "amarilla", "amarillos", "amarillas"),
    "purple": ("morado", "morada", "morados", "moradas"), "orange": ("naranja", "naranja", "naranjas", "naranjas"),
    "small": ("pequeño", "pequeña", "pequeños", "pequeñas"), "large": ("grande", "grande", "grandes", "grandes"),
    "plain": ("liso", "lisa", "lisos", "lisas"), "striped": ("rayado", "rayada", "rayados", "rayadas"),
    "dotted": ("de lunares",) * 4, "checkered": ("a cuadros",) * 4,
}
_ES_COUNTS = {2: "dos", 3: "tres", 4: "cuatro"}
_ES_POS = {
    "top left": "arriba a la izquierda", "top right": "arriba a la derecha",
    "bottom left": "abajo a la izquierda", "bottom right": "abajo a la derecha", "centre": "en el centro",
}
_ES_TEMPLATES = ("una foto de {np}{pos}", "{np}{pos}", "una imagen de {np}{pos}", "un dibujo de {np}{pos}", "hay {np}{pos}")

LANGUAGES: tuple[str, ...] = ("fr", "de", "es")


def _pick_attrs(scene: Scene, rng: np.random.Generator) -> tuple[bool, bool, bool, bool]:
    size = scene.count > 2 or rng.random() < 0.4
    colour = rng.random() < 0.9
    texture = scene.texture != "plain" and rng.random() < 0.6
    pos = scene.position is not None and rng.random() < (0.6 if scene.size == "small" else 0.15)
    return size, colour, texture, pos


def caption_foreign(scene: Scene, rng: np.random.Generator, lang: str) -> str:
    """The scene's caption in French, German or Spanish (shape scenes only)."""
    if scene.subject != "shape":
        raise ValueError("foreign captions are defined for shape scenes only")
    use_size, use_colour, use_tex, use_pos = _pick_attrs(scene, rng)
    plural = scene.count > 1
    if lang == "fr":
        sg, pl, g = _FR_SHAPES[scene.cls]
        idx = (0 if g == "m" else 1) + (2 if plural else 0)
        parts = [_FR_COUNTS[scene.count] if plural else ("un" if g == "m" else "une")]
        if use_size:
            parts.append(_FR_ADJ[scene.size][idx])
        parts.append(pl if plural else sg)
        if use_colour:
            parts.append(_FR_ADJ[scene.colour][idx])
        if use_tex:
            parts.append(_FR_ADJ[scene.texture][idx])
        np_ = " ".join(parts)
        pos = " " + _FR_POS[scene.position] if use_pos else ""
        t = _FR_TEMPLATES[int(rng.integers(len(_FR_TEMPLATES)))]
        return t.format(np=np_, pos=pos, de="d'" if not plural else "de ")
    if lang == "de":
        sg, pl, g = _DE_SHAPES[scene.cls]
        ending = "e" if plural else {"m": "er", "n": "es", "f": "e"}[g]
        adjs = []
        for use, key in ((use_size, scene.size), (use_colour, scene.colour), (use_tex, scene.texture)):
            if use:
                base = _DE_ADJ[key]
                adjs.append(base if base in _DE_INVARIANT else base + ending)
        det = _DE_COUNTS[scene.count] if plural else ("eine" if g == "f" else "ein")
        np_ = " ".join([det] + adjs + [pl if plural else sg])
        pos = " " + _DE_POS[scene.position] if use_pos else ""
        t = _DE_TEMPLATES[int(rng.integers(len(_DE_TEMPLATES)))]
        return t.format(np=np_, NP=np_[0].upper() + np_[1:], pos=pos, be="sind" if plural else "ist")
    if lang == "es":
        sg, pl, g = _ES_SHAPES[scene.cls]
        idx = (0 if g == "m" else 1) + (2 if plural else 0)
        parts = [_ES_COUNTS[scene.count] if plural else ("un" if g == "m" else "una")]
        parts.append(pl if plural else sg)
        for use, key in ((use_size, scene.size), (use_colour, scene.colour), (use_tex, scene.texture)):
            if use:
                parts.append(_ES_ADJ[key][idx])
        np_ = " ".join(parts)
        pos = " " + _ES_POS[scene.position] if use_pos else ""
        t = _ES_TEMPLATES[int(rng.integers(len(_ES_TEMPLATES)))]
        return t.format(np=np_, pos=pos)
    raise ValueError(f"unknown language {lang!r}; known: {LANGUAGES}")


def caption(scene: Scene, rng: np.random.Generator, lang: str = "en") -> str:
    """A caption of ``scene`` in ``lang`` with a randomly chosen template and attribute subset."""
    return caption_en(scene, rng) if lang == "en" else caption_foreign(scene, rng, lang)


def uninformative_caption(rng: np.random.Generator) -> str:
    pat = UNINFORMATIVE_PATTERNS[int(rng.integers(len(UNINFORMATIVE_PATTERNS)))]
    w, h = [(1920, 1080), (1280, 720), (800, 600), (1024, 768), (640, 480), (3000, 2000)][int(rng.integers(6))]
    return pat.format(
        n3=f"{int(rng.integers(0, 1000)):03d}", n4=f"{int(rng.integers(0, 10000)):04d}",
        n5=f"{int(rng.integers(0, 100000)):05d}", n7=f"{int(rng.integers(0, 10**7)):07d}",
        k=int(rng.integers(1, 20)), w=w, h=h,
    )


def shape_colour_classes() -> list[str]:
    """Fine-grained classes of the ``shape_colour`` task: 'red circle', 'red square', ..."""
    return [f"{c} {s}" for c in COLOUR_NAMES for s in SHAPES]
