"""BLIP ITM cost: the measured CPU throughput of the real-scale loader and scorer
(:func:`clipcurate.scores.helpers.itm.load_blip_itm`, :func:`clipcurate.scores.helpers.itm.blip_itm_probability`) with a small,
randomly initialised checkpoint, and the GPU-hours per 128M samples of the published BLIP ITM
models, estimated from their sizes.

Usage::

    .venv/bin/python benchmarks/bench_itm.py --pairs 256 --repeats 3

Measured: a tiny BLIP (vision and text width 32, 2 layers, 32 px images) saved with
``save_pretrained`` and loaded through the workflow's call; random 64 px images and short captions;
prints the median time, pairs/s and the peak resident memory over ``--repeats`` runs (one torch
thread unless ``--threads``). The tiny model's cost says nothing about BLIP's: it checks the path.

Estimated: multiply-accumulates (MACs) per pair counted from the architecture, checked against
torch's FLOP counter on the tiny model (printed side by side):

* vision: a ViT over (image_size / patch)^2 + 1 tokens, per layer 12 w^2 MACs per token (QKV, output
  projection, MLP with ratio 4) plus 2 n w for the attention matrix products;
* text encoder with cross-attention (BLIP's ITM runs BERT-base, 12 layers, width 768, over
  ``tokens`` = 35 caption tokens): per layer 12 w^2 per token, 2 t w for self-attention, and the
  cross-attention: Q and output projections (2 w^2 per text token), K and V projections of every
  image token (2 n w_v w), and 2 t n w for its products;
* ITM head: 2 w.

The published checkpoints (Salesforce/blip-itm-base-coco and -large-coco on the Hugging Face hub):
ViT-B/16 (width 768, 12 layers) resp. ViT-L/16 (1024, 24 layers) at 384 px, both with BERT-base.
FLOPs = 2 MACs; GPU-hours = 128M x FLOPs / (peak x utilisation) / 3600 for an A100 (312 TFLOP/s
bf16) at 40 % utilisation (``--peak-tflops``, ``--utilisation``); image decoding and resizing
(CPU) are not counted.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

#: the published BLIP ITM models (their config.json on the Hugging Face hub)
PUBLISHED = {
    "blip-itm-base-coco (ViT-B/16, 384 px)": dict(image_size=384, patch=16, vw=768, vl=12, tw=768, tl=12),
    "blip-itm-large-coco (ViT-L/16, 384 px)": dict(image_size=384, patch=16, vw=1024, vl=24, tw=768, tl=12),
}
TOKENS = 35  # BLIP's ITM caption length


def itm_macs(image_size: int, patch: int, vw: int, vl: int, tw: int, tl: int, tokens: int = TOKENS) -> dict:
    """Multiply-accumulates of one (image, caption) pair through BLIP's ITM path (see the module doc)."""
    n = (image_size // patch) ** 2 + 1
    embed = (image_size // patch) ** 2 * 3 * patch * patch * vw
    vision = embed + vl * (12 * n * vw * vw + 2 * n * n * vw)
    t = tokens
    text = tl * (12 * t * tw * tw + 2 * t * t * tw + 2 * t * tw * tw + 2 * n * vw * tw + 2 * t * n * tw)
    return {"vision": vision, "text": text, "head": 2 * tw, "total": vision + text + 2 * tw}


def tiny_blip(folder: Path) -> dict:
    """Save a tiny random BLIP ITM model and processor in ``folder``; return its dims for :func:`itm_macs`."""
    import torch
    from transformers import BertTokenizer, BlipConfig, BlipForImageTextRetrieval, BlipImageProcessor, BlipProcessor

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "[ENC]"] + [f"w{i}" for i in range(200)]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    proc = BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}),
                         tokenizer=BertTokenizer(str(folder / "vocab.txt")))
    torch.manual_seed(0)
    cfg = BlipConfig(
        vision_config=dict(hidden_size=32, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8),
        text_config=dict(hidden_size=32, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2, vocab_size=len(words),
                         max_position_embeddings=64, encoder_hidden_size=32, pad_token_id=0, bos_token_id=5, sep_token_id=3),
        projection_dim=16, image_text_hidden_size=16,
    )
    BlipForImageTextRetrieval(cfg).save_pretrained(folder)
    proc.save_pretrained(folder)
    return dict(image_size=32, patch=8, vw=32, vl=2, tw=32, tl=2)


def counted_macs(model, proc, tokens: int = TOKENS) -> float:
    """MACs of one pair by torch's FLOP counter (matrix products only), for the formula's check."""
    import torch
    from PIL import Image
    from torch.utils.flop_counter import FlopCounterMode

    enc = proc(images=[Image.new("RGB", (64, 64))], text=["w1 w2"], return_tensors="pt", padding="max_length",
               truncation=True, max_length=tokens)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(**enc, use_itm_head=True)
    return fc.get_total_flops() / 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--samples", type=float, default=128e6, help="pool size of the estimate")
    ap.add_argument("--peak-tflops", type=float, default=312.0, help="GPU peak (A100 bf16: 312)")
    ap.add_argument("--utilisation", type=float, default=0.4)
    args = ap.parse_args()

    import torch
    from PIL import Image

    from clipcurate.scores.helpers import itm

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)) for _ in range(args.pairs)]
    texts = [" ".join(f"w{int(i)}" for i in rng.integers(0, 200, 8)) for _ in range(args.pairs)]
    with tempfile.TemporaryDirectory() as d:
        dims = tiny_blip(Path(d))
        t0 = time.perf_counter()
        model, proc = itm.load_blip_itm(d)
        load_s = time.perf_counter() - t0
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            itm.blip_itm_probability(model, proc, images, texts, batch_size=args.batch_size)
            times.append(time.perf_counter() - t0)
        formula, counted = itm_macs(**dims)["total"], counted_macs(model, proc)
    med = statistics.median(times)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"tiny BLIP ITM on CPU ({args.threads} thread): load {load_s:.2f} s; {args.pairs} pairs: median {med:.3f} s "
          f"({args.pairs / med:.0f} pairs/s, preprocessing included) over {args.repeats} runs; peak RSS {peak:.0f} MB")
    print(f"MACs per pair of the tiny model: formula {formula / 1e6:.2f} M, torch's counter {counted / 1e6:.2f} M")
    rate = args.peak_tflops * 1e12 * args.utilisation
    for name, cfg in PUBLISHED.items():
        m = itm_macs(**cfg)
        flops = 2 * m["total"]
        hours = args.samples * flops / rate / 3600
        print(f"{name}: {m['total'] / 1e9:.1f} GMACs per pair (vision {m['vision'] / 1e9:.1f}, text+cross {m['text'] / 1e9:.1f}); "
              f"{args.samples / 1e6:.0f}M pairs = {args.samples * flops:.2e} FLOPs = {hours:.0f} GPU-hours at "
              f"{args.peak_tflops:.0f} TFLOP/s x {args.utilisation:.0%}")


if __name__ == "__main__":
    main()
