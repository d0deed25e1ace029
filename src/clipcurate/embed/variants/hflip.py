"""``hflip``: each image flipped left-right before preprocessing.

The Devil paper ("The Devil is in the Details", Yu et al. 2023, section 3.2) scores the flipped
image against the caption: rendered text reads backwards, so a caption that only spells the image's
text loses its match while the visual content (and its CLIP score) stays about the same.
"""

from clipcurate.embed.variants import register


@register("hflip")
def hflip(image, params, artifacts):
    """The image mirrored left-right (PIL's FLIP_LEFT_RIGHT)."""
    from PIL import Image

    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
