"""HYPE (Kim et al., ECCV 2024; naver-ai/hype): hyperbolic entailment filtering, per chunk.

Each pair gets three terms from a hyperbolic CLIP (:mod:`clipcurate.embed.hyperbolic`, whose docstring
gives the reading of the authors' code): ``neg_dist`` = ``-d_L(image, caption)`` (alignment in the
Lorentz model), ``eps_i`` and ``eps_t``, the image's and the caption's specificity against a
reference set of image and text embeddings (the mean exterior angle outside the entailment cones,
minus the aperture; raw differences, no ReLU), and ``score`` = their sum, HYPE's own mixing (FLYT
Table 10 "Original (sum scores)"; the ``hype_sum`` mix in config/mixes/hype.yaml gives the same from
the three columns). M-FLYT reads the terms as separate inputs: ``hype:neg_dist``, ``hype:eps_i``,
``hype:eps_t``.

The hyperbolic model is the ``train_hyperbolic`` trainer's artifact
(``results/hyperbolic/{hyperbolic}/model.pt``): towers over the frozen embeddings of the score's
``model``, which must be the one it was trained on (checked when the config is read). HYPE's
reference set (``reference.pt``) is undocumented in size and origin; here it is a reference set of
the workflow (``reference:``, default ``downstream``: the ImageNet-train analogue, ImageNet-1k train
at real scale, where every scale file defines it), subsampled to ``params.reference_size``
rows (seeded), so a chunk costs ``rows * reference_size`` cone angles, computed ``params.block``
rows at a time (no concatenation of the pool: every chunk is scored on its own).

At real scale the same terms come from HYPE's released hyperbolic CLIP, the ``hype_checkpoint``
method: the file the entry names under ``checkpoint`` (OpenCLIP weights of ``params.arch``, ViT-L-14
for HYPE's, plus the log-scalars ``curvature``, ``alpha_img``, ``alpha_txt``; loaded strictly by
:func:`clipcurate.embed.hyperbolic.load_hyperbolic`) runs on each chunk's images (an ``Images``
input, preprocessed as open_clip's evaluation transform of ``arch``: for ViT-L-14 HYPE's own, a
bicubic resize of the short side to 224, a centre crop, CLIP's mean and std) and captions tokenised
by ``arch``'s tokenizer (OpenAI BPE, context 77), in fp32 as HYPE computes; the
towers' unnormalised features times ``exp(alpha)`` are mapped to the hyperboloid by the exponential
map at the origin, and the three terms are :func:`~clipcurate.embed.hyperbolic.pair_terms`, the
formulas the tiny path uses. The reference set's images and captions (the same ``reference:`` set,
the same seeded ``reference_size`` rows as the tiny path picks) are embedded by the same checkpoint
once, in the method's fit stage (``results/scores/<name>/fit.npz``: the rows' hyperboloid points,
the rows and the curvature), not in every chunk. A pair whose image does not decode gets each term's
lower bound (:func:`~clipcurate.embed.hyperbolic.term_floors`), below every decodable pair. Both
stages ask for a GPU at real scale (``resources``), as ``itm_blip`` does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clipcurate.scores import register
from clipcurate.scores.inputs import Artifact, Embeddings, Images, Reference, ReferenceImages
from clipcurate.scores.stages import Resources, Stages

#: the columns M-FLYT reads as ``hype:<column>``
TERMS = ("neg_dist", "eps_i", "eps_t")


def check_hype(entry, config, key):
    """The hyperbolic model's towers read the embeddings of the score's ``model``."""
    run = (config.get("hyperbolic") or {}).get(entry.get("hyperbolic")) or {}
    if entry.get("model") != run.get("model"):
        raise ValueError(
            f"config: {key}.model ({entry.get('model')!r}) must be the hyperbolic CLIP's embedding model "
            f"hyperbolic.{entry.get('hyperbolic')}.model ({run.get('model')!r})"
        )


def reference_rows(n: int, size: int, seed: int) -> np.ndarray:
    """The reference set's rows used (sorted): all when ``size`` is 0 or >= n, else a seeded sample."""
    if size <= 0 or size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng([int(seed), 4]).choice(n, size=int(size), replace=False))


@register(
    "hype",
    level="chunk",
    inputs={"emb": Embeddings(model_key="model"), "ref": Reference(set="downstream", set_key="reference", model_key="model"),
            "model_file": Artifact("results/hyperbolic/{hyperbolic}/model.pt")},
    outputs=("score", *TERMS),
    defaults={"reference_size": 1000, "seed": 0, "block": 2048},
    check=check_hype,
)
def hype(params: dict, emb: dict, ref: dict, model_file: str) -> dict[str, np.ndarray]:
    """HYPE's three terms and their sum for every pair of the chunk."""
    from clipcurate.embed.hyperbolic import hype_scores, load_hyperbolic  # torch: import only when scoring

    model = load_hyperbolic(model_file)
    rows = reference_rows(len(ref["image"]), int(params["reference_size"]), int(params["seed"]))
    out = hype_scores(model, emb["image"], emb["text"], ref["image"][rows], ref["text"][rows], block=int(params["block"]))
    out["score"] = (out["neg_dist"].astype(np.float64) + out["eps_i"] + out["eps_t"]).astype(np.float32)
    return out


