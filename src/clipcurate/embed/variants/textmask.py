"""``textmask``: rendered text masked out of each image (T-MARS, Maini et al. 2023), as the Devil
paper's text-masked CLIP score uses it.

Declared so that scores and configs can name it; embedding it needs an OCR text detector, which is
not wired in yet, so planning a score that reads it stops with this module's ``unavailable`` reason.
The detector is the variant's artifact: a file (``detector``) that becomes an input of its embed
jobs; ``fill`` is how a detected box is covered (T-MARS fills it with the box's mean colour).
"""

from clipcurate.embed.variants import register


@register(
    "textmask",
    defaults={"detector": "resources/models/text_detector.onnx", "fill": "mean"},
    artifacts={"detector": "{detector}"},
    unavailable="text masking needs an OCR text detector, not wired in yet",
)
def textmask(image, params, artifacts):
    """Not implemented until the text detector is wired in (see the module docstring)."""
    raise NotImplementedError("textmask: the OCR text detector is not wired in yet")
