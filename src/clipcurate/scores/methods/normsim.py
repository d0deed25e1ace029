"""NormSim (Wang et al. 2024, code ypwang61/negCLIPLoss_NormSim): how close a pool image is to a
target set, the downstream tasks' *training* images (ImageNet-1k train for "NormSim (IN1K)").

With f the pool sample's L2-normalised image embedding and g_1..g_m the target image embeddings of
the same model, the method writes two columns::

    inf = max_j |<g_j, f>|                  (NormSim_inf)
    l2  = ( sum_j <g_j, f>^2 )^(1/2)        (NormSim_2 = ||G f||_2)

Reading of the authors' code, followed here where it differs from the paper's formula:

* **inf takes the maximum absolute value.** The paper writes NormSim_inf = max_j <g_j, f>; the code
  computes ``torch.norm(G @ f, p=inf)``, i.e. max_j |<g_j, f>|. The two differ only for images
  whose strongest match is a large *negative* similarity (rare with CLIP, whose cosines are mostly
  positive); the code's value is what their reported numbers come from.
* **No 1/m factor for p = 2.** The code's p-norm is the plain norm of G f, not its mean; this only
  scales every score by the same constant, so rankings (all that a filter uses) are the same, and
  NormSim_2 ranks samples as the earlier VAS score f^T (G^T G / m) f does.
* **Blocks.** The code computes G f for 3000-6000 pool rows at a time. Here ``inf`` is computed in
  blocks of ``block_rows`` pool rows (never an n x m matrix), and ``l2`` from the d x d Gram matrix
  G^T G once per job: ||G f||^2 = f^T (G^T G) f, exact, O(m d^2 + n d^2) instead of O(n m d).

Chunk level: each chunk's job reads the target embeddings (``results/reference_embeddings/{model}/
{set}.parquet``; the set is the entry's ``target``, default ``downstream``: the tiny world's
ImageNet-train analogue; at real scale a ``reference_sets:`` folder of ImageNet-train shards, embedded
by the embed_reference rule). The authors' target embeddings are OpenAI L/14 (DataComp's
``in1k_clip_vit_l14`` assets); FLYT's NormSim input uses them, the tiny world its one OpenAI analogue.
"""

from __future__ import annotations

import numpy as np

from clipcurate.scores import register
from clipcurate.scores.inputs import Embeddings, Reference
from clipcurate.scores.stages import Resources

DEFAULTS = {"block_rows": 4096, "device": "auto"}


def _check(entry, config, key):
    p = entry.get("params") or {}
    b = p.get("block_rows", DEFAULTS["block_rows"])
    if not isinstance(b, int) or isinstance(b, bool) or b < 1:
        raise ValueError(f"config: {key}.params.block_rows: expected a positive integer, got {b!r}")
    if p.get("device", "auto") not in ("auto", "cpu", "cuda"):
        raise ValueError(f"config: {key}.params.device: expected auto, cpu or cuda, got {p.get('device')!r}")


def normsim(pool: np.ndarray, target: np.ndarray, *, block_rows: int = 4096, device: str = "auto") -> dict[str, np.ndarray]:
    """``{"inf": max_j |<g_j, f>|, "l2": ||G f||_2}`` for every row f of ``pool`` against the rows g_j
    of ``target`` (both (., d) float arrays, already L2-normalised)."""
    import torch

    from clipcurate.scores.methods.sclip_loss import _device, as_tensor

    pool = np.ascontiguousarray(pool, np.float32)
    target = np.ascontiguousarray(target, np.float32)
    if pool.ndim != 2 or target.ndim != 2 or pool.shape[1] != target.shape[1]:
        raise ValueError(f"NormSim: pool embeddings {pool.shape} and target embeddings {target.shape} must be (., d) "
                         "of the same d (the same model)")
    if len(target) == 0:
        raise ValueError("NormSim: the target set has no embeddings")
    n = len(pool)
    dev = _device(device)
    g = as_tensor(target, dev)
    inf = np.empty(n, np.float32)
    with torch.no_grad():
        gram = (g.double().T @ g.double())  # d x d, float64: the sum of m squares stays exact enough
        l2sq = np.empty(n, np.float64)
        for lo in range(0, n, block_rows):
            f = as_tensor(pool[lo:lo + block_rows], dev)
            inf[lo:lo + len(f)] = (f @ g.T).abs().amax(dim=1).cpu().numpy()
            fd = f.double()
            l2sq[lo:lo + len(f)] = ((fd @ gram) * fd).sum(dim=1).cpu().numpy()
    return {"inf": inf, "l2": np.sqrt(np.maximum(l2sq, 0.0)).astype(np.float32)}


@register(
    "normsim",
    level="chunk",
    inputs={
        "emb": Embeddings(model_key="model", variant="plain", modalities=("image",)),
        "target": Reference(set="downstream", model_key="model", set_key="target", modalities=("image",)),
    },
    outputs=("score", "inf", "l2"),
    defaults=DEFAULTS,
    check=_check,
    resources={"apply": Resources(mem_mb=16000, runtime=120, threads=2)},
)
def normsim_score(params: dict, emb: dict, target: dict) -> dict[str, np.ndarray]:
    """NormSim_inf (``inf``, also the ``score`` column) and NormSim_2 (``l2``) of one chunk's images."""
    out = normsim(emb["image"], target["image"], block_rows=int(params["block_rows"]), device=str(params["device"]))
    return {"score": out["inf"], **out}