# --------------------------------------------------------------------------------------------
# real scale: HYPE's released checkpoint over the pool's images and captions


def _load_checkpoint(params: dict, checkpoint: str):
    """The checkpoint on the job's device, with its preprocessing and tokenizer; a missing file names
    the entry's key."""
    import torch

    from clipcurate.embed.hyperbolic import HyperbolicError, load_hyperbolic, tower_transforms

    if not Path(checkpoint).exists():
        raise HyperbolicError(f"{checkpoint}: HYPE checkpoint not found; the score entry's `checkpoint:` "
                              "(scores.<name>.checkpoint, e.g. in config/scales/medium.yaml) names HYPE's released file")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_hyperbolic(checkpoint, arch=str(params["arch"])).to(device)
    preprocess, tokenizer = tower_transforms(model)
    return model, preprocess, tokenizer, device


def _embed(model, preprocess, tokenizer, device, images: list, texts: list):
    """Hyperboloid points (space parts, float32 on ``device``) of decodable images and of captions."""
    import torch

    x = model.embed_image(torch.stack([preprocess(im) for im in images]).to(device)) if images else None
    y = model.embed_text(tokenizer(list(texts)).to(device)) if texts else None
    return x, y


def hype_reference(params: dict, ctx, ref, checkpoint: str) -> dict[str, np.ndarray]:
    """The fit: the reference set's rows (:func:`reference_rows`, the tiny path's choice) embedded by the
    checkpoint once. Rows whose image does not decode are dropped (logged). Returns ``image``, ``text``
    (float32 [m, d] space parts), ``rows`` (int64, the set rows kept) and ``curvature`` (the model's)."""
    import logging

    import torch

    model, preprocess, tokenizer, device = _load_checkpoint(params, checkpoint)
    rows = reference_rows(len(ref), int(params["reference_size"]), int(params["seed"]))
    kept, xs, ys = [], [], []
    with torch.no_grad():
        for batch_rows, ims, texts in ref.batches(rows, int(params["batch_size"])):
            ok = [i for i, im in enumerate(ims) if im is not None]
            if not ok:
                continue
            x, y = _embed(model, preprocess, tokenizer, device, [ims[i] for i in ok], [texts[i] for i in ok])
            kept += [batch_rows[i] for i in ok]
            xs.append(x.float().cpu().numpy())
            ys.append(y.float().cpu().numpy())
    if not kept:
        raise ValueError(f"{ref.set_dir}: none of the {len(rows)} reference rows has a decodable image")
    if len(kept) < len(rows):
        logging.getLogger(__name__).warning("%s: %d of %d reference images do not decode; dropped", ref.set_dir,
                                            len(rows) - len(kept), len(rows))
    return {"image": np.concatenate(xs), "text": np.concatenate(ys), "rows": np.asarray(kept, np.int64),
            "curvature": np.float64(model.curv.item())}


@register(
    "hype_checkpoint",
    level="chunk",
    inputs={"images": Images(), "ref": ReferenceImages(set="downstream", set_key="reference"),
            "checkpoint": Artifact("{checkpoint}")},
    outputs=("score", *TERMS),
    defaults={"arch": "ViT-L-14", "reference_size": 1000, "seed": 0, "block": 2048, "batch_size": 64},
    stages=Stages(fit=hype_reference, fit_inputs=("ref", "checkpoint"), apply_inputs=("images", "checkpoint")),
    resources={"fit": Resources(mem_mb=16000, runtime=60, threads=8, gpu=1),
               "apply": Resources(mem_mb=16000, runtime=240, threads=8, gpu=1)},
)
def hype_checkpoint(params: dict, ctx, fitted: dict, images, checkpoint: str) -> dict[str, np.ndarray]:
    """HYPE's three terms and their sum for every pair of the chunk, from the checkpoint run on the
    chunk's images and captions against the fit's reference points."""
    import torch

    from clipcurate.embed.hyperbolic import HyperbolicError, pair_terms, term_floors

    model, preprocess, tokenizer, device = _load_checkpoint(params, checkpoint)
    curv = model.curv.detach()
    if not np.isclose(float(curv), float(fitted["curvature"]), rtol=1e-6):
        raise HyperbolicError(f"{checkpoint}: curvature {float(curv)} differs from the fit's {float(fitted['curvature'])}: "
                              "the reference set was embedded by another checkpoint; rerun the score's fit")
    ref_i = torch.from_numpy(fitted["image"]).to(device)
    ref_t = torch.from_numpy(fitted["text"]).to(device)
    floors = term_floors(float(curv))
    out = {t: np.full(len(images), floors[t], np.float32) for t in TERMS}
    with torch.no_grad():
        for start, ims, texts in images.batches(int(params["batch_size"])):
            ok = [i for i, im in enumerate(ims) if im is not None]
            if not ok:
                continue
            x, y = _embed(model, preprocess, tokenizer, device, [ims[i] for i in ok], [texts[i] for i in ok])
            terms = pair_terms(x, y, ref_i, ref_t, curv, block=int(params["block"]))
            at = start + np.asarray(ok)
            for t in TERMS:
                out[t][at] = terms[t]
    out["score"] = (out["neg_dist"].astype(np.float64) + out["eps_i"] + out["eps_t"]).astype(np.float32)
    return out
