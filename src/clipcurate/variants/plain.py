"""``plain``: the pool's images as given (the embeddings every score reads by default)."""

from clipcurate.variants import register


@register("plain")
def plain(image, params, artifacts):
    """The image unchanged."""
    return image
