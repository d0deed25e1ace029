"""``plain``: the pool's images as given (the embeddings every score reads by default)."""

from clipcurate.embed.variants import register


@register("plain")
def plain(image, params, artifacts):
    """The image unchanged."""
    return image
