"""A micro open_clip CLIP (8x8 images, 8-token context) shared by the FLYT tests."""

import open_clip
import torch

CTX, VOCAB = 8, 64


def micro_clip(seed: int = 0) -> open_clip.CLIP:
    """A stock open_clip CLIP small enough for finite differences, seeded, in train mode."""
    torch.manual_seed(seed)
    return open_clip.CLIP(
        embed_dim=8,
        vision_cfg=dict(image_size=8, layers=1, width=16, head_width=8, patch_size=4),
        text_cfg=dict(context_length=CTX, vocab_size=VOCAB, width=16, heads=2, layers=1),
    )
